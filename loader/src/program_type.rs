//! Program types from section names, as libbpf maps them
//! (`tools/lib/bpf/libbpf.c`, `section_defs`), and which of them tinybpf
//! runs with their real context.
//!
//! A section name matches a definition exactly, or, for the definitions
//! libbpf marks with `+`, as `name/anything` too (`kprobe/sys_open`,
//! `tp/syscalls/sys_enter_open`). The first definition that matches wins,
//! so the longer names come before their prefixes (`xdp.frags/devmap`
//! before `xdp`).

use tinybpf_vm::ProgramKind;

/// The kernel's program type (`enum bpf_prog_type`) a section name gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProgramType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (`socket`).
    SocketFilter,
    /// `BPF_PROG_TYPE_KPROBE` (`kprobe/`, `uprobe/`, `usdt/`, ...).
    Kprobe,
    /// `BPF_PROG_TYPE_SCHED_CLS` (`tc`, `tc/ingress`, `tcx/*`, `classifier`, `netkit/*`).
    SchedCls,
    /// `BPF_PROG_TYPE_SCHED_ACT` (`action`).
    SchedAct,
    /// `BPF_PROG_TYPE_TRACEPOINT` (`tp/`, `tracepoint/`).
    Tracepoint,
    /// `BPF_PROG_TYPE_XDP` (`xdp`, `xdp.frags`, `xdp/devmap`, `xdp/cpumap`, ...).
    /// `xdp.frags` (libbpf's `BPF_F_XDP_HAS_FRAGS`) runs as `xdp` does: the
    /// kernel's test run splits a packet longer than a page into fragments
    /// whatever the flag (see [`xdp_has_frags`]).
    Xdp,
    /// `BPF_PROG_TYPE_PERF_EVENT` (`perf_event`).
    PerfEvent,
    /// `BPF_PROG_TYPE_CGROUP_SKB` (`cgroup_skb/ingress`, `cgroup_skb/egress`, `cgroup/skb`).
    CgroupSkb,
    /// `BPF_PROG_TYPE_CGROUP_SOCK` (`cgroup/sock`, `cgroup/post_bind4`, ...).
    CgroupSock,
    /// `BPF_PROG_TYPE_LWT_IN` (`lwt_in`).
    LwtIn,
    /// `BPF_PROG_TYPE_LWT_OUT` (`lwt_out`).
    LwtOut,
    /// `BPF_PROG_TYPE_LWT_XMIT` (`lwt_xmit`).
    LwtXmit,
    /// `BPF_PROG_TYPE_SOCK_OPS` (`sockops`).
    SockOps,
    /// `BPF_PROG_TYPE_SK_SKB` (`sk_skb`, `sk_skb/stream_parser`, ...).
    SkSkb,
    /// `BPF_PROG_TYPE_CGROUP_DEVICE` (`cgroup/dev`).
    CgroupDevice,
    /// `BPF_PROG_TYPE_SK_MSG` (`sk_msg`).
    SkMsg,
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT` (`raw_tp/`, `raw_tracepoint/`).
    RawTracepoint,
    /// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR` (`cgroup/connect4`, `cgroup/bind6`, ...).
    CgroupSockAddr,
    /// `BPF_PROG_TYPE_LWT_SEG6LOCAL` (`lwt_seg6local`).
    LwtSeg6local,
    /// `BPF_PROG_TYPE_LIRC_MODE2` (`lirc_mode2`).
    LircMode2,
    /// `BPF_PROG_TYPE_SK_REUSEPORT` (`sk_reuseport`, `sk_reuseport/migrate`).
    SkReuseport,
    /// `BPF_PROG_TYPE_FLOW_DISSECTOR` (`flow_dissector`).
    FlowDissector,
    /// `BPF_PROG_TYPE_CGROUP_SYSCTL` (`cgroup/sysctl`).
    CgroupSysctl,
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE` (`raw_tp.w/`, `raw_tracepoint.w/`).
    RawTracepointWritable,
    /// `BPF_PROG_TYPE_CGROUP_SOCKOPT` (`cgroup/getsockopt`, `cgroup/setsockopt`).
    CgroupSockopt,
    /// `BPF_PROG_TYPE_TRACING` (`fentry/`, `fexit/`, `fmod_ret/`, `tp_btf/`, `iter/`).
    Tracing,
    /// `BPF_PROG_TYPE_STRUCT_OPS` (`struct_ops/`).
    StructOps,
    /// `BPF_PROG_TYPE_EXT` (`freplace/`).
    Ext,
    /// `BPF_PROG_TYPE_LSM` (`lsm/`, `lsm.s/`, `lsm_cgroup/`).
    Lsm,
    /// `BPF_PROG_TYPE_SK_LOOKUP` (`sk_lookup`).
    SkLookup,
    /// `BPF_PROG_TYPE_SYSCALL` (`syscall`).
    Syscall,
    /// `BPF_PROG_TYPE_NETFILTER` (`netfilter`).
    Netfilter,
    /// A section name libbpf does not know: libbpf refuses to load it
    /// unless the type is set by hand.
    Unknown,
}

/// How a section definition matches.
#[derive(Clone, Copy)]
enum Match {
    /// The whole name.
    Exact,
    /// The whole name, or the name followed by `/` and anything (libbpf's `+`).
    Prefix,
}

use Match::{Exact, Prefix};
use ProgramType as T;

/// libbpf's section definitions, in its order of precedence.
const SECTIONS: &[(&str, Match, ProgramType)] = &[
    ("socket", Exact, T::SocketFilter),
    ("sk_reuseport/migrate", Exact, T::SkReuseport),
    ("sk_reuseport", Exact, T::SkReuseport),
    ("kprobe", Prefix, T::Kprobe),
    ("uprobe", Prefix, T::Kprobe),
    ("uprobe.s", Prefix, T::Kprobe),
    ("kretprobe", Prefix, T::Kprobe),
    ("uretprobe", Prefix, T::Kprobe),
    ("uretprobe.s", Prefix, T::Kprobe),
    ("kprobe.multi", Prefix, T::Kprobe),
    ("kretprobe.multi", Prefix, T::Kprobe),
    ("kprobe.session", Prefix, T::Kprobe),
    ("uprobe.multi", Prefix, T::Kprobe),
    ("uretprobe.multi", Prefix, T::Kprobe),
    ("uprobe.session", Prefix, T::Kprobe),
    ("uprobe.multi.s", Prefix, T::Kprobe),
    ("uretprobe.multi.s", Prefix, T::Kprobe),
    ("uprobe.session.s", Prefix, T::Kprobe),
    ("ksyscall", Prefix, T::Kprobe),
    ("kretsyscall", Prefix, T::Kprobe),
    ("usdt", Prefix, T::Kprobe),
    ("usdt.s", Prefix, T::Kprobe),
    ("tc/ingress", Exact, T::SchedCls),
    ("tc/egress", Exact, T::SchedCls),
    ("tcx/ingress", Exact, T::SchedCls),
    ("tcx/egress", Exact, T::SchedCls),
    ("tc", Exact, T::SchedCls),
    ("classifier", Exact, T::SchedCls),
    ("action", Exact, T::SchedAct),
    ("netkit/primary", Exact, T::SchedCls),
    ("netkit/peer", Exact, T::SchedCls),
    ("tracepoint", Prefix, T::Tracepoint),
    ("tp", Prefix, T::Tracepoint),
    ("raw_tracepoint", Prefix, T::RawTracepoint),
    ("raw_tp", Prefix, T::RawTracepoint),
    ("raw_tracepoint.w", Prefix, T::RawTracepointWritable),
    ("raw_tp.w", Prefix, T::RawTracepointWritable),
    ("tp_btf", Prefix, T::Tracing),
    ("fentry", Prefix, T::Tracing),
    ("fmod_ret", Prefix, T::Tracing),
    ("fexit", Prefix, T::Tracing),
    ("fentry.s", Prefix, T::Tracing),
    ("fmod_ret.s", Prefix, T::Tracing),
    ("fexit.s", Prefix, T::Tracing),
    ("freplace", Prefix, T::Ext),
    ("lsm", Prefix, T::Lsm),
    ("lsm.s", Prefix, T::Lsm),
    ("lsm_cgroup", Prefix, T::Lsm),
    ("iter", Prefix, T::Tracing),
    ("iter.s", Prefix, T::Tracing),
    ("syscall", Exact, T::Syscall),
    ("xdp.frags/devmap", Exact, T::Xdp),
    ("xdp/devmap", Exact, T::Xdp),
    ("xdp.frags/cpumap", Exact, T::Xdp),
    ("xdp/cpumap", Exact, T::Xdp),
    ("xdp.frags", Exact, T::Xdp),
    ("xdp", Exact, T::Xdp),
    ("perf_event", Exact, T::PerfEvent),
    ("lwt_in", Exact, T::LwtIn),
    ("lwt_out", Exact, T::LwtOut),
    ("lwt_xmit", Exact, T::LwtXmit),
    ("lwt_seg6local", Exact, T::LwtSeg6local),
    ("sockops", Exact, T::SockOps),
    ("sk_skb/stream_parser", Exact, T::SkSkb),
    ("sk_skb/stream_verdict", Exact, T::SkSkb),
    ("sk_skb/verdict", Exact, T::SkSkb),
    ("sk_skb", Exact, T::SkSkb),
    ("sk_msg", Exact, T::SkMsg),
    ("lirc_mode2", Exact, T::LircMode2),
    ("flow_dissector", Exact, T::FlowDissector),
    ("cgroup_skb/ingress", Exact, T::CgroupSkb),
    ("cgroup_skb/egress", Exact, T::CgroupSkb),
    ("cgroup/skb", Exact, T::CgroupSkb),
    ("cgroup/sock_create", Exact, T::CgroupSock),
    ("cgroup/sock_release", Exact, T::CgroupSock),
    ("cgroup/sock", Exact, T::CgroupSock),
    ("cgroup/post_bind4", Exact, T::CgroupSock),
    ("cgroup/post_bind6", Exact, T::CgroupSock),
    ("cgroup/bind4", Exact, T::CgroupSockAddr),
    ("cgroup/bind6", Exact, T::CgroupSockAddr),
    ("cgroup/connect4", Exact, T::CgroupSockAddr),
    ("cgroup/connect6", Exact, T::CgroupSockAddr),
    ("cgroup/connect_unix", Exact, T::CgroupSockAddr),
    ("cgroup/sendmsg4", Exact, T::CgroupSockAddr),
    ("cgroup/sendmsg6", Exact, T::CgroupSockAddr),
    ("cgroup/sendmsg_unix", Exact, T::CgroupSockAddr),
    ("cgroup/recvmsg4", Exact, T::CgroupSockAddr),
    ("cgroup/recvmsg6", Exact, T::CgroupSockAddr),
    ("cgroup/recvmsg_unix", Exact, T::CgroupSockAddr),
    ("cgroup/getpeername4", Exact, T::CgroupSockAddr),
    ("cgroup/getpeername6", Exact, T::CgroupSockAddr),
    ("cgroup/getpeername_unix", Exact, T::CgroupSockAddr),
    ("cgroup/getsockname4", Exact, T::CgroupSockAddr),
    ("cgroup/getsockname6", Exact, T::CgroupSockAddr),
    ("cgroup/getsockname_unix", Exact, T::CgroupSockAddr),
    ("cgroup/sysctl", Exact, T::CgroupSysctl),
    ("cgroup/getsockopt", Exact, T::CgroupSockopt),
    ("cgroup/setsockopt", Exact, T::CgroupSockopt),
    ("cgroup/dev", Exact, T::CgroupDevice),
    ("struct_ops", Prefix, T::StructOps),
    ("struct_ops.s", Prefix, T::StructOps),
    ("sk_lookup", Exact, T::SkLookup),
    ("netfilter", Exact, T::Netfilter),
];

/// The program types tinybpf runs with their real context, as the kernel
/// names them (for messages).
pub const RUNNABLE_TYPES: &str = "xdp, sched_cls, sched_act, socket_filter, cgroup_skb";

/// Whether libbpf loads a program of section `section` with
/// `BPF_F_XDP_HAS_FRAGS` (the `xdp.frags` sections): the program accepts
/// packets in fragments. The kernel's test run does not look at it (it
/// splits a long packet in any case); drivers and tail calls do.
///
/// ```
/// use tinybpf_loader::xdp_has_frags;
/// assert!(xdp_has_frags("xdp.frags"));
/// assert!(xdp_has_frags("xdp.frags/devmap"));
/// assert!(!xdp_has_frags("xdp"));
/// ```
pub fn xdp_has_frags(section: &str) -> bool {
    ProgramType::from_section(section) == ProgramType::Xdp && section.starts_with("xdp.frags")
}

