//! The load-time passes, in the order [`pipeline`] runs them: the check and
//! translation of raw instructions, the lookup analysis and rewrite,
//! dead-code and dead-store elimination, constant addresses, and compaction
//! with fusion; the stack depth a program can reach; and the verifier of
//! what they produce.

pub(crate) mod compact;
pub(crate) mod const_addr;
pub(crate) mod ctx_access;
pub(crate) mod fuse;
pub(crate) mod liveness;
pub mod lookup;
pub mod pipeline;
pub(crate) mod stack_depth;
pub mod translate;
pub(crate) mod verify;
