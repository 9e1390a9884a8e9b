//! The binding's side of a pending tracking request: the request object its OS
//! gave it (a WDM IRP), handed from the request path to the completion exactly once.
//!
//! The core calls [`Platform::complete_tracking`](crate::platform::Platform::complete_tracking)
//! exactly once for every IS_PRESENT / IS_ABSENT it answered
//! [`Outcome::Pending`](crate::device::Outcome::Pending). A binding whose OS hands it
//! a request object to complete later turns that into exactly one completion of
//! the right object with [`Handoff`], whatever the interleaving of:
//!
//! * the request path parking the object (after the core said `Pending`, possibly
//!   *after* another thread already delivered the completion);
//! * the completion from a card event, a cancel, a removal of the reader;
//! * the OS cancelling the object on its own (WDM's `IoCancelIrp`: it sets
//!   `Cancel`, takes the cancel routine and calls it).
//!
//! The rule, as in every WDM cancel-safe queue: the object is completed by whoever
//! owns it; the completer owns it only if taking back its cancel routine
//! ([`Cancelable::disarm_cancel`], `IoSetCancelRoutine(irp, NULL)`) still found
//! the routine; otherwise the cancel routine runs (or will) and it completes the
//! object with the status the core decided. All decisions are made under the
//! binding's short lock, completion happens outside it.
//!
//! The hand-off is reserved *before* the core sees a tracking request, so a second
//! one is refused (`STATUS_DEVICE_BUSY`) until the first is completed, and a
//! completion can never be matched with the wrong object.
//!
//! `core/tests/loom.rs` model-checks it over the core's tracking with an IRP double
//! (its cancel routine an atomic exchanged as `IoSetCancelRoutine` does): parking,
//! an insertion's completion and the OS's own cancel, two or all three at once.

use core::marker::PhantomData;

use crate::platform::Mutex;
use crate::status::Status;

/// A pending request object its OS can cancel on its own: a WDM IRP and its cancel
/// routine. The binding implements it; [`Handoff`] calls it under its lock.
pub trait Cancelable {
    /// An identity (an IRP's address), to match a cancel notification with it.
    fn id(&self) -> usize;
    /// The identity of the open handle it came through (in WDM the IRP's file
    /// object; 0 if none), the same for every request of that handle.
    fn handle(&self) -> usize;
    /// Let the OS cancel it from now on (`IoSetCancelRoutine(irp, routine)`).
    fn arm_cancel(&mut self);
    /// Take back the right to cancel it (`IoSetCancelRoutine(irp, NULL) != NULL`):
    /// `true` if the OS had not taken it yet, so no cancel notification comes and
    /// the caller owns the object; `false` if the OS has taken it (the cancel
    /// notification runs or will run).
    fn disarm_cancel(&mut self) -> bool;
    /// The OS asked to cancel it (`Irp->Cancel`).
    fn cancel_requested(&self) -> bool;
}

/// The state of the hand-off (kept under the binding's short lock).
#[derive(Debug)]
pub enum State<I> {
    /// No tracking request.
    Idle,
    /// A tracking request is inside `Device::control`; `early` holds a completion
    /// that arrived before the object was parked.
    Reserved {
        /// The handle the request came through ([`Cancelable::handle`]).
        handle: usize,
        /// The core's status, if it came first.
        early: Option<Status>,
    },
    /// The object is pending here.
    Parked {
        /// The request object.
        request: I,
        /// Who completes it.
        completer: Completer,
    },
}

/// Who completes a parked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completer {
    /// Whoever owns it first: the core's completion, if
    /// [`Cancelable::disarm_cancel`] still finds the routine, else the cancel routine.
    Either,
    /// The cancel routine, with the core's status (delivered while the I/O manager
    /// held the routine).
    CancelRoutine(Status),
    /// The core's completion: the cancel routine has run (or the object came in
    /// already cancelled) and asked the core to cancel.
    Core,
}

/// What [`Handoff::park`] leaves the caller to do.
#[derive(Debug)]
pub enum Parked<I> {
    /// The object waits in the hand-off.
    Waiting,
    /// The completion came first: complete the object now.
    Complete(I, Status),
    /// The object was cancelled before it could be made cancelable: ask the core to
    /// cancel (its completion then completes the object).
    CancelNow,
}

/// What the cancel routine leaves the caller to do.
#[derive(Debug)]
pub enum OnCancel<I> {
    /// Not ours (already completed): nothing.
    Nothing,
    /// Ask the core to cancel; its completion completes the object.
    CancelInCore,
    /// The core already decided: complete the object with this status.
    Complete(I, Status),
}

