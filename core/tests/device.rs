//! Every IOCTL through `Device::control`: the valid path, bad buffers, wrong states,
//! absent callbacks, card tracking.

use std::cell::RefCell;

use readerkit::attr;
use readerkit::device::{ReaderFunctions, TrackingFn};
use readerkit::ioctl::{Ioctl, scard_ctl_code};
use readerkit::{CardState, Failure, Outcome, Status};
use readerkit_testkit::client::*;
use readerkit_testkit::memory::*;

const T0: u32 = 1;
const T1: u32 = 2;

fn complete(status: Status, bytes_written: usize) -> Outcome {
    Outcome::Complete {
        status,
        bytes_written,
    }
}

fn state(dev: &TestDevice) -> u32 {
    let (outcome, out) = call(dev, Ioctl::GetState, &[], 4);
    assert_eq!(outcome, complete(Status::Success, 4));
    u32::from_le_bytes(out.try_into().unwrap())
}

fn power_up(dev: &TestDevice) -> Vec<u8> {
    let (outcome, atr) = call(dev, Ioctl::Power, &u32_input(1), 33);
    assert_eq!(status_of(outcome), Status::Success);
    atr
}

fn select(dev: &TestDevice, mask: u32) -> (Outcome, Vec<u8>) {
    call(dev, Ioctl::SetProtocol, &u32_input(mask), 4)
}

/// A request without input or output (IS_PRESENT, IS_ABSENT, EJECT, SWALLOW,
/// CONFISCATE): how it ends.
fn bare_call(dev: &TestDevice, ioctl: Ioctl) -> Outcome {
    call(dev, ioctl, &[], 0).0
}

/// A device whose card-tracking callback is `tracking`.
fn device_tracking_with(tracking: Option<TrackingFn<MemReader>>) -> TestDevice {
    device_with(
        ReaderFunctions {
            card_tracking: tracking,
            ..all_functions()
        },
        &[],
    )
}

/// A device with `functions` and a card (T=0 and T=1) inserted, not powered.
fn device_with_card(functions: ReaderFunctions<MemReader>) -> TestDevice {
    let dev = device_with(functions, &with_tck(ATR_T0_T1));
    dev.card_inserted();
    dev
}

/// Everything a refused request must leave untouched.
fn observable(dev: &TestDevice) -> (u32, Vec<u8>, Vec<u8>, Vec<u8>, Vec<&'static str>) {
    let (_, atr) = call(dev, Ioctl::GetAttribute, &u32_input(attr::ATR_STRING), 64);
    let (_, last) = call(dev, Ioctl::GetLastError, &[], 4);
    let (_, perf) = call(dev, Ioctl::GetPerfCounter, &[], 12);
    let calls = dev.with_driver(|r| r.calls.clone());
    (state(dev), atr, last, perf, calls)
}

#[test]
fn get_state_follows_insertion_and_removal() {
    let dev = device();
    assert_eq!(state(&dev), 1, "absent");
    dev.card_inserted();
    assert_eq!(
        state(&dev),
        3,
        "swallowed: the reader has no swallow mechanism"
    );
    power_up(&dev);
    assert_eq!(state(&dev), 5, "negotiable");
    dev.card_removed();
    assert_eq!(state(&dev), 1);
    let (outcome, _) = call(&dev, Ioctl::GetState, &[], 3);
    assert_eq!(outcome, complete(Status::BufferTooSmall, 0));
}

#[test]
fn power_up_parses_the_atr_and_sets_the_mode() {
    let dev = device();
    let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(1), 33);
    assert_eq!(outcome, complete(Status::NoMedia, 0));
    dev.card_inserted();
    let atr = power_up(&dev);
    assert_eq!(atr, with_tck(ATR_T0_T1));
    assert_eq!(dev.state(), CardState::Negotiable);
    let caps = dev.card_capabilities().unwrap();
    assert_eq!(caps.parameters.ifsc, 254);
    assert_eq!(caps.selected, None);

    let specific = device_with(all_functions(), &with_tck(ATR_SPECIFIC_T1));
    specific.card_inserted();
    power_up(&specific);
    assert_eq!(specific.state(), CardState::Specific);
    assert_eq!(
        specific.card_capabilities().unwrap().selected,
        Some(readerkit::Protocol::T1)
    );

    let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(0), 0);
    assert_eq!(outcome, complete(Status::Success, 0));
    assert_eq!(dev.state(), CardState::Swallowed);
    assert_eq!(dev.card_capabilities(), None);
    // Warm reset works too.
    let (outcome, atr) = call(&dev, Ioctl::Power, &u32_input(2), 40);
    assert_eq!(outcome, complete(Status::Success, 9));
    assert_eq!(atr.len(), 9);
}

#[test]
fn power_refusals_change_nothing() {
    let dev = device();
    dev.card_inserted();
    power_up(&dev);
    let before = observable(&dev);
    for (input, out_len, status) in [
        (&[][..], 33, Status::InvalidParameter),
        (&[1, 0, 0][..], 33, Status::InvalidParameter),
        (&[3, 0, 0, 0][..], 33, Status::InvalidParameter),
        (&[1, 0, 0, 0][..], 32, Status::BufferTooSmall),
        (&[2, 0, 0, 0][..], 0, Status::BufferTooSmall),
    ] {
        let (outcome, _) = call(&dev, Ioctl::Power, input, out_len);
        assert_eq!(outcome, complete(status, 0), "{input:?} / {out_len}");
    }
    assert_eq!(observable(&dev), before);
}

