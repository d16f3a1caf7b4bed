//! `bpf_for_each_map_elem` in both tiers: callbacks that read their key
//! and value, write the value, pass the key (in the read-only key area the
//! compiled checks leave to the interpreter's path) to an inline lookup,
//! write the key (a fault), read around it, delete the element
//! they were given from a hash map, and walk again inside a walk. Each
//! program runs compiled and interpreted, each tier with maps of its own,
//! at every budget up to past its end: the results or errors and the maps
//! afterwards are the same.
#![cfg(all(feature = "jit", target_arch = "x86_64"))]

use tinybpf_maps::{BpfMap, MapDef, MapOptions};
use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext, Tier};

mod common;
use common::program;

/// An array of `entries` u64 values, element `i` holding `i * 10`.
fn array(entries: u32) -> BpfMap {
    let map = BpfMap::create(MapDef::array(8, entries), &MapOptions::with_cpus(1)).unwrap();
    for key in 0..entries {
        map.update(&key.to_le_bytes(), &u64::from(key * 10).to_le_bytes(), 0)
            .unwrap();
    }
    map
}

/// A hash map of u32 keys to u64 values holding `keys` (value: key + 1),
/// with a zero hash seed (`BPF_F_ZERO_SEED`): both tiers' maps walk in the
/// same order, so budget stops land on the same element.
fn hash(keys: &[u32]) -> BpfMap {
    let def = MapDef {
        map_type: 1,
        key_size: 4,
        value_size: 8,
        max_entries: 32,
        map_flags: 1 << 6,
    };
    let map = BpfMap::create(def, &MapOptions::with_cpus(1)).unwrap();
    for &key in keys {
        map.update(&key.to_le_bytes(), &u64::from(key + 1).to_le_bytes(), 0)
            .unwrap();
    }
    map
}

/// Every (key, value) of `map`, in key order.
fn contents(map: &BpfMap) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut entries = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    while let Ok(next) = map.get_next_key(key.as_deref()) {
        let value = map.lookup(&next).unwrap();
        entries.push((next.clone(), value));
        key = Some(next);
    }
    entries.sort();
    entries
}

fn load(text: &str, maps: Vec<BpfMap>, tier: Tier) -> LoadedProgram {
    let options = ProgramOptions {
        maps,
        tier,
        ..ProgramOptions::default()
    };
    common::load_in_tier(text, options)
}

/// Runs `main` with `callbacks` in both tiers over fresh maps from `maps`
/// at every budget up to past the end; returns the unlimited run's result.
fn agree(main: &str, callbacks: &[&str], maps: impl Fn() -> Vec<BpfMap>) -> String {
    agree_text(&program(main, callbacks).0, maps)
}

/// [`agree`] for an assembled program.
fn agree_text(text: &str, maps: impl Fn() -> Vec<BpfMap>) -> String {
    let run = |tier: Tier, budget: u64| {
        let maps = maps();
        let program = load(text, maps.clone(), tier);
        let result = program.run_with(&mut [], &mut RunContext::new().with_budget(budget));
        let left: Vec<_> = maps.iter().map(contents).collect();
        format!("{result:?}\n{left:?}")
    };
    let full = run(Tier::Interpreter, u64::MAX);
    assert_eq!(full, run(Tier::Compiled, u64::MAX), "\n{text}");
    let needed = load(text, maps(), Tier::Interpreter)
        .run(&mut [])
        .map_or(300, |done| done.insns + 8);
    for budget in 0..needed.min(300) {
        assert_eq!(
            run(Tier::Interpreter, budget),
            run(Tier::Compiled, budget),
            "budget {budget}\n{text}"
        );
    }
    full
}

/// Walks map 0 with callback 0, ctx r3 as given.
const WALK: &str = "
    lddw %r1, map_idx:0
    lddw %r2, func:@0
    mov %r3, 0
    mov %r4, 0
    call 164
    exit";

