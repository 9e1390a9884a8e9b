//! Where and how the PIN goes into the card's command (`bmFormatString`,
//! `bmPINBlockString`, `bmPINLengthFormat` of PC/SC part 10 §2.5.2 and CCID §6.1.11).
//!
//! Positions count from the first byte of the APDU's data field (after Lc), in bits,
//! most significant bit first; a structure that gives them in bytes is converted
//! once, in [`PinBlock::from_fields`].

use super::entry::Pin;
use super::{MAX_PIN_DIGITS, PinError};

/// How each digit is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// One byte per digit, 0x00-0x09 (`bmFormatString` bits 1-0 = 00).
    Binary,
    /// One nibble per digit (01).
    Bcd,
    /// One byte per digit, '0'-'9' (10).
    Ascii,
}

impl Encoding {
    /// Bits one digit takes.
    pub const fn digit_bits(self) -> usize {
        match self {
            Encoding::Bcd => 4,
            Encoding::Binary | Encoding::Ascii => 8,
        }
    }

    /// Its code in `bmFormatString` bits 1-0.
    pub const fn format_bits(self) -> u8 {
        match self {
            Encoding::Binary => 0,
            Encoding::Bcd => 1,
            Encoding::Ascii => 2,
        }
    }

    const fn encode(self, digit: u8) -> u8 {
        match self {
            Encoding::Binary | Encoding::Bcd => digit,
            Encoding::Ascii => b'0' + digit,
        }
    }
}

/// Which end of the PIN block the digits start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Justification {
    /// The first digit at the block's start (`bmFormatString` bit 2 = 0).
    Left,
    /// The last digit at the block's end (1).
    Right,
}

/// The layout of the PIN inside the APDU data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinBlock {
    /// Start of the PIN block, in bits from the first data byte.
    pub position_bits: usize,
    /// How the digits are aligned inside the block.
    pub justification: Justification,
    /// How each digit is written.
    pub encoding: Encoding,
    /// Size of the PIN block in bytes; 0 = exactly as long as the PIN, the data
    /// field (and Lc) growing to hold it.
    pub block_bytes: usize,
    /// Width of the PIN length field in bits (0 = no length field).
    pub length_bits: usize,
    /// Start of the PIN length field, in bits from the first data byte.
    pub length_position_bits: usize,
}

impl PinBlock {
    /// The layout the three format bytes describe: `format_string`
    /// (`bmFormatString`: bit 7 unit bytes/bits, bits 6-3 PIN position, bit 2 right
    /// justification, bits 1-0 encoding), `block_string` (`bmPINBlockString`: bits
    /// 7-4 length field size in bits, bits 3-0 block size in bytes) and
    /// `length_format` (`bmPINLengthFormat`: bit 4 unit bytes/bits, bits 3-0 length
    /// field position).
    pub fn from_fields(
        format_string: u8,
        block_string: u8,
        length_format: u8,
    ) -> Result<PinBlock, PinError> {
        let unit = |bytes: bool| if bytes { 8 } else { 1 };
        let encoding = match format_string & 0x03 {
            0 => Encoding::Binary,
            1 => Encoding::Bcd,
            2 => Encoding::Ascii,
            _ => return Err(PinError::ReservedEncoding),
        };
        Ok(PinBlock {
            position_bits: usize::from((format_string >> 3) & 0x0F)
                * unit(format_string & 0x80 != 0),
            justification: if format_string & 0x04 != 0 {
                Justification::Right
            } else {
                Justification::Left
            },
            encoding,
            block_bytes: usize::from(block_string & 0x0F),
            length_bits: usize::from(block_string >> 4),
            length_position_bits: usize::from(length_format & 0x0F)
                * unit(length_format & 0x10 != 0),
        })
    }

    /// The three format bytes of this layout, `[bmFormatString, bmPINBlockString,
    /// bmPINLengthFormat]` (the inverse of [`PinBlock::from_fields`]). The PIN's
    /// position is written in bytes when it is a whole number of them, the length
    /// field's in bits when it fits 4 bits (the units clients use); each falls back
    /// to the other unit. [`PinError::Unencodable`] if a position, the block size or
    /// the length field's width does not fit its 4 bits in either.
    pub fn to_fields(&self) -> Result<[u8; 3], PinError> {
        let nibble = |value: usize| u8::try_from(value).ok().filter(|v| *v <= 0x0F);
        // (value, in bytes) of a position in bits, in bytes first if `bytes_first`.
        let position = |bits: usize, bytes_first: bool| {
            let in_bytes = nibble(bits / 8)
                .filter(|_| bits % 8 == 0)
                .map(|v| (v, true));
            let in_bits = nibble(bits).map(|v| (v, false));
            let found = if bytes_first {
                in_bytes.or(in_bits)
            } else {
                in_bits.or(in_bytes)
            };
            found.ok_or(PinError::Unencodable)
        };
        let (pin_at, pin_in_bytes) = position(self.position_bits, true)?;
        let (length_at, length_in_bytes) = position(self.length_position_bits, false)?;
        let block = nibble(self.block_bytes).ok_or(PinError::Unencodable)?;
        let length = nibble(self.length_bits).ok_or(PinError::Unencodable)?;
        let right = u8::from(self.justification == Justification::Right) << 2;
        Ok([
            u8::from(pin_in_bytes) << 7 | pin_at << 3 | right | self.encoding.format_bits(),
            length << 4 | block,
            u8::from(length_in_bytes) << 4 | length_at,
        ])
    }

