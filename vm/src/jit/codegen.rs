//! From a loaded program's final ops to one Cranelift function: the blocks,
//! the budget at each block's entry, local calls and returns, helper calls,
//! fault and handover exits. The ops themselves are lowered in
//! [`super::lower`], calls, returns and callbacks in [`super::calls`].
//!
//! One function holds the whole program (every eBPF function): a local
//! call stores the return site and r6..r9 in the environment's frame array
//! and jumps to the callee; `exit` in a callee restores them and returns
//! through a jump table over the call sites. The frames are therefore the
//! interpreter's, and a handover can pass them on.

use std::sync::OnceLock;

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{
    AbiParam, Block, Function, InstBuilder, MemFlagsData, SigRef, Signature, UserFuncName, Value,
};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{CompiledCode, Context};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use crate::ProgramKind;
use crate::exec::memory::{CONTEXT_START, INPUT_START, frame_pointer};
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::Flow;
use crate::ir::op::Op;
use crate::jit::budget::budget_checks;
use crate::jit::elements::{InElement, proven_elements};
use crate::jit::env::{self, layout};
use crate::jit::memory::Code;
use crate::jit::predicted::predicted_slots;
use crate::passes::const_addr::{Consts, solve};
use crate::passes::liveness::live_registers;
use crate::program::LoadedProgram;

/// The host's code generator, set up once per process.
fn isa() -> Result<&'static OwnedTargetIsa, String> {
    static ISA: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        for (name, value) in [
            ("opt_level", "speed"),
            // Cranelift's IR verifier in debug and fuzz builds.
            ("enable_verifier", verify),
            // Large frames probe the stack inline (no libcall, no relocation).
            ("enable_probestack", "true"),
            ("probestack_strategy", "inline"),
            ("preserve_frame_pointers", "true"),
            ("unwind_info", "false"),
        ] {
            flags
                .set(name, value)
                .map_err(|e| format!("Cranelift setting {name}: {e}"))?;
        }
        cranelift_native::builder()
            .map_err(|e| format!("no Cranelift backend for this host: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("Cranelift setup: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Compiles `program` into executable code.
pub(crate) fn compile(program: &LoadedProgram) -> Result<Code, String> {
    let isa = isa()?;
    let (function, return_ops) = build(program, isa)?;
    let mut context = Context::for_function(function);
    let compiled = compile_function(&mut context, isa)?;
    Code::new(compiled.code_buffer(), return_ops)
}

/// The optimised Cranelift IR of `program`, then its machine code's size
/// and instructions (Cranelift's listing, with block labels).
pub(crate) fn ir_text(program: &LoadedProgram) -> Result<String, String> {
    let isa = isa()?;
    let (function, _) = build(program, isa)?;
    let mut context = Context::for_function(function);
    context.set_disasm(true);
    let compiled = compile_function(&mut context, isa)?;
    let bytes = compiled.code_buffer().len();
    let listing = compiled.vcode.clone().unwrap_or_default();
    Ok(format!(
        "; {bytes} bytes of {} machine code\n{}\n; machine code\n{listing}",
        isa.triple().architecture,
        context.func.display()
    ))
}

fn compile_function<'c>(
    context: &'c mut Context,
    isa: &OwnedTargetIsa,
) -> Result<&'c CompiledCode, String> {
    let compiled = context
        .compile(&**isa, &mut ControlPlane::default())
        .map_err(|e| format!("Cranelift: {:?}", e.inner))?;
    if !compiled.buffer.relocs().is_empty() {
        return Err("the code needs relocations".to_owned());
    }
    Ok(compiled)
}

/// Flags of loads from the environment and region tables: valid, aligned.
pub(super) fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags of loads from region descriptors that never change while the
/// code runs (the maps' regions, the stack's and the context's in
/// `Env::run`, and the packet's in a program whose packet cannot move: see
/// [`general_table_flags`]), of the direct accesses' map bases and of the
/// environment's fixed fields (stack top, table pointers, trampolines):
/// trusted and read-only, so Cranelift may share them between accesses,
/// hoist them out of loops, place them next to their uses and drop unused
/// ones.
pub(super) fn region_table_flags() -> MemFlagsData {
    trusted().with_readonly().with_can_move()
}

