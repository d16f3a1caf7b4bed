//! The creation checks of every supported map type, in the kernel's order
//! (kernel/bpf/syscall.c `map_create`, then the type's `map_alloc_check` /
//! `map_alloc`), and the memory each type reserves.

use crate::common::round_up;
use crate::def::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, MapDef, PAGE_SIZE};
use crate::error::MapError;
use crate::map_type::{
    BPF_F_INNER_MAP, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_PRESERVE_ELEMS,
    BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_ZERO_SEED, MapType,
};

/// `BPF_F_ACCESS_MASK`: the user-space and program access flags.
const ACCESS_MASK: u32 = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
/// `ARRAY_CREATE_FLAG_MASK`.
const ARRAY_FLAGS: u32 =
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
/// `HTAB_CREATE_FLAG_MASK`.
const HASH_FLAGS: u32 =
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | ACCESS_MASK | BPF_F_ZERO_SEED;
/// `DEV_CREATE_FLAG_MASK` (also the xskmap's).
const DEV_FLAGS: u32 = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;
/// `PCPU_MIN_UNIT_SIZE`: the largest per-CPU value.
pub const PCPU_MIN_UNIT_SIZE: u32 = 32 << 10;
/// `KMALLOC_MAX_SIZE` on x86-64 (4 MiB).
const KMALLOC_MAX_SIZE: u64 = 1 << 22;
/// `sizeof(struct htab_elem)` on 64-bit hosts.
const HTAB_ELEM_SIZE: u64 = 48;
/// `NR_CPUS` of common distribution kernels: the cpumap's entry limit.
pub const NR_CPUS: u32 = 8192;

/// The syscall's checks common to every type, then the type's support.
pub(crate) fn check_common(def: &MapDef) -> Result<MapType, MapError> {
    let map_type = MapType::from_u32(def.map_type).ok_or(MapError::UnknownMapType {
        map_type: def.map_type,
    })?;
    if def.map_flags & BPF_F_RDONLY != 0 && def.map_flags & BPF_F_WRONLY != 0 {
        return Err(MapError::FlagsNotAllowed {
            map_type,
            flags: def.map_flags,
            reason: "BPF_F_RDONLY and BPF_F_WRONLY together",
        });
    }
    if let Some(reason) = map_type.unsupported_reason() {
        return Err(MapError::MapTypeNotSupported { map_type, reason });
    }
    Ok(map_type)
}

fn flags_error(map_type: MapType, flags: u32, reason: &'static str) -> MapError {
    MapError::FlagsNotAllowed {
        map_type,
        flags,
        reason,
    }
}

/// `bpf_map_flags_access_ok`: not both program access flags.
fn access_ok(flags: u32) -> bool {
    flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)
}

/// `array_map_alloc_check` for the array family (per-CPU and fd arrays);
/// returns the element size.
pub(crate) fn check_array_family(def: &MapDef, map_type: MapType) -> Result<usize, MapError> {
    let flags = def.map_flags;
    if def.max_entries == 0 {
        return Err(MapError::ZeroMaxEntries);
    }
    if def.key_size != 4 {
        return Err(MapError::KeySizeFor {
            map_type,
            key_size: def.key_size,
            expected: "an array's key is a 4-byte index",
        });
    }
    if def.value_size == 0 {
        return Err(MapError::ZeroValueSize);
    }
    if flags & !ARRAY_FLAGS != 0 || !access_ok(flags) {
        return Err(flags_error(
            map_type,
            flags,
            "unknown or conflicting flags for an array",
        ));
    }
    if map_type.is_percpu() && flags & BPF_F_NUMA_NODE != 0 {
        return Err(flags_error(
            map_type,
            flags,
            "per-CPU maps take no NUMA node",
        ));
    }
    if flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP) != 0 {
        return Err(flags_error(
            map_type,
            flags,
            "only BPF_MAP_TYPE_ARRAY is mmapable or inner",
        ));
    }
    if map_type != MapType::PerfEventArray && flags & BPF_F_PRESERVE_ELEMS != 0 {
        return Err(flags_error(
            map_type,
            flags,
            "BPF_F_PRESERVE_ELEMS is for perf event arrays",
        ));
    }
    if def.value_size > i32::MAX as u32 {
        return Err(MapError::ValueSizeTooBig {
            value_size: def.value_size,
            max: i32::MAX as u32,
        });
    }
    let elem_size =
        round_up(def.value_size as usize, 8).ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
    if map_type.is_percpu() && elem_size > PCPU_MIN_UNIT_SIZE as usize {
        return Err(MapError::PercpuValueTooBig {
            value_size: def.value_size,
            limit: PCPU_MIN_UNIT_SIZE,
        });
    }
    Ok(elem_size)
}

