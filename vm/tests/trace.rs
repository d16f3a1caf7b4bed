//! `bpf_trace_printk` records at call time and formats when the trace is
//! read: `%s` strings as memory held them at the call, faults as
//! `(efault)`, the same length returned and charged whether the line is
//! kept or not, a bounded trace whatever the program prints, and no
//! allocation in a run once the trace's buffer has grown.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tinybpf_vm::isa::asm::assemble_bytes;
use tinybpf_vm::{DEFAULT_TRACE_LIMIT, LoadedProgram, ProgramOptions, RunContext};

struct Counting;

thread_local! {
    static WATCHED: Cell<Option<usize>> = const { Cell::new(None) };
}

fn count_if_watched() {
    let _ = WATCHED.try_with(|count| {
        if let Some(n) = count.get() {
            count.set(Some(n + 1));
        }
    });
}

// SAFETY: forwards to the system allocator unchanged; only counts calls on
// a watched thread (the const-initialised thread-local never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_watched();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
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

fn allocations_during(body: impl FnOnce()) -> usize {
    WATCHED.with(|count| count.set(Some(0)));
    body();
    WATCHED.with(|count| count.replace(None).unwrap_or(0))
}

fn load(text: &str) -> LoadedProgram {
    LoadedProgram::load(&assemble_bytes(text).unwrap(), ProgramOptions::default()).unwrap()
}

/// `"[%s]\n"` at r10-8, then a call printing the string at r10-16; the
/// string is then overwritten and printed again.
const STRING_CHANGES: &str = "
    lddw %r1, 0x000a5d73255b
    stxdw [%r10-8], %r1
    mov %r1, 0x6261
    stxdw [%r10-16], %r1
    mov %r1, %r10
    add %r1, -8
    mov %r2, 6
    mov %r3, %r10
    add %r3, -16
    call 6
    mov %r6, %r0
    mov %r1, 0x7a7a7a
    stxdw [%r10-16], %r1
    mov %r1, %r10
    add %r1, -8
    mov %r2, 6
    mov %r3, %r10
    add %r3, -16
    call 6
    add %r0, %r6
    exit";

#[test]
fn strings_are_read_at_the_call() {
    let program = load(STRING_CHANGES);
    let mut ctx = RunContext::new();
    let outcome = program.run_with(&mut [], &mut ctx).unwrap();
    assert_eq!(ctx.take_trace(), ["[ab]", "[zzz]"]);
    assert_eq!(outcome.retval, 5 + 6, "each call returns its line's length");
}

#[test]
fn an_unreadable_string_prints_efault_after_what_was_read() {
    // "%s\n" printing the input (2 bytes, no NUL), then NULL.
    let text = "
        mov %r6, %r1
        mov %r1, 0x0a7325
        stxw [%r10-8], %r1
        mov %r1, %r10
        add %r1, -8
        mov %r2, 4
        mov %r3, %r6
        call 6
        mov %r7, %r0
        mov %r1, %r10
        add %r1, -8
        mov %r2, 4
        mov %r3, 0
        call 6
        add %r0, %r7
        exit";
    let program = load(text);
    let mut ctx = RunContext::new();
    let outcome = program.run_with(&mut b"xy".to_owned(), &mut ctx).unwrap();
    assert_eq!(ctx.take_trace(), ["xy(efault)", "(efault)"]);
    assert_eq!(outcome.retval, 11 + 9);
}

/// 5,000 calls, each printing three 1,024-byte strings from the input:
/// 15 MB of text were it all kept.
const FLOOD: &str = "
    mov %r6, %r1
    mov %r7, 0
    mov %r8, 0
    lddw %r1, 0x000a732573257325
    stxdw [%r10-8], %r1
loop:
    mov %r1, %r10
    add %r1, -8
    mov %r2, 8
    mov %r3, %r6
    mov %r4, %r6
    mov %r5, %r6
    call 6
    add %r8, %r0
    add %r7, 1
    jlt %r7, 5000, loop
    mov %r0, %r8
    exit";

