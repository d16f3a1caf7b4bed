//! [`Object`]: a parsed and linked BPF object file, its maps and programs.

use std::path::Path;

use goblin::elf::section_header::SHT_PROGBITS;
use tinybpf_maps::{ArrayMap, BPF_ANY, BPF_F_RDONLY_PROG, MapDef};
use tinybpf_vm::ProgramKind;
use tinybpf_vm::isa::insn::Insn;

use crate::elf::ElfFile;
use crate::error::LoadError;
use crate::link::Linker;
use crate::map_defs::{MAPS_SECTION, MapTable};

/// Name of the section holding the program license string.
const LICENSE_SECTION: &str = "license";

/// A clang-compiled BPF object, parsed and linked: its maps, its programs
/// (code ready for the VM) and its license.
///
/// ```
/// # fn main() -> Result<(), tinybpf_loader::LoadError> {
/// use tinybpf_loader::Object;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/subprograms.o");
/// let object = Object::open(path)?;
/// let program = object.require_program("entry")?;
/// assert_eq!(program.section, "xdp");
/// assert!(object.program("no_such_program").is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Object {
    /// The file name, used in every error message.
    pub name: String,
    /// The contents of the `license` section, up to its first NUL.
    pub license: Option<String>,
    /// The maps, in the order the linked code's map indices refer to: legacy
    /// `SEC("maps")` maps by offset, then global data sections in section order.
    pub maps: Vec<ObjectMap>,
    /// The programs, in section order, then by offset in their section.
    pub programs: Vec<ObjectProgram>,
    /// The named variables of the global data sections.
    pub variables: Vec<GlobalVariable>,
}

/// A map the object defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMap {
    /// The map's name: the symbol of a legacy map, the section of a global-data map.
    pub name: String,
    /// Its definition, already checked to be one the array runtime accepts.
    pub def: MapDef,
    /// Where it comes from.
    pub kind: ObjectMapKind,
    /// The bytes to store at key 0 when the map is created (initialised global data).
    pub initial_data: Option<Vec<u8>>,
}

impl ObjectMap {
    /// The ELF section the map comes from (`maps`, `.data`, `.rodata`, ...).
    pub fn section(&self) -> &str {
        match &self.kind {
            ObjectMapKind::Legacy => MAPS_SECTION,
            ObjectMapKind::GlobalData { section } => section,
        }
    }
}

/// Where a map comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectMapKind {
    /// A `struct bpf_map_def` in `SEC("maps")`.
    Legacy,
    /// A global data section (`.data`, `.rodata*`, `.bss`) backed by a
    /// one-element array: key 4 bytes, value = the section,
    /// `BPF_F_MMAPABLE`, plus `BPF_F_RDONLY_PROG` (and frozen) for `.rodata*`.
    GlobalData {
        /// The section name.
        section: String,
    },
}

/// A program of the object, linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProgram {
    /// The object file it comes from (for messages).
    pub object: String,
    /// The program's function symbol.
    pub name: String,
    /// Its ELF section (`xdp`, `socket`, ...).
    pub section: String,
    /// How it receives its input: [`ProgramKind::Xdp`] for sections starting
    /// with `xdp`, [`ProgramKind::Memory`] otherwise.
    pub kind: ProgramKind,
    /// The linked code: map references are `lddw` with `src` 5 (map index in
    /// `imm`), global variables `lddw` with `src` 6 (map index, then offset),
    /// and the `.text` subprograms it calls follow its own code.
    pub code: Vec<Insn>,
    /// Where each part of `code` comes from: the program's own function
    /// first, then each `.text` subprogram appended, in code order.
    pub functions: Vec<LinkedFunction>,
}

/// One function laid out in a linked program's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedFunction {
    /// The function symbol.
    pub name: String,
    /// Its ELF section.
    pub section: String,
    /// Index of its first instruction in that section.
    pub section_start: usize,
    /// Index of its first instruction in the linked code.
    pub start: usize,
    /// Its number of instruction slots.
    pub len: usize,
}

