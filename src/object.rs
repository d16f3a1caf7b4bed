//! [`Object`], [`Program`] and [`Map`]: an opened object file with live maps,
//! its programs loaded into the VM, and typed access to map entries.

use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use tinybpf_loader::{CreateOptions, LinkedProgram, ObjectMapKind, ObjectProgram};
use tinybpf_maps::{ArrayMap, BPF_ANY, DumpOptions, MapDef};
use tinybpf_vm::{Helpers, ProgramKind, ProgramOptions, RunContext, RunOutcome};

use crate::error::Error;
use crate::value::Plain;

/// How programs are loaded into the VM.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Rewrite array-map lookups the analysis can prove (constant keys into
    /// direct pointer loads, run-time keys into inline bounds checks). On by default.
    pub inline_lookups: bool,
    /// The helpers programs may call (the built-ins by default).
    pub helpers: Helpers,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            inline_lookups: true,
            helpers: Helpers::with_builtins(),
        }
    }
}

/// An opened object file: its programs and maps, listed. A program is linked
/// and loaded when asked for ([`Object::program`]); the maps it uses are
/// created then, once, and shared by every program loaded from the object
/// (as the kernel shares them). A map can also be created before any
/// program, to preset its entries ([`Object::map`]).
///
/// ```
/// # fn main() -> Result<(), tinybpf::Error> {
/// use tinybpf::Object;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/seed_globals.o");
/// let object = Object::open(path)?;
/// let program = object.program("seed_globals")?;
/// let outcome = program.run(&mut [])?;
/// assert_eq!(outcome.retval, 64);
/// // The map lives on: read the 'global' num_samples field (offset 32).
/// let globals = object.map("global_map")?.get_bytes(0)?;
/// assert_eq!(u32::from_le_bytes(globals[32..36].try_into().unwrap()), 64);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Object {
    linked: tinybpf_loader::Object,
    /// One slot per map of the object, filled when the map is first needed.
    maps: Vec<OnceLock<Map>>,
    /// Held while a map is created, so that each is created once.
    creating: Mutex<()>,
}

impl Object {
    /// Reads and parses an object file. No map is created and no program
    /// linked yet.
    pub fn open(path: impl AsRef<Path>) -> Result<Object, Error> {
        Ok(Object::from_parsed(tinybpf_loader::Object::open(path)?))
    }