/// Flags of the general check's descriptor loads, which may read any
/// slot's: [`region_table_flags`], unless the packet may move during a run
/// (`packet_moves`: [`packet_may_move`]). Then the call trampoline rewrites
/// the packet's descriptor after every helper call (`run::call`), so the
/// loads are trusted only: Cranelift neither hoists them nor reuses one
/// across a call (a call may write any memory).
pub(super) fn general_table_flags(packet_moves: bool) -> MemFlagsData {
    if packet_moves {
        trusted()
    } else {
        region_table_flags()
    }
}

/// Whether a helper may move `program`'s packet region during a run: a
/// packet program that calls a built-in helper that moves it
/// ([`MOVES_PACKET`](crate::exec::packet::MOVES_PACKET)) or calls helpers
/// by a register's value (`callx`, which may name one).
pub(crate) fn packet_may_move(program: &LoadedProgram) -> bool {
    program.kind().is_packet()
        && (program
            .helper_table()
            .iter()
            .any(|h| h.builtin && crate::exec::packet::MOVES_PACKET.contains(&h.id))
            || program
                .ops()
                .iter()
                .any(|op| matches!(op, Op::CallReg { .. })))
}

/// Flags of program memory accesses: checked or proven, so they never
/// trap; not necessarily aligned.
pub(super) fn checked_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// The function being built and what every op's lowering needs.
pub(super) struct Gen<'a, 'f> {
    pub b: FunctionBuilder<'f>,
    pub program: &'a LoadedProgram,
    /// r0..r15 (r11..r15 unused, as in the interpreter's register file).
    pub regs: [Variable; 16],
    /// Instructions counted plus helper units (the interpreter's `count`)
    /// up to the last checkpoint or call; the count itself is this plus
    /// `pending` ([`Gen::count`]).
    pub count: Variable,
    /// The weights of the blocks entered since: a constant on every path
    /// (a phi of constants where paths meet), so that the count the loop
    /// carries is one add per checkpoint, not a chain of one add per block.
    pub pending: Variable,
    /// Nested local calls.
    pub depth: Variable,
    /// Host address of the current frame's r10.
    pub frame: Variable,
    /// The environment pointer.
    pub env: Value,
    /// `Env::cap`, read again where the trampoline raises it.
    pub cap: Variable,
    /// `env.run`: the per-run regions, by slot.
    pub run_table: Value,
    pub maps_by_slot: Value,
    pub slots: Value,
    /// Host base of each map region a direct access uses.
    pub direct: Vec<Option<Value>>,
    pub call_fn: Value,
    pub atomic_fn: Value,
    pub call_sig: SigRef,
    pub atomic_sig: SigRef,
    /// For each op, what a clock checkpoint there saves and reloads
    /// ([`checkpoint_registers`]).
    pub saved: Vec<Saved>,
    /// For each op, the map region its checked access most likely hits.
    pub predicted: Vec<Option<u64>>,
    /// For each op, the inline lookup's element its access lies in
    /// ([`proven_elements`]).
    pub elements: Vec<Option<InElement>>,
    /// For each inline lookup op, once lowered: its element's offset in
    /// the map's area (key × element size).
    pub element_offsets: Vec<Option<Value>>,
    /// Whether a helper may move the packet ([`packet_may_move`]).
    pub packet_moves: bool,
    /// The block of each op that starts one.
    pub(super) blocks: Vec<Option<Block>>,
    /// For each local call site, the op and block its callee returns to.
    pub(super) return_ops: Vec<usize>,
    pub(super) return_blocks: Vec<Block>,
    pub(super) has_calls: bool,
    /// The block every callee's `exit` jumps to with its return site in
    /// `site`; its jump table over every call site is built after the last
    /// op (an `exit` may come before some of the sites it returns to).
    pub(super) return_dispatch: Option<Block>,
    pub(super) site: Variable,
    /// Whether the program has callbacks (`LoadedProgram::has_callbacks`).
    pub(super) has_callbacks: bool,
    /// The block that pushes a callback frame (site in `site`) and jumps
    /// to the callback whose index the trampoline left in `Env::pc`.
    pub(super) callback_enter: Option<Block>,
    /// The block a callback's `exit` goes to after popping its frame.
    pub(super) callback_exit: Option<Block>,
    /// The op of the `exit` that popped the last frame (for a callback's
    /// errors).
    pub(super) exit_op: Variable,
}

