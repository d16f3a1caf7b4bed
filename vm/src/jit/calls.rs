//! Calls and returns in compiled code: helper calls through the call
//! trampoline, local calls and `exit` with the interpreter's frames in the
//! environment, the return dispatch, and callbacks (`bpf_loop`), which a
//! helper call enters in frames of their own.
//!
//! A callback frame is a local call's frame whose site is the entering
//! helper call's with [`env::CALLBACK_FRAME`] set: outside the return
//! dispatch's table, so its `exit` goes to the callback exit, which asks
//! the trampoline (`Callbacks::returned`, as the interpreter does) for the
//! next callback or the helper call's end; and a handover passes it on as
//! the interpreter's `CALLBACK_RETURN` frame (`jit::run`).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{Block, InstBuilder, JumpTableData, Value};

use crate::exec::memory::{FRAME_SIZE, MAX_FRAMES};
use crate::jit::codegen::{Gen, trusted};
use crate::jit::env::{self, layout};

impl Gen<'_, '_> {
    /// Calls the call trampoline `call_fn` ([`env::CallFn`]) for op `op`
    /// with `kind` (a `CALL_*`) and `value`; returns its status.
    pub(super) fn call_trampoline(
        &mut self,
        call_fn: Value,
        op: Value,
        kind: u64,
        value: Value,
    ) -> Value {
        let kind = self.b.ins().iconst(I64, kind as i64);
        let call = self
            .b
            .ins()
            .call_indirect(self.call_sig, call_fn, &[self.env, op, kind, value]);
        self.b.inst_results(call)[0]
    }

