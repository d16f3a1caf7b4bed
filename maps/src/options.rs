//! What a map is created with besides its definition: the number of
//! possible CPUs (for per-CPU maps) and the memory budget of its object.

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::MapError;

/// Options of [`crate::BpfMap::create`].
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// The number of possible CPUs: per-CPU maps hold one value per CPU,
    /// CPU indexes run from 0 to `possible_cpus - 1`, and a
    /// `PERF_EVENT_ARRAY` defined with `max_entries` 0 gets this many
    /// entries. At least 1. Defaults to [`host_possible_cpus`].
    pub possible_cpus: u32,
    /// The budget the map is charged to, shared by the maps of one object;
    /// `None` charges nothing.
    pub memory: Option<MemoryBudget>,
    /// The capacity, in bytes, of each `PERF_EVENT_ARRAY` entry's event
    /// buffer (what a perf ring of that many bytes holds); records that do
    /// not fit are counted as lost. Defaults to [`DEFAULT_PERF_BUFFER_BYTES`].
    pub perf_buffer_bytes: usize,
}

/// The default per-entry perf event buffer: 64 pages, libbpf's usual
/// `perf_buffer__new` size.
pub const DEFAULT_PERF_BUFFER_BYTES: usize = 64 * 4096;

impl Default for MapOptions {
    fn default() -> MapOptions {
        MapOptions {
            possible_cpus: host_possible_cpus(),
            memory: None,
            perf_buffer_bytes: DEFAULT_PERF_BUFFER_BYTES,
        }
    }
}

impl MapOptions {
    /// Options with `possible_cpus` CPUs and no budget.
    pub fn with_cpus(possible_cpus: u32) -> MapOptions {
        MapOptions {
            possible_cpus,
            ..MapOptions::default()
        }
    }

    /// The same options charging `budget`.
    pub fn with_budget(self, budget: MemoryBudget) -> MapOptions {
        MapOptions {
            memory: Some(budget),
            ..self
        }
    }
}

/// The host's possible CPUs, counted as the kernel and libbpf do: the CPUs
/// listed in `/sys/devices/system/cpu/possible` (e.g. `0-3` is 4, `0,2-5`
/// is 5), falling back to [`std::thread::available_parallelism`] when the
/// file cannot be read or parsed. Always at least 1.
pub fn host_possible_cpus() -> u32 {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|text| parse_cpu_list(&text))
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok())
        })
        .unwrap_or(1)
        .max(1)
}

/// Counts the CPUs of a kernel CPU list (`0-3,5`); `None` when malformed.
pub fn parse_cpu_list(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut count: u32 = 0;
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let cpu = part.trim().parse::<u32>().ok()?;
                (cpu, cpu)
            }
        };
        if last < first {
            return None;
        }
        count = count.checked_add(last - first + 1)?;
    }
    Some(count)
}

/// A limit on the memory the maps of one object may reserve.
///
/// Cheap to clone; clones share the limit and the amount used. Each map
/// charges its full reserved size at creation (value areas including every
/// per-CPU slice, keys and index arrays, ring and event buffers) and
/// releases it when its last handle is dropped. A creation that would pass
/// the limit fails with `ENOMEM`, as the kernel's memory cgroup charge does.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::new(BudgetInner {
                limit,
                used: AtomicU64::new(0),
            }),
        }
    }

    /// The default budget: a quarter of the host's physical memory (`MemTotal`
    /// of `/proc/meminfo`), or 1 GiB when that cannot be read. A quarter
    /// leaves room for the rest of the process and for other objects while
    /// still admitting any map a real program needs.
    pub fn default_for_host() -> MemoryBudget {
        MemoryBudget::new(host_memory_bytes().map_or(1 << 30, |total| total / 4))
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// The bytes charged by the maps alive now.
    pub fn used(&self) -> u64 {
        self.inner.used.load(Ordering::Acquire)
    }

    /// Charges `bytes`, or fails with `ENOMEM` when they do not fit; the
    /// charge is released when the returned value is dropped.
    pub fn charge(&self, bytes: u64) -> Result<MemoryCharge, MapError> {
        let mut used = self.inner.used.load(Ordering::Relaxed);
        loop {
            let new = used
                .checked_add(bytes)
                .filter(|&new| new <= self.inner.limit)
                .ok_or(MapError::MemoryBudgetExceeded {
                    requested: bytes,
                    used,
                    limit: self.inner.limit,
                })?;
            match self.inner.used.compare_exchange_weak(
                used,
                new,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(MemoryCharge {
                        budget: Some(self.clone()),
                        bytes,
                    });
                }
                Err(now) => used = now,
            }
        }
    }
}

impl Default for MemoryBudget {
    fn default() -> MemoryBudget {
        MemoryBudget::default_for_host()
    }
}

/// Bytes charged to a [`MemoryBudget`], released when dropped.
#[derive(Debug)]
pub struct MemoryCharge {
    budget: Option<MemoryBudget>,
    bytes: u64,
}

impl MemoryCharge {
    /// A charge to no budget.
    pub fn none() -> MemoryCharge {
        MemoryCharge {
            budget: None,
            bytes: 0,
        }
    }

    /// Charges `bytes` to `budget` when there is one.
    pub fn to(budget: Option<&MemoryBudget>, bytes: u64) -> Result<MemoryCharge, MapError> {
        match budget {
            Some(budget) => budget.charge(bytes),
            None => Ok(MemoryCharge {
                budget: None,
                bytes,
            }),
        }
    }

    /// The bytes this charge holds (also when not charged to a budget).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for MemoryCharge {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.inner.used.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn host_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-3\n"), Some(4));
        assert_eq!(parse_cpu_list("0,2-5"), Some(5));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert!(host_possible_cpus() >= 1);
    }

    #[test]
    fn budget_charges_and_releases() {
        let budget = MemoryBudget::new(100);
        let a = budget.charge(60).unwrap();
        assert_eq!(budget.used(), 60);
        let err = budget.charge(41).unwrap_err();
        assert_eq!(err.errno(), crate::errno::ENOMEM);
        let b = budget.charge(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(budget.charge(u64::MAX).is_err());
        assert!(MemoryBudget::default_for_host().limit() > 0);
    }
}
