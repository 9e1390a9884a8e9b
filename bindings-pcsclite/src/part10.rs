//! PC/SC part 10 on the vendor-IOCTL path: `CM_IOCTL_GET_FEATURE_REQUEST` and
//! `FEATURE_GET_TLV_PROPERTIES`.
//!
//! Both arrive through the core's single entry point as vendor IOCTLs (functions
//! 3400 and 3412) and are answered by the backends' vendor callbacks with
//! [`answer`]. The feature list names pcsc-lite control codes (`0x42000000 + fn`),
//! which is what a client passes back to `SCardControl`.

use readerkit::Status;

/// pcsc-lite's `SCARD_CTL_CODE(code)`.
pub const fn pcsclite_ctl_code(function: u16) -> u32 {
    0x4200_0000 + function as u32
}

/// `CM_IOCTL_GET_FEATURE_REQUEST` = `SCARD_CTL_CODE(3400)`.
pub const FN_GET_FEATURE_REQUEST: u16 = 3400;
/// Our control function for `FEATURE_GET_TLV_PROPERTIES` (3400 + the feature tag).
pub const FN_GET_TLV_PROPERTIES: u16 = 3400 + FEATURE_GET_TLV_PROPERTIES as u16;
/// The simulated card's fault switch (a readerkit vendor IOCTL, `sim:` only): input
/// `[0]` clears faults, `[1, n]` mutes the card after `n` more answers, `[2]` mutes
/// it at once; a reset ends the muteness.
pub const FN_SIM_FAULT: u16 = 3500;

/// PC/SC part 10 feature tag `FEATURE_GET_TLV_PROPERTIES`.
pub const FEATURE_GET_TLV_PROPERTIES: u8 = 0x12;
/// TLV property tag `dwMaxAPDUDataSize`.
pub const PROPERTY_MAX_APDU_DATA_SIZE: u8 = 0x0A;
/// TLV property tag `wIdVendor`.
pub const PROPERTY_ID_VENDOR: u8 = 0x0B;
/// TLV property tag `wIdProduct`.
pub const PROPERTY_ID_PRODUCT: u8 = 0x0C;
/// TLV property tag `sFirmwareID`.
pub const PROPERTY_FIRMWARE_ID: u8 = 0x08;

/// The function number of a Windows `SCARD_CTL_CODE` (what the core hands to
/// vendor callbacks).
pub const fn function_of(windows_code: u32) -> u16 {
    ((windows_code >> 2) & 0x0FFF) as u16
}

fn put(output: &mut [u8], bytes: &[u8]) -> Result<usize, Status> {
    output
        .get_mut(..bytes.len())
        .ok_or(Status::BufferTooSmall)?
        .copy_from_slice(bytes);
    Ok(bytes.len())
}

/// Answer a part 10 request, or `None` if `function` is none of them.
/// `max_apdu_data` is announced as `dwMaxAPDUDataSize`.
pub fn answer(
    function: u16,
    output: &mut [u8],
    max_apdu_data: u32,
) -> Option<Result<usize, Status>> {
    match function {
        FN_GET_FEATURE_REQUEST => {
            let mut tlv = [0u8; 6];
            tlv[0] = FEATURE_GET_TLV_PROPERTIES;
            tlv[1] = 4;
            tlv[2..].copy_from_slice(&pcsclite_ctl_code(FN_GET_TLV_PROPERTIES).to_be_bytes());
            Some(put(output, &tlv))
        }
        FN_GET_TLV_PROPERTIES => {
            let mut props = Vec::with_capacity(32);
            props.extend_from_slice(&[PROPERTY_MAX_APDU_DATA_SIZE, 4]);
            props.extend_from_slice(&max_apdu_data.to_le_bytes());
            props.extend_from_slice(&[PROPERTY_FIRMWARE_ID, 9]);
            props.extend_from_slice(b"readerkit");
            Some(put(output, &props))
        }
        _ => None,
    }
}
