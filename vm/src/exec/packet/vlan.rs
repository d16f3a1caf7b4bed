//! `bpf_skb_vlan_push` and `bpf_skb_vlan_pop` as the kernel's test run
//! observes them (`skb_vlan_push`, `skb_vlan_pop`, `__skb_vlan_pop` in
//! `net/core/skbuff.c`).
//!
//! The kernel keeps the outermost tag beside the packet, as a device with
//! VLAN offload would insert it on transmit (`skb->vlan_proto`,
//! `skb->vlan_tci`; `__sk_buff`'s `vlan_present`, `vlan_tci`,
//! `vlan_proto`), and the test run's `data_out` does not contain it:
//!
//! - push with no tag held: the tag is held, the packet is unchanged;
//! - push with a tag held: the held tag goes into the packet after the MAC
//!   addresses (4 bytes: its protocol and TCI; `skb->protocol` becomes its
//!   protocol), the new one is held;
//! - pop: a held tag is dropped, else a tag in the packet (when
//!   `skb->protocol` is 802.1Q or 802.1AD) is removed; then, when the
//!   packet carries another tag, it moves from the packet to the held tag.
//!
//! A `vlan_proto` other than 802.1Q and 802.1AD is taken as 802.1Q (the
//! kernel's helper does so; it returns no error for it).

use super::{ENOMEM, make_room, packet, set_layout, units};
use crate::ProgramKind;
use crate::error::HelperError;
use crate::exec::ctx::skb::VlanTag;
use crate::exec::ctx::{ETH_HLEN, Layout, PacketView};
use crate::exec::helpers::HelperContext;

/// `VLAN_HLEN`: a tag's bytes in the packet.
const VLAN_HLEN: usize = 4;
/// `2 * ETH_ALEN`: the MAC addresses before a tag.
const MAC_ADDRS: usize = 12;
/// `ETH_P_8021Q`, network byte order (as `skb->protocol` holds it).
const ETH_P_8021Q: u16 = 0x8100u16.to_be();
/// `ETH_P_8021AD`, network byte order.
const ETH_P_8021AD: u16 = 0x88a8u16.to_be();

/// `eth_type_vlan`.
fn is_vlan(protocol: u16) -> bool {
    protocol == ETH_P_8021Q || protocol == ETH_P_8021AD
}

/// `long bpf_skb_vlan_push(skb, __be16 vlan_proto, u16 vlan_tci)` (tc).
pub(super) fn skb_vlan_push(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_vlan_push", &[ProgramKind::Tc])?;
    let mut proto = args[1] as u16;
    if !is_vlan(proto) {
        proto = ETH_P_8021Q;
    }
    let tci = args[2] as u16;
    if let Some(held) = ctx.skb_state().vlan {
        insert_tag(ctx, view, held)?;
        ctx.skb_state().protocol = held.proto;
    }
    ctx.skb_state().vlan = Some(VlanTag { proto, tci });
    Ok(0)
}

/// `long bpf_skb_vlan_pop(skb)` (tc).
pub(super) fn skb_vlan_pop(ctx: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    let view = packet(ctx, "bpf_skb_vlan_pop", &[ProgramKind::Tc])?;
    if ctx.skb_state().vlan.take().is_none() {
        if !is_vlan(ctx.skb_state().protocol) {
            return Ok(0);
        }
        if let Err(errno) = remove_tag(ctx, view)? {
            return Ok(errno);
        }
    }
    // The next tag in the packet becomes the held one.
    let proto = ctx.skb_state().protocol;
    if !is_vlan(proto) {
        return Ok(0);
    }
    let view = ctx.space().packet.get();
    match remove_tag(ctx, view)? {
        Ok(tci) => {
            ctx.skb_state().vlan = Some(VlanTag { proto, tci });
            Ok(0)
        }
        Err(errno) => Ok(errno),
    }
}

/// `__vlan_insert_tag`: `tag` into the packet after the MAC addresses.
/// The network header stays where it was (at the payload after the tags).
fn insert_tag(
    ctx: &mut HelperContext<'_>,
    view: PacketView,
    tag: VlanTag,
) -> Result<(), HelperError> {
    let view = make_room(ctx, view, VLAN_HLEN, 0)?;
    let layout = view.layout;
    if layout.end - layout.data < MAC_ADDRS {
        // A tc packet is never shorter than its MAC addresses (its
        // network header, the shortest it gets, is after them).
        return Err(HelperError::Other(format!(
            "a {}-byte packet has no MAC addresses to tag",
            layout.end - layout.data
        )));
    }
    ctx.charge(units(MAC_ADDRS + VLAN_HLEN))?;
    let start = layout.data - VLAN_HLEN;
    let [p0, p1] = tag.proto.to_ne_bytes();
    let [t0, t1] = tag.tci.to_be_bytes();
    // SAFETY: make_room left VLAN_HLEN bytes before data (= the MAC
    // header), and the packet holds the MAC_ADDRS bytes after it.
    unsafe {
        std::ptr::copy(view.host.add(layout.data), view.host.add(start), MAC_ADDRS);
        let at = view.host.add(start + MAC_ADDRS);
        at.write(p0);
        at.add(1).write(p1);
        at.add(2).write(t0);
        at.add(3).write(t1);
    }
    set_layout(ctx, view, layout.front_at(start));
    Ok(())
}

/// `__skb_vlan_pop`: the tag after the MAC addresses out of the packet;
/// its TCI, or the errno (`-ENOMEM` when the packet is shorter than a
/// tagged Ethernet header).
fn remove_tag(
    ctx: &mut HelperContext<'_>,
    view: PacketView,
) -> Result<Result<u16, u64>, HelperError> {
    let layout = view.layout;
    let len = layout.end - layout.data;
    // skb_ensure_writable(skb, VLAN_ETH_HLEN).
    if len < ETH_HLEN + VLAN_HLEN {
        return Ok(Err(ENOMEM));
    }
    ctx.charge(units(MAC_ADDRS + VLAN_HLEN))?;
    let mut header = [0u8; ETH_HLEN + VLAN_HLEN + 2];
    let have = header.len().min(len);
    // SAFETY: data..data + have lies inside the packet.
    unsafe { std::ptr::copy_nonoverlapping(view.host.add(layout.data), header.as_mut_ptr(), have) };
    let tci = u16::from_be_bytes([header[14], header[15]]);
    let inner = u16::from_be_bytes([header[16], header[17]]);
    // vlan_set_encap_proto: an EtherType, else an 802.3 length: raw 802.3
    // when the payload starts with 0xffff, else 802.2.
    let protocol = if inner >= 0x600 {
        inner
    } else if have == header.len() && header[18..] == [0xff, 0xff] {
        0x0001
    } else {
        0x0004
    };
    let start = layout.data + VLAN_HLEN;
    // SAFETY: the packet holds at least 18 bytes, so data..data + 12 and
    // start..start + 12 lie inside it; `copy` allows overlap.
    unsafe { std::ptr::copy(view.host.add(layout.data), view.host.add(start), MAC_ADDRS) };
    // The network header at least an Ethernet header after the new start.
    let net = layout.net.max(start + ETH_HLEN);
    set_layout(
        ctx,
        view,
        Layout {
            net,
            ..layout.front_at(start)
        },
    );
    ctx.skb_state().protocol = protocol.to_be();
    Ok(Ok(tci))
}
