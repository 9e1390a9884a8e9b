//! Arbitrary bytes against the secure PIN structures: PC/SC part 10's
//! PIN_VERIFY_STRUCTURE / PIN_MODIFY_STRUCTURE and CCID's PIN verification /
//! modification data structures, and PC_to_RDR_Secure's `abData` through the CCID
//! binding with a keypad playing keys from the input.
//!
//! Input layout: byte 0 selects the format (low 3 bits: 0 part 10 verify, 1 part
//! 10 modify, 2 CCID verify, 3 CCID modify, 4+ Secure `abData`), byte 1 is the
//! number of key bytes that follow (each key byte: 0-9 a digit, 10 Enter, 11
//! Cancel, 12 Backspace, 13 Clear, anything else a time-out), then the structure.
//! Nothing may panic; a structure that parses formats a command whose Lc matches
//! its length and whose header is the template's, and emits as a part 10 structure
//! that parses back to the same request; a refusal names a field inside the
//! message; Secure `abData` is checked once (`SecureData::parse`, before any key)
//! and the checked value is what `prepare` reads the keys for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::pin::{Key, Keypad, ModifyRequest, Pin, PinError, VerifyRequest};
use readerkit_ccid::SlotError;
use readerkit_ccid::secure::{self, MAX_APDU_LEN, Refusal, SecureData};

struct Keys<'a>(&'a [u8]);

impl Keypad for Keys<'_> {
    fn next_key(&mut self, _timeout_ms: u32) -> Option<Key> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        match first {
            0..=9 => Some(Key::Digit(first)),
            10 => Some(Key::Enter),
            11 => Some(Key::Cancel),
            12 => Some(Key::Backspace),
            13 => Some(Key::Clear),
            _ => None,
        }
    }
}

/// A PIN of `n` digits.
fn pin(n: usize) -> Pin {
    let mut pin = Pin::new();
    for i in 0..n {
        pin.push((i % 10) as u8);
    }
    pin
}

/// The formatted command agrees with its template.
fn check_formatted(template: &[u8], out: &[u8], len: usize) {
    assert!(len <= out.len());
    assert_eq!(usize::from(out[4]) + 5, len, "Lc matches the length");
    assert_eq!(&out[..4], &template[..4], "header kept");
}

/// A parsed request's round trip: `emit` fills a buffer of the `len` the request
/// announced, and what it wrote `parses_back` to the same request.
fn emits_back(
    len: usize,
    emit: impl FnOnce(&mut [u8]) -> Result<usize, PinError>,
    parses_back: impl FnOnce(&[u8]) -> bool,
) {
    let mut out = vec![0u8; len];
    assert_eq!(emit(&mut out), Ok(len), "emit fills buffer_len");
    assert!(parses_back(&out), "parse(emit(x)) == x");
}

/// A verification that parses formats its shortest and its longest PIN, and
/// emits a PIN_VERIFY_STRUCTURE that parses back to it.
fn verify(parsed: Result<VerifyRequest<'_>, PinError>) {
    let Ok(request) = parsed else { return };
    let limits = request.limits;
    assert!(limits.min_digits >= 1);
    assert!(limits.min_digits <= limits.max_digits);
    let mut out = [0u8; 300];
    for n in [limits.min_digits, limits.max_digits] {
        if let Ok(len) = request.format(&pin(n), &mut out) {
            check_formatted(request.apdu, &out, len);
        }
    }
    emits_back(
        request.buffer_len(),
        |out| request.emit(out),
        |bytes| VerifyRequest::parse(bytes) == Ok(request),
    );
}

/// A modification that parses formats its shortest and longest PINs, and emits a
/// PIN_MODIFY_STRUCTURE that parses back to it.
fn modify(parsed: Result<ModifyRequest<'_>, PinError>) {
    let Ok(request) = parsed else { return };
    let (min, max) = (request.limits.min_digits, request.limits.max_digits);
    let mut out = [0u8; 300];
    if let Ok(len) = request.format(&pin(min), &pin(max), &mut out) {
        check_formatted(request.apdu, &out, len);
    }
    emits_back(
        request.buffer_len(),
        |out| request.emit(out),
        |bytes| ModifyRequest::parse(bytes) == Ok(request),
    );
}

/// PC_to_RDR_Secure's `abData` with `keys` typed: a structure
/// `SecureData::parse` refuses (what the reader asks before the card is
/// touched) names a field inside the message; one it accepts gives a command
/// whose Lc matches, a refusal that names a field inside the message, or an
/// entry outcome.
fn secure_data(structure: &[u8], keys: &[u8]) {
    let inside = |error: SlotError| {
        if let SlotError::BadField(offset) = error {
            assert!(offset >= 1);
            assert!(
                usize::from(offset) < 10 + structure.len(),
                "inside the message"
            );
        }
    };
    let checked = match SecureData::parse(structure) {
        Ok(checked) => checked,
        Err(error) => return inside(error),
    };
    let mut keypad = Keys(keys);
    match secure::prepare(&checked, &mut keypad) {
        Ok(command) => {
            let apdu = command.apdu();
            assert!(apdu.len() <= MAX_APDU_LEN);
            assert_eq!(usize::from(apdu[4]) + 5, apdu.len());
        }
        Err(Refusal::Failed(error)) => inside(error),
        Err(Refusal::StatusWord(sw)) => assert_eq!(sw[0], 0x64),
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, key_count, rest @ ..] = data else {
        return;
    };
    let (keys, structure) = rest.split_at(usize::from(*key_count).min(rest.len()));
    match selector & 0x07 {
        0 => verify(VerifyRequest::parse(structure)),
        1 => modify(ModifyRequest::parse(structure)),
        2 => verify(VerifyRequest::parse_ccid(structure)),
        3 => modify(ModifyRequest::parse_ccid(structure)),
        _ => secure_data(structure, keys),
    }
});
