//! Helper functions: the registry by id, the context a helper works in, and
//! the built-in helpers.
//!
//! A helper receives r1..r5 and returns r0. It reaches program memory only
//! through [`HelperContext`], which checks every address against the same
//! regions as the interpreter does, so a helper registered by an embedding
//! program cannot be tricked into touching host memory.
//!
//! ```
//! use tinybpf_vm::{Helpers, HelperContext, LoadedProgram, ProgramOptions, isa::asm::assemble_bytes};
//! let mut helpers = Helpers::with_builtins();
//! // helper 100: the sum of its first two arguments
//! helpers.register(100, "sum", |_ctx: &mut HelperContext<'_>, args: [u64; 5]| Ok(args[0] + args[1]));
//! let code = assemble_bytes("mov %r1, 40\nmov %r2, 2\ncall 100\nexit").unwrap();
//! let program = LoadedProgram::load(&code, ProgramOptions { helpers, ..Default::default() }).unwrap();
//! assert_eq!(program.run(&mut []).unwrap().retval, 42);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use tinybpf_maps::{BpfMap, MapError, MapType, ProgramOp};

use crate::ProgramKind;
use crate::error::{Access, HelperError, MapRefusal};
use crate::exec::RunContext;
use crate::exec::builtin::callbacks::{self, Callbacks};
use crate::exec::builtin::names::{MAX_KERNEL_HELPER_ID, kernel_helper_name};
use crate::exec::builtin::redirect::{self, Redirect};
use crate::exec::builtin::spin_lock::{self, HeldLock};
use crate::exec::builtin::tail_call::{FALL_THROUGH, MAX_TAIL_CALL_CNT};
use crate::exec::builtin::{checksum, events, fib, tail_call, time};
use crate::exec::call::Spent;
use crate::exec::memory::{
    AddressSpace, CONTEXT_START, INPUT_SLOT, MAP_HANDLE_BASE, map_value_start,
};
use crate::exec::trace::{self, Trace};
use crate::program::LoadedProgram;

/// Helper ids of the built-in helpers (from `linux/bpf.h`).
pub mod ids {
    /// `void *bpf_map_lookup_elem(map, key)`
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    /// `long bpf_map_update_elem(map, key, value, flags)`
    pub const MAP_UPDATE_ELEM: u32 = 2;
    /// `long bpf_map_delete_elem(map, key)`
    pub const MAP_DELETE_ELEM: u32 = 3;
    /// `u64 bpf_ktime_get_ns(void)`
    pub const KTIME_GET_NS: u32 = 5;
    /// `long bpf_trace_printk(fmt, fmt_size, ...)`
    pub const TRACE_PRINTK: u32 = 6;
    /// `u32 bpf_get_prandom_u32(void)`
    pub const GET_PRANDOM_U32: u32 = 7;
    /// `u32 bpf_get_smp_processor_id(void)`
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    /// `void *bpf_map_lookup_percpu_elem(map, key, cpu)`
    pub const MAP_LOOKUP_PERCPU_ELEM: u32 = 195;
    /// `long bpf_tail_call(ctx, prog_array, index)`
    pub const TAIL_CALL: u32 = 12;
    /// `long bpf_redirect(ifindex, flags)`
    pub const REDIRECT: u32 = 23;
    /// `long bpf_perf_event_output(ctx, map, flags, data, size)`
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    /// `s64 bpf_csum_diff(from, from_size, to, to_size, seed)`
    pub const CSUM_DIFF: u32 = 28;
    /// `long bpf_redirect_map(map, key, flags)`
    pub const REDIRECT_MAP: u32 = 51;
    /// `long bpf_fib_lookup(ctx, params, plen, flags)`
    pub const FIB_LOOKUP: u32 = 69;
    /// `long bpf_spin_lock(lock)`
    pub const SPIN_LOCK: u32 = 93;
    /// `long bpf_spin_unlock(lock)`
    pub const SPIN_UNLOCK: u32 = 94;
    /// `u64 bpf_ktime_get_boot_ns(void)`
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    /// `long bpf_ringbuf_output(map, data, size, flags)`
    pub const RINGBUF_OUTPUT: u32 = 130;
    /// `void *bpf_ringbuf_reserve(map, size, flags)`
    pub const RINGBUF_RESERVE: u32 = 131;
    /// `void bpf_ringbuf_submit(data, flags)`
    pub const RINGBUF_SUBMIT: u32 = 132;
    /// `void bpf_ringbuf_discard(data, flags)`
    pub const RINGBUF_DISCARD: u32 = 133;
    /// `u64 bpf_ringbuf_query(map, flags)`
    pub const RINGBUF_QUERY: u32 = 134;
    /// `u64 bpf_ktime_get_coarse_ns(void)`
    pub const KTIME_GET_COARSE_NS: u32 = 160;
    /// `u64 bpf_ktime_get_tai_ns(void)`
    pub const KTIME_GET_TAI_NS: u32 = 208;
    /// `long bpf_loop(nr_loops, callback, ctx, flags)`
    pub const LOOP: u32 = 181;
    /// `long bpf_for_each_map_elem(map, callback, ctx, flags)`
    pub const FOR_EACH_MAP_ELEM: u32 = 164;
}

