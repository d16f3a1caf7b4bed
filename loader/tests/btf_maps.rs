//! BTF-defined maps (`SEC(".maps")`) and per-program loading: the maps of
//! testdata's `btf_maps.c` as its C declares them, programs that load while
//! maps they do not use cannot be created, the broken definitions of the
//! `btf_maps_bad.c` fixture each stopping only its own program, and BTF
//! broken under a map.

mod common;

use common::{fixture, fixture_path};
use tinybpf_loader::btf::{BtfError, Type};
use tinybpf_loader::{
    CreateOptions, LoadErrorKind, MapProblem, MapSlot, Object, ObjectMapKind, Pinning, SlotTarget,
};
use tinybpf_maps::{BPF_F_MMAPABLE, MapDef};
use tinybpf_vm::ProgramOptions;

fn btf_maps() -> Object {
    let path = format!("{}/../testdata/btf_maps.o", env!("CARGO_MANIFEST_DIR"));
    Object::open(path).unwrap_or_else(|e| panic!("{e}"))
}

fn def(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: flags,
    }
}

#[test]
fn btf_defined_maps_are_read_as_libbpf_reads_them() {
    let object = btf_maps();
    let btf = object.btf.as_ref().unwrap();
    let mut maps: Vec<_> = object
        .maps
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.type_name(),
                m.def,
                m.key_type.map(|t| btf.type_name(t)),
                m.value_type.map(|t| btf.type_name(t)),
            )
        })
        .collect();
    maps.sort_by_key(|m| m.0);
    let name = |s: &str| Some(s.to_owned());
    assert_eq!(
        maps,
        [
            (
                "counts",
                "array",
                def(2, 4, 8, 8, 0),
                name("__u32"),
                name("__u64")
            ),
            (
                "flows",
                "hash",
                def(1, 8, 8, 1024, 0),
                name("__u64"),
                name("struct pair")
            ),
            // key_size given as a number: no key type.
            ("jumps", "prog_array", def(3, 4, 4, 4, 0), None, None),
            (
                "pairs",
                "array",
                def(2, 4, 8, 4, BPF_F_MMAPABLE),
                None,
                name("struct pair")
            ),
            (
                "per_cpu",
                "percpu_array",
                def(6, 4, 8, 4, 0),
                name("__u32"),
                name("__u64")
            ),
        ]
    );
    for map in &object.maps {
        assert_eq!(map.kind, ObjectMapKind::Btf);
        assert_eq!(map.section(), ".maps");
        assert_eq!(map.pinning, Pinning::None);
        assert_eq!(map.problem, None, "{}", map.name);
    }
    // .values = { [0] = &tail_zero, [3] = &tail_three }
    let jumps = object.map("jumps").unwrap();
    assert_eq!(
        jumps.initial_slots,
        [
            MapSlot {
                index: 0,
                target: SlotTarget::Program("tail_zero".to_owned())
            },
            MapSlot {
                index: 3,
                target: SlotTarget::Program("tail_three".to_owned())
            },
        ]
    );
    // Every type here can be created.
    for map in &object.maps {
        assert!(map.cannot_create().is_none(), "{}", map.name);
    }
}

