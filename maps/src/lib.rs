//! `tinybpf-maps`: the kernel's BPF map types for tinybpf.
//!
//! [`BpfMap`] is one cheap-to-clone, `Send + Sync` handle over every
//! supported type (see [`MapType`]), created with the kernel's checks and
//! errnos by [`BpfMap::create`] and offering the `bpf(2)` syscall's
//! operations for user space and the helpers' operations for programs:
//!
//! | type | module | kernel reference |
//! |------|--------|------------------|
//! | `ARRAY` | [`ArrayMap`] | kernel/bpf/arraymap.c |
//! | `PERCPU_ARRAY` | `percpu_array` | kernel/bpf/arraymap.c |
//! | `HASH`, `LRU_HASH`, `PERCPU_HASH`, `LRU_PERCPU_HASH` | [`hash`] | kernel/bpf/hashtab.c |
//! | `LPM_TRIE` | [`lpm_trie`] | kernel/bpf/lpm_trie.c |
//! | `DEVMAP`, `DEVMAP_HASH`, `CPUMAP`, `XSKMAP`, `PROG_ARRAY`, `PERF_EVENT_ARRAY` | [`slots`], [`perf_event`] | devmap.c, cpumap.c, xskmap.c, arraymap.c |
//! | `RINGBUF` | [`ringbuf`] | kernel/bpf/ringbuf.c |
//!
//! Maps of maps, socket, cgroup, storage and stack-trace maps are refused
//! at creation with `EINVAL` and a reason ([`MapType::unsupported_reason`]).
//!
//! Each map has one value region per CPU that programs may point into
//! ([`BpfMap::program_region`]; per-CPU maps give each CPU its own slice of
//! identical layout on separate pages); it never moves while the map lives,
//! and a program lookup returns an offset into it. All elements are
//! pre-allocated, so program operations allocate nothing. Every map is
//! charged at creation to an optional [`MemoryBudget`] shared by the maps
//! of one object (`ENOMEM` past its limit), and releases the charge when
//! dropped.
//!
//! # Arrays
//!
//! An [`ArrayMap`] is a fixed array of `max_entries` elements of `value_size`
//! bytes, indexed by a 4-byte key, exactly as in the 2014 kernel patch that
//! introduced it: all elements are allocated and zeroed at creation, each is
//! `value_size` rounded up to 8 bytes, and their addresses never move, so a
//! program may keep a pointer to an element (what `bpf_map_lookup_elem`
//! returns) for as long as the map lives. [`BpfMap::as_array`] gives the VM
//! the concrete array for its fast paths.
//!
//! # Memory model
//!
//! Programs on several threads and user space read and write the same values
//! at once, with no lock ("nothing protects concurrent access", says the
//! patch). Every access to value bytes goes through [`shared_mem`]: aligned
//! loads and stores are `Relaxed` atomics of their width, unaligned ones are
//! byte-wise `AtomicU8` accesses, copies move each chunk with the widest
//! aligned atomic that fits (8, 4, 2, then 1 bytes, so a user-space read
//! never tears an aligned field), and
//! the eBPF atomic instructions are real atomic read-modify-write operations.
//! There is therefore no data race and no undefined behaviour in Rust's sense.
//! The one limit: racing accesses of *different* widths to the same bytes
//! ("mixed-size atomics") are outside Rust's memory model, although every
//! supported CPU gives each byte a value one of the writers stored.
//!
//! The crate is checked under Miri (whose weak-memory emulation does not
//! support mixed-size accesses even when they do not race, so it is turned
//! off):
//! `MIRIFLAGS=-Zmiri-disable-weak-memory-emulation cargo +nightly miri test -p tinybpf-maps --lib --test array_ops --test views`.
//!
//! # Errors
//!
//! Every operation returns a [`MapError`] whose [`MapError::errno`] is what
//! the kernel returns in the same case, so a helper can hand `-errno` to the
//! program. Creation: `EINVAL` for a type other than `BPF_MAP_TYPE_ARRAY`,
//! `max_entries` 0, `key_size` not 4, `value_size` 0, unknown or conflicting
//! flags; `E2BIG` for a value above [`MAX_VALUE_SIZE`]; `ENOMEM` when the
//! size overflows or cannot be allocated. Lookup out of range: `ENOENT`.
//! Update: `EPERM` when frozen (user space), then `EINVAL` for flags above
//! `BPF_EXIST`, `E2BIG` past the last index, `EEXIST` for `BPF_NOEXIST`.
//! Delete: `EINVAL` (`EPERM` first for user space on a frozen map).
//! `get_next_key`: index 0 for no key or one out of range, `ENOENT` after the
//! last.
//!
//! # Freezing
//!
//! [`BpfMap::freeze`] (and [`ArrayMap::freeze`]) make a map read-only for
//! user space; like the kernel's `map_freeze` with `bpf_map_write_active`,
//! a freeze fails with `EBUSY` while a user-space write is still landing,
//! so once it succeeds no user-space write lands any more (see the
//! `freeze` module for the handshake).
//!
//! # Views
//!
//! A map created with [`BPF_F_MMAPABLE`] can be viewed without copies:
//! [`ArrayMap::view`] gives a read-only [`MapView`], [`ArrayMap::view_mut`] a
//! writable [`MapViewMut`] (loads, stores, atomics). As with the kernel's
//! memory mapping (2019), a view is a reference to the map and keeps it
//! alive; [`ArrayMap::freeze`] makes the map read-only for user space, fails
//! with `EBUSY` while a writable view is alive, and a writable view of a
//! frozen map fails with `EPERM`. Programs may still write a frozen map
//! unless it is [`BPF_F_RDONLY_PROG`].
//!
//! # Pinning
//!
//! [`ArrayMap::create_pinned`] backs a mmapable map with a file (a header
//! page, then the value pages) mapped shared; [`ArrayMap::open_pinned`] maps
//! it again, in this or another process, and both see each other's writes
//! and freezes live. This goes beyond the kernel patch: it lets a second
//! process watch a running program's counters. Pin files are reserved with
//! `posix_fallocate`, created `0600`, opened only when they are regular
//! files whose header matches their size; a file shortened while mapped
//! ends the process with `SIGBUS` (documented, tested, no memory
//! corruption): the `pin` module explains the choice.
//!
//! # Dump
//!
//! [`ArrayMap::dump`] renders the entries as a stable table (see
//! [`DumpOptions`]).
//!
//! # Example
//!
//! ```
//! use tinybpf_maps::{ArrayMap, BPF_ANY, MapDef, errno};
//!
//! let map = ArrayMap::new(MapDef::array(12, 2)).unwrap();
//! assert_eq!(map.elem_size(), 16);
//! map.update(&0u32.to_le_bytes(), &[1; 12], BPF_ANY).unwrap();
//! assert_eq!(map.lookup(&0u32.to_le_bytes()).unwrap(), vec![1; 12]);
//! assert_eq!(map.delete(&0u32.to_le_bytes()).unwrap_err().errno(), errno::EINVAL);
//! assert_eq!(map.get_next_key(Some(&1u32.to_le_bytes())).unwrap_err().errno(), errno::ENOENT);
//!
//! // A program-style atomic add on element 1, through the memory model.
//! let counter = map.element_ptr(1).unwrap();
//! // SAFETY: element 1 is 16 bytes inside the live map, 8-aligned, and only
//! // accessed atomically.
//! unsafe { tinybpf_maps::shared_mem::fetch_add(counter.as_ptr(), 8, 3) };
//! assert_eq!(map.lookup(&1u32.to_le_bytes()).unwrap()[..8], 3u64.to_le_bytes());
//! ```
#![warn(missing_docs)]