/// A built-in helper's function.
type BuiltinFn = fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError>;

/// The signature of a helper: context and r1..r5 in, r0 out.
pub type HelperFn =
    dyn Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync;

/// One registered helper.
#[derive(Clone)]
pub struct Helper {
    /// Its id (the `imm` of `call`).
    pub id: u32,
    /// A name for messages and the disassembler.
    pub name: &'static str,
    /// The function.
    pub func: Arc<HelperFn>,
    /// Whether this is tinybpf's own implementation (which the VM may inline).
    pub(crate) builtin: bool,
    /// Whether this only stands in for a kernel helper tinybpf does not
    /// implement ([`Helpers::with_missing_kernel_helpers`]).
    pub(crate) placeholder: bool,
}

impl Helper {
    /// Whether this only stands in for a kernel helper tinybpf does not
    /// implement: calling it ends the run with [`HelperError::NotImplemented`].
    pub fn is_placeholder(&self) -> bool {
        self.placeholder
    }
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Helper({} {})", self.id, self.name)
    }
}

/// The helpers a program may call, by id.
#[derive(Clone, Debug)]
pub struct Helpers {
    by_id: BTreeMap<u32, Helper>,
}

impl Default for Helpers {
    fn default() -> Self {
        Helpers::with_builtins()
    }
}

impl Helpers {
    /// A registry with no helpers at all.
    pub fn empty() -> Self {
        Helpers {
            by_id: BTreeMap::new(),
        }
    }

