//! [`Map`]: typed user-space access to a map of an opened object, of any
//! type, as the `bpf(2)` syscall gives it.

use tinybpf_loader::ObjectMapKind;
use tinybpf_maps::{ArrayMap, BPF_ANY, BpfMap, DumpOptions, Entries, MapDef, MapType};

use crate::error::Error;
use crate::table::{TableOptions, write_map_table};
use crate::value::Plain;

/// A map of an opened object, shared with every program loaded from it.
///
/// Keys and values are typed ([`Plain`]: integers and byte arrays, or your
/// own type) and must have the map's `key_size` and `value_size`; the
/// `_bytes` calls take raw bytes. Per-CPU maps hold one value per possible
/// CPU: read them with [`Map::get_percpu`] and write them with
/// [`Map::set_percpu`] (or [`Map::set`], which gives every CPU the same
/// value). Errors carry the kernel's errno ([`Error::Map`]).
///
/// ```
/// # fn main() -> Result<(), tinybpf::Error> {
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/hash_ops.o");
/// let object = tinybpf::Object::open(path)?;
/// let flows = object.map("flows")?;
/// assert_eq!(flows.type_name(), "hash");
/// flows.set(&7u32, &70u64)?;
/// assert_eq!(flows.get::<u32, u64>(&7)?, 70);
/// flows.delete(&7u32)?;
/// assert!(flows.get::<u32, u64>(&7).is_err()); // ENOENT
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Map {
    pub(crate) object: String,
    pub(crate) name: String,
    pub(crate) kind: ObjectMapKind,
    pub(crate) map: BpfMap,
}

impl Map {
    /// The map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its definition (as created: a perf event array defined with
    /// `max_entries` 0 has one entry per CPU).
    pub fn def(&self) -> &MapDef {
        self.map.def()
    }

    /// Its type.
    pub fn map_type(&self) -> MapType {
        self.map.map_type()
    }

