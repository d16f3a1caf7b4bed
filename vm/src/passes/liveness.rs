//! Dead-code elimination by register liveness.
//!
//! A backward dataflow over the per-slot ops finds, for every slot, the
//! registers that some path may still read. An op that cannot fault, has no
//! effect but writing its destination register, and whose destination is
//! dead there, is replaced by [`Op::Nop`] (and compacted away later). This
//! is what makes a rewritten constant-key lookup free: once `call 1` became
//! `r0 = &element`, the `r1 = map` and `r2 = r10 - 4` that fed the helper
//! are dead.
//!
//! Only registers are tracked; memory is never considered dead, so every
//! store, load from a checked region, atomic and call stays. At the `exit`
//! of the main program only r0 is live; at an `exit` a subprogram may reach,
//! r0..r5 are (the caller sees them; the VM restores r6..r9). A local call
//! reads r0..r9 (the callee starts with the caller's registers) and is not
//! assumed to write any, so it kills nothing.

use crate::exec::memory::STACK_SLOT;
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::{AccessKind, Facts, Flow, Memory, Value};
use crate::ir::op::Op;
use crate::ir::regs::Regs;

/// Replaces dead pure ops by [`Op::Nop`]; returns how many were removed.
pub(crate) fn eliminate_dead_code(ops: &mut [Op]) -> usize {
    let n = ops.len();
    // Removing an op (it falls through, as Nop does) never changes the flow.
    let cfg = ControlFlow::new(ops);
    let mut removed = 0;
    // Each round removes the last op of every dead chain; real programs need
    // two or three. The cap keeps a pathological chain from costing n^2.
    for _ in 0..MAX_ROUNDS {
        let Some(live_in) = live_registers(ops, &cfg) else {
            // Not converged: remove nothing rather than guess.
            return removed;
        };
        let mut round = 0;
        for i in 0..n {
            let facts = ops[i].facts();
            if !facts.removable() {
                continue;
            }
            let out = if i + 1 < n {
                live_in[i + 1]
            } else {
                Regs::NONE
            };
            if !facts.writes.intersects(out) {
                ops[i] = Op::Nop;
                round += 1;
            }
        }
        if round == 0 {
            break;
        }
        removed += round;
    }
    removed
}

/// The registers some path may still read before each op (`live_in[i]`),
/// or `None` when the solution does not converge within [`MAX_PASSES`].
pub(crate) fn live_registers(ops: &[Op], cfg: &ControlFlow) -> Option<Vec<Regs>> {
    let n = ops.len();
    let mut live_in = vec![Regs::NONE; n];
    let mut changed = true;
    let mut passes = 0;
    while changed {
        passes += 1;
        if passes > MAX_PASSES {
            return None;
        }
        changed = false;
        for i in (0..n).rev() {
            let facts = ops[i].facts();
            let mut out = Regs::NONE;
            for next in cfg.successors(i) {
                out |= live_in[next];
            }
            let mut reads = facts.reads;
            if ops[i] == Op::Exit && !cfg.in_subprogram(i) {
                // The end of the program: only r0 is seen.
                reads = Regs::RETURN;
            }
            let new = reads | out.minus(facts.writes);
            if new != live_in[i] {
                live_in[i] = new;
                changed = true;
            }
        }
    }
    Some(live_in)
}

/// Most removal rounds [`eliminate_dead_code`] makes.
const MAX_ROUNDS: usize = 8;

/// Most backward passes one liveness solution may take. Each pass carries
/// facts across one more backward jump; real programs converge in a few, and
/// a hostile chain of backward jumps must not make loading quadratic, so past
/// this the pass gives up and removes nothing.
const MAX_PASSES: usize = 64;

