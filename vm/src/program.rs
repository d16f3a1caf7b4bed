//! A loaded program: checked, translated once, immutable, and runnable on
//! several threads at once.

use std::num::NonZeroU32;

use tinybpf_maps::BpfMap;

use crate::ProgramKind;
use crate::error::{HelperError, RunError, VerifyError};
use crate::exec::helpers::{Helper, Helpers};
use crate::exec::map_regions::MapRegions;
use crate::exec::memory::FUNC_REF_BASE;
use crate::exec::{MapShape, RunContext, RunOutcome, Trace, execute, execute_repeated};
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::Memory;
use crate::ir::op::Op;
use crate::isa::insn::{Insn, decode_all};
use crate::jit::{Compiled, Tier, TierUsed};
use crate::passes::lookup::RewriteSite;
use crate::passes::pipeline::{Env, Passes, Removal, build};

/// Most maps one program may use (the kernel's `MAX_USED_MAPS`).
pub const MAX_MAPS: usize = 64;

/// How to load a program.
#[derive(Clone, Debug)]
pub struct ProgramOptions {
    /// How the program receives its input.
    pub kind: ProgramKind,
    /// The map table: `lddw` with a map pseudo source names maps by index in
    /// it. A run's CPU ([`RunContext::cpu_id`]) must be below every map's
    /// possible CPUs; per-CPU maps show each run its CPU's values.
    pub maps: Vec<BpfMap>,
    /// The helpers the program may call.
    pub helpers: Helpers,
    /// Inline array-map lookups (`ARRAY` and `PERCPU_ARRAY`; other types
    /// always take the helper path): rewrite what the analysis proves (constant
    /// keys into direct pointer loads, run-time keys into inline bounds
    /// checks; see [`crate::passes::lookup`]) and run the remaining `call 1` on a
    /// specialised path. Off: every `call 1` is an ordinary helper call.
    /// On by default.
    pub inline_lookups: bool,
    /// Which optimising passes run (all by default; see
    /// [`crate::passes::pipeline`]).
    pub passes: Passes,
    /// Which tier runs the program: the interpreter (the default), or
    /// compiled to machine code (the `jit` feature; see [`crate::jit`]).
    pub tier: Tier,
}

impl Default for ProgramOptions {
    fn default() -> Self {
        ProgramOptions {
            kind: ProgramKind::Memory,
            maps: Vec::new(),
            helpers: Helpers::with_builtins(),
            inline_lookups: true,
            passes: Passes::default(),
            tier: Tier::default(),
        }
    }
}

/// A checked, translated eBPF program with its maps and helpers.
///
/// ```
/// use tinybpf_vm::{LoadedProgram, ProgramOptions, isa::asm::assemble_bytes};
/// // r0 = the input's length * 2
/// let code = assemble_bytes("mov %r0, %r2\nlsh %r0, 1\nexit").unwrap();
/// let program = LoadedProgram::load(&code, ProgramOptions::default()).unwrap();
/// let outcome = program.run(&mut [0u8; 21]).unwrap();
/// assert_eq!(outcome.retval, 42);
/// assert_eq!(outcome.insns, 3);
/// ```
#[derive(Debug)]
pub struct LoadedProgram {
    insns: Box<[Insn]>,
    ops: Box<[Op]>,
    origin: Box<[u32]>,
    counts: Box<[Count]>,
    rewrites: Box<[RewriteSite]>,
    eliminated: Box<[usize]>,
    removals: Box<[Removal]>,
    stack_extent: usize,
    kind: ProgramKind,
    maps: Box<[BpfMap]>,
    map_regions: MapRegions,
    shapes: Box<[MapShape]>,
    helper_table: Box<[Helper]>,
    registry: Helpers,
    /// The callbacks' entries (the targets of `LoadFunc` ops), ascending.
    callbacks: Box<[usize]>,
    compiled: Compiled,
}

impl LoadedProgram {
    /// Checks and translates `code` (raw little-endian instruction bytes).
    pub fn load(code: &[u8], options: ProgramOptions) -> Result<LoadedProgram, VerifyError> {
        let insns = decode_all(code).ok_or(VerifyError::PartialInstruction { len: code.len() })?;
        LoadedProgram::from_insns(&insns, options)
    }

