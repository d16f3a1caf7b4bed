//! `BPF_MAP_TYPE_RINGBUF` (kernel/bpf/ringbuf.c).
//!
//! # Layout
//!
//! `max_entries` is the ring's data size in bytes (a power of two and a
//! multiple of the page size). Records sit at their position modulo the size:
//! an 8-byte header (`u32 len` with the busy bit `1 << 31` and the discard
//! bit `1 << 30`, then a `u32` page offset, 0 here) followed by the data,
//! `round_up(len + 8, 8)` bytes in all. The kernel maps the data pages twice
//! in a row so that a record that wraps is contiguous; tinybpf gives the
//! program region twice the ring's size instead: a record reserved near the
//! end runs on into the second half, and committing it (submit or discard)
//! folds the part past the end back to the ring's start before clearing the
//! busy bit. Only the record's owner touches those bytes until then: the
//! ring never holds more than its size in flight, so no other record lives
//! at the same positions.
//!
//! # Accounting, as the kernel
//!
//! A reserve of `size` bytes takes `round_up(size + 8, 8)`; it fails (the
//! helper gets NULL) when flags are not 0, when that is larger than the ring,
//! or when the producer would get `size - 1` or more bytes ahead of the
//! consumer or of the oldest record not yet committed. `bpf_ringbuf_query`:
//! `BPF_RB_AVAIL_DATA` = producer - consumer (discarded records included
//! until consumed), `BPF_RB_RING_SIZE`, `BPF_RB_CONS_POS`, `BPF_RB_PROD_POS`;
//! other flags 0. `bpf_ringbuf_output`: flags other than
//! `BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP` `EINVAL`, no room `EAGAIN`.
//!
//! The user-space consumer ([`crate::BpfMap::ringbuf_consume`]) reads
//! records from the consumer position in ring order and stops at the first
//! still busy one, as libbpf's `ring_buffer__consume` does; discarded
//! records are skipped. Records are therefore delivered in the order they
//! were reserved, once committed (the kernel's order; a record committed
//! before an older one waits for it).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::def::MapDef;
use crate::error::MapError;
use crate::options::MemoryCharge;
use crate::shared_mem;
use crate::storage::ValueMemory;

