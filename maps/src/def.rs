//! The map definition and the creation checks of the array patch.

use crate::error::MapError;

/// `BPF_MAP_TYPE_ARRAY`, the only map type tinybpf implements.
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// Update flag: create or replace (for an array: replace).
pub const BPF_ANY: u64 = 0;
/// Update flag: only create; always `EEXIST` on an array.
pub const BPF_NOEXIST: u64 = 1;
/// Update flag: only replace an existing element.
pub const BPF_EXIST: u64 = 2;

/// Map flag: programs may only read the map.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// Map flag: programs may only write the map.
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
/// Map flag: the value area may be memory-mapped (viewed) by user space.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// The map flags an array map accepts.
pub const ARRAY_MAP_FLAGS: u32 = BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_MMAPABLE;

/// The size of a page as tinybpf lays out value areas: 4096 bytes, the page
/// size of x86-64 and of most arm64 Linux systems. Mmapable value areas start
/// on a multiple of it and span whole multiples of it.
pub const PAGE_SIZE: usize = 4096;

/// The largest `value_size`: the kernel's `KMALLOC_MAX_SIZE` on x86-64
/// (4 MiB). Larger values are refused with `E2BIG`, as the kernel's
/// `array_map_alloc_check` does.
pub const MAX_VALUE_SIZE: u32 = 1 << 22;

/// A map definition, as in the legacy `struct bpf_map_def` and the
/// `BPF_MAP_CREATE` attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapDef {
    /// The map type; only [`BPF_MAP_TYPE_ARRAY`] is supported.
    pub map_type: u32,
    /// Key size in bytes; 4 for an array (the index).
    pub key_size: u32,
    /// Value size in bytes; at least 1.
    pub value_size: u32,
    /// Number of elements; at least 1.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
}

impl MapDef {
    /// An array definition with a 4-byte key and no flags.
    ///
    /// ```
    /// use tinybpf_maps::{BPF_MAP_TYPE_ARRAY, MapDef};
    /// let def = MapDef::array(8, 16);
    /// assert_eq!((def.map_type, def.key_size, def.value_size, def.max_entries), (BPF_MAP_TYPE_ARRAY, 4, 8, 16));
    /// ```
    pub fn array(value_size: u32, max_entries: u32) -> MapDef {
        MapDef {
            map_type: BPF_MAP_TYPE_ARRAY,
            key_size: 4,
            value_size,
            max_entries,
            map_flags: 0,
        }
    }

    /// The same definition with `flags` added to `map_flags`.
    pub fn with_flags(self, flags: u32) -> MapDef {
        MapDef {
            map_flags: self.map_flags | flags,
            ..self
        }
    }

    /// Runs the creation checks and computes the memory layout.
    ///
    /// The checks, in the kernel's order: an unknown map type, `max_entries`
    /// 0, `key_size` other than 4, `value_size` 0, unknown flags, or both
    /// `BPF_F_RDONLY_PROG` and `BPF_F_WRONLY_PROG` give `EINVAL`; a
    /// `value_size` above [`MAX_VALUE_SIZE`] gives `E2BIG`; a total size that
    /// overflows gives `ENOMEM` (the kernel's answer when the area cannot be
    /// allocated).
    ///
    /// ```
    /// use tinybpf_maps::MapDef;
    /// let layout = MapDef::array(12, 3).check().unwrap();
    /// assert_eq!((layout.elem_size, layout.value_area_len), (16, 48));
    /// assert_eq!(MapDef::array(0, 3).check().unwrap_err().errno(), 22);
    /// ```
    pub fn check(&self) -> Result<ArrayLayout, MapError> {
        if self.map_type != BPF_MAP_TYPE_ARRAY {
            return Err(MapError::UnsupportedMapType {
                map_type: self.map_type,
            });
        }
        if self.max_entries == 0 {
            return Err(MapError::ZeroMaxEntries);
        }
        if self.key_size != 4 {
            return Err(MapError::BadKeySize {
                key_size: self.key_size,
            });
        }
        if self.value_size == 0 {
            return Err(MapError::ZeroValueSize);
        }
        let unknown = self.map_flags & !ARRAY_MAP_FLAGS;
        if unknown != 0 {
            return Err(MapError::UnknownMapFlags {
                flags: self.map_flags,
                unknown,
            });
        }
        if self.map_flags & BPF_F_RDONLY_PROG != 0 && self.map_flags & BPF_F_WRONLY_PROG != 0 {
            return Err(MapError::ConflictingProgAccess {
                flags: self.map_flags,
            });
        }
        if self.value_size > MAX_VALUE_SIZE {
            return Err(MapError::ValueSizeTooBig {
                value_size: self.value_size,
                max: MAX_VALUE_SIZE,
            });
        }
        // value_size <= 4 MiB, so the rounding cannot overflow.
        let elem_size = round_up(self.value_size as usize, 8).ok_or(MapError::SizeOverflow {
            max_entries: self.max_entries,
            elem_size: self.value_size as usize,
        })?;
        let overflow = MapError::SizeOverflow {
            max_entries: self.max_entries,
            elem_size,
        };
        let entries = usize::try_from(self.max_entries).map_err(|_| overflow.clone())?;
        let value_area_len = entries
            .checked_mul(elem_size)
            .ok_or_else(|| overflow.clone())?;
        let alloc_len = if self.is_mmapable() {
            round_up(value_area_len, PAGE_SIZE).ok_or_else(|| overflow.clone())?
        } else {
            value_area_len
        };
        // The kernel's array_map_alloc refuses an array of U32_MAX - PAGE_SIZE
        // bytes or more with ENOMEM (its sizes are 32-bit); so does tinybpf,
        // whose VM addresses each map in a 4 GiB region.
        if alloc_len as u64 >= u64::from(u32::MAX) - PAGE_SIZE as u64 {
            return Err(overflow);
        }
        Ok(ArrayLayout {
            elem_size,
            value_area_len,
            alloc_len,
        })
    }

