//! Callbacks: `bpf_loop(nr_loops, callback, ctx, flags)` (181) and
//! `bpf_for_each_map_elem(map, callback, ctx, flags)` (164).
//!
//! # The design: callback frames in the interpreter
//!
//! A callback is a function of the program that a helper calls. clang loads
//! its address with a pseudo-func `lddw` (`src = 4`, `imm` the offset of its
//! first instruction, as a local call's), which translates to
//! [`Op::LoadFunc`](crate::ir::op::Op::LoadFunc): the register receives
//! [`FUNC_REF_BASE`](crate::exec::memory::FUNC_REF_BASE)` + entry`, a value
//! in no region. The helper checks that the value names one of the
//! program's callback entries ([`LoadedProgram::callback_entry`]: the
//! targets of the final program's `LoadFunc` ops, so a forged value names
//! one of them or nothing), checks its other arguments, and when there is
//! something to call returns the signal [`HelperError::EnterCallback`] with
//! the iteration it asks for left in the run's [`Callbacks`].
//!
//! The interpreter then enters the callback exactly as it enters a local
//! call: one frame further down (the 8-frame limit applies, and a callback
//! entered from the deepest frame faults with `CallDepthExceeded`), r6..r9
//! saved, r10 the new frame's pointer, r1..r5 the callback's arguments. The
//! saved frame's return address is the marker [`CALLBACK_RETURN`]: its
//! `exit` hands r0 to [`Callbacks::returned`], which either asks for the
//! next iteration (entered the same way) or ends the loop: r0 becomes the
//! helper's result, r1..r5 get back the values they had at the call (so the
//! call changes only r0, as every helper call does), and the run goes on
//! after the call. The callback shares everything with the run: budget
//! (each iteration also charges one unit), clock checkpoints, regions,
//! stack and trace; a fault in it names its own instruction. A `bpf_loop`
//! inside a callback nests one frame further down.
//!
//! The other design, expanding `call bpf_loop` at load into a loop around
//! a local call as the kernel's `inline_bpf_loop` does, needs the callback
//! to be a known constant at the call and new ops for the loop's counter;
//! entering frames from the interpreter needs neither and serves every
//! callback helper the same way.
//!
//! # Why the passes stay sound
//!
//! - Control flow ([`ControlFlow`](crate::ir::cfg::ControlFlow)): every
//!   `LoadFunc` target is a function entry like a call target, so every
//!   analysis starts it with unknown registers and a fresh frame (the lookup
//!   rewrite's solver, constant addresses, the stack-pointer registers of
//!   dead-store elimination), and its ops are never fused with ops before
//!   it, nor removed as unreachable.
//! - Registers: across the helper call only r0 changes (r1..r5 are
//!   restored, r6..r9 and r10 restored by the frame), which is what the
//!   op table says of every helper call.
//! - Memory: the callback may write the caller's frame through the context
//!   pointer or any other pointer; the passes already assume that any helper
//!   call but the three map helpers may (`lookup` forgets the known stack
//!   bytes, dead-store elimination counts a helper call as reading the whole
//!   frame).
//! - Stack: the stack-depth pass lets every callback run one frame below
//!   every helper call, so the prepared stack covers its frame.
//!
//! The compiled tier enters callbacks the same way, through its call
//! trampoline (`jit::calls`: the same `start` and `returned`, frames a
//! handover passes on with this marker); a map walk's key, in a slot its
//! region checks leave out, it reads through the interpreter's path.
//!
//! # The kernel's semantics
//!
//! From `bpf_loop` in `kernel/bpf/bpf_iter.c`: `flags` other than 0 is
//! `-EINVAL`, `nr_loops` (a u32) above `1 << 23` is `-E2BIG` (checked in
//! that order); the callback gets `(i, ctx)` for `i = 0, 1, ...` and the
//! loop stops after `nr_loops` calls or after a call that returns 1; the
//! result is the number of calls made. The verifier allows a callback only
//! a return value of 0 or 1: any other value ends the run with
//! [`HelperError::CallbackReturn`] at the callback's `exit`.
//!
//! From `bpf_for_each_array_elem` (`kernel/bpf/arraymap.c`) and
//! `bpf_for_each_hash_elem` (`kernel/bpf/hashtab.c`): flags other than 0 is
//! `-EINVAL`; the callback gets `(map, key, value, ctx)` for each element
//! (array: every index, the key a u32; per-CPU: the run's CPU's value; hash,
//! LRU and per-CPU hash: each present element, here in the order of
//! `BPF_MAP_GET_NEXT_KEY`), the loop stops after a call that returns 1, and
//! the result is the number of elements visited, that call included. The
//! value is the element itself, writable unless the map is read-only for
//! programs. The key lies in a read-only area of its own
//! ([`CALLBACK_KEY_START`], one [`CALLBACK_KEY_SIZE`] area per calling
//! frame, zeroed at the run's first use), as the kernel's verifier makes a
//! callback's key pointer read-only. Other map types are refused as the
//! verifier refuses them ([`HelperError::MapRefused`]), a first argument
//! that is no map is `-EINVAL`. Each element charges one budget unit per 8
//! key bytes (at least one), four times that in a hash map (each step
//! hashes keys up to four times). A hash callback may delete the element it was
//! given: the walk goes on with the element that followed it when the
//! callback started (taken before the call, as the kernel's bucket walk
//! follows the deleted element's link), or, when that one is gone too,
//! with the buckets after (`BpfMap::walk_next_key_into`); it never starts
//! over, so no element is visited twice.

