//! The load-time check and translation of raw instructions into [`Op`]s.
//!
//! Every slot's fields are checked by [`decode`] (known opcode, registers
//! r0..r10, unused fields zero, an `lddw`'s second slot), then against the
//! program around it, as the kernel's verifier checks structure: no write to
//! r10, arithmetic on r10 only by 64-bit mov/add/sub, jump and call targets
//! inside the program and not inside an `lddw`, map references in the map
//! table, registered helpers, and a last instruction that cannot fall
//! through. The translation then resolves what can be resolved once:
//! immediates, absolute targets, map handles and value addresses, helper
//! functions, and r10-relative accesses proven to stay inside the frame.

use tinybpf_maps::{BpfMap, MapType};

use crate::error::{InvalidInsn, VerifyError};
use crate::exec::helpers::{Helper, Helpers, ids};
use crate::exec::memory::{FRAME_SIZE, MAP_HANDLE_BASE, map_value_start};
use crate::ir::op::Op;
use crate::isa::decode::{AluOp, ByteOrder, Cond, Instruction, Operand, decode};
use crate::isa::insn::{Insn, pseudo};

/// Most slots a program may have (the kernel's limit for privileged programs).
pub const MAX_INSNS: usize = 1_000_000;

/// The result of translation.
pub(crate) struct Translation {
    pub ops: Vec<Op>,
    pub helpers: Vec<Helper>,
}

struct Translator<'a> {
    insns: &'a [Insn],
    maps: &'a [BpfMap],
    registry: &'a Helpers,
    builtin_lookup: bool,
    lddw_tail: Vec<bool>,
    helpers: Vec<Helper>,
}

type Check<T> = Result<T, InvalidInsn>;

/// Checks and translates a whole program.
///
/// With `builtin_lookup`, `call 1` to the built-in helper becomes the
/// specialised [`Op::MapLookup`]; without it, an ordinary helper call.
pub(crate) fn translate(
    insns: &[Insn],
    maps: &[BpfMap],
    registry: &Helpers,
    builtin_lookup: bool,
) -> Result<Translation, VerifyError> {
    if insns.is_empty() {
        return Err(VerifyError::Empty);
    }
    if insns.len() > MAX_INSNS {
        return Err(VerifyError::TooLong {
            count: insns.len(),
            limit: MAX_INSNS,
        });
    }
    let mut lddw_tail = vec![false; insns.len()];
    let mut pc = 0;
    while pc < insns.len() {
        if insns[pc].is_lddw() {
            if pc + 1 >= insns.len() {
                return Err(invalid(pc, InvalidInsn::IncompleteLddw));
            }
            lddw_tail[pc + 1] = true;
            pc += 2;
        } else {
            pc += 1;
        }
    }
    let mut t = Translator {
        insns,
        maps,
        registry,
        builtin_lookup,
        lddw_tail,
        helpers: Vec::new(),
    };
    let mut ops = Vec::with_capacity(insns.len());
    for pc in 0..insns.len() {
        let op = if t.lddw_tail[pc] {
            Op::LddwTail
        } else {
            t.translate_one(pc).map_err(|kind| invalid(pc, kind))?
        };
        ops.push(op);
    }
    let last = insns.len() - 1;
    if ops[last].facts().falls_through() {
        return Err(invalid(last, InvalidInsn::FallsOffEnd));
    }
    Ok(Translation {
        ops,
        helpers: t.helpers,
    })
}

fn invalid(pc: usize, kind: InvalidInsn) -> VerifyError {
    VerifyError::Invalid { pc, kind }
}

/// A register the instruction writes: r0..r9.
fn written(r: u8) -> Check<u8> {
    if r == 10 {
        Err(InvalidInsn::WritesFramePointer)
    } else {
        Ok(r)
    }
}

