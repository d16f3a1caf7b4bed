//! Every syntax form of the assembler with a hand-checked encoding, and
//! every kind of error with its line number.

use tinybpf_vm::isa::asm::{AsmError, assemble, assemble_bytes};
use tinybpf_vm::isa::insn::Insn;

/// Parses "b7 00 00 00 01 00 00 00 | ..." into bytes.
fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .filter(|t| *t != "|")
        .map(|t| u8::from_str_radix(t, 16).unwrap())
        .collect()
}

fn check(cases: &[(&str, &str)]) {
    for (text, bytes) in cases {
        match assemble_bytes(text) {
            Ok(got) => assert_eq!(got, hex(bytes), "`{text}`"),
            Err(e) => panic!("`{text}`: {e}"),
        }
    }
}

#[test]
fn arithmetic() {
    check(&[
        ("mov %r0, 1", "b7 00 00 00 01 00 00 00"),
        ("mov %r1, %r2", "bf 21 00 00 00 00 00 00"),
        ("mov64 %r1, %r2", "bf 21 00 00 00 00 00 00"),
        ("mov32 %r0, -1", "b4 00 00 00 ff ff ff ff"),
        ("mov32 %r3, %r4", "bc 43 00 00 00 00 00 00"),
        ("add64 %r1, 0x10", "07 01 00 00 10 00 00 00"),
        ("add %r1, -2147483648", "07 01 00 00 00 00 00 80"),
        ("add32 %r1, %r2", "0c 21 00 00 00 00 00 00"),
        ("sub %r1, 2", "17 01 00 00 02 00 00 00"),
        ("sub32 %r9, %r10", "1c a9 00 00 00 00 00 00"),
        ("mul %r1, %r2", "2f 21 00 00 00 00 00 00"),
        ("mul32 %r1, 7", "24 01 00 00 07 00 00 00"),
        ("div %r1, 3", "37 01 00 00 03 00 00 00"),
        ("div32 %r1, %r2", "3c 21 00 00 00 00 00 00"),
        ("sdiv %r1, 3", "37 01 01 00 03 00 00 00"),
        ("sdiv64 %r1, %r2", "3f 21 01 00 00 00 00 00"),
        ("sdiv32 %r1, %r2", "3c 21 01 00 00 00 00 00"),
        ("or %r1, 0x80000000", "47 01 00 00 00 00 00 80"),
        ("or32 %r1, %r2", "4c 21 00 00 00 00 00 00"),
        ("and32 %r1, 0xff", "54 01 00 00 ff 00 00 00"),
        ("and %r1, %r2", "5f 21 00 00 00 00 00 00"),
        ("lsh %r1, 63", "67 01 00 00 3f 00 00 00"),
        ("lsh32 %r1, %r2", "6c 21 00 00 00 00 00 00"),
        ("rsh %r1, 1", "77 01 00 00 01 00 00 00"),
        ("rsh32 %r1, %r2", "7c 21 00 00 00 00 00 00"),
        ("neg %r1", "87 01 00 00 00 00 00 00"),
        ("neg64 %r1", "87 01 00 00 00 00 00 00"),
        ("neg32 %r2", "84 02 00 00 00 00 00 00"),
        ("mod %r1, %r2", "9f 21 00 00 00 00 00 00"),
        ("mod32 %r1, 5", "94 01 00 00 05 00 00 00"),
        ("smod %r1, %r2", "9f 21 01 00 00 00 00 00"),
        ("smod32 %r1, -3", "94 01 01 00 fd ff ff ff"),
        ("xor %r1, %r2", "af 21 00 00 00 00 00 00"),
        ("xor32 %r1, 0xffffffff", "a4 01 00 00 ff ff ff ff"),
        ("arsh %r1, %r2", "cf 21 00 00 00 00 00 00"),
        ("arsh32 %r1, 2", "c4 01 00 00 02 00 00 00"),
    ]);
}

