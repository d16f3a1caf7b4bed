//! How much of the stack a program can reach, so that a run prepares only
//! that much.
//!
//! The stack is 8 frames of 512 bytes; frame `d` (the main program's is 0,
//! a call's callee gets the next) spans the 512 bytes below
//! `frame_pointer(d)`, and frames grow down from the top of the stack. A
//! function *needs* the bytes below its r10 that it may address:
//!
//! - for a proven access at a constant offset from r10, `-off` bytes (the
//!   deepest such offset over the function);
//! - the whole 512-byte frame as soon as it reads r10 as a value (copies it,
//!   passes it to a helper or a callee, uses it as a base), since the
//!   address then escapes.
//!
//! A callback (a function a pseudo-func `lddw` refers to) runs in a frame of
//! its own one below the helper call that enters it, as a callee does; the
//! helper call is not tied to one callback here, so every callback may run
//! one below every helper call (an over-approximation).
//!
//! A function that may run at depth `d` reaches `d * 512 + need` bytes below
//! the top. The **frame extent** is the largest such reach over every
//! function and every depth it may run at, found over the call graph; ops
//! are followed one by one (each op's depths, 8 bits, only grow), so the
//! work is linear in the program.
//!
//! # Why preparing only the extent is sound
//!
//! A run's stack buffer is left uninitialised except for its top `extent`
//! bytes, which are zeroed before the first op; the stack region of the
//! address space is exactly those bytes. Then whatever a run may read is
//! defined and nothing of an earlier run can leak:
//!
//! 1. The depths are an over-approximation: they follow every successor and
//!    every call the interpreter can take (it refuses a call from depth 7),
//!    so an op that runs at depth `d` has `d` among its depths.
//! 2. A proven stack access at depth `d` touches bytes `[top - d * 512 + off,
//!    top - d * 512 + off + width)`, with `off + width <= 0`, and
//!    `d * 512 - off <= extent`: inside the prepared bytes.
//! 3. Every other access (through a copy of r10, a forged address, a helper's
//!    pointer) is checked against the regions, and the stack region is only
//!    the prepared bytes: an address beyond them faults.
//! 4. The extent is computed on the translated program, before any
//!    optimising pass, and the passes only remove or fuse ops: the extent
//!    does not depend on the pass switches (so neither does which forged
//!    addresses fault), and the verifier checks that it still covers the
//!    final program.

use crate::exec::memory::{FRAME_SIZE, MAX_FRAMES};
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::{Flow, Memory};
use crate::ir::op::Op;
use crate::ir::regs::Regs;

/// The bytes below a function's r10 that `op` may address (see the module
/// doc).
fn need(op: &Op) -> usize {
    let facts = op.facts();
    if facts.reads.intersects(Regs::FRAME_POINTER) {
        return FRAME_SIZE;
    }
    match facts.memory {
        Memory::Stack { off, .. } => usize::try_from(-i64::from(off)).unwrap_or(FRAME_SIZE),
        Memory::None
        | Memory::Checked { .. }
        | Memory::Direct { .. }
        | Memory::Fixed { .. }
        | Memory::LookupKey
        | Memory::Helper
        | Memory::Call => 0,
    }
}

/// For each op, the call depths it may run at (bit `d`: depth `d`).
fn depths(ops: &[Op]) -> Vec<u8> {
    let cfg = ControlFlow::new(ops);
    let mut depths = vec![0u8; ops.len()];
    if ops.is_empty() {
        return depths;
    }
    depths[0] = 1;
    let mut work = vec![0usize];
    let add = |to: usize, bits: u8, depths: &mut Vec<u8>, work: &mut Vec<usize>| {
        if let Some(slot) = depths.get_mut(to)
            && *slot | bits != *slot
        {
            *slot |= bits;
            work.push(to);
        }
    };
    let callbacks = cfg.callback_entries();
    while let Some(i) = work.pop() {
        let here = depths[i];
        for next in cfg.successors(i) {
            add(next, here, &mut depths, &mut work);
        }
        // A call from the deepest frame faults instead of entering.
        let deeper = here << 1;
        let facts = ops[i].facts();
        if let Flow::Call(target) = facts.flow
            && deeper != 0
        {
            add(target as usize, deeper, &mut depths, &mut work);
        }
        // Any helper call may enter any callback, one frame down.
        if facts.memory == Memory::Helper && deeper != 0 {
            for &entry in callbacks {
                add(entry, deeper, &mut depths, &mut work);
            }
        }
    }
    depths
}

