//! Disassembler producing the syntax of [`crate::isa::asm`].
//!
//! [`disassemble`] prints one line per instruction, jump and call targets as
//! signed slot offsets (`+3`, `-2`). Its output always re-assembles to the
//! same bytes: a slot that is not a valid instruction (unknown opcode, a
//! register above r10, a non-zero unused field, an `lddw` without a proper
//! second slot; the same check the translator makes, [`decode`]) prints as a
//! raw `.insn opcode, dst, src, off, imm` line, followed by a comment that
//! says what is wrong with it.
//!
//! [`disassemble_with`] can also name maps, global variables and helpers
//! through a [`SymbolResolver`]; its named operands are for display.

use crate::isa::asm::{
    ALU_MNEMONICS, ATOMIC_MNEMONICS, JMP_MNEMONICS, MOVSX_MNEMONICS, i32_to_bits,
};
use crate::isa::decode::{AtomicOp, ByteOrder, Instruction, Operand, decode};
use crate::isa::insn::{Insn, atomic, class, pseudo};

/// Names for the numbers a program refers to, for [`disassemble_with`].
///
/// The loader knows which map an `lddw` pseudo source refers to; a resolver
/// lets the disassembler print `lddw %r1, map:counters` instead of
/// `lddw %r1, map_idx:0`, and `lddw %r1, .data+8` instead of
/// `lddw %r1, map_idx_value:2+8`. Both methods default to "no name", in which
/// case the plain, re-assemblable form is printed.
///
/// ```
/// use tinybpf_vm::isa::disasm::{SymbolResolver, disassemble_with};
/// use tinybpf_vm::isa::insn::Insn;
///
/// struct Names;
/// impl SymbolResolver for Names {
///     fn map_name(&self, lddw_src: u8, imm: i32) -> Option<String> {
///         match (lddw_src, imm) {
///             (5, 0) => Some("counters".into()),
///             (6, 1) => Some(".data".into()),
///             _ => None,
///         }
///     }
///     fn helper_name(&self, id: i32) -> Option<String> {
///         (id == 1).then(|| "map_lookup_elem".into())
///     }
/// }
///
/// let program = [
///     Insn::new(0x18, 1, 5, 0, 0), Insn::new(0, 0, 0, 0, 0),
///     Insn::new(0x18, 2, 6, 0, 1), Insn::new(0, 0, 0, 0, 8),
///     Insn::new(0x85, 0, 0, 0, 1),
/// ];
/// assert_eq!(
///     disassemble_with(&program, &Names),
///     "lddw %r1, map:counters\nlddw %r2, .data+8\ncall 1 # map_lookup_elem\n"
/// );
/// ```
pub trait SymbolResolver {
    /// The name of the map an `lddw` with pseudo source `lddw_src` (1, 2, 5
    /// or 6) and first immediate `imm` refers to. For the value sources (2
    /// and 6) the disassembler appends the value offset (`+8`).
    fn map_name(&self, lddw_src: u8, imm: i32) -> Option<String> {
        let _ = (lddw_src, imm);
        None
    }

    /// The name of helper `id`, printed as a comment after `call id`.
    fn helper_name(&self, id: i32) -> Option<String> {
        let _ = id;
        None
    }
}

/// A resolver that knows no names: [`disassemble`] uses it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSymbols;

impl SymbolResolver for NoSymbols {}

/// Disassembles the instruction at slot `pc`: its text and how many slots
/// it occupies (2 for a complete `lddw`, otherwise 1).
///
/// Never panics: a `pc` past the end yields a comment line and 0 slots.
///
/// ```
/// use tinybpf_vm::isa::disasm::disassemble_one;
/// use tinybpf_vm::isa::insn::Insn;
///
/// let slots = [Insn::new(0x18, 0, 0, 0, 0x5566_7788), Insn::new(0, 0, 0, 0, 0x1122_3344)];
/// assert_eq!(disassemble_one(&slots, 0), ("lddw %r0, 0x1122334455667788".to_string(), 2));
/// assert_eq!(disassemble_one(&slots, 1).1, 1); // a lone second slot is printed raw
/// assert_eq!(disassemble_one(&slots, 2).1, 0);
/// ```
pub fn disassemble_one(insns: &[Insn], pc: usize) -> (String, usize) {
    describe(insns, pc, &NoSymbols)
}

