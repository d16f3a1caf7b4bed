//! Events a program sends to user space: `bpf_perf_event_output` (25) into a
//! `PERF_EVENT_ARRAY`, and the ring buffer helpers `bpf_ringbuf_output`
//! (130), `_reserve` (131), `_submit` (132), `_discard` (133) and `_query`
//! (134) on a `RINGBUF`. The maps keep the records (tinybpf-maps'
//! `perf_event` and `ringbuf` modules); user space drains them after the
//! run.
//!
//! A reserved record is a stretch of the ring map's region the program
//! writes through ordinary stores. The kernel's verifier refuses a program
//! that may end without submitting or discarding one; tinybpf tracks the
//! run's reservations and discards those left open when the run ends (on
//! an error too), so the ring never stays blocked.

use tinybpf_maps::{BpfMap, ProgramOp};

use crate::error::HelperError;
use crate::exec::helpers::{HelperContext, check_op, errno_result, ids, units_for, with_bytes};
use crate::exec::memory::{FIRST_MAP_SLOT, map_value_start};

/// `BPF_F_CTXLEN_MASK`: how many packet bytes to append to a perf sample.
const BPF_F_CTXLEN_MASK: u64 = 0xfffff << 32;
/// `BPF_F_INDEX_MASK`.
const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;

const EINVAL: u64 = (-22i64) as u64;
const EFAULT: u64 = (-14i64) as u64;

/// `long bpf_perf_event_output(ctx, map, u64 flags, data, u64 size)` in a
/// packet program (the kernel's `bpf_xdp_event_output` and
/// `bpf_skb_event_output`): unknown flag bits -EINVAL; more packet bytes
/// asked for (`flags >> 32`) than the packet has -EFAULT; then the map's
/// checks (index past the end -E2BIG, no event -ENOENT, another CPU's
/// entry -EOPNOTSUPP, a full buffer -ENOSPC).
pub(crate) fn perf_event_output(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[1]) else {
        return Ok(EINVAL);
    };
    check_op(
        map,
        index,
        ids::PERF_EVENT_OUTPUT,
        ProgramOp::PerfEventOutput,
    )?;
    let (flags, data, size) = (args[2], args[3], args[4]);
    if flags & !(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK) != 0 {
        return Ok(EINVAL);
    }
    let ctx_len = (flags & BPF_F_CTXLEN_MASK) >> 32;
    let (packet, packet_len) = ctx.packet();
    if ctx_len > packet_len {
        return Ok(EFAULT);
    }
    let Ok(size) = usize::try_from(size) else {
        return Err(too_large(data, size));
    };
    ctx.charge(units_for(size) + units_for(ctx_len as usize))?;
    let cpu = ctx.cpu_id();
    let space = ctx.space();
    let result = with_bytes(space, data, size, |data| {
        with_bytes(space, packet, ctx_len as usize, |packet| {
            map.perf_event_output(cpu, flags, data, packet)
        })
    })??;
    Ok(errno_result(result))
}

fn too_large(addr: u64, size: u64) -> HelperError {
    HelperError::OutOfBounds {
        addr,
        size,
        access: crate::Access::Read,
    }
}

/// `long bpf_ringbuf_output(map, data, u64 size, u64 flags)`: flags other
/// than `BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP` -EINVAL; no room (or a
/// record larger than the ring) -EAGAIN.
pub(crate) fn ringbuf_output(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(EINVAL);
    };
    check_op(map, index, ids::RINGBUF_OUTPUT, ProgramOp::Ringbuf)?;
    let (data, size, flags) = (args[1], args[2], args[3]);
    let Ok(size) = usize::try_from(size) else {
        return Err(too_large(data, size));
    };
    ctx.charge(units_for(size))?;
    let result = with_bytes(ctx.space(), data, size, |data| {
        map.ringbuf_output(data, flags)
    })?;
    Ok(errno_result(result))
}

/// `void *bpf_ringbuf_reserve(map, u64 size, u64 flags)`: the address of a
/// `size`-byte record the program may write, or NULL (flags not 0, larger
/// than the ring, no room).
pub(crate) fn ringbuf_reserve(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(0);
    };
    check_op(map, index, ids::RINGBUF_RESERVE, ProgramOp::Ringbuf)?;
    let Some(offset) = map.ringbuf_reserve(args[1], args[2]) else {
        return Ok(0);
    };
    ctx.track_reservation(map, offset);
    Ok(map_value_start(index) + offset as u64)
}

/// `bpf_ringbuf_submit(data, flags)`: publishes the record.
pub(crate) fn ringbuf_submit(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    commit(ctx, args[0], false)
}

/// `bpf_ringbuf_discard(data, flags)`: drops the record.
pub(crate) fn ringbuf_discard(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    commit(ctx, args[0], true)
}

/// Submits or discards the record at `addr`, which must be one this run
/// reserved and has not committed (the kernel's verifier proves that; here
/// anything else ends the run with [`HelperError::NotReserved`]).
fn commit(ctx: &mut HelperContext<'_>, addr: u64, discard: bool) -> Result<u64, HelperError> {
    let slot = addr >> 32;
    let map = slot
        .checked_sub(FIRST_MAP_SLOT)
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| ctx.maps().get(i));
    let offset = (addr & 0xffff_ffff) as usize;
    let Some(map) = map.filter(|m| ctx.untrack_reservation(m, offset)) else {
        return Err(HelperError::NotReserved { addr });
    };
    map.ringbuf_commit(offset, discard)
        .map_err(|_| HelperError::NotReserved { addr })?;
    Ok(0)
}