#[test]
fn each_program_creates_only_the_maps_it_uses() {
    let object = btf_maps();
    let names: Vec<&str> = object.programs.iter().map(|p| p.name.as_str()).collect();
    // By offset in section socket: clang emits the forward-declared tail
    // call targets first.
    assert_eq!(
        names,
        [
            "tail_zero",
            "tail_three",
            "count_arrays",
            "touch_hash",
            "dispatch"
        ]
    );
    let linked = object.link("count_arrays").unwrap();
    let used: Vec<&str> = linked
        .maps
        .iter()
        .map(|&m| object.maps[m].name.as_str())
        .collect();
    assert_eq!(used, ["counts", "pairs"]);
    let maps = object
        .create_maps_for(&linked, &CreateOptions::default())
        .unwrap();
    let program = linked.load(&maps, ProgramOptions::default()).unwrap();
    for run in 1..=3u64 {
        // 100 * packets + bytes / 64 of pairs[2]
        assert_eq!(program.run(&mut [0u8; 64]).unwrap().retval, 101 * run);
    }
    for key in 0..8u32 {
        let count = maps[0].lookup(&key.to_le_bytes()).unwrap();
        let expected = 3 * u64::from(key * key + 1);
        assert_eq!(count, expected.to_le_bytes(), "counts[{key}]");
    }
    let mut pair = 3u32.to_le_bytes().to_vec();
    pair.extend_from_slice(&(3u32 * 64).to_le_bytes());
    assert_eq!(maps[1].lookup(&2u32.to_le_bytes()).unwrap(), pair);

    // touch_hash uses the hash and the per-CPU array (for 2 CPUs here).
    let linked = object.link("touch_hash").unwrap();
    let options = CreateOptions {
        map_options: tinybpf_maps::MapOptions::with_cpus(2),
        ..CreateOptions::default()
    };
    let maps = object.create_maps_for(&linked, &options).unwrap();
    let types: Vec<&str> = maps.iter().map(|m| m.map_type().name()).collect();
    assert_eq!(types, ["hash", "percpu_array"]);
    let program = linked.load(&maps, ProgramOptions::default()).unwrap();
    let mut ctx = tinybpf_vm::RunContext::new().with_cpu(1);
    assert_eq!(
        program.run_with(&mut [0u8; 64], &mut ctx).unwrap().retval,
        0
    );
    let mut first = 1u32.to_le_bytes().to_vec();
    first.extend_from_slice(&64u32.to_le_bytes());
    assert_eq!(maps[0].lookup(&42u64.to_le_bytes()).unwrap(), first);
    // per_cpu[0]: 0 on CPU 0, 1 on CPU 1, each padded to 8 bytes.
    let mut per_cpu = 0u64.to_le_bytes().to_vec();
    per_cpu.extend_from_slice(&1u64.to_le_bytes());
    assert_eq!(maps[1].lookup(&0u32.to_le_bytes()).unwrap(), per_cpu);
    // The program array starts with each target's index among the
    // object's programs.
    let linked = object.link("dispatch").unwrap();
    let maps = object
        .create_maps_for(&linked, &CreateOptions::default())
        .unwrap();
    let slots: Vec<(Vec<u8>, Vec<u8>)> = maps[0].entries().collect();
    assert_eq!(
        slots,
        [
            (0u32.to_le_bytes().to_vec(), 0u32.to_le_bytes().to_vec()),
            (3u32.to_le_bytes().to_vec(), 1u32.to_le_bytes().to_vec()),
        ]
    );
    // Without tail call targets, the call falls through to `return 1`.
    let program = linked.load(&maps, ProgramOptions::default()).unwrap();
    assert_eq!(program.run(&mut [0u8; 14]).unwrap().retval, 1);
    // A tail-call target uses no map at all.
    assert!(object.link("tail_three").unwrap().maps.is_empty());
}

#[test]
fn the_smallest_btf_map_fixture_runs() {
    let object = Object::open(fixture_path("btf_maps.o")).unwrap();
    let linked = object.link("use_btf_map").unwrap();
    let maps = object
        .create_maps_for(&linked, &CreateOptions::default())
        .unwrap();
    assert_eq!(*maps[0].def(), def(2, 4, 8, 1, 0));
    let program = linked.load(&maps, ProgramOptions::default()).unwrap();
    assert_eq!(program.run(&mut [0u8; 64]).unwrap().retval, 2); // XDP_PASS
}