/// `fd_array_map_alloc_check`: value 4 and no program access flags first,
/// then the array checks.
pub(crate) fn check_fd_array(def: &MapDef, map_type: MapType) -> Result<(), MapError> {
    if def.value_size != 4 {
        return Err(MapError::ValueSizeFor {
            map_type,
            value_size: def.value_size,
            expected: "must be 4 (a u32 reference)",
        });
    }
    if def.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != 0 {
        return Err(flags_error(
            map_type,
            def.map_flags,
            "programs cannot read or write its values",
        ));
    }
    check_array_family(def, map_type).map(drop)
}

/// `htab_map_alloc_check` then `htab_map_alloc`'s size checks; returns the
/// definition to create (`max_entries` rounded for `BPF_F_NO_COMMON_LRU`)
/// and the element size.
pub(crate) fn check_hash(
    def: &MapDef,
    map_type: MapType,
    cpus: u32,
) -> Result<(MapDef, usize), MapError> {
    let percpu = map_type.is_percpu();
    let lru = matches!(map_type, MapType::LruHash | MapType::LruPercpuHash);
    let flags = def.map_flags;
    let percpu_lru = flags & BPF_F_NO_COMMON_LRU != 0;
    let prealloc = flags & BPF_F_NO_PREALLOC == 0;
    if flags & !HASH_FLAGS != 0 || !access_ok(flags) {
        return Err(flags_error(
            map_type,
            flags,
            "unknown or conflicting flags for a hash",
        ));
    }
    if !lru && percpu_lru {
        return Err(flags_error(
            map_type,
            flags,
            "BPF_F_NO_COMMON_LRU is for LRU maps",
        ));
    }
    if lru && !prealloc {
        return Err(MapError::LruWithoutPrealloc { map_type });
    }
    if flags & BPF_F_NUMA_NODE != 0 && (percpu || percpu_lru) {
        return Err(flags_error(
            map_type,
            flags,
            "per-CPU maps take no NUMA node",
        ));
    }
    if def.max_entries == 0 {
        return Err(MapError::ZeroMaxEntries);
    }
    if def.key_size == 0 {
        return Err(MapError::KeySizeFor {
            map_type,
            key_size: 0,
            expected: "a hash key needs at least one byte",
        });
    }
    if def.value_size == 0 {
        return Err(MapError::ZeroValueSize);
    }
    if u64::from(def.key_size) + u64::from(def.value_size) >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE {
        return Err(MapError::KeyValueTooBig {
            key_size: def.key_size,
            value_size: def.value_size,
            limit: KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE,
        });
    }
    let elem_size =
        round_up(def.value_size as usize, 8).ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
    if percpu && elem_size > PCPU_MIN_UNIT_SIZE as usize {
        return Err(MapError::PercpuValueTooBig {
            value_size: def.value_size,
            limit: PCPU_MIN_UNIT_SIZE,
        });
    }
    let mut def = *def;
    if percpu_lru {
        // Each CPU's list gets the same number of elements, at least one.
        let cpus = cpus.max(1);
        def.max_entries = match def.max_entries.div_ceil(cpus).checked_mul(cpus) {
            Some(up) => up,
            None => def.max_entries / cpus * cpus,
        };
    }
    if def.max_entries > 1 << 31 {
        return Err(MapError::TooManyEntries {
            map_type,
            max_entries: def.max_entries,
            limit: 1 << 31,
        });
    }
    Ok((def, elem_size))
}