/// The header's busy bit: the record is reserved, not yet committed.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// The header's discard bit: the record was discarded.
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// The record header's size.
pub const BPF_RINGBUF_HDR_SZ: u64 = 8;
/// `bpf_ringbuf_query` flag: bytes not yet consumed.
pub const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_query` flag: the ring's size.
pub const BPF_RB_RING_SIZE: u64 = 1;
/// `bpf_ringbuf_query` flag: the consumer position.
pub const BPF_RB_CONS_POS: u64 = 2;
/// `bpf_ringbuf_query` flag: the producer position.
pub const BPF_RB_PROD_POS: u64 = 3;
/// Output/submit flag: no wakeup.
pub const BPF_RB_NO_WAKEUP: u64 = 1;
/// Output/submit flag: forced wakeup.
pub const BPF_RB_FORCE_WAKEUP: u64 = 2;
/// The largest record the kernel reserves (`RINGBUF_MAX_RECORD_SZ`).
const MAX_RECORD_SIZE: u64 = (u32::MAX / 4) as u64;

/// A ring buffer map.
pub struct RingBuf {
    size: u64,
    memory: ValueMemory,
    /// The producer's state: (producer position, oldest uncommitted position).
    producer: Mutex<(u64, u64)>,
    /// The producer position, for the consumer and queries.
    producer_pos: AtomicU64,
    consumer_pos: AtomicU64,
    /// Serialises user-space consumers.
    consumer: Mutex<()>,
    _charge: MemoryCharge,
}

impl RingBuf {
    /// The bytes a ring of `size` bytes reserves (twice the size).
    pub(crate) fn reserved_bytes(size: u32) -> u64 {
        2 * u64::from(size)
    }

    pub(crate) fn new(def: MapDef, charge: MemoryCharge) -> Result<RingBuf, MapError> {
        let size = u64::from(def.max_entries);
        let len =
            usize::try_from(2 * size).map_err(|_| MapError::OutOfMemory { bytes: usize::MAX })?;
        Ok(RingBuf {
            size,
            memory: ValueMemory::allocate(len)?,
            producer: Mutex::new((0, 0)),
            producer_pos: AtomicU64::new(0),
            consumer_pos: AtomicU64::new(0),
            consumer: Mutex::new(()),
            _charge: charge,
        })
    }

    /// The program region: twice the ring's size.
    pub(crate) fn region(&self) -> (NonNull<u8>, usize) {
        (self.memory.values(), (2 * self.size) as usize)
    }

    fn mask(&self) -> u64 {
        self.size - 1
    }

    fn header(&self, ring_offset: u64) -> &AtomicU32 {
        // SAFETY: ring_offset < size and 8-aligned (positions advance by
        // multiples of 8), inside the region, accessed only atomically.
        unsafe {
            AtomicU32::from_ptr(
                self.memory
                    .values()
                    .as_ptr()
                    .add(ring_offset as usize)
                    .cast(),
            )
        }
    }

    /// `bpf_ringbuf_reserve`: the offset of a `size`-byte record area in the
    /// region, or `None` (flags not 0, too large, or no room).
    pub fn reserve(&self, size: u64, flags: u64) -> Option<usize> {
        if flags != 0 || size > MAX_RECORD_SIZE {
            return None;
        }
        let len = (size + BPF_RINGBUF_HDR_SZ).div_ceil(8) * 8;
        if len > self.size {
            return None;
        }
        let consumer = self.consumer_pos.load(Ordering::Acquire);
        let mut producer = self.producer.lock().unwrap_or_else(|p| p.into_inner());
        let (prod, mut pending) = *producer;
        while pending < prod {
            let header = self.header(pending & self.mask()).load(Ordering::Acquire);
            if header & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            let record = u64::from(header & !BPF_RINGBUF_DISCARD_BIT);
            pending += (record + BPF_RINGBUF_HDR_SZ).div_ceil(8) * 8;
        }
        let new_prod = prod + len;
        if new_prod - consumer > self.mask() || new_prod - pending.min(new_prod) > self.mask() {
            producer.1 = pending;
            return None;
        }
        let at = prod & self.mask();
        self.header(at)
            .store(size as u32 | BPF_RINGBUF_BUSY_BIT, Ordering::Relaxed);
        // SAFETY: the page-offset word follows the header, inside the region.
        unsafe { shared_mem::store(self.memory.values().as_ptr().add(at as usize + 4), 4, 0) };
        *producer = (new_prod, pending);
        self.producer_pos.store(new_prod, Ordering::Release);
        Some(at as usize + BPF_RINGBUF_HDR_SZ as usize)
    }

    /// Commits the record whose data starts at `offset` (from
    /// [`RingBuf::reserve`]): submitted, or discarded. `EINVAL` when
    /// `offset` is not a reserved, uncommitted record.
    pub fn commit(&self, offset: usize, discard: bool) -> Result<(), MapError> {
        let bad = MapError::NotSupported {
            map_type: crate::MapType::Ringbuf,
            operation: "commit a record that is not reserved",
            errno: crate::errno::EINVAL,
        };
        let offset = offset as u64;
        if offset < BPF_RINGBUF_HDR_SZ
            || !offset.is_multiple_of(8)
            || offset - BPF_RINGBUF_HDR_SZ >= self.size
        {
            return Err(bad);
        }
        let at = offset - BPF_RINGBUF_HDR_SZ;
        let header = self.header(at);
        let value = header.load(Ordering::Acquire);
        if value & BPF_RINGBUF_BUSY_BIT == 0 {
            return Err(bad);
        }
        let len = u64::from(value & !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT));
        let end = at + (len + BPF_RINGBUF_HDR_SZ).div_ceil(8) * 8;
        if end > self.size {
            let base = self.memory.values().as_ptr();
            // SAFETY: [size, end) and [0, end - size) are inside the 2*size
            // region and do not overlap (end - size < size); only this
            // record's owner uses them until the busy bit clears.
            unsafe {
                shared_mem::copy_within_shared(
                    base.add(self.size as usize),
                    base,
                    (end - self.size) as usize,
                );
            }
        }
        let flag = if discard { BPF_RINGBUF_DISCARD_BIT } else { 0 };
        header.store(len as u32 | flag, Ordering::Release);
        Ok(())
    }

    /// `bpf_ringbuf_output`: copies `data` as one record.
    pub fn output(&self, data: &[u8], flags: u64) -> Result<(), MapError> {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return Err(MapError::UnknownOutputFlags { flags });
        }
        let size = data.len() as u64;
        let offset = self.reserve(size, 0).ok_or(MapError::RingFull { size })?;
        // SAFETY: the reserved area holds `size` bytes inside the region.
        unsafe { shared_mem::copy_in(self.memory.values().as_ptr().add(offset), data) };
        self.commit(offset, false)
    }

    /// `bpf_ringbuf_query`.
    pub fn query(&self, flags: u64) -> u64 {
        let consumer = self.consumer_pos.load(Ordering::Acquire);
        let producer = self.producer_pos.load(Ordering::Acquire);
        match flags {
            BPF_RB_AVAIL_DATA => producer - consumer,
            BPF_RB_RING_SIZE => self.size,
            BPF_RB_CONS_POS => consumer,
            BPF_RB_PROD_POS => producer,
            _ => 0,
        }
    }

    /// Delivers committed records to `sink` in ring order, stopping at the
    /// first busy one; returns how many were delivered.
    pub(crate) fn consume(&self, sink: &mut dyn FnMut(&[u8])) -> usize {
        let _consumer = self.consumer.lock().unwrap_or_else(|p| p.into_inner());
        let mut consumer = self.consumer_pos.load(Ordering::Acquire);
        let mut delivered = 0;
        let mut data = Vec::new();
        loop {
            let producer = self.producer_pos.load(Ordering::Acquire);
            if consumer >= producer {
                break;
            }
            let header = self.header(consumer & self.mask()).load(Ordering::Acquire);
            if header & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            let len = u64::from(header & !BPF_RINGBUF_DISCARD_BIT);
            let total = (len + BPF_RINGBUF_HDR_SZ).div_ceil(8) * 8;
            if total > producer - consumer {
                // A program overwrote the header: stop rather than read garbage.
                break;
            }
            if header & BPF_RINGBUF_DISCARD_BIT == 0 {
                data.clear();
                data.resize(len as usize, 0);
                let start = (consumer + BPF_RINGBUF_HDR_SZ) & self.mask();
                let first = (self.size - start).min(len) as usize;
                let base = self.memory.values().as_ptr();
                // SAFETY: [start, start + first) and [0, len - first) lie in
                // the ring's first half; accessed atomically.
                unsafe {
                    shared_mem::copy_out(base.add(start as usize), &mut data[..first]);
                    shared_mem::copy_out(base, &mut data[first..]);
                }
                sink(&data);
                delivered += 1;
            }
            consumer += total;
            self.consumer_pos.store(consumer, Ordering::Release);
        }
        delivered
    }
}
