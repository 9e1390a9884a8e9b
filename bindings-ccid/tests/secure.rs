//! PC_to_RDR_Secure through `CcidReader::handle_with_keypad` on a simulated card
//! (PIN "1234", 3 tries) with card-sim's scripted keypad, answers checked byte by
//! byte: the card's status word for a complete entry, `bError` F0 / EF for a
//! time-out / Cancel, 64 02 / 64 03 as data, `bError` = the field's offset for a
//! malformed structure (before any key is read and before the card's protocol is
//! selected), not supported without a keypad.

use readerkit::Device;
use readerkit::line::LineReader;
use readerkit::pin::{Key, Prompt};
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::keypad::ScriptedKeypad;
use readerkit_card_sim::{Card, Config, Profile, SimLine};
use readerkit_ccid::reader::Config as CcidConfig;
use readerkit_ccid::{CcidReader, PinSupport, twin};
use readerkit_testkit::ccid::message as msg;
use readerkit_testkit::sim::inserted;

type Slot = Device<SpinPlatform, LineReader<SimLine<1024>>>;
type Reader<'a> = CcidReader<'a, SpinPlatform, LineReader<SimLine<1024>>>;

fn slot() -> Slot {
    let card = Card::create(Config::new(Profile::t1()));
    inserted(Some(card), twin::Profile::GemPcPinPad.capabilities())
}

/// CCID's PIN verification data structure (after bPINOperation 0) for the card's
/// VERIFY: ASCII at byte 0 of an 8-byte block, 4 to 8 digits, OK key.
fn verify(timeout_s: u8, format: u8) -> Vec<u8> {
    let mut s = vec![
        0x00, timeout_s, format, 0x08, 0x00, 8, 4, 0x02, 0x01, 0x09, 0x04, 0x00, 0, 0, 0,
    ];
    s.extend_from_slice(&[0x00, 0x20, 0x00, 0x80, 0x08]);
    s.extend_from_slice(&[0xFF; 8]);
    s
}

/// CCID's PIN modification data structure (bPINOperation 1) for CHANGE
/// REFERENCE DATA with current and new PIN, confirmation, three messages.
fn modify() -> Vec<u8> {
    let mut s = vec![
        0x01, 0, 0x82, 0x08, 0x00, 0, 8, 8, 4, 0x03, 0x02, 0x03, 0x09, 0x04, 0, 1, 2, 0, 0, 0,
    ];
    s.extend_from_slice(&[0x00, 0x24, 0x00, 0x80, 0x10]);
    s.extend_from_slice(&[0xFF; 16]);
    s
}

fn powered(slots: &[Slot], support: PinSupport) -> Reader<'_> {
    let mut reader = CcidReader::new(slots, CcidConfig::short_apdu())
        .unwrap()
        .with_pin_support(support);
    let mut answer = [0u8; 271];
    reader.handle(&msg(0x62, 0, &[]), &mut answer).unwrap();
    reader
}

/// (bStatus, bError, data) of the answer to `structure` with `keypad`.
fn secure(reader: &mut Reader<'_>, keypad: &mut ScriptedKeypad, data: &[u8]) -> (u8, u8, Vec<u8>) {
    let mut answer = [0u8; 271];
    let len = reader
        .handle_with_keypad(&msg(0x69, 1, data), &mut answer, keypad)
        .unwrap();
    assert_eq!(answer[0], 0x80, "RDR_to_PC_DataBlock");
    (answer[7], answer[8], answer[10..len].to_vec())
}

/// `structure` with `pins` typed on a fresh keypad answers `expected`
/// (bStatus, bError, data); the keypad is handed back.
fn entry(
    reader: &mut Reader<'_>,
    pins: &[&[u8]],
    structure: &[u8],
    expected: (u8, u8, &[u8]),
) -> ScriptedKeypad {
    let mut pad = typed(pins);
    let (status, error, data) = secure(reader, &mut pad, structure);
    assert_eq!((status, error, &data[..]), expected, "{pins:?}");
    pad
}

fn typed(pins: &[&[u8]]) -> ScriptedKeypad {
    let mut pad = ScriptedKeypad::new();
    for pin in pins {
        assert!(pad.type_pin(pin, 200));
    }
    pad
}

#[test]
fn descriptor_declares_pin_support() {
    let slots = [slot()];
    let reader = powered(&slots, PinSupport::BOTH);
    assert_eq!(reader.descriptor().to_bytes()[52], 0x03);
    let plain = powered(&slots, PinSupport::NONE);
    assert_eq!(plain.descriptor().to_bytes()[52], 0x00);
    assert_eq!(twin::Profile::GemPcPinPad.pin_support(), PinSupport::BOTH);
    assert_eq!(twin::Profile::GemPcTwin.pin_support(), PinSupport::NONE);
}

