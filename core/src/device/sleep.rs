//! The reader's sleep and wake-up (system sleep, selective suspend): what a binding
//! calls around a low-power state so that the card state stays true. A sleeping
//! reader sees no card events, so on waking the card is taken as possibly swapped.

use super::Device;
use crate::ioctl::{ATR_BUFFER_LEN, PowerAction};
use crate::platform::Platform;

impl<P: Platform, D, const EVENTS: usize> Device<P, D, EVENTS> {
    /// The reader goes to sleep (system sleep, selective suspend): the card, if one
    /// is in, is powered down (the core's POWER request, so its ATR and protocol are
    /// forgotten). Returns whether a card was in, for [`Device::resume`].
    pub fn suspend(&self) -> bool {
        let card_before = self.state().card_present();
        if card_before {
            let _ = self.power_card(PowerAction::PowerDown, &mut [0; ATR_BUFFER_LEN]);
        }
        card_before
    }

    /// The reader woke up, with a card in it if `present_now`. It saw no events
    /// while asleep and the card may have been swapped, so a removal is reported if
    /// a card was in before (`card_before`, [`Device::suspend`]'s answer) and an
    /// insertion if one is in now, and both are applied: the card is then present
    /// and unpowered, and a pending tracking request completes.
    pub fn resume(&self, card_before: bool, present_now: bool) {
        if card_before {
            self.card_removed();
        }
        if present_now {
            self.card_inserted();
        }
        self.process_events();
    }
}
