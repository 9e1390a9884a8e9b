//! `rk_device_sleep_with` / `rk_device_wake_with` through their C signatures,
//! with the driver's steps written as `extern "C"` functions: each transition is
//! one step against the other and against itself on another thread (its step runs
//! once), calls from inside a callback or a step are refused busy instead of
//! waiting for their own lock, and a device pointer that is NULL, misaligned or
//! to storage holding no device gets its own status with no step run.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use readerkit_testkit::thread::hang_guarded;

use super::device::{ATR, control};
use super::{ABSENT, HeapDevice, SWALLOWED, Zeroed, answer, ctx, no_callbacks, read};
use crate::*;

/// The driver context, shared by the threads of a test: atomics and locks only.
struct Ctx {
    /// The device, for calls back into it (set once it is initialised).
    dev: Mutex<*const rk_device>,
    /// Power-downs and steps, in the order they ran.
    log: Mutex<Vec<&'static str>>,
    /// Set when a slow part (a power-down, a wake step) begins.
    busy: AtomicBool,
    /// What the wake step answers: a card is in now.
    card_now: AtomicBool,
    /// The next power-down fails with `RK_STATUS_IO_TIMEOUT`.
    fail_power_down: AtomicBool,
    /// The callbacks, the steps and the `events_pending` hook call
    /// `rk_device_sleep_with` and `rk_device_wake_with` back, recording what they
    /// answer in `seen`.
    call_back: AtomicBool,
    seen: Mutex<Vec<(&'static str, rk_status)>>,
    /// The `events_pending` hook tries `rk_device_deinit` (recorded in `seen`).
    deinit_from_hook: AtomicBool,
    /// The sleep and wake steps try `rk_device_deinit` (recorded in `seen`).
    deinit_from_step: AtomicBool,
    /// The sleep step calls `rk_device_resume` and `rk_device_asleep` (recorded
    /// in `seen`).
    resume_from_step: AtomicBool,
    /// `tracking_complete` puts the reader to sleep (recorded in `seen`).
    sleep_on_completion: AtomicBool,
    /// `tracking_complete` tries `rk_device_deinit` (recorded in `seen`).
    deinit_on_completion: AtomicBool,
    /// The statuses `tracking_complete` got.
    completions: Mutex<Vec<rk_status>>,
}

// SAFETY: the device pointer is only handed to the library, which is thread-safe
// after init; every other field is a lock or an atomic.
unsafe impl Sync for Ctx {}

impl Ctx {
    fn note(&self, what: &'static str) {
        self.log.lock().unwrap().push(what);
    }

    /// The slow part of a step: 20 ms, with `busy` set at its start.
    fn slow(&self) {
        self.busy.store(true, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(20));
    }

    /// `tracking_complete` tried `rk_device_deinit` once and was refused busy.
    fn assert_deinit_on_completion_refused(&self) {
        assert_eq!(
            *self.seen.lock().unwrap(),
            [("tracking complete deinit", RK_STATUS_DEVICE_BUSY)]
        );
    }

    /// If asked to: `rk_device_deinit` from the step `from`, its answer recorded.
    fn deinit_from_step(&self, from: &'static str) {
        if !self.deinit_from_step.load(Ordering::SeqCst) {
            return;
        }
        let dev = *self.dev.lock().unwrap();
        // SAFETY: an initialised device (the test wants it refused: the transition
        // that runs the step goes on with it).
        let st = unsafe { rk_device_deinit(dev.cast_mut()) };
        self.seen.lock().unwrap().push((from, st));
    }

