//! Bad input: each kind of broken object gives its own typed error naming
//! the file and the place. The broken objects are byte mutations of the
//! valid fixtures, located with goblin (see `common::Layout`).

mod common;

use common::{Layout, fixture, get_u32, put_u16, put_u32, put_u64, shdr, sym};
use tinybpf_loader::{CreateOptions, LoadError, LoadErrorKind, MapProblem, Object};
use tinybpf_maps::MapError;

/// Opens `bytes` as `name`, then links every program and creates its maps,
/// expecting the first error (at open, or for the first program that
/// fails) to name the file; returns its kind.
fn parse_err(name: &str, bytes: &[u8]) -> LoadErrorKind {
    let err = first_error(name, bytes).expect("the mutated object must be rejected");
    assert!(
        err.to_string().starts_with(&format!("{name}: ")),
        "message does not name the file: {err}"
    );
    assert_eq!(err.object, name);
    err.kind
}

/// The first error opening `bytes`, linking one of its programs or creating its maps.
fn first_error(name: &str, bytes: &[u8]) -> Option<LoadError> {
    let object = match Object::parse(name, bytes) {
        Ok(object) => object,
        Err(err) => return Some(err),
    };
    for program in &object.programs {
        let result = object
            .link_program(program)
            .and_then(|linked| object.create_maps_for(&linked, &CreateOptions::default()));
        if let Err(err) = result {
            return Some(err);
        }
    }
    None
}

/// Opens `bytes`, which must succeed: the problem is found only when a
/// program that reaches it is linked.
fn opens(name: &str, bytes: &[u8]) -> Object {
    Object::parse(name, bytes)
        .unwrap_or_else(|e| panic!("must open (the problem is not reached yet): {e}"))
}

/// A fixture with one mutation applied.
fn mutated(name: &str, mutate: impl FnOnce(&Layout, &mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = fixture(name);
    let layout = Layout::of(&bytes);
    mutate(&layout, &mut bytes);
    bytes
}

/// `r_info` of a REL entry: symbol in the high 32 bits, type in the low.
fn r_info(symbol: usize, r_type: u32) -> u64 {
    ((symbol as u64) << 32) | u64::from(r_type)
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = fixture("globals.o");
    for len in 0..bytes.len() {
        let err = parse_err("cut.o", &bytes[..len]);
        match len {
            0..4 => assert!(
                matches!(err, LoadErrorKind::Truncated { what: "ELF identification", needed: 4, available, .. } if available == len as u64),
                "{len}: {err}"
            ),
            4..64 => assert!(
                matches!(err, LoadErrorKind::Truncated { what: "ELF header", needed: 64, available, .. } if available == len as u64),
                "{len}: {err}"
            ),
            // clang puts the section header table at the end of the file.
            _ => assert!(
                matches!(&err, LoadErrorKind::OutOfFile { what, file_size, .. }
                    if what == "the section header table" && *file_size == len as u64),
                "{len}: {err}"
            ),
        }
    }
}

/// A deterministic byte generator (xorshift64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_is_not_elf() {
    for (seed, len) in [(1, 1), (2, 63), (3, 64), (4, 4096), (5, 100_000)] {
        let err = parse_err("garbage.o", &noise(seed, len));
        assert!(matches!(err, LoadErrorKind::NotElf), "{err}");
    }
    assert!(matches!(
        parse_err("text.o", b"hello, world\n"),
        LoadErrorKind::NotElf
    ));
}

#[test]
fn a_valid_header_over_garbage_is_an_error() {
    let header = &fixture("globals.o")[..64];
    for seed in 1..200u64 {
        let mut bytes = header.to_vec();
        bytes.extend(noise(seed, 64 * (seed as usize % 40) + seed as usize));
        // Keep the header's fields (ident, type, machine); point the
        // section table somewhere inside the garbage.
        let shnum = 1 + (seed % 30) as u16;
        put_u16(&mut bytes, 60, shnum);
        put_u16(&mut bytes, 62, (seed % u64::from(shnum)) as u16);
        put_u64(&mut bytes, 40, 64 + seed % 64);
        let _ = Object::parse("garbage.o", &bytes);
    }
}