/// Ops that start a block: the first, jump and call targets, callback
/// entries, and every op after a jump, branch, call or exit (a helper call ends its block, so
/// the units it charged are checked at the next one's entry).
pub(super) fn leaders(ops: &[Op]) -> Vec<bool> {
    let mut starts = vec![false; ops.len() + 1];
    starts[0] = true;
    for (i, op) in ops.iter().enumerate() {
        // A callback's entry, which a helper call enters.
        if let Op::LoadFunc { target, .. } = *op
            && let Some(start) = starts.get_mut(target as usize)
        {
            *start = true;
        }
        let facts = op.facts();
        let ends_block = match facts.flow {
            Flow::Next => matches!(
                op,
                Op::CallHelper { .. } | Op::CallReg { .. } | Op::MapLookup
            ),
            Flow::Branch(target) | Flow::Jump(target) | Flow::Call(target) => {
                if let Some(start) = starts.get_mut(target as usize) {
                    *start = true;
                }
                true
            }
            Flow::Exit => true,
        };
        if ends_block {
            starts[i + 1] = true;
        }
    }
    starts.truncate(ops.len());
    starts
}

/// The registers every run of `program` starts with, as `exec::run`
/// sets them up (`None`: known only at run time, read from the
/// environment): r1 the context (or the input), r10 frame 0's pointer,
/// r2 the input's length for a program over memory, every other one 0.
/// Compiled in as constants, they let Cranelift fold the region checks of
/// accesses through the context and the stack (`Gen::checked`).
/// `jit::run` checks that the run's registers are these.
pub(crate) fn entry_registers(program: &LoadedProgram) -> [Option<u64>; 16] {
    let mut regs = [Some(0); 16];
    if program.kind() == ProgramKind::Memory {
        regs[1] = Some(INPUT_START);
        regs[2] = None;
    } else {
        regs[1] = Some(CONTEXT_START);
    }
    regs[10] = Some(frame_pointer(0));
    regs
}

/// The registers (bit `r`) a clock checkpoint at an op writes to the
/// environment before its call, and those it reads back after it.
#[derive(Clone, Copy)]
pub(super) struct Saved {
    /// Live there (some path may read them; `passes::liveness`): a
    /// handover needs no other, the interpreter never reading a dead one.
    live: u16,
    /// Live and not one constant on every path there
    /// (`passes::const_addr::solve` from the entry registers): reloading a
    /// constant or a dead register would make it a value carried around
    /// the loop, for nothing.
    reload: u16,
}

/// [`Saved`] for each op of `program`.
fn checkpoint_registers(program: &LoadedProgram) -> Vec<Saved> {
    let ops = program.ops();
    let live = live_registers(ops, &ControlFlow::new(ops));
    let mut entry = Consts::NONE;
    for (r, value) in entry_registers(program).iter().enumerate().take(11) {
        entry.set(r as u8, *value);
    }
    solve(ops, entry)
        .iter()
        .enumerate()
        .map(|(i, state)| {
            let live = live
                .as_ref()
                .and_then(|live| live.get(i))
                .map_or(u16::MAX, |regs| regs.bits());
            let constant = state.map_or(0, |consts| {
                (0..=10u8)
                    .filter(|&r| consts.get(r).is_some())
                    .fold(0, |mask, r| mask | 1 << r)
            });
            Saved {
                live,
                reload: live & !constant,
            }
        })
        .collect()
}

