//! The abstract values of the lookup analysis and how paths join.
//!
//! Each register holds a value of a flat lattice: unreached (no state yet) <
//! {constant, `r10 + k`, map `m`'s handle, pointer into map `m`'s values
//! (NULL / non-NULL / maybe)} < unknown. Each of the frame's 512 stack bytes
//! is a known byte or unknown. Joins keep only what both sides agree on, so
//! a state only ever loses facts.

use tinybpf_maps::BpfMap;

use crate::exec::memory::{FIRST_MAP_SLOT, FRAME_SIZE, MAP_HANDLE_BASE};

/// Number of registers (r0..r10).
pub(super) const REGS: usize = 11;

/// Whether a map-value pointer may be NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nullness {
    NonNull,
    Null,
    Maybe,
}

/// The abstract value of one register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Val {
    /// Anything.
    Unknown,
    /// Exactly this number (never one of the values below: see [`Val::of`]).
    Const(u64),
    /// The current frame's r10 plus this (wrapping) offset.
    StackPtr(i64),
    /// The handle of map `index` (what `lddw src 1/5` loads).
    MapHandle(usize),
    /// 0 (if `null` allows) or an address inside map `map`'s value area.
    MapValue { map: usize, null: Nullness },
}

impl Val {
    /// The abstract value of the constant `c`, classified by what it is when
    /// the program runs: the VM resolves map handles and map-value addresses
    /// by value, so a constant equal to one is one (however the program made
    /// it: `lddw` of a map, of a global variable, or of the number itself).
    pub(super) fn of(c: u64, maps: &[BpfMap]) -> Val {
        if let Some(index) = c
            .checked_sub(MAP_HANDLE_BASE)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| i < maps.len())
        {
            return Val::MapHandle(index);
        }
        let slot = (c >> 32).wrapping_sub(FIRST_MAP_SLOT);
        if let Some(map) = usize::try_from(slot)
            .ok()
            .and_then(|m| maps.get(m).map(|a| (m, a)))
            && (c & 0xffff_ffff) < map.1.program_region(0).map_or(0, |(_, len)| len) as u64
        {
            return Val::MapValue {
                map: map.0,
                null: Nullness::NonNull,
            };
        }
        Val::Const(c)
    }

    pub(super) fn join(self, other: Val) -> Val {
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

    /// The constant, if known.
    pub(super) fn constant(self) -> Option<u64> {
        if let Val::Const(c) = self {
            Some(c)
        } else {
            None
        }
    }
}

/// The known bytes of the current frame, by index `offset + 512`, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct StackBytes {
    known: Vec<(u16, u8)>,
}

impl StackBytes {
    /// The frame index of the byte at `offset` from r10, if inside the frame.
    pub(super) fn index(offset: i64) -> Option<u16> {
        let index = offset.checked_add(FRAME_SIZE as i64)?;
        if (0..FRAME_SIZE as i64).contains(&index) {
            u16::try_from(index).ok()
        } else {
            None
        }
    }

    pub(super) fn get(&self, index: u16) -> Option<u8> {
        self.known
            .binary_search_by_key(&index, |&(i, _)| i)
            .ok()
            .map(|at| self.known[at].1)
    }

    pub(super) fn set(&mut self, index: u16, byte: Option<u8>) {
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
pub(super) struct State {
    pub(super) regs: [Val; REGS],
    pub(super) stack: StackBytes,
}

impl State {
    /// A function's entry (also the top element): nothing known but r10.
    pub(super) fn entry() -> State {
        let mut regs = [Val::Unknown; REGS];
        regs[10] = Val::StackPtr(0);
        State {
            regs,
            stack: StackBytes::default(),
        }
    }

    /// Joins `other` into `self`; true if `self` changed.
    pub(super) fn join_into(&mut self, other: &State) -> bool {
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

    pub(super) fn reg(&self, r: u8) -> Val {
        self.regs
            .get(usize::from(r))
            .copied()
            .unwrap_or(Val::Unknown)
    }

    pub(super) fn set_reg(&mut self, r: u8, value: Val) {
        if let Some(slot) = self.regs.get_mut(usize::from(r)) {
            *slot = value;
        }
    }

    /// Forgets everything known about the frame's bytes.
    pub(super) fn forget_stack(&mut self) {
        self.stack = StackBytes::default();
    }

    /// The effect on the current frame of writing `width` bytes at `base + off`,
    /// with `bytes` (little-endian) when known.
    pub(super) fn write_memory(&mut self, base: Val, off: i16, width: u8, bytes: Option<u64>) {
        match base {
            Val::StackPtr(k) => {
                let start = k.wrapping_add(i64::from(off));
                for i in 0..usize::from(width) {
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
            Val::Unknown | Val::Const(_) => self.forget_stack(),
        }
    }

    /// The value `width` bytes at `base + off` are known to hold.
    pub(super) fn read_memory(&self, base: Val, off: i16, width: u8) -> Option<u64> {
        let Val::StackPtr(k) = base else {
            return None;
        };
        let start = k.wrapping_add(i64::from(off));
        let mut bytes = [0u8; 8];
        for (i, byte) in bytes.iter_mut().enumerate().take(usize::from(width)) {
            let index = StackBytes::index(start.wrapping_add(i as i64))?;
            *byte = self.stack.get(index)?;
        }
        Some(u64::from_le_bytes(bytes))
    }
}
