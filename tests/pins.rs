//! Pinned maps from the command line and the library: `run --pin-dir`,
//! `map show`, `Object::with_pin_dir`, `Map::open_pinned`; README's
//! sharing example run as README shows it; every bad pin directory or pin
//! file refused in one sentence, with nothing half pinned.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tinybpf::maps::{ArrayMap, MapDef};
use tinybpf::{Map, Object};

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

fn ok(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(
        out.status.success(),
        "tinybpf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The one line on stderr of a failed command that printed nothing else.
fn fails(args: &[&str]) -> String {
    let out = tinybpf(args);
    assert!(!out.status.success(), "tinybpf {args:?} should fail");
    assert!(out.stdout.is_empty(), "tinybpf {args:?} printed to stdout");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    stderr.trim_end().to_owned()
}

/// A fresh directory under the system temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tinybpf-pins-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lines of the fenced block of `kind` that follows `after` in README.md.
fn readme_block<'a>(readme: &'a str, after: &str, kind: &str) -> Vec<&'a str> {
    let start = readme
        .find(after)
        .unwrap_or_else(|| panic!("README.md has no {after:?}"));
    let rest = &readme[start..];
    let open = rest
        .find(&format!("```{kind}\n"))
        .unwrap_or_else(|| panic!("no ```{kind} block after {after:?}"));
    let body = &rest[open + kind.len() + 4..];
    let close = body.find("\n```").expect("the block is closed");
    body[..close].lines().collect()
}

#[test]
fn readme_sharing_example_runs_as_readme_shows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let commands = readme_block(&readme, "### Sharing maps between processes", "sh");
    let shown = readme_block(&readme, "The last command prints", "text");
    let readme_dir = "/tmp/tinybpf-pins";
    let dir = TempDir::new("readme");
    std::fs::remove_dir(dir.path()).unwrap();
    assert_eq!(commands[0], format!("mkdir -p {readme_dir}"));
    std::fs::create_dir_all(dir.path()).unwrap();
    let mut last = String::new();
    for command in &commands[1..] {
        let command = command.replace(readme_dir, dir.str());
        let args: Vec<&str> = command
            .strip_prefix("tinybpf ")
            .expect("a tinybpf command")
            .split_whitespace()
            .collect();
        last = ok(&args);
    }
    let expected = shown.join("\n").replace(readme_dir, dir.str());
    assert_eq!(last.trim_end(), expected);
    assert_eq!(dir.files(), ["counters"]);
}

#[test]
fn run_names_each_pinned_map_and_whether_it_was_reused() {
    let dir = TempDir::new("run");
    let file = testdata("shared_counters.o");
    let first = ok(&["run", &file, "--pin-dir", dir.str(), "--cpus", "1"]);
    let line = format!(
        "map counters: array, key 4 bytes, value 8 bytes, 2 entries, pinned at {}/counters",
        dir.str()
    );
    assert!(first.lines().any(|l| l == line), "{first}");
    let second = ok(&["run", &file, "--pin-dir", dir.str(), "--cpus", "1"]);
    assert!(
        second.lines().any(|l| l == format!("{line} (reused)")),
        "{second}"
    );
    assert!(
        second.contains("   0  02 00 00 00 00 00 00 00  2\n"),
        "{second}"
    );
    // Without --pin-dir, nothing is shared: a fresh count.
    let private = ok(&["run", &file]);
    assert!(
        private.contains("   0  01 00 00 00 00 00 00 00  1\n"),
        "{private}"
    );
    assert!(!private.contains("pinned"), "{private}");
}

#[test]
fn every_array_is_pinned_but_only_maps_pinned_by_name_are_reused() {
    let dir = TempDir::new("globals");
    let file = testdata("btf_globals.o");
    ok(&["run", &file, "--pin-dir", dir.str()]);
    assert_eq!(dir.files(), [".bss", ".data", ".rodata"]);
    let line = fails(&["run", &file, "--pin-dir", dir.str()]);
    assert_eq!(
        line,
        format!(
            "tinybpf: --pin-dir {0}: {1}: map .rodata: {0}/.rodata already exists, and the map is not declared with __uint(pinning, LIBBPF_PIN_BY_NAME), so it is not reused; remove the file or pin into another directory",
            dir.str(),
            file
        )
    );
    // The frozen .rodata reads back frozen from its pin.
    let shown = ok(&["map", "show", &format!("{}/.rodata", dir.str())]);
    assert!(
        shown.lines().next().unwrap().ends_with(", frozen"),
        "{shown}"
    );
}