#[test]
fn unusable_atrs_are_unrecognized_media() {
    let mut bad_tck = with_tck(ATR_T0_T1);
    bad_tck[8] ^= 0xFF;
    for atr in [
        &bad_tck[..],
        &[0x3B, 0x00, 0x00][..],
        &[0x42, 0x00][..],
        &[0x3B, 0x10, 0x71][..],
    ] {
        let dev = device_with(all_functions(), atr);
        dev.card_inserted();
        let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(1), 33);
        assert_eq!(
            outcome,
            complete(Status::UnrecognizedMedia, 0),
            "{atr:02X?}"
        );
        assert_eq!(dev.state(), CardState::Powered);
        let (outcome, raw) = call(&dev, Ioctl::GetAttribute, &u32_input(attr::ATR_STRING), 64);
        assert_eq!(status_of(outcome), Status::Success);
        assert_eq!(raw, atr, "the raw ATR stays readable");
        let (outcome, _) = select(&dev, T0 | T1);
        assert_eq!(outcome, complete(Status::InvalidDeviceState, 0));
    }
}

#[test]
fn set_protocol_prefers_t1_and_checks_state() {
    let dev = device();
    assert_eq!(select(&dev, T1).0, complete(Status::NoMedia, 0));
    dev.card_inserted();
    assert_eq!(
        select(&dev, T1).0,
        complete(Status::InvalidDeviceState, 0),
        "not reset"
    );
    power_up(&dev);
    assert_eq!(select(&dev, 0).0, complete(Status::InvalidDeviceRequest, 0));
    assert_eq!(
        select(&dev, 0x8000_0000).0,
        complete(Status::InvalidDeviceRequest, 0)
    );
    assert_eq!(
        call(&dev, Ioctl::SetProtocol, &[2, 0], 4).0,
        complete(Status::InvalidParameter, 0)
    );
    assert_eq!(
        call(&dev, Ioctl::SetProtocol, &u32_input(T1), 3).0,
        complete(Status::BufferTooSmall, 0)
    );
    assert_eq!(
        select(&dev, 0x0001_0000).0,
        complete(Status::NotSupported, 0),
        "raw not offered"
    );
    assert_eq!(
        dev.state(),
        CardState::Negotiable,
        "refusals keep the state"
    );

    let (outcome, out) = select(&dev, T0 | T1);
    assert_eq!(outcome, complete(Status::Success, 4));
    assert_eq!(out, u32_input(T1));
    assert_eq!(dev.state(), CardState::Specific);
    // TA1 = 96 (F 512, D 32) is more than this reader's 115200 bit/s allows; the
    // fastest it can run is D = 16 at 3.58 MHz (111 875 bit/s): PPS1 = 95.
    let negotiation = dev.with_driver(|r| r.last_protocol_call).unwrap();
    assert_eq!(
        negotiation.request.unwrap().as_bytes(),
        [0xFF, 0x11, 0x95, 0x7B]
    );
    assert_eq!(
        negotiation.timing,
        readerkit::timing::Timing {
            f: 512,
            d: 16,
            clock_khz: 3580
        }
    );
    let (_, out) = call(&dev, Ioctl::GetAttribute, &u32_input(attr::CURRENT_D), 4);
    assert_eq!(out, 16u32.to_le_bytes());
    let (_, out) = call(
        &dev,
        Ioctl::GetAttribute,
        &u32_input(attr::CURRENT_PROTOCOL_TYPE),
        4,
    );
    assert_eq!(out, u32_input(T1));
    // Once negotiated, the card stays in T=1 until reset.
    assert_eq!(select(&dev, T0).0, complete(Status::NotSupported, 0));
    assert_eq!(select(&dev, T1).0, complete(Status::Success, 4));
    assert_eq!(
        dev.with_driver(|r| r.last_protocol_call).unwrap().request,
        None
    );
}

#[test]
fn set_protocol_default_bit_and_specific_mode() {
    let dev = device();
    dev.card_inserted();
    power_up(&dev);
    let (outcome, out) = select(&dev, 0x8000_0001);
    assert_eq!(outcome, complete(Status::Success, 4));
    assert_eq!(out, u32_input(T0));
    let negotiation = dev.with_driver(|r| r.last_protocol_call).unwrap();
    assert_eq!(negotiation.request, None, "T=0 is first: no PPS");
    assert_eq!(
        negotiation.timing,
        readerkit::timing::Timing::default_at(3580)
    );

    let specific = device_with(all_functions(), &with_tck(ATR_SPECIFIC_T1));
    specific.card_inserted();
    power_up(&specific);
    assert_eq!(select(&specific, T0).0, complete(Status::NotSupported, 0));
    assert_eq!(select(&specific, T0 | T1).0, complete(Status::Success, 4));
}

