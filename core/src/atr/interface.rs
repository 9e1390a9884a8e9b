//! The interface characters and what each one means (ISO/IEC 7816-3:2006 clause 8.3):
//! the one interpretation of TA1, TB1, TC1, TA2, TB2, TC2, the TDi and the
//! protocol-specific characters that [`Parameters`](super::Parameters),
//! [`Analysis`](super::Analysis) and every display are made from.

use super::analysis::Flags;
use super::params::{ClockStop, Edc, MAX_BWI, SpecificMode, rate_indices};
use super::view::{Group, Groups};
use crate::timing;

/// Which character of its group an interface character is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// TAi.
    Ta,
    /// TBi.
    Tb,
    /// TCi.
    Tc,
    /// TDi: the protocol and the indicator of the next group.
    Td,
}

impl Kind {
    /// The four kinds, in the order they stand in a group.
    pub const ALL: [Kind; 4] = [Kind::Ta, Kind::Tb, Kind::Tc, Kind::Td];

    /// The letter of the kind in `TAi` .. `TDi`: `'A'` .. `'D'`.
    pub const fn letter(self) -> char {
        match self {
            Kind::Ta => 'A',
            Kind::Tb => 'B',
            Kind::Tc => 'C',
            Kind::Td => 'D',
        }
    }

    const fn of(self, group: &Group) -> Option<u8> {
        match self {
            Kind::Ta => group.ta,
            Kind::Tb => group.tb,
            Kind::Tc => group.tc,
            Kind::Td => group.td,
        }
    }
}

/// The T=15 TB: whether and how contact C6 (SPU) is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spu {
    /// TB = 00: C6 is not used.
    NotUsed,
    /// Bit 8 clear: standard use; `value` is bits 7 to 1.
    Standard {
        /// Bits 7 to 1.
        value: u8,
    },
    /// Bit 8 set: proprietary use; `value` is bits 7 to 1.
    Proprietary {
        /// Bits 7 to 1.
        value: u8,
    },
}

impl Spu {
    /// Decode a T=15 TB.
    pub const fn from_tb(tb: u8) -> Spu {
        match tb {
            0 => Spu::NotUsed,
            _ if tb & 0x80 != 0 => Spu::Proprietary { value: tb & 0x7F },
            _ => Spu::Standard { value: tb },
        }
    }
}

/// What one interface character means, by its place in the ATR.
///
/// The set is closed (ISO/IEC 7816-3:2006 gives every place one of these), so a
/// display that matches on it covers every character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// TA1: clock rate conversion index Fi (high nibble) and baud rate adjustment
    /// index Di (low nibble).
    RateIndices {
        /// Fi.
        fi: u8,
        /// Di.
        di: u8,
    },
    /// TB1: programming voltage, deprecated since ISO/IEC 7816-3:2006.
    Vpp {
        /// PI1, bits 5 to 1.
        pi1: u8,
        /// II, bits 7 and 6.
        ii: u8,
    },
    /// TC1: extra guard time integer N, in etu (255: the minimum guard time).
    ExtraGuardTime {
        /// N.
        n: u8,
    },
    /// TA2: the card is in specific mode.
    SpecificMode(SpecificMode),
    /// TB2: programming voltage PI2, deprecated since ISO/IEC 7816-3:2006.
    Vpp2 {
        /// PI2, the whole byte.
        pi2: u8,
    },
    /// TC2 when TD1 announces T=0: the waiting time integer WI.
    WaitingTimeInteger {
        /// WI.
        wi: u8,
    },
    /// TC2 when TD1 announces another protocol: ISO defines no meaning.
    Undefined {
        /// The protocol TD1 announces.
        protocol: u8,
    },
    /// A T=1 TA (i ≥ 3): the card's information field size IFSC, in bytes.
    Ifsc {
        /// IFSC.
        ifsc: u8,
    },
    /// A T=1 TB (i ≥ 3): the block and character waiting time integers.
    WaitingIntegers {
        /// BWI (high nibble).
        bwi: u8,
        /// CWI (low nibble).
        cwi: u8,
    },
    /// A T=1 TC (i ≥ 3): the error detection code (bit 1).
    ErrorDetection {
        /// LRC or CRC.
        edc: Edc,
    },
    /// A T=15 TA (i ≥ 3): clock stop indicator and class indicator.
    ClockStopAndClasses {
        /// Clock stop indicator X (bits 8 and 7).
        clock_stop: ClockStop,
        /// Class indicator Y (bits 6 to 1; A = 5 V: 0x01, B = 3 V: 0x02,
        /// C = 1.8 V: 0x04).
        classes: u8,
    },
    /// A T=15 TB (i ≥ 3): use of contact C6.
    Spu(Spu),
    /// A T=15 TC (i ≥ 3): reserved for future use.
    Reserved,
    /// A TA, TB or TC (i ≥ 3) of a protocol other than T=1 and T=15.
    ProtocolSpecific {
        /// The protocol the preceding TD announces.
        protocol: u8,
    },
    /// TDi: the protocol the next group's characters are for, and which of them
    /// follow.
    Protocol {
        /// The protocol number T (bits 4 to 1).
        protocol: u8,
        /// Y(i+1) (bits 8 to 5): TA(i+1), TB(i+1), TC(i+1), TD(i+1) present.
        next: u8,
    },
}

