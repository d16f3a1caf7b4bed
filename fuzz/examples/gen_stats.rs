//! How the `rewrite_diff` generator's programs end, over pseudo-random
//! inputs: the share that runs to `exit`, and the faults of the others by
//! region, with the average size and number of rewritten sites. A tool for
//! tuning the generator (a program that faults early tests little).
//!
//! Usage: `cargo run --release --example gen_stats [COUNT]`
//! (`SHOW=region` prints the first programs faulting in that region:
//! low, input, stack, map, wild).

use std::collections::BTreeMap;

use tinybpf::vm::isa::disasm::disassemble;
use tinybpf::vm::{LoadedProgram, ProgramOptions, RunContext, RunError};
use tinybpf_fuzz::diff::deterministic_helpers;
use tinybpf_fuzz::fill_bytes;
use tinybpf_fuzz::generator::generate;

fn region(addr: u64) -> &'static str {
    match addr >> 32 {
        0 if addr < 0x1000_0000 => "low",
        0 => "input",
        2 => "stack",
        3..=5 => "map",
        _ => "wild",
    }
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let show = std::env::var("SHOW").ok();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let (mut slots, mut rewrites, mut shown) = (0, 0, 0);
    for seed in 0..count {
        let mut data = fill_bytes((seed % 255 + 1) as u8, 64 + (seed as usize * 7) % 900);
        data.extend(seed.to_le_bytes());
        data.rotate_left((seed % 13) as usize);
        let g = generate(&data);
        slots += g.insns.len();
        let program = LoadedProgram::load(
            &g.code(),
            ProgramOptions {
                maps: g
                    .maps
                    .iter()
                    .map(|m| tinybpf::maps::BpfMap::from_array(m.create(), 1))
                    .collect(),
                helpers: deterministic_helpers(),
                ..ProgramOptions::default()
            },
        )
        .expect("generated programs load");
        rewrites += program.rewrites().len();
        let mut input = g.input.clone();
        let result = program.run_with(&mut input, &mut RunContext::new().with_budget(1_000_000));
        let key = match &result {
            Ok(_) => "ok".to_owned(),
            Err(RunError::OutOfBounds { addr, .. }) => format!("{} out of bounds", region(*addr)),
            Err(RunError::MisalignedAtomic { addr, .. }) => {
                format!("{} misaligned atomic", region(*addr))
            }
            Err(e) => format!("{e}"),
        };
        if let (Some(wanted), Err(e)) = (&show, &result)
            && key.starts_with(wanted.as_str())
            && shown < 3
        {
            shown += 1;
            println!("---- {e}\n{}maps: {:?}\n", disassemble(&g.insns), g.maps);
        }
        *outcomes.entry(key).or_default() += 1;
    }
    println!(
        "{count} programs, {:.1} slots and {:.2} rewritten sites on average",
        slots as f64 / count as f64,
        rewrites as f64 / count as f64
    );
    for (outcome, n) in outcomes {
        println!("{outcome:>24}: {n}");
    }
}
