//! `jit_diff`: a valid program generated from the fuzz bytes (see
//! `tinybpf_fuzz::generator`) must behave exactly the same compiled and
//! interpreted (`tinybpf_fuzz::diff::tier_configs`): same results or faults
//! (kind, instruction, address), same instruction counts, same map bytes and
//! input, at a small, a middle and a large budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinybpf::vm::ProgramKind;
use tinybpf_fuzz::diff::{Agreement, DiffCase, compare_configs, tier_configs};
use tinybpf_fuzz::generator::generate;

fuzz_target!(|data: &[u8]| {
    let generated = generate(data);
    let code = generated.code();
    let configs = tier_configs();
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
            Ok(Agreement::Agreed { .. }) => {}
            Ok(Agreement::BothRejected(error)) => panic!(
                "the generator emitted a program the VM rejects: {error}\n{:?}",
                generated.insns
            ),
            Err(difference) => panic!(
                "the compiled tier differs at budget {budget}: {difference}\nprogram:\n{}\nmaps: {:?}\ninput: {:02x?}",
                tinybpf::vm::isa::disasm::disassemble(&generated.insns),
                generated.maps,
                generated.input
            ),
        }
    }
});
