//! The packet helpers of issue 9's second half, run from compiled C
//! programs with the kernel's test-run context: `bpf_skb_adjust_room`
//! (testdata/tc_room.c), `bpf_skb_vlan_push`/`pop` (tc_vlan.c), XDP
//! fragments (xdp_frags.c), and the helpers each program type may call
//! (helper_types.c). The expected values are worked out in the C sources'
//! comments and testdata/EXPECTED.md.

mod common;

use common::{describe, hex, load, ok, testdata, values};

use tinybpf::loader::LoadErrorKind;
use tinybpf::vm::{InvalidInsn, ProgramKind, RunContext};
use tinybpf::{Error, Object, default_packet};

const EINVAL: i64 = -22;
const EFAULT: i64 = -14;
const ENOMEM: i64 = -12;
const EALREADY: i64 = -114;
const ENOTSUPP: i64 = -524;

/// `protocol` as a program reads it: the network-order u16.
fn wire(protocol: u16) -> i64 {
    i64::from(protocol.to_be())
}

#[test]
fn adjust_room_moves_the_headers_and_checks_like_the_kernel() {
    let object = Object::open(testdata("tc_room.o")).unwrap();
    let mut ctx = RunContext::new();
    let outcome = load(&object, "room_ipv4")
        .run_with(&mut default_packet(), &mut ctx)
        .unwrap();
    assert_eq!(outcome.retval, 0);
    assert_eq!(
        values(&object, "results", 16),
        [
            0,
            0,
            0,
            EINVAL,
            EFAULT,
            ENOTSUPP,
            EINVAL,
            ENOTSUPP,
            EINVAL,
            0,
            0,
            EALREADY,
            ENOTSUPP,
            EINVAL,
            84,
            wire(0x0800)
        ]
    );
    let frame = default_packet();
    let mut expected = frame[..14].to_vec();
    expected.push(0x45);
    expected.extend([0; 19]);
    expected.extend(&frame[14..]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
    insta::assert_snapshot!("room_ipv4_1_run", describe(outcome.retval, &ctx));
}

#[test]
fn adjust_room_encapsulation_changes_the_protocol() {
    let object = Object::open(testdata("tc_room.o")).unwrap();
    let mut ctx = RunContext::new();
    load(&object, "room_6in4")
        .run_with(&mut default_packet(), &mut ctx)
        .unwrap();
    assert_eq!(
        values(&object, "results", 6),
        [0, wire(0x86dd), 0, wire(0x0800), 64, ENOTSUPP]
    );
    assert_eq!(ctx.packet.bytes(), default_packet().as_slice());
}

#[test]
fn adjust_room_grows_after_the_headers_of_the_mac_and_network_layers() {
    // A frame with bytes 0..64 numbered, to see what moved where.
    let object = Object::open(testdata("tc_room.o")).unwrap();
    let mut frame = default_packet();
    for (i, b) in frame.iter_mut().enumerate().skip(34) {
        *b = i as u8;
    }
    let mut ctx = RunContext::new();
    load(&object, "room_ipv4")
        .run_with(&mut frame.clone(), &mut ctx)
        .unwrap();
    // Everything after the Ethernet header moved 20 bytes on, intact.
    let out = ctx.packet.bytes();
    assert_eq!(&out[34..], &frame[14..]);
    assert_eq!(&out[..14], &frame[..14]);
}

#[test]
fn vlan_tags_are_held_beside_the_packet_and_pushed_into_it() {
    let object = Object::open(testdata("tc_vlan.o")).unwrap();
    let mut ctx = RunContext::new();
    let outcome = load(&object, "vlan")
        .run_with(&mut default_packet(), &mut ctx)
        .unwrap();
    assert_eq!(outcome.retval, 0);
    let (q, ad) = (wire(0x8100), wire(0x88a8));
    assert_eq!(
        values(&object, "results", 28),
        [
            0, // no tag
            0,
            1,
            100,
            q,
            64, // pushed and held
            0,
            68,
            q, // the held tag into the packet
            0,
            q,
            300,
            72,
            ad, // an unknown protocol is 802.1Q
            0,
            200,
            ad,
            68, // pop: the packet's 802.1AD tag is held
            0,
            100,
            64,
            wire(0x0800), // pop: the 802.1Q tag is held
            0,
            0, // pop: no tag left
            0, // pop: nothing to do
            0,
            0,
            7, // two pushes: TCI 5 in the packet, 7 held
        ]
    );
    let frame = default_packet();
    let mut expected = frame[..12].to_vec();
    expected.extend([0x81, 0x00, 0x00, 0x05]);
    expected.extend(&frame[12..]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
    insta::assert_snapshot!("vlan_1_run", describe(outcome.retval, &ctx));
}

#[test]
fn vlan_pop_takes_a_tag_out_of_a_tagged_frame() {
    let object = Object::open(testdata("tc_vlan.o")).unwrap();
    let frame = default_packet();
    let mut tagged = frame[..12].to_vec();
    tagged.extend([0x81, 0x00, 0x20, 0x2a]);
    tagged.extend(&frame[12..]);
    let mut ctx = RunContext::new();
    load(&object, "vlan_pop_input")
        .run_with(&mut tagged, &mut ctx)
        .unwrap();
    // Out of the packet; no second tag, so none is held.
    assert_eq!(values(&object, "results", 3), [0, 0, wire(0x0800)]);
    assert_eq!(ctx.packet.bytes(), frame.as_slice());

    // Two tags: the outer goes, the inner is held (TCI 0x02a).
    let mut double = frame[..12].to_vec();
    double.extend([0x88, 0xa8, 0x00, 0x07, 0x81, 0x00, 0x00, 0x2a]);
    double.extend(&frame[12..]);
    load(&object, "vlan_pop_input")
        .run_with(&mut double, &mut ctx)
        .unwrap();
    assert_eq!(values(&object, "results", 3), [0, 0x2a, wire(0x0800)]);
    assert_eq!(ctx.packet.bytes(), frame.as_slice());

    // A tagged EtherType in a frame too short for the tag: -ENOMEM.
    let mut short = frame[..12].to_vec();
    short.extend([0x81, 0x00, 0x00]);
    load(&object, "vlan_pop_input")
        .run_with(&mut short, &mut ctx)
        .unwrap();
    assert_eq!(values(&object, "results", 3), [ENOMEM, 0, wire(0x8100)]);
    assert_eq!(ctx.packet.bytes(), short.as_slice());
}

/// A packet of `len` bytes, byte i = i % 251, an Ethernet header first.
fn numbered(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn xdp_frags_split_the_packet_as_the_kernels_test_run() {
    let object = Object::open(testdata("xdp_frags.o")).unwrap();
    let program = load(&object, "frags");
    assert_eq!(program.kind(), ProgramKind::Xdp);
    let input = numbered(5000);
    let mut ctx = RunContext::new();
    let outcome = program.run_with(&mut input.clone(), &mut ctx).unwrap();
    assert_eq!(outcome.retval, 2);
    let across = u64::from_le_bytes(input[3516..3524].try_into().unwrap()) as i64;
    assert_eq!(
        values(&object, "results", 11),
        [5000, 3520, 0, across, EINVAL, 0, 4000, 0, EINVAL, 0, 4100]
    );
    let mut expected = input[..4000].to_vec();
    expected[3990..3998].copy_from_slice(b"TAILMARK");
    expected.extend([0; 100]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
    // data_end is the linear part's end.
    let context = format!("{:?}", ctx.context_out());
    assert!(context.contains("data: 0, data_end: 3520"), "{context}");
}

#[test]
fn xdp_frags_shrink_frees_fragments_then_cuts_the_linear_part() {
    let object = Object::open(testdata("xdp_frags.o")).unwrap();
    let mut ctx = RunContext::new();
    let input = numbered(9000);
    load(&object, "frags_free")
        .run_with(&mut input.clone(), &mut ctx)
        .unwrap();
    assert_eq!(values(&object, "results", 3), [0, 3000, 3000]);
    assert_eq!(ctx.packet.bytes(), &input[..3000]);
}

#[test]
fn xdp_packets_past_the_fragment_limit_are_refused() {
    let object = Object::open(testdata("xdp_frags.o")).unwrap();
    let program = load(&object, "frags_free");
    let limit = 3520 + 17 * 4096;
    assert!(program.run(&mut numbered(limit)).is_ok());
    let err = program.run(&mut numbered(limit + 1)).unwrap_err();
    assert!(err.to_string().contains(&limit.to_string()), "{err}");
}

#[test]
fn helpers_a_program_type_lacks_are_load_errors() {
    let object = Object::open(testdata("helper_types.o")).unwrap();
    for (program, id, kind, name) in [
        ("xdp_skb_load", 26, ProgramKind::Xdp, "bpf_skb_load_bytes"),
        ("tc_adjust_head", 44, ProgramKind::Tc, "bpf_xdp_adjust_head"),
        ("tc_redirect_map", 51, ProgramKind::Tc, "bpf_redirect_map"),
        (
            "socket_store",
            9,
            ProgramKind::SocketFilter,
            "bpf_skb_store_bytes",
        ),
        ("cg_redirect", 23, ProgramKind::CgroupSkb, "bpf_redirect"),
    ] {
        let err = object.program(program).unwrap_err();
        let Error::Object(load) = &err else {
            panic!("{program}: {err}");
        };
        let LoadErrorKind::InvalidInstruction { source, .. } = &load.kind else {
            panic!("{program}: {load}");
        };
        assert_eq!(
            **source,
            InvalidInsn::HelperNotOffered { id, kind },
            "{program}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "calls {name} ({id}), which {} programs cannot call",
                kind.name()
            )),
            "{message}"
        );
    }
    let program = load(&object, "socket_load");
    assert_eq!(program.kind(), ProgramKind::SocketFilter);
    program.run(&mut default_packet()).unwrap();
}

#[test]
fn vlan_state_carries_over_repeated_runs_as_the_skb_does() {
    // The kernel's test run repeats over one skb: the second run starts
    // with TCI 7 held and the 802.1Q tag with TCI 5 in the packet.
    let object = Object::open(testdata("tc_vlan.o")).unwrap();
    let mut ctx = RunContext::new();
    let run = load(&object, "vlan")
        .test_run(&default_packet(), 2, &mut ctx)
        .unwrap();
    let (q, ad) = (wire(0x8100), wire(0x88a8));
    assert_eq!(
        values(&object, "results", 28),
        [
            1, // the tag the first run left held
            0, 1, 100, q, 72, // TCI 7 into the packet, 100 held
            0, 76, q, //
            0, q, 300, 80, ad, //
            0, 200, ad, 76, // pop: 88a8/200 back out of the packet
            0, 100, 72, q, // pop: 100 held, tag 7 next in the packet
            0, 1, // pop: tag 7 held, tag 5 next
            0, // pop: tag 5 held, IPv4 next
            0, 0, 7,
        ]
    );
    let frame = default_packet();
    let mut expected = frame[..12].to_vec();
    expected.extend([0x81, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x05]);
    expected.extend(&frame[12..]);
    assert_eq!(run.data_out, expected);
}

#[test]
fn the_cli_prints_the_packet_the_kernel_returns() {
    // JSON: the tagged frame of tc_vlan.
    let json = ok(&["run", &testdata("tc_vlan.o"), "--program", "vlan", "--json"]);
    let frame = default_packet();
    let mut expected = frame[..12].to_vec();
    expected.extend([0x81, 0x00, 0x00, 0x05]);
    expected.extend(&frame[12..]);
    assert!(
        json.contains(&format!("\"packet\": \"{}\"", hex(&expected))),
        "{json}"
    );
    // A 5000-byte XDP packet in fragments: --packet-out writes the whole
    // frame, 4100 bytes after the program's tail changes.
    let dir = std::env::temp_dir().join(format!("tinybpf-frags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.bin"), dir.join("out.bin"));
    std::fs::write(&input, numbered(5000)).unwrap();
    let table = ok(&[
        "run",
        &testdata("xdp_frags.o"),
        "--program",
        "frags",
        "--packet",
        input.to_str().unwrap(),
        "--packet-out",
        output.to_str().unwrap(),
    ]);
    assert!(table.contains("XDP_PASS"), "{table}");
    let written = std::fs::read(&output).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(written.len(), 4100);
    assert_eq!(&written[3990..3998], b"TAILMARK");
}
