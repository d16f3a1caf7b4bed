//! The load-time check and translation of raw instructions into [`Op`]s.
//!
//! Every slot is checked as the kernel's verifier checks its structure: known
//! opcode, registers r0..r10, no write to r10, unused fields zero, jump and
//! call targets inside the program and not inside an `lddw`, map references
//! in the map table, and a last instruction that cannot fall through. The
//! translation then resolves what can be resolved once: immediates, absolute
//! targets, map handles and value addresses, helper functions, and r10-relative
//! accesses proven to stay inside the frame.

use tinybpf_maps::ArrayMap;

use crate::error::{InvalidInsn, VerifyError};
use crate::exec::helpers::{Helper, Helpers, ids};
use crate::exec::memory::{FRAME_SIZE, MAP_HANDLE_BASE, map_value_start};
use crate::ir::op::{AtomicOp, Op};
use crate::isa::insn::{Insn, alu, atomic, class, jmp, mode, opcode, pseudo, size, source};

/// Most slots a program may have (the kernel's limit for privileged programs).
pub const MAX_INSNS: usize = 1_000_000;

/// The result of translation.
pub(crate) struct Translation {
    pub ops: Vec<Op>,
    pub helpers: Vec<Helper>,
}

struct Translator<'a> {
    insns: &'a [Insn],
    maps: &'a [ArrayMap],
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
    maps: &[ArrayMap],
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
    if !matches!(ops[last], Op::Exit | Op::Ja { .. }) {
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

fn field_zero(field: &'static str, value: i64) -> Check<()> {
    if value == 0 {
        Ok(())
    } else {
        Err(InvalidInsn::BadField { field, value })
    }
}

fn reg(r: u8) -> Check<u8> {
    if r <= 10 {
        Ok(r)
    } else {
        Err(InvalidInsn::BadRegister(r))
    }
}

/// A register the instruction writes: r0..r9.
fn dst_reg(r: u8) -> Check<u8> {
    match reg(r)? {
        10 => Err(InvalidInsn::WritesFramePointer),
        r => Ok(r),
    }
}

impl Translator<'_> {
    fn translate_one(&mut self, pc: usize) -> Check<Op> {
        let insn = self.insns[pc];
        match insn.class() {
            class::ALU | class::ALU64 => alu_op(insn),
            class::JMP | class::JMP32 => self.jump_op(pc, insn),
            class::LD => self.ld_op(pc, insn),
            class::LDX => ldx_op(insn),
            class::ST => st_op(insn),
            _ => stx_op(insn),
        }
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

    fn ld_op(&mut self, pc: usize, insn: Insn) -> Check<Op> {
        match insn.mode() {
            mode::ABS | mode::IND => return Err(InvalidInsn::LegacyPacketAccess),
            _ if insn.opcode != opcode::LDDW => {
                return Err(InvalidInsn::UnknownOpcode(insn.opcode));
            }
            _ => {}
        }
        let dst = dst_reg(insn.dst)?;
        field_zero("off", insn.off.into())?;
        let next = self.insns[pc + 1];
        if next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
            return Err(InvalidInsn::IncompleteLddw);
        }
        let low = u64::from(insn.imm as u32);
        let high = u64::from(next.imm as u32);
        let imm = match insn.src {
            pseudo::IMM64 => low | (high << 32),
            pseudo::MAP_FD | pseudo::MAP_IDX => {
                let index = self.map_index(insn.imm)?;
                field_zero("imm of the second slot", next.imm.into())?;
                MAP_HANDLE_BASE + index as u64
            }
            pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => {
                let index = self.map_index(insn.imm)?;
                let value_size = self.maps[index].def().value_size;
                if high >= u64::from(value_size) {
                    return Err(InvalidInsn::MapValueOffset {
                        index,
                        offset: high as i64,
                        value_size,
                    });
                }
                map_value_start(index) + high
            }
            other => return Err(InvalidInsn::UnsupportedLddwSource(other)),
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

    fn jump_op(&mut self, pc: usize, insn: Insn) -> Check<Op> {
        let is32 = insn.class() == class::JMP32;
        let operation = insn.operation();
        let by_reg = insn.source() == source::X;
        match operation {
            jmp::JA => {
                if by_reg {
                    return Err(InvalidInsn::UnknownOpcode(insn.opcode));
                }
                field_zero("dst", insn.dst.into())?;
                field_zero("src", insn.src.into())?;
                let offset = if is32 {
                    field_zero("off", insn.off.into())?;
                    i64::from(insn.imm)
                } else {
                    field_zero("imm", insn.imm.into())?;
                    i64::from(insn.off)
                };
                return Ok(Op::Ja {
                    target: self.target(pc, offset)?,
                });
            }
            jmp::CALL if !is32 => return self.call_op(pc, insn),
            jmp::EXIT if !is32 && !by_reg => {
                field_zero("dst", insn.dst.into())?;
                field_zero("src", insn.src.into())?;
                field_zero("off", insn.off.into())?;
                field_zero("imm", insn.imm.into())?;
                return Ok(Op::Exit);
            }
            jmp::CALL | jmp::EXIT | 0xe0 | 0xf0 => {
                return Err(InvalidInsn::UnknownOpcode(insn.opcode));
            }
            _ => {}
        }
        let dst = reg(insn.dst)?;
        let target = self.target(pc, insn.off.into())?;
        if by_reg {
            let src = reg(insn.src)?;
            field_zero("imm", insn.imm.into())?;
            Ok(cond_reg(operation, is32, dst, src, target))
        } else {
            field_zero("src", insn.src.into())?;
            Ok(cond_imm(operation, is32, dst, insn.imm, target))
        }
    }

    fn call_op(&mut self, pc: usize, insn: Insn) -> Check<Op> {
        field_zero("off", insn.off.into())?;
        if insn.opcode == opcode::CALLX {
            // callx: the register is in dst (as LLVM encodes it); its value is a helper id.
            field_zero("src", insn.src.into())?;
            field_zero("imm", insn.imm.into())?;
            return Ok(Op::CallReg {
                reg: reg(insn.dst)?,
            });
        }
        field_zero("dst", insn.dst.into())?;
        match insn.src {
            pseudo::CALL_HELPER => {
                let helper = u32::try_from(insn.imm)
                    .ok()
                    .and_then(|id| self.registry.get(id))
                    .ok_or(InvalidInsn::UnknownHelper {
                        id: insn.imm.into(),
                    })?;
                if self.builtin_lookup && helper.id == ids::MAP_LOOKUP_ELEM && helper.builtin {
                    return Ok(Op::MapLookup);
                }
                let slot = self.helper_slot(helper.clone());
                Ok(Op::CallHelper { slot })
            }
            pseudo::CALL_LOCAL => Ok(Op::CallLocal {
                target: self.target(pc, insn.imm.into())?,
            }),
            pseudo::CALL_KFUNC => Err(InvalidInsn::Kfunc),
            other => Err(InvalidInsn::BadField {
                field: "src",
                value: other.into(),
            }),
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

fn cond_imm(operation: u8, is32: bool, dst: u8, imm: i32, target: u32) -> Op {
    if is32 {
        let imm = imm as u32;
        match operation {
            jmp::JEQ => Op::Jeq32Imm { dst, imm, target },
            jmp::JGT => Op::Jgt32Imm { dst, imm, target },
            jmp::JGE => Op::Jge32Imm { dst, imm, target },
            jmp::JSET => Op::Jset32Imm { dst, imm, target },
            jmp::JNE => Op::Jne32Imm { dst, imm, target },
            jmp::JSGT => Op::Jsgt32Imm { dst, imm, target },
            jmp::JSGE => Op::Jsge32Imm { dst, imm, target },
            jmp::JLT => Op::Jlt32Imm { dst, imm, target },
            jmp::JLE => Op::Jle32Imm { dst, imm, target },
            jmp::JSLT => Op::Jslt32Imm { dst, imm, target },
            _ => Op::Jsle32Imm { dst, imm, target },
        }
    } else {
        let imm = imm as i64 as u64;
        match operation {
            jmp::JEQ => Op::JeqImm { dst, imm, target },
            jmp::JGT => Op::JgtImm { dst, imm, target },
            jmp::JGE => Op::JgeImm { dst, imm, target },
            jmp::JSET => Op::JsetImm { dst, imm, target },
            jmp::JNE => Op::JneImm { dst, imm, target },
            jmp::JSGT => Op::JsgtImm { dst, imm, target },
            jmp::JSGE => Op::JsgeImm { dst, imm, target },
            jmp::JLT => Op::JltImm { dst, imm, target },
            jmp::JLE => Op::JleImm { dst, imm, target },
            jmp::JSLT => Op::JsltImm { dst, imm, target },
            _ => Op::JsleImm { dst, imm, target },
        }
    }
}

fn cond_reg(operation: u8, is32: bool, dst: u8, src: u8, target: u32) -> Op {
    if is32 {
        match operation {
            jmp::JEQ => Op::Jeq32Reg { dst, src, target },
            jmp::JGT => Op::Jgt32Reg { dst, src, target },
            jmp::JGE => Op::Jge32Reg { dst, src, target },
            jmp::JSET => Op::Jset32Reg { dst, src, target },
            jmp::JNE => Op::Jne32Reg { dst, src, target },
            jmp::JSGT => Op::Jsgt32Reg { dst, src, target },
            jmp::JSGE => Op::Jsge32Reg { dst, src, target },
            jmp::JLT => Op::Jlt32Reg { dst, src, target },
            jmp::JLE => Op::Jle32Reg { dst, src, target },
            jmp::JSLT => Op::Jslt32Reg { dst, src, target },
            _ => Op::Jsle32Reg { dst, src, target },
        }
    } else {
        match operation {
            jmp::JEQ => Op::JeqReg { dst, src, target },
            jmp::JGT => Op::JgtReg { dst, src, target },
            jmp::JGE => Op::JgeReg { dst, src, target },
            jmp::JSET => Op::JsetReg { dst, src, target },
            jmp::JNE => Op::JneReg { dst, src, target },
            jmp::JSGT => Op::JsgtReg { dst, src, target },
            jmp::JSGE => Op::JsgeReg { dst, src, target },
            jmp::JLT => Op::JltReg { dst, src, target },
            jmp::JLE => Op::JleReg { dst, src, target },
            jmp::JSLT => Op::JsltReg { dst, src, target },
            _ => Op::JsleReg { dst, src, target },
        }
    }
}

fn alu_op(insn: Insn) -> Check<Op> {
    let is64 = insn.class() == class::ALU64;
    let operation = insn.operation();
    let by_reg = insn.source() == source::X;
    match operation {
        alu::END => {
            let dst = dst_reg(insn.dst)?;
            field_zero("src", insn.src.into())?;
            field_zero("off", insn.off.into())?;
            let bits = match insn.imm {
                16 | 32 | 64 => insn.imm as u8,
                other => {
                    return Err(InvalidInsn::BadField {
                        field: "imm",
                        value: other.into(),
                    });
                }
            };
            return match (is64, by_reg) {
                (false, false) => Ok(Op::ToLe { dst, bits }),
                (false, true) => Ok(Op::ToBe { dst, bits }),
                (true, false) => Ok(Op::Bswap { dst, bits }),
                (true, true) => Err(InvalidInsn::UnknownOpcode(insn.opcode)),
            };
        }
        alu::NEG => {
            if by_reg {
                return Err(InvalidInsn::UnknownOpcode(insn.opcode));
            }
            let dst = dst_reg(insn.dst)?;
            field_zero("src", insn.src.into())?;
            field_zero("off", insn.off.into())?;
            field_zero("imm", insn.imm.into())?;
            return Ok(if is64 {
                Op::Neg64 { dst }
            } else {
                Op::Neg32 { dst }
            });
        }
        0xe0 | 0xf0 => return Err(InvalidInsn::UnknownOpcode(insn.opcode)),
        _ => {}
    }
    let dst = dst_reg(insn.dst)?;
    // `off` selects signed division and sign-extending moves; elsewhere it must be 0.
    let signed = match (operation, insn.off) {
        (_, 0) => false,
        (alu::DIV | alu::MOD, 1) => true,
        (alu::MOV, 8 | 16) if by_reg => true,
        (alu::MOV, 32) if by_reg && is64 => true,
        (_, off) => {
            return Err(InvalidInsn::BadField {
                field: "off",
                value: off.into(),
            });
        }
    };
    if by_reg {
        let src = reg(insn.src)?;
        field_zero("imm", insn.imm.into())?;
        if src == 10 && !(is64 && !signed && matches!(operation, alu::MOV | alu::ADD | alu::SUB)) {
            return Err(InvalidInsn::FramePointerArithmetic);
        }
        if operation == alu::MOV && signed {
            let bits = insn.off as u8;
            return Ok(if is64 {
                Op::MovSx64 { dst, src, bits }
            } else {
                Op::MovSx32 { dst, src, bits }
            });
        }
        Ok(alu_reg(operation, is64, signed, dst, src))
    } else {
        field_zero("src", insn.src.into())?;
        Ok(alu_imm(operation, is64, signed, dst, insn.imm))
    }
}

fn alu_imm(operation: u8, is64: bool, signed: bool, dst: u8, imm: i32) -> Op {
    if is64 {
        let imm = imm as i64 as u64;
        match (operation, signed) {
            (alu::ADD, _) => Op::Add64Imm { dst, imm },
            (alu::SUB, _) => Op::Sub64Imm { dst, imm },
            (alu::MUL, _) => Op::Mul64Imm { dst, imm },
            (alu::DIV, false) => Op::Div64Imm { dst, imm },
            (alu::DIV, true) => Op::SDiv64Imm { dst, imm },
            (alu::MOD, false) => Op::Mod64Imm { dst, imm },
            (alu::MOD, true) => Op::SMod64Imm { dst, imm },
            (alu::OR, _) => Op::Or64Imm { dst, imm },
            (alu::AND, _) => Op::And64Imm { dst, imm },
            (alu::LSH, _) => Op::Lsh64Imm { dst, imm: imm & 63 },
            (alu::RSH, _) => Op::Rsh64Imm { dst, imm: imm & 63 },
            (alu::ARSH, _) => Op::Arsh64Imm { dst, imm: imm & 63 },
            (alu::XOR, _) => Op::Xor64Imm { dst, imm },
            _ => Op::Mov64Imm { dst, imm },
        }
    } else {
        let imm = imm as u32;
        match (operation, signed) {
            (alu::ADD, _) => Op::Add32Imm { dst, imm },
            (alu::SUB, _) => Op::Sub32Imm { dst, imm },
            (alu::MUL, _) => Op::Mul32Imm { dst, imm },
            (alu::DIV, false) => Op::Div32Imm { dst, imm },
            (alu::DIV, true) => Op::SDiv32Imm { dst, imm },
            (alu::MOD, false) => Op::Mod32Imm { dst, imm },
            (alu::MOD, true) => Op::SMod32Imm { dst, imm },
            (alu::OR, _) => Op::Or32Imm { dst, imm },
            (alu::AND, _) => Op::And32Imm { dst, imm },
            (alu::LSH, _) => Op::Lsh32Imm { dst, imm: imm & 31 },
            (alu::RSH, _) => Op::Rsh32Imm { dst, imm: imm & 31 },
            (alu::ARSH, _) => Op::Arsh32Imm { dst, imm: imm & 31 },
            (alu::XOR, _) => Op::Xor32Imm { dst, imm },
            _ => Op::Mov32Imm { dst, imm },
        }
    }
}

fn alu_reg(operation: u8, is64: bool, signed: bool, dst: u8, src: u8) -> Op {
    if is64 {
        match (operation, signed) {
            (alu::ADD, _) => Op::Add64Reg { dst, src },
            (alu::SUB, _) => Op::Sub64Reg { dst, src },
            (alu::MUL, _) => Op::Mul64Reg { dst, src },
            (alu::DIV, false) => Op::Div64Reg { dst, src },
            (alu::DIV, true) => Op::SDiv64Reg { dst, src },
            (alu::MOD, false) => Op::Mod64Reg { dst, src },
            (alu::MOD, true) => Op::SMod64Reg { dst, src },
            (alu::OR, _) => Op::Or64Reg { dst, src },
            (alu::AND, _) => Op::And64Reg { dst, src },
            (alu::LSH, _) => Op::Lsh64Reg { dst, src },
            (alu::RSH, _) => Op::Rsh64Reg { dst, src },
            (alu::ARSH, _) => Op::Arsh64Reg { dst, src },
            (alu::XOR, _) => Op::Xor64Reg { dst, src },
            _ => Op::Mov64Reg { dst, src },
        }
    } else {
        match (operation, signed) {
            (alu::ADD, _) => Op::Add32Reg { dst, src },
            (alu::SUB, _) => Op::Sub32Reg { dst, src },
            (alu::MUL, _) => Op::Mul32Reg { dst, src },
            (alu::DIV, false) => Op::Div32Reg { dst, src },
            (alu::DIV, true) => Op::SDiv32Reg { dst, src },
            (alu::MOD, false) => Op::Mod32Reg { dst, src },
            (alu::MOD, true) => Op::SMod32Reg { dst, src },
            (alu::OR, _) => Op::Or32Reg { dst, src },
            (alu::AND, _) => Op::And32Reg { dst, src },
            (alu::LSH, _) => Op::Lsh32Reg { dst, src },
            (alu::RSH, _) => Op::Rsh32Reg { dst, src },
            (alu::ARSH, _) => Op::Arsh32Reg { dst, src },
            (alu::XOR, _) => Op::Xor32Reg { dst, src },
            _ => Op::Mov32Reg { dst, src },
        }
    }
}

/// Checks that an r10-relative access of `width` bytes at `off` stays in the frame.
fn stack_offset(off: i16, width: usize) -> Check<i16> {
    let start = i64::from(off);
    if start >= -(FRAME_SIZE as i64) && start + width as i64 <= 0 {
        Ok(off)
    } else {
        Err(InvalidInsn::StackOutOfFrame {
            offset: start,
            size: width,
        })
    }
}

fn ldx_op(insn: Insn) -> Check<Op> {
    let sx = match insn.mode() {
        mode::MEM => false,
        mode::MEMSX if insn.size() != size::DW => true,
        _ => return Err(InvalidInsn::UnknownOpcode(insn.opcode)),
    };
    let dst = dst_reg(insn.dst)?;
    let src = reg(insn.src)?;
    field_zero("imm", insn.imm.into())?;
    let off = insn.off;
    if src == 10 {
        let off = stack_offset(off, size::bytes(insn.size()))?;
        return Ok(match (insn.size(), sx) {
            (size::B, false) => Op::StackLdxB { dst, off },
            (size::H, false) => Op::StackLdxH { dst, off },
            (size::W, false) => Op::StackLdxW { dst, off },
            (size::DW, _) => Op::StackLdxDW { dst, off },
            (size::B, true) => Op::StackLdxSB { dst, off },
            (size::H, true) => Op::StackLdxSH { dst, off },
            _ => Op::StackLdxSW { dst, off },
        });
    }
    Ok(match (insn.size(), sx) {
        (size::B, false) => Op::LdxB { dst, src, off },
        (size::H, false) => Op::LdxH { dst, src, off },
        (size::W, false) => Op::LdxW { dst, src, off },
        (size::DW, _) => Op::LdxDW { dst, src, off },
        (size::B, true) => Op::LdxSB { dst, src, off },
        (size::H, true) => Op::LdxSH { dst, src, off },
        _ => Op::LdxSW { dst, src, off },
    })
}

fn st_op(insn: Insn) -> Check<Op> {
    if insn.mode() != mode::MEM {
        return Err(InvalidInsn::UnknownOpcode(insn.opcode));
    }
    let dst = reg(insn.dst)?;
    field_zero("src", insn.src.into())?;
    let imm = insn.imm as i64 as u64;
    let off = insn.off;
    if dst == 10 {
        let off = stack_offset(off, size::bytes(insn.size()))?;
        return Ok(match insn.size() {
            size::B => Op::StackStB { off, imm },
            size::H => Op::StackStH { off, imm },
            size::W => Op::StackStW { off, imm },
            _ => Op::StackStDW { off, imm },
        });
    }
    Ok(match insn.size() {
        size::B => Op::StB { dst, off, imm },
        size::H => Op::StH { dst, off, imm },
        size::W => Op::StW { dst, off, imm },
        _ => Op::StDW { dst, off, imm },
    })
}

fn stx_op(insn: Insn) -> Check<Op> {
    let dst = reg(insn.dst)?;
    let src = reg(insn.src)?;
    let off = insn.off;
    match insn.mode() {
        mode::MEM => {
            field_zero("imm", insn.imm.into())?;
            if dst == 10 {
                let off = stack_offset(off, size::bytes(insn.size()))?;
                return Ok(match insn.size() {
                    size::B => Op::StackStxB { src, off },
                    size::H => Op::StackStxH { src, off },
                    size::W => Op::StackStxW { src, off },
                    _ => Op::StackStxDW { src, off },
                });
            }
            Ok(match insn.size() {
                size::B => Op::StxB { dst, src, off },
                size::H => Op::StxH { dst, src, off },
                size::W => Op::StxW { dst, src, off },
                _ => Op::StxDW { dst, src, off },
            })
        }
        mode::ATOMIC if matches!(insn.size(), size::W | size::DW) => {
            let fetch = insn.imm & atomic::FETCH != 0;
            let op = match insn.imm {
                atomic::XCHG => AtomicOp::Xchg,
                atomic::CMPXCHG => AtomicOp::CmpXchg,
                imm => match imm & !atomic::FETCH {
                    atomic::ADD => AtomicOp::Add { fetch },
                    atomic::OR => AtomicOp::Or { fetch },
                    atomic::AND => AtomicOp::And { fetch },
                    atomic::XOR => AtomicOp::Xor { fetch },
                    _ => {
                        return Err(InvalidInsn::BadField {
                            field: "imm",
                            value: imm.into(),
                        });
                    }
                },
            };
            if fetch && op != AtomicOp::CmpXchg && src == 10 {
                return Err(InvalidInsn::WritesFramePointer);
            }
            Ok(Op::Atomic {
                op,
                wide: insn.size() == size::DW,
                dst,
                src,
                off,
            })
        }
        _ => Err(InvalidInsn::UnknownOpcode(insn.opcode)),
    }
}
