//! The differential check: one program loaded in several pass
//! configurations (every optimising pass; none, with every `call 1` a plain
//! helper call; and every pass but one, for each pass), each over its own
//! freshly created maps (same definitions, same initial contents), run
//! several times over its own copy of the input. Results, errors, map bytes
//! and input bytes must agree with the configuration without passes; and
//! where only fusion differs, so must the instruction counts and the
//! instruction a budget stops at.

use tinybpf::maps::{ArrayMap, BpfMap, shared_mem};
use tinybpf::vm::{
    Clock, Helpers, LoadedProgram, Passes, ProgramKind, ProgramOptions, RunContext, RunError,
    RunOutcome, Tier, TierUsed, VerifyError,
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

/// One way of loading the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A name for messages.
    pub name: &'static str,
    /// The passes.
    pub passes: Passes,
    /// `ProgramOptions::inline_lookups`.
    pub inline_lookups: bool,
    /// `ProgramOptions::tier`: [`Tier::Compiled`] must compile (the
    /// comparison fails when it falls back).
    pub tier: Tier,
}

/// The configurations compared, the reference (no pass, plain helper calls)
/// first.
pub fn configs() -> Vec<Config> {
    let mut configs = vec![
        Config {
            name: "no pass",
            passes: Passes::NONE,
            inline_lookups: false,
            tier: Tier::Interpreter,
        },
        Config {
            name: "every pass",
            passes: Passes::ALL,
            inline_lookups: true,
            tier: Tier::Interpreter,
        },
        Config {
            name: "no pass, inline lookups",
            passes: Passes::NONE,
            inline_lookups: true,
            tier: Tier::Interpreter,
        },
        Config {
            name: "fusion only",
            passes: Passes {
                fusion: true,
                ..Passes::NONE
            },
            inline_lookups: false,
            tier: Tier::Interpreter,
        },
    ];
    for name in Passes::NAMES {
        configs.push(Config {
            name,
            passes: Passes::all_but(name).expect("a pass name"),
            inline_lookups: true,
            tier: Tier::Interpreter,
        });
    }
    configs
}

/// The configurations of the `jit_diff` target: the interpreter with no
/// pass (the reference), then each tier with every pass, with none (and
/// plain helper calls), and with fusion only. Each compiled configuration
/// must give exactly what the interpreter gives with the same passes:
/// results, faults, instruction counts and the instruction a budget stops at.
pub fn tier_configs() -> Vec<Config> {
    let mut configs = Vec::new();
    for (name, passes, inline_lookups) in [
        ("no pass", Passes::NONE, false),
        ("every pass", Passes::ALL, true),
        (
            "fusion only",
            Passes {
                fusion: true,
                ..Passes::NONE
            },
            false,
        ),
    ] {
        for (tier, tier_name) in [(Tier::Interpreter, ""), (Tier::Compiled, ", compiled")] {
            configs.push(Config {
                name: if tier_name.is_empty() {
                    name
                } else {
                    match name {
                        "no pass" => "no pass, compiled",
                        "every pass" => "every pass, compiled",
                        _ => "fusion only, compiled",
                    }
                },
                passes,
                inline_lookups,
                tier,
            });
        }
    }
    configs
}

/// Whether two configurations differ only in fusion (so they must count the
/// same instructions).
fn only_fusion_differs(a: &Config, b: &Config) -> bool {
    let unfused = |c: &Config| Passes {
        fusion: false,
        ..c.passes
    };
    a.inline_lookups == b.inline_lookups && unfused(a) == unfused(b)
}

/// How far the configurations got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreement {
    /// Every load failed with the same error.
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
/// that every configuration sees the same values. Helpers 1 to 3 stay the built-in
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

/// A run's result with the instruction count left out (dead code is not
/// counted), and the budget's stopping point (it depends on the count).
/// Every fault names the same instruction in every configuration: no pass
/// removes, fuses or moves an op that can fault.
fn summary(result: &Result<RunOutcome, RunError>) -> String {
    match result {
        Ok(outcome) => format!("Ok(retval {:#x})", outcome.retval),
        Err(RunError::BudgetExhausted { .. }) => "BudgetExhausted".to_owned(),
        Err(other) => format!("{other:?}"),
    }
}

fn load(
    case: &DiffCase<'_>,
    maps: &[ArrayMap],
    config: &Config,
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
            inline_lookups: config.inline_lookups,
            passes: Passes {
                // Check the translated form after every pass.
                verify_each: true,
                ..config.passes
            },
            tier: config.tier,
        },
    )
}

/// One configuration's program, maps and input.
struct Loaded {
    config: Config,
    program: LoadedProgram,
    maps: Vec<ArrayMap>,
    input: Vec<u8>,
}