/// The frame extent of `ops`: how many bytes below the top of the stack a
/// run can reach (at most the whole stack).
pub(crate) fn frame_extent(ops: &[Op]) -> usize {
    let depths = depths(ops);
    ops.iter()
        .zip(&depths)
        .map(|(op, d)| (need(op), *d))
        .filter(|&(need, d)| need > 0 && d != 0)
        .map(|(need, d)| {
            let deepest = 7 - d.leading_zeros() as usize;
            deepest * FRAME_SIZE + need
        })
        .max()
        .unwrap_or(0)
        .min(FRAME_SIZE * MAX_FRAMES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_runs_one_frame_below_each_helper_call() {
        // Frame 0 calls a helper; the callback (op 3) uses 16 bytes of its
        // own frame, one below: 512 + 16. Unreferenced, it is never entered.
        let callback = [
            Op::StackStDW { off: -16, imm: 1 },
            Op::Mov64Imm { dst: 0, imm: 0 },
            Op::Exit,
        ];
        let mut ops = vec![
            Op::LoadFunc { dst: 2, target: 3 },
            Op::CallHelper { slot: 0 },
            Op::Exit,
        ];
        ops.extend(callback);
        assert_eq!(frame_extent(&ops), FRAME_SIZE + 16);
        ops[0] = Op::Mov64Imm { dst: 2, imm: 0 };
        assert_eq!(frame_extent(&ops), 0);
        // From a local call's frame, one further down.
        let nested = [
            Op::LoadFunc { dst: 2, target: 5 },
            Op::CallLocal { target: 3 },
            Op::Exit,
            Op::CallHelper { slot: 0 },
            Op::Exit,
            Op::StackStDW { off: -8, imm: 1 },
            Op::Exit,
        ];
        // The helper call runs at depth 1 only; the callback at 2.
        assert_eq!(frame_extent(&nested), 2 * FRAME_SIZE + 8);
    }

    #[test]
    fn the_extent_is_the_deepest_constant_offset() {
        let ops = [
            Op::StackStDW { off: -16, imm: 1 },
            Op::StackLdxW { dst: 0, off: -24 },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&ops), 24);
        assert_eq!(
            frame_extent(&[Op::Mov64Imm { dst: 0, imm: 0 }, Op::Exit]),
            0
        );
    }

    #[test]
    fn a_frame_pointer_that_escapes_needs_the_whole_frame() {
        let copy = [
            Op::StackStW { off: -4, imm: 1 },
            Op::Mov64Reg { dst: 2, src: 10 },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&copy), 512);
        let base = [
            Op::Atomic {
                op: crate::ir::op::AtomicOp::Add { fetch: false },
                wide: true,
                dst: 10,
                src: 1,
                off: -8,
            },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&base), 512);
    }

    #[test]
    fn callees_reach_below_their_callers_frames() {
        // main: 8 bytes; f (depth 1): 16 bytes; g (depth 2, from f): r10 escapes.
        let ops = [
            Op::StackStDW { off: -8, imm: 0 },
            Op::CallLocal { target: 3 },
            Op::Exit,
            Op::StackStDW { off: -16, imm: 0 },
            Op::CallLocal { target: 6 },
            Op::Exit,
            Op::Mov64Reg { dst: 1, src: 10 },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&ops), 2 * 512 + 512);
        // Without g's escape: f at depth 1 reaches 512 + 16.
        let mut shallow = ops;
        shallow[6] = Op::Mov64Imm { dst: 1, imm: 0 };
        assert_eq!(frame_extent(&shallow), 512 + 16);
        // A function called from two depths counts at the deeper one.
        let twice = [
            Op::CallLocal { target: 3 },
            Op::CallLocal { target: 5 },
            Op::Exit,
            Op::CallLocal { target: 5 },
            Op::Exit,
            Op::StackStB { off: -1, imm: 0 },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&twice), 2 * 512 + 1);
    }

    #[test]
    fn recursion_is_bounded_by_the_frame_limit() {
        let ops = [
            Op::StackStB { off: -1, imm: 0 },
            Op::CallLocal { target: 0 },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&ops), 7 * 512 + 1);
    }

    #[test]
    fn unreachable_code_needs_nothing() {
        let ops = [Op::Exit, Op::Mov64Reg { dst: 1, src: 10 }, Op::Exit];
        assert_eq!(frame_extent(&ops), 0);
    }
}
