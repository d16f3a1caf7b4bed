//! The one check of a raw slot's fields, and what the slot decodes to.
//!
//! [`decode`] checks every field of an instruction as the kernel checks its
//! structure (known opcode, registers r0..r10, unused fields zero, `off` and
//! `imm` values the opcode allows, an `lddw`'s second slot) and returns the
//! typed [`Instruction`]. It knows nothing of the program around the slot:
//! jump targets, map indices, helper ids, r10 writes and frame offsets are
//! the translator's checks ([`crate::passes::translate`]). The translator
//! and the disassembler ([`crate::isa::disasm`]) both call it, so a slot is
//! valid for one exactly when it is valid for the other; a failure carries
//! the translator's [`InvalidInsn`] and the disassembler's short reason.
//!
//! ```
//! use tinybpf_vm::isa::decode::{AluOp, Instruction, Operand, decode};
//! use tinybpf_vm::isa::insn::Insn;
//! let slots = [Insn::new(0x3f, 1, 2, 1, 0)]; // sdiv r1, r2
//! assert_eq!(
//!     decode(&slots, 0),
//!     Ok(Instruction::Alu { wide: true, op: AluOp::SDiv, dst: 1, src: Operand::Reg(2) })
//! );
//! let bad = [Insn::new(0x87, 1, 0, 0, 0), Insn::new(0x8f, 1, 2, 0, 0)];
//! assert_eq!(decode(&bad, 0).unwrap().to_owned(), Instruction::Neg { wide: true, dst: 1 });
//! assert_eq!(decode(&bad, 1).unwrap_err().reason, "neg has no register form");
//! ```

use crate::error::InvalidInsn;
use crate::isa::insn::{Insn, alu, atomic, class, jmp, mode, opcode, pseudo, size, source};

/// A slot's fields, checked and decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instruction {
    /// `dst = dst op src` (`mov`: `dst = src`); `wide`: 64-bit, else 32-bit.
    Alu {
        /// 64-bit (ALU64) or 32-bit (ALU).
        wide: bool,
        /// The operation.
        op: AluOp,
        /// Destination.
        dst: u8,
        /// Register or immediate source.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 64-bit or 32-bit.
        wide: bool,
        /// Destination.
        dst: u8,
    },
    /// `dst = sign_extend(src, bits)` (`movsx`).
    MovSx {
        /// 64-bit or 32-bit result.
        wide: bool,
        /// Destination.
        dst: u8,
        /// Source.
        src: u8,
        /// Source width: 8, 16 or (64-bit only) 32.
        bits: u8,
    },
    /// Byte-order conversion of the low `bits` (16, 32 or 64) of `dst`.
    ByteOrder {
        /// Which conversion.
        order: ByteOrder,
        /// Destination.
        dst: u8,
        /// Width.
        bits: u8,
    },
    /// `lddw` (two slots).
    Lddw {
        /// Destination.
        dst: u8,
        /// The pseudo source ([`pseudo`]): a plain immediate, a map, a map value.
        source: u8,
        /// The first slot's immediate (low bits, or the map).
        imm: i32,
        /// The second slot's immediate (high bits, or the value offset).
        next_imm: i32,
    },
    /// `dst = *(base + off)`, `width` bytes.
    Load {
        /// 1, 2, 4 or 8.
        width: u8,
        /// Sign-extending (`ldxs*`).
        sign_extend: bool,
        /// Destination.
        dst: u8,
        /// Address register.
        base: u8,
        /// Offset.
        off: i16,
    },
    /// `*(base + off) = value`, `width` bytes.
    Store {
        /// 1, 2, 4 or 8.
        width: u8,
        /// Address register.
        base: u8,
        /// Offset.
        off: i16,
        /// Register or immediate.
        value: Operand,
    },
    /// An atomic read-modify-write of `*(base + off)` with `src`.
    Atomic {
        /// 8 bytes, else 4.
        wide: bool,
        /// The operation.
        op: AtomicOp,
        /// Address register.
        base: u8,
        /// Operand register (and where a fetch returns the old value).
        src: u8,
        /// Offset.
        off: i16,
    },
    /// `goto +offset` (`ja`, or `ja32` with a 32-bit offset).
    Ja {
        /// Slots from the next one.
        offset: i64,
    },
    /// `if dst cond src goto +off`.
    Branch {
        /// The comparison.
        cond: Cond,
        /// 64-bit or 32-bit comparison.
        wide: bool,
        /// Left operand.
        dst: u8,
        /// Register or immediate right operand.
        src: Operand,
        /// Slots from the next one.
        off: i16,
    },
    /// `call imm`: a helper, a local function or a kfunc ([`pseudo`] `CALL_*`).
    Call {
        /// Which kind of call.
        source: u8,
        /// Helper id, local offset or BTF id.
        imm: i32,
    },
    /// `callx reg`: a helper whose id is in `reg`.
    CallReg {
        /// The register.
        reg: u8,
    },
    /// `exit`.
    Exit,
}

