//! T=0, the half-duplex character protocol (ISO/IEC 7816-3:2006 clause 10 and the
//! mapping of command APDUs onto it, clause 12.2), as a sans-I/O state machine.
//!
//! An [`Exchange`] carries one command APDU to the card and collects its response
//! APDU into a buffer the caller owns. The engine never touches the I/O line. Like
//! the T=1 engine ([`crate::t1`]) and the PPS exchange ([`crate::pps::Exchange`]),
//! every step returns `Result<`[`Action`]`, `[`Error`]`>`: what the driver does next,
//! or why the exchange failed ([`Status::from`] says what to report):
//!
//! * [`Action::Send`]: write these bytes to the card, then call [`Exchange::sent`];
//! * [`Action::Expect`]: read up to `count` bytes (each within `timeout_us` of the
//!   previous one, the T=0 waiting time WT) and hand them to [`Exchange::feed`] in any
//!   splits, one byte at a time or many at once; after `count` bytes the engine
//!   decides again. If the card stays silent, call [`Exchange::timeout`]. Data
//!   bursts may also be read in place ([`Exchange::data_slot`],
//!   [`Exchange::received`]);
//! * [`Action::Done`]: the response (data followed by SW1 SW2) is in the buffer.
//!
//! A step the engine is not waiting for is a driver mistake, not the card's: it is
//! refused with [`Error::Sequence`] and changes nothing, so [`Exchange::action`]
//! still gives the pending action (or how the exchange ended). That is
//! [`Exchange::sent`] while the engine waits for the card, [`Exchange::timeout`]
//! while it has something to send, [`Exchange::received`] without a data slot or
//! past its end, and every step after the exchange ended ([`Action::Done`] or an
//! error), as with the T=1 and PPS engines. Bytes from the card that break the
//! protocol end the exchange, also when they come while the engine has something
//! to send: they are the card's whatever the split ([`Error::UnexpectedByte`]).
//!
//! Zero bytes are no event, but each call keeps its own rule: `feed(&[])` is taken
//! (and changes nothing) wherever the exchange runs, as the line can always bring
//! bytes; `received(0)` only with a data slot, as any `received` (without one it is
//! a step out of order). After the end both are refused.
//!
//! ```
//! use readerkit::t0::{Action, Config, Exchange};
//!
//! // A card that answers GET CHALLENGE (Le = 4) with ACK, four bytes and 90 00.
//! let mut card = std::collections::VecDeque::new();
//! let mut response = [0u8; 32];
//! let mut ex = Exchange::new(&[0x00, 0x84, 0x00, 0x00, 0x04], &mut response,
//!                            Config::new(1_000_000))?;
//! let mut action = ex.action()?;
//! let len = loop {
//!     action = match action {
//!         Action::Send(bytes) => {
//!             assert_eq!(bytes, [0x00, 0x84, 0x00, 0x00, 0x04]);
//!             card.extend([0x84, 1, 2, 3, 4, 0x90, 0x00]);
//!             ex.sent()?
//!         }
//!         Action::Expect { count, .. } => {
//!             let n = count.min(card.len());
//!             let bytes: Vec<u8> = card.drain(..n).collect();
//!             if bytes.is_empty() { ex.timeout()? } else { ex.feed(&bytes)? }
//!         }
//!         Action::Done { response_len } => break response_len,
//!     };
//! };
//! assert_eq!(len, 6);
//! assert_eq!(ex.into_response()?, [1, 2, 3, 4, 0x90, 0x00]);
//! # Ok::<(), readerkit::t0::Error>(())
//! ```
//!
//! ## Mapping of the command cases (ISO/IEC 7816-3:2006 12.2)
//!
//! | APDU | TPDUs |
//! | --- | --- |
//! | 1 | `CLA INS P1 P2 00`, no data transfer |
//! | 2S | `CLA INS P1 P2 Le`; on `6C xx` the same header again with P3 = `xx`; on `61 xx` GET RESPONSE |
//! | 3S | `CLA INS P1 P2 Lc` + data |
//! | 4S | as 3S; then `61 xx` ⇒ GET RESPONSE; `90 00` without data ⇒ the response is just `90 00` |
//! | 2E | as 2S with P3 = min(Ne, 256) (00 for 256), then GET RESPONSE while the card answers `61 xx` |
//! | 3E, 4E with Nc ≤ 255 | as 3S, 4S |
//! | 3E, 4E with Nc > 255 | with [`Extended::Envelope`]: the whole APDU in ENVELOPE (INS `C2`) commands of up to 255 bytes, command chaining (CLA bit b5) on all but the last, each answered `90 00`; the last one's `61 xx` ⇒ GET RESPONSE. Otherwise [`Error::ExtendedNotSupported`] |
//!
//! After `6C xx` the card sends `xx` bytes; when that is more than Ne, the response
//! keeps the first Ne of them and the status word (ISO/IEC 7816-4:1995 Annex A,
//! case 2: La > Le), so a client's buffer of Ne + 2 bytes always holds the answer.
//!
//! GET RESPONSE is `CLA C0 00 00 Na` with Na = min(xx, Ne − bytes already received)
//! (xx = 00 meaning 256). The class byte follows [`GetResponseClass`]; the default,
//! [`GetResponseClass::Interindustry`], is `00` carrying the logical channel of the
//! command (ISO/IEC 7816-4 GET RESPONSE is an interindustry command). When the
//! command has no Le (cases 1 and 3), or the caller's Ne is already satisfied, a
//! `61 xx` is handed to the caller unchanged, as is a `6C xx` on a TPDU without
//! response data.
//!
//! ## Procedure bytes (clause 10.3.3)
//!
//! `60` (NULL): keep waiting, at most [`Config::max_null_bytes`] in a row; INS (ACK):
//! send or receive all remaining data of the TPDU; INS ⊕ FF: send or receive one byte;
//! `6x`/`9x` except `60`: SW1, and SW2 follows. Anything else, an ACK when no data is
//! left to transfer, or a byte from the card while the engine is waiting to send is
//! [`Error::UnexpectedProcedureByte`] / [`Error::UnexpectedByte`]; the driver should
//! then reset the card. Commands whose INS is `6x` or `9x` are refused
//! ([`Error::InvalidIns`]): T=0 cannot carry them.
//!
//! ## Response buffer
//!
//! The response buffer must hold the data and SW1 SW2. Data beyond that is read from
//! the card (T=0 cannot stop it) and discarded, and the exchange ends with
//! [`Error::ResponseBufferTooSmall`] ([`Status::BufferTooSmall`]); a `61 xx` whose
//! data would not fit ends it at once, before the GET RESPONSE.

