//! BPF_MAP_TYPE_LPM_TRIE against kernel/bpf/lpm_trie.c.

use tinybpf_maps::errno::*;
use tinybpf_maps::*;

fn def(key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapDef {
    MapDef {
        map_type: MapType::LpmTrie.as_u32(),
        key_size,
        value_size,
        max_entries,
        map_flags: flags,
    }
}

fn ipv4(prefixlen: u32, addr: [u8; 4]) -> Vec<u8> {
    let mut key = prefixlen.to_le_bytes().to_vec();
    key.extend(addr);
    key
}

fn create(def: MapDef) -> Result<BpfMap, MapError> {
    BpfMap::create(def, &MapOptions::with_cpus(2))
}

#[test]
fn creation_checks() {
    let errno = |d| create(d).unwrap_err().errno();
    assert_eq!(
        errno(def(8, 4, 10, 0)),
        EINVAL,
        "BPF_F_NO_PREALLOC is required"
    );
    assert_eq!(errno(def(8, 4, 0, BPF_F_NO_PREALLOC)), EINVAL);
    assert_eq!(
        errno(def(4, 4, 10, BPF_F_NO_PREALLOC)),
        EINVAL,
        "no data byte"
    );
    assert_eq!(
        errno(def(261, 4, 10, BPF_F_NO_PREALLOC)),
        EINVAL,
        "more than 256 data bytes"
    );
    assert_eq!(errno(def(8, 0, 10, BPF_F_NO_PREALLOC)), EINVAL);
    assert_eq!(
        errno(def(8, 4, 10, BPF_F_NO_PREALLOC | BPF_F_MMAPABLE)),
        EINVAL
    );
    assert!(create(def(5, 1, 1, BPF_F_NO_PREALLOC)).is_ok());
    assert!(create(def(260, 4, 1, BPF_F_NO_PREALLOC)).is_ok());
}

#[test]
fn longest_prefix_wins() {
    let map = create(def(8, 4, 8, BPF_F_NO_PREALLOC)).unwrap();
    map.update(&ipv4(8, [10, 0, 0, 0]), &8u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    map.update(&ipv4(16, [10, 1, 0, 0]), &16u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    map.update(&ipv4(24, [10, 1, 2, 99]), &24u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    map.update(&ipv4(0, [0; 4]), &0u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    let hit = |addr| u32::from_le_bytes(map.lookup(&ipv4(32, addr)).unwrap().try_into().unwrap());
    assert_eq!(hit([10, 1, 2, 3]), 24);
    assert_eq!(hit([10, 1, 3, 3]), 16);
    assert_eq!(hit([10, 2, 3, 3]), 8);
    assert_eq!(hit([11, 2, 3, 3]), 0);
    // The key's own prefix length bounds the match.
    assert_eq!(
        map.lookup(&ipv4(20, [10, 1, 2, 3])).unwrap(),
        16u32.to_le_bytes()
    );
    // Programs get the same answer as an offset into the region.
    let offset = map.lookup_for_program(&ipv4(32, [10, 1, 2, 3]), 0).unwrap();
    let (start, len) = map.program_region(0).unwrap();
    assert!(offset + 4 <= len);
    // SAFETY: `offset + 4 <= len` was asserted, so the load lies inside the
    // map's live program region, which is only accessed through shared_mem.
    let loaded = unsafe { shared_mem::load(start.as_ptr().add(offset), 4) };
    assert_eq!(loaded, 24);
    map.delete(&ipv4(0, [0; 4])).unwrap();
    assert_eq!(
        map.lookup(&ipv4(32, [11, 2, 3, 3])).unwrap_err().errno(),
        ENOENT
    );
}

#[test]
fn update_and_delete_rules() {
    let map = create(def(8, 4, 2, BPF_F_NO_PREALLOC)).unwrap();
    let v = 1u32.to_le_bytes();
    assert_eq!(
        map.update(&ipv4(8, [10, 0, 0, 0]), &v, 3)
            .unwrap_err()
            .errno(),
        EINVAL
    );
    assert_eq!(
        map.update(&ipv4(33, [10, 0, 0, 0]), &v, 0)
            .unwrap_err()
            .errno(),
        EINVAL
    );
    assert_eq!(
        map.update(&ipv4(8, [10, 0, 0, 0]), &v, BPF_EXIST)
            .unwrap_err()
            .errno(),
        ENOENT
    );
    map.update(&ipv4(8, [10, 0, 0, 0]), &v, BPF_NOEXIST)
        .unwrap();
    // Bits past the prefix do not matter: the same prefix.
    assert_eq!(
        map.update(&ipv4(8, [10, 9, 9, 9]), &v, BPF_NOEXIST)
            .unwrap_err()
            .errno(),
        EEXIST
    );
    map.update(&ipv4(8, [10, 9, 9, 9]), &2u32.to_le_bytes(), BPF_EXIST)
        .unwrap();
    map.update(&ipv4(12, [10, 16, 0, 0]), &v, BPF_ANY).unwrap();
    assert_eq!(
        map.update(&ipv4(16, [10, 1, 0, 0]), &v, BPF_ANY)
            .unwrap_err()
            .errno(),
        ENOSPC
    );
    assert_eq!(
        map.delete(&ipv4(16, [10, 1, 0, 0])).unwrap_err().errno(),
        ENOENT
    );
    assert_eq!(
        map.delete(&ipv4(40, [10, 1, 0, 0])).unwrap_err().errno(),
        EINVAL
    );
    let mut keys = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    while let Ok(next) = map.get_next_key(key.as_deref()) {
        keys.push(next.clone());
        key = Some(next);
    }
    keys.sort();
    assert_eq!(keys, [ipv4(8, [10, 0, 0, 0]), ipv4(12, [10, 16, 0, 0])]);
    map.delete(&ipv4(8, [10, 0, 0, 0])).unwrap();
    map.update(&ipv4(16, [10, 1, 0, 0]), &v, BPF_ANY).unwrap();
    assert_eq!(map.entries().count(), 2);
    map.check_program_op(ProgramOp::Lookup).unwrap();
    map.update_from_program(&ipv4(16, [10, 1, 0, 0]), &v, BPF_EXIST, 1)
        .unwrap();
    map.delete_from_program(&ipv4(16, [10, 1, 0, 0]), 1)
        .unwrap();
}
