//! Each op as Cranelift IR: arithmetic with the semantics of
//! [`crate::ir::alu`] (division by zero, `MIN / -1` and shift amounts as
//! there) and jumps; memory through the op table's facts is in
//! [`super::access`].

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I16, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Type, Value};

use crate::ir::op::Op;
use crate::jit::codegen::Gen;
use crate::jit::env;

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
            // The reference is a constant; the helper that takes it enters
            // the callback (see `super::calls`).
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
                self.call_out(index, env::CALL_LOOKUP, zero)?;
            }
            Op::CallHelper { slot } => {
                let slot = self.b.ins().iconst(I64, i64::from(slot));
                self.call_out(index, env::CALL_HELPER, slot)?;
            }
            Op::CallReg { reg } => {
                let id = self.r(reg);
                self.call_out(index, env::CALL_REG, id)?;
            }
            Op::CallLocal { target } => {
                self.call_local(index, target)?;
                return Ok(false);
            }
            Op::Exit => {
                self.exit(index);
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
}
