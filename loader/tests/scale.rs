//! Scale: opening and linking are linear in the object's size. Generated
//! objects at 1x, 4x and 16x (5,000 to 80,000 `.text` functions, 1,250 to
//! 20,000 programs sharing them) are opened and every program linked.
//!
//! No timing is asserted. What is asserted is proportional memory: the peak
//! heap of opening (measured by a counting allocator) per byte of file stays
//! the same at every scale and within a small multiple of the file size, and
//! each linked program holds exactly its own code plus the functions it
//! reaches (a chain of 4), not every function of `.text`. A quadratic step
//! at open or link (the old duplicate-name check, or eager linking) would
//! make the 16x case take minutes or gigabytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tinybpf_loader::Object;

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

/// Functions per call chain: each program reaches one chain.
const CHAIN: usize = 4;
/// Instructions per `.text` function: a call (or `r0 = 0`), `r0 = 1`, `exit`.
const FUNCTION_LEN: usize = 3;
/// Instructions per program: a call of a chain's head, `exit`.
const PROGRAM_LEN: usize = 2;

fn insn(opcode: u8, regs: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = opcode;
    out[1] = regs;
    out[2..4].copy_from_slice(&off.to_le_bytes());
    out[4..8].copy_from_slice(&imm.to_le_bytes());
    out
}

/// A local call (`call` with src 1), relocated against a function symbol.
fn call() -> [u8; 8] {
    insn(0x85, 0x10, 0, -1)
}

/// A relocatable BPF object with `functions` `.text` functions in chains of
/// [`CHAIN`] (each calls the next) and `programs` programs in section
/// `socket`, program `p` calling the head of chain `p % chains`.
fn generate(functions: usize, programs: usize) -> Vec<u8> {
    let chains = functions / CHAIN;
    let mut strtab = vec![0u8];
    let mut name = |s: &str| {
        let at = strtab.len() as u32;
        strtab.extend_from_slice(s.as_bytes());
        strtab.push(0);
        at
    };
    let section_names = [
        ".strtab",
        ".text",
        ".rel.text",
        "socket",
        ".relsocket",
        ".symtab",
    ]
    .map(&mut name);
    // Symbols: null, then the .text functions (1..=functions), then the programs.
    let mut symtab = vec![0u8; 24];
    let mut symbol = |name: u32, section: u16, value: u64, size: u64| {
        symtab.extend_from_slice(&name.to_le_bytes());
        symtab.push(0x12); // STB_GLOBAL, STT_FUNC
        symtab.push(0);
        symtab.extend_from_slice(&section.to_le_bytes());
        symtab.extend_from_slice(&value.to_le_bytes());
        symtab.extend_from_slice(&size.to_le_bytes());
    };
    let (mut text, mut rel_text) = (Vec::new(), Vec::new());
    for f in 0..functions {
        symbol(
            name(&format!("f{f}")),
            2,
            (f * FUNCTION_LEN * 8) as u64,
            (FUNCTION_LEN * 8) as u64,
        );
        if (f + 1) % CHAIN != 0 {
            text.extend(call());
            rel_text.extend(((f * FUNCTION_LEN * 8) as u64).to_le_bytes());
            rel_text.extend(((((f + 2) as u64) << 32) | 10).to_le_bytes());
        } else {
            text.extend(insn(0xb7, 0, 0, 0));
        }
        text.extend(insn(0xb7, 0, 0, 1));
        text.extend(insn(0x95, 0, 0, 0));
    }
    let (mut socket, mut rel_socket) = (Vec::new(), Vec::new());
    for p in 0..programs {
        symbol(
            name(&format!("p{p}")),
            4,
            (p * PROGRAM_LEN * 8) as u64,
            (PROGRAM_LEN * 8) as u64,
        );
        socket.extend(call());
        socket.extend(insn(0x95, 0, 0, 0));
        let head = (p % chains) * CHAIN + 1;
        rel_socket.extend(((p * PROGRAM_LEN * 8) as u64).to_le_bytes());
        rel_socket.extend((((head as u64) << 32) | 10).to_le_bytes());
    }
    // Layout: header, then each section's bytes, then the section headers.
    let contents = [&strtab, &text, &rel_text, &socket, &rel_socket, &symtab];
    let mut out = vec![0u8; 64];
    let mut offsets = Vec::new();
    for data in contents {
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        offsets.push(out.len() as u64);
        out.extend_from_slice(data);
    }
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    out.extend([0u8; 64]); // the null section
    // (type, flags, link, info, entsize) per section.
    let headers: [(u32, u64, u32, u32, u64); 6] = [
        (3, 0, 0, 0, 0),     // .strtab: SHT_STRTAB
        (1, 0x6, 0, 0, 0),   // .text: PROGBITS, ALLOC | EXECINSTR
        (9, 0x40, 6, 2, 16), // .rel.text: REL of section 2
        (1, 0x6, 0, 0, 0),   // socket
        (9, 0x40, 6, 4, 16), // .relsocket: REL of section 4
        (2, 0, 1, 1, 24),    // .symtab: SYMTAB, strings in 1
    ];
    for (i, (sh_type, flags, link, info, entsize)) in headers.into_iter().enumerate() {
        out.extend(section_names[i].to_le_bytes());
        out.extend(sh_type.to_le_bytes());
        out.extend(flags.to_le_bytes());
        out.extend(0u64.to_le_bytes()); // sh_addr
        out.extend(offsets[i].to_le_bytes());
        out.extend((contents[i].len() as u64).to_le_bytes());
        out.extend(link.to_le_bytes());
        out.extend(info.to_le_bytes());
        out.extend(8u64.to_le_bytes()); // sh_addralign
        out.extend(entsize.to_le_bytes());
    }
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // ELFCLASS64
    out[5] = 1; // little-endian
    out[6] = 1; // EV_CURRENT
    out[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
    out[18..20].copy_from_slice(&247u16.to_le_bytes()); // EM_BPF
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[40..48].copy_from_slice(&shoff.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    out[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    out[60..62].copy_from_slice(&7u16.to_le_bytes()); // e_shnum
    out[62..64].copy_from_slice(&1u16.to_le_bytes()); // e_shstrndx
    out
}

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
    let mut per_byte = Vec::new();
    for scale in [1, 4, 16] {
        let (functions, programs) = (5_000 * scale, 1_250 * scale);
        let bytes = generate(functions, programs);
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
