//! IOCTL codes and checked views of their buffers.
//!
//! [`Request::parse`] is where every user buffer is validated, before any state is
//! read or any callback runs: a request that fails here is refused with its status and
//! changes nothing. The codes are Windows' (`SCARD_CTL_CODE(fn)` =
//! `0x00310000 | fn << 2`); the pcsc-lite binding translates its own.

mod request;

pub(crate) use request::io_request;
pub use request::{PERF_COUNTERS_LEN, Request, Transmit, transmit_response};

use crate::protocol::Protocol;

/// `FILE_DEVICE_SMARTCARD`: the device type of every smart card control code.
pub const FILE_DEVICE_SMARTCARD: u16 = 0x31;
/// The largest function number a control code holds (its 12-bit field).
pub const FUNCTION_MAX: u16 = 0x0FFF;
/// Where the function number sits in a control code (bits 2 to 13).
const FUNCTION_SHIFT: u32 = 2;
/// `CTL_CODE(FILE_DEVICE_SMARTCARD, 0, METHOD_BUFFERED (0), FILE_ANY_ACCESS (0))`:
/// the device type in bits 16 to 31, the access in bits 14 and 15, the method in
/// bits 0 and 1.
const SMARTCARD_BASE: u32 = (FILE_DEVICE_SMARTCARD as u32) << 16;
/// The bits of a control code that are not its function number.
const NOT_FUNCTION: u32 = !((FUNCTION_MAX as u32) << FUNCTION_SHIFT);

/// Windows' `SCARD_CTL_CODE(function)` = `CTL_CODE(FILE_DEVICE_SMARTCARD, function,
/// METHOD_BUFFERED, FILE_ANY_ACCESS)` = `0x00310000 | function << 2`. The one
/// encoder of this layout; [`scard_ctl_function`] is its inverse. `function` must be
/// 0 to [`FUNCTION_MAX`]: a larger one spills into the access and device-type bits
/// (0x4000 gives the code of 0), so check a function from outside first
/// ([`Ioctl::from_function`] does).
pub const fn scard_ctl_code(function: u16) -> u32 {
    SMARTCARD_BASE | ((function as u32) << FUNCTION_SHIFT)
}

/// The function number (0 to [`FUNCTION_MAX`]) of a Windows smart card control
/// code, the inverse of [`scard_ctl_code`]; `None` for a code of another device
/// type, another method (not METHOD_BUFFERED) or another access (not
/// FILE_ANY_ACCESS).
pub const fn scard_ctl_function(code: u32) -> Option<u16> {
    if code & NOT_FUNCTION != SMARTCARD_BASE {
        return None;
    }
    Some(((code >> FUNCTION_SHIFT) as u16) & FUNCTION_MAX)
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
        match scard_ctl_function(code) {
            Some(function) => Ioctl::from_function(function),
            None => None,
        }
    }

    /// The IOCTL for a function number (whatever the layout of the code that
    /// carried it), or `None` if it is no smart card IOCTL we know.
    pub const fn from_function(function: u16) -> Option<Ioctl> {
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
    /// `SCARD_WARM_RESET` (2): reset without removing power. A device makes it a
    /// cold reset for a card that is not powered.
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
    fn ctl_code_layout_round_trips_every_function_and_refuses_other_codes() {
        for function in 0..=FUNCTION_MAX {
            let code = scard_ctl_code(function);
            assert_eq!(code, 0x0031_0000 + 4 * u32::from(function), "fn {function}");
            assert_eq!(scard_ctl_function(code), Some(function), "fn {function}");
            // Every other method (bits 0-1), access (bits 14-15) and device type.
            for method in 1..4 {
                assert_eq!(scard_ctl_function(code | method), None, "{code:#x}");
            }
            for access in 1..4 {
                assert_eq!(scard_ctl_function(code | access << 14), None);
            }
            for device in [0u32, 0x22, 0x30, 0x32, 0x0131, 0x4200, 0xFFFF] {
                let other = (code & 0xFFFF) | device << 16;
                assert_eq!(scard_ctl_function(other), None, "{other:#x}");
            }
        }
        // A function wider than the field names no IOCTL, whatever its low bits.
        for function in FUNCTION_MAX + 1..=u16::MAX {
            assert_eq!(Ioctl::from_function(function), None, "fn {function}");
        }
        // The decoder takes exactly the codes the encoder writes.
        let taken = (0..=u32::from(u16::MAX))
            .map(|low| 0x0031_0000 | low)
            .filter(|&code| scard_ctl_function(code).is_some())
            .count();
        assert_eq!(taken, usize::from(FUNCTION_MAX) + 1);
    }
}
