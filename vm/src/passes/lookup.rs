//! What can be proven about a linked program's `bpf_map_lookup_elem` calls.
//!
//! A forward abstract interpretation over basic blocks (worklist, lowest
//! address first; every call target starts with a fresh frame). Each register
//! holds a value of a flat lattice: unreached < {constant, `r10 + k`, map `m`'s
//! handle, pointer into map `m`'s values (NULL / non-NULL / maybe)} < unknown;
//! each of the frame's 512 stack bytes is a known byte or unknown. Paths join by
//! keeping only what all agree on, so a block's entry state only loses facts
//! (after 16 losses it becomes "all unknown"): the fixpoint costs time linear in
//! the program. Sound because every transfer over-approximates the VM: stores
//! that might reach the stack, local calls, callx and helpers that may write
//! memory forget the stack bytes; anything not proven keeps the helper call.

use tinybpf_maps::ArrayMap;

use crate::exec::helpers::Helpers;
use crate::exec::memory::{FRAME_SIZE, map_value_start};
use crate::ir::alu as ir_alu;
use crate::ir::op::Op;
use crate::isa::insn::{Insn, alu, atomic, class, jmp, mode, opcode, pseudo, size, source};
use crate::passes::pipeline::Env;

/// What the analysis proved about the program's array-map lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupRewrite {
    /// `call 1` at `pc`: r1 is map `map` on every path and r2 points to 4
    /// bytes of the current stack frame holding `key` on every path. The key
    /// may be `>= max_entries` (the lookup then always returns NULL).
    ConstKey {
        /// Slot of the `call`.
        pc: usize,
        /// Map index.
        map: usize,
        /// The key, read little-endian.
        key: u32,
    },
    /// `call 1` at `pc`: r1 is map `map` on every path, the key is not
    /// known: the lookup may be inlined as a bounds check plus arithmetic
    /// (reading the 4 key bytes at r2 exactly as the helper does).
    RuntimeKey {
        /// Slot of the `call`.
        pc: usize,
        /// Map index.
        map: usize,
    },
    /// `if rX == 0` / `if rX != 0` at `pc` (64-bit, immediate 0; or the
    /// 32-bit form for a proven NULL) whose outcome is the same on every
    /// path: rX is, on every path, a map-value pointer proven non-NULL (the
    /// result of an in-range constant-key lookup, or a global-data address)
    /// or proven NULL (an out-of-range constant-key lookup). `taken` says
    /// whether the jump is always taken (`true`) or never taken (`false`).
    NullTestDecided {
        /// Slot of the conditional jump.
        pc: usize,
        /// Whether the jump is always taken.
        taken: bool,
    },
}

impl LookupRewrite {
    /// The slot the finding is about.
    pub fn pc(&self) -> usize {
        match *self {
            LookupRewrite::ConstKey { pc, .. }
            | LookupRewrite::RuntimeKey { pc, .. }
            | LookupRewrite::NullTestDecided { pc, .. } => pc,
        }
    }
}

/// Analyses `insns` (linked slots, as the loader hands them to the VM) with
/// the map table `maps`, assuming helpers 1, 2 and 3 are tinybpf's built-in
/// implementations. Returns the findings sorted by `pc`.
///
/// Never panics and always terminates; on input it does not understand it
/// returns fewer findings (possibly none).
///
/// ```
/// use tinybpf_maps::{ArrayMap, MapDef};
/// use tinybpf_vm::passes::lookup::{LookupRewrite, plan_lookup_rewrites};
/// use tinybpf_vm::isa::insn::Insn;
/// let maps = [ArrayMap::new(MapDef::array(8, 4)).unwrap()];
/// let insns = [
///     Insn::new(0xb7, 1, 0, 0, 2),   // r1 = 2
///     Insn::new(0x63, 10, 1, -4, 0), // *(u32 *)(r10 - 4) = r1
///     Insn::new(0xbf, 2, 10, 0, 0),  // r2 = r10
///     Insn::new(0x07, 2, 0, 0, -4),  // r2 += -4
///     Insn::new(0x18, 1, 5, 0, 0),   // r1 = map 0 ll
///     Insn::new(0, 0, 0, 0, 0),
///     Insn::new(0x85, 0, 0, 0, 1),   // call 1
///     Insn::new(0x95, 0, 0, 0, 0),   // exit
/// ];
/// assert_eq!(
///     plan_lookup_rewrites(&insns, &maps),
///     vec![LookupRewrite::ConstKey { pc: 6, map: 0, key: 2 }]
/// );
/// ```
pub fn plan_lookup_rewrites(insns: &[Insn], maps: &[ArrayMap]) -> Vec<LookupRewrite> {
    plan_lookup_rewrites_with(insns, maps, &|id| matches!(id, 1..=3))
}

/// As [`plan_lookup_rewrites`], for the helpers of `registry`: a helper's
/// known behaviour (helper 1 looks up without writing memory, helpers 2 and 3
/// do not write the stack) is assumed only when it is the built-in one. With
/// a replaced helper 1 nothing is proven.
pub fn plan_lookup_rewrites_for(
    insns: &[Insn],
    maps: &[ArrayMap],
    registry: &Helpers,
) -> Vec<LookupRewrite> {
    plan_lookup_rewrites_with(insns, maps, &|id| {
        registry.get(id).is_some_and(|helper| helper.builtin)
    })
}

fn plan_lookup_rewrites_with(
    insns: &[Insn],
    maps: &[ArrayMap],
    is_builtin: &dyn Fn(u32) -> bool,
) -> Vec<LookupRewrite> {
    let Some(steps) = decode(insns, maps) else {
        return Vec::new();
    };
    let helpers = HelperModel {
        lookup: is_builtin(1),
        update: is_builtin(2),
        delete: is_builtin(3),
    };
    let mut analysis = Analysis::new(steps, maps, helpers);
    analysis.solve();
    let mut found = analysis.findings();
    found.sort_by_key(LookupRewrite::pc);
    found
}

/// How many times a block's entry state may lose facts before it is set to
/// "all unknown" (which bounds the work per block).
const MAX_ENTRY_CHANGES: u32 = 16;

/// Number of registers (r0..r10).
const REGS: usize = 11;

/// Which helpers behave as tinybpf's built-ins.
#[derive(Clone, Copy)]
struct HelperModel {
    lookup: bool,
    update: bool,
    delete: bool,
}

impl HelperModel {
    /// Whether helper `id` is known to leave the caller's stack untouched.
    fn preserves_stack(&self, id: u32) -> bool {
        match id {
            1 => self.lookup,
            2 => self.update,
            3 => self.delete,
            _ => false,
        }
    }
}

/// Whether a map-value pointer may be NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nullness {
    NonNull,
    Null,
    Maybe,
}

/// The abstract value of one register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    /// Anything.
    Unknown,
    /// Exactly this number.
    Const(u64),
    /// The current frame's r10 plus this (wrapping) offset.
    StackPtr(i64),
    /// The handle of map `index` (what `lddw src 1/5` loads).
    MapHandle(usize),
    /// 0 (if `null` allows) or an address inside map `map`'s value area.
    MapValue { map: usize, null: Nullness },
}

impl Val {
    fn join(self, other: Val) -> Val {
        match (self, other) {
            (a, b) if a == b => a,
            (Val::MapValue { map: a, .. }, Val::MapValue { map: b, .. }) if a == b => {
                Val::MapValue {
                    map: a,
                    null: Nullness::Maybe,
                }
            }
            _ => Val::Unknown,
        }
    }
}

/// The known bytes of the current frame, by index `offset + 512`, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct StackBytes {
    known: Vec<(u16, u8)>,
}

impl StackBytes {
    /// The frame index of the byte at `offset` from r10, if inside the frame.
    fn index(offset: i64) -> Option<u16> {
        let index = offset.checked_add(FRAME_SIZE as i64)?;
        if (0..FRAME_SIZE as i64).contains(&index) {
            u16::try_from(index).ok()
        } else {
            None
        }
    }

    fn get(&self, index: u16) -> Option<u8> {
        self.known
            .binary_search_by_key(&index, |&(i, _)| i)
            .ok()
            .map(|at| self.known[at].1)
    }

    fn set(&mut self, index: u16, byte: Option<u8>) {
        match (self.known.binary_search_by_key(&index, |&(i, _)| i), byte) {
            (Ok(at), Some(b)) => self.known[at].1 = b,
            (Ok(at), None) => {
                self.known.remove(at);
            }
            (Err(at), Some(b)) => self.known.insert(at, (index, b)),
            (Err(_), None) => {}
        }
    }

    /// Keeps only the bytes `other` knows with the same value; true if any was lost.
    fn join_into(&mut self, other: &StackBytes) -> bool {
        let before = self.known.len();
        let mut theirs = other.known.iter().peekable();
        self.known.retain(|&(index, byte)| {
            while theirs.next_if(|&&(i, _)| i < index).is_some() {}
            theirs.peek() == Some(&&(index, byte))
        });
        self.known.len() != before
    }
}

/// The abstract state at one program point.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    regs: [Val; REGS],
    stack: StackBytes,
}

impl State {
    /// A function's entry (also the top element): nothing known but r10.
    fn entry() -> State {
        let mut regs = [Val::Unknown; REGS];
        regs[10] = Val::StackPtr(0);
        State {
            regs,
            stack: StackBytes::default(),
        }
    }

    /// Joins `other` into `self`; true if `self` changed.
    fn join_into(&mut self, other: &State) -> bool {
        let mut changed = false;
        for (mine, theirs) in self.regs.iter_mut().zip(other.regs.iter()) {
            let joined = mine.join(*theirs);
            if joined != *mine {
                *mine = joined;
                changed = true;
            }
        }
        self.stack.join_into(&other.stack) || changed
    }

    fn reg(&self, r: u8) -> Val {
        self.regs
            .get(usize::from(r))
            .copied()
            .unwrap_or(Val::Unknown)
    }

