//! Map types by number and name, and the checks a definition must pass:
//! the kernel's rules on `key_size`, `value_size` and `max_entries` for each
//! type (its `map_alloc_check` functions), and what can be wrong with a
//! definition in the object file.

use thiserror::Error;
use tinybpf_maps::{BPF_MAP_TYPE_ARRAY, MapDef, MapError, MapType};

use crate::btf::BtfError;

/// `BPF_F_NO_PREALLOC`.
const BPF_F_NO_PREALLOC: u32 = 1;
/// `BPF_F_MMAPABLE`.
const BPF_F_MMAPABLE: u32 = 1 << 10;
/// `MAX_BPF_STACK`: a hash key must fit the stack.
const MAX_BPF_STACK: u32 = 512;
/// `PCPU_MIN_UNIT_SIZE`: the largest per-CPU value.
const PCPU_MIN_UNIT_SIZE: u32 = 32 << 10;
/// The page size of ring buffers and arenas.
const PAGE_SIZE: u32 = 4096;

/// `BPF_MAP_TYPE_PROG_ARRAY`.
pub const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
pub const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// `BPF_MAP_TYPE_HASH_OF_MAPS`.
pub const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;

/// The map type with number `map_type`, or `None` for a number the kernel
/// does not define (0, `unspec`, included).
pub(crate) fn known_type(map_type: u32) -> Option<MapType> {
    MapType::from_u32(map_type).filter(|&t| t != MapType::Unspec)
}

/// What is wrong with a map's definition in the object file. A map with a
/// problem is listed but cannot be created; a program that uses it cannot
/// be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MapProblem {
    /// The type number is not one the kernel defines.
    #[error("map type {map_type} does not exist (the kernel defines 1 to {})", MapType::ALL.len() - 1)]
    UnknownType {
        /// The `type` field.
        map_type: u32,
    },
    /// The array map runtime refuses the definition (the kernel's array rules).
    #[error(transparent)]
    Rejected(MapError),
    /// A size the kernel refuses for this map type.
    #[error("{type_name} map: {field} {value}: {rule}")]
    BadSize {
        /// The type's bpftool name.
        type_name: &'static str,
        /// `key_size`, `value_size`, `max_entries` or `map_flags`.
        field: &'static str,
        /// Its value.
        value: u32,
        /// What the kernel requires.
        rule: &'static str,
    },
    /// A legacy definition shorter than `struct bpf_map_def`.
    #[error("its definition is {size} bytes, shorter than struct bpf_map_def (20 bytes)")]
    TooShort {
        /// The symbol's size.
        size: u64,
    },
    /// The definition does not lie inside its section.
    #[error(
        "its definition at offset {offset} with size {size} lies outside section {section} ({section_size} bytes)"
    )]
    OutOfSection {
        /// The section.
        section: String,
        /// Offset of the definition.
        offset: u64,
        /// Its size.
        size: u64,
        /// The section's size.
        section_size: u64,
    },
    /// The definition overlaps another map's.
    #[error("its definition overlaps map {other}")]
    Overlaps {
        /// The other map.
        other: String,
    },
    /// A member of a BTF-defined map is not what its name requires.
    #[error("member {member}: {reason}")]
    BadMember {
        /// The member.
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// The map's BTF type is unusable (a loop, a size that overflows, ...).
    #[error("its BTF type: {0}")]
    Btf(BtfError),
    /// A `pinning` value other than none (0) and by name (1).
    #[error("pinning {value} is neither LIBBPF_PIN_NONE (0) nor LIBBPF_PIN_BY_NAME (1)")]
    BadPinning {
        /// The value.
        value: u32,
    },
    /// An initial value of `.values = { ... }` that cannot be used.
    #[error("initial values (section .rel.maps): {reason}")]
    BadInitialValue {
        /// What is wrong.
        reason: String,
    },
    /// The global data section holds pointers (relocations), which cannot be loaded.
    #[error(
        "section {section} has relocations (pointers in initialised data), which tinybpf cannot apply"
    )]
    DataRelocations {
        /// The relocation section.
        section: String,
    },
}