fn signature(isa: &OwnedTargetIsa, params: usize) -> Signature {
    let mut sig = Signature::new(isa.default_call_conv());
    sig.params.extend((0..params).map(|_| AbiParam::new(I64)));
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// Builds the function for `program`; also returns the call sites' return ops.
fn build(program: &LoadedProgram, isa: &OwnedTargetIsa) -> Result<(Function, Vec<usize>), String> {
    let mut function = Function::with_name_signature(UserFuncName::default(), signature(isa, 1));
    let mut builder_context = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut function, &mut builder_context);
    let ops = program.ops();
    let starts = leaders(ops);
    let blocks: Vec<Option<Block>> = starts
        .iter()
        .map(|&start| start.then(|| b.create_block()))
        .collect();
    let regs = std::array::from_fn(|_| b.declare_var(I64));
    let count = b.declare_var(I64);
    let pending = b.declare_var(I64);
    let depth = b.declare_var(I64);
    let frame = b.declare_var(I64);
    let site = b.declare_var(I64);
    let cap = b.declare_var(I64);
    let exit_op = b.declare_var(I64);
    let call_sig = b.import_signature(signature(isa, 4));
    let atomic_sig = b.import_signature(signature(isa, 5));

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let env = b.block_params(entry)[0];
    for (r, (&var, known)) in regs.iter().zip(entry_registers(program)).enumerate() {
        let value = match known {
            Some(value) => b.ins().iconst(I64, value as i64),
            None => b.ins().load(I64, trusted(), env, layout::reg(r as u8)),
        };
        b.def_var(var, value);
    }
    // Fields the code never writes and no trampoline changes during a run:
    // loaded as pure values, which Cranelift places next to their uses
    // (or drops when unused) instead of keeping them live from the entry.
    let load_env = |b: &mut FunctionBuilder<'_>, offset: i32| {
        b.ins().load(I64, region_table_flags(), env, offset)
    };
    // A run starts with nothing counted (`Env::new`).
    let first_cap = b.ins().load(I64, trusted(), env, layout::CAP);
    b.def_var(cap, first_cap);
    let zero = b.ins().iconst(I64, 0);
    b.def_var(count, zero);
    b.def_var(pending, zero);
    b.def_var(depth, zero);
    b.def_var(exit_op, zero);
    b.def_var(site, zero);
    let stack_top = load_env(&mut b, layout::STACK_TOP);
    b.def_var(frame, stack_top);
    let run_table = b.ins().iadd_imm_s(env, i64::from(layout::RUN));
    let maps_by_slot = load_env(&mut b, layout::MAPS_BY_SLOT);
    let slots = load_env(&mut b, layout::SLOTS);
    let call_fn = load_env(&mut b, layout::CALL);
    let atomic_fn = load_env(&mut b, layout::ATOMIC);
    // Direct, fixed and element accesses: each map region's host base, loaded once
    // (a fixed access is then one load or store at a constant offset from
    // a base register, not a 64-bit constant materialised each time).
    let maps = load_env(&mut b, layout::MAPS);
    let mut direct = vec![None; program.maps().len()];
    let elements = proven_elements(program, &starts);
    for (op, element) in ops.iter().zip(&elements) {
        let region = element
            .map(|element| usize::from(element.map))
            .or_else(|| program.proven_place(op).map(|(region, _)| region));
        if let Some(region) = region
            && let Some(slot) = direct.get_mut(region)
            && slot.is_none()
        {
            let offset = region as i64 * layout::REGION_SIZE + i64::from(layout::REGION_HOST);
            let offset = i32::try_from(offset).map_err(|_| "region table offset".to_owned())?;
            *slot = Some(b.ins().load(I64, region_table_flags(), maps, offset));
        }
    }
    let first = blocks[0].ok_or("no first block")?;
    b.ins().jump(first, &[]);

    let mut g = Gen {
        b,
        program,
        regs,
        count,
        pending,
        depth,
        frame,
        env,
        cap,
        run_table,
        maps_by_slot,
        slots,
        direct,
        call_fn,
        atomic_fn,
        call_sig,
        atomic_sig,
        predicted: predicted_slots(ops, program.kind()),
        elements,
        element_offsets: vec![None; ops.len()],
        saved: checkpoint_registers(program),
        packet_moves: packet_may_move(program),
        blocks,
        return_ops: Vec::new(),
        return_blocks: Vec::new(),
        has_calls: program.has_callbacks()
            || ops
                .iter()
                .any(|op| matches!(op.facts().flow, Flow::Call(_))),
        return_dispatch: None,
        site,
        has_callbacks: program.has_callbacks(),
        callback_enter: None,
        callback_exit: None,
        exit_op,
    };
    if g.has_callbacks {
        g.callback_exit = Some(g.b.create_block());
    }
    let counts = program.counts();
    let weight = |start: usize, end: usize| counts[end].prefix - counts[start].prefix;
    let checks = budget_checks(ops, &starts, weight);
    let mut open = false;
    for (index, op) in ops.iter().enumerate() {
        if let Some(block) = g.blocks[index] {
            if open {
                g.b.ins().jump(block, &[]);
            }
            g.b.switch_to_block(block);
            let end = (index + 1..ops.len())
                .find(|&i| g.blocks[i].is_some())
                .unwrap_or(ops.len());
            g.enter_block(index, weight(index, end), checks[index]);
        }
        open = g.lower(index, *op)?;
    }
    if open {
        return Err("the last op falls through".to_owned());
    }
    // The callback blocks first: they jump to the return dispatch.
    g.callback_blocks()?;
    g.dispatch_returns();
    let return_ops = std::mem::take(&mut g.return_ops);
    g.b.seal_all_blocks();
    g.b.finalize(isa.frontend_config());
    Ok((function, return_ops))
}

