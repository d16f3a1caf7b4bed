//! Constant addresses: a load or store through a register that holds the same
//! map-value address on every path (what a rewritten constant-key lookup, or
//! an `lddw` of a global variable, leaves there) becomes a direct access with
//! no run-time check, proven inside the map's value area once, at load time.
//! The value area never moves, so the proof holds for the program's lifetime.
//!
//! When the map shows every CPU the same value area (every map but the
//! per-CPU ones) and the address is aligned to the access's width, the access
//! is bound to its host address ([`Op::fixed`]): one aligned access at a
//! constant address, nothing looked up when it runs. Otherwise (a per-CPU
//! map, whose bytes depend on the run's CPU, or an unaligned address) it
//! names the map's region and the offset in it ([`Op::direct`]), and the run
//! finds the host address in its CPU's regions.
//!
//! A forward dataflow over the per-slot ops keeps, per register, a known
//! 64-bit constant or nothing; paths join by keeping only equal constants.
//! Only moves, `lddw`, rewritten lookups and additions of constants produce
//! constants; every other write forgets the register, a local call forgets
//! r0..r5, and a subprogram starts knowing nothing.
//!
//! # Why a fixed host address cannot dangle or leave its area
//!
//! A `Fixed*` op holds a raw host address and the interpreter (or compiled
//! code, which embeds it as a constant) reads or writes there with no check.
//! That is sound because of five facts, each enforced in one place:
//!
//! 1. **It is made only from a map's own area.** [`fixed_host`] takes the
//!    host start of the value area that [`MapRegions`] read from
//!    [`BpfMap::program_region`] at load (the same pointer every checked and
//!    `Direct*` access of the program uses, for its whole life) and adds an
//!    offset this pass proved, with `offset + width <= len`, from a constant
//!    the dataflow established on every path. [`HostAddr::new`] is
//!    crate-private: nothing outside this pass makes one, so neither a
//!    caller nor a crafted program can supply an address.
//! 2. **The verifier checks it again, independently.** Before a program can
//!    run, [`crate::passes::verify`] finds, for each fixed op, the map of the
//!    program's table whose CPU-0 area holds all `width` bytes, refuses it
//!    when there is none, when the map is per-CPU, when the address is not
//!    aligned to the width, or when a store's map is read-only to programs.
//!    A bug in this pass is therefore a load error, not a stray access.
//! 3. **The area outlives every op that points into it.** The ops live in a
//!    [`LoadedProgram`](crate::LoadedProgram), which owns a handle to each of
//!    its maps ([`BpfMap`] clones share the map through an `Arc`). The value
//!    memory is allocated once when the map is created and freed (unmapped)
//!    only when the last handle goes; no map operation reallocates, grows or
//!    moves it (updates, deletes, freezing and user-space views all work in
//!    place, and a view holds a handle too). So while a program exists its
//!    fixed addresses point at live memory of the same map, whoever else
//!    drops their handles; the compiled code is owned by the same program
//!    and goes with it. Copying an op out of [`LoadedProgram::ops`]
//!    (`Op` is `Copy`) gives a number, not access: reaching memory through
//!    [`HostAddr::ptr`] needs `unsafe` code of the caller's own.
//! 4. **The bytes are the same for every run.** Only maps whose area every
//!    CPU shares are bound ([`same_for_every_cpu`]); a per-CPU map's bytes
//!    depend on the run's CPU, so its accesses keep the region + offset form
//!    and are resolved per run. Every CPU view row of the region table shows
//!    a shared map with this same pointer, so no view is bypassed.
//! 5. **Concurrent runs and other threads are ordinary shared memory.** Every
//!    access, fixed or not, goes through `shared_mem` (single relaxed atomic
//!    loads and stores of the access's width), exactly as the user-space map
//!    API and other runs do; the address being aligned is what lets the
//!    interpreter tell the compiler so and skip `shared_mem`'s split path.
//!    There is no data race in Rust's sense, only the kernel's semantics of
//!    racing programs (each access is atomic, nothing more).
//!
//! A pinned map (a mmapable array backed by a shared file mapping, possibly
//! mapped by other processes) is no exception: its mapping is the map's
//! value memory and is unmapped only with the last handle (fact 3), and
//! other processes' writes are concurrent shared-memory writes (fact 5).
//! The one outcome tinybpf cannot prevent, another process of the same user
//! shortening the file, makes any access to the lost pages raise `SIGBUS`
//! (see `tinybpf_maps`' `pin` module); that is the same for checked,
//! `Direct*` and `Fixed*` accesses, and never reaches another object.

use std::ptr::NonNull;

use tinybpf_maps::BpfMap;

#[cfg(doc)]
use crate::exec::map_regions::MapRegions;
use crate::exec::map_regions::same_for_every_cpu;
use crate::exec::memory::{FIRST_MAP_SLOT, Region};
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::{Facts, Memory, Value};
use crate::ir::op::{HostAddr, Op};

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

