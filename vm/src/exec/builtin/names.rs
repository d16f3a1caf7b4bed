//! The kernel's helper ids and names (`enum bpf_func_id`), so that messages
//! and listings say `bpf_xdp_adjust_head (44)` instead of a bare number, and
//! tell a kernel helper tinybpf does not implement apart from an id the
//! kernel does not have.
//!
//! The table is generated from `linux/bpf.h` by `scripts/helper_names.sh`.

use std::fmt;

#[path = "names_table.rs"]
mod table;

use table::KERNEL_HELPER_NAMES;

/// The kernel's name of helper `id` (`bpf_map_lookup_elem` for 1), or `None`
/// when the kernel has no helper with that id (0 is `BPF_FUNC_unspec`).
///
/// ```
/// use tinybpf_vm::kernel_helper_name;
/// assert_eq!(kernel_helper_name(44), Some("bpf_xdp_adjust_head"));
/// assert_eq!(kernel_helper_name(0), None);
/// assert_eq!(kernel_helper_name(5000), None);
/// ```
pub fn kernel_helper_name(id: i64) -> Option<&'static str> {
    let index = usize::try_from(id).ok().filter(|&i| i > 0)?;
    KERNEL_HELPER_NAMES.get(index).copied()
}

/// The highest helper id the kernel defines.
pub const MAX_KERNEL_HELPER_ID: u32 = KERNEL_HELPER_NAMES.len() as u32 - 1;

/// A helper id as messages show it: `bpf_xdp_adjust_head (44)` for a kernel
/// helper, `helper 5000` for any other id.
///
/// ```
/// use tinybpf_vm::HelperName;
/// assert_eq!(HelperName(12).to_string(), "bpf_tail_call (12)");
/// assert_eq!(HelperName(-1).to_string(), "helper -1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperName(pub i64);

impl fmt::Display for HelperName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match kernel_helper_name(self.0) {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "helper {}", self.0),
        }
    }
}

/// Why a helper id is not callable, for the unknown-helper errors: a kernel
/// helper tinybpf does not implement, or an id the kernel does not have.
pub(crate) fn describe_missing(id: i128) -> String {
    match i64::try_from(id).ok().and_then(kernel_helper_name) {
        Some(name) => format!(
            "{name} ({id}), a kernel helper tinybpf does not implement (register one with Helpers::register)"
        ),
        None => format!(
            "helper {id}, which is no kernel helper (the kernel's helper ids are 1 to {MAX_KERNEL_HELPER_ID})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_uapi_header_and_semantics() {
        // Ids from SEMANTICS.md and linux/bpf.h's enum bpf_func_id.
        let known = [
            (1, "bpf_map_lookup_elem"),
            (2, "bpf_map_update_elem"),
            (3, "bpf_map_delete_elem"),
            (5, "bpf_ktime_get_ns"),
            (6, "bpf_trace_printk"),
            (7, "bpf_get_prandom_u32"),
            (8, "bpf_get_smp_processor_id"),
            (12, "bpf_tail_call"),
            (23, "bpf_redirect"),
            (25, "bpf_perf_event_output"),
            (28, "bpf_csum_diff"),
            (44, "bpf_xdp_adjust_head"),
            (51, "bpf_redirect_map"),
            (69, "bpf_fib_lookup"),
            (93, "bpf_spin_lock"),
            (125, "bpf_ktime_get_boot_ns"),
            (130, "bpf_ringbuf_output"),
            (131, "bpf_ringbuf_reserve"),
            (132, "bpf_ringbuf_submit"),
            (133, "bpf_ringbuf_discard"),
            (160, "bpf_ktime_get_coarse_ns"),
            (164, "bpf_for_each_map_elem"),
            (181, "bpf_loop"),
            (195, "bpf_map_lookup_percpu_elem"),
            (209, "bpf_user_ringbuf_drain"),
            (211, "bpf_cgrp_storage_delete"),
        ];
        for (id, name) in known {
            assert_eq!(kernel_helper_name(id), Some(name), "id {id}");
        }
        assert_eq!(MAX_KERNEL_HELPER_ID, 211);
        assert_eq!(kernel_helper_name(212), None);
        assert_eq!(kernel_helper_name(-44), None);
    }

    #[test]
    fn missing_helpers_are_told_apart() {
        assert!(describe_missing(44).starts_with("bpf_xdp_adjust_head (44), a kernel helper"));
        assert!(describe_missing(12345).contains("no kernel helper"));
        assert!(describe_missing(0).contains("no kernel helper"));
    }
}
