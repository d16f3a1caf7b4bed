//! Accesses through an element an inline lookup found, proven in bounds
//! where the code is generated, as the kernel's verifier proves a map
//! value pointer after its NULL check.
//!
//! An inline lookup into array map `m` (`Op::LookupInline`) sets r0 to
//! `start(m) + key * elem_size` when `key < max_entries`, else to 0; the
//! start is at least 3 << 32, so r0 is not 0 exactly when the key is in
//! range. [`proven_elements`] follows r0 and its copies through the rest
//! of the lookup's block; where that block ends with `jeq rX, 0` (or
//! `jne rX, 0`) on such a register, and the op after it (or the target)
//! starts a block entered from nowhere else, the registers still holding
//! the result there point at element `key` of `m`, and so on into each
//! later block entered only from one that knows it (not after a call,
//! whose return the code reaches through its return dispatch), as long as
//! the register is not written. An access in such a block through one of
//! them, at an offset `off >= 0` with `off + size` within
//! `elem_size`, lies in the element: inside `m`'s region, whose length is
//! at least `max_entries * elem_size`. Its host address is the region's
//! host start plus `key * elem_size + off`: no compare is needed (nor,
//! for an atomic whose offset, element size and host start are multiples
//! of its size, an alignment check). Only maps every CPU shares (one host
//! area, known when compiling) and, for a store or atomic, writable ones
//! qualify; anything else keeps the region checks.

use std::collections::HashMap;

use crate::exec::map_regions::same_for_every_cpu;
use crate::ir::cfg::ControlFlow;
use crate::ir::facts::{AccessKind, Flow, Memory};
use crate::ir::op::Op;
use crate::program::LoadedProgram;

/// An access proven inside an inline lookup's element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct InElement {
    /// The op of the lookup that found the element.
    pub lookup: usize,
    /// The element's map.
    pub map: u16,
}

/// For each op, the element its access lies in, when proven (see the
/// module doc).
pub(super) fn proven_elements(program: &LoadedProgram, starts: &[bool]) -> Vec<Option<InElement>> {
    let ops = program.ops();
    let n = ops.len();
    let mut proven = vec![None; n];
    let cfg = ControlFlow::new(ops);
    // How many ways each op can be entered: from each predecessor, and as
    // a function's entry.
    let mut entries = vec![0u32; n + 1];
    for i in 0..n {
        for s in cfg.successors(i) {
            entries[s] = entries[s].saturating_add(1);
        }
    }
    entries[0] = entries[0].saturating_add(1);
    for &entry in cfg.callee_entries().iter().chain(cfg.callback_entries()) {
        entries[entry] = entries[entry].saturating_add(1);
    }
    // Per register: the lookup whose result it holds (maybe 0 in `found`,
    // not 0 in `known`), in the current block.
    let mut found: [Option<InElement>; 16] = [None; 16];
    let mut known: [Option<InElement>; 16] = [None; 16];
    // The blocks ahead entered only from one that knows an element, and
    // what each knows at its start: set once (one edge enters it), taken
    // when its start is reached. A block behind gets nothing: its ops are
    // lowered before the lookup's.
    let mut ahead: HashMap<usize, [Option<InElement>; 16]> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if starts.get(i).copied().unwrap_or(true) {
            found = [None; 16];
            known = ahead.remove(&i).unwrap_or([None; 16]);
        }
        let facts = op.facts();
        if let Memory::Checked {
            base,
            off,
            width,
            kind,
        } = facts.memory
            && let Some(element) = known[usize::from(base) & 15]
            && fits(program, element.map, off, width, kind)
        {
            proven[i] = Some(element);
        }
        // A copy keeps what its source holds; any other write forgets.
        let copied = if let Op::Mov64Reg { src, .. } = *op {
            Some((found[usize::from(src) & 15], known[usize::from(src) & 15]))
        } else {
            None
        };
        for r in facts.writes.iter() {
            found[usize::from(r) & 15] = None;
            known[usize::from(r) & 15] = None;
        }
        if let Op::LookupInline { map } = *op {
            found[0] = Some(InElement { lookup: i, map });
        } else if let Op::Mov64Reg { dst, .. } = *op
            && let Some((f, k)) = copied
        {
            found[usize::from(dst) & 15] = f;
            known[usize::from(dst) & 15] = k;
        }
        // A NULL check on a lookup's result, which ends the block: where
        // the result is not NULL, if that block is entered only from here.
        let into = if let Op::JeqImm { dst, imm: 0, .. } = *op {
            Some((dst, i + 1))
        } else if let Op::JneImm {
            dst,
            imm: 0,
            target,
        } = *op
        {
            Some((dst, target as usize))
        } else {
            None
        };
        // What the next blocks entered only from this one know: what this
        // one knows at its end, and where a NULL check proved a result,
        // that result. Not across a call: the code after one is entered
        // from the return dispatch, out of reach of the lookup's values.
        let ends_block = starts.get(i + 1).copied().unwrap_or(true);
        let proved = into.and_then(|(dst, into)| Some((into, found[usize::from(dst) & 15]?)));
        if ends_block && !matches!(facts.flow, Flow::Call(_)) && !is_call(op) {
            for next in cfg.successors(i) {
                if next <= i || entries.get(next) != Some(&1) {
                    continue;
                }
                let mut regs = known;
                if let Some((into, element)) = proved
                    && into == next
                {
                    for (r, held) in found.iter().enumerate() {
                        if *held == Some(element) {
                            regs[r] = Some(element);
                        }
                    }
                }
                if regs.iter().any(Option::is_some) {
                    ahead.insert(next, regs);
                }
            }
        }
    }
    proven
}

