//! Every generated program loads, and enough of their runs succeed.

use tinybpf::vm::ProgramKind;
use tinybpf_fuzz::diff::{Agreement, DiffCase, compare};
use tinybpf_fuzz::fill_bytes;
use tinybpf_fuzz::generator::{Generated, generate};

fn case_of(g: &Generated, code: &[u8]) -> Result<Agreement, String> {
    compare(&DiffCase {
        code,
        maps: &g.maps,
        kind: ProgramKind::Memory,
        input: &g.input,
        runs: g.runs,
        budget: 1_000_000,
    })
}

#[test]
fn generated_programs_load() {
    let mut rejected = Vec::new();
    let mut differences = Vec::new();
    let mut ok_runs = 0;
    for seed in 0..3000u64 {
        let data = fill_bytes((seed % 255 + 1) as u8, 64 + (seed as usize * 7) % 900);
        let mut data = data;
        data.extend(seed.to_le_bytes());
        data.rotate_left((seed % 13) as usize);
        let g = generate(&data);
        let code = g.code();
        match case_of(&g, &code) {
            Ok(Agreement::BothRejected(e)) => rejected.push(format!("{seed}: {e}")),
            Ok(Agreement::Agreed { ok_runs: n, .. }) => ok_runs += n,
            Err(difference) => differences.push(difference),
        }
    }
    eprintln!(
        "{} successful runs; {} programs behave differently with the rewrite",
        ok_runs,
        differences.len()
    );
    if let Some(first) = differences.first() {
        eprintln!("first difference: {first}");
    }
    assert!(rejected.is_empty(), "{rejected:#?}");
    assert!(ok_runs > 100, "too few runs succeed: {ok_runs}");
}
