//! The memory holding a map's values: an anonymous mapping (page-aligned, and
//! zeroed lazily by the operating system, so untouched pages cost nothing),
//! or the value pages of a shared file mapping (a pinned map).

use core::ptr::NonNull;

use crate::def::PAGE_SIZE;
use crate::error::MapError;

/// Owns the bytes of a map's value area. The address never changes while the
/// value exists, and every byte is only accessed through
/// [`crate::shared_mem`] or atomic types.
pub(crate) struct ValueMemory {
    /// Start of element 0, aligned to [`PAGE_SIZE`].
    values: NonNull<u8>,
    /// Bytes owned from `values` on.
    len: usize,
    owner: Owner,
}

enum Owner {
    /// An anonymous private mapping, unmapped when dropped.
    Anonymous { _mapping: memmap2::MmapMut },
    /// Pages of a shared mapping of a pin file; `header` points at its first
    /// page (the header), the values follow it.
    Pinned {
        _mapping: memmap2::MmapMut,
        header: NonNull<u8>,
    },
}

// SAFETY: the memory is owned by this value (a mapping) and is
// never accessed through references, only through atomic operations, so it
// may be shared and sent between threads.
unsafe impl Send for ValueMemory {}
// SAFETY: as above: all shared access is atomic.
unsafe impl Sync for ValueMemory {}

impl ValueMemory {
    /// Maps `len` zeroed bytes aligned to [`PAGE_SIZE`]. The operating system
    /// provides the pages on first touch, so a large map costs memory only
    /// for the pages a program or user space actually writes.
    pub(crate) fn allocate(len: usize) -> Result<ValueMemory, MapError> {
        let fail = || MapError::OutOfMemory { bytes: len };
        if len > isize::MAX as usize - PAGE_SIZE {
            return Err(fail());
        }
        let mut mapping = memmap2::MmapMut::map_anon(len.max(1)).map_err(|_| fail())?;
        let values = NonNull::new(mapping.as_mut_ptr()).ok_or_else(fail)?;
        if !(values.as_ptr() as usize).is_multiple_of(PAGE_SIZE) {
            return Err(fail());
        }
        Ok(ValueMemory {
            values,
            len,
            owner: Owner::Anonymous { _mapping: mapping },
        })
    }

    /// Wraps a shared file mapping whose first `header_len` bytes are the pin
    /// header and whose next `len` bytes are the values.
    ///
    /// # Safety
    /// The mapping must be at least `header_len + len` bytes long, `header_len`
    /// a multiple of [`PAGE_SIZE`], and its bytes only ever accessed
    /// atomically from now on.
    pub(crate) unsafe fn from_mapping(
        mut mapping: memmap2::MmapMut,
        header_len: usize,
        len: usize,
    ) -> ValueMemory {
        let header = NonNull::new(mapping.as_mut_ptr()).unwrap_or(NonNull::dangling());
        // SAFETY: the caller guarantees the mapping covers header_len + len bytes.
        let values = unsafe { header.add(header_len) };
        ValueMemory {
            values,
            len,
            owner: Owner::Pinned {
                _mapping: mapping,
                header,
            },
        }
    }

    /// Start of the value area.
    pub(crate) fn values(&self) -> NonNull<u8> {
        self.values
    }

    /// Bytes owned from [`ValueMemory::values`] on.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The pin header's first byte, for a pinned map.
    pub(crate) fn pin_header(&self) -> Option<NonNull<u8>> {
        match &self.owner {
            Owner::Anonymous { .. } => None,
            Owner::Pinned { header, .. } => Some(*header),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_zeroed_and_page_aligned() {
        let memory = ValueMemory::allocate(3 * PAGE_SIZE + 8).unwrap();
        assert_eq!(memory.values().as_ptr() as usize % PAGE_SIZE, 0);
        assert_eq!(memory.len(), 3 * PAGE_SIZE + 8);
        let mut bytes = vec![1u8; memory.len()];
        // SAFETY: `len` bytes owned by `memory`, accessed atomically.
        unsafe { crate::shared_mem::copy_out(memory.values().as_ptr(), &mut bytes) };
        assert!(bytes.iter().all(|&b| b == 0));
        assert!(memory.pin_header().is_none());
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot model a failing mapping")]
    fn a_large_map_costs_nothing_until_touched() {
        // 2 GiB of address space: only mapped, never touched by the test.
        let memory = ValueMemory::allocate(2 << 30).unwrap();
        assert_eq!(memory.len(), 2 << 30);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot model a failing allocation")]
    fn impossible_allocation_is_an_error() {
        assert_eq!(
            ValueMemory::allocate(usize::MAX).err(),
            Some(MapError::OutOfMemory { bytes: usize::MAX })
        );
        assert_eq!(
            ValueMemory::allocate(1 << 60).err(),
            Some(MapError::OutOfMemory { bytes: 1 << 60 })
        );
    }
}
