//! Checked views of PC/SC part 10's `PIN_VERIFY_STRUCTURE` and
//! `PIN_MODIFY_STRUCTURE` (§2.5.2, §2.5.3), the input of `FEATURE_VERIFY_PIN_DIRECT`
//! and `FEATURE_MODIFY_PIN_DIRECT`.
//!
//! Both are packed, little-endian (`wPINMaxExtraDigit` = min << 8 | max, so the
//! maximum comes first; `ulDataLength`), and end in the APDU template the PIN goes
//! into. Every field is checked before a key is read: a structure that parses can
//! be served. CCID's variants of both (`parse_ccid`) are read by laying their
//! fixed part out as part 10's, so that each field is interpreted in one place.

use super::PinError;
use super::block::PinBlock;
use super::entry::{
    DEFAULT_KEY_TIMEOUT_MS, EntryLimits, Keypad, Pin, Prompt, read_new_pin, read_pin,
};
use super::pin_apdu::PinApdu;

/// Length of an APDU header with Lc (CLA INS P1 P2 Lc), in bytes.
const APDU_HEADER_LEN: usize = 5;

/// The messages a reader with a display shows (`bNumberMessage`, `wLangId`,
/// `bMsgIndex*`); carried for the display hook, not interpreted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Messages {
    /// `bNumberMessage`: how many messages to show (0xFF: the reader's default).
    pub count: u8,
    /// `wLangId`: the USB language id of the messages.
    pub language: u16,
    /// `bMsgIndex1..3`: which messages (verification uses the first only).
    pub index: [u8; 3],
}

/// A checked `PIN_VERIFY_STRUCTURE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyRequest<'a> {
    /// Where and how the PIN goes into the APDU.
    pub block: PinBlock,
    /// Sizes, time-outs and validation conditions of the entry.
    pub limits: EntryLimits,
    /// The display messages.
    pub messages: Messages,
    /// `bTeoPrologue`: the T=1 prologue for a TPDU reader (unused at APDU level).
    pub prologue: [u8; 3],
    /// The APDU template (CLA INS P1 P2 Lc data).
    pub apdu: &'a [u8],
}

/// What a modification asks the user to type besides the new PIN (`bConfirmPIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Confirm {
    /// Enter the current PIN first (bit 1).
    pub enter_current: bool,
    /// Enter the new PIN twice (bit 0).
    pub confirm_new: bool,
}

/// A checked `PIN_MODIFY_STRUCTURE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModifyRequest<'a> {
    /// Where and how each PIN goes into the APDU (shifted by its offset).
    pub block: PinBlock,
    /// Sizes, time-outs and validation conditions of each entry.
    pub limits: EntryLimits,
    /// `bInsertionOffsetOld`: the current PIN's block offset, in bytes.
    pub offset_current: usize,
    /// `bInsertionOffsetNew`: the new PIN's block offset, in bytes.
    pub offset_new: usize,
    /// What to type besides the new PIN.
    pub confirm: Confirm,
    /// The display messages.
    pub messages: Messages,
    /// `bTeoPrologue`.
    pub prologue: [u8; 3],
    /// The APDU template (CLA INS P1 P2 Lc data).
    pub apdu: &'a [u8],
}

/// Read a little-endian `u16` / `u32` at `at` (the caller checked the length).
fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}
fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The APDU after a fixed header of `header_len` bytes whose `ulDataLength` is at
/// `length_at`: checked against the bytes present and for a consistent Lc.
fn template(bytes: &[u8], header_len: usize, length_at: usize) -> Result<&[u8], PinError> {
    if bytes.len() < header_len {
        return Err(PinError::Truncated);
    }
    let apdu = &bytes[header_len..];
    if usize::try_from(le32(bytes, length_at)).ok() != Some(apdu.len()) {
        return Err(PinError::DataLengthMismatch);
    }
    checked_apdu(apdu)
}

/// `apdu` if it has a header and an Lc that agrees with its length.
fn checked_apdu(apdu: &[u8]) -> Result<&[u8], PinError> {
    match apdu.get(4) {
        Some(&lc) if apdu.len() == APDU_HEADER_LEN + usize::from(lc) => Ok(apdu),
        _ => Err(PinError::BadApdu),
    }
}

/// The data length of a checked template.
fn data_len(apdu: &[u8]) -> usize {
    apdu.len() - APDU_HEADER_LEN
}

