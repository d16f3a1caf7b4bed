//! Fusion: common runs of two or three instructions become one
//! superinstruction, so the interpreter dispatches once where it would
//! dispatch two or three times: `mov` plus an ALU op into three-operand
//! forms, the xorshift step, zero and sign extension, and `add`/`and`
//! followed by `jeq`/`jne`.
//!
//! A superinstruction stands for exactly the ops it was made from, in order:
//! its [`parts`](crate::ir::op::Op::parts) are those ops, so its weight (the
//! instructions it counts for) is their number and a run with fusion counts
//! the same instructions as one without. Compaction fuses a run only when no
//! jump enters it after its first op. Every rule below names the ops it
//! fuses; anything else is left as it is, which is always correct.

use crate::ir::op::Op;

/// The superinstruction that runs `first` and the ops after it (which no
/// jump enters), and how many ops it covers; `None` when none applies.
pub(crate) fn fuse(first: Op, second: Option<Op>, third: Option<Op>) -> Option<(Op, usize)> {
    let second = second?;
    if let Some(op) = update_and_branch(first, second) {
        return Some((op, 2));
    }
    if let Some(third) = third
        && let Some(op) = fuse_three(first, second, third)
    {
        return Some((op, 3));
    }
    fuse_two(first, second).map(|op| (op, 2))
}

/// `add`/`and` of an immediate followed by `jeq`/`jne` of the same register
/// against an immediate. Both immediates came from 32-bit fields, so they
/// are stored as such and sign-extended again when run.
fn update_and_branch(first: Op, second: Op) -> Option<Op> {
    let narrow = |v: u64| i32::try_from(v as i64).ok();
    Some(match (first, second) {
        (
            Op::Add64Imm { dst, imm },
            Op::JeqImm {
                dst: d,
                imm: cmp,
                target,
            },
        ) if d == dst => Op::AddJeqImm {
            dst,
            imm: narrow(imm)?,
            cmp: narrow(cmp)?,
            target,
        },
        (
            Op::Add64Imm { dst, imm },
            Op::JneImm {
                dst: d,
                imm: cmp,
                target,
            },
        ) if d == dst => Op::AddJneImm {
            dst,
            imm: narrow(imm)?,
            cmp: narrow(cmp)?,
            target,
        },
        (
            Op::And64Imm { dst, imm },
            Op::JeqImm {
                dst: d,
                imm: cmp,
                target,
            },
        ) if d == dst => Op::AndJeqImm {
            dst,
            imm: narrow(imm)?,
            cmp: narrow(cmp)?,
            target,
        },
        (
            Op::And64Imm { dst, imm },
            Op::JneImm {
                dst: d,
                imm: cmp,
                target,
            },
        ) if d == dst => Op::AndJneImm {
            dst,
            imm: narrow(imm)?,
            cmp: narrow(cmp)?,
            target,
        },
        _ => return None,
    })
}

/// `mov dst, src` and two ops on dst: zero or sign extension of the low 32
/// bits, or the xorshift step `dst = src ^ (src << imm)` (`>>`).
fn fuse_three(first: Op, second: Op, third: Op) -> Option<Op> {
    let Op::Mov64Reg { dst, src } = first else {
        return None;
    };
    Some(match (second, third) {
        (Op::Lsh64Imm { dst: d2, imm: 32 }, Op::Rsh64Imm { dst: d3, imm: 32 })
            if d2 == dst && d3 == dst =>
        {
            Op::Zext32 { dst, src, insns: 3 }
        }
        (Op::Lsh64Imm { dst: d2, imm: 32 }, Op::Arsh64Imm { dst: d3, imm: 32 })
            if d2 == dst && d3 == dst =>
        {
            Op::Sext32 { dst, src, insns: 3 }
        }
        (Op::Lsh64Imm { dst: d2, imm }, Op::Xor64Reg { dst: d3, src: s3 })
            if src != dst && d2 == dst && d3 == dst && s3 == src =>
        {
            Op::XorShl64 { dst, src, imm }
        }
        (Op::Rsh64Imm { dst: d2, imm }, Op::Xor64Reg { dst: d3, src: s3 })
            if src != dst && d2 == dst && d3 == dst && s3 == src =>
        {
            Op::XorShr64 { dst, src, imm }
        }
        _ => return None,
    })
}

/// `lsh dst, 32` with `rsh`/`arsh dst, 32`, and `mov dst, src` with an ALU
/// operation on dst (three-operand forms).
fn fuse_two(first: Op, second: Op) -> Option<Op> {
    use Op::{
        Add64Imm, Add64Reg, And64Imm, And64Reg, Arsh64Imm, Lsh64Imm, Mov64Reg, Mul64Imm, Or64Imm,
        Or64Reg, Rsh64Imm, Sub64Imm, Sub64Reg, Xor64Imm, Xor64Reg,
    };
    Some(match (first, second) {
        (Lsh64Imm { dst, imm: 32 }, Rsh64Imm { dst: d, imm: 32 }) if d == dst => Op::Zext32 {
            dst,
            src: dst,
            insns: 2,
        },
        (Lsh64Imm { dst, imm: 32 }, Arsh64Imm { dst: d, imm: 32 }) if d == dst => Op::Sext32 {
            dst,
            src: dst,
            insns: 2,
        },
        (Mov64Reg { dst, src }, Add64Imm { dst: d, imm }) if d == dst => {
            Op::MovAdd64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, Sub64Imm { dst: d, imm }) if d == dst => {
            Op::MovSub64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, Mul64Imm { dst: d, imm }) if d == dst => {
            Op::MovMul64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, And64Imm { dst: d, imm }) if d == dst => {
            Op::MovAnd64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, Or64Imm { dst: d, imm }) if d == dst => {
            Op::MovOr64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, Xor64Imm { dst: d, imm }) if d == dst => {
            Op::MovXor64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, Lsh64Imm { dst: d, imm }) if d == dst => {
            Op::MovLsh64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, Rsh64Imm { dst: d, imm }) if d == dst => {
            Op::MovRsh64Imm { dst, src, imm }
        }
        (Mov64Reg { dst, src }, Arsh64Imm { dst: d, imm }) if d == dst => {
            Op::MovArsh64Imm { dst, src, imm }
        }
        // `dst = src; dst op= src2` reads src2 after dst changed, so src2 must not be dst.
        (Mov64Reg { dst, src }, Add64Reg { dst: d, src: src2 }) if d == dst && src2 != dst => {
            Op::MovAdd64Reg { dst, src, src2 }
        }
        (Mov64Reg { dst, src }, Sub64Reg { dst: d, src: src2 }) if d == dst && src2 != dst => {
            Op::MovSub64Reg { dst, src, src2 }
        }
        (Mov64Reg { dst, src }, And64Reg { dst: d, src: src2 }) if d == dst && src2 != dst => {
            Op::MovAnd64Reg { dst, src, src2 }
        }
        (Mov64Reg { dst, src }, Or64Reg { dst: d, src: src2 }) if d == dst && src2 != dst => {
            Op::MovOr64Reg { dst, src, src2 }
        }
        (Mov64Reg { dst, src }, Xor64Reg { dst: d, src: src2 }) if d == dst && src2 != dst => {
            Op::MovXor64Reg { dst, src, src2 }
        }
        _ => return None,
    })
}
