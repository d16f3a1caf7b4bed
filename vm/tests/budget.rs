//! The instruction budget is exact: a run executes at most `insn_budget`
//! instructions (plus the units helpers charge) and then stops with
//! `BudgetExhausted` naming the first instruction it did not execute,
//! whether the program is straight-line, loops, calls, calls helpers or is
//! fused into superinstructions.

use tinybpf_maps::{ArrayMap, BpfMap, MapDef};
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{
    HelperContext, Helpers, LoadedProgram, Passes, ProgramOptions, RunContext, RunError,
};

fn load_with(text: &str, options: ProgramOptions) -> LoadedProgram {
    LoadedProgram::load(&assemble_bytes(text).expect("assembles"), options).expect("loads")
}

/// Loads `text` with no pass that removes instructions (dead code would
/// not count), but with fusion.
fn load(text: &str) -> LoadedProgram {
    load_with(
        text,
        ProgramOptions {
            passes: FUSION_ONLY,
            ..ProgramOptions::default()
        },
    )
}

const FUSION_ONLY: Passes = Passes {
    fusion: true,
    ..Passes::NONE
};

fn run(program: &LoadedProgram, budget: u64) -> Result<u64, RunError> {
    let mut ctx = RunContext::new().with_budget(budget);
    program.run_with(&mut [0u8; 8], &mut ctx).map(|o| o.insns)
}

fn exhausted(pc: usize, budget: u64) -> Result<u64, RunError> {
    Err(RunError::BudgetExhausted { pc, budget })
}

/// Every budget from 0 to the run's length: a run with budget `b` stops at
/// the `b`-th instruction it would execute, whose slot `slot_of(b)` gives.
fn check_every_budget(program: &LoadedProgram, total: u64, slot_of: impl Fn(u64) -> usize) {
    assert_eq!(run(program, total), Ok(total));
    assert_eq!(run(program, u64::MAX), Ok(total));
    for budget in 0..total {
        assert_eq!(
            run(program, budget),
            exhausted(slot_of(budget), budget),
            "budget {budget}"
        );
    }
}

#[test]
fn a_straight_line_program_stops_after_exactly_the_budget() {
    // 28 ALU instructions and exit: 29 in all.
    let mut text = String::new();
    for i in 0..14 {
        text.push_str(&format!("mov %r{}, {i}\nadd %r{}, 1\n", i % 9, i % 9));
    }
    text.push_str("exit");
    let program = load(&text);
    assert_eq!(run(&program, 5), exhausted(5, 5));
    check_every_budget(&program, 29, |b| b as usize);
}

#[test]
fn fused_ops_run_only_the_parts_that_fit() {
    // mov+add, mov+lsh+xor (xorshift), lsh+rsh (zero extension),
    // add+jne (a loop test), each fused into one op.
    let text = "
        mov %r1, %r2
        add %r1, 1
        mov %r3, %r4
        lsh %r3, 13
        xor %r3, %r4
        lsh %r5, 32
        rsh %r5, 32
        add %r6, 1
        jne %r6, 0, +0
        mov %r0, %r1
        exit";
    let fused = load(text);
    assert!(
        fused.ops().iter().filter(|op| op.parts().len() > 1).count() >= 4,
        "{:?}",
        fused.ops()
    );
    let unfused = load_with(
        text,
        ProgramOptions {
            passes: Passes::NONE,
            ..ProgramOptions::default()
        },
    );
    for program in [&fused, &unfused] {
        check_every_budget(program, 11, |b| b as usize);
    }
}

#[test]
fn loops_stop_at_the_instruction_past_the_budget() {
    // slot 0: mov; slots 1-2: add, jne (fused); slot 3: exit. 1 + 2 * 1000 + 1.
    let program = load("mov %r0, 0\nloop:\nadd %r0, 1\njne %r0, 1000, loop\nexit");
    let slot_of = |b: u64| match b {
        0 => 0,
        2001 => 3,
        b => 1 + ((b - 1) % 2) as usize,
    };
    check_every_budget(&program, 2002, slot_of);
    // The old check (at taken jumps only) let a loop overrun by a whole iteration.
    assert_eq!(run(&program, 100), exhausted(2, 100));
}

#[test]
fn calls_and_returns_count_exactly() {
    // call (slot 0), f: mov (2), call g (3), g: exit (5), f: exit (4), main: exit (1).
    let text = "call local f\nexit\nf:\nmov %r0, 7\ncall local g\nexit\ng:\nexit";
    let program = load(text);
    let order = [0, 2, 3, 5, 4, 1];
    check_every_budget(&program, 6, |b| order[b as usize]);
}