#[test]
fn wrong_class() {
    let bytes = mutated("globals.o", |_, b| b[4] = 1);
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::WrongClass { class: 1, .. }),
        "{err}"
    );
}

#[test]
fn wrong_endianness() {
    let bytes = mutated("globals.o", |_, b| b[5] = 2);
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::WrongEndianness { encoding: 2, .. }),
        "{err}"
    );
}

#[test]
fn not_a_relocatable_object() {
    let bytes = mutated("globals.o", |_, b| put_u16(b, 16, 3));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::NotRelocatable { e_type: 3, .. }),
        "{err}"
    );
}

#[test]
fn wrong_machine() {
    let bytes = mutated("globals.o", |_, b| put_u16(b, 18, 62));
    let err = parse_err("x86.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::WrongMachine { machine: 62, .. }),
        "{err}"
    );
    // The message says what machine it is and how to compile for BPF.
    assert_eq!(
        err.to_string(),
        "ELF machine 62 (x86-64) is not BPF (247): compile with clang -target bpf"
    );
}

#[test]
fn program_headers_in_a_relocatable_object() {
    let bytes = mutated("globals.o", |_, b| put_u16(b, 56, 1));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(
            err,
            LoadErrorKind::BadHeader {
                field: "e_phnum",
                value: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn section_header_table_beyond_the_file() {
    let bytes = mutated("globals.o", |_, b| {
        let len = b.len() as u64;
        put_u64(b, 40, len - 10)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::OutOfFile { what, .. } if what == "the section header table"),
        "{err}"
    );
    let bytes = mutated("globals.o", |_, b| put_u64(b, 40, u64::MAX - 8));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::OutOfFile { offset, .. } if offset == u64::MAX - 8),
        "{err}"
    );
}

#[test]
fn section_beyond_the_file() {
    let bytes = mutated("globals.o", |l, b| {
        let len = b.len() as u64;
        put_u64(b, l.shdr_field("xdp", shdr::OFFSET), len - 8)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::OutOfFile { what, size: 256, .. } if what == "section xdp"),
        "{err}"
    );
    // A size that overflows the offset.
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.shdr_field(".data", shdr::SIZE), u64::MAX)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::OutOfFile { what, size: u64::MAX, .. } if what == "section .data"),
        "{err}"
    );
    // The symbol table itself.
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.shdr_field(".symtab", shdr::SIZE), 1 << 40)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::OutOfFile { what, .. } if what == "section .symtab"),
        "{err}"
    );
}

#[test]
fn section_name_outside_the_name_table() {
    let bytes = mutated("globals.o", |l, b| {
        put_u32(b, l.shdr_field("xdp", shdr::NAME), 0xff_ffff)
    });
    let err = parse_err("x.o", &bytes);
    let xdp = Layout::of(&fixture("globals.o")).section_index("xdp");
    assert!(
        matches!(err, LoadErrorKind::BadSectionName { index, name_offset: 0xff_ffff, .. } if index == xdp),
        "{err}"
    );
}

#[test]
fn symbol_table_with_a_wrong_entry_size() {
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.shdr_field(".symtab", shdr::ENTSIZE), 16)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadSection { section, .. } if section == ".symtab"),
        "{err}"
    );
}

#[test]
fn symbol_name_outside_the_string_table() {
    let bytes = mutated("globals.o", |l, b| {
        put_u32(b, l.sym_field("use_globals", sym::NAME), 0xff_ffff)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(
            err,
            LoadErrorKind::BadSymbolName {
                name_offset: 0xff_ffff,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn symbol_section_index_out_of_range() {
    let bytes = mutated("globals.o", |l, b| {
        put_u16(b, l.sym_field("data_first", sym::SHNDX), 200)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::SymbolSectionOutOfRange { symbol, section_index: 200, .. } if symbol == "data_first"),
        "{err}"
    );
}

#[test]
fn relocation_symbol_index_out_of_range() {
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.rel_entry(".relxdp", 2) + 8, r_info(9999, 1))
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::RelocationSymbolOutOfRange { section, entry: 2, symbol_index: 9999, .. } if section == ".relxdp"),
        "{err}"
    );
}

#[test]
fn relocation_offset_beyond_the_section() {
    let bytes = mutated("globals.o", |l, b| {
        let size = l.section_size("xdp") as u64;
        put_u64(b, l.rel_entry(".relxdp", 0), size)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadRelocationOffset { section, offset: 256, section_size: 256, reason, .. }
            if section == "xdp" && reason.contains("beyond")),
        "{err}"
    );
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.rel_entry(".relxdp", 0), u64::MAX - 7)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::BadRelocationOffset { .. }),
        "{err}"
    );
}

