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
//! ## After a failed PPS
//!
//! A wrong answer, a bad PCK or no answer within the initial waiting time means the
//! PPS failed (clause 9.3): the reader must deactivate the card (or at least reset
//! it). After the reset, negotiate again with [`Choice::Default`], which keeps
//! Fd/Dd ([`Negotiation::default_timing`]) and only sends a PPS (without PPS1) when
//! the wanted protocol is not the card's first one. This is the same retry
//! smclib documents for `PTS_TYPE_DEFAULT`.

use core::fmt;

use crate::protocol::{Protocol, ProtocolMask};
use crate::status::Failure;
#[cfg(doc)]
use crate::status::Status;
use crate::timing::{self, Timing};

/// The initial character of a PPS request and response.
pub const PPSS: u8 = 0xFF;
/// The longest PPS message: PPSS, PPS0, PPS1, PPS2, PPS3, PCK, in bytes.
pub const MAX_LEN: usize = 6;
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
            Error::Mismatch => f.write_str("PPS answer does not match the request"),
            Error::Timeout => f.write_str("no PPS answer"),
            Error::Sequence => f.write_str("step called out of order: refused, nothing changed"),
        }
    }
}

impl core::error::Error for Error {}

/// Specific mode, from TA2 (ISO/IEC 7816-3:2006 8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecificMode {
    /// The protocol number T the card runs (TA2 bits 4..1).
    pub protocol: u8,
    /// TA2 bit 5: the parameters are implicit (not TA1's).
    pub implicit_parameters: bool,
    /// TA2 bit 8 clear: a warm reset makes the card negotiable.
    pub can_change: bool,
}