impl Instruction {
    /// How many slots it occupies.
    pub const fn slots(&self) -> usize {
        match self {
            Instruction::Lddw { .. } => 2,
            Instruction::Alu { .. }
            | Instruction::Neg { .. }
            | Instruction::MovSx { .. }
            | Instruction::ByteOrder { .. }
            | Instruction::Load { .. }
            | Instruction::Store { .. }
            | Instruction::Atomic { .. }
            | Instruction::Ja { .. }
            | Instruction::Branch { .. }
            | Instruction::Call { .. }
            | Instruction::CallReg { .. }
            | Instruction::Exit => 1,
        }
    }
}

/// A register or a (sign-extended) immediate operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A register.
    Reg(u8),
    /// The instruction's `imm`.
    Imm(i32),
}

/// Arithmetic operations (signed division and modulo apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    SDiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    SMod,
    Xor,
    Mov,
    Arsh,
}

/// Byte-order conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    /// To little-endian (`le`): truncation on this host.
    ToLe,
    /// To big-endian (`be`).
    ToBe,
    /// Unconditional swap (`bswap`, class ALU64).
    Swap,
}

/// Conditional jump comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

/// The operation of an atomic instruction (`fetch`: also return the old value in src).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicOp {
    /// `*p += src`, optionally returning the old value in src.
    Add {
        /// Whether the old value is returned.
        fetch: bool,
    },
    /// `*p |= src`
    Or {
        /// Whether the old value is returned.
        fetch: bool,
    },
    /// `*p &= src`
    And {
        /// Whether the old value is returned.
        fetch: bool,
    },
    /// `*p ^= src`
    Xor {
        /// Whether the old value is returned.
        fetch: bool,
    },
    /// Exchange with src.
    Xchg,
    /// Compare with r0 and exchange; old value in r0.
    CmpXchg,
}

impl AtomicOp {
    /// Whether the old value is written back into `src` (the fetching forms
    /// and exchange; compare-and-exchange writes r0 instead).
    pub const fn writes_src(self) -> bool {
        match self {
            AtomicOp::Add { fetch }
            | AtomicOp::Or { fetch }
            | AtomicOp::And { fetch }
            | AtomicOp::Xor { fetch } => fetch,
            AtomicOp::Xchg => true,
            AtomicOp::CmpXchg => false,
        }
    }
}

impl std::fmt::Display for AtomicOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, fetch) = match *self {
            AtomicOp::Add { fetch } => ("add", fetch),
            AtomicOp::Or { fetch } => ("or", fetch),
            AtomicOp::And { fetch } => ("and", fetch),
            AtomicOp::Xor { fetch } => ("xor", fetch),
            AtomicOp::Xchg => ("xchg", false),
            AtomicOp::CmpXchg => ("cmpxchg", false),
        };
        if fetch {
            f.write_str("fetch ")?;
        }
        f.write_str(name)
    }
}

/// Why a slot's fields are not an instruction: the translator's error and
/// the disassembler's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// What the translator reports.
    pub kind: InvalidInsn,
    /// What the disassembler prints after `# invalid:`.
    pub reason: &'static str,
}

type Checked<T> = Result<T, FieldError>;

fn fail<T>(kind: InvalidInsn, reason: &'static str) -> Checked<T> {
    Err(FieldError { kind, reason })
}

/// `Ok` when `value` is 0, else a bad-field error with `reason`.
fn zero(field: &'static str, value: impl Into<i64>, reason: &'static str) -> Checked<()> {
    match value.into() {
        0 => Ok(()),
        value => fail(InvalidInsn::BadField { field, value }, reason),
    }
}

