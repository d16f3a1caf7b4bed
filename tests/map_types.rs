//! The facade's maps of every type, as a user meets them: typed keys and
//! values, per-CPU values, streaming entries, the errors that name the map
//! and the fix, CPUs (`LoadOptions::possible_cpus`, `RunContext::cpu_id`)
//! and the object's memory budget.

use tinybpf::maps::{BPF_EXIST, BPF_NOEXIST, MemoryBudget, errno};
use tinybpf::vm::{RunContext, RunError};
use tinybpf::{Error, LoadOptions, MapsIn, Object};

fn testdata(file: &str) -> String {
    format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn open(file: &str) -> Object {
    Object::open(testdata(file)).unwrap()
}

fn with_cpus(cpus: u32) -> LoadOptions {
    LoadOptions {
        possible_cpus: Some(cpus),
        ..LoadOptions::default()
    }
}

fn errno_of(err: Error) -> i32 {
    match err {
        Error::Map { source, .. } => source.errno(),
        other => panic!("not a map error: {other}"),
    }
}

#[test]
fn hash_maps_take_typed_keys_with_the_kernels_flags_and_errnos() {
    let object = open("hash_ops.o");
    let flows = object.map("flows").unwrap();
    assert_eq!(flows.type_name(), "hash");
    flows.update(&1u32, &10u64, BPF_NOEXIST).unwrap();
    assert_eq!(
        errno_of(flows.update(&1u32, &11u64, BPF_NOEXIST).unwrap_err()),
        errno::EEXIST
    );
    assert_eq!(
        errno_of(flows.update(&2u32, &20u64, BPF_EXIST).unwrap_err()),
        errno::ENOENT
    );
    for k in 2..=4u32 {
        flows.set(&k, &u64::from(k * 10)).unwrap();
    }
    assert_eq!(
        errno_of(flows.set(&5u32, &50u64).unwrap_err()),
        errno::E2BIG
    );
    assert_eq!(flows.get::<u32, u64>(&3).unwrap(), 30);
    assert_eq!(
        errno_of(flows.get::<u32, u64>(&9).unwrap_err()),
        errno::ENOENT
    );
    flows.delete(&3u32).unwrap();
    assert_eq!(errno_of(flows.delete(&3u32).unwrap_err()), errno::ENOENT);
    // Streaming entries, in the hash's own order: the keys present.
    let mut keys: Vec<u32> = flows
        .entries()
        .map(|(k, _)| u32::from_le_bytes(k.try_into().unwrap()))
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, [1, 2, 4]);
    // The program sees what user space set.
    // (It sets key 1 to 11, then adds 1.)
    let program = object.program("hash_ops").unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 12);
    assert_eq!(flows.get::<u32, u64>(&1).unwrap(), 12);
}

