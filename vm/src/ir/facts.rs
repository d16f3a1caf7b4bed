//! What the passes know about one op: the registers it reads and writes, how
//! it touches memory, where control goes next, and what value it leaves.
//!
//! Every [`Op`](crate::ir::op::Op) gets its [`Facts`] from its row of the op
//! table ([`crate::ir::op`]), written with the constructors below; nothing
//! else in the crate matches ops by hand to learn these things.

use crate::ir::op::HostAddr;
use crate::ir::regs::Regs;
use crate::isa::decode::AtomicOp;

/// The facts of one op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Registers the op may read.
    pub reads: Regs,
    /// Registers the op writes whenever it completes ("must write").
    pub writes: Regs,
    /// Registers the op may write: `writes` plus those a local call may
    /// change (r0..r5).
    pub may_write: Regs,
    /// What the registers of `may_write` receive.
    pub value: Value,
    /// How the op touches memory.
    pub memory: Memory,
    /// Where control goes after the op.
    pub flow: Flow,
    /// Instructions of the original program the op stands for (its parts:
    /// 1, 2 or 3 for fused ops, 0 for ops that never run).
    pub weight: u8,
    /// The function entry whose reference the op loads (a callback for
    /// `bpf_loop` and friends): that op starts a function of its own.
    pub func_ref: Option<u32>,
}

/// Where control goes after an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// To the next op.
    Next,
    /// To `target` or to the next op.
    Branch(u32),
    /// Always to `target`.
    Jump(u32),
    /// Into the function at `target`; when it returns, to the next op.
    Call(u32),
    /// Back to the caller, or out of the program.
    Exit,
}

/// How an op touches memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// Not at all.
    None,
    /// `width` bytes at `base + off`, checked against the regions when it
    /// runs (it may fault).
    Checked {
        /// The register holding the address.
        base: u8,
        /// The constant offset.
        off: i16,
        /// Bytes accessed.
        width: u8,
        /// Load, store or atomic read-modify-write.
        kind: AccessKind,
    },
    /// `width` bytes at `off` from the current frame's r10, proven inside the
    /// frame at load time: no run-time check.
    Stack {
        /// Offset from r10 (`-512 <= off`, `off + width <= 0`).
        off: i16,
        /// Bytes accessed.
        width: u8,
        /// Load or store.
        kind: AccessKind,
    },
    /// `width` bytes at `offset` in map `region`'s value area, proven inside
    /// it (and writable, for a store) at load time: no run-time check.
    Direct {
        /// Index of the map in the program's map table.
        region: u16,
        /// Offset in the value area.
        offset: u32,
        /// Bytes accessed.
        width: u8,
        /// Load or store.
        kind: AccessKind,
    },
    /// `width` bytes at `host`, proven at load time to lie inside a map's
    /// value area that is the same for every CPU (and writable, for a
    /// store), aligned to `width`: no run-time check, nothing to look up.
    Fixed {
        /// The host address of the first byte.
        host: HostAddr,
        /// Bytes accessed.
        width: u8,
        /// Load or store.
        kind: AccessKind,
    },
    /// The 4 key bytes of an array lookup, read through r2 (checked).
    LookupKey,
    /// A helper call: anything its pointer arguments reach (checked).
    Helper,
    /// A local call: the callee's fresh frame, and anything the pointers it
    /// receives reach.
    Call,
}

/// The kind of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// Reads `width` bytes into the register the op writes, zero- or
    /// sign-extended.
    Load {
        /// Sign-extending (`ldxs*`).
        sign_extend: bool,
    },
    /// Writes the low `width` bytes of this operand.
    Store(Stored),
    /// Reads, then writes (atomics).
    Atomic,
}

/// What a store writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A register's value.
    Reg(u8),
    /// A constant (the immediate, sign-extended to 64 bits).
    Imm(u64),
}

impl AccessKind {
    /// A load that zero-extends.
    pub const LOAD: AccessKind = AccessKind::Load { sign_extend: false };

    /// Whether the access reads memory.
    pub const fn reads(self) -> bool {
        matches!(self, AccessKind::Load { .. } | AccessKind::Atomic)
    }

