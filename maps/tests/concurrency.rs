//! Several threads at once: no torn aligned fields in user-space copies,
//! freeze against in-flight writes, per-CPU totals, hash churn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

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

/// A writer alternates two patterns in every aligned field of a 14-byte
/// value (an 8-byte, a 4-byte and a 2-byte field) through the program
/// path; user-space reads must always see one pattern or the other in each
/// field, never a mix of bytes.
#[test]
fn user_space_copies_never_tear_aligned_u64_u32_u16() {
    let map = BpfMap::create(def(MapType::Array, 4, 14, 1), &MapOptions::with_cpus(2)).unwrap();
    let key = 0u32.to_le_bytes();
    let pattern = |b: u8| [b; 14];
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let map = map.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) && i < 4_000_000 {
                let b = if i.is_multiple_of(2) { 0x00 } else { 0xff };
                map.update_from_program(&key, &pattern(b), BPF_ANY, 0)
                    .unwrap();
                i += 1;
            }
        })
    };
    let mut value = [0u8; 14];
    for _ in 0..300_000 {
        map.lookup_into(&key, &mut value).unwrap();
        for field in [&value[0..8], &value[8..12], &value[12..14]] {
            assert!(
                field.iter().all(|&b| b == field[0]),
                "torn field {field:02x?} in {value:02x?}"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

/// Once `freeze` returns Ok, no user-space update lands any more: the value
/// read right after a successful freeze is the final one.
#[test]
fn freeze_never_succeeds_while_an_update_is_landing() {
    for map_type in [MapType::Array, MapType::Hash] {
        for _round in 0..20 {
            let map = BpfMap::create(def(map_type, 4, 8, 1), &MapOptions::with_cpus(2)).unwrap();
            let key = 0u32.to_le_bytes();
            map.update(&key, &0u64.to_le_bytes(), BPF_ANY).unwrap();
            let writer = {
                let map = map.clone();
                thread::spawn(move || {
                    let mut landed = 0u64;
                    for i in 1..=20_000u64 {
                        match map.update(&key, &i.to_le_bytes(), BPF_ANY) {
                            Ok(()) => landed = i,
                            Err(e) => assert_eq!(e.errno(), errno::EPERM),
                        }
                    }
                    landed
                })
            };
            let mut after_freeze = None;
            for _ in 0..1_000_000 {
                match map.freeze() {
                    Ok(()) => {
                        after_freeze = Some(map.lookup(&key).unwrap());
                        break;
                    }
                    Err(e) => assert_eq!(e.errno(), errno::EBUSY),
                }
            }
            let last_landed = writer.join().unwrap();
            if map.freeze().is_ok() {
                continue; // The writer finished before any freeze won.
            }
            let after_freeze = after_freeze.unwrap_or_else(|| map.lookup(&key).unwrap());
            assert_eq!(
                after_freeze,
                map.lookup(&key).unwrap(),
                "{map_type}: a write landed after freeze"
            );
            assert_eq!(after_freeze, last_landed.to_le_bytes());
        }
    }
}

/// Four threads, each its own CPU, add to a per-CPU counter through their
/// region; the per-CPU values and their sum are exact.
#[test]
fn four_cpus_count_exactly_in_a_percpu_array() {
    let map = BpfMap::create(
        def(MapType::PercpuArray, 4, 8, 4),
        &MapOptions::with_cpus(4),
    )
    .unwrap();
    let threads: Vec<_> = (0..4u32)
        .map(|cpu| {
            let map = map.clone();
            thread::spawn(move || {
                let key = 2u32.to_le_bytes();
                let offset = map.lookup_for_program(&key, cpu).unwrap();
                let (start, _) = map.program_region(cpu).unwrap();
                for _ in 0..100_000 * (cpu as u64 + 1) {
                    // A program's non-atomic increment: safe only because
                    // no other thread shares this CPU's slice.
                    // SAFETY: inside the live region, accessed atomically.
                    unsafe {
                        let at = start.as_ptr().add(offset);
                        shared_mem::store(at, 8, shared_mem::load(at, 8) + 1);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let values = map.lookup_percpu(&2u32.to_le_bytes()).unwrap();
    let counts: Vec<u64> = values
        .iter()
        .map(|v| u64::from_le_bytes(v[..8].try_into().unwrap()))
        .collect();
    assert_eq!(counts, [100_000, 200_000, 300_000, 400_000]);
    assert_eq!(counts.iter().sum::<u64>(), 1_000_000);
}

/// Four threads insert, update, look up and delete their own keys in one
/// hash map (as programs and as user space); the final state is exact.
#[test]
fn four_threads_churn_one_hash_map() {
    let map = BpfMap::create(def(MapType::Hash, 8, 8, 256), &MapOptions::with_cpus(4)).unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let map = map.clone();
            thread::spawn(move || {
                for round in 0..2_000u64 {
                    for i in 0..32u64 {
                        let key = (t << 32 | i).to_le_bytes();
                        let value = (round * 100 + i).to_le_bytes();
                        if (round + i) % 2 == 0 {
                            map.update(&key, &value, BPF_ANY).unwrap();
                        } else {
                            map.update_from_program(&key, &value, BPF_ANY, t as u32)
                                .unwrap();
                        }
                        assert_eq!(map.lookup(&key).unwrap(), value);
                        assert!(map.lookup_for_program(&key, t as u32).is_some());
                        if i % 4 == 0 && round != 1_999 {
                            map.delete(&key).unwrap();
                            assert_eq!(map.delete(&key).unwrap_err().errno(), errno::ENOENT);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut entries: Vec<_> = map.entries().collect();
    entries.sort();
    assert_eq!(
        entries.len(),
        4 * 32,
        "every key present after the last round"
    );
    for (key, value) in entries {
        let i = u64::from_le_bytes(key.try_into().unwrap()) & 0xffff_ffff;
        assert_eq!(
            u64::from_le_bytes(value.try_into().unwrap()),
            1_999 * 100 + i
        );
    }
}

/// A reader walks a hash map while writers churn it: the walk ends and
/// never yields a key that was never inserted.
#[test]
fn walking_a_changing_hash_map_terminates() {
    let map = BpfMap::create(def(MapType::LruHash, 4, 4, 64), &MapOptions::with_cpus(2)).unwrap();
    let writer = {
        let map = map.clone();
        thread::spawn(move || {
            for i in 0..50_000u32 {
                let key = (i % 200).to_le_bytes();
                map.update_from_program(&key, &key, BPF_ANY, 0).unwrap();
            }
        })
    };
    for _ in 0..200 {
        for (key, value) in map.entries() {
            assert!(u32::from_le_bytes(key.clone().try_into().unwrap()) < 200);
            // A slot's value may be rewritten while the walk copies it; keys
            // and values are then from the same or a later element.
            assert_eq!(value.len(), 4);
        }
    }
    writer.join().unwrap();
    assert_eq!(map.entries().count(), 64);
}
