//! A PIN pad for a C driver: [`rk_device_set_keypad`] gives a device the driver's
//! keypad, and the library then serves PC/SC part 10 `FEATURE_VERIFY_PIN_DIRECT`
//! and `FEATURE_MODIFY_PIN_DIRECT` itself (the PIN typed on the keypad goes into
//! the card's command and never reaches the host).

use core::ffi::c_void;

use readerkit::device::PinPad;
use readerkit::part10;
use readerkit::pin::{Key, Prompt};
use static_assertions::const_assert_eq;

use crate::device::{CDevice, CDriver, borrowed_below, rk_device};
use crate::guard::{entry, read_in};
use crate::slot::Slot;
use crate::status::*;

/// No key came within the time allowed (what `next_key` returns on a time-out).
pub const RK_KEY_NONE: u32 = 0;
/// The digit keys are `RK_KEY_DIGIT_0 + n` (ASCII '0' to '9').
pub const RK_KEY_DIGIT_0: u32 = 0x30;
/// The validation key (OK, Enter).
pub const RK_KEY_ENTER: u32 = 0x0D;
/// The cancel key: the request answers SW 64 01.
pub const RK_KEY_CANCEL: u32 = 0x1B;
/// Clear: forget every digit typed so far.
pub const RK_KEY_CLEAR: u32 = 0x7F;
/// Backspace: forget the last digit.
pub const RK_KEY_BACKSPACE: u32 = 0x08;

/// Prompt: "Enter PIN" (verification).
pub const RK_PROMPT_ENTER_PIN: u32 = 0;
/// Prompt: "Enter current PIN" (modification).
pub const RK_PROMPT_ENTER_CURRENT_PIN: u32 = 1;
/// Prompt: "Enter new PIN".
pub const RK_PROMPT_ENTER_NEW_PIN: u32 = 2;
/// Prompt: "Confirm new PIN".
pub const RK_PROMPT_CONFIRM_NEW_PIN: u32 = 3;

/// The part 10 function number of `FEATURE_VERIFY_PIN_DIRECT`: its control code is
/// `SCARD_CTL_CODE(3406)` = `0x00313538` (what GET_FEATURE_REQUEST announces).
pub const RK_FN_VERIFY_PIN_DIRECT: u32 = 3406;
/// The part 10 function number of `FEATURE_MODIFY_PIN_DIRECT`
/// (`SCARD_CTL_CODE(3407)` = `0x0031353C`).
pub const RK_FN_MODIFY_PIN_DIRECT: u32 = 3407;

// Written out for the header; the core's part 10 numbers are their authority.
const_assert_eq!(RK_FN_VERIFY_PIN_DIRECT, part10::FN_VERIFY_PIN_DIRECT as u32);
const_assert_eq!(RK_FN_MODIFY_PIN_DIRECT, part10::FN_MODIFY_PIN_DIRECT as u32);

/// A reader's keypad. Both callbacks get the `ctx` given at initialisation and run
/// under the device's serialization lock, like every callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_keypad_ops {
    /// Required: wait at most `timeout_ms` milliseconds for a key and return it
    /// (`RK_KEY_DIGIT_0 + n`, `RK_KEY_ENTER`, `RK_KEY_CANCEL`, `RK_KEY_CLEAR`,
    /// `RK_KEY_BACKSPACE`), or `RK_KEY_NONE` when the time runs out. Any other
    /// value is a key that does nothing.
    pub next_key: Option<unsafe extern "C" fn(ctx: *mut c_void, timeout_ms: u32) -> u32>,
    /// Optional: show `prompt` (`RK_PROMPT_*`) on the reader's display.
    pub prompt: Option<unsafe extern "C" fn(ctx: *mut c_void, prompt: u32)>,
    /// `bMinPINSize` announced in the TLV properties, in digits.
    pub min_pin_digits: u8,
    /// `bMaxPINSize` announced in the TLV properties, in digits.
    pub max_pin_digits: u8,
}

