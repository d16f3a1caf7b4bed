//! Assembler for the text syntax of the eBPF conformance suite
//! (`bpf_conformance/tests/*.data`, section `-- asm`).
//!
//! # Syntax
//!
//! One instruction per line. `#` starts a comment that runs to the end of
//! the line. A line may start with a label (`name:`), alone or followed by an
//! instruction. Operands are separated by commas. Registers are `%r0` to
//! `%r10`. Numbers are decimal (`42`, `-1`) or hexadecimal (`0x2a`).
//!
//! | form | encoding |
//! |---|---|
//! | `add %r1, 2`, `add %r1, %r2` (also `sub mul div or and lsh rsh mod xor mov arsh`) | ALU64, immediate or register source |
//! | `add32 ...` | the same in class ALU (32-bit); `add64` is an alias of `add` |
//! | `sdiv`, `smod` (and `32`/`64` forms) | DIV/MOD with `off = 1` |
//! | `neg %r1`, `neg32 %r1` | NEG |
//! | `movsx864`, `movsx1664`, `movsx3264`, `movsx832`, `movsx1632 %r1, %r2` | MOV with `off` 8/16/32 (64-bit or 32-bit result) |
//! | `le16 %r1`, `be32 %r1`, `bswap64 %r1` (`swap64` is an alias) | END in class ALU (to-LE, to-BE) or ALU64 (byte swap); width in `imm` |
//! | `lddw %r1, 0x1122334455667788` | two slots, low then high 32 bits |
//! | `lddw %r1, map_fd:3`, `map_idx:3`, `map_value:3+8`, `map_idx_value:3+8` | `lddw` with pseudo source 1, 5, 2, 6 (map, then value offset) |
//! | `ldxb %r0, [%r1+8]` (`ldxh ldxw ldxdw`) | LDX MEM |
//! | `ldxsb %r0, [%r1-2]` (`ldxsh ldxsw`) | LDX MEMSX (sign-extending) |
//! | `stb [%r10-8], 7` (`sth stw stdw`) | ST MEM |
//! | `stxb [%r10-8], %r1` (`stxh stxw stxdw`) | STX MEM |
//! | `lock add [%r10-8], %r1`, `lock fetch add ...` (`and or xor`; `xadd` is an alias of `add`) | STX ATOMIC, DW; `add32` etc. for W |
//! | `lock xchg [%r10-8], %r1`, `lock cmpxchg ...` (and `32` forms) | STX ATOMIC XCHG / CMPXCHG |
//! | `ja +3`, `ja label` | JA, target in `off` |
//! | `ja32 +3`, `ja32 label` | JMP32 JA, target in `imm` |
//! | `jeq %r1, 5, +1`, `jeq %r1, %r2, label` (`jgt jge jset jne jsgt jsge jlt jle jslt jsle`, and `32` forms) | conditional jumps |
//! | `call 5`, `call helper 5` | helper call, `src = 0` |
//! | `call local label`, `call local +3` | program-local call, `src = 1`, target in `imm` |
//! | `call runtime 7` | `src = 2` (kfunc by BTF id) |
//! | `call %r2` | `callx` (opcode 0x8d), the register in `dst` |
//! | `exit` | EXIT |
//! | `.insn 0x07, 0, 1, 0, 1` | one raw slot: opcode, dst, src, off, imm |
//!
//! Jump targets are either a label or a signed number with an explicit sign
//! (`+1`, `-3`), counted in slots from the next instruction. As in the suite,
//! the label `exit` refers to the first `exit` instruction unless a label of
//! that name is defined.
//!
//! # Ranges
//!
//! A 32-bit immediate written in decimal must fit in `i32`; written in
//! hexadecimal it may also be any 32-bit pattern up to `0xffffffff` (so
//! `jeq %r1, 0x80000000, +1` compares with the sign-extended value, as in the
//! suite). This mirrors the suite's own assembler, which rejects
//! `mov32 %r0, 2147483648` and `mov32 %r0, 0x100000000` (its negative tests
//! `invalid_imm32_dec_range` and `invalid_imm32_hex_range`). Memory and jump
//! offsets must fit in `i16`. The `lddw` immediate may be any value from
//! `-2^63` to `2^64 - 1`. Nothing is ever truncated silently.

use std::collections::HashMap;

use crate::isa::insn::{
    Insn, alu, atomic, class, encode_all, jmp, mode, opcode, pseudo, size, source,
};

