//! IOCTL codes and checked views of their buffers.
//!
//! [`Request::parse`] is where every user buffer is validated, before any state is
//! read or any callback runs: a request that fails here is refused with its status and
//! changes nothing. The codes are Windows' (`SCARD_CTL_CODE(fn)` =
//! `0x00310000 | fn << 2`); the pcsc-lite binding translates its own.

use crate::protocol::{Protocol, ProtocolMask};
use crate::status::Status;

/// `SCARD_CTL_CODE(function)`: device type 0x31, METHOD_BUFFERED, FILE_ANY_ACCESS.
pub const fn scard_ctl_code(function: u16) -> u32 {
    0x0031_0000 | ((function as u32) << 2)
}

/// Length of the `SCARD_IO_REQUEST` header that starts TRANSMIT buffers, in bytes.
pub const IO_REQUEST_LEN: usize = 8;
/// Output space POWER needs for an ATR (`SCARD_ATR_LENGTH`), in bytes.
pub const ATR_BUFFER_LEN: usize = 33;
/// Smallest response APDU (SW1 SW2), in bytes.
pub const MIN_RESPONSE_LEN: usize = 2;
/// First function number of the vendor range.
pub const VENDOR_FIRST: u16 = 2048;
/// Last function number of the vendor range.
pub const VENDOR_LAST: u16 = 4095;

/// A smart card IOCTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ioctl {
    /// `IOCTL_SMARTCARD_POWER` (fn 1).
    Power,
    /// `IOCTL_SMARTCARD_GET_ATTRIBUTE` (fn 2).
    GetAttribute,
    /// `IOCTL_SMARTCARD_SET_ATTRIBUTE` (fn 3).
    SetAttribute,
    /// `IOCTL_SMARTCARD_CONFISCATE` (fn 4).
    Confiscate,
    /// `IOCTL_SMARTCARD_TRANSMIT` (fn 5).
    Transmit,
    /// `IOCTL_SMARTCARD_EJECT` (fn 6).
    Eject,
    /// `IOCTL_SMARTCARD_SWALLOW` (fn 7).
    Swallow,
    /// `IOCTL_SMARTCARD_IS_PRESENT` (fn 10).
    IsPresent,
    /// `IOCTL_SMARTCARD_IS_ABSENT` (fn 11).
    IsAbsent,
    /// `IOCTL_SMARTCARD_SET_PROTOCOL` (fn 12).
    SetProtocol,
    /// `IOCTL_SMARTCARD_GET_STATE` (fn 14).
    GetState,
    /// `IOCTL_SMARTCARD_GET_LAST_ERROR` (fn 15).
    GetLastError,
    /// `IOCTL_SMARTCARD_GET_PERF_CNTR` (fn 16).
    GetPerfCounter,
    /// A vendor IOCTL, function 2048..=4095 (for example
    /// `IOCTL_SMARTCARD_GET_FEATURE_REQUEST`, fn 3400).
    Vendor(u16),
}

impl Ioctl {
    /// The IOCTL for a code, or `None` if it is no smart card IOCTL we know.
    pub const fn from_code(code: u32) -> Option<Ioctl> {
        // Device type 0x31, METHOD_BUFFERED (0), FILE_ANY_ACCESS (0).
        if code & 0xFFFF_C003 != 0x0031_0000 {
            return None;
        }
        let function = ((code >> 2) & 0x0FFF) as u16;
        Some(match function {
            1 => Ioctl::Power,
            2 => Ioctl::GetAttribute,
            3 => Ioctl::SetAttribute,
            4 => Ioctl::Confiscate,
            5 => Ioctl::Transmit,
            6 => Ioctl::Eject,
            7 => Ioctl::Swallow,
            10 => Ioctl::IsPresent,
            11 => Ioctl::IsAbsent,
            12 => Ioctl::SetProtocol,
            14 => Ioctl::GetState,
            15 => Ioctl::GetLastError,
            16 => Ioctl::GetPerfCounter,
            VENDOR_FIRST..=VENDOR_LAST => Ioctl::Vendor(function),
            _ => return None,
        })
    }

