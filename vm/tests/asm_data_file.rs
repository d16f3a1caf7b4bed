//! The reader of the conformance suite's `.data` files.

use std::path::PathBuf;

use tinybpf_vm::isa::asm::AsmError;
use tinybpf_vm::isa::conformance::{
    CaseError, CaseFileError, ConformanceCase, ProgramError, load_dir, load_file, parse_case,
};
use tinybpf_vm::isa::insn::Insn;

fn parse(text: &str) -> ConformanceCase {
    parse_case("case", text).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> CaseError {
    parse_case("case", text).expect_err(text)
}

#[test]
fn reads_every_section() {
    let case = parse(
        "# Copyright line\n\
         # another comment\n\
         -- asm\n\
         # program comment\n\
         ldxh %r0, [%r1+2]\n\
         exit\n\
         -- mem\n\
         aa bb\n\
         11 22 0x33\n\
         -- result\n\
         0x2211\n\
         -- c\n\
         int main(void) { return 0; }\n\
         -- no register offset\n\
         anything at all\n",
    );
    assert_eq!(case.name, "case");
    assert_eq!(
        case.asm.as_deref(),
        Some("# program comment\nldxh %r0, [%r1+2]\nexit\n")
    );
    assert_eq!(case.asm_line, 4);
    assert_eq!(case.mem, [0xaa, 0xbb, 0x11, 0x22, 0x33]);
    assert_eq!(case.result, Some(0x2211));
    assert_eq!(case.raw, None);
    assert_eq!(case.error, None);
    assert_eq!(
        case.program().unwrap(),
        [Insn::new(0x69, 0, 1, 2, 0), Insn::new(0x95, 0, 0, 0, 0)]
    );
}

#[test]
fn raw_slots_as_numbers_or_bytes() {
    let case = parse(
        "-- raw\n\
         0x5566778800000018\n\
         1122334400000000\n\
         149\n\
         07 00 01 00 01 00 00 00\n\
         \n\
         95 00 00 00 00 00 00 00 # exit\n\
         -- result\n\
         0\n",
    );
    assert_eq!(
        case.raw,
        Some(vec![
            0x5566_7788_0000_0018,
            1_122_334_400_000_000,
            0x95,
            0x0000_0001_0001_0007,
            0x95
        ])
    );
    assert_eq!(case.result, Some(0));
    let program = case.program().unwrap();
    assert_eq!(program[0], Insn::new(0x18, 0, 0, 0, 0x5566_7788));
    assert_eq!(program[3], Insn::new(0x07, 0, 0, 1, 1));
}

#[test]
fn raw_takes_precedence_over_asm() {
    let case = parse("-- asm\nmov %r0, 1\nexit\n-- raw\n0x95\n");
    assert_eq!(case.program().unwrap(), [Insn::new(0x95, 0, 0, 0, 0)]);
}

#[test]
fn error_sections_may_be_empty_or_hold_a_message() {
    assert_eq!(parse("-- raw\n0x95\n-- error\n").error.as_deref(), Some(""));
    assert_eq!(
        parse("-- asm\nexit\n-- error\nInvalid register\n\n")
            .error
            .as_deref(),
        Some("Invalid register")
    );
    // The message is free text: `#` belongs to it.
    assert_eq!(parse("-- error\nbad #3\n").error.as_deref(), Some("bad #3"));
}

#[test]
fn crlf_line_endings() {
    let case = parse("-- asm\r\nmov %r0, 2\r\nexit\r\n-- result\r\n0x2\r\n");
    assert_eq!(case.result, Some(2));
    assert_eq!(case.program().unwrap().len(), 2);
}

#[test]
fn text_starting_with_dashes_inside_c_is_not_a_section() {
    let case = parse("-- c\nint f(int i) {\n--i;\n-- i;\n}\n-- asm\nexit\n-- result\n0x0\n");
    assert_eq!(case.asm.as_deref(), Some("exit\n"));
}

#[test]
fn malformed_files_name_file_and_line() {
    assert_eq!(
        parse_err("# c\n-- asm\n-- Unknown directive\n-- error\nInvalid"),
        CaseError::UnknownSection {
            name: "case".into(),
            line: 3,
            section: "Unknown directive".into()
        }
    );
    assert_eq!(
        parse_err("-- asm\nexit\n-- result\n1\n-- asm\nexit\n"),
        CaseError::DuplicateSection {
            name: "case".into(),
            line: 5,
            section: "asm".into()
        }
    );
    assert!(matches!(
        parse_err("# fine\nmov %r0, 1\n-- asm\nexit\n"),
        CaseError::OutsideSection { line: 2, .. }
    ));
    for raw in [
        "07 00 01 00 01 00 00",
        "07 00 01 00 01 00 00 00 00",
        "zz 00 01 00 01 00 00 00",
        "007 00 01 00 01 00 00 00",
        "0x",
        "0x10000000000000000",
        "-1",
    ] {
        assert!(
            matches!(
                parse_err(&format!("-- raw\n{raw}\n")),
                CaseError::BadRaw { line: 2, .. }
            ),
            "{raw}"
        );
    }
    for mem in ["100", "g1", "0x", "aa,bb"] {
        assert!(
            matches!(
                parse_err(&format!("-- mem\n00\n{mem}\n")),
                CaseError::BadMem { line: 3, .. }
            ),
            "{mem}"
        );
    }
    for result in ["0xg", "1 2", "0x10000000000000000", "-1"] {
        assert!(
            matches!(
                parse_err(&format!("-- result\n{result}\n")),
                CaseError::BadResult { line: 2, .. }
            ),
            "{result}"
        );
    }
    assert!(matches!(
        parse_err("-- result\n1\n2\n"),
        CaseError::BadResult { line: 3, .. }
    ));
    assert_eq!(
        parse_err("-- asm\n-- bogus\n").to_string(),
        "case:2: unknown section `-- bogus`"
    );
}

#[test]
fn files_without_instructions_have_no_program() {
    for text in [
        "",
        "# only comments\n",
        "-- result\n0x0\n",
        "-- asm\n# nothing\n-- result\n0\n",
    ] {
        assert_eq!(
            parse(text).program(),
            Err(ProgramError::NoProgram {
                name: "case".into()
            }),
            "{text:?}"
        );
    }
}

#[test]
fn assembler_errors_point_into_the_file() {
    let case = parse("# header\n-- asm\nmov %r0, 1\nmov %r0, %r50\nexit\n-- result\n0\n");
    match case.program() {
        Err(ProgramError::Asm {
            file_line, source, ..
        }) => {
            assert_eq!(file_line, 4);
            assert!(matches!(source, AsmError::BadRegister { line: 2, .. }));
        }
        other => panic!("{other:?}"),
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tinybpf-asm-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_dir_reads_data_files_sorted() {
    let scratch = Scratch::new("dir");
    std::fs::write(scratch.0.join("b.data"), "-- asm\nexit\n-- result\n0\n").unwrap();
    std::fs::write(
        scratch.0.join("a.data"),
        "-- asm\nmov %r0, 1\nexit\n-- result\n1\n",
    )
    .unwrap();
    std::fs::write(scratch.0.join("notes.txt"), "not a case").unwrap();
    let cases = load_dir(&scratch.0).unwrap();
    let names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        load_file(&scratch.0.join("a.data")).unwrap().result,
        Some(1)
    );

    std::fs::write(scratch.0.join("c.data"), "-- asm\n-- what\n").unwrap();
    match load_dir(&scratch.0) {
        Err(CaseFileError::Case(CaseError::UnknownSection { name, line: 2, .. })) => {
            assert_eq!(name, "c")
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(scratch.0.join("c.data"), [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(
        load_dir(&scratch.0),
        Err(CaseFileError::NotText { .. })
    ));
}

#[test]
fn load_dir_fails_on_missing_or_empty_directories() {
    let scratch = Scratch::new("empty");
    assert!(matches!(
        load_dir(&scratch.0),
        Err(CaseFileError::Empty { .. })
    ));
    assert!(matches!(
        load_dir(&scratch.0.join("missing")),
        Err(CaseFileError::Io { .. })
    ));
    assert!(matches!(
        load_file(&scratch.0.join("missing.data")),
        Err(CaseFileError::Io { .. })
    ));
}