/// `bNumberMessage` checked against the most messages the operation shows
/// (0xFF, the reader's default, is always allowed).
fn message_count(count: u8, most: u8) -> Result<u8, PinError> {
    if count <= most || count == 0xFF {
        Ok(count)
    } else {
        Err(PinError::BadMessageCount)
    }
}

/// Length of `bTimerOut` and `bTimerOut2`, the first fields of both part 10
/// structures, in bytes.
const TIMEOUTS_LEN: usize = 2;
/// Length of `bTeoPrologue`, the last field before `ulDataLength`, in bytes.
const PROLOGUE_LEN: usize = 3;
/// Length of a `PIN_VERIFY_STRUCTURE` up to `ulDataLength` (its offset), in bytes.
const VERIFY_FIELDS_LEN: usize = 15;
/// Length of a `PIN_MODIFY_STRUCTURE` up to `ulDataLength` (its offset), in bytes.
const MODIFY_FIELDS_LEN: usize = 20;

/// The first part 10 fields of a CCID structure whose fixed part starts with
/// `fixed`: its `bTimeOut` as both time-outs, then the rest of `fixed` as it is
/// (CCID drops `bTimerOut2` and keeps the order); the fields after it are 0.
fn part10_layout<const N: usize>(fixed: &[u8]) -> [u8; N] {
    let mut fields = [0u8; N];
    fields[..TIMEOUTS_LEN].fill(fixed[0]);
    fields[TIMEOUTS_LEN..][..fixed.len() - 1].copy_from_slice(&fixed[1..]);
    fields
}

impl Messages {
    /// The messages of part 10 `fields` whose `bNumberMessage` is at `at`
    /// (`wLangId` and the indexes follow), showing at most `most` messages;
    /// only that many indexes are read, the others are 0.
    fn read(fields: &[u8], at: usize, most: u8) -> Result<Messages, PinError> {
        let count = message_count(fields[at], most)?;
        let mut index = [0u8; 3];
        let indexes = usize::from(most);
        index[..indexes].copy_from_slice(&fields[at + 3..][..indexes]);
        Ok(Messages {
            count,
            language: le16(fields, at + 1),
            index,
        })
    }
}

/// The entry limits of part 10 `fields`: the time-outs (the first two bytes, in
/// seconds), `wPINMaxExtraDigit` at `sizes_at` (maximum first) and
/// `bEntryValidationCondition`, the maximum clamped to what `block` carries.
fn entry_limits(
    fields: &[u8],
    sizes_at: usize,
    conditions: u8,
    block: &PinBlock,
) -> Result<EntryLimits, PinError> {
    EntryLimits::new(
        fields[0],
        fields[1],
        fields[sizes_at + 1],
        fields[sizes_at],
        conditions,
        block.capacity(),
    )
}

impl Messages {
    /// Write the messages into part 10 `fields` at `at` (the inverse of
    /// [`Messages::read`]): `bNumberMessage`, `wLangId`, then the first `most`
    /// indexes.
    fn write(&self, fields: &mut [u8], at: usize, most: u8) {
        fields[at] = self.count;
        fields[at + 1..][..2].copy_from_slice(&self.language.to_le_bytes());
        let indexes = usize::from(most);
        fields[at + 3..][..indexes].copy_from_slice(&self.index[..indexes]);
    }
}

/// The first five part 10 fields of a request (the inverse of what
/// [`entry_limits`] and [`PinBlock::from_fields`] read): `bTimerOut` and
/// `bTimerOut2` in seconds ([`DEFAULT_KEY_TIMEOUT_MS`] as 0, the reader's
/// default), then the PIN block's format bytes.
fn coding_fields(limits: &EntryLimits, block: &PinBlock) -> Result<[u8; 5], PinError> {
    let seconds = |ms: u32| match ms {
        DEFAULT_KEY_TIMEOUT_MS => Ok(0),
        ms if ms % 1000 == 0 => u8::try_from(ms / 1000).map_err(|_| PinError::Unencodable),
        _ => Err(PinError::Unencodable),
    };
    let [format, block_string, length_format] = block.to_fields()?;
    Ok([
        seconds(limits.first_key_timeout_ms)?,
        seconds(limits.next_key_timeout_ms)?,
        format,
        block_string,
        length_format,
    ])
}

/// `wPINMaxExtraDigit` of `limits`, maximum first.
fn size_fields(limits: &EntryLimits) -> Result<[u8; 2], PinError> {
    let digits = |n: usize| u8::try_from(n).map_err(|_| PinError::Unencodable);
    Ok([digits(limits.max_digits)?, digits(limits.min_digits)?])
}

