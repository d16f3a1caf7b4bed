//! The load-time pipeline: the passes a program goes through, in order, and
//! the switches that turn the optimising ones off.
//!
//! ```text
//!  raw slots ─▶ check and translate ─▶ per-slot ops (one per original slot)
//!                                        │   ─▶ stack depth (the frame extent)
//!    ┌───────────────────────────────────┘   each optimising pass: ops ─▶ ops,
//!    ▼                                       verified after it in debug builds
//!  lookup rewrite ─▶ dead code ─▶ dead stack stores [─▶ dead code]
//!    ─▶ constant addresses [─▶ dead code] ─▶ compaction (+ fusion)
//!                                        │
//!                                        ▼
//!                         final ops ─▶ verifier (always) ─▶ runnable
//! ```
//!
//! Every optimising pass is sound on its own: turning any of them off
//! ([`Passes`]) changes no result, fault, map byte or input byte of any run;
//! only speed and the instructions counted (dead code is not counted) may
//! differ. `fuzz/` and the random differential test check exactly that, with
//! every pass on against none and against each single pass off. The
//! verifier (`passes::verify`) checks the translated form's invariants,
//! the ones the interpreter's unchecked fetch and proven accesses rely on,
//! after every pass when [`Passes::verify_each`] is set (by default in
//! debug builds, which fuzzing uses) and always once at the end.

use crate::ProgramKind;
use crate::passes::ctx_access::{check_context_accesses, check_helpers_offered};
use tinybpf_maps::BpfMap;

use crate::error::VerifyError;
use crate::exec::MapShape;
use crate::exec::helpers::{Helper, Helpers};
use crate::exec::memory::Region;
use crate::ir::op::Op;
use crate::isa::insn::Insn;
use crate::passes::compact::compact;
use crate::passes::const_addr::resolve_constant_addresses;
use crate::passes::liveness::{eliminate_dead_code, eliminate_dead_stack_stores};
use crate::passes::lookup::{RewriteSite, check_map_helpers, rewrite_lookups};
use crate::passes::stack_depth::frame_extent;
use crate::passes::translate::translate;
use crate::passes::verify::{Form, verify};

/// Which optimising passes run (the check, the translation, compaction and
/// the final verification always do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passes {
    /// Rewrite array lookups the analysis proves (needs
    /// [`ProgramOptions::inline_lookups`](crate::ProgramOptions::inline_lookups)).
    pub lookup_rewrite: bool,
    /// Remove ops whose result nothing reads.
    pub dead_code: bool,
    /// Remove stack stores nothing reads.
    pub dead_stores: bool,
    /// Turn accesses through proven constant map-value addresses into
    /// direct ones.
    pub const_addresses: bool,
    /// Fuse common runs of ops into superinstructions.
    pub fusion: bool,
    /// Verify the program after every pass, not only after the last.
    pub verify_each: bool,
}

impl Passes {
    /// Every optimising pass, verifying after each one in debug builds.
    pub const ALL: Passes = Passes {
        lookup_rewrite: true,
        dead_code: true,
        dead_stores: true,
        const_addresses: true,
        fusion: true,
        verify_each: cfg!(debug_assertions),
    };

    /// No optimising pass.
    pub const NONE: Passes = Passes {
        lookup_rewrite: false,
        dead_code: false,
        dead_stores: false,
        const_addresses: false,
        fusion: false,
        verify_each: cfg!(debug_assertions),
    };

    /// The names of the optimising passes, in pipeline order.
    pub const NAMES: [&'static str; 5] = [
        "lookup_rewrite",
        "dead_code",
        "dead_stores",
        "const_addresses",
        "fusion",
    ];

    /// All passes but the one named (one of [`Passes::NAMES`]).
    ///
    /// ```
    /// use tinybpf_vm::Passes;
    /// let without = Passes::all_but("fusion").unwrap();
    /// assert!(!without.fusion && without.dead_code);
    /// assert!(Passes::all_but("nothing").is_none());
    /// ```
    pub fn all_but(name: &str) -> Option<Passes> {
        let mut passes = Passes::ALL;
        *passes.switch(name)? = false;
        Some(passes)
    }

