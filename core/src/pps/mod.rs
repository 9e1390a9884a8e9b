//! Protocol and parameters selection, PPS (ISO/IEC 7816-3:2006 clause 9).
//!
//! Three pieces, all free of I/O:
//!
//! * [`negotiate`] weighs what the card offers in its ATR ([`CardOffer`]) against what
//!   the reader can do ([`ReaderLimits`]) and what the caller wants ([`Wanted`]), and
//!   returns a [`Negotiation`]: the PPS request to send, if one is needed, and the
//!   [`Timing`] (F, D, card clock) to switch to once the card has answered it.
//! * [`ResponseReader`] collects the card's answer byte by byte and says how many
//!   bytes it still needs (PPS0 tells which of PPS1..PPS3 follow); [`Response`] is the
//!   checked answer.
//! * [`Negotiation::accept`] (or [`Request::check`]) validates the answer against the
//!   request (clause 9.3): an exact echo is success; an answer without PPS1 means the
//!   card keeps Fd = 372, Dd = 1; an answer without PPS2/PPS3 declines them;
//!   anything else is a failed PPS.
//! * [`Exchange`] puts them together in the shape of the T=0 and T=1 engines: each
//!   step returns `Result<`[`Action`]`, `[`Error`]`>`, send the request, expect the
//!   answer's bytes, done with the [`Timing`] to switch to:
//!
//! ```
//! use readerkit::pps::{Action, Negotiation, Request};
//! use readerkit::timing::Timing;
//! use readerkit::Protocol;
//!
//! let negotiation = Negotiation {
//!     protocol: Protocol::T1,
//!     request: Some(Request::new(1, Some(0x96), None, None)),
//!     timing: Timing { f: 512, d: 32, clock_khz: 4_000 },
//!     default_timing: Timing::default_at(4_000),
//! };
//! let mut pps = negotiation.exchange(1_000_000);
//! let mut action = pps.action()?;
//! let timing = loop {
//!     action = match action {
//!         Action::Send(bytes) => {
//!             assert_eq!(bytes, [0xFF, 0x11, 0x96, 0x78]);
//!             pps.sent()?
//!         }
//!         // The card echoes the request.
//!         Action::Expect { .. } => pps.feed(&[0xFF, 0x11, 0x96, 0x78])?,
//!         Action::Done { timing } => break timing,
//!     };
//! };
//! assert_eq!(timing.d, 32);
//! # Ok::<(), readerkit::pps::Error>(())
//! ```
//!
//! A step the exchange is not waiting for is the driver's mistake: it is refused
//! with [`Error::Sequence`] and changes nothing ([`Exchange::action`] still gives
//! the pending action, or how the exchange ended). That is [`Exchange::sent`]
//! while the answer comes in, [`Exchange::timeout`] before the request went out,
//! and every step after the exchange ended, as with the T=0 and T=1 engines. A bad
//! answer from the card, or its bytes out of turn, end the exchange.
//!
//! ## How the parameters are chosen
//!
//! The card's TA1 gives Fi (hence F and the card's f(max)) and Di, the fastest D it
//! supports. ISO lets the reader propose any D from Dd up to Di, so with
//! [`Choice::Optimal`] every D ≤ D(Di) with the card's F is tried at every reader
//! clock that is ≤ f(max) and ≤ [`ReaderLimits::max_clock_khz`] (the clocks of
//! [`ReaderLimits::clocks_khz`], or the default and the maximum clock when that list
//! is empty). A candidate's data rate, clock × D / F bit/s, must not exceed
//! [`ReaderLimits::max_data_rate_bps`] and, when [`ReaderLimits::data_rates_bps`] is
//! not empty, must be one of its rates within ±2 bit/s (the rates are rounded
//! integers). The fastest candidate wins (on a tie, the lower clock); if it is not
//! faster than the default rate (the default clock / 372), no PPS1 is sent. This
//! follows the approach of libccid's `IFDHSetProtocolParameters` (PPS1 only when the
//! card is faster than the default, never faster than the reader, lowering Di when
//! the reader cannot follow), generalised to clock lists.
//!
//! A PPS request is built only when it changes something: PPS1 chosen, another
//! protocol than the card's first offered one, or PPS2/PPS3 asked for. Otherwise the
//! card already runs the first offered protocol at Fd/Dd and nothing is sent.
//!
//! ## Specific mode
//!
//! With TA2 in the ATR the card is in specific mode: there is no PPS; the protocol of
//! TA2 applies at once with the Fi/Di of TA1 (unless TA2 bit 5 says the parameters
//! are implicit, which this library does not know: [`Error::ImplicitParameters`]).
//! [`negotiate`] then returns no request and the TA1 timing, or an error if the
//! reader cannot run TA1's rate or another protocol is wanted. What to do instead: if
//! TA2 bit 8 is 0 ([`SpecificMode::can_change`]), a warm reset brings the card back
//! in negotiable mode (its new ATR may have no TA2); otherwise the card cannot be used
//! with these settings.
//!
//! The [`Device`](crate::Device) asks [`negotiate`] about a card in specific mode
//! at power-up ([`CardCapabilities::new`](crate::caps::CardCapabilities::new)):
//! when the reader has TA2's protocol and TA1's rate (or the parameters are
//! implicit: Fd/Dd), that protocol is selected from the power-up on, and its
//! SET_PROTOCOL keeps it and refuses any other. Otherwise nothing is selected
//! (GET_STATE says NEGOTIABLE) and SET_PROTOCOL refuses the card as [`negotiate`]
//! does (`NotSupported`): the caller may warm-reset it (when TA2 b8 allows, the
//! card answers in negotiable mode) or power it down.
//!
//! ## After a failed PPS
//!
//! A wrong answer, a bad PCK or no answer within the initial waiting time means the
//! PPS failed (clause 9.3): the reader must deactivate the card (or at least reset
//! it). After the reset, negotiate again with [`Choice::Default`], which keeps
//! Fd/Dd ([`Negotiation::default_timing`]) and only sends a PPS (without PPS1) when
//! the wanted protocol is not the card's first one. This is the same retry
//! smclib documents for `PTS_TYPE_DEFAULT`.