fn check_value_sizes(
    def: &MapDef,
    map_type: MapType,
    sizes: &[u32],
    expected: &'static str,
) -> Result<(), MapError> {
    if def.max_entries == 0 {
        return Err(MapError::ZeroMaxEntries);
    }
    if def.key_size != 4 {
        return Err(MapError::KeySizeFor {
            map_type,
            key_size: def.key_size,
            expected: "must be 4",
        });
    }
    if !sizes.contains(&def.value_size) {
        return Err(MapError::ValueSizeFor {
            map_type,
            value_size: def.value_size,
            expected,
        });
    }
    Ok(())
}

/// The redirect maps' checks; returns the definition to create (devmaps
/// gain `BPF_F_RDONLY_PROG`, as the kernel adds it).
pub(crate) fn check_redirect(def: &MapDef, map_type: MapType) -> Result<MapDef, MapError> {
    let mut def = *def;
    match map_type {
        MapType::Devmap | MapType::DevmapHash => {
            check_value_sizes(
                &def,
                map_type,
                &[4, 8],
                "4 (ifindex) or 8 (struct bpf_devmap_val)",
            )?;
            if def.map_flags & !DEV_FLAGS != 0 {
                return Err(flags_error(
                    map_type,
                    def.map_flags,
                    "a devmap takes only NUMA and user access flags",
                ));
            }
            def.map_flags |= BPF_F_RDONLY_PROG;
            if map_type == MapType::DevmapHash && def.max_entries > 1 << 31 {
                return Err(MapError::MaxEntriesFor {
                    map_type,
                    max_entries: def.max_entries,
                    expected: "at most 2^31",
                });
            }
        }
        MapType::Cpumap => {
            check_value_sizes(
                &def,
                map_type,
                &[4, 8],
                "4 (qsize) or 8 (struct bpf_cpumap_val)",
            )?;
            if def.map_flags & !BPF_F_NUMA_NODE != 0 {
                return Err(flags_error(
                    map_type,
                    def.map_flags,
                    "a cpumap takes only BPF_F_NUMA_NODE",
                ));
            }
            if def.max_entries > NR_CPUS {
                return Err(MapError::TooManyEntries {
                    map_type,
                    max_entries: def.max_entries,
                    limit: u64::from(NR_CPUS),
                });
            }
        }
        _ => {
            check_value_sizes(&def, map_type, &[4], "must be 4 (a socket reference)")?;
            if def.map_flags & !DEV_FLAGS != 0 {
                return Err(flags_error(
                    map_type,
                    def.map_flags,
                    "an xskmap takes only NUMA and user access flags",
                ));
            }
        }
    }
    Ok(def)
}

/// `ringbuf_map_alloc`'s checks.
pub(crate) fn check_ringbuf(def: &MapDef) -> Result<(), MapError> {
    let map_type = MapType::Ringbuf;
    if def.map_flags & !BPF_F_NUMA_NODE != 0 {
        return Err(flags_error(
            map_type,
            def.map_flags,
            "a ring buffer takes only BPF_F_NUMA_NODE",
        ));
    }
    if def.key_size != 0 {
        return Err(MapError::KeySizeFor {
            map_type,
            key_size: def.key_size,
            expected: "must be 0",
        });
    }
    if def.value_size != 0 {
        return Err(MapError::ValueSizeFor {
            map_type,
            value_size: def.value_size,
            expected: "must be 0",
        });
    }
    if !def.max_entries.is_power_of_two() || !(def.max_entries as usize).is_multiple_of(PAGE_SIZE) {
        return Err(MapError::MaxEntriesFor {
            map_type,
            max_entries: def.max_entries,
            expected: "the ring size: a power of 2 and a multiple of the page size",
        });
    }
    Ok(())
}
