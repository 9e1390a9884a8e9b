//! Answer-to-Reset: a checked view of the ATR bytes and the parameters derived from it
//! (ISO/IEC 7816-3:2006 clause 8).
//!
//! [`Atr::parse`] takes untrusted bytes, checks the structure (TS, T0, every
//! TAi/TBi/TCi/TDi group, the historical bytes, TCK) and keeps them; no accessor can
//! panic afterwards. [`Atr::parameters`] derives what a reader needs, in
//! [`Parameters`]: protocols, Fi/Di, N, WI, the T=1 IFSC/CWI/BWI/EDC, the mode, and
//! the T=15 clock-stop and class indicators. Values that ISO reserves are reported
//! as [`Unsupported`], which the power-up path turns into
//! [`Status::UnrecognizedMedia`](crate::Status::UnrecognizedMedia), as smclib does.

use core::fmt;

use crate::protocol::{Protocol, ProtocolMask};
use crate::timing::{self, Timing};

/// Largest ATR ISO 7816-3 allows: TS plus 32 characters.
pub const MAX_LEN: usize = 33;

/// TS for the direct convention.
pub const TS_DIRECT: u8 = 0x3B;
/// TS for the inverse convention, decoded.
pub const TS_INVERSE: u8 = 0x3F;
/// TS of an inverse-convention card as a UART in direct convention receives it.
pub const TS_INVERSE_RAW: u8 = 0x03;

/// Decode (or encode) one character between the inverse and the direct convention:
/// the bit order is reversed and every bit complemented.
pub const fn invert_convention(byte: u8) -> u8 {
    !byte.reverse_bits()
}

/// The bit convention the card announced in TS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// TS = 3B: high level is 1, least significant bit first.
    Direct,
    /// TS = 3F: low level is 1, most significant bit first.
    Inverse,
}

/// Whether the check character TCK was present and right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tck {
    /// Only T=0 is indicated, so there is no TCK.
    Absent,
    /// TCK is present and the XOR of T0..TCK is zero.
    Ok,
    /// TCK is present but the XOR of T0..TCK is not zero.
    Bad,
}

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
    bytes: [u8; MAX_LEN],
    len: u8,
    convention: Convention,
    historical_start: u8,
    historical_len: u8,
    tck: Tck,
}

/// One group of interface characters, TAi TBi TCi TDi (i counts from 1).
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
        if raw.len() > MAX_LEN {
            return Err(Error::TooLong(raw.len()));
        }
        let mut bytes = [0u8; MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        let convention = match ts {
            TS_DIRECT => Convention::Direct,
            TS_INVERSE => Convention::Inverse,
            TS_INVERSE_RAW => {
                for b in &mut bytes[..raw.len()] {
                    *b = invert_convention(*b);
                }
                Convention::Inverse
            }
            other => return Err(Error::InvalidTs(other)),
        };
        let bytes_in = &bytes[..raw.len()];
        let layout = Layout::walk(bytes_in)?;
        let mut atr = Atr {
            bytes,
            len: raw.len() as u8,
            convention,
            historical_start: layout.historical_start as u8,
            historical_len: layout.historical_len as u8,
            tck: Tck::Absent,
        };
        if layout.tck_present {
            let xor = bytes_in[1..].iter().fold(0u8, |acc, b| acc ^ b);
            atr.tck = if xor == 0 { Tck::Ok } else { Tck::Bad };
        }
        Ok(atr)
    }

    /// The ATR bytes, in the direct convention (TS is 3B or 3F).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The convention TS announced.
    pub fn convention(&self) -> Convention {
        self.convention
    }

    /// The historical bytes (at most 15).
    pub fn historical(&self) -> &[u8] {
        let start = usize::from(self.historical_start);
        let end = start + usize::from(self.historical_len);
        self.as_bytes().get(start..end).unwrap_or(&[])
    }

    /// Whether TCK is absent, right or wrong.
    pub fn tck(&self) -> Tck {
        self.tck
    }

    /// The interface character groups, in order (group 1 first).
    pub fn groups(&self) -> Groups<'_> {
        Groups {
            bytes: self.as_bytes(),
            pos: 1,
            next_y: None,
            done: false,
        }
    }

    /// Derive the card's parameters.
    pub fn parameters(&self) -> Parameters {
        Parameters::derive(self)
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
        let mut y = t0 >> 4;
        let mut pos = 2usize;
        let mut tck_present = false;
        loop {
            let count = (y & 0x0F).count_ones() as usize;
            let td_present = y & 0x08 != 0;
            pos += count;
            if !td_present {
                break;
            }
            let td = *bytes.get(pos - 1).ok_or(Error::Truncated { needed: pos })?;
            if td & 0x0F != 0 {
                tck_present = true;
            }
            y = td >> 4;
            if pos > MAX_LEN {
                return Err(Error::Truncated { needed: pos });
            }
        }
        let historical_start = pos;
        let needed = pos + historical_len + usize::from(tck_present);
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
    bytes: &'a [u8],
    pos: usize,
    next_y: Option<u8>,
    done: bool,
}

