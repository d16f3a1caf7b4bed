//! Reader for the test files of the eBPF conformance suite
//! (`bpf_conformance/tests/*.data`).
//!
//! A file is a sequence of sections, each opened by a line `-- name`:
//!
//! - `-- asm`: the program in the syntax of [`crate::isa::asm`];
//! - `-- raw`: the expected encoding, one slot per line, either as one
//!   64-bit number (`0x5566778800000018`, the slot's 8 bytes read as a
//!   little-endian integer) or as 8 hexadecimal bytes (`07 00 01 00 01 00 00 00`);
//! - `-- mem`: the input memory as hexadecimal bytes;
//! - `-- result`: the expected `r0`;
//! - `-- error`: the program is expected to fail (the text, possibly empty,
//!   is the suite's expected message);
//! - `-- c` and `-- no register offset`: notes, ignored.
//!
//! Lines starting with `#` before the first section, and everywhere outside
//! `-- asm` and `-- error`, are comments. Any other section name is an error,
//! as is text before the first section.

use std::path::{Path, PathBuf};

use crate::isa::asm::{AsmError, assemble};
use crate::isa::insn::Insn;

/// One parsed test file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConformanceCase {
    /// The file name without `.data`.
    pub name: String,
    /// The `-- asm` section's text, verbatim (comments included).
    pub asm: Option<String>,
    /// The line of the file where the `-- asm` text starts (1-based; 0 when
    /// there is no asm section), to map assembler errors back to the file.
    pub asm_line: usize,
    /// The `-- raw` section: one little-endian 64-bit value per slot.
    pub raw: Option<Vec<u64>>,
    /// The `-- mem` bytes (empty when there is no such section).
    pub mem: Vec<u8>,
    /// The expected `r0`.
    pub result: Option<u64>,
    /// The expected error message, when the program is expected to fail.
    pub error: Option<String>,
}

/// Why a test file could not be parsed. Names the file and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// A `-- name` line with an unknown name.
    #[error("{name}:{line}: unknown section `-- {section}`")]
    UnknownSection {
        /// The case name.
        name: String,
        /// Line number.
        line: usize,
        /// The section name as written.
        section: String,
    },
    /// A section appears twice.
    #[error("{name}:{line}: section `-- {section}` appears a second time")]
    DuplicateSection {
        /// The case name.
        name: String,
        /// Line number.
        line: usize,
        /// The section name.
        section: String,
    },
    /// Text that is not a comment before the first section.
    #[error("{name}:{line}: text outside any section: `{text}`")]
    OutsideSection {
        /// The case name.
        name: String,
        /// Line number.
        line: usize,
        /// The text.
        text: String,
    },
    /// A `-- raw` line is neither one 64-bit number nor 8 hexadecimal bytes.
    #[error("{name}:{line}: bad raw slot `{text}` (one 64-bit number or 8 hex bytes per line)")]
    BadRaw {
        /// The case name.
        name: String,
        /// Line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// A `-- mem` token is not a hexadecimal byte.
    #[error("{name}:{line}: bad memory byte `{text}`")]
    BadMem {
        /// The case name.
        name: String,
        /// Line number.
        line: usize,
        /// The token.
        text: String,
    },
    /// The `-- result` value is not a 64-bit number, or there are several.
    #[error("{name}:{line}: bad result `{text}` (one 64-bit number expected)")]
    BadResult {
        /// The case name.
        name: String,
        /// Line number.
        line: usize,
        /// The text.
        text: String,
    },
}

/// Why a case has no runnable program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// Neither `-- asm` nor `-- raw`, or they hold no instruction.
    #[error("{name}: the file holds no instructions")]
    NoProgram {
        /// The case name.
        name: String,
    },
    /// The `-- asm` text does not assemble.
    #[error("{name}:{file_line}: {source}")]
    Asm {
        /// The case name.
        name: String,
        /// The line of the file the error is about.
        file_line: usize,
        /// The assembler's error (its line counts from the asm section).
        source: AsmError,
    },
}

