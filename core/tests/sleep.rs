//! The reader's sleep and wake-up: [`Device::suspend`] powers the card down,
//! [`Device::resume`] reports what may have changed while the reader saw nothing.

use readerkit::device::AtrBuffer;
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::{CardState, Failure, ReaderFunctions, Status};
use readerkit_testkit::client::*;
use readerkit_testkit::memory::*;

#[test]
fn suspend_powers_the_card_down_and_resume_reports_a_possible_swap() {
    let dev = device();
    assert_eq!(dev.suspend(), Ok(false), "no card: nothing to power down");
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
    // Woken with a card in: the old one counts as removed, a new one as inserted.
    dev.resume(true, true);
    assert!(dev.state().card_present());
    assert!(dev.card_capabilities().is_none(), "unpowered, no ATR");
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
    assert_eq!(dev.platform().completions(), [Status::Success]);
    // Woken without the card it had: absent. Without a card before and after: no event.
    dev.resume(true, false);
    assert_eq!(dev.state(), CardState::Absent);
    dev.resume(false, false);
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(dev.card_insertions(), insertions.wrapping_add(1));
}

/// A POWER callback that powers the card up as [`power`] does and refuses to
/// power it down: the reader is busy.
fn power_down_busy(
    r: &mut MemReader,
    action: PowerAction,
    atr: &mut AtrBuffer,
) -> Result<(), Failure> {
    match action {
        PowerAction::PowerDown => Err(Failure::DeviceBusy),
        _ => power(r, action, atr),
    }
}

#[test]
fn suspend_reports_a_failing_power_down_instead_of_a_card_powered_down() {
    let dev = device_with(
        ReaderFunctions {
            power: Some(power_down_busy),
            ..all_functions()
        },
        &with_tck(ATR_T0_T1),
    );
    dev.card_inserted();
    dev.power_card(PowerAction::ColdReset, &mut [0; 33])
        .unwrap();
    assert_eq!(
        dev.suspend(),
        Err(Status::DeviceBusy),
        "the callback's status"
    );
    // As after any failed POWER: the card is in, unpowered, its ATR forgotten.
    assert!(dev.state().card_present());
    assert!(dev.card_capabilities().is_none());
}

/// A POWER callback that powers the card up as [`power`] does and says the card
/// is gone when asked to power it down, while no removal was reported.
fn power_down_no_media(
    r: &mut MemReader,
    action: PowerAction,
    atr: &mut AtrBuffer,
) -> Result<(), Failure> {
    match action {
        PowerAction::PowerDown => Err(Failure::NoMedia),
        _ => power(r, action, atr),
    }
}

#[test]
fn suspend_reports_a_callbacks_no_media_while_the_card_is_still_in() {
    let dev = device_with(
        ReaderFunctions {
            power: Some(power_down_no_media),
            ..all_functions()
        },
        &with_tck(ATR_T0_T1),
    );
    dev.card_inserted();
    dev.power_card(PowerAction::ColdReset, &mut [0; 33])
        .unwrap();
    let insertions = dev.card_insertions();
    // No removal seen: the card is still in, so suspend may not say none was.
    assert_eq!(dev.suspend(), Err(Status::NoMedia), "the callback's status");
    assert!(dev.state().card_present());
    // Waking with a card (perhaps another): taken as a swap, as a failed
    // power-down's caller is told (`card_before` true).
    dev.resume(true, true);
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
    dev.card_inserted();
    dev.power_card(PowerAction::ColdReset, &mut [0; 33])
        .unwrap();
    let before = dev.state();
    assert_eq!(dev.with_driver(|_| dev.suspend()), Err(Status::DeviceBusy));
    assert_eq!(dev.state(), before, "still powered");
    assert!(dev.card_capabilities().is_some(), "its ATR kept");
    assert_eq!(
        dev.with_driver(|r| r.calls.clone()),
        ["power"],
        "no power-down"
    );
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
