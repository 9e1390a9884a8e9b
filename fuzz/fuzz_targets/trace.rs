//! Hostile bytes through the protocol-trace decoder.
//!
//! Input: a sequence of operations, each an op byte (low 3 bits) and its data: 0 a
//! reset answered with the next LEN bytes (or failed), 1 framing (T=0, T=1, raw),
//! 2 bytes sent, 3 bytes received (for a receive of LEN + extra asked), 4 a time-out,
//! 5 deactivation. The decoder must not panic, and every event's text must stay
//! bounded (the longest possible line is well under 400 bytes) whatever the input.
#![no_main]

use core::fmt::Write;

use libfuzzer_sys::fuzz_target;
use readerkit::Protocol;
use readerkit::line::{Framing, Reset};
use readerkit::status::Failure;
use readerkit::trace::{Decoder, Event, Sink};

/// Renders every event and checks its length.
struct Bounded(String);

impl Sink for Bounded {
    fn event(&mut self, event: &Event<'_>) {
        self.0.clear();
        write!(self.0, "{event}").unwrap();
        assert!(self.0.len() < 400, "{} bytes: {}", self.0.len(), self.0);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    let mut sink = Bounded(String::new());
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let len = usize::from(rest.first().copied().unwrap_or(0)) * 3;
        rest = rest.get(1..).unwrap_or(&[]);
        let n = len.min(rest.len());
        let (bytes, tail) = rest.split_at(n);
        match op & 7 {
            0 if op & 0x80 != 0 => decoder.reset(&mut sink, Reset::Warm, Err(Failure::NoMedia)),
            0 => decoder.reset(&mut sink, Reset::Cold, Ok(bytes)),
            1 => decoder.framing(
                &mut sink,
                Framing {
                    protocol: match op >> 3 & 3 {
                        0 => Protocol::T0,
                        1 => Protocol::T1,
                        _ => Protocol::Raw,
                    },
                    extra_guard_n: op,
                },
            ),
            2 => decoder.sent(&mut sink, bytes),
            3 => decoder.received(&mut sink, bytes, n + usize::from(op >> 6)),
            4 => decoder.timeout(&mut sink, u32::from(op) * 1000),
            _ => decoder.deactivated(&mut sink),
        }
        rest = if op & 7 == 0 || op & 7 == 2 || op & 7 == 3 {
            tail
        } else {
            rest
        };
    }
});
