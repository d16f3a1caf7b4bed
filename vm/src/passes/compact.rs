//! The last translation step: drop the slots that never execute (second
//! halves of `lddw`, NULL tests removed by a rewrite), fuse common pairs into
//! three-operand superinstructions, and renumber jump targets.
//!
//! The result keeps, for every op, the slot of the original instruction it
//! starts at, so errors still name instruction indices of the program the user
//! wrote. A pair is fused only when its second instruction is not a jump
//! target, so no path can enter it in the middle.

use crate::ir::op::Op;

/// The compacted program.
pub(crate) struct Compacted {
    pub ops: Vec<Op>,
    /// Original slot of each op.
    pub origin: Vec<u32>,
    /// `weight_prefix[i]`: the original instructions ops `0..i` stand for
    /// (`ops.len() + 1` entries), so a run counts a straight-line segment
    /// `a..b` as `weight_prefix[b] - weight_prefix[a]`.
    pub weight_prefix: Vec<u64>,
}

/// How many original instructions `op` stands for (an `lddw` counts once).
fn weight(op: &Op) -> u64 {
    match op {
        Op::XorShl64 { .. } | Op::XorShr64 { .. } => 3,
        Op::Zext32 { insns, .. } | Op::Sext32 { insns, .. } => u64::from(*insns),
        Op::MovAdd64Imm { .. }
        | Op::MovSub64Imm { .. }
        | Op::MovMul64Imm { .. }
        | Op::MovAnd64Imm { .. }
        | Op::MovOr64Imm { .. }
        | Op::MovXor64Imm { .. }
        | Op::MovLsh64Imm { .. }
        | Op::MovRsh64Imm { .. }
        | Op::MovArsh64Imm { .. }
        | Op::MovAdd64Reg { .. }
        | Op::MovSub64Reg { .. }
        | Op::MovAnd64Reg { .. }
        | Op::MovOr64Reg { .. }
        | Op::MovXor64Reg { .. }
        | Op::AddJeqImm { .. }
        | Op::AddJneImm { .. }
        | Op::AndJeqImm { .. }
        | Op::AndJneImm { .. } => 2,
        _ => 1,
    }
}

/// Compacts and fuses `slots` (one op per original slot).
pub(crate) fn compact(slots: &[Op]) -> Compacted {
    let mut is_target = vec![false; slots.len()];
    for op in slots {
        if let Some(target) = jump_target(op) {
            is_target[target as usize] = true;
        }
    }
    let mut ops = Vec::with_capacity(slots.len());
    let mut origin = Vec::with_capacity(slots.len());
    // new_index[slot]: index of the first op emitted at or after `slot`.
    let mut new_index = vec![0u32; slots.len() + 1];
    let mut slot = 0;
    while slot < slots.len() {
        let here = ops.len() as u32;
        if matches!(slots[slot], Op::LddwTail | Op::Nop) {
            new_index[slot] = here;
            slot += 1;
            continue;
        }
        let fusable = |n: usize| slot + n < slots.len() && !is_target[slot + n];
        let next = |n: usize| {
            if fusable(n) {
                Some(slots[slot + n])
            } else {
                None
            }
        };
        let (op, used) = fuse(slots[slot], next(1), next(2));
        new_index[slot..slot + used].fill(here);
        ops.push(op);
        origin.push(slot as u32);
        slot += used;
    }
    new_index[slots.len()] = ops.len() as u32;
    for op in &mut ops {
        if let Some(target) = jump_target_mut(op) {
            *target = new_index[*target as usize];
        }
    }
    let mut weight_prefix = Vec::with_capacity(ops.len() + 1);
    let mut total = 0;
    weight_prefix.push(0);
    for op in &ops {
        total += weight(op);
        weight_prefix.push(total);
    }
    Compacted {
        ops,
        origin,
        weight_prefix,
    }
}

