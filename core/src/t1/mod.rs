//! ISO/IEC 7816-3 T=1: the half-duplex block transmission protocol, as a sans-I/O
//! state machine.
//!
//! * [`Block`] and [`Repr`]: a checked view of a block's bytes and its validated
//!   meaning (I-, R- and S-blocks), which also emits blocks; [`Edc`] the LRC or CRC
//!   epilogue.
//! * [`Engine`]: the interface device's side of the protocol across APDUs (sequence
//!   numbers, IFSC/IFSD, resynchronisation state), and [`Transaction`]: one command
//!   APDU and its response, with chaining in both directions, S-block handling (IFS,
//!   WTX, ABORT, RESYNCH) and the error recovery of ISO/IEC 7816-3:2006 clause 11.6.
//!
//! The engine never does I/O and never reads a clock. It says what to send and how
//! long to wait ([`Action::Send`] with a [`Wait`]); the reader driver transmits the
//! block, reads the card's block within that time and feeds it back
//! ([`Transaction::receive`]), or reports that nothing valid came
//! ([`Transaction::timeout`], [`Transaction::line_error`]), until the engine says
//! [`Action::Done`] or returns an [`Error`]. Every transaction starts with a block
//! to send: one that could not ([`Engine::transmit`] when a resynchronisation is
//! owed and [`Config::max_resynchs`] is 0) is refused by `transmit` itself with
//! [`Error::TooManyErrors`], so no caller holds a dead transaction. An input after
//! the exchange ended is the driver's mistake, not the card's: it is refused with
//! [`Error::NoTransaction`] and changes nothing ([`Transaction::action`] still says
//! how the exchange ended, and the engine's sequence numbers are kept), as the T=0
//! and PPS engines refuse every step after their end. While the exchange runs no
//! input is out of order (each [`Action::Send`] includes the wait for the card's
//! block). Every block the card sends, valid or not, moves the exchange on
//! (ISO/IEC 7816-3 clause 11.6):
//!
//! ```
//! use readerkit::t1::{Action, Config, Edc, Engine};
//!
//! # fn card(block: &[u8]) -> Option<&'static [u8]> {
//! #     match block {
//! #         [0x00, 0xC1, 0x01, 0xFE, 0x3E] => Some(&[0x00, 0xE1, 0x01, 0xFE, 0x1E]),
//! #         [0x00, 0x00, 0x05, ..] => Some(&[0x00, 0x00, 0x02, 0x90, 0x00, 0x92]),
//! #         _ => None,
//! #     }
//! # }
//! let mut engine = Engine::new(Config::new(32, Edc::Lrc))?;
//! let apdu = [0x00, 0xB0, 0x00, 0x00, 0x00];
//! let mut response = [0u8; 258];
//! let mut tx = engine.transmit(&apdu, &mut response)?;
//! let mut action = tx.action()?;
//! let len = loop {
//!     match action {
//!         Action::Send { block, wait: _ } => {
//!             // Transmit `block`, then read one block within `wait.bwt_us(..)`.
//!             action = match card(block) {
//!                 Some(reply) => tx.receive(reply)?,
//!                 None => tx.timeout()?,
//!             };
//!         }
//!         Action::Done { response_len } => break response_len,
//!     }
//! };
//! assert_eq!(&response[..len], &[0x90, 0x00]);
//! # Ok::<(), readerkit::t1::Error>(())
//! ```

use core::fmt;

use crate::status::Failure;

mod block;
mod edc;
mod engine;

pub use block::{
    Block, BlockError, Kind, MAX_BLOCK_LEN, MAX_INF_LEN, PROLOGUE_LEN, RCode, Repr, SBlock, Seq,
    block_len, clamp_ifs, is_valid_ifs,
};
pub use edc::{Edc, crc16, lrc};
pub use engine::{Action, Engine, Transaction, Wait};

/// Largest command APDU, in bytes: an extended case 4 APDU (4-byte header, 3-byte Lc,
/// 65 535 bytes of data, 2-byte Le).
pub const MAX_APDU_LEN: usize = 65_535 + 9;
/// Largest response APDU, in bytes: 65 536 bytes of data and SW1 SW2.
pub const MAX_RESPONSE_LEN: usize = 65_536 + 2;
/// IFSC and IFSD before any negotiation, in bytes (ISO/IEC 7816-3:2006 clause 11.4.2).
pub const DEFAULT_IFS: u8 = 32;
/// Default number of consecutive error-recovery transmissions (R-blocks or
/// retransmissions) before the engine resynchronises.
pub const DEFAULT_MAX_RETRIES: u8 = 3;
/// Default number of S(RESYNCH request) attempts per APDU before giving up.
pub const DEFAULT_MAX_RESYNCHS: u8 = 3;
/// Default number of S-block requests (WTX, IFS, ABORT) the card may make per APDU.
pub const DEFAULT_MAX_CARD_REQUESTS: u16 = 1024;

