//! A device with a PIN pad (issue 17, 2): the core announces the PIN features and
//! runs VERIFY/MODIFY_PIN_DIRECT itself, under the serialization lock, with the
//! driver's keypad and TRANSMIT callbacks; bad structures are refused before any
//! key; the entry outcomes answer with their status words.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock, Weak};

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{AtrBuffer, PinPad, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction, Request};
use readerkit::pin::{Encoding, EntryLimits, Key, PinBlock, Prompt, VerifyRequest};
use readerkit::platform::SpinPlatform;
use readerkit::{CardState, Device, Failure, Outcome, ReaderFunctions, Status};
use readerkit_testkit::memory::{ATR_SPECIFIC_T1, with_tck};
use readerkit_testkit::pin;

/// A reader whose keypad plays a script (`None`: a time-out) and whose card
/// accepts PIN 1234 (BCD, as the structures below format it).
#[derive(Default)]
struct Driver {
    keys: VecDeque<Option<Key>>,
    prompts: Vec<Prompt>,
    sent: Vec<Vec<u8>>,
    vendor_calls: u32,
    /// How many times the keypad callback was asked for a key.
    keys_read: u32,
    /// The device itself, for a keypad that calls back into it.
    device: Option<Arc<OnceLock<Weak<Dev>>>>,
    /// What those calls got.
    inside: Vec<Outcome>,
}

fn power(_: &mut Driver, _: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    atr.extend_from_slice(&with_tck(ATR_SPECIFIC_T1)).unwrap();
    Ok(())
}

