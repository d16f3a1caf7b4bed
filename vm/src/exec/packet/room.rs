//! `bpf_skb_adjust_room`: room added or removed after the MAC header
//! (`BPF_ADJ_ROOM_MAC`) or after the base network header
//! (`BPF_ADJ_ROOM_NET`), with the kernel's checks and errnos in its order
//! (`bpf_skb_adjust_room`, `bpf_skb_net_grow`, `bpf_skb_net_shrink` in
//! `net/core/filter.c`).
//!
//! The headers before the place move with the frame's start: growing
//! moves them `len` bytes earlier and zeroes the `len` bytes after them;
//! shrinking moves them `len` bytes later over the bytes removed. The MAC
//! and network headers move with them. Encapsulation flags change
//! `skb->protocol` to the new outer protocol and mark the packet
//! encapsulated (a second encapsulation is `-EALREADY`, and
//! `bpf_skb_change_tail` then `-ENOTSUPP`). The test run's packet is not
//! GSO unless `ctx_in` sets `gso_size`; a GSO packet of the test run has no
//! GSO type, which the kernel refuses with `-ENOTSUPP`.

use super::{EFAULT, EINVAL, ENOMEM, ENOTSUPP, make_room, packet, set_layout, units};
use crate::ProgramKind;
use crate::error::HelperError;
use crate::exec::ctx::skb::SkbState;
use crate::exec::ctx::{ETH_HLEN, Layout, SKB_MAX_LEN};
use crate::exec::helpers::HelperContext;

/// `-EALREADY`.
const EALREADY: u64 = (-114i64) as u64;

/// `BPF_ADJ_ROOM_NET`.
const MODE_NET: u32 = 0;
/// `BPF_ADJ_ROOM_MAC`.
const MODE_MAC: u32 = 1;

/// The flags (`BPF_F_ADJ_ROOM_*`).
mod flag {
    pub const FIXED_GSO: u64 = 1 << 0;
    pub const ENCAP_L3_IPV4: u64 = 1 << 1;
    pub const ENCAP_L3_IPV6: u64 = 1 << 2;
    pub const ENCAP_L4_GRE: u64 = 1 << 3;
    pub const ENCAP_L4_UDP: u64 = 1 << 4;
    pub const NO_CSUM_RESET: u64 = 1 << 5;
    pub const ENCAP_L2_ETH: u64 = 1 << 6;
    pub const DECAP_L3_IPV4: u64 = 1 << 7;
    pub const DECAP_L3_IPV6: u64 = 1 << 8;
    /// `BPF_F_ADJ_ROOM_ENCAP_L2(len)`: the inner MAC length in the top byte.
    pub const ENCAP_L2_SHIFT: u32 = 56;
    pub const ENCAP_L2_MASK: u64 = 0xff << ENCAP_L2_SHIFT;
    pub const ENCAP_L3: u64 = ENCAP_L3_IPV4 | ENCAP_L3_IPV6;
    pub const DECAP_L3: u64 = DECAP_L3_IPV4 | DECAP_L3_IPV6;
    /// Every flag the helper knows.
    pub const ALL: u64 = FIXED_GSO
        | ENCAP_L3
        | ENCAP_L4_GRE
        | ENCAP_L4_UDP
        | ENCAP_L2_ETH
        | ENCAP_L2_MASK
        | DECAP_L3
        | NO_CSUM_RESET;
    /// The flags a shrink takes.
    pub const SHRINK: u64 = FIXED_GSO | DECAP_L3 | NO_CSUM_RESET;
}

/// `ETH_P_IP` as `skb->protocol` holds it (network byte order).
const IPV4: u16 = 0x0800u16.to_be();
/// `ETH_P_IPV6`, network byte order.
const IPV6: u16 = 0x86ddu16.to_be();
/// `sizeof(struct iphdr)`, `sizeof(struct ipv6hdr)`.
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;

/// What a call that passed every check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Adjust {
    /// Bytes from the frame's start that move (the place is after them).
    off: usize,
    /// Bytes added or removed.
    len: usize,
    /// Added (else removed).
    grow: bool,
    /// The new `skb->protocol`, when the flags change it.
    protocol: Option<u16>,
    /// Whether the packet becomes encapsulated.
    encapsulate: bool,
}

