//! How one op changes the lookup analysis' state, read from the op table's
//! facts: the value it leaves ([`Value`], [`Op::fold`] for arithmetic on
//! constants), the memory it touches ([`Memory`]) and where control goes
//! ([`Flow`]). Only what the facts do not say is matched here: pointer
//! arithmetic on `r10 + k`, NULL tests, and which calls are lookups.
//!
//! Every rule over-approximates the VM: stores that might reach the stack,
//! local calls, `callx` and helpers that may write memory forget the stack
//! bytes; anything not proven is unknown.

use tinybpf_maps::BpfMap;

use crate::exec::helpers::{Helper, ids};
use crate::exec::memory::FRAME_SIZE;
use crate::ir::alu;
use crate::ir::facts::{AccessKind, Flow, Memory, Stored, Value};
use crate::ir::op::Op;
use crate::ir::regs::Regs;
use crate::passes::lookup::LookupRewrite;
use crate::passes::lookup::lattice::{Nullness, State, Val};

/// What the analysis knows of the program besides its ops.
pub(super) struct Context<'a> {
    pub(super) maps: &'a [BpfMap],
    /// The helpers `CallHelper` ops call, by slot.
    pub(super) helpers: &'a [Helper],
}

/// Where control goes after an op, given the state before it.
pub(super) enum Next {
    /// To the next op, with the state after this one.
    Continue,
    /// To `target` only.
    Jump(usize),
    /// To `target` or the next op (a branch that is not decided).
    Branch(usize),
    /// Into a callee at `target` (entered with a fresh frame), then on.
    Call(usize),
    /// Nowhere in this function.
    Stop,
}

