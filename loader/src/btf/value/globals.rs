//! Values of an object's global variables and map entries: the one call
//! each place needs (a variable to show or set, a map's key or value to
//! show or read from JSON), the BTF types looked up from the [`Object`].

use std::collections::{HashMap, HashSet};

use super::Limits;
use super::assign::{Assignment, Patch};
use super::encode::encode_into;
use super::error::{PathStep, Problem, ValueError, describe, name_list, render_path};
use super::format::Formatter;
use super::tree::{ELIDED_KEY, Value};
use crate::btf::{Btf, TypeId};
use crate::object::{GlobalVariable, Object, ObjectMapKind};

/// The bytes of `variable` in its section's bytes, and its type.
fn variable_bytes<'s>(
    variable: &GlobalVariable,
    section: &'s [u8],
) -> Result<(TypeId, &'s [u8]), ValueError> {
    let error = |problem| ValueError {
        path: variable.name.clone(),
        type_name: "?".to_owned(),
        problem,
    };
    let type_id = variable.type_id.ok_or_else(|| error(Problem::NoType))?;
    let start = variable.offset as usize;
    let bytes = section
        .get(start..start.saturating_add(variable.size as usize))
        .ok_or_else(|| {
            error(Problem::Outside {
                bit_offset: u64::from(variable.offset) * 8,
                bits: u64::from(variable.size) * 8,
                outer_bytes: section.len() as u64,
            })
        })?;
    Ok((type_id, bytes))
}

/// The value of global `variable`, read from `section`, the bytes of its
/// whole data section (the map's value). Errors' paths start with the
/// variable's name.
///
/// ```
/// use tinybpf_loader::btf::value::{Limits, format_global};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/btf_globals.o");
/// let object = tinybpf_loader::Object::open(path).unwrap();
/// let btf = object.btf.as_ref().unwrap();
/// let limit = object.variable("limit").unwrap();
/// let rodata = object.maps[limit.map_index].initial_data.as_ref().unwrap();
/// assert_eq!(format_global(btf, limit, rodata, &Limits::FULL).unwrap().to_string(), "100");
/// ```
pub fn format_global(
    btf: &Btf,
    variable: &GlobalVariable,
    section: &[u8],
    limits: &Limits,
) -> Result<Value, ValueError> {
    let (type_id, bytes) = variable_bytes(variable, section)?;
    Formatter::new(btf, limits, bytes.len()).format(&variable.name, type_id, bytes)
}

/// The bytes of `value` as global `variable`, as a [`Patch`] of its data
/// section (at the variable's offset).
pub fn encode_global(
    btf: &Btf,
    variable: &GlobalVariable,
    value: &Value,
) -> Result<Patch, ValueError> {
    let type_id = variable.type_id.ok_or_else(|| ValueError {
        path: variable.name.clone(),
        type_name: "?".to_owned(),
        problem: Problem::NoType,
    })?;
    let mut bytes = vec![0; variable.size as usize];
    encode_into(btf, &variable.name, type_id, value, &mut bytes)?;
    Ok(Patch {
        offset: variable.offset as usize,
        bytes,
    })
}

/// What `assignment` (`NAME.member=VALUE`, its name `variable`'s) writes
/// into `section`, the bytes of the variable's whole data section: a
/// [`Patch`] whose offset is from the start of the section.
///
/// ```
/// use tinybpf_loader::btf::value::{Assignment, assign_global};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/btf_globals.o");
/// let object = tinybpf_loader::Object::open(path).unwrap();
/// let btf = object.btf.as_ref().unwrap();
/// let set = Assignment::parse("limit=7").unwrap();
/// let limit = object.variable(&set.name).unwrap();
/// let mut rodata = object.maps[limit.map_index].initial_data.clone().unwrap();
/// let patch = assign_global(btf, limit, &rodata, &set).unwrap();
/// assert_eq!((patch.offset, patch.bytes.as_slice()), (8, &[7, 0, 0, 0][..]));
/// assert!(patch.apply_to(&mut rodata));
/// ```
pub fn assign_global(
    btf: &Btf,
    variable: &GlobalVariable,
    section: &[u8],
    assignment: &Assignment,
) -> Result<Patch, ValueError> {
    let (type_id, bytes) = variable_bytes(variable, section)?;
    let mut patch = assignment.apply(btf, type_id, bytes)?;
    patch.offset += variable.offset as usize;
    Ok(patch)
}

