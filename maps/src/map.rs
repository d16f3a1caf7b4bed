//! [`BpfMap`]: one handle over every supported map type.
//!
//! # Why an enum
//!
//! `BpfMap` is an enum over the concrete maps, each behind an `Arc`
//! ([`ArrayMap`] already is one). The set of types is the kernel's, closed
//! and known here, so a `match` is cheaper than a virtual call, lets the VM
//! reach the concrete [`ArrayMap`] (`as_array`) for its fast paths without a
//! downcast, and keeps each type's program-side queries (`redirect_target`,
//! `tail_call_target`, ring buffer and perf event operations) plain methods.
//! A clone is one or two reference-count increments; the handle is
//! `Send + Sync`.
//!
//! # Program regions
//!
//! Every map has one region of value memory per CPU that programs may point
//! into ([`BpfMap::program_region`]): the same region for every CPU except
//! for per-CPU maps, whose CPUs each have a slice of identical layout. A
//! region never moves while the map lives. Lookups from programs return an
//! offset into the region, the same for every CPU.

use core::ptr::NonNull;
use std::sync::Arc;

use crate::array::ArrayMap;
use crate::common::{FreezeState, check_value};
use crate::create;
use crate::def::{BPF_F_RDONLY_PROG, MapDef};
use crate::error::MapError;
use crate::hash::{Cursor, HashMap, Writer};
use crate::lpm_trie::LpmTrie;
use crate::map_type::{BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_ZERO_SEED, MapType};
use crate::options::{MapOptions, MemoryCharge};
use crate::percpu_array::PercpuArray;
use crate::perf_event::{
    BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, EventBuffers, PerfEvent,
};
use crate::ringbuf::RingBuf;
use crate::slots::SlotMap;

/// What a program may do with a map, as the kernel's verifier allows per
/// type (`check_map_func_compatibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramOp {
    /// `bpf_map_lookup_elem`.
    Lookup,
    /// `bpf_map_update_elem`.
    Update,
    /// `bpf_map_delete_elem`.
    Delete,
    /// `bpf_map_lookup_percpu_elem`.
    LookupPercpu,
    /// `bpf_redirect_map`.
    RedirectMap,
    /// `bpf_tail_call`.
    TailCall,
    /// `bpf_perf_event_output`.
    PerfEventOutput,
    /// `bpf_ringbuf_reserve`, `_output`, `_query`.
    Ringbuf,
}

impl ProgramOp {
    fn name(self) -> &'static str {
        match self {
            ProgramOp::Lookup => "look up elements of",
            ProgramOp::Update => "update elements of",
            ProgramOp::Delete => "delete elements of",
            ProgramOp::LookupPercpu => "look up per-CPU elements of",
            ProgramOp::RedirectMap => "redirect through",
            ProgramOp::TailCall => "tail-call through",
            ProgramOp::PerfEventOutput => "output perf events to",
            ProgramOp::Ringbuf => "use ring buffer helpers on",
        }
    }
}

#[derive(Clone)]
enum Kind {
    Array(ArrayMap),
    PercpuArray(Arc<PercpuArray>),
    Hash(Arc<HashMap>),
    Slots(Arc<SlotMap>),
    Ringbuf(Arc<RingBuf>),
    Lpm(Arc<LpmTrie>),
}

struct Common {
    map_type: MapType,
    def: MapDef,
    possible_cpus: u32,
    freeze: FreezeState,
    reserved: u64,
}

/// A map of any supported type. Cheap to clone (clones share the map),
/// `Send + Sync`.
#[derive(Clone)]
pub struct BpfMap {
    kind: Kind,
    common: Arc<Common>,
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x0074_696e_7962_7066);
    hasher.finish()
}

