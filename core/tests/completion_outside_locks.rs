//! `Platform::complete_tracking` is never called while a library lock is held, even
//! when the awaited event arrives while a callback runs and is applied by the
//! request that ran it.

use std::sync::Mutex as StdMutex;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{AtrBuffer, ReaderFunctions};
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::platform::Platform;
use readerkit::tracking::Wait;
use readerkit::{Device, Failure, Outcome, Status};
use readerkit_testkit::locks::{self, Counted};

/// Records each completion with the number of library locks held at that moment.
#[derive(Default)]
struct Checking {
    completions: StdMutex<Vec<(Status, u32)>>,
}

impl Platform for Checking {
    type Serial<T> = Counted<T>;
    type Short<T> = Counted<T>;

    fn complete_tracking(&self, status: Status) {
        let held = locks::held();
        self.completions.lock().unwrap().push((status, held));
    }
}

type Dev = Device<Checking, ()>;

static DEVICE: std::sync::OnceLock<Dev> = std::sync::OnceLock::new();

const ATR: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];

fn power_then_removed(_: &mut (), action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&ATR).unwrap();
    }
    // The card is pulled while the callback runs.
    DEVICE.get().unwrap().card_removed();
    Ok(())
}

fn track(_: &mut (), _: Wait) -> Result<(), Failure> {
    Ok(())
}

#[test]
fn event_during_a_callback_completes_tracking_after_the_locks_are_released() {
    let functions = ReaderFunctions {
        power: Some(power_then_removed as _),
        card_tracking: Some(track as _),
        ..ReaderFunctions::NONE
    };
    let dev = DEVICE.get_or_init(|| {
        Device::new(
            Checking::default(),
            functions,
            (),
            ReaderCapabilities::typical(),
            VendorAttributes::default(),
        )
    });
    dev.card_inserted();
    let mut none = [0u8; 0];
    assert_eq!(
        dev.control(Ioctl::IsAbsent.code(), &[], &mut none),
        Outcome::Pending
    );
    let mut atr = [0u8; 33];
    let outcome = dev.control(Ioctl::Power.code(), &1u32.to_le_bytes(), &mut atr);
    assert_eq!(
        outcome.status(),
        Some(Status::Success),
        "the ATR read before the card left is answered, not recorded"
    );
    assert_eq!(dev.state(), readerkit::CardState::Absent);
    assert_eq!(
        *dev.platform().completions.lock().unwrap(),
        vec![(Status::Success, 0)],
        "IS_ABSENT completed once, with no library lock held"
    );
}
