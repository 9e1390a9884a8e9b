//! The card state shared with event context, and how events change it.

use crate::caps::{CardCapabilities, FieldSizes, Mechanics, ReaderCapabilities};
use crate::event::CardEvent;
use crate::protocol::Protocol;
use crate::state::CardState;
use crate::status::Status;
use crate::tracking::Slot;

use super::callbacks::{AtrBuffer, or_reported};

/// No information field size reported ([`CardSlot::field_sizes`]).
const NO_FIELD_SIZES: FieldSizes = FieldSizes { ifsc: 0, ifsd: 0 };

/// State touched by card events; lives under the short lock.
#[derive(Debug)]
pub(super) struct CardSlot {
    /// The card's state.
    pub(super) state: CardState,
    /// The ATR bytes of the powered card as received (empty if none).
    pub(super) atr: AtrBuffer,
    /// The card's capabilities, once its ATR was parsed and accepted.
    pub(super) card: Option<CardCapabilities>,
    /// Incremented whenever the card changes under a running callback (inserted,
    /// removed, faulted); a callback's result is committed only if it did not change.
    pub(super) generation: u32,
    /// Insertions applied so far (wrapping): a swap (removal and insertion between
    /// two looks) shows as a new count with the card still present.
    pub(super) insertions: u32,
    /// The pending tracking request.
    pub(super) tracking: Slot,
    /// A tracking completion decided but not yet handed to the platform (which
    /// happens once no library lock is held). At most one: the slot refuses a new
    /// tracking request while a completion is owed, so no second one can be decided.
    pub(super) owed: Option<Status>,
    /// The driver deactivated the card on its own during a request (the
    /// protocol lost it: [`Deactivation`](super::Deactivation)), and no power
    /// request or card event came since: the card is present, unpowered, and
    /// waits for the reset its client has not asked for yet.
    pub(super) lost: bool,
    /// The last card left the reader by a successful CONFISCATE, and no card
    /// was inserted since (`SCARD_ATTR_ICC_PRESENCE` 4).
    pub(super) confiscated: bool,
    /// The T=1 information field sizes in force that TRANSMIT callbacks reported
    /// ([`FieldSizeReport`](super::FieldSizeReport)) since the powered card's
    /// reset, 0 each while none was: the ATR's IFSC and the IFSD the reader
    /// announces apply then. Kept here, not in the card's capabilities, so that
    /// the snapshots requests take stay as small as they were.
    pub(super) field_sizes: FieldSizes,
}

/// The T=1 information field sizes in force for `card`, in bytes: each one
/// `reported` ([`CardSlot::field_sizes`]: what TRANSMIT callbacks said since its
/// reset), else the ATR's IFSC and the IFSD the reader announces. The one rule
/// that `SCARD_ATTR_CURRENT_IFSC` / `CURRENT_IFSD` and
/// [`Device::field_sizes`](super::Device::field_sizes) follow.
pub(super) const fn sizes_in_force(card: &CardCapabilities, reported: FieldSizes) -> FieldSizes {
    FieldSizes {
        ifsc: or_reported(reported.ifsc, card.parameters.ifsc),
        ifsd: or_reported(reported.ifsd, card.ifsd),
    }
}

/// The status of a request the card in `state` is not ready for:
/// [`Status::NoMedia`] without a card in the reader, [`Status::InvalidDeviceState`]
/// with one (not powered, not in the state the request needs, or changed under
/// its callback).
pub(super) const fn not_ready(state: CardState) -> Status {
    if state.card_present() {
        Status::InvalidDeviceState
    } else {
        Status::NoMedia
    }
}

/// What a request saw of the card before its callback ran.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub(super) state: CardState,
    pub(super) card: Option<CardCapabilities>,
    pub(super) generation: u32,
    /// [`CardSlot::confiscated`].
    pub(super) confiscated: bool,
}

impl Snapshot {
    /// The card a command can be sent to and its selected protocol: NoMedia without
    /// a card; InvalidDeviceState unless a protocol was selected (state Specific).
    pub(super) fn transmitting(&self) -> Result<(&CardCapabilities, Protocol), Status> {
        match (&self.card, self.state) {
            (Some(card), CardState::Specific) => {
                Ok((card, card.selected.ok_or(Status::InvalidDeviceState)?))
            }
            _ => Err(not_ready(self.state)),
        }
    }
}