/// Disassembles a whole program, one line per instruction. The text
/// re-assembles to exactly the same slots.
///
/// ```
/// use tinybpf_vm::isa::asm::assemble;
/// use tinybpf_vm::isa::disasm::disassemble;
///
/// let program = assemble("mov %r0, 0\nL: add %r0, 1\njlt %r0, 10, L\nexit").unwrap();
/// let text = disassemble(&program);
/// assert_eq!(text, "mov %r0, 0\nadd %r0, 1\njlt %r0, 10, -2\nexit\n");
/// assert_eq!(assemble(&text).unwrap(), program);
/// ```
pub fn disassemble(insns: &[Insn]) -> String {
    disassemble_with(insns, &NoSymbols)
}

/// Like [`disassemble`], naming maps, global variables and helpers through
/// `names` where it knows them (those lines are for display and may not
/// re-assemble).
pub fn disassemble_with(insns: &[Insn], names: &dyn SymbolResolver) -> String {
    let mut out = String::new();
    let mut pc = 0;
    while pc < insns.len() {
        let (text, used) = describe(insns, pc, names);
        out.push_str(&text);
        out.push('\n');
        pc += used.max(1);
    }
    out
}

fn describe(insns: &[Insn], pc: usize, names: &dyn SymbolResolver) -> (String, usize) {
    let Some(insn) = insns.get(pc) else {
        return (format!("# pc {pc} is past the end of the program"), 0);
    };
    match decode(insns, pc) {
        Ok(instruction) => (text(insn, &instruction, names), instruction.slots()),
        Err(error) => (
            format!(
                ".insn {:#04x}, {}, {}, {}, {} # invalid: {}",
                insn.opcode, insn.dst, insn.src, insn.off, insn.imm, error.reason
            ),
            1,
        ),
    }
}

fn reg(number: u8) -> String {
    format!("%r{number}")
}

/// An immediate, in a form the assembler reads back to the same bits.
fn imm(value: i32) -> String {
    if (-0xffff..=0xffff).contains(&value) {
        value.to_string()
    } else {
        format!("{:#x}", i32_to_bits(value))
    }
}

/// A signed jump distance with its sign: `+3`, `-2`, `+0`.
fn target<T: std::fmt::Display + Default + PartialOrd>(distance: T) -> String {
    if distance >= T::default() {
        format!("+{distance}")
    } else {
        distance.to_string()
    }
}

fn memory(base: u8, off: i16) -> String {
    match off {
        0 => format!("[{}]", reg(base)),
        _ => format!("[{}{}]", reg(base), target(off)),
    }
}

fn operand(operand: Operand) -> String {
    match operand {
        Operand::Reg(r) => reg(r),
        Operand::Imm(value) => imm(value),
    }
}

fn size_suffix(width: u8) -> &'static str {
    match width {
        1 => "b",
        2 => "h",
        4 => "w",
        _ => "dw",
    }
}

