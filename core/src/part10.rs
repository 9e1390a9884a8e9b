//! PC/SC part 10 feature discovery: `GET_FEATURE_REQUEST` and
//! `FEATURE_GET_TLV_PROPERTIES`, answered the same way by every binding.
//!
//! Both arrive as vendor IOCTLs (function 3400, `IOCTL_SMARTCARD_GET_FEATURE_REQUEST`,
//! and 3400 + the feature tag for the properties) and are answered from a reader
//! driver's vendor callback with [`answer`]. The feature list names a control code
//! the client passes back to `SCardControl`; its encoding is the platform's
//! (Windows `SCARD_CTL_CODE(fn)` = `0x00310000 | fn << 2`,
//! [`crate::ioctl::scard_ctl_code`]; pcsc-lite `0x42000000 + fn`, the pcsc-lite
//! binding's), so the caller supplies it. The vendor requests themselves always
//! carry Windows codes; [`crate::ioctl::scard_ctl_function`] reads their function.

use crate::pin::Conditions;
use crate::status::Failure;

/// `CM_IOCTL_GET_FEATURE_REQUEST` / `IOCTL_SMARTCARD_GET_FEATURE_REQUEST` function.
pub const FN_GET_FEATURE_REQUEST: u16 = 3400;
/// The vendor functions PC/SC part 10 names: 3400 + a one-byte feature tag.
pub const FUNCTIONS: core::ops::RangeInclusive<u16> =
    FN_GET_FEATURE_REQUEST..=FN_GET_FEATURE_REQUEST + 0xFF;
/// PC/SC part 10 feature tag `FEATURE_GET_TLV_PROPERTIES`.
pub const FEATURE_GET_TLV_PROPERTIES: u8 = 0x12;
/// The control function announced for `FEATURE_GET_TLV_PROPERTIES` (3400 + tag).
pub const FN_GET_TLV_PROPERTIES: u16 = FN_GET_FEATURE_REQUEST + FEATURE_GET_TLV_PROPERTIES as u16;
/// TLV property tag `sFirmwareID`.
pub const PROPERTY_FIRMWARE_ID: u8 = 0x08;
/// TLV property tag `dwMaxAPDUDataSize`: the largest APDU data field, in bytes.
pub const PROPERTY_MAX_APDU_DATA_SIZE: u8 = 0x0A;

/// The control function of `FEATURE_VERIFY_PIN_DIRECT` (3400 + tag).
pub const FN_VERIFY_PIN_DIRECT: u16 =
    FN_GET_FEATURE_REQUEST + crate::pin::FEATURE_VERIFY_PIN_DIRECT as u16;
/// The control function of `FEATURE_MODIFY_PIN_DIRECT` (3400 + tag).
pub const FN_MODIFY_PIN_DIRECT: u16 =
    FN_GET_FEATURE_REQUEST + crate::pin::FEATURE_MODIFY_PIN_DIRECT as u16;
/// PC/SC part 10 feature tag `FEATURE_IFD_PIN_PROPERTIES`.
pub const FEATURE_IFD_PIN_PROPERTIES: u8 = 0x0A;
/// The control function of `FEATURE_IFD_PIN_PROPERTIES` (3400 + tag).
pub const FN_IFD_PIN_PROPERTIES: u16 = FN_GET_FEATURE_REQUEST + FEATURE_IFD_PIN_PROPERTIES as u16;
/// The PIN pad's `bEntryValidationCondition`: the entry ends when the maximum size
/// is reached (01h), on the validation key (02h) or on a time-out (04h), 07h.
pub const ENTRY_VALIDATION_CONDITION: u8 = Conditions::ALL;
/// TLV property tag `wLcdLayout` (2 bytes; 0: no display).
pub const PROPERTY_LCD_LAYOUT: u8 = 0x01;
/// TLV property tag `bEntryValidationCondition` (1 byte).
pub const PROPERTY_ENTRY_VALIDATION_CONDITION: u8 = 0x02;
/// TLV property tag `bMinPINSize` (1 byte, digits).
pub const PROPERTY_MIN_PIN_SIZE: u8 = 0x06;
/// TLV property tag `bMaxPINSize` (1 byte, digits).
pub const PROPERTY_MAX_PIN_SIZE: u8 = 0x07;

