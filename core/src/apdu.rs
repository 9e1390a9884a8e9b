//! ISO/IEC 7816-4 command and response APDUs: checked views over untrusted bytes.
//!
//! [`Command::parse`] decides which of the seven command cases a byte string is
//! (ISO/IEC 7816-4:2020 clause 5.2, "decoding conventions") and refuses anything else.
//! After a successful parse no accessor can panic. [`Response::parse`] splits a
//! response APDU into its data field and the status bytes SW1 SW2.
//!
//! | case | bytes | Nc | Ne |
//! | --- | --- | --- | --- |
//! | 1 | `CLA INS P1 P2` | 0 | none |
//! | 2S | `… Le` | 0 | Le (0 ⇒ 256) |
//! | 3S | `… Lc data` | Lc (1..=255) | none |
//! | 4S | `… Lc data Le` | Lc | Le (0 ⇒ 256) |
//! | 2E | `… 00 Le1 Le2` | 0 | Le (0 ⇒ 65 536) |
//! | 3E | `… 00 Lc1 Lc2 data` | Lc (1..=65 535) | none |
//! | 4E | `… 00 Lc1 Lc2 data Le1 Le2` | Lc | Le (0 ⇒ 65 536) |
//!
//! A length byte that disagrees with the number of bytes that follow is
//! [`Error::LengthMismatch`]; the TRANSMIT path reports it as
//! [`Status::InvalidParameter`], as Windows' HLK expects for `00 A4 00 00 08 00`.

use core::fmt;

use crate::status::Failure;
#[cfg(doc)]
use crate::status::Status;
use crate::sw::StatusWord;

/// Largest data field of a short command APDU (Lc 1 to 255), in bytes: a longer one
/// needs the extended encoding.
pub const MAX_SHORT_NC: usize = 255;

/// What went wrong when reading an APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A command APDU shorter than its 4-byte header.
    TooShort,
    /// The Lc (or extended Lc) field disagrees with the number of bytes that follow,
    /// or an extended Lc is zero.
    LengthMismatch,
    /// A response APDU shorter than the two status bytes SW1 SW2.
    ResponseTooShort,
}

/// The request status for an APDU error: [`Status::InvalidParameter`] for a malformed
/// command (the caller's fault), [`Status::DeviceProtocolError`] for a response
/// without status bytes (the card's fault).
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::TooShort | Error::LengthMismatch => Failure::InvalidParameter,
            Error::ResponseTooShort => Failure::DeviceProtocolError,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::TooShort => "command APDU shorter than its 4-byte header",
            Error::LengthMismatch => "command APDU length field disagrees with its length",
            Error::ResponseTooShort => "response APDU without SW1 SW2",
        })
    }
}

impl core::error::Error for Error {}

/// The ISO/IEC 7816-4 command case: which of the Lc/data and Le fields are present,
/// and whether they use the short (1-byte) or extended (2/3-byte) encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    /// Case 1: header only; no command data, no response data expected.
    Case1,
    /// Case 2S: short Le; response data expected.
    Case2Short,
    /// Case 3S: short Lc and command data; no response data expected.
    Case3Short,
    /// Case 4S: short Lc, command data and short Le.
    Case4Short,
    /// Case 2E: extended Le.
    Case2Extended,
    /// Case 3E: extended Lc and command data.
    Case3Extended,
    /// Case 4E: extended Lc, command data and extended Le.
    Case4Extended,
}

impl Case {
    /// `true` for the extended-length cases 2E, 3E and 4E.
    pub const fn is_extended(self) -> bool {
        matches!(
            self,
            Case::Case2Extended | Case::Case3Extended | Case::Case4Extended
        )
    }

    /// `true` if the command carries a data field (cases 3 and 4).
    pub const fn has_data(self) -> bool {
        matches!(
            self,
            Case::Case3Short | Case::Case4Short | Case::Case3Extended | Case::Case4Extended
        )
    }

