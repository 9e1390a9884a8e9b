//! The numbers the C calls share: request (IOCTL) codes, POWER actions, card
//! events, tracking waits, protocol bits and T=1 error detection codes.

use readerkit::atr::Edc;
use readerkit::t0::{Extended, GetResponseClass};
use readerkit::{Ioctl, ProtocolMask};
use static_assertions::const_assert_eq;

use crate::status::*;

// The entry point the docs below name.
#[cfg(doc)]
use crate::device::rk_card_event;

/// `IOCTL_SMARTCARD_POWER`.
pub const RK_IOCTL_POWER: u32 = 0x00310004;
/// `IOCTL_SMARTCARD_GET_ATTRIBUTE`.
pub const RK_IOCTL_GET_ATTRIBUTE: u32 = 0x00310008;
/// `IOCTL_SMARTCARD_SET_ATTRIBUTE`.
pub const RK_IOCTL_SET_ATTRIBUTE: u32 = 0x0031000C;
/// `IOCTL_SMARTCARD_CONFISCATE`.
pub const RK_IOCTL_CONFISCATE: u32 = 0x00310010;
/// `IOCTL_SMARTCARD_TRANSMIT`.
pub const RK_IOCTL_TRANSMIT: u32 = 0x00310014;
/// `IOCTL_SMARTCARD_EJECT`.
pub const RK_IOCTL_EJECT: u32 = 0x00310018;
/// `IOCTL_SMARTCARD_SWALLOW`.
pub const RK_IOCTL_SWALLOW: u32 = 0x0031001C;
/// `IOCTL_SMARTCARD_IS_PRESENT`.
pub const RK_IOCTL_IS_PRESENT: u32 = 0x00310028;
/// `IOCTL_SMARTCARD_IS_ABSENT`.
pub const RK_IOCTL_IS_ABSENT: u32 = 0x0031002C;
/// `IOCTL_SMARTCARD_SET_PROTOCOL`.
pub const RK_IOCTL_SET_PROTOCOL: u32 = 0x00310030;
/// `IOCTL_SMARTCARD_GET_STATE`.
pub const RK_IOCTL_GET_STATE: u32 = 0x00310038;
/// `IOCTL_SMARTCARD_GET_LAST_ERROR`.
pub const RK_IOCTL_GET_LAST_ERROR: u32 = 0x0031003C;

// The header's codes are written out as numbers (cbindgen copies literals, it does
// not call functions); the core's one encoder of the layout is their authority.
const_assert_eq!(RK_IOCTL_POWER, Ioctl::Power.code());
const_assert_eq!(RK_IOCTL_GET_ATTRIBUTE, Ioctl::GetAttribute.code());
const_assert_eq!(RK_IOCTL_SET_ATTRIBUTE, Ioctl::SetAttribute.code());
const_assert_eq!(RK_IOCTL_CONFISCATE, Ioctl::Confiscate.code());
const_assert_eq!(RK_IOCTL_TRANSMIT, Ioctl::Transmit.code());
const_assert_eq!(RK_IOCTL_EJECT, Ioctl::Eject.code());
const_assert_eq!(RK_IOCTL_SWALLOW, Ioctl::Swallow.code());
const_assert_eq!(RK_IOCTL_IS_PRESENT, Ioctl::IsPresent.code());
const_assert_eq!(RK_IOCTL_IS_ABSENT, Ioctl::IsAbsent.code());
const_assert_eq!(RK_IOCTL_SET_PROTOCOL, Ioctl::SetProtocol.code());
const_assert_eq!(RK_IOCTL_GET_STATE, Ioctl::GetState.code());
const_assert_eq!(RK_IOCTL_GET_LAST_ERROR, Ioctl::GetLastError.code());

/// POWER action (the request's, the callback's and `rk_sim_power`'s): power the
/// card down.
pub const RK_POWER_DOWN: u32 = 0;
/// POWER action: cold reset (power up); also what the line's `reset` gets.
pub const RK_POWER_COLD_RESET: u32 = 1;
/// POWER action: warm reset; also what the line's `reset` gets.
pub const RK_POWER_WARM_RESET: u32 = 2;

/// Card event ([`rk_card_event`]): a card was inserted.
pub const RK_CARD_INSERTED: u32 = 1;
/// Card event: the card was removed.
pub const RK_CARD_REMOVED: u32 = 2;
/// Card event: the hardware deactivated the card (over-current, fault); the card,
/// if still there, is no longer powered.
pub const RK_CARD_FAULT: u32 = 3;

