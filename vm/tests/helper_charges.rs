//! Each built-in helper charges the budget in proportion to its work: the
//! bytes it copies, hashes or formats, one unit per 8 (rounded up). The
//! charge is measured exactly, as the smallest budget a run fits in minus
//! the instructions it executed, so it does not depend on the machine.

use tinybpf_maps::{BpfMap, MapDef, MapOptions, MapType};
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext, RunError};

fn load(text: &str, map: &BpfMap) -> LoadedProgram {
    let options = ProgramOptions {
        maps: vec![map.clone()],
        ..ProgramOptions::default()
    };
    LoadedProgram::load(&assemble_bytes(text).unwrap(), options).unwrap()
}

/// The units helpers charged in a run of `program` over `input`: the
/// smallest budget the run fits in, less the instructions it executed.
fn charged(program: &LoadedProgram, input: &[u8]) -> u64 {
    let run = |budget: u64| {
        let mut data = input.to_vec();
        program.run_with(&mut data, &mut RunContext::new().with_budget(budget))
    };
    let insns = run(u64::MAX).expect("runs").insns;
    let (mut low, mut high) = (insns, insns + 1_000_000);
    assert!(run(high).is_ok());
    // The smallest budget that fits lies in (low - 1, high].
    while low < high {
        let mid = low + (high - low) / 2;
        match run(mid) {
            Ok(_) => high = mid,
            Err(RunError::BudgetExhausted { .. }) => low = mid + 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    low - insns
}

fn units(bytes: u64) -> u64 {
    bytes.div_ceil(8)
}

fn map(map_type: MapType, key_size: u32, value_size: u32) -> BpfMap {
    let def = MapDef {
        map_type: map_type as u32,
        key_size,
        ..MapDef::array(value_size, 4)
    };
    BpfMap::create(def, &MapOptions::with_cpus(1)).unwrap()
}

/// `bpf_map_update_elem(map, input, input, 0)`: key and value from the input.
const UPDATE: &str = "
    mov %r2, %r1
    mov %r3, %r1
    lddw %r1, map_idx:0
    mov %r4, 0
    call 2
    exit";

#[test]
fn map_updates_charge_for_the_value_copied_and_the_key_hashed() {
    let mut last = 0;
    for value_size in [8, 64, 512, 4096] {
        let array = map(MapType::Array, 4, value_size);
        let input = vec![0u8; value_size as usize];
        let charge = charged(&load(UPDATE, &array), &input);
        assert_eq!(
            charge,
            units(u64::from(value_size)),
            "array value {value_size}"
        );
        assert!(charge > last);
        last = charge;
    }
    for (map_type, key_size) in [
        (MapType::Hash, 8),
        (MapType::Hash, 64),
        (MapType::Hash, 512),
        (MapType::LruHash, 100),
        (MapType::PercpuHash, 256),
    ] {
        let value_size = 16;
        let hash = map(map_type, key_size, value_size);
        let input = vec![1u8; key_size.max(value_size) as usize];
        let charge = charged(&load(UPDATE, &hash), &input);
        assert_eq!(
            charge,
            units(u64::from(value_size)) + units(u64::from(key_size)),
            "{map_type:?} key {key_size}"
        );
    }
}

#[test]
fn map_deletes_and_per_cpu_lookups_charge_for_the_key_hashed() {
    let delete = "mov %r2, %r1\nlddw %r1, map_idx:0\ncall 3\nexit";
    let lookup_percpu = "mov %r2, %r1\nlddw %r1, map_idx:0\nmov %r3, 0\ncall 195\nexit";
    let mut last = 0;
    for key_size in [8, 24, 200, 512] {
        let hash = map(MapType::Hash, key_size, 8);
        let input = vec![7u8; key_size as usize];
        let charge = charged(&load(delete, &hash), &input);
        assert_eq!(charge, units(u64::from(key_size)), "delete, key {key_size}");
        assert!(charge > last);
        last = charge;
        let percpu = map(MapType::PercpuHash, key_size, 8);
        let charge = charged(&load(lookup_percpu, &percpu), &input);
        assert_eq!(
            charge,
            units(u64::from(key_size)),
            "percpu lookup, key {key_size}"
        );
    }
    // An array's key is an index: the call pays for it.
    let array = map(MapType::Array, 4, 8);
    assert_eq!(charged(&load(delete, &array), &[0; 4]), 0);
}

#[test]
fn trace_printk_charges_for_the_format_and_the_line_it_formats() {
    // "%s\0" from the stack, the string from the input.
    let text = "
        mov %r3, %r1
        mov %r1, 0x7325
        stxw [%r10-4], %r1
        mov %r1, %r10
        add %r1, -4
        mov %r2, 3
        call 6
        exit";
    let program = load(text, &map(MapType::Array, 4, 8));
    let mut last = 0;
    for len in [0u64, 8, 60, 200, 500] {
        let mut input = vec![b'x'; len as usize];
        input.push(0);
        let charge = charged(&program, &input);
        assert_eq!(charge, units(3) + units(len), "a line of {len} bytes");
        assert!(len == 0 || charge > last);
        last = charge;
    }
}

#[test]
fn lookups_charge_for_the_key_hashed_once_per_probe() {
    // The same lookup through the `call 1` op, through `callx`, and (with
    // the jit feature) compiled: the same charge.
    let call = "mov %r2, %r1\nlddw %r1, map_idx:0\ncall 1\nexit";
    let callx = "mov %r2, %r1\nlddw %r1, map_idx:0\nmov %r3, 1\ncall %r3\nexit";
    let mut last = 0;
    for key_size in [8, 64, 512] {
        let hash = map(MapType::Hash, key_size, 8);
        let input = vec![3u8; key_size as usize];
        let charge = charged(&load(call, &hash), &input);
        assert_eq!(charge, units(u64::from(key_size)), "hash key {key_size}");
        assert_eq!(charged(&load(callx, &hash), &input), charge);
        let compiled = ProgramOptions {
            maps: vec![hash.clone()],
            tier: tinybpf_vm::Tier::Auto,
            ..ProgramOptions::default()
        };
        let program = LoadedProgram::load(&assemble_bytes(call).unwrap(), compiled).unwrap();
        assert_eq!(charged(&program, &input), charge);
        assert!(charge > last);
        last = charge;
    }
    // An LPM trie: one probe per prefix length from the key's down.
    let lpm = BpfMap::create(
        MapDef {
            map_type: MapType::LpmTrie as u32,
            key_size: 20,
            ..MapDef::array(8, 4).with_flags(tinybpf_maps::BPF_F_NO_PREALLOC)
        },
        &MapOptions::with_cpus(1),
    )
    .unwrap();
    let program = load(call, &lpm);
    for prefix_len in [0u32, 1, 32, 128, 500] {
        let mut key = vec![0u8; 20];
        key[..4].copy_from_slice(&prefix_len.to_le_bytes());
        let probes = u64::from(prefix_len.min(128)) + 1;
        assert_eq!(
            charged(&program, &key),
            probes * units(20),
            "prefix length {prefix_len}"
        );
    }
    // Arrays look up by index: the call pays for it.
    let array = map(MapType::Array, 4, 8);
    let callx_only = LoadedProgram::load(
        &assemble_bytes(callx).unwrap(),
        ProgramOptions {
            maps: vec![array],
            inline_lookups: false,
            ..ProgramOptions::default()
        },
    )
    .unwrap();
    assert_eq!(charged(&callx_only, &[0; 4]), 0);
}

/// `bpf_for_each_map_elem` with a callback that returns 0: a hash walk
/// charges four units per 8 key bytes for each element (each step hashes
/// keys up to four times), an array walk one.
#[test]
fn map_walks_charge_for_the_keys_they_hash() {
    const WALK: &str = "
        lddw %r1, map_idx:0
        lddw %r2, func:5
        mov %r3, 0
        mov %r4, 0
        call 164
        exit
        mov %r0, 0
        exit";
    let walk_charge = |map_type: MapType, key_size: u32| {
        let walked = map(map_type, key_size, 8);
        for i in 0..3u8 {
            let mut key = vec![0u8; key_size as usize];
            key[0] = i;
            walked.update(&key, &[0; 8], 0).unwrap();
        }
        charged(&load(WALK, &walked), &[])
    };
    let (short, long) = (
        walk_charge(MapType::Hash, 8),
        walk_charge(MapType::Hash, 64),
    );
    assert_eq!(long - short, 3 * 4 * (units(64) - units(8)));
    // The array (`map` makes 4 entries) walks all 4 elements, a unit each.
    assert_eq!(
        walk_charge(MapType::Hash, 8) - walk_charge(MapType::Array, 4),
        3 * 4 * units(8) - 4
    );
}