use tinybpf_maps::{BpfMap, MapError, MapType, shared_mem};

use crate::error::{HelperError, MapRefusal};
use crate::exec::helpers::{HelperContext, ids};
use crate::exec::memory::{
    AddressSpace, CALLBACK_KEY_SIZE, CALLBACK_KEY_START, MAP_HANDLE_BASE, MAX_FRAMES,
    map_value_start,
};
use crate::program::LoadedProgram;

/// Bytes of the callback key areas of a run (one per calling frame).
pub(crate) const CALLBACK_KEYS_LEN: usize = CALLBACK_KEY_SIZE * MAX_FRAMES;

/// The kernel's limit on `bpf_loop`'s `nr_loops` (`BPF_MAX_LOOPS`).
pub const BPF_MAX_LOOPS: u64 = 1 << 23;

/// The return address of a callback's frame: its `exit` goes to
/// [`Callbacks::returned`] instead.
pub(crate) const CALLBACK_RETURN: usize = usize::MAX;

const EINVAL: u64 = (-22i64) as u64;
const E2BIG: u64 = (-7i64) as u64;

/// One callback helper call in progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Iteration {
    /// The helper's id (for errors).
    helper: u32,
    /// The callback's first op.
    entry: usize,
    /// What the callback walks over.
    walk: Walk,
    /// Callbacks made so far.
    calls: u64,
    /// r1..r5 at the call, restored when the loop ends.
    saved: [u64; 5],
    /// The op after the call.
    return_pc: usize,
    /// Budget units each call charges.
    units: u64,
    /// The frame that called the helper (its key area).
    level: usize,
}

/// What a callback helper walks over.
#[derive(Clone, Copy, Debug)]
enum Walk {
    /// `bpf_loop`: `count` calls of `callback(i, ctx)`.
    Loop { count: u64, ctx: u64 },
    /// `bpf_for_each_map_elem`: `callback(map, &key, &value, ctx)`.
    Map {
        /// The map's index in the program's table.
        map: usize,
        ctx: u64,
        /// The run's CPU.
        cpu: u32,
        /// Arrays: indices in order; hashes: keys in `get_next_key` order.
        by_index: bool,
    },
}

impl Iteration {
    /// The callback's arguments for call number `calls` (writing a map
    /// walk's key into its area), or `None` when the walk is over.
    fn args(
        &self,
        program: &LoadedProgram,
        space: &AddressSpace<'_>,
        successor: &mut Successor,
    ) -> Option<[u64; 5]> {
        match self.walk {
            Walk::Loop { count, ctx } => (self.calls < count).then_some([self.calls, ctx, 0, 0, 0]),
            Walk::Map {
                map,
                ctx,
                cpu,
                by_index,
            } => {
                let bpf_map = &program.maps()[map];
                let key_len = bpf_map.def().key_size as usize;
                let area = self.level * CALLBACK_KEY_SIZE;
                let keys = space.keys.get();
                // SAFETY: `bpf_for_each_map_elem` mapped the whole key area
                // (CALLBACK_KEYS_LEN bytes, zeroed) and checked that the key
                // fits in one area; `level` is below MAX_FRAMES.
                let key_ptr = unsafe { keys.host.add(area) };
                let mut key = [0u8; CALLBACK_KEY_SIZE];
                let key = &mut key[..key_len];
                let offset = if by_index {
                    let index = u32::try_from(self.calls).ok()?;
                    if index >= bpf_map.def().max_entries {
                        return None;
                    }
                    key.copy_from_slice(&index.to_le_bytes());
                    bpf_map.lookup_for_program(key, cpu)?
                } else {
                    next_present(bpf_map, key, key_ptr, self.calls == 0, cpu, successor)?
                };
                // SAFETY: as above; the area is private to this run and
                // accessed through `shared_mem` like every region.
                unsafe { shared_mem::copy_in(key_ptr, key) };
                Some([
                    MAP_HANDLE_BASE + map as u64,
                    CALLBACK_KEY_START + area as u64,
                    map_value_start(map) + offset as u64,
                    ctx,
                    0,
                ])
            }
        }
    }
}

