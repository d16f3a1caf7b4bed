//! Issue 9's helpers seen from programs and the command line: helper names
//! in errors and listings, the deterministic clock and random generator,
//! csum_diff, fib_lookup, redirects, events and tail calls.

mod common;

use common::{fails, hex, ok, testdata};

#[test]
fn a_missing_kernel_helper_is_named_and_its_program_still_lists() {
    let path = testdata("unimplemented_helper.o");
    let error = fails(&["run", &path]);
    assert!(
        error.contains(
            "calls bpf_get_socket_cookie (46), a kernel helper tinybpf does not implement"
        ),
        "{error}"
    );
    let listing = ok(&["disasm", &path]);
    assert!(
        listing.contains("0: call 46 # bpf_get_socket_cookie, not implemented"),
        "{listing}"
    );
    // Implemented helpers carry the kernel's names too.
    let listing = ok(&["disasm", &testdata("xdp_counter.o"), "--no-inline"]);
    assert!(listing.contains("# bpf_map_lookup_elem"), "{listing}");
}

#[test]
fn ids_the_kernel_does_not_have_are_told_apart() {
    use tinybpf::vm::isa::asm::assemble_bytes;
    use tinybpf::vm::{LoadedProgram, ProgramOptions};
    let load = |text: &str| {
        let code = assemble_bytes(text).unwrap();
        LoadedProgram::load(&code, ProgramOptions::default())
            .unwrap_err()
            .to_string()
    };
    let missing = load("call 12345\nexit");
    assert!(
        missing.contains(
            "helper 12345, which is no kernel helper (the kernel's helper ids are 1 to 211)"
        ),
        "{missing}"
    );
    let known = load("call 46\nexit");
    assert!(
        known.contains("bpf_get_socket_cookie (46), a kernel helper tinybpf does not implement"),
        "{known}"
    );
}

/// The JSON report's `results` array entry `slot` as a u64 (little-endian hex).
fn result_slot(json: &str, slot: u32) -> u64 {
    let key = format!("\"{}\": \"", hex(&slot.to_le_bytes()));
    let start = json
        .find(&key)
        .unwrap_or_else(|| panic!("slot {slot}: {json}"))
        + key.len();
    let bytes: Vec<u8> = (0..8)
        .map(|i| u8::from_str_radix(&json[start + 2 * i..start + 2 * i + 2], 16).unwrap())
        .collect();
    u64::from_le_bytes(bytes.try_into().unwrap())
}

fn misc(program: &str, extra: &[&str]) -> String {
    let path = testdata("misc_helpers.o");
    let mut args = vec!["run", &path, "--program", program, "--json"];
    args.extend_from_slice(extra);
    ok(&args)
}

#[test]
fn a_fixed_clock_and_seed_make_runs_repeat() {
    let fixed = [
        "--clock-ns",
        "1000",
        "--clock-step-ns",
        "10",
        "--seed",
        "42",
        "--cpu",
        "1",
        "--cpus",
        "2",
    ];
    let first = misc("clock_and_random", &fixed);
    // ktime_get_ns, then boot_ns and coarse_ns: 1000, +10, +10.
    assert_eq!(result_slot(&first, 0), 1000);
    assert_eq!(result_slot(&first, 1), 10);
    assert_eq!(result_slot(&first, 2), 10);
    assert_eq!(
        result_slot(&first, 5),
        1,
        "bpf_get_smp_processor_id is --cpu"
    );
    let again = misc("clock_and_random", &fixed);
    assert_eq!(
        first.split("\"maps\"").nth(1),
        again.split("\"maps\"").nth(1),
        "the same clock and seed give the same maps"
    );
    // The random numbers are the run context's generator's with that seed.
    let (a, b) = (result_slot(&first, 3), result_slot(&first, 4));
    assert_ne!(a, b);
    assert!(a <= u64::from(u32::MAX) && b <= u64::from(u32::MAX));
    let other = misc("clock_and_random", &["--seed", "43"]);
    assert_ne!((result_slot(&other, 3), result_slot(&other, 4)), (a, b));
    let object = tinybpf::Object::open(testdata("misc_helpers.o")).unwrap();
    let program = object.program("clock_and_random").unwrap();
    let mut ctx = tinybpf::vm::RunContext::new().with_seed(42);
    program
        .run_with(&mut tinybpf::default_packet(), &mut ctx)
        .unwrap();
    let results = object.map("results").unwrap();
    assert_eq!(results.get_at::<u64>(3).unwrap(), a);
    assert_eq!(results.get_at::<u64>(4).unwrap(), b);
    // Without --clock-ns the host's clock runs: readings never go back.
    let host = misc("clock_and_random", &[]);
    assert!(result_slot(&host, 1) < 1 << 40 && result_slot(&host, 2) < 1 << 40);
}

