//! Map creation: the one place where an object's map definitions become
//! live maps.
//!
//! [`create_map`] takes a map's definition with its pinning and initial
//! values and creates a [`BpfMap`] of its type (every type
//! `tinybpf_maps` supports: arrays, hashes, per-CPU, LPM trie, redirect,
//! program and perf event arrays, ring buffers), with the kernel's creation
//! checks. A type tinybpf does not support (maps of maps, socket, cgroup
//! and storage maps, ...) is a typed [`LoadErrorKind::UnsupportedMapType`]
//! naming the map, its type and why.
//!
//! Pinning ([`CreateOptions::pin_root`]) is supported for array maps
//! (file-backed, shared with other processes): a map declared with
//! `__uint(pinning, LIBBPF_PIN_BY_NAME)` reuses the file `pin_root/NAME`
//! when it exists with the same definition, as libbpf does; with
//! [`CreateOptions::pin_all`] every other array is pinned there too, as a
//! new file, as bpftool's `pinmaps` does. A map pinned by name of another
//! type is [`LoadErrorKind::PinUnsupported`].
//!
//! The initial entries of a program array (`__array(values, ...)` with
//! `.values = { [i] = &prog }`) are stored as the index of the program in
//! [`Object::programs`], the program reference a tail call resolves
//! ([`Object::create_map`] applies them; [`create_map`] alone cannot, as it
//! does not see the object's programs).

use std::path::PathBuf;

use tinybpf_maps::{ArrayMap, BPF_ANY, BPF_F_RDONLY_PROG, BpfMap, MapOptions, MapType};

use crate::error::{LoadError, LoadErrorKind};
use crate::link::LinkedProgram;
use crate::map_check::{MapProblem, known_type};
use crate::object::{Object, ObjectMap, ObjectMapKind, Pinning, SlotTarget};

/// How maps are created.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Where maps pinned by name (`LIBBPF_PIN_BY_NAME`) live: the map is the
    /// file `pin_root/NAME`, reused when it exists with the same definition
    /// (its contents kept), created otherwise. Array maps only. `None`:
    /// pinning is ignored and every map is private.
    pub pin_root: Option<PathBuf>,
    /// With a `pin_root`, pin every array map there, not only those pinned
    /// by name: each gets a new file `pin_root/NAME` (a file already there
    /// is [`LoadErrorKind::PinExists`]: only maps pinned by name reuse a
    /// pin). Maps of other types stay private.
    pub pin_all: bool,
    /// The possible CPUs (per-CPU maps hold one value per CPU; a perf event
    /// array defined with `max_entries` 0 gets one entry per CPU), the
    /// memory budget the maps are charged to (give the maps of one object
    /// the same [`MemoryBudget`](tinybpf_maps::MemoryBudget)), and the perf
    /// event buffer size. By default: the host's possible CPUs, no budget.
    pub map_options: MapOptions,
}

/// Why `map` cannot be created, or `None` when it can.
pub(crate) fn cannot_create(map: &ObjectMap) -> Option<LoadErrorKind> {
    if let Some(problem) = &map.problem {
        return Some(LoadErrorKind::BadMap {
            map: map.name.clone(),
            problem: problem.clone(),
        });
    }
    let reason = known_type(map.def.map_type).and_then(MapType::unsupported_reason)?;
    Some(LoadErrorKind::UnsupportedMapType {
        map: map.name.clone(),
        map_type: map.def.map_type,
        type_name: map.type_name(),
        reason,
    })
}

/// The longest file name (`NAME_MAX`).
const MAX_PIN_NAME: usize = 255;

/// Where `map` is pinned under `options`: `Some(pin_root/NAME)` for a map
/// pinned by name, or for any array map with [`CreateOptions::pin_all`];
/// `None` when it stays private. A map pinned by name whose type cannot be
/// pinned is [`LoadErrorKind::PinUnsupported`]; a name that is not one
/// plain file name (empty, `.`, `..`, with a `/` or a NUL, longer than
/// 255 bytes) is
/// [`LoadErrorKind::PinName`], so that no name reaches outside the
/// directory.
pub fn pin_path(
    map: &ObjectMap,
    options: &CreateOptions,
) -> Result<Option<PathBuf>, LoadErrorKind> {
    let Some(root) = &options.pin_root else {
        return Ok(None);
    };
    let is_array = map.map_type() == Some(MapType::Array);
    match (map.pinning, is_array) {
        (Pinning::ByName, false) => {
            return Err(LoadErrorKind::PinUnsupported {
                map: map.name.clone(),
                type_name: map.type_name(),
            });
        }
        (Pinning::None, false) => return Ok(None),
        (Pinning::None, true) if !options.pin_all => return Ok(None),
        _ => {}
    }
    let reason = match map.name.as_str() {
        "" => Some("it is empty"),
        "." | ".." => Some("it names a directory"),
        name if name.contains('/') => Some("it holds a '/'"),
        name if name.contains('\0') => Some("it holds a NUL byte"),
        name if name.len() > MAX_PIN_NAME => {
            Some("it is longer than the 255 bytes a file name may have")
        }
        _ => None,
    };
    if let Some(reason) = reason {
        return Err(LoadErrorKind::PinName {
            map: map.name.clone(),
            reason,
        });
    }
    Ok(Some(root.join(&map.name)))
}