#[test]
fn transmit_paths() {
    let dev = device();
    let apdu = [0x00, 0xB0, 0x00, 0x00, 0x02, 0xAB, 0xCD];
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 64).0,
        complete(Status::NoMedia, 0)
    );
    dev.card_inserted();
    power_up(&dev);
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 64).0,
        complete(Status::InvalidDeviceState, 0),
        "no protocol selected"
    );
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T0, &apdu), 64).0,
        complete(Status::InvalidParameter, 0),
        "header protocol differs from the selected one"
    );
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 9).0,
        complete(Status::BufferTooSmall, 0)
    );
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu[..3]), 64).0,
        complete(Status::InvalidParameter, 0)
    );
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu)[..7], 64).0,
        complete(Status::InvalidParameter, 0)
    );

    // Lc says 8 bytes follow, one does (the Windows HLK case).
    assert_eq!(
        call(
            &dev,
            Ioctl::Transmit,
            &transmit_input(T1, &[0x00, 0xA4, 0x00, 0x00, 0x08, 0x00]),
            64
        )
        .0,
        complete(Status::InvalidParameter, 0)
    );
    assert_eq!(
        dev.with_driver(|r| r.calls.iter().filter(|c| **c == "transmit").count()),
        0
    );
    let (outcome, out) = call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 64);
    assert_eq!(outcome, complete(Status::Success, 12));
    assert_eq!(out, [2, 0, 0, 0, 8, 0, 0, 0, 0xAB, 0xCD, 0x90, 0x00]);

    // The reply does not fit: the callback says so.
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 11).0,
        complete(Status::BufferTooSmall, 0)
    );
    dev.with_driver(|r| r.transmit_status = Some(Failure::IoTimeout));
    assert_eq!(
        call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 64).0,
        complete(Status::IoTimeout, 0)
    );
    let (_, last) = call(&dev, Ioctl::GetLastError, &[], 4);
    assert_eq!(last, 121u32.to_le_bytes(), "ERROR_SEM_TIMEOUT");
    let (_, perf) = call(&dev, Ioctl::GetPerfCounter, &[], 12);
    assert_eq!(perf, [1, 0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0]);

    let no_transmit = device_with_card(ReaderFunctions {
        transmit: None,
        ..all_functions()
    });
    power_up(&no_transmit);
    assert_eq!(status_of(select(&no_transmit, T1).0), Status::Success);
    assert_eq!(
        call(
            &no_transmit,
            Ioctl::Transmit,
            &transmit_input(T1, &apdu),
            64
        )
        .0,
        complete(Status::NotSupported, 0)
    );
}

#[test]
fn get_attribute_answers_from_capabilities() {
    let dev = device();
    let get = |tag: u32, len: usize| call(&dev, Ioctl::GetAttribute, &u32_input(tag), len);
    assert_eq!(get(attr::VENDOR_NAME, 64).1, b"readerkit");
    assert_eq!(get(attr::VENDOR_IFD_TYPE, 64).1, b"In-memory reader");
    assert_eq!(
        get(attr::VENDOR_IFD_VERSION, 4).1,
        0x0102_0003u32.to_le_bytes()
    );
    assert_eq!(
        get(attr::VENDOR_IFD_SERIAL_NO, 64).0,
        complete(Status::NotSupported, 0)
    );
    assert_eq!(get(attr::CHANNEL_ID, 4).1, 0x0001_0000u32.to_le_bytes());
    assert_eq!(get(attr::PROTOCOL_TYPES, 4).1, 3u32.to_le_bytes());
    assert_eq!(get(attr::DEFAULT_CLK, 4).1, 3580u32.to_le_bytes());
    assert_eq!(get(attr::MAX_CLK, 4).1, 4000u32.to_le_bytes());
    assert_eq!(get(attr::DEFAULT_DATA_RATE, 4).1, 9600u32.to_le_bytes());
    assert_eq!(get(attr::MAX_DATA_RATE, 4).1, 115_200u32.to_le_bytes());
    assert_eq!(get(attr::MAX_IFSD, 4).1, 254u32.to_le_bytes());
    assert_eq!(get(attr::POWER_MGMT_SUPPORT, 4).1, 1u32.to_le_bytes());
    assert_eq!(get(attr::CHARACTERISTICS, 4).1, 0u32.to_le_bytes());
    assert_eq!(get(attr::DEVICE_UNIT, 4).1, 0u32.to_le_bytes());
    assert_eq!(get(attr::ICC_PRESENCE, 1).1, [0]);
    assert_eq!(get(attr::ICC_INTERFACE_STATUS, 1).1, [0]);
    assert_eq!(get(attr::ATR_STRING, 64).0, complete(Status::NoMedia, 0));
    assert_eq!(get(attr::CURRENT_F, 4).0, complete(Status::NoMedia, 0));
    assert_eq!(get(0x1234_5678, 64).0, complete(Status::NotSupported, 0));
    assert_eq!(
        get(attr::VENDOR_NAME, 8).0,
        complete(Status::BufferTooSmall, 0)
    );
    assert_eq!(get(attr::MAX_CLK, 3).0, complete(Status::BufferTooSmall, 0));
    assert_eq!(
        call(&dev, Ioctl::GetAttribute, &[1, 1, 0], 64).0,
        complete(Status::InvalidParameter, 0)
    );

    dev.card_inserted();
    assert_eq!(get(attr::ICC_PRESENCE, 1).1, [2]);
    assert_eq!(
        get(attr::ATR_STRING, 64).0,
        complete(Status::InvalidDeviceState, 0)
    );
    power_up(&dev);
    assert_eq!(get(attr::ATR_STRING, 64).1, with_tck(ATR_T0_T1));
    assert_eq!(
        get(attr::ATR_STRING, 8).0,
        complete(Status::BufferTooSmall, 0)
    );
    assert_eq!(get(attr::ICC_INTERFACE_STATUS, 1).1, [1]);
    assert_eq!(get(attr::ICC_TYPE_PER_ATR, 1).1, [1]);
    assert_eq!(get(attr::CURRENT_PROTOCOL_TYPE, 4).1, 0u32.to_le_bytes());
    assert_eq!(get(attr::CURRENT_F, 4).1, 372u32.to_le_bytes());
    assert_eq!(get(attr::CURRENT_D, 4).1, 1u32.to_le_bytes());
    assert_eq!(get(attr::CURRENT_CLK, 4).1, 3580u32.to_le_bytes());
    assert_eq!(get(attr::CURRENT_N, 4).1, 0u32.to_le_bytes());
    assert_eq!(get(attr::CURRENT_W, 4).1, 10u32.to_le_bytes());
    assert_eq!(get(attr::CURRENT_IFSC, 4).1, 254u32.to_le_bytes());
    assert_eq!(get(attr::CURRENT_EBC_ENCODING, 4).1, 0u32.to_le_bytes());
    // BWI 4 at 3.58 MHz: 11 etu + 16 x 960 x 372 clock cycles = 1 597 211 µs.
    assert_eq!(get(attr::CURRENT_BWT, 4).1, 1_597_211u32.to_le_bytes());
    // CWI 5: 43 etu of 372 cycles = 4 469 µs (rounded up).
    assert_eq!(get(attr::CURRENT_CWT, 4).1, 4_469u32.to_le_bytes());
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    assert_eq!(get(attr::CURRENT_IFSD, 4).1, 254u32.to_le_bytes());
}

