//! Every object in `$TINYBPF_SHARED/workloads` parses, with the map
//! definitions and programs its C source declares.

mod common;

use tinybpf_loader::{CreateOptions, Object, ObjectMapKind};
use tinybpf_maps::{BPF_MAP_TYPE_ARRAY, MapDef};
use tinybpf_vm::ProgramKind;
use tinybpf_vm::isa::insn::pseudo;

/// A map as its C source declares it: (name, value_size, max_entries).
type DeclaredMap = (&'static str, u32, u32);

/// (object, program, maps) as declared in each C source.
const EXPECTED: &[(&str, &str, &[DeclaredMap])] = &[
    ("alu_loop.o", "alu_loop", &[]),
    ("globals.o", "globals", &[("global_map", 40, 1)]),
    (
        "globals_hoisted.o",
        "globals_hoisted",
        &[("global_map", 40, 1)],
    ),
    ("histogram.o", "histogram", &[("hist", 8, 64)]),
    (
        "packet_counter.o",
        "packet_counter",
        &[("proto_stats", 16, 256)],
    ),
];

#[test]
fn every_workload_object_parses_with_its_maps_and_programs() {
    let Some(dir) = common::shared_workloads() else {
        return;
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("readable workloads directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "o") {
            let object = Object::open(&path)
                .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()));
            assert_eq!(object.license.as_deref(), Some("GPL"), "{}", path.display());
            found.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    for (file, _, _) in EXPECTED {
        assert!(
            found.iter().any(|f| f == file),
            "{file} is missing from {}",
            dir.display()
        );
    }
}

#[test]
fn workload_maps_and_programs_match_their_sources() {
    let Some(dir) = common::shared_workloads() else {
        return;
    };
    for &(file, program_name, maps) in EXPECTED {
        let object = Object::open(dir.join(file)).unwrap();
        assert_eq!(object.name, dir.join(file).display().to_string());

        let defs: Vec<_> = object
            .maps
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.def,
                    m.kind.clone(),
                    m.initial_data.clone(),
                )
            })
            .collect();
        let expected: Vec<_> = maps
            .iter()
            .map(|&(name, value_size, max_entries)| {
                let def = MapDef {
                    map_type: BPF_MAP_TYPE_ARRAY,
                    key_size: 4,
                    value_size,
                    max_entries,
                    map_flags: 0,
                };
                (name, def, ObjectMapKind::Legacy, None)
            })
            .collect();
        assert_eq!(defs, expected, "{file}");

        let names: Vec<_> = object.programs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, [program_name], "{file}");
        let program = object.link(program_name).unwrap();
        assert_eq!(program.section, "xdp", "{file}");
        assert_eq!(program.kind, ProgramKind::Xdp, "{file}");

        // Each map is referenced through lddw src 5 with its index, and
        // nothing else is left as a pseudo reference.
        let referenced: Vec<i32> = program
            .code
            .iter()
            .filter(|i| i.is_lddw() && i.src == pseudo::MAP_IDX)
            .map(|i| i.imm)
            .collect();
        if maps.is_empty() {
            assert!(referenced.is_empty(), "{file}");
        } else {
            assert!(!referenced.is_empty(), "{file}: no map reference");
            assert!(referenced.iter().all(|&i| i == 0), "{file}: {referenced:?}");
        }
        let created = object.create_maps(&CreateOptions::default()).unwrap();
        assert_eq!(created.len(), maps.len());
        for (map, def) in created.iter().zip(&object.maps) {
            assert_eq!(*map.def(), def.def);
        }
    }
}

#[test]
fn workload_code_is_the_section_code_with_references_resolved() {
    let Some(dir) = common::shared_workloads() else {
        return;
    };
    // globals.o: 40 instructions, one map reference at instruction 13 (see
    // `llvm-objdump -dr globals.o`), the rest unchanged.
    let bytes = std::fs::read(dir.join("globals.o")).unwrap();
    let layout = common::Layout::of(&bytes);
    let raw = &bytes[layout.section_offset("xdp")..][..layout.section_size("xdp")];
    let raw = tinybpf_vm::isa::insn::decode_all(raw).unwrap();
    let object = Object::parse("globals.o", &bytes).unwrap();
    let code = &object.link("globals").unwrap().code;
    assert_eq!(code.len(), raw.len());
    let relocated: Vec<usize> = common::relocations(&bytes, ".relxdp")
        .iter()
        .map(|(offset, _, _)| *offset as usize / 8)
        .collect();
    for (index, (linked, original)) in code.iter().zip(&raw).enumerate() {
        if relocated.contains(&index) {
            assert_eq!(linked.src, pseudo::MAP_IDX);
            assert_eq!(linked.imm, 0);
            assert_eq!((linked.opcode, linked.dst), (original.opcode, original.dst));
        } else {
            assert_eq!(linked, original, "instruction {index}");
        }
    }
    assert_eq!(relocated.len(), 1);
}
