//! `BPF_MAP_TYPE_HASH`, `LRU_HASH`, `PERCPU_HASH` and `LRU_PERCPU_HASH`
//! (kernel/bpf/hashtab.c).
//!
//! # Layout
//!
//! Every element is pre-allocated, as the kernel's default (`prealloc`):
//! `max_entries` value slots of `round_up(value_size, 8)` bytes in one value
//! region (per-CPU types: one region per possible CPU, each on its own
//! pages, slot `i` at the same offset in each). A key's slot never changes
//! while the key is present, and a program's pointer to a value always
//! stays inside the map's region, also after the key is deleted (the slot
//! may then be reused, as the kernel's pre-allocated elements are).
//! `BPF_F_NO_PREALLOC` is accepted and changes nothing (the errnos are the
//! same, as SEMANTICS.md observes).
//!
//! The key index (`index::HashIndex`) sits behind a reader-writer lock:
//! lookups (program or user space) share it, updates and deletes take it
//! alone. Value bytes are never behind the lock: programs read and write
//! them through [`crate::shared_mem`] while user space updates them.
//!
//! # Semantics
//!
//! - Update: flags above `BPF_EXIST` (including `BPF_F_LOCK`, as no value
//!   here has a spin lock) `EINVAL`; then `BPF_NOEXIST` on a present key
//!   `EEXIST`, `BPF_EXIST` on a missing key `ENOENT`; then a new key in a
//!   full map `E2BIG`, or for LRU types an eviction. Updating a present key
//!   **replaces its value in place** (the kernel does so for per-CPU maps;
//!   for plain hashes it swaps in a fresh element): a concurrent reader may
//!   see some aligned words old and others new.
//! - A new per-CPU element created by a program holds the program's value
//!   on its CPU and zeros on every other CPU; one created by user space
//!   takes every CPU's value from the per-CPU format.
//! - Delete of a missing key `ENOENT`; the slot is free at once.
//! - LRU eviction: a CLOCK (second-chance) sweep over the slots; a program
//!   lookup sets the element's referenced bit (as the kernel's
//!   `bpf_lru_node_set_ref`), a user-space lookup does not. The victim is
//!   the first element, from the hand on, not referenced since the hand last
//!   passed it. The kernel's LRU lists (active/inactive, per-CPU free
//!   lists) may choose another victim, and it may evict even when the key
//!   being updated is present; tinybpf evicts only to make room for a new
//!   key. `BPF_F_NO_COMMON_LRU` rounds `max_entries` up to a multiple of
//!   the possible CPUs as the kernel does, and otherwise shares one clock.
//! - `get_next_key`: bucket order, chain order within a bucket; a missing
//!   key restarts at the first key, as the kernel does.

pub(crate) mod index;

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::common::{CpuSlices, check_key, check_value};
use crate::def::{BPF_EXIST, BPF_F_RDONLY_PROG, BPF_NOEXIST, MapDef};
use crate::error::MapError;
use crate::map_type::MapType;
use crate::options::MemoryCharge;
use crate::shared_mem;

pub(crate) use index::Cursor;
use index::HashIndex;

