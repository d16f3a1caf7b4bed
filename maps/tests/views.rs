//! Memory-mapped views, freezing, and the reference a view holds on its map.

use std::sync::atomic::Ordering;

use tinybpf_maps::errno::*;
use tinybpf_maps::{
    ArrayMap, BPF_ANY, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapDef, MapError, PAGE_SIZE,
};

/// Additions per thread (fewer under Miri, which is slow).
const ADDS: u64 = if cfg!(miri) { 200 } else { 100_000 };

fn key(index: u32) -> [u8; 4] {
    index.to_le_bytes()
}

fn mmapable(value_size: u32, max_entries: u32) -> ArrayMap {
    ArrayMap::new(MapDef::array(value_size, max_entries).with_flags(BPF_F_MMAPABLE)).unwrap()
}

#[test]
fn non_mmapable_maps_refuse_views() {
    let map = ArrayMap::new(MapDef::array(8, 4)).unwrap();
    assert_eq!(map.view().unwrap_err(), MapError::NotMmapable);
    assert_eq!(map.view_mut().unwrap_err().errno(), EINVAL);
    assert_eq!(map.writable_view_count(), 0);
    map.freeze().unwrap();
    assert_eq!(
        map.view_mut().unwrap_err().errno(),
        EPERM,
        "frozen is checked first, as in bpf_map_mmap"
    );
    assert_eq!(map.view().unwrap_err().errno(), EINVAL);
}

#[test]
fn views_are_zero_copy_and_page_aligned() {
    let map = mmapable(12, 3);
    let view = map.view().unwrap();
    assert_eq!(view.as_ptr(), map.value_area_ptr());
    assert_eq!(view.as_ptr().as_ptr() as usize % PAGE_SIZE, 0);
    assert_eq!(view.len(), 48);
    assert!(!view.is_empty());
    map.update(&key(2), &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], BPF_ANY)
        .unwrap();
    assert_eq!(view.load_u8(32), Some(1));
    assert_eq!(view.load_u16(33), Some(0x0302), "unaligned");
    assert_eq!(view.load_u32(32), Some(0x0403_0201));
    assert_eq!(view.load_u64(32), Some(0x0807_0605_0403_0201));
    assert_eq!(view.load_u64(36), Some(0x0c0b_0a09_0807_0605), "unaligned");
    assert_eq!(view.load_u64(40), Some(0x0c0b_0a09), "padding reads zero");
    assert_eq!(view.element(2).unwrap(), (1..=12).collect::<Vec<u8>>());
    assert_eq!(view.element(3), None);
    // Bounds: the last byte is readable, one past is not.
    assert_eq!(view.load_u8(47), Some(0));
    assert_eq!(view.load_u8(48), None);
    assert_eq!(view.load_u64(41), None);
    assert_eq!(view.load_u64(usize::MAX), None);
    let mut buf = [0u8; 4];
    assert_eq!(view.read(44, &mut buf), Some(()));
    assert_eq!(view.read(45, &mut buf), None);
}

#[test]
fn writable_views_write_what_lookup_reads() {
    let map = mmapable(8, 4);
    let view = map.view_mut().unwrap();
    assert_eq!(map.writable_view_count(), 1);
    view.store_u64(8, 0x1122_3344_5566_7788).unwrap();
    assert_eq!(
        map.lookup(&key(1)).unwrap(),
        0x1122_3344_5566_7788u64.to_le_bytes()
    );
    view.store_u32(16, 7).unwrap();
    view.store_u16(20, 0x0908).unwrap();
    view.store_u8(23, 0xff).unwrap();
    assert_eq!(map.lookup(&key(2)).unwrap(), [7, 0, 0, 0, 8, 9, 0, 0xff]);
    view.write(27, &[1, 2, 3]).unwrap();
    assert_eq!(map.lookup(&key(3)).unwrap(), [0, 0, 0, 1, 2, 3, 0, 0]);
    assert_eq!(view.store_u64(25, 1), None, "out of bounds");
    assert_eq!(view.write(30, &[1, 2, 3]), None);
    assert_eq!(
        map.lookup(&key(3)).unwrap(),
        [0, 0, 0, 1, 2, 3, 0, 0],
        "refused writes write nothing"
    );
    assert_eq!(view.fetch_add_u64(0, 5), Some(0));
    assert_eq!(view.fetch_add_u64(0, 5), Some(5));
    assert_eq!(view.fetch_add_u64(4, 5), None, "misaligned");
    assert_eq!(view.fetch_add_u64(32, 5), None, "out of bounds");
    assert_eq!(view.as_atomic_bytes().len(), 32);
    assert_eq!(view.as_atomic_u32s().len(), 8);
    assert_eq!(view.as_atomic_u64s().len(), 4);
    assert_eq!(view.as_atomic_u64s()[0].load(Ordering::Relaxed), 10);
    view.element_u64s(3).unwrap()[0].store(0, Ordering::Relaxed);
    assert_eq!(map.lookup(&key(3)).unwrap(), [0; 8]);
    assert!(view.element_u64s(4).is_none());
    // Reads through the writable view's read-only side.
    assert_eq!(view.load_u64(0), Some(10));
    let read_only = view.to_read_only();
    drop(view);
    assert_eq!(map.writable_view_count(), 0);
    assert_eq!(read_only.load_u64(0), Some(10));
}