impl Iterator for Groups<'_> {
    type Item = Group;

    fn next(&mut self) -> Option<Group> {
        if self.done {
            return None;
        }
        let y = match self.next_y {
            Some(y) => y,
            None => self.bytes.get(1)? >> 4,
        };
        let mut group = Group::default();
        let take = |present: bool, pos: &mut usize| -> Option<u8> {
            if present {
                let b = self.bytes.get(*pos).copied();
                *pos += 1;
                b
            } else {
                None
            }
        };
        let mut pos = self.pos + 1;
        group.ta = take(y & 0x1 != 0, &mut pos);
        group.tb = take(y & 0x2 != 0, &mut pos);
        group.tc = take(y & 0x4 != 0, &mut pos);
        group.td = take(y & 0x8 != 0, &mut pos);
        self.pos = pos - 1;
        match group.td {
            Some(td) => self.next_y = Some(td >> 4),
            None => self.done = true,
        }
        Some(group)
    }
}

/// T=1 error detection code chosen by the card (TC of the first T=1 group): the
/// same type the T=1 engine runs with.
pub use crate::t1::Edc;

/// The mode the card enters after its ATR (ISO/IEC 7816-3:2006 clause 6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// TA2 absent: PPS may select the protocol and Fi/Di; without PPS the first
    /// offered protocol applies with F = 372, D = 1.
    Negotiable,
    /// TA2 present: the protocol in TA2 applies at once, with no PPS.
    Specific {
        /// The protocol number T from TA2.
        protocol: u8,
        /// TA2 bit 5: the parameters are implicitly known, not those of TA1.
        implicit_parameters: bool,
        /// TA2 bit 8 clear: the card can switch to negotiable mode on a warm reset.
        can_change: bool,
    },
}

/// The T=15 clock stop indicator X (first TA for T=15, bits 8 and 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStop {
    /// Clock stop not supported.
    NotSupported,
    /// The clock may be stopped in state low.
    Low,
    /// The clock may be stopped in state high.
    High,
    /// The clock may be stopped in either state.
    NoPreference,
}

/// Parameters derived from an ATR; defaults apply for absent characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameters {
    /// Protocols offered in the TDi bytes (T=0 alone when no TD1); T=15 is not a
    /// transmission protocol and not included.
    pub protocols: ProtocolMask,
    /// The first offered protocol number (TD1's, or 0), the default without PPS.
    pub first_protocol: u8,
    /// Clock rate conversion index Fi from TA1 (default 1).
    pub fi: u8,
    /// Baud rate adjustment index Di from TA1 (default 1).
    pub di: u8,
    /// Extra guard time N from TC1, in etu (default 0; 255 = minimum guard time).
    pub n: u8,
    /// T=0 waiting time integer WI from TC2 (default 10).
    pub wi: u8,
    /// Specific or negotiable mode.
    pub mode: Mode,
    /// T=1 information field size of the card, IFSC, in bytes (default 32).
    pub ifsc: u8,
    /// T=1 character waiting time integer CWI (default 13).
    pub cwi: u8,
    /// T=1 block waiting time integer BWI (default 4).
    pub bwi: u8,
    /// T=1 error detection code (default LRC).
    pub edc: Edc,
    /// T=15 clock stop indicator, if a T=15 TA is present.
    pub clock_stop: Option<ClockStop>,
    /// T=15 class indicator bits (A = 5 V: 0x01, B = 3 V: 0x02, C = 1.8 V: 0x04), if
    /// a T=15 TA is present.
    pub classes: Option<u8>,
}

