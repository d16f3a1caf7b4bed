//! The time one budget unit can take: for each expensive helper, an endless
//! loop that calls it with its most expensive legal arguments runs until a
//! budget of `BUDGET` units is exhausted, beside a plain ALU loop of the same
//! budget. Time per run divided by `BUDGET` is the time per unit; the ratio
//! to the ALU loop is the helper's cost factor (`doc/safety.md` states the
//! bound measured with it).
//!
//! `cargo bench --bench helper_cost`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tinybpf::maps::{BpfMap, MapDef, MapOptions, MapType};
use tinybpf::vm::isa::asm::assemble_bytes;
use tinybpf::vm::{LoadedProgram, ProgramOptions, RunContext, RunError};

/// Units per run: every loop ends with `BudgetExhausted` after exactly this many.
const BUDGET: u64 = 1_000_000;

fn load(text: &str, maps: &[BpfMap]) -> LoadedProgram {
    let options = ProgramOptions {
        maps: maps.to_vec(),
        ..ProgramOptions::default()
    };
    LoadedProgram::load(&assemble_bytes(text).expect("assembles"), options).expect("loads")
}

fn map(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> BpfMap {
    let def = MapDef {
        map_type: map_type as u32,
        key_size,
        ..MapDef::array(value_size, max_entries)
    };
    BpfMap::create(def, &MapOptions::with_cpus(1)).expect("map")
}

/// Fills the 512 stack bytes below r10 with 0x2a (a 512-byte key at r10-512).
fn fill_stack_key() -> String {
    let mut text = String::from("lddw %r1, 0x2a2a2a2a2a2a2a2a\n");
    for off in (8..=512).step_by(8) {
        text.push_str(&format!("stxdw [%r10-{off}], %r1\n"));
    }
    text
}

/// The loops, each ending only when the budget runs out.
fn cases() -> Vec<(&'static str, LoadedProgram)> {
    let mut cases = Vec::new();
    cases.push((
        "alu",
        load("mov %r0, 0\nadd %r0, 1\nxor %r0, 3\nja -3\nexit", &[]),
    ));

    // map_update_elem copying a 4 MiB value (the largest), from the map's
    // own element.
    let big = map(MapType::Array, 4, 1 << 22, 1);
    cases.push((
        "update_array_4mib_value",
        load(
            "stw [%r10-4], 0
             mov %r2, %r10
             add %r2, -4
             lddw %r1, map_idx:0
             call 1
             mov %r6, %r0
             jeq %r6, 0, +8
             lddw %r1, map_idx:0
             mov %r2, %r10
             add %r2, -4
             mov %r3, %r6
             mov %r4, 0
             call 2
             ja -9
             exit",
            &[big],
        ),
    ));

    // Hash operations on a 512-byte key (the largest a program can build
    // on its stack), the key present.
    let hash = map(MapType::Hash, 512, 8, 1);
    hash.update(&[0x2a; 512], &[0; 8], 0).expect("preset");
    let key_loop = |call: &str| {
        format!(
            "{}mov %r6, %r10\nadd %r6, -512\nmov %r2, %r6\nlddw %r1, map_idx:0\n\
             mov %r3, %r6\nadd %r3, 8\nmov %r4, 0\n{call}\nja -8\nexit",
            fill_stack_key()
        )
    };
    cases.push((
        "lookup_hash_512b_key",
        load(&key_loop("call 1"), std::slice::from_ref(&hash)),
    ));
    cases.push((
        "update_hash_512b_key",
        load(&key_loop("call 2"), std::slice::from_ref(&hash)),
    ));
    // Deleting a missing key hashes and compares as much.
    let empty = map(MapType::Hash, 512, 8, 1);
    cases.push(("delete_hash_512b_key", load(&key_loop("call 3"), &[empty])));

    // An LPM trie lookup of the longest key (256 data bytes), with an entry
    // at every prefix length but the full one: every probe misses but /0.
    let lpm_def = MapDef {
        map_type: MapType::LpmTrie as u32,
        key_size: 260,
        ..MapDef::array(8, 2048).with_flags(tinybpf::maps::BPF_F_NO_PREALLOC)
    };
    let lpm = BpfMap::create(lpm_def, &MapOptions::with_cpus(1)).expect("map");
    for len in 0..2048u32 {
        let mut key = vec![0u8; 260];
        key[..4].copy_from_slice(&len.to_le_bytes());
        lpm.update(&key, &[0; 8], 0).expect("preset");
    }
    let mut lookup = String::from("lddw %r1, 0xffffffffffffffff\n");
    for off in (8..=256).step_by(8) {
        lookup.push_str(&format!("stxdw [%r10-{off}], %r1\n"));
    }
    lookup.push_str(
        "stw [%r10-260], 2048
         mov %r2, %r10
         add %r2, -260
         lddw %r1, map_idx:0
         call 1
         ja -6
         exit",
    );
    cases.push(("lookup_lpm_260b_key", load(&lookup, &[lpm])));

    // csum_diff over the most it takes: 256 bytes from, 256 bytes to.
    cases.push((
        "csum_diff_512b",
        load(
            &format!(
                "{}mov %r1, %r10\nadd %r1, -512\nmov %r2, 256\nmov %r3, %r10\n\
                 add %r3, -256\nmov %r4, 256\nmov %r5, 0\ncall 28\nja -9\nexit",
                fill_stack_key()
            ),
            &[],
        ),
    ));

    // bpf_loop's most calls (1 << 23) of the least callback (`r0 = 0`):
    // the cost of entering and leaving a callback frame.
    cases.push((
        "loop_empty_callback",
        load(
            "mov %r1, 8388608
             lddw %r2, func:6
             mov %r3, 0
             mov %r4, 0
             call 181
             ja -7
             exit
             mov %r0, 0
             exit",
            &[],
        ),
    ));

    // for_each_map_elem over a hash of 512-byte keys (the walk hashes each
    // key to find the next), the least callback.
    let walked = map(MapType::Hash, 512, 8, 64);
    for i in 0..64u8 {
        walked.update(&[i; 512], &[0; 8], 0).expect("preset");
    }
    cases.push((
        "for_each_hash_512b_keys",
        load(
            "lddw %r1, map_idx:0
             lddw %r2, func:6
             mov %r3, 0
             mov %r4, 0
             call 164
             ja -8
             exit
             mov %r0, 0
             exit",
            &[walked],
        ),
    ));

    // trace_printk of a 1023-byte string (the longest a format reads).
    let trace_map = map(MapType::Array, 4, 1024, 1);
    trace_map
        .update(&0u32.to_le_bytes(), &[b'x'; 1024], 0)
        .expect("preset");
    cases.push((
        "trace_printk_1k_string",
        load(
            "stw [%r10-4], 0
             mov %r2, %r10
             add %r2, -4
             lddw %r1, map_idx:0
             call 1
             mov %r6, %r0
             jeq %r6, 0, +9
             stb [%r6+1023], 0
             mov %r1, 0x7325
             stxw [%r10-8], %r1
             mov %r1, %r10
             add %r1, -8
             mov %r2, 3
             mov %r3, %r6
             call 6
             ja -9
             exit",
            &[trace_map],
        ),
    ));
    cases
}

fn helper_cost(c: &mut Criterion) {
    for (name, program) in cases() {
        let mut ctx = RunContext::new().with_budget(BUDGET);
        let outcome = program.run_with(&mut [], &mut ctx);
        assert!(
            matches!(outcome, Err(RunError::BudgetExhausted { .. })),
            "{name}: {outcome:?}"
        );
        c.bench_function(&format!("helper_cost/{name}"), |b| {
            b.iter(|| {
                let mut ctx = RunContext::new().with_budget(BUDGET);
                let outcome = program.run_with(&mut [], &mut ctx);
                black_box(outcome).unwrap_err()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = helper_cost
}
criterion_main!(benches);