/// The host address of `width` bytes at `offset` in `map`'s value area
/// `region`, when an access there may be bound to it: the area is the same
/// for every CPU and the address is aligned to `width`.
fn fixed_host(map: &BpfMap, region: &Region, offset: u32, width: u64) -> Option<HostAddr> {
    if !same_for_every_cpu(map) {
        return None;
    }
    // The caller proved offset + width <= region.len, so the address lies
    // inside the area (`host` is not null behind a non-empty region).
    let host = NonNull::new(region.host.wrapping_add(offset as usize))?;
    host.as_ptr()
        .addr()
        .is_multiple_of(width as usize)
        .then_some(HostAddr::new(host))
}

/// Rewrites accesses through proven-constant map-value addresses into fixed
/// or direct ops; returns how many. `regions` are the value areas of `maps`
/// (CPU 0's).
pub(crate) fn resolve_constant_addresses(
    ops: &mut [Op],
    maps: &[BpfMap],
    regions: &[Region],
) -> usize {
    let n = ops.len();
    if n == 0 {
        return 0;
    }
    let state = solve(ops, Consts::NONE);
    let mut resolved = 0;
    for i in 0..n {
        let Some(consts) = state[i] else { continue };
        let place = |base: u8, off: i16, width: u64, write: bool| -> Option<(usize, u32)> {
            let addr = consts.get(base)?.wrapping_add(off as i64 as u64);
            let slot = (addr >> 32).checked_sub(FIRST_MAP_SLOT)?;
            let index = usize::try_from(slot).ok()?;
            let region = regions.get(index)?;
            let offset = addr.checked_sub(region.start)?;
            if offset.checked_add(width)? > region.len || (write && !region.writable) {
                return None;
            }
            Some((index, u32::try_from(offset).ok()?))
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
        let width = u64::from(width);
        let proven = place(base, off, width, kind.writes()).and_then(|(index, offset)| {
            let fixed = maps
                .get(index)
                .and_then(|map| fixed_host(map, &regions[index], offset, width))
                .and_then(|host| ops[i].fixed(host));
            fixed.or_else(|| ops[i].direct(u16::try_from(index).ok()?, offset))
        });
        if let Some(op) = proven {
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
    use crate::exec::map_regions::MapRegions;
    use crate::exec::memory::map_value_start;
    use tinybpf_maps::{BPF_F_RDONLY_PROG, MapDef, MapOptions, MapType};

    fn map(def: MapDef) -> BpfMap {
        BpfMap::create(def, &MapOptions::with_cpus(2)).unwrap()
    }

    /// Runs the pass over `ops` with `maps` (as map 0, 1, ...).
    fn resolve(ops: &mut [Op], maps: &[BpfMap]) -> usize {
        let regions = MapRegions::new(maps).unwrap();
        resolve_constant_addresses(ops, maps, regions.first())
    }

    fn host(map: &BpfMap, offset: usize) -> HostAddr {
        let (start, _) = map.program_region(0).unwrap();
        HostAddr::new(NonNull::new(start.as_ptr().wrapping_add(offset)).unwrap())
    }

    /// r0 = the address of map 0's byte `offset`, then `access`.
    fn through_r0(offset: u64, access: Op) -> Vec<Op> {
        vec![
            Op::LookupConst {
                imm: map_value_start(0) + offset,
            },
            access,
            Op::Exit,
        ]
    }

    #[test]
    fn accesses_through_a_constant_element_address_become_fixed() {
        let array = map(MapDef::array(24, 1));
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
            Op::StDW {
                dst: 0,
                off: -8,
                imm: -2i64 as u64,
            },
            Op::Exit,
        ];
        assert_eq!(resolve(&mut ops, std::slice::from_ref(&array)), 3);
        assert_eq!(
            ops[1..4],
            [
                Op::FixedLdxDW {
                    dst: 1,
                    host: host(&array, 16)
                },
                Op::FixedStxW {
                    src: 1,
                    host: host(&array, 12)
                },
                Op::FixedStDW {
                    imm: -2,
                    host: host(&array, 0)
                },
            ]
        );
    }

    #[test]
    fn per_cpu_maps_and_unaligned_addresses_keep_the_region_form() {
        let percpu = map(MapDef {
            map_type: MapType::PercpuArray as u32,
            ..MapDef::array(16, 1)
        });
        let mut ops = through_r0(
            8,
            Op::StxDW {
                dst: 0,
                src: 1,
                off: 0,
            },
        );
        assert_eq!(resolve(&mut ops, std::slice::from_ref(&percpu)), 1);
        assert_eq!(
            ops[1],
            Op::DirectStxDW {
                src: 1,
                region: 0,
                offset: 8
            }
        );
        let array = map(MapDef::array(16, 1));
        let mut ops = through_r0(
            2,
            Op::LdxW {
                dst: 1,
                src: 0,
                off: 0,
            },
        );
        assert_eq!(resolve(&mut ops, std::slice::from_ref(&array)), 1);
        assert_eq!(
            ops[1],
            Op::DirectLdxW {
                dst: 1,
                region: 0,
                offset: 2
            }
        );
    }

    #[test]
    fn keeps_checks_when_the_address_is_not_proven() {
        let read_only = map(MapDef::array(24, 1).with_flags(BPF_F_RDONLY_PROG));
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
        assert_eq!(resolve(&mut ops, std::slice::from_ref(&read_only)), 0);
    }
}
