//! Card profiles and the Answer-to-Reset they produce (ISO/IEC 7816-3:2006 clause 8).
//!
//! A [`Profile`] describes the card's transmission capabilities; [`Profile::atr`]
//! encodes them. The ready-made profiles and their ATRs (hex, direct convention):
//!
//! | profile | ATR |
//! | --- | --- |
//! | [`Profile::t0`] | `3B 1B 95 80 65 52 4B 53 49 4D 73 10 21 40` |
//! | [`Profile::t1`] | `3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF` |
//! | [`Profile::t1_crc`] | `3B 9B 96 81 71 FE 45 01 80 65 52 4B 53 49 4D 73 10 21 40 EE` |
//! | [`Profile::t0_t1`] | `3B 9B 96 80 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EE` |
//!
//! Byte by byte, for [`Profile::t1`]:
//!
//! * `3B` TS: direct convention (`3F` with [`Convention::Inverse`]).
//! * `9B` T0: TA1 and TD1 follow; 11 historical bytes.
//! * `96` TA1: Fi = 9 (F = 512, f(max) = 5 MHz), Di = 6 (D = 32); the card accepts a
//!   PPS to these values (or to a smaller D with the same F).
//! * `81` TD1: TD2 follows; protocol T=1.
//! * `71` TD2: TA3, TB3, TC3 follow; protocol T=1 (they are T=1 parameters).
//! * `FE` TA3: IFSC = 254.
//! * `45` TB3: BWI = 4, CWI = 5.
//! * `00` TC3: EDC is LRC (`01`: CRC, [`Profile::t1_crc`]).
//! * `80 65 52 4B 53 49 4D 73 10 21 40` historical bytes: category indicator `80`
//!   (compact-TLV follows); `65 "RKSIM"` pre-issuing data; `73 10 21 40` card
//!   capabilities: selection by file identifier, data coding byte `21`, extended Lc
//!   and Le fields supported.
//! * `EF` TCK: the exclusive-or of T0 through the last historical byte.
//!
//! [`Profile::t0`] has only TA1 = `95` (Fi = 9, Di = 5: F = 512, D = 16) and no TD1,
//! so T=0 is implied and, as ISO/IEC 7816-3 requires, there is no TCK.
//! [`Profile::t0_t1`] offers both (TD1 = `80`: T=0 first, the default; TD2 = `71`:
//! T=1).
//!
//! The card side only writes ATRs; what an ATR means is the core's
//! [`readerkit::atr`], which [`Profile::fi_di`] reads the card's own ATR back with.
//! The TCK is computed here, independently of the core's check, with the card-side
//! LRC (the same exclusive-or, [`crate::edc::lrc`]).

use heapless::Vec;
pub use readerkit::atr::Convention;
use readerkit::atr::{self as iso, MAX_LEN};

use crate::edc::{Edc, lrc};

/// The bytes of an ATR (at most 33, the longest ISO/IEC 7816-3 allows).
pub type Atr = Vec<u8, MAX_LEN>;

/// Historical bytes shared by the ready-made profiles (see the module documentation).
pub const HISTORICAL: [u8; 11] = [
    0x80, 0x65, b'R', b'K', b'S', b'I', b'M', 0x73, 0x10, 0x21, 0x40,
];

/// Which transmission protocols the card offers, the first being the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocols {
    /// T=0 only.
    T0,
    /// T=1 only.
    T1,
    /// T=0 (the default, used without PPS) and T=1.
    T0AndT1,
}

impl Protocols {
    /// Whether protocol `t` (0 or 1) is offered.
    pub const fn offers(self, t: u8) -> bool {
        matches!(
            (self, t),
            (Protocols::T0, 0) | (Protocols::T1, 1) | (Protocols::T0AndT1, 0 | 1)
        )
    }

    /// The protocol in use when the reader does not send a PPS request.
    pub const fn default_protocol(self) -> u8 {
        match self {
            Protocols::T1 => 1,
            Protocols::T0 | Protocols::T0AndT1 => 0,
        }
    }
}

/// The T=1 parameters announced in TA3, TB3 and TC3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct T1Params {
    /// IFSC, the largest information field the card accepts (1 to 254).
    pub ifsc: u8,
    /// Block waiting time integer (0 to 9).
    pub bwi: u8,
    /// Character waiting time integer (0 to 15).
    pub cwi: u8,
    /// The error detection code.
    pub edc: Edc,
}

impl Default for T1Params {
    /// IFSC 254, BWI 4, CWI 5, LRC.
    fn default() -> Self {
        T1Params {
            ifsc: 254,
            bwi: 4,
            cwi: 5,
            edc: Edc::Lrc,
        }
    }
}

/// A card's transmission capabilities, from which its ATR is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// TS: the bit order and logic levels on the I/O line.
    ///
    /// In the inverse convention the card's [`read`](crate::card::Card::read)
    /// gives, and its [`write`](crate::card::Card::write) takes, every character as
    /// a UART set for the direct convention would see it: each byte `b` travels as
    /// [`invert_convention`](readerkit::atr::invert_convention)`(b)`, so TS reads
    /// `03`. A reader that has recognised the inverse convention applies it to both
    /// directions.
    pub convention: Convention,
    /// TA1 (high nibble Fi, low nibble Di), or `None` to leave it out (defaults
    /// Fi = 1, Di = 1).
    pub ta1: Option<u8>,
    /// The protocols offered.
    pub protocols: Protocols,
    /// T=1 parameters (emitted when T=1 is offered).
    pub t1: T1Params,
    /// Historical bytes (at most 15).
    pub historical: Vec<u8, 15>,
    /// T=0: whether the card accepts ENVELOPE (`xx C2 00 00`) commands carrying
    /// extended-length command APDUs. When `false`, ENVELOPE answers 6D00.
    pub envelope: bool,
}