/// Whether `op` calls out (a helper, `callx`, a lookup left to the helper):
/// with callbacks, the code after it may be entered from the return
/// dispatch.
fn is_call(op: &Op) -> bool {
    matches!(
        op,
        Op::CallHelper { .. } | Op::CallReg { .. } | Op::MapLookup
    )
}

/// Whether an access of `width` bytes at offset `off` from an element of
/// `map` stays inside the element, and is allowed there as a `kind`.
fn fits(program: &LoadedProgram, map: u16, off: i16, width: u8, kind: AccessKind) -> bool {
    let map = usize::from(map);
    let (Some(shape), Some(region), Some(bpf_map)) = (
        program.shapes().get(map),
        program.map_regions().first().get(map),
        program.maps().get(map),
    ) else {
        return false;
    };
    let (off, width) = (i64::from(off), u64::from(width));
    let inside = off >= 0
        && (off as u64)
            .checked_add(width)
            .is_some_and(|end| end <= shape.elem_size)
        && shape
            .max_entries
            .checked_mul(shape.elem_size)
            .is_some_and(|all| all <= region.len);
    let allowed = !kind.writes() || region.writable;
    // An atomic needs its address aligned both in the VM (elements start at
    // multiples of `elem_size` from an aligned start) and on the host.
    let aligned = kind != AccessKind::Atomic
        || ((off as u64).is_multiple_of(width)
            && shape.elem_size.is_multiple_of(width)
            && (region.host as u64).is_multiple_of(width));
    shape.inline && same_for_every_cpu(bpf_map) && inside && allowed && aligned
}

#[cfg(test)]
mod tests {
    use tinybpf_maps::{BPF_F_RDONLY_PROG, BpfMap, MapDef, MapOptions};

    use super::*;
    use crate::ProgramOptions;
    use crate::isa::asm::assemble_bytes;
    use crate::jit::codegen::leaders;