    /// Parses an object held in memory (`name` is used in messages).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Object, Error> {
        Ok(Object::from_parsed(tinybpf_loader::Object::parse(
            name, bytes,
        )?))
    }

    fn from_parsed(linked: tinybpf_loader::Object) -> Object {
        let maps = linked.maps.iter().map(|_| OnceLock::new()).collect();
        Object {
            linked,
            maps,
            creating: Mutex::new(()),
        }
    }

    /// The object file's name, as given to [`Object::open`].
    pub fn name(&self) -> &str {
        &self.linked.name
    }

    /// The parsed object: map definitions (with what tinybpf cannot create
    /// and why), programs, global variables, BTF; and per-program linking.
    pub fn linked(&self) -> &tinybpf_loader::Object {
        &self.linked
    }

    /// The names of the programs, in section order.
    pub fn program_names(&self) -> Vec<&str> {
        self.linked
            .programs
            .iter()
            .map(|p| p.name.as_str())
            .collect()
    }

    /// Loads program `name` into the VM with the default [`LoadOptions`].
    pub fn program(&self, name: &str) -> Result<Program, Error> {
        self.program_with(name, LoadOptions::default())
    }

    /// Loads program `name` into the VM: links it, creates the maps it uses
    /// (those not created yet), and checks and translates it.
    pub fn program_with(&self, name: &str, options: LoadOptions) -> Result<Program, Error> {
        let program = self
            .linked
            .program(name)
            .ok_or_else(|| Error::NoSuchProgram {
                object: self.name().to_owned(),
                program: name.to_owned(),
                available: self.names_of_programs(),
            })?;
        self.load(program, options)
    }

    /// Loads the only program of the object, or the one named (when `name` is
    /// `Some`); an object with several programs needs a name.
    pub fn select_program(
        &self,
        name: Option<&str>,
        options: LoadOptions,
    ) -> Result<Program, Error> {
        match (name, self.linked.programs.as_slice()) {
            (Some(name), _) => self.program_with(name, options),
            (None, [only]) => self.load(only, options),
            (None, programs) => Err(Error::AmbiguousProgram {
                object: self.name().to_owned(),
                count: programs.len(),
                available: self.names_of_programs(),
            }),
        }
    }

    fn load(&self, program: &ObjectProgram, options: LoadOptions) -> Result<Program, Error> {
        let linked = self.linked.link_program(program)?;
        let maps = linked
            .maps
            .iter()
            .map(|&index| self.map_at(index).cloned())
            .collect::<Result<Vec<Map>, Error>>()?;
        let vm = tinybpf_vm::LoadedProgram::from_insns(
            &linked.code,
            ProgramOptions {
                kind: linked.kind,
                maps: maps.iter().map(|m| m.array.clone()).collect(),
                helpers: options.helpers,
                inline_lookups: options.inline_lookups,
                ..ProgramOptions::default()
            },
        )
        .map_err(|source| {
            Error::Object(tinybpf_loader::LoadError::new(
                self.name(),
                linked.verify_error(source),
            ))
        })?;
        Ok(Program {
            object: self.name().to_owned(),
            name: linked.name.clone(),
            section: linked.section.clone(),
            linked,
            maps,
            vm,
        })
    }

    fn names_of_programs(&self) -> String {
        join_or_none(self.linked.programs.iter().map(|p| p.name.as_str()))
    }

    /// The map at `index` of the object's map list, created on first use.
    fn map_at(&self, index: usize) -> Result<&Map, Error> {
        if let Some(map) = self.maps[index].get() {
            return Ok(map);
        }
        let _creating = self
            .creating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(map) = self.maps[index].get() {
            return Ok(map);
        }
        let definition = &self.linked.maps[index];
        let array = self.linked.create_map(index, &CreateOptions::default())?;
        Ok(self.maps[index].get_or_init(|| Map {
            object: self.linked.name.clone(),
            name: definition.name.clone(),
            kind: definition.kind.clone(),
            array,
        }))
    }

    /// The maps created so far (by loading programs, or by [`Object::map`]),
    /// in the object's order.
    pub fn maps(&self) -> Vec<&Map> {
        self.maps.iter().filter_map(OnceLock::get).collect()
    }

    /// The map called `name` (a map's symbol, or a global data section:
    /// `.data`, `.bss`, ...), created now if no program has created it yet.
    /// A map tinybpf cannot create is an error that says why.
    pub fn map(&self, name: &str) -> Result<&Map, Error> {
        let index = self
            .linked
            .maps
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| Error::NoSuchMap {
                object: self.name().to_owned(),
                map: name.to_owned(),
                available: join_or_none(self.linked.maps.iter().map(|m| m.name.as_str())),
            })?;
        self.map_at(index)
    }
}

fn join_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = names.collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// A program loaded into the VM. Immutable; run it from as many threads as you like.
#[derive(Debug)]
pub struct Program {
    object: String,
    name: String,
    section: String,
    linked: LinkedProgram,
    maps: Vec<Map>,
    vm: tinybpf_vm::LoadedProgram,
}

/// What [`Program::test_run`] measured, as `BPF_PROG_TEST_RUN` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRun {
    /// r0 of the last run.
    pub retval: u64,
    /// How many times the program ran.
    pub repeat: u32,
    /// Instructions executed by the last run.
    pub insns_per_run: u64,
    /// Mean wall-clock time of one run, in nanoseconds.
    pub ns_per_run: f64,
    /// The input buffer after the last run (a packet the program rewrote).
    pub data_out: Vec<u8>,
}

impl Program {
    /// The program's function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its ELF section.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// How it receives its input.
    pub fn kind(&self) -> ProgramKind {
        self.vm.kind()
    }

    /// The linked code, where each part comes from, and the object maps it uses.
    pub fn linked(&self) -> &LinkedProgram {
        &self.linked
    }

    /// The maps the program uses, in the order of its map indices (entry `i`
    /// is what an `lddw` with map index `i` refers to).
    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// The VM program (translated form, rewritten sites, raw slots).
    pub fn vm(&self) -> &tinybpf_vm::LoadedProgram {
        &self.vm
    }

    /// Runs once over `input` (memory, or the packet for XDP programs).
    pub fn run(&self, input: &mut [u8]) -> Result<RunOutcome, Error> {
        self.run_with(input, &mut RunContext::new())
    }

