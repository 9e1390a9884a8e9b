//! The reader's sleep and wake-up: [`Device::suspend`] powers the card down,
//! [`Device::resume`] reports what may have changed while the reader saw nothing.

use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::{CardState, Status};
use readerkit_testkit::client::*;
use readerkit_testkit::memory::*;

#[test]
fn suspend_powers_the_card_down_and_resume_reports_a_possible_swap() {
    let dev = device();
    assert!(!dev.suspend(), "no card: nothing to power down");
    dev.card_inserted();
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::ColdReset, &mut atr).unwrap();
    let insertions = dev.card_insertions();
    assert!(dev.suspend(), "a card was in");
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
