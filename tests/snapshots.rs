//! Snapshot tests: every program in `testdata/` run once and run 1,000 times
//! (`BPF_PROG_TEST_RUN` semantics: one loaded program, maps keep their state
//! from run to run), its return value and every map's non-zero entries
//! snapshotted as text (no timings).
//!
//! Each case runs twice, with the lookup rewriting on (the default) and off;
//! both must give the same return value and the same map bytes. The values
//! `testdata/EXPECTED.md` works out by hand from the C are also asserted here
//! directly, so a wrong snapshot cannot be accepted without a failing test.

use std::fmt::Write as _;

use tinybpf::vm::RunContext;
use tinybpf::{LoadOptions, MapsIn, Object};

/// A map's entries: (key bytes, value bytes), in the map's order (arrays:
/// index order).
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The state of one object after a test run.
struct Observed {
    /// The last run's return value.
    retval: u64,
    /// Every map: name and all entries (index, value bytes).
    maps: Vec<(String, Entries)>,
    /// The stable text that is snapshotted.
    text: String,
    /// How many lookup sites the VM rewrote.
    rewritten: usize,
}

fn testdata(file: &str) -> String {
    format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The possible CPUs of every snapshot (per-CPU values show one per CPU,
/// so the snapshots must not depend on the host).
const CPUS: u32 = 4;

/// How a case runs besides its input: the CPU, and entries set from user
/// space (a `--maps-in` document) after loading, before the first run.
#[derive(Clone, Copy, Default)]
struct Setup<'a> {
    cpu: u32,
    maps_in: Option<&'a str>,
}

/// Opens `file` afresh (zeroed maps, global data from the ELF), loads its
/// program and runs it `repeat` times over `input`.
fn observe(file: &str, program: &str, input: &[u8], repeat: u32, inline: bool) -> Observed {
    observe_with(file, program, input, repeat, inline, Setup::default())
}

/// [`observe`] on `setup.cpu` of [`CPUS`], with `setup.maps_in` applied first.
fn observe_with(
    file: &str,
    program: &str,
    input: &[u8],
    repeat: u32,
    inline: bool,
    setup: Setup<'_>,
) -> Observed {
    let object = Object::open(testdata(file)).unwrap();
    let options = LoadOptions {
        inline_lookups: inline,
        possible_cpus: Some(CPUS),
        ..LoadOptions::default()
    };
    let loaded = object.program_with(program, options).unwrap();
    if let Some(document) = setup.maps_in {
        MapsIn::parse(document, &object).unwrap().apply().unwrap();
    }
    let mut ctx = RunContext::new().with_cpu(setup.cpu);
    let run = loaded.test_run(input, repeat, &mut ctx).unwrap();
    assert_eq!(run.repeat, repeat);

    let mut text = String::new();
    let _ = writeln!(
        text,
        "{file}: program {} (section {}), input {} bytes, {repeat} run(s)",
        loaded.name(),
        loaded.section(),
        input.len()
    );
    let _ = writeln!(text, "retval: {} ({:#x})", run.retval, run.retval);
    for map in object.maps() {
        let def = map.def();
        let _ = writeln!(
            text,
            "\nmap {}: key_size {}, value_size {}, max_entries {}, flags {:#x}{}",
            map.name(),
            def.key_size,
            def.value_size,
            def.max_entries,
            def.map_flags,
            if map.is_frozen() { ", frozen" } else { "" }
        );
        text.push_str(&map.dump(true));
    }
    Observed {
        retval: run.retval,
        maps: object
            .maps()
            .iter()
            .map(|m| (m.name().to_owned(), sorted_entries(m)))
            .collect(),
        text,
        rewritten: loaded.vm().rewrites().len(),
    }
}

/// A map's entries sorted by key: by the little-endian integer for keys
/// of up to 8 bytes (arrays stay in index order), else by the bytes. A
/// hash's own order depends on its random seed.
fn sorted_entries(map: &tinybpf::Map) -> Entries {
    let mut entries: Entries = map.entries().collect();
    entries.sort_by_key(|(key, _)| {
        let number = (key.len() <= 8).then(|| {
            key.iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        });
        (number, key.clone())
    });
    entries
}

/// Runs with and without lookup rewriting, asserts both agree byte for byte,
/// and returns the default (rewriting) result.
fn observe_both(file: &str, program: &str, input: &[u8], repeat: u32) -> Observed {
    observe_both_with(file, program, input, repeat, Setup::default())
}

/// [`observe_both`] with a [`Setup`].
fn observe_both_with(
    file: &str,
    program: &str,
    input: &[u8],
    repeat: u32,
    setup: Setup<'_>,
) -> Observed {
    let inline = observe_with(file, program, input, repeat, true, setup);
    let plain = observe_with(file, program, input, repeat, false, setup);
    assert_eq!(
        plain.rewritten, 0,
        "{file}: --no-inline must rewrite nothing"
    );
    assert_eq!(
        inline.retval, plain.retval,
        "{file} x{repeat}: retval differs with and without lookup rewriting"
    );
    assert_eq!(
        inline.maps, plain.maps,
        "{file} x{repeat}: map bytes differ with and without lookup rewriting"
    );
    assert_eq!(inline.text, plain.text);
    inline
}

/// Little-endian value bytes built field by field, as the C lays them out.
#[derive(Default)]
struct Value(Vec<u8>);

impl Value {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn pad(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

fn u64v(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Asserts the return value and that the non-zero entries of all maps are
/// exactly `expected` (map, index or 4-byte key, value bytes), in map then
/// key order.
fn assert_expected(observed: &Observed, retval: u64, expected: &[(&str, u32, Vec<u8>)]) {
    assert_eq!(observed.retval, retval, "retval");
    let nonzero: Vec<(&str, &[u8], &[u8])> = observed
        .maps
        .iter()
        .flat_map(|(name, entries)| {
            entries
                .iter()
                .filter(|(_, v)| v.iter().any(|&b| b != 0))
                .map(move |(k, v)| (name.as_str(), k.as_slice(), v.as_slice()))
        })
        .collect();
    let keys: Vec<[u8; 4]> = expected.iter().map(|(_, i, _)| i.to_le_bytes()).collect();
    let expected: Vec<(&str, &[u8], &[u8])> = expected
        .iter()
        .zip(&keys)
        .map(|((name, _, v), key)| (*name, key.as_slice(), v.as_slice()))
        .collect();
    assert_eq!(nonzero, expected, "non-zero map entries");
}

/// The value of entry `index` of map `name`.
fn entry<'a>(observed: &'a Observed, name: &str, index: u32) -> &'a [u8] {
    let (_, entries) = observed.maps.iter().find(|(n, _)| n == name).unwrap();
    let key = index.to_le_bytes();
    &entries.iter().find(|(k, _)| k == &key).unwrap().1
}

fn seed_globals_value(lat_ave: u64, lat_sum: u64, missed: u64, max_lat: u64, num: u32) -> Vec<u8> {
    Value::default()
        .u64(lat_ave)
        .u64(lat_sum)
        .u64(missed)
        .u64(max_lat)
        .u32(num)
        .pad(4)
        .0
}

#[test]
fn seed_globals() {
    let once = observe_both("seed_globals.o", "seed_globals", &[], 1);
    assert!(once.rewritten > 0, "the constant-key lookups are rewritten");
    assert_expected(
        &once,
        64,
        &[("global_map", 0, seed_globals_value(0, 1632, 0, 41, 64))],
    );
    insta::assert_snapshot!("seed_globals_1_run", once.text);

    let many = observe_both("seed_globals.o", "seed_globals", &[], 1000);
    assert_expected(
        &many,
        100,
        &[(
            "global_map",
            0,
            seed_globals_value(25, 2534, 63_900, 41, 100),
        )],
    );
    insta::assert_snapshot!("seed_globals_1000_runs", many.text);
}

#[test]
fn histogram() {
    const ONE_RUN: [u64; 16] = [1, 5, 2, 2, 1, 4, 4, 4, 2, 2, 3, 2, 1, 4, 5, 4];
    for (repeat, name) in [(1u32, "histogram_1_run"), (1000, "histogram_1000_runs")] {
        let observed = observe_both("histogram.o", "histogram", &[], repeat);
        assert!(
            observed.rewritten > 0,
            "the run-time-key lookup is rewritten"
        );
        let expected: Vec<_> = (0u32..)
            .zip(ONE_RUN)
            .map(|(bucket, count)| ("hist", bucket, u64v(count * u64::from(repeat))))
            .collect();
        // 46 hits per run, the other 54 of 100 keys miss the 16 buckets.
        assert_eq!(ONE_RUN.iter().sum::<u64>(), 46);
        assert_expected(&observed, 54, &expected);
        insta::assert_snapshot!(name, observed.text);
    }
}

fn proto_rec(packets: u64, frame_bytes: u64, ip_bytes: u64) -> Vec<u8> {
    Value::default()
        .u64(packets)
        .u64(frame_bytes)
        .u64(ip_bytes)
        .0
}

const XDP_DROP: u64 = 1;
const XDP_PASS: u64 = 2;

#[test]
fn xdp_counter_default_packet() {
    let packet = tinybpf::default_packet();
    // The frame EXPECTED.md works from: Ethernet, IPv4 (ihl 5, total length
    // 50, TTL 64, TCP), TCP ports 12345 -> 80, zero padding to 64 bytes.
    let mut frame = Vec::new();
    for (hex, len) in [
        ("020000000002020000000001080045000032000000004006", 24),
        ("00000a0000010a0000023039005000000000", 18),
    ] {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(bytes.len(), len);
        frame.extend(bytes);
    }
    frame.resize(64, 0);
    assert_eq!(packet, frame);
    for (n, name) in [
        (1u64, "xdp_counter_default_packet_1_run"),
        (1000, "xdp_counter_default_packet_1000_runs"),
    ] {
        let repeat = u32::try_from(n).unwrap();
        let observed = observe_both("xdp_counter.o", "xdp_counter", &packet, repeat);
        assert!(observed.rewritten > 0);
        assert_expected(
            &observed,
            XDP_PASS,
            &[
                ("outcome", 3, u64v(n)),
                ("proto_stats", 6, proto_rec(n, 64 * n, 50 * n)),
                ("dport_hits", 80, u64v(n)),
            ],
        );
        insta::assert_snapshot!(name, observed.text);
    }
}

#[test]
fn xdp_counter_truncated_packets() {
    let packet = tinybpf::default_packet();
    // A 10-byte frame is shorter than Ethernet: the kernel's test run
    // refuses it (see `packets_shorter_than_an_ethernet_header_are_refused`
    // in tests/packet_programs.rs), so outcome[0] cannot be reached.
    // 20 bytes: IPv4 EtherType but no room for the IPv4 header: outcome[2].
    // 34 bytes: the IPv4 header fits (counted, with the header's total length
    // of 50), but the TCP ports would end at 38: XDP_DROP, no dport hit.
    for n in [1u64, 1000] {
        let repeat = u32::try_from(n).unwrap();
        let runs = if n == 1 { "1_run" } else { "1000_runs" };

        let observed = observe_both("xdp_counter.o", "xdp_counter", &packet[..20], repeat);
        assert_expected(&observed, XDP_DROP, &[("outcome", 2, u64v(n))]);
        insta::assert_snapshot!(format!("xdp_counter_first_20_bytes_{runs}"), observed.text);

        let observed = observe_both("xdp_counter.o", "xdp_counter", &packet[..34], repeat);
        assert_expected(
            &observed,
            XDP_DROP,
            &[
                ("outcome", 3, u64v(n)),
                ("proto_stats", 6, proto_rec(n, 34 * n, 50 * n)),
            ],
        );
        insta::assert_snapshot!(format!("xdp_counter_first_34_bytes_{runs}"), observed.text);
    }
}

#[test]
fn multi_maps() {
    let once = observe_both("multi_maps.o", "multi_maps", &[], 1);
    assert!(once.rewritten > 0);
    let triple2 = Value::default().u32(0xdead_beef).u32(0).u32(0x0102_0304).0;
    assert_expected(
        &once,
        2,
        &[
            ("counters", 0, u64v(1)),
            ("counters", 3, u64v(0x100)),
            ("triples", 1, Value::default().u32(1).u32(0xff).u32(3).0),
            ("triples", 2, triple2.clone()),
            ("fives", 1, vec![1, 0, 0x0e, 0, 0x55]),
            ("shorts", 4, Value::default().u16(0xffff).0),
        ],
    );
    insta::assert_snapshot!("multi_maps_1_run", once.text);

    let many = observe_both("multi_maps.o", "multi_maps", &[], 1000);
    assert_expected(
        &many,
        1000 + 232,
        &[
            ("counters", 0, u64v(1000)),
            ("counters", 3, u64v(256_000)),
            ("triples", 1, Value::default().u32(1000).u32(0).u32(3000).0),
            ("triples", 2, triple2),
            (
                "fives",
                1,
                Value::default()
                    .u8(232)
                    .u8(0)
                    .u8(232 ^ 0x0f)
                    .u8(0)
                    .u8(0x55)
                    .0,
            ),
            ("shorts", 4, Value::default().u16(64_536).0),
        ],
    );
    insta::assert_snapshot!("multi_maps_1000_runs", many.text);
}

#[test]
fn bpf_calls() {
    // fold(10) and fold(3): acc = 31 acc + i for i in 0..n, from acc = 1.
    const FOLD10: u64 = 820_538_985_077_446;
    const FOLD3: u64 = 29_824;
    let once = observe_both("bpf_calls.o", "bpf_calls", &[], 1);
    assert!(once.rewritten > 0, "some lookups are rewritten");
    assert_expected(
        &once,
        2128,
        &[("sums", 0, u64v(FOLD10)), ("sums", 1, u64v(FOLD3))],
    );
    insta::assert_snapshot!("bpf_calls_1_run", once.text);

    let many = observe_both("bpf_calls.o", "bpf_calls", &[], 1000);
    assert_expected(
        &many,
        2128,
        &[
            ("sums", 0, u64v(FOLD10 * 1000)),
            ("sums", 1, u64v(FOLD3 * 1000)),
        ],
    );
    insta::assert_snapshot!("bpf_calls_1000_runs", many.text);
}

fn rodata() -> Vec<u8> {
    Value::default()
        .u32(3)
        .pad(4)
        .u64(10)
        .u64(20)
        .u64(30)
        .u64(40)
        .0
}

#[test]
fn globals_data() {
    let once = observe_both("globals_data.o", "globals_data", &[], 1);
    assert_expected(
        &once,
        23,
        &[
            (".data", 0, Value::default().u64(1003).u32(0xa5).u32(14).0),
            (".rodata", 0, rodata()),
            (".bss", 0, Value::default().u64(1).u32(20).pad(4).u64(14).0),
        ],
    );
    insta::assert_snapshot!("globals_data_1_run", once.text);

    // bss_local = sum over k = 1..=1000 of 7 * 2^k mod 2^32.
    let bss_local: u64 = (1..=1000u32)
        .map(|k| u64::from(7u32.wrapping_mul(2u32.checked_pow(k).unwrap_or(0))))
        .sum();
    assert_eq!(bss_local, 0x2_ffff_fff2);
    let many = observe_both("globals_data.o", "globals_data", &[], 1000);
    assert_expected(
        &many,
        13,
        &[
            (".data", 0, Value::default().u64(4000).u32(0x5a).u32(0).0),
            (".rodata", 0, rodata()),
            (
                ".bss",
                0,
                Value::default().u64(1000).u32(10).pad(4).u64(bss_local).0,
            ),
        ],
    );
    insta::assert_snapshot!("globals_data_1000_runs", many.text);
}

/// `struct pair` of btf_maps.c.
fn pair(packets: u32, bytes: u32) -> Vec<u8> {
    Value::default().u32(packets).u32(bytes).0
}

#[test]
fn btf_maps() {
    // count_arrays uses only the two BTF-defined arrays; the object's hash,
    // percpu_array and prog_array are never created (only created maps are
    // listed).
    let once = observe_both("btf_maps.o", "count_arrays", &[], 1);
    let counts = |runs: u64| -> Vec<(&str, u32, Vec<u8>)> {
        (0..8u32)
            .map(|k| ("counts", k, u64v(runs * u64::from(k * k + 1))))
            .collect()
    };
    let mut expected = counts(1);
    expected.push(("pairs", 2, pair(1, 64)));
    assert_expected(&once, 101, &expected);
    let names: Vec<&str> = once.maps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["counts", "pairs"]);
    insta::assert_snapshot!("btf_maps_1_run", once.text);

    let many = observe_both("btf_maps.o", "count_arrays", &[], 1000);
    let mut expected = counts(1000);
    expected.push(("pairs", 2, pair(1000, 64_000)));
    assert_expected(&many, 101_000, &expected);
    insta::assert_snapshot!("btf_maps_1000_runs", many.text);
}

/// The .rodata of btf_globals.c: config { scale 3, offset -2, flags 0x81,
/// mode 5 and verbose 1 in one byte (5 | 1 << 3) }, then limit 100.
fn btf_rodata() -> Vec<u8> {
    Value::default()
        .u32(3)
        .u16((-2i16) as u16)
        .u8(0x81)
        .u8(0x0d)
        .u32(100)
        .0
}

/// The .data of btf_globals.c: stats { runs, last, hist[4] } (24 bytes), total.
fn btf_data(runs: u64, hist1: u16, total: i64) -> Vec<u8> {
    Value::default()
        .u64(runs)
        .u32(19)
        .u16(0)
        .u16(hist1)
        .pad(8)
        .u64(total as u64)
        .0
}

#[test]
fn btf_globals() {
    let once = observe_both("btf_globals.o", "btf_globals", &[], 1);
    assert_expected(
        &once,
        20,
        &[
            (".rodata", 0, btf_rodata()),
            (".data", 0, btf_data(11, 1, 14)),
            (
                ".bss",
                0,
                Value::default().u32(0).u32(0).u32(129).pad(4).u64(1).0,
            ),
        ],
    );
    insta::assert_snapshot!("btf_globals_1_run", once.text);

    let many = observe_both("btf_globals.o", "btf_globals", &[], 1000);
    assert_expected(
        &many,
        0,
        &[
            (".rodata", 0, btf_rodata()),
            (".data", 0, btf_data(1010, 1000, 18_995)),
            (
                ".bss",
                0,
                Value::default()
                    .u32(42_957)
                    .u32(42_957)
                    .u32(43_086)
                    .pad(4)
                    .u64(1000)
                    .0,
            ),
        ],
    );
    insta::assert_snapshot!("btf_globals_1000_runs", many.text);
}

/// `struct state` of atomics.c: nine u64 then ten u32.
fn atomics_state(u64s: [u64; 9], u32s: [u32; 10]) -> Vec<u8> {
    let v = u64s.into_iter().fold(Value::default(), Value::u64);
    u32s.into_iter().fold(v, Value::u32).0
}

/// `struct fetched` of atomics.c: five u64 then six u32.
fn atomics_last(u64s: [u64; 5], u32s: [u32; 6]) -> Vec<u8> {
    let v = u64s.into_iter().fold(Value::default(), Value::u64);
    u32s.into_iter().fold(v, Value::u32).0
}

#[test]
fn atomics() {
    let once = observe_both("atomics.o", "atomics", &[], 1);
    assert!(once.rewritten > 0, "some lookups are rewritten");
    assert_expected(
        &once,
        0,
        &[
            (
                "state",
                0,
                atomics_state(
                    [1, 1, !1, 0, 100, 0x1_0000_0001, 1, !0x80, 0],
                    [0x1000_0001, 1, !1, 0, 1, 0xabcd, 0, 1, 0, 0x8000_0001],
                ),
            ),
            (
                "last",
                0,
                atomics_last([0, 0, u64::MAX, 0, 0], [0, 0, u32::MAX, 0, 0, 0]),
            ),
        ],
    );
    insta::assert_snapshot!("atomics_1_run", once.text);

    let many = observe_both("atomics.o", "atomics", &[], 1000);
    assert_expected(
        &many,
        1023,
        &[
            (
                "state",
                0,
                atomics_state(
                    [
                        1000,
                        u64::MAX,
                        0xffff_ff00_0000_0000,
                        0x71bc_e430_1220_b010,
                        1099,
                        0x3e8_0000_03e8,
                        u64::MAX,
                        0xffff_8000_0000_007f,
                        0,
                    ],
                    [
                        0x8000_03e8,
                        u32::MAX,
                        0xffff_ff00,
                        0xc68,
                        0x3ff,
                        999 ^ 0xabcd,
                        499_500,
                        u32::MAX,
                        0,
                        0,
                    ],
                ),
            ),
            (
                "last",
                0,
                atomics_last(
                    [
                        u64::MAX,
                        0xffff_ff80_0000_0000,
                        0xffff_ff80_0000_0000,
                        0x1bc0_e6ef_a98a_85e3,
                        1098,
                    ],
                    [
                        0x7000_03e7,
                        u32::MAX,
                        0xffff_ff80,
                        0x7dd,
                        0x3ff,
                        998 ^ 0xabcd,
                    ],
                ),
            ),
        ],
    );
    // The two xor64 figures are the XOR of r * 0x9e3779b97f4a7c15 over
    // r = 0..=999 (the state) and r = 0..=998 (the old value run 1000 fetched).
    let xor_of = |runs: u64| (0..runs).fold(0u64, |x, r| x ^ r.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    assert_eq!(
        &entry(&many, "state", 0)[24..32],
        &xor_of(1000).to_le_bytes()
    );
    assert_eq!(&entry(&many, "last", 0)[24..32], &xor_of(999).to_le_bytes());
    insta::assert_snapshot!("atomics_1000_runs", many.text);
}

#[test]
fn const_key_oob() {
    let once = observe_both("const_key_oob.o", "const_key_oob", &[], 1);
    assert!(once.rewritten > 0);
    assert_expected(
        &once,
        15,
        &[("small", 2, u64v(1)), ("small", 3, u64v(0x33))],
    );
    insta::assert_snapshot!("const_key_oob_1_run", once.text);

    let many = observe_both("const_key_oob.o", "const_key_oob", &[], 1000);
    assert_expected(
        &many,
        15,
        &[("small", 2, u64v(1000)), ("small", 3, u64v(0x33))],
    );
    insta::assert_snapshot!("const_key_oob_1000_runs", many.text);
}

#[test]
fn update_delete() {
    const EEXIST: i64 = 17;
    const E2BIG: i64 = 7;
    const EINVAL: i64 = 22;
    let results = |n: u64| {
        vec![
            ("target", 1, u64v(0x1111)),
            ("target", 2, u64v(n)),
            ("results", 1, (-EEXIST).to_le_bytes().to_vec()),
            ("results", 3, (-EINVAL).to_le_bytes().to_vec()),
            ("results", 4, (-E2BIG).to_le_bytes().to_vec()),
            ("results", 5, (-EINVAL).to_le_bytes().to_vec()),
            ("results", 6, (-E2BIG).to_le_bytes().to_vec()),
            ("results", 7, (-EINVAL).to_le_bytes().to_vec()),
        ]
    };
    let once = observe_both("update_delete.o", "update_delete", &[], 1);
    assert!(once.rewritten > 0, "some lookups are rewritten");
    assert_expected(&once, 8, &results(1));
    insta::assert_snapshot!("update_delete_1_run", once.text);

    let many = observe_both("update_delete.o", "update_delete", &[], 1000);
    assert_expected(&many, 8, &results(1000));
    insta::assert_snapshot!("update_delete_1000_runs", many.text);
}

/// EXPECTED.md: "N runs" is one test run repeated N times or N separate
/// runs of the same loaded program; both must leave the same state.
#[test]
fn separate_runs_match_one_repeated_test_run() {
    let cases = [
        ("seed_globals.o", "seed_globals"),
        ("histogram.o", "histogram"),
        ("xdp_counter.o", "xdp_counter"),
        ("multi_maps.o", "multi_maps"),
        ("bpf_calls.o", "bpf_calls"),
        ("globals_data.o", "globals_data"),
        ("atomics.o", "atomics"),
        ("const_key_oob.o", "const_key_oob"),
        ("update_delete.o", "update_delete"),
        ("btf_maps.o", "count_arrays"),
        ("btf_globals.o", "btf_globals"),
        ("hash_ops.o", "hash_ops"),
        ("lru_hash.o", "lru_evict"),
        ("percpu.o", "count_percpu"),
        ("lpm_trie.o", "lpm_lookup"),
        ("count_packets.o", "count_packets"),
    ];
    for (file, name) in cases {
        let object = Object::open(testdata(file)).unwrap();
        let options = LoadOptions {
            possible_cpus: Some(CPUS),
            ..LoadOptions::default()
        };
        let program = object.program_with(name, options).unwrap();
        let input = if matches!(file, "xdp_counter.o" | "count_packets.o") {
            tinybpf::default_packet()
        } else {
            Vec::new()
        };
        let mut last = 0;
        for _ in 0..1000 {
            let mut data = input.clone();
            last = program.run(&mut data).unwrap().retval;
        }
        let repeated = observe(file, name, &input, 1000, true);
        assert_eq!(last, repeated.retval, "{file}");
        let separate: Vec<(String, Entries)> = object
            .maps()
            .iter()
            .map(|m| (m.name().to_owned(), sorted_entries(m)))
            .collect();
        assert_eq!(separate, repeated.maps, "{file}");
    }
}

/// The 8-byte little-endian bytes of a signed errno result.
fn errno_bytes(errno: i64) -> Vec<u8> {
    (-errno).to_le_bytes().to_vec()
}

/// Per-CPU values in the user-space format: each CPU's u64, CPU 0 first.
fn per_cpu(values: [u64; CPUS as usize]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn hash_ops() {
    let flows = [
        ("flows", 1, u64v(12)),
        ("flows", 2, u64v(20)),
        ("flows", 3, u64v(30)),
        ("flows", 4, u64v(40)),
    ];
    // Steps 0, 1, 4, 5, 6, 10, 11, 12 return 0 in the first run.
    let mut first = flows.to_vec();
    first.extend([
        ("results", 2, errno_bytes(2)),
        ("results", 3, errno_bytes(22)),
        ("results", 7, errno_bytes(7)),
        ("results", 8, errno_bytes(2)),
        ("results", 9, errno_bytes(2)),
        ("results", 13, u64v(12)),
    ]);
    let once = observe_both("hash_ops.o", "hash_ops", &[], 1);
    assert_expected(&once, 12, &first);
    insta::assert_snapshot!("hash_ops_1_run", once.text);
    // Later runs find keys 1..4: steps 0 and 6 -EEXIST, step 2 0.
    let mut later = flows.to_vec();
    later.extend([
        ("results", 0, errno_bytes(17)),
        ("results", 3, errno_bytes(22)),
        ("results", 6, errno_bytes(17)),
        ("results", 7, errno_bytes(7)),
        ("results", 8, errno_bytes(2)),
        ("results", 9, errno_bytes(2)),
        ("results", 13, u64v(12)),
    ]);
    let many = observe_both("hash_ops.o", "hash_ops", &[], 1000);
    assert_expected(&many, 12, &later);
    insta::assert_snapshot!("hash_ops_1000_runs", many.text);
}

#[test]
fn lru_hash() {
    let expected = [
        ("recent", 1, u64v(10)),
        ("recent", 2, u64v(20)),
        ("recent", 3, u64v(30)),
        ("recent", 6, u64v(60)),
        ("full", 1, u64v(10)),
        ("full", 2, u64v(20)),
        ("full", 3, u64v(30)),
        ("full", 4, u64v(40)),
        ("results", 6, errno_bytes(7)),
        ("results", 7, errno_bytes(17)),
        ("results", 8, errno_bytes(2)),
    ];
    // Keys 1, 2, 3 and 6: bits 0, 1, 2 and 5.
    for repeat in [1, 1000] {
        let observed = observe_both("lru_hash.o", "lru_evict", &[], repeat);
        assert_expected(&observed, 0b10_0111, &expected);
        insta::assert_snapshot!(format!("lru_hash_{repeat}_runs"), observed.text);
    }
}

#[test]
fn percpu() {
    // Runs on CPU 2 of 4; the program returns CPU 0's count (0).
    let on_cpu2 = Setup {
        cpu: 2,
        ..Setup::default()
    };
    for repeat in [1u64, 1000] {
        let observed = observe_both_with("percpu.o", "count_percpu", &[], repeat as u32, on_cpu2);
        assert_expected(
            &observed,
            0,
            &[
                ("cpu_hits", 0, per_cpu([0, 0, repeat, 0])),
                ("cpu_hits", 1, per_cpu([0, 0, 64 * repeat, 0])),
                ("cpu_flows", 7, per_cpu([0, 0, repeat, 0])),
            ],
        );
        insta::assert_snapshot!(format!("percpu_{repeat}_runs_on_cpu_2"), observed.text);
    }
    // On CPU 0 it returns its own count.
    let observed = observe_both("percpu.o", "count_percpu", &[], 3);
    assert_eq!(observed.retval, 3);
}

#[test]
fn lpm_trie() {
    let key = |len: u32, addr: [u8; 4]| {
        let mut key = len.to_le_bytes().to_vec();
        key.extend_from_slice(&addr);
        key
    };
    for repeat in [1, 1000] {
        let observed = observe_both("lpm_trie.o", "lpm_lookup", &[], repeat);
        assert_eq!(observed.retval, 32191);
        let (_, routes) = observed.maps.iter().find(|(n, _)| n == "routes").unwrap();
        assert_eq!(
            routes,
            &[
                (key(0, [0, 0, 0, 0]), 9u32.to_le_bytes().to_vec()),
                (key(8, [10, 0, 0, 0]), 1u32.to_le_bytes().to_vec()),
                (key(24, [10, 1, 2, 0]), 3u32.to_le_bytes().to_vec()),
            ]
        );
        for (slot, verdict) in [3u32, 2, 1, 9, 1].into_iter().enumerate() {
            assert_eq!(
                entry(&observed, "verdicts", slot as u32),
                verdict.to_le_bytes()
            );
        }
        insta::assert_snapshot!(format!("lpm_trie_{repeat}_runs"), observed.text);
    }
}

#[test]
fn special_maps() {
    let setup = Setup {
        cpu: 0,
        maps_in: Some(
            r#"{"tx_ports": {"0": 5}, "xsks": {"0": 7}, "cpu_targets": {"1": 192},
                "jump_table": {"1": "use_devmap", "3": 2}, "perf_events": {"0": 3},
                "events": {}}"#,
        ),
    };
    let devmap_val = |ifindex: u32| u64v(u64::from(ifindex));
    for repeat in [1, 1000] {
        let observed = observe_both_with(
            "special_maps.o",
            "use_devmap",
            &tinybpf::default_packet(),
            repeat,
            setup,
        );
        // use_devmap is program 0 of the object.
        assert_expected(
            &observed,
            1005,
            &[
                ("tx_ports", 0, devmap_val(5)),
                ("xsks", 0, 7u32.to_le_bytes().to_vec()),
                ("jump_table", 3, 2u32.to_le_bytes().to_vec()),
                ("cpu_targets", 1, u64v(192)),
                ("perf_events", 0, 3u32.to_le_bytes().to_vec()),
            ],
        );
        assert_eq!(entry(&observed, "jump_table", 1), 0u32.to_le_bytes());
        insta::assert_snapshot!(format!("special_maps_{repeat}_runs"), observed.text);
    }
}

#[test]
fn count_packets() {
    for repeat in [1u64, 1000] {
        let observed = observe_both(
            "count_packets.o",
            "count_packets",
            &tinybpf::default_packet(),
            repeat as u32,
        );
        assert!(
            observed.rewritten > 0,
            "the constant-key lookup is rewritten"
        );
        assert_expected(&observed, 2, &[("packets", 0, u64v(repeat))]);
        insta::assert_snapshot!(format!("count_packets_{repeat}_runs"), observed.text);
    }
}