#[test]
fn set_attribute_accepts_only_settable_tags() {
    let dev = device();
    let set = |input: &[u8]| call(&dev, Ioctl::SetAttribute, input, 0).0;
    let mut in_use = u32_input(attr::DEVICE_IN_USE).to_vec();
    in_use.extend_from_slice(&[1, 0, 0, 0]);
    assert_eq!(set(&in_use), complete(Status::Success, 0));
    let mut suppress = u32_input(attr::SUPPRESS_T1_IFS_REQUEST).to_vec();
    assert_eq!(
        set(&suppress),
        complete(Status::InvalidParameter, 0),
        "no value"
    );
    suppress.extend_from_slice(&[1, 0, 0, 0]);
    assert_eq!(set(&suppress), complete(Status::Success, 0));
    let mut name = u32_input(attr::VENDOR_NAME).to_vec();
    name.extend_from_slice(b"evil");
    assert_eq!(set(&name), complete(Status::NotSupported, 0), "read-only");
    assert_eq!(set(&[7, 0]), complete(Status::InvalidParameter, 0));
    assert_eq!(
        call(&dev, Ioctl::GetAttribute, &u32_input(attr::VENDOR_NAME), 64).1,
        b"readerkit"
    );
}

#[test]
fn tracking_pends_completes_and_cancels() {
    let dev = device();
    assert_eq!(
        bare_call(&dev, Ioctl::IsAbsent),
        complete(Status::Success, 0)
    );
    assert_eq!(bare_call(&dev, Ioctl::IsPresent), Outcome::Pending);
    assert_eq!(
        bare_call(&dev, Ioctl::IsPresent),
        complete(Status::DeviceBusy, 0)
    );
    assert_eq!(
        bare_call(&dev, Ioctl::IsAbsent),
        complete(Status::Success, 0),
        "already absent"
    );
    assert!(dev.platform().completions().is_empty());
    dev.card_inserted();
    dev.process_events();
    assert_eq!(dev.platform().completions(), [Status::Success]);
    dev.card_removed();
    dev.card_inserted();
    dev.process_events();
    assert_eq!(
        dev.platform().completions(),
        [Status::Success],
        "exactly once"
    );

    assert_eq!(
        bare_call(&dev, Ioctl::IsPresent),
        complete(Status::Success, 0)
    );
    assert_eq!(bare_call(&dev, Ioctl::IsAbsent), Outcome::Pending);
    assert!(dev.cancel_tracking());
    assert!(!dev.cancel_tracking());
    assert_eq!(
        dev.platform().completions(),
        [Status::Success, Status::Cancelled]
    );

    // Removal while an IS_ABSENT pends completes it.
    assert_eq!(bare_call(&dev, Ioctl::IsAbsent), Outcome::Pending);
    power_up(&dev);
    dev.card_removed();
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(
        dev.platform().completions(),
        [Status::Success, Status::Cancelled, Status::Success]
    );
    let waits = dev.with_driver(|r| r.tracking_waits.clone());
    assert_eq!(waits.len(), 3);

    let no_tracking = device_tracking_with(None);
    assert_eq!(
        bare_call(&no_tracking, Ioctl::IsPresent),
        complete(Status::NotSupported, 0)
    );
    assert_eq!(
        bare_call(&no_tracking, Ioctl::IsAbsent),
        complete(Status::Success, 0)
    );
}

#[test]
fn failing_tracking_callback_frees_the_slot() {
    fn refuse(_: &mut MemReader, _: readerkit::tracking::Wait) -> Result<(), Failure> {
        Err(Failure::InvalidDeviceState)
    }
    let dev = device_tracking_with(Some(refuse));
    // Refused again, not DeviceBusy: the first refusal freed the slot.
    for attempt in 1..=2 {
        assert_eq!(
            bare_call(&dev, Ioctl::IsPresent),
            complete(Status::InvalidDeviceState, 0),
            "attempt {attempt}"
        );
    }
}

#[test]
fn event_during_the_tracking_callback_completes_at_once() {
    fn insert_now(r: &mut MemReader, _: readerkit::tracking::Wait) -> Result<(), Failure> {
        r.calls.push("tracking");
        // The card arrives while the library arms the request.
        let dev = DEVICE.with(|d| *d.borrow());
        // SAFETY-free: the device is a leaked static for this test.
        dev.unwrap().card_inserted();
        Ok(())
    }
    thread_local! {
        static DEVICE: RefCell<Option<&'static TestDevice>> = const { RefCell::new(None) };
    }
    let dev: &'static TestDevice = Box::leak(Box::new(device_tracking_with(Some(insert_now))));
    DEVICE.with(|d| *d.borrow_mut() = Some(dev));
    assert_eq!(
        bare_call(dev, Ioctl::IsPresent),
        complete(Status::Success, 0)
    );
    assert!(
        dev.platform().completions().is_empty(),
        "completed inline, not through the platform"
    );
    assert_eq!(
        bare_call(dev, Ioctl::IsAbsent),
        Outcome::Pending,
        "slot is free again"
    );
}