    /// A registry with the built-ins: the map helpers (1 map_lookup_elem,
    /// 2 map_update_elem, 3 map_delete_elem, 195 map_lookup_percpu_elem),
    /// 5 ktime_get_ns, 6 trace_printk, 7 get_prandom_u32,
    /// 8 get_smp_processor_id, and `exec::builtin`'s: 23 redirect,
    /// 25 perf_event_output, 28 csum_diff, 51 redirect_map, 69 fib_lookup,
    /// 12 tail_call, 93 spin_lock, 94 spin_unlock, 125 ktime_get_boot_ns,
    /// 130-134 the ring buffer helpers,
    /// 160 ktime_get_coarse_ns, 208 ktime_get_tai_ns.
    ///
    /// The map helpers work on every map type with the kernel's semantics
    /// (through [`BpfMap`]'s program operations, on the run's CPU); a call
    /// on a map type the kernel's verifier refuses it for is refused at
    /// load time when the map is known there, else it ends the run with
    /// [`HelperError::MapRefused`].
    pub fn with_builtins() -> Self {
        let mut helpers = Helpers::empty();
        helpers.register_builtin(ids::MAP_LOOKUP_ELEM, "bpf_map_lookup_elem", map_lookup_elem);
        helpers.register_builtin(ids::MAP_UPDATE_ELEM, "bpf_map_update_elem", map_update_elem);
        helpers.register_builtin(ids::MAP_DELETE_ELEM, "bpf_map_delete_elem", map_delete_elem);
        helpers.register_builtin(ids::KTIME_GET_NS, "bpf_ktime_get_ns", time::ktime_get);
        helpers.register_builtin(ids::TRACE_PRINTK, "bpf_trace_printk", trace::trace_printk);
        helpers.register_builtin(ids::GET_PRANDOM_U32, "bpf_get_prandom_u32", |ctx, _| {
            Ok(u64::from(ctx.random_u32()))
        });
        helpers.register_builtin(
            ids::GET_SMP_PROCESSOR_ID,
            "bpf_get_smp_processor_id",
            |ctx, _| Ok(u64::from(ctx.cpu_id())),
        );
        helpers.register_builtin(
            ids::MAP_LOOKUP_PERCPU_ELEM,
            "bpf_map_lookup_percpu_elem",
            map_lookup_percpu_elem,
        );
        crate::exec::packet::register(&mut helpers);
        // exec::builtin's helpers.
        for (id, name) in [
            (ids::KTIME_GET_BOOT_NS, "bpf_ktime_get_boot_ns"),
            (ids::KTIME_GET_COARSE_NS, "bpf_ktime_get_coarse_ns"),
            (ids::KTIME_GET_TAI_NS, "bpf_ktime_get_tai_ns"),
        ] {
            helpers.register_builtin(id, name, time::ktime_get);
        }
        helpers.register_builtin(ids::CSUM_DIFF, "bpf_csum_diff", checksum::csum_diff);
        helpers.register_builtin(ids::LOOP, "bpf_loop", callbacks::bpf_loop);
        helpers.register_builtin(
            ids::FOR_EACH_MAP_ELEM,
            "bpf_for_each_map_elem",
            callbacks::for_each_map_elem,
        );
        helpers.register_builtin(ids::FIB_LOOKUP, "bpf_fib_lookup", fib::fib_lookup);
        helpers.register_builtin(ids::REDIRECT, "bpf_redirect", redirect::redirect);
        helpers.register_builtin(
            ids::REDIRECT_MAP,
            "bpf_redirect_map",
            redirect::redirect_map,
        );
        for (id, name, func) in [
            (
                ids::PERF_EVENT_OUTPUT,
                "bpf_perf_event_output",
                events::perf_event_output as BuiltinFn,
            ),
            (
                ids::RINGBUF_OUTPUT,
                "bpf_ringbuf_output",
                events::ringbuf_output,
            ),
            (
                ids::RINGBUF_RESERVE,
                "bpf_ringbuf_reserve",
                events::ringbuf_reserve,
            ),
            (
                ids::RINGBUF_SUBMIT,
                "bpf_ringbuf_submit",
                events::ringbuf_submit,
            ),
            (
                ids::RINGBUF_DISCARD,
                "bpf_ringbuf_discard",
                events::ringbuf_discard,
            ),
            (
                ids::RINGBUF_QUERY,
                "bpf_ringbuf_query",
                events::ringbuf_query,
            ),
            (ids::TAIL_CALL, "bpf_tail_call", tail_call::tail_call),
            (ids::SPIN_LOCK, "bpf_spin_lock", spin_lock::spin_lock),
            (ids::SPIN_UNLOCK, "bpf_spin_unlock", spin_lock::spin_unlock),
        ] {
            helpers.register_builtin(id, name, func);
        }
        helpers
    }

    /// Registers (or replaces) helper `id`.
    pub fn register<F>(&mut self, id: u32, name: &'static str, func: F)
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.insert(id, name, Arc::new(func), false);
    }