/// A broken map's name and a test of its problem.
type Expected = (&'static str, fn(&MapProblem) -> bool);

/// What each program of `btf_maps_bad.o` fails with, from its C source.
fn expected_problem(program: &str) -> Option<Expected> {
    Some(match program {
        "good" => return None,
        "use_plain_int" => (
            "plain_int",
            |p| matches!(p, MapProblem::BadMember { member, reason } if member == "type" && reason.contains("not a pointer")),
        ),
        "use_no_such_type" => ("no_such_type", |p| {
            *p == MapProblem::UnknownType { map_type: 99 }
        }),
        "use_empty_array" => ("empty_array", |p| {
            *p == MapProblem::Rejected(tinybpf_maps::MapError::ZeroMaxEntries)
        }),
        "use_huge_key" => ("huge_key", |p| {
            matches!(
                p,
                MapProblem::BadSize {
                    type_name: "hash",
                    field: "key_size",
                    value: 600,
                    ..
                }
            )
        }),
        "use_wide_prog_array" => ("wide_prog_array", |p| {
            matches!(
                p,
                MapProblem::BadSize {
                    type_name: "prog_array",
                    field: "value_size",
                    value: 8,
                    ..
                }
            )
        }),
        "use_odd_ringbuf" => ("odd_ringbuf", |p| {
            matches!(
                p,
                MapProblem::BadSize {
                    type_name: "ringbuf",
                    field: "max_entries",
                    value: 5000,
                    ..
                }
            )
        }),
        "use_bad_pinning" => ("bad_pinning", |p| *p == MapProblem::BadPinning { value: 7 }),
        "use_unknown_member" => (
            "unknown_member",
            |p| matches!(p, MapProblem::BadMember { member, .. } if member == "colour"),
        ),
        "use_conflicting_key" => (
            "conflicting_key",
            |p| matches!(p, MapProblem::BadMember { member, reason } if member == "key" && reason.contains("already gave 8")),
        ),
        other => panic!("unexpected program {other}"),
    })
}

#[test]
fn each_broken_definition_stops_only_the_program_that_uses_it() {
    let object = Object::parse("bad_maps.o", &fixture("btf_maps_bad.o"))
        .expect("broken map definitions do not stop the object from opening");
    assert_eq!(object.programs.len(), 10);
    for program in &object.programs {
        let linked = object.link_program(program).unwrap();
        let result = object.create_maps_for(&linked, &CreateOptions::default());
        match (expected_problem(&program.name), result) {
            (None, Ok(maps)) => {
                let vm = linked.load(&maps, ProgramOptions::default()).unwrap();
                assert_eq!(vm.run(&mut [0u8; 64]).unwrap().retval, 7);
            }
            (Some((map, problem)), Err(err)) => {
                let LoadErrorKind::BadMap { map: m, problem: p } = &err.kind else {
                    panic!("{}: {err}", program.name);
                };
                assert_eq!(m, map, "{}", program.name);
                assert!(problem(p), "{}: {err}", program.name);
                assert!(
                    err.to_string()
                        .starts_with(&format!("bad_maps.o: map {map}: ")),
                    "{err}"
                );
                assert_eq!(object.map(map).unwrap().problem.as_ref(), Some(p));
            }
            (expected, result) => panic!(
                "{}: expected {:?}, got {:?}",
                program.name,
                expected.map(|e| e.0),
                result.map(drop)
            ),
        }
    }
}

/// The file offset of `.BTF` and of each type record in it (index = type id).
fn btf_layout(bytes: &[u8]) -> (usize, Vec<usize>) {
    let elf = goblin::elf::Elf::parse(bytes).unwrap();
    let section = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".BTF"))
        .unwrap();
    let start = section.sh_offset as usize;
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let types = start + word(start + 4) + word(start + 8);
    let end = types + word(start + 12);
    let mut offsets = vec![0];
    let mut at = types;
    while at < end {
        offsets.push(at);
        let info = word(at + 4);
        let vlen = info & 0xffff;
        at += 12
            + match (info >> 24) & 0x1f {
                1 | 14 | 17 => 4,
                3 => 12,
                4 | 5 | 15 => 12 * vlen,
                6 | 13 => 8 * vlen,
                19 => 12 * vlen,
                _ => 0,
            };
    }
    (start, offsets)
}

