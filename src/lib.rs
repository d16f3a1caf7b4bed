//! tinybpf: run clang-compiled eBPF objects (`clang -O2 -target bpf -c x.c`)
//! in user space, with their maps (every map type the kernel's XDP and
//! socket programs use most: arrays, hashes, per-CPU and LRU maps, LPM tries,
//! redirect maps, program and perf event arrays, ring buffers), without
//! root or a kernel.
//!
//! ```
//! # fn main() -> Result<(), tinybpf::Error> {
//! use tinybpf::Object;
//! let object = Object::open(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xdp_counter.o"))?;
//! let program = object.program("xdp_counter")?;
//! let mut packet = tinybpf::default_packet();
//! let outcome = program.run(&mut packet)?;
//! assert_eq!(outcome.retval, 2); // XDP_PASS
//! # Ok(())
//! # }
//! ```
//!
//! The crates underneath are re-exported: [`maps`] (the array map runtime),
//! [`vm`] (the interpreter), [`loader`] (the ELF loader).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod flags;
pub mod json;
mod listing;
mod map;
mod maps_in;
mod object;
mod outcome;
mod packet;
mod table;
mod tail_calls;
mod timed;
mod value;

pub use error::Error;
pub use flags::describe_map_flags;
pub use listing::listing;
pub use map::Map;
pub use maps_in::{MapsIn, MapsInError};
pub use object::{LoadOptions, Object, Program, TestRun};
pub use outcome::{EventLog, RedirectReport, attach_perf_readers, drain_events};
pub use packet::default_packet;
pub use table::{TableOptions, write_map_table};
pub use tail_calls::{tail_call_targets, uses_tail_calls};
pub use timed::{TimedRuns, run_timed};
pub use value::Plain;

pub use tinybpf_loader as loader;
pub use tinybpf_maps as maps;
pub use tinybpf_vm as vm;
