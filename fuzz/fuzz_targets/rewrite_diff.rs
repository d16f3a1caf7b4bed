//! `rewrite_diff`: a valid program generated from the fuzz bytes (see
//! `tinybpf_fuzz::generator`) must behave the same with every optimising
//! pass, with none, and with each single pass off (`tinybpf_fuzz::diff`):
//! same results or faults, same map bytes, same input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinybpf::vm::ProgramKind;
use tinybpf_fuzz::diff::{Agreement, DiffCase, compare};
use tinybpf_fuzz::generator::generate;

fuzz_target!(|data: &[u8]| {
    let generated = generate(data);
    let code = generated.code();
    let case = DiffCase {
        code: &code,
        maps: &generated.maps,
        kind: ProgramKind::Memory,
        input: &generated.input,
        runs: generated.runs,
        budget: 1_000_000,
    };
    match compare(&case) {
        Ok(Agreement::Agreed { .. }) => {}
        Ok(Agreement::BothRejected(error)) => {
            panic!(
                "the generator emitted a program the VM rejects: {error}\n{:?}",
                generated.insns
            )
        }
        Err(difference) => panic!(
            "the passes change behaviour: {difference}\nprogram:\n{}\nmaps: {:?}\ninput: {:02x?}",
            tinybpf::vm::isa::disasm::disassemble(&generated.insns),
            generated.maps,
            generated.input
        ),
    }
});