#[test]
fn csum_diff_gives_the_kernels_folded_sums() {
    let json = misc("checksums", &[]);
    // The kernel selftest's vectors (test_csum_diff.c): push, pull, pull of
    // 15 bytes, diff, and a seed alone.
    assert_eq!(result_slot(&json, 8), 0x3b3b);
    assert_eq!(result_slot(&json, 9), 0xc4c4);
    assert_eq!(result_slot(&json, 10), 0x59be);
    assert_eq!(result_slot(&json, 11), 0xaeae);
    assert_eq!(result_slot(&json, 12), 0x1234);
    // The default packet's IPv4 header, little-endian words: 0x0045 +
    // 0x3200 + 0x0640 + 0x000a + 0x0100 + 0x000a + 0x0200.
    assert_eq!(result_slot(&json, 13), 0x3b99);
    // TTL 64 -> 63 in the low byte of a little-endian word: -1, which is
    // 0xfffe in ones' complement.
    assert_eq!(result_slot(&json, 14), 0xfffe);
}

#[test]
fn fib_lookup_without_routes_answers_not_forwarded() {
    let json = misc("fib", &[]);
    let errno = |e: i64| (-e) as u64;
    assert_eq!(result_slot(&json, 16), 4, "BPF_FIB_LKUP_RET_NOT_FWDED");
    assert_eq!(result_slot(&json, 17), errno(22), "plen below 64");
    assert_eq!(result_slot(&json, 18), errno(22), "unknown flag");
    assert_eq!(result_slot(&json, 19), errno(19), "no device 7");
    assert_eq!(result_slot(&json, 20), errno(97), "family 0");
    assert_eq!(result_slot(&json, 21), 4, "AF_INET6, BPF_FIB_LOOKUP_DIRECT");
}

#[test]
fn an_embedder_routes_with_its_own_fib_lookup() {
    use tinybpf::vm::{HelperContext, Helpers};
    let mut helpers = Helpers::with_builtins();
    // BPF_FIB_LKUP_RET_SUCCESS, after writing an egress ifindex.
    helpers.register(69, "my_fib_lookup", |ctx: &mut HelperContext<'_>, args| {
        ctx.write(args[1] + 8, &9u32.to_le_bytes())?;
        Ok(0)
    });
    let object = tinybpf::Object::open(testdata("misc_helpers.o")).unwrap();
    let options = tinybpf::LoadOptions {
        helpers,
        ..Default::default()
    };
    let program = object.program_with("fib", options).unwrap();
    program.run(&mut tinybpf::default_packet()).unwrap();
    let results = object.map("results").unwrap();
    assert_eq!(results.get_at::<u64>(16).unwrap(), 0);
    // Every call gets the embedder's answer, bad flags included.
    assert_eq!(results.get_at::<u64>(18).unwrap(), 0);
}

fn redirect_run(program: &str, packet: Option<&[u8]>) -> String {
    let path = testdata("redirects.o");
    let maps = testdata("redirects_maps.json");
    let mut args = vec![
        "run",
        &path,
        "--program",
        program,
        "--json",
        "--maps-in",
        &maps,
    ];
    let file;
    if let Some(bytes) = packet {
        file = std::env::temp_dir().join(format!("tinybpf-redirect-{program}.bin"));
        // The kernel's test run wants at least an Ethernet header.
        let mut padded = bytes.to_vec();
        padded.resize(padded.len().max(14), 0);
        std::fs::write(&file, padded).unwrap();
        args.extend(["--packet", file.to_str().unwrap()]);
    }
    ok(&args)
}

