//! The packet helpers, with the kernel's semantics and errors
//! (`net/core/filter.c`): XDP's `bpf_xdp_adjust_head`, `adjust_meta`,
//! `adjust_tail`, `load_bytes`, `store_bytes`; `__sk_buff`'s
//! `bpf_skb_load_bytes`, `store_bytes`, `change_tail`, `change_head`,
//! `bpf_l3_csum_replace` and `bpf_l4_csum_replace` ([`checksum`]),
//! `bpf_skb_adjust_room` (`room.rs`), `bpf_skb_vlan_push` and `vlan_pop`
//! (`vlan.rs`); XDP fragments (`bpf_xdp_get_buff_len`, and the load, store
//! and tail helpers across them).
//!
//! They work on the run's packet buffer through the address space's
//! [`PacketView`]. A helper that moves `data`, `data_meta` or `data_end`
//! moves the program's packet region and rewrites `struct xdp_md` with
//! them, so a packet pointer taken before the call and now outside the
//! packet faults on use (the kernel's verifier invalidates such pointers).
//! Every memory argument is checked like any access, and each call is
//! charged one budget unit per 8 bytes it copies.

mod checksum;
mod room;
mod vlan;

use crate::ProgramKind;
use crate::error::{Access, HelperError};
use crate::exec::ctx::{
    ETH_HLEN, Layout, PacketView, SKB_BUFFER_LEN, SKB_HOME, SKB_MAX_LEN, XDP_FRAG_SIZE,
    XDP_FRAME_END, XDP_FRAME_SIZE,
};
use crate::exec::helpers::{HelperContext, Helpers};

/// Helper ids of the packet helpers (from `linux/bpf.h`).
pub mod ids {
    /// `long bpf_skb_store_bytes(skb, offset, from, len, flags)`
    pub const SKB_STORE_BYTES: u32 = 9;
    /// `long bpf_l3_csum_replace(skb, offset, from, to, flags)`
    pub const L3_CSUM_REPLACE: u32 = 10;
    /// `long bpf_l4_csum_replace(skb, offset, from, to, flags)`
    pub const L4_CSUM_REPLACE: u32 = 11;
    /// `long bpf_skb_load_bytes(skb, offset, to, len)`
    pub const SKB_LOAD_BYTES: u32 = 26;
    /// `long bpf_skb_change_tail(skb, len, flags)`
    pub const SKB_CHANGE_TAIL: u32 = 38;
    /// `long bpf_skb_change_head(skb, len, flags)`
    pub const SKB_CHANGE_HEAD: u32 = 43;
    /// `long bpf_skb_vlan_push(skb, vlan_proto, vlan_tci)`
    pub const SKB_VLAN_PUSH: u32 = 18;
    /// `long bpf_skb_vlan_pop(skb)`
    pub const SKB_VLAN_POP: u32 = 19;
    /// `long bpf_skb_adjust_room(skb, len_diff, mode, flags)`
    pub const SKB_ADJUST_ROOM: u32 = 50;
    /// `u64 bpf_xdp_get_buff_len(xdp_md)`
    pub const XDP_GET_BUFF_LEN: u32 = 188;
    /// `long bpf_xdp_adjust_head(xdp_md, delta)`
    pub const XDP_ADJUST_HEAD: u32 = 44;
    /// `long bpf_xdp_adjust_meta(xdp_md, delta)`
    pub const XDP_ADJUST_META: u32 = 54;
    /// `long bpf_xdp_adjust_tail(xdp_md, delta)`
    pub const XDP_ADJUST_TAIL: u32 = 65;
    /// `long bpf_xdp_load_bytes(xdp_md, offset, buf, len)`
    pub const XDP_LOAD_BYTES: u32 = 189;
    /// `long bpf_xdp_store_bytes(xdp_md, offset, buf, len)`
    pub const XDP_STORE_BYTES: u32 = 190;
}

