//! The `tinybpf` command line: `run` (human and `--json` output, tables,
//! timing, trace, `--nonzero`, `--repeat`, `--maps-in`, `--packet`,
//! `--no-inline`, `--cpu`, `--cpus`, `--jit`, every map type), `disasm`
//! (and `--jit`), `maps`, the
//! errors, each one line on stderr
//! naming the file, exit non-zero, a closed output pipe, and README's quick
//! start with the output README shows.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

/// Runs the command, asserts it failed with exactly one line on stderr and
/// nothing on stdout, and returns that line.
fn fails(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(!out.status.success(), "tinybpf {args:?} should fail");
    assert!(out.stdout.is_empty(), "tinybpf {args:?} printed to stdout");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().count(),
        1,
        "tinybpf {args:?}: not one line: {stderr:?}"
    );
    stderr.trim_end().to_owned()
}

/// A file under the system temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("tinybpf-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Every testdata program, its maps and its return value after one run
/// (EXPECTED.md; XDP gets the default packet, the others empty memory).
const PROGRAMS: [(&str, &[&str], u64); 9] = [
    ("seed_globals.o", &["global_map"], 64),
    ("histogram.o", &["hist"], 54),
    (
        "xdp_counter.o",
        &["outcome", "proto_stats", "dport_hits"],
        2,
    ),
    (
        "multi_maps.o",
        &["counters", "triples", "fives", "shorts"],
        2,
    ),
    ("bpf_calls.o", &["sums"], 2128),
    ("globals_data.o", &[".data", ".rodata", ".bss"], 23),
    ("atomics.o", &["state", "last"], 0),
    ("const_key_oob.o", &["small"], 15),
    ("update_delete.o", &["target", "results"], 8),
];

// ---- A tiny JSON reader, enough to check the exact shape of `--json`. ----

#[derive(Debug, Clone, PartialEq)]
enum Json {
    /// A number, as written.
    Num(String),
    Str(String),
    /// Members in document order.
    Obj(Vec<(String, Json)>),
    /// A list (`"formatted"`), and `true`/`false`/`null` as written.
    Arr(Vec<Json>),
    Word(String),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut reader = Reader {
            text: text.as_bytes(),
            pos: 0,
        };
        let value = reader.value();
        reader.ws();
        assert_eq!(reader.pos, text.len(), "text after the JSON object: {text}");
        value
    }

    fn members(&self) -> &[(String, Json)] {
        match self {
            Json::Obj(members) => members,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.members().iter().map(|(k, _)| k.as_str()).collect()
    }

    fn get(&self, key: &str) -> &Json {
        &self
            .members()
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no member {key:?} in {self:?}"))
            .1
    }

    fn uint(&self) -> u64 {
        match self {
            Json::Num(n) => n.parse().unwrap_or_else(|_| panic!("not an integer: {n}")),
            other => panic!("not a number: {other:?}"),
        }
    }

    fn float(&self) -> f64 {
        match self {
            Json::Num(n) => n.parse().unwrap(),
            other => panic!("not a number: {other:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
}

struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.text.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) {
        self.ws();
        assert_eq!(
            self.text.get(self.pos),
            Some(&byte),
            "expected {:?} at byte {}",
            char::from(byte),
            self.pos
        );
        self.pos += 1;
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.text.get(self.pos) {
            Some(b'{') => self.object(),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.text.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Json::Arr(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    match self.text.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Json::Arr(items);
                        }
                        other => panic!("expected ',' or ']' at byte {}, got {other:?}", self.pos),
                    }
                }
            }
            Some(b't' | b'f' | b'n') => {
                let start = self.pos;
                while self.text.get(self.pos).is_some_and(u8::is_ascii_lowercase) {
                    self.pos += 1;
                }
                Json::Word(String::from_utf8(self.text[start..self.pos].to_vec()).unwrap())
            }
            Some(b'"') => Json::Str(self.string()),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self
                    .text
                    .get(self.pos)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.pos += 1;
                }
                Json::Num(String::from_utf8(self.text[start..self.pos].to_vec()).unwrap())
            }
            other => panic!("unexpected {other:?} at byte {}", self.pos),
        }
    }

    fn object(&mut self) -> Json {
        self.eat(b'{');
        let mut members = Vec::new();
        self.ws();
        if self.text.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Json::Obj(members);
        }
        loop {
            let key = self.string();
            self.eat(b':');
            members.push((key, self.value()));
            self.ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Json::Obj(members);
                }
                other => panic!("expected ',' or '}}' at byte {}, got {other:?}", self.pos),
            }
        }
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let start = self.pos;
        while self.text.get(self.pos).is_some_and(|&b| b != b'"') {
            assert_ne!(self.text[self.pos], b'\\', "no escapes expected here");
            self.pos += 1;
        }
        let s = String::from_utf8(self.text[start..self.pos].to_vec()).unwrap();
        self.eat(b'"');
        s
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn le_hex(index: u32) -> String {
    index
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `run --json` with extra arguments and checks the exact document shape.
fn run_json(file: &str, extra: &[&str]) -> Json {
    let path = testdata(file);
    let mut args = vec!["run", path.as_str(), "--json"];
    args.extend_from_slice(extra);
    let stdout = ok(&args);
    assert_eq!(stdout.lines().count(), 1, "exactly one JSON line: {stdout}");
    let doc = Json::parse(stdout.trim_end());
    // Every test program is a packet program (socket filter or XDP): its
    // packet and context after the run come before the maps, unless it ran
    // over raw memory.
    let mut keys = vec![
        "retval",
        "repeat",
        "first_run_ns",
        "ns_per_run",
        "insns_per_run",
        "tier",
    ];
    if !extra.contains(&"--mem") {
        keys.extend(["packet", "ctx"]);
        assert!(is_lower_hex(doc.get("packet").str()));
    }
    keys.push("maps");
    assert_eq!(doc.keys(), keys);
    let tier = doc.get("tier");
    match tier.get("name").str() {
        "compiled" => assert_eq!(tier.keys(), ["name", "code_bytes", "compile_us"]),
        "interpreter"
            if extra.contains(&"--jit")
                || extra
                    .windows(2)
                    .any(|w| w[0] == "--tier" && w[1] != "interp") =>
        {
            assert_eq!(tier.keys(), ["name", "fallback"]);
        }
        "interpreter" => assert_eq!(tier.keys(), ["name"]),
        other => panic!("tier {other}"),
    }
    let _whole_nanoseconds: u64 = doc.get("first_run_ns").uint();
    assert!(doc.get("ns_per_run").float() >= 0.0);
    assert!(doc.get("insns_per_run").uint() > 0);
    for (name, map) in doc.get("maps").members() {
        let keys = map.keys();
        let shape = ["type", "key_size", "value_size", "max_entries", "entries"];
        // "formatted" follows where BTF types the map.
        assert!(
            keys == shape || keys[..keys.len() - 1] == shape && keys[5] == "formatted",
            "map {name}: {keys:?}"
        );
        assert_eq!(map.get("type").str(), "array");
        assert_eq!(map.get("key_size").uint(), 4);
        let value_size = map.get("value_size").uint();
        let max_entries = map.get("max_entries").uint();
        let mut previous = None;
        for (key, value) in map.get("entries").members() {
            assert!(is_lower_hex(key) && key.len() == 8, "{name}: key {key}");
            let index = u32::from_le_bytes(
                (0..4)
                    .map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap())
                    .collect::<Vec<u8>>()
                    .try_into()
                    .unwrap(),
            );
            assert!(u64::from(index) < max_entries, "{name}: key {key}");
            assert!(previous < Some(index), "{name}: keys in index order");
            previous = Some(index);
            let value = value.str();
            assert!(is_lower_hex(value), "{name}: value {value}");
            assert_eq!(value.len() as u64, 2 * value_size, "{name}: value {value}");
        }
    }
    doc
}

