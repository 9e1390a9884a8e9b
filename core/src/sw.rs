//! Status words SW1 SW2 (ISO/IEC 7816-4:2020 clause 5.6, tables 5 and 6): what a
//! card's answer says, in words, for diagnostic displays (`readerkit apdu`, the
//! status indicator of the historical bytes); and the one reading of `90 00` and
//! of the counts in `61 xx` and `6C xx`, which [`apdu::Response`](crate::apdu::Response)
//! and the T=0 exchange ask.
//!
//! [`StatusWord`]'s `Display` writes the meaning without allocating; values ISO
//! leaves open read as "unknown" or "proprietary".

use core::fmt;

use crate::apdu::short_count;

/// A status word SW1 SW2, as one big-endian number (`0x9000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

/// The class of a status word (ISO/IEC 7816-4:2020 table 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Class {
    /// `90 00` and `61 xx`: the command completed normally.
    Normal,
    /// `62 xx` and `63 xx`: warning processing (state unchanged / changed).
    Warning,
    /// `64 xx` to `66 xx`: execution error.
    ExecutionError,
    /// `67 xx` to `6F xx`: checking error (the card refused the command).
    CheckingError,
    /// `9x xx` other than `90 00`: proprietary to the card or application.
    Proprietary,
    /// Anything else (`6x` outside the above, or SW1 outside `6x` / `9x`): not a
    /// valid status word.
    Invalid,
}

impl Class {
    /// A short stable identifier: `"normal"`, `"warning"`, `"execution_error"`,
    /// `"checking_error"`, `"proprietary"`, `"invalid"`.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Normal => "normal",
            Class::Warning => "warning",
            Class::ExecutionError => "execution_error",
            Class::CheckingError => "checking_error",
            Class::Proprietary => "proprietary",
            Class::Invalid => "invalid",
        }
    }
}

impl StatusWord {
    /// The status word of `sw1`, `sw2`.
    pub const fn new(sw1: u8, sw2: u8) -> StatusWord {
        StatusWord(u16::from_be_bytes([sw1, sw2]))
    }

    /// SW1.
    pub const fn sw1(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// SW2.
    pub const fn sw2(self) -> u8 {
        self.0.to_be_bytes()[1]
    }

    /// `true` for `90 00`, normal processing.
    pub const fn is_success(self) -> bool {
        self.0 == 0x9000
    }

    /// For `61 xx`: the number of response bytes still available (1..=256; `xx` = 0
    /// means 256 or more), to be fetched with GET RESPONSE.
    pub const fn bytes_available(self) -> Option<u16> {
        match self.sw1() {
            0x61 => Some(short_count(self.sw2())),
            _ => None,
        }
    }

    /// For `6C xx`: the exact Le the card wants (1..=256), to resend the command with.
    pub const fn exact_length(self) -> Option<u16> {
        match self.sw1() {
            0x6C => Some(short_count(self.sw2())),
            _ => None,
        }
    }

    /// The class SW1 puts it in.
    pub const fn class(self) -> Class {
        match (self.sw1(), self.sw2()) {
            (0x90, 0x00) | (0x61, _) => Class::Normal,
            (0x62 | 0x63, _) => Class::Warning,
            (0x64..=0x66, _) => Class::ExecutionError,
            (0x67..=0x6F, _) => Class::CheckingError,
            (0x90..=0x9F, _) => Class::Proprietary,
            _ => Class::Invalid,
        }
    }

    /// The fixed meaning of this exact value, if ISO gives one (those with a count
    /// in SW2, like `61 xx` and `63 Cx`, are only in the `Display` output).
    const fn fixed(self) -> Option<&'static str> {
        Some(match self.0 {
            0x9000 => "normal processing: no further qualification",
            0x6200 => "warning, state unchanged: no information given",
            0x6281 => "warning: part of returned data may be corrupted",
            0x6282 => "warning: end of file or record reached before reading Ne bytes",
            0x6283 => "warning: selected file deactivated",
            0x6284 => "warning: file or data control information not correctly formatted",
            0x6285 => "warning: selected file in termination state",
            0x6286 => "warning: no input data available from a sensor on the card",
            0x6287 => "warning: at least one of the referenced records is deactivated",
            0x6300 => "warning, state changed: no information given",
            0x6381 => "warning: file filled up by the last write",
            0x6400 => "execution error, state unchanged: no information given",
            0x6401 => "execution error: immediate response required by the card",
            0x6500 => "execution error, state changed: no information given",
            0x6581 => "execution error: memory failure",
            0x6600 => "execution error: security-related issue",
            0x6700 => "wrong length: no further indication",
            0x6800 => "functions in CLA not supported: no information given",
            0x6881 => "logical channel not supported",
            0x6882 => "secure messaging not supported",
            0x6883 => "last command of the chain expected",
            0x6884 => "command chaining not supported",
            0x6900 => "command not allowed: no information given",
            0x6981 => "command incompatible with file structure",
            0x6982 => "security status not satisfied",
            0x6983 => "authentication method blocked",
            0x6984 => "reference data not usable",
            0x6985 => "conditions of use not satisfied",
            0x6986 => "command not allowed (no current EF)",
            0x6987 => "expected secure messaging data objects missing",
            0x6988 => "incorrect secure messaging data objects",
            0x6A00 => "wrong parameters P1-P2: no information given",
            0x6A80 => "incorrect parameters in the command data field",
            0x6A81 => "function not supported",
            0x6A82 => "file or application not found",
            0x6A83 => "record not found",
            0x6A84 => "not enough memory space in the file",
            0x6A85 => "Nc inconsistent with TLV structure",
            0x6A86 => "incorrect parameters P1-P2",
            0x6A87 => "Nc inconsistent with parameters P1-P2",
            0x6A88 => "referenced data or reference data not found",
            0x6A89 => "file already exists",
            0x6A8A => "DF name already exists",
            0x6B00 => "wrong parameters P1-P2",
            0x6D00 => "instruction code not supported or invalid",
            0x6E00 => "class not supported",
            0x6F00 => "no precise diagnosis",
            _ => return None,
        })
    }
}

