//! tinybpf-vm: the eBPF interpreter (work in progress).
pub mod asm;
pub mod disasm;
pub mod insn;