/// The helpers that move the packet's start or end (the compiled tier
/// reads the packet's region again after the calls of a program that may
/// call one: `jit::codegen::packet_may_move`).
pub const MOVES_PACKET: &[u32] = &[
    ids::SKB_CHANGE_TAIL,
    ids::SKB_CHANGE_HEAD,
    ids::SKB_ADJUST_ROOM,
    ids::SKB_VLAN_PUSH,
    ids::SKB_VLAN_POP,
    ids::XDP_ADJUST_HEAD,
    ids::XDP_ADJUST_META,
    ids::XDP_ADJUST_TAIL,
];

pub(crate) const EINVAL: u64 = (-22i64) as u64;
pub(crate) const EFAULT: u64 = (-14i64) as u64;
const EACCES: u64 = (-13i64) as u64;
const ENOMEM: u64 = (-12i64) as u64;
/// `-ENOTSUPP` (524, the kernel's internal "not supported").
const ENOTSUPP: u64 = (-524i64) as u64;

/// Registers the packet helpers in `helpers`.
pub(crate) fn register(helpers: &mut Helpers) {
    helpers.register_builtin(ids::XDP_ADJUST_HEAD, "bpf_xdp_adjust_head", xdp_adjust_head);
    helpers.register_builtin(ids::XDP_ADJUST_META, "bpf_xdp_adjust_meta", xdp_adjust_meta);
    helpers.register_builtin(ids::XDP_ADJUST_TAIL, "bpf_xdp_adjust_tail", xdp_adjust_tail);
    helpers.register_builtin(ids::XDP_LOAD_BYTES, "bpf_xdp_load_bytes", xdp_load_bytes);
    helpers.register_builtin(ids::XDP_STORE_BYTES, "bpf_xdp_store_bytes", xdp_store_bytes);
    helpers.register_builtin(ids::SKB_LOAD_BYTES, "bpf_skb_load_bytes", skb_load_bytes);
    helpers.register_builtin(ids::SKB_STORE_BYTES, "bpf_skb_store_bytes", skb_store_bytes);
    helpers.register_builtin(ids::SKB_CHANGE_TAIL, "bpf_skb_change_tail", skb_change_tail);
    helpers.register_builtin(ids::SKB_CHANGE_HEAD, "bpf_skb_change_head", skb_change_head);
    helpers.register_builtin(
        ids::SKB_ADJUST_ROOM,
        "bpf_skb_adjust_room",
        room::skb_adjust_room,
    );
    helpers.register_builtin(ids::SKB_VLAN_PUSH, "bpf_skb_vlan_push", vlan::skb_vlan_push);
    helpers.register_builtin(ids::SKB_VLAN_POP, "bpf_skb_vlan_pop", vlan::skb_vlan_pop);
    helpers.register_builtin(
        ids::XDP_GET_BUFF_LEN,
        "bpf_xdp_get_buff_len",
        xdp_get_buff_len,
    );
    helpers.register_builtin(
        ids::L3_CSUM_REPLACE,
        "bpf_l3_csum_replace",
        checksum::l3_csum_replace,
    );
    helpers.register_builtin(
        ids::L4_CSUM_REPLACE,
        "bpf_l4_csum_replace",
        checksum::l4_csum_replace,
    );
}

/// The run's packet, when the program is of one of `kinds` (the kernel
/// offers each helper to some program types only; for the others the
/// verifier refuses the call).
pub(crate) fn packet(
    ctx: &HelperContext<'_>,
    name: &str,
    kinds: &[ProgramKind],
) -> Result<PacketView, HelperError> {
    let view = ctx.space().packet.get();
    if kinds.contains(&view.kind) {
        Ok(view)
    } else {
        Err(HelperError::Other(format!(
            "{name} is not available to {} programs",
            view.kind.name()
        )))
    }
}

/// Moves the packet to `layout`: the region, `struct xdp_md`, the view.
fn set_layout(ctx: &HelperContext<'_>, mut view: PacketView, layout: Layout) {
    view.layout = layout;
    let space = ctx.space();
    space.packet.set(view);
    space.run[0].set(view.region());
    if view.kind == ProgramKind::Xdp {
        let context = space.run[1].get();
        let bytes = view.xdp_md();
        // SAFETY: the context region of an XDP run is the run's own
        // `xdp_md` buffer of exactly these many bytes, alive for the run
        // and only read through `shared_mem`-free plain loads between ops.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), context.host, bytes.len()) };
    }
}

