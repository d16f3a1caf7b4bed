//! Pinned maps: an array whose values live in a file, shared by every
//! process that maps it (beyond the kernel patch; this is how a second
//! process watches counters while programs run). Any array can be pinned;
//! only one created with `BPF_F_MMAPABLE` also gives memory-mapped views
//! ([`ArrayMap::view`]), as in the kernel.
//!
//! The file is one header page followed by the value area (page-rounded
//! for an mmapable array, as its allocation is):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 8 | magic `b"TBPFPIN\0"` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | header length (4096) |
//! | 16 | 20 | `map_type`, `key_size`, `value_size`, `max_entries`, `map_flags` |
//! | 36 | 4 | frozen flag (0 or 1), updated atomically in place |
//! | 40 | 8 | `value_area_len` |
//! | 48 | .. | zero up to 4096 |
//!
//! All integers are little-endian. Both the header's frozen flag and the
//! values are accessed through the shared mapping with atomic operations, so
//! processes see each other's writes and freezes at once. The count of
//! writable views is per process: freezing in one process does not wait for
//! another process's writable views.
//!
//! # Hostile files and the SIGBUS question
//!
//! A shared file mapping faults (`SIGBUS`) when a page has no backing: a
//! sparse file on a full filesystem, or a file shortened while mapped. The
//! choices, and why:
//!
//! - **Space is reserved at creation** with `posix_fallocate` (not
//!   `File::set_len`, which makes a sparse file whose first store into a
//!   hole fails on a full disk): creation fails with a clean `ENOSPC` I/O
//!   error instead of a later store killing the process.
//! - **Only regular files are mapped.** Creation uses `O_CREAT|O_EXCL`
//!   (never follows or reuses an existing path) and mode `0600`, so only
//!   the owner (or root) can open, write or shorten the file. Opening uses
//!   `O_NOFOLLOW|O_NONBLOCK` (a symbolic link fails, a FIFO does not block),
//!   then refuses anything but a regular file from the open descriptor's
//!   own metadata (no check-then-open race), then validates the header
//!   against the file's real size before mapping.
//! - **Shortening a mapped file is outside what tinybpf can make safe**, so
//!   it is a documented outcome: a later access to a page past the new end
//!   raises `SIGBUS`, which terminates the process (a defined signal, not
//!   memory corruption: no access ever reads or writes another object).
//!   The alternatives were weighed and refused: checking the size before
//!   each user-space access leaves program accesses (plain loads and stores
//!   into the region) unprotected and still races; a process-wide `SIGBUS`
//!   handler that patches in zero pages is global state that would fight
//!   any handler the embedding program installs; a sealed `memfd` cannot
//!   shrink but cannot be opened by path from another process, which is the
//!   point of pinning; copying the file into private memory gives up live
//!   sharing. Only a process of the same user can shorten a `0600` file,
//!   and such a process can equally kill or trace this one. A file that
//!   was shortened *before* it is opened is refused with
//!   [`crate::PinError::SizeMismatch`].

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use crate::array::{ArrayMap, MapInner};
use crate::def::{MapDef, PAGE_SIZE};
use crate::error::{MapError, PinError};
use crate::storage::ValueMemory;

/// The first 8 bytes of every pin file.
pub const PIN_MAGIC: [u8; 8] = *b"TBPFPIN\0";
/// The pin file format version this build writes and reads.
pub const PIN_FORMAT_VERSION: u32 = 1;
/// The length of the header page that precedes the values.
pub const PIN_HEADER_LEN: usize = PAGE_SIZE;
/// Byte offset of the frozen flag (a `u32`, 0 or 1) in the pin header.
pub(crate) const FROZEN_OFFSET: usize = 36;
/// Bytes of the header that carry fields (the rest of the page is zero).
const HEADER_FIELDS_LEN: usize = 48;