    fn set_reg(&mut self, r: u8, value: Val) {
        if let Some(slot) = self.regs.get_mut(usize::from(r)) {
            *slot = value;
        }
    }

    /// What a call leaves: r0..r5 unknown.
    fn clobber_args(&mut self) {
        for slot in &mut self.regs[..6] {
            *slot = Val::Unknown;
        }
    }

    /// The effect on the current frame of writing `width` bytes at `base + off`,
    /// with `bytes` (little-endian) when known.
    fn write_memory(&mut self, base: Val, off: i16, width: usize, bytes: Option<u64>) {
        match base {
            Val::StackPtr(k) => {
                let start = k.wrapping_add(i64::from(off));
                for i in 0..width {
                    // `i < 8`, so the conversion is exact.
                    let offset = start.wrapping_add(i as i64);
                    if let Some(index) = StackBytes::index(offset) {
                        let byte = bytes.map(|v| v.to_le_bytes()[i]);
                        self.stack.set(index, byte);
                    }
                }
            }
            // Map handles, map values and NULL (plus a 16-bit offset) lie far
            // from the stack region; see `tests::map_pointers_never_reach_the_stack`.
            Val::MapHandle(_) | Val::MapValue { .. } => {}
            // Unknown pointers (a spilled stack pointer, say) and constants
            // (which could be stack addresses) may hit any byte.
            Val::Unknown | Val::Const(_) => self.stack = StackBytes::default(),
        }
    }

    /// The value `width` bytes at `base + off` are known to hold.
    fn read_memory(&self, base: Val, off: i16, width: usize) -> Option<u64> {
        let Val::StackPtr(k) = base else {
            return None;
        };
        let start = k.wrapping_add(i64::from(off));
        let mut bytes = [0u8; 8];
        for (i, byte) in bytes.iter_mut().enumerate().take(width) {
            let index = StackBytes::index(start.wrapping_add(i as i64))?;
            *byte = self.stack.get(index)?;
        }
        Some(u64::from_le_bytes(bytes))
    }
}

/// The source operand of a store.
#[derive(Debug, Clone, Copy)]
enum Operand {
    Imm(i32),
    Reg(u8),
}

/// A conditional jump that is a NULL test: `if reg ==/!= 0`.
#[derive(Debug, Clone, Copy)]
struct NullTest {
    reg: u8,
    is32: bool,
    jumps_if_nonzero: bool,
}

/// One slot, decoded and checked.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The second slot of an `lddw`.
    Tail,
    Alu(Insn),
    Lddw {
        dst: u8,
        value: Val,
    },
    Load {
        dst: u8,
        base: u8,
        off: i16,
        width: usize,
        signed: bool,
    },
    Store {
        base: u8,
        off: i16,
        width: usize,
        value: Operand,
    },
    Atomic {
        base: u8,
        off: i16,
        width: usize,
        old_into: Option<u8>,
    },
    Ja {
        target: usize,
    },
    Cond {
        target: usize,
        null_test: Option<NullTest>,
    },
    Helper {
        id: u32,
    },
    Local {
        target: usize,
    },
    CallReg,
    Exit,
}

impl Step {
    /// Whether execution may continue with the next slot.
    fn falls_through(&self) -> bool {
        !matches!(self, Step::Ja { .. } | Step::Exit | Step::Tail)
    }
}

/// Decodes every slot; `None` when anything is outside what the analysis models.
fn decode(insns: &[Insn], maps: &[ArrayMap]) -> Option<Vec<Step>> {
    if insns.is_empty() {
        return None;
    }
    let mut tail = vec![false; insns.len()];
    let mut pc = 0;
    while pc < insns.len() {
        if insns[pc].is_lddw() {
            *tail.get_mut(pc + 1)? = true;
            pc += 2;
        } else {
            pc += 1;
        }
    }
    let target = |pc: usize, offset: i64| -> Option<usize> {
        let t = i64::try_from(pc)
            .ok()?
            .checked_add(1)?
            .checked_add(offset)?;
        let t = usize::try_from(t).ok()?;
        (t < insns.len() && !tail[t]).then_some(t)
    };
    let mut steps = Vec::with_capacity(insns.len());
    for (pc, insn) in insns.iter().enumerate() {
        let step = if tail[pc] {
            Step::Tail
        } else {
            decode_one(pc, insn, insns, maps, &target)?
        };
        let width = if insn.is_lddw() { 2 } else { 1 };
        if step.falls_through() && pc + width >= insns.len() {
            return None;
        }
        steps.push(step);
    }
    Some(steps)
}

fn decode_one(
    pc: usize,
    insn: &Insn,
    insns: &[Insn],
    maps: &[ArrayMap],
    target: &dyn Fn(usize, i64) -> Option<usize>,
) -> Option<Step> {
    let writable = |r: u8| r <= 9;
    let readable = |r: u8| r <= 10;
    match insn.class() {
        class::ALU | class::ALU64 => {
            let by_reg = insn.source() == source::X;
            let ok = writable(insn.dst)
                && insn.operation() <= alu::END
                && (!by_reg || readable(insn.src));
            ok.then_some(Step::Alu(*insn))
        }
        class::LD => {
            if insn.opcode != opcode::LDDW || !writable(insn.dst) {
                return None;
            }
            let next = insns.get(pc + 1)?;
            if next.opcode != 0 {
                return None;
            }
            let map = usize::try_from(insn.imm).ok().filter(|&m| m < maps.len());
            let value = match insn.src {
                pseudo::IMM64 => {
                    Val::Const(u64::from(insn.imm as u32) | (u64::from(next.imm as u32) << 32))
                }
                pseudo::MAP_FD | pseudo::MAP_IDX => map.map_or(Val::Unknown, Val::MapHandle),
                pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => {
                    map.map_or(Val::Unknown, |map| Val::MapValue {
                        map,
                        null: Nullness::NonNull,
                    })
                }
                _ => return None,
            };
            Some(Step::Lddw {
                dst: insn.dst,
                value,
            })
        }
        class::LDX => {
            let signed = match insn.mode() {
                mode::MEM => false,
                mode::MEMSX if insn.size() != size::DW => true,
                _ => return None,
            };
            (writable(insn.dst) && readable(insn.src)).then_some(Step::Load {
                dst: insn.dst,
                base: insn.src,
                off: insn.off,
                width: size::bytes(insn.size()),
                signed,
            })
        }
        class::ST => (insn.mode() == mode::MEM && readable(insn.dst)).then_some(Step::Store {
            base: insn.dst,
            off: insn.off,
            width: size::bytes(insn.size()),
            value: Operand::Imm(insn.imm),
        }),
        class::STX => {
            if !readable(insn.dst) || !readable(insn.src) {
                return None;
            }
            let width = size::bytes(insn.size());
            match insn.mode() {
                mode::MEM => Some(Step::Store {
                    base: insn.dst,
                    off: insn.off,
                    width,
                    value: Operand::Reg(insn.src),
                }),
                mode::ATOMIC if matches!(insn.size(), size::W | size::DW) => {
                    let old_into = match insn.imm {
                        atomic::CMPXCHG => Some(0),
                        imm if imm & atomic::FETCH != 0 => {
                            let known = matches!(
                                imm & !atomic::FETCH,
                                atomic::ADD | atomic::OR | atomic::AND | atomic::XOR
                            ) || imm == atomic::XCHG;
                            (known && writable(insn.src)).then_some(insn.src)?;
                            Some(insn.src)
                        }
                        atomic::ADD | atomic::OR | atomic::AND | atomic::XOR => None,
                        _ => return None,
                    };
                    Some(Step::Atomic {
                        base: insn.dst,
                        off: insn.off,
                        width,
                        old_into,
                    })
                }
                _ => None,
            }
        }
        // JMP and JMP32.
        _ => {
            let is32 = insn.class() == class::JMP32;
            match insn.operation() {
                jmp::JA => {
                    let offset = if is32 {
                        i64::from(insn.imm)
                    } else {
                        i64::from(insn.off)
                    };
                    Some(Step::Ja {
                        target: target(pc, offset)?,
                    })
                }
                jmp::CALL if insn.opcode == opcode::CALLX => Some(Step::CallReg),
                jmp::CALL if insn.opcode == opcode::CALL => match insn.src {
                    pseudo::CALL_HELPER => Some(Step::Helper {
                        id: u32::try_from(insn.imm).ok()?,
                    }),
                    pseudo::CALL_LOCAL => Some(Step::Local {
                        target: target(pc, i64::from(insn.imm))?,
                    }),
                    _ => None,
                },
                jmp::EXIT if insn.opcode == opcode::EXIT => Some(Step::Exit),
                jmp::CALL | jmp::EXIT | 0xe0 | 0xf0 => None,
                operation => {
                    let by_reg = insn.source() == source::X;
                    if !readable(insn.dst) || (by_reg && !readable(insn.src)) {
                        return None;
                    }
                    let null_test =
                        (!by_reg && insn.imm == 0 && matches!(operation, jmp::JEQ | jmp::JNE))
                            .then_some(NullTest {
                                reg: insn.dst,
                                is32,
                                jumps_if_nonzero: operation == jmp::JNE,
                            });
                    Some(Step::Cond {
                        target: target(pc, i64::from(insn.off))?,
                        null_test,
                    })
                }
            }
        }
    }
}

/// The outcome of a NULL test on `value`, when it is decided.
fn decide_null_test(test: NullTest, value: Val) -> Option<bool> {
    let Val::MapValue { null, .. } = value else {
        return None;
    };
    let is_zero = match null {
        Nullness::Null => true,
        // A non-NULL pointer may still have zero low 32 bits.
        Nullness::NonNull if !test.is32 => false,
        Nullness::NonNull | Nullness::Maybe => return None,
    };
    Some(is_zero != test.jumps_if_nonzero)
}

fn sign_extend(v: u64, bits: i16) -> u64 {
    ir_alu::sign_extend(v, bits as u8)
}

fn swap(v: u64, bits: i32) -> u64 {
    ir_alu::swap(v, bits as u8)
}