use core::fmt;

use crate::atr::{rate_byte, rate_indices};
use crate::protocol::{Protocol, ProtocolMask};
use crate::status::Failure;
#[cfg(doc)]
use crate::status::Status;
use crate::timing::{self, Timing};

/// The initial character of a PPS request and response.
pub const PPSS: u8 = 0xFF;
/// The longest PPS message: PPSS, PPS0, PPS1, PPS2, PPS3, PCK, in bytes.
pub const MAX_LEN: usize = 6;
/// The shortest PPS message: PPSS, PPS0, PCK, in bytes.
pub const MIN_LEN: usize = 3;
/// Tolerance when matching a computed data rate against a reader's list, in bit/s.
const RATE_TOLERANCE_BPS: u32 = 2;

/// PPS0 bit for "PPS1 follows".
const PPS0_PPS1: u8 = 0x10;
/// PPS0 bit for "PPS2 follows".
const PPS0_PPS2: u8 = 0x20;
/// PPS0 bit for "PPS3 follows".
const PPS0_PPS3: u8 = 0x40;
/// PPS0 bit 8, reserved (must be 0).
const PPS0_RFU: u8 = 0x80;

/// Why a negotiation or a PPS exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The wanted protocol is not offered by the card (or is raw, which has no PPS).
    ProtocolNotOffered,
    /// The card is in specific mode for another protocol (its T number).
    SpecificMode(u8),
    /// The card is in specific mode with implicit parameters (TA2 bit 5).
    ImplicitParameters,
    /// The reader cannot run the parameters that must be used (specific mode, or
    /// [`Choice::Explicit`]), or they are reserved values.
    UnsupportedParameters,
    /// The answer does not start with PPSS = FF (the byte).
    BadPpss(u8),
    /// The answer's PPS0 has the reserved bit 8 set (the byte).
    BadPps0(u8),
    /// The answer's check byte PCK is wrong.
    BadPck,
    /// The answer is shorter than its PPS0 announces.
    Truncated,
    /// More bytes than the answer's PPS0 announces.
    TooLong,
    /// Bytes from the card while no answer was awaited: before the request went
    /// out, or an answer to a negotiation that sends no request.
    Unsolicited,
    /// A well-formed answer that is no valid answer to the request (another
    /// protocol, another PPS1..PPS3, or a PPSx not asked for).
    Mismatch,
    /// The card did not answer the request in time.
    Timeout,
    /// The driver called a step the exchange was not waiting for
    /// ([`Exchange::sent`] with nothing to send, [`Exchange::timeout`] with the
    /// request still to send, any step after the exchange ended): the call was
    /// refused and changed nothing.
    Sequence,
}

