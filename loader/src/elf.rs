//! A checked view of a BPF relocatable ELF file.
//!
//! goblin does the decoding; this module checks what goblin leaves to its
//! callers (that every section lies inside the file, that table entry sizes
//! are the ones it assumed, that symbol and relocation indices are in range)
//! and turns the result into plain structures whose every offset has been
//! validated, so the linker never indexes bytes it has not checked.

use goblin::elf::Elf;
use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFMAG, ET_REL, SELFMAG};
use goblin::elf::section_header::{
    SHF_ALLOC, SHF_EXECINSTR, SHN_LORESERVE, SHN_UNDEF, SHT_NOBITS, SHT_NULL, SHT_PROGBITS,
    SHT_RELA, SHT_SYMTAB,
};
use goblin::elf::sym::STT_SECTION;

use crate::error::LoadError;

/// `EM_BPF`.
pub(crate) const EM_BPF: u16 = 247;
/// Size of the ELF64 file header.
const EHDR_SIZE: u64 = 64;
/// Size of one ELF64 section header.
const SHDR_SIZE: u64 = 64;
/// Size of one ELF64 symbol.
const SYM_SIZE: u64 = 24;
/// Size of one ELF64 `Rel` entry.
const REL_SIZE: u64 = 16;

/// One section, with its bytes when it has any in the file.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    /// Index in the section header table.
    pub index: usize,
    /// Name from the section name table.
    pub name: &'a str,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_size` (for `SHT_NOBITS`, the size in memory).
    pub size: u64,
    /// The section's bytes; `None` for `SHT_NOBITS` and `SHT_NULL`.
    pub data: Option<&'a [u8]>,
}

impl Section<'_> {
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
pub(crate) struct Symbol<'a> {
    /// Name from the symbol string table.
    pub name: &'a str,
    /// `st_value`: the offset in its section.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `ELF64_ST_TYPE(st_info)`.
    pub sym_type: u8,
    /// Where it is defined.
    pub place: SymbolPlace,
}

/// One relocation entry of a code section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Relocation {
    /// `r_offset`: byte offset in the target section, checked to be
    /// 8-aligned and to leave room for one instruction.
    pub offset: u64,
    /// Symbol index, checked to be in range.
    pub symbol: usize,
    /// `ELF64_R_TYPE(r_info)`.
    pub r_type: u32,
}

/// The relocations of one code section.
#[derive(Debug)]
pub(crate) struct RelocationTable {
    /// The section the entries apply to.
    pub target: usize,
    /// The entries, in file order.
    pub entries: Vec<Relocation>,
}

/// A parsed and range-checked BPF relocatable object.
#[derive(Debug)]
pub(crate) struct ElfFile<'a> {
    /// Every section, in header order (index 0 is the null section).
    pub sections: Vec<Section<'a>>,
    /// Every symbol, in table order (index 0 is the null symbol).
    pub symbols: Vec<Symbol<'a>>,
    /// Relocations of code sections; those of debug and BTF sections are dropped.
    pub relocations: Vec<RelocationTable>,
}

impl<'a> ElfFile<'a> {
    /// Checks the header, parses with goblin and validates every range.
    pub fn parse(object: &str, bytes: &'a [u8]) -> Result<ElfFile<'a>, LoadError> {
        check_header(object, bytes)?;
        check_section_ranges(object, bytes)?;
        let elf = Elf::parse(bytes).map_err(|source| LoadError::Elf {
            object: object.to_owned(),
            source,
        })?;
        let sections = collect_sections(object, bytes, &elf)?;
        let symbols = collect_symbols(object, &elf, &sections)?;
        let relocations = collect_relocations(object, &elf, &sections, symbols.len())?;
        Ok(ElfFile {
            sections,
            symbols,
            relocations,
        })
    }

    /// The section at `index`, if there is one.
    pub fn section(&self, index: usize) -> Option<&Section<'a>> {
        self.sections.get(index)
    }
}

fn header_u16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
        _ => 0,
    }
}

