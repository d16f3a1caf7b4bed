//! The packet-moving helpers of `bpf_skb_adjust_room`, `bpf_skb_vlan_*`
//! and XDP fragments at the VM level: what each charges the budget (one
//! unit per 8 bytes moved, zeroed or copied, measured exactly as the
//! smallest budget a run fits in less the instructions it executed), and
//! the errnos the C tests (tests/packet_helpers.rs) cannot reach.

use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{LoadedProgram, ProgramKind, ProgramOptions, RunContext, RunError};

fn load(text: &str, kind: ProgramKind) -> LoadedProgram {
    let options = ProgramOptions {
        kind,
        ..ProgramOptions::default()
    };
    LoadedProgram::load(&assemble_bytes(text).unwrap(), options).unwrap()
}

/// An IPv4 frame of `len` bytes (EtherType 0x0800, version and header
/// length 0x45 when it gets that far, the rest zero).
fn ipv4_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0u8; len];
    frame[12] = 0x08;
    if let Some(version) = frame.get_mut(14) {
        *version = 0x45;
    }
    frame
}

/// The units helpers charged in a run of `program` over `input`.
fn charged(program: &LoadedProgram, input: &[u8]) -> u64 {
    let run = |budget: u64| {
        let mut data = input.to_vec();
        program.run_with(&mut data, &mut RunContext::new().with_budget(budget))
    };
    let insns = run(u64::MAX).expect("runs").insns;
    let (mut low, mut high) = (insns, insns + 1_000_000);
    while low < high {
        let mid = low + (high - low) / 2;
        match run(mid) {
            Ok(_) => high = mid,
            Err(RunError::BudgetExhausted { .. }) => low = mid + 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    low - insns
}

/// r0 of one run.
fn retval(program: &LoadedProgram, input: &[u8]) -> i64 {
    program.run(&mut input.to_vec()).unwrap().retval as i64
}

#[test]
fn adjust_room_charges_the_headers_it_moves_and_the_room() {
    // 8 bytes after the IPv4 base header: 34 header bytes move, 8 zeroed.
    let grow = load(
        "mov %r2, 8\nmov %r3, 0\nmov %r4, 0\ncall 50\nexit",
        ProgramKind::Tc,
    );
    assert_eq!(retval(&grow, &ipv4_frame(64)), 0);
    assert_eq!(charged(&grow, &ipv4_frame(64)), (34u64 + 8).div_ceil(8));
    // 4 bytes away after the MAC header: 14 move.
    let shrink = load(
        "mov %r2, -4\nmov %r3, 1\nmov %r4, 0\ncall 50\nexit",
        ProgramKind::Tc,
    );
    assert_eq!(retval(&shrink, &ipv4_frame(64)), 0);
    assert_eq!(charged(&shrink, &ipv4_frame(64)), (14u64 + 4).div_ceil(8));
    // A refusal charges nothing.
    let refused = load(
        "mov %r2, 4\nmov %r3, 9\nmov %r4, 0\ncall 50\nexit",
        ProgramKind::Tc,
    );
    assert_eq!(retval(&refused, &ipv4_frame(64)), -524);
    assert_eq!(charged(&refused, &ipv4_frame(64)), 0);
}

#[test]
fn adjust_room_past_a_short_packets_end_reads_zeroes() {
    // A bare 14-byte IPv4 Ethernet header grown at the network layer: the
    // kernel moves 34 bytes, 20 of them from its zeroed tailroom.
    let grow = load(
        "mov %r2, 4\nmov %r3, 0\nmov %r4, 0\ncall 50\nexit",
        ProgramKind::Tc,
    );
    let mut ctx = RunContext::new();
    let mut frame = ipv4_frame(14);
    assert_eq!(grow.run_with(&mut frame, &mut ctx).unwrap().retval, 0);
    let mut expected = ipv4_frame(14);
    expected.extend([0; 4]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
}

#[test]
fn adjust_room_refuses_what_is_not_ipv4_or_ipv6() {
    let grow = load(
        "mov %r2, 4\nmov %r3, 1\nmov %r4, 0\ncall 50\nexit",
        ProgramKind::Tc,
    );
    let mut arp = ipv4_frame(64);
    arp[13] = 0x06;
    assert_eq!(retval(&grow, &arp), -524);
    let mut ipv6 = ipv4_frame(64);
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(retval(&grow, &ipv6), 0);
}

#[test]
fn repeated_growth_at_the_front_never_runs_out_of_headroom() {
    // Grow 4095 bytes at the front and cut the tail back, 40 times: more
    // than the reserve before the packet, so the frame moves back home.
    let program = load(
        "
        mov %r6, %r1
        mov %r7, 40
    again:
        mov %r1, %r6
        mov %r2, 4095
        mov %r3, 1
        mov %r4, 0
        call 50
        jne %r0, 0, fail
        mov %r1, %r6
        mov %r2, 64
        mov %r3, 0
        call 38
        jne %r0, 0, fail
        sub %r7, 1
        jne %r7, 0, again
        mov %r0, 0
        exit
    fail:
        mov %r0, 1
        exit",
        ProgramKind::Tc,
    );
    let mut ctx = RunContext::new();
    let mut frame = ipv4_frame(64);
    assert_eq!(program.run_with(&mut frame, &mut ctx).unwrap().retval, 0);
    // The Ethernet header, then zeroes: the room pushed in front of the
    // IPv4 header each time.
    let mut expected = ipv4_frame(14);
    expected.extend([0; 50]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
}

#[test]
fn vlan_helpers_charge_the_bytes_they_move() {
    // Push twice: the second moves the 12 MAC bytes and writes 4.
    let push = load(
        "
        mov %r6, %r1
        mov %r2, 0x81
        mov %r3, 1
        call 18
        mov %r1, %r6
        mov %r2, 0x81
        mov %r3, 2
        call 18
        exit",
        ProgramKind::Tc,
    );
    assert_eq!(retval(&push, &ipv4_frame(64)), 0);
    assert_eq!(charged(&push, &ipv4_frame(64)), 2);
    // Popping a held tag moves nothing.
    let pop = load(
        "mov %r6, %r1\nmov %r2, 0x81\nmov %r3, 1\ncall 18\nmov %r1, %r6\ncall 19\nexit",
        ProgramKind::Tc,
    );
    assert_eq!(charged(&pop, &ipv4_frame(64)), 0);
}

#[test]
fn xdp_fragments_charge_what_they_grow() {
    let grow = load("mov %r2, 100\ncall 65\nexit", ProgramKind::Xdp);
    let big = ipv4_frame(5000);
    assert_eq!(retval(&grow, &big), 0);
    assert_eq!(charged(&grow, &big), 13);
    // The fragment's page is 4096 bytes: 1480 used, 2616 more fit.
    let too_far = load("mov %r2, 2617\ncall 65\nexit", ProgramKind::Xdp);
    assert_eq!(retval(&too_far, &big), -22);
    let fits = load("mov %r2, 2616\ncall 65\nexit", ProgramKind::Xdp);
    assert_eq!(retval(&fits, &big), 0);
    // Shrinking below an Ethernet header: -EINVAL.
    let cut = load("mov %r2, -4987\ncall 65\nexit", ProgramKind::Xdp);
    assert_eq!(retval(&cut, &big), -22);
    let cut = load("mov %r2, -4986\ncall 65\nexit", ProgramKind::Xdp);
    assert_eq!(retval(&cut, &big), 0);
    // get_buff_len counts the fragments.
    let len = load("call 188\nexit", ProgramKind::Xdp);
    assert_eq!(retval(&len, &big), 5000);
    assert_eq!(retval(&len, &ipv4_frame(64)), 64);
}

#[test]
fn raw_memory_programs_may_call_any_helper() {
    // The availability check is for packet program types only; the helper
    // itself then refuses to run without a packet.
    let program = load("call 188\nexit", ProgramKind::Memory);
    assert!(program.run(&mut [0u8; 16]).is_err());
}

#[test]
fn vlan_pop_of_a_tag_the_packet_is_too_short_for_is_enomem() {
    let pop = load("call 19\nexit", ProgramKind::Tc);
    // EtherType 802.1Q but only 17 bytes: the tag needs 18.
    let mut short = vec![0u8; 17];
    short[12..14].copy_from_slice(&[0x81, 0x00]);
    assert_eq!(retval(&pop, &short), -12);
    short.push(0);
    assert_eq!(retval(&pop, &short), 0);
    // Nothing to pop: 0, the packet unchanged.
    assert_eq!(retval(&pop, &ipv4_frame(64)), 0);
}

#[test]
fn change_tail_stops_at_the_network_header() {
    // After change_head(4) the network header is 18 bytes in: 17 is too
    // short, 18 fits.
    let program = |len: i32| {
        load(
            &format!(
                "mov %r6, %r1\nmov %r2, 4\nmov %r3, 0\ncall 43\nmov %r1, %r6\nmov %r2, {len}\nmov %r3, 0\ncall 38\nexit"
            ),
            ProgramKind::Tc,
        )
    };
    assert_eq!(retval(&program(17), &ipv4_frame(64)), -22);
    assert_eq!(retval(&program(18), &ipv4_frame(64)), 0);
}
