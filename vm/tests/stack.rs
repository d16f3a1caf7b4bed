//! A run prepares only the stack its program can reach (the frame extent):
//! that part is zeroed for every run, so nothing leaks from one run to the
//! next, and an address below it faults.

use tinybpf_maps::{BpfMap, MapDef, MapOptions};
use tinybpf_vm::exec::memory::{STACK_SIZE, STACK_START};
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{Access, LoadedProgram, Passes, ProgramOptions, RunContext, RunError, Tier};

fn load(text: &str) -> LoadedProgram {
    LoadedProgram::load(
        &assemble_bytes(text).expect("assembles"),
        ProgramOptions::default(),
    )
    .expect("loads")
}

const TOP: u64 = STACK_START + STACK_SIZE as u64;

#[test]
fn the_extent_is_what_the_functions_reach_at_their_depths() {
    assert_eq!(load("mov %r0, 0\nexit").stack_extent(), 0);
    assert_eq!(load("stdw [%r10-24], 1\nexit").stack_extent(), 24);
    // A copy of r10 at a known offset reaches what it accesses; one that
    // escapes (here to a helper) may reach the whole frame.
    assert_eq!(
        load("mov %r1, %r10\nstb [%r1-1], 1\nexit").stack_extent(),
        1
    );
    assert_eq!(
        load("mov %r1, %r10\nadd %r1, -8\ncall 5\nexit").stack_extent(),
        512
    );
    // main (8 bytes), then f at depth 1 (16 bytes): 512 + 16.
    let calls = "stdw [%r10-8], 1\ncall local f\nexit\nf:\nstdw [%r10-16], 2\nexit";
    assert_eq!(load(calls).stack_extent(), 512 + 16);
    // The extent does not depend on the optimising passes (which remove
    // the dead copy of r10 here, and fuse the live one).
    let lookup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nmov %r1, 0\nexit";
    for passes in [Passes::ALL, Passes::NONE] {
        let program = LoadedProgram::load(
            &assemble_bytes(lookup).unwrap(),
            ProgramOptions {
                passes,
                ..ProgramOptions::default()
            },
        )
        .unwrap();
        assert_eq!(program.stack_extent(), 4);
    }
    let escapes = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\ncall 5\nexit";
    for passes in [Passes::ALL, Passes::NONE] {
        let options = ProgramOptions {
            passes,
            ..ProgramOptions::default()
        };
        let program = LoadedProgram::load(&assemble_bytes(escapes).unwrap(), options).unwrap();
        assert_eq!(program.stack_extent(), 512);
    }
}

#[test]
fn what_a_run_reads_before_writing_is_zero_in_every_run() {
    let mut ctx = RunContext::new();
    // Reads a slot, then leaves 77 in it; in the callee too.
    let text = "
        ldxdw %r6, [%r10-8]
        stdw [%r10-8], 77
        call local f
        add %r0, %r6
        exit
    f:
        ldxdw %r0, [%r10-16]
        stdw [%r10-16], 77
        exit";
    let program = load(text);
    for _ in 0..3 {
        assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, 0);
    }
    // Through a copy of r10 too, over the whole frame.
    let mut sum = String::from("mov %r1, %r10\nmov %r0, 0\n");
    for off in (8..=512).step_by(8) {
        sum.push_str(&format!(
            "ldxdw %r2, [%r1-{off}]\nadd %r0, %r2\nstdw [%r1-{off}], 1\n"
        ));
    }
    sum.push_str("exit");
    let program = load(&sum);
    for _ in 0..3 {
        assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, 0);
    }
}

#[test]
fn addresses_below_the_extent_fault() {
    let out_of_bounds = |pc, addr, size, access| {
        Err(RunError::OutOfBounds {
            pc,
            addr,
            size,
            access,
        })
    };
    // No stack at all: even the top byte of frame 0 faults through a forged address.
    let forged = format!("lddw %r1, {:#x}\nldxb %r0, [%r1]\nexit", TOP - 1);
    assert_eq!(
        load(&forged).run(&mut []).map(|o| o.retval),
        out_of_bounds(2, TOP - 1, 1, Access::Read)
    );
    // 8 bytes reached: r10-8 is there, r10-9 is not.
    let text = |off: u64| {
        format!(
            "stdw [%r10-8], 5\nlddw %r1, {:#x}\nldxb %r0, [%r1]\nexit",
            TOP - off
        )
    };
    assert_eq!(load(&text(8)).run(&mut []).map(|o| o.retval), Ok(5));
    assert_eq!(
        load(&text(9)).run(&mut []).map(|o| o.retval),
        out_of_bounds(3, TOP - 9, 1, Access::Read)
    );
    // Frame 1 is reached only by programs that call.
    let below = "mov %r1, %r10\nadd %r1, -600\nstb [%r1], 1\nexit";
    assert_eq!(
        load(below).run(&mut []).map(|o| o.retval),
        out_of_bounds(2, TOP - 600, 1, Access::Write)
    );
    let calling = format!("{below}\nf:\nstb [%r10-100], 1\nexit").replace(
        "stb [%r1], 1\nexit",
        "stb [%r1], 1\ncall local f\nmov %r0, 0\nexit",
    );
    assert_eq!(load(&calling).run(&mut []).map(|o| o.retval), Ok(0));
}