/// The `int` a helper takes in a 64-bit register.
fn as_int(value: u64) -> i64 {
    i64::from(value as u32 as i32)
}

/// `base + delta` when it stays in `low..=high`.
fn moved(base: usize, delta: i64, low: usize, high: usize) -> Option<usize> {
    let to = i64::try_from(base).ok()?.checked_add(delta)?;
    let to = usize::try_from(to).ok()?;
    (low..=high).contains(&to).then_some(to)
}

/// Budget units for `bytes` bytes: one per 8, rounded up.
fn units(bytes: usize) -> u64 {
    bytes.div_ceil(8) as u64
}

fn xdp_adjust_head(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_xdp_adjust_head", &[ProgramKind::Xdp])?;
    let Layout {
        meta, data, end, ..
    } = view.layout;
    let delta = as_int(args[1]);
    let metalen = data - meta;
    // data may not go below the xdp_frame area plus the metadata, nor
    // leave less than an Ethernet header.
    let Some(new_data) = moved(
        data,
        delta,
        XDP_FRAME_SIZE + metalen,
        end.saturating_sub(ETH_HLEN),
    ) else {
        return Ok(EINVAL);
    };
    let new_meta = new_data - metalen;
    if metalen != 0 {
        ctx.charge(units(metalen))?;
        // SAFETY: both ranges lie inside the buffer (new_meta >= the frame
        // area, new_data <= end); `copy` allows overlap.
        unsafe { std::ptr::copy(view.host.add(meta), view.host.add(new_meta), metalen) };
    }
    set_layout(
        ctx,
        view,
        Layout {
            mac: new_data,
            meta: new_meta,
            data: new_data,
            ..view.layout
        },
    );
    Ok(0)
}

fn xdp_adjust_meta(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_xdp_adjust_meta", &[ProgramKind::Xdp])?;
    let layout = view.layout;
    let Some(new_meta) = moved(layout.meta, as_int(args[1]), XDP_FRAME_SIZE, layout.data) else {
        return Ok(EINVAL);
    };
    let metalen = layout.data - new_meta;
    // xdp_metalen_invalid: a multiple of 4 that fits skb_shared_info's u8 meta_len.
    if metalen % 4 != 0 || metalen > usize::from(u8::MAX) {
        return Ok(EACCES);
    }
    set_layout(
        ctx,
        view,
        Layout {
            meta: new_meta,
            ..layout
        },
    );
    Ok(0)
}

fn xdp_adjust_tail(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_xdp_adjust_tail", &[ProgramKind::Xdp])?;
    let layout = view.layout;
    let delta = as_int(args[1]);
    if layout.has_frags() {
        return xdp_adjust_frags_tail(ctx, view, delta);
    }
    let Some(new_end) = moved(layout.end, delta, layout.data + ETH_HLEN, XDP_FRAME_END) else {
        return Ok(EINVAL);
    };
    move_tail(ctx, view, new_end)?;
    Ok(0)
}