/// `{map: {key: value}}` of a `--json` document.
fn entries(doc: &Json) -> Vec<(String, Vec<(String, String)>)> {
    doc.get("maps")
        .members()
        .iter()
        .map(|(name, map)| {
            let entries = map
                .get("entries")
                .members()
                .iter()
                .map(|(k, v)| (k.clone(), v.str().to_owned()))
                .collect();
            (name.clone(), entries)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn run_prints_retval_and_maps_for_every_program() {
    for (file, maps, retval) in PROGRAMS {
        let path = testdata(file);
        let stdout = ok(&["run", &path]);
        assert!(
            stdout.contains(&format!("retval: {retval} ({retval:#x})")),
            "{file}: {stdout}"
        );
        assert!(stdout.contains("instructions per run: "), "{file}");
        for map in maps {
            assert!(
                stdout.contains(&format!("map {map}: array")),
                "{file}: {map}"
            );
        }
    }
    let stdout = ok(&["run", &testdata("xdp_counter.o")]);
    assert!(stdout.contains("XDP_PASS"));
}

#[test]
fn run_json_has_the_documented_shape_for_every_program() {
    for (file, maps, retval) in PROGRAMS {
        let doc = run_json(file, &[]);
        assert_eq!(doc.get("retval").uint(), retval, "{file}");
        assert_eq!(doc.get("repeat").uint(), 1, "{file}");
        assert_eq!(doc.get("maps").keys(), maps, "{file}");
        // Without --nonzero every entry is listed, keys 0..max_entries.
        for (name, map) in doc.get("maps").members() {
            let keys: Vec<&str> = map.get("entries").keys();
            let all: Vec<String> = (0..u32::try_from(map.get("max_entries").uint()).unwrap())
                .map(le_hex)
                .collect();
            assert_eq!(keys, all, "{file}: {name}");
        }
    }
}

/// `run --jit` compiles when the `jit` feature is built in and otherwise
/// says why it interpreted; both tiers print the same results and maps.
#[test]
fn jit_runs_the_compiled_tier_or_says_why_not() {
    // Over raw memory (--mem); with its __sk_buff below.
    let memory = TempFile::new("jit-mem.bin", &[0u8; 64]);
    for (file, _, _) in PROGRAMS {
        let compiled = run_json(file, &["--jit", "--repeat", "3", "--mem", memory.path()]);
        let interpreted = run_json(file, &["--repeat", "3", "--mem", memory.path()]);
        let tier = compiled.get("tier");
        if cfg!(all(feature = "jit", target_arch = "x86_64")) {
            assert_eq!(tier.get("name").str(), "compiled", "{file}");
            assert!(tier.get("code_bytes").uint() > 0, "{file}");
        } else {
            assert_eq!(tier.get("name").str(), "interpreter", "{file}");
            assert!(
                tier.get("fallback").str().contains("--features jit"),
                "{file}"
            );
        }
        assert_eq!(interpreted.get("tier").get("name").str(), "interpreter");
        for key in ["retval", "insns_per_run", "maps"] {
            assert_eq!(compiled.get(key), interpreted.get(key), "{file}: {key}");
        }
    }
    let text = ok(&["run", &testdata("xdp_counter.o"), "--jit"]);
    let line = text.lines().find(|l| l.starts_with("tier: ")).unwrap();
    if cfg!(all(feature = "jit", target_arch = "x86_64")) {
        assert!(line.starts_with("tier: compiled ("), "{line}");
    } else {
        assert!(
            line.starts_with("tier: interpreter (not compiled: "),
            "{line}"
        );
    }
    // A run with a deadline runs compiled too (the code reads the clock at
    // its checkpoints).
    let timed = run_json("xdp_counter.o", &["--jit", "--timeout", "60"]);
    let tier = timed.get("tier");
    if cfg!(all(feature = "jit", target_arch = "x86_64")) {
        assert_eq!(tier.get("name").str(), "compiled", "{tier:?}");
    } else {
        assert!(
            tier.get("fallback").str().contains("--features jit"),
            "{tier:?}"
        );
    }
    // A socket filter with its emulated __sk_buff compiles too, with the
    // interpreter's results.
    let socket = run_json("histogram.o", &["--jit", "--repeat", "3"]);
    let socket_interpreted = run_json("histogram.o", &["--repeat", "3"]);
    let expected = if cfg!(all(feature = "jit", target_arch = "x86_64")) {
        "compiled"
    } else {
        "interpreter"
    };
    assert_eq!(socket.get("tier").get("name").str(), expected);
    for key in ["retval", "insns_per_run", "maps"] {
        assert_eq!(socket.get(key), socket_interpreted.get(key), "{key}");
    }
    // Without --jit the text output has no tier line (as before).
    let text = ok(&["run", &testdata("xdp_counter.o")]);
    assert!(!text.contains("tier:"), "{text}");
}

/// `run --tier interp|jit|auto`: `jit` is `--jit`, `auto` compiles a small
/// program when the tier is built in; the JSON's tier says which ran, and
/// the text output has a tier line unless the interpreter was asked for.
#[test]
fn tier_flag_chooses_the_tier_and_the_output_says_which_ran() {
    let built_in = cfg!(all(feature = "jit", target_arch = "x86_64"));
    let interp = run_json("xdp_counter.o", &["--tier", "interp", "--repeat", "3"]);
    assert_eq!(interp.get("tier").get("name").str(), "interpreter");
    assert_eq!(interp.get("tier").keys(), ["name"], "{interp:?}");
    for tier in ["jit", "auto"] {
        let doc = run_json("xdp_counter.o", &["--tier", tier, "--repeat", "3"]);
        let used = doc.get("tier");
        if built_in {
            assert_eq!(used.get("name").str(), "compiled", "--tier {tier}");
            assert!(used.get("code_bytes").uint() > 0, "--tier {tier}");
        } else {
            assert_eq!(used.get("name").str(), "interpreter", "--tier {tier}");
            assert!(used.get("fallback").str().contains("--features jit"));
        }
        for key in ["retval", "insns_per_run", "maps"] {
            assert_eq!(doc.get(key), interp.get(key), "--tier {tier}: {key}");
        }
    }
    // --tier jit is --jit.
    let jit = run_json("xdp_counter.o", &["--jit", "--repeat", "3"]);
    let tier_jit = run_json("xdp_counter.o", &["--tier", "jit", "--repeat", "3"]);
    assert_eq!(
        jit.get("tier").get("name"),
        tier_jit.get("tier").get("name")
    );
    let text = ok(&["run", &testdata("xdp_counter.o"), "--tier", "auto"]);
    assert!(text.lines().any(|l| l.starts_with("tier: ")), "{text}");
    let text = ok(&["run", &testdata("xdp_counter.o"), "--tier", "interp"]);
    assert!(!text.contains("tier:"), "{text}");
    // A bad name, and both switches at once, are refused.
    for args in [vec!["--tier", "fast"], vec!["--tier", "jit", "--jit"]] {
        let path = testdata("xdp_counter.o");
        let mut all = vec!["run", path.as_str()];
        all.extend(args.iter().copied());
        let out = tinybpf(&all);
        assert!(!out.status.success(), "{all:?}");
        assert!(out.stdout.is_empty(), "{all:?}");
    }
}

/// `disasm --jit` prints the Cranelift IR and the machine code, or fails in
/// one line without it.
#[test]
fn disasm_jit_prints_the_cranelift_ir_or_says_why_not() {
    let path = testdata("xdp_counter.o");
    if cfg!(all(feature = "jit", target_arch = "x86_64")) {
        let ir = ok(&["disasm", &path, "--jit"]);
        assert!(ir.contains("bytes of x86_64 machine code"), "{ir}");
        assert!(ir.contains("function ") && ir.contains("block0"), "{ir}");
        let listing = ir.split("; machine code\n").nth(1).unwrap_or_default();
        assert!(listing.contains("retq"), "{ir}");
    } else {
        let line = fails(&["disasm", &path, "--jit"]);
        assert!(
            line.contains("no compiled code") && line.contains("--features jit"),
            "{line}"
        );
    }
}

#[test]
fn nonzero_leaves_out_all_zero_entries() {
    let doc = run_json("xdp_counter.o", &["--nonzero"]);
    assert_eq!(
        entries(&doc),
        [
            (
                "outcome".to_owned(),
                pairs(&[("03000000", "0100000000000000")])
            ),
            (
                "proto_stats".to_owned(),
                pairs(&[(
                    "06000000",
                    "010000000000000040000000000000003200000000000000"
                )])
            ),
            (
                "dport_hits".to_owned(),
                pairs(&[("50000000", "0100000000000000")])
            ),
        ]
    );
    // The human table leaves them out too.
    let stdout = ok(&["run", &testdata("const_key_oob.o"), "--nonzero"]);
    assert!(stdout.contains("  2  01 00 00 00 00 00 00 00"));
    assert!(!stdout.contains("  0  00 00"), "{stdout}");
}

#[test]
fn repeat_keeps_map_state_across_runs() {
    let doc = run_json("seed_globals.o", &["--repeat", "1000", "--nonzero"]);
    assert_eq!(doc.get("repeat").uint(), 1000);
    assert_eq!(doc.get("retval").uint(), 100);
    assert_eq!(
        entries(&doc),
        [(
            "global_map".to_owned(),
            pairs(&[(
                "00000000",
                "1900000000000000e6090000000000009cf900000000000029000000000000006400000000000000"
            )])
        )]
    );

    let doc = run_json("histogram.o", &["--repeat", "1000"]);
    assert_eq!(doc.get("retval").uint(), 54);
    let counts: Vec<u64> = entries(&doc)[0]
        .1
        .iter()
        .map(|(_, v)| u64::from_str_radix(v, 16).unwrap().swap_bytes())
        .collect();
    assert_eq!(
        counts,
        [1, 5, 2, 2, 1, 4, 4, 4, 2, 2, 3, 2, 1, 4, 5, 4].map(|c: u64| c * 1000)
    );
}

#[test]
fn maps_in_presets_entries_before_the_first_run() {
    // counters[0] = 41 and triples[1].a = 99: the run adds 1 to both and
    // returns triples[1].a + fives[1].b[0] = 100 + 1.
    let presets = TempFile::new(
        "presets.json",
        br#"{"counters": {"00000000": "2900000000000000"},
            "triples": {"01000000": "630000000000000000000000"}}"#,
    );
    let doc = run_json("multi_maps.o", &["--maps-in", presets.path(), "--nonzero"]);
    assert_eq!(doc.get("retval").uint(), 101);
    let maps = entries(&doc);
    assert_eq!(maps[0].1[0], ("00000000".into(), "2a00000000000000".into()));
    assert_eq!(
        maps[1].1[0],
        ("01000000".into(), "64000000ff0000002c010000".into())
    );
}

#[test]
fn packet_file_is_the_xdp_input() {
    // 20 bytes: the IPv4 EtherType, no room for the IPv4 header: outcome[2].
    let mut bytes = tinybpf::default_packet();
    bytes.truncate(20);
    let frame = TempFile::new("frame20.bin", &bytes);
    let doc = run_json("xdp_counter.o", &["--packet", frame.path(), "--nonzero"]);
    assert_eq!(doc.get("retval").uint(), 1, "XDP_DROP");
    let maps = entries(&doc);
    assert_eq!(maps[0].1, pairs(&[("02000000", "0100000000000000")]));
    assert!(maps[1].1.is_empty() && maps[2].1.is_empty());
    assert_eq!(doc.get("packet").str(), tinybpf::json::hex(&bytes));

    let stdout = ok(&["run", &testdata("xdp_counter.o"), "--packet", frame.path()]);
    assert!(stdout.contains("retval: 1 (0x1) XDP_DROP"), "{stdout}");
    // The kernel's test run refuses a packet shorter than an Ethernet header.
    let short = TempFile::new("frame10.bin", &[0x5a; 10]);
    let stderr = fails(&["run", &testdata("xdp_counter.o"), "--packet", short.path()]);
    assert!(
        stderr.contains("the packet of 10 bytes is shorter than an Ethernet header (14 bytes)"),
        "{stderr}"
    );
}

#[test]
fn no_inline_gives_identical_results() {
    for (file, _, _) in PROGRAMS {
        for repeat in ["1", "1000"] {
            let inline = run_json(file, &["--repeat", repeat]);
            let plain = run_json(file, &["--repeat", repeat, "--no-inline"]);
            assert_eq!(inline.get("retval"), plain.get("retval"), "{file}");
            assert_eq!(inline.get("maps"), plain.get("maps"), "{file} x{repeat}");
        }
    }
}

#[test]
fn disasm_names_maps_and_marks_rewritten_sites() {
    let path = testdata("xdp_counter.o");
    let listing = ok(&["disasm", &path]);
    for map in ["outcome", "proto_stats", "dport_hits"] {
        assert!(listing.contains(map), "{map}: {listing}");
    }
    assert!(listing.contains("rewritten"), "{listing}");

    let plain = ok(&["disasm", &path, "--no-inline"]);
    assert!(!plain.contains("rewritten"), "{plain}");
    assert!(plain.contains("lddw %r1, map outcome"), "{plain}");
    assert!(plain.contains("map_lookup_elem"), "{plain}");

    // Global variables by name, and --program picks the one program.
    let globals = ok(&[
        "disasm",
        &testdata("globals_data.o"),
        "--program",
        "globals_data",
    ]);
    for var in ["&ro_step", "&data_total", "&bss_runs", "&ro_table"] {
        assert!(globals.contains(var), "{var}: {globals}");
    }
}

/// A program its type may not run (a helper the type lacks) is still
/// listed, under a note naming why `run` refuses it; the other programs of
/// the object are listed too.
#[test]
fn disasm_lists_programs_their_type_refuses() {
    let path = testdata("helper_types.o");
    let listing = ok(&["disasm", &path]);
    assert!(
        listing.contains("; cannot run: ") && listing.contains("bpf_skb_load_bytes (26)"),
        "{listing}"
    );
    assert!(
        listing.contains("call 26 # bpf_skb_load_bytes"),
        "{listing}"
    );
    assert!(listing.contains("program tc_adjust_head"), "{listing}");
    let refused = fails(&["run", &path, "--program", "xdp_skb_load"]);
    assert!(refused.contains("xdp programs cannot call"), "{refused}");
}

#[test]
fn disasm_shows_the_program_as_it_runs() {
    let listing = ok(&["disasm", &testdata("btf_globals.o")]);
    // The address an access became direct through, and the lddw that set
    // it, removed, with the reason.
    assert!(
        listing.contains(
            "    0: (removed)                                ; dead code once accesses through the address it sets became direct, was: lddw %r2, &config\n"
        ),
        "{listing}"
    );
    assert!(
        listing.contains(
            "    3: ldxh %r4, [&config+4]                    ; direct, was: ldxh %r4, [%r2+4]\n"
        ),
        "{listing}"
    );
    assert!(
        listing.contains("   13: stxdw [&local_hits], %r7"),
        "{listing}"
    );
    // Local calls by name, each function under its label; the removed
    // setup of a rewritten lookup says why.
    let calls = ok(&["disasm", &testdata("bpf_calls.o")]);
    assert!(calls.contains("    1: call local +22 # fold\n"), "{calls}");
    assert!(calls.contains("\nfold:\n   24: "), "{calls}");
    assert!(calls.contains("\nrecord:\n"), "{calls}");
    assert!(
        calls.contains("(removed)                                ; dead code: nothing reads its result, was: lddw %r1, map sums"),
        "{calls}"
    );
    // Constant-key lookups: the key's store is a dead store.
    let counter = ok(&["disasm", &testdata("xdp_counter.o")]);
    assert!(
        counter
            .contains("; dead store: no path reads the stack bytes it writes, was: stxw [%r10-4]"),
        "{counter}"
    );
}

#[test]
fn maps_lists_the_definitions() {
    let stdout = ok(&["maps", &testdata("xdp_counter.o")]);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["outcome", "maps", "array", "4", "8", "4", "0"],
            ["proto_stats", "maps", "array", "4", "24", "256", "0"],
            ["dport_hits", "maps", "array", "4", "8", "1024", "0"],
        ]
    );
    let stdout = ok(&["maps", &testdata("globals_data.o")]);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(".rodata") && l.ends_with("frozen")),
        "{stdout}"
    );
}

