//! The bad-input catalogue (issue #6): one test per kind of malformed object
//! and per kind of run-time fault, each asserting the exact error and that
//! nothing else changed (every map's bytes and the input are compared before
//! and after). Also the regression tests of the fuzzers' findings
//! (`f1_...` to `f3_...`: see doc/safety.md).
//!
//! Malformed objects are byte mutations of the valid objects in `testdata/`,
//! located with the small ELF reader below; run-time faults use assembled
//! programs (`tinybpf::vm::isa::asm`) over maps created here.

use std::path::PathBuf;

use tinybpf::Error;
use tinybpf::loader::{LoadErrorKind, MapProblem};
use tinybpf::maps::{ArrayMap, BPF_ANY, BPF_F_RDONLY_PROG, BpfMap, MapDef, MapError};
use tinybpf::vm::exec::memory::{
    CONTEXT_START, INPUT_START, MAP_HANDLE_BASE, STACK_START, map_value_start,
};
use tinybpf::vm::isa::asm::assemble_bytes;
use tinybpf::vm::{
    Access, HelperError, InvalidInsn, LoadedProgram, ProgramKind, ProgramOptions, RunContext,
    RunError, RunOutcome, VerifyError,
};

// ---- a small ELF64 reader: file offsets of headers, symbols, relocations ----

fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn c_string(b: &[u8], at: usize) -> String {
    let end = b[at..].iter().position(|&c| c == 0).unwrap() + at;
    String::from_utf8_lossy(&b[at..end]).into_owned()
}

/// One section header and where it lies in the file.
#[derive(Debug, Clone)]
struct Section {
    name: String,
    /// File offset of the section header.
    header: usize,
    offset: usize,
    size: usize,
    /// `sh_name` (offset in the section name table).
    name_offset: usize,
}

/// Field offsets inside an ELF64 section header.
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;

/// One symbol and where its entry lies.
#[derive(Debug, Clone)]
struct Symbol {
    name: String,
    /// File offset of the 24-byte entry.
    at: usize,
    value: u64,
}

/// One REL entry and where it lies.
#[derive(Debug, Clone)]
struct Rel {
    /// File offset of the 16-byte entry.
    at: usize,
    offset: u64,
}

struct Elf {
    sections: Vec<Section>,
    bytes: Vec<u8>,
}

impl Elf {
    fn of(bytes: &[u8]) -> Elf {
        let shoff = get_u64(bytes, 40) as usize;
        let shnum = usize::from(get_u16(bytes, 60));
        let shstrndx = usize::from(get_u16(bytes, 62));
        let names = get_u64(bytes, shoff + 64 * shstrndx + SH_OFFSET) as usize;
        let sections = (0..shnum)
            .map(|i| {
                let header = shoff + 64 * i;
                let name_offset = get_u32(bytes, header) as usize;
                Section {
                    name: c_string(bytes, names + name_offset),
                    header,
                    offset: get_u64(bytes, header + SH_OFFSET) as usize,
                    size: get_u64(bytes, header + SH_SIZE) as usize,
                    name_offset,
                }
            })
            .collect();
        Elf {
            sections,
            bytes: bytes.to_vec(),
        }
    }

    fn section(&self, name: &str) -> &Section {
        self.sections
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    fn names_offset(&self) -> usize {
        let shstrndx = usize::from(get_u16(&self.bytes, 62));
        self.sections[shstrndx].offset
    }

    fn symbols(&self) -> Vec<Symbol> {
        let symtab = self.section(".symtab");
        let strtab = self.section(".strtab").offset;
        (0..symtab.size / 24)
            .map(|i| {
                let at = symtab.offset + 24 * i;
                Symbol {
                    name: c_string(&self.bytes, strtab + get_u32(&self.bytes, at) as usize),
                    at,
                    value: get_u64(&self.bytes, at + 8),
                }
            })
            .collect()
    }

    fn symbol(&self, name: &str) -> Symbol {
        self.symbols()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }

    fn rels(&self, section: &str) -> Vec<Rel> {
        let rel = self.section(section);
        (0..rel.size / 16)
            .map(|i| {
                let at = rel.offset + 16 * i;
                Rel {
                    at,
                    offset: get_u64(&self.bytes, at),
                }
            })
            .collect()
    }
}

/// `testdata/const_key_oob.o` (one program in `socket` with four map
/// references, one legacy map `small` in `maps`) with one mutation.
fn const_key_oob_with(mutate: impl FnOnce(&Elf, &mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = testdata("const_key_oob.o");
    let elf = Elf::of(&bytes);
    mutate(&elf, &mut bytes);
    bytes
}

/// Opens mutated bytes and loads their program, expecting the loader to
/// refuse them (when opening, or when loading the program) with a message
/// that names the file.
fn object_error(bytes: &[u8]) -> LoadErrorKind {
    let result = tinybpf::Object::parse("bad.o", bytes)
        .and_then(|object| object.program("const_key_oob").map(drop));
    match result {
        Ok(()) => panic!("the mutated object was accepted"),
        Err(Error::Object(e)) => {
            assert!(
                e.to_string().starts_with("bad.o: "),
                "the message does not name the file: {e}"
            );
            e.kind
        }
        Err(other) => panic!("not a loader error: {other}"),
    }
}

// ---- malformed objects --------------------------------------------------------

#[test]
fn the_unmutated_object_is_valid() {
    let object = tinybpf::Object::parse("good.o", &testdata("const_key_oob.o")).unwrap();
    let program = object.program("const_key_oob").unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 15);
}

#[test]
fn a_refused_instruction_is_named_by_section_and_instruction() {
    // Instruction 13 of section socket is `call 1`: make it helper 12345.
    let bytes =
        const_key_oob_with(|elf, b| put_u32(b, elf.section("socket").offset + 13 * 8 + 4, 12345));
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::InvalidInstruction { program, section, function, insn: 13, source }
            if program == "const_key_oob" && section == "socket" && function == "const_key_oob"
                && **source == InvalidInsn::UnknownHelper { id: 12345 }),
        "{err}"
    );
}