/// The result of an ALU instruction on abstract operands, as the VM computes it.
fn eval_alu(insn: &Insn, dst: Val, src: Val) -> Val {
    let is64 = insn.class() == class::ALU64;
    let operation = insn.operation();
    let by_reg = insn.source() == source::X;
    match operation {
        alu::MOV => {
            return match (insn.off, is64, src) {
                (0, true, v) => v,
                (0, false, Val::Const(c)) => Val::Const(c & 0xffff_ffff),
                (8 | 16 | 32, true, Val::Const(c)) if by_reg => {
                    Val::Const(sign_extend(c, insn.off))
                }
                (8 | 16, false, Val::Const(c)) if by_reg => {
                    Val::Const(sign_extend(c, insn.off) & 0xffff_ffff)
                }
                _ => Val::Unknown,
            };
        }
        alu::NEG => {
            return match (dst, by_reg, insn.off, insn.imm) {
                (Val::Const(c), false, 0, 0) if is64 => Val::Const(c.wrapping_neg()),
                (Val::Const(c), false, 0, 0) => Val::Const(u64::from((c as u32).wrapping_neg())),
                _ => Val::Unknown,
            };
        }
        alu::END => {
            let Val::Const(c) = dst else {
                return Val::Unknown;
            };
            if insn.off != 0 || !matches!(insn.imm, 16 | 32 | 64) {
                return Val::Unknown;
            }
            return match (is64, by_reg) {
                (false, false) => Val::Const(match insn.imm {
                    16 => c & 0xffff,
                    32 => c & 0xffff_ffff,
                    _ => c,
                }),
                (false, true) | (true, false) => Val::Const(swap(c, insn.imm)),
                (true, true) => Val::Unknown,
            };
        }
        _ => {}
    }
    let signed = match (operation, insn.off) {
        (_, 0) => false,
        (alu::DIV | alu::MOD, 1) => true,
        _ => return Val::Unknown,
    };
    if is64 {
        match (operation, dst, src) {
            (alu::ADD, Val::StackPtr(k), Val::Const(c))
            | (alu::ADD, Val::Const(c), Val::StackPtr(k)) => {
                return Val::StackPtr(k.wrapping_add(c as i64));
            }
            (alu::SUB, Val::StackPtr(k), Val::Const(c)) => {
                return Val::StackPtr(k.wrapping_sub(c as i64));
            }
            (alu::SUB, Val::StackPtr(a), Val::StackPtr(b)) => {
                return Val::Const(a.wrapping_sub(b) as u64);
            }
            _ => {}
        }
    }
    let (Val::Const(a), Val::Const(b)) = (dst, src) else {
        return Val::Unknown;
    };
    let value = if is64 {
        alu64(operation, signed, a, b)
    } else {
        alu32(operation, signed, a, b)
    };
    value.map_or(Val::Unknown, Val::Const)
}

fn alu64(operation: u8, signed: bool, a: u64, b: u64) -> Option<u64> {
    Some(match (operation, signed) {
        (alu::ADD, _) => ir_alu::add64(a, b),
        (alu::SUB, _) => ir_alu::sub64(a, b),
        (alu::MUL, _) => ir_alu::mul64(a, b),
        (alu::DIV, false) => ir_alu::div64(a, b),
        (alu::DIV, true) => ir_alu::sdiv64(a, b),
        (alu::MOD, false) => ir_alu::mod64(a, b),
        (alu::MOD, true) => ir_alu::smod64(a, b),
        (alu::OR, _) => ir_alu::or64(a, b),
        (alu::AND, _) => ir_alu::and64(a, b),
        (alu::XOR, _) => ir_alu::xor64(a, b),
        (alu::LSH, _) => ir_alu::lsh64(a, b),
        (alu::RSH, _) => ir_alu::rsh64(a, b),
        (alu::ARSH, _) => ir_alu::arsh64(a, b),
        _ => return None,
    })
}

fn alu32(operation: u8, signed: bool, a: u64, b: u64) -> Option<u64> {
    Some(match (operation, signed) {
        (alu::ADD, _) => ir_alu::add32(a, b),
        (alu::SUB, _) => ir_alu::sub32(a, b),
        (alu::MUL, _) => ir_alu::mul32(a, b),
        (alu::DIV, false) => ir_alu::div32(a, b),
        (alu::DIV, true) => ir_alu::sdiv32(a, b),
        (alu::MOD, false) => ir_alu::mod32(a, b),
        (alu::MOD, true) => ir_alu::smod32(a, b),
        (alu::OR, _) => ir_alu::or32(a, b),
        (alu::AND, _) => ir_alu::and32(a, b),
        (alu::XOR, _) => ir_alu::xor32(a, b),
        (alu::LSH, _) => ir_alu::lsh32(a, b),
        (alu::RSH, _) => ir_alu::rsh32(a, b),
        (alu::ARSH, _) => ir_alu::arsh32(a, b),
        _ => return None,
    })
}

/// The worklist solver over basic blocks.
struct Analysis<'a> {
    steps: Vec<Step>,
    maps: &'a [ArrayMap],
    helpers: HelperModel,
    /// First slot of each block, ascending.
    starts: Vec<usize>,
    /// Block index of each slot that starts a block.
    block_at: Vec<Option<u32>>,
    entries: Vec<Option<State>>,
    changes: Vec<u32>,
    /// How many times a block was run while solving (checked by the tests).
    block_runs: usize,
}

/// Where a block's execution goes, with the state it carries.
type Edges = Vec<(usize, State)>;

impl<'a> Analysis<'a> {
    fn new(steps: Vec<Step>, maps: &'a [ArrayMap], helpers: HelperModel) -> Self {
        let n = steps.len();
        let mut leader = vec![false; n];
        leader[0] = true;
        for (pc, step) in steps.iter().enumerate() {
            match *step {
                Step::Ja { target } | Step::Cond { target, .. } => {
                    leader[target] = true;
                    if let Some(next) = leader.get_mut(pc + 1) {
                        *next = true;
                    }
                }
                Step::Exit => {
                    if let Some(next) = leader.get_mut(pc + 1) {
                        *next = true;
                    }
                }
                Step::Local { target } => leader[target] = true,
                Step::Tail
                | Step::Alu(_)
                | Step::Lddw { .. }
                | Step::Load { .. }
                | Step::Store { .. }
                | Step::Atomic { .. }
                | Step::Helper { .. }
                | Step::CallReg => {}
            }
        }
        let starts: Vec<usize> = (0..n).filter(|&pc| leader[pc]).collect();
        let mut block_at = vec![None; n];
        for (block, &start) in starts.iter().enumerate() {
            // MAX_INSNS-sized programs have far fewer than u32::MAX blocks;
            // a larger one simply gets no index and is never entered.
            block_at[start] = u32::try_from(block).ok();
        }
        let count = starts.len();
        Analysis {
            steps,
            maps,
            helpers,
            starts,
            block_at,
            entries: vec![None; count],
            changes: vec![0; count],
            block_runs: 0,
        }
    }

    fn block_of(&self, pc: usize) -> Option<usize> {
        self.block_at.get(pc).copied().flatten().map(|b| b as usize)
    }

    fn solve(&mut self) {
        let mut work = std::collections::BTreeSet::new();
        if let Some(first) = self.block_of(0) {
            self.entries[first] = Some(State::entry());
            work.insert(first);
        }
        let mut edges = Edges::new();
        while let Some(block) = work.pop_first() {
            self.block_runs += 1;
            edges.clear();
            self.run_block(block, &mut edges, None, None);
            for (pc, state) in edges.drain(..) {
                let Some(to) = self.block_of(pc) else {
                    continue;
                };
                if self.merge(to, state) {
                    work.insert(to);
                }
            }
        }
    }

    /// Joins `state` into block `to`'s entry; true if the entry changed.
    fn merge(&mut self, to: usize, state: State) -> bool {
        match &mut self.entries[to] {
            None => {
                self.entries[to] = Some(state);
                true
            }
            Some(entry) => {
                if !entry.join_into(&state) {
                    return false;
                }
                self.changes[to] += 1;
                if self.changes[to] > MAX_ENTRY_CHANGES {
                    // Give up on this block: the top state (r10 is never
                    // written, which `decode` checked) cannot change again.
                    *entry = State::entry();
                }
                true
            }
        }
    }

    /// The findings, from one more pass over the solved entry states.
    fn findings(&mut self) -> Vec<LookupRewrite> {
        let mut found = Vec::new();
        let mut edges = Edges::new();
        for block in 0..self.starts.len() {
            edges.clear();
            self.run_block(block, &mut edges, Some(&mut found), None);
        }
        found
    }

