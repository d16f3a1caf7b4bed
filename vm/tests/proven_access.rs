//! Loads and stores the constant-address pass proves at load time: bound to
//! a host address (`Fixed*` ops) for maps every CPU sees the same, kept as
//! region + offset (`Direct*` ops) for per-CPU maps. Each test checks the
//! exact bytes reached, so an op that read or wrote the wrong place (another
//! offset, another map, another CPU's copy, a copy of the map) fails.

use tinybpf_maps::{BpfMap, MapDef, MapOptions, MapType};
use tinybpf_vm::ir::facts::Memory;
use tinybpf_vm::ir::op::Op;
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{LoadedProgram, Passes, ProgramOptions, RunContext, Tier};

/// Two single-element arrays (32 and 16 value bytes): every width of load
/// and store, register and immediate, at offsets inside each, through
/// `lddw map_value` constants. Returns a checksum of what it read back.
const GLOBALS: &str = "
    lddw %r6, map_value:0+16
    lddw %r7, map_value:1+8
    lddw %r1, 0x1122334455667788
    stxdw [%r6-16], %r1
    stxw [%r6-8], %r1
    stxh [%r6-4], %r1
    stxb [%r6-2], %r1
    stb [%r6-1], -1
    sth [%r6], -2
    stw [%r6+4], -3
    stdw [%r6+8], -4
    stdw [%r7], 0x7eadbeef
    stw [%r7-8], 0x01020304
    ldxb %r2, [%r7-8]
    stb [%r7-4], 0x55
    ldxdw %r0, [%r6-16]
    ldxw %r3, [%r6-8]
    add %r0, %r3
    ldxh %r3, [%r6-4]
    add %r0, %r3
    ldxb %r3, [%r6-2]
    add %r0, %r3
    ldxdw %r3, [%r6+8]
    add %r0, %r3
    ldxw %r3, [%r7]
    add %r0, %r3
    add %r0, %r2
    exit";

/// What [`GLOBALS`] leaves in map 0 and map 1.
fn expected_globals() -> (Vec<u8>, Vec<u8>) {
    let mut first = Vec::new();
    first.extend(0x1122_3344_5566_7788u64.to_le_bytes());
    first.extend(0x5566_7788u32.to_le_bytes());
    first.extend(0x7788u16.to_le_bytes());
    first.push(0x88);
    first.push(0xff);
    first.extend((-2i16).to_le_bytes());
    first.extend([0; 2]);
    first.extend((-3i32).to_le_bytes());
    first.extend((-4i64).to_le_bytes());
    let mut second = Vec::new();
    second.extend(0x0102_0304u32.to_le_bytes());
    second.extend([0x55, 0, 0, 0]);
    second.extend(0x7ead_beefu64.to_le_bytes());
    (first, second)
}

/// What [`GLOBALS`] returns.
fn expected_checksum() -> u64 {
    0x1122_3344_5566_7788u64
        .wrapping_add(0x5566_7788)
        .wrapping_add(0x7788)
        .wrapping_add(0x88)
        .wrapping_add(-4i64 as u64)
        .wrapping_add(0x7ead_beef)
        .wrapping_add(0x04)
}

fn globals_maps() -> Vec<BpfMap> {
    let options = MapOptions::with_cpus(2);
    vec![
        BpfMap::create(MapDef::array(32, 1), &options).unwrap(),
        BpfMap::create(MapDef::array(16, 1), &options).unwrap(),
    ]
}

fn load(text: &str, maps: &[BpfMap], passes: Passes, tier: Tier) -> LoadedProgram {
    let options = ProgramOptions {
        maps: maps.to_vec(),
        passes,
        tier,
        ..ProgramOptions::default()
    };
    LoadedProgram::load(&assemble_bytes(text).unwrap(), options).unwrap()
}

fn value(map: &BpfMap) -> Vec<u8> {
    map.lookup(&0u32.to_le_bytes()).unwrap()
}

