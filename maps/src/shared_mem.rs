//! The one memory model for bytes shared between programs and user space.
//!
//! Map values are read and written at the same time by programs running on
//! several threads and by user space (through [`crate::ArrayMap`] calls or
//! views), with no lock, as the kernel's array map allows. To make that free of
//! undefined behaviour in Rust's sense, every access to those bytes goes
//! through this module (or through the atomic types it hands out):
//!
//! - a load or store of width 1, 2, 4 or 8 at an address aligned to its width
//!   is one `Relaxed` atomic operation of that width (`AtomicU8`..`AtomicU64`);
//! - an unaligned load or store is done byte by byte with `Relaxed` `AtomicU8`
//!   operations (so it may tear, exactly as an unaligned access may tear on
//!   hardware, but it is never a data race);
//! - bulk copies ([`copy_out`], [`copy_in`], [`zero`]) move each chunk with
//!   the widest aligned atomic that fits it (8, 4, 2, then 1 bytes), so an
//!   aligned `u16`/`u32`/`u64` field of a value is copied in one piece and a
//!   user-space read never tears it against a same-width program store;
//! - the eBPF atomic instructions map to the read-modify-write functions below
//!   ([`fetch_add`], [`fetch_or`], [`fetch_and`], [`fetch_xor`], [`swap`],
//!   [`compare_exchange`]), which are `SeqCst` like the kernel's fetching
//!   atomics and refuse (return `None`) a misaligned address.
//!
//! All values are little-endian, as on the only hosts tinybpf targets.
//!
//! **The one limit.** Racing accesses of *different* widths to the same bytes
//! (say a program's 8-byte store while user space reads one byte of it) are
//! "mixed-size atomics", which Rust's memory model (C++20's) does not define,
//! although every supported CPU handles them (each byte ends up with a value
//! one of the writers wrote). Same-width racing accesses, and all accesses
//! that do not race, are fully defined.

use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

/// Ordering of plain loads and stores: eBPF's plain `ldx`/`stx` give no
/// ordering guarantee beyond atomicity of an aligned access.
const PLAIN: Ordering = Ordering::Relaxed;
/// Ordering of read-modify-write operations: the kernel's fetching atomics are
/// fully ordered.
const RMW: Ordering = Ordering::SeqCst;

/// Loads `width` bytes (1, 2, 4 or 8) at `ptr` as a little-endian value,
/// zero-extended to 64 bits.
///
/// # Safety
/// `ptr` must be valid for reads of `width` bytes for the duration of the call,
/// and those bytes must only ever be accessed through this module or through
/// atomic types (never through plain references or plain pointer accesses
/// while another thread may write them).
///
/// # Panics
/// If `width` is not 1, 2, 4 or 8 (a caller bug, not an input error).
#[inline(always)]
pub unsafe fn load(ptr: *const u8, width: usize) -> u64 {
    if is_aligned(ptr, width) {
        // SAFETY: the caller guarantees `width` valid bytes that are only
        // accessed atomically; the address is aligned to `width`, which is the
        // alignment of the matching atomic type.
        unsafe {
            match width {
                1 => u64::from(AtomicU8::from_ptr(ptr.cast_mut()).load(PLAIN)),
                2 => u64::from(AtomicU16::from_ptr(ptr.cast_mut().cast()).load(PLAIN)),
                4 => u64::from(AtomicU32::from_ptr(ptr.cast_mut().cast()).load(PLAIN)),
                8 => AtomicU64::from_ptr(ptr.cast_mut().cast()).load(PLAIN),
                _ => bad_width(width),
            }
        }
    } else {
        check_width(width);
        let mut value = 0u64;
        for i in 0..width {
            // SAFETY: `i < width`, so `ptr + i` is inside the caller's range;
            // an `AtomicU8` has alignment 1.
            let byte = unsafe { AtomicU8::from_ptr(ptr.add(i).cast_mut()).load(PLAIN) };
            value |= u64::from(byte) << (8 * i);
        }
        value
    }
}