    /// The function number inside the code.
    pub const fn function(self) -> u16 {
        match self {
            Ioctl::Power => 1,
            Ioctl::GetAttribute => 2,
            Ioctl::SetAttribute => 3,
            Ioctl::Confiscate => 4,
            Ioctl::Transmit => 5,
            Ioctl::Eject => 6,
            Ioctl::Swallow => 7,
            Ioctl::IsPresent => 10,
            Ioctl::IsAbsent => 11,
            Ioctl::SetProtocol => 12,
            Ioctl::GetState => 14,
            Ioctl::GetLastError => 15,
            Ioctl::GetPerfCounter => 16,
            Ioctl::Vendor(function) => function,
        }
    }

    /// The IOCTL code.
    pub const fn code(self) -> u32 {
        scard_ctl_code(self.function())
    }
}

/// The minor code of POWER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerAction {
    /// `SCARD_POWER_DOWN` (0): deactivate the card.
    PowerDown,
    /// `SCARD_COLD_RESET` (1): power up (or cycle power) and reset.
    ColdReset,
    /// `SCARD_WARM_RESET` (2): reset without removing power.
    WarmReset,
}

impl PowerAction {
    /// The action for a minor code.
    pub const fn from_code(code: u32) -> Option<PowerAction> {
        match code {
            0 => Some(PowerAction::PowerDown),
            1 => Some(PowerAction::ColdReset),
            2 => Some(PowerAction::WarmReset),
            _ => None,
        }
    }

    /// The minor code.
    pub const fn code(self) -> u32 {
        match self {
            PowerAction::PowerDown => 0,
            PowerAction::ColdReset => 1,
            PowerAction::WarmReset => 2,
        }
    }
}

/// A TRANSMIT request: the `SCARD_IO_REQUEST` header and the APDU after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// `dwProtocol` of the header: the protocol the caller believes is selected.
    pub protocol: u32,
    /// The command APDU (or TPDU), after the header and any protocol control info.
    pub apdu: &'a [u8],
}

/// A request whose buffers have been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// POWER with its action.
    Power(PowerAction),
    /// GET_ATTRIBUTE of a tag.
    GetAttribute(u32),
    /// SET_ATTRIBUTE of a tag to a value.
    SetAttribute {
        /// The attribute tag.
        tag: u32,
        /// The value bytes after the tag.
        value: &'a [u8],
    },
    /// CONFISCATE.
    Confiscate,
    /// TRANSMIT.
    Transmit(Transmit<'a>),
    /// EJECT.
    Eject,
    /// SWALLOW.
    Swallow,
    /// IS_PRESENT.
    IsPresent,
    /// IS_ABSENT.
    IsAbsent,
    /// SET_PROTOCOL with the caller's mask.
    SetProtocol(ProtocolMask),
    /// GET_STATE.
    GetState,
    /// GET_LAST_ERROR.
    GetLastError,
    /// GET_PERF_CNTR.
    GetPerfCounter,
    /// A vendor IOCTL: its full code and input; buffers are the callback's business.
    Vendor {
        /// The IOCTL code.
        code: u32,
        /// The input buffer.
        input: &'a [u8],
    },
}

/// Length of the GET_PERF_CNTR answer: three little-endian `u32` (transmissions,
/// bytes sent, bytes received).
pub const PERF_COUNTERS_LEN: usize = 12;