/// A rule on a size field.
#[derive(Clone, Copy)]
enum Size {
    /// Any value.
    Any,
    /// Must be 0.
    Zero,
    /// Must not be 0.
    NonZero,
    /// Not 0, and at most this.
    UpTo(u32),
    /// One of these values.
    OneOf(&'static [u32]),
    /// In this range (inclusive).
    Between(u32, u32),
    /// A non-zero multiple of 8.
    MultipleOf8,
    /// A power of two, and a multiple of the page size.
    PagePowerOfTwo,
}

impl Size {
    fn check(self, value: u32) -> Result<(), &'static str> {
        let ok = match self {
            Size::Any => true,
            Size::Zero => value == 0,
            Size::NonZero => value != 0,
            Size::UpTo(max) => value != 0 && value <= max,
            Size::OneOf(values) => values.contains(&value),
            Size::Between(low, high) => (low..=high).contains(&value),
            Size::MultipleOf8 => value != 0 && value.is_multiple_of(8),
            Size::PagePowerOfTwo => value.is_power_of_two() && value.is_multiple_of(PAGE_SIZE),
        };
        ok.then_some(()).ok_or(match self {
            Size::Any => "",
            Size::Zero => "must be 0",
            Size::NonZero => "must not be 0",
            Size::UpTo(MAX_BPF_STACK) => "must be 1 to 512 (MAX_BPF_STACK)",
            Size::UpTo(_) => "must be 1 to 32768 (a per-CPU value)",
            Size::OneOf([4]) => "must be 4",
            Size::OneOf([4, 8]) => "must be 4 or 8",
            Size::OneOf([8, 12]) => "must be 8 or 12 (struct bpf_cgroup_storage_key)",
            Size::OneOf([1]) => "must be 1",
            Size::OneOf(_) => "is not an allowed value",
            Size::Between(..) => "must be 5 to 260 (4 bytes of prefix length, 1 to 256 of data)",
            Size::MultipleOf8 => "must be a non-zero multiple of 8",
            Size::PagePowerOfTwo => "must be a power of 2 and a multiple of the page size (4096)",
        })
    }
}

/// The kernel's rules for one map type: key size, value size, max_entries,
/// and flags it requires.
struct Rules {
    key: Size,
    value: Size,
    max_entries: Size,
    required_flags: u32,
}

const fn rules(key: Size, value: Size, max_entries: Size) -> Rules {
    Rules {
        key,
        value,
        max_entries,
        required_flags: 0,
    }
}

/// The rules of each type other than `array` (whose exact checks are the
/// maps crate's), after the kernel's `*_map_alloc_check` functions.
fn rules_of(map_type: u32) -> Rules {
    use Size::*;
    let storage = Rules {
        required_flags: BPF_F_NO_PREALLOC,
        ..rules(OneOf(&[4]), NonZero, Zero)
    };
    match map_type {
        // hash, lru_hash: htab_map_alloc_check.
        1 | 9 => rules(UpTo(MAX_BPF_STACK), NonZero, NonZero),
        5 | 10 => rules(UpTo(MAX_BPF_STACK), UpTo(PCPU_MIN_UNIT_SIZE), NonZero),
        6 => rules(OneOf(&[4]), UpTo(PCPU_MIN_UNIT_SIZE), NonZero),
        // fd arrays: fd_array_map_alloc_check.
        3 | 8 | 12 => rules(OneOf(&[4]), OneOf(&[4]), NonZero),
        // libbpf creates a perf event array defined with max_entries 0 with
        // one entry per possible CPU.
        4 => rules(OneOf(&[4]), OneOf(&[4]), Any),
        13 => rules(UpTo(MAX_BPF_STACK), OneOf(&[4]), NonZero),
        7 => rules(OneOf(&[4]), MultipleOf8, NonZero),
        11 => Rules {
            required_flags: BPF_F_NO_PREALLOC,
            ..rules(Between(5, 260), NonZero, NonZero)
        },
        14 | 16 | 25 => rules(OneOf(&[4]), OneOf(&[4, 8]), NonZero),
        15 | 20 => rules(OneOf(&[4]), OneOf(&[4, 8]), NonZero),
        17 => rules(OneOf(&[4]), OneOf(&[4]), NonZero),
        18 => rules(NonZero, OneOf(&[4, 8]), NonZero),
        19 | 21 => rules(OneOf(&[8, 12]), NonZero, Zero),
        22 | 23 => rules(Zero, NonZero, NonZero),
        24 | 28 | 29 | 32 => storage,
        26 => rules(OneOf(&[4]), Any, OneOf(&[1])),
        27 | 31 => rules(Zero, Zero, PagePowerOfTwo),
        30 => rules(Zero, NonZero, NonZero),
        33 => Rules {
            required_flags: BPF_F_MMAPABLE,
            ..rules(Zero, Zero, NonZero)
        },
        _ => rules(Any, Any, Any),
    }
}

