//! The CLI's pinning: `tinybpf run --pin-dir DIR` and `tinybpf map show
//! DIR/NAME`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use tinybpf::{Map, Object, TableOptions, TypedView, write_typed_map_table};

/// `tinybpf map ...`.
#[derive(Subcommand)]
pub enum MapCommand {
    /// Print a map pinned by `tinybpf run --pin-dir DIR` (in this or
    /// another process, while it runs or after): its definition and entries.
    Show(ShowArgs),
}

/// `tinybpf map show`.
#[derive(Args)]
pub struct ShowArgs {
    /// The pin file: DIR/NAME, the map NAME pinned with --pin-dir DIR.
    pub path: PathBuf,
    /// Leave out arrays' all-zero entries (by default runs of them collapse
    /// into one line).
    #[arg(long)]
    pub nonzero: bool,
    /// The object that declared the map: its BTF shows keys and values by
    /// type (structs by member, global variables by name).
    #[arg(long, value_name = "FILE.o")]
    pub object: Option<PathBuf>,
    /// Print one JSON object, as `run --json` prints each map, with
    /// "name" and "pinned" (the path) first.
    #[arg(long)]
    pub json: bool,
}

/// Pins `object`'s maps into `dir` for `tinybpf run --pin-dir`, with a
/// sentence that names the flag and the fix when it cannot.
pub fn pin_object(object: Object, cpus: u32, dir: &Path) -> Result<Object, String> {
    let place = format!("--pin-dir {}", dir.display());
    object
        .with_possible_cpus(cpus)
        .and_then(|object| object.with_pin_dir(dir))
        .map_err(|error| format!("{place}: {error}"))
}

/// Removes the pin files `object` made (not those it reused), when the
/// command stops before the program runs.
pub fn unpin_new(object: &Object) {
    for pinned in object.pinned_maps().iter().filter(|p| !p.reused) {
        let _ = std::fs::remove_file(&pinned.path);
    }
}

/// Where the map is pinned, for the line above its table: `, pinned at
/// DIR/NAME (reused)`, or nothing.
pub fn pin_note(object: &Object, map: &Map) -> String {
    object
        .pinned_maps()
        .iter()
        .find(|pinned| pinned.name == map.name())
        .map(|pinned| {
            format!(
                ", pinned at {}{}",
                pinned.path.display(),
                if pinned.reused { " (reused)" } else { "" }
            )
        })
        .unwrap_or_default()
}

/// For `tinybpf maps`: ` pinned by name` for a map declared with
/// `LIBBPF_PIN_BY_NAME` (what `run --pin-dir` reuses), else nothing.
pub fn pinning_note(map: &tinybpf::loader::ObjectMap) -> &'static str {
    if map.pinning == tinybpf::loader::Pinning::ByName {
        " pinned by name"
    } else {
        ""
    }
}

/// `tinybpf map show PATH`: the definition line, then the table (by the
/// BTF types of `--object`'s map when given). Everything is checked before
/// anything is printed.
pub fn show(
    args: &ShowArgs,
    out: &mut impl Write,
    describe_def: impl Fn(&Map) -> String,
) -> Result<(), crate::Failure> {
    let map = Map::open_pinned(&args.path).map_err(|error| {
        format!("map show: {error}; give a file that `tinybpf run --pin-dir DIR` made (DIR/NAME)")
    })?;
    let object = match &args.object {
        Some(path) => Some(declaring_object(path, &map, &args.path)?),
        None => None,
    };
    let typed = object
        .as_ref()
        .and_then(|object| TypedView::of(object, &map));
    if args.json {
        write!(
            out,
            "{{\"name\": {}, \"pinned\": {}, \"map\": ",
            tinybpf::json::quote(map.name()),
            tinybpf::json::quote(&args.path.display().to_string())
        )?;
        tinybpf::json::write_map_json(out, &map, typed.as_ref(), args.nonzero)?;
        writeln!(out, "}}")?;
        return Ok(());
    }
    writeln!(
        out,
        "map {} (pinned at {}): {}",
        map.name(),
        args.path.display(),
        describe_def(&map)
    )?;
    let options = TableOptions {
        nonzero_only: args.nonzero,
    };
    write_typed_map_table(out, &map, options, typed.as_ref())?;
    Ok(())
}

/// The object of `map show --object`, which must declare `map` as pinned.
fn declaring_object(path: &Path, map: &Map, pin: &Path) -> Result<Object, String> {
    let place = format!("map show --object {}", path.display());
    let object = Object::open(path).map_err(|e| format!("{place}: {e}"))?;
    let maps = &object.linked().maps;
    let Some(declared) = maps.iter().find(|m| m.name == map.name()) else {
        let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
        return Err(format!(
            "{place}: the object declares no map {} (maps: {}); give the object that pinned it",
            map.name(),
            names.join(", ")
        ));
    };
    if declared.def != *map.def() {
        return Err(format!(
            "{place}: its map {} is not the map pinned at {} (another type, size or number of entries); give the object that pinned it",
            map.name(),
            pin.display()
        ));
    }
    Ok(object)
}
