//! Gemalto's GET_FIRMWARE_FEATURES: the answer to the Escape command `6A` that
//! libccid sends every reader of vendor 08E6 when it opens it.
//!
//! libccid keeps the answer only if it is exactly [`FirmwareFeatures::LEN`] bytes
//! (its `struct GEMALTO_FIRMWARE_FEATURES`); otherwise it logs
//! `GET_FIRMWARE_FEATURES failed` and leaves `bMinPINSize`, `bMaxPINSize` and
//! `bEntryValidationCondition` out of its GET_TLV_PROPERTIES answer. Of the
//! fields, libccid uses only these (1.5.x): `bEntryValidationCondition` (reported
//! as a PIN property, and masking the condition of every PIN verify / modify
//! structure it passes on), `MinimumPINSize` / `MaximumPINSize` (reported as PIN
//! properties) and `bNumberMessageFix` (when clear, libccid rewrites a PIN
//! modify structure for the old Gemalto firmware bug). The others it only logs;
//! they stay clear here, so nothing makes it send what this binding does not
//! handle (no display, no language list over Escape `6B`, no PPDU over
//! XfrBlock or Escape `FF`, no firewall).
//!
//! Byte layout (bit fields allocated from bit 0, as GCC does on little-endian
//! hosts):
//!
//! | byte  | field                                                            |
//! |-------|------------------------------------------------------------------|
//! | 0-2   | `bLogicalLCDLineNumber`, `bLogicalLCDRowNumber`, `bLcdInfo`        |
//! | 3     | `bEntryValidationCondition`                                      |
//! | 4     | PC/SC v2 features: bit 5 VerifyPinDirect, bit 6 ModifyPinDirect  |
//! | 5-7   | GetKey, WriteDisplay, SetSpeMessage; RFU                         |
//! | 8     | bit 2 `bNumberMessageFix` (bits 0, 1, 3, 4: TimeOut2, languages, PPDU) |
//! | 9-11  | RFU                                                              |
//! | 12    | `VersionNumber`                                                  |
//! | 13-14 | `MinimumPINSize`, `MaximumPINSize` (digits)                      |
//! | 15-17 | Firewall flag, its SW1 SW2                                       |
//! | 18-20 | RFU                                                              |

use readerkit::pin::MAX_PIN_DIGITS;
use readerkit::pin::entry::Conditions;

use crate::error::SlotError;
use crate::secure::PinSupport;

/// The fewest digits the core's PIN entry accepts (`EntryLimits::new` refuses 0).
pub const MIN_PIN_DIGITS: u8 = 1;

/// The most digits the core's PIN entry accepts, as a byte.
pub const MAX_PIN_DIGITS_U8: u8 = {
    assert!(MAX_PIN_DIGITS <= u8::MAX as usize);
    MAX_PIN_DIGITS as u8
};

/// Every condition the core's PIN entry can end on (max size, key, timeout):
/// [`Conditions::ALL`].
pub const ALL_CONDITIONS: u8 = Conditions::ALL;

/// What a reader with a keypad announces of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinPad {
    /// The PIN operations it does over PC_to_RDR_Secure (VerifyPinDirect,
    /// ModifyPinDirect).
    pub support: PinSupport,
    /// `bEntryValidationCondition`: the conditions that may end an entry
    /// (bits of [`Conditions`]).
    pub validation: u8,
    /// The fewest digits of a PIN.
    pub min_digits: u8,
    /// The most digits of a PIN.
    pub max_digits: u8,
}

impl PinPad {
    /// The core's keypad entry: `support`, ended by `validation`, PINs of
    /// [`MIN_PIN_DIGITS`] to [`MAX_PIN_DIGITS_U8`] digits.
    pub const fn core(support: PinSupport, validation: u8) -> PinPad {
        PinPad {
            support,
            validation,
            min_digits: MIN_PIN_DIGITS,
            max_digits: MAX_PIN_DIGITS_U8,
        }
    }
}

