//! The lookup analysis against hand-written programs, the interpreter and
//! random programs.

use super::lattice::{State, Val};
use super::solver::{MAX_ENTRY_CHANGES, Solver};
use super::*;
use crate::exec::memory::{FIRST_MAP_SLOT, MAP_HANDLE_BASE, STACK_SIZE, STACK_START};
use crate::isa::insn::{alu, class, source};
use crate::passes::translate::Translation;
use crate::{LoadedProgram, MAX_MAPS, Passes, ProgramOptions};
use tinybpf_maps::{MapDef, MapOptions};

// ---- slot builders -------------------------------------------------

/// `rd = imm` (64-bit)
fn mov(rd: u8, imm: i32) -> Insn {
    Insn::new(0xb7, rd, 0, 0, imm)
}
/// `rd = rs` (64-bit)
fn mov_reg(rd: u8, rs: u8) -> Insn {
    Insn::new(0xbf, rd, rs, 0, 0)
}
/// `rd += imm` (64-bit)
fn add(rd: u8, imm: i32) -> Insn {
    Insn::new(0x07, rd, 0, 0, imm)
}
/// `*(u32 *)(rd + off) = rs`
fn stxw(rd: u8, off: i16, rs: u8) -> Insn {
    Insn::new(0x63, rd, rs, off, 0)
}
/// `*(u64 *)(rd + off) = rs`
fn stxdw(rd: u8, off: i16, rs: u8) -> Insn {
    Insn::new(0x7b, rd, rs, off, 0)
}
/// `*(u32 *)(rd + off) = imm`
fn stw(rd: u8, off: i16, imm: i32) -> Insn {
    Insn::new(0x62, rd, 0, off, imm)
}
/// `rd = *(u64 *)(rs + off)`
fn ldxdw(rd: u8, rs: u8, off: i16) -> Insn {
    Insn::new(0x79, rd, rs, off, 0)
}
/// `rd = map m ll` (two slots)
fn ld_map(rd: u8, map: i32) -> [Insn; 2] {
    [Insn::new(0x18, rd, 5, 0, map), Insn::new(0, 0, 0, 0, 0)]
}
/// `rd = imm64 ll` (two slots)
fn lddw(rd: u8, imm: u64) -> [Insn; 2] {
    [
        Insn::new(0x18, rd, 0, 0, imm as u32 as i32),
        Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
    ]
}
fn call(id: i32) -> Insn {
    Insn::new(0x85, 0, 0, 0, id)
}
fn call_local(imm: i32) -> Insn {
    Insn::new(0x85, 0, 1, 0, imm)
}
fn ja(off: i16) -> Insn {
    Insn::new(0x05, 0, 0, off, 0)
}
/// `if rd == imm goto +off`
fn jeq(rd: u8, imm: i32, off: i16) -> Insn {
    Insn::new(0x15, rd, 0, off, imm)
}
/// `if rd != imm goto +off`
fn jne(rd: u8, imm: i32, off: i16) -> Insn {
    Insn::new(0x55, rd, 0, off, imm)
}
fn exit() -> Insn {
    Insn::new(0x95, 0, 0, 0, 0)
}

/// Concatenates groups of slots.
fn prog(parts: &[&[Insn]]) -> Vec<Insn> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

fn array(value_size: u32, max_entries: u32) -> BpfMap {
    BpfMap::create(
        MapDef::array(value_size, max_entries),
        &MapOptions::with_cpus(1),
    )
    .unwrap()
}

fn maps4() -> Vec<BpfMap> {
    vec![array(8, 4), array(16, 2)]
}

fn plan(insns: &[Insn]) -> Vec<LookupRewrite> {
    plan_lookup_rewrites(insns, &maps4())
}

fn const_key(pc: usize, map: usize, key: u32) -> LookupRewrite {
    LookupRewrite::ConstKey { pc, map, key }
}
fn runtime_key(pc: usize, map: usize) -> LookupRewrite {
    LookupRewrite::RuntimeKey { pc, map }
}
fn decided(pc: usize, taken: bool) -> LookupRewrite {
    LookupRewrite::NullTestDecided { pc, taken }
}

/// `r2 = r10; r2 += off; r1 = map m ll; call 1` (5 slots)
fn lookup_at(off: i32, map: i32) -> Vec<Insn> {
    prog(&[&[mov_reg(2, 10), add(2, off)], &ld_map(1, map), &[call(1)]])
}

/// The translated ops and helper table of `insns`.
fn translated(insns: &[Insn], maps: &[BpfMap]) -> Translation {
    translate(insns, maps, &Helpers::with_builtins(), true)
        .unwrap_or_else(|e| panic!("{e}: {insns:?}"))
}