/// Why a text could not be assembled. Every variant names the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
    /// The mnemonic (or directive) is not part of the syntax.
    #[error("line {line}: unknown mnemonic `{mnemonic}`")]
    UnknownMnemonic {
        /// Line number (1-based).
        line: usize,
        /// The mnemonic as written.
        mnemonic: String,
    },
    /// A mnemonic that needs an operation word (`lock`, `lock fetch`) has none.
    #[error("line {line}: `{mnemonic}` needs an operation (e.g. `lock add [%r10-8], %r1`)")]
    MissingOperation {
        /// Line number (1-based).
        line: usize,
        /// The words written so far.
        mnemonic: String,
    },
    /// The instruction has the wrong number of operands.
    #[error("line {line}: `{mnemonic}` takes {expected} operand(s), found {found}")]
    OperandCount {
        /// Line number (1-based).
        line: usize,
        /// The mnemonic as written.
        mnemonic: String,
        /// How many operands the form takes.
        expected: usize,
        /// How many were written.
        found: usize,
    },
    /// A register operand is not `%r0` to `%r10`.
    #[error("line {line}: bad register `{text}` (expected %r0 to %r10)")]
    BadRegister {
        /// Line number (1-based).
        line: usize,
        /// The operand as written.
        text: String,
    },
    /// An operand has the wrong shape for its position.
    #[error("line {line}: expected {expected}, found `{text}`")]
    BadOperand {
        /// Line number (1-based).
        line: usize,
        /// What the position takes.
        expected: &'static str,
        /// The operand as written.
        text: String,
    },
    /// An immediate does not fit its field.
    #[error("line {line}: immediate `{text}` is out of range ({range})")]
    ImmOutOfRange {
        /// Line number (1-based).
        line: usize,
        /// The number as written.
        text: String,
        /// The accepted range.
        range: &'static str,
    },
    /// A memory or jump offset written as a number does not fit in `i16`.
    #[error("line {line}: offset `{text}` is outside the signed 16-bit range")]
    OffsetOutOfRange {
        /// Line number (1-based).
        line: usize,
        /// The offset as written.
        text: String,
    },
    /// A jump or call names a label that is never defined.
    #[error("line {line}: unknown label `{label}`")]
    UnknownLabel {
        /// Line number (1-based) of the jump.
        line: usize,
        /// The label.
        label: String,
    },
    /// A label is defined twice.
    #[error("line {line}: label `{label}` is already defined on line {previous}")]
    DuplicateLabel {
        /// Line number (1-based) of the second definition.
        line: usize,
        /// The label.
        label: String,
        /// Line of the first definition.
        previous: usize,
    },
    /// A label definition is not a valid name.
    #[error(
        "line {line}: bad label name `{label}` (letters, digits, `_` and `.`, not starting with a digit)"
    )]
    BadLabel {
        /// Line number (1-based).
        line: usize,
        /// The label as written.
        label: String,
    },
    /// The distance to a label does not fit the jump's field.
    #[error(
        "line {line}: label `{label}` is {distance} slots away, too far for a {bits}-bit field"
    )]
    JumpOutOfRange {
        /// Line number (1-based) of the jump.
        line: usize,
        /// The label.
        label: String,
        /// The distance in slots from the next instruction.
        distance: i64,
        /// Width of the field that holds the distance.
        bits: u8,
    },
    /// A combination the syntax does not allow, such as `lock fetch xchg`.
    #[error("line {line}: `{text}`: {reason}")]
    InvalidForm {
        /// Line number (1-based).
        line: usize,
        /// The offending text.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl AsmError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            AsmError::UnknownMnemonic { line, .. }
            | AsmError::MissingOperation { line, .. }
            | AsmError::OperandCount { line, .. }
            | AsmError::BadRegister { line, .. }
            | AsmError::BadOperand { line, .. }
            | AsmError::ImmOutOfRange { line, .. }
            | AsmError::OffsetOutOfRange { line, .. }
            | AsmError::UnknownLabel { line, .. }
            | AsmError::DuplicateLabel { line, .. }
            | AsmError::BadLabel { line, .. }
            | AsmError::JumpOutOfRange { line, .. }
            | AsmError::InvalidForm { line, .. } => *line,
        }
    }
}

/// Assembles a program into instruction slots (`lddw` yields two).
///
/// ```
/// use tinybpf_vm::isa::asm::assemble;
/// use tinybpf_vm::isa::insn::Insn;
///
/// let slots = assemble(
///     "mov %r0, 1          # r0 = 1
///      jeq %r1, 0, done
///      ldxdw %r0, [%r1+8]
///      done:
///      exit",
/// )
/// .unwrap();
/// assert_eq!(slots[0], Insn::new(0xb7, 0, 0, 0, 1));
/// assert_eq!(slots[1], Insn::new(0x15, 1, 0, 1, 0)); // skips the load
/// assert_eq!(slots[2], Insn::new(0x79, 0, 1, 8, 0));
/// assert_eq!(slots[3], Insn::new(0x95, 0, 0, 0, 0));
///
/// let err = assemble("mov %r0, 1\nldxq %r0, [%r1]").unwrap_err();
/// assert_eq!(err.line(), 2);
/// ```
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    let mut assembler = Assembler::default();
    for (index, line) in text.lines().enumerate() {
        assembler.line(index + 1, line)?;
    }
    assembler.finish()
}