impl fmt::Display for StatusWord {
    /// The meaning in words, e.g. `file or application not found` for `6A 82`,
    /// `5 data bytes still available` for `61 05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.fixed() {
            return f.write_str(text);
        }
        let (sw1, sw2) = (self.sw1(), self.sw2());
        match (sw1, sw2) {
            (0x61, 0) => f.write_str("normal processing: 256 or more data bytes still available"),
            (0x61, n) => write!(f, "normal processing: {n} data bytes still available"),
            (0x62, 0x02..=0x80) => write!(
                f,
                "warning: triggering by the card ({sw2:02X}): query the card with GET DATA"
            ),
            (0x63, 0xC0..=0xCF) => write!(f, "warning: counter {}", sw2 & 0x0F),
            (0x64, 0x02..=0x80) => write!(
                f,
                "execution error: triggering by the card ({sw2:02X}): query the card with GET DATA"
            ),
            (0x6C, 0) => f.write_str("wrong Le field: 256 data bytes available"),
            (0x6C, n) => write!(f, "wrong Le field: {n} data bytes available (the exact Le)"),
            (0x90..=0x9F, _) => f.write_str("proprietary status word"),
            _ => match self.class() {
                Class::Warning => f.write_str("warning: unknown qualification"),
                Class::ExecutionError => f.write_str("execution error: unknown qualification"),
                Class::CheckingError => f.write_str("checking error: unknown qualification"),
                _ => f.write_str("not a valid ISO/IEC 7816-4 status word"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn meanings_and_classes() {
        // Values from ISO/IEC 7816-4:2020 tables 5 and 6.
        let cases = [
            (
                0x9000,
                Class::Normal,
                "normal processing: no further qualification",
            ),
            (
                0x6105,
                Class::Normal,
                "normal processing: 5 data bytes still available",
            ),
            (
                0x6100,
                Class::Normal,
                "normal processing: 256 or more data bytes still available",
            ),
            (0x63C2, Class::Warning, "warning: counter 2"),
            (
                0x6A82,
                Class::CheckingError,
                "file or application not found",
            ),
            (
                0x6C0C,
                Class::CheckingError,
                "wrong Le field: 12 data bytes available (the exact Le)",
            ),
            (
                0x6581,
                Class::ExecutionError,
                "execution error: memory failure",
            ),
            (0x9F10, Class::Proprietary, "proprietary status word"),
            (
                0x6A99,
                Class::CheckingError,
                "checking error: unknown qualification",
            ),
            (
                0x1234,
                Class::Invalid,
                "not a valid ISO/IEC 7816-4 status word",
            ),
            (
                0x6000,
                Class::Invalid,
                "not a valid ISO/IEC 7816-4 status word",
            ),
        ];
        for (sw, class, text) in cases {
            let s = StatusWord(sw);
            assert_eq!(s.class(), class, "{sw:04X}");
            assert_eq!(s.to_string(), text, "{sw:04X}");
        }
        assert_eq!(StatusWord::new(0x6A, 0x82), StatusWord(0x6A82));
        assert!(StatusWord(0x9000).is_success() && !StatusWord(0x9001).is_success());
        assert_eq!(
            (StatusWord(0x6A82).sw1(), StatusWord(0x6A82).sw2()),
            (0x6A, 0x82)
        );
    }

    /// The counts of `61 xx` and `6C xx`, `00` meaning 256; none for other SW1.
    #[test]
    fn counts_in_sw2() {
        for (sw, available, exact) in [
            (0x6105, Some(5), None),
            (0x6100, Some(256), None),
            (0x6C0C, None, Some(12)),
            (0x6C00, None, Some(256)),
            (0x9000, None, None),
            (0x6700, None, None),
        ] {
            let s = StatusWord(sw);
            assert_eq!(
                (s.bytes_available(), s.exact_length()),
                (available, exact),
                "{sw:04X}"
            );
        }
    }
}