/// The kernel's checks, in its order, for a packet laid out as `layout`
/// with `state`: the change to make, or the errno.
fn check(
    layout: &Layout,
    state: &SkbState,
    len_diff: i32,
    mode: u32,
    flags: u64,
) -> Result<Adjust, u64> {
    let len = len_diff.unsigned_abs() as usize;
    let shrink = len_diff < 0;
    if flags & !flag::ALL != 0 {
        return Err(EINVAL);
    }
    if len > 0xfff {
        return Err(EFAULT);
    }
    let protocol = state.protocol;
    let base_len = match protocol {
        IPV4 => IPV4_HLEN,
        IPV6 => IPV6_HLEN,
        _ => return Err(ENOTSUPP),
    };
    // skb_mac_header_len: from the MAC header to the network header.
    let mac_len = layout.net.saturating_sub(layout.mac);
    let off = match mode {
        MODE_NET => mac_len + base_len,
        MODE_MAC => mac_len,
        _ => return Err(ENOTSUPP),
    };
    let mut len_min = base_len;
    if flags & flag::DECAP_L3 != 0 {
        if !shrink {
            return Err(EINVAL);
        }
        len_min = match flags & flag::DECAP_L3 {
            flag::DECAP_L3_IPV4 => IPV4_HLEN,
            flag::DECAP_L3_IPV6 => IPV6_HLEN,
            _ => return Err(EINVAL),
        };
    }
    let skb_len = layout.end - layout.data;
    // From the network header to the end (u32 arithmetic, as the kernel's).
    let len_cur =
        (skb_len as u32).wrapping_sub(layout.net.wrapping_sub(layout.data) as u32) as usize;
    let gso = state.fields.gso_size != 0;
    if (shrink && (len >= len_cur || len_cur - len < len_min))
        || (!shrink && skb_len + len > SKB_MAX_LEN && !gso)
    {
        return Err(ENOTSUPP);
    }
    if shrink {
        if flags & !flag::SHRINK != 0 {
            return Err(EINVAL);
        }
        // A test run's GSO packet is neither TCP nor UDP_L4.
        if gso {
            return Err(ENOTSUPP);
        }
        // pskb_may_pull(off + len).
        if off + len > skb_len {
            return Err(ENOMEM);
        }
        let new_protocol = match protocol {
            IPV4 if flags & flag::DECAP_L3_IPV6 != 0 => Some(IPV6),
            IPV6 if flags & flag::DECAP_L3_IPV4 != 0 => Some(IPV4),
            _ => None,
        };
        return Ok(Adjust {
            off,
            len,
            grow: false,
            protocol: new_protocol,
            encapsulate: false,
        });
    }
    if gso {
        return Err(ENOTSUPP);
    }
    let encapsulate = flags & flag::ENCAP_L3 != 0;
    if encapsulate {
        let inner_mac_len = (flags >> flag::ENCAP_L2_SHIFT) as usize;
        if flags & flag::ENCAP_L3 == flag::ENCAP_L3
            || flags & (flag::ENCAP_L4_GRE | flag::ENCAP_L4_UDP)
                == flag::ENCAP_L4_GRE | flag::ENCAP_L4_UDP
            || (flags & flag::ENCAP_L2_ETH != 0 && inner_mac_len < ETH_HLEN)
        {
            return Err(EINVAL);
        }
        if state.encapsulation {
            return Err(EALREADY);
        }
        if inner_mac_len > len {
            return Err(EINVAL);
        }
    }
    let new_protocol = match protocol {
        IPV4 if encapsulate && flags & flag::ENCAP_L3_IPV6 != 0 => Some(IPV6),
        IPV6 if encapsulate && flags & flag::ENCAP_L3_IPV4 != 0 => Some(IPV4),
        _ => None,
    };
    Ok(Adjust {
        off,
        len,
        grow: true,
        protocol: new_protocol,
        encapsulate,
    })
}

