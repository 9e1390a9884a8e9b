//! Attribute tags (`SCARD_ATTR_*`) for GET_ATTRIBUTE and SET_ATTRIBUTE.
//!
//! A tag is `(class << 16) | id`. The values are those of Windows' `winsmcrd.h`,
//! which pcsc-lite's `reader.h` shares.

/// Build a tag from its class and id (`SCARD_ATTR_VALUE`).
pub const fn value(class: u16, id: u16) -> u32 {
    ((class as u32) << 16) | id as u32
}

/// `SCARD_ATTR_VENDOR_NAME`: ASCII, no terminating NUL.
pub const VENDOR_NAME: u32 = 0x0001_0100;
/// `SCARD_ATTR_VENDOR_IFD_TYPE`: ASCII reader model.
pub const VENDOR_IFD_TYPE: u32 = 0x0001_0101;
/// `SCARD_ATTR_VENDOR_IFD_VERSION`: DWORD 0xMMmmbbbb.
pub const VENDOR_IFD_VERSION: u32 = 0x0001_0102;
/// `SCARD_ATTR_VENDOR_IFD_SERIAL_NO`: ASCII.
pub const VENDOR_IFD_SERIAL_NO: u32 = 0x0001_0103;
/// `SCARD_ATTR_CHANNEL_ID`: DWORD 0xDDDDCCCC, reader type and channel.
pub const CHANNEL_ID: u32 = 0x0002_0110;
/// `SCARD_ATTR_PROTOCOL_TYPES`: DWORD, a bit per supported protocol.
pub const PROTOCOL_TYPES: u32 = 0x0003_0120;
/// `SCARD_ATTR_DEFAULT_CLK`: DWORD, kHz.
pub const DEFAULT_CLK: u32 = 0x0003_0121;
/// `SCARD_ATTR_MAX_CLK`: DWORD, kHz.
pub const MAX_CLK: u32 = 0x0003_0122;
/// `SCARD_ATTR_DEFAULT_DATA_RATE`: DWORD, bit/s.
pub const DEFAULT_DATA_RATE: u32 = 0x0003_0123;
/// `SCARD_ATTR_MAX_DATA_RATE`: DWORD, bit/s.
pub const MAX_DATA_RATE: u32 = 0x0003_0124;
/// `SCARD_ATTR_MAX_IFSD`: DWORD, bytes.
pub const MAX_IFSD: u32 = 0x0003_0125;
/// `SCARD_ATTR_POWER_MGMT_SUPPORT`: DWORD, 0 = no power management.
pub const POWER_MGMT_SUPPORT: u32 = 0x0004_0131;
/// `SCARD_ATTR_CHARACTERISTICS`: DWORD, mechanical properties.
pub const CHARACTERISTICS: u32 = 0x0006_0150;
/// `SCARD_ATTR_CURRENT_PROTOCOL_TYPE`: DWORD, the selected protocol's bit (0 if none).
pub const CURRENT_PROTOCOL_TYPE: u32 = 0x0008_0201;
/// `SCARD_ATTR_CURRENT_CLK`: DWORD, kHz.
pub const CURRENT_CLK: u32 = 0x0008_0202;
/// `SCARD_ATTR_CURRENT_F`: DWORD, the clock rate conversion integer F in force.
pub const CURRENT_F: u32 = 0x0008_0203;
/// `SCARD_ATTR_CURRENT_D`: DWORD, the baud rate adjustment integer D in force.
pub const CURRENT_D: u32 = 0x0008_0204;
/// `SCARD_ATTR_CURRENT_N`: DWORD, extra guard time N in etu.
pub const CURRENT_N: u32 = 0x0008_0205;
/// `SCARD_ATTR_CURRENT_W`: DWORD, the T=0 waiting time integer WI.
pub const CURRENT_W: u32 = 0x0008_0206;
/// `SCARD_ATTR_CURRENT_IFSC`: DWORD, bytes: the T=1 IFSC in force (the ATR's
/// until the card's S(IFS request) changes it, until the next reset or
/// SET_PROTOCOL; see
/// [`FieldSizeReport`](crate::device::FieldSizeReport)).
pub const CURRENT_IFSC: u32 = 0x0008_0207;
/// `SCARD_ATTR_CURRENT_IFSD`: DWORD, bytes: the T=1 IFSD in force (the one the
/// reader announces; ISO's initial 32 when the TRANSMIT callback reports that the
/// card never acknowledged it or it was suppressed).
pub const CURRENT_IFSD: u32 = 0x0008_0208;
/// `SCARD_ATTR_CURRENT_BWT`: DWORD, T=1 block waiting time in µs.
pub const CURRENT_BWT: u32 = 0x0008_0209;
/// `SCARD_ATTR_CURRENT_CWT`: DWORD, T=1 character waiting time in µs.
pub const CURRENT_CWT: u32 = 0x0008_020A;
/// `SCARD_ATTR_CURRENT_EBC_ENCODING`: DWORD, 0 = LRC, 1 = CRC.
pub const CURRENT_EBC_ENCODING: u32 = 0x0008_020B;
/// `SCARD_ATTR_ICC_PRESENCE`: BYTE, 0 absent, 1 present, 2 present and in position,
/// 4 confiscated.
pub const ICC_PRESENCE: u32 = 0x0009_0300;
/// `SCARD_ATTR_ICC_INTERFACE_STATUS`: BYTE, 0 contacts inactive, 1 active.
pub const ICC_INTERFACE_STATUS: u32 = 0x0009_0301;
/// `SCARD_ATTR_ATR_STRING`: the ATR bytes.
pub const ATR_STRING: u32 = 0x0009_0303;
/// `SCARD_ATTR_ICC_TYPE_PER_ATR`: BYTE, 1 = ISO 7816 asynchronous card.
pub const ICC_TYPE_PER_ATR: u32 = 0x0009_0304;
/// `SCARD_ATTR_DEVICE_UNIT`: DWORD, zero-based unit number of this reader type.
pub const DEVICE_UNIT: u32 = 0x7FFF_0001;
/// `SCARD_ATTR_DEVICE_IN_USE`: set by the resource manager; accepted and ignored.
pub const DEVICE_IN_USE: u32 = 0x7FFF_0002;
/// `SCARD_ATTR_SUPRESS_T1_IFS_REQUEST` (sic): settable; non-zero suppresses the S(IFS
/// request) a T=1 driver sends after the ATR.
pub const SUPPRESS_T1_IFS_REQUEST: u32 = 0x7FFF_0007;
/// `SCARD_PERF_NUM_TRANSMISSIONS`: DWORD, TRANSMIT requests completed.
pub const PERF_NUM_TRANSMISSIONS: u32 = 0x7FFE_0001;
/// `SCARD_PERF_BYTES_TRANSMITTED`: DWORD, APDU bytes sent plus response bytes received.
pub const PERF_BYTES_TRANSMITTED: u32 = 0x7FFE_0002;