impl BpfMap {
    /// Creates a map, running the kernel's creation checks for its type
    /// with the kernel's errno (`EINVAL`, `E2BIG`, `ENOMEM`, the kernel's
    /// `ENOTSUPP` for an LRU without pre-allocation), and charging its full
    /// reserved size to `options.memory` (`ENOMEM` when it does not fit).
    ///
    /// A `PERF_EVENT_ARRAY` defined with `max_entries` 0 gets
    /// `options.possible_cpus` entries, as libbpf sets it before creating it.
    ///
    /// ```
    /// use tinybpf_maps::{BpfMap, MapDef, MapOptions, MapType, BPF_ANY};
    /// let def = MapDef { map_type: MapType::Hash.as_u32(), key_size: 6, value_size: 8, max_entries: 2, map_flags: 0 };
    /// let map = BpfMap::create(def, &MapOptions::with_cpus(2)).unwrap();
    /// map.update(b"abcdef", &7u64.to_le_bytes(), BPF_ANY).unwrap();
    /// assert_eq!(map.lookup(b"abcdef").unwrap(), 7u64.to_le_bytes());
    /// assert_eq!(map.lookup(b"zzzzzz").unwrap_err().errno(), 2);
    /// ```
    pub fn create(def: MapDef, options: &MapOptions) -> Result<BpfMap, MapError> {
        let cpus = options.possible_cpus.max(1);
        let map_type = create::check_common(&def)?;
        let budget = options.memory.as_ref();
        let seed = if def.map_flags & BPF_F_ZERO_SEED != 0 {
            0
        } else {
            random_seed()
        };
        let (kind, def, reserved) = match map_type {
            MapType::Array => {
                let array = ArrayMap::new_charged(def, budget)?;
                let reserved = array.reserved_bytes();
                (Kind::Array(array), def, reserved)
            }
            MapType::PercpuArray => {
                let elem = create::check_array_family(&def, map_type)?;
                let reserved = PercpuArray::reserved_bytes(&def, elem, cpus)?;
                let charge = MemoryCharge::to(budget, reserved)?;
                let map = PercpuArray::new(def, elem, cpus, charge)?;
                (Kind::PercpuArray(Arc::new(map)), def, reserved)
            }
            MapType::Hash | MapType::LruHash | MapType::PercpuHash | MapType::LruPercpuHash => {
                let (def, elem) = create::check_hash(&def, map_type, cpus)?;
                let slices = if map_type.is_percpu() { cpus } else { 1 };
                let reserved = HashMap::reserved_bytes(&def, elem, slices)?;
                let charge = MemoryCharge::to(budget, reserved)?;
                let map = HashMap::new(def, map_type, elem, slices, cpus, seed, charge)?;
                (Kind::Hash(Arc::new(map)), def, reserved)
            }
            MapType::ProgArray | MapType::PerfEventArray => {
                let mut def = def;
                if map_type == MapType::PerfEventArray && def.max_entries == 0 {
                    def.max_entries = cpus;
                }
                create::check_fd_array(&def, map_type)?;
                let events = (map_type == MapType::PerfEventArray)
                    .then(|| EventBuffers::new(def.max_entries, options.perf_buffer_bytes));
                let mut reserved = SlotMap::reserved_bytes(&def, false);
                if events.is_some() {
                    reserved +=
                        EventBuffers::reserved_bytes(def.max_entries, options.perf_buffer_bytes);
                }
                let charge = MemoryCharge::to(budget, reserved)?;
                let map = SlotMap::new(def, map_type, cpus, seed, events, charge)?;
                (Kind::Slots(Arc::new(map)), def, reserved)
            }
            MapType::Devmap | MapType::DevmapHash | MapType::Cpumap | MapType::Xskmap => {
                let def = create::check_redirect(&def, map_type)?;
                let reserved = SlotMap::reserved_bytes(&def, map_type == MapType::DevmapHash);
                let charge = MemoryCharge::to(budget, reserved)?;
                let map = SlotMap::new(def, map_type, cpus, seed, None, charge)?;
                (Kind::Slots(Arc::new(map)), def, reserved)
            }
            MapType::Ringbuf => {
                create::check_ringbuf(&def)?;
                let reserved = RingBuf::reserved_bytes(def.max_entries);
                let charge = MemoryCharge::to(budget, reserved)?;
                (
                    Kind::Ringbuf(Arc::new(RingBuf::new(def, charge)?)),
                    def,
                    reserved,
                )
            }
            MapType::LpmTrie => {
                let elem = LpmTrie::check(&def)?;
                let reserved = LpmTrie::reserved_bytes(&def, elem);
                let charge = MemoryCharge::to(budget, reserved)?;
                (
                    Kind::Lpm(Arc::new(LpmTrie::new(def, elem, seed, charge)?)),
                    def,
                    reserved,
                )
            }
            other => {
                return Err(MapError::MapTypeNotSupported {
                    map_type: other,
                    reason: other.unsupported_reason().unwrap_or("not implemented"),
                });
            }
        };
        Ok(BpfMap {
            kind,
            common: Arc::new(Common {
                map_type,
                def,
                possible_cpus: cpus,
                freeze: FreezeState::default(),
                reserved,
            }),
        })
    }