/// Checks a definition against the kernel's rules for its type: an unknown
/// type number, or a size the type refuses, is a [`MapProblem`].
pub fn check_definition(def: &MapDef) -> Result<(), MapProblem> {
    let Some(type_name) = known_type(def.map_type).map(MapType::name) else {
        return Err(MapProblem::UnknownType {
            map_type: def.map_type,
        });
    };
    if def.map_type == BPF_MAP_TYPE_ARRAY {
        return def.check().map(drop).map_err(MapProblem::Rejected);
    }
    let rules = rules_of(def.map_type);
    let bad = |field, value, rule| MapProblem::BadSize {
        type_name,
        field,
        value,
        rule,
    };
    rules
        .key
        .check(def.key_size)
        .map_err(|rule| bad("key_size", def.key_size, rule))?;
    rules
        .value
        .check(def.value_size)
        .map_err(|rule| bad("value_size", def.value_size, rule))?;
    rules
        .max_entries
        .check(def.max_entries)
        .map_err(|rule| bad("max_entries", def.max_entries, rule))?;
    if def.map_flags & rules.required_flags != rules.required_flags {
        return Err(bad(
            "map_flags",
            def.map_flags,
            if rules.required_flags == BPF_F_NO_PREALLOC {
                "must include BPF_F_NO_PREALLOC"
            } else {
                "must include BPF_F_MMAPABLE"
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
        MapDef {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
        }
    }

    #[test]
    fn every_type_the_kernel_defines_is_known() {
        assert_eq!(known_type(2), Some(MapType::Array));
        assert_eq!(known_type(27).map(MapType::name), Some("ringbuf"));
        assert_eq!(known_type(33).map(MapType::name), Some("arena"));
        assert_eq!(known_type(0), None);
        assert_eq!(known_type(34), None);
        // A perf event array may leave max_entries 0 (one per CPU).
        assert_eq!(check_definition(&def(4, 4, 4, 0)), Ok(()));
    }

    #[test]
    fn the_kernel_rules_of_each_type() {
        let ok = [
            def(1, 8, 4, 16),
            def(6, 4, 8, 4),
            def(3, 4, 4, 8),
            def(22, 0, 8, 4),
            def(27, 0, 0, 4096),
            def(14, 4, 8, 2),
            def(7, 4, 8 * 127, 16),
        ];
        for d in ok {
            assert_eq!(check_definition(&d), Ok(()), "{d:?}");
        }
        let field = |d: MapDef| match check_definition(&d) {
            Err(MapProblem::BadSize { field, .. }) => field,
            other => panic!("{d:?}: {other:?}"),
        };
        assert_eq!(field(def(1, 0, 4, 16)), "key_size");
        assert_eq!(field(def(1, 513, 4, 16)), "key_size");
        assert_eq!(field(def(1, 8, 0, 16)), "value_size");
        assert_eq!(field(def(1, 8, 4, 0)), "max_entries");
        assert_eq!(field(def(6, 4, 32769, 1)), "value_size");
        assert_eq!(field(def(3, 4, 8, 4)), "value_size");
        assert_eq!(field(def(3, 8, 4, 4)), "key_size");
        assert_eq!(field(def(22, 4, 8, 4)), "key_size");
        assert_eq!(field(def(27, 0, 0, 4095)), "max_entries");
        assert_eq!(field(def(27, 0, 0, 3 * 4096)), "max_entries");
        assert_eq!(field(def(7, 4, 12, 4)), "value_size");
        // Local storage wants max_entries 0 and BPF_F_NO_PREALLOC.
        assert_eq!(field(def(29, 4, 8, 1)), "max_entries");
        assert_eq!(field(def(29, 4, 8, 0)), "map_flags");
        let storage = MapDef {
            map_flags: BPF_F_NO_PREALLOC,
            ..def(29, 4, 8, 0)
        };
        assert_eq!(check_definition(&storage), Ok(()));
    }

    #[test]
    fn unknown_types_and_array_rules() {
        assert_eq!(
            check_definition(&def(0, 4, 4, 1)),
            Err(MapProblem::UnknownType { map_type: 0 })
        );
        assert_eq!(
            check_definition(&def(34, 4, 4, 1)),
            Err(MapProblem::UnknownType { map_type: 34 })
        );
        assert_eq!(
            check_definition(&def(2, 4, 4, 0)),
            Err(MapProblem::Rejected(MapError::ZeroMaxEntries))
        );
    }
}
