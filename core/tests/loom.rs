//! Model checking with loom of the event queue, the core's card tracking, the
//! reader's sleep racing a card event, a resume or a request, and the tracking
//! hand-off ([`Handoff`]) of a pending request object that its OS can cancel on
//! its own (a WDM IRP).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p readerkit --test loom --release`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use loom::thread;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{AtrBuffer, Sleep};
use readerkit::event::{CardEvent, EventQueue, Popped};
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::platform::{Mutex, Platform};
use readerkit::tracking::Wait;
use readerkit::tracking::handoff::{Cancelable, Handoff, OnCancel, Parked, State};
use readerkit::{Device, Failure, Outcome, ReaderFunctions, Status};

struct LoomMutex<T>(loom::sync::Mutex<T>);

impl<T> Mutex<T> for LoomMutex<T> {
    fn new(value: T) -> Self {
        LoomMutex(loom::sync::Mutex::new(value))
    }
    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

/// The tracking completions the core decided: successes and cancellations.
#[derive(Default)]
struct Decided {
    successes: AtomicUsize,
    cancellations: AtomicUsize,
}

impl Decided {
    fn record(&self, status: Status) {
        match status {
            Status::Success => self.successes.fetch_add(1, Ordering::SeqCst),
            Status::Cancelled => self.cancellations.fetch_add(1, Ordering::SeqCst),
            other => panic!("unexpected completion {other:?}"),
        };
    }

    /// The one status decided, `None` if none was; panics on more than one.
    fn only(&self) -> Option<Status> {
        match (
            self.successes.load(Ordering::SeqCst),
            self.cancellations.load(Ordering::SeqCst),
        ) {
            (0, 0) => None,
            (1, 0) => Some(Status::Success),
            (0, 1) => Some(Status::Cancelled),
            (s, c) => panic!("{s} successes and {c} cancellations decided"),
        }
    }
}

/// Records the tracking completions the core hands it and, with a hand-off (the
/// IRP models below), completes the parked IRP through it.
#[derive(Default)]
struct LoomPlatform {
    decided: Decided,
    handoff: Option<IrpHandoff>,
}

impl Platform for LoomPlatform {
    type Serial<T> = LoomMutex<T>;
    type Short<T> = LoomMutex<T>;

