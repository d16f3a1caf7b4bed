//! Criterion benches of map lookups and updates from a program, over
//! `testdata/map_bench.o`: 256 run-time-key operations per run on a hash
//! (through the helpers), an array and a per-CPU array (inlined by the
//! lookup rewrite, and as helper calls for comparison).
//!
//! `cargo bench --bench maps`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tinybpf::vm::RunContext;
use tinybpf::{LoadOptions, Object, Program};

const ENTRIES: u32 = 256;

fn object() -> Object {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/map_bench.o");
    Object::open(path)
        .and_then(|object| object.with_possible_cpus(4))
        .expect("map_bench.o opens")
}

fn load(object: &Object, name: &str, inline_lookups: bool) -> Program {
    let options = LoadOptions {
        inline_lookups,
        ..LoadOptions::default()
    };
    object.program_with(name, options).expect("loads")
}

fn bench(c: &mut Criterion, label: &str, program: &Program, cpu: u32, expected: u64) {
    let mut ctx = RunContext::new().with_cpu(cpu);
    // The programs are socket filters: they run on a packet.
    let mut packet = tinybpf::default_packet();
    assert_eq!(
        program.run_with(&mut packet, &mut ctx).unwrap().retval,
        expected
    );
    c.bench_function(label, |b| {
        b.iter(|| {
            black_box(
                program
                    .run_with(black_box(&mut packet), &mut ctx)
                    .expect("runs"),
            )
        })
    });
}

fn maps(c: &mut Criterion) {
    let object = object();
    // Every key holds its own number: the sum of 0..256.
    let sum = u64::from(ENTRIES * (ENTRIES - 1) / 2);
    let flows = object.map("flows").unwrap();
    let slots = object.map("slots").unwrap();
    let cpu_slots = object.map("cpu_slots").unwrap();
    for key in 0..ENTRIES {
        flows.set(&key, &u64::from(key)).unwrap();
        slots.set(&key, &u64::from(key)).unwrap();
        cpu_slots.set(&key, &u64::from(key)).unwrap();
    }
    bench(
        c,
        "hash/lookup",
        &load(&object, "hash_lookup", true),
        1,
        sum,
    );
    bench(c, "hash/update", &load(&object, "hash_update", true), 1, 0);
    bench(
        c,
        "array/lookup_inline",
        &load(&object, "array_lookup", true),
        1,
        sum,
    );
    bench(
        c,
        "array/lookup_helper",
        &load(&object, "array_lookup", false),
        1,
        sum,
    );
    bench(
        c,
        "percpu_array/lookup_inline",
        &load(&object, "percpu_lookup", true),
        1,
        sum,
    );
    bench(
        c,
        "percpu_array/lookup_helper",
        &load(&object, "percpu_lookup", false),
        1,
        sum,
    );
}

criterion_group!(benches, maps);
criterion_main!(benches);
