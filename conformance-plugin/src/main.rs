//! The plugin the bpf_conformance suite's runner drives: the program arrives
//! as hex bytes on standard input, the memory as an optional hex first
//! argument; r0 is printed in hex. Any error exits non-zero with a message.

#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use tinybpf_vm::{LoadedProgram, ProgramOptions};

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Some(at) = digits.iter().position(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("not a hex digit at position {at}"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    Ok(digits
        .chunks_exact(2)
        .map(|pair| (hex_value(pair[0]) << 4) | hex_value(pair[1]))
        .collect())
}

/// The value of an ASCII hex digit (checked by the caller).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit
            .to_ascii_lowercase()
            .wrapping_sub(b'a')
            .wrapping_add(10),
    }
}

fn run() -> Result<u64, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the program from standard input: {e}"))?;
    let code = parse_hex(&input).map_err(|e| format!("program: {e}"))?;
    let mut memory = match std::env::args().nth(1) {
        Some(arg) => parse_hex(&arg).map_err(|e| format!("memory: {e}"))?,
        None => Vec::new(),
    };
    let program =
        LoadedProgram::load(&code, ProgramOptions::default()).map_err(|e| e.to_string())?;
    let outcome = program.run(&mut memory).map_err(|e| e.to_string())?;
    Ok(outcome.retval)
}

fn main() -> ExitCode {
    match run() {
        Ok(r0) => {
            println!("{r0:x}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("tinybpf-conformance-plugin: {message}");
            ExitCode::FAILURE
        }
    }
}
