//! The arithmetic of eBPF, once: what every ALU op computes, as the
//! interpreter runs it and as constant folding ([`Op::fold`]) evaluates it.
//!
//! Operands and results are 64-bit register values. The 32-bit operations
//! read the low 32 bits of their operands and zero-extend their result.
//! Nothing here faults: division by zero gives 0, modulo by zero keeps the
//! dividend, signed `MIN / -1` is `MIN` and `MIN % -1` is 0 (RFC 9669), and
//! shift amounts are taken modulo the width.
//!
//! [`Op::fold`]: crate::ir::op::Op::fold
//!
//! ```
//! use tinybpf_vm::ir::alu;
//! assert_eq!(alu::div64(7, 0), 0);
//! assert_eq!(alu::mod32(0x1_ffff_ffff, 0), 0xffff_ffff);
//! assert_eq!(alu::sdiv64(i64::MIN as u64, u64::MAX), i64::MIN as u64);
//! assert_eq!(alu::lsh32(1, 33), 2);
//! assert_eq!(alu::sign_extend(0x80, 8), 0xffff_ffff_ffff_ff80);
//! assert_eq!(alu::swap(0x1122, 16), 0x2211);
//! ```

#![allow(missing_docs)] // one line each: the name says it

#[inline(always)]
const fn lo(v: u64) -> u32 {
    v as u32
}

#[inline(always)]
const fn zx(v: u32) -> u64 {
    v as u64
}

// ---- 64-bit --------------------------------------------------------------

#[inline(always)]
pub const fn add64(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}
#[inline(always)]
pub const fn sub64(a: u64, b: u64) -> u64 {
    a.wrapping_sub(b)
}
#[inline(always)]
pub const fn mul64(a: u64, b: u64) -> u64 {
    a.wrapping_mul(b)
}
/// Unsigned; by zero gives 0.
#[inline(always)]
pub const fn div64(a: u64, b: u64) -> u64 {
    match a.checked_div(b) {
        Some(q) => q,
        None => 0,
    }
}
/// Signed; by zero gives 0, `MIN / -1` is `MIN`.
#[inline(always)]
pub const fn sdiv64(a: u64, b: u64) -> u64 {
    if b == 0 {
        0
    } else {
        (a as i64).wrapping_div(b as i64) as u64
    }
}
/// Unsigned; by zero keeps the dividend.
#[inline(always)]
pub const fn mod64(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { a % b }
}
/// Signed, with the sign of the dividend; by zero keeps the dividend,
/// `MIN % -1` is 0.
#[inline(always)]
pub const fn smod64(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        (a as i64).wrapping_rem(b as i64) as u64
    }
}
#[inline(always)]
pub const fn or64(a: u64, b: u64) -> u64 {
    a | b
}
#[inline(always)]
pub const fn and64(a: u64, b: u64) -> u64 {
    a & b
}
#[inline(always)]
pub const fn xor64(a: u64, b: u64) -> u64 {
    a ^ b
}
/// Shift amount modulo 64.
#[inline(always)]
pub const fn lsh64(a: u64, b: u64) -> u64 {
    a << (b & 63)
}
/// Logical; shift amount modulo 64.
#[inline(always)]
pub const fn rsh64(a: u64, b: u64) -> u64 {
    a >> (b & 63)
}
/// Arithmetic; shift amount modulo 64.
#[inline(always)]
pub const fn arsh64(a: u64, b: u64) -> u64 {
    ((a as i64) >> (b & 63)) as u64
}
#[inline(always)]
pub const fn neg64(a: u64) -> u64 {
    a.wrapping_neg()
}

// ---- 32-bit: low halves in, zero-extended result out ----------------------

#[inline(always)]
pub const fn add32(a: u64, b: u64) -> u64 {
    zx(lo(a).wrapping_add(lo(b)))
}
#[inline(always)]
pub const fn sub32(a: u64, b: u64) -> u64 {
    zx(lo(a).wrapping_sub(lo(b)))
}
#[inline(always)]
pub const fn mul32(a: u64, b: u64) -> u64 {
    zx(lo(a).wrapping_mul(lo(b)))
}
#[inline(always)]
pub const fn div32(a: u64, b: u64) -> u64 {
    let (a, b) = (lo(a), lo(b));
    match a.checked_div(b) {
        Some(q) => zx(q),
        None => 0,
    }
}
#[inline(always)]
pub const fn sdiv32(a: u64, b: u64) -> u64 {
    let (a, b) = (lo(a), lo(b));
    if b == 0 {
        0
    } else {
        zx((a as i32).wrapping_div(b as i32) as u32)
    }
}
#[inline(always)]
pub const fn mod32(a: u64, b: u64) -> u64 {
    let (a, b) = (lo(a), lo(b));
    if b == 0 { zx(a) } else { zx(a % b) }
}
#[inline(always)]
pub const fn smod32(a: u64, b: u64) -> u64 {
    let (a, b) = (lo(a), lo(b));
    if b == 0 {
        zx(a)
    } else {
        zx((a as i32).wrapping_rem(b as i32) as u32)
    }
}
#[inline(always)]
pub const fn or32(a: u64, b: u64) -> u64 {
    zx(lo(a) | lo(b))
}
#[inline(always)]
pub const fn and32(a: u64, b: u64) -> u64 {
    zx(lo(a) & lo(b))
}
#[inline(always)]
pub const fn xor32(a: u64, b: u64) -> u64 {
    zx(lo(a) ^ lo(b))
}
/// Shift amount modulo 32.
#[inline(always)]
pub const fn lsh32(a: u64, b: u64) -> u64 {
    zx(lo(a) << (b & 31))
}
#[inline(always)]
pub const fn rsh32(a: u64, b: u64) -> u64 {
    zx(lo(a) >> (b & 31))
}
#[inline(always)]
pub const fn arsh32(a: u64, b: u64) -> u64 {
    zx(((lo(a) as i32) >> (b & 31)) as u32)
}
#[inline(always)]
pub const fn neg32(a: u64) -> u64 {
    zx(lo(a).wrapping_neg())
}
/// `mov32`: the low 32 bits, zero-extended.
#[inline(always)]
pub const fn mov32(a: u64) -> u64 {
    zx(lo(a))
}

