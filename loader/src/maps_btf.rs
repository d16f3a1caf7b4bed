//! BTF-defined maps: each variable of the `.maps` DATASEC is a struct whose
//! members say what the map is, the way libbpf reads them:
//!
//! - `__uint(name, N)` is a member `int (*name)[N]`: a pointer to an array
//!   whose length is the value (`type`, `max_entries`, `map_flags`,
//!   `key_size`, `value_size`, `pinning`, `numa_node`, `map_extra`);
//! - `__type(name, T)` is a member `T *name`: the pointee's size is the
//!   key or value size, and its type id is kept (`key`, `value`);
//! - `__array(values, T)` is a flexible array of pointers (`T *values[]`),
//!   for maps of programs (`T` a function prototype) or of maps (`T` the
//!   inner map's struct); its initial entries (`.values = { [i] = &x }`)
//!   are relocations in `.rel.maps`.
//!
//! A definition that cannot be read becomes a [`MapProblem`] of that map;
//! only a `.maps` section that cannot be read at all is an error.

use std::collections::HashMap;

use goblin::elf::sym::{STT_FUNC, STT_OBJECT, STT_SECTION};

use crate::btf::{Btf, Member, Type, TypeId};
use crate::elf::{ElfFile, SymbolPlace};
use crate::error::LoadErrorKind;
use crate::map_check::{
    BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_PROG_ARRAY, MapProblem,
    check_definition,
};
use crate::map_defs::empty_map;
use crate::object::{BTF_MAPS_SECTION, MapSlot, ObjectMap, ObjectMapKind, Pinning, SlotTarget};

/// `R_BPF_64_64` and `R_BPF_64_ABS64`: the relocations clang emits for a pointer in data.
const POINTER_RELOCATIONS: [u32; 2] = [1, 2];

/// A map found in `.maps`, with where its definition lies.
struct Found {
    offset: u64,
    size: u64,
    /// Byte offset of the `values` member in the definition.
    values_offset: Option<u64>,
    map: ObjectMap,
}

/// The maps of the `.maps` section (ELF index `section`), with their offsets in it.
pub(crate) fn collect(
    elf: &ElfFile,
    btf: Option<&Btf>,
    section: usize,
) -> Result<Vec<(u64, ObjectMap)>, LoadErrorKind> {
    let header = &elf.sections[section];
    let bad_section = |reason: &str| LoadErrorKind::BadSection {
        section: BTF_MAPS_SECTION.to_owned(),
        reason: reason.to_owned(),
    };
    let Some(btf) = btf else {
        return if header.size == 0 {
            Ok(Vec::new())
        } else {
            Err(LoadErrorKind::MissingBtf)
        };
    };
    let Some((_, vars)) = btf.datasec(BTF_MAPS_SECTION) else {
        return if header.size == 0 {
            Ok(Vec::new())
        } else {
            Err(bad_section("no DATASEC .maps in .BTF describes its maps"))
        };
    };
    let offsets: HashMap<&str, u64> = elf
        .symbols
        .iter()
        .filter(|s| s.place == SymbolPlace::Section(section) && s.sym_type == STT_OBJECT)
        .map(|s| (s.name.as_str(), s.value))
        .collect();
    let mut found = Vec::with_capacity(vars.len());
    for info in vars {
        let Ok(Type::Var { name, target, .. }) = btf.get(info.var) else {
            continue;
        };
        let offset = offsets
            .get(name.as_str())
            .copied()
            .unwrap_or(u64::from(info.offset));
        let size = u64::from(info.size);
        let mut map = empty_map(name, ObjectMapKind::Btf);
        let mut values_offset = None;
        if offset.checked_add(size).is_none_or(|end| end > header.size) {
            map.problem = Some(MapProblem::OutOfSection {
                section: BTF_MAPS_SECTION.to_owned(),
                offset,
                size,
                section_size: header.size,
            });
        } else {
            match read_definition(btf, *target, &mut map) {
                Ok(values) => values_offset = values,
                Err(problem) => map.problem = Some(problem),
            }
        }
        found.push(Found {
            offset,
            size,
            values_offset,
            map,
        });
    }
    found.sort_by_key(|f| f.offset);
    initial_values(elf, section, &mut found)?;
    Ok(found.into_iter().map(|f| (f.offset, f.map)).collect())
}

fn bad_member(member: &str, reason: impl Into<String>) -> MapProblem {
    MapProblem::BadMember {
        member: member.to_owned(),
        reason: reason.into(),
    }
}

