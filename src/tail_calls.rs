//! The programs an object's tail calls reach: every program of the object,
//! loaded with the object's maps, by its index in the object (what the
//! loader stores in `PROG_ARRAY` slots).

use std::sync::Arc;

use tinybpf_maps::MapType;
use tinybpf_vm::TailCallTargets;

use crate::object::{LoadOptions, Object, Program};

/// Loads every program of `object` with `options` as a tail call target;
/// a program that does not load (a helper tinybpf lacks, say) is no target,
/// and a tail call to it falls through. Pass the result to
/// [`RunContext::with_tail_call_targets`](tinybpf_vm::RunContext::with_tail_call_targets).
///
/// ```
/// # fn main() -> Result<(), tinybpf::Error> {
/// let object = tinybpf::Object::open(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/btf_maps.o"))?;
/// let dispatch = object.program("dispatch")?;
/// // Without targets, the tail call falls through: `return 1`.
/// assert_eq!(dispatch.run(&mut [])?.retval, 1);
/// let targets = tinybpf::tail_call_targets(&object, &tinybpf::LoadOptions::default());
/// let mut ctx = tinybpf::vm::RunContext::new().with_tail_call_targets(targets);
/// // jumps[0] is tail_zero, which returns 10.
/// assert_eq!(dispatch.run_with(&mut [], &mut ctx)?.retval, 10);
/// # Ok(())
/// # }
/// ```
pub fn tail_call_targets(object: &Object, options: &LoadOptions) -> TailCallTargets {
    let programs = object
        .program_names()
        .into_iter()
        .map(|name| {
            object
                .program_with(name, options.clone())
                .ok()
                .map(|program| Arc::new(program.into_vm()))
        })
        .collect();
    TailCallTargets::new(programs)
}

/// Whether `program` can make tail calls (it uses a program array).
pub fn uses_tail_calls(program: &Program) -> bool {
    program
        .maps()
        .iter()
        .any(|m| m.map_type() == MapType::ProgArray)
}
