//! A [`Line`] that reports what crosses it.

use super::{Decoder, Sink};
use crate::device::AtrBuffer;
use crate::line::{Framing, Line, Reset};
use crate::status::Failure;
use crate::timing::Timing;

/// Any [`Line`] with every call decoded into [`super::Event`]s for a [`Sink`]; a
/// [`Line`] itself, so it goes wherever the inner line went (a
/// [`LineReader`](crate::line::LineReader), say). The calls and their results pass
/// through unchanged.
#[derive(Debug)]
pub struct TracedLine<L, S> {
    line: L,
    sink: S,
    decoder: Decoder,
}

impl<L: Line, S: Sink> TracedLine<L, S> {
    /// `line`, traced into `sink`.
    pub fn new(line: L, sink: S) -> TracedLine<L, S> {
        TracedLine {
            line,
            sink,
            decoder: Decoder::new(),
        }
    }

    /// The inner line.
    pub fn line(&self) -> &L {
        &self.line
    }

    /// The inner line, mutably (calls made on it directly are not traced).
    pub fn line_mut(&mut self) -> &mut L {
        &mut self.line
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably (to change its level, say).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The inner line and the sink.
    pub fn into_parts(self) -> (L, S) {
        (self.line, self.sink)
    }

    fn traced<T>(&mut self, result: Result<T, Failure>) -> Result<T, Failure> {
        if let Err(status) = result {
            self.decoder.error(&mut self.sink, status);
        }
        result
    }
}

impl<L: Line, S: Sink> Line for TracedLine<L, S> {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        let result = self.line.reset(reset, atr);
        let shown = match result {
            Ok(()) => Ok(&atr[..]),
            Err(status) => Err(status),
        };
        self.decoder.reset(&mut self.sink, reset, shown);
        result
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        let result = self.line.deactivate();
        self.decoder.deactivated(&mut self.sink);
        self.traced(result)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.decoder.sent(&mut self.sink, bytes);
        let result = self.line.send(bytes);
        self.traced(result)
    }

    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        let result = self.line.receive(buf, first_us, next_us);
        match result {
            Ok(0) if !buf.is_empty() => self.decoder.timeout(&mut self.sink, first_us),
            Ok(got) => {
                let got_bytes = buf.get(..got).unwrap_or(buf);
                self.decoder.received(&mut self.sink, got_bytes, buf.len());
            }
            Err(_) => {}
        }
        self.traced(result)
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        let result = self.line.set_timing(timing);
        if result.is_ok() {
            self.decoder.timing(&mut self.sink, timing);
        }
        self.traced(result)
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        let result = self.line.set_framing(framing);
        if result.is_ok() {
            self.decoder.framing(&mut self.sink, framing);
        }
        self.traced(result)
    }
}
