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
use crate::ir::op::Op;
use crate::passes::compact::jump_target;

/// Register constants: `known` bit i set means `value[i]` holds for register i.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Consts {
    known: u16,
    value: [u64; 11],
}

impl Consts {
    const NONE: Consts = Consts {
        known: 0,
        value: [0; 11],
    };

    fn get(&self, r: u8) -> Option<u64> {
        let r = usize::from(r);
        (r < 11 && self.known & (1 << r) != 0).then(|| self.value[r])
    }

    fn set(&mut self, r: u8, v: Option<u64>) {
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

/// The registers `op` writes (any value), for forgetting.
fn written(op: &Op) -> u16 {
    crate::passes::liveness::written_registers(op)
}

fn transfer(op: &Op, mut c: Consts) -> Consts {
    match *op {
        Op::Mov64Imm { dst, imm } | Op::LoadImm64 { dst, imm } => c.set(dst, Some(imm)),
        Op::Mov32Imm { dst, imm } => c.set(dst, Some(u64::from(imm))),
        Op::LookupConst { imm } => c.set(0, Some(imm)),
        Op::Mov64Reg { dst, src } => c.set(dst, c.get(src)),
        Op::Add64Imm { dst, imm } => c.set(dst, c.get(dst).map(|v| v.wrapping_add(imm))),
        Op::Sub64Imm { dst, imm } => c.set(dst, c.get(dst).map(|v| v.wrapping_sub(imm))),
        Op::MovAdd64Imm { dst, src, imm } => c.set(dst, c.get(src).map(|v| v.wrapping_add(imm))),
        Op::CallLocal { .. } => {
            for r in 0..=5 {
                c.set(r, None);
            }
        }
        _ => {
            let w = written(op);
            c.known &= !w;
        }
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
    let mut state: Vec<Option<Consts>> = vec![None; n];
    state[0] = Some(Consts::NONE);
    let mut work = vec![0usize];
    for op in ops.iter() {
        if let Op::CallLocal { target } = op {
            let t = *target as usize;
            if t < n {
                state[t] = Some(Consts::NONE);
                work.push(t);
            }
        }
    }
    // Each slot's state only loses constants, 11 at most, so this ends.
    while let Some(i) = work.pop() {
        let Some(before) = state[i] else { continue };
        let op = &ops[i];
        let after = transfer(op, before);
        let flow = |next: usize, state: &mut Vec<Option<Consts>>, work: &mut Vec<usize>| {
            if next >= n {
                return;
            }
            let merged = state[next].map_or(after, |old| old.join(&after));
            if state[next] != Some(merged) {
                state[next] = Some(merged);
                work.push(next);
            }
        };
        if !matches!(op, Op::Ja { .. } | Op::Exit) {
            flow(i + 1, &mut state, &mut work);
        }
        if let Some(target) = jump_target(op)
            && !matches!(op, Op::CallLocal { .. })
        {
            flow(target as usize, &mut state, &mut work);
        }
    }
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
        let direct = match ops[i] {
            Op::LdxB { dst, src, off } => {
                place(src, off, 1, false).map(|(region, offset)| Op::DirectLdxB {
                    dst,
                    region,
                    offset,
                })
            }
            Op::LdxH { dst, src, off } => {
                place(src, off, 2, false).map(|(region, offset)| Op::DirectLdxH {
                    dst,
                    region,
                    offset,
                })
            }
            Op::LdxW { dst, src, off } => {
                place(src, off, 4, false).map(|(region, offset)| Op::DirectLdxW {
                    dst,
                    region,
                    offset,
                })
            }
            Op::LdxDW { dst, src, off } => {
                place(src, off, 8, false).map(|(region, offset)| Op::DirectLdxDW {
                    dst,
                    region,
                    offset,
                })
            }
            Op::StxB { dst, src, off } => {
                place(dst, off, 1, true).map(|(region, offset)| Op::DirectStxB {
                    src,
                    region,
                    offset,
                })
            }
            Op::StxH { dst, src, off } => {
                place(dst, off, 2, true).map(|(region, offset)| Op::DirectStxH {
                    src,
                    region,
                    offset,
                })
            }
            Op::StxW { dst, src, off } => {
                place(dst, off, 4, true).map(|(region, offset)| Op::DirectStxW {
                    src,
                    region,
                    offset,
                })
            }
            Op::StxDW { dst, src, off } => {
                place(dst, off, 8, true).map(|(region, offset)| Op::DirectStxDW {
                    src,
                    region,
                    offset,
                })
            }
            Op::StB { dst, off, imm } => {
                place(dst, off, 1, true).map(|(region, offset)| Op::DirectStB {
                    imm,
                    region,
                    offset,
                })
            }
            Op::StH { dst, off, imm } => {
                place(dst, off, 2, true).map(|(region, offset)| Op::DirectStH {
                    imm,
                    region,
                    offset,
                })
            }
            Op::StW { dst, off, imm } => {
                place(dst, off, 4, true).map(|(region, offset)| Op::DirectStW {
                    imm,
                    region,
                    offset,
                })
            }
            Op::StDW { dst, off, imm } => {
                place(dst, off, 8, true).map(|(region, offset)| Op::DirectStDW {
                    imm,
                    region,
                    offset,
                })
            }
            _ => None,
        };
        if let Some(op) = direct {
            ops[i] = op;
            resolved += 1;
        }
    }
    resolved
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
