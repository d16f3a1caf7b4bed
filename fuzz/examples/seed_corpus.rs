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
//! - `vm`, large shapes (`large-*`, for the resource mode of `run.sh`, whose
//!   `-max_len` admits them): many one-instruction blocks, many constant-key
//!   and run-time-key lookups (the lookup analysis keeps state per block),
//!   a long chain of local functions, a long straight line of helper calls,
//!   each at 1x, 4x and 16x, so a step that is not linear shows as a slow or
//!   hungry input.
//! - `loader`, large objects (`large-*.o`, also for the resource mode): the
//!   shapes of `loader/tests/scale.rs` (`loader/tests/common/scale_objects.rs`)
//!   at 1x, 4x and 16x: many `.text` functions in call chains with many
//!   programs sharing them, a program of one-instruction blocks over a fully
//!   known stack, a program of constant-key lookups, and a map declared
//!   near 4 GiB.

use std::fs;
use std::path::{Path, PathBuf};

use tinybpf::maps::MapDef;
use tinybpf::vm::ProgramKind;
use tinybpf::vm::isa::asm::assemble;
use tinybpf::vm::isa::conformance::load_dir;
use tinybpf::vm::isa::insn::Insn;
use tinybpf::vm::isa::insn::encode_all;
use tinybpf_fuzz::fill_bytes;
use tinybpf_fuzz::vm_case::{MapSpec, VmCase};

#[path = "../../loader/tests/common/scale_objects.rs"]
mod scale_objects;

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

/// Programs of the shapes that once made loading slow or hungry, at 1x, 4x
/// and 16x (1x: about 4,000 instructions).
fn large_shapes() -> Vec<(String, Vec<Insn>)> {
    let mut shapes = Vec::new();
    for scale in [1usize, 4, 16] {
        let n = 4_000 * scale;
        let text = |body: &str, count: usize, tail: &str| {
            let mut text = String::with_capacity(body.len() * count + tail.len());
            for _ in 0..count {
                text.push_str(body);
            }
            text.push_str(tail);
            assemble(&text).expect("a large shape assembles")
        };
        // One-instruction blocks: every `ja +0` ends one.
        shapes.push((
            format!("blocks-{scale}x"),
            text("ja +0\n", n, "mov %r0, 0\nexit"),
        ));
        // Constant-key lookups (rewritten), each with its own null test.
        shapes.push((
            format!("const-lookups-{scale}x"),
            text(
                "stw [%r10-4], 1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx:0\ncall 1\njeq %r0, 0, +1\nldxdw %r3, [%r0]\n",
                n / 8,
                "mov %r0, 0\nexit",
            ),
        ));
        // Run-time-key lookups (a bounds check each).
        shapes.push((
            format!("lookups-{scale}x"),
            text(
                "stxw [%r10-4], %r6\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx:0\ncall 1\nadd %r6, 1\n",
                n / 7,
                "mov %r0, 0\nexit",
            ),
        ));
        // A chain of local functions, each calling the next.
        shapes.push((
            format!("functions-{scale}x"),
            text("call local +1\nexit\n", n / 2, "mov %r0, 0\nexit"),
        ));
        // A straight line of helper calls (the budget ends it).
        shapes.push((
            format!("helper-calls-{scale}x"),
            text("call 7\n", n, "exit"),
        ));
    }
    shapes
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

    for scale in [1, 4, 16] {
        for (name, bytes) in scale_objects::shapes(scale) {
            write(&corpus.join("loader"), &format!("large-{name}"), &bytes);
            counts[0] += 1;
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

    for (name, code) in large_shapes() {
        let case = VmCase {
            maps: vec![MapSpec {
                def: MapDef::array(8, 16),
                fill: 1,
            }],
            kind: ProgramKind::Memory,
            inline_lookups: true,
            input: vec![0; 64],
            code: encode_all(&code),
        };
        write(&corpus.join("vm"), &format!("large-{name}"), &case.encode());
        counts[1] += 1;
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
