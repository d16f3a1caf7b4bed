//! The instruction set as bytes and text: the raw encoding ([`insn`]), the
//! one check of a slot's fields ([`decode`]), the assembler ([`asm`]) and
//! disassembler ([`disasm`]) of the conformance suite's syntax, and the
//! reader of its test files ([`conformance`]).

pub mod asm;
pub mod conformance;
pub mod decode;
pub mod disasm;
pub mod insn;
