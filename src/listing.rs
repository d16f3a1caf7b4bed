//! The listing `tinybpf disasm` prints: the linked program as it runs, in
//! the assembler's syntax, one line per original slot.
//!
//! - Map references and global variables by name (`lddw %r1, map counts`,
//!   `lddw %r2, &config`), helper calls with the helper's name
//!   (`call 1 # bpf_map_lookup_elem`; a kernel helper tinybpf does not
//!   implement, when the program was loaded with placeholders, as
//!   `call 44 # bpf_xdp_adjust_head, not implemented`), local calls with the function's name
//!   (`call local +22 # parse_ipv4`), and a label line before each `.text`
//!   function the program calls.
//! - Each site the lookup rewrite changed shows what it became, then what it
//!   was: `r0 = &counts[3]   ; rewritten, was: call 1 # bpf_map_lookup_elem`.
//! - Each load or store the constant-address pass made direct shows the
//!   address by name: `ldxw %r1, [&config+4]   ; direct, was: ldxw %r1, [%r2+4]`.
//! - Each slot an elimination removed says which one, and why nothing
//!   needed it: `(removed)   ; dead code once accesses through the address
//!   it sets became direct, was: lddw %r2, &config`.
//!
//! The work is linear in the program: every per-slot fact is gathered into a
//! table once.

use std::collections::HashMap;
use std::fmt::Write as _;

use tinybpf_loader::ObjectMapKind;
use tinybpf_vm::isa::disasm::disassemble_one;
use tinybpf_vm::isa::insn::{opcode, pseudo};
use tinybpf_vm::{Helpers, RewriteKind, RewriteSite, kernel_helper_name};

use crate::object::{Object, Program};

/// The comment after `call ID`: the registered helper's name, marked when
/// it only stands in for a kernel helper tinybpf does not implement; the
/// kernel's name or "unknown helper" for an id not registered.
fn helper_comment(registry: &Helpers, imm: i32) -> String {
    let helper = u32::try_from(imm).ok().and_then(|id| registry.get(id));
    match (helper, kernel_helper_name(i64::from(imm))) {
        (Some(helper), _) if helper.is_placeholder() => {
            format!("{}, not implemented", helper.name)
        }
        (Some(helper), _) => helper.name.to_owned(),
        (None, Some(name)) => format!("{name}, not implemented"),
        (None, None) => "unknown helper".to_owned(),
    }
}

/// Width of the "what runs" column before the `;` comment.
const TEXT_WIDTH: usize = 40;

/// One line per instruction: `slot: text`, marked as the module
/// documentation describes.
///
/// ```
/// # fn main() -> Result<(), tinybpf::Error> {
/// let object = tinybpf::Object::open(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/btf_globals.o"))?;
/// let program = object.program("btf_globals")?;
/// let text = tinybpf::listing(&object, &program);
/// assert!(text.contains("    2: ldxw %r1, [&config]"), "{text}");
/// assert!(text.contains("; direct, was: ldxw %r1, [%r2]"), "{text}");
/// assert!(text.contains("(removed)"), "{text}");
/// # Ok(())
/// # }
/// ```
pub fn listing(object: &Object, program: &Program) -> String {
    let vm = program.vm();
    let insns = vm.insns();
    let registry = vm.registry();
    let linked = object.linked();
    let tables = SlotTables::new(object, program, insns.len());
    let mut out = String::new();
    let mut pc = 0;
    while pc < insns.len() {
        if let Some(name) = tables.function_at.get(&pc)
            && pc > 0
        {
            let _ = writeln!(out, "{name}:");
        }
        let insn = insns[pc];
        let (mut text, used) = disassemble_one(insns, pc);
        if insn.opcode == opcode::LDDW
            && matches!(insn.src, pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE)
            && let Some(next) = insns.get(pc + 1)
            && let Some(name) = program.linked().lddw_name(linked, &insn, next)
        {
            let what = if insn.src == pseudo::MAP_IDX {
                "map "
            } else {
                "&"
            };
            text = format!("lddw %r{}, {what}{name}", insn.dst);
        }
        if insn.opcode == opcode::LDDW
            && insn.src == pseudo::FUNC
            && let Some(name) = (pc as i64 + 1)
                .checked_add(i64::from(insn.imm))
                .and_then(|target| usize::try_from(target).ok())
                .and_then(|target| tables.function_at.get(&target))
        {
            let _ = write!(text, " # {name}");
        }
        if insn.opcode == opcode::CALL {
            let name = match insn.src {
                pseudo::CALL_HELPER => Some(helper_comment(registry, insn.imm)),
                pseudo::CALL_LOCAL => (pc as i64 + 1)
                    .checked_add(i64::from(insn.imm))
                    .and_then(|target| usize::try_from(target).ok())
                    .and_then(|target| tables.function_at.get(&target))
                    .cloned(),
                _ => None,
            };
            if let Some(name) = name {
                let _ = write!(text, " # {name}");
            }
        }
        let removal = vm.removal(pc);
        match (tables.rewrite_at[pc], removal, &tables.direct_at[pc]) {
            (Some(site), Some(removal), _) => {
                let now = rewritten_text(program, site);
                let _ = writeln!(
                    out,
                    "{pc:>5}: {:<TEXT_WIDTH$} ; rewritten to {now}, then removed ({}), was: {text}",
                    "(removed)",
                    removal.describe()
                );
            }
            (Some(site), None, _) => {
                let now = rewritten_text(program, site);
                let _ = writeln!(out, "{pc:>5}: {now:<TEXT_WIDTH$} ; rewritten, was: {text}");
            }
            (None, Some(removal), _) => {
                let _ = writeln!(
                    out,
                    "{pc:>5}: {:<TEXT_WIDTH$} ; {}, was: {text}",
                    "(removed)",
                    removal.describe()
                );
            }
            (None, None, Some(address)) => {
                let now = with_address(&text, address);
                let _ = writeln!(out, "{pc:>5}: {now:<TEXT_WIDTH$} ; direct, was: {text}");
            }
            (None, None, None) => {
                let _ = writeln!(out, "{pc:>5}: {text}");
            }
        }
        pc += used.max(1);
    }
    out
}