    /// If asked to: a sleep and a wake from here, answers recorded.
    fn call_back(&self, from: &'static str) {
        if !self.call_back.load(Ordering::SeqCst) {
            return;
        }
        let dev = *self.dev.lock().unwrap();
        let mut card_before = false;
        // SAFETY: an initialised device, our out-pointer, our steps.
        let st = unsafe { rk_device_sleep_with(dev, Some(sleep_step), &mut card_before) };
        self.seen.lock().unwrap().push((from, st));
        // SAFETY: as above.
        let st = unsafe { rk_device_wake_with(dev, Some(wake_step)) };
        self.seen.lock().unwrap().push((from, st));
    }
}

unsafe extern "C" fn power(
    c: *mut c_void,
    action: u32,
    atr: *mut u8,
    capacity: usize,
    atr_len: *mut usize,
) -> rk_status {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    c.call_back("power");
    if action != RK_POWER_DOWN {
        // SAFETY: the library's ATR buffer and length out-pointer for this call.
        return unsafe { answer(&ATR, atr, capacity, atr_len) };
    }
    c.note("power down");
    c.slow();
    if c.fail_power_down.swap(false, Ordering::SeqCst) {
        return RK_STATUS_IO_TIMEOUT;
    }
    RK_STATUS_SUCCESS
}

unsafe extern "C" fn card_tracking(_: *mut c_void, _: u32) -> rk_status {
    RK_STATUS_SUCCESS
}

/// Noted; sleeps again if asked to (no library lock is held here).
unsafe extern "C" fn tracking_complete(c: *mut c_void, status: rk_status) {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    c.completions.lock().unwrap().push(status);
    if c.sleep_on_completion.swap(false, Ordering::SeqCst) {
        let dev = *c.dev.lock().unwrap();
        let mut card_before = false;
        // SAFETY: an initialised device, our out-pointer, our step.
        let st = unsafe { rk_device_sleep_with(dev, Some(sleep_step), &mut card_before) };
        c.seen.lock().unwrap().push(("tracking complete", st));
    }
    if c.deinit_on_completion.load(Ordering::SeqCst) {
        let dev = *c.dev.lock().unwrap();
        // SAFETY: an initialised device (the test wants it refused: the call that
        // completed the request still borrows it).
        let st = unsafe { rk_device_deinit(dev.cast_mut()) };
        c.seen
            .lock()
            .unwrap()
            .push(("tracking complete deinit", st));
    }
}

/// Card events were queued (here: by a wake, while it runs).
unsafe extern "C" fn events_pending(c: *mut c_void) {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    c.call_back("events pending");
    if c.deinit_from_hook.load(Ordering::SeqCst) {
        let dev = *c.dev.lock().unwrap();
        // SAFETY: an initialised device (the test wants it refused: the wake
        // that called this hook goes on with it).
        let st = unsafe { rk_device_deinit(dev.cast_mut()) };
        c.seen.lock().unwrap().push(("events pending deinit", st));
    }
}

/// The driver's sleep step: noted.
unsafe extern "C" fn sleep_step(c: *mut c_void) {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    c.note("sleep");
    c.call_back("sleep step");
    c.deinit_from_step("sleep step deinit");
    if c.resume_from_step.load(Ordering::SeqCst) {
        let dev = *c.dev.lock().unwrap();
        let mut asleep = false;
        // SAFETY: an initialised device, our out-pointer.
        let st = unsafe { rk_device_asleep(dev, &mut asleep) };
        c.seen
            .lock()
            .unwrap()
            .push((if asleep { "asleep" } else { "awake" }, st));
        // SAFETY: an initialised device.
        let st = unsafe { rk_device_resume(dev, true) };
        c.seen.lock().unwrap().push(("sleep step resume", st));
    }
}

/// The driver's wake step: noted, slow, and says `card_now`.
unsafe extern "C" fn wake_step(c: *mut c_void) -> bool {
    // SAFETY: the context given at init.
    let c = unsafe { ctx::<Ctx>(c) };
    c.note("wake");
    c.call_back("wake step");
    c.deinit_from_step("wake step deinit");
    c.slow();
    c.card_now.load(Ordering::SeqCst)
}

/// A device with POWER and card tracking callbacks, with this file's context
/// ([`HeapDevice`]).
type Fixture = HeapDevice<Ctx>;

// SAFETY: the device is thread-safe after init and the context is `Sync`; both
// live until Drop, which runs once the threads that share them have ended.
unsafe impl Sync for Fixture {}
// SAFETY: as above.
unsafe impl Send for Fixture {}

impl Fixture {
    /// A device with a card in, powered.
    fn powered() -> Fixture {
        let table = rk_reader_functions {
            power: Some(power),
            card_tracking: Some(card_tracking),
            tracking_complete: Some(tracking_complete),
            events_pending: Some(events_pending),
            ..no_callbacks()
        };
        let f = HeapDevice::init(
            |dev| Ctx {
                dev: Mutex::new(dev),
                log: Mutex::new(Vec::new()),
                busy: AtomicBool::new(false),
                card_now: AtomicBool::new(true),
                fail_power_down: AtomicBool::new(false),
                call_back: AtomicBool::new(false),
                seen: Mutex::new(Vec::new()),
                deinit_from_hook: AtomicBool::new(false),
                deinit_from_step: AtomicBool::new(false),
                resume_from_step: AtomicBool::new(false),
                sleep_on_completion: AtomicBool::new(false),
                deinit_on_completion: AtomicBool::new(false),
                completions: Mutex::new(Vec::new()),
            },
            &table,
        );
        // SAFETY: an initialised device.
        let st = unsafe { rk_card_event(f.dev(), RK_CARD_INSERTED) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
        f
    }

    /// [`Fixture::powered`] with IS_ABSENT pending and `tracking_complete` set
    /// to try `rk_device_deinit`.
    fn deinit_on_completion() -> Fixture {
        let f = Fixture::powered();
        assert_eq!(
            control(f.dev(), RK_IOCTL_IS_ABSENT, &[], &mut []),
            RK_STATUS_PENDING
        );
        f.ctx().deinit_on_completion.store(true, Ordering::SeqCst);
        f
    }

    /// POWER with a cold reset.
    fn power_up(&self) -> rk_status {
        let input = RK_POWER_COLD_RESET.to_le_bytes();
        control(self.dev(), RK_IOCTL_POWER, &input, &mut [0u8; 33])
    }

    /// `rk_device_sleep_with` with the sleep step: its status and `*card_before`.
    fn sleep(&self) -> (rk_status, bool) {
        let mut card_before = false;
        // SAFETY: an initialised device, our out-pointer, our step.
        let st = unsafe { rk_device_sleep_with(self.dev(), Some(sleep_step), &mut card_before) };
        (st, card_before)
    }

    /// `rk_device_wake_with` with the wake step.
    fn wake(&self) -> rk_status {
        // SAFETY: an initialised device, our step.
        unsafe { rk_device_wake_with(self.dev(), Some(wake_step)) }
    }

    /// Run `wake` (a wake of the sleeping device) with `events_pending` trying
    /// `rk_device_deinit`: `wake` succeeds, `events_pending` tried twice (the
    /// removal and the insertion of the card taken as swapped) and was refused
    /// busy both times, and the device is initialised and awake, the card in.
    #[track_caller]
    fn wake_with_deinit_from_events_pending(&self, wake: impl FnOnce() -> rk_status) {
        let c = self.ctx();
        c.deinit_from_hook.store(true, Ordering::SeqCst);
        let st = wake();
        c.deinit_from_hook.store(false, Ordering::SeqCst);
        assert_eq!(st, RK_STATUS_SUCCESS);
        assert_eq!(
            *c.seen.lock().unwrap(),
            [("events pending deinit", RK_STATUS_DEVICE_BUSY); 2]
        );
        assert!(!self.asleep(), "initialised and awake");
        assert_eq!(self.state(), SWALLOWED, "the card the wake reported");
    }

    #[track_caller]
    fn asleep(&self) -> bool {
        // SAFETY: an initialised device.
        unsafe { read(self.dev(), rk_device_asleep) }
    }

    #[track_caller]
    fn insertions(&self) -> u32 {
        // SAFETY: an initialised device.
        unsafe { read(self.dev(), rk_device_card_insertions) }
    }

    #[track_caller]
    fn state(&self) -> u32 {
        // SAFETY: an initialised device.
        unsafe { read(self.dev(), rk_device_state) }
    }

    /// The power-downs and steps so far.
    fn log(&self) -> Vec<&'static str> {
        self.ctx().log.lock().unwrap().clone()
    }

