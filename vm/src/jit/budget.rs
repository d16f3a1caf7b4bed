//! Where the compiled code checks the instruction budget, and for how much:
//! the checkpoints ([`budget_checks`]).
//!
//! Every block adds its weight to the count on entry; only a checkpoint
//! compares. For that to be exact, every cycle of blocks must pass a
//! checkpoint, and each checkpoint must ask for at least the heaviest run
//! of blocks from it up to the next checkpoint.

use crate::ir::facts::Flow;
use crate::ir::op::Op;

/// A block start not yet reached by the search.
const UNSEEN: u8 = 0;
/// On the search's stack: an edge to it closes a cycle.
const OPEN: u8 = 1;
/// Left by the search: its `need` is final.
const DONE: u8 = 2;

/// What each block start checks against the budget at its entry: `Some(n)`
/// for a checkpoint, whose check is that `n` more instructions fit (its own
/// weight plus the heaviest path through the blocks after it up to the next
/// checkpoint); `None` for a block that only adds its weight, because every
/// checkpoint from which it is reached has checked for it already.
/// `starts` marks the block starts (`codegen::leaders`); `weight(start,
/// end)` is what the ops `start..end` count.
///
/// The checkpoints are the blocks a run can enter other than from a block
/// of the same function: the first, a callee's or callback's entry and a
/// call's return site; every block after a helper call (whose units add to
/// the count, and where a callback helper call ends); and the targets of
/// the back edges of a depth-first search over the blocks (an edge to a
/// block on the search's stack), from those checkpoints and then from any
/// block not reached yet. Every cycle holds such an edge, so every loop
/// passes a checkpoint; for a loop with one entry it is the loop's header,
/// wherever the compiler laid the body out (clang often puts it before the
/// header, where targets of backward jumps would check twice an
/// iteration). The search is iterative and each block's `need` is set when
/// the search leaves it, after every successor that is not a checkpoint:
/// time and memory linear in the ops.
///
/// A run whose count would pass the budget somewhere before the next
/// checkpoint is handed to the exact interpreter at the checkpoint, which
/// then stops it at exactly the interpreter's op with the interpreter's
/// count: the same results as a check at every block, with fewer checks.
pub(super) fn budget_checks(
    ops: &[Op],
    starts: &[bool],
    weight: impl Fn(usize, usize) -> u64,
) -> Vec<Option<u64>> {
    let n = ops.len().min(starts.len());
    let start = |i: usize| i < n && starts[i];
    // The end of the block each op is in.
    let mut ends = vec![n; n];
    let mut next = n;
    for i in (0..n).rev() {
        ends[i] = next;
        if starts[i] {
            next = i;
        }
    }
    let successors = |block: usize| -> [Option<usize>; 2] {
        let end = ends[block];
        let Some(last) = end.checked_sub(1).and_then(|last| ops.get(last)) else {
            return [None, None];
        };
        let [a, b] = match last.facts().flow {
            Flow::Next => [Some(end), None],
            Flow::Branch(target) => [Some(end), Some(target as usize)],
            Flow::Jump(target) => [Some(target as usize), None],
            Flow::Call(_) | Flow::Exit => [None, None],
        };
        [a.filter(|&s| start(s)), b.filter(|&s| start(s))]
    };

    let mut checkpoint = required_checkpoints(&ops[..n]);
    let mut state = vec![UNSEEN; n];
    let mut need = vec![0u64; n];
    // Each open block, its successors, and how many of them were followed.
    let mut stack: Vec<(usize, [Option<usize>; 2], usize)> = Vec::new();
    let required_first = (0..n).filter(|&i| checkpoint[i]).chain(0..n);
    let roots: Vec<usize> = required_first.filter(|&i| start(i)).collect();
    for root in roots {
        if state[root] != UNSEEN {
            continue;
        }
        state[root] = OPEN;
        stack.push((root, successors(root), 0));
        while let Some((block, succ, followed)) = stack.last_mut() {
            if let Some(&edge) = succ.get(*followed) {
                *followed += 1;
                let Some(s) = edge else { continue };
                match state[s] {
                    UNSEEN => {
                        state[s] = OPEN;
                        stack.push((s, successors(s), 0));
                    }
                    OPEN => checkpoint[s] = true,
                    _ => {}
                }
                continue;
            }
            // Left: every successor is done or a checkpoint (one that was
            // open when its edge was followed became one).
            let (block, succ) = (*block, *succ);
            stack.pop();
            state[block] = DONE;
            debug_assert!(
                succ.iter()
                    .flatten()
                    .all(|&s| checkpoint[s] || state[s] == DONE)
            );
            let onward = succ
                .iter()
                .flatten()
                .filter(|&&s| !checkpoint[s])
                .map(|&s| need[s])
                .max()
                .unwrap_or(0);
            need[block] = weight(block, ends[block]).saturating_add(onward);
        }
    }
    (0..n)
        .map(|i| (start(i) && checkpoint[i]).then_some(need[i]))
        .collect()
}