#[test]
fn a_pin_of_another_shape_is_refused_and_nothing_is_made() {
    let dir = TempDir::new("shape");
    let pin = dir.path().join("counters");
    ArrayMap::create_pinned(&pin, MapDef::array(8, 3)).unwrap();
    let file = testdata("shared_counters.o");
    let line = fails(&["run", &file, "--pin-dir", dir.str()]);
    assert_eq!(
        line,
        format!(
            "tinybpf: --pin-dir {0}: {1}: map counters: the map pinned at {0}/counters is an array map (key 4 bytes, value 8 bytes, 3 entries, flags 0), but the object declares an array map (key 4 bytes, value 8 bytes, 2 entries, flags 0); remove the pin file to start afresh, or pin into another directory",
            dir.str(),
            file
        )
    );
    // The mismatch is found before the globals' files are made.
    let dir2 = TempDir::new("shape-globals");
    std::fs::write(dir2.path().join(".bss"), b"in the way").unwrap();
    let line = fails(&["run", &testdata("btf_globals.o"), "--pin-dir", dir2.str()]);
    assert!(line.contains("map .bss: "), "{line}");
    assert_eq!(dir2.files(), [".bss"], "no .rodata or .data made");
}

#[test]
fn a_pin_directory_that_cannot_hold_pins_is_refused() {
    let file = testdata("shared_counters.o");
    let missing = std::env::temp_dir().join(format!("tinybpf-pins-{}-missing", std::process::id()));
    let line = fails(&["run", &file, "--pin-dir", missing.to_str().unwrap()]);
    assert_eq!(
        line,
        format!(
            "tinybpf: --pin-dir {0}: pin directory {0}: cannot read it (No such file or directory (os error 2)); give an existing directory you can write to",
            missing.display()
        )
    );
    let line = fails(&["run", &file, "--pin-dir", &file]);
    assert_eq!(
        line,
        format!(
            "tinybpf: --pin-dir {file}: pin directory {file}: it is not a directory; give an existing directory you can write to"
        )
    );
    // A directory where no file can be made (procfs refuses new files,
    // even to root).
    let line = fails(&["run", &file, "--pin-dir", "/proc"]);
    assert!(
        line.starts_with("tinybpf: --pin-dir /proc: ")
            && line.contains("map counters: /proc/counters: cannot create the pin file: "),
        "{line}"
    );
}

#[test]
fn map_show_refuses_what_is_not_a_pin() {
    let object = testdata("shared_counters.o");
    let line = fails(&["map", "show", &object]);
    assert_eq!(
        line,
        format!(
            "tinybpf: map show: {object}: not a tinybpf pinned map (magic [7f, 45, 4c, 46, 02, 01, 01, 00]); give a file that `tinybpf run --pin-dir DIR` made (DIR/NAME)"
        )
    );
    let dir = TempDir::new("show");
    let line = fails(&["map", "show", &format!("{}/none", dir.str())]);
    assert!(line.contains("cannot open the pin file"), "{line}");
    let line = fails(&["map", "show", dir.str()]);
    assert!(
        line.contains("cannot open the pin file: Is a directory"),
        "{line}"
    );
}

#[test]
fn map_show_prints_a_long_pinned_map_like_run_does() {
    let dir = TempDir::new("show-table");
    let pin = dir.path().join("wide");
    let map = ArrayMap::create_pinned(&pin, MapDef::array(40, 300)).unwrap();
    map.update(&7u32.to_le_bytes(), &[0xab; 40], 0).unwrap();
    let shown = ok(&["map", "show", pin.to_str().unwrap()]);
    insta::assert_snapshot!(shown.replace(dir.str(), "DIR"));
}

#[test]
fn the_library_shares_pinned_maps_between_objects() {
    let dir = TempDir::new("library");
    let path = testdata("shared_counters.o");
    let first = Object::open(&path)
        .unwrap()
        .with_pin_dir(dir.path())
        .unwrap();
    assert_eq!(first.pin_dir(), Some(dir.path()));
    let pinned = first.pinned_maps();
    assert_eq!(pinned.len(), 1);
    assert_eq!(
        (
            pinned[0].name.as_str(),
            pinned[0].path.clone(),
            pinned[0].reused
        ),
        ("counters", dir.path().join("counters"), false)
    );
    let program = first.program("count_packets").unwrap();
    let second = Object::open(&path)
        .unwrap()
        .with_pin_dir(dir.path())
        .unwrap();
    assert!(second.pinned_maps()[0].reused);
    let other = second.program("count_packets").unwrap();
    for _ in 0..3 {
        program.run(&mut tinybpf::default_packet()).unwrap();
        other.run(&mut tinybpf::default_packet()).unwrap();
    }
    let counters = Map::open_pinned(dir.path().join("counters")).unwrap();
    assert_eq!(counters.name(), "counters");
    assert_eq!(counters.get_at::<u64>(0).unwrap(), 6);
    assert_eq!(counters.get_at::<u64>(1).unwrap(), 6 * 64);
    // Writes from the opened pin reach the programs' map.
    counters.set_at(0, &100u64).unwrap();
    assert_eq!(
        first.map("counters").unwrap().get_at::<u64>(0).unwrap(),
        100
    );
}

