//! The runtime: the address space a program sees, the per-run context, the
//! helpers, and the interpreter loop.

mod atomic;
mod budget;
pub mod builtin;
mod call;
mod context;
pub mod ctx;
pub mod helpers;
mod interp;
pub(crate) mod map_regions;
pub mod memory;
pub mod packet;
mod run;
pub mod trace;

pub use context::{DEFAULT_INSN_BUDGET, DEFAULT_SEED, RunContext, RunOutcome};
pub use interp::CLOCK_SLICE;
pub(crate) use interp::MapShape;
pub(crate) use run::{execute, execute_repeated};
pub use trace::{DEFAULT_TRACE_LIMIT, Trace};
// What the compiled tier shares with the interpreter.
#[cfg(feature = "jit")]
pub(crate) use {
    atomic::atomic_rmw,
    call::{Spent, call_helper, charged_lookup},
    interp::{Resume, bad_key, clock_checkpoint, clock_slice, interpret},
};