    fn complete_tracking(&self, status: Status) {
        self.decided.record(status);
        let handoff = self.handoff.as_ref();
        if let Some((irp, status)) = handoff.and_then(|h| h.complete(status)) {
            irp.complete(status);
        }
    }
}

/// The device every model runs: the loom platform, no driver state, two events.
type LoomDevice = Device<LoomPlatform, (), 2>;

fn device_on(platform: LoomPlatform) -> LoomDevice {
    device_on_with(
        platform,
        ReaderFunctions {
            card_tracking: Some(readerkit_testkit::ack::tracking),
            ..ReaderFunctions::NONE
        },
    )
}

fn device_on_with(platform: LoomPlatform, functions: ReaderFunctions<()>) -> LoomDevice {
    Device::new(
        platform,
        functions,
        (),
        ReaderCapabilities::typical(),
        VendorAttributes::default(),
    )
}

fn device() -> LoomDevice {
    device_on(LoomPlatform::default())
}

fn is_present(dev: &LoomDevice) -> Outcome {
    dev.control(Ioctl::IsPresent.code(), &[], &mut [])
}

/// A card is inserted and the event processed.
fn insert(dev: &LoomDevice) {
    dev.card_inserted();
    dev.process_events();
}

/// Run `f` on the device on a thread of its own.
fn spawn(dev: &Arc<LoomDevice>, f: fn(&LoomDevice)) -> thread::JoinHandle<()> {
    let dev = dev.clone();
    thread::spawn(move || f(&dev))
}

#[test]
fn queue_two_producers_one_consumer() {
    loom::model(|| {
        let q: Arc<EventQueue<2>> = Arc::new(EventQueue::new());
        let producers: Vec<_> = [CardEvent::Inserted, CardEvent::Removed]
            .into_iter()
            .map(|e| {
                let q = q.clone();
                thread::spawn(move || assert!(q.push(e)))
            })
            .collect();
        let mut seen = Vec::new();
        if let Some(p) = q.pop() {
            seen.push(p);
        }
        for p in producers {
            p.join().unwrap();
        }
        while let Some(p) = q.pop() {
            seen.push(p);
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.contains(&Popped::Event(CardEvent::Inserted)));
        assert!(seen.contains(&Popped::Event(CardEvent::Removed)));
    });
}

#[test]
fn insertion_racing_is_present_completes_exactly_once() {
    loom::model(|| {
        let dev = Arc::new(device());
        let events = spawn(&dev, insert);
        let outcome = is_present(&dev);
        events.join().unwrap();
        dev.process_events();
        let inline = match outcome {
            Outcome::Complete {
                status: Status::Success,
                ..
            } => 1,
            Outcome::Pending => 0,
            other => panic!("{other:?}"),
        };
        let d = &dev.platform().decided;
        assert_eq!(inline + d.successes.load(Ordering::SeqCst), 1);
        assert_eq!(d.cancellations.load(Ordering::SeqCst), 0);
    });
}

/// A card swapped (its removal and the new card's insertion queued in that
/// order) while another thread applies queued events too (pcscd's poll waking on
/// the events while a client reads the state): the events are applied in the
/// order they were queued, whichever thread pops which, so the new card is
/// present at the end, not taken for gone.
#[test]
fn a_swap_applied_by_two_threads_leaves_the_new_card_present() {
    loom::model(|| {
        let dev = Arc::new(device());
        insert(&dev);
        let other = spawn(&dev, |dev| dev.process_events());
        dev.card_removed();
        dev.card_inserted();
        dev.process_events();
        other.join().unwrap();
        assert!(dev.state().card_present(), "the new card taken for gone");
        assert_eq!(dev.card_insertions(), 2);
    });
}

#[test]
fn cancel_racing_insertion_completes_exactly_once() {
    loom::model(|| {
        let dev = Arc::new(device());
        assert_eq!(is_present(&dev), Outcome::Pending);
        let canceller = {
            let dev = dev.clone();
            thread::spawn(move || dev.cancel_tracking())
        };
        dev.card_inserted();
        dev.process_events();
        let cancelled = canceller.join().unwrap();
        let decided = dev.platform().decided.only().expect("one completion");
        assert_eq!(cancelled, decided == Status::Cancelled);
    });
}

/// The reader goes to sleep while a card is inserted (before or after suspend reads
/// the state, or while it marks the device asleep), then wakes with the card in: it
/// is always taken as possibly swapped, a removal and an insertion (two insertions
/// counted in all), and the device is awake.
#[test]
fn suspend_racing_an_insertion_takes_the_card_as_swapped_on_waking() {
    loom::model(|| {
        let dev = Arc::new(device());
        let events = spawn(&dev, insert);
        let _ = dev.suspend();
        events.join().unwrap();
        assert!(dev.asleep());
        dev.resume(true);
        assert!(!dev.asleep());
        assert!(dev.state().card_present());
        assert_eq!(dev.card_insertions(), 2, "the card counts as a new one");
    });
}

/// A suspend still finishing (between marking the device asleep and writing its
/// answer) while a resume and a second suspend come from another thread: the first
/// suspend writes only into the sleep it began, so the sleep the second one began
/// keeps its own answer. The card is only taken out by the resume's removal, so
/// at the end the device sleeps with `card_before` equal to whether the card is
/// still in, whichever order the calls ran in.
#[test]
fn suspend_finishing_late_keeps_the_answer_of_a_later_sleep() {
    loom::model(|| {
        let dev = Arc::new(device());
        insert(&dev);
        let other = spawn(&dev, |dev| {
            dev.resume(false);
            let _ = dev.suspend();
        });
        let _ = dev.suspend();
        other.join().unwrap();
        assert_eq!(
            dev.sleep_state(),
            Sleep::Asleep {
                card_before: dev.state().card_present()
            }
        );
    });
}

/// A POWER request that found the device awake but waits for the serialization
/// lock while a suspend marks the device asleep and powers the card down: it is
/// refused then (no POWER callback after the power-down), so the card sleeps
/// unpowered whichever order the calls ran in.
#[test]
fn a_power_request_racing_suspend_leaves_the_card_powered_down() {
    loom::model(|| {
        let dev = Arc::new(device_on_with(
            LoomPlatform::default(),
            ReaderFunctions {
                power: Some(readerkit_testkit::ack::power),
                ..ReaderFunctions::NONE
            },
        ));
        insert(&dev);
        let request = spawn(&dev, |dev| {
            let _ = dev.power_card(PowerAction::ColdReset, &mut [0; 33]);
        });
        let _ = dev.suspend();
        request.join().unwrap();
        assert!(dev.asleep());
        assert!(
            !dev.state().card_powered(),
            "{:?}: powered while asleep",
            dev.state()
        );
    });
}

/// A driver that knows whether its reader went to sleep: set after
/// [`Device::suspend`] returned, as a driver's own sleep would follow it.
type Sleeping = Arc<AtomicBool>;

/// POWER for [`Sleeping`]: [`readerkit_testkit::ack::ATR`] on a reset.
fn power_sleeping(
    _: &mut Sleeping,
    action: PowerAction,
    atr: &mut AtrBuffer,
) -> Result<(), Failure> {
    readerkit_testkit::ack::power(&mut (), action, atr)
}

/// Card tracking for [`Sleeping`]: never armed once the reader sleeps.
fn track_awake(slept: &mut Sleeping, _: Wait) -> Result<(), Failure> {
    assert!(
        !slept.load(Ordering::SeqCst),
        "tracking armed after the sleep"
    );
    Ok(())
}

/// An IS_ABSENT that reserved the tracking slot while the device was awake but
/// waits for the serialization lock while a suspend powers the card down: it is
/// refused then, and the tracking callback is not armed on a sleeping reader;
/// otherwise it was armed before the sleep and stays pending.
#[test]
fn a_tracking_request_racing_suspend_is_not_armed_after_the_sleep() {
    loom::model(|| {
        let slept = Sleeping::default();
        let dev = Arc::new(Device::<_, Sleeping, 2>::new(
            LoomPlatform::default(),
            ReaderFunctions {
                power: Some(power_sleeping),
                card_tracking: Some(track_awake),
                ..ReaderFunctions::NONE
            },
            slept.clone(),
            ReaderCapabilities::typical(),
            VendorAttributes::default(),
        ));
        dev.card_inserted();
        dev.process_events();
        dev.power_card(PowerAction::ColdReset, &mut [0; 33])
            .unwrap();
        let request = {
            let dev = dev.clone();
            thread::spawn(move || dev.control(Ioctl::IsAbsent.code(), &[], &mut []))
        };
        let _ = dev.suspend();
        slept.store(true, Ordering::SeqCst);
        let outcome = request.join().unwrap();
        assert!(
            matches!(
                outcome,
                Outcome::Pending
                    | Outcome::Complete {
                        status: Status::DeviceNotReady,
                        ..
                    }
            ),
            "{outcome:?}"
        );
    });
}

// The hand-off of a pending IRP, as the WDM binding runs it (`bindings-wdm`'s
// `WdmReader::device_control`, `cancel_routine` and `WdmPlatform::complete_tracking`),
// over the core's tracking: every parked IRP is completed exactly once, with the
// status the core decided.

/// Preemptions per run in the three-thread model (unbounded takes more than ten
/// minutes).
const PREEMPTIONS: usize = 4;

/// The IRP's identity ([`Cancelable::id`]) and its handle's.
const IRP: usize = 0x1000;
const HANDLE: usize = 7;

/// What the I/O manager knows of one IRP: its cancel routine (set or not;
/// `IoSetCancelRoutine` is an atomic exchange), `Irp->Cancel`, and its
/// completions and their status.
#[derive(Default)]
struct IrpRecord {
    routine: AtomicBool,
    cancel: AtomicBool,
    completions: AtomicUsize,
    status: AtomicU32,
}

/// An IRP double over its record.
struct LoomIrp(Arc<IrpRecord>);

impl LoomIrp {
    /// `IoCompleteRequest`, which bug-checks an IRP whose cancel routine is still set.
    fn complete(self, status: Status) {
        assert!(
            !self.0.routine.load(Ordering::SeqCst),
            "completed with its cancel routine set"
        );
        self.0.status.store(status.to_ntstatus(), Ordering::SeqCst);
        self.0.completions.fetch_add(1, Ordering::SeqCst);
    }
}

impl Cancelable for LoomIrp {
    fn id(&self) -> usize {
        IRP
    }
    fn handle(&self) -> usize {
        HANDLE
    }
    fn arm_cancel(&mut self) {
        // An exchange, as IoSetCancelRoutine's. A SeqCst store would also do under
        // the memory model, but loom models SeqCst as AcqRel and then reports the
        // request path missing a `Cancel` the OS set before it found no routine.
        self.0.routine.swap(true, Ordering::SeqCst);
    }
    fn disarm_cancel(&mut self) -> bool {
        self.0.routine.swap(false, Ordering::SeqCst)
    }
    fn cancel_requested(&self) -> bool {
        self.0.cancel.load(Ordering::SeqCst)
    }
}

/// The hand-off through which the platform completes the core's decisions.
type IrpHandoff = Handoff<LoomIrp, LoomMutex<State<LoomIrp>>>;

/// A device whose platform has a hand-off.
fn irp_device() -> Arc<LoomDevice> {
    Arc::new(device_on(LoomPlatform {
        handoff: Some(Handoff::new()),
        decided: Decided::default(),
    }))
}

fn handoff(dev: &LoomDevice) -> &IrpHandoff {
    dev.platform()
        .handoff
        .as_ref()
        .expect("an IRP device has a hand-off")
}

fn irp() -> (LoomIrp, Arc<IrpRecord>) {
    let record = Arc::new(IrpRecord::default());
    (LoomIrp(record.clone()), record)
}

/// The request path of IS_PRESENT: reserve, the core, then complete at once or
/// park. `true` if the core completed it at once.
fn request(dev: &LoomDevice, irp: LoomIrp) -> bool {
    let handoff = handoff(dev);
    assert!(handoff.reserve(HANDLE));
    match is_present(dev) {
        Outcome::Complete { status, .. } => {
            handoff.unreserve();
            irp.complete(status);
            true
        }
        Outcome::Pending => {
            match handoff.park(irp) {
                Parked::Waiting => {}
                Parked::Complete(irp, status) => irp.complete(status),
                Parked::CancelNow => {
                    dev.cancel_tracking();
                }
            }
            false
        }
    }
}

/// The OS cancels the IRP on its own: `IoCancelIrp` sets `Cancel` and takes the
/// cancel routine; if it found one, the routine runs.
fn os_cancel(dev: &LoomDevice, record: &IrpRecord) {
    record.cancel.store(true, Ordering::SeqCst);
    if !record.routine.swap(false, Ordering::SeqCst) {
        return;
    }
    // The routine reads the IRP (`IoReleaseCancelSpinLock(Irp->CancelIrql)`): no one
    // may have completed (freed) it since the OS took the routine.
    assert_eq!(
        record.completions.load(Ordering::SeqCst),
        0,
        "the cancel routine runs on a completed IRP"
    );
    match handoff(dev).on_cancel(IRP) {
        OnCancel::Nothing => {}
        OnCancel::CancelInCore => {
            dev.cancel_tracking();
        }
        OnCancel::Complete(irp, status) => irp.complete(status),
    }
}

/// The handle the request came through is closed (the WDM binding's CLEANUP or
/// CLOSE): the core cancels the request if the hand-off holds one of that handle.
fn close(dev: &LoomDevice) {
    if handoff(dev).held_by(HANDLE) {
        dev.cancel_tracking();
    }
}

/// Once every thread is done: the IRP was completed exactly once, with the status
/// the core decided (success if it answered at once, `inline`), and the hand-off
/// is free. Returns that status.
fn completed_once(dev: &LoomDevice, record: &IrpRecord, inline: bool) -> Status {
    assert_eq!(record.completions.load(Ordering::SeqCst), 1, "completions");
    let status = match dev.platform().decided.only() {
        None if inline => Status::Success,
        Some(status) if !inline => status,
        other => panic!("decided {other:?}, answered at once: {inline}"),
    };
    assert_eq!(record.status.load(Ordering::SeqCst), status.to_ntstatus());
    assert!(!handoff(dev).busy(), "the hand-off is free");
    status
}

/// The request path of one IRP, raced by an insertion if `insertion` and by the
/// OS's cancel if `cancel`; the status the IRP was completed with (once).
fn park_racing(insertion: bool, cancel: bool) -> Status {
    let dev = irp_device();
    let (irp, record) = irp();
    let events = insertion.then(|| spawn(&dev, insert));
    let os = cancel.then(|| {
        let (dev, record) = (dev.clone(), record.clone());
        thread::spawn(move || os_cancel(&dev, &record))
    });
    let inline = request(&dev, irp);
    for racer in events.into_iter().chain(os) {
        racer.join().unwrap();
    }
    completed_once(&dev, &record, inline)
}

#[test]
fn handoff_park_racing_an_insertion_completes_once() {
    loom::model(|| assert_eq!(park_racing(true, false), Status::Success));
}

#[test]
fn handoff_park_racing_an_os_cancel_completes_once_cancelled() {
    loom::model(|| assert_eq!(park_racing(false, true), Status::Cancelled));
}

/// A pending IRP completed by `racer` (on its own thread) while the OS cancels it;
/// the status it was completed with (once).
fn pending_racing_an_os_cancel(racer: fn(&LoomDevice)) -> Status {
    let dev = irp_device();
    let (irp, record) = irp();
    assert!(!request(&dev, irp), "pends");
    let racer = spawn(&dev, racer);
    os_cancel(&dev, &record);
    racer.join().unwrap();
    completed_once(&dev, &record, false)
}

#[test]
fn handoff_insertion_racing_an_os_cancel_completes_once() {
    loom::model(|| {
        pending_racing_an_os_cancel(insert);
    });
}

#[test]
fn handoff_close_racing_an_os_cancel_completes_once_cancelled() {
    loom::model(|| assert_eq!(pending_racing_an_os_cancel(close), Status::Cancelled));
}

#[test]
fn handoff_park_insertion_and_os_cancel_complete_once() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(PREEMPTIONS);
    model.check(|| {
        park_racing(true, true);
    });
}
