//! IOCTL codes and checked views of their buffers.
//!
//! [`Request::parse`] is where every user buffer is validated, before any state is
//! read or any callback runs: a request that fails here is refused with its status and
//! changes nothing. The codes are Windows' (`SCARD_CTL_CODE(fn)` =
//! `0x00310000 | fn << 2`); the pcsc-lite binding translates its own.

mod request;

pub use request::{PERF_COUNTERS_LEN, Request, Transmit, transmit_response};

use crate::protocol::Protocol;

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
}