    /// Runs once with a caller-held context (budget, random seed, trace output).
    pub fn run_with(&self, input: &mut [u8], ctx: &mut RunContext) -> Result<RunOutcome, Error> {
        self.vm.run_with(input, ctx).map_err(|source| Error::Run {
            object: self.object.clone(),
            program: self.name.clone(),
            source,
        })
    }

    /// Runs `repeat` times (at least once) over one copy of `input`, as the
    /// kernel's `BPF_PROG_TEST_RUN` does: maps and the buffer keep their state
    /// from run to run; the result is the last run's, the time the mean.
    pub fn test_run(
        &self,
        input: &[u8],
        repeat: u32,
        ctx: &mut RunContext,
    ) -> Result<TestRun, Error> {
        let repeat = repeat.max(1);
        let mut data = input.to_vec();
        let start = Instant::now();
        let mut last = None;
        for _ in 0..repeat {
            last = Some(self.run_with(&mut data, ctx)?);
        }
        let elapsed = start.elapsed().as_nanos() as f64;
        let outcome = last.unwrap_or(RunOutcome {
            retval: 0,
            insns: 0,
        });
        Ok(TestRun {
            retval: outcome.retval,
            repeat,
            insns_per_run: outcome.insns,
            ns_per_run: elapsed / f64::from(repeat),
            data_out: data,
        })
    }
}

/// A map of an opened object, shared with every program loaded from it.
#[derive(Debug, Clone)]
pub struct Map {
    object: String,
    name: String,
    kind: ObjectMapKind,
    array: ArrayMap,
}

impl Map {
    /// The map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its definition.
    pub fn def(&self) -> &MapDef {
        self.array.def()
    }

    /// The map type's bpftool name (`array`, ...).
    pub fn type_name(&self) -> &'static str {
        tinybpf_loader::map_type_name(self.def().map_type).unwrap_or("unknown")
    }

    /// Whether it is a `SEC("maps")` or `SEC(".maps")` map, or backs a global data section.
    pub fn kind(&self) -> &ObjectMapKind {
        &self.kind
    }

    /// The underlying array (views, freezing, dump, raw key/value calls).
    pub fn array(&self) -> &ArrayMap {
        &self.array
    }

    fn fail(&self, source: tinybpf_maps::MapError) -> Error {
        Error::Map {
            object: self.object.clone(),
            map: self.name.clone(),
            source,
        }
    }

    /// The value at `index`, as bytes (`value_size` of them).
    pub fn get_bytes(&self, index: u32) -> Result<Vec<u8>, Error> {
        self.array
            .lookup(&index.to_le_bytes())
            .map_err(|e| self.fail(e))
    }

    /// Replaces the value at `index` (as `bpf_map_update_elem(.., BPF_ANY)` from user space).
    pub fn set_bytes(&self, index: u32, value: &[u8]) -> Result<(), Error> {
        self.array
            .update(&index.to_le_bytes(), value, BPF_ANY)
            .map_err(|e| self.fail(e))
    }

    /// The value at `index` as a `V` whose size must be the map's value size.
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/multi_maps.o");
    /// let object = tinybpf::Object::open(path)?;
    /// let counters = object.map("counters")?;
    /// counters.set(2, &41u64)?;
    /// assert_eq!(counters.get::<u64>(2)?, 41);
    /// assert!(counters.get::<u32>(2).is_err()); // value_size is 8
    /// # Ok(())
    /// # }
    /// ```
    pub fn get<V: Plain>(&self, index: u32) -> Result<V, Error> {
        let bytes = self.get_bytes(index)?;
        V::from_bytes(&bytes).ok_or_else(|| self.size_mismatch(V::SIZE))
    }

    /// Stores `value` at `index`; its size must be the map's value size.
    pub fn set<V: Plain>(&self, index: u32, value: &V) -> Result<(), Error> {
        if V::SIZE != self.def().value_size as usize {
            return Err(self.size_mismatch(V::SIZE));
        }
        self.set_bytes(index, &value.to_bytes())
    }

    fn size_mismatch(&self, size: usize) -> Error {
        Error::ValueSize {
            object: self.object.clone(),
            map: self.name.clone(),
            size,
            value_size: self.def().value_size,
        }
    }

    /// Every entry: (index, value bytes), in index order.
    pub fn entries(&self) -> Vec<(u32, Vec<u8>)> {
        self.array.entries().collect()
    }

    /// The stable, readable table of the map's entries (see [`DumpOptions`]).
    pub fn dump(&self, nonzero_only: bool) -> String {
        self.array.dump(DumpOptions { nonzero_only })
    }
}