impl ArrayMap {
    /// Creates a map backed by a new file at `path` (which must not exist),
    /// mapped shared: other processes may [`ArrayMap::open_pinned`] it and
    /// see and make updates live. The definition must pass the array checks.
    /// The file outlives the map; remove it when no longer needed.
    ///
    /// ```
    /// use tinybpf_maps::{ArrayMap, BPF_ANY, BPF_F_MMAPABLE, MapDef};
    /// let dir = std::env::temp_dir().join(format!("tinybpf-doc-pin-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&dir);
    /// let def = MapDef::array(8, 4).with_flags(BPF_F_MMAPABLE);
    /// let map = ArrayMap::create_pinned(&dir, def).unwrap();
    /// let other = ArrayMap::open_pinned(&dir).unwrap();
    /// map.update(&2u32.to_le_bytes(), &9u64.to_le_bytes(), BPF_ANY).unwrap();
    /// assert_eq!(other.lookup(&2u32.to_le_bytes()).unwrap(), 9u64.to_le_bytes());
    /// std::fs::remove_file(&dir).unwrap();
    /// ```
    pub fn create_pinned(path: &Path, def: MapDef) -> Result<ArrayMap, PinError> {
        let invalid = |source| PinError::InvalidDef {
            path: path.to_path_buf(),
            source,
        };
        let layout = def.check().map_err(invalid)?;
        let total = file_len(layout.alloc_len).ok_or_else(|| {
            invalid(MapError::SizeOverflow {
                max_entries: def.max_entries,
                elem_size: layout.elem_size,
            })
        })?;
        let io = |operation| io_error(path, operation);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(io("create the pin file"))?;
        file.write_all(&encode_header(&def, layout.value_area_len))
            .map_err(io("write the header"))?;
        reserve_space(&file, total).map_err(io("reserve the pin file's space"))?;
        map_file(path, &file, def, total)
    }

    /// Opens a map pinned by [`ArrayMap::create_pinned`] (in this or another
    /// process). The header is validated: magic, format version, header
    /// length, the definition (a valid array), the frozen flag, and
    /// the file's length. Writes through either map are seen by the other.
    pub fn open_pinned(path: &Path) -> Result<ArrayMap, PinError> {
        let io = |operation| io_error(path, operation);
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && meta.file_type().is_symlink()
        {
            return Err(PinError::NotRegularFile {
                path: path.to_path_buf(),
                kind: "a symbolic link",
            });
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(io("open the pin file"))?;
        let meta = file
            .metadata()
            .map_err(io("read the pin file's metadata"))?;
        if !meta.file_type().is_file() {
            return Err(PinError::NotRegularFile {
                path: path.to_path_buf(),
                kind: file_kind(&meta.file_type()),
            });
        }
        let actual = meta.len();
        let mut header = Vec::with_capacity(HEADER_FIELDS_LEN);
        (&mut file)
            .take(HEADER_FIELDS_LEN as u64)
            .read_to_end(&mut header)
            .map_err(io("read the header"))?;
        let def = decode_header(path, &header)?;
        let layout = def.check().map_err(|source| PinError::InvalidDef {
            path: path.to_path_buf(),
            source,
        })?;
        let recorded_area = u64_at(&header, 40);
        if u64::try_from(layout.value_area_len).ok() != Some(recorded_area) {
            return Err(PinError::BadHeader {
                path: path.to_path_buf(),
                reason: format!(
                    "value_area_len is {recorded_area}, the definition needs {}",
                    layout.value_area_len
                ),
            });
        }
        let expected = file_len(layout.alloc_len).ok_or_else(|| PinError::InvalidDef {
            path: path.to_path_buf(),
            source: MapError::SizeOverflow {
                max_entries: def.max_entries,
                elem_size: layout.elem_size,
            },
        })?;
        if actual != expected {
            return Err(PinError::SizeMismatch {
                path: path.to_path_buf(),
                expected,
                actual,
            });
        }
        map_file(path, &file, def, expected)
    }
}

/// Allocates the file's blocks up to `len` bytes (extending it), so that no
/// store into the mapping can meet a hole on a full filesystem.
fn reserve_space(file: &File, len: u64) -> std::io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|_| std::io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: the descriptor is open for writing and owned by `file` for the
    // whole call; posix_fallocate touches no memory of this process.
    let result = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if result != 0 {
        return Err(std::io::Error::from_raw_os_error(result));
    }
    Ok(())
}

/// A name for a non-regular file type.
fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Header page plus the value pages, as a file length.
fn file_len(alloc_len: usize) -> Option<u64> {
    u64::try_from(PIN_HEADER_LEN.checked_add(alloc_len)?).ok()
}

