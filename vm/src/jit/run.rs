//! A compiled run: the entry from `exec::run` (after the same setup as an
//! interpreted run), the trampolines the code calls, and the handover to
//! the exact interpreter when the budget runs short.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::error::{Access, HelperError, RunError};
use crate::exec::builtin::callbacks::{CALLBACK_RETURN, Step};
use crate::exec::ctx::{load_miss, store_miss};
use crate::exec::helpers::ids;
use crate::exec::memory::{AddressSpace, MAP_HANDLE_BASE, MAX_FRAMES, STACK_SIZE, map_value_start};
use crate::exec::{
    Resume, RunContext, RunOutcome, Spent, atomic_rmw, bad_key, call_helper, charged_lookup,
    clock_checkpoint, interpret,
};
use crate::ir::facts::{AccessKind, Memory, Stored};
use crate::ir::op::Op;
use crate::jit::Code;
use crate::jit::env::{
    CALL_CLOCK, CALL_CONTEXT, CALL_HELPER, CALL_LOOKUP, CALL_REG, CALL_RETURNED, CALLBACK_DONE,
    CALLBACK_FRAME, DONE, ENTER_CALLBACK, ERROR, Env, HANDOVER, PANIC,
};
use crate::program::LoadedProgram;

/// The compiled code's environment for the runs of one call of
/// `exec::run` (one run, or a repeated run's many): built once, restarted
/// by each run.
pub(crate) struct Session<'a> {
    code: &'a Code,
    program: &'a LoadedProgram,
    space: &'a AddressSpace<'a>,
    stack_host: *mut u8,
    env: Env<'a>,
}

impl<'a> Session<'a> {
    /// The session of runs of `program`'s compiled `code` in `space`, over
    /// the stack buffer at `stack_host` (STACK_SIZE bytes).
    pub(crate) fn new(
        code: &'a Code,
        program: &'a LoadedProgram,
        space: &'a AddressSpace<'a>,
        stack_host: *mut u8,
    ) -> Self {
        // Only r2 is read from the environment at entry (`Env::restart`).
        debug_assert!(
            crate::jit::codegen::entry_registers(program)
                .iter()
                .enumerate()
                .all(|(r, known)| known.is_some() || r == 2)
        );
        let stack_top = stack_host.wrapping_add(STACK_SIZE);
        Session {
            code,
            program,
            space,
            stack_host,
            env: Env::new(
                program,
                space,
                stack_top,
                call_trampoline,
                atomic_trampoline,
            ),
        }
    }

    /// One run from the state `exec::run` prepared (the same registers,
    /// stack and regions an interpreted run starts from).
    ///
    /// Inlined into the run's setup: a run that ends with `exit` goes no
    /// further; every other ending is [`finish`]'s.
    #[inline]
    pub(crate) fn run(
        &mut self,
        regs: &mut [u64; 16],
        ctx: &mut RunContext,
    ) -> Result<RunOutcome, RunError> {
        let program = self.program;
        // The code has these registers compiled in (all but the unknown
        // ones); they only stand for values, every access stays checked.
        debug_assert!(
            crate::jit::codegen::entry_registers(program)
                .iter()
                .zip(regs.iter())
                .all(|(known, &value)| known.is_none_or(|known| known == value)),
            "a compiled run starts from other registers than the code assumes: {regs:?}"
        );
        let env = &mut self.env;
        env.restart(regs, ctx);
        // SAFETY: the code was compiled from `program`, whose proofs it
        // relies on (see doc/safety.md): it reads and writes the environment
        // at the offsets of `env::layout`, the regions of `space` after
        // checking them, the stack buffer of `exec::run` (STACK_SIZE bytes
        // below `stack_top`, of which the frame extent is initialised) and
        // map areas the verifier proved; `env` lives until it returns, and
        // `ctx` is not used here until then (the trampolines use it through
        // `env.ctx`, set from this run's `ctx` by `restart`).
        let status = unsafe { (self.code.entry())(&mut *env) };
        // The code returns DONE only after `exit`; a trampoline's error or
        // panic comes back as ERROR or PANIC (checked all the same).
        if status == DONE && env.panic.is_none() && env.error.is_none() {
            return Ok(RunOutcome {
                retval: env.regs[0],
                insns: env.count - ctx.charged,
                redirect: ctx.redirect,
            });
        }
        finish(
            env,
            status,
            self.code,
            program,
            self.space,
            self.stack_host,
            regs,
            ctx,
        )
    }
}

