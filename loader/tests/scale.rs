//! Scale: opening, linking, loading and dumping are linear in the object's
//! size. Generated objects (`common/scale_objects.rs`, shared with the
//! load-time bench and the fuzz seeds) at 1x, 4x and 16x:
//!
//! - 5,000 to 80,000 `.text` functions, 1,250 to 20,000 programs sharing
//!   them: opened and every program linked;
//! - one program of 4,000 to 64,000 one-instruction blocks over a fully
//!   known stack, and one of 500 to 8,000 constant-key lookups: loaded
//!   (with the lookup rewrite, whose analysis keeps a state per block);
//! - a map of 16 to 256 MiB with one non-zero entry, dumped as `--nonzero`
//!   reads it (entry by entry), and one just under 4 GiB, created.
//!
//! No timing is asserted. What is asserted is proportional memory: the peak
//! heap (measured by a counting allocator) per byte of file or per
//! instruction stays the same at every scale and within a small bound, and
//! each linked program holds exactly its own code plus the functions it
//! reaches (a chain of 4), not every function of `.text`. A quadratic step
//! (the old duplicate-name check, eager linking, a 2 KB analysis state per
//! block, a dump built as one string) would make the 16x cases take
//! minutes or gigabytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tinybpf_loader::{CreateOptions, Object};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's own pointer
// and layout, so `System`'s guarantees are the caller's; the counters are
// plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout has a non-zero size, as `alloc` requires.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above (that is, by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Held by each test for its whole body: the counters are process-wide, so
/// the tests measure one at a time.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn measuring() -> std::sync::MutexGuard<'static, ()> {
    MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[path = "common/scale_objects.rs"]
mod scale_objects;

use scale_objects::{CHAIN, FUNCTION_LEN, PROGRAM_LEN};

/// Opens `bytes` and returns the object and the peak heap bytes opening
/// needed beyond what was live before.
fn open_measured(bytes: &[u8]) -> (Object, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let object = Object::parse("scale.o", bytes).unwrap_or_else(|e| panic!("{e}"));
    (object, PEAK.load(Ordering::Relaxed) - before)
}

#[test]
fn open_and_link_are_linear_in_the_object_size() {
    let _one_at_a_time = measuring();
    let mut per_byte = Vec::new();
    for scale in [1, 4, 16] {
        let (functions, programs) = (5_000 * scale, 1_250 * scale);
        let bytes = scale_objects::functions_and_programs(functions, programs);
        let (object, peak) = open_measured(&bytes);
        assert_eq!(object.programs.len(), programs);
        // Opening keeps the file and small tables: a small multiple of its size.
        assert!(
            peak < 24 * bytes.len(),
            "{scale}x: opening {} bytes peaked at {peak} bytes",
            bytes.len()
        );
        per_byte.push(peak as f64 / bytes.len() as f64);
        eprintln!("{scale}x: {} bytes, open peak {peak}", bytes.len());

        // Every program links to its own 2 instructions plus its chain of 4
        // functions, whatever the size of .text.
        let mut linked_total = 0;
        for program in &object.programs {
            let linked = object.link_program(program).unwrap();
            assert_eq!(
                linked.code.len(),
                PROGRAM_LEN + CHAIN * FUNCTION_LEN,
                "{}",
                program.name
            );
            assert_eq!(linked.functions.len(), 1 + CHAIN);
            linked_total += linked.code.len();
        }
        assert_eq!(
            linked_total,
            programs * (PROGRAM_LEN + CHAIN * FUNCTION_LEN)
        );
        // The chain of program 7 is functions 28..32, in call order.
        let linked = object.link("p7").unwrap();
        let names: Vec<&str> = linked.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["p7", "f28", "f29", "f30", "f31"]);
    }
    // Memory per byte of file does not grow with the size.
    let (first, last) = (per_byte[0], per_byte[2]);
    assert!(
        last < first * 1.5,
        "peak bytes per file byte grew from {first:.2} (1x) to {last:.2} (16x)"
    );
}