#[test]
fn maps_lists_btf_defined_maps_by_type_and_says_which_cannot_be_created() {
    let stdout = ok(&["maps", &testdata("btf_maps.o")]);
    let rows: Vec<(Vec<&str>, Option<&str>)> = stdout
        .lines()
        .skip(1)
        .map(|l| {
            let (columns, note) = match l.split_once("  cannot create: ") {
                Some((columns, note)) => (columns, Some(note)),
                None => (l, None),
            };
            (columns.split_whitespace().collect(), note)
        })
        .collect();
    // Every type of this object can be created.
    assert_eq!(
        rows,
        [
            (
                vec!["jumps", ".maps", "prog_array", "4", "4", "4", "0"],
                None
            ),
            (vec!["counts", ".maps", "array", "4", "8", "8", "0"], None),
            (
                vec!["pairs", ".maps", "array", "4", "8", "4", "BPF_F_MMAPABLE"],
                None
            ),
            (vec!["flows", ".maps", "hash", "8", "8", "1024", "0"], None),
            (
                vec!["per_cpu", ".maps", "percpu_array", "4", "8", "4", "0"],
                None
            ),
        ]
    );
}

#[test]
fn timeout_ends_the_runs_with_an_error() {
    let xdp = testdata("xdp_counter.o");
    // A deadline already past: the first run stops before it starts.
    let line = fails(&["run", &xdp, "--timeout", "0"]);
    assert!(line.contains("passed its deadline"), "{line}");
    // Runs that would take hours stop at the deadline, whenever it comes.
    let line = fails(&["run", &xdp, "--repeat", "4000000000", "--timeout", "0.05"]);
    assert!(line.contains("passed its deadline"), "{line}");
    // A generous timeout changes nothing.
    let plain = ok(&["run", &xdp, "--json"]);
    let timed = ok(&["run", &xdp, "--json", "--timeout", "3600"]);
    let retval = |text: &str| text.split("\"retval\"").nth(1).map(|r| r[..8].to_owned());
    assert_eq!(retval(&plain), retval(&timed));
    for bad in ["--timeout=-1", "--timeout=soon", "--timeout=NaN"] {
        let out = tinybpf(&["run", &xdp, bad]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("not a number of seconds"),
            "{bad}: {stderr}"
        );
    }
}

