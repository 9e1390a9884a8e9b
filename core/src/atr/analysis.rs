//! The diagnostic view: the raw characters with a fixed meaning and every value ISO
//! reserves, forbids or deprecates, folded from the interpreted interface characters.

use super::interface::{Characters, Meaning};
use super::params::SpecificMode;

/// Reserved, forbidden or deprecated values found in an ATR, as a set of flags.
///
/// [`Parameters::check`](super::Parameters::check) refuses only what stops a reader from talking to the card;
/// these flags report everything ISO/IEC 7816-3:2006 reserves or deprecates, for a
/// diagnostic display. Each associated constant is one flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(u16);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// Fi in TA1 is an RFU index (7, 8, 14, 15).
    pub const RESERVED_FI: Flags = Flags(1 << 0);
    /// Di in TA1 is an RFU index (0, 10..15).
    pub const RESERVED_DI: Flags = Flags(1 << 1);
    /// TB1 is present and not 00 (VPP programming, deprecated since 2006).
    pub const DEPRECATED_TB1: Flags = Flags(1 << 2);
    /// TB2 is present (VPP programming, deprecated since 2006).
    pub const DEPRECATED_TB2: Flags = Flags(1 << 3);
    /// TA2 has its RFU bits 7 and 6 (0x60) set.
    pub const TA2_RFU_BITS: Flags = Flags(1 << 4);
    /// WI in TC2 is 0.
    pub const ZERO_WI: Flags = Flags(1 << 5);
    /// A TDi announces a reserved protocol number (T=2..13).
    pub const RFU_PROTOCOL: Flags = Flags(1 << 6);
    /// TD1 announces T=15, which ISO forbids in TD1.
    pub const T15_IN_TD1: Flags = Flags(1 << 7);
    /// The first T=1 TA gives IFSC 00 or FF.
    pub const INVALID_IFSC: Flags = Flags(1 << 8);
    /// The first T=1 TB gives BWI above 9.
    pub const RESERVED_BWI: Flags = Flags(1 << 9);
    /// The first T=1 TC has RFU bits (0xFE) set.
    pub const T1_TC_RFU_BITS: Flags = Flags(1 << 10);
    /// The first T=15 TA has RFU class indicator bits (0x38) set.
    pub const RFU_CLASS: Flags = Flags(1 << 11);
    /// TA2 names a protocol that no TDi offers.
    pub const SPECIFIC_NOT_OFFERED: Flags = Flags(1 << 12);

    /// Every single flag, in bit order.
    pub const ALL: [Flags; 13] = [
        Flags::RESERVED_FI,
        Flags::RESERVED_DI,
        Flags::DEPRECATED_TB1,
        Flags::DEPRECATED_TB2,
        Flags::TA2_RFU_BITS,
        Flags::ZERO_WI,
        Flags::RFU_PROTOCOL,
        Flags::T15_IN_TD1,
        Flags::INVALID_IFSC,
        Flags::RESERVED_BWI,
        Flags::T1_TC_RFU_BITS,
        Flags::RFU_CLASS,
        Flags::SPECIFIC_NOT_OFFERED,
    ];

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags of `other` added.
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// The single flags set in `self`, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Flags> {
        Flags::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// A short stable identifier of a single flag (`"reserved_fi"`, ...); `"flags"`
    /// for a combination or none.
    pub const fn name(self) -> &'static str {
        match self {
            Flags::RESERVED_FI => "reserved_fi",
            Flags::RESERVED_DI => "reserved_di",
            Flags::DEPRECATED_TB1 => "deprecated_tb1",
            Flags::DEPRECATED_TB2 => "deprecated_tb2",
            Flags::TA2_RFU_BITS => "ta2_rfu_bits",
            Flags::ZERO_WI => "zero_wi",
            Flags::RFU_PROTOCOL => "rfu_protocol",
            Flags::T15_IN_TD1 => "t15_in_td1",
            Flags::INVALID_IFSC => "invalid_ifsc",
            Flags::RESERVED_BWI => "reserved_bwi",
            Flags::T1_TC_RFU_BITS => "t1_tc_rfu_bits",
            Flags::RFU_CLASS => "rfu_class",
            Flags::SPECIFIC_NOT_OFFERED => "specific_not_offered",
            _ => "flags",
        }
    }

    /// A human description of a single flag; `"several flags"` for a combination.
    pub const fn description(self) -> &'static str {
        match self {
            Flags::RESERVED_FI => "Fi is reserved for future use",
            Flags::RESERVED_DI => "Di is reserved for future use",
            Flags::DEPRECATED_TB1 => "TB1 (VPP) is deprecated and not 00",
            Flags::DEPRECATED_TB2 => "TB2 (VPP) is deprecated",
            Flags::TA2_RFU_BITS => "TA2 bits 7-6 are reserved and not 0",
            Flags::ZERO_WI => "WI = 0 is reserved",
            Flags::RFU_PROTOCOL => "a TDi announces a reserved protocol (T=2..13)",
            Flags::T15_IN_TD1 => "TD1 shall not announce T=15",
            Flags::INVALID_IFSC => "IFSC 00 and FF are reserved",
            Flags::RESERVED_BWI => "BWI above 9 is reserved",
            Flags::T1_TC_RFU_BITS => "T=1 TC bits 8-2 are reserved and not 0",
            Flags::RFU_CLASS => "T=15 class indicator bits 6-4 are reserved and not 0",
            Flags::SPECIFIC_NOT_OFFERED => "TA2 names a protocol no TDi offers",
            Flags::NONE => "no flag",
            _ => "several flags",
        }
    }
}

