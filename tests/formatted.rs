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
    insta::assert_snapshot!("lpm_trie_json", stable(&text_of_lpm()));
}

fn text_of_lpm() -> String {
    run(&["run", "testdata/lpm_trie.o", "--json"])
}
