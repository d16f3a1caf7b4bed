//! The disassembler: canonical text, raw `.insn` lines for invalid slots,
//! never a panic, and re-assembly to identical bytes for any slot sequence.

use tinybpf_vm::isa::asm::assemble;
use tinybpf_vm::isa::disasm::{SymbolResolver, disassemble, disassemble_one, disassemble_with};
use tinybpf_vm::isa::insn::{Insn, decode_all};

/// Texts that are already in the disassembler's canonical form.
const CANONICAL: &[&str] = &[
    "mov %r0, 1",
    "mov %r0, -1",
    "mov %r1, %r2",
    "mov32 %r0, 0x80000000",
    "add %r1, 65535",
    "add %r1, 0x10000",
    "sub32 %r9, %r10",
    "sdiv %r1, 3",
    "sdiv32 %r1, %r2",
    "smod %r1, -3",
    "mod32 %r1, %r2",
    "neg %r1",
    "neg32 %r2",
    "movsx864 %r0, %r1",
    "movsx1664 %r0, %r1",
    "movsx3264 %r0, %r1",
    "movsx832 %r2, %r1",
    "movsx1632 %r2, %r1",
    "le16 %r0",
    "be64 %r3",
    "bswap32 %r1",
    "lddw %r0, 0x1122334455667788",
    "lddw %r0, 0x0",
    "lddw %r1, map_fd:3",
    "lddw %r1, map_idx:0",
    "lddw %r2, map_value:3+8",
    "lddw %r2, map_idx_value:1-4",
    "lddw %r2, map_idx_value:0+0",
    "ldxb %r0, [%r1+8]",
    "ldxh %r0, [%r1]",
    "ldxw %r2, [%r10-4]",
    "ldxdw %r0, [%r1-32768]",
    "ldxsb %r0, [%r10-1]",
    "ldxsh %r0, [%r10-2]",
    "ldxsw %r0, [%r10-4]",
    "stb [%r10-8], 7",
    "sth [%r1+2], 4660",
    "stw [%r1], -1",
    "stdw [%r10-16], 171",
    "stxb [%r10-1], %r1",
    "stxh [%r10-2], %r1",
    "stxw [%r1+4], %r2",
    "stxdw [%r10-8], %r3",
    "lock add [%r10-8], %r1",
    "lock fetch add32 [%r1+4], %r2",
    "lock or32 [%r10-8], %r1",
    "lock fetch and [%r10-8], %r1",
    "lock fetch xor32 [%r10-8], %r1",
    "lock xchg [%r10-8], %r1",
    "lock cmpxchg32 [%r10-8], %r1",
    "ja +3",
    "ja -1",
    "ja +0",
    "ja32 +70000",
    "jeq %r1, 5, +1",
    "jeq %r1, 0x80000000, +1",
    "jne32 %r1, %r2, -2",
    "jsle %r3, -1, +7",
    "jset32 %r1, 255, +1",
    "call 5",
    "call local -3",
    "call runtime 7",
    "call %r2",
    "exit",
];

#[test]
fn canonical_forms_print_back_verbatim() {
    for text in CANONICAL {
        let slots = assemble(text).unwrap_or_else(|e| panic!("`{text}`: {e}"));
        assert_eq!(disassemble(&slots), format!("{text}\n"));
    }
}

#[test]
fn aliases_print_in_canonical_form() {
    for (written, printed) in [
        ("add64 %r1, 0x10", "add %r1, 16"),
        ("neg64 %r1", "neg %r1"),
        ("swap16 %r1", "bswap16 %r1"),
        ("lock xadd [%r10-8], %r1", "lock add [%r10-8], %r1"),
        ("call helper 5", "call 5"),
        ("call helper %r3", "call %r3"),
        ("ldxb %r0, [ %r1 + 0x10 ]", "ldxb %r0, [%r1+16]"),
        ("lddw %r1, -1", "lddw %r1, 0xffffffffffffffff"),
        ("lddw %r1, 16", "lddw %r1, 0x10"),
        ("ja label\nlabel: exit", "ja +0\nexit"),
    ] {
        assert_eq!(
            disassemble(&assemble(written).unwrap()),
            format!("{printed}\n")
        );
    }
}