/// `true` for the attributes whose value is one 32-bit integer (a DWORD). The
/// library writes them little-endian, as Windows (smclib) hosts read them; a host
/// whose ABI reads them in native order (pcsc-lite) converts exactly these.
pub const fn is_dword(tag: u32) -> bool {
    matches!(
        tag,
        VENDOR_IFD_VERSION
            | CHANNEL_ID
            | PROTOCOL_TYPES
            | DEFAULT_CLK
            | MAX_CLK
            | DEFAULT_DATA_RATE
            | MAX_DATA_RATE
            | MAX_IFSD
            | POWER_MGMT_SUPPORT
            | CHARACTERISTICS
            | DEVICE_UNIT
            | PERF_NUM_TRANSMISSIONS
            | PERF_BYTES_TRANSMITTED
            | CURRENT_PROTOCOL_TYPE
            | CURRENT_CLK
            | CURRENT_F
            | CURRENT_D
            | CURRENT_N
            | CURRENT_W
            | CURRENT_IFSC
            | CURRENT_IFSD
            | CURRENT_BWT
            | CURRENT_CWT
            | CURRENT_EBC_ENCODING
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_class_and_id() {
        assert_eq!(super::value(0x9, 0x0303), super::ATR_STRING);
        assert_eq!(super::value(0x7FFF, 0x0001), super::DEVICE_UNIT);
    }
}
