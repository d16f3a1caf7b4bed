//! What compiled code and the Rust side share during one run: the run's
//! environment ([`Env`]), its layout as the code sees it, and the codes the
//! code returns.
//!
//! The code receives one pointer, to an `Env` on the running thread's stack.
//! One `Env` serves the runs of one call of `exec::run` (one run, or the
//! many of a repeated run): built once, [`Env::restart`]ed by each run.
//! The code reads the run's registers, budget, region tables and
//! trampolines from it at entry, and writes back what the Rust side needs when it returns:
//! r0 and the count at the end, the fault record after a fault, and every
//! register, the count, the call depth and the frames when it hands the run
//! over to the exact interpreter. Offsets come from `offset_of!`, so the
//! code follows the struct.

use std::any::Any;
use std::mem::{MaybeUninit, offset_of, size_of};

use crate::error::{Access, RunError};
use crate::exec::memory::{AddressSpace, FIRST_MAP_SLOT, MAX_FRAMES, Region};
use crate::exec::{RunContext, bad_key, clock_slice};
use crate::program::LoadedProgram;

/// The code returns: the program exited (r0 in `regs[0]`, the count in `count`).
pub(crate) const DONE: u64 = 0;
/// The code returns: a fault, described by `fault`.
pub(crate) const FAULT: u64 = 1;
/// The code returns: a helper ended the run with the error in `error`.
pub(crate) const ERROR: u64 = 2;
/// The code returns: a block's weight does not fit in the budget; the run
/// continues in the exact interpreter at op `pc`.
pub(crate) const HANDOVER: u64 = 3;
/// The code returns: a helper panicked; the payload is in `panic`.
pub(crate) const PANIC: u64 = 4;

/// The call trampoline returns: a helper call or a callback's `exit` enters
/// a callback: r1..r5 are its arguments in `regs`, the count in `count`
/// has its units charged, and `pc` is the entry's index in
/// [`LoadedProgram::callback_entries`]; the code pushes a callback frame
/// and jumps there.
pub(crate) const ENTER_CALLBACK: u64 = 5;
/// The call trampoline returns: the callback helper call is over; r0 (its
/// result) and r1..r5 (restored) are in `regs`, and the code continues
/// after the call.
pub(crate) const CALLBACK_DONE: u64 = 6;

/// A callback frame's site: this bit set on the site of the helper call
/// that entered it (whose return op is where the run goes on when the
/// helper call is over). Out of the return dispatch's table.
pub(crate) const CALLBACK_FRAME: u64 = 1 << 31;

/// A fault kind the code records: a load outside every region.
pub(crate) const FAULT_READ: u64 = 1;
/// A store outside every writable region.
pub(crate) const FAULT_WRITE: u64 = 2;
/// An inline lookup's key pointer outside every region.
pub(crate) const FAULT_KEY: u64 = 3;
/// A local call past the frame limit.
pub(crate) const FAULT_DEPTH: u64 = 4;
/// An atomic at an address not aligned to its size.
pub(crate) const FAULT_MISALIGNED: u64 = 5;

/// What the call trampoline is asked to run.
pub(crate) const CALL_HELPER: u64 = 0;
/// `callx`: the helper id is the value.
pub(crate) const CALL_REG: u64 = 1;
/// A `call 1` the rewrite left (`Op::MapLookup`).
pub(crate) const CALL_LOOKUP: u64 = 2;
/// A checkpoint whose next stretch (the value) does not fit under
/// `Env::cap`: a clock checkpoint when the run has a deadline, which
/// either ends the run or raises the cap (see `jit::run`).
pub(crate) const CALL_CLOCK: u64 = 3;
/// A plain load or store the regions refused in a program with an
/// emulated `__sk_buff` (`value` the address): the interpreter's miss
/// path runs it (a context field, or the fault). A load's value comes back
/// in `regs[dst]`; a store's value goes in `regs[src]` (or is the op's
/// immediate).
pub(crate) const CALL_CONTEXT: u64 = 4;
/// A callback's `exit` (op `op`) returned r0 (in `regs[0]`) to the frame at
/// `depth`: the trampoline asks `Callbacks::returned`, and returns
/// [`ENTER_CALLBACK`], [`CALLBACK_DONE`], [`ERROR`] or [`PANIC`].
pub(crate) const CALL_RETURNED: u64 = 5;

