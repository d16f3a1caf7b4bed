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

/// Nested map walks: the outer walk over map 0 runs an inner walk over the
/// same map in each call; the inner callback adds 1 + its key to the outer
/// callback's stack counter, and the outer callback checks that its key is
/// unchanged afterwards: r0 = (calls of outer) | counter sum << 8. The text
/// and the callbacks' first instructions, as [`program`] gives them.
pub fn nested_walks() -> (String, Vec<usize>) {
    let main = "
        stdw [%r10-8], 0
        lddw %r1, map_idx:0
        lddw %r2, func:@0
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        call 164
        ldxdw %r1, [%r10-8]
        lsh %r1, 8
        or %r0, %r1
        exit";
    let outer = "
        mov %r6, %r2
        ldxw %r7, [%r2+0]
        mov %r3, %r4
        lddw %r1, map_idx:0
        lddw %r2, func:@1
        mov %r4, 0
        call 164
        ldxw %r1, [%r6+0]
        mov %r0, 1
        jne %r1, %r7, +1
        mov %r0, 0
        exit";
    let inner = "
        ldxw %r1, [%r2+0]
        add %r1, 1
        ldxdw %r5, [%r4+0]
        add %r5, %r1
        stxdw [%r4+0], %r5
        mov %r0, 0
        exit";
    program(main, &[outer, inner])
}
