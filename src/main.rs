//! The `tinybpf` command: run, disassemble and inspect eBPF object files.
//!
//! Output goes through one buffered writer; when the reader goes away (a
//! closed pipe, as with `tinybpf run X.o | head -1`) the command ends quietly
//! with exit status 0, as `cat` and `grep` do, and never panics.

#![forbid(unsafe_code)]

mod cli {
    pub mod globals;
    pub mod pins;
}

use std::io::{self, BufWriter, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tinybpf::json::write_run_report;
use tinybpf::vm::exec::ctx::ContextOut;
use tinybpf::vm::{Clock, Helpers, ProgramKind, RunContext};
use tinybpf::{
    EventLog, LoadOptions, Map, MapsIn, Object, TableOptions, Tier, TierUsed, TimedRuns,
    attach_perf_readers, default_packet, describe_map_flags, listing, run_timed, tail_call_targets,
    uses_tail_calls,
};

#[derive(Parser)]
#[command(
    name = "tinybpf",
    version,
    about = "Run clang-compiled eBPF objects in user space, with their maps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program and print its return value, statistics, trace output and maps.
    ///
    /// Without --packet or --mem, a packet program (XDP, tc, socket filter,
    /// cgroup_skb) gets a 64-byte Ethernet/IPv4/TCP frame (02:00:00:00:00:01
    /// -> 02:00:00:00:00:02, 10.0.0.1 -> 10.0.0.2, TTL 64, IP total length
    /// 50, TCP port 12345 -> 80, zero padding); a program of another type
    /// runs only with --mem (raw memory).
    Run(Box<RunArgs>),
    /// Print the linked program in assembler syntax, with maps and variables by name.
    Disasm(DisasmArgs),
    /// List every map the object defines, its type, and why tinybpf cannot create it (if so).
    Maps {
        /// The object file.
        file: PathBuf,
    },
    /// Read maps pinned by `run --pin-dir`.
    #[command(subcommand)]
    Map(cli::pins::MapCommand),
}