/// Tries to fuse `first` with the ops after it; returns the op and how many slots it covers.
fn fuse(first: Op, second: Option<Op>, third: Option<Op>) -> (Op, usize) {
    if let Some(op) = second.and_then(|second| fuse_alu_jump(first, second)) {
        return (op, 2);
    }
    let Op::Mov64Reg { dst, src } = first else {
        return match (first, second) {
            (Op::Lsh64Imm { dst, imm: 32 }, Some(second)) => match extend32(dst, second) {
                Some(op) => (with_count(op, 2), 2),
                None => (first, 1),
            },
            _ => (first, 1),
        };
    };
    let Some(second) = second else {
        return (first, 1);
    };
    if let (Op::Lsh64Imm { dst: d2, imm: 32 }, Some(third)) = (second, third)
        && d2 == dst
        && let Some(op) = extend32(dst, third)
    {
        let op = match op {
            Op::Zext32 { dst, .. } => Op::Zext32 { dst, src, insns: 3 },
            Op::Sext32 { dst, .. } => Op::Sext32 { dst, src, insns: 3 },
            other => other,
        };
        return (op, 3);
    }
    if src != dst
        && let Some(Op::Xor64Reg { dst: d3, src: s3 }) = third
        && d3 == dst
        && s3 == src
    {
        match second {
            Op::Lsh64Imm { dst: d, imm } if d == dst => return (Op::XorShl64 { dst, src, imm }, 3),
            Op::Rsh64Imm { dst: d, imm } if d == dst => return (Op::XorShr64 { dst, src, imm }, 3),
            _ => {}
        }
    }
    let fused = match second {
        Op::Add64Imm { dst: d, imm } if d == dst => Op::MovAdd64Imm { dst, src, imm },
        Op::Sub64Imm { dst: d, imm } if d == dst => Op::MovSub64Imm { dst, src, imm },
        Op::Mul64Imm { dst: d, imm } if d == dst => Op::MovMul64Imm { dst, src, imm },
        Op::And64Imm { dst: d, imm } if d == dst => Op::MovAnd64Imm { dst, src, imm },
        Op::Or64Imm { dst: d, imm } if d == dst => Op::MovOr64Imm { dst, src, imm },
        Op::Xor64Imm { dst: d, imm } if d == dst => Op::MovXor64Imm { dst, src, imm },
        Op::Lsh64Imm { dst: d, imm } if d == dst => Op::MovLsh64Imm { dst, src, imm },
        Op::Rsh64Imm { dst: d, imm } if d == dst => Op::MovRsh64Imm { dst, src, imm },
        Op::Arsh64Imm { dst: d, imm } if d == dst => Op::MovArsh64Imm { dst, src, imm },
        // `dst = src; dst op= src2` reads src2 after dst changed, so src2 must not be dst.
        Op::Add64Reg { dst: d, src: src2 } if d == dst && src2 != dst => {
            Op::MovAdd64Reg { dst, src, src2 }
        }
        Op::Sub64Reg { dst: d, src: src2 } if d == dst && src2 != dst => {
            Op::MovSub64Reg { dst, src, src2 }
        }
        Op::And64Reg { dst: d, src: src2 } if d == dst && src2 != dst => {
            Op::MovAnd64Reg { dst, src, src2 }
        }
        Op::Or64Reg { dst: d, src: src2 } if d == dst && src2 != dst => {
            Op::MovOr64Reg { dst, src, src2 }
        }
        Op::Xor64Reg { dst: d, src: src2 } if d == dst && src2 != dst => {
            Op::MovXor64Reg { dst, src, src2 }
        }
        _ => return (first, 1),
    };
    (fused, 2)
}

/// `add`/`and` of an immediate followed by `jeq`/`jne` of the same register
/// against an immediate. Both immediates came from 32-bit fields, so they
/// are stored as such and sign-extended again when run.
fn fuse_alu_jump(first: Op, second: Op) -> Option<Op> {
    let narrow = |v: u64| i32::try_from(v as i64).ok();
    let (is_add, dst, imm) = match first {
        Op::Add64Imm { dst, imm } => (true, dst, narrow(imm)?),
        Op::And64Imm { dst, imm } => (false, dst, narrow(imm)?),
        _ => return None,
    };
    let (is_eq, cmp, target) = match second {
        Op::JeqImm {
            dst: d,
            imm,
            target,
        } if d == dst => (true, narrow(imm)?, target),
        Op::JneImm {
            dst: d,
            imm,
            target,
        } if d == dst => (false, narrow(imm)?, target),
        _ => return None,
    };
    Some(match (is_add, is_eq) {
        (true, true) => Op::AddJeqImm {
            dst,
            imm,
            cmp,
            target,
        },
        (true, false) => Op::AddJneImm {
            dst,
            imm,
            cmp,
            target,
        },
        (false, true) => Op::AndJeqImm {
            dst,
            imm,
            cmp,
            target,
        },
        (false, false) => Op::AndJneImm {
            dst,
            imm,
            cmp,
            target,
        },
    })
}