    /// Wraps an existing array map (for example a pinned one).
    pub fn from_array(array: ArrayMap, possible_cpus: u32) -> BpfMap {
        let def = *array.def();
        let reserved = array.reserved_bytes();
        BpfMap {
            kind: Kind::Array(array),
            common: Arc::new(Common {
                map_type: MapType::Array,
                def,
                possible_cpus: possible_cpus.max(1),
                freeze: FreezeState::default(),
                reserved,
            }),
        }
    }

    /// The definition as created (`max_entries` as adjusted for a perf event
    /// array or `BPF_F_NO_COMMON_LRU`, devmap flags with
    /// `BPF_F_RDONLY_PROG`).
    pub fn def(&self) -> &MapDef {
        &self.common.def
    }

    /// The map's type.
    pub fn map_type(&self) -> MapType {
        self.common.map_type
    }

    /// The number of possible CPUs the map was created for.
    pub fn possible_cpus(&self) -> u32 {
        self.common.possible_cpus
    }

    /// The bytes the map reserved (what it charged to its budget).
    pub fn reserved_bytes(&self) -> u64 {
        self.common.reserved
    }

    /// The concrete array map, for the VM's array fast paths.
    #[inline]
    pub fn as_array(&self) -> Option<&ArrayMap> {
        match &self.kind {
            Kind::Array(array) => Some(array),
            _ => None,
        }
    }

    /// True when both handles are the same map.
    pub fn same_map(&self, other: &BpfMap) -> bool {
        Arc::ptr_eq(&self.common, &other.common)
    }

    /// The size of a user-space value: `value_size`, or for per-CPU maps
    /// `round_up(value_size, 8) * possible_cpus`.
    pub fn user_value_size(&self) -> usize {
        let def = self.def();
        if self.map_type().is_percpu() {
            def.value_size.next_multiple_of(8) as usize * self.possible_cpus() as usize
        } else {
            def.value_size as usize
        }
    }

    fn not_supported(&self, operation: &'static str) -> MapError {
        MapError::NotSupported {
            map_type: self.map_type(),
            operation,
            errno: crate::errno::ENOTSUPP,
        }
    }

    fn check_readable(&self) -> Result<(), MapError> {
        if self.def().map_flags & BPF_F_WRONLY != 0 {
            return Err(MapError::Frozen {
                operation: "read (BPF_F_WRONLY)",
            });
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<(), MapError> {
        if self.def().map_flags & BPF_F_RDONLY != 0 {
            return Err(MapError::Frozen {
                operation: "write (BPF_F_RDONLY)",
            });
        }
        Ok(())
    }

    /// User-space lookup (`BPF_MAP_LOOKUP_ELEM`): a copy of the value in the
    /// user-space format ([`BpfMap::user_value_size`] bytes).
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let mut value = vec![0u8; self.user_value_size()];
        self.lookup_into(key, &mut value)?;
        Ok(value)
    }

    /// As [`BpfMap::lookup`], into `out` (no allocation).
    pub fn lookup_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.check_readable()?;
        match &self.kind {
            Kind::Array(array) => array.lookup_into(key, out),
            Kind::PercpuArray(map) => map.lookup_into(key, out),
            Kind::Hash(map) => map.lookup_into(key, out),
            Kind::Slots(map) => map.lookup_into(key, out),
            Kind::Ringbuf(_) => Err(self.not_supported("look up")),
            Kind::Lpm(map) => map.lookup_into(key, out),
        }
    }

