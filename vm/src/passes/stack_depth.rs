//! How much of the stack a program can reach, so that a run prepares only
//! that much.
//!
//! The stack is 8 frames of 512 bytes; frame `d` (the main program's is 0,
//! a call's callee gets the next) spans the 512 bytes below
//! `frame_pointer(d)`, and frames grow down from the top of the stack. A
//! function *needs* the bytes below its r10 that it may address:
//!
//! - for a proven access at a constant offset from r10, `-off` bytes;
//! - for an access through a *copy* of r10 (`r2 = r10; r2 += -4`, kept in
//!   registers with constant offsets, see below), the bytes from where it
//!   starts up to r10, when it starts inside the frame; the key an inline or
//!   built-in lookup reads through r2 counts the same (it is read forward
//!   from there), whether `call 1` was translated to the lookup op or left
//!   a call of the built-in helper (`inline_lookups` off): the extent does
//!   not depend on that switch either;
//! - the whole 512-byte frame as soon as a copy of r10 *escapes*: it is
//!   stored, passed to a helper or a callee, returned by a function that
//!   may run as a callee, combined with anything but a constant, or used
//!   where the copies are not followed (its offset unknown, past the frame).
//!
//! The copies are followed by a forward dataflow over each function's
//! registers (r0..r9): a register holds nothing derived from the frame's
//! r10 ([`Held::OTHER`]), r10 plus a known offset within one frame either
//! way, or maybe such an address with an offset not known
//! ([`Held::UNKNOWN`]: paths that disagree, an offset out of range). Moves
//! and additions of constants carry the offset; a load, a helper's or a
//! callee's result and a function's entry registers hold [`Held::OTHER`]:
//! an address of this frame can only be in memory, or in another function's
//! hands, after it escaped, which already claimed the whole frame. Each
//! register's state only rises (unset, then known, then unknown), so the
//! dataflow is linear in the program. A superinstruction is followed part by
//! part, as the ops it stands for.
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
//!    optimising pass, and the passes only remove ops, drop what an op reads
//!    (a rewritten lookup, an access proven constant) or fuse ops (followed
//!    part by part): the extent does not depend on the pass switches (so
//!    neither does which forged addresses fault), and the verifier checks
//!    that it still covers the final program.
//!
//! And what a program addresses through its own frame pointer stays
//! reachable: an access through a followed copy that starts inside the
//! frame is counted where it starts, and reaches up to r10 (or, from a
//! callee's frame, into its callers' frames, which lie between it and the
//! top and are inside the extent too); everything else an address of the
//! frame can go through claims the whole frame, as any use of r10 did
//! before copies were followed (an access through a copy that starts
//! outside the frame included). Only an address a function forms in a
//! frame from another frame's pointer may find no prepared bytes where it
//! found some before: it faults, as a forged address does (the kernel's
//! verifier refuses both).

use crate::exec::helpers::{Helper, ids};
use crate::exec::memory::{FRAME_SIZE, MAX_FRAMES};
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::{AccessKind, Facts, Flow, Memory, Stored, Value};
use crate::ir::op::Op;
use crate::ir::regs::Regs;

/// What a register holds with respect to the current frame's r10 (one
/// `i16`, so that a state per op stays small).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held(i16);

impl Held {
    /// Nothing derived from this frame's r10.
    const OTHER: Held = Held(i16::MIN);
    /// Maybe an address of this frame, at an offset not known.
    const UNKNOWN: Held = Held(i16::MAX);
    /// r10 itself.
    const FRAME_POINTER: Held = Held(0);

    /// r10 plus `offset`, while the offset stays within one frame of r10
    /// either way; unknown beyond.
    fn frame(offset: i64) -> Held {
        let limit = FRAME_SIZE as i64;
        if (-limit..=limit).contains(&offset) {
            Held(offset as i16)
        } else {
            Held::UNKNOWN
        }
    }

    /// The offset from r10, for an address of this frame at a known offset.
    fn offset(self) -> Option<i64> {
        (self != Held::OTHER && self != Held::UNKNOWN).then_some(i64::from(self.0))
    }

