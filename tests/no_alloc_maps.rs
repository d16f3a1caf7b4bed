//! Runs over every kind of map allocate nothing on the heap in the steady
//! state: hash inserts, updates, lookups and deletes, LRU evictions,
//! per-CPU values on any CPU (and other CPUs' through
//! `bpf_map_lookup_percpu_elem`), LPM trie updates, lookups and deletes,
//! devmap and xskmap lookups. A counting global allocator watches the
//! running thread only (as `vm/tests/no_alloc.rs` does).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tinybpf::vm::RunContext;
use tinybpf::{LoadOptions, MapsIn, Object};

struct Counting;

thread_local! {
    /// This thread's allocations while it is watched; `None` when it is not.
    /// Const-initialised and without a destructor, so using it never allocates.
    static WATCHED_ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

fn count_if_watched() {
    let _ = WATCHED_ALLOCATIONS.try_with(|count| {
        if let Some(n) = count.get() {
            count.set(Some(n + 1));
        }
    });
}

/// The allocations `body` makes on the calling thread.
fn allocations_during(body: impl FnOnce()) -> usize {
    WATCHED_ALLOCATIONS.with(|count| count.set(Some(0)));
    body();
    WATCHED_ALLOCATIONS.with(|count| count.replace(None).unwrap_or(0))
}

// SAFETY: forwards to the system allocator unchanged; only counts calls (the
// thread-local counter is const-initialised and has no destructor, so using
// it never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_watched();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_if_watched();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_if_watched();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn runs_over_every_map_type_do_not_allocate() {
    let cases: [(&str, &str, Option<&str>); 6] = [
        ("hash_ops.o", "hash_ops", None),
        ("lru_hash.o", "lru_evict", None),
        ("percpu.o", "count_percpu", None),
        ("lpm_trie.o", "lpm_lookup", None),
        (
            "special_maps.o",
            "use_devmap",
            Some(r#"{"tx_ports": {"0": 5}, "xsks": {"0": 7}}"#),
        ),
        ("count_packets.o", "count_packets", None),
    ];
    for (file, name, maps_in) in cases {
        for inline_lookups in [true, false] {
            let path = format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"));
            let object = Object::open(path).unwrap();
            let options = LoadOptions {
                inline_lookups,
                possible_cpus: Some(4),
                ..LoadOptions::default()
            };
            let program = object.program_with(name, options).unwrap();
            if let Some(document) = maps_in {
                MapsIn::parse(document, &object).unwrap().apply().unwrap();
            }
            let mut packet = tinybpf::default_packet();
            for cpu in [0, 3] {
                let mut ctx = RunContext::new().with_cpu(cpu);
                // The first run may touch fresh pages; then the steady state.
                program.run_with(&mut packet, &mut ctx).unwrap();
                let mut ok = true;
                let allocations = allocations_during(|| {
                    for _ in 0..50 {
                        ok &= program.run_with(&mut packet, &mut ctx).is_ok();
                    }
                });
                assert!(ok, "{file}");
                assert_eq!(
                    allocations, 0,
                    "{file} on CPU {cpu}, inline_lookups {inline_lookups}"
                );
            }
        }
    }
}