/// Checks and decodes the slot at `pc` (with the next one, for an `lddw`).
///
/// Never panics; a `pc` past the end is an unknown opcode 0.
pub fn decode(insns: &[Insn], pc: usize) -> Result<Instruction, FieldError> {
    let Some(&insn) = insns.get(pc) else {
        return fail(InvalidInsn::UnknownOpcode(0), "past the end of the program");
    };
    if insn.dst > 10 || insn.src > 10 {
        let r = if insn.dst > 10 { insn.dst } else { insn.src };
        return fail(InvalidInsn::BadRegister(r), "register field above 10");
    }
    match insn.class() {
        class::ALU | class::ALU64 => arithmetic(insn),
        class::JMP | class::JMP32 => jump(insn),
        class::LD => lddw(insn, pc.checked_add(1).and_then(|next| insns.get(next))),
        class::LDX => load(insn),
        class::ST => store_imm(insn),
        _ => store_reg(insn),
    }
}

fn unknown(insn: Insn, reason: &'static str) -> FieldError {
    FieldError {
        kind: InvalidInsn::UnknownOpcode(insn.opcode),
        reason,
    }
}

fn arithmetic(insn: Insn) -> Checked<Instruction> {
    let wide = insn.class() == class::ALU64;
    let by_reg = insn.source() == source::X;
    let dst = insn.dst;
    match insn.operation() {
        alu::NEG => {
            if by_reg {
                return Err(unknown(insn, "neg has no register form"));
            }
            let reason = "unused field of neg is set";
            zero("src", insn.src, reason)?;
            zero("off", insn.off, reason)?;
            zero("imm", insn.imm, reason)?;
            return Ok(Instruction::Neg { wide, dst });
        }
        alu::END => {
            let order = match (wide, by_reg) {
                (false, false) => ByteOrder::ToLe,
                (false, true) => ByteOrder::ToBe,
                (true, false) => ByteOrder::Swap,
                (true, true) => return Err(unknown(insn, "byte swap has no register form")),
            };
            let bits = match insn.imm {
                16 | 32 | 64 => insn.imm as u8,
                other => {
                    return fail(
                        InvalidInsn::BadField {
                            field: "imm",
                            value: other.into(),
                        },
                        "byte-order width is not 16, 32 or 64",
                    );
                }
            };
            let reason = "unused field of a byte-order operation is set";
            zero("src", insn.src, reason)?;
            zero("off", insn.off, reason)?;
            return Ok(Instruction::ByteOrder { order, dst, bits });
        }
        alu::MOV if by_reg && insn.off != 0 => {
            zero("imm", insn.imm, "unused imm field is set")?;
            return match (insn.off, wide) {
                (8 | 16, _) | (32, true) => Ok(Instruction::MovSx {
                    wide,
                    dst,
                    src: insn.src,
                    bits: insn.off as u8,
                }),
                (off, _) => fail(
                    InvalidInsn::BadField {
                        field: "off",
                        value: off.into(),
                    },
                    "movsx width is not 8, 16 or (64-bit only) 32",
                ),
            };
        }
        _ => {}
    }
    let op = match (insn.operation(), insn.off) {
        (alu::ADD, 0) => AluOp::Add,
        (alu::SUB, 0) => AluOp::Sub,
        (alu::MUL, 0) => AluOp::Mul,
        (alu::DIV, 0) => AluOp::Div,
        (alu::DIV, 1) => AluOp::SDiv,
        (alu::OR, 0) => AluOp::Or,
        (alu::AND, 0) => AluOp::And,
        (alu::LSH, 0) => AluOp::Lsh,
        (alu::RSH, 0) => AluOp::Rsh,
        (alu::MOD, 0) => AluOp::Mod,
        (alu::MOD, 1) => AluOp::SMod,
        (alu::XOR, 0) => AluOp::Xor,
        (alu::MOV, 0) => AluOp::Mov,
        (alu::ARSH, 0) => AluOp::Arsh,
        (operation, off) => {
            let bad_off = InvalidInsn::BadField {
                field: "off",
                value: off.into(),
            };
            return match operation {
                alu::DIV | alu::MOD => {
                    fail(bad_off, "division offset is not 0 (unsigned) or 1 (signed)")
                }
                alu::MOV => fail(bad_off, "unused off field of mov is set"),
                0xe0 | 0xf0 => Err(unknown(insn, "unknown arithmetic operation")),
                _ => fail(bad_off, "unused off field is set"),
            };
        }
    };
    let src = if by_reg {
        zero("imm", insn.imm, "unused imm field is set")?;
        Operand::Reg(insn.src)
    } else {
        zero("src", insn.src, "unused src field is set")?;
        Operand::Imm(insn.imm)
    };
    Ok(Instruction::Alu { wide, op, dst, src })
}