#[test]
fn removal_forgets_the_card_and_reinsertion_starts_fresh() {
    let dev = device();
    dev.card_inserted();
    power_up(&dev);
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    dev.card_removed();
    assert_eq!(dev.card_capabilities(), None);
    assert_eq!(
        call(&dev, Ioctl::GetAttribute, &u32_input(attr::ATR_STRING), 64).0,
        complete(Status::NoMedia, 0)
    );
    dev.card_inserted();
    assert_eq!(dev.state(), CardState::Swallowed);
    assert_eq!(
        call(&dev, Ioctl::GetAttribute, &u32_input(attr::ATR_STRING), 64).0,
        complete(Status::InvalidDeviceState, 0)
    );
    assert_eq!(
        call(
            &dev,
            Ioctl::Transmit,
            &transmit_input(T1, &[0, 0x84, 0, 0, 8]),
            64
        )
        .0,
        complete(Status::InvalidDeviceState, 0)
    );
    // A fault deactivates a powered card but leaves it present.
    power_up(&dev);
    dev.card_fault();
    assert_eq!(dev.state(), CardState::Swallowed);
    assert_eq!(dev.card_capabilities(), None);
}

#[test]
fn removal_during_a_power_callback_keeps_the_atr_but_records_nothing() {
    fn power_then_vanish(
        r: &mut MemReader,
        action: readerkit::ioctl::PowerAction,
        atr: &mut readerkit::device::AtrBuffer,
    ) -> Result<(), Failure> {
        let result = power(r, action, atr);
        VANISH.with(|d| d.borrow().unwrap().card_removed());
        result
    }
    thread_local! {
        static VANISH: RefCell<Option<&'static TestDevice>> = const { RefCell::new(None) };
    }
    let dev: &'static TestDevice = Box::leak(Box::new(device_with(
        ReaderFunctions {
            power: Some(power_then_vanish),
            ..all_functions()
        },
        &with_tck(ATR_T0_T1),
    )));
    VANISH.with(|d| *d.borrow_mut() = Some(dev));
    dev.card_inserted();
    let (outcome, atr) = call(dev, Ioctl::Power, &u32_input(1), 33);
    assert_eq!(
        outcome,
        complete(Status::Success, ATR_T0_T1.len()),
        "the card answered before it left (the rule TRANSMIT follows too)"
    );
    assert_eq!(atr, with_tck(ATR_T0_T1));
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(
        dev.card_capabilities(),
        None,
        "the ATR of a removed card is never committed"
    );
}

#[test]
fn a_warm_reset_of_a_card_not_powered_reaches_the_driver_as_a_cold_one() {
    use readerkit::ioctl::PowerAction;
    thread_local! {
        static ASKED: RefCell<Vec<PowerAction>> = const { RefCell::new(Vec::new()) };
    }
    fn power_noted(
        r: &mut MemReader,
        action: PowerAction,
        atr: &mut readerkit::device::AtrBuffer,
    ) -> Result<(), Failure> {
        ASKED.with(|asked| asked.borrow_mut().push(action));
        power(r, action, atr)
    }
    let dev = device_with_card(ReaderFunctions {
        power: Some(power_noted),
        ..all_functions()
    });
    let warm = u32_input(2);
    let down = u32_input(0);
    for (input, state) in [
        // Never powered, then powered, then powered down.
        (&warm, CardState::Negotiable),
        (&warm, CardState::Negotiable),
        (&down, CardState::Swallowed),
        (&warm, CardState::Negotiable),
    ] {
        let (outcome, _) = call(&dev, Ioctl::Power, input, 33);
        assert_eq!(status_of(outcome), Status::Success);
        assert_eq!(dev.state(), state);
    }
    let asked = ASKED.with(|asked| asked.borrow().clone());
    assert_eq!(
        asked,
        [
            PowerAction::ColdReset,
            PowerAction::WarmReset,
            PowerAction::PowerDown,
            PowerAction::ColdReset,
        ]
    );
}

/// A TRANSMIT callback that says it deactivated the card yet claims success: the
/// request fails, and the device takes the card for unpowered (as after a POWER
/// down), so the next TRANSMIT is refused without reaching the driver. The card
/// is lost ([`Device::card_lost`]) until a power request, and after a removal
/// and an insertion it is not.
#[test]
fn a_callback_that_deactivated_the_card_fails_its_request() {
    fn transmit_deactivating(
        r: &mut MemReader,
        call: &readerkit::device::TransmitCall<'_>,
        reply: &mut [u8],
    ) -> Result<usize, Failure> {
        call.deactivation.report();
        transmit(r, call, reply)
    }
    let dev = device_with_card(ReaderFunctions {
        transmit: Some(transmit_deactivating),
        ..all_functions()
    });
    power_up(&dev);
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    let apdu = [0x00, 0xB0, 0x00, 0x00, 0x02, 0xAB, 0xCD];
    for _ in 0..2 {
        assert_eq!(
            call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 64).0,
            complete(Status::InvalidDeviceState, 0)
        );
        assert_eq!(dev.state(), CardState::Swallowed);
        assert!(dev.card_lost());
    }
    assert_eq!(
        dev.with_driver(|r| r.calls.iter().filter(|c| **c == "transmit").count()),
        1
    );
    power_up(&dev);
    assert!(!dev.card_lost(), "a reset finds the card again");
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    let _ = call(&dev, Ioctl::Transmit, &transmit_input(T1, &apdu), 64);
    assert!(dev.card_lost());
    dev.card_removed();
    assert!(!dev.card_lost(), "no card, none lost");
    dev.card_inserted();
    assert!(!dev.card_lost(), "a new card is not lost");
}

/// The DWORD attribute `tag` of the device, or the status it is refused with.
fn dword_attribute(dev: &TestDevice, tag: u32) -> Result<u32, Status> {
    let (outcome, out) = call(dev, Ioctl::GetAttribute, &tag.to_le_bytes(), 4);
    match status_of(outcome) {
        Status::Success => Ok(u32::from_le_bytes(out.try_into().unwrap())),
        status => Err(status),
    }
}

