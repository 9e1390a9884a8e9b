//! The epilogue field of a T=1 block: the error detection code (EDC).

// Independent of card-sim/src/edc.rs on purpose: the simulated card must not share the reader's code, so that its tests mean something.
/// The error detection code in force, from the ATR (TC for T=1, bit 1).
///
/// ISO/IEC 7816-3:2006 clause 11.3.3 offers two codes, chosen by the card in the first
/// TC for T=1 of its ATR (bit 1: 0 = LRC, 1 = CRC):
///
/// * LRC, one byte: the exclusive-or of every byte of the prologue and information
///   fields.
/// * CRC, two bytes: the 16-bit CCITT polynomial x¹⁶ + x¹² + x⁵ + 1 processed least
///   significant bit first (the reflected form, 0x8408), register preset to `FFFF`,
///   no final complement, sent most significant byte first. This is the variant the
///   free CCID driver (libccid) and the readers tested against it use; its check value
///   over the ASCII digits `123456789` is `6F91`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Edc {
    /// Longitudinal redundancy check: one byte, exclusive-or of the block (the default).
    #[default]
    Lrc,
    /// Cyclic redundancy check: two bytes (see [`Edc`]).
    Crc,
}

impl Edc {
    /// Length of the epilogue field, in bytes (1 for LRC, 2 for CRC).
    pub const fn epilogue_len(self) -> usize {
        match self {
            Edc::Lrc => 1,
            Edc::Crc => 2,
        }
    }

    /// The code from bit 1 of the first TC for T=1 in the ATR (`TCi`, i > 2).
    pub const fn from_tc(tc: u8) -> Edc {
        if tc & 0x01 == 0 { Edc::Lrc } else { Edc::Crc }
    }

    /// The code as that bit: 0 for LRC, 1 for CRC (the inverse of
    /// [`Edc::from_tc`]); also the value of `SCARD_ATTR_CURRENT_EBC_ENCODING` and
    /// bit 0 of CCID's `bmTCCKST1`.
    pub const fn tc_bit(self) -> u8 {
        match self {
            Edc::Lrc => 0,
            Edc::Crc => 1,
        }
    }

    /// The epilogue bytes for `data` (prologue followed by information field):
    /// the code in the first [`Edc::epilogue_len`] bytes of the returned array.
    pub fn compute(self, data: &[u8]) -> [u8; 2] {
        match self {
            Edc::Lrc => [lrc(data), 0],
            Edc::Crc => crc16(data).to_be_bytes(),
        }
    }

    /// `true` if `epilogue` is the code of `data` (and has the right length).
    pub fn verify(self, data: &[u8], epilogue: &[u8]) -> bool {
        let code = self.compute(data);
        code.get(..self.epilogue_len()) == Some(epilogue)
    }
}

/// The code's name: `LRC` or `CRC`.
impl core::fmt::Display for Edc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Edc::Lrc => "LRC",
            Edc::Crc => "CRC",
        })
    }
}

/// LRC of `data`: the exclusive-or of all bytes. The ATR's TCK and the PPS
/// message's PCK are this check character too (ISO/IEC 7816-3:2006 8.2.5, 9.2):
/// the exclusive-or of a message and its check character is 0.
pub fn lrc(data: &[u8]) -> u8 {
    data.iter().fold(0, |acc, &b| acc ^ b)
}

/// Reflected CCITT polynomial (x¹⁶ + x¹² + x⁵ + 1, bit-reversed).
const CRC_POLY_REFLECTED: u16 = 0x8408;

/// One byte-step of the reflected CRC, as a table computed at compile time.
const CRC_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut reg = i as u16;
        let mut bit = 0;
        while bit < 8 {
            reg = if reg & 1 != 0 {
                (reg >> 1) ^ CRC_POLY_REFLECTED
            } else {
                reg >> 1
            };
            bit += 1;
        }
        table[i] = reg;
        i += 1;
    }
    table
};

/// The T=1 CRC of `data` (see [`Edc`] for the variant); the
/// epilogue is its big-endian bytes.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF, |reg: u16, &b| {
        let index = usize::from((reg ^ u16::from(b)) & 0xFF);
        // `index` < 256 by the mask; `get` keeps the no-panic rule visible.
        (reg >> 8) ^ CRC_TABLE.get(index).copied().unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        use std::string::ToString;
        assert_eq!([Edc::Lrc, Edc::Crc].map(|e| e.to_string()), ["LRC", "CRC"]);
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), 0x6F91);
        assert_eq!(crc16(&[]), 0xFFFF);
        // S(IFS request, 254) with NAD 0: independently computed bit by bit.
        assert_eq!(Edc::Crc.compute(&[0x00, 0xC1, 0x01, 0xFE]), [0x54, 0x4E]);
    }

    #[test]
    fn crc_table_matches_bitwise() {
        fn bitwise(data: &[u8]) -> u16 {
            let mut reg = 0xFFFFu16;
            for &b in data {
                reg ^= u16::from(b);
                for _ in 0..8 {
                    reg = if reg & 1 != 0 {
                        (reg >> 1) ^ 0x8408
                    } else {
                        reg >> 1
                    };
                }
            }
            reg
        }
        let data: std::vec::Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for n in 0..data.len() {
            assert_eq!(crc16(&data[..n]), bitwise(&data[..n]));
        }
    }

    #[test]
    fn lrc_and_verify() {
        assert_eq!(lrc(&[0x00, 0xC1, 0x01, 0xFE]), 0x3E);
        assert!(Edc::Lrc.verify(&[0x00, 0xC1, 0x01, 0xFE], &[0x3E]));
        assert!(!Edc::Lrc.verify(&[0x00, 0xC1, 0x01, 0xFE], &[0x3F]));
        assert!(!Edc::Lrc.verify(&[0x00, 0xC1, 0x01, 0xFE], &[0x3E, 0x00]));
        assert!(Edc::Crc.verify(&[0x00, 0xC1, 0x01, 0xFE], &[0x54, 0x4E]));
        assert!(!Edc::Crc.verify(&[0x00, 0xC1, 0x01, 0xFE], &[0x4E, 0x54]));
        assert!(!Edc::Crc.verify(&[0x00, 0xC1, 0x01, 0xFE], &[0x54]));
        assert_eq!(Edc::from_tc(0x01), Edc::Crc);
        assert_eq!(Edc::from_tc(0x00), Edc::Lrc);
        assert_eq!([Edc::Lrc, Edc::Crc].map(Edc::tc_bit), [0, 1]);
        for tc in 0..=u8::MAX {
            assert_eq!(Edc::from_tc(tc).tc_bit(), tc & 0x01, "{tc:02X}");
        }
        assert_eq!(Edc::Crc.epilogue_len(), 2);
    }
}
