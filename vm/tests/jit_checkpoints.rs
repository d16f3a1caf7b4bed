//! The compiled tier's budget checkpoints on loops laid out as clang lays
//! them out in `globals.o`: the entry jumps forward to the loop's header,
//! the body comes before it, and several backward jumps that are not the
//! loop's back edge close it. The compiled code checks once per iteration
//! (at the header); at every budget up to past the end, both tiers give the
//! same result and instruction count, or stop at the same instruction.
#![cfg(all(feature = "jit", target_arch = "x86_64"))]

use std::time::Duration;

use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext, RunError, Tier};

mod common;
use common::load_in_tier;

/// The globals shape over `iterations` iterations (r6 counts them): per
/// iteration, arms taken by bits of the counter, and backward jumps to
/// `body` and to `latch`, which falls into `header`. The heaviest path
/// from the header takes the jump to `body`.
fn globals_shaped(iterations: u32) -> String {
    format!(
        "
        mov %r6, 0
        mov %r7, 0
        mov %r0, 0
        ja header
    body:
        add %r7, 3
        add %r0, %r7
        xor %r7, 1
        add %r0, 2
        lsh %r0, 1
        add %r0, 3
        rsh %r0, 1
        add %r0, 4
    latch:
        add %r0, 1
        jeq %r6, {iterations}, done
        add %r6, 1
    header:
        mov %r1, %r6
        and %r1, 1
        jeq %r1, 0, +1
        add %r0, 5
        mov %r1, %r6
        and %r1, 2
        jne %r1, 0, body
        add %r0, 7
        mov %r2, %r6
        and %r2, 4
        jne %r2, 0, latch
        add %r0, 11
        ja latch
    done:
        exit
    "
    )
}

/// The same loop in a callee, called from a loop in the main function
/// whose own body also comes before its header: checkpoints at the
/// callee's entry, its header, the return site and the caller's header.
fn called_in_a_loop() -> String {
    "
        mov %r9, 0
        mov %r8, 0
        ja outer
    again:
        call local inner
        add %r8, %r0
    outer:
        add %r9, 1
        jle %r9, 3, again
        mov %r0, %r8
        exit
    inner:
        mov %r6, 0
        mov %r0, 0
        ja header
    body:
        add %r0, 2
        add %r0, 1
        add %r0, -1
        xor %r0, 0
    latch:
        jeq %r6, 5, done
        add %r6, 1
    header:
        mov %r1, %r6
        and %r1, 1
        jne %r1, 0, body
        add %r0, %r9
        ja latch
    done:
        exit
    "
    .to_owned()
}

fn options(tier: Tier) -> ProgramOptions {
    ProgramOptions {
        tier,
        ..ProgramOptions::default()
    }
}

/// Runs `text` in both tiers at every budget from 0 to past its full
/// count, with and without a distant deadline; returns the full run's r0.
fn agrees_at_every_budget(text: &str) -> u64 {
    let interpreted = load_in_tier(text, options(Tier::Interpreter));
    let compiled = load_in_tier(text, options(Tier::Compiled));
    let full = interpreted
        .run_with(&mut [], &mut RunContext::new())
        .unwrap();
    let mut stopped = 0;
    for budget in 0..=full.insns + 1 {
        let run = |program: &LoadedProgram, deadline: bool| {
            let mut ctx = RunContext::new().with_budget(budget);
            if deadline {
                ctx = ctx.with_timeout(Duration::from_secs(3600));
            }
            program.run_with(&mut [], &mut ctx)
        };
        let expected = run(&interpreted, false);
        assert_eq!(run(&compiled, false), expected, "budget {budget}\n{text}");
        assert_eq!(run(&compiled, true), expected, "budget {budget}\n{text}");
        match expected {
            Ok(outcome) => assert_eq!(outcome, full, "budget {budget}"),
            Err(RunError::BudgetExhausted { .. }) => stopped += 1,
            Err(error) => panic!("budget {budget}: {error}"),
        }
    }
    assert_eq!(stopped, full.insns, "every budget short of the count stops");
    full.retval
}

#[test]
fn a_loop_with_its_body_before_its_header_stops_where_the_interpreter_does() {
    for iterations in [0, 1, 2, 12] {
        agrees_at_every_budget(&globals_shaped(iterations));
    }
}

#[test]
fn a_called_loop_in_a_loop_stops_where_the_interpreter_does() {
    // Each call: r0 = 2 per odd r6 (1, 3, 5) + r9 per even one (0, 2, 4).
    let expected: u64 = (1..=3).map(|r9| 6 + 3 * r9).sum();
    assert_eq!(agrees_at_every_budget(&called_in_a_loop()), expected);
}

/// A run longer than a clock slice with a distant deadline: the header's
/// checkpoint asks the trampoline to raise the cap several times and the
/// loop goes on with its registers reloaded.
#[test]
fn a_long_run_raises_the_clock_cap_at_the_loop_header() {
    let text = globals_shaped(40_000);
    let interpreted = load_in_tier(&text, options(Tier::Interpreter));
    let compiled = load_in_tier(&text, options(Tier::Compiled));
    let full = interpreted
        .run_with(&mut [], &mut RunContext::new())
        .unwrap();
    assert!(full.insns > 4 * tinybpf_vm::CLOCK_SLICE, "{}", full.insns);
    for budget in [full.insns - 1, full.insns, full.insns / 2 + 7, u64::MAX] {
        let expected = interpreted.run_with(&mut [], &mut RunContext::new().with_budget(budget));
        let mut ctx = RunContext::new()
            .with_budget(budget)
            .with_timeout(Duration::from_secs(3600));
        assert_eq!(
            compiled.run_with(&mut [], &mut ctx),
            expected,
            "budget {budget}"
        );
    }
}
