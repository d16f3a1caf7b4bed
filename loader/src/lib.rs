//! `tinybpf-loader`: reads clang-compiled BPF object files.
//!
//! [`Object::parse`] checks the ELF file (64-bit, little-endian, relocatable,
//! machine BPF, every offset inside the file), collects the legacy
//! `SEC("maps")` definitions and the global data sections (`.data`,
//! `.rodata*`, `.bss`, each backed by a one-element array map), and links
//! every program: map references and global variables become `lddw`
//! instructions the VM resolves by map index, and the `.text` subprograms a
//! program calls are appended to it. [`Object::create_maps`] then creates the
//! maps with their initial contents.
//!
//! Every failure is a [`LoadError`] naming the file and the place (section,
//! symbol, instruction index or offset); no input makes the loader panic.
//!
//! ```
//! # fn main() -> Result<(), tinybpf_loader::LoadError> {
//! use tinybpf_loader::Object;
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/globals.o");
//! let object = Object::open(path)?;
//! assert_eq!(object.license.as_deref(), Some("GPL"));
//! let maps = object.create_maps()?;
//! assert_eq!(maps.len(), object.maps.len());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod elf;
mod error;
mod link;
mod load;
mod map_defs;
mod names;
mod object;

pub use error::LoadError;
pub use object::{GlobalVariable, LinkedFunction, Object, ObjectMap, ObjectMapKind, ObjectProgram};
