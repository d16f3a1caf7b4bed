//! Context accesses checked at load time, as the kernel's verifier checks
//! them: for a program with a `struct __sk_buff`, every load or store
//! whose address is the context pointer plus a constant (r1 at the
//! program's entry, its copies and constant offsets from it, followed by
//! the constant dataflow of [`const_addr`](crate::passes::const_addr)) must
//! be an access the program type's rules allow
//! ([`check_access`]); otherwise the program is refused, naming the
//! field. Accesses the dataflow cannot place (a context pointer handed to
//! a subprogram, spilled to the stack, ...) are checked when they run (see
//! [`exec::ctx::skb`](crate::exec::ctx::skb)).

use crate::ProgramKind;
use crate::error::{Access, InvalidInsn, VerifyError};
use crate::exec::ctx::offered::offers;
use crate::exec::ctx::skb::{ContextRefusal, SKB_SIZE, check_access, field_at};
use crate::exec::helpers::Helper;
use crate::exec::memory::{CONTEXT_SLOT, CONTEXT_START};
use crate::ir::facts::{AccessKind, Memory};
use crate::ir::op::Op;
use crate::passes::const_addr::{Consts, solve};

/// Refuses the first context access in `ops` (the per-slot form) that the
/// rules of `kind` do not allow.
pub(crate) fn check_context_accesses(ops: &[Op], kind: ProgramKind) -> Result<(), VerifyError> {
    if !kind.has_skb() {
        return Ok(());
    }
    let mut entry = Consts::NONE;
    entry.set(1, Some(CONTEXT_START));
    let state = solve(ops, entry);
    for (pc, op) in ops.iter().enumerate() {
        let Some(consts) = state[pc] else { continue };
        let Memory::Checked {
            base,
            off,
            width,
            kind: access_kind,
        } = op.facts().memory
        else {
            continue;
        };
        let Some(addr) = consts.get(base).map(|b| b.wrapping_add(off as i64 as u64)) else {
            continue;
        };
        if addr >> 32 != CONTEXT_SLOT {
            continue;
        }
        let offset = addr - CONTEXT_START;
        let access = match access_kind {
            AccessKind::Load { .. } => Access::Read,
            AccessKind::Store(_) | AccessKind::Atomic => Access::Write,
        };
        let verdict = if offset >= SKB_SIZE as u64 {
            Err(ContextRefusal::Outside)
        } else if matches!(access_kind, AccessKind::Atomic) {
            // The kernel refuses atomic operations on the context.
            Err(ContextRefusal::NotAccessible)
        } else {
            check_access(kind, offset as usize, usize::from(width), access)
        };
        if let Err(reason) = verdict {
            return Err(VerifyError::Invalid {
                pc,
                kind: InvalidInsn::ContextAccess {
                    field: usize::try_from(offset)
                        .ok()
                        .and_then(field_at)
                        .map_or("past the end", |f| f.0),
                    offset: u16::try_from(offset).unwrap_or(u16::MAX),
                    size: width,
                    access,
                    kind,
                    reason,
                },
            });
        }
    }
    Ok(())
}

/// Refuses the first call of a built-in helper that programs of `kind` do
/// not have ([`offers`]); `helpers` is the program's helper table.
/// Helpers an embedder registered, and raw-memory programs, are not
/// checked.
pub(crate) fn check_helpers_offered(
    ops: &[Op],
    helpers: &[Helper],
    kind: ProgramKind,
) -> Result<(), VerifyError> {
    for (pc, op) in ops.iter().enumerate() {
        let Op::CallHelper { slot } = *op else {
            continue;
        };
        let Some(helper) = helpers.get(slot as usize) else {
            continue;
        };
        if helper.builtin && !offers(kind, helper.id) {
            return Err(VerifyError::Invalid {
                pc,
                kind: InvalidInsn::HelperNotOffered {
                    id: helper.id,
                    kind,
                },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ops: &[Op], kind: ProgramKind) -> Result<(), VerifyError> {
        check_context_accesses(ops, kind)
    }

    #[test]
    fn accesses_through_r1_are_checked_by_field() {
        // r6 = r1; r6 += 8; *(u32 *)(r6 + 0) = r0  (mark: tc may write it)
        let write_mark = [
            Op::Mov64Reg { dst: 6, src: 1 },
            Op::Add64Imm { dst: 6, imm: 8 },
            Op::StxW {
                dst: 6,
                src: 0,
                off: 0,
            },
            Op::Exit,
        ];
        assert_eq!(check(&write_mark, ProgramKind::Tc), Ok(()));
        match check(&write_mark, ProgramKind::SocketFilter) {
            Err(VerifyError::Invalid {
                pc: 2,
                kind:
                    InvalidInsn::ContextAccess {
                        field: "mark",
                        offset: 8,
                        reason: ContextRefusal::ReadOnly,
                        ..
                    },
            }) => {}
            other => panic!("{other:?}"),
        }
        // XDP and raw memory have no __sk_buff to check.
        assert_eq!(check(&write_mark, ProgramKind::Xdp), Ok(()));
    }

    #[test]
    fn an_unknown_base_is_left_to_the_run() {
        let ops = [
            Op::LdxDW {
                dst: 6,
                src: 10,
                off: -8,
            },
            Op::StxW {
                dst: 6,
                src: 0,
                off: 0,
            },
            Op::Exit,
        ];
        assert_eq!(check(&ops, ProgramKind::Tc), Ok(()));
    }
}
