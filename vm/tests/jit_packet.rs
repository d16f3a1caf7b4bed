//! The compiled tier against the interpreter on what moves during a run:
//! XDP packets moved by `bpf_xdp_adjust_head`, `adjust_meta` and
//! `adjust_tail` (also through `callx`), then accessed at the old and the
//! new edges, with loads, stores and pointers kept from before the move,
//! inside loops; `__sk_buff` programs (tc, socket filter, `cgroup_skb`)
//! whose context fields are read, written and refused through pointers
//! the load-time check cannot place, around `bpf_skb_change_tail`,
//! `change_head`, `adjust_room` and `vlan_push`/`pop`. Every program runs
//! at every budget from 0 to a little past what it needs (so that a
//! budget stops it at every instruction, right after each helper
//! included), and each run's result or fault (kind, instruction,
//! address), instruction count, packet bytes and the context it leaves
//! must be the interpreter's.
#![cfg(all(feature = "jit", target_arch = "x86_64"))]

use tinybpf_vm::{LoadedProgram, ProgramKind, ProgramOptions, RunContext, Tier};

mod common;

fn load(text: &str, kind: ProgramKind, tier: Tier) -> LoadedProgram {
    let options = ProgramOptions {
        kind,
        tier,
        ..ProgramOptions::default()
    };
    common::load_in_tier(text, options)
}

/// An IPv4 frame of `len` bytes (EtherType 0x0800, version and header
/// length 0x45), every other byte its offset.
fn frame(len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len).map(|i| i as u8).collect();
    frame[12] = 0x08;
    frame[13] = 0x00;
    if let Some(version) = frame.get_mut(14) {
        *version = 0x45;
    }
    frame
}

/// What one run left, for comparison.
fn outcome(program: &LoadedProgram, input: &[u8], budget: u64) -> String {
    let mut input = input.to_vec();
    let mut ctx = RunContext::new().with_budget(budget);
    let result = program.run_with(&mut input, &mut ctx);
    format!(
        "{result:?}\ncontext {:?}\npacket {:?}\ninput {input:?}",
        ctx.context_out(),
        ctx.packet.bytes()
    )
}

/// Runs `text` as a `kind` program over `input` in both tiers at every
/// budget from 0 to a little past what the run needs, and compares each
/// run; returns the unlimited run's outcome.
fn agree(text: &str, kind: ProgramKind, input: &[u8]) -> String {
    let interpreted = load(text, kind, Tier::Interpreter);
    let compiled = load(text, kind, Tier::Compiled);
    let full = outcome(&interpreted, input, u64::MAX);
    assert_eq!(full, outcome(&compiled, input, u64::MAX), "\n{text}");
    let needed = interpreted
        .run_with(&mut input.to_vec(), &mut RunContext::new())
        .map_or(200, |done| done.insns + 8);
    for budget in 0..needed.min(400) {
        let a = outcome(&interpreted, input, budget);
        let b = outcome(&compiled, input, budget);
        assert_eq!(a, b, "budget {budget}\n{text}");
    }
    full
}

/// An XDP program that keeps the old `data` and `data_end` (r7, r8) and
/// reads through them, calls `helper` with `delta`, reads the new ones
/// (r2, r3, and `data_meta` in r4) and then runs `access` (which may use
/// any of them).
fn xdp_move(helper: &str, delta: i32, access: &str) -> String {
    format!(
        "mov %r6, %r1
         ldxw %r7, [%r6+0]
         ldxw %r8, [%r6+4]
         ldxb %r5, [%r7+0]
         ldxb %r5, [%r8-1]
         ldxh %r5, [%r8-2]
         mov %r1, %r6
         mov %r2, {delta}
         {helper}
         mov %r9, %r0
         ldxw %r2, [%r6+0]
         ldxw %r3, [%r6+4]
         ldxw %r4, [%r6+8]
         {access}
         exit"
    )
}

