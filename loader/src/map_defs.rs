//! The maps an object defines: legacy `SEC("maps")` definitions and the
//! one-element arrays that back global data sections.

use std::collections::HashMap;

use goblin::elf::section_header::{SHT_NOBITS, SHT_PROGBITS};
use goblin::elf::sym::STT_SECTION;
use tinybpf_maps::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, MapDef};

use crate::elf::{ElfFile, SymbolPlace};
use crate::error::LoadError;
use crate::object::{GlobalVariable, ObjectMap, ObjectMapKind};

/// Name of the section holding legacy map definitions.
pub(crate) const MAPS_SECTION: &str = "maps";
/// Size of `struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; }`.
pub(crate) const BPF_MAP_DEF_SIZE: u64 = 20;

/// The maps of an object and how its symbols reach them.
#[derive(Debug, Default)]
pub(crate) struct MapTable {
    /// Every map: legacy maps in definition order, then global-data maps in section order.
    pub maps: Vec<ObjectMap>,
    /// Index of the `maps` section, when there is one.
    pub maps_section: Option<usize>,
    /// Offset in the `maps` section of each legacy map's definition -> map index.
    pub legacy_by_offset: HashMap<u64, usize>,
    /// Section index of each (non-empty) global data section -> map index.
    pub data_by_section: HashMap<usize, usize>,
    /// Named variables in global data sections.
    pub variables: Vec<GlobalVariable>,
}