/// What the listing needs per slot, gathered once.
struct SlotTables<'p> {
    /// The rewrite site at each slot.
    rewrite_at: Vec<Option<&'p RewriteSite>>,
    /// The named address of a direct access at each slot.
    direct_at: Vec<Option<String>>,
    /// The function starting at each slot.
    function_at: HashMap<usize, String>,
}

impl<'p> SlotTables<'p> {
    fn new(object: &Object, program: &'p Program, slots: usize) -> SlotTables<'p> {
        let vm = program.vm();
        let mut rewrite_at = vec![None; slots];
        for site in vm.rewrites() {
            if let Some(at) = rewrite_at.get_mut(site.pc) {
                *at = Some(site);
            }
        }
        let mut direct_at = vec![None; slots];
        for (index, op) in vm.ops().iter().enumerate() {
            if let Some((map, offset)) = vm.proven_place(op)
                && let Some(at) = direct_at.get_mut(vm.origin(index))
            {
                *at = Some(address_name(object, program, map, offset));
            }
        }
        let function_at = program
            .linked()
            .functions
            .iter()
            .map(|f| (f.start, f.name.clone()))
            .collect();
        SlotTables {
            rewrite_at,
            direct_at,
            function_at,
        }
    }
}

/// `&config+4` for a global variable, `&counts[3]+4` for an element of an
/// array map (elements are `value_size` rounded up to 8 bytes apart).
fn address_name(object: &Object, program: &Program, map: usize, offset: u32) -> String {
    let linked = object.linked();
    let Some(&index) = program.linked().maps.get(map) else {
        return format!("&map{map}+{offset}");
    };
    let definition = &linked.maps[index];
    if matches!(definition.kind, ObjectMapKind::GlobalData { .. }) {
        let name = linked
            .value_name(index, offset)
            .unwrap_or_else(|| format!("{}+{offset}", definition.name));
        return format!("&{name}");
    }
    let elem = u64::from(definition.def.value_size)
        .next_multiple_of(8)
        .max(1);
    let (element, within) = (u64::from(offset) / elem, u64::from(offset) % elem);
    let mut name = format!("&{}[{element}]", definition.name);
    if within > 0 {
        let _ = write!(name, "+{within}");
    }
    name
}

/// The instruction's text with its memory operand (`[%r2+4]`) replaced by
/// the address (`[&config+4]`).
fn with_address(text: &str, address: &str) -> String {
    match (text.find('['), text.find(']')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}[{address}]{}", &text[..open], &text[close + 1..])
        }
        _ => format!("{text} @ {address}"),
    }
}

fn rewritten_text(program: &Program, site: &RewriteSite) -> String {
    let map_name = |map: usize| {
        program
            .maps()
            .get(map)
            .map_or_else(|| format!("map{map}"), |m| m.name().to_owned())
    };
    match site.kind {
        RewriteKind::ConstKey { map, key } => format!("r0 = &{}[{key}]", map_name(map)),
        RewriteKind::ConstKeyMissing { map, key } => {
            format!("r0 = 0 (key {key} is past the end of {})", map_name(map))
        }
        RewriteKind::RuntimeKey { map } => {
            format!("r0 = inline lookup {}[*(u32 *)r2]", map_name(map))
        }
        RewriteKind::NullTestRemoved => "(removed: never taken)".to_owned(),
        RewriteKind::NullTestAlwaysTaken => "(always taken)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_operands_take_the_address() {
        assert_eq!(
            with_address("ldxw %r1, [%r2+4]", "&config+4"),
            "ldxw %r1, [&config+4]"
        );
        assert_eq!(
            with_address("stxdw [%r0], %r4", "&stats"),
            "stxdw [&stats], %r4"
        );
        assert_eq!(with_address("exit", "&x"), "exit @ &x");
    }
}