#[test]
fn relocation_offset_between_instructions() {
    let bytes = mutated("globals.o", |l, b| put_u64(b, l.rel_entry(".relxdp", 0), 4));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::BadRelocationOffset { offset: 4, reason, .. } if reason.contains("boundary")),
        "{err}"
    );
}

#[test]
fn map_relocation_on_an_instruction_that_is_not_lddw() {
    // Instruction 2 of use_globals is `r1 = *(u32 *)(r1 + 0)`.
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.rel_entry(".relxdp", 0), 16)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::RelocationOnWrongInstruction { section, insn: 2, r_type_name: "R_BPF_64_64", opcode: 0x61, .. } if section == "xdp"),
        "{err}"
    );
}

#[test]
fn map_relocation_on_the_second_slot_of_lddw() {
    let bytes = mutated("globals.o", |l, b| put_u64(b, l.rel_entry(".relxdp", 0), 8));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(
            err,
            LoadErrorKind::RelocationOnWrongInstruction {
                insn: 1,
                opcode: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn call_relocation_on_an_instruction_that_is_not_a_call() {
    // subprograms.o, xdp: entry 0 is the call at instruction 0; instruction 1 is `r1 = 0`.
    let bytes = mutated("subprograms.o", |l, b| {
        put_u64(b, l.rel_entry(".relxdp", 0), 8)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(
            err,
            LoadErrorKind::RelocationOnWrongInstruction {
                insn: 1,
                r_type_name: "R_BPF_64_32",
                opcode: 0xb7,
                ..
            }
        ),
        "{err}"
    );
    // A helper call (src 0) is not a local call either: .text instruction 17 is `call 1`.
    let bytes = mutated("subprograms.o", |l, b| {
        let results = l.symbol_index("results");
        put_u64(b, l.rel_entry(".rel.text", 0), 17 * 8);
        put_u64(b, l.rel_entry(".rel.text", 0) + 8, r_info(results, 10));
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::RelocationOnWrongInstruction { section, insn: 17, opcode: 0x85, .. } if section == ".text"),
        "{err}"
    );
}

#[test]
fn unsupported_relocation_type_in_code() {
    let bytes = mutated("globals.o", |l, b| {
        let symbol = l.symbol_index("ro_first");
        put_u64(b, l.rel_entry(".relxdp", 0) + 8, r_info(symbol, 3))
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(
            err,
            LoadErrorKind::UnsupportedRelocationType {
                insn: 0,
                r_type: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn two_relocations_of_one_instruction() {
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.rel_entry(".relxdp", 0), 3 * 8)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::BadRelocationOffset { offset: 24, reason, .. } if reason.contains("second relocation")),
        "{err}"
    );
}

#[test]
fn relocations_of_data_sections_are_refused() {
    // The program's relocation table now relocates .data: pointers in
    // initialised data, which tinybpf cannot apply. The .data map records
    // why; creating it (for any program that uses it) fails with that reason.
    let bytes = mutated("globals.o", |l, b| {
        let data = l.section_index(".data") as u32;
        put_u32(b, l.shdr_field(".relxdp", shdr::INFO), data)
    });
    let object = opens("x.o", &bytes);
    let data = object.maps.iter().position(|m| m.name == ".data").unwrap();
    assert_eq!(
        object.maps[data].problem,
        Some(MapProblem::DataRelocations {
            section: ".relxdp".to_owned()
        })
    );
    let err = object
        .create_map(data, &CreateOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err.kind, LoadErrorKind::BadMap { map, problem: MapProblem::DataRelocations { .. } } if map == ".data"),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("x.o: map .data: section .relxdp has relocations"),
        "{err}"
    );
}

#[test]
fn relocation_table_that_does_not_use_the_symbol_table() {
    let bytes = mutated("multi_maps.o", |l, b| {
        put_u32(b, l.shdr_field(".reltc", shdr::LINK), 1)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadSection { section, .. } if section == ".reltc"),
        "{err}"
    );
}

#[test]
fn map_definition_shorter_than_bpf_map_def() {
    let bytes = mutated("multi_maps.o", |l, b| {
        put_u64(b, l.sym_field("counters", sym::SIZE), 16)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::TooShort { size: 16 } } if map == "counters"),
        "{err}"
    );
}

#[test]
fn map_definition_beyond_the_maps_section() {
    // iproute_style is 36 bytes at offset 40: the section ends at 76.
    let bytes = mutated("multi_maps.o", |l, b| {
        put_u64(b, l.shdr_field("maps", shdr::SIZE), 64)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::OutOfSection { section, offset: 40, size: 36, section_size: 64 } }
            if section == "maps" && map == "iproute_style"),
        "{err}"
    );
}

#[test]
fn overlapping_map_definitions() {
    let bytes = mutated("multi_maps.o", |l, b| {
        put_u64(b, l.sym_field("config", sym::VALUE), 8)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::Overlaps { other } } if map == "config" && other == "counters"),
        "{err}"
    );
}

/// multi_maps.o with field `field` (0 type, 1 key_size, 2 value_size,
/// 3 max_entries, 4 map_flags) of map `counters` set to `value`.
fn counters_with(field: usize, value: u32) -> Vec<u8> {
    mutated("multi_maps.o", |l, b| {
        put_u32(b, l.section_offset("maps") + field * 4, value)
    })
}

#[test]
fn unknown_and_unsupported_map_types() {
    // counters: key 4, value 8, 16 entries. 0 and 0xffffffff are no type;
    // sockmap (15) and reuseport_sockarray (20) accept these sizes but
    // tinybpf does not support them; hash (1) and percpu_array (6) are
    // created; prog_array (3) wants 4-byte values.
    for map_type in [0, 0xffff_ffff] {
        let err = parse_err("x.o", &counters_with(0, map_type));
        assert!(
            matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::UnknownType { map_type: t } } if map == "counters" && *t == map_type),
            "{err}"
        );
    }
    for (map_type, name) in [(15, "sockmap"), (20, "reuseport_sockarray")] {
        let err = parse_err("x.o", &counters_with(0, map_type));
        assert!(
            matches!(&err, LoadErrorKind::UnsupportedMapType { map, map_type: t, type_name, reason } if map == "counters" && *t == map_type && *type_name == name && reason.contains("socket")),
            "{err}"
        );
    }
    for map_type in [1, 6] {
        let object = Object::parse("x.o", &counters_with(0, map_type)).unwrap();
        let counters = object
            .maps
            .iter()
            .position(|m| m.name == "counters")
            .unwrap();
        let map = object
            .create_map(counters, &CreateOptions::default())
            .unwrap();
        assert_eq!(map.map_type().as_u32(), map_type);
    }
    let err = parse_err("x.o", &counters_with(0, 3));
    assert!(
        matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::BadSize { type_name: "prog_array", field: "value_size", value: 8, .. } } if map == "counters"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "map counters: prog_array map: value_size 8: must be 4"
    );
}

