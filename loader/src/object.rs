//! [`Object`]: a parsed BPF object file, the maps and programs it defines,
//! its global variables and BTF. Programs are linked one at a time, on
//! demand ([`Object::link`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use goblin::elf::section_header::SHT_PROGBITS;
use tinybpf_maps::{MapDef, MapType};
use tinybpf_vm::ProgramKind;

use crate::btf::{Btf, TypeId};
use crate::elf::ElfFile;
use crate::error::{LoadError, LoadErrorKind};
use crate::image::Image;
use crate::map_check::MapProblem;
use crate::map_defs::{self, MAPS_SECTION};
use crate::program_type::ProgramType;
use crate::{globals, maps_btf};

/// Name of the section holding the program license string.
const LICENSE_SECTION: &str = "license";
/// Name of the section holding BTF-defined maps.
pub(crate) const BTF_MAPS_SECTION: &str = ".maps";

/// A clang-compiled BPF object, parsed: its maps, its programs, its global
/// variables, its license and its BTF. Opening reads and checks the whole
/// file's structure but links no program: [`Object::link`] links the one
/// program asked for, with only the `.text` functions it reaches.
///
/// ```
/// # fn main() -> Result<(), tinybpf_loader::LoadError> {
/// use tinybpf_loader::Object;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/subprograms.o");
/// let object = Object::open(path)?;
/// let program = object.require_program("entry")?;
/// assert_eq!(program.section, "xdp");
/// assert!(object.program("no_such_program").is_none());
/// let linked = object.link("entry")?;
/// assert_eq!(linked.functions[0].name, "entry");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Object {
    /// The file name, used in every error message.
    pub name: String,
    /// The contents of the `license` section, up to its first NUL.
    pub license: Option<String>,
    /// Every map the object defines: legacy `SEC("maps")` maps by offset,
    /// then BTF-defined `SEC(".maps")` maps by offset, then global data
    /// sections in section order. A linked program's
    /// [`maps`](crate::LinkedProgram::maps) are indices into this list.
    pub maps: Vec<ObjectMap>,
    /// The programs, in section order, then by offset in their section.
    pub programs: Vec<ObjectProgram>,
    /// The named variables of the global data sections, by map then offset.
    pub variables: Vec<GlobalVariable>,
    /// The types of the `.BTF` section, when the object has one.
    pub btf: Option<Btf>,
    /// What linking needs: the file's bytes, sections, symbols, relocations.
    pub(crate) image: Arc<Image>,
    /// The index in `programs` of the first program of each name, so that
    /// looking every program up by name is linear, not quadratic.
    program_index: HashMap<String, usize>,
}

/// A map the object defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMap {
    /// The map's name: its symbol, or the section of a global-data map.
    pub name: String,
    /// Its definition (all zero when the definition could not be read: see `problem`).
    pub def: MapDef,
    /// Where it comes from.
    pub kind: ObjectMapKind,
    /// The bytes to store at key 0 when the map is created (initialised global data).
    pub initial_data: Option<Vec<u8>>,
    /// Whether it is pinned by name (`__uint(pinning, LIBBPF_PIN_BY_NAME)`).
    pub pinning: Pinning,
    /// The BTF type of its keys, when the definition names one (`__type(key, ...)`).
    pub key_type: Option<TypeId>,
    /// The BTF type of its values (`__type(value, ...)`; for global data, the section's DATASEC).
    pub value_type: Option<TypeId>,
    /// The initial entries of `__array(values, ...)` (`.values = { [i] = &x }`).
    pub initial_slots: Vec<MapSlot>,
    /// Why the definition cannot be used, when it cannot; a program that
    /// uses the map then fails to load with this reason.
    pub problem: Option<MapProblem>,
}

impl ObjectMap {
    /// The ELF section the map comes from (`maps`, `.maps`, `.data`, `.rodata`, ...).
    pub fn section(&self) -> &str {
        match &self.kind {
            ObjectMapKind::Legacy => MAPS_SECTION,
            ObjectMapKind::Btf => BTF_MAPS_SECTION,
            ObjectMapKind::GlobalData { section } => section,
        }
    }

    /// The map's type, or `None` for a number the kernel does not define.
    pub fn map_type(&self) -> Option<MapType> {
        crate::map_check::known_type(self.def.map_type)
    }