#[test]
fn sign_extending_moves_and_byte_order() {
    check(&[
        ("movsx864 %r0, %r1", "bf 10 08 00 00 00 00 00"),
        ("movsx1664 %r0, %r1", "bf 10 10 00 00 00 00 00"),
        ("movsx3264 %r0, %r1", "bf 10 20 00 00 00 00 00"),
        ("movsx832 %r2, %r1", "bc 12 08 00 00 00 00 00"),
        ("movsx1632 %r2, %r1", "bc 12 10 00 00 00 00 00"),
        ("le16 %r0", "d4 00 00 00 10 00 00 00"),
        ("le32 %r0", "d4 00 00 00 20 00 00 00"),
        ("le64 %r3", "d4 03 00 00 40 00 00 00"),
        ("be16 %r0", "dc 00 00 00 10 00 00 00"),
        ("be32 %r0", "dc 00 00 00 20 00 00 00"),
        ("be64 %r0", "dc 00 00 00 40 00 00 00"),
        ("bswap16 %r1", "d7 01 00 00 10 00 00 00"),
        ("bswap32 %r1", "d7 01 00 00 20 00 00 00"),
        ("bswap64 %r1", "d7 01 00 00 40 00 00 00"),
        ("swap64 %r1", "d7 01 00 00 40 00 00 00"),
    ]);
}

#[test]
fn lddw_takes_two_slots() {
    check(&[
        (
            "lddw %r0, 0x1122334455667788",
            "18 00 00 00 88 77 66 55 | 00 00 00 00 44 33 22 11",
        ),
        (
            "lddw %r1, -1",
            "18 01 00 00 ff ff ff ff | 00 00 00 00 ff ff ff ff",
        ),
        (
            "lddw %r1, 18446744073709551615",
            "18 01 00 00 ff ff ff ff | 00 00 00 00 ff ff ff ff",
        ),
        (
            "lddw %r2, 2147483648",
            "18 02 00 00 00 00 00 80 | 00 00 00 00 00 00 00 00",
        ),
        (
            "lddw %r1, map_fd:3",
            "18 11 00 00 03 00 00 00 | 00 00 00 00 00 00 00 00",
        ),
        (
            "lddw %r2, map_value:3+8",
            "18 22 00 00 03 00 00 00 | 00 00 00 00 08 00 00 00",
        ),
        (
            "lddw %r1, map_idx:0",
            "18 51 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00",
        ),
        (
            "lddw %r1, map_idx_value:1-4",
            "18 61 00 00 01 00 00 00 | 00 00 00 00 fc ff ff ff",
        ),
        (
            "lddw %r1, map_idx_value:-1+0x10",
            "18 61 00 00 ff ff ff ff | 00 00 00 00 10 00 00 00",
        ),
    ]);
}

#[test]
fn loads_and_stores() {
    check(&[
        ("ldxb %r0, [%r1+8]", "71 10 08 00 00 00 00 00"),
        ("ldxh %r0, [%r1]", "69 10 00 00 00 00 00 00"),
        ("ldxw %r2, [%r10-4]", "61 a2 fc ff 00 00 00 00"),
        ("ldxdw %r0, [%r1+0x10]", "79 10 10 00 00 00 00 00"),
        ("ldxdw %r0, [ %r1 + 32767 ]", "79 10 ff 7f 00 00 00 00"),
        ("ldxdw %r0, [%r1-32768]", "79 10 00 80 00 00 00 00"),
        ("ldxsb %r0, [%r10-1]", "91 a0 ff ff 00 00 00 00"),
        ("ldxsh %r0, [%r10-2]", "89 a0 fe ff 00 00 00 00"),
        ("ldxsw %r0, [%r10-4]", "81 a0 fc ff 00 00 00 00"),
        ("stb [%r10-8], 7", "72 0a f8 ff 07 00 00 00"),
        ("sth [%r1+2], 0x1234", "6a 01 02 00 34 12 00 00"),
        ("stw [%r1], -1", "62 01 00 00 ff ff ff ff"),
        ("stdw [%r10-16], 0xab", "7a 0a f0 ff ab 00 00 00"),
        ("stxb [%r10-1], %r1", "73 1a ff ff 00 00 00 00"),
        ("stxh [%r10-2], %r1", "6b 1a fe ff 00 00 00 00"),
        ("stxw [%r1+4], %r2", "63 21 04 00 00 00 00 00"),
        ("stxdw [%r10-8], %r3", "7b 3a f8 ff 00 00 00 00"),
    ]);
}

