//! Disassembler producing the syntax of [`crate::isa::asm`].
//!
//! [`disassemble`] prints one line per instruction, jump and call targets as
//! signed slot offsets (`+3`, `-2`). Its output always re-assembles to the
//! same bytes: a slot that is not a valid instruction (unknown opcode, a
//! register above r10, a non-zero unused field, an `lddw` without a proper
//! second slot) prints as a raw `.insn opcode, dst, src, off, imm` line,
//! followed by a comment that says what is wrong with it.
//!
//! [`disassemble_with`] can also name maps, global variables and helpers
//! through a [`SymbolResolver`]; its named operands are for display.

use crate::isa::asm::{
    ALU_MNEMONICS, ATOMIC_MNEMONICS, JMP_MNEMONICS, MOVSX_MNEMONICS, SIZE_SUFFIXES, i32_to_bits,
};
use crate::isa::insn::{Insn, alu, atomic, class, jmp, mode, opcode, pseudo, size, source};

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
    match decode(insns, pc, insn, names) {
        Ok(found) => found,
        Err(reason) => (
            format!(
                ".insn {:#04x}, {}, {}, {}, {} # invalid: {reason}",
                insn.opcode, insn.dst, insn.src, insn.off, insn.imm
            ),
            1,
        ),
    }
}

/// Why a slot is not a valid instruction.
type Invalid = &'static str;

fn require(condition: bool, reason: Invalid) -> Result<(), Invalid> {
    if condition { Ok(()) } else { Err(reason) }
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

fn size_suffix(insn: &Insn) -> &'static str {
    SIZE_SUFFIXES
        .iter()
        .find(|(_, sz)| *sz == insn.size())
        .map_or("?", |(name, _)| *name)
}

fn decode(
    insns: &[Insn],
    pc: usize,
    insn: &Insn,
    names: &dyn SymbolResolver,
) -> Result<(String, usize), Invalid> {
    require(insn.dst <= 10 && insn.src <= 10, "register field above 10")?;
    let text = match insn.class() {
        class::ALU | class::ALU64 => arithmetic(insn)?,
        class::JMP | class::JMP32 => jump(insn, names)?,
        class::LD => return lddw(insns, pc, insn, names),
        class::LDX => {
            require(insn.imm == 0, "unused imm field is set")?;
            let sign = match insn.mode() {
                mode::MEM => "",
                mode::MEMSX if insn.size() != size::DW => "s",
                _ => return Err("unknown load mode"),
            };
            format!(
                "ldx{sign}{} {}, {}",
                size_suffix(insn),
                reg(insn.dst),
                memory(insn.src, insn.off)
            )
        }
        class::ST => {
            require(insn.mode() == mode::MEM, "unknown store mode")?;
            require(insn.src == 0, "unused src field is set")?;
            format!(
                "st{} {}, {}",
                size_suffix(insn),
                memory(insn.dst, insn.off),
                imm(insn.imm)
            )
        }
        _ => store_register(insn)?,
    };
    Ok((text, 1))
}

fn arithmetic(insn: &Insn) -> Result<String, Invalid> {
    let wide = insn.class() == class::ALU64;
    let suffix = if wide { "" } else { "32" };
    let dst = reg(insn.dst);
    let register_source = insn.source() == source::X;
    match insn.operation() {
        alu::NEG => {
            require(!register_source, "neg has no register form")?;
            require(
                insn.src == 0 && insn.off == 0 && insn.imm == 0,
                "unused field of neg is set",
            )?;
            return Ok(format!("neg{suffix} {dst}"));
        }
        alu::END => {
            let name = match (wide, register_source) {
                (false, false) => "le",
                (false, true) => "be",
                (true, false) => "bswap",
                (true, true) => return Err("byte swap has no register form"),
            };
            require(
                matches!(insn.imm, 16 | 32 | 64),
                "byte-order width is not 16, 32 or 64",
            )?;
            require(
                insn.src == 0 && insn.off == 0,
                "unused field of a byte-order operation is set",
            )?;
            return Ok(format!("{name}{} {dst}", insn.imm));
        }
        alu::MOV if register_source && insn.off != 0 => {
            require(insn.imm == 0, "unused imm field is set")?;
            let (name, _, _) = MOVSX_MNEMONICS
                .iter()
                .find(|(_, cls, off)| *cls == insn.class() && *off == insn.off)
                .ok_or("movsx width is not 8, 16 or (64-bit only) 32")?;
            return Ok(format!("{name} {dst}, {}", reg(insn.src)));
        }
        _ => {}
    }
    let (name, _, _) = ALU_MNEMONICS
        .iter()
        .find(|(_, operation, off)| *operation == insn.operation() && *off == insn.off)
        .ok_or(match insn.operation() {
            alu::DIV | alu::MOD => "division offset is not 0 (unsigned) or 1 (signed)",
            alu::MOV => "unused off field of mov is set",
            operation
                if ALU_MNEMONICS
                    .iter()
                    .any(|(_, known, _)| *known == operation) =>
            {
                "unused off field is set"
            }
            _ => "unknown arithmetic operation",
        })?;
    if register_source {
        require(insn.imm == 0, "unused imm field is set")?;
        Ok(format!("{name}{suffix} {dst}, {}", reg(insn.src)))
    } else {
        require(insn.src == 0, "unused src field is set")?;
        Ok(format!("{name}{suffix} {dst}, {}", imm(insn.imm)))
    }
}