    /// The map type's bpftool name (`array`, `hash`, ...), or `unknown`.
    pub fn type_name(&self) -> &'static str {
        self.map_type().map_or("unknown", MapType::name)
    }

    /// Why tinybpf cannot create this map, or `None` when it can: the
    /// definition's [`problem`](ObjectMap::problem), or a type tinybpf does
    /// not support (maps of maps, socket, cgroup and storage maps...).
    pub fn cannot_create(&self) -> Option<LoadErrorKind> {
        crate::create::cannot_create(self)
    }
}

/// Whether and how a map is pinned (`enum libbpf_pin_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pinning {
    /// `LIBBPF_PIN_NONE`.
    #[default]
    None,
    /// `LIBBPF_PIN_BY_NAME`: shared through a file named after the map.
    ByName,
}

/// One initial entry of a map of programs or of maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSlot {
    /// The key (index) of the entry.
    pub index: u32,
    /// What is stored there.
    pub target: SlotTarget,
}

/// What an initial entry of `__array(values, ...)` refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotTarget {
    /// A program of the object (in a `PROG_ARRAY`), by name.
    Program(String),
    /// A map of the object (in an `ARRAY_OF_MAPS` or `HASH_OF_MAPS`), by name.
    Map(String),
}

/// Where a map comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectMapKind {
    /// A `struct bpf_map_def` in `SEC("maps")`.
    Legacy,
    /// A BTF-described definition in `SEC(".maps")`.
    Btf,
    /// A global data section (`.data`, `.rodata*`, `.bss`) backed by a
    /// one-element array: key 4 bytes, value = the section,
    /// `BPF_F_MMAPABLE`, plus `BPF_F_RDONLY_PROG` (and frozen) for `.rodata*`.
    GlobalData {
        /// The section name.
        section: String,
    },
}

/// A program of the object, not yet linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProgram {
    /// The program's function symbol.
    pub name: String,
    /// Its ELF section (`xdp`, `socket`, ...).
    pub section: String,
    /// Its program type, from the section name as libbpf maps it.
    pub program_type: ProgramType,
    /// How tinybpf runs it: the type's context ([`ProgramType::runs_as`]),
    /// or [`ProgramKind::Memory`] for a type tinybpf does not run (which
    /// then runs only when raw memory is asked for).
    pub kind: ProgramKind,
    /// Its place among the image's code sections and their functions.
    pub(crate) code_section: usize,
    pub(crate) function: usize,
}

/// A named variable in a global data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalVariable {
    /// The variable's name.
    pub name: String,
    /// The data section it lives in (`.data`, `.bss`, `.rodata`, ...).
    pub section: String,
    /// Index of the section's map in [`Object::maps`].
    pub map_index: usize,
    /// Offset of the variable in the map's value.
    pub offset: u32,
    /// Size of the variable in bytes (0 when neither BTF nor the symbol gives one).
    pub size: u32,
    /// Its BTF type, when the object has BTF.
    pub type_id: Option<TypeId>,
}

