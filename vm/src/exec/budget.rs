//! The end of a run's budget: what runs when only part of an op fits.
//!
//! The interpreter's exact instance (see [`crate::exec::interp`]) checks,
//! before each op, that the op's weight still fits. When it does not, the
//! run executes exactly as many instructions as are left: the first parts of
//! a fused op (the parts before the last are always plain register ops: a
//! fused op's memory access or branch is its last part), then stops at the
//! slot of the first part it did not execute.

use crate::error::RunError;
use crate::program::LoadedProgram;

/// Runs the first `fits` parts of op `index` (fewer than its weight) on
/// `regs`, and returns the fault that ends the run at the next part.
#[cold]
#[inline(never)]
pub(crate) fn exhaust(
    program: &LoadedProgram,
    regs: &mut [u64; 16],
    index: usize,
    fits: u64,
    budget: u64,
) -> RunError {
    let op = program.ops()[index];
    let parts = op.parts();
    let mut done = 0;
    for part in parts
        .as_slice()
        .iter()
        .take(usize::try_from(fits).unwrap_or(usize::MAX))
    {
        let (Some(dst), Some(value)) = (
            part.facts().writes.single(),
            part.fold(|r| regs.get(usize::from(r)).copied()),
        ) else {
            // Not a plain register op: it cannot run alone (never the case
            // for a fused op's leading parts, which the op table checks).
            break;
        };
        regs[usize::from(dst) & 15] = value;
        done += 1;
    }
    RunError::BudgetExhausted {
        pc: program.origin(index) + done,
        budget,
    }
}