impl Translator<'_> {
    fn translate_one(&mut self, pc: usize) -> Check<Op> {
        let instruction = decode(self.insns, pc).map_err(|e| e.kind)?;
        Ok(match instruction {
            Instruction::Alu { wide, op, dst, src } => {
                let dst = written(dst)?;
                match src {
                    Operand::Reg(src) => {
                        let pointer_arithmetic = matches!(op, AluOp::Mov | AluOp::Add | AluOp::Sub);
                        if src == 10 && !(wide && pointer_arithmetic) {
                            return Err(InvalidInsn::FramePointerArithmetic);
                        }
                        alu_reg(op, wide, dst, src)
                    }
                    Operand::Imm(imm) => alu_imm(op, wide, dst, imm),
                }
            }
            Instruction::Neg { wide, dst } => {
                let dst = written(dst)?;
                if wide {
                    Op::Neg64 { dst }
                } else {
                    Op::Neg32 { dst }
                }
            }
            Instruction::MovSx {
                wide,
                dst,
                src,
                bits,
            } => {
                let dst = written(dst)?;
                if src == 10 {
                    return Err(InvalidInsn::FramePointerArithmetic);
                }
                if wide {
                    Op::MovSx64 { dst, src, bits }
                } else {
                    Op::MovSx32 { dst, src, bits }
                }
            }
            Instruction::ByteOrder { order, dst, bits } => {
                let dst = written(dst)?;
                match order {
                    ByteOrder::ToLe => Op::ToLe { dst, bits },
                    ByteOrder::ToBe => Op::ToBe { dst, bits },
                    ByteOrder::Swap => Op::Bswap { dst, bits },
                }
            }
            Instruction::Lddw {
                dst,
                source,
                imm,
                next_imm,
            } => self.lddw(pc, written(dst)?, source, imm, next_imm)?,
            Instruction::Load {
                width,
                sign_extend,
                dst,
                base,
                off,
            } => load(width, sign_extend, written(dst)?, base, off)?,
            Instruction::Store {
                width,
                base,
                off,
                value,
            } => store(width, base, off, value)?,
            Instruction::Atomic {
                wide,
                op,
                base,
                src,
                off,
            } => {
                if op.writes_src() && src == 10 {
                    return Err(InvalidInsn::WritesFramePointer);
                }
                Op::Atomic {
                    op,
                    wide,
                    dst: base,
                    src,
                    off,
                }
            }
            Instruction::Ja { offset } => Op::Ja {
                target: self.target(pc, offset)?,
            },
            Instruction::Branch {
                cond,
                wide,
                dst,
                src,
                off,
            } => {
                let target = self.target(pc, off.into())?;
                match src {
                    Operand::Reg(src) => cond_reg(cond, wide, dst, src, target),
                    Operand::Imm(imm) => cond_imm(cond, wide, dst, imm, target),
                }
            }
            Instruction::Call { source, imm } => self.call(pc, source, imm)?,
            Instruction::CallReg { reg } => Op::CallReg { reg },
            Instruction::Exit => Op::Exit,
        })
    }

    fn target(&self, pc: usize, offset: i64) -> Check<u32> {
        let target = pc as i64 + 1 + offset;
        if target < 0 || target >= self.insns.len() as i64 {
            return Err(InvalidInsn::TargetOutOfProgram { target });
        }
        let target = target as usize;
        if self.lddw_tail[target] {
            return Err(InvalidInsn::TargetInsideLddw { lddw: target - 1 });
        }
        // MAX_INSNS < u32::MAX, so the index fits.
        Ok(target as u32)
    }

    fn lddw(&self, pc: usize, dst: u8, source: u8, imm: i32, next_imm: i32) -> Check<Op> {
        if source == pseudo::FUNC {
            // A callback's entry, pc-relative as a local call's target.
            let target = self.target(pc, imm.into())?;
            return Ok(Op::LoadFunc { dst, target });
        }
        let low = u64::from(imm as u32);
        let high = u64::from(next_imm as u32);
        let imm = match source {
            pseudo::MAP_FD | pseudo::MAP_IDX => MAP_HANDLE_BASE + self.map_index(imm)? as u64,
            pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => {
                let index = self.map_index(imm)?;
                let map = &self.maps[index];
                // The kernel's `map_direct_value_addr`: arrays only.
                if map.map_type() != MapType::Array {
                    return Err(InvalidInsn::MapValueNotArray {
                        index,
                        map_type: map.map_type(),
                    });
                }
                let value_size = map.def().value_size;
                if high >= u64::from(value_size) {
                    return Err(InvalidInsn::MapValueOffset {
                        index,
                        offset: high as i64,
                        value_size,
                    });
                }
                map_value_start(index) + high
            }
            // `decode` accepted no other source.
            _ => low | (high << 32),
        };
        Ok(Op::LoadImm64 { dst, imm })
    }

    fn map_index(&self, imm: i32) -> Check<usize> {
        usize::try_from(imm)
            .ok()
            .filter(|&i| i < self.maps.len())
            .ok_or(InvalidInsn::UnknownMap {
                index: imm.into(),
                count: self.maps.len(),
            })
    }

    fn call(&mut self, pc: usize, source: u8, imm: i32) -> Check<Op> {
        match source {
            pseudo::CALL_HELPER => {
                let helper = u32::try_from(imm)
                    .ok()
                    .and_then(|id| self.registry.get(id))
                    .ok_or(InvalidInsn::UnknownHelper { id: imm.into() })?;
                if self.builtin_lookup && helper.id == ids::MAP_LOOKUP_ELEM && helper.builtin {
                    return Ok(Op::MapLookup);
                }
                let slot = self.helper_slot(helper.clone());
                Ok(Op::CallHelper { slot })
            }
            pseudo::CALL_LOCAL => Ok(Op::CallLocal {
                target: self.target(pc, imm.into())?,
            }),
            // `decode` accepted only kfuncs besides.
            _ => Err(InvalidInsn::Kfunc),
        }
    }

    fn helper_slot(&mut self, helper: Helper) -> u32 {
        if let Some(i) = self.helpers.iter().position(|h| h.id == helper.id) {
            return i as u32;
        }
        self.helpers.push(helper);
        (self.helpers.len() - 1) as u32
    }
}

