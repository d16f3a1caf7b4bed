//! The assembler proper: operands, labels and the encoding of each form.

use std::collections::HashMap;

use super::{
    ATOMIC_MNEMONICS, AsmError, Form, IMM32_RANGE, IMM64_RANGE, Number, NumberError, bits_to_i32,
    imm32_of, imm64_of, lookup_form, parse_number,
};
use crate::isa::insn::{Insn, atomic, class, mode, opcode, pseudo, size, source};

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
pub(super) struct Assembler {
    slots: Vec<Insn>,
    /// Label -> (slot, line of definition).
    labels: HashMap<String, (usize, usize)>,
    fixups: Vec<Fixup>,
    first_exit: Option<usize>,
}

pub(super) fn is_label_name(name: &str) -> bool {
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
    pub(super) fn line(&mut self, line: usize, raw: &str) -> Result<(), AsmError> {
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
                "func" => (pseudo::FUNC, false),
                "map_value" => (pseudo::MAP_VALUE, true),
                "map_idx_value" => (pseudo::MAP_IDX_VALUE, true),
                _ => {
                    return Err(AsmError::BadOperand {
                        line,
                        expected: "a 64-bit immediate or map_fd:N, map_idx:N, func:OFF, map_value:N+OFF, map_idx_value:N+OFF",
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

    pub(super) fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
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
