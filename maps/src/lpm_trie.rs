//! `BPF_MAP_TYPE_LPM_TRIE` (kernel/bpf/lpm_trie.c): longest-prefix match.
//!
//! A key is `struct bpf_lpm_trie_key { u32 prefixlen; u8 data[]; }`
//! (`key_size - 4` data bytes, the prefix in network order, most
//! significant bit first). Entries are stored by exact `(prefixlen, data
//! masked to prefixlen)` in the same key index as the hash maps, with their
//! values in pre-allocated slots of one value region (`max_entries` slots of
//! `round_up(value_size, 8)` bytes). A lookup probes the prefix lengths that
//! hold entries, longest first, up to the key's own `prefixlen`: the first
//! hit is the longest match. The kernel walks a binary trie instead; the
//! answers are the same.
//!
//! Kernel rules kept: creation needs `BPF_F_NO_PREALLOC`, `max_entries` > 0,
//! `key_size` 5..=260, `value_size` 1..=`LPM_VAL_SIZE_MAX` (`EINVAL`
//! otherwise). Update: flags above `BPF_EXIST` or a `prefixlen` past
//! `8 * (key_size - 4)` `EINVAL`; `BPF_NOEXIST` on a present prefix
//! `EEXIST`; `BPF_EXIST` on a missing one `ENOENT`; a new prefix in a full
//! trie `ENOSPC`. Delete needs the exact prefix (`ENOENT` otherwise).
//! `get_next_key`: a deterministic order of the stored prefixes (the key
//! index's, not the kernel's post-order); a missing key restarts at the
//! first.

use core::ptr::NonNull;
use std::sync::RwLock;

use crate::common::{check_key, check_value};
use crate::def::{BPF_EXIST, BPF_F_RDONLY_PROG, BPF_NOEXIST, MapDef};
use crate::error::{MapError, errno};
use crate::hash::index::HashIndex;
use crate::map_type::MapType;
use crate::options::MemoryCharge;
use crate::shared_mem;
use crate::storage::ValueMemory;

/// The largest key: a 4-byte prefix length and 256 data bytes.
pub const LPM_KEY_SIZE_MAX: u32 = 4 + 256;
/// The smallest key: a 4-byte prefix length and 1 data byte.
pub const LPM_KEY_SIZE_MIN: u32 = 4 + 1;

struct Trie {
    index: HashIndex,
    /// How many entries each prefix length holds.
    per_length: Vec<u32>,
}

/// A longest-prefix-match trie.
pub struct LpmTrie {
    def: MapDef,
    elem_size: usize,
    max_prefixlen: u32,
    memory: ValueMemory,
    trie: RwLock<Trie>,
    _charge: MemoryCharge,
}

fn trie_error(what: &'static str, errno: i32) -> MapError {
    MapError::NotSupported {
        map_type: MapType::LpmTrie,
        operation: what,
        errno,
    }
}

impl LpmTrie {
    /// `trie_alloc`'s checks.
    pub(crate) fn check(def: &MapDef) -> Result<usize, MapError> {
        use crate::map_type::{BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY};
        let allowed = BPF_F_NO_PREALLOC
            | BPF_F_NUMA_NODE
            | BPF_F_RDONLY
            | BPF_F_WRONLY
            | BPF_F_RDONLY_PROG
            | crate::BPF_F_WRONLY_PROG;
        let flags = def.map_flags;
        let map_type = MapType::LpmTrie;
        if def.max_entries == 0 {
            return Err(MapError::ZeroMaxEntries);
        }
        if flags & BPF_F_NO_PREALLOC == 0
            || flags & !allowed != 0
            || flags & (BPF_F_RDONLY_PROG | crate::BPF_F_WRONLY_PROG)
                == (BPF_F_RDONLY_PROG | crate::BPF_F_WRONLY_PROG)
        {
            return Err(MapError::FlagsNotAllowed {
                map_type,
                flags,
                reason: "an LPM trie needs BPF_F_NO_PREALLOC and takes only NUMA and access flags",
            });
        }
        if !(LPM_KEY_SIZE_MIN..=LPM_KEY_SIZE_MAX).contains(&def.key_size) {
            return Err(MapError::KeySizeFor {
                map_type,
                key_size: def.key_size,
                expected: "4 bytes of prefix length and 1 to 256 data bytes",
            });
        }
        let max_value = (1u32 << 22) - 256 - 64;
        if def.value_size == 0 || def.value_size > max_value {
            return Err(MapError::ValueSizeFor {
                map_type,
                value_size: def.value_size,
                expected: "1 to LPM_VAL_SIZE_MAX bytes",
            });
        }
        Ok(def.value_size.next_multiple_of(8) as usize)
    }