#[test]
fn atomics() {
    check(&[
        ("lock add [%r10-8], %r1", "db 1a f8 ff 00 00 00 00"),
        ("lock xadd [%r10-8], %r1", "db 1a f8 ff 00 00 00 00"),
        ("lock add32 [%r1+4], %r2", "c3 21 04 00 00 00 00 00"),
        ("lock fetch add [%r10-8], %r1", "db 1a f8 ff 01 00 00 00"),
        ("lock fetch add32 [%r10-8], %r1", "c3 1a f8 ff 01 00 00 00"),
        ("lock or [%r10-8], %r1", "db 1a f8 ff 40 00 00 00"),
        ("lock fetch or32 [%r10-8], %r1", "c3 1a f8 ff 41 00 00 00"),
        ("lock and [%r10-8], %r1", "db 1a f8 ff 50 00 00 00"),
        ("lock fetch and32 [%r10-4], %r3", "c3 3a fc ff 51 00 00 00"),
        ("lock xor32 [%r10-8], %r1", "c3 1a f8 ff a0 00 00 00"),
        ("lock fetch xor [%r10-8], %r1", "db 1a f8 ff a1 00 00 00"),
        ("lock xchg [%r10-8], %r1", "db 1a f8 ff e1 00 00 00"),
        ("lock xchg32 [%r10-8], %r1", "c3 1a f8 ff e1 00 00 00"),
        ("lock cmpxchg [%r10-8], %r1", "db 1a f8 ff f1 00 00 00"),
        ("lock cmpxchg32 [%r10-8], %r1", "c3 1a f8 ff f1 00 00 00"),
    ]);
}

#[test]
fn jumps_and_calls() {
    check(&[
        ("ja +3", "05 00 03 00 00 00 00 00"),
        ("ja -1", "05 00 ff ff 00 00 00 00"),
        ("ja +0x10", "05 00 10 00 00 00 00 00"),
        ("ja32 +70000", "06 00 00 00 70 11 01 00"),
        ("ja32 -1", "06 00 00 00 ff ff ff ff"),
        ("jeq %r1, 5, +1", "15 01 01 00 05 00 00 00"),
        ("jeq %r1, %r2, -2", "1d 21 fe ff 00 00 00 00"),
        ("jeq32 %r1, 5, +1", "16 01 01 00 05 00 00 00"),
        ("jgt %r1, 1, +1", "25 01 01 00 01 00 00 00"),
        ("jgt32 %r1, 0x80000000, +0", "26 01 00 00 00 00 00 80"),
        ("jge %r1, %r2, +1", "3d 21 01 00 00 00 00 00"),
        ("jset32 %r1, %r2, +1", "4e 21 01 00 00 00 00 00"),
        ("jne %r1, 0, +1", "55 01 01 00 00 00 00 00"),
        ("jsgt %r1, -1, +1", "65 01 01 00 ff ff ff ff"),
        ("jsge32 %r1, %r2, +1", "7e 21 01 00 00 00 00 00"),
        ("jlt %r1, 6, +1", "a5 01 01 00 06 00 00 00"),
        ("jle32 %r1, %r3, +1", "be 31 01 00 00 00 00 00"),
        ("jslt %r1, %r2, +1", "cd 21 01 00 00 00 00 00"),
        ("jsle %r3, -1, +7", "d5 03 07 00 ff ff ff ff"),
        ("call 5", "85 00 00 00 05 00 00 00"),
        ("call helper 6", "85 00 00 00 06 00 00 00"),
        ("call local +2", "85 10 00 00 02 00 00 00"),
        ("call local -3", "85 10 00 00 fd ff ff ff"),
        ("call runtime 7", "85 20 00 00 07 00 00 00"),
        ("call %r2", "8d 02 00 00 00 00 00 00"),
        ("call helper %r3", "8d 03 00 00 00 00 00 00"),
        ("exit", "95 00 00 00 00 00 00 00"),
        (".insn 0x07, 0, 1, 1, 1", "07 10 01 00 01 00 00 00"),
        (
            ".insn 255, 15, 15, -1, 0xffffffff",
            "ff ff ff ff ff ff ff ff",
        ),
    ]);
}

#[test]
fn labels_resolve_to_slot_distances() {
    let program = assemble(
        "top:
         add %r0, 1          # slot 0
         jne %r0, 5, top     # slot 1: back to 0
         ja end              # slot 2: over the lddw
         lddw %r1, 1         # slots 3-4
         end: call local f   # slot 5
         exit                # slot 6
         f:
         mov %r0, 1          # slot 7
         ja32 top            # slot 8
         exit",
    )
    .unwrap();
    assert_eq!(program.len(), 10);
    assert_eq!(program[1], Insn::new(0x55, 0, 0, -2, 5));
    assert_eq!(program[2], Insn::new(0x05, 0, 0, 2, 0));
    assert_eq!(program[5], Insn::new(0x85, 0, 1, 0, 1));
    assert_eq!(program[8], Insn::new(0x06, 0, 0, 0, -9));
}