#[test]
fn reading_the_key_and_value_and_writing_the_value() {
    let cb = "
        ldxw %r1, [%r2+0]
        ldxdw %r5, [%r3+0]
        add %r5, %r1
        add %r5, 1
        stxdw [%r3+0], %r5
        mov %r0, 0
        jne %r1, 3, +1
        mov %r0, 1
        exit";
    let full = agree(WALK, &[cb], || vec![array(6)]);
    assert!(full.starts_with("Ok(RunOutcome { retval: 4,"), "{full}");
    let full = agree(WALK, &[cb], || vec![hash(&[5, 1, 3, 9])]);
    assert!(full.starts_with("Ok("), "{full}");
}

#[test]
fn the_key_passed_to_an_inline_lookup() {
    // Each element's key looks up map 1 (an array: the lookup is inlined,
    // its key read from the key area) and adds 100 there.
    let cb = "
        lddw %r1, map_idx:1
        call 1
        jeq %r0, 0, +3
        ldxdw %r1, [%r0+0]
        add %r1, 100
        stxdw [%r0+0], %r1
        mov %r0, 0
        exit";
    let full = agree(WALK, &[cb], || vec![array(4), array(3)]);
    assert!(full.starts_with("Ok("), "{full}");
    let full = agree(WALK, &[cb], || vec![hash(&[0, 2, 7]), array(3)]);
    assert!(full.starts_with("Ok("), "{full}");
}

#[test]
fn writing_the_key_or_reading_around_it_agrees() {
    let mut faults = 0;
    for cb in [
        "stw [%r2+0], 7\nmov %r0, 0\nexit",
        "mov %r1, 7\nstxb [%r2+3], %r1\nmov %r0, 0\nexit",
        "ldxw %r0, [%r2+4]\nmov %r0, 0\nexit",
        "ldxdw %r0, [%r2-8]\nmov %r0, 0\nexit",
        "mov %r1, 1\nlock add32 [%r2+0], %r1\nmov %r0, 0\nexit",
    ] {
        let full = agree(WALK, &[cb], || vec![array(2)]);
        faults += usize::from(full.starts_with("Err("));
    }
    // The writes and the read below the key area fault; a read past the
    // 4-byte key stays inside the key area.
    assert_eq!(faults, 4);
}

#[test]
fn a_hash_walk_deleting_what_it_is_given() {
    let cb = "
        mov %r6, %r2
        ldxw %r7, [%r2+0]
        lddw %r1, map_idx:0
        call 3
        mov %r0, 0
        jne %r7, 9, +1
        mov %r0, 1
        exit";
    let full = agree(WALK, &[cb], || vec![hash(&[4, 9, 1, 12, 6])]);
    assert!(full.starts_with("Ok("), "{full}");
}

#[test]
fn nested_walks_read_keys_of_their_own() {
    let full = agree_text(&common::nested_walks().0, || vec![array(3)]);
    assert!(full.starts_with("Ok("), "{full}");
}

#[test]
fn a_per_cpu_array_walk() {
    let percpu = || {
        let def = MapDef {
            map_type: 6,
            ..MapDef::array(8, 3)
        };
        vec![BpfMap::create(def, &MapOptions::with_cpus(2)).unwrap()]
    };
    let cb = "
        ldxw %r1, [%r2+0]
        ldxdw %r5, [%r3+0]
        add %r5, %r1
        stxdw [%r3+0], %r5
        mov %r0, 0
        exit";
    let full = agree(WALK, &[cb], percpu);
    assert!(full.starts_with("Ok("), "{full}");
}

#[test]
fn an_empty_hash_walk_and_a_flags_error() {
    let cb = "mov %r0, 0\nexit";
    let full = agree(WALK, &[cb], || vec![hash(&[])]);
    assert!(full.starts_with("Ok(RunOutcome { retval: 0,"), "{full}");
    let flags = WALK.replace("mov %r4, 0", "mov %r4, 1");
    let full = agree(&flags, &[cb], || vec![array(2)]);
    assert!(full.starts_with("Ok("), "{full}");
}