/// The `retval` and `redirect` members of a JSON report.
fn verdict(json: &str) -> (u64, Option<String>) {
    let retval = json["{\"retval\": ".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let redirect = json
        .split_once(", \"redirect\": ")
        .map(|(_, rest)| rest.trim_end().trim_end_matches('}').to_owned() + "}");
    (retval, redirect)
}

/// A program, its packet (`None`: the default), the retval and the
/// redirect JSON expected.
type RedirectCase = (
    &'static str,
    Option<&'static [u8]>,
    u64,
    Option<&'static str>,
);

#[test]
fn redirects_return_the_kernels_verdicts_and_record_the_target() {
    let cases: [RedirectCase; 11] = [
        (
            "to_ifindex",
            None,
            4,
            Some(r#"{"ifindex": 3, "ingress": false}"#),
        ),
        ("ifindex_with_flags", None, 0, None),
        // The default packet starts with 0x02: key 2 is empty, XDP_PASS.
        ("by_devmap", None, 2, None),
        (
            "by_devmap",
            Some(&[1]),
            4,
            Some(
                r#"{"map": "tx_ports", "map_type": "devmap", "key": 1, "target": 5, "broadcast": false, "exclude_ingress": false}"#,
            ),
        ),
        // Key 9 is past max_entries 4: a miss.
        ("by_devmap", Some(&[9]), 2, None),
        ("hit_then_miss", None, 1, None),
        (
            "wide_key",
            None,
            4,
            Some(
                r#"{"map": "tx_ports", "map_type": "devmap", "key": 1, "target": 5, "broadcast": false, "exclude_ingress": false}"#,
            ),
        ),
        (
            "broadcast",
            None,
            4,
            Some(
                r#"{"map": "tx_hash", "map_type": "devmap_hash", "key": 0, "target": null, "broadcast": true, "exclude_ingress": true}"#,
            ),
        ),
        ("cpumap_bad_flag", None, 0, None),
        (
            "to_cpu",
            None,
            4,
            Some(
                r#"{"map": "cpus", "map_type": "cpumap", "key": 0, "target": 0, "broadcast": false, "exclude_ingress": false}"#,
            ),
        ),
        ("empty_socket", None, 3, None),
    ];
    for (program, packet, retval, redirect) in cases {
        let json = redirect_run(program, packet);
        assert_eq!(
            verdict(&json),
            (retval, redirect.map(str::to_owned)),
            "{program} {packet:?}: {json}"
        );
    }
    let socket = redirect_run("to_socket", None);
    assert!(
        socket.contains(
            r#""redirect": {"map": "sockets", "map_type": "xskmap", "key": 2, "target": 77"#
        ),
        "{socket}"
    );
    // The table output says where the packet went.
    let path = testdata("redirects.o");
    let maps = testdata("redirects_maps.json");
    let text = ok(&["run", &path, "--program", "to_cpu", "--maps-in", &maps]);
    assert!(
        text.contains("redirect: cpus[0] (cpumap) -> CPU 0"),
        "{text}"
    );
}

fn events_run(program: &str, extra: &[&str]) -> String {
    let path = testdata("events.o");
    let mut args = vec!["run", &path, "--program", program, "--json", "--cpus", "4"];
    args.extend_from_slice(extra);
    ok(&args)
}

/// A signed result slot.
fn signed_slot(json: &str, slot: u32) -> i64 {
    result_slot(json, slot) as i64
}

#[test]
fn ring_buffer_records_reach_the_report_in_commit_order() {
    let json = events_run("ring_records", &[]);
    assert_eq!(signed_slot(&json, 0), 0, "output");
    assert_eq!(signed_slot(&json, 1), -22, "output with flag 4");
    assert_eq!(signed_slot(&json, 2), 1, "reserve 12");
    assert_eq!(signed_slot(&json, 3), 1, "reserve 8");
    assert_eq!(
        signed_slot(&json, 4),
        0,
        "reserve 8192 > ring of 4096: NULL"
    );
    assert_eq!(signed_slot(&json, 5), 0, "reserve with a flag: NULL");
    // Three records, the discarded one included: (8 + 8) + (8 + 16) + (8 + 8).
    assert_eq!(signed_slot(&json, 6), 56, "BPF_RB_AVAIL_DATA");
    assert_eq!(signed_slot(&json, 7), 4096, "BPF_RB_RING_SIZE");
    // The discarded record never arrives; the one written in place does.
    assert!(
        json.contains(r#""events": {"ring": ["0100000002000000", "aaaaaaaabbbbbbbbcccccccc"]}"#),
        "{json}"
    );
    // Every run adds its records; none is consumed between runs.
    let twice = events_run("ring_records", &["--repeat", "2"]);
    assert_eq!(signed_slot(&twice, 6), 112);
    assert!(
        twice.contains(r#"["0100000002000000", "aaaaaaaabbbbbbbbcccccccc", "0100000002000000", "aaaaaaaabbbbbbbbcccccccc"]"#),
        "{twice}"
    );
    // The table output lists them.
    let path = testdata("events.o");
    let text = ok(&["run", &path, "--program", "ring_records", "--cpus", "4"]);
    assert!(
        text.contains("events ring: 2 records\n  01 00 00 00 02 00 00 00\n  aa aa aa aa bb bb bb bb cc cc cc cc\n"),
        "{text}"
    );
}

#[test]
fn a_record_left_open_is_discarded_when_the_run_ends() {
    let object = tinybpf::Object::open(testdata("events.o"))
        .unwrap()
        .with_possible_cpus(4)
        .unwrap();
    let open = object.program("ring_left_open").unwrap();
    let records = object.program("ring_records").unwrap();
    for _ in 0..3 {
        assert_eq!(open.run(&mut tinybpf::default_packet()).unwrap().retval, 2);
    }
    records.run(&mut tinybpf::default_packet()).unwrap();
    // Had the open records stayed busy, the reader would stop at the first.
    let logs = tinybpf::drain_events(&records);
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].map, "ring");
    assert_eq!(logs[0].records.len(), 2, "{logs:?}");
    // Three discarded records of 16 bytes, then the 56 bytes of ring_records.
    let results = object.map("results").unwrap();
    assert_eq!(results.get_at::<i64>(6).unwrap(), 3 * 16 + 56);
}

#[test]
fn perf_samples_follow_the_kernels_rules() {
    let json = events_run("perf_samples", &[]);
    assert_eq!(signed_slot(&json, 8), 0);
    assert_eq!(signed_slot(&json, 9), 0);
    assert_eq!(signed_slot(&json, 10), -7, "index 4 >= max_entries: E2BIG");
    assert_eq!(signed_slot(&json, 11), -22, "unknown flag: EINVAL");
    assert_eq!(signed_slot(&json, 12), -14, "0xfffff packet bytes: EFAULT");
    assert_eq!(
        signed_slot(&json, 13),
        -95,
        "CPU 1's entry from CPU 0: EOPNOTSUPP"
    );
    // 4 bytes (4 + 4 is a multiple of 8); then 4 + 14 packet bytes padded
    // to 20 (4 + 20 = 24).
    assert!(
        json.contains(
            r#""events": {"perf": ["04030201", "0403020102000000000202000000000108000000"]}"#
        ),
        "{json}"
    );
    // On CPU 2, BPF_F_CURRENT_CPU is entry 2, and entry 1 is still another CPU's.
    let on_two = events_run("perf_samples", &["--cpu", "2"]);
    assert_eq!(signed_slot(&on_two, 8), 0);
    assert_eq!(signed_slot(&on_two, 13), -95);
}

#[test]
fn perf_output_without_a_reader_is_enoent() {
    let object = tinybpf::Object::open(testdata("events.o"))
        .unwrap()
        .with_possible_cpus(4)
        .unwrap();
    let program = object.program("perf_samples").unwrap();
    program.run(&mut tinybpf::default_packet()).unwrap();
    let results = object.map("results").unwrap();
    assert_eq!(results.get_at::<i64>(8).unwrap(), -2);
    tinybpf::attach_perf_readers(&object).unwrap();
    program.run(&mut tinybpf::default_packet()).unwrap();
    assert_eq!(results.get_at::<i64>(8).unwrap(), 0);
}

#[test]
fn tail_calls_stop_at_the_kernels_limit_and_fall_through_when_empty() {
    let path = testdata("tail_calls.o");
    // entry -> again, then again -> again until the 33rd tail call: again
    // ran 33 times and its last tail call fell through to `return 1`.
    let json = ok(&["run", &path, "--program", "entry", "--json"]);
    assert!(json.starts_with(r#"{"retval": 1,"#), "{json}");
    assert!(
        json.contains(r#"".bss": {"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1, "entries": {"00000000": "2100000000000000"}"#),
        "{json}"
    );
    // Counted afresh each run: 66 after two.
    let twice = ok(&[
        "run",
        &path,
        "--program",
        "entry",
        "--json",
        "--repeat",
        "2",
    ]);
    assert!(
        twice.contains(r#""00000000": "4200000000000000""#),
        "{twice}"
    );
    // An empty slot: the program goes on after the call.
    let empty = ok(&["run", &path, "--program", "to_empty", "--json"]);
    assert!(empty.starts_with(r#"{"retval": 7,"#), "{empty}");
    // btf_maps.o's dispatch: jumps[0] is tail_zero, which returns 10.
    let dispatch = ok(&["run", &testdata("btf_maps.o"), "--program", "dispatch"]);
    assert!(dispatch.contains("retval: 10 (0xa)"), "{dispatch}");
}

#[test]
fn repeats_go_on_with_the_packet_a_tail_called_program_moved() {
    // measure records the length it sees, then tail-calls trim, which
    // moves `data` 2 bytes on: each repeat sees 2 bytes fewer.
    let path = testdata("xdp_tail_moves.o");
    for tier in [&[][..], &["--jit"][..]] {
        let mut args = vec![
            "run",
            &path,
            "--program",
            "measure",
            "--json",
            "--repeat",
            "3",
        ];
        args.extend_from_slice(tier);
        let json = ok(&args);
        assert!(json.starts_with(r#"{"retval": 2,"#), "{json}");
        assert!(
            json.contains(r#""entries": {"00000000": "4000000000000000", "01000000": "3e00000000000000", "02000000": "3c00000000000000", "03000000": "0000000000000000""#),
            "{json}"
        );
        assert!(json.contains(r#""data_end": 58,"#), "{json}");
    }
}

/// The JSON report without its timings, for snapshots.
fn without_timings(json: &str) -> String {
    let mut out = String::new();
    for part in json.trim_end().split(", ") {
        if part.starts_with("\"first_run_ns\"") || part.starts_with("\"ns_per_run\"") {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(part);
    }
    out
}

/// The table output without its time line and with paths relative to the
/// repository, for snapshots.
fn without_time_line(text: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    text.replace(root, "")
        .lines()
        .filter(|line| !line.starts_with("time: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn snapshots_of_the_helpers_programs() {
    let fixed = ["--clock-ns", "1000", "--clock-step-ns", "10", "--seed", "7"];
    let mut report = String::new();
    for program in ["clock_and_random", "checksums", "fib"] {
        report += &without_timings(&misc(program, &fixed));
        report.push('\n');
    }
    insta::assert_snapshot!("misc_helpers_json", report);

    let mut report = String::new();
    for program in [
        "to_ifindex",
        "ifindex_with_flags",
        "by_devmap",
        "hit_then_miss",
        "wide_key",
        "broadcast",
        "cpumap_bad_flag",
        "to_cpu",
        "to_socket",
        "empty_socket",
    ] {
        report += &format!(
            "{program}: {}\n",
            without_timings(&redirect_run(program, None))
        );
    }
    insta::assert_snapshot!("redirects_json", report);

    let mut report = String::new();
    for program in ["ring_records", "ring_left_open", "perf_samples"] {
        report += &format!(
            "{program}: {}\n",
            without_timings(&events_run(program, &["--repeat", "2"]))
        );
    }
    insta::assert_snapshot!("events_json", report);

    let path = testdata("events.o");
    let text = ok(&["run", &path, "--program", "perf_samples", "--cpus", "4"]);
    insta::assert_snapshot!("events_table", without_time_line(&text));
    let path = testdata("redirects.o");
    let maps = testdata("redirects_maps.json");
    let text = ok(&["run", &path, "--program", "to_socket", "--maps-in", &maps]);
    insta::assert_snapshot!("redirect_table", without_time_line(&text));
    let path = testdata("tail_calls.o");
    let text = ok(&["run", &path, "--program", "entry", "--repeat", "3"]);
    insta::assert_snapshot!("tail_calls_table", without_time_line(&text));
    let listing = ok(&["disasm", &testdata("unimplemented_helper.o")]);
    insta::assert_snapshot!("unimplemented_helper_disasm", without_time_line(&listing));
}

#[test]
fn spin_locks_exclude_other_threads_and_are_released_at_the_end() {
    let object = tinybpf::Object::open(testdata("spin_lock.o")).unwrap();
    let program = object.program("locked_add").unwrap();
    let threads = 4;
    let runs = 2000;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..runs {
                    assert_eq!(program.run(&mut []).unwrap().retval, 1);
                }
            });
        }
    });
    let guarded = object.map("guarded").unwrap();
    let value = guarded.lookup_bytes(&0u32.to_le_bytes()).unwrap();
    let counter = u64::from_le_bytes(value[8..16].try_into().unwrap());
    assert_eq!(counter, threads * runs, "no update lost");
    assert_eq!(value[..4], [0; 4], "the lock is free");
    // A run that ends holding the lock: released, so the next run locks.
    let forgets = object.program("forgets_unlock").unwrap();
    for _ in 0..3 {
        assert_eq!(forgets.run(&mut []).unwrap().retval, 2);
    }
    assert_eq!(program.run(&mut []).unwrap().retval, 1);
    let value = guarded.lookup_bytes(&0u32.to_le_bytes()).unwrap();
    assert_eq!(
        u64::from_le_bytes(value[8..16].try_into().unwrap()),
        threads * runs + 301
    );
    // A second lock is what the kernel's verifier refuses: the run ends.
    let twice = object.program("locks_twice").unwrap();
    let error = twice.run(&mut []).unwrap_err().to_string();
    assert!(
        error.contains("bpf_spin_lock (93): the spin lock at 0x300000000 is a second lock"),
        "{error}"
    );
    // ...and releases the lock it held.
    assert_eq!(program.run(&mut []).unwrap().retval, 1);
}

#[test]
fn a_lock_word_that_never_frees_ends_the_run_on_its_budget() {
    use tinybpf::vm::{RunContext, RunError};
    let object = tinybpf::Object::open(testdata("spin_lock.o")).unwrap();
    let program = object.program("locked_add").unwrap();
    // User space wrote the lock word: no run will ever release it.
    let guarded = object.map("guarded").unwrap();
    let mut value = [0u8; 16];
    value[0] = 1;
    guarded
        .update_bytes(&0u32.to_le_bytes(), &value, 0)
        .unwrap();
    let mut ctx = RunContext::new().with_budget(10_000);
    let error = program.run_with(&mut [], &mut ctx).unwrap_err();
    assert!(
        matches!(
            error,
            tinybpf::Error::Run {
                source: RunError::BudgetExhausted { budget: 10_000, .. },
                ..
            }
        ),
        "{error:?}"
    );
}