fn jump(insn: Insn) -> Checked<Instruction> {
    let narrow = insn.class() == class::JMP32;
    let by_reg = insn.source() == source::X;
    match insn.operation() {
        jmp::JA => {
            if by_reg {
                return Err(unknown(insn, "ja has no register form"));
            }
            let offset = if narrow {
                let reason = "unused field of ja32 is set";
                zero("dst", insn.dst, reason)?;
                zero("src", insn.src, reason)?;
                zero("off", insn.off, reason)?;
                i64::from(insn.imm)
            } else {
                let reason = "unused field of ja is set";
                zero("dst", insn.dst, reason)?;
                zero("src", insn.src, reason)?;
                zero("imm", insn.imm, reason)?;
                i64::from(insn.off)
            };
            return Ok(Instruction::Ja { offset });
        }
        jmp::CALL => {
            if narrow {
                return Err(unknown(insn, "call is not a 32-bit jump"));
            }
            zero("off", insn.off, "unused off field of call is set")?;
            if insn.opcode == opcode::CALLX {
                // callx: the register is in dst (as LLVM encodes it).
                let reason = "unused field of callx is set";
                zero("src", insn.src, reason)?;
                zero("imm", insn.imm, reason)?;
                return Ok(Instruction::CallReg { reg: insn.dst });
            }
            zero("dst", insn.dst, "unused dst field of call is set")?;
            return match insn.src {
                pseudo::CALL_HELPER | pseudo::CALL_LOCAL | pseudo::CALL_KFUNC => {
                    Ok(Instruction::Call {
                        source: insn.src,
                        imm: insn.imm,
                    })
                }
                other => fail(
                    InvalidInsn::BadField {
                        field: "src",
                        value: other.into(),
                    },
                    "unknown call source",
                ),
            };
        }
        jmp::EXIT => {
            if narrow || by_reg {
                return Err(unknown(insn, "unknown exit form"));
            }
            let reason = "unused field of exit is set";
            zero("dst", insn.dst, reason)?;
            zero("src", insn.src, reason)?;
            zero("off", insn.off, reason)?;
            zero("imm", insn.imm, reason)?;
            return Ok(Instruction::Exit);
        }
        _ => {}
    }
    let cond = match insn.operation() {
        jmp::JEQ => Cond::Eq,
        jmp::JGT => Cond::Gt,
        jmp::JGE => Cond::Ge,
        jmp::JSET => Cond::Set,
        jmp::JNE => Cond::Ne,
        jmp::JSGT => Cond::Sgt,
        jmp::JSGE => Cond::Sge,
        jmp::JLT => Cond::Lt,
        jmp::JLE => Cond::Le,
        jmp::JSLT => Cond::Slt,
        jmp::JSLE => Cond::Sle,
        _ => return Err(unknown(insn, "unknown jump operation")),
    };
    let src = if by_reg {
        zero("imm", insn.imm, "unused imm field is set")?;
        Operand::Reg(insn.src)
    } else {
        zero("src", insn.src, "unused src field is set")?;
        Operand::Imm(insn.imm)
    };
    Ok(Instruction::Branch {
        cond,
        wide: !narrow,
        dst: insn.dst,
        src,
        off: insn.off,
    })
}

fn lddw(insn: Insn, next: Option<&Insn>) -> Checked<Instruction> {
    let legacy = "legacy packet loads and unknown loads are not supported";
    match insn.mode() {
        mode::ABS | mode::IND => return fail(InvalidInsn::LegacyPacketAccess, legacy),
        _ if insn.opcode != opcode::LDDW => return Err(unknown(insn, legacy)),
        _ => {}
    }
    zero("off", insn.off, "unused off field of lddw is set")?;
    let Some(next) = next else {
        return fail(InvalidInsn::IncompleteLddw, "lddw without its second slot");
    };
    if next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
        return fail(
            InvalidInsn::IncompleteLddw,
            "the slot after lddw is not its second half",
        );
    }
    match insn.src {
        pseudo::IMM64 | pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => {}
        pseudo::MAP_FD | pseudo::MAP_IDX => zero(
            "imm of the second slot",
            next.imm,
            "a map reference has a non-zero second immediate",
        )?,
        pseudo::FUNC => zero(
            "imm of the second slot",
            next.imm,
            "a function reference has a non-zero second immediate",
        )?,
        other => {
            return fail(
                InvalidInsn::UnsupportedLddwSource(other),
                "unknown lddw source",
            );
        }
    }
    Ok(Instruction::Lddw {
        dst: insn.dst,
        source: insn.src,
        imm: insn.imm,
        next_imm: next.imm,
    })
}

