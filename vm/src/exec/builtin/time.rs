//! The clock helpers: `bpf_ktime_get_ns` (5), `bpf_ktime_get_boot_ns`
//! (125), `bpf_ktime_get_coarse_ns` (160) and `bpf_ktime_get_tai_ns` (208),
//! read from the run's [`Clock`]: the host's monotonic clock, or a fixed
//! clock for results that repeat.

use std::sync::OnceLock;
use std::time::Instant;

use crate::HelperContext;
use crate::error::HelperError;

/// What the `bpf_ktime_get_*` helpers read ([`RunContext::clock`](crate::RunContext::clock)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Nanoseconds of the host's monotonic clock since the first read in
    /// this process (the kernel counts from boot; only differences mean
    /// anything).
    #[default]
    Host,
    /// A deterministic clock: the first read gives `start_ns`, and each read
    /// after it `step_ns` more (wrapping), counted across the runs of one
    /// [`RunContext`](crate::RunContext).
    Fixed {
        /// The first reading.
        start_ns: u64,
        /// How much each reading adds to the one before.
        step_ns: u64,
    },
}

/// The state of a fixed clock between reads: how many reads so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClockState {
    reads: u64,
}

impl ClockState {
    /// Reads `clock` once.
    pub(crate) fn read(&mut self, clock: Clock) -> u64 {
        match clock {
            Clock::Host => host_ns(),
            Clock::Fixed { start_ns, step_ns } => {
                let value = start_ns.wrapping_add(step_ns.wrapping_mul(self.reads));
                self.reads = self.reads.wrapping_add(1);
                value
            }
        }
    }
}

fn host_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let nanos = EPOCH.get_or_init(Instant::now).elapsed().as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// Every `bpf_ktime_get_*` helper: one reading of the run's clock (the
/// boot, coarse and TAI clocks are the same clock here).
pub(crate) fn ktime_get(ctx: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(ctx.read_clock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_steps_from_its_start() {
        let mut state = ClockState::default();
        let clock = Clock::Fixed {
            start_ns: 1000,
            step_ns: 10,
        };
        let reads: Vec<u64> = (0..3).map(|_| state.read(clock)).collect();
        assert_eq!(reads, [1000, 1010, 1020]);
        let mut state = ClockState::default();
        let wraps = Clock::Fixed {
            start_ns: u64::MAX,
            step_ns: 2,
        };
        assert_eq!((state.read(wraps), state.read(wraps)), (u64::MAX, 1));
    }

    #[test]
    fn the_host_clock_does_not_go_back() {
        let mut state = ClockState::default();
        let first = state.read(Clock::Host);
        assert!(state.read(Clock::Host) >= first);
    }
}
