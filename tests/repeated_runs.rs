//! `Program::run_repeated` (the setup every run shares done once) against
//! the same number of `Program::run_with` calls: the same last result or
//! error, input bytes, packet, context left, trace lines and map contents,
//! for every program of `testdata/*.o` with its context and its tail-call
//! targets, at budgets that stop runs early and that let them finish, in
//! the interpreter and (with the `jit` feature) compiled.

mod common;

use std::num::NonZeroU32;
use std::path::PathBuf;

use common::{MapContents, maps_of, testdata_objects};
use tinybpf::vm::{Clock, ProgramKind, RunContext};
use tinybpf::{LoadOptions, Object, Program, Tier};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The tiers this build has.
fn tiers() -> Vec<Tier> {
    if cfg!(all(feature = "jit", target_arch = "x86_64")) {
        vec![Tier::Interpreter, Tier::Compiled]
    } else {
        vec![Tier::Interpreter]
    }
}

/// Everything a caller can see after the runs.
#[derive(Debug, PartialEq)]
struct Seen {
    last: String,
    input: Vec<u8>,
    packet: Vec<u8>,
    context: String,
    trace_lines: u64,
    maps: Vec<MapContents>,
}

/// How the runs after the first are made.
#[derive(Clone, Copy)]
enum Later {
    OneByOne,
    Repeated,
}

/// Runs `name` of `file` once, then `later` more times (going on with the
/// packet, as the kernel's test run does), over a fresh copy of the object.
fn runs(file: &str, name: &str, tier: Tier, budget: u64, later: u32, how: Later) -> Seen {
    let object = Object::open(testdata().join(file)).unwrap();
    let options = LoadOptions {
        tier,
        ..LoadOptions::default()
    };
    let program: Program = object.program_with(name, options.clone()).unwrap();
    let targets = tinybpf::tail_call_targets(&object, &options);
    let mut ctx = RunContext::new()
        .with_budget(budget)
        .with_clock(Clock::Fixed {
            start_ns: 1_000,
            step_ns: 10,
        })
        .with_tail_call_targets(targets);
    let mut input = match program.kind() {
        ProgramKind::Memory => (0..64).map(|i| i as u8 * 7).collect(),
        _ => tinybpf::default_packet(),
    };
    let mut trace_lines = 0;
    let mut count = |trace: &mut tinybpf::vm::Trace| {
        trace_lines += trace.total_lines();
        trace.clear();
    };
    let mut last = program.run_with(&mut input, &mut ctx);
    count(&mut ctx.trace);
    ctx.carry_packet = true;
    if last.is_ok() {
        match how {
            Later::OneByOne => {
                for _ in 0..later {
                    last = program.run_with(&mut input, &mut ctx);
                    count(&mut ctx.trace);
                    if last.is_err() {
                        break;
                    }
                }
            }
            Later::Repeated => {
                let later = NonZeroU32::new(later).unwrap();
                last = program.run_repeated(&mut input, &mut ctx, later, &mut count);
            }
        }
    }
    Seen {
        last: format!("{last:?}"),
        input,
        packet: ctx.packet.bytes().to_vec(),
        context: format!("{:?}", ctx.context_out()),
        trace_lines,
        maps: maps_of(&object),
    }
}

#[test]
fn repeated_runs_leave_what_as_many_single_runs_leave() {
    let files = testdata_objects();
    let (mut compared, mut failed_later) = (0, 0);
    for file in &files {
        let Ok(object) = Object::open(testdata().join(file)) else {
            continue;
        };
        for name in object.program_names() {
            if object.program(name).is_err() {
                continue;
            }
            for tier in tiers() {
                // A budget some runs pass in the middle, and the default.
                for budget in [333, tinybpf::vm::DEFAULT_INSN_BUDGET] {
                    let one_by_one = runs(file, name, tier, budget, 6, Later::OneByOne);
                    let repeated = runs(file, name, tier, budget, 6, Later::Repeated);
                    assert_eq!(
                        one_by_one, repeated,
                        "{file} {name} ({tier:?}, budget {budget})"
                    );
                    compared += 1;
                    failed_later += usize::from(repeated.last.starts_with("Err"));
                }
            }
        }
    }
    println!("{compared} comparisons, {failed_later} ending in an error");
    assert!(
        compared >= 80 && failed_later > 0,
        "{compared} {failed_later}"
    );
}
