//! Performance counters (GET_PERF_CNTR and the `SCARD_PERF_*` attributes).

use crate::ioctl::PERF_COUNTERS_LEN;
use crate::sync::{AtomicU32, Ordering};

/// Counts of TRANSMIT traffic, wrapping at 2^32: a device's own since it was created,
/// or those a GET_PERF_CNTR answer carries ([`PerfCounters::from_bytes`]).
#[derive(Debug)]
pub struct PerfCounters {
    transmissions: AtomicU32,
    bytes_sent: AtomicU32,
    bytes_received: AtomicU32,
}

impl PerfCounters {
    pub(super) fn new() -> PerfCounters {
        PerfCounters::with(0, 0, 0)
    }

    fn with(transmissions: u32, bytes_sent: u32, bytes_received: u32) -> PerfCounters {
        PerfCounters {
            transmissions: AtomicU32::new(transmissions),
            bytes_sent: AtomicU32::new(bytes_sent),
            bytes_received: AtomicU32::new(bytes_received),
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

    /// The counters of a GET_PERF_CNTR answer, the inverse of [`to_bytes`](Self::to_bytes):
    /// `None` unless `answer` is exactly [`PERF_COUNTERS_LEN`] bytes (another reader, or
    /// a driver that writes less or more).
    pub fn from_bytes(answer: &[u8]) -> Option<PerfCounters> {
        let (transmissions, rest) = answer.split_first_chunk::<4>()?;
        let (sent, rest) = rest.split_first_chunk::<4>()?;
        let (received, rest) = rest.split_first_chunk::<4>()?;
        rest.is_empty().then(|| {
            PerfCounters::with(
                u32::from_le_bytes(*transmissions),
                u32::from_le_bytes(*sent),
                u32::from_le_bytes(*received),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(c: &PerfCounters) -> [u32; 3] {
        [c.transmissions(), c.bytes_sent(), c.bytes_received()]
    }

    #[test]
    fn from_bytes_reads_back_to_bytes() {
        let c = PerfCounters::new();
        c.record(7, 4);
        c.record(300, 0x0102_0000);
        let bytes = c.to_bytes();
        let back = PerfCounters::from_bytes(&bytes).expect("exactly PERF_COUNTERS_LEN bytes");
        assert_eq!(counts(&back), [2, 307, 0x0102_0004]);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn from_bytes_takes_exactly_three_words() {
        let mut answer = [0u8; PERF_COUNTERS_LEN];
        answer[..4].copy_from_slice(&7u32.to_le_bytes());
        answer[4..8].copy_from_slice(&300u32.to_le_bytes());
        answer[8..].copy_from_slice(&0x0102_0304u32.to_le_bytes());
        let c = PerfCounters::from_bytes(&answer).map(|c| counts(&c));
        assert_eq!(c, Some([7, 300, 0x0102_0304]));
        // A short answer (another reader, a driver that writes less) or a long one.
        for len in 0..PERF_COUNTERS_LEN {
            assert!(
                PerfCounters::from_bytes(&answer[..len]).is_none(),
                "{len} bytes"
            );
        }
        assert!(PerfCounters::from_bytes(&[0; PERF_COUNTERS_LEN + 1]).is_none());
    }
}
