//! Command APDUs as the card sees them (ISO/IEC 7816-4:2020 clause 5.1).
//!
//! [`Command::parse`] takes the bytes of a whole command APDU (over T=1 the
//! concatenated information fields of a chain; over T=0 the header, P3 and the data
//! the card received, or an APDU carried by ENVELOPE commands) and tells the four
//! cases apart, short or extended.

use core::fmt;

/// A parsed command APDU, borrowing its data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// The command data field (empty for cases 1 and 2).
    pub data: &'a [u8],
    /// Ne, the maximum number of response bytes expected: `None` when the Le field is
    /// absent (cases 1 and 3); Le = 00 means 256 (short) and 0000 means 65536
    /// (extended).
    pub ne: Option<usize>,
    /// Whether the length fields were extended (three-byte Lc or Le).
    pub extended: bool,
}

/// Why a byte string is not a command APDU. Answered with status 6700 (wrong length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than four bytes.
    TooShort,
    /// The length fields do not match the number of bytes.
    BadLength,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort => f.write_str("command APDU shorter than its header"),
            Error::BadLength => f.write_str("command APDU length fields inconsistent"),
        }
    }
}

impl core::error::Error for Error {}

impl<'a> Command<'a> {
    /// Parse a whole command APDU.
    pub fn parse(bytes: &'a [u8]) -> Result<Command<'a>, Error> {
        let (header, body) = match bytes.split_first_chunk::<4>() {
            Some(split) => split,
            None => return Err(Error::TooShort),
        };
        let [cla, ins, p1, p2] = *header;
        let mut cmd = Command {
            cla,
            ins,
            p1,
            p2,
            data: &[],
            ne: None,
            extended: false,
        };
        match *body {
            // Case 1.
            [] => {}
            // Case 2S.
            [le] => cmd.ne = Some(short_ne(le)),
            // Extended: 00 followed by two length bytes.
            [0, hi, lo, ref rest @ ..] => {
                cmd.extended = true;
                let n = usize::from(u16::from_be_bytes([hi, lo]));
                if rest.is_empty() {
                    // Case 2E.
                    cmd.ne = Some(extended_ne(n));
                } else {
                    if n == 0 {
                        return Err(Error::BadLength);
                    }
                    let (data, tail) = rest.split_at_checked(n).ok_or(Error::BadLength)?;
                    cmd.data = data;
                    match *tail {
                        [] => {}
                        [h, l] => {
                            cmd.ne = Some(extended_ne(usize::from(u16::from_be_bytes([h, l]))))
                        }
                        _ => return Err(Error::BadLength),
                    }
                }
            }
            [0, ..] => return Err(Error::BadLength),
            // Short Lc.
            [lc, ref rest @ ..] => {
                let (data, tail) = rest
                    .split_at_checked(usize::from(lc))
                    .ok_or(Error::BadLength)?;
                cmd.data = data;
                match *tail {
                    [] => {}
                    [le] => cmd.ne = Some(short_ne(le)),
                    _ => return Err(Error::BadLength),
                }
            }
        }
        Ok(cmd)
    }
}

const fn short_ne(le: u8) -> usize {
    if le == 0 { 256 } else { le as usize }
}

const fn extended_ne(le: usize) -> usize {
    if le == 0 { 65536 } else { le }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_cases_short() {
        let c = Command::parse(&[0, 0xA4, 0, 0x0C]).unwrap();
        assert_eq!((c.data.len(), c.ne, c.extended), (0, None, false));
        let c = Command::parse(&[0, 0xB0, 0, 0, 0]).unwrap();
        assert_eq!(c.ne, Some(256));
        let c = Command::parse(&[0, 0xB0, 0, 0, 7]).unwrap();
        assert_eq!(c.ne, Some(7));
        let c = Command::parse(&[0, 0xA4, 0, 0x0C, 2, 0x3F, 0]).unwrap();
        assert_eq!((c.data, c.ne), (&[0x3F, 0][..], None));
        let c = Command::parse(&[0, 0xA4, 0, 0, 2, 0x3F, 0, 0]).unwrap();
        assert_eq!((c.data, c.ne), (&[0x3F, 0][..], Some(256)));
        assert_eq!(c.p2, 0);
    }

    #[test]
    fn the_cases_extended() {
        let c = Command::parse(&[0, 0xB0, 0, 0, 0, 0x10, 0x00]).unwrap();
        assert_eq!((c.ne, c.extended), (Some(4096), true));
        let c = Command::parse(&[0, 0xB0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(c.ne, Some(65536));
        let c = Command::parse(&[0x80, 0xEE, 0, 0, 0, 0, 2, 9, 8]).unwrap();
        assert_eq!((c.data, c.ne), (&[9, 8][..], None));
        let c = Command::parse(&[0x80, 0xEE, 0, 0, 0, 0, 2, 9, 8, 0, 0]).unwrap();
        assert_eq!((c.data, c.ne), (&[9, 8][..], Some(65536)));
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(Command::parse(&[0, 1, 2]), Err(Error::TooShort));
        let bad: [&[u8]; 6] = [
            &[0, 1, 2, 3, 2, 1],
            &[0, 1, 2, 3, 1, 1, 1, 1],
            &[0, 1, 2, 3, 0, 1],
            &[0, 1, 2, 3, 0, 0, 0, 5],
            &[0, 1, 2, 3, 0, 0, 1, 5, 1],
            &[0, 1, 2, 3, 0, 0, 2, 5],
        ];
        for apdu in bad {
            assert_eq!(Command::parse(apdu), Err(Error::BadLength), "{apdu:02X?}");
        }
    }
}