/// Stores the low `width` bytes (1, 2, 4 or 8) of `value` at `ptr`,
/// little-endian.
///
/// # Safety
/// `ptr` must be valid for writes of `width` bytes for the duration of the
/// call, and those bytes must only ever be accessed through this module or
/// through atomic types.
///
/// # Panics
/// If `width` is not 1, 2, 4 or 8 (a caller bug, not an input error).
#[inline(always)]
pub unsafe fn store(ptr: *mut u8, width: usize, value: u64) {
    if is_aligned(ptr, width) {
        // SAFETY: as in `load`: valid, atomically-accessed, aligned bytes.
        // The truncating casts keep exactly the low `width` bytes, which is
        // what a store of that width means.
        unsafe {
            match width {
                1 => AtomicU8::from_ptr(ptr).store(value as u8, PLAIN),
                2 => AtomicU16::from_ptr(ptr.cast()).store(value as u16, PLAIN),
                4 => AtomicU32::from_ptr(ptr.cast()).store(value as u32, PLAIN),
                8 => AtomicU64::from_ptr(ptr.cast()).store(value, PLAIN),
                _ => bad_width(width),
            }
        }
    } else {
        check_width(width);
        for i in 0..width {
            // SAFETY: `i < width`, inside the caller's range; alignment 1.
            unsafe { AtomicU8::from_ptr(ptr.add(i)).store((value >> (8 * i)) as u8, PLAIN) };
        }
    }
}

/// The width of the widest atomic access (8, 4, 2 or 1 bytes) that fits in
/// `remaining` bytes at `at` and is aligned there.
#[inline(always)]
fn chunk_width(at: *const u8, remaining: usize) -> usize {
    let addr = at as usize;
    if remaining >= 8 && addr.is_multiple_of(8) {
        8
    } else if remaining >= 4 && addr.is_multiple_of(4) {
        4
    } else if remaining >= 2 && addr.is_multiple_of(2) {
        2
    } else {
        1
    }
}

/// Copies `dst.len()` bytes starting at `src` into `dst`, each chunk with the
/// widest aligned atomic load that fits it (8, 4, 2, then 1 bytes), so that
/// an aligned `u64`, `u32` or `u16` field is read in one piece and never
/// tears against a same-width writer.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes, only ever accessed
/// through this module or atomic types, and must not overlap `dst`.
pub unsafe fn copy_out(src: *const u8, dst: &mut [u8]) {
    let len = dst.len();
    let mut i = 0;
    while i < len {
        // SAFETY: `i < len`, so `src + i` is inside the caller's range.
        let at = unsafe { src.add(i) };
        let width = chunk_width(at, len - i);
        if width == 8 {
            // The common case with a constant width, so the copy into `dst`
            // is one store rather than a call to memmove per word.
            // SAFETY: 8 bytes remain in range and `at` is 8-aligned
            // (chunk_width's contract); the bytes are only accessed
            // atomically.
            let word = unsafe { AtomicU64::from_ptr(at.cast_mut().cast()).load(PLAIN) };
            dst[i..i + 8].copy_from_slice(&word.to_le_bytes());
            i += 8;
            continue;
        }
        // SAFETY: `width` bytes remain in range and `at` is aligned to
        // `width` (chunk_width's contract); the bytes are only accessed
        // atomically.
        let value = unsafe { load(at, width) };
        dst[i..i + width].copy_from_slice(&value.to_le_bytes()[..width]);
        i += width;
    }
}

/// Copies `src` to the `src.len()` bytes starting at `dst`, each chunk with
/// the widest aligned atomic store that fits it (8, 4, 2, then 1 bytes).
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes, only ever accessed
/// through this module or atomic types, and must not overlap `src`.
pub unsafe fn copy_in(dst: *mut u8, src: &[u8]) {
    let len = src.len();
    let mut i = 0;
    while i < len {
        // SAFETY: `i < len`, so `dst + i` is inside the caller's range.
        let at = unsafe { dst.add(i) };
        let width = chunk_width(at, len - i);
        if width == 8 {
            let mut word = [0u8; 8];
            word.copy_from_slice(&src[i..i + 8]);
            // SAFETY: 8 bytes in range, 8-aligned (chunk_width's contract),
            // accessed only atomically.
            unsafe { AtomicU64::from_ptr(at.cast()).store(u64::from_le_bytes(word), PLAIN) };
            i += 8;
            continue;
        }
        let mut word = [0u8; 8];
        word[..width].copy_from_slice(&src[i..i + width]);
        // SAFETY: `width` bytes in range, aligned to `width`, accessed
        // only atomically.
        unsafe { store(at, width, u64::from_le_bytes(word)) };
        i += width;
    }
}