fn cond_imm(cond: Cond, wide: bool, dst: u8, imm: i32, target: u32) -> Op {
    if wide {
        let imm = imm as i64 as u64;
        match cond {
            Cond::Eq => Op::JeqImm { dst, imm, target },
            Cond::Gt => Op::JgtImm { dst, imm, target },
            Cond::Ge => Op::JgeImm { dst, imm, target },
            Cond::Set => Op::JsetImm { dst, imm, target },
            Cond::Ne => Op::JneImm { dst, imm, target },
            Cond::Sgt => Op::JsgtImm { dst, imm, target },
            Cond::Sge => Op::JsgeImm { dst, imm, target },
            Cond::Lt => Op::JltImm { dst, imm, target },
            Cond::Le => Op::JleImm { dst, imm, target },
            Cond::Slt => Op::JsltImm { dst, imm, target },
            Cond::Sle => Op::JsleImm { dst, imm, target },
        }
    } else {
        let imm = imm as u32;
        match cond {
            Cond::Eq => Op::Jeq32Imm { dst, imm, target },
            Cond::Gt => Op::Jgt32Imm { dst, imm, target },
            Cond::Ge => Op::Jge32Imm { dst, imm, target },
            Cond::Set => Op::Jset32Imm { dst, imm, target },
            Cond::Ne => Op::Jne32Imm { dst, imm, target },
            Cond::Sgt => Op::Jsgt32Imm { dst, imm, target },
            Cond::Sge => Op::Jsge32Imm { dst, imm, target },
            Cond::Lt => Op::Jlt32Imm { dst, imm, target },
            Cond::Le => Op::Jle32Imm { dst, imm, target },
            Cond::Slt => Op::Jslt32Imm { dst, imm, target },
            Cond::Sle => Op::Jsle32Imm { dst, imm, target },
        }
    }
}