fn transmit(d: &mut Driver, call: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Failure> {
    d.sent.push(call.apdu.to_vec());
    let sw: [u8; 2] = match call.apdu.get(1) {
        Some(0x20) if call.apdu[5..7] == [0x24, 0x12] && call.apdu[7] == 0x34 => [0x90, 0x00],
        Some(0x20) => [0x63, 0xC2],
        _ => [0x90, 0x00],
    };
    reply[..2].copy_from_slice(&sw);
    Ok(2)
}

fn vendor(d: &mut Driver, code: u32, _: &[u8], out: &mut [u8]) -> Result<usize, Failure> {
    d.vendor_calls += 1;
    readerkit::ioctl::scard_ctl_function(code)
        .and_then(|function| readerkit::part10::answer(function, out, 261, windows))
        .unwrap_or(Err(Failure::NotSupported))
}

fn windows(function: u16) -> u32 {
    readerkit::ioctl::scard_ctl_code(function)
}

fn next_key(d: &mut Driver, _timeout_ms: u32) -> Option<Key> {
    d.keys_read += 1;
    if let Some(dev) = d.device.as_ref().and_then(|cell| cell.get()?.upgrade()) {
        // From inside the keypad callback: the serialization lock is held.
        let mut out = [0u8; 64];
        let transmit = [2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08];
        d.inside
            .push(dev.control(Ioctl::Transmit.code(), &transmit, &mut out));
        d.inside
            .push(dev.control(Ioctl::GetState.code(), &[], &mut out));
    }
    d.keys.pop_front().flatten()
}

fn prompt(d: &mut Driver, prompt: Prompt) {
    d.prompts.push(prompt);
}

type Dev = Device<SpinPlatform, Driver>;

fn device(with_vendor: bool) -> Dev {
    let functions = ReaderFunctions {
        power: Some(power),
        transmit: Some(transmit),
        vendor_ioctl: if with_vendor { Some(vendor) } else { None },
        ..ReaderFunctions::NONE
    };
    let dev = Device::new(
        SpinPlatform::new(),
        functions,
        Driver::default(),
        ReaderCapabilities::typical(),
        VendorAttributes::default(),
    )
    .with_pin_pad(PinPad {
        next_key,
        prompt: Some(prompt),
        ctl_code: windows,
        min_pin_digits: 4,
        max_pin_digits: 8,
    });
    dev.card_inserted();
    let mut atr = [0u8; 33];
    let outcome = dev.submit(Request::Power(PowerAction::ColdReset), &mut atr);
    assert_eq!(outcome.status(), Some(Status::Success));
    assert_eq!(dev.state(), CardState::Specific);
    dev
}

fn script(dev: &Dev, keys: &[Option<Key>]) {
    dev.with_driver(|d| d.keys = keys.iter().copied().collect());
}

fn digits(pin: &[u8]) -> Vec<Option<Key>> {
    pin.iter()
        .map(|d| Some(Key::Digit(*d)))
        .chain([Some(Key::Enter)])
        .collect()
}

/// The keys typing each of `pins` in turn.
fn pins(pins: &[&[u8]]) -> Vec<Option<Key>> {
    pins.iter().flat_map(|pin| digits(pin)).collect()
}

fn control(dev: &Dev, function: u16, input: &[u8], output_len: usize) -> (Outcome, Vec<u8>) {
    let mut out = vec![0u8; output_len];
    let outcome = dev.control(Ioctl::Vendor(function).code(), input, &mut out);
    let len = match outcome {
        Outcome::Complete { bytes_written, .. } => bytes_written,
        Outcome::Pending => 0,
    };
    out.truncate(len);
    (outcome, out)
}

fn ok(len: usize) -> Outcome {
    Outcome::Complete {
        status: Status::Success,
        bytes_written: len,
    }
}

fn refused(status: Status) -> Outcome {
    Outcome::Complete {
        status,
        bytes_written: 0,
    }
}

/// PIN_VERIFY_STRUCTURE: BCD from byte 1 of a 7-byte block with a 4-bit length
/// field at bit 4, 4-8 digits, validation key, 15 s for the first key and 5 s
/// between keys; VERIFY 00 20 00 81.
fn verify_structure() -> Vec<u8> {
    let apdu = [
        0x00, 0x20, 0x00, 0x81, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    pin::verify_bytes(&VerifyRequest {
        block: PinBlock {
            position_bits: 8,
            encoding: Encoding::Bcd,
            block_bytes: 7,
            length_bits: 4,
            length_position_bits: 4,
            ..pin::ASCII_BLOCK
        },
        limits: EntryLimits {
            first_key_timeout_ms: 15_000,
            next_key_timeout_ms: 5_000,
            ..pin::LIMITS
        },
        ..pin::verify(&apdu)
    })
}

/// PIN_MODIFY_STRUCTURE: ASCII, current PIN then new PIN twice, CHANGE REFERENCE
/// DATA 00 24 00 81 with the two 8-byte blocks.
fn modify_structure() -> Vec<u8> {
    let mut apdu = vec![0x00, 0x24, 0x00, 0x81, 0x10];
    apdu.extend_from_slice(&[0xFF; 16]);
    pin::modify_bytes(&pin::modify(&apdu))
}

#[test]
fn feature_list_adds_the_pin_features_to_the_drivers_answer() {
    let dev = device(true);
    let (outcome, list) = control(&dev, 3400, &[], 64);
    assert_eq!(outcome, ok(24));
    assert_eq!(
        list[0], 0x12,
        "the driver's TLV properties entry comes first"
    );
    assert_eq!(list[6..12], [0x06, 4, 0x00, 0x31, 0x35, 0x38]);
    assert_eq!(list[12..18], [0x07, 4, 0x00, 0x31, 0x35, 0x3C]);
    assert_eq!(list[18..24], [0x0A, 4, 0x00, 0x31, 0x35, 0x48]);
    // FEATURE_IFD_PIN_PROPERTIES: PIN_PROPERTIES_STRUCTURE, no display, the entry
    // ends on the maximum size, the key or a time-out, no second time-out.
    let (outcome, properties) = control(&dev, 3410, &[], 64);
    assert_eq!(outcome, ok(4));
    assert_eq!(properties, [0, 0, 0x07, 0]);
    assert_eq!(
        control(&dev, 3410, &[], 3).0,
        refused(Status::BufferTooSmall)
    );
    let (outcome, props) = control(&dev, 3418, &[], 64);
    assert_eq!(outcome, ok(17 + 13));
    assert_eq!(props[17..], [1, 2, 0, 0, 2, 1, 7, 6, 1, 4, 7, 1, 8]);
    assert_eq!(
        control(&dev, 3400, &[], 17).0,
        refused(Status::BufferTooSmall)
    );
    // Without a vendor callback: the PIN features alone.
    let bare = device(false);
    assert_eq!(control(&bare, 3400, &[], 64).0, ok(18));
}

#[test]
fn right_pin_reaches_the_card_formatted_and_answers_its_sw() {
    let dev = device(true);
    script(&dev, &digits(&[1, 2, 3, 4]));
    let (outcome, answer) = control(&dev, 3406, &verify_structure(), 64);
    assert_eq!((outcome, answer.as_slice()), (ok(2), &[0x90, 0x00][..]));
    dev.with_driver(|d| {
        assert_eq!(
            d.sent,
            [vec![
                0x00, 0x20, 0x00, 0x81, 0x08, 0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
            ]]
        );
        assert_eq!(d.prompts, [Prompt::EnterPin]);
        assert_eq!(d.vendor_calls, 0, "the core serves the PIN request itself");
    });
    script(&dev, &digits(&[1, 2, 3, 5]));
    let (_, answer) = control(&dev, 3406, &verify_structure(), 64);
    assert_eq!(answer, [0x63, 0xC2]);
}

#[test]
fn entry_outcomes_answer_their_status_word_and_send_nothing() {
    let dev = device(true);
    for (keys, sw) in [
        (vec![Some(Key::Digit(1)), Some(Key::Cancel)], [0x64, 0x01]),
        (vec![Some(Key::Digit(1)), None], [0x64, 0x00]),
        (vec![], [0x64, 0x00]),
        (digits(&[1, 2]), [0x64, 0x03]),
    ] {
        script(&dev, &keys);
        let (outcome, answer) = control(&dev, 3406, &verify_structure(), 64);
        assert_eq!((outcome, answer), (ok(2), sw.to_vec()));
    }
    dev.with_driver(|d| assert!(d.sent.is_empty()));
}

#[test]
fn modification_reads_three_pins_and_refuses_a_mismatch() {
    let dev = device(true);
    script(&dev, &pins(&[&[1, 2, 3, 4], &[5, 6, 7, 8], &[5, 6, 7, 8]]));
    let (_, answer) = control(&dev, 3407, &modify_structure(), 64);
    assert_eq!(answer, [0x90, 0x00]);
    dev.with_driver(|d| {
        assert_eq!(&d.sent[0][5..9], b"1234");
        assert_eq!(&d.sent[0][13..17], b"5678");
        assert_eq!(
            d.prompts,
            [
                Prompt::EnterCurrentPin,
                Prompt::EnterNewPin,
                Prompt::ConfirmNewPin
            ]
        );
    });
    script(&dev, &pins(&[&[1, 2, 3, 4], &[5, 6, 7, 8], &[5, 6, 7, 9]]));
    let (_, answer) = control(&dev, 3407, &modify_structure(), 64);
    assert_eq!(answer, [0x64, 0x02]);
    dev.with_driver(|d| assert_eq!(d.sent.len(), 1));
}

#[test]
fn malformed_structures_and_states_are_refused_before_any_key() {
    let dev = device(true);
    let good = verify_structure();
    let mut bad_encoding = good.clone();
    bad_encoding[2] = 0x8B;
    let mut bad_limits = good.clone();
    bad_limits[6] = 9;
    for bad in [
        &good[..10],
        &good[..good.len() - 1],
        &bad_encoding[..],
        &bad_limits[..],
    ] {
        script(&dev, &digits(&[1, 2, 3, 4]));
        assert_eq!(
            control(&dev, 3406, bad, 64).0,
            refused(Status::InvalidParameter)
        );
    }
    assert_eq!(
        control(&dev, 3407, &good, 64).0,
        refused(Status::InvalidParameter),
        "a verify structure is no modify structure"
    );
    assert_eq!(
        control(&dev, 3406, &good, 1).0,
        refused(Status::BufferTooSmall)
    );
    dev.card_removed();
    assert_eq!(control(&dev, 3406, &good, 64).0, refused(Status::NoMedia));
    dev.with_driver(|d| {
        assert_eq!(d.keys_read, 0, "no key read for a refused request");
        assert!(d.sent.is_empty());
    });
}

#[test]
fn without_a_pin_pad_the_pin_codes_go_to_the_driver() {
    let functions = ReaderFunctions {
        vendor_ioctl: Some(vendor),
        ..ReaderFunctions::NONE
    };
    let dev: Dev = Device::new(
        SpinPlatform::new(),
        functions,
        Driver::default(),
        ReaderCapabilities::typical(),
        VendorAttributes::default(),
    );
    assert_eq!(control(&dev, 3400, &[], 64).0, ok(6));
    assert_eq!(
        control(&dev, 3406, &verify_structure(), 64).0,
        refused(Status::NotSupported)
    );
}

#[test]
fn the_keypad_runs_under_the_serialization_lock() {
    let dev = Arc::new(device(true));
    let cell = Arc::new(OnceLock::new());
    cell.set(Arc::downgrade(&dev)).unwrap();
    dev.with_driver(|d| d.device = Some(cell));
    script(&dev, &digits(&[1, 2, 3, 4]));
    let (_, answer) = control(&dev, 3406, &verify_structure(), 64);
    assert_eq!(answer, [0x90, 0x00]);
    dev.with_driver(|d| {
        assert_eq!(d.inside.len(), 10, "two calls for each of 5 keys");
        for pair in d.inside.chunks(2) {
            assert_eq!(
                pair[0],
                refused(Status::DeviceBusy),
                "TRANSMIT waits for the lock"
            );
            assert_eq!(pair[1], ok(4), "GET_STATE is answered without it");
        }
        d.device = None;
    });
}

#[test]
fn a_pin_pad_wants_a_minimum_of_one_digit_not_above_its_maximum() {
    let pad = |min_pin_digits, max_pin_digits| PinPad::<Driver> {
        next_key,
        prompt: None,
        ctl_code: windows,
        min_pin_digits,
        max_pin_digits,
    };
    assert_eq!(pad(4, 8).check(), Ok(()));
    assert_eq!(pad(8, 8).check(), Ok(()));
    assert_eq!(pad(0, 8).check(), Err(Status::InvalidParameter));
    assert_eq!(pad(9, 8).check(), Err(Status::InvalidParameter));
}
