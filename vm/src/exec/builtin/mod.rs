//! tinybpf's implementations of kernel helpers beyond the map helpers (which
//! live with the registry in `exec::helpers`), one family per module, and
//! the kernel's helper names.

pub(crate) mod callbacks;
pub(crate) mod checksum;
pub(crate) mod events;
pub(crate) mod fib;
pub mod names;
pub mod redirect;
pub(crate) mod spin_lock;
pub mod tail_call;
pub mod time;