#[test]
fn verification_outcomes() {
    let slots = [slot()];
    let mut r = powered(&slots, PinSupport::BOTH);
    let verify_pin = verify(0, 0x82);
    let pad = entry(&mut r, &[b"1234"], &verify_pin, (0, 0, &[0x90, 0x00]));
    assert_eq!(pad.prompts(), [Prompt::EnterPin]);
    entry(&mut r, &[b"4321"], &verify_pin, (0, 0, &[0x63, 0xC2]));
    // No key within bTimeOut (5 s): failed, bError F0.
    let mut silent = ScriptedKeypad::new();
    assert_eq!(
        secure(&mut r, &mut silent, &verify(5, 0x82)),
        (0x40, 0xF0, vec![])
    );
    assert_eq!(silent.elapsed_ms(), 5_000);
    // Cancel: bError EF.
    let mut pad = ScriptedKeypad::new();
    pad.press(100, Key::Digit(1));
    pad.press(100, Key::Cancel);
    assert_eq!(secure(&mut r, &mut pad, &verify_pin), (0x40, 0xEF, vec![]));
    // Too short: 64 03 as data, the card not asked (its counter stays at 2).
    entry(&mut r, &[b"12"], &verify_pin, (0, 0, &[0x64, 0x03]));
    entry(&mut r, &[b"1234"], &verify_pin, (0, 0, &[0x90, 0x00]));
}

#[test]
fn modification_and_mismatch() {
    let slots = [slot()];
    let mut r = powered(&slots, PinSupport::BOTH);
    let mismatch: &[&[u8]] = &[b"1234", b"5678", b"5679"];
    entry(&mut r, mismatch, &modify(), (0, 0, &[0x64, 0x02]));
    let changed: &[&[u8]] = &[b"1234", b"5678", b"5678"];
    let pad = entry(&mut r, changed, &modify(), (0, 0, &[0x90, 0x00]));
    assert_eq!(
        pad.prompts(),
        [
            Prompt::EnterCurrentPin,
            Prompt::EnterNewPin,
            Prompt::ConfirmNewPin
        ]
    );
    entry(&mut r, &[b"5678"], &verify(0, 0x82), (0, 0, &[0x90, 0x00]));
}

#[test]
fn malformed_structures_fail_before_any_key() {
    let slots = [slot()];
    let mut r = powered(&slots, PinSupport::BOTH);
    // Powered, no protocol selected yet: a refused structure leaves it so.
    let before = slots[0].state();
    assert_eq!(before, readerkit::CardState::Negotiable);
    let mut bad_limits = verify(0, 0x82);
    bad_limits[6] = 9; // min 9 > max 8
    let mut short_apdu = verify(0, 0x82);
    short_apdu.pop(); // Lc 8, 7 bytes
    let mut bad_count = modify();
    bad_count[11] = 4; // bNumberMessage 4
    let mut outside = modify();
    outside[6] = 9; // the new PIN's block past the data
    let cases: [(&[u8], u8); 7] = [
        (&verify(0, 0x83), 12),      // bmFormatString: reserved encoding
        (&bad_limits, 15),           // wPINMaxExtraDigit
        (&short_apdu, 29),           // the APDU's Lc
        (&bad_count, 21),            // bNumberMessage
        (&outside, 13),              // bmPINBlockString
        (&[0x02, 0, 0], 10),         // bPINOperation 2 (transfer PIN)
        (&verify(0, 0x82)[..10], 1), // truncated
    ];
    for (data, offset) in cases {
        let mut pad = typed(&[b"1234"]);
        assert_eq!(
            secure(&mut r, &mut pad, data),
            (0x40, offset, vec![]),
            "{data:02X?}"
        );
        assert_eq!(pad.remaining(), 5, "no key read");
        assert_eq!(
            slots[0].state(),
            before,
            "no protocol selected: {data:02X?}"
        );
        let card = slots[0].card_capabilities().expect("the card is powered");
        assert_eq!(card.selected, None, "{data:02X?}");
    }
}

#[test]
fn secure_is_not_supported_without_a_keypad_or_the_operation() {
    let slots = [slot()];
    let mut r = powered(&slots, PinSupport::VERIFY);
    let mut answer = [0u8; 271];
    let len = r
        .handle(&msg(0x69, 1, &verify(0, 0x82)), &mut answer)
        .unwrap();
    assert_eq!((len, answer[7], answer[8]), (10, 0x40, 0x00));
    let mut pad = typed(&[b"1234", b"5678", b"5678"]);
    assert_eq!(secure(&mut r, &mut pad, &modify()), (0x40, 0x00, vec![]));
    assert_eq!(pad.remaining(), 15);
}