#[test]
fn broken_btf_under_a_map_is_that_maps_problem() {
    let original = std::fs::read(format!(
        "{}/../testdata/btf_maps.o",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let object = Object::parse("loop.o", &original).unwrap();
    let btf = object.btf.as_ref().unwrap();
    let u32_typedef = btf
        .types()
        .find(|(_, t)| matches!(t, Type::Typedef { name, .. } if name == "__u32"))
        .unwrap()
        .0;
    // typedef __u32 __u32: a loop under counts' and per_cpu's keys.
    let (_, offsets) = btf_layout(&original);
    let mut bytes = original.clone();
    let at = offsets[u32_typedef.0 as usize] + 8;
    bytes[at..at + 4].copy_from_slice(&u32_typedef.0.to_le_bytes());
    let object = Object::parse("loop.o", &bytes).expect("the loop is under two maps only");
    for name in ["counts", "per_cpu"] {
        assert!(
            matches!(
                object.map(name).unwrap().problem,
                Some(MapProblem::Btf(BtfError::Loop { .. }))
            ),
            "{name}"
        );
    }
    let linked = object.link("count_arrays").unwrap();
    let err = object
        .create_maps_for(&linked, &CreateOptions::default())
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("loop.o: map counts: its BTF type: type #"),
        "{err}"
    );
    assert!(err.to_string().contains("loops back on itself"), "{err}");
    // pairs does not use __u32: still fine.
    assert_eq!(object.map("pairs").unwrap().problem, None);

    // An absurd member count in the first struct: the whole .BTF is refused.
    let first_struct = btf
        .types()
        .find(|(_, t)| matches!(t, Type::Struct(_)))
        .unwrap()
        .0;
    let mut bytes = original.clone();
    let at = offsets[first_struct.0 as usize] + 4;
    bytes[at..at + 2].copy_from_slice(&0xffffu16.to_le_bytes());
    let err = Object::parse("count.o", &bytes).unwrap_err();
    assert!(
        matches!(err.kind, LoadErrorKind::Btf(BtfError::TruncatedType { .. })),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("count.o: section .BTF: type #"),
        "{err}"
    );
}

/// Every single-byte change of `.BTF` (a few values per byte) gives an
/// object or a typed error, and linking what opens never panics.
#[test]
fn no_btf_byte_mutation_panics() {
    for name in ["btf_maps.o", "btf_maps_bad.o"] {
        let original = fixture(name);
        let (start, _) = btf_layout(&original);
        let len = u32::from_le_bytes(original[start + 12..start + 16].try_into().unwrap())
            + u32::from_le_bytes(original[start + 20..start + 24].try_into().unwrap())
            + 24;
        let mut bytes = original.clone();
        let (mut opened, mut refused) = (0, 0);
        for at in start..start + len as usize {
            let keep = bytes[at];
            for value in [0x00, 0xff, keep ^ 0x01, keep.wrapping_add(12)] {
                bytes[at] = value;
                match Object::parse(name, &bytes) {
                    Ok(object) => {
                        opened += 1;
                        for program in &object.programs {
                            if let Ok(linked) = object.link_program(program) {
                                let _ = object.create_maps_for(&linked, &CreateOptions::default());
                            }
                        }
                        for variable in &object.variables {
                            let btf = object.btf.as_ref().unwrap();
                            let _ = btf.type_name(variable.type_id.unwrap());
                        }
                    }
                    Err(err) => {
                        refused += 1;
                        assert!(err.to_string().starts_with(name), "{err}");
                    }
                }
            }
            bytes[at] = keep;
        }
        assert!(
            opened > 0 && refused > 0,
            "{name}: {opened} opened, {refused} refused"
        );
    }
}

#[test]
fn broken_initial_values_are_the_program_arrays_problem() {
    let path = format!("{}/../testdata/btf_maps.o", env!("CARGO_MANIFEST_DIR"));
    let original = std::fs::read(path).unwrap();
    let layout = common::Layout::of(&original);
    let entry = |index: usize| layout.rel_entry(".rel.maps", index);
    type Mutation<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    // (case, mutation, map with the problem, reason, a program that uses it)
    let cases: [(&str, Mutation, &str, &str, &str); 3] = [
        // Between two slots of jumps' values (which start at offset 24).
        (
            "between slots",
            Box::new(|b| common::put_u64(b, entry(0), 28)),
            "jumps",
            "not on a values slot",
            "dispatch",
        ),
        // A map where a program must be.
        (
            "not a program",
            Box::new(|b| {
                let counts = layout.symbol_index("counts") as u64;
                common::put_u64(b, entry(1) + 8, (counts << 32) | 2);
            }),
            "jumps",
            "counts, which is not a program",
            "dispatch",
        ),
        // Offset 56 is past jumps, inside counts, which has no values.
        (
            "inside another map",
            Box::new(|b| common::put_u64(b, entry(1), 56)),
            "counts",
            "has no values member",
            "count_arrays",
        ),
    ];
    for (case, mutate, map, reason, program) in cases {
        let mut bytes = original.clone();
        mutate(&mut bytes);
        let object = Object::parse("slots.o", &bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
        let problem = object.map(map).unwrap().problem.clone();
        assert!(
            matches!(&problem, Some(MapProblem::BadInitialValue { reason: r }) if r.contains(reason)),
            "{case}: {problem:?}"
        );
        // A program that does not use the map is not affected.
        assert!(object.link("tail_zero").unwrap().maps.is_empty());
        let linked = object.link(program).unwrap();
        let err = object
            .create_maps_for(&linked, &CreateOptions::default())
            .unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "slots.o: map {map}: initial values (section .rel.maps): "
            )),
            "{case}: {err}"
        );
    }
    // A relocation inside no map definition breaks the section.
    let mut bytes = original.clone();
    common::put_u64(&mut bytes, entry(0), 1 << 20);
    let err = Object::parse("slots.o", &bytes).unwrap_err();
    assert!(
        matches!(&err.kind, LoadErrorKind::BadRelocationOffset { section, .. } if section == ".maps"),
        "{err}"
    );
}

