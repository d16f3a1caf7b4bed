//! Readable names for the map references of linked code, for disassembly.

use tinybpf_vm::isa::insn::{Insn, pseudo};

use crate::object::Object;

impl Object {
    /// The name of map `index`: what an `lddw` with `src` 5 and `imm = index` refers to.
    pub fn map_name(&self, index: usize) -> Option<&str> {
        self.maps.get(index).map(|m| m.name.as_str())
    }

    /// A name for the address `offset` bytes into the value of map `map_index`
    /// (an `lddw` with `src` 6): the variable at that address (`counter`), a
    /// place inside one (`table+8`), or the section and offset (`.data+8`).
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
        let variables = || self.variables.iter().filter(|v| v.map_index == map_index);
        if let Some(exact) = variables().find(|v| v.offset == offset) {
            return Some(exact.name.clone());
        }
        if let Some(inside) = variables().find(|v| {
            offset > v.offset && u64::from(offset) < u64::from(v.offset) + u64::from(v.size)
        }) {
            return Some(format!("{}+{}", inside.name, offset - inside.offset));
        }
        Some(if offset == 0 {
            map.name.clone()
        } else {
            format!("{}+{offset}", map.name)
        })
    }

    /// The name an `lddw` (its two slots) refers to in linked code: the map's
    /// name for `src` 5, the variable or section offset for `src` 6, `None`
    /// for a plain 64-bit constant or an index out of range.
    pub fn lddw_name(&self, first: &Insn, second: &Insn) -> Option<String> {
        let index = usize::try_from(first.imm).ok()?;
        match first.src {
            pseudo::MAP_IDX => self.map_name(index).map(str::to_owned),
            pseudo::MAP_IDX_VALUE => self.value_name(index, u32::try_from(second.imm).ok()?),
            _ => None,
        }
    }
}
