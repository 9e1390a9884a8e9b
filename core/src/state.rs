//! The reader's view of the card, as `SCARD_*` states.

/// Where the card is and what it can do, ordered as smclib orders it: every state
/// after [`CardState::Absent`] means a card is in the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CardState {
    /// The driver does not know (`SCARD_UNKNOWN`).
    Unknown,
    /// No card (`SCARD_ABSENT`).
    Absent,
    /// A card is inserted but not moved into position (`SCARD_PRESENT`).
    Present,
    /// A card is in position but not powered (`SCARD_SWALLOWED`).
    Swallowed,
    /// The card is powered, its mode unknown (`SCARD_POWERED`): for example, its ATR
    /// could not be used.
    Powered,
    /// The card was reset and waits for PPS (`SCARD_NEGOTIABLE`).
    Negotiable,
    /// The card was reset and a protocol is in force (`SCARD_SPECIFIC`).
    Specific,
}

impl CardState {
    /// Every state, in order.
    pub const ALL: [CardState; 7] = [
        CardState::Unknown,
        CardState::Absent,
        CardState::Present,
        CardState::Swallowed,
        CardState::Powered,
        CardState::Negotiable,
        CardState::Specific,
    ];

    /// The Windows value (`SCARD_UNKNOWN` = 0 ... `SCARD_SPECIFIC` = 6), as GET_STATE
    /// returns it.
    pub const fn to_windows(self) -> u32 {
        self as u32
    }

    /// The state for a Windows value.
    pub const fn from_windows(value: u32) -> Option<CardState> {
        if value < CardState::ALL.len() as u32 {
            Some(CardState::ALL[value as usize])
        } else {
            None
        }
    }

    /// The pcsc-lite value (a bit: `SCARD_UNKNOWN` = 0x0001 ... `SCARD_SPECIFIC` = 0x0040).
    pub const fn to_pcsclite(self) -> u32 {
        1 << (self as u32)
    }

    /// `true` if a card is in the reader.
    pub const fn card_present(self) -> bool {
        self as u8 > CardState::Absent as u8
    }

    /// `true` if the card has power.
    pub const fn card_powered(self) -> bool {
        self as u8 >= CardState::Powered as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_order() {
        for s in CardState::ALL {
            assert_eq!(CardState::from_windows(s.to_windows()), Some(s));
        }
        assert_eq!(CardState::Specific.to_windows(), 6);
        assert_eq!(CardState::Absent.to_pcsclite(), 0x0002);
        assert_eq!(CardState::Specific.to_pcsclite(), 0x0040);
        assert_eq!(CardState::from_windows(7), None);
        assert!(!CardState::Unknown.card_present());
        assert!(!CardState::Absent.card_present());
        assert!(CardState::Present.card_present());
        assert!(!CardState::Swallowed.card_powered());
        assert!(CardState::Powered.card_powered());
    }
}