    /// Whether the access writes memory.
    pub const fn writes(self) -> bool {
        matches!(self, AccessKind::Store(_) | AccessKind::Atomic)
    }
}

/// What the registers an op writes receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// The op writes no register.
    None,
    /// At most 32 significant bits: a zero-extended 32-bit result, or the
    /// sign extension of a value of 32 bits or fewer. Never a stack address
    /// (the stack lies above 4 GiB and below the sign-extended range).
    Narrow,
    /// The address of a map element, or 0 (an array lookup's result).
    MapValue,
    /// Exactly this constant.
    Const(u64),
    /// A copy of this register.
    Copy(u8),
    /// This register plus this constant (64-bit, wrapping).
    Offset(u8, u64),
    /// Anything, a stack address included.
    Any,
}

impl Facts {
    /// An op that does nothing and never runs (an `lddw` second slot, a
    /// removed op): weight 0.
    pub const NOTHING: Facts = Facts {
        reads: Regs::NONE,
        writes: Regs::NONE,
        may_write: Regs::NONE,
        value: Value::None,
        memory: Memory::None,
        flow: Flow::Next,
        weight: 0,
        func_ref: None,
    };

    const fn plain(reads: Regs, writes: Regs, value: Value) -> Facts {
        Facts {
            reads,
            writes,
            may_write: writes,
            value,
            memory: Memory::None,
            flow: Flow::Next,
            weight: 1,
            func_ref: None,
        }
    }

    const fn with_memory(mut self, memory: Memory) -> Facts {
        self.memory = memory;
        self
    }

    const fn with_flow(mut self, flow: Flow) -> Facts {
        self.flow = flow;
        self
    }

    /// The same facts with another weight.
    pub const fn with_weight(mut self, weight: u8) -> Facts {
        self.weight = weight;
        self
    }

    /// The jump, branch or call target.
    pub const fn target(&self) -> Option<u32> {
        match self.flow {
            Flow::Branch(t) | Flow::Jump(t) | Flow::Call(t) => Some(t),
            Flow::Next | Flow::Exit => None,
        }
    }

    /// The target of a jump or branch inside the current function (a call's
    /// target is another function's entry).
    pub const fn local_target(&self) -> Option<u32> {
        match self.flow {
            Flow::Branch(t) | Flow::Jump(t) => Some(t),
            Flow::Next | Flow::Call(_) | Flow::Exit => None,
        }
    }

    /// Whether control may continue with the next op (after a call returns,
    /// for a call).
    pub const fn falls_through(&self) -> bool {
        matches!(self.flow, Flow::Next | Flow::Branch(_) | Flow::Call(_))
    }

    /// Whether the op may stop the run with a fault.
    pub const fn can_fault(&self) -> bool {
        match self.memory {
            Memory::Checked { .. } | Memory::LookupKey | Memory::Helper | Memory::Call => true,
            Memory::None | Memory::Stack { .. } | Memory::Direct { .. } | Memory::Fixed { .. } => {
                false
            }
        }
    }

    /// Whether the op does nothing but write `writes`: it cannot fault,
    /// changes no memory and goes on to the next op, so it may be removed
    /// when nothing reads what it writes.
    pub const fn removable(&self) -> bool {
        let quiet_memory = match self.memory {
            Memory::None => true,
            Memory::Stack { kind, .. }
            | Memory::Direct { kind, .. }
            | Memory::Fixed { kind, .. } => {
                matches!(kind, AccessKind::Load { .. })
            }
            Memory::Checked { .. } | Memory::LookupKey | Memory::Helper | Memory::Call => false,
        };
        quiet_memory && matches!(self.flow, Flow::Next) && !self.writes.is_empty()
    }
}

/// The value a load of `width` bytes gives.
const fn loaded(width: u8) -> Value {
    if width < 8 { Value::Narrow } else { Value::Any }
}

// ---- the constructors the op table is written with -------------------------

