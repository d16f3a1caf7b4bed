//! The internal form programs are translated into and run from: the ops and
//! their table ([`op`]), the facts the table gives each op ([`facts`]),
//! register sets ([`regs`]), the control-flow view every pass shares
//! ([`cfg`]) and the arithmetic the ops compute ([`alu`]).

pub mod alu;
pub mod cfg;
mod define;
pub mod facts;
pub mod op;
pub mod regs;

pub use define::Parts;