/// Write a part 10 structure into `out`: `fields` (up to `ulDataLength`), then
/// `ulDataLength` and `apdu`. Returns its length in bytes.
fn emit_structure(fields: &[u8], apdu: &[u8], out: &mut [u8]) -> Result<usize, PinError> {
    let length = u32::try_from(apdu.len()).map_err(|_| PinError::Unencodable)?;
    let total = fields.len() + 4 + apdu.len();
    let out = out.get_mut(..total).ok_or(PinError::BufferTooSmall)?;
    let (head, rest) = out.split_at_mut(fields.len());
    head.copy_from_slice(fields);
    let (data_length, template) = rest.split_at_mut(4);
    data_length.copy_from_slice(&length.to_le_bytes());
    template.copy_from_slice(apdu);
    Ok(total)
}

impl<'a> VerifyRequest<'a> {
    /// Length of the fixed part before the APDU, in bytes.
    pub const HEADER_LEN: usize = 19;
    /// Length of the fixed part of CCID's PIN verification data structure (after
    /// `bPINOperation`), before the APDU, in bytes.
    pub const CCID_HEADER_LEN: usize = 14;

    /// Check a `PIN_VERIFY_STRUCTURE` (PC/SC part 10 §2.5.2).
    pub fn parse(bytes: &'a [u8]) -> Result<VerifyRequest<'a>, PinError> {
        let apdu = template(bytes, Self::HEADER_LEN, VERIFY_FIELDS_LEN)?;
        let fields = bytes.first_chunk().ok_or(PinError::Truncated)?;
        Self::from_fields(fields, apdu)
    }

    /// Check CCID's PIN verification data structure (CCID 1.1 §6.1.11, the
    /// `abData` of PC_to_RDR_Secure after `bPINOperation` = 0): the part 10
    /// structure without `bTimerOut2` (`bTimeOut` serves the first and every
    /// following key) and without `ulDataLength` (the APDU is the rest).
    pub fn parse_ccid(bytes: &'a [u8]) -> Result<VerifyRequest<'a>, PinError> {
        let fixed = bytes
            .get(..Self::CCID_HEADER_LEN)
            .ok_or(PinError::Truncated)?;
        let apdu = checked_apdu(&bytes[Self::CCID_HEADER_LEN..])?;
        Self::from_fields(&part10_layout(fixed), apdu)
    }

    /// Check the part 10 fields before `ulDataLength` and the APDU template
    /// they describe.
    fn from_fields(
        fields: &[u8; VERIFY_FIELDS_LEN],
        apdu: &'a [u8],
    ) -> Result<VerifyRequest<'a>, PinError> {
        let block = PinBlock::from_fields(fields[2], fields[3], fields[4])?;
        block.check_fits(data_len(apdu), 0)?;
        let limits = entry_limits(fields, 5, fields[7], &block)?;
        let messages = Messages::read(fields, 8, 1)?;
        Ok(VerifyRequest {
            block,
            limits,
            messages,
            prologue: [fields[12], fields[13], fields[14]],
            apdu,
        })
    }

    /// Length of the `PIN_VERIFY_STRUCTURE` [`VerifyRequest::emit`] writes, in
    /// bytes.
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.apdu.len()
    }

    /// Write the request as a `PIN_VERIFY_STRUCTURE` into `out` (the inverse of
    /// [`VerifyRequest::parse`]: parsing what it writes gives back every request
    /// `parse` returns); returns its length in bytes. [`PinError::BufferTooSmall`]
    /// if `out` is shorter than [`VerifyRequest::buffer_len`],
    /// [`PinError::Unencodable`] if a field has no encoding.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, PinError> {
        let mut fields = [0u8; VERIFY_FIELDS_LEN];
        fields[..5].copy_from_slice(&coding_fields(&self.limits, &self.block)?);
        fields[5..7].copy_from_slice(&size_fields(&self.limits)?);
        fields[7] = self.limits.conditions.0;
        self.messages.write(&mut fields, 8, 1);
        fields[12..].copy_from_slice(&self.prologue);
        emit_structure(&fields, self.apdu, out)
    }

    /// Write the command for the card, `pin` in place, into `out`; returns its
    /// length in bytes.
    pub fn format(&self, pin: &Pin, out: &mut [u8]) -> Result<usize, PinError> {
        format(self.apdu, &self.block, &[(0, pin)], out)
    }

    /// Read the PIN from `keypad` ([`read_pin`] under the structure's limits, after
    /// [`Prompt::EnterPin`]) and build the command for the card
    /// ([`VerifyRequest::format`]) in an `N`-byte buffer wiped when dropped. The
    /// PIN is wiped before this returns.
    pub fn enter<const N: usize, K: Keypad + ?Sized>(
        &self,
        keypad: &mut K,
    ) -> Result<PinApdu<N>, PinError> {
        let mut pin = Pin::new();
        read_pin(keypad, &self.limits, Prompt::EnterPin, &mut pin)?;
        PinApdu::write(|out| self.format(&pin, out))
    }
}