/// A value of the ATR that ISO/IEC 7816-3 reserves or forbids, so no reader can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// Fi is an RFU index (7, 8, 14, 15).
    ReservedFi(u8),
    /// Di is an RFU index (0, 10..15).
    ReservedDi(u8),
    /// IFSC is 0 or 255.
    InvalidIfsc(u8),
    /// BWI is above 9.
    ReservedBwi(u8),
    /// WI is 0.
    ZeroWi,
    /// TCK is wrong.
    BadTck,
    /// No transmission protocol this library runs (T=0 or T=1) is offered.
    NoKnownProtocol,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::ReservedFi(v) => write!(f, "reserved Fi {v}"),
            Unsupported::ReservedDi(v) => write!(f, "reserved Di {v}"),
            Unsupported::InvalidIfsc(v) => write!(f, "invalid IFSC {v}"),
            Unsupported::ReservedBwi(v) => write!(f, "reserved BWI {v}"),
            Unsupported::ZeroWi => f.write_str("WI is 0"),
            Unsupported::BadTck => f.write_str("wrong TCK"),
            Unsupported::NoKnownProtocol => f.write_str("neither T=0 nor T=1 offered"),
        }
    }
}

impl core::error::Error for Unsupported {}

impl Parameters {
    /// The ISO defaults, as for an ATR `3B 00`.
    pub const DEFAULT: Parameters = Parameters {
        protocols: ProtocolMask::T0,
        first_protocol: 0,
        fi: timing::FI_DEFAULT,
        di: timing::DI_DEFAULT,
        n: 0,
        wi: 10,
        mode: Mode::Negotiable,
        ifsc: 32,
        cwi: 13,
        bwi: 4,
        edc: Edc::Lrc,
        clock_stop: None,
        classes: None,
    };

    fn derive(atr: &Atr) -> Parameters {
        let mut p = Parameters::DEFAULT;
        let mut protocols = ProtocolMask::NONE;
        let mut any_td = false;
        // The protocol that the current group's characters belong to (TD(i-1)'s T).
        let mut group_protocol: Option<u8> = None;
        let (mut t1_ta, mut t1_tb, mut t1_tc, mut t15_ta) = (false, false, false, false);
        for (index, group) in atr.groups().enumerate() {
            let i = index + 1;
            match i {
                1 => {
                    if let Some(ta1) = group.ta {
                        p.fi = ta1 >> 4;
                        p.di = ta1 & 0x0F;
                    }
                    if let Some(tc1) = group.tc {
                        p.n = tc1;
                    }
                }
                2 => {
                    if let Some(ta2) = group.ta {
                        p.mode = Mode::Specific {
                            protocol: ta2 & 0x0F,
                            implicit_parameters: ta2 & 0x10 != 0,
                            can_change: ta2 & 0x80 == 0,
                        };
                    }
                    if let (Some(tc2), Some(0)) = (group.tc, group_protocol) {
                        p.wi = tc2;
                    }
                }
                _ => match group_protocol {
                    Some(1) => {
                        if let (Some(ta), false) = (group.ta, t1_ta) {
                            p.ifsc = ta;
                            t1_ta = true;
                        }
                        if let (Some(tb), false) = (group.tb, t1_tb) {
                            p.bwi = tb >> 4;
                            p.cwi = tb & 0x0F;
                            t1_tb = true;
                        }
                        if let (Some(tc), false) = (group.tc, t1_tc) {
                            p.edc = Edc::from_tc(tc);
                            t1_tc = true;
                        }
                    }
                    Some(15) => {
                        if let (Some(ta), false) = (group.ta, t15_ta) {
                            p.clock_stop = Some(match ta >> 6 {
                                0 => ClockStop::NotSupported,
                                1 => ClockStop::Low,
                                2 => ClockStop::High,
                                _ => ClockStop::NoPreference,
                            });
                            p.classes = Some(ta & 0x3F);
                            t15_ta = true;
                        }
                    }
                    _ => {}
                },
            }
            if let Some(t) = group.protocol() {
                if !any_td {
                    p.first_protocol = t;
                    any_td = true;
                }
                match t {
                    0 => protocols = protocols.with(Protocol::T0),
                    1 => protocols = protocols.with(Protocol::T1),
                    _ => {}
                }
            }
            group_protocol = group.protocol();
        }
        p.protocols = if any_td { protocols } else { ProtocolMask::T0 };
        p
    }