/// Removes stores to the stack frame (at constant r10 offsets) that no path
/// can read before they are overwritten or the program ends; returns how
/// many. The constant key a rewritten lookup no longer reads is such a store.
///
/// A forward pass first finds the registers that may hold a stack address:
/// any 64-bit value not known to be a non-stack constant, a 32-bit value or a
/// lookup result (programs may forge addresses by arithmetic);
/// a load or atomic through such a register, any helper or local call, and
/// the `exit` of a subprogram count as reading the whole frame.
pub(crate) fn eliminate_dead_stack_stores(ops: &mut [Op]) -> usize {
    let n = ops.len();
    if n == 0 {
        return 0;
    }
    let cfg = ControlFlow::new(ops);
    let may_stack = stack_pointer_registers(ops, &cfg);
    const ALL_BYTES: Frame = [u64::MAX; FRAME_WORDS];
    let mut live_in = vec![[0u64; FRAME_WORDS]; n];
    let mut changed = true;
    let mut passes = 0;
    while changed {
        passes += 1;
        if passes > MAX_PASSES {
            return 0;
        }
        changed = false;
        for i in (0..n).rev() {
            let facts = ops[i].facts();
            let mut live = [0u64; FRAME_WORDS];
            for next in cfg.successors(i) {
                or_into(&mut live, &live_in[next]);
            }
            match stack_access(&facts, may_stack[i], cfg.in_subprogram(i)) {
                StackAccess::None => {}
                StackAccess::Write(range) => clear(&mut live, range),
                StackAccess::Read(range) => set(&mut live, range),
                StackAccess::ReadAll => live = ALL_BYTES,
                StackAccess::ReadNothing => live = [0; FRAME_WORDS],
            }
            if live != live_in[i] {
                live_in[i] = live;
                changed = true;
            }
        }
    }
    let mut removed = 0;
    for i in 0..n {
        if let StackAccess::Write(range) =
            stack_access(&ops[i].facts(), may_stack[i], cfg.in_subprogram(i))
        {
            let after = if i + 1 < n {
                &live_in[i + 1]
            } else {
                &ALL_BYTES
            };
            if !any(after, range) {
                ops[i] = Op::Nop;
                removed += 1;
            }
        }
    }
    removed
}

const FRAME_WORDS: usize = crate::exec::memory::FRAME_SIZE / 64;
type Frame = [u64; FRAME_WORDS];

/// Bytes of the frame, as indices 0..512 (index = 512 + offset from r10).
type ByteRange = (usize, usize);

enum StackAccess {
    None,
    Write(ByteRange),
    Read(ByteRange),
    ReadAll,
    /// The frame ends with the program: nothing in it is read again.
    ReadNothing,
}

fn frame_range(off: i16, width: u8) -> ByteRange {
    // The translator proved -512 <= off and off + width <= 0.
    let start = (crate::exec::memory::FRAME_SIZE as i64 + i64::from(off)) as usize;
    (start, start + usize::from(width))
}

/// How an op with `facts` touches the current frame; `may_stack` are the
/// registers that may hold a stack address before it.
fn stack_access(facts: &Facts, may_stack: Regs, in_subprogram: bool) -> StackAccess {
    let through = |base: u8| {
        if may_stack.contains(base) {
            StackAccess::ReadAll
        } else {
            StackAccess::None
        }
    };
    if facts.flow == Flow::Exit {
        return if in_subprogram {
            StackAccess::ReadAll
        } else {
            StackAccess::ReadNothing
        };
    }
    match facts.memory {
        Memory::Stack { off, width, kind } => match kind {
            AccessKind::Load { .. } => StackAccess::Read(frame_range(off, width)),
            AccessKind::Store(_) => StackAccess::Write(frame_range(off, width)),
            // The translator never makes a stack atomic (r10 atomics are checked).
            AccessKind::Atomic => StackAccess::ReadAll,
        },
        Memory::Checked { base, kind, .. } if kind.reads() => through(base),
        Memory::LookupKey => through(2),
        Memory::Helper | Memory::Call => StackAccess::ReadAll,
        Memory::Checked { .. } | Memory::None | Memory::Direct { .. } | Memory::Fixed { .. } => {
            StackAccess::None
        }
    }
}

/// For each slot, the registers that may hold a stack address on entry.
fn stack_pointer_registers(ops: &[Op], cfg: &ControlFlow) -> Vec<Regs> {
    let n = ops.len();
    let mut state: Vec<Option<Regs>> = vec![None; n];
    let mut work = vec![0usize];
    state[0] = Some(Regs::FRAME_POINTER);
    for &entry in cfg.callee_entries() {
        state[entry] = Some(Regs::ALL);
        work.push(entry);
    }
    while let Some(i) = work.pop() {
        let Some(before) = state[i] else { continue };
        let after = stack_pointers_after(&ops[i].facts(), before);
        for next in cfg.successors(i) {
            let merged = state[next].map_or(after, |old| old | after);
            if state[next] != Some(merged) {
                state[next] = Some(merged);
                work.push(next);
            }
        }
    }
    state
        .into_iter()
        .map(|s| s.unwrap_or(Regs::GENERAL))
        .collect()
}