#[test]
fn errors_are_one_line_naming_the_file() {
    let missing = std::env::temp_dir().join("tinybpf-cli-does-not-exist.o");
    let missing = missing.to_str().unwrap();
    let line = fails(&["run", missing]);
    assert!(line.contains(missing), "{line}");
    let line = fails(&["disasm", missing]);
    assert!(line.contains(missing), "{line}");
    let line = fails(&["maps", missing]);
    assert!(line.contains(missing), "{line}");

    let text = TempFile::new("not-elf.o", b"this is not an ELF object\n");
    let line = fails(&["run", text.path()]);
    assert!(
        line.contains(text.path()) && line.contains("not an ELF"),
        "{line}"
    );

    let xdp = testdata("xdp_counter.o");
    let line = fails(&["run", &xdp, "--program", "no_such_prog"]);
    assert!(
        line.contains(&xdp) && line.contains("no_such_prog"),
        "{line}"
    );
    let line = fails(&["disasm", &xdp, "--program", "no_such_prog"]);
    assert!(line.contains(&xdp), "{line}");

    let bad_json = TempFile::new("bad.json", br#"{"outcome": {"00000000": true}}"#);
    let line = fails(&["run", &xdp, "--maps-in", bad_json.path()]);
    assert!(line.contains(bad_json.path()), "{line}");

    let unknown_map = TempFile::new(
        "unknown-map.json",
        br#"{"no_such_map": {"00000000": "0100000000000000"}}"#,
    );
    let line = fails(&["run", &xdp, "--maps-in", unknown_map.path()]);
    assert!(
        line.contains(unknown_map.path()) && line.contains("no_such_map"),
        "{line}"
    );

    let short_value = TempFile::new("short-value.json", br#"{"outcome": {"00000000": "01"}}"#);
    let line = fails(&["run", &xdp, "--maps-in", short_value.path()]);
    assert!(
        line.contains(short_value.path()) && line.contains("value_size"),
        "{line}"
    );

    let missing_packet = Path::new(missing).with_extension("bin");
    let missing_packet = missing_packet.to_str().unwrap();
    let line = fails(&["run", &xdp, "--packet", missing_packet]);
    assert!(line.contains(missing_packet), "{line}");
}

// ---- Readable tables, named flags, honest timing, bounded trace. ----

#[test]
fn tables_collapse_zero_runs_and_show_offsets() {
    let stdout = ok(&["run", &testdata("cli_output.o"), "--repeat", "3"]);
    let expected_sparse = "\
map sparse: array, key 4 bytes, value 8 bytes, 4096 entries, flags BPF_F_MMAPABLE
       key  value                    as u64
      0..4  all zero (5 entries)
         5  03 00 00 00 00 00 00 00  3
   6..3999  all zero (3994 entries)
      4000  06 00 00 00 00 00 00 00  6
4001..4095  all zero (95 entries)
";
    assert!(stdout.contains(expected_sparse), "{stdout}");
    let expected_wide = "\
map wide: array, key 4 bytes, value 1024 bytes, 2 entries
 key  value
   0  000..3ff: all zero (1024 bytes)
   1  000: 03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
      010..3df: all zero (976 bytes)
      3e0: 00 00 00 00 00 00 00 00 09 00 00 00 00 00 00 00
      3f0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
";
    assert!(stdout.contains(expected_wide), "{stdout}");
    // Every non-zero entry keeps its own line.
    assert!(
        stdout.contains("\n       16383  00 40 00 00 00 00 00 00  16384\n"),
        "the last entry of filled"
    );
    // With --nonzero, zero entries are left out rather than collapsed.
    let stdout = ok(&["run", &testdata("cli_output.o"), "--nonzero"]);
    assert!(
        stdout.contains(" key  value                    as u64\n   5  01 00 00 00 00 00 00 00  1\n4000  02 00 00 00 00 00 00 00  2\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(" entries)\n"),
        "no collapsed runs: {stdout}"
    );
    assert!(stdout.contains("\nkey  value\n  1  000: 01 00"), "{stdout}");
}

#[test]
fn run_names_map_flags() {
    let stdout = ok(&["run", &testdata("globals_data.o")]);
    assert!(
        stdout.contains(
            "map .rodata: array, key 4 bytes, value 40 bytes, 1 entry, flags BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, frozen\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "map .data: array, key 4 bytes, value 16 bytes, 1 entry, flags BPF_F_MMAPABLE\n"
        ),
        "{stdout}"
    );
    // No flags, no flags clause.
    let stdout = ok(&["run", &testdata("xdp_counter.o")]);
    assert!(
        stdout.contains("map outcome: array, key 4 bytes, value 8 bytes, 4 entries\n"),
        "{stdout}"
    );
}

/// The `time:` line of a human `run`.
fn time_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|line| line.starts_with("time: "))
        .unwrap_or_else(|| panic!("no time line: {stdout}"))
}