impl<'a> ModifyRequest<'a> {
    /// Length of the fixed part before the APDU, in bytes.
    pub const HEADER_LEN: usize = 24;
    /// Length of the fixed part of CCID's PIN modification data structure (after
    /// `bPINOperation`) with one message index, in bytes; `bMsgIndex2` and
    /// `bMsgIndex3` add one each when present.
    pub const CCID_MIN_HEADER_LEN: usize = 17;

    /// Length of the fixed part of CCID's PIN modification data structure whose
    /// `bNumberMessage` is `count`, in bytes (the offset of its APDU).
    pub const fn ccid_header_len(count: u8) -> usize {
        Self::CCID_MIN_HEADER_LEN - 1
            + match count {
                0 => 1,
                1 | 2 => 2,
                _ => 3,
            }
    }

    /// Check a `PIN_MODIFY_STRUCTURE` (PC/SC part 10 §2.5.3).
    pub fn parse(bytes: &'a [u8]) -> Result<ModifyRequest<'a>, PinError> {
        let apdu = template(bytes, Self::HEADER_LEN, MODIFY_FIELDS_LEN)?;
        let fields = bytes.first_chunk().ok_or(PinError::Truncated)?;
        Self::from_fields(fields, apdu)
    }

    /// Check CCID's PIN modification data structure (CCID 1.1 §6.1.11, the
    /// `abData` of PC_to_RDR_Secure after `bPINOperation` = 1): no `bTimerOut2`,
    /// no `ulDataLength`, and only the message indexes `bNumberMessage` names:
    /// `bMsgIndex2` is present unless `bNumberMessage` is 0, `bMsgIndex3` only when
    /// it is 3 or 0xFF (the rule libccid's `SecurePINModify` follows; an index
    /// absent from the wire reads as 0).
    pub fn parse_ccid(bytes: &'a [u8]) -> Result<ModifyRequest<'a>, PinError> {
        if bytes.len() < Self::CCID_MIN_HEADER_LEN {
            return Err(PinError::Truncated);
        }
        let header_len = Self::ccid_header_len(message_count(bytes[10], 3)?);
        let fixed = bytes.get(..header_len).ok_or(PinError::Truncated)?;
        let apdu = checked_apdu(&bytes[header_len..])?;
        // Up to wLangId as part 10 has it; then the indexes sent (the others
        // 0) and bTeoPrologue.
        let (common, rest) = fixed.split_at(13);
        let (indexes, prologue) = rest.split_at(rest.len() - PROLOGUE_LEN);
        let mut fields: [u8; MODIFY_FIELDS_LEN] = part10_layout(common);
        fields[14..][..indexes.len()].copy_from_slice(indexes);
        fields[MODIFY_FIELDS_LEN - PROLOGUE_LEN..].copy_from_slice(prologue);
        Self::from_fields(&fields, apdu)
    }

    /// Check the part 10 fields before `ulDataLength` and the APDU template
    /// they describe.
    fn from_fields(
        fields: &[u8; MODIFY_FIELDS_LEN],
        apdu: &'a [u8],
    ) -> Result<ModifyRequest<'a>, PinError> {
        let block = PinBlock::from_fields(fields[2], fields[3], fields[4])?;
        let offset_current = usize::from(fields[5]);
        let offset_new = usize::from(fields[6]);
        let confirm = Confirm {
            enter_current: fields[9] & 0x02 != 0,
            confirm_new: fields[9] & 0x01 != 0,
        };
        block.check_fits(data_len(apdu), offset_new)?;
        if confirm.enter_current {
            block.check_fits(data_len(apdu), offset_current)?;
        }
        let limits = entry_limits(fields, 7, fields[10], &block)?;
        let messages = Messages::read(fields, 11, 3)?;
        Ok(ModifyRequest {
            block,
            limits,
            offset_current,
            offset_new,
            confirm,
            messages,
            prologue: [fields[17], fields[18], fields[19]],
            apdu,
        })
    }

    /// Length of the `PIN_MODIFY_STRUCTURE` [`ModifyRequest::emit`] writes, in
    /// bytes.
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.apdu.len()
    }