    /// Checks and translates decoded instruction slots.
    pub fn from_insns(
        insns: &[Insn],
        options: ProgramOptions,
    ) -> Result<LoadedProgram, VerifyError> {
        let ProgramOptions {
            kind,
            maps,
            helpers,
            inline_lookups,
            passes,
            tier,
        } = options;
        if maps.len() > MAX_MAPS {
            return Err(VerifyError::TooManyMaps {
                count: maps.len(),
                limit: MAX_MAPS,
            });
        }
        let map_regions = MapRegions::new(&maps)?;
        let shapes: Vec<MapShape> = maps.iter().map(MapShape::of).collect();
        let env = Env {
            insns,
            maps: &maps,
            regions: map_regions.first(),
            shapes: &shapes,
            registry: &helpers,
        };
        let built = build(&env, passes, inline_lookups, kind)?;
        let callbacks = ControlFlow::new(&built.ops).callback_entries().into();
        let mut program = LoadedProgram {
            insns: insns.into(),
            ops: built.ops.into(),
            origin: built.origin.into(),
            counts: built
                .weight_prefix
                .iter()
                .enumerate()
                .map(|(i, &prefix)| Count {
                    prefix,
                    run: built.run_weight.get(i).copied().unwrap_or(0),
                })
                .collect(),
            rewrites: built.rewrites.into(),
            eliminated: built.eliminated.into(),
            removals: built.removals.into(),
            stack_extent: built.stack_extent,
            kind,
            maps: maps.into(),
            map_regions,
            shapes: shapes.into(),
            helper_table: built.helpers.into(),
            registry: helpers,
            callbacks,
            compiled: Compiled::interpreter(),
        };
        program.compiled = crate::jit::compile(&program, tier);
        Ok(program)
    }

    /// Runs the program once over `input` with a fresh [`RunContext`].
    pub fn run(&self, input: &mut [u8]) -> Result<RunOutcome, RunError> {
        self.run_with(input, &mut RunContext::new())
    }

    /// Runs the program once over `input`, using and updating `ctx`.
    ///
    /// For [`ProgramKind::Memory`], r1 is the address of `input` and r2 its
    /// length; for [`ProgramKind::Xdp`], r1 points to a `struct xdp_md` whose
    /// `data`..`data_end` cover `input` as the packet.
    pub fn run_with(&self, input: &mut [u8], ctx: &mut RunContext) -> Result<RunOutcome, RunError> {
        self.run_around(input, ctx, |input, ctx| execute(self, input, ctx))
    }

