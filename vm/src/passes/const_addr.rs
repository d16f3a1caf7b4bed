//! Constant addresses: a load or store through a register that holds the same
//! map-value address on every path (what a rewritten constant-key lookup, or
//! an `lddw` of a global variable, leaves there) becomes a direct access with
//! no run-time check, proven inside the map's value area once, at load time.
//! The value area never moves, so the proof holds for the program's lifetime.
//!
//! A forward dataflow over the per-slot ops keeps, per register, a known
//! 64-bit constant or nothing; paths join by keeping only equal constants.
//! Only moves, `lddw`, rewritten lookups and additions of constants produce
//! constants; every other write forgets the register, a local call forgets
//! r0..r5, and a subprogram starts knowing nothing.

use crate::exec::memory::{FIRST_MAP_SLOT, Region};
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::{Facts, Memory, Value};
use crate::ir::op::Op;

/// Register constants: `known` bit i set means `value[i]` holds for register i.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Consts {
    known: u16,
    value: [u64; 11],
}

impl Consts {
    pub(crate) const NONE: Consts = Consts {
        known: 0,
        value: [0; 11],
    };

    pub(crate) fn get(&self, r: u8) -> Option<u64> {
        let r = usize::from(r);
        (r < 11 && self.known & (1 << r) != 0).then(|| self.value[r])
    }

    pub(crate) fn set(&mut self, r: u8, v: Option<u64>) {
        let r = usize::from(r);
        if r >= 11 {
            return;
        }
        match v {
            Some(v) => {
                self.known |= 1 << r;
                self.value[r] = v;
            }
            None => self.known &= !(1 << r),
        }
    }

    fn join(&self, other: &Consts) -> Consts {
        let mut out = *self;
        for r in 0..11u8 {
            if self.get(r) != other.get(r) {
                out.set(r, None);
            }
        }
        out
    }
}

/// The constants after an op with `facts`: moves, `lddw`, rewritten lookups
/// and additions of constants keep them (see [`Value`]); every other write,
/// a local call's included, forgets what it may write.
fn transfer(facts: &Facts, mut c: Consts) -> Consts {
    let dst = facts.writes.single();
    match (facts.value, dst) {
        (Value::Const(imm), Some(dst)) => c.set(dst, Some(imm)),
        (Value::Copy(src), Some(dst)) => c.set(dst, c.get(src)),
        (Value::Offset(src, k), Some(dst)) => c.set(dst, c.get(src).map(|v| v.wrapping_add(k))),
        _ => c.known &= !facts.may_write.bits(),
    }
    c
}

/// Rewrites accesses through proven-constant map-value addresses into direct
/// ops; returns how many.
pub(crate) fn resolve_constant_addresses(ops: &mut [Op], maps: &[Region]) -> usize {
    let n = ops.len();
    if n == 0 {
        return 0;
    }
    let state = solve(ops, Consts::NONE);
    let mut resolved = 0;
    for i in 0..n {
        let Some(consts) = state[i] else { continue };
        let place = |base: u8, off: i16, width: u64, write: bool| -> Option<(u16, u32)> {
            let addr = consts.get(base)?.wrapping_add(off as i64 as u64);
            let slot = (addr >> 32).checked_sub(FIRST_MAP_SLOT)?;
            let index = usize::try_from(slot).ok()?;
            let region = maps.get(index)?;
            let offset = addr.checked_sub(region.start)?;
            if offset.checked_add(width)? > region.len || (write && !region.writable) {
                return None;
            }
            Some((u16::try_from(index).ok()?, u32::try_from(offset).ok()?))
        };
        let facts = ops[i].facts();
        let Memory::Checked {
            base,
            off,
            width,
            kind,
        } = facts.memory
        else {
            continue;
        };
        let direct = place(base, off, u64::from(width), kind.writes())
            .and_then(|(region, offset)| ops[i].direct(region, offset));
        if let Some(op) = direct {
            ops[i] = op;
            resolved += 1;
        }
    }
    resolved
}

/// The register constants before each op (`None`: never reached), the
/// program entry starting from `entry` and every subprogram from nothing.
pub(crate) fn solve(ops: &[Op], entry: Consts) -> Vec<Option<Consts>> {
    let n = ops.len();
    let mut state: Vec<Option<Consts>> = vec![None; n];
    if n == 0 {
        return state;
    }
    state[0] = Some(entry);
    let mut work = vec![0usize];
    let cfg = ControlFlow::new(ops);
    for &entry in cfg.callee_entries() {
        state[entry] = Some(Consts::NONE);
        work.push(entry);
    }
    // Each slot's state only loses constants, 11 at most, so this ends.
    while let Some(i) = work.pop() {
        let Some(before) = state[i] else { continue };
        let after = transfer(&ops[i].facts(), before);
        for next in cfg.successors(i) {
            let merged = state[next].map_or(after, |old| old.join(&after));
            if state[next] != Some(merged) {
                state[next] = Some(merged);
                work.push(next);
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::memory::map_value_start;

    fn region(len: u64, writable: bool) -> Region {
        Region {
            start: map_value_start(0),
            len,
            host: std::ptr::null_mut(),
            writable,
        }
    }

    #[test]
    fn accesses_through_a_constant_element_address_become_direct() {
        let base = map_value_start(0);
        let mut ops = vec![
            Op::LookupConst { imm: base + 8 },
            Op::LdxDW {
                dst: 1,
                src: 0,
                off: 8,
            },
            Op::StxW {
                dst: 0,
                src: 1,
                off: 4,
            },
            Op::Exit,
        ];
        assert_eq!(resolve_constant_addresses(&mut ops, &[region(24, true)]), 2);
        assert_eq!(
            ops[1],
            Op::DirectLdxDW {
                dst: 1,
                region: 0,
                offset: 16
            }
        );
        assert_eq!(
            ops[2],
            Op::DirectStxW {
                src: 1,
                region: 0,
                offset: 12
            }
        );
    }

    #[test]
    fn keeps_checks_when_the_address_is_not_proven() {
        let base = map_value_start(0);
        let mut ops = vec![
            // Two paths with different r0.
            Op::JeqImm {
                dst: 1,
                imm: 0,
                target: 3,
            },
            Op::LookupConst { imm: base },
            Op::Ja { target: 4 },
            Op::LookupConst { imm: base + 8 },
            Op::LdxDW {
                dst: 1,
                src: 0,
                off: 0,
            },
            // Past the end of the area.
            Op::LookupConst { imm: base },
            Op::LdxDW {
                dst: 2,
                src: 0,
                off: 20,
            },
            // A write to a read-only map.
            Op::StxDW {
                dst: 0,
                src: 2,
                off: 0,
            },
            // After a local call r0 is unknown.
            Op::CallLocal { target: 11 },
            Op::LdxDW {
                dst: 3,
                src: 0,
                off: 0,
            },
            Op::Exit,
            Op::Exit,
        ];
        assert_eq!(
            resolve_constant_addresses(&mut ops, &[region(24, false)]),
            0
        );
    }
}
