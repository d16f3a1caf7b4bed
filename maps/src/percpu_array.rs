//! `BPF_MAP_TYPE_PERCPU_ARRAY` (kernel/bpf/arraymap.c, `percpu_array_map_ops`).
//!
//! Layout: one slice per possible CPU, each `max_entries` elements of
//! `round_up(value_size, 8)` bytes, zeroed at creation; slices start on
//! separate pages, so programs on different CPUs never share a cache line.
//! A program on CPU `c` sees slice `c`; element `i` sits at the same offset,
//! `i * elem_size`, in every slice. User space reads and writes all CPUs at
//! once in the kernel's format: each CPU's value padded to `elem_size`,
//! concatenated, CPU 0 first.

use core::ptr::NonNull;

use crate::common::{CpuSlices, array_next_key, array_update_checks, check_value, index_key};
use crate::def::{BPF_F_RDONLY_PROG, MapDef};
use crate::error::MapError;
use crate::options::MemoryCharge;
use crate::shared_mem;

/// A per-CPU array map. Shared through [`crate::BpfMap`].
pub struct PercpuArray {
    def: MapDef,
    elem_size: usize,
    slices: CpuSlices,
    _charge: MemoryCharge,
}

impl PercpuArray {
    /// Creates the map; the definition was checked by the caller.
    pub(crate) fn new(
        def: MapDef,
        elem_size: usize,
        cpus: u32,
        charge: MemoryCharge,
    ) -> Result<PercpuArray, MapError> {
        let len = (def.max_entries as usize)
            .checked_mul(elem_size)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        Ok(PercpuArray {
            def,
            elem_size,
            slices: CpuSlices::allocate(cpus, len)?,
            _charge: charge,
        })
    }

    /// The bytes to reserve for `def` on `cpus` CPUs.
    pub(crate) fn reserved_bytes(
        def: &MapDef,
        elem_size: usize,
        cpus: u32,
    ) -> Result<u64, MapError> {
        let len = (def.max_entries as usize)
            .checked_mul(elem_size)
            .ok_or(MapError::OutOfMemory { bytes: usize::MAX })?;
        CpuSlices::reserved_for(cpus, len)
    }

    pub(crate) fn cpus(&self) -> u32 {
        self.slices.cpus()
    }

    /// `cpu`'s slice: start and length.
    pub(crate) fn region(&self, cpu: u32) -> Option<(NonNull<u8>, usize)> {
        Some((self.slices.base(cpu)?, self.slices.len()))
    }

    fn offset(&self, index: u32) -> Option<usize> {
        (index < self.def.max_entries).then(|| index as usize * self.elem_size)
    }

    /// Offset of element `key` in every CPU's slice (`None` out of range).
    pub(crate) fn lookup_offset(&self, key: &[u8]) -> Result<Option<usize>, MapError> {
        Ok(self.offset(index_key(key, self.def.key_size)?))
    }

    /// User-space lookup in the per-CPU format into `out`.
    pub(crate) fn lookup_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let index = index_key(key, self.def.key_size)?;
        check_value(out.len(), self.elem_size * self.cpus() as usize)?;
        let offset = self.offset(index).ok_or(MapError::NoSuchElement {
            index,
            max_entries: self.def.max_entries,
        })?;
        let value_size = self.def.value_size as usize;
        for (cpu, chunk) in (0..self.cpus()).zip(out.chunks_exact_mut(self.elem_size)) {
            let Some(base) = self.slices.base(cpu) else {
                break;
            };
            let (value, padding) = chunk.split_at_mut(value_size);
            // SAFETY: offset + elem_size <= slice length; value_size <= elem_size;
            // the bytes are only accessed atomically.
            unsafe { shared_mem::copy_out(base.as_ptr().add(offset), value) };
            padding.fill(0);
        }
        Ok(())
    }

    /// One CPU's value (`None` for a CPU past the last or an index out of range).
    pub(crate) fn lookup_cpu(&self, key: &[u8], cpu: u32) -> Result<Option<Vec<u8>>, MapError> {
        let index = index_key(key, self.def.key_size)?;
        let (Some(offset), Some(base)) = (self.offset(index), self.slices.base(cpu)) else {
            return Ok(None);
        };
        let mut value = vec![0u8; self.def.value_size as usize];
        // SAFETY: as in lookup_into.
        unsafe { shared_mem::copy_out(base.as_ptr().add(offset), &mut value) };
        Ok(Some(value))
    }

    /// Update of every CPU's value from the per-CPU format (user space).
    pub(crate) fn update_all(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        let index = index_key(key, self.def.key_size)?;
        check_value(value.len(), self.elem_size * self.cpus() as usize)?;
        array_update_checks(index, self.def.max_entries, flags)?;
        let offset = index as usize * self.elem_size;
        let value_size = self.def.value_size as usize;
        for (cpu, chunk) in (0..self.cpus()).zip(value.chunks_exact(self.elem_size)) {
            let Some(base) = self.slices.base(cpu) else {
                break;
            };
            // SAFETY: offset + value_size is inside the slice; atomic access only.
            unsafe { shared_mem::copy_in(base.as_ptr().add(offset), &chunk[..value_size]) };
        }
        Ok(())
    }

    /// A program's update of its own CPU's value.
    pub(crate) fn update_cpu(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: u32,
    ) -> Result<(), MapError> {
        if self.def.map_flags & BPF_F_RDONLY_PROG != 0 {
            return Err(MapError::ReadOnlyForPrograms);
        }
        let index = index_key(key, self.def.key_size)?;
        check_value(value.len(), self.def.value_size as usize)?;
        array_update_checks(index, self.def.max_entries, flags)?;
        let base = self.slices.base(cpu).ok_or(MapError::CpuOutOfRange {
            cpu,
            possible_cpus: self.cpus(),
        })?;
        // SAFETY: the element is inside cpu's slice; atomic access only.
        unsafe { shared_mem::copy_in(base.as_ptr().add(index as usize * self.elem_size), value) };
        Ok(())
    }

    /// Array elements cannot be deleted: `EINVAL` (after the key check).
    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        index_key(key, self.def.key_size)?;
        Err(MapError::DeleteUnsupported)
    }

    pub(crate) fn next_key(&self, key: Option<&[u8]>) -> Result<u32, MapError> {
        array_next_key(key, self.def.key_size, self.def.max_entries)
    }
}
