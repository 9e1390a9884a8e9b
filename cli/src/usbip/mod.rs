//! USB/IP: a USB device exported over TCP as the Linux kernel's `usbip` tools and
//! `vhci-hcd` expect, with the device itself a usb-device class on a virtual bus.
//!
//! - `protocol`: checked views of the client's messages and the server's replies;
//! - `virtual_bus`: a `usb_device::bus::UsbBus` with no hardware behind it;
//! - `host`: URBs turned into packets on that bus (the host controller's side);
//! - `handshake`: the operation phase of each connection (device list, import).

pub(crate) mod handshake;
pub(crate) mod host;
pub(crate) mod protocol;
pub(crate) mod virtual_bus;
