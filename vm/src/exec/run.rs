//! What a run starts from: the input or packet, the XDP context, the stack
//! and the registers, set up as regions of the run's address space.

use std::cell::Cell;
use std::mem::MaybeUninit;
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
use crate::program::LoadedProgram;

/// Bytes at the top of the stack every run zeroes, whatever its extent.
const STACK_TOP_ZEROED: usize = 64;

/// Runs `program` over `input`: sets up the run's regions and registers,
/// then interprets.
pub(crate) fn execute(
    program: &LoadedProgram,
    input: &mut [u8],
    ctx: &mut RunContext,
) -> Result<RunOutcome, RunError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(RunError::InputTooLarge {
            len: input.len(),
            limit: MAX_INPUT_LEN,
        });
    }
    let regions = program.map_regions();
    let Some(map_regions) = regions.for_cpu(ctx.cpu_id) else {
        return Err(RunError::CpuOutOfRange {
            cpu: ctx.cpu_id,
            possible_cpus: regions.cpus(),
        });
    };
    if ctx
        .deadline
        .is_some_and(|deadline| Instant::now() >= deadline)
    {
        return Err(RunError::DeadlineExceeded { pc: 0, executed: 0 });
    }
    ctx.charged = 0;
    ctx.pending_charge = 0;
    // Only the top `extent` bytes of the stack can be reached (see
    // `passes::stack_depth`): they are zeroed, the rest stays outside the
    // stack region (uninitialised, but for the few words of the top that
    // are always zeroed with plain stores, which spares a small extent the
    // call to `memset`).
    let (stack_start, stack_len) = stack_window(program.stack_extent());
    let extent = stack_len as usize;
    let below = STACK_SIZE - extent;
    let mut stack = [MaybeUninit::<u64>::uninit(); STACK_SIZE / 8];
    let top_words = stack.len() - STACK_TOP_ZEROED / 8;
    stack[top_words..].fill(MaybeUninit::new(0));
    let stack_host = stack.as_mut_ptr().cast::<u8>();
    if extent > STACK_TOP_ZEROED {
        // SAFETY: `below + extent == STACK_SIZE`, the buffer's length in
        // bytes, and `extent - STACK_TOP_ZEROED` bytes from `below` end
        // where the zeroed top starts.
        unsafe {
            stack_host
                .add(below)
                .write_bytes(0, extent - STACK_TOP_ZEROED)
        };
    }
    let mut xdp_md = [0u8; XDP_MD_SIZE];
    // The callback keys: left uninitialised and unmapped until a
    // `bpf_for_each_map_elem` zeroes and maps them.
    let mut keys = [MaybeUninit::<u64>::uninit(); CALLBACK_KEYS_LEN / 8];
    let mut regs = [0u64; 16];
    let kind = program.kind();
    let (input_region, context_region, view) = match kind {
        ProgramKind::Memory => {
            regs[1] = INPUT_START;
            regs[2] = input.len() as u64;
            let region = Region {
                start: INPUT_START,
                len: input.len() as u64,
                host: input.as_mut_ptr(),
                writable: true,
            };
            (region, Region::EMPTY, PacketView::NONE)
        }
        ProgramKind::Xdp | ProgramKind::Tc | ProgramKind::SocketFilter | ProgramKind::CgroupSkb => {
            prepare_packet(ctx, kind, input)?;
            let view = PacketView::of(&mut ctx.packet, kind);
            regs[1] = CONTEXT_START;
            let context = if kind == ProgramKind::Xdp {
                xdp_md.copy_from_slice(&view.xdp_md());
                Region {
                    start: CONTEXT_START,
                    len: XDP_MD_SIZE as u64,
                    host: xdp_md.as_mut_ptr(),
                    writable: false,
                }
            } else {
                // `__sk_buff` is emulated (see `exec::ctx::skb`): every
                // access leaves the fast path.
                Region::EMPTY
            };
            (view.region(), context, view)
        }
    };
    let space = AddressSpace {
        run: [
            Cell::new(input_region),
            Cell::new(context_region),
            Cell::new(Region {
                start: stack_start,
                len: stack_len,
                host: stack_host.wrapping_add(below),
                writable: true,
            }),
        ],
        packet: Cell::new(view),
        maps: map_regions,
        keys: Cell::new(Region {
            start: CALLBACK_KEY_START,
            len: 0,
            host: keys.as_mut_ptr().cast::<u8>(),
            writable: false,
        }),
    };
    regs[10] = frame_pointer(0);
    let result = run_on(program, &space, stack_host, &mut regs, ctx);
    if kind.is_packet() {
        let layout = space.packet.get().layout;
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

/// Interprets (or runs the compiled code of) `program` in `space`.
fn run_on(
    program: &LoadedProgram,
    space: &AddressSpace<'_>,
    stack_host: *mut u8,
    regs: &mut [u64; 16],
    ctx: &mut RunContext,
) -> Result<RunOutcome, RunError> {
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    if let Some(code) = program.compiled_code() {
        return crate::jit::run(code, program, space, stack_host, regs, ctx);
    }
    interpret::<false>(
        program,
        space,
        stack_host,
        regs,
        ctx,
        Resume::start(STACK_SIZE),
    )
}

/// Loads `input` as the run's packet, or, when `ctx.carry_packet` and the
/// last run of the same kind left one, goes on with that packet and context.
fn prepare_packet(ctx: &mut RunContext, kind: ProgramKind, input: &[u8]) -> Result<(), RunError> {
    if ctx.carry_packet && ctx.packet.live == Some(kind) {
        return Ok(());
    }
    ctx.packet.load(kind, input)?;
    if kind.has_skb() {
        let layout = ctx.packet.layout;
        let frame = &ctx.packet.buf[layout.mac..layout.end];
        ctx.skb = SkbState::new(frame, ctx.skb_input, layout.end - layout.data)?;
    }
    Ok(())
}