#[test]
fn straight_line_helper_calls_are_counted_one_by_one() {
    let mut text = "call 7\n".repeat(20_000);
    text.push_str("exit");
    let program = load(&text);
    assert_eq!(run(&program, 10), exhausted(10, 10));
    assert_eq!(run(&program, 20_001), Ok(20_001));
    assert_eq!(run(&program, 20_000), exhausted(20_000, 20_000));
}

fn charging_helpers() -> Helpers {
    let mut helpers = Helpers::with_builtins();
    // helper 100: charges r1 units and returns the units left.
    helpers.register(
        100,
        "work",
        |ctx: &mut HelperContext<'_>, args: [u64; 5]| {
            ctx.charge(args[0])?;
            Ok(ctx.budget_left())
        },
    );
    // helper 101: tries to charge r1 units but ignores the error.
    helpers.register(
        101,
        "careless",
        |ctx: &mut HelperContext<'_>, args: [u64; 5]| {
            let _ = ctx.charge(args[0]);
            Ok(0)
        },
    );
    helpers
}

#[test]
fn helpers_charge_the_budget_in_units() {
    let options = ProgramOptions {
        helpers: charging_helpers(),
        passes: FUSION_ONLY,
        ..ProgramOptions::default()
    };
    // 4 instructions and 5 units.
    let program = load_with("mov %r1, 5\ncall 100\nmov %r1, 0\nexit", options.clone());
    let mut ctx = RunContext::new().with_budget(9);
    let outcome = program.run_with(&mut [], &mut ctx).unwrap();
    assert_eq!(outcome.insns, 4, "charged units are not instructions");
    // After the call: 2 instructions and 5 units used, 2 left.
    let mut ctx = RunContext::new().with_budget(9);
    let left = load_with("mov %r1, 5\ncall 100\nexit", options.clone())
        .run_with(&mut [], &mut ctx)
        .unwrap()
        .retval;
    assert_eq!(left, 2);
    // One unit short: the run stops at the exit, after the charge.
    assert_eq!(run(&program, 8), exhausted(3, 8));
    // Fewer units left than the helper asks for: it stops at the call.
    assert_eq!(run(&program, 6), exhausted(1, 6));
    // Even when the helper ignores the error.
    let careless = load_with("mov %r1, 5\ncall 101\nmov %r0, 1\nexit", options);
    assert_eq!(run(&careless, 6), exhausted(1, 6));
    assert_eq!(run(&careless, 9), Ok(4));
}

#[test]
fn map_updates_charge_for_the_bytes_they_copy() {
    let map = ArrayMap::new(MapDef::array(4096, 1)).unwrap();
    let options = ProgramOptions {
        maps: vec![BpfMap::from_array(map, 1)],
        passes: FUSION_ONLY,
        ..ProgramOptions::default()
    };
    // The value is the map's own element (4096 bytes): 512 units.
    let text = "
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx:0
        call 1
        mov %r3, %r0
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        mov %r4, 0
        call 2
        exit";
    let program = load_with(text, options);
    let insns = run(&program, u64::MAX).unwrap();
    assert_eq!(insns, 12);
    assert_eq!(run(&program, insns + 512), Ok(insns));
    // The update (slot 12) fits, the exit (13) does not.
    assert_eq!(run(&program, insns + 511), exhausted(13, insns + 511));
    // The update's 512 units do not fit.
    assert_eq!(run(&program, 100), exhausted(12, 100));
}

#[test]
fn trace_printk_charges_for_its_format_and_output() {
    // "v=%d\n" (6 bytes: 1 unit) printing "v=-5\n" (5 bytes: 1 unit).
    let text = "
        mov %r1, 0x64253d76
        stxw [%r10-8], %r1
        mov %r1, 0x0a
        stxh [%r10-4], %r1
        mov %r1, %r10
        add %r1, -8
        mov %r2, 6
        mov %r3, -5
        call 6
        exit";
    let program = load(text);
    let mut ctx = RunContext::new();
    let insns = program.run_with(&mut [], &mut ctx).unwrap().insns;
    assert_eq!(insns, 10);
    let mut ctx = RunContext::new().with_budget(12);
    assert!(program.run_with(&mut [], &mut ctx).is_ok());
    assert_eq!(ctx.take_trace(), ["v=-5"]);
    // The line is printed, the exit does not fit.
    let mut ctx = RunContext::new().with_budget(11);
    assert_eq!(
        program.run_with(&mut [], &mut ctx),
        Err(RunError::BudgetExhausted { pc: 9, budget: 11 })
    );
    assert_eq!(ctx.take_trace(), ["v=-5"]);
    // The format fits, the output does not: nothing is printed.
    let mut ctx = RunContext::new().with_budget(10);
    assert_eq!(
        program.run_with(&mut [], &mut ctx),
        Err(RunError::BudgetExhausted { pc: 8, budget: 10 })
    );
    assert!(
        ctx.take_trace().is_empty(),
        "nothing printed past the budget"
    );
}
