//! `bpf_csum_diff` (28), as Linux 6.12 and later compute it
//! (net/core/filter.c): the ones'-complement sum of `to` (seeded) minus that
//! of `from`, folded to 16 bits and not complemented. Sizes need not be
//! multiples of 4 (older kernels returned -EINVAL for that); each buffer
//! must be memory the program may read, as the verifier demands.

use crate::error::HelperError;
use crate::exec::helpers::HelperContext;

/// Bytes read from program memory at a time.
const CHUNK: usize = 64;

/// `s64 bpf_csum_diff(from, from_size, to, to_size, seed)`.
pub(crate) fn csum_diff(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let (from, from_size) = (args[0], args[1] as u32);
    let (to, to_size) = (args[2], args[3] as u32);
    let seed = args[4] as u32;
    let bytes = u64::from(from_size) + u64::from(to_size);
    ctx.charge(bytes.div_ceil(8))?;
    let ret = match (from_size, to_size) {
        (0, 0) => seed,
        (0, _) => partial(ctx, to, to_size, seed)?,
        (_, 0) => !partial(ctx, from, from_size, !seed)?,
        _ => {
            let added = partial(ctx, to, to_size, seed)?;
            let removed = partial(ctx, from, from_size, 0)?;
            add(added, !removed)
        }
    };
    Ok(u64::from(fold(ret)))
}

/// The 32-bit ones'-complement sum of `len` bytes at `addr` plus `seed`
/// (the kernel's `csum_partial` on a little-endian host: bytes at even
/// offsets are the low halves of 16-bit words; a last odd byte is one).
fn partial(ctx: &HelperContext<'_>, addr: u64, len: u32, seed: u32) -> Result<u32, HelperError> {
    let mut sum = u64::from(seed);
    let mut buffer = [0u8; CHUNK];
    let mut done = 0u64;
    let len = u64::from(len);
    while done < len {
        let take = (len - done).min(CHUNK as u64) as usize;
        let at = addr.checked_add(done).ok_or(HelperError::OutOfBounds {
            addr,
            size: len,
            access: crate::Access::Read,
        })?;
        ctx.read(at, &mut buffer[..take])?;
        // CHUNK is a multiple of 4: every chunk but the last starts a word.
        for word in buffer[..take].chunks(4) {
            let mut padded = [0u8; 4];
            padded[..word.len()].copy_from_slice(word);
            sum += u64::from(u32::from_le_bytes(padded));
        }
        // At most 16 words of at most 2^32 - 1 per chunk: fold often
        // enough that the u64 never overflows.
        sum = (sum & 0xffff_ffff) + (sum >> 32);
        done += take as u64;
    }
    Ok(fold64(sum))
}

/// A 64-bit sum folded into 32 bits with end-around carry.
fn fold64(mut sum: u64) -> u32 {
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

/// `csum_add`: 32-bit ones'-complement addition.
fn add(a: u32, b: u32) -> u32 {
    let (sum, carry) = a.overflowing_add(b);
    sum + u32::from(carry)
}

/// `csum_from32to16`: the 32-bit sum folded to 16 bits.
fn fold(sum: u32) -> u16 {
    let sum = sum.wrapping_add(sum.rotate_left(16));
    (sum >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same arithmetic over host bytes, for the kernel selftest's
    /// vectors (tools/testing/selftests/bpf/prog_tests/test_csum_diff.c).
    fn host_partial(bytes: &[u8], seed: u32) -> u32 {
        let mut sum = u64::from(seed);
        for word in bytes.chunks(4) {
            let mut padded = [0u8; 4];
            padded[..word.len()].copy_from_slice(word);
            sum += u64::from(u32::from_le_bytes(padded));
        }
        fold64(sum)
    }

    fn diff(from: &[u8], to: &[u8], seed: u32) -> u16 {
        let ret = match (from.len(), to.len()) {
            (0, 0) => seed,
            (0, _) => host_partial(to, seed),
            (_, 0) => !host_partial(from, !seed),
            _ => add(host_partial(to, seed), !host_partial(from, 0)),
        };
        fold(ret)
    }

    fn words(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn program(text: &str) -> crate::LoadedProgram {
        let code = crate::isa::asm::assemble_bytes(text).unwrap();
        crate::LoadedProgram::load(&code, crate::ProgramOptions::default()).unwrap()
    }

    #[test]
    fn memory_is_checked_and_charged() {
        // to = the input (r1), to_size = its length (r2).
        let sum = program(
            "mov %r3, %r1\nmov %r4, %r2\nmov %r1, 0\nmov %r2, 0\nmov %r5, 0\ncall 28\nexit",
        );
        let mut input = [0xffu8; 4000];
        let outcome = sum.run(&mut input).unwrap();
        assert_eq!(outcome.retval, 0xffff);
        // 6 instructions up to the call and one unit per 8 bytes: 500
        // units; then the exit.
        let mut ctx = crate::RunContext::new().with_budget(505);
        assert!(matches!(
            sum.run_with(&mut input, &mut ctx),
            Err(crate::RunError::BudgetExhausted { pc: 5, .. })
        ));
        let mut ctx = crate::RunContext::new().with_budget(507);
        assert!(sum.run_with(&mut input, &mut ctx).is_ok());
        // One byte past the input: a fault at the call, nothing read.
        let past = program(
            "mov %r3, %r1\nmov %r4, %r2\nadd %r4, 1\nmov %r1, 0\nmov %r2, 0\nmov %r5, 0\ncall 28\nexit",
        );
        assert!(matches!(
            past.run(&mut input),
            Err(crate::RunError::Helper {
                pc: 6,
                id: 28,
                source: HelperError::OutOfBounds { .. }
            })
        ));
    }

    #[test]
    fn the_kernel_selftest_vectors() {
        let dead = words(&[0xdeadbeefdeadbeef]);
        let two = words(&[0xdeadbeefdeadbeef, 0xbeefdeadbeefdead]);
        assert_eq!(diff(&[], &dead, 0), 0x3b3b);
        assert_eq!(diff(&dead, &[], 0), 0xc4c4);
        assert_eq!(diff(&two, &[], 0x1234), 0x9bbd);
        assert_eq!(diff(&two[..15], &[], 0x1234), 0x59be);
        assert_eq!(diff(&[0; 8], &words(&[0xabababababababab]), 0), 0xaeae);
        assert_eq!(diff(&dead, &[0; 8], 0xffff), 0xc4c4);
        assert_eq!(diff(&[], &[], 0), 0);
        assert_eq!(diff(&[], &[], 0x1234), 0x1234);
        assert_eq!(diff(&[0; 512], &[], 0xffff), 0xffff);
    }
}