/// `rsh dst, 32` or `arsh dst, 32` after `lsh dst, 32`.
fn extend32(dst: u8, next: Op) -> Option<Op> {
    match next {
        Op::Rsh64Imm { dst: d, imm: 32 } if d == dst => Some(Op::Zext32 {
            dst,
            src: dst,
            insns: 2,
        }),
        Op::Arsh64Imm { dst: d, imm: 32 } if d == dst => Some(Op::Sext32 {
            dst,
            src: dst,
            insns: 2,
        }),
        _ => None,
    }
}

fn with_count(op: Op, insns: u8) -> Op {
    match op {
        Op::Zext32 { dst, src, .. } => Op::Zext32 { dst, src, insns },
        Op::Sext32 { dst, src, .. } => Op::Sext32 { dst, src, insns },
        other => other,
    }
}

/// The absolute target slot of a jump or local call.
pub(crate) fn jump_target(op: &Op) -> Option<u32> {
    let mut copy = *op;
    jump_target_mut(&mut copy).map(|t| *t)
}

fn jump_target_mut(op: &mut Op) -> Option<&mut u32> {
    match op {
        Op::Ja { target }
        | Op::CallLocal { target }
        | Op::AddJeqImm { target, .. }
        | Op::AddJneImm { target, .. }
        | Op::AndJeqImm { target, .. }
        | Op::AndJneImm { target, .. }
        | Op::JeqImm { target, .. }
        | Op::JgtImm { target, .. }
        | Op::JgeImm { target, .. }
        | Op::JsetImm { target, .. }
        | Op::JneImm { target, .. }
        | Op::JsgtImm { target, .. }
        | Op::JsgeImm { target, .. }
        | Op::JltImm { target, .. }
        | Op::JleImm { target, .. }
        | Op::JsltImm { target, .. }
        | Op::JsleImm { target, .. }
        | Op::JeqReg { target, .. }
        | Op::JgtReg { target, .. }
        | Op::JgeReg { target, .. }
        | Op::JsetReg { target, .. }
        | Op::JneReg { target, .. }
        | Op::JsgtReg { target, .. }
        | Op::JsgeReg { target, .. }
        | Op::JltReg { target, .. }
        | Op::JleReg { target, .. }
        | Op::JsltReg { target, .. }
        | Op::JsleReg { target, .. }
        | Op::Jeq32Imm { target, .. }
        | Op::Jgt32Imm { target, .. }
        | Op::Jge32Imm { target, .. }
        | Op::Jset32Imm { target, .. }
        | Op::Jne32Imm { target, .. }
        | Op::Jsgt32Imm { target, .. }
        | Op::Jsge32Imm { target, .. }
        | Op::Jlt32Imm { target, .. }
        | Op::Jle32Imm { target, .. }
        | Op::Jslt32Imm { target, .. }
        | Op::Jsle32Imm { target, .. }
        | Op::Jeq32Reg { target, .. }
        | Op::Jgt32Reg { target, .. }
        | Op::Jge32Reg { target, .. }
        | Op::Jset32Reg { target, .. }
        | Op::Jne32Reg { target, .. }
        | Op::Jsgt32Reg { target, .. }
        | Op::Jsge32Reg { target, .. }
        | Op::Jlt32Reg { target, .. }
        | Op::Jle32Reg { target, .. }
        | Op::Jslt32Reg { target, .. }
        | Op::Jsle32Reg { target, .. } => Some(target),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuses_mov_with_an_operation_on_its_destination() {
        let slots = [
            Op::Mov64Reg { dst: 4, src: 2 },
            Op::Lsh64Imm { dst: 4, imm: 13 },
            Op::Exit,
        ];
        let c = compact(&slots);
        assert_eq!(
            c.ops,
            vec![
                Op::MovLsh64Imm {
                    dst: 4,
                    src: 2,
                    imm: 13
                },
                Op::Exit
            ]
        );
        assert_eq!(c.origin, vec![0, 2]);
    }

    #[test]
    fn does_not_fuse_into_a_jump_target_or_when_src2_is_dst() {
        let slots = [
            Op::JeqImm {
                dst: 1,
                imm: 0,
                target: 2,
            },
            Op::Mov64Reg { dst: 4, src: 2 },
            Op::Lsh64Imm { dst: 4, imm: 13 },
            Op::Mov64Reg { dst: 3, src: 2 },
            Op::Add64Reg { dst: 3, src: 3 },
            Op::Exit,
        ];
        let c = compact(&slots);
        assert_eq!(c.ops.len(), 6);
        assert_eq!(
            c.ops[0],
            Op::JeqImm {
                dst: 1,
                imm: 0,
                target: 2
            }
        );
    }

    #[test]
    fn drops_lddw_tails_and_nops_and_renumbers_targets() {
        let slots = [
            Op::LoadImm64 { dst: 0, imm: 7 },
            Op::LddwTail,
            Op::Nop,
            Op::Ja { target: 4 },
            Op::Exit,
        ];
        let c = compact(&slots);
        assert_eq!(
            c.ops,
            vec![
                Op::LoadImm64 { dst: 0, imm: 7 },
                Op::Ja { target: 2 },
                Op::Exit
            ]
        );
        assert_eq!(c.origin, vec![0, 3, 4]);
    }

    #[test]
    fn fuses_the_xorshift_step_only_when_it_xors_the_source() {
        let slots = [
            Op::Mov64Reg { dst: 4, src: 2 },
            Op::Lsh64Imm { dst: 4, imm: 13 },
            Op::Xor64Reg { dst: 4, src: 2 },
            Op::Mov64Reg { dst: 5, src: 4 },
            Op::Rsh64Imm { dst: 5, imm: 7 },
            Op::Xor64Reg { dst: 5, src: 3 },
            Op::Exit,
        ];
        let c = compact(&slots);
        assert_eq!(
            c.ops,
            vec![
                Op::XorShl64 {
                    dst: 4,
                    src: 2,
                    imm: 13
                },
                Op::MovRsh64Imm {
                    dst: 5,
                    src: 4,
                    imm: 7
                },
                Op::Xor64Reg { dst: 5, src: 3 },
                Op::Exit
            ]
        );
    }

    #[test]
    fn fuses_a_counter_or_flag_update_with_its_test() {
        let slots = [
            Op::Add64Imm { dst: 6, imm: 1 },
            Op::JneImm {
                dst: 6,
                imm: 257,
                target: 0,
            },
            Op::And64Imm { dst: 5, imm: 1 },
            Op::JeqImm {
                dst: 5,
                imm: 0,
                target: 0,
            },
            Op::Add64Imm { dst: 1, imm: 1 },
            Op::JeqImm {
                dst: 2,
                imm: 0,
                target: 0,
            },
            Op::Exit,
        ];
        let c = compact(&slots);
        assert_eq!(
            &c.ops[..2],
            &[
                Op::AddJneImm {
                    dst: 6,
                    imm: 1,
                    cmp: 257,
                    target: 0
                },
                Op::AndJeqImm {
                    dst: 5,
                    imm: 1,
                    cmp: 0,
                    target: 0
                },
            ]
        );
        assert_eq!(c.ops.len(), 5, "different registers are not fused");
    }

    #[test]
    fn fuses_zero_and_sign_extension_idioms() {
        let slots = [
            Op::Mov64Reg { dst: 5, src: 1 },
            Op::Lsh64Imm { dst: 5, imm: 32 },
            Op::Rsh64Imm { dst: 5, imm: 32 },
            Op::Lsh64Imm { dst: 3, imm: 32 },
            Op::Arsh64Imm { dst: 3, imm: 32 },
            Op::Exit,
        ];
        let c = compact(&slots);
        assert_eq!(
            c.ops,
            vec![
                Op::Zext32 {
                    dst: 5,
                    src: 1,
                    insns: 3
                },
                Op::Sext32 {
                    dst: 3,
                    src: 3,
                    insns: 2
                },
                Op::Exit
            ]
        );
    }
}
