//! `LoadedProgram::run_repeated` against as many `run_with` calls, where
//! the shared setup could leak from one run into the next: the callback
//! key area a walk mapped, and a refusal before any run. In every tier
//! this build has.

use std::num::NonZeroU32;

use tinybpf_maps::{BpfMap, MapDef, MapOptions};
use tinybpf_vm::exec::memory::CALLBACK_KEY_START;
use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext, Tier};

mod common;
use common::program;

fn tiers() -> Vec<Tier> {
    if cfg!(all(feature = "jit", target_arch = "x86_64")) {
        vec![Tier::Interpreter, Tier::Compiled]
    } else {
        vec![Tier::Interpreter]
    }
}

fn load(text: &str, tier: Tier) -> LoadedProgram {
    let array = BpfMap::create(MapDef::array(8, 4), &MapOptions::with_cpus(1)).unwrap();
    let options = ProgramOptions {
        maps: vec![array],
        tier,
        ..ProgramOptions::default()
    };
    common::load_in_tier(text, options)
}

/// `runs` runs of `program` over `input`, one `run_with` each or one
/// `run_repeated`; the last result and the input after them.
fn runs(program: &LoadedProgram, input: &[u8], runs: u32, repeated: bool) -> String {
    let mut input = input.to_vec();
    let mut ctx = RunContext::new();
    let last = if repeated {
        let runs = NonZeroU32::new(runs).unwrap();
        program.run_repeated(&mut input, &mut ctx, runs, &mut |_| {})
    } else {
        let mut last = program.run_with(&mut input, &mut ctx);
        for _ in 1..runs {
            if last.is_err() {
                break;
            }
            last = program.run_with(&mut input, &mut ctx);
        }
        last
    };
    format!("{last:?} {input:?}")
}

#[test]
fn each_run_starts_with_the_callback_keys_unmapped() {
    // The first run (input[0] counts the runs) walks map 0, which maps the
    // key area; the second reads the key area before any walk of its own:
    // a fault, as in a run of its own.
    let main = format!(
        "
        ldxb %r6, [%r1+0]
        add %r6, 1
        stxb [%r1+0], %r6
        jne %r6, 1, +8
        lddw %r1, map_idx:0
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, 0
        call 164
        exit
        lddw %r2, {CALLBACK_KEY_START:#x}
        ldxw %r0, [%r2+0]
        exit"
    );
    let callback = "
        mov %r0, 0
        exit";
    let (text, _) = program(&main, &[callback]);
    for tier in tiers() {
        let program = load(&text, tier);
        let one_by_one = runs(&program, &[0], 2, false);
        assert!(one_by_one.starts_with("Err(OutOfBounds"), "{one_by_one}");
        assert_eq!(runs(&program, &[0], 2, true), one_by_one, "{tier:?}");
        // And the first run alone walks and ends well.
        let first = runs(&program, &[0], 1, true);
        assert!(first.starts_with("Ok(RunOutcome { retval: 4,"), "{first}");
    }
}

#[test]
fn a_refusal_before_any_run_is_a_single_runs_error() {
    let program = load("mov %r0, 7\nexit", Tier::Interpreter);
    let mut ctx = RunContext::new().with_cpu(4096);
    let single = program.run_with(&mut [], &mut ctx);
    let repeated = program.run_repeated(&mut [], &mut ctx, NonZeroU32::MIN, &mut |_| {});
    assert!(single.is_err());
    assert_eq!(format!("{repeated:?}"), format!("{single:?}"));
}
