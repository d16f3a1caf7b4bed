//! The `tinybpf` command line: `run` (human and `--json` output, `--nonzero`,
//! `--repeat`, `--maps-in`, `--packet`, `--no-inline`), `disasm`, `maps`,
//! and the errors, each one line on stderr naming the file, exit non-zero.

use std::path::{Path, PathBuf};
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
    s.len() % 2 == 0 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
    assert_eq!(
        doc.keys(),
        ["retval", "repeat", "ns_per_run", "insns_per_run", "maps"]
    );
    assert!(doc.get("ns_per_run").float() >= 0.0);
    assert!(doc.get("insns_per_run").uint() > 0);
    for (name, map) in doc.get("maps").members() {
        assert_eq!(
            map.keys(),
            ["type", "key_size", "value_size", "max_entries", "entries"],
            "map {name}"
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
    let frame = TempFile::new("frame10.bin", &[0x5a; 10]);
    let doc = run_json("xdp_counter.o", &["--packet", frame.path(), "--nonzero"]);
    assert_eq!(doc.get("retval").uint(), 1, "XDP_DROP");
    let maps = entries(&doc);
    assert_eq!(maps[0].1, pairs(&[("00000000", "0100000000000000")]));
    assert!(maps[1].1.is_empty() && maps[2].1.is_empty());

    let stdout = ok(&["run", &testdata("xdp_counter.o"), "--packet", frame.path()]);
    assert!(stdout.contains("retval: 1 (0x1) XDP_DROP"), "{stdout}");
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
            ["outcome", "maps", "array", "4", "8", "4", "0x0"],
            ["proto_stats", "maps", "array", "4", "24", "256", "0x0"],
            ["dport_hits", "maps", "array", "4", "8", "1024", "0x0"],
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
    let unsupported = Some("tinybpf does not support this type yet");
    assert_eq!(
        rows,
        [
            (
                vec!["jumps", ".maps", "prog_array", "4", "4", "4", "0x0"],
                unsupported
            ),
            (vec!["counts", ".maps", "array", "4", "8", "8", "0x0"], None),
            (
                vec!["pairs", ".maps", "array", "4", "8", "4", "0x400"],
                None
            ),
            (
                vec!["flows", ".maps", "hash", "8", "8", "1024", "0x0"],
                unsupported
            ),
            (
                vec!["per_cpu", ".maps", "percpu_array", "4", "8", "4", "0x0"],
                unsupported
            ),
        ]
    );
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

    let bad_json = TempFile::new("bad.json", br#"{"outcome": {"00000000": 1}}"#);
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