/// The end of a compiled run that did not simply exit: a helper's panic
/// resumed, its error returned, the run handed over to the exact
/// interpreter, or the fault the code recorded.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn finish(
    env: &mut Env<'_>,
    status: u64,
    code: &Code,
    program: &LoadedProgram,
    space: &AddressSpace<'_>,
    stack_host: *mut u8,
    regs: &mut [u64; 16],
    ctx: &mut RunContext,
) -> Result<RunOutcome, RunError> {
    // A trampoline that returned ERROR or PANIC left what it caught.
    if let Some(payload) = env.panic.take() {
        resume_unwind(payload);
    }
    if let Some(error) = env.error.take() {
        return Err(error);
    }
    match status {
        DONE => Ok(RunOutcome {
            retval: env.regs[0],
            insns: env.count - ctx.charged,
            redirect: ctx.redirect,
        }),
        HANDOVER => {
            let depth = (env.depth as usize).min(MAX_FRAMES - 1);
            let mut frames = [(0usize, [0u64; 4]); MAX_FRAMES];
            for (frame, saved) in frames.iter_mut().zip(&env.frames).take(depth) {
                // SAFETY: the code writes a frame in full before it goes one
                // call deeper (`Gen::call_local`), so the frames below the
                // depth it reports are initialised.
                let saved = unsafe { saved.assume_init() };
                let return_op = if saved.site & CALLBACK_FRAME != 0 {
                    CALLBACK_RETURN
                } else {
                    code.return_op(saved.site).unwrap_or(0)
                };
                *frame = (return_op, saved.saved);
            }
            let resume = Resume::handover(env.pc as usize, env.count, depth, frames, STACK_SIZE);
            *regs = env.regs;
            interpret::<true>(program, space, stack_host, regs, ctx, resume)
        }
        // FAULT, the only other status the code returns.
        _ => Err(env.fault_error()),
    }
}

/// The call trampoline ([`crate::jit::env::CallFn`]).
///
/// # Safety
///
/// `env` is the environment of the running compiled run, which waits for
/// this call and touches nothing until it returns.
unsafe extern "C" fn call_trampoline(env: *mut Env<'_>, op: u64, kind: u64, value: u64) -> u64 {
    // SAFETY: the caller's contract: the environment is ours for the call.
    let env = unsafe { &mut *env };
    if kind == CALL_CLOCK {
        return clock(env, op as usize, value);
    }
    // A panic must not unwind through the generated code's frames: catch it
    // here and resume it once the code has returned.
    let run = || match kind {
        CALL_RETURNED => callback_returned(env, op as usize),
        _ => call(env, op as usize, kind, value),
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => {
            env.error = Some(error);
            ERROR
        }
        Err(payload) => {
            env.panic = Some(payload);
            PANIC
        }
    }
}

