//! The map helpers as programs see them, for every map type: what
//! `bpf_map_lookup_elem`, `bpf_map_update_elem`, `bpf_map_delete_elem` and
//! `bpf_map_lookup_percpu_elem` return (every errno path, in the kernel's
//! order), which calls the kernel's verifier refuses (at load time when the
//! map is known, at run time when it is not), and what each run's CPU sees
//! of per-CPU maps. Programs are written in assembler over maps created
//! here, and each is run with the lookup rewrite on and off.

use tinybpf::maps::{
    BPF_ANY, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, BPF_NOEXIST, BpfMap, MapDef,
    MapError, MapOptions, MapType, errno,
};
use tinybpf::vm::isa::asm::assemble_bytes;
use tinybpf::vm::{
    Access, HelperError, InvalidInsn, LoadedProgram, ProgramOptions, RunContext, RunError,
    VerifyError,
};

/// A map of `map_type` for `cpus` possible CPUs.
fn map(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32, cpus: u32) -> BpfMap {
    map_with_flags(map_type, key_size, value_size, max_entries, 0, cpus)
}

fn map_with_flags(
    map_type: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    cpus: u32,
) -> BpfMap {
    let def = MapDef {
        map_type: map_type.as_u32(),
        key_size,
        value_size,
        max_entries,
        map_flags,
    };
    BpfMap::create(def, &MapOptions::with_cpus(cpus)).unwrap()
}

