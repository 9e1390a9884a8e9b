//! The checked view of ATR bytes (smoltcp's `new_checked` shape): [`Atr::parse`]
//! checks the whole structure once, and every accessor after it is infallible.

use core::fmt;

use super::analysis::Analysis;
use super::interface::Characters;
use super::params::Parameters;
use super::{Convention, MAX_LEN, TS_DIRECT, TS_INVERSE, TS_INVERSE_RAW, Tck, invert_convention};

/// Why bytes are not an ATR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No bytes at all.
    Empty,
    /// TS is neither 3B (direct), 3F (inverse) nor 03 (inverse, undecoded).
    InvalidTs(u8),
    /// The bytes end before the announced structure does: `needed` bytes in all.
    Truncated {
        /// Length the interface bytes, historical bytes and TCK require.
        needed: usize,
    },
    /// More than 33 bytes.
    TooLong(usize),
    /// The structure ends before the bytes do: `extra` bytes left over.
    TrailingBytes {
        /// How many bytes follow the end of the ATR.
        extra: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => f.write_str("empty ATR"),
            Error::InvalidTs(ts) => write!(f, "invalid TS {ts:02X} (expected 3B or 3F)"),
            Error::Truncated { needed } => write!(f, "truncated ATR: {needed} bytes needed"),
            Error::TooLong(len) => write!(f, "ATR too long: {len} bytes (at most 33)"),
            Error::TrailingBytes { extra } => {
                write!(f, "{extra} byte(s) after the end of the ATR")
            }
        }
    }
}

impl core::error::Error for Error {}

/// An ATR whose structure has been checked; bytes are held in the direct convention.
#[derive(Clone, PartialEq, Eq)]
pub struct Atr {
    /// The ATR's bytes, in the direct convention (at most 33: the length is a `u8`).
    bytes: heapless::Vec<u8, MAX_LEN, u8>,
    convention: Convention,
    historical_start: u8,
    historical_len: u8,
    tck: Tck,
}

/// One group of interface characters, TAi TBi TCi TDi (i counts from 1), as bytes.
///
/// What each character means is [`Atr::characters`]' business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Group {
    /// TAi, if present.
    pub ta: Option<u8>,
    /// TBi, if present.
    pub tb: Option<u8>,
    /// TCi, if present.
    pub tc: Option<u8>,
    /// TDi, if present.
    pub td: Option<u8>,
}

impl Group {
    /// The protocol number T in TDi (its low nibble), if TDi is present.
    pub fn protocol(&self) -> Option<u8> {
        self.td.map(|td| td & 0x0F)
    }
}

impl Atr {
    /// Check `raw` and keep it.
    ///
    /// `raw` may be in the direct convention, in the inverse convention already decoded
    /// (TS = 3F), or as a UART in direct convention receives an inverse-convention card
    /// (TS = 03): then every byte is decoded first. A wrong TCK is not an error here;
    /// see [`Atr::tck`].
    pub fn parse(raw: &[u8]) -> Result<Atr, Error> {
        let (&ts, _) = raw.split_first().ok_or(Error::Empty)?;
        let mut bytes: heapless::Vec<u8, MAX_LEN, u8> =
            heapless::Vec::from_slice(raw).map_err(|_| Error::TooLong(raw.len()))?;
        let convention = match ts {
            TS_DIRECT => Convention::Direct,
            TS_INVERSE => Convention::Inverse,
            TS_INVERSE_RAW => {
                for b in &mut bytes {
                    *b = invert_convention(*b);
                }
                Convention::Inverse
            }
            other => return Err(Error::InvalidTs(other)),
        };
        let layout = Layout::walk(&bytes)?;
        let tck = match layout.tck_present {
            false => Tck::Absent,
            true if xor(bytes.get(1..).unwrap_or(&[])) == 0 => Tck::Ok,
            true => Tck::Bad,
        };
        Ok(Atr {
            bytes,
            convention,
            historical_start: layout.historical_start as u8,
            historical_len: layout.historical_len as u8,
            tck,
        })
    }

    /// The ATR bytes, in the direct convention (TS is 3B or 3F).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The convention TS announced.
    pub fn convention(&self) -> Convention {
        self.convention
    }

    /// TS as received, decoded to the direct convention: 3B or 3F.
    pub fn ts(&self) -> u8 {
        self.as_bytes().first().copied().unwrap_or(TS_DIRECT)
    }

    /// The format character T0: Y1 in the high nibble, K (historical length) low.
    pub fn t0(&self) -> u8 {
        self.as_bytes().get(1).copied().unwrap_or(0)
    }

    /// The historical bytes (at most 15).
    pub fn historical(&self) -> &[u8] {
        let start = self.historical_offset();
        let end = start + usize::from(self.historical_len);
        self.as_bytes().get(start..end).unwrap_or(&[])
    }

    /// Where the historical bytes begin in [`Atr::as_bytes`] (after the interface
    /// characters; the ATR's length, less TCK, when there are none).
    pub fn historical_offset(&self) -> usize {
        usize::from(self.historical_start)
    }

    /// Whether TCK is absent, right or wrong.
    pub fn tck(&self) -> Tck {
        self.tck
    }

