//! A structure-aware generator of valid programs for the `rewrite_diff`
//! target: every byte string becomes a program the VM accepts, built around
//! what the lookup rewrite and dead-code elimination reason about.
//!
//! What it emits (each choice taken from the fuzz bytes):
//! - 32/64-bit ALU on r0..r9 (immediate and register forms, division and
//!   modulo by anything, shifts, byte swaps, sign-extending moves);
//! - r10-relative stack stores and loads, and stack atomics;
//! - `bpf_map_lookup_elem` in the clang shape
//!   (`*(u32 *)(r10 - k) = key; r2 = r10; r2 += -k; r1 = map ll; call 1;
//!   if r0 == 0 goto ...`), with constant keys (in and out of range), keys
//!   read at run time (input memory, `bpf_get_prandom_u32`, a loop counter),
//!   keys written byte by byte, through a copy of r10, through a spilled
//!   copy, through a *constant* stack address, or partly overwritten; also
//!   through `callx`;
//! - loads, stores and atomics through the returned pointer (and through
//!   copies of it kept in r7..r9), mostly inside the element, sometimes not;
//! - `lddw` of a map value address (`map_idx_value`) with its NULL test;
//! - accesses through constant (forged) stack and map-value addresses;
//! - the other helpers (update, delete, prandom, cpu id, time);
//! - forward branches (if, if/else), bounded loops (backward jumps, nested),
//!   and local calls into up to three subprograms that may write the
//!   caller's frame through the pointer passed in r1;
//! - an epilogue that folds r0..r9 (and, sometimes, the whole stack frame)
//!   into r0, so that differences in registers and stack become visible.
//!
//! r6 holds the input pointer throughout (the generator never writes it).

use tinybpf::maps::{BPF_F_RDONLY_PROG, MapDef};
use tinybpf::vm::isa::insn::{Insn, encode_all};

use crate::Reader;
use crate::vm_case::MapSpec;

/// Bytes of input memory every generated program runs over.
pub const INPUT_LEN: usize = 64;

/// Virtual address of the top of frame 0 (the main program's r10).
pub const FRAME0_TOP: u64 = 0x2_0000_1000;

/// Virtual address of map `index`'s first value byte.
pub const fn map_start(index: usize) -> u64 {
    (3 + index as u64) << 32
}

/// Whether a subprogram may read r0 before writing it (it then sees the
/// caller's r0). Set it to false to avoid the pattern while a bug about it
/// is open (finding F3 was one): each subprogram then starts by writing r0.
pub const CALLEES_MAY_READ_R0: bool = true;

/// The register that holds the input pointer.
const R_INPUT: u8 = 6;
/// Most slots one function body may grow to (statements stop there).
const MAX_BODY: usize = 320;
/// Most statements in one function body.
const MAX_STATEMENTS: usize = 48;
/// Deepest nesting of branches and loops.
const MAX_DEPTH: usize = 3;
/// Offsets of 4-byte key slots relative to r10 (one unaligned).
const KEY_SLOTS: [i16; 10] = [-4, -8, -12, -16, -20, -24, -32, -64, -7, -512];

/// A generated program with everything needed to run it.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The instruction slots.
    pub insns: Vec<Insn>,
    /// The maps (1 to 3).
    pub maps: Vec<MapSpec>,
    /// The input memory.
    pub input: Vec<u8>,
    /// How many runs to compare.
    pub runs: usize,
}

impl Generated {
    /// The program as bytes.
    pub fn code(&self) -> Vec<u8> {
        encode_all(&self.insns)
    }
}

// ---- instruction builders ----------------------------------------------------

const W: u8 = 0x00;
const H: u8 = 0x08;
const B: u8 = 0x10;
const DW: u8 = 0x18;

fn width_of(size: u8) -> i16 {
    match size {
        B => 1,
        H => 2,
        W => 4,
        _ => 8,
    }
}

fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(0x61 | size, dst, src, off, 0)
}

fn st(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(0x62 | size, dst, 0, off, imm)
}

fn stx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(0x63 | size, dst, src, off, 0)
}

fn atomic(wide: bool, dst: u8, src: u8, off: i16, op: i32) -> Insn {
    Insn::new(if wide { 0xdb } else { 0xc3 }, dst, src, off, op)
}

fn mov64(dst: u8, src: u8) -> Insn {
    Insn::new(0xbf, dst, src, 0, 0)
}

fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn::new(0xb7, dst, 0, 0, imm)
}

fn add64_imm(dst: u8, imm: i32) -> Insn {
    Insn::new(0x07, dst, 0, 0, imm)
}