#[test]
fn truncated_header() {
    let bytes = testdata("const_key_oob.o");
    for len in [0, 3] {
        let err = object_error(&bytes[..len]);
        assert!(
            matches!(err, LoadErrorKind::Truncated { what: "ELF identification", needed: 4, available, .. } if available == len as u64),
            "{len}: {err}"
        );
    }
    for len in [4, 16, 40, 63] {
        let err = object_error(&bytes[..len]);
        assert!(
            matches!(err, LoadErrorKind::Truncated { what: "ELF header", needed: 64, available, .. } if available == len as u64),
            "{len}: {err}"
        );
    }
}

#[test]
fn section_table_beyond_the_file() {
    let len = testdata("const_key_oob.o").len() as u64;
    let bytes = const_key_oob_with(|_, b| put_u64(b, 40, len - 64));
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::OutOfFile { what, offset, file_size, .. }
            if what == "the section header table" && *offset == len - 64 && *file_size == len),
        "{err}"
    );
    // An offset so large that offset + size overflows.
    let bytes = const_key_oob_with(|_, b| put_u64(b, 40, u64::MAX - 63));
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::OutOfFile { what, .. } if what == "the section header table"),
        "{err}"
    );
}

#[test]
fn a_section_beyond_the_file() {
    let len = testdata("const_key_oob.o").len();
    let bytes = const_key_oob_with(|elf, b| {
        put_u64(
            b,
            elf.section("socket").header + SH_OFFSET,
            (len - 8) as u64,
        )
    });
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::OutOfFile { what, size: 408, .. } if what == "section socket"),
        "{err}"
    );
}

#[test]
fn symbol_section_index_out_of_range() {
    let bytes = const_key_oob_with(|elf, b| put_u16(b, elf.symbol("small").at + 6, 0xfee0));
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::SymbolSectionOutOfRange { symbol, section_index: 0xfee0, .. } if symbol == "small"),
        "{err}"
    );
}

#[test]
fn relocation_symbol_index_out_of_range() {
    let bytes = const_key_oob_with(|elf, b| {
        let rel = &elf.rels(".relsocket")[0];
        let count = elf.section(".symtab").size / 24;
        put_u64(b, rel.at + 8, ((count as u64 + 5) << 32) | 1);
    });
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::RelocationSymbolOutOfRange { section, entry: 0, symbol_index, symbol_count, .. }
            if section == ".relsocket" && *symbol_index == *symbol_count + 5),
        "{err}"
    );
}

#[test]
fn relocation_offset_beyond_the_section() {
    let bytes = const_key_oob_with(|elf, b| {
        let rel = &elf.rels(".relsocket")[0];
        put_u64(b, rel.at, 408 + 8);
    });
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadRelocationOffset { section, offset: 416, section_size: 408, .. } if section == "socket"),
        "{err}"
    );
    // Far beyond, where offset + 8 overflows.
    let bytes = const_key_oob_with(|elf, b| {
        let rel = &elf.rels(".relsocket")[0];
        put_u64(b, rel.at, u64::MAX - 3);
    });
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadRelocationOffset { offset, .. } if *offset == u64::MAX - 3),
        "{err}"
    );
}

#[test]
fn relocation_on_an_instruction_that_is_not_lddw() {
    let bytes = const_key_oob_with(|elf, b| {
        let rel = &elf.rels(".relsocket")[0];
        // The instruction before the first map reference is not an lddw.
        let code = elf.section("socket").offset;
        let target = rel.offset - 8;
        assert_ne!(b[code + target as usize], 0x18);
        put_u64(b, rel.at, target);
    });
    let err = object_error(&bytes);
    assert!(
        matches!(
            &err,
            LoadErrorKind::RelocationOnWrongInstruction {
                r_type_name: "R_BPF_64_64",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn map_definition_shorter_than_bpf_map_def() {
    let bytes = const_key_oob_with(|elf, b| put_u64(b, elf.symbol("small").at + 16, 12));
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::TooShort { size: 12 } } if map == "small"),
        "{err}"
    );
}

#[test]
fn maps_section_too_short_for_its_map() {
    let bytes = const_key_oob_with(|elf, b| put_u64(b, elf.section("maps").header + SH_SIZE, 12));
    let err = object_error(&bytes);
    assert!(
        matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::OutOfSection { section, offset: 0, size: 20, section_size: 12 } }
            if section == "maps" && map == "small"),
        "{err}"
    );
}