use core::fmt;

mod procedure;
pub use procedure::{Procedure, is_sw1};

use crate::apdu::{self, Case, Command, MAX_SHORT_NC};
use crate::status::Failure;
#[cfg(doc)]
use crate::status::Status;
use crate::sw::StatusWord;

/// Length of a command header, CLA INS P1 P2 P3, in bytes (ISO/IEC 7816-3:2006
/// 10.3.2).
pub const HEADER_LEN: usize = 5;
/// The NULL procedure byte: the card needs more time.
pub const NULL: u8 = 0x60;
/// INS of GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// INS of ENVELOPE (the even one, data field not BER-TLV).
pub const INS_ENVELOPE: u8 = 0xC2;
/// The command-chaining bit b5 of an interindustry class byte.
const CLA_CHAINING: u8 = 0x10;

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The command APDU is malformed.
    Apdu(apdu::Error),
    /// The command's INS is `6x` or `9x`, which T=0 cannot carry (it would read as SW1).
    InvalidIns(u8),
    /// The command needs an extended data field (Nc > 255) and ENVELOPE is not enabled.
    ExtendedNotSupported,
    /// The response buffer cannot hold the response data plus SW1 SW2.
    ResponseBufferTooSmall,
    /// The card sent a byte that is no valid procedure byte here (the byte).
    UnexpectedProcedureByte(u8),
    /// The card sent a byte while the engine was not receiving (the byte).
    UnexpectedByte(u8),
    /// The card sent more NULL bytes in a row than [`Config::max_null_bytes`].
    TooManyNullBytes,
    /// More GET RESPONSE / `6C xx` rounds than [`Config::max_rounds`].
    TooManyRounds,
    /// The card did not answer within the waiting time.
    Timeout,
    /// The driver called a step the engine was not waiting for ([`Exchange::sent`]
    /// with nothing to send, [`Exchange::timeout`] with something to send,
    /// [`Exchange::received`] with no data slot or more bytes than it holds, any
    /// step after the exchange ended): the call was refused and changed nothing
    /// (also the answer of [`Exchange::into_response`] for an exchange still
    /// running).
    Sequence,
}

