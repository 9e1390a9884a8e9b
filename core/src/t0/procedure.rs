//! What a byte from the card means where T=0 expects a procedure byte
//! (ISO/IEC 7816-3:2006 10.3.3): read once, for the exchange and for the trace.

use core::fmt;

use super::NULL;

/// A T=0 procedure byte, as ISO/IEC 7816-3 10.3.3 reads it after a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Procedure {
    /// 60: NULL, the card asks for more time.
    Null,
    /// INS: all remaining data bytes follow (either way).
    Ack(u8),
    /// INS ⊕ FF: one data byte follows.
    AckOne(u8),
    /// SW1 (6X other than 60, or 9X); SW2 follows.
    Sw1(u8),
    /// Anything else: the card broke the protocol.
    Invalid(u8),
}

impl Procedure {
    /// The meaning of `byte` from the card after a header whose INS is `ins`:
    /// NULL first, then the two acknowledgements, then SW1.
    pub const fn of(byte: u8, ins: u8) -> Procedure {
        if byte == NULL {
            Procedure::Null
        } else if byte == ins {
            Procedure::Ack(byte)
        } else if byte == ins ^ 0xFF {
            Procedure::AckOne(byte)
        } else if is_sw1(byte) {
            Procedure::Sw1(byte)
        } else {
            Procedure::Invalid(byte)
        }
    }
}

/// Whether `byte` has the form of SW1, 6X or 9X: after a header it is SW1 (60
/// excepted, NULL), and as an INS T=0 cannot carry it (10.3.2).
pub const fn is_sw1(byte: u8) -> bool {
    matches!(byte & 0xF0, 0x60 | 0x90)
}

impl fmt::Display for Procedure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Procedure::Null => f.write_str("NULL 60 (more time)"),
            Procedure::Ack(ins) => write!(f, "ACK {ins:02X} (all data)"),
            Procedure::AckOne(b) => write!(f, "ACK {b:02X} (one byte)"),
            Procedure::Sw1(sw1) => write!(f, "SW1 {sw1:02X}"),
            Procedure::Invalid(b) => write!(f, "invalid procedure byte {b:02X}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_after_an_ins_of_b0() {
        let ins = 0xB0;
        for byte in 0..=u8::MAX {
            let expected = match byte {
                0x60 => Procedure::Null,
                0xB0 => Procedure::Ack(byte),
                0x4F => Procedure::AckOne(byte),
                0x61..=0x6F | 0x90..=0x9F => Procedure::Sw1(byte),
                _ => Procedure::Invalid(byte),
            };
            assert_eq!(Procedure::of(byte, ins), expected, "{byte:02X}");
        }
    }

    /// The order of the rules: NULL before an INS of 60, an acknowledgement
    /// before SW1 for an INS of 6X or 9X (which an exchange refuses, a trace may
    /// still see).
    #[test]
    fn null_then_acknowledgements_then_sw1() {
        assert_eq!(Procedure::of(0x60, 0x60), Procedure::Null);
        assert_eq!(Procedure::of(0x61, 0x61), Procedure::Ack(0x61));
        assert_eq!(Procedure::of(0x9E, 0x61), Procedure::AckOne(0x9E));
        assert!(is_sw1(0x6C) && is_sw1(0x90) && !is_sw1(0x50) && !is_sw1(0xA0));
    }
}