#[test]
fn freeze_busy_and_perm_sequence() {
    let map = mmapable(8, 1);
    let first = map.view_mut().unwrap();
    let second = map.view_mut().unwrap();
    let third = first.clone();
    assert_eq!(map.writable_view_count(), 3);
    assert_eq!(
        map.freeze().unwrap_err(),
        MapError::WritableViewsAlive { count: 3 }
    );
    assert!(!map.is_frozen());
    drop(first);
    drop(second);
    assert_eq!(
        map.freeze().unwrap_err().errno(),
        EBUSY,
        "one writable view left"
    );
    // A read-only view does not block freezing.
    let read_only = map.view().unwrap();
    drop(third);
    assert_eq!(map.writable_view_count(), 0);
    map.freeze().unwrap();
    assert!(map.is_frozen());
    assert_eq!(
        map.view_mut().unwrap_err(),
        MapError::Frozen {
            operation: "create a writable view of"
        }
    );
    assert_eq!(map.view_mut().unwrap_err().errno(), EPERM);
    assert_eq!(
        map.update(&key(0), &[1; 8], BPF_ANY).unwrap_err().errno(),
        EPERM
    );
    // Programs still write, and read-only views (old and new) see it.
    map.update_from_program(&key(0), &5u64.to_le_bytes(), BPF_ANY)
        .unwrap();
    assert_eq!(read_only.load_u64(0), Some(5));
    assert_eq!(map.view().unwrap().load_u64(0), Some(5));
}

#[test]
fn frozen_read_only_for_programs_map_is_immutable() {
    let map =
        ArrayMap::new(MapDef::array(8, 1).with_flags(BPF_F_MMAPABLE | BPF_F_RDONLY_PROG)).unwrap();
    map.update(&key(0), &3u64.to_le_bytes(), BPF_ANY).unwrap();
    map.freeze().unwrap();
    assert_eq!(
        map.update(&key(0), &[0; 8], BPF_ANY).unwrap_err().errno(),
        EPERM
    );
    assert_eq!(
        map.update_from_program(&key(0), &[0; 8], BPF_ANY)
            .unwrap_err()
            .errno(),
        EPERM
    );
    assert_eq!(map.view_mut().unwrap_err().errno(), EPERM);
    assert_eq!(map.view().unwrap().load_u64(0), Some(3));
}

#[test]
fn a_view_keeps_the_map_alive() {
    let map = mmapable(8, 512);
    let writable = map.view_mut().unwrap();
    let read_only = map.view().unwrap();
    let address = map.value_area_ptr();
    drop(map);
    // The last handle is gone; the views still own the memory.
    writable.store_u64(8 * 511, 77).unwrap();
    assert_eq!(read_only.load_u64(8 * 511), Some(77));
    assert_eq!(writable.as_ptr(), address);
    let handle = read_only.map().clone();
    drop(writable);
    handle.freeze().unwrap();
    drop(handle);
    assert!(read_only.map().is_frozen());
    assert_eq!(read_only.load_u64(8 * 511), Some(77));
}

#[test]
fn two_threads_add_atomically_through_a_view() {
    let map = mmapable(8, 1);
    let view = map.view_mut().unwrap();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let view = view.clone();
            scope.spawn(move || {
                let counter = &view.as_atomic_u64s()[0];
                for _ in 0..ADDS {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(map.writable_view_count(), 1, "the clones were dropped");
    assert_eq!(map.lookup(&key(0)).unwrap(), (2 * ADDS).to_le_bytes());
}