    /// A helper call, `callx` or lookup through the call trampoline: r1..r5
    /// and the count out, r0 and the count (with the helper's units) back.
    /// In a program with callbacks, a helper call (or `callx`) may enter
    /// one instead ([`env::ENTER_CALLBACK`]): with the depth out too, this
    /// call becomes a return site and the code pushes a callback frame.
    pub(super) fn call_out(&mut self, index: usize, kind: u64, value: Value) -> Result<(), String> {
        for r in 1..=5u8 {
            let arg = self.r(r);
            self.b.ins().store(trusted(), arg, self.env, layout::reg(r));
        }
        let count = self.count();
        self.b
            .ins()
            .store(trusted(), count, self.env, layout::COUNT);
        let may_enter = self.has_callbacks && kind != env::CALL_LOOKUP;
        if may_enter {
            let depth = self.b.use_var(self.depth);
            self.b
                .ins()
                .store(trusted(), depth, self.env, layout::DEPTH);
        }
        let op = self.b.ins().iconst(I64, index as i64);
        let status = self.call_trampoline(self.call_fn, op, kind, value);
        let cont = self.b.create_block();
        let failed = self.b.create_block();
        self.b.set_cold_block(failed);
        self.b.ins().brif(status, failed, &[], cont, &[]);
        self.b.switch_to_block(failed);
        if may_enter {
            let site = self.return_site(index + 1)?;
            let enter = self.b.create_block();
            let stop = self.b.create_block();
            self.b.set_cold_block(stop);
            let entering =
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::Equal, status, env::ENTER_CALLBACK as i64);
            self.b.ins().brif(entering, enter, &[], stop, &[]);
            self.b.switch_to_block(stop);
            self.b.ins().return_(&[status]);
            self.b.switch_to_block(enter);
            let site = self
                .b
                .ins()
                .iconst(I64, (site | env::CALLBACK_FRAME) as i64);
            self.b.def_var(self.site, site);
            let block = self.callback_enter_block();
            self.b.ins().jump(block, &[]);
        } else {
            self.b.ins().return_(&[status]);
        }
        self.b.switch_to_block(cont);
        let r0 = self.b.ins().load(I64, trusted(), self.env, layout::reg(0));
        self.set(0, r0);
        let count = self.b.ins().load(I64, trusted(), self.env, layout::COUNT);
        self.set_count(count);
        Ok(())
    }

    /// A new return site: the call's return op `returns_to`, whose block
    /// the return dispatch jumps to.
    fn return_site(&mut self, returns_to: usize) -> Result<u64, String> {
        let block = self.block(returns_to)?;
        let site = self.return_ops.len() as u64;
        self.return_ops.push(returns_to);
        self.return_blocks.push(block);
        Ok(site)
    }

    /// The block that enters a callback, created on first use.
    fn callback_enter_block(&mut self) -> Block {
        *self
            .callback_enter
            .get_or_insert_with(|| self.b.create_block())
    }

    /// Fills the callback blocks, once every call site is known.
    ///
    /// Entering (`callback_enter`; the trampoline has checked the depth and
    /// the budget, and charged): a frame as a local call's, whose site is
    /// `site` (the helper call's, with [`env::CALLBACK_FRAME`]); r1..r5 and
    /// the count from the environment; then a jump table over the callback
    /// entries, by the index the trampoline left in `Env::pc`.
    ///
    /// A callback's `exit` (`callback_exit`, after popping the frame): r0,
    /// the count and the depth out, and the trampoline asks
    /// `Callbacks::returned`: the next callback (as above, same site), or
    /// the helper call's end: r0 and r1..r5 back, and on at the call's
    /// return site through the return dispatch.
    pub(super) fn callback_blocks(&mut self) -> Result<(), String> {
        if let Some(exit) = self.callback_exit {
            self.b.switch_to_block(exit);
            let r0 = self.r(0);
            self.b.ins().store(trusted(), r0, self.env, layout::reg(0));
            let count = self.count();
            self.b
                .ins()
                .store(trusted(), count, self.env, layout::COUNT);
            let depth = self.b.use_var(self.depth);
            self.b
                .ins()
                .store(trusted(), depth, self.env, layout::DEPTH);
            let op = self.b.use_var(self.exit_op);
            let zero = self.b.ins().iconst(I64, 0);
            let call_fn = self.b.ins().load(I64, trusted(), self.env, layout::CALL);
            let status = self.call_trampoline(call_fn, op, env::CALL_RETURNED, zero);
            let again = self.b.create_block();
            let not_again = self.b.create_block();
            let done = self.b.create_block();
            let stop = self.b.create_block();
            self.b.set_cold_block(stop);
            let entering =
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::Equal, status, env::ENTER_CALLBACK as i64);
            self.b.ins().brif(entering, again, &[], not_again, &[]);
            self.b.switch_to_block(not_again);
            let finished = self
                .b
                .ins()
                .icmp_imm_s(IntCC::Equal, status, env::CALLBACK_DONE as i64);
            self.b.ins().brif(finished, done, &[], stop, &[]);
            self.b.switch_to_block(stop);
            self.b.ins().return_(&[status]);
            // The next callback, from the same helper call (same site).
            self.b.switch_to_block(again);
            let enter = self.callback_enter_block();
            self.b.ins().jump(enter, &[]);
            // The helper call is over: its site without the marker.
            self.b.switch_to_block(done);
            for r in 0..=5u8 {
                let value = self.b.ins().load(I64, trusted(), self.env, layout::reg(r));
                self.set(r, value);
            }
            let count = self.b.ins().load(I64, trusted(), self.env, layout::COUNT);
            self.set_count(count);
            let site = self.b.use_var(self.site);
            let site = self
                .b
                .ins()
                .band_imm_s(site, (env::CALLBACK_FRAME - 1) as i64);
            self.b.def_var(self.site, site);
            let dispatch = self.return_dispatch_block();
            self.b.ins().jump(dispatch, &[]);
        }
        let Some(enter) = self.callback_enter else {
            return Ok(());
        };
        self.b.switch_to_block(enter);
        let depth = self.b.use_var(self.depth);
        let site = self.b.use_var(self.site);
        self.push_frame(depth, site);
        for r in 1..=5u8 {
            let value = self.b.ins().load(I64, trusted(), self.env, layout::reg(r));
            self.set(r, value);
        }
        let count = self.b.ins().load(I64, trusted(), self.env, layout::COUNT);
        self.set_count(count);
        let entries = self.program.callback_entries();
        let mut calls = Vec::with_capacity(entries.len());
        for &entry in entries {
            let block = self.block(entry)?;
            calls.push(self.b.func.dfg.block_call(block, &[]));
        }
        let Some(&first) = entries.first() else {
            return Err("a callback frame in a program without callbacks".to_owned());
        };
        let position = self.b.ins().load(I64, trusted(), self.env, layout::PC);
        let position = self.b.ins().ireduce(I32, position);
        // Its own block call, as each entry's (see `dispatch_returns`); the
        // trampoline gives an index in the table.
        let first = self.block(first)?;
        let default = self.b.func.dfg.block_call(first, &[]);
        let table = JumpTableData::new(default, &calls);
        let table = self.b.create_jump_table(table);
        self.b.ins().br_table(position, table);
        Ok(())
    }

    /// A local call from op `index` to `target`.
    pub(super) fn call_local(&mut self, index: usize, target: u32) -> Result<(), String> {
        let callee = self.block(target as usize)?;
        let returns_to = self.block(index + 1)?;
        let depth = self.b.use_var(self.depth);
        let fits = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, depth, (MAX_FRAMES - 1) as i64);
        self.guard(fits, env::FAULT_DEPTH, index, depth, 0);
        let site = self.return_ops.len();
        self.return_ops.push(index + 1);
        self.return_blocks.push(returns_to);
        let site = self.b.ins().iconst(I64, site as i64);
        self.push_frame(depth, site);
        self.b.ins().jump(callee, &[]);
        Ok(())
    }

    /// One frame deeper from `depth`: the caller's frame (return `site`,
    /// r6-r9) written in full to the environment, then r10 and the frame's
    /// host address moved (a local call's, or a callback's entry).
    fn push_frame(&mut self, depth: Value, site: Value) {
        let saved_at = self.frame_address(depth);
        self.b
            .ins()
            .store(trusted(), site, saved_at, layout::FRAME_SITE);
        for (i, r) in (6..=9u8).enumerate() {
            let value = self.r(r);
            self.b
                .ins()
                .store(trusted(), value, saved_at, layout::frame_saved(i));
        }
        self.move_frame(depth, 1);
    }

    /// `exit` (op `index`): out of the program at depth 0, else back to the
    /// caller (a callback's caller: see [`Self::callback_blocks`]).
    pub(super) fn exit(&mut self, index: usize) {
        if !self.has_calls {
            self.leave();
            return;
        }
        let depth = self.b.use_var(self.depth);
        let out = self.b.create_block();
        let back = self.b.create_block();
        self.b.ins().brif(depth, back, &[], out, &[]);
        self.b.switch_to_block(out);
        self.leave();
        self.b.switch_to_block(back);
        let caller = self.b.ins().iadd_imm_s(depth, -1);
        let saved_at = self.frame_address(caller);
        for (i, r) in (6..=9u8).enumerate() {
            let value = self
                .b
                .ins()
                .load(I64, trusted(), saved_at, layout::frame_saved(i));
            self.set(r, value);
        }
        let site = self
            .b
            .ins()
            .load(I64, trusted(), saved_at, layout::FRAME_SITE);
        self.move_frame(depth, -1);
        self.b.def_var(self.site, site);
        if self.has_callbacks {
            let op = self.b.ins().iconst(I64, index as i64);
            self.b.def_var(self.exit_op, op);
        }
        let dispatch = self.return_dispatch_block();
        self.b.ins().jump(dispatch, &[]);
    }

    /// The return dispatch block, created on first use.
    fn return_dispatch_block(&mut self) -> Block {
        *self
            .return_dispatch
            .get_or_insert_with(|| self.b.create_block())
    }

    /// Fills the return dispatch block, once every call site is known: a
    /// jump table over the sites (which only the calls write); its default
    /// is taken only by a callback frame's site ([`env::CALLBACK_FRAME`]),
    /// to the callback exit.
    pub(super) fn dispatch_returns(&mut self) {
        let Some(dispatch) = self.return_dispatch else {
            return;
        };
        self.b.switch_to_block(dispatch);
        let Some(&first) = self.return_blocks.first() else {
            // No call site: no callee runs, so no exit gets here.
            self.leave();
            return;
        };
        let site = self.b.use_var(self.site);
        let site = self.b.ins().ireduce(I32, site);
        let calls: Vec<_> = self
            .return_blocks
            .iter()
            .map(|&block| self.b.func.dfg.block_call(block, &[]))
            .collect();
        // Each entry its own block call: the frontend appends the
        // variables' values to each one.
        let default = self.callback_exit.unwrap_or(first);
        let default = self.b.func.dfg.block_call(default, &[]);
        let table = JumpTableData::new(default, &calls);
        let table = self.b.create_jump_table(table);
        self.b.ins().br_table(site, table);
    }

    /// Leaves the program: r0 and the count to the environment.
    fn leave(&mut self) {
        let r0 = self.r(0);
        self.b.ins().store(trusted(), r0, self.env, layout::reg(0));
        let count = self.count();
        self.b
            .ins()
            .store(trusted(), count, self.env, layout::COUNT);
        let status = self.b.ins().iconst(I64, env::DONE as i64);
        self.b.ins().return_(&[status]);
    }

    /// Where frame `depth`'s caller state is kept in the environment.
    fn frame_address(&mut self, depth: Value) -> Value {
        let offset = self.b.ins().imul_imm_s(depth, layout::FRAME_SIZE);
        let base = self.b.ins().iadd(self.env, offset);
        self.b.ins().iadd_imm_s(base, i64::from(layout::FRAMES))
    }

    /// One frame deeper (`step` 1) or back (`step` -1) from `depth`: r10
    /// and the frame's host address move by a frame.
    fn move_frame(&mut self, depth: Value, step: i64) {
        let depth = self.b.ins().iadd_imm_s(depth, step);
        self.b.def_var(self.depth, depth);
        let bytes = -step * FRAME_SIZE as i64;
        let r10 = self.r(10);
        let r10 = self.b.ins().iadd_imm_s(r10, bytes);
        self.set(10, r10);
        let frame = self.b.use_var(self.frame);
        let frame = self.b.ins().iadd_imm_s(frame, bytes);
        self.b.def_var(self.frame, frame);
    }
}