/// The registers that may hold a stack address after an op with `facts`,
/// given those that may before it.
fn stack_pointers_after(facts: &Facts, before: Regs) -> Regs {
    let set_if = |regs: Regs, written: Regs, yes: bool| {
        if yes {
            regs | written
        } else {
            regs.minus(written)
        }
    };
    match facts.value {
        Value::None => before,
        Value::Copy(src) => set_if(before, facts.writes, before.contains(src)),
        // A 64-bit constant may itself be a stack address.
        Value::Const(c) => set_if(before, facts.writes, c >> 32 == STACK_SLOT),
        // Values that can never be a stack address (it lies above 4 GiB):
        // 32-bit or narrower results and lookup results (an element address or 0).
        Value::Narrow | Value::MapValue => before.minus(facts.may_write),
        // Anything else a register receives may be a stack address: 64-bit
        // arithmetic can forge one even from constants, a 64-bit load may
        // bring back a spilled one, and helpers and callees may return one.
        Value::Offset(..) | Value::Any => before | facts.may_write,
    }
}

fn or_into(dst: &mut Frame, src: &Frame) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d |= s;
    }
}

fn set(frame: &mut Frame, (start, end): ByteRange) {
    for byte in start..end.min(crate::exec::memory::FRAME_SIZE) {
        frame[byte / 64] |= 1 << (byte % 64);
    }
}

fn clear(frame: &mut Frame, (start, end): ByteRange) {
    for byte in start..end.min(crate::exec::memory::FRAME_SIZE) {
        frame[byte / 64] &= !(1 << (byte % 64));
    }
}