impl Gen<'_, '_> {
    /// Register `r`'s current value.
    pub(super) fn r(&mut self, r: u8) -> Value {
        self.b.use_var(self.regs[usize::from(r) & 15])
    }

    /// Sets register `r`.
    pub(super) fn set(&mut self, r: u8, value: Value) {
        self.b.def_var(self.regs[usize::from(r) & 15], value);
    }

    /// The block op `index` starts.
    pub(super) fn block(&self, index: usize) -> Result<Block, String> {
        self.blocks
            .get(index)
            .copied()
            .flatten()
            .ok_or_else(|| format!("op {index} does not start a block"))
    }

    /// A block's entry: it adds its weight to the count. At a checkpoint
    /// (`check`: see [`budget_checks`](super::budget::budget_checks)) what runs until the next one must
    /// fit under the cap (`Env::cap`). When it does not, the state goes to
    /// the environment and the trampoline is asked (`CALL_CLOCK`): it ends
    /// the run (a passed deadline), hands it to the exact interpreter from
    /// here (the budget is short), or raises the cap to the next clock
    /// checkpoint, and the block starts again with the registers back from
    /// the environment. Coming back to the block's start, where the loop's
    /// values already meet, adds no value live across the call and none
    /// on the hot path.
    fn enter_block(&mut self, index: usize, weight: u64, check: Option<u64>) {
        let Some(need) = check else {
            let pending = self.b.use_var(self.pending);
            let after = self.b.ins().iadd_imm_s(pending, weight as i64);
            self.b.def_var(self.pending, after);
            return;
        };
        let Some(start) = self.b.current_block() else {
            return;
        };
        let count = self.count();
        let needed = self.b.ins().iadd_imm_s(count, need as i64);
        // Read where it is compared: the trampoline raises it.
        let cap = self.b.use_var(self.cap);
        let over = self.b.ins().icmp(IntCC::UnsignedGreaterThan, needed, cap);
        let body = self.b.create_block();
        let ask = self.b.create_block();
        self.b.set_cold_block(ask);
        self.b.ins().brif(over, ask, &[], body, &[]);

        self.b.switch_to_block(ask);
        let saved = self.saved.get(index).copied().unwrap_or(Saved {
            live: u16::MAX,
            reload: u16::MAX,
        });
        for r in (0..=10u8).filter(|&r| r == 10 || saved.live & (1 << r) != 0) {
            let value = self.r(r);
            self.b
                .ins()
                .store(trusted(), value, self.env, layout::reg(r));
        }
        let depth = self.b.use_var(self.depth);
        let pc = self.b.ins().iconst(I64, index as i64);
        self.b
            .ins()
            .store(trusted(), count, self.env, layout::COUNT);
        self.b
            .ins()
            .store(trusted(), depth, self.env, layout::DEPTH);
        self.b.ins().store(trusted(), pc, self.env, layout::PC);
        let need_value = self.b.ins().iconst(I64, need as i64);
        // Loaded here, not kept from the entry: nothing but the environment
        // pointer lives across the call.
        let call_fn = self.b.ins().load(I64, trusted(), self.env, layout::CALL);
        let status = self.call_trampoline(call_fn, pc, env::CALL_CLOCK, need_value);
        let again = self.b.create_block();
        let stop = self.b.create_block();
        self.b.set_cold_block(again);
        self.b.set_cold_block(stop);
        self.b.ins().brif(status, stop, &[], again, &[]);
        // HANDOVER (the state is in the environment) or ERROR.
        self.b.switch_to_block(stop);
        self.b.ins().return_(&[status]);
        // A raised cap: again from the block's start, with the live
        // registers back from the environment, but for those that hold a
        // constant here (see `Saved`) and r10 (the depth and the frame have
        // not changed either). The first block keeps every value: nothing
        // is live across its call.
        self.b.switch_to_block(again);
        if index != 0 {
            for r in (0..=9u8).filter(|&r| saved.reload & (1 << r) != 0) {
                let value = self.b.ins().load(I64, trusted(), self.env, layout::reg(r));
                self.set(r, value);
            }
            let reloaded = self.b.ins().load(I64, trusted(), self.env, layout::COUNT);
            self.set_count(reloaded);
        }
        let raised = self.b.ins().load(I64, trusted(), self.env, layout::CAP);
        self.b.def_var(self.cap, raised);
        self.b.ins().jump(start, &[]);

        self.b.switch_to_block(body);
        self.b.def_var(self.count, count);
        let weight = self.b.ins().iconst(I64, weight as i64);
        self.b.def_var(self.pending, weight);
    }

