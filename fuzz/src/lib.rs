//! Shared code of tinybpf's fuzz targets: how raw fuzz bytes become the
//! inputs of each target, and the checks the targets make.
//!
//! - [`Reader`]: reads numbers and choices from the fuzz bytes (zeros once
//!   they run out, so every byte string is a valid input); [`fill_bytes`].
//! - [`vm_case`]: the `vm` target's input layout (maps, input memory,
//!   bytecode), and its encoder for the seed corpus.
//! - [`generator`]: the `rewrite_diff` target's structure-aware generator of
//!   valid programs around array-map lookups.
//! - [`diff`]: runs one program with and without the lookup rewrite (or in
//!   both tiers), each over its own maps, and reports any difference.
//!
//! `reader`, `vm_case`, `diff` and `generator` name what they use through
//! `crate::` paths only, so that the workspace's `tests/jit_diff.rs` can
//! include them by path (the fuzz crate is outside the workspace).
#![warn(missing_docs)]

pub mod diff;
pub mod generator;
pub mod minimize;
mod reader;
pub mod vm_case;

pub use reader::{Reader, fill_bytes};