    /// The most digits this layout can carry: what fits in the block, in the length
    /// field's range, and in a [`Pin`].
    pub fn capacity(&self) -> usize {
        let mut digits = MAX_PIN_DIGITS;
        if self.block_bytes != 0 {
            digits = digits.min(self.block_bytes * 8 / self.encoding.digit_bits());
        }
        if self.length_bits != 0 && self.length_bits < usize::BITS as usize {
            digits = digits.min((1usize << self.length_bits) - 1);
        }
        digits
    }

    /// Check that the block and its length field, shifted `offset` bytes, lie
    /// inside a data field of `data_len` bytes (a variable-length block may end at
    /// or past the field's end: it grows the field).
    pub fn check_fits(&self, data_len: usize, offset: usize) -> Result<(), PinError> {
        let field_bits = data_len * 8;
        let base = offset * 8;
        let block_end = base + self.position_bits + self.block_bytes * 8;
        let length_end = base + self.length_position_bits + self.length_bits;
        let variable_ok = self.block_bytes != 0 || (base + self.position_bits) % 8 == 0;
        if block_end > field_bits && self.block_bytes != 0
            || self.length_bits != 0 && length_end > field_bits.max(block_end)
            || !variable_ok
        {
            return Err(PinError::BlockOutsideApdu);
        }
        Ok(())
    }

    /// Write `pin` and its length field into `data` (the APDU data field, whose
    /// current length is `data_len`), with the block shifted `offset` bytes.
    /// Returns the data field's length afterwards (larger than `data_len` only for
    /// a variable-length block). `data` must have room for the growth.
    pub fn write(
        &self,
        data: &mut [u8],
        data_len: usize,
        offset: usize,
        pin: &Pin,
    ) -> Result<usize, PinError> {
        self.check_fits(data_len, offset)?;
        let digit_bits = self.encoding.digit_bits();
        let pin_bits = pin.len() * digit_bits;
        let base = offset * 8 + self.position_bits;
        let (start, new_len) = if self.block_bytes == 0 {
            let end = (base + pin_bits).div_ceil(8);
            (base, data_len.max(end))
        } else if pin_bits > self.block_bytes * 8 {
            return Err(PinError::BadPinLimits);
        } else {
            let start = match self.justification {
                Justification::Left => base,
                Justification::Right => base + self.block_bytes * 8 - pin_bits,
            };
            (start, data_len)
        };
        if new_len > data.len() {
            return Err(PinError::BufferTooSmall);
        }
        for (i, digit) in pin.digits().iter().enumerate() {
            write_bits(
                data,
                start + i * digit_bits,
                digit_bits,
                u32::from(self.encoding.encode(*digit)),
            );
        }
        if self.length_bits != 0 {
            let position = offset * 8 + self.length_position_bits;
            write_bits(data, position, self.length_bits, pin.len() as u32);
        }
        Ok(new_len)
    }
}