/// The text of a slot [`decode`] accepted, in the assembler's syntax; the
/// mnemonics come from the assembler's tables.
fn text(insn: &Insn, instruction: &Instruction, names: &dyn SymbolResolver) -> String {
    let width = |wide: bool| if wide { "" } else { "32" };
    match *instruction {
        Instruction::Alu { wide, dst, src, .. } => {
            let name = ALU_MNEMONICS
                .iter()
                .find(|(_, operation, off)| *operation == insn.operation() && *off == insn.off)
                .map_or("?", |(name, _, _)| *name);
            format!("{name}{} {}, {}", width(wide), reg(dst), operand(src))
        }
        Instruction::Neg { wide, dst } => format!("neg{} {}", width(wide), reg(dst)),
        Instruction::MovSx { dst, src, .. } => {
            let name = MOVSX_MNEMONICS
                .iter()
                .find(|(_, cls, off)| *cls == insn.class() && *off == insn.off)
                .map_or("?", |(name, _, _)| *name);
            format!("{name} {}, {}", reg(dst), reg(src))
        }
        Instruction::ByteOrder { order, dst, bits } => {
            let name = match order {
                ByteOrder::ToLe => "le",
                ByteOrder::ToBe => "be",
                ByteOrder::Swap => "bswap",
            };
            format!("{name}{bits} {}", reg(dst))
        }
        Instruction::Lddw {
            dst,
            source,
            imm: first,
            next_imm,
        } => lddw(dst, source, first, next_imm, names),
        Instruction::Load {
            width,
            sign_extend,
            dst,
            base,
            off,
        } => {
            let sign = if sign_extend { "s" } else { "" };
            format!(
                "ldx{sign}{} {}, {}",
                size_suffix(width),
                reg(dst),
                memory(base, off)
            )
        }
        Instruction::Store {
            width,
            base,
            off,
            value,
        } => {
            let stx = if matches!(value, Operand::Reg(_)) {
                "x"
            } else {
                ""
            };
            format!(
                "st{stx}{} {}, {}",
                size_suffix(width),
                memory(base, off),
                operand(value)
            )
        }
        Instruction::Atomic {
            wide,
            op,
            base,
            src,
            off,
        } => {
            let name = ATOMIC_MNEMONICS
                .iter()
                .find(|(_, operation)| {
                    *operation == insn.imm || *operation == insn.imm & !atomic::FETCH
                })
                .map_or("?", |(name, _)| *name);
            let fetch = match op {
                AtomicOp::Add { fetch }
                | AtomicOp::Or { fetch }
                | AtomicOp::And { fetch }
                | AtomicOp::Xor { fetch } => fetch,
                AtomicOp::Xchg | AtomicOp::CmpXchg => false,
            };
            let fetch_word = if fetch { "fetch " } else { "" };
            format!(
                "lock {fetch_word}{name}{} {}, {}",
                width(wide),
                memory(base, off),
                reg(src)
            )
        }
        Instruction::Ja { offset } => {
            if insn.class() == class::JMP32 {
                format!("ja32 {}", target(offset))
            } else {
                format!("ja {}", target(offset))
            }
        }
        Instruction::Branch {
            wide,
            dst,
            src,
            off,
            ..
        } => {
            let name = JMP_MNEMONICS
                .iter()
                .find(|(_, operation)| *operation == insn.operation())
                .map_or("?", |(name, _)| *name);
            format!(
                "{name}{} {}, {}, {}",
                width(wide),
                reg(dst),
                operand(src),
                target(off)
            )
        }
        Instruction::Call { source, imm: id } => match source {
            pseudo::CALL_HELPER => match names.helper_name(id) {
                Some(name) => format!("call {} # {name}", imm(id)),
                None => format!("call {}", imm(id)),
            },
            pseudo::CALL_LOCAL => format!("call local {}", target(id)),
            _ => format!("call runtime {}", imm(id)),
        },
        Instruction::CallReg { reg: r } => format!("call {}", reg(r)),
        Instruction::Exit => "exit".to_string(),
    }
}

fn lddw(dst: u8, source: u8, first: i32, next_imm: i32, names: &dyn SymbolResolver) -> String {
    let dst = reg(dst);
    let value = match source {
        pseudo::MAP_FD | pseudo::MAP_IDX => match names.map_name(source, first) {
            Some(name) => format!("map:{name}"),
            None if source == pseudo::MAP_FD => format!("map_fd:{}", imm(first)),
            None => format!("map_idx:{}", imm(first)),
        },
        pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => {
            let offset = target(next_imm);
            match names.map_name(source, first) {
                Some(name) if next_imm == 0 => name,
                Some(name) => format!("{name}{offset}"),
                None if source == pseudo::MAP_VALUE => {
                    format!("map_value:{}{offset}", imm(first))
                }
                None => format!("map_idx_value:{}{offset}", imm(first)),
            }
        }
        pseudo::FUNC => format!("func:{}", imm(first)),
        // `decode` accepted only a plain immediate besides.
        _ => {
            let bits = u64::from(i32_to_bits(next_imm)) << 32 | u64::from(i32_to_bits(first));
            format!("{bits:#x}")
        }
    };
    format!("lddw {dst}, {value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediates_read_back_to_the_same_bits() {
        assert_eq!(imm(-1), "-1");
        assert_eq!(imm(0xffff), "65535");
        assert_eq!(imm(0x10000), "0x10000");
        assert_eq!(imm(i32::MIN), "0x80000000");
        assert_eq!(imm(-0x10000), "0xffff0000");
    }

    #[test]
    fn targets_carry_their_sign() {
        assert_eq!(target(0i16), "+0");
        assert_eq!(target(-3i16), "-3");
        assert_eq!(target(i32::MIN), "-2147483648");
    }
}