fn lddw(dst: u8, src: u8, lo: i32, hi: i32) -> [Insn; 2] {
    [Insn::new(0x18, dst, src, 0, lo), Insn::new(0, 0, 0, 0, hi)]
}

fn lddw_u64(dst: u8, value: u64) -> [Insn; 2] {
    lddw(dst, 0, value as u32 as i32, (value >> 32) as u32 as i32)
}

fn jeq_imm(reg: u8, imm: i32, off: i16) -> Insn {
    Insn::new(0x15, reg, 0, off, imm)
}

fn jne_imm(reg: u8, imm: i32, off: i16) -> Insn {
    Insn::new(0x55, reg, 0, off, imm)
}

fn ja(off: i16) -> Insn {
    Insn::new(0x05, 0, 0, off, 0)
}

fn call(id: i32) -> Insn {
    Insn::new(0x85, 0, 0, 0, id)
}

/// A local call to function `callee`, patched into a relative target by [`layout`].
fn call_local_placeholder(callee: usize) -> Insn {
    Insn::new(0x85, 0, 1, 0, callee as i32)
}

fn exit() -> Insn {
    Insn::new(0x95, 0, 0, 0, 0)
}

fn offset_of(len: usize) -> i16 {
    i16::try_from(len).expect("blocks are far shorter than 32767 slots")
}

// ---- the generator -----------------------------------------------------------

/// A register believed to hold a pointer into map `map`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pointer {
    reg: u8,
    map: usize,
}

struct Gen<'a, 'r> {
    r: &'r mut Reader<'a>,
    maps: Vec<MapSpec>,
    /// Number of subprograms (functions 1..=subprograms).
    subprograms: usize,
    /// The function being generated (0: main).
    func: usize,
    /// Registers that must not be written (r6, live loop counters).
    reserved: u16,
    /// Live loop counters, innermost last.
    counters: Vec<u8>,
    /// Registers believed to hold map-value pointers.
    pointers: Vec<Pointer>,
    depth: usize,
    statements: usize,
    /// Key slots of the latest lookups (reads of them through aliases and
    /// constant addresses are what dead-store elimination must respect).
    recent_slots: Vec<i16>,
}

impl Gen<'_, '_> {
    fn value_size(&self, map: usize) -> i64 {
        i64::from(self.maps[map].def.value_size)
    }

    fn elem_size(&self, map: usize) -> i64 {
        (self.value_size(map) + 7) / 8 * 8
    }

    fn map(&mut self) -> usize {
        self.r.below(self.maps.len())
    }

    /// A register the program may write.
    fn dst(&mut self) -> u8 {
        self.dst_except(R_INPUT)
    }

    /// A register the program may write, other than `keep`.
    fn dst_except(&mut self, keep: u8) -> u8 {
        let choices: Vec<u8> = [0u8, 1, 2, 3, 4, 5, 7, 8, 9]
            .into_iter()
            .filter(|&r| self.reserved & (1 << r) == 0 && r != keep)
            .collect();
        let reg = self.r.pick(&choices);
        self.forget(reg);
        reg
    }

    /// Any register the program may read (r10 excluded: it only appears in
    /// the forms the VM allows).
    fn src(&mut self) -> u8 {
        self.r.below(10) as u8
    }

    fn forget(&mut self, reg: u8) {
        self.pointers.retain(|p| p.reg != reg);
    }

    fn forget_args(&mut self) {
        self.pointers.retain(|p| p.reg > 5);
    }

    fn imm(&mut self) -> i32 {
        match self.r.below(8) {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => i32::MIN,
            4 => i32::from(self.r.u8()),
            5 => i32::from(self.r.u8() % 16),
            _ => self.r.u32() as i32,
        }
    }

    /// A key: mostly small (in range or just past the end), sometimes anything.
    fn key(&mut self, map: usize) -> i32 {
        let max = self.maps[map].def.max_entries;
        match self.r.below(8) {
            0..=4 => (self.r.below(max as usize + 2)) as i32,
            5 => max as i32,
            6 => -1,
            _ => self.r.u32() as i32,
        }
    }

    /// A key slot: often one a recent lookup used.
    fn key_slot(&mut self) -> i16 {
        if !self.recent_slots.is_empty() && self.r.chance(50) {
            self.recent_slots[self.r.below(self.recent_slots.len())]
        } else {
            self.r.pick(&KEY_SLOTS)
        }
    }

    /// An r10-relative offset for a `width`-byte access inside the frame.
    fn stack_off(&mut self, width: i16) -> i16 {
        if self.r.chance(60) {
            let slot = self.key_slot();
            if slot + width <= 0 {
                return slot;
            }
        }
        let span = 512 - i64::from(width);
        let off = -(self.r.u16() as i64 % (span + 1)) - i64::from(width);
        off as i16
    }