/// `u64 bpf_ringbuf_query(map, u64 flags)`: available data, ring size,
/// consumer or producer position; 0 for other flags.
pub(crate) fn ringbuf_query(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(0);
    };
    check_op(map, index, ids::RINGBUF_QUERY, ProgramOp::Ringbuf)?;
    Ok(map.ringbuf_query(args[1]).unwrap_or(0))
}

/// The run's open ring buffer reservations, discarded when the run ends.
/// The vector keeps its capacity from run to run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reservations {
    open: Vec<(BpfMap, usize)>,
}

impl Reservations {
    pub(crate) fn track(&mut self, map: &BpfMap, offset: usize) {
        self.open.push((map.clone(), offset));
    }

    /// Forgets the reservation at `offset` of `map`; false if there is none.
    pub(crate) fn untrack(&mut self, map: &BpfMap, offset: usize) -> bool {
        let found = self
            .open
            .iter()
            .position(|(m, o)| *o == offset && m.same_map(map));
        found.map(|i| self.open.swap_remove(i)).is_some()
    }

    /// Discards every reservation left open.
    #[inline]
    pub(crate) fn discard_open(&mut self) {
        // Nearly every run leaves none: no drain to set up and tear down.
        if self.open.is_empty() {
            return;
        }
        for (map, offset) in self.open.drain(..) {
            // Tracked reservations are uncommitted: the commit cannot fail.
            let _ = map.ringbuf_commit(offset, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use tinybpf_maps::{MapDef, MapOptions};

    use super::*;
    use crate::isa::asm::assemble_bytes;
    use crate::{LoadedProgram, ProgramOptions, RunError};

    fn ring_program(text: &str) -> (LoadedProgram, BpfMap) {
        let def = MapDef {
            map_type: 27,
            key_size: 0,
            value_size: 0,
            max_entries: 4096,
            map_flags: 0,
        };
        let ring = BpfMap::create(def, &MapOptions::with_cpus(1)).unwrap();
        let options = ProgramOptions {
            maps: vec![ring.clone()],
            ..Default::default()
        };
        let code = assemble_bytes(text).unwrap();
        (LoadedProgram::load(&code, options).unwrap(), ring)
    }

    fn records(ring: &BpfMap) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        ring.ringbuf_consume(&mut |r| out.push(r.to_vec())).unwrap();
        out
    }

    #[test]
    fn a_record_is_committed_once() {
        // Reserve 8 bytes, write them, submit, then submit again.
        let (program, ring) = ring_program(
            "lddw %r1, map_idx:0\nmov %r2, 8\nmov %r3, 0\ncall 131\n\
             jeq %r0, 0, +6\nmov %r6, %r0\nstdw [%r6], 42\nmov %r1, %r6\nmov %r2, 0\ncall 132\n\
             mov %r1, %r6\nmov %r2, 0\ncall 132\nexit",
        );
        let error = program.run(&mut []).unwrap_err();
        assert!(
            matches!(
                error,
                RunError::Helper {
                    pc: 13,
                    id: 132,
                    source: HelperError::NotReserved { .. }
                }
            ),
            "{error:?}"
        );
        // The first submit went through.
        assert_eq!(records(&ring), [42u64.to_le_bytes().to_vec()]);
    }

    #[test]
    fn a_huge_size_is_a_fault_not_an_allocation() {
        // bpf_ringbuf_output(ring, r10 - 8, 2^40, 0) with budget enough
        // for its charge: the range is checked before any buffer exists.
        let (program, _) = ring_program(
            "lddw %r1, map_idx:0\nmov %r2, %r10\nadd %r2, -8\nlddw %r3, 0x10000000000\n\
             mov %r4, 0\ncall 130\nexit",
        );
        let mut ctx = crate::RunContext::new().with_budget(u64::MAX);
        let result = program.run_with(&mut [], &mut ctx);
        assert!(
            matches!(
                result,
                Err(RunError::Helper {
                    id: 130,
                    source: HelperError::OutOfBounds {
                        size: 0x100_0000_0000,
                        ..
                    },
                    ..
                })
            ),
            "{result:?}"
        );
    }

    #[test]
    fn only_reserved_records_can_be_committed() {
        // A pointer into the ring's region past the reserved record.
        let (program, ring) = ring_program(
            "lddw %r1, map_idx:0\nmov %r2, 8\nmov %r3, 0\ncall 131\n\
             jeq %r0, 0, +3\nmov %r1, %r0\nadd %r1, 16\ncall 133\nexit",
        );
        let result = program.run(&mut []);
        assert!(
            matches!(
                result,
                Err(RunError::Helper {
                    pc: 8,
                    source: HelperError::NotReserved { .. },
                    ..
                })
            ),
            "{result:?}"
        );
        // The run's reservation was discarded when the run ended: the
        // ring is not blocked, and holds nothing to read.
        assert_eq!(ring.ringbuf_query(0).unwrap(), 16);
        assert!(records(&ring).is_empty());
        // The stack is no record either.
        let (program, _) = ring_program("mov %r1, %r10\nadd %r1, -8\nmov %r2, 0\ncall 132\nexit");
        assert!(program.run(&mut []).is_err());
    }
}
