//! Values people can read: where BTF types a map's keys or values, the
//! table shows them formatted (structs by member, arrays as lists, signed
//! numbers) and `--json` adds `"formatted"` beside the hex, as `bpftool map
//! dump` does.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tinybpf"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the tinybpf binary runs");
    assert!(
        out.status.success(),
        "tinybpf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The output without the timing line (or, for JSON, the timing members).
fn stable(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("time: "))
        .map(|line| {
            let Some(start) = line.find("\"first_run_ns\"") else {
                return format!("{line}\n");
            };
            let end = line.find("\"insns_per_run\"").unwrap();
            format!("{}{}\n", &line[..start], &line[end..])
        })
        .collect()
}

#[test]
fn tables_show_structs_by_member_keys_by_field_and_signed_numbers() {
    insta::assert_snapshot!(
        "btf_maps_count_arrays",
        stable(&run(&[
            "run",
            "testdata/btf_maps.o",
            "--program",
            "count_arrays"
        ]))
    );
    insta::assert_snapshot!("lpm_trie", stable(&run(&["run", "testdata/lpm_trie.o"])));
    let signed = stable(&run(&["run", "testdata/hash_ops.o"]));
    assert!(signed.contains("     3  -22\n"), "{signed}");
    // Unsigned integers keep the bytes and the number, as before.
    assert!(
        signed.contains("01 00 00 00       1  0c 00 00 00 00 00 00 00  12\n"),
        "{signed}"
    );
}

