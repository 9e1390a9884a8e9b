//! The cards of a simulated reader's slot by the names readerkit's tools give them
//! (`sim:KIND` readers of the pcsc-lite binding, `readerkit ccid-serve --card KIND`):
//! the card in the slot at start, and the card a later insertion puts in.

use crate::atr::Profile;

/// What a simulated slot holds at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotCard {
    /// A card of this profile.
    Card(Profile),
    /// No card.
    Empty,
}

impl SlotCard {
    /// Every name [`SlotCard::from_name`] knows: `t0` ([`Profile::t0`]), `t1`
    /// ([`Profile::t1`]), `t0t1` ([`Profile::t0_t1`]), `t1crc`
    /// ([`Profile::t1_crc`]) and `empty` (no card).
    pub const NAMES: [&'static str; 5] = ["t0", "t1", "t0t1", "t1crc", "empty"];

    /// The slot named `name` (one of [`SlotCard::NAMES`], exactly), or `None`.
    pub fn from_name(name: &str) -> Option<SlotCard> {
        Some(match name {
            "t0" => SlotCard::Card(Profile::t0()),
            "t1" => SlotCard::Card(Profile::t1()),
            "t0t1" => SlotCard::Card(Profile::t0_t1()),
            "t1crc" => SlotCard::Card(Profile::t1_crc()),
            "empty" => SlotCard::Empty,
            _ => return None,
        })
    }

    /// The profile of the card in the slot at start (`None`: the slot starts empty).
    pub fn profile(&self) -> Option<&Profile> {
        match self {
            SlotCard::Card(profile) => Some(profile),
            SlotCard::Empty => None,
        }
    }

    /// The profile of a card put into the slot later (after a removal, or into a
    /// slot that started empty): the slot's own, a T=1 card for an empty slot.
    pub fn inserted_profile(&self) -> Profile {
        self.profile().cloned().unwrap_or_else(Profile::t1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_known_and_nothing_else() {
        for name in SlotCard::NAMES {
            assert!(SlotCard::from_name(name).is_some(), "{name}");
        }
        for name in ["T1", "t1-crc", "", "empty "] {
            assert_eq!(SlotCard::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn an_empty_slot_takes_t1_cards() {
        let empty = SlotCard::from_name("empty").unwrap();
        assert_eq!(empty.profile(), None);
        assert_eq!(empty.inserted_profile(), Profile::t1());
        let t0 = SlotCard::from_name("t0").unwrap();
        assert_eq!(t0.profile(), Some(&Profile::t0()));
        assert_eq!(t0.inserted_profile(), Profile::t0());
    }
}
