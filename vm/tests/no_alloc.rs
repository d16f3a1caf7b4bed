//! A run allocates nothing on the heap: a counting global allocator watches
//! runs of programs that use maps, lookups (rewritten and not), local calls,
//! atomics and the stack.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tinybpf_maps::{ArrayMap, MapDef};
use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
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
fn runs_do_not_allocate() {
    for inline in [true, false] {
        let map = ArrayMap::new(MapDef::array(8, 4)).unwrap();
        let options = ProgramOptions {
            maps: vec![map.clone()],
            inline_lookups: inline,
            ..ProgramOptions::default()
        };
        let program = LoadedProgram::load(&assemble_bytes(PROGRAM).unwrap(), options).unwrap();
        let mut ctx = RunContext::new();
        let mut input = [0u8; 16];
        program.run_with(&mut input, &mut ctx).unwrap();
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..100 {
            assert_eq!(program.run_with(&mut input, &mut ctx).unwrap().retval, 100);
        }
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(
            after - before,
            0,
            "allocations during 100 runs (inline: {inline})"
        );
        // Key 0: set to 96 at iteration 96, then three atomic increments.
        assert_eq!(
            map.lookup(&0u32.to_le_bytes()).unwrap(),
            99u64.to_le_bytes()
        );
    }
}
