//! The parameters a reader needs, folded from the interpreted interface characters.

use core::fmt;

use super::Tck;
use super::interface::{Characters, Meaning};
use crate::protocol::{Protocol, ProtocolMask};
use crate::timing::{self, Timing};

/// T=1 error detection code chosen by the card (TC of the first T=1 group): the
/// same type the T=1 engine runs with.
pub use crate::t1::Edc;

/// The largest T=1 block waiting time integer BWI (ISO/IEC 7816-3:2006 11.4.3:
/// 10 to 15 are reserved).
pub(super) const MAX_BWI: u8 = 9;

/// Fi (high nibble) and Di (low nibble) of a TA1 byte (PPS1 has the same layout).
pub const fn rate_indices(ta1: u8) -> (u8, u8) {
    (ta1 >> 4, ta1 & 0x0F)
}

/// The TA1 (or PPS1, or CCID `bmFindexDindex`) byte of the indices `fi` and `di`
/// (each 0 to 15; higher bits are dropped): the inverse of [`rate_indices`].
pub const fn rate_byte(fi: u8, di: u8) -> u8 {
    ((fi & 0x0F) << 4) | (di & 0x0F)
}

/// Specific mode, from TA2 (ISO/IEC 7816-3:2006 8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecificMode {
    /// The protocol number T the card runs (TA2 bits 4..1).
    pub protocol: u8,
    /// TA2 bit 5: the parameters are implicit (not TA1's).
    pub implicit_parameters: bool,
    /// TA2 bit 8 clear: a warm reset makes the card negotiable.
    pub can_change: bool,
}

impl SpecificMode {
    /// Decode TA2.
    pub const fn from_ta2(ta2: u8) -> SpecificMode {
        SpecificMode {
            protocol: ta2 & 0x0F,
            implicit_parameters: ta2 & 0x10 != 0,
            can_change: ta2 & 0x80 == 0,
        }
    }
}

/// The mode the card enters after its ATR (ISO/IEC 7816-3:2006 clause 6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// TA2 absent: PPS may select the protocol and Fi/Di; without PPS the first
    /// offered protocol applies with F = 372, D = 1.
    Negotiable,
    /// TA2 present: the protocol in TA2 applies at once, with no PPS.
    Specific(SpecificMode),
}

/// The T=15 clock stop indicator X (first TA for T=15, bits 8 and 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStop {
    /// Clock stop not supported.
    NotSupported,
    /// The clock may be stopped in state low.
    Low,
    /// The clock may be stopped in state high.
    High,
    /// The clock may be stopped in either state.
    NoPreference,
}

impl ClockStop {
    /// Decode X, given as the two bits 8 and 7 shifted down (0 to 3; higher bits
    /// are ignored).
    pub const fn from_bits(x: u8) -> ClockStop {
        match x & 0x03 {
            0 => ClockStop::NotSupported,
            1 => ClockStop::Low,
            2 => ClockStop::High,
            _ => ClockStop::NoPreference,
        }
    }

    /// X as the two bits 8 and 7 shifted down (0 to 3), the inverse of
    /// [`ClockStop::from_bits`]; CCID's `bClockStop` codes it the same way.
    pub const fn bits(self) -> u8 {
        match self {
            ClockStop::NotSupported => 0,
            ClockStop::Low => 1,
            ClockStop::High => 2,
            ClockStop::NoPreference => 3,
        }
    }
}

