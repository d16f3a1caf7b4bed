//! The compiled tier against the interpreter over the conformance suite:
//! every program compiles, and at several budgets both tiers give the same
//! result or fault (kind, instruction, address), the same instruction
//! count and the same memory afterwards.
#![cfg(all(feature = "jit", target_arch = "x86_64"))]

use std::path::PathBuf;

use tinybpf_vm::isa::conformance::load_dir;
use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext, Tier, TierUsed};

fn suite_dir() -> PathBuf {
    let Some(shared) = option_env!("TINYBPF_SHARED_DIR") else {
        panic!("no shared folder: set TINYBPF_SHARED");
    };
    PathBuf::from(shared).join("bpf_conformance").join("tests")
}

fn load(insns: &[tinybpf_vm::isa::insn::Insn], tier: Tier) -> LoadedProgram {
    let options = ProgramOptions {
        tier,
        ..ProgramOptions::default()
    };
    LoadedProgram::from_insns(insns, options).expect("the suite's programs load")
}

#[test]
#[cfg_attr(
    not(tinybpf_shared),
    ignore = "no ../shared beside the checkout and no TINYBPF_SHARED: the conformance suite is not here"
)]
fn every_conformance_program_compiles_and_agrees_at_every_budget() {
    let cases = load_dir(&suite_dir()).expect("the suite's files parse");
    assert_eq!(cases.len(), 313);
    let mut compared = 0;
    let mut faults = 0;
    let mut exhausted = 0;
    for case in &cases {
        let Ok(insns) = case.program() else {
            continue;
        };
        let interpreted = load(&insns, Tier::Interpreter);
        let compiled = load(&insns, Tier::Compiled);
        assert!(
            matches!(compiled.tier(), TierUsed::Compiled { .. }),
            "{}: {:?}",
            case.name,
            compiled.tier()
        );
        for budget in [0, 1, 2, 3, 5, 7, 11, 30, 100, 1_000, 10_000_000] {
            let mut mem_a = case.mem.clone();
            let mut mem_b = case.mem.clone();
            let a = interpreted.run_with(&mut mem_a, &mut RunContext::new().with_budget(budget));
            let b = compiled.run_with(&mut mem_b, &mut RunContext::new().with_budget(budget));
            assert_eq!(a, b, "{} at budget {budget}", case.name);
            assert_eq!(mem_a, mem_b, "{} at budget {budget}: memory", case.name);
            compared += 1;
            match a {
                Err(tinybpf_vm::RunError::BudgetExhausted { .. }) => exhausted += 1,
                Err(_) => faults += 1,
                Ok(_) => {}
            }
        }
    }
    println!("{compared} runs compared: {faults} faults, {exhausted} budgets exhausted");
    assert!(compared >= 313 * 11 - 11 * 3);
    assert!(exhausted > 0);
}

/// A callee whose `exit` comes before a later call site that calls it (`g`
/// calls `f`, placed before `g`): the return reaches every call site, the
/// later ones too (once, the jump table only knew the sites before the
/// `exit`). Found by `fuzz/examples/jit_sweep.rs`.
#[test]
fn a_callee_returns_to_call_sites_after_its_exit() {
    let text = "
        mov %r0, 0
        call local f
        call local g
        exit
    f:
        add %r0, 1
        exit
    g:
        call local f
        add %r0, 10
        exit
    ";
    let insns = tinybpf_vm::isa::asm::assemble(text).expect("assembles");
    let compiled = load(&insns, Tier::Compiled);
    assert!(matches!(compiled.tier(), TierUsed::Compiled { .. }));
    let interpreted = load(&insns, Tier::Interpreter);
    for budget in [1, 3, 5, 8, 100] {
        let a = interpreted.run_with(&mut [], &mut RunContext::new().with_budget(budget));
        let b = compiled.run_with(&mut [], &mut RunContext::new().with_budget(budget));
        assert_eq!(a, b, "budget {budget}");
    }
    let outcome = compiled.run_with(&mut [], &mut RunContext::new()).unwrap();
    assert_eq!(outcome.retval, 12);
}

/// Every `exit` of a program whose only call comes after them, and one
/// with no call at all past the main function, compiles.
#[test]
fn exits_before_the_first_call_site_compile() {
    let text = "
        jeq %r1, 0, +1
        exit
        mov %r0, 0
        call local f
        exit
    f:
        mov %r0, 7
        exit
    ";
    let insns = tinybpf_vm::isa::asm::assemble(text).expect("assembles");
    let compiled = load(&insns, Tier::Compiled);
    assert!(matches!(compiled.tier(), TierUsed::Compiled { .. }));
    let interpreted = load(&insns, Tier::Interpreter);
    for input in [0u8, 1] {
        let mut a = vec![input; 8];
        let mut b = a.clone();
        assert_eq!(
            interpreted.run_with(&mut a, &mut RunContext::new()),
            compiled.run_with(&mut b, &mut RunContext::new())
        );
    }
}

/// Budget checks only at checkpoints (the first block, loop headers, call
/// returns, after helpers), each for the heaviest path to the next one:
/// a loop over a diamond whose arms differ in weight stops, at every
/// budget, at the interpreter's instruction with its count, on both arms.
#[test]
fn budget_stops_match_with_checks_only_at_checkpoints() {
    let text = "
        mov %r0, 0
        mov %r2, 5
        ldxb %r3, [%r1+0]
        jeq %r3, 0, +4
        add %r0, 1
        add %r0, 2
        add %r0, 3
        ja +1
        add %r0, 10
        add %r2, -1
        jne %r2, 0, -8
        exit
    ";
    let insns = tinybpf_vm::isa::asm::assemble(text).expect("assembles");
    let compiled = load(&insns, Tier::Compiled);
    assert!(matches!(compiled.tier(), TierUsed::Compiled { .. }));
    let interpreted = load(&insns, Tier::Interpreter);
    let mut stopped = 0;
    for input in [0u8, 1] {
        for budget in 0..=60 {
            let mut a = vec![input; 8];
            let mut b = a.clone();
            let expected = interpreted.run_with(&mut a, &mut RunContext::new().with_budget(budget));
            let got = compiled.run_with(&mut b, &mut RunContext::new().with_budget(budget));
            assert_eq!(expected, got, "input {input}, budget {budget}");
            if expected.is_err() {
                stopped += 1;
            }
        }
        let done = compiled
            .run_with(&mut [input; 8], &mut RunContext::new())
            .unwrap();
        assert_eq!(done.retval, if input == 0 { 50 } else { 30 });
    }
    assert!(stopped > 40, "{stopped}");
}
