//! The reader's sleep and wake-up: [`Device::suspend`] powers the card down,
//! [`Device::resume`] reports what may have changed while the reader saw nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use readerkit::device::{AtrBuffer, Device, Sleep};
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::platform::Platform;
use readerkit::{CardState, Failure, ReaderFunctions, Status};
use readerkit_testkit::client::*;
use readerkit_testkit::memory::*;

/// A card inserted and powered (cold reset).
fn insert_and_power<P: Platform, const E: usize>(dev: &Device<P, MemReader, E>) {
    dev.card_inserted();
    power_up(dev).unwrap();
}

#[test]
fn suspend_powers_the_card_down_and_resume_reports_a_possible_swap() {
    let dev = device();
    assert_eq!(dev.suspend(), Ok(false), "no card: nothing to power down");
    assert_eq!(dev.sleep_state(), Sleep::Asleep { card_before: false });
    dev.resume(false);
    assert_eq!(dev.state(), CardState::Absent);
    dev.card_inserted();
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::ColdReset, &mut atr).unwrap();
    let insertions = dev.card_insertions();
    // A tracking request for the removal, pending across the sleep.
    let (outcome, _) = call(&dev, Ioctl::IsAbsent, &[], 0);
    assert_eq!(outcome, readerkit::Outcome::Pending);
    assert_eq!(dev.suspend(), Ok(true), "a card was in");
    assert_eq!(
        dev.state(),
        CardState::Swallowed,
        "powered down, still there"
    );
    assert_eq!(dev.with_driver(|r| r.calls.last().copied()), Some("power"));
    assert!(dev.platform().completions().is_empty(), "still pending");
    assert!(dev.asleep());
    assert_eq!(dev.sleep_state(), Sleep::Asleep { card_before: true });
    // Woken with a card in: the old one counts as removed, a new one as inserted.
    dev.resume(true);
    assert!(!dev.asleep());
    assert!(dev.state().card_present());
    assert!(dev.card_capabilities().is_none(), "unpowered, no ATR");
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
    assert_eq!(dev.platform().completions(), [Status::Success]);
    // Woken without the card it had: absent. Without a card before and after: no event.
    assert_eq!(dev.suspend(), Ok(true));
    dev.resume(false);
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(dev.suspend(), Ok(false));
    assert_eq!(dev.sleep_state(), Sleep::Asleep { card_before: false });
    dev.resume(false);
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
}

/// A card that comes in after suspend read the state (reported as the reader went
/// to sleep, or by a driver that still reports while asleep) is held by the device
/// but was not in `card_before`: waking with a card in still takes it as possibly
/// swapped: its removal is reported and the card counts as a new one.
#[test]
fn a_card_inserted_after_suspend_is_taken_as_swapped_on_waking() {
    let dev = device();
    assert_eq!(dev.suspend(), Ok(false), "no card when it went to sleep");
    dev.card_inserted();
    assert!(dev.state().card_present());
    let insertions = dev.card_insertions();
    let (outcome, _) = call(&dev, Ioctl::IsAbsent, &[], 0);
    assert_eq!(outcome.status(), Some(Status::DeviceNotReady), "asleep");
    dev.resume(true);
    assert_eq!(
        dev.card_insertions(),
        insertions.wrapping_add(1),
        "a new card"
    );
    assert!(dev.state().card_present());
    // Woken without it: absent.
    assert_eq!(dev.suspend(), Ok(true));
    dev.resume(false);
    assert_eq!(dev.state(), CardState::Absent);
}

#[test]
fn a_second_suspend_does_nothing_and_answers_as_the_first() {
    let dev = device();
    insert_and_power(&dev);
    assert_eq!(dev.suspend(), Ok(true));
    assert_eq!(dev.with_driver(|r| r.calls.clone()), ["power", "power"]);
    // A card swapped while asleep (a driver that still reports): a second
    // suspend neither powers it down nor forgets the first answer.
    dev.card_removed();
    dev.card_inserted();
    let calls = dev.with_driver(|r| r.calls.len());
    assert_eq!(dev.suspend(), Ok(true), "as the first answered");
    assert_eq!(dev.with_driver(|r| r.calls.len()), calls, "no power-down");
    assert_eq!(dev.sleep_state(), Sleep::Asleep { card_before: true });
    // One resume wakes it; the removal is reported once.
    let insertions = dev.card_insertions();
    dev.resume(true);
    assert!(!dev.asleep());
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
}

