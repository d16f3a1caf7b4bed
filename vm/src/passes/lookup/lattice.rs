//! The abstract values of the lookup analysis and how paths join.
//!
//! Each register holds a value of a flat lattice: unreached (no state yet) <
//! {constant, `r10 + k`, map `m`'s handle, pointer into map `m`'s values
//! (NULL / non-NULL / maybe)} < unknown. Each of the frame's 512 stack bytes
//! is a known byte or unknown, kept in shared copy-on-write chunks
//! ([`StackBytes`]). Joins keep only what both sides agree on, so
//! a state only ever loses facts.

use std::rc::Rc;

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

/// Bytes of the frame one [`StackChunk`] covers.
const CHUNK: usize = 64;
/// Chunks in a frame.
const CHUNKS: usize = FRAME_SIZE / CHUNK;

/// What is known of 64 consecutive frame bytes: a bit per byte, and the
/// bytes (0 where not known, so equal knowledge compares equal).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StackChunk {
    known: u64,
    bytes: [u8; CHUNK],
}

/// The known bytes of the current frame, by index `offset + 512`.
///
/// Sparse and shared: the frame is 8 chunks of 64 bytes, each absent (all
/// unknown) or a reference-counted [`StackChunk`] that states share until
/// one of them writes it (copy on write). A state costs 8 pointers plus the
/// chunks its own stores changed, so keeping a state per basic block costs
/// memory in proportion to the program's stores, not 512 bytes per block;
/// a join of two states that share a chunk skips it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct StackBytes {
    chunks: [Option<Rc<StackChunk>>; CHUNKS],
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

    /// The chunk and the bit of frame index `index` (below 512).
    fn place(index: u16) -> (usize, usize) {
        let index = usize::from(index);
        (index / CHUNK % CHUNKS, index % CHUNK)
    }

    pub(super) fn get(&self, index: u16) -> Option<u8> {
        let (chunk, bit) = Self::place(index);
        let chunk = self.chunks[chunk].as_deref()?;
        (chunk.known >> bit & 1 == 1).then_some(chunk.bytes[bit])
    }

    pub(super) fn set(&mut self, index: u16, byte: Option<u8>) {
        let (chunk, bit) = Self::place(index);
        let slot = &mut self.chunks[chunk];
        match (slot.as_mut(), byte) {
            (None, None) => {}
            (None, Some(b)) => {
                let mut bytes = [0; CHUNK];
                bytes[bit] = b;
                *slot = Some(Rc::new(StackChunk {
                    known: 1 << bit,
                    bytes,
                }));
            }
            (Some(shared), Some(b)) => {
                if shared.known >> bit & 1 == 1 && shared.bytes[bit] == b {
                    return;
                }
                let chunk = Rc::make_mut(shared);
                chunk.known |= 1 << bit;
                chunk.bytes[bit] = b;
            }
            (Some(shared), None) => {
                if shared.known >> bit & 1 == 0 {
                    return;
                }
                if shared.known == 1 << bit {
                    *slot = None;
                    return;
                }
                let chunk = Rc::make_mut(shared);
                chunk.known &= !(1 << bit);
                chunk.bytes[bit] = 0;
            }
        }
    }

    /// Keeps only the bytes `other` knows with the same value; true if any was lost.
    fn join_into(&mut self, other: &StackBytes) -> bool {
        let mut changed = false;
        for (mine, theirs) in self.chunks.iter_mut().zip(other.chunks.iter()) {
            let Some(shared) = mine else { continue };
            let keep = match theirs {
                Some(theirs) if Rc::ptr_eq(shared, theirs) => continue,
                Some(theirs) => {
                    let mut same = 0u64;
                    for (bit, (a, b)) in shared.bytes.iter().zip(theirs.bytes.iter()).enumerate() {
                        same |= u64::from(a == b) << bit;
                    }
                    shared.known & theirs.known & same
                }
                None => 0,
            };
            if keep == shared.known {
                continue;
            }
            changed = true;
            if keep == 0 {
                *mine = None;
                continue;
            }
            let chunk = Rc::make_mut(shared);
            for (bit, byte) in chunk.bytes.iter_mut().enumerate() {
                if keep >> bit & 1 == 0 {
                    *byte = 0;
                }
            }
            chunk.known = keep;
        }
        changed
    }

    /// Calls `chunk` with the address and size of each chunk this frame
    /// holds (for [`State::heap_pieces`]).
    #[cfg(test)]
    fn each_chunk(&self, mut chunk: impl FnMut(*const u8, usize)) {
        for held in self.chunks.iter().flatten() {
            chunk(
                Rc::as_ptr(held).cast(),
                std::mem::size_of::<StackChunk>() + 2 * std::mem::size_of::<usize>(),
            );
        }
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

    /// Calls `chunk` with the address and heap size (its reference counts
    /// included) of each shared piece this state holds beyond its own
    /// `size_of::<State>()` bytes; states that share a piece give the same
    /// address.
    #[cfg(test)]
    pub(super) fn heap_pieces(&self, chunk: impl FnMut(*const u8, usize)) {
        self.stack.each_chunk(chunk);
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