/// The hand-off over a short lock `S` of the binding's platform.
pub struct Handoff<I, S> {
    state: S,
    _request: PhantomData<fn(I) -> I>,
}

impl<I: Cancelable, S: Mutex<State<I>>> Handoff<I, S> {
    /// An idle hand-off.
    pub fn new() -> Handoff<I, S> {
        Handoff {
            state: S::new(State::Idle),
            _request: PhantomData,
        }
    }

    /// Reserve the hand-off for a tracking request about to enter the core, which
    /// came through `handle` ([`Cancelable::handle`]); `false` if another one is
    /// pending (`STATUS_DEVICE_BUSY`).
    pub fn reserve(&self, handle: usize) -> bool {
        self.state.lock(|s| match s {
            State::Idle => {
                *s = State::Reserved {
                    handle,
                    early: None,
                };
                true
            }
            _ => false,
        })
    }

    /// `true` if the tracking request reserved or pending came through `handle`
    /// ([`Cancelable::handle`]; the handle is being cleaned up or closed).
    pub fn held_by(&self, handle: usize) -> bool {
        self.state.lock(|s| match s {
            State::Idle => false,
            State::Reserved { handle: h, .. } => *h == handle,
            State::Parked { request, .. } => request.handle() == handle,
        })
    }

    /// The core completed the request at once: free the reservation.
    pub fn unreserve(&self) {
        self.state.lock(|s| {
            if let State::Reserved { early, .. } = s {
                debug_assert!(
                    early.is_none(),
                    "completion for a request that did not pend"
                );
                *s = State::Idle;
            }
        });
    }

    /// The core answered `Pending`: make the (already marked pending) object
    /// cancelable and park it.
    pub fn park(&self, mut request: I) -> Parked<I> {
        self.state.lock(|s| {
            let State::Reserved { early, .. } = *s else {
                // Not reachable: parking always follows a successful reserve.
                return Parked::Complete(request, Status::Unsuccessful);
            };
            // Set under the lock: a cancel routine called from now on waits for the
            // lock and then finds the object parked.
            request.arm_cancel();
            let completer = match early {
                Some(status) if request.disarm_cancel() => {
                    *s = State::Idle;
                    return Parked::Complete(request, status);
                }
                Some(status) => Completer::CancelRoutine(status),
                // IoCancelIrp ran before the routine was set: it called nothing, so
                // cancel on its behalf.
                None if request.cancel_requested() && request.disarm_cancel() => Completer::Core,
                None => Completer::Either,
            };
            *s = State::Parked { request, completer };
            match completer {
                Completer::Core => Parked::CancelNow,
                Completer::Either | Completer::CancelRoutine(_) => Parked::Waiting,
            }
        })
    }

    /// The core's `complete_tracking(status)`: the object to complete now, if this
    /// call owns it.
    pub fn complete(&self, status: Status) -> Option<(I, Status)> {
        self.state.lock(|s| match s {
            State::Idle => None,
            State::Reserved { early, .. } => {
                *early = Some(status);
                None
            }
            State::Parked { request, completer } => match *completer {
                // A second completion: not from the core's contract.
                Completer::CancelRoutine(_) => None,
                Completer::Either if !request.disarm_cancel() => {
                    *completer = Completer::CancelRoutine(status);
                    None
                }
                Completer::Either | Completer::Core => Some((unpark(s)?, status)),
            },
        })
    }

    /// The cancel routine was called for the object `id` (in WDM, with the cancel
    /// spin lock already released).
    pub fn on_cancel(&self, id: usize) -> OnCancel<I> {
        self.state.lock(|s| match s {
            State::Parked { request, completer } if request.id() == id => match *completer {
                Completer::Either => {
                    *completer = Completer::Core;
                    OnCancel::CancelInCore
                }
                Completer::CancelRoutine(status) => match unpark(s) {
                    Some(request) => OnCancel::Complete(request, status),
                    None => OnCancel::Nothing,
                },
                Completer::Core => OnCancel::Nothing,
            },
            _ => OnCancel::Nothing,
        })
    }

    /// `true` while a tracking request is reserved or pending.
    pub fn busy(&self) -> bool {
        self.state.lock(|s| !matches!(s, State::Idle))
    }
}