/// Creates one map from its definition, pinning and initial values: global
/// data receives its initial bytes at key 0, and `.rodata*` is then frozen.
/// A map pinned by name that already exists is reused as it is.
///
/// ```
/// # fn main() -> Result<(), tinybpf_loader::LoadError> {
/// use tinybpf_loader::{CreateOptions, Object, create_map};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/globals.o");
/// let object = Object::open(path)?;
/// let data = object.maps.iter().find(|m| m.name == ".data").unwrap();
/// let map = create_map(data, &CreateOptions::default()).map_err(|k| tinybpf_loader::LoadError::new("globals.o", k))?;
/// assert_eq!(map.map_type().name(), "array");
/// # Ok(())
/// # }
/// ```
pub fn create_map(map: &ObjectMap, options: &CreateOptions) -> Result<BpfMap, LoadErrorKind> {
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
    let cpus = options.map_options.possible_cpus;
    let created = match pin_path(map, options)? {
        Some(path) if map.pinning == Pinning::ByName && path.exists() => {
            let pinned = ArrayMap::open_pinned(&path).map_err(pin)?;
            if *pinned.def() != map.def {
                return Err(LoadErrorKind::PinMismatch {
                    map: map.name.clone(),
                    path,
                    pinned: *pinned.def(),
                    wanted: map.def,
                });
            }
            return Ok(BpfMap::from_array(pinned, cpus));
        }
        Some(path) => {
            if path.exists() || path.symlink_metadata().is_ok() {
                return Err(LoadErrorKind::PinExists {
                    map: map.name.clone(),
                    path,
                });
            }
            BpfMap::from_array(ArrayMap::create_pinned(&path, map.def).map_err(pin)?, cpus)
        }
        None => BpfMap::create(map.def, &options.map_options).map_err(fail)?,
    };
    if let Some(data) = &map.initial_data {
        created
            .update(&0u32.to_le_bytes(), data, BPF_ANY)
            .map_err(fail)?;
    }
    if matches!(map.kind, ObjectMapKind::GlobalData { .. })
        && map.def.map_flags & BPF_F_RDONLY_PROG != 0
    {
        created.freeze().map_err(fail)?;
    }
    Ok(created)
}

impl Object {
    /// Creates map `index` of [`Object::maps`], with the initial entries of
    /// a program array (each program's index in [`Object::programs`]).
    pub fn create_map(&self, index: usize, options: &CreateOptions) -> Result<BpfMap, LoadError> {
        let map = self.maps.get(index).ok_or_else(|| {
            self.error(LoadErrorKind::NoSuchMap {
                map: format!("#{index}"),
                available: crate::object::join_or_none(self.maps.iter().map(|m| m.name.as_str())),
            })
        })?;
        let created = create_map(map, options).map_err(|kind| self.error(kind))?;
        if map.map_type() == Some(MapType::ProgArray) {
            for slot in &map.initial_slots {
                let SlotTarget::Program(name) = &slot.target else {
                    continue;
                };
                let program = self.programs.iter().position(|p| &p.name == name);
                let Some(program) = program.and_then(|p| u32::try_from(p).ok()) else {
                    return Err(self.error(LoadErrorKind::BadMap {
                        map: map.name.clone(),
                        problem: MapProblem::BadInitialValue {
                            reason: format!(
                                "slot {} refers to {name}, which is not a program of the object",
                                slot.index
                            ),
                        },
                    }));
                };
                created
                    .update(&slot.index.to_le_bytes(), &program.to_le_bytes(), BPF_ANY)
                    .map_err(|source| {
                        self.error(LoadErrorKind::Map {
                            map: map.name.clone(),
                            source,
                        })
                    })?;
            }
        }
        Ok(created)
    }

    /// Creates the maps a linked program uses, in the order its code's map
    /// indices refer to them (new maps each time: to share maps between
    /// programs, create each once with [`Object::create_map`] and pick them
    /// by [`LinkedProgram::maps`]).
    pub fn create_maps_for(
        &self,
        program: &LinkedProgram,
        options: &CreateOptions,
    ) -> Result<Vec<BpfMap>, LoadError> {
        program
            .maps
            .iter()
            .map(|&index| self.create_map(index, options))
            .collect()
    }

    /// Creates every map of the object, in the order of [`Object::maps`];
    /// fails on the first that cannot be created.
    pub fn create_maps(&self, options: &CreateOptions) -> Result<Vec<BpfMap>, LoadError> {
        (0..self.maps.len())
            .map(|index| self.create_map(index, options))
            .collect()
    }
}
