//! `bpf_loop` (181) and `bpf_for_each_map_elem` (164): callbacks entered in frames of their own, with the
//! kernel's results and errors, faults naming the callback's instruction,
//! the frame limit, the budget, and the passes kept sound. With the compiled
//! tier built in, every `bpf_loop` program here also runs compiled at every
//! budget up to past its end, with the interpreter's results and errors.

use std::time::{Duration, Instant};

use tinybpf_maps::{ArrayMap, BpfMap, MapDef};
use tinybpf_vm::isa::asm::assemble_bytes;

mod common;
use common::program;
use tinybpf_vm::{
    Fallback, HelperError, LoadedProgram, Passes, ProgramOptions, RunContext, RunError, RunOutcome,
    Tier, TierUsed,
};

fn load_with(text: &str, options: ProgramOptions) -> LoadedProgram {
    LoadedProgram::load(&assemble_bytes(text).expect("assembles"), options).expect("loads")
}

fn run(main: &str, callbacks: &[&str]) -> Result<RunOutcome, RunError> {
    let (text, _) = program(main, callbacks);
    same_in_both_tiers(&text);
    load_with(&text, ProgramOptions::default()).run(&mut [])
}

/// Budgets [`same_in_both_tiers`] runs at, besides the default: each one
/// up to this, which is past the end of every short program here.
const BUDGETS: u64 = 400;

/// With the compiled tier built in: `text` compiles, and compiled it gives
/// the interpreter's outcome or error at every budget up to [`BUDGETS`]
/// and at the default one (budget stops before, in and between callbacks,
/// at an iteration's unit, faults, errors).
fn same_in_both_tiers(text: &str) {
    if !cfg!(all(feature = "jit", target_arch = "x86_64")) {
        return;
    }
    let interpreted = load_with(text, ProgramOptions::default());
    let compiled = load_with(
        text,
        ProgramOptions {
            tier: Tier::Compiled,
            ..ProgramOptions::default()
        },
    );
    match compiled.tier() {
        TierUsed::Compiled { .. } => {}
        other => panic!("not compiled: {other:?}"),
    }
    // Also with a deadline far away: the code then checks against clock
    // checkpoints, not the budget (the same results).
    let far = Instant::now() + Duration::from_secs(3600);
    let contexts = (0..=BUDGETS)
        .map(|budget| RunContext::new().with_budget(budget))
        .chain([RunContext::new()])
        .flat_map(|context| [context.clone(), context.with_deadline(far)]);
    for context in contexts {
        let budget = context.insn_budget;
        let (mut a, mut b) = (context.clone(), context);
        let expected = interpreted.run_with(&mut [], &mut a);
        assert_eq!(
            compiled.run_with(&mut [], &mut b),
            expected,
            "budget {budget}"
        );
    }
}

/// Sums i over the iterations into the caller's stack through ctx; returns
/// the helper's result | sum << 16.
const SUM_MAIN: &str = "
    mov %r6, 0
    stxdw [%r10-8], %r6
    mov %r1, NR
    lddw %r2, func:@0
    mov %r3, %r10
    add %r3, -8
    mov %r4, 0
    call 181
    ldxdw %r1, [%r10-8]
    lsh %r1, 16
    or %r0, %r1
    exit";

/// ctx->sum += i; stop (return 1) when i == 2.
const SUM_CB: &str = "
    ldxdw %r3, [%r2+0]
    add %r3, %r1
    stxdw [%r2+0], %r3
    mov %r0, 0
    jne %r1, STOP, +1
    mov %r0, 1
    exit";

fn sum(nr: &str, stop: &str) -> Result<u64, RunError> {
    let main = SUM_MAIN.replace("NR", nr);
    let cb = SUM_CB.replace("STOP", stop);
    run(&main, &[&cb]).map(|o| o.retval)
}