/// Take the parked object out, leaving the hand-off idle.
fn unpark<I>(s: &mut State<I>) -> Option<I> {
    match core::mem::replace(s, State::Idle) {
        State::Parked { request, .. } => Some(request),
        other => {
            *s = other;
            None
        }
    }
}

impl<I: Cancelable, S: Mutex<State<I>>> Default for Handoff<I, S> {
    fn default() -> Self {
        Handoff::new()
    }
}

/// The exactly-once rule step by step (the same races with real threads and IRPs
/// are in the WDM binding's `races.rs`): who completes a parked object when the
/// core's completion and the cancel routine come in each order.
#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use std::rc::Rc;

    /// What the OS knows of a request object: its cancel routine is set, and
    /// whether cancelling it was asked for.
    #[derive(Debug, Default)]
    struct Record {
        routine: Cell<bool>,
        cancel: Cell<bool>,
    }

    /// A request object over a shared record; its identity is the record's address.
    #[derive(Debug)]
    struct Fake(Rc<Record>);

    impl Cancelable for Fake {
        fn id(&self) -> usize {
            Rc::as_ptr(&self.0) as usize
        }
        fn handle(&self) -> usize {
            1
        }
        fn arm_cancel(&mut self) {
            self.0.routine.set(true);
        }
        fn disarm_cancel(&mut self) -> bool {
            self.0.routine.replace(false)
        }
        fn cancel_requested(&self) -> bool {
            self.0.cancel.get()
        }
    }

    type Tracking = Handoff<Fake, spin::Mutex<State<Fake>>>;

    fn request() -> (Fake, Rc<Record>) {
        let rec = Rc::new(Record::default());
        (Fake(Rc::clone(&rec)), rec)
    }

    fn id(rec: &Rc<Record>) -> usize {
        Rc::as_ptr(rec) as usize
    }

    /// A hand-off with a parked request whose cancel routine the OS then took
    /// (about to run it), with cancelling asked for if `cancel`; its record.
    fn parked_then_routine_taken(cancel: bool) -> (Tracking, Rc<Record>) {
        let s = Tracking::new();
        assert!(s.reserve(1));
        let (request, rec) = request();
        assert!(matches!(s.park(request), Parked::Waiting));
        rec.cancel.set(cancel);
        assert!(rec.routine.replace(false), "set at park");
        (s, rec)
    }

    #[test]
    fn completion_before_parking_completes_at_park() {
        let s = Tracking::new();
        assert!(s.reserve(1));
        assert!(!s.reserve(1));
        assert!(s.held_by(1) && !s.held_by(2));
        assert!(s.complete(Status::Success).is_none());
        let (request, rec) = request();
        assert!(
            matches!(s.park(request), Parked::Complete(_, Status::Success)),
            "the early completion completes the object at park"
        );
        assert!(!rec.routine.get());
        assert!(!s.busy());
    }

    #[test]
    fn cancelled_before_parking_asks_the_core() {
        let s = Tracking::new();
        assert!(s.reserve(1));
        let (request, rec) = request();
        rec.cancel.set(true);
        assert!(matches!(s.park(request), Parked::CancelNow));
        // The core's completion (Cancelled) then completes it.
        let (_, status) = s.complete(Status::Cancelled).unwrap();
        assert_eq!(status, Status::Cancelled);
        assert!(!rec.routine.get());
        assert!(!s.busy());
    }

    #[test]
    fn completion_after_the_os_took_the_routine_leaves_it_to_the_cancel_routine() {
        // The OS takes the routine (cancel routine about to run)...
        let (s, rec) = parked_then_routine_taken(true);
        // ... the event's completion cannot own the object ...
        assert!(s.complete(Status::Success).is_none());
        assert!(s.busy());
        // ... the cancel routine completes it with the core's status.
        assert!(matches!(
            s.on_cancel(id(&rec)),
            OnCancel::Complete(_, Status::Success)
        ));
        assert!(!s.busy());
        assert!(matches!(s.on_cancel(id(&rec)), OnCancel::Nothing));
    }

    #[test]
    fn cancel_routine_first_then_core_completion() {
        let (s, rec) = parked_then_routine_taken(false);
        assert!(matches!(s.on_cancel(id(&rec)), OnCancel::CancelInCore));
        assert!(matches!(s.on_cancel(id(&rec)), OnCancel::Nothing));
        let (_, status) = s.complete(Status::Cancelled).unwrap();
        assert_eq!(status, Status::Cancelled);
        assert!(s.complete(Status::Success).is_none());
    }
}
