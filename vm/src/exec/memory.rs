//! The program's address space: virtual addresses, regions and checked access.
//!
//! Programs never see host addresses. Every pointer a program holds is a
//! virtual address whose upper 32 bits select a region slot:
//!
//! | slot | region | start address |
//! |---|---|---|
//! | 0 | input memory or XDP packet | `0x1000_0000` (below 4 GiB, so XDP's 32-bit `data` fields hold it) |
//! | 1 | XDP context (`struct xdp_md`), read-only | `0x1_0000_0000` |
//! | 2 | stack: 8 frames of 512 bytes | `0x2_0000_0000` |
//! | 3 + i | value area of map i (read-only when the map is `BPF_F_RDONLY_PROG`) | `(3 + i) << 32` |
//! | 3 + d * maps + i (d >= 1) | map i as the CPU `d` after the run's sees it (per-CPU maps: CPU views, for `bpf_map_lookup_percpu_elem`) | `(3 + d * maps + i) << 32` |
//!
//! An access of `size` bytes at `addr` is allowed only when all of
//! `[addr, addr + size)` lies inside one region (checked without overflow),
//! and, for a store, the region is writable. Values are moved through
//! [`tinybpf_maps::shared_mem`], the memory model shared with user space.

use std::cell::Cell;

use crate::error::Access;
use crate::exec::ctx::PacketView;
use tinybpf_maps::shared_mem;

/// Slot of the input memory or packet.
pub const INPUT_SLOT: u64 = 0;
/// Slot of the XDP context.
pub const CONTEXT_SLOT: u64 = 1;
/// Slot of the stack.
pub const STACK_SLOT: u64 = 2;
/// Slot of the first map's value area.
pub const FIRST_MAP_SLOT: u64 = 3;

/// Virtual address of the first input byte.
pub const INPUT_START: u64 = 0x1000_0000;
/// Largest input the VM accepts: it must end below 4 GiB.
pub const MAX_INPUT_LEN: usize = (u32::MAX as u64 - INPUT_START) as usize;
/// Virtual address of the XDP context.
pub const CONTEXT_START: u64 = CONTEXT_SLOT << 32;
/// Virtual address of the lowest stack byte.
pub const STACK_START: u64 = STACK_SLOT << 32;
/// Bytes of one stack frame.
pub const FRAME_SIZE: usize = 512;
/// Maximum number of frames (the main program plus 7 nested local calls).
pub const MAX_FRAMES: usize = 8;
/// Bytes of the whole stack.
pub const STACK_SIZE: usize = FRAME_SIZE * MAX_FRAMES;
/// Size of `struct xdp_md`.
pub const XDP_MD_SIZE: usize = 24;

/// Register value that stands for map `i` (what `lddw rX, map` loads).
///
/// It lies in no region, so dereferencing it faults.
pub const MAP_HANDLE_BASE: u64 = 0xffff_0000_0000_0000;

/// Register value that stands for the function at op `i` (what a
/// pseudo-func `lddw` loads: `FUNC_REF_BASE + i`, the callback argument of
/// `bpf_loop` and `bpf_for_each_map_elem`).
///
/// It lies in no region, so dereferencing it faults.
pub const FUNC_REF_BASE: u64 = 0xfffe_0000_0000_0000;

/// Slot of the keys `bpf_for_each_map_elem` hands its callbacks: read-only,
/// one [`CALLBACK_KEY_SIZE`]-byte area per frame that may call the helper.
/// Far above every map slot; only a miss of the map slots looks here.
pub const CALLBACK_KEY_SLOT: u64 = 0xfffd_0000;
/// Virtual address of the first callback key area.
pub const CALLBACK_KEY_START: u64 = CALLBACK_KEY_SLOT << 32;
/// Bytes of one callback key area: the largest key the kernel allows a
/// map a program iterates (`MAX_BPF_STACK`).
pub const CALLBACK_KEY_SIZE: usize = 512;

/// Virtual start address of map `index`'s value area.
pub const fn map_value_start(index: usize) -> u64 {
    (FIRST_MAP_SLOT + index as u64) << 32
}

/// The virtual address of frame `depth`'s frame pointer (r10): frames grow down
/// from the top of the stack region, frame 0 highest.
pub const fn frame_pointer(depth: usize) -> u64 {
    STACK_START + (STACK_SIZE - depth * FRAME_SIZE) as u64
}

/// The stack region of a program whose frames reach `extent` bytes below
/// the top (see `passes::stack_depth`): its virtual start and length, the
/// top `extent` bytes of the stack (all of it when `extent` is larger).
/// Every run maps exactly this, so the compiled tier may rely on it.
pub(crate) const fn stack_window(extent: usize) -> (u64, u64) {
    let len = if extent < STACK_SIZE {
        extent
    } else {
        STACK_SIZE
    };
    (STACK_START + (STACK_SIZE - len) as u64, len as u64)
}

/// One contiguous piece of memory a program may use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Region {
    /// Virtual address of the first byte.
    pub start: u64,
    /// Length in bytes (0: the slot is unmapped).
    pub len: u64,
    /// Host address of the first byte.
    pub host: *mut u8,
    /// Whether programs may store into it.
    pub writable: bool,
}

// SAFETY: a Region is a description of memory, not an owner. The memory it
// points to is either a map's value region, kept alive by the BpfMap handle
// held by the same LoadedProgram and designed for shared access through atomics, or
// a per-run buffer that only the running thread uses.
unsafe impl Send for Region {}
// SAFETY: see the Send impl; all access through `host` goes through
// `shared_mem`, whose accesses are atomic.
unsafe impl Sync for Region {}