    /// Adds a placeholder for every kernel helper (ids 1 to
    /// [`MAX_KERNEL_HELPER_ID`]) not registered: a program calling helpers
    /// tinybpf does not implement then loads, for a listing, and a run ends
    /// with [`HelperError::NotImplemented`] at the first such call.
    ///
    /// ```
    /// use tinybpf_vm::{Helpers, HelperError, LoadedProgram, ProgramOptions, RunError, isa::asm::assemble_bytes};
    /// let code = assemble_bytes("call 46\nexit").unwrap();
    /// let refused = LoadedProgram::load(&code, ProgramOptions::default()).unwrap_err();
    /// assert!(refused.to_string().contains("bpf_get_socket_cookie (46), a kernel helper tinybpf does not implement"));
    /// let helpers = Helpers::with_builtins().with_missing_kernel_helpers();
    /// assert!(helpers.get(46).unwrap().is_placeholder());
    /// let program = LoadedProgram::load(&code, ProgramOptions { helpers, ..Default::default() }).unwrap();
    /// let error = program.run(&mut []).unwrap_err();
    /// assert_eq!(error, RunError::Helper { pc: 0, id: 46, source: HelperError::NotImplemented });
    /// assert_eq!(
    ///     error.to_string(),
    ///     "instruction 0: bpf_get_socket_cookie (46): tinybpf does not implement this kernel helper"
    /// );
    /// ```
    pub fn with_missing_kernel_helpers(mut self) -> Self {
        for id in 1..=MAX_KERNEL_HELPER_ID {
            if self.by_id.contains_key(&id) {
                continue;
            }
            let name = kernel_helper_name(i64::from(id)).unwrap_or("unknown");
            self.by_id.insert(
                id,
                Helper {
                    id,
                    name,
                    func: Arc::new(|_, _| Err(HelperError::NotImplemented)),
                    builtin: false,
                    placeholder: true,
                },
            );
        }
        self
    }

    pub(crate) fn register_builtin<F>(&mut self, id: u32, name: &'static str, func: F)
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.insert(id, name, Arc::new(func), true);
    }

    fn insert(&mut self, id: u32, name: &'static str, func: Arc<HelperFn>, builtin: bool) {
        self.by_id.insert(
            id,
            Helper {
                id,
                name,
                func,
                builtin,
                placeholder: false,
            },
        );
    }

    /// The helper with this id.
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.by_id.get(&id)
    }

    /// The name of helper `id`, if registered.
    pub fn name(&self, id: u32) -> Option<&'static str> {
        self.get(id).map(|h| h.name)
    }
}

/// What a helper may touch while it runs: the program's memory (checked),
/// its maps, the run's context (trace output, random state, cpu id), and
/// what is left of the run's instruction budget.
pub struct HelperContext<'a> {
    space: &'a AddressSpace<'a>,
    program: &'a LoadedProgram,
    run: &'a mut RunContext,
    /// What the run used before the call (the budget left is worked out
    /// only when a helper asks: most never do).
    spent: &'a Spent,
    /// Units charged so far; [`EXHAUSTED`] once a charge ran past the budget.
    charged: u64,
}

/// `HelperContext::charged` after a charge ran past the budget.
const EXHAUSTED: u64 = u64::MAX;

impl<'a> HelperContext<'a> {
    pub(crate) fn new(
        space: &'a AddressSpace<'a>,
        program: &'a LoadedProgram,
        run: &'a mut RunContext,
        spent: &'a Spent,
    ) -> Self {
        HelperContext {
            space,
            program,
            run,
            spent,
            charged: 0,
        }
    }

    /// The map a register value produced by `lddw rX, map` stands for.
    pub fn map(&self, handle: u64) -> Option<(usize, &'a BpfMap)> {
        map_of(self.program.maps(), handle)
    }

    /// The run's address space (the packet helpers move its packet region).
    pub(crate) fn space(&self) -> &'a AddressSpace<'a> {
        self.space
    }

    /// The run's `__sk_buff` state (the packet helpers change its protocol
    /// and VLAN tag).
    pub(crate) fn skb_state(&mut self) -> &mut crate::exec::ctx::skb::SkbState {
        &mut self.run.skb
    }

    /// The program's maps, in its map table's order.
    pub(crate) fn maps(&self) -> &'a [BpfMap] {
        self.program.maps()
    }

    /// Units charged, or [`EXHAUSTED`] (as `None`) when a charge ran past
    /// the budget; one compare in the common case of no charge.
    pub(crate) fn charged(&self) -> Option<u64> {
        (self.charged != EXHAUSTED).then_some(self.charged)
    }

    /// Whether the helper charged anything (or tried to charge too much).
    pub(crate) fn touched_budget(&self) -> bool {
        self.charged != 0
    }
}

