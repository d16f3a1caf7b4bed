//! `bpf_spin_lock` (93) and `bpf_spin_unlock` (94) on a `struct
//! bpf_spin_lock` (a 4-byte word) in an array or hash map value, shared by
//! every thread running programs over the map.
//!
//! The kernel's verifier allows one lock held at a time, released before
//! the program ends. Here: a second lock, an unlock of a lock the run does
//! not hold, or a lock outside an array or hash value end the run
//! ([`HelperError::SpinLock`]); a lock still held when the run ends is
//! released. Waiting for a lock another run holds charges the budget one
//! unit per attempt, so a lock word a program or user space overwrote
//! cannot hang the run.

use std::sync::atomic::{AtomicU32, Ordering};

use tinybpf_maps::{BpfMap, MapType};

use crate::Access;
use crate::error::HelperError;
use crate::exec::helpers::HelperContext;
use crate::exec::memory::FIRST_MAP_SLOT;

/// The lock a run holds: its map and its offset in the map's region.
#[derive(Debug, Clone)]
pub(crate) struct HeldLock {
    map: BpfMap,
    offset: usize,
}

impl HeldLock {
    /// Releases the lock (a run ended holding it).
    pub(crate) fn release(self) {
        if let Some(word) = lock_word(&self.map, self.offset) {
            word.store(0, Ordering::Release);
        }
    }
}

/// The lock word at `offset` of `map`'s region (the same for every CPU:
/// only maps without per-CPU values hold locks).
fn lock_word(map: &BpfMap, offset: usize) -> Option<&AtomicU32> {
    let (base, len) = map.program_region(0)?;
    if !offset.is_multiple_of(4) || offset.checked_add(4)? > len {
        return None;
    }
    // SAFETY: `offset + 4 <= len`, the region's length, and `offset` is
    // 4-aligned in a region that starts 8-aligned; the region lives as long
    // as `map`, which the caller borrows, and its bytes are only ever
    // accessed atomically or through the VM's unaligned-safe copies.
    Some(unsafe { AtomicU32::from_ptr(base.as_ptr().add(offset).cast()) })
}

fn refuse(addr: u64, problem: &'static str) -> HelperError {
    HelperError::SpinLock { addr, problem }
}

/// The map and region offset of a lock at `addr`, checked.
fn locate(ctx: &HelperContext<'_>, addr: u64) -> Result<(BpfMap, usize), HelperError> {
    let map = (addr >> 32)
        .checked_sub(FIRST_MAP_SLOT)
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| ctx.maps().get(i))
        .filter(|m| matches!(m.map_type(), MapType::Array | MapType::Hash))
        .ok_or(refuse(addr, "is not in an array or hash map value"))?;
    // The bytes must be memory the program may write.
    ctx.space()
        .resolve(addr, 4, Access::Write)
        .ok_or(refuse(addr, "is not writable map memory"))?;
    Ok((map.clone(), (addr & 0xffff_ffff) as usize))
}

/// `long bpf_spin_lock(struct bpf_spin_lock *lock)`: 0 once held.
pub(crate) fn spin_lock(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let addr = args[0];
    if ctx.held_lock().is_some() {
        return Err(refuse(addr, "is a second lock while the run holds one"));
    }
    let (map, offset) = locate(ctx, addr)?;
    let word = lock_word(&map, offset).ok_or(refuse(addr, "is not a 4-byte aligned lock"))?;
    while word
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        ctx.charge(1)?;
        std::hint::spin_loop();
        std::thread::yield_now();
    }
    ctx.set_held_lock(Some(HeldLock { map, offset }));
    Ok(0)
}

/// `long bpf_spin_unlock(struct bpf_spin_lock *lock)`: 0.
pub(crate) fn spin_unlock(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let addr = args[0];
    let (map, offset) = locate(ctx, addr)?;
    let held = ctx.held_lock();
    if !held.is_some_and(|h| h.offset == offset && h.map.same_map(&map)) {
        return Err(refuse(addr, "is not the lock the run holds"));
    }
    if let Some(lock) = ctx.take_held_lock() {
        lock.release();
    }
    Ok(0)
}