    fn size(&mut self) -> u8 {
        self.r.pick(&[B, H, W, DW])
    }

    /// Whether more statements fit in this body.
    fn room(&self, body: &[Insn]) -> bool {
        body.len() < MAX_BODY && self.statements < MAX_STATEMENTS && !self.r.is_empty()
    }

    /// Emits statements until the bytes say stop (or the body is full).
    fn block(&mut self, out: &mut Vec<Insn>, most: usize) {
        let count = 1 + self.r.below(most);
        for _ in 0..count {
            if !self.room(out) {
                break;
            }
            self.statement(out);
        }
    }

    fn statement(&mut self, out: &mut Vec<Insn>) {
        self.statements += 1;
        match self.r.below(24) {
            0..=2 => self.alu(out),
            3 => self.stack_store(out),
            4 => self.stack_load(out),
            5..=8 => self.lookup(out),
            9 | 10 => self.pointer_access(out),
            11 => self.branch(out),
            12 => self.if_else(out),
            13 => self.bounded_loop(out),
            14 => self.local_call(out),
            15 => self.helper(out),
            16 => self.direct_value(out),
            17 => self.forged_access(out),
            18 => self.alias_access(out),
            19 => self.stack_atomic(out),
            20 => self.pointer_arithmetic(out),
            21 => self.key_from_value(out),
            22 => self.spill_pointer(out),
            _ => self.alu(out),
        }
    }

    fn alu(&mut self, out: &mut Vec<Insn>) {
        let is64 = self.r.chance(60);
        let class: u8 = if is64 { 0x07 } else { 0x04 };
        match self.r.below(12) {
            0 => {
                // NEG
                let dst = self.dst();
                out.push(Insn::new(class | 0x80, dst, 0, 0, 0));
            }
            1 => {
                // END / BSWAP
                let dst = self.dst();
                let bits = self.r.pick(&[16, 32, 64]);
                let opcode = if is64 {
                    0xd7
                } else if self.r.chance(50) {
                    0xdc
                } else {
                    0xd4
                };
                out.push(Insn::new(opcode, dst, 0, 0, bits));
            }
            2 => {
                // MOVSX
                let dst = self.dst();
                let src = self.src();
                let bits = if is64 {
                    self.r.pick(&[8, 16, 32])
                } else {
                    self.r.pick(&[8, 16])
                };
                out.push(Insn::new(class | 0xb8, dst, src, bits, 0));
            }
            3 => {
                // signed division or modulo
                let dst = self.dst();
                let op = self.r.pick(&[0x30u8, 0x90]);
                if self.r.chance(50) {
                    let src = self.src();
                    out.push(Insn::new(class | op | 0x08, dst, src, 1, 0));
                } else {
                    let imm = self.imm();
                    out.push(Insn::new(class | op, dst, 0, 1, imm));
                }
            }
            _ => {
                let op = self.r.pick(&[
                    0x00u8, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0,
                ]);
                let dst = self.dst();
                if self.r.chance(50) {
                    let src = self.src();
                    out.push(Insn::new(class | op | 0x08, dst, src, 0, 0));
                } else {
                    let imm = self.imm();
                    out.push(Insn::new(class | op, dst, 0, 0, imm));
                }
            }
        }
    }

    fn stack_store(&mut self, out: &mut Vec<Insn>) {
        let size = self.size();
        let off = self.stack_off(width_of(size));
        if self.r.chance(50) {
            let imm = self.imm();
            out.push(st(size, 10, off, imm));
        } else {
            let src = self.src();
            out.push(stx(size, 10, src, off));
        }
    }

    fn stack_load(&mut self, out: &mut Vec<Insn>) {
        let size = self.size();
        let off = self.stack_off(width_of(size));
        let dst = self.dst();
        out.push(ldx(size, dst, 10, off));
    }

    fn stack_atomic(&mut self, out: &mut Vec<Insn>) {
        let wide = self.r.chance(50);
        let width = if wide { 8 } else { 4 };
        let mut off = self.stack_off(width);
        if self.r.chance(99) {
            off -= off.rem_euclid(width);
        }
        let src = self.dst();
        let op = self.atomic_op();
        if op == 0xf1 {
            self.forget(0);
        }
        out.push(atomic(wide, 10, src, off, op));
    }

    fn atomic_op(&mut self) -> i32 {
        self.r
            .pick(&[0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1])
    }