#[test]
fn resume_without_a_suspend_reports_nothing() {
    let dev = device();
    insert_and_power(&dev);
    let (before, insertions) = (dev.state(), dev.card_insertions());
    let (outcome, _) = call(&dev, Ioctl::IsAbsent, &[], 0);
    assert_eq!(outcome, readerkit::Outcome::Pending);
    // Awake: no removal, no insertion, the card keeps its power and ATR.
    dev.resume(true);
    dev.resume(false);
    assert_eq!(dev.state(), before);
    assert!(dev.card_capabilities().is_some(), "its ATR kept");
    assert_eq!(dev.card_insertions(), insertions);
    assert!(
        dev.platform().completions().is_empty(),
        "IS_ABSENT still waits"
    );
    // A second resume after a suspend does nothing either.
    assert_eq!(dev.suspend(), Ok(true));
    dev.resume(true);
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
    dev.resume(false);
    assert!(dev.state().card_present(), "no second removal");
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
}

/// [`device`] with a card inserted and powered, whose POWER callback ([`power`])
/// then fails a power-down with `failure` ([`MemReader::power_down_status`]).
fn powered_failing_power_down(failure: Failure) -> TestDevice {
    let dev = device();
    insert_and_power(&dev);
    dev.with_driver(|r| r.power_down_status = Some(failure));
    dev
}

#[test]
fn suspend_reports_a_failing_power_down_instead_of_a_card_powered_down() {
    // The reader is busy.
    let dev = powered_failing_power_down(Failure::DeviceBusy);
    // A tracking request for the removal, pending across the sleep.
    let (outcome, _) = call(&dev, Ioctl::IsAbsent, &[], 0);
    assert_eq!(outcome, readerkit::Outcome::Pending);
    assert_eq!(
        dev.suspend(),
        Err(Status::DeviceBusy),
        "the callback's status"
    );
    // As after any failed POWER: the card is in, unpowered, its ATR forgotten.
    assert!(dev.state().card_present());
    assert!(dev.card_capabilities().is_none());
    // Asleep all the same, with the card taken as in.
    assert_eq!(dev.sleep_state(), Sleep::Asleep { card_before: true });
    assert_eq!(dev.suspend(), Ok(true), "already asleep: the card was in");
    // Waking, with or without a card, reports its removal: the pending IS_ABSENT
    // completes.
    assert!(dev.platform().completions().is_empty(), "still pending");
    dev.resume(false);
    assert!(!dev.asleep());
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(dev.platform().completions(), [Status::Success]);
}

#[test]
fn suspend_reports_a_callbacks_no_media_while_the_card_is_still_in() {
    // The callback says the card is gone, while no removal was reported.
    let dev = powered_failing_power_down(Failure::NoMedia);
    let insertions = dev.card_insertions();
    // No removal seen: the card is still in, so suspend may not say none was.
    assert_eq!(dev.suspend(), Err(Status::NoMedia), "the callback's status");
    assert!(dev.state().card_present());
    // Waking with a card (perhaps another): taken as a swap, since the failed
    // power-down left the device asleep with a card in.
    dev.resume(true);
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
}