    /// The TCK byte, if present.
    pub fn tck_byte(&self) -> Option<u8> {
        match self.tck {
            Tck::Absent => None,
            Tck::Ok | Tck::Bad => self.as_bytes().last().copied(),
        }
    }

    /// The TCK the ATR should carry (the XOR of T0 through the last historical
    /// byte), if TCK is present.
    pub fn expected_tck(&self) -> Option<u8> {
        let body_end = self.as_bytes().len().saturating_sub(1);
        self.tck_byte()
            .map(|_| xor(self.as_bytes().get(1..body_end).unwrap_or(&[])))
    }

    /// The interface character groups, in order (group 1 first), as bytes.
    pub fn groups(&self) -> Groups<'_> {
        Groups {
            walk: Walk::new(self.as_bytes()),
        }
    }

    /// The interface characters, in order, each with its meaning: the one
    /// interpretation [`Atr::parameters`] and [`Atr::analysis`] are made from.
    pub fn characters(&self) -> Characters<'_> {
        Characters::new(self.groups())
    }

    /// Whether a TD announces T=15 (global interface bytes follow), which makes
    /// TC1 count Fi/Di clock cycles ([`Parameters::extra_guard_n_at`]).
    pub fn indicates_t15(&self) -> bool {
        self.groups().any(|g| g.protocol() == Some(15))
    }

    /// Derive the card's parameters.
    pub fn parameters(&self) -> Parameters {
        Parameters::derive(self.characters())
    }

    /// The raw interface characters with a fixed meaning and the reserved values.
    pub fn analysis(&self) -> Analysis {
        Analysis::derive(self.characters())
    }
}

impl fmt::Debug for Atr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Atr(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        f.write_str(")")
    }
}

// XOR of bytes, the check character T=1 calls LRC: the TCK makes the XOR of T0
// to TCK 0.
use crate::t1::lrc as xor;

/// The one walk over the interface characters, over bytes not yet checked: each
/// step reads one group and moves past it.
struct Walk<'a> {
    bytes: &'a [u8],
    /// Index of the next character to read.
    pos: usize,
    /// The indicator Y of the next group (which of TA TB TC TD it has); `None` once
    /// a group without TD is read, or the bytes ran out.
    y: Option<u8>,
}

impl<'a> Walk<'a> {
    fn new(bytes: &'a [u8]) -> Walk<'a> {
        Walk {
            bytes,
            pos: 2,
            y: bytes.get(1).map(|t0| t0 >> 4),
        }
    }

    /// The next group; `Err` when its TD lies beyond the bytes. A missing TA, TB or
    /// TC reads as absent: only the length check at the end can tell.
    fn step(&mut self) -> Option<Result<Group, Error>> {
        let y = self.y.take()?;
        let ta = self.take(y & 0x1 != 0);
        let tb = self.take(y & 0x2 != 0);
        let tc = self.take(y & 0x4 != 0);
        let td = match y & 0x8 != 0 {
            false => None,
            true => match self.take(true) {
                Some(td) => Some(td),
                None => return Some(Err(Error::Truncated { needed: self.pos })),
            },
        };
        self.y = td.map(|td| td >> 4);
        Some(Ok(Group { ta, tb, tc, td }))
    }

    fn take(&mut self, present: bool) -> Option<u8> {
        if !present {
            return None;
        }
        let byte = self.bytes.get(self.pos).copied();
        self.pos += 1;
        byte
    }
}

/// Where the parts of an ATR lie, found by walking its structure.
struct Layout {
    historical_start: usize,
    historical_len: usize,
    tck_present: bool,
}

impl Layout {
    fn walk(bytes: &[u8]) -> Result<Layout, Error> {
        let t0 = *bytes.get(1).ok_or(Error::Truncated { needed: 2 })?;
        let historical_len = usize::from(t0 & 0x0F);
        let mut walk = Walk::new(bytes);
        let mut tck_present = false;
        while let Some(group) = walk.step() {
            // TCK is present unless only T=0 is indicated.
            tck_present |= group?.protocol().is_some_and(|t| t != 0);
        }
        let historical_start = walk.pos;
        let needed = historical_start + historical_len + usize::from(tck_present);
        match needed.cmp(&bytes.len()) {
            core::cmp::Ordering::Greater => Err(Error::Truncated { needed }),
            core::cmp::Ordering::Less => Err(Error::TrailingBytes {
                extra: bytes.len() - needed,
            }),
            core::cmp::Ordering::Equal => Ok(Layout {
                historical_start,
                historical_len,
                tck_present,
            }),
        }
    }
}

/// Iterator over the interface character groups of a checked [`Atr`].
pub struct Groups<'a> {
    walk: Walk<'a>,
}

