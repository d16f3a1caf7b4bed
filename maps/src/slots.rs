//! Maps whose entries name something outside the map: `DEVMAP`,
//! `DEVMAP_HASH` (kernel/bpf/devmap.c), `CPUMAP` (cpumap.c), `XSKMAP`
//! (net/xdp/xskmap.c), `PROG_ARRAY` and `PERF_EVENT_ARRAY` (arraymap.c's
//! fd arrays).
//!
//! # Layout
//!
//! Each entry is a slot of `round_up(value_size, 8)` bytes in one value
//! region plus an occupancy bit; an empty slot reads as zeros. For the
//! array-like types the slot of key `i` is slot `i`; `DEVMAP_HASH` finds
//! its slot through the same key index as the hash maps. What a slot holds:
//!
//! - `DEVMAP`/`DEVMAP_HASH`: `struct bpf_devmap_val` (`ifindex`, then with an
//!   8-byte value the program: tinybpf has no program table, so it keeps
//!   the fd user space gave, positive, or 0 for none). Programs may look
//!   entries up (read-only, as the kernel forces `BPF_F_RDONLY_PROG`).
//! - `CPUMAP`: `struct bpf_cpumap_val` (`qsize`, then the program fd or 0).
//!   Programs may only redirect to it.
//! - `XSKMAP`: the `u32` user space stored (an AF_XDP socket fd in the
//!   kernel). Programs may look an entry up: they get the slot, a stand-in
//!   for the kernel's `struct xdp_sock` whose first `u32` is that value.
//! - `PROG_ARRAY`: the `u32` user space stored, a program reference
//!   (whatever numbering the loader uses: an index or fd). Programs only
//!   tail-call through it; user-space lookups return the stored `u32` (the
//!   kernel returns the program's id).
//! - `PERF_EVENT_ARRAY`: the `u32` user space stored (a perf event fd in
//!   the kernel); an occupied slot `i` is an event bound to CPU `i`, as
//!   libbpf's `perf_buffer__new` lays them out, with its event buffer in
//!   [`crate::perf_event`].
//!
//! # Kernel rules kept
//!
//! Update: the devmap, cpumap and xskmap take `BPF_ANY`/`BPF_NOEXIST`/
//! `BPF_EXIST` (flags above `EINVAL`, index past the end `E2BIG`,
//! `BPF_NOEXIST` `EEXIST` on the array types; the xskmap also `ENOENT` for
//! `BPF_EXIST` on an empty slot); program and perf event arrays only
//! `BPF_ANY` (`EINVAL`), then `E2BIG`. A devmap value with ifindex 0 (or a
//! cpumap value with qsize 0) empties the slot, and naming a program with
//! it is `EINVAL`; a cpumap qsize above 16384 is `EOVERFLOW`, a key that is
//! not a possible CPU `ENODEV`. Delete of an index past the end: `EINVAL`
//! (devmap, cpumap, xskmap; they return 0 for an empty slot) or `E2BIG`
//! then `ENOENT` for an empty slot (fd arrays). User-space lookup of an
//! empty slot `ENOENT`; of an xskmap `EOPNOTSUPP`, of a perf event array
//! `ENOTSUPP` (524). `get_next_key` walks indexes as arrays do (empty slots
//! included); `DEVMAP_HASH` walks its keys as hash maps do.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use crate::common::{array_next_key, check_key, check_value, index_key};
use crate::def::{BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapDef};
use crate::error::{MapError, errno};
use crate::hash::index::HashIndex;
use crate::map_type::MapType;
use crate::options::MemoryCharge;
use crate::perf_event::EventBuffers;
use crate::shared_mem;
use crate::storage::ValueMemory;

/// The kernel's cpumap queue size limit.
pub const CPUMAP_MAX_QSIZE: u32 = 16384;

/// A map of redirect targets, tail-call targets or perf events.
pub struct SlotMap {
    def: MapDef,
    map_type: MapType,
    elem_size: usize,
    memory: ValueMemory,
    occupied: Box<[AtomicBool]>,
    /// `DEVMAP_HASH`: key to slot.
    keys: Option<RwLock<HashIndex>>,
    /// Serialises user-space writers of the array types.
    writers: Mutex<()>,
    possible_cpus: u32,
    pub(crate) events: Option<EventBuffers>,
    _charge: MemoryCharge,
}