#[test]
fn sizes_the_array_map_rejects() {
    type Expected = fn(&MapError) -> bool;
    let cases: [(usize, u32, Expected); 6] = [
        (1, 0, |e| matches!(e, MapError::BadKeySize { key_size: 0 })),
        (1, 8, |e| matches!(e, MapError::BadKeySize { key_size: 8 })),
        (2, 0, |e| matches!(e, MapError::ZeroValueSize)),
        (2, u32::MAX, |e| {
            matches!(e, MapError::ValueSizeTooBig { .. })
        }),
        (3, 0, |e| matches!(e, MapError::ZeroMaxEntries)),
        (4, 1 << 20, |e| {
            matches!(e, MapError::UnknownMapFlags { .. })
        }),
    ];
    for (field, value, expected) in cases {
        let err = parse_err("x.o", &counters_with(field, value));
        match &err {
            LoadErrorKind::BadMap {
                map,
                problem: MapProblem::Rejected(source),
            } => {
                assert_eq!(map, "counters");
                assert!(expected(source), "field {field} = {value}: {source}");
            }
            other => panic!("field {field} = {value}: {other}"),
        }
    }
}

#[test]
fn a_map_too_large_to_allocate_is_refused_before_allocation() {
    // 2^32 - 1 entries of 4 MiB: the product fits in 64 bits, but an array of
    // 4 GiB or more is ENOMEM in the kernel's array_map_alloc, so the
    // definition check refuses it at parse time, before anything is allocated:
    // the map is listed with its problem, and a program using it fails.
    let mut bytes = counters_with(3, u32::MAX);
    let layout = Layout::of(&bytes);
    put_u32(&mut bytes, layout.section_offset("maps") + 8, 1 << 22);
    let object = opens("huge.o", &bytes);
    assert!(matches!(
        object.map("counters").unwrap().problem,
        Some(MapProblem::Rejected(MapError::SizeOverflow { .. }))
    ));
    let err = first_error("huge.o", &bytes).unwrap();
    assert!(
        matches!(&err.kind, LoadErrorKind::BadMap { map, problem: MapProblem::Rejected(MapError::SizeOverflow { .. }) } if map == "counters"),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("huge.o: map counters: "),
        "{err}"
    );
}