impl Iterator for Groups<'_> {
    type Item = Group;

    fn next(&mut self) -> Option<Group> {
        // A checked ATR holds every character its structure announces.
        self.walk.step()?.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_hex, with_tck};
    use super::*;

    #[test]
    fn t0_only_atr_without_tck() {
        let atr = Atr::parse(&parse_hex("3B 02 14 50")).unwrap();
        assert_eq!(atr.convention(), Convention::Direct);
        assert_eq!(atr.historical(), &[0x14, 0x50]);
        assert_eq!(atr.historical_offset(), 2);
        assert_eq!(atr.tck(), Tck::Absent);
        assert_eq!((atr.tck_byte(), atr.expected_tck()), (None, None));
        assert_eq!(atr.groups().count(), 1);
    }

    #[test]
    fn tck_is_checked_and_the_expected_one_is_known() {
        // TA1=96 TD1=81 (T=1) TD2=31 (T=1, TA3 TB3) TA3=FE TB3=45 + hist "JCOP" + TCK
        let v = with_tck("3B 94 96 81 31 FE 45 4A 43 4F 50");
        let tck = *v.last().unwrap();
        let atr = Atr::parse(&v).unwrap();
        assert_eq!(atr.tck(), Tck::Ok);
        assert_eq!((atr.tck_byte(), atr.expected_tck()), (Some(tck), Some(tck)));
        assert_eq!(atr.historical(), b"JCOP");
        assert_eq!(atr.historical_offset(), 7, "after TA3 TB3, before TCK");
        let groups: heapless::Vec<Group, 4> = atr.groups().collect();
        assert_eq!(
            groups.as_slice(),
            &[
                Group {
                    ta: Some(0x96),
                    td: Some(0x81),
                    ..Group::default()
                },
                Group {
                    td: Some(0x31),
                    ..Group::default()
                },
                Group {
                    ta: Some(0xFE),
                    tb: Some(0x45),
                    ..Group::default()
                },
            ]
        );
        let mut bad = v.clone();
        *bad.last_mut().unwrap() ^= 1;
        let bad = Atr::parse(&bad).unwrap();
        assert_eq!(bad.tck(), Tck::Bad);
        assert_eq!(bad.tck_byte(), Some(tck ^ 1));
        assert_eq!(bad.expected_tck(), Some(tck));
    }

    #[test]
    fn invert_convention_is_an_involution_and_maps_ts() {
        assert_eq!(invert_convention(TS_INVERSE), TS_INVERSE_RAW);
        for b in 0..=255u8 {
            assert_eq!(invert_convention(invert_convention(b)), b);
        }
    }

    #[test]
    fn inverse_convention_raw_and_decoded() {
        // 3F 2F 00 80 69 AF 03 07 06 68 00 7F 0A 0E 83 3E 9F 16 (decoded, T=0)
        let decoded = parse_hex("3F 2F 00 80 69 AF 03 07 06 68 00 7F 0A 0E 83 3E 9F 16");
        let a = Atr::parse(&decoded).unwrap();
        assert_eq!(a.convention(), Convention::Inverse);
        let raw: heapless::Vec<u8, 64> = decoded.iter().map(|&b| invert_convention(b)).collect();
        assert_eq!(raw[0], TS_INVERSE_RAW);
        let b = Atr::parse(&raw).unwrap();
        assert_eq!(b.as_bytes(), a.as_bytes());
        assert_eq!(b.parameters().n, 0);
    }

    #[test]
    fn malformed_atrs_are_rejected_with_a_reason() {
        assert_eq!(Atr::parse(&[]), Err(Error::Empty));
        assert_eq!(Atr::parse(&[0x3A, 0x00]), Err(Error::InvalidTs(0x3A)));
        assert_eq!(Atr::parse(&[0x3B]), Err(Error::Truncated { needed: 2 }));
        assert_eq!(
            Atr::parse(&[0x3B, 0x02, 0x14]),
            Err(Error::Truncated { needed: 4 })
        );
        assert_eq!(
            Atr::parse(&[0x3B, 0x00, 0x00]),
            Err(Error::TrailingBytes { extra: 1 })
        );
        assert_eq!(Atr::parse(&[0x3B; 34]), Err(Error::TooLong(34)));
        // TD chain running past the end.
        assert_eq!(
            Atr::parse(&[0x3B, 0x80, 0x80]),
            Err(Error::Truncated { needed: 4 })
        );
        // TA1 announced but missing: found by the length check.
        assert_eq!(
            Atr::parse(&[0x3B, 0x10]),
            Err(Error::Truncated { needed: 3 })
        );
    }

    #[test]
    fn never_panics_on_any_short_input() {
        let mut rng = readerkit_testkit::rng::Rng(0x1234_5678);
        let mut buf = [0u8; MAX_LEN + 2];
        for _ in 0..200_000 {
            let len = rng.below(MAX_LEN + 3);
            buf[..len].fill_with(|| rng.next_u64() as u8);
            buf[0] = [0x3B, 0x3F, 0x03, buf[0]][rng.below(4)];
            if let Ok(atr) = Atr::parse(&buf[..len]) {
                let p = atr.parameters();
                let _ = p.check(atr.tck());
                let _ = atr.analysis();
                assert!(atr.historical().len() <= 15);
                assert_eq!(atr.as_bytes().len(), len);
                assert!(atr.groups().count() <= MAX_LEN);
                assert!(atr.characters().count() <= MAX_LEN);
            }
        }
    }
}
