//! `bpf_l3_csum_replace` and `bpf_l4_csum_replace`: incremental updates of
//! a 16-bit ones'-complement checksum in the packet (RFC 1624), as the
//! kernel computes them (`csum_replace2`, `csum_replace4`,
//! `csum_replace_by_diff`, `inet_proto_csum_replace*` for a test run's
//! `CHECKSUM_NONE` packet). Values are taken as they lie in memory
//! (network byte order), the checksum field is read and written so too.

use crate::ProgramKind;
use crate::error::HelperError;
use crate::exec::helpers::HelperContext;
use crate::exec::packet::{EFAULT, EINVAL, packet, skb_range};

/// `BPF_F_HDR_FIELD_MASK`: the size of `from` and `to` (0: `to` is a diff).
const HDR_FIELD_MASK: u64 = 0xf;
/// `BPF_F_PSEUDO_HDR`.
const PSEUDO_HDR: u64 = 1 << 4;
/// `BPF_F_MARK_MANGLED_0`.
const MARK_MANGLED_0: u64 = 1 << 5;
/// `BPF_F_MARK_ENFORCE`.
const MARK_ENFORCE: u64 = 1 << 6;
/// `BPF_F_IPV6`.
const IPV6: u64 = 1 << 7;
/// `CSUM_MANGLED_0`: a UDP checksum that came out 0.
const CSUM_MANGLED_0: u16 = 0xffff;

/// 32-bit ones'-complement addition (`csum_add`).
fn add32(a: u32, b: u32) -> u32 {
    let (sum, carry) = a.overflowing_add(b);
    sum.wrapping_add(u32::from(carry))
}

/// Folds a 32-bit partial sum to 16 bits and complements it (`csum_fold`).
fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// 16-bit ones'-complement addition (`csum16_add`).
fn add16(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    (s + (s >> 16)) as u16
}

/// `csum_replace4`: the checksum after a 32-bit word changed from `from` to `to`.
pub(crate) fn replace4(sum: u16, from: u32, to: u32) -> u16 {
    fold(add32(add32(!u32::from(sum), !from), to))
}

/// `csum_replace2` (the L3 form, in 16-bit arithmetic).
pub(crate) fn replace2(sum: u16, from: u16, to: u16) -> u16 {
    !add16(add16(!sum, !from), to)
}

/// `csum_replace_by_diff`: the checksum with `diff` (a 32-bit partial sum) added.
pub(crate) fn replace_by_diff(sum: u16, diff: u32) -> u16 {
    fold(add32(diff, !u32::from(sum)))
}

/// The checksum field at `offset` from `data`, or the kernel's error:
/// `-EFAULT` for an odd offset, one past 0xffff, or a field past the packet.
fn field(
    ctx: &HelperContext<'_>,
    name: &str,
    offset: u64,
) -> Result<Result<*mut u8, u64>, HelperError> {
    let view = packet(ctx, name, &[ProgramKind::Tc])?;
    if offset > 0xffff || offset & 1 != 0 {
        return Ok(Err(EFAULT));
    }
    Ok(skb_range(&view, offset, 2)
        .map(|start| view.host.wrapping_add(start))
        .ok_or(EFAULT))
}

fn read16(ptr: *mut u8) -> u16 {
    // SAFETY: `field` proved two bytes at `ptr` inside the packet buffer.
    u16::from_le_bytes(unsafe { [*ptr, *ptr.add(1)] })
}

fn write16(ptr: *mut u8, value: u16) {
    let bytes = value.to_le_bytes();
    // SAFETY: as in `read16`.
    unsafe {
        *ptr = bytes[0];
        *ptr.add(1) = bytes[1];
    }
}

/// `long bpf_l3_csum_replace(skb, offset, from, to, flags)`.
pub(crate) fn l3_csum_replace(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let [_, offset, from, to, flags] = args;
    if flags & !HDR_FIELD_MASK != 0 {
        return Ok(EINVAL);
    }
    let ptr = match field(ctx, "bpf_l3_csum_replace", u64::from(offset as u32))? {
        Ok(ptr) => ptr,
        Err(errno) => return Ok(errno),
    };
    let sum = read16(ptr);
    let new = match flags & HDR_FIELD_MASK {
        0 if from != 0 => return Ok(EINVAL),
        0 => replace_by_diff(sum, to as u32),
        2 => replace2(sum, from as u16, to as u16),
        4 => replace4(sum, from as u32, to as u32),
        _ => return Ok(EINVAL),
    };
    write16(ptr, new);
    Ok(0)
}

/// `long bpf_l4_csum_replace(skb, offset, from, to, flags)`.
pub(crate) fn l4_csum_replace(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let [_, offset, from, to, flags] = args;
    if flags & !(MARK_MANGLED_0 | MARK_ENFORCE | PSEUDO_HDR | IPV6 | HDR_FIELD_MASK) != 0 {
        return Ok(EINVAL);
    }
    let ptr = match field(ctx, "bpf_l4_csum_replace", u64::from(offset as u32))? {
        Ok(ptr) => ptr,
        Err(errno) => return Ok(errno),
    };
    let sum = read16(ptr);
    let mangled_zero = flags & MARK_MANGLED_0 != 0;
    if mangled_zero && flags & MARK_ENFORCE == 0 && sum == 0 {
        return Ok(0);
    }
    // A test run's packet is CHECKSUM_NONE: the pseudo-header flag changes
    // nothing in the field itself.
    let new = match flags & HDR_FIELD_MASK {
        0 if from != 0 => return Ok(EINVAL),
        0 => replace_by_diff(sum, to as u32),
        2 => replace4(sum, u32::from(from as u16), u32::from(to as u16)),
        4 => replace4(sum, from as u32, to as u32),
        _ => return Ok(EINVAL),
    };
    write16(
        ptr,
        if mangled_zero && new == 0 {
            CSUM_MANGLED_0
        } else {
            new
        },
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksum of `words` computed from scratch.
    fn full(words: &[u16]) -> u16 {
        fold(words.iter().fold(0u32, |acc, &w| add32(acc, u32::from(w))))
    }

    #[test]
    fn incremental_updates_match_a_full_recomputation() {
        let mut words = [
            0x4500u16, 0x0054, 0x1c46, 0x4000, 0x4001, 0, 0xc0a8, 0x0001, 0xc0a8, 0x00c7,
        ];
        let sum = full(&words);
        // one 16-bit word
        words[2] = 0x1234;
        assert_eq!(replace2(sum, 0x1c46, 0x1234), full(&words));
        assert_eq!(replace4(sum, 0x1c46, 0x1234), full(&words));
        // one 32-bit word (two 16-bit words, as they lie in memory)
        let old = u32::from(words[6]) | u32::from(words[7]) << 16;
        let sum = full(&words);
        words[6] = 0x0a00;
        words[7] = 0x0002;
        let new = u32::from(words[6]) | u32::from(words[7]) << 16;
        assert_eq!(replace4(sum, old, new), full(&words));
    }

    #[test]
    fn a_diff_is_added_to_the_sum() {
        let words = [0x1111u16, 0x2222];
        let sum = full(&words);
        assert_eq!(
            replace_by_diff(sum, 0x0003),
            full(&[0x1111, 0x2222, 0x0003])
        );
    }
}