/// The call trampoline: runs a helper call, `callx` or lookup for op `op`
/// with r1..r5 from `regs`, or a context access ([`CALL_CONTEXT`]); `kind`
/// is a `CALL_*`, `value` the helper slot or id, or the address. Returns 0,
/// [`ERROR`] or [`PANIC`]; after a helper call also [`ENTER_CALLBACK`].
pub(crate) type CallFn =
    unsafe extern "C" fn(env: *mut Env<'_>, op: u64, kind: u64, value: u64) -> u64;

/// The atomic trampoline: the atomic of op `op` on host memory that is not
/// aligned on the host (only the caller's input buffer can be); returns the
/// old value.
pub(crate) type AtomicFn =
    unsafe extern "C" fn(env: *mut Env<'_>, op: u64, host: u64, operand: u64, expected: u64) -> u64;

/// A caller's frame: the call site it returns through and its r6..r9.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Frame {
    /// Index of the call site ([`crate::jit::Code::return_op`]).
    pub site: u64,
    /// r6..r9 at the call.
    pub saved: [u64; 4],
}

/// A fault the code found: what the Rust side turns into a [`RunError`].
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct FaultRecord {
    /// One of the `FAULT_*` kinds.
    pub kind: u64,
    /// The original slot of the faulting op.
    pub pc: u64,
    /// The address.
    pub addr: u64,
    /// The access size.
    pub size: u64,
}

/// The runs' environment (see the module doc). The fields up to `atomic`,
/// and `frames`, are read and written by generated code at their
/// `offset_of!` offsets.
#[repr(C)]
pub(crate) struct Env<'a> {
    /// r0..r10 (r11..r15 unused): in at entry, out at exit and handover; r1..r5
    /// out and r0 in around a call trampoline.
    pub regs: [u64; 16],
    /// Instructions counted plus helper units charged.
    pub count: u64,
    /// How far the count may go before the code asks the trampoline: the
    /// budget, capped at 2^63 - 1 as the interpreter caps it, or in a run
    /// with a deadline the next clock checkpoint ([`first_cap`]).
    pub cap: u64,
    /// Host address of frame 0's r10: the top of the stack buffer.
    pub stack_top: u64,
    /// The input, context and stack regions of the run: copied at entry;
    /// slot 0, the packet, again after every helper call (the only one a
    /// helper moves: see `run::call`).
    pub run: [Region; 3],
    /// The map regions, addressed by slot: the run's map slice minus
    /// [`FIRST_MAP_SLOT`] regions (never dereferenced below the slice).
    pub maps_by_slot: u64,
    /// The run's map regions (`space.maps`).
    pub maps: u64,
    /// Slots with a region: `FIRST_MAP_SLOT + space.maps.len()`.
    pub slots: u64,
    /// Nested local calls at a handover, and at a helper call or a
    /// callback's `exit` in a program with callbacks.
    pub depth: u64,
    /// The op a handover resumes at; the callback entry after
    /// [`ENTER_CALLBACK`].
    pub pc: u64,
    /// The fault, after [`FAULT`].
    pub fault: FaultRecord,
    /// See [`CallFn`].
    pub call: CallFn,
    /// See [`AtomicFn`].
    pub atomic: AtomicFn,
    // ---- only the Rust side reads what follows
    /// The program running.
    pub program: &'a LoadedProgram,
    /// The run's address space.
    pub space: &'a AddressSpace<'a>,
    /// The run's context, borrowed exclusively for the run; trampolines use
    /// it while the code waits for them.
    pub ctx: *mut RunContext,
    /// A helper's error, after [`ERROR`].
    pub error: Option<RunError>,
    /// A helper's panic, after [`PANIC`]: resumed once the code has returned.
    pub panic: Option<Box<dyn Any + Send>>,
    /// The callers' frames (read and written by generated code): frame `d`
    /// is written in full by the call that goes from depth `d` to `d + 1`,
    /// so the frames below the depth are initialised. Left uninitialised at
    /// the start (zeroing them cost every run a 320-byte memset), and last,
    /// away from the fields that start zeroed, which the compiler would
    /// otherwise zero together with them.
    pub frames: [MaybeUninit<Frame>; MAX_FRAMES],
}

/// Byte offsets of the fields generated code uses, and region layout.
pub(crate) mod layout {
    use super::{Env, FaultRecord, Frame, Region, offset_of, size_of};