/// Maps the whole (validated) file shared and wraps it as a map.
fn map_file(path: &Path, file: &File, def: MapDef, expected: u64) -> Result<ArrayMap, PinError> {
    let layout = def.check().map_err(|source| PinError::InvalidDef {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: the mapping is shared with other processes, which is the point:
    // tinybpf never forms references to its bytes, only atomic accesses, so
    // their concurrent writes are not UB. The file is a regular file whose
    // size was just checked and whose blocks are reserved; shortening it
    // while mapped (another process of the same user) makes later accesses
    // past the new end raise SIGBUS: see the module docs.
    let mapping =
        unsafe { memmap2::MmapOptions::new().map_mut(file) }.map_err(|source| PinError::Io {
            path: path.to_path_buf(),
            operation: "map the pin file",
            source,
        })?;
    let mapped = mapping.len() as u64;
    if mapped != expected {
        return Err(PinError::SizeMismatch {
            path: path.to_path_buf(),
            expected,
            actual: mapped,
        });
    }
    // SAFETY: the mapping is PIN_HEADER_LEN + alloc_len bytes long (checked
    // just above), PIN_HEADER_LEN is a page multiple, and from here on its
    // bytes are only accessed atomically.
    let memory = unsafe { ValueMemory::from_mapping(mapping, PIN_HEADER_LEN, layout.alloc_len) };
    Ok(ArrayMap {
        inner: Arc::new(MapInner::new(def, layout, memory)),
    })
}

fn encode_header(def: &MapDef, value_area_len: usize) -> Vec<u8> {
    let mut header = vec![0u8; PIN_HEADER_LEN];
    header[0..8].copy_from_slice(&PIN_MAGIC);
    header[8..12].copy_from_slice(&PIN_FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&(PIN_HEADER_LEN as u32).to_le_bytes());
    let fields = [
        def.map_type,
        def.key_size,
        def.value_size,
        def.max_entries,
        def.map_flags,
    ];
    for (i, field) in fields.iter().enumerate() {
        header[16 + 4 * i..20 + 4 * i].copy_from_slice(&field.to_le_bytes());
    }
    // frozen flag at FROZEN_OFFSET stays 0.
    header[40..48].copy_from_slice(&(value_area_len as u64).to_le_bytes());
    header
}

/// Validates the fixed header fields and returns the recorded definition.
fn decode_header(path: &Path, header: &[u8]) -> Result<MapDef, PinError> {
    let mut magic = [0u8; 8];
    let magic_len = header.len().min(8);
    magic[..magic_len].copy_from_slice(&header[..magic_len]);
    if magic != PIN_MAGIC {
        return Err(PinError::BadMagic {
            path: path.to_path_buf(),
            found: magic,
        });
    }
    if header.len() < HEADER_FIELDS_LEN {
        return Err(PinError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("file ends after {} bytes, inside the header", header.len()),
        });
    }
    let version = u32_at(header, 8);
    if version != PIN_FORMAT_VERSION {
        return Err(PinError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: PIN_FORMAT_VERSION,
        });
    }
    let header_len = u32_at(header, 12);
    if usize::try_from(header_len).ok() != Some(PIN_HEADER_LEN) {
        return Err(PinError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("header length is {header_len}, expected {PIN_HEADER_LEN}"),
        });
    }
    let frozen = u32_at(header, FROZEN_OFFSET);
    if frozen > 1 {
        return Err(PinError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("frozen flag is {frozen}, not 0 or 1"),
        });
    }
    let def = MapDef {
        map_type: u32_at(header, 16),
        key_size: u32_at(header, 20),
        value_size: u32_at(header, 24),
        max_entries: u32_at(header, 28),
        map_flags: u32_at(header, 32),
    };
    Ok(def)
}

/// The little-endian `u32` at `at`; the caller checked that `header` holds
/// `HEADER_FIELDS_LEN` bytes.
fn u32_at(header: &[u8], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&header[at..at + 4]);
    u32::from_le_bytes(bytes)
}

fn u64_at(header: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&header[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Wraps an I/O error on the pin file at `path` during `operation`.
fn io_error(path: &Path, operation: &'static str) -> impl FnOnce(std::io::Error) -> PinError {
    let path = path.to_path_buf();
    move |source| PinError::Io {
        path,
        operation,
        source,
    }
}
