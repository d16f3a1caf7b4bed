//! Issue 9's helpers seen from programs and the command line: helper names
//! in errors and listings, the deterministic clock and random generator,
//! csum_diff, fib_lookup, redirects, events and tail calls.

use std::process::{Command, Output};

fn testdata(file: &str) -> String {
    format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn tinybpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinybpf"))
        .args(args)
        .output()
        .expect("the tinybpf binary runs")
}

/// Runs the command, asserts it succeeded and returns its stdout.
fn ok(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(
        out.status.success(),
        "tinybpf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the command, asserts it failed, and returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(!out.status.success(), "tinybpf {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        std::fs::write(&file, bytes).unwrap();
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
type RedirectCase = (&'static str, Option<&'static [u8]>, u64, Option<&'static str>);

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
