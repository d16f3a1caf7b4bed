//! What several integration tests share: paths into `testdata/`, running
//! the `tinybpf` binary, reading maps, and describing a packet run. Each
//! test crate uses only part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::process::{Command, Output};

use tinybpf::vm::RunContext;
use tinybpf::{Object, Program};

/// The path of `testdata/FILE`.
pub fn testdata(file: &str) -> String {
    format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `tinybpf` binary with `args`.
pub fn tinybpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinybpf"))
        .args(args)
        .output()
        .expect("the tinybpf binary runs")
}

/// Runs the command, asserts it succeeded and returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(
        out.status.success(),
        "tinybpf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the command, asserts it failed, and returns its stderr.
pub fn fails(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(!out.status.success(), "tinybpf {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

/// Lowercase hex of `bytes`, as the CLI prints packets.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// The program `name` of `object`, loaded.
pub fn load(object: &Object, name: &str) -> Program {
    object.program(name).unwrap()
}

/// The first `n` entries of an array of i64.
pub fn values(object: &Object, map: &str, n: u32) -> Vec<i64> {
    let map = object.map(map).unwrap();
    (0..n).map(|i| map.get::<u32, i64>(&i).unwrap()).collect()
}

/// Text of a run's outcome, packet and context, for snapshots.
pub fn describe(retval: u64, ctx: &RunContext) -> String {
    let mut text = format!("retval: {retval}\npacket:");
    for (i, b) in ctx.packet.bytes().iter().enumerate() {
        let sep = if i % 16 == 0 { "\n  " } else { " " };
        let _ = write!(text, "{sep}{b:02x}");
    }
    let _ = write!(text, "\nctx: {:?}\n", ctx.context_out());
    text
}

/// One map's name and its entries (key bytes, value bytes), sorted by key.
pub type MapContents = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// Every map of `object`, for comparing two objects' maps.
pub fn maps_of(object: &Object) -> Vec<MapContents> {
    object
        .maps()
        .iter()
        .map(|map| {
            let mut entries: Vec<_> = map.entries().collect();
            entries.sort();
            (map.name().to_owned(), entries)
        })
        .collect()
}

/// The names of the object files in `testdata/`, sorted.
pub fn testdata_objects() -> Vec<String> {
    let dir = format!("{}/testdata", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".o"))
        .collect();
    files.sort();
    files
}
