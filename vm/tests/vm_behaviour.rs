//! The VM's load-time errors, run-time faults, helpers, XDP context, maps and
//! threads, each with a program written in the assembler's syntax.

use std::sync::Arc;

use tinybpf_maps::{ArrayMap, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BpfMap, MapDef};
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::isa::insn::{Insn, encode_all};
use tinybpf_vm::{
    Access, HelperContext, HelperError, Helpers, InvalidInsn, LoadedProgram, ProgramKind,
    ProgramOptions, RunContext, RunError, VerifyError,
};

fn load(text: &str) -> Result<LoadedProgram, VerifyError> {
    load_with(text, ProgramOptions::default())
}

fn load_with(text: &str, options: ProgramOptions) -> Result<LoadedProgram, VerifyError> {
    LoadedProgram::load(
        &assemble_bytes(text).expect("test program assembles"),
        options,
    )
}

fn run(text: &str, input: &mut [u8]) -> Result<u64, RunError> {
    load(text).expect("loads").run(input).map(|o| o.retval)
}

fn invalid(text: &str) -> (usize, InvalidInsn) {
    match load(text) {
        Err(VerifyError::Invalid { pc, kind }) => (pc, kind),
        other => panic!("expected an invalid instruction, got {other:?}"),
    }
}

fn raw(insns: &[Insn]) -> Result<LoadedProgram, VerifyError> {
    LoadedProgram::load(&encode_all(insns), ProgramOptions::default())
}

fn one_map(def: MapDef) -> (ArrayMap, ProgramOptions) {
    let map = ArrayMap::new(def).expect("valid map");
    let options = ProgramOptions {
        maps: vec![BpfMap::from_array(map.clone(), 1)],
        ..ProgramOptions::default()
    };
    (map, options)
}

// ---- load-time errors ------------------------------------------------------

#[test]
fn empty_and_partial_programs_are_rejected() {
    assert_eq!(
        LoadedProgram::load(&[], ProgramOptions::default()).unwrap_err(),
        VerifyError::Empty
    );
    assert_eq!(
        LoadedProgram::load(&[0x95, 0, 0], ProgramOptions::default()).unwrap_err(),
        VerifyError::PartialInstruction { len: 3 }
    );
}

#[test]
fn unknown_opcodes_and_registers_name_the_instruction() {
    let bad_opcode = raw(&[Insn::new(0xff, 0, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)]);
    assert_eq!(
        bad_opcode.unwrap_err(),
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::UnknownOpcode(0xff)
        }
    );
    let bad_register = raw(&[Insn::new(0xb7, 11, 0, 0, 1), Insn::new(0x95, 0, 0, 0, 0)]);
    assert_eq!(
        bad_register.unwrap_err(),
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::BadRegister(11)
        }
    );
}

#[test]
fn writes_to_r10_are_rejected() {
    assert_eq!(
        invalid("mov %r0, 0\nmov %r10, 1\nexit"),
        (1, InvalidInsn::WritesFramePointer)
    );
    assert_eq!(
        invalid("ldxdw %r10, [%r1]\nexit"),
        (0, InvalidInsn::WritesFramePointer)
    );
}

#[test]
fn jumps_must_stay_inside_and_not_enter_an_lddw() {
    assert_eq!(
        invalid("ja +5\nexit"),
        (0, InvalidInsn::TargetOutOfProgram { target: 6 })
    );
    assert_eq!(
        invalid("ja -2\nexit"),
        (0, InvalidInsn::TargetOutOfProgram { target: -1 })
    );
    assert_eq!(
        invalid("ja +1\nlddw %r0, 1\nexit"),
        (0, InvalidInsn::TargetInsideLddw { lddw: 1 })
    );
    assert_eq!(
        invalid("call local +5\nexit"),
        (0, InvalidInsn::TargetOutOfProgram { target: 6 })
    );
}

#[test]
fn a_program_may_not_fall_off_its_end() {
    assert_eq!(invalid("mov %r0, 0"), (0, InvalidInsn::FallsOffEnd));
    assert_eq!(
        invalid("mov %r0, 0\njeq %r0, 0, -2"),
        (1, InvalidInsn::FallsOffEnd)
    );
    let half_lddw = raw(&[Insn::new(0x18, 0, 0, 0, 1)]);
    assert_eq!(
        half_lddw.unwrap_err(),
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::IncompleteLddw
        }
    );
}

