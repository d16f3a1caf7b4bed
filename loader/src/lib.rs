//! `tinybpf-loader`: reads clang-compiled BPF object files.
//!
//! [`Object::parse`] checks the ELF file (64-bit, little-endian, relocatable,
//! machine BPF, every offset inside the file), reads its [`btf`], and lists
//! its programs and maps: legacy `SEC("maps")` definitions, BTF-defined
//! `SEC(".maps")` definitions, and the global data sections (`.data`,
//! `.rodata*`, `.bss`, each backed by a one-element array map), with each
//! global variable's name, offset, size and type. Nothing is linked yet.
//!
//! [`Object::link`] links the one program asked for: map references and
//! global variables become `lddw` instructions the VM resolves by map index,
//! and the `.text` subprograms it reaches are appended. Only what that
//! program reaches is read: a broken section, an unsupported relocation or a
//! map tinybpf cannot create elsewhere in the object does not stop it.
//! [`Object::create_maps_for`] creates the maps it uses, and
//! [`LinkedProgram::load`] hands it to the VM.
//!
//! Every failure is a [`LoadError`] naming the file, with a
//! [`LoadErrorKind`] naming the place (section, symbol, map, instruction
//! index or offset); no input makes the loader panic.
//!
//! ```
//! # fn main() -> Result<(), tinybpf_loader::LoadError> {
//! use tinybpf_loader::{CreateOptions, Object};
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/globals.o");
//! let object = Object::open(path)?;
//! assert_eq!(object.license.as_deref(), Some("GPL"));
//! let linked = object.link("use_globals")?;
//! let maps = object.create_maps_for(&linked, &CreateOptions::default())?;
//! assert_eq!(maps.len(), 3); // .data, .rodata, .bss
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod btf;
mod create;
mod elf;
mod error;
mod flags;
mod globals;
mod image;
mod link;
mod load;
mod map_check;
mod map_defs;
mod maps_btf;
mod names;
mod object;
mod program_type;

pub use create::{CreateOptions, create_map, pin_path};
pub use error::{HelperRefusal, LoadError, LoadErrorKind};
pub use flags::describe_map_flags;
pub use link::{LinkedFunction, LinkedProgram};
pub use map_check::{MapProblem, check_definition};
pub use object::{
    GlobalVariable, MapSlot, Object, ObjectMap, ObjectMapKind, ObjectProgram, Pinning, SlotTarget,
};
pub use program_type::{ProgramType, RUNNABLE_TYPES, xdp_has_frags};