    /// Each possible CPU's value of `key` (per-CPU maps), CPU 0 first.
    pub fn lookup_percpu(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, MapError> {
        if !self.map_type().is_percpu() {
            return Err(self.not_supported("look up per-CPU values of"));
        }
        let flat = self.lookup(key)?;
        let elem = self.def().value_size.next_multiple_of(8) as usize;
        Ok(flat
            .chunks_exact(elem)
            .map(|chunk| chunk[..self.def().value_size as usize].to_vec())
            .collect())
    }

    /// One CPU's value of `key` (per-CPU maps); `None` when the key is
    /// missing or `cpu` is not below the possible CPUs, as
    /// `bpf_map_lookup_percpu_elem`.
    pub fn lookup_percpu_elem(&self, key: &[u8], cpu: u32) -> Result<Option<Vec<u8>>, MapError> {
        match &self.kind {
            Kind::PercpuArray(map) => map.lookup_cpu(key, cpu),
            Kind::Hash(map) if self.map_type().is_percpu() => map.lookup_cpu(key, cpu),
            _ => Err(self.not_supported("look up per-CPU values of")),
        }
    }

    /// User-space update (`BPF_MAP_UPDATE_ELEM`), with the type's flag rules
    /// and errno order. `EPERM` once frozen or for a `BPF_F_RDONLY` map.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_writable()?;
        if let Kind::Array(array) = &self.kind {
            return array.update(key, value, flags);
        }
        let _write = self.common.freeze.begin_write("update")?;
        match &self.kind {
            Kind::Array(_) => unreachable!("handled above"),
            Kind::PercpuArray(map) => map.update_all(key, value, flags),
            Kind::Hash(map) => map.update(key, Writer::User(value), flags),
            Kind::Slots(map) => map.update(key, value, flags),
            Kind::Ringbuf(_) => Err(self.not_supported("update")),
            Kind::Lpm(map) => map.update(key, value, flags, false),
        }
    }

    /// User-space delete (`BPF_MAP_DELETE_ELEM`).
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_writable()?;
        if let Kind::Array(array) = &self.kind {
            return array.delete(key);
        }
        let _write = self.common.freeze.begin_write("delete")?;
        match &self.kind {
            Kind::Array(_) => unreachable!("handled above"),
            Kind::PercpuArray(map) => map.delete(key),
            Kind::Hash(map) => map.delete(key),
            Kind::Slots(map) => map.delete(key),
            Kind::Ringbuf(_) => Err(self.not_supported("delete")),
            Kind::Lpm(map) => map.delete(key),
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first for `None`),
    /// `ENOENT` after the last.
    pub fn get_next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, MapError> {
        let mut out = vec![0u8; self.def().key_size as usize];
        self.get_next_key_into(key, &mut out)?;
        Ok(out)
    }

    /// As [`BpfMap::get_next_key`], into `out` (`key_size` bytes).
    pub fn get_next_key_into(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        self.check_readable()?;
        let index = match &self.kind {
            Kind::Array(array) => array.get_next_key(key)?,
            Kind::PercpuArray(map) => map.next_key(key)?,
            Kind::Hash(map) => return map.next_key_into(key, out),
            Kind::Slots(map) => return map.next_key_into(key, out),
            Kind::Ringbuf(_) => return Err(self.not_supported("walk the keys of")),
            Kind::Lpm(map) => return map.next_key_into(key, out),
        };
        check_value(out.len(), 4)?;
        out.copy_from_slice(&index.to_le_bytes());
        Ok(())
    }

