//! Each op as Cranelift IR: arithmetic with the semantics of
//! [`crate::ir::alu`] (division by zero, `MIN / -1` and shift amounts as
//! there), jumps, and memory through the op table's facts: checked accesses
//! against the regions inline, stack and direct accesses at their proven
//! addresses.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I16, I32, I64};
use cranelift_codegen::ir::{AtomicRmwOp, BlockArg, InstBuilder, Type, Value};

use crate::exec::memory::FIRST_MAP_SLOT;
use crate::ir::facts::{AccessKind, Memory, Stored};
use crate::ir::op::{AtomicOp, Op};
use crate::jit::codegen::{Gen, checked_flags, region_table_flags};
use crate::jit::env::{self, layout};

/// The integer type of `width` bytes.
fn int(width: u64) -> Type {
    match width {
        1 => I8,
        2 => I16,
        4 => I32,
        _ => I64,
    }
}

/// The type of a sign extension or swap of `bits` (8, 16, otherwise 32 or 64).
fn bits_type(bits: u8, widest: Type) -> Type {
    match bits {
        8 => I8,
        16 => I16,
        32 => I32,
        _ => widest,
    }
}

/// A binary operation on values of one type.
#[derive(Clone, Copy)]
enum Bin {
    Add,
    Sub,
    Mul,
    /// Division (`modulo`: the remainder), unsigned or signed.
    Div {
        signed: bool,
        modulo: bool,
    },
    Or,
    And,
    Xor,
    Lsh,
    Rsh,
    Arsh,
}

const DIV: Bin = Bin::Div {
    signed: false,
    modulo: false,
};
const SDIV: Bin = Bin::Div {
    signed: true,
    modulo: false,
};
const MOD: Bin = Bin::Div {
    signed: false,
    modulo: true,
};
const SMOD: Bin = Bin::Div {
    signed: true,
    modulo: true,
};