impl CardSlot {
    pub(super) fn new() -> CardSlot {
        CardSlot {
            state: CardState::Absent,
            atr: AtrBuffer::new(),
            card: None,
            generation: 0,
            insertions: 0,
            tracking: Slot::Idle,
            owed: None,
            lost: false,
            confiscated: false,
            field_sizes: NO_FIELD_SIZES,
        }
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state,
            card: self.card.clone(),
            generation: self.generation,
            confiscated: self.confiscated,
        }
    }

    /// `Ok` if nothing happened to the card since `seen`; otherwise the status to
    /// answer the request with.
    pub(super) fn unchanged_since(&self, seen: &Snapshot) -> Result<(), Status> {
        if self.generation == seen.generation {
            Ok(())
        } else {
            Err(not_ready(self.state))
        }
    }

    /// Keep a tracking completion for delivery once no library lock is held.
    pub(super) fn owe(&mut self, completion: Option<Status>) {
        if let Some(status) = completion {
            debug_assert!(self.owed.is_none(), "a second tracking completion owed");
            self.owed = Some(status);
        }
    }

    /// Forget the powered card (its ATR and capabilities) and move to `state`.
    pub(super) fn forget_card(&mut self, state: CardState) {
        self.state = state;
        self.lost = false;
        self.atr.clear();
        self.card = None;
        // A new ATR (or none): the next sizes in force are the ATR's.
        self.forget_field_sizes();
    }

    /// Forget the reported T=1 field sizes: the ATR's IFSC and the IFSD the
    /// reader announces apply again (a new ATR, a protocol session started
    /// afresh by SET_PROTOCOL).
    pub(super) fn forget_field_sizes(&mut self) {
        self.field_sizes = NO_FIELD_SIZES;
    }

    /// The T=1 information field sizes in force for the powered card
    /// ([`sizes_in_force`]), `None` without one.
    pub(super) fn field_sizes_in_force(&self) -> Option<FieldSizes> {
        let card = self.card.as_ref()?;
        Some(sizes_in_force(card, self.field_sizes))
    }

    /// Forget the powered card and leave it unpowered where it is (a power-down,
    /// a failed power request, a fault): a card in position (swallowed, or
    /// powered) stays in position, `Swallowed`; one outside it (`Present` after
    /// an EJECT, or not yet swallowed by a reader that swallows) takes
    /// [`unpowered_state`].
    pub(super) fn power_off(&mut self, reader: &ReaderCapabilities) {
        let state = if self.state >= CardState::Swallowed {
            CardState::Swallowed
        } else {
            unpowered_state(reader)
        };
        self.forget_card(state);
    }

    /// Forget the card the driver deactivated on its own (see
    /// [`CardSlot::lost`]): unpowered ([`CardSlot::power_off`]), and lost until
    /// a power request or a card event.
    pub(super) fn lose_card(&mut self, reader: &ReaderCapabilities) {
        self.power_off(reader);
        self.lost = true;
    }

    /// Apply one event; returns a tracking completion if the event satisfied it.
    pub(super) fn apply(
        &mut self,
        event: CardEvent,
        reader: &ReaderCapabilities,
    ) -> Option<Status> {
        match event {
            CardEvent::Inserted if !self.state.card_present() => {
                self.generation = self.generation.wrapping_add(1);
                self.insertions = self.insertions.wrapping_add(1);
                self.confiscated = false;
                self.forget_card(unpowered_state(reader));
            }
            CardEvent::Removed if self.state != CardState::Absent => {
                self.generation = self.generation.wrapping_add(1);
                self.forget_card(CardState::Absent);
            }
            CardEvent::Fault if self.state.card_powered() => {
                self.generation = self.generation.wrapping_add(1);
                self.power_off(reader);
            }
            _ => {}
        }
        self.tracking.on_state(self.state)
    }
}

/// The state of an inserted card without power: in position (`Swallowed`) unless
/// the reader has a swallow mechanism, which moves it there on SWALLOW.
fn unpowered_state(reader: &ReaderCapabilities) -> CardState {
    if reader.mechanics.0 & Mechanics::SWALLOWS.0 != 0 {
        CardState::Present
    } else {
        CardState::Swallowed
    }
}
