//! The loader's error: the object file once, and what went wrong where
//! (section, symbol, map, instruction index or byte offset) as a
//! [`LoadErrorKind`].

use thiserror::Error;

use crate::btf::BtfError;
use crate::map_check::MapProblem;

/// Why an object file could not be parsed, linked or loaded.
///
/// Its message is `FILE: what went wrong`, one sentence a person can act on.
///
/// ```
/// use tinybpf_loader::{LoadErrorKind, Object};
/// let err = Object::parse("notes.txt", b"hello").unwrap_err();
/// assert_eq!(err.object, "notes.txt");
/// assert!(matches!(err.kind, LoadErrorKind::NotElf));
/// assert_eq!(err.to_string(), "notes.txt: not an ELF file (bad magic at offset 0)");
/// ```
#[derive(Debug, Error)]
#[error("{object}: {kind}")]
pub struct LoadError {
    /// The file name given to [`Object::parse`](crate::Object::parse) or
    /// [`Object::open`](crate::Object::open).
    pub object: String,
    /// What went wrong, and where in the file.
    pub kind: LoadErrorKind,
}

impl LoadError {
    /// An error of `kind` in `object`.
    pub fn new(object: &str, kind: LoadErrorKind) -> LoadError {
        LoadError {
            object: object.to_owned(),
            kind,
        }
    }
}

/// A map definition in words, for messages about pins:
/// `an array map (key 4 bytes, value 8 bytes, 1 entry, flags BPF_F_MMAPABLE)`.
fn describe_def(def: &tinybpf_maps::MapDef) -> String {
    let type_name = match tinybpf_maps::MapType::from_u32(def.map_type) {
        Some(t) if t.name().starts_with(['a', 'e', 'i', 'o', 'u']) => {
            format!("an {} map", t.name())
        }
        Some(t) => format!("a {} map", t.name()),
        None => format!("a map of type {}", def.map_type),
    };
    format!(
        "{type_name} (key {} bytes, value {} bytes, {} entr{}, flags {})",
        def.key_size,
        def.value_size,
        def.max_entries,
        if def.max_entries == 1 { "y" } else { "ies" },
        crate::flags::describe_map_flags(def.map_flags)
    )
}

/// The name of an ELF machine number, for messages about non-BPF objects.
fn machine_name(machine: u16) -> &'static str {
    match machine {
        2 => "SPARC",
        3 => "x86 (i386)",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "s390",
        40 => "ARM",
        43 => "SPARC V9",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => "not BPF",
    }
}

