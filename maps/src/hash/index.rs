//! The key index of a hash map: which pre-allocated slot holds which key.
//!
//! `n_buckets` (the next power of two at or above `max_entries`, as the
//! kernel's `roundup_pow_of_two`) singly linked chains through the slots;
//! new keys go to the head of their chain, as the kernel's
//! `hlist_nulls_add_head_rcu`. Free slots sit on a stack, so a deleted
//! slot is the next one reused. Every array is allocated at creation
//! (fallibly: an allocation failure is `ENOMEM`, never an abort), so no
//! operation allocates afterwards.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::MapError;

/// "No slot" in chains and buckets.
const NONE: u32 = u32::MAX;

/// The index; the caller keeps it behind a lock.
pub(crate) struct HashIndex {
    key_size: usize,
    seed: u64,
    mask: u32,
    /// Head slot of each bucket's chain.
    buckets: Vec<u32>,
    /// Next slot in the same chain.
    next: Vec<u32>,
    /// Each slot's hash (valid while in use).
    hashes: Vec<u32>,
    /// Each slot's key, `key_size` bytes per slot (lazily zeroed pages).
    keys: memmap2::MmapMut,
    /// Whether each slot holds a key.
    in_use: Vec<bool>,
    /// Free slots, the next to use on top.
    free: Vec<u32>,
    /// The LRU clock hand: the next slot eviction considers.
    hand: u32,
}

/// A position in the walk over every key, bucket by bucket, chain order
/// within a bucket (the order of `get_next_key`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    bucket: u32,
    skip: u32,
}

fn alloc_u32(len: usize, fill: u32) -> Result<Vec<u32>, MapError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| MapError::OutOfMemory {
            bytes: len.saturating_mul(4),
        })?;
    v.resize(len, fill);
    Ok(v)
}

impl HashIndex {
    /// The bytes an index for `capacity` slots of `key_size`-byte keys uses.
    pub(crate) fn reserved_bytes(capacity: u32, key_size: u32) -> u64 {
        let buckets = u64::from(capacity.max(1).next_power_of_two());
        let cap = u64::from(capacity);
        buckets * 4 + cap * (4 + 4 + 4 + 1 + 1) + cap * u64::from(key_size)
    }

    /// An empty index of `capacity` slots (at most 2^31).
    pub(crate) fn new(capacity: u32, key_size: u32, seed: u64) -> Result<HashIndex, MapError> {
        let n_buckets = capacity.max(1).next_power_of_two();
        let cap = capacity as usize;
        let key_bytes = cap
            .checked_mul(key_size as usize)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        let keys = memmap2::MmapMut::map_anon(key_bytes.max(1))
            .map_err(|_| MapError::OutOfMemory { bytes: key_bytes })?;
        let mut free = alloc_u32(cap, 0)?;
        for (i, slot) in free.iter_mut().enumerate() {
            // Slot 0 on top of the stack.
            *slot = (cap - 1 - i) as u32;
        }
        let mut in_use = Vec::new();
        in_use
            .try_reserve_exact(cap)
            .map_err(|_| MapError::OutOfMemory { bytes: cap })?;
        in_use.resize(cap, false);
        Ok(HashIndex {
            key_size: key_size as usize,
            seed,
            mask: n_buckets - 1,
            buckets: alloc_u32(n_buckets as usize, NONE)?,
            next: alloc_u32(cap, NONE)?,
            hashes: alloc_u32(cap, 0)?,
            keys,
            in_use,
            free,
            hand: 0,
        })
    }