    /// `true` if the command carries an Le field (cases 2 and 4).
    pub const fn has_le(self) -> bool {
        matches!(
            self,
            Case::Case2Short | Case::Case4Short | Case::Case2Extended | Case::Case4Extended
        )
    }
}

/// A checked view of a command APDU.
///
/// Built only by [`Command::parse`]; every accessor is infallible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    bytes: &'a [u8],
    header: [u8; 4],
    case: Case,
    data: &'a [u8],
    ne: Option<u32>,
}

impl<'a> Command<'a> {
    /// Parse `bytes` as a command APDU of one of the seven ISO/IEC 7816-4 cases.
    ///
    /// Never panics. Errors: [`Error::TooShort`] for fewer than 4 bytes,
    /// [`Error::LengthMismatch`] if no case fits the length.
    pub fn parse(bytes: &'a [u8]) -> Result<Command<'a>, Error> {
        let (header, body) = match bytes.split_first_chunk::<4>() {
            Some((h, rest)) => (*h, rest),
            None => return Err(Error::TooShort),
        };
        let (case, data, ne) = match *body {
            [] => (Case::Case1, &[][..], None),
            [le] => (Case::Case2Short, &[][..], Some(short_ne(le))),
            [0, hi, lo] => (Case::Case2Extended, &[][..], Some(extended_ne(hi, lo))),
            [0, hi, lo, ref rest @ ..] => {
                let lc = usize::from(u16::from_be_bytes([hi, lo]));
                if lc == 0 {
                    return Err(Error::LengthMismatch);
                }
                match rest.len().checked_sub(lc) {
                    Some(0) => (Case::Case3Extended, rest, None),
                    Some(2) => {
                        let (data, le) = rest.split_at(lc);
                        match *le {
                            [hi, lo] => (Case::Case4Extended, data, Some(extended_ne(hi, lo))),
                            _ => return Err(Error::LengthMismatch),
                        }
                    }
                    _ => return Err(Error::LengthMismatch),
                }
            }
            [lc, ref rest @ ..] if lc != 0 => {
                let lc = usize::from(lc);
                match rest.len().checked_sub(lc) {
                    Some(0) => (Case::Case3Short, rest, None),
                    Some(1) => {
                        let (data, le) = rest.split_at(lc);
                        match *le {
                            [le] => (Case::Case4Short, data, Some(short_ne(le))),
                            _ => return Err(Error::LengthMismatch),
                        }
                    }
                    _ => return Err(Error::LengthMismatch),
                }
            }
            // `00 xx`: neither 2S, 2E nor 3E.
            _ => return Err(Error::LengthMismatch),
        };
        Ok(Command {
            bytes,
            header,
            case,
            data,
            ne,
        })
    }

    /// The whole APDU as given to [`Command::parse`].
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The command case.
    pub const fn case(&self) -> Case {
        self.case
    }

    /// The 4-byte header `CLA INS P1 P2`.
    pub const fn header(&self) -> [u8; 4] {
        self.header
    }

    /// The class byte CLA.
    pub const fn cla(&self) -> u8 {
        self.header[0]
    }

    /// The instruction byte INS.
    pub const fn ins(&self) -> u8 {
        self.header[1]
    }

    /// The parameter byte P1.
    pub const fn p1(&self) -> u8 {
        self.header[2]
    }

    /// The parameter byte P2.
    pub const fn p2(&self) -> u8 {
        self.header[3]
    }

    /// The command data field (empty for cases 1 and 2).
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Nc, the number of command data bytes (0..=65 535).
    pub const fn nc(&self) -> usize {
        self.data.len()
    }

    /// Ne, the maximum number of response data bytes expected (1..=65 536), or `None`
    /// when the command has no Le field (cases 1 and 3). An Le of zero means 256
    /// (short) or 65 536 (extended).
    pub const fn ne(&self) -> Option<u32> {
        self.ne
    }

    /// `true` for the extended-length cases.
    pub const fn is_extended(&self) -> bool {
        self.case.is_extended()
    }
}

const fn short_ne(le: u8) -> u32 {
    short_count(le) as u32
}

/// The count a short length byte stands for (Le, a T=0 P3, SW2 of `61 xx` and
/// `6C xx`): 1 to 255 as written, `00` for 256.
pub(crate) const fn short_count(byte: u8) -> u16 {
    if byte == 0 { 256 } else { byte as u16 }
}

const fn extended_ne(hi: u8, lo: u8) -> u32 {
    let v = u16::from_be_bytes([hi, lo]) as u32;
    if v == 0 { 65_536 } else { v }
}

/// A checked view of a response APDU: the data field and SW1 SW2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    data: &'a [u8],
    sw1: u8,
    sw2: u8,
}