/// Runs `body` and returns its result and the peak heap bytes it needed
/// beyond what was live before.
fn peak_of<T>(body: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = body();
    (result, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// Parses, links and creates the maps of `bytes`' program `name`, then
/// loads it (lookup rewrite on): the loaded program and the peak heap of
/// the load alone.
fn load_measured(bytes: &[u8], name: &str) -> (tinybpf_vm::LoadedProgram, usize) {
    let object = Object::parse("scale.o", bytes).unwrap_or_else(|e| panic!("{e}"));
    let linked = object.link(name).unwrap_or_else(|e| panic!("{e}"));
    let maps = object
        .create_maps_for(&linked, &CreateOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let (program, peak) = peak_of(|| linked.load(&maps, Default::default()));
    (program.unwrap_or_else(|e| panic!("{e}")), peak)
}

#[test]
fn loading_is_linear_in_blocks_and_lookups() {
    let _one_at_a_time = measuring();
    for shape in ["blocks", "lookups"] {
        let mut per_insn = Vec::new();
        for scale in [1usize, 4, 16] {
            let (bytes, insns) = match shape {
                "blocks" => {
                    let blocks = 4_000 * scale;
                    let insns = scale_objects::FRAME_STORES + blocks + 2;
                    (scale_objects::one_insn_blocks(blocks), insns)
                }
                _ => {
                    let count = 500 * scale;
                    let insns = count * scale_objects::LOOKUP_LEN + 2;
                    (scale_objects::lookups(count), insns)
                }
            };
            let (program, peak) = load_measured(&bytes, shape);
            if shape == "lookups" {
                // Every lookup and its NULL test were rewritten.
                assert_eq!(program.rewrites().len(), 2 * 500 * scale);
            }
            let run = program.run(&mut [0u8; 64]).expect("runs");
            assert_eq!(run.retval, 0);
            eprintln!("{shape} {scale}x: {insns} instructions, load peak {peak} bytes");
            // Before the analysis shared its stack chunks, a block kept
            // about 2.3 KB; now a load needs well under 1 KB per instruction.
            assert!(
                peak < 1_024 * insns,
                "{shape} {scale}x: loading {insns} instructions peaked at {peak} bytes"
            );
            per_insn.push(peak as f64 / insns as f64);
        }
        assert!(
            per_insn[2] < per_insn[0] * 1.5,
            "{shape}: peak bytes per instruction grew from {:.0} (1x) to {:.0} (16x)",
            per_insn[0],
            per_insn[2]
        );
    }
}

#[test]
fn huge_maps_cost_nothing_until_touched_and_dump_entry_by_entry() {
    let _one_at_a_time = measuring();
    // Just under 4 GiB: created lazily, so the heap does not see it.
    let bytes = scale_objects::huge_map(4_095);
    let object = Object::parse("huge.o", &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (maps, peak) = peak_of(|| object.create_maps(&CreateOptions::default()));
    let maps = maps.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(maps[0].def().max_entries, 4_095);
    assert!(
        peak < 1 << 20,
        "creating a 4 GiB map took {peak} heap bytes"
    );

    // 16, 64 and 256 MiB with the last entry touched: `--nonzero` reads the
    // entries one by one (`BpfMap::entries`), holding one value at a time.
    for scale in [1u32, 4, 16] {
        let entries = 16 * scale;
        let bytes = scale_objects::huge_map(entries);
        let object = Object::parse("huge.o", &bytes).unwrap_or_else(|e| panic!("{e}"));
        let linked = object.link("touch").unwrap_or_else(|e| panic!("{e}"));
        let maps = object
            .create_maps_for(&linked, &CreateOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let program = linked.load(&maps, Default::default()).unwrap();
        program.run(&mut [0u8; 64]).expect("runs");
        let (nonzero, peak) = peak_of(|| {
            maps[0]
                .entries()
                .filter(|(_, value)| value.iter().any(|&b| b != 0))
                .map(|(key, _)| key)
                .collect::<Vec<_>>()
        });
        assert_eq!(nonzero, [(entries - 1).to_le_bytes().to_vec()]);
        // One 1 MiB value (and its key) at a time, whatever the map's size.
        assert!(
            peak < 3 << 20,
            "{scale}x: dumping {entries} MiB peaked at {peak} heap bytes"
        );
    }
}

#[test]
fn programs_are_found_by_name_through_an_index_that_follows_changes() {
    let bytes = scale_objects::functions_and_programs(400, 100);
    let mut object = Object::parse("scale.o", &bytes).unwrap_or_else(|e| panic!("{e}"));
    for p in 0..100 {
        let name = format!("p{p}");
        assert_eq!(object.program(&name).map(|found| &found.name), Some(&name));
    }
    assert!(
        object.program("f0").is_none(),
        "a .text function is no program"
    );
    // `programs` is public: a caller may reorder or drop programs, and the
    // lookup still answers from the list as it is.
    object.programs.reverse();
    object.programs.retain(|program| program.name != "p42");
    for p in 0..100 {
        let name = format!("p{p}");
        let found = object.program(&name).map(|found| found.name.clone());
        assert_eq!(found, (p != 42).then_some(name));
    }
}