/// Assembles a program into its little-endian bytes (8 per slot).
///
/// ```
/// use tinybpf_vm::isa::asm::assemble_bytes;
/// assert_eq!(
///     assemble_bytes("mov32 %r0, 0x2a\nexit").unwrap(),
///     [0xb4, 0, 0, 0, 0x2a, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]
/// );
/// ```
pub fn assemble_bytes(text: &str) -> Result<Vec<u8>, AsmError> {
    assemble(text).map(|slots| encode_all(&slots))
}

// ---------------------------------------------------------------------------
// Mnemonic tables, shared with the disassembler.

/// Arithmetic mnemonics without their width suffix: name, operation, `off`.
pub(crate) const ALU_MNEMONICS: &[(&str, u8, i16)] = &[
    ("add", alu::ADD, 0),
    ("sub", alu::SUB, 0),
    ("mul", alu::MUL, 0),
    ("div", alu::DIV, 0),
    ("sdiv", alu::DIV, 1),
    ("or", alu::OR, 0),
    ("and", alu::AND, 0),
    ("lsh", alu::LSH, 0),
    ("rsh", alu::RSH, 0),
    ("mod", alu::MOD, 0),
    ("smod", alu::MOD, 1),
    ("xor", alu::XOR, 0),
    ("mov", alu::MOV, 0),
    ("arsh", alu::ARSH, 0),
];

/// Conditional jump mnemonics without their width suffix.
pub(crate) const JMP_MNEMONICS: &[(&str, u8)] = &[
    ("jeq", jmp::JEQ),
    ("jgt", jmp::JGT),
    ("jge", jmp::JGE),
    ("jset", jmp::JSET),
    ("jne", jmp::JNE),
    ("jsgt", jmp::JSGT),
    ("jsge", jmp::JSGE),
    ("jlt", jmp::JLT),
    ("jle", jmp::JLE),
    ("jslt", jmp::JSLT),
    ("jsle", jmp::JSLE),
];

/// Access-size suffixes of loads and stores.
pub(crate) const SIZE_SUFFIXES: &[(&str, u8)] = &[
    ("b", size::B),
    ("h", size::H),
    ("w", size::W),
    ("dw", size::DW),
];

/// Atomic operations after `lock` (without `fetch` and width suffix).
pub(crate) const ATOMIC_MNEMONICS: &[(&str, i32)] = &[
    ("add", atomic::ADD),
    ("or", atomic::OR),
    ("and", atomic::AND),
    ("xor", atomic::XOR),
    ("xchg", atomic::XCHG),
    ("cmpxchg", atomic::CMPXCHG),
];

/// `movsx` mnemonics: name, class, source width in `off`.
pub(crate) const MOVSX_MNEMONICS: &[(&str, u8, i16)] = &[
    ("movsx864", class::ALU64, 8),
    ("movsx1664", class::ALU64, 16),
    ("movsx3264", class::ALU64, 32),
    ("movsx832", class::ALU, 8),
    ("movsx1632", class::ALU, 16),
];

/// Reinterprets a 32-bit pattern as the signed `imm` field.
pub(crate) fn bits_to_i32(bits: u32) -> i32 {
    i32::from_ne_bytes(bits.to_ne_bytes())
}

/// Reinterprets the signed `imm` field as its 32-bit pattern.
pub(crate) fn i32_to_bits(imm: i32) -> u32 {
    u32::from_ne_bytes(imm.to_ne_bytes())
}

// ---------------------------------------------------------------------------
// Numbers.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Number {
    value: i128,
    hex: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberError {
    /// Not a number at all.
    Syntax,
    /// A well-formed number too large for any field.
    Overflow,
}

/// Parses `[+-]digits` or `[+-]0xhexdigits`.
fn parse_number(text: &str) -> Result<Number, NumberError> {
    let (negative, body) = if let Some(rest) = text.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix('+') {
        (false, rest)
    } else {
        (false, text)
    };
    let (radix, digits, hex) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(digits) => (16u32, digits, true),
        None => (10u32, body, false),
    };
    if digits.is_empty() {
        return Err(NumberError::Syntax);
    }
    let mut value: Option<i128> = Some(0);
    for c in digits.chars() {
        let digit = c.to_digit(radix).ok_or(NumberError::Syntax)?;
        value = value
            .and_then(|v| v.checked_mul(i128::from(radix)))
            .and_then(|v| v.checked_add(i128::from(digit)));
    }
    let value = value.ok_or(NumberError::Overflow)?;
    Ok(Number {
        value: if negative { -value } else { value },
        hex,
    })
}

