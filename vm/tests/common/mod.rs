//! Helpers shared by the VM's integration tests (each test file uses some).
#![allow(dead_code)]

use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{LoadedProgram, ProgramOptions, Tier, TierUsed};

/// Assembles and loads `text` with `options`; a program asked for
/// [`Tier::Compiled`] must be compiled (the differential tests compare
/// nothing otherwise).
pub fn load_in_tier(text: &str, options: ProgramOptions) -> LoadedProgram {
    let tier = options.tier;
    let program = LoadedProgram::load(&assemble_bytes(text).unwrap(), options)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    if tier == Tier::Compiled {
        assert!(
            matches!(program.tier(), TierUsed::Compiled { .. }),
            "{:?}\n{text}",
            program.tier()
        );
    }
    program
}

/// Assembles `main` followed by each callback; `func:@k` in `main` or a
/// callback becomes a pseudo-func `lddw` offset to callback `k`. Returns
/// the text and the first instruction index of each callback.
pub fn program(main: &str, callbacks: &[&str]) -> (String, Vec<usize>) {
    let slots = |text: &str| -> usize {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                if l.trim_start().starts_with("lddw") {
                    2
                } else {
                    1
                }
            })
            .sum()
    };
    let mut starts = Vec::new();
    let mut at = slots(main);
    for cb in callbacks {
        starts.push(at);
        at += slots(cb);
    }
    let mut out = String::new();
    let mut pc = 0;
    for part in std::iter::once(main).chain(callbacks.iter().copied()) {
        for line in part.lines().filter(|l| !l.trim().is_empty()) {
            let mut line = line.trim().to_owned();
            if let Some(pos) = line.find("func:@") {
                let k: usize = line[pos + 6..].trim().parse().unwrap();
                let imm = starts[k] as i64 - (pc as i64 + 1);
                line = format!("{}func:{imm}", &line[..pos]);
            }
            pc += if line.starts_with("lddw") { 2 } else { 1 };
            out.push_str(&line);
            out.push('\n');
        }
    }
    (out, starts)
}
