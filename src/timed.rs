//! Repeated runs timed honestly: the first run, which pays for cold caches,
//! first-touched map pages and lazily set-up helpers, is timed on its own; the
//! steady state is the mean of the runs after it.

use std::num::NonZeroU32;
use std::time::Instant;

use tinybpf_vm::exec::ctx::ContextOut;
use tinybpf_vm::{RunContext, TierUsed};

use crate::error::Error;
use crate::object::Program;
use crate::outcome::{EventLog, RedirectReport, drain_events};

/// What [`run_timed`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedRuns {
    /// r0 of the last run.
    pub retval: u64,
    /// How many times the program ran.
    pub repeat: u32,
    /// Instructions executed by the last run.
    pub insns_per_run: u64,
    /// Wall-clock time of the first run, in nanoseconds.
    pub first_run_ns: u64,
    /// Mean wall-clock time of the runs after the first, in nanoseconds
    /// (`None` after a single run).
    pub steady_ns_per_run: Option<f64>,
    /// The `trace_printk` lines of the first run (formatted after it; when
    /// some were left out past the trace limit, a last marker line says so).
    pub first_run_trace: Vec<String>,
    /// How many `trace_printk` lines the runs after it printed (counted,
    /// neither kept nor formatted).
    pub later_trace_lines: u64,
    /// The input buffer after the last run, or for a packet program the
    /// packet as the kernel's test run returns it (for XDP from `data_meta`).
    pub data_out: Vec<u8>,
    /// The tier that ran them (and why not compiled, when that was asked
    /// for).
    pub tier: TierUsed,
    /// A packet program's context after the last run, as the kernel's test
    /// run reports it (`ctx_out`).
    pub context_out: Option<ContextOut>,

    // What the helpers leave (redirect).
    /// The last run's redirect target, if it set one.
    pub redirect: Option<RedirectReport>,
    /// What the runs sent through the program's ring buffers and perf
    /// event arrays (one log per such map), drained after the last run.
    pub events: Vec<EventLog>,
}

impl TimedRuns {
    /// The steady-state time per run, or the first run's when it was the only one.
    pub fn ns_per_run(&self) -> f64 {
        self.steady_ns_per_run.unwrap_or(self.first_run_ns as f64)
    }
}

/// Runs `program` `repeat` times over one copy of `input`, as the kernel's
/// `BPF_PROG_TEST_RUN` does (maps and the buffer keep their state from run to
/// run), timing the first run apart from the others. Trace lines already in
/// `ctx` are counted as the first run's; the first run's lines are formatted
/// after it, and the later runs' only counted (each run's trace is cleared
/// after it), so that no formatting happens in the timed loop. The first
/// failing run ends it. After the last run, the records of the program's
/// ring buffers and perf event arrays are consumed into
/// [`TimedRuns::events`].
///
/// ```
/// # fn main() -> Result<(), tinybpf::Error> {
/// use std::num::NonZeroU32;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/seed_globals.o");
/// let object = tinybpf::Object::open(path)?;
/// let program = object.program("seed_globals")?;
/// let mut ctx = tinybpf::vm::RunContext::new();
/// let runs = tinybpf::run_timed(&program, &[], NonZeroU32::new(3).unwrap(), &mut ctx)?;
/// assert_eq!((runs.repeat, runs.retval), (3, 100));
/// assert!(runs.steady_ns_per_run.is_some());
/// # Ok(())
/// # }
/// ```
pub fn run_timed(
    program: &Program,
    input: &[u8],
    repeat: NonZeroU32,
    ctx: &mut RunContext,
) -> Result<TimedRuns, Error> {
    let mut data = program.input_or_default(input);
    let (carry, to_input) = (ctx.carry_packet, ctx.packet_to_input);
    let restore = |ctx: &mut RunContext| {
        ctx.carry_packet = carry;
        ctx.packet_to_input = to_input;
    };
    ctx.carry_packet = false;
    // A packet is read from `ctx.packet` after the last run: no run copies
    // it back into `data`.
    ctx.packet_to_input = false;
    let start = Instant::now();
    let first = program.run_with(&mut data, ctx);
    // Later runs go on with the packet and context the run before left.
    ctx.carry_packet = true;
    let mut last = first.inspect_err(|_| restore(ctx))?;
    let first_run_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let first_run_trace = ctx.take_trace();
    let later_runs = repeat.get() - 1;
    let mut steady_ns_per_run = None;
    let mut later_trace_lines = 0;
    if let Some(later_runs) = NonZeroU32::new(later_runs) {
        let start = Instant::now();
        last = program
            .run_repeated(&mut data, ctx, later_runs, &mut |trace| {
                if !trace.is_empty() {
                    later_trace_lines += trace.total_lines();
                    trace.clear();
                }
            })
            .inspect_err(|_| restore(ctx))?;
        steady_ns_per_run = Some(start.elapsed().as_nanos() as f64 / f64::from(later_runs.get()));
    }
    restore(ctx);
    if program.kind().is_packet() {
        data = ctx.packet.bytes().to_vec();
    }
    let redirect = RedirectReport::of(program, &last);
    Ok(TimedRuns {
        redirect,
        events: drain_events(program),
        retval: last.retval,
        repeat: repeat.get(),
        insns_per_run: last.insns,
        first_run_ns,
        steady_ns_per_run,
        first_run_trace,
        later_trace_lines,
        data_out: data,
        tier: program.tier().clone(),
        context_out: ctx.context_out(),
    })
}