    /// Check that a reader can use these parameters; `tck` is the ATR's TCK state.
    pub fn check(&self, tck: Tck) -> Result<(), Unsupported> {
        if tck == Tck::Bad {
            return Err(Unsupported::BadTck);
        }
        if timing::clock_rate_conversion(self.fi).is_none() {
            return Err(Unsupported::ReservedFi(self.fi));
        }
        if timing::baud_rate_adjustment(self.di).is_none() {
            return Err(Unsupported::ReservedDi(self.di));
        }
        if self.protocols.is_empty() {
            return Err(Unsupported::NoKnownProtocol);
        }
        if self.protocols.contains(Protocol::T0) && self.wi == 0 {
            return Err(Unsupported::ZeroWi);
        }
        if self.protocols.contains(Protocol::T1) {
            if self.ifsc == 0 || self.ifsc == 255 {
                return Err(Unsupported::InvalidIfsc(self.ifsc));
            }
            if self.bwi > 9 {
                return Err(Unsupported::ReservedBwi(self.bwi));
            }
        }
        Ok(())
    }

    /// The protocol in force when no PPS is done: TA2's in specific mode, else the
    /// first offered one. `None` if that is neither T=0 nor T=1.
    pub fn default_protocol(&self) -> Option<Protocol> {
        let t = match self.mode {
            Mode::Specific { protocol, .. } => protocol,
            Mode::Negotiable => self.first_protocol,
        };
        match t {
            0 => Some(Protocol::T0),
            1 => Some(Protocol::T1),
            _ => None,
        }
    }

    /// The card's maximum clock f(max) from Fi, in kHz (`None` for a reserved Fi).
    pub fn fmax_khz(&self) -> Option<u32> {
        timing::clock_rate_conversion(self.fi).map(|rate| rate.fmax_khz)
    }

    /// The F and D in force right after the ATR, at `clock_khz`: the defaults
    /// (372, 1), except in specific mode without implicit parameters, where TA1's
    /// Fi/Di apply at once.
    pub fn initial_timing(&self, clock_khz: u32) -> Timing {
        match self.mode {
            Mode::Specific {
                implicit_parameters: false,
                ..
            } => Timing::from_indices(self.fi, self.di, clock_khz)
                .unwrap_or(Timing::default_at(clock_khz)),
            _ => Timing::default_at(clock_khz),
        }
    }
}