    /// The steps so far, in order.
    fn steps(&self) -> Vec<&'static str> {
        let mut log = self.log();
        log.retain(|what| *what != "power down");
        log
    }

    /// Run `first` on a thread and, once it is inside its slow part, `second` on
    /// this one; both end before this returns.
    fn while_busy<R: Send>(&self, first: impl FnOnce() -> R + Send, second: impl FnOnce()) -> R {
        self.ctx().busy.store(false, Ordering::SeqCst);
        thread::scope(|s| {
            let first = s.spawn(first);
            while !self.ctx().busy.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            second();
            first.join().unwrap()
        })
    }
}

/// Two threads at once (a power thread and a selective-suspend timer), the second
/// started while the first is inside its slow part: a second sleep during a
/// sleep's power-down returns once the device sleeps, its step run once; a second
/// wake during a wake's step runs no second step and reports no second swap; a
/// wake started during a sleep's power-down comes after that sleep's step, so the
/// steps alternate and the device ends awake.
#[test]
fn two_transitions_at_once_make_one_and_run_its_step_once() {
    hang_guarded("two transitions at once", || {
        let f = Fixture::powered();
        let second = f.while_busy(
            || f.sleep(),
            || {
                assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
                assert_eq!(
                    f.steps(),
                    ["sleep"],
                    "asleep, its step run, when it returns"
                );
            },
        );
        assert_eq!(second, (RK_STATUS_SUCCESS, true));
        assert_eq!(f.log(), ["power down", "sleep"], "one power-down, one step");
        assert!(f.asleep());
        let insertions = f.insertions();
        f.while_busy(
            || assert_eq!(f.wake(), RK_STATUS_SUCCESS),
            || assert_eq!(f.wake(), RK_STATUS_SUCCESS),
        );
        assert_eq!(f.steps(), ["sleep", "wake"], "one wake step");
        assert!(!f.asleep());
        assert_eq!(f.insertions(), insertions.wrapping_add(1), "one swap");
        for round in 1..=3 {
            f.while_busy(
                || assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true)),
                || assert_eq!(f.wake(), RK_STATUS_SUCCESS),
            );
            assert!(!f.asleep(), "round {round}: awake");
            let log = f.log();
            assert_eq!(log.len(), 3 + 3 * round, "round {round}: {log:?}");
            assert!(
                log.chunks(3).all(|t| t == ["power down", "sleep", "wake"]),
                "round {round}: whole transitions, in turn: {log:?}"
            );
        }
    });
}