#[test]
fn the_exit_label_means_the_first_exit_unless_defined() {
    let implicit = assemble("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit").unwrap();
    assert_eq!(implicit[0].off, 1);
    let explicit = assemble("jeq %r1, 0, exit\nexit\nmov %r0, 2\nexit:\nmov %r0, 3\nexit").unwrap();
    assert_eq!(explicit[0].off, 2);
    assert_eq!(
        assemble("ja exit").unwrap_err(),
        AsmError::UnknownLabel {
            line: 1,
            label: "exit".into()
        }
    );
}

#[test]
fn jumps_reach_exactly_the_edge_of_their_field() {
    let body = "exit\n".repeat(32767);
    let forward = assemble(&format!("ja far\n{body}far: exit")).unwrap();
    assert_eq!(forward[0].off, i16::MAX);
    let too_far = assemble(&format!("ja far\n{body}exit\nfar: exit")).unwrap_err();
    assert_eq!(
        too_far,
        AsmError::JumpOutOfRange {
            line: 1,
            label: "far".into(),
            distance: 32768,
            bits: 16
        }
    );
    let back = assemble(&format!("top: {body}ja top")).unwrap();
    assert_eq!(back.last().unwrap().off, i16::MIN);
    let long = assemble(&format!("ja32 far\n{body}exit\nfar: exit")).unwrap();
    assert_eq!(long[0].imm, 32768);
}

#[test]
fn comments_blank_lines_and_spacing() {
    let program = assemble(
        "# a program\n\n\tmov\t%r0,\t1   # trailing comment\nL1:   # label alone\n  exit  \n",
    )
    .unwrap();
    assert_eq!(
        program,
        [Insn::new(0xb7, 0, 0, 0, 1), Insn::new(0x95, 0, 0, 0, 0)]
    );
    assert_eq!(assemble("").unwrap(), []);
    assert_eq!(assemble("# nothing\n\n").unwrap(), []);
}

