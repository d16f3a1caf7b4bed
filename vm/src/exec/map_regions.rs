//! The map regions of a program, per CPU: built once at load, chosen per run.
//!
//! Every map of the table has one region per CPU
//! ([`BpfMap::program_region`]); only the per-CPU types give each CPU a
//! different one. A program whose table holds no per-CPU map has one row of
//! `maps` regions that every run uses. Otherwise the table holds one row
//! per possible CPU, CPU 0 to `cpus - 1`, and then the same rows again, and
//! a run on CPU `c` takes the `cpus` rows starting at row `c` as the map
//! slots of its address space: its own row first, so a per-CPU element has
//! the same virtual address on every CPU and each run reaches its own CPU's
//! copy. Choosing the rows is an index, so a run neither allocates nor
//! copies regions, and the address space's lookup is unchanged.
//!
//! `bpf_map_lookup_percpu_elem` may return another CPU's element. The rows
//! after the run's own are those *CPU views*: slot `3 + d * maps + map`
//! shows map `map` as CPU `(c + d) mod cpus` sees it. (A map region is
//! addressed by the low 32 bits of the address, so one region serves every
//! slot that shows it.)
//!
//! What programs may do with a region follows the kernel's verifier: the
//! region is mapped only for types whose elements a program can point to
//! (those it may look up, and ring buffers, whose records it reserves), and
//! it is writable only for types a program may update (and ring buffers),
//! unless the map is `BPF_F_RDONLY_PROG`. A program array, a perf event
//! array or a CPU map therefore has an empty region: no address reaches
//! their entries.

use tinybpf_maps::{BPF_F_RDONLY_PROG, BpfMap, MapType, ProgramOp};

use crate::error::VerifyError;
use crate::exec::memory::{FIRST_MAP_SLOT, MAP_HANDLE_BASE, Region, map_value_start};

/// The regions of a program's maps for every CPU a run may use.
#[derive(Debug)]
pub(crate) struct MapRegions {
    /// One row of `maps` regions, or one row per CPU twice (see the module
    /// docs).
    table: Box<[Region]>,
    /// Regions per row: the number of maps.
    maps: usize,
    /// True when the table holds one row per CPU.
    per_cpu: bool,
    /// The CPUs a run may use: the fewest possible CPUs of any map
    /// (`u32::MAX` without maps).
    cpus: u32,
}

/// Whether programs may point into `map`'s region (see the module docs).
fn visible(map: &BpfMap) -> bool {
    map.check_program_op(ProgramOp::Lookup).is_ok() || map.map_type() == MapType::Ringbuf
}

/// Whether programs may store into `map`'s region.
fn writable(map: &BpfMap) -> bool {
    (map.check_program_op(ProgramOp::Update).is_ok() || map.map_type() == MapType::Ringbuf)
        && map.def().map_flags & BPF_F_RDONLY_PROG == 0
}

/// Whether `map` shows every CPU the same region (every type but the
/// per-CPU ones): an address proven inside it then reaches the same bytes
/// in every run, so the constant-address pass may bind an access to its
/// host address (see [`crate::ir::op::HostAddr`]).
pub(crate) fn same_for_every_cpu(map: &BpfMap) -> bool {
    !map.map_type().is_percpu()
}

impl MapRegions {
    /// The regions of `maps` for every CPU below the fewest possible CPUs
    /// of any of them.
    pub(crate) fn new(maps: &[BpfMap]) -> Result<MapRegions, VerifyError> {
        let cpus = maps
            .iter()
            .map(BpfMap::possible_cpus)
            .min()
            .unwrap_or(u32::MAX);
        let per_cpu = maps.iter().any(|m| m.map_type().is_percpu());
        let rows = if per_cpu { cpus as usize } else { 1 };
        if per_cpu {
            // Every CPU view's slot must stay below the map handles' slots.
            let last_view = (rows as u64)
                .checked_mul(maps.len() as u64)
                .and_then(|n| n.checked_add(FIRST_MAP_SLOT));
            if last_view.is_none_or(|slot| slot > MAP_HANDLE_BASE >> 32) {
                return Err(VerifyError::TooManyCpus { cpus });
            }
        }
        let copies = if per_cpu { 2 } else { 1 };
        let mut table = Vec::with_capacity(copies * rows.saturating_mul(maps.len()));
        for cpu in (0..copies).flat_map(|_| 0..rows) {
            for (index, map) in maps.iter().enumerate() {
                // cpu < rows <= the map's possible CPUs, so the region exists.
                let (host, len) = map
                    .program_region(cpu as u32)
                    .map_or((std::ptr::null_mut(), 0), |(p, l)| (p.as_ptr(), l));
                if len as u64 > u64::from(u32::MAX) {
                    return Err(VerifyError::MapTooLarge { index, len });
                }
                let shown = visible(map);
                table.push(Region {
                    start: map_value_start(index),
                    len: if shown { len as u64 } else { 0 },
                    host,
                    writable: shown && writable(map),
                });
            }
        }
        Ok(MapRegions {
            table: table.into(),
            maps: maps.len(),
            per_cpu,
            cpus,
        })
    }

    /// The map slots of a run on `cpu` (its own row, then the CPU views),
    /// or `None` when `cpu` is not below the possible CPUs.
    #[inline]
    pub(crate) fn for_cpu(&self, cpu: u32) -> Option<&[Region]> {
        if cpu >= self.cpus {
            return None;
        }
        if self.per_cpu {
            let start = cpu as usize * self.maps;
            self.table.get(start..start + self.table.len() / 2)
        } else {
            Some(&self.table)
        }
    }

    /// The CPUs a run may use (`u32::MAX` when no map limits them).
    pub(crate) fn cpus(&self) -> u32 {
        self.cpus
    }

    /// CPU 0's regions (each map's length and writability, the same on
    /// every CPU), for the load-time passes.
    pub(crate) fn first(&self) -> &[Region] {
        &self.table[..self.maps]
    }
}