/// The maps and input of two configurations after run `run` agree.
fn same_memory(run: usize, a: &Loaded, b: &Loaded) -> Result<(), String> {
    for (index, (x, y)) in a.maps.iter().zip(&b.maps).enumerate() {
        let (x, y) = (snapshot(x), snapshot(y));
        if x != y {
            return Err(format!(
                "run {run}: map {index} differs:\n {} {x:02x?}\n {} {y:02x?}",
                a.config.name, b.config.name
            ));
        }
    }
    if a.input != b.input {
        return Err(format!(
            "run {run}: input differs:\n {} {:02x?}\n {} {:02x?}",
            a.config.name, a.input, b.config.name, b.input
        ));
    }
    Ok(())
}

/// Runs `case` in every configuration of [`configs`]; `Err` describes the
/// first disagreement with the reference.
pub fn compare(case: &DiffCase<'_>) -> Result<Agreement, String> {
    compare_configs(case, &configs())
}

/// Runs `case` in each of `configs` (the reference first); `Err` describes
/// the first disagreement.
pub fn compare_configs(case: &DiffCase<'_>, configs: &[Config]) -> Result<Agreement, String> {
    let mut loaded = Vec::new();
    let mut rejected = None;
    for &config in configs {
        let maps: Vec<ArrayMap> = case.maps.iter().map(MapSpec::create).collect();
        match (load(case, &maps, &config), &rejected, loaded.is_empty()) {
            (Ok(program), None, _)
                if config.tier == Tier::Compiled
                    && !matches!(program.tier(), TierUsed::Compiled { .. }) =>
            {
                return Err(format!(
                    "{} did not compile: {:?}",
                    config.name,
                    program.tier()
                ));
            }
            (Ok(program), None, _) => loaded.push(Loaded {
                config,
                program,
                maps,
                input: case.input.to_vec(),
            }),
            (Err(e), None, true) => rejected = Some(e),
            (Err(e), Some(first), _) if e == *first => {}
            (result, _, _) => {
                return Err(format!(
                    "load differs: {} gives {:?}, the reference {:?}",
                    config.name,
                    result.err(),
                    rejected
                ));
            }
        }
    }
    if let Some(error) = rejected {
        return Ok(Agreement::BothRejected(error));
    }
    let mut ok_runs = 0;
    for run in 0..case.runs {
        let results: Vec<Result<RunOutcome, RunError>> = loaded
            .iter_mut()
            .map(|l| {
                // A fixed clock: the ktime helpers read the host's clock
                // by default, which would differ between configurations.
                let mut ctx = RunContext::new()
                    .with_budget(case.budget)
                    .with_clock(Clock::Fixed {
                        start_ns: 1_000_000,
                        step_ns: 1_000,
                    });
                l.program.run_with(&mut l.input, &mut ctx)
            })
            .collect();
        let (reference, others) = loaded.split_first().expect("the reference loaded");
        let expected = &results[0];
        // Configurations that differ only in fusion count the same
        // instructions and stop a budget at the same instruction.
        for (i, a) in loaded.iter().enumerate() {
            for (j, b) in loaded.iter().enumerate().skip(i + 1) {
                if only_fusion_differs(&a.config, &b.config) && results[i] != results[j] {
                    return Err(format!(
                        "run {run}: {} gives {:?}, {} gives {:?}",
                        a.config.name, results[i], b.config.name, results[j]
                    ));
                }
                // The tiers with the same passes leave the same bytes, even
                // after a budget ran out mid-run.
                if a.config.passes == b.config.passes
                    && a.config.inline_lookups == b.config.inline_lookups
                {
                    same_memory(run, a, b)?;
                }
            }
        }
        // Dead code runs fewer instructions, so a budget may run out in one
        // configuration and not another: nothing to compare from there on.
        if results
            .iter()
            .any(|r| matches!(r, Err(RunError::BudgetExhausted { .. })))
        {
            return Ok(Agreement::Agreed { runs: run, ok_runs });
        }
        for (other, result) in others.iter().zip(&results[1..]) {
            let name = other.config.name;
            if summary(result) != summary(expected) {
                return Err(format!(
                    "run {run}: {name} gives {result:?}, no pass gives {expected:?}"
                ));
            }
            for (index, (mine, theirs)) in other.maps.iter().zip(&reference.maps).enumerate() {
                let (a, b) = (snapshot(mine), snapshot(theirs));
                if a != b {
                    return Err(format!(
                        "run {run} ({}): map {index} differs:\n {name} {a:02x?}\n no pass {b:02x?}",
                        summary(result)
                    ));
                }
            }
            if other.input != reference.input {
                return Err(format!(
                    "run {run}: input differs:\n {name} {:02x?}\n no pass {:02x?}",
                    other.input, reference.input
                ));
            }
        }
        if expected.is_ok() {
            ok_runs += 1;
        }
    }
    Ok(Agreement::Agreed {
        runs: case.runs,
        ok_runs,
    })
}
