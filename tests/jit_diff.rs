//! The compiled tier against the interpreter (the `jit` feature): the same
//! return values, faults (kind, instruction, address), instruction counts,
//! budget stops, map contents, input bytes and trace lines, over
//!
//! - every program of `testdata/*.o`, loaded through the facade with its
//!   context and over raw memory, run several times at several budgets,
//!   with the context each run leaves (`__sk_buff` fields, `xdp_md`) and
//!   the packet (only the programs with `bpf_for_each_map_elem` callbacks
//!   may fall back to the interpreter, and must say so);
//! - programs from the fuzz crate's generator (the `jit_diff` target's
//!   comparison, on a fixed set of seeds) at three budgets, and as tc,
//!   socket filter and XDP programs (r1 the context);
//! - one compiled program run by two threads at once while a third writes
//!   its maps from user space: the atomics' results match the
//!   interpreter's sequential runs.
#![cfg(all(feature = "jit", target_arch = "x86_64"))]

// The fuzz crate (outside the workspace) names everything through
// `crate::` paths, so its generator and comparison are included here as
// they are.
mod common;
#[allow(dead_code)]
#[path = "../fuzz/src/diff.rs"]
mod diff;
#[allow(dead_code)]
#[path = "../fuzz/src/generator.rs"]
mod generator;
#[allow(dead_code)]
#[path = "../fuzz/src/reader.rs"]
mod reader;
#[allow(dead_code)]
#[path = "../fuzz/src/vm_case.rs"]
mod vm_case;

// `crate::Reader` and `crate::fill_bytes`, as the included files name them.
#[allow(unused_imports)]
use reader::{Reader, fill_bytes};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{maps_of, testdata_objects};
use tinybpf::vm::{Clock, ProgramKind, RunContext};
use tinybpf::{LoadOptions, Object, Program, Tier, TierUsed};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The options of one side: deterministic helpers, 4 possible CPUs, the
/// program's own context or raw memory.
fn options(tier: Tier, raw_memory: bool) -> LoadOptions {
    LoadOptions {
        helpers: diff::deterministic_helpers(),
        possible_cpus: Some(4),
        tier,
        raw_memory,
        ..LoadOptions::default()
    }
}

/// Whether the compiled side of `file`'s program compiled; `Err` unless it
/// did (every testdata program compiles).
fn compiled(file: &str, program: &Program) -> Result<bool, String> {
    match program.tier() {
        TierUsed::Compiled { .. } => Ok(true),
        other => Err(format!("{file}: not compiled: {other:?}")),
    }
}

/// The input a program of `kind` runs over.
fn input_for(program: &Program) -> Vec<u8> {
    match program.kind() {
        ProgramKind::Xdp => tinybpf::default_packet(),
        _ => fill_bytes(7, 64),
    }
}

/// What [`compare_testdata`] compared.
#[derive(Default)]
struct Compared {
    runs: usize,
    compiled_runs: usize,
}

/// Runs `name` of `file` `runs` times at `budget` in both tiers, each over
/// its own copy of the object (with its context, or over raw memory); `Err`
/// names the first difference.
fn compare_testdata(
    file: &str,
    name: &str,
    raw_memory: bool,
    budget: u64,
    runs: usize,
) -> Result<Compared, String> {
    let path = testdata().join(file);
    let open = || Object::open(&path).map_err(|e| format!("{file}: {e}"));
    let (objects, programs) = {
        let (a, b) = (open()?, open()?);
        let pa = a.program_with(name, options(Tier::Interpreter, raw_memory));
        let pb = b.program_with(name, options(Tier::Compiled, raw_memory));
        match (pa, pb) {
            (Ok(pa), Ok(pb)) => ((a, b), (pa, pb)),
            (Err(ea), Err(eb)) if ea.to_string() == eb.to_string() => {
                return Ok(Compared::default());
            }
            (ra, rb) => {
                return Err(format!(
                    "{file} {name}: loads differ: {:?} / {:?}",
                    ra.err(),
                    rb.err()
                ));
            }
        }
    };
    let is_compiled = compiled(file, &programs.1).map_err(|e| format!("{file} {name}: {e}"))?;
    let mut inputs = (input_for(&programs.0), input_for(&programs.1));
    for run in 0..runs {
        // A fixed clock: the ktime helpers give both sides the same times.
        let context = || {
            RunContext::new()
                .with_budget(budget)
                .with_clock(Clock::Fixed {
                    start_ns: 1_000_000,
                    step_ns: 1_000,
                })
        };
        let (mut ctx_a, mut ctx_b) = (context(), context());
        let a = programs.0.run_with(&mut inputs.0, &mut ctx_a);
        let b = programs.1.run_with(&mut inputs.1, &mut ctx_b);
        let place = format!("{file} {name}, budget {budget}, run {run}");
        let (a, b) = (format!("{a:?}"), format!("{b:?}"));
        if a != b {
            return Err(format!("{place}: interpreter {a}, compiled {b}"));
        }
        if inputs.0 != inputs.1 {
            return Err(format!("{place}: the input differs"));
        }
        if ctx_a.context_out() != ctx_b.context_out() {
            return Err(format!("{place}: the context left differs"));
        }
        if ctx_a.packet.bytes() != ctx_b.packet.bytes() {
            return Err(format!("{place}: the packet differs"));
        }
        if ctx_a.take_trace() != ctx_b.take_trace() {
            return Err(format!("{place}: the trace differs"));
        }
        if maps_of(&objects.0) != maps_of(&objects.1) {
            return Err(format!("{place} ({a}): the maps differ"));
        }
    }
    Ok(Compared {
        runs,
        compiled_runs: if is_compiled { runs } else { 0 },
    })
}