/// The interface characters with a fixed meaning, as raw bytes, and what is reserved.
///
/// Complements [`Parameters`](super::Parameters) (the derived values) for a
/// diagnostic display: TB1, TB2 and the T=15 SPU have no effect on a reader but are
/// worth showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Analysis {
    /// TA1 (Fi, Di).
    pub ta1: Option<u8>,
    /// TB1 (deprecated VPP).
    pub tb1: Option<u8>,
    /// TC1 (extra guard time N).
    pub tc1: Option<u8>,
    /// TA2 (specific mode).
    pub ta2: Option<u8>,
    /// TB2 (deprecated VPP).
    pub tb2: Option<u8>,
    /// TC2 (WI, when TD1 announces T=0).
    pub tc2: Option<u8>,
    /// The first TA after a TD announcing T=15: clock stop and class indicators.
    pub t15_ta: Option<u8>,
    /// The first TB after a TD announcing T=15: standard or proprietary use of
    /// contact C6 (SPU).
    pub spu: Option<u8>,
    /// Every protocol number announced in a TDi, as bit T of the mask (T=15 too).
    pub announced: u16,
    /// Reserved, forbidden or deprecated values found.
    pub flags: Flags,
}

impl Analysis {
    pub(super) fn derive(characters: Characters<'_>) -> Analysis {
        let mut a = Analysis::default();
        let mut flags = Flags::NONE;
        let mut specific: Option<u8> = None;
        for c in characters.filter(|c| c.counts) {
            flags = flags.with(c.flags);
            let raw = Some(c.byte);
            match c.meaning {
                Meaning::RateIndices { .. } => a.ta1 = raw,
                Meaning::Vpp { .. } => a.tb1 = raw,
                Meaning::ExtraGuardTime { .. } => a.tc1 = raw,
                Meaning::SpecificMode(SpecificMode { protocol, .. }) => {
                    a.ta2 = raw;
                    specific = Some(protocol);
                }
                Meaning::Vpp2 { .. } => a.tb2 = raw,
                Meaning::WaitingTimeInteger { .. } | Meaning::Undefined { .. } => a.tc2 = raw,
                Meaning::ClockStopAndClasses { .. } => a.t15_ta = raw,
                Meaning::Spu(_) => a.spu = raw,
                Meaning::Protocol { protocol, .. } => a.announced |= 1 << protocol,
                _ => {}
            }
        }
        if let Some(t) = specific {
            let offered = if a.announced == 0 {
                t == 0
            } else {
                a.announced & (1 << t) != 0
            };
            if !offered {
                flags = flags.with(Flags::SPECIFIC_NOT_OFFERED);
            }
        }
        a.flags = flags;
        a
    }