impl ProgramType {
    /// The type libbpf gives a program in section `section`.
    ///
    /// ```
    /// use tinybpf_loader::ProgramType;
    /// assert_eq!(ProgramType::from_section("tc/ingress"), ProgramType::SchedCls);
    /// assert_eq!(ProgramType::from_section("kprobe/do_sys_open"), ProgramType::Kprobe);
    /// assert_eq!(ProgramType::from_section("xdpfoo"), ProgramType::Unknown);
    /// ```
    pub fn from_section(section: &str) -> ProgramType {
        SECTIONS
            .iter()
            .find(|(name, how, _)| match how {
                Exact => section == *name,
                Prefix => section
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            })
            .map_or(ProgramType::Unknown, |&(_, _, program_type)| program_type)
    }

    /// The kernel's name for the type (`bpftool prog` prints it so).
    pub fn name(self) -> &'static str {
        match self {
            T::SocketFilter => "socket_filter",
            T::Kprobe => "kprobe",
            T::SchedCls => "sched_cls",
            T::SchedAct => "sched_act",
            T::Tracepoint => "tracepoint",
            T::Xdp => "xdp",
            T::PerfEvent => "perf_event",
            T::CgroupSkb => "cgroup_skb",
            T::CgroupSock => "cgroup_sock",
            T::LwtIn => "lwt_in",
            T::LwtOut => "lwt_out",
            T::LwtXmit => "lwt_xmit",
            T::SockOps => "sock_ops",
            T::SkSkb => "sk_skb",
            T::CgroupDevice => "cgroup_device",
            T::SkMsg => "sk_msg",
            T::RawTracepoint => "raw_tracepoint",
            T::CgroupSockAddr => "cgroup_sock_addr",
            T::LwtSeg6local => "lwt_seg6local",
            T::LircMode2 => "lirc_mode2",
            T::SkReuseport => "sk_reuseport",
            T::FlowDissector => "flow_dissector",
            T::CgroupSysctl => "cgroup_sysctl",
            T::RawTracepointWritable => "raw_tracepoint_writable",
            T::CgroupSockopt => "cgroup_sockopt",
            T::Tracing => "tracing",
            T::StructOps => "struct_ops",
            T::Ext => "ext",
            T::Lsm => "lsm",
            T::SkLookup => "sk_lookup",
            T::Syscall => "syscall",
            T::Netfilter => "netfilter",
            T::Unknown => "unknown",
        }
    }

    /// The context tinybpf runs the type with, or `None` when it does not
    /// run it (then only as raw memory, when asked for explicitly).
    pub fn runs_as(self) -> Option<ProgramKind> {
        match self {
            T::Xdp => Some(ProgramKind::Xdp),
            T::SchedCls | T::SchedAct => Some(ProgramKind::Tc),
            T::SocketFilter => Some(ProgramKind::SocketFilter),
            T::CgroupSkb => Some(ProgramKind::CgroupSkb),
            T::Kprobe
            | T::Tracepoint
            | T::PerfEvent
            | T::CgroupSock
            | T::LwtIn
            | T::LwtOut
            | T::LwtXmit
            | T::SockOps
            | T::SkSkb
            | T::CgroupDevice
            | T::SkMsg
            | T::RawTracepoint
            | T::CgroupSockAddr
            | T::LwtSeg6local
            | T::LircMode2
            | T::SkReuseport
            | T::FlowDissector
            | T::CgroupSysctl
            | T::RawTracepointWritable
            | T::CgroupSockopt
            | T::Tracing
            | T::StructOps
            | T::Ext
            | T::Lsm
            | T::SkLookup
            | T::Syscall
            | T::Netfilter
            | T::Unknown => None,
        }
    }
}

