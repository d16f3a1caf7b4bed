//! tinybpf-vm: the eBPF interpreter (work in progress).
pub mod asm;
pub mod disasm;
pub mod insn;

/// How a program receives its input, chosen by the loader from the section name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    /// Any non-XDP section: r1 = address of the input memory, r2 = its length.
    Memory,
    /// `xdp*` sections: r1 = a read-only `struct xdp_md` whose `data`, `data_end` and
    /// `data_meta` fields are 32-bit addresses of the packet buffer.
    Xdp,
}
