//! The internal form programs are translated into and run from.

pub mod op;