#[test]
fn timing_separates_the_first_run_from_the_steady_state() {
    let path = testdata("seed_globals.o");
    let once = ok(&["run", &path]);
    let line = time_line(&once);
    assert!(
        line.ends_with(" (one cold run; --repeat 1000 also measures the steady state)"),
        "{line}"
    );
    assert!(
        once.contains("runs: 1, instructions per run: 1422\n"),
        "{once}"
    );
    let many = ok(&["run", &path, "--repeat", "5"]);
    let line = time_line(&many);
    assert!(line.starts_with("time: first run "), "{line}");
    assert!(
        line.ends_with(" per run (mean of the other 4 runs)"),
        "{line}"
    );
    let two = ok(&["run", &path, "--repeat", "2"]);
    assert!(
        time_line(&two).ends_with(" per run (mean of the other 1 run)"),
        "{two}"
    );
    // In JSON, first_run_ns sits beside ns_per_run; one run gives both the same.
    let doc = run_json("seed_globals.o", &[]);
    assert_eq!(
        doc.get("ns_per_run").float(),
        doc.get("first_run_ns").uint() as f64
    );
}

#[test]
fn repeat_must_be_at_least_one() {
    for (bad, why) in [
        ("0", "the number of runs must be at least 1"),
        ("-3", "is not a number of runs"),
        ("many", "is not a number of runs"),
        ("4294967296", "is not a number of runs"),
    ] {
        // `--repeat=-3`: a value, not an option.
        let out = tinybpf(&[
            "run",
            &testdata("seed_globals.o"),
            &format!("--repeat={bad}"),
        ]);
        assert_eq!(out.status.code(), Some(2), "--repeat {bad}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '{bad}' for '--repeat <N>': "
            )),
            "{stderr}"
        );
        assert!(stderr.contains(why), "--repeat {bad}: {stderr}");
    }
}

#[test]
fn trace_shows_the_first_run_and_counts_the_rest() {
    let path = testdata("cli_output.o");
    let once = ok(&["run", &path]);
    assert!(
        once.contains("\ntrace_printk:\n  run 1\n  second line\n\nmap sparse"),
        "{once}"
    );
    let many = ok(&["run", &path, "--repeat", "1000"]);
    assert!(
        many.contains(
            "\ntrace_printk (first run):\n  run 1\n  second line\n  ... and 1998 more lines from the other 999 runs (not shown)\n\nmap sparse"
        ),
        "{}",
        &many[..many.len().min(2000)]
    );
    assert!(!many.contains("run 2\n"));
    // With --json the same lines go to stderr, stdout holding only the object.
    let out = tinybpf(&["run", &path, "--repeat", "3", "--json"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "run 1\nsecond line\n... and 4 more lines from the other 2 runs (not shown)\n"
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}

// ---- --maps-in: numbers, hex as the table prints it, and every mistake. ----

/// `run --json --nonzero --maps-in` with `document`; the maps' entries.
fn preset(file: &str, document: &str) -> Vec<(String, Vec<(String, String)>)> {
    let presets = TempFile::new("preset.json", document.as_bytes());
    entries(&run_json(file, &["--maps-in", presets.path(), "--nonzero"]))
}

#[test]
fn maps_in_takes_numbers_and_hex_as_the_table_prints_it() {
    // multi_maps adds 1 to counters[0], 0x100 to counters[3] and 1 to triples[1].a.
    let maps = preset(
        "multi_maps.o",
        r#"{"counters": {"0": 41, "1": "0x10", "2": "-1", "3": "01 02 03 04 05 06 07 08"},
            "triples": {"0x1": "63 00 00 00 00 00 00 00 00 00 00 00"},
            "shorts": {"00000000": "ffff", "1": -2, "2": "0x00ff", "3": "258"}}"#,
    );
    assert_eq!(
        maps[0],
        (
            "counters".to_owned(),
            pairs(&[
                ("00000000", "2a00000000000000"),
                ("01000000", "1000000000000000"),
                ("02000000", "ffffffffffffffff"),
                ("03000000", "0103030405060708"),
            ])
        )
    );
    assert_eq!(
        maps[1].1[0],
        ("01000000".into(), "64000000ff0000002c010000".into())
    );
    let shorts: Vec<(String, String)> = maps[3].1.clone();
    assert_eq!(
        shorts[..4],
        pairs(&[
            ("00000000", "ffff"),
            ("01000000", "feff"),
            ("02000000", "ff00"),
            ("03000000", "0201"),
        ])
    );
    // A bare JSON number fills a wide value little-endian; -1 as the key's
    // width is key 0xffffffff, which this map does not have.
    let maps = preset("xdp_counter.o", r#"{"proto_stats": {"17": 5, "1": -1}}"#);
    assert_eq!(
        maps[1].1,
        pairs(&[
            ("01000000", &"ff".repeat(24)),
            (
                "06000000",
                "010000000000000040000000000000003200000000000000"
            ),
            (
                "11000000",
                "050000000000000000000000000000000000000000000000"
            ),
        ])
    );
    // The --json output reads back in as it is.
    let doc = run_json("xdp_counter.o", &["--nonzero"]);
    let mut document = String::from("{");
    for (i, (name, map_entries)) in entries(&doc).iter().enumerate() {
        let body: Vec<String> = map_entries
            .iter()
            .map(|(k, v)| format!("\"{k}\": \"{v}\""))
            .collect();
        let comma = if i > 0 { ", " } else { "" };
        document.push_str(&format!("{comma}\"{name}\": {{{}}}", body.join(", ")));
    }
    document.push('}');
    let twice = preset("xdp_counter.o", &document);
    assert_eq!(twice[0].1, pairs(&[("03000000", "0200000000000000")]));
}

/// The one-line error of `run xdp_counter.o --maps-in` with `document`.
fn preset_error(document: &str) -> String {
    let presets = TempFile::new("bad-preset.json", document.as_bytes());
    let line = fails(&[
        "run",
        &testdata("xdp_counter.o"),
        "--maps-in",
        presets.path(),
    ]);
    let prefix = format!("tinybpf: --maps-in {}: ", presets.path());
    assert!(line.starts_with(&prefix), "{line}");
    line[prefix.len()..].to_owned()
}

#[test]
fn maps_in_mistakes_are_one_sentence_naming_map_key_and_fix() {
    let cases: [(&str, &str); 14] = [
        (
            r#"{"outcome": {"7": 1}}"#,
            r#"map "outcome": key "7" is index 7, past the end of the map (it has 4 entries, keys 0 to 3); use a key below 4"#,
        ),
        (
            r#"{"outcome": {"-1": 1}}"#,
            r#"map "outcome": key "-1" is index 4294967295, past the end of the map (it has 4 entries, keys 0 to 3); use a key below 4"#,
        ),
        (
            r#"{"outcome": {"zz": 1}}"#,
            r#"map "outcome": key "zz" is neither a number nor 4 bytes of hex (the map's key_size); write the key as a number ("1", "0x10", "-1") or as its 4 bytes in hex ("01 00 00 00")"#,
        ),
        (
            r#"{"outcome": {"01 00": 1}}"#,
            r#"map "outcome": key "01 00" is 2 bytes of hex, but the map's key_size is 4; write the key as a number ("1", "0x10", "-1") or as its 4 bytes in hex ("01 00 00 00")"#,
        ),
        (
            r#"{"outcome": {"1": "ff"}}"#,
            r#"map "outcome", key "1": value "ff" is 1 byte of hex, but the map's value_size is 8; write the value as its 8 bytes in hex ("2a 00 00 00 00 00 00 00") or as a number that fits in 8 bytes"#,
        ),
        (
            r#"{"outcome": {"1": 18446744073709551616}}"#,
            r#"map "outcome", key "1": value 18446744073709551616 does not fit in the map's value_size of 8 bytes (from -9223372036854775808 to 18446744073709551615); write the value as its 8 bytes in hex ("2a 00 00 00 00 00 00 00") or as a number that fits in 8 bytes"#,
        ),
        (
            r#"{"outcome": {"1": 1.5}}"#,
            r#"map "outcome", key "1": value 1.5 is not a whole number; write the value as its 8 bytes in hex ("2a 00 00 00 00 00 00 00") or as a number that fits in 8 bytes"#,
        ),
        (
            r#"{"outcome": {"1": 1, "01 00 00 00": 2}}"#,
            r#"map "outcome": keys "1" and "01 00 00 00" are the same entry (index 1); keep one of them"#,
        ),
        (
            r#"{"outcome": {"1": 1, "1": 2}}"#,
            r#"map "outcome": key "1" appears twice; keep one of them"#,
        ),
        (
            r#"{"outcome": {}, "dport_hits": {}, "outcome": {"1": 1}}"#,
            r#"map "outcome" appears twice; put all its entries in one object"#,
        ),
        (
            r#"{"no_such_map": {"0": 1}}"#,
            r#"there is no map "no_such_map" in this object (maps: outcome, proto_stats, dport_hits); use one of those names"#,
        ),
        (
            r#"{"outcome": {"1": true}}"#,
            r#"map "outcome", key "1": value true is JSON, but BTF does not type the map's values (declare them with __type(value, ...) and compile with -g); write the value as its 8 bytes in hex ("2a 00 00 00 00 00 00 00") or as a number that fits in 8 bytes"#,
        ),
        (
            "{\"outcome\":\n  {\"1\": 1,}}",
            r#"line 2, column 11: expected a quoted name in map "outcome"; the file must hold {"MAP": {"KEY": VALUE, ...}, ...}"#,
        ),
        (
            r#"{"outcome": {"1": ""}}"#,
            r#"map "outcome", key "1": value "" is empty; write the value as its 8 bytes in hex ("2a 00 00 00 00 00 00 00") or as a number that fits in 8 bytes"#,
        ),
    ];
    for (document, expected) in cases {
        assert_eq!(preset_error(document), expected, "{document}");
    }
    // A frozen map cannot be preset.
    let presets = TempFile::new("frozen.json", br#"{".rodata": {"0": 1}}"#);
    let line = fails(&[
        "run",
        &testdata("globals_data.o"),
        "--maps-in",
        presets.path(),
    ]);
    assert!(
        line.ends_with(r#"map ".rodata" is frozen (read-only from user space), so its entries cannot be preset; leave it out"#),
        "{line}"
    );
    let not_utf8 = TempFile::new("latin1.json", b"{\"\xe9\": {}}");
    let line = fails(&[
        "run",
        &testdata("xdp_counter.o"),
        "--maps-in",
        not_utf8.path(),
    ]);
    assert!(
        line.ends_with("the file is not UTF-8 text; write it as JSON"),
        "{line}"
    );
}

// ---- Errors that teach; what tinybpf checks. ----

#[test]
fn several_programs_need_program_and_the_error_says_so() {
    let path = testdata("unchecked_read.o");
    let line = fails(&["run", &path]);
    assert_eq!(
        line,
        format!(
            "tinybpf: {path}: it has 2 programs (unchecked_read, checked_read): choose one by name; pass --program NAME (e.g. --program unchecked_read)"
        )
    );
}

#[test]
fn an_unchecked_packet_read_faults_at_run_time_on_a_short_packet() {
    let path = testdata("unchecked_read.o");
    // The default packet has 64 bytes: data[100] is outside it.
    let line = fails(&["run", &path, "--program", "unchecked_read"]);
    assert!(
        line.contains("program unchecked_read: instruction 1:")
            && line.contains("runs past the end of the input or packet")
            && line.contains("check data + 101 <= data_end"),
        "{line}"
    );
    // On 101 bytes or more it runs.
    let long = TempFile::new("packet128.bin", &[0; 128]);
    let stdout = ok(&[
        "run",
        &path,
        "--program",
        "unchecked_read",
        "--packet",
        long.path(),
    ]);
    assert!(stdout.contains("retval: 2 (0x2) XDP_PASS"), "{stdout}");
    let mut marked = [0u8; 101];
    marked[100] = 1;
    let marked = TempFile::new("packet101.bin", &marked);
    let stdout = ok(&[
        "run",
        &path,
        "--program",
        "unchecked_read",
        "--packet",
        marked.path(),
    ]);
    assert!(stdout.contains("retval: 1 (0x1) XDP_DROP"), "{stdout}");
    // The checked program drops the short packet instead.
    let stdout = ok(&["run", &path, "--program", "checked_read"]);
    assert!(stdout.contains("retval: 1 (0x1) XDP_DROP"), "{stdout}");
}

// ---- Closed outputs. ----

/// Runs the command with stdout read for `keep` bytes and then closed, as
/// `| head -c KEEP` does; returns the exit status and stderr.
fn with_stdout_closed_after(args: &[&str], keep: usize) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tinybpf"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tinybpf binary starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut first = vec![0u8; keep];
    stdout
        .read_exact(&mut first)
        .expect("the first bytes arrive");
    drop(stdout);
    let output = child.wait_with_output().expect("tinybpf ends");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let path = testdata("cli_output.o");
    // Far more output than a pipe holds (64 KiB), so tinybpf must still be
    // writing when the reader goes away.
    for extra in [&[][..], &["--json"][..]] {
        let mut args = vec!["run", path.as_str()];
        args.extend_from_slice(extra);
        let full = tinybpf(&args);
        assert!(full.stdout.len() > 8 * 65536, "{} bytes", full.stdout.len());
        let (status, stderr) = with_stdout_closed_after(&args, 16);
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            if extra.is_empty() {
                ""
            } else {
                "run 1\nsecond line\n"
            }
        );
    }
}

#[test]
fn an_unwritable_output_is_one_error_line() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full on this system");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tinybpf"))
        .args(["run", &testdata("seed_globals.o")])
        .stdout(Stdio::from(full))
        .output()
        .expect("tinybpf runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "tinybpf: cannot write the output: No space left on device (os error 28)\n"
    );
}

