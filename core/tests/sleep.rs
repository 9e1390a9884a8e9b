//! The reader's sleep and wake-up: [`Device::suspend`] powers the card down,
//! [`Device::resume`] reports what may have changed while the reader saw nothing.

use readerkit::device::{Device, Sleep};
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
    assert_eq!(dev.suspend(), Ok(true), "a card was in");
    assert_eq!(
        dev.state(),
        CardState::Swallowed,
        "powered down, still there"
    );
    assert_eq!(dev.with_driver(|r| r.calls.last().copied()), Some("power"));
    // Asleep, a tracking request for the removal waits.
    let (outcome, _) = call(&dev, Ioctl::IsAbsent, &[], 0);
    assert_eq!(outcome, readerkit::Outcome::Pending);
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
/// swapped, so a pending IS_ABSENT completes and the card counts as a new one.
#[test]
fn a_card_inserted_after_suspend_is_taken_as_swapped_on_waking() {
    let dev = device();
    assert_eq!(dev.suspend(), Ok(false), "no card when it went to sleep");
    dev.card_inserted();
    assert!(dev.state().card_present());
    let insertions = dev.card_insertions();
    let (outcome, _) = call(&dev, Ioctl::IsAbsent, &[], 0);
    assert_eq!(outcome, readerkit::Outcome::Pending);
    dev.resume(true);
    assert_eq!(
        dev.platform().completions(),
        [Status::Success],
        "the removal reported: IS_ABSENT completes"
    );
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
    // A card put in and powered while asleep (a driver that still reports):
    // a second suspend neither powers it down nor forgets the first answer.
    power_up(&dev).unwrap();
    let calls = dev.with_driver(|r| r.calls.len());
    assert_eq!(dev.suspend(), Ok(true), "as the first answered");
    assert_eq!(dev.with_driver(|r| r.calls.len()), calls, "no power-down");
    assert!(dev.state().card_powered(), "still powered");
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
    // Waking, with or without a card, reports its removal: a pending IS_ABSENT
    // completes.
    let (outcome, _) = call(&dev, Ioctl::IsAbsent, &[], 0);
    assert_eq!(outcome, readerkit::Outcome::Pending);
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