#[test]
fn the_callback_runs_nr_loops_times_with_its_index_and_context() {
    // 0+1+2+3+4 = 10, five calls.
    assert_eq!(sum("5", "99").unwrap(), 5 | 10 << 16);
}

#[test]
fn a_callback_returning_1_stops_the_loop_and_counts_that_call() {
    // i = 0, 1, 2: the call with i = 2 returns 1; three calls, sum 3.
    assert_eq!(sum("10", "2").unwrap(), 3 | 3 << 16);
}

#[test]
fn zero_loops_call_nothing() {
    assert_eq!(sum("0", "99").unwrap(), 0);
}

#[test]
fn flags_and_too_many_loops_are_the_kernels_errors() {
    let main = SUM_MAIN
        .replace("NR", "3")
        .replace("mov %r4, 0", "mov %r4, 1");
    let cb = SUM_CB.replace("STOP", "99");
    // -EINVAL in the low 16 bits... the whole r0 is -22, the sum 0 or'ed in.
    assert_eq!(run(&main, &[&cb]).unwrap().retval as i64, -22);
    // nr_loops is a u32: 1 << 23 + 1 is -E2BIG, checked after flags.
    assert_eq!(sum("0x800001", "99").unwrap() as i64, -7);
    let both = SUM_MAIN
        .replace("NR", "0x800001")
        .replace("mov %r4, 0", "mov %r4, 1");
    assert_eq!(run(&both, &[&cb]).unwrap().retval as i64, -22);
    // Only the low 32 bits of r1 count: 2^32 + 3 is 3 loops.
    let wide = SUM_MAIN.replace("mov %r1, NR", "lddw %r1, 0x100000003");
    assert_eq!(run(&wide, &[&cb]).unwrap().retval, 3 | 3 << 16);
}

#[test]
fn the_call_changes_only_r0() {
    let main = "
        mov %r6, 6
        mov %r9, 9
        mov %r1, 2
        lddw %r2, func:@0
        mov %r3, 33
        mov %r4, 0
        mov %r5, 55
        call 181
        mov %r0, %r3
        add %r0, %r5
        add %r0, %r6
        add %r0, %r9
        add %r0, %r1
        exit";
    // The callback clobbers every register it may.
    let cb = "
        mov %r3, 1000
        mov %r5, 1000
        mov %r6, 1000
        mov %r9, 1000
        mov %r1, 1000
        mov %r0, 0
        exit";
    // r1 is 2 again after the call: 33 + 55 + 6 + 9 + 2.
    assert_eq!(run(main, &[cb]).unwrap().retval, 105);
}

#[test]
fn a_value_that_is_no_callback_is_a_fault_at_the_call() {
    let main = "
        mov %r1, 1
        mov %r2, 12345
        mov %r3, 0
        mov %r4, 0
        call 181
        exit";
    assert_eq!(
        run(main, &[]).unwrap_err(),
        RunError::Helper {
            pc: 4,
            id: 181,
            source: HelperError::NotACallback { value: 12345 }
        }
    );
}

#[test]
fn a_callback_return_other_than_0_or_1_names_its_exit() {
    let main = "
        mov %r1, 3
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, 0
        call 181
        exit";
    let (text, starts) = program(main, &["mov %r0, 2\nexit"]);
    same_in_both_tiers(&text);
    let err = load_with(&text, ProgramOptions::default())
        .run(&mut [])
        .unwrap_err();
    assert_eq!(
        err,
        RunError::Helper {
            pc: starts[0] + 1,
            id: 181,
            source: HelperError::CallbackReturn { value: 2 }
        }
    );
}

#[test]
fn a_fault_inside_the_callback_names_the_callbacks_instruction() {
    let main = "
        mov %r1, 3
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, 0
        call 181
        exit";
    // ctx is NULL: the load through it faults.
    let (text, starts) = program(main, &["mov %r0, 0\nldxdw %r4, [%r2+0]\nexit"]);
    same_in_both_tiers(&text);
    match load_with(&text, ProgramOptions::default()).run(&mut []) {
        Err(RunError::OutOfBounds { pc, addr: 0, .. }) => assert_eq!(pc, starts[0] + 1),
        other => panic!("expected a fault in the callback, got {other:?}"),
    }
}