    /// Runs block `block` from its entry state (if reached), collecting
    /// outgoing edges and, when asked, findings; stops before `stop_at` and
    /// returns the state there if asked to.
    fn run_block(
        &self,
        block: usize,
        edges: &mut Edges,
        mut found: Option<&mut Vec<LookupRewrite>>,
        stop_at: Option<usize>,
    ) -> Option<State> {
        let mut state = self.entries[block].clone()?;
        let start = self.starts[block];
        let end = self
            .starts
            .get(block + 1)
            .copied()
            .unwrap_or(self.steps.len());
        for pc in start..end {
            if stop_at == Some(pc) {
                return Some(state);
            }
            match self.steps[pc] {
                Step::Tail => {}
                Step::Alu(insn) => {
                    let src = if insn.source() == source::X {
                        state.reg(insn.src)
                    } else {
                        Val::Const(insn.imm as i64 as u64)
                    };
                    let value = eval_alu(&insn, state.reg(insn.dst), src);
                    state.set_reg(insn.dst, value);
                }
                Step::Lddw { dst, value } => state.set_reg(dst, value),
                Step::Load {
                    dst,
                    base,
                    off,
                    width,
                    signed,
                } => {
                    let value = state.read_memory(state.reg(base), off, width).map(|v| {
                        if signed {
                            sign_extend(v, (width * 8) as i16)
                        } else {
                            v
                        }
                    });
                    state.set_reg(dst, value.map_or(Val::Unknown, Val::Const));
                }
                Step::Store {
                    base,
                    off,
                    width,
                    value,
                } => {
                    let bytes = match value {
                        Operand::Imm(imm) => Some(imm as i64 as u64),
                        Operand::Reg(r) => {
                            if let Val::Const(c) = state.reg(r) {
                                Some(c)
                            } else {
                                None
                            }
                        }
                    };
                    state.write_memory(state.reg(base), off, width, bytes);
                }
                Step::Atomic {
                    base,
                    off,
                    width,
                    old_into,
                } => {
                    state.write_memory(state.reg(base), off, width, None);
                    if let Some(r) = old_into {
                        state.set_reg(r, Val::Unknown);
                    }
                }
                Step::Ja { target } => {
                    edges.push((target, state));
                    return None;
                }
                Step::Cond { target, null_test } => {
                    let decided = null_test.and_then(|t| decide_null_test(t, state.reg(t.reg)));
                    if let (Some(taken), Some(found)) = (decided, found.as_deref_mut()) {
                        found.push(LookupRewrite::NullTestDecided { pc, taken });
                    }
                    match decided {
                        Some(true) => {
                            edges.push((target, state));
                            return None;
                        }
                        Some(false) => {}
                        None => edges.push((target, state.clone())),
                    }
                }
                Step::Helper { id } => {
                    let result = if id == 1 && self.helpers.lookup {
                        self.lookup(&state, pc, found.as_deref_mut())
                    } else {
                        Val::Unknown
                    };
                    if !self.helpers.preserves_stack(id) {
                        state.stack = StackBytes::default();
                    }
                    state.clobber_args();
                    state.regs[0] = result;
                }
                Step::Local { target } => {
                    edges.push((target, State::entry()));
                    // The callee may write the caller's frame through any pointer;
                    // the VM restores r6..r10.
                    state.stack = StackBytes::default();
                    state.clobber_args();
                }
                Step::CallReg => {
                    state.stack = StackBytes::default();
                    state.clobber_args();
                }
                Step::Exit => return None,
            }
        }
        if end < self.steps.len() {
            edges.push((end, state));
        }
        None
    }

    /// The value of r0 after `call 1` at `pc`, recording what is proven.
    fn lookup(&self, state: &State, pc: usize, found: Option<&mut Vec<LookupRewrite>>) -> Val {
        let Val::MapHandle(map) = state.reg(1) else {
            return Val::Unknown;
        };
        let Some(array) = self.maps.get(map) else {
            return Val::Unknown;
        };
        let key = match state.reg(2) {
            // The 4 key bytes must lie inside the current frame.
            Val::StackPtr(k) if (-(FRAME_SIZE as i64)..=-4).contains(&k) => {
                state.read_memory(Val::StackPtr(k), 0, 4).map(|v| v as u32)
            }
            Val::StackPtr(_)
            | Val::Unknown
            | Val::Const(_)
            | Val::MapHandle(_)
            | Val::MapValue { .. } => None,
        };
        let (finding, null) = match key {
            Some(key) => {
                let null = if key < array.def().max_entries {
                    Nullness::NonNull
                } else {
                    Nullness::Null
                };
                (LookupRewrite::ConstKey { pc, map, key }, null)
            }
            None => (LookupRewrite::RuntimeKey { pc, map }, Nullness::Maybe),
        };
        if let Some(found) = found {
            found.push(finding);
        }
        Val::MapValue { map, null }
    }
}

/// One instruction the lookup rewrite changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewriteSite {
    /// Slot of the instruction in the original program.
    pub pc: usize,
    /// What it became.
    pub kind: RewriteKind,
}

/// What a rewritten instruction became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteKind {
    /// `call 1` with a constant in-range key: `r0 = address of element key of map`.
    ConstKey {
        /// Map index.
        map: usize,
        /// The key.
        key: u32,
    },
    /// `call 1` with a constant key past the end: `r0 = 0`.
    ConstKeyMissing {
        /// Map index.
        map: usize,
        /// The key.
        key: u32,
    },
    /// `call 1` with a run-time key: bounds check and arithmetic, no helper call.
    RuntimeKey {
        /// Map index.
        map: usize,
    },
    /// A NULL test of a proven non-NULL element pointer: removed.
    NullTestRemoved,
    /// A NULL test of a proven non-NULL element pointer: now an unconditional jump.
    NullTestAlwaysTaken,
}