/// Loads and stores at each edge of the old and the new packet.
const EDGE_ACCESSES: &[&str] = &[
    "ldxb %r0, [%r7-1]",
    "ldxb %r0, [%r7+0]",
    "ldxw %r0, [%r7+0]",
    "ldxb %r0, [%r8-1]",
    "ldxh %r0, [%r8-1]",
    "ldxb %r0, [%r8+0]",
    "ldxb %r0, [%r2-1]",
    "ldxb %r0, [%r2+0]",
    "ldxdw %r0, [%r2+0]",
    "ldxb %r0, [%r3-1]",
    "ldxw %r0, [%r3-4]",
    "ldxw %r0, [%r3-3]",
    "ldxb %r0, [%r3+0]",
    "ldxb %r0, [%r4-1]",
    "ldxb %r0, [%r4+0]",
    "stb [%r7-1], 0x5a\nmov %r0, %r9",
    "stb [%r7+0], 0x5a\nmov %r0, %r9",
    "stb [%r2-1], 0x5a\nmov %r0, %r9",
    "stb [%r2+0], 0x5a\nmov %r0, %r9",
    "stw [%r3-4], 0x5a\nmov %r0, %r9",
    "stw [%r3-2], 0x5a\nmov %r0, %r9",
    "stxb [%r8-1], %r9\nmov %r0, %r9",
    "stxb [%r4+0], %r9\nmov %r0, %r9",
    "stxb [%r4-1], %r9\nmov %r0, %r9",
];

#[test]
fn xdp_accesses_at_the_old_and_new_edges_agree() {
    let input = frame(64);
    let moves: &[(&str, &[i32])] = &[
        ("call 44", &[-300, -256, -64, -1, 0, 1, 14, 50, 51, 100]),
        ("call 54", &[-300, -8, -4, -3, 0, 4]),
        ("call 65", &[-100, -50, -49, -1, 0, 1, 16, 5000]),
    ];
    let mut faults = 0;
    for (helper, deltas) in moves {
        for &delta in *deltas {
            for access in EDGE_ACCESSES {
                let text = xdp_move(helper, delta, access);
                let full = agree(&text, ProgramKind::Xdp, &input);
                faults += usize::from(full.starts_with("Err"));
            }
        }
    }
    // Both outcomes are exercised.
    assert!(faults > 50, "{faults}");
}

#[test]
fn a_helper_called_by_register_moves_the_packet_too() {
    for access in EDGE_ACCESSES {
        let text = xdp_move("mov %r5, 44\ncall %r5", 14, access);
        agree(&text, ProgramKind::Xdp, &frame(64));
    }
}

#[test]
fn packet_accesses_in_a_loop_follow_each_move() {
    // Each iteration reads through the pointer taken before the loop and
    // through the fresh `data`, then moves `data` on by one byte: the old
    // pointer faults in the second iteration.
    for call in ["call 44", "mov %r5, 44\ncall %r5"] {
        let old_pointer = format!(
            "mov %r6, %r1
             ldxw %r7, [%r6+0]
             mov %r8, 0
             again:
             ldxw %r2, [%r6+0]
             ldxb %r3, [%r2+0]
             ldxb %r0, [%r7+0]
             mov %r1, %r6
             mov %r2, 1
             {call}
             add %r8, 1
             jlt %r8, 10, again
             exit"
        );
        assert!(agree(&old_pointer, ProgramKind::Xdp, &frame(64)).starts_with("Err"));
    }
    // Fresh pointers only: the loop shrinks the packet from both ends and
    // reads its last byte until the helper refuses.
    let fresh = "
        mov %r6, %r1
        mov %r8, 0
        again:
        ldxw %r2, [%r6+0]
        ldxw %r3, [%r6+4]
        ldxb %r4, [%r3-1]
        add %r8, %r4
        ldxb %r4, [%r2+0]
        add %r8, %r4
        mov %r1, %r6
        mov %r2, 2
        call 44
        jne %r0, 0, out
        mov %r1, %r6
        mov %r2, -1
        call 65
        jeq %r0, 0, again
        out:
        mov %r0, %r8
        exit";
    assert!(agree(fresh, ProgramKind::Xdp, &frame(80)).starts_with("Ok"));
}

/// Stores the context pointer on the stack and takes it back, so that the
/// load-time check cannot place the accesses through it (r6).
const SPILLED_CONTEXT: &str = "
    stxdw [%r10-8], %r1
    ldxdw %r6, [%r10-8]";

