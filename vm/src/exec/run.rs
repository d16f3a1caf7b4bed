//! What a run starts from: the input or packet, the XDP context, the stack
//! and the registers, set up as regions of the run's address space.
//!
//! The setup is split in two: what every run of a program in one call shares
//! (the buffers the stack, the XDP context and the callback keys live in, and
//! the address space over them and the map areas: [`Prepared`]), and what
//! each run starts afresh (the stack's reachable bytes zeroed, the input or
//! packet regions, the registers: [`Prepared::run`]). A single run does both
//! once; [`execute_repeated`] does the first once for many runs, as the
//! kernel's test run does with `repeat`.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::num::NonZeroU32;
use std::time::Instant;

use crate::ProgramKind;
use crate::error::RunError;
use crate::exec::builtin::callbacks::CALLBACK_KEYS_LEN;
use crate::exec::context::{RunContext, RunOutcome};
use crate::exec::ctx::PacketView;
use crate::exec::ctx::skb::SkbState;
use crate::exec::interp::{Resume, interpret};
use crate::exec::memory::{
    AddressSpace, CALLBACK_KEY_START, CONTEXT_START, INPUT_START, MAX_INPUT_LEN, Region,
    STACK_SIZE, XDP_MD_SIZE, frame_pointer, stack_window,
};
use crate::exec::trace::Trace;
use crate::program::LoadedProgram;

/// Bytes at the top of the stack every run zeroes, whatever its extent.
const STACK_TOP_ZEROED: usize = 64;

/// Runs `program` over `input`: sets up the run's regions and registers,
/// then interprets (or runs the compiled code).
pub(crate) fn execute(
    program: &LoadedProgram,
    input: &mut [u8],
    ctx: &mut RunContext,
) -> Result<RunOutcome, RunError> {
    let map_regions = map_regions(program, input, ctx)?;
    let mut memory = RunMemory::new();
    let prepared = Prepared::new(program, map_regions, &mut memory);
    let mut engine = Engine::new(program, &prepared);
    prepared.run(&mut engine, input, ctx)
}

/// Runs `program` `runs` times over `input`, each run as
/// [`LoadedProgram::run_with`] runs it (its bookkeeping and tail calls
/// included), with `after_each` given the trace after each; the setup every
/// run shares is done once. The first failing run ends it.
pub(crate) fn execute_repeated(
    program: &LoadedProgram,
    input: &mut [u8],
    ctx: &mut RunContext,
    runs: NonZeroU32,
    after_each: &mut dyn FnMut(&mut Trace),
) -> Result<RunOutcome, RunError> {
    let Ok(map_regions) = map_regions(program, input, ctx) else {
        // Refused before any run: as a single run refuses it.
        return program.run_with(input, ctx);
    };
    let mut memory = RunMemory::new();
    let prepared = Prepared::new(program, map_regions, &mut memory);
    let mut engine = Engine::new(program, &prepared);
    let mut last = RunOutcome::default();
    for _ in 0..runs.get() {
        last = program.run_around(input, ctx, |input, ctx| {
            prepared.run(&mut engine, input, ctx)
        })?;
        after_each(&mut ctx.trace);
    }
    Ok(last)
}

/// The map regions of the run's CPU, after checking what every run of
/// `program` over `input` would refuse alike.
fn map_regions<'p>(
    program: &'p LoadedProgram,
    input: &[u8],
    ctx: &RunContext,
) -> Result<&'p [Region], RunError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(RunError::InputTooLarge {
            len: input.len(),
            limit: MAX_INPUT_LEN,
        });
    }
    let regions = program.map_regions();
    regions.for_cpu(ctx.cpu_id).ok_or(RunError::CpuOutOfRange {
        cpu: ctx.cpu_id,
        possible_cpus: regions.cpus(),
    })
}

/// The buffers a run's own regions live in: the stack, the XDP context and
/// the callback keys, on the caller's stack. Left uninitialised: a run
/// zeroes the stack bytes it can reach and writes the context, and a
/// `bpf_for_each_map_elem` zeroes the keys before mapping them.
struct RunMemory {
    stack: [MaybeUninit<u64>; STACK_SIZE / 8],
    xdp_md: [MaybeUninit<u8>; XDP_MD_SIZE],
    keys: [MaybeUninit<u64>; CALLBACK_KEYS_LEN / 8],
}

