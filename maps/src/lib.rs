//! `tinybpf-maps`: the kernel's `BPF_MAP_TYPE_ARRAY` for tinybpf.
//!
//! An [`ArrayMap`] is a fixed array of `max_entries` elements of `value_size`
//! bytes, indexed by a 4-byte key, exactly as in the 2014 kernel patch that
//! introduced it: all elements are allocated and zeroed at creation, each is
//! `value_size` rounded up to 8 bytes, and their addresses never move, so a
//! program may keep a pointer to an element (what `bpf_map_lookup_elem`
//! returns) for as long as the map lives.
//!
//! # Memory model
//!
//! Programs on several threads and user space read and write the same values
//! at once, with no lock ("nothing protects concurrent access", says the
//! patch). Every access to value bytes goes through [`shared_mem`]: aligned
//! loads and stores are `Relaxed` atomics of their width, unaligned ones are
//! byte-wise `AtomicU8` accesses, copies move aligned words atomically, and
//! the eBPF atomic instructions are real atomic read-modify-write operations.
//! There is therefore no data race and no undefined behaviour in Rust's sense.
//! The one limit: racing accesses of *different* widths to the same bytes
//! ("mixed-size atomics") are outside Rust's memory model, although every
//! supported CPU gives each byte a value one of the writers stored.
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
//! ```
#![warn(missing_docs)]

mod array;
mod def;
mod dump;
mod error;
mod pin;
pub mod shared_mem;
mod storage;
mod view;

pub use array::ArrayMap;
pub use def::{
    ARRAY_MAP_FLAGS, ArrayLayout, BPF_ANY, BPF_EXIST, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG,
    BPF_F_WRONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_NOEXIST, MAX_VALUE_SIZE, MapDef, PAGE_SIZE,
};
pub use dump::DumpOptions;
pub use error::{MapError, PinError, errno};
pub use pin::{PIN_FORMAT_VERSION, PIN_HEADER_LEN, PIN_MAGIC};
pub use view::{MapView, MapViewMut};