    /// The map type's bpftool name (`array`, `hash`, `percpu_array`, ...).
    pub fn type_name(&self) -> &'static str {
        self.map_type().name()
    }

    /// Whether it is a `SEC("maps")` or `SEC(".maps")` map, or backs a global data section.
    pub fn kind(&self) -> &ObjectMapKind {
        &self.kind
    }

    /// The map itself (every operation of the maps crate).
    pub fn bpf_map(&self) -> &BpfMap {
        &self.map
    }

    /// The underlying array, for an array map (views, dump).
    pub fn array(&self) -> Option<&ArrayMap> {
        self.map.as_array()
    }

    /// True once frozen (read-only for user space), as `.rodata` is.
    pub fn is_frozen(&self) -> bool {
        self.map.is_frozen()
    }

    /// The number of possible CPUs the map was created for.
    pub fn possible_cpus(&self) -> u32 {
        self.map.possible_cpus()
    }

    /// The size of a value as user space reads and writes it with the
    /// `_bytes` calls: `value_size`, or for per-CPU maps each CPU's value
    /// padded to 8 bytes, concatenated (the kernel's format).
    pub fn user_value_size(&self) -> usize {
        self.map.user_value_size()
    }

    fn fail(&self, source: tinybpf_maps::MapError) -> Error {
        Error::Map {
            object: self.object.clone(),
            map: self.name.clone(),
            source,
        }
    }

    fn check_key<K: Plain>(&self) -> Result<(), Error> {
        if K::SIZE == self.def().key_size as usize {
            Ok(())
        } else {
            Err(Error::KeySize {
                object: self.object.clone(),
                map: self.name.clone(),
                size: K::SIZE,
                key_size: self.def().key_size,
            })
        }
    }

    fn check_value<V: Plain>(&self) -> Result<(), Error> {
        if V::SIZE == self.def().value_size as usize {
            Ok(())
        } else {
            Err(self.size_mismatch(V::SIZE))
        }
    }

    fn size_mismatch(&self, size: usize) -> Error {
        Error::ValueSize {
            object: self.object.clone(),
            map: self.name.clone(),
            size,
            value_size: self.def().value_size,
        }
    }

    fn not_percpu(&self, call: &'static str) -> Error {
        Error::PerCpu {
            object: self.object.clone(),
            map: self.name.clone(),
            type_name: self.type_name(),
            call,
        }
    }

    // ----- bytes, any type -----

    /// The value of `key` (`key_size` bytes) in the user-space format
    /// ([`Map::user_value_size`] bytes), as `BPF_MAP_LOOKUP_ELEM`.
    pub fn lookup_bytes(&self, key: &[u8]) -> Result<Vec<u8>, Error> {
        self.map.lookup(key).map_err(|e| self.fail(e))
    }

    /// Sets the value of `key` from the user-space format, with `flags`
    /// (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`), as `BPF_MAP_UPDATE_ELEM`.
    pub fn update_bytes(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Error> {
        self.map.update(key, value, flags).map_err(|e| self.fail(e))
    }

    /// Deletes `key`, as `BPF_MAP_DELETE_ELEM` (array elements cannot be
    /// deleted: `EINVAL`).
    pub fn delete_bytes(&self, key: &[u8]) -> Result<(), Error> {
        self.map.delete(key).map_err(|e| self.fail(e))
    }

    // ----- typed keys -----

    /// The value of `key` as a `V`. Not for per-CPU maps (see
    /// [`Map::get_percpu`]).
    pub fn get<K: Plain, V: Plain>(&self, key: &K) -> Result<V, Error> {
        self.check_key::<K>()?;
        if self.map_type().is_percpu() {
            return Err(self.not_percpu("get_percpu"));
        }
        self.check_value::<V>()?;
        let bytes = self.lookup_bytes(&key.to_bytes())?;
        V::from_bytes(&bytes).ok_or_else(|| self.size_mismatch(V::SIZE))
    }

    /// Stores `value` at `key` (`BPF_ANY`: creates or replaces). For a
    /// per-CPU map every CPU gets `value`.
    pub fn set<K: Plain, V: Plain>(&self, key: &K, value: &V) -> Result<(), Error> {
        self.update(key, value, BPF_ANY)
    }

    /// Stores `value` at `key` with `flags` (`BPF_ANY`, `BPF_NOEXIST`,
    /// `BPF_EXIST`; `EEXIST` and `ENOENT` as the kernel gives them). For a
    /// per-CPU map every CPU gets `value`.
    pub fn update<K: Plain, V: Plain>(&self, key: &K, value: &V, flags: u64) -> Result<(), Error> {
        self.check_key::<K>()?;
        self.check_value::<V>()?;
        let bytes = value.to_bytes();
        if self.map_type().is_percpu() {
            let cpus = vec![bytes; self.possible_cpus() as usize];
            return self.update_bytes(&key.to_bytes(), &percpu_bytes(&cpus), flags);
        }
        self.update_bytes(&key.to_bytes(), &bytes, flags)
    }

    /// Deletes `key` (`ENOENT` when missing; arrays: `EINVAL`).
    pub fn delete<K: Plain>(&self, key: &K) -> Result<(), Error> {
        self.check_key::<K>()?;
        self.delete_bytes(&key.to_bytes())
    }

    /// Each possible CPU's value of `key` in a per-CPU map, CPU 0 first.
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/percpu.o");
    /// let object = tinybpf::Object::open(path)?;
    /// let program = object.program_with("count_percpu", tinybpf::LoadOptions {
    ///     possible_cpus: Some(2),
    ///     ..Default::default()
    /// })?;
    /// program.run_with(&mut [], &mut tinybpf::vm::RunContext::new().with_cpu(1))?;
    /// assert_eq!(object.map("cpu_hits")?.get_percpu::<u32, u64>(&0)?, [0, 1]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_percpu<K: Plain, V: Plain>(&self, key: &K) -> Result<Vec<V>, Error> {
        self.check_key::<K>()?;
        if !self.map_type().is_percpu() {
            return Err(self.not_percpu("get"));
        }
        self.check_value::<V>()?;
        let values = self
            .map
            .lookup_percpu(&key.to_bytes())
            .map_err(|e| self.fail(e))?;
        values
            .iter()
            .map(|bytes| V::from_bytes(bytes).ok_or_else(|| self.size_mismatch(V::SIZE)))
            .collect()
    }

    /// Sets each CPU's value of `key` in a per-CPU map (`values[c]` for CPU
    /// `c`; one value per possible CPU), `BPF_ANY`.
    pub fn set_percpu<K: Plain, V: Plain>(&self, key: &K, values: &[V]) -> Result<(), Error> {
        self.check_key::<K>()?;
        if !self.map_type().is_percpu() {
            return Err(self.not_percpu("set"));
        }
        self.check_value::<V>()?;
        if values.len() != self.possible_cpus() as usize {
            return Err(Error::CpuCount {
                object: self.object.clone(),
                map: self.name.clone(),
                given: values.len(),
                possible_cpus: self.possible_cpus(),
            });
        }
        let cpus: Vec<Vec<u8>> = values.iter().map(Plain::to_bytes).collect();
        self.update_bytes(&key.to_bytes(), &percpu_bytes(&cpus), BPF_ANY)
    }

    // ----- array indexes -----

    /// The value at index `index` of an array-like map (a 4-byte key), as
    /// a `V`. The same as `get::<u32, V>(&index)`.
    pub fn get_at<V: Plain>(&self, index: u32) -> Result<V, Error> {
        self.get::<u32, V>(&index)
    }

    /// Stores `value` at index `index` (`BPF_ANY`).
    pub fn set_at<V: Plain>(&self, index: u32, value: &V) -> Result<(), Error> {
        self.set::<u32, V>(&index, value)
    }

    /// The value at index `index`, as bytes (user-space format).
    pub fn get_bytes_at(&self, index: u32) -> Result<Vec<u8>, Error> {
        self.lookup_bytes(&index.to_le_bytes())
    }

    /// Replaces the value at index `index` (`BPF_ANY`).
    pub fn set_bytes_at(&self, index: u32, value: &[u8]) -> Result<(), Error> {
        self.update_bytes(&index.to_le_bytes(), value, BPF_ANY)
    }

    // ----- every entry -----

    /// Every entry as (key bytes, value bytes in the user-space format),
    /// streamed: each step copies one entry. Arrays in index order (every
    /// index), hashes in their bucket order, slot maps (devmap, program
    /// array, ...) their occupied entries in index order; ring buffers have
    /// none. Collect them for a snapshot (each entry is read whole, but
    /// programs running meanwhile may change entries not read yet, as with
    /// the kernel's `bpf_map_get_next_key` walk):
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/hash_ops.o");
    /// let object = tinybpf::Object::open(path)?;
    /// object.program("hash_ops")?.run(&mut [])?;
    /// let snapshot: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
    ///     object.map("flows")?.entries().collect();
    /// assert_eq!(snapshot.len(), 4);
    /// assert_eq!(snapshot[&1u32.to_le_bytes().to_vec()], 12u64.to_le_bytes());
    /// # Ok(())
    /// # }
    /// ```
    pub fn entries(&self) -> Entries<'_> {
        self.map.entries()
    }

    /// The map's entries as a readable table: an array's exactly as
    /// [`ArrayMap::dump`] writes them; any other type as `tinybpf run`
    /// prints it ([`write_map_table`]: hash entries sorted by key, per-CPU
    /// values per CPU).
    pub fn dump(&self, nonzero_only: bool) -> String {
        if let Some(array) = self.array() {
            return array.dump(DumpOptions { nonzero_only });
        }
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = write_map_table(&mut out, self, TableOptions { nonzero_only });
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Per-CPU values in the kernel's user-space format: each padded to 8
/// bytes, concatenated.
fn percpu_bytes(values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(8), 0);
    }
    out
}