impl Error {
    /// `true` if the card has seen a PPS request and rejected or garbled it, so that
    /// it must be reset before anything else (ISO/IEC 7816-3 9.3).
    pub const fn needs_reset(self) -> bool {
        matches!(
            self,
            Error::Timeout
                | Error::BadPpss(_)
                | Error::BadPps0(_)
                | Error::BadPck
                | Error::Truncated
                | Error::TooLong
                | Error::Unsolicited
                | Error::Mismatch
        )
    }
}

/// The request status for a PPS error: [`Status::NotSupported`] when the card and the
/// reader have no common ground, [`Status::IoTimeout`] for no answer,
/// [`Status::DeviceProtocolError`] for a bad answer (the card must be reset) and
/// [`Status::InvalidDeviceState`] for an [`Exchange`] driven out of turn.
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::ProtocolNotOffered
            | Error::SpecificMode(_)
            | Error::ImplicitParameters
            | Error::UnsupportedParameters => Failure::NotSupported,
            Error::Timeout => Failure::IoTimeout,
            Error::BadPpss(_)
            | Error::BadPps0(_)
            | Error::BadPck
            | Error::Truncated
            | Error::TooLong
            | Error::Unsolicited
            | Error::Mismatch => Failure::DeviceProtocolError,
            Error::Sequence => Failure::InvalidDeviceState,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ProtocolNotOffered => f.write_str("protocol not offered by the card"),
            Error::SpecificMode(t) => write!(f, "card is in specific mode for T={t}"),
            Error::ImplicitParameters => f.write_str("specific mode with implicit parameters"),
            Error::UnsupportedParameters => f.write_str("reader cannot run the card's parameters"),
            Error::BadPpss(b) => write!(f, "PPS answer starts with {b:02X}, not FF"),
            Error::BadPps0(b) => write!(f, "PPS answer PPS0 {b:02X} has bit 8 set"),
            Error::BadPck => f.write_str("PPS answer has a wrong PCK"),
            Error::Truncated => f.write_str("PPS answer truncated"),
            Error::TooLong => f.write_str("PPS answer too long"),
            Error::Unsolicited => {
                f.write_str("bytes from the card while no PPS answer was awaited")
            }
            Error::Mismatch => f.write_str("PPS answer does not match the request"),
            Error::Timeout => f.write_str("no PPS answer"),
            Error::Sequence => f.write_str("step called out of order: refused, nothing changed"),
        }
    }
}

impl core::error::Error for Error {}

/// Specific mode, from TA2: the ATR's decoder, [`atr::SpecificMode`](crate::atr::SpecificMode).
pub use crate::atr::SpecificMode;

/// What the card offers in its ATR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardOffer {
    /// Clock rate conversion index Fi (TA1 high nibble; 1 when TA1 is absent).
    pub fi: u8,
    /// Baud rate adjustment index Di (TA1 low nibble; 1 when TA1 is absent).
    pub di: u8,
    /// The protocols offered in TDi.
    pub protocols: ProtocolMask,
    /// The first offered protocol number T (TD1's, 0 without TD1): what the card runs
    /// without PPS in negotiable mode.
    pub first_protocol: u8,
    /// `Some` if TA2 is present (specific mode).
    pub specific: Option<SpecificMode>,
}

impl CardOffer {
    /// What a card's ATR `parameters` offer: TA1's Fi/Di, the protocols of TDi, and
    /// TA2's specific mode if present.
    pub const fn of(parameters: &crate::atr::Parameters) -> CardOffer {
        CardOffer {
            fi: parameters.fi,
            di: parameters.di,
            protocols: parameters.protocols,
            first_protocol: parameters.first_protocol,
            specific: match parameters.mode {
                crate::atr::Mode::Specific(specific) => Some(specific),
                crate::atr::Mode::Negotiable => None,
            },
        }
    }

    /// A negotiable card offering `protocols`, first `first_protocol`, with TA1 =
    /// `ta1` (`0x11` when TA1 is absent).
    pub const fn negotiable(ta1: u8, protocols: ProtocolMask, first_protocol: u8) -> CardOffer {
        let (fi, di) = rate_indices(ta1);
        CardOffer {
            fi,
            di,
            protocols,
            first_protocol,
            specific: None,
        }
    }
}