#[test]
fn unknown_helpers_kfuncs_and_maps_are_rejected_at_load() {
    assert_eq!(
        invalid("call 9999\nexit"),
        (0, InvalidInsn::UnknownHelper { id: 9999 })
    );
    assert_eq!(
        raw(&[Insn::new(0x85, 0, 2, 0, 7), Insn::new(0x95, 0, 0, 0, 0)]).unwrap_err(),
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::Kfunc
        }
    );
    assert_eq!(
        raw(&[
            Insn::new(0x18, 1, 5, 0, 0),
            Insn::new(0, 0, 0, 0, 0),
            Insn::new(0x95, 0, 0, 0, 0)
        ])
        .unwrap_err(),
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::UnknownMap { index: 0, count: 0 }
        }
    );
}

#[test]
fn map_value_offsets_must_lie_inside_the_value() {
    let (_, options) = one_map(MapDef::array(8, 1));
    let code = encode_all(&[
        Insn::new(0x18, 0, 6, 0, 0),
        Insn::new(0, 0, 0, 0, 8),
        Insn::new(0x95, 0, 0, 0, 0),
    ]);
    assert!(matches!(
        LoadedProgram::load(&code, options).unwrap_err(),
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::MapValueOffset { offset: 8, .. }
        }
    ));
}

#[test]
fn r10_accesses_outside_the_frame_are_rejected_at_load() {
    assert_eq!(
        invalid("ldxdw %r0, [%r10-516]\nexit"),
        (
            0,
            InvalidInsn::StackOutOfFrame {
                offset: -516,
                size: 8
            }
        )
    );
    assert_eq!(
        invalid("stb [%r10], 1\nexit"),
        (0, InvalidInsn::StackOutOfFrame { offset: 0, size: 1 })
    );
    assert!(load("stdw [%r10-512], 1\nldxb %r0, [%r10-1]\nexit").is_ok());
}

#[test]
fn unused_fields_must_be_zero() {
    // mov64 imm with a non-zero src field.
    let err = raw(&[Insn::new(0xb7, 0, 1, 0, 1), Insn::new(0x95, 0, 0, 0, 0)]).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::BadField { field: "src", .. }
        }
    ));
}

#[test]
fn legacy_packet_access_is_reported_as_such() {
    let err = raw(&[Insn::new(0x30, 0, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)]).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Invalid {
            kind: InvalidInsn::LegacyPacketAccess,
            ..
        }
    ));
}

// ---- run-time faults ---------------------------------------------------------

#[test]
fn input_accesses_are_checked_at_both_ends() {
    let mut input = [1u8, 2, 3, 4];
    assert_eq!(
        run("ldxw %r0, [%r1]\nexit", &mut input).unwrap(),
        0x0403_0201
    );
    let past_end = run("ldxw %r0, [%r1+1]\nexit", &mut input).unwrap_err();
    assert!(matches!(
        past_end,
        RunError::OutOfBounds {
            pc: 0,
            size: 4,
            access: Access::Read,
            ..
        }
    ));
    let before = run("ldxb %r0, [%r1-1]\nexit", &mut input).unwrap_err();
    assert!(matches!(before, RunError::OutOfBounds { .. }));
    let write = run("stw [%r1+2], 7\nexit", &mut input).unwrap_err();
    assert!(matches!(
        write,
        RunError::OutOfBounds {
            access: Access::Write,
            ..
        }
    ));
    assert_eq!(input, [1, 2, 3, 4], "a faulting store writes nothing");
}

#[test]
fn wrapping_addresses_do_not_alias() {
    let mut input = [0u8; 8];
    let err = run(
        "lddw %r2, 0xffffffffffffffff\nadd %r1, %r2\nldxb %r0, [%r1+1]\nexit",
        &mut input,
    );
    // r1 + (2^64 - 1) + 1 wraps back to r1 in two's complement: the VM follows
    // the ISA (address arithmetic is modular) and the access is in bounds.
    assert_eq!(err.unwrap(), 0);
    let far = run(
        "lddw %r2, 0x100000000\nadd %r1, %r2\nldxb %r0, [%r1]\nexit",
        &mut input,
    );
    assert!(matches!(far.unwrap_err(), RunError::OutOfBounds { .. }));
}

