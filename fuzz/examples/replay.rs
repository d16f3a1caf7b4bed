//! Replays a fuzz input and, when it shows a difference between the two
//! lookup modes, shrinks the program to a minimal one that still does.
//!
//! Usage: `cargo run --release --example replay -- rewrite_diff|vm FILE`

use tinybpf::vm::ProgramKind;
use tinybpf::vm::isa::disasm::disassemble;
use tinybpf::vm::isa::insn::{decode_all, encode_all};
use tinybpf_fuzz::diff::{DiffCase, compare};
use tinybpf_fuzz::generator::generate;
use tinybpf_fuzz::minimize::minimize;
use tinybpf_fuzz::vm_case::{MapSpec, VmCase};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, file] = args.as_slice() else {
        eprintln!("usage: replay rewrite_diff|vm FILE");
        std::process::exit(2);
    };
    let data = std::fs::read(file).expect("the input file is readable");
    let (insns, maps, kind, input, runs, budget): (_, Vec<MapSpec>, _, Vec<u8>, usize, u64) =
        match target.as_str() {
            "rewrite_diff" => {
                let g = generate(&data);
                (
                    g.insns,
                    g.maps,
                    ProgramKind::Memory,
                    g.input,
                    g.runs,
                    1_000_000,
                )
            }
            "vm" => {
                let case = VmCase::decode(&data);
                let Some(insns) = decode_all(&case.code) else {
                    eprintln!("the code is not a whole number of slots");
                    std::process::exit(1);
                };
                (insns, case.maps, case.kind, case.input, 2, 10_000)
            }
            other => {
                eprintln!("unknown target {other}");
                std::process::exit(2);
            }
        };
    let outcome = |insns: &[tinybpf::vm::isa::insn::Insn]| {
        let code = encode_all(insns);
        compare(&DiffCase {
            code: &code,
            maps: &maps,
            kind,
            input: &input,
            runs,
            budget,
        })
    };
    println!("maps: {maps:?}\ninput: {input:02x?}\nruns: {runs}");
    println!("program ({} slots):\n{}", insns.len(), disassemble(&insns));
    let first = outcome(&insns);
    println!("outcome: {first:?}");
    let Err(difference) = first else { return };
    let load_difference = difference.starts_with("load differs");
    let fails = |candidate: &[tinybpf::vm::isa::insn::Insn]| match outcome(candidate) {
        Err(d) => d.starts_with("load differs") == load_difference,
        Ok(_) => false,
    };
    let small = minimize(&insns, &fails);
    println!(
        "---- minimised ({} slots):\n{}",
        small.len(),
        disassemble(&small)
    );
    println!("outcome: {:?}", outcome(&small));
}
