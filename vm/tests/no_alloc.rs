//! A run allocates nothing on the heap: a counting global allocator watches
//! runs of programs that use maps, lookups (rewritten and not), local calls,
//! atomics and the stack.
//!
//! Only allocations made on the thread that runs the program, while it is
//! being watched, are counted: the test harness's own threads (and any other
//! test running in parallel) allocate whenever they like, and must not make
//! this test fail on a loaded machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Barrier;

use tinybpf_maps::{ArrayMap, BpfMap, MapDef};
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext};

struct Counting;

thread_local! {
    /// This thread's allocations while it is watched; `None` when it is not.
    /// Const-initialised and without a destructor, so using it never allocates.
    static WATCHED_ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Counts an allocation when the calling thread is being watched.
fn count_if_watched() {
    // `try_with`: a thread being torn down may still allocate; it is not watched.
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

const PROGRAM: &str = "
    mov %r6, 0
loop:
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx:0
    call 1
    jeq %r0, 0, +2
    mov %r1, 1
    lock add [%r0], %r1
    mov %r1, %r6
    and %r1, 3
    stxw [%r10-8], %r1
    mov %r2, %r10
    add %r2, -8
    lddw %r1, map_idx:0
    call 1
    jeq %r0, 0, +1
    stxdw [%r0], %r6
    call local bump
    add %r6, 1
    jlt %r6, 100, loop
    mov %r0, %r6
    exit
bump:
    stdw [%r10-8], 1
    ldxdw %r0, [%r10-8]
    exit";

#[test]
fn only_the_watched_threads_allocations_count() {
    // Another thread allocates while this one is watched: not counted (with
    // a process-wide count this would see 1,000 allocations).
    let start = Barrier::new(2);
    let done = Barrier::new(2);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            start.wait();
            for i in 0..1000 {
                std::hint::black_box(vec![0u8; 16 + i % 7]);
            }
            done.wait();
        });
        let counted = allocations_during(|| {
            start.wait();
            done.wait();
        });
        assert_eq!(counted, 0, "the other thread's allocations");
    });
    // This thread's own allocations are counted.
    let counted = allocations_during(|| {
        std::hint::black_box(vec![1u8; 32]);
    });
    assert_eq!(counted, 1);
}

#[test]
fn runs_do_not_allocate() {
    for inline in [true, false] {
        let map = ArrayMap::new(MapDef::array(8, 4)).unwrap();
        let options = ProgramOptions {
            maps: vec![BpfMap::from_array(map.clone(), 1)],
            inline_lookups: inline,
            ..ProgramOptions::default()
        };
        let program = LoadedProgram::load(&assemble_bytes(PROGRAM).unwrap(), options).unwrap();
        let mut ctx = RunContext::new();
        let mut input = [0u8; 16];
        program.run_with(&mut input, &mut ctx).unwrap();
        let mut retvals = [0u64; 100];
        let allocations = allocations_during(|| {
            for retval in &mut retvals {
                *retval = match program.run_with(&mut input, &mut ctx) {
                    Ok(outcome) => outcome.retval,
                    Err(_) => u64::MAX,
                };
            }
        });
        assert_eq!(
            allocations, 0,
            "allocations during 100 runs (inline: {inline})"
        );
        assert_eq!(
            retvals, [100; 100],
            "every run returns 100 (inline: {inline})"
        );
        // Key 0: set to 96 at iteration 96, then three atomic increments.
        assert_eq!(
            map.lookup(&0u32.to_le_bytes()).unwrap(),
            99u64.to_le_bytes()
        );
    }
}