/// Firmware identifier announced in the TLV properties.
pub const FIRMWARE_ID: &[u8] = b"readerkit";

fn put(output: &mut [u8], bytes: &[u8]) -> Result<usize, Failure> {
    output
        .get_mut(..bytes.len())
        .ok_or(Failure::BufferTooSmall)?
        .copy_from_slice(bytes);
    Ok(bytes.len())
}

/// Length of one entry of a `GET_FEATURE_REQUEST` answer, in bytes.
const FEATURE_TLV_LEN: usize = 6;

/// One entry of a `GET_FEATURE_REQUEST` answer (`PCSC_TLV_STRUCTURE`): the feature
/// `tag`, length 4, and the control code `ctl_code` gives `function`, big-endian.
fn feature_tlv(tag: u8, function: u16, ctl_code: fn(u16) -> u32) -> [u8; FEATURE_TLV_LEN] {
    let [a, b, c, d] = ctl_code(function).to_be_bytes();
    [tag, 4, a, b, c, d]
}

/// Answer a part 10 request for `function` into `output`, or `None` if `function`
/// is none of them. `max_apdu_data` is announced as `dwMaxAPDUDataSize` (bytes);
/// `ctl_code` encodes a function number as the platform's control code.
pub fn answer(
    function: u16,
    output: &mut [u8],
    max_apdu_data: u32,
    ctl_code: fn(u16) -> u32,
) -> Option<Result<usize, Failure>> {
    match function {
        FN_GET_FEATURE_REQUEST => {
            let tlv = feature_tlv(FEATURE_GET_TLV_PROPERTIES, FN_GET_TLV_PROPERTIES, ctl_code);
            Some(put(output, &tlv))
        }
        FN_GET_TLV_PROPERTIES => {
            // Properties are little-endian: dwMaxAPDUDataSize, then sFirmwareID.
            let mut props = [0u8; 6 + 2 + FIRMWARE_ID.len()];
            props[..2].copy_from_slice(&[PROPERTY_MAX_APDU_DATA_SIZE, 4]);
            props[2..6].copy_from_slice(&max_apdu_data.to_le_bytes());
            props[6..8].copy_from_slice(&[PROPERTY_FIRMWARE_ID, FIRMWARE_ID.len() as u8]);
            props[8..].copy_from_slice(FIRMWARE_ID);
            Some(put(output, &props))
        }
        _ => None,
    }
}

/// Append the PIN features (`FEATURE_VERIFY_PIN_DIRECT`, `FEATURE_MODIFY_PIN_DIRECT`,
/// `FEATURE_IFD_PIN_PROPERTIES`) to a `GET_FEATURE_REQUEST` answer whose first
/// `used` bytes are written; returns the new length in bytes.
pub fn append_pin_features(
    output: &mut [u8],
    used: usize,
    ctl_code: fn(u16) -> u32,
) -> Result<usize, Failure> {
    let mut tlvs = [0u8; 3 * FEATURE_TLV_LEN];
    for (tlv, (tag, function)) in tlvs.chunks_exact_mut(FEATURE_TLV_LEN).zip([
        (crate::pin::FEATURE_VERIFY_PIN_DIRECT, FN_VERIFY_PIN_DIRECT),
        (crate::pin::FEATURE_MODIFY_PIN_DIRECT, FN_MODIFY_PIN_DIRECT),
        (FEATURE_IFD_PIN_PROPERTIES, FN_IFD_PIN_PROPERTIES),
    ]) {
        tlv.copy_from_slice(&feature_tlv(tag, function, ctl_code));
    }
    let rest = output.get_mut(used..).ok_or(Failure::BufferTooSmall)?;
    Ok(used + put(rest, &tlvs)?)
}

/// The PIN pad's `FEATURE_IFD_PIN_PROPERTIES` answer, PIN_PROPERTIES_STRUCTURE
/// (4 bytes): `wLcdLayout` 0 (no display, little-endian), `bEntryValidationCondition`
/// ([`ENTRY_VALIDATION_CONDITION`]), `bTimeOut2` 0 (no second time-out); returns
/// its length in bytes.
pub fn pin_properties(output: &mut [u8]) -> Result<usize, Failure> {
    put(output, &[0, 0, ENTRY_VALIDATION_CONDITION, 0])
}