#[test]
fn every_testdata_program_agrees_at_several_budgets() {
    let files = testdata_objects();
    assert!(files.len() >= 20, "{files:?}");
    let (mut programs, mut compared, mut compiled_runs) = (0, 0, 0);
    for file in &files {
        let Ok(object) = Object::open(testdata().join(file)) else {
            continue;
        };
        for name in object.program_names() {
            programs += 1;
            // A budget that stops the first run early, one in the middle of
            // some loops, and one that lets every run finish.
            for raw_memory in [false, true] {
                for budget in [1, 7, 40, 333, 5_000, tinybpf::vm::DEFAULT_INSN_BUDGET] {
                    let done = compare_testdata(file, name, raw_memory, budget, 4)
                        .unwrap_or_else(|e| panic!("{e}"));
                    compared += done.runs;
                    compiled_runs += done.compiled_runs;
                }
            }
        }
    }
    println!("{programs} programs, {compared} runs compared, {compiled_runs} of them compiled");
    assert!(
        programs >= 20 && compiled_runs > compared / 2,
        "{compiled_runs} of {compared}"
    );
}

/// Pseudo-random bytes for the generator: a splitmix64 stream from `seed`
/// (the `jit_sweep` example's), 8 to 1,000 bytes.
fn generator_bytes(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let len = 8 + (next() % 993) as usize;
    (0..len).map(|_| next() as u8).collect()
}

/// Generated programs: lookups (constant, run-time, forged keys), loops,
/// local calls, helpers, atomics, out-of-region accesses.
#[test]
fn generated_programs_agree_at_three_budgets() {
    let configs = diff::tier_configs();
    let (mut runs, mut ok_runs) = (0, 0);
    for seed in 0..40 {
        let generated = generator::generate(&generator_bytes(seed));
        let code = generated.code();
        for budget in [300, 10_000, 1_000_000] {
            let case = diff::DiffCase {
                code: &code,
                maps: &generated.maps,
                kind: ProgramKind::Memory,
                input: &generated.input,
                runs: generated.runs,
                budget,
            };
            match diff::compare_configs(&case, &configs) {
                Ok(diff::Agreement::Agreed {
                    runs: r,
                    ok_runs: o,
                }) => {
                    runs += r;
                    ok_runs += o;
                }
                Ok(diff::Agreement::BothRejected(error)) => {
                    panic!("seed {seed}: the generator's program is rejected: {error}")
                }
                Err(difference) => panic!(
                    "seed {seed}, budget {budget}: {difference}\n{}",
                    tinybpf::vm::isa::disasm::disassemble(&generated.insns)
                ),
            }
        }
    }
    println!("{runs} runs compared, {ok_runs} ended with exit, the rest faulted");
    // Both outcomes are exercised.
    assert!(ok_runs > 0 && ok_runs < runs, "{ok_runs} of {runs}");
}