fn cond_reg(cond: Cond, wide: bool, dst: u8, src: u8, target: u32) -> Op {
    if wide {
        match cond {
            Cond::Eq => Op::JeqReg { dst, src, target },
            Cond::Gt => Op::JgtReg { dst, src, target },
            Cond::Ge => Op::JgeReg { dst, src, target },
            Cond::Set => Op::JsetReg { dst, src, target },
            Cond::Ne => Op::JneReg { dst, src, target },
            Cond::Sgt => Op::JsgtReg { dst, src, target },
            Cond::Sge => Op::JsgeReg { dst, src, target },
            Cond::Lt => Op::JltReg { dst, src, target },
            Cond::Le => Op::JleReg { dst, src, target },
            Cond::Slt => Op::JsltReg { dst, src, target },
            Cond::Sle => Op::JsleReg { dst, src, target },
        }
    } else {
        match cond {
            Cond::Eq => Op::Jeq32Reg { dst, src, target },
            Cond::Gt => Op::Jgt32Reg { dst, src, target },
            Cond::Ge => Op::Jge32Reg { dst, src, target },
            Cond::Set => Op::Jset32Reg { dst, src, target },
            Cond::Ne => Op::Jne32Reg { dst, src, target },
            Cond::Sgt => Op::Jsgt32Reg { dst, src, target },
            Cond::Sge => Op::Jsge32Reg { dst, src, target },
            Cond::Lt => Op::Jlt32Reg { dst, src, target },
            Cond::Le => Op::Jle32Reg { dst, src, target },
            Cond::Slt => Op::Jslt32Reg { dst, src, target },
            Cond::Sle => Op::Jsle32Reg { dst, src, target },
        }
    }
}

fn alu_imm(op: AluOp, wide: bool, dst: u8, imm: i32) -> Op {
    if wide {
        let imm = imm as i64 as u64;
        match op {
            AluOp::Add => Op::Add64Imm { dst, imm },
            AluOp::Sub => Op::Sub64Imm { dst, imm },
            AluOp::Mul => Op::Mul64Imm { dst, imm },
            AluOp::Div => Op::Div64Imm { dst, imm },
            AluOp::SDiv => Op::SDiv64Imm { dst, imm },
            AluOp::Mod => Op::Mod64Imm { dst, imm },
            AluOp::SMod => Op::SMod64Imm { dst, imm },
            AluOp::Or => Op::Or64Imm { dst, imm },
            AluOp::And => Op::And64Imm { dst, imm },
            AluOp::Lsh => Op::Lsh64Imm { dst, imm: imm & 63 },
            AluOp::Rsh => Op::Rsh64Imm { dst, imm: imm & 63 },
            AluOp::Arsh => Op::Arsh64Imm { dst, imm: imm & 63 },
            AluOp::Xor => Op::Xor64Imm { dst, imm },
            AluOp::Mov => Op::Mov64Imm { dst, imm },
        }
    } else {
        let imm = imm as u32;
        match op {
            AluOp::Add => Op::Add32Imm { dst, imm },
            AluOp::Sub => Op::Sub32Imm { dst, imm },
            AluOp::Mul => Op::Mul32Imm { dst, imm },
            AluOp::Div => Op::Div32Imm { dst, imm },
            AluOp::SDiv => Op::SDiv32Imm { dst, imm },
            AluOp::Mod => Op::Mod32Imm { dst, imm },
            AluOp::SMod => Op::SMod32Imm { dst, imm },
            AluOp::Or => Op::Or32Imm { dst, imm },
            AluOp::And => Op::And32Imm { dst, imm },
            AluOp::Lsh => Op::Lsh32Imm { dst, imm: imm & 31 },
            AluOp::Rsh => Op::Rsh32Imm { dst, imm: imm & 31 },
            AluOp::Arsh => Op::Arsh32Imm { dst, imm: imm & 31 },
            AluOp::Xor => Op::Xor32Imm { dst, imm },
            AluOp::Mov => Op::Mov32Imm { dst, imm },
        }
    }
}