/// A helper call, `callx` or lookup for op `index`, as the interpreter runs
/// it: r0 from the helper, and the units it charged counted ([`DONE`]); or
/// the first callback the helper asks for ([`ENTER_CALLBACK`]).
fn call(env: &mut Env<'_>, index: usize, kind: u64, value: u64) -> Result<u64, RunError> {
    let program = env.program;
    // SAFETY: `ctx` is the run's exclusively borrowed context (`run`), not
    // used elsewhere while the code runs.
    let ctx = unsafe { &mut *env.ctx };
    if kind == CALL_CONTEXT {
        return context_access(env, ctx, index, value).map(|()| DONE);
    }
    let pc = program.origin(index);
    let args = [
        env.regs[1],
        env.regs[2],
        env.regs[3],
        env.regs[4],
        env.regs[5],
    ];
    // The call is the last op of its block, whose weight is counted: the
    // count is what the run used up to and including the call.
    let spent = Spent {
        count: env.count,
        segment: index + 1,
        next: index + 1,
    };
    let result = match kind {
        CALL_HELPER => {
            let helper = &program.helper_table()[value as usize];
            call_helper(program, helper, env.space, ctx, args, spent)
        }
        CALL_REG => {
            let Some(helper) = u32::try_from(value)
                .ok()
                .and_then(|id| program.registry().get(id))
            else {
                return Err(RunError::UnknownHelper { pc, id: value });
            };
            call_helper(program, helper, env.space, ctx, args, spent)
        }
        _ => {
            debug_assert_eq!(kind, CALL_LOOKUP);
            map_lookup(program, env.space, ctx, spent, args[0], args[1])
        }
    };
    let r0 = match result {
        Ok(r0) => r0,
        // As the interpreter's `helper_done!`: the first callback, or, with
        // nothing to call, the result 0 (and the units charged, below).
        Err(RunError::Helper {
            source: HelperError::EnterCallback,
            pc: call_at,
            ..
        }) => {
            let depth = env.depth as usize;
            match ctx
                .callbacks
                .start(depth, index + 1, args, program, env.space)
            {
                Some((entry, first, units)) => {
                    return enter_callback(env, ctx, entry, first, units, call_at);
                }
                None => 0,
            }
        }
        Err(error) => return Err(error),
    };
    env.regs[0] = r0;
    env.count += ctx.pending_charge;
    ctx.pending_charge = 0;
    // A helper that moves the packet (`exec::packet::MOVES_PACKET`, also
    // through `callx`) moved its region: the code reads the packet's
    // descriptor from here again after the call (see
    // `codegen::general_table_flags`; in a program that cannot move its
    // packet, `codegen::packet_may_move`, this writes back the region it
    // read at entry). The context's and the stack's descriptors never
    // change during a run (a move rewrites the bytes of `xdp_md`, not
    // where they are).
    env.run[0] = env.space.run[0].get();
    Ok(DONE)
}

/// Enters the callback at op `entry` with r1..r5 = `args` from the frame at
/// `env.depth`, as the interpreter's `push_callback!`: the frame limit
/// (else `CallDepthExceeded` at `at`, the helper call or the callback's
/// `exit`), then `units` of the budget (else `BudgetExhausted` at the
/// entry), charged. The code pushes the frame and jumps to the entry
/// ([`ENTER_CALLBACK`], its index in `env.pc`).
fn enter_callback(
    env: &mut Env<'_>,
    ctx: &mut RunContext,
    entry: usize,
    args: [u64; 5],
    units: u64,
    at: usize,
) -> Result<u64, RunError> {
    let program = env.program;
    if env.depth as usize + 1 >= MAX_FRAMES {
        return Err(RunError::CallDepthExceeded {
            pc: at,
            limit: MAX_FRAMES,
        });
    }
    let budget = ctx.insn_budget;
    if budget.saturating_sub(env.count) < units {
        return Err(RunError::BudgetExhausted {
            pc: program.origin(entry),
            budget,
        });
    }
    let Ok(position) = program.callback_entries().binary_search(&entry) else {
        return Err(RunError::Helper {
            pc: at,
            id: ids::LOOP,
            source: HelperError::Other(format!("op {entry} is no callback entry")),
        });
    };
    env.count += units;
    ctx.charged += units;
    env.regs[1..=5].copy_from_slice(&args);
    env.pc = position as u64;
    // A helper call that enters a callback moved no packet; the code reads
    // the packet's descriptor again after every call all the same.
    env.run[0] = env.space.run[0].get();
    Ok(ENTER_CALLBACK)
}