/// The value of `__uint(name, N)`: N, the length of the array the member points to.
fn uint_member(btf: &Btf, member: &Member, name: &str) -> Result<u32, MapProblem> {
    let pointee = pointer_member(btf, member, name, "__uint")?;
    match btf.resolved(pointee).map_err(MapProblem::Btf)?.1 {
        Type::Array(array) => Ok(array.len),
        other => Err(bad_member(
            name,
            format!(
                "points to a type of kind {}, not to an array: declare it with __uint({name}, ...)",
                other.kind_name()
            ),
        )),
    }
}

/// The pointee of a pointer member (`__uint`, `__type` and `__array` all declare pointers).
fn pointer_member(
    btf: &Btf,
    member: &Member,
    name: &str,
    macro_name: &str,
) -> Result<TypeId, MapProblem> {
    if member.bitfield_size.is_some() {
        return Err(bad_member(
            name,
            format!("is a bitfield: declare it with {macro_name}({name}, ...)"),
        ));
    }
    match btf.resolved(member.type_id).map_err(MapProblem::Btf)?.1 {
        Type::Ptr { target } => Ok(*target),
        other => Err(bad_member(
            name,
            format!(
                "is of kind {}, not a pointer: declare it with {macro_name}({name}, ...)",
                other.kind_name()
            ),
        )),
    }
}

/// Sets a size once: a second, different value is a conflict.
fn set_size(slot: &mut u32, value: u32, name: &str) -> Result<(), MapProblem> {
    if *slot != 0 && *slot != value {
        return Err(bad_member(
            name,
            format!(
                "gives size {value}, but the definition already gave {}",
                *slot
            ),
        ));
    }
    *slot = value;
    Ok(())
}

/// Reads the definition struct `type_id` into `map`; returns the byte
/// offset of its `values` member, when it has one.
fn read_definition(
    btf: &Btf,
    type_id: TypeId,
    map: &mut ObjectMap,
) -> Result<Option<u64>, MapProblem> {
    let definition = match btf.resolved(type_id).map_err(MapProblem::Btf)?.1 {
        Type::Struct(definition) => definition,
        other => {
            return Err(bad_member(
                "(definition)",
                format!("a map definition is a struct, not a {}", other.kind_name()),
            ));
        }
    };
    let mut values = None;
    for member in &definition.members {
        let Some(name) = member.name.as_deref() else {
            return Err(bad_member(
                "(anonymous)",
                "a map definition's members are named",
            ));
        };
        match name {
            "type" => map.def.map_type = uint_member(btf, member, name)?,
            "max_entries" => map.def.max_entries = uint_member(btf, member, name)?,
            "map_flags" => map.def.map_flags = uint_member(btf, member, name)?,
            "numa_node" | "map_extra" => {
                uint_member(btf, member, name)?;
            }
            "key_size" => {
                let size = uint_member(btf, member, name)?;
                set_size(&mut map.def.key_size, size, name)?;
            }
            "value_size" => {
                let size = uint_member(btf, member, name)?;
                set_size(&mut map.def.value_size, size, name)?;
            }
            "key" | "value" => {
                let pointee = pointer_member(btf, member, name, "__type")?;
                let size = btf.size_of(pointee).map_err(MapProblem::Btf)?;
                if name == "key" {
                    set_size(&mut map.def.key_size, size, name)?;
                    map.key_type = Some(pointee);
                } else {
                    set_size(&mut map.def.value_size, size, name)?;
                    map.value_type = Some(pointee);
                }
            }
            "pinning" => {
                map.pinning = match uint_member(btf, member, name)? {
                    0 => Pinning::None,
                    1 => Pinning::ByName,
                    value => return Err(MapProblem::BadPinning { value }),
                }
            }
            "values" => values = Some(member),
            other => {
                return Err(bad_member(
                    other,
                    "unknown member (libbpf knows type, key, value, key_size, value_size, \
                     max_entries, map_flags, numa_node, map_extra, pinning and values)",
                ));
            }
        }
    }
    let values_offset = match values {
        Some(member) => Some(read_values(btf, member, map)?),
        None => None,
    };
    check_definition(&map.def)?;
    Ok(values_offset)
}

