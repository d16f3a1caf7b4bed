//! The context a packet program runs with, built as the kernel's
//! `BPF_PROG_TEST_RUN` builds it (`net/bpf/test_run.c`): the packet in a
//! buffer with the kernel's headroom ([`Packet`]), XDP's `struct xdp_md`,
//! and `struct __sk_buff` with the kernel's access rules per program type
//! ([`skb`]).
//!
//! The packet buffer's bytes map to virtual addresses so that the packet's
//! first byte, as the run starts, is at
//! [`INPUT_START`](crate::exec::memory::INPUT_START) (for a socket filter and
//! `cgroup_skb`, whose data starts at the network header, its Ethernet
//! header is): buffer offset `o` is at `INPUT_START - headroom + o`. The
//! program's packet region covers `data_meta..data_end` (XDP) or
//! `data..data_end` (`__sk_buff`); helpers that move them
//! (`bpf_xdp_adjust_head`, ...) move the region with them, so a pointer
//! outside the new bounds faults as the kernel's verifier would have
//! refused it.

pub mod offered;
pub mod skb;

use crate::ProgramKind;
use crate::error::{Access, RunError};
use crate::exec::context::RunContext;
use crate::exec::memory::{AddressSpace, INPUT_START, Region, XDP_MD_SIZE};

/// `XDP_PACKET_HEADROOM`: bytes before an XDP packet's data.
pub const XDP_PACKET_HEADROOM: usize = 256;
/// `sizeof(struct xdp_frame)`: the start of the headroom the kernel keeps
/// for itself; `data_meta` and `data` may not move below it.
pub const XDP_FRAME_SIZE: usize = 40;
/// Where an XDP frame ends in its buffer: a page (4096) less the
/// `skb_shared_info` tailroom (320); `bpf_xdp_adjust_tail` may not grow
/// the packet past it.
pub const XDP_FRAME_END: usize = 4096 - 320;
/// Largest linear part of an XDP packet (a page less the headroom and the
/// `skb_shared_info` tailroom); the kernel's test run puts the rest of a
/// longer packet in fragments.
pub const XDP_MAX_PACKET: usize = XDP_FRAME_END - XDP_PACKET_HEADROOM;
/// Size of one XDP fragment's page (`PAGE_SIZE`): the most bytes a fragment holds.
pub const XDP_FRAG_SIZE: usize = 4096;
/// Most fragments an XDP packet has (`MAX_SKB_FRAGS`).
pub const XDP_MAX_FRAGS: usize = 17;
/// Longest XDP packet a test run takes: the linear part and
/// [`XDP_MAX_FRAGS`] full fragments (a longer one is the kernel's `-ENOMEM`).
pub const XDP_MAX_FRAME: usize = XDP_MAX_PACKET + XDP_MAX_FRAGS * XDP_FRAG_SIZE;
/// Headroom before an `__sk_buff` packet (`NET_SKB_PAD + NET_IP_ALIGN` on x86-64).
pub const SKB_HEADROOM: usize = 64;
/// Largest `__sk_buff` packet a test run takes: a page less the headroom
/// and the `skb_shared_info` tailroom.
pub const SKB_MAX_PACKET: usize = 4096 - SKB_HEADROOM - 320;
/// Longest an `__sk_buff` packet may grow (`bpf_skb_change_tail`,
/// `change_head`): the loopback device's MTU (65536) plus its 14-byte
/// hardware header.
pub const SKB_MAX_LEN: usize = 65536 + 14;
/// Room kept before an `__sk_buff` packet's headroom, so that
/// `bpf_skb_change_head` can push up to [`SKB_MAX_LEN`] bytes without
/// moving the buffer (the kernel reallocates instead).
const SKB_RESERVE: usize = SKB_MAX_LEN;
/// Where an `__sk_buff` frame's first byte lies in its buffer as a run
/// loads it.
pub(crate) const SKB_HOME: usize = SKB_RESERVE + SKB_HEADROOM;
/// Length of an `__sk_buff` packet's buffer: the reserve, the headroom and
/// the longest packet.
pub(crate) const SKB_BUFFER_LEN: usize = SKB_HOME + SKB_MAX_LEN;
/// Ethernet header length: the shortest packet a test run takes.
pub const ETH_HLEN: usize = 14;

/// Where a packet's parts lie in its buffer (byte offsets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// The MAC header (where `__sk_buff` output starts).
    pub mac: usize,
    /// `data_meta` (equal to `data` when there is no metadata).
    pub meta: usize,
    /// `data`.
    pub data: usize,
    /// `data_end`.
    pub end: usize,
    /// The network header (`__sk_buff` programs; where the kernel's
    /// `skb->network_header` points).
    pub net: usize,
    /// Bytes in XDP fragments (a multi-buffer packet): they follow the
    /// linear part, which then ends at [`XDP_FRAME_END`], in the buffer
    /// from [`XDP_FRAME_END`] on, each fragment but the last full
    /// ([`XDP_FRAG_SIZE`] bytes). 0 for a packet in one buffer.
    pub frags: usize,
}

impl Layout {
    /// Whether the packet has fragments (the kernel's `xdp_buff_has_frags`).
    pub fn has_frags(&self) -> bool {
        self.frags > 0
    }