impl RunMemory {
    fn new() -> RunMemory {
        RunMemory {
            stack: [MaybeUninit::uninit(); STACK_SIZE / 8],
            xdp_md: [MaybeUninit::uninit(); XDP_MD_SIZE],
            keys: [MaybeUninit::uninit(); CALLBACK_KEYS_LEN / 8],
        }
    }
}

/// What the runs of one call share: the address space over a
/// [`RunMemory`] and the map areas, whose run regions each run sets.
struct Prepared<'m> {
    space: AddressSpace<'m>,
    /// The stack buffer (STACK_SIZE bytes).
    stack_host: *mut u8,
    /// The XDP context buffer (XDP_MD_SIZE bytes).
    xdp_md: *mut u8,
    /// The callback keys as each run starts: unmapped.
    no_keys: Region,
    /// Whether the packet's view in `space` is the one `ctx.packet` has:
    /// after a run of this call that ended well, until a packet is loaded.
    packet_current: Cell<bool>,
}

impl<'m> Prepared<'m> {
    fn new(program: &LoadedProgram, maps: &'m [Region], memory: &'m mut RunMemory) -> Self {
        // Only the top `extent` bytes of the stack can be reached (see
        // `passes::stack_depth`): each run zeroes them, the rest stays
        // outside the stack region.
        let (stack_start, stack_len) = stack_window(program.stack_extent());
        let stack_host = memory.stack.as_mut_ptr().cast::<u8>();
        let xdp_md = memory.xdp_md.as_mut_ptr().cast::<u8>();
        let context = if program.kind() == ProgramKind::Xdp {
            Region {
                start: CONTEXT_START,
                len: XDP_MD_SIZE as u64,
                host: xdp_md,
                writable: false,
            }
        } else {
            // `__sk_buff` is emulated (see `exec::ctx::skb`): every
            // access leaves the fast path.
            Region::EMPTY
        };
        let no_keys = Region {
            start: CALLBACK_KEY_START,
            len: 0,
            host: memory.keys.as_mut_ptr().cast::<u8>(),
            writable: false,
        };
        let space = AddressSpace {
            run: [
                Cell::new(Region::EMPTY),
                Cell::new(context),
                Cell::new(Region {
                    start: stack_start,
                    len: stack_len,
                    host: stack_host.wrapping_add(STACK_SIZE - stack_len as usize),
                    writable: true,
                }),
            ],
            packet: Cell::new(PacketView::NONE),
            maps,
            keys: Cell::new(no_keys),
        };
        Prepared {
            space,
            stack_host,
            xdp_md,
            no_keys,
            packet_current: Cell::new(false),
        }
    }