#[test]
fn sizes_and_per_cpu_calls_are_checked_with_sentences_that_say_the_fix() {
    let object = open("percpu.o");
    let program = object.program_with("count_percpu", with_cpus(2)).unwrap();
    program.run(&mut []).unwrap();
    let hits = object.map("cpu_hits").unwrap();
    let err = hits.get::<u64, u64>(&0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeySize {
                size: 8,
                key_size: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("use a key type of 4 bytes"),
        "{err}"
    );
    let err = hits.get::<u32, u64>(&0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PerCpu {
                call: "get_percpu",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("map cpu_hits is a percpu_array map: use get_percpu for it"),
        "{err}"
    );
    let err = hits.set_percpu(&0u32, &[1u64, 2, 3]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CpuCount {
                given: 3,
                possible_cpus: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = hits.get_percpu::<u32, u32>(&0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ValueSize {
                size: 4,
                value_size: 8,
                ..
            }
        ),
        "{err}"
    );
    let flows = open("hash_ops.o");
    let err = flows
        .map("flows")
        .unwrap()
        .get_percpu::<u32, u64>(&1)
        .unwrap_err();
    assert!(matches!(err, Error::PerCpu { call: "get", .. }), "{err}");
    // Set every CPU, or one value for all.
    hits.set_percpu(&2u32, &[7u64, 8]).unwrap();
    assert_eq!(hits.get_percpu::<u32, u64>(&2).unwrap(), [7, 8]);
    hits.set(&3u32, &9u64).unwrap();
    assert_eq!(hits.get_percpu::<u32, u64>(&3).unwrap(), [9, 9]);
    // The bytes calls use the kernel's format: each CPU padded to 8.
    assert_eq!(hits.user_value_size(), 16);
    assert_eq!(hits.lookup_bytes(&2u32.to_le_bytes()).unwrap()[8], 8);
}

#[test]
fn four_threads_on_four_cpus_count_exactly_without_contention() {
    const RUNS: u64 = 2000;
    let object = open("percpu.o");
    let program = object.program_with("count_percpu", with_cpus(4)).unwrap();
    assert_eq!(program.possible_cpus(), 4);
    std::thread::scope(|scope| {
        for cpu in 0..4 {
            let program = &program;
            scope.spawn(move || {
                let mut ctx = RunContext::new().with_cpu(cpu);
                for _ in 0..RUNS {
                    program.run_with(&mut [], &mut ctx).unwrap();
                }
            });
        }
    });
    // Plain (non-atomic) increments, yet exact: each CPU has its own value.
    let hits = object.map("cpu_hits").unwrap();
    assert_eq!(hits.get_percpu::<u32, u64>(&0).unwrap(), [RUNS; 4]);
    assert_eq!(hits.get_percpu::<u32, u64>(&1).unwrap(), [64 * RUNS; 4]);
    // The hash element is created once (by whichever CPU came first, the
    // others' values zeroed), then counted per CPU.
    let flows = object.map("cpu_flows").unwrap();
    assert_eq!(flows.get_percpu::<u32, u64>(&7).unwrap(), [RUNS; 4]);
    // Every program reads CPU 0's count through bpf_map_lookup_percpu_elem.
    let mut ctx = RunContext::new().with_cpu(3);
    assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, RUNS);
}

#[test]
fn the_objects_cpus_are_fixed_once_and_runs_must_use_one_of_them() {
    let object = open("percpu.o");
    let program = object.program_with("count_percpu", with_cpus(3)).unwrap();
    assert_eq!(object.possible_cpus(), 3);
    assert_eq!(object.map("cpu_hits").unwrap().possible_cpus(), 3);
    // A run on CPU 3 of 3: the VM's error, through the facade.
    let mut ctx = RunContext::new().with_cpu(3);
    let err = program.run_with(&mut [], &mut ctx).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Run {
                source: RunError::CpuOutOfRange {
                    cpu: 3,
                    possible_cpus: 3
                },
                ..
            }
        ),
        "{err}"
    );
    // Loading again for another number of CPUs is refused; the same or
    // none is fine.
    let err = object
        .program_with("count_percpu", with_cpus(4))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PossibleCpus {
                requested: 4,
                fixed: Some(3),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("load every program of an object with the same number of CPUs"),
        "{err}"
    );
    assert!(object.program_with("count_percpu", with_cpus(3)).is_ok());
    assert!(object.program("count_percpu").is_ok());
    // Out of the kernel's range.
    let err = open("percpu.o")
        .program_with("count_percpu", with_cpus(0))
        .unwrap_err();
    assert!(err.to_string().contains("give 1 to 8192"), "{err}");
    // A program without maps still runs only on a possible CPU.
    let object = open("count_packets.o");
    let program = object.program_with("count_packets", with_cpus(2)).unwrap();
    let mut ctx = RunContext::new().with_cpu(2);
    assert!(
        program
            .run_with(&mut tinybpf::default_packet(), &mut ctx)
            .is_err()
    );
}

#[test]
fn the_maps_of_an_object_share_one_memory_budget() {
    // Each map reserves whole pages (values) plus its index; 64 KiB holds
    // the small maps of hash_ops.o but not lru_hash.o's three.
    let object = open("hash_ops.o").with_memory_budget(MemoryBudget::new(64 << 10));
    object.program("hash_ops").unwrap();
    assert!(object.memory_budget().used() > 0);
    let used = object.memory_budget().used();
    let tight = open("lru_hash.o").with_memory_budget(MemoryBudget::new(used / 2));
    let err = tight.program("lru_evict").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("memory budget exceeded"), "{message}");
    assert!(tight.maps().len() < 3, "nothing past the budget is created");
}

#[test]
fn slot_maps_are_filled_from_user_space_and_seen_by_programs() {
    let object = open("special_maps.o");
    let program = object.program_with("use_devmap", with_cpus(4)).unwrap();
    assert_eq!(
        program.run(&mut tinybpf::default_packet()).unwrap().retval,
        0
    );
    MapsIn::parse(
        r#"{"tx_ports": {"0": 5}, "xsks": {"0": 7}, "jump_table": {"1": "use_devmap", "3": 2},
            "cpu_targets": {"3": 64}, "perf_events": {"0": 11}}"#,
        &object,
    )
    .unwrap()
    .apply()
    .unwrap();
    assert_eq!(
        program.run(&mut tinybpf::default_packet()).unwrap().retval,
        1005
    );
    let jump_table = object.map("jump_table").unwrap();
    let programs = object.program_names();
    let use_devmap = programs.iter().position(|p| *p == "use_devmap").unwrap() as u32;
    assert_eq!(jump_table.get::<u32, u32>(&1).unwrap(), use_devmap);
    assert_eq!(jump_table.entries().count(), 2);
    // A perf event array defined with max_entries 0 has one per CPU.
    let perf = object.map("perf_events").unwrap();
    assert_eq!(perf.def().max_entries, 4);
    assert_eq!(perf.entries().count(), 1);
    // A ring buffer lists nothing.
    assert_eq!(object.map("events").unwrap().entries().count(), 0);
    assert_eq!(object.map("events").unwrap().type_name(), "ringbuf");
}