#[derive(Args)]
struct RunArgs {
    /// The object file.
    file: PathBuf,
    /// The program (function name); needed when the object has several.
    #[arg(long)]
    program: Option<String>,
    /// A file whose bytes are the packet (XDP, tc, socket filter and
    /// cgroup_skb programs; at least 14 bytes, an Ethernet frame).
    #[arg(long, conflicts_with = "mem")]
    packet: Option<PathBuf>,
    /// Run the program over raw memory, whatever its type: a file whose
    /// bytes are the input memory (r1 = its address, r2 = its length).
    #[arg(long)]
    mem: Option<PathBuf>,
    /// Set __sk_buff fields before the run, as BPF_PROG_TEST_RUN's ctx_in
    /// does: {"mark": N, "priority": N, "ingress_ifindex": N, "ifindex": N,
    /// "cb": [N, ...], "tstamp": N, "wire_len": N, "gso_segs": N,
    /// "gso_size": N, "hwtstamp": N} (tc, socket filter, cgroup_skb).
    #[arg(long, value_name = "FILE.json", conflicts_with = "mem")]
    ctx_in: Option<PathBuf>,
    /// Write the packet after the last run to this file, as the kernel's
    /// test run returns it (XDP: from data_meta to data_end).
    #[arg(long, value_name = "FILE", conflicts_with = "mem")]
    packet_out: Option<PathBuf>,
    /// Run this many times (at least 1); maps and the input keep their state
    /// between runs. The first run is timed apart from the others.
    #[arg(long, default_value = "1", value_name = "N", value_parser = parse_repeat)]
    repeat: NonZeroU32,
    /// Preset map entries before the first run: {"MAP": {"KEY": VALUE}}, with
    /// keys and values as numbers ("1", "0x10", -1; little-endian) or as their
    /// bytes in hex ("01000000" or "01 00 00 00").
    #[arg(long, value_name = "FILE.json")]
    maps_in: Option<PathBuf>,
    /// Print exactly one JSON object (trace output goes to stderr).
    #[arg(long)]
    json: bool,
    /// Leave out arrays' all-zero entries (by default runs of them collapse
    /// into one line) and per-CPU values' all-zero CPUs; hashes and the
    /// other maps list every entry they hold.
    #[arg(long)]
    nonzero: bool,
    /// Keep every map lookup a helper call (no lookup rewriting).
    #[arg(long)]
    no_inline: bool,
    /// Instruction budget per run.
    #[arg(long, default_value_t = tinybpf::vm::DEFAULT_INSN_BUDGET)]
    budget: u64,
    /// Wall-clock limit in seconds (e.g. 2, 0.5) for all the runs together:
    /// a run still going then stops with an error. Checked as the budget
    /// is, so a run stops at most a few hundred microseconds late.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Run the program compiled to machine code (the compiled tier; needs a
    /// tinybpf built with --features jit, on x86-64). A program that cannot
    /// be compiled runs in the interpreter, and the output says why.
    /// The same as --tier jit.
    #[arg(long, conflicts_with = "tier")]
    jit: bool,
    /// Which tier runs the program: interp (the default), jit (as --jit),
    /// or auto (compiled when the jit feature is built in and the program
    /// is small enough to compile in a few milliseconds, else interpreted).
    /// The output's tier says which ran.
    #[arg(long, value_name = "interp|jit|auto", value_parser = parse_tier)]
    tier: Option<Tier>,
    /// The CPU the program runs on (what bpf_get_smp_processor_id returns,
    /// and whose values of per-CPU maps it sees); below --cpus.
    #[arg(long, default_value_t = 0, value_name = "K")]
    cpu: u32,
    /// The number of possible CPUs: per-CPU maps hold one value per CPU
    /// (default: the host's, as the kernel counts them).
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    cpus: Option<u32>,
    /// Pin the object's array maps in this directory, shared with other
    /// processes: a map declared with LIBBPF_PIN_BY_NAME reuses DIR/NAME
    /// when it exists (as libbpf does), every other array gets a new file
    /// DIR/NAME. Read one with `tinybpf map show DIR/NAME`.
    #[arg(long, value_name = "DIR")]
    pin_dir: Option<PathBuf>,
    /// Set a global variable before the program is loaded, by its BTF type
    /// (repeatable): NAME=VALUE or NAME.member[i]=VALUE, e.g. --set limit=5,
    /// --set 'config={"scale": 3}', --set name=eth0. A `const volatile`
    /// (.rodata) variable is set before its map is frozen, as libbpf's
    /// skeleton does.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Seed of bpf_get_prandom_u32 (the same seed gives the same numbers;
    /// by default a fixed seed too).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// A fixed clock: the first bpf_ktime_get_*ns reading is NS, and each
    /// later one adds --clock-step-ns (by default the host's clock).
    #[arg(long, value_name = "NS")]
    clock_ns: Option<u64>,
    /// With --clock-ns: nanoseconds each clock reading adds to the one before.
    #[arg(long, value_name = "NS", default_value_t = 0, requires = "clock_ns")]
    clock_step_ns: u64,
}

#[derive(Args)]
struct DisasmArgs {
    /// The object file.
    file: PathBuf,
    /// Only this program.
    #[arg(long)]
    program: Option<String>,
    /// Show the program without lookup rewriting.
    #[arg(long)]
    no_inline: bool,
    /// Show the compiled tier's Cranelift IR (after optimisation), then its
    /// machine code, instead (needs --features jit, x86-64).
    #[arg(long)]
    jit: bool,
}

/// `--repeat`: a number of runs, at least one.
fn parse_repeat(text: &str) -> Result<NonZeroU32, String> {
    let runs: u32 = text.parse().map_err(|_| {
        format!(
            "{text:?} is not a number of runs (a whole number from 1 to {})",
            u32::MAX
        )
    })?;
    NonZeroU32::new(runs).ok_or_else(|| "the number of runs must be at least 1".to_owned())
}

/// `--cpus`: a number of possible CPUs, 1 to the kernel's `NR_CPUS`.
fn parse_cpus(text: &str) -> Result<u32, String> {
    let limit = tinybpf::maps::NR_CPUS;
    text.parse::<u32>()
        .ok()
        .filter(|cpus| (1..=limit).contains(cpus))
        .ok_or_else(|| {
            format!("{text:?} is not a number of CPUs (a whole number from 1 to {limit})")
        })
}

/// The tier `run` asks for: `--tier`, or `--jit`.
fn requested_tier(args: &RunArgs) -> Tier {
    match (args.tier, args.jit) {
        (Some(tier), _) => tier,
        (None, true) => Tier::Compiled,
        (None, false) => Tier::Interpreter,
    }
}

