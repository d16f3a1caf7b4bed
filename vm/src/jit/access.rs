//! Memory in compiled code: checked loads and stores against the regions
//! inline, stack and direct accesses at their proven addresses, atomics,
//! and the inline lookup of a run-time key.
//!
//! What may change during a run, and how the code follows it:
//!
//! - The packet's region (slot 0) moves when a helper moves the packet
//!   (`exec::packet::MOVES_PACKET`). The call trampoline copies it into
//!   `Env::run` after every helper call, and in a program that may call such
//!   a helper (`codegen::packet_may_move`) the general check's descriptor
//!   loads are not read-only, so Cranelift neither hoists them nor reuses
//!   one across a call (`codegen::general_table_flags`); so does the
//!   predicted-region compare (`jit::predicted`), which takes the packet's
//!   bounds from the same table with the same flags. The stack's and the
//!   maps' regions, the only ones with bounds compiled in, never move.
//! - The bytes of `struct xdp_md` change with the packet; they are program
//!   memory, read with atomic loads like any other, never cached.
//! - `struct __sk_buff` is no memory (its slot is unmapped): in a program
//!   with one, a plain load or store that no region holds leaves its cold
//!   path for the interpreter's miss path through the call trampoline
//!   (`Miss::To`, [`Gen::context_access`]), which reads or writes the
//!   field, or ends the run with the interpreter's error (the field
//!   refused, or out of bounds). Atomics and lookup keys fault there, as
//!   in the interpreter.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I16, I32, I64};
use cranelift_codegen::ir::{AtomicRmwOp, Block, BlockArg, InstBuilder, Type, Value};

use crate::exec::memory::FIRST_MAP_SLOT;
use crate::ir::facts::{AccessKind, Memory, Stored};
use crate::ir::op::{AtomicOp, Op};
use crate::jit::codegen::{Gen, checked_flags, general_table_flags, trusted};
use crate::jit::env::{self, layout};

/// The integer type of `width` bytes.
fn int(width: u64) -> Type {
    match width {
        1 => I8,
        2 => I16,
        4 => I32,
        _ => I64,
    }
}

/// Where a checked access goes when no region holds it.
#[derive(Clone, Copy)]
enum Miss {
    /// It faults: a cold block records this `FAULT_*` kind and returns.
    Fault(u64),
    /// To this block: a plain load or store in a program with an emulated
    /// `__sk_buff`, which the interpreter's miss path runs
    /// ([`Gen::context_access`]).
    To(Block),
}

impl Gen<'_, '_> {
    /// The host address of a checked access of `size` bytes at `addr`,
    /// found as `AddressSpace::resolve` finds it (slot, both ends,
    /// writability); elsewhere `miss`.
    fn checked(&mut self, index: usize, addr: Value, size: u64, write: bool, miss: Miss) -> Value {
        let fast = self
            .predicted_region(index, write)
            .and_then(|region| self.fast_check(region, addr, size, write, false));
        let Some((ok, fast_host)) = fast else {
            return self.checked_any(index, addr, size, write, miss);
        };
        // Inside the predicted region: its host address. Anywhere else the
        // general check finds the same host address, or the same fault.
        let join = self.b.create_block();
        let host = self.b.append_block_param(join, I64);
        let slow = self.b.create_block();
        self.b.set_cold_block(slow);
        self.b
            .ins()
            .brif(ok, join, &[BlockArg::Value(fast_host)], slow, &[]);
        self.b.switch_to_block(slow);
        let found = self.checked_any(index, addr, size, write, miss);
        self.b.ins().jump(join, &[BlockArg::Value(found)]);
        self.b.switch_to_block(join);
        host
    }

