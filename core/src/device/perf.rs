//! Performance counters (GET_PERF_CNTR and the `SCARD_PERF_*` attributes).

use crate::ioctl::PERF_COUNTERS_LEN;
use crate::sync::{AtomicU32, Ordering};

/// Counts of TRANSMIT traffic since the device was created; wrap at 2^32.
#[derive(Debug)]
pub struct PerfCounters {
    transmissions: AtomicU32,
    bytes_sent: AtomicU32,
    bytes_received: AtomicU32,
}

impl PerfCounters {
    pub(super) fn new() -> PerfCounters {
        PerfCounters {
            transmissions: AtomicU32::new(0),
            bytes_sent: AtomicU32::new(0),
            bytes_received: AtomicU32::new(0),
        }
    }

    pub(super) fn record(&self, sent: usize, received: usize) {
        self.transmissions.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(sent as u32, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(received as u32, Ordering::Relaxed);
    }

    /// TRANSMIT requests that succeeded.
    pub fn transmissions(&self) -> u32 {
        self.transmissions.load(Ordering::Relaxed)
    }

    /// APDU bytes sent to the card.
    pub fn bytes_sent(&self) -> u32 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    /// Response bytes received from the card.
    pub fn bytes_received(&self) -> u32 {
        self.bytes_received.load(Ordering::Relaxed)
    }

    /// The GET_PERF_CNTR answer: transmissions, bytes sent, bytes received, each a
    /// little-endian `u32` ([`PERF_COUNTERS_LEN`] bytes, the output length the
    /// request checked).
    pub fn to_bytes(&self) -> [u8; PERF_COUNTERS_LEN] {
        let mut out = [0u8; PERF_COUNTERS_LEN];
        out[..4].copy_from_slice(&self.transmissions().to_le_bytes());
        out[4..8].copy_from_slice(&self.bytes_sent().to_le_bytes());
        out[8..].copy_from_slice(&self.bytes_received().to_le_bytes());
        out
    }
}