/// `--tier`: `interp`, `jit` or `auto`.
fn parse_tier(text: &str) -> Result<Tier, String> {
    match text {
        "interp" => Ok(Tier::Interpreter),
        "jit" => Ok(Tier::Compiled),
        "auto" => Ok(Tier::Auto),
        _ => Err("expected interp, jit or auto".to_string()),
    }
}

/// `--timeout`: a non-negative number of seconds.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{text:?} is not a number of seconds (like 2 or 0.5)"))
}

/// `--cpu` must name one of the possible CPUs.
fn check_cpu(cpu: u32, cpus: u32) -> Result<(), String> {
    if cpu < cpus {
        return Ok(());
    }
    Err(format!(
        "--cpu {cpu} is not one of the {cpus} possible CPUs (0 to {}); pass a --cpu below {cpus}, or --cpus {} or more",
        cpus - 1,
        u64::from(cpu) + 1
    ))
}

/// Why a command stopped.
enum Failure {
    /// What went wrong, one sentence for stderr.
    Message(String),
    /// Writing the output failed (a closed pipe, a full disk).
    Output(io::Error),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Output(error)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = match cli.command {
        Command::Run(args) => run(&args, &mut out),
        Command::Disasm(args) => disasm(&args, &mut out),
        Command::Maps { file } => maps(&file, &mut out),
        Command::Map(cli::pins::MapCommand::Show(args)) => {
            cli::pins::show(&args, &mut out, describe_def)
        }
    };
    let result = result.and_then(|()| out.flush().map_err(Failure::Output));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has gone (`| head`): nothing more to say, not an error.
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(Failure::Output(error)) => {
            complain(&format!("cannot write the output: {error}"));
            ExitCode::FAILURE
        }
        Err(Failure::Message(message)) => {
            complain(&message);
            ExitCode::FAILURE
        }
    }
}

/// One line on stderr; a closed stderr is ignored (there is no one to tell).
fn complain(message: &str) {
    let _ = writeln!(io::stderr().lock(), "tinybpf: {message}");
}

/// An error of the facade as the CLI reports it, with a hint where the
/// command line can fix it.
fn explain(error: &tinybpf::Error) -> String {
    match error {
        tinybpf::Error::AmbiguousProgram { available, .. } => {
            let example = available.split(", ").next().unwrap_or("NAME");
            format!("{error}; pass --program NAME (e.g. --program {example})")
        }
        _ => error.to_string(),
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))
}

fn load_options(no_inline: bool) -> LoadOptions {
    LoadOptions {
        inline_lookups: !no_inline,
        ..LoadOptions::default()
    }
}

/// Trace lines shown from the first run; the rest are counted.
const TRACE_LINES_SHOWN: usize = 1000;