impl Meaning {
    /// Which later characters of the same meaning ISO makes this one shadow: only
    /// the first T=1 TA, TB, TC and the first T=15 TA, TB count.
    const fn first_only_bit(&self) -> u8 {
        match self {
            Meaning::Ifsc { .. } => 1 << 0,
            Meaning::WaitingIntegers { .. } => 1 << 1,
            Meaning::ErrorDetection { .. } => 1 << 2,
            Meaning::ClockStopAndClasses { .. } => 1 << 3,
            Meaning::Spu(_) => 1 << 4,
            _ => 0,
        }
    }
}

/// One interface character of a checked ATR, interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Character {
    /// The group number i (TA1 is in group 1).
    pub group: u8,
    /// TA, TB, TC or TD.
    pub kind: Kind,
    /// The byte.
    pub byte: u8,
    /// What the byte means at this place.
    pub meaning: Meaning,
    /// Whether it counts: `false` for a T=1 TA/TB/TC or T=15 TA/TB after the first
    /// of its meaning (ISO/IEC 7816-3 lets only the first one count).
    pub counts: bool,
    /// The reserved, forbidden or deprecated values the byte holds (whether it
    /// counts or not).
    pub flags: Flags,
}

/// Iterator over the interpreted interface characters of a checked ATR, in order.
pub struct Characters<'a> {
    groups: Groups<'a>,
    /// The group being read and its number i (0 before the first).
    group: Group,
    index: u8,
    /// The next kind to look at in `group` (index into [`Kind::ALL`]).
    next_kind: usize,
    /// The protocol the current group's characters are for (TD(i-1)'s T).
    protocol: Option<u8>,
    /// The `first_only_bit`s of the meanings already given.
    seen: u8,
}

impl<'a> Characters<'a> {
    pub(super) fn new(groups: Groups<'a>) -> Characters<'a> {
        Characters {
            groups,
            group: Group::default(),
            index: 0,
            next_kind: Kind::ALL.len(),
            protocol: None,
            seen: 0,
        }
    }

    fn interpret(&mut self, kind: Kind, byte: u8) -> Character {
        let (meaning, flags) = meaning(self.index, kind, self.protocol, byte);
        let bit = meaning.first_only_bit();
        let counts = self.seen & bit == 0;
        self.seen |= bit;
        Character {
            group: self.index,
            kind,
            byte,
            meaning,
            counts,
            flags,
        }
    }
}

impl Iterator for Characters<'_> {
    type Item = Character;

    fn next(&mut self) -> Option<Character> {
        loop {
            if let Some(&kind) = Kind::ALL.get(self.next_kind) {
                self.next_kind += 1;
                if let Some(byte) = kind.of(&self.group) {
                    return Some(self.interpret(kind, byte));
                }
                continue;
            }
            if self.index > 0 {
                self.protocol = self.group.protocol();
            }
            self.group = self.groups.next()?;
            self.index = self.index.saturating_add(1);
            self.next_kind = 0;
        }
    }
}