    /// Offset of register `r` in `Env::regs`.
    pub(crate) const fn reg(r: u8) -> i32 {
        (offset_of!(Env<'static>, regs) + 8 * r as usize) as i32
    }
    pub(crate) const COUNT: i32 = offset_of!(Env<'static>, count) as i32;
    pub(crate) const CAP: i32 = offset_of!(Env<'static>, cap) as i32;
    pub(crate) const STACK_TOP: i32 = offset_of!(Env<'static>, stack_top) as i32;
    pub(crate) const RUN: i32 = offset_of!(Env<'static>, run) as i32;
    pub(crate) const MAPS_BY_SLOT: i32 = offset_of!(Env<'static>, maps_by_slot) as i32;
    pub(crate) const MAPS: i32 = offset_of!(Env<'static>, maps) as i32;
    pub(crate) const SLOTS: i32 = offset_of!(Env<'static>, slots) as i32;
    pub(crate) const DEPTH: i32 = offset_of!(Env<'static>, depth) as i32;
    pub(crate) const PC: i32 = offset_of!(Env<'static>, pc) as i32;
    pub(crate) const FRAMES: i32 = offset_of!(Env<'static>, frames) as i32;
    pub(crate) const FRAME_SIZE: i64 = size_of::<Frame>() as i64;
    // `MaybeUninit<Frame>` has `Frame`'s layout.
    const _: () = assert!(size_of::<super::MaybeUninit<Frame>>() == size_of::<Frame>());
    pub(crate) const FRAME_SITE: i32 = offset_of!(Frame, site) as i32;
    pub(crate) const fn frame_saved(i: usize) -> i32 {
        (offset_of!(Frame, saved) + 8 * i) as i32
    }
    pub(crate) const FAULT_KIND: i32 =
        (offset_of!(Env<'static>, fault) + offset_of!(FaultRecord, kind)) as i32;
    pub(crate) const FAULT_PC: i32 =
        (offset_of!(Env<'static>, fault) + offset_of!(FaultRecord, pc)) as i32;
    pub(crate) const FAULT_ADDR: i32 =
        (offset_of!(Env<'static>, fault) + offset_of!(FaultRecord, addr)) as i32;
    pub(crate) const FAULT_SIZE: i32 =
        (offset_of!(Env<'static>, fault) + offset_of!(FaultRecord, size)) as i32;
    pub(crate) const CALL: i32 = offset_of!(Env<'static>, call) as i32;
    pub(crate) const ATOMIC: i32 = offset_of!(Env<'static>, atomic) as i32;
    /// Bytes of one region descriptor.
    pub(crate) const REGION_SIZE: i64 = size_of::<Region>() as i64;
    pub(crate) const REGION_START: i32 = offset_of!(Region, start) as i32;
    pub(crate) const REGION_LEN: i32 = offset_of!(Region, len) as i32;
    pub(crate) const REGION_HOST: i32 = offset_of!(Region, host) as i32;
    pub(crate) const REGION_WRITABLE: i32 = offset_of!(Region, writable) as i32;
}

// The code loads `host` as a 64-bit value and `writable` as one byte.
const _: () = assert!(size_of::<*mut u8>() == 8 && size_of::<bool>() == 1);

/// The cap a run starts with: the budget (capped as the interpreter caps
/// it), or with a deadline the first clock checkpoint, as the interpreter's
/// fast loop starts.
pub(crate) fn first_cap(ctx: &RunContext) -> u64 {
    let budget_cap = ctx.insn_budget.min(u64::MAX >> 1);
    match ctx.deadline {
        None => budget_cap,
        Some(_) => clock_slice(0, 0, budget_cap),
    }
}

impl<'a> Env<'a> {
    /// The environment of the runs of `program` in `space`, each started
    /// by [`Env::restart`].
    pub(crate) fn new(
        program: &'a LoadedProgram,
        space: &'a AddressSpace<'a>,
        stack_top: *mut u8,
        call: CallFn,
        atomic: AtomicFn,
    ) -> Env<'a> {
        let maps = space.maps.as_ptr() as u64;
        Env {
            regs: [0; 16],
            count: 0,
            cap: 0,
            stack_top: stack_top as u64,
            run: space.run_regions(),
            // Region `slot` of the maps lies at `maps + (slot - 3) * size`:
            // the code computes `maps_by_slot + slot * size` only for slots
            // from FIRST_MAP_SLOT to `slots`, inside the slice.
            maps_by_slot: maps.wrapping_sub(FIRST_MAP_SLOT * layout::REGION_SIZE as u64),
            maps,
            slots: FIRST_MAP_SLOT + space.maps.len() as u64,
            depth: 0,
            pc: 0,
            frames: [MaybeUninit::uninit(); MAX_FRAMES],
            fault: FaultRecord::default(),
            call,
            atomic,
            program,
            space,
            ctx: std::ptr::null_mut(),
            error: None,
            panic: None,
        }
    }

    /// Starts a run from `regs` with `ctx`: nothing counted, no frames, the
    /// run's regions as `space` has them now. What the last run left in
    /// the other fields is not read before the code writes it (the fault
    /// record, the frames above the depth, and every register but r2: the
    /// code has the others' entry values compiled in, see
    /// `codegen::entry_registers`, and writes a register to the
    /// environment before a trampoline or a handover reads it), or was
    /// taken when it ended (`error`, `panic`).
    #[inline]
    pub(crate) fn restart(&mut self, regs: &[u64; 16], ctx: &mut RunContext) {
        debug_assert!(self.error.is_none() && self.panic.is_none());
        self.regs[2] = regs[2];
        self.count = 0;
        self.cap = first_cap(ctx);
        self.run = self.space.run_regions();
        self.depth = 0;
        self.pc = 0;
        self.ctx = ctx;
    }

    /// The run error a fault record stands for.
    pub(crate) fn fault_error(&self) -> RunError {
        let FaultRecord {
            kind,
            pc,
            addr,
            size,
        } = self.fault;
        let pc = pc as usize;
        match kind {
            FAULT_WRITE => RunError::OutOfBounds {
                pc,
                addr,
                size,
                access: Access::Write,
            },
            FAULT_KEY => bad_key(pc, addr),
            FAULT_DEPTH => RunError::CallDepthExceeded {
                pc,
                limit: MAX_FRAMES,
            },
            FAULT_MISALIGNED => RunError::MisalignedAtomic { pc, addr, size },
            // FAULT_READ, the only other kind the code writes.
            _ => RunError::OutOfBounds {
                pc,
                addr,
                size,
                access: Access::Read,
            },
        }
    }
}
