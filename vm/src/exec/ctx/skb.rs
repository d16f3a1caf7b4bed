//! `struct __sk_buff` as the kernel's test run gives it to tc, socket
//! filter and `cgroup_skb` programs: the fields it sets
//! (`bpf_prog_test_run_skb` in `net/bpf/test_run.c`), the fields user space
//! may set (`ctx_in`, [`SkbInput`]), and which field each program type may
//! read or write (`tc_cls_act_is_valid_access`, `sk_filter_is_valid_access`,
//! `cg_skb_is_valid_access` and `bpf_skb_is_valid_access` in
//! `net/core/filter.c`).
//!
//! The context is not memory the program can reach: its slot is left
//! unmapped, so every context access leaves the interpreter's fast path
//! and comes here, where the access rules are applied and the field is
//! read or written ([`load`], [`store`]). An access the kernel would refuse
//! ends the run with [`RunError::ContextAccess`] naming the field; none
//! ever lands on packet bytes.

use crate::ProgramKind;
use crate::error::{Access, RunError};
use crate::exec::ctx::{ETH_HLEN, Layout, PacketView};
use crate::exec::memory::{CONTEXT_START, INPUT_START};

/// Size of `struct __sk_buff`.
pub const SKB_SIZE: usize = 192;

/// `struct __sk_buff`'s fields: name, offset, size.
const FIELDS: &[(&str, usize, usize)] = &[
    ("len", 0, 4),
    ("pkt_type", 4, 4),
    ("mark", 8, 4),
    ("queue_mapping", 12, 4),
    ("protocol", 16, 4),
    ("vlan_present", 20, 4),
    ("vlan_tci", 24, 4),
    ("vlan_proto", 28, 4),
    ("priority", 32, 4),
    ("ingress_ifindex", 36, 4),
    ("ifindex", 40, 4),
    ("tc_index", 44, 4),
    ("cb", 48, 20),
    ("hash", 68, 4),
    ("tc_classid", 72, 4),
    ("data", 76, 4),
    ("data_end", 80, 4),
    ("napi_id", 84, 4),
    ("family", 88, 4),
    ("remote_ip4", 92, 4),
    ("local_ip4", 96, 4),
    ("remote_ip6", 100, 16),
    ("local_ip6", 116, 16),
    ("remote_port", 132, 4),
    ("local_port", 136, 4),
    ("data_meta", 140, 4),
    ("flow_keys", 144, 8),
    ("tstamp", 152, 8),
    ("wire_len", 160, 4),
    ("gso_segs", 164, 4),
    ("sk", 168, 8),
    ("gso_size", 176, 4),
    ("tstamp_type", 180, 1),
    ("(padding)", 181, 3),
    ("hwtstamp", 184, 8),
];

/// The field at byte `offset` of `struct __sk_buff`: name, start, size.
pub fn field_at(offset: usize) -> Option<(&'static str, usize, usize)> {
    FIELDS
        .iter()
        .find(|&&(_, start, size)| offset >= start && offset < start + size)
        .copied()
}

/// Why the kernel's verifier refuses a context access (it says "invalid
/// bpf_context access").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContextRefusal {
    /// Not aligned to its size, or crossing the field's end.
    #[error("misaligned or crosses the field")]
    Misaligned,
    /// The program type has no `__sk_buff`.
    #[error("not a __sk_buff program")]
    NotSkb,
    /// The field is hidden from the program type.
    #[error("not available to this program type")]
    NotAvailable,
    /// A write to a field the program type may only read.
    #[error("read-only for this program type")]
    ReadOnly,
    /// The field must be accessed as a whole u32.
    #[error("must be accessed as a whole u32")]
    WholeU32,
    /// The field must be accessed as a whole u64.
    #[error("must be accessed as a whole u64")]
    WholeU64,
    /// `flow_keys`.
    #[error("only flow dissector programs may use it")]
    FlowDissectorOnly,
    /// `tstamp_type` and padding.
    #[error("not accessible")]
    NotAccessible,
    /// A narrow read not at the field's first byte.
    #[error("a narrow read must start at the field's first byte")]
    NarrowNotAtStart,
    /// Past the end of `struct __sk_buff`.
    #[error("outside struct __sk_buff")]
    Outside,
    /// A field the kernel allows that tinybpf does not model (`sk`: a
    /// pointer to the test run's socket).
    #[error("tinybpf does not model it")]
    NotModelled,
}