/// Write the low `width` bits of `value` at bit `position` of `data` (bit 0 = the
/// most significant bit of `data[0]`); bits past the end of `data` are dropped
/// (callers check the range first).
fn write_bits(data: &mut [u8], position: usize, width: usize, value: u32) {
    for i in 0..width {
        let bit = if width - 1 - i < 32 {
            (value >> (width - 1 - i)) & 1
        } else {
            0
        };
        let index = position + i;
        if let Some(byte) = data.get_mut(index / 8) {
            let mask = 0x80u8 >> (index % 8);
            if bit == 1 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_bytes_read_back_as_written() {
        for fields in [
            [0x82, 0x08, 0x00],
            [0x89, 0x47, 0x04],
            [0x85, 0x40, 0x1F],
            [0x3E, 0xF0, 0x0C],
        ] {
            let block = PinBlock::from_fields(fields[0], fields[1], fields[2]).unwrap();
            assert_eq!(block.to_fields(), Ok(fields), "{fields:02X?}");
        }
        // Bits where bytes do not fit: a PIN 12 bits in, a length field at byte 0.
        let block = PinBlock::from_fields(0x60, 0x40, 0x10).unwrap();
        assert_eq!(block.to_fields(), Ok([0x60, 0x40, 0x00]));
        let far = PinBlock {
            position_bits: 16 * 8,
            ..block
        };
        assert_eq!(far.to_fields(), Err(PinError::Unencodable));
        let wide = PinBlock {
            block_bytes: 16,
            ..block
        };
        assert_eq!(wide.to_fields(), Err(PinError::Unencodable));
    }

    fn pin(digits: &[u8]) -> Pin {
        let mut pin = Pin::new();
        for d in digits {
            assert!(pin.push(*d));
        }
        pin
    }

    #[test]
    fn iso_format_2_block_bcd_left_with_length_nibble() {
        // 2N PP PP FF...: bytes unit, position 1, left, BCD; length 4 bits, block 7
        // bytes; length at bit 4 (the low nibble of byte 0).
        let block = PinBlock::from_fields(0x89, 0x47, 0x04).unwrap();
        assert_eq!(block.position_bits, 8);
        assert_eq!(block.encoding, Encoding::Bcd);
        assert_eq!(block.capacity(), 14);
        let mut data = [0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(block.write(&mut data, 8, 0, &pin(&[1, 2, 3, 4, 5])), Ok(8));
        assert_eq!(data, [0x25, 0x12, 0x34, 0x5F, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn ascii_right_justified_in_bytes() {
        // Bytes unit, position 0, right, ASCII; no length field; block 8 bytes.
        let block = PinBlock::from_fields(0x86, 0x08, 0x00).unwrap();
        assert_eq!(block.justification, Justification::Right);
        let mut data = [0xFF; 8];
        block.write(&mut data, 8, 0, &pin(&[4, 3, 2, 1])).unwrap();
        assert_eq!(data, [0xFF, 0xFF, 0xFF, 0xFF, b'4', b'3', b'2', b'1']);
    }

    #[test]
    fn binary_at_a_bit_position_with_an_offset() {
        // Bits unit, position 8 bits = byte 1, left, binary; block 4 bytes; the
        // block shifted by 4 bytes (a new PIN after an old one).
        let block = PinBlock::from_fields(0x40, 0x04, 0x00).unwrap();
        assert_eq!(block.position_bits, 8);
        let mut data = [0xAA; 9];
        block.write(&mut data, 9, 4, &pin(&[9, 0, 7])).unwrap();
        assert_eq!(data, [0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 9, 0, 7, 0xAA]);
    }

    #[test]
    fn variable_block_grows_the_data_field() {
        // OpenPGP style: ASCII at byte 0, block size 0: the PIN is the data.
        let block = PinBlock::from_fields(0x82, 0x00, 0x00).unwrap();
        let mut data = [0u8; 16];
        assert_eq!(
            block.write(&mut data, 0, 0, &pin(&[1, 2, 3, 4, 5, 6])),
            Ok(6)
        );
        assert_eq!(&data[..6], b"123456");
        assert_eq!(
            block.write(&mut data[..5], 0, 0, &pin(&[1, 2, 3, 4, 5, 6])),
            Err(PinError::BufferTooSmall)
        );
    }

    #[test]
    fn blocks_outside_the_data_are_refused() {
        let block = PinBlock::from_fields(0x89, 0x47, 0x04).unwrap();
        assert_eq!(block.check_fits(7, 0), Err(PinError::BlockOutsideApdu));
        assert_eq!(block.check_fits(8, 0), Ok(()));
        assert_eq!(block.check_fits(8, 1), Err(PinError::BlockOutsideApdu));
        // A length field past the end.
        let late_length = PinBlock::from_fields(0x89, 0x47, 0x1F).unwrap();
        assert_eq!(
            late_length.check_fits(8, 0),
            Err(PinError::BlockOutsideApdu)
        );
        // A variable block must start on a byte.
        let odd = PinBlock::from_fields(0x0A, 0x00, 0x00).unwrap();
        assert_eq!(odd.check_fits(0, 0), Err(PinError::BlockOutsideApdu));
        assert_eq!(
            PinBlock::from_fields(0x03, 0, 0),
            Err(PinError::ReservedEncoding)
        );
    }

    #[test]
    fn a_pin_longer_than_its_block_is_refused_not_truncated() {
        let block = PinBlock::from_fields(0x81, 0x02, 0x00).unwrap();
        assert_eq!(block.capacity(), 4);
        let mut data = [0xFF; 3];
        assert_eq!(
            block.write(&mut data, 3, 0, &pin(&[1, 2, 3, 4, 5])),
            Err(PinError::BadPinLimits)
        );
        assert_eq!(data, [0xFF; 3]);
    }
}