    fn switch(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "lookup_rewrite" => &mut self.lookup_rewrite,
            "dead_code" => &mut self.dead_code,
            "dead_stores" => &mut self.dead_stores,
            "const_addresses" => &mut self.const_addresses,
            "fusion" => &mut self.fusion,
            _ => return None,
        })
    }
}

impl Default for Passes {
    fn default() -> Self {
        Passes::ALL
    }
}

/// Which elimination removed a slot, and so why nothing needed it
/// ([`LoadedProgram::removal`](crate::LoadedProgram::removal)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Dead code: nothing reads the register it writes (such as the map
    /// and key pointer set up for a lookup the rewrite replaced).
    DeadCode,
    /// A dead stack store: no path reads the stack bytes it writes (such as
    /// the key of a rewritten lookup).
    DeadStore,
    /// Dead code once dead stack stores were removed: only they read it.
    DeadCodeAfterStores,
    /// Dead code once the accesses through a constant map-value address
    /// became direct: only they read the address it set.
    DeadCodeAfterDirect,
    /// Removed by the constant-address pass itself.
    ConstAddresses,
}

impl Removal {
    /// What removed it, as the end of a sentence: `dead code (nothing reads
    /// its result)`.
    pub fn describe(self) -> &'static str {
        match self {
            Removal::DeadCode => "dead code: nothing reads its result",
            Removal::DeadStore => "dead store: no path reads the stack bytes it writes",
            Removal::DeadCodeAfterStores => {
                "dead code once dead stack stores were removed: only they read its result"
            }
            Removal::DeadCodeAfterDirect => {
                "dead code once accesses through the address it sets became direct"
            }
            Removal::ConstAddresses => "removed by the constant-address pass",
        }
    }
}

/// What the passes read and never change: the map table and the helpers.
pub(crate) struct Env<'a> {
    /// The original slots (the lookup analysis reads them).
    pub insns: &'a [Insn],
    /// The map table.
    pub maps: &'a [BpfMap],
    /// Each map's value area, by index.
    pub regions: &'a [Region],
    /// Each map's shape, by index.
    pub shapes: &'a [MapShape],
    /// The helper registry.
    pub registry: &'a Helpers,
}

/// The program between passes: one op per original slot.
pub(crate) struct SlotProgram {
    /// The ops, numbered as the original slots.
    pub ops: Vec<Op>,
    /// The helpers `CallHelper` ops call, by slot.
    pub helpers: Vec<Helper>,
}

/// The program as it runs.
pub(crate) struct Built {
    /// The compacted, fused ops.
    pub ops: Vec<Op>,
    /// The original slot of each op.
    pub origin: Vec<u32>,
    /// Prefix sums of the ops' weights (`ops.len() + 1` entries).
    pub weight_prefix: Vec<u64>,
    /// The weight of the straight-line run starting at each op.
    pub run_weight: Vec<u64>,
    /// The helpers `CallHelper` ops call, by slot.
    pub helpers: Vec<Helper>,
    /// The sites the lookup rewrite changed.
    pub rewrites: Vec<RewriteSite>,
    /// The slots the elimination passes removed, ascending.
    pub eliminated: Vec<usize>,
    /// Which pass removed each slot of `eliminated`.
    pub removals: Vec<Removal>,
    /// How many bytes below the top of the stack a run can reach.
    pub stack_extent: usize,
}

/// The optimising passes over the per-slot program. Each returns how many
/// ops it changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    DeadCode,
    DeadStores,
    ConstAddresses,
}

impl Pass {
    fn name(self) -> &'static str {
        match self {
            Pass::DeadCode => "dead code",
            Pass::DeadStores => "dead stack stores",
            Pass::ConstAddresses => "constant addresses",
        }
    }

    fn enabled(self, passes: &Passes) -> bool {
        match self {
            Pass::DeadCode => passes.dead_code,
            Pass::DeadStores => passes.dead_stores,
            Pass::ConstAddresses => passes.const_addresses,
        }
    }

    fn run(self, program: &mut SlotProgram, env: &Env<'_>) -> usize {
        match self {
            Pass::DeadCode => eliminate_dead_code(&mut program.ops),
            Pass::DeadStores => eliminate_dead_stack_stores(&mut program.ops),
            Pass::ConstAddresses => {
                resolve_constant_addresses(&mut program.ops, env.maps, env.regions)
            }
        }
    }
}

