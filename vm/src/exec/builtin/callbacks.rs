//! Callbacks: `bpf_loop(nr_loops, callback, ctx, flags)` (181).
//!
//! # The design: callback frames in the interpreter
//!
//! A callback is a function of the program that a helper calls. clang loads
//! its address with a pseudo-func `lddw` (`src = 4`, `imm` the offset of its
//! first instruction, as a local call's), which translates to
//! [`Op::LoadFunc`](crate::ir::op::Op::LoadFunc): the register receives
//! [`FUNC_REF_BASE`](crate::exec::memory::FUNC_REF_BASE)` + entry`, a value
//! in no region. The helper checks that the value names one of the
//! program's callback entries ([`LoadedProgram::callback_entry`]: the
//! targets of the final program's `LoadFunc` ops, so a forged value names
//! one of them or nothing), checks its other arguments, and when there is
//! something to call returns the signal [`HelperError::EnterCallback`] with
//! the iteration it asks for left in the run's [`Callbacks`].
//!
//! The interpreter then enters the callback exactly as it enters a local
//! call: one frame further down (the 8-frame limit applies, and a callback
//! entered from the deepest frame faults with `CallDepthExceeded`), r6..r9
//! saved, r10 the new frame's pointer, r1..r5 the callback's arguments. The
//! saved frame's return address is the marker [`CALLBACK_RETURN`]: its
//! `exit` hands r0 to [`Callbacks::returned`], which either asks for the
//! next iteration (entered the same way) or ends the loop: r0 becomes the
//! helper's result, r1..r5 get back the values they had at the call (so the
//! call changes only r0, as every helper call does), and the run goes on
//! after the call. The callback shares everything with the run: budget
//! (each iteration also charges one unit), clock checkpoints, regions,
//! stack and trace; a fault in it names its own instruction. A `bpf_loop`
//! inside a callback nests one frame further down.
//!
//! The other design, expanding `call bpf_loop` at load into a loop around
//! a local call as the kernel's `inline_bpf_loop` does, needs the callback
//! to be a known constant at the call and new ops for the loop's counter;
//! entering frames from the interpreter needs neither and serves every
//! callback helper the same way.
//!
//! # Why the passes stay sound
//!
//! - Control flow ([`ControlFlow`](crate::ir::cfg::ControlFlow)): every
//!   `LoadFunc` target is a function entry like a call target, so every
//!   analysis starts it with unknown registers and a fresh frame (the lookup
//!   rewrite's solver, constant addresses, the stack-pointer registers of
//!   dead-store elimination), and its ops are never fused with ops before
//!   it, nor removed as unreachable.
//! - Registers: across the helper call only r0 changes (r1..r5 are
//!   restored, r6..r9 and r10 restored by the frame), which is what the
//!   op table says of every helper call.
//! - Memory: the callback may write the caller's frame through the context
//!   pointer or any other pointer; the passes already assume that any helper
//!   call but the three map helpers may (`lookup` forgets the known stack
//!   bytes, dead-store elimination counts a helper call as reading the whole
//!   frame).
//! - Stack: the stack-depth pass lets every callback run one frame below
//!   every helper call, so the prepared stack covers its frame.
//!
//! The compiled tier leaves programs with callbacks to the interpreter
//! ([`Fallback::Callbacks`](crate::Fallback::Callbacks)).
//!
//! # The kernel's semantics
//!
//! From `bpf_loop` in `kernel/bpf/bpf_iter.c`: `flags` other than 0 is
//! `-EINVAL`, `nr_loops` (a u32) above `1 << 23` is `-E2BIG` (checked in
//! that order); the callback gets `(i, ctx)` for `i = 0, 1, ...` and the
//! loop stops after `nr_loops` calls or after a call that returns 1; the
//! result is the number of calls made. The verifier allows a callback only
//! a return value of 0 or 1: any other value ends the run with
//! [`HelperError::CallbackReturn`] at the callback's `exit`.

use crate::error::HelperError;
use crate::exec::helpers::{HelperContext, ids};
use crate::exec::memory::MAX_FRAMES;
use crate::program::LoadedProgram;

/// The kernel's limit on `bpf_loop`'s `nr_loops` (`BPF_MAX_LOOPS`).
pub const BPF_MAX_LOOPS: u64 = 1 << 23;

/// The return address of a callback's frame: its `exit` goes to
/// [`Callbacks::returned`] instead.
pub(crate) const CALLBACK_RETURN: usize = usize::MAX;

const EINVAL: u64 = (-22i64) as u64;
const E2BIG: u64 = (-7i64) as u64;

