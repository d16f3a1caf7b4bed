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
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tinybpf_maps::{ArrayMap, MapError};

use crate::error::{Access, HelperError};
use crate::exec::RunContext;
use crate::exec::call::Spent;
use crate::exec::memory::{AddressSpace, MAP_HANDLE_BASE, map_value_start};
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
}

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

    /// A registry with the built-ins: 1 map_lookup_elem, 2 map_update_elem,
    /// 3 map_delete_elem, 5 ktime_get_ns, 6 trace_printk, 7 get_prandom_u32,
    /// 8 get_smp_processor_id.
    pub fn with_builtins() -> Self {
        let mut helpers = Helpers::empty();
        helpers.register_builtin(ids::MAP_LOOKUP_ELEM, "map_lookup_elem", map_lookup_elem);
        helpers.register_builtin(ids::MAP_UPDATE_ELEM, "map_update_elem", map_update_elem);
        helpers.register_builtin(ids::MAP_DELETE_ELEM, "map_delete_elem", map_delete_elem);
        helpers.register_builtin(ids::KTIME_GET_NS, "ktime_get_ns", ktime_get_ns);
        helpers.register_builtin(ids::TRACE_PRINTK, "trace_printk", trace_printk);
        helpers.register_builtin(ids::GET_PRANDOM_U32, "get_prandom_u32", |ctx, _| {
            Ok(u64::from(ctx.random_u32()))
        });
        helpers.register_builtin(
            ids::GET_SMP_PROCESSOR_ID,
            "get_smp_processor_id",
            |ctx, _| Ok(u64::from(ctx.cpu_id())),
        );
        helpers
    }

    /// Registers (or replaces) helper `id`.
    pub fn register<F>(&mut self, id: u32, name: &'static str, func: F)
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.insert(id, name, Arc::new(func), false);
    }

    fn register_builtin<F>(&mut self, id: u32, name: &'static str, func: F)
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
    pub fn map(&self, handle: u64) -> Option<(usize, &'a ArrayMap)> {
        let index = usize::try_from(handle.checked_sub(MAP_HANDLE_BASE)?).ok()?;
        self.program.maps().get(index).map(|m| (index, m))
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
    /// one unit per 8 bytes (rounded up) they copy or format
    /// (`map_update_elem` its value, `trace_printk` its format and output).
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
        self.run.trace.push(line);
    }

    /// Reads a map key (array keys are 4 bytes) from program memory.
    fn read_key(&self, map: &ArrayMap, addr: u64) -> Result<[u8; 4], HelperError> {
        let mut key = [0u8; 4];
        debug_assert_eq!(map.def().key_size, 4, "array keys are 4 bytes");
        self.read(addr, &mut key)?;
        Ok(key)
    }
}

fn errno_result(result: Result<(), MapError>) -> u64 {
    match result {
        Ok(()) => 0,
        Err(e) => (-i64::from(e.errno())) as u64,
    }
}

const EINVAL: u64 = (-22i64) as u64;

/// Budget units for copying or formatting `bytes` bytes: one per 8, rounded up.
fn units_for(bytes: usize) -> u64 {
    bytes.div_ceil(8) as u64
}

/// Helper 1 through the generic path (used by `callx`; `call 1` has its own op).
fn map_lookup_elem(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(0);
    };
    let key = ctx.read_key(map, args[1])?;
    Ok(lookup_address(index, map, u32::from_le_bytes(key)))
}

/// The virtual address of the element `key` names, or 0.
pub(crate) fn lookup_address(map_index: usize, map: &ArrayMap, key: u32) -> u64 {
    map.element_offset(key)
        .map_or(0, |offset| map_value_start(map_index) + offset as u64)
}

