//! The reader's sleep and wake-up (system sleep, selective suspend): what a binding
//! calls around a low-power state so that the card state stays true. A sleeping
//! reader sees no card events, so on waking the card is taken as possibly swapped.

use super::Device;
use crate::ioctl::{ATR_BUFFER_LEN, PowerAction};
use crate::platform::Platform;
use crate::status::Status;

impl<P: Platform, D, const EVENTS: usize> Device<P, D, EVENTS> {
    /// The reader goes to sleep (system sleep, selective suspend): the card, if one
    /// is in, is powered down (the core's POWER request, so its ATR and protocol are
    /// forgotten). Returns whether a card was in, for [`Device::resume`].
    ///
    /// Errors, as the POWER request answers them: [`Status::DeviceBusy`] when
    /// called from inside one of this device's callbacks (nothing changes, a card
    /// or not); the power-down callback's own status when it fails (a card was
    /// in; it is then unpowered and its ATR forgotten, as after any failed POWER).
    /// A card whose removal is seen before or during its power-down is no card:
    /// `Ok(false)`. A device without a POWER callback has nothing to power down:
    /// `Ok` at once.
    pub fn suspend(&self) -> Result<bool, Status> {
        if self.in_own_callback() {
            return Err(Status::DeviceBusy);
        }
        if !self.state().card_present() {
            return Ok(false);
        }
        if self.functions.power.is_none() {
            return Ok(true);
        }
        match self.power_card(PowerAction::PowerDown, &mut [0; ATR_BUFFER_LEN]) {
            Ok(_) => Ok(true),
            // Removed before the callback ran, or while a failing one ran: the
            // removal is applied, so resume has none to report. A callback's own
            // NoMedia with no removal seen leaves the card present: a card was in,
            // and resume must report it gone, or a swap while asleep goes unseen.
            Err(Status::NoMedia) if !self.state().card_present() => Ok(false),
            Err(status) => Err(status),
        }
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