fn header_u64(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    if let Some(slice) = bytes.get(at..at + 8) {
        raw.copy_from_slice(slice);
    }
    u64::from_le_bytes(raw)
}

/// Checks the identification and the fixed header fields before goblin sees
/// the file, so that each kind of wrong file gets its own error.
fn check_header(object: &str, bytes: &[u8]) -> Result<(), LoadError> {
    let file_size = bytes.len() as u64;
    if bytes.get(..SELFMAG) != Some(&ELFMAG[..]) {
        return Err(if bytes.len() < SELFMAG && ELFMAG.starts_with(bytes) {
            LoadError::Truncated {
                object: object.to_owned(),
                what: "ELF identification",
                needed: SELFMAG as u64,
                available: file_size,
            }
        } else {
            LoadError::NotElf {
                object: object.to_owned(),
            }
        });
    }
    if file_size < EHDR_SIZE {
        return Err(LoadError::Truncated {
            object: object.to_owned(),
            what: "ELF header",
            needed: EHDR_SIZE,
            available: file_size,
        });
    }
    let class = bytes[EI_CLASS];
    if class != ELFCLASS64 {
        return Err(LoadError::WrongClass {
            object: object.to_owned(),
            class,
        });
    }
    let encoding = bytes[EI_DATA];
    if encoding != ELFDATA2LSB {
        return Err(LoadError::WrongEndianness {
            object: object.to_owned(),
            encoding,
        });
    }
    let e_type = header_u16(bytes, 16);
    if e_type != ET_REL {
        return Err(LoadError::NotRelocatable {
            object: object.to_owned(),
            e_type,
        });
    }
    let machine = header_u16(bytes, 18);
    if machine != EM_BPF {
        return Err(LoadError::WrongMachine {
            object: object.to_owned(),
            machine,
        });
    }
    let bad = |field, value: u64, reason| LoadError::BadHeader {
        object: object.to_owned(),
        field,
        value,
        reason,
    };
    let phnum = header_u16(bytes, 56);
    if phnum != 0 {
        return Err(bad(
            "e_phnum",
            phnum.into(),
            "a relocatable object has no program headers",
        ));
    }
    let shoff = header_u64(bytes, 40);
    let shentsize = header_u16(bytes, 58);
    let shnum = header_u16(bytes, 60);
    let shstrndx = header_u16(bytes, 62);
    if shnum == 0 {
        return Err(bad(
            "e_shnum",
            0,
            "the object has no section header table (extended numbering is not supported)",
        ));
    }
    if u64::from(shentsize) != SHDR_SIZE {
        return Err(bad(
            "e_shentsize",
            shentsize.into(),
            "an ELF64 section header is 64 bytes",
        ));
    }
    let table_size = u64::from(shnum) * SHDR_SIZE;
    if shoff
        .checked_add(table_size)
        .is_none_or(|end| end > file_size)
    {
        return Err(LoadError::OutOfFile {
            object: object.to_owned(),
            what: "the section header table".to_owned(),
            offset: shoff,
            size: table_size,
            file_size,
        });
    }
    if shstrndx >= shnum {
        return Err(bad(
            "e_shstrndx",
            shstrndx.into(),
            "the section name table index is past the section header table",
        ));
    }
    Ok(())
}

/// Reads field `at` of section header `index` (the table is known to be in the file).
fn shdr_field(bytes: &[u8], index: usize, at: usize, width: usize) -> u64 {
    let start = usize::try_from(header_u64(bytes, 40))
        .ok()
        .and_then(|shoff| shoff.checked_add(index.checked_mul(SHDR_SIZE as usize)?))
        .and_then(|entry| entry.checked_add(at));
    let mut raw = [0u8; 8];
    let source = start.and_then(|start| bytes.get(start..start.checked_add(width)?));
    if let (Some(dst), Some(src)) = (raw.get_mut(..width), source) {
        dst.copy_from_slice(src);
    }
    u64::from_le_bytes(raw)
}