#[test]
fn suspend_from_inside_a_callback_is_refused_and_changes_nothing() {
    // A platform that names its context, so the device knows a callback of its own.
    let dev = spin_device();
    assert_eq!(
        dev.with_driver(|_| dev.suspend()),
        Err(Status::DeviceBusy),
        "refused with no card, too"
    );
    insert_and_power(&dev);
    let before = dev.state();
    assert_eq!(dev.with_driver(|_| dev.suspend()), Err(Status::DeviceBusy));
    assert_eq!(dev.state(), before, "still powered");
    assert!(dev.card_capabilities().is_some(), "its ATR kept");
    assert_eq!(
        dev.with_driver(|r| r.calls.clone()),
        ["power"],
        "no power-down"
    );
    // Still awake: a later resume reports no removal and keeps the card powered.
    assert!(!dev.asleep());
    let insertions = dev.card_insertions();
    dev.resume(true);
    assert_eq!(dev.state(), before, "still powered after the resume");
    assert_eq!(dev.card_insertions(), insertions, "no swap reported");
    assert_eq!(
        dev.suspend(),
        Ok(true),
        "outside a callback it goes to sleep"
    );
}

#[test]
fn suspend_without_a_power_callback_reports_the_card_and_changes_nothing() {
    let dev = device_with(
        ReaderFunctions {
            power: None,
            ..all_functions()
        },
        &with_tck(ATR_T0_T1),
    );
    dev.card_inserted();
    let before = dev.state();
    assert_eq!(dev.suspend(), Ok(true), "a card was in");
    assert_eq!(dev.state(), before, "nothing to power down");
    assert!(dev.with_driver(|r| r.calls.is_empty()), "no callback ran");
}

/// Every request that needs the reader or the card, as bytes: its IOCTL and input.
fn requests_that_need_the_reader() -> Vec<(Ioctl, Vec<u8>, usize)> {
    vec![
        (Ioctl::Power, u32_input(1).to_vec(), 33),
        (Ioctl::SetProtocol, u32_input(2).to_vec(), 4),
        (
            Ioctl::Transmit,
            transmit_input(2, &[0x00, 0x84, 0x00, 0x00, 0x08]),
            64,
        ),
        (Ioctl::Eject, vec![], 0),
        (Ioctl::Swallow, vec![], 0),
        (Ioctl::Confiscate, vec![], 0),
        (Ioctl::Vendor(3500), vec![1, 2], 16),
        (
            Ioctl::SetAttribute,
            [u32_input(readerkit::attr::DEVICE_IN_USE), [1; 4]].concat(),
            0,
        ),
        (Ioctl::IsPresent, vec![], 0),
        (Ioctl::IsAbsent, vec![], 0),
    ]
}

/// The one rule of the core, for every binding: while asleep a request that
/// needs the reader or the card is refused with `DeviceNotReady` (no callback,
/// nothing changes), the read-only ones are answered, a malformed one still gets
/// its parameter error; after waking the same requests are served.
#[test]
fn requests_that_need_the_reader_are_refused_while_asleep_and_served_after() {
    let dev = device();
    insert_and_power(&dev);
    assert_eq!(select(&dev, 2), Ok(2));
    // Served awake (the card then powered again for the next one).
    for (ioctl, input, out_len) in requests_that_need_the_reader() {
        let (outcome, _) = call(&dev, ioctl, &input, out_len);
        assert_ne!(
            outcome.status(),
            Some(Status::DeviceNotReady),
            "{ioctl:?} awake"
        );
        let _ = dev.cancel_tracking();
    }
    insert_and_power(&dev);
    let errors_before = control(&dev, Ioctl::GetLastError, &[], 4);
    let completions = dev.platform().completions();
    assert_eq!(dev.suspend(), Ok(true));
    let (state, calls) = (dev.state(), dev.with_driver(|r| r.calls.len()));
    for (ioctl, input, out_len) in requests_that_need_the_reader() {
        let (outcome, out) = call(&dev, ioctl, &input, out_len);
        assert_eq!(
            outcome.status(),
            Some(Status::DeviceNotReady),
            "{ioctl:?} asleep"
        );
        assert!(out.is_empty(), "{ioctl:?}: nothing written");
    }
    // The typed client side is the same entry point.
    assert_eq!(power_up(&dev), Err(Status::DeviceNotReady));
    assert_eq!(dev.with_driver(|r| r.calls.len()), calls, "no callback ran");
    assert_eq!(dev.state(), state, "nothing changed");
    assert_eq!(dev.platform().completions(), completions, "none pended");
    // Validation first: a malformed request gets its own error.
    let (outcome, _) = call(&dev, Ioctl::Power, &[1], 33);
    assert_eq!(outcome.status(), Some(Status::InvalidParameter));
    // The read-only requests are answered from what the device keeps.
    assert_eq!(
        control(&dev, Ioctl::GetState, &[], 4),
        Ok(u32_input(CardState::Swallowed.to_windows()).to_vec()),
        "powered down for the sleep"
    );
    let name = control(
        &dev,
        Ioctl::GetAttribute,
        &u32_input(readerkit::attr::VENDOR_NAME),
        64,
    );
    assert!(name.is_ok_and(|n| !n.is_empty()), "vendor name");
    assert_eq!(
        control(&dev, Ioctl::GetLastError, &[], 4),
        errors_before,
        "a refusal while asleep is no failed request"
    );
    assert_eq!(
        control(&dev, Ioctl::GetPerfCounter, &[], 12).map(|b| b.len()),
        Ok(12)
    );
    // Awake: served again.
    dev.resume(true);
    assert!(power_up(&dev).is_ok());
    assert_eq!(select(&dev, 2), Ok(2));
    assert_eq!(
        apdu(&dev, 2, &[0x00, 0x84, 0x00, 0x00, 0x02, 0xAB, 0xCD]),
        Ok(vec![0xAB, 0xCD, 0x90, 0x00])
    );
}