impl std::fmt::Display for ProgramType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_map_to_libbpf_types() {
        let cases = [
            ("xdp", T::Xdp),
            ("xdp.frags", T::Xdp),
            ("xdp/devmap", T::Xdp),
            ("xdp.frags/cpumap", T::Xdp),
            ("tc", T::SchedCls),
            ("tc/ingress", T::SchedCls),
            ("tcx/egress", T::SchedCls),
            ("classifier", T::SchedCls),
            ("action", T::SchedAct),
            ("socket", T::SocketFilter),
            ("cgroup_skb/ingress", T::CgroupSkb),
            ("cgroup/skb", T::CgroupSkb),
            ("raw_tp/sys_enter", T::RawTracepoint),
            ("raw_tracepoint/x", T::RawTracepoint),
            ("raw_tp.w/x", T::RawTracepointWritable),
            ("tp/syscalls/sys_enter_open", T::Tracepoint),
            ("tracepoint/sched/sched_switch", T::Tracepoint),
            ("kprobe/do_sys_open", T::Kprobe),
            ("kretprobe/x", T::Kprobe),
            ("uprobe", T::Kprobe),
            ("fentry/tcp_connect", T::Tracing),
            ("fexit.s/x", T::Tracing),
            ("lsm/file_open", T::Lsm),
            ("lsm.s/bprm", T::Lsm),
            ("cgroup/connect4", T::CgroupSockAddr),
            ("sk_skb/stream_parser", T::SkSkb),
            ("perf_event", T::PerfEvent),
        ];
        for (section, expected) in cases {
            assert_eq!(ProgramType::from_section(section), expected, "{section}");
        }
    }

    #[test]
    fn names_must_match_whole_or_before_a_slash() {
        for section in [
            "xdp/counters",
            "xdp_prog",
            "tc/other",
            "tcfoo",
            "kprobes",
            "socket/x",
            "",
            "prog",
        ] {
            assert_eq!(ProgramType::from_section(section), T::Unknown, "{section}");
        }
    }

    #[test]
    fn only_packet_types_run_with_a_context() {
        assert_eq!(T::Xdp.runs_as(), Some(ProgramKind::Xdp));
        assert_eq!(T::SchedAct.runs_as(), Some(ProgramKind::Tc));
        assert_eq!(T::SocketFilter.runs_as(), Some(ProgramKind::SocketFilter));
        assert_eq!(T::CgroupSkb.runs_as(), Some(ProgramKind::CgroupSkb));
        assert_eq!(T::Kprobe.runs_as(), None);
        assert_eq!(T::Lsm.runs_as(), None);
        assert_eq!(T::Unknown.runs_as(), None);
    }
}
