//! The hash family against kernel/bpf/hashtab.c: creation checks, update
//! flag order, delete, get_next_key, full maps, LRU eviction, per-CPU format.

use tinybpf_maps::errno::*;
use tinybpf_maps::*;

fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        map_type: map_type.as_u32(),
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    }
}

fn create(def: MapDef) -> Result<BpfMap, MapError> {
    BpfMap::create(def, &MapOptions::with_cpus(4))
}

fn errno(def: MapDef) -> i32 {
    create(def).unwrap_err().errno()
}

const HASHES: [MapType; 4] = [
    MapType::Hash,
    MapType::LruHash,
    MapType::PercpuHash,
    MapType::LruPercpuHash,
];

#[test]
fn creation_checks_in_the_kernel_order() {
    for t in HASHES {
        assert!(create(def(t, 1, 1, 1)).is_ok(), "{t}");
        assert!(create(def(t, 300, 8, 16)).is_ok(), "{t}: any key size");
        assert_eq!(errno(def(t, 4, 8, 0)), EINVAL, "{t}: max_entries 0");
        assert_eq!(errno(def(t, 0, 8, 1)), EINVAL, "{t}: key_size 0");
        assert_eq!(errno(def(t, 4, 0, 1)), EINVAL, "{t}: value_size 0");
        assert_eq!(
            errno(def(t, 4, 8, 1).with_flags(BPF_F_MMAPABLE)),
            EINVAL,
            "{t}: mmapable"
        );
        assert_eq!(
            errno(def(t, 4, 8, 1).with_flags(1 << 20)),
            EINVAL,
            "{t}: unknown flag"
        );
        assert_eq!(
            errno(def(t, 4, 8, 1).with_flags(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)),
            EINVAL,
            "{t}: both program access flags"
        );
        // Flags come before sizes: bad flags with max_entries 0 are EINVAL too,
        // but an LRU without prealloc is ENOTSUPP even with max_entries 0.
        assert_eq!(errno(def(t, 1 << 21, 1 << 21, 1)), E2BIG, "{t}: key+value");
        assert_eq!(errno(def(t, 4, u32::MAX, 1)), E2BIG, "{t}: huge value");
        assert!(create(def(t, 4, 8, 1).with_flags(BPF_F_ZERO_SEED | BPF_F_RDONLY_PROG)).is_ok());
        assert_eq!(
            errno(def(t, 4, 8, (1 << 31) + 1)),
            E2BIG,
            "{t}: max_entries > 2^31"
        );
    }
    for t in [MapType::Hash, MapType::PercpuHash] {
        assert!(create(def(t, 4, 8, 1).with_flags(BPF_F_NO_PREALLOC)).is_ok());
        assert_eq!(
            errno(def(t, 4, 8, 1).with_flags(BPF_F_NO_COMMON_LRU)),
            EINVAL
        );
    }
    for t in [MapType::LruHash, MapType::LruPercpuHash] {
        assert_eq!(
            errno(def(t, 4, 8, 0).with_flags(BPF_F_NO_PREALLOC)),
            ENOTSUPP
        );
        let map = create(def(t, 4, 8, 5).with_flags(BPF_F_NO_COMMON_LRU)).unwrap();
        assert_eq!(
            map.def().max_entries,
            8,
            "rounded up to a multiple of 4 CPUs"
        );
    }
    // Per-CPU values are bounded by the per-CPU allocator's unit.
    assert!(create(def(MapType::PercpuHash, 4, 32768, 1)).is_ok());
    assert_eq!(errno(def(MapType::PercpuHash, 4, 32769, 1)), E2BIG);
    assert!(create(def(MapType::Hash, 4, 32769, 1)).is_ok());
    assert_eq!(
        errno(def(MapType::PercpuHash, 4, 8, 1).with_flags(BPF_F_NUMA_NODE)),
        EINVAL
    );
}