impl Error {
    /// `true` if the card may still be inside the exchange when it ends with
    /// this error (no answer in time, a byte out of place, NULL bytes without
    /// end, or a step out of order): it may still be sending, or waiting for
    /// data, and T=0 has no way back into step but a reset. `false` for a command
    /// refused before its header went out, and for an exchange ended after the
    /// card's status word (a response too large, too many rounds).
    pub const fn leaves_card_mid_exchange(self) -> bool {
        !matches!(
            self,
            Error::Apdu(_)
                | Error::InvalidIns(_)
                | Error::ExtendedNotSupported
                | Error::ResponseBufferTooSmall
                | Error::TooManyRounds
        )
    }
}

/// The request status for a T=0 error.
///
/// | error | status |
/// | --- | --- |
/// | `Apdu` | as [`apdu::Error`] says |
/// | `InvalidIns` | [`Status::InvalidParameter`] |
/// | `ExtendedNotSupported` | [`Status::NotSupported`] |
/// | `ResponseBufferTooSmall` | [`Status::BufferTooSmall`] |
/// | `Timeout`, `TooManyNullBytes` (the card never comes to an end) | [`Status::IoTimeout`] |
/// | `UnexpectedProcedureByte`, `UnexpectedByte`, `TooManyRounds` | [`Status::DeviceProtocolError`] |
/// | `Sequence` (a driver bug) | [`Status::InvalidDeviceState`] |
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::Apdu(e) => Failure::from(e),
            Error::InvalidIns(_) => Failure::InvalidParameter,
            Error::ExtendedNotSupported => Failure::NotSupported,
            Error::ResponseBufferTooSmall => Failure::BufferTooSmall,
            Error::Timeout | Error::TooManyNullBytes => Failure::IoTimeout,
            Error::UnexpectedProcedureByte(_) | Error::UnexpectedByte(_) | Error::TooManyRounds => {
                Failure::DeviceProtocolError
            }
            Error::Sequence => Failure::InvalidDeviceState,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Apdu(e) => write!(f, "invalid command APDU: {e}"),
            Error::InvalidIns(ins) => write!(f, "INS {ins:02X} cannot be sent over T=0"),
            Error::ExtendedNotSupported => f.write_str("extended APDU over T=0 needs ENVELOPE"),
            Error::ResponseBufferTooSmall => f.write_str("response buffer too small"),
            Error::UnexpectedProcedureByte(b) => write!(f, "unexpected procedure byte {b:02X}"),
            Error::UnexpectedByte(b) => write!(f, "card sent {b:02X} out of turn"),
            Error::TooManyNullBytes => f.write_str("too many NULL procedure bytes"),
            Error::TooManyRounds => f.write_str("too many GET RESPONSE / 6Cxx rounds"),
            Error::Timeout => f.write_str("card did not answer within the waiting time"),
            Error::Sequence => f.write_str("step called out of order: refused, nothing changed"),
        }
    }
}

impl core::error::Error for Error {}

impl From<apdu::Error> for Error {
    fn from(e: apdu::Error) -> Error {
        Error::Apdu(e)
    }
}

/// What to do with extended-length APDUs whose data field does not fit a short TPDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Extended {
    /// Refuse them with [`Error::ExtendedNotSupported`] (the default).
    #[default]
    NotSupported,
    /// Carry them in chained ENVELOPE commands (for cards that support ENVELOPE).
    Envelope,
}