#[test]
fn invalid_slots_print_raw_with_the_reason() {
    for (slot, text) in [
        (
            Insn::new(0x07, 0, 1, 0, 1),
            ".insn 0x07, 0, 1, 0, 1 # invalid: unused src field is set",
        ),
        (
            Insn::new(0x07, 0, 0, 1, 1),
            ".insn 0x07, 0, 0, 1, 1 # invalid: unused off field is set",
        ),
        (
            Insn::new(0x37, 0, 0, 2, 1),
            ".insn 0x37, 0, 0, 2, 1 # invalid: division offset is not 0 (unsigned) or 1 (signed)",
        ),
        (
            Insn::new(0xbf, 0, 1, 1, 0),
            ".insn 0xbf, 0, 1, 1, 0 # invalid: movsx width is not 8, 16 or (64-bit only) 32",
        ),
        (
            Insn::new(0xbc, 0, 1, 32, 0),
            ".insn 0xbc, 0, 1, 32, 0 # invalid: movsx width is not 8, 16 or (64-bit only) 32",
        ),
        (
            Insn::new(0xb7, 11, 0, 0, 0),
            ".insn 0xb7, 11, 0, 0, 0 # invalid: register field above 10",
        ),
        (
            Insn::new(0xe7, 0, 0, 0, 0),
            ".insn 0xe7, 0, 0, 0, 0 # invalid: unknown arithmetic operation",
        ),
        (
            Insn::new(0x8c, 0, 0, 0, 0),
            ".insn 0x8c, 0, 0, 0, 0 # invalid: neg has no register form",
        ),
        (
            Insn::new(0xd4, 0, 0, 0, 8),
            ".insn 0xd4, 0, 0, 0, 8 # invalid: byte-order width is not 16, 32 or 64",
        ),
        (
            Insn::new(0xdf, 0, 0, 0, 16),
            ".insn 0xdf, 0, 0, 0, 16 # invalid: byte swap has no register form",
        ),
        (
            Insn::new(0x95, 0, 0, 0, 1),
            ".insn 0x95, 0, 0, 0, 1 # invalid: unused field of exit is set",
        ),
        (
            Insn::new(0x96, 0, 0, 0, 0),
            ".insn 0x96, 0, 0, 0, 0 # invalid: unknown exit form",
        ),
        (
            Insn::new(0x86, 0, 0, 0, 0),
            ".insn 0x86, 0, 0, 0, 0 # invalid: call is not a 32-bit jump",
        ),
        (
            Insn::new(0x85, 0, 3, 0, 0),
            ".insn 0x85, 0, 3, 0, 0 # invalid: unknown call source",
        ),
        (
            Insn::new(0x8d, 1, 0, 0, 1),
            ".insn 0x8d, 1, 0, 0, 1 # invalid: unused field of callx is set",
        ),
        (
            Insn::new(0x0d, 0, 0, 0, 0),
            ".insn 0x0d, 0, 0, 0, 0 # invalid: ja has no register form",
        ),
        (
            Insn::new(0x06, 0, 0, 1, 0),
            ".insn 0x06, 0, 0, 1, 0 # invalid: unused field of ja32 is set",
        ),
        (
            Insn::new(0xe5, 0, 0, 0, 0),
            ".insn 0xe5, 0, 0, 0, 0 # invalid: unknown jump operation",
        ),
        (
            Insn::new(0x99, 0, 1, 0, 0),
            ".insn 0x99, 0, 1, 0, 0 # invalid: unknown load mode",
        ),
        (
            Insn::new(0x20, 0, 0, 0, 0),
            ".insn 0x20, 0, 0, 0, 0 # invalid: legacy packet loads and unknown loads are not supported",
        ),
        (
            Insn::new(0xc2, 0, 0, 0, 0),
            ".insn 0xc2, 0, 0, 0, 0 # invalid: unknown store mode",
        ),
        (
            Insn::new(0xd3, 1, 2, 0, 0),
            ".insn 0xd3, 1, 2, 0, 0 # invalid: atomic operations are 32 or 64 bits wide",
        ),
        (
            Insn::new(0xdb, 1, 2, 0, 0xe0),
            ".insn 0xdb, 1, 2, 0, 224 # invalid: unknown atomic operation",
        ),
        (
            Insn::new(0xdb, 1, 2, 0, 0x02),
            ".insn 0xdb, 1, 2, 0, 2 # invalid: unknown atomic operation",
        ),
        (
            Insn::new(0x18, 0, 0, 0, 0),
            ".insn 0x18, 0, 0, 0, 0 # invalid: lddw without its second slot",
        ),
        (
            Insn::new(0x00, 0, 0, 0, 7),
            ".insn 0x00, 0, 0, 0, 7 # invalid: legacy packet loads and unknown loads are not supported",
        ),
    ] {
        assert_eq!(disassemble_one(&[slot], 0), (text.to_string(), 1));
        assert_eq!(assemble(text).unwrap(), [slot], "`{text}`");
    }
}

