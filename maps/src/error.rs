//! Errors of map operations, each carrying the errno the kernel returns.

use std::path::PathBuf;

use crate::map_type::{MapType, map_flags_names};

/// The kernel's errno values used by array maps (positive; a helper returns
/// `-errno`).
pub mod errno {
    /// Operation not permitted (a frozen map, a read-only map).
    pub const EPERM: i32 = 1;
    /// No such entry (lookup out of range, no next key).
    pub const ENOENT: i32 = 2;
    /// Too big (update past the pre-allocated elements, huge values).
    pub const E2BIG: i32 = 7;
    /// Out of memory (the map's size overflows or cannot be allocated).
    pub const ENOMEM: i32 = 12;
    /// Busy (freezing while writable views exist, or freezing twice).
    pub const EBUSY: i32 = 16;
    /// Exists (`BPF_NOEXIST` on an array, where every element exists).
    pub const EEXIST: i32 = 17;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Try again (a ring buffer without room for a record).
    pub const EAGAIN: i32 = 11;
    /// No such device (a CPU map entry for a CPU that is not possible).
    pub const ENODEV: i32 = 19;
    /// No space left (a perf event buffer without room: the sample is lost).
    pub const ENOSPC: i32 = 28;
    /// Value too large (a CPU map queue size above the limit).
    pub const EOVERFLOW: i32 = 75;
    /// Operation not supported (user-space lookup of an XSKMAP, perf output
    /// to another CPU's event).
    pub const EOPNOTSUPP: i32 = 95;
    /// The kernel-internal "not supported" (524) that the bpf syscall
    /// returns for operations a map type lacks (ring buffer lookups, perf
    /// event array lookups, LRU maps without pre-allocation).
    pub const ENOTSUPP: i32 = 524;
}