/// Why a directory or file of cases could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    /// Reading failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not UTF-8.
    #[error("{}: not UTF-8 text", path.display())]
    NotText {
        /// The path.
        path: PathBuf,
    },
    /// A file does not parse.
    #[error(transparent)]
    Case(#[from] CaseError),
    /// The directory holds no `.data` file.
    #[error("{}: no .data files", path.display())]
    Empty {
        /// The directory.
        path: PathBuf,
    },
}

impl ConformanceCase {
    /// The program's slots: the `-- raw` section when there is one (as the
    /// suite does), else the assembled `-- asm` text.
    ///
    /// ```
    /// use tinybpf_vm::isa::conformance::parse_case;
    /// let case = parse_case("t", "-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n").unwrap();
    /// assert_eq!(case.program().unwrap().len(), 2);
    /// assert!(parse_case("e", "-- result\n0\n").unwrap().program().is_err());
    /// ```
    pub fn program(&self) -> Result<Vec<Insn>, ProgramError> {
        let slots = match (&self.raw, &self.asm) {
            (Some(raw), _) => raw
                .iter()
                .map(|slot| Insn::from_bytes(&slot.to_le_bytes()))
                .collect(),
            (None, Some(asm)) => assemble(asm).map_err(|source| ProgramError::Asm {
                name: self.name.clone(),
                file_line: self
                    .asm_line
                    .saturating_add(source.line())
                    .saturating_sub(1),
                source,
            })?,
            (None, None) => Vec::new(),
        };
        if slots.is_empty() {
            return Err(ProgramError::NoProgram {
                name: self.name.clone(),
            });
        }
        Ok(slots)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Preamble,
    Asm,
    Raw,
    Mem,
    Result,
    Error,
    Ignored,
}

fn section_named(name: &str) -> Option<Section> {
    match name {
        "asm" => Some(Section::Asm),
        "raw" => Some(Section::Raw),
        "mem" => Some(Section::Mem),
        "result" => Some(Section::Result),
        "error" => Some(Section::Error),
        "c" | "no register offset" => Some(Section::Ignored),
        _ => None,
    }
}

fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        None => None,
    }
}

fn parse_byte(text: &str) -> Option<u8> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if hex.is_empty() || hex.len() > 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(at) => &line[..at],
        None => line,
    }
    .trim()
}

