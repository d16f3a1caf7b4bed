//! The library API as a user meets it: open an object, pick a program and
//! maps by name, read and write typed map entries, run from several threads,
//! and get errors that say which object file went wrong.

use tinybpf::maps::errno;
use tinybpf::vm::{ProgramKind, RunContext};
use tinybpf::{Error, LoadOptions, Object};

fn testdata(file: &str) -> String {
    format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn open(file: &str) -> Object {
    Object::open(testdata(file)).unwrap()
}

#[test]
fn programs_and_maps_are_found_by_name() {
    let object = open("xdp_counter.o");
    assert_eq!(object.name(), testdata("xdp_counter.o"));
    assert_eq!(object.program_names(), ["xdp_counter"]);
    let program = object.program("xdp_counter").unwrap();
    assert_eq!(program.name(), "xdp_counter");
    assert_eq!(program.section(), "xdp");
    assert_eq!(program.kind(), ProgramKind::Xdp);
    let names: Vec<&str> = object.maps().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["outcome", "proto_stats", "dport_hits"]);
    let stats = object.map("proto_stats").unwrap();
    assert_eq!(stats.def().value_size, 24);
    assert_eq!(stats.def().max_entries, 256);

    let mut packet = tinybpf::default_packet();
    assert_eq!(program.run(&mut packet).unwrap().retval, 2);
    assert_eq!(object.map("outcome").unwrap().get_at::<u64>(3).unwrap(), 1);
    assert_eq!(
        object.map("dport_hits").unwrap().get_at::<u64>(80).unwrap(),
        1
    );

    // The one program is also picked without a name.
    let only = object.select_program(None, LoadOptions::default()).unwrap();
    assert_eq!(only.name(), "xdp_counter");
}

#[test]
fn typed_values_round_trip_and_sizes_are_checked() {
    let object = open("multi_maps.o");
    let counters = object.map("counters").unwrap();
    counters.set_at(1, &0x0102_0304_0506_0708u64).unwrap();
    assert_eq!(counters.get_at::<u64>(1).unwrap(), 0x0102_0304_0506_0708);
    assert_eq!(counters.get_at::<i64>(1).unwrap(), 0x0102_0304_0506_0708);
    assert_eq!(
        counters.get_bytes_at(1).unwrap(),
        [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
    );
    counters.set_at(2, &-5i64).unwrap();
    assert_eq!(counters.get_at::<u64>(2).unwrap(), u64::MAX - 4);

    let shorts = object.map("shorts").unwrap();
    shorts.set_at(4, &0xbeefu16).unwrap();
    assert_eq!(shorts.get_at::<u16>(4).unwrap(), 0xbeef);
    assert_eq!(shorts.get_at::<[u8; 2]>(4).unwrap(), [0xef, 0xbe]);

    let fives = object.map("fives").unwrap();
    fives.set_at(0, &[1u8, 2, 3, 4, 5]).unwrap();
    assert_eq!(fives.get_at::<[u8; 5]>(0).unwrap(), [1, 2, 3, 4, 5]);

    // Every entry, in index order, and only the one written is non-zero.
    let entries: Vec<(Vec<u8>, Vec<u8>)> = fives.entries().collect();
    assert_eq!(
        entries,
        [
            (0u32.to_le_bytes().to_vec(), vec![1, 2, 3, 4, 5]),
            (1u32.to_le_bytes().to_vec(), vec![0; 5])
        ]
    );

    // A Rust type of the wrong size is refused, naming the map and both sizes.
    let err = counters.get_at::<u32>(0).unwrap_err();
    assert!(matches!(
        err,
        Error::ValueSize {
            size: 4,
            value_size: 8,
            ..
        }
    ));
    assert!(err.to_string().contains("counters"), "{err}");
    let err = fives.set_at(0, &0u32).unwrap_err();
    assert!(matches!(
        err,
        Error::ValueSize {
            size: 4,
            value_size: 5,
            ..
        }
    ));
    assert_eq!(
        fives.get_at::<[u8; 5]>(0).unwrap(),
        [1, 2, 3, 4, 5],
        "unchanged"
    );

    // Indices past max_entries: ENOENT to read, E2BIG to write (as the kernel).
    let Error::Map { source, .. } = counters.get_at::<u64>(4).unwrap_err() else {
        panic!("expected a map error");
    };
    assert_eq!(source.errno(), errno::ENOENT);
    let Error::Map { source, .. } = counters.set_at(4, &1u64).unwrap_err() else {
        panic!("expected a map error");
    };
    assert_eq!(source.errno(), errno::E2BIG);
}

#[test]
fn user_space_updates_between_runs_are_seen_by_the_program() {
    let object = open("multi_maps.o");
    let program = object.program("multi_maps").unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 2);

    // triples[1].a = 99 and counters[0] = 41 from user space; the next run
    // adds 1 to each and returns triples[1].a + fives[1].b[0] = 100 + 2.
    let triples = object.map("triples").unwrap();
    let mut triple = triples.get_at::<[u8; 12]>(1).unwrap();
    triple[0..4].copy_from_slice(&99u32.to_le_bytes());
    triples.set_at(1, &triple).unwrap();
    object.map("counters").unwrap().set_at(0, &41u64).unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 102);
    assert_eq!(
        object.map("counters").unwrap().get_at::<u64>(0).unwrap(),
        42
    );
    let triple = triples.get_at::<[u8; 12]>(1).unwrap();
    assert_eq!(triple[0..4], 100u32.to_le_bytes());
    assert_eq!(triple[8..12], 300u32.to_le_bytes());

    // seed_globals: once lat_ave is non-zero, every event counts as missed.
    let object = open("seed_globals.o");
    let program = object.program("seed_globals").unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 64);
    let globals = object.map("global_map").unwrap();
    let mut state = globals.get_at::<[u8; 40]>(0).unwrap();
    state[0..8].copy_from_slice(&7u64.to_le_bytes()); // lat_ave
    globals.set_at(0, &state).unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 64);
    let state = globals.get_at::<[u8; 40]>(0).unwrap();
    assert_eq!(state[16..24], 64u64.to_le_bytes(), "missed"); // all 64 events
    assert_eq!(state[8..16], 1632u64.to_le_bytes(), "lat_sum unchanged");
}

