//! The decoded events of a trace and their one-line text form.

use core::fmt;

use super::Level;
use super::hex::BoundedHex;
use crate::atr::Atr;
use crate::line::{Framing, Reset};
use crate::status::Failure;
use crate::t1::{Edc, Repr};
use crate::timing::Timing;
use crate::{pps, protocol::Protocol};

/// Which way bytes crossed the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Reader to card.
    ToCard,
    /// Card to reader.
    FromCard,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ToCard => "->",
            Direction::FromCard => "<-",
        })
    }
}

/// Bytes crossing the line, as a trace line shows them: `N bytes`, followed for
/// bytes from the card by their first few as hex (`N bytes: 6F 0B ...`). Bytes to
/// the card show their count only: they may hold a PIN the reader's PIN pad read.
struct Data<'a> {
    direction: Direction,
    bytes: &'a [u8],
}

impl<'a> Data<'a> {
    const fn to_card(bytes: &'a [u8]) -> Data<'a> {
        Data {
            direction: Direction::ToCard,
            bytes,
        }
    }
}

impl fmt::Display for Data<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.bytes.len())?;
        match self.direction {
            Direction::ToCard => Ok(()),
            Direction::FromCard => write!(f, ": {}", BoundedHex(self.bytes)),
        }
    }
}

/// A T=0 procedure byte, as ISO/IEC 7816-3 10.3.3 reads it after a header: the
/// T=0 engine's [`t0::Procedure`](crate::t0::Procedure).
pub use crate::t0::Procedure as T0Procedure;

/// One decoded event of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The card answered a reset with these bytes (at most 33 from a well-behaved
    /// card; shown bounded whatever the line delivered).
    Atr {
        /// Cold or warm.
        reset: Reset,
        /// The answer to reset, as received.
        bytes: &'a [u8],
    },
    /// A reset that failed.
    ResetFailed {
        /// Cold or warm.
        reset: Reset,
        /// The line's error.
        status: Failure,
    },
    /// The contacts were deactivated.
    Deactivated,
    /// A PPS request sent to the card, or the card's answer.
    Pps {
        /// [`Direction::ToCard`]: the request; [`Direction::FromCard`]: the answer.
        direction: Direction,
        /// The bytes, PPSS to PCK (checked when shown).
        bytes: &'a [u8],
    },
    /// The line switched to new transmission parameters.
    Timing(Timing),
    /// A protocol was established.
    Framing(Framing),
    /// A T=0 command header: CLA INS P1 P2 P3.
    T0Header(&'a [u8]),
    /// A T=0 procedure byte.
    T0Procedure(T0Procedure),
    /// T=0 status bytes SW1 SW2.
    T0Status(u8, u8),
    /// T=0 data bytes, either way.
    T0Data {
        /// Which way.
        direction: Direction,
        /// The bytes: their count is shown, and for data from the card the first
        /// few. Data to the card is shown by its count only, as T=1 blocks are:
        /// it may hold a PIN the reader's PIN pad read.
        bytes: &'a [u8],
    },
    /// A T=1 block, either way: decoded if valid (an I-block's information field
    /// by its length only), else said why not, with the first few bytes of a block
    /// from the card (a block to the card by its count only: it may hold a PIN).
    T1Block {
        /// Which way.
        direction: Direction,
        /// The block's bytes, prologue to epilogue.
        bytes: &'a [u8],
        /// The EDC in force.
        edc: Edc,
    },
    /// Bytes outside any protocol the tracer recognises.
    Bytes {
        /// Which way.
        direction: Direction,
        /// The bytes: their count is shown, and for bytes from the card the first
        /// few (bytes to the card by their count only, as T=0 data).
        bytes: &'a [u8],
    },
    /// Nothing arrived within the time allowed.
    Timeout {
        /// The waiting time for the first byte, in µs.
        first_us: u32,
    },
    /// A line call failed.
    LineError(Failure),
}

impl Event<'_> {
    /// The level this event is logged at: line failures at [`Level::Debug`], the
    /// exchanges themselves at [`Level::Trace`].
    pub fn level(&self) -> Level {
        match self {
            Event::ResetFailed { .. } | Event::LineError(_) => Level::Debug,
            _ => Level::Trace,
        }
    }
}

fn reset_name(reset: Reset) -> &'static str {
    match reset {
        Reset::Cold => "cold",
        Reset::Warm => "warm",
    }
}

