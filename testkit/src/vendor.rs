//! The vendor attributes the tests' readers report.

use readerkit::caps::{IfdVersion, VendorAttributes, attr_string};

/// The in-memory reader's: vendor `readerkit`, type `In-memory reader`, IFD version
/// 1.2.3, no serial number.
pub fn attributes() -> VendorAttributes {
    VendorAttributes {
        vendor_name: attr_string(b"readerkit"),
        ifd_type: attr_string(b"In-memory reader"),
        unit: 0,
        ifd_version: IfdVersion {
            major: 1,
            minor: 2,
            build: 3,
        },
        serial_number: attr_string(b""),
    }
}

/// Vendor `name`, everything else empty or zero.
pub fn named(name: &[u8]) -> VendorAttributes {
    VendorAttributes {
        vendor_name: attr_string(name),
        ..VendorAttributes::default()
    }
}