use ContextRefusal as R;

/// Why an access is refused, if it is.
fn refuse(kind: ProgramKind, off: usize, size: usize, access: Access) -> Option<ContextRefusal> {
    let (name, start, field_size) = field_at(off)?;
    let end = start + field_size;
    if !off.is_multiple_of(size) || off + size > end {
        return Some(R::Misaligned);
    }
    // Per program type (tc_cls_act / sk_filter / cg_skb _is_valid_access).
    let writable: &[&str] = match kind {
        ProgramKind::Tc => &[
            "mark",
            "tc_index",
            "priority",
            "tc_classid",
            "cb",
            "tstamp",
            "queue_mapping",
        ],
        ProgramKind::SocketFilter => &["cb"],
        ProgramKind::CgroupSkb => &["mark", "priority", "cb", "tstamp"],
        ProgramKind::Xdp | ProgramKind::Memory => &[],
    };
    let hidden: &[&str] = match kind {
        ProgramKind::Tc => &[
            "family",
            "remote_ip4",
            "local_ip4",
            "remote_ip6",
            "local_ip6",
            "remote_port",
            "local_port",
        ],
        ProgramKind::SocketFilter => &[
            "tc_classid",
            "data",
            "data_meta",
            "data_end",
            "family",
            "remote_ip4",
            "local_ip4",
            "remote_ip6",
            "local_ip6",
            "remote_port",
            "local_port",
            "tstamp",
            "wire_len",
            "hwtstamp",
        ],
        ProgramKind::CgroupSkb => &["tc_classid", "data_meta", "wire_len"],
        ProgramKind::Xdp | ProgramKind::Memory => return Some(R::NotSkb),
    };
    if hidden.contains(&name) {
        return Some(R::NotAvailable);
    }
    if access == Access::Write && !writable.contains(&name) {
        return Some(R::ReadOnly);
    }
    // bpf_skb_is_valid_access: sizes per field.
    match name {
        "cb" => None,
        "remote_ip6" | "local_ip6" | "remote_ip4" | "local_ip4" | "data" | "data_meta"
        | "data_end" => (size != 4).then_some(R::WholeU32),
        "flow_keys" => Some(R::FlowDissectorOnly),
        "sk" => Some(R::NotModelled),
        "hwtstamp" => match (access, size) {
            (Access::Read, 8) => None,
            (Access::Write, _) => Some(R::ReadOnly),
            (Access::Read, _) => Some(R::WholeU64),
        },
        "tstamp" => (size != 8).then_some(R::WholeU64),
        "tstamp_type" | "(padding)" => Some(R::NotAccessible),
        _ => match access {
            Access::Write => (size != 4).then_some(R::WholeU32),
            // Narrow reads: at the field's start (little-endian: the low bytes).
            Access::Read => (size != 4 && off != start).then_some(R::NarrowNotAtStart),
        },
    }
}

/// Whether the kernel lets a program of `kind` make an access of `size`
/// bytes at `__sk_buff` offset `offset`; `Err` says why not.
///
/// ```
/// use tinybpf_vm::{Access, ProgramKind, exec::ctx::skb::check_access};
/// assert!(check_access(ProgramKind::Tc, 12, 4, Access::Write).is_ok()); // queue_mapping
/// assert!(check_access(ProgramKind::SocketFilter, 8, 4, Access::Write).is_err()); // mark
/// assert!(check_access(ProgramKind::Tc, 0, 4, Access::Write).is_err()); // len
/// ```
pub fn check_access(
    kind: ProgramKind,
    offset: usize,
    size: usize,
    access: Access,
) -> Result<(), ContextRefusal> {
    if offset >= SKB_SIZE || size == 0 || offset + size > SKB_SIZE {
        return Err(R::Outside);
    }
    match refuse(kind, offset, size, access) {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// The `__sk_buff` fields user space may set before a run (`ctx_in` of
/// `BPF_PROG_TEST_RUN`); all zero by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkbInput {
    /// `mark`.
    pub mark: u32,
    /// `priority`.
    pub priority: u32,
    /// `ingress_ifindex`.
    pub ingress_ifindex: u32,
    /// `ifindex`: 0 or 1 (the loopback device, the only one there is).
    pub ifindex: u32,
    /// `cb[5]`.
    pub cb: [u32; 5],
    /// `tstamp`.
    pub tstamp: u64,
    /// `wire_len`: 0, or at least the packet's length.
    pub wire_len: u32,
    /// `gso_segs`.
    pub gso_segs: u32,
    /// `gso_size`.
    pub gso_size: u32,
    /// `hwtstamp`.
    pub hwtstamp: u64,
}

/// The `__sk_buff` fields the kernel's test run reports after a run
/// (`ctx_out`): the ones user space may set.
pub type SkbOutput = SkbInput;

/// The state behind a run's `__sk_buff`: the fields that are not computed
/// from the packet. Kept in the [`RunContext`](crate::RunContext) so that
/// repeated runs go on with it (mark, priority, cb, ...), as the kernel's
/// test run does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkbState {
    /// What user space set.
    pub fields: SkbInput,
    /// `pkt_type`.
    pub pkt_type: u32,
    /// `queue_mapping`.
    pub queue_mapping: u16,
    /// `protocol` (network byte order, as the kernel stores it).
    pub protocol: u16,
    /// `tc_index`.
    pub tc_index: u32,
    /// `tc_classid` (stored as a u16).
    pub tc_classid: u16,
    /// The socket the test run attaches (what `cgroup_skb` reads through
    /// `family`, `local_ip4`, ...).
    pub socket: TestSocket,
    /// The hardware-accelerated VLAN tag `bpf_skb_vlan_push` set, if any.
    pub vlan: Option<VlanTag>,
    /// Whether `bpf_skb_adjust_room` encapsulated the packet
    /// (`skb->encapsulation`).
    pub encapsulation: bool,
}