    /// The protocol numbers offered, in increasing order: every T a TDi announces
    /// but T=15 (which is not a transmission protocol), or T=0 alone without TD1.
    pub fn offered(&self) -> impl Iterator<Item = u8> + use<> {
        let mask = match self.announced {
            0 => 1,
            announced => announced & !(1 << 15),
        };
        (0..15u8).filter(move |t| mask & (1 << t) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Atr, parse_hex, with_tck};
    use super::*;

    #[test]
    fn analysis_reports_raw_bytes_and_reserved_values() {
        // TA1=96 TB1=00 TD1=91 TA2=81 TD2=B1 TA3=FE TB3=55 TD3=1F TA4=C7 (pcsc-tools).
        let atr = Atr::parse(&parse_hex("3B 90 96 91 81 B1 FE 55 1F C7 D4")).unwrap();
        let a = atr.analysis();
        assert_eq!(
            (a.ta1, a.tb1, a.ta2, a.t15_ta),
            (Some(0x96), None, Some(0x81), Some(0xC7))
        );
        assert_eq!(a.announced, (1 << 1) | (1 << 15));
        assert!(a.offered().eq([1]));
        assert!(a.flags.is_empty());
        assert_eq!(
            (atr.ts(), atr.t0(), atr.tck_byte()),
            (0x3B, 0x90, Some(0xD4))
        );
        // TA1=7A (Fi 7, Di 10 RFU), TB1=25, TD1=9F (T=15 in TD1), TA2=3F (RFU bits),
        // TD2=1F, TA3=3F (T=15 classes with RFU bits).
        let v = with_tck("3B B0 7A 25 9F 3F 1F 3F");
        let a = Atr::parse(&v).unwrap().analysis();
        for f in [
            Flags::RESERVED_FI,
            Flags::RESERVED_DI,
            Flags::DEPRECATED_TB1,
            Flags::T15_IN_TD1,
            Flags::TA2_RFU_BITS,
            Flags::RFU_CLASS,
        ] {
            assert!(a.flags.contains(f), "{}", f.name());
        }
        assert_eq!(a.flags.iter().count(), 6);
        // Only T=15 announced: nothing offered.
        assert_eq!(a.offered().count(), 0);
        let t0_only = Atr::parse(&parse_hex("3B 00")).unwrap();
        assert_eq!(t0_only.tck_byte(), None);
        assert!(t0_only.analysis().offered().eq([0]));
        for f in Flags::ALL {
            assert_ne!(f.name(), "flags");
            assert_ne!(f.description(), "several flags");
        }
    }

    #[test]
    fn reserved_values_of_ignored_characters_are_not_flagged() {
        // TD1=81, TD2=F1: TA3=FE TB3=45 TC3=00 TD3=71: TA4=00 TB4=A5 TC4=02, all
        // reserved but not the first T=1 TA/TB/TC, so ISO ignores them.
        let v = with_tck("3B 80 81 F1 FE 45 00 71 00 A5 02");
        let atr = Atr::parse(&v).unwrap();
        assert_eq!(atr.analysis().flags, Flags::NONE);
        let ignored = atr.characters().filter(|c| !c.counts);
        assert_eq!(
            ignored.fold(Flags::NONE, |f, c| f.with(c.flags)),
            Flags::INVALID_IFSC
                .with(Flags::RESERVED_BWI)
                .with(Flags::T1_TC_RFU_BITS)
        );
    }

    #[test]
    fn a_specific_protocol_nobody_offers_is_flagged() {
        // TD1=90 (T=0, TA2 TD2), TA2=01 (T=1), TD2=00 (T=0): T=1 never offered.
        let atr = Atr::parse(&parse_hex("3B 80 90 01 00")).unwrap();
        assert_eq!(atr.analysis().flags, Flags::SPECIFIC_NOT_OFFERED);
    }
}
