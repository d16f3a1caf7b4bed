//! The assembler and disassembler against the conformance suite's files.
//!
//! The suite lives in `$TINYBPF_SHARED/bpf_conformance`. When the variable is
//! unset these tests print why and pass; when it is set, missing files fail.

use std::path::PathBuf;

use tinybpf_vm::isa::asm::{AsmError, assemble};
use tinybpf_vm::isa::conformance::{
    CaseError, ConformanceCase, ProgramError, load_dir, parse_case,
};
use tinybpf_vm::isa::disasm::{disassemble, disassemble_one};
use tinybpf_vm::isa::insn::Insn;

fn suite_dir(sub: &str) -> Option<PathBuf> {
    match std::env::var_os("TINYBPF_SHARED") {
        Some(shared) => Some(PathBuf::from(shared).join("bpf_conformance").join(sub)),
        None => {
            eprintln!("skipped: TINYBPF_SHARED is not set (the path of the shared/ folder)");
            None
        }
    }
}

fn positive_cases() -> Option<Vec<ConformanceCase>> {
    let dir = suite_dir("tests")?;
    let cases = load_dir(&dir).unwrap_or_else(|e| panic!("TINYBPF_SHARED is set but: {e}"));
    eprintln!("{} suite files", cases.len());
    Some(cases)
}

fn slot_value(insn: &Insn) -> u64 {
    u64::from_le_bytes(insn.to_bytes())
}

#[test]
fn every_suite_program_assembles() {
    let Some(cases) = positive_cases() else {
        return;
    };
    for case in &cases {
        let asm = case
            .asm
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no asm", case.name));
        let slots = assemble(asm).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(!slots.is_empty(), "{}: no instructions", case.name);
        assert!(case.result.is_some(), "{}: no result", case.name);
    }
}

