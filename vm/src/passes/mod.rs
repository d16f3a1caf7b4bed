//! The load-time passes: the check and translation of raw instructions, the
//! lookup analysis and rewrite, dead-code and dead-store elimination,
//! constant addresses, and compaction with fusion.

pub(crate) mod compact;
pub(crate) mod const_addr;
pub(crate) mod fuse;
pub(crate) mod liveness;
pub mod lookup;
pub mod translate;