/// The high-level view of the GET_FIRMWARE_FEATURES answer: everything "not
/// supported" but the PIN pad, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareFeatures {
    /// The keypad; `None` for a reader without one (PIN features off, sizes 0).
    pub pin_pad: Option<PinPad>,
}

/// Byte 4: VerifyPinDirect.
const VERIFY_PIN_DIRECT: u8 = 1 << 5;
/// Byte 4: ModifyPinDirect.
const MODIFY_PIN_DIRECT: u8 = 1 << 6;
/// Byte 8: `bNumberMessageFix`: the reader reads only the `bMsgIndex` fields
/// `bNumberMessage` names, as CCID says.
const NUMBER_MESSAGE_FIX: u8 = 1 << 2;
/// `VersionNumber` (libccid only logs it).
const VERSION: u8 = 0x01;

impl FirmwareFeatures {
    /// The answer's length in bytes.
    pub const LEN: usize = 21;

    /// The features of a reader whose PC_to_RDR_Secure does `support`
    /// ([`PinSupport::NONE`]: no keypad), ending an entry on `validation`.
    pub const fn of_reader(support: PinSupport, validation: u8) -> FirmwareFeatures {
        FirmwareFeatures {
            pin_pad: if support.0 & PinSupport::BOTH.0 == 0 {
                None
            } else {
                Some(PinPad::core(support, validation))
            },
        }
    }

    /// Write the [`Self::LEN`] bytes at the start of `out`: their length, or
    /// [`SlotError::XfrOverrun`] if `out` is shorter.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, SlotError> {
        let out = out.get_mut(..Self::LEN).ok_or(SlotError::XfrOverrun)?;
        out.fill(0);
        out[12] = VERSION;
        if let Some(pad) = self.pin_pad {
            out[3] = pad.validation;
            if pad.support.contains(PinSupport::VERIFY) {
                out[4] |= VERIFY_PIN_DIRECT;
            }
            if pad.support.contains(PinSupport::MODIFY) {
                out[4] |= MODIFY_PIN_DIRECT;
                out[8] |= NUMBER_MESSAGE_FIX;
            }
            out[13] = pad.min_digits;
            out[14] = pad.max_digits;
        }
        Ok(Self::LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypad_with_both_operations() {
        let mut out = [0xEE; 24];
        let features = FirmwareFeatures::of_reader(PinSupport::BOTH, ALL_CONDITIONS);
        assert_eq!(features.emit(&mut out), Ok(21));
        assert_eq!(
            out,
            [
                0, 0, 0, 0x07, 0x60, 0, 0, 0, 0x04, 0, 0, 0, 0x01, 1, 32, 0, 0, 0, 0, 0, 0, 0xEE,
                0xEE, 0xEE
            ]
        );
    }

    #[test]
    fn verification_only_has_no_number_message_fix() {
        let mut out = [0u8; 21];
        let features = FirmwareFeatures::of_reader(PinSupport::VERIFY, Conditions::KEY);
        assert_eq!(features.emit(&mut out), Ok(21));
        assert_eq!(
            out,
            [
                0, 0, 0, 0x02, 0x20, 0, 0, 0, 0, 0, 0, 0, 0x01, 1, 32, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn no_keypad_has_every_feature_off() {
        let mut out = [0xEE; 21];
        let features = FirmwareFeatures::of_reader(PinSupport::NONE, ALL_CONDITIONS);
        assert_eq!(features, FirmwareFeatures { pin_pad: None });
        assert_eq!(features.emit(&mut out), Ok(21));
        let mut expected = [0u8; 21];
        expected[12] = 0x01;
        assert_eq!(out, expected);
    }

    #[test]
    fn short_buffer_is_an_overrun_and_untouched() {
        let mut out = [0xEE; 20];
        let features = FirmwareFeatures::of_reader(PinSupport::BOTH, ALL_CONDITIONS);
        assert_eq!(features.emit(&mut out), Err(SlotError::XfrOverrun));
        assert_eq!(out, [0xEE; 20]);
    }
}
