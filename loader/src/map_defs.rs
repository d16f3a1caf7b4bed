//! Legacy map definitions: one `struct bpf_map_def` per symbol in `SEC("maps")`.

use goblin::elf::section_header::SHT_PROGBITS;
use goblin::elf::sym::STT_SECTION;
use tinybpf_maps::MapDef;

use crate::elf::{ElfFile, SymbolPlace};
use crate::error::LoadErrorKind;
use crate::map_check::{MapProblem, check_definition};
use crate::object::{ObjectMap, ObjectMapKind, Pinning};

/// Name of the section holding legacy map definitions.
pub(crate) const MAPS_SECTION: &str = "maps";
/// Size of `struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; }`.
pub(crate) const BPF_MAP_DEF_SIZE: u64 = 20;

/// A map with nothing read yet.
pub(crate) fn empty_map(name: &str, kind: ObjectMapKind) -> ObjectMap {
    ObjectMap {
        name: name.to_owned(),
        def: MapDef {
            map_type: 0,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            map_flags: 0,
        },
        kind,
        initial_data: None,
        pinning: Pinning::None,
        key_type: None,
        value_type: None,
        initial_slots: Vec::new(),
        problem: None,
    }
}

/// The legacy maps of section `section`, with their offsets in it. A
/// definition that cannot be read or used is kept with its [`MapProblem`].
pub(crate) fn collect(
    elf: &ElfFile,
    bytes: &[u8],
    section: usize,
) -> Result<Vec<(u64, ObjectMap)>, LoadErrorKind> {
    let header = &elf.sections[section];
    let data = match (header.sh_type, elf.data(bytes, section)) {
        (SHT_PROGBITS, Some(data)) => data,
        _ => {
            return Err(LoadErrorKind::BadSection {
                section: MAPS_SECTION.to_owned(),
                reason: format!(
                    "section type {} holds no map definitions (PROGBITS expected)",
                    header.sh_type
                ),
            });
        }
    };
    let mut symbols: Vec<_> = elf
        .symbols
        .iter()
        .filter(|sym| sym.place == SymbolPlace::Section(section) && sym.sym_type != STT_SECTION)
        .collect();
    symbols.sort_by_key(|sym| sym.value);
    let mut maps = Vec::with_capacity(symbols.len());
    let mut previous_end = 0u64;
    let mut previous_name = "";
    for sym in symbols {
        let mut map = empty_map(&sym.name, ObjectMapKind::Legacy);
        let end = sym.value.checked_add(sym.size);
        map.problem = if end.is_none_or(|end| end > header.size) {
            Some(MapProblem::OutOfSection {
                section: MAPS_SECTION.to_owned(),
                offset: sym.value,
                size: sym.size,
                section_size: header.size,
            })
        } else if sym.size < BPF_MAP_DEF_SIZE {
            Some(MapProblem::TooShort { size: sym.size })
        } else if sym.value < previous_end {
            Some(MapProblem::Overlaps {
                other: previous_name.to_owned(),
            })
        } else {
            None
        };
        if map.problem.is_none() {
            previous_end = end.unwrap_or(u64::MAX);
            previous_name = &sym.name;
            let field = |index: u64| -> u32 {
                let mut raw = [0u8; 4];
                if let Some(bytes) = usize::try_from(sym.value + index * 4)
                    .ok()
                    .and_then(|at| data.get(at..at.checked_add(4)?))
                {
                    raw.copy_from_slice(bytes);
                }
                u32::from_le_bytes(raw)
            };
            map.def = MapDef {
                map_type: field(0),
                key_size: field(1),
                value_size: field(2),
                max_entries: field(3),
                map_flags: field(4),
            };
            map.problem = check_definition(&map.def).err();
        }
        maps.push((sym.value, map));
    }
    Ok(maps)
}