    pub(crate) fn reserved_bytes(def: &MapDef, elem_size: usize) -> u64 {
        u64::from(def.max_entries) * elem_size as u64
            + HashIndex::reserved_bytes(def.max_entries, def.key_size)
    }

    pub(crate) fn new(
        def: MapDef,
        elem_size: usize,
        seed: u64,
        charge: MemoryCharge,
    ) -> Result<LpmTrie, MapError> {
        let len = (def.max_entries as usize)
            .checked_mul(elem_size)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        let max_prefixlen = (def.key_size - 4) * 8;
        Ok(LpmTrie {
            def,
            elem_size,
            max_prefixlen,
            memory: ValueMemory::allocate(len)?,
            trie: RwLock::new(Trie {
                index: HashIndex::new(def.max_entries, def.key_size, seed)?,
                per_length: vec![0; max_prefixlen as usize + 1],
            }),
            _charge: charge,
        })
    }

    pub(crate) fn region(&self) -> (NonNull<u8>, usize) {
        (
            self.memory.values(),
            self.def.max_entries as usize * self.elem_size,
        )
    }

    fn slot_ptr(&self, slot: u32) -> *mut u8 {
        // SAFETY: slot < max_entries: inside the region.
        unsafe {
            self.memory
                .values()
                .as_ptr()
                .add(slot as usize * self.elem_size)
        }
    }

    /// `key` with its prefix length replaced by `len` and the data bits past
    /// it cleared, into `out` (same length as `key`).
    fn masked(key: &[u8], len: u32, out: &mut [u8]) {
        out.copy_from_slice(key);
        out[..4].copy_from_slice(&len.to_le_bytes());
        let data = &mut out[4..];
        let full = (len / 8) as usize;
        let rest = len % 8;
        if full < data.len() {
            data[full] &= if rest == 0 { 0 } else { 0xffu8 << (8 - rest) };
            data[full + 1..].fill(0);
        }
    }

    fn prefixlen(key: &[u8]) -> u32 {
        u32::from_le_bytes([key[0], key[1], key[2], key[3]])
    }

    /// The slot of the longest stored prefix matching `key`.
    fn longest_match(&self, trie: &Trie, key: &[u8]) -> Option<u32> {
        let mut probe = [0u8; LPM_KEY_SIZE_MAX as usize];
        let probe = &mut probe[..key.len()];
        let limit = Self::prefixlen(key).min(self.max_prefixlen);
        for len in (0..=limit).rev() {
            if trie.per_length[len as usize] == 0 {
                continue;
            }
            Self::masked(key, len, probe);
            if let Some(slot) = trie.index.find(probe, trie.index.hash(probe)) {
                return Some(slot);
            }
        }
        None
    }

    /// A program's lookup: the value's offset, or `None`.
    pub(crate) fn lookup_for_program(&self, key: &[u8]) -> Option<usize> {
        if key.len() != self.def.key_size as usize {
            return None;
        }
        let trie = self.trie.read().unwrap_or_else(|p| p.into_inner());
        self.longest_match(&trie, key)
            .map(|slot| slot as usize * self.elem_size)
    }