    /// Writes a 4-byte key at r10 + `slot` (or leaves whatever is there).
    fn key_setup(&mut self, out: &mut Vec<Insn>, map: usize, slot: i16) {
        match self.r.below(11) {
            0 | 1 => {
                let key = self.key(map);
                let reg = self.dst();
                out.push(Insn::new(0xb4, reg, 0, 0, key));
                out.push(stx(W, 10, reg, slot));
            }
            2 => {
                let key = self.key(map);
                out.push(st(W, 10, slot, key));
            }
            3 => {
                // run-time key from the input memory, maybe masked
                let reg = self.dst();
                let at = (self.r.below(INPUT_LEN - 3)) as i16;
                out.push(ldx(W, reg, R_INPUT, at));
                if self.r.chance(70) {
                    let mask = self.r.pick(&[1, 3, 7, 15]);
                    out.push(Insn::new(0x54, reg, 0, 0, mask));
                }
                out.push(stx(W, 10, reg, slot));
            }
            4 => {
                // run-time key from the random generator
                out.push(call(7));
                self.forget_args();
                self.forget(0);
                out.push(Insn::new(0x54, 0, 0, 0, 7));
                out.push(stx(W, 10, 0, slot));
            }
            5 => {
                // byte by byte, or an 8-byte store around it
                let key = self.key(map).to_le_bytes();
                if (-508..=-8).contains(&slot) && self.r.chance(50) {
                    let reg = self.dst();
                    let low = self.r.u32();
                    let value = (u64::from(u32::from_le_bytes(key)) << 32) | u64::from(low);
                    out.extend(lddw_u64(reg, value));
                    out.push(stx(DW, 10, reg, slot - 4));
                } else {
                    for (i, byte) in key.iter().enumerate() {
                        out.push(st(B, 10, slot + i as i16, i32::from(*byte)));
                    }
                }
            }
            6 => {
                // through a copy of r10
                let key = self.key(map);
                let reg = self.dst();
                out.push(mov64(reg, 10));
                out.push(add64_imm(reg, i32::from(slot)));
                out.push(st(W, reg, 0, key));
            }
            7 => {
                // through a constant stack address (frame 0's when in main)
                let key = self.key(map);
                let reg = self.dst();
                let top = FRAME0_TOP - 512 * self.func.min(1) as u64;
                out.extend(lddw_u64(reg, top.wrapping_add_signed(i64::from(slot))));
                out.push(st(W, reg, 0, key));
            }
            9 => {
                // a different constant on each path
                let (a, b) = (self.key(map), self.key(map));
                let cond = self.condition(2);
                out.push(cond);
                out.push(st(W, 10, slot, a));
                out.push(ja(1));
                out.push(st(W, 10, slot, b));
            }
            8 if !self.counters.is_empty() => {
                let counter = *self.counters.last().expect("not empty");
                out.push(stx(W, 10, counter, slot));
            }
            _ => {}
        }
        if self.r.chance(10) {
            // overwrite one key byte afterwards
            let byte = self.r.below(4) as i16;
            let value = i32::from(self.r.u8() % 4);
            out.push(st(B, 10, slot + byte, value));
        }
    }

    /// `r1 = map` directly, through a copy kept in r7..r9, or on one path
    /// only (another map, or the same one, on the other).
    fn map_handle(&mut self, out: &mut Vec<Insn>, map: usize) {
        match self.r.below(10) {
            0..=6 => out.extend(lddw(1, 5, map as i32, 0)),
            7 | 8 => {
                let keep = self.r.pick(&[7u8, 8, 9]);
                if self.reserved & (1 << keep) != 0 {
                    out.extend(lddw(1, 5, map as i32, 0));
                    return;
                }
                self.forget(keep);
                out.extend(lddw(keep, 5, map as i32, 0));
                if self.r.chance(30) {
                    // something in between that may or may not touch it
                    self.alu(out);
                }
                out.push(mov64(1, keep));
            }
            _ => {
                let other = self.map();
                let cond = self.condition(3);
                out.push(cond);
                out.extend(lddw(1, 5, map as i32, 0));
                out.push(ja(2));
                out.extend(lddw(1, 5, other as i32, 0));
            }
        }
    }

