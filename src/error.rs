//! The facade's error type: one enum that says which object, program or map
//! went wrong and why.

use thiserror::Error;

/// Anything that can go wrong opening an object, loading or running a program,
/// or reading and writing a map.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The object file could not be read, parsed or linked, a map it needs
    /// created, or the VM refused a program (the error then names the
    /// section, instruction and function of the object).
    #[error(transparent)]
    Object(#[from] tinybpf_loader::LoadError),
    /// A run stopped on a fault.
    #[error("{object}: program {program}: {source}")]
    Run {
        /// The object file.
        object: String,
        /// The program name.
        program: String,
        /// The fault.
        source: tinybpf_vm::RunError,
    },
    /// The object has no program of that name.
    #[error("{object}: no program named {program} (programs: {available})")]
    NoSuchProgram {
        /// The object file.
        object: String,
        /// The name asked for.
        program: String,
        /// The names there are.
        available: String,
    },
    /// The object has several programs and none was named.
    #[error("{object}: it has {count} programs ({available}): choose one by name")]
    AmbiguousProgram {
        /// The object file.
        object: String,
        /// How many programs it has.
        count: usize,
        /// Their names.
        available: String,
    },
    /// The object has no map of that name.
    #[error("{object}: no map named {map} (maps: {available})")]
    NoSuchMap {
        /// The object file.
        object: String,
        /// The name asked for.
        map: String,
        /// The names there are.
        available: String,
    },
    /// A map operation failed with a kernel errno.
    #[error("{object}: map {map}: {source}")]
    Map {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// The errno-carrying error.
        source: tinybpf_maps::MapError,
    },
    /// A typed value does not have the map's value size.
    #[error(
        "{object}: map {map}: a value of {size} bytes does not match the map's value_size of {value_size}"
    )]
    ValueSize {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// Size of the Rust type.
        size: usize,
        /// The map's value size.
        value_size: u32,
    },
}