#[test]
fn global_data_is_read_and_written_through_its_section_maps() {
    let object = open("globals_data.o");
    let program = object.program("globals_data").unwrap();
    let data = object.map(".data").unwrap();
    // data_total starts at its ELF value; set it from user space.
    assert_eq!(data.get_bytes_at(0).unwrap()[0..8], 1000u64.to_le_bytes());
    let mut bytes = data.get_bytes_at(0).unwrap();
    bytes[0..8].copy_from_slice(&5u64.to_le_bytes());
    data.set_bytes_at(0, &bytes).unwrap();
    // bss_last = ro_table[1] = 20, plus ro_step 3.
    assert_eq!(program.run(&mut []).unwrap().retval, 23);
    assert_eq!(data.get_bytes_at(0).unwrap()[0..8], 8u64.to_le_bytes());
}

#[test]
fn rodata_is_frozen_and_refuses_updates_with_eperm() {
    let object = open("globals_data.o");
    let rodata = object.map(".rodata").unwrap();
    assert!(rodata.is_frozen());
    let before = rodata.get_bytes_at(0).unwrap();
    assert_eq!(before[0..4], 3u32.to_le_bytes(), "ro_step");

    let mut changed = before.clone();
    changed[0] = 4;
    let err = rodata.set_bytes_at(0, &changed).unwrap_err();
    let message = err.to_string();
    let Error::Map {
        object: file,
        map,
        source,
    } = err
    else {
        panic!("expected a map error, got {message}");
    };
    assert!(file.ends_with("globals_data.o"), "{file}");
    assert!(
        message.starts_with(&file),
        "the message names the object: {message}"
    );
    assert_eq!(map, ".rodata");
    assert_eq!(source.errno(), errno::EPERM);
    assert!(message.contains(".rodata"), "{message}");
    assert_eq!(rodata.get_bytes_at(0).unwrap(), before, "unchanged");

    // The other sections are not frozen.
    assert!(!object.map(".data").unwrap().is_frozen());
    assert!(!object.map(".bss").unwrap().is_frozen());
}