    /// A lookup in the clang shape, its NULL test and accesses through r0.
    fn lookup(&mut self, out: &mut Vec<Insn>) {
        let map = self.map();
        let slot = self.key_slot();
        if !self.recent_slots.contains(&slot) {
            self.recent_slots.push(slot);
        }
        self.key_setup(out, map, slot);
        let map_first = self.r.chance(25);
        if map_first {
            out.extend(lddw(1, 5, map as i32, 0));
        }
        match self.r.below(5) {
            0..=2 => {
                out.push(mov64(2, 10));
                out.push(add64_imm(2, i32::from(slot)));
            }
            3 => {
                out.push(mov64(2, 10));
                out.push(Insn::new(0x17, 2, 0, 0, -i32::from(slot)));
            }
            _ => {
                let reg = self.dst();
                if reg != 1 || !map_first {
                    out.push(mov64(reg, 10));
                    out.push(add64_imm(reg, i32::from(slot)));
                    out.push(mov64(2, reg));
                } else {
                    out.push(mov64(2, 10));
                    out.push(add64_imm(2, i32::from(slot)));
                }
            }
        }
        if !map_first {
            self.map_handle(out, map);
        }
        if self.r.chance(12) {
            // callx of helper 1 (the generic path)
            let reg = self.r.pick(&[3u8, 4, 5]);
            out.push(mov64_imm(reg, 1));
            out.push(Insn::new(0x8d, reg, 0, 0, 0));
        } else {
            out.push(call(1));
        }
        self.forget_args();
        self.forget(0);
        self.null_tested_accesses(out, 0, map);
    }

    /// `if reg == 0 goto skip; accesses through reg` in one of several shapes.
    fn null_tested_accesses(&mut self, out: &mut Vec<Insn>, reg: u8, map: usize) {
        if reg == 0 && self.r.chance(40) {
            // keep a copy (NULL or not) in a callee-saved register
            let saved = self.r.pick(&[7u8, 8, 9]);
            if self.reserved & (1 << saved) == 0 {
                out.push(mov64(saved, 0));
                self.forget(saved);
                self.pointers.push(Pointer { reg: saved, map });
            }
        }
        let mut body = Vec::new();
        let count = 1 + self.r.below(3);
        for _ in 0..count {
            self.access(&mut body, reg, map);
        }
        let len = offset_of(body.len());
        match self.r.below(32) {
            0..=23 => out.push(jeq_imm(reg, 0, len)),
            24..=29 => {
                // if reg != 0 goto use; goto end
                out.push(jne_imm(reg, 0, 1));
                out.push(ja(len));
            }
            30 => out.push(Insn::new(0x16, reg, 0, len, 0)), // jeq32
            _ => {}                                          // no test: NULL faults
        }
        out.extend(body);
    }

    /// One load, store or atomic through `reg`, believed to point into `map`.
    fn access(&mut self, out: &mut Vec<Insn>, reg: u8, map: usize) {
        let size = self.size();
        let width = i64::from(width_of(size));
        let elem = self.elem_size(map);
        let off = match self.r.u16() % 400 {
            0..=397 => {
                let room = (elem - width).max(0);
                let off = self.r.u16() as i64 % (room + 1);
                if self.r.chance(90) {
                    off - off % width
                } else {
                    off
                }
            }
            398 => {
                elem * i64::from(self.maps[map].def.max_entries) - width + self.r.below(3) as i64
            }
            _ => -(self.r.below(9) as i64),
        };
        let off = off.clamp(-32768, 32767) as i16;
        match self.r.below(8) {
            0..=2 => {
                let dst = self.dst_except(reg);
                let signed = self.r.chance(20) && size != DW;
                let opcode = if signed { 0x81 | size } else { 0x61 | size };
                out.push(Insn::new(opcode, dst, reg, off, 0));
            }
            3 | 4 => {
                let imm = self.imm();
                out.push(st(size, reg, off, imm));
            }
            5 => {
                let src = self.src();
                out.push(stx(size, reg, src, off));
            }
            _ => {
                let wide = self.r.chance(50);
                let op = self.atomic_op();
                let src = self.dst_except(reg);
                if op == 0xf1 && reg == 0 {
                    let src = self.src();
                    out.push(stx(size, reg, src, off));
                    return;
                }
                if op == 0xf1 {
                    self.forget(0);
                }
                let width = if wide { 8 } else { 4 };
                let off = if self.r.chance(99) {
                    off - off.rem_euclid(width)
                } else {
                    off
                };
                out.push(atomic(wide, reg, src, off, op));
            }
        }
    }

    fn pointer_access(&mut self, out: &mut Vec<Insn>) {
        if self.pointers.is_empty() {
            return self.lookup(out);
        }
        let p = self.pointers[self.r.below(self.pointers.len())];
        self.null_tested_accesses(out, p.reg, p.map);
    }

