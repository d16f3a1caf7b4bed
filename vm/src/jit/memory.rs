//! Code memory: compiled bytes mapped writable, copied in, then made read
//! and execute (never writable and executable at once), and unmapped when
//! the program is dropped.

use memmap2::{Mmap, MmapMut};

use crate::jit::env::Env;

/// The entry point: the run's environment in, a status code out
/// (`env::DONE`, ...).
pub(crate) type EntryFn = unsafe extern "C" fn(env: *mut Env<'_>) -> u64;

/// A compiled program: its machine code and what the Rust side needs to
/// resume a run from it.
pub(crate) struct Code {
    /// Read and execute, position-independent, with no relocations.
    map: Mmap,
    /// Bytes of code.
    len: usize,
    /// For each local call site, the op its callee returns to.
    return_ops: Box<[usize]>,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code({} bytes at {:p})", self.len, self.map.as_ptr())
    }
}

impl Code {
    /// Maps `bytes`, which Cranelift produced for one function with no
    /// relocations, as executable code.
    pub(crate) fn new(bytes: &[u8], return_ops: Vec<usize>) -> Result<Code, String> {
        let mut writable = MmapMut::map_anon(bytes.len().max(1))
            .map_err(|e| format!("cannot map code memory: {e}"))?;
        writable[..bytes.len()].copy_from_slice(bytes);
        // mprotect to read+execute: the pages were never executable while
        // writable. x86-64 keeps instruction fetch coherent with the writes.
        let map = writable
            .make_exec()
            .map_err(|e| format!("cannot make code memory executable: {e}"))?;
        Ok(Code {
            map,
            len: bytes.len(),
            return_ops: return_ops.into(),
        })
    }

    /// Bytes of machine code.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The op local call site `site` returns to.
    pub(crate) fn return_op(&self, site: u64) -> Option<usize> {
        self.return_ops.get(usize::try_from(site).ok()?).copied()
    }

    /// The entry point.
    pub(crate) fn entry(&self) -> EntryFn {
        // SAFETY: the mapping starts with the code of a function compiled
        // for this host with the system's C calling convention and the
        // signature `(env: i64) -> i64` (see `codegen`); it stays mapped
        // as long as `self`, and callers call it only while they borrow
        // `self`.
        unsafe { std::mem::transmute::<*const u8, EntryFn>(self.map.as_ptr()) }
    }
}