/// What the reader can do (CCID `dwDefaultClock`, `dwMaximumClock`,
/// `dwMaxDataRate` and the clock / data rate lists; smclib's reader capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReaderLimits<'a> {
    /// The clock during and right after the ATR, in kHz.
    pub default_clock_khz: u32,
    /// The highest clock the reader can give the card, in kHz.
    pub max_clock_khz: u32,
    /// The highest data rate on the I/O line, in bit/s.
    pub max_data_rate_bps: u32,
    /// The clocks the reader can set, in kHz; empty means the default and the
    /// maximum clock only.
    pub clocks_khz: &'a [u32],
    /// The data rates the reader supports, in bit/s; empty means every rate up to
    /// [`ReaderLimits::max_data_rate_bps`].
    pub data_rates_bps: &'a [u32],
}

impl ReaderLimits<'static> {
    /// The limits of a reader with `reader` capabilities: its default and maximum
    /// clock and data rate, no lists (every rate up to the maximum).
    pub const fn of(reader: &crate::caps::ReaderCapabilities) -> ReaderLimits<'static> {
        ReaderLimits {
            default_clock_khz: reader.default_clock_khz,
            max_clock_khz: reader.max_clock_khz,
            max_data_rate_bps: reader.max_data_rate,
            clocks_khz: &[],
            data_rates_bps: &[],
        }
    }
}

/// Which transmission parameters the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// Fd = 372, Dd = 1 at the default clock: no PPS1 (smclib `PTS_TYPE_DEFAULT`,
    /// `SCARD_PROTOCOL_DEFAULT`).
    Default,
    /// The fastest parameters both sides support (smclib `PTS_TYPE_OPTIMAL`).
    Optimal,
    /// These indices, sent as PPS1 (smclib `PTS_TYPE_USER`); the reader must be able
    /// to run them at some clock ≤ the card's f(max).
    Explicit {
        /// Clock rate conversion index Fi.
        fi: u8,
        /// Baud rate adjustment index Di.
        di: u8,
    },
}

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wanted {
    /// The protocol to select (T=0 or T=1).
    pub protocol: Protocol,
    /// The parameters.
    pub choice: Choice,
    /// PPS2 to send, if any (ISO/IEC 7816-3:2006: SPU use).
    pub pps2: Option<u8>,
    /// PPS3 to send, if any (reserved by ISO/IEC 7816-3:2006).
    pub pps3: Option<u8>,
}

impl Wanted {
    /// `protocol` with the fastest common parameters, no PPS2/PPS3.
    pub const fn optimal(protocol: Protocol) -> Wanted {
        Wanted {
            protocol,
            choice: Choice::Optimal,
            pps2: None,
            pps3: None,
        }
    }

    /// `protocol` with the default parameters, no PPS2/PPS3.
    pub const fn default_parameters(protocol: Protocol) -> Wanted {
        Wanted {
            protocol,
            choice: Choice::Default,
            pps2: None,
            pps3: None,
        }
    }
}

/// The number of bytes of a PPS message whose PPS0 is `pps0` (3 to 6).
pub const fn message_len(pps0: u8) -> usize {
    MIN_LEN + (pps0 & (PPS0_PPS1 | PPS0_PPS2 | PPS0_PPS3)).count_ones() as usize
}

// XOR of bytes, the check character T=1 calls LRC: the PCK of a PPS message is
// the XOR of the bytes before it, so that the XOR of a whole message is 0.
use crate::t1::lrc as xor;

/// PPS1..PPS3 of a message, by PPS0.
fn optional_bytes(bytes: &[u8]) -> [Option<u8>; 3] {
    let pps0 = bytes.get(1).copied().unwrap_or(0);
    let mut out = [None; 3];
    let mut at = 2;
    for (i, bit) in [PPS0_PPS1, PPS0_PPS2, PPS0_PPS3].into_iter().enumerate() {
        if pps0 & bit != 0 {
            if let Some(slot) = out.get_mut(i) {
                *slot = bytes.get(at).copied();
            }
            at += 1;
        }
    }
    out
}

/// A PPS message, request or answer: PPSS, PPS0, optional PPS1..PPS3, PCK. Both
/// [`Request`] and [`Response`] dereference to it for the field accessors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Message {
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl Message {
    /// The bytes, PPSS to PCK.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }

    /// The protocol number T of PPS0.
    pub const fn protocol(&self) -> u8 {
        self.bytes[1] & 0x0F
    }

    /// PPS1 (F and D indices), if present.
    pub fn pps1(&self) -> Option<u8> {
        optional_bytes(self.as_bytes())[0]
    }

    /// PPS2, if present.
    pub fn pps2(&self) -> Option<u8> {
        optional_bytes(self.as_bytes())[1]
    }

    /// PPS3, if present.
    pub fn pps3(&self) -> Option<u8> {
        optional_bytes(self.as_bytes())[2]
    }
}