    fn pointer_arithmetic(&mut self, out: &mut Vec<Insn>) {
        if self.pointers.is_empty() {
            return self.lookup(out);
        }
        let p = self.pointers[self.r.below(self.pointers.len())];
        let before = self.pointers.clone();
        let reg = self.dst();
        let entries = self.maps[p.map].def.max_entries as usize;
        let mut delta = (self.r.below(entries) as i64) * self.elem_size(p.map);
        if self.r.chance(5) {
            delta -= 1;
        }
        let mut body = vec![mov64(reg, p.reg), add64_imm(reg, delta as i32)];
        self.null_tested_accesses(&mut body, reg, p.map);
        out.push(jeq_imm(p.reg, 0, offset_of(body.len())));
        out.extend(body);
        self.join_pointers(&before);
    }

    /// A key copied from a map value into the stack, then a lookup with it.
    fn key_from_value(&mut self, out: &mut Vec<Insn>) {
        if let Some(p) = self.pointers.first().copied() {
            let reg = self.dst();
            let mut body = vec![ldx(W, reg, p.reg, 0)];
            let slot = self.r.pick(&KEY_SLOTS);
            body.push(stx(W, 10, reg, slot));
            out.push(jeq_imm(p.reg, 0, offset_of(body.len())));
            out.extend(body);
        }
        self.lookup(out);
    }

    /// A copy of r10 (or of a map pointer) spilled to the stack and reloaded.
    fn spill_pointer(&mut self, out: &mut Vec<Insn>) {
        let spill = self.r.pick(&[-8i16, -16, -24, -40]);
        let reg = self.dst();
        let slot = self.key_slot();
        out.push(mov64(reg, 10));
        out.push(add64_imm(reg, i32::from(slot)));
        out.push(stx(DW, 10, reg, spill));
        let back = self.dst();
        out.push(ldx(DW, back, 10, spill));
        if self.r.chance(50) {
            let value = self.imm();
            out.push(st(W, back, 0, value));
        } else {
            let dst = self.dst();
            out.push(ldx(W, dst, back, 0));
        }
    }

    /// `lddw reg, map_idx_value` and accesses behind its (decided) NULL test.
    fn direct_value(&mut self, out: &mut Vec<Insn>) {
        let map = self.map();
        let reg = self.dst();
        let offset = if self.r.chance(90) {
            0
        } else {
            self.r.below(self.value_size(map) as usize) as i32
        };
        out.extend(lddw(reg, 6, map as i32, offset));
        if offset == 0 && reg != 0 {
            self.pointers.push(Pointer { reg, map });
        }
        self.null_tested_accesses(out, reg, map);
    }

    /// Loads and stores through constant addresses of the stack or a map.
    fn forged_access(&mut self, out: &mut Vec<Insn>) {
        let reg = self.dst();
        let size = self.size();
        let width = width_of(size);
        if self.r.chance(60) {
            let off = self.stack_off(width);
            let frame = self.r.below(2) as u64;
            let address = (FRAME0_TOP - 512 * frame).wrapping_add_signed(i64::from(off));
            if self.r.chance(30) {
                // built by arithmetic instead of lddw
                out.push(mov64_imm(reg, 2));
                out.push(Insn::new(0x67, reg, 0, 0, 32));
                out.push(add64_imm(reg, (address & 0xffff_ffff) as i32));
            } else {
                out.extend(lddw_u64(reg, address));
            }
        } else {
            let map = self.map();
            let room = (self.elem_size(map) * i64::from(self.maps[map].def.max_entries)
                - i64::from(width))
            .max(0);
            let off = self.r.u16() as i64 % (room + 1);
            out.extend(lddw_u64(reg, map_start(map) + off as u64));
        }
        match self.r.below(3) {
            0 => {
                let dst = self.dst_except(reg);
                out.push(ldx(size, dst, reg, 0));
            }
            1 => {
                let imm = self.imm();
                out.push(st(size, reg, 0, imm));
            }
            _ => {
                let src = self.src();
                out.push(stx(size, reg, src, 0));
            }
        }
    }

    /// Stores and loads through a copy of r10 plus a constant.
    fn alias_access(&mut self, out: &mut Vec<Insn>) {
        let reg = self.dst();
        let slot = self.key_slot();
        out.push(mov64(reg, 10));
        out.push(add64_imm(reg, i32::from(slot)));
        let size = self.size();
        let width = width_of(size);
        // keep [slot + off, slot + off + width) inside the frame
        let mut off = -(self.r.below(8) as i16);
        if slot + off + width > 0 {
            off = -(slot + width);
        }
        if slot + off < -512 {
            off = -512 - slot;
        }
        match self.r.below(3) {
            0 => {
                let dst = self.dst_except(reg);
                out.push(ldx(size, dst, reg, off));
            }
            1 => {
                let imm = self.imm();
                out.push(st(size, reg, off, imm));
            }
            _ => {
                let src = self.src();
                out.push(stx(size, reg, src, off));
            }
        }
    }

