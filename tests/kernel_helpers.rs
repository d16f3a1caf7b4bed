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
