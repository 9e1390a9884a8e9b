//! T=1 error detection codes (ISO/IEC 7816-3:2006 clause 11.4.4).
//!
//! The epilogue field of a T=1 block carries either an LRC (one byte, the XOR of
//! every byte of the prologue and information fields) or a CRC (two bytes). The CRC
//! is the one of ISO/IEC 13239 as implemented by the readers in use (libccid's
//! `checksum.c`, OpenCT): generator polynomial x^16 + x^12 + x^5 + 1, processed least
//! significant bit first (reflected polynomial `0x8408`), initial value `0xFFFF`, no
//! final complement; the 16-bit result is sent most significant byte first. Its check
//! value over the ASCII string `123456789` is `0x6F91`.

// Independent of readerkit's core/src/t1/edc.rs on purpose: the simulated card must not share the reader's code, so that its tests mean something.
/// Which error detection code a T=1 block carries (TC3 bit 1 of the ATR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edc {
    /// Longitudinal redundancy check, one byte (TC3 = 0x00, the default).
    Lrc,
    /// Cyclic redundancy check, two bytes (TC3 = 0x01).
    Crc,
}

impl Edc {
    /// Length of the epilogue field in bytes: 1 for LRC, 2 for CRC.
    pub const fn epilogue_len(self) -> usize {
        match self {
            Edc::Lrc => 1,
            Edc::Crc => 2,
        }
    }

    /// The value of TC3 that announces this code in the ATR.
    pub const fn tc3(self) -> u8 {
        match self {
            Edc::Lrc => 0x00,
            Edc::Crc => 0x01,
        }
    }

    /// Compute the epilogue over `data` into `out`; returns the number of bytes
    /// written ([`Edc::epilogue_len`]). `out` must hold at least two bytes.
    pub fn compute(self, data: &[u8], out: &mut [u8; 2]) -> usize {
        match self {
            Edc::Lrc => {
                out[0] = lrc(data);
                1
            }
            Edc::Crc => {
                *out = crc(data).to_be_bytes();
                2
            }
        }
    }

    /// Whether `epilogue` is the correct code for `data`.
    pub fn check(self, data: &[u8], epilogue: &[u8]) -> bool {
        let mut expected = [0u8; 2];
        let n = self.compute(data, &mut expected);
        epilogue == &expected[..n]
    }
}

/// LRC: the exclusive-or of all bytes.
pub fn lrc(data: &[u8]) -> u8 {
    data.iter().fold(0, |acc, b| acc ^ b)
}

/// The T=1 CRC (see the module documentation for its exact definition).
pub fn crc(data: &[u8]) -> u16 {
    let mut v: u16 = 0xFFFF;
    for &b in data {
        v ^= u16::from(b);
        for _ in 0..8 {
            v = if v & 1 != 0 {
                (v >> 1) ^ 0x8408
            } else {
                v >> 1
            };
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc(b"123456789"), 0x6F91);
        assert_eq!(crc(&[]), 0xFFFF);
    }

    #[test]
    fn crc_matches_table_driven_form() {
        // The byte-wise table form used by libccid: v = (v >> 8) ^ T[(v ^ b) & 0xFF],
        // with T[1] = 0x1189 and T[0x80] = 0x8408.
        let table = |i: u8| {
            let mut v = u16::from(i);
            for _ in 0..8 {
                v = if v & 1 != 0 {
                    (v >> 1) ^ 0x8408
                } else {
                    v >> 1
                };
            }
            v
        };
        assert_eq!(table(1), 0x1189);
        assert_eq!(table(0x80), 0x8408);
        assert_eq!(table(0xFF), 0x0F78);
        let data = [0x00u8, 0x40, 0x05, 0x00, 0x84, 0x00, 0x00, 0x08];
        let mut v: u16 = 0xFFFF;
        for &b in &data {
            v = (v >> 8) ^ table((v ^ u16::from(b)) as u8);
        }
        assert_eq!(crc(&data), v);
    }

    #[test]
    fn lrc_and_check() {
        assert_eq!(lrc(&[0x00, 0xC1, 0x01, 0xFE]), 0x3E);
        assert!(Edc::Lrc.check(&[0x00, 0xC1, 0x01, 0xFE], &[0x3E]));
        assert!(!Edc::Lrc.check(&[0x00, 0xC1, 0x01, 0xFE], &[0x3F]));
        let c = crc(&[1, 2, 3]).to_be_bytes();
        assert!(Edc::Crc.check(&[1, 2, 3], &c));
        assert!(!Edc::Crc.check(&[1, 2, 3], &[c[1], c[0]]));
        assert_eq!(Edc::Crc.epilogue_len(), 2);
        assert_eq!(Edc::Lrc.tc3(), 0);
    }
}
