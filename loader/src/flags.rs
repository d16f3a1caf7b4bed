//! Map flags by the names `include/uapi/linux/bpf.h` gives them, for
//! people reading messages and `tinybpf run` and `tinybpf maps` output.

/// The `BPF_MAP_CREATE` flags of the kernel's uapi header, in bit order.
const MAP_FLAG_NAMES: [(u32, &str); 19] = [
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

/// A map's `map_flags` as the kernel header names them, joined by ` | ` in
/// bit order; bits the header does not name follow as one hex number, and no
/// flags at all is `0`.
///
/// ```
/// use tinybpf_loader::describe_map_flags;
/// use tinybpf_maps::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
/// assert_eq!(describe_map_flags(0), "0");
/// assert_eq!(
///     describe_map_flags(BPF_F_RDONLY_PROG | BPF_F_MMAPABLE),
///     "BPF_F_RDONLY_PROG | BPF_F_MMAPABLE"
/// );
/// assert_eq!(describe_map_flags(BPF_F_MMAPABLE | 1 << 31), "BPF_F_MMAPABLE | 0x80000000");
/// ```
pub fn describe_map_flags(flags: u32) -> String {
    if flags == 0 {
        return "0".to_owned();
    }
    let mut parts: Vec<String> = MAP_FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let named = MAP_FLAG_NAMES.iter().fold(0, |all, (bit, _)| all | bit);
    let unnamed = flags & !named;
    if unnamed != 0 {
        parts.push(format!("{unnamed:#x}"));
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinybpf_maps::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};

    #[test]
    fn names_match_the_maps_crate_and_the_kernel_bits() {
        assert_eq!(describe_map_flags(BPF_F_RDONLY_PROG), "BPF_F_RDONLY_PROG");
        assert_eq!(describe_map_flags(BPF_F_WRONLY_PROG), "BPF_F_WRONLY_PROG");
        assert_eq!(describe_map_flags(BPF_F_MMAPABLE), "BPF_F_MMAPABLE");
        assert_eq!(
            describe_map_flags(0x480),
            "BPF_F_RDONLY_PROG | BPF_F_MMAPABLE"
        );
        assert_eq!(describe_map_flags(1), "BPF_F_NO_PREALLOC");
        assert_eq!(describe_map_flags(1 << 18), "BPF_F_NO_USER_CONV");
    }

    #[test]
    fn every_bit_is_shown_once_in_order() {
        for (i, (bit, _)) in MAP_FLAG_NAMES.iter().enumerate() {
            assert_eq!(*bit, 1 << i, "the table is in bit order without gaps");
        }
        let all = describe_map_flags(u32::MAX);
        assert_eq!(all.matches(" | ").count(), MAP_FLAG_NAMES.len());
        assert!(all.starts_with("BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU"));
        assert!(all.ends_with("BPF_F_NO_USER_CONV | 0xfff80000"), "{all}");
        assert_eq!(describe_map_flags(1 << 19), "0x80000");
    }
}