#[test]
fn lddw_needs_a_clean_second_slot() {
    let first = Insn::new(0x18, 1, 0, 0, 1);
    for second in [
        Insn::new(0x95, 0, 0, 0, 0),
        Insn::new(0, 1, 0, 0, 0),
        Insn::new(0, 0, 1, 0, 0),
        Insn::new(0, 0, 0, 1, 0),
    ] {
        let (text, used) = disassemble_one(&[first, second], 0);
        assert_eq!(used, 1, "{second:?}");
        assert!(
            text.ends_with("the slot after lddw is not its second half"),
            "{text}"
        );
    }
    for (src, high) in [(1, 1), (5, 1), (4, 1), (3, 0), (7, 0), (15, 0)] {
        let (text, used) = disassemble_one(
            &[Insn::new(0x18, 1, src, 0, 1), Insn::new(0, 0, 0, 0, high)],
            0,
        );
        assert_eq!(used, 1, "src {src}");
        assert!(text.starts_with(".insn 0x18"), "{text}");
    }
    let (text, used) = disassemble_one(&[Insn::new(0x18, 1, 0, 1, 1), Insn::default()], 0);
    assert_eq!(
        (text.ends_with("unused off field of lddw is set"), used),
        (true, 1)
    );
}

#[test]
fn out_of_range_pc_and_hand_built_fields_do_not_panic() {
    assert_eq!(disassemble_one(&[], 0).1, 0);
    assert_eq!(disassemble_one(&[Insn::default()], usize::MAX).1, 0);
    assert_eq!(disassemble(&[]), "");
    // Fields wider than their 4 bits cannot come from bytes, but must not panic.
    let (text, used) = disassemble_one(&[Insn::new(0xbf, 200, 255, 0, 0)], 0);
    assert!(text.starts_with(".insn 0xbf, 200, 255"));
    assert_eq!(used, 1);
}

/// Field patterns crossed with every opcode: registers valid and not,
/// offsets and immediates that select forms (widths, atomic ops, sources).
fn slot_patterns() -> Vec<Insn> {
    let registers = [
        (0, 0),
        (1, 2),
        (10, 0),
        (0, 10),
        (11, 3),
        (15, 15),
        (2, 1),
        (0, 5),
    ];
    let offsets = [0i16, 1, -1, 8, 16, 32, i16::MIN, i16::MAX];
    let immediates = [
        0i32,
        1,
        -1,
        16,
        32,
        64,
        0x40,
        0x41,
        0xe1,
        0xf1,
        0x10000,
        i32::MIN,
        i32::MAX,
    ];
    let mut slots = Vec::new();
    for opcode in 0..=255u8 {
        for &(dst, src) in &registers {
            for &off in &offsets {
                for &imm in &immediates {
                    let bytes = Insn::new(opcode, dst, src, off, imm).to_bytes();
                    slots.push(Insn::from_bytes(&bytes));
                }
            }
        }
    }
    slots
}

#[test]
fn every_opcode_and_field_pattern_round_trips() {
    let slots = slot_patterns();
    let text = disassemble(&slots);
    let again = assemble(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.len(), slots.len());
    if let Some(at) = (0..slots.len()).find(|&i| slots[i] != again[i]) {
        panic!("slot {at} changed: {:?} -> {:?}", slots[at], again[at]);
    }
    // Each slot alone as well: every line is complete in itself.
    for slot in slots.iter().step_by(7) {
        let (line, used) = disassemble_one(std::slice::from_ref(slot), 0);
        assert_eq!(used, 1);
        assert_eq!(assemble(&line).unwrap(), [*slot], "`{line}`");
    }
}

