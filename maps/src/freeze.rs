//! Freezing against in-flight user-space writes.
//!
//! The kernel's `map_freeze` fails with `EBUSY` while a user-space write is
//! active (`bpf_map_write_active`, the map's `writecnt`), so a freeze that
//! succeeds is never followed by a write that had already passed its frozen
//! check. tinybpf does the same with a counter of writes in flight and a
//! Dekker-style handshake on two sequentially consistent atomics:
//!
//! - a writer first counts itself in, then reads the frozen flag, and backs
//!   out with `EPERM` when it is set;
//! - a freezer first sets the flag, then reads the counter, and when a
//!   writer is in flight clears the flag again and fails with `EBUSY`.
//!
//! In the single total order of `SeqCst` operations either the writer's
//! read of the flag comes after the freezer's store (the writer sees the
//! freeze and backs out) or the writer's count comes before the freezer's
//! read (the freezer sees it and gives up): a successful freeze is never
//! followed by a landing write. A writer racing with a freeze that then
//! fails may itself fail with `EPERM`, as it could had the freeze won.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::error::MapError;

/// Counts user-space writes in flight for one map.
#[derive(Debug, Default)]
pub(crate) struct WriteGate {
    writers: AtomicUsize,
}

/// One user-space write in flight; counted out when dropped.
pub(crate) struct WriteGuard<'a> {
    gate: &'a WriteGate,
}

impl WriteGate {
    /// Counts a write in, or refuses it with `EPERM` when `frozen` is set.
    pub(crate) fn begin(
        &self,
        frozen: &AtomicU32,
        operation: &'static str,
    ) -> Result<WriteGuard<'_>, MapError> {
        self.writers.fetch_add(1, Ordering::SeqCst);
        let guard = WriteGuard { gate: self };
        if frozen.load(Ordering::SeqCst) != 0 {
            return Err(MapError::Frozen { operation });
        }
        Ok(guard)
    }

    /// Sets `frozen`, or fails with `EBUSY` when it already was or when a
    /// write is in flight. The caller serialises freezes (its freeze lock).
    pub(crate) fn freeze(&self, frozen: &AtomicU32) -> Result<(), MapError> {
        if frozen.load(Ordering::SeqCst) != 0 {
            return Err(MapError::AlreadyFrozen);
        }
        let in_flight = self.writers.load(Ordering::SeqCst);
        if in_flight > 0 {
            return Err(MapError::WritesInFlight { count: in_flight });
        }
        frozen.store(1, Ordering::SeqCst);
        let in_flight = self.writers.load(Ordering::SeqCst);
        if in_flight > 0 {
            frozen.store(0, Ordering::SeqCst);
            return Err(MapError::WritesInFlight { count: in_flight });
        }
        Ok(())
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.gate.writers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::*;

    #[test]
    fn a_write_in_flight_makes_freeze_busy() {
        let gate = WriteGate::default();
        let frozen = AtomicU32::new(0);
        let write = gate.begin(&frozen, "update").unwrap();
        assert_eq!(gate.freeze(&frozen).unwrap_err().errno(), EBUSY);
        assert_eq!(
            frozen.load(Ordering::SeqCst),
            0,
            "a failed freeze leaves no flag"
        );
        drop(write);
        gate.freeze(&frozen).unwrap();
        assert_eq!(gate.freeze(&frozen).unwrap_err(), MapError::AlreadyFrozen);
        assert_eq!(gate.begin(&frozen, "update").err().unwrap().errno(), EPERM);
        // The refused writer counted itself out again.
        assert_eq!(gate.writers.load(Ordering::SeqCst), 0);
    }
}