/// The class byte of the GET RESPONSE and ENVELOPE commands the engine generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GetResponseClass {
    /// `00`, or for an interindustry command class the same logical channel with
    /// secure messaging and chaining bits cleared (the default).
    #[default]
    Interindustry,
    /// The command's own class byte (chaining bit cleared for interindustry
    /// classes), as GSM SIM cards (`A0`) need.
    FromCommand,
    /// This class byte.
    Fixed(u8),
}

impl GetResponseClass {
    /// The class byte to use for a command of class `cla`.
    pub const fn class_for(self, cla: u8) -> u8 {
        match self {
            GetResponseClass::Interindustry => {
                if cla & 0xE0 == 0x00 {
                    cla & 0x03
                } else if cla & 0xC0 == 0x40 {
                    0x40 | (cla & 0x0F)
                } else {
                    0x00
                }
            }
            GetResponseClass::FromCommand => {
                if cla & 0x80 == 0 {
                    cla & !CLA_CHAINING
                } else {
                    cla
                }
            }
            GetResponseClass::Fixed(c) => c,
        }
    }
}

/// Settings of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// The waiting time WT, in µs: the longest the card may take to send a byte after
    /// the previous byte on the line (ISO/IEC 7816-3 10.2; see
    /// [`crate::timing::Timing::t0_waiting_time_us`]). Handed back in
    /// [`Action::Expect`].
    pub waiting_time_us: u32,
    /// The most NULL bytes accepted in a row while waiting for a procedure byte
    /// (default 1000, about 16 minutes at the default WT of ~1 s).
    pub max_null_bytes: u32,
    /// The most GET RESPONSE commands plus `6C xx` resends in one exchange
    /// (default 300: enough for 65 536 bytes in 256-byte parts).
    pub max_rounds: u16,
    /// What to do with extended APDUs that need ENVELOPE (default: refuse).
    pub extended: Extended,
    /// The class byte of GET RESPONSE and ENVELOPE.
    pub get_response_class: GetResponseClass,
}

impl Config {
    /// The default settings with waiting time `waiting_time_us` (µs).
    pub const fn new(waiting_time_us: u32) -> Config {
        Config {
            waiting_time_us,
            max_null_bytes: 1000,
            max_rounds: 300,
            extended: Extended::NotSupported,
            get_response_class: GetResponseClass::Interindustry,
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'e> {
    /// Send these bytes to the card, then call [`Exchange::sent`].
    Send(&'e [u8]),
    /// Read up to `count` bytes (1 or more) and pass them to [`Exchange::feed`] (or
    /// into [`Exchange::data_slot`], then [`Exchange::received`]); each must arrive
    /// within `timeout_us` µs of the previous byte on the line, or call
    /// [`Exchange::timeout`].
    Expect {
        /// How many bytes the engine needs before it decides again.
        count: usize,
        /// The waiting time WT, in µs.
        timeout_us: u32,
    },
    /// The response APDU is complete: the first `response_len` bytes of the response
    /// buffer hold the data and SW1 SW2.
    Done {
        /// Length of the response APDU, in bytes (at least 2).
        response_len: usize,
    },
}

/// Which command a TPDU belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The command itself (cases 1, 2, 3, 4 short or mapped to short).
    Command,
    /// An ENVELOPE chunk; `end` is the offset in the APDU just after this chunk.
    Envelope { end: usize },
    /// A GET RESPONSE.
    GetResponse,
}

/// The data phase of the current TPDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer<'a> {
    /// No data (P3 = 0 in case 1).
    None,
    /// These bytes go to the card.
    Out(&'a [u8]),
    /// This many bytes come from the card.
    In(usize),
}

/// The protocol state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The TPDU header is to be sent.
    SendHeader,
    /// Waiting for a procedure byte; `nulls` NULL bytes seen in a row.
    Procedure { nulls: u32 },
    /// `count` data bytes are to be sent.
    SendData { count: usize },
    /// `left` data bytes are still to be received in this burst.
    ReceiveData { left: usize },
    /// SW1 received, waiting for SW2.
    Sw2 { sw1: u8 },
    /// The response APDU is complete.
    Complete { len: usize },
    /// The exchange failed.
    Failed(Error),
}

/// One command APDU's exchange over T=0. See the [module documentation](self).
#[derive(Debug)]
pub struct Exchange<'a> {
    config: Config,
    command: Command<'a>,
    response: &'a mut [u8],
    /// Response data bytes stored so far.
    len: usize,
    /// Data was discarded because the buffer was full.
    overflow: bool,
    stage: Stage,
    header: [u8; HEADER_LEN],
    transfer: Transfer<'a>,
    /// Data bytes of the current TPDU sent or received so far.
    done: usize,
    /// `len` when the current TPDU started (to discard its data on `6C xx`).
    start: usize,
    rounds: u16,
    state: State,
}