/// Parameters derived from an ATR; defaults apply for absent characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameters {
    /// Protocols offered in the TDi bytes (T=0 alone when no TD1); T=15 is not a
    /// transmission protocol and not included.
    pub protocols: ProtocolMask,
    /// The first offered protocol number (TD1's, or 0), the default without PPS.
    pub first_protocol: u8,
    /// Clock rate conversion index Fi from TA1 (default 1).
    pub fi: u8,
    /// Baud rate adjustment index Di from TA1 (default 1).
    pub di: u8,
    /// Extra guard time N from TC1 (default 0; 255 = minimum guard time): etu of
    /// the timing in force, or Fi/Di clock cycles when the ATR indicates T=15
    /// ([`Parameters::extra_guard_n_at`] gives it in etu).
    pub n: u8,
    /// T=0 waiting time integer WI from TC2 (default 10).
    pub wi: u8,
    /// Specific or negotiable mode.
    pub mode: Mode,
    /// T=1 information field size of the card, IFSC, in bytes (default 32,
    /// [`DEFAULT_IFS`](crate::t1::DEFAULT_IFS)).
    pub ifsc: u8,
    /// T=1 character waiting time integer CWI (default 13).
    pub cwi: u8,
    /// T=1 block waiting time integer BWI (default 4).
    pub bwi: u8,
    /// T=1 error detection code (default LRC).
    pub edc: Edc,
    /// T=15 clock stop indicator, if a T=15 TA is present.
    pub clock_stop: Option<ClockStop>,
    /// T=15 class indicator bits (A = 5 V: 0x01, B = 3 V: 0x02, C = 1.8 V: 0x04), if
    /// a T=15 TA is present.
    pub classes: Option<u8>,
}

/// A value of the ATR that ISO/IEC 7816-3 reserves or forbids, so no reader can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// Fi is an RFU index (7, 8, 14, 15).
    ReservedFi(u8),
    /// Di is an RFU index (0, 10..15).
    ReservedDi(u8),
    /// IFSC is 0 or 255.
    InvalidIfsc(u8),
    /// BWI is above 9.
    ReservedBwi(u8),
    /// WI is 0.
    ZeroWi,
    /// TCK is wrong.
    BadTck,
    /// No transmission protocol this library runs (T=0 or T=1) is offered.
    NoKnownProtocol,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::ReservedFi(v) => write!(f, "reserved Fi {v}"),
            Unsupported::ReservedDi(v) => write!(f, "reserved Di {v}"),
            Unsupported::InvalidIfsc(v) => write!(f, "invalid IFSC {v}"),
            Unsupported::ReservedBwi(v) => write!(f, "reserved BWI {v}"),
            Unsupported::ZeroWi => f.write_str("WI is 0"),
            Unsupported::BadTck => f.write_str("wrong TCK"),
            Unsupported::NoKnownProtocol => f.write_str("neither T=0 nor T=1 offered"),
        }
    }
}

impl core::error::Error for Unsupported {}

impl Parameters {
    /// The ISO defaults, as for an ATR `3B 00`.
    pub const DEFAULT: Parameters = Parameters {
        protocols: ProtocolMask::T0,
        first_protocol: 0,
        fi: timing::FI_DEFAULT,
        di: timing::DI_DEFAULT,
        n: 0,
        wi: 10,
        mode: Mode::Negotiable,
        ifsc: crate::t1::DEFAULT_IFS,
        cwi: 13,
        bwi: 4,
        edc: Edc::Lrc,
        clock_stop: None,
        classes: None,
    };

    pub(super) fn derive(characters: Characters<'_>) -> Parameters {
        let mut p = Parameters::DEFAULT;
        let mut offered: Option<ProtocolMask> = None;
        for c in characters.filter(|c| c.counts) {
            match c.meaning {
                Meaning::RateIndices { fi, di } => (p.fi, p.di) = (fi, di),
                Meaning::ExtraGuardTime { n } => p.n = n,
                Meaning::SpecificMode(specific) => p.mode = Mode::Specific(specific),
                Meaning::WaitingTimeInteger { wi } => p.wi = wi,
                Meaning::Ifsc { ifsc } => p.ifsc = ifsc,
                Meaning::WaitingIntegers { bwi, cwi } => (p.bwi, p.cwi) = (bwi, cwi),
                Meaning::ErrorDetection { edc } => p.edc = edc,
                Meaning::ClockStopAndClasses {
                    clock_stop,
                    classes,
                } => {
                    p.clock_stop = Some(clock_stop);
                    p.classes = Some(classes);
                }
                Meaning::Protocol { protocol, .. } => {
                    let mask = match offered {
                        Some(mask) => mask,
                        None => {
                            p.first_protocol = protocol;
                            ProtocolMask::NONE
                        }
                    };
                    offered = Some(match protocol {
                        0 => mask.with(Protocol::T0),
                        1 => mask.with(Protocol::T1),
                        _ => mask,
                    });
                }
                _ => {}
            }
        }
        p.protocols = offered.unwrap_or(ProtocolMask::T0);
        p
    }