/// From inside a callback of the device, one of its own steps or a hook it calls
/// during a transition (`events_pending`, for the wake's card events), both calls
/// are refused `RK_STATUS_DEVICE_BUSY` at once (they would wait for a lock that
/// callback, step or transition holds) and change nothing: no step runs, an
/// awake device stays awake and an asleep one asleep.
#[test]
fn from_inside_a_callback_or_a_step_both_are_busy() {
    hang_guarded("sleep and wake from inside", || {
        let f = Fixture::powered();
        let c = f.ctx();
        let busy = RK_STATUS_DEVICE_BUSY;
        c.call_back.store(true, Ordering::SeqCst);
        // From the POWER callback (a power-down for the outer sleep) and the
        // sleep step.
        assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
        // And from the wake step.
        assert_eq!(f.wake(), RK_STATUS_SUCCESS);
        c.call_back.store(false, Ordering::SeqCst);
        assert_eq!(
            *c.seen.lock().unwrap(),
            [
                ("power", busy),
                ("power", busy),
                ("sleep step", busy),
                ("sleep step", busy),
                ("wake step", busy),
                ("wake step", busy),
                // The wake's removal and insertion of the card it took as
                // swapped.
                ("events pending", busy),
                ("events pending", busy),
                ("events pending", busy),
                ("events pending", busy),
            ]
        );
        assert_eq!(
            f.log(),
            ["power down", "sleep", "wake"],
            "only the outer steps ran"
        );
        assert!(!f.asleep());
        // From a POWER callback of a request, with the device awake: it stays so.
        c.call_back.store(true, Ordering::SeqCst);
        let st = f.power_up();
        c.call_back.store(false, Ordering::SeqCst);
        assert_eq!(st, RK_STATUS_SUCCESS);
        assert!(!f.asleep(), "still awake");
        assert_eq!(
            c.seen.lock().unwrap()[10..],
            [("power", busy), ("power", busy)]
        );
        assert_eq!(f.log().len(), 3, "no step ran");
    });
}

