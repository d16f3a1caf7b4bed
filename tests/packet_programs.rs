//! Packet programs with their real context, as the kernel's test run gives
//! it: program types from section names, XDP's packet helpers and
//! headroom, `__sk_buff` for tc, socket filter and `cgroup_skb` with the
//! kernel's access rules, the packet and context after the run, and repeats
//! that go on with them. The expected values are worked out in the C
//! sources' comments (testdata/xdp_adjust.c, tc_skb.c, skb_types.c).

mod common;

use common::{describe, load, testdata, values};

use tinybpf::loader::{LoadErrorKind, ProgramType};
use tinybpf::vm::exec::ctx::skb::SkbInput;
use tinybpf::vm::exec::ctx::{ContextOut, XdpMdOut};
use tinybpf::vm::{Access, InvalidInsn, ProgramKind, RunContext, RunError};
use tinybpf::{Error, LoadOptions, Object, default_packet};

const EINVAL: i64 = -22;
const EFAULT: i64 = -14;
const EACCES: i64 = -13;

#[test]
fn section_names_give_program_types_and_only_packet_types_run() {
    let object = Object::open(testdata("skb_types.o")).unwrap();
    let types: Vec<(String, ProgramType)> = object
        .linked()
        .programs
        .iter()
        .map(|p| (p.name.clone(), p.program_type))
        .collect();
    assert!(types.contains(&("sock_len".to_owned(), ProgramType::SocketFilter)));
    assert!(types.contains(&("cg_skb".to_owned(), ProgramType::CgroupSkb)));
    assert!(types.contains(&("bad_len".to_owned(), ProgramType::SchedCls)));
    assert!(types.contains(&("probe".to_owned(), ProgramType::Kprobe)));
    assert_eq!(load(&object, "len_in_call").kind(), ProgramKind::Tc);
    assert_eq!(load(&object, "cg_skb").kind(), ProgramKind::CgroupSkb);

    let err = object.program("probe").unwrap_err();
    assert!(matches!(
        err,
        Error::UnsupportedProgramType {
            program_type: ProgramType::Kprobe,
            ..
        }
    ));
    let message = err.to_string();
    assert!(message.contains("is a kprobe program, which tinybpf does not run"));
    assert!(message.contains("xdp, sched_cls, sched_act, socket_filter, cgroup_skb"));

    // Raw memory, asked for explicitly.
    let raw = object
        .program_with(
            "probe",
            LoadOptions {
                raw_memory: true,
                ..LoadOptions::default()
            },
        )
        .unwrap();
    assert_eq!(raw.kind(), ProgramKind::Memory);
    assert_eq!(raw.run(&mut [0u8; 8]).unwrap().retval, 0);
    assert_eq!(values(&object, "seen", 8)[6], 77);
}