    /// The layout with the frame starting at `start`: the MAC header,
    /// `data` and `data_meta` (no metadata left) all there, as an
    /// `__sk_buff` helper that moves the front of the packet leaves them.
    pub fn front_at(self, start: usize) -> Layout {
        Layout {
            mac: start,
            meta: start,
            data: start,
            ..self
        }
    }

    /// The whole packet's length from `data`, fragments included
    /// (`xdp_get_buff_len` less the metadata).
    pub fn buff_len(&self) -> usize {
        self.end - self.data + self.frags
    }
}

/// The packet of a run, in a buffer with the kernel's headroom, kept in the
/// [`RunContext`](crate::RunContext) so that repeated runs can go on with
/// it as the kernel's test run does, and so that its buffer is reused.
#[derive(Debug, Clone, Default)]
pub struct Packet {
    pub(crate) buf: Vec<u8>,
    pub(crate) layout: Layout,
    /// The kind of the program whose run left it, if any.
    pub(crate) live: Option<ProgramKind>,
    /// Whether the headroom may hold bytes a run wrote (a helper moved the
    /// packet's start into it); it is zeroed at the next load only then.
    pub(crate) headroom_dirty: bool,
}

impl Packet {
    /// Loads `input` as a fresh packet for a program of `kind`.
    pub(crate) fn load(&mut self, kind: ProgramKind, input: &[u8]) -> Result<(), RunError> {
        if input.len() < ETH_HLEN {
            return Err(RunError::PacketTooShort {
                len: input.len(),
                min: ETH_HLEN,
            });
        }
        let (headroom, size) = match kind {
            ProgramKind::Xdp => {
                // Past the linear part, the kernel's test run fills
                // fragments of a page each, up to MAX_SKB_FRAGS.
                if input.len() > XDP_MAX_FRAME {
                    return Err(RunError::InputTooLarge {
                        len: input.len(),
                        limit: XDP_MAX_FRAME,
                    });
                }
                let frags = input.len().saturating_sub(XDP_MAX_PACKET);
                // Room for the last fragment to grow to a full page.
                let size = XDP_FRAME_END + frags.div_ceil(XDP_FRAG_SIZE) * XDP_FRAG_SIZE;
                (XDP_PACKET_HEADROOM, size)
            }
            ProgramKind::Tc | ProgramKind::SocketFilter | ProgramKind::CgroupSkb => {
                if input.len() > SKB_MAX_PACKET {
                    return Err(RunError::InputTooLarge {
                        len: input.len(),
                        limit: SKB_MAX_PACKET,
                    });
                }
                // The headroom and tailroom are never shown unzeroed: the
                // helpers that grow the packet zero what they add.
                (SKB_HOME, SKB_BUFFER_LEN)
            }
            ProgramKind::Memory => (0, input.len()),
        };
        if self.buf.len() != size {
            self.buf.clear();
            self.buf.resize(size, 0);
        } else if self.headroom_dirty && kind == ProgramKind::Xdp {
            // The headroom reads as zeroes, as the kernel's fresh buffer
            // does (only a run that moved the packet's start wrote there).
            self.buf[..headroom].fill(0);
        }
        self.headroom_dirty = false;
        // An XDP packet's fragments follow its linear part directly in the
        // buffer (see `Layout::frags`); the helpers that grow the packet
        // zero what they add.
        let stored = headroom + input.len();
        self.buf[headroom..stored].copy_from_slice(input);
        let frags = if kind == ProgramKind::Xdp {
            input.len().saturating_sub(XDP_MAX_PACKET)
        } else {
            0
        };
        let end = stored - frags;
        let data = match kind {
            ProgramKind::SocketFilter | ProgramKind::CgroupSkb => headroom + ETH_HLEN,
            ProgramKind::Xdp | ProgramKind::Tc | ProgramKind::Memory => headroom,
        };
        self.layout = Layout {
            mac: headroom,
            meta: data,
            data,
            end,
            net: headroom + ETH_HLEN,
            frags,
        };
        self.live = Some(kind);
        Ok(())
    }

    /// The packet as the kernel's test run returns it (`data_out`): for XDP
    /// from `data_meta` to `data_end`, for `__sk_buff` programs the whole
    /// frame from the MAC header; empty before any packet run.
    pub fn bytes(&self) -> &[u8] {
        let Layout {
            mac,
            meta,
            end,
            frags,
            ..
        } = self.layout;
        let start = match self.live {
            Some(ProgramKind::Xdp) => meta,
            Some(_) => mac,
            None => return &[],
        };
        // The fragments follow the linear part in the buffer.
        self.buf.get(start..end + frags).unwrap_or(&[])
    }

    /// Where the packet's parts lie in its buffer.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The headroom before the buffer's first packet byte at load, for
    /// the kind that last ran.
    pub(crate) fn headroom(&self) -> usize {
        match self.live {
            Some(ProgramKind::Xdp) => XDP_PACKET_HEADROOM,
            Some(_) => SKB_HOME,
            None => 0,
        }
    }
}

