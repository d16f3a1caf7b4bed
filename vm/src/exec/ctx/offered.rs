//! Which of tinybpf's built-in helpers each program type may call, as the
//! kernel's `get_func_proto` tables offer them (`xdp_func_proto`,
//! `tc_cls_act_func_proto`, `sk_filter_func_proto`, `cg_skb_func_proto`,
//! which fall back to `bpf_sk_base_func_proto` and `bpf_base_func_proto`
//! in `net/core/filter.c` and `kernel/bpf/helpers.c`). The kernel's
//! verifier refuses any other call ("unknown func bpf_skb_load_bytes#26");
//! tinybpf refuses it at load time the same way.
//!
//! Helpers not listed here are offered to every program type: the base
//! helpers (maps, time, random numbers, the CPU id, tail calls, ring
//! buffers, spin locks, `bpf_loop`, `bpf_for_each_map_elem`,
//! `bpf_trace_printk`, ...) and `bpf_perf_event_output`, which each of the
//! four types has its own version of. Raw-memory programs and helpers an
//! embedder registers are not checked.

use crate::ProgramKind;
use crate::exec::helpers::ids as base;
use crate::exec::packet::ids as packet;

use ProgramKind::{CgroupSkb, SocketFilter, Tc, Xdp};

/// The helpers only some program types have, and those types.
const LIMITED: &[(u32, &[ProgramKind])] = &[
    // __sk_buff's packet helpers.
    (packet::SKB_LOAD_BYTES, &[Tc, SocketFilter, CgroupSkb]),
    (packet::SKB_STORE_BYTES, &[Tc]),
    (packet::L3_CSUM_REPLACE, &[Tc]),
    (packet::L4_CSUM_REPLACE, &[Tc]),
    (packet::SKB_CHANGE_TAIL, &[Tc]),
    (packet::SKB_CHANGE_HEAD, &[Tc]),
    (packet::SKB_ADJUST_ROOM, &[Tc]),
    (packet::SKB_VLAN_PUSH, &[Tc]),
    (packet::SKB_VLAN_POP, &[Tc]),
    // XDP's.
    (packet::XDP_ADJUST_HEAD, &[Xdp]),
    (packet::XDP_ADJUST_META, &[Xdp]),
    (packet::XDP_ADJUST_TAIL, &[Xdp]),
    (packet::XDP_LOAD_BYTES, &[Xdp]),
    (packet::XDP_STORE_BYTES, &[Xdp]),
    (packet::XDP_GET_BUFF_LEN, &[Xdp]),
    // Forwarding: tc and XDP; redirect_map is XDP's alone.
    (base::CSUM_DIFF, &[Tc, Xdp]),
    (base::FIB_LOOKUP, &[Tc, Xdp]),
    (base::REDIRECT, &[Tc, Xdp]),
    (base::REDIRECT_MAP, &[Xdp]),
];

/// Whether a program of `kind` may call the built-in helper `id`.
///
/// ```
/// use tinybpf_vm::ProgramKind;
/// use tinybpf_vm::exec::ctx::offered::offers;
/// assert!(!offers(ProgramKind::Xdp, 26)); // bpf_skb_load_bytes
/// assert!(offers(ProgramKind::SocketFilter, 26));
/// assert!(!offers(ProgramKind::Tc, 51)); // bpf_redirect_map
/// assert!(offers(ProgramKind::Tc, 1)); // bpf_map_lookup_elem: everyone's
/// assert!(offers(ProgramKind::Memory, 51)); // raw memory: not checked
/// ```
pub fn offers(kind: ProgramKind, id: u32) -> bool {
    if kind == ProgramKind::Memory {
        return true;
    }
    LIMITED
        .iter()
        .find(|(limited, _)| *limited == id)
        .is_none_or(|(_, kinds)| kinds.contains(&kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_helpers_belong_to_their_context() {
        for id in [44, 54, 65, 188, 189, 190] {
            assert!(offers(Xdp, id), "{id}");
            for kind in [Tc, SocketFilter, CgroupSkb] {
                assert!(!offers(kind, id), "{id} {kind:?}");
            }
        }
        for id in [9, 10, 11, 18, 19, 38, 43, 50] {
            assert!(offers(Tc, id), "{id}");
            for kind in [Xdp, SocketFilter, CgroupSkb] {
                assert!(!offers(kind, id), "{id} {kind:?}");
            }
        }
        assert!(!offers(Xdp, 26));
    }

    #[test]
    fn socket_filters_and_cgroup_skb_have_no_forwarding_helpers() {
        for id in [23, 28, 51, 69] {
            assert!(!offers(SocketFilter, id), "{id}");
            assert!(!offers(CgroupSkb, id), "{id}");
        }
        assert!(offers(Xdp, 51));
        assert!(offers(Tc, 23) && offers(Tc, 28) && offers(Tc, 69));
    }

    #[test]
    fn base_helpers_are_everyones() {
        for kind in [Xdp, Tc, SocketFilter, CgroupSkb] {
            for id in [
                1, 2, 3, 5, 6, 7, 8, 12, 25, 93, 94, 125, 130, 131, 160, 164, 181, 195, 208,
            ] {
                assert!(offers(kind, id), "{id} {kind:?}");
            }
        }
    }
}