/// `bpf_xdp_adjust_tail` on a packet with fragments: only the fragments
/// change (`bpf_xdp_frags_shrink_tail`, `bpf_xdp_frags_increase_tail`; the
/// test run's fragments are pages, so the last may grow to a full page).
fn xdp_adjust_frags_tail(
    ctx: &mut HelperContext<'_>,
    view: PacketView,
    delta: i64,
) -> Result<u64, HelperError> {
    let layout = view.layout;
    if delta < 0 {
        let shrink = delta.unsigned_abs() as usize;
        if shrink > layout.buff_len() - ETH_HLEN {
            return Ok(EINVAL);
        }
        // Fragments are freed from the end; what the fragments cannot
        // give comes off the linear part once none is left.
        let from_frags = shrink.min(layout.frags);
        let rest = shrink - from_frags;
        set_layout(
            ctx,
            view,
            Layout {
                frags: layout.frags - from_frags,
                end: layout.end - rest,
                ..layout
            },
        );
        return Ok(0);
    }
    let grow = delta as usize;
    // Every fragment but the last is a full page.
    let last = layout.frags - (layout.frags - 1) / XDP_FRAG_SIZE * XDP_FRAG_SIZE;
    if grow > XDP_FRAG_SIZE - last {
        return Ok(EINVAL);
    }
    let old_end = layout.end + layout.frags;
    ctx.charge(units(grow))?;
    // SAFETY: the buffer holds the linear part's frame and every fragment
    // as a full page (`Packet::load`), so old_end..old_end + grow, inside
    // the last fragment's page, lies inside it.
    unsafe { view.host.add(old_end).write_bytes(0, grow) };
    set_layout(
        ctx,
        view,
        Layout {
            frags: layout.frags + grow,
            ..layout
        },
    );
    Ok(0)
}

/// Moves the packet's end to `new_end` (a bound the caller checked against
/// the buffer), zeroing what it grows: the kernel's fresh tailroom reads as
/// zeroes (`bpf_xdp_adjust_tail`, `bpf_skb_change_tail`).
fn move_tail(
    ctx: &mut HelperContext<'_>,
    view: PacketView,
    new_end: usize,
) -> Result<(), HelperError> {
    let layout = view.layout;
    let limit = match view.kind {
        ProgramKind::Xdp => XDP_FRAME_END,
        ProgramKind::Tc | ProgramKind::SocketFilter | ProgramKind::CgroupSkb => SKB_BUFFER_LEN,
        ProgramKind::Memory => layout.end,
    };
    if new_end > limit {
        // Unreachable for the callers' bounds; refused rather than trusted.
        return Err(HelperError::Other(format!(
            "packet end {new_end} past the buffer's {limit} bytes"
        )));
    }
    if new_end > layout.end {
        let grown = new_end - layout.end;
        ctx.charge(units(grown))?;
        // SAFETY: end..new_end lies inside the buffer: new_end <= limit,
        // the buffer's length for the kind (checked above).
        unsafe { view.host.add(layout.end).write_bytes(0, grown) };
    }
    set_layout(
        ctx,
        view,
        Layout {
            end: new_end,
            ..layout
        },
    );
    Ok(())
}

fn xdp_get_buff_len(ctx: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_xdp_get_buff_len", &[ProgramKind::Xdp])?;
    Ok(view.layout.buff_len() as u64)
}

/// The XDP packet bytes `offset..offset + len` (from `data`), or the
/// kernel's error (`bpf_xdp_pointer`).
fn xdp_range(view: &PacketView, offset: u64, len: u64) -> Result<usize, u64> {
    if offset > 0xffff || len > 0xffff {
        return Err(EFAULT);
    }
    // Across the fragments too: they follow the linear part in the buffer.
    if offset + len > view.layout.buff_len() as u64 {
        return Err(EINVAL);
    }
    Ok(view.layout.data + offset as usize)
}

fn xdp_load_bytes(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_xdp_load_bytes", &[ProgramKind::Xdp])?;
    let (offset, buf, len) = (
        u64::from(args[1] as u32),
        args[2],
        u64::from(args[3] as u32),
    );
    // The buffer must be memory the program may write, whatever happens.
    check_memory(ctx, buf, len, Access::Write)?;
    let start = match xdp_range(&view, offset, len) {
        Ok(start) => start,
        Err(errno) => return Ok(errno),
    };
    ctx.charge(units(len as usize))?;
    packet_to_memory(ctx, view.host.wrapping_add(start), buf, len as usize)?;
    Ok(0)
}