/// A TRANSMIT callback that reports the field sizes the command's P1 (IFSC) and
/// P2 (IFSD) name (0: none), failing the request if the report is refused; then
/// answers as [`transmit`] does (failing with [`MemReader::transmit_status`]).
/// With CLA = FF it also says it deactivated the card.
fn transmit_reporting_sizes(
    r: &mut MemReader,
    call: &readerkit::device::TransmitCall<'_>,
    reply: &mut [u8],
) -> Result<usize, Failure> {
    if call.apdu[2] != 0 {
        call.field_sizes.report_ifsc(call.apdu[2])?;
    }
    if call.apdu[3] != 0 {
        call.field_sizes.report_ifsd(call.apdu[3])?;
    }
    if call.apdu[0] == 0xFF {
        call.deactivation.report();
    }
    transmit(r, call, reply)
}

/// ISO/IEC 7816-3:2006 11.4.2: the IFSC and IFSD in force are the ones the
/// TRANSMIT callback reports (the card's S(IFS request), the card's answer to the
/// reader's), on success and failure alike, until the next report or reset;
/// `SCARD_ATTR_CURRENT_IFSC` / `CURRENT_IFSD` answer them (the card's
/// capabilities keep the ATR's). A size outside 1..=254 is refused and changes nothing; a
/// callback that deactivated the card leaves no sizes behind.
#[test]
fn transmit_callbacks_report_the_field_sizes_in_force() {
    let dev = device_with_card(ReaderFunctions {
        transmit: Some(transmit_reporting_sizes),
        ..all_functions()
    });
    let sizes = |dev: &TestDevice| {
        (
            dword_attribute(dev, attr::CURRENT_IFSC),
            dword_attribute(dev, attr::CURRENT_IFSD),
        )
    };
    let send = |dev: &TestDevice, apdu: &[u8]| {
        status_of(call(dev, Ioctl::Transmit, &transmit_input(T1, apdu), 64).0)
    };
    power_up(&dev);
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    // TA3 = FE: the ATR's IFSC; the IFSD the typical reader announces.
    assert_eq!(sizes(&dev), (Ok(254), Ok(254)));
    assert_eq!(send(&dev, &[0x00, 0xB0, 0x00, 0x00]), Status::Success);
    assert_eq!(sizes(&dev), (Ok(254), Ok(254)), "nothing reported");
    assert_eq!(send(&dev, &[0x00, 0xB0, 16, 0x00]), Status::Success);
    assert_eq!(sizes(&dev), (Ok(16), Ok(254)));
    assert_eq!(
        dev.card_capabilities().unwrap().parameters.ifsc,
        254,
        "the ATR's, unchanged"
    );
    assert_eq!(send(&dev, &[0x00, 0xB0, 0x00, 32]), Status::Success);
    assert_eq!(sizes(&dev), (Ok(16), Ok(32)));
    // Refused sizes: the request fails with the report's error, nothing changes.
    for bad in [[0x00, 0xB0, 255, 0x00], [0x00, 0xB0, 0x00, 255]] {
        assert_eq!(send(&dev, &bad), Status::InvalidParameter, "{bad:02X?}");
        assert_eq!(sizes(&dev), (Ok(16), Ok(32)));
    }
    // A failed exchange still changed the size: the card's S(IFS request) was
    // answered before it failed.
    dev.with_driver(|r| r.transmit_status = Some(Failure::IoTimeout));
    assert_eq!(send(&dev, &[0x00, 0xB0, 100, 0x00]), Status::IoTimeout);
    assert_eq!(sizes(&dev), (Ok(100), Ok(32)));
    dev.with_driver(|r| r.transmit_status = None);
    // A reset: the ATR's again.
    power_up(&dev);
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    assert_eq!(sizes(&dev), (Ok(254), Ok(254)));
    // A deactivated card has no sizes in force.
    assert_eq!(
        send(&dev, &[0xFF, 0xB0, 20, 20]),
        Status::InvalidDeviceState
    );
    assert_eq!(
        sizes(&dev),
        (
            Err(Status::InvalidDeviceState),
            Err(Status::InvalidDeviceState)
        )
    );
    power_up(&dev);
    assert_eq!(sizes(&dev), (Ok(254), Ok(254)));
}

/// A report takes sizes of 1 to 254 bytes only (ISO/IEC 7816-3:2006 11.4.2: 0 and
/// 255 are reserved); a refused one records nothing, not even the valid half of
/// a pair.
#[test]
fn field_size_reports_take_1_to_254_bytes_only() {
    use readerkit::caps::FieldSizes;
    use readerkit::device::FieldSizeReport;
    let report = FieldSizeReport::default();
    let initial = FieldSizes {
        ifsc: 254,
        ifsd: 254,
    };
    for bad in [0, 255] {
        assert_eq!(report.report_ifsc(bad), Err(Failure::InvalidParameter));
        assert_eq!(report.report_ifsd(bad), Err(Failure::InvalidParameter));
        let pairs = [
            FieldSizes {
                ifsc: 16,
                ifsd: bad,
            },
            FieldSizes {
                ifsc: bad,
                ifsd: 16,
            },
        ];
        for pair in pairs {
            assert_eq!(report.report(pair), Err(Failure::InvalidParameter));
        }
        assert_eq!(report.applied_to(initial), initial, "nothing recorded");
    }
    report.report(FieldSizes { ifsc: 1, ifsd: 254 }).unwrap();
    report.report_ifsd(32).unwrap();
    assert_eq!(report.applied_to(initial), FieldSizes { ifsc: 1, ifsd: 32 });
}