/// `rk_device_deinit` from `events_pending` called during a wake (its removal
/// and insertion of the card taken as swapped) is refused
/// `RK_STATUS_DEVICE_BUSY`: the wake goes on with the device after the hook, so
/// dropping it there would leave the wake working on a dropped device. The
/// device stays initialised and awake; a deinit afterwards succeeds (Drop).
#[test]
fn deinit_from_a_hook_during_a_wake_is_busy() {
    let f = Fixture::powered();
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
    f.wake_with_deinit_from_events_pending(|| f.wake());
}

/// `rk_device_deinit` from the driver's own sleep and wake steps is refused
/// `RK_STATUS_DEVICE_BUSY`: a step runs under the serialization lock, which
/// `borrowed_below` sees (`callback_running`), the one check left since
/// rk_device_deinit stopped asking `in_own_transition` (3260a06). The device
/// stays initialised, sleeps and wakes; a deinit afterwards succeeds (Drop).
#[test]
fn deinit_from_a_sleep_or_wake_step_is_busy() {
    let f = Fixture::powered();
    let c = f.ctx();
    c.deinit_from_step.store(true, Ordering::SeqCst);
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
    assert!(f.asleep(), "initialised and asleep");
    assert_eq!(f.wake(), RK_STATUS_SUCCESS);
    c.deinit_from_step.store(false, Ordering::SeqCst);
    assert_eq!(
        *c.seen.lock().unwrap(),
        [
            ("sleep step deinit", RK_STATUS_DEVICE_BUSY),
            ("wake step deinit", RK_STATUS_DEVICE_BUSY)
        ]
    );
    assert!(!f.asleep(), "initialised and awake");
    assert_eq!(f.state(), SWALLOWED, "the card the wake step saw");
}

/// `rk_device_deinit` from the `events_pending` hook during a plain
/// `rk_device_resume` (which holds no lock while it reports the removal and the
/// insertion) is refused `RK_STATUS_DEVICE_BUSY`: the resume goes on with the
/// device after the hook, so dropping it there would leave the resume working on
/// a dropped device (a use after free under Miri). The device stays initialised,
/// awake and usable; a deinit afterwards succeeds (Drop).
#[test]
fn deinit_from_events_pending_during_a_resume_is_busy() {
    let f = Fixture::powered();
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
    let insertions = f.insertions();
    // SAFETY: an initialised device.
    f.wake_with_deinit_from_events_pending(|| unsafe { rk_device_resume(f.dev(), true) });
    assert_eq!(f.insertions(), insertions.wrapping_add(1), "as swapped");
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS, "the device still works");
}