#[test]
fn one_program_runs_from_four_threads_on_shared_maps() {
    const THREADS: u64 = 4;
    const RUNS: u64 = 500;
    const ONE_RUN: [u64; 16] = [1, 5, 2, 2, 1, 4, 4, 4, 2, 2, 3, 2, 1, 4, 5, 4];
    for inline_lookups in [true, false] {
        let object = open("histogram.o");
        let options = LoadOptions {
            inline_lookups,
            ..LoadOptions::default()
        };
        let program = object.program_with("histogram", options).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for _ in 0..RUNS {
                        assert_eq!(program.run(&mut []).unwrap().retval, 54);
                    }
                });
            }
        });
        // The program bumps buckets with atomic adds: no update is lost.
        let hist = object.map("hist").unwrap();
        for (bucket, count) in (0u32..).zip(ONE_RUN) {
            assert_eq!(
                hist.get_at::<u64>(bucket).unwrap(),
                count * THREADS * RUNS,
                "bucket {bucket}, inline_lookups {inline_lookups}"
            );
        }
    }
}

#[test]
fn atomics_stay_exact_under_concurrent_runs() {
    const THREADS: u64 = 4;
    const RUNS: u32 = 250;
    let object = open("atomics.o");
    let program = object.program("atomics").unwrap();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let run = program.test_run(&[], RUNS, &mut RunContext::new()).unwrap();
                assert_eq!(run.repeat, RUNS);
            });
        }
    });
    let total = THREADS * u64::from(RUNS);
    let state = object.map("state").unwrap().get_at::<[u8; 112]>(0).unwrap();
    let u64_at = |offset: usize| u64::from_le_bytes(state[offset..offset + 8].try_into().unwrap());
    let u32_at = |offset: usize| u32::from_le_bytes(state[offset..offset + 4].try_into().unwrap());
    // runs: fetch_add 1, so every run saw a distinct r in 0..total.
    assert_eq!(u64_at(0), total);
    // or64 |= 1 << (5r & 63) over all r: every bit set.
    assert_eq!(u64_at(8), u64::MAX);
    // add64_nf += 0x100000001 per run.
    assert_eq!(u64_at(40), total * 0x1_0000_0001);
    // add32 += 0x10000001 per run (mod 2^32).
    let total32 = u32::try_from(total).unwrap();
    assert_eq!(u32_at(72), total32.wrapping_mul(0x1000_0001));
    // add32_nf += r over distinct r = 0..total.
    assert_eq!(u32_at(96), total32 * (total32 - 1) / 2);
    // xor32_nf ^= 0x80000001 an even number of times.
    assert_eq!(u32_at(108), 0);
}

#[test]
fn errors_name_the_object_file() {
    let missing = testdata("no_such_object.o");
    let err = Object::open(&missing).unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");

    let err = Object::parse("garbage.o", b"not an ELF file at all").unwrap_err();
    assert!(err.to_string().contains("garbage.o"), "{err}");

    let bytes = std::fs::read(testdata("histogram.o")).unwrap();
    let err = Object::parse("cut-short.o", &bytes[..100]).unwrap_err();
    assert!(err.to_string().contains("cut-short.o"), "{err}");

    let path = testdata("histogram.o");
    let object = Object::open(&path).unwrap();
    let err = object.program("no_such_program").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::NoSuchProgram { .. }));
    assert!(
        message.contains(&path) && message.contains("no_such_program"),
        "{message}"
    );
    assert!(
        message.contains("histogram"),
        "lists the programs: {message}"
    );

    let err = object.map("no_such_map").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::NoSuchMap { .. }));
    assert!(
        message.contains(&path) && message.contains("hist"),
        "{message}"
    );
}