/// A SET_PROTOCOL starts the protocol session afresh (a driver's T=1 engine starts
/// over, as `LineReader`'s does): the sizes reported in the session before no
/// longer hold, the ATR's IFSC and the announced IFSD answer again.
#[test]
fn set_protocol_forgets_the_reported_field_sizes() {
    let dev = device_with_card(ReaderFunctions {
        transmit: Some(transmit_reporting_sizes),
        ..all_functions()
    });
    power_up(&dev);
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    let apdu = transmit_input(T1, &[0x00, 0xB0, 16, 40]);
    assert_eq!(
        status_of(call(&dev, Ioctl::Transmit, &apdu, 64).0),
        Status::Success
    );
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSC), Ok(16));
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSD), Ok(40));
    // T=1 selected again, without a reset: the callback runs, a new session.
    assert_eq!(status_of(select(&dev, T1).0), Status::Success);
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSC), Ok(254));
    assert_eq!(dword_attribute(&dev, attr::CURRENT_IFSD), Ok(254));
}

#[test]
fn vendor_ioctls_and_unknown_codes() {
    let dev = device();
    let code = scard_ctl_code(3400);
    let mut out = [0u8; 16];
    assert_eq!(
        dev.control(code, &[9, 8], &mut out),
        complete(Status::Success, 6)
    );
    assert_eq!(out[..6], [0x20, 0x35, 0x31, 0x00, 9, 8]);
    assert_eq!(
        dev.control(code, &[9, 8], &mut out[..5]),
        complete(Status::BufferTooSmall, 0)
    );
    for unknown in [
        scard_ctl_code(13),
        scard_ctl_code(2047),
        0x0022_0000,
        0xFFFF_FFFF,
    ] {
        assert_eq!(
            dev.control(unknown, &[], &mut out),
            complete(Status::InvalidDeviceRequest, 0)
        );
    }
    let none = device_with(ReaderFunctions::NONE, &[]);
    assert_eq!(
        none.control(code, &[], &mut out),
        complete(Status::NotSupported, 0)
    );
    assert_eq!(
        dev.with_driver(|r| r.calls.len()),
        2,
        "unknown codes reach no callback"
    );
}

#[test]
fn mechanisms() {
    let dev = device();
    assert_eq!(
        bare_call(&dev, Ioctl::Swallow),
        complete(Status::NotSupported, 0)
    );
    assert_eq!(bare_call(&dev, Ioctl::Eject), complete(Status::NoMedia, 0));
    dev.card_inserted();
    power_up(&dev);
    assert_eq!(bare_call(&dev, Ioctl::Eject), complete(Status::Success, 0));
    assert_eq!(dev.state(), CardState::Present);
    assert_eq!(bare_call(&dev, Ioctl::IsAbsent), Outcome::Pending);
    assert_eq!(
        bare_call(&dev, Ioctl::Confiscate),
        complete(Status::Success, 0)
    );
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(dev.platform().completions(), [Status::Success]);
}

#[test]
fn absent_callbacks_are_not_supported() {
    let dev = device_with(ReaderFunctions::NONE, &[]);
    dev.card_inserted();
    for (ioctl, input) in [
        (Ioctl::Power, u32_input(1).to_vec()),
        (Ioctl::SetProtocol, u32_input(T1).to_vec()),
        (Ioctl::Transmit, transmit_input(T1, &[0, 0xA4, 0, 0])),
        (Ioctl::Eject, vec![]),
        (Ioctl::Swallow, vec![]),
        (Ioctl::Confiscate, vec![]),
        (Ioctl::IsAbsent, vec![]),
    ] {
        assert_eq!(
            call(&dev, ioctl, &input, 64).0,
            complete(Status::NotSupported, 0),
            "{ioctl:?}"
        );
    }
    assert_eq!(dev.state(), CardState::Swallowed);
}

#[test]
fn insertions_count_new_cards_only() {
    let dev = device();
    assert_eq!(dev.card_insertions(), 0);
    dev.card_inserted();
    dev.card_inserted();
    assert_eq!(
        dev.card_insertions(),
        1,
        "a second insertion report is no new card"
    );
    dev.card_fault();
    assert_eq!(dev.card_insertions(), 1, "a fault is no new card");
    // A swap between two looks: the state is still present, the count moved.
    dev.card_removed();
    dev.card_inserted();
    assert!(dev.state().card_present());
    assert_eq!(dev.card_insertions(), 2);
}

/// SWALLOW on the in-memory reader: recorded.
fn swallow(r: &mut MemReader) -> Result<(), Failure> {
    r.calls.push("swallow");
    Ok(())
}

