//! `bpf_fib_lookup` (69) without a routing table: the argument checks of
//! net/core/filter.c, then the answer the kernel gives when no route
//! forwards the packet, `BPF_FIB_LKUP_RET_NOT_FWDED`. An embedder with
//! routes registers its own helper 69 ([`Helpers::register`](crate::Helpers::register)).

use crate::error::HelperError;
use crate::exec::helpers::{HelperContext, units_for};

/// `sizeof(struct bpf_fib_lookup)`.
pub const FIB_LOOKUP_SIZE: u64 = 64;
/// `BPF_FIB_LKUP_RET_NOT_FWDED`: the packet is not forwarded (no route).
pub const BPF_FIB_LKUP_RET_NOT_FWDED: u64 = 4;
/// The flags the kernel knows: `DIRECT`, `OUTPUT`, `SKIP_NEIGH`, `TBID`,
/// `SRC`, `MARK`.
const KNOWN_FLAGS: u64 = 0x3f;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// The only device of a test run's network namespace: loopback.
const LOOPBACK_IFINDEX: u32 = 1;

const EINVAL: u64 = (-22i64) as u64;
const ENODEV: u64 = (-19i64) as u64;
const EAFNOSUPPORT: u64 = (-97i64) as u64;

/// `long bpf_fib_lookup(ctx, struct bpf_fib_lookup *params, int plen, u32 flags)`:
/// `plen` below 64 or an unknown flag -EINVAL; a family other than
/// AF_INET/AF_INET6 -EAFNOSUPPORT; an `ifindex` naming no device (only
/// loopback, 1, exists) -ENODEV; otherwise not forwarded. `params` is read
/// (64 bytes, checked, charged 8 budget units) and left as it was.
pub(crate) fn fib_lookup(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let (params, plen, flags) = (args[1], args[2] as i32, args[3] as u32);
    if i64::from(plen) < FIB_LOOKUP_SIZE as i64 || u64::from(flags) & !KNOWN_FLAGS != 0 {
        return Ok(EINVAL);
    }
    let mut fields = [0u8; FIB_LOOKUP_SIZE as usize];
    ctx.charge(units_for(fields.len()))?;
    ctx.read(params, &mut fields)?;
    // struct bpf_fib_lookup: u8 family at 0, u32 ifindex at 8.
    let family = fields[0];
    let ifindex = u32::from_le_bytes([fields[8], fields[9], fields[10], fields[11]]);
    if family != AF_INET && family != AF_INET6 {
        return Ok(EAFNOSUPPORT);
    }
    if ifindex != LOOPBACK_IFINDEX {
        return Ok(ENODEV);
    }
    Ok(BPF_FIB_LKUP_RET_NOT_FWDED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::asm::assemble_bytes;
    use crate::{LoadedProgram, ProgramOptions, RunError};

    fn run(plen: i32, flags: i32) -> Result<u64, RunError> {
        // params = NULL
        let text = format!("mov %r2, 0\nmov %r3, {plen}\nmov %r4, {flags}\ncall 69\nexit");
        let code = assemble_bytes(&text).unwrap();
        let program = LoadedProgram::load(&code, ProgramOptions::default()).unwrap();
        program.run(&mut []).map(|outcome| outcome.retval)
    }

    #[test]
    fn sizes_and_flags_are_checked_before_params_are_read() {
        assert_eq!(run(63, 0), Ok(EINVAL));
        assert_eq!(run(-1, 0), Ok(EINVAL));
        assert_eq!(run(64, 0x40), Ok(EINVAL));
        // Then params must be 64 readable bytes: NULL is a fault.
        assert!(matches!(
            run(64, 0),
            Err(RunError::Helper {
                id: 69,
                source: HelperError::OutOfBounds {
                    addr: 0,
                    size: 64,
                    ..
                },
                ..
            })
        ));
    }
}