impl<'a> Exchange<'a> {
    /// Start the exchange of the command APDU `apdu`, collecting the response into
    /// `response`.
    ///
    /// Errors: the APDU is malformed ([`Error::Apdu`]), has an INS T=0 cannot carry
    /// ([`Error::InvalidIns`]), needs ENVELOPE that `config` does not allow
    /// ([`Error::ExtendedNotSupported`]), or `response` is shorter than 2 bytes
    /// ([`Error::ResponseBufferTooSmall`]).
    pub fn new(
        apdu: &'a [u8],
        response: &'a mut [u8],
        config: Config,
    ) -> Result<Exchange<'a>, Error> {
        let command = Command::parse(apdu)?;
        let ins = command.ins();
        if is_sw1(ins) {
            return Err(Error::InvalidIns(ins));
        }
        if response.len() < 2 {
            return Err(Error::ResponseBufferTooSmall);
        }
        let [cla, ins, p1, p2] = command.header();
        let mut ex = Exchange {
            config,
            command,
            response,
            len: 0,
            overflow: false,
            stage: Stage::Command,
            header: [cla, ins, p1, p2, 0],
            transfer: Transfer::None,
            done: 0,
            start: 0,
            rounds: 0,
            state: State::SendHeader,
        };
        match command.case() {
            Case::Case1 => {}
            Case::Case2Short | Case::Case2Extended => {
                let n = command.ne().map_or(256, |ne| ne.min(256)) as usize;
                ex.set_tpdu(ex.header, Transfer::In(n));
            }
            Case::Case3Short | Case::Case4Short | Case::Case3Extended | Case::Case4Extended => {
                let data = command.data();
                if data.len() <= MAX_SHORT_NC {
                    ex.set_tpdu(ex.header, Transfer::Out(data));
                } else if config.extended == Extended::Envelope {
                    ex.next_envelope(0);
                } else {
                    return Err(Error::ExtendedNotSupported);
                }
            }
        }
        Ok(ex)
    }

    /// What the driver must do next: the pending action ([`Action::Send`] of the
    /// header first), [`Action::Done`] once complete, or the error that ended the
    /// exchange.
    pub fn action(&self) -> Result<Action<'_>, Error> {
        let timeout_us = self.config.waiting_time_us;
        match self.state {
            State::SendHeader => Ok(Action::Send(&self.header)),
            State::SendData { count } => {
                let out = match self.transfer {
                    Transfer::Out(d) => d,
                    _ => &[],
                };
                let end = self.done.saturating_add(count);
                Ok(Action::Send(out.get(self.done..end).unwrap_or(&[])))
            }
            State::Procedure { .. } | State::Sw2 { .. } => Ok(Action::Expect {
                count: 1,
                timeout_us,
            }),
            State::ReceiveData { left } => Ok(Action::Expect {
                count: left,
                timeout_us,
            }),
            State::Complete { len } => Ok(Action::Done { response_len: len }),
            State::Failed(e) => Err(e),
        }
    }

    /// `true` if the card may still be inside the exchange when the driver ends it
    /// now: it failed with an error that [`Error::leaves_card_mid_exchange`], or it
    /// has not ended (the driver abandons it, after a failed line call say, wherever
    /// the card is in it). `false` once complete, and after a failure the card's
    /// status word ended. T=0 has no way back into step but a reset: a driver then
    /// deactivates the card and tells the device, as `LineReader` does.
    pub fn leaves_card_mid_exchange(&self) -> bool {
        match self.action() {
            Ok(Action::Done { .. }) => false,
            Ok(Action::Send(_) | Action::Expect { .. }) => true,
            Err(error) => error.leaves_card_mid_exchange(),
        }
    }

    /// The bytes of the last [`Action::Send`] went out. Returns the next action.
    ///
    /// Called while the engine waits for the card (there was nothing to send) or
    /// after the exchange ended, it is refused with [`Error::Sequence`] and changes
    /// nothing: [`Exchange::action`] still gives the pending action.
    pub fn sent(&mut self) -> Result<Action<'_>, Error> {
        match self.state {
            State::SendHeader => self.state = State::Procedure { nulls: 0 },
            State::SendData { count } => {
                self.done = self.done.saturating_add(count);
                self.state = State::Procedure { nulls: 0 };
            }
            State::Procedure { .. }
            | State::ReceiveData { .. }
            | State::Sw2 { .. }
            | State::Complete { .. }
            | State::Failed(_) => return Err(Error::Sequence),
        }
        self.action()
    }

    /// Bytes from the card, in any split. Returns the next action.
    ///
    /// Bytes arriving when the engine expects none (it is waiting to send, or the
    /// response completed earlier in the same call) fail the exchange with
    /// [`Error::UnexpectedByte`]: the card spoke out of turn. After the exchange
    /// ended the call is refused with [`Error::Sequence`] and changes nothing. A
    /// burst of data bytes (after an ACK) is taken in one copy, not byte by byte.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Action<'_>, Error> {
        self.running()?;
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            match self.state {
                State::Failed(_) => break,
                State::ReceiveData { left } => {
                    let (data, tail) = rest.split_at(left.min(rest.len()));
                    self.store_all(data);
                    self.data_received(data.len(), left);
                    rest = tail;
                }
                _ => {
                    self.byte(b);
                    rest = tail;
                }
            }
        }
        self.action()
    }

    /// Where the card's next data bytes go while the engine receives a burst of data
    /// that the response keeps: the driver may read up to `len()` bytes straight
    /// into this part of the response buffer and report how many with
    /// [`Exchange::received`], instead of copying them in with [`Exchange::feed`].
    /// `None` when no data is expected (procedure bytes, status words) or none of it
    /// is kept (beyond the buffer, or beyond Ne after a `6C xx`: then
    /// [`Exchange::feed`] counts and discards it).
    pub fn data_slot(&mut self) -> Option<&mut [u8]> {
        let State::ReceiveData { left } = self.state else {
            return None;
        };
        let end = self.len.saturating_add(left).min(self.kept());
        self.response
            .get_mut(self.len..end)
            .filter(|slot| !slot.is_empty())
    }

    /// The driver wrote `n` data bytes into the slot [`Exchange::data_slot`] gave.
    /// Returns the next action; 0 changes nothing.
    ///
    /// More bytes than the slot holds, or a call while there is no data slot (the
    /// engine waits to send, or for a procedure byte or SW2, the data does not fit
    /// the buffer, or the exchange ended), is refused with [`Error::Sequence`],
    /// whatever `n`, and changes nothing: [`Exchange::action`] still gives the
    /// pending action.
    pub fn received(&mut self, n: usize) -> Result<Action<'_>, Error> {
        match self.state {
            State::ReceiveData { left } => {
                let slot = self.kept().saturating_sub(self.len).min(left);
                if slot == 0 || n > slot {
                    return Err(Error::Sequence);
                }
                if n > 0 {
                    self.len += n;
                    self.data_received(n, left);
                }
            }
            State::SendHeader
            | State::SendData { .. }
            | State::Procedure { .. }
            | State::Sw2 { .. }
            | State::Complete { .. }
            | State::Failed(_) => return Err(Error::Sequence),
        }
        self.action()
    }

    /// The card did not answer within the waiting time: the exchange fails with
    /// [`Error::Timeout`].
    ///
    /// Only the engine's wait for the card can time out: called while it has
    /// something to send, or after the exchange ended, this is refused with
    /// [`Error::Sequence`] and changes nothing.
    pub fn timeout(&mut self) -> Result<Action<'_>, Error> {
        match self.state {
            State::Procedure { .. } | State::ReceiveData { .. } | State::Sw2 { .. } => {
                self.fail(Error::Timeout)
            }
            State::SendHeader
            | State::SendData { .. }
            | State::Complete { .. }
            | State::Failed(_) => return Err(Error::Sequence),
        }
        self.action()
    }

    /// The response APDU (data + SW1 SW2) once the exchange is complete.
    pub fn response(&self) -> Option<&[u8]> {
        match self.state {
            State::Complete { len } => self.response.get(..len),
            _ => None,
        }
    }

    /// End the exchange: the response APDU borrowed from the caller's buffer, or the
    /// error (a still-running exchange gives [`Error::Sequence`]).
    pub fn into_response(self) -> Result<&'a [u8], Error> {
        let buf: &'a [u8] = self.response;
        match self.state {
            State::Complete { len } => buf.get(..len).ok_or(Error::ResponseBufferTooSmall),
            State::Failed(e) => Err(e),
            _ => Err(Error::Sequence),
        }
    }

    /// The parsed command being exchanged.
    pub fn command(&self) -> &Command<'a> {
        &self.command
    }

    fn fail(&mut self, e: Error) {
        self.state = State::Failed(e);
    }

    /// [`Error::Sequence`] once the exchange ended: no step is taken then.
    fn running(&self) -> Result<(), Error> {
        match self.state {
            State::Complete { .. } | State::Failed(_) => Err(Error::Sequence),
            _ => Ok(()),
        }
    }

    fn set_tpdu(&mut self, header: [u8; HEADER_LEN], transfer: Transfer<'a>) {
        let mut header = header;
        header[4] = match transfer {
            Transfer::None => 0,
            // 256 becomes 00; Out is at most 255 bytes.
            Transfer::Out(d) => d.len() as u8,
            Transfer::In(n) => n as u8,
        };
        self.header = header;
        self.transfer = transfer;
        self.done = 0;
        self.start = self.len;
        self.state = State::SendHeader;
    }

    /// The ENVELOPE carrying the APDU's bytes from offset `from`.
    fn next_envelope(&mut self, from: usize) {
        let all = self.command.as_bytes();
        let end = from.saturating_add(MAX_SHORT_NC).min(all.len());
        let chunk = all.get(from..end).unwrap_or(&[]);
        let mut cla = self.config.get_response_class.class_for(self.command.cla());
        if end < all.len() {
            cla |= CLA_CHAINING;
        }
        self.stage = Stage::Envelope { end };
        self.set_tpdu([cla, INS_ENVELOPE, 0, 0, 0], Transfer::Out(chunk));
    }

    fn byte(&mut self, b: u8) {
        match self.state {
            State::Procedure { nulls } => self.procedure(b, nulls),
            State::ReceiveData { left } => {
                self.store_all(&[b]);
                self.data_received(1, left);
            }
            State::Sw2 { sw1 } => self.status_word(sw1, b),
            State::SendHeader | State::SendData { .. } | State::Complete { .. } => {
                self.fail(Error::UnexpectedByte(b))
            }
            State::Failed(_) => {}
        }
    }

    fn procedure(&mut self, b: u8, nulls: u32) {
        match Procedure::of(b, self.header[1]) {
            Procedure::Null => {
                if nulls >= self.config.max_null_bytes {
                    self.fail(Error::TooManyNullBytes);
                } else {
                    self.state = State::Procedure { nulls: nulls + 1 };
                }
            }
            ack @ (Procedure::Ack(_) | Procedure::AckOne(_)) => {
                let remaining = match self.transfer {
                    Transfer::None => 0,
                    Transfer::Out(d) => d.len().saturating_sub(self.done),
                    Transfer::In(n) => n.saturating_sub(self.done),
                };
                let count = match ack {
                    Procedure::AckOne(_) => remaining.min(1),
                    _ => remaining,
                };
                self.state = match (count, self.transfer) {
                    (0, _) | (_, Transfer::None) => {
                        State::Failed(Error::UnexpectedProcedureByte(b))
                    }
                    (count, Transfer::Out(_)) => State::SendData { count },
                    (left, Transfer::In(_)) => State::ReceiveData { left },
                };
            }
            Procedure::Sw1(sw1) => self.state = State::Sw2 { sw1 },
            Procedure::Invalid(b) => self.fail(Error::UnexpectedProcedureByte(b)),
        }
    }

    /// The response buffer's room for data: all but the two bytes of SW1 SW2.
    fn room(&self) -> usize {
        self.response.len().saturating_sub(2)
    }

    /// The command's Ne in bytes (0 without Le).
    fn ne(&self) -> usize {
        self.command
            .ne()
            .map_or(0, |ne| usize::try_from(ne).unwrap_or(usize::MAX))
    }

    /// The most data bytes the response keeps: Ne (none for a command without
    /// Le), and no more than the buffer holds besides SW1 SW2.
    fn kept(&self) -> usize {
        self.ne().min(self.room())
    }

    /// Data bytes from the card into the response buffer. Bytes beyond Ne are
    /// dropped (a `6C xx` asked for more than Ne); bytes within Ne that do not fit
    /// the buffer are dropped and mark the overflow.
    fn store_all(&mut self, data: &[u8]) {
        let wanted = self.ne().saturating_sub(self.len).min(data.len());
        let fit = self.kept().saturating_sub(self.len).min(wanted);
        let end = self.len + fit;
        if let (Some(dst), Some(src)) = (self.response.get_mut(self.len..end), data.get(..fit)) {
            dst.copy_from_slice(src);
            self.len = end;
        }
        if fit < wanted {
            self.overflow = true;
        }
    }

    /// `n` (at most `left`) data bytes of the burst arrived.
    fn data_received(&mut self, n: usize, left: usize) {
        self.done = self.done.saturating_add(n);
        self.state = match left.saturating_sub(n) {
            0 => State::Procedure { nulls: 0 },
            left => State::ReceiveData { left },
        };
    }

    fn status_word(&mut self, sw1: u8, sw2: u8) {
        let sw = StatusWord::new(sw1, sw2);
        if let Stage::Envelope { end } = self.stage {
            if end < self.command.as_bytes().len() {
                if sw.is_success() {
                    self.next_envelope(end);
                } else {
                    self.finish(sw1, sw2);
                }
                return;
            }
        }
        let incoming = matches!(self.transfer, Transfer::In(_));
        if let (Some(exact), true) = (sw.exact_length(), incoming) {
            // Wrong length: the same header again with P3 = SW2; drop any data.
            if !self.count_round() {
                return;
            }
            self.len = self.start;
            self.overflow = false;
            self.set_tpdu(self.header, Transfer::In(usize::from(exact)));
            return;
        }
        if self.overflow {
            self.fail(Error::ResponseBufferTooSmall);
            return;
        }
        if let Some(available) = sw.bytes_available() {
            let ne = self.ne();
            let left = ne.saturating_sub(self.len);
            if left > 0 {
                let n = usize::from(available).min(left);
                if self.len.saturating_add(n).saturating_add(2) > self.response.len() {
                    self.fail(Error::ResponseBufferTooSmall);
                    return;
                }
                if !self.count_round() {
                    return;
                }
                let cla = self.config.get_response_class.class_for(self.command.cla());
                self.stage = Stage::GetResponse;
                self.set_tpdu([cla, INS_GET_RESPONSE, 0, 0, 0], Transfer::In(n));
                return;
            }
        }
        self.finish(sw1, sw2);
    }

    /// Count one more GET RESPONSE / resend; `false` (and failed) past the limit.
    fn count_round(&mut self) -> bool {
        if self.rounds >= self.config.max_rounds {
            self.fail(Error::TooManyRounds);
            false
        } else {
            self.rounds += 1;
            true
        }
    }

    fn finish(&mut self, sw1: u8, sw2: u8) {
        let end = self.len.saturating_add(2);
        match self.response.get_mut(self.len..end) {
            Some(sw) => {
                sw.copy_from_slice(&[sw1, sw2]);
                self.state = State::Complete { len: end };
            }
            None => self.fail(Error::ResponseBufferTooSmall),
        }
    }
}

#[cfg(test)]
mod tests;
