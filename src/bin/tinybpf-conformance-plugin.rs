//! The plugin the bpf_conformance suite's runner drives: the program arrives
//! as hex bytes on standard input, the memory as an optional hex first
//! argument; r0 is printed in hex. Any error exits non-zero with a message.

use std::io::Read;
use std::process::ExitCode;

use tinybpf::vm::{Program, ProgramOptions};

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("not a hex byte at digit {i}: {:?}", &digits[i..i + 2]))
        })
        .collect()
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
    let program = Program::load(&code, ProgramOptions::default()).map_err(|e| e.to_string())?;
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