/// The lookup rewrite: runs the analysis and applies its findings to the
/// per-slot ops; returns what changed.
pub(crate) fn rewrite_lookups(ops: &mut [Op], env: &Env<'_>) -> Vec<RewriteSite> {
    let plan = plan_lookup_rewrites_for(env.insns, env.maps, env.registry);
    let shapes = env.shapes;
    let mut sites = Vec::new();
    for rewrite in &plan {
        let (pc, new_op, kind) = match *rewrite {
            LookupRewrite::ConstKey { pc, map, key } => {
                let Some(shape) = shapes.get(map) else {
                    continue;
                };
                if u64::from(key) < shape.max_entries {
                    let imm = map_value_start(map) + u64::from(key) * shape.elem_size;
                    (
                        pc,
                        Op::LookupConst { imm },
                        RewriteKind::ConstKey { map, key },
                    )
                } else {
                    let kind = RewriteKind::ConstKeyMissing { map, key };
                    (pc, Op::LookupConst { imm: 0 }, kind)
                }
            }
            LookupRewrite::RuntimeKey { pc, map } => {
                let Ok(index) = u16::try_from(map) else {
                    continue;
                };
                if map >= shapes.len() {
                    continue;
                }
                (
                    pc,
                    Op::LookupInline { map: index },
                    RewriteKind::RuntimeKey { map },
                )
            }
            LookupRewrite::NullTestDecided { pc, taken } => {
                let Some(op) = ops.get(pc) else { continue };
                let Some(target) = op.facts().local_target() else {
                    continue;
                };
                if taken {
                    (pc, Op::Ja { target }, RewriteKind::NullTestAlwaysTaken)
                } else {
                    (pc, Op::Nop, RewriteKind::NullTestRemoved)
                }
            }
        };
        let Some(slot) = ops.get_mut(pc) else {
            continue;
        };
        let expected = match kind {
            RewriteKind::NullTestRemoved | RewriteKind::NullTestAlwaysTaken => matches!(
                slot,
                Op::JeqImm { imm: 0, .. }
                    | Op::JneImm { imm: 0, .. }
                    | Op::Jeq32Imm { imm: 0, .. }
                    | Op::Jne32Imm { imm: 0, .. }
            ),
            RewriteKind::ConstKey { .. }
            | RewriteKind::ConstKeyMissing { .. }
            | RewriteKind::RuntimeKey { .. } => *slot == Op::MapLookup,
        };
        if expected {
            *slot = new_op;
            sites.push(RewriteSite { pc, kind });
        }
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::memory::{
        FIRST_MAP_SLOT, MAP_HANDLE_BASE, STACK_SIZE, STACK_START, map_value_start,
    };
    use crate::{LoadedProgram, MAX_MAPS, ProgramOptions};
    use tinybpf_maps::MapDef;

    // ---- slot builders -------------------------------------------------

    /// `rd = imm` (64-bit)
    fn mov(rd: u8, imm: i32) -> Insn {
        Insn::new(0xb7, rd, 0, 0, imm)
    }
    /// `rd = rs` (64-bit)
    fn mov_reg(rd: u8, rs: u8) -> Insn {
        Insn::new(0xbf, rd, rs, 0, 0)
    }
    /// `rd += imm` (64-bit)
    fn add(rd: u8, imm: i32) -> Insn {
        Insn::new(0x07, rd, 0, 0, imm)
    }
    /// `*(u32 *)(rd + off) = rs`
    fn stxw(rd: u8, off: i16, rs: u8) -> Insn {
        Insn::new(0x63, rd, rs, off, 0)
    }
    /// `*(u64 *)(rd + off) = rs`
    fn stxdw(rd: u8, off: i16, rs: u8) -> Insn {
        Insn::new(0x7b, rd, rs, off, 0)
    }
    /// `*(u32 *)(rd + off) = imm`
    fn stw(rd: u8, off: i16, imm: i32) -> Insn {
        Insn::new(0x62, rd, 0, off, imm)
    }
    /// `rd = *(u64 *)(rs + off)`
    fn ldxdw(rd: u8, rs: u8, off: i16) -> Insn {
        Insn::new(0x79, rd, rs, off, 0)
    }
    /// `rd = map m ll` (two slots)
    fn ld_map(rd: u8, map: i32) -> [Insn; 2] {
        [Insn::new(0x18, rd, 5, 0, map), Insn::new(0, 0, 0, 0, 0)]
    }
    /// `rd = imm64 ll` (two slots)
    fn lddw(rd: u8, imm: u64) -> [Insn; 2] {
        [
            Insn::new(0x18, rd, 0, 0, imm as u32 as i32),
            Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }
    fn call(id: i32) -> Insn {
        Insn::new(0x85, 0, 0, 0, id)
    }
    fn call_local(imm: i32) -> Insn {
        Insn::new(0x85, 0, 1, 0, imm)
    }
    fn ja(off: i16) -> Insn {
        Insn::new(0x05, 0, 0, off, 0)
    }
    /// `if rd == imm goto +off`
    fn jeq(rd: u8, imm: i32, off: i16) -> Insn {
        Insn::new(0x15, rd, 0, off, imm)
    }
    /// `if rd != imm goto +off`
    fn jne(rd: u8, imm: i32, off: i16) -> Insn {
        Insn::new(0x55, rd, 0, off, imm)
    }
    fn exit() -> Insn {
        Insn::new(0x95, 0, 0, 0, 0)
    }

    /// Concatenates groups of slots.
    fn prog(parts: &[&[Insn]]) -> Vec<Insn> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    fn array(value_size: u32, max_entries: u32) -> ArrayMap {
        ArrayMap::new(MapDef::array(value_size, max_entries)).unwrap()
    }

    fn maps4() -> Vec<ArrayMap> {
        vec![array(8, 4), array(16, 2)]
    }

    fn plan(insns: &[Insn]) -> Vec<LookupRewrite> {
        plan_lookup_rewrites(insns, &maps4())
    }

    fn const_key(pc: usize, map: usize, key: u32) -> LookupRewrite {
        LookupRewrite::ConstKey { pc, map, key }
    }
    fn runtime_key(pc: usize, map: usize) -> LookupRewrite {
        LookupRewrite::RuntimeKey { pc, map }
    }
    fn decided(pc: usize, taken: bool) -> LookupRewrite {
        LookupRewrite::NullTestDecided { pc, taken }
    }

    /// `r2 = r10; r2 += off; r1 = map m ll; call 1` (5 slots)
    fn lookup_at(off: i32, map: i32) -> Vec<Insn> {
        prog(&[&[mov_reg(2, 10), add(2, off)], &ld_map(1, map), &[call(1)]])
    }

    const BUILTINS: HelperModel = HelperModel {
        lookup: true,
        update: true,
        delete: true,
    };

    /// The solved analysis of `insns`.
    fn solved<'a>(insns: &[Insn], maps: &'a [ArrayMap]) -> Analysis<'a> {
        let mut analysis = Analysis::new(decode(insns, maps).unwrap(), maps, BUILTINS);
        analysis.solve();
        analysis
    }

    /// The state just before slot `pc`, joined over every path reaching it.
    fn state_before(insns: &[Insn], maps: &[ArrayMap], pc: usize) -> Option<State> {
        let analysis = solved(insns, maps);
        let block = analysis.starts.partition_point(|&s| s <= pc) - 1;
        analysis.run_block(block, &mut Edges::new(), None, Some(pc))
    }

    // ---- the clang shapes ---------------------------------------------

    #[test]
    fn clang_pattern_gives_a_const_key() {
        let insns = prog(&[&[mov(1, 0), stxw(10, -4, 1)], &lookup_at(-4, 0), &[exit()]]);
        assert_eq!(plan(&insns), vec![const_key(6, 0, 0)]);
        let insns = prog(&[&[mov(1, 3), stxw(10, -8, 1)], &lookup_at(-8, 1), &[exit()]]);
        assert_eq!(plan(&insns), vec![const_key(6, 1, 3)]);
    }

    #[test]
    fn immediate_store_and_byte_stores_give_the_key() {
        let insns = prog(&[&[stw(10, -4, 0x0102_0304)], &lookup_at(-4, 0), &[exit()]]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 0x0102_0304)]);
        // Four single-byte stores, one of them of a register.
        let insns = prog(&[
            &[
                Insn::new(0x72, 10, 0, -4, 1), // *(u8 *)(r10 - 4) = 1
                Insn::new(0x72, 10, 0, -3, 0),
                mov(3, 0x1ff), // only the low byte is stored
                Insn::new(0x73, 10, 3, -2, 0),
                Insn::new(0x72, 10, 0, -1, 0),
            ],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        assert_eq!(plan(&insns), vec![const_key(9, 0, 0x00ff_0001)]);
    }

    #[test]
    fn a_constant_set_before_a_loop_gives_a_const_key_inside_it() {
        // The shape of workloads/globals.o, slot for slot.
        let mut insns = vec![
            mov(6, 1),
            mov(7, 0),
            mov(8, 99),
            ja(6),
            ldxdw(1, 0, 16),
            add(1, 1),
            stxdw(0, 16, 1),
            mov(0, 2),
            add(6, 1),
            jeq(6, 257, 29),
            stxw(10, -4, 7),
            mov_reg(2, 10),
            add(2, -4),
        ];
        insns.extend(ld_map(1, 0));
        insns.extend([
            call(1),
            jeq(0, 0, 21),
            ldxdw(1, 0, 24),
            Insn::new(0x3d, 1, 6, 1, 0), // if r1 >= r6 goto +1
            stxdw(0, 24, 6),
            ldxdw(1, 0, 0),
            jne(1, 0, -18),
            ldxdw(2, 0, 8),
            mov_reg(1, 6),
            Insn::new(0x0f, 1, 2, 0, 0),  // r1 += r2
            Insn::new(0x61, 3, 0, 32, 0), // r3 = *(u32 *)(r0 + 32)
            mov_reg(2, 3),
            add(2, 1),
            stxw(0, 32, 2),
            stxdw(0, 8, 1),
            Insn::new(0x67, 3, 0, 0, 32),  // r3 <<= 32
            Insn::new(0xc7, 3, 0, 0, 32),  // r3 s>>= 32
            Insn::new(0x6d, 8, 3, -26, 0), // if r8 s> r3 goto -26
            Insn::new(0x67, 2, 0, 0, 32),
            Insn::new(0xc7, 2, 0, 0, 32),
            Insn::new(0x3f, 1, 2, 0, 0), // r1 /= r2
            stxdw(0, 0, 1),
            ja(-31),
            mov(0, 0),
            exit(),
        ]);
        assert_eq!(insns.len(), 40);
        let maps = [array(40, 1)];
        assert_eq!(
            plan_lookup_rewrites(&insns, &maps),
            vec![const_key(15, 0, 0), decided(16, false)]
        );
        // With the key out of range the same loop proves the NULL path.
        insns[1] = mov(7, 1);
        assert_eq!(
            plan_lookup_rewrites(&insns, &maps),
            vec![const_key(15, 0, 1), decided(16, true)]
        );
    }

    #[test]
    fn a_key_written_through_a_copy_of_r10() {
        let insns = prog(&[
            &[
                mov_reg(3, 10),
                add(3, -16),
                mov(4, 1),
                stxw(3, 8, 4), // r10 - 8
                mov_reg(2, 3),
                add(2, 8),
            ],
            &ld_map(1, 0),
            &[call(1), exit()],
        ]);
        assert_eq!(plan(&insns), vec![const_key(8, 0, 1)]);
        // Pointer difference and subtraction stay exact.
        let insns = prog(&[
            &[
                stw(10, -12, 3),
                mov_reg(3, 10),
                Insn::new(0x17, 3, 0, 0, 12), // r3 -= 12
                mov_reg(2, 3),
            ],
            &ld_map(1, 0),
            &[call(1), exit()],
        ]);
        assert_eq!(plan(&insns), vec![const_key(6, 0, 3)]);
    }

    #[test]
    fn different_maps_on_two_paths_prove_nothing() {
        let insns = prog(&[
            &[mov(1, 0), stxw(10, -4, 1), mov_reg(2, 10), add(2, -4)],
            &[jeq(6, 0, 3)],
            &ld_map(1, 0),
            &[ja(2)],
            &ld_map(1, 1),
            &[call(1), exit()],
        ]);
        assert!(plan(&insns).is_empty());
    }

    #[test]
    fn a_key_stored_on_one_path_only_is_a_runtime_key() {
        let insns = prog(&[
            &[jeq(6, 0, 2), mov(1, 0), stxw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        assert_eq!(plan(&insns), vec![runtime_key(7, 0)]);
        // The same with the key-holding path reaching the join first.
        let insns = prog(&[
            &[jeq(6, 0, 2), stw(10, -4, 1), ja(1), mov(3, 0)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        assert_eq!(plan(&insns), vec![runtime_key(8, 0)]);
        // Different constants on two paths: also only a run-time key.
        let insns = prog(&[
            &[jeq(6, 0, 2), mov(1, 0), ja(1), mov(1, 1), stxw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        assert_eq!(plan(&insns), vec![runtime_key(9, 0)]);
        // The same constant on both paths: proven.
        let insns = prog(&[
            &[jeq(6, 0, 2), mov(1, 2), ja(1), mov(1, 2), stxw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        assert_eq!(plan(&insns), vec![const_key(9, 0, 2)]);
    }

    /// `*(u32 *)(r10 - 4) = 1; <between>; lookup at r10 - 4`.
    fn key_then(between: &[Insn]) -> Vec<LookupRewrite> {
        let insns = prog(&[&[stw(10, -4, 1)], between, &lookup_at(-4, 0), &[exit()]]);
        plan(&insns)
    }

    #[test]
    fn a_clobbered_slot_gives_a_runtime_key() {
        let pc = |between: &[Insn]| 1 + between.len() + 4;
        let cases: Vec<Vec<Insn>> = vec![
            // A store through an unknown pointer (r6 came from the input).
            vec![stxdw(6, 0, 1)],
            vec![Insn::new(0x62, 6, 0, 8, 0)],
            // A store through a pointer loaded from memory (maybe a spilled r10).
            vec![ldxdw(3, 6, 0), stw(3, 0, 0)],
            // A store through a constant, which may be a stack address.
            [lddw(3, STACK_START + 0xffc).as_slice(), &[stw(3, 0, 9)]].concat(),
            // An atomic through an unknown pointer.
            vec![mov(1, 1), Insn::new(0xdb, 6, 1, 0, 0)],
            // Overwriting the key with an unknown value.
            vec![stxw(10, -4, 6)],
            vec![Insn::new(0x73, 10, 6, -2, 0)],
            // An atomic on the key itself.
            vec![mov(1, 1), Insn::new(0xc3, 10, 1, -4, 0)],
            // Helpers that may write memory, callx, and a local call.
            vec![call(6)],
            vec![call(5)],
            vec![mov(1, 7), Insn::new(0x8d, 1, 0, 0, 0)],
        ];
        for between in &cases {
            assert_eq!(
                key_then(between),
                vec![runtime_key(pc(between), 0)],
                "{between:?}"
            );
        }
        // A local call (the callee is an empty function after the exit).
        let insns = prog(&[
            &[stw(10, -4, 1), call_local(6)],
            &lookup_at(-4, 0),
            &[exit(), exit()],
        ]);
        assert_eq!(plan(&insns), vec![runtime_key(6, 0)]);
    }

    #[test]
    fn stores_that_cannot_reach_the_key_keep_it() {
        let pc = |between: &[Insn]| 1 + between.len() + 4;
        let map_value = [lookup_at(-4, 1).as_slice(), &[stxdw(0, 0, 6), stw(0, 8, 1)]].concat();
        let global = [
            [Insn::new(0x18, 3, 6, 0, 1), Insn::new(0, 0, 0, 0, 4)].as_slice(),
            &[stxw(3, 0, 6)],
        ]
        .concat();
        let cases: Vec<Vec<Insn>> = vec![
            // Other stack bytes, directly and through a copy of r10.
            vec![
                stxdw(10, -16, 6),
                stxw(10, -8, 6),
                Insn::new(0x73, 10, 6, -5, 0),
            ],
            vec![mov_reg(3, 10), stxdw(3, -16, 6)],
            // Through a map value pointer (a lookup result) and a global-data address.
            map_value.clone(),
            global,
            // Through a map handle (faults at run time, but never hits the stack).
            [ld_map(3, 0).as_slice(), &[stw(3, 0, 0)]].concat(),
            // Helpers that only read: update and delete.
            vec![call(2), call(3)],
            // Loads of anything.
            vec![ldxdw(3, 6, 0), ldxdw(3, 10, -8)],
        ];
        for between in &cases {
            let found = key_then(between);
            assert!(
                found.contains(&const_key(pc(between), 0, 1)),
                "{between:?}: {found:?}"
            );
        }
        // Rewriting the key bytes with other constants changes the key.
        assert_eq!(
            key_then(&[Insn::new(0x72, 10, 0, -3, 2)]),
            vec![const_key(6, 0, 0x0201)]
        );
    }

    #[test]
    fn a_key_outside_the_frame_is_not_constant() {
        // r2 = r10 - 2: the key would cross the frame's top.
        let insns = prog(&[&[stw(10, -4, 0)], &lookup_at(-2, 0), &[exit()]]);
        assert_eq!(plan(&insns), vec![runtime_key(5, 0)]);
        // r2 = r10 - 516: below the frame.
        let insns = prog(&[&[stw(10, -512, 0)], &lookup_at(-516, 0), &[exit()]]);
        assert_eq!(plan(&insns), vec![runtime_key(5, 0)]);
        // The lowest 4 bytes of the frame are fine.
        let insns = prog(&[&[stw(10, -512, 1)], &lookup_at(-512, 0), &[exit()]]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
    }

    #[test]
    fn r1_must_be_a_map_handle() {
        // A global-data address, a constant, an unknown value.
        let value = [Insn::new(0x18, 1, 6, 0, 0), Insn::new(0, 0, 0, 0, 0)];
        let constant = lddw(1, MAP_HANDLE_BASE);
        for r1 in [&value[..], &constant[..], &[mov_reg(1, 6)][..]] {
            let insns = prog(&[
                &[stw(10, -4, 0), mov_reg(2, 10), add(2, -4)],
                r1,
                &[call(1), exit()],
            ]);
            assert!(plan(&insns).is_empty(), "{r1:?}");
        }
        // A map index the table does not have.
        let insns = prog(&[&[stw(10, -4, 0)], &lookup_at(-4, 7), &[exit()]]);
        assert!(plan(&insns).is_empty());
    }

    #[test]
    fn keys_past_the_end_are_constant_and_their_null_tests_decided() {
        // const_key_oob.o's four lookups: keys 2, 3 (found), 4 and 0xffffffff (NULL).
        for (key, found) in [(2u32, true), (3, true), (4, false), (u32::MAX, false)] {
            let insns = prog(&[
                &lddw(1, u64::from(key)),
                &[stxw(10, -16, 1)],
                &lookup_at(-16, 0),
                &[jeq(0, 0, 1), mov(6, 1), mov_reg(0, 6), exit()],
            ]);
            assert_eq!(
                plan(&insns),
                vec![const_key(7, 0, key), decided(8, !found)],
                "key {key}"
            );
        }
    }

    #[test]
    fn null_tests_after_a_found_constant_key() {
        let base = prog(&[&[stw(10, -4, 1)], &lookup_at(-4, 0)]);
        // if r0 == 0: never taken; if r0 != 0: always taken; through a copy.
        let insns = prog(&[&base, &[jeq(0, 0, 1), exit(), exit()]]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 1), decided(6, false)]);
        let insns = prog(&[&base, &[jne(0, 0, 1), exit(), exit()]]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 1), decided(6, true)]);
        let insns = prog(&[&base, &[mov_reg(7, 0), jeq(7, 0, 1), exit(), exit()]]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 1), decided(7, false)]);
        // 32-bit tests of a non-NULL pointer are not decided (element 0 of
        // map 0 has zero low bits), nor tests against other values.
        let insns = prog(&[&base, &[Insn::new(0x16, 0, 0, 1, 0), exit(), exit()]]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
        let insns = prog(&[&base, &[jeq(0, 1, 1), exit(), exit()]]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
        // Two found constant-key lookups of the same map joined: still non-NULL.
        let insns = prog(&[
            &[stw(10, -4, 1), stw(10, -8, 2), jeq(6, 0, 6)],
            &lookup_at(-4, 0),
            &[ja(5)],
            &lookup_at(-8, 0),
            &[jeq(0, 0, 1), exit(), exit()],
        ]);
        assert_eq!(
            plan(&insns),
            vec![const_key(7, 0, 1), const_key(13, 0, 2), decided(14, false)]
        );
    }

    #[test]
    fn null_tests_that_may_go_either_way_are_kept() {
        // A run-time key.
        let insns = prog(&[&lookup_at(-4, 0), &[jeq(0, 0, 1), exit(), exit()]]);
        assert_eq!(plan(&insns), vec![runtime_key(4, 0)]);
        // A found and a missing key joined.
        let insns = prog(&[
            &[stw(10, -4, 1), stw(10, -8, 9), jeq(6, 0, 6)],
            &lookup_at(-4, 0),
            &[ja(5)],
            &lookup_at(-8, 0),
            &[jeq(0, 0, 1), exit(), exit()],
        ]);
        assert_eq!(plan(&insns), vec![const_key(7, 0, 1), const_key(13, 0, 9)]);
        // Two pointers on two paths into one lookup: a run-time key, maybe NULL.
        let insns = prog(&[
            &[
                stw(10, -4, 1),
                stw(10, -8, 2),
                mov_reg(2, 10),
                add(2, -4),
                jeq(6, 0, 1),
            ],
            &[add(2, -4)],
            &ld_map(1, 0),
            &[call(1), jeq(0, 0, 1), exit(), exit()],
        ]);
        assert_eq!(plan(&insns), vec![runtime_key(8, 0)]);
        // The tested register overwritten after the lookup.
        let insns = prog(&[
            &[stw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[add(0, 8), jeq(0, 0, 1), exit(), exit()],
        ]);
        assert_eq!(plan(&insns), vec![const_key(5, 0, 1)]);
    }

    #[test]
    fn a_decided_null_test_prunes_the_path_it_excludes() {
        // The NULL branch sets r2 = r6 (unknown) before the shared lookup;
        // it can never be taken, so the lookup keeps its constant key.
        let insns = prog(&[
            &[stw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[
                jeq(0, 0, 2),
                mov_reg(2, 10),
                ja(1),
                mov_reg(2, 6),
                add(2, -4),
            ],
            &ld_map(1, 1),
            &[call(1), exit()],
        ]);
        assert_eq!(
            plan(&insns),
            vec![const_key(5, 0, 1), decided(6, false), const_key(13, 1, 1)]
        );
    }

    #[test]
    fn global_data_pointers_are_non_null() {
        let insns = prog(&[
            &[Insn::new(0x18, 3, 2, 0, 1), Insn::new(0, 0, 0, 0, 8)],
            &[jne(3, 0, 1), exit(), exit()],
        ]);
        assert_eq!(plan(&insns), vec![decided(2, true)]);
    }

    #[test]
    fn subprograms_are_analysed_with_a_fresh_frame() {
        // main: key 1 at r10-4, call sub, lookup of r10-4 (clobbered by the call).
        // sub: its own key 3 at r10-4, lookup of map 1.
        let main = prog(&[
            &[stw(10, -4, 1), call_local(6)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        let sub = prog(&[&[stw(10, -4, 3)], &lookup_at(-4, 1), &[exit()]]);
        let insns = prog(&[&main, &sub]);
        assert_eq!(plan(&insns), vec![runtime_key(6, 0), const_key(13, 1, 3)]);
        // The callee's frame does not inherit the caller's bytes, and r6..r9
        // survive the call.
        let main = prog(&[
            &[stw(10, -4, 1), mov(6, 2), call_local(6)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        let sub = prog(&[
            &lookup_at(-4, 1),
            &[stxw(10, -8, 6)],
            &lookup_at(-8, 1),
            &[exit()],
        ]);
        let insns = prog(&[&main, &sub]);
        assert_eq!(
            plan(&insns),
            vec![runtime_key(7, 0), runtime_key(13, 1), runtime_key(19, 1)]
        );
        let main = prog(&[
            &[mov(6, 2), call_local(7)],
            &[stxw(10, -4, 6)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        let insns = prog(&[&main, &[exit()]]);
        assert_eq!(plan(&insns), vec![const_key(7, 0, 2)]);
    }

    #[test]
    fn unreachable_code_gets_nothing() {
        let insns = prog(&[
            &[exit()],
            &[stw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[jeq(0, 0, 0), exit()],
        ]);
        assert!(plan(&insns).is_empty());
        // A subprogram nobody calls.
        let insns = prog(&[
            &[mov(0, 0), exit(), stw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[exit()],
        ]);
        assert!(plan(&insns).is_empty());
    }

    #[test]
    fn a_replaced_lookup_helper_proves_nothing() {
        let insns = prog(&[
            &[stw(10, -4, 1)],
            &lookup_at(-4, 0),
            &[jeq(0, 0, 0), exit()],
        ]);
        let maps = maps4();
        assert_eq!(plan_lookup_rewrites(&insns, &maps).len(), 2);
        assert!(plan_lookup_rewrites_with(&insns, &maps, &|id| id != 1).is_empty());
        let mut registry = Helpers::with_builtins();
        assert_eq!(plan_lookup_rewrites_for(&insns, &maps, &registry).len(), 2);
        registry.register(1, "mine", |_, _| Ok(0));
        assert!(plan_lookup_rewrites_for(&insns, &maps, &registry).is_empty());
        // A replaced update helper may write the stack.
        let insns = prog(&[&[stw(10, -4, 1), call(2)], &lookup_at(-4, 0), &[exit()]]);
        assert_eq!(plan_lookup_rewrites_for(&insns, &maps, &registry).len(), 0);
        let mut registry = Helpers::with_builtins();
        assert_eq!(
            plan_lookup_rewrites_for(&insns, &maps, &registry),
            vec![const_key(6, 0, 1)]
        );
        registry.register(2, "mine", |_, _| Ok(0));
        assert_eq!(
            plan_lookup_rewrites_for(&insns, &maps, &registry),
            vec![runtime_key(6, 0)]
        );
    }

    #[test]
    fn malformed_programs_give_nothing() {
        let good = prog(&[&[stw(10, -4, 1)], &lookup_at(-4, 0), &[exit()]]);
        assert_eq!(plan(&good).len(), 1);
        let mut cases = vec![
            Vec::new(),
            good[..good.len() - 1].to_vec(), // falls off the end
            prog(&[&good, &[Insn::new(0x18, 0, 0, 0, 0)]]), // truncated lddw
            prog(&[&[ja(4)], &good]),        // jumps into an lddw
            prog(&[&[ja(100)], &good]),      // jumps out
            prog(&[&[mov(10, 0)], &good]),   // writes r10
            prog(&[&[mov(11, 0)], &good]),   // no such register
            prog(&[&[Insn::new(0xff, 0, 0, 0, 0)], &good]), // unknown opcode
            prog(&[&[call_local(-5)], &good]), // call before the start
        ];
        cases.push(prog(&[&[Insn::new(0xdb, 10, 10, 0, 1)], &good])); // fetch into r10
        for insns in &cases {
            assert!(plan(insns).is_empty(), "{insns:?}");
        }
    }

    // ---- constant folding against the interpreter ---------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }
    }

    /// A random ALU instruction on r0..r3 with a field combination the VM accepts.
    fn random_alu(rng: &mut XorShift) -> Insn {
        let class = rng.pick(&[class::ALU, class::ALU64]);
        let interesting = [
            0,
            1,
            -1,
            2,
            7,
            31,
            32,
            63,
            64,
            i32::MIN,
            i32::MAX,
            0x1234_5678,
            -8,
        ];
        let imm = if rng.below(2) == 0 {
            rng.pick(&interesting)
        } else {
            rng.next() as i32
        };
        let dst = rng.below(4) as u8;
        let src = rng.below(4) as u8;
        match rng.below(10) {
            0 => Insn::new(class | alu::NEG, dst, 0, 0, 0),
            1 => {
                let (opcode, imm) = match rng.below(3) {
                    0 => (class::ALU | alu::END, rng.pick(&[16, 32, 64])),
                    1 => (class::ALU | alu::END | source::X, rng.pick(&[16, 32, 64])),
                    _ => (class::ALU64 | alu::END, rng.pick(&[16, 32, 64])),
                };
                Insn::new(opcode, dst, 0, 0, imm)
            }
            2 => {
                let offs: &[i16] = if class == class::ALU64 {
                    &[8, 16, 32]
                } else {
                    &[8, 16]
                };
                Insn::new(class | alu::MOV | source::X, dst, src, rng.pick(offs), 0)
            }
            3 => {
                let op = rng.pick(&[alu::DIV, alu::MOD]);
                let off = rng.below(2) as i16;
                if rng.below(2) == 0 {
                    Insn::new(class | op, dst, 0, off, imm)
                } else {
                    Insn::new(class | op | source::X, dst, src, off, 0)
                }
            }
            _ => {
                let op = rng.pick(&[
                    alu::ADD,
                    alu::SUB,
                    alu::MUL,
                    alu::OR,
                    alu::AND,
                    alu::LSH,
                    alu::RSH,
                    alu::ARSH,
                    alu::XOR,
                    alu::MOV,
                ]);
                if rng.below(2) == 0 {
                    Insn::new(class | op, dst, 0, 0, imm)
                } else {
                    Insn::new(class | op | source::X, dst, src, 0, 0)
                }
            }
        }
    }

    #[test]
    fn constant_folding_matches_the_interpreter() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut folded = 0;
        for _ in 0..3000 {
            let mut insns = Vec::new();
            for r in 0..4u8 {
                insns.extend(lddw(r, rng.next() >> rng.below(64)));
            }
            for _ in 0..rng.below(12) + 1 {
                insns.push(random_alu(&mut rng));
            }
            // Store r0 on the stack and load it back through a copy of r10.
            let out = rng.pick(&[0u8, 1, 2, 3]);
            insns.extend([
                stxdw(10, -8, out),
                mov_reg(4, 10),
                Insn::new(0x79, 0, 4, -8, 0),
                exit(),
            ]);
            let program = LoadedProgram::from_insns(
                &insns,
                ProgramOptions {
                    inline_lookups: false,
                    ..Default::default()
                },
            )
            .unwrap();
            let retval = program.run(&mut []).unwrap().retval;
            let state = state_before(&insns, &[], insns.len() - 1).unwrap();
            match state.regs[0] {
                Val::Const(c) => {
                    assert_eq!(c, retval, "{insns:?}");
                    folded += 1;
                }
                other @ (Val::Unknown
                | Val::StackPtr(_)
                | Val::MapHandle(_)
                | Val::MapValue { .. }) => panic!("not folded: {other:?} in {insns:?}"),
            }
        }
        assert_eq!(folded, 3000);
    }

    #[test]
    fn sign_extending_loads_of_known_bytes() {
        let insns = prog(&[
            &[
                stw(10, -4, -2),
                Insn::new(0x91, 3, 10, -4, 0),
                Insn::new(0x81, 4, 10, -4, 0),
            ],
            &[
                Insn::new(0x61, 5, 10, -4, 0),
                Insn::new(0x79, 6, 10, -8, 0),
                exit(),
            ],
        ]);
        let state = state_before(&insns, &[], 5).unwrap();
        assert_eq!(state.regs[3], Val::Const(0xffff_ffff_ffff_fffe)); // ldxsb
        assert_eq!(state.regs[4], Val::Const(0xffff_ffff_ffff_fffe)); // ldxsw
        assert_eq!(state.regs[5], Val::Const(0xffff_fffe));
        assert_eq!(state.regs[6], Val::Unknown); // r10-8..-5 never written
    }

    // ---- the address layout the store rule relies on ------------------

    #[test]
    fn map_pointers_never_reach_the_stack() {
        let stack_end = STACK_START + STACK_SIZE as u64;
        let max_reach = 32768 + 8; // |i16 offset| plus the widest access
        // Map values: from map 0's area start minus an offset, above the stack.
        assert!(map_value_start(0) - max_reach > stack_end);
        assert_eq!(map_value_start(0), FIRST_MAP_SLOT << 32);
        // The last map's area (at most 4 GiB) plus an offset does not wrap.
        assert!(
            map_value_start(MAX_MAPS)
                .checked_add((1 << 32) + max_reach)
                .is_some()
        );
        // NULL plus an offset: below the stack, or wrapped far above it.
        assert!(max_reach < STACK_START);
        assert!(0u64.wrapping_sub(max_reach) > stack_end);
        // Map handles.
        assert!(MAP_HANDLE_BASE - max_reach > map_value_start(MAX_MAPS) + (1 << 32));
    }

    // ---- termination and robustness -----------------------------------

    #[test]
    fn slowly_converging_loops_finish_in_bounded_work() {
        // 500 known stack bytes (the key at r10-4 among them) and a loop that
        // shifts them up by one byte per iteration, starting from an unknown
        // byte: each pass over the loop loses one more byte.
        let mut insns = Vec::new();
        for i in 0..500i16 {
            insns.push(Insn::new(0x72, 10, 0, -1 - i, 1)); // *(u8 *)(r10 - 1 - i) = 1
        }
        insns.push(Insn::new(0x73, 10, 6, -500, 0)); // *(u8 *)(r10 - 500) = r6
        let head = insns.len();
        for i in 0..499i16 {
            insns.push(Insn::new(0x71, 0, 10, -2 - i, 0)); // r0 = *(u8 *)(r10 - 2 - i)
            insns.push(Insn::new(0x73, 10, 0, -1 - i, 0)); // *(u8 *)(r10 - 1 - i) = r0
        }
        insns.extend(lookup_at(-4, 0));
        let back = head as i64 - insns.len() as i64 - 1;
        insns.push(jne(7, 0, back as i16));
        insns.push(exit());
        let maps = maps4();
        let analysis = solved(&insns, &maps);
        let bound = analysis.starts.len() * (MAX_ENTRY_CHANGES as usize + 2);
        assert!(analysis.block_runs <= bound, "{} runs", analysis.block_runs);
        // The first pass alone sees key 0x01010101; the loop later shifts
        // the unknown byte into it, so only a run-time key is sound.
        let lookup = insns.len() - 3;
        assert_eq!(plan(&insns), vec![runtime_key(lookup, 0)]);
        // Without the loop the key is known.
        let straight: Vec<Insn> = prog(&[&insns[..head], &lookup_at(-4, 0), &[exit()]]);
        assert_eq!(
            plan(&straight),
            vec![const_key(straight.len() - 2, 0, 0x0101_0101)]
        );
    }

    #[test]
    fn a_large_program_is_analysed_in_linear_work() {
        // 2000 nested diamond-and-loop chunks.
        let mut insns = Vec::new();
        for _ in 0..2000 {
            insns.extend([
                mov(7, 0),
                stw(10, -4, 1),
                jeq(6, 0, 1),
                mov(1, 1),
                add(7, 1),
                jne(7, 9, -5),
            ]);
            insns.extend(lookup_at(-4, 0));
        }
        insns.push(exit());
        let maps = maps4();
        let analysis = solved(&insns, &maps);
        assert!(
            analysis.block_runs <= 2 * analysis.starts.len(),
            "{} runs",
            analysis.block_runs
        );
        let found = plan(&insns);
        assert_eq!(found.len(), 2000);
        assert!(
            found
                .iter()
                .all(|f| matches!(f, LookupRewrite::ConstKey { key: 1, map: 0, .. }))
        );
    }

    #[test]
    fn random_slots_never_panic() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let maps = maps4();
        let opcodes: Vec<u8> = (0..=255u8).collect();
        let mut analysed = 0;
        for _ in 0..10_000 {
            let len = rng.below(40) as usize + 1;
            let mut insns = Vec::with_capacity(len);
            for _ in 0..len {
                let insn = if rng.below(12) == 0 {
                    Insn::new(
                        rng.pick(&opcodes),
                        rng.below(16) as u8,
                        rng.below(16) as u8,
                        rng.next() as i16,
                        rng.next() as i32,
                    )
                } else {
                    // Mostly plausible slots, so that many programs decode.
                    let opcode = rng.pick(&[
                        0x07, 0xb7, 0xbf, 0x0f, 0x63, 0x62, 0x7b, 0x61, 0x79, 0x15, 0x55, 0x05,
                        0x85, 0x85, 0x18, 0x95, 0xdb, 0xc3, 0x16, 0x1d, 0x8d, 0x24, 0xd4, 0x87,
                    ]);
                    let src = match opcode {
                        0x18 => rng.pick(&[0, 1, 2, 5, 6]),
                        0x85 => rng.pick(&[0, 1]),
                        _ => rng.below(11) as u8,
                    };
                    let imm = match opcode {
                        0x85 if src == 0 => rng.pick(&[1, 1, 2, 6]),
                        0x18 => rng.below(3) as i32,
                        0xdb | 0xc3 => rng.pick(&[0, 1, 0x40, 0xe1, 0xf1]),
                        _ => rng.below(20) as i32 - 10,
                    };
                    let off = match opcode {
                        0x63 | 0x62 | 0x7b | 0x61 | 0x79 => -(rng.below(520) as i16),
                        _ => rng.below(2 * len as u64) as i16 - len as i16,
                    };
                    Insn::new(opcode, rng.below(10) as u8, src, off, imm)
                };
                insns.push(insn);
                if insn.opcode == 0x18 && rng.below(8) != 0 {
                    insns.push(Insn::new(0, 0, 0, 0, rng.below(3) as i32));
                }
            }
            if rng.below(4) != 0 {
                insns.push(exit());
            }
            if decode(&insns, &maps).is_some() {
                analysed += 1;
            }
            let found = plan_lookup_rewrites(&insns, &maps);
            assert!(found.windows(2).all(|w| w[0].pc() <= w[1].pc()));
        }
        assert!(analysed > 500, "only {analysed} programs were analysed");
    }

    // ---- rewritten and original programs behave the same -------------

    /// The placeholder for a call of the subprogram, resolved by `random_program`.
    const CALL_SUB: Insn = Insn::new(0x85, 0, 1, 0, -1);

    /// One random chunk of `random_program`; `true` marks a conditional jump
    /// whose offset is still to be set.
    fn random_chunk(rng: &mut XorShift, allow_jump: bool) -> (Vec<Insn>, bool) {
        let r = rng.pick(&[0u8, 1, 2, 3, 4, 5, 7]);
        let slot = -4 * (rng.below(3) as i16 + 1);
        let chunk = match rng.below(if allow_jump { 17 } else { 15 }) {
            0 => vec![mov(r, rng.below(6) as i32)],
            1 => vec![stxw(10, slot, r)],
            2 => vec![stw(10, slot, rng.below(6) as i32)],
            3 => vec![stxw(9, slot + 16, r)],
            4 => vec![mov_reg(2, 10), add(2, i32::from(slot))],
            5 => vec![mov_reg(2, 9), add(2, i32::from(slot) + 16)],
            6 => ld_map(1, rng.below(2) as i32).to_vec(),
            7 | 8 => {
                let mut c = lookup_at(i32::from(slot), rng.below(2) as i32);
                if rng.below(3) == 0 {
                    c.drain(..2);
                }
                c.extend([
                    jeq(0, 0, 3),
                    ldxdw(3, 0, 0),
                    add(3, 1),
                    stxdw(0, 0, 3),
                    mov_reg(7, 0),
                ]);
                c
            }
            9 => vec![stxw(6, rng.below(8) as i16 * 4, r)],
            10 => vec![mov(1, rng.below(4) as i32), call(rng.pick(&[7, 8]))],
            11 => vec![
                mov_reg(1, 10),
                add(1, i32::from(slot)),
                mov(2, rng.below(6) as i32),
                CALL_SUB,
            ],
            12 => vec![
                mov_reg(1, 0),
                Insn::new(0x57, 1, 0, 0, 3),
                stxw(10, slot, 1),
            ],
            13 => vec![call(1), mov_reg(7, 0)],
            // A store through a stack pointer spilled and reloaded: the
            // analysis sees an unknown pointer, the store hits a key slot.
            14 => vec![stxdw(10, -24, 9), ldxdw(4, 10, -24), stxw(4, slot + 16, r)],
            _ => {
                // Mostly on the loop counter, so both ways run.
                let tested = rng.pick(&[8, 8, 8, 0, 7, 3]);
                return (vec![jeq(tested, rng.below(4) as i32, 0)], true);
            }
        };
        (chunk, false)
    }

    /// A random terminating program mixing constant and run-time keys,
    /// stores, clobbers, branches, a bounded loop and local calls.
    fn random_program(rng: &mut XorShift) -> Vec<Insn> {
        // r6 = input pointer, r8 = loop counter, r9 = r10 - 16; chunks use r0..r5, r7.
        let mut insns = vec![
            mov_reg(6, 1),
            mov(8, rng.below(3) as i32 + 1),
            mov_reg(9, 10),
            add(9, -16),
            mov(7, 0),
        ];
        for _ in 0..rng.below(5) {
            insns.extend(random_chunk(rng, false).0);
        }
        let mut chunks: Vec<(Vec<Insn>, bool)> = Vec::new();
        for _ in 0..rng.below(14) + 2 {
            chunks.push(random_chunk(rng, true));
        }
        // Each conditional jump skips to a later chunk boundary of the loop body.
        let lens: Vec<usize> = chunks.iter().map(|(c, _)| c.len()).collect();
        for i in 0..chunks.len() {
            if chunks[i].1 {
                let skip = rng.below((chunks.len() - i) as u64) as usize;
                let off: usize = lens[i + 1..i + 1 + skip].iter().sum();
                chunks[i].0[0].off = off as i16;
            }
        }
        let head = insns.len();
        for (chunk, _) in chunks {
            insns.extend(chunk);
        }
        insns.push(add(8, -1));
        let back = head as i64 - insns.len() as i64 - 1;
        insns.push(jne(8, 0, back as i16));
        insns.extend([mov_reg(0, 7), exit()]);
        // The subprogram: writes the caller's slot through r1, then its own lookup.
        let sub_start = insns.len();
        insns.extend([stxw(1, 0, 2), stw(10, -4, rng.below(6) as i32)]);
        insns.extend(lookup_at(-4, 1));
        insns.extend([jeq(0, 0, 2), stxdw(0, 0, 10), mov(0, 0), exit()]);
        for (pc, insn) in insns.iter_mut().enumerate().take(sub_start) {
            if *insn == CALL_SUB {
                insn.imm = (sub_start as i64 - pc as i64 - 1) as i32;
            }
        }
        insns
    }

    fn fresh_maps() -> Vec<ArrayMap> {
        let maps = vec![array(8, 5), array(16, 4)];
        maps[1].update(&2u32.to_le_bytes(), &[7; 16], 0).unwrap();
        maps
    }

    /// What one run shows: its result, every map's contents, the rewrite count.
    struct Observed {
        result: String,
        maps: Vec<Vec<(u32, Vec<u8>)>>,
        rewrites: usize,
    }

    fn run_once(insns: &[Insn], inline: bool) -> Observed {
        let maps = fresh_maps();
        let program = LoadedProgram::from_insns(
            insns,
            ProgramOptions {
                maps: maps.clone(),
                inline_lookups: inline,
                ..Default::default()
            },
        )
        .unwrap();
        let mut input = [0u8; 64];
        let result = match program.run(&mut input) {
            Ok(outcome) => format!("ok {}", outcome.retval),
            Err(e) => format!("err {e:?}"),
        };
        Observed {
            result,
            maps: maps.iter().map(|m| m.entries().collect()).collect(),
            rewrites: program.rewrites().len(),
        }
    }

    #[test]
    fn rewritten_random_programs_behave_as_the_originals() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        let (mut rewritten, mut consts, mut runtime, mut tests) = (0, 0, 0, 0);
        for _ in 0..1500 {
            let insns = random_program(&mut rng);
            let found = plan_lookup_rewrites(&insns, &fresh_maps());
            for f in &found {
                match f {
                    LookupRewrite::ConstKey { .. } => consts += 1,
                    LookupRewrite::RuntimeKey { .. } => runtime += 1,
                    LookupRewrite::NullTestDecided { .. } => tests += 1,
                }
            }
            let plain = run_once(&insns, false);
            let inlined = run_once(&insns, true);
            assert_eq!(plain.result, inlined.result, "{insns:?}\n{found:?}");
            assert_eq!(plain.maps, inlined.maps, "{insns:?}\n{found:?}");
            rewritten += inlined.rewrites;
        }
        assert!(
            consts > 500 && runtime > 1000 && tests > 500,
            "{consts} {runtime} {tests}"
        );
        assert!(rewritten > 2500, "{rewritten}");
    }
}
