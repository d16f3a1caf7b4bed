//! The verifier of the translated form: the invariants the interpreter's
//! unchecked code relies on, checked on what the passes produced.
//!
//! The interpreter fetches ops without a bounds check, runs stack accesses
//! and direct map accesses without a region check, indexes the helper table
//! and the map shapes without a check, and counts instructions from the
//! weight prefix sums. Each of those is sound only because:
//!
//! - the program is not empty, and every jump, branch and call target is an
//!   op of the program (in the per-slot form, never the second slot of an
//!   `lddw`);
//! - no op can fall through past the last one (a call returns to the op
//!   after it, so a call is not last either);
//! - every register an op names is r0..r10, and none writes r10;
//! - every stack access lies inside the 512-byte frame, and no op reaches
//!   below the frame extent a run prepares (see
//!   [`stack_depth`](crate::passes::stack_depth));
//! - every direct access lies inside its map's value area, and a direct
//!   store's map is writable;
//! - every fixed access lies inside the value area of a map that every CPU
//!   sees the same, at an address aligned to its width, and a fixed store's
//!   map is writable;
//! - every helper slot and inline-lookup map index is in its table;
//! - in the final form: no op that never runs (`lddw` tail, removed op) is
//!   left, every op counts at least one instruction, the prefix sums add up
//!   the weights, the straight-line run weights (what the budget checks at
//!   each entry) add up the weights to the next jump, call or exit, and each
//!   op's original slot is increasing and inside the original program.
//!
//! The pipeline runs this after every pass when asked (debug and fuzz
//! builds) and always once after the last, before the program can run. A
//! violation is a bug in a pass: the program is refused with
//! [`VerifyError::Internal`], never run.

use crate::error::VerifyError;
use crate::exec::helpers::Helper;
use crate::exec::map_regions::same_for_every_cpu;
use crate::exec::memory::{FRAME_SIZE, Region};
use crate::ir::facts::{AccessKind, Memory};
use crate::ir::op::{HostAddr, Op};
use crate::ir::regs::Regs;
use crate::passes::compact::run_weights;
use crate::passes::pipeline::Env;
use crate::passes::stack_depth::frame_extent;

/// The form being verified.
pub(crate) enum Form<'a> {
    /// One op per original slot (between passes).
    Slots(&'a [Op]),
    /// The compacted program that runs.
    Final {
        /// The ops.
        ops: &'a [Op],
        /// The original slot of each op.
        origin: &'a [u32],
        /// The weight prefix sums.
        weight_prefix: &'a [u64],
        /// The weight of the straight-line run starting at each op.
        run_weight: &'a [u64],
    },
}

/// Checks `form` (with its helper table) against the invariants above;
/// `pass` names the pass that produced it, for the error.
pub(crate) fn verify(
    form: Form<'_>,
    helpers: &[Helper],
    stack_extent: usize,
    env: &Env<'_>,
    pass: &'static str,
) -> Result<(), VerifyError> {
    let fail = |index: usize, problem: String| VerifyError::Internal {
        pass,
        index,
        problem,
    };
    let ops = match form {
        Form::Slots(ops) | Form::Final { ops, .. } => ops,
    };
    let Some(last) = ops.last() else {
        return Err(fail(0, "the program is empty".into()));
    };
    if u32::try_from(ops.len()).is_err() {
        return Err(fail(0, "more ops than a u32 can index".into()));
    }
    if last.facts().falls_through() {
        return Err(fail(ops.len() - 1, format!("`{last}` falls off the end")));
    }
    let is_final = matches!(form, Form::Final { .. });
    for (index, op) in ops.iter().enumerate() {
        check_op(index, op, ops, is_final, helpers, env).map_err(|problem| fail(index, problem))?;
    }
    if frame_extent(ops, helpers) > stack_extent {
        return Err(fail(
            0,
            format!("the program reaches more than the {stack_extent} stack bytes a run prepares"),
        ));
    }
    if let Form::Final {
        ops,
        origin,
        weight_prefix,
        run_weight,
    } = form
    {
        check_tables(ops, origin, weight_prefix, env.insns.len())
            .map_err(|(index, problem)| fail(index, problem))?;
        if run_weight != run_weights(ops).as_slice() {
            return Err(fail(0, "the straight-line run weights are wrong".into()));
        }
    }
    Ok(())
}

