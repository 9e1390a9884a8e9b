//! USB/IP's operation phase for `usbip-serve` (device list, import), on the
//! server's sockets; the wire format, the URB stream and the virtual bus are the
//! `readerkit-usbip` crate.

pub(crate) mod admission;
pub(crate) mod handshake;