fn run(args: &RunArgs, out: &mut impl Write) -> Result<(), Failure> {
    let cpus = args
        .cpus
        .unwrap_or_else(tinybpf::maps::host_possible_cpus)
        .min(tinybpf::maps::NR_CPUS);
    check_cpu(args.cpu, cpus)?;
    let mut object = Object::open(&args.file).map_err(|e| e.to_string())?;
    cli::globals::set_globals(&mut object, &args.set)?;
    if let Some(dir) = &args.pin_dir {
        object = cli::pins::pin_object(object, cpus, dir)?;
    }
    let options = LoadOptions {
        possible_cpus: Some(cpus),
        tier: requested_tier(args),
        raw_memory: args.mem.is_some(),
        ..load_options(args.no_inline)
    };
    let prepared = (|| {
        let program = object
            .select_program(args.program.as_deref(), options.clone())
            .map_err(|e| explain(&e))?;
        if let Some(path) = &args.maps_in {
            preset_maps(&object, path)?;
        }
        attach_perf_readers(&object).map_err(|e| e.to_string())?;
        let input = match (&args.packet, &args.mem) {
            (Some(path), _) => read_file(path, "packet")?,
            (None, Some(path)) => read_file(path, "memory")?,
            (None, None) if program.kind().is_packet() => default_packet(),
            (None, None) => Vec::new(),
        };
        Ok::<_, String>((program, input))
    })();
    // Nothing half-applied: pin files this run made go when it cannot run.
    let (program, input) = prepared.inspect_err(|_| cli::pins::unpin_new(&object))?;
    let mut ctx = RunContext::new()
        .with_budget(args.budget)
        .with_cpu(args.cpu);
    if let Some(timeout) = args.timeout {
        ctx = ctx.with_timeout(timeout);
    }
    if let Some(seed) = args.seed {
        ctx = ctx.with_seed(seed);
    }
    if uses_tail_calls(&program) {
        ctx = ctx.with_tail_call_targets(tail_call_targets(&object, &options));
    }
    if let Some(start_ns) = args.clock_ns {
        ctx = ctx.with_clock(Clock::Fixed {
            start_ns,
            step_ns: args.clock_step_ns,
        });
    }
    if let Some(path) = &args.ctx_in {
        if !program.kind().has_skb() {
            return Err(format!(
                "--ctx-in sets __sk_buff fields, and {} is a {} program",
                program.name(),
                program.kind().name()
            )
            .into());
        }
        let text = String::from_utf8(read_file(path, "context")?)
            .map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
        let input =
            tinybpf::ctx_in::read_ctx_in(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        ctx.skb_input = Some(input);
    }
    let runs = run_timed(&program, &input, args.repeat, &mut ctx).map_err(|e| e.to_string())?;
    if let (Some(path), Some(_)) = (&args.packet_out, &runs.context_out) {
        std::fs::write(path, &runs.data_out)
            .map_err(|e| format!("{}: cannot write the packet: {e}", path.display()))?;
    }
    if args.json {
        write_trace(&mut io::stderr().lock(), &runs, "")?;
        write_run_report(out, &object, &runs, args.nonzero)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: program {} (section {})",
        object.name(),
        program.name(),
        program.section()
    )?;
    let verdict = match (program.kind(), runs.retval) {
        (ProgramKind::Xdp, 0) => " XDP_ABORTED",
        (ProgramKind::Xdp, 1) => " XDP_DROP",
        (ProgramKind::Xdp, 2) => " XDP_PASS",
        (ProgramKind::Xdp, 3) => " XDP_TX",
        (ProgramKind::Xdp, 4) => " XDP_REDIRECT",
        (ProgramKind::Tc, 0) => " TC_ACT_OK",
        (ProgramKind::Tc, 1) => " TC_ACT_RECLASSIFY",
        (ProgramKind::Tc, 2) => " TC_ACT_SHOT",
        (ProgramKind::Tc, 3) => " TC_ACT_PIPE",
        (ProgramKind::Tc, 4) => " TC_ACT_STOLEN",
        (ProgramKind::Tc, 5) => " TC_ACT_QUEUED",
        (ProgramKind::Tc, 6) => " TC_ACT_REPEAT",
        (ProgramKind::Tc, 7) => " TC_ACT_REDIRECT",
        (ProgramKind::Tc, 0xffff_ffff) => " TC_ACT_UNSPEC",
        _ => "",
    };
    writeln!(out, "retval: {} ({:#x}){verdict}", runs.retval, runs.retval)?;
    writeln!(
        out,
        "runs: {}, instructions per run: {}",
        runs.repeat, runs.insns_per_run
    )?;
    writeln!(out, "time: {}", describe_time(&runs))?;
    if requested_tier(args) != Tier::Interpreter {
        writeln!(out, "tier: {}", describe_tier(&runs.tier))?;
    }
    if runs.context_out.is_some() {
        write_packet(out, &input, &runs)?;
    }
    if let Some(redirect) = &runs.redirect {
        writeln!(out, "redirect: {redirect}")?;
    }
    write_events(out, &runs.events)?;
    if !runs.first_run_trace.is_empty() || runs.later_trace_lines > 0 {
        let which = if runs.repeat > 1 { " (first run)" } else { "" };
        writeln!(out, "trace_printk{which}:")?;
        write_trace(out, &runs, "  ")?;
    }
    let options = TableOptions {
        nonzero_only: args.nonzero,
    };
    let globals = object.globals().map_err(|e| e.to_string())?;
    for map in object.maps() {
        writeln!(out)?;
        writeln!(
            out,
            "map {}: {}{}",
            map.name(),
            describe_def(map),
            cli::pins::pin_note(&object, map)
        )?;
        cli::globals::write_map_body(out, &globals, &object, map, options)?;
    }
    Ok(())
}

/// The packet after the run (a hex dump when it changed) and the context.
fn write_packet(out: &mut impl Write, input: &[u8], runs: &TimedRuns) -> io::Result<()> {
    let packet = &runs.data_out;
    if packet.as_slice() == input {
        writeln!(out, "packet: {} bytes, unchanged", packet.len())?;
    } else {
        writeln!(out, "packet: {} bytes, changed:", packet.len())?;
        for (i, line) in packet.chunks(16).enumerate() {
            let bytes: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "  {:04x}: {}", i * 16, bytes.join(" "))?;
        }
    }
    match &runs.context_out {
        Some(ContextOut::Xdp(md)) => writeln!(
            out,
            "ctx: data {}, data_end {}, data_meta {}",
            md.data, md.data_end, md.data_meta
        ),
        Some(ContextOut::Skb(skb)) => writeln!(
            out,
            "ctx: mark {}, priority {}, cb {:?}, tstamp {}, wire_len {}",
            skb.mark, skb.priority, skb.cb, skb.tstamp, skb.wire_len
        ),
        None => Ok(()),
    }
}

