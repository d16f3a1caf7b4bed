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
use crate::ir::op::{AtomicOp, Op};
use crate::passes::compact::jump_target;

type Regs = u16;

const fn bit(r: u8) -> Regs {
    1 << (r & 15)
}

const ARGS: Regs = bit(1) | bit(2) | bit(3) | bit(4) | bit(5);
const ALL: Regs = 0x3ff;

/// Registers an op reads, registers it certainly writes, and whether it may be
/// removed when none of those written registers is live afterwards.
fn effects(op: &Op) -> (Regs, Regs, bool) {
    use Op::*;
    match *op {
        Add64Imm { dst, .. }
        | Sub64Imm { dst, .. }
        | Mul64Imm { dst, .. }
        | Div64Imm { dst, .. }
        | SDiv64Imm { dst, .. }
        | Mod64Imm { dst, .. }
        | SMod64Imm { dst, .. }
        | Or64Imm { dst, .. }
        | And64Imm { dst, .. }
        | Lsh64Imm { dst, .. }
        | Rsh64Imm { dst, .. }
        | Arsh64Imm { dst, .. }
        | Xor64Imm { dst, .. }
        | Neg64 { dst }
        | Add32Imm { dst, .. }
        | Sub32Imm { dst, .. }
        | Mul32Imm { dst, .. }
        | Div32Imm { dst, .. }
        | SDiv32Imm { dst, .. }
        | Mod32Imm { dst, .. }
        | SMod32Imm { dst, .. }
        | Or32Imm { dst, .. }
        | And32Imm { dst, .. }
        | Lsh32Imm { dst, .. }
        | Rsh32Imm { dst, .. }
        | Arsh32Imm { dst, .. }
        | Xor32Imm { dst, .. }
        | Neg32 { dst }
        | ToLe { dst, .. }
        | ToBe { dst, .. }
        | Bswap { dst, .. } => (bit(dst), bit(dst), true),
        Mov64Imm { dst, .. } | Mov32Imm { dst, .. } | LoadImm64 { dst, .. } => (0, bit(dst), true),
        Add64Reg { dst, src }
        | Sub64Reg { dst, src }
        | Mul64Reg { dst, src }
        | Div64Reg { dst, src }
        | SDiv64Reg { dst, src }
        | Mod64Reg { dst, src }
        | SMod64Reg { dst, src }
        | Or64Reg { dst, src }
        | And64Reg { dst, src }
        | Lsh64Reg { dst, src }
        | Rsh64Reg { dst, src }
        | Arsh64Reg { dst, src }
        | Xor64Reg { dst, src }
        | Add32Reg { dst, src }
        | Sub32Reg { dst, src }
        | Mul32Reg { dst, src }
        | Div32Reg { dst, src }
        | SDiv32Reg { dst, src }
        | Mod32Reg { dst, src }
        | SMod32Reg { dst, src }
        | Or32Reg { dst, src }
        | And32Reg { dst, src }
        | Lsh32Reg { dst, src }
        | Rsh32Reg { dst, src }
        | Arsh32Reg { dst, src }
        | Xor32Reg { dst, src } => (bit(dst) | bit(src), bit(dst), true),
        Mov64Reg { dst, src }
        | Mov32Reg { dst, src }
        | MovSx64 { dst, src, .. }
        | MovSx32 { dst, src, .. } => (bit(src), bit(dst), true),
        // Proven inside the frame: cannot fault.
        StackLdxB { dst, .. }
        | StackLdxH { dst, .. }
        | StackLdxW { dst, .. }
        | StackLdxDW { dst, .. }
        | StackLdxSB { dst, .. }
        | StackLdxSH { dst, .. }
        | StackLdxSW { dst, .. } => (0, bit(dst), true),
        // Checked loads may fault: they stay.
        LdxB { dst, src, .. }
        | LdxH { dst, src, .. }
        | LdxW { dst, src, .. }
        | LdxDW { dst, src, .. }
        | LdxSB { dst, src, .. }
        | LdxSH { dst, src, .. }
        | LdxSW { dst, src, .. } => (bit(src), bit(dst), false),
        StB { dst, .. } | StH { dst, .. } | StW { dst, .. } | StDW { dst, .. } => {
            (bit(dst), 0, false)
        }
        StxB { dst, src, .. }
        | StxH { dst, src, .. }
        | StxW { dst, src, .. }
        | StxDW { dst, src, .. } => (bit(dst) | bit(src), 0, false),
        StackStB { .. } | StackStH { .. } | StackStW { .. } | StackStDW { .. } => (0, 0, false),
        StackStxB { src, .. }
        | StackStxH { src, .. }
        | StackStxW { src, .. }
        | StackStxDW { src, .. } => (bit(src), 0, false),
        Atomic { op, dst, src, .. } => {
            let reads = bit(dst) | bit(src) | if op == AtomicOp::CmpXchg { bit(0) } else { 0 };
            let writes = match op {
                AtomicOp::CmpXchg => bit(0),
                AtomicOp::Xchg
                | AtomicOp::Add { fetch: true }
                | AtomicOp::Or { fetch: true }
                | AtomicOp::And { fetch: true }
                | AtomicOp::Xor { fetch: true } => bit(src),
                _ => 0,
            };
            (reads, writes, false)
        }
        Ja { .. } => (0, 0, false),
        JeqImm { dst, .. }
        | JgtImm { dst, .. }
        | JgeImm { dst, .. }
        | JsetImm { dst, .. }
        | JneImm { dst, .. }
        | JsgtImm { dst, .. }
        | JsgeImm { dst, .. }
        | JltImm { dst, .. }
        | JleImm { dst, .. }
        | JsltImm { dst, .. }
        | JsleImm { dst, .. }
        | Jeq32Imm { dst, .. }
        | Jgt32Imm { dst, .. }
        | Jge32Imm { dst, .. }
        | Jset32Imm { dst, .. }
        | Jne32Imm { dst, .. }
        | Jsgt32Imm { dst, .. }
        | Jsge32Imm { dst, .. }
        | Jlt32Imm { dst, .. }
        | Jle32Imm { dst, .. }
        | Jslt32Imm { dst, .. }
        | Jsle32Imm { dst, .. } => (bit(dst), 0, false),
        JeqReg { dst, src, .. }
        | JgtReg { dst, src, .. }
        | JgeReg { dst, src, .. }
        | JsetReg { dst, src, .. }
        | JneReg { dst, src, .. }
        | JsgtReg { dst, src, .. }
        | JsgeReg { dst, src, .. }
        | JltReg { dst, src, .. }
        | JleReg { dst, src, .. }
        | JsltReg { dst, src, .. }
        | JsleReg { dst, src, .. }
        | Jeq32Reg { dst, src, .. }
        | Jgt32Reg { dst, src, .. }
        | Jge32Reg { dst, src, .. }
        | Jset32Reg { dst, src, .. }
        | Jne32Reg { dst, src, .. }
        | Jsgt32Reg { dst, src, .. }
        | Jsge32Reg { dst, src, .. }
        | Jlt32Reg { dst, src, .. }
        | Jle32Reg { dst, src, .. }
        | Jslt32Reg { dst, src, .. }
        | Jsle32Reg { dst, src, .. } => (bit(dst) | bit(src), 0, false),
        MapLookup | CallHelper { .. } => (ARGS, bit(0), false),
        CallReg { reg } => (ARGS | bit(reg), bit(0), false),
        // The callee starts with all of the caller's registers, r0 included.
        CallLocal { .. } => (ALL, 0, false),
        Exit => (bit(0) | ARGS, 0, false),
        LookupConst { .. } => (0, bit(0), true),
        // Reads the key through r2: may fault, so it stays.
        LookupInline { .. } => (bit(2), bit(0), false),
        Nop | LddwTail => (0, 0, false),
        AddJeqImm { dst, .. }
        | AddJneImm { dst, .. }
        | AndJeqImm { dst, .. }
        | AndJneImm { dst, .. } => (bit(dst), bit(dst), false),
        DirectLdxB { dst, .. }
        | DirectLdxH { dst, .. }
        | DirectLdxW { dst, .. }
        | DirectLdxDW { dst, .. } => (0, bit(dst), true),
        DirectStxB { src, .. }
        | DirectStxH { src, .. }
        | DirectStxW { src, .. }
        | DirectStxDW { src, .. } => (bit(src), 0, false),
        DirectStB { .. } | DirectStH { .. } | DirectStW { .. } | DirectStDW { .. } => (0, 0, false),
        MovAdd64Imm { dst, src, .. }
        | MovSub64Imm { dst, src, .. }
        | MovMul64Imm { dst, src, .. }
        | MovAnd64Imm { dst, src, .. }
        | MovOr64Imm { dst, src, .. }
        | MovXor64Imm { dst, src, .. }
        | MovLsh64Imm { dst, src, .. }
        | MovRsh64Imm { dst, src, .. }
        | MovArsh64Imm { dst, src, .. }
        | Zext32 { dst, src, .. }
        | Sext32 { dst, src, .. }
        | XorShl64 { dst, src, .. }
        | XorShr64 { dst, src, .. } => (bit(src), bit(dst), true),
        MovAdd64Reg { dst, src, src2 }
        | MovSub64Reg { dst, src, src2 }
        | MovAnd64Reg { dst, src, src2 }
        | MovOr64Reg { dst, src, src2 }
        | MovXor64Reg { dst, src, src2 } => (bit(src) | bit(src2), bit(dst), true),
    }
}

