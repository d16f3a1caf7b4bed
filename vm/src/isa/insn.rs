//! The raw eBPF instruction: its 8-byte encoding and the opcode constants of
//! RFC 9669.
//!
//! Everything else in the VM (the assembler, the disassembler, the load-time
//! check and the translator) reads instructions through [`Insn`].

use byteorder::{ByteOrder, LittleEndian};

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;

/// Instruction classes (`opcode & 0x07`).
pub mod class {
    /// Non-standard loads (`lddw`, legacy packet loads).
    pub const LD: u8 = 0x00;
    /// Loads into a register.
    pub const LDX: u8 = 0x01;
    /// Stores of an immediate.
    pub const ST: u8 = 0x02;
    /// Stores of a register, and atomics.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// Source operand bit of arithmetic and jump opcodes.
pub mod source {
    /// Immediate operand (`K`).
    pub const K: u8 = 0x00;
    /// Register operand (`X`).
    pub const X: u8 = 0x08;
}

/// Arithmetic operations (`opcode & 0xf0`, classes ALU and ALU64).
pub mod alu {
    /// `dst += src`
    pub const ADD: u8 = 0x00;
    /// `dst -= src`
    pub const SUB: u8 = 0x10;
    /// `dst *= src`
    pub const MUL: u8 = 0x20;
    /// `dst /= src` (signed when `off == 1`)
    pub const DIV: u8 = 0x30;
    /// `dst |= src`
    pub const OR: u8 = 0x40;
    /// `dst &= src`
    pub const AND: u8 = 0x50;
    /// `dst <<= src`
    pub const LSH: u8 = 0x60;
    /// `dst >>= src` (logical)
    pub const RSH: u8 = 0x70;
    /// `dst = -dst`
    pub const NEG: u8 = 0x80;
    /// `dst %= src` (signed when `off == 1`)
    pub const MOD: u8 = 0x90;
    /// `dst ^= src`
    pub const XOR: u8 = 0xa0;
    /// `dst = src` (sign-extending when `off` is 8, 16 or 32)
    pub const MOV: u8 = 0xb0;
    /// `dst >>= src` (arithmetic)
    pub const ARSH: u8 = 0xc0;
    /// Byte-order conversion.
    pub const END: u8 = 0xd0;
}

/// Jump operations (`opcode & 0xf0`, classes JMP and JMP32).
pub mod jmp {
    /// Unconditional jump.
    pub const JA: u8 = 0x00;
    /// `==`
    pub const JEQ: u8 = 0x10;
    /// unsigned `>`
    pub const JGT: u8 = 0x20;
    /// unsigned `>=`
    pub const JGE: u8 = 0x30;
    /// `dst & src != 0`
    pub const JSET: u8 = 0x40;
    /// `!=`
    pub const JNE: u8 = 0x50;
    /// signed `>`
    pub const JSGT: u8 = 0x60;
    /// signed `>=`
    pub const JSGE: u8 = 0x70;
    /// Helper, local or register call.
    pub const CALL: u8 = 0x80;
    /// Return from a call, or end the program.
    pub const EXIT: u8 = 0x90;
    /// unsigned `<`
    pub const JLT: u8 = 0xa0;
    /// unsigned `<=`
    pub const JLE: u8 = 0xb0;
    /// signed `<`
    pub const JSLT: u8 = 0xc0;
    /// signed `<=`
    pub const JSLE: u8 = 0xd0;
}

/// Access sizes (`opcode & 0x18`, load and store classes).
pub mod size {
    /// 4 bytes.
    pub const W: u8 = 0x00;
    /// 2 bytes.
    pub const H: u8 = 0x08;
    /// 1 byte.
    pub const B: u8 = 0x10;
    /// 8 bytes.
    pub const DW: u8 = 0x18;