/// A section's name read straight from the file, for messages about
/// sections goblin would refuse before naming them.
fn raw_section_name(bytes: &[u8], index: usize) -> String {
    let shstrndx = usize::from(header_u16(bytes, 62));
    let table_start = shdr_field(bytes, shstrndx, 24, 8);
    let table_size = shdr_field(bytes, shstrndx, 32, 8);
    let name_offset = shdr_field(bytes, index, 0, 4);
    let table = table_start
        .checked_add(table_size)
        .and_then(|end| bytes.get(usize::try_from(table_start).ok()?..usize::try_from(end).ok()?));
    let name = table
        .and_then(|table| table.get(usize::try_from(name_offset).ok()?..))
        .and_then(|rest| rest.split(|&b| b == 0).next())
        .and_then(|raw| std::str::from_utf8(raw).ok());
    match name {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => format!("#{index}"),
    }
}

/// Checks that every section with file contents lies inside the file, by
/// reading the (already bounds-checked) section header table directly.
fn check_section_ranges(object: &str, bytes: &[u8]) -> Result<(), LoadError> {
    let file_size = bytes.len() as u64;
    let shnum = usize::from(header_u16(bytes, 60));
    for index in 0..shnum {
        let sh_type = u32::try_from(shdr_field(bytes, index, 4, 4)).unwrap_or(u32::MAX);
        if sh_type == SHT_NOBITS || sh_type == SHT_NULL {
            continue;
        }
        let offset = shdr_field(bytes, index, 24, 8);
        let size = shdr_field(bytes, index, 32, 8);
        if offset.checked_add(size).is_none_or(|end| end > file_size) {
            return Err(LoadError::OutOfFile {
                object: object.to_owned(),
                what: format!("section {}", raw_section_name(bytes, index)),
                offset,
                size,
                file_size,
            });
        }
    }
    Ok(())
}

fn collect_sections<'a>(
    object: &str,
    bytes: &'a [u8],
    elf: &Elf<'a>,
) -> Result<Vec<Section<'a>>, LoadError> {
    let file_size = bytes.len() as u64;
    let mut sections = Vec::with_capacity(elf.section_headers.len());
    let mut symtab_seen = false;
    for (index, header) in elf.section_headers.iter().enumerate() {
        let name =
            elf.shdr_strtab
                .get_at(header.sh_name)
                .ok_or_else(|| LoadError::BadSectionName {
                    object: object.to_owned(),
                    index,
                    name_offset: header.sh_name,
                })?;
        let data = if header.sh_type == SHT_NOBITS || header.sh_type == SHT_NULL {
            None
        } else {
            let range = header
                .sh_offset
                .checked_add(header.sh_size)
                .filter(|&end| end <= file_size)
                .and_then(|end| {
                    Some(usize::try_from(header.sh_offset).ok()?..usize::try_from(end).ok()?)
                })
                .ok_or_else(|| LoadError::OutOfFile {
                    object: object.to_owned(),
                    what: format!("section {name}"),
                    offset: header.sh_offset,
                    size: header.sh_size,
                    file_size,
                })?;
            bytes.get(range)
        };
        if header.sh_type == SHT_SYMTAB {
            if symtab_seen {
                return Err(bad_section(
                    object,
                    name,
                    "a second symbol table".to_owned(),
                ));
            }
            symtab_seen = true;
            if header.sh_entsize != SYM_SIZE || header.sh_size % SYM_SIZE != 0 {
                return Err(bad_section(
                    object,
                    name,
                    format!(
                        "symbol table entry size {} or size {} does not fit 24-byte ELF64 symbols",
                        header.sh_entsize, header.sh_size
                    ),
                ));
            }
        }
        sections.push(Section {
            index,
            name,
            sh_type: header.sh_type,
            flags: header.sh_flags,
            size: header.sh_size,
            data,
        });
    }
    Ok(sections)
}

fn bad_section(object: &str, section: &str, reason: String) -> LoadError {
    LoadError::BadSection {
        object: object.to_owned(),
        section: section.to_owned(),
        reason,
    }
}

