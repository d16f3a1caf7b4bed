//! Pinned maps from the library: an [`Object`] whose array maps live as
//! files in a directory ([`Object::with_pin_dir`]), shared with every other
//! process that opens them, and a pinned map opened by its path
//! ([`Map::open_pinned`]).
//!
//! As libbpf does, a map declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)`
//! reuses the file `DIR/NAME` when it exists (its contents kept, its
//! definition checked); as bpftool's `pinmaps` does, every other array map
//! gets a new file there (a file already there is an error, not silently
//! reused). Maps of other types stay private (tinybpf pins arrays only).

use std::path::{Path, PathBuf};

use tinybpf_loader::{CreateOptions, LoadError, LoadErrorKind, ObjectMapKind, Pinning, pin_path};
use tinybpf_maps::{ArrayMap, BpfMap};

use crate::error::Error;
use crate::map::Map;
use crate::object::Object;

/// A map of an object pinned by [`Object::with_pin_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedMap {
    /// The map's name.
    pub name: String,
    /// Its pin file.
    pub path: PathBuf,
    /// True when an existing pin was reused (a map pinned by name), false
    /// when the file was created by this object.
    pub reused: bool,
}

impl Object {
    /// The same object with its array maps pinned in `dir` (an existing
    /// directory), all created now: a map declared with
    /// `LIBBPF_PIN_BY_NAME` reuses `dir/NAME` when it exists, as libbpf
    /// does; every other array map gets a new file `dir/NAME`. Another
    /// process sees and makes updates live ([`Map::open_pinned`], or the
    /// same object opened with the same directory).
    ///
    /// Everything is checked before any file is made: a pin of another
    /// shape, a file in the way of a map not pinned by name, a map pinned by
    /// name that is not an array. When a file cannot be made (a directory
    /// that is not writable), the files made so far are removed again:
    /// nothing is half pinned. Set global variables
    /// and the possible CPUs before: the maps are
    /// created here. Call it once, before any program is loaded or map
    /// created ([`Error::PinTooLate`] otherwise).
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// use tinybpf::{Map, Object};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/shared_counters.o");
    /// let dir = std::env::temp_dir().join(format!("tinybpf-doc-pins-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let first = Object::open(path)?.with_pin_dir(&dir)?;
    /// first.program("count_packets")?.run(&mut tinybpf::default_packet())?;
    /// // Another process, or another object in this one, shares the counters:
    /// let second = Object::open(path)?.with_pin_dir(&dir)?;
    /// second.program("count_packets")?.run(&mut tinybpf::default_packet())?;
    /// let counters = Map::open_pinned(dir.join("counters"))?;
    /// assert_eq!(counters.get_at::<u64>(0)?, 2);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_pin_dir(mut self, dir: impl AsRef<Path>) -> Result<Object, Error> {
        let dir = dir.as_ref();
        if !self.maps().is_empty() || self.pin_dir.is_some() {
            return Err(Error::PinTooLate {
                object: self.name().to_owned(),
            });
        }
        let problem = match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => None,
            Ok(_) => Some("it is not a directory".to_owned()),
            Err(error) => Some(format!("cannot read it ({error})")),
        };
        if let Some(reason) = problem {
            return Err(Error::PinDir {
                dir: dir.to_path_buf(),
                reason,
            });
        }
        let options = CreateOptions {
            pin_root: Some(dir.to_path_buf()),
            pin_all: true,
            ..CreateOptions::default()
        };
        let planned = self.plan_pins(&options)?;
        self.pin_dir = Some(dir.to_path_buf());
        let mut made = Vec::new();
        for (index, path, reused) in &planned {
            if let Err(error) = self.create_map_at(*index) {
                for path in &made {
                    let _ = std::fs::remove_file(path);
                }
                return Err(error);
            }
            if !reused {
                made.push(path.clone());
            }
        }
        self.pinned = planned
            .into_iter()
            .map(|(index, path, reused)| PinnedMap {
                name: self.linked().maps[index].name.clone(),
                path,
                reused,
            })
            .collect();
        Ok(self)
    }

    /// The maps pinned by [`Object::with_pin_dir`], in the object's order.
    pub fn pinned_maps(&self) -> &[PinnedMap] {
        &self.pinned
    }

    /// The directory given to [`Object::with_pin_dir`].
    pub fn pin_dir(&self) -> Option<&Path> {
        self.pin_dir.as_deref()
    }

    /// Which maps get which pin file, every conflict found before any file
    /// is made: (map index, path, reused).
    fn plan_pins(&self, options: &CreateOptions) -> Result<Vec<(usize, PathBuf, bool)>, Error> {
        let fail = |kind| Error::Object(LoadError::new(self.name(), kind));
        let mut planned = Vec::new();
        for (index, map) in self.linked().maps.iter().enumerate() {
            if map.cannot_create().is_some() {
                continue;
            }
            let Some(path) = pin_path(map, options).map_err(fail)? else {
                continue;
            };
            let exists = path.symlink_metadata().is_ok();
            let reused = exists && map.pinning == Pinning::ByName;
            if reused {
                let pinned = ArrayMap::open_pinned(&path).map_err(|source| {
                    fail(LoadErrorKind::Pin {
                        map: map.name.clone(),
                        source,
                    })
                })?;
                if *pinned.def() != map.def {
                    return Err(fail(LoadErrorKind::PinMismatch {
                        map: map.name.clone(),
                        path,
                        pinned: *pinned.def(),
                        wanted: map.def,
                    }));
                }
            } else if exists {
                return Err(fail(LoadErrorKind::PinExists {
                    map: map.name.clone(),
                    path,
                }));
            }
            planned.push((index, path, reused));
        }
        Ok(planned)
    }
}

impl Map {
    /// Opens a map pinned in a file (by [`Object::with_pin_dir`], in this
    /// or another process): reads and writes go to the same values the
    /// programs of the pinning process see. Its name is the file's name;
    /// it belongs to no object ([`Map::kind`] is
    /// [`ObjectMapKind::Legacy`], a definition without BTF), and has the
    /// host's possible CPUs.
    pub fn open_pinned(path: impl AsRef<Path>) -> Result<Map, Error> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let array = ArrayMap::open_pinned(path).map_err(|source| Error::Pinned {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
        Ok(Map {
            object: shown,
            name,
            kind: ObjectMapKind::Legacy,
            map: BpfMap::from_array(array, tinybpf_maps::host_possible_cpus()),
        })
    }
}