#[test]
fn every_valid_opcode_is_recognised() {
    // Opcodes of RFC 9669 (without the legacy packet loads): each must have a
    // field pattern that disassembles to something other than `.insn`.
    let valid: Vec<u8> = slot_patterns()
        .chunks(1)
        .filter(|slot| !disassemble_one(slot, 0).0.starts_with(".insn"))
        .map(|slot| slot[0].opcode)
        .collect();
    let mut expected: Vec<u8> = Vec::new();
    for class in [0x04u8, 0x07] {
        for op in (0x00..=0xc0).step_by(0x10) {
            expected.push(class | op);
            if op != 0x80 {
                expected.push(class | op | 0x08);
            }
        }
        expected.push(class | 0xd0);
    }
    expected.push(0xdc); // be (ALU | END | X)
    for class in [0x05u8, 0x06] {
        for op in (0x10..=0x70)
            .step_by(0x10)
            .chain((0xa0..=0xd0).step_by(0x10))
        {
            expected.extend([class | op, class | op | 0x08]);
        }
    }
    expected.extend([0x05, 0x06, 0x85, 0x8d, 0x95]);
    for size in [0x00u8, 0x08, 0x10, 0x18] {
        expected.extend([0x61 | size, 0x62 | size, 0x63 | size]);
    }
    expected.extend([0x81, 0x89, 0x91, 0xc3, 0xdb]);
    expected.sort_unstable();
    let mut found = valid;
    found.sort_unstable();
    found.dedup();
    assert_eq!(found, expected);
    // lddw needs its second slot to be recognised.
    let lddw = [Insn::new(0x18, 1, 0, 0, 1), Insn::default()];
    assert_eq!(disassemble_one(&lddw, 0), ("lddw %r1, 0x1".to_string(), 2));
}

#[test]
fn lddw_pairs_round_trip_with_every_source() {
    let mut slots = Vec::new();
    for src in 0..16u8 {
        for (first_imm, second_imm) in [(0, 0), (3, 8), (-1, -4), (i32::MIN, i32::MAX)] {
            slots.push(Insn::new(0x18, 2, src, 0, first_imm));
            slots.push(Insn::new(0, 0, 0, 0, second_imm));
        }
    }
    // A dangling lddw at the very end.
    slots.push(Insn::new(0x18, 0, 0, 0, 0));
    let text = disassemble(&slots);
    assert_eq!(assemble(&text).unwrap(), slots, "{text}");
}

#[test]
fn arbitrary_byte_programs_round_trip() {
    // A simple deterministic generator: no dependency needed.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut bytes = Vec::new();
    for _ in 0..40_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    // Bias some opcodes towards lddw so that pairs occur.
    for chunk in bytes.chunks_mut(8 * 5) {
        chunk[0] = 0x18;
    }
    let slots = decode_all(&bytes).unwrap();
    let text = disassemble(&slots);
    assert_eq!(assemble(&text).unwrap(), slots);
}

struct Names;

impl SymbolResolver for Names {
    fn map_name(&self, lddw_src: u8, imm: i32) -> Option<String> {
        match (lddw_src, imm) {
            (1, 4) => Some("events".into()),
            (2, 4) | (6, 0) => Some(".rodata".into()),
            _ => None,
        }
    }

    fn helper_name(&self, id: i32) -> Option<String> {
        (id == 5).then(|| "ktime_get_ns".into())
    }
}

#[test]
fn symbol_names_replace_numbers_where_known() {
    let program = assemble(
        "lddw %r1, map_fd:4
         lddw %r1, map_fd:5
         lddw %r2, map_value:4-8
         lddw %r2, map_idx_value:0+0
         lddw %r2, map_idx_value:0+16
         lddw %r3, map_idx_value:1+16
         call 5
         call 6",
    )
    .unwrap();
    assert_eq!(
        disassemble_with(&program, &Names),
        "lddw %r1, map:events
lddw %r1, map_fd:5
lddw %r2, .rodata-8
lddw %r2, .rodata
lddw %r2, .rodata+16
lddw %r3, map_idx_value:1+16
call 5 # ktime_get_ns
call 6
"
    );
    // Without names the same program prints re-assemblable text.
    assert_eq!(assemble(&disassemble(&program)).unwrap(), program);
}