/// Where proven accesses reach: (map, offset) each.
type Places = Vec<(usize, u32)>;

/// The places of every proven access of `program`: fixed, then direct.
fn proven(program: &LoadedProgram) -> (Places, Places) {
    let (mut fixed, mut direct) = (Vec::new(), Vec::new());
    for op in program.ops() {
        match op.facts().memory {
            Memory::Fixed { .. } => fixed.push(program.proven_place(op).unwrap()),
            Memory::Direct { .. } => direct.push(program.proven_place(op).unwrap()),
            _ => assert_eq!(program.proven_place(op), None, "{op}"),
        }
    }
    (fixed, direct)
}

#[test]
fn every_width_is_bound_to_its_host_address_and_reaches_the_right_bytes() {
    let maps = globals_maps();
    let program = load(GLOBALS, &maps, Passes::ALL, Tier::Interpreter);
    let (fixed, direct) = proven(&program);
    assert!(direct.is_empty(), "{}", program.op_listing());
    // Every load and store: 12 stores, 6 loads (the sum's loads are fused
    // or not, but each stays one access).
    let mut places = fixed.clone();
    places.sort_unstable();
    assert_eq!(
        places,
        [
            (0, 0),
            (0, 0),
            (0, 8),
            (0, 8),
            (0, 12),
            (0, 12),
            (0, 14),
            (0, 14),
            (0, 15),
            (0, 16),
            (0, 20),
            (0, 24),
            (0, 24),
            (1, 0),
            (1, 0),
            (1, 4),
            (1, 8),
            (1, 8),
        ],
        "{}",
        program.op_listing()
    );
    let outcome = program.run(&mut []).unwrap();
    assert_eq!(outcome.retval, expected_checksum());
    let (first, second) = expected_globals();
    assert_eq!(value(&maps[0]), first);
    assert_eq!(value(&maps[1]), second);
}

#[test]
fn fixed_and_checked_accesses_agree() {
    for (passes, tier) in [
        (Passes::NONE, Tier::Interpreter),
        (Passes::ALL, Tier::Interpreter),
        (Passes::ALL, Tier::Auto),
    ] {
        let maps = globals_maps();
        let program = load(GLOBALS, &maps, passes, tier);
        let (fixed, _) = proven(&program);
        assert_eq!(fixed.is_empty(), !passes.const_addresses);
        // Twice: the second run reads what the first left.
        for _ in 0..2 {
            assert_eq!(program.run(&mut []).unwrap().retval, expected_checksum());
        }
        let (first, second) = expected_globals();
        assert_eq!(value(&maps[0]), first, "{passes:?} {tier:?}");
        assert_eq!(value(&maps[1]), second, "{passes:?} {tier:?}");
    }
}

#[test]
fn a_fixed_address_belongs_to_the_map_the_program_was_loaded_with() {
    // Two programs over two different pairs of maps: each writes only its own.
    let (maps_a, maps_b) = (globals_maps(), globals_maps());
    let a = load(GLOBALS, &maps_a, Passes::ALL, Tier::Interpreter);
    let b = load(
        "lddw %r1, map_value:0+0\nstdw [%r1], 9\nmov %r0, 0\nexit",
        &maps_b,
        Passes::ALL,
        Tier::Interpreter,
    );
    a.run(&mut []).unwrap();
    b.run(&mut []).unwrap();
    let (first, second) = expected_globals();
    assert_eq!(value(&maps_a[0]), first);
    assert_eq!(value(&maps_a[1]), second);
    let mut nine = vec![0u8; 32];
    nine[0] = 9;
    assert_eq!(value(&maps_b[0]), nine);
    assert_eq!(value(&maps_b[1]), vec![0u8; 16]);
}