/// A callback's `exit` (op `index`) returned r0 to the frame at
/// `env.depth` (the code popped the callback's frame): as the interpreter
/// at such an `exit`, the next callback ([`ENTER_CALLBACK`]) or the end of
/// the helper call ([`CALLBACK_DONE`]: r0 its result, r1..r5 restored), or
/// the error a refused return value is, at the `exit`.
fn callback_returned(env: &mut Env<'_>, index: usize) -> Result<u64, RunError> {
    let program = env.program;
    // SAFETY: `ctx` is the run's exclusively borrowed context (`run`), not
    // used elsewhere while the code runs.
    let ctx = unsafe { &mut *env.ctx };
    let exit_at = program.origin(index);
    let depth = env.depth as usize;
    match ctx
        .callbacks
        .returned(depth, env.regs[0], program, env.space)
    {
        Ok(Step::Again { entry, args, units }) => {
            enter_callback(env, ctx, entry, args, units, exit_at)
        }
        Ok(Step::Done { result, saved, .. }) => {
            env.regs[0] = result;
            env.regs[1..=5].copy_from_slice(&saved);
            Ok(CALLBACK_DONE)
        }
        Err((id, source)) => Err(RunError::Helper {
            pc: exit_at,
            id,
            source,
        }),
    }
}

/// The checkpoint at op `index` needs `need` more units than `env.cap`
/// allows (the code has put the run's state in the environment). Without
/// a deadline the cap is the budget: [`HANDOVER`], and the exact
/// interpreter goes on from here. With one, this is the interpreter's
/// clock checkpoint: [`ERROR`] with [`RunError::DeadlineExceeded`] at this
/// op if the deadline has passed; otherwise the cap moves one clock slice
/// on (never past the budget), and the code goes on ([`DONE`]) if what it
/// needs now fits, else hands over.
fn clock(env: &mut Env<'_>, index: usize, need: u64) -> u64 {
    // SAFETY: `ctx` is the run's exclusively borrowed context (`run`), not
    // used elsewhere while the code runs.
    let ctx = unsafe { &*env.ctx };
    let budget_cap = ctx.insn_budget.min(u64::MAX >> 1);
    if env.cap >= budget_cap {
        return HANDOVER;
    }
    let pc = env.program.origin(index);
    match clock_checkpoint(ctx.deadline, env.count, need, budget_cap, pc) {
        Ok(cap) => {
            env.cap = cap;
            if env.count.saturating_add(need) <= cap {
                DONE
            } else {
                HANDOVER
            }
        }
        Err(error) => {
            env.error = Some(error);
            ERROR
        }
    }
}

