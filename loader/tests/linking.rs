//! Linking of the clang-built fixtures in `tests/fixtures` (sources beside
//! them): global data in .data/.rodata/.bss by variable symbol and by section
//! symbol, BPF-to-BPF calls, several maps in one object.

mod common;

use std::collections::BTreeSet;

use common::{Layout, fixture, relocations};
use tinybpf_loader::{CreateOptions, Object, ObjectMapKind};
use tinybpf_maps::{BPF_ANY, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, MapDef, errno};
use tinybpf_vm::ProgramKind;
use tinybpf_vm::isa::insn::{Insn, decode_all, opcode, pseudo};

fn load(name: &str) -> Object {
    Object::parse(name, &fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn data_map(value_size: u32, read_only: bool) -> MapDef {
    MapDef {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size,
        max_entries: 1,
        map_flags: BPF_F_MMAPABLE | if read_only { BPF_F_RDONLY_PROG } else { 0 },
    }
}

#[test]
fn global_data_sections_become_one_element_array_maps() {
    let object = load("globals.o");
    let maps: Vec<_> = object
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.def, m.kind.clone()))
        .collect();
    let section = |s: &str| ObjectMapKind::GlobalData {
        section: s.to_owned(),
    };
    // Sizes from globals.c: .data three u64, .rodata three u32, .bss two u64.
    assert_eq!(
        maps,
        [
            (".data", data_map(24, false), section(".data")),
            (".rodata", data_map(12, true), section(".rodata")),
            (".bss", data_map(16, false), section(".bss")),
        ]
    );
    let mut data = Vec::new();
    for v in [0x1111u64, 0x2222, 0x3333] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(object.maps[0].initial_data.as_deref(), Some(&data[..]));
    let mut rodata = Vec::new();
    for v in [7u32, 8, 9] {
        rodata.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(object.maps[1].initial_data.as_deref(), Some(&rodata[..]));
    assert_eq!(object.maps[2].initial_data, None);
    assert_eq!(object.map(".bss").unwrap().section(), ".bss");
}

#[test]
fn global_variables_are_resolved_by_symbol_and_by_section_offset() {
    let bytes = fixture("globals.o");
    // The fixture holds both forms of reference: keep it that way.
    let relocs = relocations(&bytes, ".relxdp");
    let by_section: BTreeSet<_> = relocs
        .iter()
        .filter(|(_, s, _)| s.starts_with('.'))
        .map(|(_, s, _)| s.as_str())
        .collect();
    assert_eq!(by_section, BTreeSet::from([".data", ".rodata", ".bss"]));
    assert!(relocs.iter().any(|(_, s, _)| s == "data_first"));

    let object = load("globals.o");
    let program = object.link("use_globals").unwrap();
    assert_eq!(program.kind, ProgramKind::Xdp);
    // Map indices in the code are the program's, in first-use order.
    let by_name: Vec<&str> = program
        .maps
        .iter()
        .map(|&i| object.maps[i].name.as_str())
        .collect();
    assert_eq!(by_name, [".rodata", ".data", ".bss"]);
    let layout = Layout::of(&bytes);
    let raw =
        decode_all(&bytes[layout.section_offset("xdp")..][..layout.section_size("xdp")]).unwrap();
    assert_eq!(program.code.len(), raw.len());

    // (map, offset) of each reference, as the C source places the variables.
    let expected = |symbol: &str, addend: i32| -> (i32, i32) {
        match (symbol, addend) {
            ("ro_first", 0) => (1, 0),
            (".rodata", 4) => (1, 4), // ro_static
            (".data", 16) => (0, 16), // data_static
            ("data_first", 0) => (0, 0),
            ("bss_first", 0) => (2, 0),
            ("data_second", 0) => (0, 8),
            (".bss", 8) => (2, 8), // bss_static
            other => panic!("unexpected reference {other:?}"),
        }
    };
    for (offset, symbol, r_type) in &relocs {
        assert_eq!(*r_type, 1);
        let at = *offset as usize / 8;
        let (map, value_offset) = expected(symbol, raw[at].imm);
        let (first, second) = (program.code[at], program.code[at + 1]);
        assert_eq!(first.opcode, opcode::LDDW);
        assert_eq!(first.src, pseudo::MAP_IDX_VALUE, "{symbol}");
        assert_eq!(first.dst, raw[at].dst);
        let object_map = program.maps[first.imm as usize] as i32;
        assert_eq!((object_map, second.imm), (map, value_offset), "{symbol}");
    }
    let names: BTreeSet<String> = relocs
        .iter()
        .map(|(offset, _, _)| {
            let at = *offset as usize / 8;
            program
                .lddw_name(&object, &program.code[at], &program.code[at + 1])
                .unwrap()
        })
        .collect();
    let expected_names = [
        "ro_first",
        "ro_static",
        "data_static",
        "data_first",
        "bss_first",
        "data_second",
        "bss_static",
    ];
    assert_eq!(
        names,
        expected_names.iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn value_names_fall_back_to_section_and_offset() {
    let object = load("globals.o");
    let rodata = 1;
    assert_eq!(object.value_name(rodata, 4).as_deref(), Some("ro_static"));
    assert_eq!(object.value_name(rodata, 8).as_deref(), Some("ro_static+4"));
    assert_eq!(object.map_name(2), Some(".bss"));
    assert_eq!(object.map_name(3), None);
    assert_eq!(object.value_name(3, 0), None);
    let subprograms = load("subprograms.o");
    // .data holds only `scale` (8 bytes): past it, the section name.
    assert_eq!(subprograms.value_name(1, 0).as_deref(), Some("scale"));
    assert_eq!(subprograms.value_name(1, 9).as_deref(), Some(".data+9"));
    let entry = subprograms.link("entry").unwrap();
    let plain = Insn::new(opcode::LDDW, 1, pseudo::IMM64, 0, 0);
    assert_eq!(
        entry.lddw_name(&subprograms, &plain, &Insn::default()),
        None
    );
    let results = entry
        .maps
        .iter()
        .position(|&i| subprograms.maps[i].name == "results")
        .unwrap() as i32;
    let map = Insn::new(opcode::LDDW, 1, pseudo::MAP_IDX, 0, results);
    assert_eq!(
        entry
            .lddw_name(&subprograms, &map, &Insn::default())
            .as_deref(),
        Some("results")
    );
    let past = Insn::new(opcode::LDDW, 1, pseudo::MAP_IDX, 0, 2);
    assert_eq!(entry.lddw_name(&subprograms, &past, &Insn::default()), None);
}

#[test]
fn create_maps_writes_initial_data_and_freezes_rodata() {
    let object = load("globals.o");
    let maps = object.create_maps(&CreateOptions::default()).unwrap();
    let key = 0u32.to_le_bytes();
    assert_eq!(maps.len(), 3);
    assert_eq!(
        maps[0].lookup(&key).unwrap(),
        object.maps[0].initial_data.clone().unwrap()
    );
    assert_eq!(
        maps[1].lookup(&key).unwrap(),
        object.maps[1].initial_data.clone().unwrap()
    );
    assert_eq!(maps[2].lookup(&key).unwrap(), vec![0; 16]);
    // .rodata: frozen for user space and read-only for programs.
    assert!(maps[1].is_frozen());
    assert!(maps[1].def().map_flags & tinybpf_maps::BPF_F_RDONLY_PROG != 0);
    let err = maps[1].update(&key, &[0; 12], BPF_ANY).unwrap_err();
    assert_eq!(err.errno(), errno::EPERM);
    // .data and .bss stay writable.
    assert!(!maps[0].is_frozen() && !maps[2].is_frozen());
    maps[0].update(&key, &[5; 24], BPF_ANY).unwrap();
    assert!(maps.iter().all(|m| m.def().is_mmapable()));
}

/// The `.text` functions of an object: name -> original instructions.
fn text_functions(bytes: &[u8]) -> Vec<(String, Vec<Insn>)> {
    let elf = goblin::elf::Elf::parse(bytes).unwrap();
    let layout = Layout::of(bytes);
    let text_index = layout.section_index(".text");
    let text = decode_all(&bytes[layout.section_offset(".text")..][..layout.section_size(".text")])
        .unwrap();
    elf.syms
        .iter()
        .filter(|s| s.is_function() && s.st_shndx == text_index)
        .map(|s| {
            let start = s.st_value as usize / 8;
            let len = s.st_size as usize / 8;
            (
                elf.strtab.get_at(s.st_name).unwrap().to_owned(),
                text[start..start + len].to_vec(),
            )
        })
        .collect()
}

/// Whether `linked` is `original` with only relocatable fields changed (the
/// `src`/`imm` of lddw and the `imm` of local calls).
fn same_function(linked: &[Insn], original: &[Insn]) -> bool {
    linked.len() == original.len()
        && linked.iter().zip(original).enumerate().all(|(i, (l, o))| {
            let second_slot = i > 0 && original[i - 1].is_lddw();
            if o.is_lddw() || second_slot {
                (l.opcode, l.dst, l.off) == (o.opcode, o.dst, o.off)
            } else if o.opcode == opcode::CALL && o.src == pseudo::CALL_LOCAL {
                (l.opcode, l.src) == (o.opcode, o.src)
            } else {
                l == o
            }
        })
}

/// A position in linked code and the `.text` function found there.
type Placed = (usize, String);

/// Follows every local call of a linked program and names the `.text`
/// function each lands on (checking that the whole function is there);
/// returns (call site, callee) pairs and the functions laid out after the program.
fn call_graph(
    code: &[Insn],
    own_len: usize,
    functions: &[(String, Vec<Insn>)],
) -> (Vec<Placed>, Vec<Placed>) {
    let mut calls = Vec::new();
    let mut layout = Vec::new();
    let mut pc = own_len;
    while pc < code.len() {
        let (name, body) = functions
            .iter()
            .find(|(_, body)| {
                code.len() >= pc + body.len() && same_function(&code[pc..pc + body.len()], body)
            })
            .unwrap_or_else(|| panic!("no .text function is appended at {pc}"));
        layout.push((pc, name.clone()));
        pc += body.len();
    }
    assert_eq!(pc, code.len());
    for (pc, insn) in code.iter().enumerate() {
        if insn.opcode == opcode::CALL && insn.src == pseudo::CALL_LOCAL {
            let target = (pc as i64 + 1 + i64::from(insn.imm)) as usize;
            let callee = layout
                .iter()
                .find(|(start, _)| *start == target)
                .unwrap_or_else(|| panic!("call at {pc} to {target} is not a function start"));
            calls.push((pc, callee.1.clone()));
        }
    }
    (calls, layout)
}

#[test]
fn programs_get_the_text_functions_they_reach_appended() {
    let bytes = fixture("subprograms.o");
    let functions = text_functions(&bytes);
    let object = load("subprograms.o");
    let text_len = |name: &str| {
        functions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.len())
            .unwrap()
    };

    // entry: scaled_square_plus_one (which calls square) and store.
    let entry = object.link("entry").unwrap();
    assert_eq!(
        (entry.section.as_str(), entry.kind),
        ("xdp", ProgramKind::Xdp)
    );
    let (calls, layout) = call_graph(&entry.code, 6, &functions);
    let appended: Vec<_> = layout.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(appended, ["scaled_square_plus_one", "store", "square"]);
    let callees: Vec<_> = calls.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(callees, ["scaled_square_plus_one", "store", "square"]);
    assert_eq!(
        calls[2].0,
        layout[0].0 + 1,
        "the call inside scaled_square_plus_one"
    );
    assert_eq!(
        entry.code.len(),
        6 + text_len("scaled_square_plus_one") + text_len("store") + text_len("square")
    );

    // other_entry: square, store, and add_twice (called through its own
    // symbol), whose two calls of square are re-targeted to square's copy.
    let other = object.link("other_entry").unwrap();
    assert_eq!(
        (other.section.as_str(), other.kind),
        ("socket", ProgramKind::SocketFilter)
    );
    let (calls, layout) = call_graph(&other.code, 16, &functions);
    let appended: Vec<_> = layout.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(appended, ["square", "store", "add_twice"]);
    let callees: Vec<_> = calls.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        callees,
        ["square", "store", "add_twice", "store", "square", "square"]
    );

    // The subprogram's map and global references are resolved in the copy.
    for program in [&entry, &other] {
        let references: Vec<_> = program
            .code
            .windows(2)
            .filter(|w| w[0].is_lddw())
            .map(|w| program.lddw_name(&object, &w[0], &w[1]).unwrap())
            .collect();
        assert!(
            references.contains(&"results".to_owned()),
            "{}",
            program.name
        );
    }
    let scale_refs = entry
        .code
        .iter()
        .filter(|i| i.is_lddw() && i.src == pseudo::MAP_IDX_VALUE)
        .count();
    assert_eq!(scale_refs, 1);
    assert_eq!(object.license.as_deref(), Some("Dual BSD/GPL"));
}

#[test]
fn several_maps_in_one_object_keep_their_order_and_definitions() {
    let object = load("multi_maps.o");
    let maps: Vec<_> = object
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.def))
        .collect();
    let array = |value_size, max_entries, map_flags| MapDef {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size,
        max_entries,
        map_flags,
    };
    assert_eq!(
        maps,
        [
            ("counters", array(8, 16, 0)),
            ("config", array(12, 1, BPF_F_MMAPABLE)),
            // iproute2's 36-byte layout: id and pinning are ignored.
            ("iproute_style", array(4, 3, 0)),
        ]
    );
    assert!(object.maps.iter().all(|m| m.kind == ObjectMapKind::Legacy));

    let count = object.link("count").unwrap();
    // libbpf knows "xdp" only as the whole name (or xdp/devmap, xdp/cpumap):
    // "xdp/counters" has no program type tinybpf runs.
    assert_eq!(
        (count.section.as_str(), count.kind, count.program_type),
        (
            "xdp/counters",
            ProgramKind::Memory,
            tinybpf_loader::ProgramType::Unknown
        )
    );
    let map_refs: Vec<_> = count
        .code
        .iter()
        .filter(|i| i.is_lddw())
        .map(|i| (i.src, i.imm))
        .collect();
    assert_eq!(
        map_refs,
        [
            (pseudo::MAP_IDX, 0),
            (pseudo::MAP_IDX, 1),
            (pseudo::MAP_IDX, 2)
        ]
    );
    let classify = object.link("classify").unwrap();
    assert_eq!(
        (classify.section.as_str(), classify.kind),
        ("tc", ProgramKind::Tc)
    );
    assert!(
        classify
            .code
            .iter()
            .any(|i| i.is_lddw() && i.src == pseudo::MAP_IDX && i.imm == 0)
    );
    let created = object.create_maps(&CreateOptions::default()).unwrap();
    assert_eq!(created[2].def().max_entries, 3);
    assert!(created.iter().all(|m| !m.is_frozen()));
}

#[test]
fn open_reads_the_file_and_names_it() {
    let path = common::fixture_path("multi_maps.o");
    let object = Object::open(&path).unwrap();
    assert_eq!(object.name, path.display().to_string());
    let missing = Object::open(path.with_extension("missing")).unwrap_err();
    assert!(matches!(missing.kind, tinybpf_loader::LoadErrorKind::Io(_)));
    assert!(missing.to_string().contains("multi_maps.missing"));
}