#[test]
fn a_callback_that_loops_into_itself_stops_at_the_frame_limit() {
    let main = "
        mov %r1, 1
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, 0
        call 181
        exit";
    let cb = "
        mov %r1, 1
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, 0
        call 181
        mov %r0, 0
        exit";
    let (text, starts) = program(main, &[cb]);
    same_in_both_tiers(&text);
    let err = load_with(&text, ProgramOptions::default())
        .run(&mut [])
        .unwrap_err();
    // Frames 1..7 are callbacks; the call in frame 7 cannot enter frame 8.
    assert_eq!(
        err,
        RunError::CallDepthExceeded {
            pc: starts[0] + 5,
            limit: 8
        }
    );
}

/// Nested loops: the outer callback (3 calls) runs an inner loop of 4
/// calls that count into the main frame's stack through ctx: 12.
const NESTED_MAIN: &str = "
        mov %r6, 0
        stxdw [%r10-8], %r6
        mov %r1, 3
        lddw %r2, func:@0
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        call 181
        ldxdw %r0, [%r10-8]
        exit";
const NESTED_OUTER: &str = "
        mov %r3, %r2
        mov %r1, 4
        lddw %r2, func:@1
        mov %r4, 0
        call 181
        mov %r0, 0
        exit";
const NESTED_INNER: &str = "
        ldxdw %r3, [%r2+0]
        add %r3, 1
        stxdw [%r2+0], %r3
        mov %r0, 0
        exit";

#[test]
fn nested_loops_multiply() {
    assert_eq!(
        run(NESTED_MAIN, &[NESTED_OUTER, NESTED_INNER])
            .unwrap()
            .retval,
        12
    );
}

#[test]
fn a_callback_may_make_local_calls_and_loop_again_inside_them() {
    // The callback calls a function of its own (r6 saved across it), which
    // runs a loop of 2 over callback 1; each inner call adds 10 to the main
    // frame's counter, the function adds 1: 3 * (2 * 10 + 1) = 63.
    let cb = "
        mov %r6, %r2
        call local +2
        mov %r0, 0
        exit
        mov %r3, %r6
        mov %r1, 2
        lddw %r2, func:@1
        mov %r4, 0
        call 181
        ldxdw %r1, [%r6+0]
        add %r1, 1
        stxdw [%r6+0], %r1
        mov %r0, 0
        exit";
    let inner = "
        ldxdw %r3, [%r2+0]
        add %r3, 10
        stxdw [%r2+0], %r3
        mov %r0, 0
        exit";
    assert_eq!(run(NESTED_MAIN, &[cb, inner]).unwrap().retval, 63);
}

#[test]
fn iterations_and_callback_instructions_share_the_budget() {
    let main = SUM_MAIN.replace("NR", "1000");
    let cb = SUM_CB.replace("STOP", "100000");
    let (text, starts) = program(&main, &[&cb]);
    same_in_both_tiers(&text);
    let program = load_with(&text, ProgramOptions::default());
    let done = program.run(&mut []).unwrap();
    // Each call: 6 instructions of the callback (the jne is taken), one
    // unit for the iteration; the counted instructions leave the units out.
    assert_eq!(done.insns, 12 + 1000 * 6);
    // 8 instructions up to the call, then 7 per call: after 13 calls 99
    // are used; the 14th call's unit makes 100, its first two instructions
    // 102, and its third does not fit.
    for (budget, stop) in [(102, starts[0] + 2), (100, starts[0]), (99, starts[0])] {
        let mut ctx = RunContext::new().with_budget(budget);
        assert_eq!(
            program.run_with(&mut [], &mut ctx).unwrap_err(),
            RunError::BudgetExhausted { pc: stop, budget },
            "budget {budget}"
        );
    }
}