fn xdp_store_bytes(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_xdp_store_bytes", &[ProgramKind::Xdp])?;
    let (offset, buf, len) = (
        u64::from(args[1] as u32),
        args[2],
        u64::from(args[3] as u32),
    );
    check_memory(ctx, buf, len, Access::Read)?;
    let start = match xdp_range(&view, offset, len) {
        Ok(start) => start,
        Err(errno) => return Ok(errno),
    };
    ctx.charge(units(len as usize))?;
    memory_to_packet(ctx, buf, view.host.wrapping_add(start), len as usize)?;
    Ok(0)
}

/// Fails unless `len` bytes at `addr` are program memory open to `access`.
fn check_memory(
    ctx: &HelperContext<'_>,
    addr: u64,
    len: u64,
    access: Access,
) -> Result<(), HelperError> {
    match ctx.space().resolve(addr, len, access) {
        Some(_) => Ok(()),
        None => Err(HelperError::OutOfBounds {
            addr,
            size: len,
            access,
        }),
    }
}

/// Bytes copied at a time between the packet and program memory (through
/// the stack, so that the two may overlap and nothing is allocated).
const CHUNK: usize = 64;

/// Copies `len` packet bytes at `from` (inside the packet buffer) to
/// program memory at `to`.
fn packet_to_memory(
    ctx: &mut HelperContext<'_>,
    from: *const u8,
    to: u64,
    len: usize,
) -> Result<(), HelperError> {
    let mut chunk = [0u8; CHUNK];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done);
        // SAFETY: the caller proved from..from + len inside the packet buffer.
        unsafe { std::ptr::copy_nonoverlapping(from.add(done), chunk.as_mut_ptr(), n) };
        ctx.write(to + done as u64, &chunk[..n])?;
        done += n;
    }
    Ok(())
}

/// Copies `len` bytes of program memory at `from` into the packet buffer at `to`.
fn memory_to_packet(
    ctx: &mut HelperContext<'_>,
    from: u64,
    to: *mut u8,
    len: usize,
) -> Result<(), HelperError> {
    let mut chunk = [0u8; CHUNK];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done);
        ctx.read(from + done as u64, &mut chunk[..n])?;
        // SAFETY: the caller proved to..to + len inside the packet buffer.
        unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), to.add(done), n) };
        done += n;
    }
    Ok(())
}

/// The `__sk_buff` packet bytes `offset..offset + len` (from `data`) when
/// they lie inside the packet.
pub(crate) fn skb_range(view: &PacketView, offset: u64, len: u64) -> Option<usize> {
    let size = (view.layout.end - view.layout.data) as u64;
    (offset <= i32::MAX as u64 && offset + len <= size)
        .then_some(view.layout.data + offset as usize)
}

const SKB_KINDS: &[ProgramKind] = &[
    ProgramKind::Tc,
    ProgramKind::SocketFilter,
    ProgramKind::CgroupSkb,
];

fn skb_load_bytes(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_load_bytes", SKB_KINDS)?;
    let (offset, buf, len) = (
        u64::from(args[1] as u32),
        args[2],
        u64::from(args[3] as u32),
    );
    check_memory(ctx, buf, len, Access::Write)?;
    ctx.charge(units(len as usize))?;
    match skb_range(&view, offset, len) {
        Some(start) => {
            packet_to_memory(ctx, view.host.wrapping_add(start), buf, len as usize)?;
            Ok(0)
        }
        // The kernel clears the buffer on failure.
        None => {
            let zeroes = [0u8; CHUNK];
            let mut done = 0;
            while done < len {
                let n = (CHUNK as u64).min(len - done);
                ctx.write(buf + done, &zeroes[..n as usize])?;
                done += n;
            }
            Ok(EFAULT)
        }
    }
}

/// `BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH`.
const STORE_FLAGS: u64 = 1 | 2;

fn skb_store_bytes(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_store_bytes", &[ProgramKind::Tc])?;
    let (offset, buf, len, flags) = (
        u64::from(args[1] as u32),
        args[2],
        u64::from(args[3] as u32),
        args[4],
    );
    check_memory(ctx, buf, len, Access::Read)?;
    if flags & !STORE_FLAGS != 0 {
        return Ok(EINVAL);
    }
    // offset > INT_MAX, or offset + len past the packet (bpf_try_make_writable).
    let Some(start) = skb_range(&view, offset, len) else {
        return Ok(EFAULT);
    };
    ctx.charge(units(len as usize))?;
    memory_to_packet(ctx, buf, view.host.wrapping_add(start), len as usize)?;
    Ok(0)
}