/// The checkpoints every program has, whatever its loops: op 0, callee
/// and callback entries, return sites, and the op after each helper call.
fn required_checkpoints(ops: &[Op]) -> Vec<bool> {
    let mut checkpoint = vec![false; ops.len()];
    let mut mark = |i: usize| {
        if let Some(c) = checkpoint.get_mut(i) {
            *c = true;
        }
    };
    mark(0);
    for (i, op) in ops.iter().enumerate() {
        if let Op::LoadFunc { target, .. } = *op {
            mark(target as usize);
        }
        match op.facts().flow {
            Flow::Call(target) => {
                mark(target as usize);
                mark(i + 1);
            }
            Flow::Next
                if matches!(
                    op,
                    Op::CallHelper { .. } | Op::CallReg { .. } | Op::MapLookup
                ) =>
            {
                mark(i + 1);
            }
            Flow::Next | Flow::Branch(_) | Flow::Jump(_) | Flow::Exit => {}
        }
    }
    checkpoint
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jit::codegen::leaders;

    fn mov() -> Op {
        Op::Mov64Imm { dst: 0, imm: 1 }
    }

    fn ja(target: u32) -> Op {
        Op::Ja { target }
    }

    fn jne(target: u32) -> Op {
        Op::JneImm {
            dst: 1,
            imm: 0,
            target,
        }
    }

    /// The checks of `ops` whose op `i` weighs `weights[i]`, after checking
    /// them against the ops' flow ([`assert_sound`]).
    fn checks_weighted(ops: &[Op], weights: &[u64]) -> Vec<Option<u64>> {
        let starts = leaders(ops);
        let mut prefix = vec![0u64];
        for w in weights {
            prefix.push(prefix.last().unwrap() + w);
        }
        let checks = budget_checks(ops, &starts, |a, b| prefix[b] - prefix[a]);
        assert_sound(ops, weights, &starts, &checks);
        checks
    }

    /// The checkpoints of `ops` (every op weighing 1) and their needs.
    fn checkpoints(ops: &[Op]) -> Vec<(usize, u64)> {
        checks_weighted(ops, &vec![1; ops.len()])
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|need| (i, need)))
            .collect()
    }

    /// Where control goes after op `i` within its function (a call's
    /// callee and return site are checkpoints: no edge).
    fn op_successors(ops: &[Op], i: usize) -> Vec<usize> {
        let all = match ops[i].facts().flow {
            Flow::Next => vec![i + 1],
            Flow::Branch(target) => vec![target as usize, i + 1],
            Flow::Jump(target) => vec![target as usize],
            Flow::Call(_) | Flow::Exit => vec![],
        };
        all.into_iter().filter(|&s| s < ops.len()).collect()
    }

    /// What the code generator relies on, checked op by op, independently
    /// of blocks: checkpoints only at block starts, the required ones
    /// there, no cycle once the edges into checkpoints are gone, and each
    /// checkpoint's need exactly the heaviest path from it to the next.
    fn assert_sound(ops: &[Op], weights: &[u64], starts: &[bool], checks: &[Option<u64>]) {
        let n = ops.len();
        assert_eq!(checks.len(), n);
        let required = required_checkpoints(ops);
        for i in 0..n {
            if checks[i].is_some() {
                assert!(starts[i], "checkpoint {i} starts no block");
            }
            if required[i] {
                assert!(checks[i].is_some(), "required checkpoint {i} missing");
            }
        }
        let is_checkpoint = |i: usize| checks[i].is_some();
        // Acyclic without the edges into checkpoints: removing ops with no
        // edge left into them removes them all (Kahn's algorithm).
        let mut into = vec![0usize; n];
        for i in 0..n {
            for s in op_successors(ops, i) {
                if !is_checkpoint(s) {
                    into[s] += 1;
                }
            }
        }
        let mut free: Vec<usize> = (0..n).filter(|&i| into[i] == 0).collect();
        let mut removed = 0;
        while let Some(i) = free.pop() {
            removed += 1;
            for s in op_successors(ops, i) {
                if !is_checkpoint(s) {
                    into[s] -= 1;
                    if into[s] == 0 {
                        free.push(s);
                    }
                }
            }
        }
        assert_eq!(removed, n, "a cycle passes no checkpoint");
        // The heaviest path from each checkpoint up to the next one, by
        // trying every path (the graph without those edges is acyclic).
        fn heaviest(ops: &[Op], weights: &[u64], i: usize, cut: &dyn Fn(usize) -> bool) -> u64 {
            let onward = op_successors(ops, i)
                .into_iter()
                .filter(|&s| !cut(s))
                .map(|s| heaviest(ops, weights, s, cut))
                .max()
                .unwrap_or(0);
            weights[i] + onward
        }
        if n <= 64 {
            for (c, need) in checks.iter().enumerate() {
                if let Some(need) = *need {
                    assert_eq!(
                        need,
                        heaviest(ops, weights, c, &is_checkpoint),
                        "need of checkpoint {c} in {ops:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_loop_whose_body_comes_before_its_header_checks_once_an_iteration() {
        // The shape of clang's globals.o: the entry jumps forward to the
        // header (6); the body (2, 4) comes before it, and several
        // backward jumps (to 2 and 4) close the loop through it.
        let ops = [
            mov(),
            ja(6),
            mov(), // 2: taken from 10
            mov(),
            mov(), // 4: taken from 12 and 14, falls into the header
            Op::JeqImm {
                dst: 6,
                imm: 257,
                target: 15,
            },
            mov(), // 6: the header
            Op::JgeImm {
                dst: 1,
                imm: 0,
                target: 9,
            },
            mov(),
            mov(), // 9
            jne(2),
            mov(), // 11
            jne(4),
            mov(), // 13
            ja(4),
            mov(), // 15
            Op::Exit,
        ];
        // From 6: 6-7, 8, 9-10, 11-12, 13-14, 4-5, 15-16.
        assert_eq!(checkpoints(&ops), [(0, 2), (6, 13)]);
    }

    #[test]
    fn a_loop_with_two_entries_checks_at_one_of_them() {
        // 0 enters the cycle 1 -> 3 -> 1 at 1 or at 3.
        let ops = [
            Op::JeqImm {
                dst: 1,
                imm: 0,
                target: 3,
            },
            mov(), // 1
            Op::JeqImm {
                dst: 2,
                imm: 0,
                target: 5,
            },
            mov(), // 3
            ja(1),
            Op::Exit, // 5
        ];
        let found = checkpoints(&ops);
        let in_cycle = found.iter().filter(|(i, _)| [1, 3].contains(i)).count();
        assert_eq!(in_cycle, 1, "{found:?}");
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn nested_loops_check_at_their_headers() {
        let ops = [
            mov(),
            ja(7),
            mov(), // 2: the inner body, falls into its header
            mov(),
            mov(), // 4: the inner header
            jne(2),
            mov(), // 6: after the inner loop, falls into the outer header
            Op::JeqImm {
                dst: 1,
                imm: 0,
                target: 9,
            }, // 7: the outer header
            ja(4),
            Op::Exit, // 9
        ];
        // 4: 4-5, then 2-3 (then 4 again) or 6 (then 7); 7: 7, then 8
        // (then 4) or 9.
        assert_eq!(checkpoints(&ops), [(0, 2), (4, 4), (7, 2)]);
    }

    #[test]
    fn a_self_loop_checks_at_its_block() {
        let ops = [mov(), mov(), jne(1), Op::Exit];
        assert_eq!(checkpoints(&ops), [(0, 1), (1, 3)]);
        // The first block, looping on itself.
        assert_eq!(checkpoints(&[mov(), ja(0)]), [(0, 2)]);
    }

    #[test]
    fn calls_helpers_and_callbacks_keep_their_checkpoints() {
        let ops = [
            Op::LoadFunc { dst: 2, target: 8 },
            Op::CallHelper { slot: 0 },
            mov(), // 2: after a helper
            Op::CallLocal { target: 6 },
            mov(), // 4: a return site
            Op::Exit,
            mov(), // 6: a callee
            Op::Exit,
            mov(), // 8: a callback
            Op::Exit,
        ];
        assert_eq!(checkpoints(&ops), [(0, 2), (2, 2), (4, 2), (6, 2), (8, 2)]);
    }

    #[test]
    fn a_chain_of_100000_backward_jumps_is_one_loop_and_no_deep_recursion() {
        // 0 -> M -> M-1 -> ... -> 1 -> M: one cycle laid out backwards,
        // every jump but the first two backward.
        const M: usize = 100_000;
        let mut ops = vec![ja(M as u32); M + 1];
        for (i, op) in ops.iter_mut().enumerate().skip(2) {
            *op = ja(i as u32 - 1);
        }
        assert_eq!(checkpoints(&ops), [(0, 1), (M, M as u64)]);
        // Each block also falls through to the next one: a cycle of two
        // blocks at each step, 100,000 blocks deep from the entry.
        let mut ops = vec![Op::Exit; M + 2];
        ops[0] = ja(M as u32);
        for (i, op) in ops.iter_mut().enumerate().take(M + 1).skip(2) {
            *op = jne(i as u32 - 1);
        }
        let found = checkpoints(&ops);
        assert!(found.len() >= M / 2, "{}", found.len());
    }

    /// A deterministic xorshift generator (no dependency).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A random program of up to 20 ops: moves, helper calls, callback
    /// references, jumps and branches anywhere, local calls and exits.
    fn random_program(rng: &mut Rng) -> (Vec<Op>, Vec<u64>) {
        let n = 1 + rng.below(20);
        let mut ops = Vec::with_capacity(n);
        for i in 0..n {
            let target = rng.below(n) as u32;
            let last = i + 1 == n;
            let op = match rng.below(if last { 2 } else { 12 }) {
                0 => Op::Exit,
                1 => ja(target),
                2 | 3 => jne(target),
                4 => Op::CallHelper { slot: 0 },
                5 => Op::LoadFunc { dst: 2, target },
                6 => Op::CallLocal { target },
                _ => mov(),
            };
            ops.push(op);
        }
        let weights = (0..n).map(|_| rng.below(5) as u64).collect();
        (ops, weights)
    }

    #[test]
    fn random_programs_check_every_cycle_and_their_heaviest_paths() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut loops = 0;
        let mut forward_headers = 0;
        for _ in 0..20_000 {
            let (ops, weights) = random_program(&mut rng);
            let checks = checks_weighted(&ops, &weights);
            let required = required_checkpoints(&ops);
            for (i, check) in checks.iter().enumerate() {
                if check.is_some() && !required[i] {
                    loops += 1;
                    // A header no backward jump targets.
                    let backward = ops.iter().enumerate().any(|(j, op)| {
                        matches!(op.facts().flow,
                            Flow::Branch(t) | Flow::Jump(t) if t as usize == i && j >= i)
                    });
                    if !backward {
                        forward_headers += 1;
                    }
                }
            }
        }
        assert!(loops > 1_000, "{loops}");
        assert!(forward_headers > 100, "{forward_headers}");
    }
}