#[test]
fn xdp_helpers_move_the_packet_within_the_kernels_headroom_and_frame() {
    let object = Object::open(testdata("xdp_adjust.o")).unwrap();
    let program = load(&object, "xdp_adjust");
    let mut ctx = RunContext::new();
    let mut packet = default_packet();
    let outcome = program.run_with(&mut packet, &mut ctx).unwrap();
    assert_eq!(outcome.retval, 3); // XDP_TX
    assert_eq!(
        values(&object, "results", 15),
        [
            EINVAL, EINVAL, 0, EACCES, EINVAL, 0, EINVAL, EINVAL, 0, 74, 0, 2, EINVAL, 0, EFAULT
        ]
    );
    let mut expected = vec![0xef, 0xbe, 0xad, 0xde];
    expected.extend_from_slice(b"TBPF");
    expected.extend_from_slice(&default_packet());
    expected[8] = 0xaa;
    expected.extend_from_slice(&[0; 6]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
    assert_eq!(
        ctx.context_out(),
        Some(ContextOut::Xdp(XdpMdOut {
            data: 4,
            data_end: 78,
            data_meta: 0,
            ingress_ifindex: 1,
            rx_queue_index: 0
        }))
    );
    // The caller's buffer keeps its length, so it is left as it was.
    assert_eq!(packet, default_packet());
    insta::assert_snapshot!("xdp_adjust_1_run", describe(outcome.retval, &ctx));
}

#[test]
fn xdp_repeats_go_on_with_the_packet_and_its_pointers() {
    let object = Object::open(testdata("xdp_adjust.o")).unwrap();
    let program = load(&object, "xdp_adjust");
    let mut ctx = RunContext::new();
    let run = program.test_run(&default_packet(), 2, &mut ctx).unwrap();
    // Run 2 starts with meta 248, data 252, data_end 326 in the buffer:
    // adjust_head(51) now fits, adjust_meta(4) empties the metadata, and
    // the packet ends 33 bytes after data (see xdp_adjust.c).
    assert_eq!(
        values(&object, "results", 15),
        [
            EINVAL, 0, 0, EACCES, 0, 0, EINVAL, EINVAL, 0, 33, 0, 0, EINVAL, 0, EFAULT
        ]
    );
    let mut expected = vec![0xef, 0xbe, 0xad, 0xde, b'T', b'B', b'P', b'F', 0xaa];
    expected.resize(37, 0);
    assert_eq!(run.data_out, expected);
    assert!(!ctx.carry_packet, "test_run restores the caller's setting");
    assert!(
        ctx.packet_to_input,
        "test_run restores the caller's setting"
    );
}

#[test]
fn tc_gets_the_sk_buff_the_kernel_builds_and_its_helpers() {
    let object = Object::open(testdata("tc_skb.o")).unwrap();
    let program = load(&object, "tc_skb");
    let mut ctx = RunContext::new();
    let outcome = program.run_with(&mut default_packet(), &mut ctx).unwrap();
    assert_eq!(outcome.retval, 0);
    // len, protocol, pkt_type (OTHERHOST), ifindex, ingress_ifindex, mark,
    // data_end - data, cb[2], tc_classid (as a u16), queue_mapping
    assert_eq!(
        values(&object, "fields", 10),
        [64, 0x0008, 3, 1, 0, 0, 64, 0, 2, 3]
    );
    assert_eq!(
        values(&object, "results", 10),
        [0, EFAULT, 0, EINVAL, 0, 0, EFAULT, EINVAL, 0, 0x0200_000a]
    );
    // 10.0.0.2 -> 10.0.0.3, both checksums (0 in the frame) updated by the
    // difference: 0xfeff as it lies in memory (ff fe).
    let mut expected = default_packet();
    expected[33] = 3;
    expected[24..26].copy_from_slice(&[0xff, 0xfe]);
    expected[50..52].copy_from_slice(&[0xff, 0xfe]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
    let Some(ContextOut::Skb(skb)) = ctx.context_out() else {
        panic!("no __sk_buff after a tc run");
    };
    assert_eq!(
        (skb.mark, skb.priority, skb.cb, skb.ifindex, skb.wire_len),
        (0x42, 7, [0x11, 0, 0, 0, 0x55], 1, 0)
    );
    insta::assert_snapshot!("tc_skb_1_run", describe(outcome.retval, &ctx));
}

#[test]
fn tc_repeats_keep_mark_priority_and_cb() {
    let object = Object::open(testdata("tc_skb.o")).unwrap();
    let program = load(&object, "tc_skb");
    let mut ctx = RunContext::new();
    program.test_run(&default_packet(), 2, &mut ctx).unwrap();
    // The second run reads the mark the first wrote, and 10.0.0.3 as the
    // destination the first run stored.
    let fields = values(&object, "fields", 8);
    assert_eq!(fields[5], 0x42);
    assert_eq!(values(&object, "results", 10)[9], 0x0300_000a);
}

#[test]
fn ctx_in_sets_the_fields_user_space_may_set() {
    let object = Object::open(testdata("tc_skb.o")).unwrap();
    let program = load(&object, "tc_skb");
    let input = SkbInput {
        mark: 9,
        cb: [0, 0, 4, 0, 0],
        ..SkbInput::default()
    };
    let mut ctx = RunContext::new().with_skb_input(input);
    program.run_with(&mut default_packet(), &mut ctx).unwrap();
    let fields = values(&object, "fields", 8);
    assert_eq!((fields[5], fields[7]), (9, 4));
    // With ctx_in, a wire_len of 0 reads as the packet's length.
    let Some(ContextOut::Skb(skb)) = ctx.context_out() else {
        panic!("no __sk_buff");
    };
    assert_eq!(skb.wire_len, 64);

    for (bad, field) in [
        (
            SkbInput {
                ifindex: 2,
                ..SkbInput::default()
            },
            "ifindex",
        ),
        (
            SkbInput {
                wire_len: 63,
                ..SkbInput::default()
            },
            "wire_len",
        ),
    ] {
        let mut ctx = RunContext::new().with_skb_input(bad);
        match program.run_with(&mut default_packet(), &mut ctx) {
            Err(Error::Run {
                source: RunError::ContextInput { field: f, .. },
                ..
            }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn socket_filters_and_cgroup_skb_start_at_the_network_header() {
    let object = Object::open(testdata("skb_types.o")).unwrap();
    let mut ctx = RunContext::new();
    let outcome = load(&object, "sock_len")
        .run_with(&mut default_packet(), &mut ctx)
        .unwrap();
    assert_eq!(outcome.retval, 50);
    assert_eq!(values(&object, "seen", 4), [50, 0, 0x45, 0x0008]);
    // The whole frame comes back, from the MAC header.
    assert_eq!(ctx.packet.bytes(), default_packet().as_slice());
    let Some(ContextOut::Skb(skb)) = ctx.context_out() else {
        panic!("no __sk_buff");
    };
    assert_eq!(skb.cb, [0, 9, 0, 0, 0]);

    let outcome = load(&object, "cg_skb")
        .run_with(&mut default_packet(), &mut ctx)
        .unwrap();
    assert_eq!(outcome.retval, 1);
    assert_eq!(values(&object, "seen", 6)[4..], [6, 50]);
    assert_eq!(values(&object, "seen", 9)[7..], [2, 0x0200_000a]);
    let Some(ContextOut::Skb(skb)) = ctx.context_out() else {
        panic!("no __sk_buff");
    };
    assert_eq!(skb.mark, 5);
}

#[test]
fn refused_context_accesses_are_load_errors_naming_the_field() {
    let object = Object::open(testdata("skb_types.o")).unwrap();
    for (program, field, offset, kind) in [
        ("bad_len", "len", 0u16, ProgramKind::Tc),
        ("bad_mark", "mark", 8, ProgramKind::SocketFilter),
    ] {
        let err = object.program(program).unwrap_err();
        let Error::Object(load) = &err else {
            panic!("{program}: {err}");
        };
        let LoadErrorKind::InvalidInstruction { source, .. } = &load.kind else {
            panic!("{program}: {load}");
        };
        assert!(
            matches!(
                **source,
                InvalidInsn::ContextAccess { field: f, offset: o, access: Access::Write, kind: k, .. }
                    if f == field && o == offset && k == kind
            ),
            "{program}: {source:?}"
        );
        assert!(err.to_string().contains(&format!(
            "write of 4 bytes at __sk_buff offset {offset} ({field}) is refused for {} programs: read-only",
            kind.name()
        )));
    }
}

#[test]
fn refused_context_accesses_the_load_cannot_place_fault_naming_the_field() {
    let object = Object::open(testdata("skb_types.o")).unwrap();
    let mut packet = default_packet();
    let err = load(&object, "len_in_call").run(&mut packet).unwrap_err();
    let Error::Run { source, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        matches!(
            source,
            RunError::ContextAccess {
                field: "len",
                offset: 0,
                size: 4,
                access: Access::Write,
                kind: ProgramKind::Tc,
                ..
            }
        ),
        "{source:?}"
    );
    assert!(
        err.to_string()
            .contains("(len) is refused for sched_cls programs")
    );
    // Nothing landed on the packet.
    assert_eq!(packet, default_packet());
}

#[test]
fn packets_shorter_than_an_ethernet_header_are_refused() {
    let object = Object::open(testdata("tc_skb.o")).unwrap();
    let err = load(&object, "tc_skb").run(&mut [0u8; 13]).unwrap_err();
    assert!(matches!(
        err,
        Error::Run {
            source: RunError::PacketTooShort { len: 13, min: 14 },
            ..
        }
    ));
}

#[test]
fn tc_packets_grow_and_shrink_with_change_tail_and_change_head() {
    let object = Object::open(testdata("tc_resize.o")).unwrap();
    let program = load(&object, "tc_resize");
    let mut ctx = RunContext::new();
    let outcome = program.run_with(&mut default_packet(), &mut ctx).unwrap();
    assert_eq!(outcome.retval, 0);
    assert_eq!(
        values(&object, "results", 9),
        [0, EINVAL, EINVAL, EINVAL, 0, EINVAL, EINVAL, 74, 2]
    );
    let mut expected = b"HEAD".to_vec();
    expected.extend(default_packet());
    expected.extend([0; 6]);
    assert_eq!(ctx.packet.bytes(), expected.as_slice());
    // Repeated, the second run grows the 74-byte packet the first left:
    // the tail is cut back to 70, then 4 more bytes are pushed.
    let run = program.test_run(&default_packet(), 2, &mut ctx).unwrap();
    assert_eq!(run.data_out.len(), 74);
    assert_eq!(&run.data_out[..8], b"HEADHEAD");
}

#[test]
fn skb_packets_longer_than_a_page_allows_are_refused() {
    let object = Object::open(testdata("tc_skb.o")).unwrap();
    let err = load(&object, "tc_skb").run(&mut [0u8; 3713]).unwrap_err();
    assert!(matches!(
        err,
        Error::Run {
            source: RunError::InputTooLarge {
                len: 3713,
                limit: 3712
            },
            ..
        }
    ));
    assert!(load(&object, "tc_skb").run(&mut [0u8; 3712]).is_ok());
}
