//! `bpf_tail_call(ctx, prog_array, index)` (12): the run continues in the
//! program a `PROG_ARRAY` slot names, with the same context, and never
//! returns to the caller. An empty slot, an index past the end, or a run
//! that already made [`MAX_TAIL_CALL_CNT`] tail calls falls through: the
//! caller goes on after the call.
//!
//! The slot holds a program reference in the embedder's numbering (the
//! loader stores each program's index in its object); the run's
//! [`TailCallTargets`] ([`RunContext::with_tail_call_targets`](crate::RunContext::with_tail_call_targets))
//! maps it to a loaded program. A target must have been loaded with the
//! same map instances as the caller (each program keeps its own map table
//! and lookup rewrites; nothing but the context crosses the call, as in
//! the kernel). The chain shares one instruction budget, and
//! [`RunOutcome::insns`](crate::RunOutcome::insns) counts every program's
//! instructions.

use std::fmt;
use std::sync::Arc;

use tinybpf_maps::ProgramOp;

use crate::error::HelperError;
use crate::exec::helpers::{HelperContext, check_op, ids};
use crate::program::LoadedProgram;

/// The kernel's limit of tail calls in one run (`MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALL_CNT: u32 = 33;

/// What r0 holds after a tail call that falls through. The kernel leaves r0
/// as it was (the call is an instruction there, not a helper); tinybpf's
/// helpers must return a value, and give -ENOENT.
pub(crate) const FALL_THROUGH: u64 = (-2i64) as u64;

/// The programs tail calls may reach, by the reference a `PROG_ARRAY` slot
/// stores.
#[derive(Clone, Default)]
pub struct TailCallTargets {
    programs: Arc<[Option<Arc<LoadedProgram>>]>,
}

impl TailCallTargets {
    /// Targets by reference: `programs[i]` is what a slot holding `i`
    /// calls (`None`: nothing, the call falls through).
    pub fn new(programs: Vec<Option<Arc<LoadedProgram>>>) -> Self {
        TailCallTargets {
            programs: programs.into(),
        }
    }

    /// The program a slot holding `reference` calls.
    pub fn get(&self, reference: u32) -> Option<&Arc<LoadedProgram>> {
        self.programs.get(reference as usize)?.as_ref()
    }
}

impl fmt::Debug for TailCallTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = self.programs.iter().filter(|p| p.is_some()).count();
        write!(f, "TailCallTargets({present} of {})", self.programs.len())
    }
}

/// Where a run stands in its chain of tail calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct TailCallState {
    /// Tail calls made in this run.
    pub(crate) count: u32,
    /// The program the run continues in, set by the helper.
    pub(crate) next: Option<Arc<LoadedProgram>>,
    /// Budget units and instructions the calling program used up to and
    /// including the call.
    pub(crate) used: u64,
    pub(crate) insns: u64,
}

/// `long bpf_tail_call(ctx, prog_array, u32 index)`.
pub(crate) fn tail_call(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let Some((map_index, map)) = ctx.map(args[1]) else {
        return Ok(FALL_THROUGH);
    };
    check_op(map, map_index, ids::TAIL_CALL, ProgramOp::TailCall)?;
    let Some(reference) = map.tail_call_target(args[2] as u32) else {
        return Ok(FALL_THROUGH);
    };
    ctx.begin_tail_call(reference)
}

#[cfg(test)]
mod tests {
    use tinybpf_maps::{BpfMap, MapDef, MapOptions};

    use super::*;
    use crate::isa::asm::assemble_bytes;
    use crate::{ProgramOptions, RunContext, RunError};

    fn maps() -> (BpfMap, BpfMap) {
        let jumps = MapDef {
            map_type: 3,
            key_size: 4,
            value_size: 4,
            max_entries: 4,
            map_flags: 0,
        };
        let options = MapOptions::with_cpus(1);
        let jumps = BpfMap::create(jumps, &options).unwrap();
        let counter = BpfMap::create(MapDef::array(8, 1), &options).unwrap();
        (jumps, counter)
    }

    /// Counts its runs in map 1's value, tail-calls slot `slot` of map 0,
    /// and returns `fallthrough` when that falls through.
    fn counting(maps: &(BpfMap, BpfMap), slot: u32, fallthrough: i32) -> LoadedProgram {
        counting_in(maps, slot, fallthrough, crate::Tier::Interpreter)
    }