/// Checks `__array(values, T)` against the map type; keys and values of
/// maps of programs or of maps are 4 bytes.
fn read_values(btf: &Btf, member: &Member, map: &mut ObjectMap) -> Result<u64, MapProblem> {
    let name = "values";
    let of_programs = map.def.map_type == BPF_MAP_TYPE_PROG_ARRAY;
    if !of_programs
        && map.def.map_type != BPF_MAP_TYPE_ARRAY_OF_MAPS
        && map.def.map_type != BPF_MAP_TYPE_HASH_OF_MAPS
    {
        return Err(bad_member(
            name,
            "only maps of programs (prog_array) or of maps (array_of_maps, hash_of_maps) have values",
        ));
    }
    let array = match btf.resolved(member.type_id).map_err(MapProblem::Btf)?.1 {
        Type::Array(array) if array.len == 0 && member.bitfield_size.is_none() => *array,
        _ => {
            return Err(bad_member(
                name,
                "must be a flexible array of pointers: declare it with __array(values, ...)",
            ));
        }
    };
    let element = btf.resolved(array.elem).map_err(MapProblem::Btf)?.1;
    let Type::Ptr { target } = element else {
        return Err(bad_member(
            name,
            format!("its elements are {}s, not pointers", element.kind_name()),
        ));
    };
    let pointee = btf.resolved(*target).map_err(MapProblem::Btf)?.1;
    match (of_programs, pointee) {
        (true, Type::FuncProto { .. }) | (false, Type::Struct(_)) => {}
        (true, other) => {
            return Err(bad_member(
                name,
                format!(
                    "a map of programs holds functions, not {}s",
                    other.kind_name()
                ),
            ));
        }
        (false, other) => {
            return Err(bad_member(
                name,
                format!(
                    "a map of maps holds inner map definitions (structs), not {}s",
                    other.kind_name()
                ),
            ));
        }
    }
    if map.def.key_size == 0 {
        map.def.key_size = 4;
    }
    set_size(&mut map.def.value_size, 4, name)?;
    member
        .byte_offset()
        .map(u64::from)
        .ok_or_else(|| bad_member(name, "does not start on a byte boundary"))
}

/// Applies `.rel.maps`: each relocation is one initial entry of a map's
/// `values` (a program of the object, or another map).
fn initial_values(elf: &ElfFile, section: usize, found: &mut [Found]) -> Result<(), LoadErrorKind> {
    let size = elf.sections[section].size;
    for table in elf.relocations.iter().filter(|t| t.target == section) {
        table.check()?;
        for entry in 0..table.entries.len() {
            let reloc = table.entry(entry, elf.symbols.len(), BTF_MAPS_SECTION, size, 1)?;
            let holder = found
                .partition_point(|f| f.offset <= reloc.offset)
                .checked_sub(1)
                .filter(|&i| reloc.offset < found[i].offset + found[i].size)
                .ok_or_else(|| LoadErrorKind::BadSection {
                    section: table.name.clone(),
                    reason: format!(
                        "entry {entry} at offset {} is inside no map definition",
                        reloc.offset
                    ),
                })?;
            let map = &mut found[holder];
            if map.map.problem.is_some() {
                continue;
            }
            let sym = &elf.symbols[reloc.symbol];
            let slot = slot_of(map, reloc.offset, reloc.r_type).and_then(|index| {
                let target = if map.map.def.map_type == BPF_MAP_TYPE_PROG_ARRAY {
                    let in_program_section = match sym.place {
                        SymbolPlace::Section(s) => {
                            elf.sections[s].is_code() && elf.sections[s].name != ".text"
                        }
                        _ => false,
                    };
                    if sym.sym_type != STT_FUNC || !in_program_section {
                        return Err(format!(
                            "slot {index} refers to {}, which is not a program of the object",
                            sym.name
                        ));
                    }
                    SlotTarget::Program(sym.name.clone())
                } else {
                    if sym.place != SymbolPlace::Section(section) || sym.sym_type == STT_SECTION {
                        return Err(format!(
                            "slot {index} refers to {}, which is not a map in .maps",
                            sym.name
                        ));
                    }
                    SlotTarget::Map(sym.name.clone())
                };
                Ok(MapSlot { index, target })
            });
            match slot {
                Ok(slot) => map.map.initial_slots.push(slot),
                Err(reason) => map.map.problem = Some(MapProblem::BadInitialValue { reason }),
            }
        }
    }
    for map in found.iter_mut() {
        map.map.initial_slots.sort_by_key(|s| s.index);
    }
    Ok(())
}

/// The slot index a relocation at `offset` initialises in `map`'s `values`.
fn slot_of(map: &Found, offset: u64, r_type: u32) -> Result<u32, String> {
    let Some(values) = map.values_offset else {
        return Err(format!(
            "a relocation at offset {offset}, but the definition has no values member"
        ));
    };
    if !POINTER_RELOCATIONS.contains(&r_type) {
        return Err(format!("relocation type {r_type} is not a 64-bit pointer"));
    }
    let within = (offset - map.offset)
        .checked_sub(values)
        .filter(|within| within % 8 == 0)
        .ok_or_else(|| format!("the relocation at offset {offset} is not on a values slot"))?;
    let index = u32::try_from(within / 8)
        .ok()
        .filter(|&index| index < map.map.def.max_entries)
        .ok_or_else(|| {
            format!(
                "slot {} is past max_entries ({})",
                within / 8,
                map.map.def.max_entries
            )
        })?;
    Ok(index)
}