    /// The number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.next.len() - self.free.len()
    }

    /// The hash of `key` (its length is `key_size`).
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u32 {
        hash_bytes(key, self.seed)
    }

    #[inline]
    fn key_at(&self, slot: u32) -> &[u8] {
        let start = slot as usize * self.key_size;
        &self.keys[start..start + self.key_size]
    }

    /// The key held by `slot`.
    pub(crate) fn key_of(&self, slot: u32) -> &[u8] {
        self.key_at(slot)
    }

    /// The slot holding `key`, if any.
    #[inline]
    pub(crate) fn find(&self, key: &[u8], hash: u32) -> Option<u32> {
        let mut slot = self.buckets[(hash & self.mask) as usize];
        while slot != NONE {
            let s = slot as usize;
            if self.hashes[s] == hash && self.key_at(slot) == key {
                return Some(slot);
            }
            slot = self.next[s];
        }
        None
    }

    /// Puts `key` in a free slot at the head of its chain; `None` when every
    /// slot is in use.
    pub(crate) fn insert(&mut self, key: &[u8], hash: u32) -> Option<u32> {
        let slot = self.free.pop()?;
        let s = slot as usize;
        let start = s * self.key_size;
        self.keys[start..start + self.key_size].copy_from_slice(key);
        self.hashes[s] = hash;
        self.in_use[s] = true;
        let bucket = (hash & self.mask) as usize;
        self.next[s] = self.buckets[bucket];
        self.buckets[bucket] = slot;
        Some(slot)
    }

    /// Unlinks `slot` (which must be in use) and frees it at once.
    pub(crate) fn remove(&mut self, slot: u32) {
        let s = slot as usize;
        let bucket = (self.hashes[s] & self.mask) as usize;
        let mut link = self.buckets[bucket];
        if link == slot {
            self.buckets[bucket] = self.next[s];
        } else {
            while link != NONE {
                let l = link as usize;
                if self.next[l] == slot {
                    self.next[l] = self.next[s];
                    break;
                }
                link = self.next[l];
            }
        }
        self.next[s] = NONE;
        self.in_use[s] = false;
        self.free.push(slot);
    }

    /// The LRU victim: a CLOCK (second chance) sweep from the hand over the
    /// slots in index order, skipping and clearing those whose referenced
    /// bit is set; `None` when no slot is in use.
    pub(crate) fn clock_victim(&mut self, referenced: &[AtomicBool]) -> Option<u32> {
        let cap = self.next.len() as u32;
        if cap == 0 || self.len() == 0 {
            return None;
        }
        // Two sweeps: the first may clear every bit, the second then finds one.
        for _ in 0..2 * u64::from(cap) + 1 {
            let slot = self.hand;
            self.hand = if slot + 1 == cap { 0 } else { slot + 1 };
            if !self.in_use[slot as usize] {
                continue;
            }
            if referenced[slot as usize].swap(false, Ordering::Relaxed) {
                continue;
            }
            return Some(slot);
        }
        None
    }

    /// The first key's slot from bucket `from` on.
    fn first_from(&self, from: u32) -> Option<u32> {
        (from as usize..self.buckets.len())
            .map(|b| self.buckets[b])
            .find(|&slot| slot != NONE)
    }

    /// `get_next_key`: the slot of the key after `key` in bucket-then-chain
    /// order; the first key when `key` is `None` or not in the map (the
    /// kernel restarts there too); `None` after the last key.
    pub(crate) fn next_slot(&self, key: Option<&[u8]>) -> Option<u32> {
        let Some(key) = key else {
            return self.first_from(0);
        };
        let hash = self.hash(key);
        match self.find(key, hash) {
            None => self.first_from(0),
            Some(slot) => {
                let next = self.next[slot as usize];
                if next != NONE {
                    Some(next)
                } else {
                    self.first_from((hash & self.mask) + 1)
                }
            }
        }
    }

    /// The slot after `key` in a walk over the map (bucket-then-chain
    /// order, as `bpf_for_each_map_elem` visits): for a key in the map, as
    /// [`HashIndex::next_slot`]; for a key no longer in the map, the first
    /// key of the buckets after that key's bucket, so a walk whose callback
    /// deleted the key it was given goes on instead of starting over.
    pub(crate) fn walk_slot(&self, key: &[u8]) -> Option<u32> {
        let hash = self.hash(key);
        match self.find(key, hash) {
            Some(_) => self.next_slot(Some(key)),
            None => self.first_from((hash & self.mask) + 1),
        }
    }

    /// The slot at `cursor` and the cursor after it; `None` at the end.
    pub(crate) fn at_cursor(&self, cursor: Cursor) -> Option<(u32, Cursor)> {
        let mut bucket = cursor.bucket;
        let mut skip = cursor.skip;
        while (bucket as usize) < self.buckets.len() {
            let mut slot = self.buckets[bucket as usize];
            let mut n = 0;
            while slot != NONE && n < skip {
                slot = self.next[slot as usize];
                n += 1;
            }
            if slot != NONE {
                return Some((
                    slot,
                    Cursor {
                        bucket,
                        skip: skip + 1,
                    },
                ));
            }
            bucket += 1;
            skip = 0;
        }
        None
    }
}

