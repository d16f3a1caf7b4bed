//! Map keys and values as their BTF types show them: integers as numbers,
//! structs by member, arrays as lists, enums by name ([`TypedView`]), for
//! the table ([`write_typed_map_table`](crate::write_typed_map_table)) and
//! `--json`'s `"formatted"` form.

use tinybpf_loader::btf::value::{Limits, MapTypes, Value};
use tinybpf_loader::btf::{Btf, Type, TypeId};

use crate::map::Map;
use crate::maps_in::BytesProblem;
use crate::object::Object;

/// How one map's keys and values show by their BTF types.
#[derive(Debug, Clone)]
pub struct TypedView<'a> {
    types: MapTypes<'a>,
    /// Keys show formatted (their type is not an unsigned integer, which
    /// the table shows as a number already).
    keys: bool,
    /// Values show formatted.
    values: bool,
}

impl<'a> TypedView<'a> {
    /// The view of `map` (a map of `object`): `None` when the object's BTF
    /// types neither its keys nor its values.
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/btf_maps.o");
    /// let object = tinybpf::Object::open(path)?;
    /// let pairs = object.map("pairs")?;
    /// pairs.set_bytes_at(1, &[3, 0, 0, 0, 192, 0, 0, 0])?;
    /// let view = tinybpf::TypedView::of(&object, pairs).unwrap();
    /// let value = view.value(&pairs.get_bytes_at(1)?, false).unwrap();
    /// assert_eq!(value.to_string(), "{packets: 3, bytes: 192}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn of(object: &'a Object, map: &Map) -> Option<TypedView<'a>> {
        let linked = object.linked();
        let index = linked.maps.iter().position(|m| m.name == map.name())?;
        let types = MapTypes::of(linked, index)?;
        let btf = linked.btf.as_ref()?;
        let definition = &linked.maps[index];
        let keys = definition
            .key_type
            .is_some_and(|id| !reads_as_bytes(btf, id));
        let values = match definition.value_type {
            Some(id) => !reads_as_bytes(btf, id),
            None => !linked.variables.iter().all(|v| v.map_index != index),
        };
        Some(TypedView {
            types,
            keys,
            values,
        })
    }

    /// Whether keys read better formatted than as bytes and a number.
    pub fn formats_keys(&self) -> bool {
        self.keys
    }

    /// Whether values read better formatted than as bytes and a number.
    pub fn formats_values(&self) -> bool {
        self.values
    }

    /// A key formatted (`None` without a key type or when its bytes do not
    /// fit it); `full` for complete output, else cut to a table's width.
    pub fn key(&self, key: &[u8], full: bool) -> Option<Value> {
        self.types.format_key(key, limits(full))?.ok()
    }

    /// A value formatted, as [`TypedView::key`].
    pub fn value(&self, value: &[u8], full: bool) -> Option<Value> {
        self.types.format_value(value, limits(full))?.ok()
    }

    /// The map's types, to read keys and values back ([`MapTypes::encode_key`]).
    pub fn types(&self) -> &MapTypes<'a> {
        &self.types
    }
}

fn limits(full: bool) -> &'static Limits {
    if full { &Limits::FULL } else { &Limits::TABLE }
}

/// Whether `id` reads as well as bytes as formatted: (under typedefs and
/// qualifiers) an unsigned integer that is no `char` or `_Bool`, which the
/// table shows as a number too, or an array of such bytes (`__u8[1024]`),
/// which the table shows in hex with offsets.
fn reads_as_bytes(btf: &Btf, id: TypeId) -> bool {
    let unsigned = |id| {
        matches!(
            btf.resolved(id),
            Ok((_, Type::Int(int))) if !int.signed && !int.char && !int.bool
        )
    };
    match btf.resolved(id) {
        Ok((_, Type::Array(array))) => {
            unsigned(array.elem) && btf.size_of(array.elem).is_ok_and(|size| size == 1)
        }
        _ => unsigned(id),
    }
}

/// A `--maps-in` key written as JSON by the key's BTF type
/// (`{"prefixlen": 8, "addr": [10, 0, 0, 0]}`): `None` when the text is no
/// JSON object or list (a number or hex bytes, read as such).
pub(crate) fn read_key(
    object: &Object,
    map: &Map,
    text: &str,
) -> Option<Result<Vec<u8>, BytesProblem>> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with(['{', '[']) {
        return None;
    }
    let typed = TypedView::of(object, map);
    let encoded = typed.as_ref().and_then(|view| {
        let value = match Value::parse_json(text) {
            Ok(value) => value,
            Err(error) => return Some(Err(format!("is not JSON ({error})"))),
        };
        let encoded = view.types().encode_key(&value)?;
        Some(encoded.map_err(|error| format!("does not fit the key's type: {error}")))
    });
    Some(
        encoded
            .unwrap_or_else(|| Err(UNTYPED_KEY.to_owned()))
            .map_err(BytesProblem::Typed),
    )
}

const UNTYPED_KEY: &str = "is JSON, but BTF does not type the map's keys (declare them with __type(key, ...) and compile with -g)";

/// A `--maps-in` value written as JSON by the value's BTF type (an object
/// for a struct, a list for an array, `true`/`false`).
pub(crate) fn read_value(object: &Object, map: &Map, text: &str) -> Result<Vec<u8>, BytesProblem> {
    let value = Value::parse_json(text)
        .map_err(|error| BytesProblem::Typed(format!("is not JSON ({error})")))?;
    let typed = TypedView::of(object, map);
    let encoded = typed
        .as_ref()
        .and_then(|view| view.types().encode_value(&value));
    match encoded {
        Some(Ok(bytes)) => Ok(bytes),
        Some(Err(error)) => Err(BytesProblem::Typed(format!(
            "does not fit the value's type: {error}"
        ))),
        None => Err(BytesProblem::Typed(
            "is JSON, but BTF does not type the map's values (declare them with __type(value, ...) and compile with -g)".to_owned(),
        )),
    }
}

/// A `--maps-in` value string that is neither a number nor hex bytes, read
/// by the value's BTF type (an enumerator's name, a `char` array's string).
pub(crate) fn read_value_text(object: &Object, map: &Map, text: &str) -> Option<Vec<u8>> {
    let typed = TypedView::of(object, map)?;
    typed
        .types()
        .encode_value(&Value::Str(text.to_owned()))?
        .ok()
}