fn collect_symbols<'a>(
    object: &str,
    elf: &Elf<'a>,
    sections: &[Section<'a>],
) -> Result<Vec<Symbol<'a>>, LoadError> {
    let mut symbols = Vec::with_capacity(elf.syms.len());
    for (index, sym) in elf.syms.iter().enumerate() {
        let name = elf
            .strtab
            .get_at(sym.st_name)
            .ok_or_else(|| LoadError::BadSymbolName {
                object: object.to_owned(),
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
            return Err(LoadError::SymbolSectionOutOfRange {
                object: object.to_owned(),
                symbol: display_symbol(name, index),
                section_index: sym.st_shndx,
                section_count: sections.len(),
            });
        };
        // Section symbols have no name of their own: give them their section's.
        let name = match place {
            SymbolPlace::Section(index) if name.is_empty() && sym.st_type() == STT_SECTION => {
                sections[index].name
            }
            _ => name,
        };
        symbols.push(Symbol {
            name,
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

fn collect_relocations(
    object: &str,
    elf: &Elf<'_>,
    sections: &[Section<'_>],
    symbol_count: usize,
) -> Result<Vec<RelocationTable>, LoadError> {
    let symtab_index = sections.iter().position(|s| s.sh_type == SHT_SYMTAB);
    let mut tables = Vec::new();
    for (rel_index, relocs) in &elf.shdr_relocs {
        let (Some(rel_section), Some(header)) = (
            sections.get(*rel_index),
            elf.section_headers.get(*rel_index),
        ) else {
            continue;
        };
        let target_index = header.sh_info as usize;
        let target = sections.get(target_index).ok_or_else(|| {
            bad_section(
                object,
                rel_section.name,
                format!(
                    "relocated section index {target_index} is out of range ({} sections)",
                    sections.len()
                ),
            )
        })?;
        if !target.is_code() {
            if target.is_alloc() {
                return Err(LoadError::UnsupportedDataRelocation {
                    object: object.to_owned(),
                    section: rel_section.name.to_owned(),
                    target: target.name.to_owned(),
                });
            }
            // Debug information and BTF: not needed to run the code.
            continue;
        }
        if rel_section.sh_type == SHT_RELA {
            return Err(bad_section(
                object,
                rel_section.name,
                "RELA relocations of code are not supported (clang emits REL)".to_owned(),
            ));
        }
        if header.sh_entsize != REL_SIZE || header.sh_size % REL_SIZE != 0 {
            return Err(bad_section(
                object,
                rel_section.name,
                format!(
                    "entry size {} or size {} does not fit 16-byte ELF64 Rel entries",
                    header.sh_entsize, header.sh_size
                ),
            ));
        }
        if Some(header.sh_link as usize) != symtab_index {
            return Err(bad_section(
                object,
                rel_section.name,
                format!("linked section {} is not the symbol table", header.sh_link),
            ));
        }
        let mut entries = Vec::with_capacity(relocs.len());
        for (entry, reloc) in relocs.iter().enumerate() {
            if reloc.r_sym >= symbol_count {
                return Err(LoadError::RelocationSymbolOutOfRange {
                    object: object.to_owned(),
                    section: rel_section.name.to_owned(),
                    entry,
                    symbol_index: reloc.r_sym,
                    symbol_count,
                });
            }
            let bad_offset = |reason| LoadError::BadRelocationOffset {
                object: object.to_owned(),
                section: target.name.to_owned(),
                offset: reloc.r_offset,
                section_size: target.size,
                reason,
            };
            if reloc.r_offset % 8 != 0 {
                return Err(bad_offset("not on an instruction boundary (multiple of 8)"));
            }
            if reloc
                .r_offset
                .checked_add(8)
                .is_none_or(|end| end > target.size)
            {
                return Err(bad_offset("beyond the end of the section"));
            }
            entries.push(Relocation {
                offset: reloc.r_offset,
                symbol: reloc.r_sym,
                r_type: reloc.r_type,
            });
        }
        tables.push(RelocationTable {
            target: target_index,
            entries,
        });
    }
    Ok(tables)
}
