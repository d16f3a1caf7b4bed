//! The `jit_diff` comparison over pseudo-random generator inputs, without
//! libFuzzer (any toolchain): seeds `FIRST..FIRST+COUNT`, each turned into a
//! byte string and a generated program, compared compiled and interpreted
//! at budgets 300, 10 000 and 1 000 000. Prints the totals; exits non-zero
//! at the first difference, with the program.
//!
//! Usage: `cargo run --release --example jit_sweep -- COUNT [FIRST]`

use tinybpf::vm::ProgramKind;
use tinybpf::vm::isa::disasm::disassemble;
use tinybpf_fuzz::diff::{Agreement, DiffCase, compare_configs, tier_configs};
use tinybpf_fuzz::generator::generate;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let count = args.first().copied().unwrap_or(1000);
    let first = args.get(1).copied().unwrap_or(0);
    let configs = tier_configs();
    let (mut runs, mut ok_runs, mut programs) = (0usize, 0usize, 0u64);
    for seed in first..first + count {
        // A splitmix64 stream: lengths 8 to 1,000 bytes.
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let len = 8 + (next() % 993) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let generated = generate(&data);
        let code = generated.code();
        programs += 1;
        for budget in [300, 10_000, 1_000_000] {
            let case = DiffCase {
                code: &code,
                maps: &generated.maps,
                kind: ProgramKind::Memory,
                input: &generated.input,
                runs: generated.runs,
                budget,
            };
            match compare_configs(&case, &configs) {
                Ok(Agreement::Agreed {
                    runs: r,
                    ok_runs: ok,
                }) => {
                    runs += r;
                    ok_runs += ok;
                }
                Ok(Agreement::BothRejected(error)) => {
                    eprintln!("seed {seed}: rejected: {error}");
                    std::process::exit(1);
                }
                Err(difference) => {
                    eprintln!(
                        "seed {seed}, budget {budget}: {difference}\nprogram:\n{}\nmaps: {:?}\ninput: {:02x?}",
                        disassemble(&generated.insns),
                        generated.maps,
                        generated.input
                    );
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "jit_sweep: {programs} programs, {runs} runs compared in {} configurations ({ok_runs} ended with exit, the rest faulted), 0 differences",
        configs.len()
    );
}
