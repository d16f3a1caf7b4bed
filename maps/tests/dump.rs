//! Snapshots of the dump format.

use tinybpf_maps::{ArrayMap, BPF_ANY, DumpOptions, MapDef};

fn key(index: u32) -> [u8; 4] {
    index.to_le_bytes()
}

#[test]
fn dump_all_entries() {
    let map = ArrayMap::new(MapDef::array(8, 4)).unwrap();
    map.update(&key(0), &1u64.to_le_bytes(), BPF_ANY).unwrap();
    map.update(&key(3), &u64::MAX.to_le_bytes(), BPF_ANY)
        .unwrap();
    insta::assert_snapshot!(map.dump(DumpOptions::default()));
}

#[test]
fn dump_nonzero_only_with_wide_keys_and_long_values() {
    let map = ArrayMap::new(MapDef::array(20, 1200)).unwrap();
    let value: Vec<u8> = (1..=20).collect();
    map.update(&key(7), &value, BPF_ANY).unwrap();
    map.update(&key(1199), &[0xab; 20], BPF_ANY).unwrap();
    insta::assert_snapshot!(map.dump(DumpOptions { nonzero_only: true }));
}

#[test]
fn dump_nonzero_only_of_an_all_zero_map() {
    let map = ArrayMap::new(MapDef::array(3, 2)).unwrap();
    insta::assert_snapshot!(map.dump(DumpOptions { nonzero_only: true }));
}