// ---- README's quick start prints what README shows. ----

/// The lines of the fenced block of `kind` that follows `after` in README.md.
fn readme_block<'a>(readme: &'a str, after: &str, kind: &str) -> Vec<&'a str> {
    let start = readme
        .find(after)
        .unwrap_or_else(|| panic!("README.md has no {after:?}"));
    let rest = &readme[start..];
    let open = rest
        .find(&format!("```{kind}\n"))
        .unwrap_or_else(|| panic!("no ```{kind} block after {after:?}"));
    let body = &rest[open + kind.len() + 4..];
    let close = body.find("\n```").expect("the block is closed");
    body[..close].lines().collect()
}

#[test]
fn readme_quick_start_prints_what_readme_shows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let command = readme_block(&readme, "## Quick start", "sh");
    assert_eq!(command.len(), 1, "one command: {command:?}");
    let args: Vec<&str> = command[0]
        .strip_prefix("cargo run --release -- ")
        .expect("the quick start is cargo run --release -- ...")
        .split_whitespace()
        .collect();
    let shown = readme_block(&readme, "The times vary from machine to machine", "text");
    let stdout = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_tinybpf"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("tinybpf runs")
            .stdout,
    )
    .unwrap();
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed.len(), shown.len(), "{stdout}");
    for (printed, shown) in printed.iter().zip(&shown) {
        if shown.starts_with("time: first run ") {
            // Times differ from run to run; the shape does not.
            assert!(printed.starts_with("time: first run "), "{printed}");
            assert!(
                printed.ends_with(" per run (mean of the other 999 runs)"),
                "{printed}"
            );
        } else {
            assert_eq!(printed, shown);
        }
    }
    let test_command = readme_block(&readme, "Then run every test", "sh");
    assert_eq!(test_command, ["cargo test --workspace"]);
}

// ---- Every map type, CPUs. ----

/// `run --json` of `file` with `extra` arguments: the document (not checked
/// against the array-only shape of [`run_json`]).
fn json_of(file: &str, extra: &[&str]) -> Json {
    let path = testdata(file);
    let mut args = vec!["run", path.as_str(), "--json"];
    args.extend_from_slice(extra);
    let stdout = ok(&args);
    assert_eq!(stdout.lines().count(), 1, "exactly one JSON line: {stdout}");
    Json::parse(stdout.trim_end())
}

/// Map `name`'s type and entries, sorted by key, from a `--json` document.
fn map_of(doc: &Json, name: &str) -> (String, Vec<(String, String)>) {
    let maps = doc.get("maps");
    let map = maps.get(name);
    let mut entries: Vec<(String, String)> = map
        .get("entries")
        .members()
        .iter()
        .map(|(k, v)| (k.clone(), v.str().to_owned()))
        .collect();
    entries.sort();
    (map.get("type").str().to_owned(), entries)
}