impl<'a> Response<'a> {
    /// Split `bytes` into data and the trailing status bytes.
    ///
    /// Errors: [`Error::ResponseTooShort`] for fewer than 2 bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Response<'a>, Error> {
        match bytes.split_last_chunk::<2>() {
            Some((data, &[sw1, sw2])) => Ok(Response { data, sw1, sw2 }),
            None => Err(Error::ResponseTooShort),
        }
    }

    /// The response data field (possibly empty).
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The first status byte SW1.
    pub const fn sw1(&self) -> u8 {
        self.sw1
    }

    /// The second status byte SW2.
    pub const fn sw2(&self) -> u8 {
        self.sw2
    }

    /// The status word SW1 SW2 as one big-endian number (e.g. `0x9000`).
    pub const fn sw(&self) -> u16 {
        u16::from_be_bytes([self.sw1, self.sw2])
    }

    /// `true` for `90 00`, normal processing.
    pub const fn is_success(&self) -> bool {
        StatusWord(self.sw()).is_success()
    }

    /// For `61 xx`: the number of response bytes still available (1..=256; `xx` = 0
    /// means 256 or more), to be fetched with GET RESPONSE.
    pub const fn bytes_available(&self) -> Option<u16> {
        StatusWord(self.sw()).bytes_available()
    }

    /// For `6C xx`: the exact Le the card wants (1..=256), to resend the command with.
    pub const fn exact_length(&self) -> Option<u16> {
        StatusWord(self.sw()).exact_length()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;
    use std::vec::Vec;

    #[test]
    fn case_1() {
        let c = Command::parse(&[0x00, 0xA4, 0x04, 0x0C]).unwrap();
        assert_eq!(c.case(), Case::Case1);
        assert_eq!(c.header(), [0x00, 0xA4, 0x04, 0x0C]);
        assert_eq!((c.cla(), c.ins(), c.p1(), c.p2()), (0x00, 0xA4, 0x04, 0x0C));
        assert_eq!(c.nc(), 0);
        assert_eq!(c.ne(), None);
        assert!(!c.is_extended());
    }

    #[test]
    fn case_2s() {
        let c = Command::parse(&[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
        assert_eq!(c.case(), Case::Case2Short);
        assert_eq!(c.ne(), Some(8));
        let c = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(c.ne(), Some(256));
    }

    #[test]
    fn case_3s_and_4s() {
        let c = Command::parse(&[0x00, 0xA4, 0x04, 0x0C, 0x02, 0x3F, 0x00]).unwrap();
        assert_eq!(c.case(), Case::Case3Short);
        assert_eq!(c.data(), &[0x3F, 0x00]);
        assert_eq!(c.ne(), None);
        let c = Command::parse(&[0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00, 0x00]).unwrap();
        assert_eq!(c.case(), Case::Case4Short);
        assert_eq!(c.data(), &[0x3F, 0x00]);
        assert_eq!(c.ne(), Some(256));
        let mut v = Vec::from([0x80, 0x10, 0x00, 0x00, 0xFF]);
        v.extend(core::iter::repeat_n(0xAA, 255));
        let c = Command::parse(&v).unwrap();
        assert_eq!((c.case(), c.nc()), (Case::Case3Short, 255));
        v.push(0x10);
        let c = Command::parse(&v).unwrap();
        assert_eq!(
            (c.case(), c.nc(), c.ne()),
            (Case::Case4Short, 255, Some(16))
        );
    }

    #[test]
    fn extended_cases() {
        let c = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!((c.case(), c.ne()), (Case::Case2Extended, Some(65_536)));
        let c = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x02]).unwrap();
        assert_eq!(c.ne(), Some(258));
        let mut v = Vec::from([0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x00]);
        v.extend(core::iter::repeat_n(0x55, 256));
        let c = Command::parse(&v).unwrap();
        assert_eq!((c.case(), c.nc(), c.ne()), (Case::Case3Extended, 256, None));
        assert!(c.is_extended());
        v.extend([0x00, 0x00]);
        let c = Command::parse(&v).unwrap();
        assert_eq!(
            (c.case(), c.nc(), c.ne()),
            (Case::Case4Extended, 256, Some(65_536))
        );
        assert_eq!(c.data().len(), 256);
        assert_eq!(c.as_bytes().len(), 4 + 3 + 256 + 2);
    }

    #[test]
    fn malformed() {
        assert_eq!(Command::parse(&[]), Err(Error::TooShort));
        assert_eq!(Command::parse(&[0, 0xA4, 0]), Err(Error::TooShort));
        // The HLK case: Lc = 8 but one byte follows.
        let e = Command::parse(&[0x00, 0xA4, 0x00, 0x00, 0x08, 0x00]).unwrap_err();
        assert_eq!(e, Error::LengthMismatch);
        assert_eq!(Status::from(e), Status::InvalidParameter);
        // Lc = 1 with three bytes following.
        assert_eq!(
            Command::parse(&[0, 1, 2, 3, 1, 9, 9, 9]),
            Err(Error::LengthMismatch)
        );
        // 00 then a single byte: neither 2S nor 2E.
        assert_eq!(
            Command::parse(&[0, 1, 2, 3, 0, 5]),
            Err(Error::LengthMismatch)
        );
        // Extended Lc of zero.
        assert_eq!(
            Command::parse(&[0, 1, 2, 3, 0, 0, 0, 1]),
            Err(Error::LengthMismatch)
        );
        // Extended Lc larger than the rest.
        assert_eq!(
            Command::parse(&[0, 1, 2, 3, 0, 0, 5, 1, 2]),
            Err(Error::LengthMismatch)
        );
        // Extended Lc with one trailing byte (half an Le).
        assert_eq!(
            Command::parse(&[0, 1, 2, 3, 0, 0, 1, 7, 0]),
            Err(Error::LengthMismatch)
        );
    }

    #[test]
    fn every_length_parses_or_errs() {
        let buf = [0u8; 300];
        for n in 0..buf.len() {
            for b4 in [0u8, 1, 2, 0x80, 0xFF] {
                let mut b = buf;
                if let Some(x) = b.get_mut(4) {
                    *x = b4;
                }
                let _ = Command::parse(&b[..n]);
            }
        }
    }

    #[test]
    fn response_split() {
        let r = Response::parse(&[1, 2, 3, 0x90, 0x00]).unwrap();
        assert_eq!(r.data(), &[1, 2, 3]);
        assert_eq!((r.sw1(), r.sw2(), r.sw()), (0x90, 0x00, 0x9000));
        assert!(r.is_success());
        let r = Response::parse(&[0x61, 0x00]).unwrap();
        assert_eq!(r.bytes_available(), Some(256));
        assert_eq!(r.exact_length(), None);
        assert_eq!(
            Response::parse(&[0x6C, 0x10]).unwrap().exact_length(),
            Some(16)
        );
        let e = Response::parse(&[0x90]).unwrap_err();
        assert_eq!(Status::from(e), Status::DeviceProtocolError);
        assert_eq!(std::format!("{e}"), "response APDU without SW1 SW2");
    }
}