/// A VLAN tag held beside the packet (`skb->vlan_proto`, `skb->vlan_tci`),
/// as a device with VLAN offload would insert it on transmit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VlanTag {
    /// The tag protocol, network byte order as the kernel stores it
    /// (802.1Q or 802.1AD).
    pub proto: u16,
    /// The tag control information.
    pub tci: u16,
}

/// The socket the kernel's test run gives an `__sk_buff` packet: its family
/// and addresses from the IPv4 or IPv6 header (`local` = the source,
/// `remote` = the destination, as `sk_rcv_saddr` and `sk_daddr`), ports 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestSocket {
    /// `AF_INET` (2), `AF_INET6` (10), or 0.
    pub family: u32,
    /// The local IPv4 address, network byte order.
    pub local4: [u8; 4],
    /// The remote IPv4 address.
    pub remote4: [u8; 4],
    /// The local IPv6 address.
    pub local6: [u8; 16],
    /// The remote IPv6 address.
    pub remote6: [u8; 16],
}

impl TestSocket {
    /// The socket for `frame` (Ethernet header first).
    fn of(frame: &[u8], protocol: u16) -> TestSocket {
        let l3 = &frame[ETH_HLEN..];
        let mut socket = TestSocket::default();
        match protocol {
            0x0800 => {
                socket.family = 2;
                if l3.len() >= 20 {
                    socket.local4.copy_from_slice(&l3[12..16]);
                    socket.remote4.copy_from_slice(&l3[16..20]);
                }
            }
            0x86dd => {
                socket.family = 10;
                if l3.len() >= 40 {
                    socket.local6.copy_from_slice(&l3[8..24]);
                    socket.remote6.copy_from_slice(&l3[24..40]);
                }
            }
            _ => {}
        }
        socket
    }
}

impl SkbState {
    /// The state the kernel's test run starts from for `frame` (the whole
    /// frame, Ethernet header first) with `input` set by user space; `len`
    /// is the length `__sk_buff` shows.
    pub(crate) fn new(
        frame: &[u8],
        given: Option<SkbInput>,
        len: usize,
    ) -> Result<SkbState, RunError> {
        let mut input = given.unwrap_or_default();
        if input.ifindex > 1 {
            return Err(RunError::ContextInput {
                field: "ifindex",
                reason: "names no device (only the loopback device, 1, exists)",
            });
        }
        if input.wire_len != 0 && (input.wire_len as usize) < len {
            return Err(RunError::ContextInput {
                field: "wire_len",
                reason: "is shorter than the packet",
            });
        }
        // With ctx_in, a wire_len of 0 reads as the packet's length.
        if given.is_some() && input.wire_len == 0 {
            input.wire_len = len as u32;
        }
        let dst = &frame[..6];
        // Against lo's all-zero address (eth_type_trans).
        let pkt_type = if dst[0] & 1 == 1 {
            2 // PACKET_MULTICAST (the broadcast address included, as lo sees it)
        } else if dst.iter().all(|&b| b == 0) {
            0 // PACKET_HOST
        } else {
            3 // PACKET_OTHERHOST
        };
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let protocol = if ethertype >= 0x600 {
            ethertype
        } else if frame.len() >= ETH_HLEN + 2 && frame[14] == 0xff && frame[15] == 0xff {
            0x0001 // ETH_P_802_3
        } else {
            0x0004 // ETH_P_802_2
        };
        Ok(SkbState {
            fields: input,
            pkt_type,
            queue_mapping: 0,
            protocol: protocol.to_be(),
            tc_index: 0,
            tc_classid: 0,
            socket: TestSocket::of(frame, protocol),
            vlan: None,
            encapsulation: false,
        })
    }

