//! What can be proven about a program's `bpf_map_lookup_elem` calls, and the
//! rewrite that uses it.
//!
//! The analysis runs on the translated per-slot ops (the same form every
//! pass reads), in three parts: the abstract values and their joins
//! (`lattice`), what each op does to them, read from the op table's facts
//! (`transfer`), and the worklist over basic blocks (`solver`). It is
//! sound because every transfer over-approximates the VM; anything not
//! proven keeps the helper call. `rewrite_lookups` then replaces each
//! proven `call 1` in place:
//!
//! - a constant key in range becomes `LookupConst` (the element's address),
//!   one past the end `r0 = 0`;
//! - an unknown key becomes `LookupInline` (bounds check plus arithmetic);
//! - a NULL test of a proven element pointer is removed, or becomes `ja`.

mod lattice;
mod map_ops;
mod solver;
mod transfer;

pub(crate) use map_ops::check_map_helpers;

use tinybpf_maps::{BpfMap, MapType};

use crate::exec::helpers::{Helper, Helpers};
use crate::exec::memory::map_value_start;
use crate::ir::op::Op;
use crate::isa::insn::Insn;
use crate::passes::pipeline::Env;
use crate::passes::translate::translate;
use solver::Solver;
use transfer::Context;

/// What the analysis proved about the program's array-map lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupRewrite {
    /// `call 1` at `pc`: r1 is map `map` on every path and r2 points to 4
    /// bytes of the current stack frame holding `key` on every path. The key
    /// may be `>= max_entries` (the lookup then always returns NULL).
    ConstKey {
        /// Slot of the `call`.
        pc: usize,
        /// Map index.
        map: usize,
        /// The key, read little-endian.
        key: u32,
    },
    /// `call 1` at `pc`: r1 is map `map` on every path, the key is not
    /// known: the lookup may be inlined as a bounds check plus arithmetic
    /// (reading the 4 key bytes at r2 exactly as the helper does).
    RuntimeKey {
        /// Slot of the `call`.
        pc: usize,
        /// Map index.
        map: usize,
    },
    /// `if rX == 0` / `if rX != 0` at `pc` (64-bit, immediate 0; or the
    /// 32-bit form for a proven NULL) whose outcome is the same on every
    /// path: rX is, on every path, a map-value pointer proven non-NULL (the
    /// result of an in-range constant-key lookup, or a global-data address)
    /// or proven NULL (an out-of-range constant-key lookup). `taken` says
    /// whether the jump is always taken (`true`) or never taken (`false`).
    NullTestDecided {
        /// Slot of the conditional jump.
        pc: usize,
        /// Whether the jump is always taken.
        taken: bool,
    },
}

impl LookupRewrite {
    /// The slot the finding is about.
    pub fn pc(&self) -> usize {
        match *self {
            LookupRewrite::ConstKey { pc, .. }
            | LookupRewrite::RuntimeKey { pc, .. }
            | LookupRewrite::NullTestDecided { pc, .. } => pc,
        }
    }
}

/// Whether lookups in `map` can be rewritten: an `ARRAY` or a
/// `PERCPU_ARRAY`, whose element `i` lies at `i * round_up(value_size, 8)`
/// in its region (for a per-CPU array, in every CPU's region: each run sees
/// its CPU's region at the map's slot, so one virtual address serves every
/// CPU).
pub(crate) fn inlinable(map: &BpfMap) -> bool {
    matches!(map.map_type(), MapType::Array | MapType::PercpuArray)
}

/// Analyses `insns` (linked slots, as the loader hands them to the VM) with
/// the map table `maps`, assuming helpers 1, 2 and 3 are tinybpf's built-in
/// implementations. Returns the findings sorted by `pc`.
///
/// Never panics and always terminates; on input it does not understand it
/// returns fewer findings (possibly none).
///
/// ```
/// use tinybpf_maps::{BpfMap, MapDef, MapOptions};
/// use tinybpf_vm::passes::lookup::{LookupRewrite, plan_lookup_rewrites};
/// use tinybpf_vm::isa::insn::Insn;
/// let maps = [BpfMap::create(MapDef::array(8, 4), &MapOptions::with_cpus(1)).unwrap()];
/// let insns = [
///     Insn::new(0xb7, 1, 0, 0, 2),   // r1 = 2
///     Insn::new(0x63, 10, 1, -4, 0), // *(u32 *)(r10 - 4) = r1
///     Insn::new(0xbf, 2, 10, 0, 0),  // r2 = r10
///     Insn::new(0x07, 2, 0, 0, -4),  // r2 += -4
///     Insn::new(0x18, 1, 5, 0, 0),   // r1 = map 0 ll
///     Insn::new(0, 0, 0, 0, 0),
///     Insn::new(0x85, 0, 0, 0, 1),   // call 1
///     Insn::new(0x95, 0, 0, 0, 0),   // exit
/// ];
/// assert_eq!(
///     plan_lookup_rewrites(&insns, &maps),
///     vec![LookupRewrite::ConstKey { pc: 6, map: 0, key: 2 }]
/// );
/// ```
pub fn plan_lookup_rewrites(insns: &[Insn], maps: &[BpfMap]) -> Vec<LookupRewrite> {
    plan_lookup_rewrites_for(insns, maps, &Helpers::with_builtins())
}

