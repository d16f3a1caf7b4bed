//! Pinned maps: an mmapable array backed by a file that other processes open.

/// Byte offset of the frozen flag (a `u32`, 0 or 1) in the pin header.
pub(crate) const FROZEN_OFFSET: usize = 36;
