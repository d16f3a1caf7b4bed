//! Every rule of the array patch, through the public API.

use tinybpf_maps::errno::*;
use tinybpf_maps::{
    ArrayMap, BPF_ANY, BPF_EXIST, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG,
    BPF_MAP_TYPE_ARRAY, BPF_NOEXIST, MAX_VALUE_SIZE, MapDef, MapError, PAGE_SIZE, shared_mem,
};

/// Additions per thread (fewer under Miri, which is slow).
const ADDS: u64 = if cfg!(miri) { 200 } else { 100_000 };

fn key(index: u32) -> [u8; 4] {
    index.to_le_bytes()
}

fn errno_of<T: std::fmt::Debug>(result: Result<T, MapError>) -> i32 {
    result.unwrap_err().errno()
}

#[test]
fn constants_have_the_kernel_values() {
    assert_eq!(BPF_MAP_TYPE_ARRAY, 2);
    assert_eq!((BPF_ANY, BPF_NOEXIST, BPF_EXIST), (0, 1, 2));
    assert_eq!(
        (BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_F_MMAPABLE),
        (0x80, 0x100, 0x400)
    );
}

#[test]
fn creation_errors() {
    let ok = MapDef::array(8, 4);
    assert_eq!(
        errno_of(ArrayMap::new(MapDef { map_type: 1, ..ok })),
        EINVAL
    );
    assert_eq!(
        errno_of(ArrayMap::new(MapDef { map_type: 6, ..ok })),
        EINVAL
    );
    assert_eq!(
        errno_of(ArrayMap::new(MapDef {
            max_entries: 0,
            ..ok
        })),
        EINVAL
    );
    assert_eq!(
        errno_of(ArrayMap::new(MapDef { key_size: 8, ..ok })),
        EINVAL
    );
    assert_eq!(
        errno_of(ArrayMap::new(MapDef { key_size: 2, ..ok })),
        EINVAL
    );
    assert_eq!(
        errno_of(ArrayMap::new(MapDef {
            value_size: 0,
            ..ok
        })),
        EINVAL
    );
    assert_eq!(errno_of(ArrayMap::new(ok.with_flags(1 << 2))), EINVAL);
    assert_eq!(
        errno_of(ArrayMap::new(
            ok.with_flags(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)
        )),
        EINVAL
    );
    assert_eq!(
        errno_of(ArrayMap::new(MapDef::array(MAX_VALUE_SIZE + 1, 1))),
        E2BIG
    );
    assert_eq!(
        ArrayMap::new(MapDef { map_type: 1, ..ok }).unwrap_err(),
        MapError::UnsupportedMapType { map_type: 1 }
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot model a failing allocation")]
fn a_map_too_large_to_allocate_is_enomem_not_a_panic() {
    // 4 MiB values times 2^32 - 1 entries: 2^54 bytes, beyond any address space.
    let error = ArrayMap::new(MapDef::array(MAX_VALUE_SIZE, u32::MAX)).unwrap_err();
    assert_eq!(error.errno(), ENOMEM, "{error}");
    let error = ArrayMap::new(MapDef::array(MAX_VALUE_SIZE, u32::MAX).with_flags(BPF_F_MMAPABLE))
        .unwrap_err();
    assert_eq!(error.errno(), ENOMEM, "{error}");
}

#[test]
fn elements_round_up_to_eight_bytes() {
    for (value_size, elem_size) in [
        (1, 8),
        (5, 8),
        (8, 8),
        (9, 16),
        (12, 16),
        (16, 16),
        (17, 24),
    ] {
        let map = ArrayMap::new(MapDef::array(value_size, 3)).unwrap();
        assert_eq!(map.elem_size(), elem_size, "value_size {value_size}");
        assert_eq!(map.value_area_len(), 3 * elem_size);
        assert_eq!(map.element_offset(0), Some(0));
        assert_eq!(map.element_offset(2), Some(2 * elem_size));
        assert_eq!(map.element_offset(3), None);
        assert_eq!(map.element_offset(u32::MAX), None);
    }
}

#[test]
fn values_are_zeroed_aligned_and_never_move() {
    for flags in [0, BPF_F_MMAPABLE] {
        let map = ArrayMap::new(MapDef::array(12, 100).with_flags(flags)).unwrap();
        let start = map.value_area_ptr();
        assert_eq!(start.as_ptr() as usize % 8, 0);
        assert_eq!(
            start.as_ptr() as usize % PAGE_SIZE,
            0,
            "page-aligned, flags {flags:#x}"
        );
        let mut all = vec![0xffu8; map.value_area_len()];
        // SAFETY: the value area is value_area_len bytes, accessed atomically.
        unsafe { shared_mem::copy_out(start.as_ptr(), &mut all) };
        assert!(all.iter().all(|&b| b == 0), "zero-initialised");
        let element_5 = map.element_ptr(5).unwrap();
        for i in 0..100 {
            map.update(&key(i), &[i as u8; 12], BPF_ANY).unwrap();
        }
        let clone = map.clone();
        drop(map);
        assert_eq!(clone.value_area_ptr(), start);
        assert_eq!(clone.element_ptr(5), Some(element_5));
        // SAFETY: element 5 is inside the live map.
        assert_eq!(unsafe { shared_mem::load(element_5.as_ptr(), 1) }, 5);
    }
}

#[test]
fn lookup_boundaries_and_key_length() {
    let map = ArrayMap::new(MapDef::array(8, 10)).unwrap();
    assert_eq!(map.lookup(&key(9)).unwrap(), vec![0; 8]);
    assert_eq!(
        map.lookup(&key(10)).unwrap_err(),
        MapError::NoSuchElement {
            index: 10,
            max_entries: 10
        }
    );
    assert_eq!(errno_of(map.lookup(&key(10))), ENOENT);
    assert_eq!(errno_of(map.lookup(&key(u32::MAX))), ENOENT);
    assert_eq!(errno_of(map.lookup(&[0, 0, 0])), EINVAL);
    assert_eq!(errno_of(map.lookup(&[0; 8])), EINVAL);
    assert_eq!(errno_of(map.lookup(&[])), EINVAL);
    let mut short = [0u8; 7];
    assert_eq!(errno_of(map.lookup_into(&key(0), &mut short)), EINVAL);
    let mut exact = [1u8; 8];
    map.lookup_into(&key(9), &mut exact).unwrap();
    assert_eq!(exact, [0; 8]);
    assert_eq!(
        map.index_of(&[1, 2, 0, 0]).unwrap(),
        0x0201,
        "the key is a little-endian u32"
    );
    assert_eq!(
        map.index_of(&[1, 2]).unwrap_err(),
        MapError::KeyLength {
            expected: 4,
            actual: 2
        }
    );
}

#[test]
fn update_errors_in_the_patch_order() {
    let map = ArrayMap::new(MapDef::array(8, 10)).unwrap();
    let value = 7u64.to_le_bytes();
    // Unknown flags win over an out-of-range index.
    assert_eq!(
        map.update(&key(10), &value, 3).unwrap_err(),
        MapError::UnknownUpdateFlags { flags: 3 }
    );
    assert_eq!(errno_of(map.update(&key(0), &value, u64::MAX)), EINVAL);
    // An out-of-range index wins over BPF_NOEXIST.
    assert_eq!(
        map.update(&key(10), &value, BPF_NOEXIST).unwrap_err(),
        MapError::IndexTooBig {
            index: 10,
            max_entries: 10
        }
    );
    assert_eq!(errno_of(map.update(&key(10), &value, BPF_ANY)), E2BIG);
    assert_eq!(errno_of(map.update(&key(10), &value, BPF_EXIST)), E2BIG);
    assert_eq!(errno_of(map.update(&key(u32::MAX), &value, BPF_ANY)), E2BIG);
    // Every element exists.
    assert_eq!(
        map.update(&key(9), &value, BPF_NOEXIST).unwrap_err(),
        MapError::ElementExists { index: 9 }
    );
    assert_eq!(
        map.lookup(&key(9)).unwrap(),
        vec![0; 8],
        "a refused update writes nothing"
    );
    // Lengths.
    assert_eq!(errno_of(map.update(&[0; 3], &value, BPF_ANY)), EINVAL);
    assert_eq!(
        map.update(&key(0), &[1; 9], BPF_ANY).unwrap_err(),
        MapError::ValueLength {
            expected: 8,
            actual: 9
        }
    );
    assert_eq!(errno_of(map.update(&key(0), &[1; 7], BPF_ANY)), EINVAL);
    // Successes at the last index.
    map.update(&key(9), &value, BPF_ANY).unwrap();
    assert_eq!(map.lookup(&key(9)).unwrap(), value);
    map.update(&key(9), &8u64.to_le_bytes(), BPF_EXIST).unwrap();
    assert_eq!(map.lookup(&key(9)).unwrap(), 8u64.to_le_bytes());
    assert_eq!(
        map.lookup(&key(8)).unwrap(),
        vec![0; 8],
        "neighbour untouched"
    );
}

#[test]
fn updates_of_odd_sizes_keep_padding_and_neighbours() {
    for value_size in [5u32, 12, 13] {
        let map = ArrayMap::new(MapDef::array(value_size, 3)).unwrap();
        let value: Vec<u8> = (1..=value_size as u8).collect();
        map.update(&key(1), &value, BPF_ANY).unwrap();
        assert_eq!(map.lookup(&key(1)).unwrap(), value);
        assert_eq!(map.lookup(&key(0)).unwrap(), vec![0; value_size as usize]);
        assert_eq!(map.lookup(&key(2)).unwrap(), vec![0; value_size as usize]);
        let mut area = vec![0u8; map.value_area_len()];
        // SAFETY: the whole value area, accessed atomically.
        unsafe { shared_mem::copy_out(map.value_area_ptr().as_ptr(), &mut area) };
        let element = &area[map.elem_size()..2 * map.elem_size()];
        assert_eq!(&element[..value_size as usize], &value[..]);
        assert!(
            element[value_size as usize..].iter().all(|&b| b == 0),
            "padding stays zero"
        );
    }
}

#[test]
fn delete_is_einval_and_eperm_when_frozen() {
    let map = ArrayMap::new(MapDef::array(8, 2)).unwrap();
    assert_eq!(
        map.delete(&key(0)).unwrap_err(),
        MapError::DeleteUnsupported
    );
    assert_eq!(errno_of(map.delete(&key(5))), EINVAL);
    assert_eq!(
        map.delete(&[0; 2]).unwrap_err(),
        MapError::KeyLength {
            expected: 4,
            actual: 2
        }
    );
    assert_eq!(errno_of(map.delete_from_program(&key(1))), EINVAL);
    map.freeze().unwrap();
    assert_eq!(
        errno_of(map.delete(&key(0))),
        EPERM,
        "the syscall checks write permission first"
    );
    assert_eq!(
        errno_of(map.delete_from_program(&key(0))),
        EINVAL,
        "the helper reaches the array"
    );
}

#[test]
fn get_next_key_walks_the_indexes() {
    let map = ArrayMap::new(MapDef::array(4, 3)).unwrap();
    assert_eq!(map.get_next_key(None), Ok(0));
    assert_eq!(map.get_next_key(Some(&key(0))), Ok(1));
    assert_eq!(map.get_next_key(Some(&key(1))), Ok(2));
    assert_eq!(
        map.get_next_key(Some(&key(2))),
        Err(MapError::NoNextKey { index: 2 })
    );
    assert_eq!(errno_of(map.get_next_key(Some(&key(2)))), ENOENT);
    assert_eq!(
        map.get_next_key(Some(&key(3))),
        Ok(0),
        "out of range restarts"
    );
    assert_eq!(map.get_next_key(Some(&key(u32::MAX))), Ok(0));
    assert_eq!(errno_of(map.get_next_key(Some(&[0; 5]))), EINVAL);
    let single = ArrayMap::new(MapDef::array(4, 1)).unwrap();
    assert_eq!(errno_of(single.get_next_key(Some(&key(0)))), ENOENT);
    // Walking from None visits every index once.
    let mut seen = vec![];
    let mut next = map.get_next_key(None);
    while let Ok(index) = next {
        seen.push(index);
        next = map.get_next_key(Some(&key(index)));
    }
    assert_eq!(seen, [0, 1, 2]);
}

#[test]
fn frozen_maps_refuse_user_updates_but_not_programs() {
    let map = ArrayMap::new(MapDef::array(8, 2)).unwrap();
    assert!(!map.is_frozen());
    map.freeze().unwrap();
    assert!(map.is_frozen());
    assert_eq!(
        map.update(&key(0), &[1; 8], BPF_ANY).unwrap_err(),
        MapError::Frozen {
            operation: "update"
        }
    );
    assert_eq!(errno_of(map.update(&key(0), &[1; 8], BPF_ANY)), EPERM);
    // Frozen is checked before anything else, as the syscall does.
    assert_eq!(errno_of(map.update(&key(99), &[1; 3], 7)), EPERM);
    map.update_from_program(&key(0), &[1; 8], BPF_ANY).unwrap();
    assert_eq!(
        map.lookup(&key(0)).unwrap(),
        vec![1; 8],
        "user space still reads"
    );
    assert_eq!(
        errno_of(map.update_from_program(&key(2), &[1; 8], BPF_ANY)),
        E2BIG
    );
    assert_eq!(
        errno_of(map.update_from_program(&key(0), &[1; 8], BPF_NOEXIST)),
        EEXIST
    );
    assert_eq!(
        errno_of(map.update_from_program(&key(0), &[1; 8], 3)),
        EINVAL
    );
    assert_eq!(map.freeze().unwrap_err(), MapError::AlreadyFrozen);
    assert_eq!(errno_of(map.freeze()), EBUSY);
}

#[test]
fn read_only_for_programs() {
    let map = ArrayMap::new(MapDef::array(8, 2).with_flags(BPF_F_RDONLY_PROG)).unwrap();
    assert!(map.is_rdonly_prog());
    assert!(!map.is_wronly_prog());
    assert_eq!(
        map.update_from_program(&key(0), &[1; 8], BPF_ANY)
            .unwrap_err(),
        MapError::ReadOnlyForPrograms
    );
    assert_eq!(
        errno_of(map.update_from_program(&key(0), &[1; 8], BPF_ANY)),
        EPERM
    );
    map.update(&key(0), &[1; 8], BPF_ANY).unwrap();
    let writable = ArrayMap::new(MapDef::array(8, 2).with_flags(BPF_F_WRONLY_PROG)).unwrap();
    assert!(!writable.is_rdonly_prog());
    assert!(writable.is_wronly_prog());
    writable
        .update_from_program(&key(0), &[1; 8], BPF_ANY)
        .unwrap();
}

#[test]
fn clones_share_one_map() {
    let map = ArrayMap::new(MapDef::array(8, 2)).unwrap();
    let other = map.clone();
    assert!(map.same_map(&other));
    assert!(!map.same_map(&ArrayMap::new(MapDef::array(8, 2)).unwrap()));
    other.update(&key(1), &[3; 8], BPF_ANY).unwrap();
    assert_eq!(map.lookup(&key(1)).unwrap(), vec![3; 8]);
    other.freeze().unwrap();
    assert!(map.is_frozen());
    assert_eq!(map.def(), &MapDef::array(8, 2));
}

#[test]
fn entries_lists_every_index_in_order() {
    let map = ArrayMap::new(MapDef::array(5, 3)).unwrap();
    map.update(&key(2), &[9, 8, 7, 6, 5], BPF_ANY).unwrap();
    let entries: Vec<_> = map.entries().collect();
    assert_eq!(
        entries,
        vec![(0, vec![0; 5]), (1, vec![0; 5]), (2, vec![9, 8, 7, 6, 5])]
    );
}

#[test]
fn maps_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ArrayMap>();
    assert_send_sync::<tinybpf_maps::MapView>();
    assert_send_sync::<tinybpf_maps::MapViewMut>();
}

#[test]
fn concurrent_user_updates_and_program_style_atomics() {
    // Two threads: one adds with shared_mem::fetch_add through the element
    // pointer (as the VM does), one through user updates of another element.
    let map = ArrayMap::new(MapDef::array(16, 2)).unwrap();
    let adder = map.clone();
    let writer = map.clone();
    let t1 = std::thread::spawn(move || {
        let ptr = adder.element_ptr(0).unwrap();
        for _ in 0..ADDS {
            // SAFETY: element 0 is 16 bytes inside the live map, 8-aligned.
            unsafe { shared_mem::fetch_add(ptr.as_ptr(), 8, 1) }.unwrap();
        }
    });
    let t2 = std::thread::spawn(move || {
        let ptr = writer.element_ptr(0).unwrap();
        for i in 0..ADDS {
            // SAFETY: as above.
            unsafe { shared_mem::fetch_add(ptr.as_ptr(), 8, 1) }.unwrap();
            let mut value = [0u8; 16];
            value[..8].copy_from_slice(&i.to_le_bytes());
            writer.update(&key(1), &value, BPF_ANY).unwrap();
        }
    });
    t1.join().unwrap();
    t2.join().unwrap();
    assert_eq!(map.lookup(&key(0)).unwrap()[..8], (2 * ADDS).to_le_bytes());
    assert_eq!(map.lookup(&key(1)).unwrap()[..8], (ADDS - 1).to_le_bytes());
}

#[test]
fn arrays_of_4_gib_or_more_are_enomem_as_in_the_kernel_and_large_ones_are_lazy() {
    // 2^29 entries of 8 bytes: exactly 4 GiB -> refused before any allocation.
    let too_big = ArrayMap::new(MapDef::array(8, 1 << 29)).unwrap_err();
    assert_eq!(too_big.errno(), tinybpf_maps::errno::ENOMEM);
    // 1 GiB is created at once and costs nothing until written.
    let big = ArrayMap::new(MapDef::array(8, 1 << 27)).unwrap();
    let last = ((1u32 << 27) - 1).to_le_bytes();
    big.update(&last, &7u64.to_le_bytes(), 0).unwrap();
    assert_eq!(big.lookup(&last).unwrap(), 7u64.to_le_bytes());
}