impl SlotMap {
    /// The bytes a slot map of `def` reserves (without event buffers).
    pub(crate) fn reserved_bytes(def: &MapDef, hashed: bool) -> u64 {
        let elem = crate::common::round_up(def.value_size as usize, 8).unwrap_or(8) as u64;
        let mut bytes = u64::from(def.max_entries) * (elem + 1);
        if hashed {
            bytes += HashIndex::reserved_bytes(def.max_entries, def.key_size);
        }
        bytes
    }

    pub(crate) fn new(
        def: MapDef,
        map_type: MapType,
        possible_cpus: u32,
        seed: u64,
        events: Option<EventBuffers>,
        charge: MemoryCharge,
    ) -> Result<SlotMap, MapError> {
        let elem_size = crate::common::round_up(def.value_size as usize, 8)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        let len = (def.max_entries as usize)
            .checked_mul(elem_size)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        let keys = if map_type == MapType::DevmapHash {
            Some(RwLock::new(HashIndex::new(
                def.max_entries,
                def.key_size,
                seed,
            )?))
        } else {
            None
        };
        Ok(SlotMap {
            def,
            map_type,
            elem_size,
            memory: ValueMemory::allocate(len)?,
            occupied: (0..def.max_entries)
                .map(|_| AtomicBool::new(false))
                .collect(),
            keys,
            writers: Mutex::new(()),
            possible_cpus,
            events,
            _charge: charge,
        })
    }

    /// The value region (slots), for program lookups of devmaps and xskmaps.
    pub(crate) fn region(&self) -> (NonNull<u8>, usize) {
        (
            self.memory.values(),
            self.def.max_entries as usize * self.elem_size,
        )
    }

    fn slot_ptr(&self, slot: u32) -> *mut u8 {
        // SAFETY: callers pass slot < max_entries: inside the region.
        unsafe {
            self.memory
                .values()
                .as_ptr()
                .add(slot as usize * self.elem_size)
        }
    }

    fn is_occupied(&self, slot: u32) -> bool {
        self.occupied
            .get(slot as usize)
            .is_some_and(|bit| bit.load(Ordering::Acquire))
    }

    /// The slot of `key` if it holds an entry.
    fn occupied_slot(&self, key: u32) -> Option<u32> {
        let slot = match &self.keys {
            Some(keys) => {
                let keys = keys.read().unwrap_or_else(|p| p.into_inner());
                let bytes = key.to_le_bytes();
                keys.find(&bytes, keys.hash(&bytes))?
            }
            None => key,
        };
        self.is_occupied(slot).then_some(slot)
    }

    fn read_u32(&self, slot: u32, offset: usize) -> u32 {
        // SAFETY: offset + 4 <= elem_size, 4-aligned inside the slot.
        unsafe { shared_mem::load(self.slot_ptr(slot).add(offset), 4) as u32 }
    }

    /// What `bpf_redirect_map` would send to for `key`: the ifindex
    /// (devmaps), the CPU (cpumap: the key itself), the stored socket value
    /// (xskmap); `None` for an empty slot, a key past the end, or another
    /// map type.
    #[inline]
    pub fn redirect_target(&self, key: u32) -> Option<u32> {
        match self.map_type {
            MapType::Devmap | MapType::DevmapHash | MapType::Xskmap => {
                let slot = self.occupied_slot(key)?;
                Some(self.read_u32(slot, 0))
            }
            MapType::Cpumap => self.occupied_slot(key).map(|_| key),
            _ => None,
        }
    }

    /// The program stored at `index` of a program array (`None` when empty,
    /// past the end, or not a program array).
    #[inline]
    pub fn tail_call_target(&self, index: u32) -> Option<u32> {
        if self.map_type != MapType::ProgArray {
            return None;
        }
        let slot = self.occupied_slot(index)?;
        Some(self.read_u32(slot, 0))
    }

    /// True when perf event array entry `index` has an event.
    pub(crate) fn has_event(&self, index: u32) -> bool {
        self.is_occupied(index)
    }

    /// A program's lookup (devmaps, xskmaps): the slot's offset when occupied.
    pub(crate) fn lookup_for_program(&self, key: &[u8]) -> Option<usize> {
        let key = index_key(key, self.def.key_size).ok()?;
        let slot = self.occupied_slot(key)?;
        Some(slot as usize * self.elem_size)
    }