#[test]
fn update_flags_and_their_order() {
    for t in [MapType::Hash, MapType::PercpuHash] {
        let map = create(def(t, 4, 4, 2)).unwrap();
        let v = vec![1u8; map.user_value_size()];
        let k = |i: u32| i.to_le_bytes();
        // Bad flags first, whatever the key's state.
        assert_eq!(map.update(&k(0), &v, 3).unwrap_err().errno(), EINVAL);
        assert_eq!(
            map.update(&k(0), &v, 4).unwrap_err().errno(),
            EINVAL,
            "BPF_F_LOCK without a lock"
        );
        assert_eq!(
            map.update(&k(0), &v, BPF_EXIST).unwrap_err().errno(),
            ENOENT
        );
        map.update(&k(0), &v, BPF_NOEXIST).unwrap();
        assert_eq!(
            map.update(&k(0), &v, BPF_NOEXIST).unwrap_err().errno(),
            EEXIST
        );
        map.update(&k(0), &v, BPF_EXIST).unwrap();
        map.update(&k(1), &v, BPF_ANY).unwrap();
        // Full: a new key is E2BIG (ANY and NOEXIST), but EXIST on a missing
        // key is still ENOENT and a present key can still be updated.
        assert_eq!(map.update(&k(2), &v, BPF_ANY).unwrap_err().errno(), E2BIG);
        assert_eq!(
            map.update(&k(2), &v, BPF_NOEXIST).unwrap_err().errno(),
            E2BIG
        );
        assert_eq!(
            map.update(&k(2), &v, BPF_EXIST).unwrap_err().errno(),
            ENOENT
        );
        assert_eq!(map.update(&k(2), &v, 7).unwrap_err().errno(), EINVAL);
        map.update(&k(1), &v, BPF_ANY).unwrap();
        // Delete frees the slot at once.
        assert_eq!(map.delete(&k(5)).unwrap_err().errno(), ENOENT);
        map.delete(&k(1)).unwrap();
        assert_eq!(map.lookup(&k(1)).unwrap_err().errno(), ENOENT);
        map.update(&k(2), &v, BPF_NOEXIST).unwrap();
        // Wrong lengths are EINVAL.
        assert_eq!(map.update(&[0; 3], &v, 0).unwrap_err().errno(), EINVAL);
        assert_eq!(map.update(&k(0), &v[1..], 0).unwrap_err().errno(), EINVAL);
    }
}

#[test]
fn values_round_trip_and_get_next_key_walks_every_key() {
    let map = create(def(MapType::Hash, 3, 5, 64)).unwrap();
    for i in 0u8..40 {
        map.update(&[i, 1, 2], &[i; 5], BPF_ANY).unwrap();
    }
    for i in 0u8..40 {
        assert_eq!(map.lookup(&[i, 1, 2]).unwrap(), vec![i; 5]);
    }
    let mut seen = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    loop {
        match map.get_next_key(key.as_deref()) {
            Ok(next) => {
                seen.push(next[0]);
                key = Some(next);
            }
            Err(e) => {
                assert_eq!(e.errno(), ENOENT);
                break;
            }
        }
    }
    seen.sort();
    assert_eq!(seen, (0u8..40).collect::<Vec<_>>());
    // A missing key restarts at the first key.
    let first = map.get_next_key(None).unwrap();
    assert_eq!(map.get_next_key(Some(&[99, 99, 99])).unwrap(), first);
    // The streaming iterator sees the same entries.
    let mut entries: Vec<_> = map.entries().collect();
    entries.sort();
    assert_eq!(entries.len(), 40);
    assert_eq!(entries[7], (vec![7, 1, 2], vec![7; 5]));
    // An empty map has no first key.
    let empty = create(def(MapType::Hash, 4, 4, 4)).unwrap();
    assert_eq!(empty.get_next_key(None).unwrap_err().errno(), ENOENT);
}

#[test]
fn lru_evicts_the_unreferenced_element_when_full() {
    let map = create(def(MapType::LruHash, 4, 8, 3)).unwrap();
    let k = |i: u32| i.to_le_bytes();
    for i in 0..3 {
        map.update(&k(i), &u64::from(i).to_le_bytes(), BPF_ANY)
            .unwrap();
    }
    // A program looks up key 0: it gets a second chance.
    assert!(map.lookup_for_program(&k(0), 0).is_some());
    // Same errnos below capacity: NOEXIST on a present key, EXIST on a missing.
    assert_eq!(
        map.update(&k(1), &[0; 8], BPF_NOEXIST).unwrap_err().errno(),
        EEXIST
    );
    assert_eq!(
        map.update(&k(9), &[0; 8], BPF_EXIST).unwrap_err().errno(),
        ENOENT
    );
    map.update(&k(3), &[3; 8], BPF_ANY).unwrap();
    assert_eq!(
        map.lookup(&k(1)).unwrap_err().errno(),
        ENOENT,
        "key 1 was evicted"
    );
    assert!(map.lookup(&k(0)).is_ok());
    assert!(map.lookup(&k(2)).is_ok());
    assert_eq!(map.lookup(&k(3)).unwrap(), [3; 8]);
    map.update(&k(4), &[4; 8], BPF_NOEXIST).unwrap();
    assert_eq!(map.entries().count(), 3);
}

