//! The pending card-tracking IRP (smclib's `OsData->NotificationIrp`).
//!
//! The core calls [`Platform::complete_tracking`](readerkit::platform::Platform)
//! exactly once for every IS_PRESENT / IS_ABSENT it answered `Pending`. This slot
//! turns that into exactly one `IoCompleteRequest` of the right IRP, whatever the
//! interleaving of:
//!
//! * the dispatch routine parking the IRP (after the core said `Pending`, possibly
//!   *after* another thread already delivered the completion);
//! * the completion from an insertion/removal event, cleanup, surprise removal;
//! * the I/O manager cancelling the IRP (`IoCancelIrp`: sets `Cancel`, takes the cancel
//!   routine, calls it).
//!
//! The rule, as in every WDM cancel-safe queue: the IRP is completed by whoever owns
//! it; the completer owns it only if `IoSetCancelRoutine(irp, NULL)` still found the
//! routine; otherwise the cancel routine runs (or will) and it completes the IRP with
//! the status the core decided. All decisions are made under the short lock (a spin
//! lock), completion happens outside it.
//!
//! The slot is reserved *before* the core sees a tracking request, so a second one gets
//! `STATUS_DEVICE_BUSY` until the first IRP is completed (smclib: `NotificationIrp !=
//! NULL`), and a completion can never be matched with the wrong IRP.

use core::marker::PhantomData;

use readerkit::platform::Mutex;
use readerkit::status::Status;

use crate::irp::Irp;

/// The state of the slot (kept under the short lock).
#[derive(Debug)]
pub enum Slot<I> {
    /// No tracking request.
    Idle,
    /// A tracking request is inside `Device::control`; `early` holds a completion
    /// that arrived before the IRP was parked.
    Reserved {
        /// The file object the request came through ([`Irp::file_object`]).
        file: usize,
        /// The core's status, if it came first.
        early: Option<Status>,
    },
    /// The IRP is pending here.
    Parked {
        /// The IRP.
        irp: I,
        /// Who completes it.
        completer: Completer,
    },
}

/// Who completes a parked IRP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completer {
    /// Whoever owns it first: the core's completion, if `IoSetCancelRoutine(NULL)`
    /// still finds the routine, else the cancel routine.
    Either,
    /// The cancel routine, with the core's status (delivered while the I/O manager
    /// held the routine).
    CancelRoutine(Status),
    /// The core's completion: the cancel routine has run (or the IRP came in already
    /// cancelled) and asked the core to cancel.
    Core,
}

/// What [`TrackingSlot::park`] leaves the caller to do.
#[derive(Debug)]
pub enum Parked<I> {
    /// The IRP waits in the slot.
    Waiting,
    /// The completion came first: complete the IRP now.
    Complete(I, Status),
    /// The IRP was cancelled before it could be made cancelable: ask the core to cancel
    /// (its completion then completes the IRP).
    CancelNow,
}

/// What the cancel routine leaves the caller to do.
#[derive(Debug)]
pub enum OnCancel<I> {
    /// Not ours (already completed): nothing.
    Nothing,
    /// Ask the core to cancel; its completion completes the IRP.
    CancelInCore,
    /// The core already decided: complete the IRP with this status.
    Complete(I, Status),
}

/// The tracking slot over a short lock `S`.
pub struct TrackingSlot<I, S> {
    slot: S,
    _irp: PhantomData<fn(I) -> I>,
}

impl<I: Irp, S: Mutex<Slot<I>>> TrackingSlot<I, S> {
    /// An idle slot.
    pub fn new() -> TrackingSlot<I, S> {
        TrackingSlot {
            slot: S::new(Slot::Idle),
            _irp: PhantomData,
        }
    }

    /// Reserve the slot for a tracking request about to enter the core, from the
    /// file object `file`; `false` if another one is pending (`STATUS_DEVICE_BUSY`).
    pub fn reserve(&self, file: usize) -> bool {
        self.slot.lock(|s| match s {
            Slot::Idle => {
                *s = Slot::Reserved { file, early: None };
                true
            }
            _ => false,
        })
    }