#[test]
fn json_names_each_type_and_gives_per_cpu_values_in_the_kernels_format() {
    // Run on CPU 1 of 3: each value is 3 CPUs x 8 bytes, CPU 0 first.
    let doc = json_of("percpu.o", &["--cpus", "3", "--cpu", "1"]);
    let (kind, entries) = map_of(&doc, "cpu_hits");
    assert_eq!(kind, "percpu_array");
    assert_eq!(
        entries[..2],
        pairs(&[
            (
                "00000000",
                "000000000000000001000000000000000000000000000000"
            ),
            (
                "01000000",
                "000000000000000040000000000000000000000000000000"
            ),
        ])
    );
    let (kind, entries) = map_of(&doc, "cpu_flows");
    assert_eq!(kind, "percpu_hash");
    assert_eq!(
        entries,
        pairs(&[(
            "07000000",
            "000000000000000001000000000000000000000000000000"
        )])
    );
    // A hash lists its keys; --nonzero leaves out array entries only.
    let doc = json_of("hash_ops.o", &["--nonzero"]);
    let (kind, entries) = map_of(&doc, "flows");
    assert_eq!(kind, "hash");
    assert_eq!(
        entries,
        pairs(&[
            ("01000000", "0c00000000000000"),
            ("02000000", "1400000000000000"),
            ("03000000", "1e00000000000000"),
            ("04000000", "2800000000000000"),
        ])
    );
    let doc = json_of("lru_hash.o", &[]);
    assert_eq!(map_of(&doc, "recent").0, "lru_hash");
    let doc = json_of("lpm_trie.o", &[]);
    assert_eq!(map_of(&doc, "routes").1.len(), 3);
    assert_eq!(map_of(&doc, "routes").0, "lpm_trie");
}

#[test]
fn tables_sort_hash_keys_and_show_per_cpu_values_per_cpu() {
    let stdout = ok(&["run", &testdata("lpm_trie.o")]);
    assert!(
        stdout.contains(
            "map routes: lpm_trie, key 8 bytes, value 4 bytes, 8 entries, flags BPF_F_NO_PREALLOC\n\
             key                                   value        as u32\n\
             {prefixlen: 0, addr: [0, 0, 0, 0]}    09 00 00 00  9\n\
             {prefixlen: 8, addr: [10, 0, 0, 0]}   01 00 00 00  1\n\
             {prefixlen: 24, addr: [10, 1, 2, 0]}  03 00 00 00  3\n"
        ),
        "{stdout}"
    );
    let stdout = ok(&[
        "run",
        &testdata("percpu.o"),
        "--cpus",
        "4",
        "--cpu",
        "2",
        "--repeat",
        "3",
    ]);
    assert!(
        stdout.contains(
            "map cpu_hits: percpu_array, key 4 bytes, value 8 bytes, 4 entries, 4 CPUs\n \
             key   cpu  value                    as u64\n   \
             0  0..1  all zero (2 CPUs)\n         \
             2  03 00 00 00 00 00 00 00  3\n         \
             3  00 00 00 00 00 00 00 00  0\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "map cpu_flows: percpu_hash, key 4 bytes, value 8 bytes, 8 entries, 4 CPUs\n\
             key          as u32   cpu  value                    as u64\n\
             07 00 00 00       7  0..1  all zero (2 CPUs)\n                        \
             2  03 00 00 00 00 00 00 00  3\n"
        ),
        "{stdout}"
    );
    // --nonzero leaves out the zero CPUs.
    let stdout = ok(&[
        "run",
        &testdata("percpu.o"),
        "--cpus",
        "4",
        "--cpu",
        "2",
        "--nonzero",
    ]);
    assert!(
        stdout.contains("key   cpu  value                    as u64\n  0     2  01 00"),
        "{stdout}"
    );
}

#[test]
fn cpu_must_be_one_of_the_possible_cpus() {
    let line = fails(&["run", &testdata("percpu.o"), "--cpus", "4", "--cpu", "4"]);
    assert_eq!(
        line,
        "tinybpf: --cpu 4 is not one of the 4 possible CPUs (0 to 3); pass a --cpu below 4, or --cpus 5 or more"
    );
    for bad in ["0", "8193", "two"] {
        let out = tinybpf(&["run", &testdata("percpu.o"), &format!("--cpus={bad}")]);
        assert_eq!(out.status.code(), Some(2), "--cpus {bad}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("is not a number of CPUs (a whole number from 1 to 8192)"),
            "{stderr}"
        );
    }
    // The run's CPU is what bpf_get_smp_processor_id returns... and whose
    // per-CPU values the program sees.
    let doc = json_of("percpu.o", &["--cpus", "2", "--cpu", "0"]);
    assert_eq!(doc.get("retval").uint(), 1, "CPU 0 counts itself");
}

#[test]
fn maps_in_fills_every_type() {
    let document = r#"{"tx_ports": {"0": 5}, "xsks": {"0": 7}, "cpu_targets": {"1": 192},
        "jump_table": {"1": "use_devmap", "3": 2}, "perf_events": {"0": 3}}"#;
    let presets = TempFile::new("special.json", document.as_bytes());
    let doc = json_of(
        "special_maps.o",
        &[
            "--program",
            "use_devmap",
            "--cpus",
            "2",
            "--maps-in",
            presets.path(),
        ],
    );
    assert_eq!(doc.get("retval").uint(), 1005);
    for (map, kind, expected) in [
        ("tx_ports", "devmap", vec![("00000000", "0500000000000000")]),
        ("xsks", "xskmap", vec![("00000000", "07000000")]),
        (
            "cpu_targets",
            "cpumap",
            vec![("01000000", "c000000000000000")],
        ),
        (
            "jump_table",
            "prog_array",
            vec![("01000000", "00000000"), ("03000000", "02000000")],
        ),
        (
            "perf_events",
            "perf_event_array",
            vec![("00000000", "03000000")],
        ),
    ] {
        assert_eq!(
            map_of(&doc, map),
            (kind.to_owned(), pairs(&expected)),
            "{map}"
        );
    }
    // A per-CPU map: one value for every CPU, or the kernel's format.
    let presets = TempFile::new(
        "percpu.json",
        br#"{"cpu_hits": {"2": 5, "3": "01000000000000000200000000000000"}, "cpu_flows": {"0x09": "0x10"}}"#,
    );
    let doc = json_of("percpu.o", &["--cpus", "2", "--maps-in", presets.path()]);
    let (_, hits) = map_of(&doc, "cpu_hits");
    assert_eq!(hits[2].1, "05000000000000000500000000000000");
    assert_eq!(hits[3].1, "01000000000000000200000000000000");
    let (_, flows) = map_of(&doc, "cpu_flows");
    assert_eq!(
        flows,
        pairs(&[
            ("07000000", "01000000000000000000000000000000"),
            ("09000000", "10000000000000001000000000000000"),
        ])
    );
}