/// `rk_device_deinit` from `tracking_complete` is refused `RK_STATUS_DEVICE_BUSY`:
/// the call that processed the removal still holds the device up its stack. The
/// request completed once, the device stays initialised and usable (the removal
/// applied, a new card powers up); a deinit afterwards succeeds (Drop).
#[test]
fn deinit_from_tracking_complete_is_busy() {
    let f = Fixture::deinit_on_completion();
    let c = f.ctx();
    // SAFETY: an initialised device.
    let st = unsafe { rk_card_event(f.dev(), RK_CARD_REMOVED) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: an initialised device.
    let st = unsafe { rk_process_events(f.dev()) };
    c.deinit_on_completion.store(false, Ordering::SeqCst);
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert_eq!(*c.completions.lock().unwrap(), [RK_STATUS_SUCCESS]);
    c.assert_deinit_on_completion_refused();
    assert_eq!(f.state(), ABSENT, "the removal applied");
    // SAFETY: an initialised device.
    let st = unsafe { rk_card_event(f.dev(), RK_CARD_INSERTED) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS, "the device still works");
}

/// A deinit with a request pending cancels it through `tracking_complete`; a
/// second deinit from there is refused `RK_STATUS_DEVICE_BUSY` (the first one
/// releases the storage once the hook returns, and succeeds: Drop).
#[test]
fn deinit_from_the_completion_a_deinit_cancels_is_busy() {
    let f = Fixture::deinit_on_completion();
    let c = f.ctx();
    assert_eq!(f.deinit(), RK_STATUS_SUCCESS);
    assert_eq!(*c.completions.lock().unwrap(), [RK_STATUS_CANCELLED]);
    c.assert_deinit_on_completion_refused();
}

/// From a sleep step `rk_device_asleep` answers (asleep) and `rk_device_resume`
/// takes effect, as the header says of a callback: the device the step is putting
/// to sleep ends awake, the card reported as possibly swapped.
#[test]
fn resume_from_a_sleep_step_wakes_the_device() {
    let f = Fixture::powered();
    let c = f.ctx();
    let insertions = f.insertions();
    c.resume_from_step.store(true, Ordering::SeqCst);
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
    c.resume_from_step.store(false, Ordering::SeqCst);
    assert_eq!(
        *c.seen.lock().unwrap(),
        [
            ("asleep", RK_STATUS_SUCCESS),
            ("sleep step resume", RK_STATUS_SUCCESS)
        ]
    );
    assert!(!f.asleep(), "woken by the step");
    assert_eq!(f.insertions(), insertions.wrapping_add(1), "as swapped");
}

/// The wake step's answer is the card now: none, and the card the device held is
/// reported removed; without a wake step the card held is taken as in (and as
/// possibly swapped). A power-down that fails is answered with its status after
/// the sleep step ran, nothing written, and the device sleeps all the same.
#[test]
fn the_wake_step_says_whether_a_card_is_in_and_a_failed_power_down_still_sleeps() {
    let f = Fixture::powered();
    let c = f.ctx();
    c.card_now.store(false, Ordering::SeqCst);
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
    assert_eq!(f.wake(), RK_STATUS_SUCCESS);
    assert_eq!(f.state(), ABSENT, "the wake step saw no card");
    // SAFETY: an initialised device.
    let st = unsafe { rk_card_event(f.dev(), RK_CARD_INSERTED) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    let insertions = f.insertions();
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true), "a card was in");
    // SAFETY: an initialised device, no step.
    let st = unsafe { rk_device_wake_with(f.dev(), None) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert!(!f.asleep());
    assert_eq!(f.state(), SWALLOWED, "the card held, taken as in");
    assert_eq!(f.insertions(), insertions.wrapping_add(1), "and as swapped");
    // A failed power-down.
    let st = f.power_up();
    assert_eq!(st, RK_STATUS_SUCCESS);
    c.fail_power_down.store(true, Ordering::SeqCst);
    let steps = f.steps().len();
    let mut card_before = false;
    // SAFETY: an initialised device, our out-pointer, our step.
    let st = unsafe { rk_device_sleep_with(f.dev(), Some(sleep_step), &mut card_before) };
    assert_eq!(st, RK_STATUS_IO_TIMEOUT, "the POWER callback's status");
    assert!(!card_before, "nothing written");
    assert_eq!(f.steps().len(), steps + 1, "the sleep step ran");
    assert!(f.asleep(), "asleep all the same");
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true), "the card taken as in");
    assert_eq!(f.steps().len(), steps + 1, "asleep already: no step");
    // Asleep without a step: nothing but the sleep.
    // SAFETY: an initialised device, no step.
    let st = unsafe { rk_device_wake_with(f.dev(), None) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: an initialised device, no step, our out-pointer.
    let st = unsafe { rk_device_sleep_with(f.dev(), None, &mut card_before) };
    assert_eq!((st, card_before), (RK_STATUS_SUCCESS, true));
    assert!(f.asleep());
    assert_eq!(f.steps().len(), steps + 1, "no step given, none ran");
}