#[test]
fn program_section_without_a_function_symbol() {
    // use_globals becomes STT_NOTYPE: the xdp section's program has no name.
    let bytes = mutated("globals.o", |l, b| {
        b[l.sym_field("use_globals", sym::INFO)] = 0x10
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::MissingProgramName { section, .. } if section == "xdp"),
        "{err}"
    );
}

#[test]
fn asking_for_a_program_that_does_not_exist() {
    let object = Object::parse("subprograms.o", &fixture("subprograms.o")).unwrap();
    let err = object.require_program("nope").unwrap_err();
    assert_eq!(err.object, "subprograms.o");
    assert!(
        matches!(&err.kind, LoadErrorKind::NoSuchProgram { program, available }
            if program == "nope" && available == "entry, other_entry"),
        "{err}"
    );
    assert_eq!(object.require_program("entry").unwrap().name, "entry");
}

#[test]
fn two_programs_with_one_name() {
    let bytes = mutated("subprograms.o", |l, b| {
        let name = get_u32(b, l.sym_field("entry", sym::NAME));
        put_u32(b, l.sym_field("other_entry", sym::NAME), name)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::DuplicateName { what: "program", name, first, second, .. }
            if name == "entry" && first == "xdp" && second == "socket"),
        "{err}"
    );
}

#[test]
fn code_section_size_not_a_multiple_of_8() {
    // The function still fits; the section's size does not divide into
    // instructions, which is found when the program is linked.
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.shdr_field("xdp", shdr::SIZE), 260)
    });
    opens("x.o", &bytes);
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::CodeSizeNotMultipleOf8 { section, size: 260, .. } if section == "xdp"),
        "{err}"
    );
    // A size that cuts the function is found at once.
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.shdr_field("xdp", shdr::SIZE), 252)
    });
    let err = Object::parse("x.o", &bytes).unwrap_err();
    assert!(
        matches!(&err.kind, LoadErrorKind::SymbolOutOfSection { section, .. } if section == "xdp"),
        "{err}"
    );
}

#[test]
fn function_symbol_outside_its_section() {
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.sym_field("use_globals", sym::SIZE), 0x1000)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::SymbolOutOfSection { symbol, size: 0x1000, section_size: 256, .. } if symbol == "use_globals"),
        "{err}"
    );
    let bytes = mutated("globals.o", |l, b| {
        put_u64(b, l.sym_field("use_globals", sym::SIZE), 12)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::BadFunction { size: 12, .. }),
        "{err}"
    );
}