// ---- extension and byte order ----------------------------------------------

/// The low `bits` (8, 16, otherwise 32) sign-extended to 64 bits.
#[inline(always)]
pub const fn sign_extend(v: u64, bits: u8) -> u64 {
    match bits {
        8 => v as u8 as i8 as u64,
        16 => v as u16 as i16 as u64,
        _ => v as u32 as i32 as u64,
    }
}
/// 32-bit `movsx`: the low `bits` sign-extended to 32 bits, zero-extended.
#[inline(always)]
pub const fn sign_extend32(v: u64, bits: u8) -> u64 {
    mov32(sign_extend(v, bits))
}
/// The low 32 bits sign-extended (`lsh 32; arsh 32`).
#[inline(always)]
pub const fn sext32(v: u64) -> u64 {
    v as u32 as i32 as u64
}
/// To little-endian on this little-endian host: truncate to `bits` (16, 32, otherwise 64).
#[inline(always)]
pub const fn truncate(v: u64, bits: u8) -> u64 {
    match bits {
        16 => v & 0xffff,
        32 => v & 0xffff_ffff,
        _ => v,
    }
}
/// To big-endian, or an unconditional swap: the low `bits` (16, 32,
/// otherwise 64) byte-swapped, truncated.
#[inline(always)]
pub const fn swap(v: u64, bits: u8) -> u64 {
    match bits {
        16 => (v as u16).swap_bytes() as u64,
        32 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_and_modulo_never_fault() {
        let min64 = i64::MIN as u64;
        assert_eq!(div64(7, 0), 0);
        assert_eq!(sdiv64(7, 0), 0);
        assert_eq!(mod64(7, 0), 7);
        assert_eq!(smod64(7, 0), 7);
        assert_eq!(sdiv64(min64, u64::MAX), min64);
        assert_eq!(smod64(min64, u64::MAX), 0);
        assert_eq!(smod64((-7i64) as u64, 2), (-1i64) as u64);
        let min32 = 0x8000_0000;
        assert_eq!(div32(0x1_0000_0007, 0), 0);
        assert_eq!(mod32(0x1_ffff_ffff, 0), 0xffff_ffff);
        assert_eq!(smod32(0x1_0000_0007, 0), 7);
        assert_eq!(sdiv32(min32, 0xffff_ffff), min32);
        assert_eq!(smod32(min32, 0xffff_ffff), 0);
        assert_eq!(sdiv32((-7i64) as u64, 2), 0xffff_fffd);
    }

    #[test]
    fn shifts_take_their_amount_modulo_the_width() {
        assert_eq!(lsh64(1, 65), 2);
        assert_eq!(rsh64(4, 66), 1);
        assert_eq!(arsh64(u64::MAX << 4, 68), u64::MAX);
        assert_eq!(lsh32(0x8000_0001, 33), 2);
        assert_eq!(rsh32(0x1_0000_0004, 34), 1);
        assert_eq!(arsh32(0x8000_0000, 31), 0xffff_ffff);
    }

    #[test]
    fn thirty_two_bit_results_are_zero_extended() {
        assert_eq!(add32(0xffff_ffff, 1), 0);
        assert_eq!(sub32(0, 1), 0xffff_ffff);
        assert_eq!(neg32(1), 0xffff_ffff);
        assert_eq!(mov32(u64::MAX), 0xffff_ffff);
        assert_eq!(sign_extend32(0x80, 8), 0xffff_ff80);
        assert_eq!(sext32(0x8000_0000), 0xffff_ffff_8000_0000);
    }

    #[test]
    fn byte_order() {
        assert_eq!(truncate(0x1122_3344_5566_7788, 16), 0x7788);
        assert_eq!(truncate(0x1122_3344_5566_7788, 32), 0x5566_7788);
        assert_eq!(swap(0x1122_3344_5566_7788, 32), 0x8877_6655);
        assert_eq!(swap(0x1122_3344_5566_7788, 64), 0x8877_6655_4433_2211);
    }
}