    /// The key after `key` in a walk over the map's elements, as
    /// `bpf_for_each_map_elem` visits them, into `out`. As
    /// [`BpfMap::get_next_key_into`], except that for a hash map a `key` no
    /// longer in the map continues with the buckets after that key's bucket
    /// (where `get_next_key` starts over), so a walk never visits an element
    /// twice because an element was deleted under it.
    pub fn walk_next_key_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        match &self.kind {
            Kind::Hash(map) => {
                self.check_readable()?;
                map.walk_next_key_into(key, out)
            }
            _ => self.get_next_key_into(Some(key), out),
        }
    }

    /// Freezes the map for user space (`BPF_MAP_FREEZE`): `EBUSY` when
    /// already frozen, while a user-space write is in flight, or (arrays)
    /// while a writable view is alive.
    pub fn freeze(&self) -> Result<(), MapError> {
        match &self.kind {
            Kind::Array(array) => array.freeze(),
            _ => self.common.freeze.freeze(),
        }
    }

    /// True once frozen.
    pub fn is_frozen(&self) -> bool {
        match &self.kind {
            Kind::Array(array) => array.is_frozen(),
            _ => self.common.freeze.is_frozen(),
        }
    }

    /// Every entry as (key, user-space value), streamed: each step copies one
    /// entry, nothing builds the whole dump. Entries added or removed during
    /// the walk may or may not be seen; each present entry is seen at most
    /// once unless the map is changed during the walk.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            map: self,
            next: 0,
            cursor: Cursor::default(),
            done: false,
        }
    }

    // ----- program side -----

    /// The region programs on `cpu` may point into: its start and length.
    /// The same for every CPU except for per-CPU maps; `None` when `cpu` is
    /// not below the possible CPUs.
    #[inline]
    pub fn program_region(&self, cpu: u32) -> Option<(NonNull<u8>, usize)> {
        if cpu >= self.common.possible_cpus {
            return None;
        }
        match &self.kind {
            Kind::Array(array) => Some((array.value_area_ptr(), array.value_area_len())),
            Kind::PercpuArray(map) => map.region(cpu),
            Kind::Hash(map) => map.region(cpu),
            Kind::Slots(map) => Some(map.region()),
            Kind::Ringbuf(map) => Some(map.region()),
            Kind::Lpm(map) => Some(map.region()),
        }
    }

    /// Whether programs may use the map for `op` (the verifier's per-type
    /// rules); the VM refuses a program that does something else, at load
    /// time where it can.
    pub fn check_program_op(&self, op: ProgramOp) -> Result<(), MapError> {
        use MapType::*;
        let t = self.map_type();
        let allowed = match op {
            ProgramOp::Lookup => matches!(
                t,
                Array
                    | PercpuArray
                    | Hash
                    | LruHash
                    | PercpuHash
                    | LruPercpuHash
                    | LpmTrie
                    | Devmap
                    | DevmapHash
                    | Xskmap
            ),
            ProgramOp::Update | ProgramOp::Delete => {
                matches!(
                    t,
                    Array | PercpuArray | Hash | LruHash | PercpuHash | LruPercpuHash | LpmTrie
                )
            }
            ProgramOp::LookupPercpu => t.is_percpu(),
            ProgramOp::RedirectMap => matches!(t, Devmap | DevmapHash | Cpumap | Xskmap),
            ProgramOp::TailCall => t == ProgArray,
            ProgramOp::PerfEventOutput => t == PerfEventArray,
            ProgramOp::Ringbuf => t == Ringbuf,
        };
        if allowed {
            Ok(())
        } else {
            Err(MapError::NotFromPrograms {
                map_type: t,
                operation: op.name(),
            })
        }
    }

    /// A program's `bpf_map_lookup_elem`: the value's offset in the region
    /// (CPU-independent), or `None` (missing key, index out of range, a
    /// key of the wrong length, or a type programs may not look up).
    #[inline]
    pub fn lookup_for_program(&self, key: &[u8], cpu: u32) -> Option<usize> {
        let _ = cpu;
        match &self.kind {
            Kind::Array(array) => {
                let index = u32::from_le_bytes(key.try_into().ok()?);
                array.element_offset(index)
            }
            Kind::PercpuArray(map) => map.lookup_offset(key).ok().flatten(),
            Kind::Hash(map) => map.lookup_for_program(key),
            Kind::Slots(map) => match self.map_type() {
                MapType::Devmap | MapType::DevmapHash | MapType::Xskmap => {
                    map.lookup_for_program(key)
                }
                _ => None,
            },
            Kind::Ringbuf(_) => None,
            Kind::Lpm(map) => map.lookup_for_program(key),
        }
    }

    /// `bpf_map_lookup_percpu_elem`: the offset of `key`'s value in `cpu`'s
    /// region; `None` when missing or `cpu` is not below the possible CPUs.
    pub fn lookup_percpu_for_program(&self, key: &[u8], cpu: u32) -> Option<usize> {
        if cpu >= self.common.possible_cpus {
            return None;
        }
        match &self.kind {
            Kind::PercpuArray(map) => map.lookup_offset(key).ok().flatten(),
            Kind::Hash(map) => map.lookup_percpu_offset(key, cpu),
            _ => None,
        }
    }

    /// A program's `bpf_map_update_elem` on `cpu` (per-CPU maps write that
    /// CPU's value).
    pub fn update_from_program(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: u32,
    ) -> Result<(), MapError> {
        match &self.kind {
            Kind::Array(array) => array.update_from_program(key, value, flags),
            Kind::PercpuArray(map) => map.update_cpu(key, value, flags, cpu),
            Kind::Hash(map) => map.update(key, Writer::Program(value, cpu), flags),
            Kind::Lpm(map) => map.update(key, value, flags, true),
            _ => {
                self.check_program_op(ProgramOp::Update)?;
                Ok(())
            }
        }
    }

    /// A program's `bpf_map_delete_elem`.
    pub fn delete_from_program(&self, key: &[u8], cpu: u32) -> Result<(), MapError> {
        let _ = cpu;
        match &self.kind {
            Kind::Array(array) => array.delete_from_program(key),
            Kind::PercpuArray(map) => map.delete(key),
            Kind::Hash(map) => {
                if self.def().map_flags & BPF_F_RDONLY_PROG != 0 {
                    return Err(MapError::ReadOnlyForPrograms);
                }
                map.delete(key)
            }
            Kind::Lpm(map) => {
                if self.def().map_flags & BPF_F_RDONLY_PROG != 0 {
                    return Err(MapError::ReadOnlyForPrograms);
                }
                map.delete(key)
            }
            _ => {
                self.check_program_op(ProgramOp::Delete)?;
                Ok(())
            }
        }
    }

    /// What `bpf_redirect_map` sends to for `key`: the ifindex (devmaps),
    /// the CPU (cpumap), the stored socket value (xskmap); `None` for an
    /// empty entry, a key past the end, or another map type.
    #[inline]
    pub fn redirect_target(&self, key: u32) -> Option<u32> {
        match &self.kind {
            Kind::Slots(map) => map.redirect_target(key),
            _ => None,
        }
    }

    /// The program reference stored at `index` of a `PROG_ARRAY`, or `None`
    /// (empty slot, index past the end: the tail call falls through).
    #[inline]
    pub fn tail_call_target(&self, index: u32) -> Option<u32> {
        match &self.kind {
            Kind::Slots(map) => map.tail_call_target(index),
            _ => None,
        }
    }

    fn slots(&self, op: ProgramOp) -> Result<&SlotMap, MapError> {
        self.check_program_op(op)?;
        match &self.kind {
            Kind::Slots(map) => Ok(map),
            _ => Err(MapError::NotFromPrograms {
                map_type: self.map_type(),
                operation: op.name(),
            }),
        }
    }

    fn ring(&self) -> Result<&RingBuf, MapError> {
        match &self.kind {
            Kind::Ringbuf(ring) => Ok(ring),
            _ => Err(MapError::NotFromPrograms {
                map_type: self.map_type(),
                operation: ProgramOp::Ringbuf.name(),
            }),
        }
    }

    /// `bpf_perf_event_output` from a program on `cpu`: `data` then `ctx`
    /// (the context bytes the flags' `BPF_F_CTXLEN_MASK` asked for, which
    /// the VM extracts) as one sample. Errors in the kernel's order (see
    /// [`crate::perf_event`]).
    pub fn perf_event_output(
        &self,
        cpu: u32,
        flags: u64,
        data: &[u8],
        ctx: &[u8],
    ) -> Result<(), MapError> {
        let map = self.slots(ProgramOp::PerfEventOutput)?;
        if flags & !(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK) != 0 {
            return Err(MapError::UnknownOutputFlags { flags });
        }
        let mut index = flags & BPF_F_INDEX_MASK;
        if index == BPF_F_CURRENT_CPU {
            index = u64::from(cpu);
        }
        let max_entries = self.def().max_entries;
        if index >= u64::from(max_entries) {
            return Err(MapError::IndexTooBig {
                index: index as u32,
                max_entries,
            });
        }
        let index = index as u32;
        if !map.has_event(index) {
            return Err(MapError::NoEventAttached { index });
        }
        if index != cpu {
            return Err(MapError::EventOnOtherCpu { index, cpu });
        }
        match &map.events {
            Some(events) => events.push(index, data, ctx),
            None => Err(MapError::NoEventAttached { index }),
        }
    }

    /// Attaches an event to every empty entry of a perf event array (entry
    /// `i` to CPU `i`, storing `i`), what libbpf's `perf_buffer__new` does;
    /// returns how many were attached.
    pub fn perf_attach_all(&self) -> Result<u32, MapError> {
        match &self.kind {
            Kind::Slots(map) if self.map_type() == MapType::PerfEventArray => {
                Ok(map.attach_all_events())
            }
            _ => Err(self.not_supported("attach perf events to")),
        }
    }

    /// Drains every perf event (samples, then lost counts per entry) into
    /// `sink`; returns how many were delivered.
    pub fn perf_drain(&self, sink: &mut dyn FnMut(PerfEvent)) -> Result<usize, MapError> {
        match &self.kind {
            Kind::Slots(map) => match &map.events {
                Some(events) => Ok(events.drain(sink)),
                None => Err(self.not_supported("drain perf events of")),
            },
            _ => Err(self.not_supported("drain perf events of")),
        }
    }

    /// `bpf_ringbuf_reserve`: the offset in the region of a `size`-byte
    /// record, or `None`.
    pub fn ringbuf_reserve(&self, size: u64, flags: u64) -> Option<usize> {
        self.ring().ok()?.reserve(size, flags)
    }

    /// `bpf_ringbuf_submit` (`discard` false) or `bpf_ringbuf_discard` of the
    /// record at `offset`.
    pub fn ringbuf_commit(&self, offset: usize, discard: bool) -> Result<(), MapError> {
        self.ring()?.commit(offset, discard)
    }

    /// `bpf_ringbuf_output`.
    pub fn ringbuf_output(&self, data: &[u8], flags: u64) -> Result<(), MapError> {
        self.ring()?.output(data, flags)
    }

    /// `bpf_ringbuf_query`.
    pub fn ringbuf_query(&self, flags: u64) -> Result<u64, MapError> {
        Ok(self.ring()?.query(flags))
    }

    /// User space: delivers the committed records to `sink` in order;
    /// returns how many.
    pub fn ringbuf_consume(&self, sink: &mut dyn FnMut(&[u8])) -> Result<usize, MapError> {
        Ok(self.ring()?.consume(sink))
    }
}