fn alu_reg(op: AluOp, wide: bool, dst: u8, src: u8) -> Op {
    if wide {
        match op {
            AluOp::Add => Op::Add64Reg { dst, src },
            AluOp::Sub => Op::Sub64Reg { dst, src },
            AluOp::Mul => Op::Mul64Reg { dst, src },
            AluOp::Div => Op::Div64Reg { dst, src },
            AluOp::SDiv => Op::SDiv64Reg { dst, src },
            AluOp::Mod => Op::Mod64Reg { dst, src },
            AluOp::SMod => Op::SMod64Reg { dst, src },
            AluOp::Or => Op::Or64Reg { dst, src },
            AluOp::And => Op::And64Reg { dst, src },
            AluOp::Lsh => Op::Lsh64Reg { dst, src },
            AluOp::Rsh => Op::Rsh64Reg { dst, src },
            AluOp::Arsh => Op::Arsh64Reg { dst, src },
            AluOp::Xor => Op::Xor64Reg { dst, src },
            AluOp::Mov => Op::Mov64Reg { dst, src },
        }
    } else {
        match op {
            AluOp::Add => Op::Add32Reg { dst, src },
            AluOp::Sub => Op::Sub32Reg { dst, src },
            AluOp::Mul => Op::Mul32Reg { dst, src },
            AluOp::Div => Op::Div32Reg { dst, src },
            AluOp::SDiv => Op::SDiv32Reg { dst, src },
            AluOp::Mod => Op::Mod32Reg { dst, src },
            AluOp::SMod => Op::SMod32Reg { dst, src },
            AluOp::Or => Op::Or32Reg { dst, src },
            AluOp::And => Op::And32Reg { dst, src },
            AluOp::Lsh => Op::Lsh32Reg { dst, src },
            AluOp::Rsh => Op::Rsh32Reg { dst, src },
            AluOp::Arsh => Op::Arsh32Reg { dst, src },
            AluOp::Xor => Op::Xor32Reg { dst, src },
            AluOp::Mov => Op::Mov32Reg { dst, src },
        }
    }
}

/// Checks that an r10-relative access of `width` bytes at `off` stays in the frame.
fn stack_offset(off: i16, width: u8) -> Check<i16> {
    let start = i64::from(off);
    if start >= -(FRAME_SIZE as i64) && start + i64::from(width) <= 0 {
        Ok(off)
    } else {
        Err(InvalidInsn::StackOutOfFrame {
            offset: start,
            size: usize::from(width),
        })
    }
}

fn load(width: u8, sign_extend: bool, dst: u8, base: u8, off: i16) -> Check<Op> {
    if base == 10 {
        let off = stack_offset(off, width)?;
        return Ok(match (width, sign_extend) {
            (1, false) => Op::StackLdxB { dst, off },
            (2, false) => Op::StackLdxH { dst, off },
            (4, false) => Op::StackLdxW { dst, off },
            (1, true) => Op::StackLdxSB { dst, off },
            (2, true) => Op::StackLdxSH { dst, off },
            (4, true) => Op::StackLdxSW { dst, off },
            _ => Op::StackLdxDW { dst, off },
        });
    }
    let src = base;
    Ok(match (width, sign_extend) {
        (1, false) => Op::LdxB { dst, src, off },
        (2, false) => Op::LdxH { dst, src, off },
        (4, false) => Op::LdxW { dst, src, off },
        (1, true) => Op::LdxSB { dst, src, off },
        (2, true) => Op::LdxSH { dst, src, off },
        (4, true) => Op::LdxSW { dst, src, off },
        _ => Op::LdxDW { dst, src, off },
    })
}

fn store(width: u8, base: u8, off: i16, value: Operand) -> Check<Op> {
    let dst = base;
    if base == 10 {
        let off = stack_offset(off, width)?;
        return Ok(match (value, width) {
            (Operand::Imm(imm), width) => {
                let imm = imm as i64 as u64;
                match width {
                    1 => Op::StackStB { off, imm },
                    2 => Op::StackStH { off, imm },
                    4 => Op::StackStW { off, imm },
                    _ => Op::StackStDW { off, imm },
                }
            }
            (Operand::Reg(src), 1) => Op::StackStxB { src, off },
            (Operand::Reg(src), 2) => Op::StackStxH { src, off },
            (Operand::Reg(src), 4) => Op::StackStxW { src, off },
            (Operand::Reg(src), _) => Op::StackStxDW { src, off },
        });
    }
    Ok(match (value, width) {
        (Operand::Imm(imm), width) => {
            let imm = imm as i64 as u64;
            match width {
                1 => Op::StB { dst, off, imm },
                2 => Op::StH { dst, off, imm },
                4 => Op::StW { dst, off, imm },
                _ => Op::StDW { dst, off, imm },
            }
        }
        (Operand::Reg(src), 1) => Op::StxB { dst, src, off },
        (Operand::Reg(src), 2) => Op::StxH { dst, src, off },
        (Operand::Reg(src), 4) => Op::StxW { dst, src, off },
        (Operand::Reg(src), _) => Op::StxDW { dst, src, off },
    })
}
