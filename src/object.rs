//! [`Object`], [`Program`] and [`Map`]: an opened object file with live maps,
//! its programs loaded into the VM, and typed access to map entries.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use crate::packet::default_packet;
use tinybpf_loader::{CreateOptions, LinkedProgram, ObjectProgram};
use tinybpf_maps::{MapOptions, MemoryBudget, NR_CPUS, host_possible_cpus};
use tinybpf_vm::{
    Helpers, ProgramKind, ProgramOptions, RunContext, RunError, RunOutcome, Tier, TierUsed, Trace,
};

use crate::error::Error;
use crate::map::Map;

/// How programs are loaded into the VM.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Rewrite array-map lookups the analysis can prove (constant keys into
    /// direct pointer loads, run-time keys into inline bounds checks). On by default.
    pub inline_lookups: bool,
    /// The helpers programs may call (the built-ins by default). Register
    /// your own, or replace a built-in, by its id:
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use tinybpf::{Helpers, LoadOptions, Object};
    /// // bpf_trace_printk (helper 6), counted instead of formatted.
    /// let calls = Arc::new(AtomicU64::new(0));
    /// let mut helpers = Helpers::with_builtins();
    /// let counter = Arc::clone(&calls);
    /// helpers.register(6, "trace_printk", move |_ctx, _args| {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    ///     Ok(0)
    /// });
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/cli_output.o");
    /// let object = Object::open(path)?;
    /// let options = LoadOptions { helpers, ..LoadOptions::default() };
    /// object.program_with("cli_output", options)?.run(&mut [])?;
    /// assert_eq!(calls.load(Ordering::Relaxed), 2); // two bpf_printk lines
    /// # Ok(())
    /// # }
    /// ```
    pub helpers: Helpers,
    /// The number of possible CPUs (1 to [`NR_CPUS`]): per-CPU maps hold one
    /// value per CPU, and a run's CPU ([`RunContext::cpu_id`]) must be below
    /// it. `None` (the default): the object's, which is the host's possible
    /// CPUs as the kernel counts them unless an earlier load chose another.
    /// An object's maps are created once, for one number of CPUs: the first
    /// load (or [`Object::map`], or [`Object::with_possible_cpus`]) fixes
    /// it, and a later load asking for another is [`Error::PossibleCpus`].
    pub possible_cpus: Option<u32>,
    /// Which tier runs programs: the interpreter (the default), compiled
    /// to machine code ([`Tier::Compiled`]), or compiled when small
    /// ([`Tier::Auto`]). Compiling needs the `jit` feature and x86-64;
    /// without them, or for a program it cannot compile, the interpreter
    /// runs it and [`Program::tier`] says why. Both tiers give the same
    /// results, faults, instruction counts and map contents.
    pub tier: Tier,
    /// Run the program over raw memory (r1 = the input's address, r2 its
    /// length) whatever its type: the only way to run a type tinybpf does
    /// not run with its context (`kprobe`, `lsm`, ...; otherwise
    /// [`Error::UnsupportedProgramType`]). Off by default.
    pub raw_memory: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            inline_lookups: true,
            helpers: Helpers::with_builtins(),
            possible_cpus: None,
            tier: Tier::Interpreter,
            raw_memory: false,
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
/// let globals = object.map("global_map")?.get_bytes_at(0)?;
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
    /// The possible CPUs, fixed by the first load or map creation.
    cpus: OnceLock<u32>,
    /// The budget every map of the object is charged to.
    budget: MemoryBudget,
    /// Where its array maps are pinned ([`Object::with_pin_dir`]).
    pub(crate) pin_dir: Option<PathBuf>,
    /// The maps pinned there.
    pub(crate) pinned: Vec<crate::pin::PinnedMap>,
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
            cpus: OnceLock::new(),
            budget: MemoryBudget::default_for_host(),
            pin_dir: None,
            pinned: Vec::new(),
        }
    }

    /// The same object with its maps charged to `budget` (by default a
    /// quarter of the host's memory, [`MemoryBudget::default_for_host`]): a
    /// map that does not fit is not created (`ENOMEM`). Give it before the
    /// first program or map is created.
    pub fn with_memory_budget(mut self, budget: MemoryBudget) -> Object {
        self.budget = budget;
        self
    }

    /// The same object with its maps created for `cpus` possible CPUs (1 to
    /// [`NR_CPUS`]) rather than the host's: what
    /// [`LoadOptions::possible_cpus`] does, for an object whose maps are
    /// needed before its first program (with [`Object::map`]).
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/percpu.o");
    /// let object = tinybpf::Object::open(path)?.with_possible_cpus(2)?;
    /// object.map("cpu_hits")?.set_percpu(&0u32, &[5u64, 6])?;
    /// assert_eq!(object.program("count_percpu")?.possible_cpus(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_possible_cpus(self, cpus: u32) -> Result<Object, Error> {
        self.fix_cpus(Some(cpus))?;
        Ok(self)
    }

    /// The budget the object's maps are charged to.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// The number of possible CPUs of the object's maps: fixed by the first
    /// program load or map creation; until then the host's.
    pub fn possible_cpus(&self) -> u32 {
        self.cpus.get().copied().unwrap_or_else(host_possible_cpus)
    }

    /// Fixes the possible CPUs to `wanted` (or the object's when `None`),
    /// or says why it cannot.
    fn fix_cpus(&self, wanted: Option<u32>) -> Result<u32, Error> {
        if let Some(cpus) = wanted
            && !(1..=NR_CPUS).contains(&cpus)
        {
            return Err(Error::PossibleCpus {
                object: self.name().to_owned(),
                requested: cpus,
                fixed: None,
            });
        }
        let fixed = *self
            .cpus
            .get_or_init(|| wanted.unwrap_or_else(host_possible_cpus));
        match wanted {
            Some(cpus) if cpus != fixed => Err(Error::PossibleCpus {
                object: self.name().to_owned(),
                requested: cpus,
                fixed: Some(fixed),
            }),
            _ => Ok(fixed),
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
        let kind = match (options.raw_memory, program.program_type.runs_as()) {
            (true, _) => ProgramKind::Memory,
            (false, Some(kind)) => kind,
            (false, None) => {
                return Err(Error::UnsupportedProgramType {
                    object: self.name().to_owned(),
                    program: program.name.clone(),
                    section: program.section.clone(),
                    program_type: program.program_type,
                    runnable: tinybpf_loader::RUNNABLE_TYPES,
                });
            }
        };
        let possible_cpus = self.fix_cpus(options.possible_cpus)?;
        let mut linked = self.linked.link_program(program)?;
        linked.kind = kind;
        let maps = linked
            .maps
            .iter()
            .map(|&index| self.map_at(index).cloned())
            .collect::<Result<Vec<Map>, Error>>()?;
        let vm = tinybpf_vm::LoadedProgram::from_insns(
            &linked.code,
            ProgramOptions {
                kind: linked.kind,
                maps: maps.iter().map(|m| m.map.clone()).collect(),
                helpers: options.helpers,
                inline_lookups: options.inline_lookups,
                tier: options.tier,
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
            possible_cpus,
        })
    }

    fn names_of_programs(&self) -> String {
        join_or_none(self.linked.programs.iter().map(|p| p.name.as_str()))
    }

    /// The map at `index` when it was created already.
    pub(crate) fn created_map(&self, index: usize) -> Option<&Map> {
        self.maps.get(index).and_then(OnceLock::get)
    }

    /// Replaces the initial bytes of map `index`, not created yet.
    pub(crate) fn set_initial_data(&mut self, index: usize, bytes: Vec<u8>) {
        self.linked.maps[index].initial_data = Some(bytes);
    }

    /// The map at `index` of the object's map list, created on first use.
    pub(crate) fn create_map_at(&self, index: usize) -> Result<&Map, Error> {
        self.map_at(index)
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
        let options = CreateOptions {
            map_options: MapOptions::with_cpus(self.fix_cpus(None)?)
                .with_budget(self.budget.clone()),
            pin_root: self.pin_dir.clone(),
            pin_all: true,
        };
        let map = self.linked.create_map(index, &options)?;
        Ok(self.maps[index].get_or_init(|| Map {
            object: self.linked.name.clone(),
            name: definition.name.clone(),
            kind: definition.kind.clone(),
            map,
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

pub(crate) fn join_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = names.collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// A program loaded into the VM. Immutable and `Sync`; run it from as many
/// threads as you like, over the object's shared maps. Give each thread
/// its own CPU ([`RunContext::with_cpu`]) so that per-CPU values need no
/// atomics, as in the kernel:
///
/// ```
/// # fn main() -> Result<(), tinybpf::Error> {
/// use tinybpf::{LoadOptions, Object, RunContext};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/percpu.o");
/// let object = Object::open(path)?;
/// let options = LoadOptions { possible_cpus: Some(4), ..LoadOptions::default() };
/// let program = object.program_with("count_percpu", options)?;
/// std::thread::scope(|threads| {
///     for cpu in 0..4 {
///         let program = &program;
///         threads.spawn(move || {
///             let mut ctx = RunContext::new().with_cpu(cpu);
///             for _ in 0..100 {
///                 program.run_with(&mut [], &mut ctx).unwrap();
///             }
///         });
///     }
/// });
/// let hits = object.map("cpu_hits")?.get_percpu::<u32, u64>(&0)?;
/// assert_eq!(hits, [100, 100, 100, 100]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Program {
    object: String,
    name: String,
    section: String,
    linked: LinkedProgram,
    maps: Vec<Map>,
    vm: tinybpf_vm::LoadedProgram,
    possible_cpus: u32,
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
    /// The input buffer after the last run, or for a packet program the
    /// packet as the kernel's test run returns it (see [`Packet::bytes`](tinybpf_vm::exec::ctx::Packet::bytes)).
    pub data_out: Vec<u8>,
}

impl Program {
    /// The VM's program, for an embedder that keeps it apart (a tail call
    /// target, say); its maps stay the object's.
    pub fn into_vm(self) -> tinybpf_vm::LoadedProgram {
        self.vm
    }

    /// The program's function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its ELF section.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// Its program type (from the section name, as libbpf maps it).
    pub fn program_type(&self) -> tinybpf_loader::ProgramType {
        self.linked.program_type
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

    /// The tier that runs it, and why it is not compiled when compiling was
    /// asked for ([`LoadOptions::tier`]).
    pub fn tier(&self) -> &TierUsed {
        self.vm.tier()
    }

    /// The VM program (translated form, rewritten sites, raw slots).
    pub fn vm(&self) -> &tinybpf_vm::LoadedProgram {
        &self.vm
    }

    /// Runs once over `input` (memory, or the packet for XDP programs).
    pub fn run(&self, input: &mut [u8]) -> Result<RunOutcome, Error> {
        self.run_with(input, &mut RunContext::new())
    }

    /// The possible CPUs its maps were created for; a run's CPU must be below.
    pub fn possible_cpus(&self) -> u32 {
        self.possible_cpus
    }

    /// Runs once with a caller-held context (budget, random seed, the CPU
    /// to run on, trace output). A packet program (XDP, tc, socket filter,
    /// `cgroup_skb`) needs at least an Ethernet header (14 bytes); given no
    /// input at all it runs on [`default_packet`], as the command line does
    /// (the packet after the run is then only in
    /// [`RunContext::packet`]). A CPU not below
    /// [`Program::possible_cpus`] is [`RunError::CpuOutOfRange`].
    pub fn run_with(&self, input: &mut [u8], ctx: &mut RunContext) -> Result<RunOutcome, Error> {
        self.checked_run(input, ctx, |input, ctx| self.vm.run_with(input, ctx))
    }

    /// Runs the program `runs` times, each run as [`Program::run_with`]
    /// makes it with `ctx` as it is then, calling `after_each` with the
    /// trace after each run; what every run sets up alike is set up once
    /// (see [`tinybpf_vm::LoadedProgram::run_repeated`]). The first failing
    /// run ends it; the result is the last run's.
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// use std::num::NonZeroU32;
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xdp_counter.o");
    /// let object = tinybpf::Object::open(path)?;
    /// let program = object.program("xdp_counter")?;
    /// let mut ctx = tinybpf::vm::RunContext::new();
    /// ctx.carry_packet = true;
    /// let runs = NonZeroU32::new(1000).unwrap();
    /// let mut packet = tinybpf::default_packet();
    /// let last = program.run_repeated(&mut packet, &mut ctx, runs, &mut |trace| trace.clear())?;
    /// assert_eq!(last.retval, 2); // XDP_PASS
    /// assert_eq!(object.map("dport_hits")?.get::<u32, u64>(&80)?, 1000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_repeated(
        &self,
        input: &mut [u8],
        ctx: &mut RunContext,
        runs: NonZeroU32,
        after_each: &mut dyn FnMut(&mut Trace),
    ) -> Result<RunOutcome, Error> {
        self.checked_run(input, ctx, |input, ctx| {
            self.vm.run_repeated(input, ctx, runs, after_each)
        })
    }

    /// `run` over `input` (or [`default_packet`] for a packet program given
    /// none) after the checks the facade makes, its error named with the
    /// object and program.
    fn checked_run(
        &self,
        input: &mut [u8],
        ctx: &mut RunContext,
        run: impl FnOnce(&mut [u8], &mut RunContext) -> Result<RunOutcome, RunError>,
    ) -> Result<RunOutcome, Error> {
        let fail = |source| Error::Run {
            object: self.object.clone(),
            program: self.name.clone(),
            source,
        };
        if ctx.cpu_id >= self.possible_cpus {
            return Err(fail(RunError::CpuOutOfRange {
                cpu: ctx.cpu_id,
                possible_cpus: self.possible_cpus,
            }));
        }
        if input.is_empty() && self.kind().is_packet() {
            return run(&mut default_packet(), ctx).map_err(fail);
        }
        run(input, ctx).map_err(fail)
    }

    /// The input a run of this program starts from: `input`, or for a
    /// packet program given no input at all, [`default_packet`].
    pub(crate) fn input_or_default(&self, input: &[u8]) -> Vec<u8> {
        if input.is_empty() && self.kind().is_packet() {
            default_packet()
        } else {
            input.to_vec()
        }
    }

    /// Runs `repeat` times (at least once) over one copy of `input`, as the
    /// kernel's `BPF_PROG_TEST_RUN` does: maps and the buffer keep their state
    /// from run to run (a packet program's packet, its pointers and context
    /// too: see [`RunContext::carry_packet`]); the result is the last
    /// run's, the time the mean, `data_out` the packet as the kernel returns
    /// it (for XDP from `data_meta`).
    pub fn test_run(
        &self,
        input: &[u8],
        repeat: u32,
        ctx: &mut RunContext,
    ) -> Result<TestRun, Error> {
        let repeat = repeat.max(1);
        let mut data = self.input_or_default(input);
        let (carry, to_input) = (ctx.carry_packet, ctx.packet_to_input);
        let restore = |ctx: &mut RunContext| {
            ctx.carry_packet = carry;
            ctx.packet_to_input = to_input;
        };
        ctx.carry_packet = false;
        // A packet is read from `ctx.packet` after the last run: no run
        // copies it back into `data`.
        ctx.packet_to_input = false;
        let start = Instant::now();
        let first = self.run_with(&mut data, ctx);
        // Later runs go on with the packet and context the run before left.
        ctx.carry_packet = true;
        let mut outcome = first.inspect_err(|_| restore(ctx))?;
        if let Some(later) = NonZeroU32::new(repeat - 1) {
            outcome = self
                .run_repeated(&mut data, ctx, later, &mut |_| {})
                .inspect_err(|_| restore(ctx))?;
        }
        restore(ctx);
        let elapsed = start.elapsed().as_nanos() as f64;
        if self.kind().is_packet() {
            data = ctx.packet.bytes().to_vec();
        }
        Ok(TestRun {
            retval: outcome.retval,
            repeat,
            insns_per_run: outcome.insns,
            ns_per_run: elapsed / f64::from(repeat),
            data_out: data,
        })
    }
}
