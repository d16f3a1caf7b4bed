//! The worklist solver of the lookup analysis: a forward abstract
//! interpretation over the basic blocks of the shared control-flow view
//! ([`ControlFlow`]), lowest block first; every call target and every
//! callback entry starts with a fresh frame and unknown registers.
//!
//! Paths join by keeping only what all agree on, so a block's entry state
//! only loses facts; after [`MAX_ENTRY_CHANGES`] losses it becomes "all
//! unknown" (the top, which cannot change again), so the fixpoint costs time
//! linear in the program.

use std::collections::BTreeSet;

use crate::ir::cfg::ControlFlow;
use crate::ir::op::Op;
use crate::passes::lookup::LookupRewrite;
use crate::passes::lookup::lattice::State;
use crate::passes::lookup::transfer::{Context, Next};

/// How many times a block's entry state may lose facts before it is set to
/// "all unknown" (which bounds the work per block).
pub(super) const MAX_ENTRY_CHANGES: u32 = 16;

/// Where a block's execution goes, with the state it carries.
type Edges = Vec<(usize, State)>;

/// The solver's state: the blocks and their entry states.
pub(super) struct Solver<'a> {
    ops: &'a [Op],
    context: Context<'a>,
    /// First op of each block, ascending.
    pub(super) starts: Vec<usize>,
    /// Block index of each op that starts a block.
    block_at: Vec<Option<u32>>,
    /// The callbacks' entries: helpers enter them, not a call op.
    callbacks: Vec<usize>,
    entries: Vec<Option<State>>,
    changes: Vec<u32>,
    /// How many times a block was run while solving (checked by the tests).
    pub(super) block_runs: usize,
}

impl<'a> Solver<'a> {
    pub(super) fn new(ops: &'a [Op], context: Context<'a>) -> Self {
        let cfg = ControlFlow::new(ops);
        let starts = cfg.block_starts(ops);
        let mut block_at = vec![None; ops.len()];
        for (block, &start) in starts.iter().enumerate() {
            // MAX_INSNS-sized programs have far fewer than u32::MAX blocks;
            // a larger one simply gets no index and is never entered.
            block_at[start] = u32::try_from(block).ok();
        }
        let count = starts.len();
        Solver {
            ops,
            context,
            starts,
            block_at,
            callbacks: cfg.callback_entries().to_vec(),
            entries: vec![None; count],
            changes: vec![0; count],
            block_runs: 0,
        }
    }

    fn block_of(&self, pc: usize) -> Option<usize> {
        self.block_at.get(pc).copied().flatten().map(|b| b as usize)
    }

    /// Runs to the fixpoint.
    pub(super) fn solve(&mut self) {
        let mut work = BTreeSet::new();
        if let Some(first) = self.block_of(0) {
            self.entries[first] = Some(State::entry());
            work.insert(first);
        }
        // A callback starts in a fresh frame with r1..r5 set by the helper
        // that calls it: nothing known.
        for i in 0..self.callbacks.len() {
            if let Some(block) = self.block_of(self.callbacks[i])
                && self.merge(block, State::entry())
            {
                work.insert(block);
            }
        }
        let mut edges = Edges::new();
        while let Some(block) = work.pop_first() {
            self.block_runs += 1;
            edges.clear();
            self.run_block(block, &mut edges, None, None);
            for (pc, state) in edges.drain(..) {
                let Some(to) = self.block_of(pc) else {
                    continue;
                };
                if self.merge(to, state) {
                    work.insert(to);
                }
            }
        }
    }

    /// Joins `state` into block `to`'s entry; true if the entry changed.
    fn merge(&mut self, to: usize, state: State) -> bool {
        match &mut self.entries[to] {
            None => {
                self.entries[to] = Some(state);
                true
            }
            Some(entry) => {
                if !entry.join_into(&state) {
                    return false;
                }
                self.changes[to] += 1;
                if self.changes[to] > MAX_ENTRY_CHANGES {
                    // Give up on this block: the top state (r10 is never
                    // written, which the translator checked) cannot change again.
                    *entry = State::entry();
                }
                true
            }
        }
    }

    /// Heap bytes the entry states keep: a `State` per block plus each
    /// shared stack chunk once (the statistic the scale tests bound).
    #[cfg(test)]
    pub(super) fn retained_bytes(&self) -> usize {
        let mut pieces = std::collections::HashSet::new();
        let mut bytes = self.entries.len() * std::mem::size_of::<Option<State>>();
        for state in self.entries.iter().flatten() {
            state.heap_pieces(|at, size| {
                if pieces.insert(at) {
                    bytes += size;
                }
            });
        }
        bytes
    }

    /// The findings, from one more pass over the solved entry states.
    pub(super) fn findings(&mut self) -> Vec<LookupRewrite> {
        let mut found = Vec::new();
        let mut edges = Edges::new();
        for block in 0..self.starts.len() {
            edges.clear();
            self.run_block(block, &mut edges, Some(&mut found), None);
        }
        found
    }

    /// Calls `observe` with every reached op and the state before it, one
    /// pass over the solved entry states.
    pub(super) fn visit(&self, mut observe: impl FnMut(usize, &Op, &State)) {
        for (block, &start) in self.starts.iter().enumerate() {
            let Some(mut state) = self.entries[block].clone() else {
                continue;
            };
            let end = self
                .starts
                .get(block + 1)
                .copied()
                .unwrap_or(self.ops.len());
            for pc in start..end {
                observe(pc, &self.ops[pc], &state);
                match self.context.step(&mut state, pc, &self.ops[pc], None) {
                    Next::Continue | Next::Branch(_) | Next::Call(_) => {}
                    Next::Jump(_) | Next::Stop => break,
                }
            }
        }
    }

    /// Runs block `block` from its entry state (if reached), collecting
    /// outgoing edges and, when asked, findings; stops before `stop_at` and
    /// returns the state there if asked to.
    pub(super) fn run_block(
        &self,
        block: usize,
        edges: &mut Edges,
        mut found: Option<&mut Vec<LookupRewrite>>,
        stop_at: Option<usize>,
    ) -> Option<State> {
        let mut state = self.entries[block].clone()?;
        let start = self.starts[block];
        let end = self
            .starts
            .get(block + 1)
            .copied()
            .unwrap_or(self.ops.len());
        for pc in start..end {
            if stop_at == Some(pc) {
                return Some(state);
            }
            match self
                .context
                .step(&mut state, pc, &self.ops[pc], found.as_deref_mut())
            {
                Next::Continue => {}
                Next::Jump(target) => {
                    edges.push((target, state));
                    return None;
                }
                Next::Branch(target) => edges.push((target, state.clone())),
                Next::Call(target) => edges.push((target, State::entry())),
                Next::Stop => return None,
            }
        }
        if end < self.ops.len() {
            edges.push((end, state));
        }
        None
    }
}