/// A data section's value as an object of its variables by name, in
/// offset order (bpftool shows `{".data": [{"a": 1}, {"b": 2}]}`; this is
/// `{"a": 1, "b": 2}`). A variable without a BTF type, or whose type's
/// size is not the variable's (a flexible array initialised longer),
/// shows as its bytes ([`Value::Bytes`]). One output budget covers the
/// section.
pub fn format_section<'v>(
    btf: &Btf,
    variables: impl IntoIterator<Item = &'v GlobalVariable>,
    section: &[u8],
    limits: &Limits,
) -> Result<Value, ValueError> {
    let mut formatter = Formatter::new(btf, limits, section.len());
    let variables: Vec<&GlobalVariable> = variables.into_iter().collect();
    let mut members = Vec::with_capacity(variables.len());
    for (i, variable) in variables.iter().enumerate() {
        if formatter.exhausted() {
            let more = (variables.len() - i) as u64;
            members.push((ELIDED_KEY.to_owned(), Value::Elided { more }));
            break;
        }
        let value = match variable_bytes(variable, section) {
            Ok((type_id, bytes)) => match formatter.format(&variable.name, type_id, bytes) {
                Err(ValueError {
                    problem: Problem::WrongSize { .. },
                    ..
                }) => Value::Bytes(bytes.to_vec()),
                other => other?,
            },
            Err(ValueError {
                problem: Problem::NoType,
                ..
            }) => {
                let start = variable.offset as usize;
                let end = start.saturating_add(variable.size as usize);
                Value::Bytes(section.get(start..end).unwrap_or_default().to_vec())
            }
            Err(other) => return Err(other),
        };
        members.push((variable.name.clone(), value));
    }
    Ok(Value::Object(members))
}

/// A data section's bytes (`size` of them, zero but for what is given)
/// from an object of its variables by name, as [`format_section`] writes
/// it (a [`Value::Bytes`] of a variable's size stored as it is); bpftool's
/// form `{"SECTION": [{"a": 1}, {"b": 2}]}` is read too.
/// Errors' paths start with the variable's name.
pub fn encode_section<'v>(
    btf: &Btf,
    variables: impl IntoIterator<Item = &'v GlobalVariable>,
    value: &Value,
    size: usize,
) -> Result<Vec<u8>, ValueError> {
    let by_name: HashMap<&str, &GlobalVariable> = variables
        .into_iter()
        .map(|v| (v.name.as_str(), v))
        .collect();
    let section_error = |problem| ValueError {
        path: String::new(),
        type_name: "data section".to_owned(),
        problem,
    };
    let given = section_members(value).ok_or_else(|| {
        section_error(Problem::Expected {
            expected: "an object of variables by name",
            found: describe(value),
        })
    })?;
    let mut out = vec![0; size];
    let mut seen = HashSet::new();
    for (name, member) in given {
        let Some(variable) = by_name.get(name.as_str()) else {
            let mut known: Vec<&str> = by_name.keys().copied().collect();
            known.sort_unstable();
            return Err(section_error(Problem::UnknownMember {
                name: name.clone(),
                members: name_list(known.into_iter(), 24),
            }));
        };
        if !seen.insert(name.as_str()) {
            return Err(section_error(Problem::DuplicateMember {
                name: name.clone(),
            }));
        }
        let patch = match member {
            // As format_section shows a variable it cannot type.
            Value::Bytes(bytes) if bytes.len() == variable.size as usize => Patch {
                offset: variable.offset as usize,
                bytes: bytes.clone(),
            },
            _ => encode_global(btf, variable, member)?,
        };
        if !patch.apply_to(&mut out) {
            return Err(ValueError {
                path: render_path(name, &[] as &[PathStep]),
                type_name: btf.type_name(variable.type_id.unwrap_or_default()),
                problem: Problem::Outside {
                    bit_offset: patch.offset as u64 * 8,
                    bits: patch.bytes.len() as u64 * 8,
                    outer_bytes: size as u64,
                },
            });
        }
    }
    Ok(out)
}

/// The (name, value) pairs of a section's value: `{"a": 1}`, or bpftool's
/// `{"SECTION": [{"a": 1}, ...]}`.
fn section_members(value: &Value) -> Option<Vec<&(String, Value)>> {
    let Value::Object(members) = value else {
        return None;
    };
    if let [(name, Value::List(items))] = members.as_slice()
        && name.starts_with('.')
    {
        let mut flat = Vec::new();
        for item in items {
            match item {
                Value::Object(inner) => flat.extend(inner.iter()),
                _ => return None,
            }
        }
        return Some(flat);
    }
    Some(members.iter().collect())
}

