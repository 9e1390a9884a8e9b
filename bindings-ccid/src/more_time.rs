//! A card's requests for more time, seen on its line, so that a transport can send
//! time extensions (`bmCommandStatus` = 2) to the host while a command runs.
//!
//! The core's engines handle the requests themselves (T=1 S(WTX request) blocks,
//! T=0 NULL procedure bytes); [`WatchedLine`] wraps the card's [`Line`] and reports
//! each one as its bytes go by, without changing them. The transport answers with
//! [`Answer::time_extension`](crate::Answer::time_extension) for the command
//! running, with the request's [`MoreTime::bwt_multiplier`], where
//! [`MoreTime::time_extension`] says the host is to be asked.

use readerkit::Protocol;
use readerkit::device::AtrBuffer;
use readerkit::line::{Framing, Line, Reset};
use readerkit::status::Failure;
use readerkit::t0::NULL;
use readerkit::timing::Timing;

use crate::reader::ExchangeLevel;

/// PCB of a T=1 S(WTX request) block.
const PCB_WTX_REQUEST: u8 = 0xC3;

/// A request for more time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoreTime {
    /// T=0: a NULL procedure byte (the card restarts the work waiting time).
    T0Null,
    /// T=1: an S(WTX request) with its BWT `multiplier`.
    T1Wtx {
        /// The multiplier of the block waiting time (1..=255).
        multiplier: u8,
    },
}

impl MoreTime {
    /// The BWT multiplier of the time extension (`bmCommandStatus` 2, `bError`)
    /// that passes this request on to the host: a T=1 S(WTX)'s own multiplier;
    /// 1 for a T=0 NULL byte (one more waiting time).
    pub const fn bwt_multiplier(self) -> u8 {
        match self {
            MoreTime::T1Wtx { multiplier } => multiplier,
            MoreTime::T0Null => 1,
        }
    }

    /// The BWT multiplier of the time extension that asks the host for more
    /// time for this request while the reader runs at `level`, or `None` where
    /// the host sees the request itself: at the TPDU level a T=1 card's S(WTX)
    /// request block is relayed to the host as the card's answer, and the host's
    /// T=1 engine grants it with its next block. A T=0 NULL byte (the reader's
    /// T=0 engine takes procedure bytes at every level) and an S(WTX) the
    /// reader's own T=1 engine grants (APDU levels) go to the host as time
    /// extensions ([`MoreTime::bwt_multiplier`]).
    pub const fn time_extension(self, level: ExchangeLevel) -> Option<u8> {
        match (self, level) {
            (MoreTime::T1Wtx { .. }, ExchangeLevel::Tpdu) => None,
            _ => Some(self.bwt_multiplier()),
        }
    }
}

/// Where the watcher is in the bytes from the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// Looking at prologues and procedure bytes.
    Idle,
    /// An S(WTX request) prologue came: its INF (the multiplier) is next.
    WtxInf,
}

/// A [`Line`] that reports the card's requests for more time to `notify`.
///
/// T=1: a received prologue with PCB `C3` followed by its INF byte. T=0: a single
/// byte `60` received where the engine asked for one byte (a procedure byte; a
/// lone data byte of value `60` received one at a time is reported too, which
/// only costs the host one more wait).
#[derive(Debug)]
pub struct WatchedLine<L, F> {
    line: L,
    notify: F,
    protocol: Option<Protocol>,
    watch: Watch,
}

impl<L: Line, F: FnMut(MoreTime)> WatchedLine<L, F> {
    /// Watch `line`, reporting to `notify`.
    pub fn new(line: L, notify: F) -> WatchedLine<L, F> {
        WatchedLine {
            line,
            notify,
            protocol: None,
            watch: Watch::Idle,
        }
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

impl<L: Line, F: FnMut(MoreTime)> Line for WatchedLine<L, F> {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.protocol = None;
        self.watch = Watch::Idle;
        self.line.reset(reset, atr)
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        self.protocol = None;
        self.line.deactivate()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.watch = Watch::Idle;
        self.line.send(bytes)
    }

    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        let got = self.line.receive(buf, first_us, next_us)?;
        let bytes = buf.get(..got).unwrap_or(&[]);
        match (self.protocol, self.watch, bytes) {
            (Some(Protocol::T1), Watch::WtxInf, [multiplier, ..]) => {
                self.watch = Watch::Idle;
                (self.notify)(MoreTime::T1Wtx {
                    multiplier: *multiplier,
                });
            }
            (Some(Protocol::T1), Watch::Idle, [_, PCB_WTX_REQUEST, 1]) => {
                self.watch = Watch::WtxInf;
            }
            (Some(Protocol::T0), _, [NULL]) if buf.len() == 1 => {
                (self.notify)(MoreTime::T0Null);
            }
            _ => self.watch = Watch::Idle,
        }
        Ok(got)
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        self.line.set_timing(timing)
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        self.protocol = framing.protocol;
        self.line.set_framing(framing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bwt_multiplier_is_the_cards_for_t1_and_one_for_t0() {
        for multiplier in [1, 2, 255] {
            let more = MoreTime::T1Wtx { multiplier };
            assert_eq!(more.bwt_multiplier(), multiplier);
        }
        assert_eq!(MoreTime::T0Null.bwt_multiplier(), 1);
    }

    #[test]
    fn a_t1_wtx_goes_to_the_host_itself_at_the_tpdu_level_only() {
        let wtx = MoreTime::T1Wtx { multiplier: 3 };
        assert_eq!(wtx.time_extension(ExchangeLevel::Tpdu), None);
        for level in [ExchangeLevel::ShortApdu, ExchangeLevel::ExtendedApdu] {
            assert_eq!(wtx.time_extension(level), Some(3), "{level:?}");
        }
        for level in [
            ExchangeLevel::Tpdu,
            ExchangeLevel::ShortApdu,
            ExchangeLevel::ExtendedApdu,
        ] {
            assert_eq!(MoreTime::T0Null.time_extension(level), Some(1), "{level:?}");
        }
    }
}
