//! Answer-to-Reset (ISO/IEC 7816-3:2006 clause 8): one checked view of the bytes and
//! one interpretation of them, which everything else reads.
//!
//! * [`view`]: [`Atr::parse`] takes untrusted bytes, checks the structure (TS, T0,
//!   every TAi/TBi/TCi/TDi group, the historical bytes, TCK) and keeps them; no
//!   accessor can panic afterwards.
//! * [`interface`]: [`Atr::characters`] walks the interface characters once and says
//!   what each one means ([`Meaning`]), whether ISO lets it count, and which
//!   reserved values it holds ([`Flags`]).
//! * [`params`]: [`Atr::parameters`] folds that walk into what a reader needs, in
//!   [`Parameters`]: protocols, Fi/Di, N, WI, the T=1 IFSC/CWI/BWI/EDC, the mode,
//!   and the T=15 clock-stop and class indicators. Values that ISO reserves are
//!   reported as [`Unsupported`], which the power-up path turns into
//!   [`Status::UnrecognizedMedia`](crate::Status::UnrecognizedMedia), as smclib does.
//! * [`analysis`]: [`Atr::analysis`] folds the same walk into a diagnostic view
//!   ([`Analysis`]): the raw characters with a fixed meaning and every reserved,
//!   forbidden or deprecated value.
//! * [`historical`]: [`Historical::parse`] checks the historical bytes against their
//!   category (ISO/IEC 7816-4): the COMPACT-TLV objects, the status indicator, the
//!   card capabilities with their software function tables.

pub mod analysis;
pub mod historical;
pub mod interface;
pub mod params;
pub mod view;

pub use analysis::{Analysis, Flags};
pub use historical::{Category, Historical};
pub use interface::{Character, Characters, Kind, Meaning, Spu};
pub use params::{
    ClockStop, Edc, Mode, Parameters, SpecificMode, Unsupported, rate_byte, rate_indices,
};
pub use view::{Atr, Error, Group, Groups};

/// Largest ATR ISO 7816-3 allows: TS plus 32 characters.
pub const MAX_LEN: usize = 33;

/// TS for the direct convention.
pub const TS_DIRECT: u8 = 0x3B;
/// TS for the inverse convention, decoded.
pub const TS_INVERSE: u8 = 0x3F;
/// TS of an inverse-convention card as a UART in direct convention receives it.
pub const TS_INVERSE_RAW: u8 = 0x03;

/// Decode (or encode) one character between the inverse and the direct convention:
/// the bit order is reversed and every bit complemented (an involution).
pub const fn invert_convention(byte: u8) -> u8 {
    !byte.reverse_bits()
}

/// The bit convention the card announces in TS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Convention {
    /// TS = 3B: high level is 1, least significant bit first.
    #[default]
    Direct,
    /// TS = 3F: low level is 1, most significant bit first.
    Inverse,
}

impl Convention {
    /// TS announcing this convention (3B or 3F), decoded.
    pub const fn ts(self) -> u8 {
        match self {
            Convention::Direct => TS_DIRECT,
            Convention::Inverse => TS_INVERSE,
        }
    }
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

// Hex words to bytes, for the tests.
#[cfg(test)]
use readerkit_testkit::hex::parse as parse_hex;

/// Hex words to bytes with the right TCK appended, for the tests.
#[cfg(test)]
pub(crate) fn with_tck(s: &str) -> std::vec::Vec<u8> {
    let mut v = parse_hex(s);
    v.push(crate::t1::lrc(&v[1..]));
    v
}
