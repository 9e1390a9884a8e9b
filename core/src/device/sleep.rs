//! The reader's sleep and wake-up (system sleep, selective suspend): what a binding
//! calls around a low-power state so that the card state stays true. A sleeping
//! reader sees no card events, so on waking the card is taken as possibly swapped.
//!
//! The device keeps whether it sleeps ([`Sleep`], under the short lock), so a
//! binding only says when the reader goes to sleep ([`Device::suspend`]) and wakes
//! ([`Device::resume`]); repeated or unmatched calls are harmless. A binding
//! with steps of its own around them (the WDM binding's sleep and wake hooks)
//! calls [`Device::sleep_with`] / [`Device::wake_with`], which make each
//! transition, the driver's step included, one step.
//!
//! ## Requests while the reader sleeps
//!
//! The one rule, for every binding that puts the reader to sleep (today WDM's
//! SET_POWER and a C driver's `rk_device_suspend`; the pcsc-lite and CCID bindings
//! never suspend themselves, but a firmware over the CCID binding may, and its
//! commands then fail with HW_ERROR, 0xFB): from the start of
//! [`Device::suspend`] until [`Device::resume`], [`Device::control`] and
//! [`Device::submit`] answer a request that needs the reader or the card with
//! [`Status::DeviceNotReady`] (`STATUS_DEVICE_NOT_READY`, `SCARD_E_NOT_READY`,
//! `RK_STATUS_DEVICE_NOT_READY`), after its parameters are checked and without
//! changing anything: POWER, SET_PROTOCOL, TRANSMIT, EJECT, SWALLOW, CONFISCATE,
//! vendor requests (the PIN pad's included), SET_ATTRIBUTE, and new IS_PRESENT /
//! IS_ABSENT requests (they arm the driver's tracking callback, and Microsoft
//! calls them power-managed requests: they need the reader awake).
//!
//! What still passes are the read-only requests, the same ones answered from inside
//! a callback: GET_STATE, GET_ATTRIBUTE, GET_LAST_ERROR and GET_PERF_CNTR. They
//! touch no hardware and read what the device keeps: the card as it was when the
//! reader went to sleep, powered down (so card attributes answer as for an
//! unpowered card); the changes the reader could not see are reported on waking.
//! A tracking request pending when the reader went to sleep stays pending across
//! the sleep and completes on waking if the card may have changed (smclib's
//! samples do the same: a sleeping reader sees no card events). A request whose
//! callback runs when the sleep begins runs to its end (the power-down waits for
//! it under the serialization lock); one that found the device awake but still
//! waits for that lock is refused once it has it, so no POWER, SET_PROTOCOL,
//! TRANSMIT, mechanism, vendor or tracking callback runs after the power-down.

use super::{Caller, Device, HolderMark};
use crate::ioctl::{ATR_BUFFER_LEN, PowerAction};
use crate::platform::{Mutex, Platform};
use crate::status::Status;

/// Whether the reader sleeps, as [`Device::suspend`] and [`Device::resume`] set it.
/// Requests that need the reader are refused while it sleeps (see
/// [`Device::suspend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sleep {
    /// Awake: card events are seen as they happen (the state of a new device).
    Awake,
    /// Asleep, from the start of [`Device::suspend`] until [`Device::resume`].
    Asleep {
        /// A card was in the reader when it went to sleep (or may have been: its
        /// power-down failed), so waking reports its removal.
        card_before: bool,
    },
}

/// [`Sleep`] and how many sleeps began, so that a suspend finishing late writes
/// only into the sleep it began (a resume and another suspend may have come
/// meanwhile).
#[derive(Debug, Clone, Copy)]
pub(super) struct SleepSlot {
    /// Whether the reader sleeps now.
    pub(super) now: Sleep,
    /// Sleeps begun since the device was made (wrapping): the current sleep's
    /// number while asleep.
    begun: u32,
}

impl SleepSlot {
    /// A new device's: awake, no sleep begun.
    pub(super) const AWAKE: SleepSlot = SleepSlot {
        now: Sleep::Awake,
        begun: 0,
    };
}

