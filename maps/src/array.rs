//! `BPF_MAP_TYPE_ARRAY`: the map itself and its operations.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::def::{
    ArrayLayout, BPF_EXIST, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_NOEXIST, MapDef,
};
use crate::error::MapError;
use crate::freeze::WriteGate;
use crate::options::MemoryCharge;
use crate::shared_mem;
use crate::storage::ValueMemory;

/// An array map: `max_entries` pre-allocated, zero-initialised elements of
/// `value_size` bytes (each rounded up to 8), indexed by a 4-byte key.
///
/// A handle is cheap to clone; clones share the same map, which lives until
/// the last handle or view is dropped. The map is `Send + Sync` and is used
/// without any lock by programs and user space at once: see
/// [`crate::shared_mem`] for the memory model.
#[derive(Clone)]
pub struct ArrayMap {
    pub(crate) inner: Arc<MapInner>,
}

/// The shared state of one map.
pub(crate) struct MapInner {
    pub(crate) def: MapDef,
    pub(crate) layout: ArrayLayout,
    pub(crate) memory: ValueMemory,
    /// The frozen flag of a map that is not pinned (a pinned map keeps its
    /// flag in the file's header, so that other processes see it).
    local_frozen: AtomicU32,
    /// Number of live writable views; freezing and creating writable views
    /// happen under this lock, as under the kernel's `freeze_mutex`.
    pub(crate) writable_views: Mutex<usize>,
    /// User-space writes in flight (freezing waits for none).
    write_gate: WriteGate,
    /// The memory charged for the map, released with it.
    _charge: MemoryCharge,
}

impl MapInner {
    pub(crate) fn new(def: MapDef, layout: ArrayLayout, memory: ValueMemory) -> MapInner {
        MapInner {
            def,
            layout,
            memory,
            local_frozen: AtomicU32::new(0),
            writable_views: Mutex::new(0),
            write_gate: WriteGate::default(),
            _charge: MemoryCharge::none(),
        }
    }