const IMM32_RANGE: &str = "decimal -2147483648..=2147483647, or hexadecimal up to 0xffffffff";
const IMM64_RANGE: &str = "-2^63 ..= 2^64-1";

/// The `imm` field for a number, following the suite's rule: decimal must
/// fit `i32`, hexadecimal may also be any 32-bit pattern.
fn imm32_of(number: Number) -> Option<i32> {
    if number.hex && number.value >= 0 {
        u32::try_from(number.value).ok().map(bits_to_i32)
    } else {
        i32::try_from(number.value).ok()
    }
}

/// The 64-bit `lddw` immediate's bit pattern.
fn imm64_of(number: Number) -> Option<u64> {
    if number.value >= 0 {
        u64::try_from(number.value).ok()
    } else {
        i64::try_from(number.value)
            .ok()
            .map(|v| u64::from_ne_bytes(v.to_ne_bytes()))
    }
}

// ---------------------------------------------------------------------------
// Instruction forms of ordinary mnemonics.

#[derive(Debug, Clone, Copy)]
enum Form {
    /// `op dst, src|imm`; `base` is class | operation.
    Alu {
        base: u8,
        off: i16,
    },
    /// `neg dst`.
    Neg {
        opcode: u8,
    },
    /// `movsx dst, src`.
    MovSx {
        opcode: u8,
        off: i16,
    },
    /// `le16 dst` and friends.
    End {
        opcode: u8,
        width: i32,
    },
    Lddw,
    Ldx {
        opcode: u8,
    },
    St {
        opcode: u8,
    },
    Stx {
        opcode: u8,
    },
    Ja,
    Ja32,
    /// `jxx dst, src|imm, target`; `base` is class | operation.
    Jump {
        base: u8,
    },
    Exit,
}

impl Form {
    fn operand_count(self) -> usize {
        match self {
            Form::Neg { .. } | Form::End { .. } | Form::Ja | Form::Ja32 => 1,
            Form::Exit => 0,
            Form::Jump { .. } => 3,
            Form::Alu { .. }
            | Form::MovSx { .. }
            | Form::Lddw
            | Form::Ldx { .. }
            | Form::St { .. }
            | Form::Stx { .. } => 2,
        }
    }
}

fn lookup_form(mnemonic: &str) -> Option<Form> {
    match mnemonic {
        "exit" => return Some(Form::Exit),
        "ja" => return Some(Form::Ja),
        "ja32" => return Some(Form::Ja32),
        "lddw" => return Some(Form::Lddw),
        "neg" | "neg64" => {
            return Some(Form::Neg {
                opcode: class::ALU64 | alu::NEG,
            });
        }
        "neg32" => {
            return Some(Form::Neg {
                opcode: class::ALU | alu::NEG,
            });
        }
        _ => {}
    }
    if let Some(&(_, cls, off)) = MOVSX_MNEMONICS
        .iter()
        .find(|(name, _, _)| *name == mnemonic)
    {
        return Some(Form::MovSx {
            opcode: cls | alu::MOV | source::X,
            off,
        });
    }
    for (prefix, opcode) in [
        ("le", class::ALU | alu::END | source::K),
        ("be", class::ALU | alu::END | source::X),
        ("bswap", class::ALU64 | alu::END | source::K),
        ("swap", class::ALU64 | alu::END | source::K),
    ] {
        if let Some(width) = mnemonic.strip_prefix(prefix) {
            let width = match width {
                "16" => 16,
                "32" => 32,
                "64" => 64,
                _ => continue,
            };
            return Some(Form::End { opcode, width });
        }
    }
    if let Some(suffix) = mnemonic.strip_prefix("ldxs") {
        let (_, sz) = SIZE_SUFFIXES
            .iter()
            .find(|(name, sz)| *name == suffix && *sz != size::DW)?;
        return Some(Form::Ldx {
            opcode: class::LDX | mode::MEMSX | sz,
        });
    }
    for (prefix, cls) in [("ldx", class::LDX), ("stx", class::STX), ("st", class::ST)] {
        let size_field = mnemonic
            .strip_prefix(prefix)
            .and_then(|suffix| SIZE_SUFFIXES.iter().find(|(name, _)| *name == suffix));
        if let Some(&(_, sz)) = size_field {
            let opcode = cls | mode::MEM | sz;
            return Some(match cls {
                class::LDX => Form::Ldx { opcode },
                class::STX => Form::Stx { opcode },
                _ => Form::St { opcode },
            });
        }
    }
    let (stem, is32) = match mnemonic.strip_suffix("32") {
        Some(stem) => (stem, true),
        None => (mnemonic, false),
    };
    if let Some(&(_, operation)) = JMP_MNEMONICS.iter().find(|(name, _)| *name == stem) {
        let cls = if is32 { class::JMP32 } else { class::JMP };
        return Some(Form::Jump {
            base: cls | operation,
        });
    }
    let (stem, cls) = if is32 {
        (stem, class::ALU)
    } else {
        (
            mnemonic.strip_suffix("64").unwrap_or(mnemonic),
            class::ALU64,
        )
    };
    ALU_MNEMONICS
        .iter()
        .find(|(name, _, _)| *name == stem)
        .map(|&(_, operation, off)| Form::Alu {
            base: cls | operation,
            off,
        })
}

