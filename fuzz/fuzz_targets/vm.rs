//! `vm`: arbitrary bytecode over arbitrary input memory and a few small maps
//! (layout in `tinybpf_fuzz::vm_case`). Loading either fails with a typed
//! error or gives a program whose runs end (budget 10 000), never a panic.
//! Also checked: a run never executes more instructions than its budget (the
//! budget is exact), never changes a `BPF_F_RDONLY_PROG` map, and gives the
//! same results and map bytes with every pass, none, and each single pass
//! off.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinybpf::vm::{LoadedProgram, ProgramOptions, RunContext, RunError};
use tinybpf_fuzz::diff::{DiffCase, compare, deterministic_helpers, snapshot};
use tinybpf_fuzz::vm_case::VmCase;

const BUDGET: u64 = 10_000;

fuzz_target!(|data: &[u8]| {
    let case = VmCase::decode(data);
    let maps = case.create_maps();
    let loaded = LoadedProgram::load(
        &case.code,
        ProgramOptions {
            kind: case.kind,
            maps: maps
                .iter()
                .map(|m| tinybpf::maps::BpfMap::from_array(m.clone(), 1))
                .collect(),
            helpers: deterministic_helpers(),
            inline_lookups: case.inline_lookups,
            ..ProgramOptions::default()
        },
    );
    let Ok(program) = loaded else { return };
    let read_only: Vec<(usize, Vec<u8>)> = maps
        .iter()
        .enumerate()
        .filter(|(_, m)| m.is_rdonly_prog())
        .map(|(i, m)| (i, snapshot(m)))
        .collect();
    let mut input = case.input.clone();
    for _ in 0..2 {
        let mut ctx = RunContext::new().with_budget(BUDGET);
        match program.run_with(&mut input, &mut ctx) {
            Ok(outcome) => assert!(
                outcome.insns <= BUDGET,
                "{} instructions with a budget of {BUDGET}",
                outcome.insns
            ),
            Err(RunError::InputTooLarge { .. }) => unreachable!("inputs are at most 1 KiB"),
            Err(_) => {}
        }
    }
    for (index, before) in &read_only {
        assert_eq!(
            &snapshot(&maps[*index]),
            before,
            "read-only map {index} changed"
        );
    }
    if let Err(difference) = compare(&DiffCase {
        code: &case.code,
        maps: &case.maps,
        kind: case.kind,
        input: &case.input,
        runs: 2,
        budget: BUDGET,
    }) {
        panic!("the passes change behaviour: {difference}");
    }
});