/// Parses one test file. `name` names the case in errors and in the result.
///
/// ```
/// use tinybpf_vm::isa::conformance::parse_case;
///
/// let case = parse_case(
///     "lddw",
///     "# comment\n-- asm\nlddw %r0, 0x1122334455667788\nexit\n\
///      -- raw\n0x5566778800000018\n0x1122334400000000\n0x0000000000000095\n\
///      -- mem\naa bb\n-- result\n0x1122334455667788\n",
/// )
/// .unwrap();
/// assert_eq!(case.asm_line, 3);
/// assert_eq!(case.raw.as_ref().unwrap().len(), 3);
/// assert_eq!(case.mem, [0xaa, 0xbb]);
/// assert_eq!(case.result, Some(0x1122334455667788));
/// assert!(parse_case("x", "-- asm\n-- bogus\n").is_err());
/// ```
pub fn parse_case(name: &str, text: &str) -> Result<ConformanceCase, CaseError> {
    let mut case = ConformanceCase {
        name: name.to_string(),
        ..ConformanceCase::default()
    };
    let mut section = Section::Preamble;
    let mut seen: Vec<Section> = Vec::new();
    let mut asm = String::new();
    let mut error = String::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let raw_line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if let Some(header) = raw_line.strip_prefix("--") {
            let header = header.trim();
            match section_named(header) {
                Some(next) => {
                    if next != Section::Ignored && seen.contains(&next) {
                        return Err(CaseError::DuplicateSection {
                            name: name.to_string(),
                            line,
                            section: header.to_string(),
                        });
                    }
                    seen.push(next);
                    section = next;
                    match next {
                        Section::Asm => case.asm_line = line + 1,
                        Section::Raw => case.raw = Some(Vec::new()),
                        Section::Error => case.error = Some(String::new()),
                        Section::Preamble | Section::Mem | Section::Result | Section::Ignored => {}
                    }
                    continue;
                }
                // Free text in an ignored section (C code) may start with `--`.
                None if section == Section::Ignored => continue,
                None => {
                    return Err(CaseError::UnknownSection {
                        name: name.to_string(),
                        line,
                        section: header.to_string(),
                    });
                }
            }
        }
        match section {
            Section::Asm => {
                asm.push_str(raw_line);
                asm.push('\n');
            }
            Section::Error => {
                let message = raw_line.trim();
                if !message.is_empty() {
                    if !error.is_empty() {
                        error.push('\n');
                    }
                    error.push_str(message);
                }
            }
            Section::Ignored => {}
            Section::Preamble => {
                let content = strip_comment(raw_line);
                if !content.is_empty() {
                    return Err(CaseError::OutsideSection {
                        name: name.to_string(),
                        line,
                        text: raw_line.to_string(),
                    });
                }
            }
            Section::Raw => {
                let content = strip_comment(raw_line);
                if content.is_empty() {
                    continue;
                }
                let bad = || CaseError::BadRaw {
                    name: name.to_string(),
                    line,
                    text: raw_line.to_string(),
                };
                let tokens: Vec<&str> = content.split_whitespace().collect();
                let slot = match tokens.as_slice() {
                    [value] => parse_u64(value).ok_or_else(bad)?,
                    bytes if bytes.len() == 8 => {
                        let mut slot = [0u8; 8];
                        for (out, token) in slot.iter_mut().zip(bytes) {
                            let digits_ok = token.len() <= 2;
                            *out = parse_byte(token).filter(|_| digits_ok).ok_or_else(bad)?;
                        }
                        u64::from_le_bytes(slot)
                    }
                    _ => return Err(bad()),
                };
                case.raw.get_or_insert_with(Vec::new).push(slot);
            }
            Section::Mem => {
                for token in strip_comment(raw_line).split_whitespace() {
                    let byte = parse_byte(token).ok_or_else(|| CaseError::BadMem {
                        name: name.to_string(),
                        line,
                        text: token.to_string(),
                    })?;
                    case.mem.push(byte);
                }
            }
            Section::Result => {
                let content = strip_comment(raw_line);
                if content.is_empty() {
                    continue;
                }
                let bad = || CaseError::BadResult {
                    name: name.to_string(),
                    line,
                    text: raw_line.to_string(),
                };
                if case.result.is_some() {
                    return Err(bad());
                }
                case.result = Some(parse_u64(content).ok_or_else(bad)?);
            }
        }
    }
    if seen.contains(&Section::Asm) {
        case.asm = Some(asm);
    }
    if case.error.is_some() {
        case.error = Some(error);
    }
    Ok(case)
}

/// Reads and parses one `.data` file; the case is named after the file stem.
pub fn load_file(path: &Path) -> Result<ConformanceCase, CaseFileError> {
    let bytes = std::fs::read(path).map_err(|source| CaseFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| CaseFileError::NotText {
        path: path.to_path_buf(),
    })?;
    let name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(parse_case(&name, &text)?)
}

/// Reads every `*.data` file of a directory, sorted by name. Fails on the
/// first file that cannot be read or parsed, and when there is none.
pub fn load_dir(dir: &Path) -> Result<Vec<ConformanceCase>, CaseFileError> {
    let io_error = |source| CaseFileError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if path.extension().is_some_and(|ext| ext == "data") {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(CaseFileError::Empty {
            path: dir.to_path_buf(),
        });
    }
    paths.sort();
    paths.iter().map(|path| load_file(path)).collect()
}