/// The registers `op` may write.
pub(crate) fn written_registers(op: &Op) -> Regs {
    match *op {
        Op::CallLocal { .. } => bit(0) | ARGS,
        _ => effects(op).1,
    }
}

/// Whether execution can continue at the next slot after `op`.
fn falls_through(op: &Op) -> bool {
    !matches!(op, Op::Ja { .. } | Op::Exit)
}

/// Slots reachable from `roots` without entering calls.
fn reachable(ops: &[Op], roots: impl Iterator<Item = usize>) -> Vec<bool> {
    let mut seen = vec![false; ops.len()];
    let mut work: Vec<usize> = roots.filter(|&r| r < ops.len()).collect();
    while let Some(i) = work.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let op = &ops[i];
        if falls_through(op) && i + 1 < ops.len() {
            work.push(i + 1);
        }
        if let Some(target) = jump_target(op)
            && !matches!(op, Op::CallLocal { .. })
        {
            work.push(target as usize);
        }
    }
    seen
}

/// Replaces dead pure ops by [`Op::Nop`]; returns how many were removed.
pub(crate) fn eliminate_dead_code(ops: &mut [Op]) -> usize {
    let n = ops.len();
    let callee_entries = ops.iter().filter_map(|op| match op {
        Op::CallLocal { target } => Some(*target as usize),
        _ => None,
    });
    let in_subprogram = reachable(ops, callee_entries.collect::<Vec<_>>().into_iter());
    let mut removed = 0;
    // Each round removes the last op of every dead chain; real programs need
    // two or three. The cap keeps a pathological chain from costing n^2.
    for _ in 0..MAX_ROUNDS {
        // live_in[i]: registers live before slot i.
        let mut live_in = vec![0 as Regs; n];
        let mut changed = true;
        let mut passes = 0;
        while changed {
            passes += 1;
            if passes > MAX_PASSES {
                // Not converged: remove nothing rather than guess.
                return removed;
            }
            changed = false;
            for i in (0..n).rev() {
                let op = &ops[i];
                let mut out: Regs = 0;
                if falls_through(op) && i + 1 < n {
                    out |= live_in[i + 1];
                }
                if let Some(target) = jump_target(op)
                    && !matches!(op, Op::CallLocal { .. })
                {
                    out |= live_in.get(target as usize).copied().unwrap_or(ALL);
                }
                let (mut reads, writes, _) = effects(op);
                if matches!(op, Op::Exit) && !in_subprogram[i] {
                    // The end of the program: only r0 is seen.
                    reads = bit(0);
                }
                let new = reads | (out & !writes);
                if new != live_in[i] {
                    live_in[i] = new;
                    changed = true;
                }
            }
        }
        let mut round = 0;
        for i in 0..n {
            let (_, writes, pure) = effects(&ops[i]);
            if !pure {
                continue;
            }
            let out = if i + 1 < n { live_in[i + 1] } else { 0 };
            if writes & out == 0 {
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
    let callee_entries: Vec<usize> = ops
        .iter()
        .filter_map(|op| match op {
            Op::CallLocal { target } => Some(*target as usize),
            _ => None,
        })
        .collect();
    let in_subprogram = reachable(ops, callee_entries.iter().copied());
    let may_stack = stack_pointer_registers(ops, &callee_entries);
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
            let op = &ops[i];
            let mut live = [0u64; FRAME_WORDS];
            if falls_through(op) && i + 1 < n {
                or_into(&mut live, &live_in[i + 1]);
            }
            if let Some(target) = jump_target(op)
                && !matches!(op, Op::CallLocal { .. })
            {
                or_into(
                    &mut live,
                    live_in.get(target as usize).unwrap_or(&ALL_BYTES),
                );
            }
            match stack_access(op, may_stack[i], in_subprogram[i]) {
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
        if let StackAccess::Write(range) = stack_access(&ops[i], may_stack[i], in_subprogram[i]) {
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

fn frame_range(off: i16, width: usize) -> ByteRange {
    // The translator proved -512 <= off and off + width <= 0.
    let start = (crate::exec::memory::FRAME_SIZE as i64 + i64::from(off)) as usize;
    (start, start + width)
}

/// How `op` touches the current frame; `may_stack` are the registers that may
/// hold a stack address before it.
fn stack_access(op: &Op, may_stack: Regs, in_subprogram: bool) -> StackAccess {
    use Op::*;
    let through = |base: u8| {
        if may_stack & bit(base) != 0 {
            StackAccess::ReadAll
        } else {
            StackAccess::None
        }
    };
    match *op {
        StackLdxB { off, .. } | StackLdxSB { off, .. } => StackAccess::Read(frame_range(off, 1)),
        StackLdxH { off, .. } | StackLdxSH { off, .. } => StackAccess::Read(frame_range(off, 2)),
        StackLdxW { off, .. } | StackLdxSW { off, .. } => StackAccess::Read(frame_range(off, 4)),
        StackLdxDW { off, .. } => StackAccess::Read(frame_range(off, 8)),
        StackStB { off, .. } | StackStxB { off, .. } => StackAccess::Write(frame_range(off, 1)),
        StackStH { off, .. } | StackStxH { off, .. } => StackAccess::Write(frame_range(off, 2)),
        StackStW { off, .. } | StackStxW { off, .. } => StackAccess::Write(frame_range(off, 4)),
        StackStDW { off, .. } | StackStxDW { off, .. } => StackAccess::Write(frame_range(off, 8)),
        LdxB { src, .. }
        | LdxH { src, .. }
        | LdxW { src, .. }
        | LdxDW { src, .. }
        | LdxSB { src, .. }
        | LdxSH { src, .. }
        | LdxSW { src, .. } => through(src),
        Atomic { dst, .. } => through(dst),
        MapLookup | LookupInline { .. } => through(2),
        CallHelper { .. } | CallReg { .. } | CallLocal { .. } => StackAccess::ReadAll,
        Exit if in_subprogram => StackAccess::ReadAll,
        Exit => StackAccess::ReadNothing,
        _ => StackAccess::None,
    }
}

/// For each slot, the registers that may hold a stack address on entry.
fn stack_pointer_registers(ops: &[Op], callee_entries: &[usize]) -> Vec<Regs> {
    use Op::*;
    let n = ops.len();
    let mut state: Vec<Option<Regs>> = vec![None; n];
    let mut work = vec![0usize];
    state[0] = Some(bit(10));
    for &entry in callee_entries {
        if entry < n {
            state[entry] = Some(ALL | bit(10));
            work.push(entry);
        }
    }
    while let Some(i) = work.pop() {
        let Some(before) = state[i] else { continue };
        let op = &ops[i];
        let copy = |src: u8| before & bit(src) != 0;
        let set_if = |regs: Regs, dst: u8, yes: bool| {
            if yes {
                regs | bit(dst)
            } else {
                regs & !bit(dst)
            }
        };
        let written = written_registers(op);
        let after = match *op {
            Mov64Reg { dst, src } => set_if(before, dst, copy(src)),
            // A 64-bit constant may itself be a stack address.
            LoadImm64 { dst, imm } => set_if(before, dst, imm >> 32 == STACK_SLOT),
            // Values that can never be a stack address (it lies above 4 GiB):
            // sign-extended 32-bit immediates, 32-bit or narrower results,
            // and lookup results (an element address or 0).
            Mov64Imm { .. }
            | Mov32Imm { .. }
            | Mov32Reg { .. }
            | MovSx32 { .. }
            | MovSx64 { .. }
            | Zext32 { .. }
            | Sext32 { .. }
            | Add32Imm { .. }
            | Sub32Imm { .. }
            | Mul32Imm { .. }
            | Div32Imm { .. }
            | SDiv32Imm { .. }
            | Mod32Imm { .. }
            | SMod32Imm { .. }
            | Or32Imm { .. }
            | And32Imm { .. }
            | Lsh32Imm { .. }
            | Rsh32Imm { .. }
            | Arsh32Imm { .. }
            | Xor32Imm { .. }
            | Neg32 { .. }
            | Add32Reg { .. }
            | Sub32Reg { .. }
            | Mul32Reg { .. }
            | Div32Reg { .. }
            | SDiv32Reg { .. }
            | Mod32Reg { .. }
            | SMod32Reg { .. }
            | Or32Reg { .. }
            | And32Reg { .. }
            | Lsh32Reg { .. }
            | Rsh32Reg { .. }
            | Arsh32Reg { .. }
            | Xor32Reg { .. }
            | LdxB { .. }
            | LdxH { .. }
            | LdxW { .. }
            | LdxSB { .. }
            | LdxSH { .. }
            | LdxSW { .. }
            | StackLdxB { .. }
            | StackLdxH { .. }
            | StackLdxW { .. }
            | StackLdxSB { .. }
            | StackLdxSH { .. }
            | StackLdxSW { .. }
            | DirectLdxB { .. }
            | DirectLdxH { .. }
            | DirectLdxW { .. }
            | MapLookup
            | LookupConst { .. }
            | LookupInline { .. } => before & !written,
            // Anything else a register receives may be a stack address:
            // 64-bit arithmetic can forge one even from constants, a 64-bit
            // load may bring back a spilled one, and helpers and callees may
            // return one.
            _ => before | written,
        };
        let mut push = |next: usize, state: &mut Vec<Option<Regs>>| {
            if next < n {
                let merged = state[next].map_or(after, |old| old | after);
                if state[next] != Some(merged) {
                    state[next] = Some(merged);
                    work.push(next);
                }
            }
        };
        if falls_through(op) {
            push(i + 1, &mut state);
        }
        if let Some(target) = jump_target(op)
            && !matches!(op, CallLocal { .. })
        {
            push(target as usize, &mut state);
        }
    }
    state.into_iter().map(|s| s.unwrap_or(ALL)).collect()
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