impl core::fmt::Debug for BpfMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BpfMap")
            .field("map_type", &self.map_type())
            .field("def", self.def())
            .field("possible_cpus", &self.possible_cpus())
            .finish_non_exhaustive()
    }
}

/// The streaming walk of [`BpfMap::entries`].
pub struct Entries<'a> {
    map: &'a BpfMap,
    next: u32,
    cursor: Cursor,
    done: bool,
}

impl Iterator for Entries<'_> {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        if self.done {
            return None;
        }
        let item = match &self.map.kind {
            Kind::Array(_) | Kind::PercpuArray(_) => {
                if self.next >= self.map.def().max_entries {
                    None
                } else {
                    let key = self.next.to_le_bytes().to_vec();
                    self.next += 1;
                    self.map.lookup(&key).ok().map(|value| (key, value))
                }
            }
            Kind::Hash(map) => map.entry_at(self.cursor).map(|(key, value, cursor)| {
                self.cursor = cursor;
                (key, value)
            }),
            Kind::Slots(map) => map.entry_after(self.next).map(|(key, value, next)| {
                self.next = next;
                (key.to_le_bytes().to_vec(), value)
            }),
            Kind::Lpm(map) => map.entry_at(self.cursor).map(|(key, value, cursor)| {
                self.cursor = cursor;
                (key, value)
            }),
            Kind::Ringbuf(_) => None,
        };
        if item.is_none() {
            self.done = true;
        }
        item
    }
}
