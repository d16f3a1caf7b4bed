//! Loading a linked program into the VM with the object's maps.

use tinybpf_maps::ArrayMap;
use tinybpf_vm::{LoadedProgram, ProgramOptions};

use crate::error::LoadError;
use crate::object::ObjectProgram;

impl ObjectProgram {
    /// Checks and translates the program for the VM.
    ///
    /// `maps` is the map table its `lddw` instructions index: the maps of
    /// [`Object::create_maps`](crate::Object::create_maps), in the same order.
    /// `options` gives the helpers and the VM's settings; its `kind` and
    /// `maps` are replaced by the program's kind and `maps`.
    ///
    /// ```
    /// # fn main() -> Result<(), tinybpf_loader::LoadError> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/subprograms.o");
    /// let object = tinybpf_loader::Object::open(path)?;
    /// let maps = object.create_maps()?;
    /// let program = object.require_program("entry")?.load(&maps, Default::default())?;
    /// let outcome = program.run(&mut [0u8; 64]).expect("runs");
    /// assert_eq!(outcome.retval, 2); // XDP_PASS
    /// // store(0, square(5) * scale + 1), with scale = 3 in .data
    /// assert_eq!(maps[0].lookup(&0u32.to_le_bytes()).unwrap(), 76u64.to_le_bytes());
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(
        &self,
        maps: &[ArrayMap],
        options: ProgramOptions,
    ) -> Result<LoadedProgram, LoadError> {
        let options = ProgramOptions {
            kind: self.kind,
            maps: maps.to_vec(),
            ..options
        };
        LoadedProgram::from_insns(&self.code, options).map_err(|source| match source {
            tinybpf_vm::VerifyError::Invalid { pc, kind } => match self.origin(pc) {
                Some((function, insn)) => LoadError::InvalidInstruction {
                    object: self.object.clone(),
                    program: self.name.clone(),
                    section: function.section.clone(),
                    function: function.name.clone(),
                    insn,
                    source: Box::new(kind),
                },
                None => LoadError::Vm {
                    object: self.object.clone(),
                    program: self.name.clone(),
                    source: tinybpf_vm::VerifyError::Invalid { pc, kind },
                },
            },
            source => LoadError::Vm {
                object: self.object.clone(),
                program: self.name.clone(),
                source,
            },
        })
    }
}
