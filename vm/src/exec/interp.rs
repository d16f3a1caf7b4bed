//! The interpreter loop: one flat dispatch per op over the translated program.
//!
//! # The instruction budget
//!
//! A run executes at most `insn_budget` instructions (an `lddw` counts once,
//! a fused op its parts), plus the units helpers charge
//! ([`HelperContext::charge`]); when the next instruction would exceed it, the
//! run stops with [`RunError::BudgetExhausted`] naming that instruction's
//! slot, having executed exactly the budget.
//!
//! Counting stays per straight-line run, not per instruction. Compaction
//! gives every op the weight of the straight-line run that starts at it
//! (ops up to the next jump, call or exit, through branches not taken:
//! `run_weight`). Control enters a run at the start, at a taken jump or
//! branch, at a callee's first op, at a return, and after a helper that
//! charged; there the fast loop checks that the whole run fits in what is
//! left. If it does, nothing is checked until the next entry: whatever path
//! the run takes, it executes at most that weight. If it does not, the run
//! continues in the exact instance of the same loop (`EXACT = true`), which
//! checks before every op and, when only some parts of a fused op fit,
//! executes those parts alone. A compiled tier would do the same: check the
//! run weight at every block entry, and hand over to the exact interpreter
//! (at that op, with its registers and frames) when it fails.

use std::mem::MaybeUninit;
use std::time::Instant;

use tinybpf_maps::{BpfMap, MapType, shared_mem};

use crate::error::{Access, HelperError, RunError};
use crate::exec::atomic::atomic_rmw;
use crate::exec::budget::exhaust;
use crate::exec::builtin::callbacks::{CALLBACK_RETURN, Step};
use crate::exec::call::{Spent, call_helper, charged_lookup};
use crate::exec::context::{RunContext, RunOutcome};
use crate::exec::ctx::{load_miss, store_miss};
use crate::exec::memory::{
    AddressSpace, FRAME_SIZE, FUNC_REF_BASE, MAP_HANDLE_BASE, MAX_FRAMES, frame_pointer,
    map_value_start,
};
use crate::ir::alu;
use crate::ir::op::{AtomicOp, Op};
use crate::program::LoadedProgram;

/// A saved caller frame.
#[derive(Clone, Copy, Default)]
struct Frame {
    return_pc: usize,
    saved: [u64; 4],
}

/// Constant facts about one map, for inline lookups.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapShape {
    pub max_entries: u64,
    pub elem_size: u64,
    /// An `ARRAY` or `PERCPU_ARRAY`, whose element `i` lies at
    /// `i * elem_size` in the region: lookups are inlined. Other types
    /// look up through the helper.
    pub inline: bool,
}

impl MapShape {
    pub(crate) fn of(map: &BpfMap) -> MapShape {
        MapShape {
            max_entries: u64::from(map.def().max_entries),
            elem_size: u64::from(map.def().value_size.next_multiple_of(8)),
            inline: matches!(map.map_type(), MapType::Array | MapType::PercpuArray),
        }
    }
}

/// Where a run is, besides its registers and memory: what one instance of
/// the loop hands the other.
#[derive(Clone, Copy)]
pub(crate) struct Resume {
    /// The next op.
    pc: usize,
    /// Instructions counted up to `segment`, plus helper units charged
    /// (`RunContext::charged`).
    count: u64,
    /// The op the current straight-line stretch started at.
    segment: usize,
    /// Nested local calls.
    depth: usize,
    /// Byte index in the stack buffer of the current frame's r10.
    frame_top: usize,
    /// The callers' saved state: frame `d` is written by the call that goes
    /// from depth `d` to `d + 1`, so the frames below `depth` are
    /// initialised. Left uninitialised at the start (zeroing them cost every
    /// run a memset).
    frames: [MaybeUninit<Frame>; MAX_FRAMES],
}

impl Resume {
    /// A run's start: op 0, the outermost frame at the top of a stack buffer
    /// of `stack_len` bytes.
    pub(crate) fn start(stack_len: usize) -> Resume {
        Resume {
            pc: 0,
            count: 0,
            segment: 0,
            depth: 0,
            frame_top: stack_len,
            frames: [MaybeUninit::uninit(); MAX_FRAMES],
        }
    }

    /// A run the compiled tier hands over at op `pc` (the start of a
    /// straight-line stretch), having counted `count`, `depth` calls deep,
    /// with each caller's return op and saved r6..r9.
    #[cfg(feature = "jit")]
    pub(crate) fn handover(
        pc: usize,
        count: u64,
        depth: usize,
        callers: [(usize, [u64; 4]); MAX_FRAMES],
        stack_len: usize,
    ) -> Resume {
        Resume {
            pc,
            count,
            segment: pc,
            depth,
            frame_top: stack_len - depth * FRAME_SIZE,
            frames: callers.map(|(return_pc, saved)| MaybeUninit::new(Frame { return_pc, saved })),
        }
    }
}

#[cold]
#[inline(never)]
fn out_of_bounds(pc: usize, addr: u64, size: u64, access: Access) -> RunError {
    RunError::OutOfBounds {
        pc,
        addr,
        size,
        access,
    }
}

/// The fault of a lookup whose key pointer is bad: the same error the
/// `bpf_map_lookup_elem` helper reports, however the lookup was executed.
#[cold]
pub(crate) fn bad_key(pc: usize, addr: u64) -> RunError {
    RunError::Helper {
        pc,
        id: crate::exec::helpers::ids::MAP_LOOKUP_ELEM,
        source: HelperError::OutOfBounds {
            addr,
            size: 4,
            access: Access::Read,
        },
    }
}