    /// The accesses of `check` then `access` after a lookup of the input's
    /// key in a map of `def`, proven in an element.
    fn proven(def: MapDef, check: &str, access: &str) -> usize {
        let text = format!(
            "
            ldxw %r3, [%r1+0]
            stxw [%r10-4], %r3
            mov %r2, %r10
            add %r2, -4
            lddw %r1, map_fd:0
            call 1
            {check}
            {access}
            mov %r0, 0
            exit
            mov %r0, 7
            exit"
        );
        let map = BpfMap::create(def, &MapOptions::with_cpus(2)).unwrap();
        let options = ProgramOptions {
            maps: vec![map],
            ..ProgramOptions::default()
        };
        let program = LoadedProgram::load(&assemble_bytes(&text).unwrap(), options).unwrap();
        let starts = leaders(program.ops());
        proven_elements(&program, &starts).iter().flatten().count()
    }

    const NOT_NULL: &str = "jeq %r0, 0, +2";

    #[test]
    fn an_access_inside_the_element_after_the_null_check_is_proven() {
        let array = MapDef::array(12, 4);
        assert_eq!(proven(array, NOT_NULL, "ldxdw %r1, [%r0+8]"), 1);
        assert_eq!(proven(array, NOT_NULL, "stxw [%r0+12], %r1"), 1);
        assert_eq!(proven(array, NOT_NULL, "lock add [%r0+8], %r1"), 1);
        // Through a copy checked with `jne`.
        let copied = "mov %r6, %r0\nmov %r0, 0\njne %r6, 0, +2\nmov %r0, 7\nexit";
        assert_eq!(proven(array, copied, "ldxdw %r1, [%r6+0]"), 1);
    }

    #[test]
    fn anything_else_keeps_its_checks() {
        let array = MapDef::array(12, 4);
        // Past the element (16 bytes apart), before it, no NULL check.
        assert_eq!(proven(array, NOT_NULL, "ldxw %r1, [%r0+13]"), 0);
        assert_eq!(proven(array, NOT_NULL, "ldxb %r1, [%r0-1]"), 0);
        assert_eq!(proven(array, "mov %r5, 0", "ldxb %r1, [%r0+0]"), 0);
        // A misaligned atomic, a store to a map programs only read, a map
        // each CPU has its own of.
        assert_eq!(proven(array, NOT_NULL, "lock add32 [%r0+2], %r1"), 0);
        let read_only = MapDef::array(8, 4).with_flags(BPF_F_RDONLY_PROG);
        assert_eq!(proven(read_only, NOT_NULL, "stxdw [%r0+0], %r1"), 0);
        assert_eq!(proven(read_only, NOT_NULL, "ldxdw %r1, [%r0+0]"), 1);
        let percpu = MapDef {
            map_type: 6,
            ..MapDef::array(8, 4)
        };
        assert_eq!(proven(percpu, NOT_NULL, "ldxdw %r1, [%r0+0]"), 0);
        // The register written after the check, and a block entered from
        // elsewhere too (the NULL path sets r0 to the stack and joins).
        assert_eq!(proven(array, NOT_NULL, "add %r0, 0\nldxdw %r1, [%r0+0]"), 0);
        let joined = "jne %r0, 0, +2\nmov %r0, %r10\nadd %r0, -16";
        assert_eq!(proven(array, joined, "ldxdw %r1, [%r0+0]"), 0);
    }

    #[test]
    fn the_proof_goes_on_into_blocks_entered_only_from_a_proven_one() {
        let array = MapDef::array(8, 4);
        // A second branch after the NULL check: its fall-through knows.
        let then = "jeq %r0, 0, +3\njeq %r6, 77, +2";
        assert_eq!(proven(array, then, "ldxdw %r1, [%r0+0]"), 1);
        // Not after a helper call (r6 survives it, but the code after the
        // call may be entered from the return dispatch).
        let call = "jeq %r0, 0, +4\nmov %r6, %r0\ncall 5\nldxdw %r1, [%r6+0]";
        assert_eq!(proven(array, call, "mov %r1, 0"), 0);
    }
}