impl ObjectProgram {
    /// The function that instruction `pc` of the linked code belongs to, and
    /// the instruction's index in that function's section.
    pub fn origin(&self, pc: usize) -> Option<(&LinkedFunction, usize)> {
        let function = self
            .functions
            .iter()
            .find(|f| (f.start..f.start + f.len).contains(&pc))?;
        Some((function, function.section_start + (pc - function.start)))
    }
}

/// A named variable in a global data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalVariable {
    /// The symbol name.
    pub name: String,
    /// Index of the section's map in [`Object::maps`].
    pub map_index: usize,
    /// Offset of the variable in the map's value.
    pub offset: u32,
    /// Size of the variable in bytes (0 when the symbol gives none).
    pub size: u32,
}

impl Object {
    /// Parses and links an object file held in memory; `name` is used in messages.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Object, LoadError> {
        let elf = ElfFile::parse(name, bytes)?;
        let maps = MapTable::collect(name, &elf)?;
        let programs = Linker::new(name, &elf, &maps)?.programs()?;
        let license = license(name, &elf)?;
        Ok(Object {
            name: name.to_owned(),
            license,
            maps: maps.maps,
            programs,
            variables: maps.variables,
        })
    }

    /// Reads, parses and links an object file.
    pub fn open(path: impl AsRef<Path>) -> Result<Object, LoadError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            object: name.clone(),
            source,
        })?;
        Object::parse(&name, &bytes)
    }

    /// The program whose function is `name`.
    pub fn program(&self, name: &str) -> Option<&ObjectProgram> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The program whose function is `name`, or an error that lists the programs there are.
    pub fn require_program(&self, name: &str) -> Result<&ObjectProgram, LoadError> {
        self.program(name).ok_or_else(|| LoadError::NoSuchProgram {
            object: self.name.clone(),
            program: name.to_owned(),
            available: if self.programs.is_empty() {
                "none".to_owned()
            } else {
                self.programs
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// The map called `name` (a legacy map's symbol, or a global data section).
    pub fn map(&self, name: &str) -> Option<&ObjectMap> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// Creates the maps, in the order of [`Object::maps`]: global data maps
    /// receive their initial bytes at key 0, and `.rodata*` maps are then frozen.
    pub fn create_maps(&self) -> Result<Vec<ArrayMap>, LoadError> {
        self.maps
            .iter()
            .map(|map| {
                let fail = |source| LoadError::Map {
                    object: self.name.clone(),
                    map: map.name.clone(),
                    source,
                };
                let array = ArrayMap::new(map.def).map_err(fail)?;
                if let Some(data) = &map.initial_data {
                    array
                        .update(&0u32.to_le_bytes(), data, BPF_ANY)
                        .map_err(fail)?;
                }
                if matches!(map.kind, ObjectMapKind::GlobalData { .. })
                    && map.def.map_flags & BPF_F_RDONLY_PROG != 0
                {
                    array.freeze().map_err(fail)?;
                }
                Ok(array)
            })
            .collect()
    }
}

/// The `license` section's string, up to its first NUL.
fn license(object: &str, elf: &ElfFile<'_>) -> Result<Option<String>, LoadError> {
    let Some(section) = elf.sections.iter().find(|s| s.name == LICENSE_SECTION) else {
        return Ok(None);
    };
    let bad = |reason| LoadError::BadLicense {
        object: object.to_owned(),
        reason,
    };
    let data = match (section.sh_type, section.data) {
        (SHT_PROGBITS, Some(data)) => data,
        _ => return Err(bad("the section has no contents in the file")),
    };
    let text = data.split(|&b| b == 0).next().unwrap_or_default();
    let text = std::str::from_utf8(text).map_err(|_| bad("the license is not UTF-8 text"))?;
    Ok(Some(text.to_owned()))
}