/// Fills `len` bytes starting at `dst` with zero (widest aligned atomics).
///
/// # Safety
/// As [`copy_in`] for `len` bytes.
pub unsafe fn zero(dst: *mut u8, len: usize) {
    let mut i = 0;
    while i < len {
        // SAFETY: `i < len`, inside the caller's range.
        let at = unsafe { dst.add(i) };
        let width = chunk_width(at, len - i);
        // SAFETY: `width` bytes in range, aligned to `width`.
        unsafe { store(at, width, 0) };
        i += width;
    }
}

/// Copies `len` bytes from `src` to `dst`, both shared memory (chunked as
/// [`copy_in`] on the destination; the source read with the same widths
/// when its alignment allows, bytewise otherwise).
///
/// # Safety
/// Both ranges must be valid for `len` bytes, only accessed through this
/// module or atomic types, and must not overlap.
pub unsafe fn copy_within_shared(src: *const u8, dst: *mut u8, len: usize) {
    let mut i = 0;
    while i < len {
        // SAFETY: `i < len`, inside both ranges.
        let (from, to) = unsafe { (src.add(i), dst.add(i)) };
        let width = chunk_width(to, len - i);
        // SAFETY: `width` bytes in range of both; `load` handles an
        // unaligned source bytewise; `to` is aligned to `width`.
        unsafe { store(to, width, load(from, width)) };
        i += width;
    }
}

macro_rules! rmw {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        ///
        /// `width` must be 4 or 8 and `ptr` aligned to it; otherwise nothing is
        /// accessed and the result is `None`. A 4-byte result is zero-extended.
        ///
        /// # Safety
        /// `ptr` must be valid for reads and writes of `width` bytes, only ever
        /// accessed through this module or atomic types.
        #[inline(always)]
        pub unsafe fn $name(ptr: *mut u8, width: usize, operand: u64) -> Option<u64> {
            if !is_aligned(ptr, width) {
                return None;
            }
            // SAFETY: valid, atomically-accessed bytes, aligned to `width`.
            // The 4-byte operation works on the low 32 bits of the operand.
            unsafe {
                match width {
                    4 => Some(u64::from(AtomicU32::from_ptr(ptr.cast()).$method(operand as u32, RMW))),
                    8 => Some(AtomicU64::from_ptr(ptr.cast()).$method(operand, RMW)),
                    _ => None,
                }
            }
        }
    };
}

rmw!(
    /// Atomically adds `operand` to the value at `ptr` and returns the old value.
    fetch_add,
    fetch_add
);
rmw!(
    /// Atomically ORs `operand` into the value at `ptr` and returns the old value.
    fetch_or,
    fetch_or
);
rmw!(
    /// Atomically ANDs `operand` into the value at `ptr` and returns the old value.
    fetch_and,
    fetch_and
);
rmw!(
    /// Atomically XORs `operand` into the value at `ptr` and returns the old value.
    fetch_xor,
    fetch_xor
);
rmw!(
    /// Atomically replaces the value at `ptr` with `operand` and returns the old value.
    swap,
    swap
);

/// Atomically replaces the value at `ptr` with `new` if it equals `expected`,
/// and returns the value found (equal to `expected` on success), as eBPF's
/// `CMPXCHG`.
///
/// `width` must be 4 or 8 and `ptr` aligned to it; otherwise nothing is
/// accessed and the result is `None`. For width 4 only the low 32 bits of
/// `expected` and `new` count, and the result is zero-extended.
///
/// # Safety
/// `ptr` must be valid for reads and writes of `width` bytes, only ever
/// accessed through this module or atomic types.
#[inline(always)]
pub unsafe fn compare_exchange(ptr: *mut u8, width: usize, expected: u64, new: u64) -> Option<u64> {
    if !is_aligned(ptr, width) {
        return None;
    }
    // SAFETY: valid, atomically-accessed bytes, aligned to `width`.
    unsafe {
        match width {
            4 => {
                let cell = AtomicU32::from_ptr(ptr.cast());
                let found = match cell.compare_exchange(expected as u32, new as u32, RMW, RMW) {
                    Ok(old) | Err(old) => old,
                };
                Some(u64::from(found))
            }
            8 => {
                let cell = AtomicU64::from_ptr(ptr.cast());
                Some(match cell.compare_exchange(expected, new, RMW, RMW) {
                    Ok(old) | Err(old) => old,
                })
            }
            _ => None,
        }
    }
}

/// True when `ptr` is a multiple of `width` (`width` a power of two or any
/// value; zero counts as unaligned).
#[inline(always)]
fn is_aligned(ptr: *const u8, width: usize) -> bool {
    width != 0 && (ptr as usize).is_multiple_of(width)
}