fn load(insn: Insn) -> Checked<Instruction> {
    let sign_extend = match insn.mode() {
        mode::MEM => false,
        mode::MEMSX if insn.size() != size::DW => true,
        _ => return Err(unknown(insn, "unknown load mode")),
    };
    zero("imm", insn.imm, "unused imm field is set")?;
    Ok(Instruction::Load {
        width: size::bytes(insn.size()) as u8,
        sign_extend,
        dst: insn.dst,
        base: insn.src,
        off: insn.off,
    })
}

fn store_imm(insn: Insn) -> Checked<Instruction> {
    if insn.mode() != mode::MEM {
        return Err(unknown(insn, "unknown store mode"));
    }
    zero("src", insn.src, "unused src field is set")?;
    Ok(Instruction::Store {
        width: size::bytes(insn.size()) as u8,
        base: insn.dst,
        off: insn.off,
        value: Operand::Imm(insn.imm),
    })
}

fn store_reg(insn: Insn) -> Checked<Instruction> {
    match insn.mode() {
        mode::MEM => {
            zero("imm", insn.imm, "unused imm field is set")?;
            Ok(Instruction::Store {
                width: size::bytes(insn.size()) as u8,
                base: insn.dst,
                off: insn.off,
                value: Operand::Reg(insn.src),
            })
        }
        mode::ATOMIC => {
            let wide = match insn.size() {
                size::DW => true,
                size::W => false,
                _ => return Err(unknown(insn, "atomic operations are 32 or 64 bits wide")),
            };
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
                        return fail(
                            InvalidInsn::BadField {
                                field: "imm",
                                value: imm.into(),
                            },
                            "unknown atomic operation",
                        );
                    }
                },
            };
            Ok(Instruction::Atomic {
                wide,
                op,
                base: insn.dst,
                src: insn.src,
                off: insn.off,
            })
        }
        _ => Err(unknown(insn, "unknown store mode")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::disasm::disassemble_one;
    use crate::{LoadedProgram, ProgramOptions, VerifyError};

    #[test]
    fn the_translator_and_the_disassembler_agree_on_every_field_check() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut valid, mut invalid) = (0, 0);
        for opcode in 0..=255u8 {
            for _ in 0..200 {
                let r = next();
                // Small field values, so that valid slots are common.
                let slot = Insn::new(
                    opcode,
                    (r % 12) as u8,
                    ((r >> 8) % 12) as u8,
                    [0, 1, 8, 16, 32, -1][(r >> 16) as usize % 6],
                    [0, 1, 16, 32, 64, 0xe1, 0xf1, -1][(r >> 24) as usize % 8],
                );
                let slots = [slot, Insn::new(0, 0, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)];
                let decoded = decode(&slots, 0);
                let (text, _) = disassemble_one(&slots, 0);
                let loaded = LoadedProgram::from_insns(&slots, ProgramOptions::default());
                match decoded {
                    Ok(_) => {
                        valid += 1;
                        assert!(!text.starts_with(".insn"), "{slot:?}: {text}");
                    }
                    Err(error) => {
                        invalid += 1;
                        assert_eq!(
                            text,
                            format!(
                                ".insn {:#04x}, {}, {}, {}, {} # invalid: {}",
                                slot.opcode, slot.dst, slot.src, slot.off, slot.imm, error.reason
                            )
                        );
                        assert_eq!(
                            loaded.unwrap_err(),
                            VerifyError::Invalid {
                                pc: 0,
                                kind: error.kind
                            },
                            "{slot:?}"
                        );
                    }
                }
            }
        }
        assert!(
            valid > 1000 && invalid > 2000,
            "{valid} valid, {invalid} invalid"
        );
    }
}