/// Trace form: `PPS T=1, PPS1 94 (F=512, D=8)`, with PPS2/PPS3 when present
/// (reserved F or D indices shown as `RFU`).
impl core::fmt::Display for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PPS T={}", self.protocol())?;
        if let Some(pps1) = self.pps1() {
            write!(f, ", PPS1 {pps1:02X} (")?;
            let (fi, di) = rate_indices(pps1);
            match crate::timing::clock_rate_conversion(fi) {
                Some(rate) => write!(f, "F={}", rate.f)?,
                None => f.write_str("F=RFU")?,
            }
            match crate::timing::baud_rate_adjustment(di) {
                Some(d) => write!(f, ", D={d})")?,
                None => f.write_str(", D=RFU)")?,
            }
        }
        if let Some(pps2) = self.pps2() {
            write!(f, ", PPS2 {pps2:02X}")?;
        }
        if let Some(pps3) = self.pps3() {
            write!(f, ", PPS3 {pps3:02X}")?;
        }
        Ok(())
    }
}

/// A PPS request built by the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request(Message);

impl core::ops::Deref for Request {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.0
    }
}

impl Request {
    /// Build a request for protocol number `t` (low 4 bits used) and the optional
    /// parameter bytes.
    pub fn new(t: u8, pps1: Option<u8>, pps2: Option<u8>, pps3: Option<u8>) -> Request {
        let mut bytes = [0u8; MAX_LEN];
        let mut pps0 = t & 0x0F;
        let mut len = 2;
        for (value, bit) in [(pps1, PPS0_PPS1), (pps2, PPS0_PPS2), (pps3, PPS0_PPS3)] {
            if let Some(v) = value {
                pps0 |= bit;
                if let Some(slot) = bytes.get_mut(len) {
                    *slot = v;
                }
                len += 1;
            }
        }
        bytes[0] = PPSS;
        bytes[1] = pps0;
        let pck = xor(bytes.get(..len).unwrap_or(&[]));
        if let Some(slot) = bytes.get_mut(len) {
            *slot = pck;
        }
        Request(Message {
            bytes,
            len: (len + 1) as u8,
        })
    }

    /// Check the card's answer against this request (ISO/IEC 7816-3:2006 9.3): the
    /// same protocol; each of PPS1..PPS3 either echoed or absent (absent PPS1: the
    /// card keeps Fd/Dd; absent PPS2/PPS3: declined); none present that was not
    /// asked for.
    pub fn check(&self, response: &Response) -> Result<Accepted, Error> {
        if response.protocol() != self.protocol() {
            return Err(Error::Mismatch);
        }
        let asked = optional_bytes(self.as_bytes());
        let got = optional_bytes(response.as_bytes());
        let mut accepted = [false; 3];
        for ((a, g), acc) in asked.iter().zip(got.iter()).zip(accepted.iter_mut()) {
            *acc = match (a, g) {
                (_, None) => false,
                (Some(a), Some(g)) if a == g => true,
                _ => return Err(Error::Mismatch),
            };
        }
        let [pps1, pps2, pps3] = accepted;
        Ok(Accepted { pps1, pps2, pps3 })
    }
}

/// Which of the requested parameter bytes the card accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Accepted {
    /// PPS1 echoed: the proposed F and D apply. `false`: Fd = 372, Dd = 1.
    pub pps1: bool,
    /// PPS2 echoed.
    pub pps2: bool,
    /// PPS3 echoed.
    pub pps3: bool,
}

/// A checked PPS answer from the card: PPSS = FF, PPS0 bit 8 clear, the length PPS0
/// announces, a correct PCK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Response(Message);

impl core::ops::Deref for Response {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.0
    }
}

impl Response {
    /// Check `bytes` as a complete PPS answer. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Response, Error> {
        let (&ppss, &pps0) = match bytes {
            [a, b, ..] => (a, b),
            [a] if *a != PPSS => return Err(Error::BadPpss(*a)),
            _ => return Err(Error::Truncated),
        };
        if ppss != PPSS {
            return Err(Error::BadPpss(ppss));
        }
        if pps0 & PPS0_RFU != 0 {
            return Err(Error::BadPps0(pps0));
        }
        let n = message_len(pps0);
        if bytes.len() < n {
            return Err(Error::Truncated);
        }
        if bytes.len() > n {
            return Err(Error::TooLong);
        }
        if xor(bytes) != 0 {
            return Err(Error::BadPck);
        }
        let mut out = [0u8; MAX_LEN];
        match out.get_mut(..n) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => return Err(Error::TooLong),
        }
        Ok(Response(Message {
            bytes: out,
            len: n as u8,
        }))
    }
}