    /// Write the request as a `PIN_MODIFY_STRUCTURE` into `out` (the inverse of
    /// [`ModifyRequest::parse`]: parsing what it writes gives back every request
    /// `parse` returns); returns its length in bytes. [`PinError::BufferTooSmall`]
    /// if `out` is shorter than [`ModifyRequest::buffer_len`],
    /// [`PinError::Unencodable`] if a field has no encoding.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, PinError> {
        let offset = |bytes: usize| u8::try_from(bytes).map_err(|_| PinError::Unencodable);
        let mut fields = [0u8; MODIFY_FIELDS_LEN];
        fields[..5].copy_from_slice(&coding_fields(&self.limits, &self.block)?);
        fields[5] = offset(self.offset_current)?;
        fields[6] = offset(self.offset_new)?;
        fields[7..9].copy_from_slice(&size_fields(&self.limits)?);
        fields[9] = u8::from(self.confirm.enter_current) << 1 | u8::from(self.confirm.confirm_new);
        fields[10] = self.limits.conditions.0;
        self.messages.write(&mut fields, 11, 3);
        fields[17..].copy_from_slice(&self.prologue);
        emit_structure(&fields, self.apdu, out)
    }

    /// Write the command for the card into `out`: `new` at its offset, and
    /// `current` at its own when [`Confirm::enter_current`] asked for it (ignored
    /// otherwise). Returns its length in bytes.
    pub fn format(&self, current: &Pin, new: &Pin, out: &mut [u8]) -> Result<usize, PinError> {
        let both = [(self.offset_current, current), (self.offset_new, new)];
        let pins = if self.confirm.enter_current {
            &both[..]
        } else {
            &both[1..]
        };
        format(self.apdu, &self.block, pins, out)
    }

    /// Read the PINs from `keypad` ([`read_new_pin`] under the structure's limits,
    /// as its [`Confirm`] asks) and build the command for the card
    /// ([`ModifyRequest::format`]) in an `N`-byte buffer wiped when dropped. The
    /// PINs are wiped before this returns.
    pub fn enter<const N: usize, K: Keypad + ?Sized>(
        &self,
        keypad: &mut K,
    ) -> Result<PinApdu<N>, PinError> {
        let (mut current, mut new) = (Pin::new(), Pin::new());
        read_new_pin(keypad, &self.limits, self.confirm, &mut current, &mut new)?;
        PinApdu::write(|out| self.format(&current, &new, out))
    }
}

