//! Map flags by the names `include/uapi/linux/bpf.h` gives them, for
//! people reading messages and `tinybpf run` and `tinybpf maps` output
//! (the names are `tinybpf_maps::map_flags_names`'s).

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
    // One table of names, in the maps crate (its errors use it too).
    tinybpf_maps::map_flags_names(flags)
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
        for bit in 0..19 {
            let name = describe_map_flags(1 << bit);
            assert!(
                name.starts_with("BPF_F_") && !name.contains(" | "),
                "{name}"
            );
        }
        let all = describe_map_flags(u32::MAX);
        assert_eq!(all.matches(" | ").count(), 19);
        assert!(all.starts_with("BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU"));
        assert!(all.ends_with("BPF_F_NO_USER_CONV | 0xfff80000"), "{all}");
        assert_eq!(describe_map_flags(1 << 19), "0x80000");
    }
}
