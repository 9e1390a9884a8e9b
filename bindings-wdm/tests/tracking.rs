//! The tracking slot's exactly-once rule step by step (the same races with real
//! threads are in `races.rs`): who completes a parked IRP when the core's completion
//! and the cancel routine come in each order.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use readerkit::status::Status;
use readerkit_wdm::irp::Major;
use readerkit_wdm::tracking::{OnCancel, Parked, Slot, TrackingSlot};
use support::{FakeIrp, Record};

type Tracking = TrackingSlot<FakeIrp, Mutex<Slot<FakeIrp>>>;

fn irp() -> (FakeIrp, Arc<Record>) {
    FakeIrp::new(Major::DeviceControl)
}

/// The IRP's identity, as the cancel routine gets it.
fn id(rec: &Arc<Record>) -> usize {
    Arc::as_ptr(rec) as usize
}

/// A slot with a parked request whose cancel routine IoCancelIrp then took (about
/// to run it), with the IRP's `Cancel` flag set if `cancel`; the IRP's record.
fn parked_then_routine_taken(cancel: bool) -> (Tracking, Arc<Record>) {
    let s = Tracking::new();
    assert!(s.reserve(1));
    let (irp, rec) = irp();
    assert!(matches!(s.park(irp), Parked::Waiting));
    rec.cancel.store(cancel, Ordering::SeqCst);
    assert!(rec.routine.swap(false, Ordering::SeqCst), "set at park");
    (s, rec)
}

#[test]
fn completion_before_parking_completes_at_park() {
    let s = Tracking::new();
    assert!(s.reserve(1));
    assert!(!s.reserve(1));
    assert!(s.complete(Status::Success).is_none());
    let (irp, rec) = irp();
    assert!(
        matches!(s.park(irp), Parked::Complete(_, Status::Success)),
        "the early completion completes the IRP at park"
    );
    assert!(!rec.routine.load(Ordering::SeqCst));
    assert!(!s.busy());
}

#[test]
fn cancelled_before_parking_asks_the_core() {
    let s = Tracking::new();
    assert!(s.reserve(1));
    let (irp, rec) = irp();
    rec.cancel.store(true, Ordering::SeqCst);
    assert!(matches!(s.park(irp), Parked::CancelNow));
    // The core's completion (Cancelled) then completes it.
    let (_, status) = s.complete(Status::Cancelled).unwrap();
    assert_eq!(status, Status::Cancelled);
    assert!(!rec.routine.load(Ordering::SeqCst));
    assert!(!s.busy());
}

#[test]
fn completion_after_io_cancel_irp_leaves_the_irp_to_the_cancel_routine() {
    // IoCancelIrp takes the routine (cancel routine about to run)...
    let (s, rec) = parked_then_routine_taken(true);
    // ... the event's completion cannot own the IRP ...
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
