//! The PC/SC part 10 PIN requests the tests send with `FEATURE_VERIFY_PIN_DIRECT`
//! and `FEATURE_MODIFY_PIN_DIRECT`: typical [`VerifyRequest`] / [`ModifyRequest`]
//! values, turned into their structures (PIN_VERIFY_STRUCTURE,
//! PIN_MODIFY_STRUCTURE) by the core's `emit`.

use readerkit::pin::{
    Conditions, Confirm, Encoding, EntryLimits, Justification, Messages, ModifyRequest, PinBlock,
    PinError, VerifyRequest, entry::DEFAULT_KEY_TIMEOUT_MS,
};

/// ASCII digits left justified at byte 0 of an 8-byte block, no length field
/// (`bmFormatString` 0x82, `bmPINBlockString` 0x08, `bmPINLengthFormat` 0).
pub const ASCII_BLOCK: PinBlock = PinBlock {
    position_bits: 0,
    justification: Justification::Left,
    encoding: Encoding::Ascii,
    block_bytes: 8,
    length_bits: 0,
    length_position_bits: 0,
};

/// 4 to 8 digits ended by the validation key, the reader's time-outs (sent as 0).
pub const LIMITS: EntryLimits = EntryLimits {
    min_digits: 4,
    max_digits: 8,
    first_key_timeout_ms: DEFAULT_KEY_TIMEOUT_MS,
    next_key_timeout_ms: DEFAULT_KEY_TIMEOUT_MS,
    conditions: Conditions(Conditions::KEY),
};

/// `wLangId` US English.
const LANG_EN_US: u16 = 0x0409;

/// A verification into `apdu`: [`ASCII_BLOCK`], [`LIMITS`], one message (index 0).
pub fn verify(apdu: &[u8]) -> VerifyRequest<'_> {
    VerifyRequest {
        block: ASCII_BLOCK,
        limits: LIMITS,
        messages: Messages {
            count: 1,
            language: LANG_EN_US,
            index: [0; 3],
        },
        prologue: [0; 3],
        apdu,
    }
}

/// A modification into `apdu`: [`ASCII_BLOCK`] for the current PIN at byte 0 and
/// the new one at byte 8, [`LIMITS`], the current PIN then the new one twice,
/// three messages (indexes 0, 1, 2).
pub fn modify(apdu: &[u8]) -> ModifyRequest<'_> {
    ModifyRequest {
        block: ASCII_BLOCK,
        limits: LIMITS,
        offset_current: 0,
        offset_new: 8,
        confirm: Confirm {
            enter_current: true,
            confirm_new: true,
        },
        messages: Messages {
            count: 3,
            language: LANG_EN_US,
            index: [0, 1, 2],
        },
        prologue: [0; 3],
        apdu,
    }
}

/// The PIN_VERIFY_STRUCTURE of `request`.
///
/// # Panics
///
/// If a field of `request` has no encoding (a test's mistake).
pub fn verify_bytes(request: &VerifyRequest<'_>) -> Vec<u8> {
    emitted(request.buffer_len(), |out| request.emit(out))
}

/// The PIN_MODIFY_STRUCTURE of `request`.
///
/// # Panics
///
/// If a field of `request` has no encoding (a test's mistake).
pub fn modify_bytes(request: &ModifyRequest<'_>) -> Vec<u8> {
    emitted(request.buffer_len(), |out| request.emit(out))
}

/// The PIN pad scenarios' PIN_VERIFY_STRUCTURE: [`verify`] into VERIFY
/// `00 20 00 80 08 FF..FF` (8 bytes), 30 s for the first key (the reader's
/// default, sent as 0) and 10 s between keys.
pub fn verify_structure() -> Vec<u8> {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, 0x08];
    apdu.extend_from_slice(&[0xFF; 8]);
    verify_bytes(&VerifyRequest {
        limits: EntryLimits {
            first_key_timeout_ms: 30_000,
            next_key_timeout_ms: 10_000,
            ..LIMITS
        },
        ..verify(&apdu)
    })
}

/// The PIN pad scenarios' PIN_MODIFY_STRUCTURE: [`modify`] into CHANGE REFERENCE
/// DATA `00 24 00 80 10 FF..FF` (the current PIN's block at 0, the new one's at 8).
pub fn modify_structure() -> Vec<u8> {
    let mut apdu = vec![0x00, 0x24, 0x00, 0x80, 0x10];
    apdu.extend_from_slice(&[0xFF; 16]);
    modify_bytes(&modify(&apdu))
}

/// What `emit` writes into a buffer of `len` bytes.
fn emitted(len: usize, emit: impl FnOnce(&mut [u8]) -> Result<usize, PinError>) -> Vec<u8> {
    let mut out = vec![0; len];
    let written = emit(&mut out).expect("an encodable request");
    out.truncate(written);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typical_requests_are_what_clients_send() {
        let mut apdu = vec![0x00, 0x20, 0x00, 0x81, 0x08];
        apdu.extend_from_slice(&[0xFF; 8]);
        let mut expected = vec![
            0, 0, 0x82, 0x08, 0x00, 8, 4, 0x02, 0x01, 0x09, 0x04, 0, 0, 0, 0, 13, 0, 0, 0,
        ];
        expected.extend_from_slice(&apdu);
        assert_eq!(verify_bytes(&verify(&apdu)), expected);
        assert_eq!(VerifyRequest::parse(&expected), Ok(verify(&apdu)));

        let mut apdu = vec![0x00, 0x24, 0x00, 0x81, 0x10];
        apdu.extend_from_slice(&[0xFF; 16]);
        let mut expected = vec![
            0, 0, 0x82, 0x08, 0x00, 0, 8, 8, 4, 0x03, 0x02, 0x03, 0x09, 0x04, 0, 1, 2, 0, 0, 0, 21,
            0, 0, 0,
        ];
        expected.extend_from_slice(&apdu);
        assert_eq!(modify_bytes(&modify(&apdu)), expected);
        assert_eq!(ModifyRequest::parse(&expected), Ok(modify(&apdu)));
    }
}