#[inline(always)]
fn check_width(width: usize) {
    if !matches!(width, 1 | 2 | 4 | 8) {
        bad_width(width);
    }
}

#[cold]
#[inline(never)]
fn bad_width(width: usize) -> ! {
    panic!("shared_mem: access width {width} is not 1, 2, 4 or 8")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8-aligned scratch buffer accessed only through this module.
    fn buffer() -> Vec<AtomicU64> {
        (0..4).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn aligned_and_unaligned_loads_and_stores_are_little_endian() {
        let buf = buffer();
        let base = buf.as_ptr() as *mut u8;
        for offset in 0..9 {
            for width in [1usize, 2, 4, 8] {
                // SAFETY: offset + width <= 17 < 32 bytes of `buf`.
                unsafe {
                    zero(base, 32);
                    let value = 0x8877_6655_4433_2211u64;
                    store(base.add(offset), width, value);
                    let mask = if width == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * width)) - 1
                    };
                    assert_eq!(
                        load(base.add(offset), width),
                        value & mask,
                        "offset {offset} width {width}"
                    );
                    let mut bytes = [0u8; 32];
                    copy_out(base, &mut bytes);
                    for (i, byte) in bytes.iter().enumerate() {
                        let expected = if i >= offset && i < offset + width {
                            (value >> (8 * (i - offset))) as u8
                        } else {
                            0
                        };
                        assert_eq!(*byte, expected, "offset {offset} width {width} byte {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn copies_round_trip_at_every_alignment() {
        let buf = buffer();
        let base = buf.as_ptr() as *mut u8;
        let data: Vec<u8> = (1..=23).collect();
        for offset in 0..9 {
            // SAFETY: offset + 23 <= 31 < 32.
            unsafe {
                zero(base, 32);
                copy_in(base.add(offset), &data);
                let mut back = vec![0u8; data.len()];
                copy_out(base.add(offset), &mut back);
                assert_eq!(back, data);
                assert_eq!(
                    load(base.add(offset + data.len()), 1),
                    0,
                    "no write past the end"
                );
                if offset > 0 {
                    assert_eq!(
                        load(base.add(offset - 1), 1),
                        0,
                        "no write before the start"
                    );
                }
            }
        }
    }

    #[test]
    fn read_modify_write_operations() {
        let buf = buffer();
        let base = buf.as_ptr() as *mut u8;
        // SAFETY: all accesses are within the 32-byte buffer.
        unsafe {
            assert_eq!(fetch_add(base, 8, 5), Some(0));
            assert_eq!(fetch_or(base, 8, 0x10), Some(5));
            assert_eq!(fetch_and(base, 8, 0x14), Some(0x15));
            assert_eq!(fetch_xor(base, 8, 0xff), Some(0x14));
            assert_eq!(swap(base, 8, 7), Some(0xeb));
            assert_eq!(
                compare_exchange(base, 8, 1, 9),
                Some(7),
                "mismatch leaves memory alone"
            );
            assert_eq!(load(base, 8), 7);
            assert_eq!(compare_exchange(base, 8, 7, 9), Some(7));
            assert_eq!(load(base, 8), 9);
            // 32-bit: wraps within 32 bits, leaves the upper half alone.
            store(base.add(8), 8, 0xAAAA_AAAA_FFFF_FFFF);
            assert_eq!(fetch_add(base.add(8), 4, 1), Some(0xFFFF_FFFF));
            assert_eq!(load(base.add(8), 8), 0xAAAA_AAAA_0000_0000);
            assert_eq!(
                compare_exchange(base.add(8), 4, 0x1_0000_0000, 3),
                Some(0),
                "only low 32 bits compared"
            );
            assert_eq!(load(base.add(8), 4), 3);
            // Misaligned or bad widths are refused without touching memory.
            assert_eq!(fetch_add(base.add(1), 8, 1), None);
            assert_eq!(fetch_add(base.add(2), 4, 1), None);
            assert_eq!(fetch_add(base, 2, 1), None);
            assert_eq!(compare_exchange(base.add(4), 8, 0, 1), None);
            assert_eq!(load(base, 8), 9);
        }
    }

    #[test]
    #[should_panic(expected = "width 3")]
    fn bad_width_panics() {
        let buf = buffer();
        // SAFETY: 3 bytes within the buffer; the call panics before any access.
        unsafe { load(buf.as_ptr().cast::<u8>().add(1), 3) };
    }
}