#[inline(always)]
fn idx(r: u8) -> usize {
    usize::from(r) & 15
}

/// The interpreter loop, from `start`. `EXACT`: check the budget before
/// every op (see the module doc); otherwise at every entry to a straight-line
/// run, handing over to the exact instance when the run does not fit.
#[allow(clippy::too_many_lines)]
pub(crate) fn interpret<const EXACT: bool>(
    program: &LoadedProgram,
    space: &AddressSpace<'_>,
    stack_host: *mut u8,
    regs: &mut [u64; 16],
    ctx: &mut RunContext,
    start: Resume,
) -> Result<RunOutcome, RunError> {
    let ops = program.ops();
    let at = |index: usize| program.origin(index);
    let budget = ctx.insn_budget;
    let Resume {
        mut pc,
        mut count,
        mut segment,
        mut depth,
        mut frame_top,
        mut frames,
    } = start;

    macro_rules! r {
        ($i:expr) => {
            regs[idx($i)]
        };
    }
    // Instructions are counted per straight-line stretch: when control
    // leaves one (a taken jump, a call, an exit), the weights of the ops from
    // its start to here are added at once from the prefix sums.
    let counts = program.counts();
    macro_rules! settle {
        () => {
            count += counts[pc].prefix - counts[segment].prefix
        };
    }
    // Budgets past 2^63 cannot run out in any run's lifetime; capping them
    // keeps `count + run_weight` below u64::MAX (`count <= budget` always).
    let budget_cap = budget.min(u64::MAX >> 1);
    // The fast loop's limit: the budget, or with a deadline the next clock
    // checkpoint (see `clock_checkpoint`), never beyond the budget.
    let deadline = ctx.deadline;
    let mut cap = match deadline {
        None => budget_cap,
        Some(_) => clock_slice(count, counts[pc].run, budget_cap),
    };
    // Control enters the run at `pc` (settled: `segment == pc`): the fast
    // loop goes on only if the whole run fits in the budget; otherwise it
    // leaves for the exact instance (one shared exit, after the loop).
    macro_rules! enter {
        () => {
            if !EXACT && count + counts[pc].run > cap {
                break;
            }
        };
    }
    macro_rules! jump_if {
        ($cond:expr, $target:expr) => {
            if $cond {
                settle!();
                pc = $target as usize;
                segment = pc;
                enter!();
            }
        };
    }
    // A helper charged budget units: they count, and the rest of the run
    // must still fit.
    macro_rules! charge {
        () => {
            let units = ctx.pending_charge;
            if units != 0 {
                ctx.pending_charge = 0;
                count += units;
                settle!();
                segment = pc;
                enter!();
            }
        };
    }
    // What the run has used so far, for a helper call.
    macro_rules! spent {
        () => {
            Spent {
                count,
                segment,
                next: pc,
            }
        };
    }
    // Enters a callback at `$entry` with r1..r5 = `$args`, one frame down,
    // as a local call (see `exec::builtin::callbacks`); its `exit` returns
    // to `Callbacks::returned`. Each entry charges one budget unit. The
    // caller settled the count up to here.
    macro_rules! push_callback {
        ($entry:expr, $args:expr, $units:expr, $at:expr) => {{
            let (entry, args, units): (usize, [u64; 5], u64) = ($entry, $args, $units);
            if depth + 1 >= MAX_FRAMES {
                return Err(RunError::CallDepthExceeded {
                    pc: $at,
                    limit: MAX_FRAMES,
                });
            }
            if budget - count < units {
                return Err(RunError::BudgetExhausted {
                    pc: at(entry),
                    budget,
                });
            }
            count += units;
            ctx.charged += units;
            frames[depth] = MaybeUninit::new(Frame {
                return_pc: CALLBACK_RETURN,
                saved: [r!(6), r!(7), r!(8), r!(9)],
            });
            depth += 1;
            frame_top -= FRAME_SIZE;
            r!(10) = frame_pointer(depth);
            [r!(1), r!(2), r!(3), r!(4), r!(5)] = args;
            pc = entry;
            segment = pc;
            enter!();
        }};
    }
    // After a helper call: its result, or the callback it asked to enter,
    // or its fault.
    macro_rules! helper_done {
        ($result:expr, $args:expr) => {
            match $result {
                Ok(value) => r!(0) = value,
                Err(RunError::Helper {
                    source: HelperError::EnterCallback,
                    pc: call_at,
                    ..
                }) => {
                    match ctx.callbacks.start(depth, pc, $args, program, space) {
                        Some((entry, first, units)) => {
                            // Counted up to here, then the callback's own.
                            settle!();
                            push_callback!(entry, first, units, call_at);
                            continue;
                        }
                        // Nothing to call (an empty map): the helper's
                        // result is 0, and the run goes on counting its
                        // segment once.
                        None => r!(0) = 0,
                    }
                }
                Err(error) => return Err(error),
            }
        };
    }
    macro_rules! load {
        ($dst:expr, $src:expr, $off:expr, $width:expr, $conv:expr) => {{
            let addr = r!($src).wrapping_add($off as i64 as u64);
            match space.load(addr, $width) {
                Some(v) => r!($dst) = $conv(v),
                None => r!($dst) = $conv(load_miss(space, ctx, at(pc - 1), addr, $width)?),
            }
        }};
    }
    macro_rules! store {
        ($dst:expr, $off:expr, $width:expr, $value:expr) => {{
            let addr = r!($dst).wrapping_add($off as i64 as u64);
            if space.store(addr, $width, $value).is_none() {
                store_miss(space, ctx, at(pc - 1), addr, $width, $value)?;
            }
        }};
    }
    // Accesses proven inside the current frame at load time.
    macro_rules! stack_ptr {
        ($off:expr) => {
            // frame_top is STACK_SIZE - depth * FRAME_SIZE and the translator
            // proved -FRAME_SIZE <= off and off + width <= 0, so the access
            // lies in the buffer; the verifier checked that no op reaches
            // below the frame extent, whose bytes `run::execute` zeroed, so
            // the bytes are initialised.
            stack_host
                .wrapping_add(frame_top)
                .wrapping_offset($off as isize)
        };
    }
    macro_rules! stack_load {
        ($dst:expr, $off:expr, $ty:ty, $conv:expr) => {{
            // SAFETY: see stack_ptr!; the stack buffer is private to this run.
            let v = unsafe { stack_ptr!($off).cast::<$ty>().read_unaligned() };
            r!($dst) = $conv(v);
        }};
    }
    macro_rules! stack_store {
        ($off:expr, $ty:ty, $value:expr) => {{
            // SAFETY: see stack_ptr!; the stack buffer is private to this run.
            unsafe {
                stack_ptr!($off)
                    .cast::<$ty>()
                    .write_unaligned($value as $ty)
            };
        }};
    }

    // The run's CPU's map regions: a per-CPU element has the same address
    // and length on every CPU.
    let map_regions = space.maps;
    // Accesses proven at load time to lie inside a map's value area (see
    // `constprop`); the area never moves while the program holds the map.
    macro_rules! direct_ptr {
        ($region:expr, $offset:expr) => {
            map_regions[usize::from($region)]
                .host
                .wrapping_add($offset as usize)
        };
    }
    macro_rules! direct_load {
        ($region:expr, $offset:expr, $width:expr) => {{
            // SAFETY: `constprop` proved offset + width <= the region's length;
            // map memory is only accessed through `shared_mem`.
            unsafe { shared_mem::load(direct_ptr!($region, $offset), $width) }
        }};
    }
    macro_rules! direct_store {
        ($region:expr, $offset:expr, $width:expr, $value:expr) => {{
            // SAFETY: as for direct_load!, and `constprop` proved the region writable.
            unsafe { shared_mem::store(direct_ptr!($region, $offset), $width, $value) }
        }};
    }

    // Accesses bound at load time to a host address (see `const_addr`).
    macro_rules! fixed_load {
        ($host:expr, $width:expr) => {{
            let ptr = $host.ptr();
            // SAFETY: the verifier proved that the bytes lie inside the value
            // area of a map the program holds (which never moves while the map
            // lives) and that `ptr` is aligned to the width, which lets the
            // compiler drop `shared_mem`'s alignment test; map memory is only
            // accessed through `shared_mem`.
            unsafe {
                std::hint::assert_unchecked(ptr.addr().is_multiple_of($width));
                shared_mem::load(ptr, $width)
            }
        }};
    }
    macro_rules! fixed_store {
        ($host:expr, $width:expr, $value:expr) => {{
            let ptr = $host.ptr();
            // SAFETY: as for fixed_load!, and the verifier proved the map writable.
            unsafe {
                std::hint::assert_unchecked(ptr.addr().is_multiple_of($width));
                shared_mem::store(ptr, $width, $value)
            }
        }};
    }

    if !EXACT && count + counts[pc].run > cap {
        return exact(program, space, stack_host, regs, ctx, start);
    }
    // Only a clock checkpoint repeats this: the inner loop is the run.
    'slices: loop {
        loop {
            if EXACT {
                let done = count + (counts[pc].prefix - counts[segment].prefix);
                let weight = counts[pc + 1].prefix - counts[pc].prefix;
                if done.saturating_add(weight) > budget {
                    return Err(exhaust(program, regs, pc, budget - done, budget));
                }
            }
            // SAFETY: pc is always a valid index: it starts at 0 (programs are
            // non-empty), every jump and call target was checked to be inside the
            // program, a return goes back to the slot after a call (which is not
            // the last slot, since the last slot must be exit or ja), and the
            // last slot never falls through.
            let op = unsafe { *ops.get_unchecked(pc) };
            pc += 1;
            match op {
                Op::Add64Imm { dst, imm } => r!(dst) = alu::add64(r!(dst), imm),
                Op::Sub64Imm { dst, imm } => r!(dst) = alu::sub64(r!(dst), imm),
                Op::Mul64Imm { dst, imm } => r!(dst) = alu::mul64(r!(dst), imm),
                Op::Div64Imm { dst, imm } => r!(dst) = alu::div64(r!(dst), imm),
                Op::SDiv64Imm { dst, imm } => r!(dst) = alu::sdiv64(r!(dst), imm),
                Op::Mod64Imm { dst, imm } => r!(dst) = alu::mod64(r!(dst), imm),
                Op::SMod64Imm { dst, imm } => r!(dst) = alu::smod64(r!(dst), imm),
                Op::Or64Imm { dst, imm } => r!(dst) = alu::or64(r!(dst), imm),
                Op::And64Imm { dst, imm } => r!(dst) = alu::and64(r!(dst), imm),
                Op::Lsh64Imm { dst, imm } => r!(dst) = alu::lsh64(r!(dst), imm),
                Op::Rsh64Imm { dst, imm } => r!(dst) = alu::rsh64(r!(dst), imm),
                Op::Arsh64Imm { dst, imm } => r!(dst) = alu::arsh64(r!(dst), imm),
                Op::Xor64Imm { dst, imm } => r!(dst) = alu::xor64(r!(dst), imm),
                Op::Mov64Imm { dst, imm } => r!(dst) = imm,
                Op::Add64Reg { dst, src } => r!(dst) = alu::add64(r!(dst), r!(src)),
                Op::Sub64Reg { dst, src } => r!(dst) = alu::sub64(r!(dst), r!(src)),
                Op::Mul64Reg { dst, src } => r!(dst) = alu::mul64(r!(dst), r!(src)),
                Op::Div64Reg { dst, src } => r!(dst) = alu::div64(r!(dst), r!(src)),
                Op::SDiv64Reg { dst, src } => r!(dst) = alu::sdiv64(r!(dst), r!(src)),
                Op::Mod64Reg { dst, src } => r!(dst) = alu::mod64(r!(dst), r!(src)),
                Op::SMod64Reg { dst, src } => r!(dst) = alu::smod64(r!(dst), r!(src)),
                Op::Or64Reg { dst, src } => r!(dst) = alu::or64(r!(dst), r!(src)),
                Op::And64Reg { dst, src } => r!(dst) = alu::and64(r!(dst), r!(src)),
                Op::Lsh64Reg { dst, src } => r!(dst) = alu::lsh64(r!(dst), r!(src)),
                Op::Rsh64Reg { dst, src } => r!(dst) = alu::rsh64(r!(dst), r!(src)),
                Op::Arsh64Reg { dst, src } => r!(dst) = alu::arsh64(r!(dst), r!(src)),
                Op::Xor64Reg { dst, src } => r!(dst) = alu::xor64(r!(dst), r!(src)),
                Op::Mov64Reg { dst, src } => r!(dst) = r!(src),
                Op::MovSx64 { dst, src, bits } => r!(dst) = alu::sign_extend(r!(src), bits),
                Op::Neg64 { dst } => r!(dst) = alu::neg64(r!(dst)),
                Op::Add32Imm { dst, imm } => r!(dst) = alu::add32(r!(dst), u64::from(imm)),
                Op::Sub32Imm { dst, imm } => r!(dst) = alu::sub32(r!(dst), u64::from(imm)),
                Op::Mul32Imm { dst, imm } => r!(dst) = alu::mul32(r!(dst), u64::from(imm)),
                Op::Div32Imm { dst, imm } => r!(dst) = alu::div32(r!(dst), u64::from(imm)),
                Op::SDiv32Imm { dst, imm } => r!(dst) = alu::sdiv32(r!(dst), u64::from(imm)),
                Op::Mod32Imm { dst, imm } => r!(dst) = alu::mod32(r!(dst), u64::from(imm)),
                Op::SMod32Imm { dst, imm } => r!(dst) = alu::smod32(r!(dst), u64::from(imm)),
                Op::Or32Imm { dst, imm } => r!(dst) = alu::or32(r!(dst), u64::from(imm)),
                Op::And32Imm { dst, imm } => r!(dst) = alu::and32(r!(dst), u64::from(imm)),
                Op::Lsh32Imm { dst, imm } => r!(dst) = alu::lsh32(r!(dst), u64::from(imm)),
                Op::Rsh32Imm { dst, imm } => r!(dst) = alu::rsh32(r!(dst), u64::from(imm)),
                Op::Arsh32Imm { dst, imm } => r!(dst) = alu::arsh32(r!(dst), u64::from(imm)),
                Op::Xor32Imm { dst, imm } => r!(dst) = alu::xor32(r!(dst), u64::from(imm)),
                Op::Mov32Imm { dst, imm } => r!(dst) = u64::from(imm),
                Op::Add32Reg { dst, src } => r!(dst) = alu::add32(r!(dst), r!(src)),
                Op::Sub32Reg { dst, src } => r!(dst) = alu::sub32(r!(dst), r!(src)),
                Op::Mul32Reg { dst, src } => r!(dst) = alu::mul32(r!(dst), r!(src)),
                Op::Div32Reg { dst, src } => r!(dst) = alu::div32(r!(dst), r!(src)),
                Op::SDiv32Reg { dst, src } => r!(dst) = alu::sdiv32(r!(dst), r!(src)),
                Op::Mod32Reg { dst, src } => r!(dst) = alu::mod32(r!(dst), r!(src)),
                Op::SMod32Reg { dst, src } => r!(dst) = alu::smod32(r!(dst), r!(src)),
                Op::Or32Reg { dst, src } => r!(dst) = alu::or32(r!(dst), r!(src)),
                Op::And32Reg { dst, src } => r!(dst) = alu::and32(r!(dst), r!(src)),
                Op::Lsh32Reg { dst, src } => r!(dst) = alu::lsh32(r!(dst), r!(src)),
                Op::Rsh32Reg { dst, src } => r!(dst) = alu::rsh32(r!(dst), r!(src)),
                Op::Arsh32Reg { dst, src } => r!(dst) = alu::arsh32(r!(dst), r!(src)),
                Op::Xor32Reg { dst, src } => r!(dst) = alu::xor32(r!(dst), r!(src)),
                Op::Mov32Reg { dst, src } => r!(dst) = alu::mov32(r!(src)),
                Op::MovSx32 { dst, src, bits } => r!(dst) = alu::sign_extend32(r!(src), bits),
                Op::Neg32 { dst } => r!(dst) = alu::neg32(r!(dst)),
                Op::ToLe { dst, bits } => r!(dst) = alu::truncate(r!(dst), bits),
                Op::ToBe { dst, bits } | Op::Bswap { dst, bits } => {
                    r!(dst) = alu::swap(r!(dst), bits)
                }
                Op::LoadImm64 { dst, imm } => r!(dst) = imm,
                Op::LoadFunc { dst, target } => r!(dst) = FUNC_REF_BASE + u64::from(target),
                // Removed when the program is compacted.
                Op::LddwTail | Op::Nop => debug_assert!(false, "executed a compacted-away op"),

                Op::LdxB { dst, src, off } => load!(dst, src, off, 1, |v| v),
                Op::LdxH { dst, src, off } => load!(dst, src, off, 2, |v| v),
                Op::LdxW { dst, src, off } => load!(dst, src, off, 4, |v| v),
                Op::LdxDW { dst, src, off } => load!(dst, src, off, 8, |v| v),
                Op::LdxSB { dst, src, off } => load!(dst, src, off, 1, |v| v as u8 as i8 as u64),
                Op::LdxSH { dst, src, off } => load!(dst, src, off, 2, |v| v as u16 as i16 as u64),
                Op::LdxSW { dst, src, off } => load!(dst, src, off, 4, |v| v as u32 as i32 as u64),
                Op::StB { dst, off, imm } => store!(dst, off, 1, imm),
                Op::StH { dst, off, imm } => store!(dst, off, 2, imm),
                Op::StW { dst, off, imm } => store!(dst, off, 4, imm),
                Op::StDW { dst, off, imm } => store!(dst, off, 8, imm),
                Op::StxB { dst, src, off } => store!(dst, off, 1, r!(src)),
                Op::StxH { dst, src, off } => store!(dst, off, 2, r!(src)),
                Op::StxW { dst, src, off } => store!(dst, off, 4, r!(src)),
                Op::StxDW { dst, src, off } => store!(dst, off, 8, r!(src)),
                Op::StackLdxB { dst, off } => stack_load!(dst, off, u8, u64::from),
                Op::StackLdxH { dst, off } => {
                    stack_load!(dst, off, u16, |v: u16| u64::from(u16::from_le(v)))
                }
                Op::StackLdxW { dst, off } => {
                    stack_load!(dst, off, u32, |v: u32| u64::from(u32::from_le(v)))
                }
                Op::StackLdxDW { dst, off } => stack_load!(dst, off, u64, u64::from_le),
                Op::StackLdxSB { dst, off } => stack_load!(dst, off, u8, |v: u8| v as i8 as u64),
                Op::StackLdxSH { dst, off } => {
                    stack_load!(dst, off, u16, |v: u16| u16::from_le(v) as i16 as u64)
                }
                Op::StackLdxSW { dst, off } => {
                    stack_load!(dst, off, u32, |v: u32| u32::from_le(v) as i32 as u64)
                }
                Op::StackStB { off, imm } => stack_store!(off, u8, imm),
                Op::StackStH { off, imm } => stack_store!(off, u16, (imm as u16).to_le()),
                Op::StackStW { off, imm } => stack_store!(off, u32, (imm as u32).to_le()),
                Op::StackStDW { off, imm } => stack_store!(off, u64, imm.to_le()),
                Op::StackStxB { src, off } => stack_store!(off, u8, r!(src)),
                Op::StackStxH { src, off } => stack_store!(off, u16, (r!(src) as u16).to_le()),
                Op::StackStxW { src, off } => stack_store!(off, u32, (r!(src) as u32).to_le()),
                Op::StackStxDW { src, off } => stack_store!(off, u64, r!(src).to_le()),
                Op::Atomic {
                    op,
                    wide,
                    dst,
                    src,
                    off,
                } => {
                    let addr = r!(dst).wrapping_add(off as i64 as u64);
                    let size = if wide { 8 } else { 4 };
                    if !addr.is_multiple_of(size) {
                        return Err(RunError::MisalignedAtomic {
                            pc: at(pc - 1),
                            addr,
                            size,
                        });
                    }
                    let Some(host) = space.resolve(addr, size, Access::Write) else {
                        return Err(out_of_bounds(at(pc - 1), addr, size, Access::Write));
                    };
                    // SAFETY: `resolve` proved `size` bytes at `host` lie in a
                    // live, writable region, only accessed through `shared_mem`.
                    let old = unsafe { atomic_rmw(host, wide, op, r!(src), r!(0)) };
                    match op {
                        AtomicOp::CmpXchg => r!(0) = old,
                        AtomicOp::Xchg
                        | AtomicOp::Add { fetch: true }
                        | AtomicOp::Or { fetch: true }
                        | AtomicOp::And { fetch: true }
                        | AtomicOp::Xor { fetch: true } => r!(src) = old,
                        AtomicOp::Add { fetch: false }
                        | AtomicOp::Or { fetch: false }
                        | AtomicOp::And { fetch: false }
                        | AtomicOp::Xor { fetch: false } => {}
                    }
                }

                Op::Ja { target } => jump_if!(true, target),
                Op::JeqImm { dst, imm, target } => jump_if!(r!(dst) == imm, target),
                Op::JgtImm { dst, imm, target } => jump_if!(r!(dst) > imm, target),
                Op::JgeImm { dst, imm, target } => jump_if!(r!(dst) >= imm, target),
                Op::JsetImm { dst, imm, target } => jump_if!(r!(dst) & imm != 0, target),
                Op::JneImm { dst, imm, target } => jump_if!(r!(dst) != imm, target),
                Op::JsgtImm { dst, imm, target } => jump_if!((r!(dst) as i64) > imm as i64, target),
                Op::JsgeImm { dst, imm, target } => {
                    jump_if!((r!(dst) as i64) >= imm as i64, target)
                }
                Op::JltImm { dst, imm, target } => jump_if!(r!(dst) < imm, target),
                Op::JleImm { dst, imm, target } => jump_if!(r!(dst) <= imm, target),
                Op::JsltImm { dst, imm, target } => jump_if!((r!(dst) as i64) < imm as i64, target),
                Op::JsleImm { dst, imm, target } => {
                    jump_if!((r!(dst) as i64) <= imm as i64, target)
                }
                Op::JeqReg { dst, src, target } => jump_if!(r!(dst) == r!(src), target),
                Op::JgtReg { dst, src, target } => jump_if!(r!(dst) > r!(src), target),
                Op::JgeReg { dst, src, target } => jump_if!(r!(dst) >= r!(src), target),
                Op::JsetReg { dst, src, target } => jump_if!(r!(dst) & r!(src) != 0, target),
                Op::JneReg { dst, src, target } => jump_if!(r!(dst) != r!(src), target),
                Op::JsgtReg { dst, src, target } => {
                    jump_if!((r!(dst) as i64) > r!(src) as i64, target)
                }
                Op::JsgeReg { dst, src, target } => {
                    jump_if!((r!(dst) as i64) >= r!(src) as i64, target)
                }
                Op::JltReg { dst, src, target } => jump_if!(r!(dst) < r!(src), target),
                Op::JleReg { dst, src, target } => jump_if!(r!(dst) <= r!(src), target),
                Op::JsltReg { dst, src, target } => {
                    jump_if!((r!(dst) as i64) < r!(src) as i64, target)
                }
                Op::JsleReg { dst, src, target } => {
                    jump_if!((r!(dst) as i64) <= r!(src) as i64, target)
                }
                Op::Jeq32Imm { dst, imm, target } => jump_if!(r!(dst) as u32 == imm, target),
                Op::Jgt32Imm { dst, imm, target } => jump_if!(r!(dst) as u32 > imm, target),
                Op::Jge32Imm { dst, imm, target } => jump_if!(r!(dst) as u32 >= imm, target),
                Op::Jset32Imm { dst, imm, target } => jump_if!(r!(dst) as u32 & imm != 0, target),
                Op::Jne32Imm { dst, imm, target } => jump_if!(r!(dst) as u32 != imm, target),
                Op::Jsgt32Imm { dst, imm, target } => {
                    jump_if!((r!(dst) as i32) > imm as i32, target)
                }
                Op::Jsge32Imm { dst, imm, target } => {
                    jump_if!((r!(dst) as i32) >= imm as i32, target)
                }
                Op::Jlt32Imm { dst, imm, target } => jump_if!((r!(dst) as u32) < imm, target),
                Op::Jle32Imm { dst, imm, target } => jump_if!(r!(dst) as u32 <= imm, target),
                Op::Jslt32Imm { dst, imm, target } => {
                    jump_if!((r!(dst) as i32) < imm as i32, target)
                }
                Op::Jsle32Imm { dst, imm, target } => {
                    jump_if!((r!(dst) as i32) <= imm as i32, target)
                }
                Op::Jeq32Reg { dst, src, target } => {
                    jump_if!(r!(dst) as u32 == r!(src) as u32, target)
                }
                Op::Jgt32Reg { dst, src, target } => {
                    jump_if!(r!(dst) as u32 > r!(src) as u32, target)
                }
                Op::Jge32Reg { dst, src, target } => {
                    jump_if!(r!(dst) as u32 >= r!(src) as u32, target)
                }
                Op::Jset32Reg { dst, src, target } => {
                    jump_if!((r!(dst) & r!(src)) as u32 != 0, target)
                }
                Op::Jne32Reg { dst, src, target } => {
                    jump_if!(r!(dst) as u32 != r!(src) as u32, target)
                }
                Op::Jsgt32Reg { dst, src, target } => {
                    jump_if!((r!(dst) as i32) > r!(src) as i32, target)
                }
                Op::Jsge32Reg { dst, src, target } => {
                    jump_if!((r!(dst) as i32) >= r!(src) as i32, target)
                }
                Op::Jlt32Reg { dst, src, target } => {
                    jump_if!((r!(dst) as u32) < r!(src) as u32, target)
                }
                Op::Jle32Reg { dst, src, target } => {
                    jump_if!(r!(dst) as u32 <= r!(src) as u32, target)
                }
                Op::Jslt32Reg { dst, src, target } => {
                    jump_if!((r!(dst) as i32) < r!(src) as i32, target)
                }
                Op::Jsle32Reg { dst, src, target } => {
                    jump_if!((r!(dst) as i32) <= r!(src) as i32, target)
                }

                Op::MovAdd64Imm { dst, src, imm } => r!(dst) = alu::add64(r!(src), imm),
                Op::MovSub64Imm { dst, src, imm } => r!(dst) = alu::sub64(r!(src), imm),
                Op::MovMul64Imm { dst, src, imm } => r!(dst) = alu::mul64(r!(src), imm),
                Op::MovAnd64Imm { dst, src, imm } => r!(dst) = alu::and64(r!(src), imm),
                Op::MovOr64Imm { dst, src, imm } => r!(dst) = alu::or64(r!(src), imm),
                Op::MovXor64Imm { dst, src, imm } => r!(dst) = alu::xor64(r!(src), imm),
                Op::MovLsh64Imm { dst, src, imm } => r!(dst) = alu::lsh64(r!(src), imm),
                Op::MovRsh64Imm { dst, src, imm } => r!(dst) = alu::rsh64(r!(src), imm),
                Op::MovArsh64Imm { dst, src, imm } => r!(dst) = alu::arsh64(r!(src), imm),
                Op::MovAdd64Reg { dst, src, src2 } => r!(dst) = alu::add64(r!(src), r!(src2)),
                Op::MovSub64Reg { dst, src, src2 } => r!(dst) = alu::sub64(r!(src), r!(src2)),
                Op::MovAnd64Reg { dst, src, src2 } => r!(dst) = alu::and64(r!(src), r!(src2)),
                Op::MovOr64Reg { dst, src, src2 } => r!(dst) = alu::or64(r!(src), r!(src2)),
                Op::MovXor64Reg { dst, src, src2 } => r!(dst) = alu::xor64(r!(src), r!(src2)),
                Op::XorShl64 { dst, src, imm } => r!(dst) = r!(src) ^ alu::lsh64(r!(src), imm),
                Op::XorShr64 { dst, src, imm } => r!(dst) = r!(src) ^ alu::rsh64(r!(src), imm),
                Op::AddJeqImm {
                    dst,
                    imm,
                    cmp,
                    target,
                } => {
                    r!(dst) = alu::add64(r!(dst), imm as i64 as u64);
                    jump_if!(r!(dst) == cmp as i64 as u64, target);
                }
                Op::AddJneImm {
                    dst,
                    imm,
                    cmp,
                    target,
                } => {
                    r!(dst) = alu::add64(r!(dst), imm as i64 as u64);
                    jump_if!(r!(dst) != cmp as i64 as u64, target);
                }
                Op::AndJeqImm {
                    dst,
                    imm,
                    cmp,
                    target,
                } => {
                    r!(dst) = alu::and64(r!(dst), imm as i64 as u64);
                    jump_if!(r!(dst) == cmp as i64 as u64, target);
                }
                Op::AndJneImm {
                    dst,
                    imm,
                    cmp,
                    target,
                } => {
                    r!(dst) = alu::and64(r!(dst), imm as i64 as u64);
                    jump_if!(r!(dst) != cmp as i64 as u64, target);
                }
                Op::Zext32 { dst, src, .. } => r!(dst) = alu::mov32(r!(src)),
                Op::Sext32 { dst, src, .. } => r!(dst) = alu::sext32(r!(src)),

                Op::DirectLdxB {
                    dst,
                    region,
                    offset,
                } => r!(dst) = direct_load!(region, offset, 1),
                Op::DirectLdxH {
                    dst,
                    region,
                    offset,
                } => r!(dst) = direct_load!(region, offset, 2),
                Op::DirectLdxW {
                    dst,
                    region,
                    offset,
                } => r!(dst) = direct_load!(region, offset, 4),
                Op::DirectLdxDW {
                    dst,
                    region,
                    offset,
                } => r!(dst) = direct_load!(region, offset, 8),
                Op::DirectStxB {
                    src,
                    region,
                    offset,
                } => direct_store!(region, offset, 1, r!(src)),
                Op::DirectStxH {
                    src,
                    region,
                    offset,
                } => direct_store!(region, offset, 2, r!(src)),
                Op::DirectStxW {
                    src,
                    region,
                    offset,
                } => direct_store!(region, offset, 4, r!(src)),
                Op::DirectStxDW {
                    src,
                    region,
                    offset,
                } => direct_store!(region, offset, 8, r!(src)),
                Op::DirectStB {
                    imm,
                    region,
                    offset,
                } => direct_store!(region, offset, 1, imm),
                Op::DirectStH {
                    imm,
                    region,
                    offset,
                } => direct_store!(region, offset, 2, imm),
                Op::DirectStW {
                    imm,
                    region,
                    offset,
                } => direct_store!(region, offset, 4, imm),
                Op::DirectStDW {
                    imm,
                    region,
                    offset,
                } => direct_store!(region, offset, 8, imm),
                Op::FixedLdxB { dst, host } => r!(dst) = fixed_load!(host, 1),
                Op::FixedLdxH { dst, host } => r!(dst) = fixed_load!(host, 2),
                Op::FixedLdxW { dst, host } => r!(dst) = fixed_load!(host, 4),
                Op::FixedLdxDW { dst, host } => r!(dst) = fixed_load!(host, 8),
                Op::FixedStxB { src, host } => fixed_store!(host, 1, r!(src)),
                Op::FixedStxH { src, host } => fixed_store!(host, 2, r!(src)),
                Op::FixedStxW { src, host } => fixed_store!(host, 4, r!(src)),
                Op::FixedStxDW { src, host } => fixed_store!(host, 8, r!(src)),
                Op::FixedStB { imm, host } => fixed_store!(host, 1, imm as i64 as u64),
                Op::FixedStH { imm, host } => fixed_store!(host, 2, imm as i64 as u64),
                Op::FixedStW { imm, host } => fixed_store!(host, 4, imm as i64 as u64),
                Op::FixedStDW { imm, host } => fixed_store!(host, 8, imm as i64 as u64),
                Op::MapLookup => {
                    let (handle, key_addr) = (r!(1), r!(2));
                    match program.map_shape(handle.wrapping_sub(MAP_HANDLE_BASE)) {
                        Some((index, shape)) if shape.inline => {
                            let Some(key) = space.load(key_addr, 4) else {
                                return Err(bad_key(at(pc - 1), key_addr));
                            };
                            r!(0) = element_address(index, shape, key);
                        }
                        // Other types through the helper, which charges for the key.
                        Some(_) => {
                            r!(0) =
                                charged_lookup(program, space, ctx, spent!(), handle, key_addr)?;
                            charge!();
                        }
                        None => r!(0) = 0,
                    }
                }
                Op::LookupConst { imm } => r!(0) = imm,
                Op::LookupInline { map } => {
                    let key_addr = r!(2);
                    let Some(key) = space.load(key_addr, 4) else {
                        return Err(bad_key(at(pc - 1), key_addr));
                    };
                    let index = usize::from(map);
                    let shape = program.shapes()[index];
                    r!(0) = element_address(index, shape, key);
                }
                Op::CallHelper { slot } => {
                    let helper = &program.helper_table()[slot as usize];
                    let args = [r!(1), r!(2), r!(3), r!(4), r!(5)];
                    helper_done!(
                        call_helper(program, helper, space, ctx, args, spent!()),
                        args
                    );
                    charge!();
                }
                Op::CallReg { reg } => {
                    let id = r!(reg);
                    let Some(helper) = u32::try_from(id)
                        .ok()
                        .and_then(|id| program.registry().get(id))
                    else {
                        return Err(RunError::UnknownHelper { pc: at(pc - 1), id });
                    };
                    let args = [r!(1), r!(2), r!(3), r!(4), r!(5)];
                    helper_done!(
                        call_helper(program, helper, space, ctx, args, spent!()),
                        args
                    );
                    charge!();
                }
                Op::CallLocal { target } => {
                    if depth + 1 >= MAX_FRAMES {
                        return Err(RunError::CallDepthExceeded {
                            pc: at(pc - 1),
                            limit: MAX_FRAMES,
                        });
                    }
                    frames[depth] = MaybeUninit::new(Frame {
                        return_pc: pc,
                        saved: [r!(6), r!(7), r!(8), r!(9)],
                    });
                    depth += 1;
                    frame_top -= FRAME_SIZE;
                    r!(10) = frame_pointer(depth);
                    settle!();
                    pc = target as usize;
                    segment = pc;
                    enter!();
                }
                Op::Exit => {
                    settle!();
                    if depth == 0 {
                        return Ok(RunOutcome {
                            retval: r!(0),
                            insns: count - ctx.charged,
                            redirect: ctx.redirect,
                        });
                    }
                    depth -= 1;
                    // SAFETY: `depth` was above this value, and it only
                    // grows after the frame at its old value is written
                    // (`CallLocal`, a callback's entry; a handover's frames
                    // are all written): frame `depth` is initialised.
                    let frame = unsafe { frames[depth].assume_init() };
                    [r!(6), r!(7), r!(8), r!(9)] = frame.saved;
                    frame_top += FRAME_SIZE;
                    r!(10) = frame_pointer(depth);
                    if frame.return_pc == CALLBACK_RETURN {
                        // A callback returned to the helper loop that entered it.
                        let exit_at = at(pc - 1);
                        match ctx.callbacks.returned(depth, r!(0), program, space) {
                            Ok(Step::Again { entry, args, units }) => {
                                push_callback!(entry, args, units, exit_at);
                                continue;
                            }
                            Ok(Step::Done {
                                result,
                                saved,
                                return_pc,
                            }) => {
                                r!(0) = result;
                                [r!(1), r!(2), r!(3), r!(4), r!(5)] = saved;
                                pc = return_pc;
                            }
                            Err((id, source)) => {
                                return Err(RunError::Helper {
                                    pc: exit_at,
                                    id,
                                    source,
                                });
                            }
                        }
                    } else {
                        pc = frame.return_pc;
                    }
                    segment = pc;
                    enter!();
                }
            }
        }
        // Only the fast instance leaves the loop: the run entered at `pc` does
        // not fit under `cap`. Short of the budget, that is a clock checkpoint.
        if cap < budget_cap {
            cap = clock_checkpoint(deadline, count, counts[pc].run, budget_cap, at(pc))?;
            if count + counts[pc].run <= cap {
                continue 'slices;
            }
        }
        break;
    }
    // The run entered at `pc` does not fit in what is left of the budget.
    let resume = Resume {
        pc,
        count,
        segment,
        depth,
        frame_top,
        frames,
    };
    exact(program, space, stack_host, regs, ctx, resume)
}