/// Each event map's records, one hex line each (`--json` has them too).
fn write_events(out: &mut impl Write, events: &[EventLog]) -> io::Result<()> {
    for log in events {
        let lost = if log.lost > 0 {
            format!(", {} lost", log.lost)
        } else {
            String::new()
        };
        let count = log.records.len();
        let plural = if count == 1 { "" } else { "s" };
        writeln!(out, "events {}: {count} record{plural}{lost}", log.map)?;
        for record in &log.records {
            let bytes: Vec<String> = record.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "  {}", bytes.join(" "))?;
        }
    }
    Ok(())
}

/// The first run's time, then the steady state's.
fn describe_time(runs: &TimedRuns) -> String {
    let first = format_ns(runs.first_run_ns as f64);
    match runs.steady_ns_per_run {
        Some(steady) => {
            let others = runs.repeat - 1;
            format!(
                "first run {first}, then {} per run (mean of the other {others} run{})",
                format_ns(steady),
                if others == 1 { "" } else { "s" }
            )
        }
        None => format!("{first} (one cold run; --repeat 1000 also measures the steady state)"),
    }
}

/// The tier that ran, with its code size and compile time or why it is not
/// compiled.
fn describe_tier(tier: &TierUsed) -> String {
    match tier {
        TierUsed::Compiled {
            code_bytes,
            compile_micros,
        } => format!(
            "compiled ({code_bytes} bytes of machine code, compiled in {})",
            format_ns(*compile_micros as f64 * 1e3)
        ),
        TierUsed::Interpreter { fallback: None } => "interpreter".to_owned(),
        TierUsed::Interpreter {
            fallback: Some(why),
        } => format!("interpreter (not compiled: {why})"),
    }
}

/// Nanoseconds in the unit that reads best.
fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// The first run's trace lines (up to [`TRACE_LINES_SHOWN`]), then a count of the rest.
fn write_trace(out: &mut impl Write, runs: &TimedRuns, indent: &str) -> io::Result<()> {
    let first = &runs.first_run_trace;
    let shown = first.len().min(TRACE_LINES_SHOWN);
    for line in &first[..shown] {
        writeln!(out, "{indent}{line}")?;
    }
    let more_first = first.len() - shown;
    let later = usize::try_from(runs.later_trace_lines).unwrap_or(usize::MAX);
    let others = runs.repeat - 1;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (more_first, later) {
        (0, 0) => Ok(()),
        (0, later) => writeln!(
            out,
            "{indent}... and {} from the other {} (not shown)",
            plural(later, "more line"),
            plural(others as usize, "run")
        ),
        (more_first, later) => writeln!(
            out,
            "{indent}... and {} (not shown: {more_first} more from the first run, {later} from the other {})",
            plural(more_first + later, "more line"),
            plural(others as usize, "run")
        ),
    }
}

