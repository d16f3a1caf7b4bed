//! The packet helpers, with the kernel's semantics and errors
//! (`net/core/filter.c`): XDP's `bpf_xdp_adjust_head`, `adjust_meta`,
//! `adjust_tail`, `load_bytes`, `store_bytes`; `__sk_buff`'s
//! `bpf_skb_load_bytes`, `store_bytes`, `change_tail`, `change_head`,
//! `bpf_l3_csum_replace` and `bpf_l4_csum_replace` ([`checksum`]).
//!
//! They work on the run's packet buffer through the address space's
//! [`PacketView`]. A helper that moves `data`, `data_meta` or `data_end`
//! moves the program's packet region and rewrites `struct xdp_md` with
//! them, so a packet pointer taken before the call and now outside the
//! packet faults on use (the kernel's verifier invalidates such pointers).
//! Every memory argument is checked like any access, and each call is
//! charged one budget unit per 8 bytes it copies.

mod checksum;

use crate::ProgramKind;
use crate::error::{Access, HelperError};
use crate::exec::ctx::{ETH_HLEN, Layout, PacketView, SKB_MAX_LEN, XDP_FRAME_END, XDP_FRAME_SIZE};
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
/// does not follow a moving packet region, so it leaves programs that
/// call them to the interpreter).
pub const MOVES_PACKET: &[u32] = &[
    ids::SKB_CHANGE_TAIL,
    ids::SKB_CHANGE_HEAD,
    ids::XDP_ADJUST_HEAD,
    ids::XDP_ADJUST_META,
    ids::XDP_ADJUST_TAIL,
];

pub(crate) const EINVAL: u64 = (-22i64) as u64;
pub(crate) const EFAULT: u64 = (-14i64) as u64;
const EACCES: u64 = (-13i64) as u64;

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
            end,
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
    let Some(new_end) = moved(
        layout.end,
        as_int(args[1]),
        layout.data + ETH_HLEN,
        XDP_FRAME_END,
    ) else {
        return Ok(EINVAL);
    };
    if new_end > layout.end {
        // Grown bytes read as zeroes.
        let grown = new_end - layout.end;
        ctx.charge(units(grown))?;
        // SAFETY: end..new_end lies inside the buffer (new_end <= XDP_FRAME_END,
        // the buffer's length for XDP).
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
    Ok(0)
}

/// The XDP packet bytes `offset..offset + len` (from `data`), or the
/// kernel's error (`bpf_xdp_pointer`).
fn xdp_range(view: &PacketView, offset: u64, len: u64) -> Result<usize, u64> {
    if offset > 0xffff || len > 0xffff {
        return Err(EFAULT);
    }
    let size = (view.layout.end - view.layout.data) as u64;
    if offset + len > size {
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
/// network header, which a test run sets after the Ethernet header.
const SKB_MIN_LEN: u64 = ETH_HLEN as u64;

fn skb_change_tail(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_change_tail", &[ProgramKind::Tc])?;
    let (new_len, flags) = (u64::from(args[1] as u32), args[2]);
    if flags != 0 || new_len > SKB_MAX_LEN as u64 || new_len < SKB_MIN_LEN {
        return Ok(EINVAL);
    }
    let layout = view.layout;
    let new_end = layout.data + new_len as usize;
    if new_end > layout.end {
        // Grown bytes read as zeroes (the kernel's fresh tailroom).
        let grown = new_end - layout.end;
        ctx.charge(units(grown))?;
        // SAFETY: the buffer holds SKB_MAX_LEN bytes after the packet's
        // first byte at load, and data never moves past it, so
        // data..new_end lies inside.
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
    Ok(0)
}

fn skb_change_head(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_change_head", &[ProgramKind::Tc])?;
    let (room, flags) = (u64::from(args[1] as u32), args[2]);
    let layout = view.layout;
    let len = (layout.end - layout.data) as u64;
    if flags != 0 || len + room > SKB_MAX_LEN as u64 {
        return Ok(EINVAL);
    }
    let room = room as usize;
    // The reserve before the headroom is SKB_MAX_LEN bytes, so data - room
    // stays inside the buffer; checked all the same.
    let Some(new_data) = layout.data.checked_sub(room) else {
        return Ok(EINVAL);
    };
    ctx.charge(units(room))?;
    // SAFETY: new_data..data lies inside the buffer (see above).
    unsafe { view.host.add(new_data).write_bytes(0, room) };
    // The MAC header is reset to the new start.
    set_layout(
        ctx,
        view,
        Layout {
            mac: new_data,
            meta: new_data,
            data: new_data,
            end: layout.end,
        },
    );
    Ok(0)
}
