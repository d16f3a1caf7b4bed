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
    /// The program's type is one tinybpf does not run with its context
    /// (and raw memory was not asked for: [`LoadOptions::raw_memory`](crate::LoadOptions::raw_memory), `--mem`).
    #[error(
        "{object}: program {program} (section {section}) is a {program_type} program, which tinybpf does not run; \
         it runs {runnable} programs, and any program over raw memory when asked (--mem FILE)"
    )]
    UnsupportedProgramType {
        /// The object file.
        object: String,
        /// The program name.
        program: String,
        /// Its section.
        section: String,
        /// The type its section gives (`kprobe`, `lsm`, ...).
        program_type: tinybpf_loader::ProgramType,
        /// The types tinybpf runs.
        runnable: &'static str,
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
    /// A typed key does not have the map's key size.
    #[error(
        "{object}: map {map}: a key of {size} bytes does not match the map's key_size of {key_size}; use a key type of {key_size} bytes"
    )]
    KeySize {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// Size of the Rust type.
        size: usize,
        /// The map's key size.
        key_size: u32,
    },
    /// A per-CPU call on a map that is not per-CPU, or the other way round.
    #[error("{object}: map {map} is a {type_name} map: use {call} for it")]
    PerCpu {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// The map's type.
        type_name: &'static str,
        /// The call that fits the map.
        call: &'static str,
    },
    /// Per-CPU values given for another number of CPUs than the map's.
    #[error(
        "{object}: map {map}: {given} per-CPU values given, but the map has {possible_cpus} possible CPUs; give one value per CPU"
    )]
    CpuCount {
        /// The object file.
        object: String,
        /// The map name.
        map: String,
        /// Values given.
        given: usize,
        /// The map's possible CPUs.
        possible_cpus: u32,
    },
    /// A number of possible CPUs outside 1 to `NR_CPUS`, or another than
    /// the object's maps were created for.
    #[error("{object}: {}", describe_cpus(*.requested, *.fixed))]
    PossibleCpus {
        /// The object file.
        object: String,
        /// The possible CPUs asked for.
        requested: u32,
        /// What the object's maps were created for, when that is the problem.
        fixed: Option<u32>,
    },
    /// The directory given to [`Object::with_pin_dir`](crate::Object::with_pin_dir)
    /// cannot hold pins.
    #[error("pin directory {}: {reason}; give an existing directory you can write to", .dir.display())]
    PinDir {
        /// The directory.
        dir: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// [`Object::with_pin_dir`](crate::Object::with_pin_dir) after the
    /// object's maps were created (privately) or pinned already.
    #[error(
        "{object}: its maps were already created or pinned; pin them before loading a program or opening a map, once"
    )]
    PinTooLate {
        /// The object file.
        object: String,
    },
    /// A pin file could not be opened as a map ([`Map::open_pinned`](crate::Map::open_pinned)).
    #[error("{source}")]
    Pinned {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: tinybpf_maps::PinError,
    },
    /// A `NAME=VALUE` assignment to a global variable that does not parse.
    #[error("{object}: {text:?} is not NAME=VALUE: {source}")]
    GlobalSyntax {
        /// The object file.
        object: String,
        /// The assignment given.
        text: String,
        /// Where it goes wrong.
        source: tinybpf_loader::btf::value::ParseError,
    },
    /// The object has no global variable of that name.
    #[error("{object}: no global variable named {name} (variables: {available})")]
    NoSuchGlobal {
        /// The object file.
        object: String,
        /// The name asked for.
        name: String,
        /// The names there are.
        available: String,
    },
    /// A global variable cannot be read or set as asked.
    #[error("{object}: global variable {name}: {problem}")]
    Global {
        /// The object file.
        object: String,
        /// The variable.
        name: String,
        /// What is wrong.
        problem: GlobalProblem,
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

/// The sentence of [`Error::PossibleCpus`].
fn describe_cpus(requested: u32, fixed: Option<u32>) -> String {
    match fixed {
        Some(fixed) => format!(
            "the program asks for {requested} possible CPUs, but the object's maps were created for {fixed}; load every program of an object with the same number of CPUs"
        ),
        None => format!(
            "{requested} possible CPUs is not a number of CPUs the kernel allows; give 1 to {}",
            tinybpf_maps::NR_CPUS
        ),
    }
}

/// What is wrong with reading or setting a global variable ([`Error::Global`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GlobalProblem {
    /// The value does not fit the variable's BTF type.
    #[error("{0}")]
    Value(Box<tinybpf_loader::btf::value::ValueError>),
    /// A `.rodata` variable whose map was created, and so frozen.
    #[error(
        "it is in {section}, whose map is already created and frozen; set it before the first program is loaded (or the map created)"
    )]
    Frozen {
        /// The variable's section.
        section: String,
    },
    /// The object has no BTF to say the variable's type.
    #[error("the object has no BTF to say its type; compile it with -g")]
    NoBtf,
    /// A Rust type of another size than the variable.
    #[error("a value of {size} bytes does not match the variable's {variable_size} bytes")]
    Size {
        /// Size of the Rust type.
        size: usize,
        /// The variable's size.
        variable_size: u32,
    },
    /// The variable does not lie inside its section (a broken object).
    #[error("it does not lie inside {section}")]
    Outside {
        /// The variable's section.
        section: String,
    },
}