/// As [`plan_lookup_rewrites`], for the helpers of `registry`: a helper's
/// known behaviour (helper 1 looks up without writing memory, helpers 2 and 3
/// do not write the stack) is assumed only when it is the built-in one. With
/// a replaced helper 1 nothing is proven. A program the translator rejects
/// gives nothing.
pub fn plan_lookup_rewrites_for(
    insns: &[Insn],
    maps: &[BpfMap],
    registry: &Helpers,
) -> Vec<LookupRewrite> {
    match translate(insns, maps, registry, true) {
        Ok(translation) => plan(&translation.ops, maps, &translation.helpers),
        Err(_) => Vec::new(),
    }
}

/// The findings about the per-slot `ops` (whose `CallHelper` ops call
/// `helpers`), sorted by slot.
fn plan(ops: &[Op], maps: &[BpfMap], helpers: &[Helper]) -> Vec<LookupRewrite> {
    if ops.is_empty() {
        return Vec::new();
    }
    let mut solver = Solver::new(ops, Context { maps, helpers });
    solver.solve();
    let mut found = solver.findings();
    found.sort_by_key(LookupRewrite::pc);
    found
}

/// One instruction the lookup rewrite changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewriteSite {
    /// Slot of the instruction in the original program.
    pub pc: usize,
    /// What it became.
    pub kind: RewriteKind,
}

/// What a rewritten instruction became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteKind {
    /// `call 1` with a constant in-range key: `r0 = address of element key of map`.
    ConstKey {
        /// Map index.
        map: usize,
        /// The key.
        key: u32,
    },
    /// `call 1` with a constant key past the end: `r0 = 0`.
    ConstKeyMissing {
        /// Map index.
        map: usize,
        /// The key.
        key: u32,
    },
    /// `call 1` with a run-time key: bounds check and arithmetic, no helper call.
    RuntimeKey {
        /// Map index.
        map: usize,
    },
    /// A NULL test of a proven non-NULL element pointer: removed.
    NullTestRemoved,
    /// A NULL test of a proven non-NULL element pointer: now an unconditional jump.
    NullTestAlwaysTaken,
}

/// The lookup rewrite: runs the analysis and applies its findings to the
/// per-slot ops; returns what changed.
pub(crate) fn rewrite_lookups(
    ops: &mut [Op],
    helpers: &[Helper],
    env: &Env<'_>,
) -> Vec<RewriteSite> {
    let plan = plan(ops, env.maps, helpers);
    let shapes = env.shapes;
    let mut sites = Vec::new();
    for rewrite in &plan {
        let (pc, new_op, kind) = match *rewrite {
            LookupRewrite::ConstKey { pc, map, key } => {
                let Some(shape) = shapes.get(map).filter(|shape| shape.inline) else {
                    continue;
                };
                if u64::from(key) < shape.max_entries {
                    let imm = map_value_start(map) + u64::from(key) * shape.elem_size;
                    (
                        pc,
                        Op::LookupConst { imm },
                        RewriteKind::ConstKey { map, key },
                    )
                } else {
                    let kind = RewriteKind::ConstKeyMissing { map, key };
                    (pc, Op::LookupConst { imm: 0 }, kind)
                }
            }
            LookupRewrite::RuntimeKey { pc, map } => {
                let Ok(index) = u16::try_from(map) else {
                    continue;
                };
                if !shapes.get(map).is_some_and(|shape| shape.inline) {
                    continue;
                }
                (
                    pc,
                    Op::LookupInline { map: index },
                    RewriteKind::RuntimeKey { map },
                )
            }
            LookupRewrite::NullTestDecided { pc, taken } => {
                let Some(op) = ops.get(pc) else { continue };
                let Some(target) = op.facts().local_target() else {
                    continue;
                };
                if taken {
                    (pc, Op::Ja { target }, RewriteKind::NullTestAlwaysTaken)
                } else {
                    (pc, Op::Nop, RewriteKind::NullTestRemoved)
                }
            }
        };
        let Some(slot) = ops.get_mut(pc) else {
            continue;
        };
        let expected = match kind {
            RewriteKind::NullTestRemoved | RewriteKind::NullTestAlwaysTaken => matches!(
                slot,
                Op::JeqImm { imm: 0, .. }
                    | Op::JneImm { imm: 0, .. }
                    | Op::Jeq32Imm { imm: 0, .. }
                    | Op::Jne32Imm { imm: 0, .. }
            ),
            RewriteKind::ConstKey { .. }
            | RewriteKind::ConstKeyMissing { .. }
            | RewriteKind::RuntimeKey { .. } => *slot == Op::MapLookup,
        };
        if expected {
            *slot = new_op;
            sites.push(RewriteSite { pc, kind });
        }
    }
    sites
}

#[cfg(test)]
mod tests;