/// What went wrong, with the place in the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(std::io::Error),

    /// The file is shorter than a structure it must contain.
    #[error("truncated: the {what} needs {needed} bytes but the file has {available}")]
    Truncated {
        /// The structure that does not fit.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },

    /// The file does not start with the ELF magic.
    #[error("not an ELF file (bad magic at offset 0)")]
    NotElf,

    /// The ELF class is not 64-bit.
    #[error("ELF class {class} at offset 4 is not ELFCLASS64 (2)")]
    WrongClass {
        /// `e_ident[EI_CLASS]`.
        class: u8,
    },

    /// The ELF data encoding is not little-endian.
    #[error("ELF data encoding {encoding} at offset 5 is not little-endian (1)")]
    WrongEndianness {
        /// `e_ident[EI_DATA]`.
        encoding: u8,
    },

    /// The ELF file is not a relocatable object.
    #[error(
        "ELF type {e_type} is not a relocatable object (ET_REL, 1): pass the .o that clang -c writes"
    )]
    NotRelocatable {
        /// `e_type`.
        e_type: u16,
    },

    /// The ELF machine is not BPF.
    #[error(
        "ELF machine {machine} ({}) is not BPF (247): compile with clang -target bpf",
        machine_name(*machine)
    )]
    WrongMachine {
        /// `e_machine`.
        machine: u16,
    },

    /// A structural field of the ELF header has a value this loader rejects.
    #[error("ELF header field {field} = {value}: {reason}")]
    BadHeader {
        /// The header field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// A table or section lies (partly) outside the file.
    #[error(
        "{what} at file offset {offset} with size {size} extends beyond the end of the file ({file_size} bytes)"
    )]
    OutOfFile {
        /// What lies outside (section name or table).
        what: String,
        /// Its file offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// The file size.
        file_size: u64,
    },

    /// goblin rejected the file.
    #[error("malformed ELF: {0}")]
    Elf(goblin::error::Error),

    /// A section's name offset is not a valid string in the section name table.
    #[error(
        "section #{index}: name offset {name_offset} is not a string in the section name table"
    )]
    BadSectionName {
        /// The section index.
        index: usize,
        /// `sh_name`.
        name_offset: usize,
    },

    /// A section header field is inconsistent with its section's type.
    #[error("section {section}: {reason}")]
    BadSection {
        /// The section name.
        section: String,
        /// What is wrong.
        reason: String,
    },

    /// A symbol's name offset is not a valid string in the string table.
    #[error(
        "symbol #{index}: name offset {name_offset} is not a string in the symbol string table"
    )]
    BadSymbolName {
        /// The symbol index.
        index: usize,
        /// `st_name`.
        name_offset: usize,
    },

    /// A symbol's section index does not name a section.
    #[error(
        "symbol {symbol}: section index {section_index} is out of range ({section_count} sections)"
    )]
    SymbolSectionOutOfRange {
        /// The symbol name.
        symbol: String,
        /// `st_shndx`.
        section_index: usize,
        /// Number of sections.
        section_count: usize,
    },

    /// A function or map symbol does not lie inside its section.
    #[error(
        "section {section}: symbol {symbol} at offset {offset} with size {size} lies outside the section ({section_size} bytes)"
    )]
    SymbolOutOfSection {
        /// The section name.
        section: String,
        /// The symbol name.
        symbol: String,
        /// `st_value`.
        offset: u64,
        /// `st_size`.
        size: u64,
        /// The section size.
        section_size: u64,
    },

    /// A function symbol is not a whole number of instructions, is empty or overlaps another.
    #[error("section {section}: function {symbol} at offset {offset} with size {size}: {reason}")]
    BadFunction {
        /// The section name.
        section: String,
        /// The function symbol.
        symbol: String,
        /// `st_value`.
        offset: u64,
        /// `st_size`.
        size: u64,
        /// What is wrong.
        reason: &'static str,
    },

    /// A code section's size is not a multiple of the instruction size.
    #[error("section {section}: size {size} is not a multiple of 8 (one instruction)")]
    CodeSizeNotMultipleOf8 {
        /// The section name.
        section: String,
        /// The section size.
        size: u64,
    },

    /// A program section holds no function symbol, so its program has no name.
    #[error("section {section}: no function symbol names a program in this section")]
    MissingProgramName {
        /// The section name.
        section: String,
    },

    /// Two programs or two maps have the same name.
    #[error("the {what} name {name} is defined twice (sections {first} and {second})")]
    DuplicateName {
        /// `"program"` or `"map"`.
        what: &'static str,
        /// The name.
        name: String,
        /// Section of the first definition.
        first: String,
        /// Section of the second definition.
        second: String,
    },

    /// A relocation entry's symbol index is past the end of the symbol table.
    #[error(
        "relocation section {section}, entry {entry}: symbol index {symbol_index} is out of range ({symbol_count} symbols)"
    )]
    RelocationSymbolOutOfRange {
        /// The relocation section.
        section: String,
        /// The entry index.
        entry: usize,
        /// `ELF64_R_SYM(r_info)`.
        symbol_index: usize,
        /// Number of symbols.
        symbol_count: usize,
    },

    /// A relocation's offset is outside its target section or not on an instruction boundary.
    #[error(
        "section {section}: relocation at offset {offset} ({section_size}-byte section): {reason}"
    )]
    BadRelocationOffset {
        /// The target (code) section.
        section: String,
        /// `r_offset`.
        offset: u64,
        /// The target section size.
        section_size: u64,
        /// What is wrong.
        reason: &'static str,
    },

    /// A relocation type other than R_BPF_64_64 and R_BPF_64_32 in a code section.
    #[error("section {section}, instruction {insn}: unsupported relocation type {r_type}")]
    UnsupportedRelocationType {
        /// The code section.
        section: String,
        /// Instruction index in the section.
        insn: usize,
        /// `ELF64_R_TYPE(r_info)`.
        r_type: u32,
    },

    /// A relocation is applied to an instruction of the wrong kind.
    #[error(
        "section {section}, instruction {insn}: {r_type_name} relocation on opcode {opcode:#04x}, which is not {expected}"
    )]
    RelocationOnWrongInstruction {
        /// The code section.
        section: String,
        /// Instruction index in the section.
        insn: usize,
        /// `"R_BPF_64_64"` or `"R_BPF_64_32"`.
        r_type_name: &'static str,
        /// The opcode found there.
        opcode: u8,
        /// What the relocation needs (`"the first slot of an lddw"`, `"a local call"`).
        expected: &'static str,
    },

    /// A relocation points at a symbol this loader cannot resolve.
    #[error("section {section}, instruction {insn}: cannot resolve symbol {symbol}: {reason}")]
    UnresolvedSymbol {
        /// The code section.
        section: String,
        /// Instruction index in the section.
        insn: usize,
        /// The symbol.
        symbol: String,
        /// Why.
        reason: String,
    },

    /// A call or jump leads outside the code it may reach.
    #[error("section {section}, instruction {insn}: {reason}")]
    BadControlFlow {
        /// The code section.
        section: String,
        /// Instruction index in the section.
        insn: usize,
        /// What is wrong.
        reason: String,
    },

    /// The `.BTF` section is malformed.
    #[error("section .BTF: {0}")]
    Btf(#[from] BtfError),

    /// The object defines maps in `.maps` but has no `.BTF` to describe them.
    #[error(
        "section .maps holds BTF-defined maps but the object has no .BTF section (compile with clang -g)"
    )]
    MissingBtf,

    /// A global variable's BTF description does not fit its section.
    #[error("section {section}: variable {variable}: {reason}")]
    BadVariable {
        /// The data section.
        section: String,
        /// The variable.
        variable: String,
        /// What is wrong.
        reason: String,
    },

    /// A map's definition is one tinybpf (or the kernel) refuses.
    #[error("map {map}: {problem}")]
    BadMap {
        /// The map name.
        map: String,
        /// What is wrong with its definition.
        problem: MapProblem,
    },

    /// A map of a type tinybpf cannot create.
    #[error("map {map}: map type {map_type} ({type_name}) is not supported by tinybpf: {reason}")]
    UnsupportedMapType {
        /// The map name.
        map: String,
        /// The `type` field.
        map_type: u32,
        /// Its bpftool name.
        type_name: &'static str,
        /// Why (see `tinybpf_maps::MapType::unsupported_reason`).
        reason: &'static str,
    },

    /// A map pinned by name whose type tinybpf cannot pin.
    #[error(
        "map {map}: a {type_name} map cannot be pinned (tinybpf pins array maps only); drop its pinning attribute or create the object's maps without a pin root"
    )]
    PinUnsupported {
        /// The map name.
        map: String,
        /// Its type's bpftool name.
        type_name: &'static str,
    },

    /// The map runtime refused to create a map or to set its initial contents.
    #[error("map {map}: {source}")]
    Map {
        /// The map name.
        map: String,
        /// The map runtime's error.
        source: tinybpf_maps::MapError,
    },

    /// A pinned map could not be created or opened.
    #[error("map {map}: {source}")]
    Pin {
        /// The map name.
        map: String,
        /// The pinning error.
        source: tinybpf_maps::PinError,
    },

    /// A map pinned by name exists with a different definition.
    #[error(
        "map {map}: the map pinned at {path} is {}, but the object declares {}; remove the pin file to start afresh, or pin into another directory",
        describe_def(.pinned), describe_def(.wanted)
    )]
    PinMismatch {
        /// The map name.
        map: String,
        /// The pin file.
        path: std::path::PathBuf,
        /// The pinned map's definition.
        pinned: tinybpf_maps::MapDef,
        /// The object's definition.
        wanted: tinybpf_maps::MapDef,
    },

    /// A map pinned because every map is (not by name) whose pin file
    /// already exists: only maps pinned by name reuse a pin.
    #[error(
        "map {map}: {path} already exists, and the map is not declared with __uint(pinning, LIBBPF_PIN_BY_NAME), so it is not reused; remove the file or pin into another directory"
    )]
    PinExists {
        /// The map name.
        map: String,
        /// The pin file.
        path: std::path::PathBuf,
    },

    /// A map whose name cannot be a pin file's name.
    #[error("map {map}: its name cannot be a pin file's name ({reason}); rename the map")]
    PinName {
        /// The map name.
        map: String,
        /// Why not.
        reason: &'static str,
    },

    /// No program of that name exists in the object.
    #[error("no program named {program} (programs: {available})")]
    NoSuchProgram {
        /// The name asked for.
        program: String,
        /// The programs that exist, comma-separated.
        available: String,
    },

    /// No map of that name exists in the object.
    #[error("no map named {map} (maps: {available})")]
    NoSuchMap {
        /// The name asked for.
        map: String,
        /// The maps that exist, comma-separated.
        available: String,
    },

    /// The VM rejected an instruction of a linked program.
    #[error(
        "section {section}, instruction {insn} (function {function}, in program {program}): {source}"
    )]
    InvalidInstruction {
        /// The program being loaded.
        program: String,
        /// The section of the instruction (the program's, or `.text` for a subprogram).
        section: String,
        /// The function holding the instruction.
        function: String,
        /// Index of the instruction in its section.
        insn: usize,
        /// What is wrong with it (boxed: it keeps `LoadError` small).
        source: Box<tinybpf_vm::InvalidInsn>,
    },

    /// The VM refused a map helper call: the kernel's verifier refuses the
    /// helper on the map's type (a lookup in a program array, say).
    #[error(
        "section {section}, instruction {insn} (function {function}, in program {program}): {refusal}"
    )]
    MapHelperRefused {
        /// The program being loaded.
        program: String,
        /// The section of the instruction.
        section: String,
        /// The function holding the instruction.
        function: String,
        /// Index of the instruction in its section.
        insn: usize,
        /// The helper and the map (boxed: it keeps `LoadError` small).
        refusal: Box<HelperRefusal>,
    },

    /// The VM refused the program as a whole (too long, too many maps, ...).
    #[error("program {program}: {source}")]
    Vm {
        /// The program being loaded.
        program: String,
        /// The VM's error.
        source: tinybpf_vm::VerifyError,
    },

    /// The `license` section is not a string.
    #[error("section license: {reason}")]
    BadLicense {
        /// What is wrong.
        reason: &'static str,
    },
}

/// A map helper called with a map whose type the kernel's verifier refuses
/// for it (see [`LoadErrorKind::MapHelperRefused`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "calls {helper} with map {map} ({type_name}), which the kernel's verifier refuses: programs may not {operation} a {type_name} map"
)]
pub struct HelperRefusal {
    /// The helper (`bpf_map_lookup_elem`, ...).
    pub helper: &'static str,
    /// The map's name.
    pub map: String,
    /// Its type's bpftool name.
    pub type_name: &'static str,
    /// What the helper would do (`look up elements of`, ...).
    pub operation: &'static str,
}