impl SpecificMode {
    /// Decode TA2.
    pub const fn from_ta2(ta2: u8) -> SpecificMode {
        SpecificMode {
            protocol: ta2 & 0x0F,
            implicit_parameters: ta2 & 0x10 != 0,
            can_change: ta2 & 0x80 == 0,
        }
    }
}

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
    /// A negotiable card offering `protocols`, first `first_protocol`, with TA1 =
    /// `ta1` (`0x11` when TA1 is absent).
    pub const fn negotiable(ta1: u8, protocols: ProtocolMask, first_protocol: u8) -> CardOffer {
        CardOffer {
            fi: ta1 >> 4,
            di: ta1 & 0x0F,
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
    3 + (pps0 & (PPS0_PPS1 | PPS0_PPS2 | PPS0_PPS3)).count_ones() as usize
}

/// XOR of `bytes`: the PCK of a PPS message is the XOR of the bytes before it, so
/// that the XOR of a whole message is 0.
fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

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
            match crate::timing::clock_rate_conversion(pps1 >> 4) {
                Some(rate) => write!(f, "F={}", rate.f)?,
                None => f.write_str("F=RFU")?,
            }
            match crate::timing::baud_rate_adjustment(pps1 & 0x0F) {
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
            _ => 3,
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
    /// [`Choice::Default`]. Without a request, any answer is [`Error::TooLong`].
    pub fn accept(&self, response: &Response) -> Result<Timing, Error> {
        let request = self.request.as_ref().ok_or(Error::TooLong)?;
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
    /// before the request went out, or beyond the answer in the call that
    /// completes it, fail the exchange ([`Error::TooLong`]), as does a bad or
    /// mismatching answer. After the exchange ended the call is refused with
    /// [`Error::Sequence`] and changes nothing.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Action<'_>, Error> {
        match self.state {
            State::Receive => self.state = self.take(bytes),
            State::Send if !bytes.is_empty() => self.state = State::Failed(Error::TooLong),
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
            (Some((fi << 4) | (di & 0x0F)), timing)
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
    (bps > default_bps).then_some(((offer.fi << 4) | di, timing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    const T0_T1: ProtocolMask = ProtocolMask(0x3);

    fn reader() -> ReaderLimits<'static> {
        ReaderLimits {
            default_clock_khz: 4_000,
            max_clock_khz: 4_000,
            max_data_rate_bps: 344_086,
            clocks_khz: &[],
            data_rates_bps: &[],
        }
    }

    #[test]
    fn request_bytes_and_pck() {
        let r = Request::new(1, Some(0x96), None, None);
        assert_eq!(r.as_bytes(), [0xFF, 0x11, 0x96, 0x78]);
        let r = Request::new(0, Some(0x13), None, None);
        assert_eq!(r.as_bytes(), [0xFF, 0x10, 0x13, 0xFC]);
        let r = Request::new(1, None, None, None);
        assert_eq!(r.as_bytes(), [0xFF, 0x01, 0xFE]);
        let r = Request::new(0, Some(0x18), Some(0x02), Some(0x03));
        assert_eq!(
            r.as_bytes(),
            [
                0xFF,
                0x70,
                0x18,
                0x02,
                0x03,
                0xFF ^ 0x70 ^ 0x18 ^ 0x02 ^ 0x03
            ]
        );
        assert_eq!(
            (r.pps1(), r.pps2(), r.pps3()),
            (Some(0x18), Some(2), Some(3))
        );
        let r = Request::new(1, None, Some(0x05), None);
        assert_eq!(r.as_bytes(), [0xFF, 0x21, 0x05, 0xDB]);
        assert_eq!(
            (r.pps1(), r.pps2(), r.pps3(), r.protocol()),
            (None, Some(5), None, 1)
        );
        assert_eq!(xor(r.as_bytes()), 0);
    }

    #[test]
    fn ta1_96_with_a_4_mhz_344_kbps_reader() {
        let offer = CardOffer::negotiable(0x96, T0_T1, 0);
        let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
        // F = 512, D = 32 at 4 MHz = 250 000 bit/s <= 344 086.
        assert_eq!(
            n.timing,
            Timing {
                f: 512,
                d: 32,
                clock_khz: 4_000
            }
        );
        assert_eq!(n.timing.baud(), 250_000);
        assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x11, 0x96, 0x78]);
        assert_eq!(n.default_timing, Timing::default_at(4_000));
        // The card echoes: the new timing applies.
        let echo = Response::parse(&[0xFF, 0x11, 0x96, 0x78]).unwrap();
        assert_eq!(n.accept(&echo), Ok(n.timing));
    }

    #[test]
    fn ta1_11_needs_no_pps() {
        let offer = CardOffer::negotiable(0x11, T0_T1, 0);
        let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T0)).unwrap();
        assert_eq!(n.request, None);
        assert_eq!(n.timing, Timing::default_at(4_000));
        // T=1 is not the first protocol: PPS without PPS1.
        let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
        assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x01, 0xFE]);
        assert_eq!(n.timing, Timing::default_at(4_000));
    }

    #[test]
    fn too_fast_card_is_slowed_down() {
        // TA1 = 97: D = 64 gives 500 000 bit/s, too fast; D = 32 fits (libccid's 0x97 -> 0x96).
        let offer = CardOffer::negotiable(0x97, ProtocolMask::T1, 1);
        let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
        assert_eq!(n.request.unwrap().pps1(), Some(0x96));
        // TA1 = 18 (F 372, D 12 = 129 032 bit/s) against a list of 4 MHz rates for
        // D = 1, 2, 4, 8, 16, 32: D = 12 is not there, D = 8 (86 021) is.
        let rates = [10_752, 21_505, 43_010, 86_021, 172_043, 344_086];
        let limits = ReaderLimits {
            data_rates_bps: &rates,
            ..reader()
        };
        let offer = CardOffer::negotiable(0x18, ProtocolMask::T0, 0);
        let n = negotiate(&offer, &limits, &Wanted::optimal(Protocol::T0)).unwrap();
        assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x10, 0x14, 0xFB]);
        assert_eq!(
            n.timing,
            Timing {
                f: 372,
                d: 8,
                clock_khz: 4_000
            }
        );
        // TA1 = 96 against that list: nothing fits above the default: no PPS.
        let offer = CardOffer::negotiable(0x96, ProtocolMask::T0, 0);
        let n = negotiate(&offer, &limits, &Wanted::optimal(Protocol::T0)).unwrap();
        assert_eq!(n.request, None);
        assert_eq!(n.timing, Timing::default_at(4_000));
    }

    #[test]
    fn clock_list_and_fmax() {
        // A reader with 3.57, 4.8 and 8 MHz clocks.
        let clocks = [3_571, 4_800, 8_000];
        let limits = ReaderLimits {
            default_clock_khz: 3_571,
            max_clock_khz: 8_000,
            max_data_rate_bps: 1_000_000,
            clocks_khz: &clocks,
            data_rates_bps: &[],
        };
        let at = |f, d, clock_khz| Timing { f, d, clock_khz };
        // (case, TA1, PPS1 requested, timing)
        let cases = [
            (
                "Fi = 1 (f max 5 MHz), Di = 3: the 4.8 MHz clock",
                0x13,
                Some(0x13),
                at(372, 4, 4_800),
            ),
            (
                "Fi = 3 (f max 8 MHz): the 8 MHz clock is allowed",
                0x33,
                Some(0x33),
                at(744, 4, 8_000),
            ),
            (
                "a card slower than the default (Fi = 6, D = 1): no PPS",
                0x61,
                None,
                Timing::default_at(3_571),
            ),
            (
                "reserved Fi and Di: the defaults",
                0x7A,
                None,
                Timing::default_at(3_571),
            ),
        ];
        for (case, ta1, pps1, timing) in cases {
            let offer = CardOffer::negotiable(ta1, ProtocolMask::T0, 0);
            let n = negotiate(&offer, &limits, &Wanted::optimal(Protocol::T0)).unwrap();
            assert_eq!(n.request.map(|r| r.pps1()), pps1.map(Some), "{case}");
            assert_eq!(n.timing, timing, "{case}");
        }
    }

    #[test]
    fn default_and_explicit_choices() {
        let offer = CardOffer::negotiable(0x96, T0_T1, 0);
        let n = negotiate(&offer, &reader(), &Wanted::default_parameters(Protocol::T0)).unwrap();
        assert_eq!(n.request, None);
        let w = Wanted {
            protocol: Protocol::T0,
            choice: Choice::Explicit { fi: 9, di: 4 },
            pps2: None,
            pps3: None,
        };
        let n = negotiate(&offer, &reader(), &w).unwrap();
        assert_eq!(n.request.unwrap().pps1(), Some(0x94));
        assert_eq!(
            n.timing,
            Timing {
                f: 512,
                d: 8,
                clock_khz: 4_000
            }
        );
        let w = Wanted {
            choice: Choice::Explicit { fi: 9, di: 7 },
            ..w
        };
        assert_eq!(
            negotiate(&offer, &reader(), &w),
            Err(Error::UnsupportedParameters)
        );
        // PPS2 only.
        let w = Wanted {
            pps2: Some(1),
            ..Wanted::default_parameters(Protocol::T0)
        };
        let n = negotiate(&offer, &reader(), &w).unwrap();
        assert_eq!(n.request.unwrap().as_bytes(), [0xFF, 0x20, 0x01, 0xDE]);
    }

    #[test]
    fn protocol_and_specific_mode() {
        let offer = CardOffer::negotiable(0x96, ProtocolMask::T0, 0);
        let e = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap_err();
        assert_eq!(
            (e, Status::from(e)),
            (Error::ProtocolNotOffered, Status::NotSupported)
        );
        assert_eq!(
            negotiate(&offer, &reader(), &Wanted::optimal(Protocol::Raw)),
            Err(Error::ProtocolNotOffered)
        );
        // Specific mode T=1 with TA1 = 96: no PPS, TA1 applies at once.
        let specific = CardOffer {
            specific: Some(SpecificMode::from_ta2(0x01)),
            ..CardOffer::negotiable(0x96, T0_T1, 0)
        };
        let n = negotiate(&specific, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
        assert_eq!(
            (n.request, n.timing),
            (
                None,
                Timing {
                    f: 512,
                    d: 32,
                    clock_khz: 4_000
                }
            )
        );
        assert_eq!(
            negotiate(&specific, &reader(), &Wanted::optimal(Protocol::T0)),
            Err(Error::SpecificMode(1))
        );
        // Too fast for the reader, and no lowering allowed in specific mode.
        let fast = CardOffer {
            fi: 9,
            di: 7,
            ..specific
        };
        assert_eq!(
            negotiate(&fast, &reader(), &Wanted::optimal(Protocol::T1)),
            Err(Error::UnsupportedParameters)
        );
        let implicit = CardOffer {
            specific: Some(SpecificMode::from_ta2(0x91)),
            ..specific
        };
        assert_eq!(
            negotiate(&implicit, &reader(), &Wanted::optimal(Protocol::T1)),
            Err(Error::ImplicitParameters)
        );
        let m = SpecificMode::from_ta2(0x91);
        assert_eq!(
            (m.protocol, m.implicit_parameters, m.can_change),
            (1, true, false)
        );
        let plain = CardOffer {
            specific: Some(SpecificMode::from_ta2(0x00)),
            ..CardOffer::negotiable(0x11, T0_T1, 0)
        };
        let n = negotiate(&plain, &reader(), &Wanted::optimal(Protocol::T0)).unwrap();
        assert_eq!((n.request, n.timing), (None, Timing::default_at(4_000)));
    }

    #[test]
    fn response_validation() {
        let req = Request::new(1, Some(0x96), None, None);
        let ok = |bytes: &[u8]| req.check(&Response::parse(bytes).unwrap());
        // Exact echo.
        assert_eq!(
            ok(&[0xFF, 0x11, 0x96, 0x78]),
            Ok(Accepted {
                pps1: true,
                pps2: false,
                pps3: false
            })
        );
        // PPS1 absent: Fd/Dd.
        assert_eq!(
            ok(&[0xFF, 0x01, 0xFE]),
            Ok(Accepted {
                pps1: false,
                pps2: false,
                pps3: false
            })
        );
        // Another PPS1, another protocol, an unrequested PPS2.
        assert_eq!(ok(&[0xFF, 0x11, 0x95, 0x7B]), Err(Error::Mismatch));
        assert_eq!(ok(&[0xFF, 0x10, 0x96, 0x79]), Err(Error::Mismatch));
        assert_eq!(ok(&[0xFF, 0x31, 0x96, 0x00, 0x58]), Err(Error::Mismatch));
        // Malformed answers.
        assert_eq!(
            Response::parse(&[0xFF, 0x11, 0x96, 0x79]),
            Err(Error::BadPck)
        );
        assert_eq!(
            Response::parse(&[0xFE, 0x11, 0x96, 0x78]),
            Err(Error::BadPpss(0xFE))
        );
        assert_eq!(
            Response::parse(&[0xFF, 0x91, 0x96, 0xF8]),
            Err(Error::BadPps0(0x91))
        );
        assert_eq!(Response::parse(&[0xFF, 0x11, 0x96]), Err(Error::Truncated));
        assert_eq!(
            Response::parse(&[0xFF, 0x01, 0xFE, 0x00]),
            Err(Error::TooLong)
        );
        assert_eq!(Response::parse(&[]), Err(Error::Truncated));
        assert!(Error::BadPck.needs_reset() && Error::Timeout.needs_reset());
        assert!(!Error::ProtocolNotOffered.needs_reset());
        assert!(!Error::Sequence.needs_reset());
        assert_eq!(Status::from(Error::Sequence), Status::InvalidDeviceState);
        // Declined PPS2, accepted PPS1.
        let req = Request::new(0, Some(0x13), Some(0x01), None);
        let resp = Response::parse(&[0xFF, 0x10, 0x13, 0xFC]).unwrap();
        assert_eq!(
            req.check(&resp),
            Ok(Accepted {
                pps1: true,
                pps2: false,
                pps3: false
            })
        );
        // Negotiation::accept with PPS1 declined gives the default timing.
        let offer = CardOffer::negotiable(0x96, T0_T1, 0);
        let n = negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap();
        assert_eq!(
            n.accept(&Response::parse(&[0xFF, 0x01, 0xFE]).unwrap()),
            Ok(n.default_timing)
        );
        let none = negotiate(&offer, &reader(), &Wanted::default_parameters(Protocol::T0)).unwrap();
        assert_eq!(
            none.accept(&Response::parse(&[0xFF, 0x00, 0xFF]).unwrap()),
            Err(Error::TooLong)
        );
    }

    #[test]
    fn response_reader_counts_bytes() {
        let mut r = ResponseReader::new();
        assert_eq!(r.needed(), 3);
        r.feed(&[0xFF]).unwrap();
        assert_eq!(r.needed(), 2);
        r.feed(&[0x71]).unwrap();
        assert_eq!(r.needed(), 4);
        r.feed(&[0x18, 0x00]).unwrap();
        assert_eq!(r.needed(), 2);
        assert!(!r.is_complete());
        assert_eq!(r.response(), Err(Error::Truncated));
        r.feed(&[0x00, 0xFF ^ 0x71 ^ 0x18]).unwrap();
        assert!(r.is_complete());
        assert_eq!(r.needed(), 0);
        let resp = r.response().unwrap();
        assert_eq!(
            (resp.pps1(), resp.pps2(), resp.pps3(), resp.protocol()),
            (Some(0x18), Some(0), Some(0), 1)
        );
        assert_eq!(r.feed(&[0x00]), Err(Error::TooLong));
        let mut r = ResponseReader::new();
        assert_eq!(r.feed(&[0x3B]), Err(Error::BadPpss(0x3B)));
        let mut r = ResponseReader::new();
        assert_eq!(r.feed(&[0xFF, 0x80]), Err(Error::BadPps0(0x80)));
        // One byte at a time and all at once agree.
        let msg = Request::new(1, Some(0x95), None, None);
        let mut a = ResponseReader::new();
        for &b in msg.as_bytes() {
            assert!(a.needed() > 0);
            a.feed(&[b]).unwrap();
        }
        let mut b = ResponseReader::new();
        b.feed(msg.as_bytes()).unwrap();
        assert_eq!(a.response(), b.response());
        assert!(msg.check(&a.response().unwrap()).unwrap().pps1);
    }

    #[test]
    fn every_short_answer_parses_or_errs() {
        let mut rng = readerkit_testkit::rng::Rng(0x9E37_79B9);
        for _ in 0..50_000 {
            let x = rng.next_u64();
            let len = (x % 8) as usize;
            let bytes: std::vec::Vec<u8> = (0..len)
                .map(|i| (x >> (i * 4)) as u8 | if i == 0 { 0xF0 } else { 0 })
                .collect();
            let parsed = Response::parse(&bytes);
            let mut r = ResponseReader::new();
            let fed = r.feed(&bytes);
            if let Ok(p) = parsed {
                assert!(fed.is_ok());
                assert_eq!(r.response(), Ok(p));
                assert_eq!(p.as_bytes(), &bytes[..]);
            }
        }
    }

    #[test]
    fn messages_print_in_trace_form() {
        let shown = |r: Request| std::format!("{}", *r);
        assert_eq!(
            shown(Request::new(1, Some(0x94), None, None)),
            "PPS T=1, PPS1 94 (F=512, D=8)"
        );
        assert_eq!(shown(Request::new(0, None, None, None)), "PPS T=0");
        assert_eq!(
            shown(Request::new(1, Some(0x7F), Some(0x01), Some(0x02))),
            "PPS T=1, PPS1 7F (F=RFU, D=RFU), PPS2 01, PPS3 02"
        );
    }

    fn t1_negotiation() -> Negotiation {
        let offer = CardOffer::negotiable(0x96, T0_T1, 0);
        negotiate(&offer, &reader(), &Wanted::optimal(Protocol::T1)).unwrap()
    }

    #[test]
    fn exchange_sends_expects_and_accepts_in_any_split() {
        let n = t1_negotiation();
        let request = n.request.unwrap();
        for split in 1..=4 {
            let mut pps = n.exchange(9_600);
            assert_eq!(pps.action(), Ok(Action::Send(request.as_bytes())));
            assert_eq!(
                pps.sent(),
                Ok(Action::Expect {
                    count: 3,
                    timeout_us: 9_600
                })
            );
            let mut answer = request.as_bytes();
            let mut last = pps.action();
            while !answer.is_empty() {
                let (part, rest) = answer.split_at(split.min(answer.len()));
                answer = rest;
                last = pps.feed(part);
            }
            assert_eq!(last, Ok(Action::Done { timing: n.timing }), "split {split}");
        }
        // Bytes beyond the answer in the call that completes it are the card's.
        let mut pps = n.exchange(9_600);
        assert!(pps.sent().is_ok());
        let mut long = request.as_bytes().to_vec();
        long.push(0);
        assert_eq!(pps.feed(&long), Err(Error::TooLong));
        // PPS1 declined: the default timing.
        let mut pps = n.exchange(9_600);
        assert!(pps.sent().is_ok());
        assert_eq!(
            pps.feed(&[0xFF, 0x01, 0xFE]),
            Ok(Action::Done {
                timing: n.default_timing
            })
        );
        // No request: done at once.
        let keep = Negotiation { request: None, ..n };
        assert_eq!(
            keep.exchange(1).action(),
            Ok(Action::Done { timing: n.timing })
        );
    }

    #[test]
    fn exchange_failures_stick() {
        let n = t1_negotiation();
        let mut pps = n.exchange(9_600);
        assert!(pps.sent().is_ok());
        assert_eq!(pps.feed(&[0xFF, 0x10, 0x13, 0xFC]), Err(Error::Mismatch));
        assert_eq!(pps.action(), Err(Error::Mismatch));

        let mut pps = n.exchange(9_600);
        assert!(pps.sent().is_ok());
        assert_eq!(pps.feed(&[0x3B]), Err(Error::BadPpss(0x3B)));

        let mut pps = n.exchange(9_600);
        assert!(pps.sent().is_ok());
        assert!(pps.feed(&[0xFF, 0x11]).is_ok());
        assert_eq!(pps.timeout(), Err(Error::Timeout));
        assert_eq!(pps.action(), Err(Error::Timeout));

        // The card's bytes before the request went out.
        let mut pps = n.exchange(9_600);
        assert_eq!(pps.feed(&[0xFF]), Err(Error::TooLong));
        // No bytes: nothing happened.
        let mut pps = n.exchange(9_600);
        let before = pps;
        assert_eq!(pps.feed(&[]), before.action());
        assert_eq!(pps, before);
    }

    /// A driver step the exchange is not waiting for.
    #[derive(Debug, Clone, Copy)]
    enum Misuse {
        Sent,
        Timeout,
        Feed(&'static [u8]),
    }

    /// Steps that take an exchange somewhere (`None`: `sent` while there is
    /// something to send, else silence; `Some`: the card's bytes), and the steps
    /// then refused.
    type Walk<'a> = (&'a [Option<&'a [u8]>], &'a [Misuse]);

    #[test]
    fn a_step_out_of_order_or_after_the_end_is_refused_and_changes_nothing() {
        use Misuse::*;
        let n = t1_negotiation();
        let echo = n.request.unwrap();
        let (echo, first) = (echo.as_bytes(), echo.as_bytes()[..2].to_vec());
        let after_the_end: &[Misuse] = &[Sent, Timeout, Feed(&[]), Feed(&[0xFF])];
        let cases: [Walk<'_>; 7] = [
            (&[], &[Timeout]),
            (&[None], &[Sent]),
            (&[None, Some(&first)], &[Sent]),
            (&[None, Some(echo)], after_the_end),
            (&[None, Some(&[0xFF, 0x10, 0x13, 0xFC])], after_the_end),
            (&[None, Some(&first), Some(&[])], &[Sent]),
            (&[None, Some(&first), None], after_the_end),
        ];
        for (steps, misuses) in cases {
            let mut pps = n.exchange(9_600);
            for step in steps {
                let _ = match step {
                    None if pps.action().is_ok_and(|a| matches!(a, Action::Send(_))) => pps.sent(),
                    None => pps.timeout(),
                    Some(bytes) => pps.feed(bytes),
                };
            }
            let before = pps;
            for &misuse in misuses {
                let r = match misuse {
                    Sent => pps.sent().map(|_| ()),
                    Timeout => pps.timeout().map(|_| ()),
                    Feed(bytes) => pps.feed(bytes).map(|_| ()),
                };
                let at = before.action();
                assert_eq!(r, Err(Error::Sequence), "{misuse:?} at {at:?}");
                assert_eq!(pps, before, "{misuse:?} at {at:?} changed the exchange");
            }
        }
        // Without a request the exchange is done at once: nothing to send.
        let mut done = Negotiation { request: None, ..n }.exchange(1);
        let before = done;
        assert_eq!(done.sent(), Err(Error::Sequence));
        assert_eq!(done.feed(&[0xFF]), Err(Error::Sequence));
        assert_eq!(done, before);
    }
}