    /// True when the map was defined with [`BPF_F_MMAPABLE`].
    pub fn is_mmapable(&self) -> bool {
        self.map_flags & BPF_F_MMAPABLE != 0
    }
}

/// Where an array's elements live, computed by [`MapDef::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayLayout {
    /// `value_size` rounded up to 8: the distance between elements.
    pub elem_size: usize,
    /// `max_entries * elem_size`: the bytes holding elements.
    pub value_area_len: usize,
    /// The bytes allocated: `value_area_len`, rounded up to whole pages
    /// ([`PAGE_SIZE`]) for mmapable maps.
    pub alloc_len: usize,
}

/// `value` rounded up to a multiple of `to` (a power of two), or `None` on
/// overflow.
fn round_up(value: usize, to: usize) -> Option<usize> {
    Some(value.checked_add(to - 1)? & !(to - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::*;

    fn errno_of(def: MapDef) -> i32 {
        def.check().unwrap_err().errno()
    }

    #[test]
    fn creation_checks_match_the_patch() {
        assert_eq!(
            errno_of(MapDef {
                map_type: 1,
                ..MapDef::array(8, 1)
            }),
            EINVAL
        );
        assert_eq!(
            errno_of(MapDef {
                map_type: 0,
                ..MapDef::array(8, 1)
            }),
            EINVAL
        );
        assert_eq!(errno_of(MapDef::array(8, 0)), EINVAL);
        assert_eq!(
            errno_of(MapDef {
                key_size: 8,
                ..MapDef::array(8, 1)
            }),
            EINVAL
        );
        assert_eq!(
            errno_of(MapDef {
                key_size: 0,
                ..MapDef::array(8, 1)
            }),
            EINVAL
        );
        assert_eq!(errno_of(MapDef::array(0, 1)), EINVAL);
        assert!(MapDef::array(1, 1).check().is_ok());
    }

    #[test]
    fn flags_are_checked() {
        assert_eq!(errno_of(MapDef::array(8, 1).with_flags(1)), EINVAL);
        assert_eq!(errno_of(MapDef::array(8, 1).with_flags(1 << 31)), EINVAL);
        assert_eq!(
            errno_of(MapDef::array(8, 1).with_flags(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)),
            EINVAL
        );
        for flags in [
            0,
            BPF_F_RDONLY_PROG,
            BPF_F_WRONLY_PROG,
            BPF_F_MMAPABLE,
            BPF_F_MMAPABLE | BPF_F_RDONLY_PROG,
        ] {
            assert!(
                MapDef::array(8, 1).with_flags(flags).check().is_ok(),
                "flags {flags:#x}"
            );
        }
    }

    #[test]
    fn sizes_round_and_overflow_is_an_error() {
        let layout = |v, n| MapDef::array(v, n).check().unwrap();
        assert_eq!(
            layout(5, 3),
            ArrayLayout {
                elem_size: 8,
                value_area_len: 24,
                alloc_len: 24
            }
        );
        assert_eq!(
            layout(12, 3),
            ArrayLayout {
                elem_size: 16,
                value_area_len: 48,
                alloc_len: 48
            }
        );
        assert_eq!(layout(8, 1).elem_size, 8);
        assert_eq!(layout(9, 1).elem_size, 16);
        let mm = MapDef::array(12, 3)
            .with_flags(BPF_F_MMAPABLE)
            .check()
            .unwrap();
        assert_eq!(
            mm,
            ArrayLayout {
                elem_size: 16,
                value_area_len: 48,
                alloc_len: PAGE_SIZE
            }
        );
        let mm = MapDef::array(8, 513)
            .with_flags(BPF_F_MMAPABLE)
            .check()
            .unwrap();
        assert_eq!(mm.alloc_len, 2 * PAGE_SIZE);
        assert_eq!(errno_of(MapDef::array(MAX_VALUE_SIZE + 1, 1)), E2BIG);
        assert_eq!(errno_of(MapDef::array(u32::MAX, u32::MAX)), E2BIG);
        assert!(MapDef::array(MAX_VALUE_SIZE, 1).check().is_ok());
        // On 64-bit hosts the largest map (2^22 * 2^32 bytes) fits in usize, so
        // the overflow paths are reached only on 32-bit hosts: check the
        // rounding arithmetic directly (allocation failure is tested in array).
        assert_eq!(round_up(usize::MAX - 2, 8), None);
        assert_eq!(round_up(5, 8), Some(8));
        assert_eq!(round_up(4096, PAGE_SIZE), Some(4096));
    }
}
