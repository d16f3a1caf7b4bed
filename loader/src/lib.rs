//! tinybpf-loader (work in progress)