#[test]
fn a_refused_maps_in_entry_puts_back_every_entry_set_before_it() {
    let object = open("special_maps.o");
    object.program_with("use_devmap", with_cpus(2)).unwrap();
    object.map("xsks").unwrap().set(&1u32, &3u32).unwrap();
    // xsks[1] replaced and xsks[0] added, then the CPU map refuses a queue
    // size past 16384: both are back as they were.
    let err = MapsIn::parse(
        r#"{"xsks": {"1": 4, "0": 5}, "cpu_targets": {"1": 99999}}"#,
        &object,
    )
    .unwrap()
    .apply()
    .unwrap_err();
    assert!(
        err.to_string().contains(
            "the map refused the value: CPU map queue size 99999 exceeds 16384; nothing was set"
        ),
        "{err}"
    );
    let xsks: Vec<(Vec<u8>, Vec<u8>)> = object.map("xsks").unwrap().entries().collect();
    assert_eq!(
        xsks,
        [(1u32.to_le_bytes().to_vec(), 3u32.to_le_bytes().to_vec())]
    );
    assert_eq!(object.map("cpu_targets").unwrap().entries().count(), 0);
}

#[test]
fn maps_in_fills_hashes_per_cpu_maps_and_tries_or_says_why_not() {
    let object = open("percpu.o");
    object.program_with("count_percpu", with_cpus(2)).unwrap();
    // One value for every CPU, or every CPU's value in the kernel's format.
    MapsIn::parse(
        r#"{"cpu_hits": {"0": 5, "1": "01000000000000000200000000000000"},
            "cpu_flows": {"9": "0x10", "0x0a": "03000000000000000400000000000000"}}"#,
        &object,
    )
    .unwrap()
    .apply()
    .unwrap();
    let hits = object.map("cpu_hits").unwrap();
    assert_eq!(hits.get_percpu::<u32, u64>(&0).unwrap(), [5, 5]);
    assert_eq!(hits.get_percpu::<u32, u64>(&1).unwrap(), [1, 2]);
    let flows = object.map("cpu_flows").unwrap();
    assert_eq!(flows.get_percpu::<u32, u64>(&9).unwrap(), [16, 16]);
    assert_eq!(flows.get_percpu::<u32, u64>(&10).unwrap(), [3, 4]);
    // A per-CPU value of the wrong size names both forms.
    let err = MapsIn::parse(r#"{"cpu_hits": {"0": "01 02 03"}}"#, &object).unwrap_err();
    assert!(
        err.to_string()
            .contains("or every CPU's value as 16 bytes in hex (each padded to 8, CPU 0 first)"),
        "{err}"
    );
    // A hash has room for 8 keys and holds 2: 7 new ones do not fit.
    let many: Vec<String> = (20..27).map(|k| format!("\"{k}\": 1")).collect();
    let text = format!("{{\"cpu_flows\": {{{}}}}}", many.join(", "));
    let err = MapsIn::parse(&text, &object).unwrap_err();
    assert_eq!(
        err.to_string(),
        "map \"cpu_flows\": it has room for 8 entries and holds 2, but --maps-in adds 7 new keys; give at most 6 new keys"
    );
    assert_eq!(flows.entries().count(), 2, "nothing set");
    // LPM trie keys are their bytes: prefix length then address.
    let routes = open("lpm_trie.o");
    MapsIn::parse(r#"{"routes": {"10 00 00 00 c0 a8 00 00": 42}}"#, &routes)
        .unwrap()
        .apply()
        .unwrap();
    let key = [0x10, 0, 0, 0, 0xc0, 0xa8, 0, 0];
    assert_eq!(
        routes
            .map("routes")
            .unwrap()
            .get::<[u8; 8], u32>(&key)
            .unwrap(),
        42
    );
    // A ring buffer holds no entries.
    let special = open("special_maps.o");
    let err = MapsIn::parse(r#"{"events": {"0": 1}}"#, &special).unwrap_err();
    assert_eq!(
        err.to_string(),
        "map \"events\" is a ringbuf map, which holds no entries to preset; leave it out"
    );
}
