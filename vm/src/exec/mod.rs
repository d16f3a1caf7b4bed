//! The runtime: the address space a program sees, the per-run context, the
//! helpers, and the interpreter loop.

mod context;
pub mod helpers;
mod interp;
pub(crate) mod map_regions;
pub mod memory;

pub use context::{DEFAULT_INSN_BUDGET, DEFAULT_SEED, RunContext, RunOutcome};
pub(crate) use interp::{MapShape, execute};
