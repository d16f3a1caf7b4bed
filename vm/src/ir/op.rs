//! The internal form a program is translated into once, at load time, and
//! the one table that describes it.
//!
//! Each [`Op`] is one eBPF instruction with its decoding done: the operation
//! and operand kind are in the variant, immediates are already extended to the
//! width they are used at, jump targets are absolute op indices, and map
//! references are resolved to virtual addresses. The interpreter only matches
//! on the variant. Until compaction, ops keep the numbering of the original
//! slots (the second slot of an `lddw` becomes [`Op::LddwTail`]), so a pass
//! can replace one op by another in place and an error names the
//! instruction index the user wrote.
//!
//! # The op table
//!
//! Every variant is one row below:
//!
//! ```text
//! /// doc
//! Name { field: type, ... } = FACTS [, fold |r| VALUE] [, direct |region, offset| OP]
//!     [, fixed |host| OP] [, parts PARTS] => "TEXT";
//! ```
//!
//! - `FACTS` builds the op's [`Facts`] (registers read, registers written,
//!   memory touched, where control goes, the value it leaves) with the
//!   constructors of [`crate::ir::facts`], from the row's fields.
//! - `fold`: for an op that computes one register from registers and
//!   constants, that value, from `r(reg)` (a register's value) and the
//!   fields, with [`crate::ir::alu`] ([`Op::fold`]); a fused op folds
//!   through its parts.
//! - `direct`: for a checked load or store, the op that makes the same access
//!   at an address proven inside a map's value area (`region`, `offset`).
//! - `fixed`: for a checked load or store, the op that makes the same access
//!   at a [`HostAddr`] proven to hold the bytes for the program's lifetime (a
//!   map whose value area no CPU sees differently, the address aligned to the
//!   width): one aligned access with nothing to look up, the form a compiled
//!   tier embeds as a constant address. `OP` is an `Op` or an `Option<Op>`
//!   (`None`: the form cannot hold the operands).
//! - `parts`: for a fused op, the instructions it stands for, in program
//!   order (their slots are consecutive in the original program); by default
//!   an op stands for itself. Its weight, the instructions it counts for, is
//!   the number of its [`Parts`].
//! - `TEXT`: how it prints, a format string naming every field; registers
//!   print as `%rN`, offsets with their sign, targets as `@index`.
//! - A field named `target` is the op's jump or call target: renumbering
//!   finds it by that name ([`Op::target_mut`]).
//!
//! The passes, the verifier and the text form read these facts through
//! [`Op::facts`], [`Op::parts`], [`Op::target_mut`] and `Display`. Adding an
//! op means adding a row (and its arm in the interpreter, which the compiler
//! asks for): nothing else matches ops by hand, and no `match` over `Op` in
//! the crate has a wildcard arm (`clippy::wildcard_enum_match_arm` is
//! denied).
//!
//! ```
//! use tinybpf_vm::ir::facts::Flow;
//! use tinybpf_vm::ir::op::Op;
//! use tinybpf_vm::ir::regs::Regs;
//! let op = Op::JltReg { dst: 1, src: 2, target: 7 };
//! let facts = op.facts();
//! assert_eq!(facts.reads, Regs::of(1) | Regs::of(2));
//! assert_eq!(facts.flow, Flow::Branch(7));
//! assert_eq!(op.to_string(), "jlt %r1, %r2, @7");
//! let fused = Op::MovAdd64Imm { dst: 1, src: 2, imm: 8 };
//! assert_eq!(fused.facts().weight, 2);
//! assert_eq!(fused.parts().as_slice()[1], Op::Add64Imm { dst: 1, imm: 8 });
//! ```

use std::ptr::NonNull;

use crate::ir::alu;
use crate::ir::define::{Parts, define_ops};
#[allow(clippy::wildcard_imports)]
use crate::ir::facts::*;
pub use crate::isa::decode::AtomicOp;