fn read_u32(input: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = input.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

impl<'a> Request<'a> {
    /// Check the buffers of a request: `code` is the IOCTL, `input` the caller's input
    /// bytes, `output_len` the size of the caller's output buffer in bytes.
    ///
    /// Refusals: an unknown code gives [`Status::InvalidDeviceRequest`]; a short or
    /// malformed input, an unknown power code, or a TRANSMIT header whose
    /// `cbPciLength` does not fit gives [`Status::InvalidParameter`]; a SET_PROTOCOL
    /// mask with no known protocol gives [`Status::InvalidDeviceRequest`]; an output
    /// that cannot hold the fixed-size answer gives [`Status::BufferTooSmall`].
    pub fn parse(code: u32, input: &'a [u8], output_len: usize) -> Result<Request<'a>, Status> {
        let ioctl = Ioctl::from_code(code).ok_or(Status::InvalidDeviceRequest)?;
        let need_output = |len: usize| {
            if output_len < len {
                Err(Status::BufferTooSmall)
            } else {
                Ok(())
            }
        };
        let request = match ioctl {
            Ioctl::Power => {
                let minor = read_u32(input).ok_or(Status::InvalidParameter)?;
                let action = PowerAction::from_code(minor).ok_or(Status::InvalidParameter)?;
                if action != PowerAction::PowerDown {
                    need_output(ATR_BUFFER_LEN)?;
                }
                Request::Power(action)
            }
            Ioctl::GetAttribute => {
                Request::GetAttribute(read_u32(input).ok_or(Status::InvalidParameter)?)
            }
            Ioctl::SetAttribute => {
                let tag = read_u32(input).ok_or(Status::InvalidParameter)?;
                Request::SetAttribute {
                    tag,
                    value: input.get(4..).unwrap_or(&[]),
                }
            }
            Ioctl::SetProtocol => {
                let mask = ProtocolMask(read_u32(input).ok_or(Status::InvalidParameter)?);
                if mask.is_empty() {
                    return Err(Status::InvalidDeviceRequest);
                }
                need_output(4)?;
                Request::SetProtocol(mask)
            }
            Ioctl::Transmit => {
                let protocol = read_u32(input).ok_or(Status::InvalidParameter)?;
                let pci_len = input
                    .get(4..)
                    .and_then(read_u32)
                    .ok_or(Status::InvalidParameter)?;
                let pci_len = usize::try_from(pci_len).map_err(|_| Status::InvalidParameter)?;
                if pci_len < IO_REQUEST_LEN {
                    return Err(Status::InvalidParameter);
                }
                let apdu = input.get(pci_len..).ok_or(Status::InvalidParameter)?;
                if apdu.is_empty() {
                    return Err(Status::InvalidParameter);
                }
                need_output(IO_REQUEST_LEN + MIN_RESPONSE_LEN)?;
                Request::Transmit(Transmit { protocol, apdu })
            }
            Ioctl::GetState => {
                need_output(4)?;
                Request::GetState
            }
            Ioctl::GetLastError => {
                need_output(4)?;
                Request::GetLastError
            }
            Ioctl::GetPerfCounter => {
                need_output(PERF_COUNTERS_LEN)?;
                Request::GetPerfCounter
            }
            Ioctl::Confiscate => Request::Confiscate,
            Ioctl::Eject => Request::Eject,
            Ioctl::Swallow => Request::Swallow,
            Ioctl::IsPresent => Request::IsPresent,
            Ioctl::IsAbsent => Request::IsAbsent,
            Ioctl::Vendor(_) => Request::Vendor { code, input },
        };
        Ok(request)
    }
}

/// The protocol a TRANSMIT header names, if it names exactly one.
pub const fn header_protocol(protocol: u32) -> Option<Protocol> {
    Protocol::from_bit(protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_winsmcrd() {
        assert_eq!(Ioctl::Power.code(), 0x0031_0004);
        assert_eq!(Ioctl::GetAttribute.code(), 3_211_272);
        assert_eq!(Ioctl::Transmit.code(), 0x0031_0014);
        assert_eq!(Ioctl::IsAbsent.code(), 0x0031_002C);
        assert_eq!(Ioctl::GetPerfCounter.code(), 0x0031_0040);
        assert_eq!(Ioctl::Vendor(3400).code(), 0x0031_3520);
        for f in [
            1u16, 2, 3, 4, 5, 6, 7, 10, 11, 12, 14, 15, 16, 2048, 3400, 4095,
        ] {
            let code = scard_ctl_code(f);
            assert_eq!(Ioctl::from_code(code).map(Ioctl::code), Some(code));
        }
        for f in [0u16, 8, 9, 13, 17, 2047] {
            assert_eq!(Ioctl::from_code(scard_ctl_code(f)), None, "fn {f}");
        }
        // Another device type, another method, another access.
        assert_eq!(Ioctl::from_code(0x0022_0004), None);
        assert_eq!(Ioctl::from_code(0x0031_0005), None);
        assert_eq!(Ioctl::from_code(0x0031_4004), None);
    }

    #[test]
    fn power_needs_a_known_code_and_room_for_an_atr() {
        let code = Ioctl::Power.code();
        assert_eq!(Request::parse(code, &[], 33), Err(Status::InvalidParameter));
        assert_eq!(
            Request::parse(code, &[1, 0, 0], 33),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            Request::parse(code, &[3, 0, 0, 0], 33),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            Request::parse(code, &[1, 0, 0, 0], 32),
            Err(Status::BufferTooSmall)
        );
        assert_eq!(
            Request::parse(code, &[0, 0, 0, 0], 0),
            Ok(Request::Power(PowerAction::PowerDown))
        );
        assert_eq!(
            Request::parse(code, &[2, 0, 0, 0], 33),
            Ok(Request::Power(PowerAction::WarmReset))
        );
    }

    #[test]
    fn transmit_header_must_fit() {
        let code = Ioctl::Transmit.code();
        let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
        let mut input = [0u8; 13];
        input[..4].copy_from_slice(&2u32.to_le_bytes());
        input[4..8].copy_from_slice(&8u32.to_le_bytes());
        input[8..].copy_from_slice(&apdu);
        assert_eq!(
            Request::parse(code, &input, 10),
            Ok(Request::Transmit(Transmit {
                protocol: 2,
                apdu: &apdu
            }))
        );
        assert_eq!(Request::parse(code, &input, 9), Err(Status::BufferTooSmall));
        assert_eq!(
            Request::parse(code, &input[..7], 10),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            Request::parse(code, &input[..8], 10),
            Err(Status::InvalidParameter)
        );
        for bad_pci in [0u32, 7, 14, u32::MAX] {
            input[4..8].copy_from_slice(&bad_pci.to_le_bytes());
            assert_eq!(
                Request::parse(code, &input, 10),
                Err(Status::InvalidParameter)
            );
        }
        input[4..8].copy_from_slice(&12u32.to_le_bytes());
        assert_eq!(
            Request::parse(code, &input, 10),
            Ok(Request::Transmit(Transmit {
                protocol: 2,
                apdu: &apdu[4..]
            }))
        );
    }

    #[test]
    fn set_protocol_needs_a_known_protocol() {
        let code = Ioctl::SetProtocol.code();
        assert_eq!(
            Request::parse(code, &[0; 3], 4),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            Request::parse(code, &0x8000_0000u32.to_le_bytes(), 4),
            Err(Status::InvalidDeviceRequest)
        );
        assert_eq!(
            Request::parse(code, &[0x04, 0, 0, 0], 4),
            Err(Status::InvalidDeviceRequest)
        );
        assert_eq!(
            Request::parse(code, &[3, 0, 0, 0], 3),
            Err(Status::BufferTooSmall)
        );
        assert_eq!(
            Request::parse(code, &[3, 0, 0, 0x80], 4),
            Ok(Request::SetProtocol(ProtocolMask(0x8000_0003)))
        );
    }

    #[test]
    fn fixed_size_answers_need_room() {
        assert_eq!(
            Request::parse(Ioctl::GetState.code(), &[], 3),
            Err(Status::BufferTooSmall)
        );
        assert_eq!(
            Request::parse(Ioctl::GetState.code(), &[], 4),
            Ok(Request::GetState)
        );
        assert_eq!(
            Request::parse(Ioctl::GetPerfCounter.code(), &[], 11),
            Err(Status::BufferTooSmall)
        );
        assert_eq!(
            Request::parse(Ioctl::GetAttribute.code(), &[1, 2, 3], 64),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            Request::parse(0x0031_0034, &[], 64),
            Err(Status::InvalidDeviceRequest)
        );
    }
}