#[test]
fn stack_accesses_through_a_copy_of_r10_are_checked() {
    let ok = "mov %r2, %r10\nstdw [%r2-8], 5\nldxdw %r0, [%r2-8]\nexit";
    assert_eq!(run(ok, &mut []).unwrap(), 5);
    let above = run("mov %r2, %r10\nldxb %r0, [%r2]\nexit", &mut []).unwrap_err();
    assert!(matches!(above, RunError::OutOfBounds { pc: 1, .. }));
    let below = run(
        "mov %r2, %r10\nsub %r2, 4097\nldxb %r0, [%r2]\nexit",
        &mut [],
    )
    .unwrap_err();
    assert!(matches!(below, RunError::OutOfBounds { pc: 2, .. }));
}

#[test]
fn the_budget_ends_endless_loops() {
    let program = load("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit").unwrap();
    let mut ctx = RunContext::new().with_budget(1000);
    let err = program.run_with(&mut [], &mut ctx).unwrap_err();
    assert!(matches!(
        err,
        RunError::BudgetExhausted { budget: 1000, .. }
    ));
    // The default budget also ends it.
    assert!(matches!(
        program.run(&mut []).unwrap_err(),
        RunError::BudgetExhausted { .. }
    ));
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    // f calls itself forever.
    let err = run("call local f\nexit\nf:\ncall local f\nexit", &mut []).unwrap_err();
    assert!(matches!(err, RunError::CallDepthExceeded { limit: 8, .. }));
    // Seven nested calls (eight frames) are fine.
    let mut text = String::from("mov %r0, 0\ncall local f1\nexit\n");
    for i in 1..=7 {
        text.push_str(&format!("f{i}:\nadd %r0, 1\n"));
        if i < 7 {
            text.push_str(&format!("call local f{}\n", i + 1));
        }
        text.push_str("exit\n");
    }
    assert_eq!(run(&text, &mut []).unwrap(), 7);
}

#[test]
fn callx_to_an_unknown_helper_faults_at_run_time() {
    let err = run("mov %r2, 4242\ncall %r2\nexit", &mut []).unwrap_err();
    assert_eq!(err, RunError::UnknownHelper { pc: 1, id: 4242 });
    assert_eq!(run("mov %r2, 8\ncall %r2\nexit", &mut []).unwrap(), 0);
}

#[test]
fn local_calls_get_fresh_frames_and_keep_callee_saved_registers() {
    let text = "
        stdw [%r10-8], 11
        mov %r6, 6
        call local f
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        add %r0, %r6
        exit
    f:
        stdw [%r10-8], 100
        mov %r6, 99
        mov %r0, 1
        exit";
    assert_eq!(run(text, &mut []).unwrap(), 1 + 11 + 6);
}

#[test]
fn division_edge_cases_follow_the_isa() {
    assert_eq!(run("mov %r0, 7\ndiv %r0, 0\nexit", &mut []).unwrap(), 0);
    assert_eq!(run("mov %r0, 7\nmod %r0, 0\nexit", &mut []).unwrap(), 7);
    assert_eq!(
        run("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit", &mut []).unwrap(),
        0x8000_0000_0000_0000
    );
    assert_eq!(
        run("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit", &mut []).unwrap(),
        0
    );
    assert_eq!(
        run("lddw %r0, 0x1ffffffff\nmod32 %r0, 0\nexit", &mut []).unwrap(),
        0xffff_ffff
    );
}

// ---- helpers -----------------------------------------------------------------

#[test]
fn trace_printk_output_is_captured() {
    // "v=%d\n" on the stack: 76 3d 25 64 0a 00
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
    let program = load(text).unwrap();
    let mut ctx = RunContext::new();
    let outcome = program.run_with(&mut [], &mut ctx).unwrap();
    assert_eq!(ctx.take_trace(), vec!["v=-5".to_string()]);
    assert_eq!(outcome.retval, 5, "returns the length written");
}