fn preset_maps(object: &Object, path: &Path) -> Result<(), String> {
    let place = format!("--maps-in {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| format!("{place}: cannot read the file: {e}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{place}: the file is not UTF-8 text; write it as JSON"))?;
    let presets = MapsIn::parse(&text, object).map_err(|e| format!("{place}: {e}"))?;
    presets.apply().map_err(|e| format!("{place}: {e}"))
}

fn describe_def(map: &Map) -> String {
    let def = map.def();
    let mut text = if map.map_type() == tinybpf::maps::MapType::Ringbuf {
        format!("ringbuf, {} bytes", def.max_entries)
    } else {
        format!(
            "{}, key {} bytes, value {} bytes, {} entr{}",
            map.type_name(),
            def.key_size,
            def.value_size,
            def.max_entries,
            if def.max_entries == 1 { "y" } else { "ies" }
        )
    };
    if map.map_type().is_percpu() {
        text.push_str(&format!(", {} CPUs", map.possible_cpus()));
    }
    if def.map_flags != 0 {
        text.push_str(", flags ");
        text.push_str(&describe_map_flags(def.map_flags));
    }
    if map.is_frozen() {
        text.push_str(", frozen");
    }
    text
}

fn disasm(args: &DisasmArgs, out: &mut impl Write) -> Result<(), Failure> {
    let object = Object::open(&args.file).map_err(|e| e.to_string())?;
    let names: Vec<String> = match &args.program {
        Some(name) => vec![name.clone()],
        None => object
            .program_names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    for (i, name) in names.iter().enumerate() {
        // A type tinybpf does not run is still listed: loaded as raw memory.
        let runs = object
            .linked()
            .program(name)
            .is_none_or(|p| p.program_type.runs_as().is_some());
        // Placeholders for the kernel helpers tinybpf lacks: a program that
        // calls them cannot run, but it can be listed.
        let options = LoadOptions {
            raw_memory: !runs,
            helpers: Helpers::with_builtins().with_missing_kernel_helpers(),
            ..load_options(args.no_inline)
        };
        // A program the kernel's verifier would refuse for its type (a
        // helper or context field the type lacks) is still listed, loaded
        // as raw memory, under a note saying why it cannot run.
        let (program, refused) = match object.program_with(name, options.clone()) {
            Ok(program) => (program, None),
            Err(refusal) if runs => {
                let raw = LoadOptions {
                    raw_memory: true,
                    ..options
                };
                let program = object
                    .program_with(name, raw)
                    .map_err(|_| refusal.to_string())?;
                (program, Some(refusal))
            }
            Err(e) => return Err(e.to_string().into()),
        };
        let text = if args.jit {
            tinybpf::vm::jit::cranelift_ir(program.vm())
                .map_err(|why| format!("program {name}: no compiled code: {why}"))?
        } else {
            listing(&object, &program)
        };
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(
            out,
            "{}: program {name} (section {}):",
            object.name(),
            program.section()
        )?;
        if let Some(refusal) = refused {
            writeln!(out, "; cannot run: {refusal}")?;
            writeln!(out, "; listed as loaded on raw memory (--mem)")?;
        }
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}

fn maps(file: &Path, out: &mut impl Write) -> Result<(), Failure> {
    let object = tinybpf::loader::Object::open(file).map_err(|e| e.to_string())?;
    writeln!(
        out,
        "{:<20} {:<10} {:<16} {:>4} {:>6} {:>11}  flags",
        "name", "section", "type", "key", "value", "max_entries"
    )?;
    for map in &object.maps {
        let def = map.def;
        let frozen = matches!(map.kind, tinybpf::loader::ObjectMapKind::GlobalData { .. })
            && def.map_flags & tinybpf::maps::BPF_F_RDONLY_PROG != 0;
        let note = match map.cannot_create() {
            None => String::new(),
            Some(tinybpf::loader::LoadErrorKind::BadMap { problem, .. }) => {
                format!("  cannot create: {problem}")
            }
            Some(tinybpf::loader::LoadErrorKind::UnsupportedMapType { reason, .. }) => {
                format!("  cannot create: {reason}")
            }
            Some(other) => format!("  cannot create: {other}"),
        };
        writeln!(
            out,
            "{:<20} {:<10} {:<16} {:>4} {:>6} {:>11}  {}{}{}{note}",
            map.name,
            map.section(),
            map.type_name(),
            def.key_size,
            def.value_size,
            def.max_entries,
            describe_map_flags(def.map_flags),
            if frozen { " frozen" } else { "" },
            cli::pins::pinning_note(map),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(repeat: u32, first: usize, later: usize) -> TimedRuns {
        TimedRuns {
            retval: 0,
            repeat,
            insns_per_run: 1,
            first_run_ns: 1500,
            steady_ns_per_run: (repeat > 1).then_some(120.25),
            first_run_trace: (0..first).map(|i| format!("line {i}")).collect(),
            later_trace_lines: later as u64,
            data_out: Vec::new(),
            tier: tinybpf::vm::TierUsed::Interpreter { fallback: None },
            context_out: None,
            redirect: None,
            events: Vec::new(),
        }
    }

    fn trace(runs: &TimedRuns) -> String {
        let mut out = Vec::new();
        write_trace(&mut out, runs, "  ").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_trace_shows_the_first_run_and_counts_the_rest() {
        assert_eq!(trace(&runs(1, 0, 0)), "");
        assert_eq!(trace(&runs(1, 2, 0)), "  line 0\n  line 1\n");
        assert_eq!(
            trace(&runs(3, 1, 2)),
            "  line 0\n  ... and 2 more lines from the other 2 runs (not shown)\n"
        );
        assert_eq!(
            trace(&runs(2, 0, 1)),
            "  ... and 1 more line from the other 1 run (not shown)\n"
        );
        // A first run longer than the limit is cut too.
        let text = trace(&runs(5, TRACE_LINES_SHOWN + 3, 10));
        assert_eq!(text.lines().count(), TRACE_LINES_SHOWN + 1);
        assert!(text.ends_with(
            "  ... and 13 more lines (not shown: 3 more from the first run, 10 from the other 4 runs)\n"
        ));
    }

    #[test]
    fn the_tier_line_gives_the_code_size_or_the_reason() {
        assert_eq!(
            describe_tier(&TierUsed::Compiled {
                code_bytes: 812,
                compile_micros: 1500
            }),
            "compiled (812 bytes of machine code, compiled in 1.5 ms)"
        );
        assert_eq!(
            describe_tier(&TierUsed::Interpreter {
                fallback: Some(tinybpf::Fallback::NotBuiltIn)
            }),
            "interpreter (not compiled: the compiled tier is not built in (build with --features jit))"
        );
        assert_eq!(
            describe_tier(&TierUsed::Interpreter { fallback: None }),
            "interpreter"
        );
    }

    #[test]
    fn times_read_in_their_unit() {
        assert_eq!(format_ns(127.0), "127.0 ns");
        assert_eq!(format_ns(21_400.0), "21.4 µs");
        assert_eq!(format_ns(3_400_000.0), "3.4 ms");
        assert_eq!(format_ns(2_500_000_000.0), "2.50 s");
        assert_eq!(
            describe_time(&runs(1, 0, 0)),
            "1.5 µs (one cold run; --repeat 1000 also measures the steady state)"
        );
        assert_eq!(
            describe_time(&runs(1000, 0, 0)),
            "first run 1.5 µs, then 120.2 ns per run (mean of the other 999 runs)"
        );
    }

    #[test]
    fn cpus_are_checked_with_a_sentence_that_says_what_to_pass() {
        assert_eq!(parse_cpus("4"), Ok(4));
        assert_eq!(parse_cpus("8192"), Ok(8192));
        assert!(parse_cpus("0").unwrap_err().contains("from 1 to 8192"));
        assert!(parse_cpus("8193").is_err());
        assert!(parse_cpus("x").is_err());
        assert_eq!(check_cpu(3, 4), Ok(()));
        assert_eq!(
            check_cpu(4, 4).unwrap_err(),
            "--cpu 4 is not one of the 4 possible CPUs (0 to 3); pass a --cpu below 4, or --cpus 5 or more"
        );
    }

    #[test]
    fn tier_names_are_interp_jit_and_auto() {
        assert_eq!(parse_tier("interp"), Ok(Tier::Interpreter));
        assert_eq!(parse_tier("jit"), Ok(Tier::Compiled));
        assert_eq!(parse_tier("auto"), Ok(Tier::Auto));
        assert!(parse_tier("compiled").is_err());
        assert!(parse_tier("").is_err());
    }

    #[test]
    fn repeat_is_a_positive_number() {
        assert_eq!(parse_repeat("1").unwrap().get(), 1);
        assert_eq!(parse_repeat("4294967295").unwrap().get(), u32::MAX);
        assert_eq!(
            parse_repeat("0").unwrap_err(),
            "the number of runs must be at least 1"
        );
        assert!(parse_repeat("").is_err());
        assert!(parse_repeat("1e3").is_err());
    }
}
