//! Map creation: the one place where an object's map definitions become
//! live maps.
//!
//! [`create_map`] takes a map's definition with its pinning and initial
//! values. Today it creates `BPF_MAP_TYPE_ARRAY` maps (legacy, BTF-defined
//! and global data) with [`ArrayMap`]; every other type is a typed
//! [`LoadErrorKind::UnsupportedMapType`] naming the map and its type. When
//! the maps crate's generic handle lands, this module is the only one to
//! change: [`cannot_create`] and the `ArrayMap::new` call in
//! [`create_map`].

use std::path::PathBuf;

use tinybpf_maps::{ArrayMap, BPF_ANY, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY};

use crate::error::{LoadError, LoadErrorKind};
use crate::link::LinkedProgram;
use crate::object::{Object, ObjectMap, ObjectMapKind, Pinning};

/// How maps are created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// Where maps pinned by name (`LIBBPF_PIN_BY_NAME`) live: the map is the
    /// file `pin_root/NAME`, reused when it exists with the same definition
    /// (its contents kept), created otherwise. `None`: pinning is ignored and
    /// every map is private.
    pub pin_root: Option<PathBuf>,
}

/// Why `map` cannot be created, or `None` when it can.
pub(crate) fn cannot_create(map: &ObjectMap) -> Option<LoadErrorKind> {
    if let Some(problem) = &map.problem {
        return Some(LoadErrorKind::BadMap {
            map: map.name.clone(),
            problem: problem.clone(),
        });
    }
    if map.def.map_type != BPF_MAP_TYPE_ARRAY {
        return Some(LoadErrorKind::UnsupportedMapType {
            map: map.name.clone(),
            map_type: map.def.map_type,
            type_name: map.type_name(),
        });
    }
    None
}

/// Creates one map from its definition, pinning and initial values: global
/// data receives its initial bytes at key 0, and `.rodata*` is then frozen.
/// A map pinned by name that already exists is reused as it is.
pub fn create_map(map: &ObjectMap, options: &CreateOptions) -> Result<ArrayMap, LoadErrorKind> {
    if let Some(reason) = cannot_create(map) {
        return Err(reason);
    }
    let fail = |source| LoadErrorKind::Map {
        map: map.name.clone(),
        source,
    };
    let pin = |source| LoadErrorKind::Pin {
        map: map.name.clone(),
        source,
    };
    let pin_path = match (map.pinning, &options.pin_root) {
        (Pinning::ByName, Some(root)) => Some(root.join(&map.name)),
        _ => None,
    };
    let array = match &pin_path {
        Some(path) if path.exists() => {
            let pinned = ArrayMap::open_pinned(path).map_err(pin)?;
            if *pinned.def() != map.def {
                return Err(LoadErrorKind::PinMismatch {
                    map: map.name.clone(),
                    path: path.clone(),
                    pinned: *pinned.def(),
                    wanted: map.def,
                });
            }
            return Ok(pinned);
        }
        Some(path) => ArrayMap::create_pinned(path, map.def).map_err(pin)?,
        None => ArrayMap::new(map.def).map_err(fail)?,
    };
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
}

impl Object {
    /// Creates map `index` of [`Object::maps`].
    pub fn create_map(&self, index: usize, options: &CreateOptions) -> Result<ArrayMap, LoadError> {
        let map = self.maps.get(index).ok_or_else(|| {
            self.error(LoadErrorKind::NoSuchMap {
                map: format!("#{index}"),
                available: crate::object::join_or_none(self.maps.iter().map(|m| m.name.as_str())),
            })
        })?;
        create_map(map, options).map_err(|kind| self.error(kind))
    }

    /// Creates the maps a linked program uses, in the order its code's map
    /// indices refer to them (new maps each time: to share maps between
    /// programs, create each once with [`Object::create_map`] and pick them
    /// by [`LinkedProgram::maps`]).
    pub fn create_maps_for(
        &self,
        program: &LinkedProgram,
        options: &CreateOptions,
    ) -> Result<Vec<ArrayMap>, LoadError> {
        program
            .maps
            .iter()
            .map(|&index| self.create_map(index, options))
            .collect()
    }

    /// Creates every map of the object, in the order of [`Object::maps`];
    /// fails on the first that cannot be created.
    pub fn create_maps(&self, options: &CreateOptions) -> Result<Vec<ArrayMap>, LoadError> {
        (0..self.maps.len())
            .map(|index| self.create_map(index, options))
            .collect()
    }
}