    /// The bytes of `__sk_buff` at `offset` (`size` of them, inside one
    /// field), read now for a packet in `view`.
    fn read(&self, view: &PacketView, offset: usize, size: usize) -> u64 {
        let Layout {
            meta, data, end, ..
        } = view.layout;
        let f = &self.fields;
        let (start, value): (usize, u64) = match field_at(offset) {
            Some(("len", s, _)) => (s, (end - data) as u64),
            Some(("pkt_type", s, _)) => (s, u64::from(self.pkt_type)),
            Some(("mark", s, _)) => (s, u64::from(f.mark)),
            Some(("queue_mapping", s, _)) => (s, u64::from(self.queue_mapping)),
            Some(("protocol", s, _)) => (s, u64::from(self.protocol)),
            Some(("priority", s, _)) => (s, u64::from(f.priority)),
            Some(("ingress_ifindex", s, _)) => (s, u64::from(f.ingress_ifindex)),
            Some(("ifindex", s, _)) => (s, 1),
            Some(("tc_index", s, _)) => (s, u64::from(self.tc_index)),
            Some(("cb", s, _)) => {
                let mut bytes = [0u8; 20];
                for (chunk, v) in bytes.chunks_exact_mut(4).zip(f.cb) {
                    chunk.copy_from_slice(&v.to_le_bytes());
                }
                let mut out = [0u8; 8];
                let from = offset - s;
                out[..size].copy_from_slice(&bytes[from..from + size]);
                return u64::from_le_bytes(out);
            }
            Some(("tc_classid", s, _)) => (s, u64::from(self.tc_classid)),
            Some(("vlan_present", s, _)) => (s, u64::from(self.vlan.is_some())),
            Some(("vlan_tci", s, _)) => (s, u64::from(self.vlan.map_or(0, |tag| tag.tci))),
            Some(("vlan_proto", s, _)) => (s, u64::from(self.vlan.map_or(0, |tag| tag.proto))),
            Some(("data", s, _)) => (s, view.addr(data)),
            Some(("data_end", s, _)) => (s, view.addr(end)),
            Some(("data_meta", s, _)) => (s, view.addr(meta)),
            Some(("tstamp", s, _)) => (s, f.tstamp),
            Some(("wire_len", s, _)) => (s, u64::from(f.wire_len)),
            Some(("gso_segs", s, _)) => (s, u64::from(f.gso_segs)),
            Some(("gso_size", s, _)) => (s, u64::from(f.gso_size)),
            Some(("hwtstamp", s, _)) => (s, f.hwtstamp),
            Some(("family", s, _)) => (s, u64::from(self.socket.family)),
            Some((name @ ("remote_ip4" | "local_ip4" | "remote_ip6" | "local_ip6"), s, _)) => {
                let sock = &self.socket;
                let address: &[u8] = match name {
                    "remote_ip4" => &sock.remote4,
                    "local_ip4" => &sock.local4,
                    "remote_ip6" => &sock.remote6,
                    _ => &sock.local6,
                };
                let from = offset - s;
                let mut out = [0u8; 8];
                out[..size].copy_from_slice(&address[from..from + size]);
                return u64::from_le_bytes(out);
            }
            // hash, napi_id, the socket's ports: 0 in a test run.
            Some((_, s, _)) => (s, 0),
            None => (offset, 0),
        };
        let shift = (offset - start) * 8;
        let mask = if size >= 8 {
            u64::MAX
        } else {
            (1u64 << (size * 8)) - 1
        };
        (value >> shift) & mask
    }