    /// `true` if the tracking request reserved or pending came through the file object
    /// `file` (its handle is being cleaned up or closed).
    pub fn held_by(&self, file: usize) -> bool {
        self.slot.lock(|s| match s {
            Slot::Idle => false,
            Slot::Reserved { file: f, .. } => *f == file,
            Slot::Parked { irp, .. } => irp.file_object() == file,
        })
    }

    /// The core completed the request at once: free the reservation.
    pub fn unreserve(&self) {
        self.slot.lock(|s| {
            if let Slot::Reserved { early, .. } = s {
                debug_assert!(
                    early.is_none(),
                    "completion for a request that did not pend"
                );
                *s = Slot::Idle;
            }
        });
    }

    /// The core answered `Pending`: make the (already marked pending) IRP cancelable
    /// and park it.
    pub fn park(&self, mut irp: I) -> Parked<I> {
        self.slot.lock(|s| {
            let Slot::Reserved { early, .. } = *s else {
                // Not reachable: parking always follows a successful reserve.
                return Parked::Complete(irp, Status::Unsuccessful);
            };
            // Set under the lock: a cancel routine called from now on waits for the
            // lock and then finds the IRP parked.
            irp.set_cancel_routine();
            let completer = match early {
                Some(status) if irp.clear_cancel_routine() => {
                    *s = Slot::Idle;
                    return Parked::Complete(irp, status);
                }
                Some(status) => Completer::CancelRoutine(status),
                // IoCancelIrp ran before the routine was set: it called nothing, so
                // cancel on its behalf.
                None if irp.cancelled() && irp.clear_cancel_routine() => Completer::Core,
                None => Completer::Either,
            };
            *s = Slot::Parked { irp, completer };
            match completer {
                Completer::Core => Parked::CancelNow,
                Completer::Either | Completer::CancelRoutine(_) => Parked::Waiting,
            }
        })
    }

    /// The core's `complete_tracking(status)`: the IRP to complete now, if this call
    /// owns it.
    pub fn complete(&self, status: Status) -> Option<(I, Status)> {
        self.slot.lock(|s| match s {
            Slot::Idle => None,
            Slot::Reserved { early, .. } => {
                *early = Some(status);
                None
            }
            Slot::Parked { irp, completer } => match *completer {
                // A second completion: not from the core's contract.
                Completer::CancelRoutine(_) => None,
                Completer::Either if !irp.clear_cancel_routine() => {
                    *completer = Completer::CancelRoutine(status);
                    None
                }
                Completer::Either | Completer::Core => Some((unpark(s)?, status)),
            },
        })
    }

    /// The cancel routine was called for the IRP `id` (the cancel spin lock already
    /// released).
    pub fn on_cancel(&self, id: usize) -> OnCancel<I> {
        self.slot.lock(|s| match s {
            Slot::Parked { irp, completer } if irp.id() == id => match *completer {
                Completer::Either => {
                    *completer = Completer::Core;
                    OnCancel::CancelInCore
                }
                Completer::CancelRoutine(status) => match unpark(s) {
                    Some(irp) => OnCancel::Complete(irp, status),
                    None => OnCancel::Nothing,
                },
                Completer::Core => OnCancel::Nothing,
            },
            _ => OnCancel::Nothing,
        })
    }

    /// `true` while a tracking request is reserved or pending.
    pub fn busy(&self) -> bool {
        self.slot.lock(|s| !matches!(s, Slot::Idle))
    }
}

/// Take the parked IRP out of the slot, leaving it idle.
fn unpark<I>(s: &mut Slot<I>) -> Option<I> {
    match core::mem::replace(s, Slot::Idle) {
        Slot::Parked { irp, .. } => Some(irp),
        other => {
            *s = other;
            None
        }
    }
}

impl<I: Irp, S: Mutex<Slot<I>>> Default for TrackingSlot<I, S> {
    fn default() -> Self {
        TrackingSlot::new()
    }
}