    fn condition(&mut self, skip: i16) -> Insn {
        let op = self.r.pick(&[
            0x10u8, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0,
        ]);
        let class: u8 = if self.r.chance(70) { 0x05 } else { 0x06 };
        let dst = self.src();
        if self.r.chance(50) {
            let src = self.src();
            Insn::new(class | op | 0x08, dst, src, skip, 0)
        } else {
            let imm = self.imm();
            Insn::new(class | op, dst, 0, skip, imm)
        }
    }

    /// Keeps only the pointer beliefs both `before` and now agree on.
    fn join_pointers(&mut self, before: &[Pointer]) {
        self.pointers.retain(|p| before.contains(p));
    }

    fn branch(&mut self, out: &mut Vec<Insn>) {
        if self.depth >= MAX_DEPTH {
            return self.alu(out);
        }
        let before = self.pointers.clone();
        self.depth += 1;
        let mut body = Vec::new();
        self.block(&mut body, 3);
        self.depth -= 1;
        let cond = self.condition(offset_of(body.len()));
        out.push(cond);
        out.extend(body);
        self.join_pointers(&before);
    }

    fn if_else(&mut self, out: &mut Vec<Insn>) {
        if self.depth >= MAX_DEPTH {
            return self.alu(out);
        }
        let before = self.pointers.clone();
        self.depth += 1;
        let mut then = Vec::new();
        self.block(&mut then, 3);
        let after_then = self.pointers.clone();
        self.pointers = before.clone();
        let mut otherwise = Vec::new();
        self.block(&mut otherwise, 3);
        self.depth -= 1;
        then.push(ja(offset_of(otherwise.len())));
        let cond = self.condition(offset_of(then.len()));
        out.push(cond);
        out.extend(then);
        out.extend(otherwise);
        self.join_pointers(&after_then);
        self.join_pointers(&before);
    }

    fn bounded_loop(&mut self, out: &mut Vec<Insn>) {
        let free: Vec<u8> = [8u8, 9]
            .into_iter()
            .filter(|&r| self.reserved & (1 << r) == 0)
            .collect();
        if self.depth >= MAX_DEPTH || free.is_empty() {
            return self.alu(out);
        }
        let counter = self.r.pick(&free);
        self.forget(counter);
        let trips = 1 + self.r.below(5) as i32;
        let before = self.pointers.clone();
        self.depth += 1;
        self.reserved |= 1 << counter;
        self.counters.push(counter);
        let mut body = Vec::new();
        self.block(&mut body, 4);
        self.counters.pop();
        self.reserved &= !(1 << counter);
        self.depth -= 1;
        out.push(mov64_imm(counter, trips));
        let len = body.len();
        out.extend(body);
        out.push(add64_imm(counter, -1));
        out.push(jne_imm(counter, 0, -offset_of(len + 2)));
        self.join_pointers(&before);
    }

    fn local_call(&mut self, out: &mut Vec<Insn>) {
        if self.func >= self.subprograms {
            return self.helper(out);
        }
        let callee = self.func + 1 + self.r.below(self.subprograms - self.func);
        let slot = self.r.pick(&KEY_SLOTS);
        out.push(mov64(1, 10));
        out.push(add64_imm(1, i32::from(slot)));
        let arg = self.imm();
        out.push(mov64_imm(2, arg));
        out.push(call_local_placeholder(callee));
        // The callee may leave anything in r0..r5; the VM restores r6..r9.
        self.forget_args();
        self.forget(0);
    }

    fn helper(&mut self, out: &mut Vec<Insn>) {
        match self.r.below(6) {
            0 | 1 => {
                // update: key and value on the stack
                let map = self.map();
                let key_slot = self.r.pick(&KEY_SLOTS);
                if self.r.chance(60) {
                    let key = self.key(map);
                    out.push(st(W, 10, key_slot, key));
                }
                let value_size = self.elem_size(map) as i16;
                let value_off = -value_size - 8 * self.r.below(8) as i16;
                let value_off = value_off.max(-512);
                out.extend(lddw(1, 5, map as i32, 0));
                out.push(mov64(2, 10));
                out.push(add64_imm(2, i32::from(key_slot)));
                out.push(mov64(3, 10));
                out.push(add64_imm(3, i32::from(value_off)));
                let flags = self.r.below(4) as i32;
                out.push(mov64_imm(4, flags));
                out.push(call(2));
            }
            2 => {
                let map = self.map();
                let key_slot = self.r.pick(&KEY_SLOTS);
                out.extend(lddw(1, 5, map as i32, 0));
                out.push(mov64(2, 10));
                out.push(add64_imm(2, i32::from(key_slot)));
                out.push(call(3));
            }
            3 => out.push(call(7)),
            4 => out.push(call(8)),
            _ => out.push(call(5)),
        }
        self.forget_args();
        self.forget(0);
    }

