//! A checked, owned view of a BPF relocatable ELF file.
//!
//! goblin does the decoding; this module checks what goblin leaves to its
//! callers (that every section lies inside the file, that the symbol table's
//! entry size is the one it assumed, that symbol section indices are in
//! range) and keeps plain owned tables: sections, symbols, and relocation
//! tables. A relocation table's own checks (its kind, entry size, symbol
//! table link) and its entries' checks (symbol index, offset) are made by
//! [`RelocationTable::check`] and [`RelocationTable::entry`] when the linker
//! needs the section it relocates, so a broken table of a section no chosen
//! program reaches stops nothing.

mod header;

use std::ops::Range;

use goblin::elf::Elf;
use goblin::elf::section_header::{
    SHF_ALLOC, SHF_EXECINSTR, SHN_LORESERVE, SHN_UNDEF, SHT_NOBITS, SHT_NULL, SHT_PROGBITS,
    SHT_RELA, SHT_SYMTAB,
};
use goblin::elf::sym::STT_SECTION;

use crate::error::LoadErrorKind;

/// Size of one ELF64 symbol.
const SYM_SIZE: u64 = 24;
/// Size of one ELF64 `Rel` entry.
const REL_SIZE: u64 = 16;

/// One section, with the range of its bytes when it has any in the file.
#[derive(Debug)]
pub(crate) struct Section {
    /// Name from the section name table.
    pub name: String,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_size` (for `SHT_NOBITS`, the size in memory).
    pub size: u64,
    /// The file range of its bytes; `None` for `SHT_NOBITS` and `SHT_NULL`.
    pub range: Option<Range<usize>>,
}

impl Section {
    /// An executable `PROGBITS` section: program code or `.text` subprograms.
    pub fn is_code(&self) -> bool {
        self.sh_type == SHT_PROGBITS && self.flags & u64::from(SHF_EXECINSTR) != 0
    }

    /// Whether the section occupies memory when loaded.
    pub fn is_alloc(&self) -> bool {
        self.flags & u64::from(SHF_ALLOC) != 0
    }
}

/// Where a symbol is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SymbolPlace {
    /// `SHN_UNDEF`: an external reference.
    Undefined,
    /// A reserved index (`SHN_ABS`, `SHN_COMMON`, ...).
    Special(usize),
    /// A regular section index, checked to be in range.
    Section(usize),
}

/// One symbol with its resolved name.
#[derive(Debug)]
pub(crate) struct Symbol {
    /// Name from the symbol string table (a section symbol: its section's name).
    pub name: String,
    /// `st_value`: the offset in its section.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `ELF64_ST_TYPE(st_info)`.
    pub sym_type: u8,
    /// Where it is defined.
    pub place: SymbolPlace,
}

/// One relocation entry, as in the file (unchecked).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRelocation {
    /// `r_offset`.
    pub offset: u64,
    /// `ELF64_R_SYM(r_info)`.
    pub symbol: usize,
    /// `ELF64_R_TYPE(r_info)`.
    pub r_type: u32,
}

/// One relocation entry, checked: its symbol exists and its offset is an
/// instruction boundary inside the target section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Relocation {
    /// `r_offset`.
    pub offset: u64,
    /// Symbol index, in range.
    pub symbol: usize,
    /// `ELF64_R_TYPE(r_info)`.
    pub r_type: u32,
}

/// A relocation section and the section it applies to.
#[derive(Debug)]
pub(crate) struct RelocationTable {
    /// The relocation section's name (`.relxdp`, `.rel.maps`, ...).
    pub name: String,
    /// The section the entries apply to.
    pub target: usize,
    sh_type: u32,
    entsize: u64,
    size: u64,
    links_symtab: bool,
    /// The entries, in file order.
    pub entries: Vec<RawRelocation>,
}

impl RelocationTable {
    /// Checks the table itself: REL (not RELA), 16-byte entries, linked to the symbol table.
    pub fn check(&self) -> Result<(), LoadErrorKind> {
        let bad = |reason: String| LoadErrorKind::BadSection {
            section: self.name.clone(),
            reason,
        };
        if self.sh_type == SHT_RELA {
            return Err(bad(
                "RELA relocations are not supported (clang emits REL)".to_owned()
            ));
        }
        if self.entsize != REL_SIZE || !self.size.is_multiple_of(REL_SIZE) {
            return Err(bad(format!(
                "entry size {} or size {} does not fit 16-byte ELF64 Rel entries",
                self.entsize, self.size
            )));
        }
        if !self.links_symtab {
            return Err(bad("its linked section is not the symbol table".to_owned()));
        }
        Ok(())
    }

    /// Entry `entry`, checked against the symbol table and its target section
    /// (`target_name`, `target_size` bytes), whose unit is `align` bytes.
    pub fn entry(
        &self,
        entry: usize,
        symbol_count: usize,
        target_name: &str,
        target_size: u64,
        align: u64,
    ) -> Result<Relocation, LoadErrorKind> {
        let raw = self.entries[entry];
        if raw.symbol >= symbol_count {
            return Err(LoadErrorKind::RelocationSymbolOutOfRange {
                section: self.name.clone(),
                entry,
                symbol_index: raw.symbol,
                symbol_count,
            });
        }
        let bad_offset = |reason| LoadErrorKind::BadRelocationOffset {
            section: target_name.to_owned(),
            offset: raw.offset,
            section_size: target_size,
            reason,
        };
        if !raw.offset.is_multiple_of(align) {
            return Err(bad_offset(if align == 8 {
                "not on an instruction boundary (multiple of 8)"
            } else {
                "not aligned"
            }));
        }
        if raw
            .offset
            .checked_add(align)
            .is_none_or(|end| end > target_size)
        {
            return Err(bad_offset("beyond the end of the section"));
        }
        Ok(Relocation {
            offset: raw.offset,
            symbol: raw.symbol,
            r_type: raw.r_type,
        })
    }
}

/// A parsed and range-checked BPF relocatable object.
#[derive(Debug)]
pub(crate) struct ElfFile {
    /// Every section, in header order (index 0 is the null section).
    pub sections: Vec<Section>,
    /// Every symbol, in table order (index 0 is the null symbol).
    pub symbols: Vec<Symbol>,
    /// Relocation tables of allocated sections (code, `.maps`, data); those
    /// of debug and BTF sections are dropped.
    pub relocations: Vec<RelocationTable>,
}

impl ElfFile {
    /// Checks the header, parses with goblin and validates every range.
    pub fn parse(bytes: &[u8]) -> Result<ElfFile, LoadErrorKind> {
        header::check_header(bytes)?;
        header::check_section_ranges(bytes)?;
        let elf = Elf::parse(bytes).map_err(LoadErrorKind::Elf)?;
        let sections = collect_sections(bytes, &elf)?;
        let symbols = collect_symbols(&elf, &sections)?;
        let relocations = collect_relocations(&elf, &sections);
        Ok(ElfFile {
            sections,
            symbols,
            relocations,
        })
    }

    /// The bytes of section `index` in `file` (`None` for `NOBITS` or no such section).
    pub fn data<'f>(&self, file: &'f [u8], index: usize) -> Option<&'f [u8]> {
        file.get(self.sections.get(index)?.range.clone()?)
    }

    /// The index of the section called `name`, when exactly one has that name.
    pub fn section_named(&self, name: &str) -> Result<Option<usize>, LoadErrorKind> {
        let mut found = self
            .sections
            .iter()
            .enumerate()
            .filter(|(_, s)| s.name == name);
        let first = found.next().map(|(i, _)| i);
        if let (Some(first), Some((second, _))) = (first, found.next()) {
            return Err(LoadErrorKind::BadSection {
                section: name.to_owned(),
                reason: format!("defined twice (sections #{first} and #{second})"),
            });
        }
        Ok(first)
    }
}

fn collect_sections(bytes: &[u8], elf: &Elf<'_>) -> Result<Vec<Section>, LoadErrorKind> {
    let file_size = bytes.len() as u64;
    let mut sections = Vec::with_capacity(elf.section_headers.len());
    let mut symtab_seen = false;
    for (index, header) in elf.section_headers.iter().enumerate() {
        let name = elf
            .shdr_strtab
            .get_at(header.sh_name)
            .ok_or(LoadErrorKind::BadSectionName {
                index,
                name_offset: header.sh_name,
            })?;
        let range = if header.sh_type == SHT_NOBITS || header.sh_type == SHT_NULL {
            None
        } else {
            let range = header
                .sh_offset
                .checked_add(header.sh_size)
                .filter(|&end| end <= file_size)
                .and_then(|end| {
                    Some(usize::try_from(header.sh_offset).ok()?..usize::try_from(end).ok()?)
                })
                .ok_or_else(|| LoadErrorKind::OutOfFile {
                    what: format!("section {name}"),
                    offset: header.sh_offset,
                    size: header.sh_size,
                    file_size,
                })?;
            Some(range)
        };
        if header.sh_type == SHT_SYMTAB {
            let bad = |reason| LoadErrorKind::BadSection {
                section: name.to_owned(),
                reason,
            };
            if symtab_seen {
                return Err(bad("a second symbol table".to_owned()));
            }
            symtab_seen = true;
            if header.sh_entsize != SYM_SIZE || header.sh_size % SYM_SIZE != 0 {
                return Err(bad(format!(
                    "symbol table entry size {} or size {} does not fit 24-byte ELF64 symbols",
                    header.sh_entsize, header.sh_size
                )));
            }
        }
        sections.push(Section {
            name: name.to_owned(),
            sh_type: header.sh_type,
            flags: header.sh_flags,
            size: header.sh_size,
            range,
        });
    }
    Ok(sections)
}

fn collect_symbols(elf: &Elf<'_>, sections: &[Section]) -> Result<Vec<Symbol>, LoadErrorKind> {
    let mut symbols = Vec::with_capacity(elf.syms.len());
    for (index, sym) in elf.syms.iter().enumerate() {
        let name = elf
            .strtab
            .get_at(sym.st_name)
            .ok_or(LoadErrorKind::BadSymbolName {
                index,
                name_offset: sym.st_name,
            })?;
        let place = if sym.st_shndx == SHN_UNDEF as usize {
            SymbolPlace::Undefined
        } else if sym.st_shndx >= SHN_LORESERVE as usize {
            SymbolPlace::Special(sym.st_shndx)
        } else if sym.st_shndx < sections.len() {
            SymbolPlace::Section(sym.st_shndx)
        } else {
            return Err(LoadErrorKind::SymbolSectionOutOfRange {
                symbol: display_symbol(name, index),
                section_index: sym.st_shndx,
                section_count: sections.len(),
            });
        };
        // Section symbols have no name of their own: give them their section's.
        let name = match place {
            SymbolPlace::Section(index) if name.is_empty() && sym.st_type() == STT_SECTION => {
                sections[index].name.as_str()
            }
            _ => name,
        };
        symbols.push(Symbol {
            name: name.to_owned(),
            value: sym.st_value,
            size: sym.st_size,
            sym_type: sym.st_type(),
            place,
        });
    }
    Ok(symbols)
}

/// A symbol's name for messages: its name, or `#index` when it has none.
pub(crate) fn display_symbol(name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("#{index}")
    } else {
        name.to_owned()
    }
}

/// The relocation tables of allocated sections, unchecked; a table whose
/// target index is out of range is kept with an out-of-range target, which
/// no section lookup matches.
fn collect_relocations(elf: &Elf<'_>, sections: &[Section]) -> Vec<RelocationTable> {
    let symtab_index = sections.iter().position(|s| s.sh_type == SHT_SYMTAB);
    let mut tables = Vec::new();
    for (rel_index, relocs) in &elf.shdr_relocs {
        let (Some(rel_section), Some(header)) = (
            sections.get(*rel_index),
            elf.section_headers.get(*rel_index),
        ) else {
            continue;
        };
        let target = header.sh_info as usize;
        // Debug information and BTF: not needed to run the code.
        if sections.get(target).is_some_and(|t| !t.is_alloc()) {
            continue;
        }
        tables.push(RelocationTable {
            name: rel_section.name.clone(),
            target,
            sh_type: header.sh_type,
            entsize: header.sh_entsize,
            size: header.sh_size,
            links_symtab: Some(header.sh_link as usize) == symtab_index,
            entries: relocs
                .iter()
                .map(|r| RawRelocation {
                    offset: r.r_offset,
                    symbol: r.r_sym,
                    r_type: r.r_type,
                })
                .collect(),
        });
    }
    tables
}