/// Why a map could not be created or a map operation failed.
///
/// [`MapError::errno`] gives the errno the kernel returns in the same
/// situation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The map type is not `BPF_MAP_TYPE_ARRAY` (EINVAL).
    #[error("map type {map_type} is not BPF_MAP_TYPE_ARRAY (2)")]
    UnsupportedMapType {
        /// The requested type.
        map_type: u32,
    },
    /// `max_entries` is zero (EINVAL).
    #[error("max_entries is 0: an array map needs at least one element")]
    ZeroMaxEntries,
    /// `key_size` is not 4 (EINVAL).
    #[error("key_size is {key_size}: an array map's key is a 4-byte index")]
    BadKeySize {
        /// The requested key size.
        key_size: u32,
    },
    /// `value_size` is zero (EINVAL).
    #[error("value_size is 0: an array map's value needs at least one byte")]
    ZeroValueSize,
    /// `map_flags` holds bits an array map does not know (EINVAL).
    #[error("map_flags {} has unknown bits {unknown:#x}", map_flags_names(*.flags))]
    UnknownMapFlags {
        /// All requested flags.
        flags: u32,
        /// The bits that are not understood.
        unknown: u32,
    },
    /// Both `BPF_F_RDONLY_PROG` and `BPF_F_WRONLY_PROG` are set (EINVAL).
    #[error("map_flags {} set both BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG", map_flags_names(*.flags))]
    ConflictingProgAccess {
        /// All requested flags.
        flags: u32,
    },
    /// `value_size` exceeds the kernel's `KMALLOC_MAX_SIZE` (E2BIG).
    #[error("value_size {value_size} exceeds the largest value size {max}")]
    ValueSizeTooBig {
        /// The requested value size.
        value_size: u32,
        /// The largest accepted value size.
        max: u32,
    },
    /// `max_entries * elem_size` does not fit in the address space (ENOMEM).
    #[error("map size overflows: {max_entries} entries of {elem_size} bytes")]
    SizeOverflow {
        /// The requested number of entries.
        max_entries: u32,
        /// The element size (value size rounded up to 8).
        elem_size: usize,
    },
    /// The value area could not be allocated (ENOMEM).
    #[error("cannot allocate {bytes} bytes for the map's values")]
    OutOfMemory {
        /// The size of the failed allocation.
        bytes: usize,
    },
    /// A key passed to an operation is not `key_size` bytes long (EINVAL).
    #[error("key is {actual} bytes long, the map's key_size is {expected}")]
    KeyLength {
        /// The map's key size.
        expected: u32,
        /// The length passed.
        actual: usize,
    },
    /// A value buffer is not `value_size` bytes long (EINVAL).
    #[error("value buffer is {actual} bytes long, the map's value_size is {expected}")]
    ValueLength {
        /// The map's value size.
        expected: u32,
        /// The length passed.
        actual: usize,
    },
    /// Update flags above `BPF_EXIST` (EINVAL).
    #[error("update flags {flags:#x} are unknown (BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2)")]
    UnknownUpdateFlags {
        /// The flags passed.
        flags: u64,
    },
    /// Lookup of an index at or past `max_entries` (ENOENT).
    #[error("no element at index {index}: the map has {max_entries} entries")]
    NoSuchElement {
        /// The index looked up.
        index: u32,
        /// The map's size.
        max_entries: u32,
    },
    /// Update of an index at or past `max_entries`: every element is
    /// pre-allocated, none can be added (E2BIG).
    #[error("index {index} is past the {max_entries} pre-allocated entries; none can be added")]
    IndexTooBig {
        /// The index updated.
        index: u32,
        /// The map's size.
        max_entries: u32,
    },
    /// `BPF_NOEXIST` update: every element of an array exists (EEXIST).
    #[error("BPF_NOEXIST update of index {index}: every array element already exists")]
    ElementExists {
        /// The index updated.
        index: u32,
    },
    /// Array elements cannot be deleted (EINVAL).
    #[error("array elements cannot be deleted")]
    DeleteUnsupported,
    /// `get_next_key` of the last index (ENOENT).
    #[error("index {index} is the last one: there is no next key")]
    NoNextKey {
        /// The last index.
        index: u32,
    },
    /// A user-space write to a frozen map (EPERM).
    #[error("the map is frozen: user space cannot {operation} it")]
    Frozen {
        /// What was attempted ("update", "delete", "create a writable view of").
        operation: &'static str,
    },
    /// A program update of a map created with `BPF_F_RDONLY_PROG` (EPERM).
    #[error("the map is read-only for programs (BPF_F_RDONLY_PROG)")]
    ReadOnlyForPrograms,
    /// A view of a map created without `BPF_F_MMAPABLE` (EINVAL).
    #[error("the map was created without BPF_F_MMAPABLE and cannot be viewed")]
    NotMmapable,
    /// Freezing while writable views exist (EBUSY).
    #[error("cannot freeze: {count} writable view(s) of the map are alive")]
    WritableViewsAlive {
        /// How many writable views exist.
        count: usize,
    },
    /// Freezing a map that is already frozen (EBUSY).
    #[error("the map is already frozen")]
    AlreadyFrozen,
    /// Freezing while user-space writes are still landing (EBUSY), as the
    /// kernel's `map_freeze` with `bpf_map_write_active`.
    #[error("cannot freeze: {count} user-space write(s) to the map are in flight")]
    WritesInFlight {
        /// How many writes were in flight.
        count: usize,
    },
    /// A map type number that `linux/bpf.h` does not define (EINVAL).
    #[error("map type {map_type} is not a BPF_MAP_TYPE_* of linux/bpf.h")]
    UnknownMapType {
        /// The requested type number.
        map_type: u32,
    },
    /// A map type tinybpf cannot create (EINVAL).
    #[error("map type {map_type} ({number}) is not supported: {reason}", number = map_type.as_u32())]
    MapTypeNotSupported {
        /// The requested type.
        map_type: MapType,
        /// Why.
        reason: &'static str,
    },
    /// A key size the map type does not accept (EINVAL).
    #[error("{map_type}: key_size {key_size} is invalid ({expected})")]
    KeySizeFor {
        /// The map type.
        map_type: MapType,
        /// The requested key size.
        key_size: u32,
        /// What the type accepts.
        expected: &'static str,
    },
    /// A value size the map type does not accept (EINVAL).
    #[error("{map_type}: value_size {value_size} is invalid ({expected})")]
    ValueSizeFor {
        /// The map type.
        map_type: MapType,
        /// The requested value size.
        value_size: u32,
        /// What the type accepts.
        expected: &'static str,
    },
    /// `max_entries` the map type does not accept (EINVAL).
    #[error("{map_type}: max_entries {max_entries} is invalid ({expected})")]
    MaxEntriesFor {
        /// The map type.
        map_type: MapType,
        /// The requested number of entries.
        max_entries: u32,
        /// What the type accepts.
        expected: &'static str,
    },
    /// Map flags the map type does not accept (EINVAL).
    #[error("{map_type}: map_flags {} are not allowed ({reason})", map_flags_names(*.flags))]
    FlagsNotAllowed {
        /// The map type.
        map_type: MapType,
        /// All requested flags.
        flags: u32,
        /// Why.
        reason: &'static str,
    },
    /// An LRU hash created with `BPF_F_NO_PREALLOC` (the kernel's ENOTSUPP, 524).
    #[error("{map_type}: LRU maps cannot be created with BPF_F_NO_PREALLOC")]
    LruWithoutPrealloc {
        /// The map type.
        map_type: MapType,
    },
    /// `key_size + value_size` too large for a hash element (E2BIG).
    #[error("key_size {key_size} + value_size {value_size} must stay below {limit}")]
    KeyValueTooBig {
        /// The requested key size.
        key_size: u32,
        /// The requested value size.
        value_size: u32,
        /// The kernel's bound.
        limit: u64,
    },
    /// A per-CPU value above the per-CPU allocator's unit (E2BIG).
    #[error("per-CPU value_size {value_size} rounds up past {limit} bytes")]
    PercpuValueTooBig {
        /// The requested value size.
        value_size: u32,
        /// The largest per-CPU value (32 KiB).
        limit: u32,
    },
    /// More entries than the map type allows (E2BIG).
    #[error("{map_type}: max_entries {max_entries} exceeds {limit}")]
    TooManyEntries {
        /// The map type.
        map_type: MapType,
        /// The requested number of entries.
        max_entries: u32,
        /// The largest accepted.
        limit: u64,
    },
    /// Creating the map would pass the object's memory budget (ENOMEM).
    #[error("memory budget exceeded: {requested} more bytes requested, {used} of {limit} in use")]
    MemoryBudgetExceeded {
        /// Bytes the map needs.
        requested: u64,
        /// Bytes already charged.
        used: u64,
        /// The budget's limit.
        limit: u64,
    },
    /// A new key in a full map that does not evict (E2BIG).
    #[error("the map is full: all {max_entries} entries are in use")]
    MapFull {
        /// The map's capacity.
        max_entries: u32,
    },
    /// The key is not in the map (ENOENT).
    #[error("no element with this key")]
    KeyNotFound,
    /// `get_next_key` after the last key, or of an empty map (ENOENT).
    #[error("there is no next key")]
    NoMoreKeys,
    /// `BPF_NOEXIST` update of a key that is present (EEXIST).
    #[error("BPF_NOEXIST update: the key already exists")]
    KeyExists,
    /// Update flags other than `BPF_ANY` where only `BPF_ANY` is accepted
    /// (program arrays, perf event arrays: EINVAL).
    #[error("update flags {flags:#x}: this map only accepts BPF_ANY (0)")]
    UpdateFlagsMustBeAny {
        /// The flags passed.
        flags: u64,
    },
    /// Delete of an index at or past `max_entries` in a redirect map (EINVAL).
    #[error("index {index} is past the map's {max_entries} entries")]
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// The map's size.
        max_entries: u32,
    },
    /// An operation the map type does not offer; the errno is the kernel's
    /// for that type (ENOTSUPP 524, EOPNOTSUPP 95 or EINVAL).
    #[error("{map_type}: {operation} is not supported")]
    NotSupported {
        /// The map type.
        map_type: MapType,
        /// The operation.
        operation: &'static str,
        /// The kernel's errno.
        errno: i32,
    },
    /// An operation the kernel's verifier refuses in programs for this map
    /// type (EINVAL, the verifier's answer at load time).
    #[error("{map_type}: programs may not {operation} this map type")]
    NotFromPrograms {
        /// The map type.
        map_type: MapType,
        /// The operation.
        operation: &'static str,
    },
    /// A CPU index at or past the number of possible CPUs (EINVAL).
    #[error("CPU {cpu} is not one of the {possible_cpus} possible CPUs")]
    CpuOutOfRange {
        /// The CPU index.
        cpu: u32,
        /// The number of possible CPUs.
        possible_cpus: u32,
    },
    /// A CPU map entry for a CPU that is not possible (ENODEV).
    #[error("CPU {cpu} is not possible (the host has {possible_cpus})")]
    CpuNotPossible {
        /// The CPU index (the key).
        cpu: u32,
        /// The number of possible CPUs.
        possible_cpus: u32,
    },
    /// A CPU map queue size above the kernel's sanity limit (EOVERFLOW).
    #[error("CPU map queue size {qsize} exceeds {limit}")]
    QueueSizeTooBig {
        /// The requested queue size.
        qsize: u32,
        /// The largest accepted.
        limit: u32,
    },
    /// A devmap or cpumap entry naming a program without a target (EINVAL).
    #[error("an entry without a target (ifindex or qsize 0) cannot name a program (fd {fd})")]
    ProgramWithoutTarget {
        /// The program fd given.
        fd: i32,
    },
    /// Perf event output flags with unknown bits (EINVAL).
    #[error("output flags {flags:#x} have unknown bits")]
    UnknownOutputFlags {
        /// The flags passed.
        flags: u64,
    },
    /// Perf event output to an entry no event is attached to (ENOENT).
    #[error("perf event array entry {index} has no event attached")]
    NoEventAttached {
        /// The entry.
        index: u32,
    },
    /// Perf event output to another CPU's event (EOPNOTSUPP).
    #[error("perf event array entry {index} belongs to CPU {index}, the program runs on CPU {cpu}")]
    EventOnOtherCpu {
        /// The entry.
        index: u32,
        /// The running CPU.
        cpu: u32,
    },
    /// A perf event buffer without room: the sample is counted as lost
    /// (ENOSPC).
    #[error("perf event buffer of entry {index} is full: sample of {bytes} bytes lost")]
    EventLost {
        /// The entry.
        index: u32,
        /// The sample's size.
        bytes: usize,
    },
    /// A ring buffer without room for the record (EAGAIN).
    #[error("ring buffer has no room for a record of {size} bytes")]
    RingFull {
        /// The record's size.
        size: u64,
    },
}

