//! The GPIO + UART interface chips: what differs between them, as constants.
//!
//! All of them share one control model (see the crate's reference notes): CMDVCC
//! low starts the chip's own activation sequence and high its deactivation, RSTIN is
//! copied to the card's RST once activation is complete, an open-drain status output
//! (OFF / INT, active low) tells *card present* outside a session and *fault or
//! removal* inside one, two CLKDIV pins pick the crystal frequency /1, /2, /4 or /8,
//! and one or two voltage-select pins pick the class. The chips differ in the
//! classes they offer, the meaning of the select pins and their timings; a chip is a
//! zero-sized type implementing [`Chip`].

/// A card voltage class (ISO/IEC 7816-3 5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Class C: VCC = 1.8 V.
    C,
    /// Class B: VCC = 3 V.
    B,
    /// Class A: VCC = 5 V.
    A,
}

impl Class {
    /// The nominal card supply voltage, in mV.
    pub const fn millivolts(self) -> u16 {
        match self {
            Class::A => 5000,
            Class::B => 3000,
            Class::C => 1800,
        }
    }

    /// The bit of this class in [`Classes`] (and in the ATR's class indicator UI:
    /// b1 = A, b2 = B, b3 = C).
    pub const fn bit(self) -> u8 {
        match self {
            Class::A => 1,
            Class::B => 2,
            Class::C => 4,
        }
    }
}

/// A set of classes, as in the ATR's class indicator: bit 0 = A (5 V), bit 1 = B
/// (3 V), bit 2 = C (1.8 V).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Classes(pub u8);

impl Classes {
    /// Class A only (5 V).
    pub const A: Classes = Classes(1);
    /// Classes A and B (5 V, 3 V).
    pub const AB: Classes = Classes(3);
    /// Classes A, B and C (5 V, 3 V, 1.8 V).
    pub const ABC: Classes = Classes(7);

    /// Whether `class` is in the set.
    pub const fn contains(self, class: Class) -> bool {
        self.0 & class.bit() != 0
    }

    /// The classes in both sets.
    pub const fn and(self, other: Classes) -> Classes {
        Classes(self.0 & other.0)
    }

    /// The classes in activation order: lowest voltage first, as ISO/IEC 7816-3
    /// 6.2.4 asks (a card is not harmed by too low a voltage).
    pub fn in_activation_order(self) -> impl Iterator<Item = Class> {
        [Class::C, Class::B, Class::A]
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

/// The card clock divider set on CLKDIV1/CLKDIV2: card clock = crystal (or CLKIN)
/// frequency / 1, 2, 4 or 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockDivider {
    /// fXTAL / 1 (CLKDIV1 high, CLKDIV2 low).
    Div1,
    /// fXTAL / 2 (CLKDIV1 high, CLKDIV2 high).
    Div2,
    /// fXTAL / 4 (CLKDIV1 low, CLKDIV2 high).
    Div4,
    /// fXTAL / 8 (CLKDIV1 low, CLKDIV2 low).
    Div8,
}

impl ClockDivider {
    /// The division ratio.
    pub const fn ratio(self) -> u32 {
        match self {
            ClockDivider::Div1 => 1,
            ClockDivider::Div2 => 2,
            ClockDivider::Div4 => 4,
            ClockDivider::Div8 => 8,
        }
    }