/// One callback helper call in progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Iteration {
    /// The helper's id (for errors).
    helper: u32,
    /// The callback's first op.
    entry: usize,
    /// What the callback walks over.
    walk: Walk,
    /// Callbacks made so far.
    calls: u64,
    /// r1..r5 at the call, restored when the loop ends.
    saved: [u64; 5],
    /// The op after the call.
    return_pc: usize,
}

/// What a callback helper walks over.
#[derive(Clone, Copy, Debug)]
enum Walk {
    /// `bpf_loop`: `count` calls of `callback(i, ctx)`.
    Loop { count: u64, ctx: u64 },
}

impl Iteration {
    /// The callback's arguments for call number `calls`, or `None` when the
    /// walk is over.
    fn args(&self) -> Option<[u64; 5]> {
        match self.walk {
            Walk::Loop { count, ctx } => (self.calls < count).then_some([self.calls, ctx, 0, 0, 0]),
        }
    }
}

/// The callback helper calls in progress in a run, by the depth of the
/// frame that called the helper (each frame has at most one: it waits for
/// its callback to return).
#[derive(Clone, Debug, Default)]
pub(crate) struct Callbacks {
    /// What the helper just asked for, taken by [`Callbacks::start`].
    pending: Option<Iteration>,
    active: [Option<Iteration>; MAX_FRAMES],
}

/// What the interpreter does after a callback returns.
pub(crate) enum Step {
    /// Enter the callback at `entry` again with `args` in r1..r5.
    Again { entry: usize, args: [u64; 5] },
    /// The helper call is over: r0 = `result`, r1..r5 = `saved`, continue
    /// at `return_pc`.
    Done {
        result: u64,
        saved: [u64; 5],
        return_pc: usize,
    },
}

impl Callbacks {
    /// Starts the iteration the helper asked for, called from the frame at
    /// `depth` with r1..r5 = `saved`, returning to `return_pc`: the
    /// callback's entry and its first arguments. `None` if no helper asked
    /// (never the case after [`HelperError::EnterCallback`]).
    pub(crate) fn start(
        &mut self,
        depth: usize,
        return_pc: usize,
        saved: [u64; 5],
    ) -> Option<(usize, [u64; 5])> {
        let mut iteration = self.pending.take()?;
        let args = iteration.args()?;
        iteration.saved = saved;
        iteration.return_pc = return_pc;
        iteration.calls = 1;
        let entry = iteration.entry;
        *self.active.get_mut(depth)? = Some(iteration);
        Some((entry, args))
    }

    /// The callback entered from the frame at `depth` returned `r0`: enter
    /// it again, or end the helper call. A return value the kernel's
    /// verifier refuses is the error (with the helper's id).
    pub(crate) fn returned(&mut self, depth: usize, r0: u64) -> Result<Step, (u32, HelperError)> {
        let Some(Some(iteration)) = self.active.get_mut(depth) else {
            // Only a frame `start` pushed returns here.
            return Err((
                ids::LOOP,
                HelperError::Other("a callback returned to no helper call".into()),
            ));
        };
        let stop = match r0 {
            0 => false,
            1 => true,
            value => return Err((iteration.helper, HelperError::CallbackReturn { value })),
        };
        if !stop && let Some(args) = iteration.args() {
            iteration.calls += 1;
            return Ok(Step::Again {
                entry: iteration.entry,
                args,
            });
        }
        Ok(Step::Done {
            result: iteration.calls,
            saved: iteration.saved,
            return_pc: iteration.return_pc,
        })
    }
}

/// The callback entry `value` refers to, or the helper's fault.
fn callback(program: &LoadedProgram, value: u64) -> Result<usize, HelperError> {
    program
        .callback_entry(value)
        .ok_or(HelperError::NotACallback { value })
}

/// `long bpf_loop(u32 nr_loops, void *callback, void *ctx, u64 flags)`.
pub(crate) fn bpf_loop(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let entry = callback(ctx.program(), args[1])?;
    if args[3] != 0 {
        return Ok(EINVAL);
    }
    let count = u64::from(args[0] as u32);
    if count > BPF_MAX_LOOPS {
        return Ok(E2BIG);
    }
    if count == 0 {
        return Ok(0);
    }
    ctx.callbacks_mut().pending = Some(Iteration {
        helper: ids::LOOP,
        entry,
        walk: Walk::Loop {
            count,
            ctx: args[2],
        },
        calls: 0,
        saved: [0; 5],
        return_pc: 0,
    });
    Err(HelperError::EnterCallback)
}