/// The generated programs again as packet programs: r1 is then the
/// `__sk_buff` (tc, socket filter) or `xdp_md` (XDP), so their accesses
/// through it reach the context emulation at generated offsets and widths
/// (refused at load when the check there can place them: both tiers
/// refuse alike), and their input is the packet. Compared: results,
/// faults, counts, maps (the context each run leaves is compared above
/// and in `vm/tests/jit_packet.rs`).
#[test]
fn generated_programs_agree_as_packet_programs() {
    let configs = diff::tier_configs();
    let (mut runs, mut ok_runs, mut rejected) = (0, 0, 0);
    for seed in 0..40 {
        let generated = generator::generate(&generator_bytes(seed));
        let code = generated.code();
        let mut input = generated.input.clone();
        input.resize(input.len().max(64), 0x11);
        for kind in [ProgramKind::Tc, ProgramKind::SocketFilter, ProgramKind::Xdp] {
            let case = diff::DiffCase {
                code: &code,
                maps: &generated.maps,
                kind,
                input: &input,
                runs: generated.runs,
                budget: 10_000,
            };
            match diff::compare_configs(&case, &configs) {
                Ok(diff::Agreement::Agreed {
                    runs: r,
                    ok_runs: o,
                }) => {
                    runs += r;
                    ok_runs += o;
                }
                Ok(diff::Agreement::BothRejected(_)) => rejected += 1,
                Err(difference) => panic!(
                    "seed {seed}, {kind:?}: {difference}\n{}",
                    tinybpf::vm::isa::disasm::disassemble(&generated.insns)
                ),
            }
        }
    }
    println!("{runs} runs compared, {ok_runs} ended with exit, {rejected} programs refused");
    assert!(runs > 0, "{runs}");
}

/// Fields of `atomics.c`'s `struct state` whose final value does not
/// depend on how concurrent runs interleave: (offset, size).
const ORDER_FREE_FIELDS: [(usize, usize); 13] = [
    (0, 8),   // runs
    (8, 8),   // or64
    (24, 8),  // xor64
    (40, 8),  // add64_nf
    (48, 8),  // or64_nf
    (64, 8),  // xor64_nf
    (72, 4),  // add32
    (76, 4),  // or32
    (84, 4),  // xor32
    (96, 4),  // add32_nf
    (100, 4), // or32_nf
    (104, 4), // and32_nf
    (108, 4), // xor32_nf
];

fn order_free(state: &[u8]) -> Vec<&[u8]> {
    ORDER_FREE_FIELDS
        .iter()
        .map(|&(offset, size)| &state[offset..offset + size])
        .collect()
}

/// Two threads run one compiled program while a third writes the map it
/// writes too: no crash, every run succeeds, and the atomics add up to what
/// the interpreter's sequential runs give.
#[test]
fn threads_share_a_compiled_program_while_a_thread_writes_its_maps() {
    const RUNS_PER_THREAD: u64 = 3_000;
    let path = testdata().join("atomics.o");
    let object = Object::open(&path).unwrap();
    // Over raw memory: no packet to set up, the maps and atomics only.
    let program = object
        .program_with("atomics", options(Tier::Compiled, true))
        .unwrap();
    assert!(matches!(program.tier(), TierUsed::Compiled { .. }));
    let last = object.map("last").unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut writes = 0u64;
            while !done.load(Ordering::Relaxed) {
                let bytes = fill_bytes((writes % 255 + 1) as u8, last.def().value_size as usize);
                last.set_bytes_at(0, &bytes).unwrap();
                writes += 1;
            }
            writes
        });
        let runners: Vec<_> = (0..2)
            .map(|cpu| {
                let program = &program;
                scope.spawn(move || {
                    let mut ctx = RunContext::new().with_cpu(cpu);
                    for _ in 0..RUNS_PER_THREAD {
                        program.run_with(&mut [], &mut ctx).unwrap();
                    }
                })
            })
            .collect();
        for runner in runners {
            runner.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0);
    });
    let reference = Object::open(&path).unwrap();
    let interpreted = reference
        .program_with("atomics", options(Tier::Interpreter, true))
        .unwrap();
    let mut ctx = RunContext::new();
    for _ in 0..2 * RUNS_PER_THREAD {
        interpreted.run_with(&mut [], &mut ctx).unwrap();
    }
    let state = object.map("state").unwrap().entries().next().unwrap().1;
    let expected = reference.map("state").unwrap().entries().next().unwrap().1;
    assert_eq!(
        u64::from_le_bytes(state[..8].try_into().unwrap()),
        2 * RUNS_PER_THREAD
    );
    assert_eq!(order_free(&state), order_free(&expected));
}
