//! The machinery behind the op table in [`crate::ir::op`]: the macro that
//! turns the table's rows into the [`Op`] enum and the methods every pass
//! reads, and the small types those methods return.
//!
//! The row syntax is described in [`crate::ir::op`].

use std::fmt;

use crate::ir::op::Op;

/// The original instructions an op stands for: itself, the two or three
/// instructions of a fused op, or none (an op that never runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    ops: [Op; 3],
    len: u8,
}

impl Parts {
    /// No instruction.
    pub const NONE: Parts = Parts {
        ops: [Op::Nop; 3],
        len: 0,
    };

    /// One instruction.
    pub const fn one(op: Op) -> Parts {
        Parts {
            ops: [op, Op::Nop, Op::Nop],
            len: 1,
        }
    }

    /// Two instructions, in program order.
    pub const fn two(first: Op, second: Op) -> Parts {
        Parts {
            ops: [first, second, Op::Nop],
            len: 2,
        }
    }

    /// Three instructions, in program order.
    pub const fn three(first: Op, second: Op, third: Op) -> Parts {
        Parts {
            ops: [first, second, third],
            len: 3,
        }
    }

    /// How many.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The instructions, in program order.
    pub fn as_slice(&self) -> &[Op] {
        &self.ops[..self.len()]
    }
}

/// The value a row's `fold` computes, once every register the op reads is known.
pub(crate) fn fold_with(
    facts: crate::ir::facts::Facts,
    get: &dyn Fn(u8) -> Option<u64>,
    value: impl FnOnce(&dyn Fn(u8) -> u64) -> u64,
) -> Option<u64> {
    let mut known = [0u64; 16];
    for r in facts.reads.iter() {
        known[usize::from(r)] = get(r)?;
    }
    Some(value(&|r| known[usize::from(r & 15)]))
}

/// The value a fused op leaves in its destination: its parts folded in order.
pub(crate) fn fold_parts(op: Op, get: &dyn Fn(u8) -> Option<u64>, parts: Parts) -> Option<u64> {
    let dst = op.facts().writes.single()?;
    let mut regs: [Option<u64>; 16] = std::array::from_fn(|r| get(r as u8));
    for part in parts.as_slice() {
        let written = part.facts().writes.single()?;
        let value = part.fold(|r| regs[usize::from(r & 15)])?;
        regs[usize::from(written & 15)] = Some(value);
    }
    regs[usize::from(dst & 15)]
}

/// Applies a row's `direct` form to a proven place.
pub(crate) fn direct_form(form: impl FnOnce(u16, u32) -> Op, region: u16, offset: u32) -> Op {
    form(region, offset)
}

/// Applies a row's `fixed` form to a proven host address (`None` when the
/// form cannot hold the op's operands).
pub(crate) fn fixed_form<T: Into<Option<Op>>>(
    form: impl FnOnce(crate::ir::op::HostAddr) -> T,
    host: crate::ir::op::HostAddr,
) -> Option<Op> {
    form(host).into()
}

/// A register operand in an op's text.
pub(crate) struct ShowReg(pub u8);

impl fmt::Display for ShowReg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%r{}", self.0)
    }
}

/// A memory offset, with its sign.
pub(crate) struct ShowOff(pub i16);

impl fmt::Display for ShowOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+}", self.0)
    }
}

/// A jump or call target: an op index.
pub(crate) struct ShowTarget(pub u32);

impl fmt::Display for ShowTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

/// An immediate: small values in signed decimal, others in hex.
pub(crate) struct ShowImm(pub i64);

impl ShowImm {
    pub(crate) fn of(value: impl Into<ShowImm>) -> ShowImm {
        value.into()
    }
}

impl From<u64> for ShowImm {
    fn from(v: u64) -> ShowImm {
        ShowImm(v as i64)
    }
}

impl From<u32> for ShowImm {
    fn from(v: u32) -> ShowImm {
        ShowImm(i64::from(v as i32))
    }
}

impl From<i32> for ShowImm {
    fn from(v: i32) -> ShowImm {
        ShowImm(i64::from(v))
    }
}

impl fmt::Display for ShowImm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if (-0xffff..=0xffff).contains(&self.0) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:#x}", self.0 as u64)
        }
    }
}

/// The width suffix of an atomic: none for 64 bits, `32` otherwise.
pub(crate) struct ShowWidth(pub bool);

impl fmt::Display for ShowWidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "" } else { "32" })
    }
}

/// Field values for [`Op::examples`].
#[cfg(test)]
pub(crate) trait Sample {
    fn sample() -> Self;
}