    /// Writes `value` (`size` bytes at `offset`, an access already allowed).
    fn write(&mut self, offset: usize, size: usize, value: u64) {
        let f = &mut self.fields;
        match field_at(offset) {
            Some(("mark", ..)) => f.mark = value as u32,
            Some(("priority", ..)) => f.priority = value as u32,
            Some(("tc_index", ..)) => self.tc_index = value as u32,
            // Stored as a u16 (skb->tc_classid via qdisc_skb_cb).
            Some(("tc_classid", ..)) => self.tc_classid = value as u16,
            // A value of 0xffff or more is skipped (the kernel's rewrite
            // stores it only below NO_QUEUE_MAPPING).
            Some(("queue_mapping", ..)) if (value as u32) < 0xffff => {
                self.queue_mapping = value as u16;
            }
            Some(("tstamp", ..)) => f.tstamp = value,
            Some(("cb", s, _)) => {
                let mut bytes = [0u8; 20];
                for (chunk, v) in bytes.chunks_exact_mut(4).zip(f.cb) {
                    chunk.copy_from_slice(&v.to_le_bytes());
                }
                let from = offset - s;
                bytes[from..from + size].copy_from_slice(&value.to_le_bytes()[..size]);
                for (v, chunk) in f.cb.iter_mut().zip(bytes.chunks_exact(4)) {
                    *v = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                }
            }
            _ => {}
        }
    }

    /// What the kernel's test run reports after the run (`ctx_out`).
    pub fn output(&self) -> SkbOutput {
        SkbOutput {
            ifindex: 1,
            ..self.fields
        }
    }

    /// The `tc_classid` the program left (tc only).
    pub fn tc_classid(&self) -> u16 {
        self.tc_classid
    }

    /// The `queue_mapping` the program left (tc only).
    pub fn queue_mapping(&self) -> u16 {
        self.queue_mapping
    }
}

/// The context access of `size` bytes at `addr` by a program of `kind`,
/// `None` when `addr` is not in its `__sk_buff`.
fn context_offset(kind: ProgramKind, addr: u64, size: u64) -> Option<usize> {
    if !kind.has_skb() {
        return None;
    }
    let offset = addr.checked_sub(CONTEXT_START)?;
    (offset < SKB_SIZE as u64 && size <= SKB_SIZE as u64 - offset).then_some(offset as usize)
}

/// The refusal of an access at `offset`.
fn refused(
    kind: ProgramKind,
    pc: usize,
    offset: usize,
    size: u64,
    access: Access,
    reason: ContextRefusal,
) -> RunError {
    // `context_offset` keeps offset + size within the 192-byte struct.
    RunError::ContextAccess {
        pc,
        field: field_at(offset).map_or("?", |f| f.0),
        offset: offset as u16,
        size: size as u8,
        access,
        kind,
        reason,
    }
}

/// A load the address space did not resolve: a `__sk_buff` field when the
/// program has one and the access is allowed; `None` when `addr` is not in
/// the context at all (an ordinary out-of-bounds fault).
#[cold]
#[inline(never)]
pub(crate) fn load(
    state: &SkbState,
    view: &PacketView,
    pc: usize,
    addr: u64,
    size: u64,
) -> Option<Result<u64, RunError>> {
    let offset = context_offset(view.kind, addr, size)?;
    Some(
        match check_access(view.kind, offset, size as usize, Access::Read) {
            Ok(()) => Ok(state.read(view, offset, size as usize)),
            Err(reason) => Err(refused(view.kind, pc, offset, size, Access::Read, reason)),
        },
    )
}

/// A store the address space did not resolve (see [`load`]).
#[cold]
#[inline(never)]
pub(crate) fn store(
    state: &mut SkbState,
    kind: ProgramKind,
    pc: usize,
    addr: u64,
    size: u64,
    value: u64,
) -> Option<Result<(), RunError>> {
    let offset = context_offset(kind, addr, size)?;
    Some(
        match check_access(kind, offset, size as usize, Access::Write) {
            Ok(()) => {
                state.write(offset, size as usize, value);
                Ok(())
            }
            Err(reason) => Err(refused(kind, pc, offset, size, Access::Write, reason)),
        },
    )
}