/// The key a C keypad returned.
fn key_of(code: u32) -> Option<Key> {
    Some(match code {
        RK_KEY_NONE => return None,
        RK_KEY_ENTER => Key::Enter,
        RK_KEY_CANCEL => Key::Cancel,
        RK_KEY_CLEAR => Key::Clear,
        RK_KEY_BACKSPACE => Key::Backspace,
        c if (RK_KEY_DIGIT_0..RK_KEY_DIGIT_0 + 10).contains(&c) => {
            Key::Digit((c - RK_KEY_DIGIT_0) as u8)
        }
        // A key with no meaning here: a digit value the entry ignores.
        _ => Key::Digit(u8::MAX),
    })
}

fn next_key(d: &mut CDriver, timeout_ms: u32) -> Option<Key> {
    let f = d.keypad.and_then(|k| k.next_key)?;
    // SAFETY: the C driver supplied `f` for this context in rk_device_set_keypad.
    key_of(unsafe { f(d.ctx, timeout_ms) })
}

fn prompt(d: &mut CDriver, prompt: Prompt) {
    if let Some(f) = d.keypad.and_then(|k| k.prompt) {
        // `RK_PROMPT_*` are the core's prompts in their order (`tests/header.rs`).
        let code = prompt as u32;
        // SAFETY: the C driver supplied `f` for this context in rk_device_set_keypad.
        unsafe { f(d.ctx, code) }
    }
}

/// Give an initialised device its keypad (copied): from then on GET_FEATURE_REQUEST
/// (vendor function 3400) announces `FEATURE_VERIFY_PIN_DIRECT` and
/// `FEATURE_MODIFY_PIN_DIRECT` after the driver's own answer, with their Windows
/// control codes, the TLV properties (3418) add `wLcdLayout`,
/// `bEntryValidationCondition`, `bMinPINSize` and `bMaxPINSize`, and
/// [`rk_device_control`](crate::rk_device_control) with `SCARD_CTL_CODE(3406)` /
/// `(3407)` and a `PIN_VERIFY_STRUCTURE` / `PIN_MODIFY_STRUCTURE` reads the PIN(s)
/// from `next_key`, sends the command with the TRANSMIT callback and answers the
/// card's response (data, SW1 SW2) or 64 00 (time-out), 64 01 (cancel), 64 02 (new
/// PINs differ), 64 03 (PIN length). A bad structure gets
/// `RK_STATUS_INVALID_PARAMETER` before any key; an output buffer under 2 bytes
/// `RK_STATUS_BUFFER_TOO_SMALL`.
///
/// Errors: `RK_STATUS_INVALID_PARAMETER` (a NULL or misaligned pointer, no
/// `next_key`, a minimum of 0 or above the maximum), `RK_STATUS_INVALID_DEVICE_STATE`
/// (storage that holds no device), `RK_STATUS_DEVICE_BUSY` (called from a callback
/// or while one runs, or while one of the driver's hooks, `tracking_complete` or
/// `events_pending`, or the log callback for a call on the device runs).
///
/// # Safety
///
/// `dev` is NULL or device storage that no other thread uses during the call (call
/// it right after initialisation); `ops` is NULL or valid for reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_set_keypad(
    dev: *mut rk_device,
    ops: *const rk_keypad_ops,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let ops = unsafe { read_in(ops) }?;
        if ops.next_key.is_none() {
            return Err(RK_STATUS_INVALID_PARAMETER);
        }
        let pad = PinPad {
            next_key,
            prompt: Some(prompt),
            ctl_code: readerkit::ioctl::scard_ctl_code,
            min_pin_digits: ops.min_pin_digits,
            max_pin_digits: ops.max_pin_digits,
        };
        pad.check().map_err(to_rk)?;
        // From inside a callback or a hook the call that runs it holds a view of
        // the device: look with a shared view (ended at once) before taking the
        // exclusive one.
        // SAFETY: forwarded contract.
        let d = unsafe { Slot::<CDevice>::value(dev) }?;
        if borrowed_below(d) {
            return Err(RK_STATUS_DEVICE_BUSY);
        }
        // SAFETY: forwarded contract (exclusive use during the call), and no
        // callback or hook runs, so no library call holds a view of the device.
        let device = unsafe { Slot::<CDevice>::value_mut(dev) }?;
        device.with_driver(|d| d.keypad = Some(ops));
        device.set_pin_pad(pad);
        Ok(())
    })
}