/// Collects the card's PPS answer as it arrives, in any split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResponseReader {
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl ResponseReader {
    /// An empty reader.
    pub const fn new() -> ResponseReader {
        ResponseReader {
            bytes: [0; MAX_LEN],
            len: 0,
        }
    }

    /// How many more bytes to read: never more than the answer can still have, 0 once
    /// it is complete. Before PPS0 has arrived this is what remains of the shortest
    /// answer (PPSS, PPS0, PCK).
    pub fn needed(&self) -> usize {
        let len = usize::from(self.len);
        let total = match self.bytes.get(1) {
            Some(&pps0) if len >= 2 => message_len(pps0),
            _ => MIN_LEN,
        };
        total.saturating_sub(len)
    }

    /// `true` once every announced byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.len >= 2 && self.needed() == 0
    }

    /// Take bytes from the card. Errors at once on a bad PPSS or PPS0, or on bytes
    /// beyond the announced length (nothing is stored then).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        for &b in bytes {
            if self.is_complete() {
                return Err(Error::TooLong);
            }
            match self.len {
                0 if b != PPSS => return Err(Error::BadPpss(b)),
                1 if b & PPS0_RFU != 0 => return Err(Error::BadPps0(b)),
                _ => {}
            }
            let at = usize::from(self.len);
            match self.bytes.get_mut(at) {
                Some(slot) => *slot = b,
                None => return Err(Error::TooLong),
            }
            self.len += 1;
        }
        Ok(())
    }

    /// The checked answer ([`Error::Truncated`] if bytes are missing).
    pub fn response(&self) -> Result<Response, Error> {
        Response::parse(self.bytes.get(..usize::from(self.len)).unwrap_or(&[]))
    }
}

/// The outcome of [`negotiate`]: what to send, and what to run afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negotiation {
    /// The protocol that applies afterwards.
    pub protocol: Protocol,
    /// The PPS request to send, or `None` when no PPS is needed (or allowed, in
    /// specific mode): then switch to [`Negotiation::timing`] directly.
    pub request: Option<Request>,
    /// F, D and the clock once the card has accepted PPS1 (or right away without a
    /// request).
    pub timing: Timing,
    /// F = 372, D = 1 at the default clock: what applies if the card answers without
    /// PPS1, and after a reset following a failed PPS.
    pub default_timing: Timing,
}

impl Negotiation {
    /// Validate the card's answer; on success the timing to switch to
    /// ([`Negotiation::timing`] if PPS1 was echoed, else the default).
    ///
    /// An error means the PPS failed: reset the card and negotiate again with
    /// [`Choice::Default`]. Without a request, any answer is [`Error::Unsolicited`].
    pub fn accept(&self, response: &Response) -> Result<Timing, Error> {
        let request = self.request.as_ref().ok_or(Error::Unsolicited)?;
        let accepted = request.check(response)?;
        Ok(if accepted.pps1 {
            self.timing
        } else {
            self.default_timing
        })
    }
}

impl Negotiation {
    /// The PPS exchange for this negotiation, the card's answer awaited within
    /// `waiting_time_us` µs per byte (the initial waiting time, 9600 etu at the
    /// card's Fi). Without a request it is [`Action::Done`] with
    /// [`Negotiation::timing`] at once.
    pub const fn exchange(&self, waiting_time_us: u32) -> Exchange {
        Exchange {
            negotiation: *self,
            waiting_time_us,
            reader: ResponseReader::new(),
            state: match self.request {
                Some(_) => State::Send,
                None => State::Done(self.timing),
            },
        }
    }
}

/// What the driver must do next in a PPS [`Exchange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send these bytes (the PPS request) to the card, then call [`Exchange::sent`].
    Send(&'a [u8]),
    /// Read up to `count` bytes of the card's answer (1 to 6), each within
    /// `timeout_us` µs of the previous one, and pass them to [`Exchange::feed`]; call
    /// [`Exchange::timeout`] if none came.
    Expect {
        /// How many bytes the answer can still have, at most.
        count: usize,
        /// The waiting time, in µs.
        timeout_us: u32,
    },
    /// The PPS succeeded: switch the line to `timing` ([`Negotiation::timing`] if the
    /// card took PPS1, else the default timing).
    Done {
        /// F, D and the clock to run from now on.
        timing: Timing,
    },
}