#[test]
fn percpu_hash_user_format_and_program_writes() {
    let map = create(def(MapType::PercpuHash, 4, 4, 4)).unwrap();
    assert_eq!(map.user_value_size(), 4 * 8);
    let key = 7u32.to_le_bytes();
    let mut value = vec![0u8; 32];
    for cpu in 0..4 {
        value[cpu * 8..cpu * 8 + 4].copy_from_slice(&(cpu as u32 + 10).to_le_bytes());
        value[cpu * 8 + 4..cpu * 8 + 8].copy_from_slice(&[0xee; 4]); // padding ignored
    }
    map.update(&key, &value, BPF_ANY).unwrap();
    let back = map.lookup(&key).unwrap();
    for cpu in 0..4 {
        assert_eq!(back[cpu * 8..cpu * 8 + 4], (cpu as u32 + 10).to_le_bytes());
        assert_eq!(
            back[cpu * 8 + 4..cpu * 8 + 8],
            [0; 4],
            "padding reads as zero"
        );
    }
    assert_eq!(
        map.lookup_percpu(&key).unwrap(),
        (10u32..14)
            .map(|v| v.to_le_bytes().to_vec())
            .collect::<Vec<_>>()
    );
    // A program on CPU 2 updating a present key writes only its CPU.
    map.update_from_program(&key, &99u32.to_le_bytes(), BPF_ANY, 2)
        .unwrap();
    assert_eq!(
        map.lookup_percpu_elem(&key, 2).unwrap().unwrap(),
        99u32.to_le_bytes()
    );
    assert_eq!(
        map.lookup_percpu_elem(&key, 1).unwrap().unwrap(),
        11u32.to_le_bytes()
    );
    // A new element created by a program zeroes the other CPUs.
    map.delete(&key).unwrap();
    let other = 8u32.to_le_bytes();
    map.update(&other, &[0xff; 32], BPF_ANY).unwrap();
    map.delete(&other).unwrap();
    map.update_from_program(&key, &5u32.to_le_bytes(), BPF_NOEXIST, 1)
        .unwrap();
    let per_cpu = map.lookup_percpu(&key).unwrap();
    assert_eq!(per_cpu[1], 5u32.to_le_bytes());
    for cpu in [0, 2, 3] {
        assert_eq!(per_cpu[cpu], [0; 4], "cpu {cpu}");
    }
    // cpu >= possible CPUs: none.
    assert_eq!(map.lookup_percpu_elem(&key, 4).unwrap(), None);
    assert_eq!(map.lookup_percpu_for_program(&key, 4), None);
    assert!(map.lookup_percpu_for_program(&key, 3).is_some());
    // The program's offset is the same in every CPU's region.
    let offset = map.lookup_for_program(&key, 0).unwrap();
    for cpu in 0..4u32 {
        let (start, len) = map.program_region(cpu).unwrap();
        assert!(offset + 4 <= len);
        // SAFETY: inside the live region; read atomically.
        let got = unsafe { shared_mem::load(start.as_ptr().add(offset), 4) } as u32;
        assert_eq!(got, if cpu == 1 { 5 } else { 0 });
    }
    assert!(map.program_region(4).is_none());
    assert_eq!(
        map.update_from_program(&key, &[0; 4], BPF_ANY, 4)
            .unwrap_err()
            .errno(),
        EINVAL
    );
}

#[test]
fn program_pointers_stay_in_the_region_and_slots_are_stable() {
    let map = create(def(MapType::Hash, 8, 16, 100)).unwrap();
    let (start, len) = map.program_region(0).unwrap();
    assert_eq!(
        map.program_region(3).unwrap().0,
        start,
        "one region for every CPU"
    );
    let key = 42u64.to_le_bytes();
    map.update_from_program(&key, &[1; 16], BPF_ANY, 0).unwrap();
    let offset = map.lookup_for_program(&key, 0).unwrap();
    assert!(offset + 16 <= len);
    map.update(&key, &[2; 16], BPF_EXIST).unwrap();
    assert_eq!(
        map.lookup_for_program(&key, 0),
        Some(offset),
        "updates replace in place"
    );
    // SAFETY: `offset + 8 <= len` was asserted, so the load lies inside the
    // map's live program region, which is only accessed through shared_mem.
    let loaded = unsafe { shared_mem::load(start.as_ptr().add(offset), 8) };
    assert_eq!(loaded, 0x0202_0202_0202_0202);
    assert_eq!(map.lookup_for_program(&[0; 7], 0), None, "wrong key length");
    assert_eq!(map.delete_from_program(&key, 0), Ok(()));
    assert_eq!(
        map.delete_from_program(&key, 0).unwrap_err().errno(),
        ENOENT
    );
    let ro = create(def(MapType::Hash, 4, 4, 1).with_flags(BPF_F_RDONLY_PROG)).unwrap();
    assert_eq!(
        ro.update_from_program(&[0; 4], &[0; 4], 0, 0)
            .unwrap_err()
            .errno(),
        EPERM
    );
}

#[test]
fn zero_seed_maps_walk_in_the_same_order() {
    let order = || {
        let map = create(def(MapType::Hash, 4, 4, 16).with_flags(BPF_F_ZERO_SEED)).unwrap();
        for i in 0u32..10 {
            map.update(&i.to_le_bytes(), &[0; 4], BPF_ANY).unwrap();
        }
        map.entries().map(|(k, _)| k).collect::<Vec<_>>()
    };
    assert_eq!(order(), order());
}