#[test]
fn a_callback_writing_the_callers_key_keeps_the_lookup_rewrite_sound() {
    // The caller's key is 0 before the call; the callback sets it to 1
    // through ctx. The lookup after the call must read element 1.
    let map = ArrayMap::new(MapDef::array(8, 2)).unwrap();
    map.update(&1u32.to_le_bytes(), &77u64.to_le_bytes(), 0)
        .unwrap();
    let main = "
        stw [%r10-4], 0
        mov %r1, 1
        lddw %r2, func:@0
        mov %r3, %r10
        add %r3, -4
        mov %r4, 0
        call 181
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, +2
        ldxdw %r0, [%r0+0]
        exit
        mov %r0, 99
        exit";
    let cb = "
        stw [%r2+0], 1
        mov %r0, 0
        exit";
    let (text, _) = program(main, &[cb]);
    for passes in [Passes::ALL, Passes::NONE] {
        let options = ProgramOptions {
            maps: vec![BpfMap::from_array(map.clone(), 1)],
            passes,
            ..ProgramOptions::default()
        };
        let program = load_with(&text, options);
        assert_eq!(program.run(&mut []).unwrap().retval, 77);
    }
}

/// The tier `text` runs in when loaded with [`Tier::Compiled`] and `maps`.
fn tier_asked_compiled(text: &str, maps: Vec<BpfMap>) -> TierUsed {
    let options = ProgramOptions {
        tier: Tier::Compiled,
        ..with_maps(maps)
    };
    load_with(text, options).tier().clone()
}

#[test]
fn loop_callbacks_and_map_walks_compile() {
    let (looping, _) = program(
        &SUM_MAIN.replace("NR", "4"),
        &[&SUM_CB.replace("STOP", "99")],
    );
    let (walking, _) = program(&for_each_main(0), &["mov %r0, 0\nexit"]);
    let built_in = cfg!(all(feature = "jit", target_arch = "x86_64"));
    let unavailable = if cfg!(feature = "jit") {
        Fallback::UnsupportedPlatform
    } else {
        Fallback::NotBuiltIn
    };
    for tier in [
        tier_asked_compiled(&looping, vec![]),
        tier_asked_compiled(&walking, vec![array(2)]),
    ] {
        match tier {
            TierUsed::Compiled { .. } => assert!(built_in),
            TierUsed::Interpreter { fallback } => {
                assert_eq!(fallback, Some(unavailable.clone()));
            }
        }
    }
    let program = load_with(
        &looping,
        ProgramOptions {
            tier: Tier::Compiled,
            ..ProgramOptions::default()
        },
    );
    assert!(program.has_callbacks());
    assert_eq!(program.run(&mut []).unwrap().retval, 4 | 6 << 16);
}

#[test]
fn a_pseudo_func_lddw_outside_the_program_is_refused_naming_it() {
    let text = "mov %r0, 0\nlddw %r2, func:40\nexit";
    let err =
        LoadedProgram::load(&assemble_bytes(text).unwrap(), ProgramOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("instruction 1"),
        "names the lddw: {err}"
    );
}

// ---- bpf_for_each_map_elem (164) ------------------------------------------

fn with_maps(maps: Vec<BpfMap>) -> ProgramOptions {
    ProgramOptions {
        maps,
        ..ProgramOptions::default()
    }
}

/// Walks map 0 with callback 0, ctx NULL and `flags`.
fn for_each_main(flags: i32) -> String {
    format!(
        "
        lddw %r1, map_idx:0
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, {flags}
        call 164
        exit"
    )
}

fn array(entries: u32) -> BpfMap {
    BpfMap::from_array(ArrayMap::new(MapDef::array(8, entries)).unwrap(), 1)
}