    /// The count now: the count at the last checkpoint or call plus the
    /// weights of the blocks entered since.
    pub(super) fn count(&mut self) -> Value {
        let count = self.b.use_var(self.count);
        let pending = self.b.use_var(self.pending);
        self.b.ins().iadd(count, pending)
    }

    /// Sets the count (as a trampoline left it).
    pub(super) fn set_count(&mut self, count: Value) {
        self.b.def_var(self.count, count);
        let zero = self.b.ins().iconst(I64, 0);
        self.b.def_var(self.pending, zero);
    }

    /// Continues where `ok` holds; elsewhere, records fault `kind` of op
    /// `index` at `addr` (size `size`) and leaves the code.
    pub(super) fn guard(&mut self, ok: Value, kind: u64, index: usize, addr: Value, size: u64) {
        let cont = self.b.create_block();
        let fault = self.b.create_block();
        self.b.set_cold_block(fault);
        self.b.ins().brif(ok, cont, &[], fault, &[]);
        self.b.switch_to_block(fault);
        let pc = self.program.origin(index) as i64;
        let record = [
            (layout::FAULT_KIND, self.b.ins().iconst(I64, kind as i64)),
            (layout::FAULT_PC, self.b.ins().iconst(I64, pc)),
            (layout::FAULT_ADDR, addr),
            (layout::FAULT_SIZE, self.b.ins().iconst(I64, size as i64)),
        ];
        for (offset, value) in record {
            self.b.ins().store(trusted(), value, self.env, offset);
        }
        let status = self.b.ins().iconst(I64, env::FAULT as i64);
        self.b.ins().return_(&[status]);
        self.b.switch_to_block(cont);
    }
}
