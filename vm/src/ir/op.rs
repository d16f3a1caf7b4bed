//! The internal form a program is translated into once, at load time.
//!
//! Each [`Op`] is one eBPF instruction with its decoding done: the operation
//! and operand kind are in the variant, immediates are already extended to the
//! width they are used at, jump targets are absolute slot indices, and map
//! references are resolved to virtual addresses. The interpreter only matches
//! on the variant. Slots keep the numbering of the original program (the
//! second slot of an `lddw` becomes [`Op::LddwTail`]), so an instruction
//! index in an error is the same in both forms, and a rewrite (see the
//! `rewrite` module) can replace one op by another in place.

/// One translated instruction. Registers are indices 0..=10 checked at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    // 64-bit arithmetic with an immediate already sign-extended to 64 bits.
    Add64Imm {
        dst: u8,
        imm: u64,
    },
    Sub64Imm {
        dst: u8,
        imm: u64,
    },
    Mul64Imm {
        dst: u8,
        imm: u64,
    },
    Div64Imm {
        dst: u8,
        imm: u64,
    },
    SDiv64Imm {
        dst: u8,
        imm: u64,
    },
    Mod64Imm {
        dst: u8,
        imm: u64,
    },
    SMod64Imm {
        dst: u8,
        imm: u64,
    },
    Or64Imm {
        dst: u8,
        imm: u64,
    },
    And64Imm {
        dst: u8,
        imm: u64,
    },
    Lsh64Imm {
        dst: u8,
        imm: u64,
    },
    Rsh64Imm {
        dst: u8,
        imm: u64,
    },
    Arsh64Imm {
        dst: u8,
        imm: u64,
    },
    Xor64Imm {
        dst: u8,
        imm: u64,
    },
    Mov64Imm {
        dst: u8,
        imm: u64,
    },
    // 64-bit arithmetic with a register.
    Add64Reg {
        dst: u8,
        src: u8,
    },
    Sub64Reg {
        dst: u8,
        src: u8,
    },
    Mul64Reg {
        dst: u8,
        src: u8,
    },
    Div64Reg {
        dst: u8,
        src: u8,
    },
    SDiv64Reg {
        dst: u8,
        src: u8,
    },
    Mod64Reg {
        dst: u8,
        src: u8,
    },
    SMod64Reg {
        dst: u8,
        src: u8,
    },
    Or64Reg {
        dst: u8,
        src: u8,
    },
    And64Reg {
        dst: u8,
        src: u8,
    },
    Lsh64Reg {
        dst: u8,
        src: u8,
    },
    Rsh64Reg {
        dst: u8,
        src: u8,
    },
    Arsh64Reg {
        dst: u8,
        src: u8,
    },
    Xor64Reg {
        dst: u8,
        src: u8,
    },
    Mov64Reg {
        dst: u8,
        src: u8,
    },
    /// `dst = sign_extend(src, bits)` for bits 8, 16, 32.
    MovSx64 {
        dst: u8,
        src: u8,
        bits: u8,
    },
    Neg64 {
        dst: u8,
    },
    // 32-bit arithmetic; results are zero-extended.
    Add32Imm {
        dst: u8,
        imm: u32,
    },
    Sub32Imm {
        dst: u8,
        imm: u32,
    },
    Mul32Imm {
        dst: u8,
        imm: u32,
    },
    Div32Imm {
        dst: u8,
        imm: u32,
    },
    SDiv32Imm {
        dst: u8,
        imm: u32,
    },
    Mod32Imm {
        dst: u8,
        imm: u32,
    },
    SMod32Imm {
        dst: u8,
        imm: u32,
    },
    Or32Imm {
        dst: u8,
        imm: u32,
    },
    And32Imm {
        dst: u8,
        imm: u32,
    },
    Lsh32Imm {
        dst: u8,
        imm: u32,
    },
    Rsh32Imm {
        dst: u8,
        imm: u32,
    },
    Arsh32Imm {
        dst: u8,
        imm: u32,
    },
    Xor32Imm {
        dst: u8,
        imm: u32,
    },
    Mov32Imm {
        dst: u8,
        imm: u32,
    },
    Add32Reg {
        dst: u8,
        src: u8,
    },
    Sub32Reg {
        dst: u8,
        src: u8,
    },
    Mul32Reg {
        dst: u8,
        src: u8,
    },
    Div32Reg {
        dst: u8,
        src: u8,
    },
    SDiv32Reg {
        dst: u8,
        src: u8,
    },
    Mod32Reg {
        dst: u8,
        src: u8,
    },
    SMod32Reg {
        dst: u8,
        src: u8,
    },
    Or32Reg {
        dst: u8,
        src: u8,
    },
    And32Reg {
        dst: u8,
        src: u8,
    },
    Lsh32Reg {
        dst: u8,
        src: u8,
    },
    Rsh32Reg {
        dst: u8,
        src: u8,
    },
    Arsh32Reg {
        dst: u8,
        src: u8,
    },
    Xor32Reg {
        dst: u8,
        src: u8,
    },
    Mov32Reg {
        dst: u8,
        src: u8,
    },
    /// 32-bit `dst = sign_extend(src, bits)` for bits 8, 16, zero-extended.
    MovSx32 {
        dst: u8,
        src: u8,
        bits: u8,
    },
    Neg32 {
        dst: u8,
    },
    /// Convert to little-endian: truncate to `bits` (a no-op swap on this host).
    ToLe {
        dst: u8,
        bits: u8,
    },
    /// Convert to big-endian: swap the low `bits` and truncate.
    ToBe {
        dst: u8,
        bits: u8,
    },
    /// Unconditional byte swap of the low `bits`, truncating.
    Bswap {
        dst: u8,
        bits: u8,
    },
    /// `dst = imm` for `lddw`, including resolved map handles and value addresses.
    LoadImm64 {
        dst: u8,
        imm: u64,
    },
    /// The second slot of an `lddw`; never executed (nothing may jump into it).
    LddwTail,

    // Loads and stores through a register, checked against the regions at run time.
    LdxB {
        dst: u8,
        src: u8,
        off: i16,
    },
    LdxH {
        dst: u8,
        src: u8,
        off: i16,
    },
    LdxW {
        dst: u8,
        src: u8,
        off: i16,
    },
    LdxDW {
        dst: u8,
        src: u8,
        off: i16,
    },
    LdxSB {
        dst: u8,
        src: u8,
        off: i16,
    },
    LdxSH {
        dst: u8,
        src: u8,
        off: i16,
    },
    LdxSW {
        dst: u8,
        src: u8,
        off: i16,
    },
    StB {
        dst: u8,
        off: i16,
        imm: u64,
    },
    StH {
        dst: u8,
        off: i16,
        imm: u64,
    },
    StW {
        dst: u8,
        off: i16,
        imm: u64,
    },
    StDW {
        dst: u8,
        off: i16,
        imm: u64,
    },
    StxB {
        dst: u8,
        src: u8,
        off: i16,
    },
    StxH {
        dst: u8,
        src: u8,
        off: i16,
    },
    StxW {
        dst: u8,
        src: u8,
        off: i16,
    },
    StxDW {
        dst: u8,
        src: u8,
        off: i16,
    },
    // Accesses at a constant offset from r10, proven inside the current frame at load time.
    StackLdxB {
        dst: u8,
        off: i16,
    },
    StackLdxH {
        dst: u8,
        off: i16,
    },
    StackLdxW {
        dst: u8,
        off: i16,
    },
    StackLdxDW {
        dst: u8,
        off: i16,
    },
    StackLdxSB {
        dst: u8,
        off: i16,
    },
    StackLdxSH {
        dst: u8,
        off: i16,
    },
    StackLdxSW {
        dst: u8,
        off: i16,
    },
    StackStB {
        off: i16,
        imm: u64,
    },
    StackStH {
        off: i16,
        imm: u64,
    },
    StackStW {
        off: i16,
        imm: u64,
    },
    StackStDW {
        off: i16,
        imm: u64,
    },
    StackStxB {
        src: u8,
        off: i16,
    },
    StackStxH {
        src: u8,
        off: i16,
    },
    StackStxW {
        src: u8,
        off: i16,
    },
    StackStxDW {
        src: u8,
        off: i16,
    },
    /// An atomic read-modify-write of 4 bytes (`wide == false`) or 8 bytes.
    Atomic {
        op: AtomicOp,
        wide: bool,
        dst: u8,
        src: u8,
        off: i16,
    },

    // Jumps: `target` is the absolute slot index.
    Ja {
        target: u32,
    },
    JeqImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JgtImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JgeImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JsetImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JneImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JsgtImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JsgeImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JltImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JleImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JsltImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JsleImm {
        dst: u8,
        imm: u64,
        target: u32,
    },
    JeqReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JgtReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JgeReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsetReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JneReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsgtReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsgeReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JltReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JleReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsltReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsleReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jeq32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jgt32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jge32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jset32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jne32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jsgt32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jsge32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jlt32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jle32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jslt32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jsle32Imm {
        dst: u8,
        imm: u32,
        target: u32,
    },
    Jeq32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jgt32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jge32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jset32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jne32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jsgt32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jsge32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jlt32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jle32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jslt32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },
    Jsle32Reg {
        dst: u8,
        src: u8,
        target: u32,
    },

    /// `bpf_map_lookup_elem` (helper 1) on the built-in array map path.
    MapLookup,
    /// A helper call through the program's resolved helper table.
    CallHelper {
        slot: u32,
    },
    /// `callx`: a helper whose id is in a register, resolved at run time.
    CallReg {
        reg: u8,
    },
    /// A program-local call.
    CallLocal {
        target: u32,
    },
    /// Return from the current frame, or end the program.
    Exit,

    /// A rewritten constant-key lookup: `r0 = imm`, the element's address (or 0).
    /// Same effect as `LoadImm64 { dst: 0, .. }`, kept apart so `disasm` can mark it.
    LookupConst {
        imm: u64,
    },
    /// A rewritten run-time-key lookup into array map `map`: reads the u32 key at r2,
    /// then `r0 = key < max_entries ? start + key * elem_size : 0`.
    LookupInline {
        map: u16,
    },
    /// An instruction removed by a rewrite (a NULL test that can never be taken).
    /// Removed again when the program is compacted; never executed.
    Nop,

    // Accesses at an address proven constant (a register that holds the same
    // map-value address on every path) and inside map `region`'s value area
    // at load time: no run-time check. The value area never moves.
    DirectLdxB {
        dst: u8,
        region: u16,
        offset: u32,
    },
    DirectLdxH {
        dst: u8,
        region: u16,
        offset: u32,
    },
    DirectLdxW {
        dst: u8,
        region: u16,
        offset: u32,
    },
    DirectLdxDW {
        dst: u8,
        region: u16,
        offset: u32,
    },
    DirectStxB {
        src: u8,
        region: u16,
        offset: u32,
    },
    DirectStxH {
        src: u8,
        region: u16,
        offset: u32,
    },
    DirectStxW {
        src: u8,
        region: u16,
        offset: u32,
    },
    DirectStxDW {
        src: u8,
        region: u16,
        offset: u32,
    },
    DirectStB {
        imm: u64,
        region: u16,
        offset: u32,
    },
    DirectStH {
        imm: u64,
        region: u16,
        offset: u32,
    },
    DirectStW {
        imm: u64,
        region: u16,
        offset: u32,
    },
    DirectStDW {
        imm: u64,
        region: u16,
        offset: u32,
    },

    // Superinstructions made by `fuse`: `mov dst, src` followed by an
    // operation on dst, executed as one three-operand op. They count as two
    // instructions.
    MovAdd64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovSub64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovMul64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovAnd64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovOr64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovXor64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovLsh64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovRsh64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovArsh64Imm {
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovAdd64Reg {
        dst: u8,
        src: u8,
        src2: u8,
    },
    MovSub64Reg {
        dst: u8,
        src: u8,
        src2: u8,
    },
    MovAnd64Reg {
        dst: u8,
        src: u8,
        src2: u8,
    },
    MovOr64Reg {
        dst: u8,
        src: u8,
        src2: u8,
    },
    MovXor64Reg {
        dst: u8,
        src: u8,
        src2: u8,
    },
    /// `mov dst, src; lsh dst, imm; xor dst, src`: `dst = src ^ (src << imm)`,
    /// the xorshift step of hash and random-number code. Counts three.
    XorShl64 {
        dst: u8,
        src: u8,
        imm: u64,
    },
    /// `mov dst, src; rsh dst, imm; xor dst, src`: `dst = src ^ (src >> imm)`. Counts three.
    XorShr64 {
        dst: u8,
        src: u8,
        imm: u64,
    },
    /// `add dst, imm; jeq dst, cmp, target` (a loop counter and its test). Counts two.
    AddJeqImm {
        dst: u8,
        imm: i32,
        cmp: i32,
        target: u32,
    },
    /// `add dst, imm; jne dst, cmp, target`. Counts two.
    AddJneImm {
        dst: u8,
        imm: i32,
        cmp: i32,
        target: u32,
    },
    /// `and dst, imm; jeq dst, cmp, target` (a flag test). Counts two.
    AndJeqImm {
        dst: u8,
        imm: i32,
        cmp: i32,
        target: u32,
    },
    /// `and dst, imm; jne dst, cmp, target`. Counts two.
    AndJneImm {
        dst: u8,
        imm: i32,
        cmp: i32,
        target: u32,
    },
    /// `[mov dst, src;] lsh dst, 32; rsh dst, 32`: `dst = src as u32`; counts `insns`.
    Zext32 {
        dst: u8,
        src: u8,
        insns: u8,
    },
    /// `[mov dst, src;] lsh dst, 32; arsh dst, 32`: `dst = src as i32 as i64`; counts `insns`.
    Sext32 {
        dst: u8,
        src: u8,
        insns: u8,
    },
}

/// The operation of an atomic instruction (`fetch`: also return the old value in src).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AtomicOp {
    /// `*p += src`, optionally returning the old value in src.
    Add { fetch: bool },
    /// `*p |= src`
    Or { fetch: bool },
    /// `*p &= src`
    And { fetch: bool },
    /// `*p ^= src`
    Xor { fetch: bool },
    /// Exchange with src.
    Xchg,
    /// Compare with r0 and exchange; old value in r0.
    CmpXchg,
}