/// The analysis of `insns`, solved, handed to `inspect`.
fn solved<R>(insns: &[Insn], maps: &[BpfMap], inspect: impl FnOnce(&Solver<'_>) -> R) -> R {
    let translation = translated(insns, maps);
    let context = Context {
        maps,
        helpers: &translation.helpers,
    };
    let mut solver = Solver::new(&translation.ops, context);
    solver.solve();
    inspect(&solver)
}

/// The state just before slot `pc`, joined over every path reaching it.
fn state_before(insns: &[Insn], maps: &[BpfMap], pc: usize) -> Option<State> {
    solved(insns, maps, |solver| {
        let block = solver.starts.partition_point(|&s| s <= pc) - 1;
        solver.run_block(block, &mut Vec::new(), None, Some(pc))
    })
}

// ---- the clang shapes ---------------------------------------------

#[test]
fn clang_pattern_gives_a_const_key() {
    let insns = prog(&[&[mov(1, 0), stxw(10, -4, 1)], &lookup_at(-4, 0), &[exit()]]);
    assert_eq!(plan(&insns), vec![const_key(6, 0, 0)]);
    let insns = prog(&[&[mov(1, 3), stxw(10, -8, 1)], &lookup_at(-8, 1), &[exit()]]);
    assert_eq!(plan(&insns), vec![const_key(6, 1, 3)]);
}

#[test]
fn immediate_store_and_byte_stores_give_the_key() {
    let insns = prog(&[&[stw(10, -4, 0x0102_0304)], &lookup_at(-4, 0), &[exit()]]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 0x0102_0304)]);
    // Four single-byte stores, one of them of a register.
    let insns = prog(&[
        &[
            Insn::new(0x72, 10, 0, -4, 1), // *(u8 *)(r10 - 4) = 1
            Insn::new(0x72, 10, 0, -3, 0),
            mov(3, 0x1ff), // only the low byte is stored
            Insn::new(0x73, 10, 3, -2, 0),
            Insn::new(0x72, 10, 0, -1, 0),
        ],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    assert_eq!(plan(&insns), vec![const_key(9, 0, 0x00ff_0001)]);
}

#[test]
fn a_constant_set_before_a_loop_gives_a_const_key_inside_it() {
    // The shape of workloads/globals.o, slot for slot.
    let mut insns = vec![
        mov(6, 1),
        mov(7, 0),
        mov(8, 99),
        ja(6),
        ldxdw(1, 0, 16),
        add(1, 1),
        stxdw(0, 16, 1),
        mov(0, 2),
        add(6, 1),
        jeq(6, 257, 29),
        stxw(10, -4, 7),
        mov_reg(2, 10),
        add(2, -4),
    ];
    insns.extend(ld_map(1, 0));
    insns.extend([
        call(1),
        jeq(0, 0, 21),
        ldxdw(1, 0, 24),
        Insn::new(0x3d, 1, 6, 1, 0), // if r1 >= r6 goto +1
        stxdw(0, 24, 6),
        ldxdw(1, 0, 0),
        jne(1, 0, -18),
        ldxdw(2, 0, 8),
        mov_reg(1, 6),
        Insn::new(0x0f, 1, 2, 0, 0),  // r1 += r2
        Insn::new(0x61, 3, 0, 32, 0), // r3 = *(u32 *)(r0 + 32)
        mov_reg(2, 3),
        add(2, 1),
        stxw(0, 32, 2),
        stxdw(0, 8, 1),
        Insn::new(0x67, 3, 0, 0, 32),  // r3 <<= 32
        Insn::new(0xc7, 3, 0, 0, 32),  // r3 s>>= 32
        Insn::new(0x6d, 8, 3, -26, 0), // if r8 s> r3 goto -26
        Insn::new(0x67, 2, 0, 0, 32),
        Insn::new(0xc7, 2, 0, 0, 32),
        Insn::new(0x3f, 1, 2, 0, 0), // r1 /= r2
        stxdw(0, 0, 1),
        ja(-31),
        mov(0, 0),
        exit(),
    ]);
    assert_eq!(insns.len(), 40);
    let maps = [array(40, 1)];
    assert_eq!(
        plan_lookup_rewrites(&insns, &maps),
        vec![const_key(15, 0, 0), decided(16, false)]
    );
    // With the key out of range the same loop proves the NULL path.
    insns[1] = mov(7, 1);
    assert_eq!(
        plan_lookup_rewrites(&insns, &maps),
        vec![const_key(15, 0, 1), decided(16, true)]
    );
}

#[test]
fn a_key_written_through_a_copy_of_r10() {
    let insns = prog(&[
        &[
            mov_reg(3, 10),
            add(3, -16),
            mov(4, 1),
            stxw(3, 8, 4), // r10 - 8
            mov_reg(2, 3),
            add(2, 8),
        ],
        &ld_map(1, 0),
        &[call(1), exit()],
    ]);
    assert_eq!(plan(&insns), vec![const_key(8, 0, 1)]);
    // Pointer difference and subtraction stay exact.
    let insns = prog(&[
        &[
            stw(10, -12, 3),
            mov_reg(3, 10),
            Insn::new(0x17, 3, 0, 0, 12), // r3 -= 12
            mov_reg(2, 3),
        ],
        &ld_map(1, 0),
        &[call(1), exit()],
    ]);
    assert_eq!(plan(&insns), vec![const_key(6, 0, 3)]);
}

#[test]
fn different_maps_on_two_paths_prove_nothing() {
    let insns = prog(&[
        &[mov(1, 0), stxw(10, -4, 1), mov_reg(2, 10), add(2, -4)],
        &[jeq(6, 0, 3)],
        &ld_map(1, 0),
        &[ja(2)],
        &ld_map(1, 1),
        &[call(1), exit()],
    ]);
    assert!(plan(&insns).is_empty());
}

#[test]
fn a_key_stored_on_one_path_only_is_a_runtime_key() {
    let insns = prog(&[
        &[jeq(6, 0, 2), mov(1, 0), stxw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    assert_eq!(plan(&insns), vec![runtime_key(7, 0)]);
    // The same with the key-holding path reaching the join first.
    let insns = prog(&[
        &[jeq(6, 0, 2), stw(10, -4, 1), ja(1), mov(3, 0)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    assert_eq!(plan(&insns), vec![runtime_key(8, 0)]);
    // Different constants on two paths: also only a run-time key.
    let insns = prog(&[
        &[jeq(6, 0, 2), mov(1, 0), ja(1), mov(1, 1), stxw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    assert_eq!(plan(&insns), vec![runtime_key(9, 0)]);
    // The same constant on both paths: proven.
    let insns = prog(&[
        &[jeq(6, 0, 2), mov(1, 2), ja(1), mov(1, 2), stxw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    assert_eq!(plan(&insns), vec![const_key(9, 0, 2)]);
}

/// `*(u32 *)(r10 - 4) = 1; <between>; lookup at r10 - 4`.
fn key_then(between: &[Insn]) -> Vec<LookupRewrite> {
    let insns = prog(&[&[stw(10, -4, 1)], between, &lookup_at(-4, 0), &[exit()]]);
    plan(&insns)
}

#[test]
fn a_clobbered_slot_gives_a_runtime_key() {
    let pc = |between: &[Insn]| 1 + between.len() + 4;
    let cases: Vec<Vec<Insn>> = vec![
        // A store through an unknown pointer (r6 came from the input).
        vec![stxdw(6, 0, 1)],
        vec![Insn::new(0x62, 6, 0, 8, 0)],
        // A store through a pointer loaded from memory (maybe a spilled r10).
        vec![ldxdw(3, 6, 0), stw(3, 0, 0)],
        // A store through a constant, which may be a stack address.
        [lddw(3, STACK_START + 0xffc).as_slice(), &[stw(3, 0, 9)]].concat(),
        // An atomic through an unknown pointer.
        vec![mov(1, 1), Insn::new(0xdb, 6, 1, 0, 0)],
        // Overwriting the key with an unknown value.
        vec![stxw(10, -4, 6)],
        vec![Insn::new(0x73, 10, 6, -2, 0)],
        // An atomic on the key itself.
        vec![mov(1, 1), Insn::new(0xc3, 10, 1, -4, 0)],
        // Helpers that may write memory, callx, and a local call.
        vec![call(6)],
        vec![call(5)],
        vec![mov(1, 7), Insn::new(0x8d, 1, 0, 0, 0)],
    ];
    for between in &cases {
        assert_eq!(
            key_then(between),
            vec![runtime_key(pc(between), 0)],
            "{between:?}"
        );
    }
    // A local call (the callee is an empty function after the exit).
    let insns = prog(&[
        &[stw(10, -4, 1), call_local(6)],
        &lookup_at(-4, 0),
        &[exit(), exit()],
    ]);
    assert_eq!(plan(&insns), vec![runtime_key(6, 0)]);
}

#[test]
fn stores_that_cannot_reach_the_key_keep_it() {
    let pc = |between: &[Insn]| 1 + between.len() + 4;
    let map_value = [lookup_at(-4, 1).as_slice(), &[stxdw(0, 0, 6), stw(0, 8, 1)]].concat();
    let global = [
        [Insn::new(0x18, 3, 6, 0, 1), Insn::new(0, 0, 0, 0, 4)].as_slice(),
        &[stxw(3, 0, 6)],
    ]
    .concat();
    let cases: Vec<Vec<Insn>> = vec![
        // Other stack bytes, directly and through a copy of r10.
        vec![
            stxdw(10, -16, 6),
            stxw(10, -8, 6),
            Insn::new(0x73, 10, 6, -5, 0),
        ],
        vec![mov_reg(3, 10), stxdw(3, -16, 6)],
        // Through a map value pointer (a lookup result) and a global-data address.
        map_value.clone(),
        global,
        // Through a map handle (faults at run time, but never hits the stack).
        [ld_map(3, 0).as_slice(), &[stw(3, 0, 0)]].concat(),
        // Helpers that only read: update and delete.
        vec![call(2), call(3)],
        // Loads of anything.
        vec![ldxdw(3, 6, 0), ldxdw(3, 10, -8)],
    ];
    for between in &cases {
        let found = key_then(between);
        assert!(
            found.contains(&const_key(pc(between), 0, 1)),
            "{between:?}: {found:?}"
        );
    }
    // Rewriting the key bytes with other constants changes the key.
    assert_eq!(
        key_then(&[Insn::new(0x72, 10, 0, -3, 2)]),
        vec![const_key(6, 0, 0x0201)]
    );
}

#[test]
fn a_key_outside_the_frame_is_not_constant() {
    // r2 = r10 - 2: the key would cross the frame's top.
    let insns = prog(&[&[stw(10, -4, 0)], &lookup_at(-2, 0), &[exit()]]);
    assert_eq!(plan(&insns), vec![runtime_key(5, 0)]);
    // r2 = r10 - 516: below the frame.
    let insns = prog(&[&[stw(10, -512, 0)], &lookup_at(-516, 0), &[exit()]]);
    assert_eq!(plan(&insns), vec![runtime_key(5, 0)]);
    // The lowest 4 bytes of the frame are fine.
    let insns = prog(&[&[stw(10, -512, 1)], &lookup_at(-512, 0), &[exit()]]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
}

#[test]
fn r1_must_be_a_map_handle() {
    // A global-data address, a constant, an unknown value.
    let value = [Insn::new(0x18, 1, 6, 0, 0), Insn::new(0, 0, 0, 0, 0)];
    let constant = lddw(1, MAP_HANDLE_BASE + 2);
    for r1 in [&value[..], &constant[..], &[mov_reg(1, 6)][..]] {
        let insns = prog(&[
            &[stw(10, -4, 0), mov_reg(2, 10), add(2, -4)],
            r1,
            &[call(1), exit()],
        ]);
        assert!(plan(&insns).is_empty(), "{r1:?}");
    }
    // A map index the table does not have (the translator rejects it).
    let insns = prog(&[&[stw(10, -4, 0)], &lookup_at(-4, 7), &[exit()]]);
    assert!(plan(&insns).is_empty());
    // A constant equal to a map's handle is that handle: the VM resolves
    // handles by value, so the lookup is proven as if `lddw` named the map.
    let insns = prog(&[
        &[stw(10, -4, 1), mov_reg(2, 10), add(2, -4)],
        &lddw(1, MAP_HANDLE_BASE + 1),
        &[call(1), exit()],
    ]);
    assert_eq!(plan(&insns), vec![const_key(5, 1, 1)]);
}

#[test]
fn keys_past_the_end_are_constant_and_their_null_tests_decided() {
    // const_key_oob.o's four lookups: keys 2, 3 (found), 4 and 0xffffffff (NULL).
    for (key, found) in [(2u32, true), (3, true), (4, false), (u32::MAX, false)] {
        let insns = prog(&[
            &lddw(1, u64::from(key)),
            &[stxw(10, -16, 1)],
            &lookup_at(-16, 0),
            &[jeq(0, 0, 1), mov(6, 1), mov_reg(0, 6), exit()],
        ]);
        assert_eq!(
            plan(&insns),
            vec![const_key(7, 0, key), decided(8, !found)],
            "key {key}"
        );
    }
}

#[test]
fn null_tests_after_a_found_constant_key() {
    let base = prog(&[&[stw(10, -4, 1)], &lookup_at(-4, 0)]);
    // if r0 == 0: never taken; if r0 != 0: always taken; through a copy.
    let insns = prog(&[&base, &[jeq(0, 0, 1), exit(), exit()]]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 1), decided(6, false)]);
    let insns = prog(&[&base, &[jne(0, 0, 1), exit(), exit()]]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 1), decided(6, true)]);
    let insns = prog(&[&base, &[mov_reg(7, 0), jeq(7, 0, 1), exit(), exit()]]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 1), decided(7, false)]);
    // 32-bit tests of a non-NULL pointer are not decided (element 0 of
    // map 0 has zero low bits), nor tests against other values.
    let insns = prog(&[&base, &[Insn::new(0x16, 0, 0, 1, 0), exit(), exit()]]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
    let insns = prog(&[&base, &[jeq(0, 1, 1), exit(), exit()]]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
    // Two found constant-key lookups of the same map joined: still non-NULL.
    let insns = prog(&[
        &[stw(10, -4, 1), stw(10, -8, 2), jeq(6, 0, 6)],
        &lookup_at(-4, 0),
        &[ja(5)],
        &lookup_at(-8, 0),
        &[jeq(0, 0, 1), exit(), exit()],
    ]);
    assert_eq!(
        plan(&insns),
        vec![const_key(7, 0, 1), const_key(13, 0, 2), decided(14, false)]
    );
}

#[test]
fn null_tests_that_may_go_either_way_are_kept() {
    // A run-time key.
    let insns = prog(&[&lookup_at(-4, 0), &[jeq(0, 0, 1), exit(), exit()]]);
    assert_eq!(plan(&insns), vec![runtime_key(4, 0)]);
    // A found and a missing key joined.
    let insns = prog(&[
        &[stw(10, -4, 1), stw(10, -8, 9), jeq(6, 0, 6)],
        &lookup_at(-4, 0),
        &[ja(5)],
        &lookup_at(-8, 0),
        &[jeq(0, 0, 1), exit(), exit()],
    ]);
    assert_eq!(plan(&insns), vec![const_key(7, 0, 1), const_key(13, 0, 9)]);
    // Two pointers on two paths into one lookup: a run-time key, maybe NULL.
    let insns = prog(&[
        &[
            stw(10, -4, 1),
            stw(10, -8, 2),
            mov_reg(2, 10),
            add(2, -4),
            jeq(6, 0, 1),
        ],
        &[add(2, -4)],
        &ld_map(1, 0),
        &[call(1), jeq(0, 0, 1), exit(), exit()],
    ]);
    assert_eq!(plan(&insns), vec![runtime_key(8, 0)]);
    // The tested register overwritten after the lookup.
    let insns = prog(&[
        &[stw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[add(0, 8), jeq(0, 0, 1), exit(), exit()],
    ]);
    assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
}

#[test]
fn a_decided_null_test_prunes_the_path_it_excludes() {
    // The NULL branch sets r2 = r6 (unknown) before the shared lookup;
    // it can never be taken, so the lookup keeps its constant key.
    let insns = prog(&[
        &[stw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[
            jeq(0, 0, 2),
            mov_reg(2, 10),
            ja(1),
            mov_reg(2, 6),
            add(2, -4),
        ],
        &ld_map(1, 1),
        &[call(1), exit()],
    ]);
    assert_eq!(
        plan(&insns),
        vec![const_key(5, 0, 1), decided(6, false), const_key(13, 1, 1)]
    );
}

#[test]
fn global_data_pointers_are_non_null() {
    let insns = prog(&[
        &[Insn::new(0x18, 3, 2, 0, 1), Insn::new(0, 0, 0, 0, 8)],
        &[jne(3, 0, 1), exit(), exit()],
    ]);
    assert_eq!(plan(&insns), vec![decided(2, true)]);
}

#[test]
fn subprograms_are_analysed_with_a_fresh_frame() {
    // main: key 1 at r10-4, call sub, lookup of r10-4 (clobbered by the call).
    // sub: its own key 3 at r10-4, lookup of map 1.
    let main = prog(&[
        &[stw(10, -4, 1), call_local(6)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    let sub = prog(&[&[stw(10, -4, 3)], &lookup_at(-4, 1), &[exit()]]);
    let insns = prog(&[&main, &sub]);
    assert_eq!(plan(&insns), vec![runtime_key(6, 0), const_key(13, 1, 3)]);
    // The callee's frame does not inherit the caller's bytes, and r6..r9
    // survive the call.
    let main = prog(&[
        &[stw(10, -4, 1), mov(6, 2), call_local(6)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    let sub = prog(&[
        &lookup_at(-4, 1),
        &[stxw(10, -8, 6)],
        &lookup_at(-8, 1),
        &[exit()],
    ]);
    let insns = prog(&[&main, &sub]);
    assert_eq!(
        plan(&insns),
        vec![runtime_key(7, 0), runtime_key(13, 1), runtime_key(19, 1)]
    );
    let main = prog(&[
        &[mov(6, 2), call_local(7)],
        &[stxw(10, -4, 6)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    let insns = prog(&[&main, &[exit()]]);
    assert_eq!(plan(&insns), vec![const_key(7, 0, 2)]);
}

#[test]
fn unreachable_code_gets_nothing() {
    let insns = prog(&[
        &[exit()],
        &[stw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[jeq(0, 0, 0), exit()],
    ]);
    assert!(plan(&insns).is_empty());
    // A subprogram nobody calls.
    let insns = prog(&[
        &[mov(0, 0), exit(), stw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[exit()],
    ]);
    assert!(plan(&insns).is_empty());
}

#[test]
fn a_replaced_lookup_helper_proves_nothing() {
    let insns = prog(&[
        &[stw(10, -4, 1)],
        &lookup_at(-4, 0),
        &[jeq(0, 0, 0), exit()],
    ]);
    let maps = maps4();
    assert_eq!(plan_lookup_rewrites(&insns, &maps).len(), 2);
    let mut registry = Helpers::with_builtins();
    assert_eq!(plan_lookup_rewrites_for(&insns, &maps, &registry).len(), 2);
    registry.register(1, "mine", |_, _| Ok(0));
    assert!(plan_lookup_rewrites_for(&insns, &maps, &registry).is_empty());
    // A replaced update helper may write the stack.
    let insns = prog(&[&[stw(10, -4, 1), call(2)], &lookup_at(-4, 0), &[exit()]]);
    assert_eq!(plan_lookup_rewrites_for(&insns, &maps, &registry).len(), 0);
    let mut registry = Helpers::with_builtins();
    assert_eq!(
        plan_lookup_rewrites_for(&insns, &maps, &registry),
        vec![const_key(6, 0, 1)]
    );
    registry.register(2, "mine", |_, _| Ok(0));
    assert_eq!(
        plan_lookup_rewrites_for(&insns, &maps, &registry),
        vec![runtime_key(6, 0)]
    );
}

#[test]
fn malformed_programs_give_nothing() {
    let good = prog(&[&[stw(10, -4, 1)], &lookup_at(-4, 0), &[exit()]]);
    assert_eq!(plan(&good).len(), 1);
    let mut cases = vec![
        Vec::new(),
        good[..good.len() - 1].to_vec(), // falls off the end
        prog(&[&good, &[Insn::new(0x18, 0, 0, 0, 0)]]), // truncated lddw
        prog(&[&[ja(4)], &good]),        // jumps into an lddw
        prog(&[&[ja(100)], &good]),      // jumps out
        prog(&[&[mov(10, 0)], &good]),   // writes r10
        prog(&[&[mov(11, 0)], &good]),   // no such register
        prog(&[&[Insn::new(0xff, 0, 0, 0, 0)], &good]), // unknown opcode
        prog(&[&[call_local(-5)], &good]), // call before the start
    ];
    cases.push(prog(&[&[Insn::new(0xdb, 10, 10, 0, 1)], &good])); // fetch into r10
    for insns in &cases {
        assert!(plan(insns).is_empty(), "{insns:?}");
    }
}

// ---- constant folding against the interpreter ---------------------

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A random ALU instruction on r0..r3 with a field combination the VM accepts.
fn random_alu(rng: &mut XorShift) -> Insn {
    let class = rng.pick(&[class::ALU, class::ALU64]);
    let interesting = [
        0,
        1,
        -1,
        2,
        7,
        31,
        32,
        63,
        64,
        i32::MIN,
        i32::MAX,
        0x1234_5678,
        -8,
    ];
    let imm = if rng.below(2) == 0 {
        rng.pick(&interesting)
    } else {
        rng.next() as i32
    };
    let dst = rng.below(4) as u8;
    let src = rng.below(4) as u8;
    match rng.below(10) {
        0 => Insn::new(class | alu::NEG, dst, 0, 0, 0),
        1 => {
            let (opcode, imm) = match rng.below(3) {
                0 => (class::ALU | alu::END, rng.pick(&[16, 32, 64])),
                1 => (class::ALU | alu::END | source::X, rng.pick(&[16, 32, 64])),
                _ => (class::ALU64 | alu::END, rng.pick(&[16, 32, 64])),
            };
            Insn::new(opcode, dst, 0, 0, imm)
        }
        2 => {
            let offs: &[i16] = if class == class::ALU64 {
                &[8, 16, 32]
            } else {
                &[8, 16]
            };
            Insn::new(class | alu::MOV | source::X, dst, src, rng.pick(offs), 0)
        }
        3 => {
            let op = rng.pick(&[alu::DIV, alu::MOD]);
            let off = rng.below(2) as i16;
            if rng.below(2) == 0 {
                Insn::new(class | op, dst, 0, off, imm)
            } else {
                Insn::new(class | op | source::X, dst, src, off, 0)
            }
        }
        _ => {
            let op = rng.pick(&[
                alu::ADD,
                alu::SUB,
                alu::MUL,
                alu::OR,
                alu::AND,
                alu::LSH,
                alu::RSH,
                alu::ARSH,
                alu::XOR,
                alu::MOV,
            ]);
            if rng.below(2) == 0 {
                Insn::new(class | op, dst, 0, 0, imm)
            } else {
                Insn::new(class | op | source::X, dst, src, 0, 0)
            }
        }
    }
}

#[test]
fn constant_folding_matches_the_interpreter() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut folded = 0;
    for _ in 0..3000 {
        let mut insns = Vec::new();
        for r in 0..4u8 {
            insns.extend(lddw(r, rng.next() >> rng.below(64)));
        }
        for _ in 0..rng.below(12) + 1 {
            insns.push(random_alu(&mut rng));
        }
        // Store r0 on the stack and load it back through a copy of r10.
        let out = rng.pick(&[0u8, 1, 2, 3]);
        insns.extend([
            stxdw(10, -8, out),
            mov_reg(4, 10),
            Insn::new(0x79, 0, 4, -8, 0),
            exit(),
        ]);
        let program = LoadedProgram::from_insns(
            &insns,
            ProgramOptions {
                inline_lookups: false,
                ..Default::default()
            },
        )
        .unwrap();
        let retval = program.run(&mut []).unwrap().retval;
        let state = state_before(&insns, &[], insns.len() - 1).unwrap();
        match state.regs[0] {
            Val::Const(c) => {
                assert_eq!(c, retval, "{insns:?}");
                folded += 1;
            }
            other
            @ (Val::Unknown | Val::StackPtr(_) | Val::MapHandle(_) | Val::MapValue { .. }) => {
                panic!("not folded: {other:?} in {insns:?}")
            }
        }
    }
    assert_eq!(folded, 3000);
}

#[test]
fn sign_extending_loads_of_known_bytes() {
    let insns = prog(&[
        &[
            stw(10, -4, -2),
            Insn::new(0x91, 3, 10, -4, 0),
            Insn::new(0x81, 4, 10, -4, 0),
        ],
        &[
            Insn::new(0x61, 5, 10, -4, 0),
            Insn::new(0x79, 6, 10, -8, 0),
            exit(),
        ],
    ]);
    let state = state_before(&insns, &[], 5).unwrap();
    assert_eq!(state.regs[3], Val::Const(0xffff_ffff_ffff_fffe)); // ldxsb
    assert_eq!(state.regs[4], Val::Const(0xffff_ffff_ffff_fffe)); // ldxsw
    assert_eq!(state.regs[5], Val::Const(0xffff_fffe));
    assert_eq!(state.regs[6], Val::Unknown); // r10-8..-5 never written
}

// ---- the address layout the store rule relies on ------------------

#[test]
fn map_pointers_never_reach_the_stack() {
    let stack_end = STACK_START + STACK_SIZE as u64;
    let max_reach = 32768 + 8; // |i16 offset| plus the widest access
    // Map values: from map 0's area start minus an offset, above the stack.
    assert!(map_value_start(0) - max_reach > stack_end);
    assert_eq!(map_value_start(0), FIRST_MAP_SLOT << 32);
    // The last map's area (at most 4 GiB) plus an offset does not wrap.
    assert!(
        map_value_start(MAX_MAPS)
            .checked_add((1 << 32) + max_reach)
            .is_some()
    );
    // NULL plus an offset: below the stack, or wrapped far above it.
    assert!(max_reach < STACK_START);
    assert!(0u64.wrapping_sub(max_reach) > stack_end);
    // Map handles.
    assert!(MAP_HANDLE_BASE - max_reach > map_value_start(MAX_MAPS) + (1 << 32));
}

// ---- termination and robustness -----------------------------------

#[test]
fn slowly_converging_loops_finish_in_bounded_work() {
    // 500 known stack bytes (the key at r10-4 among them) and a loop that
    // shifts them up by one byte per iteration, starting from an unknown
    // byte: each pass over the loop loses one more byte.
    let mut insns = Vec::new();
    for i in 0..500i16 {
        insns.push(Insn::new(0x72, 10, 0, -1 - i, 1)); // *(u8 *)(r10 - 1 - i) = 1
    }
    insns.push(Insn::new(0x73, 10, 6, -500, 0)); // *(u8 *)(r10 - 500) = r6
    let head = insns.len();
    for i in 0..499i16 {
        insns.push(Insn::new(0x71, 0, 10, -2 - i, 0)); // r0 = *(u8 *)(r10 - 2 - i)
        insns.push(Insn::new(0x73, 10, 0, -1 - i, 0)); // *(u8 *)(r10 - 1 - i) = r0
    }
    insns.extend(lookup_at(-4, 0));
    let back = head as i64 - insns.len() as i64 - 1;
    insns.push(jne(7, 0, back as i16));
    insns.push(exit());
    let maps = maps4();
    let (runs, blocks) = solved(&insns, &maps, |s| (s.block_runs, s.starts.len()));
    let bound = blocks * (MAX_ENTRY_CHANGES as usize + 2);
    assert!(runs <= bound, "{runs} runs");
    // The first pass alone sees key 0x01010101; the loop later shifts
    // the unknown byte into it, so only a run-time key is sound.
    let lookup = insns.len() - 3;
    assert_eq!(plan(&insns), vec![runtime_key(lookup, 0)]);
    // Without the loop the key is known.
    let straight: Vec<Insn> = prog(&[&insns[..head], &lookup_at(-4, 0), &[exit()]]);
    assert_eq!(
        plan(&straight),
        vec![const_key(straight.len() - 2, 0, 0x0101_0101)]
    );
}

#[test]
fn a_large_program_is_analysed_in_linear_work() {
    // 2000 nested diamond-and-loop chunks.
    let mut insns = Vec::new();
    for _ in 0..2000 {
        insns.extend([
            mov(7, 0),
            stw(10, -4, 1),
            jeq(6, 0, 1),
            mov(1, 1),
            add(7, 1),
            jne(7, 9, -5),
        ]);
        insns.extend(lookup_at(-4, 0));
    }
    insns.push(exit());
    let maps = maps4();
    let (runs, blocks) = solved(&insns, &maps, |s| (s.block_runs, s.starts.len()));
    assert!(runs <= 2 * blocks, "{runs} runs");
    let found = plan(&insns);
    assert_eq!(found.len(), 2000);
    assert!(
        found
            .iter()
            .all(|f| matches!(f, LookupRewrite::ConstKey { key: 1, map: 0, .. }))
    );
}

/// A frame of 512 known bytes (64 `stdw`), then `blocks` one-instruction
/// blocks (`ja +0`), every `store_every`-th preceded by a byte store
/// (changing the known stack) and every 8th by a constant-key lookup.
fn one_insn_blocks(blocks: usize, store_every: usize) -> Vec<Insn> {
    let mut insns = Vec::new();
    for off in (8..=512).step_by(8) {
        insns.push(Insn::new(0x7a, 10, 0, -(off as i16), 7)); // stdw [r10-off], 7
    }
    for i in 0..blocks {
        if i % store_every == 0 {
            insns.push(Insn::new(
                0x72,
                10,
                0,
                -((i % 512) as i16) - 1,
                (i % 251) as i32,
            ));
        }
        if i % 8 == 0 {
            insns.extend(lookup_at(-8, 0));
        }
        insns.push(ja(0));
    }
    insns.push(mov(0, 0));
    insns.push(exit());
    insns
}

#[test]
fn states_are_sparse_and_grow_linearly_with_the_blocks() {
    // Before the stack was kept in shared chunks, each of these blocks kept
    // about 2.3 KB (its own copy of 512 known bytes): 2.3 GB for a program
    // of a million one-instruction blocks.
    let maps = maps4();
    let state = std::mem::size_of::<Option<State>>();
    for store_every in [1usize, 4, 1_000_000] {
        let mut per_block = Vec::new();
        for scale in [1usize, 4, 16] {
            let insns = one_insn_blocks(2_000 * scale, store_every);
            let (bytes, blocks) = solved(&insns, &maps, |s| (s.retained_bytes(), s.starts.len()));
            assert!(blocks >= 2_000 * scale, "{blocks} blocks");
            // A state's registers and chunk pointers, plus (when each block
            // stores) one changed 64-byte chunk of its own.
            assert!(
                bytes <= blocks * (state + 100),
                "stores every {store_every}, {scale}x: {bytes} bytes for {blocks} blocks"
            );
            per_block.push(bytes as f64 / blocks as f64);
            // The lookups still see the frame's bytes.
            if store_every > 1 {
                let found = plan(&insns);
                assert_eq!(found.len(), 250 * scale);
            }
        }
        assert!(
            per_block[2] <= per_block[0] * 1.05,
            "stores every {store_every}: bytes per block {per_block:?}"
        );
    }
}

#[test]
fn shared_stack_chunks_copy_on_write() {
    use super::lattice::StackBytes;
    let mut a = StackBytes::default();
    a.set(5, Some(1));
    a.set(70, Some(2));
    let mut b = a.clone();
    b.set(5, Some(9));
    b.set(70, None);
    assert_eq!((a.get(5), a.get(70)), (Some(1), Some(2)), "a unchanged");
    assert_eq!((b.get(5), b.get(70)), (Some(9), None));
    let mut c = a.clone();
    c.set(70, None);
    assert_eq!(c, {
        let mut only = StackBytes::default();
        only.set(5, Some(1));
        only
    });
    // Equal knowledge compares equal however it was reached.
    c.set(70, Some(2));
    assert_eq!(c, a);
}

#[test]
fn joins_keep_exactly_the_bytes_both_sides_know_alike() {
    let mut a = State::entry();
    for index in [0u16, 5, 63, 64, 300, 511] {
        a.stack.set(index, Some(index as u8));
    }
    let mut b = a.clone();
    b.stack.set(5, Some(99)); // differs
    b.stack.set(300, None); // unknown on one side
    b.stack.set(200, Some(1)); // known on one side only
    assert!(
        !a.clone().join_into(&a),
        "joining a shared state changes nothing"
    );
    assert!(a.join_into(&b));
    let known: Vec<(u16, u8)> = (0..512u16)
        .filter_map(|i| a.stack.get(i).map(|v| (i, v)))
        .collect();
    assert_eq!(known, [(0, 0), (63, 63), (64, 64), (511, 255)]);
    assert!(!a.join_into(&b), "a second join loses nothing more");
    // A chunk left with no known byte is dropped, and equals a fresh one.
    let mut c = State::entry();
    c.stack.set(70, Some(1));
    let mut d = State::entry();
    d.stack.set(70, Some(2));
    assert!(c.join_into(&d));
    assert_eq!(c, State::entry());
}

#[test]
fn random_slots_never_panic() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let maps = maps4();
    let opcodes: Vec<u8> = (0..=255u8).collect();
    let mut analysed = 0;
    for _ in 0..10_000 {
        let len = rng.below(40) as usize + 1;
        let mut insns = Vec::with_capacity(len);
        for _ in 0..len {
            let insn = if rng.below(30) == 0 {
                Insn::new(
                    rng.pick(&opcodes),
                    rng.below(16) as u8,
                    rng.below(16) as u8,
                    rng.next() as i16,
                    rng.next() as i32,
                )
            } else {
                // Mostly plausible slots, so that many programs decode.
                let opcode = rng.pick(&[
                    0x07, 0xb7, 0xbf, 0x0f, 0x63, 0x62, 0x7b, 0x61, 0x79, 0x15, 0x55, 0x05, 0x85,
                    0x85, 0x18, 0x95, 0xdb, 0xc3, 0x16, 0x1d, 0x8d, 0x24, 0xd4, 0x87,
                ]);
                // Fields the opcode allows, mostly (the translator checks
                // them before the analysis runs).
                let src = match opcode {
                    0x18 => rng.pick(&[0, 1, 2, 5, 6]),
                    0x85 => rng.pick(&[0, 1]),
                    0x07 | 0xb7 | 0x62 | 0x15 | 0x55 | 0x05 | 0x16 | 0x95 | 0x8d | 0x24 | 0xd4
                    | 0x87 => 0,
                    _ => rng.below(11) as u8,
                };
                let imm = match opcode {
                    0x85 if src == 0 => rng.pick(&[1, 1, 2, 6]),
                    0x18 => rng.below(2) as i32,
                    0xdb | 0xc3 => rng.pick(&[0, 1, 0x40, 0xe1, 0xf1]),
                    0xd4 => rng.pick(&[16, 32, 64]),
                    0x0f | 0xbf | 0x63 | 0x7b | 0x61 | 0x79 | 0x1d | 0x95 | 0x8d | 0x87 => 0,
                    _ => rng.below(20) as i32 - 10,
                };
                let off = match opcode {
                    0x63 | 0x62 | 0x7b | 0x61 | 0x79 => -(rng.below(505) as i16) - 8,
                    0x07 | 0xb7 | 0xbf | 0x0f | 0x24 | 0xd4 | 0x87 | 0x95 | 0x8d | 0x85 | 0x18 => 0,
                    _ => rng.below(2 * len as u64) as i16 - len as i16,
                };
                let dst = match opcode {
                    0x05 | 0x85 | 0x95 => 0,
                    _ => rng.below(10) as u8,
                };
                Insn::new(opcode, dst, src, off, imm)
            };
            insns.push(insn);
            if insn.opcode == 0x18 && rng.below(8) != 0 {
                insns.push(Insn::new(0, 0, 0, 0, rng.below(3) as i32));
            }
        }
        if rng.below(4) != 0 {
            insns.push(exit());
        }
        if translate(&insns, &maps, &Helpers::with_builtins(), true).is_ok() {
            analysed += 1;
        }
        let found = plan_lookup_rewrites(&insns, &maps);
        assert!(found.windows(2).all(|w| w[0].pc() <= w[1].pc()));
    }
    assert!(analysed > 500, "only {analysed} programs were analysed");
}

// ---- rewritten and original programs behave the same -------------

/// The placeholder for a call of the subprogram, resolved by `random_program`.
const CALL_SUB: Insn = Insn::new(0x85, 0, 1, 0, -1);

/// One random chunk of `random_program`; `true` marks a conditional jump
/// whose offset is still to be set.
fn random_chunk(rng: &mut XorShift, allow_jump: bool) -> (Vec<Insn>, bool) {
    let r = rng.pick(&[0u8, 1, 2, 3, 4, 5, 7]);
    let slot = -4 * (rng.below(3) as i16 + 1);
    let chunk = match rng.below(if allow_jump { 17 } else { 15 }) {
        0 => vec![mov(r, rng.below(6) as i32)],
        1 => vec![stxw(10, slot, r)],
        2 => vec![stw(10, slot, rng.below(6) as i32)],
        3 => vec![stxw(9, slot + 16, r)],
        4 => vec![mov_reg(2, 10), add(2, i32::from(slot))],
        5 => vec![mov_reg(2, 9), add(2, i32::from(slot) + 16)],
        6 => ld_map(1, rng.below(2) as i32).to_vec(),
        7 | 8 => {
            let mut c = lookup_at(i32::from(slot), rng.below(2) as i32);
            if rng.below(3) == 0 {
                c.drain(..2);
            }
            c.extend([
                jeq(0, 0, 3),
                ldxdw(3, 0, 0),
                add(3, 1),
                stxdw(0, 0, 3),
                mov_reg(7, 0),
            ]);
            c
        }
        9 => vec![stxw(6, rng.below(8) as i16 * 4, r)],
        10 => vec![mov(1, rng.below(4) as i32), call(rng.pick(&[7, 8]))],
        11 => vec![
            mov_reg(1, 10),
            add(1, i32::from(slot)),
            mov(2, rng.below(6) as i32),
            CALL_SUB,
        ],
        12 => vec![
            mov_reg(1, 0),
            Insn::new(0x57, 1, 0, 0, 3),
            stxw(10, slot, 1),
        ],
        13 => vec![call(1), mov_reg(7, 0)],
        // A store through a stack pointer spilled and reloaded: the
        // analysis sees an unknown pointer, the store hits a key slot.
        14 => vec![stxdw(10, -24, 9), ldxdw(4, 10, -24), stxw(4, slot + 16, r)],
        _ => {
            // Mostly on the loop counter, so both ways run.
            let tested = rng.pick(&[8, 8, 8, 0, 7, 3]);
            return (vec![jeq(tested, rng.below(4) as i32, 0)], true);
        }
    };
    (chunk, false)
}

/// A random terminating program mixing constant and run-time keys,
/// stores, clobbers, branches, a bounded loop and local calls.
fn random_program(rng: &mut XorShift) -> Vec<Insn> {
    // r6 = input pointer, r8 = loop counter, r9 = r10 - 16; chunks use r0..r5, r7.
    let mut insns = vec![
        mov_reg(6, 1),
        mov(8, rng.below(3) as i32 + 1),
        mov_reg(9, 10),
        add(9, -16),
        mov(7, 0),
    ];
    for _ in 0..rng.below(5) {
        insns.extend(random_chunk(rng, false).0);
    }
    let mut chunks: Vec<(Vec<Insn>, bool)> = Vec::new();
    for _ in 0..rng.below(14) + 2 {
        chunks.push(random_chunk(rng, true));
    }
    // Each conditional jump skips to a later chunk boundary of the loop body.
    let lens: Vec<usize> = chunks.iter().map(|(c, _)| c.len()).collect();
    for i in 0..chunks.len() {
        if chunks[i].1 {
            let skip = rng.below((chunks.len() - i) as u64) as usize;
            let off: usize = lens[i + 1..i + 1 + skip].iter().sum();
            chunks[i].0[0].off = off as i16;
        }
    }
    let head = insns.len();
    for (chunk, _) in chunks {
        insns.extend(chunk);
    }
    insns.push(add(8, -1));
    let back = head as i64 - insns.len() as i64 - 1;
    insns.push(jne(8, 0, back as i16));
    insns.extend([mov_reg(0, 7), exit()]);
    // The subprogram: writes the caller's slot through r1, then its own lookup.
    let sub_start = insns.len();
    insns.extend([stxw(1, 0, 2), stw(10, -4, rng.below(6) as i32)]);
    insns.extend(lookup_at(-4, 1));
    insns.extend([jeq(0, 0, 2), stxdw(0, 0, 10), mov(0, 0), exit()]);
    for (pc, insn) in insns.iter_mut().enumerate().take(sub_start) {
        if *insn == CALL_SUB {
            insn.imm = (sub_start as i64 - pc as i64 - 1) as i32;
        }
    }
    insns
}

fn fresh_maps() -> Vec<BpfMap> {
    let maps = vec![array(8, 5), array(16, 4)];
    maps[1].update(&2u32.to_le_bytes(), &[7; 16], 0).unwrap();
    maps
}

/// What one run shows: its result, every map's contents, the rewrite count.
struct Observed {
    result: String,
    maps: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    rewrites: usize,
}

fn run_once(insns: &[Insn], passes: Passes, inline: bool) -> Observed {
    let maps = fresh_maps();
    let program = LoadedProgram::from_insns(
        insns,
        ProgramOptions {
            maps: maps.clone(),
            inline_lookups: inline,
            passes: Passes {
                verify_each: true,
                ..passes
            },
            ..Default::default()
        },
    )
    .unwrap();
    let mut input = [0u8; 64];
    let result = match program.run(&mut input) {
        Ok(outcome) => format!("ok {}", outcome.retval),
        Err(e) => format!("err {e:?}"),
    };
    Observed {
        result,
        maps: maps.iter().map(|m| m.entries().collect()).collect(),
        rewrites: program.rewrites().len(),
    }
}

/// The random differential test: every random program gives the same
/// result (value or fault) and map contents with every optimising pass, with
/// none (every `call 1` a helper call), and with each single pass off.
#[test]
fn random_programs_behave_the_same_whatever_passes_run() {
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    let (mut rewritten, mut consts, mut runtime, mut tests) = (0, 0, 0, 0);
    let mut configs = vec![(Passes::ALL, true), (Passes::NONE, true)];
    configs.extend(
        Passes::NAMES
            .iter()
            .map(|name| (Passes::all_but(name).unwrap(), true)),
    );
    for _ in 0..1500 {
        let insns = random_program(&mut rng);
        let found = plan_lookup_rewrites(&insns, &fresh_maps());
        for f in &found {
            match f {
                LookupRewrite::ConstKey { .. } => consts += 1,
                LookupRewrite::RuntimeKey { .. } => runtime += 1,
                LookupRewrite::NullTestDecided { .. } => tests += 1,
            }
        }
        let plain = run_once(&insns, Passes::NONE, false);
        for (passes, inline) in &configs {
            let observed = run_once(&insns, *passes, *inline);
            let context = format!("{passes:?}\n{insns:?}\n{found:?}");
            assert_eq!(plain.result, observed.result, "{context}");
            assert_eq!(plain.maps, observed.maps, "{context}");
            if *passes == Passes::ALL {
                rewritten += observed.rewrites;
            }
        }
    }
    assert!(
        consts > 500 && runtime > 1000 && tests > 500,
        "{consts} {runtime} {tests}"
    );
    assert!(rewritten > 2500, "{rewritten}");
}
