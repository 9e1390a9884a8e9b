//! The PC/SC part 10 PIN structures a client sends with `FEATURE_VERIFY_PIN_DIRECT`
//! and `FEATURE_MODIFY_PIN_DIRECT` (PIN_VERIFY_STRUCTURE, PIN_MODIFY_STRUCTURE),
//! built by field (multi-byte fields little-endian, as pcsc-lite passes them).

/// How the user types a PIN: the fields both structures carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `bTimerOut`: seconds for the first key (0: the reader's default).
    pub timeout_s: u8,
    /// `bTimerOut2`: seconds between keys (0: the reader's default).
    pub timeout2_s: u8,
    /// `bmFormatString`: how each digit is coded and where the PIN goes.
    pub format: u8,
    /// `bmPINBlockString`: the length field and the block size.
    pub block: u8,
    /// `bmPINLengthFormat`.
    pub length_format: u8,
    /// Fewest digits (the high byte of `wPINMaxExtraDigit`).
    pub min_digits: u8,
    /// Most digits (its low byte).
    pub max_digits: u8,
    /// `bEntryValidationCondition`.
    pub validation: u8,
}

impl Entry {
    /// ASCII digits left justified at byte 0 of an 8-byte block, no length field,
    /// 4 to 8 digits ended by the validation key, the reader's time-outs.
    pub const ASCII: Entry = Entry {
        timeout_s: 0,
        timeout2_s: 0,
        format: 0x82,
        block: 0x08,
        length_format: 0x00,
        min_digits: 4,
        max_digits: 8,
        validation: 0x02,
    };

    /// The structures' first five bytes: time-outs and the PIN's coding.
    fn coding(&self) -> [u8; 5] {
        [
            self.timeout_s,
            self.timeout2_s,
            self.format,
            self.block,
            self.length_format,
        ]
    }

    /// `wPINMaxExtraDigit`.
    fn digits(&self) -> [u8; 2] {
        [self.max_digits, self.min_digits]
    }
}

/// `wLangId` US English.
const LANG_EN_US: [u8; 2] = 0x0409u16.to_le_bytes();

/// PIN_VERIFY_STRUCTURE.
#[derive(Debug, Clone)]
pub struct Verify<'a> {
    /// How the PIN is typed.
    pub entry: Entry,
    /// `bNumberMessage`.
    pub messages: u8,
    /// `bMsgIndex`.
    pub message: u8,
    /// The command APDU the PIN block goes into.
    pub apdu: &'a [u8],
}

impl<'a> Verify<'a> {
    /// A verification into `apdu` typed as [`Entry::ASCII`], one message.
    pub fn new(apdu: &'a [u8]) -> Verify<'a> {
        Verify {
            entry: Entry::ASCII,
            messages: 1,
            message: 0,
            apdu,
        }
    }

    /// The structure's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.entry.coding().to_vec();
        s.extend_from_slice(&self.entry.digits());
        s.extend_from_slice(&[self.entry.validation, self.messages]);
        s.extend_from_slice(&LANG_EN_US);
        s.push(self.message);
        with_apdu(s, self.apdu)
    }
}

/// PIN_MODIFY_STRUCTURE.
#[derive(Debug, Clone)]
pub struct Modify<'a> {
    /// How each PIN is typed.
    pub entry: Entry,
    /// `bInsertionOffsetOld`: where the current PIN's block goes, in bytes after
    /// the APDU header.
    pub offset_old: u8,
    /// `bInsertionOffsetNew`: where the new PIN's block goes.
    pub offset_new: u8,
    /// `bConfirmPIN`.
    pub confirm: u8,
    /// `bNumberMessage`.
    pub messages: u8,
    /// `bMsgIndex1` to `bMsgIndex3`.
    pub message_indexes: [u8; 3],
    /// The command APDU the PIN blocks go into.
    pub apdu: &'a [u8],
}

impl<'a> Modify<'a> {
    /// A modification into `apdu` typed as [`Entry::ASCII`]: the current PIN's
    /// block at byte 0 and the new one's at byte 8, the current PIN then the new
    /// one twice, three messages.
    pub fn new(apdu: &'a [u8]) -> Modify<'a> {
        Modify {
            entry: Entry::ASCII,
            offset_old: 0,
            offset_new: 8,
            confirm: 0x03,
            messages: 3,
            message_indexes: [0, 1, 2],
            apdu,
        }
    }

    /// The structure's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.entry.coding().to_vec();
        s.extend_from_slice(&[self.offset_old, self.offset_new]);
        s.extend_from_slice(&self.entry.digits());
        s.extend_from_slice(&[self.confirm, self.entry.validation, self.messages]);
        s.extend_from_slice(&LANG_EN_US);
        s.extend_from_slice(&self.message_indexes);
        with_apdu(s, self.apdu)
    }
}

/// `head`, then `bTeoPrologue` (zero), `ulDataLength` and the APDU.
fn with_apdu(mut head: Vec<u8>, apdu: &[u8]) -> Vec<u8> {
    head.extend_from_slice(&[0, 0, 0]);
    let length = u32::try_from(apdu.len()).expect("an APDU is shorter than 4 GiB");
    head.extend_from_slice(&length.to_le_bytes());
    head.extend_from_slice(apdu);
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_sit_where_part_10_puts_them() {
        let apdu = [0x00, 0x20, 0x00, 0x81, 0x08, 0x20, 0xFF, 0xFF];
        let verify = Verify {
            entry: Entry {
                timeout_s: 15,
                timeout2_s: 5,
                format: 0x89,
                block: 0x47,
                length_format: 0x04,
                ..Entry::ASCII
            },
            ..Verify::new(&apdu)
        };
        let mut expected = vec![
            15, 5, 0x89, 0x47, 0x04, 8, 4, 0x02, 0x01, 0x09, 0x04, 0, 0, 0, 0, 8, 0, 0, 0,
        ];
        expected.extend_from_slice(&apdu);
        assert_eq!(verify.to_bytes(), expected);

        let apdu = [0x00, 0x24, 0x00, 0x81, 0x10];
        let mut expected = vec![
            0, 0, 0x82, 0x08, 0x00, 0, 8, 8, 4, 0x03, 0x02, 0x03, 0x09, 0x04, 0, 1, 2, 0, 0, 0, 5,
            0, 0, 0,
        ];
        expected.extend_from_slice(&apdu);
        assert_eq!(Modify::new(&apdu).to_bytes(), expected);
    }
}