impl MapError {
    /// The positive errno the kernel returns in this situation; a helper
    /// returns its negation to the program.
    pub fn errno(&self) -> i32 {
        use errno::*;
        match self {
            MapError::UnsupportedMapType { .. }
            | MapError::ZeroMaxEntries
            | MapError::BadKeySize { .. }
            | MapError::ZeroValueSize
            | MapError::UnknownMapFlags { .. }
            | MapError::ConflictingProgAccess { .. }
            | MapError::KeyLength { .. }
            | MapError::ValueLength { .. }
            | MapError::UnknownUpdateFlags { .. }
            | MapError::DeleteUnsupported
            | MapError::NotMmapable => EINVAL,
            MapError::ValueSizeTooBig { .. } | MapError::IndexTooBig { .. } => E2BIG,
            MapError::SizeOverflow { .. } | MapError::OutOfMemory { .. } => ENOMEM,
            MapError::NoSuchElement { .. } | MapError::NoNextKey { .. } => ENOENT,
            MapError::ElementExists { .. } => EEXIST,
            MapError::Frozen { .. } | MapError::ReadOnlyForPrograms => EPERM,
            MapError::WritableViewsAlive { .. }
            | MapError::AlreadyFrozen
            | MapError::WritesInFlight { .. } => EBUSY,
            MapError::UnknownMapType { .. }
            | MapError::MapTypeNotSupported { .. }
            | MapError::KeySizeFor { .. }
            | MapError::ValueSizeFor { .. }
            | MapError::MaxEntriesFor { .. }
            | MapError::FlagsNotAllowed { .. }
            | MapError::UpdateFlagsMustBeAny { .. }
            | MapError::IndexOutOfRange { .. }
            | MapError::NotFromPrograms { .. }
            | MapError::CpuOutOfRange { .. }
            | MapError::ProgramWithoutTarget { .. }
            | MapError::UnknownOutputFlags { .. } => EINVAL,
            MapError::LruWithoutPrealloc { .. } => ENOTSUPP,
            MapError::KeyValueTooBig { .. }
            | MapError::PercpuValueTooBig { .. }
            | MapError::TooManyEntries { .. }
            | MapError::MapFull { .. } => E2BIG,
            MapError::MemoryBudgetExceeded { .. } => ENOMEM,
            MapError::KeyNotFound | MapError::NoMoreKeys | MapError::NoEventAttached { .. } => {
                ENOENT
            }
            MapError::KeyExists => EEXIST,
            MapError::NotSupported { errno, .. } => *errno,
            MapError::CpuNotPossible { .. } => ENODEV,
            MapError::QueueSizeTooBig { .. } => EOVERFLOW,
            MapError::EventOnOtherCpu { .. } => EOPNOTSUPP,
            MapError::EventLost { .. } => ENOSPC,
            MapError::RingFull { .. } => EAGAIN,
        }
    }
}