#[test]
fn the_program_keeps_its_maps_alive_and_threads_share_them() {
    let maps = globals_maps();
    let program = load(GLOBALS, &maps, Passes::ALL, Tier::Interpreter);
    // The caller's handles go; the program's own keep the memory.
    drop(maps);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..100 {
                    assert_eq!(program.run(&mut []).unwrap().retval, expected_checksum());
                }
            });
        }
    });
    let (first, second) = expected_globals();
    assert_eq!(value(&program.maps()[0]), first);
    assert_eq!(value(&program.maps()[1]), second);
}

#[test]
fn per_cpu_maps_stay_region_relative_and_each_cpu_writes_its_own_copy() {
    let percpu = BpfMap::create(
        MapDef {
            map_type: MapType::PercpuArray as u32,
            ..MapDef::array(16, 2)
        },
        &MapOptions::with_cpus(4),
    )
    .unwrap();
    let array = BpfMap::create(MapDef::array(8, 1), &MapOptions::with_cpus(4)).unwrap();
    // r0 = &percpu[1] (a rewritten constant-key lookup); store the CPU id
    // there and add it into the shared array through a fixed address.
    let text = "
        stw [%r10-4], 1
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx:0
        call 1
        jeq %r0, 0, out
        mov %r6, %r0
        call 8
        stxdw [%r6+8], %r0
        lddw %r1, map_value:1+0
        ldxdw %r2, [%r1]
        add %r2, %r0
        stxdw [%r1], %r2
    out:
        mov %r0, 0
        exit";
    let program = load(
        text,
        &[percpu.clone(), array.clone()],
        Passes::ALL,
        Tier::Interpreter,
    );
    let (fixed, direct) = proven(&program);
    assert_eq!(direct, [(0, 24)], "{}", program.op_listing());
    assert_eq!(fixed, [(1, 0), (1, 0)], "{}", program.op_listing());
    for cpu in 0..4u32 {
        let mut ctx = RunContext::new().with_cpu(cpu);
        program.run_with(&mut [], &mut ctx).unwrap();
    }
    let copies = percpu.lookup_percpu(&1u32.to_le_bytes()).unwrap();
    for (cpu, copy) in copies.iter().enumerate() {
        let mut expected = vec![0u8; 16];
        expected[8..].copy_from_slice(&(cpu as u64).to_le_bytes());
        assert_eq!(copy, &expected, "cpu {cpu}");
    }
    assert_eq!(
        percpu.lookup_percpu(&0u32.to_le_bytes()).unwrap(),
        vec![vec![0u8; 16]; 4]
    );
    assert_eq!(value(&array), (1u64 + 2 + 3).to_le_bytes());
}

#[test]
fn unaligned_addresses_keep_the_region_form() {
    let maps = globals_maps();
    let program = load(
        "lddw %r1, map_value:0+2\nmov %r2, 7\nstxw [%r1], %r2\nldxw %r0, [%r1]\nexit",
        &maps,
        Passes::ALL,
        Tier::Interpreter,
    );
    let (fixed, direct) = proven(&program);
    assert_eq!(fixed, []);
    assert_eq!(direct, [(0, 2), (0, 2)]);
    assert_eq!(program.run(&mut []).unwrap().retval, 7);
    let mut expected = vec![0u8; 32];
    expected[2] = 7;
    assert_eq!(value(&maps[0]), expected);
}

#[test]
fn the_op_shows_the_host_address_it_holds() {
    let maps = globals_maps();
    let program = load(
        "lddw %r1, map_value:1+8\nldxdw %r0, [%r1]\nexit",
        &maps,
        Passes::ALL,
        Tier::Interpreter,
    );
    let (start, _) = maps[1].program_region(0).unwrap();
    let load = program
        .ops()
        .iter()
        .find(|op| matches!(op, Op::FixedLdxDW { .. }))
        .unwrap();
    let Op::FixedLdxDW { host, .. } = *load else {
        unreachable!()
    };
    assert_eq!(host.addr(), start.as_ptr() as usize + 8);
    assert!(
        program
            .op_listing()
            .contains(&format!("[host {:#x}]", host.addr()))
    );
}