define_ops! {
    // ---- 64-bit arithmetic with an immediate, sign-extended to 64 bits at
    // translation (shift amounts already masked to 0..63)
    Add64Imm { dst: u8, imm: u64 } = alu(dst, Value::Offset(dst, imm)),
        fold |r| alu::add64(r(dst), imm)
        => "add {dst}, {imm}";
    Sub64Imm { dst: u8, imm: u64 } = alu(dst, Value::Offset(dst, imm.wrapping_neg())),
        fold |r| alu::sub64(r(dst), imm)
        => "sub {dst}, {imm}";
    Mul64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::mul64(r(dst), imm)
        => "mul {dst}, {imm}";
    Div64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::div64(r(dst), imm)
        => "div {dst}, {imm}";
    SDiv64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::sdiv64(r(dst), imm)
        => "sdiv {dst}, {imm}";
    Mod64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::mod64(r(dst), imm)
        => "mod {dst}, {imm}";
    SMod64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::smod64(r(dst), imm)
        => "smod {dst}, {imm}";
    Or64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::or64(r(dst), imm)
        => "or {dst}, {imm}";
    And64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::and64(r(dst), imm)
        => "and {dst}, {imm}";
    Lsh64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::lsh64(r(dst), imm)
        => "lsh {dst}, {imm}";
    Rsh64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::rsh64(r(dst), imm)
        => "rsh {dst}, {imm}";
    Arsh64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::arsh64(r(dst), imm)
        => "arsh {dst}, {imm}";
    Xor64Imm { dst: u8, imm: u64 } = alu(dst, Value::Any),
        fold |r| alu::xor64(r(dst), imm)
        => "xor {dst}, {imm}";
    Mov64Imm { dst: u8, imm: u64 } = set(dst, Value::Const(imm)), fold |_| imm => "mov {dst}, {imm}";
    // ---- 64-bit arithmetic with a register
    Add64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::add64(r(dst), r(src))
        => "add {dst}, {src}";
    Sub64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::sub64(r(dst), r(src))
        => "sub {dst}, {src}";
    Mul64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::mul64(r(dst), r(src))
        => "mul {dst}, {src}";
    Div64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::div64(r(dst), r(src))
        => "div {dst}, {src}";
    SDiv64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::sdiv64(r(dst), r(src))
        => "sdiv {dst}, {src}";
    Mod64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::mod64(r(dst), r(src))
        => "mod {dst}, {src}";
    SMod64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::smod64(r(dst), r(src))
        => "smod {dst}, {src}";
    Or64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::or64(r(dst), r(src))
        => "or {dst}, {src}";
    And64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::and64(r(dst), r(src))
        => "and {dst}, {src}";
    Lsh64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::lsh64(r(dst), r(src))
        => "lsh {dst}, {src}";
    Rsh64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::rsh64(r(dst), r(src))
        => "rsh {dst}, {src}";
    Arsh64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::arsh64(r(dst), r(src))
        => "arsh {dst}, {src}";
    Xor64Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Any),
        fold |r| alu::xor64(r(dst), r(src))
        => "xor {dst}, {src}";
    Mov64Reg { dst: u8, src: u8 } = unary(dst, src, Value::Copy(src)), fold |r| r(src) => "mov {dst}, {src}";
    /// `dst = sign_extend(src, bits)` for bits 8, 16, 32.
    MovSx64 { dst: u8, src: u8, bits: u8 } = unary(dst, src, Value::Narrow),
        fold |r| alu::sign_extend(r(src), bits)
        => "movsx{bits}64 {dst}, {src}";
    Neg64 { dst: u8 } = alu(dst, Value::Any), fold |r| alu::neg64(r(dst)) => "neg {dst}";
    // ---- 32-bit arithmetic; results are zero-extended (shift amounts masked to 0..31)
    Add32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::add32(r(dst), u64::from(imm))
        => "add32 {dst}, {imm}";
    Sub32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::sub32(r(dst), u64::from(imm))
        => "sub32 {dst}, {imm}";
    Mul32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::mul32(r(dst), u64::from(imm))
        => "mul32 {dst}, {imm}";
    Div32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::div32(r(dst), u64::from(imm))
        => "div32 {dst}, {imm}";
    SDiv32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::sdiv32(r(dst), u64::from(imm))
        => "sdiv32 {dst}, {imm}";
    Mod32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::mod32(r(dst), u64::from(imm))
        => "mod32 {dst}, {imm}";
    SMod32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::smod32(r(dst), u64::from(imm))
        => "smod32 {dst}, {imm}";
    Or32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::or32(r(dst), u64::from(imm))
        => "or32 {dst}, {imm}";
    And32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::and32(r(dst), u64::from(imm))
        => "and32 {dst}, {imm}";
    Lsh32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::lsh32(r(dst), u64::from(imm))
        => "lsh32 {dst}, {imm}";
    Rsh32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::rsh32(r(dst), u64::from(imm))
        => "rsh32 {dst}, {imm}";
    Arsh32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::arsh32(r(dst), u64::from(imm))
        => "arsh32 {dst}, {imm}";
    Xor32Imm { dst: u8, imm: u32 } = alu(dst, Value::Narrow),
        fold |r| alu::xor32(r(dst), u64::from(imm))
        => "xor32 {dst}, {imm}";
    Mov32Imm { dst: u8, imm: u32 } = set(dst, Value::Const(u64::from(imm))),
        fold |_| u64::from(imm)
        => "mov32 {dst}, {imm}";
    Add32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::add32(r(dst), r(src))
        => "add32 {dst}, {src}";
    Sub32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::sub32(r(dst), r(src))
        => "sub32 {dst}, {src}";
    Mul32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::mul32(r(dst), r(src))
        => "mul32 {dst}, {src}";
    Div32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::div32(r(dst), r(src))
        => "div32 {dst}, {src}";
    SDiv32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::sdiv32(r(dst), r(src))
        => "sdiv32 {dst}, {src}";
    Mod32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::mod32(r(dst), r(src))
        => "mod32 {dst}, {src}";
    SMod32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::smod32(r(dst), r(src))
        => "smod32 {dst}, {src}";
    Or32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::or32(r(dst), r(src))
        => "or32 {dst}, {src}";
    And32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::and32(r(dst), r(src))
        => "and32 {dst}, {src}";
    Lsh32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::lsh32(r(dst), r(src))
        => "lsh32 {dst}, {src}";
    Rsh32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::rsh32(r(dst), r(src))
        => "rsh32 {dst}, {src}";
    Arsh32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::arsh32(r(dst), r(src))
        => "arsh32 {dst}, {src}";
    Xor32Reg { dst: u8, src: u8 } = alu_reg(dst, src, Value::Narrow),
        fold |r| alu::xor32(r(dst), r(src))
        => "xor32 {dst}, {src}";
    Mov32Reg { dst: u8, src: u8 } = unary(dst, src, Value::Narrow), fold |r| alu::mov32(r(src)) => "mov32 {dst}, {src}";
    /// 32-bit `dst = sign_extend(src, bits)` for bits 8, 16, zero-extended.
    MovSx32 { dst: u8, src: u8, bits: u8 } = unary(dst, src, Value::Narrow),
        fold |r| alu::sign_extend32(r(src), bits)
        => "movsx{bits}32 {dst}, {src}";
    Neg32 { dst: u8 } = alu(dst, Value::Narrow), fold |r| alu::neg32(r(dst)) => "neg32 {dst}";
    /// Convert to little-endian: truncate to `bits` (a no-op swap on this host).
    ToLe { dst: u8, bits: u8 } = alu(dst, Value::Any), fold |r| alu::truncate(r(dst), bits) => "le{bits} {dst}";
    /// Convert to big-endian: swap the low `bits` and truncate.
    ToBe { dst: u8, bits: u8 } = alu(dst, Value::Any), fold |r| alu::swap(r(dst), bits) => "be{bits} {dst}";
    /// Unconditional byte swap of the low `bits`, truncating.
    Bswap { dst: u8, bits: u8 } = alu(dst, Value::Any), fold |r| alu::swap(r(dst), bits) => "bswap{bits} {dst}";
    /// `dst = imm` for `lddw`, including resolved map handles and value addresses.
    LoadImm64 { dst: u8, imm: u64 } = set(dst, Value::Const(imm)), fold |_| imm => "lddw {dst}, {imm}";
    /// A pseudo-func `lddw`: `dst` = a reference to the function at `target`
    /// (`FUNC_REF_BASE + target`), which the callback helpers call.
    LoadFunc { dst: u8, target: u32 } = load_func(dst, target) => "lddw {dst}, func {target}";
    /// The second slot of an `lddw`; never executed (nothing may jump into it).
    LddwTail = Facts::NOTHING, parts Parts::NONE => "(second slot of lddw)";

    // ---- loads and stores through a register, checked against the regions at run time
    LdxB { dst: u8, src: u8, off: i16 } = load(dst, src, off, 1, false),
        direct |region, offset| Op::DirectLdxB { dst, region, offset },
        fixed |host| Op::FixedLdxB { dst, host }
        => "ldxb {dst}, [{src}{off}]";
    LdxH { dst: u8, src: u8, off: i16 } = load(dst, src, off, 2, false),
        direct |region, offset| Op::DirectLdxH { dst, region, offset },
        fixed |host| Op::FixedLdxH { dst, host }
        => "ldxh {dst}, [{src}{off}]";
    LdxW { dst: u8, src: u8, off: i16 } = load(dst, src, off, 4, false),
        direct |region, offset| Op::DirectLdxW { dst, region, offset },
        fixed |host| Op::FixedLdxW { dst, host }
        => "ldxw {dst}, [{src}{off}]";
    LdxDW { dst: u8, src: u8, off: i16 } = load(dst, src, off, 8, false),
        direct |region, offset| Op::DirectLdxDW { dst, region, offset },
        fixed |host| Op::FixedLdxDW { dst, host }
        => "ldxdw {dst}, [{src}{off}]";
    LdxSB { dst: u8, src: u8, off: i16 } = load(dst, src, off, 1, true) => "ldxsb {dst}, [{src}{off}]";
    LdxSH { dst: u8, src: u8, off: i16 } = load(dst, src, off, 2, true) => "ldxsh {dst}, [{src}{off}]";
    LdxSW { dst: u8, src: u8, off: i16 } = load(dst, src, off, 4, true) => "ldxsw {dst}, [{src}{off}]";
    StB { dst: u8, off: i16, imm: u64 } = store(dst, off, 1, Stored::Imm(imm)),
        direct |region, offset| Op::DirectStB { imm, region, offset },
        fixed |host| imm32(imm).map(|imm| Op::FixedStB { imm, host })
        => "stb [{dst}{off}], {imm}";
    StH { dst: u8, off: i16, imm: u64 } = store(dst, off, 2, Stored::Imm(imm)),
        direct |region, offset| Op::DirectStH { imm, region, offset },
        fixed |host| imm32(imm).map(|imm| Op::FixedStH { imm, host })
        => "sth [{dst}{off}], {imm}";
    StW { dst: u8, off: i16, imm: u64 } = store(dst, off, 4, Stored::Imm(imm)),
        direct |region, offset| Op::DirectStW { imm, region, offset },
        fixed |host| imm32(imm).map(|imm| Op::FixedStW { imm, host })
        => "stw [{dst}{off}], {imm}";
    StDW { dst: u8, off: i16, imm: u64 } = store(dst, off, 8, Stored::Imm(imm)),
        direct |region, offset| Op::DirectStDW { imm, region, offset },
        fixed |host| imm32(imm).map(|imm| Op::FixedStDW { imm, host })
        => "stdw [{dst}{off}], {imm}";
    StxB { dst: u8, src: u8, off: i16 } = store(dst, off, 1, Stored::Reg(src)),
        direct |region, offset| Op::DirectStxB { src, region, offset },
        fixed |host| Op::FixedStxB { src, host }
        => "stxb [{dst}{off}], {src}";
    StxH { dst: u8, src: u8, off: i16 } = store(dst, off, 2, Stored::Reg(src)),
        direct |region, offset| Op::DirectStxH { src, region, offset },
        fixed |host| Op::FixedStxH { src, host }
        => "stxh [{dst}{off}], {src}";
    StxW { dst: u8, src: u8, off: i16 } = store(dst, off, 4, Stored::Reg(src)),
        direct |region, offset| Op::DirectStxW { src, region, offset },
        fixed |host| Op::FixedStxW { src, host }
        => "stxw [{dst}{off}], {src}";
    StxDW { dst: u8, src: u8, off: i16 } = store(dst, off, 8, Stored::Reg(src)),
        direct |region, offset| Op::DirectStxDW { src, region, offset },
        fixed |host| Op::FixedStxDW { src, host }
        => "stxdw [{dst}{off}], {src}";
    // ---- accesses at a constant offset from r10, proven inside the current frame at load time
    StackLdxB { dst: u8, off: i16 } = stack_load(dst, off, 1, false) => "ldxb {dst}, [%r10{off}]";
    StackLdxH { dst: u8, off: i16 } = stack_load(dst, off, 2, false) => "ldxh {dst}, [%r10{off}]";
    StackLdxW { dst: u8, off: i16 } = stack_load(dst, off, 4, false) => "ldxw {dst}, [%r10{off}]";
    StackLdxDW { dst: u8, off: i16 } = stack_load(dst, off, 8, false) => "ldxdw {dst}, [%r10{off}]";
    StackLdxSB { dst: u8, off: i16 } = stack_load(dst, off, 1, true) => "ldxsb {dst}, [%r10{off}]";
    StackLdxSH { dst: u8, off: i16 } = stack_load(dst, off, 2, true) => "ldxsh {dst}, [%r10{off}]";
    StackLdxSW { dst: u8, off: i16 } = stack_load(dst, off, 4, true) => "ldxsw {dst}, [%r10{off}]";
    StackStB { off: i16, imm: u64 } = stack_store(off, 1, Stored::Imm(imm)) => "stb [%r10{off}], {imm}";
    StackStH { off: i16, imm: u64 } = stack_store(off, 2, Stored::Imm(imm)) => "sth [%r10{off}], {imm}";
    StackStW { off: i16, imm: u64 } = stack_store(off, 4, Stored::Imm(imm)) => "stw [%r10{off}], {imm}";
    StackStDW { off: i16, imm: u64 } = stack_store(off, 8, Stored::Imm(imm)) => "stdw [%r10{off}], {imm}";
    StackStxB { src: u8, off: i16 } = stack_store(off, 1, Stored::Reg(src)) => "stxb [%r10{off}], {src}";
    StackStxH { src: u8, off: i16 } = stack_store(off, 2, Stored::Reg(src)) => "stxh [%r10{off}], {src}";
    StackStxW { src: u8, off: i16 } = stack_store(off, 4, Stored::Reg(src)) => "stxw [%r10{off}], {src}";
    StackStxDW { src: u8, off: i16 } = stack_store(off, 8, Stored::Reg(src)) => "stxdw [%r10{off}], {src}";
    /// An atomic read-modify-write of 4 bytes (`wide == false`) or 8 bytes.
    Atomic { op: AtomicOp, wide: bool, dst: u8, src: u8, off: i16 } = atomic(op, dst, src, off, wide)
        => "lock {op}{wide} [{dst}{off}], {src}";

    // ---- jumps: `target` is the absolute index of an op
    Ja { target: u32 } = jump(target) => "ja {target}";
    JeqImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jeq {dst}, {imm}, {target}";
    JgtImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jgt {dst}, {imm}, {target}";
    JgeImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jge {dst}, {imm}, {target}";
    JsetImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jset {dst}, {imm}, {target}";
    JneImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jne {dst}, {imm}, {target}";
    JsgtImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jsgt {dst}, {imm}, {target}";
    JsgeImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jsge {dst}, {imm}, {target}";
    JltImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jlt {dst}, {imm}, {target}";
    JleImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jle {dst}, {imm}, {target}";
    JsltImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jslt {dst}, {imm}, {target}";
    JsleImm { dst: u8, imm: u64, target: u32 } = branch(dst, target) => "jsle {dst}, {imm}, {target}";
    JeqReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jeq {dst}, {src}, {target}";
    JgtReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jgt {dst}, {src}, {target}";
    JgeReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jge {dst}, {src}, {target}";
    JsetReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jset {dst}, {src}, {target}";
    JneReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jne {dst}, {src}, {target}";
    JsgtReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jsgt {dst}, {src}, {target}";
    JsgeReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jsge {dst}, {src}, {target}";
    JltReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jlt {dst}, {src}, {target}";
    JleReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jle {dst}, {src}, {target}";
    JsltReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jslt {dst}, {src}, {target}";
    JsleReg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jsle {dst}, {src}, {target}";
    Jeq32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jeq32 {dst}, {imm}, {target}";
    Jgt32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jgt32 {dst}, {imm}, {target}";
    Jge32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jge32 {dst}, {imm}, {target}";
    Jset32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jset32 {dst}, {imm}, {target}";
    Jne32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jne32 {dst}, {imm}, {target}";
    Jsgt32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jsgt32 {dst}, {imm}, {target}";
    Jsge32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jsge32 {dst}, {imm}, {target}";
    Jlt32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jlt32 {dst}, {imm}, {target}";
    Jle32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jle32 {dst}, {imm}, {target}";
    Jslt32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jslt32 {dst}, {imm}, {target}";
    Jsle32Imm { dst: u8, imm: u32, target: u32 } = branch(dst, target) => "jsle32 {dst}, {imm}, {target}";
    Jeq32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jeq32 {dst}, {src}, {target}";
    Jgt32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jgt32 {dst}, {src}, {target}";
    Jge32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jge32 {dst}, {src}, {target}";
    Jset32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jset32 {dst}, {src}, {target}";
    Jne32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jne32 {dst}, {src}, {target}";
    Jsgt32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jsgt32 {dst}, {src}, {target}";
    Jsge32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jsge32 {dst}, {src}, {target}";
    Jlt32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jlt32 {dst}, {src}, {target}";
    Jle32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jle32 {dst}, {src}, {target}";
    Jslt32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jslt32 {dst}, {src}, {target}";
    Jsle32Reg { dst: u8, src: u8, target: u32 } = branch_reg(dst, src, target) => "jsle32 {dst}, {src}, {target}";

    // ---- calls
    /// `bpf_map_lookup_elem` (helper 1) on the built-in array map path.
    MapLookup = map_lookup() => "call 1 (array lookup)";
    /// A helper call through the program's resolved helper table.
    CallHelper { slot: u32 } = call_helper() => "call helper table[{slot}]";
    /// `callx`: a helper whose id is in a register, resolved at run time.
    CallReg { reg: u8 } = call_reg(reg) => "call {reg}";
    /// A program-local call.
    CallLocal { target: u32 } = call_local(target) => "call local {target}";
    /// Return from the current frame, or end the program.
    Exit = exit() => "exit";

    // ---- what the lookup rewrite and the later passes make
    /// A rewritten constant-key lookup: `r0 = imm`, the element's address (or 0).
    /// Same effect as `LoadImm64 { dst: 0, .. }`, kept apart so `disasm` can mark it.
    LookupConst { imm: u64 } = set(0, Value::Const(imm)), fold |_| imm
        => "mov %r0, {imm} (constant-key lookup)";
    /// A rewritten run-time-key lookup into array map `map`: reads the u32 key at r2,
    /// then `r0 = key < max_entries ? start + key * elem_size : 0`.
    LookupInline { map: u16 } = lookup_inline() => "inline lookup %r0 = map {map}[*(u32 *)%r2]";
    /// An instruction removed by a pass (a dead op, a NULL test that is never
    /// taken). Removed again when the program is compacted; never executed.
    Nop = Facts::NOTHING, parts Parts::NONE => "nop";
    // ---- accesses at an address proven constant (a register that holds the same
    // map-value address on every path) and inside map `region`'s value area at
    // load time: no run-time check. The value area never moves.
    DirectLdxB { dst: u8, region: u16, offset: u32 } = direct_load(dst, region, offset, 1)
        => "ldxb {dst}, [map {region} + {offset}]";
    DirectLdxH { dst: u8, region: u16, offset: u32 } = direct_load(dst, region, offset, 2)
        => "ldxh {dst}, [map {region} + {offset}]";
    DirectLdxW { dst: u8, region: u16, offset: u32 } = direct_load(dst, region, offset, 4)
        => "ldxw {dst}, [map {region} + {offset}]";
    DirectLdxDW { dst: u8, region: u16, offset: u32 } = direct_load(dst, region, offset, 8)
        => "ldxdw {dst}, [map {region} + {offset}]";
    DirectStxB { src: u8, region: u16, offset: u32 } = direct_store(region, offset, 1, Stored::Reg(src))
        => "stxb [map {region} + {offset}], {src}";
    DirectStxH { src: u8, region: u16, offset: u32 } = direct_store(region, offset, 2, Stored::Reg(src))
        => "stxh [map {region} + {offset}], {src}";
    DirectStxW { src: u8, region: u16, offset: u32 } = direct_store(region, offset, 4, Stored::Reg(src))
        => "stxw [map {region} + {offset}], {src}";
    DirectStxDW { src: u8, region: u16, offset: u32 } = direct_store(region, offset, 8, Stored::Reg(src))
        => "stxdw [map {region} + {offset}], {src}";
    DirectStB { imm: u64, region: u16, offset: u32 } = direct_store(region, offset, 1, Stored::Imm(imm))
        => "stb [map {region} + {offset}], {imm}";
    DirectStH { imm: u64, region: u16, offset: u32 } = direct_store(region, offset, 2, Stored::Imm(imm))
        => "sth [map {region} + {offset}], {imm}";
    DirectStW { imm: u64, region: u16, offset: u32 } = direct_store(region, offset, 4, Stored::Imm(imm))
        => "stw [map {region} + {offset}], {imm}";
    DirectStDW { imm: u64, region: u16, offset: u32 } = direct_store(region, offset, 8, Stored::Imm(imm))
        => "stdw [map {region} + {offset}], {imm}";
    // ---- the same accesses at a host address fixed for the program's lifetime:
    // made instead of the `Direct*` forms when the map's value area is the same
    // for every CPU (every map but the per-CPU ones) and the address is aligned
    // to the width. One aligned access, nothing to look up; `imm` is the
    // instruction's 32-bit immediate, sign-extended when stored.
    FixedLdxB { dst: u8, host: HostAddr } = fixed_load(dst, host, 1) => "ldxb {dst}, [{host}]";
    FixedLdxH { dst: u8, host: HostAddr } = fixed_load(dst, host, 2) => "ldxh {dst}, [{host}]";
    FixedLdxW { dst: u8, host: HostAddr } = fixed_load(dst, host, 4) => "ldxw {dst}, [{host}]";
    FixedLdxDW { dst: u8, host: HostAddr } = fixed_load(dst, host, 8) => "ldxdw {dst}, [{host}]";
    FixedStxB { src: u8, host: HostAddr } = fixed_store(host, 1, Stored::Reg(src)) => "stxb [{host}], {src}";
    FixedStxH { src: u8, host: HostAddr } = fixed_store(host, 2, Stored::Reg(src)) => "stxh [{host}], {src}";
    FixedStxW { src: u8, host: HostAddr } = fixed_store(host, 4, Stored::Reg(src)) => "stxw [{host}], {src}";
    FixedStxDW { src: u8, host: HostAddr } = fixed_store(host, 8, Stored::Reg(src)) => "stxdw [{host}], {src}";
    FixedStB { imm: i32, host: HostAddr } = fixed_store(host, 1, Stored::Imm(imm as i64 as u64))
        => "stb [{host}], {imm}";
    FixedStH { imm: i32, host: HostAddr } = fixed_store(host, 2, Stored::Imm(imm as i64 as u64))
        => "sth [{host}], {imm}";
    FixedStW { imm: i32, host: HostAddr } = fixed_store(host, 4, Stored::Imm(imm as i64 as u64))
        => "stw [{host}], {imm}";
    FixedStDW { imm: i32, host: HostAddr } = fixed_store(host, 8, Stored::Imm(imm as i64 as u64))
        => "stdw [{host}], {imm}";

    // ---- superinstructions made by compaction: `mov dst, src` followed by an
    // operation on dst, run as one three-operand op
    MovAdd64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Offset(src, imm)),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Add64Imm { dst, imm })
        => "mov+add {dst}, {src}, {imm}";
    MovSub64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Offset(src, imm.wrapping_neg())),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Sub64Imm { dst, imm })
        => "mov+sub {dst}, {src}, {imm}";
    MovMul64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Mul64Imm { dst, imm })
        => "mov+mul {dst}, {src}, {imm}";
    MovAnd64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::And64Imm { dst, imm })
        => "mov+and {dst}, {src}, {imm}";
    MovOr64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Or64Imm { dst, imm })
        => "mov+or {dst}, {src}, {imm}";
    MovXor64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Xor64Imm { dst, imm })
        => "mov+xor {dst}, {src}, {imm}";
    MovLsh64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Lsh64Imm { dst, imm })
        => "mov+lsh {dst}, {src}, {imm}";
    MovRsh64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Rsh64Imm { dst, imm })
        => "mov+rsh {dst}, {src}, {imm}";
    MovArsh64Imm { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Arsh64Imm { dst, imm })
        => "mov+arsh {dst}, {src}, {imm}";
    MovAdd64Reg { dst: u8, src: u8, src2: u8 } = binary(dst, src, src2, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Add64Reg { dst, src: src2 })
        => "mov+add {dst}, {src}, {src2}";
    MovSub64Reg { dst: u8, src: u8, src2: u8 } = binary(dst, src, src2, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Sub64Reg { dst, src: src2 })
        => "mov+sub {dst}, {src}, {src2}";
    MovAnd64Reg { dst: u8, src: u8, src2: u8 } = binary(dst, src, src2, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::And64Reg { dst, src: src2 })
        => "mov+and {dst}, {src}, {src2}";
    MovOr64Reg { dst: u8, src: u8, src2: u8 } = binary(dst, src, src2, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Or64Reg { dst, src: src2 })
        => "mov+or {dst}, {src}, {src2}";
    MovXor64Reg { dst: u8, src: u8, src2: u8 } = binary(dst, src, src2, Value::Any),
        parts Parts::two(Op::Mov64Reg { dst, src }, Op::Xor64Reg { dst, src: src2 })
        => "mov+xor {dst}, {src}, {src2}";
    /// `mov dst, src; lsh dst, imm; xor dst, src`: `dst = src ^ (src << imm)`,
    /// the xorshift step of hash and random-number code.
    XorShl64 { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::three(Op::Mov64Reg { dst, src }, Op::Lsh64Imm { dst, imm }, Op::Xor64Reg { dst, src })
        => "xorshl {dst}, {src}, {imm}";
    /// `mov dst, src; rsh dst, imm; xor dst, src`: `dst = src ^ (src >> imm)`.
    XorShr64 { dst: u8, src: u8, imm: u64 } = unary(dst, src, Value::Any),
        parts Parts::three(Op::Mov64Reg { dst, src }, Op::Rsh64Imm { dst, imm }, Op::Xor64Reg { dst, src })
        => "xorshr {dst}, {src}, {imm}";
    /// `add dst, imm; jeq dst, cmp, target` (a loop counter and its test). Both
    /// immediates came from 32-bit fields and are sign-extended when run.
    AddJeqImm { dst: u8, imm: i32, cmp: i32, target: u32 } = update_and_branch(dst, target),
        parts Parts::two(
            Op::Add64Imm { dst, imm: imm as i64 as u64 },
            Op::JeqImm { dst, imm: cmp as i64 as u64, target },
        )
        => "add+jeq {dst}, {imm}, {cmp}, {target}";
    /// `add dst, imm; jne dst, cmp, target`.
    AddJneImm { dst: u8, imm: i32, cmp: i32, target: u32 } = update_and_branch(dst, target),
        parts Parts::two(
            Op::Add64Imm { dst, imm: imm as i64 as u64 },
            Op::JneImm { dst, imm: cmp as i64 as u64, target },
        )
        => "add+jne {dst}, {imm}, {cmp}, {target}";
    /// `and dst, imm; jeq dst, cmp, target` (a flag test).
    AndJeqImm { dst: u8, imm: i32, cmp: i32, target: u32 } = update_and_branch(dst, target),
        parts Parts::two(
            Op::And64Imm { dst, imm: imm as i64 as u64 },
            Op::JeqImm { dst, imm: cmp as i64 as u64, target },
        )
        => "and+jeq {dst}, {imm}, {cmp}, {target}";
    /// `and dst, imm; jne dst, cmp, target`.
    AndJneImm { dst: u8, imm: i32, cmp: i32, target: u32 } = update_and_branch(dst, target),
        parts Parts::two(
            Op::And64Imm { dst, imm: imm as i64 as u64 },
            Op::JneImm { dst, imm: cmp as i64 as u64, target },
        )
        => "and+jne {dst}, {imm}, {cmp}, {target}";
    /// `[mov dst, src;] lsh dst, 32; rsh dst, 32`: `dst = src as u32`; `insns` is 2 or 3.
    Zext32 { dst: u8, src: u8, insns: u8 } = unary(dst, src, Value::Narrow),
        parts extension_parts(dst, src, insns, Op::Rsh64Imm { dst, imm: 32 })
        => "zext32 {dst}, {src} ({insns} insns)";
    /// `[mov dst, src;] lsh dst, 32; arsh dst, 32`: `dst = src as i32 as i64`; `insns` is 2 or 3.
    Sext32 { dst: u8, src: u8, insns: u8 } = unary(dst, src, Value::Narrow),
        parts extension_parts(dst, src, insns, Op::Arsh64Imm { dst, imm: 32 })
        => "sext32 {dst}, {src} ({insns} insns)";
}