/// `long bpf_skb_adjust_room(skb, len_diff, mode, flags)` (tc).
pub(super) fn skb_adjust_room(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_adjust_room", &[ProgramKind::Tc])?;
    let state = *ctx.skb_state();
    let adjust = match check(
        &view.layout,
        &state,
        args[1] as u32 as i32,
        args[2] as u32,
        args[3],
    ) {
        Ok(adjust) => adjust,
        Err(errno) => return Ok(errno),
    };
    let Adjust { off, len, .. } = adjust;
    ctx.charge(units(off + len))?;
    let layout = if adjust.grow {
        // `off` bytes from the MAC header on must lie in the buffer (they
        // may run past a short packet's end, into the tailroom).
        let view = make_room(ctx, view, len, off)?;
        let layout = view.layout;
        let start = layout.mac - len;
        // SAFETY: make_room left `len` bytes before the MAC header (= data)
        // and `off` bytes from it on inside the buffer, so mac..mac + off,
        // start..start + off and the zeroed start + off..mac + off lie in
        // it. `copy` allows overlap.
        unsafe {
            if layout.mac + off > layout.end {
                // The kernel's tailroom reads as zeroes.
                let past = layout.mac + off - layout.end;
                view.host.add(layout.end).write_bytes(0, past);
            }
            std::ptr::copy(view.host.add(layout.mac), view.host.add(start), off);
            view.host.add(start + off).write_bytes(0, len);
        }
        set_layout(
            ctx,
            view,
            Layout {
                net: layout.net - len,
                ..layout.front_at(start)
            },
        );
        ctx.space().packet.get().layout
    } else {
        let layout = view.layout;
        let start = layout.mac + len;
        // SAFETY: off + len <= the packet's length (checked), so both
        // mac..mac + off and start..start + off lie inside the packet.
        unsafe { std::ptr::copy(view.host.add(layout.mac), view.host.add(start), off) };
        let moved = Layout {
            net: layout.net + len,
            ..layout.front_at(start)
        };
        set_layout(ctx, view, moved);
        moved
    };
    debug_assert_eq!(layout.data, layout.mac);
    let state = ctx.skb_state();
    if let Some(protocol) = adjust.protocol {
        state.protocol = protocol;
    }
    state.encapsulation |= adjust.encapsulate;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tc frame of `len` bytes loaded as the test run loads it.
    fn frame(len: usize) -> Layout {
        Layout {
            mac: 100,
            meta: 100,
            data: 100,
            end: 100 + len,
            net: 100 + ETH_HLEN,
            frags: 0,
        }
    }

    fn ipv4() -> SkbState {
        SkbState {
            protocol: IPV4,
            ..SkbState::default()
        }
    }

    #[test]
    fn grows_and_shrinks_after_the_mac_or_network_header() {
        let (layout, state) = (frame(64), ipv4());
        let grow = check(&layout, &state, 8, MODE_NET, 0).unwrap();
        assert_eq!((grow.off, grow.len, grow.grow), (34, 8, true));
        let shrink = check(&layout, &state, -8, MODE_MAC, 0).unwrap();
        assert_eq!((shrink.off, shrink.len, shrink.grow), (14, 8, false));
        let v6 = SkbState {
            protocol: IPV6,
            ..SkbState::default()
        };
        assert_eq!(check(&frame(100), &v6, 4, MODE_NET, 0).unwrap().off, 54);
    }

    #[test]
    fn refusals_come_in_the_kernels_order() {
        let (layout, state) = (frame(64), ipv4());
        // Unknown flag before the length, the length before the protocol.
        assert_eq!(check(&layout, &state, 0x1000, 7, 1 << 9), Err(EINVAL));
        assert_eq!(check(&layout, &state, 0x1000, 7, 0), Err(EFAULT));
        assert_eq!(check(&layout, &state, -0x1000, MODE_NET, 0), Err(EFAULT));
        assert_eq!(check(&layout, &state, i32::MIN, MODE_NET, 0), Err(EFAULT));
        let arp = SkbState {
            protocol: 0x0806u16.to_be(),
            ..SkbState::default()
        };
        assert_eq!(check(&layout, &arp, 4, 7, 0), Err(ENOTSUPP));
        assert_eq!(check(&layout, &state, 4, 2, 0), Err(ENOTSUPP));
        // Decapsulation flags only shrink, one at a time.
        assert_eq!(
            check(&layout, &state, 4, MODE_MAC, flag::DECAP_L3_IPV4),
            Err(EINVAL)
        );
        assert_eq!(
            check(&layout, &state, -4, MODE_MAC, flag::DECAP_L3),
            Err(EINVAL)
        );
    }

    #[test]
    fn shrinks_keep_the_network_headers_minimum() {
        // 50 bytes after the network header; an IPv4 header needs 20.
        let (layout, state) = (frame(64), ipv4());
        assert!(check(&layout, &state, -30, MODE_MAC, 0).is_ok());
        assert_eq!(check(&layout, &state, -31, MODE_MAC, 0), Err(ENOTSUPP));
        assert_eq!(check(&layout, &state, -50, MODE_MAC, 0), Err(ENOTSUPP));
        // Decapsulating to IPv6 asks for 40.
        assert_eq!(
            check(&layout, &state, -11, MODE_MAC, flag::DECAP_L3_IPV6),
            Err(ENOTSUPP)
        );
        let to_v6 = check(&layout, &state, -10, MODE_MAC, flag::DECAP_L3_IPV6).unwrap();
        assert_eq!(to_v6.protocol, Some(IPV6));
        // A shrink takes no encapsulation flag.
        assert_eq!(
            check(&layout, &state, -4, MODE_MAC, flag::ENCAP_L3_IPV4),
            Err(EINVAL)
        );
        assert!(check(&layout, &state, -4, MODE_MAC, flag::NO_CSUM_RESET).is_ok());
    }

    #[test]
    fn growth_stops_at_the_longest_packet() {
        let state = ipv4();
        let near = frame(SKB_MAX_LEN - 8);
        assert!(check(&near, &state, 8, MODE_MAC, 0).is_ok());
        assert_eq!(check(&near, &state, 9, MODE_MAC, 0), Err(ENOTSUPP));
    }

    #[test]
    fn encapsulation_checks_its_flags() {
        let (layout, state) = (frame(64), ipv4());
        let both_l3 = flag::ENCAP_L3;
        assert_eq!(check(&layout, &state, 20, MODE_MAC, both_l3), Err(EINVAL));
        let both_l4 = flag::ENCAP_L3_IPV4 | flag::ENCAP_L4_GRE | flag::ENCAP_L4_UDP;
        assert_eq!(check(&layout, &state, 20, MODE_MAC, both_l4), Err(EINVAL));
        let short_l2 = flag::ENCAP_L3_IPV4 | flag::ENCAP_L2_ETH | (13 << 56);
        assert_eq!(check(&layout, &state, 40, MODE_MAC, short_l2), Err(EINVAL));
        let l2_too_long = flag::ENCAP_L3_IPV4 | (30 << 56);
        assert_eq!(
            check(&layout, &state, 20, MODE_MAC, l2_too_long),
            Err(EINVAL)
        );
        let encapsulated = SkbState {
            encapsulation: true,
            ..ipv4()
        };
        assert_eq!(
            check(&layout, &encapsulated, 20, MODE_MAC, flag::ENCAP_L3_IPV4),
            Err(EALREADY)
        );
        // Without an L3 flag the L4 and L2 flags are not looked at.
        assert!(
            check(
                &layout,
                &state,
                8,
                MODE_MAC,
                flag::ENCAP_L4_GRE | flag::ENCAP_L4_UDP
            )
            .is_ok()
        );
        let v6_in_v4 = check(&layout, &state, 40, MODE_MAC, flag::ENCAP_L3_IPV6).unwrap();
        assert_eq!(
            (v6_in_v4.protocol, v6_in_v4.encapsulate),
            (Some(IPV6), true)
        );
        let v4_in_v4 = check(&layout, &state, 20, MODE_MAC, flag::ENCAP_L3_IPV4).unwrap();
        assert_eq!((v4_in_v4.protocol, v4_in_v4.encapsulate), (None, true));
    }

    #[test]
    fn a_gso_test_packet_is_not_supported() {
        let mut state = ipv4();
        state.fields.gso_size = 1400;
        let layout = frame(64);
        assert_eq!(check(&layout, &state, 8, MODE_MAC, 0), Err(ENOTSUPP));
        assert_eq!(check(&layout, &state, -8, MODE_MAC, 0), Err(ENOTSUPP));
        // The flag check of a shrink comes first.
        assert_eq!(
            check(&layout, &state, -8, MODE_MAC, flag::ENCAP_L4_GRE),
            Err(EINVAL)
        );
    }
}