#[test]
fn map_show_with_the_object_formats_by_its_btf() {
    let dir = TempDir::new("show-object");
    ok(&[
        "run",
        &testdata("btf_maps.o"),
        "--program",
        "count_arrays",
        "--pin-dir",
        dir.str(),
    ]);
    let pairs = format!("{}/pairs", dir.str());
    let shown = ok(&["map", "show", &pairs, "--object", &testdata("btf_maps.o")]);
    assert!(
        shown.ends_with("   2  {packets: 1, bytes: 64}\n   3  {packets: 0, bytes: 0}\n"),
        "{shown}"
    );
    // The object must declare the map, with the pinned map's shape.
    let line = fails(&[
        "map",
        "show",
        &pairs,
        "--object",
        &testdata("btf_globals.o"),
    ]);
    assert_eq!(
        line,
        format!(
            "tinybpf: map show --object {}: the object declares no map pairs (maps: .rodata, .data, .bss); give the object that pinned it",
            testdata("btf_globals.o")
        )
    );
    let other = dir.path().join("counters");
    ArrayMap::create_pinned(&other, MapDef::array(8, 3)).unwrap();
    let line = fails(&[
        "map",
        "show",
        other.to_str().unwrap(),
        "--object",
        &testdata("shared_counters.o"),
    ]);
    assert!(
        line.ends_with(&format!(
            "its map counters is not the map pinned at {} (another type, size or number of entries); give the object that pinned it",
            other.display()
        )),
        "{line}"
    );
}

#[test]
fn maps_lists_which_maps_are_pinned_by_name() {
    let listed = ok(&["maps", &testdata("shared_counters.o")]);
    assert!(
        listed
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("  0 pinned by name"),
        "{listed}"
    );
    let listed = ok(&["maps", &testdata("btf_maps.o")]);
    assert!(!listed.contains("pinned"), "{listed}");
}

#[test]
fn pinning_after_the_maps_were_created_is_refused() {
    let dir = TempDir::new("too-late");
    let object = Object::open(testdata("shared_counters.o")).unwrap();
    object.program("count_packets").unwrap();
    let err = object.with_pin_dir(dir.path()).unwrap_err();
    assert!(matches!(err, tinybpf::Error::PinTooLate { .. }), "{err}");
    assert!(dir.files().is_empty());
    let pinned = Object::open(testdata("shared_counters.o"))
        .unwrap()
        .with_pin_dir(dir.path())
        .unwrap();
    let err = pinned.with_pin_dir(dir.path()).unwrap_err();
    assert!(matches!(err, tinybpf::Error::PinTooLate { .. }), "{err}");
}

#[test]
fn a_run_that_cannot_start_leaves_no_new_pins() {
    let dir = TempDir::new("no-start");
    let file = testdata("btf_globals.o");
    let line = fails(&[
        "run",
        &file,
        "--pin-dir",
        dir.str(),
        "--packet",
        "/nonexistent",
    ]);
    assert!(
        line.contains("cannot read the packet file /nonexistent"),
        "{line}"
    );
    assert!(dir.files().is_empty(), "{:?}", dir.files());
    // A pin reused by name stays, with its contents.
    let counters = testdata("shared_counters.o");
    ok(&["run", &counters, "--pin-dir", dir.str()]);
    fails(&[
        "run",
        &counters,
        "--pin-dir",
        dir.str(),
        "--program",
        "nope",
    ]);
    assert_eq!(dir.files(), ["counters"]);
    let shown = ok(&["map", "show", &format!("{}/counters", dir.str())]);
    assert!(
        shown.contains("   0  01 00 00 00 00 00 00 00  1\n"),
        "{shown}"
    );
}

#[test]
fn map_show_json_is_one_object_with_the_formatted_entries() {
    let dir = TempDir::new("show-json");
    ok(&[
        "run",
        &testdata("btf_maps.o"),
        "--program",
        "count_arrays",
        "--pin-dir",
        dir.str(),
    ]);
    let pairs = format!("{}/pairs", dir.str());
    let shown = ok(&[
        "map",
        "show",
        &pairs,
        "--json",
        "--nonzero",
        "--object",
        &testdata("btf_maps.o"),
    ]);
    assert_eq!(
        shown,
        format!(
            "{{\"name\": \"pairs\", \"pinned\": \"{pairs}\", \"map\": {{\"type\": \"array\", \"key_size\": 4, \"value_size\": 8, \"max_entries\": 4, \"entries\": {{\"02000000\": \"0100000040000000\"}}, \"formatted\": [{{\"key\": 2, \"value\": {{\"packets\": 1, \"bytes\": 64}}}}]}}}}\n"
        )
    );
    let shown = ok(&["map", "show", &pairs, "--json"]);
    assert!(
        shown.ends_with(
            "\"02000000\": \"0100000040000000\", \"03000000\": \"0000000000000000\"}}}\n"
        ),
        "{shown}"
    );
}
