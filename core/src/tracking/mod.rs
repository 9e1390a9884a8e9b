//! The one card-tracking request a reader can have pending (IS_PRESENT / IS_ABSENT).
//!
//! smclib keeps a single `NotificationIrp`: a second tracking request while one is
//! pending gets `STATUS_DEVICE_BUSY`. [`Slot`] is that single place as an explicit
//! state machine. A request first *arms* the slot while the reader driver's tracking
//! callback runs; an event or a cancel that arrives in that window is remembered, so
//! the request completes at once instead of being left pending for an event that
//! already happened. Once armed, the event processor or a cancel finishes it.

pub mod handoff;

use crate::state::CardState;
use crate::status::{Failure, Status};

/// What a tracking request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// IS_PRESENT: a card to be inserted.
    Insertion,
    /// IS_ABSENT: the card to be removed.
    Removal,
}

impl Wait {
    /// `true` if `state` already satisfies the wait.
    pub const fn satisfied_by(self, state: CardState) -> bool {
        match self {
            Wait::Insertion => state.card_present(),
            Wait::Removal => matches!(state, CardState::Absent),
        }
    }
}

/// The state of the tracking slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// No tracking request.
    Idle,
    /// A request is inside the tracking callback and has not been reported pending.
    Arming(Wait),
    /// While arming, the awaited event happened or the request was cancelled:
    /// complete with this status instead of pending.
    ArmingFinished(Status),
    /// The request was reported pending and waits.
    Armed(Wait),
}

impl Slot {
    /// Reserve the slot for a new request; `Err(DeviceBusy)` if one is already there.
    pub fn reserve(&mut self, wait: Wait) -> Result<(), Status> {
        match self {
            Slot::Idle => {
                *self = Slot::Arming(wait);
                Ok(())
            }
            _ => Err(Status::DeviceBusy),
        }
    }

    /// The tracking callback returned: either pend (`None`) or complete now with a
    /// status. A failed callback (`Err`) frees the slot and completes with its status
    /// (a [`Failure`], so never success: that would tell the caller the awaited event
    /// happened).
    pub fn finish_arming(&mut self, callback: Result<(), Failure>) -> Option<Status> {
        let current = *self;
        match (current, callback) {
            (Slot::Arming(wait), Ok(())) => {
                *self = Slot::Armed(wait);
                None
            }
            (Slot::ArmingFinished(status), _) => {
                *self = Slot::Idle;
                Some(status)
            }
            (_, Err(failure)) => {
                *self = Slot::Idle;
                Some(failure.into())
            }
            // Not reachable: only the arming request calls this. Stay safe anyway.
            (Slot::Idle | Slot::Armed(_), Ok(())) => Some(Status::Unsuccessful),
        }
    }

    /// The card state became `state`: returns the status to complete an armed request
    /// with, if this satisfies it.
    pub fn on_state(&mut self, state: CardState) -> Option<Status> {
        match *self {
            Slot::Arming(wait) if wait.satisfied_by(state) => {
                *self = Slot::ArmingFinished(Status::Success);
                None
            }
            Slot::Armed(wait) if wait.satisfied_by(state) => {
                *self = Slot::Idle;
                Some(Status::Success)
            }
            _ => None,
        }
    }

    /// Cancel the request (cancel routine, handle closed): returns the status to
    /// complete an armed request with.
    pub fn cancel(&mut self) -> Option<Status> {
        match *self {
            Slot::Arming(_) => {
                *self = Slot::ArmingFinished(Status::Cancelled);
                None
            }
            Slot::Armed(_) => {
                *self = Slot::Idle;
                Some(Status::Cancelled)
            }
            Slot::Idle | Slot::ArmingFinished(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pend_then_complete_on_event() {
        let mut slot = Slot::Idle;
        slot.reserve(Wait::Insertion).unwrap();
        assert_eq!(slot.reserve(Wait::Removal), Err(Status::DeviceBusy));
        assert_eq!(slot.finish_arming(Ok(())), None);
        assert_eq!(slot.on_state(CardState::Absent), None);
        assert_eq!(slot.on_state(CardState::Swallowed), Some(Status::Success));
        assert_eq!(slot, Slot::Idle);
    }

    #[test]
    fn event_while_arming_completes_at_once() {
        let mut slot = Slot::Idle;
        slot.reserve(Wait::Removal).unwrap();
        assert_eq!(slot.on_state(CardState::Absent), None);
        assert_eq!(slot.finish_arming(Ok(())), Some(Status::Success));
        assert_eq!(slot, Slot::Idle);
    }

    /// Found by the `ioctl` fuzz target: a tracking callback returning
    /// `Err(Status::Success)` completed IS_ABSENT with success while the card was
    /// still in the reader. Callbacks now fail with a `Failure`, which cannot say
    /// success; a failed callback completes with its own status.
    #[test]
    fn callback_failure_completes_with_its_status() {
        let mut slot = Slot::Idle;
        slot.reserve(Wait::Removal).unwrap();
        assert_eq!(
            slot.finish_arming(Err(Failure::Unsuccessful)),
            Some(Status::Unsuccessful)
        );
        assert_eq!(slot, Slot::Idle);
    }

    #[test]
    fn cancel_paths() {
        let mut slot = Slot::Idle;
        assert_eq!(slot.cancel(), None);
        slot.reserve(Wait::Removal).unwrap();
        assert_eq!(slot.cancel(), None);
        assert_eq!(slot.finish_arming(Ok(())), Some(Status::Cancelled));
        slot.reserve(Wait::Removal).unwrap();
        assert_eq!(slot.finish_arming(Ok(())), None);
        assert_eq!(slot.cancel(), Some(Status::Cancelled));
        assert_eq!(slot.cancel(), None);
        slot.reserve(Wait::Insertion).unwrap();
        assert_eq!(
            slot.finish_arming(Err(Failure::NotSupported)),
            Some(Status::NotSupported)
        );
        assert_eq!(slot, Slot::Idle);
    }
}
