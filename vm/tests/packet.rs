//! The packet region as helpers move it: a pointer taken before
//! `bpf_xdp_adjust_head` and now outside the packet faults (the kernel's
//! verifier invalidates it), the one read again after the call works, and
//! the compiled tier leaves such programs to the interpreter.

use tinybpf_vm::exec::memory::INPUT_START;
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{
    Access, Fallback, LoadedProgram, ProgramKind, ProgramOptions, RunContext, RunError, Tier,
    TierUsed,
};

fn xdp(text: &str) -> LoadedProgram {
    let code = assemble_bytes(text).unwrap();
    let options = ProgramOptions {
        kind: ProgramKind::Xdp,
        ..ProgramOptions::default()
    };
    LoadedProgram::load(&code, options).unwrap()
}

fn frame() -> Vec<u8> {
    (0..64u8).collect()
}

#[test]
fn a_packet_pointer_from_before_adjust_head_faults_after_it() {
    let stale = xdp("
        ldxw %r7, [%r1+0]
        mov %r2, 20
        call 44
        ldxb %r0, [%r7+0]
        exit");
    assert_eq!(
        stale.run(&mut frame()),
        Err(RunError::OutOfBounds {
            pc: 3,
            addr: INPUT_START,
            size: 1,
            access: Access::Read
        })
    );
    let fresh = xdp("
        mov %r6, %r1
        mov %r2, 20
        call 44
        ldxw %r7, [%r6+0]
        ldxb %r0, [%r7+0]
        exit");
    let mut ctx = RunContext::new();
    assert_eq!(fresh.run_with(&mut frame(), &mut ctx).unwrap().retval, 20);
    assert_eq!(ctx.packet.bytes(), &frame()[20..]);
}

#[test]
fn growing_the_head_exposes_zeroed_headroom_the_program_can_write() {
    let grow = xdp("
        mov %r6, %r1
        mov %r2, -8
        call 44
        ldxw %r7, [%r6+0]
        ldxdw %r0, [%r7+0]
        stb [%r7+0], 0xaa
        exit");
    let mut ctx = RunContext::new();
    assert_eq!(grow.run_with(&mut frame(), &mut ctx).unwrap().retval, 0);
    let mut expected = vec![0xaa, 0, 0, 0, 0, 0, 0, 0];
    expected.extend(frame());
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
    // A fresh run (no carry-over) finds the headroom zeroed again.
    assert_eq!(grow.run_with(&mut frame(), &mut ctx).unwrap().retval, 0);
    // Carried over, the run grows the packet the last one left by 8 more.
    ctx.carry_packet = true;
    assert_eq!(grow.run_with(&mut frame(), &mut ctx).unwrap().retval, 0);
    let mut expected = vec![0xaa, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0, 0, 0, 0, 0, 0, 0];
    expected.extend(frame());
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
}

#[test]
fn programs_that_move_the_packet_are_compiled() {
    let code = assemble_bytes("mov %r2, 4\ncall 65\nexit").unwrap();
    let program = LoadedProgram::load(
        &code,
        ProgramOptions {
            kind: ProgramKind::Xdp,
            tier: Tier::Compiled,
            ..ProgramOptions::default()
        },
    )
    .unwrap();
    match program.tier() {
        TierUsed::Compiled { .. } => {}
        TierUsed::Interpreter {
            fallback: Some(Fallback::NotBuiltIn | Fallback::UnsupportedPlatform),
        } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(program.run(&mut frame()).unwrap().retval, 0);
}

#[test]
fn the_packet_goes_back_into_the_input_only_when_asked() {
    // Writes 0xaa over the packet's first byte.
    let write = xdp("
        ldxw %r7, [%r1+0]
        stb [%r7+0], 0xaa
        mov %r0, 2
        exit");
    let mut ctx = RunContext::new();
    let mut input = frame();
    assert_eq!(write.run_with(&mut input, &mut ctx).unwrap().retval, 2);
    assert_eq!(input[0], 0xaa, "copied back by default");
    ctx.packet_to_input = false;
    let mut input = frame();
    assert_eq!(write.run_with(&mut input, &mut ctx).unwrap().retval, 2);
    assert_eq!(input, frame(), "left alone when not asked");
    assert_eq!(ctx.packet.bytes()[0], 0xaa, "the packet is in the context");
}