/// A tracking request may not start while asleep, but one pending before
/// completes on waking when the card may have changed.
#[test]
fn tracking_pending_before_the_sleep_completes_on_waking_a_new_one_is_refused() {
    let dev = device();
    let (outcome, _) = call(&dev, Ioctl::IsPresent, &[], 0);
    assert_eq!(outcome, readerkit::Outcome::Pending);
    assert_eq!(dev.suspend(), Ok(false));
    let (outcome, _) = call(&dev, Ioctl::IsPresent, &[], 0);
    assert_eq!(outcome.status(), Some(Status::DeviceNotReady));
    assert!(dev.platform().completions().is_empty(), "still pending");
    dev.resume(true);
    assert_eq!(dev.platform().completions(), [Status::Success]);
    assert_eq!(
        dev.with_driver(|r| r.tracking_waits.len()),
        1,
        "the refused one armed nothing"
    );
}

/// A step of the driver's, for a call without one (`None`).
type SleepStep = fn(&mut MemReader);
/// A wake step of the driver's, for a call without one (`None`).
type WakeStep = fn(&mut MemReader) -> bool;

/// The driver's own sleep step ([`Device::sleep_with`]): named in the call log.
fn sleep_hook(r: &mut MemReader) {
    r.calls.push("sleep");
}

/// The driver's own wake step ([`Device::wake_with`]): named in the call log, a
/// card in after; it takes 20 ms and says when it began ([`BUSY`]).
fn slow_wake_hook(r: &mut MemReader) -> bool {
    r.calls.push("wake");
    BUSY.store(true, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(20));
    true
}

/// Set while [`slow_power`] powers the card down or [`slow_wake_hook`] runs: the
/// moment a second transition is started in the tests below.
static BUSY: AtomicBool = AtomicBool::new(false);

/// POWER whose power-down takes 20 ms and says when it began ([`BUSY`]).
fn slow_power(r: &mut MemReader, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    if action == PowerAction::PowerDown {
        BUSY.store(true, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(20));
    }
    power(r, action, atr)
}

/// Run `first` on a thread and, once it is inside its slow step ([`BUSY`]),
/// `second` on this one; both end before this returns.
fn while_busy<R: Send>(first: impl FnOnce() -> R + Send, second: impl FnOnce()) -> R {
    BUSY.store(false, Ordering::SeqCst);
    thread::scope(|s| {
        let first = s.spawn(first);
        while !BUSY.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        second();
        first.join().unwrap()
    })
}