/// The BTF types of one map's keys and values: what the table, `--json`
/// and `--maps-in` call to show and read its entries.
///
/// ```
/// use tinybpf_loader::btf::value::{Limits, MapTypes, Value};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/btf_maps.o");
/// let object = tinybpf_loader::Object::open(path).unwrap();
/// let index = object.maps.iter().position(|m| m.name == "pairs").unwrap();
/// let types = MapTypes::of(&object, index).unwrap();
/// let value = [3, 0, 0, 0, 192, 0, 0, 0];
/// let shown = types.format_value(&value, &Limits::TABLE).unwrap().unwrap();
/// assert_eq!(shown.to_string(), "{packets: 3, bytes: 192}");
/// let read = Value::parse_json(r#"{"packets": 3, "bytes": 192}"#).unwrap();
/// assert_eq!(types.encode_value(&read).unwrap().unwrap(), value);
/// assert!(types.format_key(&[1, 0, 0, 0], &Limits::TABLE).is_none(), "key_size given as a number");
/// ```
#[derive(Debug, Clone)]
pub struct MapTypes<'a> {
    btf: &'a Btf,
    key: Option<TypeId>,
    value: ValueType<'a>,
    value_size: usize,
}

#[derive(Debug, Clone)]
enum ValueType<'a> {
    Plain(TypeId),
    Section(Vec<&'a GlobalVariable>),
}

impl<'a> MapTypes<'a> {
    /// The types of map `map_index` of `object`; `None` when the object
    /// has no BTF, there is no such map, or the map names no types.
    pub fn of(object: &'a Object, map_index: usize) -> Option<MapTypes<'a>> {
        let btf = object.btf.as_ref()?;
        let map = object.maps.get(map_index)?;
        let value = match (&map.kind, map.value_type) {
            (ObjectMapKind::GlobalData { .. }, _) => Some(ValueType::Section(
                object
                    .variables
                    .iter()
                    .filter(|v| v.map_index == map_index)
                    .collect(),
            )),
            (_, Some(id)) => Some(ValueType::Plain(id)),
            (_, None) => None,
        };
        if map.key_type.is_none() && value.is_none() {
            return None;
        }
        Some(MapTypes {
            btf,
            key: map.key_type,
            value: value.unwrap_or(ValueType::Section(Vec::new())),
            value_size: map.def.value_size as usize,
        })
    }

    /// The keys' type, when the map names one.
    pub fn key_type(&self) -> Option<TypeId> {
        self.key
    }

    /// A key's value (`None` when the map's keys have no type); errors'
    /// paths start with `key`.
    pub fn format_key(&self, key: &[u8], limits: &Limits) -> Option<Result<Value, ValueError>> {
        let id = self.key?;
        Some(Formatter::new(self.btf, limits, key.len()).format("key", id, key))
    }

    /// A value's value (for a global data section, its variables by name);
    /// `None` when the map's values have no type. Errors' paths start with
    /// `value` (or the variable's name).
    pub fn format_value(&self, value: &[u8], limits: &Limits) -> Option<Result<Value, ValueError>> {
        match &self.value {
            ValueType::Plain(id) => {
                Some(Formatter::new(self.btf, limits, value.len()).format("value", *id, value))
            }
            ValueType::Section(vars) if !vars.is_empty() => Some(format_section(
                self.btf,
                vars.iter().copied(),
                value,
                limits,
            )),
            ValueType::Section(_) => None,
        }
    }

    /// A key's bytes from a value (`None` when the keys have no type).
    pub fn encode_key(&self, key: &Value) -> Option<Result<Vec<u8>, ValueError>> {
        let id = self.key?;
        Some(encode_rooted(self.btf, "key", id, key))
    }

    /// A value's bytes from a value (`None` when the values have no type).
    pub fn encode_value(&self, value: &Value) -> Option<Result<Vec<u8>, ValueError>> {
        match &self.value {
            ValueType::Plain(id) => Some(encode_rooted(self.btf, "value", *id, value)),
            ValueType::Section(vars) if !vars.is_empty() => Some(encode_section(
                self.btf,
                vars.iter().copied(),
                value,
                self.value_size,
            )),
            ValueType::Section(_) => None,
        }
    }
}

fn encode_rooted(btf: &Btf, root: &str, id: TypeId, value: &Value) -> Result<Vec<u8>, ValueError> {
    let size = btf.size_of(id).map_err(|e| ValueError {
        path: root.to_owned(),
        type_name: btf.type_name(id),
        problem: Problem::Btf(e),
    })?;
    let mut out = vec![0; size as usize];
    encode_into(btf, root, id, value, &mut out)?;
    Ok(out)
}