/// Reserved, forbidden or deprecated values found in an ATR, as a set of flags.
///
/// [`Parameters::check`] refuses only what stops a reader from talking to the card;
/// these flags report everything ISO/IEC 7816-3:2006 reserves or deprecates, for a
/// diagnostic display. Each associated constant is one flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(u16);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// Fi in TA1 is an RFU index (7, 8, 14, 15).
    pub const RESERVED_FI: Flags = Flags(1 << 0);
    /// Di in TA1 is an RFU index (0, 10..15).
    pub const RESERVED_DI: Flags = Flags(1 << 1);
    /// TB1 is present and not 00 (VPP programming, deprecated since 2006).
    pub const DEPRECATED_TB1: Flags = Flags(1 << 2);
    /// TB2 is present (VPP programming, deprecated since 2006).
    pub const DEPRECATED_TB2: Flags = Flags(1 << 3);
    /// TA2 has its RFU bits 7 and 6 (0x60) set.
    pub const TA2_RFU_BITS: Flags = Flags(1 << 4);
    /// WI in TC2 is 0.
    pub const ZERO_WI: Flags = Flags(1 << 5);
    /// A TDi announces a reserved protocol number (T=2..13).
    pub const RFU_PROTOCOL: Flags = Flags(1 << 6);
    /// TD1 announces T=15, which ISO forbids in TD1.
    pub const T15_IN_TD1: Flags = Flags(1 << 7);
    /// The first T=1 TA gives IFSC 00 or FF.
    pub const INVALID_IFSC: Flags = Flags(1 << 8);
    /// The first T=1 TB gives BWI above 9.
    pub const RESERVED_BWI: Flags = Flags(1 << 9);
    /// The first T=1 TC has RFU bits (0xFE) set.
    pub const T1_TC_RFU_BITS: Flags = Flags(1 << 10);
    /// The first T=15 TA has RFU class indicator bits (0x38) set.
    pub const RFU_CLASS: Flags = Flags(1 << 11);
    /// TA2 names a protocol that no TDi offers.
    pub const SPECIFIC_NOT_OFFERED: Flags = Flags(1 << 12);

    /// Every single flag, in bit order.
    pub const ALL: [Flags; 13] = [
        Flags::RESERVED_FI,
        Flags::RESERVED_DI,
        Flags::DEPRECATED_TB1,
        Flags::DEPRECATED_TB2,
        Flags::TA2_RFU_BITS,
        Flags::ZERO_WI,
        Flags::RFU_PROTOCOL,
        Flags::T15_IN_TD1,
        Flags::INVALID_IFSC,
        Flags::RESERVED_BWI,
        Flags::T1_TC_RFU_BITS,
        Flags::RFU_CLASS,
        Flags::SPECIFIC_NOT_OFFERED,
    ];

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags of `other` added.
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// The single flags set in `self`, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Flags> {
        Flags::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// A short stable identifier of a single flag (`"reserved_fi"`, ...); `"flags"`
    /// for a combination or none.
    pub const fn name(self) -> &'static str {
        match self {
            Flags::RESERVED_FI => "reserved_fi",
            Flags::RESERVED_DI => "reserved_di",
            Flags::DEPRECATED_TB1 => "deprecated_tb1",
            Flags::DEPRECATED_TB2 => "deprecated_tb2",
            Flags::TA2_RFU_BITS => "ta2_rfu_bits",
            Flags::ZERO_WI => "zero_wi",
            Flags::RFU_PROTOCOL => "rfu_protocol",
            Flags::T15_IN_TD1 => "t15_in_td1",
            Flags::INVALID_IFSC => "invalid_ifsc",
            Flags::RESERVED_BWI => "reserved_bwi",
            Flags::T1_TC_RFU_BITS => "t1_tc_rfu_bits",
            Flags::RFU_CLASS => "rfu_class",
            Flags::SPECIFIC_NOT_OFFERED => "specific_not_offered",
            _ => "flags",
        }
    }

    /// A human description of a single flag; `"several flags"` for a combination.
    pub const fn description(self) -> &'static str {
        match self {
            Flags::RESERVED_FI => "Fi is reserved for future use",
            Flags::RESERVED_DI => "Di is reserved for future use",
            Flags::DEPRECATED_TB1 => "TB1 (VPP) is deprecated and not 00",
            Flags::DEPRECATED_TB2 => "TB2 (VPP) is deprecated",
            Flags::TA2_RFU_BITS => "TA2 bits 7-6 are reserved and not 0",
            Flags::ZERO_WI => "WI = 0 is reserved",
            Flags::RFU_PROTOCOL => "a TDi announces a reserved protocol (T=2..13)",
            Flags::T15_IN_TD1 => "TD1 shall not announce T=15",
            Flags::INVALID_IFSC => "IFSC 00 and FF are reserved",
            Flags::RESERVED_BWI => "BWI above 9 is reserved",
            Flags::T1_TC_RFU_BITS => "T=1 TC bits 8-2 are reserved and not 0",
            Flags::RFU_CLASS => "T=15 class indicator bits 6-4 are reserved and not 0",
            Flags::SPECIFIC_NOT_OFFERED => "TA2 names a protocol no TDi offers",
            Flags::NONE => "no flag",
            _ => "several flags",
        }
    }
}

