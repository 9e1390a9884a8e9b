//! Transmission protocols and the protocol masks of SET_PROTOCOL.
//!
//! Values are the Windows ones (`SCARD_PROTOCOL_*` of `winsmcrd.h`); pcsc-lite numbers
//! RAW differently (4) and the pcsc-lite binding translates.

/// One ISO 7816-3 transmission protocol (or raw mode) that can be selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// T=0: half-duplex character protocol.
    T0,
    /// T=1: half-duplex block protocol.
    T1,
    /// Raw: bytes pass to the card unchanged (reader-specific).
    Raw,
}

/// The protocol's name as ISO/IEC 7816-3 writes it: `T=0`, `T=1`; `raw`.
impl core::fmt::Display for Protocol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Protocol::T0 => "T=0",
            Protocol::T1 => "T=1",
            Protocol::Raw => "raw",
        })
    }
}

impl Protocol {
    /// The protocol's bit in a [`ProtocolMask`] (`SCARD_PROTOCOL_T0`, ...).
    pub const fn bit(self) -> u32 {
        match self {
            Protocol::T0 => ProtocolMask::T0.0,
            Protocol::T1 => ProtocolMask::T1.0,
            Protocol::Raw => ProtocolMask::RAW.0,
        }
    }

    /// The protocol whose bit is exactly `bits`, if any.
    pub const fn from_bit(bits: u32) -> Option<Protocol> {
        match ProtocolMask(bits) {
            ProtocolMask::T0 => Some(Protocol::T0),
            ProtocolMask::T1 => Some(Protocol::T1),
            ProtocolMask::RAW => Some(Protocol::Raw),
            _ => None,
        }
    }

    /// The ISO 7816-3 protocol number T (0 or 1); `None` for raw.
    pub const fn iso_number(self) -> Option<u8> {
        match self {
            Protocol::T0 => Some(0),
            Protocol::T1 => Some(1),
            Protocol::Raw => None,
        }
    }

    /// The protocol of the ISO 7816-3 protocol number `t`, the inverse of
    /// [`Protocol::iso_number`]: T=0 or T=1; `None` for any other T.
    pub const fn from_iso_number(t: u8) -> Option<Protocol> {
        match t {
            0 => Some(Protocol::T0),
            1 => Some(Protocol::T1),
            _ => None,
        }
    }
}

/// A set of protocols plus the SET_PROTOCOL modifier bits, as a 32-bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProtocolMask(pub u32);

impl ProtocolMask {
    /// No protocol (`SCARD_PROTOCOL_UNDEFINED`).
    pub const NONE: ProtocolMask = ProtocolMask(0);
    /// `SCARD_PROTOCOL_T0`.
    pub const T0: ProtocolMask = ProtocolMask(0x0000_0001);
    /// `SCARD_PROTOCOL_T1`.
    pub const T1: ProtocolMask = ProtocolMask(0x0000_0002);
    /// `SCARD_PROTOCOL_RAW` (Windows value).
    pub const RAW: ProtocolMask = ProtocolMask(0x0001_0000);
    /// `SCARD_PROTOCOL_DEFAULT`: no PPS, use the default parameters.
    pub const DEFAULT: ProtocolMask = ProtocolMask(0x8000_0000);
    /// Every bit that names a protocol.
    pub const PROTOCOLS: ProtocolMask = ProtocolMask(Self::T0.0 | Self::T1.0 | Self::RAW.0);

    /// The bits that name protocols, without modifier bits.
    pub const fn protocols(self) -> ProtocolMask {
        ProtocolMask(self.0 & Self::PROTOCOLS.0)
    }

    /// `true` if `protocol` is in the set.
    pub const fn contains(self, protocol: Protocol) -> bool {
        self.0 & protocol.bit() != 0
    }

    /// The set with `protocol` added.
    pub const fn with(self, protocol: Protocol) -> ProtocolMask {
        ProtocolMask(self.0 | protocol.bit())
    }

    /// The protocols in both sets (modifier bits dropped).
    pub const fn intersect(self, other: ProtocolMask) -> ProtocolMask {
        ProtocolMask(self.0 & other.0 & Self::PROTOCOLS.0)
    }

    /// `true` if no protocol bit is set.
    pub const fn is_empty(self) -> bool {
        self.protocols().0 == 0
    }

    /// `true` if the caller asked for default parameters (no PPS).
    pub const fn wants_default_parameters(self) -> bool {
        self.0 & Self::DEFAULT.0 != 0
    }

    /// The preferred protocol of the set: T=1 before T=0 before raw, as Microsoft
    /// recommends for SET_PROTOCOL.
    pub const fn preferred(self) -> Option<Protocol> {
        if self.contains(Protocol::T1) {
            Some(Protocol::T1)
        } else if self.contains(Protocol::T0) {
            Some(Protocol::T0)
        } else if self.contains(Protocol::Raw) {
            Some(Protocol::Raw)
        } else {
            None
        }
    }
}

impl From<Protocol> for ProtocolMask {
    fn from(p: Protocol) -> ProtocolMask {
        ProtocolMask(p.bit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        for p in [Protocol::T0, Protocol::T1, Protocol::Raw] {
            assert_eq!(Protocol::from_bit(p.bit()), Some(p));
        }
        assert_eq!(Protocol::from_bit(3), None);
    }

    #[test]
    fn iso_numbers_round_trip() {
        for p in [Protocol::T0, Protocol::T1] {
            assert_eq!(p.iso_number().and_then(Protocol::from_iso_number), Some(p));
        }
        assert_eq!(Protocol::Raw.iso_number(), None);
        assert_eq!(Protocol::from_iso_number(2), None);
        assert_eq!(Protocol::from_iso_number(15), None);
    }

    #[test]
    fn names_as_iso_writes_them() {
        use std::string::ToString;
        let names = [Protocol::T0, Protocol::T1, Protocol::Raw].map(|p| p.to_string());
        assert_eq!(names, ["T=0", "T=1", "raw"]);
    }

    #[test]
    fn preference_is_t1_first() {
        let both = ProtocolMask::T0.with(Protocol::T1);
        assert_eq!(both.preferred(), Some(Protocol::T1));
        assert_eq!(ProtocolMask::T0.preferred(), Some(Protocol::T0));
        assert_eq!(ProtocolMask::DEFAULT.preferred(), None);
        assert!(ProtocolMask::DEFAULT.is_empty());
        assert!(ProtocolMask(0x8000_0001).wants_default_parameters());
    }
}
