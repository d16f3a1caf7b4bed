//! Shared helpers of the loader's tests: fixture paths, and a small ELF
//! reader (on goblin) that finds the file offsets of headers, symbols and
//! relocation entries so that tests can build precise byte mutations of a
//! valid object.
#![allow(dead_code)]

use std::path::PathBuf;

use goblin::elf::Elf;

/// Size of an ELF64 section header.
pub const SHDR_SIZE: usize = 64;
/// Size of an ELF64 symbol.
pub const SYM_SIZE: usize = 24;
/// Size of an ELF64 `Rel` entry.
pub const REL_SIZE: usize = 16;

/// Field offsets inside an ELF64 section header.
pub mod shdr {
    /// `sh_name` (u32)
    pub const NAME: usize = 0;
    /// `sh_type` (u32)
    pub const TYPE: usize = 4;
    /// `sh_offset` (u64)
    pub const OFFSET: usize = 24;
    /// `sh_size` (u64)
    pub const SIZE: usize = 32;
    /// `sh_link` (u32)
    pub const LINK: usize = 40;
    /// `sh_info` (u32)
    pub const INFO: usize = 44;
    /// `sh_entsize` (u64)
    pub const ENTSIZE: usize = 56;
}

/// Field offsets inside an ELF64 symbol.
pub mod sym {
    /// `st_name` (u32)
    pub const NAME: usize = 0;
    /// `st_info` (u8)
    pub const INFO: usize = 4;
    /// `st_shndx` (u16)
    pub const SHNDX: usize = 6;
    /// `st_value` (u64)
    pub const VALUE: usize = 8;
    /// `st_size` (u64)
    pub const SIZE: usize = 16;
}

/// Path of one of the loader's own fixtures.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The bytes of one of the loader's own fixtures.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).expect("fixture exists")
}

/// The workloads directory from `TINYBPF_SHARED`: `None` (with a message)
/// when the variable is unset; a panic when it is set but the directory is missing.
pub fn shared_workloads() -> Option<PathBuf> {
    let Some(shared) = std::env::var_os("TINYBPF_SHARED") else {
        eprintln!("skipped: TINYBPF_SHARED is not set (point it at the shared/ directory)");
        return None;
    };
    let dir = PathBuf::from(shared).join("workloads");
    assert!(
        dir.is_dir(),
        "TINYBPF_SHARED is set but {} is not a directory",
        dir.display()
    );
    Some(dir)
}

/// File offsets of an object's ELF structures.
pub struct Layout {
    /// `e_shoff`
    pub shoff: usize,
    /// Section names by index.
    pub section_names: Vec<String>,
    /// (file offset, size) of each section.
    pub section_ranges: Vec<(usize, usize)>,
    /// File offset of the symbol table.
    pub symtab_offset: usize,
    /// Symbol names by index.
    pub symbol_names: Vec<String>,
}

impl Layout {
    /// Reads the layout of a valid object.
    pub fn of(bytes: &[u8]) -> Layout {
        let elf = Elf::parse(bytes).expect("valid fixture");
        let section_names = elf
            .section_headers
            .iter()
            .map(|s| elf.shdr_strtab.get_at(s.sh_name).unwrap_or("").to_owned())
            .collect();
        let section_ranges = elf
            .section_headers
            .iter()
            .map(|s| (s.sh_offset as usize, s.sh_size as usize))
            .collect();
        let symtab = elf
            .section_headers
            .iter()
            .find(|s| s.sh_type == goblin::elf::section_header::SHT_SYMTAB)
            .expect("symbol table");
        let symbol_names = elf
            .syms
            .iter()
            .map(|s| {
                // Section symbols are known by their section's name.
                if s.st_type() == goblin::elf::sym::STT_SECTION {
                    let section = &elf.section_headers[s.st_shndx];
                    elf.shdr_strtab.get_at(section.sh_name).unwrap_or("")
                } else {
                    elf.strtab.get_at(s.st_name).unwrap_or("")
                }
                .to_owned()
            })
            .collect();
        Layout {
            shoff: elf.header.e_shoff as usize,
            section_names,
            section_ranges,
            symtab_offset: symtab.sh_offset as usize,
            symbol_names,
        }
    }

    /// Index of the section called `name`.
    pub fn section_index(&self, name: &str) -> usize {
        self.section_names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    /// File offset of field `field` of the header of section `name`.
    pub fn shdr_field(&self, name: &str, field: usize) -> usize {
        self.shoff + self.section_index(name) * SHDR_SIZE + field
    }

    /// File offset of section `name`'s contents.
    pub fn section_offset(&self, name: &str) -> usize {
        self.section_ranges[self.section_index(name)].0
    }

    /// Size of section `name`.
    pub fn section_size(&self, name: &str) -> usize {
        self.section_ranges[self.section_index(name)].1
    }

    /// Index of the symbol called `name`.
    pub fn symbol_index(&self, name: &str) -> usize {
        self.symbol_names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }

    /// File offset of field `field` of symbol `name`.
    pub fn sym_field(&self, name: &str, field: usize) -> usize {
        self.symtab_offset + self.symbol_index(name) * SYM_SIZE + field
    }

    /// File offset of relocation entry `entry` of section `rel_section`
    /// (`r_offset` at +0, `r_info` at +8: type in the low 32 bits, symbol in the high).
    pub fn rel_entry(&self, rel_section: &str, entry: usize) -> usize {
        let (offset, size) = self.section_ranges[self.section_index(rel_section)];
        assert!(
            (entry + 1) * REL_SIZE <= size,
            "{rel_section} has no entry {entry}"
        );
        offset + entry * REL_SIZE
    }

    /// File offset of instruction `insn` of code section `name`.
    pub fn insn(&self, name: &str, insn: usize) -> usize {
        self.section_offset(name) + insn * 8
    }
}

/// Writes a little-endian u16.
pub fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

/// Writes a little-endian u32.
pub fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Writes a little-endian u64.
pub fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Reads a little-endian u32.
pub fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// Reads a little-endian u64.
pub fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The relocations of section `rel_section`: (r_offset, symbol name, type).
pub fn relocations(bytes: &[u8], rel_section: &str) -> Vec<(u64, String, u32)> {
    let layout = Layout::of(bytes);
    let (offset, size) = layout.section_ranges[layout.section_index(rel_section)];
    (0..size / REL_SIZE)
        .map(|i| {
            let at = offset + i * REL_SIZE;
            let info = get_u64(bytes, at + 8);
            (
                get_u64(bytes, at),
                layout.symbol_names[(info >> 32) as usize].clone(),
                info as u32,
            )
        })
        .collect()
}