    /// One run: the stack, the input or packet and the registers as every
    /// run starts, then the program.
    #[inline]
    fn run(
        &self,
        engine: &mut Engine<'_>,
        input: &mut [u8],
        ctx: &mut RunContext,
    ) -> Result<RunOutcome, RunError> {
        if ctx
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Err(RunError::DeadlineExceeded { pc: 0, executed: 0 });
        }
        ctx.charged = 0;
        ctx.pending_charge = 0;
        self.zero_stack();
        self.space.keys.set(self.no_keys);
        let mut regs = [0u64; 16];
        let kind = engine.program.kind();
        match kind {
            ProgramKind::Memory => {
                regs[1] = INPUT_START;
                regs[2] = input.len() as u64;
                self.space.run[0].set(Region {
                    start: INPUT_START,
                    len: input.len() as u64,
                    host: input.as_mut_ptr(),
                    writable: true,
                });
            }
            ProgramKind::Xdp
            | ProgramKind::Tc
            | ProgramKind::SocketFilter
            | ProgramKind::CgroupSkb => {
                let carried = prepare_packet(ctx, kind, input)?;
                // A run that goes on with the packet the last run of this
                // call left (which wrote its layout back, below) finds the
                // view, region and context as that run left them.
                if !(carried && self.packet_current.get()) {
                    self.set_packet(PacketView::of(&mut ctx.packet, kind));
                }
                regs[1] = CONTEXT_START;
            }
        }
        regs[10] = frame_pointer(0);
        let result = engine.run(&mut regs, ctx);
        // A failed run may end a chain of tail calls that moved the packet
        // in another program's space.
        self.packet_current.set(result.is_ok());
        if kind.is_packet() {
            let layout = self.space.packet.get().layout;
            ctx.packet.headroom_dirty |= layout.meta < ctx.packet.headroom();
            ctx.packet.layout = layout;
            // The packet back into the caller's buffer when its length is
            // unchanged and the caller wants it there (the whole of it is in
            // `ctx.packet` in any case).
            if ctx.packet_to_input {
                let out = ctx.packet.bytes();
                if out.len() == input.len() {
                    input.copy_from_slice(out);
                }
            }
        }
        result
    }

    /// The packet's view, its region and (XDP) its context.
    fn set_packet(&self, view: PacketView) {
        if view.kind == ProgramKind::Xdp {
            let bytes = view.xdp_md();
            // SAFETY: `xdp_md` is the XDP_MD_SIZE-byte context buffer of
            // `RunMemory`, which only the run's context region points into,
            // and no run is going on.
            unsafe {
                self.xdp_md
                    .copy_from_nonoverlapping(bytes.as_ptr(), XDP_MD_SIZE)
            };
        }
        self.space.run[0].set(view.region());
        self.space.packet.set(view);
    }

    /// Zeroes the stack's reachable bytes: the top STACK_TOP_ZEROED bytes
    /// with plain stores (sparing a small extent the call to `memset`),
    /// and the rest of the extent.
    fn zero_stack(&self) {
        let extent = self.space.run[2].get().len as usize;
        let top = STACK_SIZE - STACK_TOP_ZEROED;
        // SAFETY: the stack buffer is STACK_SIZE bytes, aligned for u64
        // (`RunMemory::stack`), and only this run's regions point into it
        // (no run is going on): its last STACK_TOP_ZEROED bytes are eight
        // aligned words.
        unsafe {
            self.stack_host
                .add(top)
                .cast::<[u64; STACK_TOP_ZEROED / 8]>()
                .write([0; STACK_TOP_ZEROED / 8]);
        }
        if extent > STACK_TOP_ZEROED {
            // SAFETY: `extent <= STACK_SIZE` (`stack_window`), so the
            // `extent - STACK_TOP_ZEROED` bytes from `STACK_SIZE - extent`
            // end where the zeroed top starts, inside the buffer.
            unsafe {
                self.stack_host
                    .add(STACK_SIZE - extent)
                    .write_bytes(0, extent - STACK_TOP_ZEROED)
            };
        }
    }
}
/// What runs the program in the runs of one call: its compiled code's
/// session, or the interpreter.
struct Engine<'a> {
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    compiled: Option<crate::jit::Session<'a>>,
    program: &'a LoadedProgram,
    space: &'a AddressSpace<'a>,
    stack_host: *mut u8,
}

impl<'a> Engine<'a> {
    fn new(program: &'a LoadedProgram, prepared: &'a Prepared<'a>) -> Self {
        let (space, stack_host) = (&prepared.space, prepared.stack_host);
        Engine {
            #[cfg(all(feature = "jit", target_arch = "x86_64"))]
            compiled: program
                .compiled_code()
                .map(|code| crate::jit::Session::new(code, program, space, stack_host)),
            program,
            space,
            stack_host,
        }
    }

    /// Interprets (or runs the compiled code of) the program from `regs`.
    #[inline]
    fn run(&mut self, regs: &mut [u64; 16], ctx: &mut RunContext) -> Result<RunOutcome, RunError> {
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        if let Some(session) = &mut self.compiled {
            return session.run(regs, ctx);
        }
        interpret::<false>(
            self.program,
            self.space,
            self.stack_host,
            regs,
            ctx,
            Resume::start(STACK_SIZE),
        )
    }
}

/// Loads `input` as the run's packet, or, when `ctx.carry_packet` and the
/// last run of the same kind left one, goes on with that packet and context
/// (and says so).
fn prepare_packet(ctx: &mut RunContext, kind: ProgramKind, input: &[u8]) -> Result<bool, RunError> {
    if ctx.carry_packet && ctx.packet.live == Some(kind) {
        return Ok(true);
    }
    ctx.packet.load(kind, input)?;
    if kind.has_skb() {
        let layout = ctx.packet.layout;
        let frame = &ctx.packet.buf[layout.mac..layout.end];
        ctx.skb = SkbState::new(frame, ctx.skb_input, layout.end - layout.data)?;
    }
    Ok(false)
}