/// The T=1 parameters of one card session (from the ATR and the reader's limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// IFSC: the largest information field the card accepts, in bytes (1 to 254); the
    /// first TA for T=1 in the ATR, [`DEFAULT_IFS`] if absent.
    pub ifsc: u8,
    /// IFSD: the largest information field the reader accepts, in bytes (1 to 254).
    /// Blocks from the card with a longer INF are invalid.
    pub ifsd: u8,
    /// The error detection code (first TC for T=1 in the ATR).
    pub edc: Edc,
    /// The NAD byte to send (destination address b7–b5, source b3–b1, usually 0;
    /// b8 and b4 are not used and must be 0). The card's blocks must carry it with
    /// the addresses swapped; their b8 and b4 are ignored, and a NAD of `FF` from
    /// the card is invalid (ISO/IEC 7816-3:2006 11.3.2.1).
    pub nad: u8,
    /// Announce `ifsd` with an S(IFS request) before the first I-block after the ATR
    /// (and after each resynchronisation). Set it to `false` when the reader already
    /// did (smclib's `SCARD_ATTR_SUPRESS_T1_IFS_REQUEST`).
    pub send_ifs_request: bool,
    /// Consecutive error-recovery transmissions before S(RESYNCH request)
    /// ([`DEFAULT_MAX_RETRIES`]).
    pub max_retries: u8,
    /// S(RESYNCH request) attempts per APDU before [`Error::TooManyErrors`]
    /// ([`DEFAULT_MAX_RESYNCHS`]).
    pub max_resynchs: u8,
    /// S-block requests the card may make per APDU before
    /// [`Error::TooManyRequests`] ([`DEFAULT_MAX_CARD_REQUESTS`]); bounds the exchange
    /// with a card that asks for waiting time extensions forever.
    pub max_card_requests: u16,
}

impl Config {
    /// The usual parameters for a card announcing `ifsc` and `edc`: IFSD 254 announced
    /// by an S(IFS request), NAD 0, the default retry limits.
    pub const fn new(ifsc: u8, edc: Edc) -> Config {
        Config {
            ifsc,
            ifsd: MAX_INF_LEN as u8,
            edc,
            nad: 0,
            send_ifs_request: true,
            max_retries: DEFAULT_MAX_RETRIES,
            max_resynchs: DEFAULT_MAX_RESYNCHS,
            max_card_requests: DEFAULT_MAX_CARD_REQUESTS,
        }
    }

    /// Check the values: IFSC and IFSD from 1 to 254 bytes, the NAD's unused bits
    /// b8 and b4 clear.
    pub const fn validate(&self) -> Result<(), Error> {
        if self.nad & !engine::NAD_ADDRESS_BITS != 0 {
            return Err(Error::InvalidConfig);
        }
        if !is_valid_ifs(self.ifsc) || !is_valid_ifs(self.ifsd) {
            return Err(Error::InvalidConfig);
        }
        Ok(())
    }
}

impl Default for Config {
    /// [`Config::new`] with IFSC [`DEFAULT_IFS`] and LRC.
    fn default() -> Config {
        Config::new(DEFAULT_IFS, Edc::Lrc)
    }
}

/// Why a T=1 exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// [`Config`] has an IFSC or IFSD outside 1 to 254 bytes, or a NAD with b8 or
    /// b4 set.
    InvalidConfig,
    /// The command APDU is empty.
    EmptyApdu,
    /// The command APDU is longer than [`MAX_APDU_LEN`] bytes.
    ApduTooLong,
    /// No exchange is in progress (it ended, or never started): the input was
    /// refused and changed nothing.
    NoTransaction,
    /// The response did not fit the caller's buffer; it is `needed` bytes long. The
    /// exchange itself completed and the engine stays synchronised.
    BufferTooSmall {
        /// The length of the whole response, in bytes.
        needed: usize,
    },
    /// The card sent a response longer than [`MAX_RESPONSE_LEN`] bytes.
    ResponseTooLong,
    /// The card aborted the chain with an S(ABORT request).
    Aborted,
    /// The card made more S-block requests than [`Config::max_card_requests`].
    TooManyRequests,
    /// Transmission errors persisted through every retry and resynchronisation.
    /// Resynchronisation failed: ISO/IEC 7816-3:2006 11.6.3.2 rule 6.4 has the
    /// interface device warm-reset or deactivate the card now
    /// ([`Engine::resynch_failed`]; the engine, which does no I/O, would otherwise
    /// resynchronise first at the next APDU).
    TooManyErrors,
    /// The card stopped answering: the last attempts all timed out. Resynchronisation
    /// failed, as for [`Error::TooManyErrors`] (rule 6.4).
    Timeout,
}

/// The library status for a T=1 error.
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::InvalidConfig | Error::EmptyApdu | Error::ApduTooLong => {
                Failure::InvalidParameter
            }
            Error::NoTransaction => Failure::InvalidDeviceState,
            Error::BufferTooSmall { .. } => Failure::BufferTooSmall,
            Error::Timeout => Failure::IoTimeout,
            Error::ResponseTooLong
            | Error::Aborted
            | Error::TooManyRequests
            | Error::TooManyErrors => Failure::DeviceProtocolError,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig => {
                f.write_str("T=1 IFSC or IFSD outside 1..=254, or NAD with b8 or b4 set")
            }
            Error::EmptyApdu => f.write_str("empty command APDU"),
            Error::ApduTooLong => f.write_str("command APDU longer than 65544 bytes"),
            Error::NoTransaction => f.write_str("no T=1 exchange in progress"),
            Error::BufferTooSmall { needed } => {
                write!(f, "response of {needed} bytes does not fit the buffer")
            }
            Error::ResponseTooLong => f.write_str("card response longer than 65538 bytes"),
            Error::Aborted => f.write_str("card aborted the T=1 chain"),
            Error::TooManyRequests => f.write_str("too many S-block requests from the card"),
            Error::TooManyErrors => f.write_str("too many T=1 transmission errors"),
            Error::Timeout => f.write_str("card did not answer within the block waiting time"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests;