// ---------------------------------------------------------------------------
// The assembler proper.

/// A jump target as written.
enum Target {
    Relative(Number, String),
    Label(String),
}

/// Which field of a slot receives a label's distance.
#[derive(Clone, Copy)]
enum Field {
    Off,
    Imm,
}

struct Fixup {
    slot: usize,
    line: usize,
    label: String,
    field: Field,
}

#[derive(Default)]
struct Assembler {
    slots: Vec<Insn>,
    /// Label -> (slot, line of definition).
    labels: HashMap<String, (usize, usize)>,
    fixups: Vec<Fixup>,
    first_exit: Option<usize>,
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '.' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Splits off the first whitespace-delimited word.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], text[end..].trim_start()),
        None => (text, ""),
    }
}

/// Splits a comma-separated operand list. Whitespace inside `[...]` is
/// dropped; elsewhere it may only surround the commas.
fn split_operands(line: usize, text: &str) -> Result<Vec<String>, AsmError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|operand| {
            let operand = operand.trim();
            if operand.is_empty() {
                return Err(AsmError::BadOperand {
                    line,
                    expected: "an operand between commas",
                    text: text.to_string(),
                });
            }
            if operand.starts_with('[') {
                return Ok(operand.chars().filter(|c| !c.is_whitespace()).collect());
            }
            if operand.contains(char::is_whitespace) {
                return Err(AsmError::BadOperand {
                    line,
                    expected: "operands separated by commas",
                    text: operand.to_string(),
                });
            }
            Ok(operand.to_string())
        })
        .collect()
}

fn check_count(
    line: usize,
    mnemonic: &str,
    operands: &[String],
    expected: usize,
) -> Result<(), AsmError> {
    if operands.len() == expected {
        Ok(())
    } else {
        Err(AsmError::OperandCount {
            line,
            mnemonic: mnemonic.to_string(),
            expected,
            found: operands.len(),
        })
    }
}

fn register(line: usize, text: &str) -> Result<u8, AsmError> {
    let bad = || AsmError::BadRegister {
        line,
        text: text.to_string(),
    };
    let digits = text.strip_prefix("%r").ok_or_else(bad)?;
    // Canonical spelling only: no sign, no leading zero.
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(bad());
    }
    match digits.parse::<u8>() {
        Ok(number) if number <= 10 => Ok(number),
        _ => Err(bad()),
    }
}

fn number(line: usize, text: &str, expected: &'static str) -> Result<Number, AsmError> {
    parse_number(text).map_err(|error| match error {
        NumberError::Syntax => AsmError::BadOperand {
            line,
            expected,
            text: text.to_string(),
        },
        NumberError::Overflow => AsmError::ImmOutOfRange {
            line,
            text: text.to_string(),
            range: "the number is far too large",
        },
    })
}

fn imm32(line: usize, text: &str) -> Result<i32, AsmError> {
    let value = number(line, text, "an immediate")?;
    imm32_of(value).ok_or_else(|| AsmError::ImmOutOfRange {
        line,
        text: text.to_string(),
        range: IMM32_RANGE,
    })
}

fn offset16(line: usize, text: &str) -> Result<i16, AsmError> {
    let value = number(line, text, "an offset")?;
    i16::try_from(value.value).map_err(|_| AsmError::OffsetOutOfRange {
        line,
        text: text.to_string(),
    })
}

/// `[%rN]`, `[%rN+off]` or `[%rN-off]` (whitespace already removed).
fn memory(line: usize, text: &str) -> Result<(u8, i16), AsmError> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| AsmError::BadOperand {
            line,
            expected: "a memory operand `[%rN+offset]`",
            text: text.to_string(),
        })?;
    match inner.find(['+', '-']) {
        Some(sign) => Ok((
            register(line, &inner[..sign])?,
            offset16(line, &inner[sign..])?,
        )),
        None => Ok((register(line, inner)?, 0)),
    }
}

fn jump_target(line: usize, text: &str) -> Result<Target, AsmError> {
    if text.starts_with(['+', '-']) {
        Ok(Target::Relative(
            number(line, text, "a jump offset")?,
            text.to_string(),
        ))
    } else if is_label_name(text) {
        Ok(Target::Label(text.to_string()))
    } else {
        Err(AsmError::BadOperand {
            line,
            expected: "a label or a signed offset like `+1`",
            text: text.to_string(),
        })
    }
}