/// The ATR's decoded parameters, or why it does not parse.
struct AtrSummary<'a>(&'a [u8]);

impl fmt::Display for AtrSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let atr = match Atr::parse(self.0) {
            Ok(atr) => atr,
            Err(error) => return write!(f, "invalid: {error}"),
        };
        let p = atr.parameters();
        let mut first = true;
        for protocol in [Protocol::T0, Protocol::T1] {
            if p.protocols.contains(protocol) {
                f.write_str(if first { "" } else { " " })?;
                write!(f, "{protocol}")?;
                first = false;
            }
        }
        if first {
            f.write_str("no protocol")?;
        }
        let (fi, di) = (p.fi, p.di);
        match (
            crate::timing::clock_rate_conversion(fi),
            crate::timing::baud_rate_adjustment(di),
        ) {
            (Some(rate), Some(d)) => write!(f, ", F={} D={}", rate.f, d)?,
            _ => write!(f, ", Fi={fi} Di={di} (RFU)")?,
        }
        if p.n != 0 {
            write!(f, ", N={}", p.n)?;
        }
        if p.protocols.contains(Protocol::T1) {
            write!(
                f,
                ", IFSC={} CWI={} BWI={} EDC {}",
                p.ifsc, p.cwi, p.bwi, p.edc
            )?;
        }
        if !atr.historical().is_empty() {
            write!(f, ", {} historical bytes", atr.historical().len())?;
        }
        Ok(())
    }
}

/// One line, bounded whatever the bytes: at most [`super::MAX_SHOWN_BYTES`] bytes
/// of any field are shown.
impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::Atr { reset, bytes } => write!(
                f,
                "<- ATR ({} reset) {} : {}",
                reset_name(reset),
                BoundedHex(bytes),
                AtrSummary(bytes)
            ),
            Event::ResetFailed { reset, status } => {
                write!(f, "{} reset failed: {status}", reset_name(reset))
            }
            Event::Deactivated => f.write_str("contacts deactivated"),
            Event::Pps { direction, bytes } => {
                let what = match direction {
                    Direction::ToCard => "request",
                    Direction::FromCard => "answer",
                };
                write!(f, "{direction} PPS {what} {} : ", BoundedHex(bytes))?;
                match pps::Response::parse(bytes) {
                    Ok(message) => write!(f, "{}", *message),
                    Err(error) => write!(f, "invalid: {error}"),
                }
            }
            Event::Timing(t) => write!(
                f,
                "line now F={} D={} at {} kHz ({} bit/s)",
                t.f,
                t.d,
                t.clock_khz,
                t.baud()
            ),
            Event::Framing(framing) => match framing.protocol {
                Some(protocol) => write!(
                    f,
                    "protocol {protocol} established, N={}",
                    framing.extra_guard_n
                ),
                None => write!(
                    f,
                    "guard time before a protocol, N={}",
                    framing.extra_guard_n
                ),
            },
            Event::T0Header(bytes) => match bytes {
                [cla, ins, p1, p2, p3] => write!(
                    f,
                    "-> T=0 header CLA {cla:02X} INS {ins:02X} P1 {p1:02X} P2 {p2:02X} P3 {p3:02X}"
                ),
                _ => write!(f, "-> T=0 header? {}", Data::to_card(bytes)),
            },
            Event::T0Procedure(procedure) => write!(f, "<- T=0 procedure {procedure}"),
            Event::T0Status(sw1, sw2) => write!(f, "<- T=0 status {sw1:02X} {sw2:02X}"),
            Event::T0Data { direction, bytes } => {
                write!(f, "{direction} T=0 data {}", Data { direction, bytes })
            }
            Event::T1Block {
                direction,
                bytes,
                edc,
            } => match Repr::parse_bytes(bytes, edc) {
                Ok(repr) => write!(f, "{direction} {repr}"),
                Err(error) => write!(
                    f,
                    "{direction} invalid T=1 block ({error}), {}",
                    Data { direction, bytes }
                ),
            },
            Event::Bytes { direction, bytes } => {
                write!(f, "{direction} {}", Data { direction, bytes })
            }
            Event::Timeout { first_us } => write!(f, "<- nothing within {first_us} µs"),
            Event::LineError(status) => write!(f, "line error: {status}"),
        }
    }
}
