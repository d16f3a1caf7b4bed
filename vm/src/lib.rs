//! tinybpf-vm: an eBPF interpreter for the whole RFC 9669 instruction set
//! (cpu v4), fast and safe.
//!
//! A program is checked and translated once into an internal form
//! ([`ir::op::Op`]: decoded operands, absolute jump targets, fused `lddw`,
//! resolved maps and helpers, r10-relative accesses proven at load), then run
//! any number of times, on any number of threads, each run with its own
//! registers and stack over shared maps. Programs see only virtual addresses
//! (see [`exec::memory`]); every access is checked against the regions the
//! program may use or proven at load, an exact instruction budget ends
//! endless loops, and calls nest at most 8 frames deep.
//!
//! The source tree follows the stages a program goes through:
//!
//! | folder | stage |
//! |---|---|
//! | [`isa`] | the instruction set as bytes and text: encoding, the one field check, assembler, disassembler, conformance files |
//! | [`ir`] | the translated form: the op table ([`ir::op::Op`] and its facts), registers, control flow, ALU semantics |
//! | [`passes`] | load time, in [`passes::pipeline`]'s order: check and translate, stack depth, lookup analysis and rewrite, dead code and dead stores, constant addresses, compaction and fusion, the verifier |
//! | [`exec`] | run time: address space, run setup, interpreter and budget, helpers |
//!
//! ```
//! use tinybpf_vm::{LoadedProgram, ProgramOptions, isa::asm::assemble_bytes};
//! let code = assemble_bytes("
//!     mov %r0, 0
//!     mov %r1, 10
//! loop:
//!     add %r0, %r1
//!     sub %r1, 1
//!     jne %r1, 0, loop
//!     exit").unwrap();
//! let program = LoadedProgram::load(&code, ProgramOptions::default()).unwrap();
//! assert_eq!(program.run(&mut []).unwrap().retval, 55);
//! ```
#![warn(missing_docs)]
#![deny(clippy::wildcard_enum_match_arm)]

pub mod error;
pub mod exec;
pub mod ir;
pub mod isa;
pub mod jit;
pub mod passes;
mod program;

pub use error::{Access, HelperError, InvalidInsn, MapRefusal, RunError, VerifyError};
pub use exec::builtin::callbacks::BPF_MAX_LOOPS;
pub use exec::builtin::names::{HelperName, MAX_KERNEL_HELPER_ID, kernel_helper_name};
pub use exec::builtin::redirect::{Broadcast, Redirect};
pub use exec::builtin::tail_call::{MAX_TAIL_CALL_CNT, TailCallTargets};
pub use exec::builtin::time::Clock;
pub use exec::helpers::{Helper, HelperContext, Helpers};
pub use exec::{
    CLOCK_SLICE, DEFAULT_INSN_BUDGET, DEFAULT_TRACE_LIMIT, RunContext, RunOutcome, Trace,
};
pub use jit::{Fallback, Tier, TierUsed};
pub use passes::lookup::{RewriteKind, RewriteSite};
pub use passes::pipeline::{Passes, Removal};
pub use passes::translate::MAX_INSNS;
pub use program::{LoadedProgram, MAX_MAPS, ProgramOptions};

/// How a program receives its input, chosen by the loader from the section name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    /// Raw memory (any section, when asked for): r1 = address of the input
    /// memory, r2 = its length.
    Memory,
    /// XDP: r1 = a read-only `struct xdp_md` whose `data`, `data_end` and
    /// `data_meta` fields are 32-bit addresses of the packet buffer, with
    /// the kernel's headroom before the packet (see [`exec::ctx`]).
    Xdp,
    /// tc (`sched_cls`, `sched_act`): r1 = a `struct __sk_buff`, data at the
    /// MAC header, direct packet access read and write.
    Tc,
    /// Socket filter: r1 = a `struct __sk_buff`, data at the network header,
    /// no direct packet access.
    SocketFilter,
    /// `cgroup_skb`: r1 = a `struct __sk_buff`, data at the network header,
    /// direct packet access read-only.
    CgroupSkb,
}

impl ProgramKind {
    /// Whether r1 is a `struct __sk_buff`.
    pub fn has_skb(self) -> bool {
        match self {
            ProgramKind::Tc | ProgramKind::SocketFilter | ProgramKind::CgroupSkb => true,
            ProgramKind::Memory | ProgramKind::Xdp => false,
        }
    }

    /// Whether the input is a packet (at least 14 bytes, an Ethernet header).
    pub fn is_packet(self) -> bool {
        self != ProgramKind::Memory
    }

    /// The kernel's name for the program type (`xdp`, `sched_cls`, ...;
    /// `memory` for raw memory).
    pub fn name(self) -> &'static str {
        match self {
            ProgramKind::Memory => "memory",
            ProgramKind::Xdp => "xdp",
            ProgramKind::Tc => "sched_cls",
            ProgramKind::SocketFilter => "socket_filter",
            ProgramKind::CgroupSkb => "cgroup_skb",
        }
    }
}