/// Builds [`Op`] and its methods from the table's rows (see [`crate::ir::op`]).
macro_rules! define_ops {
    (@weight []) => { 1 };
    (@weight [$parts:expr]) => { ($parts).len() as u8 };
    (@parts $this:ident []) => { $crate::ir::define::Parts::one($this) };
    (@parts $this:ident [$parts:expr]) => { $parts };
    (@fold $this:ident $get:ident [$fold:expr] []) => {
        $crate::ir::define::fold_with($this.facts(), &$get, $fold)
    };
    (@fold $this:ident $get:ident [] [$parts:expr]) => {
        $crate::ir::define::fold_parts($this, &$get, $parts)
    };
    (@fold $this:ident $get:ident [] []) => { None };
    (@direct $region:ident $offset:ident []) => { None };
    (@direct $region:ident $offset:ident [$direct:expr]) => {
        Some($crate::ir::define::direct_form($direct, $region, $offset))
    };
    (@fixed $host:ident []) => { None };
    (@fixed $host:ident [$fixed:expr]) => {
        $crate::ir::define::fixed_form($fixed, $host)
    };
    (@target target $t:ident) => { return Some($t) };
    (@target $other:ident $v:ident) => { let _ = $v; };
    (@show dst $v:ident) => { $crate::ir::define::ShowReg($v) };
    (@show src $v:ident) => { $crate::ir::define::ShowReg($v) };
    (@show src2 $v:ident) => { $crate::ir::define::ShowReg($v) };
    (@show reg $v:ident) => { $crate::ir::define::ShowReg($v) };
    (@show off $v:ident) => { $crate::ir::define::ShowOff($v) };
    (@show target $v:ident) => { $crate::ir::define::ShowTarget($v) };
    (@show imm $v:ident) => { $crate::ir::define::ShowImm::of($v) };
    (@show cmp $v:ident) => { $crate::ir::define::ShowImm::of($v) };
    (@show wide $v:ident) => { $crate::ir::define::ShowWidth($v) };
    (@show $other:ident $v:ident) => { $v };
    (
        $(
            $(#[doc = $doc:literal])*
            $name:ident $({ $($field:ident : $fty:ty),* $(,)? })?
                = $facts:expr
                $(, fold $fold:expr)?
                $(, direct $direct:expr)?
                $(, fixed $fixed:expr)?
                $(, parts $parts:expr)?
                => $text:literal;
        )*
    ) => {
        /// One translated instruction; see the table in [`crate::ir::op`].
        /// Registers are indices 0..=10, checked at load.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Op {
            $( $(#[doc = $doc])* $name $({ $($field: $fty),* })?, )*
        }

        impl Op {
            /// What the passes know about this op.
            #[allow(unused_variables)]
            pub fn facts(&self) -> $crate::ir::facts::Facts {
                match *self {
                    $(
                        Op::$name $({ $($field),* })? => {
                            let facts: $crate::ir::facts::Facts = $facts;
                            facts.with_weight(define_ops!(@weight [$($parts)?]))
                        }
                    )*
                }
            }

            /// The original instructions this op stands for, in program order.
            #[allow(unused_variables)]
            pub fn parts(&self) -> $crate::ir::define::Parts {
                let this = *self;
                match this {
                    $( Op::$name $({ $($field),* })? => define_ops!(@parts this [$($parts)?]), )*
                }
            }

            /// The value this op leaves in the register it writes, given the
            /// values of the registers it reads (`None` where `get` does not
            /// know one), computed with [`crate::ir::alu`]; `None` for ops
            /// that do not compute one register from registers and constants.
            #[allow(unused_variables)]
            pub fn fold(&self, get: impl Fn(u8) -> Option<u64>) -> Option<u64> {
                let this = *self;
                match this {
                    $(
                        Op::$name $({ $($field),* })? =>
                            define_ops!(@fold this get [$($fold)?] [$($parts)?]),
                    )*
                }
            }

            /// The same access at an address proven to be `offset` in map
            /// `region`'s value area, for checked loads and stores that have
            /// such a form.
            #[allow(unused_variables)]
            pub fn direct(&self, region: u16, offset: u32) -> Option<Op> {
                match *self {
                    $(
                        Op::$name $({ $($field),* })? =>
                            define_ops!(@direct region offset [$($direct)?]),
                    )*
                }
            }

            /// The same access at a host address proven, at load time, to
            /// hold the bytes it reaches for the program's lifetime (inside
            /// a map's value area that no CPU sees differently, aligned to
            /// the access's width), for checked loads and stores that have
            /// such a form.
            #[allow(unused_variables)]
            pub fn fixed(&self, host: $crate::ir::op::HostAddr) -> Option<Op> {
                match *self {
                    $(
                        Op::$name $({ $($field),* })? =>
                            define_ops!(@fixed host [$($fixed)?]),
                    )*
                }
            }

            /// The jump, branch or call target, to renumber it.
            #[allow(unused_variables, unreachable_code)]
            pub fn target_mut(&mut self) -> Option<&mut u32> {
                match self {
                    $(
                        Op::$name $({ $($field),* })? => {
                            $($( define_ops!(@target $field $field); )*)?
                            None
                        }
                    )*
                }
            }
        }

        #[cfg(test)]
        impl Op {
            /// One op of every variant, with sample field values.
            pub(crate) fn examples() -> Vec<Op> {
                vec![
                    $( Op::$name $({ $($field: $crate::ir::define::Sample::sample()),* })?, )*
                ]
            }
        }

        impl std::fmt::Display for Op {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match *self {
                    $(
                        Op::$name $({ $($field),* })? => write!(
                            f,
                            $text
                            $($(, $field = define_ops!(@show $field $field))*)?
                        ),
                    )*
                }
            }
        }
    };
}

pub(crate) use define_ops;

#[cfg(test)]
mod samples {
    use super::Sample;
    use crate::ir::op::AtomicOp;

    impl Sample for u8 {
        fn sample() -> Self {
            3
        }
    }
    impl Sample for u16 {
        fn sample() -> Self {
            0
        }
    }
    impl Sample for u32 {
        fn sample() -> Self {
            2
        }
    }
    impl Sample for u64 {
        fn sample() -> Self {
            5
        }
    }
    impl Sample for i16 {
        fn sample() -> Self {
            -8
        }
    }
    impl Sample for i32 {
        fn sample() -> Self {
            -1
        }
    }
    impl Sample for bool {
        fn sample() -> Self {
            true
        }
    }
    impl Sample for AtomicOp {
        fn sample() -> Self {
            AtomicOp::Add { fetch: true }
        }
    }
}
