//! Global variables by name: `run` shows `.data`/`.bss`/`.rodata`
//! variables with their BTF types, `--set` and `Object::set_globals` set
//! them (a `.rodata` one before its map is frozen), `Object::global` reads
//! one; every bad assignment refused in one sentence, nothing half set.

use std::process::{Command, Output};

use tinybpf::{Error, GlobalProblem, Object};

fn testdata(file: &str) -> String {
    format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn tinybpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinybpf"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the tinybpf binary runs")
}

/// Stdout of a successful run, without the timing line.
fn ok(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(
        out.status.success(),
        "tinybpf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("time: "))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn fails(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(!out.status.success(), "tinybpf {args:?} should fail");
    assert!(out.stdout.is_empty(), "tinybpf {args:?} printed to stdout");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    stderr.trim_end().to_owned()
}

#[test]
fn run_shows_globals_by_name_with_their_types() {
    insta::assert_snapshot!(ok(&["run", "testdata/btf_globals.o"]));
}

#[test]
fn set_changes_rodata_before_it_is_frozen() {
    let shown = ok(&[
        "run",
        "testdata/btf_globals.o",
        "--set",
        "limit=20",
        "--set",
        "config.scale=10",
        "--set",
        "config.mode=2",
        "--set",
        "total=0x10",
        "--set",
        "seen[1]=7",
    ]);
    insta::assert_snapshot!(shown);
    // 10 * 7 - 2 = 68, plus flags & 0xf = 1.
    assert!(shown.contains("retval: 69 (0x45)\n"), "{shown}");
    // hist[mode & 3] counted the run.
    assert!(shown.contains("hist: [0, 0, 1, 0]"), "{shown}");
    assert!(shown.contains("total: __s64 = 84"), "{shown}");
}

#[test]
fn a_whole_struct_is_set_from_json_members_left_out_are_zero() {
    let shown = ok(&[
        "run",
        "testdata/btf_globals.o",
        "--set",
        r#"config={"scale": 1, "flags": 2}"#,
    ]);
    assert!(
        shown.contains(
            "config: const volatile struct config = {scale: 1, offset: 0, flags: 2, mode: 0, verbose: 0}"
        ),
        "{shown}"
    );
}

#[test]
fn bad_assignments_are_one_sentence_naming_set_and_the_fix() {
    let file = "testdata/btf_globals.o";
    let cases = [
        (
            "limt=3",
            "tinybpf: --set limt=3: testdata/btf_globals.o: no global variable named limt (variables: config, limit, stats, total, seen, local_hits); --set takes one of those names; no variable was set",
        ),
        (
            "limit=-3",
            "tinybpf: --set limit=-3: testdata/btf_globals.o: global variable limit: limit (const volatile __u32): -3 does not fit: it holds 0 to 4294967295; give --set a value its type holds; no variable was set",
        ),
        (
            "limit",
            "tinybpf: --set limit: testdata/btf_globals.o: \"limit\" is not NAME=VALUE: line 1, column 6: expected NAME=VALUE (no '=' found); write --set NAME=VALUE, e.g. --set limit=5; no variable was set",
        ),
        (
            "config.mode=8",
            "tinybpf: --set config.mode=8: testdata/btf_globals.o: global variable config: config.mode (__u8): 8 does not fit: it holds 0 to 7; give --set a value its type holds; no variable was set",
        ),
        (
            "config.nope=1",
            "tinybpf: --set config.nope=1: testdata/btf_globals.o: global variable config: config (struct config): there is no member \"nope\" (members: scale, offset, flags, mode, verbose); --set names one of those members; no variable was set",
        ),
        ("seen[3]=1", ""),
    ];
    for (set, expected) in cases {
        let line = fails(&["run", file, "--set", "limit=20", "--set", set]);
        if expected.is_empty() {
            assert!(
                line.starts_with(&format!("tinybpf: --set {set}: ")),
                "{line}"
            );
            assert!(line.ends_with("; no variable was set"), "{line}");
        } else {
            assert_eq!(line, expected);
        }
    }
}

#[test]
fn set_globals_is_all_or_nothing_and_rodata_freezes_at_load() {
    let mut object = Object::open(testdata("btf_globals.o")).unwrap();
    let err = object
        .set_globals(["limit=7", "total=1", "config.mode=9"])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Global { name, problem: GlobalProblem::Value(_), .. } if name == "config"),
        "{err}"
    );
    assert_eq!(object.global::<u32>("limit").unwrap(), 100, "nothing set");
    assert_eq!(object.global::<i64>("total").unwrap(), -5, "nothing set");

    object.set_globals(["limit=7", "total=1"]).unwrap();
    assert_eq!(object.global::<u32>("limit").unwrap(), 7);
    let program = object.program("btf_globals").unwrap();
    program.run(&mut []).unwrap();
    assert_eq!(object.global::<i64>("total").unwrap(), 1 + 19);
    // .data is live: set between runs, the program sees it.
    object.set_globals(["total=100"]).unwrap();
    program.run(&mut []).unwrap();
    assert_eq!(object.global::<i64>("total").unwrap(), 119);
    // .rodata is frozen once its map exists; nothing else is set either.
    let err = object.set_globals(["total=5", "limit=8"]).unwrap_err();
    assert!(
        matches!(&err, Error::Global { name, problem: GlobalProblem::Frozen { section }, .. } if name == "limit" && section == ".rodata"),
        "{err}"
    );
    assert_eq!(object.global::<i64>("total").unwrap(), 119);
    assert_eq!(object.global::<u32>("limit").unwrap(), 7);
}

#[test]
fn globals_read_typed_and_formatted() {
    let object = Object::open(testdata("btf_globals.o")).unwrap();
    let err = object.global::<u64>("limit").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Global {
                problem: GlobalProblem::Size {
                    size: 8,
                    variable_size: 4
                },
                ..
            }
        ),
        "{err}"
    );
    let err = object.global::<u32>("nothing").unwrap_err();
    assert!(matches!(err, Error::NoSuchGlobal { .. }), "{err}");
    assert_eq!(object.global::<[u8; 12]>("seen").unwrap(), [0; 12]);
    let globals = object.globals().unwrap();
    let names: Vec<(&str, &str, &str)> = globals
        .iter()
        .map(|g| (g.name.as_str(), g.section.as_str(), g.type_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("config", ".rodata", "const volatile struct config"),
            ("limit", ".rodata", "const volatile __u32"),
            ("stats", ".data", "struct stats"),
            ("total", ".data", "__s64"),
            ("seen", ".bss", "__u32[3]"),
            ("local_hits", ".bss", "volatile __u64"),
        ]
    );
    assert_eq!(
        globals[2].value.to_string(),
        "{runs: 10, last: 0, hist: [0, 0, 0, 0]}"
    );
}

#[test]
fn set_with_pin_dir_pins_the_values_set() {
    let dir = std::env::temp_dir().join(format!("tinybpf-globals-pin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shown = ok(&[
        "run",
        "testdata/btf_globals.o",
        "--set",
        "limit=42",
        "--pin-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        shown.contains("limit: const volatile __u32 = 42"),
        "{shown}"
    );
    let pinned = tinybpf::Map::open_pinned(dir.join(".rodata")).unwrap();
    assert!(pinned.is_frozen());
    assert_eq!(pinned.get_bytes_at(0).unwrap()[8..12], 42u32.to_le_bytes());
    std::fs::remove_dir_all(&dir).unwrap();
}