/// A plain load or store of op `index` at `addr` that the compiled checks
/// refused, in a program with an emulated `__sk_buff` or with callbacks:
/// what the interpreter does (the address space, which also holds the
/// callback keys the compiled checks leave out; then
/// `exec::ctx::load_miss`, `store_miss`: a context field by the program
/// type's rules, or the out-of-bounds fault). A load's value, converted as
/// the op converts it, goes to `regs[dst]`; an inline lookup's key to
/// `regs[0]`.
fn context_access(
    env: &mut Env<'_>,
    ctx: &mut RunContext,
    index: usize,
    addr: u64,
) -> Result<(), RunError> {
    let program = env.program;
    let pc = program.origin(index);
    let facts = program.ops().get(index).map(|op| op.facts());
    let access = facts.and_then(|facts| match facts.memory {
        Memory::Checked { width, kind, .. } => Some((u64::from(width), kind)),
        Memory::LookupKey => Some((4, AccessKind::Load { sign_extend: false })),
        Memory::None
        | Memory::Stack { .. }
        | Memory::Direct { .. }
        | Memory::Fixed { .. }
        | Memory::Helper
        | Memory::Call => None,
    });
    let lookup_key = facts.is_some_and(|facts| facts.memory == Memory::LookupKey);
    match access {
        // An inline lookup's key: where the interpreter reads it, into r0
        // (which the lookup sets next), or the lookup's fault.
        Some(_) if lookup_key => {
            env.regs[0] = env.space.load(addr, 4).ok_or_else(|| bad_key(pc, addr))?;
            Ok(())
        }
        Some((width, AccessKind::Load { sign_extend })) => {
            // What the interpreter does: the address space (whose callback
            // keys the compiled checks leave out), else its miss path.
            let value = match env.space.load(addr, width) {
                Some(value) => value,
                None => load_miss(env.space, ctx, pc, addr, width)?,
            };
            let value = if sign_extend {
                let unused = 64 - 8 * width as u32;
                (((value << unused) as i64) >> unused) as u64
            } else {
                value
            };
            let dst = facts.and_then(|facts| facts.writes.single()).unwrap_or(0);
            env.regs[usize::from(dst) & 15] = value;
            Ok(())
        }
        Some((width, AccessKind::Store(stored))) => {
            let value = match stored {
                Stored::Reg(src) => env.regs[usize::from(src) & 15],
                Stored::Imm(imm) => imm,
            };
            match env.space.store(addr, width, value) {
                Some(()) => Ok(()),
                None => store_miss(env.space, ctx, pc, addr, width, value),
            }
        }
        // The code calls out only for plain loads and stores
        // (`Gen::access`); anything else is a bug, refused as a fault.
        Some((width, AccessKind::Atomic)) => {
            debug_assert!(false, "op {index}: a context call-out for an atomic");
            Err(RunError::OutOfBounds {
                pc,
                addr,
                size: width,
                access: Access::Write,
            })
        }
        None => {
            debug_assert!(false, "op {index}: a context call-out for no access");
            Err(RunError::OutOfBounds {
                pc,
                addr,
                size: 0,
                access: Access::Read,
            })
        }
    }
}

/// A `call 1` the rewrite left, as the interpreter runs `Op::MapLookup`:
/// arrays inline, other types through the helper, a non-map r1 gives 0.
fn map_lookup(
    program: &LoadedProgram,
    space: &AddressSpace<'_>,
    ctx: &mut RunContext,
    spent: Spent,
    handle: u64,
    key_addr: u64,
) -> Result<u64, RunError> {
    let pc = program.origin(spent.next - 1);
    match program.map_shape(handle.wrapping_sub(MAP_HANDLE_BASE)) {
        Some((index, shape)) if shape.inline => {
            let Some(key) = space.load(key_addr, 4) else {
                return Err(bad_key(pc, key_addr));
            };
            Ok(if key < shape.max_entries {
                map_value_start(index) + key * shape.elem_size
            } else {
                0
            })
        }
        // Charged for the key as the interpreter charges it.
        Some(_) => charged_lookup(program, space, ctx, spent, handle, key_addr),
        None => Ok(0),
    }
}

/// The atomic trampoline ([`crate::jit::env::AtomicFn`]).
///
/// # Safety
///
/// As for [`call_trampoline`]; and `host` is the host address of a checked,
/// writable access of the op's width (the code checked it).
unsafe extern "C" fn atomic_trampoline(
    env: *mut Env<'_>,
    op: u64,
    host: u64,
    operand: u64,
    expected: u64,
) -> u64 {
    // SAFETY: the caller's contract.
    let env = unsafe { &*env };
    let Some(&Op::Atomic { op, wide, .. }) = env.program.ops().get(op as usize) else {
        return 0;
    };
    // SAFETY: the caller's contract: `host` is a checked, writable access of
    // this op's width, only accessed through `shared_mem`.
    unsafe { atomic_rmw(host as *mut u8, wide, op, operand, expected) }
}
