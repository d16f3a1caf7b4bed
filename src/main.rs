//! The `tinybpf` command: run, disassemble and inspect eBPF object files.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tinybpf::json::{hex, parse_hex, parse_maps_in, quote};
use tinybpf::maps::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};
use tinybpf::vm::{ProgramKind, RunContext};
use tinybpf::{LoadOptions, Map, Object, default_packet, listing};

#[derive(Parser)]
#[command(
    name = "tinybpf",
    version,
    about = "Run clang-compiled eBPF objects in user space, with their array maps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program and print its return value, statistics, trace output and maps.
    ///
    /// Without --packet or --mem, an XDP program gets a 64-byte Ethernet/IPv4/TCP
    /// frame (02:00:00:00:00:01 -> 02:00:00:00:00:02, 10.0.0.1 -> 10.0.0.2, TTL 64,
    /// IP total length 50, TCP port 12345 -> 80, zero padding); any other program
    /// gets empty input memory.
    Run(RunArgs),
    /// Print the linked program in assembler syntax, with maps and variables by name.
    Disasm(DisasmArgs),
    /// List every map the object defines, its type, and why tinybpf cannot create it (if so).
    Maps {
        /// The object file.
        file: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The object file.
    file: PathBuf,
    /// The program (function name); needed when the object has several.
    #[arg(long)]
    program: Option<String>,
    /// A file whose bytes are the packet (XDP programs).
    #[arg(long, conflicts_with = "mem")]
    packet: Option<PathBuf>,
    /// A file whose bytes are the input memory (r1 = its address, r2 = its length).
    #[arg(long)]
    mem: Option<PathBuf>,
    /// Run this many times; maps and the input keep their state between runs.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Preset map entries before the first run: {"MAP": {"KEYHEX": "VALUEHEX"}}.
    #[arg(long, value_name = "FILE.json")]
    maps_in: Option<PathBuf>,
    /// Print exactly one JSON object (trace output goes to stderr).
    #[arg(long)]
    json: bool,
    /// Leave out all-zero entries.
    #[arg(long)]
    nonzero: bool,
    /// Keep every map lookup a helper call (no lookup rewriting).
    #[arg(long)]
    no_inline: bool,
    /// Instruction budget per run.
    #[arg(long, default_value_t = tinybpf::vm::DEFAULT_INSN_BUDGET)]
    budget: u64,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(&args),
        Command::Disasm(args) => disasm(&args),
        Command::Maps { file } => maps(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tinybpf: {message}");
            ExitCode::FAILURE
        }
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

fn run(args: &RunArgs) -> Result<(), String> {
    let object = Object::open(&args.file).map_err(|e| e.to_string())?;
    let program = object
        .select_program(args.program.as_deref(), load_options(args.no_inline))
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.maps_in {
        preset_maps(&object, path)?;
    }
    let input = match (&args.packet, &args.mem) {
        (Some(path), _) => read_file(path, "packet")?,
        (None, Some(path)) => read_file(path, "memory")?,
        (None, None) if program.kind() == ProgramKind::Xdp => default_packet(),
        (None, None) => Vec::new(),
    };
    let mut ctx = RunContext::new().with_budget(args.budget);
    let result = program
        .test_run(&input, args.repeat, &mut ctx)
        .map_err(|e| e.to_string())?;
    let trace = ctx.take_trace();
    if args.json {
        for line in &trace {
            eprintln!("{line}");
        }
        println!("{}", json_report(&object, &result, args.nonzero));
        return Ok(());
    }
    println!(
        "{}: program {} (section {})",
        object.name(),
        program.name(),
        program.section()
    );
    let verdict = match (program.kind(), result.retval) {
        (ProgramKind::Xdp, 0) => " XDP_ABORTED",
        (ProgramKind::Xdp, 1) => " XDP_DROP",
        (ProgramKind::Xdp, 2) => " XDP_PASS",
        (ProgramKind::Xdp, 3) => " XDP_TX",
        (ProgramKind::Xdp, 4) => " XDP_REDIRECT",
        _ => "",
    };
    println!("retval: {} ({:#x}){verdict}", result.retval, result.retval);
    println!(
        "runs: {}, instructions per run: {}, time per run: {:.1} ns",
        result.repeat, result.insns_per_run, result.ns_per_run
    );
    if !trace.is_empty() {
        println!("trace_printk:");
        for line in &trace {
            println!("  {line}");
        }
    }
    for map in object.maps() {
        println!();
        println!("map {}: {}", map.name(), describe_def(map));
        print!("{}", map.dump(args.nonzero));
    }
    Ok(())
}

fn preset_maps(object: &Object, path: &Path) -> Result<(), String> {
    let text = String::from_utf8(read_file(path, "maps-in")?)
        .map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
    let presets = parse_maps_in(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for (name, entries) in presets {
        let map = object
            .map(&name)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for (key, value) in entries {
            let place = format!("{}: map {name}, key {key:?}", path.display());
            let key = parse_hex(&key).map_err(|e| format!("{place}: {e}"))?;
            let value = parse_hex(&value).map_err(|e| format!("{place}: value {e}"))?;
            map.array()
                .update(&key, &value, tinybpf::maps::BPF_ANY)
                .map_err(|e| format!("{place}: {e}"))?;
        }
    }
    Ok(())
}

fn describe_def(map: &Map) -> String {
    let def = map.def();
    let mut flags = Vec::new();
    if def.map_flags & BPF_F_RDONLY_PROG != 0 {
        flags.push("rdonly_prog");
    }
    if def.map_flags & BPF_F_WRONLY_PROG != 0 {
        flags.push("wronly_prog");
    }
    if def.map_flags & BPF_F_MMAPABLE != 0 {
        flags.push("mmapable");
    }
    if map.array().is_frozen() {
        flags.push("frozen");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(", {}", flags.join(", "))
    };
    format!(
        "array, key {} bytes, value {} bytes, {} entries{flags}",
        def.key_size, def.value_size, def.max_entries
    )
}

fn json_report(object: &Object, result: &tinybpf::TestRun, nonzero: bool) -> String {
    let maps: Vec<String> = object
        .maps()
        .iter()
        .map(|map| {
            let def = map.def();
            let entries: Vec<String> = map
                .entries()
                .into_iter()
                .filter(|(_, value)| !nonzero || value.iter().any(|&b| b != 0))
                .map(|(index, value)| format!("{}: {}", quote(&hex(&index.to_le_bytes())), quote(&hex(&value))))
                .collect();
            format!(
                "{}: {{\"type\": \"array\", \"key_size\": {}, \"value_size\": {}, \"max_entries\": {}, \"entries\": {{{}}}}}",
                quote(map.name()),
                def.key_size,
                def.value_size,
                def.max_entries,
                entries.join(", ")
            )
        })
        .collect();
    format!(
        "{{\"retval\": {}, \"repeat\": {}, \"ns_per_run\": {:.1}, \"insns_per_run\": {}, \"maps\": {{{}}}}}",
        result.retval,
        result.repeat,
        result.ns_per_run,
        result.insns_per_run,
        maps.join(", ")
    )
}

fn disasm(args: &DisasmArgs) -> Result<(), String> {
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
        let program = object
            .program_with(name, load_options(args.no_inline))
            .map_err(|e| e.to_string())?;
        if i > 0 {
            println!();
        }
        println!(
            "{}: program {name} (section {}):",
            object.name(),
            program.section()
        );
        print!("{}", listing(&object, &program));
    }
    Ok(())
}

fn maps(file: &Path) -> Result<(), String> {
    let object = tinybpf::loader::Object::open(file).map_err(|e| e.to_string())?;
    println!(
        "{:<20} {:<10} {:<14} {:>4} {:>6} {:>11}  flags",
        "name", "section", "type", "key", "value", "max_entries"
    );
    for map in &object.maps {
        let def = map.def;
        let frozen = matches!(map.kind, tinybpf::loader::ObjectMapKind::GlobalData { .. })
            && def.map_flags & BPF_F_RDONLY_PROG != 0;
        let note = match map.cannot_create() {
            None => String::new(),
            Some(tinybpf::loader::LoadErrorKind::BadMap { problem, .. }) => {
                format!("  cannot create: {problem}")
            }
            Some(tinybpf::loader::LoadErrorKind::UnsupportedMapType { .. }) => {
                "  cannot create: tinybpf does not support this type yet".to_owned()
            }
            Some(other) => format!("  cannot create: {other}"),
        };
        println!(
            "{:<20} {:<10} {:<14} {:>4} {:>6} {:>11}  {:#x}{}{note}",
            map.name,
            map.section(),
            map.type_name(),
            def.key_size,
            def.value_size,
            def.max_entries,
            def.map_flags,
            if frozen { " frozen" } else { "" },
        );
    }
    Ok(())
}