    fn counting_in(
        maps: &(BpfMap, BpfMap),
        slot: u32,
        fallthrough: i32,
        tier: crate::Tier,
    ) -> LoadedProgram {
        let text = format!(
            "mov %r6, %r1\n\
             lddw %r2, map_idx_value:1+0\n\
             ldxdw %r3, [%r2]\n\
             add %r3, 1\n\
             stxdw [%r2], %r3\n\
             mov %r1, %r6\n\
             lddw %r2, map_idx:0\n\
             mov %r3, {slot}\n\
             call 12\n\
             mov %r0, {fallthrough}\n\
             exit"
        );
        let options = ProgramOptions {
            maps: vec![maps.0.clone(), maps.1.clone()],
            tier,
            ..Default::default()
        };
        LoadedProgram::load(&assemble_bytes(&text).unwrap(), options).unwrap()
    }

    fn runs(counter: &BpfMap) -> u64 {
        let value = counter.lookup(&0u32.to_le_bytes()).unwrap();
        u64::from_le_bytes(value.try_into().unwrap())
    }

    #[test]
    fn a_chain_stops_after_33_tail_calls() {
        let maps = maps();
        let program = Arc::new(counting(&maps, 0, 1));
        // Instructions up to the call: a run whose call falls through
        // executes them, then the mov and the exit.
        let before_call = program.run(&mut []).unwrap().insns - 2;
        maps.1
            .update(&0u32.to_le_bytes(), &0u64.to_le_bytes(), 0)
            .unwrap();
        maps.0
            .update(&0u32.to_le_bytes(), &0u32.to_le_bytes(), 0)
            .unwrap();
        let targets = TailCallTargets::new(vec![Some(program.clone())]);
        let mut ctx = RunContext::new().with_tail_call_targets(targets);
        let outcome = program.run_with(&mut [], &mut ctx).unwrap();
        // The first run, then 33 tail calls; the 34th falls through.
        assert_eq!(outcome.retval, 1);
        assert_eq!(runs(&maps.1), 34);
        // 34 programs up to the call, plus the last one's mov and exit.
        assert_eq!(outcome.insns, 34 * before_call + 2);
        // Counted afresh each run.
        program.run_with(&mut [], &mut ctx).unwrap();
        assert_eq!(runs(&maps.1), 68);
        // The chain shares the budget: it ends exactly where it runs out.
        let budget = 34 * before_call + 1;
        let mut ctx = ctx.with_budget(budget);
        assert!(matches!(
            program.run_with(&mut [], &mut ctx),
            Err(RunError::BudgetExhausted { budget: b, .. }) if b == budget
        ));
        assert_eq!(ctx.insn_budget, budget, "the run's budget is restored");
        let mut ctx = ctx.with_budget(budget + 1);
        assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, 1);
    }

    #[test]
    fn compiled_programs_tail_call_alike() {
        // With the jit feature the chain runs compiled; without, this is
        // the interpreter again.
        let maps = maps();
        let program = Arc::new(counting_in(&maps, 0, 1, crate::Tier::Compiled));
        maps.0
            .update(&0u32.to_le_bytes(), &0u32.to_le_bytes(), 0)
            .unwrap();
        let targets = TailCallTargets::new(vec![Some(program.clone())]);
        let mut ctx = RunContext::new().with_tail_call_targets(targets);
        assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, 1);
        assert_eq!(runs(&maps.1), 34);
    }

    #[test]
    fn missing_slots_and_targets_fall_through() {
        let maps = maps();
        // Slot 1 is empty, slot 2 names reference 5, which has no program,
        // and index 9 is past max_entries.
        maps.0
            .update(&2u32.to_le_bytes(), &5u32.to_le_bytes(), 0)
            .unwrap();
        let mut before_call = 0;
        for slot in [1, 2, 9] {
            let program = counting(&maps, slot, 7);
            let mut ctx = RunContext::new().with_tail_call_targets(TailCallTargets::new(vec![]));
            let outcome = program.run_with(&mut [], &mut ctx).unwrap();
            assert_eq!(outcome.retval, 7);
            before_call = outcome.insns - 2;
        }
        // A target that returns at once: the caller never resumes.
        let target = ProgramOptions {
            maps: vec![maps.0.clone(), maps.1.clone()],
            ..Default::default()
        };
        let target =
            LoadedProgram::load(&assemble_bytes("mov %r0, 42\nexit").unwrap(), target).unwrap();
        let targets =
            TailCallTargets::new(vec![None, None, None, None, None, Some(Arc::new(target))]);
        let mut ctx = RunContext::new().with_tail_call_targets(targets);
        let outcome = counting(&maps, 2, 7).run_with(&mut [], &mut ctx).unwrap();
        assert_eq!((outcome.retval, outcome.insns), (42, before_call + 2));
    }
}