/// Copy `apdu` into `out` and write each `(offset, pin)` with `block`, fixing Lc
/// if a variable-length block grew the data field.
fn format(
    apdu: &[u8],
    block: &PinBlock,
    pins: &[(usize, &Pin)],
    out: &mut [u8],
) -> Result<usize, PinError> {
    let head = out.get_mut(..apdu.len()).ok_or(PinError::BufferTooSmall)?;
    head.copy_from_slice(apdu);
    let (header, data) = out.split_at_mut(APDU_HEADER_LEN);
    let mut len = data_len(apdu);
    for (offset, pin) in pins {
        len = block.write(data, len, *offset, pin)?;
    }
    header[4] = u8::try_from(len).map_err(|_| PinError::BlockOutsideApdu)?;
    Ok(APDU_HEADER_LEN + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pin::MAX_PIN_DIGITS;
    use std::vec::Vec;

    /// A PIN_VERIFY_STRUCTURE for an ISO format 2 VERIFY (00 20 00 81 08 2X FF..).
    fn verify_structure() -> Vec<u8> {
        let apdu = [
            0x00, 0x20, 0x00, 0x81, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        let mut s = std::vec![
            15,   // bTimerOut
            5,    // bTimerOut2
            0x89, // bytes, position 1, left, BCD
            0x47, // length 4 bits, block 7 bytes
            0x04, // length at bit 4
            8, 4,    // wPINMaxExtraDigit: max 8, min 4
            0x02, // validation key
            0x01, // one message
            0x09, 0x04, // wLangId 0x0409
            0x00, // bMsgIndex
            0, 0, 0, // bTeoPrologue
        ];
        s.extend_from_slice(&(apdu.len() as u32).to_le_bytes());
        s.extend_from_slice(&apdu);
        s
    }

    fn pin(digits: &[u8]) -> Pin {
        let mut pin = Pin::new();
        digits.iter().for_each(|d| assert!(pin.push(*d)));
        pin
    }

    #[test]
    fn verify_structure_parses_and_formats() {
        let bytes = verify_structure();
        let request = VerifyRequest::parse(&bytes).unwrap();
        assert_eq!(
            (request.limits.min_digits, request.limits.max_digits),
            (4, 8)
        );
        assert_eq!(request.limits.first_key_timeout_ms, 15_000);
        assert_eq!(request.limits.next_key_timeout_ms, 5_000);
        assert_eq!(request.messages.language, 0x0409);
        let mut out = [0u8; 32];
        let len = request.format(&pin(&[1, 2, 3, 4]), &mut out).unwrap();
        assert_eq!(
            &out[..len],
            [
                0x00, 0x20, 0x00, 0x81, 0x08, 0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
            ]
        );
        assert_eq!(
            request.format(&pin(&[1, 2, 3, 4]), &mut out[..12]),
            Err(PinError::BufferTooSmall)
        );
    }

    /// What `emit` writes into a buffer of `len` bytes, which it must fill.
    fn emitted(emit: impl Fn(&mut [u8]) -> Result<usize, PinError>, len: usize) -> Vec<u8> {
        let mut out = std::vec![0u8; len];
        assert_eq!(emit(&mut out), Ok(len));
        out
    }

    #[test]
    fn structures_emit_what_they_parse_from() {
        let verify = verify_structure();
        let request = VerifyRequest::parse(&verify).unwrap();
        assert_eq!(request.buffer_len(), verify.len());
        assert_eq!(emitted(|out| request.emit(out), verify.len()), verify);
        for confirm in [0x00, 0x01, 0x02, 0x03] {
            let modify = modify_structure(confirm);
            let request = ModifyRequest::parse(&modify).unwrap();
            assert_eq!(
                emitted(|out| request.emit(out), request.buffer_len()),
                modify
            );
        }
    }

    #[test]
    fn emitted_requests_parse_back_to_themselves() {
        let verify = verify_structure();
        let mut request = VerifyRequest::parse(&verify).unwrap();
        // The reader's default time-out travels as 0, read back as the default.
        request.limits.first_key_timeout_ms = DEFAULT_KEY_TIMEOUT_MS;
        request.messages.count = 0xFF;
        let bytes = emitted(|out| request.emit(out), request.buffer_len());
        assert_eq!(bytes[0], 0);
        assert_eq!(VerifyRequest::parse(&bytes), Ok(request));

        let modify = modify_structure(0x02);
        let mut request = ModifyRequest::parse(&modify).unwrap();
        request.limits.next_key_timeout_ms = 255_000;
        request.messages.index = [7, 8, 9];
        request.prologue = [1, 2, 3];
        let bytes = emitted(|out| request.emit(out), request.buffer_len());
        assert_eq!(ModifyRequest::parse(&bytes), Ok(request));
    }

    #[test]
    fn emit_refuses_short_buffers_and_fields_without_an_encoding() {
        let verify = verify_structure();
        let request = VerifyRequest::parse(&verify).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(
            request.emit(&mut out[..verify.len() - 1]),
            Err(PinError::BufferTooSmall)
        );
        let mut part_second = request;
        part_second.limits.first_key_timeout_ms = 1_500;
        assert_eq!(part_second.emit(&mut out), Err(PinError::Unencodable));
        let mut too_long = request;
        too_long.limits.next_key_timeout_ms = 256_000;
        assert_eq!(too_long.emit(&mut out), Err(PinError::Unencodable));
        let modify = modify_structure(0x03);
        let mut request = ModifyRequest::parse(&modify).unwrap();
        request.offset_new = 256;
        assert_eq!(request.emit(&mut out), Err(PinError::Unencodable));
    }

    /// `structure` with byte `at` set to `value`.
    fn with(structure: &[u8], at: usize, value: u8) -> Vec<u8> {
        let mut s = structure.to_vec();
        s[at] = value;
        s
    }

    /// Changes to the fields of a `PIN_VERIFY_STRUCTURE` (offset, value) and the
    /// error each must give; CCID's structure has the same fields one byte
    /// earlier (no `bTimerOut2`).
    const BAD_VERIFY_FIELDS: [(usize, u8, PinError); 6] = [
        (2, 0x8B, PinError::ReservedEncoding),
        (3, 0x48, PinError::BlockOutsideApdu),
        (6, 9, PinError::BadPinLimits),
        (6, 0, PinError::BadPinLimits),
        (7, 0, PinError::NoValidationCondition),
        (8, 2, PinError::BadMessageCount),
    ];

    #[test]
    fn every_bad_verify_structure_is_refused_precisely() {
        let good = verify_structure();
        assert_eq!(VerifyRequest::parse(&good[..18]), Err(PinError::Truncated));
        assert_eq!(
            VerifyRequest::parse(&good[..good.len() - 1]),
            Err(PinError::DataLengthMismatch)
        );
        let framing = [
            (15, 12, PinError::DataLengthMismatch),
            // ulDataLength of 4 GiB on a short structure: a mismatch, not an overflow.
            (18, 0xFF, PinError::DataLengthMismatch),
            (19 + 4, 9, PinError::BadApdu),
        ];
        for (at, value, error) in framing.into_iter().chain(BAD_VERIFY_FIELDS) {
            assert_eq!(
                VerifyRequest::parse(&with(&good, at, value)),
                Err(error),
                "byte {at} = {value:#04X}"
            );
        }
        // A 4-byte APDU has no Lc.
        let mut short = good[..19].to_vec();
        short[15..19].copy_from_slice(&4u32.to_le_bytes());
        short.extend_from_slice(&[0x00, 0x20, 0x00, 0x81]);
        assert_eq!(VerifyRequest::parse(&short), Err(PinError::BadApdu));
    }

    #[test]
    fn max_size_is_clamped_to_what_the_block_carries() {
        let mut s = verify_structure();
        s[5] = 0xFF;
        let request = VerifyRequest::parse(&s).unwrap();
        assert_eq!(request.limits.max_digits, 14);
        assert!(request.limits.max_digits <= MAX_PIN_DIGITS);
    }

    /// CHANGE REFERENCE DATA with two ASCII blocks of 8 bytes, FF padded.
    fn modify_structure(confirm: u8) -> Vec<u8> {
        let mut apdu = std::vec![0x00, 0x24, 0x00, 0x81, 0x10];
        apdu.extend_from_slice(&[0xFF; 16]);
        let mut s = std::vec![
            0, 0,    // default time-outs
            0x82, // bytes, position 0, left, ASCII
            0x08, // no length field, block 8 bytes
            0x00, // length position
            0, 8, // offsets: current at 0, new at 8
            8, 4,       // max 8, min 4
            confirm, // bConfirmPIN
            0x02,    // validation key
            0x03, 0x09, 0x04, 0, 1, 2, // messages
            0, 0, 0, // prologue
        ];
        s.extend_from_slice(&(apdu.len() as u32).to_le_bytes());
        s.extend_from_slice(&apdu);
        s
    }

    #[test]
    fn modify_structure_places_both_pins() {
        let bytes = modify_structure(0x03);
        let request = ModifyRequest::parse(&bytes).unwrap();
        assert_eq!(
            request.confirm,
            Confirm {
                enter_current: true,
                confirm_new: true
            }
        );
        assert_eq!(request.messages.index, [0, 1, 2]);
        let mut out = [0u8; 64];
        let len = request
            .format(&pin(&[1, 2, 3, 4]), &pin(&[5, 6, 7, 8, 9]), &mut out)
            .unwrap();
        let mut expected = std::vec![0x00, 0x24, 0x00, 0x81, 0x10];
        expected.extend_from_slice(b"1234\xFF\xFF\xFF\xFF56789\xFF\xFF\xFF");
        assert_eq!(&out[..len], &expected[..]);
        // Without "enter current", only the new PIN is written.
        let bytes = modify_structure(0x01);
        let request = ModifyRequest::parse(&bytes).unwrap();
        let len = request
            .format(&pin(&[1, 2, 3, 4]), &pin(&[5, 6, 7, 8]), &mut out)
            .unwrap();
        assert_eq!(
            &out[5..len],
            b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF5678\xFF\xFF\xFF\xFF"
        );
    }

    #[test]
    fn modify_blocks_must_fit() {
        let mut bytes = modify_structure(0x03);
        bytes[6] = 9; // the new PIN's block would end past the data
        assert_eq!(
            ModifyRequest::parse(&bytes),
            Err(PinError::BlockOutsideApdu)
        );
        bytes[6] = 8;
        bytes[5] = 9; // the current PIN's block, only checked when it is entered
        assert_eq!(
            ModifyRequest::parse(&bytes),
            Err(PinError::BlockOutsideApdu)
        );
        bytes[9] = 0x01;
        assert!(ModifyRequest::parse(&bytes).is_ok());
    }

    /// What libccid's SecurePINVerify sends for a part 10 structure: without
    /// `bTimerOut2` and `ulDataLength`.
    fn ccid_verify(part10: &[u8]) -> Vec<u8> {
        let mut ccid = std::vec![part10[0]];
        ccid.extend_from_slice(&part10[2..15]);
        ccid.extend_from_slice(&part10[19..]);
        ccid
    }

    /// What libccid's SecurePINModify sends: without `bTimerOut2` and
    /// `ulDataLength`, `bMsgIndex2` only if `bNumberMessage` is not 0, `bMsgIndex3`
    /// only if it is 3 or more.
    fn ccid_modify(part10: &[u8]) -> Vec<u8> {
        let count = part10[11];
        (0..part10.len())
            .filter(|&b| b != 1 && !(20..24).contains(&b))
            .filter(|&b| !(b == 15 && count == 0 || b == 16 && count < 3))
            .map(|b| part10[b])
            .collect()
    }

    #[test]
    fn ccid_verify_structure_reads_like_part_10() {
        let part10 = verify_structure();
        let ccid = ccid_verify(&part10);
        assert_eq!(ccid.len(), part10.len() - 5);
        let request = VerifyRequest::parse_ccid(&ccid).unwrap();
        let expected = VerifyRequest::parse(&part10).unwrap();
        // bTimeOut serves every key: the only difference.
        assert_eq!(request.limits.next_key_timeout_ms, 15_000);
        assert_eq!(
            VerifyRequest {
                limits: expected.limits,
                ..request
            },
            expected
        );
        assert_eq!(
            VerifyRequest::parse_ccid(&ccid[..13]),
            Err(PinError::Truncated)
        );
        assert_eq!(
            VerifyRequest::parse_ccid(&ccid[..ccid.len() - 1]),
            Err(PinError::BadApdu)
        );
        for (at, value, error) in BAD_VERIFY_FIELDS {
            let ccid_at = at - 1;
            assert_eq!(
                VerifyRequest::parse_ccid(&with(&ccid, ccid_at, value)),
                Err(error),
                "CCID byte {ccid_at} = {value:#04X}"
            );
        }
        assert!(VerifyRequest::parse_ccid(&with(&ccid, 7, 0xFF)).is_ok());
    }

    #[test]
    fn ccid_modify_indexes_follow_the_number_of_messages() {
        for (count, index) in [
            (0u8, [0u8, 0, 0]),
            (1, [0, 1, 0]),
            (2, [0, 1, 0]),
            (3, [0, 1, 2]),
            (0xFF, [0, 1, 2]),
        ] {
            let mut part10 = modify_structure(0x03);
            part10[11] = count;
            let ccid = ccid_modify(&part10);
            let request = ModifyRequest::parse_ccid(&ccid).unwrap();
            assert_eq!(request.messages.count, count);
            assert_eq!(request.messages.index, index, "bNumberMessage {count}");
            let expected = ModifyRequest::parse(&part10).unwrap();
            assert_eq!(request.apdu, expected.apdu);
            assert_eq!(request.block, expected.block);
            assert_eq!(request.confirm, expected.confirm);
            assert_eq!(
                (request.offset_current, request.offset_new),
                (expected.offset_current, expected.offset_new)
            );
        }
        let mut part10 = modify_structure(0x03);
        part10[11] = 4;
        assert_eq!(
            ModifyRequest::parse(&part10),
            Err(PinError::BadMessageCount)
        );
        let ccid = ccid_modify(&modify_structure(0x03));
        let mut bad = ccid.clone();
        bad[10] = 4;
        assert_eq!(
            ModifyRequest::parse_ccid(&bad),
            Err(PinError::BadMessageCount)
        );
        // bNumberMessage 3 names three indexes: a structure cut after two is short.
        assert_eq!(
            ModifyRequest::parse_ccid(&ccid[..16]),
            Err(PinError::Truncated)
        );
        // All three indexes sent with bNumberMessage 0 (what libccid sends a
        // Gemalto reader without bNumberMessageFix): the extra bytes shift the
        // APDU, which then disagrees with its Lc.
        let mut shifted = ccid.clone();
        shifted[10] = 0;
        assert_eq!(ModifyRequest::parse_ccid(&shifted), Err(PinError::BadApdu));
    }
}