/// A fast non-cryptographic 32-bit hash of `key` under `seed`: 8-byte words
/// folded through 64x64->128-bit multiplies, finished with a full
/// avalanche. With a random per-map seed, as the kernel's `hashrnd`, an
/// adversary cannot pick keys that collide; `BPF_F_ZERO_SEED` uses seed 0.
#[inline]
pub(crate) fn hash_bytes(key: &[u8], seed: u64) -> u32 {
    const K0: u64 = 0x9E37_79B9_7F4A_7C15;
    const K1: u64 = 0xD6E8_FEB8_6659_FD93;
    #[inline(always)]
    fn fold(a: u64, b: u64) -> u64 {
        let product = u128::from(a) * u128::from(b);
        (product as u64) ^ ((product >> 64) as u64)
    }
    let mut h = seed ^ (key.len() as u64).wrapping_mul(K0);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = fold(h ^ u64::from_le_bytes(word), K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = fold(h ^ u64::from_le_bytes(word), K0);
    }
    // murmur3's fmix64.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_and_reuse() {
        let mut index = HashIndex::new(3, 4, 7).unwrap();
        let keys: Vec<[u8; 4]> = (0u32..3).map(|k| k.to_le_bytes()).collect();
        let slots: Vec<u32> = keys
            .iter()
            .map(|k| index.insert(k, index.hash(k)).unwrap())
            .collect();
        assert_eq!(slots, [0, 1, 2]);
        assert_eq!(index.insert(&[9; 4], index.hash(&[9; 4])), None);
        assert_eq!(index.find(&keys[1], index.hash(&keys[1])), Some(1));
        index.remove(1);
        assert_eq!(index.find(&keys[1], index.hash(&keys[1])), None);
        assert_eq!(index.len(), 2);
        // The freed slot is reused at once.
        assert_eq!(index.insert(&[9; 4], index.hash(&[9; 4])), Some(1));
    }

    #[test]
    fn chains_survive_removal_from_the_middle() {
        // One bucket: every key collides.
        let mut index = HashIndex::new(1, 4, 0).unwrap();
        index.mask = 0;
        let mut index2 = HashIndex::new(4, 4, 0).unwrap();
        index2.mask = 0;
        let keys: Vec<[u8; 4]> = (0u32..4).map(|k| k.to_le_bytes()).collect();
        for k in &keys {
            index2.insert(k, index2.hash(k)).unwrap();
        }
        index2.remove(2);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index2.find(k, index2.hash(k)).is_some(), i != 2);
        }
        let mut walk = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        while let Some(slot) = index2.next_slot(key.as_deref()) {
            key = Some(index2.key_of(slot).to_vec());
            walk.push(slot);
        }
        assert_eq!(walk, [3, 1, 0]);
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn clock_gives_a_second_chance() {
        let mut index = HashIndex::new(3, 4, 1).unwrap();
        let refs: Vec<AtomicBool> = (0..3).map(|_| AtomicBool::new(false)).collect();
        for k in 0u32..3 {
            let key = k.to_le_bytes();
            index.insert(&key, index.hash(&key));
        }
        refs[0].store(true, Ordering::Relaxed);
        assert_eq!(index.clock_victim(&refs), Some(1));
        assert!(
            !refs[0].load(Ordering::Relaxed),
            "passing the hand clears the bit"
        );
        assert_eq!(index.clock_victim(&refs), Some(2));
        assert_eq!(index.clock_victim(&refs), Some(0));
    }

    #[test]
    fn hash_depends_on_seed_and_every_byte() {
        assert_ne!(hash_bytes(&[1, 2, 3], 0), hash_bytes(&[1, 2, 3], 1));
        assert_ne!(hash_bytes(&[0; 9], 0), hash_bytes(&[0; 8], 0));
        let base = [0u8; 13];
        for i in 0..13 {
            let mut k = base;
            k[i] = 1;
            assert_ne!(hash_bytes(&k, 5), hash_bytes(&base, 5), "byte {i}");
        }
    }
}