fn jump(insn: &Insn, names: &dyn SymbolResolver) -> Result<String, Invalid> {
    let narrow = insn.class() == class::JMP32;
    let register_source = insn.source() == source::X;
    match insn.operation() {
        jmp::JA => {
            require(!register_source, "ja has no register form")?;
            if narrow {
                require(
                    insn.dst == 0 && insn.src == 0 && insn.off == 0,
                    "unused field of ja32 is set",
                )?;
                return Ok(format!("ja32 {}", target(insn.imm)));
            }
            require(
                insn.dst == 0 && insn.src == 0 && insn.imm == 0,
                "unused field of ja is set",
            )?;
            return Ok(format!("ja {}", target(insn.off)));
        }
        jmp::CALL => {
            require(!narrow, "call is not a 32-bit jump")?;
            require(insn.off == 0, "unused off field of call is set")?;
            if register_source {
                require(
                    insn.src == 0 && insn.imm == 0,
                    "unused field of callx is set",
                )?;
                return Ok(format!("call {}", reg(insn.dst)));
            }
            require(insn.dst == 0, "unused dst field of call is set")?;
            return match insn.src {
                pseudo::CALL_HELPER => Ok(match names.helper_name(insn.imm) {
                    Some(name) => format!("call {} # {name}", imm(insn.imm)),
                    None => format!("call {}", imm(insn.imm)),
                }),
                pseudo::CALL_LOCAL => Ok(format!("call local {}", target(insn.imm))),
                pseudo::CALL_KFUNC => Ok(format!("call runtime {}", imm(insn.imm))),
                _ => Err("unknown call source"),
            };
        }
        jmp::EXIT => {
            require(!narrow && !register_source, "unknown exit form")?;
            require(
                insn.dst == 0 && insn.src == 0 && insn.off == 0 && insn.imm == 0,
                "unused field of exit is set",
            )?;
            return Ok("exit".to_string());
        }
        _ => {}
    }
    let (name, _) = JMP_MNEMONICS
        .iter()
        .find(|(_, operation)| *operation == insn.operation())
        .ok_or("unknown jump operation")?;
    let suffix = if narrow { "32" } else { "" };
    let operand = if register_source {
        require(insn.imm == 0, "unused imm field is set")?;
        reg(insn.src)
    } else {
        require(insn.src == 0, "unused src field is set")?;
        imm(insn.imm)
    };
    Ok(format!(
        "{name}{suffix} {}, {operand}, {}",
        reg(insn.dst),
        target(insn.off)
    ))
}

fn store_register(insn: &Insn) -> Result<String, Invalid> {
    match insn.mode() {
        mode::MEM => {
            require(insn.imm == 0, "unused imm field is set")?;
            Ok(format!(
                "stx{} {}, {}",
                size_suffix(insn),
                memory(insn.dst, insn.off),
                reg(insn.src)
            ))
        }
        mode::ATOMIC => {
            let suffix = match insn.size() {
                size::DW => "",
                size::W => "32",
                _ => return Err("atomic operations are 32 or 64 bits wide"),
            };
            let fetch = insn.imm & atomic::FETCH != 0;
            let (name, _) = ATOMIC_MNEMONICS
                .iter()
                .find(|(_, operation)| {
                    *operation == insn.imm || (fetch && *operation == insn.imm & !atomic::FETCH)
                })
                .ok_or("unknown atomic operation")?;
            let always_fetches = matches!(insn.imm, atomic::XCHG | atomic::CMPXCHG);
            let fetch_word = if fetch && !always_fetches {
                "fetch "
            } else {
                ""
            };
            Ok(format!(
                "lock {fetch_word}{name}{suffix} {}, {}",
                memory(insn.dst, insn.off),
                reg(insn.src)
            ))
        }
        _ => Err("unknown store mode"),
    }
}

fn lddw(
    insns: &[Insn],
    pc: usize,
    insn: &Insn,
    names: &dyn SymbolResolver,
) -> Result<(String, usize), Invalid> {
    require(
        insn.opcode == opcode::LDDW,
        "legacy packet loads and unknown loads are not supported",
    )?;
    require(insn.off == 0, "unused off field of lddw is set")?;
    let next = pc
        .checked_add(1)
        .and_then(|at| insns.get(at))
        .ok_or("lddw without its second slot")?;
    require(
        next.opcode == 0 && next.dst == 0 && next.src == 0 && next.off == 0,
        "the slot after lddw is not its second half",
    )?;
    let dst = reg(insn.dst);
    let value = match insn.src {
        pseudo::IMM64 => {
            let bits = u64::from(i32_to_bits(next.imm)) << 32 | u64::from(i32_to_bits(insn.imm));
            format!("{bits:#x}")
        }
        pseudo::MAP_FD | pseudo::MAP_IDX => {
            require(
                next.imm == 0,
                "a map reference has a non-zero second immediate",
            )?;
            match names.map_name(insn.src, insn.imm) {
                Some(name) => format!("map:{name}"),
                None if insn.src == pseudo::MAP_FD => format!("map_fd:{}", imm(insn.imm)),
                None => format!("map_idx:{}", imm(insn.imm)),
            }
        }
        pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => {
            let offset = target(next.imm);
            match names.map_name(insn.src, insn.imm) {
                Some(name) if next.imm == 0 => name,
                Some(name) => format!("{name}{offset}"),
                None if insn.src == pseudo::MAP_VALUE => {
                    format!("map_value:{}{offset}", imm(insn.imm))
                }
                None => format!("map_idx_value:{}{offset}", imm(insn.imm)),
            }
        }
        _ => return Err("unknown lddw source"),
    };
    Ok((format!("lddw {dst}, {value}"), 2))
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
