//! The kernel verifier's rule on map helpers
//! (`check_map_func_compatibility`): a program may not look up, update or
//! delete elements of a map type that does not allow it (a program array,
//! a perf event array, a ring buffer...), nor read per-CPU values of a map
//! that has none. Such a program is refused at load time when the lookup
//! analysis proves which map a call receives in r1; when it cannot (the map
//! comes through `callx`, a spilled register or a join of two maps), the
//! helper refuses the call at run time
//! ([`HelperError::MapRefused`](crate::HelperError::MapRefused)).
//!
//! The analysis runs only when the program calls a map helper that some map
//! of its table refuses, so a program over arrays and hashes pays nothing.

use tinybpf_maps::BpfMap;

use crate::error::{InvalidInsn, MapRefusal, VerifyError};
use crate::exec::helpers::{Helper, builtin_map_op, builtin_name, ids};
use crate::ir::op::Op;
use crate::passes::lookup::lattice::Val;
use crate::passes::lookup::solver::Solver;
use crate::passes::lookup::transfer::Context;

/// The built-in map helper `op` calls, if any: its id.
fn map_helper(op: &Op, helpers: &[Helper]) -> Option<u32> {
    if *op == Op::MapLookup {
        return Some(ids::MAP_LOOKUP_ELEM);
    }
    let Op::CallHelper { slot } = *op else {
        return None;
    };
    helpers
        .get(slot as usize)
        .filter(|h| h.builtin && builtin_map_op(h.id).is_some())
        .map(|h| h.id)
}

/// Refuses the program (the first offending call, by slot) when a built-in
/// map helper receives, on every path, a map whose type the kernel's
/// verifier refuses for it.
pub(crate) fn check_map_helpers(
    ops: &[Op],
    helpers: &[Helper],
    maps: &[BpfMap],
) -> Result<(), VerifyError> {
    let refused_somewhere = |id: u32| {
        builtin_map_op(id).is_some_and(|op| maps.iter().any(|m| m.check_program_op(op).is_err()))
    };
    if !ops
        .iter()
        .filter_map(|op| map_helper(op, helpers))
        .any(refused_somewhere)
    {
        return Ok(());
    }
    let mut solver = Solver::new(ops, Context { maps, helpers });
    solver.solve();
    let mut first: Option<VerifyError> = None;
    solver.visit(|pc, op, state| {
        if first.is_some() {
            return;
        }
        let (Some(id), Val::MapHandle(map)) = (map_helper(op, helpers), state.reg(1)) else {
            return;
        };
        let (Some(operation), Some(bpf_map)) = (builtin_map_op(id), maps.get(map)) else {
            return;
        };
        if let Err(source) = bpf_map.check_program_op(operation) {
            first = Some(VerifyError::Invalid {
                pc,
                kind: InvalidInsn::MapHelperRefused(Box::new(MapRefusal {
                    helper: builtin_name(id),
                    map,
                    source,
                })),
            });
        }
    });
    // Blocks are visited in slot order, so the first found is the lowest.
    first.map_or(Ok(()), Err)
}