impl HelperContext<'_> {
    /// Charges `units` of the run's instruction budget for work the helper
    /// does in proportion to its input. One unit stands for one
    /// instruction's work, which moves at most 8 bytes: the built-ins charge
    /// one unit per 8 bytes (rounded up) they copy, hash or format
    /// (`map_update_elem` its value, `trace_printk` its format and output,
    /// the map helpers the key of a map that hashes its keys).
    ///
    /// When fewer units are left, nothing is charged, the error is
    /// [`HelperError::BudgetExhausted`] (return it with `?`), and the run
    /// ends with [`RunError::BudgetExhausted`](crate::RunError::BudgetExhausted)
    /// at the call, whatever the helper returns.
    ///
    /// ```
    /// use tinybpf_vm::{HelperContext, Helpers, LoadedProgram, ProgramOptions, RunContext, RunError};
    /// use tinybpf_vm::isa::asm::assemble_bytes;
    /// let mut helpers = Helpers::with_builtins();
    /// // helper 100: work in proportion to r1
    /// helpers.register(100, "work", |ctx: &mut HelperContext<'_>, args: [u64; 5]| {
    ///     ctx.charge(args[0])?;
    ///     Ok(0)
    /// });
    /// let code = assemble_bytes("mov %r1, 50\ncall 100\nexit").unwrap();
    /// let program = LoadedProgram::load(&code, ProgramOptions { helpers, ..Default::default() }).unwrap();
    /// let mut ctx = RunContext::new().with_budget(100);
    /// assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().insns, 3);
    /// let mut ctx = RunContext::new().with_budget(40);
    /// assert_eq!(
    ///     program.run_with(&mut [], &mut ctx).unwrap_err(),
    ///     RunError::BudgetExhausted { pc: 1, budget: 40 }
    /// );
    /// ```
    pub fn charge(&mut self, units: u64) -> Result<(), HelperError> {
        if self.charged == EXHAUSTED || units > self.budget_left() {
            self.charged = EXHAUSTED;
            return Err(HelperError::BudgetExhausted);
        }
        self.charged += units;
        Ok(())
    }

    /// Budget units the helper may still charge.
    pub fn budget_left(&self) -> u64 {
        if self.charged == EXHAUSTED {
            return 0;
        }
        let used = self.spent.used(self.program) + self.charged;
        self.run.insn_budget.saturating_sub(used)
    }

    /// Copies `out.len()` bytes of program memory at `addr` into `out`.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), HelperError> {
        self.space
            .read_bytes(addr, out)
            .ok_or(HelperError::OutOfBounds {
                addr,
                size: out.len() as u64,
                access: Access::Read,
            })
    }

    /// Copies `data` into program memory at `addr` (which must be writable).
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        self.space
            .write_bytes(addr, data)
            .ok_or(HelperError::OutOfBounds {
                addr,
                size: data.len() as u64,
                access: Access::Write,
            })
    }

    /// The next value of the run's pseudo-random generator (xorshift64*).
    pub fn random_u32(&mut self) -> u32 {
        self.run.next_random()
    }

    /// The processor id the run pretends to be on.
    pub fn cpu_id(&self) -> u32 {
        self.run.cpu_id
    }

    /// Appends one line of trace output to the run's captured trace.
    pub fn trace(&mut self, line: String) {
        self.run.trace.push_line(&line);
    }

    /// How the program receives its input (XDP or plain memory), for helpers
    /// whose semantics differ by program type.
    pub fn program_kind(&self) -> ProgramKind {
        self.program.kind()
    }

    /// One reading of the run's clock ([`RunContext::clock`]).
    pub fn read_clock(&mut self) -> u64 {
        self.run.read_clock()
    }

    /// Sets (or clears) the run's redirect target ([`RunOutcome::redirect`](crate::RunOutcome::redirect)).
    pub fn set_redirect(&mut self, target: Option<Redirect>) {
        self.run.redirect = target;
    }

    /// The packet (or input memory): its address and length. For XDP, from
    /// `data` to `data_end` of the context.
    pub fn packet(&self) -> (u64, u64) {
        if self.program.kind() == ProgramKind::Xdp {
            let data = self.space.load(CONTEXT_START, 4);
            let end = self.space.load(CONTEXT_START + 4, 4);
            if let (Some(data), Some(end)) = (data, end) {
                return (data, end.saturating_sub(data));
            }
        }
        let input = self.space.run[INPUT_SLOT as usize].get();
        (input.start, input.len)
    }

    /// Records a ring buffer reservation, to discard it if the run ends
    /// with it open.
    pub(crate) fn track_reservation(&mut self, map: &BpfMap, offset: usize) {
        self.run.reservations.track(map, offset);
    }

    /// Forgets a reservation being committed; false if the run has none there.
    pub(crate) fn untrack_reservation(&mut self, map: &BpfMap, offset: usize) -> bool {
        self.run.reservations.untrack(map, offset)
    }

    /// `bpf_tail_call` found `reference` in its slot: unless the run made
    /// [`MAX_TAIL_CALL_CNT`] tail calls already or `reference` names no
    /// program (the call falls through), records where the run continues
    /// and what the caller used, and ends the caller with
    /// [`HelperError::TailCall`].
    pub(crate) fn begin_tail_call(&mut self, reference: u32) -> Result<u64, HelperError> {
        if self.run.tail_call.count >= MAX_TAIL_CALL_CNT {
            return Ok(FALL_THROUGH);
        }
        let Some(next) = self.run.tail_call_targets.get(reference).cloned() else {
            return Ok(FALL_THROUGH);
        };
        let charged = self.charged().unwrap_or(0);
        let used = self.spent.used(self.program) + charged;
        let insns = used - (self.run.charged + charged);
        let state = &mut self.run.tail_call;
        state.count += 1;
        state.used = used;
        state.insns = insns;
        state.next = Some(next);
        Err(HelperError::TailCall)
    }

    /// The program that called the helper.
    pub(crate) fn program(&self) -> &LoadedProgram {
        self.program
    }

    /// The callback helper calls of the run (see `exec::builtin::callbacks`).
    pub(crate) fn callbacks_mut(&mut self) -> &mut Callbacks {
        &mut self.run.callbacks
    }

    /// The spin lock the run holds.
    pub(crate) fn held_lock(&self) -> Option<&HeldLock> {
        self.run.held_lock.as_ref()
    }

    /// Records the lock the run now holds.
    pub(crate) fn set_held_lock(&mut self, lock: Option<HeldLock>) {
        self.run.held_lock = lock;
    }

    /// Takes the lock the run holds, to release it.
    pub(crate) fn take_held_lock(&mut self) -> Option<HeldLock> {
        self.run.held_lock.take()
    }

    /// The run's trace, for `trace_printk` to record into.
    pub(crate) fn trace_mut(&mut self) -> &mut Trace {
        &mut self.run.trace
    }
}