/// Card tracking: wait for a card to be inserted (IS_PRESENT).
pub const RK_WAIT_INSERTION: u32 = 0;
/// Card tracking: wait for the card to be removed (IS_ABSENT).
pub const RK_WAIT_REMOVAL: u32 = 1;

/// No protocol (`SCARD_PROTOCOL_UNDEFINED`): what a line's `set_framing` is told
/// between the ATR and the protocol's choice, for the PPS request's guard time.
pub const RK_PROTOCOL_NONE: u32 = 0;
/// Protocol bit: T=0 (`SCARD_PROTOCOL_T0`).
pub const RK_PROTOCOL_T0: u32 = 0x0000_0001;
/// Protocol bit: T=1 (`SCARD_PROTOCOL_T1`).
pub const RK_PROTOCOL_T1: u32 = 0x0000_0002;
/// Protocol bit: raw (`SCARD_PROTOCOL_RAW`).
pub const RK_PROTOCOL_RAW: u32 = 0x0001_0000;
/// SET_PROTOCOL flag: use the default parameters (`SCARD_PROTOCOL_DEFAULT`).
pub const RK_PROTOCOL_DEFAULT: u32 = 0x8000_0000;

// Written out for the header, as the IOCTL codes are; the core's protocol mask is
// their authority.
const_assert_eq!(RK_PROTOCOL_NONE, ProtocolMask::NONE.0);
const_assert_eq!(RK_PROTOCOL_T0, ProtocolMask::T0.0);
const_assert_eq!(RK_PROTOCOL_T1, ProtocolMask::T1.0);
const_assert_eq!(RK_PROTOCOL_RAW, ProtocolMask::RAW.0);
const_assert_eq!(RK_PROTOCOL_DEFAULT, ProtocolMask::DEFAULT.0);

/// T=1 error detection code: LRC.
pub const RK_EDC_LRC: u8 = 0;
/// T=1 error detection code: CRC.
pub const RK_EDC_CRC: u8 = 1;

/// The C code of a GET RESPONSE / ENVELOPE class: -1 = interindustry, -2 = from
/// the command, 0..=255 = this class byte.
pub(crate) fn class_code(class: GetResponseClass) -> i16 {
    match class {
        GetResponseClass::Interindustry => -1,
        GetResponseClass::FromCommand => -2,
        GetResponseClass::Fixed(class) => i16::from(class),
    }
}

/// The GET RESPONSE / ENVELOPE class of a C code ([`class_code`]); one outside
/// -2..=255 is `RK_STATUS_INVALID_PARAMETER`.
pub(crate) fn class_of(code: i16) -> Result<GetResponseClass, rk_status> {
    match code {
        -1 => Ok(GetResponseClass::Interindustry),
        -2 => Ok(GetResponseClass::FromCommand),
        class => u8::try_from(class)
            .map(GetResponseClass::Fixed)
            .map_err(|_| RK_STATUS_INVALID_PARAMETER),
    }
}

/// The C code of a T=0 extended-APDU policy: 1 = ENVELOPE, 0 = refuse.
pub(crate) fn envelope_code(extended: Extended) -> u8 {
    u8::from(extended == Extended::Envelope)
}

/// The T=0 extended-APDU policy of a C byte: non-zero = ENVELOPE.
pub(crate) fn envelope_of(code: u8) -> Extended {
    match code {
        0 => Extended::NotSupported,
        _ => Extended::Envelope,
    }
}

/// The C code of an error detection code: `RK_EDC_LRC` or `RK_EDC_CRC`.
pub(crate) fn edc_code(edc: Edc) -> u8 {
    match edc {
        Edc::Lrc => RK_EDC_LRC,
        Edc::Crc => RK_EDC_CRC,
    }
}

/// The error detection code of a C code; an unknown one is
/// `RK_STATUS_INVALID_PARAMETER`.
pub(crate) fn edc_of(code: u8) -> Result<Edc, rk_status> {
    match code {
        RK_EDC_LRC => Ok(Edc::Lrc),
        RK_EDC_CRC => Ok(Edc::Crc),
        _ => Err(RK_STATUS_INVALID_PARAMETER),
    }
}
