//! Criterion benches over the shared workloads (`$TINYBPF_SHARED/workloads`,
//! default `../shared/workloads`): every program run by tinybpf, alu_loop also
//! by the rbpf crate's interpreter and JIT in the same run, and the lookup rewrite on
//! and off for globals and histogram. With the `jit` feature, every workload
//! also runs compiled (`NAME/compiled`), and loading each one is timed in
//! both tiers (`load/NAME/interpreter`, `load/NAME/compiled`: the difference
//! is the compile time). `packet_counter/repeated/{interpreter,compiled}`
//! make their runs through `Program::run_repeated` (the setup shared, as
//! with `--repeat` and the kernel's test run), the others one `run_with`
//! per run.
//!
//! `cargo bench --bench workloads` (`--features jit` for the compiled column)

use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use tinybpf::vm::RunContext;
use tinybpf::{LoadOptions, Object, Tier, default_packet};

fn workloads_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("TINYBPF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("workloads");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: no workloads at {} (set TINYBPF_SHARED)",
            dir.display()
        );
        None
    }
}

/// The workloads, each run in both tiers with the `jit` feature.
const WORKLOADS: [&str; 5] = [
    "alu_loop",
    "globals",
    "globals_hoisted",
    "histogram",
    "packet_counter",
];

fn bench_tinybpf(c: &mut Criterion, dir: &Path, name: &str, inline: bool, label: &str) {
    bench_tier(c, dir, name, inline, Tier::Interpreter, label);
}

fn bench_tier(c: &mut Criterion, dir: &Path, name: &str, inline: bool, tier: Tier, label: &str) {
    let object = Object::open(dir.join(format!("{name}.o"))).expect("workload opens");
    let options = LoadOptions {
        inline_lookups: inline,
        tier,
        ..LoadOptions::default()
    };
    let program = object
        .select_program(None, options)
        .expect("workload loads");
    if tier == Tier::Compiled {
        assert_eq!(
            program.tier().name(),
            "compiled",
            "{name}: {:?}",
            program.tier()
        );
    }
    let mut packet = default_packet();
    let mut ctx = RunContext::new();
    c.bench_function(label, |b| {
        b.iter(|| {
            black_box(
                program
                    .run_with(black_box(&mut packet), &mut ctx)
                    .expect("runs"),
            );
        })
    });
}

fn workloads(c: &mut Criterion) {
    let Some(dir) = workloads_dir() else {
        return;
    };
    bench_tinybpf(c, &dir, "alu_loop", true, "alu_loop/tinybpf");
    // The same bytes through the rbpf crate's interpreter (no maps, no helpers).
    let object = Object::open(dir.join("alu_loop.o")).expect("alu_loop opens");
    let code: Vec<u8> = object
        .linked()
        .link("alu_loop")
        .expect("alu_loop links")
        .code
        .iter()
        .flat_map(|insn| insn.to_bytes())
        .collect();
    let vm = rbpf::EbpfVmRaw::new(Some(&code)).expect("rbpf accepts alu_loop");
    let mut packet = default_packet();
    assert_eq!(vm.execute_program(&mut packet).expect("rbpf runs"), 2);
    c.bench_function("alu_loop/rbpf", |b| {
        b.iter(|| {
            black_box(
                vm.execute_program(black_box(&mut packet))
                    .expect("rbpf runs"),
            )
        })
    });
    // And through rbpf's x86-64 JIT, the compiled peer measurable in the
    // same process.
    if cfg!(target_arch = "x86_64") {
        let mut jit = rbpf::EbpfVmRaw::new(Some(&code)).expect("rbpf accepts alu_loop");
        jit.jit_compile().expect("rbpf compiles alu_loop");
        // SAFETY: rbpf's compiled code checks no memory access, but
        // alu_loop makes none: no load, store or call (its C source is
        // pure arithmetic; rbpf's checking interpreter ran it above).
        let ret = unsafe { jit.execute_program_jit(&mut packet) };
        assert_eq!(ret.expect("rbpf's JIT runs"), 2);
        c.bench_function("alu_loop/rbpf_jit", |b| {
            b.iter(|| {
                // SAFETY: as above: the same program over the same frame.
                let ret = unsafe { jit.execute_program_jit(black_box(&mut packet)) };
                black_box(ret.expect("rbpf's JIT runs"))
            })
        });
    }
    bench_tinybpf(c, &dir, "globals", true, "globals/rewrite");
    bench_tinybpf(c, &dir, "globals", false, "globals/helper");
    bench_tinybpf(c, &dir, "globals_hoisted", true, "globals_hoisted/floor");
    bench_tinybpf(c, &dir, "histogram", true, "histogram/rewrite");
    bench_tinybpf(c, &dir, "histogram", false, "histogram/helper");
    bench_tinybpf(c, &dir, "packet_counter", true, "packet_counter/rewrite");
    bench_tinybpf(c, &dir, "packet_counter", false, "packet_counter/helper");
    bench_repeated(c, &dir, "packet_counter", Tier::Interpreter, "interpreter");
    if cfg!(feature = "jit") {
        bench_repeated(c, &dir, "packet_counter", Tier::Compiled, "compiled");
    }
    if cfg!(feature = "jit") {
        for name in WORKLOADS {
            bench_tier(
                c,
                &dir,
                name,
                true,
                Tier::Compiled,
                &format!("{name}/compiled"),
            );
        }
        for name in WORKLOADS {
            bench_load(c, &dir, name);
        }
    }
}

/// `name`'s runs made by `run_repeated`, going on with the packet each run
/// leaves: criterion's iterations are one call's runs.
fn bench_repeated(c: &mut Criterion, dir: &Path, name: &str, tier: Tier, tier_name: &str) {
    let object = Object::open(dir.join(format!("{name}.o"))).expect("workload opens");
    let options = LoadOptions {
        tier,
        ..LoadOptions::default()
    };
    let program = object
        .select_program(None, options)
        .expect("workload loads");
    let mut packet = default_packet();
    let mut ctx = RunContext::new();
    ctx.carry_packet = true;
    c.bench_function(&format!("{name}/repeated/{tier_name}"), |b| {
        b.iter_custom(|iters| {
            let mut runs = iters;
            let start = Instant::now();
            while let Some(now) = NonZeroU32::new(runs.min(u64::from(u32::MAX)) as u32) {
                black_box(
                    program
                        .run_repeated(black_box(&mut packet), &mut ctx, now, &mut |_| {})
                        .expect("runs"),
                );
                runs -= u64::from(now.get());
            }
            start.elapsed()
        })
    });
}

/// Loading `name` (translation, passes, and compiling for the compiled
/// tier) from an opened object whose maps exist already.
fn bench_load(c: &mut Criterion, dir: &Path, name: &str) {
    let object = Object::open(dir.join(format!("{name}.o"))).expect("workload opens");
    for (tier, tier_name) in [
        (Tier::Interpreter, "interpreter"),
        (Tier::Compiled, "compiled"),
    ] {
        let options = || LoadOptions {
            tier,
            ..LoadOptions::default()
        };
        c.bench_function(&format!("load/{name}/{tier_name}"), |b| {
            b.iter(|| black_box(object.select_program(None, options()).expect("loads")))
        });
    }
}

criterion_group!(benches, workloads);
criterion_main!(benches);