#[test]
fn for_each_counts_the_elements_and_stops_on_1() {
    // Stops at the element whose key is 2: three calls.
    let cb = "
        ldxw %r1, [%r2+0]
        mov %r0, 0
        jne %r1, 2, +1
        mov %r0, 1
        exit";
    let (text, _) = program(&for_each_main(0), &[cb]);
    let program = load_with(&text, with_maps(vec![array(5)]));
    assert_eq!(program.run(&mut []).unwrap().retval, 3);
    let (text, _) = program_text_with_flags(1, cb);
    let program = load_with(&text, with_maps(vec![array(5)]));
    assert_eq!(program.run(&mut []).unwrap().retval as i64, -22);
}

/// A walk of an empty map calls nothing and counts each instruction once:
/// the interpreter counted the ones before the call twice (the compiled
/// tier's differential test found it, `jit_map_walks.rs`).
#[test]
fn an_empty_walk_counts_each_instruction_once() {
    let (text, _) = program(&for_each_main(0), &["mov %r0, 0\nexit"]);
    let program = load_with(&text, with_maps(vec![hash_u32_to_u64(4)]));
    let done = program.run(&mut []).unwrap();
    // lddw, lddw, mov, mov, call, exit.
    assert_eq!((done.retval, done.insns), (0, 6));
}

fn program_text_with_flags(flags: i32, cb: &str) -> (String, Vec<usize>) {
    program(&for_each_main(flags), &[cb])
}

#[test]
fn the_key_is_read_only_and_a_write_faults_in_the_callback() {
    let cb = "
        stw [%r2+0], 7
        mov %r0, 0
        exit";
    let (text, starts) = program(&for_each_main(0), &[cb]);
    let err = load_with(&text, with_maps(vec![array(2)]))
        .run(&mut [])
        .unwrap_err();
    match err {
        RunError::OutOfBounds {
            pc,
            addr,
            access: tinybpf_vm::Access::Write,
            ..
        } => {
            assert_eq!(pc, starts[0]);
            // The key area of frame 0.
            assert_eq!(addr, 0xfffd_0000_0000_0000);
            assert!(err.to_string().contains("read-only key"), "{err}");
        }
        other => panic!("expected a write fault, got {other:?}"),
    }
}

#[test]
fn the_value_is_the_element_and_writable() {
    let map = ArrayMap::new(MapDef::array(8, 3)).unwrap();
    // value = key * 10 + 1.
    let cb = "
        ldxw %r1, [%r2+0]
        mul %r1, 10
        add %r1, 1
        stxdw [%r3+0], %r1
        mov %r0, 0
        exit";
    let (text, _) = program(&for_each_main(0), &[cb]);
    let program = load_with(&text, with_maps(vec![BpfMap::from_array(map.clone(), 1)]));
    assert_eq!(program.run(&mut []).unwrap().retval, 3);
    for key in 0u32..3 {
        let value = map.lookup(&key.to_le_bytes()).unwrap();
        assert_eq!(value, (u64::from(key) * 10 + 1).to_le_bytes());
    }
}

#[test]
fn map_types_the_kernel_cannot_iterate_are_refused_and_no_map_is_einval() {
    let jumps = MapDef {
        map_type: 3,
        key_size: 4,
        value_size: 4,
        max_entries: 4,
        map_flags: 0,
    };
    let jumps = BpfMap::create(jumps, &tinybpf_maps::MapOptions::with_cpus(1)).unwrap();
    let (text, _) = program(&for_each_main(0), &["mov %r0, 0\nexit"]);
    match load_with(&text, with_maps(vec![jumps])).run(&mut []) {
        Err(RunError::Helper {
            id: 164,
            source: HelperError::MapRefused(_),
            ..
        }) => {}
        other => panic!("expected the map to be refused, got {other:?}"),
    }
    let main = "
        mov %r1, 5
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, 0
        call 164
        exit";
    assert_eq!(run(main, &["mov %r0, 0\nexit"]).unwrap().retval as i64, -22);
}

