//! The part of an object that linking needs, gathered once when the object
//! is opened: the file's bytes, each code section's function symbols
//! (checked, sorted) and relocation entries (sorted by offset), and where
//! map and global-data symbols point. Everything here is built in one pass
//! over the sections, symbols and relocations (plus sorting), so opening is
//! linear in the file's size; nothing is linked until a program is asked for.

use std::collections::HashMap;

use goblin::elf::sym::STT_FUNC;
use tinybpf_vm::ProgramKind;

use crate::elf::{ElfFile, SymbolPlace};
use crate::error::LoadErrorKind;
use crate::object::ObjectProgram;
use crate::program_type::ProgramType;

/// The section of BPF-to-BPF subprograms.
pub(crate) const TEXT_SECTION: &str = ".text";

/// A function symbol: a program, or a `.text` subprogram.
#[derive(Debug)]
pub(crate) struct Function {
    /// Index of its symbol.
    pub symbol: usize,
    /// First instruction, as an index in its section.
    pub start: usize,
    /// Number of instruction slots.
    pub len: usize,
}

/// One relocation entry of a code section: (offset, table, entry in the table).
pub(crate) type RelocationRef = (u64, usize, usize);

/// An executable section.
#[derive(Debug)]
pub(crate) struct CodeSection {
    /// Its ELF section index.
    pub elf_index: usize,
    /// Its functions, sorted by `start`, non-overlapping.
    pub functions: Vec<Function>,
    /// Indices of the relocation tables that apply to it.
    pub tables: Vec<usize>,
    /// Its relocation entries, sorted by offset (unchecked until linked).
    pub relocations: Vec<RelocationRef>,
}

/// What linking needs of an object.
#[derive(Debug)]
pub(crate) struct Image {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// Its sections, symbols and relocation tables.
    pub elf: ElfFile,
    /// Its executable sections, in section order.
    pub code: Vec<CodeSection>,
    /// Position of `.text` in `code`.
    pub text: Option<usize>,
    /// (ELF section, offset) of each map definition (`maps`, `.maps`) -> map index.
    pub map_offsets: HashMap<(usize, u64), usize>,
    /// ELF section of each global data section -> map index.
    pub data_maps: HashMap<usize, usize>,
}

impl Image {
    /// Gathers the code sections and lists the programs.
    pub fn new(
        bytes: Vec<u8>,
        elf: ElfFile,
        map_offsets: HashMap<(usize, u64), usize>,
        data_maps: HashMap<usize, usize>,
    ) -> Result<(Image, Vec<ObjectProgram>), LoadErrorKind> {
        let mut code_of_section: Vec<Option<usize>> = vec![None; elf.sections.len()];
        let mut code = Vec::new();
        let mut text = None;
        for (index, section) in elf.sections.iter().enumerate() {
            if !section.is_code() {
                continue;
            }
            if section.name == TEXT_SECTION {
                if text.is_some() {
                    return Err(LoadErrorKind::BadSection {
                        section: TEXT_SECTION.to_owned(),
                        reason: "defined twice".to_owned(),
                    });
                }
                text = Some(code.len());
            }
            code_of_section[index] = Some(code.len());
            code.push(CodeSection {
                elf_index: index,
                functions: Vec::new(),
                tables: Vec::new(),
                relocations: Vec::new(),
            });
        }
        for (symbol, sym) in elf.symbols.iter().enumerate() {
            if let (STT_FUNC, SymbolPlace::Section(section)) = (sym.sym_type, sym.place)
                && let Some(position) = code_of_section[section]
            {
                code[position].functions.push(Function {
                    symbol,
                    start: 0,
                    len: 0,
                });
            }
        }
        for (table_index, table) in elf.relocations.iter().enumerate() {
            let Some(position) = code_of_section.get(table.target).copied().flatten() else {
                continue;
            };
            let section = &mut code[position];
            section.tables.push(table_index);
            section.relocations.extend(
                (0..table.entries.len())
                    .map(|entry| (table.entries[entry].offset, table_index, entry)),
            );
        }
        for section in &mut code {
            check_functions(&elf, section)?;
            section.relocations.sort_unstable();
        }
        let image = Image {
            bytes,
            elf,
            code,
            text,
            map_offsets,
            data_maps,
        };
        let programs = image.programs()?;
        Ok((image, programs))
    }

