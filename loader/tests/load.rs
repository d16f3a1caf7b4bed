//! Linked programs loaded into the VM and run: results computed by hand from
//! the fixtures' C sources. Also: VM rejections named by section and
//! instruction of the object.

mod common;

use common::{Layout, fixture, put_u32};
use tinybpf_loader::{CreateOptions, LoadError, LoadErrorKind, Object};
use tinybpf_maps::{BPF_ANY, BpfMap, MapDef, MapOptions};
use tinybpf_vm::{InvalidInsn, LoadedProgram, ProgramOptions};

fn load(name: &str) -> Object {
    Object::parse(name, &fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// Every map of the object, in object order, created once and shared by
/// the programs loaded with [`load_with`] (as the kernel shares them).
fn shared(object: &Object) -> Vec<BpfMap> {
    object.create_maps(&CreateOptions::default()).unwrap()
}

/// Links program `name` and loads it with its maps taken from `all` (object order).
fn load_with(object: &Object, all: &[BpfMap], name: &str) -> Result<LoadedProgram, LoadError> {
    let linked = object.link(name)?;
    let maps: Vec<BpfMap> = linked.maps.iter().map(|&i| all[i].clone()).collect();
    linked.load(&maps, ProgramOptions::default())
}

fn key(index: u32) -> [u8; 4] {
    index.to_le_bytes()
}

fn u64s(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn bpf_to_bpf_calls_run_with_their_maps_and_globals() {
    let object = load("subprograms.o");
    let maps = shared(&object);
    let program = load_with(&object, &maps, "entry").unwrap();
    assert_eq!(program.run(&mut [0u8; 64]).unwrap().retval, 2);
    // store(0, scaled_square_plus_one(5)) = 5 * 5 * scale(3) + 1
    assert_eq!(maps[0].lookup(&key(0)).unwrap(), 76u64.to_le_bytes());

    let program = load_with(&object, &maps, "other_entry").unwrap();
    assert_eq!(program.run(&mut [0u8; 16]).unwrap().retval, 0);
    // store(1, square(7)); store(2, add_twice(ctx != 0)) = 1*1 + 2*2
    assert_eq!(maps[0].lookup(&key(1)).unwrap(), 49u64.to_le_bytes());
    assert_eq!(maps[0].lookup(&key(2)).unwrap(), 5u64.to_le_bytes());
    assert_eq!(maps[0].lookup(&key(3)).unwrap(), 0u64.to_le_bytes());
}

#[test]
fn global_variables_live_in_their_section_maps() {
    let object = load("globals.o");
    let maps = shared(&object);
    let program = load_with(&object, &maps, "use_globals").unwrap();
    for run in 1..=2u64 {
        assert_eq!(program.run(&mut [0u8; 64]).unwrap().retval, 2);
        // data_second += ro_first (7) + ro_static[1] (9); data_static += 1
        assert_eq!(
            u64s(&maps[0].lookup(&key(0)).unwrap()),
            [0x1111, 0x2222 + 16 * run, 0x3333 + run]
        );
        // bss_first = data_first; bss_static += 2
        assert_eq!(u64s(&maps[2].lookup(&key(0)).unwrap()), [0x1111, 2 * run]);
    }
    // .rodata is unchanged.
    assert_eq!(
        maps[1].lookup(&key(0)).unwrap(),
        object.maps[1].initial_data.clone().unwrap()
    );
}

#[test]
fn several_maps_are_indexed_in_object_order() {
    let object = load("multi_maps.o");
    let maps = shared(&object);
    let mut config = vec![0u8; 12];
    config[..4].copy_from_slice(&5u32.to_le_bytes());
    maps[1].update(&key(0), &config, BPF_ANY).unwrap();
    maps[2]
        .update(&key(0), &7u32.to_le_bytes(), BPF_ANY)
        .unwrap();

    let program = load_with(&object, &maps, "count").unwrap();
    assert_eq!(program.run(&mut [0u8; 64]).unwrap().retval, 2);
    // *counter += *cfg + *style
    assert_eq!(maps[0].lookup(&key(0)).unwrap(), 12u64.to_le_bytes());

    let program = load_with(&object, &maps, "classify").unwrap();
    assert_eq!(program.run(&mut [0u8; 32]).unwrap().retval, 0);
    assert_eq!(maps[0].lookup(&key(1)).unwrap(), 1u64.to_le_bytes());
}

#[test]
fn unknown_helper_is_named_by_section_and_instruction() {
    // multi_maps.o, count: instruction 7 is `call 1`.
    let mut bytes = fixture("multi_maps.o");
    let layout = Layout::of(&bytes);
    put_u32(&mut bytes, layout.insn("xdp/counters", 7) + 4, 999);
    let object = Object::parse("helper.o", &bytes).unwrap();
    let maps = shared(&object);
    let err = load_with(&object, &maps, "count").unwrap_err();
    assert!(
        matches!(&err.kind, LoadErrorKind::InvalidInstruction { program, section, function, insn: 7, source }
            if err.object == "helper.o" && program == "count" && section == "xdp/counters" && function == "count"
                && **source == InvalidInsn::UnknownHelper { id: 999 }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("helper.o: section xdp/counters, instruction 7 ")
    );
}

#[test]
fn errors_in_subprograms_name_their_text_instruction() {
    // subprograms.o: .text instruction 17 is store's `call 1`.
    let mut bytes = fixture("subprograms.o");
    let layout = Layout::of(&bytes);
    put_u32(&mut bytes, layout.insn(".text", 17) + 4, 12345);
    let object = Object::parse("sub.o", &bytes).unwrap();
    let maps = shared(&object);
    for program in ["entry", "other_entry"] {
        let err = load_with(&object, &maps, program).unwrap_err();
        assert!(
            matches!(&err.kind, LoadErrorKind::InvalidInstruction { section, function, insn: 17, source, .. }
                if section == ".text" && function == "store"
                    && **source == InvalidInsn::UnknownHelper { id: 12345 }),
            "{program}: {err}"
        );
    }
}

#[test]
fn origin_maps_linked_instructions_back_to_their_sections() {
    let object = load("subprograms.o");
    let entry = object.link("entry").unwrap();
    let (function, insn) = entry.origin(3).unwrap();
    assert_eq!(
        (function.name.as_str(), function.section.as_str(), insn),
        ("entry", "xdp", 3)
    );
    let store = entry.functions.iter().find(|f| f.name == "store").unwrap();
    let (function, insn) = entry.origin(store.start + 6).unwrap();
    assert_eq!(
        (function.name.as_str(), function.section.as_str()),
        ("store", ".text")
    );
    assert_eq!(insn, store.section_start + 6);
    assert!(entry.origin(entry.code.len()).is_none());
    let total: usize = entry.functions.iter().map(|f| f.len).sum();
    assert_eq!(total, entry.code.len());
}

#[test]
fn a_map_table_that_does_not_match_the_object_is_refused() {
    let object = load("multi_maps.o");
    let count = object.link("count").unwrap();
    // No maps at all: the first map reference is out of range.
    let err = count.load(&[], ProgramOptions::default()).unwrap_err();
    assert!(
        matches!(&err.kind, LoadErrorKind::InvalidInstruction { insn: 4, source, .. }
            if **source == InvalidInsn::UnknownMap { index: 0, count: 0 }),
        "{err}"
    );
    // More maps than a program may use.
    let many: Vec<BpfMap> = (0..=tinybpf_vm::MAX_MAPS)
        .map(|_| BpfMap::create(MapDef::array(8, 1), &MapOptions::with_cpus(1)).unwrap())
        .collect();
    let err = count.load(&many, ProgramOptions::default()).unwrap_err();
    assert!(
        matches!(&err.kind, LoadErrorKind::Vm { program, source: tinybpf_vm::VerifyError::TooManyMaps { .. }, .. } if program == "count"),
        "{err}"
    );
}

#[test]
fn the_globals_workload_computes_what_its_readme_says() {
    let Some(dir) = common::shared_workloads() else {
        return;
    };
    let object = Object::open(dir.join("globals.o")).unwrap();
    let maps = shared(&object);
    let program = load_with(&object, &maps, "globals").unwrap();
    assert_eq!(program.run(&mut [0u8; 64]).unwrap().retval, 2);
    let value = maps[0].lookup(&key(0)).unwrap();
    // struct globals { lat_ave, lat_sum, missed, max_lat; int num_samples; }
    assert_eq!(u64s(&value[..32]), [50, 5050, 156, 256]);
    assert_eq!(u32::from_le_bytes(value[32..36].try_into().unwrap()), 100);
}

#[test]
fn programs_cannot_write_rodata() {
    let object = load("rodata_write.o");
    let maps = shared(&object);
    assert_eq!(object.maps[0].name, ".rodata");
    let program = load_with(&object, &maps, "write_rodata").unwrap();
    // Instruction 3 is `*(u32 *)(r1 + 0) = r2`, r1 = &limit.
    let err = program.run(&mut [0u8; 64]).unwrap_err();
    assert!(
        matches!(
            err,
            tinybpf_vm::RunError::OutOfBounds {
                pc: 3,
                size: 4,
                access: tinybpf_vm::Access::Write,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(maps[0].lookup(&key(0)).unwrap(), 10u32.to_le_bytes());
}
