//! Small pieces every map type shares: key and length checks, array-style
//! key iteration, per-CPU value slices, and the frozen state.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::def::PAGE_SIZE;
use crate::error::MapError;
use crate::freeze::{WriteGate, WriteGuard};
use crate::storage::ValueMemory;

/// `value` rounded up to a multiple of `to` (a power of two), or `None` on
/// overflow.
pub(crate) fn round_up(value: usize, to: usize) -> Option<usize> {
    Some(value.checked_add(to - 1)? & !(to - 1))
}

/// The 4-byte key as a little-endian index; `EINVAL` for another length.
pub(crate) fn index_key(key: &[u8], key_size: u32) -> Result<u32, MapError> {
    let bytes: [u8; 4] = key.try_into().map_err(|_| MapError::KeyLength {
        expected: key_size,
        actual: key.len(),
    })?;
    Ok(u32::from_le_bytes(bytes))
}

/// `EINVAL` unless `key` is `key_size` bytes long.
pub(crate) fn check_key(key: &[u8], key_size: u32) -> Result<(), MapError> {
    if key.len() != key_size as usize {
        return Err(MapError::KeyLength {
            expected: key_size,
            actual: key.len(),
        });
    }
    Ok(())
}

/// `EINVAL` unless a value buffer is `expected` bytes long.
pub(crate) fn check_value(len: usize, expected: usize) -> Result<(), MapError> {
    if len != expected {
        return Err(MapError::ValueLength {
            expected: u32::try_from(expected).unwrap_or(u32::MAX),
            actual: len,
        });
    }
    Ok(())
}

/// The array maps' `get_next_key`: no key or one out of range gives 0, the
/// last index `ENOENT`, any other index the next one.
pub(crate) fn array_next_key(
    key: Option<&[u8]>,
    key_size: u32,
    max_entries: u32,
) -> Result<u32, MapError> {
    let Some(key) = key else { return Ok(0) };
    let index = index_key(key, key_size)?;
    if index >= max_entries {
        Ok(0)
    } else if index == max_entries - 1 {
        Err(MapError::NoNextKey { index })
    } else {
        Ok(index + 1)
    }
}

/// The array maps' update flag checks in the kernel's order: flags above
/// `BPF_EXIST` `EINVAL`, an index past the end `E2BIG`, `BPF_NOEXIST`
/// `EEXIST` (every element exists).
pub(crate) fn array_update_checks(
    index: u32,
    max_entries: u32,
    flags: u64,
) -> Result<(), MapError> {
    if flags > crate::BPF_EXIST {
        return Err(MapError::UnknownUpdateFlags { flags });
    }
    if index >= max_entries {
        return Err(MapError::IndexTooBig { index, max_entries });
    }
    if flags == crate::BPF_NOEXIST {
        return Err(MapError::ElementExists { index });
    }
    Ok(())
}

/// One value area per possible CPU, each of the same layout, each starting
/// on its own page so that CPUs never share a cache line.
pub(crate) struct CpuSlices {
    memory: ValueMemory,
    cpus: u32,
    stride: usize,
    len: usize,
}

impl CpuSlices {
    /// `cpus` zeroed slices of `len` bytes (at least one page apart).
    pub(crate) fn allocate(cpus: u32, len: usize) -> Result<CpuSlices, MapError> {
        let stride = CpuSlices::stride_for(len)?;
        let total = stride
            .checked_mul(cpus as usize)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        Ok(CpuSlices {
            memory: ValueMemory::allocate(total)?,
            cpus,
            stride,
            len,
        })
    }

    /// The distance between slices for `len`-byte slices.
    pub(crate) fn stride_for(len: usize) -> Result<usize, MapError> {
        round_up(len.max(1), PAGE_SIZE).ok_or(MapError::OutOfMemory { bytes: len })
    }

    /// The bytes reserved for `cpus` slices of `len` bytes.
    pub(crate) fn reserved_for(cpus: u32, len: usize) -> Result<u64, MapError> {
        let stride = CpuSlices::stride_for(len)? as u64;
        stride
            .checked_mul(u64::from(cpus))
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })
    }

    /// The start of `cpu`'s slice, or `None` past the last CPU.
    #[inline]
    pub(crate) fn base(&self, cpu: u32) -> Option<NonNull<u8>> {
        if cpu >= self.cpus {
            return None;
        }
        // SAFETY: cpu < cpus, so cpu * stride + stride <= total bytes owned.
        Some(unsafe { self.memory.values().add(cpu as usize * self.stride) })
    }

    /// The length of each slice.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The number of slices.
    pub(crate) fn cpus(&self) -> u32 {
        self.cpus
    }
}

/// The frozen flag, its lock and the writes in flight of one map.
#[derive(Debug, Default)]
pub(crate) struct FreezeState {
    frozen: AtomicU32,
    lock: Mutex<()>,
    gate: WriteGate,
}

impl FreezeState {
    /// Counts in a user-space write (`EPERM` once frozen).
    pub(crate) fn begin_write(&self, operation: &'static str) -> Result<WriteGuard<'_>, MapError> {
        self.gate.begin(&self.frozen, operation)
    }

    /// Freezes (`EBUSY` when already frozen or while writes are in flight).
    pub(crate) fn freeze(&self) -> Result<(), MapError> {
        let _serial: MutexGuard<'_, ()> = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.gate.freeze(&self.frozen)
    }

    /// True once frozen.
    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_slices_are_page_apart() {
        let slices = CpuSlices::allocate(3, 24).unwrap();
        let a = slices.base(0).unwrap().as_ptr() as usize;
        let b = slices.base(1).unwrap().as_ptr() as usize;
        assert_eq!(b - a, PAGE_SIZE);
        assert!(slices.base(2).is_some());
        assert!(slices.base(3).is_none());
        assert_eq!(
            CpuSlices::reserved_for(3, 24).unwrap(),
            3 * PAGE_SIZE as u64
        );
        assert_eq!(slices.len(), 24);
        assert_eq!(slices.cpus(), 3);
    }

    #[test]
    fn array_key_walk() {
        let k = |i: u32| i.to_le_bytes();
        assert_eq!(array_next_key(None, 4, 3), Ok(0));
        assert_eq!(array_next_key(Some(&k(0)), 4, 3), Ok(1));
        assert_eq!(array_next_key(Some(&k(9)), 4, 3), Ok(0));
        assert_eq!(array_next_key(Some(&k(2)), 4, 3).unwrap_err().errno(), 2);
        assert_eq!(array_next_key(Some(&[0; 3]), 4, 3).unwrap_err().errno(), 22);
    }
}