    /// [`Self::checked`] for any slot.
    fn checked_any(
        &mut self,
        index: usize,
        addr: Value,
        size: u64,
        write: bool,
        miss: Miss,
    ) -> Value {
        // Written so that Cranelift folds it when `addr` is a constant (the
        // context pointer, r10 and what is derived from them: see
        // `codegen::entry_registers`): the slot, which table, and whether
        // it is in the table then fold away, and the descriptor's loads
        // (pure unless the packet may move: see `general_table_flags`) are
        // shared by every access to that slot and hoisted out of loops.
        let ins = &mut self.b;
        let slot = ins.ins().ushr_imm_s(addr, 32);
        // The run's regions (slots below FIRST_MAP_SLOT) are always in the
        // table, the maps' up to `slots`.
        let is_run = ins
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, slot, FIRST_MAP_SLOT as i64);
        let in_maps = ins.ins().icmp(IntCC::UnsignedLessThan, slot, self.slots);
        let in_table = ins.ins().select(is_run, is_run, in_maps);
        // Out of the table: read slot 0's descriptor instead (always
        // there), and fail below.
        let zero = ins.ins().iconst(I64, 0);
        let slot = ins.ins().select(in_table, slot, zero);
        // Which table from the slot actually read: an out-of-table slot
        // reads the run table's slot 0, never below the maps' table.
        let is_run = ins
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, slot, FIRST_MAP_SLOT as i64);
        let table = ins.ins().select(is_run, self.run_table, self.maps_by_slot);
        let at = ins.ins().imul_imm_s(slot, layout::REGION_SIZE);
        let desc = ins.ins().iadd(table, at);
        self.check_in(index, desc, addr, size, write, miss, in_table)
    }

    /// The check against the region described at `desc` (`in_table`: whether
    /// the slot has a descriptor) and the host address; elsewhere `miss`.
    #[allow(clippy::too_many_arguments)]
    fn check_in(
        &mut self,
        index: usize,
        desc: Value,
        addr: Value,
        size: u64,
        write: bool,
        miss: Miss,
        in_table: Value,
    ) -> Value {
        let table_flags = general_table_flags(self.packet_moves);
        let ins = &mut self.b;
        let start = ins.ins().load(I64, table_flags, desc, layout::REGION_START);
        let len = ins.ins().load(I64, table_flags, desc, layout::REGION_LEN);
        let host = ins.ins().load(I64, table_flags, desc, layout::REGION_HOST);
        let offset = ins.ins().isub(addr, start);
        let offset = ins.ins().band_imm_s(offset, 0xffff_ffff);
        let end = ins.ins().iadd_imm_s(offset, size as i64);
        let fits = ins.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, len);
        let no = ins.ins().iconst(I8, 0);
        let mut ok = ins.ins().select(in_table, fits, no);
        if write {
            let writable = ins
                .ins()
                .uload8(I32, table_flags, desc, layout::REGION_WRITABLE);
            let writable = ins.ins().icmp_imm_s(IntCC::NotEqual, writable, 0);
            ok = ins.ins().band(ok, writable);
        }
        match miss {
            Miss::Fault(kind) => self.guard(ok, kind, index, addr, size),
            Miss::To(block) => {
                let cont = self.b.create_block();
                self.b.ins().brif(ok, cont, &[], block, &[]);
                self.b.switch_to_block(cont);
            }
        }
        self.b.ins().iadd(host, offset)
    }

    /// A load from program memory shared with other threads and user space:
    /// an atomic load (a plain move on x86-64) that Cranelift never merges
    /// with another load, extended to 64 bits.
    fn shared_load(&mut self, host: Value, width: u64, sign_extend: bool) -> Value {
        let ty = int(width);
        let v = self.b.ins().atomic_load(ty, checked_flags(), host);
        if ty == I64 {
            v
        } else if sign_extend {
            self.b.ins().sextend(I64, v)
        } else {
            self.b.ins().uextend(I64, v)
        }
    }

    /// Stores the low `width` bytes of `value` at `host + offset`.
    fn store(&mut self, host: Value, offset: i32, width: u64, value: Value) {
        let ins = self.b.ins();
        match width {
            1 => ins.istore8(checked_flags(), value, host, offset),
            2 => ins.istore16(checked_flags(), value, host, offset),
            4 => ins.istore32(checked_flags(), value, host, offset),
            _ => ins.store(checked_flags(), value, host, offset),
        };
    }

    /// A load or store, from the op table's description of it.
    pub(super) fn access(&mut self, index: usize, op: Op) -> Result<(), String> {
        let facts = op.facts();
        let dst = facts.writes.single();
        match facts.memory {
            Memory::Checked {
                base,
                off,
                width,
                kind,
            } => {
                let width = u64::from(width);
                if let Some(host) = self.element_host(index, off) {
                    return self.host_access(host, width, kind, dst);
                }
                let base = self.r(base);
                let addr = self.b.ins().iadd_imm_s(base, i64::from(off));
                let write = kind.writes();
                let fault = if write {
                    env::FAULT_WRITE
                } else {
                    env::FAULT_READ
                };
                // In an `__sk_buff` program, a plain access no region
                // holds may be a context field, and in a program with
                // callbacks a callback's key: the interpreter's path
                // decides, through the call trampoline.
                let context = self.misses_to_interpreter() && kind != AccessKind::Atomic;
                if !context {
                    let host = self.checked(index, addr, width, write, Miss::Fault(fault));
                    return self.host_access(host, width, kind, dst);
                }
                let miss = self.b.create_block();
                self.b.set_cold_block(miss);
                let join = self.b.create_block();
                let host = self.checked(index, addr, width, write, Miss::To(miss));
                self.host_access(host, width, kind, dst)?;
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(miss);
                self.context_access(index, addr, kind, dst)?;
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(join);
                Ok(())
            }
            Memory::Stack { off, width, kind } => {
                let frame = self.b.use_var(self.frame);
                let width = u64::from(width);
                match kind {
                    AccessKind::Load { sign_extend } => {
                        let flags = checked_flags();
                        let off = i32::from(off);
                        let ins = self.b.ins();
                        let v = match (width, sign_extend) {
                            (1, false) => ins.uload8(I64, flags, frame, off),
                            (2, false) => ins.uload16(I64, flags, frame, off),
                            (4, false) => ins.uload32(flags, frame, off),
                            (1, true) => ins.sload8(I64, flags, frame, off),
                            (2, true) => ins.sload16(I64, flags, frame, off),
                            (4, true) => ins.sload32(flags, frame, off),
                            _ => ins.load(I64, flags, frame, off),
                        };
                        self.set(dst.ok_or("a load without a destination")?, v);
                    }
                    AccessKind::Store(stored) => {
                        let value = self.stored(stored);
                        self.store(frame, i32::from(off), width, value);
                    }
                    AccessKind::Atomic => return Err("a stack atomic op".to_owned()),
                }
                Ok(())
            }
            Memory::Direct {
                region,
                offset,
                width,
                kind,
            } => {
                let base = self
                    .direct
                    .get(usize::from(region))
                    .copied()
                    .flatten()
                    .ok_or("a direct access to a map the program does not have")?;
                let host = self.b.ins().iadd_imm_s(base, i64::from(offset));
                self.host_access(host, u64::from(width), kind, dst)
            }
            // The verifier proved the address inside a map the program holds
            // for as long as this code exists (see `crate::ir::op::HostAddr`).
            Memory::Fixed { host, width, kind } => {
                // The same address as the map's base (read from the run's
                // table, which shows a shared map's one area) plus the
                // offset, in a register across the loop.
                let base = self.program.proven_place(&op).and_then(|(region, offset)| {
                    let base = self.direct.get(region).copied().flatten()?;
                    Some((base, i32::try_from(offset).ok()?))
                });
                let host = match base {
                    Some((base, offset)) => self.b.ins().iadd_imm_s(base, i64::from(offset)),
                    None => self.b.ins().iconst(I64, host.addr() as i64),
                };
                self.host_access(host, u64::from(width), kind, dst)
            }
            Memory::None | Memory::LookupKey | Memory::Helper | Memory::Call => {
                Err(format!("{op} is not a load or store"))
            }
        }
    }

    /// A load or store at a host address already checked or proven.
    fn host_access(
        &mut self,
        host: Value,
        width: u64,
        kind: AccessKind,
        dst: Option<u8>,
    ) -> Result<(), String> {
        match kind {
            AccessKind::Load { sign_extend } => {
                let v = self.shared_load(host, width, sign_extend);
                self.set(dst.ok_or("a load without a destination")?, v);
            }
            AccessKind::Store(stored) => {
                let value = self.stored(stored);
                self.store(host, 0, width, value);
            }
            AccessKind::Atomic => return Err("an atomic access in a plain op".to_owned()),
        }
        Ok(())
    }

    /// Whether a plain access the compiled checks refuse goes to the
    /// interpreter's path ([`Self::context_access`]) instead of faulting:
    /// in a program with an emulated `__sk_buff` (its fields) or with
    /// callbacks (a map walk's keys, in a slot the checks leave out).
    fn misses_to_interpreter(&self) -> bool {
        self.program.kind().has_skb() || self.program.has_callbacks()
    }

    /// A plain load or store of op `index` at `addr` that no region holds,
    /// in a program where [`Self::misses_to_interpreter`]: the call
    /// trampoline does what the interpreter does ([`env::CALL_CONTEXT`]):
    /// the address space, then the miss path, which reads or writes a
    /// context field or ends the run with the interpreter's error (a
    /// refused field, or out of bounds).
    fn context_access(
        &mut self,
        index: usize,
        addr: Value,
        kind: AccessKind,
        dst: Option<u8>,
    ) -> Result<(), String> {
        if let AccessKind::Store(Stored::Reg(src)) = kind {
            let value = self.r(src);
            self.b
                .ins()
                .store(trusted(), value, self.env, layout::reg(src));
        }
        let op = self.b.ins().iconst(I64, index as i64);
        let status = self.call_trampoline(self.call_fn, op, env::CALL_CONTEXT, addr);
        let cont = self.b.create_block();
        let failed = self.b.create_block();
        self.b.set_cold_block(failed);
        self.b.ins().brif(status, failed, &[], cont, &[]);
        self.b.switch_to_block(failed);
        self.b.ins().return_(&[status]);
        self.b.switch_to_block(cont);
        if let AccessKind::Load { .. } = kind {
            let dst = dst.ok_or("a load without a destination")?;
            let value = self
                .b
                .ins()
                .load(I64, trusted(), self.env, layout::reg(dst));
            self.set(dst, value);
        }
        Ok(())
    }

    fn stored(&mut self, stored: Stored) -> Value {
        match stored {
            Stored::Reg(r) => self.r(r),
            Stored::Imm(imm) => self.b.ins().iconst(I64, imm as i64),
        }
    }

    /// An eBPF atomic: aligned in the VM, checked writable, then a host
    /// atomic, or the Rust fallback where the host address is not aligned
    /// (only the caller's input buffer can be). An atomic on its predicted
    /// region checks bounds and both alignments in one compare
    /// ([`Self::fast_check`]); anything else takes the general path, which
    /// faults as the interpreter does (misalignment first).
    pub(super) fn atomic(
        &mut self,
        index: usize,
        rmw: AtomicOp,
        wide: bool,
        dst: u8,
        src: u8,
        off: i16,
    ) {
        let size: u64 = if wide { 8 } else { 4 };
        let base = self.r(dst);
        let addr = self.b.ins().iadd_imm_s(base, i64::from(off));
        let (operand, expected) = (self.r(src), self.r(0));
        let fast = self.b.create_block();
        let host = self.b.append_block_param(fast, I64);
        let slow = self.b.create_block();
        let slow_host = self.b.append_block_param(slow, I64);
        let join = self.b.create_block();
        self.b.append_block_param(join, I64);
        self.b.set_cold_block(slow);

        if let Some(proven) = self.element_host(index, off) {
            // Aligned on the host too (`super::elements`): `slow` stays
            // unreachable.
            self.b.ins().jump(fast, &[BlockArg::Value(proven)]);
        } else {
            self.atomic_checks(index, addr, size, fast, slow);
        }

        self.b.switch_to_block(fast);
        let ty = if wide { I64 } else { I32 };
        let (narrow_operand, narrow_expected) = if wide {
            (operand, expected)
        } else {
            (
                self.b.ins().ireduce(I32, operand),
                self.b.ins().ireduce(I32, expected),
            )
        };
        let flags = checked_flags();
        let rmw_op = match rmw {
            AtomicOp::Add { .. } => Some(AtomicRmwOp::Add),
            AtomicOp::Or { .. } => Some(AtomicRmwOp::Or),
            AtomicOp::And { .. } => Some(AtomicRmwOp::And),
            AtomicOp::Xor { .. } => Some(AtomicRmwOp::Xor),
            AtomicOp::Xchg => Some(AtomicRmwOp::Xchg),
            AtomicOp::CmpXchg => None,
        };
        let old = match rmw_op {
            Some(rmw_op) => self
                .b
                .ins()
                .atomic_rmw(ty, flags, rmw_op, host, narrow_operand),
            None => self
                .b
                .ins()
                .atomic_cas(flags, host, narrow_expected, narrow_operand),
        };
        let old = if wide {
            old
        } else {
            self.b.ins().uextend(I64, old)
        };
        self.b.ins().jump(join, &[BlockArg::Value(old)]);

        self.b.switch_to_block(slow);
        let op = self.b.ins().iconst(I64, index as i64);
        let call = self.b.ins().call_indirect(
            self.atomic_sig,
            self.atomic_fn,
            &[self.env, op, slow_host, operand, expected],
        );
        let old = self.b.inst_results(call)[0];
        self.b.ins().jump(join, &[BlockArg::Value(old)]);

        self.b.switch_to_block(join);
        let old = self.b.block_params(join)[0];
        match rmw {
            AtomicOp::CmpXchg => self.set(0, old),
            AtomicOp::Xchg
            | AtomicOp::Add { fetch: true }
            | AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => self.set(src, old),
            AtomicOp::Add { fetch: false }
            | AtomicOp::Or { fetch: false }
            | AtomicOp::And { fetch: false }
            | AtomicOp::Xor { fetch: false } => {}
        }
    }

    /// An atomic's checks at `addr`: on to `fast` with the host address
    /// where it is in a writable region and aligned both in the VM and on
    /// the host, to `slow` where only the host alignment is missing; a
    /// fault elsewhere.
    fn atomic_checks(&mut self, index: usize, addr: Value, size: u64, fast: Block, slow: Block) {
        let predicted = self
            .predicted_region(index, true)
            .and_then(|region| self.fast_check(region, addr, size, true, true));
        if let Some((ok, fast_host)) = predicted {
            let general = self.b.create_block();
            self.b.set_cold_block(general);
            self.b
                .ins()
                .brif(ok, fast, &[BlockArg::Value(fast_host)], general, &[]);
            self.b.switch_to_block(general);
        }
        let low = self.b.ins().band_imm_s(addr, (size - 1) as i64);
        let aligned = self.b.ins().icmp_imm_s(IntCC::Equal, low, 0);
        self.guard(aligned, env::FAULT_MISALIGNED, index, addr, size);
        let miss = Miss::Fault(env::FAULT_WRITE);
        let found = if predicted.is_some() {
            self.checked_any(index, addr, size, true, miss)
        } else {
            self.checked(index, addr, size, true, miss)
        };
        let host_low = self.b.ins().band_imm_s(found, (size - 1) as i64);
        let host_aligned = self.b.ins().icmp_imm_s(IntCC::Equal, host_low, 0);
        self.b.ins().brif(
            host_aligned,
            fast,
            &[BlockArg::Value(found)],
            slow,
            &[BlockArg::Value(found)],
        );
    }

    /// A rewritten run-time-key lookup into array map `map`: the 4-byte key
    /// at r2 (checked: a bad pointer is the lookup helper's fault), then
    /// the element's address or 0.
    pub(super) fn lookup_inline(&mut self, index: usize, map: u16) -> Result<(), String> {
        let shape = *self
            .program
            .shapes()
            .get(usize::from(map))
            .ok_or("an inline lookup of a map the program does not have")?;
        let key_addr = self.r(2);
        let key = if self.misses_to_interpreter() {
            // The key may be a callback's, which the compiled checks leave
            // out: a miss reads it where the interpreter does (into r0).
            let miss = self.b.create_block();
            self.b.set_cold_block(miss);
            let join = self.b.create_block();
            let key = self.b.append_block_param(join, I64);
            let host = self.checked(index, key_addr, 4, false, Miss::To(miss));
            let found = self.shared_load(host, 4, false);
            self.b.ins().jump(join, &[BlockArg::Value(found)]);
            self.b.switch_to_block(miss);
            self.context_access(
                index,
                key_addr,
                AccessKind::Load { sign_extend: false },
                Some(0),
            )?;
            let read = self.r(0);
            self.b.ins().jump(join, &[BlockArg::Value(read)]);
            self.b.switch_to_block(join);
            key
        } else {
            let host = self.checked(index, key_addr, 4, false, Miss::Fault(env::FAULT_KEY));
            self.shared_load(host, 4, false)
        };
        let ins = &mut self.b;
        let inside = ins
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, key, shape.max_entries as i64);
        let offset = ins.ins().imul_imm_s(key, shape.elem_size as i64);
        let start = crate::exec::memory::map_value_start(usize::from(map));
        let element = ins.ins().iadd_imm_s(offset, start as i64);
        let zero = ins.ins().iconst(I64, 0);
        let r0 = ins.ins().select(inside, element, zero);
        self.set(0, r0);
        if let Some(slot) = self.element_offsets.get_mut(index) {
            *slot = Some(offset);
        }
        Ok(())
    }

    /// The host address of op `index`'s access at `off` when it lies in an
    /// element an inline lookup found (see `super::elements`): the map's
    /// host start plus the element's offset plus `off`.
    fn element_host(&mut self, index: usize, off: i16) -> Option<Value> {
        let element = self.elements.get(index).copied().flatten()?;
        let offset = self
            .element_offsets
            .get(element.lookup)
            .copied()
            .flatten()?;
        let base = self
            .direct
            .get(usize::from(element.map))
            .copied()
            .flatten()?;
        let host = self.b.ins().iadd(base, offset);
        Some(self.b.ins().iadd_imm_s(host, i64::from(off)))
    }
}