    /// User-space lookup (value_size bytes).
    pub(crate) fn lookup_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let index = index_key(key, self.def.key_size)?;
        match self.map_type {
            MapType::Xskmap => return Err(self.not_supported("look up", errno::EOPNOTSUPP)),
            MapType::PerfEventArray => {
                return Err(self.not_supported("look up", errno::ENOTSUPP));
            }
            _ => {}
        }
        check_value(out.len(), self.def.value_size as usize)?;
        let slot = self.occupied_slot(index).ok_or(MapError::KeyNotFound)?;
        // SAFETY: value_size bytes of the slot, accessed atomically.
        unsafe { shared_mem::copy_out(self.slot_ptr(slot), out) };
        Ok(())
    }

    fn not_supported(&self, operation: &'static str, errno: i32) -> MapError {
        MapError::NotSupported {
            map_type: self.map_type,
            operation,
            errno,
        }
    }

    /// User-space update in the kernel's order for the type.
    pub(crate) fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        let index = index_key(key, self.def.key_size)?;
        check_value(value.len(), self.def.value_size as usize)?;
        let max_entries = self.def.max_entries;
        let word = |at: usize| -> Option<u32> {
            value
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if self.map_type == MapType::DevmapHash {
            return self.update_hashed(index, value, flags);
        }
        let _serial = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        match self.map_type {
            MapType::ProgArray | MapType::PerfEventArray => {
                if flags != BPF_ANY {
                    return Err(MapError::UpdateFlagsMustBeAny { flags });
                }
                if index >= max_entries {
                    return Err(MapError::IndexTooBig { index, max_entries });
                }
                self.store(index, value);
            }
            MapType::Devmap | MapType::Cpumap => {
                crate::common::array_update_checks(index, max_entries, flags)?;
                let target = word(0).unwrap_or(0);
                let fd = word(4).map_or(-1, |w| w as i32);
                if self.map_type == MapType::Cpumap {
                    if target > CPUMAP_MAX_QSIZE {
                        return Err(MapError::QueueSizeTooBig {
                            qsize: target,
                            limit: CPUMAP_MAX_QSIZE,
                        });
                    }
                    if index >= self.possible_cpus {
                        return Err(MapError::CpuNotPossible {
                            cpu: index,
                            possible_cpus: self.possible_cpus,
                        });
                    }
                    if target == 0 {
                        self.clear(index);
                        return Ok(());
                    }
                } else if target == 0 {
                    if fd > 0 {
                        return Err(MapError::ProgramWithoutTarget { fd });
                    }
                    self.clear(index);
                    return Ok(());
                }
                self.store_target(index, target, fd);
            }
            MapType::Xskmap => {
                if flags > BPF_EXIST {
                    return Err(MapError::UnknownUpdateFlags { flags });
                }
                if index >= max_entries {
                    return Err(MapError::IndexTooBig { index, max_entries });
                }
                let present = self.is_occupied(index);
                if present && flags == BPF_NOEXIST {
                    return Err(MapError::KeyExists);
                }
                if !present && flags == BPF_EXIST {
                    return Err(MapError::KeyNotFound);
                }
                self.store(index, value);
            }
            _ => return Err(self.not_supported("update", errno::EINVAL)),
        }
        Ok(())
    }

    fn update_hashed(&self, key: u32, value: &[u8], flags: u64) -> Result<(), MapError> {
        let ifindex = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
        if flags > BPF_EXIST || ifindex == 0 {
            return Err(if flags > BPF_EXIST {
                MapError::UnknownUpdateFlags { flags }
            } else {
                MapError::ValueSizeFor {
                    map_type: self.map_type,
                    value_size: self.def.value_size,
                    expected: "ifindex 0 names no device",
                }
            });
        }
        let Some(keys) = &self.keys else {
            return Err(self.not_supported("update", errno::EINVAL));
        };
        let mut keys = keys.write().unwrap_or_else(|p| p.into_inner());
        let bytes = key.to_le_bytes();
        let hash = keys.hash(&bytes);
        let fd = value
            .get(4..8)
            .map_or(-1, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match keys.find(&bytes, hash) {
            Some(_) if flags & BPF_NOEXIST != 0 => Err(MapError::KeyExists),
            Some(slot) => {
                self.store_target(slot, ifindex, fd);
                Ok(())
            }
            None => {
                let slot = keys.insert(&bytes, hash).ok_or(MapError::MapFull {
                    max_entries: self.def.max_entries,
                })?;
                self.store_target(slot, ifindex, fd);
                Ok(())
            }
        }
    }

    /// Stores `target` and, for 8-byte values, the program fd (0 for none).
    fn store_target(&self, slot: u32, target: u32, fd: i32) {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&target.to_le_bytes());
        let prog = if fd > 0 { fd as u32 } else { 0 };
        bytes[4..].copy_from_slice(&prog.to_le_bytes());
        self.store(slot, &bytes[..self.def.value_size as usize]);
    }

    fn store(&self, slot: u32, value: &[u8]) {
        // SAFETY: value_size bytes inside the slot, accessed atomically.
        unsafe { shared_mem::copy_in(self.slot_ptr(slot), value) };
        self.occupied[slot as usize].store(true, Ordering::Release);
    }

    /// Empties a slot; true when it held an entry.
    fn clear(&self, slot: u32) -> bool {
        let was = self.occupied[slot as usize].swap(false, Ordering::AcqRel);
        // SAFETY: the slot's elem_size bytes, accessed atomically.
        unsafe { shared_mem::zero(self.slot_ptr(slot), self.elem_size) };
        was
    }

    /// User-space delete in the kernel's order for the type.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let index = index_key(key, self.def.key_size)?;
        let max_entries = self.def.max_entries;
        if let Some(keys) = &self.keys {
            let mut keys = keys.write().unwrap_or_else(|p| p.into_inner());
            let bytes = index.to_le_bytes();
            let slot = keys
                .find(&bytes, keys.hash(&bytes))
                .ok_or(MapError::KeyNotFound)?;
            keys.remove(slot);
            self.clear(slot);
            return Ok(());
        }
        let _serial = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        match self.map_type {
            MapType::ProgArray | MapType::PerfEventArray => {
                if index >= max_entries {
                    return Err(MapError::IndexTooBig { index, max_entries });
                }
                if !self.clear(index) {
                    return Err(MapError::KeyNotFound);
                }
                Ok(())
            }
            _ => {
                if index >= max_entries {
                    return Err(MapError::IndexOutOfRange { index, max_entries });
                }
                self.clear(index);
                Ok(())
            }
        }
    }

    /// `get_next_key` into `out` (4 bytes).
    pub(crate) fn next_key_into(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        check_key(out, self.def.key_size)?;
        match &self.keys {
            Some(keys) => {
                if let Some(key) = key {
                    check_key(key, self.def.key_size)?;
                }
                let keys = keys.read().unwrap_or_else(|p| p.into_inner());
                let slot = keys.next_slot(key).ok_or(MapError::NoMoreKeys)?;
                out.copy_from_slice(keys.key_of(slot));
            }
            None => {
                let next = array_next_key(key, self.def.key_size, self.def.max_entries)?;
                out.copy_from_slice(&next.to_le_bytes());
            }
        }
        Ok(())
    }

    /// Fills every empty perf event array slot `i` with `i`, as libbpf's
    /// `perf_buffer__new` opens one event per CPU; returns how many.
    pub(crate) fn attach_all_events(&self) -> u32 {
        let _serial = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        let mut attached = 0;
        for index in 0..self.def.max_entries {
            if !self.is_occupied(index) {
                self.store(index, &index.to_le_bytes());
                attached += 1;
            }
        }
        attached
    }

    /// The entries in key order (key, value) for dumps; the xskmap and perf
    /// event array, whose lookups are refused, show their stored values.
    pub(crate) fn entry_after(&self, cursor: u32) -> Option<(u32, Vec<u8>, u32)> {
        if let Some(keys) = &self.keys {
            let keys = keys.read().unwrap_or_else(|p| p.into_inner());
            let (slot, _) = keys.at_cursor(crate::hash::Cursor::default())?;
            // Walk `cursor` entries in from the start.
            let mut at = crate::hash::Cursor::default();
            let mut found = Some((slot, at));
            for _ in 0..=cursor {
                found = keys.at_cursor(at);
                let (_, next) = found?;
                at = next;
            }
            let (slot, _) = found?;
            let key = u32::from_le_bytes(keys.key_of(slot).try_into().ok()?);
            let mut value = vec![0u8; self.def.value_size as usize];
            // SAFETY: value_size bytes of the slot, accessed atomically.
            unsafe { shared_mem::copy_out(self.slot_ptr(slot), &mut value) };
            return Some((key, value, cursor + 1));
        }
        (cursor..self.def.max_entries)
            .find(|&index| self.is_occupied(index))
            .map(|index| {
                let mut value = vec![0u8; self.def.value_size as usize];
                // SAFETY: as above.
                unsafe { shared_mem::copy_out(self.slot_ptr(index), &mut value) };
                (index, value, index + 1)
            })
    }
}
