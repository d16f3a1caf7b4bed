//! The control flow of a program of ops, derived once from the op table's
//! [`Flow`] facts and shared by every fixpoint of the passes.
//!
//! A function is what a local call enters: the main program starts at op 0,
//! every `call local` target starts another, and so does every function a
//! pseudo-func `lddw` refers to (a callback, which a helper such as
//! `bpf_loop` enters in a frame of its own, with r1..r5 set by the helper). Successors stay inside a
//! function: a call's successor is the op after it (where the callee
//! returns), and the callee's entry is a separate root.
//!
//! ```
//! use tinybpf_vm::ir::cfg::ControlFlow;
//! use tinybpf_vm::ir::op::Op;
//! let ops = [
//!     Op::JeqImm { dst: 1, imm: 0, target: 2 },
//!     Op::CallLocal { target: 3 },
//!     Op::Exit,
//!     Op::Exit,
//! ];
//! let cfg = ControlFlow::new(&ops);
//! assert_eq!(cfg.successors(0).collect::<Vec<_>>(), [1, 2]);
//! assert_eq!(cfg.successors(1).collect::<Vec<_>>(), [2]);
//! assert_eq!(cfg.callee_entries(), [3]);
//! assert!(cfg.in_subprogram(3) && !cfg.in_subprogram(2));
//! ```

use crate::ir::facts::Flow;
use crate::ir::op::Op;

/// No successor in that position.
const NONE: u32 = u32::MAX;

/// Successors, function entries and subprogram membership of a program.
#[derive(Debug, Clone)]
pub struct ControlFlow {
    /// For each op: the next op if control may fall through, then the jump
    /// or branch target (`NONE` when absent).
    next: Vec<[u32; 2]>,
    /// The targets of local calls and the callbacks, ascending, without
    /// repeats.
    callees: Vec<usize>,
    /// The functions pseudo-func `lddw`s refer to, ascending, without repeats.
    callbacks: Vec<usize>,
    /// Whether each op is reachable from a callee's entry.
    in_subprogram: Vec<bool>,
}

impl ControlFlow {
    /// The control flow of `ops`, whose targets lie inside the program (the
    /// translator and the verifier guarantee it; a target outside is ignored).
    pub fn new(ops: &[Op]) -> ControlFlow {
        let n = ops.len();
        let inside = |i: usize| if i < n { i as u32 } else { NONE };
        let mut next = Vec::with_capacity(n);
        let mut is_callee = vec![false; n];
        let mut is_callback = vec![false; n];
        for (i, op) in ops.iter().enumerate() {
            let facts = op.facts();
            let fall = if facts.falls_through() {
                inside(i + 1)
            } else {
                NONE
            };
            let jump = facts.local_target().map_or(NONE, |t| inside(t as usize));
            next.push([fall, jump]);
            if let Flow::Call(target) = facts.flow
                && let Some(slot) = is_callee.get_mut(target as usize)
            {
                *slot = true;
            }
            if let Some(target) = facts.func_ref
                && let Some(slot) = is_callback.get_mut(target as usize)
            {
                *slot = true;
            }
        }
        let callees: Vec<usize> = (0..n).filter(|&i| is_callee[i] || is_callback[i]).collect();
        let callbacks: Vec<usize> = (0..n).filter(|&i| is_callback[i]).collect();
        let mut cfg = ControlFlow {
            next,
            callees,
            callbacks,
            in_subprogram: Vec::new(),
        };
        cfg.in_subprogram = cfg.reachable(cfg.callees.iter().copied());
        cfg
    }

    /// How many ops.
    pub fn len(&self) -> usize {
        self.next.len()
    }