impl Object {
    /// Parses an object file held in memory; `name` is used in messages.
    ///
    /// The file's structure is checked (ELF header, sections, symbols, the
    /// function symbols of every code section, `.BTF`, map definitions and
    /// global variables); code and relocations are checked when a program
    /// that reaches them is linked.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Object, LoadError> {
        Object::parse_kind(bytes)
            .map_err(|kind| LoadError::new(name, kind))
            .map(|mut object| {
                object.name = name.to_owned();
                object
            })
    }

    fn parse_kind(bytes: &[u8]) -> Result<Object, LoadErrorKind> {
        let elf = ElfFile::parse(bytes)?;
        let btf = match elf.section_named(".BTF")? {
            Some(index) => {
                let data = elf.data(bytes, index).ok_or(LoadErrorKind::BadSection {
                    section: ".BTF".to_owned(),
                    reason: "the section has no contents in the file".to_owned(),
                })?;
                Some(Btf::parse(data)?)
            }
            None => None,
        };
        let mut maps = Vec::new();
        let mut map_offsets = HashMap::new();
        if let Some(section) = elf.section_named(MAPS_SECTION)? {
            for (offset, map) in map_defs::collect(&elf, bytes, section)? {
                map_offsets.insert((section, offset), maps.len());
                maps.push(map);
            }
        }
        if let Some(section) = elf.section_named(BTF_MAPS_SECTION)? {
            let found = maps_btf::collect(&elf, btf.as_ref(), section)?;
            for (offset, map) in found {
                map_offsets.insert((section, offset), maps.len());
                maps.push(map);
            }
        }
        let globals = globals::collect(&elf, bytes, btf.as_ref(), maps.len())?;
        let data_maps = globals.data_by_section;
        maps.extend(globals.maps);
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(maps.len());
        for (index, map) in maps.iter().enumerate() {
            if let Some(first) = seen.insert(&map.name, index) {
                return Err(LoadErrorKind::DuplicateName {
                    what: "map",
                    name: map.name.clone(),
                    first: maps[first].section().to_owned(),
                    second: map.section().to_owned(),
                });
            }
        }
        let license = license(&elf, bytes)?;
        let (image, programs) = Image::new(bytes.to_vec(), elf, map_offsets, data_maps)?;
        let mut program_index = HashMap::with_capacity(programs.len());
        for (index, program) in programs.iter().enumerate() {
            program_index.entry(program.name.clone()).or_insert(index);
        }
        Ok(Object {
            name: String::new(),
            license,
            maps,
            program_index,
            programs,
            variables: globals.variables,
            btf,
            image: Arc::new(image),
        })
    }

    /// Reads and parses an object file.
    pub fn open(path: impl AsRef<Path>) -> Result<Object, LoadError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|source| LoadError::new(&name, LoadErrorKind::Io(source)))?;
        Object::parse(&name, &bytes)
    }

    /// The program whose function is `name`.
    pub fn program(&self, name: &str) -> Option<&ObjectProgram> {
        // The index is checked against `programs`, which callers may have
        // changed since parsing; then the first with the name is found by
        // scanning, as without the index.
        self.program_index
            .get(name)
            .and_then(|&index| self.programs.get(index))
            .filter(|p| p.name == name)
            .or_else(|| self.programs.iter().find(|p| p.name == name))
    }

    /// The program whose function is `name`, or an error that lists the programs there are.
    pub fn require_program(&self, name: &str) -> Result<&ObjectProgram, LoadError> {
        self.program(name).ok_or_else(|| {
            self.error(LoadErrorKind::NoSuchProgram {
                program: name.to_owned(),
                available: join_or_none(self.programs.iter().map(|p| p.name.as_str())),
            })
        })
    }

    /// The map called `name` (a map's symbol, or a global data section).
    pub fn map(&self, name: &str) -> Option<&ObjectMap> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// The index in [`Object::maps`] of the map called `name`, or an error
    /// that lists the maps there are.
    pub fn require_map(&self, name: &str) -> Result<usize, LoadError> {
        self.maps
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| {
                self.error(LoadErrorKind::NoSuchMap {
                    map: name.to_owned(),
                    available: join_or_none(self.maps.iter().map(|m| m.name.as_str())),
                })
            })
    }

    /// The global variable called `name`.
    pub fn variable(&self, name: &str) -> Option<&GlobalVariable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// An error of `kind` in this object.
    pub(crate) fn error(&self, kind: LoadErrorKind) -> LoadError {
        LoadError::new(&self.name, kind)
    }
}

/// Names joined by commas, or `none`.
pub(crate) fn join_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = names.collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// The `license` section's string, up to its first NUL.
fn license(elf: &ElfFile, bytes: &[u8]) -> Result<Option<String>, LoadErrorKind> {
    let Some(index) = elf.section_named(LICENSE_SECTION)? else {
        return Ok(None);
    };
    let bad = |reason| LoadErrorKind::BadLicense { reason };
    let data = match (elf.sections[index].sh_type, elf.data(bytes, index)) {
        (SHT_PROGBITS, Some(data)) => data,
        _ => return Err(bad("the section has no contents in the file")),
    };
    let text = data.split(|&b| b == 0).next().unwrap_or_default();
    let text = std::str::from_utf8(text).map_err(|_| bad("the license is not UTF-8 text"))?;
    Ok(Some(text.to_owned()))
}