fn error(text: &str) -> AsmError {
    match assemble(text) {
        Ok(slots) => panic!("`{text}` assembled to {slots:?}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_mnemonics() {
    for text in [
        "ldxq %r0, %r1",
        "ldxsdw %r0, [%r1]",
        "be8 %r0",
        "jeq64 %r1, 1, +1",
        "neg16 %r1",
        "movsx %r0, %r1",
        "MOV %r0, 1",
        ".text",
    ] {
        let e = error(&format!("exit\n{text}"));
        assert!(
            matches!(&e, AsmError::UnknownMnemonic { line: 2, .. }),
            "`{text}`: {e:?}"
        );
    }
    assert_eq!(
        error("lock sub [%r10-8], %r1"),
        AsmError::UnknownMnemonic {
            line: 1,
            mnemonic: "lock sub".into()
        }
    );
}

#[test]
fn lock_needs_an_operation_and_fetch_only_where_it_means_something() {
    assert!(matches!(
        error("lock"),
        AsmError::MissingOperation { line: 1, .. }
    ));
    assert!(matches!(
        error("lock fetch"),
        AsmError::MissingOperation { line: 1, .. }
    ));
    assert!(matches!(
        error("lock fetch xchg [%r10-8], %r1"),
        AsmError::InvalidForm { line: 1, .. }
    ));
    assert!(matches!(
        error("lock fetch cmpxchg32 [%r10-8], %r1"),
        AsmError::InvalidForm { line: 1, .. }
    ));
}

#[test]
fn operand_counts() {
    for (text, expected, found) in [
        ("lddw %r0", 2, 1),
        ("exit %r0", 0, 1),
        ("mov %r0", 2, 1),
        ("mov %r0, 1, 2", 2, 3),
        ("neg %r0, 1", 1, 2),
        ("be16", 1, 0),
        ("jeq %r1, 1", 3, 2),
        ("ja", 1, 0),
        ("call", 1, 0),
        ("call local", 1, 0),
        ("call 1, 2", 1, 2),
        ("lock add [%r10-8]", 2, 1),
        (".insn 1, 2", 5, 2),
    ] {
        match error(text) {
            AsmError::OperandCount {
                line: 1,
                expected: e,
                found: f,
                ..
            } => assert_eq!((e, f), (expected, found), "`{text}`"),
            other => panic!("`{text}`: {other:?}"),
        }
    }
}

#[test]
fn bad_registers() {
    for (text, register) in [
        ("or %r0, %r50", "%r50"),
        ("mov %r11, 1", "%r11"),
        ("mov %r01, 1", "%r01"),
        ("mov r1, 1", "r1"),
        ("mov %R1, 1", "%R1"),
        ("mov %r, 1", "%r"),
        ("mov %r-1, 1", "%r-1"),
        ("ldxb %r0, [%r16+1]", "%r16"),
        ("ldxb %r0, [1]", "1"),
        ("stxb [%r1], 5", "5"),
        ("call %r12", "%r12"),
        ("movsx864 %r0, 1", "1"),
    ] {
        assert_eq!(
            error(text),
            AsmError::BadRegister {
                line: 1,
                text: register.into()
            },
            "`{text}`"
        );
    }
}

#[test]
fn bad_operands() {
    for text in [
        "ldxb %r0, %r1",
        "stb %r1, 1",
        "ldxb %r0, [%r1+8",
        "ldxb %r0, [%r1+]",
        "ldxb %r0, [%r1+x]",
        "mov %r0, foo",
        "mov %r0, 1.5",
        "mov %r0 1",
        "mov %r0, , 1",
        "mov %r0, 1,",
        "jeq %r1, 1, 5",
        "jeq %r1, 1, 1abc",
        "ja +x",
        "call foo",
        "call local 3",
        "lddw %r1, map_bogus:1",
        "lddw %r1, map_value:3",
        "lddw %r1, fortytwo",
    ] {
        let e = error(text);
        assert!(
            matches!(e, AsmError::BadOperand { line: 1, .. }),
            "`{text}`: {e:?}"
        );
    }
}

#[test]
fn immediates_out_of_range() {
    for text in [
        "mov32 %r0, 2147483648",
        "mov32 %r0, 0x100000000",
        "mov %r0, -2147483649",
        "mov %r0, -0x80000001",
        "stw [%r1], 99999999999999999999999999999999999999999999999",
        "jeq %r1, 4294967295, +1",
        "call 0x1ffffffff",
        "call runtime -2147483649",
        "lddw %r0, 0x10000000000000000",
        "lddw %r0, -9223372036854775809",
        "lddw %r1, map_fd:0x100000000",
        "lddw %r1, map_value:1+0x100000000",
        "ja32 +2147483648",
        "call local -2147483649",
        ".insn 256, 0, 0, 0, 0",
        ".insn 0, 16, 0, 0, 0",
        ".insn 0, 0, -1, 0, 0",
    ] {
        let e = error(text);
        assert!(
            matches!(e, AsmError::ImmOutOfRange { line: 1, .. }),
            "`{text}`: {e:?}"
        );
    }
}

#[test]
fn offsets_out_of_range() {
    for text in [
        "ldxb %r0, [%r1+0x10000]",
        "ldxb %r0, [%r1+32768]",
        "stxb [%r1-32769], %r2",
        "ja +32768",
        "jeq %r1, 1, -32769",
        ".insn 0, 0, 0, 0x8000, 0",
    ] {
        let e = error(text);
        assert!(
            matches!(e, AsmError::OffsetOutOfRange { line: 1, .. }),
            "`{text}`: {e:?}"
        );
    }
}

#[test]
fn label_errors() {
    assert_eq!(
        error("mov %r0, 0\nja nowhere\nexit"),
        AsmError::UnknownLabel {
            line: 2,
            label: "nowhere".into()
        }
    );
    assert!(matches!(
        error("call local f"),
        AsmError::UnknownLabel { line: 1, .. }
    ));
    assert_eq!(
        error("a:\nexit\na: exit"),
        AsmError::DuplicateLabel {
            line: 3,
            label: "a".into(),
            previous: 1
        }
    );
    for text in ["1a: exit", "a-b: exit", ": exit"] {
        assert!(
            matches!(error(text), AsmError::BadLabel { line: 1, .. }),
            "`{text}`"
        );
    }
}

#[test]
fn errors_name_their_line() {
    let e = error("mov %r0, 1\n\n# comment\nmov %r0, %r99\nexit");
    assert_eq!(e.line(), 4);
    assert_eq!(
        e.to_string(),
        "line 4: bad register `%r99` (expected %r0 to %r10)"
    );
}