    fn frozen_flag(&self) -> &AtomicU32 {
        match self.memory.pin_header() {
            // SAFETY: the header page lives as long as `self.memory`; the flag
            // is 4-aligned inside it and only ever accessed atomically (here
            // and by other processes mapping the same file).
            Some(header) => unsafe {
                AtomicU32::from_ptr(header.as_ptr().add(crate::pin::FROZEN_OFFSET).cast())
            },
            None => &self.local_frozen,
        }
    }

    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen_flag().load(Ordering::Acquire) != 0
    }

    /// The freeze lock; a panic while holding it cannot leave the count
    /// inconsistent, so a poisoned lock is simply taken over.
    pub(crate) fn lock_writable_views(&self) -> MutexGuard<'_, usize> {
        self.writable_views
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ArrayMap {
    /// Creates an array map: all elements allocated and zeroed at once.
    ///
    /// Fails with the kernel's errno: `EINVAL` for an unsupported map type,
    /// `max_entries` 0, `key_size` other than 4, `value_size` 0, unknown or
    /// conflicting flags; `E2BIG` for a `value_size` above
    /// [`crate::MAX_VALUE_SIZE`]; `ENOMEM` when the size overflows or the
    /// memory cannot be allocated (see [`MapDef::check`]).
    ///
    /// ```
    /// use tinybpf_maps::{ArrayMap, BPF_ANY, MapDef};
    /// let map = ArrayMap::new(MapDef::array(8, 4)).unwrap();
    /// map.update(&1u32.to_le_bytes(), &7u64.to_le_bytes(), BPF_ANY).unwrap();
    /// assert_eq!(map.lookup(&1u32.to_le_bytes()).unwrap(), 7u64.to_le_bytes());
    /// assert_eq!(map.lookup(&4u32.to_le_bytes()).unwrap_err().errno(), 2); // ENOENT
    /// ```
    pub fn new(def: MapDef) -> Result<ArrayMap, MapError> {
        ArrayMap::new_charged(def, None)
    }

    /// As [`ArrayMap::new`], charging the value area to `budget` (ENOMEM
    /// when it does not fit); the charge is released when the map is dropped.
    pub fn new_charged(
        def: MapDef,
        budget: Option<&crate::MemoryBudget>,
    ) -> Result<ArrayMap, MapError> {
        let layout = def.check()?;
        let charge = MemoryCharge::to(budget, layout.alloc_len as u64)?;
        let memory = ValueMemory::allocate(layout.alloc_len)?;
        let mut inner = MapInner::new(def, layout, memory);
        inner._charge = charge;
        Ok(ArrayMap {
            inner: Arc::new(inner),
        })
    }

    /// The bytes the map reserves (its value area), as charged to a budget.
    pub fn reserved_bytes(&self) -> u64 {
        self.inner.layout.alloc_len as u64
    }

    /// The definition the map was created with.
    pub fn def(&self) -> &MapDef {
        &self.inner.def
    }

    /// `value_size` rounded up to 8: the distance between elements.
    pub fn elem_size(&self) -> usize {
        self.inner.layout.elem_size
    }

    /// `max_entries * elem_size`: the bytes from element 0 to the end of the
    /// last element.
    pub fn value_area_len(&self) -> usize {
        self.inner.layout.value_area_len
    }

    /// The start of element 0. It never moves while the map exists (while any
    /// handle or view is alive), is 8-aligned, and page-aligned
    /// ([`crate::PAGE_SIZE`]) for every map. Its [`ArrayMap::value_area_len`]
    /// bytes may only be accessed through [`crate::shared_mem`] or atomics.
    pub fn value_area_ptr(&self) -> NonNull<u8> {
        self.inner.memory.values()
    }

    /// The key as an index: the 4 key bytes read as a little-endian `u32`.
    /// `EINVAL` when `key` is not `key_size` bytes long.
    pub fn index_of(&self, key: &[u8]) -> Result<u32, MapError> {
        let bytes: [u8; 4] = key.try_into().map_err(|_| MapError::KeyLength {
            expected: self.inner.def.key_size,
            actual: key.len(),
        })?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// The byte offset of element `index` from [`ArrayMap::value_area_ptr`],
    /// or `None` when `index >= max_entries` (the patch's lookup returning
    /// NULL).
    pub fn element_offset(&self, index: u32) -> Option<usize> {
        if index >= self.inner.def.max_entries {
            return None;
        }
        // index < max_entries, so the product is below value_area_len.
        Some(index as usize * self.inner.layout.elem_size)
    }

    /// The address of element `index` (what a program's lookup gets), or
    /// `None` when `index >= max_entries`.
    pub fn element_ptr(&self, index: u32) -> Option<NonNull<u8>> {
        let offset = self.element_offset(index)?;
        // SAFETY: offset < value_area_len, inside the value allocation.
        Some(unsafe { self.value_area_ptr().add(offset) })
    }

    /// User-space lookup: a copy of the element's `value_size` bytes.
    /// `EINVAL` for a wrong key length, `ENOENT` for an index out of range.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let mut value = vec![0u8; self.inner.def.value_size as usize];
        self.lookup_into(key, &mut value)?;
        Ok(value)
    }

    /// As [`ArrayMap::lookup`], into `out`, which must be `value_size` bytes
    /// long (`EINVAL` otherwise).
    pub fn lookup_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let index = self.index_of(key)?;
        self.check_value_len(out.len())?;
        let element = self.element_ptr(index).ok_or(MapError::NoSuchElement {
            index,
            max_entries: self.inner.def.max_entries,
        })?;
        // SAFETY: the element has elem_size >= value_size = out.len() bytes,
        // accessed only atomically.
        unsafe { shared_mem::copy_out(element.as_ptr(), out) };
        Ok(())
    }

    /// User-space update (the `BPF_MAP_UPDATE_ELEM` syscall): `EPERM` once the
    /// map is frozen; `EINVAL` for a wrong key or value length; then the
    /// patch's order: flags above `BPF_EXIST` `EINVAL`, index out of range
    /// `E2BIG`, `BPF_NOEXIST` `EEXIST`. Copies `value_size` bytes, not
    /// atomically as a whole (each aligned word is atomic).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        let _write = self
            .inner
            .write_gate
            .begin(self.inner.frozen_flag(), "update")?;
        self.update_unchecked_access(key, value, flags)
    }

    /// Program update (the `bpf_map_update_elem` helper): as
    /// [`ArrayMap::update`] except that freezing does not apply; a map
    /// created with `BPF_F_RDONLY_PROG` refuses it with `EPERM` (the kernel's
    /// verifier rejects such a program; without a verifier the helper
    /// refuses).
    pub fn update_from_program(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> Result<(), MapError> {
        if self.is_rdonly_prog() {
            return Err(MapError::ReadOnlyForPrograms);
        }
        self.update_unchecked_access(key, value, flags)
    }

    fn update_unchecked_access(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> Result<(), MapError> {
        let index = self.index_of(key)?;
        self.check_value_len(value.len())?;
        if flags > BPF_EXIST {
            return Err(MapError::UnknownUpdateFlags { flags });
        }
        let element = self.element_ptr(index).ok_or(MapError::IndexTooBig {
            index,
            max_entries: self.inner.def.max_entries,
        })?;
        if flags == BPF_NOEXIST {
            return Err(MapError::ElementExists { index });
        }
        // SAFETY: the element has elem_size >= value_size = value.len() bytes,
        // accessed only atomically.
        unsafe { shared_mem::copy_in(element.as_ptr(), value) };
        Ok(())
    }

    /// User-space delete: `EPERM` on a frozen map (the syscall checks write
    /// permission first), `EINVAL` for a wrong key length, and otherwise
    /// `EINVAL`: array elements cannot be deleted.
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        if self.is_frozen() {
            return Err(MapError::Frozen {
                operation: "delete",
            });
        }
        self.delete_from_program(key)
    }

    /// Program delete (the `bpf_map_delete_elem` helper): always `EINVAL`
    /// (wrong key length, or the array's refusal).
    pub fn delete_from_program(&self, key: &[u8]) -> Result<(), MapError> {
        self.index_of(key)?;
        Err(MapError::DeleteUnsupported)
    }

    /// The key after `key`: with no key, or one out of range, index 0; after
    /// the last index `ENOENT`; otherwise `index + 1`. `EINVAL` for a wrong
    /// key length.
    pub fn get_next_key(&self, key: Option<&[u8]>) -> Result<u32, MapError> {
        let Some(key) = key else { return Ok(0) };
        let index = self.index_of(key)?;
        let max_entries = self.inner.def.max_entries;
        if index >= max_entries {
            Ok(0)
        } else if index == max_entries - 1 {
            Err(MapError::NoNextKey { index })
        } else {
            Ok(index + 1)
        }
    }

    /// Freezes the map: user space can no longer write it (updates, deletes
    /// and writable views fail with `EPERM`); programs still can unless the
    /// map is `BPF_F_RDONLY_PROG`. `EBUSY` while a writable view is alive,
    /// while a user-space update is still landing, and if already frozen
    /// (as the kernel's `map_freeze`): once it succeeds, no user-space write
    /// lands any more.
    pub fn freeze(&self) -> Result<(), MapError> {
        let writable_views = self.inner.lock_writable_views();
        if *writable_views > 0 {
            return Err(MapError::WritableViewsAlive {
                count: *writable_views,
            });
        }
        self.inner.write_gate.freeze(self.inner.frozen_flag())
    }

    /// True once [`ArrayMap::freeze`] succeeded (for a pinned map: in any
    /// process).
    pub fn is_frozen(&self) -> bool {
        self.inner.is_frozen()
    }

    /// True when the map was created with `BPF_F_RDONLY_PROG`.
    pub fn is_rdonly_prog(&self) -> bool {
        self.inner.def.map_flags & BPF_F_RDONLY_PROG != 0
    }

    /// True when the map was created with `BPF_F_WRONLY_PROG`.
    pub fn is_wronly_prog(&self) -> bool {
        self.inner.def.map_flags & BPF_F_WRONLY_PROG != 0
    }

    /// True when two handles refer to the same map.
    pub fn same_map(&self, other: &ArrayMap) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Every element in index order: `(index, value_size bytes)`.
    pub fn entries(&self) -> impl Iterator<Item = (u32, Vec<u8>)> + '_ {
        (0..self.inner.def.max_entries).map(move |index| {
            let mut value = vec![0u8; self.inner.def.value_size as usize];
            if let Some(element) = self.element_ptr(index) {
                // SAFETY: element has at least value_size bytes, accessed atomically.
                unsafe { shared_mem::copy_out(element.as_ptr(), &mut value) };
            }
            (index, value)
        })
    }

    fn check_value_len(&self, len: usize) -> Result<(), MapError> {
        let expected = self.inner.def.value_size;
        if len != expected as usize {
            return Err(MapError::ValueLength {
                expected,
                actual: len,
            });
        }
        Ok(())
    }
}

impl core::fmt::Debug for ArrayMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArrayMap")
            .field("def", &self.inner.def)
            .field("elem_size", &self.inner.layout.elem_size)
            .field("frozen", &self.is_frozen())
            .finish_non_exhaustive()
    }
}