/// The interface characters with a fixed meaning, as raw bytes, and what is reserved.
///
/// Complements [`Parameters`] (the derived values) for a diagnostic display: TB1,
/// TB2 and the T=15 SPU have no effect on a reader but are worth showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Analysis {
    /// TA1 (Fi, Di).
    pub ta1: Option<u8>,
    /// TB1 (deprecated VPP).
    pub tb1: Option<u8>,
    /// TC1 (extra guard time N).
    pub tc1: Option<u8>,
    /// TA2 (specific mode).
    pub ta2: Option<u8>,
    /// TB2 (deprecated VPP).
    pub tb2: Option<u8>,
    /// TC2 (WI, when TD1 announces T=0).
    pub tc2: Option<u8>,
    /// The first TA after a TD announcing T=15: clock stop and class indicators.
    pub t15_ta: Option<u8>,
    /// The first TB after a TD announcing T=15: standard or proprietary use of
    /// contact C6 (SPU).
    pub spu: Option<u8>,
    /// Every protocol number announced in a TDi, as bit T of the mask (T=15 too).
    pub announced: u16,
    /// Reserved, forbidden or deprecated values found.
    pub flags: Flags,
}

impl Analysis {
    fn derive(atr: &Atr, p: &Parameters) -> Analysis {
        let mut a = Analysis::default();
        let mut flags = Flags::NONE;
        let mut group_protocol: Option<u8> = None;
        let (mut t1_ta, mut t1_tb, mut t1_tc) = (false, false, false);
        for (index, group) in atr.groups().enumerate() {
            match index + 1 {
                1 => {
                    a.ta1 = group.ta;
                    a.tb1 = group.tb;
                    a.tc1 = group.tc;
                    if group.protocol() == Some(15) {
                        flags = flags.with(Flags::T15_IN_TD1);
                    }
                }
                2 => {
                    a.ta2 = group.ta;
                    a.tb2 = group.tb;
                    a.tc2 = group.tc;
                }
                _ => match group_protocol {
                    Some(1) => {
                        if let (Some(ta), false) = (group.ta, t1_ta) {
                            t1_ta = true;
                            if ta == 0 || ta == 0xFF {
                                flags = flags.with(Flags::INVALID_IFSC);
                            }
                        }
                        if let (Some(tb), false) = (group.tb, t1_tb) {
                            t1_tb = true;
                            if tb >> 4 > 9 {
                                flags = flags.with(Flags::RESERVED_BWI);
                            }
                        }
                        if let (Some(tc), false) = (group.tc, t1_tc) {
                            t1_tc = true;
                            if tc & 0xFE != 0 {
                                flags = flags.with(Flags::T1_TC_RFU_BITS);
                            }
                        }
                    }
                    Some(15) => {
                        if a.t15_ta.is_none() {
                            a.t15_ta = group.ta;
                        }
                        if a.spu.is_none() {
                            a.spu = group.tb;
                        }
                    }
                    _ => {}
                },
            }
            if let Some(t) = group.protocol() {
                a.announced |= 1 << t;
                if (2..=13).contains(&t) {
                    flags = flags.with(Flags::RFU_PROTOCOL);
                }
            }
            group_protocol = group.protocol();
        }
        if a.ta1.is_some() {
            if timing::clock_rate_conversion(p.fi).is_none() {
                flags = flags.with(Flags::RESERVED_FI);
            }
            if timing::baud_rate_adjustment(p.di).is_none() {
                flags = flags.with(Flags::RESERVED_DI);
            }
        }
        if matches!(a.tb1, Some(tb1) if tb1 != 0) {
            flags = flags.with(Flags::DEPRECATED_TB1);
        }
        if a.tb2.is_some() {
            flags = flags.with(Flags::DEPRECATED_TB2);
        }
        if let Some(ta2) = a.ta2 {
            if ta2 & 0x60 != 0 {
                flags = flags.with(Flags::TA2_RFU_BITS);
            }
            let t = ta2 & 0x0F;
            let offered = if a.announced == 0 {
                t == 0
            } else {
                a.announced & (1 << t) != 0
            };
            if !offered {
                flags = flags.with(Flags::SPECIFIC_NOT_OFFERED);
            }
        }
        if p.wi == 0 {
            flags = flags.with(Flags::ZERO_WI);
        }
        if matches!(p.classes, Some(c) if c & 0x38 != 0) {
            flags = flags.with(Flags::RFU_CLASS);
        }
        a.flags = flags;
        a
    }
}