impl Gen<'_, '_> {
    /// Lowers op `index`; returns whether its block goes on (the op did not
    /// end it with a jump, a return or an exit).
    #[allow(clippy::too_many_lines)]
    pub(super) fn lower(&mut self, index: usize, op: Op) -> Result<bool, String> {
        use Bin::{Add, And, Arsh, Lsh, Mul, Or, Rsh, Sub, Xor};
        match op {
            Op::Add64Imm { dst, imm } => self.imm64(Add, dst, dst, imm),
            Op::Sub64Imm { dst, imm } => self.imm64(Sub, dst, dst, imm),
            Op::Mul64Imm { dst, imm } => self.imm64(Mul, dst, dst, imm),
            Op::Div64Imm { dst, imm } => self.imm64(DIV, dst, dst, imm),
            Op::SDiv64Imm { dst, imm } => self.imm64(SDIV, dst, dst, imm),
            Op::Mod64Imm { dst, imm } => self.imm64(MOD, dst, dst, imm),
            Op::SMod64Imm { dst, imm } => self.imm64(SMOD, dst, dst, imm),
            Op::Or64Imm { dst, imm } => self.imm64(Or, dst, dst, imm),
            Op::And64Imm { dst, imm } => self.imm64(And, dst, dst, imm),
            Op::Lsh64Imm { dst, imm } => self.imm64(Lsh, dst, dst, imm),
            Op::Rsh64Imm { dst, imm } => self.imm64(Rsh, dst, dst, imm),
            Op::Arsh64Imm { dst, imm } => self.imm64(Arsh, dst, dst, imm),
            Op::Xor64Imm { dst, imm } => self.imm64(Xor, dst, dst, imm),
            Op::Mov64Imm { dst, imm } | Op::LoadImm64 { dst, imm } => self.constant(dst, imm),
            // Programs with callbacks are left to the interpreter
            // (`Fallback::Callbacks`); the reference itself is a constant.
            Op::LoadFunc { dst, target } => {
                self.constant(dst, crate::exec::memory::FUNC_REF_BASE + u64::from(target))
            }
            Op::LookupConst { imm } => self.constant(0, imm),
            Op::Add64Reg { dst, src } => self.reg64(Add, dst, dst, src),
            Op::Sub64Reg { dst, src } => self.reg64(Sub, dst, dst, src),
            Op::Mul64Reg { dst, src } => self.reg64(Mul, dst, dst, src),
            Op::Div64Reg { dst, src } => self.reg64(DIV, dst, dst, src),
            Op::SDiv64Reg { dst, src } => self.reg64(SDIV, dst, dst, src),
            Op::Mod64Reg { dst, src } => self.reg64(MOD, dst, dst, src),
            Op::SMod64Reg { dst, src } => self.reg64(SMOD, dst, dst, src),
            Op::Or64Reg { dst, src } => self.reg64(Or, dst, dst, src),
            Op::And64Reg { dst, src } => self.reg64(And, dst, dst, src),
            Op::Lsh64Reg { dst, src } => self.reg64(Lsh, dst, dst, src),
            Op::Rsh64Reg { dst, src } => self.reg64(Rsh, dst, dst, src),
            Op::Arsh64Reg { dst, src } => self.reg64(Arsh, dst, dst, src),
            Op::Xor64Reg { dst, src } => self.reg64(Xor, dst, dst, src),
            Op::Mov64Reg { dst, src } => {
                let v = self.r(src);
                self.set(dst, v);
            }
            Op::MovSx64 { dst, src, bits } => {
                let v = self.r(src);
                let narrow = self.b.ins().ireduce(bits_type(bits, I32), v);
                let v = self.b.ins().sextend(I64, narrow);
                self.set(dst, v);
            }
            Op::Neg64 { dst } => {
                let v = self.r(dst);
                let v = self.b.ins().ineg(v);
                self.set(dst, v);
            }
            Op::Add32Imm { dst, imm } => self.imm32(Add, dst, imm),
            Op::Sub32Imm { dst, imm } => self.imm32(Sub, dst, imm),
            Op::Mul32Imm { dst, imm } => self.imm32(Mul, dst, imm),
            Op::Div32Imm { dst, imm } => self.imm32(DIV, dst, imm),
            Op::SDiv32Imm { dst, imm } => self.imm32(SDIV, dst, imm),
            Op::Mod32Imm { dst, imm } => self.imm32(MOD, dst, imm),
            Op::SMod32Imm { dst, imm } => self.imm32(SMOD, dst, imm),
            Op::Or32Imm { dst, imm } => self.imm32(Or, dst, imm),
            Op::And32Imm { dst, imm } => self.imm32(And, dst, imm),
            Op::Lsh32Imm { dst, imm } => self.imm32(Lsh, dst, imm),
            Op::Rsh32Imm { dst, imm } => self.imm32(Rsh, dst, imm),
            Op::Arsh32Imm { dst, imm } => self.imm32(Arsh, dst, imm),
            Op::Xor32Imm { dst, imm } => self.imm32(Xor, dst, imm),
            Op::Mov32Imm { dst, imm } => self.constant(dst, u64::from(imm)),
            Op::Add32Reg { dst, src } => self.reg32(Add, dst, src),
            Op::Sub32Reg { dst, src } => self.reg32(Sub, dst, src),
            Op::Mul32Reg { dst, src } => self.reg32(Mul, dst, src),
            Op::Div32Reg { dst, src } => self.reg32(DIV, dst, src),
            Op::SDiv32Reg { dst, src } => self.reg32(SDIV, dst, src),
            Op::Mod32Reg { dst, src } => self.reg32(MOD, dst, src),
            Op::SMod32Reg { dst, src } => self.reg32(SMOD, dst, src),
            Op::Or32Reg { dst, src } => self.reg32(Or, dst, src),
            Op::And32Reg { dst, src } => self.reg32(And, dst, src),
            Op::Lsh32Reg { dst, src } => self.reg32(Lsh, dst, src),
            Op::Rsh32Reg { dst, src } => self.reg32(Rsh, dst, src),
            Op::Arsh32Reg { dst, src } => self.reg32(Arsh, dst, src),
            Op::Xor32Reg { dst, src } => self.reg32(Xor, dst, src),
            Op::Mov32Reg { dst, src } | Op::Zext32 { dst, src, .. } => {
                let v = self.low32(src);
                let v = self.b.ins().uextend(I64, v);
                self.set(dst, v);
            }
            Op::Sext32 { dst, src, .. } => {
                let v = self.low32(src);
                let v = self.b.ins().sextend(I64, v);
                self.set(dst, v);
            }
            Op::MovSx32 { dst, src, bits } => {
                let v = self.r(src);
                let narrow = self.b.ins().ireduce(bits_type(bits, I32), v);
                let v = if bits == 32 {
                    narrow
                } else {
                    self.b.ins().sextend(I32, narrow)
                };
                let v = self.b.ins().uextend(I64, v);
                self.set(dst, v);
            }
            Op::Neg32 { dst } => {
                let v = self.low32(dst);
                let v = self.b.ins().ineg(v);
                let v = self.b.ins().uextend(I64, v);
                self.set(dst, v);
            }
            Op::ToLe { dst, bits } => {
                let v = self.r(dst);
                let v = match bits {
                    16 => self.b.ins().band_imm_s(v, 0xffff),
                    32 => self.b.ins().band_imm_s(v, 0xffff_ffff),
                    _ => v,
                };
                self.set(dst, v);
            }
            Op::ToBe { dst, bits } | Op::Bswap { dst, bits } => {
                let v = self.r(dst);
                let ty = bits_type(bits, I64);
                let v = if ty == I64 {
                    self.b.ins().bswap(v)
                } else {
                    let narrow = self.b.ins().ireduce(ty, v);
                    let swapped = self.b.ins().bswap(narrow);
                    self.b.ins().uextend(I64, swapped)
                };
                self.set(dst, v);
            }
            // Removed by compaction; nothing to run.
            Op::LddwTail | Op::Nop => {}

            Op::LdxB { .. }
            | Op::LdxH { .. }
            | Op::LdxW { .. }
            | Op::LdxDW { .. }
            | Op::LdxSB { .. }
            | Op::LdxSH { .. }
            | Op::LdxSW { .. }
            | Op::StB { .. }
            | Op::StH { .. }
            | Op::StW { .. }
            | Op::StDW { .. }
            | Op::StxB { .. }
            | Op::StxH { .. }
            | Op::StxW { .. }
            | Op::StxDW { .. }
            | Op::StackLdxB { .. }
            | Op::StackLdxH { .. }
            | Op::StackLdxW { .. }
            | Op::StackLdxDW { .. }
            | Op::StackLdxSB { .. }
            | Op::StackLdxSH { .. }
            | Op::StackLdxSW { .. }
            | Op::StackStB { .. }
            | Op::StackStH { .. }
            | Op::StackStW { .. }
            | Op::StackStDW { .. }
            | Op::StackStxB { .. }
            | Op::StackStxH { .. }
            | Op::StackStxW { .. }
            | Op::StackStxDW { .. }
            | Op::DirectLdxB { .. }
            | Op::DirectLdxH { .. }
            | Op::DirectLdxW { .. }
            | Op::DirectLdxDW { .. }
            | Op::DirectStxB { .. }
            | Op::DirectStxH { .. }
            | Op::DirectStxW { .. }
            | Op::DirectStxDW { .. }
            | Op::DirectStB { .. }
            | Op::DirectStH { .. }
            | Op::DirectStW { .. }
            | Op::DirectStDW { .. }
            | Op::FixedLdxB { .. }
            | Op::FixedLdxH { .. }
            | Op::FixedLdxW { .. }
            | Op::FixedLdxDW { .. }
            | Op::FixedStxB { .. }
            | Op::FixedStxH { .. }
            | Op::FixedStxW { .. }
            | Op::FixedStxDW { .. }
            | Op::FixedStB { .. }
            | Op::FixedStH { .. }
            | Op::FixedStW { .. }
            | Op::FixedStDW { .. } => self.access(index, op)?,
            Op::Atomic {
                op: rmw,
                wide,
                dst,
                src,
                off,
            } => self.atomic(index, rmw, wide, dst, src, off),

            Op::Ja { target } => {
                let block = self.block(target as usize)?;
                self.b.ins().jump(block, &[]);
                return Ok(false);
            }
            Op::JeqImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::Equal, dst, imm, target);
            }
            Op::JgtImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::UnsignedGreaterThan, dst, imm, target);
            }
            Op::JgeImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::UnsignedGreaterThanOrEqual, dst, imm, target);
            }
            Op::JneImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::NotEqual, dst, imm, target);
            }
            Op::JsgtImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::SignedGreaterThan, dst, imm, target);
            }
            Op::JsgeImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::SignedGreaterThanOrEqual, dst, imm, target);
            }
            Op::JltImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::UnsignedLessThan, dst, imm, target);
            }
            Op::JleImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::UnsignedLessThanOrEqual, dst, imm, target);
            }
            Op::JsltImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::SignedLessThan, dst, imm, target);
            }
            Op::JsleImm { dst, imm, target } => {
                return self.cmp_imm(index, IntCC::SignedLessThanOrEqual, dst, imm, target);
            }
            Op::JsetImm { dst, imm, target } => {
                let v = self.r(dst);
                let bits = self.b.ins().band_imm_s(v, imm as i64);
                return self.branch(index, bits, target);
            }
            Op::JeqReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::Equal, dst, src, target, I64);
            }
            Op::JgtReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::UnsignedGreaterThan, dst, src, target, I64);
            }
            Op::JgeReg { dst, src, target } => {
                return self.cmp_reg(
                    index,
                    IntCC::UnsignedGreaterThanOrEqual,
                    dst,
                    src,
                    target,
                    I64,
                );
            }
            Op::JneReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::NotEqual, dst, src, target, I64);
            }
            Op::JsgtReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::SignedGreaterThan, dst, src, target, I64);
            }
            Op::JsgeReg { dst, src, target } => {
                return self.cmp_reg(
                    index,
                    IntCC::SignedGreaterThanOrEqual,
                    dst,
                    src,
                    target,
                    I64,
                );
            }
            Op::JltReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::UnsignedLessThan, dst, src, target, I64);
            }
            Op::JleReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::UnsignedLessThanOrEqual, dst, src, target, I64);
            }
            Op::JsltReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::SignedLessThan, dst, src, target, I64);
            }
            Op::JsleReg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::SignedLessThanOrEqual, dst, src, target, I64);
            }
            Op::JsetReg { dst, src, target } => {
                let (a, b) = (self.r(dst), self.r(src));
                let bits = self.b.ins().band(a, b);
                return self.branch(index, bits, target);
            }
            Op::Jeq32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::Equal, dst, imm, target);
            }
            Op::Jgt32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::UnsignedGreaterThan, dst, imm, target);
            }
            Op::Jge32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::UnsignedGreaterThanOrEqual, dst, imm, target);
            }
            Op::Jne32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::NotEqual, dst, imm, target);
            }
            Op::Jsgt32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::SignedGreaterThan, dst, imm, target);
            }
            Op::Jsge32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::SignedGreaterThanOrEqual, dst, imm, target);
            }
            Op::Jlt32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::UnsignedLessThan, dst, imm, target);
            }
            Op::Jle32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::UnsignedLessThanOrEqual, dst, imm, target);
            }
            Op::Jslt32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::SignedLessThan, dst, imm, target);
            }
            Op::Jsle32Imm { dst, imm, target } => {
                return self.cmp_imm32(index, IntCC::SignedLessThanOrEqual, dst, imm, target);
            }
            Op::Jset32Imm { dst, imm, target } => {
                let v = self.low32(dst);
                let bits = self.b.ins().band_imm_s(v, i64::from(imm as i32));
                return self.branch(index, bits, target);
            }
            Op::Jeq32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::Equal, dst, src, target, I32);
            }
            Op::Jgt32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::UnsignedGreaterThan, dst, src, target, I32);
            }
            Op::Jge32Reg { dst, src, target } => {
                return self.cmp_reg(
                    index,
                    IntCC::UnsignedGreaterThanOrEqual,
                    dst,
                    src,
                    target,
                    I32,
                );
            }
            Op::Jne32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::NotEqual, dst, src, target, I32);
            }
            Op::Jsgt32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::SignedGreaterThan, dst, src, target, I32);
            }
            Op::Jsge32Reg { dst, src, target } => {
                return self.cmp_reg(
                    index,
                    IntCC::SignedGreaterThanOrEqual,
                    dst,
                    src,
                    target,
                    I32,
                );
            }
            Op::Jlt32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::UnsignedLessThan, dst, src, target, I32);
            }
            Op::Jle32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::UnsignedLessThanOrEqual, dst, src, target, I32);
            }
            Op::Jslt32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::SignedLessThan, dst, src, target, I32);
            }
            Op::Jsle32Reg { dst, src, target } => {
                return self.cmp_reg(index, IntCC::SignedLessThanOrEqual, dst, src, target, I32);
            }
            Op::Jset32Reg { dst, src, target } => {
                let (a, b) = (self.low32(dst), self.low32(src));
                let bits = self.b.ins().band(a, b);
                return self.branch(index, bits, target);
            }

            Op::MapLookup => {
                let zero = self.b.ins().iconst(I64, 0);
                self.call_out(index, env::CALL_LOOKUP, zero);
            }
            Op::CallHelper { slot } => {
                let slot = self.b.ins().iconst(I64, i64::from(slot));
                self.call_out(index, env::CALL_HELPER, slot);
            }
            Op::CallReg { reg } => {
                let id = self.r(reg);
                self.call_out(index, env::CALL_REG, id);
            }
            Op::CallLocal { target } => {
                self.call_local(index, target)?;
                return Ok(false);
            }
            Op::Exit => {
                self.exit();
                return Ok(false);
            }
            Op::LookupInline { map } => self.lookup_inline(index, map)?,

            Op::MovAdd64Imm { dst, src, imm } => self.imm64(Add, dst, src, imm),
            Op::MovSub64Imm { dst, src, imm } => self.imm64(Sub, dst, src, imm),
            Op::MovMul64Imm { dst, src, imm } => self.imm64(Mul, dst, src, imm),
            Op::MovAnd64Imm { dst, src, imm } => self.imm64(And, dst, src, imm),
            Op::MovOr64Imm { dst, src, imm } => self.imm64(Or, dst, src, imm),
            Op::MovXor64Imm { dst, src, imm } => self.imm64(Xor, dst, src, imm),
            Op::MovLsh64Imm { dst, src, imm } => self.imm64(Lsh, dst, src, imm),
            Op::MovRsh64Imm { dst, src, imm } => self.imm64(Rsh, dst, src, imm),
            Op::MovArsh64Imm { dst, src, imm } => self.imm64(Arsh, dst, src, imm),
            Op::MovAdd64Reg { dst, src, src2 } => self.reg64(Add, dst, src, src2),
            Op::MovSub64Reg { dst, src, src2 } => self.reg64(Sub, dst, src, src2),
            Op::MovAnd64Reg { dst, src, src2 } => self.reg64(And, dst, src, src2),
            Op::MovOr64Reg { dst, src, src2 } => self.reg64(Or, dst, src, src2),
            Op::MovXor64Reg { dst, src, src2 } => self.reg64(Xor, dst, src, src2),
            Op::XorShl64 { dst, src, imm } | Op::XorShr64 { dst, src, imm } => {
                let v = self.r(src);
                let shifted = if matches!(op, Op::XorShl64 { .. }) {
                    self.b.ins().ishl_imm_s(v, imm as i64)
                } else {
                    self.b.ins().ushr_imm_s(v, imm as i64)
                };
                let v = self.b.ins().bxor(v, shifted);
                self.set(dst, v);
            }
            Op::AddJeqImm {
                dst,
                imm,
                cmp,
                target,
            } => {
                self.imm64(Add, dst, dst, imm as i64 as u64);
                return self.cmp_imm(index, IntCC::Equal, dst, cmp as i64 as u64, target);
            }
            Op::AddJneImm {
                dst,
                imm,
                cmp,
                target,
            } => {
                self.imm64(Add, dst, dst, imm as i64 as u64);
                return self.cmp_imm(index, IntCC::NotEqual, dst, cmp as i64 as u64, target);
            }
            Op::AndJeqImm {
                dst,
                imm,
                cmp,
                target,
            } => {
                self.imm64(And, dst, dst, imm as i64 as u64);
                return self.cmp_imm(index, IntCC::Equal, dst, cmp as i64 as u64, target);
            }
            Op::AndJneImm {
                dst,
                imm,
                cmp,
                target,
            } => {
                self.imm64(And, dst, dst, imm as i64 as u64);
                return self.cmp_imm(index, IntCC::NotEqual, dst, cmp as i64 as u64, target);
            }
        }
        Ok(true)
    }

    fn constant(&mut self, dst: u8, imm: u64) {
        let v = self.b.ins().iconst(I64, imm as i64);
        self.set(dst, v);
    }

    /// The low 32 bits of register `r`.
    fn low32(&mut self, r: u8) -> Value {
        let v = self.r(r);
        self.b.ins().ireduce(I32, v)
    }

    /// `dst = src OP imm` on 64 bits.
    fn imm64(&mut self, op: Bin, dst: u8, src: u8, imm: u64) {
        let a = self.r(src);
        let v = self.bin_imm(op, I64, a, imm as i64);
        self.set(dst, v);
    }

    /// `dst = dst OP imm` on the low 32 bits, zero-extended.
    fn imm32(&mut self, op: Bin, dst: u8, imm: u32) {
        let a = self.low32(dst);
        let v = self.bin_imm(op, I32, a, i64::from(imm as i32));
        let v = self.b.ins().uextend(I64, v);
        self.set(dst, v);
    }

    /// `dst = a OP b` on 64 bits.
    fn reg64(&mut self, op: Bin, dst: u8, a: u8, b: u8) {
        let (a, b) = (self.r(a), self.r(b));
        let v = self.bin(op, I64, a, b);
        self.set(dst, v);
    }

    /// `dst = dst OP src` on the low 32 bits, zero-extended.
    fn reg32(&mut self, op: Bin, dst: u8, src: u8) {
        let (a, b) = (self.low32(dst), self.low32(src));
        let v = self.bin(op, I32, a, b);
        let v = self.b.ins().uextend(I64, v);
        self.set(dst, v);
    }

    /// `a OP imm` on type `ty`; division by 0 and by -1 as in `alu`.
    fn bin_imm(&mut self, op: Bin, ty: Type, a: Value, imm: i64) -> Value {
        let ins = self.b.ins();
        match op {
            Bin::Add => ins.iadd_imm_s(a, imm),
            Bin::Sub => ins.iadd_imm_s(a, imm.wrapping_neg()),
            Bin::Mul => ins.imul_imm_s(a, imm),
            Bin::Or => ins.bor_imm_s(a, imm),
            Bin::And => ins.band_imm_s(a, imm),
            Bin::Xor => ins.bxor_imm_s(a, imm),
            Bin::Lsh => ins.ishl_imm_s(a, imm),
            Bin::Rsh => ins.ushr_imm_s(a, imm),
            Bin::Arsh => ins.sshr_imm_s(a, imm),
            Bin::Div { signed, modulo } => match (imm, signed, modulo) {
                (0, _, false) => ins.iconst(ty, 0),
                (0, _, true) => a,
                (-1, true, false) => ins.ineg(a),
                (-1, true, true) => ins.iconst(ty, 0),
                _ => {
                    let b = ins.iconst(ty, imm);
                    self.divide(signed, modulo, ty, a, b)
                }
            },
        }
    }

    /// `a OP b` on type `ty`.
    fn bin(&mut self, op: Bin, ty: Type, a: Value, b: Value) -> Value {
        match op {
            Bin::Add => self.b.ins().iadd(a, b),
            Bin::Sub => self.b.ins().isub(a, b),
            Bin::Mul => self.b.ins().imul(a, b),
            Bin::Or => self.b.ins().bor(a, b),
            Bin::And => self.b.ins().band(a, b),
            Bin::Xor => self.b.ins().bxor(a, b),
            // Cranelift takes shift amounts modulo the width, as eBPF does.
            Bin::Lsh => self.b.ins().ishl(a, b),
            Bin::Rsh => self.b.ins().ushr(a, b),
            Bin::Arsh => self.b.ins().sshr(a, b),
            Bin::Div { signed, modulo } => self.divide(signed, modulo, ty, a, b),
        }
    }

    /// `a / b` or `a % b`, never trapping: the divisor is made 1 where it
    /// is 0 (or -1, signed), and the result chosen as `alu` defines it.
    fn divide(&mut self, signed: bool, modulo: bool, ty: Type, a: Value, b: Value) -> Value {
        let ins = &mut self.b;
        let zero = ins.ins().icmp_imm_s(IntCC::Equal, b, 0);
        let minus_one = ins.ins().icmp_imm_s(IntCC::Equal, b, -1);
        let one = ins.ins().iconst(ty, 1);
        let unsafe_divisor = if signed {
            ins.ins().bor(zero, minus_one)
        } else {
            zero
        };
        let divisor = ins.ins().select(unsafe_divisor, one, b);
        let result = match (signed, modulo) {
            (false, false) => ins.ins().udiv(a, divisor),
            (true, false) => ins.ins().sdiv(a, divisor),
            (false, true) => ins.ins().urem(a, divisor),
            (true, true) => ins.ins().srem(a, divisor),
        };
        let result = if signed {
            // By -1: MIN / -1 is MIN (a negation), and every x % -1 is 0.
            let special = if modulo {
                ins.ins().iconst(ty, 0)
            } else {
                ins.ins().ineg(a)
            };
            ins.ins().select(minus_one, special, result)
        } else {
            result
        };
        let by_zero = if modulo { a } else { ins.ins().iconst(ty, 0) };
        ins.ins().select(zero, by_zero, result)
    }

    /// Branch to `target` where `cond` is non-zero, else on to the next op.
    fn branch(&mut self, index: usize, cond: Value, target: u32) -> Result<bool, String> {
        let taken = self.block(target as usize)?;
        let next = self.block(index + 1)?;
        self.b.ins().brif(cond, taken, &[], next, &[]);
        Ok(false)
    }

    fn cmp_imm(
        &mut self,
        index: usize,
        cc: IntCC,
        dst: u8,
        imm: u64,
        target: u32,
    ) -> Result<bool, String> {
        let v = self.r(dst);
        let cond = self.b.ins().icmp_imm_s(cc, v, imm as i64);
        self.branch(index, cond, target)
    }

    fn cmp_imm32(
        &mut self,
        index: usize,
        cc: IntCC,
        dst: u8,
        imm: u32,
        target: u32,
    ) -> Result<bool, String> {
        let v = self.low32(dst);
        let cond = self.b.ins().icmp_imm_s(cc, v, i64::from(imm as i32));
        self.branch(index, cond, target)
    }

    #[allow(clippy::too_many_arguments)]
    fn cmp_reg(
        &mut self,
        index: usize,
        cc: IntCC,
        dst: u8,
        src: u8,
        target: u32,
        ty: Type,
    ) -> Result<bool, String> {
        let (a, b) = if ty == I32 {
            (self.low32(dst), self.low32(src))
        } else {
            (self.r(dst), self.r(src))
        };
        let cond = self.b.ins().icmp(cc, a, b);
        self.branch(index, cond, target)
    }

    /// The host address of a checked access of `size` bytes at `addr`,
    /// found as `AddressSpace::resolve` finds it (slot, both ends,
    /// writability); elsewhere fault `kind`.
    fn checked(&mut self, index: usize, addr: Value, size: u64, write: bool, kind: u64) -> Value {
        let Some(slot) = self.predicted.get(index).copied().flatten() else {
            return self.checked_any(index, addr, size, write, kind);
        };
        // The access most likely hits region `slot` (see `predicted_slots`):
        // check that region alone (its descriptor loaded once, out of
        // loops), and take the general check only when the address is in
        // another slot. Both give the same host address or the same fault.
        let ins = &mut self.b;
        let hi = ins.ins().ushr_imm_s(addr, 32);
        let same = ins.ins().icmp_imm_s(IntCC::Equal, hi, slot as i64);
        let in_maps = ins
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThan, self.slots, slot as i64);
        let hit = ins.ins().band(same, in_maps);
        let fast = ins.create_block();
        let slow = ins.create_block();
        let join = ins.create_block();
        let host = ins.append_block_param(join, I64);
        ins.set_cold_block(slow);
        ins.ins().brif(hit, fast, &[], slow, &[]);
        ins.switch_to_block(fast);
        // `slot` is one of the program's maps' (`predicted_slots` takes it
        // from an inline lookup, whose map the program has, or compiling
        // fails), so its descriptor lies inside the run's map table: loading
        // it is valid wherever Cranelift places the load.
        let desc = ins
            .ins()
            .iadd_imm_s(self.maps_by_slot, slot as i64 * layout::REGION_SIZE);
        let found = self.check_in(index, desc, addr, size, write, kind, None);
        self.b.ins().jump(join, &[BlockArg::Value(found)]);
        self.b.switch_to_block(slow);
        let found = self.checked_any(index, addr, size, write, kind);
        self.b.ins().jump(join, &[BlockArg::Value(found)]);
        self.b.switch_to_block(join);
        host
    }

    /// [`Self::checked`] for any slot.
    fn checked_any(
        &mut self,
        index: usize,
        addr: Value,
        size: u64,
        write: bool,
        kind: u64,
    ) -> Value {
        // Written so that Cranelift folds it when `addr` is a constant (the
        // context pointer, r10 and what is derived from them: see
        // `codegen::entry_registers`): the slot, which table, and whether
        // it is in the table then fold away, and the descriptor's loads
        // (pure: the tables do not change during a run) are shared by every
        // access to that slot and hoisted out of loops.
        let ins = &mut self.b;
        let slot = ins.ins().ushr_imm_s(addr, 32);
        // The run's regions (slots below FIRST_MAP_SLOT) are always in the
        // table, the maps' up to `slots`.
        let is_run = ins
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, slot, FIRST_MAP_SLOT as i64);
        let in_maps = ins.ins().icmp(IntCC::UnsignedLessThan, slot, self.slots);
        let in_table = ins.ins().select(is_run, is_run, in_maps);
        // Out of the table: read slot 0's descriptor instead (always
        // there), and fail below.
        let zero = ins.ins().iconst(I64, 0);
        let slot = ins.ins().select(in_table, slot, zero);
        // Which table from the slot actually read: an out-of-table slot
        // reads the run table's slot 0, never below the maps' table.
        let is_run = ins
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, slot, FIRST_MAP_SLOT as i64);
        let table = ins.ins().select(is_run, self.run_table, self.maps_by_slot);
        let at = ins.ins().imul_imm_s(slot, layout::REGION_SIZE);
        let desc = ins.ins().iadd(table, at);
        self.check_in(index, desc, addr, size, write, kind, Some(in_table))
    }

    /// The check against the region described at `desc` (`in_table`: whether
    /// the slot has a descriptor; `None` when it is known to) and the host
    /// address; elsewhere fault `kind`.
    #[allow(clippy::too_many_arguments)]
    fn check_in(
        &mut self,
        index: usize,
        desc: Value,
        addr: Value,
        size: u64,
        write: bool,
        kind: u64,
        in_table: Option<Value>,
    ) -> Value {
        let ins = &mut self.b;
        let table_flags = region_table_flags();
        let start = ins.ins().load(I64, table_flags, desc, layout::REGION_START);
        let len = ins.ins().load(I64, table_flags, desc, layout::REGION_LEN);
        let host = ins.ins().load(I64, table_flags, desc, layout::REGION_HOST);
        let offset = ins.ins().isub(addr, start);
        let offset = ins.ins().band_imm_s(offset, 0xffff_ffff);
        let end = ins.ins().iadd_imm_s(offset, size as i64);
        let fits = ins.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, len);
        let mut ok = match in_table {
            Some(in_table) => {
                let no = ins.ins().iconst(I8, 0);
                ins.ins().select(in_table, fits, no)
            }
            None => fits,
        };
        if write {
            let writable = ins
                .ins()
                .uload8(I32, table_flags, desc, layout::REGION_WRITABLE);
            let writable = ins.ins().icmp_imm_s(IntCC::NotEqual, writable, 0);
            ok = ins.ins().band(ok, writable);
        }
        self.guard(ok, kind, index, addr, size);
        self.b.ins().iadd(host, offset)
    }

    /// A load from program memory shared with other threads and user space:
    /// an atomic load (a plain move on x86-64) that Cranelift never merges
    /// with another load, extended to 64 bits.
    fn shared_load(&mut self, host: Value, width: u64, sign_extend: bool) -> Value {
        let ty = int(width);
        let v = self.b.ins().atomic_load(ty, checked_flags(), host);
        if ty == I64 {
            v
        } else if sign_extend {
            self.b.ins().sextend(I64, v)
        } else {
            self.b.ins().uextend(I64, v)
        }
    }

    /// Stores the low `width` bytes of `value` at `host + offset`.
    fn store(&mut self, host: Value, offset: i32, width: u64, value: Value) {
        let ins = self.b.ins();
        match width {
            1 => ins.istore8(checked_flags(), value, host, offset),
            2 => ins.istore16(checked_flags(), value, host, offset),
            4 => ins.istore32(checked_flags(), value, host, offset),
            _ => ins.store(checked_flags(), value, host, offset),
        };
    }

    /// A load or store, from the op table's description of it.
    fn access(&mut self, index: usize, op: Op) -> Result<(), String> {
        let facts = op.facts();
        let dst = facts.writes.single();
        match facts.memory {
            Memory::Checked {
                base,
                off,
                width,
                kind,
            } => {
                let base = self.r(base);
                let addr = self.b.ins().iadd_imm_s(base, i64::from(off));
                let width = u64::from(width);
                let write = kind.writes();
                let fault = if write {
                    env::FAULT_WRITE
                } else {
                    env::FAULT_READ
                };
                let host = self.checked(index, addr, width, write, fault);
                self.host_access(host, width, kind, dst)
            }
            Memory::Stack { off, width, kind } => {
                let frame = self.b.use_var(self.frame);
                let width = u64::from(width);
                match kind {
                    AccessKind::Load { sign_extend } => {
                        let flags = checked_flags();
                        let off = i32::from(off);
                        let ins = self.b.ins();
                        let v = match (width, sign_extend) {
                            (1, false) => ins.uload8(I64, flags, frame, off),
                            (2, false) => ins.uload16(I64, flags, frame, off),
                            (4, false) => ins.uload32(flags, frame, off),
                            (1, true) => ins.sload8(I64, flags, frame, off),
                            (2, true) => ins.sload16(I64, flags, frame, off),
                            (4, true) => ins.sload32(flags, frame, off),
                            _ => ins.load(I64, flags, frame, off),
                        };
                        self.set(dst.ok_or("a load without a destination")?, v);
                    }
                    AccessKind::Store(stored) => {
                        let value = self.stored(stored);
                        self.store(frame, i32::from(off), width, value);
                    }
                    AccessKind::Atomic => return Err("a stack atomic op".to_owned()),
                }
                Ok(())
            }
            Memory::Direct {
                region,
                offset,
                width,
                kind,
            } => {
                let base = self
                    .direct
                    .get(usize::from(region))
                    .copied()
                    .flatten()
                    .ok_or("a direct access to a map the program does not have")?;
                let host = self.b.ins().iadd_imm_s(base, i64::from(offset));
                self.host_access(host, u64::from(width), kind, dst)
            }
            // The verifier proved the address inside a map the program holds
            // for as long as this code exists (see `crate::ir::op::HostAddr`).
            Memory::Fixed { host, width, kind } => {
                let host = self.b.ins().iconst(I64, host.addr() as i64);
                self.host_access(host, u64::from(width), kind, dst)
            }
            Memory::None | Memory::LookupKey | Memory::Helper | Memory::Call => {
                Err(format!("{op} is not a load or store"))
            }
        }
    }

    /// A load or store at a host address already checked or proven.
    fn host_access(
        &mut self,
        host: Value,
        width: u64,
        kind: AccessKind,
        dst: Option<u8>,
    ) -> Result<(), String> {
        match kind {
            AccessKind::Load { sign_extend } => {
                let v = self.shared_load(host, width, sign_extend);
                self.set(dst.ok_or("a load without a destination")?, v);
            }
            AccessKind::Store(stored) => {
                let value = self.stored(stored);
                self.store(host, 0, width, value);
            }
            AccessKind::Atomic => return Err("an atomic access in a plain op".to_owned()),
        }
        Ok(())
    }

    fn stored(&mut self, stored: Stored) -> Value {
        match stored {
            Stored::Reg(r) => self.r(r),
            Stored::Imm(imm) => self.b.ins().iconst(I64, imm as i64),
        }
    }

    /// An eBPF atomic: aligned in the VM, checked writable, then a host
    /// atomic, or the Rust fallback where the host address is not aligned
    /// (only the caller's input buffer can be).
    fn atomic(&mut self, index: usize, rmw: AtomicOp, wide: bool, dst: u8, src: u8, off: i16) {
        let size: u64 = if wide { 8 } else { 4 };
        let base = self.r(dst);
        let addr = self.b.ins().iadd_imm_s(base, i64::from(off));
        let low = self.b.ins().band_imm_s(addr, (size - 1) as i64);
        let aligned = self.b.ins().icmp_imm_s(IntCC::Equal, low, 0);
        self.guard(aligned, env::FAULT_MISALIGNED, index, addr, size);
        let host = self.checked(index, addr, size, true, env::FAULT_WRITE);
        let (operand, expected) = (self.r(src), self.r(0));
        let host_low = self.b.ins().band_imm_s(host, (size - 1) as i64);
        let host_aligned = self.b.ins().icmp_imm_s(IntCC::Equal, host_low, 0);
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let join = self.b.create_block();
        self.b.append_block_param(join, I64);
        self.b.set_cold_block(slow);
        self.b.ins().brif(host_aligned, fast, &[], slow, &[]);

        self.b.switch_to_block(fast);
        let ty = if wide { I64 } else { I32 };
        let (narrow_operand, narrow_expected) = if wide {
            (operand, expected)
        } else {
            (
                self.b.ins().ireduce(I32, operand),
                self.b.ins().ireduce(I32, expected),
            )
        };
        let flags = checked_flags();
        let rmw_op = match rmw {
            AtomicOp::Add { .. } => Some(AtomicRmwOp::Add),
            AtomicOp::Or { .. } => Some(AtomicRmwOp::Or),
            AtomicOp::And { .. } => Some(AtomicRmwOp::And),
            AtomicOp::Xor { .. } => Some(AtomicRmwOp::Xor),
            AtomicOp::Xchg => Some(AtomicRmwOp::Xchg),
            AtomicOp::CmpXchg => None,
        };
        let old = match rmw_op {
            Some(rmw_op) => self
                .b
                .ins()
                .atomic_rmw(ty, flags, rmw_op, host, narrow_operand),
            None => self
                .b
                .ins()
                .atomic_cas(flags, host, narrow_expected, narrow_operand),
        };
        let old = if wide {
            old
        } else {
            self.b.ins().uextend(I64, old)
        };
        self.b.ins().jump(join, &[BlockArg::Value(old)]);

        self.b.switch_to_block(slow);
        let op = self.b.ins().iconst(I64, index as i64);
        let call = self.b.ins().call_indirect(
            self.atomic_sig,
            self.atomic_fn,
            &[self.env, op, host, operand, expected],
        );
        let old = self.b.inst_results(call)[0];
        self.b.ins().jump(join, &[BlockArg::Value(old)]);

        self.b.switch_to_block(join);
        let old = self.b.block_params(join)[0];
        match rmw {
            AtomicOp::CmpXchg => self.set(0, old),
            AtomicOp::Xchg
            | AtomicOp::Add { fetch: true }
            | AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => self.set(src, old),
            AtomicOp::Add { fetch: false }
            | AtomicOp::Or { fetch: false }
            | AtomicOp::And { fetch: false }
            | AtomicOp::Xor { fetch: false } => {}
        }
    }

    /// A rewritten run-time-key lookup into array map `map`: the 4-byte key
    /// at r2 (checked: a bad pointer is the lookup helper's fault), then
    /// the element's address or 0.
    fn lookup_inline(&mut self, index: usize, map: u16) -> Result<(), String> {
        let shape = *self
            .program
            .shapes()
            .get(usize::from(map))
            .ok_or("an inline lookup of a map the program does not have")?;
        let key_addr = self.r(2);
        let host = self.checked(index, key_addr, 4, false, env::FAULT_KEY);
        let key = self.shared_load(host, 4, false);
        let ins = &mut self.b;
        let inside = ins
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, key, shape.max_entries as i64);
        let offset = ins.ins().imul_imm_s(key, shape.elem_size as i64);
        let start = crate::exec::memory::map_value_start(usize::from(map));
        let element = ins.ins().iadd_imm_s(offset, start as i64);
        let zero = ins.ins().iconst(I64, 0);
        let r0 = ins.ins().select(inside, element, zero);
        self.set(0, r0);
        Ok(())
    }
}
