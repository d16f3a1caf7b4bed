//! The wall-clock deadline of a run ([`RunContext::deadline`]). No test
//! depends on how fast the machine is: a deadline already past ends every
//! run before its first instruction, a deadline far away changes nothing,
//! and an endless run with an unlimited budget can only end at its deadline,
//! so only the kind of its ending is checked. Each test runs in both tiers
//! (`Tier::Auto` compiles when the `jit` feature is built in): the compiled
//! code reads the clock at its budget checkpoints.

use std::time::{Duration, Instant};

use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{CLOCK_SLICE, LoadedProgram, ProgramOptions, RunContext, RunError, Tier};

fn load(text: &str, tier: Tier) -> LoadedProgram {
    let options = ProgramOptions {
        tier,
        ..ProgramOptions::default()
    };
    LoadedProgram::load(&assemble_bytes(text).unwrap(), options).unwrap()
}

const ENDLESS: &str = "mov %r0, 0\nadd %r0, 1\nja -2\nexit";
/// Endless, with a helper call (bpf_get_prandom_u32) in every iteration.
const ENDLESS_CALLS: &str = "call 7\nja -2\nexit";
/// Endless straight-line stretches longer than a clock slice would be the
/// same; here a long stretch between jumps (1,000 adds) in an endless loop.
fn endless_long_stretch() -> String {
    let mut text = String::from("mov %r0, 0\n");
    for _ in 0..1_000 {
        text.push_str("add %r0, 1\n");
    }
    text.push_str("ja -1001\nexit");
    text
}

#[test]
fn a_deadline_already_past_ends_the_run_before_it_starts() {
    for tier in [Tier::Interpreter, Tier::Auto] {
        let program = load("mov %r0, 7\nexit", tier);
        let past = Instant::now();
        let mut ctx = RunContext::new().with_deadline(past);
        assert_eq!(
            program.run_with(&mut [], &mut ctx),
            Err(RunError::DeadlineExceeded { pc: 0, executed: 0 })
        );
        // Without it the same context runs the program.
        ctx.deadline = None;
        assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, 7);
    }
}

/// The tiers every test runs in.
const TIERS: [Tier; 2] = [Tier::Interpreter, Tier::Auto];

#[test]
fn a_distant_deadline_changes_nothing() {
    for tier in TIERS {
        distant_deadline_changes_nothing(tier);
    }
}

fn distant_deadline_changes_nothing(tier: Tier) {
    let reference = load(ENDLESS, Tier::Interpreter);
    let program = load(ENDLESS, tier);
    for budget in [
        0,
        1,
        2,
        3,
        1_000,
        CLOCK_SLICE - 1,
        CLOCK_SLICE,
        3 * CLOCK_SLICE + 1,
    ] {
        let plain = reference.run_with(&mut [], &mut RunContext::new().with_budget(budget));
        assert_eq!(
            program.run_with(&mut [], &mut RunContext::new().with_budget(budget)),
            plain,
            "{tier:?}, budget {budget}"
        );
        let mut ctx = RunContext::new()
            .with_budget(budget)
            .with_timeout(Duration::from_secs(3600));
        assert_eq!(
            program.run_with(&mut [], &mut ctx),
            plain,
            "{tier:?}, budget {budget}"
        );
        assert!(matches!(plain, Err(RunError::BudgetExhausted { .. })));
    }
    let finite = load(
        "mov %r0, 0\nmov %r1, 200000\nadd %r0, 3\nadd %r1, -1\njne %r1, 0, -3\nexit",
        tier,
    );
    let plain = finite.run(&mut []).unwrap();
    let mut ctx = RunContext::new().with_timeout(Duration::from_secs(3600));
    assert_eq!(finite.run_with(&mut [], &mut ctx).unwrap(), plain);
    assert_eq!(plain.retval, 600_000);
}

#[test]
fn an_endless_run_with_an_unlimited_budget_ends_at_its_deadline() {
    let long = endless_long_stretch();
    for (text, tier) in [ENDLESS, ENDLESS_CALLS, long.as_str()]
        .into_iter()
        .flat_map(|text| TIERS.map(|tier| (text, tier)))
    {
        let program = load(text, tier);
        let mut ctx = RunContext::new()
            .with_budget(u64::MAX)
            .with_timeout(Duration::from_millis(20));
        match program.run_with(&mut [], &mut ctx) {
            Err(RunError::DeadlineExceeded { executed, .. }) => assert!(executed > 0),
            other => panic!("{text:.20} ({tier:?}): {other:?}"),
        }
    }
}

#[test]
fn an_endless_run_with_a_budget_still_ends_at_the_budget_or_the_deadline() {
    // Whichever comes first: the run ends with one of the two, never runs on.
    for tier in TIERS {
        let program = load(ENDLESS, tier);
        let mut ctx = RunContext::new()
            .with_budget(50 * CLOCK_SLICE)
            .with_timeout(Duration::from_millis(1));
        match program.run_with(&mut [], &mut ctx) {
            Err(RunError::DeadlineExceeded { .. } | RunError::BudgetExhausted { .. }) => {}
            other => panic!("{tier:?}: {other:?}"),
        }
    }
}