#[test]
fn json_adds_formatted_beside_the_hex() {
    let text = run(&[
        "run",
        "testdata/btf_maps.o",
        "--program",
        "count_arrays",
        "--json",
        "--nonzero",
    ]);
    assert!(
        text.contains(r#""pairs": {"type": "array", "key_size": 4, "value_size": 8, "max_entries": 4, "entries": {"02000000": "0100000040000000"}, "formatted": [{"key": 2, "value": {"packets": 1, "bytes": 64}}]}"#),
        "{text}"
    );
    let text = run(&["run", "testdata/btf_globals.o", "--json"]);
    assert!(
        text.contains(r#""formatted": [{"key": 0, "value": {"config": {"scale": 3, "offset": -2, "flags": 129, "mode": 5, "verbose": 1}, "limit": 100}}]"#),
        "{text}"
    );
    // A per-CPU value: one formatted value per CPU, CPU 0 first.
    let text = run(&[
        "run",
        "testdata/percpu.o",
        "--json",
        "--cpus",
        "2",
        "--nonzero",
    ]);
    assert!(
        text.contains(
            r#""formatted": [{"key": 0, "value": [1, 0]}, {"key": 1, "value": [64, 0]}]"#
        ),
        "{text}"
    );
    // Arrays only: entries in index order, a stable document.
    insta::assert_snapshot!(
        "globals_data_json",
        stable(&run(&["run", "testdata/globals_data.o", "--json"]))
    );
}

/// A `--maps-in` file holding `json`, removed when dropped.
struct MapsIn(std::path::PathBuf);

impl MapsIn {
    fn new(name: &str, json: &str) -> MapsIn {
        let path = std::env::temp_dir().join(format!(
            "tinybpf-formatted-{}-{name}.json",
            std::process::id()
        ));
        std::fs::write(&path, json).unwrap();
        MapsIn(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for MapsIn {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tinybpf"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "tinybpf {args:?} should fail");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr.trim_end().to_owned()
}

#[test]
fn maps_in_reads_values_and_keys_as_their_types_format_them() {
    let file = MapsIn::new(
        "struct",
        r#"{"pairs": {"1": {"packets": 5, "bytes": 100}, "3": "07 00 00 00 08 00 00 00"}}"#,
    );
    let shown = run(&[
        "run",
        "testdata/btf_maps.o",
        "--program",
        "count_arrays",
        "--maps-in",
        file.path(),
    ]);
    assert!(
        shown.ends_with(
            "   0  {packets: 0, bytes: 0}\n   1  {packets: 5, bytes: 100}\n   2  {packets: 1, bytes: 64}\n   3  {packets: 7, bytes: 8}\n"
        ),
        "{shown}"
    );
    // A struct key, written as JSON in the member name.
    let file = MapsIn::new(
        "key",
        r#"{"routes": {"{\"prefixlen\": 8, \"addr\": [192, 0, 0, 0]}": 7}}"#,
    );
    let shown = run(&["run", "testdata/lpm_trie.o", "--maps-in", file.path()]);
    assert!(
        shown.contains("{prefixlen: 8, addr: [192, 0, 0, 0]}  07 00 00 00  7\n"),
        "{shown}"
    );
}

#[test]
fn maps_in_json_that_does_not_fit_is_one_sentence() {
    let cases = [
        (
            r#"{"pairs": {"1": {"packets": 5, "bites": 100}}}"#,
            r#"map "pairs", key "1": value {"packets": 5, "bites": 100} does not fit the value's type: value (struct pair): there is no member "bites" (members: packets, bytes); write the value as its 8 bytes in hex ("2a 00 00 00 00 00 00 00") or as a number that fits in 8 bytes"#,
        ),
        (
            r#"{"counts": {"1": {"packets": 5}}}"#,
            r#"map "counts", key "1": value {"packets": 5} does not fit the value's type: value (__u64): expected an integer, found an object; write the value as its 8 bytes in hex ("2a 00 00 00 00 00 00 00") or as a number that fits in 8 bytes"#,
        ),
        (
            r#"{"pairs": {"1": {"packets": 5, "bytes": 100}, "0x1": 3}}"#,
            r#"map "pairs": keys "1" and "0x1" are the same entry (index 1); keep one of them"#,
        ),
        (
            r#"{"pairs": {"{\"x\": 1}": 1}}"#,
            r#"map "pairs": key "{\"x\": 1}" is JSON, but BTF does not type the map's keys (declare them with __type(key, ...) and compile with -g); write the key as a number ("1", "0x10", "-1") or as its 4 bytes in hex ("01 00 00 00")"#,
        ),
        (
            r#"{"pairs": {"1": [1, 2}}"#,
            "line 1, column 22: expected ',' or ']'; the file must hold {\"MAP\": {\"KEY\": VALUE, ...}, ...}",
        ),
    ];
    for (i, (json, expected)) in cases.iter().enumerate() {
        let file = MapsIn::new(&format!("bad{i}"), json);
        let line = fails(&[
            "run",
            "testdata/btf_maps.o",
            "--program",
            "count_arrays",
            "--maps-in",
            file.path(),
        ]);
        assert_eq!(
            line,
            format!("tinybpf: --maps-in {}: {expected}", file.path())
        );
    }
}

#[test]
fn byte_arrays_stay_hex_structs_enums_and_per_cpu_values_are_formatted() {
    let args = [
        "run",
        "testdata/typed_maps.o",
        "--cpus",
        "2",
        "--repeat",
        "2",
    ];
    insta::assert_snapshot!("typed_maps_table", stable(&run(&args)));
    let json = run(&[
        "run",
        "testdata/typed_maps.o",
        "--cpus",
        "2",
        "--json",
        "--nonzero",
    ]);
    insta::assert_snapshot!("typed_maps_json", stable(&json));
}

#[test]
fn maps_in_reads_enumerators_and_struct_keys_by_name() {
    let file = MapsIn::new(
        "enum",
        r#"{"verdicts": {"{\"addr\": 1, \"port\": 443}": "VERDICT_PASS"},
            "points": {"0": {"x": -1, "y": -2}},
            "moves": {"0": {"x": 5}}}"#,
    );
    let shown = stable(&run(&[
        "run",
        "testdata/typed_maps.o",
        "--cpus",
        "2",
        "--maps-in",
        file.path(),
    ]));
    assert!(
        shown.contains("{addr: 1, port: 443, pad: 0}        VERDICT_PASS\n"),
        "{shown}"
    );
    assert!(shown.contains("   0  {x: -1, y: -2}\n"), "{shown}");
    // A per-CPU map takes one value for every CPU.
    assert!(
        shown.contains("   0     0  {x: 5, y: 0}\n         1  {x: 5, y: 0}\n"),
        "{shown}"
    );
    let file = MapsIn::new(
        "bad-enum",
        r#"{"verdicts": {"{\"addr\": 1}": "VERDICT_MAYBE"}}"#,
    );
    let line = fails(&["run", "testdata/typed_maps.o", "--maps-in", file.path()]);
    assert!(
        line.contains(r#"map "verdicts", key "{\"addr\": 1}": value "VERDICT_MAYBE" is neither a number nor 4 bytes of hex"#),
        "{line}"
    );
}
