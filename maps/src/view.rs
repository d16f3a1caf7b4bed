//! Memory-mapped access: zero-copy views of an mmapable map's value area.
//!
//! A view is user space's mapping of the values. Like a kernel mapping, it is
//! a reference to the map: it holds the map alive however long it lives, even
//! after every [`ArrayMap`] handle is dropped. A [`MapViewMut`] is a writable
//! mapping: it is refused on a frozen map (`EPERM`), and while one is alive
//! the map cannot be frozen (`EBUSY`). A [`MapView`] has no way to write.

use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};

use crate::array::ArrayMap;
use crate::error::MapError;
use crate::shared_mem;

/// A read-only view of a map's value area (`value_area_len` bytes from
/// element 0). Offsets are bytes from the start of element 0; every read is
/// bounds-checked and returns `None` when out of range.
#[derive(Clone)]
pub struct MapView {
    map: ArrayMap,
}

/// A writable view of a map's value area: everything a [`MapView`] offers
/// (through `Deref`), plus stores, atomic read-modify-write operations and
/// the area as slices of atomics. Counted as a writable mapping until
/// dropped; cloning counts another one.
pub struct MapViewMut {
    view: MapView,
}

impl ArrayMap {
    /// A read-only view of the values; `EINVAL` unless the map was created
    /// with `BPF_F_MMAPABLE` (as the kernel's `array_map_mmap`).
    ///
    /// ```
    /// use tinybpf_maps::{ArrayMap, BPF_ANY, BPF_F_MMAPABLE, MapDef};
    /// let map = ArrayMap::new(MapDef::array(8, 2).with_flags(BPF_F_MMAPABLE)).unwrap();
    /// let view = map.view().unwrap();
    /// map.update(&1u32.to_le_bytes(), &42u64.to_le_bytes(), BPF_ANY).unwrap();
    /// assert_eq!(view.load_u64(8), Some(42));
    /// assert_eq!(view.load_u64(16), None); // past the last element
    /// ```
    pub fn view(&self) -> Result<MapView, MapError> {
        if !self.def().is_mmapable() {
            return Err(MapError::NotMmapable);
        }
        Ok(MapView { map: self.clone() })
    }

    /// A writable view of the values: `EPERM` if the map is frozen, `EINVAL`
    /// unless it is mmapable (checked in the kernel's order). While the view
    /// lives, [`ArrayMap::freeze`] fails with `EBUSY`.
    ///
    /// ```
    /// use tinybpf_maps::{ArrayMap, BPF_F_MMAPABLE, MapDef, errno};
    /// use std::sync::atomic::Ordering;
    /// let map = ArrayMap::new(MapDef::array(8, 1).with_flags(BPF_F_MMAPABLE)).unwrap();
    /// let view = map.view_mut().unwrap();
    /// view.as_atomic_u64s()[0].fetch_add(5, Ordering::Relaxed);
    /// assert_eq!(map.freeze().unwrap_err().errno(), errno::EBUSY);
    /// drop(view);
    /// map.freeze().unwrap();
    /// assert_eq!(map.lookup(&0u32.to_le_bytes()).unwrap(), 5u64.to_le_bytes());
    /// assert_eq!(map.view_mut().err().unwrap().errno(), errno::EPERM);
    /// ```
    pub fn view_mut(&self) -> Result<MapViewMut, MapError> {
        let mut writable_views = self.inner.lock_writable_views();
        if self.inner.is_frozen() {
            return Err(MapError::Frozen {
                operation: "create a writable view of",
            });
        }
        if !self.def().is_mmapable() {
            return Err(MapError::NotMmapable);
        }
        *writable_views += 1;
        Ok(MapViewMut {
            view: MapView { map: self.clone() },
        })
    }

    /// How many writable views of this map are alive (in this process).
    pub fn writable_view_count(&self) -> usize {
        *self.inner.lock_writable_views()
    }
}

impl MapView {
    /// The map this view belongs to (kept alive by the view).
    pub fn map(&self) -> &ArrayMap {
        &self.map
    }

    /// The number of bytes in view: the map's `value_area_len`.
    pub fn len(&self) -> usize {
        self.map.value_area_len()
    }

    /// Always false: a map has at least one element of at least 8 bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The start of the view (element 0). Access its bytes only through
    /// [`crate::shared_mem`] or atomics, and only for reading.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.map.value_area_ptr()
    }

    /// Pointer to `width` bytes at `offset`, if they are inside the view.
    fn span(&self, offset: usize, width: usize) -> Option<*mut u8> {
        let end = offset.checked_add(width)?;
        if end > self.len() {
            return None;
        }
        // SAFETY: offset + width <= len, inside the value area.
        Some(unsafe { self.as_ptr().as_ptr().add(offset) })
    }

    fn load(&self, offset: usize, width: usize) -> Option<u64> {
        let ptr = self.span(offset, width)?;
        // SAFETY: `width` bytes in bounds, accessed only atomically.
        Some(unsafe { shared_mem::load(ptr, width) })
    }

    /// The byte at `offset`.
    pub fn load_u8(&self, offset: usize) -> Option<u8> {
        self.load(offset, 1).map(|v| v as u8)
    }

    /// The little-endian `u16` at `offset` (any alignment).
    pub fn load_u16(&self, offset: usize) -> Option<u16> {
        self.load(offset, 2).map(|v| v as u16)
    }

    /// The little-endian `u32` at `offset` (any alignment).
    pub fn load_u32(&self, offset: usize) -> Option<u32> {
        self.load(offset, 4).map(|v| v as u32)
    }

    /// The little-endian `u64` at `offset` (any alignment; atomic when
    /// 8-aligned).
    pub fn load_u64(&self, offset: usize) -> Option<u64> {
        self.load(offset, 8)
    }

    /// Copies `out.len()` bytes from `offset` into `out`; `None` (and nothing
    /// copied) when they are not all inside the view.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Option<()> {
        let ptr = self.span(offset, out.len())?;
        // SAFETY: out.len() bytes in bounds, accessed only atomically.
        unsafe { shared_mem::copy_out(ptr, out) };
        Some(())
    }

    /// A copy of element `index`'s `value_size` bytes, or `None` past the
    /// last element.
    pub fn element(&self, index: u32) -> Option<Vec<u8>> {
        let offset = self.map.element_offset(index)?;
        let mut value = vec![0u8; self.map.def().value_size as usize];
        self.read(offset, &mut value)?;
        Some(value)
    }
}

