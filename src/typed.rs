//! Map keys and values as their BTF types show them: integers as numbers,
//! structs by member, arrays as lists, enums by name ([`TypedView`]), for
//! the table ([`write_typed_map_table`](crate::write_typed_map_table)) and
//! `--json`'s `"formatted"` form.

use tinybpf_loader::btf::value::{Limits, MapTypes, Value};
use tinybpf_loader::btf::{Btf, Type, TypeId};

use crate::map::Map;
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
        let keys = definition.key_type.is_some_and(|id| !is_unsigned(btf, id));
        let values = match definition.value_type {
            Some(id) => !is_unsigned(btf, id),
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

/// Whether `id` is (under typedefs and qualifiers) an unsigned integer that
/// is no `char` or `_Bool`: what the table already shows as a number.
fn is_unsigned(btf: &Btf, id: TypeId) -> bool {
    matches!(
        btf.resolved(id),
        Ok((_, Type::Int(int))) if !int.signed && !int.char && !int.bool
    )
}
