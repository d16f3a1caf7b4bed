//! The loader's error type: every variant names the object file and the place
//! (section, symbol, instruction index or byte offset) where the problem is.

use thiserror::Error;

/// Why an object file could not be parsed, linked or loaded.
///
/// Every variant carries `object`, the file name given to
/// [`Object::parse`](crate::Object::parse), and the place of the problem, so
/// that its message is one sentence a person can act on.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{object}: cannot read the file: {source}")]
    Io {
        /// The object file.
        object: String,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The file is shorter than a structure it must contain.
    #[error("{object}: truncated: the {what} needs {needed} bytes but the file has {available}")]
    Truncated {
        /// The object file.
        object: String,
        /// The structure that does not fit.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },

    /// The file does not start with the ELF magic.
    #[error("{object}: not an ELF file (bad magic at offset 0)")]
    NotElf {
        /// The object file.
        object: String,
    },

    /// The ELF class is not 64-bit.
    #[error("{object}: ELF class {class} at offset 4 is not ELFCLASS64 (2)")]
    WrongClass {
        /// The object file.
        object: String,
        /// `e_ident[EI_CLASS]`.
        class: u8,
    },

    /// The ELF data encoding is not little-endian.
    #[error("{object}: ELF data encoding {encoding} at offset 5 is not little-endian (1)")]
    WrongEndianness {
        /// The object file.
        object: String,
        /// `e_ident[EI_DATA]`.
        encoding: u8,
    },

    /// The ELF file is not a relocatable object.
    #[error("{object}: ELF type {e_type} is not a relocatable object (ET_REL, 1)")]
    NotRelocatable {
        /// The object file.
        object: String,
        /// `e_type`.
        e_type: u16,
    },

    /// The ELF machine is not BPF.
    #[error("{object}: ELF machine {machine} is not BPF (247)")]
    WrongMachine {
        /// The object file.
        object: String,
        /// `e_machine`.
        machine: u16,
    },

    /// A structural field of the ELF header has a value this loader rejects.
    #[error("{object}: ELF header field {field} = {value}: {reason}")]
    BadHeader {
        /// The object file.
        object: String,
        /// The header field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// A table or section lies (partly) outside the file.
    #[error(
        "{object}: {what} at file offset {offset} with size {size} extends beyond the end of the file ({file_size} bytes)"
    )]
    OutOfFile {
        /// The object file.
        object: String,
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
    #[error("{object}: malformed ELF: {source}")]
    Elf {
        /// The object file.
        object: String,
        /// goblin's error.
        source: goblin::error::Error,
    },

    /// A section's name offset is not a valid string in the section name table.
    #[error(
        "{object}: section #{index}: name offset {name_offset} is not a string in the section name table"
    )]
    BadSectionName {
        /// The object file.
        object: String,
        /// The section index.
        index: usize,
        /// `sh_name`.
        name_offset: usize,
    },

    /// A section header field is inconsistent with its section's type.
    #[error("{object}: section {section}: {reason}")]
    BadSection {
        /// The object file.
        object: String,
        /// The section name.
        section: String,
        /// What is wrong.
        reason: String,
    },

    /// A symbol's name offset is not a valid string in the string table.
    #[error(
        "{object}: symbol #{index}: name offset {name_offset} is not a string in the symbol string table"
    )]
    BadSymbolName {
        /// The object file.
        object: String,
        /// The symbol index.
        index: usize,
        /// `st_name`.
        name_offset: usize,
    },

    /// A symbol's section index does not name a section.
    #[error(
        "{object}: symbol {symbol}: section index {section_index} is out of range ({section_count} sections)"
    )]
    SymbolSectionOutOfRange {
        /// The object file.
        object: String,
        /// The symbol name.
        symbol: String,
        /// `st_shndx`.
        section_index: usize,
        /// Number of sections.
        section_count: usize,
    },

    /// A function or map symbol does not lie inside its section.
    #[error(
        "{object}: section {section}: symbol {symbol} at offset {offset} with size {size} lies outside the section ({section_size} bytes)"
    )]
    SymbolOutOfSection {
        /// The object file.
        object: String,
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
    #[error(
        "{object}: section {section}: function {symbol} at offset {offset} with size {size}: {reason}"
    )]
    BadFunction {
        /// The object file.
        object: String,
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
    #[error("{object}: section {section}: size {size} is not a multiple of 8 (one instruction)")]
    CodeSizeNotMultipleOf8 {
        /// The object file.
        object: String,
        /// The section name.
        section: String,
        /// The section size.
        size: u64,
    },

    /// A program section holds no function symbol, so its program has no name.
    #[error("{object}: section {section}: no function symbol names a program in this section")]
    MissingProgramName {
        /// The object file.
        object: String,
        /// The section name.
        section: String,
    },

    /// Two programs or two maps have the same name.
    #[error("{object}: the {what} name {name} is defined twice (sections {first} and {second})")]
    DuplicateName {
        /// The object file.
        object: String,
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
        "{object}: relocation section {section}, entry {entry}: symbol index {symbol_index} is out of range ({symbol_count} symbols)"
    )]
    RelocationSymbolOutOfRange {
        /// The object file.
        object: String,
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
        "{object}: section {section}: relocation at offset {offset} ({section_size}-byte section): {reason}"
    )]
    BadRelocationOffset {
        /// The object file.
        object: String,
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
    #[error(
        "{object}: section {section}, instruction {insn}: unsupported relocation type {r_type}"
    )]
    UnsupportedRelocationType {
        /// The object file.
        object: String,
        /// The code section.
        section: String,
        /// Instruction index in the section.
        insn: usize,
        /// `ELF64_R_TYPE(r_info)`.
        r_type: u32,
    },

    /// A relocation is applied to an instruction of the wrong kind.
    #[error(
        "{object}: section {section}, instruction {insn}: {r_type_name} relocation on opcode {opcode:#04x}, which is not {expected}"
    )]
    RelocationOnWrongInstruction {
        /// The object file.
        object: String,
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

    /// Relocations against allocated data sections (pointers in initialised data) are not supported.
    #[error(
        "{object}: relocation section {section}: relocations of the data section {target} are not supported"
    )]
    UnsupportedDataRelocation {
        /// The object file.
        object: String,
        /// The relocation section.
        section: String,
        /// The section it relocates.
        target: String,
    },

    /// A relocation points at a symbol this loader cannot resolve.
    #[error(
        "{object}: section {section}, instruction {insn}: cannot resolve symbol {symbol}: {reason}"
    )]
    UnresolvedSymbol {
        /// The object file.
        object: String,
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
    #[error("{object}: section {section}, instruction {insn}: {reason}")]
    BadControlFlow {
        /// The object file.
        object: String,
        /// The code section.
        section: String,
        /// Instruction index in the section.
        insn: usize,
        /// What is wrong.
        reason: String,
    },

    /// A legacy map definition is shorter than `struct bpf_map_def` (20 bytes).
    #[error(
        "{object}: section maps: map {map} is {size} bytes, shorter than struct bpf_map_def (20 bytes)"
    )]
    MapDefinitionTooShort {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// `st_size`.
        size: u64,
    },

    /// A map type other than BPF_MAP_TYPE_ARRAY.
    #[error(
        "{object}: map {map}: map type {map_type} is not supported (only BPF_MAP_TYPE_ARRAY, 2)"
    )]
    UnsupportedMapType {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// The `type` field.
        map_type: u32,
    },

    /// The map runtime rejected a map's definition or an operation on it.
    #[error("{object}: map {map}: {source}")]
    Map {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// The map runtime's error.
        source: tinybpf_maps::MapError,
    },

    /// No program of that name exists in the object.
    #[error("{object}: no program named {program} (programs: {available})")]
    NoSuchProgram {
        /// The object file.
        object: String,
        /// The name asked for.
        program: String,
        /// The programs that exist, comma-separated.
        available: String,
    },

    /// The VM rejected an instruction of a linked program.
    #[error(
        "{object}: section {section}, instruction {insn} (function {function}, in program {program}): {source}"
    )]
    InvalidInstruction {
        /// The object file.
        object: String,
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

    /// The VM refused the program as a whole (too long, too many maps, ...).
    #[error("{object}: program {program}: {source}")]
    Vm {
        /// The object file.
        object: String,
        /// The program being loaded.
        program: String,
        /// The VM's error.
        source: tinybpf_vm::VerifyError,
    },

    /// The `license` section is not a string.
    #[error("{object}: section license: {reason}")]
    BadLicense {
        /// The object file.
        object: String,
        /// What is wrong.
        reason: &'static str,
    },
}
