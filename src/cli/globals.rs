//! The CLI's global variables: `tinybpf run --set NAME=VALUE`, and the
//! variables shown by name under their data section's map.

use std::io::{self, Write};

use tinybpf::loader::ObjectMapKind;
use tinybpf::loader::btf::value::Problem;
use tinybpf::{
    Error, Global, GlobalProblem, Map, Object, TableOptions, TypedView, write_typed_map_table,
};

/// Applies every `--set` (all or none), with one sentence naming the flag,
/// the assignment and the fix when one cannot be.
pub fn set_globals(object: &mut Object, assignments: &[String]) -> Result<(), String> {
    let explain = |text: &str, error: Error| {
        let fix = match &error {
            Error::GlobalSyntax { .. } => "; write --set NAME=VALUE, e.g. --set limit=5",
            Error::NoSuchGlobal { .. } => "; --set takes one of those names",
            Error::Global {
                problem: GlobalProblem::Value(value),
                ..
            } if matches!(value.problem, Problem::UnknownMember { .. }) => {
                "; --set names one of those members"
            }
            Error::Global { .. } => "; give --set a value its type holds",
            _ => "",
        };
        format!("--set {text}: {error}{fix}; no variable was set")
    };
    for text in assignments {
        object
            .check_global(text)
            .map_err(|error| explain(text, error))?;
    }
    object
        .set_globals(assignments.iter().map(String::as_str))
        .map_err(|error| explain(&assignments.join(" --set "), error))
}

/// A map's body under its header line: a data section's variables by name
/// with their types and values (`  limit: const volatile __u32 = 100`), or
/// the table when the object's BTF does not type them all.
pub fn write_map_body(
    out: &mut impl Write,
    globals: &[Global],
    object: &Object,
    map: &Map,
    options: TableOptions,
) -> io::Result<()> {
    if let ObjectMapKind::GlobalData { section } = map.kind() {
        let declared = object
            .linked()
            .variables
            .iter()
            .filter(|v| &v.section == section)
            .count();
        let typed: Vec<&Global> = globals.iter().filter(|g| &g.section == section).collect();
        if declared > 0 && typed.len() == declared {
            for global in typed {
                writeln!(
                    out,
                    "  {}: {} = {}",
                    global.name, global.type_name, global.value
                )?;
            }
            return Ok(());
        }
    }
    let typed = TypedView::of(object, map);
    write_typed_map_table(out, map, options, typed.as_ref())
}
