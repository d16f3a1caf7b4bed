//! Writes the seed corpus of the fuzz targets (run by `fuzz/seed.sh`).
//!
//! Usage: `seed_corpus <corpus dir> <shared dir>`
//!
//! - `loader`: every object file of `testdata/`, `loader/tests/fixtures/` and
//!   `<shared>/workloads/`: legacy and BTF-defined maps (`btf_maps.o`, with
//!   a hash, a per-CPU array and a program array with initial values),
//!   globals named by BTF (`btf_globals.o`), and broken BTF map definitions
//!   (`btf_maps_bad.o`).
//! - `vm`: every conformance program of `<shared>/bpf_conformance/tests`
//!   (with its `-- mem` as input), and every program of those object files
//!   as linked by the loader, with its maps (sizes clamped to the `vm`
//!   layout) and, for XDP programs, the default packet.
//! - `rewrite_diff`: pseudo-random byte strings of several lengths (the
//!   generator turns any bytes into a program; libFuzzer takes it from there).

use std::fs;
use std::path::{Path, PathBuf};

use tinybpf::maps::MapDef;
use tinybpf::vm::ProgramKind;
use tinybpf::vm::isa::conformance::load_dir;
use tinybpf::vm::isa::insn::encode_all;
use tinybpf_fuzz::fill_bytes;
use tinybpf_fuzz::vm_case::{MapSpec, VmCase};

fn objects(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            eprintln!("skipped: {} is not readable", dir.display());
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "o") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus directory can be created");
    fs::write(dir.join(name), bytes).expect("corpus file can be written");
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(corpus), Some(shared)) = (args.next(), args.next()) else {
        eprintln!("usage: seed_corpus <corpus dir> <shared dir>");
        std::process::exit(2);
    };
    let corpus = PathBuf::from(corpus);
    let shared = PathBuf::from(shared);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dirs = [
        root.join("testdata"),
        root.join("loader/tests/fixtures"),
        shared.join("workloads"),
    ];
    let mut counts = [0usize; 3];

    for path in objects(&dirs) {
        let bytes = fs::read(&path).expect("object file is readable");
        let parent = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        write(
            &corpus.join("loader"),
            &format!("{parent}-{stem}.o"),
            &bytes,
        );
        counts[0] += 1;
        let Ok(object) = tinybpf::loader::Object::parse(&stem, &bytes) else {
            continue;
        };
        for program in &object.programs {
            // Only the program's own maps, in its order (per-program linking).
            let Ok(linked) = object.link_program(program) else {
                continue;
            };
            let maps: Vec<MapSpec> = linked
                .maps
                .iter()
                .map(|&index| {
                    let def = object.maps[index].def;
                    MapSpec {
                        def: MapDef::array(
                            def.value_size.clamp(1, 64),
                            def.max_entries.clamp(1, 16),
                        )
                        .with_flags(def.map_flags & tinybpf::maps::ARRAY_MAP_FLAGS),
                        fill: 0,
                    }
                })
                .collect();
            let case = VmCase {
                maps,
                kind: program.kind,
                inline_lookups: true,
                input: if program.kind == ProgramKind::Xdp {
                    tinybpf::default_packet()
                } else {
                    vec![0; 64]
                },
                code: encode_all(&linked.code),
            };
            write(
                &corpus.join("vm"),
                &format!("{parent}-{stem}-{}", program.name),
                &case.encode(),
            );
            counts[1] += 1;
        }
    }

    let suite = shared.join("bpf_conformance/tests");
    match load_dir(&suite) {
        Ok(cases) => {
            for case in cases {
                let Ok(program) = case.program() else {
                    continue;
                };
                let vm_case = VmCase {
                    maps: Vec::new(),
                    kind: ProgramKind::Memory,
                    inline_lookups: true,
                    input: case.mem.clone(),
                    code: encode_all(&program),
                };
                write(
                    &corpus.join("vm"),
                    &format!("conformance-{}", case.name),
                    &vm_case.encode(),
                );
                counts[1] += 1;
            }
        }
        Err(e) => eprintln!("skipped: the conformance suite: {e}"),
    }

    for seed in 1..=32u8 {
        let len = 16 + usize::from(seed) * 24;
        // The jit_diff target reads the same generator's bytes.
        for target in ["rewrite_diff", "jit_diff"] {
            write(
                &corpus.join(target),
                &format!("random-{seed}"),
                &fill_bytes(seed, len),
            );
        }
        counts[2] += 1;
    }
    println!(
        "seed corpus in {}: loader {}, vm {}, rewrite_diff and jit_diff {} each",
        corpus.display(),
        counts[0],
        counts[1],
        counts[2]
    );
}