#[test]
fn prandom_is_seedable_and_cpu_id_is_configurable() {
    let program = load("call 7\nexit").unwrap();
    let draw = |seed| {
        program
            .run_with(&mut [], &mut RunContext::new().with_seed(seed))
            .unwrap()
            .retval
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    let cpu = load("call 8\nexit").unwrap();
    let mut ctx = RunContext::new();
    ctx.cpu_id = 3;
    assert_eq!(cpu.run_with(&mut [], &mut ctx).unwrap().retval, 3);
}

#[test]
fn a_registered_helper_reads_and_writes_program_memory_safely() {
    let mut helpers = Helpers::with_builtins();
    // helper 200(ptr): doubles the u64 at ptr.
    helpers.register(
        200,
        "double",
        |ctx: &mut HelperContext<'_>, args: [u64; 5]| {
            let mut bytes = [0u8; 8];
            ctx.read(args[0], &mut bytes)?;
            let doubled = u64::from_le_bytes(bytes) * 2;
            ctx.write(args[0], &doubled.to_le_bytes())?;
            Ok(doubled)
        },
    );
    let options = ProgramOptions {
        helpers,
        ..ProgramOptions::default()
    };
    let text = "stdw [%r10-8], 21\nmov %r1, %r10\nadd %r1, -8\ncall 200\nldxdw %r0, [%r10-8]\nexit";
    let program = load_with(text, options.clone()).unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 42);
    // A bad pointer is a typed fault, not host memory.
    let bad = load_with("mov %r1, 64\ncall 200\nexit", options).unwrap();
    assert_eq!(
        bad.run(&mut []).unwrap_err(),
        RunError::Helper {
            pc: 1,
            id: 200,
            source: HelperError::OutOfBounds {
                addr: 64,
                size: 8,
                access: Access::Read
            }
        }
    );
}

// ---- maps ----------------------------------------------------------------------

const LOOKUP_KEY_1: &str = "
    mov %r1, 1
    stxw [%r10-4], %r1
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx:0
    call 1";

#[test]
fn lookup_update_delete_return_what_the_patch_returns() {
    for inline in [true, false] {
        let (map, mut options) = one_map(MapDef::array(8, 2));
        options.inline_lookups = inline;
        let text = format!("{LOOKUP_KEY_1}\njeq %r0, 0, +2\nstdw [%r0], 77\nmov %r0, 1\nexit");
        let program = load_with(&text, options.clone()).unwrap();
        assert_eq!(program.run(&mut []).unwrap().retval, 1);
        assert_eq!(
            map.lookup(&1u32.to_le_bytes()).unwrap(),
            77u64.to_le_bytes()
        );
        // update with BPF_NOEXIST: -EEXIST; delete: -EINVAL.
        let update = "
            mov %r1, 0
            stxw [%r10-4], %r1
            stdw [%r10-16], 5
            mov %r2, %r10
            add %r2, -4
            mov %r3, %r10
            add %r3, -16
            mov %r4, 1
            lddw %r1, map_idx:0
            call 2
            exit";
        let program = load_with(update, options.clone()).unwrap();
        assert_eq!(program.run(&mut []).unwrap().retval as i64, -17);
        let delete = "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx:0\ncall 3\nexit";
        let program = load_with(delete, options).unwrap();
        assert_eq!(program.run(&mut []).unwrap().retval as i64, -22);
    }
}

#[test]
fn map_value_accesses_are_checked_against_the_value_area() {
    let (map, options) = one_map(MapDef::array(12, 1));
    // Element size rounds to 16: offset 12..16 is padding inside the area, 16 is past it.
    let text = format!("{LOOKUP_KEY_1}\nexit");
    let program = load_with(&text.replace("mov %r1, 1", "mov %r1, 0"), options.clone()).unwrap();
    assert_ne!(program.run(&mut []).unwrap().retval, 0);
    let past = format!(
        "{}\nldxb %r0, [%r0+16]\nexit",
        LOOKUP_KEY_1.replace("mov %r1, 1", "mov %r1, 0")
    );
    let err = load_with(&past, options).unwrap().run(&mut []).unwrap_err();
    assert!(matches!(err, RunError::OutOfBounds { size: 1, .. }));
    assert_eq!(map.lookup(&0u32.to_le_bytes()).unwrap(), vec![0; 12]);
}

