//! A card line that gives up when the transport stops the running command: the
//! ABORT of CCID 1.1 §5.3.1 / §6.1.13 ([`crate::busy`]). Once `stopping` says
//! so, whatever the card sends is not heard (the reader stops waiting), so the
//! core's engine fails the exchange at once and the transport answers the
//! command CMD_ABORTED.

use readerkit::device::AtrBuffer;
use readerkit::line::{Framing, Line, Reset};
use readerkit::status::Failure;
use readerkit::timing::Timing;

/// `line`, deaf while `stopping()` is true.
#[derive(Debug)]
pub struct StoppableLine<L, S> {
    line: L,
    stopping: S,
}

impl<L: Line, S: Fn() -> bool> StoppableLine<L, S> {
    /// `line`, stopped whenever `stopping` returns `true`.
    pub fn new(line: L, stopping: S) -> StoppableLine<L, S> {
        StoppableLine { line, stopping }
    }

    /// The line.
    pub fn inner(&self) -> &L {
        &self.line
    }

    /// The line, mutably.
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.line
    }
}

impl<L: Line, S: Fn() -> bool> Line for StoppableLine<L, S> {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.line.reset(reset, atr)
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        self.line.deactivate()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.line.send(bytes)
    }

    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        let got = self.line.receive(buf, first_us, next_us)?;
        Ok(if (self.stopping)() { 0 } else { got })
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        self.line.set_timing(timing)
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        self.line.set_framing(framing)
    }
}
