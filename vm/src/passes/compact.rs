//! The last translation step: drop the slots that never execute (second
//! halves of `lddw`, ops removed by a pass), fuse common pairs into
//! superinstructions (see [`crate::passes::fuse`]), and renumber jump targets.
//!
//! The result keeps, for every op, the slot of the original instruction it
//! starts at, so errors still name instruction indices of the program the user
//! wrote. A pair is fused only when its second instruction is not a jump
//! target, so no path can enter it in the middle.

use crate::ir::facts::Flow;
use crate::ir::op::Op;
use crate::passes::fuse::fuse;

/// The compacted program.
pub(crate) struct Compacted {
    pub ops: Vec<Op>,
    /// Original slot of each op.
    pub origin: Vec<u32>,
    /// `weight_prefix[i]`: the original instructions ops `0..i` stand for
    /// (`ops.len() + 1` entries), so a run counts a straight-line segment
    /// `a..b` as `weight_prefix[b] - weight_prefix[a]`.
    pub weight_prefix: Vec<u64>,
    /// `run_weight[i]`: the instructions of the straight-line run that
    /// starts at op `i` (ops up to and including the next jump, call or exit,
    /// through branches not taken): the most a run entering at `i` executes
    /// before control enters another run.
    pub run_weight: Vec<u64>,
}

/// Compacts `slots` (one op per original slot), fusing when `fusion` is set.
pub(crate) fn compact(slots: &[Op], fusion: bool) -> Compacted {
    let mut is_target = vec![false; slots.len()];
    for op in slots {
        let facts = op.facts();
        // A callback's entry is entered like a call target.
        for target in [facts.target(), facts.func_ref].into_iter().flatten() {
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
        let fused = if fusion {
            fuse(slots[slot], next(1), next(2))
        } else {
            None
        };
        let (op, used) = fused.unwrap_or((slots[slot], 1));
        new_index[slot..slot + used].fill(here);
        ops.push(op);
        origin.push(slot as u32);
        slot += used;
    }
    new_index[slots.len()] = ops.len() as u32;
    for op in &mut ops {
        if let Some(target) = op.target_mut() {
            *target = new_index[*target as usize];
        }
    }
    let mut weight_prefix = Vec::with_capacity(ops.len() + 1);
    let mut total = 0;
    weight_prefix.push(0);
    for op in &ops {
        total += u64::from(op.facts().weight);
        weight_prefix.push(total);
    }
    let run_weight = run_weights(&ops);
    Compacted {
        ops,
        origin,
        weight_prefix,
        run_weight,
    }
}

/// The weight of the straight-line run starting at each op (see
/// [`Compacted::run_weight`]).
pub(crate) fn run_weights(ops: &[Op]) -> Vec<u64> {
    let mut run_weight = vec![0u64; ops.len()];
    for i in (0..ops.len()).rev() {
        let facts = ops[i].facts();
        let rest = match facts.flow {
            Flow::Next | Flow::Branch(_) => run_weight.get(i + 1).copied().unwrap_or(0),
            Flow::Jump(_) | Flow::Call(_) | Flow::Exit => 0,
        };
        run_weight[i] = u64::from(facts.weight) + rest;
    }
    run_weight
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
        let c = compact(&slots, true);
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
    fn does_not_fuse_into_a_callback_entry_and_renumbers_its_reference() {
        // Op 3 is a callback's entry: `mov` before it stays apart, and the
        // reference follows it when the lddw tail goes.
        let slots = [
            Op::LoadFunc { dst: 2, target: 3 },
            Op::LddwTail,
            Op::Mov64Reg { dst: 4, src: 2 },
            Op::Lsh64Imm { dst: 4, imm: 13 },
            Op::Exit,
        ];
        let c = compact(&slots, true);
        assert_eq!(c.ops.len(), 4);
        assert_eq!(c.ops[0], Op::LoadFunc { dst: 2, target: 2 });
        assert_eq!(c.ops[2], Op::Lsh64Imm { dst: 4, imm: 13 });
        // Without the reference the pair fuses.
        let mut plain = slots;
        plain[0] = Op::LoadImm64 { dst: 2, imm: 0 };
        assert_eq!(compact(&plain, true).ops.len(), 3);
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
        let c = compact(&slots, true);
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
        let c = compact(&slots, true);
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
        let c = compact(&slots, true);
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
        let c = compact(&slots, true);
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
        let c = compact(&slots, true);
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
