//! Map types and map flags by number and by name, as in the kernel's
//! `include/uapi/linux/bpf.h` (`enum bpf_map_type`, `BPF_F_*`), with
//! bpftool's names for display.

use core::fmt;

macro_rules! map_types {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal, $name:literal; )*) => {
        /// Every `BPF_MAP_TYPE_*` of `linux/bpf.h`, by its number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum MapType {
            $( $(#[$doc])* $variant = $num, )*
        }

        impl MapType {
            /// Every map type, in number order.
            pub const ALL: &'static [MapType] = &[$(MapType::$variant,)*];

            /// The type with kernel number `number`, or `None` for a number
            /// `linux/bpf.h` does not define.
            pub fn from_u32(number: u32) -> Option<MapType> {
                match number {
                    $( $num => Some(MapType::$variant), )*
                    _ => None,
                }
            }

            /// bpftool's name of the type (`hash`, `percpu_array`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $( MapType::$variant => $name, )*
                }
            }
        }
    };
}

map_types! {
    /// `BPF_MAP_TYPE_UNSPEC`: never a valid map.
    Unspec = 0, "unspec";
    /// `BPF_MAP_TYPE_HASH`.
    Hash = 1, "hash";
    /// `BPF_MAP_TYPE_ARRAY`.
    Array = 2, "array";
    /// `BPF_MAP_TYPE_PROG_ARRAY`: tail-call targets.
    ProgArray = 3, "prog_array";
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: perf event outputs.
    PerfEventArray = 4, "perf_event_array";
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    PercpuHash = 5, "percpu_hash";
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    PercpuArray = 6, "percpu_array";
    /// `BPF_MAP_TYPE_STACK_TRACE`.
    StackTrace = 7, "stack_trace";
    /// `BPF_MAP_TYPE_CGROUP_ARRAY`.
    CgroupArray = 8, "cgroup_array";
    /// `BPF_MAP_TYPE_LRU_HASH`.
    LruHash = 9, "lru_hash";
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    LruPercpuHash = 10, "lru_percpu_hash";
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    LpmTrie = 11, "lpm_trie";
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    ArrayOfMaps = 12, "array_of_maps";
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    HashOfMaps = 13, "hash_of_maps";
    /// `BPF_MAP_TYPE_DEVMAP`: XDP redirect targets by index.
    Devmap = 14, "devmap";
    /// `BPF_MAP_TYPE_SOCKMAP`.
    Sockmap = 15, "sockmap";
    /// `BPF_MAP_TYPE_CPUMAP`: XDP redirect to CPUs.
    Cpumap = 16, "cpumap";
    /// `BPF_MAP_TYPE_XSKMAP`: XDP redirect to AF_XDP sockets.
    Xskmap = 17, "xskmap";
    /// `BPF_MAP_TYPE_SOCKHASH`.
    Sockhash = 18, "sockhash";
    /// `BPF_MAP_TYPE_CGROUP_STORAGE` (deprecated).
    CgroupStorage = 19, "cgroup_storage";
    /// `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`.
    ReuseportSockarray = 20, "reuseport_sockarray";
    /// `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`.
    PercpuCgroupStorage = 21, "percpu_cgroup_storage";
    /// `BPF_MAP_TYPE_QUEUE`.
    Queue = 22, "queue";
    /// `BPF_MAP_TYPE_STACK`.
    Stack = 23, "stack";
    /// `BPF_MAP_TYPE_SK_STORAGE`.
    SkStorage = 24, "sk_storage";
    /// `BPF_MAP_TYPE_DEVMAP_HASH`: XDP redirect targets by key.
    DevmapHash = 25, "devmap_hash";
    /// `BPF_MAP_TYPE_STRUCT_OPS`.
    StructOps = 26, "struct_ops";
    /// `BPF_MAP_TYPE_RINGBUF`.
    Ringbuf = 27, "ringbuf";
    /// `BPF_MAP_TYPE_INODE_STORAGE`.
    InodeStorage = 28, "inode_storage";
    /// `BPF_MAP_TYPE_TASK_STORAGE`.
    TaskStorage = 29, "task_storage";
    /// `BPF_MAP_TYPE_BLOOM_FILTER`.
    BloomFilter = 30, "bloom_filter";
    /// `BPF_MAP_TYPE_USER_RINGBUF`.
    UserRingbuf = 31, "user_ringbuf";
    /// `BPF_MAP_TYPE_CGRP_STORAGE`.
    CgrpStorage = 32, "cgrp_storage";
    /// `BPF_MAP_TYPE_ARENA`.
    Arena = 33, "arena";
}

impl MapType {
    /// The kernel's number of the type.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// True when tinybpf can create maps of this type.
    pub fn is_supported(self) -> bool {
        self.unsupported_reason().is_none()
    }

