//! Global variables by name: an object's `.data`, `.bss` and `.rodata`
//! variables read ([`Object::global`], [`Object::globals`]) and set
//! ([`Object::set_globals`]) by their BTF types, as a libbpf skeleton sets
//! them: a `.rodata` variable (`const volatile`) before its map is created
//! and frozen, the others at any time.

use tinybpf_loader::btf::value::{Assignment, Limits, Patch, Value, assign_global, format_global};
use tinybpf_loader::{GlobalVariable, ObjectMapKind};
use tinybpf_maps::{BPF_ANY, BPF_F_RDONLY_PROG};

use crate::error::{Error, GlobalProblem};
use crate::object::Object;
use crate::value::Plain;

/// A global variable with its current value, as [`Object::globals`] gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// The variable's name.
    pub name: String,
    /// Its data section (`.data`, `.bss`, `.rodata`, ...).
    pub section: String,
    /// Its C type, as BTF spells it (`struct config`, `__u32[3]`).
    pub type_name: String,
    /// Its value, formatted by its type (integers as numbers, structs by
    /// member, arrays as lists).
    pub value: Value,
}

impl Object {
    /// The variables of the object's data sections, in section and offset
    /// order, with their current values (from the live map when it was
    /// created, else the values the object starts with).
    pub fn globals(&self) -> Result<Vec<Global>, Error> {
        let Some(btf) = self.linked().btf.as_ref() else {
            return Ok(Vec::new());
        };
        let mut globals = Vec::new();
        for variable in &self.linked().variables {
            let Some(type_id) = variable.type_id else {
                continue;
            };
            let section = self.section_bytes(variable.map_index)?;
            let value =
                format_global(btf, variable, &section, &Limits::TABLE).map_err(|source| {
                    self.global_error(&variable.name, GlobalProblem::Value(Box::new(source)))
                })?;
            globals.push(Global {
                name: variable.name.clone(),
                section: variable.section.clone(),
                type_name: btf.type_name(type_id),
                value,
            });
        }
        Ok(globals)
    }

    /// Reads global variable `name` as `T`, which must have the variable's
    /// size.
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf::Error> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/btf_globals.o");
    /// let mut object = tinybpf::Object::open(path)?;
    /// assert_eq!(object.global::<u32>("limit")?, 100);
    /// // A `const volatile` variable is set before the program is loaded,
    /// // as a libbpf skeleton sets it; the whole list or nothing.
    /// object.set_globals(["limit=20", "config.scale=10"])?;
    /// let program = object.program("btf_globals")?;
    /// assert_eq!(program.run(&mut [])?.retval, 69); // 10 * 7 - 2 + 1
    /// assert_eq!(object.global::<i64>("total")?, -5 + 68);
    /// assert!(object.set_globals(["limit=2"]).is_err()); // frozen now
    /// # Ok(())
    /// # }
    /// ```
    pub fn global<T: Plain>(&self, name: &str) -> Result<T, Error> {
        let variable = self.variable(name)?;
        let section = self.section_bytes(variable.map_index)?;
        let start = variable.offset as usize;
        let bytes = section
            .get(start..start.saturating_add(variable.size as usize))
            .unwrap_or_default();
        T::from_bytes(bytes).ok_or_else(|| {
            self.global_error(
                name,
                GlobalProblem::Size {
                    size: T::SIZE,
                    variable_size: variable.size,
                },
            )
        })
    }

    /// Sets global variables, each by an assignment `NAME=VALUE` or
    /// `NAME.member[index]=VALUE` (`limit=5`, `config.scale=3`,
    /// `config={"scale": 3, "mode": 1}`, `name=eth0`), the value read by its
    /// BTF type. All are checked first: an unknown name, a value that does
    /// not fit its type, or a `.rodata` variable whose map was already
    /// created (and so frozen) sets none. `.data` and `.bss` variables can
    /// be set at any time, also between runs: the section's value is read,
    /// patched and written back whole, so set them while no program runs
    /// (a program's store to another variable of the section meanwhile
    /// would be lost).
    pub fn set_globals<'a>(
        &mut self,
        assignments: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Error> {
        let sections = self.plan_globals(assignments)?;
        for (index, bytes) in sections {
            match self.created_map(index) {
                Some(map) => map.update_bytes(&0u32.to_le_bytes(), &bytes, BPF_ANY)?,
                None => self.set_initial_data(index, bytes),
            }
        }
        Ok(())
    }

