//! tinybpf-maps (work in progress)