pub(crate) fn errno_result(result: Result<(), MapError>) -> u64 {
    match result {
        Ok(()) => 0,
        Err(e) => (-i64::from(e.errno())) as u64,
    }
}

const EINVAL: u64 = (-22i64) as u64;

/// Budget units for copying or formatting `bytes` bytes: one per 8, rounded up.
pub(crate) fn units_for(bytes: usize) -> u64 {
    bytes.div_ceil(8) as u64
}

/// Budget units for hashing and comparing a map operation's key: one per 8
/// bytes for the maps that hash their keys, none for the arrays and the
/// other maps indexed by their key (a bounds check, paid by the call).
fn key_units(map: &BpfMap) -> u64 {
    let hashed = matches!(
        map.map_type(),
        MapType::Hash
            | MapType::LruHash
            | MapType::PercpuHash
            | MapType::LruPercpuHash
            | MapType::LpmTrie
            | MapType::DevmapHash
    );
    if hashed {
        units_for(map.def().key_size as usize)
    } else {
        0
    }
}

/// The map a register value produced by `lddw rX, map` stands for.
fn map_of(maps: &[BpfMap], handle: u64) -> Option<(usize, &BpfMap)> {
    let index = usize::try_from(handle.checked_sub(MAP_HANDLE_BASE)?).ok()?;
    maps.get(index).map(|m| (index, m))
}

/// The kernel's verifier refuses `op` on `map`'s type: an error naming the
/// helper and the map (the load-time check found no single map here).
pub(crate) fn check_op(
    map: &BpfMap,
    index: usize,
    id: u32,
    op: ProgramOp,
) -> Result<(), HelperError> {
    map.check_program_op(op).map_err(|source| {
        HelperError::MapRefused(Box::new(MapRefusal {
            helper: builtin_name(id),
            map: index,
            source,
        }))
    })
}