    /// Checks one assignment as [`Object::set_globals`] would apply it,
    /// setting nothing: to find which of several is wrong.
    pub fn check_global(&self, assignment: &str) -> Result<(), Error> {
        self.plan_globals([assignment]).map(drop)
    }

    /// The new bytes of each data section the assignments change.
    fn plan_globals<'a>(
        &self,
        assignments: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<(usize, Vec<u8>)>, Error> {
        let mut sections: Vec<(usize, Vec<u8>)> = Vec::new();
        for text in assignments {
            let assignment = Assignment::parse(text).map_err(|source| Error::GlobalSyntax {
                object: self.name().to_owned(),
                text: text.to_owned(),
                source,
            })?;
            let variable = self.variable(&assignment.name)?.clone();
            let index = variable.map_index;
            let created = self.created_map(index).is_some();
            if created && self.is_read_only(index) {
                return Err(self.global_error(
                    &variable.name,
                    GlobalProblem::Frozen {
                        section: variable.section.clone(),
                    },
                ));
            }
            let position = match sections.iter().position(|(i, _)| *i == index) {
                Some(position) => position,
                None => {
                    sections.push((index, self.section_bytes(index)?));
                    sections.len() - 1
                }
            };
            let patch = self.patch(&variable, &sections[position].1, &assignment)?;
            if !patch.apply_to(&mut sections[position].1) {
                return Err(self.global_error(
                    &variable.name,
                    GlobalProblem::Outside {
                        section: variable.section.clone(),
                    },
                ));
            }
        }
        Ok(sections)
    }

    fn patch(
        &self,
        variable: &GlobalVariable,
        section: &[u8],
        assignment: &Assignment,
    ) -> Result<Patch, Error> {
        let btf = self.linked().btf.as_ref();
        let result = match btf {
            Some(btf) => assign_global(btf, variable, section, assignment),
            None => {
                return Err(self.global_error(&variable.name, GlobalProblem::NoBtf));
            }
        };
        result.map_err(|source| {
            self.global_error(&variable.name, GlobalProblem::Value(Box::new(source)))
        })
    }

    fn variable(&self, name: &str) -> Result<&GlobalVariable, Error> {
        self.linked()
            .variable(name)
            .ok_or_else(|| Error::NoSuchGlobal {
                object: self.name().to_owned(),
                name: name.to_owned(),
                available: crate::object::join_or_none(
                    self.linked().variables.iter().map(|v| v.name.as_str()),
                ),
            })
    }

    /// The bytes of data section map `index`: the live map's value, or the
    /// initial bytes (zeros for `.bss`).
    fn section_bytes(&self, index: usize) -> Result<Vec<u8>, Error> {
        if let Some(map) = self.created_map(index) {
            return map.get_bytes_at(0);
        }
        let definition = &self.linked().maps[index];
        Ok(definition
            .initial_data
            .clone()
            .unwrap_or_else(|| vec![0; definition.def.value_size as usize]))
    }

    /// Whether map `index` is a read-only (frozen once created) data section.
    fn is_read_only(&self, index: usize) -> bool {
        let map = &self.linked().maps[index];
        matches!(map.kind, ObjectMapKind::GlobalData { .. })
            && map.def.map_flags & BPF_F_RDONLY_PROG != 0
    }

    fn global_error(&self, name: &str, problem: GlobalProblem) -> Error {
        Error::Global {
            object: self.name().to_owned(),
            name: name.to_owned(),
            problem,
        }
    }
}
