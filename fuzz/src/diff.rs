//! The differential check: one program loaded twice, with and without the
//! lookup rewrite, each over its own freshly created maps (same definitions,
//! same initial contents), run several times over its own copy of the input.
//! Results, errors, map bytes and input bytes must agree.

use tinybpf::maps::{ArrayMap, BpfMap, shared_mem};
use tinybpf::vm::{
    Helpers, LoadedProgram, ProgramKind, ProgramOptions, RunContext, RunError, RunOutcome,
    VerifyError,
};

use crate::vm_case::MapSpec;

/// What to run.
#[derive(Debug, Clone)]
pub struct DiffCase<'a> {
    /// The bytecode.
    pub code: &'a [u8],
    /// The maps (created afresh for each mode).
    pub maps: &'a [MapSpec],
    /// How the program receives its input.
    pub kind: ProgramKind,
    /// The input memory (each mode runs over its own copy, kept across runs).
    pub input: &'a [u8],
    /// How many runs.
    pub runs: usize,
    /// The instruction budget of each run.
    pub budget: u64,
}

/// How far the two modes got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreement {
    /// Both loads failed with the same error.
    BothRejected(VerifyError),
    /// Every run agreed, and so did the maps and the input afterwards.
    Agreed {
        /// Runs compared (fewer than asked when a budget ran out).
        runs: usize,
        /// Runs that ended with `Ok`.
        ok_runs: usize,
    },
}

/// The built-in helpers, with `ktime_get_ns` (5) replaced by a constant so
/// that both modes see the same values. Helpers 1 to 3 stay the built-in
/// ones, so the analysis may still rewrite lookups.
pub fn deterministic_helpers() -> Helpers {
    let mut helpers = Helpers::with_builtins();
    helpers.register(5, "ktime_get_ns", |_, _| Ok(1_000_000));
    helpers
}

/// Every byte of a map's value area, padding included.
pub fn snapshot(map: &ArrayMap) -> Vec<u8> {
    let mut bytes = vec![0u8; map.value_area_len()];
    // SAFETY: the value area holds `value_area_len` bytes and lives as long
    // as `map`; it is only accessed through `shared_mem`, as here.
    unsafe { shared_mem::copy_out(map.value_area_ptr().as_ptr(), &mut bytes) };
    bytes
}

/// A run's result with the instruction count and the fault's pc left out
/// (the rewrite executes fewer instructions; both faults name original slots,
/// but a fused op may name its first slot).
fn summary(result: &Result<RunOutcome, RunError>) -> String {
    match result {
        Ok(outcome) => format!("Ok(retval {:#x})", outcome.retval),
        Err(RunError::OutOfBounds {
            addr, size, access, ..
        }) => format!("OutOfBounds({access} {size} at {addr:#x})"),
        Err(RunError::MisalignedAtomic { addr, size, .. }) => {
            format!("MisalignedAtomic({size} at {addr:#x})")
        }
        Err(RunError::BudgetExhausted { .. }) => "BudgetExhausted".to_owned(),
        Err(RunError::CallDepthExceeded { limit, .. }) => format!("CallDepthExceeded({limit})"),
        Err(RunError::UnknownHelper { id, .. }) => format!("UnknownHelper({id})"),
        Err(RunError::Helper { id, source, .. }) => format!("Helper({id}: {source})"),
        Err(RunError::InputTooLarge { len, limit }) => format!("InputTooLarge({len}, {limit})"),
        Err(RunError::CpuOutOfRange { cpu, possible_cpus }) => {
            format!("CpuOutOfRange({cpu}, {possible_cpus})")
        }
    }
}

fn load(
    case: &DiffCase<'_>,
    maps: &[ArrayMap],
    inline: bool,
) -> Result<LoadedProgram, VerifyError> {
    LoadedProgram::load(
        case.code,
        ProgramOptions {
            kind: case.kind,
            maps: maps
                .iter()
                .map(|m| BpfMap::from_array(m.clone(), 1))
                .collect(),
            helpers: deterministic_helpers(),
            inline_lookups: inline,
            ..ProgramOptions::default()
        },
    )
}

/// Runs `case` in both modes; `Err` describes the first disagreement.
pub fn compare(case: &DiffCase<'_>) -> Result<Agreement, String> {
    let maps_on: Vec<ArrayMap> = case.maps.iter().map(MapSpec::create).collect();
    let maps_off: Vec<ArrayMap> = case.maps.iter().map(MapSpec::create).collect();
    let (on, off) = match (load(case, &maps_on, true), load(case, &maps_off, false)) {
        (Ok(on), Ok(off)) => (on, off),
        (Err(a), Err(b)) if a == b => return Ok(Agreement::BothRejected(a)),
        (a, b) => {
            return Err(format!(
                "load differs: inline {:?} / plain {:?}",
                a.err(),
                b.err()
            ));
        }
    };
    let mut input_on = case.input.to_vec();
    let mut input_off = case.input.to_vec();
    let mut ok_runs = 0;
    for run in 0..case.runs {
        let result_on = on.run_with(
            &mut input_on,
            &mut RunContext::new().with_budget(case.budget),
        );
        let result_off = off.run_with(
            &mut input_off,
            &mut RunContext::new().with_budget(case.budget),
        );
        // The rewrite runs fewer instructions, so one mode may run out of
        // budget where the other does not: nothing to compare from there on.
        if matches!(result_on, Err(RunError::BudgetExhausted { .. }))
            || matches!(result_off, Err(RunError::BudgetExhausted { .. }))
        {
            return Ok(Agreement::Agreed { runs: run, ok_runs });
        }
        let (a, b) = (summary(&result_on), summary(&result_off));
        if a != b {
            return Err(format!(
                "run {run}: inline {result_on:?} / plain {result_off:?}"
            ));
        }
        if result_on.is_ok() {
            ok_runs += 1;
        }
        for (index, (m_on, m_off)) in maps_on.iter().zip(&maps_off).enumerate() {
            let (a, b) = (snapshot(m_on), snapshot(m_off));
            if a != b {
                return Err(format!(
                    "run {run} ({}): map {index} differs:\n inline {a:02x?}\n plain  {b:02x?}",
                    summary(&result_on)
                ));
            }
        }
        if input_on != input_off {
            return Err(format!(
                "run {run}: input differs:\n inline {input_on:02x?}\n plain  {input_off:02x?}"
            ));
        }
    }
    Ok(Agreement::Agreed {
        runs: case.runs,
        ok_runs,
    })
}