#[test]
fn jump_out_of_its_function() {
    // multi_maps.o, count: instruction 18 is `if r6 == 0 goto +11`.
    let bytes = mutated("multi_maps.o", |l, b| {
        put_u16(b, l.insn("xdp/counters", 18) + 2, 100)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadControlFlow { section, insn: 18, reason, .. }
            if section == "xdp/counters" && reason.contains("leaves function count")),
        "{err}"
    );
}

#[test]
fn call_of_a_symbol_outside_text() {
    let bytes = mutated("subprograms.o", |l, b| {
        let results = l.symbol_index("results");
        put_u64(b, l.rel_entry(".relxdp", 0) + 8, r_info(results, 10))
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::UnresolvedSymbol { section, insn: 0, symbol, .. } if section == "xdp" && symbol == "results"),
        "{err}"
    );
}

#[test]
fn call_between_functions() {
    // entry's first call: `call 20` relative to .text, i.e. instruction 21;
    // 23 is inside scaled_square_plus_one (fine), 40 is past .text's end.
    let bytes = mutated("subprograms.o", |l, b| put_u32(b, l.insn("xdp", 0) + 4, 39));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadControlFlow { section, insn: 0, reason, .. }
            if section == "xdp" && reason.contains("instruction 40")),
        "{err}"
    );
    let bytes = mutated("subprograms.o", |l, b| {
        put_u32(b, l.insn("xdp", 0) + 4, (-5i32) as u32)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::BadControlFlow { insn: 0, .. }),
        "{err}"
    );
}

#[test]
fn reference_to_an_undefined_symbol() {
    let bytes = mutated("globals.o", |l, b| {
        put_u16(b, l.sym_field("data_first", sym::SHNDX), 0)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::UnresolvedSymbol { symbol, reason, .. } if symbol == "data_first" && reason.contains("undefined")),
        "{err}"
    );
}

#[test]
fn global_offset_outside_its_section() {
    // Instruction 6 is `r3 = 16 ll` relocated against .data (24 bytes).
    let bytes = mutated("globals.o", |l, b| put_u32(b, l.insn("xdp", 6) + 4, 24));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::UnresolvedSymbol { insn: 6, symbol, reason, .. }
            if symbol == ".data" && reason.contains("offset 24 is outside section .data")),
        "{err}"
    );
    // The upper half of the 64-bit addend counts too.
    let bytes = mutated("globals.o", |l, b| put_u32(b, l.insn("xdp", 7) + 4, 1));
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(err, LoadErrorKind::UnresolvedSymbol { insn: 6, .. }),
        "{err}"
    );
}

#[test]
fn map_reference_not_at_a_definition() {
    let bytes = mutated("multi_maps.o", |l, b| {
        put_u32(b, l.insn("xdp/counters", 4) + 4, 4)
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::UnresolvedSymbol { insn: 4, symbol, reason, .. }
            if symbol == "counters" && reason.contains("no map definition starts at offset 4")),
        "{err}"
    );
}

#[test]
fn btf_defined_maps_without_btf_are_refused() {
    // Rename .BTF (to .BTG): the .maps section cannot be read without it.
    let bytes = mutated("btf_maps.o", |l, b| {
        let names = l.section_offset(".strtab");
        let at = (0..l.section_size(".strtab"))
            .find(|&i| b[names + i..].starts_with(b".BTF\0"))
            .expect(".BTF in the section names");
        b[names + at + 3] = b'G';
    });
    let err = Object::parse("nobtf.o", &bytes).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::MissingBtf), "{err}");
    assert!(err.to_string().contains("compile with clang -g"), "{err}");
}

#[test]
fn lddw_with_a_pseudo_source_and_no_relocation() {
    // Drop the last relocation (instruction 25, `.bss + 8`) and mark that
    // lddw as a map value reference (src 6).
    let bytes = mutated("globals.o", |l, b| {
        let size = l.section_size(".relxdp") as u64;
        put_u64(b, l.shdr_field(".relxdp", shdr::SIZE), size - 16);
        b[l.insn("xdp", 25) + 1] |= 6 << 4;
    });
    let err = parse_err("x.o", &bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadControlFlow { insn: 25, reason, .. } if reason.contains("pseudo source 6")),
        "{err}"
    );
}