    /// Whether the register may hold an address of this frame.
    fn of_frame(self) -> bool {
        self != Held::OTHER
    }

    /// Both, where paths meet.
    fn join(self, other: Held) -> Held {
        if self == other { self } else { Held::UNKNOWN }
    }

    /// This plus `k` (64-bit, wrapping).
    fn plus(self, k: u64) -> Held {
        match self.offset() {
            Some(offset) => Held::frame(offset.wrapping_add(k as i64)),
            None => self,
        }
    }
}

/// What r0..r9 hold before an op (r10 is always [`Held::FRAME_POINTER`]).
type Registers = [Held; 10];

/// A function's registers at its entry: nothing of its own frame.
const ENTRY: Registers = [Held::OTHER; 10];

/// What register `r` holds in `regs`.
fn held(regs: &Registers, r: u8) -> Held {
    regs.get(usize::from(r))
        .copied()
        .unwrap_or(Held::FRAME_POINTER)
}

/// The bytes below r10 an access starting at `base + off` needs (see the
/// module doc): where it starts, when that is inside the frame; the whole
/// frame when the base may be an address of the frame at an unknown
/// offset, or the start lies outside the frame.
fn access_need(base: Held, off: i16) -> usize {
    if base == Held::OTHER {
        return 0;
    }
    match base.offset().map(|offset| offset + i64::from(off)) {
        Some(start) if (-(FRAME_SIZE as i64)..0).contains(&start) => (-start) as usize,
        _ => FRAME_SIZE,
    }
}

/// One op that is not a superinstruction (a part of one), from `regs`: the
/// bytes below r10 it needs, and what the registers hold after it. An exit
/// that `ends_run` ends the program (its function runs only at depth 0):
/// what it leaves in r0..r5 goes nowhere.
fn step(facts: &Facts, regs: &mut Registers, ends_run: bool) -> usize {
    let mut need = 0;
    // Reads that are uses this analysis follows: the source of a move or
    // of an addition of a constant, an access's base, a lookup's key
    // pointer, a comparison, what the program's last exit leaves.
    let mut followed = Regs::NONE;
    let dst = facts.writes.single();
    if let (Value::Copy(src) | Value::Offset(src, _), Some(_)) = (facts.value, dst) {
        followed = followed.union(Regs::of(src));
    }
    match facts.memory {
        Memory::Stack { off, .. } => {
            need = need.max(usize::try_from(-i64::from(off)).unwrap_or(FRAME_SIZE));
        }
        Memory::Checked {
            base, off, kind, ..
        } => {
            // The base is followed unless the op also reads it as a value:
            // a register stored through itself, or an atomic (whose
            // operands the facts do not tell apart from its base).
            let read_as_value = match kind {
                AccessKind::Store(Stored::Reg(src)) => src == base,
                AccessKind::Store(Stored::Imm(_)) | AccessKind::Load { .. } => false,
                AccessKind::Atomic => true,
            };
            if !read_as_value {
                followed = followed.union(Regs::of(base));
            }
            need = need.max(access_need(held(regs, base), off));
        }
        Memory::LookupKey => {
            followed = followed.union(Regs::of(2));
            need = need.max(access_need(held(regs, 2), 0));
        }
        Memory::None
        | Memory::Direct { .. }
        | Memory::Fixed { .. }
        | Memory::Helper
        | Memory::Call => {}
    }
    let compares = matches!(facts.flow, Flow::Branch(_)) && facts.writes.is_empty();
    let ends = ends_run && facts.flow == Flow::Exit;
    if compares || ends {
        followed = facts.reads;
    }
    // Any other read of an address of the frame lets it escape.
    let escapes = facts
        .reads
        .minus(followed)
        .iter()
        .any(|r| held(regs, r).of_frame());
    if escapes {
        need = FRAME_SIZE;
    }
    let written = match (facts.value, dst) {
        (Value::Copy(src), Some(_)) => held(regs, src),
        (Value::Offset(src, k), Some(_)) => held(regs, src).plus(k),
        // A value of 32 bits or fewer is never a stack address.
        (Value::Narrow, _) => Held::OTHER,
        _ if escapes => Held::UNKNOWN,
        _ => Held::OTHER,
    };
    for r in facts.may_write.iter() {
        if let Some(slot) = regs.get_mut(usize::from(r)) {
            *slot = written;
        }
    }
    need
}

