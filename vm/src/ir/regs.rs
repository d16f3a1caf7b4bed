//! Sets of registers, as the passes and the op table name them.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// A set of registers r0..r10, one bit per register.
///
/// A register number above 10 (which the translator never emits) has a bit
/// of its own (11..15, taken modulo 16), outside [`Regs::ALL`], so that the
/// verifier can reject an op that names one.
///
/// ```
/// use tinybpf_vm::ir::regs::Regs;
/// let read = Regs::of(1) | Regs::of(2);
/// assert!(read.contains(2));
/// assert!(Regs::ARGS.contains_all(read));
/// assert_eq!((Regs::CALLER_SAVED & !Regs::ARGS), Regs::RETURN);
/// assert_eq!(read.iter().collect::<Vec<_>>(), [1, 2]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Regs(u16);

impl Regs {
    /// No register.
    pub const NONE: Regs = Regs(0);
    /// r0: the return value of helpers, calls and the program.
    pub const RETURN: Regs = Regs(1);
    /// r1..r5: the arguments of helpers and local calls.
    pub const ARGS: Regs = Regs(0b11_1110);
    /// r0..r5: what a call may change (a helper writes r0; a callee may write
    /// any of them).
    pub const CALLER_SAVED: Regs = Regs(0b11_1111);
    /// r6..r9: kept across local calls (the VM restores them).
    pub const CALLEE_SAVED: Regs = Regs(0b11_1100_0000);
    /// r0..r9: every register a program may write.
    pub const GENERAL: Regs = Regs(0x3ff);
    /// r10: the read-only frame pointer.
    pub const FRAME_POINTER: Regs = Regs(1 << 10);
    /// r0..r10.
    pub const ALL: Regs = Regs(0x7ff);

    /// The set holding register `r` alone.
    pub const fn of(r: u8) -> Regs {
        Regs(1 << (r & 15))
    }

    /// Whether `r` is in the set.
    pub const fn contains(self, r: u8) -> bool {
        self.0 & (1 << (r & 15)) != 0
    }

    /// Whether every register of `other` is in the set.
    pub const fn contains_all(self, other: Regs) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the two sets share a register.
    pub const fn intersects(self, other: Regs) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union.
    pub const fn union(self, other: Regs) -> Regs {
        Regs(self.0 | other.0)
    }

    /// The registers of `self` that are not in `other`.
    pub const fn minus(self, other: Regs) -> Regs {
        Regs(self.0 & !other.0)
    }

    /// The only register of a one-register set.
    pub const fn single(self) -> Option<u8> {
        if self.0.count_ones() == 1 {
            Some(self.0.trailing_zeros() as u8)
        } else {
            None
        }
    }

    /// The registers, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..16u8).filter(move |&r| self.contains(r))
    }

    /// The set as a bit mask (bit i: register i).
    pub const fn bits(self) -> u16 {
        self.0
    }
}

impl BitOr for Regs {
    type Output = Regs;
    fn bitor(self, other: Regs) -> Regs {
        self.union(other)
    }
}

impl BitOrAssign for Regs {
    fn bitor_assign(&mut self, other: Regs) {
        *self = self.union(other);
    }
}

impl BitAnd for Regs {
    type Output = Regs;
    fn bitand(self, other: Regs) -> Regs {
        Regs(self.0 & other.0)
    }
}

impl Not for Regs {
    type Output = Regs;
    /// The registers r0..r10 not in the set.
    fn not(self) -> Regs {
        Regs(!self.0 & Regs::ALL.0)
    }
}

impl fmt::Debug for Regs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, r) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "r{r}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sets_are_what_their_names_say() {
        assert_eq!(Regs::RETURN.iter().collect::<Vec<_>>(), [0]);
        assert_eq!(Regs::ARGS.iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(Regs::CALLER_SAVED, Regs::RETURN | Regs::ARGS);
        assert_eq!(Regs::CALLEE_SAVED.iter().collect::<Vec<_>>(), [6, 7, 8, 9]);
        assert_eq!(Regs::GENERAL, Regs::CALLER_SAVED | Regs::CALLEE_SAVED);
        assert_eq!(Regs::ALL, Regs::GENERAL | Regs::FRAME_POINTER);
        assert_eq!(!Regs::GENERAL, Regs::FRAME_POINTER);
        assert!(!Regs::ALL.contains_all(Regs::of(11)));
        assert_eq!(Regs::of(3).single(), Some(3));
        assert_eq!(Regs::ARGS.single(), None);
        assert_eq!(format!("{:?}", Regs::of(0) | Regs::of(10)), "{r0,r10}");
    }
}