/// Where an update's value comes from.
#[derive(Clone, Copy)]
pub(crate) enum Writer<'a> {
    /// User space: `value_size` bytes, or the per-CPU format for per-CPU maps.
    User(&'a [u8]),
    /// A program on `cpu`: `value_size` bytes for its CPU.
    Program(&'a [u8], u32),
}

/// A hash map of any of the four hash types.
pub struct HashMap {
    def: MapDef,
    map_type: MapType,
    elem_size: usize,
    slices: CpuSlices,
    index: RwLock<HashIndex>,
    /// LRU referenced bits, one per slot (empty for non-LRU maps).
    referenced: Box<[AtomicBool]>,
    /// The possible CPUs (programs run on CPUs below it).
    possible_cpus: u32,
    _charge: MemoryCharge,
}

impl HashMap {
    /// The bytes a map of `def` reserves with `cpus` value regions.
    pub(crate) fn reserved_bytes(
        def: &MapDef,
        elem_size: usize,
        cpus: u32,
    ) -> Result<u64, MapError> {
        let len = (def.max_entries as usize)
            .checked_mul(elem_size)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        let values = CpuSlices::reserved_for(cpus, len)?;
        Ok(values + HashIndex::reserved_bytes(def.max_entries, def.key_size))
    }

    /// Creates the map; `def` was checked by the caller (`max_entries`
    /// at most 2^31, already adjusted for `BPF_F_NO_COMMON_LRU`).
    pub(crate) fn new(
        def: MapDef,
        map_type: MapType,
        elem_size: usize,
        cpus: u32,
        possible_cpus: u32,
        seed: u64,
        charge: MemoryCharge,
    ) -> Result<HashMap, MapError> {
        let len = (def.max_entries as usize)
            .checked_mul(elem_size)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        let lru = matches!(map_type, MapType::LruHash | MapType::LruPercpuHash);
        let referenced: Box<[AtomicBool]> = if lru {
            (0..def.max_entries)
                .map(|_| AtomicBool::new(false))
                .collect()
        } else {
            Box::default()
        };
        Ok(HashMap {
            def,
            map_type,
            elem_size,
            slices: CpuSlices::allocate(cpus, len)?,
            index: RwLock::new(HashIndex::new(def.max_entries, def.key_size, seed)?),
            referenced,
            possible_cpus,
            _charge: charge,
        })
    }

    fn is_percpu(&self) -> bool {
        self.map_type.is_percpu()
    }

    fn is_lru(&self) -> bool {
        !self.referenced.is_empty()
    }

    /// The bytes of a user-space value: `value_size`, or for per-CPU maps
    /// `round_up(value_size, 8)` per possible CPU.
    pub(crate) fn user_value_size(&self) -> usize {
        if self.is_percpu() {
            self.elem_size * self.slices.cpus() as usize
        } else {
            self.def.value_size as usize
        }
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when the map holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> RwLockReadGuard<'_, HashIndex> {
        // A panic never leaves the index half-changed (no operation that
        // changes it can panic midway), so a poisoned lock is taken over.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashIndex> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The region of `cpu` (per-CPU maps) or the one region (others; any
    /// CPU below the possible CPUs gives it).
    pub(crate) fn region(&self, cpu: u32) -> Option<(NonNull<u8>, usize)> {
        let slice = if self.is_percpu() { cpu } else { 0 };
        if cpu >= self.possible_cpus {
            return None;
        }
        Some((self.slices.base(slice)?, self.slices.len()))
    }

    fn slot_ptr(&self, cpu: u32, slot: u32) -> Option<*mut u8> {
        let base = self.slices.base(cpu)?;
        // SAFETY: slot < max_entries, so the element lies inside the slice.
        Some(unsafe { base.as_ptr().add(slot as usize * self.elem_size) })
    }

    /// A program's lookup: the value's offset in the region, and for LRU
    /// maps the element is marked referenced.
    #[inline]
    pub(crate) fn lookup_for_program(&self, key: &[u8]) -> Option<usize> {
        if key.len() != self.def.key_size as usize {
            return None;
        }
        let index = self.read();
        let slot = index.find(key, index.hash(key))?;
        if let Some(bit) = self.referenced.get(slot as usize)
            && !bit.load(Ordering::Relaxed)
        {
            bit.store(true, Ordering::Relaxed);
        }
        Some(slot as usize * self.elem_size)
    }

    /// User-space lookup into `out` ([`HashMap::user_value_size`] bytes):
    /// `ENOENT` for a missing key. Does not mark LRU elements.
    pub(crate) fn lookup_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        check_key(key, self.def.key_size)?;
        check_value(out.len(), self.user_value_size())?;
        let index = self.read();
        let slot = index
            .find(key, index.hash(key))
            .ok_or(MapError::KeyNotFound)?;
        self.copy_value_out(slot, out);
        Ok(())
    }

    fn copy_value_out(&self, slot: u32, out: &mut [u8]) {
        let value_size = self.def.value_size as usize;
        if self.is_percpu() {
            for (cpu, chunk) in (0..self.slices.cpus()).zip(out.chunks_exact_mut(self.elem_size)) {
                let Some(ptr) = self.slot_ptr(cpu, slot) else {
                    break;
                };
                let (value, padding) = chunk.split_at_mut(value_size);
                // SAFETY: value_size bytes of the slot, accessed atomically.
                unsafe { shared_mem::copy_out(ptr, value) };
                padding.fill(0);
            }
        } else if let Some(ptr) = self.slot_ptr(0, slot) {
            // SAFETY: as above.
            unsafe { shared_mem::copy_out(ptr, out) };
        }
    }

    /// One CPU's value of `key` (per-CPU maps), `None` when the key is
    /// missing or `cpu` is not below the possible CPUs.
    pub(crate) fn lookup_cpu(&self, key: &[u8], cpu: u32) -> Result<Option<Vec<u8>>, MapError> {
        check_key(key, self.def.key_size)?;
        let index = self.read();
        let Some(slot) = index.find(key, index.hash(key)) else {
            return Ok(None);
        };
        let Some(ptr) = self.slot_ptr(cpu, slot) else {
            return Ok(None);
        };
        let mut value = vec![0u8; self.def.value_size as usize];
        // SAFETY: value_size bytes of the slot, accessed atomically.
        unsafe { shared_mem::copy_out(ptr, &mut value) };
        Ok(Some(value))
    }

    /// The offset of `key`'s value for `bpf_map_lookup_percpu_elem` (`None`
    /// when missing or `cpu` is past the possible CPUs).
    pub(crate) fn lookup_percpu_offset(&self, key: &[u8], cpu: u32) -> Option<usize> {
        if cpu >= self.slices.cpus() || !self.is_percpu() {
            return None;
        }
        self.lookup_for_program(key)
    }

    /// Update in the kernel's order (see the module docs).
    pub(crate) fn update(
        &self,
        key: &[u8],
        writer: Writer<'_>,
        flags: u64,
    ) -> Result<(), MapError> {
        check_key(key, self.def.key_size)?;
        match writer {
            Writer::User(value) => check_value(value.len(), self.user_value_size())?,
            Writer::Program(value, cpu) => {
                if self.def.map_flags & BPF_F_RDONLY_PROG != 0 {
                    return Err(MapError::ReadOnlyForPrograms);
                }
                check_value(value.len(), self.def.value_size as usize)?;
                if cpu >= self.possible_cpus {
                    return Err(MapError::CpuOutOfRange {
                        cpu,
                        possible_cpus: self.possible_cpus,
                    });
                }
            }
        }
        if flags > BPF_EXIST {
            return Err(MapError::UnknownUpdateFlags { flags });
        }
        let mut index = self.write();
        let hash = index.hash(key);
        match index.find(key, hash) {
            Some(_) if flags == BPF_NOEXIST => Err(MapError::KeyExists),
            Some(slot) => {
                self.write_value(slot, writer, false);
                Ok(())
            }
            None if flags == BPF_EXIST => Err(MapError::KeyNotFound),
            None => {
                let slot = match index.insert(key, hash) {
                    Some(slot) => slot,
                    None => {
                        let victim = if self.is_lru() {
                            index.clock_victim(&self.referenced)
                        } else {
                            None
                        };
                        let Some(victim) = victim else {
                            return Err(MapError::MapFull {
                                max_entries: self.def.max_entries,
                            });
                        };
                        index.remove(victim);
                        index.insert(key, hash).ok_or(MapError::MapFull {
                            max_entries: self.def.max_entries,
                        })?
                    }
                };
                if let Some(bit) = self.referenced.get(slot as usize) {
                    bit.store(false, Ordering::Relaxed);
                }
                self.write_value(slot, writer, true);
                Ok(())
            }
        }
    }

    /// Writes a value into `slot` (under the index's write lock).
    fn write_value(&self, slot: u32, writer: Writer<'_>, new: bool) {
        let value_size = self.def.value_size as usize;
        let pad = self.elem_size - value_size;
        match writer {
            Writer::User(value) if self.is_percpu() => {
                for (cpu, chunk) in (0..self.slices.cpus()).zip(value.chunks_exact(self.elem_size))
                {
                    if let Some(ptr) = self.slot_ptr(cpu, slot) {
                        // SAFETY: the slot's elem_size bytes, accessed atomically.
                        unsafe {
                            shared_mem::copy_in(ptr, &chunk[..value_size]);
                            shared_mem::zero(ptr.add(value_size), pad);
                        }
                    }
                }
            }
            Writer::User(value) => {
                if let Some(ptr) = self.slot_ptr(0, slot) {
                    // SAFETY: as above.
                    unsafe {
                        shared_mem::copy_in(ptr, value);
                        if new {
                            shared_mem::zero(ptr.add(value_size), pad);
                        }
                    }
                }
            }
            Writer::Program(value, cpu) => {
                let own = if self.is_percpu() { cpu } else { 0 };
                if let Some(ptr) = self.slot_ptr(own, slot) {
                    // SAFETY: as above.
                    unsafe {
                        shared_mem::copy_in(ptr, value);
                        if new {
                            shared_mem::zero(ptr.add(value_size), pad);
                        }
                    }
                }
                if new && self.is_percpu() {
                    for other in (0..self.slices.cpus()).filter(|&c| c != cpu) {
                        if let Some(ptr) = self.slot_ptr(other, slot) {
                            // SAFETY: as above.
                            unsafe { shared_mem::zero(ptr, self.elem_size) };
                        }
                    }
                }
            }
        }
    }

    /// Delete: `ENOENT` for a missing key; the slot is free at once.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        check_key(key, self.def.key_size)?;
        let mut index = self.write();
        let slot = index
            .find(key, index.hash(key))
            .ok_or(MapError::KeyNotFound)?;
        index.remove(slot);
        Ok(())
    }

    /// `get_next_key` into `out` (`key_size` bytes); `ENOENT` after the last.
    pub(crate) fn next_key_into(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        if let Some(key) = key {
            check_key(key, self.def.key_size)?;
        }
        check_key(out, self.def.key_size)?;
        let index = self.read();
        let slot = index.next_slot(key).ok_or(MapError::NoMoreKeys)?;
        out.copy_from_slice(index.key_of(slot));
        Ok(())
    }

    /// The key after `key` in a walk (`HashIndex::walk_slot`) into `out`;
    /// `ENOENT` at the end.
    pub(crate) fn walk_next_key_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        check_key(key, self.def.key_size)?;
        check_key(out, self.def.key_size)?;
        let index = self.read();
        let slot = index.walk_slot(key).ok_or(MapError::NoMoreKeys)?;
        out.copy_from_slice(index.key_of(slot));
        Ok(())
    }

    /// The entry at `cursor` (key and user-space value) and the next cursor.
    pub(crate) fn entry_at(&self, cursor: Cursor) -> Option<(Vec<u8>, Vec<u8>, Cursor)> {
        let index = self.read();
        let (slot, next) = index.at_cursor(cursor)?;
        let mut value = vec![0u8; self.user_value_size()];
        self.copy_value_out(slot, &mut value);
        Some((index.key_of(slot).to_vec(), value, next))
    }
}