#[test]
fn nested_walks_get_keys_of_their_own() {
    let (text, _) = common::nested_walks();
    let program = load_with(&text, with_maps(vec![array(2)]));
    // Each outer call: inner adds 1 + 2 = 3; two outer calls: 6.
    assert_eq!(program.run(&mut []).unwrap().retval, 2 | 6 << 8);
}

/// A hash map of u32 keys and u64 values (`max_entries` of them).
fn hash_u32_to_u64(max_entries: u32) -> BpfMap {
    let def = MapDef {
        map_type: 1,
        key_size: 4,
        value_size: 8,
        max_entries,
        map_flags: 0,
    };
    BpfMap::create(def, &tinybpf_maps::MapOptions::with_cpus(1)).unwrap()
}

/// Walks map 0 with callback 0, its ctx the element of map 1 (the walk's
/// state, which the test reads afterwards); returns the helper's result.
const WALK_WITH_STATE: &str = "
        stw [%r10-4], 0
        lddw %r1, map_idx:1
        mov %r2, %r10
        add %r2, -4
        call 1
        jne %r0, 0, +1
        exit
        mov %r3, %r0
        lddw %r1, map_idx:0
        lddw %r2, func:@0
        mov %r4, 0
        call 164
        exit";

#[test]
fn a_hash_walk_visits_each_element_once_in_next_key_order() {
    let map = hash_u32_to_u64(16);
    for key in [3u32, 11, 42, 7, 19] {
        map.update(&key.to_le_bytes(), &u64::from(key).to_le_bytes(), 0)
            .unwrap();
    }
    let list = ArrayMap::new(MapDef::array(32, 1)).unwrap();
    // ctx is map 1's element: a u64 count, then the keys as u32s. The
    // callback checks that the value is the key (else returns 2, a fault),
    // adds 1000 to it, and appends the key.
    let cb = "
        ldxw %r1, [%r2+0]
        ldxdw %r5, [%r3+0]
        mov %r0, 2
        jne %r5, %r1, +10
        add %r5, 1000
        stxdw [%r3+0], %r5
        ldxdw %r5, [%r4+0]
        mov %r0, %r5
        lsh %r0, 2
        add %r0, %r4
        stxw [%r0+8], %r1
        add %r5, 1
        stxdw [%r4+0], %r5
        mov %r0, 0
        exit";
    let (text, _) = program(WALK_WITH_STATE, &[cb]);
    let maps = vec![map.clone(), BpfMap::from_array(list.clone(), 1)];
    let program = load_with(&text, with_maps(maps));
    assert_eq!(program.run(&mut []).unwrap().retval, 5);
    let mut order = Vec::new();
    let mut key = map.get_next_key(None).ok();
    while let Some(k) = key {
        let value = u64::from_le_bytes(map.lookup(&k).unwrap().try_into().unwrap());
        let k32 = u32::from_le_bytes(k.clone().try_into().unwrap());
        assert_eq!(value, u64::from(k32) + 1000, "each value changed once");
        order.push(k32);
        key = map.get_next_key(Some(&k)).ok();
    }
    let listed = list.lookup(&0u32.to_le_bytes()).unwrap();
    assert_eq!(listed[..8], 5u64.to_le_bytes());
    let walked: Vec<u32> = listed[8..28]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(walked, order);
}