/// The shortest a tc packet may become (`__bpf_skb_min_len`): up to the
/// network header (the test run sets no transport header and no partial
/// checksum).
fn skb_min_len(layout: &Layout) -> u64 {
    layout.net.saturating_sub(layout.data) as u64
}

fn skb_change_tail(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_change_tail", &[ProgramKind::Tc])?;
    let (new_len, flags) = (u64::from(args[1] as u32), args[2]);
    let layout = view.layout;
    if flags != 0 || new_len > SKB_MAX_LEN as u64 || new_len < skb_min_len(&layout) {
        return Ok(EINVAL);
    }
    if ctx.skb_state().encapsulation {
        return Ok(ENOTSUPP);
    }
    // Room for the whole length after data (the kernel reallocates).
    let view = make_room(ctx, view, 0, new_len as usize)?;
    move_tail(ctx, view, view.layout.data + new_len as usize)?;
    Ok(0)
}

fn skb_change_head(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_change_head", &[ProgramKind::Tc])?;
    let (room, flags) = (u64::from(args[1] as u32), args[2]);
    let layout = view.layout;
    let len = (layout.end - layout.data) as u64;
    if flags != 0 || room > i32::MAX as u64 || len + room > SKB_MAX_LEN as u64 {
        return Ok(EINVAL);
    }
    let room = room as usize;
    let view = make_room(ctx, view, room, 0)?;
    let layout = view.layout;
    let new_data = layout.data - room;
    ctx.charge(units(room))?;
    // SAFETY: make_room left `room` bytes before data inside the buffer.
    unsafe { view.host.add(new_data).write_bytes(0, room) };
    // The MAC header is reset to the new start; the network header stays.
    set_layout(ctx, view, layout.front_at(new_data));
    Ok(0)
}

/// Makes sure an `__sk_buff` frame (tc: data at the MAC header) has
/// `front` bytes before it and `back` bytes from `data` on inside the
/// buffer; when not, moves the frame back to where a run loads it (the
/// kernel reallocates the head then; packet pointers are invalid after the
/// call either way). `front` and `back` are at most [`SKB_MAX_LEN`] and the
/// frame at most that long, so the moved frame always has both.
fn make_room(
    ctx: &mut HelperContext<'_>,
    view: PacketView,
    front: usize,
    back: usize,
) -> Result<PacketView, HelperError> {
    let layout = view.layout;
    if layout.mac >= front && layout.data + back <= SKB_BUFFER_LEN {
        return Ok(view);
    }
    let len = layout.end - layout.mac;
    if front > SKB_HOME || SKB_HOME + (layout.data - layout.mac) + back > SKB_BUFFER_LEN {
        return Err(HelperError::Other(format!(
            "no room for {front} bytes before and {back} after the packet"
        )));
    }
    ctx.charge(units(len))?;
    // SAFETY: mac..end lies inside the buffer, and so does its new place
    // SKB_HOME..SKB_HOME + len (len <= SKB_MAX_LEN, the buffer is
    // SKB_HOME + SKB_MAX_LEN long); `copy` allows overlap.
    unsafe { std::ptr::copy(view.host.add(layout.mac), view.host.add(SKB_HOME), len) };
    let shift = |offset: usize| offset - layout.mac + SKB_HOME;
    let moved = Layout {
        mac: SKB_HOME,
        meta: shift(layout.meta),
        data: shift(layout.data),
        end: shift(layout.end),
        // The network header may lie before the MAC header (an
        // `adjust_room` shrink at the MAC layer); kept where it was relative to it.
        net: (layout.net + SKB_HOME).saturating_sub(layout.mac),
        frags: 0,
    };
    set_layout(ctx, view, moved);
    Ok(PacketView {
        layout: moved,
        ..view
    })
}
