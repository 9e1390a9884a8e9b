//! The reader's description as C types: capabilities ([`rk_reader_caps`]) and the
//! vendor's attributes ([`rk_vendor_attrs`]), converted to and from the core's.

use core::ffi::c_char;

use readerkit::ProtocolMask;
use readerkit::caps::{
    AttrString, IfdVersion, MAX_ATTR_STRING_LEN, Mechanics, ReaderCapabilities, ReaderType,
    VendorAttributes,
};
use static_assertions::const_assert_eq;

use crate::guard::{entry, read_in, write_out};
use crate::status::*;

// The entry point the docs below name.
#[cfg(doc)]
use crate::device::rk_device_init;

/// Longest vendor attribute string (vendor name, IFD type, serial number), in bytes.
pub const RK_MAX_ATTR_STRING_LEN: usize = 32;
// Written out for the header; the core's vendor strings are its authority.
const_assert_eq!(RK_MAX_ATTR_STRING_LEN, MAX_ATTR_STRING_LEN);

/// The reader's capabilities (`SCARD_READER_CAPABILITIES`).
// The C ABI's mirror of `readerkit::caps::ReaderCapabilities`, field for field on
// purpose: C callers need a `repr(C)` struct; the `From` impls below convert both ways.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_reader_caps {
    /// Protocols supported: `RK_PROTOCOL_T0 | RK_PROTOCOL_T1` ...
    pub protocols: u32,
    /// Reader type (`SCARD_READER_TYPE_*`: 1 serial, 0x20 USB, 0xF0 vendor).
    pub reader_type: u32,
    /// Logical channel.
    pub channel: u16,
    /// Mechanics: 1 swallows, 2 ejects, 4 confiscates.
    pub mechanics: u32,
    /// Default card clock, kHz.
    pub default_clock_khz: u32,
    /// Maximum card clock, kHz.
    pub max_clock_khz: u32,
    /// Default data rate, bit/s.
    pub default_data_rate: u32,
    /// Maximum data rate, bit/s.
    pub max_data_rate: u32,
    /// Largest T=1 IFSD, 1..=254.
    pub max_ifsd: u8,
    /// 0 if the reader cannot power the card down while inserted.
    pub power_management: u32,
}

/// The vendor's description of the reader. Strings are NUL-terminated, at most
/// `RK_MAX_ATTR_STRING_LEN` bytes; `NULL` = empty. They are copied by
/// [`rk_device_init`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_vendor_attrs {
    /// Manufacturer name.
    pub vendor_name: *const c_char,
    /// Reader model.
    pub ifd_type: *const c_char,
    /// Serial number.
    pub serial_number: *const c_char,
    /// Instance number of this reader type.
    pub unit: u32,
    /// Version 0xMMmmbbbb.
    pub ifd_version: u32,
}

impl From<ReaderCapabilities> for rk_reader_caps {
    fn from(reader: ReaderCapabilities) -> rk_reader_caps {
        rk_reader_caps {
            protocols: reader.protocols.0,
            reader_type: reader.reader_type.0,
            channel: reader.channel,
            mechanics: reader.mechanics.0,
            default_clock_khz: reader.default_clock_khz,
            max_clock_khz: reader.max_clock_khz,
            default_data_rate: reader.default_data_rate,
            max_data_rate: reader.max_data_rate,
            max_ifsd: reader.max_ifsd,
            power_management: reader.power_management,
        }
    }
}

impl From<rk_reader_caps> for ReaderCapabilities {
    fn from(caps: rk_reader_caps) -> ReaderCapabilities {
        ReaderCapabilities {
            protocols: ProtocolMask(caps.protocols),
            reader_type: ReaderType(caps.reader_type),
            channel: caps.channel,
            mechanics: Mechanics(caps.mechanics),
            default_clock_khz: caps.default_clock_khz,
            max_clock_khz: caps.max_clock_khz,
            default_data_rate: caps.default_data_rate,
            max_data_rate: caps.max_data_rate,
            max_ifsd: caps.max_ifsd,
            power_management: caps.power_management,
        }
    }
}

/// A NUL-terminated C string as an attribute string.
///
/// # Safety
///
/// `s` is NULL or a NUL-terminated string.
unsafe fn attr_string(s: *const c_char) -> Result<AttrString, rk_status> {
    if s.is_null() {
        return Ok(AttrString::new());
    }
    let mut out = AttrString::new();
    for i in 0..=RK_MAX_ATTR_STRING_LEN {
        // SAFETY: the string is NUL-terminated and we stop at the NUL, so `s + i`
        // stays inside it.
        let p = unsafe { s.add(i) };
        // SAFETY: `p` points at a character of the string (see above); read as a
        // byte, whatever the signedness of `c_char` on the target.
        let c = unsafe { p.cast::<u8>().read() };
        if c == 0 {
            return Ok(out);
        }
        out.push(c).map_err(|_| RK_STATUS_INVALID_PARAMETER)?;
    }
    Err(RK_STATUS_INVALID_PARAMETER)
}

/// Fill `*caps` with a typical UART reader's capabilities: T=0 and T=1, 3.58 MHz
/// default and 4 MHz max clock, 9600 to 115200 bit/s, IFSD 254.
///
/// # Safety
///
/// `caps` is NULL or valid for a write of `rk_reader_caps`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reader_caps_typical(caps: *mut rk_reader_caps) -> rk_status {
    // SAFETY: forwarded contract.
    entry(|| unsafe { write_out(caps, ReaderCapabilities::typical().into()) })
}

/// The vendor attributes `vendor` describes (NULL: none), their strings copied.
/// `RK_STATUS_INVALID_PARAMETER` for a misaligned pointer or a string longer than
/// `RK_MAX_ATTR_STRING_LEN`.
///
/// # Safety
///
/// `vendor` is NULL or valid for reads; its strings are NULL or NUL-terminated.
pub(crate) unsafe fn vendor_attributes(
    vendor: *const rk_vendor_attrs,
) -> Result<VendorAttributes, rk_status> {
    if vendor.is_null() {
        return Ok(VendorAttributes::default());
    }
    // SAFETY: readable per the contract.
    let v = unsafe { read_in(vendor) }?;
    Ok(VendorAttributes {
        // SAFETY: NUL-terminated per the contract.
        vendor_name: unsafe { attr_string(v.vendor_name) }?,
        // SAFETY: as above.
        ifd_type: unsafe { attr_string(v.ifd_type) }?,
        unit: v.unit,
        ifd_version: IfdVersion::from_u32(v.ifd_version),
        // SAFETY: as above.
        serial_number: unsafe { attr_string(v.serial_number) }?,
    })
}