/// Where a PPS exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The request is to be sent.
    Send,
    /// The card's answer is coming in.
    Receive,
    /// The card accepted: this timing applies.
    Done(Timing),
    /// The PPS failed.
    Failed(Error),
}

/// One PPS exchange: the request out, the card's answer in and checked against it
/// (ISO/IEC 7816-3:2006 9.3). Built by [`Negotiation::exchange`]; every step returns
/// the next [`Action`] or the [`Error`] that ended it (after which the card must be
/// reset: [`Error::needs_reset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    negotiation: Negotiation,
    waiting_time_us: u32,
    reader: ResponseReader,
    state: State,
}

impl Exchange {
    /// The pending action, or the error that ended the exchange.
    pub fn action(&self) -> Result<Action<'_>, Error> {
        match self.state {
            State::Send => match &self.negotiation.request {
                Some(request) => Ok(Action::Send(request.as_bytes())),
                None => Err(Error::Sequence),
            },
            State::Receive => Ok(Action::Expect {
                count: self.reader.needed().max(1),
                timeout_us: self.waiting_time_us,
            }),
            State::Done(timing) => Ok(Action::Done { timing }),
            State::Failed(e) => Err(e),
        }
    }

    /// The request went out. Returns the next action. Out of turn (while the
    /// card's answer is coming in, or after the exchange ended) it is refused with
    /// [`Error::Sequence`] and changes nothing: [`Exchange::action`] still gives
    /// the pending action.
    pub fn sent(&mut self) -> Result<Action<'_>, Error> {
        match self.state {
            State::Send => self.state = State::Receive,
            State::Receive | State::Done(_) | State::Failed(_) => return Err(Error::Sequence),
        }
        self.action()
    }

    /// Bytes of the card's answer, in any split. Returns the next action: more
    /// bytes to expect, or done once the answer is complete and accepted. Bytes
    /// before the request went out fail the exchange ([`Error::Unsolicited`]), as
    /// do bytes beyond the answer in the call that completes it
    /// ([`Error::TooLong`]) and a bad or mismatching answer. After the exchange ended the call is refused with
    /// [`Error::Sequence`] and changes nothing.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Action<'_>, Error> {
        match self.state {
            State::Receive => self.state = self.take(bytes),
            State::Send if !bytes.is_empty() => self.state = State::Failed(Error::Unsolicited),
            State::Send => {}
            State::Done(_) | State::Failed(_) => return Err(Error::Sequence),
        }
        self.action()
    }

    /// The card did not answer (or not all of it) within the waiting time: the
    /// exchange fails with [`Error::Timeout`]. Only the wait for the answer can
    /// time out: before the request went out, or after the exchange ended, this is
    /// refused with [`Error::Sequence`] and changes nothing.
    pub fn timeout(&mut self) -> Result<Action<'_>, Error> {
        match self.state {
            State::Receive => self.state = State::Failed(Error::Timeout),
            State::Send | State::Done(_) | State::Failed(_) => return Err(Error::Sequence),
        }
        self.action()
    }

    fn take(&mut self, bytes: &[u8]) -> State {
        if let Err(e) = self.reader.feed(bytes) {
            return State::Failed(e);
        }
        if !self.reader.is_complete() {
            return State::Receive;
        }
        match self
            .reader
            .response()
            .and_then(|r| self.negotiation.accept(&r))
        {
            Ok(timing) => State::Done(timing),
            Err(e) => State::Failed(e),
        }
    }
}

/// The data rate in bit/s of F, D at `clock_khz`, rounded down.
const fn rate_bps(clock_khz: u32, f: u16, d: u8) -> u64 {
    clock_khz as u64 * 1000 * d as u64 / f as u64
}

/// `true` if the reader can run `bps` bit/s.
fn rate_supported(limits: &ReaderLimits<'_>, bps: u64) -> bool {
    if bps > u64::from(limits.max_data_rate_bps) {
        return false;
    }
    limits.data_rates_bps.is_empty()
        || limits
            .data_rates_bps
            .iter()
            .any(|&r| u64::from(r).abs_diff(bps) <= u64::from(RATE_TOLERANCE_BPS))
}