/// Why a pinned (file-backed) map could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// An I/O operation on the pin file failed.
    #[error("{path}: cannot {operation}: {source}")]
    Io {
        /// The pin file.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The pin path is not a regular file (a symbolic link, FIFO, directory,
    /// socket or device), which tinybpf refuses to open or map.
    #[error("{path}: not a regular file ({kind}); pin files must be regular files")]
    NotRegularFile {
        /// The pin path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The file does not start with the pin magic.
    #[error("{path}: not a tinybpf pinned map (magic {found:02x?})")]
    BadMagic {
        /// The pin file.
        path: PathBuf,
        /// The first bytes found.
        found: [u8; 8],
    },
    /// The file's format version is not the one this crate writes.
    #[error("{path}: pinned map format version {found}, this build reads version {supported}")]
    UnsupportedVersion {
        /// The pin file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build supports.
        supported: u32,
    },
    /// A header field other than the definition is invalid.
    #[error("{path}: bad header: {reason}")]
    BadHeader {
        /// The pin file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The recorded (or requested) definition is not a valid mmapable array.
    #[error("{path}: invalid map definition: {source}")]
    InvalidDef {
        /// The pin file.
        path: PathBuf,
        /// Why the definition was refused.
        #[source]
        source: MapError,
    },
    /// The file's length does not match its header.
    #[error("{path}: file is {actual} bytes, its header needs exactly {expected}")]
    SizeMismatch {
        /// The pin file.
        path: PathBuf,
        /// Header page plus page-rounded value area.
        expected: u64,
        /// The file's length.
        actual: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_the_kernel_errno() {
        let cases = [
            (MapError::UnsupportedMapType { map_type: 1 }, errno::EINVAL),
            (MapError::ZeroMaxEntries, errno::EINVAL),
            (MapError::BadKeySize { key_size: 8 }, errno::EINVAL),
            (MapError::ZeroValueSize, errno::EINVAL),
            (
                MapError::UnknownMapFlags {
                    flags: 1,
                    unknown: 1,
                },
                errno::EINVAL,
            ),
            (
                MapError::ConflictingProgAccess { flags: 0x180 },
                errno::EINVAL,
            ),
            (
                MapError::ValueSizeTooBig {
                    value_size: 1,
                    max: 0,
                },
                errno::E2BIG,
            ),
            (
                MapError::SizeOverflow {
                    max_entries: 1,
                    elem_size: 8,
                },
                errno::ENOMEM,
            ),
            (MapError::OutOfMemory { bytes: 1 }, errno::ENOMEM),
            (
                MapError::KeyLength {
                    expected: 4,
                    actual: 3,
                },
                errno::EINVAL,
            ),
            (
                MapError::ValueLength {
                    expected: 4,
                    actual: 3,
                },
                errno::EINVAL,
            ),
            (MapError::UnknownUpdateFlags { flags: 3 }, errno::EINVAL),
            (
                MapError::NoSuchElement {
                    index: 1,
                    max_entries: 1,
                },
                errno::ENOENT,
            ),
            (
                MapError::IndexTooBig {
                    index: 1,
                    max_entries: 1,
                },
                errno::E2BIG,
            ),
            (MapError::ElementExists { index: 0 }, errno::EEXIST),
            (MapError::DeleteUnsupported, errno::EINVAL),
            (MapError::NoNextKey { index: 0 }, errno::ENOENT),
            (
                MapError::Frozen {
                    operation: "update",
                },
                errno::EPERM,
            ),
            (MapError::ReadOnlyForPrograms, errno::EPERM),
            (MapError::NotMmapable, errno::EINVAL),
            (MapError::WritableViewsAlive { count: 1 }, errno::EBUSY),
            (MapError::AlreadyFrozen, errno::EBUSY),
        ];
        for (error, expected) in cases {
            assert_eq!(error.errno(), expected, "{error}");
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(
            (
                errno::EPERM,
                errno::ENOENT,
                errno::E2BIG,
                errno::ENOMEM,
                errno::EBUSY,
                errno::EEXIST,
                errno::EINVAL
            ),
            (1, 2, 7, 12, 16, 17, 22)
        );
    }
}

#[cfg(test)]
mod flag_message_tests {
    use super::*;

    #[test]
    fn flag_errors_name_the_flags() {
        let conflict = MapError::ConflictingProgAccess {
            flags: 1 << 7 | 1 << 8,
        };
        assert_eq!(
            conflict.to_string(),
            "map_flags BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG set both BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG"
        );
        let unknown = MapError::UnknownMapFlags {
            flags: 1 << 10 | 1 << 30,
            unknown: 1 << 30,
        };
        assert_eq!(
            unknown.to_string(),
            "map_flags BPF_F_MMAPABLE | 0x40000000 has unknown bits 0x40000000"
        );
    }
}