    /// Check that a reader can use these parameters; `tck` is the ATR's TCK state.
    pub fn check(&self, tck: Tck) -> Result<(), Unsupported> {
        if tck == Tck::Bad {
            return Err(Unsupported::BadTck);
        }
        if timing::clock_rate_conversion(self.fi).is_none() {
            return Err(Unsupported::ReservedFi(self.fi));
        }
        if timing::baud_rate_adjustment(self.di).is_none() {
            return Err(Unsupported::ReservedDi(self.di));
        }
        if self.protocols.is_empty() {
            return Err(Unsupported::NoKnownProtocol);
        }
        if self.protocols.contains(Protocol::T0) && self.wi == 0 {
            return Err(Unsupported::ZeroWi);
        }
        if self.protocols.contains(Protocol::T1) {
            if !crate::t1::is_valid_ifs(self.ifsc) {
                return Err(Unsupported::InvalidIfsc(self.ifsc));
            }
            if self.bwi > MAX_BWI {
                return Err(Unsupported::ReservedBwi(self.bwi));
            }
        }
        Ok(())
    }

    /// The protocol number T in force when no PPS is done: TA2's in specific mode,
    /// else the first offered one (any T, not only 0 and 1).
    pub fn default_protocol_number(&self) -> u8 {
        match self.mode {
            Mode::Specific(SpecificMode { protocol, .. }) => protocol,
            Mode::Negotiable => self.first_protocol,
        }
    }

    /// The protocol in force when no PPS is done (see
    /// [`Parameters::default_protocol_number`]); `None` if that is neither T=0 nor
    /// T=1.
    pub fn default_protocol(&self) -> Option<Protocol> {
        Protocol::from_iso_number(self.default_protocol_number())
    }

    /// The card's maximum clock f(max) from Fi, in kHz (`None` for a reserved Fi).
    pub fn fmax_khz(&self) -> Option<u32> {
        timing::clock_rate_conversion(self.fi).map(|rate| rate.fmax_khz)
    }

    /// The clock rate conversion integer F that TA1's Fi announces (clock cycles
    /// per etu at D = 1), whatever F is in force; F = 372 ([`timing::F_DEFAULT`])
    /// for a reserved Fi. The F of the T=0 waiting time WT = WI × 960 × Fi / f
    /// (ISO/IEC 7816-3:2006 10.2) and of the wait for a PPS answer.
    pub fn announced_f(&self) -> u16 {
        timing::clock_rate_conversion(self.fi).map_or(timing::F_DEFAULT, |rate| rate.f)
    }

    /// Whether TA1's Fi/Di apply right after the ATR: in specific mode without
    /// implicit parameters. Otherwise the defaults (F = 372, D = 1) do until a PPS.
    pub fn ta1_applies_at_once(&self) -> bool {
        matches!(
            self.mode,
            Mode::Specific(SpecificMode {
                implicit_parameters: false,
                ..
            })
        )
    }

    /// The F and D in force right after the ATR, at `clock_khz`: the defaults
    /// (372, 1), except where [`Parameters::ta1_applies_at_once`] (and Fi/Di are not
    /// reserved).
    pub fn initial_timing(&self, clock_khz: u32) -> Timing {
        let card = match self.ta1_applies_at_once() {
            true => Timing::from_indices(self.fi, self.di, clock_khz),
            false => None,
        };
        card.unwrap_or(Timing::default_at(clock_khz))
    }