/// The fastest (Di', clock) with the card's F = F(fi) and D(Di') ≤ `d_max` that the
/// reader supports, as (rate, di, timing). With `exact`, only D = `d_max`.
fn best(limits: &ReaderLimits<'_>, fi: u8, d_max: u8, exact: bool) -> Option<(u64, u8, Timing)> {
    let rate = timing::clock_rate_conversion(fi)?;
    let clock_cap = rate.fmax_khz.min(limits.max_clock_khz);
    let pair = [limits.default_clock_khz, limits.max_clock_khz];
    let clocks: &[u32] = if limits.clocks_khz.is_empty() {
        &pair
    } else {
        limits.clocks_khz
    };
    let mut found: Option<(u64, u8, Timing)> = None;
    for di in 1..=9u8 {
        let Some(d) = timing::baud_rate_adjustment(di) else {
            continue;
        };
        if d > d_max || (exact && d != d_max) {
            continue;
        }
        for &clock in clocks {
            if clock == 0 || clock > clock_cap {
                continue;
            }
            let bps = rate_bps(clock, rate.f, d);
            if !rate_supported(limits, bps) {
                continue;
            }
            let better = match found {
                None => true,
                Some((b, _, t)) => bps > b || (bps == b && clock < t.clock_khz),
            };
            if better {
                found = Some((
                    bps,
                    di,
                    Timing {
                        f: rate.f,
                        d,
                        clock_khz: clock,
                    },
                ));
            }
        }
    }
    found
}

/// Choose the protocol and parameters, and build the PPS request if one is needed.
/// See the [module documentation](self) for the rules.
///
/// Errors: [`Error::ProtocolNotOffered`] (wanted protocol not in the ATR, or raw),
/// [`Error::SpecificMode`], [`Error::ImplicitParameters`],
/// [`Error::UnsupportedParameters`] (specific mode or [`Choice::Explicit`] with
/// parameters the reader cannot run).
pub fn negotiate(
    offer: &CardOffer,
    limits: &ReaderLimits<'_>,
    wanted: &Wanted,
) -> Result<Negotiation, Error> {
    let t = wanted
        .protocol
        .iso_number()
        .ok_or(Error::ProtocolNotOffered)?;
    if !offer.protocols.contains(wanted.protocol) {
        return Err(Error::ProtocolNotOffered);
    }
    let default_timing = Timing::default_at(limits.default_clock_khz);
    let done = |request, timing| Negotiation {
        protocol: wanted.protocol,
        request,
        timing,
        default_timing,
    };

    if let Some(specific) = offer.specific {
        if specific.protocol != t {
            return Err(Error::SpecificMode(specific.protocol));
        }
        if specific.implicit_parameters {
            return Err(Error::ImplicitParameters);
        }
        if (offer.fi, offer.di) == (timing::FI_DEFAULT, timing::DI_DEFAULT) {
            return Ok(done(None, default_timing));
        }
        let d = timing::baud_rate_adjustment(offer.di).ok_or(Error::UnsupportedParameters)?;
        let (_, _, timing) = best(limits, offer.fi, d, true).ok_or(Error::UnsupportedParameters)?;
        return Ok(done(None, timing));
    }

    let (pps1, timing) = match wanted.choice {
        Choice::Default => (None, default_timing),
        Choice::Optimal => {
            optimal(offer, limits).map_or((None, default_timing), |(p, t)| (Some(p), t))
        }
        Choice::Explicit { fi, di } => {
            let d = timing::baud_rate_adjustment(di).ok_or(Error::UnsupportedParameters)?;
            let (_, _, timing) = best(limits, fi, d, true).ok_or(Error::UnsupportedParameters)?;
            (Some(rate_byte(fi, di)), timing)
        }
    };
    let needed = pps1.is_some()
        || t != offer.first_protocol
        || wanted.pps2.is_some()
        || wanted.pps3.is_some();
    let request = needed.then(|| Request::new(t, pps1, wanted.pps2, wanted.pps3));
    Ok(done(request, timing))
}

/// The optimal PPS1 and its timing, or `None` when the defaults are as fast.
fn optimal(offer: &CardOffer, limits: &ReaderLimits<'_>) -> Option<(u8, Timing)> {
    if (offer.fi, offer.di) == (timing::FI_DEFAULT, timing::DI_DEFAULT) {
        return None;
    }
    let d_card = timing::baud_rate_adjustment(offer.di)?;
    let (bps, di, timing) = best(limits, offer.fi, d_card, false)?;
    let default_bps = rate_bps(limits.default_clock_khz, timing::F_DEFAULT, 1);
    (bps > default_bps).then_some((rate_byte(offer.fi, di), timing))
}

#[cfg(test)]
mod tests;