fn check_op(
    index: usize,
    op: &Op,
    ops: &[Op],
    is_final: bool,
    helpers: &[Helper],
    env: &Env<'_>,
) -> Result<(), String> {
    let facts = op.facts();
    if !Regs::ALL.contains_all(facts.reads) || !Regs::GENERAL.contains_all(facts.may_write) {
        return Err(format!("`{op}` names a register above r10 or writes r10"));
    }
    for target in [facts.target(), facts.func_ref].into_iter().flatten() {
        let Some(entered) = ops.get(target as usize) else {
            return Err(format!("`{op}` targets op {target}, outside the program"));
        };
        if *entered == Op::LddwTail {
            return Err(format!("`{op}` targets the second slot of an lddw"));
        }
    }
    if is_final && matches!(op, Op::LddwTail | Op::Nop) {
        return Err(format!("`{op}` is left in the program that runs"));
    }
    // A removed lddw leaves a Nop before its second slot.
    let after_lddw = index
        .checked_sub(1)
        .is_some_and(|i| matches!(ops[i], Op::LoadImm64 { .. } | Op::LoadFunc { .. } | Op::Nop));
    if *op == Op::LddwTail && !after_lddw {
        return Err("an lddw second slot follows no lddw".into());
    }
    if let Op::LookupInline { map } = op
        && usize::from(*map) >= env.shapes.len()
    {
        return Err(format!("`{op}` names a map the table does not have"));
    }
    if let Op::CallHelper { slot } = op
        && *slot as usize >= helpers.len()
    {
        return Err(format!(
            "`{op}` names a helper slot the table does not have"
        ));
    }
    if is_final && facts.weight == 0 {
        return Err(format!("`{op}` counts no instruction"));
    }
    match facts.memory {
        Memory::Stack { off, width, .. } => {
            let start = i64::from(off);
            if start < -(FRAME_SIZE as i64) || start + i64::from(width) > 0 {
                return Err(format!("`{op}` reaches outside the 512-byte frame"));
            }
        }
        Memory::Direct {
            region,
            offset,
            width,
            kind,
        } => {
            let Some(area) = env.regions.get(usize::from(region)) else {
                return Err(format!("`{op}` names a map the table does not have"));
            };
            if u64::from(offset) + u64::from(width) > area.len {
                return Err(format!("`{op}` reaches outside the map's value area"));
            }
            if kind.writes() && !area.writable {
                return Err(format!("`{op}` writes a read-only map"));
            }
        }
        Memory::Fixed { host, width, kind } => check_fixed(host, width, kind, env)?,
        Memory::None
        | Memory::Checked { .. }
        | Memory::LookupKey
        | Memory::Helper
        | Memory::Call => {}
    }
    Ok(())
}

/// A fixed access: `width` bytes at `host` lie inside the value area of one
/// of the program's maps that every CPU sees the same (writable, for a
/// store), and `host` is aligned to `width`.
fn check_fixed(host: HostAddr, width: u8, kind: AccessKind, env: &Env<'_>) -> Result<(), String> {
    let (addr, width) = (host.addr(), usize::from(width));
    if !addr.is_multiple_of(width) {
        return Err(format!(
            "a fixed access of {width} bytes at {host} is not aligned"
        ));
    }
    let inside = |area: &Region| {
        let start = area.host.addr();
        addr >= start && (addr - start) as u64 + width as u64 <= area.len
    };
    let Some(index) = env.regions.iter().position(inside) else {
        return Err(format!(
            "a fixed access of {width} bytes at {host} lies in no map's value area"
        ));
    };
    if !env.maps.get(index).is_some_and(same_for_every_cpu) {
        return Err(format!(
            "a fixed access at {host} reaches map {index}, whose bytes depend on the CPU"
        ));
    }
    if kind.writes() && !env.regions[index].writable {
        return Err(format!("a fixed store at {host} writes a read-only map"));
    }
    Ok(())
}