    /// TC1's extra guard time N as whole etu of `timing` (the N a line adds after
    /// each character it sends; 255 for the minimum guard time), for an ATR that
    /// indicates T=15 or not ([`Atr::indicates_t15`](super::Atr::indicates_t15)).
    ///
    /// ISO/IEC 7816-3:2006 8.3: GT = 12 etu + R × N / f, where R = F / D, the
    /// integers of the etu in force, when T=15 is absent from the ATR, but
    /// R = Fi / Di, TA1's, when T=15 is present. Then N × (Fi / Di) clock cycles
    /// are rounded up to etu of `timing` (never shorter than the card asks), at
    /// most 254; 0 and 255 stay, and so does N with a reserved Fi or Di.
    pub fn extra_guard_n_at(&self, t15_indicated: bool, timing: &Timing) -> u8 {
        let card_rate =
            timing::clock_rate_conversion(self.fi).zip(timing::baud_rate_adjustment(self.di));
        match (self.n, t15_indicated, card_rate) {
            (0 | 255, _, _) | (_, false, _) | (_, true, None) => self.n,
            (n, true, Some((rate, di))) => {
                // N × Fi / Di cycles over F / D cycles per etu; in 32 bits: at
                // most 254 × 2048 × 255 over 64 × 65 535.
                let cycles_num = u32::from(n) * u32::from(rate.f) * u32::from(timing.d.max(1));
                let etu_den = u32::from(di) * u32::from(timing.f.max(1));
                let etu = cycles_num.div_ceil(etu_den).min(254);
                // At most 254: fits.
                u8::try_from(etu).unwrap_or(254)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Atr, parse_hex, with_tck};
    use super::*;

    #[test]
    fn t0_only_atr_gets_the_defaults() {
        let atr = Atr::parse(&parse_hex("3B 02 14 50")).unwrap();
        let p = atr.parameters();
        assert_eq!(p, Parameters::DEFAULT);
        assert_eq!(p.default_protocol(), Some(Protocol::T0));
        assert_eq!(p.check(atr.tck()), Ok(()));
    }

    #[test]
    fn t1_card_with_ifsc_and_waiting_integers() {
        // TA1=96 TD1=81 (T=1) TD2=31 (T=1, TA3 TB3) TA3=FE TB3=45 + hist "JCOP" + TCK
        let mut v = with_tck("3B 94 96 81 31 FE 45 4A 43 4F 50");
        let atr = Atr::parse(&v).unwrap();
        let p = atr.parameters();
        assert_eq!((p.fi, p.di), (9, 6));
        assert_eq!(p.ifsc, 254);
        assert_eq!((p.bwi, p.cwi), (4, 5));
        assert_eq!(p.edc, Edc::Lrc);
        assert_eq!(p.protocols, ProtocolMask::T1);
        assert_eq!(p.first_protocol, 1);
        assert_eq!(p.check(atr.tck()), Ok(()));
        *v.last_mut().unwrap() ^= 1;
        let bad = Atr::parse(&v).unwrap();
        assert_eq!(bad.parameters().check(bad.tck()), Err(Unsupported::BadTck));
    }

    /// The F of TA1's Fi, not the one in force: 512 for Fi = 9, the default
    /// 372 without TA1 or for a reserved Fi; and the T=0 waiting time counts it
    /// (WI × 960 × Fi cycles) at whatever F, D the line runs.
    #[test]
    fn announced_f_is_tas_f_or_the_default() {
        let t1 = Atr::parse(&with_tck("3B 94 96 81 31 FE 45 4A 43 4F 50")).unwrap();
        assert_eq!(t1.parameters().announced_f(), 512);
        assert_eq!(Parameters::DEFAULT.announced_f(), 372);
        for (fi, f) in [(0, 372), (6, 1860), (13, 2048), (7, 372), (15, 372)] {
            let p = Parameters {
                fi,
                ..Parameters::DEFAULT
            };
            assert_eq!(p.announced_f(), f, "Fi {fi}");
        }
        // WI 10 by default: WT = 10 × 960 × 512 cycles at 4 MHz.
        let caps = crate::caps::CardCapabilities::new(
            t1.clone(),
            &crate::caps::ReaderCapabilities::typical(),
        );
        let at_4mhz = Timing::from_indices(9, 6, 4_000).unwrap();
        assert_eq!(caps.wwt_us_at(&at_4mhz), 1_228_800);
        assert_eq!(caps.wwt_us_at(&Timing::default_at(4_000)), 1_228_800);
    }

    #[test]
    fn only_the_first_t1_characters_count() {
        // TD1=81, TD2=F1: TA3=FE TB3=45 TC3=01 TD3=71: TA4=10 TB4=99 TC4=00.
        let v = with_tck("3B 80 81 F1 FE 45 01 71 10 99 00");
        let p = Atr::parse(&v).unwrap().parameters();
        assert_eq!((p.ifsc, p.bwi, p.cwi, p.edc), (254, 4, 5, Edc::Crc));
    }

    #[test]
    fn specific_mode_from_ta2() {
        // T0=B0 (TA1 TB1 TD1), TA1=13, TB1=00, TD1=90 (TA2 TD2, T=0), TA2=11 (T=1,
        // implicit parameters), TD2=01 (T=1), TCK=23.
        let atr = Atr::parse(&parse_hex("3B B0 13 00 90 11 01 23")).unwrap();
        assert_eq!(atr.tck(), Tck::Ok);
        let p = atr.parameters();
        assert_eq!(p.fi, 1);
        assert_eq!(p.di, 3);
        assert_eq!(
            p.mode,
            Mode::Specific(SpecificMode {
                protocol: 1,
                implicit_parameters: true,
                can_change: true
            })
        );
        assert_eq!(p.default_protocol(), Some(Protocol::T1));
        assert_eq!(p.default_protocol_number(), 1);
        assert!(!p.ta1_applies_at_once());
        assert_eq!(p.initial_timing(4000), Timing::default_at(4000));
        // TA2=01: T=1 with TA1's parameters, at once.
        let atr = Atr::parse(&parse_hex("3B B0 13 00 90 01 01 33")).unwrap();
        let p = atr.parameters();
        assert!(p.ta1_applies_at_once());
        assert_eq!(
            Some(p.initial_timing(4000)),
            Timing::from_indices(1, 3, 4000)
        );
    }

    #[test]
    fn t15_class_indicator() {
        // TD1=80 (T=0, TD2), TD2=1F -> T=15 with TA3: 3B 80 80 1F 07 + TCK
        let v = with_tck("3B 80 80 1F 07");
        let atr = Atr::parse(&v).unwrap();
        let p = atr.parameters();
        assert_eq!(p.classes, Some(0x07));
        assert_eq!(p.clock_stop, Some(ClockStop::NotSupported));
        assert_eq!(p.protocols, ProtocolMask::T0);
        assert_eq!(atr.tck(), Tck::Ok);
    }

    #[test]
    fn decoders() {
        assert_eq!(rate_indices(0x96), (9, 6));
        assert_eq!(rate_byte(9, 6), 0x96);
        for ta1 in 0..=u8::MAX {
            let (fi, di) = rate_indices(ta1);
            assert_eq!(rate_byte(fi, di), ta1, "{ta1:02X}");
        }
        assert_eq!(
            [0, 1, 2, 3].map(ClockStop::from_bits),
            [
                ClockStop::NotSupported,
                ClockStop::Low,
                ClockStop::High,
                ClockStop::NoPreference
            ]
        );
        for x in 0..=u8::MAX {
            assert_eq!(ClockStop::from_bits(x).bits(), x & 0x03, "{x:02X}");
        }
    }
}