#[test]
fn read_only_maps_fault_on_program_writes() {
    let (map, options) =
        one_map(MapDef::array(8, 1).with_flags(BPF_F_RDONLY_PROG | BPF_F_MMAPABLE));
    let code = encode_all(&[
        Insn::new(0x18, 1, 6, 0, 0),
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(0x7a, 1, 0, 0, 9), // stdw [r1], 9
        Insn::new(0xb7, 0, 0, 0, 0),
        Insn::new(0x95, 0, 0, 0, 0),
    ]);
    let err = LoadedProgram::load(&code, options)
        .unwrap()
        .run(&mut [])
        .unwrap_err();
    assert!(matches!(
        err,
        RunError::OutOfBounds {
            access: Access::Write,
            ..
        }
    ));
    assert_eq!(map.lookup(&0u32.to_le_bytes()).unwrap(), vec![0; 8]);
}

#[test]
fn user_space_updates_between_runs_are_seen_through_rewritten_lookups() {
    let (map, options) = one_map(MapDef::array(8, 2));
    let text = format!("{LOOKUP_KEY_1}\njeq %r0, 0, +1\nldxdw %r0, [%r0]\nexit");
    let program = load_with(&text, options).unwrap();
    assert!(
        !program.rewrites().is_empty(),
        "the constant-key lookup was rewritten"
    );
    for value in [3u64, 9, 27] {
        map.update(&1u32.to_le_bytes(), &value.to_le_bytes(), 0)
            .unwrap();
        assert_eq!(program.run(&mut []).unwrap().retval, value);
    }
}

#[test]
fn one_program_runs_on_four_threads_over_a_shared_map() {
    let (map, options) = one_map(MapDef::array(8, 1));
    let text = "
        mov %r6, 0
    loop:
        mov %r1, 0
        stxw [%r10-4], %r1
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx:0
        call 1
        jeq %r0, 0, +2
        mov %r1, 1
        lock add [%r0], %r1
        add %r6, 1
        jlt %r6, 10000, loop
        mov %r0, 0
        exit";
    let program = Arc::new(load_with(text, options).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let program = Arc::clone(&program);
            std::thread::spawn(move || program.run(&mut []).unwrap())
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        map.lookup(&0u32.to_le_bytes()).unwrap(),
        40_000u64.to_le_bytes()
    );
}

// ---- XDP -------------------------------------------------------------------------

#[test]
fn xdp_programs_use_data_and_data_end_as_pointers() {
    let text = "
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        mov %r4, %r2
        add %r4, 14
        mov %r0, 1
        jgt %r4, %r3, +2
        ldxb %r0, [%r2+13]
        add %r0, 100
        exit";
    let options = ProgramOptions {
        kind: ProgramKind::Xdp,
        ..ProgramOptions::default()
    };
    let program = load_with(text, options).unwrap();
    let mut frame = [0u8; 64];
    frame[13] = 7;
    assert_eq!(program.run(&mut frame).unwrap().retval, 107);
    // The kernel's test run refuses a packet shorter than an Ethernet header.
    assert_eq!(
        program.run(&mut [0u8; 10]),
        Err(RunError::PacketTooShort { len: 10, min: 14 })
    );
    assert_eq!(program.run(&mut [0u8; 14]).unwrap().retval, 100);
    // The context is read-only.
    let write = load_with(
        "stw [%r1], 0\nexit",
        ProgramOptions {
            kind: ProgramKind::Xdp,
            ..ProgramOptions::default()
        },
    )
    .unwrap();
    assert!(matches!(
        write.run(&mut frame).unwrap_err(),
        RunError::OutOfBounds {
            access: Access::Write,
            ..
        }
    ));
}

#[test]
fn a_replaced_lookup_helper_is_called_not_rewritten() {
    let (_, mut options) = one_map(MapDef::array(8, 2));
    options
        .helpers
        .register(1, "always_null", |_: &mut HelperContext<'_>, _| Ok(0));
    let text = format!("{LOOKUP_KEY_1}\njeq %r0, 0, +2\nmov %r0, 2\nexit\nmov %r0, 1\nexit");
    let program = load_with(&text, options).unwrap();
    assert!(program.rewrites().is_empty());
    assert_eq!(program.run(&mut []).unwrap().retval, 1);
}