/// The bytes of `const_key_oob.o` with field `field` (0 type, 4 key_size,
/// 8 value_size, 12 max_entries, 16 map_flags) of its map set to `value`.
fn map_field(field: usize, value: u32) -> Vec<u8> {
    const_key_oob_with(|elf, b| {
        let def = elf.section("maps").offset + elf.symbol("small").value as usize;
        put_u32(b, def + field, value);
    })
}

fn map_error(bytes: &[u8]) -> MapError {
    match object_error(bytes) {
        LoadErrorKind::BadMap {
            map,
            problem: MapProblem::Rejected(source),
        } => {
            assert_eq!(map, "small");
            source
        }
        other => panic!("not a map error: {other}"),
    }
}

#[test]
fn zero_size_maps() {
    assert!(matches!(
        map_error(&map_field(8, 0)),
        MapError::ZeroValueSize
    ));
    assert!(matches!(
        map_error(&map_field(12, 0)),
        MapError::ZeroMaxEntries
    ));
}

#[test]
fn huge_maps() {
    // Above the kernel's largest value (4 MiB): E2BIG.
    let err = map_error(&map_field(8, (4 << 20) + 1));
    assert!(
        matches!(err, MapError::ValueSizeTooBig { value_size, .. } if value_size == (4 << 20) + 1),
        "{err}"
    );
    assert_eq!(err.errno(), 7);
    // 4 MiB values times 2^32 - 1 entries: 16 PiB, which no allocator gives.
    let bytes = const_key_oob_with(|elf, b| {
        let def = elf.section("maps").offset + elf.symbol("small").value as usize;
        put_u32(b, def + 8, 4 << 20);
        put_u32(b, def + 12, u32::MAX);
    });
    let err = map_error(&bytes);
    assert_eq!(err.errno(), 12, "{err}"); // ENOMEM
}

#[test]
fn unknown_map_type() {
    // Types tinybpf does not support, with sizes the kernel accepts.
    for map_type in [15, 20] {
        let err = object_error(&map_field(0, map_type));
        assert!(
            matches!(&err, LoadErrorKind::UnsupportedMapType { map, map_type: t, .. } if map == "small" && *t == map_type),
            "{err}"
        );
    }
    // A type that does not exist.
    let err = object_error(&map_field(0, 0xffff_ffff));
    assert!(
        matches!(&err, LoadErrorKind::BadMap { map, problem: MapProblem::UnknownType { map_type: 0xffff_ffff } } if map == "small"),
        "{err}"
    );
}

#[test]
fn missing_license_is_fine() {
    // Rename the section: `license` becomes `licensf`.
    let bytes = const_key_oob_with(|elf, b| {
        let at = elf.names_offset() + elf.section("license").name_offset;
        assert_eq!(&b[at..at + 7], b"license");
        b[at + 6] = b'f';
    });
    let object = tinybpf::Object::parse("nolicense.o", &bytes).unwrap();
    assert_eq!(object.linked().license, None);
    let program = object.program("const_key_oob").unwrap();
    assert_eq!(program.run(&mut []).unwrap().retval, 15);
}

// ---- run-time faults ----------------------------------------------------------

/// Three maps with recognisable contents: 8 x 4 entries, 16 x 2 entries and
/// a read-only (`BPF_F_RDONLY_PROG`) 8 x 1. Values are multiples of 8 bytes,
/// so `entries()` covers every byte of the value areas.
fn maps() -> Vec<ArrayMap> {
    let defs = [
        MapDef::array(8, 4),
        MapDef::array(16, 2),
        MapDef::array(8, 1).with_flags(BPF_F_RDONLY_PROG),
    ];
    defs.iter()
        .enumerate()
        .map(|(m, def)| {
            let map = ArrayMap::new(*def).unwrap();
            for key in 0..def.max_entries {
                let value: Vec<u8> = (0..def.value_size)
                    .map(|i| (m as u32 * 64 + key * 16 + i) as u8 | 0x80)
                    .collect();
                map.update(&key.to_le_bytes(), &value, BPF_ANY).unwrap();
            }
            map
        })
        .collect()
}

/// The arrays as the VM takes them (handles on the same maps).
fn bpf_maps(maps: &[ArrayMap]) -> Vec<BpfMap> {
    maps.iter()
        .map(|m| BpfMap::from_array(m.clone(), 1))
        .collect()
}