    /// Runs the program `runs` times over `input`, each run as
    /// [`LoadedProgram::run_with`] runs it with `ctx` as it is then (set
    /// [`RunContext::carry_packet`] to go on with the packet the run before
    /// left, as the kernel's test run does with `repeat`), and calls
    /// `after_each` with the trace after each run. What every run sets up
    /// alike (the stack, context and key buffers, the address space) is set
    /// up once, so a short program's runs cost less than `runs` calls of
    /// `run_with`. The first failing run ends it; the result is the last
    /// run's.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext, isa::asm::assemble_bytes};
    /// // Counts its runs in the input's first byte.
    /// let code = assemble_bytes("
    ///     ldxb %r0, [%r1]
    ///     add %r0, 1
    ///     stxb [%r1], %r0
    ///     exit")?;
    /// let program = LoadedProgram::load(&code, ProgramOptions::default())?;
    /// let mut input = [0u8; 1];
    /// let mut lines = 0;
    /// let runs = NonZeroU32::new(200).unwrap();
    /// let last = program.run_repeated(&mut input, &mut RunContext::new(), runs, &mut |trace| {
    ///     lines += trace.total_lines();
    ///     trace.clear();
    /// })?;
    /// assert_eq!((last.retval, input[0], lines), (200, 200, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_repeated(
        &self,
        input: &mut [u8],
        ctx: &mut RunContext,
        runs: NonZeroU32,
        after_each: &mut dyn FnMut(&mut Trace),
    ) -> Result<RunOutcome, RunError> {
        execute_repeated(self, input, ctx, runs, after_each)
    }

    /// One run as [`LoadedProgram::run_with`] makes it, `first` running
    /// this program (the programs it tail-calls run through `execute`).
    #[inline]
    pub(crate) fn run_around(
        &self,
        input: &mut [u8],
        ctx: &mut RunContext,
        first: impl FnOnce(&mut [u8], &mut RunContext) -> Result<RunOutcome, RunError>,
    ) -> Result<RunOutcome, RunError> {
        ctx.redirect = None;
        let result = self.run_chain(input, ctx, first);
        // The kernel's verifier refuses a program that can end with a ring
        // buffer record open: discard what this run left open.
        ctx.reservations.discard_open();
        if let Some(lock) = ctx.held_lock.take() {
            lock.release();
        }
        result
    }

    /// Runs the program (through `first`) and the programs it tail-calls,
    /// one after the other, on one budget (see `exec::builtin::tail_call`).
    #[inline]
    fn run_chain(
        &self,
        input: &mut [u8],
        ctx: &mut RunContext,
        first: impl FnOnce(&mut [u8], &mut RunContext) -> Result<RunOutcome, RunError>,
    ) -> Result<RunOutcome, RunError> {
        ctx.tail_call = Default::default();
        let budget = ctx.insn_budget;
        let result = first(input, ctx);
        if !matches!(
            result,
            Err(RunError::Helper {
                source: HelperError::TailCall,
                ..
            })
        ) {
            return result;
        }
        let (mut used, mut insns) = (0u64, 0u64);
        let mut result = result;
        while let Err(RunError::Helper {
            source: HelperError::TailCall,
            ..
        }) = result
        {
            let Some(next) = ctx.tail_call.next.take() else {
                break;
            };
            used += ctx.tail_call.used;
            insns += ctx.tail_call.insns;
            ctx.insn_budget = budget - used;
            result = execute(&next, input, ctx);
        }
        ctx.insn_budget = budget;
        match result {
            Ok(mut outcome) => {
                outcome.insns += insns;
                Ok(outcome)
            }
            Err(RunError::BudgetExhausted { pc, .. }) => {
                Err(RunError::BudgetExhausted { pc, budget })
            }
            Err(error) => Err(error),
        }
    }

    /// The tier that runs the program, and why it is not compiled when
    /// compiling was asked for.
    pub fn tier(&self) -> &TierUsed {
        &self.compiled.used
    }

    /// The compiled code, when the compiled tier runs the program.
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    pub(crate) fn compiled_code(&self) -> Option<&crate::jit::Code> {
        self.compiled.code.as_ref()
    }

    /// Whether the program has callbacks (functions a pseudo-func `lddw`
    /// refers to, for `bpf_loop`).
    pub fn has_callbacks(&self) -> bool {
        !self.callbacks.is_empty()
    }

    /// The callbacks' entry ops (the targets of `LoadFunc` ops), ascending.
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    pub(crate) fn callback_entries(&self) -> &[usize] {
        &self.callbacks
    }

    /// The op a callback reference (a pseudo-func `lddw`'s value) enters,
    /// if `value` is one of the program's.
    pub(crate) fn callback_entry(&self, value: u64) -> Option<usize> {
        let entry = usize::try_from(value.checked_sub(FUNC_REF_BASE)?).ok()?;
        self.callbacks.binary_search(&entry).ok().map(|_| entry)
    }

    /// The original instruction slots.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// The translated form that runs (compacted and fused; see [`LoadedProgram::origin`]).
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The translated program as text, one op per line: its index, the
    /// original slot it starts at, and the op as the op table prints it.
    ///
    /// ```
    /// use tinybpf_vm::{LoadedProgram, ProgramOptions, isa::asm::assemble_bytes};
    /// let code = assemble_bytes("mov %r0, %r1\nadd %r0, 2\nja +0\nexit").unwrap();
    /// let program = LoadedProgram::load(&code, ProgramOptions::default()).unwrap();
    /// assert_eq!(
    ///     program.op_listing(),
    ///     "0 (slot 0): mov+add %r0, %r1, 2\n1 (slot 2): ja @2\n2 (slot 3): exit\n"
    /// );
    /// ```
    pub fn op_listing(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (index, op) in self.ops.iter().enumerate() {
            let _ = writeln!(out, "{index} (slot {}): {op}", self.origin(index));
        }
        out
    }

    /// The original instruction slot where op `index` of [`LoadedProgram::ops`] starts.
    #[inline]
    pub fn origin(&self, index: usize) -> usize {
        self.origin.get(index).map_or(index, |&slot| slot as usize)
    }

    /// Where `op`, a load or store the constant-address pass proved at load
    /// time (a `Direct*` or `Fixed*` op of [`LoadedProgram::ops`]), reaches:
    /// the map's index in the table and the byte offset in its value area.
    /// `None` for any other op.
    pub fn proven_place(&self, op: &Op) -> Option<(usize, u32)> {
        match op.facts().memory {
            Memory::Direct { region, offset, .. } => Some((usize::from(region), offset)),
            Memory::Fixed { host, .. } => {
                self.map_regions
                    .first()
                    .iter()
                    .enumerate()
                    .find_map(|(map, area)| {
                        let offset = host.addr().checked_sub(area.host.addr())?;
                        let offset = u32::try_from(offset).ok()?;
                        (u64::from(offset) < area.len).then_some((map, offset))
                    })
            }
            Memory::None
            | Memory::Checked { .. }
            | Memory::Stack { .. }
            | Memory::LookupKey
            | Memory::Helper
            | Memory::Call => None,
        }
    }

    /// The sites the lookup rewrite changed, by original slot.
    pub fn rewrites(&self) -> &[RewriteSite] {
        &self.rewrites
    }

    /// The slots dead-code elimination removed (register writes nothing
    /// reads, stack stores nothing reads), in order.
    pub fn eliminated(&self) -> &[usize] {
        &self.eliminated
    }

    /// Which elimination removed slot `slot`, if one did (see
    /// [`LoadedProgram::eliminated`]).
    pub fn removal(&self, slot: usize) -> Option<Removal> {
        let at = self.eliminated.binary_search(&slot).ok()?;
        self.removals.get(at).copied()
    }

    /// How many bytes below the top of the stack a run can reach (the frame
    /// extent, see [`crate::passes::pipeline`]): a run prepares (zeroes) only
    /// these, and an access below them faults.
    pub fn stack_extent(&self) -> usize {
        self.stack_extent
    }

    /// How the program receives its input.
    pub fn kind(&self) -> ProgramKind {
        self.kind
    }

    /// The map table.
    pub fn maps(&self) -> &[BpfMap] {
        &self.maps
    }

    /// The CPUs a run may use ([`RunContext::cpu_id`] below this): the
    /// fewest possible CPUs of any map, `u32::MAX` without maps.
    pub fn possible_cpus(&self) -> u32 {
        self.map_regions.cpus()
    }

    /// The helper registry the program was loaded with.
    pub fn registry(&self) -> &Helpers {
        &self.registry
    }

    /// For each op (and one past the last): the instructions counted before
    /// it and the weight of the straight-line run starting at it.
    pub(crate) fn counts(&self) -> &[Count] {
        &self.counts
    }

    pub(crate) fn map_regions(&self) -> &MapRegions {
        &self.map_regions
    }

    pub(crate) fn shapes(&self) -> &[MapShape] {
        &self.shapes
    }

    pub(crate) fn helper_table(&self) -> &[Helper] {
        &self.helper_table
    }

    /// The map with table index `index` (as a register value minus the handle base).
    #[inline(always)]
    pub(crate) fn map_shape(&self, index: u64) -> Option<(usize, MapShape)> {
        let index = usize::try_from(index).ok()?;
        self.shapes.get(index).map(|s| (index, *s))
    }
}

/// The counting facts of one op, side by side for the interpreter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Count {
    /// Instructions the ops before this one stand for (a prefix sum of
    /// weights).
    pub prefix: u64,
    /// The weight of the straight-line run that starts here (0 past the end).
    pub run: u64,
}