fn map_update_elem(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let Some((_, map)) = ctx.map(args[0]) else {
        return Ok(EINVAL);
    };
    let key = ctx.read_key(map, args[1])?;
    let size = map.def().value_size as usize;
    ctx.charge(units_for(size))?;
    let mut small = [0u8; 256];
    let mut large = Vec::new();
    let value = if size <= small.len() {
        &mut small[..size]
    } else {
        large.resize(size, 0);
        &mut large[..]
    };
    ctx.read(args[2], value)?;
    Ok(errno_result(map.update_from_program(&key, value, args[3])))
}

fn map_delete_elem(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let Some((_, map)) = ctx.map(args[0]) else {
        return Ok(EINVAL);
    };
    let key = ctx.read_key(map, args[1])?;
    Ok(errno_result(map.delete_from_program(&key)))
}

fn ktime_get_ns(_: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let nanos = EPOCH.get_or_init(Instant::now).elapsed().as_nanos();
    Ok(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Longest format string `trace_printk` reads.
const MAX_TRACE_FORMAT: u64 = 1024;

/// `bpf_trace_printk(fmt, fmt_size, a1, a2, a3)`: formats like the kernel
/// (`%d %i %u %x %X` with `l`/`ll`, `%p`, `%c`, `%s` from program memory,
/// `%%`; an unreadable `%s` prints `(efault)`), captures the line and returns
/// its length; a bad format gives -EINVAL.
fn trace_printk(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let size = args[1];
    if size == 0 || size > MAX_TRACE_FORMAT {
        return Ok(EINVAL);
    }
    ctx.charge(units_for(size as usize))?;
    let mut fmt = vec![0u8; size as usize];
    ctx.read(args[0], &mut fmt)?;
    let Some(nul) = fmt.iter().position(|&b| b == 0) else {
        return Ok(EINVAL);
    };
    fmt.truncate(nul);
    let Some(line) = format_trace(ctx, &fmt, [args[2], args[3], args[4]]) else {
        return Ok(EINVAL);
    };
    ctx.charge(units_for(line.len()))?;
    let len = line.len() as u64;
    let line = line.strip_suffix('\n').unwrap_or(&line).to_string();
    ctx.trace(line);
    Ok(len)
}

/// Formats a `trace_printk` line; `None` when the format is invalid.
fn format_trace(ctx: &HelperContext<'_>, fmt: &[u8], args: [u64; 3]) -> Option<String> {
    let mut out = String::new();
    let mut next_arg = args.into_iter();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(char::from(c));
            continue;
        }
        if fmt.get(i) == Some(&b'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let mut longs = 0;
        while fmt.get(i) == Some(&b'l') && longs < 2 {
            longs += 1;
            i += 1;
        }
        let &conv = fmt.get(i)?;
        i += 1;
        let arg = next_arg.next()?;
        let narrow = longs == 0;
        match conv {
            b'd' | b'i' => {
                let v = if narrow {
                    i64::from(arg as u32 as i32)
                } else {
                    arg as i64
                };
                let _ = write!(out, "{v}");
            }
            b'u' => {
                let v = if narrow { u64::from(arg as u32) } else { arg };
                let _ = write!(out, "{v}");
            }
            b'x' | b'X' => {
                let v = if narrow { u64::from(arg as u32) } else { arg };
                if conv == b'x' {
                    let _ = write!(out, "{v:x}");
                } else {
                    let _ = write!(out, "{v:X}");
                }
            }
            b'p' if longs == 0 => {
                let _ = write!(out, "0x{arg:x}");
            }
            b'c' if longs == 0 => out.push(char::from(arg as u8)),
            b's' if longs == 0 => {
                let mut byte = [0u8; 1];
                let mut addr = arg;
                for _ in 0..MAX_TRACE_FORMAT {
                    if ctx.read(addr, &mut byte).is_err() {
                        out.push_str("(efault)");
                        break;
                    }
                    if byte[0] == 0 {
                        break;
                    }
                    out.push(char::from(byte[0]));
                    addr = addr.wrapping_add(1);
                }
            }
            _ => return None,
        }
    }
    Some(out)
}
