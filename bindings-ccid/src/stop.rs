//! A card line that gives up when the transport stops the running command: the
//! ABORT of CCID 1.1 §5.3.1 / §6.1.13 ([`crate::busy`]). Once `stopping` says
//! so, whatever the card sends is not heard and every receive fails
//! [`Failure::Cancelled`]: the core's engine gives the exchange up at once (a T=1
//! exchange owes the card a resynchronisation, a T=0 one a reset), sends the card
//! nothing more, and the transport answers the command CMD_ABORTED. Not a
//! silence: an engine would take that for the card's and retry, then judge the
//! card unresponsive (T=1 rule 6.4: deactivated).

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
        if (self.stopping)() {
            return Err(Failure::Cancelled);
        }
        let got = self.line.receive(buf, first_us, next_us)?;
        match (self.stopping)() {
            true => Err(Failure::Cancelled),
            false => Ok(got),
        }
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        self.line.set_timing(timing)
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        self.line.set_framing(framing)
    }
}