impl<P: Platform, D, const EVENTS: usize> Device<P, D, EVENTS> {
    /// The reader goes to sleep (system sleep, selective suspend): the card, if one
    /// is in, is powered down (the core's POWER request, so its ATR and protocol are
    /// forgotten) and the device is asleep ([`Sleep::Asleep`]) from the start of the
    /// call until [`Device::resume`]. Returns whether a card was in.
    ///
    /// While asleep, requests that need the reader or the card are refused with
    /// [`Status::DeviceNotReady`] (after their parameters are checked, changing
    /// nothing): POWER, SET_PROTOCOL, TRANSMIT, EJECT, SWALLOW, CONFISCATE, vendor
    /// requests, SET_ATTRIBUTE and new IS_PRESENT / IS_ABSENT requests (which arm
    /// the tracking callback; Microsoft calls them power-managed). The read-only
    /// ones (GET_STATE, GET_ATTRIBUTE, GET_LAST_ERROR, GET_PERF_CNTR) touch no
    /// hardware and are answered from what the device keeps (the card as it was
    /// at sleep, powered down), and a tracking request pending before stays
    /// pending until waking reports the card's possible swap. A request whose
    /// callback runs when the sleep begins runs to its end (the power-down waits
    /// for it); one still waiting for the serialization lock is refused then. A
    /// binding needs no check of its own.
    ///
    /// Already asleep: nothing is done again, and the answer is whether a card was
    /// in when the reader went to sleep (`true` after a power-down that failed).
    ///
    /// Errors, as the POWER request answers them: [`Status::DeviceBusy`] when
    /// called from inside one of this device's callbacks (nothing changes, a card
    /// or not, and an awake device stays awake); the power-down callback's own status
    /// when it fails (a card was in; it is then unpowered and its ATR forgotten, as
    /// after any failed POWER). The device is asleep all the same, and takes the
    /// card as in: on waking it is reported removed, since it may have been
    /// swapped. A card whose removal is seen before or during its power-down is no
    /// card: `Ok(false)`. A device without a POWER callback has nothing to power
    /// down: `Ok` at once.
    pub fn suspend(&self) -> Result<bool, Status> {
        if self.in_own_callback() {
            return Err(Status::DeviceBusy);
        }
        let card_in = self.state().card_present();
        // `Ok(number of the sleep begun)`, or `Err(card_before)` if asleep already.
        let begun = self.sleep.lock(|slot| match slot.now {
            Sleep::Awake => {
                slot.begun = slot.begun.wrapping_add(1);
                slot.now = Sleep::Asleep {
                    card_before: card_in,
                };
                Ok(slot.begun)
            }
            Sleep::Asleep { card_before } => Err(card_before),
        });
        let mine = match begun {
            Ok(mine) => mine,
            Err(card_before) => return Ok(card_before),
        };
        let powered_down = self.power_down_for_sleep(card_in);
        // A power-down that failed leaves a card in: taken as possibly swapped.
        let card_before = powered_down.unwrap_or(true);
        self.sleep.lock(|slot| {
            // Only into the sleep this call began: a resume that came meanwhile
            // woke the device (it stays awake), and a suspend after that began
            // another sleep with its own answer.
            if let Sleep::Asleep {
                card_before: before,
            } = &mut slot.now
                && slot.begun == mine
            {
                *before = card_before;
            }
        });
        powered_down
    }

    /// Power the card down for [`Device::suspend`]; `card_in`: one was in at the
    /// start. Returns whether a card was in.
    fn power_down_for_sleep(&self, card_in: bool) -> Result<bool, Status> {
        if !card_in {
            return Ok(false);
        }
        if self.functions.power.is_none() {
            return Ok(true);
        }
        // The POWER request's own path, past the refusal of requests while asleep
        // (the device is asleep already).
        match self.power(
            Caller::Suspend,
            PowerAction::PowerDown,
            &mut [0; ATR_BUFFER_LEN],
        ) {
            Ok(_) => Ok(true),
            // Removed before the callback ran, or while a failing one ran: the
            // removal is applied, so resume has none to report. A callback's own
            // NoMedia with no removal seen leaves the card present: a card was in,
            // and resume must report it gone, or a swap while asleep goes unseen.
            Err(Status::NoMedia) if !self.state().card_present() => Ok(false),
            Err(status) => Err(status),
        }
    }

    /// The reader woke up, with a card in it if `present_now`. Only if the device
    /// is asleep ([`Device::suspend`]): it saw no events while asleep and the card
    /// may have been swapped, so a removal is reported if a card was in before
    /// ([`Sleep::Asleep`]'s `card_before`) or the device holds one now (one
    /// reported inserted after suspend read the state, or while asleep), and an
    /// insertion if one is in now; both are applied (the card is then present and
    /// unpowered, and a pending tracking request completes), and the device is
    /// awake.
    ///
    /// Awake (no suspend before, or a second resume): nothing is done, so a resume
    /// without a suspend reports no removal that did not happen.
    pub fn resume(&self, present_now: bool) {
        let Sleep::Asleep { card_before } = self
            .sleep
            .lock(|slot| core::mem::replace(&mut slot.now, Sleep::Awake))
        else {
            return;
        };
        // A card the device holds may be another one now, whenever it came in.
        if card_before || self.state().card_present() {
            self.card_removed();
        }
        if present_now {
            self.card_inserted();
        }
        self.process_events();
    }