/// Where a `__sk_buff` program's packet data starts virtually as a run
/// begins (for messages and tests).
pub const fn data_start(kind: ProgramKind) -> u64 {
    match kind {
        ProgramKind::SocketFilter | ProgramKind::CgroupSkb => INPUT_START + ETH_HLEN as u64,
        ProgramKind::Tc | ProgramKind::Xdp | ProgramKind::Memory => INPUT_START,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_may_write_what_the_kernel_lets_it() {
        let tc = ProgramKind::Tc;
        for off in [8, 12, 32, 44, 48, 64, 72] {
            assert!(check_access(tc, off, 4, Access::Write).is_ok(), "{off}");
        }
        for off in [0, 4, 16, 36, 40, 68, 76, 80, 140, 160] {
            assert!(check_access(tc, off, 4, Access::Write).is_err(), "{off}");
        }
        assert!(check_access(tc, 152, 8, Access::Write).is_ok());
        assert!(check_access(tc, 152, 4, Access::Write).is_err());
    }

    #[test]
    fn reads_follow_size_and_type_rules() {
        let tc = ProgramKind::Tc;
        assert!(check_access(tc, 0, 1, Access::Read).is_ok());
        assert!(check_access(tc, 2, 2, Access::Read).is_err());
        assert!(check_access(tc, 76, 2, Access::Read).is_err());
        assert!(check_access(tc, 88, 4, Access::Read).is_err());
        assert!(check_access(tc, 49, 1, Access::Read).is_ok());
        assert!(check_access(tc, 144, 8, Access::Read).is_err());
        assert!(check_access(tc, 180, 1, Access::Read).is_err());
        assert!(check_access(tc, 192, 4, Access::Read).is_err());
        let sf = ProgramKind::SocketFilter;
        assert!(check_access(sf, 76, 4, Access::Read).is_err());
        assert!(check_access(sf, 72, 4, Access::Read).is_err());
        assert!(check_access(sf, 8, 4, Access::Read).is_ok());
        assert!(check_access(sf, 48, 4, Access::Write).is_ok());
        let cg = ProgramKind::CgroupSkb;
        assert!(check_access(cg, 76, 4, Access::Read).is_ok());
        assert!(check_access(cg, 140, 4, Access::Read).is_err());
        assert!(check_access(cg, 8, 4, Access::Write).is_ok());
        assert!(check_access(cg, 12, 4, Access::Write).is_err());
    }

    #[test]
    fn pkt_type_and_protocol_come_from_the_ethernet_header() {
        let mut frame = [0u8; 20];
        frame[12] = 0x08;
        let state = SkbState::new(&frame, None, 20).unwrap();
        assert_eq!((state.pkt_type, state.protocol), (0, 0x0008));
        frame[0] = 0xff;
        assert_eq!(SkbState::new(&frame, None, 20).unwrap().pkt_type, 2);
        frame[0] = 0x02;
        assert_eq!(SkbState::new(&frame, None, 20).unwrap().pkt_type, 3);
        frame[12] = 0x00;
        frame[14] = 0xff;
        frame[15] = 0xff;
        let proto = SkbState::new(&frame, None, 20).unwrap().protocol;
        assert_eq!(u16::from_be(proto), 1);
    }

    #[test]
    fn cgroup_skb_sees_the_test_runs_socket() {
        let mut frame = [0u8; 34];
        frame[12] = 0x08;
        frame[26..30].copy_from_slice(&[10, 0, 0, 1]);
        frame[30..34].copy_from_slice(&[10, 0, 0, 2]);
        let state = SkbState::new(&frame, None, 20).unwrap();
        let view = PacketView {
            kind: ProgramKind::CgroupSkb,
            ..PacketView::NONE
        };
        assert_eq!(state.read(&view, 88, 4), 2);
        assert_eq!(
            state.read(&view, 96, 4),
            u64::from(u32::from_le_bytes([10, 0, 0, 1]))
        );
        assert_eq!(
            state.read(&view, 92, 4),
            u64::from(u32::from_le_bytes([10, 0, 0, 2]))
        );
        assert_eq!(state.read(&view, 100, 4), 0);
        assert_eq!(
            check_access(ProgramKind::CgroupSkb, 168, 8, Access::Read),
            Err(ContextRefusal::NotModelled)
        );
    }

    #[test]
    fn writes_keep_the_kernel_widths() {
        let mut state = SkbState::default();
        state.write(72, 4, 0x1234_5678);
        assert_eq!(state.tc_classid, 0x5678);
        state.write(12, 4, 0xffff);
        assert_eq!(state.queue_mapping, 0);
        state.write(12, 4, 7);
        assert_eq!(state.queue_mapping, 7);
        state.write(49, 1, 0xab);
        assert_eq!(state.fields.cb[0], 0xab00);
    }
}