impl Region {
    /// An unmapped slot.
    pub const EMPTY: Region = Region {
        start: 0,
        len: 0,
        host: std::ptr::null_mut(),
        writable: false,
    };

    /// The host pointer for `size` bytes at `addr`, if they lie inside.
    ///
    /// Only the low 32 bits of `addr - start` count: the caller chose the
    /// region by `addr`'s slot, a region never crosses its slot, and so one
    /// map region serves any slot that shows it (a per-CPU map's CPU
    /// views).
    #[inline(always)]
    fn host_ptr(&self, addr: u64, size: u64) -> Option<*mut u8> {
        let offset = addr.wrapping_sub(self.start) & 0xffff_ffff;
        if offset < self.len && size <= self.len - offset {
            // `offset < len`, and `len` bytes exist behind `host`, so the
            // offset fits in usize and stays inside the allocation.
            Some(self.host.wrapping_add(offset as usize))
        } else {
            None
        }
    }
}

/// The regions of one run: the per-run slots plus the program's map areas.
pub(crate) struct AddressSpace<'a> {
    /// Input, context and stack (the packet region moves when a helper
    /// moves the packet's start or end).
    pub run: [Cell<Region>; 3],
    /// The packet buffer and its layout (packet programs).
    pub packet: Cell<PacketView>,
    /// The map value areas as the run's CPU sees them, in map-table order
    /// (then, for a program with per-CPU maps, every other CPU's: see
    /// `exec::map_regions`).
    pub maps: &'a [Region],
    /// The callback keys (read-only; empty until a run's first
    /// `bpf_for_each_map_elem` zeroes and maps them).
    pub keys: Cell<Region>,
}

impl AddressSpace<'_> {
    /// The regions of the run's own slots as they are now.
    #[cfg_attr(not(feature = "jit"), allow(dead_code))]
    pub fn run_regions(&self) -> [Region; 3] {
        [self.run[0].get(), self.run[1].get(), self.run[2].get()]
    }

    /// Finds the region holding `[addr, addr + size)` and returns its host pointer.
    #[inline(always)]
    pub fn resolve(&self, addr: u64, size: u64, access: Access) -> Option<*mut u8> {
        let slot = addr >> 32;
        let region = if slot < FIRST_MAP_SLOT {
            self.run[slot as usize].get()
        } else {
            match self.maps.get((slot - FIRST_MAP_SLOT) as usize) {
                Some(region) => *region,
                None => return self.resolve_key(slot, addr, size, access),
            }
        };
        if access == Access::Write && !region.writable {
            return None;
        }
        region.host_ptr(addr, size)
    }

    /// `resolve` past the map slots: the callback keys, read-only.
    #[cold]
    #[inline(never)]
    fn resolve_key(&self, slot: u64, addr: u64, size: u64, access: Access) -> Option<*mut u8> {
        if slot != CALLBACK_KEY_SLOT || access == Access::Write {
            return None;
        }
        self.keys.get().host_ptr(addr, size)
    }

    /// Loads `width` bytes (1, 2, 4 or 8) at `addr`, little-endian, zero-extended.
    #[inline(always)]
    pub fn load(&self, addr: u64, width: u64) -> Option<u64> {
        let host = self.resolve(addr, width, Access::Read)?;
        // SAFETY: `resolve` proved `width` bytes at `host` lie inside a live
        // region; region memory is only accessed through `shared_mem`.
        Some(unsafe { shared_mem::load(host, width as usize) })
    }

    /// Stores the low `width` bytes of `value` at `addr`.
    #[inline(always)]
    pub fn store(&self, addr: u64, width: u64, value: u64) -> Option<()> {
        let host = self.resolve(addr, width, Access::Write)?;
        // SAFETY: as in `load`, and the region is writable.
        unsafe { shared_mem::store(host, width as usize, value) };
        Some(())
    }

    /// Copies `out.len()` bytes at `addr` into `out`.
    pub fn read_bytes(&self, addr: u64, out: &mut [u8]) -> Option<()> {
        let host = self.resolve(addr, out.len() as u64, Access::Read)?;
        // SAFETY: `resolve` proved the whole range lies inside one region.
        unsafe { shared_mem::copy_out(host, out) };
        Some(())
    }

    /// Copies `data` to `addr`.
    pub fn write_bytes(&self, addr: u64, data: &[u8]) -> Option<()> {
        let host = self.resolve(addr, data.len() as u64, Access::Write)?;
        // SAFETY: `resolve` proved the whole range lies inside one writable region.
        unsafe { shared_mem::copy_in(host, data) };
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_bounds_are_checked_at_both_ends_without_overflow() {
        let mut buf = [0u8; 16];
        let region = Region {
            start: 0x1000,
            len: 16,
            host: buf.as_mut_ptr(),
            writable: true,
        };
        assert!(region.host_ptr(0x1000, 16).is_some());
        assert!(region.host_ptr(0x100f, 1).is_some());
        assert!(region.host_ptr(0x100f, 2).is_none());
        assert!(region.host_ptr(0x0fff, 1).is_none());
        assert!(region.host_ptr(0x1010, 1).is_none());
        assert!(region.host_ptr(0x1008, u64::MAX).is_none());
        assert!(region.host_ptr(u64::MAX, 8).is_none());
    }

    #[test]
    fn frames_grow_down_inside_the_stack() {
        assert_eq!(frame_pointer(0), STACK_START + STACK_SIZE as u64);
        assert_eq!(
            frame_pointer(MAX_FRAMES - 1),
            STACK_START + FRAME_SIZE as u64
        );
    }
}
