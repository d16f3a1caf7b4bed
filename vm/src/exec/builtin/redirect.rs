//! `bpf_redirect` (23) and `bpf_redirect_map` (51): the verdict the kernel's
//! test run returns, and the target, which the run records
//! ([`RunOutcome::redirect`](crate::RunOutcome::redirect)) the way the
//! kernel keeps it in its per-CPU `bpf_redirect_info`: the last call that
//! set it wins, a map miss clears it.
//!
//! Kernel references: `bpf_xdp_redirect`, `bpf_redirect` (tc) and
//! `__bpf_xdp_redirect_map` in net/core/filter.c; each map type's
//! `map_redirect` in kernel/bpf/devmap.c, cpumap.c and net/xdp/xskmap.c.

use tinybpf_maps::{MapType, ProgramOp};

use crate::ProgramKind;
use crate::error::HelperError;
use crate::exec::helpers::{HelperContext, check_op, ids};

/// `XDP_ABORTED`.
const XDP_ABORTED: u64 = 0;
/// `XDP_REDIRECT`.
const XDP_REDIRECT: u64 = 4;
/// `TC_ACT_SHOT`.
const TC_ACT_SHOT: u64 = 2;
/// `TC_ACT_REDIRECT`.
const TC_ACT_REDIRECT: u64 = 7;
/// `BPF_F_INGRESS`: tc's redirect to the device's ingress.
pub const BPF_F_INGRESS: u64 = 1;
/// `BPF_F_BROADCAST`: a devmap redirect to every entry.
pub const BPF_F_BROADCAST: u64 = 1 << 3;
/// `BPF_F_EXCLUDE_INGRESS`: a broadcast leaving out the ingress device.
pub const BPF_F_EXCLUDE_INGRESS: u64 = 1 << 4;
/// The low flag bits `bpf_redirect_map` returns on a miss (an XDP action
/// from `XDP_ABORTED` to `XDP_TX`).
const ACTION_MASK: u64 = 3;

/// Where a program sent its packet: what the kernel's `bpf_redirect_info`
/// holds at the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// `bpf_redirect(ifindex, flags)`.
    Ifindex {
        /// The device.
        ifindex: u32,
        /// `BPF_F_INGRESS` (tc): to the device's receive path.
        ingress: bool,
    },
    /// `bpf_redirect_map(map, key, flags)` that found its entry, or a
    /// broadcast.
    Map {
        /// The map's index in the program's map table.
        map: usize,
        /// The map's type (devmap, devmap hash, cpumap, xskmap).
        map_type: MapType,
        /// The key (the kernel's `u32`).
        key: u32,
        /// What the entry names: the ifindex (devmaps), the CPU (cpumap),
        /// the stored socket value (xskmap); `None` for a broadcast whose
        /// key is empty.
        target: Option<u32>,
        /// `BPF_F_BROADCAST`, with `BPF_F_EXCLUDE_INGRESS` or not.
        broadcast: Option<Broadcast>,
    },
}

/// A devmap broadcast (`BPF_F_BROADCAST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    /// `BPF_F_EXCLUDE_INGRESS`.
    pub exclude_ingress: bool,
}

/// `long bpf_redirect(u32 ifindex, u64 flags)`: XDP programs get
/// `XDP_REDIRECT`, or `XDP_ABORTED` for any flag; other programs (tc) get
/// `TC_ACT_REDIRECT` with no flag or `BPF_F_INGRESS`, else `TC_ACT_SHOT`.
/// A refused call leaves the recorded target as it was.
pub(crate) fn redirect(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let (ifindex, flags) = (args[0] as u32, args[1]);
    let xdp = ctx.program_kind() == ProgramKind::Xdp;
    let allowed = if xdp { 0 } else { BPF_F_INGRESS };
    if flags & !allowed != 0 {
        return Ok(if xdp { XDP_ABORTED } else { TC_ACT_SHOT });
    }
    ctx.set_redirect(Some(Redirect::Ifindex {
        ifindex,
        ingress: flags & BPF_F_INGRESS != 0,
    }));
    Ok(if xdp { XDP_REDIRECT } else { TC_ACT_REDIRECT })
}