/// `op` as this analysis sees it: a call of the built-in
/// `bpf_map_lookup_elem` through the helper table is the lookup op the
/// translator makes of it when lookups may be inlined (both read the key
/// at r2 forward, and neither enters a callback).
fn analysed(op: &Op, helpers: &[Helper]) -> Op {
    if let Op::CallHelper { slot } = *op
        && helpers
            .get(slot as usize)
            .is_some_and(|helper| helper.builtin && helper.id == ids::MAP_LOOKUP_ELEM)
    {
        Op::MapLookup
    } else {
        *op
    }
}

/// The bytes below r10 `op` needs, part by part (see [`step`]), and what
/// the registers hold after it.
fn op_need(op: &Op, regs: &mut Registers, ends_run: bool) -> usize {
    let mut need = 0;
    for part in op.parts().as_slice() {
        need = need.max(step(&part.facts(), regs, ends_run));
    }
    need
}

/// Whether an op of these depths runs only in the main program's frame, so
/// that its `exit` ends the run.
fn ends_run(depths: u8) -> bool {
    depths == 1
}

/// For each op, the call depths it may run at (bit `d`: depth `d`).
fn depths(ops: &[Op], cfg: &ControlFlow) -> Vec<u8> {
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

/// For each op, what r0..r9 hold before it (`None`: no function reaches
/// it), every function starting from [`ENTRY`].
fn registers(ops: &[Op], cfg: &ControlFlow, depths: &[u8]) -> Vec<Option<Registers>> {
    let mut state: Vec<Option<Registers>> = vec![None; ops.len()];
    let mut work = Vec::new();
    for entry in std::iter::once(0).chain(cfg.callee_entries().iter().copied()) {
        if let Some(slot) = state.get_mut(entry) {
            *slot = Some(ENTRY);
            work.push(entry);
        }
    }
    // Each register of each state only rises to UNKNOWN once set, so this
    // ends after at most 11 changes per op.
    while let Some(i) = work.pop() {
        let Some(mut regs) = state[i] else { continue };
        op_need(&ops[i], &mut regs, ends_run(depths[i]));
        for next in cfg.successors(i) {
            let merged = match state[next] {
                Some(old) => std::array::from_fn(|r| old[r].join(regs[r])),
                None => regs,
            };
            if state[next] != Some(merged) {
                state[next] = Some(merged);
                work.push(next);
            }
        }
    }
    state
}

/// The frame extent of `ops` (whose helper table is `helpers`): how many
/// bytes below the top of the stack a run can reach (at most the whole
/// stack).
pub(crate) fn frame_extent(ops: &[Op], helpers: &[Helper]) -> usize {
    let ops: Vec<Op> = ops.iter().map(|op| analysed(op, helpers)).collect();
    let ops = ops.as_slice();
    let cfg = ControlFlow::new(ops);
    let depths = depths(ops, &cfg);
    let registers = registers(ops, &cfg, &depths);
    ops.iter()
        .zip(&depths)
        .zip(registers)
        .filter(|((_, d), _)| **d != 0)
        .map(|((op, &d), regs)| {
            // Every op with a depth is reached by the dataflow; were one
            // not, it would be taken to know nothing.
            let mut regs = regs.unwrap_or([Held::UNKNOWN; 10]);
            (op_need(op, &mut regs, ends_run(d)), d)
        })
        .filter(|&(need, _)| need > 0)
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
        assert_eq!(frame_extent(&ops, &[]), FRAME_SIZE + 16);
        ops[0] = Op::Mov64Imm { dst: 2, imm: 0 };
        assert_eq!(frame_extent(&ops, &[]), 0);
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
        assert_eq!(frame_extent(&nested, &[]), 2 * FRAME_SIZE + 8);
    }

    #[test]
    fn the_extent_is_the_deepest_constant_offset() {
        let ops = [
            Op::StackStDW { off: -16, imm: 1 },
            Op::StackLdxW { dst: 0, off: -24 },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&ops, &[]), 24);
        assert_eq!(
            frame_extent(&[Op::Mov64Imm { dst: 0, imm: 0 }, Op::Exit], &[]),
            0
        );
    }

    /// `r2 = r10 + off`, as a compiler writes it.
    fn frame_address(dst: u8, off: i64) -> [Op; 2] {
        [
            Op::Mov64Reg { dst, src: 10 },
            Op::Add64Imm {
                dst,
                imm: off as u64,
            },
        ]
    }

    #[test]
    fn a_frame_pointer_that_escapes_needs_the_whole_frame() {
        let escapes = |use_it: Op| {
            let mut ops = vec![Op::StackStW { off: -4, imm: 1 }];
            ops.extend(frame_address(2, -4));
            ops.extend([use_it, Op::Mov64Imm { dst: 0, imm: 0 }, Op::Exit]);
            // A function for the call below, which needs nothing.
            ops.push(Op::Exit);
            frame_extent(&ops, &[])
        };
        // Passed to a helper, stored, combined with a register, moved to 32 bits.
        assert_eq!(escapes(Op::CallHelper { slot: 0 }), 512);
        assert_eq!(
            escapes(Op::StxDW {
                dst: 1,
                src: 2,
                off: 0
            }),
            512
        );
        assert_eq!(escapes(Op::StackStxDW { src: 2, off: -16 }), 512);
        assert_eq!(escapes(Op::Add64Reg { dst: 2, src: 3 }), 512);
        assert_eq!(escapes(Op::Mov32Reg { dst: 3, src: 2 }), 512);
        // Handed to a callee (which sees r1..r9).
        assert_eq!(escapes(Op::CallLocal { target: 6 }), 512);
        // Only compared, or left in a register at the program's end: 4.
        assert_eq!(
            escapes(Op::JgtReg {
                dst: 2,
                src: 3,
                target: 4
            }),
            4
        );
        assert_eq!(escapes(Op::Mov64Imm { dst: 3, imm: 0 }), 4);
        // Used as an atomic's base (its operands are not told apart).
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
        assert_eq!(frame_extent(&base, &[]), 512);
    }

    #[test]
    fn copies_of_r10_at_known_offsets_need_what_they_reach() {
        // The lookup of packet_counter: the key at r10-4, read through r2.
        let mut lookup = vec![Op::StackStW { off: -4, imm: 6 }];
        lookup.extend(frame_address(2, -4));
        lookup.extend([
            Op::LoadImm64 {
                dst: 1,
                imm: crate::exec::memory::MAP_HANDLE_BASE,
            },
            Op::LddwTail,
            Op::MapLookup,
            Op::Exit,
        ]);
        assert_eq!(frame_extent(&lookup, &[]), 4);
        // Accesses through copies count where they start.
        let mut ops = frame_address(1, -8).to_vec();
        ops.extend([
            Op::LdxW {
                dst: 0,
                src: 1,
                off: -32,
            },
            Op::Mov64Reg { dst: 3, src: 1 },
            Op::StB {
                dst: 3,
                off: 4,
                imm: 1,
            },
            Op::Exit,
        ]);
        assert_eq!(frame_extent(&ops, &[]), 40);
        // ... fused or not.
        let mut fused = vec![Op::MovAdd64Imm {
            dst: 1,
            src: 10,
            imm: -8i64 as u64,
        }];
        fused.extend_from_slice(&ops[2..]);
        assert_eq!(frame_extent(&fused, &[]), 40);
        // Outside the frame (above r10, below its 512 bytes): the whole frame.
        ops[2] = Op::LdxW {
            dst: 0,
            src: 1,
            off: 8,
        };
        assert_eq!(frame_extent(&ops, &[]), 512);
        ops[2] = Op::LdxW {
            dst: 0,
            src: 1,
            off: -508,
        };
        assert_eq!(frame_extent(&ops, &[]), 512);
    }

    #[test]
    fn copies_whose_offset_is_not_known_need_the_whole_frame() {
        // Two paths leave r1 at different offsets.
        let mut ops = vec![Op::JeqImm {
            dst: 2,
            imm: 0,
            target: 4,
        }];
        ops.extend(frame_address(1, -8));
        ops.push(Op::Ja { target: 6 });
        ops.extend(frame_address(1, -16));
        ops.extend([
            Op::StB {
                dst: 1,
                off: 0,
                imm: 0,
            },
            Op::Exit,
        ]);
        assert_eq!(frame_extent(&ops, &[]), 512);
        // The same offset on both: 16.
        ops[2] = Op::Add64Imm {
            dst: 1,
            imm: -16i64 as u64,
        };
        assert_eq!(frame_extent(&ops, &[]), 16);
        // A pointer walking down the frame in a loop.
        let mut walk = frame_address(1, -8).to_vec();
        walk.extend([
            Op::StB {
                dst: 1,
                off: 0,
                imm: 0,
            },
            Op::Add64Imm {
                dst: 1,
                imm: -8i64 as u64,
            },
            Op::JneImm {
                dst: 3,
                imm: 0,
                target: 2,
            },
            Op::Exit,
        ]);
        assert_eq!(frame_extent(&walk, &[]), 512);
    }

    #[test]
    fn a_callee_that_returns_a_copy_of_its_r10_needs_its_whole_frame() {
        // main calls f; f leaves r2 = r10-4 for its caller.
        let mut ops = vec![Op::CallLocal { target: 2 }, Op::Exit];
        ops.extend(frame_address(2, -4));
        ops.extend([
            Op::StW {
                dst: 2,
                off: 0,
                imm: 1,
            },
            Op::Exit,
        ]);
        assert_eq!(frame_extent(&ops, &[]), 512 + 512);
        // Overwritten before f returns: 512 + 4.
        ops.insert(5, Op::Mov64Imm { dst: 2, imm: 0 });
        assert_eq!(frame_extent(&ops, &[]), 512 + 4);
        // The caller's registers after the call hold nothing of its frame.
        let mut caller = frame_address(6, -8).to_vec();
        caller.extend([
            Op::CallLocal { target: 6 },
            Op::StB {
                dst: 6,
                off: 0,
                imm: 1,
            },
            Op::LdxB {
                dst: 0,
                src: 1,
                off: 0,
            },
            Op::Exit,
            Op::Mov64Imm { dst: 1, imm: 0 },
            Op::Exit,
        ]);
        assert_eq!(frame_extent(&caller, &[]), 512);
        caller[0] = Op::Mov64Imm { dst: 6, imm: 0 };
        caller[1] = Op::Mov64Imm { dst: 6, imm: 0 };
        assert_eq!(frame_extent(&caller, &[]), 0);
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
        assert_eq!(frame_extent(&ops, &[]), 2 * 512 + 512);
        // Without g's escape: f at depth 1 reaches 512 + 16.
        let mut shallow = ops;
        shallow[6] = Op::Mov64Imm { dst: 1, imm: 0 };
        assert_eq!(frame_extent(&shallow, &[]), 512 + 16);
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
        assert_eq!(frame_extent(&twice, &[]), 2 * 512 + 1);
    }

    #[test]
    fn recursion_is_bounded_by_the_frame_limit() {
        let ops = [
            Op::StackStB { off: -1, imm: 0 },
            Op::CallLocal { target: 0 },
            Op::Exit,
        ];
        assert_eq!(frame_extent(&ops, &[]), 7 * 512 + 1);
    }

    #[test]
    fn unreachable_code_needs_nothing() {
        let ops = [Op::Exit, Op::Mov64Reg { dst: 1, src: 10 }, Op::Exit];
        assert_eq!(frame_extent(&ops, &[]), 0);
    }
}
