//! The ATR parser as a C call: [`rk_atr_parse`] fills a plain struct.

use readerkit::atr::{self, Atr, ClockStop, Convention, Mode, SpecificMode, Tck};
use static_assertions::const_assert_eq;

use crate::codes::edc_code;
use crate::guard::{Region, bytes, check_disjoint, check_ptr, entry};
use crate::status::*;

/// Longest ATR, in bytes.
pub const RK_MAX_ATR_LEN: usize = 33;
// Written out for the header; the core's ATR is its authority.
const_assert_eq!(RK_MAX_ATR_LEN, atr::MAX_LEN);

/// TCK absent (only T=0 indicated).
pub const RK_TCK_ABSENT: u8 = 0;
/// TCK present and right.
pub const RK_TCK_OK: u8 = 1;
/// TCK present and wrong.
pub const RK_TCK_BAD: u8 = 2;

/// Clock stop indicator: none in the ATR.
pub const RK_CLOCK_STOP_ABSENT: u8 = 0;
/// Clock stop not supported.
pub const RK_CLOCK_STOP_NOT_SUPPORTED: u8 = 1;
/// Clock may stop low.
pub const RK_CLOCK_STOP_LOW: u8 = 2;
/// Clock may stop high.
pub const RK_CLOCK_STOP_HIGH: u8 = 3;
/// Clock may stop in either state.
pub const RK_CLOCK_STOP_NO_PREFERENCE: u8 = 4;

/// A parsed ATR and the parameters it announces (defaults for absent characters).
// The C ABI's flat view of `readerkit::atr::Atr` and its `Parameters`; the fields
// they share carry the core's docs on purpose (C callers read the header only).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_atr_info {
    /// The ATR bytes (decoded to direct convention).
    pub bytes: [u8; RK_MAX_ATR_LEN],
    /// Their number.
    pub len: u8,
    /// `true` for the inverse convention (TS = 3F).
    pub inverse_convention: bool,
    /// Offset of the historical bytes in `bytes`.
    pub historical_offset: u8,
    /// Number of historical bytes.
    pub historical_len: u8,
    /// `RK_TCK_*`.
    pub tck: u8,
    /// Protocols offered (`RK_PROTOCOL_*` bits).
    pub protocols: u32,
    /// The first protocol offered (T number).
    pub first_protocol: u8,
    /// Fi index (TA1 high nibble, 1 by default).
    pub fi: u8,
    /// Di index (TA1 low nibble, 1 by default).
    pub di: u8,
    /// Extra guard time N (TC1).
    pub n: u8,
    /// T=0 waiting time integer WI.
    pub wi: u8,
    /// `true` in specific mode (TA2 present).
    pub specific_mode: bool,
    /// Specific mode: the protocol number from TA2.
    pub specific_protocol: u8,
    /// Specific mode: parameters implicitly known (TA2 bit 5).
    pub specific_implicit: bool,
    /// Specific mode: the card can switch to negotiable mode (TA2 bit 8 clear).
    pub specific_can_change: bool,
    /// T=1 IFSC.
    pub ifsc: u8,
    /// T=1 CWI.
    pub cwi: u8,
    /// T=1 BWI.
    pub bwi: u8,
    /// T=1 `RK_EDC_LRC` or `RK_EDC_CRC`.
    pub edc: u8,
    /// `RK_CLOCK_STOP_*`.
    pub clock_stop: u8,
    /// Class indicator (T=15 first TB), 0 if absent.
    pub classes: u8,
    /// Maximum clock for Fi, kHz (0 if Fi is reserved).
    pub fmax_khz: u32,
    /// `RK_STATUS_SUCCESS` if a reader can use the parameters (as at power-up),
    /// `RK_STATUS_UNRECOGNIZED_MEDIA` for reserved values or a wrong TCK.
    pub usable: rk_status,
}

/// Parse `len` bytes of ATR into `*info`. `RK_STATUS_SUCCESS`: the structure is an
/// ATR (`info->usable` says whether its parameters are usable);
/// `RK_STATUS_UNRECOGNIZED_MEDIA`: not an ATR (`*info` untouched);
/// `RK_STATUS_INVALID_PARAMETER`: a NULL or misaligned pointer, or `*info`
/// overlapping the ATR bytes.
///
/// # Safety
///
/// `atr` is valid for `len` bytes; `info` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_atr_parse(
    atr: *const u8,
    len: usize,
    info: *mut rk_atr_info,
) -> rk_status {
    entry(|| {
        check_ptr(info.cast_const())?;
        check_disjoint(&[Region::of(info)], &[Region::bytes(atr, len)])?;
        // SAFETY: valid for `len` bytes per the contract.
        let raw = unsafe { bytes(atr, len) }?;
        let parsed = Atr::parse(raw).map_err(|_| RK_STATUS_UNRECOGNIZED_MEDIA)?;
        // SAFETY: checked non-null and aligned; writable per the contract.
        unsafe { info.write(describe(&parsed)) };
        Ok(())
    })
}

fn describe(atr: &Atr) -> rk_atr_info {
    let p = atr.parameters();
    let raw = atr.as_bytes();
    let mut bytes = [0u8; RK_MAX_ATR_LEN];
    let n = raw.len().min(RK_MAX_ATR_LEN);
    bytes[..n].copy_from_slice(&raw[..n]);
    let hist = atr.historical();
    let (specific_mode, specific_protocol, specific_implicit, specific_can_change) = match p.mode {
        Mode::Negotiable => (false, 0, false, false),
        Mode::Specific(SpecificMode {
            protocol,
            implicit_parameters,
            can_change,
        }) => (true, protocol, implicit_parameters, can_change),
    };
    rk_atr_info {
        bytes,
        len: n as u8,
        inverse_convention: atr.convention() == Convention::Inverse,
        historical_offset: atr.historical_offset() as u8,
        historical_len: hist.len() as u8,
        tck: match atr.tck() {
            Tck::Absent => RK_TCK_ABSENT,
            Tck::Ok => RK_TCK_OK,
            Tck::Bad => RK_TCK_BAD,
        },
        protocols: p.protocols.0,
        first_protocol: p.first_protocol,
        fi: p.fi,
        di: p.di,
        n: p.n,
        wi: p.wi,
        specific_mode,
        specific_protocol,
        specific_implicit,
        specific_can_change,
        ifsc: p.ifsc,
        cwi: p.cwi,
        bwi: p.bwi,
        edc: edc_code(p.edc),
        clock_stop: match p.clock_stop {
            None => RK_CLOCK_STOP_ABSENT,
            Some(ClockStop::NotSupported) => RK_CLOCK_STOP_NOT_SUPPORTED,
            Some(ClockStop::Low) => RK_CLOCK_STOP_LOW,
            Some(ClockStop::High) => RK_CLOCK_STOP_HIGH,
            Some(ClockStop::NoPreference) => RK_CLOCK_STOP_NO_PREFERENCE,
        },
        classes: p.classes.unwrap_or(0),
        fmax_khz: p.fmax_khz().unwrap_or(0),
        usable: match p.check(atr.tck()) {
            Ok(()) => RK_STATUS_SUCCESS,
            Err(_) => RK_STATUS_UNRECOGNIZED_MEDIA,
        },
    }
}
