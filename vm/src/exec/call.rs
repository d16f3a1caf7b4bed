//! Helper calls from the interpreter: what a helper is handed, and what
//! happens to the budget units it charges.

use crate::error::{HelperError, RunError};
use crate::exec::context::RunContext;
use crate::exec::helpers::{Helper, HelperContext};
use crate::exec::memory::AddressSpace;
use crate::program::LoadedProgram;

/// How much of the budget a run has used: `count` plus the weights of the
/// ops from `segment` to `next` (the op after the current one).
#[derive(Clone, Copy)]
pub(crate) struct Spent {
    pub(crate) count: u64,
    pub(crate) segment: usize,
    pub(crate) next: usize,
}

impl Spent {
    /// Instructions and units used so far.
    pub(crate) fn used(&self, program: &LoadedProgram) -> u64 {
        let counts = program.counts();
        self.count + (counts[self.next].prefix - counts[self.segment].prefix)
    }
}

/// Calls a helper with r1..r5 and what is left of the budget; returns r0
/// and leaves the units it charged in `ctx.pending_charge` (and in
/// `ctx.charged`). Its fault becomes the run's error at the call;
/// a charge past the budget ends the run there with `BudgetExhausted`. Kept
/// out of line (with the budget and fault bookkeeping) so the interpreter
/// loop stays small.
#[inline(never)]
pub(crate) fn call_helper(
    program: &LoadedProgram,
    helper: &Helper,
    space: &AddressSpace<'_>,
    ctx: &mut RunContext,
    args: [u64; 5],
    spent: Spent,
) -> Result<u64, RunError> {
    let mut hctx = HelperContext::new(space, program, ctx, &spent);
    let result = (helper.func)(&mut hctx, args);
    if hctx.touched_budget() {
        let charged = hctx.charged();
        charged_call(program, ctx, spent, charged)?;
    }
    result.map_err(|source| RunError::Helper {
        pc: program.origin(spent.next - 1),
        id: helper.id,
        source,
    })
}

/// After a helper that charged: the run ends at the call if a charge ran
/// past the budget; otherwise the units wait in `ctx.pending_charge` for
/// the loop to count them.
#[cold]
#[inline(never)]
fn charged_call(
    program: &LoadedProgram,
    ctx: &mut RunContext,
    spent: Spent,
    charged: Option<u64>,
) -> Result<(), RunError> {
    let Some(charged) = charged else {
        return Err(RunError::BudgetExhausted {
            pc: program.origin(spent.next - 1),
            budget: ctx.insn_budget,
        });
    };
    ctx.charged += charged;
    ctx.pending_charge = charged;
    Ok(())
}

/// `bpf_map_lookup_elem` of a map whose lookups are not inlined (the
/// `call 1` op's slow path, in both tiers): charges the key's units
/// ([`crate::exec::helpers`]) before the lookup, as a helper would, so a
/// lookup that does not fit ends the run at the call.
pub(crate) fn charged_lookup(
    program: &LoadedProgram,
    space: &AddressSpace<'_>,
    ctx: &mut RunContext,
    spent: Spent,
    handle: u64,
    key_addr: u64,
) -> Result<u64, RunError> {
    let pc = program.origin(spent.next - 1);
    let left = ctx.insn_budget.saturating_sub(spent.used(program));
    let mut units = 0;
    let result = crate::exec::helpers::lookup_elem(
        program.maps(),
        space,
        ctx.cpu_id,
        handle,
        key_addr,
        &mut |charge| {
            if charge > left {
                return Err(HelperError::BudgetExhausted);
            }
            units = charge;
            Ok(())
        },
    );
    match result {
        Ok(addr) => {
            if units != 0 {
                ctx.charged += units;
                ctx.pending_charge = units;
            }
            Ok(addr)
        }
        Err(HelperError::BudgetExhausted) => Err(RunError::BudgetExhausted {
            pc,
            budget: ctx.insn_budget,
        }),
        Err(source) => Err(RunError::Helper {
            pc,
            id: crate::exec::helpers::ids::MAP_LOOKUP_ELEM,
            source,
        }),
    }
}