    /// r0 = a mix of r0..r9 (except r6, the input pointer); sometimes of the
    /// whole stack frame too.
    fn epilogue(&mut self, out: &mut Vec<Insn>) {
        if self.r.chance(75) {
            for reg in [1u8, 2, 3, 4, 5, 7, 8, 9] {
                out.push(Insn::new(0x27, 0, 0, 0, 0x0100_0193));
                out.push(Insn::new(0xaf, 0, reg, 0, 0));
            }
        }
        if self.r.chance(30) {
            out.push(mov64(1, 10));
            out.push(add64_imm(1, -512));
            out.push(mov64_imm(2, 64));
            out.push(mov64_imm(3, 0));
            out.push(ldx(DW, 4, 1, 0));
            out.push(Insn::new(0x27, 3, 0, 0, 31));
            out.push(Insn::new(0xaf, 3, 4, 0, 0));
            out.push(add64_imm(1, 8));
            out.push(add64_imm(2, -1));
            out.push(jne_imm(2, 0, -6));
            out.push(Insn::new(0xaf, 0, 3, 0, 0));
        }
        out.push(exit());
    }

    /// A subprogram: it may first use the caller's pointer in r1.
    fn subprogram(&mut self, func: usize) -> Vec<Insn> {
        self.func = func;
        self.pointers.clear();
        self.statements = 0;
        let mut body = Vec::new();
        if !CALLEES_MAY_READ_R0 {
            body.push(mov64_imm(0, i32::from(self.r.u8())));
        }
        if self.r.chance(60) {
            match self.r.below(4) {
                0 => body.push(st(W, 1, 0, self.r.u8() as i32 % 4)),
                1 => body.push(stx(W, 1, 2, 0)),
                2 => body.push(atomic(false, 1, 2, 0, 0)),
                _ => body.push(ldx(W, 0, 1, 0)),
            }
        }
        self.block(&mut body, 8);
        body.push(exit());
        body
    }
}

/// Lays out the functions one after the other and patches local calls.
fn layout(functions: Vec<Vec<Insn>>) -> Vec<Insn> {
    let mut starts = Vec::with_capacity(functions.len());
    let mut at = 0usize;
    for f in &functions {
        starts.push(at);
        at += f.len();
    }
    let mut insns = Vec::with_capacity(at);
    for f in functions {
        for insn in f {
            let pc = insns.len();
            if insn.opcode == 0x85 && insn.src == 1 {
                let callee = starts[insn.imm as usize];
                let rel = callee as i64 - (pc as i64 + 1);
                insns.push(Insn::new(0x85, 0, 1, 0, rel as i32));
            } else {
                insns.push(insn);
            }
        }
    }
    insns
}

/// Generates a valid program (with its maps, input and run count) from fuzz bytes.
pub fn generate(data: &[u8]) -> Generated {
    let mut r = Reader::new(data);
    let map_count = 1 + r.below(3);
    let maps = (0..map_count)
        .map(|_| {
            let value_size = r.pick(&[4u32, 8, 8, 12, 16, 16, 20, 24, 32, 64, 1, 3, 6]);
            let max_entries = 1 + r.below(8) as u32;
            let flags = if r.chance(3) { BPF_F_RDONLY_PROG } else { 0 };
            MapSpec {
                def: MapDef::array(value_size, max_entries).with_flags(flags),
                fill: r.u8(),
            }
        })
        .collect();
    let input = crate::fill_bytes(r.u8() | 1, INPUT_LEN);
    let runs = 1 + r.below(3);
    let subprograms = r.below(4);
    let mut g = Gen {
        r: &mut r,
        maps,
        subprograms,
        func: 0,
        reserved: 1 << R_INPUT,
        counters: Vec::new(),
        pointers: Vec::new(),
        depth: 0,
        statements: 0,
        recent_slots: Vec::new(),
    };
    let mut main = vec![mov64(R_INPUT, 1)];
    g.block(&mut main, MAX_STATEMENTS);
    g.epilogue(&mut main);
    let mut functions = vec![main];
    for func in 1..=subprograms {
        functions.push(g.subprogram(func));
    }
    let maps = g.maps;
    Generated {
        insns: layout(functions),
        maps,
        input,
        runs,
    }
}
