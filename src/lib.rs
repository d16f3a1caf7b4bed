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
//! The crates underneath are re-exported: [`maps`] (the map runtime),
//! [`vm`] (the interpreter and the compiled tier), [`loader`] (the ELF loader); the types the
//! facade's calls take and return ([`RunContext`], [`RunOutcome`],
//! [`Helpers`], [`MapDef`], [`BpfMap`], [`ArrayMap`], ...) also at its root.
//!
//! Where to look: [`Object`] (open, load programs, globals by name:
//! [`Object::set_globals`], pins: [`Object::with_pin_dir`]), [`Program`]
//! (run it, from many threads), [`Map`] (typed entries, snapshots of the
//! entries with [`Map::entries`]), [`LoadOptions::helpers`] (your own
//! helpers).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod ctx_in;
mod error;
mod globals;
pub mod json;
mod listing;
mod map;
mod maps_in;
mod object;
mod outcome;
mod packet;
mod pin;
mod table;
mod tail_calls;
mod timed;
mod typed;
mod value;

pub use error::{Error, GlobalProblem};
pub use globals::Global;
pub use listing::listing;
pub use map::Map;
pub use maps_in::{MapsIn, MapsInError};
pub use object::{LoadOptions, Object, Program, TestRun};
pub use outcome::{EventLog, RedirectReport, attach_perf_readers, drain_events};
pub use packet::default_packet;
pub use pin::PinnedMap;
pub use table::{TableOptions, write_map_table, write_typed_map_table};
pub use tail_calls::{tail_call_targets, uses_tail_calls};
pub use timed::{TimedRuns, run_timed};
pub use typed::TypedView;
pub use value::Plain;

// The types the facade's calls take and return, at its root, so that its
// documentation links them and users need no second import.
pub use tinybpf_loader::btf::value::Value;
pub use tinybpf_loader::{ObjectMapKind, describe_map_flags};
pub use tinybpf_maps::{ArrayMap, BpfMap, MapDef, MapError, MapType, MemoryBudget, PinError};
pub use tinybpf_vm::{
    HelperContext, HelperError, Helpers, LoadedProgram, ProgramKind, RunContext, RunError,
    RunOutcome,
};

pub use tinybpf_loader as loader;
pub use tinybpf_maps as maps;
pub use tinybpf_vm as vm;
pub use tinybpf_vm::{Fallback, Tier, TierUsed};
