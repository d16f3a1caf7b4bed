//! Callbacks from the command line: `testdata/loops.c` (bpf_loop) and
//! `testdata/loops_maps.c` (bpf_for_each_map_elem) run as a table and as
//! JSON, with the results `testdata/EXPECTED.md` works out from the C, and
//! the listing naming the callbacks.

mod common;

use common::{ok, testdata};

/// The table output without its time line and with paths relative to the
/// repository.
fn without_time_line(text: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    text.replace(root, "")
        .lines()
        .filter(|line| !line.starts_with("time: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// JSON output without the timings.
fn without_timings(json: &str) -> String {
    json.trim_end()
        .split(", ")
        .filter(|part| !part.starts_with("\"first_run_ns\"") && !part.starts_with("\"ns_per_run\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn bpf_loop_results_match_the_c() {
    let json = ok(&["run", &testdata("loops.o"), "--json"]);
    for expected in [
        "\"sum_result\": 10",
        "\"sum_value\": 45",
        "\"sum_calls\": 10",
        "\"break_result\": 4",
        "\"break_value\": 6",
        "\"break_calls\": 4",
        "\"zero_result\": 0",
        "\"zero_calls\": 0",
        "\"flags_result\": -22",
        "\"e2big_result\": -7",
        "\"errors_calls\": 0",
        "\"nested_result\": 3",
        "\"nested_calls\": 12",
        "\"nested_outer\": 3",
    ] {
        assert!(json.contains(expected), "{expected} in {json}");
    }
}

#[test]
fn for_each_map_elem_results_match_the_c() {
    // Two runs: the array's values grow by key + 1 per run, the per-CPU
    // array's too (on CPU 0), the hash values are set again each run.
    let json = ok(&["run", &testdata("loops_maps.o"), "--json", "--repeat", "2"]);
    for expected in [
        "\"array_result\": 4",
        "\"array_sum\": 10",
        "\"array_keys\": 6",
        "\"find_result\": 3",
        "\"find_calls\": 3",
        "\"percpu_result\": 3",
        "\"percpu_keys\": 3",
        "\"hash_result\": 3",
        "\"hash_sum\": 210",
        "\"hash_keys\": 21",
        "\"empty_result\": 0",
        "\"empty_calls\": 0",
        "\"flags_result\": -22",
    ] {
        assert!(json.contains(expected), "{expected} in {json}");
    }
}

#[test]
fn snapshots_of_the_loops() {
    let path = testdata("loops.o");
    insta::assert_snapshot!(
        "loops_json",
        without_timings(&ok(&["run", &path, "--json", "--repeat", "2"]))
    );
    insta::assert_snapshot!(
        "loops_table",
        without_time_line(&ok(&["run", &path, "--repeat", "2"]))
    );
    let path = testdata("loops_maps.o");
    insta::assert_snapshot!(
        "loops_maps_json",
        without_timings(&ok(&["run", &path, "--json", "--repeat", "2"]))
    );
    insta::assert_snapshot!(
        "loops_maps_table",
        without_time_line(&ok(&["run", &path, "--repeat", "2"]))
    );
}

#[test]
fn the_listing_names_each_callback() {
    let listing = ok(&["disasm", &testdata("loops.o")]);
    assert!(
        listing.contains("lddw %r2, func:94 # add_index"),
        "{listing}"
    );
    assert!(listing.contains("# inner_loop"), "{listing}");
    assert!(listing.contains("# count_call"), "{listing}");
    assert!(listing.contains("call 181 # bpf_loop"), "{listing}");
    let listing = ok(&["disasm", &testdata("loops_maps.o")]);
    for name in ["# add_and_bump", "# find_two", "# sum_and_double"] {
        assert!(listing.contains(name), "{name} in {listing}");
    }
    assert!(
        listing.contains("call 164 # bpf_for_each_map_elem"),
        "{listing}"
    );
}