#[test]
fn maps_in_entries_that_do_not_fit_the_type_are_refused_with_the_fix() {
    let refused = |file: &str, extra: &[&str], document: &str| {
        let presets = TempFile::new("refused.json", document.as_bytes());
        let mut args = vec!["run".to_owned(), testdata(file)];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args.extend(["--maps-in".to_owned(), presets.path().to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = fails(&args);
        let prefix = format!("tinybpf: --maps-in {}: ", presets.path());
        assert!(line.starts_with(&prefix), "{line}");
        line[prefix.len()..].to_owned()
    };
    let special = ["--program", "use_devmap", "--cpus", "2"];
    assert_eq!(
        refused("special_maps.o", &special, r#"{"events": {"0": 1}}"#),
        "map \"events\" is a ringbuf map, which holds no entries to preset; leave it out"
    );
    assert_eq!(
        refused("special_maps.o", &special, r#"{"cpu_targets": {"2": 1}}"#),
        "map \"cpu_targets\", key \"2\": the map refused the value: CPU 2 is not possible (the host has 2); nothing was set, fix that entry"
    );
    assert_eq!(
        refused(
            "special_maps.o",
            &special,
            r#"{"jump_table": {"0": "no_such_program"}}"#
        ),
        "map \"jump_table\", key \"0\": value \"no_such_program\" is neither a number nor 4 bytes of hex (the map's value_size); write the value as its 4 bytes in hex (\"2a 00 00 00\") or as a number that fits in 4 bytes, or the name of one of the object's programs"
    );
    assert_eq!(
        refused(
            "hash_ops.o",
            &[],
            r#"{"flows": {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}}"#
        ),
        "map \"flows\": it has room for 4 entries and holds 0, but --maps-in adds 5 new keys; give at most 4 new keys"
    );
    assert_eq!(
        refused("hash_ops.o", &[], r#"{"flows": {"01 00": 1}}"#),
        "map \"flows\": key \"01 00\" is 2 bytes of hex, but the map's key_size is 4; write the key as a number (\"1\", \"0x10\", \"-1\") or as its 4 bytes in hex (\"01 00 00 00\")"
    );
}

#[test]
fn a_program_the_kernels_verifier_refuses_names_the_map_and_the_helper() {
    let line = fails(&[
        "run",
        &testdata("special_maps.o"),
        "--program",
        "lookup_prog_array",
    ]);
    assert!(
        line.ends_with(
            "calls bpf_map_lookup_elem with map jump_table (prog_array), which the kernel's verifier refuses: programs may not look up elements of a prog_array map"
        ),
        "{line}"
    );
    assert!(
        line.contains("special_maps.o: section socket, instruction"),
        "{line}"
    );
    let line = fails(&[
        "run",
        &testdata("special_maps.o"),
        "--program",
        "update_devmap",
    ]);
    assert!(
        line.ends_with("calls bpf_map_update_elem with map tx_ports (devmap), which the kernel's verifier refuses: programs may not update elements of a devmap map"),
        "{line}"
    );
}

#[test]
fn readme_c_example_is_count_packets_and_prints_what_readme_shows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let source = std::fs::read_to_string(testdata("count_packets.c")).unwrap();
    let code = readme_block(&readme, "## Your own program", "c");
    let body = &source[source.find("#include").unwrap()..];
    assert_eq!(code, body.lines().collect::<Vec<_>>());
    let commands = readme_block(&readme, "Compile it and run it", "sh");
    assert_eq!(commands.len(), 2);
    assert!(commands[0].starts_with("clang -O2 -g -target bpf "));
    let args: Vec<&str> = commands[1]
        .strip_prefix("tinybpf ")
        .unwrap()
        .split_whitespace()
        .collect();
    let shown = readme_block(&readme, "clang -O2 -g -target bpf", "text");
    let stdout = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_tinybpf"))
            .args(&args)
            .current_dir(testdata(""))
            .output()
            .expect("tinybpf runs")
            .stdout,
    )
    .unwrap();
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed.len(), shown.len(), "{stdout}");
    for (printed, shown) in printed.iter().zip(&shown) {
        if shown.starts_with("time: first run ") {
            assert!(printed.starts_with("time: first run "), "{printed}");
        } else {
            assert_eq!(printed, shown);
        }
    }
}

// ---- Packet programs: packet and context out, --ctx-in, --mem ---------------

#[test]
fn packet_programs_report_their_packet_and_context() {
    let out = TempFile::new("tc_out.bin", &[]);
    let doc = run_json("tc_skb.o", &["--packet-out", out.path()]);
    assert_eq!(doc.get("retval").uint(), 0);
    let mut expected = tinybpf::default_packet();
    expected[33] = 3;
    expected[24..26].copy_from_slice(&[0xff, 0xfe]);
    expected[50..52].copy_from_slice(&[0xff, 0xfe]);
    assert_eq!(doc.get("packet").str(), tinybpf::json::hex(&expected));
    assert_eq!(std::fs::read(out.path()).unwrap(), expected);
    let ctx = doc.get("ctx");
    assert_eq!(
        ctx.keys(),
        [
            "mark",
            "priority",
            "ingress_ifindex",
            "ifindex",
            "cb",
            "tstamp",
            "wire_len",
            "gso_segs",
            "gso_size",
            "hwtstamp"
        ]
    );
    assert_eq!(
        (ctx.get("mark").uint(), ctx.get("priority").uint()),
        (0x42, 7)
    );
    let Json::Arr(cb) = ctx.get("cb") else {
        panic!("cb is not a list");
    };
    let cb: Vec<u64> = cb.iter().map(Json::uint).collect();
    assert_eq!(cb, [0x11, 0, 0, 0, 0x55]);

    let table = ok(&["run", &testdata("tc_skb.o")]);
    assert!(table.contains("retval: 0 (0x0) TC_ACT_OK"), "{table}");
    assert!(
        table.contains("packet: 64 bytes, changed:\n  0000: 02 00 00 00 00 02"),
        "{table}"
    );
    assert!(
        table.contains("  0010: 00 32 00 00 00 00 40 06 ff fe 0a 00 00 01 0a 00\n"),
        "{table}"
    );
    assert!(
        table.contains("ctx: mark 66, priority 7, cb [17, 0, 0, 0, 85]"),
        "{table}"
    );

    let xdp = run_json("xdp_adjust.o", &[]);
    assert_eq!(doc.get("packet").str().len(), 128);
    let md = xdp.get("ctx");
    assert_eq!(
        md.keys(),
        [
            "data",
            "data_end",
            "data_meta",
            "ingress_ifindex",
            "rx_queue_index"
        ]
    );
    assert_eq!((md.get("data").uint(), md.get("data_end").uint()), (4, 78));
    assert!(xdp.get("packet").str().starts_with("efbeadde54425046aa00"));
}

#[test]
fn ctx_in_sets_sk_buff_fields_and_refuses_the_others() {
    let good = TempFile::new("ctx_good.json", br#"{"mark": 9, "cb": [0, 0, 4]}"#);
    let doc = run_json("tc_skb.o", &["--ctx-in", good.path(), "--nonzero"]);
    let fields = entries(&doc)
        .into_iter()
        .find(|(name, _)| name == "fields")
        .unwrap()
        .1;
    assert!(
        fields.contains(&(le_hex(5), "0900000000000000".to_owned())),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(le_hex(7), "0400000000000000".to_owned())),
        "{fields:?}"
    );

    let bad = TempFile::new("ctx_bad.json", br#"{"len": 5}"#);
    let stderr = fails(&["run", &testdata("tc_skb.o"), "--ctx-in", bad.path()]);
    assert!(stderr.contains("field \"len\" cannot be set"), "{stderr}");
    let xdp = fails(&["run", &testdata("xdp_adjust.o"), "--ctx-in", good.path()]);
    assert!(xdp.contains("--ctx-in sets __sk_buff fields"), "{xdp}");
}

#[test]
fn types_tinybpf_does_not_run_need_mem() {
    let path = testdata("skb_types.o");
    let stderr = fails(&["run", &path, "--program", "probe"]);
    assert!(
        stderr.contains("is a kprobe program, which tinybpf does not run; it runs xdp, sched_cls"),
        "{stderr}"
    );
    // disasm lists it all the same.
    let listing = ok(&["disasm", &path, "--program", "probe"]);
    assert!(
        listing.contains("program probe (section kprobe/do_sys_open)"),
        "{listing}"
    );
    let memory = TempFile::new("mem8.bin", &[0; 8]);
    let doc = run_json(
        "skb_types.o",
        &["--program", "probe", "--mem", memory.path()],
    );
    assert_eq!(doc.get("retval").uint(), 0);
    let bad = fails(&["run", &path, "--program", "bad_len"]);
    assert!(
        bad.contains(
            "write of 4 bytes at __sk_buff offset 0 (len) is refused for sched_cls programs"
        ),
        "{bad}"
    );
}
