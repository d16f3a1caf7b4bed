//! Readable names for the map references of linked code, for disassembly.

use tinybpf_vm::isa::insn::{Insn, pseudo};

use crate::link::LinkedProgram;
use crate::object::Object;

impl Object {
    /// The name of map `index` of [`Object::maps`].
    pub fn map_name(&self, index: usize) -> Option<&str> {
        self.maps.get(index).map(|m| m.name.as_str())
    }

    /// A name for the address `offset` bytes into the value of map
    /// `map_index` (of [`Object::maps`]): the variable at that address
    /// (`counter`), a place inside one (`table+8`), or the section and
    /// offset (`.data+8`).
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf_loader::LoadError> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/globals.o");
    /// let object = tinybpf_loader::Object::open(path)?;
    /// let data = object.maps.iter().position(|m| m.name == ".data").unwrap();
    /// assert_eq!(object.value_name(data, 0).as_deref(), Some("data_first"));
    /// assert_eq!(object.value_name(data, 12).as_deref(), Some("data_second+4"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn value_name(&self, map_index: usize, offset: u32) -> Option<String> {
        let map = self.maps.get(map_index)?;
        // Variables are sorted by map, then offset: those of this map that
        // start at or before `offset`, found by binary search (a listing
        // names every lddw, so a scan would be quadratic).
        let first = self.variables.partition_point(|v| v.map_index < map_index);
        let end = first
            + self.variables[first..]
                .partition_point(|v| v.map_index == map_index && v.offset <= offset);
        let before = &self.variables[first..end];
        let at = before.partition_point(|v| v.offset < offset);
        if let Some(v) = before.get(at) {
            return Some(v.name.clone());
        }
        // A variable that holds `offset`: one of those starting last before
        // it (variables do not overlap in what clang emits).
        let last_start = before.last().map(|v| v.offset);
        let inside = before
            .iter()
            .rev()
            .take_while(|v| Some(v.offset) == last_start)
            .find(|v| u64::from(offset) < u64::from(v.offset) + u64::from(v.size))
            .map(|v| format!("{}+{}", v.name, offset - v.offset));
        Some(inside.unwrap_or_else(|| {
            if offset == 0 {
                map.name.clone()
            } else {
                format!("{}+{offset}", map.name)
            }
        }))
    }
}

impl LinkedProgram {
    /// The name an `lddw` (its two slots) of this program's code refers to:
    /// the map's name for `src` 5, the variable or section offset for `src`
    /// 6, `None` for a plain 64-bit constant or an index out of range.
    pub fn lddw_name(&self, object: &Object, first: &Insn, second: &Insn) -> Option<String> {
        let local = usize::try_from(first.imm).ok()?;
        let index = *self.maps.get(local)?;
        match first.src {
            pseudo::MAP_IDX => object.map_name(index).map(str::to_owned),
            pseudo::MAP_IDX_VALUE => object.value_name(index, u32::try_from(second.imm).ok()?),
            _ => None,
        }
    }
}