/// The meaning of `byte` as character `kind` of group `index` whose characters are
/// for `protocol`, and the reserved values it holds.
fn meaning(index: u8, kind: Kind, protocol: Option<u8>, byte: u8) -> (Meaning, Flags) {
    let flag_if = |condition: bool, flag: Flags| if condition { flag } else { Flags::NONE };
    match (index, kind, protocol) {
        (_, Kind::Td, _) => {
            let t = byte & 0x0F;
            (
                Meaning::Protocol {
                    protocol: t,
                    next: byte >> 4,
                },
                flag_if((2..=13).contains(&t), Flags::RFU_PROTOCOL)
                    .with(flag_if(index == 1 && t == 15, Flags::T15_IN_TD1)),
            )
        }
        (1, Kind::Ta, _) => {
            let (fi, di) = rate_indices(byte);
            (
                Meaning::RateIndices { fi, di },
                flag_if(
                    timing::clock_rate_conversion(fi).is_none(),
                    Flags::RESERVED_FI,
                )
                .with(flag_if(
                    timing::baud_rate_adjustment(di).is_none(),
                    Flags::RESERVED_DI,
                )),
            )
        }
        (1, Kind::Tb, _) => (
            Meaning::Vpp {
                pi1: byte & 0x1F,
                ii: (byte >> 5) & 0x03,
            },
            flag_if(byte != 0, Flags::DEPRECATED_TB1),
        ),
        (1, _, _) => (Meaning::ExtraGuardTime { n: byte }, Flags::NONE),
        (2, Kind::Ta, _) => (
            Meaning::SpecificMode(SpecificMode::from_ta2(byte)),
            flag_if(byte & 0x60 != 0, Flags::TA2_RFU_BITS),
        ),
        (2, Kind::Tb, _) => (Meaning::Vpp2 { pi2: byte }, Flags::DEPRECATED_TB2),
        (2, _, Some(0)) => (
            Meaning::WaitingTimeInteger { wi: byte },
            flag_if(byte == 0, Flags::ZERO_WI),
        ),
        (2, _, t) => (
            Meaning::Undefined {
                protocol: t.unwrap_or(0),
            },
            Flags::NONE,
        ),
        (_, Kind::Ta, Some(1)) => (
            Meaning::Ifsc { ifsc: byte },
            flag_if(!crate::t1::is_valid_ifs(byte), Flags::INVALID_IFSC),
        ),
        (_, Kind::Tb, Some(1)) => (
            Meaning::WaitingIntegers {
                bwi: byte >> 4,
                cwi: byte & 0x0F,
            },
            flag_if(byte >> 4 > MAX_BWI, Flags::RESERVED_BWI),
        ),
        (_, Kind::Tc, Some(1)) => (
            Meaning::ErrorDetection {
                edc: Edc::from_tc(byte),
            },
            flag_if(byte & 0xFE != 0, Flags::T1_TC_RFU_BITS),
        ),
        (_, Kind::Ta, Some(15)) => (
            Meaning::ClockStopAndClasses {
                clock_stop: ClockStop::from_bits(byte >> 6),
                classes: byte & 0x3F,
            },
            flag_if(byte & 0x38 != 0, Flags::RFU_CLASS),
        ),
        (_, Kind::Tb, Some(15)) => (Meaning::Spu(Spu::from_tb(byte)), Flags::NONE),
        (_, _, Some(15)) => (Meaning::Reserved, Flags::NONE),
        (_, _, t) => (
            Meaning::ProtocolSpecific {
                protocol: t.unwrap_or(0),
            },
            Flags::NONE,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Atr, with_tck};
    use super::*;

    #[test]
    fn every_character_gets_its_meaning_by_place_and_protocol() {
        // TA1=96 TB1=00 TC1=FF TD1=F0 (T=0) | TA2=91 TB2=05 TC2=0A TD2=F1 (T=1) |
        // TA3=FE TB3=45 TC3=01 TD3=B1 | TA4=20 (second T=1 TA) TB4=55 TD4=9F (T=15) |
        // TA5=C7 TD5=3E (T=14) | TA6=01 TB6=02, no historical bytes, TCK.
        let v = with_tck("3B F0 96 00 FF F0 91 05 0A F1 FE 45 01 B1 20 55 9F C7 3E 01 02");
        let atr = Atr::parse(&v).unwrap();
        let got: heapless::Vec<(u8, char, Meaning, bool), 32> = atr
            .characters()
            .map(|c| (c.group, c.kind.letter(), c.meaning, c.counts))
            .collect();
        let protocol = |protocol, next| Meaning::Protocol { protocol, next };
        let expected = [
            (1, 'A', Meaning::RateIndices { fi: 9, di: 6 }, true),
            (1, 'B', Meaning::Vpp { pi1: 0, ii: 0 }, true),
            (1, 'C', Meaning::ExtraGuardTime { n: 255 }, true),
            (1, 'D', protocol(0, 0xF), true),
            (
                2,
                'A',
                Meaning::SpecificMode(SpecificMode {
                    protocol: 1,
                    implicit_parameters: true,
                    can_change: false,
                }),
                true,
            ),
            (2, 'B', Meaning::Vpp2 { pi2: 5 }, true),
            (2, 'C', Meaning::WaitingTimeInteger { wi: 10 }, true),
            (2, 'D', protocol(1, 0xF), true),
            (3, 'A', Meaning::Ifsc { ifsc: 254 }, true),
            (3, 'B', Meaning::WaitingIntegers { bwi: 4, cwi: 5 }, true),
            (3, 'C', Meaning::ErrorDetection { edc: Edc::Crc }, true),
            (3, 'D', protocol(1, 0xB), true),
            (4, 'A', Meaning::Ifsc { ifsc: 0x20 }, false),
            (4, 'B', Meaning::WaitingIntegers { bwi: 5, cwi: 5 }, false),
            (4, 'D', protocol(15, 9), true),
            (
                5,
                'A',
                Meaning::ClockStopAndClasses {
                    clock_stop: ClockStop::NoPreference,
                    classes: 0x07,
                },
                true,
            ),
            (5, 'D', protocol(14, 3), true),
            (6, 'A', Meaning::ProtocolSpecific { protocol: 14 }, true),
            (6, 'B', Meaning::ProtocolSpecific { protocol: 14 }, true),
        ];
        assert_eq!(got.as_slice(), expected.as_slice());
        let flags = atr.characters().fold(Flags::NONE, |f, c| f.with(c.flags));
        assert_eq!(flags, Flags::DEPRECATED_TB2);
    }

    #[test]
    fn reserved_values_are_flagged_on_their_character() {
        // TA1=7A TB1=25 TD1=9F (T=15 in TD1) TA2=3F TD2=1F TA3=3F (RFU classes).
        let v = with_tck("3B B0 7A 25 9F 3F 1F 3F");
        let atr = Atr::parse(&v).unwrap();
        let flags: heapless::Vec<(u8, char, Flags), 8> = atr
            .characters()
            .map(|c| (c.group, c.kind.letter(), c.flags))
            .collect();
        assert_eq!(
            flags.as_slice(),
            &[
                (1, 'A', Flags::RESERVED_FI.with(Flags::RESERVED_DI)),
                (1, 'B', Flags::DEPRECATED_TB1),
                (1, 'D', Flags::T15_IN_TD1),
                (2, 'A', Flags::TA2_RFU_BITS),
                (2, 'D', Flags::NONE),
                (3, 'A', Flags::RFU_CLASS),
            ]
        );
        // TC2 for T=1; T=15 TA, TB and TC after TD2 = T=15.
        let v = with_tck("3B 80 C1 0A 7F 41 00 00");
        let atr = Atr::parse(&v).unwrap();
        let meanings: heapless::Vec<Meaning, 8> = atr.characters().map(|c| c.meaning).collect();
        assert_eq!(
            meanings.as_slice(),
            &[
                Meaning::Protocol {
                    protocol: 1,
                    next: 0xC
                },
                Meaning::Undefined { protocol: 1 },
                Meaning::Protocol {
                    protocol: 15,
                    next: 7
                },
                Meaning::ClockStopAndClasses {
                    clock_stop: ClockStop::Low,
                    classes: 0x01
                },
                Meaning::Spu(Spu::NotUsed),
                Meaning::Reserved,
            ]
        );
    }

    #[test]
    fn spu_decoding() {
        assert_eq!(Spu::from_tb(0), Spu::NotUsed);
        assert_eq!(Spu::from_tb(0x05), Spu::Standard { value: 5 });
        assert_eq!(Spu::from_tb(0x85), Spu::Proprietary { value: 5 });
    }
}
