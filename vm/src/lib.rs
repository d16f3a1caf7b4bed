//! tinybpf-vm: an eBPF interpreter for the whole RFC 9669 instruction set
//! (cpu v4), fast and safe.
//!
//! A program is checked and translated once into an internal form
//! ([`op::Op`]: decoded operands, absolute jump targets, fused `lddw`, resolved
//! maps and helpers, r10-relative accesses proven at load), then run any
//! number of times, on any number of threads, each run with its own registers
//! and stack over shared maps. Programs see only virtual addresses (see
//! [`memory`]); every access is checked against the regions the program may
//! use, an instruction budget ends endless loops, and calls nest at most 8
//! frames deep.
//!
//! ```
//! use tinybpf_vm::{Program, ProgramOptions, asm::assemble_bytes};
//! let code = assemble_bytes("
//!     mov %r0, 0
//!     mov %r1, 10
//! loop:
//!     add %r0, %r1
//!     sub %r1, 1
//!     jne %r1, 0, loop
//!     exit").unwrap();
//! let program = Program::load(&code, ProgramOptions::default()).unwrap();
//! assert_eq!(program.run(&mut []).unwrap().retval, 55);
//! ```
#![warn(missing_docs)]

pub mod analysis;
pub mod asm;
pub mod conformance;
mod constprop;
pub mod disasm;
pub mod error;
mod fuse;
pub mod helpers;
pub mod insn;
mod liveness;
pub mod memory;
pub mod op;
mod program;
mod run;
mod translate;

pub use error::{Access, HelperError, InvalidInsn, LoadError, RunError};
pub use helpers::{Helper, HelperContext, Helpers};
pub use program::{MAX_MAPS, Program, ProgramOptions, RewriteKind, RewriteSite};
pub use run::{DEFAULT_INSN_BUDGET, RunContext, RunOutcome};
pub use translate::MAX_INSNS;

/// How a program receives its input, chosen by the loader from the section name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    /// Any non-XDP section: r1 = address of the input memory, r2 = its length.
    Memory,
    /// `xdp*` sections: r1 = a read-only `struct xdp_md` whose `data`, `data_end` and
    /// `data_meta` fields are 32-bit addresses of the packet buffer.
    Xdp,
}