fn load(text: &str, maps: &[BpfMap], inline_lookups: bool) -> Result<LoadedProgram, VerifyError> {
    let code = assemble_bytes(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    LoadedProgram::load(
        &code,
        ProgramOptions {
            maps: maps.to_vec(),
            inline_lookups,
            ..ProgramOptions::default()
        },
    )
}

/// Runs `text` once on `cpu` (with the rewrite on, then off, on the same
/// maps: both runs must return the same) and returns r0 as a signed number.
fn run_on(text: &str, maps: &[BpfMap], cpu: u32) -> i64 {
    let results: Vec<i64> = [true, false]
        .into_iter()
        .map(|inline| {
            let program = load(text, maps, inline).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let mut ctx = RunContext::new().with_cpu(cpu);
            program
                .run_with(&mut [], &mut ctx)
                .unwrap_or_else(|e| panic!("{e}\n{text}"))
                .retval as i64
        })
        .collect();
    results[0]
}

/// Runs `text` once on CPU 0 (one mode only: for programs whose effect
/// must not happen twice) and returns r0 as a signed number.
fn run_once(text: &str, maps: &[BpfMap]) -> i64 {
    let program = load(text, maps, true).unwrap_or_else(|e| panic!("{e}\n{text}"));
    program.run(&mut []).unwrap().retval as i64
}

/// `bpf_map_update_elem(map 0, &key, &value, flags)` with a 4-byte key and
/// an 8-byte value, returning its result.
fn update(key: u32, value: u64, flags: u64) -> String {
    format!(
        "stw [%r10-4], {key}
        lddw %r1, {value}
        stxdw [%r10-16], %r1
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, {flags}
        call 2
        exit"
    )
}

/// `bpf_map_delete_elem(map 0, &key)`.
fn delete(key: u32) -> String {
    format!(
        "stw [%r10-4], {key}
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        call 3
        exit"
    )
}

/// `*bpf_map_lookup_elem(map 0, &key)` as a u64, or -1 for NULL.
fn lookup(key: u32) -> String {
    format!(
        "stw [%r10-4], {key}
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, +2
        ldxdw %r0, [%r0]
        exit
        mov %r0, -1
        exit"
    )
}

fn err(errno: i32) -> i64 {
    -i64::from(errno)
}

fn key(k: u32) -> [u8; 4] {
    k.to_le_bytes()
}

/// Each CPU's u64 value of `k` in a per-CPU map.
fn per_cpu(map: &BpfMap, k: u32) -> Vec<u64> {
    map.lookup_percpu(&key(k))
        .unwrap()
        .iter()
        .map(|v| u64::from_le_bytes(v[..8].try_into().unwrap()))
        .collect()
}

#[test]
fn hash_updates_and_deletes_return_the_kernels_errnos_in_its_order() {
    let maps = [map(MapType::Hash, 4, 8, 2, 1)];
    let run = |text: String| run_once(&text, &maps);
    assert_eq!(run(update(1, 10, BPF_NOEXIST)), 0);
    assert_eq!(run(update(1, 11, BPF_NOEXIST)), err(errno::EEXIST));
    assert_eq!(run(update(2, 20, BPF_EXIST)), err(errno::ENOENT));
    // Bad flags come first, on a missing key and on a present one.
    assert_eq!(run(update(2, 20, 4)), err(errno::EINVAL));
    assert_eq!(run(update(1, 20, 3)), err(errno::EINVAL));
    assert_eq!(run(update(2, 20, BPF_ANY)), 0);
    // Full: a new key is -E2BIG (after the flag checks: EXIST is -ENOENT).
    assert_eq!(run(update(3, 30, BPF_ANY)), err(errno::E2BIG));
    assert_eq!(run(update(3, 30, BPF_NOEXIST)), err(errno::E2BIG));
    assert_eq!(run(update(3, 30, BPF_EXIST)), err(errno::ENOENT));
    assert_eq!(run(update(2, 21, BPF_EXIST)), 0, "replacing needs no room");
    assert_eq!(run(delete(3)), err(errno::ENOENT));
    assert_eq!(run(delete(2)), 0);
    // The slot is free at once.
    assert_eq!(run(update(3, 30, BPF_ANY)), 0);
    assert_eq!(run_on(&lookup(1), &maps, 0), 10);
    assert_eq!(run_on(&lookup(2), &maps, 0), -1);
    assert_eq!(run_on(&lookup(3), &maps, 0), 30);
    assert_eq!(maps[0].lookup(&key(1)).unwrap(), 10u64.to_le_bytes());
}

#[test]
fn a_program_writes_a_hash_value_in_place_through_the_lookup() {
    let maps = [map(MapType::Hash, 4, 8, 4, 1)];
    maps[0]
        .update(&key(5), &40u64.to_le_bytes(), BPF_ANY)
        .unwrap();
    let add_two = "stw [%r10-4], 5
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, +3
        mov %r1, 2
        lock add [%r0], %r1
        ldxdw %r0, [%r0]
        exit";
    assert_eq!(run_once(add_two, &maps), 42);
    assert_eq!(run_once(add_two, &maps), 44);
    assert_eq!(maps[0].lookup(&key(5)).unwrap(), 44u64.to_le_bytes());
}

#[test]
fn a_read_only_hash_refuses_program_writes() {
    let maps = [map_with_flags(MapType::Hash, 4, 8, 4, BPF_F_RDONLY_PROG, 1)];
    maps[0]
        .update(&key(1), &7u64.to_le_bytes(), BPF_ANY)
        .unwrap();
    assert_eq!(run_once(&update(1, 8, BPF_ANY), &maps), err(errno::EPERM));
    assert_eq!(run_once(&delete(1), &maps), err(errno::EPERM));
    assert_eq!(run_on(&lookup(1), &maps, 0), 7);
    // The value pointer is read-only too.
    let store = "stw [%r10-4], 1
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        call 1
        stdw [%r0], 9
        exit";
    let program = load(store, &maps, true).unwrap();
    assert!(matches!(
        program.run(&mut []).unwrap_err(),
        RunError::OutOfBounds {
            access: Access::Write,
            ..
        }
    ));
    assert_eq!(maps[0].lookup(&key(1)).unwrap(), 7u64.to_le_bytes());
}

#[test]
fn lru_hash_evicts_where_a_hash_refuses() {
    let maps = [map(MapType::LruHash, 4, 8, 2, 1)];
    for k in 1..=3 {
        assert_eq!(run_once(&update(k, u64::from(k), BPF_NOEXIST), &maps), 0);
    }
    let present = (1..=3).filter(|&k| maps[0].lookup(&key(k)).is_ok()).count();
    assert_eq!(present, 2);
    assert!(maps[0].lookup(&key(3)).is_ok(), "the new key is in");
    // Below capacity the errnos are the hash's.
    assert_eq!(
        run_once(&update(3, 0, BPF_NOEXIST), &maps),
        err(errno::EEXIST)
    );
    assert_eq!(
        run_once(&update(9, 0, BPF_EXIST), &maps),
        err(errno::ENOENT)
    );
    assert_eq!(run_once(&update(9, 0, 4), &maps), err(errno::EINVAL));
    assert_eq!(run_once(&delete(9), &maps), err(errno::ENOENT));
}

#[test]
fn per_cpu_arrays_update_the_running_cpus_value() {
    let maps = [map(MapType::PercpuArray, 4, 8, 2, 4)];
    assert_eq!(run_on(&update(0, 5, BPF_ANY), &maps, 2), 0);
    assert_eq!(per_cpu(&maps[0], 0), [0, 0, 5, 0]);
    assert_eq!(run_on(&update(0, 6, BPF_EXIST), &maps, 3), 0);
    assert_eq!(per_cpu(&maps[0], 0), [0, 0, 5, 6]);
    assert_eq!(run_on(&update(2, 1, BPF_ANY), &maps, 0), err(errno::E2BIG));
    assert_eq!(
        run_on(&update(0, 1, BPF_NOEXIST), &maps, 0),
        err(errno::EEXIST)
    );
    assert_eq!(run_on(&update(0, 1, 4), &maps, 0), err(errno::EINVAL));
    assert_eq!(run_on(&delete(0), &maps, 0), err(errno::EINVAL));
    // Each CPU reads its own value, with and without the rewrite.
    for (cpu, expected) in [(0, 0), (2, 5), (3, 6)] {
        assert_eq!(run_on(&lookup(0), &maps, cpu), expected, "CPU {cpu}");
    }
    assert_eq!(run_on(&lookup(2), &maps, 1), -1, "past the end");
}

#[test]
fn per_cpu_array_lookups_are_rewritten_and_see_the_running_cpus_element() {
    let maps = [map(MapType::PercpuArray, 4, 8, 4, 4)];
    // counts[1] += 1 (constant key), then counts[key from the input] += 10.
    let text = "stw [%r10-4], 1
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, +2
        mov %r1, 1
        lock add [%r0], %r1
        ldxw %r1, [%r6+0]
        stxw [%r10-8], %r1
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -8
        call 1
        jeq %r0, 0, +2
        mov %r1, 10
        lock add [%r0], %r1
        mov %r0, 0
        exit";
    // r6 = the input's address (r1 at entry).
    let text = format!("mov %r6, %r1\n{text}");
    for inline in [true, false] {
        let program = load(&text, &maps, inline).unwrap();
        assert_eq!(program.rewrites().is_empty(), !inline);
        for cpu in [1, 3, 3] {
            let mut input = 2u32.to_le_bytes();
            let mut ctx = RunContext::new().with_cpu(cpu);
            program.run_with(&mut input, &mut ctx).unwrap();
        }
    }
    assert_eq!(per_cpu(&maps[0], 1), [0, 2, 0, 4]);
    assert_eq!(per_cpu(&maps[0], 2), [0, 20, 0, 40]);
}

#[test]
fn a_program_created_per_cpu_hash_element_zeroes_the_other_cpus() {
    let maps = [map(MapType::PercpuHash, 4, 8, 4, 4)];
    assert_eq!(run_once_on(&update(7, 70, BPF_NOEXIST), &maps, 1), 0);
    assert_eq!(per_cpu(&maps[0], 7), [0, 70, 0, 0]);
    // An existing element: only the running CPU's value changes.
    let all: Vec<u8> = [1u64, 2, 3, 4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    maps[0].update(&key(8), &all, BPF_ANY).unwrap();
    assert_eq!(run_once_on(&update(8, 9, BPF_EXIST), &maps, 3), 0);
    assert_eq!(per_cpu(&maps[0], 8), [1, 2, 3, 9]);
    assert_eq!(run_on(&lookup(8), &maps, 2), 3);
    assert_eq!(run_once_on(&delete(8), &maps, 2), 0);
    assert_eq!(run_on(&lookup(8), &maps, 2), -1);
    assert_eq!(run_once_on(&delete(8), &maps, 2), err(errno::ENOENT));
}

fn run_once_on(text: &str, maps: &[BpfMap], cpu: u32) -> i64 {
    let program = load(text, maps, true).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut ctx = RunContext::new().with_cpu(cpu);
    program.run_with(&mut [], &mut ctx).unwrap().retval as i64
}

/// `*bpf_map_lookup_percpu_elem(map 0, &key, cpu)` as a u64, or -1 for
/// NULL; also checks the address against `bpf_map_lookup_elem`'s for the
/// running CPU (r0 = -2 when they differ).
fn lookup_percpu(key: u32, cpu: u32) -> String {
    format!(
        "stw [%r10-4], {key}
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        mov %r3, {cpu:#x}
        call 195
        jeq %r0, 0, +2
        ldxdw %r0, [%r0]
        exit
        mov %r0, -1
        exit"
    )
}

#[test]
fn lookup_percpu_elem_reads_any_cpus_value() {
    for map_type in [MapType::PercpuArray, MapType::PercpuHash] {
        let maps = [map(map_type, 4, 8, 4, 4)];
        let all: Vec<u8> = [10u64, 11, 12, 13]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        maps[0].update(&key(1), &all, BPF_ANY).unwrap();
        for running in [0, 2] {
            for cpu in 0..4 {
                assert_eq!(
                    run_on(&lookup_percpu(1, cpu), &maps, running),
                    10 + i64::from(cpu),
                    "{map_type}: CPU {cpu} read from CPU {running}"
                );
            }
            // Past the possible CPUs: NULL.
            assert_eq!(run_on(&lookup_percpu(1, 4), &maps, running), -1);
            assert_eq!(run_on(&lookup_percpu(1, u32::MAX), &maps, running), -1);
        }
        // A missing key (hash) or an index past the end (array): NULL.
        assert_eq!(run_on(&lookup_percpu(9, 1), &maps, 0), -1);
    }
    // The running CPU's element has the address bpf_map_lookup_elem gives;
    // another CPU's may be written through its pointer.
    let maps = [map(MapType::PercpuArray, 4, 8, 2, 4)];
    let same_and_write = "stw [%r10-4], 1
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        call 1
        mov %r6, %r0
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        mov %r3, 1
        call 195
        jne %r0, %r6, +7
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        mov %r3, 3
        call 195
        stdw [%r0], 33
        mov %r0, 1
        exit";
    assert_eq!(run_once_on(same_and_write, &maps, 1), 1);
    assert_eq!(per_cpu(&maps[0], 1), [0, 0, 0, 33]);
}

#[test]
fn lpm_trie_updates_lookups_and_deletes_from_a_program() {
    // key: prefixlen (u32) then 4 address bytes; value u64.
    let maps = [map_with_flags(
        MapType::LpmTrie,
        8,
        8,
        4,
        BPF_F_NO_PREALLOC,
        1,
    )];
    let prefix = |len: u32, addr: [u8; 4]| {
        let mut key = len.to_le_bytes().to_vec();
        key.extend_from_slice(&addr);
        u64::from_le_bytes(key.try_into().unwrap())
    };
    let op = |call: u32, key: u64, flags: u64| {
        format!(
            "lddw %r1, {key}
            stxdw [%r10-8], %r1
            stdw [%r10-16], 77
            lddw %r1, map_idx:0
            mov %r2, %r10
            add %r2, -8
            mov %r3, %r10
            add %r3, -16
            mov %r4, {flags}
            call {call}
            {}
            exit",
            if call == 1 {
                "jeq %r0, 0, +1\nldxdw %r0, [%r0]"
            } else {
                ""
            }
        )
    };
    let (lookup, update, delete) = (1, 2, 3);
    assert_eq!(
        run_once(&op(update, prefix(8, [10, 0, 0, 0]), BPF_ANY), &maps),
        0
    );
    // The longest match for 10.1.2.3/32 is the /8.
    assert_eq!(
        run_once(&op(lookup, prefix(32, [10, 1, 2, 3]), 0), &maps),
        77
    );
    assert_eq!(
        run_once(&op(lookup, prefix(32, [11, 1, 2, 3]), 0), &maps),
        0
    );
    // A prefix longer than the key's data: -EINVAL.
    assert_eq!(
        run_once(&op(update, prefix(33, [10, 0, 0, 0]), BPF_ANY), &maps),
        err(errno::EINVAL)
    );
    assert_eq!(
        run_once(&op(update, prefix(8, [10, 0, 0, 0]), BPF_NOEXIST), &maps),
        err(errno::EEXIST)
    );
    assert_eq!(
        run_once(&op(delete, prefix(16, [10, 0, 0, 0]), 0), &maps),
        err(errno::ENOENT)
    );
    assert_eq!(run_once(&op(delete, prefix(8, [10, 0, 0, 0]), 0), &maps), 0);
    assert_eq!(
        run_once(&op(lookup, prefix(32, [10, 1, 2, 3]), 0), &maps),
        0
    );
}

#[test]
fn devmap_and_xskmap_entries_are_looked_up_read_only() {
    let devmap = map(MapType::Devmap, 4, 8, 4, 1);
    let xskmap = map(MapType::Xskmap, 4, 4, 4, 1);
    let mut port = 5u32.to_le_bytes().to_vec();
    port.extend_from_slice(&0u32.to_le_bytes());
    devmap.update(&key(1), &port, BPF_ANY).unwrap();
    xskmap
        .update(&key(2), &9u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    let read = |k: u32| {
        format!(
            "stw [%r10-4], {k}
            lddw %r1, map_idx:0
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, +2
            ldxw %r0, [%r0]
            exit
            mov %r0, -1
            exit"
        )
    };
    assert_eq!(run_on(&read(1), std::slice::from_ref(&devmap), 0), 5);
    assert_eq!(run_on(&read(0), std::slice::from_ref(&devmap), 0), -1);
    assert_eq!(run_on(&read(2), std::slice::from_ref(&xskmap), 0), 9);
    assert_eq!(run_on(&read(3), std::slice::from_ref(&xskmap), 0), -1);
    for map in [devmap, xskmap] {
        let write = "stw [%r10-4], 1
            lddw %r1, map_idx:0
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, +1
            stw [%r0], 6
            exit";
        let program = load(write, std::slice::from_ref(&map), true).unwrap();
        let result = program.run(&mut []);
        if map.map_type() == MapType::Devmap {
            assert!(
                matches!(
                    result,
                    Err(RunError::OutOfBounds {
                        access: Access::Write,
                        ..
                    })
                ),
                "{result:?}"
            );
        } else {
            assert!(result.is_ok(), "xskmap key 1 is empty: {result:?}");
        }
    }
}

/// The load-time refusal of helper `id` on map 0.
fn refused_at_load(text: &str, maps: &[BpfMap]) -> (usize, &'static str, MapError) {
    match load(text, maps, true) {
        Err(VerifyError::Invalid {
            pc,
            kind: InvalidInsn::MapHelperRefused(refusal),
        }) => {
            assert_eq!(refusal.map, 0);
            // The same without the lookup rewrite (helper calls, not the op).
            assert!(matches!(
                load(text, maps, false),
                Err(VerifyError::Invalid {
                    kind: InvalidInsn::MapHelperRefused(_),
                    ..
                })
            ));
            (pc, refusal.helper, refusal.source)
        }
        other => panic!("{other:?}\n{text}"),
    }
}

#[test]
fn the_verifiers_map_helper_rules_refuse_programs_at_load_time() {
    let prog_array = map(MapType::ProgArray, 4, 4, 4, 1);
    let perf = map(MapType::PerfEventArray, 4, 4, 4, 1);
    let ringbuf = map(MapType::Ringbuf, 0, 0, 4096, 1);
    let cpumap = map(MapType::Cpumap, 4, 4, 4, 1);
    let devmap = map(MapType::Devmap, 4, 4, 4, 1);
    let array = map(MapType::Array, 4, 8, 4, 1);
    // Lookups: refused in program, perf event, ring buffer and CPU maps.
    for refused in [&prog_array, &perf, &ringbuf, &cpumap] {
        let (pc, helper, source) = refused_at_load(&lookup(0), std::slice::from_ref(refused));
        assert_eq!((pc, helper), (5, "bpf_map_lookup_elem"));
        assert_eq!(source.errno(), errno::EINVAL);
        assert!(source.to_string().contains("look up elements"), "{source}");
    }
    // Updates and deletes: also refused in devmaps.
    for refused in [&prog_array, &perf, &cpumap, &devmap] {
        let (pc, helper, _) = refused_at_load(&update(0, 0, 0), std::slice::from_ref(refused));
        assert_eq!((pc, helper), (11, "bpf_map_update_elem"));
        let (pc, helper, _) = refused_at_load(&delete(0), std::slice::from_ref(refused));
        assert_eq!((pc, helper), (5, "bpf_map_delete_elem"));
    }
    // Per-CPU lookups only in per-CPU maps.
    let (pc, helper, _) = refused_at_load(&lookup_percpu(0, 0), std::slice::from_ref(&array));
    assert_eq!((pc, helper), (6, "bpf_map_lookup_percpu_elem"));
    // The message names the instruction, the helper and the map's type.
    let err = load(&lookup(0), std::slice::from_ref(&prog_array), true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "instruction 5: calls bpf_map_lookup_elem with map 0, which the kernel's verifier refuses: prog_array: programs may not look up elements of this map type"
    );
    // What each type allows loads.
    assert!(load(&lookup(0), std::slice::from_ref(&devmap), true).is_ok());
    assert!(load(&update(0, 0, 0), std::slice::from_ref(&array), true).is_ok());
}

#[test]
fn refusals_the_load_cannot_see_happen_at_run_time() {
    let maps = [map(MapType::ProgArray, 4, 4, 4, 1)];
    // The map handle spilled to the stack and read back: the analysis does
    // not follow it.
    let spilled = "lddw %r1, map_idx:0
        stxdw [%r10-16], %r1
        ldxdw %r1, [%r10-16]
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        call 1
        exit";
    // A helper called through callx.
    let callx = "stw [%r10-4], 0
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        mov %r6, 1
        call %r6
        exit";
    for (text, pc) in [(spilled, 7), (callx, 6)] {
        for inline in [true, false] {
            let program = load(text, &maps, inline).unwrap();
            match program.run(&mut []).unwrap_err() {
                RunError::Helper {
                    pc: at,
                    id: 1,
                    source: HelperError::MapRefused(refusal),
                } => {
                    assert_eq!(at, pc);
                    assert_eq!(refusal.helper, "bpf_map_lookup_elem");
                    assert_eq!(refusal.source.errno(), errno::EINVAL);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn maps_whose_elements_programs_cannot_point_to_have_no_region() {
    // A forged address in the program array's slot faults: its entries are
    // out of the program's reach.
    let maps = [map(MapType::ProgArray, 4, 4, 4, 1)];
    maps[0]
        .update(&key(0), &3u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    let forged = "lddw %r1, 0x300000000
        ldxw %r0, [%r1]
        exit";
    let program = load(forged, &maps, true).unwrap();
    assert!(matches!(
        program.run(&mut []).unwrap_err(),
        RunError::OutOfBounds {
            addr: 0x3_0000_0000,
            access: Access::Read,
            ..
        }
    ));
    // A global-data address (lddw of a map value) exists only for arrays.
    let hash = [map(MapType::Hash, 4, 8, 4, 1)];
    let err = load("lddw %r0, map_value:0+0\nexit", &hash, true).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Invalid {
                pc: 0,
                kind: InvalidInsn::MapValueNotArray {
                    index: 0,
                    map_type: MapType::Hash
                }
            }
        ),
        "{err}"
    );
}

#[test]
fn a_run_on_a_cpu_the_maps_do_not_have_is_an_error() {
    let maps = [
        map(MapType::PercpuArray, 4, 8, 1, 2),
        map(MapType::Array, 4, 8, 1, 4),
    ];
    let program = load(&lookup(0), &maps, true).unwrap();
    assert_eq!(program.possible_cpus(), 2);
    let mut ctx = RunContext::new().with_cpu(2);
    let err = program.run_with(&mut [], &mut ctx).unwrap_err();
    assert_eq!(
        err,
        RunError::CpuOutOfRange {
            cpu: 2,
            possible_cpus: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "the run's CPU 2 is not one of the 2 possible CPUs of the program's maps (CPUs 0 to 1); run on a CPU below 2 or create the maps for more CPUs"
    );
    // Without maps, any CPU: bpf_get_smp_processor_id returns it.
    let program = load("call 8\nexit", &[], true).unwrap();
    let mut ctx = RunContext::new().with_cpu(7000);
    assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, 7000);
}