/// `dst = f(dst)` or `dst op= imm`.
pub const fn alu(dst: u8, value: Value) -> Facts {
    Facts::plain(Regs::of(dst), Regs::of(dst), value)
}

/// `dst op= src`.
pub const fn alu_reg(dst: u8, src: u8, value: Value) -> Facts {
    Facts::plain(Regs::of(dst).union(Regs::of(src)), Regs::of(dst), value)
}

/// `dst = constant`.
pub const fn set(dst: u8, value: Value) -> Facts {
    Facts::plain(Regs::NONE, Regs::of(dst), value)
}

/// `dst = ` a reference to the function at `target` (a pseudo-func `lddw`):
/// an opaque value the callback helpers accept.
pub const fn load_func(dst: u8, target: u32) -> Facts {
    let mut facts = Facts::plain(Regs::NONE, Regs::of(dst), Value::Any);
    facts.func_ref = Some(target);
    facts
}

/// `dst = f(src)`.
pub const fn unary(dst: u8, src: u8, value: Value) -> Facts {
    Facts::plain(Regs::of(src), Regs::of(dst), value)
}

/// `dst = f(src, src2)`.
pub const fn binary(dst: u8, src: u8, src2: u8, value: Value) -> Facts {
    Facts::plain(Regs::of(src).union(Regs::of(src2)), Regs::of(dst), value)
}

/// The registers a store reads besides its base.
const fn stored_reads(value: Stored) -> Regs {
    match value {
        Stored::Reg(src) => Regs::of(src),
        Stored::Imm(_) => Regs::NONE,
    }
}

/// `dst = *(base + off)`, checked.
pub const fn load(dst: u8, base: u8, off: i16, width: u8, sign_extend: bool) -> Facts {
    Facts::plain(Regs::of(base), Regs::of(dst), loaded(width)).with_memory(Memory::Checked {
        base,
        off,
        width,
        kind: AccessKind::Load { sign_extend },
    })
}

/// `*(base + off) = value`, checked.
pub const fn store(base: u8, off: i16, width: u8, value: Stored) -> Facts {
    let reads = Regs::of(base).union(stored_reads(value));
    Facts::plain(reads, Regs::NONE, Value::None).with_memory(Memory::Checked {
        base,
        off,
        width,
        kind: AccessKind::Store(value),
    })
}

/// `dst = *(r10 + off)`, proven.
pub const fn stack_load(dst: u8, off: i16, width: u8, sign_extend: bool) -> Facts {
    Facts::plain(Regs::NONE, Regs::of(dst), loaded(width)).with_memory(Memory::Stack {
        off,
        width,
        kind: AccessKind::Load { sign_extend },
    })
}

/// `*(r10 + off) = value`, proven.
pub const fn stack_store(off: i16, width: u8, value: Stored) -> Facts {
    Facts::plain(stored_reads(value), Regs::NONE, Value::None).with_memory(Memory::Stack {
        off,
        width,
        kind: AccessKind::Store(value),
    })
}

/// `dst = *(map region + offset)`, proven.
pub const fn direct_load(dst: u8, region: u16, offset: u32, width: u8) -> Facts {
    Facts::plain(Regs::NONE, Regs::of(dst), loaded(width)).with_memory(Memory::Direct {
        region,
        offset,
        width,
        kind: AccessKind::LOAD,
    })
}

/// `*(map region + offset) = value`, proven.
pub const fn direct_store(region: u16, offset: u32, width: u8, value: Stored) -> Facts {
    Facts::plain(stored_reads(value), Regs::NONE, Value::None).with_memory(Memory::Direct {
        region,
        offset,
        width,
        kind: AccessKind::Store(value),
    })
}

/// `dst = *host`, proven.
pub const fn fixed_load(dst: u8, host: HostAddr, width: u8) -> Facts {
    Facts::plain(Regs::NONE, Regs::of(dst), loaded(width)).with_memory(Memory::Fixed {
        host,
        width,
        kind: AccessKind::LOAD,
    })
}