    /// Whether the program is empty.
    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// Where control may go after op `i` inside its function: the next op
    /// (also after a call), then the jump or branch target.
    pub fn successors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.next[i]
            .into_iter()
            .filter(|&s| s != NONE)
            .map(|s| s as usize)
    }

    /// Whether control may continue at op `i + 1` after op `i`.
    pub fn falls_through(&self, i: usize) -> bool {
        self.next[i][0] != NONE
    }

    /// The entries of the functions local calls and callback helpers
    /// enter, ascending: each starts with unknown registers and a frame of
    /// its own.
    pub fn callee_entries(&self) -> &[usize] {
        &self.callees
    }

    /// The entries of the callbacks (functions a pseudo-func `lddw` refers
    /// to), ascending.
    pub fn callback_entries(&self) -> &[usize] {
        &self.callbacks
    }

    /// Whether op `i` may run in a callee's frame (it is reachable from a
    /// callee's entry without entering further calls).
    pub fn in_subprogram(&self, i: usize) -> bool {
        self.in_subprogram[i]
    }

    /// The ops reachable from `roots` without entering calls.
    pub fn reachable(&self, roots: impl Iterator<Item = usize>) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut work: Vec<usize> = roots.filter(|&r| r < self.len()).collect();
        while let Some(i) = work.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            work.extend(self.successors(i));
        }
        seen
    }

    /// The first op of every basic block, ascending: op 0, every jump,
    /// branch and call target, every callback entry, and every op after a
    /// jump, branch or exit.
    /// (A call does not end a block: its callee returns to the next op.)
    pub fn block_starts(&self, ops: &[Op]) -> Vec<usize> {
        let n = self.len();
        let mut leader = vec![false; n];
        if n > 0 {
            leader[0] = true;
        }
        for (i, op) in ops.iter().enumerate().take(n) {
            let facts = op.facts();
            if let Some(target) = facts.target()
                && let Some(slot) = leader.get_mut(target as usize)
            {
                *slot = true;
            }
            if let Some(target) = facts.func_ref
                && let Some(slot) = leader.get_mut(target as usize)
            {
                *slot = true;
            }
            let ends_block = match facts.flow {
                Flow::Branch(_) | Flow::Jump(_) | Flow::Exit => true,
                Flow::Next | Flow::Call(_) => false,
            };
            if ends_block && let Some(slot) = leader.get_mut(i + 1) {
                *slot = true;
            }
        }
        (0..n).filter(|&i| leader[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_is_a_function_entry_and_a_block_start() {
        let ops = [
            Op::LoadFunc { dst: 2, target: 4 },
            Op::CallHelper { slot: 0 },
            Op::Exit,
            Op::Mov64Imm { dst: 0, imm: 0 },
            Op::Mov64Imm { dst: 0, imm: 1 },
            Op::Exit,
        ];
        let cfg = ControlFlow::new(&ops);
        assert_eq!(cfg.callback_entries(), [4]);
        assert_eq!(cfg.callee_entries(), [4]);
        assert!(cfg.in_subprogram(4) && cfg.in_subprogram(5));
        assert!(!cfg.in_subprogram(3) && !cfg.in_subprogram(1));
        assert_eq!(cfg.block_starts(&ops), [0, 3, 4]);
    }

    #[test]
    fn blocks_start_at_targets_and_after_control_transfers() {
        let ops = [
            Op::Mov64Imm { dst: 0, imm: 0 },
            Op::JeqImm {
                dst: 0,
                imm: 0,
                target: 4,
            },
            Op::CallLocal { target: 6 },
            Op::Ja { target: 5 },
            Op::Mov64Imm { dst: 0, imm: 1 },
            Op::Exit,
            Op::Exit,
        ];
        let cfg = ControlFlow::new(&ops);
        assert_eq!(cfg.block_starts(&ops), [0, 2, 4, 5, 6]);
        assert_eq!(cfg.successors(3).collect::<Vec<_>>(), [5]);
        assert_eq!(cfg.successors(5).count(), 0);
        assert!(!cfg.falls_through(3));
        let from_main = cfg.reachable([0].into_iter());
        assert_eq!(from_main, [true, true, true, true, true, true, false]);
    }
}