    /// Width in bytes of a size field value.
    pub const fn bytes(size: u8) -> usize {
        match size & 0x18 {
            W => 4,
            H => 2,
            B => 1,
            _ => 8,
        }
    }
}

/// Addressing modes (`opcode & 0xe0`, load and store classes).
pub mod mode {
    /// 64-bit immediate (`lddw`).
    pub const IMM: u8 = 0x00;
    /// Legacy packet access, absolute.
    pub const ABS: u8 = 0x20;
    /// Legacy packet access, indirect.
    pub const IND: u8 = 0x40;
    /// Regular memory access.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load.
    pub const MEMSX: u8 = 0x80;
    /// Atomic operation.
    pub const ATOMIC: u8 = 0xc0;
}

/// Atomic operations (`imm` of `STX | ATOMIC`).
pub mod atomic {
    /// `*addr += src`
    pub const ADD: i32 = 0x00;
    /// `*addr |= src`
    pub const OR: i32 = 0x40;
    /// `*addr &= src`
    pub const AND: i32 = 0x50;
    /// `*addr ^= src`
    pub const XOR: i32 = 0xa0;
    /// Flag: also return the old value in `src`.
    pub const FETCH: i32 = 0x01;
    /// Exchange.
    pub const XCHG: i32 = 0xe0 | FETCH;
    /// Compare and exchange with r0.
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
}

/// `src` values of `lddw` that refer to maps (pseudo sources).
pub mod pseudo {
    /// Plain 64-bit immediate.
    pub const IMM64: u8 = 0;
    /// A map, by file descriptor (in tinybpf: index in the program's map table).
    pub const MAP_FD: u8 = 1;
    /// Address of a map value: first imm the map fd, second imm the offset.
    pub const MAP_VALUE: u8 = 2;
    /// A function reference (`BPF_PSEUDO_FUNC`): `imm` is the offset of the
    /// function's first instruction from the next slot, as for a local call.
    pub const FUNC: u8 = 4;
    /// A map, by index in the program's map table.
    pub const MAP_IDX: u8 = 5;
    /// Address of a map value, by map index: second imm the offset.
    pub const MAP_IDX_VALUE: u8 = 6;
    /// `src` of `call` for a helper.
    pub const CALL_HELPER: u8 = 0;
    /// `src` of `call` for a program-local function.
    pub const CALL_LOCAL: u8 = 1;
    /// `src` of `call` for a kernel function by BTF id (unsupported).
    pub const CALL_KFUNC: u8 = 2;
}

/// Frequently used full opcodes.
pub mod opcode {
    /// `lddw`: load a 64-bit immediate (two slots).
    pub const LDDW: u8 = 0x18;
    /// `call imm`
    pub const CALL: u8 = 0x85;
    /// `callx reg`
    pub const CALLX: u8 = 0x8d;
    /// `exit`
    pub const EXIT: u8 = 0x95;
    /// `ja off`
    pub const JA: u8 = 0x05;
    /// `ja32 imm` (the 32-bit long jump, class JMP32)
    pub const JA32: u8 = 0x06;
}

/// One decoded 8-byte instruction slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// The opcode byte.
    pub opcode: u8,
    /// Destination register (low nibble of byte 1).
    pub dst: u8,
    /// Source register (high nibble of byte 1).
    pub src: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its fields.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            opcode,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Decodes one slot from exactly 8 little-endian bytes.
    pub fn from_bytes(bytes: &[u8; INSN_SIZE]) -> Self {
        Insn {
            opcode: bytes[0],
            dst: bytes[1] & 0x0f,
            src: bytes[1] >> 4,
            off: LittleEndian::read_i16(&bytes[2..4]),
            imm: LittleEndian::read_i32(&bytes[4..8]),
        }
    }

    /// Encodes the slot into its 8 little-endian bytes.
    pub fn to_bytes(&self) -> [u8; INSN_SIZE] {
        let mut out = [0u8; INSN_SIZE];
        out[0] = self.opcode;
        out[1] = (self.dst & 0x0f) | (self.src << 4);
        LittleEndian::write_i16(&mut out[2..4], self.off);
        LittleEndian::write_i32(&mut out[4..8], self.imm);
        out
    }

    /// The instruction class (`opcode & 0x07`).
    pub const fn class(&self) -> u8 {
        self.opcode & 0x07
    }

    /// The operation field of arithmetic and jump opcodes (`opcode & 0xf0`).
    pub const fn operation(&self) -> u8 {
        self.opcode & 0xf0
    }

    /// The source bit of arithmetic and jump opcodes (`opcode & 0x08`).
    pub const fn source(&self) -> u8 {
        self.opcode & 0x08
    }

    /// The size field of load and store opcodes (`opcode & 0x18`).
    pub const fn size(&self) -> u8 {
        self.opcode & 0x18
    }

    /// The mode field of load and store opcodes (`opcode & 0xe0`).
    pub const fn mode(&self) -> u8 {
        self.opcode & 0xe0
    }

    /// Whether this slot starts a two-slot `lddw`.
    pub const fn is_lddw(&self) -> bool {
        self.opcode == opcode::LDDW
    }
}

/// Decodes a byte string into instruction slots.
///
/// Returns `None` when the length is not a multiple of 8.
///
/// ```
/// use tinybpf_vm::isa::insn::{decode_all, Insn};
/// let slots = decode_all(&[0xb7, 0x00, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]).unwrap();
/// assert_eq!(slots[0], Insn::new(0xb7, 0, 0, 0, 2));
/// assert_eq!(slots[1].opcode, 0x95);
/// ```
pub fn decode_all(code: &[u8]) -> Option<Vec<Insn>> {
    if !code.len().is_multiple_of(INSN_SIZE) {
        return None;
    }
    Some(
        code.chunks_exact(INSN_SIZE)
            .map(|chunk| {
                let mut slot = [0u8; INSN_SIZE];
                slot.copy_from_slice(chunk);
                Insn::from_bytes(&slot)
            })
            .collect(),
    )
}

/// Encodes instruction slots back into bytes.
pub fn encode_all(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|insn| insn.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let insn = Insn::new(0x61, 3, 10, -8, -0x1234_5678);
        let bytes = insn.to_bytes();
        assert_eq!(bytes[1], 0xa3);
        assert_eq!(Insn::from_bytes(&bytes), insn);
    }

    #[test]
    fn rejects_partial_slots() {
        assert!(decode_all(&[0; 9]).is_none());
        assert_eq!(decode_all(&[]).unwrap().len(), 0);
    }
}