/// The name of a built-in map helper, for messages.
pub(crate) fn builtin_name(id: u32) -> &'static str {
    match id {
        ids::MAP_LOOKUP_ELEM => "bpf_map_lookup_elem",
        ids::MAP_UPDATE_ELEM => "bpf_map_update_elem",
        ids::MAP_DELETE_ELEM => "bpf_map_delete_elem",
        ids::MAP_LOOKUP_PERCPU_ELEM => "bpf_map_lookup_percpu_elem",
        _ => kernel_helper_name(i64::from(id)).unwrap_or("a map helper"),
    }
}

/// The map operation a built-in map helper performs (`None` for other ids).
pub(crate) fn builtin_map_op(id: u32) -> Option<ProgramOp> {
    match id {
        ids::MAP_LOOKUP_ELEM => Some(ProgramOp::Lookup),
        ids::MAP_UPDATE_ELEM => Some(ProgramOp::Update),
        ids::MAP_DELETE_ELEM => Some(ProgramOp::Delete),
        ids::MAP_LOOKUP_PERCPU_ELEM => Some(ProgramOp::LookupPercpu),
        ids::REDIRECT_MAP => Some(ProgramOp::RedirectMap),
        ids::RINGBUF_OUTPUT | ids::RINGBUF_RESERVE | ids::RINGBUF_QUERY => Some(ProgramOp::Ringbuf),
        _ => None,
    }
}

/// Keys and values up to this size are read into a buffer on the stack;
/// larger ones (never a key a program keeps on its 512-byte stack) into a
/// fresh vector.
const STACK_BUFFER: usize = 512;

/// Reads `len` bytes of program memory at `addr` and hands them to `f`,
/// without a heap allocation for up to [`STACK_BUFFER`] bytes.
pub(crate) fn with_bytes<R>(
    space: &AddressSpace<'_>,
    addr: u64,
    len: usize,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, HelperError> {
    let fault = || HelperError::OutOfBounds {
        addr,
        size: len as u64,
        access: Access::Read,
    };
    if len <= 16 {
        let mut small = [0u8; 16];
        space
            .read_bytes(addr, &mut small[..len])
            .ok_or_else(fault)?;
        Ok(f(&small[..len]))
    } else if len <= STACK_BUFFER {
        let mut buffer = [0u8; STACK_BUFFER];
        space
            .read_bytes(addr, &mut buffer[..len])
            .ok_or_else(fault)?;
        Ok(f(&buffer[..len]))
    } else {
        // Check the range before allocating: a length no region holds
        // (a helper's size argument) must not become an allocation.
        space
            .resolve(addr, len as u64, Access::Read)
            .ok_or_else(fault)?;
        let mut large = vec![0u8; len];
        space.read_bytes(addr, &mut large).ok_or_else(fault)?;
        Ok(f(&large))
    }
}

/// `bpf_map_lookup_elem` on a run on CPU `cpu`: the element's virtual
/// address or 0. Helper 1 and the lookups the VM does not inline.
pub(crate) fn lookup_elem(
    maps: &[BpfMap],
    space: &AddressSpace<'_>,
    cpu: u32,
    handle: u64,
    key_addr: u64,
    charge: &mut dyn FnMut(u64) -> Result<(), HelperError>,
) -> Result<u64, HelperError> {
    let Some((index, map)) = map_of(maps, handle) else {
        return Ok(0);
    };
    // Arrays (every lookup allowed, a 4-byte index): as cheap as before
    // maps of other types existed.
    if let Some(array) = map.as_array() {
        let key = space.load(key_addr, 4).ok_or(HelperError::OutOfBounds {
            addr: key_addr,
            size: 4,
            access: Access::Read,
        })?;
        return Ok(array
            .element_offset(key as u32)
            .map_or(0, |offset| map_value_start(index) + offset as u64));
    }
    check_op(map, index, ids::MAP_LOOKUP_ELEM, ProgramOp::Lookup)?;
    let key_size = map.def().key_size as usize;
    let offset = with_bytes(space, key_addr, key_size, |key| {
        charge(lookup_units(map, key))?;
        Ok(map.lookup_for_program(key, cpu))
    })??;
    Ok(offset.map_or(0, |offset| map_value_start(index) + offset as u64))
}

/// Budget units for looking `key` up in `map` (charged before the lookup):
/// hashing and comparing the key (see [`key_units`]), once per probe of an
/// LPM trie, which probes at most every prefix length from the key's down.
fn lookup_units(map: &BpfMap, key: &[u8]) -> u64 {
    if map.map_type() != MapType::LpmTrie {
        return key_units(map);
    }
    let prefix_len = key
        .get(..4)
        .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        .map_or(0, u32::from_le_bytes);
    let longest = (key.len().saturating_sub(4) as u64) * 8;
    (u64::from(prefix_len).min(longest) + 1) * units_for(key.len())
}

/// Helper 1 through the generic path (used by `callx` and without inlining;
/// `call 1` has its own op).
fn map_lookup_elem(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let (maps, space, cpu) = (ctx.maps(), ctx.space, ctx.cpu_id());
    lookup_elem(maps, space, cpu, args[0], args[1], &mut |units| {
        ctx.charge(units)
    })
}

/// `bpf_map_update_elem(map, key, value, flags)`: the kernel's errno order
/// for the map's type; per-CPU maps update the run's CPU's value.
fn map_update_elem(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(EINVAL);
    };
    check_op(map, index, ids::MAP_UPDATE_ELEM, ProgramOp::Update)?;
    let (key_size, value_size) = (map.def().key_size as usize, map.def().value_size as usize);
    ctx.charge(units_for(value_size) + key_units(map))?;
    let cpu = ctx.cpu_id();
    let space = ctx.space;
    let result = with_bytes(space, args[1], key_size, |key| {
        with_bytes(space, args[2], value_size, |value| {
            map.update_from_program(key, value, args[3], cpu)
        })
    })??;
    Ok(errno_result(result))
}