#[test]
fn a_flood_of_lines_is_bounded_and_the_program_sees_no_difference() {
    let program = load(FLOOD);
    let mut input = vec![b'a'; 1100];
    let mut bounded = RunContext::new();
    let kept = program.run_with(&mut input, &mut bounded).unwrap();
    assert_eq!(kept.retval, 5_000 * (3 * 1024 + 1));
    assert_eq!(bounded.trace.total_lines(), 5_000);
    assert!(bounded.trace.dropped() > 0);
    assert!(bounded.trace.used() <= DEFAULT_TRACE_LIMIT);
    let lines = bounded.take_trace();
    assert_eq!(lines[0].len(), 3 * 1024);
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "[trace truncated: {} more lines not kept, past the trace limit of {DEFAULT_TRACE_LIMIT} bytes]",
            5_000 - (lines.len() - 1)
        )
    );
    // With nothing kept, the run is the same: result, instructions, budget.
    let mut nothing = RunContext::new().with_trace_limit(0);
    let dropped = program.run_with(&mut input, &mut nothing).unwrap();
    assert_eq!(dropped, kept);
    assert_eq!(nothing.trace.len(), 0);
    assert_eq!(nothing.trace.dropped(), 5_000);
}

#[test]
fn a_run_allocates_nothing_once_the_trace_has_room() {
    let program = load(STRING_CHANGES);
    let mut ctx = RunContext::new();
    program.run_with(&mut [], &mut ctx).unwrap();
    ctx.trace.clear();
    let allocations = allocations_during(|| {
        program.run_with(&mut [], &mut ctx).unwrap();
    });
    assert_eq!(allocations, 0);
    assert_eq!(ctx.trace.len(), 2);
}

/// `"%s"` printing the input from byte `FROM` on (`r1`: the input).
const PRINT_INPUT_FROM: &str = "
    mov %r6, %r1
    add %r6, FROM
    mov %r1, 0x7325
    stxw [%r10-8], %r1
    mov %r1, %r10
    add %r1, -8
    mov %r2, 3
    mov %r3, %r6
    call 6
    exit";

/// The line the kernel's byte-by-byte reading gives for a string at
/// `input[from..]`: up to the NUL, at most 1,024 bytes, `(efault)` when the
/// input ends first; and its length as UTF-8.
fn expected_line(input: &[u8], from: usize) -> (String, u64) {
    let mut line = String::new();
    let mut fault = true;
    for &byte in input[from..].iter().take(1024) {
        if byte == 0 {
            fault = false;
            break;
        }
        line.push(char::from(byte));
    }
    if from + 1024 <= input.len() && !input[from..from + 1024].contains(&0) {
        fault = false;
    }
    if fault {
        line.push_str("(efault)");
    }
    let len = line.len() as u64;
    (line, len)
}

#[test]
fn strings_read_in_chunks_stop_where_a_byte_by_byte_reading_stops() {
    // Strings ending at the region's end at every length around the chunk
    // sizes, with and without a NUL, bytes above 0x7f, longer than 1,024.
    for input_len in [
        1usize, 2, 7, 8, 9, 15, 16, 17, 100, 255, 256, 257, 600, 1023, 1024, 1025, 1100, 2100,
    ] {
        for from in [0usize, 1, 3, 8, 250] {
            if from >= input_len {
                continue;
            }
            for nul_at in [None, Some(input_len - 1), Some(from + 5), Some(from + 1030)] {
                let mut input: Vec<u8> = (0..input_len).map(|i| 0x61 + (i % 150) as u8).collect();
                if let Some(at) = nul_at.filter(|&at| at < input_len) {
                    input[at] = 0;
                }
                let (line, len) = expected_line(&input, from);
                let mut ctx = RunContext::new();
                let code = PRINT_INPUT_FROM.replacen("FROM", &from.to_string(), 1);
                let program_from = load(&code);
                let outcome = program_from.run_with(&mut input, &mut ctx).unwrap();
                assert_eq!(
                    (ctx.take_trace(), outcome.retval),
                    (vec![line], len),
                    "input {input_len} bytes, string from {from}, NUL at {nul_at:?}"
                );
            }
        }
    }
}
