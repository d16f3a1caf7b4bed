//! Global data: each `.data`, `.rodata*` and `.bss` section becomes a
//! one-element array map, and its variables get their names, offsets,
//! sizes and types from the section's BTF `DATASEC` (or, without BTF, from
//! the ELF symbols).

use std::collections::HashMap;

use goblin::elf::section_header::{SHT_NOBITS, SHT_PROGBITS};
use goblin::elf::sym::{STT_OBJECT, STT_SECTION};
use tinybpf_maps::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, MapDef};

use crate::btf::{Btf, Type};
use crate::elf::{ElfFile, SymbolPlace};
use crate::error::LoadErrorKind;
use crate::map_check::{MapProblem, check_definition};
use crate::map_defs::empty_map;
use crate::object::{GlobalVariable, ObjectMap, ObjectMapKind};

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

/// The global-data maps and variables of an object.
pub(crate) struct Globals {
    /// One map per non-empty data section, in section order.
    pub maps: Vec<ObjectMap>,
    /// ELF section index -> index in the object's maps.
    pub data_by_section: HashMap<usize, usize>,
    /// The named variables, by map then offset.
    pub variables: Vec<GlobalVariable>,
}

/// Collects the global data maps (numbered from `first_index` in the
/// object's map list) and their variables.
pub(crate) fn collect(
    elf: &ElfFile,
    bytes: &[u8],
    btf: Option<&Btf>,
    first_index: usize,
) -> Result<Globals, LoadErrorKind> {
    let mut globals = Globals {
        maps: Vec::new(),
        data_by_section: HashMap::new(),
        variables: Vec::new(),
    };
    let mut data_sections = Vec::new();
    for (index, section) in elf.sections.iter().enumerate() {
        if !is_global_data_name(&section.name)
            || !section.is_alloc()
            || section.is_code()
            || !(section.sh_type == SHT_PROGBITS || section.sh_type == SHT_NOBITS)
            || section.size == 0
        {
            continue;
        }
        let value_size = u32::try_from(section.size).map_err(|_| LoadErrorKind::BadSection {
            section: section.name.clone(),
            reason: format!(
                "size {} does not fit a map value (at most {} bytes)",
                section.size,
                u32::MAX
            ),
        })?;
        let read_only = is_read_only_data_name(&section.name);
        let mut map = empty_map(
            &section.name,
            ObjectMapKind::GlobalData {
                section: section.name.clone(),
            },
        );
        map.def = MapDef {
            map_type: BPF_MAP_TYPE_ARRAY,
            key_size: 4,
            value_size,
            max_entries: 1,
            map_flags: BPF_F_MMAPABLE | if read_only { BPF_F_RDONLY_PROG } else { 0 },
        };
        map.initial_data = elf.data(bytes, index).map(<[u8]>::to_vec);
        map.problem = check_definition(&map.def).err();
        if let Some(table) = elf.relocations.iter().find(|t| t.target == index) {
            map.problem = Some(MapProblem::DataRelocations {
                section: table.name.clone(),
            });
        }
        map.value_type = btf
            .and_then(|btf| btf.datasec(&section.name))
            .map(|(id, _)| id);
        let map_index = first_index + globals.maps.len();
        globals.data_by_section.insert(index, map_index);
        globals.maps.push(map);
        data_sections.push((index, map_index));
    }
    // Variables: one pass over the symbols, one over each DATASEC.
    let mut symbols_by_section: HashMap<usize, Vec<usize>> = HashMap::new();
    for (sym_index, sym) in elf.symbols.iter().enumerate() {
        if let SymbolPlace::Section(section) = sym.place
            && globals.data_by_section.contains_key(&section)
            && sym.sym_type != STT_SECTION
            && !sym.name.is_empty()
        {
            symbols_by_section
                .entry(section)
                .or_default()
                .push(sym_index);
        }
    }
    for (section, map_index) in data_sections {
        let symbols = symbols_by_section.remove(&section).unwrap_or_default();
        let header = &elf.sections[section];
        let datasec = btf.and_then(|btf| Some((btf, btf.datasec(&header.name)?.1)));
        match datasec {
            Some((btf, vars)) => {
                let by_name: HashMap<&str, u64> = symbols
                    .iter()
                    .map(|&i| &elf.symbols[i])
                    .filter(|s| s.sym_type == STT_OBJECT)
                    .map(|s| (s.name.as_str(), s.value))
                    .collect();
                for info in vars {
                    let Ok(Type::Var { name, target, .. }) = btf.get(info.var) else {
                        continue;
                    };
                    let offset = by_name
                        .get(name.as_str())
                        .copied()
                        .unwrap_or(u64::from(info.offset));
                    let bad = |reason: String| LoadErrorKind::BadVariable {
                        section: header.name.clone(),
                        variable: name.clone(),
                        reason,
                    };
                    if offset
                        .checked_add(u64::from(info.size))
                        .is_none_or(|end| end > header.size)
                    {
                        return Err(bad(format!(
                            "offset {offset} and size {} lie outside the section ({} bytes)",
                            info.size, header.size
                        )));
                    }
                    // Its type must have a size (no loop, no overflow); the
                    // section's size wins (a flexible array may be longer).
                    btf.size_of(*target).map_err(|e| bad(e.to_string()))?;
                    globals.variables.push(GlobalVariable {
                        name: name.clone(),
                        section: header.name.clone(),
                        map_index,
                        offset: offset as u32,
                        size: info.size,
                        type_id: Some(*target),
                    });
                }
            }
            None => {
                for sym in symbols.iter().map(|&i| &elf.symbols[i]) {
                    let (Ok(offset), Ok(size)) =
                        (u32::try_from(sym.value), u32::try_from(sym.size))
                    else {
                        continue;
                    };
                    if sym.value >= header.size {
                        continue;
                    }
                    globals.variables.push(GlobalVariable {
                        name: sym.name.clone(),
                        section: header.name.clone(),
                        map_index,
                        offset,
                        size,
                        type_id: None,
                    });
                }
            }
        }
    }
    globals
        .variables
        .sort_by(|a, b| (a.map_index, a.offset, &a.name).cmp(&(b.map_index, b.offset, &b.name)));
    Ok(globals)
}