    /// Why tinybpf cannot create maps of this type, or `None` when it can.
    pub fn unsupported_reason(self) -> Option<&'static str> {
        use MapType::*;
        match self {
            Hash | Array | ProgArray | PerfEventArray | PercpuHash | PercpuArray | LruHash
            | LruPercpuHash | LpmTrie | Devmap | Cpumap | Xskmap | DevmapHash | Ringbuf => None,
            Unspec => Some("BPF_MAP_TYPE_UNSPEC is not a map type"),
            ArrayOfMaps | HashOfMaps => Some(
                "maps of maps are not supported: tinybpf programs address each map's values \
                 directly, and an inner map cannot be chosen at run time",
            ),
            StackTrace => Some("stack traces need the kernel's unwinder; there is none here"),
            CgroupArray | CgroupStorage | PercpuCgroupStorage | CgrpStorage => {
                Some("cgroup maps need kernel cgroups; there are none here")
            }
            Sockmap | Sockhash | ReuseportSockarray | SkStorage => {
                Some("socket maps need kernel sockets; there are none here")
            }
            InodeStorage | TaskStorage => {
                Some("inode and task storage need kernel objects; there are none here")
            }
            StructOps => Some("struct_ops maps implement kernel interfaces; there are none here"),
            Queue | Stack | BloomFilter | UserRingbuf | Arena => {
                Some("this map type is not implemented yet")
            }
        }
    }

    /// True for the per-CPU types, whose user-space values hold one slot per
    /// possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Map flag: elements are allocated on update rather than at creation.
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
/// Map flag: an LRU map keeps one LRU list per CPU.
pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
/// Map flag: `numa_node` is valid.
pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
/// Map flag: user space may only read the map (through this fd).
pub const BPF_F_RDONLY: u32 = 1 << 3;
/// Map flag: user space may only write the map (through this fd).
pub const BPF_F_WRONLY: u32 = 1 << 4;
/// Map flag: stack traces store build ids.
pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;
/// Map flag: hash with seed 0 (testing only).
pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
/// Map flag: perf event array entries survive the map's fd closing.
pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
/// Map flag: the map is an inner map of a map of maps.
pub const BPF_F_INNER_MAP: u32 = 1 << 12;

/// Every `BPF_F_*` map flag by bit, with its name.
const FLAG_NAMES: &[(u32, &str)] = &[
    (1 << 0, "BPF_F_NO_PREALLOC"),
    (1 << 1, "BPF_F_NO_COMMON_LRU"),
    (1 << 2, "BPF_F_NUMA_NODE"),
    (1 << 3, "BPF_F_RDONLY"),
    (1 << 4, "BPF_F_WRONLY"),
    (1 << 5, "BPF_F_STACK_BUILD_ID"),
    (1 << 6, "BPF_F_ZERO_SEED"),
    (1 << 7, "BPF_F_RDONLY_PROG"),
    (1 << 8, "BPF_F_WRONLY_PROG"),
    (1 << 9, "BPF_F_CLONE"),
    (1 << 10, "BPF_F_MMAPABLE"),
    (1 << 11, "BPF_F_PRESERVE_ELEMS"),
    (1 << 12, "BPF_F_INNER_MAP"),
    (1 << 13, "BPF_F_LINK"),
    (1 << 14, "BPF_F_PATH_FD"),
    (1 << 15, "BPF_F_VTYPE_BTF_OBJ_FD"),
    (1 << 16, "BPF_F_TOKEN_FD"),
    (1 << 17, "BPF_F_SEGV_ON_FAULT"),
    (1 << 18, "BPF_F_NO_USER_CONV"),
];

/// `map_flags` as names joined by ` | `, unknown bits as one hex number at
/// the end, and `0` for no flags.
///
/// ```
/// use tinybpf_maps::map_flags_names;
/// assert_eq!(map_flags_names(0), "0");
/// assert_eq!(map_flags_names(1 | 1 << 10), "BPF_F_NO_PREALLOC | BPF_F_MMAPABLE");
/// assert_eq!(map_flags_names(1 << 7 | 1 << 30), "BPF_F_RDONLY_PROG | 0x40000000");
/// ```
pub fn map_flags_names(flags: u32) -> String {
    if flags == 0 {
        return "0".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut known = 0;
    for &(bit, name) in FLAG_NAMES {
        if flags & bit != 0 {
            parts.push(name.to_string());
            known |= bit;
        }
    }
    let unknown = flags & !known;
    if unknown != 0 {
        parts.push(format!("{unknown:#x}"));
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_names_are_bpftools() {
        for &t in MapType::ALL {
            assert_eq!(MapType::from_u32(t.as_u32()), Some(t));
        }
        assert_eq!(MapType::ALL.len(), 34);
        assert_eq!(MapType::from_u32(34), None);
        assert_eq!(MapType::from_u32(u32::MAX), None);
        let expected = [
            (1, "hash"),
            (2, "array"),
            (3, "prog_array"),
            (4, "perf_event_array"),
            (5, "percpu_hash"),
            (6, "percpu_array"),
            (9, "lru_hash"),
            (10, "lru_percpu_hash"),
            (11, "lpm_trie"),
            (12, "array_of_maps"),
            (13, "hash_of_maps"),
            (14, "devmap"),
            (16, "cpumap"),
            (17, "xskmap"),
            (25, "devmap_hash"),
            (27, "ringbuf"),
            (33, "arena"),
        ];
        for (number, name) in expected {
            assert_eq!(MapType::from_u32(number).unwrap().name(), name);
        }
    }

    #[test]
    fn support_is_stated_with_a_reason() {
        for t in [MapType::ArrayOfMaps, MapType::HashOfMaps, MapType::Sockmap] {
            assert!(!t.is_supported());
            assert!(!t.unsupported_reason().unwrap().is_empty());
        }
        assert!(MapType::Hash.is_supported());
        assert!(MapType::Ringbuf.is_supported());
        assert!(MapType::PercpuArray.is_percpu());
        assert!(!MapType::Array.is_percpu());
    }

    #[test]
    fn flags_render_by_name() {
        assert_eq!(
            map_flags_names(0xffff_ffff).matches(" | ").count(),
            FLAG_NAMES.len()
        );
        assert!(map_flags_names(0xffff_ffff).ends_with("0xfff80000"));
        assert_eq!(map_flags_names(1 << 6), "BPF_F_ZERO_SEED");
    }
}
