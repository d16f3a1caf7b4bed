//! The `tinybpf-conformance-plugin` binary speaks the bpf_conformance runner's
//! plugin protocol: program as hex on stdin, memory as an optional hex first
//! argument, r0 printed in hex, non-zero exit on error. Driven here over the
//! whole suite the way the suite's runner does, when the build script found
//! the shared folder (`TINYBPF_SHARED`, else `../shared` beside the checkout);
//! otherwise that test is ignored with a reason `cargo test` prints.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use tinybpf_vm::isa::conformance::load_dir;
use tinybpf_vm::isa::insn::encode_all;

fn plugin(program_hex: &str, memory_hex: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tinybpf-conformance-plugin"));
    if let Some(memory) = memory_hex {
        command.arg(memory);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the plugin starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(program_hex.as_bytes())
        .expect("the program is written");
    let output = child.wait_with_output().expect("the plugin ends");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn prints_r0_in_hex_and_reads_memory_from_the_argument() {
    // ldxw r0, [r1]; exit
    let (ok, out, _) = plugin("6110000000000000 9500000000000000", Some("78563412"));
    assert!(ok);
    assert_eq!(out, "12345678");
}

#[test]
fn errors_exit_non_zero_with_a_message() {
    let (ok, _, err) = plugin("ff00000000000000", None);
    assert!(!ok);
    assert!(err.contains("instruction 0"), "{err}");
    let (ok, _, err) = plugin("9500000000", None);
    assert!(!ok, "partial slot");
    assert!(!err.is_empty());
    let (ok, _, _) = plugin("zz", None);
    assert!(!ok);
    // Non-ASCII input is an error, not a panic.
    let (ok, _, err) = plugin("aéb0", None);
    assert!(!ok);
    assert!(err.contains("hex digit"), "{err}");
}

#[test]
#[cfg_attr(
    not(tinybpf_shared),
    ignore = "no ../shared beside the checkout and no TINYBPF_SHARED: the conformance suite is not here"
)]
fn the_whole_suite_passes_through_the_plugin() {
    let Some(shared) = option_env!("TINYBPF_SHARED_DIR") else {
        panic!(
            "no shared folder: set TINYBPF_SHARED to the folder holding bpf_conformance, or put it at ../shared beside the checkout"
        );
    };
    let dir = PathBuf::from(shared).join("bpf_conformance/tests");
    assert!(
        dir.is_dir(),
        "{} is missing from the shared folder (TINYBPF_SHARED, else ../shared)",
        dir.display()
    );
    let cases = load_dir(&dir).expect("the suite parses");
    let mut failed = Vec::new();
    for case in &cases {
        let program = hex(&encode_all(&case.program().expect("assembles")));
        let memory = (!case.mem.is_empty()).then(|| hex(&case.mem));
        let (ok, out, err) = plugin(&program, memory.as_deref());
        let got = u64::from_str_radix(&out, 16).ok();
        if !ok || got != case.result {
            failed.push(format!("{}: {out} {err}", case.name));
        }
    }
    println!(
        "plugin: {} passed, {} failed",
        cases.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