/// The host address of the bytes a `Fixed*` op reaches.
///
/// Only the constant-address pass makes one, from a map's value area (see
/// [`Op::fixed`]), and the verifier checks each before the program can run:
/// the bytes lie inside the value area of a map the program holds, which
/// never moves while the map lives and is the same for every CPU, and the
/// address is aligned to the access's width. It is printed as the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAddr(NonNull<u8>);

// SAFETY: a HostAddr is an address, not an owner or a reference: nothing is
// reached through it except by the interpreter (and a compiled tier) under
// the verifier's proof, which also requires the program to hold the map that
// owns the bytes; every such access goes through `shared_mem`, whose accesses
// are atomic, so any thread may make it.
unsafe impl Send for HostAddr {}
// SAFETY: see the Send impl.
unsafe impl Sync for HostAddr {}

impl HostAddr {
    /// The address of `bytes` (kept with its provenance).
    pub(crate) const fn new(bytes: NonNull<u8>) -> HostAddr {
        HostAddr(bytes)
    }

    /// The address as a pointer, to access the bytes.
    #[inline(always)]
    pub fn ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }

    /// The address as a number (what it prints, what a compiled tier embeds).
    pub fn addr(self) -> usize {
        self.0.as_ptr().addr()
    }
}

impl std::fmt::Display for HostAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host {:#x}", self.addr())
    }
}