    /// The reader goes to sleep with the driver's own step: [`Device::suspend`],
    /// then `sleep` (if any) with the driver context under the serialization lock
    /// (stop polling, power the reader down). One step against
    /// [`Device::wake_with`] and another `sleep_with`: two at once put the device
    /// to sleep once and run `sleep` once, never inside a wake. Already asleep:
    /// nothing is done, and the answer is whether a card was in when it went to
    /// sleep.
    ///
    /// The reader sleeps whatever the card does: a power-down that failed is
    /// answered as [`Device::suspend`] answers it, after `sleep` ran. From inside
    /// one of this device's callbacks, or inside a transition on the same context
    /// (a platform hook it calls, as [`Platform::events_pending`]):
    /// [`Status::DeviceBusy`], nothing done. A tracking completion the transition
    /// makes is handed to [`Platform::complete_tracking`] once the transition
    /// lock is released, so the completion may start the next transition. Both
    /// need a platform that names the calling context
    /// ([`Platform::current_context`]); with one that answers `None`, a
    /// transition started from inside one waits for its own lock, and the
    /// completion is handed over inside the transition.
    ///
    /// A card event `sleep` reports (a removal it sees while powering the reader
    /// down) is queued, not applied: the next request (even one refused
    /// [`Status::DeviceNotReady`]), state read or wake applies it, or
    /// [`Device::process_events`] called after reporting it; see
    /// [when a queued card event is applied](super#when-a-queued-card-event-is-applied).
    ///
    /// `sleep` is any step (a driver's function, or a closure carrying a C
    /// driver's function pointer); without one, name a type for the `None`:
    /// `sleep_with::<fn(&mut D)>(None)`.
    pub fn sleep_with<S: FnOnce(&mut D)>(&self, sleep: Option<S>) -> Result<bool, Status> {
        self.transition(|| {
            if let Sleep::Asleep { card_before } = self.sleep_state() {
                return Ok(card_before);
            }
            let powered_down = self.suspend();
            if let Some(sleep) = sleep {
                self.with_driver(sleep);
            }
            powered_down
        })?
    }

    /// The reader wakes up with the driver's own step: `wake` (if any) brings the
    /// reader back under the serialization lock and says whether a card is in now
    /// (without it, a card the device holds is taken as in), then
    /// [`Device::resume`] reports the possible swap. One step against
    /// [`Device::sleep_with`] and another `wake_with`: two at once wake the device
    /// once and run `wake` once. Awake: nothing is done. Refusals and the
    /// tracking completion as for [`Device::sleep_with`]. Without a step:
    /// `wake_with::<fn(&mut D) -> bool>(None)`.
    pub fn wake_with<W: FnOnce(&mut D) -> bool>(&self, wake: Option<W>) -> Result<(), Status> {
        self.transition(|| {
            if !self.asleep() {
                return;
            }
            let present_now = match wake {
                Some(wake) => self.with_driver(wake),
                None => self.state().card_present(),
            };
            self.resume(present_now);
        })
    }

    /// Run `f` as one transition: under the transition lock, with this context
    /// recorded as its holder; then, the lock released, deliver the tracking
    /// completion it made (so the platform's completion may start another
    /// transition). From inside one of this device's callbacks, or inside a
    /// transition (a hook the platform calls during it, as `events_pending`):
    /// [`Status::DeviceBusy`], `f` not run (it would wait for a lock this
    /// context holds).
    fn transition<R>(&self, f: impl FnOnce() -> R) -> Result<R, Status> {
        if self.in_own_callback() || self.in_own_transition() {
            return Err(Status::DeviceBusy);
        }
        let holder = self.holder_here();
        let result = self.transition.lock(|()| {
            let _held = HolderMark::set(&self.transition_holder, holder);
            f()
        });
        self.deliver_owed_completion();
        Ok(result)
    }

    /// Whether the reader sleeps now ([`Sleep`]). A snapshot: it can change right
    /// after.
    pub fn sleep_state(&self) -> Sleep {
        self.sleep.lock(|slot| slot.now)
    }

    /// `true` between [`Device::suspend`] (from its start) and [`Device::resume`]:
    /// requests that need the reader are refused then ([`Status::DeviceNotReady`]).
    pub fn asleep(&self) -> bool {
        self.sleep_state() != Sleep::Awake
    }
}
