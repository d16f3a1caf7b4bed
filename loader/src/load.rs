//! Loading a linked program into the VM with its maps.

use tinybpf_maps::{BpfMap, MapError, MapType};
use tinybpf_vm::{InvalidInsn, LoadedProgram, ProgramOptions, VerifyError};

use crate::error::{HelperRefusal, LoadError, LoadErrorKind};
use crate::link::LinkedProgram;

impl LinkedProgram {
    /// Checks and translates the program for the VM.
    ///
    /// `maps` is the map table its `lddw` instructions index: one map per
    /// entry of [`LinkedProgram::maps`], in the same order (see
    /// [`Object::create_maps_for`](crate::Object::create_maps_for)).
    /// `options` gives the helpers and the VM's settings; its `kind` and
    /// `maps` are replaced by the program's kind and `maps`.
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf_loader::LoadError> {
    /// use tinybpf_loader::{CreateOptions, Object};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/subprograms.o");
    /// let object = Object::open(path)?;
    /// let linked = object.link("entry")?;
    /// let maps = object.create_maps_for(&linked, &CreateOptions::default())?;
    /// let program = linked.load(&maps, Default::default())?;
    /// let outcome = program.run(&mut [0u8; 64]).expect("runs");
    /// assert_eq!(outcome.retval, 2); // XDP_PASS
    /// // store(0, square(5) * scale + 1), with scale = 3 in .data
    /// let results = linked.maps.iter().position(|&m| object.maps[m].name == "results").unwrap();
    /// assert_eq!(maps[results].lookup(&0u32.to_le_bytes()).unwrap(), 76u64.to_le_bytes());
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(
        &self,
        maps: &[BpfMap],
        options: ProgramOptions,
    ) -> Result<LoadedProgram, LoadError> {
        let options = ProgramOptions {
            kind: self.kind,
            maps: maps.to_vec(),
            ..options
        };
        LoadedProgram::from_insns(&self.code, options)
            .map_err(|source| LoadError::new(&self.object, self.verify_error(source)))
    }

    /// The VM's rejection, placed at the section and instruction it came from.
    pub fn verify_error(&self, source: VerifyError) -> LoadErrorKind {
        match source {
            VerifyError::Invalid { pc, kind } => match (self.origin(pc), kind) {
                (Some((function, insn)), InvalidInsn::MapHelperRefused(refusal)) => {
                    match refusal.source {
                        MapError::NotFromPrograms {
                            map_type,
                            operation,
                        } => LoadErrorKind::MapHelperRefused {
                            program: self.name.clone(),
                            section: function.section.clone(),
                            function: function.name.clone(),
                            insn,
                            refusal: Box::new(HelperRefusal {
                                helper: refusal.helper,
                                map: self
                                    .map_names
                                    .get(refusal.map)
                                    .cloned()
                                    .unwrap_or_else(|| format!("#{}", refusal.map)),
                                type_name: MapType::name(map_type),
                                operation,
                            }),
                        },
                        _ => LoadErrorKind::InvalidInstruction {
                            program: self.name.clone(),
                            section: function.section.clone(),
                            function: function.name.clone(),
                            insn,
                            source: Box::new(InvalidInsn::MapHelperRefused(refusal)),
                        },
                    }
                }
                (Some((function, insn)), kind) => LoadErrorKind::InvalidInstruction {
                    program: self.name.clone(),
                    section: function.section.clone(),
                    function: function.name.clone(),
                    insn,
                    source: Box::new(kind),
                },
                (None, kind) => LoadErrorKind::Vm {
                    program: self.name.clone(),
                    source: VerifyError::Invalid { pc, kind },
                },
            },
            source => LoadErrorKind::Vm {
                program: self.name.clone(),
                source,
            },
        }
    }
}
