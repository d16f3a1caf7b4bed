//! Shrinks a failing program instruction by instruction, keeping every jump
//! and local call pointing at the same instruction, so that a finding can be
//! reported as a short program.

use tinybpf::vm::isa::insn::Insn;

/// Whether slot `insn` jumps or calls by a relative offset: returns the
/// offset field's value and whether it lives in `imm` (JA32, local calls).
fn relative(insn: &Insn) -> Option<(i64, bool)> {
    let class = insn.opcode & 7;
    if class != 5 && class != 6 {
        return None;
    }
    match insn.opcode {
        0x85 if insn.src == 1 => Some((i64::from(insn.imm), true)),
        0x85 | 0x8d | 0x95 => None,
        0x06 => Some((i64::from(insn.imm), true)),
        _ => Some((i64::from(insn.off), false)),
    }
}

/// `insns` without slot `k` (and its `lddw` tail), jumps adjusted; `None`
/// when an offset would not fit.
pub fn remove_slot(insns: &[Insn], k: usize) -> Option<Vec<Insn>> {
    let width = if insns.get(k)?.opcode == 0x18 { 2 } else { 1 };
    let end = (k + width).min(insns.len());
    let removed = (end - k) as i64;
    let map = |slot: i64| -> i64 {
        if slot >= end as i64 {
            slot - removed
        } else if slot > k as i64 {
            k as i64
        } else {
            slot
        }
    };
    let mut out = Vec::with_capacity(insns.len() - (end - k));
    for (i, insn) in insns.iter().enumerate() {
        if (k..end).contains(&i) {
            continue;
        }
        let mut insn = *insn;
        // Skip the second slot of an lddw: its opcode is 0, no jump.
        let is_tail = i > 0 && insns[i - 1].opcode == 0x18;
        if !is_tail && let Some((off, in_imm)) = relative(&insn) {
            let target = i as i64 + 1 + off;
            let new_off = map(target) - map(i as i64) - 1;
            if in_imm {
                insn.imm = i32::try_from(new_off).ok()?;
            } else {
                insn.off = i16::try_from(new_off).ok()?;
            }
        }
        out.push(insn);
    }
    Some(out)
}

/// Removes instructions one at a time, as long as `fails` stays true, until
/// no single removal keeps it failing.
pub fn minimize(insns: &[Insn], fails: &dyn Fn(&[Insn]) -> bool) -> Vec<Insn> {
    let mut current = insns.to_vec();
    loop {
        let mut shrunk = false;
        let mut k = current.len();
        while k > 0 {
            k -= 1;
            if k > 0 && current[k - 1].opcode == 0x18 {
                continue;
            }
            if let Some(candidate) = remove_slot(&current, k)
                && !candidate.is_empty()
                && fails(&candidate)
            {
                current = candidate;
                shrunk = true;
                k = k.min(current.len());
            }
        }
        if !shrunk {
            return current;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_slot_keeps_jump_targets() {
        let insns = [
            Insn::new(0x05, 0, 0, 2, 0),  // 0: ja +2 -> 3
            Insn::new(0xb7, 0, 0, 0, 1),  // 1
            Insn::new(0xb7, 0, 0, 0, 2),  // 2
            Insn::new(0x15, 0, 0, -3, 0), // 3: jeq -> 1
            Insn::new(0x95, 0, 0, 0, 0),  // 4
        ];
        let out = remove_slot(&insns, 2).unwrap();
        assert_eq!(out[0].off, 1); // -> 2 (was 3)
        assert_eq!(out[2].off, -2); // -> 1
    }

    #[test]
    fn removing_a_jump_target_retargets_to_the_next_slot() {
        let insns = [
            Insn::new(0x05, 0, 0, 1, 0), // 0: ja +1 -> 2
            Insn::new(0xb7, 0, 0, 0, 1), // 1
            Insn::new(0xb7, 0, 0, 0, 2), // 2
            Insn::new(0x95, 0, 0, 0, 0), // 3
        ];
        let out = remove_slot(&insns, 2).unwrap();
        assert_eq!(out[0].off, 1); // -> exit, now slot 2
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn lddw_goes_as_a_whole_and_local_calls_follow() {
        let insns = [
            Insn::new(0x85, 0, 1, 0, 3), // 0: call local -> 4
            Insn::new(0x18, 1, 0, 0, 5), // 1: lddw
            Insn::new(0, 0, 0, 0, 0),    // 2
            Insn::new(0x95, 0, 0, 0, 0), // 3
            Insn::new(0x95, 0, 0, 0, 0), // 4
        ];
        let out = remove_slot(&insns, 1).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].imm, 1);
    }
}