impl Atr {
    /// TS as received, decoded to the direct convention: 3B or 3F.
    pub fn ts(&self) -> u8 {
        self.as_bytes().first().copied().unwrap_or(TS_DIRECT)
    }

    /// The format character T0: Y1 in the high nibble, K (historical length) low.
    pub fn t0(&self) -> u8 {
        self.as_bytes().get(1).copied().unwrap_or(0)
    }

    /// The TCK byte, if present.
    pub fn tck_byte(&self) -> Option<u8> {
        match self.tck {
            Tck::Absent => None,
            Tck::Ok | Tck::Bad => self.as_bytes().last().copied(),
        }
    }

    /// The raw interface characters with a fixed meaning and the reserved values.
    pub fn analysis(&self) -> Analysis {
        Analysis::derive(self, &self.parameters())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_hex(s: &str) -> heapless::Vec<u8, 64> {
        s.split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    #[test]
    fn t0_only_atr_without_tck() {
        let atr = Atr::parse(&parse_hex("3B 02 14 50")).unwrap();
        assert_eq!(atr.convention(), Convention::Direct);
        assert_eq!(atr.historical(), &[0x14, 0x50]);
        assert_eq!(atr.tck(), Tck::Absent);
        let p = atr.parameters();
        assert_eq!(p.protocols, ProtocolMask::T0);
        assert_eq!(p.default_protocol(), Some(Protocol::T0));
        assert_eq!(p.mode, Mode::Negotiable);
        assert_eq!(p.check(atr.tck()), Ok(()));
    }

    #[test]
    fn t1_card_with_crc_and_ifsc() {
        // TA1=96 TD1=81 (T=1) TD2=31 (T=1, TA3 TB3) TA3=FE TB3=45 + hist "JCOP" + TCK
        let mut v = parse_hex("3B 94 96 81 31 FE 45 4A 43 4F 50");
        let tck = v[1..].iter().fold(0, |a, b| a ^ b);
        v.push(tck).unwrap();
        let atr = Atr::parse(&v).unwrap();
        assert_eq!(atr.tck(), Tck::Ok);
        let p = atr.parameters();
        assert_eq!((p.fi, p.di), (9, 6));
        assert_eq!(p.ifsc, 254);
        assert_eq!((p.bwi, p.cwi), (4, 5));
        assert_eq!(p.edc, Edc::Lrc);
        assert_eq!(p.protocols, ProtocolMask::T1);
        assert_eq!(p.first_protocol, 1);
        assert_eq!(atr.historical(), b"JCOP");
        let mut bad = v.clone();
        *bad.last_mut().unwrap() ^= 1;
        let bad = Atr::parse(&bad).unwrap();
        assert_eq!(bad.tck(), Tck::Bad);
        assert_eq!(bad.parameters().check(bad.tck()), Err(Unsupported::BadTck));
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
    fn specific_mode_from_ta2() {
        // T0=B0 (TA1 TB1 TD1), TA1=13, TB1=00, TD1=90 (TA2 TD2, T=0), TA2=11 (T=1,
        // implicit parameters), TD2=01 (T=1), TCK=23.
        let atr = Atr::parse(&parse_hex("3B B0 13 00 90 11 01 23")).unwrap();
        assert_eq!(atr.tck(), Tck::Ok);
        let p = atr.parameters();
        assert_eq!(p.fi, 1);
        assert_eq!(p.di, 3);
        assert_eq!(
            p.mode,
            Mode::Specific {
                protocol: 1,
                implicit_parameters: true,
                can_change: true
            }
        );
        assert_eq!(p.default_protocol(), Some(Protocol::T1));
        assert_eq!(p.initial_timing(4000), Timing::default_at(4000));
    }

    #[test]
    fn t15_class_indicator() {
        // TD1=80 (T=0, TD2), TD2=1F? -> T=15 with TA3: 3B 80 80 1F 07 + TCK
        let mut v = parse_hex("3B 80 80 1F 07");
        let tck = v[1..].iter().fold(0, |a, b| a ^ b);
        v.push(tck).unwrap();
        let atr = Atr::parse(&v).unwrap();
        let p = atr.parameters();
        assert_eq!(p.classes, Some(0x07));
        assert_eq!(p.clock_stop, Some(ClockStop::NotSupported));
        assert_eq!(p.protocols, ProtocolMask::T0);
        assert_eq!(atr.tck(), Tck::Ok);
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
    }

    #[test]
    fn never_panics_on_any_short_input() {
        let mut x: u32 = 0x1234_5678;
        let mut buf = [0u8; MAX_LEN + 2];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % (MAX_LEN as u32 + 3)) as usize;
            for b in buf.iter_mut().take(len) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            buf[0] = [0x3B, 0x3F, 0x03, buf[0]][(x % 4) as usize];
            if let Ok(atr) = Atr::parse(&buf[..len]) {
                let p = atr.parameters();
                let _ = p.check(atr.tck());
                assert!(atr.historical().len() <= 15);
                assert_eq!(atr.as_bytes().len(), len);
                assert!(atr.groups().count() <= MAX_LEN);
            }
        }
    }

    #[test]
    fn analysis_reports_raw_bytes_and_reserved_values() {
        // TA1=96 TB1=00 TD1=91 TA2=81 TD2=B1 TA3=FE TB3=55 TD3=1F TA4=C7 (pcsc-tools).
        let atr = Atr::parse(&parse_hex("3B 90 96 91 81 B1 FE 55 1F C7 D4")).unwrap();
        let a = atr.analysis();
        assert_eq!(
            (a.ta1, a.tb1, a.ta2, a.t15_ta),
            (Some(0x96), None, Some(0x81), Some(0xC7))
        );
        assert_eq!(a.announced, (1 << 1) | (1 << 15));
        assert!(a.flags.is_empty());
        assert_eq!(
            (atr.ts(), atr.t0(), atr.tck_byte()),
            (0x3B, 0x90, Some(0xD4))
        );
        // TA1=7A (Fi 7, Di 10 RFU), TB1=25, TD1=9F (T=15 in TD1), TA2=3F (RFU bits),
        // TD2=1F, TA3=3F (T=15 classes with RFU bits).
        let mut v = parse_hex("3B B0 7A 25 9F 3F 1F 3F");
        let tck = v[1..].iter().fold(0, |a, b| a ^ b);
        v.push(tck).unwrap();
        let a = Atr::parse(&v).unwrap().analysis();
        for f in [
            Flags::RESERVED_FI,
            Flags::RESERVED_DI,
            Flags::DEPRECATED_TB1,
            Flags::T15_IN_TD1,
            Flags::TA2_RFU_BITS,
            Flags::RFU_CLASS,
        ] {
            assert!(a.flags.contains(f), "{}", f.name());
        }
        assert_eq!(a.flags.iter().count(), 6);
        assert_eq!(Atr::parse(&parse_hex("3B 00")).unwrap().tck_byte(), None);
        for f in Flags::ALL {
            assert_ne!(f.name(), "flags");
            assert_ne!(f.description(), "several flags");
        }
    }
}