impl MapViewMut {
    /// A read-only view of the same map (not counted as writable).
    pub fn to_read_only(&self) -> MapView {
        self.view.clone()
    }

    /// The whole area as atomic bytes.
    pub fn as_atomic_bytes(&self) -> &[AtomicU8] {
        // SAFETY: the area is `len` bytes, lives as long as the map this view
        // keeps alive, and is only accessed atomically; AtomicU8 has the size
        // and alignment of u8.
        unsafe {
            core::slice::from_raw_parts(self.as_ptr().as_ptr().cast::<AtomicU8>(), self.len())
        }
    }

    /// The whole area as atomic little-endian `u32`s (the area is 8-aligned
    /// and a multiple of 8 bytes long).
    pub fn as_atomic_u32s(&self) -> &[AtomicU32] {
        // SAFETY: as in `as_atomic_bytes`; the area is page-aligned and its
        // length a multiple of 8, so it holds exactly len / 4 aligned u32s.
        unsafe {
            core::slice::from_raw_parts(self.as_ptr().as_ptr().cast::<AtomicU32>(), self.len() / 4)
        }
    }

    /// The whole area as atomic little-endian `u64`s.
    pub fn as_atomic_u64s(&self) -> &[AtomicU64] {
        // SAFETY: as in `as_atomic_u32s`, with len / 8 aligned u64s.
        unsafe {
            core::slice::from_raw_parts(self.as_ptr().as_ptr().cast::<AtomicU64>(), self.len() / 8)
        }
    }

    /// Element `index` as atomic `u64`s (`elem_size / 8` of them, padding
    /// included), or `None` past the last element.
    pub fn element_u64s(&self, index: u32) -> Option<&[AtomicU64]> {
        let offset = self.map.element_offset(index)?;
        let words = self.map.elem_size() / 8;
        self.as_atomic_u64s().get(offset / 8..offset / 8 + words)
    }

    fn store(&self, offset: usize, width: usize, value: u64) -> Option<()> {
        let ptr = self.span(offset, width)?;
        // SAFETY: `width` bytes in bounds, accessed only atomically.
        unsafe { shared_mem::store(ptr, width, value) };
        Some(())
    }

    /// Stores a byte at `offset`; `None` when out of bounds.
    pub fn store_u8(&self, offset: usize, value: u8) -> Option<()> {
        self.store(offset, 1, value.into())
    }

    /// Stores a little-endian `u16` at `offset`; `None` when out of bounds.
    pub fn store_u16(&self, offset: usize, value: u16) -> Option<()> {
        self.store(offset, 2, value.into())
    }

    /// Stores a little-endian `u32` at `offset`; `None` when out of bounds.
    pub fn store_u32(&self, offset: usize, value: u32) -> Option<()> {
        self.store(offset, 4, value.into())
    }

    /// Stores a little-endian `u64` at `offset`; `None` when out of bounds.
    pub fn store_u64(&self, offset: usize, value: u64) -> Option<()> {
        self.store(offset, 8, value)
    }

    /// Copies `data` to `offset`; `None` (and nothing written) when it does
    /// not fit inside the view.
    pub fn write(&self, offset: usize, data: &[u8]) -> Option<()> {
        let ptr = self.span(offset, data.len())?;
        // SAFETY: data.len() bytes in bounds, accessed only atomically.
        unsafe { shared_mem::copy_in(ptr, data) };
        Some(())
    }

    /// Atomically adds `value` to the `u64` at `offset` and returns the old
    /// value; `None` when out of bounds or not 8-aligned.
    pub fn fetch_add_u64(&self, offset: usize, value: u64) -> Option<u64> {
        let ptr = self.span(offset, 8)?;
        // SAFETY: 8 bytes in bounds, accessed only atomically; a misaligned
        // address is refused by fetch_add.
        unsafe { shared_mem::fetch_add(ptr, 8, value) }
    }
}

impl Deref for MapViewMut {
    type Target = MapView;

    fn deref(&self) -> &MapView {
        &self.view
    }
}

impl Clone for MapViewMut {
    /// Another writable view, counted like the kernel counts a copied
    /// writable mapping (its `open` callback).
    fn clone(&self) -> MapViewMut {
        *self.view.map.inner.lock_writable_views() += 1;
        MapViewMut {
            view: self.view.clone(),
        }
    }
}

impl Drop for MapViewMut {
    fn drop(&mut self) {
        let mut writable_views = self.view.map.inner.lock_writable_views();
        *writable_views = writable_views.saturating_sub(1);
    }
}

impl core::fmt::Debug for MapView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapView")
            .field("map", &self.map)
            .field("len", &self.len())
            .finish()
    }
}

impl core::fmt::Debug for MapViewMut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapViewMut")
            .field("map", &self.map)
            .field("len", &self.len())
            .finish()
    }
}