#[cfg(test)]
impl crate::ir::define::Sample for HostAddr {
    fn sample() -> Self {
        static BYTES: [u64; 1] = [0];
        HostAddr::new(NonNull::from(&BYTES).cast())
    }
}

/// A store's immediate as the 32-bit field it came from (every store
/// immediate is one, sign-extended at translation).
fn imm32(imm: u64) -> Option<i32> {
    i32::try_from(imm as i64).ok()
}

/// The parts of a fused zero or sign extension: `[mov dst, src;] lsh dst, 32; shift dst, 32`.
const fn extension_parts(dst: u8, src: u8, insns: u8, shift: Op) -> Parts {
    let lsh = Op::Lsh64Imm { dst, imm: 32 };
    if insns == 3 {
        Parts::three(Op::Mov64Reg { dst, src }, lsh, shift)
    } else {
        Parts::two(lsh, shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::regs::Regs;
    use std::collections::HashSet;

    #[test]
    fn every_row_gives_consistent_facts() {
        for op in Op::examples() {
            let facts = op.facts();
            assert!(facts.may_write.contains_all(facts.writes), "{op:?}");
            assert!(
                Regs::GENERAL.contains_all(facts.may_write),
                "{op:?} writes r10"
            );
            assert_eq!(usize::from(facts.weight), op.parts().len(), "{op:?}");
            assert_eq!(
                facts.value == Value::None,
                facts.may_write.is_empty(),
                "{op:?}"
            );
            let mut copy = op;
            assert_eq!(
                copy.target_mut().map(|t| *t),
                facts.target().or(facts.func_ref),
                "{op:?}"
            );
            if facts.removable() {
                assert!(!facts.can_fault(), "{op:?}");
            }
            if let Value::Const(_) | Value::Copy(_) | Value::Offset(..) = facts.value {
                assert!(facts.writes.single().is_some(), "{op:?}");
            }
            if let Memory::Checked { kind, .. } | Memory::Stack { kind, .. } = facts.memory
                && let AccessKind::Load { sign_extend } = kind
            {
                let text = op.to_string();
                assert_eq!(sign_extend, text.starts_with("ldxs"), "{op:?}");
            }
        }
    }

    #[test]
    fn every_row_prints_differently() {
        let texts: Vec<String> = Op::examples().iter().map(Op::to_string).collect();
        let distinct: HashSet<&String> = texts.iter().collect();
        assert_eq!(distinct.len(), texts.len(), "{texts:#?}");
    }

    #[test]
    fn fused_ops_stand_for_ops_that_are_not_fused() {
        for op in Op::examples() {
            let parts = op.parts();
            if parts.len() < 2 {
                continue;
            }
            let facts = op.facts();
            let mut reads = Regs::NONE;
            let mut written = Regs::NONE;
            for part in parts.as_slice() {
                assert_eq!(part.parts().len(), 1, "{op:?}: {part:?}");
                let part_facts = part.facts();
                reads |= part_facts.reads.minus(written);
                written |= part_facts.writes;
            }
            assert_eq!(facts.reads, reads, "{op:?}");
            assert_eq!(facts.writes, written, "{op:?}");
            let last = parts.as_slice()[parts.len() - 1].facts();
            assert_eq!(facts.flow, last.flow, "{op:?}");
            // The budget may stop a run inside a fused op: the parts before
            // the last must run alone, as plain register ops.
            for part in &parts.as_slice()[..parts.len() - 1] {
                assert!(part.facts().writes.single().is_some(), "{op:?}: {part:?}");
                assert!(part.fold(|_| Some(1)).is_some(), "{op:?}: {part:?}");
            }
        }
    }

    #[test]
    fn direct_forms_make_the_same_access() {
        let mut with_direct = 0;
        for op in Op::examples() {
            let Some(direct) = op.direct(1, 16) else {
                continue;
            };
            with_direct += 1;
            let (
                Memory::Checked { width, kind, .. },
                Memory::Direct {
                    region,
                    offset,
                    width: w,
                    kind: k,
                },
            ) = (op.facts().memory, direct.facts().memory)
            else {
                panic!("{op:?} -> {direct:?}");
            };
            assert_eq!((region, offset, w, k), (1, 16, width, kind), "{op:?}");
            assert_eq!(op.facts().writes, direct.facts().writes, "{op:?}");
            assert_eq!(op.facts().value, direct.facts().value, "{op:?}");
        }
        assert_eq!(with_direct, 12);
    }
}