impl Context<'_> {
    /// Applies `op` (at slot `pc`) to `state`; returns where control goes.
    /// Findings at `pc` are pushed to `found` when given.
    pub(super) fn step(
        &self,
        state: &mut State,
        pc: usize,
        op: &Op,
        mut found: Option<&mut Vec<LookupRewrite>>,
    ) -> Next {
        let facts = op.facts();
        match facts.memory {
            Memory::Checked {
                base,
                off,
                width,
                kind,
            } => self.access(state, state.reg(base), off, width, kind, op),
            Memory::Stack { off, width, kind } => {
                self.access(state, Val::StackPtr(0), off, width, kind, op);
            }
            // Helpers (the lookup included) are assumed to change r0..r5, as
            // the calling convention allows.
            Memory::LookupKey => {
                let result = self.lookup(state, pc, found.as_deref_mut());
                forget(state, Regs::CALLER_SAVED);
                state.set_reg(0, result);
            }
            Memory::Helper => {
                let preserves_stack = if let Op::CallHelper { slot } = *op {
                    self.helpers
                        .get(slot as usize)
                        .is_some_and(|h| h.builtin && preserves_stack(h.id))
                } else {
                    false
                };
                if !preserves_stack {
                    state.forget_stack();
                }
                forget(state, Regs::CALLER_SAVED);
            }
            // The callee may write the caller's frame through any pointer.
            Memory::Call => state.forget_stack(),
            Memory::None | Memory::Direct { .. } | Memory::Fixed { .. } => self.compute(state, op),
        }
        match facts.flow {
            Flow::Next => Next::Continue,
            Flow::Jump(target) => Next::Jump(target as usize),
            Flow::Branch(target) => match null_test(op).and_then(|t| t.decide(state.reg(t.reg))) {
                Some(taken) => {
                    if let Some(found) = found {
                        found.push(LookupRewrite::NullTestDecided { pc, taken });
                    }
                    if taken {
                        Next::Jump(target as usize)
                    } else {
                        Next::Continue
                    }
                }
                None => Next::Branch(target as usize),
            },
            Flow::Call(target) => {
                // The VM restores r6..r10; a callee may change r0..r5.
                forget(state, facts.may_write);
                Next::Call(target as usize)
            }
            Flow::Exit => Next::Stop,
        }
    }

    /// A register op: the value it leaves in the register it writes.
    fn compute(&self, state: &mut State, op: &Op) {
        let facts = op.facts();
        let Some(dst) = facts.writes.single() else {
            forget(state, facts.may_write);
            return;
        };
        let value = pointer_arithmetic(op, state).unwrap_or_else(|| {
            op.fold(|r| state.reg(r).constant())
                .map_or(Val::Unknown, |c| Val::of(c, self.maps))
        });
        state.set_reg(dst, value);
    }

    /// A load, store or atomic at `base + off`.
    fn access(&self, state: &mut State, base: Val, off: i16, width: u8, kind: AccessKind, op: &Op) {
        match kind {
            AccessKind::Load { sign_extend } => {
                let loaded = state.read_memory(base, off, width).map(|v| {
                    if sign_extend {
                        alu::sign_extend(v, width * 8)
                    } else {
                        v
                    }
                });
                if let Some(dst) = op.facts().writes.single() {
                    let value = loaded.map_or(Val::Unknown, |c| Val::of(c, self.maps));
                    state.set_reg(dst, value);
                }
            }
            AccessKind::Store(value) => {
                let bytes = match value {
                    Stored::Imm(imm) => Some(imm),
                    Stored::Reg(r) => state.reg(r).constant(),
                };
                state.write_memory(base, off, width, bytes);
            }
            AccessKind::Atomic => {
                state.write_memory(base, off, width, None);
                forget(state, op.facts().may_write);
            }
        }
    }

    /// The value of r0 after a lookup at `pc`, recording what is proven.
    fn lookup(&self, state: &State, pc: usize, found: Option<&mut Vec<LookupRewrite>>) -> Val {
        let Val::MapHandle(map) = state.reg(1) else {
            return Val::Unknown;
        };
        // Only arrays (per-CPU ones included) are analysed: a hash lookup's
        // result depends on the map's contents.
        let Some(array) = self.maps.get(map).filter(|m| super::inlinable(m)) else {
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

/// Whether built-in helper `id` leaves the caller's stack untouched (lookup,
/// update and delete only read through their pointers).
fn preserves_stack(id: u32) -> bool {
    matches!(
        id,
        ids::MAP_LOOKUP_ELEM | ids::MAP_UPDATE_ELEM | ids::MAP_DELETE_ELEM
    )
}

/// Makes every register of `regs` unknown.
fn forget(state: &mut State, regs: Regs) {
    for r in regs.iter() {
        state.set_reg(r, Val::Unknown);
    }
}

/// Copies, and 64-bit addition and subtraction involving `r10 + k` (the
/// frame pointer the program copies and offsets): what the op leaves, when
/// it is a copy, a stack pointer or a pointer difference.
fn pointer_arithmetic(op: &Op, state: &State) -> Option<Val> {
    match op.facts().value {
        Value::Copy(src) => return Some(state.reg(src)),
        Value::Offset(src, k) => {
            if let Val::StackPtr(j) = state.reg(src) {
                return Some(Val::StackPtr(j.wrapping_add(k as i64)));
            }
        }
        Value::None | Value::Narrow | Value::MapValue | Value::Const(_) | Value::Any => {}
    }
    if let Op::Add64Reg { dst, src } = *op {
        return match (state.reg(dst), state.reg(src)) {
            (Val::StackPtr(k), Val::Const(c)) | (Val::Const(c), Val::StackPtr(k)) => {
                Some(Val::StackPtr(k.wrapping_add(c as i64)))
            }
            _ => None,
        };
    }
    if let Op::Sub64Reg { dst, src } = *op {
        return match (state.reg(dst), state.reg(src)) {
            (Val::StackPtr(k), Val::Const(c)) => Some(Val::StackPtr(k.wrapping_sub(c as i64))),
            (Val::StackPtr(a), Val::StackPtr(b)) => Some(Val::Const(a.wrapping_sub(b) as u64)),
            _ => None,
        };
    }
    None
}

/// A conditional jump that is a NULL test: `if reg ==/!= 0`.
#[derive(Debug, Clone, Copy)]
struct NullTest {
    reg: u8,
    is32: bool,
    jumps_if_nonzero: bool,
}

impl NullTest {
    /// The outcome on `value`, when it is decided.
    fn decide(self, value: Val) -> Option<bool> {
        let Val::MapValue { null, .. } = value else {
            return None;
        };
        let is_zero = match null {
            Nullness::Null => true,
            // A non-NULL pointer may still have zero low 32 bits.
            Nullness::NonNull if !self.is32 => false,
            Nullness::NonNull | Nullness::Maybe => return None,
        };
        Some(is_zero != self.jumps_if_nonzero)
    }
}

/// The NULL test `op` is, if it is one.
fn null_test(op: &Op) -> Option<NullTest> {
    let test = |reg, is32, jumps_if_nonzero| NullTest {
        reg,
        is32,
        jumps_if_nonzero,
    };
    if let Op::JeqImm { dst, imm: 0, .. } = *op {
        return Some(test(dst, false, false));
    }
    if let Op::JneImm { dst, imm: 0, .. } = *op {
        return Some(test(dst, false, true));
    }
    if let Op::Jeq32Imm { dst, imm: 0, .. } = *op {
        return Some(test(dst, true, false));
    }
    if let Op::Jne32Imm { dst, imm: 0, .. } = *op {
        return Some(test(dst, true, true));
    }
    None
}