mod array;
mod common;
mod create;
mod def;
mod dump;
mod error;
mod freeze;
pub mod hash;
pub mod lpm_trie;
mod map;
mod map_type;
mod options;
mod percpu_array;
pub mod perf_event;
mod pin;
pub mod ringbuf;
pub mod shared_mem;
pub mod slots;
mod storage;
mod view;

pub use array::ArrayMap;
pub use create::{NR_CPUS, PCPU_MIN_UNIT_SIZE};
pub use def::{
    ARRAY_MAP_FLAGS, ArrayLayout, BPF_ANY, BPF_EXIST, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG,
    BPF_F_WRONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_NOEXIST, MAX_VALUE_SIZE, MapDef, PAGE_SIZE,
};
pub use dump::DumpOptions;
pub use error::{MapError, PinError, errno};
pub use map::{BpfMap, Entries, ProgramOp};
pub use map_type::{
    BPF_F_INNER_MAP, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_PRESERVE_ELEMS,
    BPF_F_RDONLY, BPF_F_STACK_BUILD_ID, BPF_F_WRONLY, BPF_F_ZERO_SEED, MapType, map_flags_names,
};
pub use options::{
    DEFAULT_PERF_BUFFER_BYTES, MapOptions, MemoryBudget, MemoryCharge, host_possible_cpus,
    parse_cpu_list,
};
pub use perf_event::PerfEvent;
pub use pin::{PIN_FORMAT_VERSION, PIN_HEADER_LEN, PIN_MAGIC};
pub use view::{MapView, MapViewMut};