#[test]
fn raw_sections_equal_the_assembled_bytes() {
    let Some(cases) = positive_cases() else {
        return;
    };
    let mut checked = 0;
    for case in cases.iter().filter(|case| case.raw.is_some()) {
        let slots = assemble(case.asm.as_deref().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let values: Vec<u64> = slots.iter().map(slot_value).collect();
        assert_eq!(
            Some(&values),
            case.raw.as_ref(),
            "{}: assembled slots differ from -- raw",
            case.name
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no suite file has a -- raw section to check against"
    );
}

#[test]
fn suite_programs_round_trip_through_the_disassembler() {
    let Some(cases) = positive_cases() else {
        return;
    };
    for case in &cases {
        let slots = case
            .program()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let text = disassemble(&slots);
        assert!(
            !text.contains(".insn"),
            "{}: a suite instruction disassembled as raw:\n{text}",
            case.name
        );
        let again = assemble(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", case.name));
        assert_eq!(
            again, slots,
            "{}: round trip changed the program:\n{text}",
            case.name
        );
    }
}

/// At which stage a negative file must be stopped.
#[derive(Debug)]
enum Stage {
    /// The assembler rejects the `-- asm` text with this kind of error.
    Assembler(fn(&AsmError) -> bool),
    /// The `.data` reader rejects the file.
    DataFile(fn(&CaseError) -> bool),
    /// The file parses but holds no program.
    NoProgram,
    /// Raw slots with a non-zero unused field: only the VM's load-time check
    /// can reject them. The disassembler must not show them as valid.
    VmFieldCheck,
    /// Valid code whose failure is about running it (wrong expected result,
    /// an uninitialised register read): the VM and the harness decide.
    Run,
}

fn negative_stage(name: &str) -> Option<Stage> {
    if name.starts_with("unused-") {
        return Some(Stage::VmFieldCheck);
    }
    Some(match name {
        "invalid_imm32_dec_range" | "invalid_imm32_hex_range" => {
            Stage::Assembler(|e| matches!(e, AsmError::ImmOutOfRange { line: 2, .. }))
        }
        "invalid_label" => Stage::Assembler(
            |e| matches!(e, AsmError::UnknownLabel { label, line: 1 } if label == "NOT_A_LABEL"),
        ),
        "invalid_lock" => Stage::Assembler(|e| {
            matches!(
                e,
                AsmError::OperandCount {
                    expected: 2,
                    found: 1,
                    line: 1,
                    ..
                }
            )
        }),
        "invalid_lock2" => {
            Stage::Assembler(|e| matches!(e, AsmError::MissingOperation { line: 1, .. }))
        }
        "invalid_mnemonic" => Stage::Assembler(
            |e| matches!(e, AsmError::UnknownMnemonic { mnemonic, line: 2 } if mnemonic == "ldxq"),
        ),
        "invalid_offset" => Stage::Assembler(|e| matches!(e, AsmError::BadOperand { line: 1, .. })),
        "invalid_offset_range" => {
            Stage::Assembler(|e| matches!(e, AsmError::OffsetOutOfRange { line: 2, .. }))
        }
        "invalid_operand_count" => Stage::Assembler(|e| {
            matches!(
                e,
                AsmError::OperandCount {
                    expected: 2,
                    found: 1,
                    line: 1,
                    ..
                }
            )
        }),
        "invalid_register" => Stage::Assembler(
            |e| matches!(e, AsmError::BadRegister { text, line: 1 } if text == "%r50"),
        ),
        "invalid_unknown_directive" => {
            Stage::DataFile(|e| matches!(e, CaseError::UnknownSection { line: 4, .. }))
        }
        "empty" | "empty_instructions" => Stage::NoProgram,
        "error" | "incorrect_return_value_high_bits" => Stage::Run,
        _ => return None,
    })
}

#[test]
fn negative_cases_are_rejected_at_the_right_stage() {
    let Some(dir) = suite_dir("negative") else {
        return;
    };
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("TINYBPF_SHARED is set but {}: {e}", dir.display()));
    let mut seen = 0;
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().is_none_or(|ext| ext != "data") {
            continue;
        }
        seen += 1;
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("readable negative file");
        let stage = negative_stage(&name)
            .unwrap_or_else(|| panic!("negative case {name} is not classified: decide its stage"));
        let parsed = parse_case(&name, &text);
        match stage {
            Stage::DataFile(expected) => {
                let error = parsed.expect_err(&name);
                assert!(expected(&error), "{name}: unexpected error {error:?}");
            }
            Stage::Assembler(expected) => {
                let case = parsed.unwrap_or_else(|e| panic!("{e}"));
                match case.program() {
                    Err(ProgramError::Asm { source, .. }) => {
                        assert!(expected(&source), "{name}: unexpected error {source:?}")
                    }
                    other => panic!("{name}: the assembler accepted it: {other:?}"),
                }
            }
            Stage::NoProgram => {
                let case = parsed.unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    matches!(case.program(), Err(ProgramError::NoProgram { .. })),
                    "{name}"
                );
            }
            Stage::VmFieldCheck => {
                let case = parsed.unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    case.raw.is_some() && case.error.is_some(),
                    "{name}: raw + error expected"
                );
                let slots = case.program().unwrap_or_else(|e| panic!("{e}"));
                let (first, used) = disassemble_one(&slots, 0);
                assert_eq!(used, 1, "{name}");
                assert!(
                    first.starts_with(".insn "),
                    "{name}: shown as valid: {first}"
                );
                // Even so the text re-assembles to the same bytes.
                assert_eq!(assemble(&disassemble(&slots)).unwrap(), slots, "{name}");
            }
            Stage::Run => {
                let case = parsed.unwrap_or_else(|e| panic!("{e}"));
                let slots = case.program().unwrap_or_else(|e| panic!("{e}"));
                assert!(!disassemble(&slots).contains(".insn"), "{name}");
            }
        }
    }
    assert!(
        seen > 0,
        "TINYBPF_SHARED is set but {} holds no .data files",
        dir.display()
    );
}
