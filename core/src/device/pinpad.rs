//! A reader's PIN pad as the device serves it: PC/SC part 10
//! `FEATURE_VERIFY_PIN_DIRECT` / `FEATURE_MODIFY_PIN_DIRECT` run by the library
//! itself, under the serialization lock, with the driver's keypad callback and its
//! TRANSMIT callback.
//!
//! A device built [`with_pin_pad`](super::Device::with_pin_pad) answers, on the
//! vendor path:
//!
//! * `GET_FEATURE_REQUEST` (3400): the driver's vendor callback's answer (if any),
//!   then the two PIN features with their control codes in the platform's encoding
//!   ([`PinPad::ctl_code`]);
//! * `FEATURE_GET_TLV_PROPERTIES` (3418): the driver's answer, then `wLcdLayout`,
//!   `bEntryValidationCondition`, `bMinPINSize` and `bMaxPINSize`;
//! * `VERIFY_PIN_DIRECT` (3406) / `MODIFY_PIN_DIRECT` (3407): the structure is
//!   checked (a bad one is refused with [`PinError::status`] before any key), the
//!   PIN(s) read from the keypad, the APDU built and sent to the card; the answer is
//!   the card's response, or the entry outcome's status word (64 00 time-out,
//!   64 01 cancel, 64 02 new PINs differ, 64 03 length). The PIN and the command
//!   holding it are wiped before the request ends, and so is the T=1 engine's
//!   copy of the blocks that carried it ([`crate::t1::Engine`] wipes its block
//!   buffer when an exchange ends).

use crate::apdu;
use crate::pin::{Key, Keypad, ModifyRequest, PinApdu, PinError, Prompt, VerifyRequest};
use crate::status::Status;

/// KEYPAD: the next key pressed within `timeout_ms` milliseconds, or `None` when
/// the time runs out.
pub type KeyFn<D> = fn(&mut D, u32) -> Option<Key>;

/// DISPLAY: show `prompt` on the reader's display (readers with one).
pub type PromptFn<D> = fn(&mut D, Prompt);

/// A reader's PIN pad: its callbacks and what the TLV properties announce.
#[derive(Debug)]
pub struct PinPad<D> {
    /// Reads the next key.
    pub next_key: KeyFn<D>,
    /// Shows a prompt; `None` for a reader without a display.
    pub prompt: Option<PromptFn<D>>,
    /// The platform's control-code encoding of a part 10 function number (Windows
    /// `SCARD_CTL_CODE`, pcsc-lite `0x42000000 + fn`), announced in the feature list.
    pub ctl_code: fn(u16) -> u32,
    /// `bMinPINSize` announced, in digits.
    pub min_pin_digits: u8,
    /// `bMaxPINSize` announced, in digits.
    pub max_pin_digits: u8,
}

impl<D> PinPad<D> {
    /// `Ok(())` if the announced PIN sizes make sense (a minimum of at least one
    /// digit, not above the maximum); else `InvalidParameter`, for a PIN pad
    /// described by an untrusted source (a C driver).
    pub fn check(&self) -> Result<(), Status> {
        if self.min_pin_digits == 0 || self.min_pin_digits > self.max_pin_digits {
            return Err(Status::InvalidParameter);
        }
        Ok(())
    }
}

impl<D> Clone for PinPad<D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for PinPad<D> {}

/// Which secure PIN operation a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PinOperation {
    /// `FEATURE_VERIFY_PIN_DIRECT`.
    Verify,
    /// `FEATURE_MODIFY_PIN_DIRECT`.
    Modify,
}

/// A checked request, before any key.
pub(super) enum Checked<'a> {
    Verify(VerifyRequest<'a>),
    Modify(ModifyRequest<'a>),
}

/// The longest command a PIN structure's template can make: a short APDU with
/// 255 data bytes and Le, in bytes.
pub(super) const MAX_PIN_APDU: usize = 5 + apdu::MAX_SHORT_NC + 1;

/// Check `structure` as the operation's part 10 structure.
pub(super) fn check(operation: PinOperation, structure: &[u8]) -> Result<Checked<'_>, Status> {
    match operation {
        PinOperation::Verify => VerifyRequest::parse(structure).map(Checked::Verify),
        PinOperation::Modify => ModifyRequest::parse(structure).map(Checked::Modify),
    }
    .map_err(PinError::status)
}

/// The driver's callbacks seen as a [`Keypad`].
struct DriverKeypad<'a, D> {
    driver: &'a mut D,
    pad: &'a PinPad<D>,
}

impl<D> Keypad for DriverKeypad<'_, D> {
    fn next_key(&mut self, timeout_ms: u32) -> Option<Key> {
        (self.pad.next_key)(self.driver, timeout_ms)
    }

    fn prompt(&mut self, prompt: Prompt) {
        if let Some(show) = self.pad.prompt {
            show(self.driver, prompt);
        }
    }
}

/// Read the PIN(s) of `request` from the driver's keypad and build the command
/// (wiped when dropped: it holds the PIN). `Err` is the entry outcome (or a
/// template the command cannot hold).
pub(super) fn enter<D>(
    request: &Checked<'_>,
    driver: &mut D,
    pad: &PinPad<D>,
) -> Result<PinApdu<MAX_PIN_APDU>, PinError> {
    let mut keypad = DriverKeypad { driver, pad };
    match request {
        Checked::Verify(request) => request.enter(&mut keypad),
        Checked::Modify(request) => request.enter(&mut keypad),
    }
}