/// A device pointer that is NULL or misaligned gets `RK_STATUS_INVALID_PARAMETER`,
/// storage holding no device (zeroed, or garbage) `RK_STATUS_INVALID_DEVICE_STATE`,
/// and a `card_before` that is NULL or inside the device storage
/// `RK_STATUS_INVALID_PARAMETER` with the live device untouched; no step runs.
#[test]
fn a_bad_device_or_out_pointer_gets_its_status_and_runs_no_step() {
    let f = Fixture::powered();
    let mut card_before = false;
    let step = Some(sleep_step as unsafe extern "C" fn(*mut c_void));
    let wake = Some(wake_step as unsafe extern "C" fn(*mut c_void) -> bool);
    let zeroed = Zeroed::<rk_device>::new();
    let garbage = Zeroed::<rk_device>::new();
    // SAFETY: our storage, whole.
    unsafe { ptr::write_bytes(garbage.ptr(), 0xA5, 1) };
    let misaligned = f.dev().cast::<u8>().wrapping_add(1).cast::<rk_device>();
    let devices = [
        ("NULL", ptr::null(), RK_STATUS_INVALID_PARAMETER),
        ("misaligned", misaligned, RK_STATUS_INVALID_PARAMETER),
        (
            "zeroed",
            zeroed.ptr().cast_const(),
            RK_STATUS_INVALID_DEVICE_STATE,
        ),
        (
            "garbage",
            garbage.ptr().cast_const(),
            RK_STATUS_INVALID_DEVICE_STATE,
        ),
    ];
    for (what, dev, want) in devices {
        // SAFETY: refused before the storage is used as a device.
        let st = unsafe { rk_device_sleep_with(dev, step, &mut card_before) };
        assert_eq!(st, want, "sleep, {what}");
        // SAFETY: as above.
        let st = unsafe { rk_device_wake_with(dev, wake) };
        assert_eq!(st, want, "wake, {what}");
    }
    let inside = f.dev().cast::<bool>().cast_mut().wrapping_add(8);
    for (what, out) in [("NULL", ptr::null_mut()), ("inside", inside)] {
        // SAFETY: refused before anything is written.
        let st = unsafe { rk_device_sleep_with(f.dev(), step, out) };
        assert_eq!(st, RK_STATUS_INVALID_PARAMETER, "card_before {what}");
    }
    assert!(f.log().is_empty(), "no step, no power-down: {:?}", f.log());
    assert!(!f.asleep(), "the live device is untouched");
    assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true), "and works");
}

/// A tracking request completed by a wake is delivered once the wake has ended
/// (no library lock held, as `tracking_complete` promises), so the completion
/// may put the reader to sleep again: that sleep runs, with its step, instead of
/// waiting for the wake's own lock.
#[test]
fn a_completion_made_by_a_wake_may_start_the_next_sleep() {
    hang_guarded("a sleep from a wake's completion", || {
        let f = Fixture::powered();
        let c = f.ctx();
        let st = control(f.dev(), RK_IOCTL_IS_ABSENT, &[], &mut []);
        assert_eq!(st, RK_STATUS_PENDING);
        assert_eq!(f.sleep(), (RK_STATUS_SUCCESS, true));
        assert!(
            c.completions.lock().unwrap().is_empty(),
            "pending across sleep"
        );
        c.sleep_on_completion.store(true, Ordering::SeqCst);
        assert_eq!(f.wake(), RK_STATUS_SUCCESS);
        assert_eq!(*c.completions.lock().unwrap(), [RK_STATUS_SUCCESS]);
        assert_eq!(
            *c.seen.lock().unwrap(),
            [("tracking complete", RK_STATUS_SUCCESS)]
        );
        assert!(f.asleep(), "asleep again");
        assert_eq!(
            f.log(),
            ["power down", "sleep", "wake", "power down", "sleep"]
        );
    });
}