/// Append the PIN pad's TLV properties (`wLcdLayout` 0: no display,
/// `bEntryValidationCondition` ([`ENTRY_VALIDATION_CONDITION`]), `bMinPINSize`,
/// `bMaxPINSize`, in digits) to a `FEATURE_GET_TLV_PROPERTIES` answer whose first
/// `used` bytes are written; returns the new length in bytes.
pub fn append_pin_properties(
    output: &mut [u8],
    used: usize,
    min_pin: u8,
    max_pin: u8,
) -> Result<usize, Failure> {
    let props = [
        PROPERTY_LCD_LAYOUT,
        2,
        0,
        0,
        PROPERTY_ENTRY_VALIDATION_CONDITION,
        1,
        ENTRY_VALIDATION_CONDITION,
        PROPERTY_MIN_PIN_SIZE,
        1,
        min_pin,
        PROPERTY_MAX_PIN_SIZE,
        1,
        max_pin,
    ];
    let rest = output.get_mut(used..).ok_or(Failure::BufferTooSmall)?;
    Ok(used + put(rest, &props)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host encoding of the tests' own (not a real layout), so that a test
    /// shows the answer carries the caller's codes, not the Windows ones.
    fn tagged(function: u16) -> u32 {
        0xA500_0000 | u32::from(function)
    }

    #[test]
    fn feature_list_names_the_properties_code() {
        let mut out = [0u8; 16];
        assert_eq!(answer(3400, &mut out, 65536, tagged), Some(Ok(6)));
        assert_eq!(out[..6], [0x12, 4, 0xA5, 0x00, 0x0D, 0x5A]);
        let windows = crate::ioctl::scard_ctl_code;
        assert_eq!(answer(3400, &mut out, 65536, windows), Some(Ok(6)));
        assert_eq!(out[2..6], 0x0031_3568u32.to_be_bytes());
        assert_eq!(
            answer(3400, &mut out[..5], 0, tagged),
            Some(Err(Failure::BufferTooSmall))
        );
        assert_eq!(answer(3401, &mut out, 0, tagged), None);
    }

    #[test]
    fn tlv_properties_announce_the_apdu_size() {
        let mut out = [0u8; 32];
        assert_eq!(answer(3418, &mut out, 65536, tagged), Some(Ok(17)));
        assert_eq!(out[..6], [0x0A, 4, 0x00, 0x00, 0x01, 0x00]);
        assert_eq!(&out[6..17], b"\x08\x09readerkit");
    }

    #[test]
    fn pin_features_and_properties_are_appended() {
        let mut out = [0u8; 32];
        let used = answer(3400, &mut out, 0, tagged).unwrap().unwrap();
        assert_eq!(append_pin_features(&mut out, used, tagged), Ok(24));
        assert_eq!(out[6..12], [0x06, 4, 0xA5, 0x00, 0x0D, 0x4E]);
        assert_eq!(out[12..18], [0x07, 4, 0xA5, 0x00, 0x0D, 0x4F]);
        assert_eq!(out[18..24], [0x0A, 4, 0xA5, 0x00, 0x0D, 0x52]);
        assert_eq!(
            append_pin_features(&mut out[..23], used, tagged),
            Err(Failure::BufferTooSmall)
        );
        assert_eq!(
            append_pin_properties(&mut out, 2, 4, 8),
            Ok(15),
            "4 TLVs after 2 bytes"
        );
        assert_eq!(out[2..15], [1, 2, 0, 0, 2, 1, 7, 6, 1, 4, 7, 1, 8]);
        assert_eq!(
            append_pin_properties(&mut out, 40, 4, 8),
            Err(Failure::BufferTooSmall)
        );
    }

    #[test]
    fn ifd_pin_properties_is_the_four_byte_structure() {
        let mut out = [0xEEu8; 6];
        assert_eq!(pin_properties(&mut out), Ok(4));
        assert_eq!(out, [0, 0, 0x07, 0, 0xEE, 0xEE]);
        assert_eq!(pin_properties(&mut out[..3]), Err(Failure::BufferTooSmall));
    }
}