/// `text` loaded for `tier` with `passes` and `maps`.
fn load_in(text: &str, tier: Tier, passes: Passes, maps: Vec<BpfMap>) -> LoadedProgram {
    load_with(text, tier, passes, maps, true)
}

/// `text` loaded for `tier` with `passes`, `maps` and `inline_lookups`.
fn load_with(
    text: &str,
    tier: Tier,
    passes: Passes,
    maps: Vec<BpfMap>,
    inline_lookups: bool,
) -> LoadedProgram {
    let options = ProgramOptions {
        tier,
        passes,
        maps,
        inline_lookups,
        ..ProgramOptions::default()
    };
    let program =
        LoadedProgram::load(&assemble_bytes(text).expect("assembles"), options).expect("loads");
    if tier == Tier::Auto && cfg!(all(feature = "jit", target_arch = "x86_64")) {
        assert_eq!(program.tier().name(), "compiled", "{:?}", program.tier());
    }
    program
}

/// Both tiers (`Auto` compiles with the `jit` feature), every pass and none.
const CONFIGURATIONS: [(Tier, Passes); 4] = [
    (Tier::Interpreter, Passes::ALL),
    (Tier::Interpreter, Passes::NONE),
    (Tier::Auto, Passes::ALL),
    (Tier::Auto, Passes::NONE),
];

#[test]
fn a_lookup_key_behind_a_copy_of_r10_prepares_only_the_key() {
    // packet_counter's lookup: the key at r10-4, read through r2.
    let text = "
        stw [%r10-4], 1
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx:0
        call 1
        jeq %r0, 0, +2
        ldxdw %r0, [%r0]
        exit
        mov %r0, 99
        exit";
    for ((tier, passes), inline_lookups) in CONFIGURATIONS
        .into_iter()
        .flat_map(|config| [(config, true), (config, false)])
    {
        let def = MapDef {
            map_type: 2,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            map_flags: 0,
        };
        let map = BpfMap::create(def, &MapOptions::with_cpus(1)).unwrap();
        map.update(&1u32.to_le_bytes(), &7u64.to_le_bytes(), 0)
            .unwrap();
        // `call 1` as the lookup op, or left a call of the built-in
        // helper: the same 4 bytes.
        let program = load_with(text, tier, passes, vec![map], inline_lookups);
        assert_eq!(program.stack_extent(), 4, "{tier:?} {passes:?}");
        assert_eq!(program.run(&mut []).map(|o| o.retval), Ok(7));
    }
}

#[test]
fn what_a_copy_of_r10_reaches_reads_zero_and_below_it_faults() {
    // Reads r10-16 and r10-8 through a copy, then leaves 77 and 5 there.
    let text = |below: u64| {
        format!(
            "mov %r1, %r10
            add %r1, -16
            ldxdw %r0, [%r1]
            stdw [%r1], 77
            ldxdw %r2, [%r1+8]
            add %r0, %r2
            stdw [%r1+8], 5
            lddw %r3, {:#x}
            jeq %r0, 1, +1
            exit
            ldxb %r0, [%r3]
            exit",
            TOP - below
        )
    };
    for (tier, passes) in CONFIGURATIONS {
        let mut ctx = RunContext::new();
        let program = load_in(&text(16), tier, passes, Vec::new());
        assert_eq!(program.stack_extent(), 16);
        for _ in 0..3 {
            assert_eq!(program.run_with(&mut [], &mut ctx).map(|o| o.retval), Ok(0));
        }
        // One byte below what the copy reaches: not prepared, it faults
        // (r0 = 1 sends the run there).
        let program = load_in(
            &text(17).replace("ldxdw %r0, [%r1]", "mov %r0, 1"),
            tier,
            passes,
            Vec::new(),
        );
        assert_eq!(program.stack_extent(), 16);
        assert_eq!(
            program.run(&mut []).map(|o| o.retval),
            Err(RunError::OutOfBounds {
                pc: 11,
                addr: TOP - 17,
                size: 1,
                access: Access::Read,
            }),
            "{tier:?} {passes:?}"
        );
    }
}