/// The elimination passes after the lookup rewrite, in order. `true`: run
/// only when the pass before it changed something (dead code again, for
/// what dead stores and constant addresses left dead: a lookup's key setup,
/// the base register of an access that became direct).
const AFTER_REWRITE: [(Pass, bool); 5] = [
    (Pass::DeadCode, false),
    (Pass::DeadStores, false),
    (Pass::DeadCode, true),
    (Pass::ConstAddresses, false),
    (Pass::DeadCode, true),
];

/// Runs the whole pipeline over `insns`.
pub(crate) fn build(
    env: &Env<'_>,
    passes: Passes,
    inline_lookups: bool,
    kind: ProgramKind,
) -> Result<Built, VerifyError> {
    let translation = translate(env.insns, env.maps, env.registry, inline_lookups)?;
    let mut program = SlotProgram {
        ops: translation.ops,
        helpers: translation.helpers,
    };
    // On the program as written, so that it does not depend on the switches.
    let stack_extent = frame_extent(&program.ops, &program.helpers);
    let check = |program: &SlotProgram, pass: &'static str| -> Result<(), VerifyError> {
        if passes.verify_each {
            let form = Form::Slots(&program.ops);
            verify(form, &program.helpers, stack_extent, env, pass)?;
        }
        Ok(())
    };
    check(&program, "translation")?;
    check_map_helpers(&program.ops, &program.helpers, env.maps)?;
    check_context_accesses(&program.ops, kind)?;
    check_helpers_offered(&program.ops, &program.helpers, kind)?;
    let rewrites = if passes.lookup_rewrite && inline_lookups {
        let sites = rewrite_lookups(&mut program.ops, &program.helpers, env);
        check(&program, "lookup rewrite")?;
        sites
    } else {
        Vec::new()
    };
    // Which pass removed each slot (slots already Nop stay None).
    let mut removed: Vec<Option<Removal>> = vec![None; program.ops.len()];
    let mut nop_before: Vec<bool> = program.ops.iter().map(|op| *op == Op::Nop).collect();
    let mut changed = 0;
    for (step, (pass, only_after_change)) in AFTER_REWRITE.into_iter().enumerate() {
        if !pass.enabled(&passes) || (only_after_change && changed == 0) {
            changed = 0;
            continue;
        }
        changed = pass.run(&mut program, env);
        check(&program, pass.name())?;
        if changed > 0 {
            let removal = match (pass, step) {
                (Pass::DeadStores, _) => Removal::DeadStore,
                (Pass::ConstAddresses, _) => Removal::ConstAddresses,
                (Pass::DeadCode, 0) => Removal::DeadCode,
                (Pass::DeadCode, 2) => Removal::DeadCodeAfterStores,
                (Pass::DeadCode, _) => Removal::DeadCodeAfterDirect,
            };
            for (slot, op) in program.ops.iter().enumerate() {
                if *op == Op::Nop && !nop_before[slot] {
                    nop_before[slot] = true;
                    removed[slot] = Some(removal);
                }
            }
        }
    }
    let (eliminated, removals): (Vec<usize>, Vec<Removal>) = removed
        .iter()
        .enumerate()
        .filter_map(|(slot, removal)| Some((slot, (*removal)?)))
        .unzip();
    let compacted = compact(&program.ops, passes.fusion);
    let built = Built {
        ops: compacted.ops,
        origin: compacted.origin,
        weight_prefix: compacted.weight_prefix,
        run_weight: compacted.run_weight,
        helpers: program.helpers,
        rewrites,
        eliminated,
        removals,
        stack_extent,
    };
    verify(
        Form::Final {
            ops: &built.ops,
            origin: &built.origin,
            weight_prefix: &built.weight_prefix,
            run_weight: &built.run_weight,
        },
        &built.helpers,
        built.stack_extent,
        env,
        "compaction",
    )?;
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::asm::assemble;
    use crate::{LoadedProgram, ProgramOptions};
    use tinybpf_maps::{MapDef, MapOptions};

    const PROGRAM: &str = "
        mov %r1, 1
        stxw [%r10-4], %r1
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx:0
        call 1
        jeq %r0, 0, +6
        ldxdw %r1, [%r0]
        mov %r2, %r1
        lsh %r2, 3
        add %r1, %r2
        stxdw [%r0], %r1
        mov %r0, %r1
        exit";

    fn load(passes: Passes, map: &BpfMap) -> LoadedProgram {
        let insns = assemble(PROGRAM).unwrap();
        let options = ProgramOptions {
            maps: vec![map.clone()],
            passes,
            ..ProgramOptions::default()
        };
        LoadedProgram::from_insns(&insns, options).unwrap()
    }

    #[test]
    fn each_removed_slot_says_which_pass_removed_it() {
        let map = BpfMap::create(MapDef::array(8, 2), &MapOptions::with_cpus(1)).unwrap();
        let program = load(Passes::ALL, &map);
        let removals: Vec<(usize, Removal)> = program
            .eliminated()
            .iter()
            .map(|&slot| (slot, program.removal(slot).unwrap()))
            .collect();
        assert_eq!(
            removals,
            [
                (0, Removal::DeadCodeAfterStores), // the key's value
                (1, Removal::DeadStore),           // the key
                (2, Removal::DeadCode),            // r2 = r10 ...
                (3, Removal::DeadCode),            // ... - 4
                (4, Removal::DeadCode),            // r1 = the map
                (6, Removal::DeadCodeAfterDirect), // r0 = &map[1]
            ]
        );
        assert_eq!(program.removal(5), None);
        let none = load(Passes::NONE, &map);
        assert_eq!(none.removal(0), None);
    }

    #[test]
    fn each_switch_turns_its_pass_off_and_no_switch_changes_a_result() {
        let runs = |passes: Passes| {
            let map = BpfMap::create(MapDef::array(8, 2), &MapOptions::with_cpus(1)).unwrap();
            map.update(&1u32.to_le_bytes(), &3u64.to_le_bytes(), 0)
                .unwrap();
            let program = load(passes, &map);
            let results: Vec<u64> = (0..3)
                .map(|_| program.run(&mut []).unwrap().retval)
                .collect();
            (program, results, map.lookup(&1u32.to_le_bytes()).unwrap())
        };
        let (all, expected, map_after) = runs(Passes::ALL);
        assert_eq!(expected, [27, 243, 2187]);
        assert!(!all.rewrites().is_empty() && !all.eliminated().is_empty());
        assert!(all.ops().iter().any(|op| op.parts().len() > 1));
        assert!(
            all.ops()
                .iter()
                .any(|op| matches!(op, Op::FixedStxDW { .. }))
        );
        let (none, results, map) = runs(Passes::NONE);
        assert_eq!((results, map), (expected.clone(), map_after.clone()));
        assert!(none.rewrites().is_empty() && none.eliminated().is_empty());
        assert!(none.ops().iter().all(|op| op.parts().len() == 1));
        for name in Passes::NAMES {
            let (program, results, map) = runs(Passes::all_but(name).unwrap());
            assert_eq!(
                (results, map),
                (expected.clone(), map_after.clone()),
                "{name}"
            );
            match name {
                "lookup_rewrite" => assert!(program.rewrites().is_empty()),
                "fusion" => assert!(program.ops().iter().all(|op| op.parts().len() == 1)),
                "const_addresses" => assert!(
                    !program
                        .ops()
                        .iter()
                        .any(|op| matches!(op, Op::FixedStxDW { .. }))
                ),
                _ => assert!(
                    program.eliminated().len() < all.eliminated().len(),
                    "{name}"
                ),
            }
        }
    }
}
