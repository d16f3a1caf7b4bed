//! The compiled tier: a loaded program's final ops compiled to machine code
//! with Cranelift (the `jit` cargo feature, x86-64 only).
//!
//! The compiled code runs exactly what the interpreter runs, with the same
//! results, faults, instruction counts and map semantics; the interpreter
//! stays the reference and the fallback:
//!
//! - **Regions**: every checked access is checked inline against the same
//!   region tables as [`AddressSpace::resolve`](crate::exec::memory) (slot,
//!   both ends, writability), with a cold fault block per site that records
//!   the fault (kind, instruction, address, size). Stack, direct and
//!   constant-key accesses use the proofs the passes made at load time.
//! - **Moving packets and `__sk_buff`**: after a helper call the trampoline
//!   copies the packet's region (which `bpf_xdp_adjust_head` and the other
//!   packet-moving helpers move) into the environment again, and in a
//!   program whose packet may move the code reads it from there after
//!   every call; a plain load or store no region holds in an `__sk_buff`
//!   program goes, in its cold path, through the trampoline to the
//!   interpreter's emulation of the context (`exec::ctx::skb`), which
//!   returns the field or the interpreter's error.
//! - **Budget**: each basic block adds its weight when entered, after
//!   checking that it fits; when it does not, the run is handed to the
//!   exact interpreter at that op with its registers, count and frames
//!   (`exec::interp`), which finishes it exactly. Helper charges
//!   count as in the interpreter. A run with a wall-clock deadline reads
//!   the clock where the interpreter would (every `CLOCK_SLICE` units, at
//!   a checkpoint): the cap the code checks against is the next clock
//!   checkpoint, which the trampoline raises or ends the run at.
//! - **Calls**: local calls keep the interpreter's frames (8 at most, r6-r9
//!   saved, r10 moved by 512 bytes) in the run's environment and return
//!   through a jump table; `bpf_loop` enters its callbacks in such frames
//!   (`calls`), with the interpreter's checks and charges in the
//!   trampoline; helpers, `callx`, non-rewritten lookups and
//!   atomics on host-misaligned memory go through `extern "C"` trampolines
//!   into the same Rust code the interpreter calls.
//! - **Code memory** is mapped writable, filled, then made read and execute
//!   before the first run: never writable and executable at once; it is
//!   unmapped when the program is dropped.
//!
//! What cannot be compiled (the feature not built in, another architecture,
//! a program over [`MAX_COMPILED_OPS`], a Cranelift error) runs in the
//! interpreter, and [`LoadedProgram::tier`](crate::LoadedProgram::tier)
//! says so with the reason ([`Fallback`]).

use thiserror::Error;

#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod access;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod budget;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod calls;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod codegen;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod elements;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod env;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod lower;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod memory;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod predicted;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod run;

#[cfg(all(feature = "jit", target_arch = "x86_64"))]
pub(crate) use memory::Code;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
pub(crate) use run::Session;

use crate::program::LoadedProgram;

/// Most ops the compiled tier compiles: compile time grows faster than
/// the program (about 0.3 s for 20,000 ops, 4 s for 100,000), so a larger
/// (possibly hostile) program runs in the interpreter.
pub const MAX_COMPILED_OPS: usize = 30_000;

/// Most ops [`Tier::Auto`] compiles: below this, compiling takes a few
/// milliseconds at most.
pub const AUTO_COMPILED_OPS: usize = 4_096;

/// Which tier runs a program ([`ProgramOptions::tier`](crate::ProgramOptions::tier)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The interpreter (the default: loading stays cheap).
    #[default]
    Interpreter,
    /// Compiled to machine code; a program that cannot be compiled runs in
    /// the interpreter, and [`LoadedProgram::tier`] names the reason.
    Compiled,
    /// Compiled when the compiled tier is built in and the program has at
    /// most [`AUTO_COMPILED_OPS`] ops, else interpreted.
    Auto,
}

/// The tier a loaded program runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierUsed {
    /// Interpreted; `fallback` says why when compiling was asked for.
    Interpreter {
        /// Why a program loaded with [`Tier::Compiled`] or [`Tier::Auto`]
        /// is not compiled (`None` with [`Tier::Interpreter`]).
        fallback: Option<Fallback>,
    },
    /// Compiled to machine code.
    Compiled {
        /// Bytes of machine code.
        code_bytes: usize,
        /// Microseconds Cranelift took.
        compile_micros: u64,
    },
}