#[test]
fn license_that_is_not_text() {
    let bytes = mutated("globals.o", |l, b| b[l.section_offset("license")] = 0xff);
    let err = parse_err("x.o", &bytes);
    assert!(matches!(err, LoadErrorKind::BadLicense { .. }), "{err}");
}

/// The byte ranges of an object the loader reads: everything but the
/// contents of debug and BTF sections and of their relocation tables.
fn interesting_bytes(bytes: &[u8]) -> Vec<usize> {
    let layout = Layout::of(bytes);
    let ignored: Vec<(usize, usize)> = layout
        .section_names
        .iter()
        .zip(&layout.section_ranges)
        .filter(|(name, _)| {
            let name = name.trim_start_matches(".rel");
            name.starts_with(".debug") || name.starts_with(".BTF")
        })
        .map(|(_, &(offset, size))| (offset, offset + size))
        .collect();
    (0..bytes.len())
        .filter(|at| {
            !ignored
                .iter()
                .any(|(start, end)| (start..end).contains(&at))
        })
        .collect()
}

/// The fixtures, and two shared workloads when `TINYBPF_SHARED` is set.
fn mutation_subjects() -> Vec<(String, Vec<u8>)> {
    let mut objects: Vec<(String, Vec<u8>)> = ["globals.o", "subprograms.o", "multi_maps.o"]
        .iter()
        .map(|name| (name.to_string(), fixture(name)))
        .collect();
    if let Some(dir) = common::shared_workloads() {
        for name in ["packet_counter.o", "histogram.o"] {
            objects.push((name.to_owned(), std::fs::read(dir.join(name)).unwrap()));
        }
    }
    objects
}

/// Parses a mutated object: any result is fine, a panic is not.
fn parse_mutant(name: &str, bytes: &[u8]) -> bool {
    match Object::parse(name, bytes) {
        Ok(object) => {
            for program in &object.programs {
                match object.link_program(program) {
                    Ok(linked) => assert!(!linked.code.is_empty()),
                    Err(err) => assert!(err.to_string().starts_with(name)),
                }
            }
            true
        }
        Err(err) => {
            assert!(err.to_string().starts_with(name));
            false
        }
    }
}

/// Every single-byte change of the bytes the loader reads, with a few
/// values, gives an object or an error, never a panic.
#[test]
fn no_byte_mutation_panics() {
    for (name, original) in mutation_subjects() {
        let mut bytes = original.clone();
        let mut accepted = 0;
        let mut rejected = 0;
        for at in interesting_bytes(&original) {
            let keep = bytes[at];
            for value in [0x00, 0xff, 0x80, keep ^ 0x01, keep.wrapping_add(8)] {
                bytes[at] = value;
                if parse_mutant(&name, &bytes) {
                    accepted += 1;
                } else {
                    rejected += 1;
                }
            }
            bytes[at] = keep;
        }
        assert!(
            accepted > 0 && rejected > 0,
            "{name}: {accepted} accepted, {rejected} rejected"
        );
    }
}

/// Random multi-byte changes (whole little-endian words of chosen values at
/// random places the loader reads) never panic either.
#[test]
fn no_random_word_mutation_panics() {
    const VALUES: [u64; 8] = [0, 1, 8, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff, u64::MAX];
    for (name, original) in mutation_subjects() {
        let places = interesting_bytes(&original);
        let mut random = noise(name.len() as u64 * 7919, 1000 * 17).into_iter();
        let mut next = move || random.next().unwrap() as usize;
        for _ in 0..1000 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 4 {
                let at = places[(next() << 8 | next()) % places.len()];
                let value = VALUES[next() % VALUES.len()].to_le_bytes();
                let width = [1, 2, 4, 8][next() % 4];
                let end = (at + width).min(bytes.len());
                bytes[at..end].copy_from_slice(&value[..end - at]);
            }
            parse_mutant(&name, &bytes);
        }
    }
}
