//! Hash map lookups and updates from the program side, and the array lookup
//! path for comparison.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tinybpf_maps::{BPF_ANY, BpfMap, MapDef, MapOptions, MapType};

fn hash_map(key_size: u32, entries: u32) -> BpfMap {
    let def = MapDef {
        map_type: MapType::Hash.as_u32(),
        key_size,
        value_size: 8,
        max_entries: entries,
        map_flags: 0,
    };
    BpfMap::create(def, &MapOptions::with_cpus(1)).unwrap()
}

fn bench(c: &mut Criterion) {
    let map = hash_map(4, 10_000);
    for i in 0u32..10_000 {
        map.update(&i.to_le_bytes(), &u64::from(i).to_le_bytes(), BPF_ANY)
            .unwrap();
    }
    let mut i = 0u32;
    c.bench_function("hash u32 key: lookup_for_program (hit)", |b| {
        b.iter(|| {
            i = (i + 7919) % 10_000;
            black_box(map.lookup_for_program(black_box(&i.to_le_bytes()), 0))
        })
    });
    c.bench_function("hash u32 key: lookup_for_program (miss)", |b| {
        b.iter(|| black_box(map.lookup_for_program(black_box(&20_000u32.to_le_bytes()), 0)))
    });
    c.bench_function("hash u32 key: update_from_program (existing)", |b| {
        b.iter(|| {
            i = (i + 7919) % 10_000;
            map.update_from_program(&i.to_le_bytes(), &[1; 8], BPF_ANY, 0)
                .unwrap()
        })
    });
    c.bench_function("hash u32 key: insert + delete", |b| {
        b.iter(|| {
            let key = 50_000u32.to_le_bytes();
            map.delete(&9_999u32.to_le_bytes()).ok();
            map.update_from_program(&key, &[1; 8], BPF_ANY, 0).unwrap();
            map.delete_from_program(&key, 0).unwrap();
            map.update(&9_999u32.to_le_bytes(), &[0; 8], BPF_ANY)
                .unwrap();
        })
    });
    let five_tuple = hash_map(16, 10_000);
    let mut key = [0u8; 16];
    for i in 0u32..10_000 {
        key[..4].copy_from_slice(&i.to_le_bytes());
        five_tuple.update(&key, &[0; 8], BPF_ANY).unwrap();
    }
    c.bench_function("hash 16-byte key: lookup_for_program (hit)", |b| {
        b.iter(|| {
            i = (i + 7919) % 10_000;
            key[..4].copy_from_slice(&i.to_le_bytes());
            black_box(five_tuple.lookup_for_program(black_box(&key), 0))
        })
    });
    let array = BpfMap::create(MapDef::array(8, 10_000), &MapOptions::with_cpus(1)).unwrap();
    c.bench_function("array: lookup_for_program", |b| {
        b.iter(|| {
            i = (i + 7919) % 10_000;
            black_box(array.lookup_for_program(black_box(&i.to_le_bytes()), 0))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
