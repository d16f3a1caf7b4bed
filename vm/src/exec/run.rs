//! What a run starts from: the input or packet, the XDP context, the stack
//! and the registers, set up as regions of the run's address space.

use std::mem::MaybeUninit;
use std::time::Instant;

use crate::ProgramKind;
use crate::error::RunError;
use crate::exec::context::{RunContext, RunOutcome};
use crate::exec::interp::{Resume, interpret};
use crate::exec::memory::{
    AddressSpace, CONTEXT_START, INPUT_START, MAX_INPUT_LEN, Region, STACK_SIZE, STACK_START,
    XDP_MD_SIZE, frame_pointer,
};
use crate::program::LoadedProgram;

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
    let input_len = input.len() as u64;
    ctx.charged = 0;
    ctx.pending_charge = 0;
    // Only the top `extent` bytes of the stack can be reached (see
    // `passes::stack_depth`): they are zeroed, the rest stays uninitialised
    // and outside the stack region.
    let extent = program.stack_extent().min(STACK_SIZE);
    let below = STACK_SIZE - extent;
    let mut stack = [MaybeUninit::<u64>::uninit(); STACK_SIZE / 8];
    let stack_host = stack.as_mut_ptr().cast::<u8>();
    // SAFETY: `below + extent == STACK_SIZE`, the buffer's length in bytes.
    unsafe { stack_host.add(below).write_bytes(0, extent) };
    let mut xdp_md = [0u8; XDP_MD_SIZE];
    let mut regs = [0u64; 16];
    let input_region = Region {
        start: INPUT_START,
        len: input_len,
        host: input.as_mut_ptr(),
        writable: true,
    };
    let context_region = match program.kind() {
        ProgramKind::Memory => {
            regs[1] = INPUT_START;
            regs[2] = input_len;
            Region::EMPTY
        }
        ProgramKind::Xdp => {
            // MAX_INPUT_LEN keeps INPUT_START + len below 4 GiB.
            let data = INPUT_START as u32;
            let data_end = (INPUT_START + input_len) as u32;
            let fields = [data, data_end, data, 1, 0, 0];
            for (chunk, field) in xdp_md.chunks_exact_mut(4).zip(fields) {
                chunk.copy_from_slice(&field.to_le_bytes());
            }
            regs[1] = CONTEXT_START;
            Region {
                start: CONTEXT_START,
                len: XDP_MD_SIZE as u64,
                host: xdp_md.as_mut_ptr(),
                writable: false,
            }
        }
    };
    let space = AddressSpace {
        run: [
            input_region,
            context_region,
            Region {
                start: STACK_START + below as u64,
                len: extent as u64,
                host: stack_host.wrapping_add(below),
                writable: true,
            },
        ],
        maps: map_regions,
    };
    regs[10] = frame_pointer(0);
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    // The compiled code does not read the clock: a run with a deadline is
    // interpreted.
    if let Some(code) = program.compiled_code()
        && ctx.deadline.is_none()
    {
        return crate::jit::run(code, program, &space, stack_host, &mut regs, ctx);
    }
    interpret::<false>(
        program,
        &space,
        stack_host,
        &mut regs,
        ctx,
        Resume::start(STACK_SIZE),
    )
}