/// Whether a section name is one of the global data sections a loader backs with a map.
pub(crate) fn is_global_data_name(name: &str) -> bool {
    [".data", ".rodata", ".bss"].iter().any(|base| {
        name.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// Whether a global data section is read-only for programs.
pub(crate) fn is_read_only_data_name(name: &str) -> bool {
    name == ".rodata" || name.starts_with(".rodata.")
}

impl MapTable {
    /// Collects the legacy maps and the global-data maps of `elf`.
    pub fn collect(object: &str, elf: &ElfFile<'_>) -> Result<MapTable, LoadError> {
        let mut table = MapTable::default();
        table.collect_legacy(object, elf)?;
        table.collect_global_data(object, elf)?;
        let mut seen: HashMap<&str, &ObjectMap> = HashMap::new();
        for map in &table.maps {
            if let Some(first) = seen.insert(&map.name, map) {
                return Err(LoadError::DuplicateName {
                    object: object.to_owned(),
                    what: "map",
                    name: map.name.clone(),
                    first: first.section().to_owned(),
                    second: map.section().to_owned(),
                });
            }
        }
        Ok(table)
    }

    fn collect_legacy(&mut self, object: &str, elf: &ElfFile<'_>) -> Result<(), LoadError> {
        let mut candidates = elf.sections.iter().filter(|s| s.name == MAPS_SECTION);
        let Some(section) = candidates.next() else {
            return Ok(());
        };
        if let Some(second) = candidates.next() {
            return Err(LoadError::BadSection {
                object: object.to_owned(),
                section: MAPS_SECTION.to_owned(),
                reason: format!(
                    "defined twice (sections #{} and #{})",
                    section.index, second.index
                ),
            });
        }
        let data = match (section.sh_type, section.data) {
            (SHT_PROGBITS, Some(data)) => data,
            _ => {
                return Err(LoadError::BadSection {
                    object: object.to_owned(),
                    section: MAPS_SECTION.to_owned(),
                    reason: format!(
                        "section type {} holds no map definitions (PROGBITS expected)",
                        section.sh_type
                    ),
                });
            }
        };
        self.maps_section = Some(section.index);
        let mut symbols: Vec<_> = elf
            .symbols
            .iter()
            .filter(|sym| {
                sym.place == SymbolPlace::Section(section.index) && sym.sym_type != STT_SECTION
            })
            .collect();
        symbols.sort_by_key(|sym| sym.value);
        let mut previous_end = 0u64;
        let mut previous_name = "";
        for sym in symbols {
            let out_of_section = || LoadError::SymbolOutOfSection {
                object: object.to_owned(),
                section: MAPS_SECTION.to_owned(),
                symbol: sym.name.to_owned(),
                offset: sym.value,
                size: sym.size,
                section_size: section.size,
            };
            let end = sym.value.checked_add(sym.size).ok_or_else(out_of_section)?;
            if end > section.size {
                return Err(out_of_section());
            }
            if sym.size < BPF_MAP_DEF_SIZE {
                return Err(LoadError::MapDefinitionTooShort {
                    object: object.to_owned(),
                    map: sym.name.to_owned(),
                    size: sym.size,
                });
            }
            if sym.value < previous_end {
                return Err(LoadError::BadSection {
                    object: object.to_owned(),
                    section: MAPS_SECTION.to_owned(),
                    reason: format!(
                        "map {} at offset {} overlaps map {previous_name}",
                        sym.name, sym.value
                    ),
                });
            }
            previous_end = end;
            previous_name = sym.name;
            let field = |index: u64| -> u32 {
                let at = sym.value + index * 4;
                let mut raw = [0u8; 4];
                if let Some(bytes) = usize::try_from(at)
                    .ok()
                    .and_then(|at| data.get(at..at.checked_add(4)?))
                {
                    raw.copy_from_slice(bytes);
                }
                u32::from_le_bytes(raw)
            };
            let def = MapDef {
                map_type: field(0),
                key_size: field(1),
                value_size: field(2),
                max_entries: field(3),
                map_flags: field(4),
            };
            check_def(object, sym.name, &def)?;
            self.legacy_by_offset.insert(sym.value, self.maps.len());
            self.maps.push(ObjectMap {
                name: sym.name.to_owned(),
                def,
                kind: ObjectMapKind::Legacy,
                initial_data: None,
            });
        }
        Ok(())
    }

    fn collect_global_data(&mut self, object: &str, elf: &ElfFile<'_>) -> Result<(), LoadError> {
        for section in &elf.sections {
            if !is_global_data_name(section.name)
                || !section.is_alloc()
                || section.is_code()
                || !(section.sh_type == SHT_PROGBITS || section.sh_type == SHT_NOBITS)
                || section.size == 0
            {
                continue;
            }
            let value_size = u32::try_from(section.size).map_err(|_| LoadError::BadSection {
                object: object.to_owned(),
                section: section.name.to_owned(),
                reason: format!(
                    "size {} does not fit a map value (at most {} bytes)",
                    section.size,
                    u32::MAX
                ),
            })?;
            let read_only = is_read_only_data_name(section.name);
            let def = MapDef {
                map_type: BPF_MAP_TYPE_ARRAY,
                key_size: 4,
                value_size,
                max_entries: 1,
                map_flags: BPF_F_MMAPABLE | if read_only { BPF_F_RDONLY_PROG } else { 0 },
            };
            check_def(object, section.name, &def)?;
            let map_index = self.maps.len();
            self.data_by_section.insert(section.index, map_index);
            for sym in &elf.symbols {
                if sym.place != SymbolPlace::Section(section.index)
                    || sym.sym_type == STT_SECTION
                    || sym.name.is_empty()
                    || sym.value >= section.size
                {
                    continue;
                }
                let (Ok(offset), Ok(size)) = (u32::try_from(sym.value), u32::try_from(sym.size))
                else {
                    continue;
                };
                self.variables.push(GlobalVariable {
                    name: sym.name.to_owned(),
                    map_index,
                    offset,
                    size,
                });
            }
            self.maps.push(ObjectMap {
                name: section.name.to_owned(),
                def,
                kind: ObjectMapKind::GlobalData {
                    section: section.name.to_owned(),
                },
                initial_data: section.data.map(<[u8]>::to_vec),
            });
        }
        Ok(())
    }
}

/// Rejects definitions the runtime cannot create: types other than
/// `BPF_MAP_TYPE_ARRAY`, and sizes the array map refuses.
fn check_def(object: &str, map: &str, def: &MapDef) -> Result<(), LoadError> {
    if def.map_type != BPF_MAP_TYPE_ARRAY {
        return Err(LoadError::UnsupportedMapType {
            object: object.to_owned(),
            map: map.to_owned(),
            map_type: def.map_type,
        });
    }
    def.check().map(drop).map_err(|source| LoadError::Map {
        object: object.to_owned(),
        map: map.to_owned(),
        source,
    })
}