fn any(frame: &Frame, (start, end): ByteRange) -> bool {
    (start..end.min(crate::exec::memory::FRAME_SIZE))
        .any(|byte| frame[byte / 64] & (1 << (byte % 64)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_setup_of_a_rewritten_lookup_and_keeps_what_is_read() {
        let mut ops = vec![
            Op::LoadImm64 { dst: 1, imm: 5 },
            Op::LddwTail,
            Op::Mov64Reg { dst: 2, src: 10 },
            Op::Add64Imm {
                dst: 2,
                imm: u64::MAX - 3,
            },
            Op::LookupConst { imm: 0x3_0000_0000 },
            Op::Mov64Imm { dst: 6, imm: 7 },
            Op::LdxDW {
                dst: 0,
                src: 0,
                off: 0,
            },
            Op::Exit,
        ];
        assert_eq!(eliminate_dead_code(&mut ops), 4);
        assert_eq!(ops[0], Op::Nop);
        assert_eq!(ops[2], Op::Nop);
        assert_eq!(ops[3], Op::Nop);
        assert_eq!(ops[4], Op::LookupConst { imm: 0x3_0000_0000 });
        assert_eq!(ops[5], Op::Nop);
        assert_eq!(
            ops[6],
            Op::LdxDW {
                dst: 0,
                src: 0,
                off: 0
            }
        );
    }

    #[test]
    fn keeps_values_read_after_a_loop_back_edge_and_by_calls() {
        let mut ops = vec![
            Op::Mov64Imm { dst: 1, imm: 3 },
            Op::Mov64Imm { dst: 6, imm: 1 },
            Op::Add64Imm { dst: 6, imm: 1 },
            Op::JltImm {
                dst: 6,
                imm: 10,
                target: 2,
            },
            Op::CallLocal { target: 6 },
            Op::Exit,
            Op::Mov64Reg { dst: 0, src: 1 },
            Op::Exit,
        ];
        assert_eq!(eliminate_dead_code(&mut ops), 0);
    }

    #[test]
    fn removes_a_key_store_no_path_reads() {
        let mut ops = vec![
            Op::StackStxW { src: 7, off: -4 },
            Op::LookupConst { imm: 0x3_0000_0000 },
            Op::LdxDW {
                dst: 1,
                src: 0,
                off: 0,
            },
            Op::JneImm {
                dst: 1,
                imm: 0,
                target: 0,
            },
            Op::Exit,
        ];
        assert_eq!(eliminate_dead_stack_stores(&mut ops), 1);
        assert_eq!(ops[0], Op::Nop);
    }

    #[test]
    fn keeps_stack_stores_that_may_be_read() {
        // Read back directly.
        let mut direct = vec![
            Op::StackStxW { src: 7, off: -4 },
            Op::StackLdxW { dst: 0, off: -4 },
            Op::Exit,
        ];
        // Read through a register derived from r10.
        let mut derived = vec![
            Op::StackStxW { src: 7, off: -4 },
            Op::MovAdd64Imm {
                dst: 3,
                src: 10,
                imm: (-4i64) as u64,
            },
            Op::LdxW {
                dst: 0,
                src: 3,
                off: 0,
            },
            Op::Exit,
        ];
        // Read by a helper (through a pointer argument).
        let mut helper = vec![
            Op::StackStxW { src: 7, off: -4 },
            Op::CallHelper { slot: 0 },
            Op::Exit,
        ];
        // Read through a pointer loaded back from memory (spilled).
        let mut spilled = vec![
            Op::StackStxDW { src: 10, off: -16 },
            Op::StackStxW { src: 7, off: -4 },
            Op::StackLdxDW { dst: 4, off: -16 },
            Op::LdxW {
                dst: 0,
                src: 4,
                off: 12,
            },
            Op::Exit,
        ];
        // Read through an address forged from constants.
        let mut forged = vec![
            Op::StackStW { off: -4, imm: 2 },
            Op::Mov64Imm { dst: 3, imm: 2 },
            Op::Lsh64Imm { dst: 3, imm: 32 },
            Op::Add64Imm { dst: 3, imm: 0xffc },
            Op::LdxW {
                dst: 0,
                src: 3,
                off: 0,
            },
            Op::Exit,
        ];
        let mut constant = vec![
            Op::StackStW { off: -4, imm: 2 },
            Op::LoadImm64 {
                dst: 3,
                imm: 0x2_0000_0ffc,
            },
            Op::LddwTail,
            Op::LdxW {
                dst: 0,
                src: 3,
                off: 0,
            },
            Op::Exit,
        ];
        for ops in [
            &mut direct,
            &mut derived,
            &mut helper,
            &mut spilled,
            &mut forged,
            &mut constant,
        ] {
            assert_eq!(eliminate_dead_stack_stores(ops), 0, "{ops:?}");
        }
    }

    #[test]
    fn a_chain_of_backward_jumps_does_not_make_loading_quadratic() {
        // Slot k jumps back to slot k-1, 100_000 times, and slot 0 reads r4:
        // each backward pass would carry "r4 is live" across one more jump.
        let mut ops = vec![Op::Add64Reg { dst: 0, src: 4 }];
        for k in 1..100_000u32 {
            ops.push(Op::JeqImm {
                dst: 2,
                imm: 0,
                target: k - 1,
            });
        }
        ops.push(Op::Mov64Imm { dst: 5, imm: 1 });
        ops.push(Op::Exit);
        let start = std::time::Instant::now();
        eliminate_dead_code(&mut ops);
        eliminate_dead_stack_stores(&mut ops);
        assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
        assert_eq!(ops[0], Op::Add64Reg { dst: 0, src: 4 });
    }

    #[test]
    fn a_callee_may_read_the_callers_r0() {
        // Fuzz finding F3: mov r0, 7; call f; mov r0, r2; exit; f: mov r2, r0; exit.
        let mut ops = vec![
            Op::Mov64Imm { dst: 0, imm: 7 },
            Op::CallLocal { target: 4 },
            Op::Mov64Reg { dst: 0, src: 2 },
            Op::Exit,
            Op::Mov64Reg { dst: 2, src: 0 },
            Op::Exit,
        ];
        assert_eq!(eliminate_dead_code(&mut ops), 0);
    }

    #[test]
    fn never_removes_faulting_or_effectful_ops() {
        let mut ops = vec![
            Op::LdxW {
                dst: 3,
                src: 1,
                off: 0,
            },
            Op::StxW {
                dst: 10,
                src: 3,
                off: -4,
            },
            Op::MapLookup,
            Op::Mov64Imm { dst: 0, imm: 0 },
            Op::Exit,
        ];
        assert_eq!(eliminate_dead_code(&mut ops), 0);
    }
}