impl Profile {
    fn with(ta1: u8, protocols: Protocols, edc: Edc) -> Profile {
        let mut historical = Vec::new();
        // Cannot fail: 11 <= 15.
        let _ = historical.extend_from_slice(&HISTORICAL);
        Profile {
            convention: Convention::Direct,
            ta1: Some(ta1),
            protocols,
            t1: T1Params {
                edc,
                ..T1Params::default()
            },
            historical,
            envelope: true,
        }
    }

    /// A T=0 card: `3B 1B 95 80 65 52 4B 53 49 4D 73 10 21 40`.
    pub fn t0() -> Profile {
        Profile::with(0x95, Protocols::T0, Edc::Lrc)
    }

    /// A T=1 card with LRC:
    /// `3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF`.
    pub fn t1() -> Profile {
        Profile::with(0x96, Protocols::T1, Edc::Lrc)
    }

    /// A T=1 card with CRC:
    /// `3B 9B 96 81 71 FE 45 01 80 65 52 4B 53 49 4D 73 10 21 40 EE`.
    pub fn t1_crc() -> Profile {
        Profile::with(0x96, Protocols::T1, Edc::Crc)
    }

    /// A card offering T=0 (default) and T=1:
    /// `3B 9B 96 80 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EE`.
    pub fn t0_t1() -> Profile {
        Profile::with(0x96, Protocols::T0AndT1, Edc::Lrc)
    }

    /// The same profile with another convention.
    pub fn with_convention(mut self, convention: Convention) -> Profile {
        self.convention = convention;
        self
    }

    /// The same profile with other T=1 parameters.
    pub fn with_t1(mut self, t1: T1Params) -> Profile {
        self.t1 = t1;
        self
    }

    /// Fi and Di announced in the ATR (1 and 1 when TA1 is absent), as the core
    /// reads them.
    pub fn fi_di(&self) -> (u8, u8) {
        let parameters =
            iso::Atr::parse(&self.atr()).map_or(iso::Parameters::DEFAULT, |atr| atr.parameters());
        (parameters.fi, parameters.di)
    }

    /// The ATR, as logical bytes (before any inverse-convention coding).
    pub fn atr(&self) -> Atr {
        let mut atr = Atr::new();
        let mut push = |b: u8| {
            // Cannot overflow: at most 1 + 1 + 1 + 2 + 3 + 1 + 15 + 1 = 25 bytes.
            let _ = atr.push(b);
        };
        push(self.convention.ts());
        let k = self.historical.len().min(15) as u8;
        let t1 = self.protocols.offers(1);
        let ta1 = if self.ta1.is_some() { 0x10 } else { 0 };
        let td1 = if t1 { 0x80 } else { 0 };
        push(ta1 | td1 | k);
        if let Some(v) = self.ta1 {
            push(v);
        }
        if t1 {
            let first = self.protocols.default_protocol();
            // TD1: TD2 follows; first protocol offered.
            push(0x80 | first);
            // TD2: TA3, TB3, TC3 follow; T=1.
            push(0x71);
            push(self.t1.ifsc);
            push((self.t1.bwi << 4) | (self.t1.cwi & 0x0F));
            push(self.t1.edc.tc3());
        }
        for &h in self.historical.iter().take(15) {
            push(h);
        }
        // TCK is present unless only T=0 is indicated.
        if t1 {
            let tck = lrc(&atr[1..]);
            let _ = atr.push(tck);
        }
        atr
    }
}

#[cfg(test)]
mod tests {
    use readerkit::protocol::{Protocol, ProtocolMask};

    use super::*;

    #[test]
    fn the_core_reads_every_profile_back() {
        for (profile, fi_di, protocols) in [
            (Profile::t0(), (9, 5), ProtocolMask::T0),
            (Profile::t1(), (9, 6), ProtocolMask::T1),
            (Profile::t1_crc(), (9, 6), ProtocolMask::T1),
            (
                Profile::t0_t1(),
                (9, 6),
                ProtocolMask::T0.with(Protocol::T1),
            ),
        ] {
            let atr = iso::Atr::parse(&profile.atr()).unwrap();
            let p = atr.parameters();
            assert_eq!(profile.fi_di(), fi_di);
            assert_eq!(p.protocols, protocols);
            assert_eq!(p.first_protocol, profile.protocols.default_protocol());
            assert_ne!(atr.tck(), iso::Tck::Bad);
            assert_eq!(atr.historical(), profile.historical.as_slice());
            if profile.protocols.offers(1) {
                let t1 = profile.t1;
                assert_eq!((p.ifsc, p.bwi, p.cwi), (t1.ifsc, t1.bwi, t1.cwi));
                assert_eq!(p.edc, iso::Edc::from_tc(t1.edc.tc3()));
            }
            let inverse = profile.with_convention(Convention::Inverse).atr();
            assert_eq!(inverse[0], iso::TS_INVERSE);
        }
    }

    #[test]
    fn profiles_fi_di() {
        assert_eq!(Profile::t0().fi_di(), (9, 5));
        assert_eq!(Profile::t1().fi_di(), (9, 6));
        let mut p = Profile::t1();
        p.ta1 = None;
        assert_eq!(p.fi_di(), (1, 1));
        assert_eq!(p.atr()[1], 0x8B);
    }
}