impl Assembler {
    fn line(&mut self, line: usize, raw: &str) -> Result<(), AsmError> {
        let text = match raw.find('#') {
            Some(start) => &raw[..start],
            None => raw,
        }
        .trim();
        if text.is_empty() {
            return Ok(());
        }
        let (word, rest) = first_word(text);
        let statement = match word.strip_suffix(':') {
            Some(label) => {
                self.define_label(line, label)?;
                rest
            }
            None => text,
        };
        if statement.is_empty() {
            return Ok(());
        }
        let (mnemonic, rest) = first_word(statement);
        match mnemonic {
            "lock" => self.lock(line, rest),
            "call" => self.call(line, rest),
            ".insn" => self.raw_slot(line, rest),
            _ => self.ordinary(line, mnemonic, rest),
        }
    }

    fn define_label(&mut self, line: usize, label: &str) -> Result<(), AsmError> {
        if !is_label_name(label) {
            return Err(AsmError::BadLabel {
                line,
                label: label.to_string(),
            });
        }
        if let Some(&(_, previous)) = self.labels.get(label) {
            return Err(AsmError::DuplicateLabel {
                line,
                label: label.to_string(),
                previous,
            });
        }
        self.labels
            .insert(label.to_string(), (self.slots.len(), line));
        Ok(())
    }

    /// Emits a slot whose `field` is a jump distance.
    fn emit_jump(
        &mut self,
        line: usize,
        mut insn: Insn,
        target: Target,
        field: Field,
    ) -> Result<(), AsmError> {
        match target {
            Target::Relative(value, text) => match field {
                Field::Off => {
                    insn.off = i16::try_from(value.value)
                        .map_err(|_| AsmError::OffsetOutOfRange { line, text })?;
                }
                Field::Imm => {
                    insn.imm = i32::try_from(value.value).map_err(|_| AsmError::ImmOutOfRange {
                        line,
                        text,
                        range: "a signed 32-bit jump distance",
                    })?;
                }
            },
            Target::Label(label) => self.fixups.push(Fixup {
                slot: self.slots.len(),
                line,
                label,
                field,
            }),
        }
        self.slots.push(insn);
        Ok(())
    }

    fn ordinary(&mut self, line: usize, mnemonic: &str, rest: &str) -> Result<(), AsmError> {
        let form = lookup_form(mnemonic).ok_or_else(|| AsmError::UnknownMnemonic {
            line,
            mnemonic: mnemonic.to_string(),
        })?;
        let operands = split_operands(line, rest)?;
        check_count(line, mnemonic, &operands, form.operand_count())?;
        let insn = match form {
            Form::Alu { base, off } => {
                let dst = register(line, &operands[0])?;
                if operands[1].starts_with('%') {
                    Insn::new(base | source::X, dst, register(line, &operands[1])?, off, 0)
                } else {
                    Insn::new(base | source::K, dst, 0, off, imm32(line, &operands[1])?)
                }
            }
            Form::Neg { opcode } => Insn::new(opcode, register(line, &operands[0])?, 0, 0, 0),
            Form::MovSx { opcode, off } => Insn::new(
                opcode,
                register(line, &operands[0])?,
                register(line, &operands[1])?,
                off,
                0,
            ),
            Form::End { opcode, width } => {
                Insn::new(opcode, register(line, &operands[0])?, 0, 0, width)
            }
            Form::Lddw => return self.lddw(line, &operands),
            Form::Ldx { opcode } => {
                let dst = register(line, &operands[0])?;
                let (src, off) = memory(line, &operands[1])?;
                Insn::new(opcode, dst, src, off, 0)
            }
            Form::St { opcode } => {
                let (dst, off) = memory(line, &operands[0])?;
                Insn::new(opcode, dst, 0, off, imm32(line, &operands[1])?)
            }
            Form::Stx { opcode } => {
                let (dst, off) = memory(line, &operands[0])?;
                Insn::new(opcode, dst, register(line, &operands[1])?, off, 0)
            }
            Form::Exit => {
                if self.first_exit.is_none() {
                    self.first_exit = Some(self.slots.len());
                }
                Insn::new(opcode::EXIT, 0, 0, 0, 0)
            }
            Form::Ja => {
                let target = jump_target(line, &operands[0])?;
                return self.emit_jump(line, Insn::new(opcode::JA, 0, 0, 0, 0), target, Field::Off);
            }
            Form::Ja32 => {
                let target = jump_target(line, &operands[0])?;
                return self.emit_jump(
                    line,
                    Insn::new(opcode::JA32, 0, 0, 0, 0),
                    target,
                    Field::Imm,
                );
            }
            Form::Jump { base } => {
                let dst = register(line, &operands[0])?;
                let insn = if operands[1].starts_with('%') {
                    Insn::new(base | source::X, dst, register(line, &operands[1])?, 0, 0)
                } else {
                    Insn::new(base | source::K, dst, 0, 0, imm32(line, &operands[1])?)
                };
                let target = jump_target(line, &operands[2])?;
                return self.emit_jump(line, insn, target, Field::Off);
            }
        };
        self.slots.push(insn);
        Ok(())
    }

