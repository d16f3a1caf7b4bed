//! tinybpf facade
pub use tinybpf_maps as maps;
pub use tinybpf_vm as vm;
pub use tinybpf_loader as loader;