/// The final form's tables: origins increasing and inside the original
/// program, prefix sums of the weights.
fn check_tables(
    ops: &[Op],
    origin: &[u32],
    weight_prefix: &[u64],
    slots: usize,
) -> Result<(), (usize, String)> {
    if origin.len() != ops.len() || weight_prefix.len() != ops.len() + 1 {
        return Err((0, "the origin or weight table has the wrong length".into()));
    }
    if weight_prefix[0] != 0 {
        return Err((0, "the weight prefix sums do not start at 0".into()));
    }
    for (index, op) in ops.iter().enumerate() {
        if origin[index] as usize >= slots || (index > 0 && origin[index] <= origin[index - 1]) {
            return Err((
                index,
                "original slots are not increasing inside the program".into(),
            ));
        }
        let weight = u64::from(op.facts().weight);
        if weight_prefix[index + 1] != weight_prefix[index] + weight {
            return Err((index, "the weight prefix sums do not add up".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::helpers::Helpers;
    use crate::exec::memory::{Region, map_value_start};
    use crate::isa::insn::Insn;

    fn region(writable: bool) -> Region {
        Region {
            start: map_value_start(0),
            len: 16,
            host: std::ptr::null_mut(),
            writable,
        }
    }

    fn check(ops: &[Op], writable: bool) -> Result<(), String> {
        let insns = vec![Insn::default(); ops.len()];
        let regions = [region(writable)];
        let registry = Helpers::with_builtins();
        let env = Env {
            insns: &insns,
            maps: &[],
            regions: &regions,
            shapes: &[],
            registry: &registry,
        };
        verify(Form::Slots(ops), &[], 4096, &env, "test").map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_a_well_formed_program() {
        let ops = [
            Op::LoadImm64 { dst: 1, imm: 7 },
            Op::LddwTail,
            Op::StackStxDW { src: 1, off: -8 },
            Op::DirectStxDW {
                src: 1,
                region: 0,
                offset: 8,
            },
            Op::JeqImm {
                dst: 1,
                imm: 0,
                target: 0,
            },
            Op::Exit,
        ];
        assert_eq!(check(&ops, true), Ok(()));
    }

    #[test]
    fn rejects_what_the_interpreter_could_not_run_safely() {
        let exit = Op::Exit;
        let cases: Vec<(Vec<Op>, &str)> = vec![
            (vec![], "empty"),
            (vec![Op::Mov64Imm { dst: 0, imm: 0 }], "falls off the end"),
            (vec![Op::CallLocal { target: 0 }], "falls off the end"),
            (vec![Op::Ja { target: 2 }, exit], "outside the program"),
            (
                vec![
                    Op::Ja { target: 2 },
                    Op::LoadImm64 { dst: 0, imm: 0 },
                    Op::LddwTail,
                    exit,
                ],
                "second slot of an lddw",
            ),
            (vec![Op::LddwTail, exit], "follows no lddw"),
            (vec![Op::Mov64Imm { dst: 10, imm: 0 }, exit], "writes r10"),
            (vec![Op::Mov64Reg { dst: 0, src: 11 }, exit], "above r10"),
            (vec![Op::StackStW { off: -2, imm: 0 }, exit], "frame"),
            (vec![Op::StackLdxB { dst: 0, off: -513 }, exit], "frame"),
            (
                vec![
                    Op::DirectLdxDW {
                        dst: 0,
                        region: 0,
                        offset: 9,
                    },
                    exit,
                ],
                "value area",
            ),
            (
                vec![
                    Op::DirectLdxB {
                        dst: 0,
                        region: 1,
                        offset: 0,
                    },
                    exit,
                ],
                "does not have",
            ),
            (vec![Op::CallHelper { slot: 0 }, exit], "helper slot"),
            (vec![Op::LookupInline { map: 0 }, exit], "does not have"),
        ];
        for (ops, expected) in cases {
            let err = check(&ops, true).expect_err(expected);
            assert!(err.contains(expected), "{ops:?}: {err}");
        }
        let store = [
            Op::DirectStB {
                imm: 1,
                region: 0,
                offset: 0,
            },
            exit,
        ];
        assert_eq!(check(&store, true), Ok(()));
        assert!(check(&store, false).unwrap_err().contains("read-only"));
    }

    #[test]
    fn a_fixed_access_must_lie_aligned_in_a_shared_area_it_may_use() {
        use crate::exec::map_regions::MapRegions;
        use std::ptr::NonNull;
        use tinybpf_maps::{BPF_F_RDONLY_PROG, BpfMap, MapDef, MapOptions, MapType};

        let options = MapOptions::with_cpus(2);
        let maps = [
            BpfMap::create(MapDef::array(16, 1), &options).unwrap(),
            BpfMap::create(
                MapDef {
                    map_type: MapType::PercpuArray as u32,
                    ..MapDef::array(16, 1)
                },
                &options,
            )
            .unwrap(),
            BpfMap::create(MapDef::array(16, 1).with_flags(BPF_F_RDONLY_PROG), &options).unwrap(),
        ];
        let regions = MapRegions::new(&maps).unwrap();
        let at = |map: usize, offset: usize| {
            let (start, _) = maps[map].program_region(0).unwrap();
            HostAddr::new(NonNull::new(start.as_ptr().wrapping_add(offset)).unwrap())
        };
        let insns = vec![Insn::default(); 2];
        let registry = Helpers::with_builtins();
        let env = Env {
            insns: &insns,
            maps: &maps,
            regions: regions.first(),
            shapes: &[],
            registry: &registry,
        };
        let check = |op: Op| {
            verify(Form::Slots(&[op, Op::Exit]), &[], 4096, &env, "test").map_err(|e| e.to_string())
        };
        let load = |host| Op::FixedLdxDW { dst: 0, host };
        let store = |host| Op::FixedStB { imm: 1, host };
        assert_eq!(check(load(at(0, 8))), Ok(()));
        assert_eq!(check(store(at(0, 15))), Ok(()));
        assert_eq!(check(load(at(2, 0))), Ok(()));
        for (op, expected) in [
            (load(at(0, 4)), "not aligned"),
            (load(at(0, 16)), "no map's value area"),
            (
                Op::FixedLdxW {
                    dst: 0,
                    host: at(0, 16),
                },
                "no map's value area",
            ),
            (store(at(0, 16)), "no map's value area"),
            (load(at(1, 0)), "depend on the CPU"),
            (store(at(2, 0)), "read-only"),
        ] {
            let err = check(op).expect_err(expected);
            assert!(err.contains(expected), "{op}: {err}");
        }
        // An address outside every map (a static's) is refused.
        static ELSEWHERE: [u64; 2] = [0; 2];
        let elsewhere = HostAddr::new(NonNull::from(&ELSEWHERE).cast());
        assert!(
            check(load(elsewhere))
                .unwrap_err()
                .contains("no map's value area")
        );
    }

    #[test]
    fn rejects_broken_final_tables() {
        let insns = vec![Insn::default(); 3];
        let registry = Helpers::with_builtins();
        let env = Env {
            insns: &insns,
            maps: &[],
            regions: &[],
            shapes: &[],
            registry: &registry,
        };
        let ops = [
            Op::MovAdd64Imm {
                dst: 0,
                src: 1,
                imm: 1,
            },
            Op::Exit,
        ];
        let run = |ops: &[Op], origin: &[u32], weight_prefix: &[u64]| {
            verify(
                Form::Final {
                    ops,
                    origin,
                    weight_prefix,
                    run_weight: &run_weights(ops),
                },
                &[],
                4096,
                &env,
                "test",
            )
            .map_err(|e| e.to_string())
        };
        assert_eq!(run(&ops, &[0, 2], &[0, 2, 3]), Ok(()));
        assert!(
            run(&ops, &[0, 2], &[0, 1, 2])
                .unwrap_err()
                .contains("add up")
        );
        assert!(
            run(&ops, &[2, 2], &[0, 2, 3])
                .unwrap_err()
                .contains("increasing")
        );
        assert!(
            run(&ops, &[0, 3], &[0, 2, 3])
                .unwrap_err()
                .contains("increasing")
        );
        assert!(run(&ops, &[0], &[0, 2, 3]).unwrap_err().contains("length"));
        let nop = [Op::Nop, Op::Exit];
        assert!(
            run(&nop, &[0, 1], &[0, 0, 1])
                .unwrap_err()
                .contains("left in")
        );
    }
}
