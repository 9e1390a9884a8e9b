//! Secure PIN entry: the PIN is typed on the reader's keypad and goes into the
//! card's command without ever reaching the host (PC/SC part 10 §2.5
//! `FEATURE_VERIFY_PIN_DIRECT` / `FEATURE_MODIFY_PIN_DIRECT`, CCID
//! `PC_to_RDR_Secure`).
//!
//! The pieces, in the order a request meets them:
//!
//! * [`structure`]: checked views of `PIN_VERIFY_STRUCTURE` and
//!   `PIN_MODIFY_STRUCTURE`, parsed into [`VerifyRequest`] / [`ModifyRequest`]; a bad
//!   structure is refused with a precise [`PinError`] before any key is read.
//! * [`entry`]: the keypad side, sans-I/O: [`Entry`] is fed keys and time-outs and
//!   says when the PIN is complete; [`Keypad`] is the small trait a keypad driver
//!   implements, and [`read_pin`] runs an `Entry` over one.
//! * [`block`]: [`PinBlock`] writes the digits into the command APDU the card gets
//!   (binary, BCD or ASCII; left or right justified; position in bits or bytes; the
//!   PIN length field).
//! * [`PinApdu`]: that command, held until it goes to the card in a buffer wiped
//!   when it is dropped.
//!
//! The PIN lives only in a [`Pin`], a fixed buffer wiped when it is dropped; no
//! `Debug` or log output ever shows its digits.

pub mod block;
pub mod entry;
mod pin_apdu;
pub mod structure;

pub use block::{Encoding, Justification, PinBlock};
pub use entry::{
    Conditions, Entry, EntryLimits, Key, Keypad, Pin, Prompt, Step, read_new_pin, read_pin,
};
pub use pin_apdu::PinApdu;
pub use structure::{Confirm, Messages, ModifyRequest, VerifyRequest};

use crate::status::Status;

/// PC/SC part 10 feature tag `FEATURE_VERIFY_PIN_DIRECT`.
pub const FEATURE_VERIFY_PIN_DIRECT: u8 = 0x06;
/// PC/SC part 10 feature tag `FEATURE_MODIFY_PIN_DIRECT`.
pub const FEATURE_MODIFY_PIN_DIRECT: u8 = 0x07;
/// The most digits a [`Pin`] holds; a structure allowing more is served up to this.
pub const MAX_PIN_DIGITS: usize = 32;

/// Why a secure PIN request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PinError {
    /// The structure is shorter than its fixed fields.
    Truncated,
    /// `ulDataLength` does not match the bytes that follow it.
    DataLengthMismatch,
    /// The APDU template has no Lc, or its Lc disagrees with its length.
    BadApdu,
    /// `bmFormatString` names the reserved PIN encoding (11b).
    ReservedEncoding,
    /// The minimum PIN size is 0, above the maximum, or above what the PIN block
    /// or [`MAX_PIN_DIGITS`] can hold.
    BadPinLimits,
    /// `bEntryValidationCondition` names no condition.
    NoValidationCondition,
    /// `bNumberMessage` is more messages than the operation shows (verification
    /// shows at most 1, modification 3; 0xFF, the default, is always allowed).
    BadMessageCount,
    /// The PIN block, or its PIN length field, lies outside the APDU data.
    BlockOutsideApdu,
    /// The output buffer cannot hold the formatted APDU (or the emitted
    /// structure).
    BufferTooSmall,
    /// A request has a field its structure cannot carry (emitting it): a time-out
    /// that is not a whole number of seconds up to 255 s, a position or size beyond
    /// its 4 bits, more than 255 digits, or an APDU of 4 GiB or more.
    Unencodable,
    /// No key came within the time allowed (SW 64 00).
    Timeout,
    /// The user pressed Cancel (SW 64 01).
    Cancelled,
    /// The two entries of the new PIN differ (SW 64 02).
    Mismatch,
    /// The PIN entered is shorter than the minimum (SW 64 03).
    WrongLength,
}

impl PinError {
    /// The status word a PC/SC part 10 reader answers in place of the card's
    /// (part 10 §2.5.2): 64 00 time-out, 64 01 cancelled, 64 02 new PINs differ,
    /// 64 03 PIN length, 6B 80 an invalid structure.
    pub const fn status_word(self) -> [u8; 2] {
        match self {
            PinError::Timeout => [0x64, 0x00],
            PinError::Cancelled => [0x64, 0x01],
            PinError::Mismatch => [0x64, 0x02],
            PinError::WrongLength => [0x64, 0x03],
            _ => [0x6B, 0x80],
        }
    }

    /// `true` if the error is the user's (time-out, cancel, mismatch, length), so
    /// the request completes with [`PinError::status_word`] as its answer; `false`
    /// if the request itself was malformed.
    pub const fn is_entry_outcome(self) -> bool {
        matches!(
            self,
            PinError::Timeout | PinError::Cancelled | PinError::Mismatch | PinError::WrongLength
        )
    }

    /// The request status: [`Status::Success`] for an entry outcome (its status
    /// word is the answer), [`Status::BufferTooSmall`] for a short output, and
    /// [`Status::InvalidParameter`] for a malformed structure.
    pub const fn status(self) -> Status {
        match self {
            PinError::BufferTooSmall => Status::BufferTooSmall,
            e if e.is_entry_outcome() => Status::Success,
            _ => Status::InvalidParameter,
        }
    }
}

impl core::fmt::Display for PinError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PinError::Truncated => "PIN structure too short",
            PinError::DataLengthMismatch => "ulDataLength does not match the APDU",
            PinError::BadApdu => "APDU template without a consistent Lc",
            PinError::ReservedEncoding => "reserved PIN encoding",
            PinError::BadPinLimits => "impossible minimum/maximum PIN size",
            PinError::NoValidationCondition => "no entry validation condition",
            PinError::BadMessageCount => "bNumberMessage out of range",
            PinError::BlockOutsideApdu => "PIN block or length field outside the APDU",
            PinError::BufferTooSmall => "output too small for the APDU",
            PinError::Unencodable => "request field without an encoding in the structure",
            PinError::Timeout => "PIN entry timed out",
            PinError::Cancelled => "PIN entry cancelled",
            PinError::Mismatch => "new PIN entries differ",
            PinError::WrongLength => "PIN too short",
        })
    }
}

impl core::error::Error for PinError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_outcomes_answer_with_their_status_word() {
        assert_eq!(PinError::Timeout.status_word(), [0x64, 0x00]);
        assert_eq!(PinError::Cancelled.status_word(), [0x64, 0x01]);
        assert_eq!(PinError::Mismatch.status_word(), [0x64, 0x02]);
        assert_eq!(PinError::WrongLength.status_word(), [0x64, 0x03]);
        assert_eq!(PinError::Truncated.status_word(), [0x6B, 0x80]);
        assert_eq!(PinError::Cancelled.status(), Status::Success);
        assert_eq!(PinError::BadApdu.status(), Status::InvalidParameter);
        assert_eq!(PinError::BufferTooSmall.status(), Status::BufferTooSmall);
    }
}
