//! Runs the public eBPF conformance suite (`bpf_conformance/tests/*.data`)
//! and expects every program to give its `-- result`; every file of
//! `bpf_conformance/negative/` must be rejected (by the assembler or the
//! loader) or, for the one that states a wrong result, give another result.
//!
//! The suite lives in the shared folder: `TINYBPF_SHARED`, else `../shared`
//! beside the checkout (vm/build.rs looks, as the benches do). Without either
//! the tests are ignored with a reason `cargo test` prints; when
//! `TINYBPF_SHARED` is set but the files are missing, they fail.

use std::path::PathBuf;

use tinybpf_vm::isa::conformance::{ConformanceCase, load_dir, load_file};
use tinybpf_vm::{LoadedProgram, ProgramOptions};

/// The suite's folder `sub` inside the shared folder vm/build.rs found.
fn suite_dir(sub: &str) -> PathBuf {
    let Some(shared) = option_env!("TINYBPF_SHARED_DIR") else {
        panic!(
            "no shared folder: set TINYBPF_SHARED to the folder holding bpf_conformance, or put it at ../shared beside the checkout"
        );
    };
    let dir = PathBuf::from(shared).join("bpf_conformance").join(sub);
    assert!(
        dir.is_dir(),
        "{} is missing from the shared folder (TINYBPF_SHARED, else ../shared)",
        dir.display()
    );
    dir
}

/// Runs one case: `Ok(r0)` or a description of the error.
fn run_case(case: &ConformanceCase) -> Result<u64, String> {
    let insns = case.program().map_err(|e| e.to_string())?;
    let program =
        LoadedProgram::from_insns(&insns, ProgramOptions::default()).map_err(|e| e.to_string())?;
    let mut mem = case.mem.clone();
    program
        .run(&mut mem)
        .map(|outcome| outcome.retval)
        .map_err(|e| e.to_string())
}

#[test]
#[cfg_attr(
    not(tinybpf_shared),
    ignore = "no ../shared beside the checkout and no TINYBPF_SHARED: the conformance suite is not here"
)]
fn every_conformance_program_gives_its_result() {
    let dir = suite_dir("tests");
    let cases = load_dir(&dir).expect("the suite's files parse");
    assert_eq!(cases.len(), 313, "the suite has 313 test files");
    let mut failures = Vec::new();
    for case in &cases {
        let expected = case.result;
        match run_case(case) {
            Ok(r0) if Some(r0) == expected => {}
            other => failures.push(format!(
                "{}: expected {expected:?}, got {other:?}",
                case.name
            )),
        }
    }
    let passed = cases.len() - failures.len();
    println!("conformance: {passed} passed, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

#[test]
#[cfg_attr(
    not(tinybpf_shared),
    ignore = "no ../shared beside the checkout and no TINYBPF_SHARED: the conformance suite is not here"
)]
fn every_negative_case_is_rejected() {
    let dir = suite_dir("negative");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the negative folder is readable")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "data"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    let mut accepted = Vec::new();
    for path in &paths {
        // A file the suite's own reader rejects (e.g. an unknown directive) is rejected.
        let Ok(case) = load_file(path) else { continue };
        match run_case(&case) {
            Err(_) => {}
            // A case that states a result must not get it (it states a wrong one).
            Ok(r0) if case.result.is_some_and(|expected| expected != r0) => {}
            Ok(r0) => accepted.push(format!("{}: ran and returned {r0:#x}", case.name)),
        }
    }
    println!(
        "conformance negative: {} rejected, {} accepted",
        paths.len() - accepted.len(),
        accepted.len()
    );
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
}