    fn lddw(&mut self, line: usize, operands: &[String]) -> Result<(), AsmError> {
        let dst = register(line, &operands[0])?;
        let value = &operands[1];
        let (src, low, high) = if let Some((kind, reference)) = value.split_once(':') {
            let (src, with_offset) = match kind {
                "map_fd" => (pseudo::MAP_FD, false),
                "map_idx" => (pseudo::MAP_IDX, false),
                "map_value" => (pseudo::MAP_VALUE, true),
                "map_idx_value" => (pseudo::MAP_IDX_VALUE, true),
                _ => {
                    return Err(AsmError::BadOperand {
                        line,
                        expected: "a 64-bit immediate or map_fd:N, map_idx:N, map_value:N+OFF, map_idx_value:N+OFF",
                        text: value.clone(),
                    });
                }
            };
            if with_offset {
                // The map number may carry its own sign; the offset's sign is mandatory.
                let split = reference
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| c == '+' || c == '-')
                    .map(|(at, _)| at)
                    .ok_or_else(|| AsmError::BadOperand {
                        line,
                        expected: "a map value reference like map_value:3+8",
                        text: value.clone(),
                    })?;
                (
                    src,
                    imm32(line, &reference[..split])?,
                    imm32(line, &reference[split..])?,
                )
            } else {
                (src, imm32(line, reference)?, 0)
            }
        } else {
            let number = number(line, value, "a 64-bit immediate")?;
            let bits = imm64_of(number).ok_or_else(|| AsmError::ImmOutOfRange {
                line,
                text: value.clone(),
                range: IMM64_RANGE,
            })?;
            let low = u32::try_from(bits & 0xffff_ffff).unwrap_or_default();
            let high = u32::try_from(bits >> 32).unwrap_or_default();
            (pseudo::IMM64, bits_to_i32(low), bits_to_i32(high))
        };
        self.slots.push(Insn::new(opcode::LDDW, dst, src, 0, low));
        self.slots.push(Insn::new(0, 0, 0, 0, high));
        Ok(())
    }

    fn lock(&mut self, line: usize, rest: &str) -> Result<(), AsmError> {
        let (word, rest) = first_word(rest);
        let (fetch, word, rest, written) = if word == "fetch" {
            let (operation, rest) = first_word(rest);
            (true, operation, rest, "lock fetch")
        } else {
            (false, word, rest, "lock")
        };
        if word.is_empty() {
            return Err(AsmError::MissingOperation {
                line,
                mnemonic: written.to_string(),
            });
        }
        let (stem, width) = match word.strip_suffix("32") {
            Some(stem) => (stem, size::W),
            None => (word, size::DW),
        };
        let stem = if stem == "xadd" { "add" } else { stem };
        let &(_, operation) = ATOMIC_MNEMONICS
            .iter()
            .find(|(name, _)| *name == stem)
            .ok_or_else(|| AsmError::UnknownMnemonic {
                line,
                mnemonic: format!("{written} {word}"),
            })?;
        let always_fetches = operation & atomic::FETCH != 0;
        if fetch && always_fetches {
            return Err(AsmError::InvalidForm {
                line,
                text: format!("lock fetch {word}"),
                reason: "xchg and cmpxchg always fetch: drop `fetch`",
            });
        }
        let imm = if fetch {
            operation | atomic::FETCH
        } else {
            operation
        };
        let mnemonic = format!("{written} {word}");
        let operands = split_operands(line, rest)?;
        check_count(line, &mnemonic, &operands, 2)?;
        let (dst, off) = memory(line, &operands[0])?;
        let src = register(line, &operands[1])?;
        self.slots.push(Insn::new(
            class::STX | mode::ATOMIC | width,
            dst,
            src,
            off,
            imm,
        ));
        Ok(())
    }

    fn call(&mut self, line: usize, rest: &str) -> Result<(), AsmError> {
        let (word, after) = first_word(rest);
        let (call_mode, rest) = match word {
            "local" | "helper" | "runtime" => (word, after),
            _ => ("", rest),
        };
        let mnemonic = if call_mode.is_empty() {
            "call".to_string()
        } else {
            format!("call {call_mode}")
        };
        let operands = split_operands(line, rest)?;
        check_count(line, &mnemonic, &operands, 1)?;
        let target = &operands[0];
        match call_mode {
            "local" => {
                let target = jump_target(line, target)?;
                self.emit_jump(
                    line,
                    Insn::new(opcode::CALL, 0, pseudo::CALL_LOCAL, 0, 0),
                    target,
                    Field::Imm,
                )
            }
            "runtime" => {
                let imm = imm32(line, target)?;
                self.slots
                    .push(Insn::new(opcode::CALL, 0, pseudo::CALL_KFUNC, 0, imm));
                Ok(())
            }
            _ => {
                let insn = if target.starts_with('%') {
                    Insn::new(opcode::CALLX, register(line, target)?, 0, 0, 0)
                } else if matches!(parse_number(target), Err(NumberError::Syntax)) {
                    return Err(AsmError::BadOperand {
                        line,
                        expected: "a helper number, a register, or `local` and a label",
                        text: target.clone(),
                    });
                } else {
                    Insn::new(
                        opcode::CALL,
                        0,
                        pseudo::CALL_HELPER,
                        0,
                        imm32(line, target)?,
                    )
                };
                self.slots.push(insn);
                Ok(())
            }
        }
    }

    /// `.insn opcode, dst, src, off, imm`: one slot, fields as given.
    fn raw_slot(&mut self, line: usize, rest: &str) -> Result<(), AsmError> {
        let operands = split_operands(line, rest)?;
        check_count(line, ".insn", &operands, 5)?;
        let field = |text: &str, max: u8| -> Result<u8, AsmError> {
            let value = number(line, text, "a number")?;
            u8::try_from(value.value)
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| AsmError::ImmOutOfRange {
                    line,
                    text: text.to_string(),
                    range: if max == u8::MAX {
                        "an opcode is 0..=255"
                    } else {
                        "a register field is 0..=15"
                    },
                })
        };
        let opcode = field(&operands[0], u8::MAX)?;
        let dst = field(&operands[1], 15)?;
        let src = field(&operands[2], 15)?;
        let off = offset16(line, &operands[3])?;
        let imm = imm32(line, &operands[4])?;
        self.slots.push(Insn::new(opcode, dst, src, off, imm));
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        for fixup in std::mem::take(&mut self.fixups) {
            let target = match self.labels.get(&fixup.label) {
                Some(&(slot, _)) => Some(slot),
                None if fixup.label == "exit" => self.first_exit,
                None => None,
            }
            .ok_or_else(|| AsmError::UnknownLabel {
                line: fixup.line,
                label: fixup.label.clone(),
            })?;
            let bits = match fixup.field {
                Field::Off => 16,
                Field::Imm => 32,
            };
            let too_far = |distance: i64| AsmError::JumpOutOfRange {
                line: fixup.line,
                label: fixup.label.clone(),
                distance,
                bits,
            };
            let distance = i64::try_from(target)
                .ok()
                .zip(i64::try_from(fixup.slot).ok())
                .and_then(|(to, from)| to.checked_sub(from)?.checked_sub(1))
                .ok_or_else(|| too_far(i64::MAX))?;
            let insn = &mut self.slots[fixup.slot];
            match fixup.field {
                Field::Off => insn.off = i16::try_from(distance).map_err(|_| too_far(distance))?,
                Field::Imm => insn.imm = i32::try_from(distance).map_err(|_| too_far(distance))?,
            }
        }
        Ok(self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_suite_rules() {
        let n = |t| parse_number(t).unwrap();
        assert_eq!(imm32_of(n("0xffffffff")), Some(-1));
        assert_eq!(imm32_of(n("0x80000000")), Some(i32::MIN));
        assert_eq!(imm32_of(n("-0x80000000")), Some(i32::MIN));
        assert_eq!(imm32_of(n("-2147483648")), Some(i32::MIN));
        assert_eq!(imm32_of(n("2147483648")), None);
        assert_eq!(imm32_of(n("0x100000000")), None);
        assert_eq!(imm32_of(n("-0x80000001")), None);
        assert_eq!(imm64_of(n("0xffffffffffffffff")), Some(u64::MAX));
        assert_eq!(imm64_of(n("-1")), Some(u64::MAX));
        assert_eq!(imm64_of(n("0x10000000000000000")), None);
        assert_eq!(parse_number("0x"), Err(NumberError::Syntax));
        assert_eq!(parse_number("12a"), Err(NumberError::Syntax));
        assert_eq!(parse_number("--1"), Err(NumberError::Syntax));
        assert_eq!(parse_number("0x+1"), Err(NumberError::Syntax));
        assert_eq!(parse_number(&"9".repeat(60)), Err(NumberError::Overflow));
    }

    #[test]
    fn labels_are_identifiers() {
        assert!(is_label_name("L1"));
        assert!(is_label_name("_x.y"));
        assert!(!is_label_name("1L"));
        assert!(!is_label_name(""));
        assert!(!is_label_name("a-b"));
    }
}
