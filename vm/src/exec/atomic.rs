//! The eBPF atomic read-modify-write operations on host memory.

use tinybpf_maps::shared_mem;

use crate::ir::op::AtomicOp;

/// Performs an eBPF atomic operation on `width` bytes at `host` and returns the old value.
///
/// # Safety
///
/// `width` bytes at `host` must lie in a live, writable region whose memory
/// is only accessed through `shared_mem` (the interpreter resolves the
/// address through the run's checked address space first).
pub(crate) unsafe fn atomic_rmw(
    host: *mut u8,
    wide: bool,
    op: AtomicOp,
    operand: u64,
    expected: u64,
) -> u64 {
    let width = if wide { 8 } else { 4 };
    // SAFETY: the caller's contract: `width` bytes at `host` lie in a live,
    // writable region whose memory is only accessed through `shared_mem`.
    let atomic = unsafe {
        match op {
            AtomicOp::Add { .. } => shared_mem::fetch_add(host, width, operand),
            AtomicOp::Or { .. } => shared_mem::fetch_or(host, width, operand),
            AtomicOp::And { .. } => shared_mem::fetch_and(host, width, operand),
            AtomicOp::Xor { .. } => shared_mem::fetch_xor(host, width, operand),
            AtomicOp::Xchg => shared_mem::swap(host, width, operand),
            AtomicOp::CmpXchg => shared_mem::compare_exchange(host, width, expected, operand),
        }
    };
    if let Some(old) = atomic {
        return old;
    }
    // The address is aligned in the VM but not on the host: only the caller's
    // input buffer can be, and it is exclusively borrowed for the run, so a
    // plain read-modify-write cannot be observed by anyone else.
    // SAFETY: as above.
    let old = unsafe { shared_mem::load(host, width) };
    let new = rmw_value(op, old, operand, expected, wide);
    // SAFETY: as above.
    unsafe { shared_mem::store(host, width, new) };
    old
}

/// The value an atomic operation stores, given the old one.
fn rmw_value(op: AtomicOp, old: u64, operand: u64, expected: u64, wide: bool) -> u64 {
    let mask = if wide { u64::MAX } else { u64::from(u32::MAX) };
    let (old, operand, expected) = (old & mask, operand & mask, expected & mask);
    let new = match op {
        AtomicOp::Add { .. } => old.wrapping_add(operand),
        AtomicOp::Or { .. } => old | operand,
        AtomicOp::And { .. } => old & operand,
        AtomicOp::Xor { .. } => old ^ operand,
        AtomicOp::Xchg => operand,
        AtomicOp::CmpXchg => {
            if old == expected {
                operand
            } else {
                old
            }
        }
    };
    new & mask
}