    /// The levels of (CLKDIV1, CLKDIV2), `true` = high. The table of the NCN8024R
    /// datasheet (Table 1), which the TDA8024, ST8024 and TDA8035 share.
    pub const fn pins(self) -> (bool, bool) {
        match self {
            ClockDivider::Div1 => (true, false),
            ClockDivider::Div2 => (true, true),
            ClockDivider::Div4 => (false, true),
            ClockDivider::Div8 => (false, false),
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What the driver needs to know about one interface chip, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChipSpec {
    /// The chip's name.
    pub name: &'static str,
    /// The levels of the two voltage-select pins (VSEL0, VSEL1) for class A (5 V),
    /// `true` = high; `None` if the chip cannot supply it.
    pub class_a: Option<(bool, bool)>,
    /// The same for class B (3 V).
    pub class_b: Option<(bool, bool)>,
    /// The same for class C (1.8 V).
    pub class_c: Option<(bool, bool)>,
    /// Time from CMDVCC falling until the chip's activation sequence has put VCC,
    /// I/O and CLK on the card and RST follows RSTIN, in µs (worst case).
    pub activation_us: u32,
    /// Time from CMDVCC rising until VCC is down (deactivation complete), in µs
    /// (worst case).
    pub deactivation_us: u32,
    /// Software debounce of the presence signal on top of the chip's own, in µs: a
    /// change counts once the status output has held its new level this long.
    pub debounce_us: u32,
}

impl ChipSpec {
    /// The levels of (VSEL0, VSEL1) for `class`, `true` = high; `None` if the chip
    /// cannot supply it.
    pub const fn class_pins(&self, class: Class) -> Option<(bool, bool)> {
        match class {
            Class::A => self.class_a,
            Class::B => self.class_b,
            Class::C => self.class_c,
        }
    }

    /// The classes the chip can supply: those with select-pin levels.
    pub const fn classes(&self) -> Classes {
        let mut bits = 0;
        if self.class_a.is_some() {
            bits |= Class::A.bit();
        }
        if self.class_b.is_some() {
            bits |= Class::B.bit();
        }
        if self.class_c.is_some() {
            bits |= Class::C.bit();
        }
        Classes(bits)
    }
}

/// Software debounce of the presence signal, the same for every chip: 5 ms.
const DEBOUNCE_US: u32 = 5_000;

/// One interface chip. Sealed: the chips are the zero-sized types of this module.
pub trait Chip: sealed::Sealed {
    /// The chip's classes, select pins and timings.
    const SPEC: ChipSpec;
}

/// NXP TDA8035: classes A, B, C. Select pins as NXP's KSDK PHY driver drives them:
/// 5 V = (1, 1), 3 V = (0, 1), 1.8 V = (0, 0) (VSEL0 don't care, driven low).
/// Activation: up to 3.1 ms of crystal check plus 320 µs until CLK is on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tda8035;

/// NXP TDA8024: classes A and B on the 5V/3V pin (VSEL0 high = 5 V; VSEL1 unused).
/// Activation 7 T of the sequencer, T ≈ 25 µs: ≈ 175 µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tda8024;

/// STMicroelectronics ST8024: pin-compatible with the TDA8024 (classes A, B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct St8024;

/// STMicroelectronics ST8024L: the ST8024 plus class C on its 1.8V pin (VSEL1 high
/// selects 1.8 V and overrides 5V/3V on VSEL0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct St8024L;

/// onsemi NCN8025: classes A, B, C; 5 V = (0, 1), 3 V = (0, 0) (VSEL0 don't care),
/// 1.8 V = (1, 1). Activation ≤ 100 µs, deactivation ≤ 250 µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ncn8025;

impl sealed::Sealed for Tda8035 {}
impl sealed::Sealed for Tda8024 {}
impl sealed::Sealed for St8024 {}
impl sealed::Sealed for St8024L {}
impl sealed::Sealed for Ncn8025 {}

impl Chip for Tda8035 {
    const SPEC: ChipSpec = ChipSpec {
        name: "TDA8035",
        class_a: Some((true, true)),
        class_b: Some((false, true)),
        class_c: Some((false, false)),
        activation_us: 3_500,
        deactivation_us: 300,
        debounce_us: DEBOUNCE_US,
    };
}

impl Chip for Tda8024 {
    const SPEC: ChipSpec = ChipSpec {
        name: "TDA8024",
        class_a: Some((true, false)),
        class_b: Some((false, false)),
        class_c: None,
        activation_us: 250,
        deactivation_us: 200,
        debounce_us: DEBOUNCE_US,
    };
}

/// Pin-compatible with the TDA8024: its select pins and timings.
impl Chip for St8024 {
    const SPEC: ChipSpec = ChipSpec {
        name: "ST8024",
        ..Tda8024::SPEC
    };
}

/// The ST8024 plus class C: VSEL1 high overrides VSEL0.
impl Chip for St8024L {
    const SPEC: ChipSpec = ChipSpec {
        name: "ST8024L",
        class_c: Some((false, true)),
        ..St8024::SPEC
    };
}

impl Chip for Ncn8025 {
    const SPEC: ChipSpec = ChipSpec {
        name: "NCN8025",
        class_a: Some((false, true)),
        class_b: Some((false, false)),
        class_c: Some((true, true)),
        activation_us: 150,
        deactivation_us: 300,
        debounce_us: DEBOUNCE_US,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chips_offer_the_classes_of_their_datasheets() {
        assert_eq!(Tda8035::SPEC.classes(), Classes::ABC);
        assert_eq!(Tda8024::SPEC.classes(), Classes::AB);
        assert_eq!(St8024::SPEC.classes(), Classes::AB);
        assert_eq!(St8024L::SPEC.classes(), Classes::ABC);
        assert_eq!(Ncn8025::SPEC.classes(), Classes::ABC);
    }

    #[test]
    fn st8024_family_keeps_the_tda8024_pins_and_timings() {
        assert_eq!(St8024::SPEC.name, "ST8024");
        assert_eq!(St8024L::SPEC.name, "ST8024L");
        for class in [Class::A, Class::B] {
            assert_eq!(
                St8024::SPEC.class_pins(class),
                Tda8024::SPEC.class_pins(class)
            );
            assert_eq!(
                St8024L::SPEC.class_pins(class),
                Tda8024::SPEC.class_pins(class)
            );
        }
        assert_eq!(St8024L::SPEC.class_pins(Class::C), Some((false, true)));
        assert_eq!(St8024L::SPEC.activation_us, 250);
        assert_eq!(St8024L::SPEC.deactivation_us, 200);
    }

    #[test]
    fn activation_order_is_lowest_voltage_first() {
        let mut order = Classes::ABC.in_activation_order();
        assert_eq!(order.next(), Some(Class::C));
        assert_eq!(order.next(), Some(Class::B));
        assert_eq!(order.next(), Some(Class::A));
        assert_eq!(order.next(), None);
    }
}