/// `long bpf_redirect_map(map, u64 key, u64 flags)`: flags beyond the
/// action bits (and, for devmaps, `BPF_F_BROADCAST`/`BPF_F_EXCLUDE_INGRESS`)
/// give `XDP_ABORTED`; a key with no entry (the key is the kernel's `u32`)
/// clears the target and returns `flags & 3`, unless broadcasting; a hit
/// records the target and returns `XDP_REDIRECT`.
pub(crate) fn redirect_map(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let Some((index, map)) = ctx.map(args[0]) else {
        return Ok(XDP_ABORTED);
    };
    check_op(map, index, ids::REDIRECT_MAP, ProgramOp::RedirectMap)?;
    let (key, flags) = (args[1] as u32, args[2]);
    let map_type = map.map_type();
    let flag_mask = if matches!(map_type, MapType::Devmap | MapType::DevmapHash) {
        BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS
    } else {
        0
    };
    if flags & !(ACTION_MASK | flag_mask) != 0 {
        return Ok(XDP_ABORTED);
    }
    let target = map.redirect_target(key);
    let broadcast = (flags & BPF_F_BROADCAST != 0).then_some(Broadcast {
        exclude_ingress: flags & BPF_F_EXCLUDE_INGRESS != 0,
    });
    if target.is_none() && broadcast.is_none() {
        ctx.set_redirect(None);
        return Ok(flags & ACTION_MASK);
    }
    ctx.set_redirect(Some(Redirect::Map {
        map: index,
        map_type,
        key,
        target,
        broadcast,
    }));
    Ok(XDP_REDIRECT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::asm::assemble_bytes;
    use crate::{LoadedProgram, ProgramOptions};

    fn run(kind: ProgramKind, flags: u64) -> (u64, Option<Redirect>) {
        let text = format!("mov %r1, 3\nlddw %r2, {flags}\ncall 23\nexit");
        let code = assemble_bytes(&text).unwrap();
        let options = ProgramOptions {
            kind,
            ..Default::default()
        };
        let program = LoadedProgram::load(&code, options).unwrap();
        let mut packet = [0u8; 14];
        let outcome = program.run(&mut packet).unwrap();
        (outcome.retval, outcome.redirect)
    }

    #[test]
    fn redirect_verdicts_by_program_type() {
        let to = |ingress| {
            Some(Redirect::Ifindex {
                ifindex: 3,
                ingress,
            })
        };
        assert_eq!(run(ProgramKind::Xdp, 0), (XDP_REDIRECT, to(false)));
        assert_eq!(run(ProgramKind::Xdp, BPF_F_INGRESS), (XDP_ABORTED, None));
        assert_eq!(run(ProgramKind::Xdp, 1 << 40), (XDP_ABORTED, None));
        // tc (any program that is not XDP): BPF_F_INGRESS is the one flag.
        assert_eq!(run(ProgramKind::Memory, 0), (TC_ACT_REDIRECT, to(false)));
        assert_eq!(
            run(ProgramKind::Memory, BPF_F_INGRESS),
            (TC_ACT_REDIRECT, to(true))
        );
        assert_eq!(run(ProgramKind::Memory, 2), (TC_ACT_SHOT, None));
    }

    #[test]
    fn a_refused_redirect_keeps_the_earlier_target() {
        let code = assemble_bytes(
            "mov %r1, 3\nmov %r2, 0\ncall 23\nmov %r1, 4\nmov %r2, 1\ncall 23\nexit",
        )
        .unwrap();
        let options = ProgramOptions {
            kind: ProgramKind::Xdp,
            ..Default::default()
        };
        let program = LoadedProgram::load(&code, options).unwrap();
        let outcome = program.run(&mut [0u8; 14]).unwrap();
        assert_eq!(outcome.retval, XDP_ABORTED);
        assert_eq!(
            outcome.redirect,
            Some(Redirect::Ifindex {
                ifindex: 3,
                ingress: false
            })
        );
        // Each run starts without a target.
        let code = assemble_bytes("mov %r0, 2\nexit").unwrap();
        let other = LoadedProgram::load(&code, ProgramOptions::default()).unwrap();
        let mut ctx = crate::RunContext::new();
        program.run_with(&mut [0u8; 14], &mut ctx).unwrap();
        assert_eq!(other.run_with(&mut [], &mut ctx).unwrap().redirect, None);
    }
}
