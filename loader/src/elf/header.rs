//! The checks made on the raw bytes before goblin sees the file: the ELF
//! identification and header fields (each kind of wrong file gets its own
//! error), and that every section with contents lies inside the file.

use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFMAG, ET_REL, SELFMAG};
use goblin::elf::section_header::{SHT_NOBITS, SHT_NULL};

use crate::error::LoadErrorKind;

/// `EM_BPF`.
pub(crate) const EM_BPF: u16 = 247;
/// Size of the ELF64 file header.
const EHDR_SIZE: u64 = 64;
/// Size of one ELF64 section header.
pub(super) const SHDR_SIZE: u64 = 64;

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
pub(super) fn check_header(bytes: &[u8]) -> Result<(), LoadErrorKind> {
    let file_size = bytes.len() as u64;
    if bytes.get(..SELFMAG) != Some(&ELFMAG[..]) {
        return Err(if bytes.len() < SELFMAG && ELFMAG.starts_with(bytes) {
            LoadErrorKind::Truncated {
                what: "ELF identification",
                needed: SELFMAG as u64,
                available: file_size,
            }
        } else {
            LoadErrorKind::NotElf
        });
    }
    if file_size < EHDR_SIZE {
        return Err(LoadErrorKind::Truncated {
            what: "ELF header",
            needed: EHDR_SIZE,
            available: file_size,
        });
    }
    let class = bytes[EI_CLASS];
    if class != ELFCLASS64 {
        return Err(LoadErrorKind::WrongClass { class });
    }
    let encoding = bytes[EI_DATA];
    if encoding != ELFDATA2LSB {
        return Err(LoadErrorKind::WrongEndianness { encoding });
    }
    let e_type = header_u16(bytes, 16);
    if e_type != ET_REL {
        return Err(LoadErrorKind::NotRelocatable { e_type });
    }
    let machine = header_u16(bytes, 18);
    if machine != EM_BPF {
        return Err(LoadErrorKind::WrongMachine { machine });
    }
    let bad = |field, value: u64, reason| LoadErrorKind::BadHeader {
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
        return Err(LoadErrorKind::OutOfFile {
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
pub(super) fn check_section_ranges(bytes: &[u8]) -> Result<(), LoadErrorKind> {
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
            return Err(LoadErrorKind::OutOfFile {
                what: format!("section {}", raw_section_name(bytes, index)),
                offset,
                size,
                file_size,
            });
        }
    }
    Ok(())
}