/// The hooks run, in order.
fn hooks(dev: &TestDevice) -> Vec<&'static str> {
    dev.with_driver(|r| r.calls.clone())
        .into_iter()
        .filter(|call| matches!(*call, "sleep" | "wake"))
        .collect()
}

/// A sleep and a wake with the driver's steps, each one step against the other
/// (real threads, the second started while the first is inside its slow part): a
/// second sleep during a sleep's power-down returns only once the reader is
/// asleep (its hook run, once); a wake during it waits for it, so the hooks
/// alternate and the device ends awake after the wake hook, not asleep-hooked
/// while awake; a second wake during a wake's hook runs no second hook and
/// reports no second swap.
#[test]
fn sleep_with_and_wake_with_are_one_step_each() {
    // One test: the steps share BUSY.
    let dev = device_with(
        ReaderFunctions {
            power: Some(slow_power),
            ..all_functions()
        },
        &with_tck(ATR_T0_T1),
    );
    insert_and_power(&dev);
    let second = while_busy(
        || dev.sleep_with(Some(sleep_hook)),
        || {
            assert_eq!(dev.sleep_with(Some(sleep_hook)), Ok(true));
            assert_eq!(hooks(&dev), ["sleep"], "asleep when it returns");
        },
    );
    assert_eq!(second, Ok(true));
    assert_eq!(hooks(&dev), ["sleep"], "one sleep hook");
    let insertions = dev.card_insertions();
    while_busy(
        || dev.wake_with(Some(slow_wake_hook)).unwrap(),
        || dev.wake_with(Some(slow_wake_hook)).unwrap(),
    );
    assert_eq!(hooks(&dev), ["sleep", "wake"], "one wake hook");
    assert!(!dev.asleep());
    assert_eq!(
        dev.card_insertions(),
        insertions.wrapping_add(1),
        "one swap"
    );
    // A wake started during a sleep's power-down comes after the sleep hook.
    for round in 1..=5 {
        while_busy(
            || dev.sleep_with(Some(sleep_hook)).unwrap(),
            || dev.wake_with(Some(slow_wake_hook)).unwrap(),
        );
        assert!(!dev.asleep(), "round {round}");
        assert_eq!(hooks(&dev).len(), 2 + 2 * round, "round {round}");
        assert_eq!(hooks(&dev).last(), Some(&"wake"), "round {round}");
    }
    let log = hooks(&dev);
    assert!(
        log.chunks(2).all(|pair| pair == ["sleep", "wake"]),
        "the hooks alternate: {log:?}"
    );
}

/// Without a wake step the card the device holds is taken as in (and as
/// possibly swapped); awake, [`Device::wake_with`] and a second
/// [`Device::sleep_with`] do nothing; from inside a callback both are refused
/// busy and change nothing.
#[test]
fn wake_with_no_step_takes_the_card_held_and_both_refuse_a_callback() {
    let dev = device();
    insert_and_power(&dev);
    let insertions = dev.card_insertions();
    assert_eq!(dev.wake_with::<WakeStep>(None), Ok(()));
    assert_eq!(dev.card_insertions(), insertions, "awake: nothing");
    assert_eq!(dev.sleep_with::<SleepStep>(None), Ok(true));
    assert_eq!(dev.sleep_with(Some(sleep_hook)), Ok(true), "as the first");
    assert!(hooks(&dev).is_empty(), "asleep already: no hook");
    assert_eq!(dev.wake_with::<WakeStep>(None), Ok(()));
    assert!(!dev.asleep());
    assert!(dev.state().card_present(), "the card held is taken as in");
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));

    let dev = spin_device();
    insert_and_power(&dev);
    let busy = dev.with_driver(|_| dev.sleep_with(Some(sleep_hook)));
    assert_eq!(busy, Err(Status::DeviceBusy));
    assert!(!dev.asleep(), "still awake");
    assert_eq!(dev.suspend(), Ok(true));
    let busy = dev.with_driver(|_| dev.wake_with::<WakeStep>(None));
    assert_eq!(busy, Err(Status::DeviceBusy));
    assert!(dev.asleep(), "still asleep");
}