#[test]
fn skb_context_fields_agree_read_written_and_refused() {
    let accesses = [
        // Read: len, protocol, data/data_end, a cb byte, sign-extending.
        "ldxw %r0, [%r6+0]",
        "ldxh %r0, [%r6+16]",
        "ldxw %r2, [%r6+76]\nldxw %r3, [%r6+80]\nmov %r0, %r3\nsub %r0, %r2",
        "ldxb %r0, [%r6+49]",
        "stw [%r6+8], -16\nldxsw %r0, [%r6+8]",
        "stw [%r6+48], 0x80\nldxsb %r0, [%r6+48]",
        "stxw [%r6+32], %r10\nldxw %r0, [%r6+32]",
        // Written, then left in the context: mark, priority, cb, tc_classid.
        "stw [%r6+8], 7\nmov %r1, 9\nstxw [%r6+32], %r1\nstw [%r6+72], 0x10005\nmov %r0, 0",
        "stdw [%r6+152], 1234\nldxdw %r0, [%r6+152]",
        // Refused: a read-only field, misaligned, narrow past the start,
        // past the end, flow_keys, sk.
        "stw [%r6+0], 1",
        "ldxw %r0, [%r6+2]",
        "ldxb %r0, [%r6+77]",
        "ldxw %r0, [%r6+192]",
        "ldxdw %r0, [%r6+144]",
        "ldxdw %r0, [%r6+168]",
        "stw [%r6-4], 1",
        // Not the context: below it and far above it.
        "ldxb %r0, [%r6-1]",
        "lddw %r1, 0x100000000\nadd %r6, %r1\nldxb %r0, [%r6+0]",
    ];
    let mut refused = 0;
    for kind in [
        ProgramKind::Tc,
        ProgramKind::SocketFilter,
        ProgramKind::CgroupSkb,
    ] {
        for access in accesses {
            let text = format!("{SPILLED_CONTEXT}\n{access}\nexit");
            let full = agree(&text, kind, &frame(60));
            refused += usize::from(full.starts_with("Err"));
        }
    }
    assert!(refused > 10, "{refused}");
}

#[test]
fn skb_programs_that_move_the_packet_agree_at_its_edges() {
    // Each helper, then `len`, `data` and `data_end` read again and the
    // packet accessed at its old and new ends (r7, r8 old; r2, r3 new).
    let moves = [
        "mov %r2, 100\nmov %r3, 0\ncall 38",
        "mov %r2, 20\nmov %r3, 0\ncall 38",
        "mov %r2, 8\nmov %r3, 0\ncall 43",
        "mov %r2, 8\nmov %r3, 0\nmov %r4, 0\ncall 50",
        "mov %r2, -4\nmov %r3, 1\nmov %r4, 0\ncall 50",
        "mov %r2, 0x81\nmov %r3, 7\ncall 18",
        "call 19",
    ];
    let accesses = [
        "ldxb %r0, [%r7+0]",
        "ldxb %r0, [%r8-1]",
        "ldxb %r0, [%r2+0]",
        "ldxb %r0, [%r2-1]",
        "ldxb %r0, [%r3-1]",
        "ldxb %r0, [%r3+0]",
        "stb [%r3-1], 1\nldxw %r0, [%r6+0]",
        "stb [%r8-1], 1\nldxw %r0, [%r6+0]",
        "ldxw %r0, [%r6+0]\nldxw %r1, [%r6+24]\nadd %r0, %r1",
    ];
    for vlan in [false, true] {
        let input = if vlan {
            // An 802.1Q frame for vlan_pop.
            let mut f = frame(64);
            f[12..18].copy_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
            f
        } else {
            frame(64)
        };
        for helper in moves {
            for access in accesses {
                let text = format!(
                    "{SPILLED_CONTEXT}
                     ldxw %r7, [%r6+76]
                     ldxw %r8, [%r6+80]
                     mov %r1, %r6
                     {helper}
                     ldxw %r2, [%r6+76]
                     ldxw %r3, [%r6+80]
                     {access}
                     exit"
                );
                agree(&text, ProgramKind::Tc, &input);
            }
        }
    }
}