/// `*host = value`, proven.
pub const fn fixed_store(host: HostAddr, width: u8, value: Stored) -> Facts {
    Facts::plain(stored_reads(value), Regs::NONE, Value::None).with_memory(Memory::Fixed {
        host,
        width,
        kind: AccessKind::Store(value),
    })
}

/// An atomic read-modify-write of `*(base + off)` with `src` (and r0 for
/// compare-and-exchange), checked; fetching forms write the old value back.
pub const fn atomic(op: AtomicOp, base: u8, src: u8, off: i16, wide: bool) -> Facts {
    let (reads, writes) = match op {
        AtomicOp::CmpXchg => (
            Regs::of(base).union(Regs::of(src)).union(Regs::RETURN),
            Regs::RETURN,
        ),
        AtomicOp::Xchg
        | AtomicOp::Add { fetch: true }
        | AtomicOp::Or { fetch: true }
        | AtomicOp::And { fetch: true }
        | AtomicOp::Xor { fetch: true } => (Regs::of(base).union(Regs::of(src)), Regs::of(src)),
        AtomicOp::Add { fetch: false }
        | AtomicOp::Or { fetch: false }
        | AtomicOp::And { fetch: false }
        | AtomicOp::Xor { fetch: false } => (Regs::of(base).union(Regs::of(src)), Regs::NONE),
    };
    let value = if writes.is_empty() {
        Value::None
    } else {
        Value::Any
    };
    Facts::plain(reads, writes, value).with_memory(Memory::Checked {
        base,
        off,
        width: if wide { 8 } else { 4 },
        kind: AccessKind::Atomic,
    })
}

/// `goto target`.
pub const fn jump(target: u32) -> Facts {
    Facts::plain(Regs::NONE, Regs::NONE, Value::None).with_flow(Flow::Jump(target))
}

/// `if dst op imm goto target`.
pub const fn branch(dst: u8, target: u32) -> Facts {
    Facts::plain(Regs::of(dst), Regs::NONE, Value::None).with_flow(Flow::Branch(target))
}

/// `if dst op src goto target`.
pub const fn branch_reg(dst: u8, src: u8, target: u32) -> Facts {
    let mut facts = branch(dst, target);
    facts.reads = facts.reads.union(Regs::of(src));
    facts
}

/// `dst op= imm; if dst op cmp goto target` (a fused pair).
pub const fn update_and_branch(dst: u8, target: u32) -> Facts {
    Facts::plain(Regs::of(dst), Regs::of(dst), Value::Any).with_flow(Flow::Branch(target))
}

/// `bpf_map_lookup_elem(r1, r2)` on the array path: r0 = element address or 0.
pub const fn map_lookup() -> Facts {
    Facts::plain(Regs::ARGS, Regs::RETURN, Value::MapValue).with_memory(Memory::LookupKey)
}

/// A rewritten run-time-key lookup: reads the key at r2, r0 = element address or 0.
pub const fn lookup_inline() -> Facts {
    Facts::plain(Regs::of(2), Regs::RETURN, Value::MapValue).with_memory(Memory::LookupKey)
}

/// A helper call: r1..r5 in, r0 out.
pub const fn call_helper() -> Facts {
    Facts::plain(Regs::ARGS, Regs::RETURN, Value::Any).with_memory(Memory::Helper)
}

/// `callx reg`: a helper whose id is in `reg`.
pub const fn call_reg(reg: u8) -> Facts {
    let mut facts = call_helper();
    facts.reads = facts.reads.union(Regs::of(reg));
    facts
}

/// A local call: the callee starts with all of r0..r9 and may change r0..r5
/// (the VM restores r6..r9 and r10).
pub const fn call_local(target: u32) -> Facts {
    let mut facts = Facts::plain(Regs::GENERAL, Regs::NONE, Value::Any)
        .with_memory(Memory::Call)
        .with_flow(Flow::Call(target));
    facts.may_write = Regs::CALLER_SAVED;
    facts
}

/// `exit`: the caller sees r0..r5 (the outermost frame's caller only r0).
pub const fn exit() -> Facts {
    Facts::plain(Regs::CALLER_SAVED, Regs::NONE, Value::None).with_flow(Flow::Exit)
}