#[test]
fn each_program_creates_the_maps_it_uses() {
    let object = open("btf_maps.o");
    assert_eq!(
        object.program_names(),
        [
            "tail_zero",
            "tail_three",
            "count_arrays",
            "touch_hash",
            "dispatch"
        ]
    );
    // Opening creates nothing.
    assert!(object.maps().is_empty());
    let program = object.program("count_arrays").unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 101);
    let created: Vec<&str> = object.maps().iter().map(|m| m.name()).collect();
    assert_eq!(created, ["counts", "pairs"]);
    let in_program: Vec<&str> = program.maps().iter().map(|m| m.name()).collect();
    assert_eq!(in_program, ["counts", "pairs"]);
    assert_eq!(object.map("counts").unwrap().get_at::<u64>(3).unwrap(), 10);
    assert_eq!(object.map("counts").unwrap().type_name(), "array");

    // touch_hash creates the hash and the per-CPU array when it loads.
    let touch = object.program("touch_hash").unwrap();
    assert_eq!(touch.run(&mut []).unwrap().retval, 0);
    let created: Vec<&str> = object.maps().iter().map(|m| m.name()).collect();
    assert_eq!(created, ["counts", "pairs", "flows", "per_cpu"]);
    assert_eq!(object.map("flows").unwrap().type_name(), "hash");
    let hits = object
        .map("per_cpu")
        .unwrap()
        .get_percpu::<u32, u64>(&0)
        .unwrap();
    assert_eq!(hits.len(), object.possible_cpus() as usize);
    assert_eq!(hits.iter().sum::<u64>(), 1);
    assert_eq!(hits[0], 1, "the run was on CPU 0");
    // dispatch tail-calls jumps[0] (tail_zero, which returns 10); without
    // the object's programs as targets the call falls through to `return 1`.
    let dispatch = object.program("dispatch").unwrap();
    assert_eq!(dispatch.run(&mut []).unwrap().retval, 1);
    let targets = tinybpf::tail_call_targets(&object, &tinybpf::LoadOptions::default());
    let mut ctx = tinybpf::vm::RunContext::new().with_tail_call_targets(targets);
    assert_eq!(dispatch.run_with(&mut [], &mut ctx).unwrap().retval, 10);
    assert_eq!(program.run(&mut []).unwrap().retval, 202);
}

#[test]
fn programs_of_one_object_share_their_maps() {
    let path = format!(
        "{}/loader/tests/fixtures/subprograms.o",
        env!("CARGO_MANIFEST_DIR")
    );
    let object = Object::open(path).unwrap();
    let entry = object.program("entry").unwrap();
    let other = object.program("other_entry").unwrap();
    let results = |program: &tinybpf::Program| {
        program
            .maps()
            .iter()
            .find(|m| m.name() == "results")
            .unwrap()
            .clone()
    };
    assert!(
        results(&entry)
            .bpf_map()
            .same_map(results(&other).bpf_map())
    );
    entry.run(&mut [0u8; 64]).unwrap();
    other.run(&mut [0u8; 16]).unwrap();
    // store(0, 5 * 5 * 3 + 1) by entry, store(1, 7 * 7) by other_entry.
    let shared = object.map("results").unwrap();
    assert_eq!(shared.get_at::<u64>(0).unwrap(), 76);
    assert_eq!(shared.get_at::<u64>(1).unwrap(), 49);
}

#[test]
fn global_variables_are_found_by_name_with_their_types() {
    let object = open("btf_globals.o");
    let program = object.program("btf_globals").unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 20);
    let linked = object.linked();
    let btf = linked.btf.as_ref().unwrap();
    let stats = linked.variable("stats").unwrap();
    assert_eq!(
        (stats.section.as_str(), stats.offset, stats.size),
        (".data", 0, 24)
    );
    assert_eq!(btf.type_name(stats.type_id.unwrap()), "struct stats");
    let total = linked.variable("total").unwrap();
    let data = object.map(&total.section).unwrap().get_bytes_at(0).unwrap();
    let at = total.offset as usize;
    // total = -5 + 19 after one run.
    assert_eq!(i64::from_le_bytes(data[at..at + 8].try_into().unwrap()), 14);
}