    /// The name of code section `position`.
    pub fn section_name(&self, position: usize) -> &str {
        &self.elf.sections[self.code[position].elf_index].name
    }

    /// The name of function `function` of code section `position`.
    pub fn function_name(&self, position: usize, function: usize) -> &str {
        &self.elf.symbols[self.code[position].functions[function].symbol].name
    }

    /// Every function of every code section but `.text`, each name once.
    fn programs(&self) -> Result<Vec<ObjectProgram>, LoadErrorKind> {
        let mut programs: Vec<ObjectProgram> = Vec::new();
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (position, section) in self.code.iter().enumerate() {
            if Some(position) == self.text {
                continue;
            }
            let section_name = self.section_name(position);
            let elf_section = &self.elf.sections[section.elf_index];
            if section.functions.is_empty() && elf_section.size != 0 {
                return Err(LoadErrorKind::MissingProgramName {
                    section: section_name.to_owned(),
                });
            }
            for function in 0..section.functions.len() {
                let name = self.function_name(position, function);
                if let Some(&first) = by_name.get(name) {
                    return Err(LoadErrorKind::DuplicateName {
                        what: "program",
                        name: name.to_owned(),
                        first: programs[first].section.clone(),
                        second: section_name.to_owned(),
                    });
                }
                by_name.insert(name, programs.len());
                programs.push(ObjectProgram {
                    name: name.to_owned(),
                    section: section_name.to_owned(),
                    program_type: ProgramType::from_section(section_name),
                    kind: ProgramType::from_section(section_name)
                        .runs_as()
                        .unwrap_or(ProgramKind::Memory),
                    code_section: position,
                    function,
                });
            }
        }
        Ok(programs)
    }
}

/// Sorts a code section's function symbols and checks that they are whole,
/// non-empty, non-overlapping runs of instructions inside it.
fn check_functions(elf: &ElfFile, section: &mut CodeSection) -> Result<(), LoadErrorKind> {
    let header = &elf.sections[section.elf_index];
    section
        .functions
        .sort_unstable_by_key(|f| (elf.symbols[f.symbol].value, f.symbol));
    let mut previous_end = 0;
    for function in &mut section.functions {
        let sym = &elf.symbols[function.symbol];
        let bad = |reason| LoadErrorKind::BadFunction {
            section: header.name.clone(),
            symbol: sym.name.clone(),
            offset: sym.value,
            size: sym.size,
            reason,
        };
        if sym
            .value
            .checked_add(sym.size)
            .is_none_or(|end| end > header.size)
        {
            return Err(LoadErrorKind::SymbolOutOfSection {
                section: header.name.clone(),
                symbol: sym.name.clone(),
                offset: sym.value,
                size: sym.size,
                section_size: header.size,
            });
        }
        if !sym.value.is_multiple_of(8) || !sym.size.is_multiple_of(8) {
            return Err(bad("not a whole number of 8-byte instructions"));
        }
        if sym.size == 0 {
            return Err(bad("the function is empty"));
        }
        // Both fit in usize: they are at most the section size, whose bytes are in memory.
        let start = usize::try_from(sym.value / 8).map_err(|_| bad("offset too large"))?;
        let len = usize::try_from(sym.size / 8).map_err(|_| bad("size too large"))?;
        if previous_end > start {
            return Err(bad("overlaps the previous function"));
        }
        previous_end = start + len;
        function.start = start;
        function.len = len;
    }
    Ok(())
}
