//! The listing `tinybpf disasm` prints: the linked program in the
//! assembler's syntax, map references and global variables by name, helper
//! names, and each site the lookup rewrite changed, marked.

use std::fmt::Write as _;

use tinybpf_vm::isa::disasm::disassemble_one;
use tinybpf_vm::isa::insn::{opcode, pseudo};
use tinybpf_vm::{RewriteKind, RewriteSite};

use crate::object::{Object, Program};

/// One line per instruction: `slot: text`, with rewritten sites showing what
/// they became and what they were.
///
/// ```
/// # fn main() -> Result<(), tinybpf::Error> {
/// let object = tinybpf::Object::open(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/seed_globals.o"))?;
/// let program = object.program("seed_globals")?;
/// let text = tinybpf::listing(&object, &program);
/// assert!(text.contains("global_map"));
/// assert!(text.contains("rewritten"));
/// # Ok(())
/// # }
/// ```
pub fn listing(object: &Object, program: &Program) -> String {
    let insns = program.vm().insns();
    let registry = program.vm().registry();
    let linked = object.linked();
    let mut out = String::new();
    let mut pc = 0;
    while pc < insns.len() {
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
        if insn.opcode == opcode::CALL
            && insn.src == pseudo::CALL_HELPER
            && let Some(name) = u32::try_from(insn.imm)
                .ok()
                .and_then(|id| registry.name(id))
        {
            let _ = write!(text, " # {name}");
        }
        match program.vm().rewrites().iter().find(|site| site.pc == pc) {
            Some(site) => {
                let mut now = rewritten_text(program, site);
                if program.vm().eliminated().binary_search(&pc).is_ok() {
                    now = format!("(dead) {now}");
                }
                let _ = writeln!(out, "{pc:>5}: {now:<40} ; rewritten, was: {text}");
            }
            None if program.vm().eliminated().binary_search(&pc).is_ok() => {
                let _ = writeln!(out, "{pc:>5}: {:<40} ; eliminated, was: {text}", "(dead)");
            }
            None => {
                let _ = writeln!(out, "{pc:>5}: {text}");
            }
        }
        pc += used.max(1);
    }
    out
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