fn bytes_of(maps: &[ArrayMap]) -> Vec<Vec<u8>> {
    maps.iter()
        .map(|m| m.entries().flat_map(|(_, v)| v).collect())
        .collect()
}

fn load(text: &str, kind: ProgramKind, maps: &[ArrayMap]) -> Result<LoadedProgram, VerifyError> {
    let code = assemble_bytes(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    LoadedProgram::load(
        &code,
        ProgramOptions {
            kind,
            maps: bpf_maps(maps),
            ..ProgramOptions::default()
        },
    )
}

/// Runs `text` (in both lookup modes) over a 16-byte input and fresh maps;
/// returns the outcome after checking that the maps and the input are the
/// same before and after the run, and the same in both modes.
fn run(text: &str, kind: ProgramKind) -> Result<RunOutcome, RunError> {
    run_over(text, kind, &mut [0x5a; 16])
}

fn run_over(text: &str, kind: ProgramKind, input: &mut [u8]) -> Result<RunOutcome, RunError> {
    let mut results = Vec::new();
    // Budget faults may stop at different places: the rewrite runs fewer
    // instructions. Everything else must be the same.
    for inline_lookups in [true, false] {
        let maps = maps();
        let code = assemble_bytes(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let program = LoadedProgram::load(
            &code,
            ProgramOptions {
                kind,
                maps: bpf_maps(&maps),
                inline_lookups,
                ..ProgramOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let maps_before = bytes_of(&maps);
        let mut buffer = input.to_vec();
        let result = program.run_with(&mut buffer, &mut RunContext::new().with_budget(10_000));
        assert_eq!(bytes_of(&maps), maps_before, "a map changed\n{text}");
        assert_eq!(buffer, input, "the input changed\n{text}");
        results.push(result);
    }
    let plain = results.pop().unwrap();
    let inline = results.pop().unwrap();
    match (&inline, &plain) {
        (Ok(a), Ok(b)) => assert_eq!(a.retval, b.retval, "{text}"),
        (
            Err(RunError::BudgetExhausted { budget: a, .. }),
            Err(RunError::BudgetExhausted { budget: b, .. }),
        ) => assert_eq!(a, b, "{text}"),
        (a, b) => assert_eq!(a, b, "{text}"),
    }
    inline
}

fn out_of_bounds(pc: usize, addr: u64, size: u64, access: Access) -> Result<RunOutcome, RunError> {
    Err(RunError::OutOfBounds {
        pc,
        addr,
        size,
        access,
    })
}

#[test]
fn input_out_of_bounds() {
    use Access::{Read, Write};
    let m = ProgramKind::Memory;
    // Input: 16 bytes at INPUT_START.
    let end = INPUT_START + 16;
    assert_eq!(run("ldxb %r0, [%r1+15]\nexit", m).unwrap().retval, 0x5a);
    assert_eq!(
        run("ldxb %r0, [%r1+16]\nexit", m),
        out_of_bounds(0, end, 1, Read)
    );
    assert_eq!(
        run("ldxdw %r0, [%r1+9]\nexit", m),
        out_of_bounds(0, end - 7, 8, Read)
    );
    assert_eq!(
        run("ldxb %r0, [%r1-1]\nexit", m),
        out_of_bounds(0, INPUT_START - 1, 1, Read)
    );
    assert_eq!(
        run("stw [%r1+13], 1\nexit", m),
        out_of_bounds(0, end - 3, 4, Write)
    );
    assert_eq!(
        run("stxb [%r1-1], %r1\nexit", m),
        out_of_bounds(0, INPUT_START - 1, 1, Write)
    );
    // An empty input has no bytes at all.
    assert_eq!(
        run_over("ldxb %r0, [%r1]\nexit", m, &mut []),
        out_of_bounds(0, INPUT_START, 1, Read)
    );
    // The length in r2 is what the program may trust.
    assert_eq!(run("mov %r0, %r2\nexit", m).unwrap().retval, 16);
}

#[test]
fn xdp_packet_and_context_out_of_bounds() {
    use Access::{Read, Write};
    let x = ProgramKind::Xdp;
    // xdp_md: 24 bytes at CONTEXT_START, read-only; data at 0, data_end at 4.
    assert_eq!(
        run(
            "ldxw %r2, [%r1+4]\nldxw %r1, [%r1]\nmov %r0, %r2\nsub %r0, %r1\nexit",
            x
        )
        .unwrap()
        .retval,
        16
    );
    assert_eq!(run("ldxw %r0, [%r1+20]\nexit", x).unwrap().retval, 0);
    assert_eq!(
        run("ldxw %r0, [%r1+24]\nexit", x),
        out_of_bounds(0, CONTEXT_START + 24, 4, Read)
    );
    assert_eq!(
        run("ldxw %r0, [%r1+21]\nexit", x),
        out_of_bounds(0, CONTEXT_START + 21, 4, Read)
    );
    assert_eq!(
        run("ldxb %r0, [%r1-1]\nexit", x),
        out_of_bounds(0, CONTEXT_START - 1, 1, Read)
    );
    assert_eq!(
        run("stw [%r1], 1\nexit", x),
        out_of_bounds(0, CONTEXT_START, 4, Write)
    );
    assert_eq!(
        run("mov %r2, 7\nstxb [%r1+4], %r2\nexit", x),
        out_of_bounds(1, CONTEXT_START + 4, 1, Write)
    );
    assert_eq!(
        run("lock add32 [%r1+8], %r1\nexit", x),
        out_of_bounds(0, CONTEXT_START + 8, 4, Write)
    );
    // The packet: data_end is one past the last byte.
    assert_eq!(
        run("ldxw %r2, [%r1+4]\nldxb %r0, [%r2]\nexit", x),
        out_of_bounds(1, INPUT_START + 16, 1, Read)
    );
    assert_eq!(
        run("ldxw %r2, [%r1+4]\nstb [%r2-17], 1\nexit", x),
        out_of_bounds(1, INPUT_START - 1, 1, Write)
    );
}

#[test]
fn stack_underflow_and_overflow_through_a_copy_of_r10() {
    use Access::{Read, Write};
    let m = ProgramKind::Memory;
    // The stack: 8 frames of 512 bytes below STACK_START + 4096; frame 0's
    // r10 is the top. Direct r10 accesses outside the frame fail at load.
    let top = STACK_START + 4096;
    assert_eq!(
        run("mov %r2, %r10\nldxb %r0, [%r2]\nexit", m),
        out_of_bounds(1, top, 1, Read)
    );
    assert_eq!(
        run("mov %r2, %r10\nstdw [%r2-4], 1\nexit", m),
        out_of_bounds(1, top - 4, 8, Write)
    );
    assert_eq!(
        run("mov %r2, %r10\nadd %r2, -4097\nldxb %r0, [%r2]\nexit", m),
        out_of_bounds(2, STACK_START - 1, 1, Read)
    );
    assert_eq!(
        run("mov %r2, %r10\nsub %r2, 4100\nstxw [%r2], %r1\nexit", m),
        out_of_bounds(2, STACK_START - 4, 4, Write)
    );
    // Through a pointer spilled to the stack and reloaded.
    assert_eq!(
        run(
            "mov %r2, %r10\nstxdw [%r10-8], %r2\nldxdw %r3, [%r10-8]\nstb [%r3+1], 1\nexit",
            m
        ),
        out_of_bounds(3, top + 1, 1, Write)
    );
    // The stack a program can reach is addressable: here frame 0 whole (r10
    // escapes), zeroed; below it (frames no call of this program uses) faults.
    assert_eq!(
        run("mov %r2, %r10\nadd %r2, -512\nldxb %r0, [%r2]\nexit", m)
            .unwrap()
            .retval,
        0
    );
    assert_eq!(
        run("mov %r2, %r10\nadd %r2, -513\nldxb %r0, [%r2]\nexit", m),
        out_of_bounds(2, top - 513, 1, Read)
    );
    for (text, offset, size) in [
        ("stb [%r10], 1\nexit", 0, 1),
        ("ldxdw %r0, [%r10-4]\nexit", -4, 8),
        ("ldxb %r0, [%r10-513]\nexit", -513, 1),
        ("stxdw [%r10+8], %r1\nexit", 8, 8),
    ] {
        let err = load(text, m, &[]).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Invalid {
                pc: 0,
                kind: InvalidInsn::StackOutOfFrame { offset, size }
            },
            "{text}"
        );
    }
}

/// `r0 = &map[key]` (`map` 0..3) followed by `then`.
fn with_element(map: usize, key: u32, then: &str) -> String {
    format!(
        "stw [%r10-4], {key}\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx:{map}\ncall 1\njne %r0, 0, +1\nexit\n{then}"
    )
}

#[test]
fn map_value_out_of_bounds() {
    use Access::{Read, Write};
    let m = ProgramKind::Memory;
    // Map 0: 4 elements of 8 bytes; map 1: 2 of 16; map 2: read-only, 1 of 8.
    let area0 = map_value_start(0);
    let pc = 8; // the first instruction of `then`
    assert_eq!(
        run(&with_element(0, 3, "ldxdw %r0, [%r0]\nexit"), m)
            .unwrap()
            .retval,
        u64::from_le_bytes([0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7])
    );
    assert_eq!(
        run(&with_element(0, 3, "ldxb %r0, [%r0+8]\nexit"), m),
        out_of_bounds(pc, area0 + 32, 1, Read)
    );
    assert_eq!(
        run(&with_element(0, 0, "ldxw %r0, [%r0-2]\nexit"), m),
        out_of_bounds(pc, area0 - 2, 4, Read)
    );
    assert_eq!(
        run(&with_element(0, 3, "stdw [%r0+1], 0\nexit"), m),
        out_of_bounds(pc, area0 + 25, 8, Write)
    );
    assert_eq!(
        run(&with_element(1, 1, "lock add [%r0+16], %r1\nexit"), m),
        out_of_bounds(pc, map_value_start(1) + 32, 8, Write)
    );
    // A key past the end gives NULL; NULL is in no region.
    assert_eq!(run(&with_element(1, 2, "exit"), m).unwrap().retval, 0);
    assert_eq!(
        run(
            "stw [%r10-4], 2\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx:1\ncall 1\nldxb %r0, [%r0]\nexit",
            m
        ),
        out_of_bounds(6, 0, 1, Read)
    );
    // A map handle is not a pointer either.
    assert_eq!(
        run("lddw %r1, map_idx:0\nldxb %r0, [%r1]\nexit", m),
        out_of_bounds(2, MAP_HANDLE_BASE, 1, Read)
    );
}

#[test]
fn read_only_map_writes_fault() {
    use Access::Write;
    let m = ProgramKind::Memory;
    let area2 = map_value_start(2);
    // Reading is allowed.
    assert_eq!(
        run(&with_element(2, 0, "ldxb %r0, [%r0]\nexit"), m)
            .unwrap()
            .retval,
        0x80
    );
    assert_eq!(
        run(&with_element(2, 0, "stb [%r0], 1\nexit"), m),
        out_of_bounds(8, area2, 1, Write)
    );
    assert_eq!(
        run(&with_element(2, 0, "lock xchg [%r0], %r1\nexit"), m),
        out_of_bounds(8, area2, 8, Write)
    );
    // Through a map_idx_value address (how .rodata is reached).
    assert_eq!(
        run("lddw %r1, map_idx_value:2+4\nstw [%r1], 7\nexit", m),
        out_of_bounds(2, area2 + 4, 4, Write)
    );
    // The update helper refuses with -EPERM instead of faulting.
    let text = "stw [%r10-4], 0\nstdw [%r10-16], 9\nlddw %r1, map_idx:2\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\nexit";
    assert_eq!(run(text, m).unwrap().retval, (-1i64) as u64);
}

#[test]
fn rodata_write_of_an_object_faults_and_changes_nothing() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("loader/tests/fixtures/rodata_write.o");
    let object = tinybpf::Object::open(&path).unwrap();
    // Loading creates the program's maps; the VM numbers them in the program's order.
    let program = object.program("write_rodata").unwrap();
    let before: Vec<Vec<(Vec<u8>, Vec<u8>)>> = object
        .maps()
        .iter()
        .map(|m| m.entries().collect())
        .collect();
    let rodata = program
        .maps()
        .iter()
        .position(|m| m.name() == ".rodata")
        .expect("a .rodata map");
    let mut packet = tinybpf::default_packet();
    let err = program.run(&mut packet).unwrap_err();
    match err {
        Error::Run {
            source:
                RunError::OutOfBounds {
                    addr,
                    size: 4,
                    access: Access::Write,
                    ..
                },
            ..
        } => assert_eq!(addr, map_value_start(rodata)),
        other => panic!("{other}"),
    }
    let after: Vec<Vec<(Vec<u8>, Vec<u8>)>> = object
        .maps()
        .iter()
        .map(|m| m.entries().collect())
        .collect();
    assert_eq!(after, before);
    assert_eq!(object.map(".rodata").unwrap().get_at::<u32>(0).unwrap(), 10);
    assert_eq!(packet, tinybpf::default_packet());
}

#[test]
fn division_edge_cases_do_not_fault() {
    let m = ProgramKind::Memory;
    // (program, expected r0): division by zero gives 0; modulo by zero keeps
    // the dividend (its low 32 bits, zero-extended, in 32-bit ALU); signed
    // INT_MIN / -1 is INT_MIN and INT_MIN % -1 is 0.
    let cases: [(&str, u64); 16] = [
        ("mov %r0, 7\ndiv %r0, 0\nexit", 0),
        ("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit", 0),
        ("mov %r0, 7\nmod %r0, 0\nexit", 7),
        (
            "lddw %r0, 0x1122334455667788\nmov %r1, 0\nmod %r0, %r1\nexit",
            0x1122_3344_5566_7788,
        ),
        (
            "lddw %r0, 0x1122334455667788\nmod32 %r0, 0\nexit",
            0x5566_7788,
        ),
        (
            "lddw %r0, 0x1122334455667788\nmov %r1, 0\ndiv32 %r0, %r1\nexit",
            0,
        ),
        ("mov %r0, -7\nsdiv %r0, 0\nexit", 0),
        ("mov %r0, -7\nsmod %r0, 0\nexit", (-7i64) as u64),
        (
            "mov %r0, -7\nsmod32 %r0, 0\nexit",
            u64::from((-7i32) as u32),
        ),
        ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit", 1 << 63),
        (
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit",
            0,
        ),
        ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit", 0x8000_0000),
        (
            "mov32 %r0, 0x80000000\nmov %r1, -1\nsmod32 %r0, %r1\nexit",
            0,
        ),
        ("mov %r0, -7\nsdiv %r0, 2\nexit", (-3i64) as u64),
        ("mov %r0, -7\nsmod %r0, 2\nexit", (-1i64) as u64),
        ("mov %r0, 7\nsmod %r0, -2\nexit", 1),
    ];
    for (text, expected) in cases {
        assert_eq!(run(text, m).map(|o| o.retval), Ok(expected), "{text}");
    }
}

#[test]
fn budget_exhausted() {
    let m = ProgramKind::Memory;
    assert_eq!(
        run("ja -1\nexit", m),
        Err(RunError::BudgetExhausted {
            pc: 0,
            budget: 10_000
        })
    );
    // A loop that reads maps and the input (but writes nothing) ends too.
    let text = with_element(
        0,
        1,
        "loop:\nldxdw %r3, [%r0]\nldxb %r4, [%r6]\nja loop\nexit",
    );
    let text = format!("mov %r6, %r1\n{text}");
    let err = run(&text, m).unwrap_err();
    assert!(
        matches!(err, RunError::BudgetExhausted { budget: 10_000, .. }),
        "{err}"
    );
    // Calls count as well: a loop of local calls ends.
    let err = run("call local +2\nja -2\nexit\nexit", m).unwrap_err();
    assert!(
        matches!(err, RunError::BudgetExhausted { budget: 10_000, .. }),
        "{err}"
    );
}

#[test]
fn call_depth_exceeded() {
    let m = ProgramKind::Memory;
    // Each frame calls the next: the 8th nested call (frame 9) is refused.
    assert_eq!(
        run("call local -1\nexit", m),
        Err(RunError::CallDepthExceeded { pc: 0, limit: 8 })
    );
    // Seven nested calls (8 frames) are fine.
    // r6 = n: main calls f, and f calls itself until r6 is 0: n + 1 nested calls.
    let nested = |n: u32| {
        format!(
            "mov %r6, {n}\ncall local +2\nmov %r0, %r6\nexit\njeq %r6, 0, +3\nsub %r6, 1\ncall local -3\nmov %r0, 1\nexit"
        )
    };
    assert_eq!(run(&nested(6), m).map(|o| o.retval), Ok(6));
    assert_eq!(
        run(&nested(7), m),
        Err(RunError::CallDepthExceeded { pc: 6, limit: 8 })
    );
}

#[test]
fn unknown_helpers() {
    let m = ProgramKind::Memory;
    // A direct call is checked at load.
    for id in [0, 4, 212, 999, -1] {
        let err = load(&format!("call {id}\nexit"), m, &[]).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Invalid {
                pc: 0,
                kind: InvalidInsn::UnknownHelper { id: i64::from(id) }
            }
        );
    }
    // callx is checked when it runs.
    assert_eq!(
        run("mov %r1, 999\ncall %r1\nexit", m),
        Err(RunError::UnknownHelper { pc: 1, id: 999 })
    );
    assert_eq!(
        run("mov %r1, -1\ncall %r1\nexit", m),
        Err(RunError::UnknownHelper {
            pc: 1,
            id: u64::MAX
        })
    );
    // A kfunc call is refused at load.
    let err = load("call runtime 7\nexit", m, &[]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Invalid {
            pc: 0,
            kind: InvalidInsn::Kfunc
        }
    );
}

#[test]
fn misaligned_atomics_and_bad_helper_pointers() {
    let m = ProgramKind::Memory;
    let top = STACK_START + 4096;
    assert_eq!(
        run("lock add [%r10-12], %r1\nexit", m),
        Err(RunError::MisalignedAtomic {
            pc: 0,
            addr: top - 12,
            size: 8
        })
    );
    assert_eq!(
        run(&with_element(0, 0, "lock add32 [%r0+2], %r1\nexit"), m),
        Err(RunError::MisalignedAtomic {
            pc: 8,
            addr: map_value_start(0) + 2,
            size: 4
        })
    );
    // A lookup whose key pointer is outside memory: the helper's fault, in both modes.
    assert_eq!(
        run("mov %r2, 0\nlddw %r1, map_idx:0\ncall 1\nexit", m),
        Err(RunError::Helper {
            pc: 3,
            id: 1,
            source: HelperError::OutOfBounds {
                addr: 0,
                size: 4,
                access: Access::Read
            }
        })
    );
    // An update whose value lies partly past the input.
    let text = "stw [%r10-4], 0\nlddw %r1, map_idx:1\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r6\nadd %r3, 8\nmov %r4, 0\ncall 2\nexit";
    let text = format!("mov %r6, %r1\n{text}");
    assert_eq!(
        run(&text, m),
        Err(RunError::Helper {
            pc: 9,
            id: 2,
            source: HelperError::OutOfBounds {
                addr: INPUT_START + 8,
                size: 16,
                access: Access::Read
            }
        })
    );
}

// ---- regressions of fuzz findings (doc/safety.md) --------------------------------

/// F1: a constant stack address is a stack address: the store it reads
/// must not be removed as dead.
#[test]
fn f1_forged_stack_address_reads_the_stored_value() {
    let m = ProgramKind::Memory;
    let text = "stw [%r10-4], 2\nlddw %r3, 0x200000ffc\nldxw %r0, [%r3+0]\nexit";
    assert_eq!(run(text, m).map(|o| o.retval), Ok(2));
    // Built by arithmetic, and reading the key of a rewritten lookup.
    let text = "stw [%r10-4], 2\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx:0\ncall 1\nmov %r3, 2\nlsh %r3, 32\nadd %r3, 0xffc\nldxw %r0, [%r3+0]\nexit";
    assert_eq!(run(text, m).map(|o| o.retval), Ok(2));
}

/// F2: a map of 4 GiB or more is refused (ENOMEM, as the kernel does)
/// before its memory is allocated, and a large one below that costs
/// nothing until touched (the fuzzer's 1.2 GB map: open and run it).
#[test]
fn f2_huge_maps_are_refused_or_lazily_allocated() {
    // 8-byte values, 2^29 entries: exactly 4 GiB.
    let err = map_error(&map_field(12, 1 << 29));
    assert_eq!(err.errno(), 12, "{err}");
    // 8-byte values, 0x0900_0001 entries: 1.2 GB that nobody touches.
    let bytes = map_field(12, 0x0900_0001);
    let object = tinybpf::Object::parse("big.o", &bytes).unwrap();
    let program = object.program("const_key_oob").unwrap();
    // Keys 4 and 0xffffffff are now in range: 1 | 2 | 8 (key 4 found).
    assert_eq!(program.run(&mut []).unwrap().retval, 11);
}

/// F3: a callee sees the caller's r0, so the op that set it is not dead.
#[test]
fn f3_callee_reads_the_callers_r0() {
    let m = ProgramKind::Memory;
    let text = "mov %r0, 7\ncall local +2\nmov %r0, %r2\nexit\nmov %r2, %r0\nexit";
    assert_eq!(run(text, m).map(|o| o.retval), Ok(7));
    let text = "mov32 %r9, 3\nstxw [%r10-20], %r9\nlddw %r1, map_idx:0\nmov %r2, %r10\nadd %r2, -20\ncall 1\ncall local +5\nmov %r2, %r10\nadd %r2, -32\ncall 1\nmov %r0, %r4\nexit\njeq %r0, 0, +1\nmov %r4, 1\nexit";
    assert_eq!(run(text, m).map(|o| o.retval), Ok(1));
}

/// F4: in a subprogram, r10 and its copies are stack pointers: a store that
/// only a stack atomic or a load through a copy of r10 reads is not dead.
#[test]
fn f4_subprogram_reads_its_frame_through_r10() {
    let m = ProgramKind::Memory;
    let text = "mov %r4, 0\ncall local +2\nmov %r0, %r4\nexit\nstb [%r10-6], 1\nlock fetch add32 [%r10-8], %r4\nstb [%r10-6], 2\nexit";
    assert_eq!(run(text, m).map(|o| o.retval), Ok(0x1_0000));
    let text = "call local +1\nexit\nstb [%r10-6], 1\nmov %r1, %r10\nldxb %r0, [%r1-6]\nstb [%r10-6], 2\nexit";
    assert_eq!(run(text, m).map(|o| o.retval), Ok(1));
    // The lookup's key read in a callee (r1 is not a map: the helper returns
    // NULL without reading; the rewritten form must keep the store as well).
    let text = "call local +2\nxor %r0, %r4\nexit\nstb [%r10-6], 225\nmov %r2, %r10\ncall 1\nlock fetch xor32 [%r10-8], %r4\nstb [%r10-6], 247\nexit";
    assert_eq!(run(text, m).map(|o| o.retval), Ok(0xe1_0000));
}

/// F5: the clock helpers read the host's clock unless the run context fixes
/// it, so the differential fuzzers saw "the passes change behaviour" where
/// two runs only read the clock at different moments. With a fixed clock a
/// program that measures elapsed time gives the same result with every pass
/// and with none (the harness now fixes the clock).
#[test]
fn f5_a_fixed_clock_makes_the_passes_comparable() {
    let code = assemble_bytes(
        "call 125\nmov %r6, %r0\ncall 5\nmov %r7, %r0\ncall 125\nsub %r0, %r6\nsub %r0, %r7\nexit",
    )
    .unwrap();
    let run_with = |passes| {
        let options = ProgramOptions {
            passes,
            ..ProgramOptions::default()
        };
        let program = LoadedProgram::load(&code, options).unwrap();
        let mut ctx = RunContext::new().with_clock(tinybpf::vm::Clock::Fixed {
            start_ns: 1_000,
            step_ns: 10,
        });
        program.run_with(&mut [], &mut ctx).unwrap().retval
    };
    // Readings 1000, 1010, 1020: 1020 - 1000 - 1010.
    let expected = 1020u64.wrapping_sub(1000).wrapping_sub(1010);
    assert_eq!(run_with(tinybpf::vm::Passes::ALL), expected);
    assert_eq!(run_with(tinybpf::vm::Passes::NONE), expected);
}
