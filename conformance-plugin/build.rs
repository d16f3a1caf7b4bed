//! Finds the shared folder that holds the conformance suite, for the tests
//! only: `TINYBPF_SHARED` when set (a relative path is taken from the
//! checkout's root), else `../shared` beside the checkout, as the benches do.
//!
//! When there is one, it sets `cfg(tinybpf_shared)` and `TINYBPF_SHARED_DIR`;
//! the tests that need the suite are otherwise `#[ignore]`d with a reason the
//! test runner prints. A `TINYBPF_SHARED` naming a folder without the suite is
//! not skipped: those tests then fail.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tinybpf_shared)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=TINYBPF_SHARED");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let checkout = manifest_dir.join("..");
    let shared = match std::env::var_os("TINYBPF_SHARED") {
        Some(named) => checkout.join(named),
        None => {
            let beside = checkout.join("../shared");
            let suite = beside.join("bpf_conformance");
            if !suite.is_dir() {
                return;
            }
            // Rebuild when the suite changes (a missing path would rerun always).
            println!("cargo::rerun-if-changed={}", suite.display());
            beside
        }
    };
    println!("cargo::rustc-cfg=tinybpf_shared");
    println!(
        "cargo::rustc-env=TINYBPF_SHARED_DIR={}",
        tidy(&shared).display()
    );
}

/// The path without `..` steps where the folder exists (for readable messages).
fn tidy(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