    /// User-space lookup (longest match), `ENOENT` when nothing matches.
    pub(crate) fn lookup_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        check_key(key, self.def.key_size)?;
        check_value(out.len(), self.def.value_size as usize)?;
        let trie = self.trie.read().unwrap_or_else(|p| p.into_inner());
        let slot = self
            .longest_match(&trie, key)
            .ok_or(MapError::KeyNotFound)?;
        // SAFETY: value_size bytes of the slot, accessed atomically.
        unsafe { shared_mem::copy_out(self.slot_ptr(slot), out) };
        Ok(())
    }

    /// Update of the exact prefix (user space or programs).
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        from_program: bool,
    ) -> Result<(), MapError> {
        if from_program && self.def.map_flags & BPF_F_RDONLY_PROG != 0 {
            return Err(MapError::ReadOnlyForPrograms);
        }
        check_key(key, self.def.key_size)?;
        check_value(value.len(), self.def.value_size as usize)?;
        if flags > BPF_EXIST {
            return Err(MapError::UnknownUpdateFlags { flags });
        }
        let len = Self::prefixlen(key);
        if len > self.max_prefixlen {
            return Err(trie_error(
                "store a prefix longer than its data",
                errno::EINVAL,
            ));
        }
        let mut exact = [0u8; LPM_KEY_SIZE_MAX as usize];
        let exact = &mut exact[..key.len()];
        Self::masked(key, len, exact);
        let mut trie = self.trie.write().unwrap_or_else(|p| p.into_inner());
        let hash = trie.index.hash(exact);
        let slot = match trie.index.find(exact, hash) {
            Some(_) if flags == BPF_NOEXIST => return Err(MapError::KeyExists),
            Some(slot) => slot,
            None if flags == BPF_EXIST => return Err(MapError::KeyNotFound),
            None => {
                let slot = trie
                    .index
                    .insert(exact, hash)
                    .ok_or_else(|| trie_error("add a prefix to a full trie", errno::ENOSPC))?;
                trie.per_length[len as usize] += 1;
                slot
            }
        };
        let ptr = self.slot_ptr(slot);
        // SAFETY: the slot's elem_size bytes, accessed atomically.
        unsafe {
            shared_mem::copy_in(ptr, value);
            shared_mem::zero(ptr.add(value.len()), self.elem_size - value.len());
        }
        Ok(())
    }

    /// Delete of the exact prefix.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        check_key(key, self.def.key_size)?;
        let len = Self::prefixlen(key);
        if len > self.max_prefixlen {
            return Err(trie_error(
                "delete a prefix longer than its data",
                errno::EINVAL,
            ));
        }
        let mut exact = [0u8; LPM_KEY_SIZE_MAX as usize];
        let exact = &mut exact[..key.len()];
        Self::masked(key, len, exact);
        let mut trie = self.trie.write().unwrap_or_else(|p| p.into_inner());
        let hash = trie.index.hash(exact);
        let slot = trie.index.find(exact, hash).ok_or(MapError::KeyNotFound)?;
        trie.index.remove(slot);
        trie.per_length[len as usize] -= 1;
        Ok(())
    }

    /// `get_next_key` into `out`.
    pub(crate) fn next_key_into(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        check_key(out, self.def.key_size)?;
        let trie = self.trie.read().unwrap_or_else(|p| p.into_inner());
        let mut exact = [0u8; LPM_KEY_SIZE_MAX as usize];
        let key = match key {
            Some(key) => {
                check_key(key, self.def.key_size)?;
                let exact = &mut exact[..key.len()];
                Self::masked(key, Self::prefixlen(key).min(self.max_prefixlen), exact);
                Some(&*exact)
            }
            None => None,
        };
        let slot = trie.index.next_slot(key).ok_or(MapError::NoMoreKeys)?;
        out.copy_from_slice(trie.index.key_of(slot));
        Ok(())
    }

    /// The entry at `cursor` and the next cursor.
    pub(crate) fn entry_at(
        &self,
        cursor: crate::hash::Cursor,
    ) -> Option<(Vec<u8>, Vec<u8>, crate::hash::Cursor)> {
        let trie = self.trie.read().unwrap_or_else(|p| p.into_inner());
        let (slot, next) = trie.index.at_cursor(cursor)?;
        let mut value = vec![0u8; self.def.value_size as usize];
        // SAFETY: value_size bytes of the slot, accessed atomically.
        unsafe { shared_mem::copy_out(self.slot_ptr(slot), &mut value) };
        Some((trie.index.key_of(slot).to_vec(), value, next))
    }
}
