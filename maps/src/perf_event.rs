//! The event buffers behind a `PERF_EVENT_ARRAY`: what
//! `bpf_perf_event_output` appends (kernel/trace/bpf_trace.c
//! `__bpf_perf_event_output`, kernel/events/ring_buffer.c).
//!
//! Each entry (one per CPU, as libbpf opens them) has a bounded buffer of
//! [`crate::MapOptions::perf_buffer_bytes`] bytes, accounted as a perf ring
//! is: each sample costs its 8-byte `perf_event_header`, the 4-byte raw size
//! and the raw data padded so that `4 + size` is a multiple of 8. The padding
//! is part of the sample user space sees (zeros here), as in the kernel. A
//! sample that does not fit is lost: counted, and the helper gets `ENOSPC`,
//! as the kernel's `perf_output_begin` does.
//!
//! Checks of the helper, in the kernel's order: flag bits other than the
//! index and context-length masks `EINVAL`; the index (`BPF_F_CURRENT_CPU`
//! meaning the running CPU) at or past `max_entries` `E2BIG`; an entry with
//! no event `ENOENT`; another CPU's entry `EOPNOTSUPP`.
//!
//! The buffers grow up to their capacity on demand and never shrink, so
//! output allocates nothing once a run has filled them once.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::error::MapError;

/// `BPF_F_INDEX_MASK`: the entry index in the output flags.
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`: the index meaning "the running CPU's entry".
pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
/// `BPF_F_CTXLEN_MASK`: how many context (packet) bytes to append.
pub const BPF_F_CTXLEN_MASK: u64 = 0xfffff << 32;

/// Bytes a perf ring spends on a sample of `size` raw bytes: the header,
/// the raw size field and the padded data.
pub fn perf_record_bytes(size: usize) -> usize {
    8 + padded_raw_size(size) + 4
}

/// The raw size user space sees for `size` bytes: padded so that
/// `4 + size` is a multiple of 8.
pub fn padded_raw_size(size: usize) -> usize {
    (size + 4).div_ceil(8) * 8 - 4
}

/// What draining an event buffer gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerfEvent {
    /// One sample: its CPU and its raw data, padding included.
    Sample {
        /// The entry (CPU) it was written to.
        cpu: u32,
        /// The raw bytes, `4 + data.len()` a multiple of 8.
        data: Vec<u8>,
    },
    /// Samples lost because the buffer was full (`PERF_RECORD_LOST`).
    Lost {
        /// The entry (CPU).
        cpu: u32,
        /// How many samples.
        count: u64,
    },
}

struct EventBuffer {
    /// Samples, each as a little-endian u32 raw size followed by the data.
    bytes: VecDeque<u8>,
    /// Ring bytes in use (perf accounting).
    used: usize,
    lost: u64,
}

/// One bounded buffer per perf event array entry.
pub(crate) struct EventBuffers {
    capacity: usize,
    buffers: Box<[Mutex<EventBuffer>]>,
}

impl EventBuffers {
    pub(crate) fn new(entries: u32, capacity: usize) -> EventBuffers {
        EventBuffers {
            capacity,
            buffers: (0..entries)
                .map(|_| {
                    Mutex::new(EventBuffer {
                        bytes: VecDeque::new(),
                        used: 0,
                        lost: 0,
                    })
                })
                .collect(),
        }
    }

    /// The bytes these buffers may hold at most.
    pub(crate) fn reserved_bytes(entries: u32, capacity: usize) -> u64 {
        u64::from(entries) * capacity as u64
    }

    /// Appends `data` then `ctx` as one sample to entry `index` (already
    /// checked by the caller).
    pub(crate) fn push(&self, index: u32, data: &[u8], ctx: &[u8]) -> Result<(), MapError> {
        let Some(buffer) = self.buffers.get(index as usize) else {
            return Err(MapError::NoEventAttached { index });
        };
        let mut buffer = buffer.lock().unwrap_or_else(|p| p.into_inner());
        let size = data.len() + ctx.len();
        let cost = perf_record_bytes(size);
        if buffer.used + cost > self.capacity {
            buffer.lost += 1;
            return Err(MapError::EventLost { index, bytes: size });
        }
        let padded = padded_raw_size(size);
        buffer.used += cost;
        buffer.bytes.extend((padded as u32).to_le_bytes());
        buffer.bytes.extend(data);
        buffer.bytes.extend(ctx);
        buffer
            .bytes
            .extend(core::iter::repeat_n(0u8, padded - size));
        Ok(())
    }

    /// Takes every sample and lost count, entry by entry, oldest first.
    pub(crate) fn drain(&self, sink: &mut dyn FnMut(PerfEvent)) -> usize {
        let mut delivered = 0;
        for (cpu, buffer) in self.buffers.iter().enumerate() {
            let cpu = cpu as u32;
            let mut buffer = buffer.lock().unwrap_or_else(|p| p.into_inner());
            if buffer.lost > 0 {
                sink(PerfEvent::Lost {
                    cpu,
                    count: buffer.lost,
                });
                buffer.lost = 0;
                delivered += 1;
            }
            while buffer.bytes.len() >= 4 {
                let size_bytes: Vec<u8> = buffer.bytes.drain(..4).collect();
                let size = u32::from_le_bytes([
                    size_bytes[0],
                    size_bytes[1],
                    size_bytes[2],
                    size_bytes[3],
                ]) as usize;
                let take = size.min(buffer.bytes.len());
                let data: Vec<u8> = buffer.bytes.drain(..take).collect();
                sink(PerfEvent::Sample { cpu, data });
                delivered += 1;
            }
            buffer.used = 0;
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_samples_are_padded_as_the_kernel_does() {
        assert_eq!(padded_raw_size(0), 4);
        assert_eq!(padded_raw_size(4), 4);
        assert_eq!(padded_raw_size(5), 12);
        assert_eq!(padded_raw_size(12), 12);
        assert_eq!(padded_raw_size(13), 20);
        for size in 0..64 {
            assert_eq!((4 + padded_raw_size(size)) % 8, 0);
            assert!(padded_raw_size(size) >= size);
        }
        assert_eq!(perf_record_bytes(4), 16);
    }

    #[test]
    fn full_buffers_lose_samples() {
        let buffers = EventBuffers::new(2, 32);
        buffers.push(1, &[1, 2, 3], &[]).unwrap();
        buffers.push(1, &[4], &[5]).unwrap();
        assert_eq!(buffers.push(1, &[6], &[]).unwrap_err().errno(), 28);
        let mut events = Vec::new();
        buffers.drain(&mut |e| events.push(e));
        assert_eq!(
            events,
            [
                PerfEvent::Lost { cpu: 1, count: 1 },
                PerfEvent::Sample {
                    cpu: 1,
                    data: vec![1, 2, 3, 0]
                },
                PerfEvent::Sample {
                    cpu: 1,
                    data: vec![4, 5, 0, 0]
                },
            ]
        );
        // Drained buffers take samples again.
        buffers.push(1, &[6], &[]).unwrap();
    }
}