/// A reader with a swallow mechanism: an inserted card waits outside (Present)
/// until SWALLOW moves it into position (Swallowed). Once in position it stays
/// there when it loses power (a power-down, failed or not, or a fault): only
/// EJECT (or a removal) takes it out again.
#[test]
fn a_swallowed_card_stays_in_position_when_it_loses_power() {
    use readerkit::caps::{Mechanics, ReaderCapabilities};
    use readerkit::device::Device;
    let dev: TestDevice = Device::new(
        TestPlatform::default(),
        ReaderFunctions {
            swallow: Some(swallow),
            ..all_functions()
        },
        MemReader::new(&with_tck(ATR_T0_T1)),
        ReaderCapabilities {
            mechanics: Mechanics::SWALLOWS,
            ..ReaderCapabilities::typical()
        },
        readerkit_testkit::vendor::attributes(),
    );
    let presence = |dev: &TestDevice| {
        let (_, value) = call(dev, Ioctl::GetAttribute, &u32_input(attr::ICC_PRESENCE), 1);
        value
    };
    dev.card_inserted();
    assert_eq!(dev.state(), CardState::Present);
    assert_eq!(presence(&dev), [1], "present, not swallowed");
    assert_eq!(
        bare_call(&dev, Ioctl::Swallow),
        complete(Status::Success, 0)
    );
    assert_eq!(dev.state(), CardState::Swallowed);
    assert_eq!(presence(&dev), [2], "present and swallowed");

    // Power-down.
    power_up(&dev);
    assert_eq!(dev.state(), CardState::Negotiable);
    let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(0), 0);
    assert_eq!(outcome, complete(Status::Success, 0));
    assert_eq!(dev.state(), CardState::Swallowed, "after a power-down");
    assert_eq!(presence(&dev), [2]);

    // A hardware fault.
    power_up(&dev);
    dev.card_fault();
    assert_eq!(dev.state(), CardState::Swallowed, "after a fault");

    // A failed power-down (the card counts as unpowered).
    power_up(&dev);
    dev.with_driver(|r| r.power_down_status = Some(Failure::IoTimeout));
    let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(0), 0);
    assert_eq!(outcome, complete(Status::IoTimeout, 0));
    assert_eq!(
        dev.state(),
        CardState::Swallowed,
        "after a failed power-down"
    );

    // EJECT takes it out of position; a power-down then leaves it there.
    assert_eq!(bare_call(&dev, Ioctl::Eject), complete(Status::Success, 0));
    assert_eq!(dev.state(), CardState::Present);
    assert_eq!(presence(&dev), [1]);
    let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(0), 0);
    assert_eq!(outcome, complete(Status::IoTimeout, 0));
    assert_eq!(dev.state(), CardState::Present, "ejected, not swallowed");
}

/// `SCARD_ATTR_ICC_PRESENCE` 4: the card was confiscated. It says so from a
/// successful CONFISCATE until the next card is inserted (a removal the reader
/// reports meanwhile changes nothing); a failed CONFISCATE leaves the card as it
/// was.
#[test]
fn icc_presence_says_a_confiscated_card_was_confiscated() {
    let presence = |dev: &TestDevice| {
        let (outcome, value) = call(dev, Ioctl::GetAttribute, &u32_input(attr::ICC_PRESENCE), 1);
        assert_eq!(outcome, complete(Status::Success, 1));
        value
    };
    fn refuse(_: &mut MemReader) -> Result<(), Failure> {
        Err(Failure::IoTimeout)
    }
    let dev = device_with_card(ReaderFunctions {
        confiscate: Some(refuse),
        ..all_functions()
    });
    assert_eq!(
        bare_call(&dev, Ioctl::Confiscate),
        complete(Status::IoTimeout, 0)
    );
    assert_eq!(presence(&dev), [2], "a failed confiscation keeps the card");

    let dev = device();
    assert_eq!(presence(&dev), [0]);
    dev.card_inserted();
    power_up(&dev);
    assert_eq!(
        bare_call(&dev, Ioctl::Confiscate),
        complete(Status::Success, 0)
    );
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(presence(&dev), [4], "confiscated");
    dev.card_removed();
    assert_eq!(presence(&dev), [4], "still confiscated after a removal");
    dev.card_inserted();
    assert_eq!(presence(&dev), [2], "a new card");
    dev.card_removed();
    assert_eq!(presence(&dev), [0], "a card removed, not confiscated");
}

/// GET_LAST_ERROR keeps the Win32 code of the last request that failed under the
/// serialization lock (refused by the card's state or failed by its callback);
/// refusals before it, attribute and tracking requests, and successes leave it.
#[test]
fn last_error_is_the_last_failure_under_the_lock() {
    let last = |dev: &TestDevice| {
        let (outcome, value) = call(dev, Ioctl::GetLastError, &[], 4);
        assert_eq!(outcome, complete(Status::Success, 4));
        u32::from_le_bytes(value.try_into().unwrap())
    };
    let dev = device_with(
        ReaderFunctions {
            card_tracking: None,
            ..all_functions()
        },
        &with_tck(ATR_T0_T1),
    );
    assert_eq!(last(&dev), 0);
    let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(1), 33);
    assert_eq!(outcome, complete(Status::NoMedia, 0));
    assert_eq!(last(&dev), 1112, "ERROR_NO_MEDIA_IN_DRIVE");
    // Refused before the lock, or not a card request: unchanged.
    let (outcome, _) = call(&dev, Ioctl::Power, &u32_input(7), 33);
    assert_eq!(outcome, complete(Status::InvalidParameter, 0));
    let (outcome, _) = call(&dev, Ioctl::GetAttribute, &u32_input(0x1234_5678), 4);
    assert_eq!(outcome, complete(Status::NotSupported, 0));
    let (outcome, _) = call(&dev, Ioctl::SetAttribute, &u32_input(attr::VENDOR_NAME), 0);
    assert_eq!(outcome, complete(Status::NotSupported, 0));
    assert_eq!(
        bare_call(&dev, Ioctl::IsPresent),
        complete(Status::NotSupported, 0)
    );
    assert_eq!(last(&dev), 1112);
    // A success does not clear it; the next failure replaces it.
    dev.card_inserted();
    power_up(&dev);
    assert_eq!(last(&dev), 1112);
    let mut transmit = 1u32.to_le_bytes().to_vec();
    transmit.extend_from_slice(&8u32.to_le_bytes());
    transmit.extend_from_slice(&[0x00, 0x84, 0x00, 0x00, 0x08]);
    let (outcome, _) = call(&dev, Ioctl::Transmit, &transmit, 64);
    assert_eq!(outcome, complete(Status::InvalidDeviceState, 0));
    assert_eq!(last(&dev), 22, "ERROR_BAD_COMMAND");
}