/// Budget units between two readings of the clock in a run with a
/// deadline ([`RunContext::deadline`]): about 65 µs of plain instructions
/// here, and a bounded time of helper work (see `doc/safety.md`).
pub const CLOCK_SLICE: u64 = 1 << 16;

/// The fast loop's limit after a clock checkpoint at `count`: one slice
/// further (or the whole straight-line run entered now, if longer), never
/// beyond the budget.
#[inline]
pub(crate) fn clock_slice(count: u64, run: u64, budget_cap: u64) -> u64 {
    count.saturating_add(CLOCK_SLICE.max(run)).min(budget_cap)
}

/// A clock checkpoint: the run ends if its deadline has passed; otherwise
/// the fast loop's next limit.
#[cold]
#[inline(never)]
pub(crate) fn clock_checkpoint(
    deadline: Option<Instant>,
    count: u64,
    run: u64,
    budget_cap: u64,
    pc: usize,
) -> Result<u64, RunError> {
    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return Err(RunError::DeadlineExceeded {
            pc,
            executed: count,
        });
    }
    Ok(clock_slice(count, run, budget_cap))
}

/// Continues a run in the exact instance of the loop.
#[cold]
#[inline(never)]
fn exact(
    program: &LoadedProgram,
    space: &AddressSpace<'_>,
    stack_host: *mut u8,
    regs: &mut [u64; 16],
    ctx: &mut RunContext,
    resume: Resume,
) -> Result<RunOutcome, RunError> {
    interpret::<true>(program, space, stack_host, regs, ctx, resume)
}

#[inline(always)]
fn element_address(index: usize, shape: MapShape, key: u64) -> u64 {
    if key < shape.max_entries {
        map_value_start(index) + key * shape.elem_size
    } else {
        0
    }
}