/// A callback deleting some of the elements it is given (a map's garbage
/// collection) still visits every element once: the walk goes on after a
/// deleted element as the kernel's bucket walk does, never from the start.
#[test]
fn a_hash_walk_whose_callback_deletes_elements_visits_each_once() {
    let map = hash_u32_to_u64(64);
    // 48 keys in 64 buckets: some buckets hold chains. A key is odd when
    // its k is.
    for k in 0u32..48 {
        let key = k.wrapping_mul(2_654_435_761);
        map.update(&key.to_le_bytes(), &[0; 8], 0).unwrap();
    }
    let count = ArrayMap::new(MapDef::array(8, 1)).unwrap();
    // A value already marked is a second visit: returns 2, a fault. Marks
    // the value, counts the visit, deletes the odd keys.
    let cb = "
        ldxdw %r5, [%r3+0]
        jne %r5, 0, +13
        stdw [%r3+0], 1
        ldxdw %r5, [%r4+0]
        add %r5, 1
        stxdw [%r4+0], %r5
        ldxw %r5, [%r2+0]
        and %r5, 1
        jeq %r5, 0, +4
        lddw %r1, map_idx:0
        call 3
        jne %r0, 0, +2
        mov %r0, 0
        exit
        mov %r0, 2
        exit";
    let (text, _) = program(WALK_WITH_STATE, &[cb]);
    let maps = vec![map.clone(), BpfMap::from_array(count.clone(), 1)];
    let program = load_with(&text, with_maps(maps));
    assert_eq!(program.run(&mut []).unwrap().retval, 48);
    assert_eq!(
        count.lookup(&0u32.to_le_bytes()).unwrap(),
        48u64.to_le_bytes()
    );
    let mut left = 0;
    let mut key = map.get_next_key(None).ok();
    while let Some(k) = key {
        assert_eq!(u32::from_le_bytes(k.clone().try_into().unwrap()) % 2, 0);
        assert_eq!(map.lookup(&k).unwrap(), 1u64.to_le_bytes());
        left += 1;
        key = map.get_next_key(Some(&k)).ok();
    }
    assert_eq!(left, 24, "the even keys stay");
}

#[test]
fn every_pass_setting_gives_the_same_results() {
    // The callbacks' programs above, each loaded with every pass, none, and
    // each single pass off: the same result, fault and map bytes.
    let mut settings = vec![Passes::ALL, Passes::NONE];
    settings.extend(
        Passes::NAMES
            .iter()
            .map(|name| Passes::all_but(name).unwrap()),
    );
    // A walk writing each value through a constant map address and its key.
    let walk_main = "
        lddw %r1, map_idx:0
        lddw %r2, func:@0
        mov %r3, 0
        mov %r4, 0
        call 164
        lddw %r1, map_idx:0
        mov %r2, %r10
        add %r2, -4
        stw [%r10-4], 1
        call 1
        jeq %r0, 0, +2
        ldxdw %r0, [%r0+0]
        exit
        mov %r0, 99
        exit";
    let walk_cb = "
        ldxw %r1, [%r2+0]
        add %r1, 5
        stxdw [%r3+0], %r1
        stw [%r10-4], 0
        ldxw %r0, [%r10-4]
        exit";
    let cases: Vec<(String, Vec<BpfMap>, u64)> = vec![
        (
            program(
                &SUM_MAIN.replace("NR", "7"),
                &[&SUM_CB.replace("STOP", "4")],
            )
            .0,
            vec![],
            5 | 10 << 16,
        ),
        (
            program(NESTED_MAIN, &[NESTED_OUTER, NESTED_INNER]).0,
            vec![],
            12,
        ),
        // Element 1 holds 1 + 5.
        (program(walk_main, &[walk_cb]).0, vec![array(3)], 6),
    ];
    for (text, maps, expected) in cases {
        let mut results = Vec::new();
        for passes in &settings {
            let fresh: Vec<BpfMap> = maps.iter().map(|_| array(3)).collect();
            let options = ProgramOptions {
                maps: fresh.clone(),
                passes: *passes,
                ..ProgramOptions::default()
            };
            let outcome = load_with(&text, options).run(&mut []).map(|o| o.retval);
            let bytes: Vec<Vec<u8>> = fresh
                .iter()
                .map(|m| m.lookup(&1u32.to_le_bytes()).unwrap())
                .collect();
            results.push((outcome, bytes));
        }
        assert_eq!(results[0].0, Ok(expected), "{text}");
        assert!(
            results.windows(2).all(|w| w[0] == w[1]),
            "{text}\n{results:?}"
        );
    }
}