/// `bpf_map_delete_elem(map, key)`.
fn map_delete_elem(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(EINVAL);
    };
    check_op(map, index, ids::MAP_DELETE_ELEM, ProgramOp::Delete)?;
    ctx.charge(key_units(map))?;
    let cpu = ctx.cpu_id();
    let result = with_bytes(ctx.space, args[1], map.def().key_size as usize, |key| {
        map.delete_from_program(key, cpu)
    })?;
    Ok(errno_result(result))
}

/// `bpf_map_lookup_percpu_elem(map, key, cpu)`: the address of CPU `cpu`'s
/// value of `key` in a per-CPU map, or 0 (missing key, or `cpu` not below
/// the possible CPUs). The run's own CPU gives the same address as
/// `bpf_map_lookup_elem`; another CPU's value is reached through its CPU
/// view (see `exec::map_regions`).
fn map_lookup_percpu_elem(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(0);
    };
    check_op(
        map,
        index,
        ids::MAP_LOOKUP_PERCPU_ELEM,
        ProgramOp::LookupPercpu,
    )?;
    ctx.charge(key_units(map))?;
    // The kernel's argument is a u32.
    let cpu = args[2] as u32;
    let running = ctx.cpu_id();
    let offset = with_bytes(ctx.space, args[1], map.def().key_size as usize, |key| {
        map.lookup_percpu_for_program(key, cpu)
    })?;
    let Some(offset) = offset else {
        return Ok(0);
    };
    // The run's map slots hold one row of regions per CPU the program may
    // run on, its own first: CPU `cpu` is `d` rows after it. A CPU past
    // them (the map has it, another map of the program does not) has no
    // view: NULL, as for a CPU that is not possible.
    let maps = ctx.maps().len();
    let rows = ctx.space.maps.len().checked_div(maps).unwrap_or(0) as u64;
    let (cpu, running) = (u64::from(cpu), u64::from(running));
    if cpu >= rows || running >= rows {
        return Ok(0);
    }
    let d = (cpu + rows - running) % rows;
    // d * maps + index < rows * maps: a slot the run's regions show.
    Ok(map_value_start(d as usize * maps + index) + offset as u64)
}