/// The key a hash walk visits after the current one, taken before the
/// callback runs: where the callback deletes the key it was given, the walk
/// goes on here, as the kernel's bucket walk follows the deleted element's
/// link.
#[derive(Clone, Debug, Default)]
pub(crate) struct Successor {
    key: Vec<u8>,
    known: bool,
}

/// The next present element of a hash map after the key in the area at
/// `area` (the first when `first`): its key in `key`, and its value's
/// offset in the map's region. Records the element after it in
/// `successor`.
fn next_present(
    map: &BpfMap,
    key: &mut [u8],
    area: *mut u8,
    first: bool,
    cpu: u32,
    successor: &mut Successor,
) -> Option<usize> {
    let offset = find_present(map, key, area, first, cpu, successor)?;
    // One allocation per run context and nesting level, on the first walk.
    successor.key.resize(key.len(), 0);
    successor.known = map.walk_next_key_into(key, &mut successor.key).is_ok();
    Some(offset)
}

fn find_present(
    map: &BpfMap,
    key: &mut [u8],
    area: *mut u8,
    first: bool,
    cpu: u32,
    successor: &Successor,
) -> Option<usize> {
    let mut previous = [0u8; CALLBACK_KEY_SIZE];
    let previous = &mut previous[..key.len()];
    if !first {
        // SAFETY: see `Iteration::args`.
        unsafe { shared_mem::copy_out(area, previous) };
        let deleted = map.lookup_for_program(previous, cpu).is_none();
        if deleted && successor.known && successor.key.len() == key.len() {
            key.copy_from_slice(&successor.key);
            if let Some(offset) = map.lookup_for_program(key, cpu) {
                return Some(offset);
            }
        }
    }
    let mut after = !first;
    // Each step moves past one key, never back (`walk_next_key_into`); a
    // map holds at most max_entries.
    for _ in 0..=map.def().max_entries {
        let result = if after {
            map.walk_next_key_into(previous, key)
        } else {
            map.get_next_key_into(None, key)
        };
        result.ok()?;
        if let Some(offset) = map.lookup_for_program(key, cpu) {
            return Some(offset);
        }
        // Deleted meanwhile by another thread: on to the next.
        previous.copy_from_slice(key);
        after = true;
    }
    None
}

/// The callback helper calls in progress in a run, by the depth of the
/// frame that called the helper (each frame has at most one: it waits for
/// its callback to return).
#[derive(Clone, Debug, Default)]
pub(crate) struct Callbacks {
    /// What the helper just asked for, taken by [`Callbacks::start`].
    pending: Option<Iteration>,
    active: [Option<Iteration>; MAX_FRAMES],
    /// Per calling frame, the hash walk's next key ([`Successor`]).
    successors: [Successor; MAX_FRAMES],
}

/// What the interpreter does after a callback returns.
pub(crate) enum Step {
    /// Enter the callback at `entry` again with `args` in r1..r5,
    /// charging `units`.
    Again {
        entry: usize,
        args: [u64; 5],
        units: u64,
    },
    /// The helper call is over: r0 = `result`, r1..r5 = `saved`, continue
    /// at `return_pc`.
    Done {
        result: u64,
        saved: [u64; 5],
        return_pc: usize,
    },
}

impl Callbacks {
    /// Starts the iteration the helper asked for, called from the frame at
    /// `depth` with r1..r5 = `saved`, returning to `return_pc`: the
    /// callback's entry and its first arguments. `None` if no helper asked
    /// (never the case after [`HelperError::EnterCallback`]).
    pub(crate) fn start(
        &mut self,
        depth: usize,
        return_pc: usize,
        saved: [u64; 5],
        program: &LoadedProgram,
        space: &AddressSpace<'_>,
    ) -> Option<(usize, [u64; 5], u64)> {
        let mut iteration = self.pending.take()?;
        iteration.level = depth;
        iteration.saved = saved;
        iteration.return_pc = return_pc;
        let successor = self.successors.get_mut(depth)?;
        let args = iteration.args(program, space, successor);
        iteration.calls = 1;
        let slot = self.active.get_mut(depth)?;
        match args {
            Some(args) => {
                *slot = Some(iteration);
                Some((iteration.entry, args, iteration.units))
            }
            // An empty map: nothing to call (the helper returns 0).
            None => None,
        }
    }