/// The packet buffer of the running program and its current layout: what
/// the packet helpers and the `__sk_buff` emulation work on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketView {
    /// The buffer's first byte.
    pub host: *mut u8,
    /// Virtual address of buffer offset 0.
    pub base: u64,
    /// The current layout.
    pub layout: Layout,
    /// The program's kind.
    pub kind: ProgramKind,
}

impl PacketView {
    /// A view that has no packet (raw memory programs).
    pub(crate) const NONE: PacketView = PacketView {
        host: std::ptr::null_mut(),
        base: 0,
        layout: Layout {
            mac: 0,
            meta: 0,
            data: 0,
            end: 0,
            net: 0,
            frags: 0,
        },
        kind: ProgramKind::Memory,
    };

    /// The view of `packet` (its buffer must stay where it is while the
    /// view is used).
    pub(crate) fn of(packet: &mut Packet, kind: ProgramKind) -> PacketView {
        let headroom = packet.headroom() as u64;
        PacketView {
            host: packet.buf.as_mut_ptr(),
            base: INPUT_START - headroom,
            layout: packet.layout,
            kind,
        }
    }

    /// Virtual address of buffer offset `offset`.
    pub(crate) fn addr(&self, offset: usize) -> u64 {
        self.base + offset as u64
    }

    /// The region the program may access directly: `data_meta..data_end`
    /// for XDP, `data..data_end` for `__sk_buff` programs (read-only for
    /// `cgroup_skb`; a socket filter cannot form packet pointers at all).
    pub(crate) fn region(&self) -> Region {
        let Layout {
            meta, data, end, ..
        } = self.layout;
        let (start, writable) = match self.kind {
            ProgramKind::Xdp => (meta, true),
            ProgramKind::Tc => (data, true),
            ProgramKind::CgroupSkb => (data, false),
            ProgramKind::SocketFilter | ProgramKind::Memory => (data, false),
        };
        Region {
            start: self.addr(start),
            len: (end - start) as u64,
            host: self.host.wrapping_add(start),
            writable,
        }
    }

    /// The bytes of `struct xdp_md` for this layout.
    #[inline]
    pub(crate) fn xdp_md(&self) -> [u8; XDP_MD_SIZE] {
        let Layout {
            meta, data, end, ..
        } = self.layout;
        // Every address lies below 4 GiB (INPUT_START plus a bounded buffer).
        let word = |offset: usize| (self.addr(offset) as u32).to_le_bytes();
        let [d0, d1, d2, d3] = word(data);
        let [e0, e1, e2, e3] = word(end);
        let [m0, m1, m2, m3] = word(meta);
        // ingress_ifindex 1, rx_queue_index 0, egress_ifindex 0.
        [
            d0, d1, d2, d3, e0, e1, e2, e3, m0, m1, m2, m3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]
    }
}

/// The XDP context the kernel's test run reports after a run (`ctx_out`):
/// `data` and `data_end` as offsets from `data_meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpMdOut {
    /// `data - data_meta`.
    pub data: u32,
    /// `data_end - data_meta`.
    pub data_end: u32,
    /// Always 0.
    pub data_meta: u32,
    /// 1 (the loopback device).
    pub ingress_ifindex: u32,
    /// 0.
    pub rx_queue_index: u32,
}

impl Packet {
    /// The XDP context after the run, as `ctx_out` reports it.
    pub fn xdp_md_out(&self) -> XdpMdOut {
        let Layout {
            meta, data, end, ..
        } = self.layout;
        XdpMdOut {
            data: (data - meta) as u32,
            data_end: (end - meta) as u32,
            data_meta: 0,
            ingress_ifindex: 1,
            rx_queue_index: 0,
        }
    }
}

/// The context a packet program's run leaves, as the kernel's test run
/// reports it (`ctx_out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextOut {
    /// XDP's `struct xdp_md`.
    Xdp(XdpMdOut),
    /// `struct __sk_buff`'s fields user space may set.
    Skb(skb::SkbOutput),
}

/// A load outside every region: a `__sk_buff` field (see
/// [`skb`]) or an out-of-bounds fault.
#[cold]
#[inline(never)]
pub(crate) fn load_miss(
    space: &AddressSpace<'_>,
    ctx: &RunContext,
    pc: usize,
    addr: u64,
    size: u64,
) -> Result<u64, RunError> {
    match skb::load(&ctx.skb, &space.packet.get(), pc, addr, size) {
        Some(result) => result,
        None => Err(RunError::OutOfBounds {
            pc,
            addr,
            size,
            access: Access::Read,
        }),
    }
}

/// A store outside every region: a `__sk_buff` field or an out-of-bounds fault.
#[cold]
#[inline(never)]
pub(crate) fn store_miss(
    space: &AddressSpace<'_>,
    ctx: &mut RunContext,
    pc: usize,
    addr: u64,
    size: u64,
    value: u64,
) -> Result<(), RunError> {
    let kind = space.packet.get().kind;
    match skb::store(&mut ctx.skb, kind, pc, addr, size, value) {
        Some(result) => result,
        None => Err(RunError::OutOfBounds {
            pc,
            addr,
            size,
            access: Access::Write,
        }),
    }
}