#[test]
fn maps_pinned_by_name_are_created_once_and_reused() {
    let root = std::env::temp_dir().join(format!("tinybpf-pin-test-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let options = CreateOptions {
        pin_root: Some(root.clone()),
        ..CreateOptions::default()
    };
    let path = format!("{}/../testdata/btf_maps.o", env!("CARGO_MANIFEST_DIR"));
    let object = Object::open(path).unwrap();
    let mut pinned = object.map("pairs").unwrap().clone();
    pinned.pinning = Pinning::ByName;
    let first = tinybpf_loader::create_map(&pinned, &options).unwrap();
    first
        .update(&1u32.to_le_bytes(), &[7; 8], tinybpf_maps::BPF_ANY)
        .unwrap();
    // The second creation opens the pin file: the same contents.
    let second = tinybpf_loader::create_map(&pinned, &options).unwrap();
    assert_eq!(second.lookup(&1u32.to_le_bytes()).unwrap(), [7; 8]);
    // Without a pin root, pinning is ignored: a fresh map.
    let private = tinybpf_loader::create_map(&pinned, &CreateOptions::default()).unwrap();
    assert_eq!(private.lookup(&1u32.to_le_bytes()).unwrap(), [0; 8]);
    // A different definition under the same name is refused.
    pinned.def.max_entries = 8;
    let err = tinybpf_loader::create_map(&pinned, &options).unwrap_err();
    assert!(
        matches!(&err, LoadErrorKind::PinMismatch { map, pinned, .. } if map == "pairs" && pinned.max_entries == 4),
        "{err}"
    );
    // Only arrays are pinned.
    let mut flows = object.map("flows").unwrap().clone();
    flows.pinning = Pinning::ByName;
    let err = tinybpf_loader::create_map(&flows, &options).unwrap_err();
    assert!(
        matches!(&err, LoadErrorKind::PinUnsupported { map, type_name: "hash" } if map == "flows"),
        "{err}"
    );
    assert!(!root.join("flows").exists());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn pin_all_pins_every_array_but_reuses_only_maps_pinned_by_name() {
    let root = std::env::temp_dir().join(format!("tinybpf-pin-all-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let options = CreateOptions {
        pin_root: Some(root.clone()),
        pin_all: true,
        ..CreateOptions::default()
    };
    let path = format!("{}/../testdata/btf_maps.o", env!("CARGO_MANIFEST_DIR"));
    let object = Object::open(path).unwrap();
    let pairs = object.map("pairs").unwrap().clone();
    assert_eq!(pairs.pinning, Pinning::None);
    assert_eq!(
        tinybpf_loader::pin_path(&pairs, &options).unwrap(),
        Some(root.join("pairs"))
    );
    // Without pin_all, a map not pinned by name stays private.
    let by_name_only = CreateOptions {
        pin_all: false,
        ..options.clone()
    };
    assert_eq!(
        tinybpf_loader::pin_path(&pairs, &by_name_only).unwrap(),
        None
    );
    // A hash map stays private even with pin_all.
    let flows = object.map("flows").unwrap();
    assert_eq!(tinybpf_loader::pin_path(flows, &options).unwrap(), None);

    let first = tinybpf_loader::create_map(&pairs, &options).unwrap();
    first
        .update(&1u32.to_le_bytes(), &[3; 8], tinybpf_maps::BPF_ANY)
        .unwrap();
    assert!(root.join("pairs").exists());
    // A second creation does not silently reuse a pin the map did not ask for.
    let err = tinybpf_loader::create_map(&pairs, &options).unwrap_err();
    assert!(
        matches!(&err, LoadErrorKind::PinExists { map, path } if map == "pairs" && *path == root.join("pairs")),
        "{err}"
    );
    assert!(err.to_string().contains("LIBBPF_PIN_BY_NAME"), "{err}");
    // Declared pinned by name, the same file is reused with its contents.
    let mut by_name = pairs.clone();
    by_name.pinning = Pinning::ByName;
    let reused = tinybpf_loader::create_map(&by_name, &options).unwrap();
    assert_eq!(reused.lookup(&1u32.to_le_bytes()).unwrap(), [3; 8]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_map_name_that_is_no_file_name_is_not_pinned() {
    let root = std::env::temp_dir().join(format!("tinybpf-pin-names-{}", std::process::id()));
    let options = CreateOptions {
        pin_root: Some(root.clone()),
        pin_all: true,
        ..CreateOptions::default()
    };
    let path = format!("{}/../testdata/btf_maps.o", env!("CARGO_MANIFEST_DIR"));
    let object = Object::open(path).unwrap();
    let mut map = object.map("pairs").unwrap().clone();
    for (name, reason) in [
        ("", "it is empty"),
        ("..", "it names a directory"),
        ("../escape", "it holds a '/'"),
        ("a\0b", "it holds a NUL byte"),
        (
            &"m".repeat(256),
            "it is longer than the 255 bytes a file name may have",
        ),
    ] {
        map.name = name.to_owned();
        let err = tinybpf_loader::pin_path(&map, &options).unwrap_err();
        assert!(
            matches!(&err, LoadErrorKind::PinName { reason: r, .. } if *r == reason),
            "{name:?}: {err}"
        );
        assert!(tinybpf_loader::create_map(&map, &options).is_err());
    }
    assert!(!root.exists(), "nothing created");
}

#[test]
fn a_pin_of_another_shape_is_described_in_words() {
    let root = std::env::temp_dir().join(format!("tinybpf-pin-shape-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let options = CreateOptions {
        pin_root: Some(root.clone()),
        ..CreateOptions::default()
    };
    let path = format!("{}/../testdata/btf_maps.o", env!("CARGO_MANIFEST_DIR"));
    let object = Object::open(path).unwrap();
    let mut pairs = object.map("pairs").unwrap().clone();
    pairs.pinning = Pinning::ByName;
    tinybpf_loader::create_map(&pairs, &options).unwrap();
    pairs.def.max_entries = 1;
    let err = tinybpf_loader::create_map(&pairs, &options).unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "map pairs: the map pinned at {} is an array map (key 4 bytes, value 8 bytes, 4 entries, flags BPF_F_MMAPABLE), but the object declares an array map (key 4 bytes, value 8 bytes, 1 entry, flags BPF_F_MMAPABLE); remove the pin file to start afresh, or pin into another directory",
            root.join("pairs").display()
        )
    );
    std::fs::remove_dir_all(&root).unwrap();
}