    /// The callback entered from the frame at `depth` returned `r0`: enter
    /// it again, or end the helper call. A return value the kernel's
    /// verifier refuses is the error (with the helper's id).
    pub(crate) fn returned(
        &mut self,
        depth: usize,
        r0: u64,
        program: &LoadedProgram,
        space: &AddressSpace<'_>,
    ) -> Result<Step, (u32, HelperError)> {
        let (Some(Some(iteration)), Some(successor)) =
            (self.active.get_mut(depth), self.successors.get_mut(depth))
        else {
            // Only a frame `start` pushed returns here.
            return Err((
                ids::LOOP,
                HelperError::Other("a callback returned to no helper call".into()),
            ));
        };
        let stop = match r0 {
            0 => false,
            1 => true,
            value => return Err((iteration.helper, HelperError::CallbackReturn { value })),
        };
        if !stop && let Some(args) = iteration.args(program, space, successor) {
            iteration.calls += 1;
            return Ok(Step::Again {
                entry: iteration.entry,
                args,
                units: iteration.units,
            });
        }
        Ok(Step::Done {
            result: iteration.calls,
            saved: iteration.saved,
            return_pc: iteration.return_pc,
        })
    }
}

/// The callback entry `value` refers to, or the helper's fault.
fn callback(program: &LoadedProgram, value: u64) -> Result<usize, HelperError> {
    program
        .callback_entry(value)
        .ok_or(HelperError::NotACallback { value })
}

/// `long bpf_loop(u32 nr_loops, void *callback, void *ctx, u64 flags)`.
pub(crate) fn bpf_loop(ctx: &mut HelperContext<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let entry = callback(ctx.program(), args[1])?;
    if args[3] != 0 {
        return Ok(EINVAL);
    }
    let count = u64::from(args[0] as u32);
    if count > BPF_MAX_LOOPS {
        return Ok(E2BIG);
    }
    if count == 0 {
        return Ok(0);
    }
    ctx.callbacks_mut().pending = Some(Iteration {
        helper: ids::LOOP,
        entry,
        walk: Walk::Loop {
            count,
            ctx: args[2],
        },
        calls: 0,
        saved: [0; 5],
        return_pc: 0,
        units: 1,
        level: 0,
    });
    Err(HelperError::EnterCallback)
}

/// `long bpf_for_each_map_elem(map, void *callback, void *ctx, u64 flags)`.
pub(crate) fn for_each_map_elem(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let entry = callback(ctx.program(), args[1])?;
    let Some((map, bpf_map)) = ctx.map(args[0]) else {
        return Ok(EINVAL);
    };
    let map_type = bpf_map.map_type();
    let by_index = matches!(map_type, MapType::Array | MapType::PercpuArray);
    let hashed = matches!(
        map_type,
        MapType::Hash | MapType::LruHash | MapType::PercpuHash | MapType::LruPercpuHash
    );
    if !by_index && !hashed {
        return Err(HelperError::MapRefused(Box::new(MapRefusal {
            helper: "bpf_for_each_map_elem",
            map,
            source: MapError::NotFromPrograms {
                map_type,
                operation: "iterate (bpf_for_each_map_elem)",
            },
        })));
    }
    let key_size = bpf_map.def().key_size as usize;
    if key_size > CALLBACK_KEY_SIZE {
        return Err(HelperError::Other(format!(
            "bpf_for_each_map_elem: map {map}'s keys of {key_size} bytes are larger than the \
             {CALLBACK_KEY_SIZE} bytes the kernel allows"
        )));
    }
    if args[3] != 0 {
        return Ok(EINVAL);
    }
    let cpu = ctx.cpu_id();
    map_key_areas(ctx.space());
    ctx.callbacks_mut().pending = Some(Iteration {
        helper: ids::FOR_EACH_MAP_ELEM,
        entry,
        walk: Walk::Map {
            map,
            ctx: args[2],
            cpu,
            by_index,
        },
        calls: 0,
        saved: [0; 5],
        return_pc: 0,
        units: walk_units(key_size, hashed),
        level: 0,
    });
    Err(HelperError::EnterCallback)
}

/// Budget units one element of a walk charges: one per 8 key bytes (at
/// least one); a hash walk hashes and compares each key up to four times
/// (is the last key still there, the next key, its value, the key after
/// it), so four times that.
fn walk_units(key_size: usize, hashed: bool) -> u64 {
    let per_key = key_size.div_ceil(8).max(1) as u64;
    if hashed { 4 * per_key } else { per_key }
}

/// Zeroes and maps the run's callback key areas, the first time.
fn map_key_areas(space: &AddressSpace<'_>) {
    let mut keys = space.keys.get();
    if keys.len != 0 {
        return;
    }
    // SAFETY: `host` is the run's CALLBACK_KEYS_LEN-byte key buffer
    // (`exec::run`), which nothing else uses.
    unsafe { keys.host.write_bytes(0, CALLBACK_KEYS_LEN) };
    keys.len = CALLBACK_KEYS_LEN as u64;
    space.keys.set(keys);
}
