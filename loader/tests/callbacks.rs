//! Function references (the callbacks of `bpf_loop`): clang's `lddw` of a
//! `.text` function becomes a pseudo-func `lddw` to the function's linked
//! copy, which is linked like a called function; a reference that names no
//! function start is an error naming the instruction.

mod common;

use common::{Layout, put_u32, put_u64};
use tinybpf_loader::{LoadErrorKind, Object};
use tinybpf_vm::isa::insn::{opcode, pseudo};

fn loops() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/loops.o");
    std::fs::read(path).expect("testdata/loops.o exists")
}

fn link_err(bytes: &[u8]) -> LoadErrorKind {
    let object = Object::parse("loops.o", bytes).expect("opens");
    object.link("loops").expect_err("linking must fail").kind
}

#[test]
fn a_callback_is_linked_as_a_called_function_and_referenced_by_pseudo_func() {
    let object = Object::parse("loops.o", &loops()).unwrap();
    let linked = object.link("loops").unwrap();
    let names: Vec<&str> = linked.functions.iter().map(|f| f.name.as_str()).collect();
    // Reached only through lddw: add_index, inner_loop, and through
    // inner_loop's own reference, count_call.
    assert_eq!(names, ["loops", "add_index", "inner_loop", "count_call"]);
    let start = |name: &str| {
        linked
            .functions
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .start
    };
    let refs: Vec<(usize, usize)> = linked
        .code
        .iter()
        .enumerate()
        .filter(|(_, i)| i.opcode == opcode::LDDW && i.src == pseudo::FUNC)
        .map(|(pc, i)| (pc, (pc as i64 + 1 + i64::from(i.imm)) as usize))
        .collect();
    assert_eq!(refs.len(), 7);
    for &(pc, target) in &refs {
        assert_eq!(linked.code[pc + 1].imm, 0);
        assert!(
            [start("add_index"), start("inner_loop"), start("count_call")].contains(&target),
            "{pc} -> {target}"
        );
    }
    assert_eq!(refs[0].1, start("add_index"));
    assert_eq!(refs[6].1, start("count_call"));
}

/// Byte offset of the first `lddw` of a function reference in section `xdp`
/// (instruction 8: `r2 = add_index`), and its relocation entry.
const FIRST_REF: usize = 8;

#[test]
fn a_reference_inside_a_function_is_refused_naming_the_instruction() {
    let mut bytes = loops();
    let layout = Layout::of(&bytes);
    // The addend (in the lddw's imm) 8 bytes further: add_index + 1.
    let at = layout.insn("xdp", FIRST_REF) + 4;
    let addend = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    put_u32(&mut bytes, at, addend + 8);
    let err = link_err(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadControlFlow { section, insn: FIRST_REF, reason }
            if section == "xdp" && reason.contains("not the start of a function")),
        "{err}"
    );
    // Past the end of .text: inside no function.
    put_u32(&mut bytes, at, 0x10_0000);
    let err = link_err(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadControlFlow { insn: FIRST_REF, reason, .. }
            if reason.contains("is not inside a function")),
        "{err}"
    );
    // Not on an instruction boundary.
    put_u32(&mut bytes, at, addend + 4);
    let err = link_err(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::UnresolvedSymbol { insn: FIRST_REF, reason, .. }
            if reason.contains("instruction boundary")),
        "{err}"
    );
}

#[test]
fn a_reference_to_a_function_outside_text_is_refused() {
    let mut bytes = loops();
    let layout = Layout::of(&bytes);
    // The first relocation of xdp (instruction 8's) against the program's
    // own symbol, in section xdp.
    let entry = layout.rel_entry(".relxdp", 0);
    let program = layout.symbol_index("loops");
    put_u64(&mut bytes, entry, (FIRST_REF * 8) as u64);
    put_u64(&mut bytes, entry + 8, ((program as u64) << 32) | 1);
    let err = link_err(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::UnresolvedSymbol { section, insn: FIRST_REF, symbol, reason }
            if section == "xdp" && symbol == "loops" && reason.contains("must name a .text function")),
        "{err}"
    );
}

#[test]
fn a_hand_made_pseudo_func_leaving_its_function_is_refused_naming_it() {
    let mut bytes = loops();
    let layout = Layout::of(&bytes);
    // Drop instruction 8's relocation (the last entry moves over it and the
    // table loses one entry), then make the lddw a hand-made pseudo-func
    // one: src 4, imm 1000, past the end of the program's function.
    let first = layout.rel_entry(".relxdp", 0);
    let entries = layout.section_size(".relxdp") / 16;
    let last = layout.rel_entry(".relxdp", entries - 1);
    let moved: Vec<u8> = bytes[last..last + 16].to_vec();
    bytes[first..first + 16].copy_from_slice(&moved);
    put_u64(
        &mut bytes,
        layout.shdr_field(".relxdp", common::shdr::SIZE),
        ((entries - 1) * 16) as u64,
    );
    let insn = layout.insn("xdp", FIRST_REF);
    bytes[insn + 1] = (pseudo::FUNC << 4) | 2;
    put_u32(&mut bytes, insn + 4, 1000);
    let err = link_err(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadControlFlow { section, insn: FIRST_REF, reason }
            if section == "xdp" && reason.contains("function reference leaves function loops")),
        "{err}"
    );
    // Inside its own function it is kept as it is.
    put_u32(&mut bytes, insn + 4, 1);
    let object = Object::parse("loops.o", &bytes).unwrap();
    let linked = object.link("loops").unwrap();
    assert_eq!(linked.code[FIRST_REF].src, pseudo::FUNC);
    assert_eq!(linked.code[FIRST_REF].imm, 1);
}