impl TierUsed {
    /// `"compiled"` or `"interpreter"`.
    pub fn name(&self) -> &'static str {
        match self {
            TierUsed::Compiled { .. } => "compiled",
            TierUsed::Interpreter { .. } => "interpreter",
        }
    }
}

/// Why a program runs in the interpreter although compiling was asked for.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Fallback {
    /// tinybpf was built without the `jit` feature.
    #[error("the compiled tier is not built in (build with --features jit)")]
    NotBuiltIn,
    /// The compiled tier supports x86-64 only.
    #[error("the compiled tier supports x86-64 only")]
    UnsupportedPlatform,
    /// The program is larger than the compiled tier takes.
    #[error("the program has {ops} ops, more than the {limit} the compiled tier takes")]
    TooLarge {
        /// Ops of the final program.
        ops: usize,
        /// The limit ([`MAX_COMPILED_OPS`], or [`AUTO_COMPILED_OPS`] for [`Tier::Auto`]).
        limit: usize,
    },
    /// Cranelift could not compile it (or mapping the code failed).
    #[error("compiling failed: {0}")]
    Failed(String),
}

/// The outcome of compiling (or not) a loaded program.
#[derive(Debug)]
pub(crate) struct Compiled {
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    pub code: Option<Code>,
    pub used: TierUsed,
}

impl Compiled {
    /// The interpreter, as asked.
    pub(crate) fn interpreter() -> Compiled {
        Compiled::fallback(None)
    }

    fn fallback(reason: Option<Fallback>) -> Compiled {
        Compiled {
            #[cfg(all(feature = "jit", target_arch = "x86_64"))]
            code: None,
            used: TierUsed::Interpreter { fallback: reason },
        }
    }
}

/// Why the compiled tier cannot run here at all, if it cannot.
const fn unavailable() -> Option<Fallback> {
    if cfg!(not(feature = "jit")) {
        Some(Fallback::NotBuiltIn)
    } else if cfg!(not(target_arch = "x86_64")) {
        Some(Fallback::UnsupportedPlatform)
    } else {
        None
    }
}

/// Compiles `program` for `tier`, or says why it runs in the interpreter.
pub(crate) fn compile(program: &LoadedProgram, tier: Tier) -> Compiled {
    let limit = match tier {
        Tier::Interpreter => return Compiled::interpreter(),
        Tier::Compiled => MAX_COMPILED_OPS,
        Tier::Auto => AUTO_COMPILED_OPS,
    };
    if let Some(reason) = unavailable() {
        return Compiled::fallback(Some(reason));
    }
    let ops = program.ops().len();
    if ops > limit {
        return Compiled::fallback(Some(Fallback::TooLarge { ops, limit }));
    }
    compile_here(program)
}

#[cfg(all(feature = "jit", target_arch = "x86_64"))]
fn compile_here(program: &LoadedProgram) -> Compiled {
    let started = std::time::Instant::now();
    match codegen::compile(program) {
        Ok(code) => Compiled {
            used: TierUsed::Compiled {
                code_bytes: code.len(),
                compile_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            },
            code: Some(code),
        },
        Err(reason) => Compiled::fallback(Some(Fallback::Failed(reason))),
    }
}

#[cfg(not(all(feature = "jit", target_arch = "x86_64")))]
fn compile_here(_: &LoadedProgram) -> Compiled {
    Compiled::fallback(unavailable())
}

/// The compiled program's Cranelift IR, after optimisation, then the
/// machine code's size and instructions (for `tinybpf disasm --jit`);
/// `Err` says why there is none.
pub fn cranelift_ir(program: &LoadedProgram) -> Result<String, Fallback> {
    if let Some(reason) = unavailable() {
        return Err(reason);
    }
    ir_here(program)
}

#[cfg(all(feature = "jit", target_arch = "x86_64"))]
fn ir_here(program: &LoadedProgram) -> Result<String, Fallback> {
    codegen::ir_text(program).map_err(Fallback::Failed)
}

#[cfg(not(all(feature = "jit", target_arch = "x86_64")))]
fn ir_here(_: &LoadedProgram) -> Result<String, Fallback> {
    Err(unavailable().unwrap_or(Fallback::NotBuiltIn))
}
