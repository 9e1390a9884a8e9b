//! USB/IP, the server side: a USB device exported over TCP as the Linux kernel's
//! `usbip` tools and `vhci-hcd` expect, with the device itself any usb-device class
//! on a virtual bus. `readerkit usbip-serve` exports the CCID class with it; the
//! fuzz target `usbip` drives the same code with untrusted bytes.
//!
//! - [`protocol`]: checked views of the client's messages and the server's replies;
//! - [`stream`]: the client's byte stream cut into URB commands (sans-I/O, bounded);
//! - [`virtual_bus`]: a `usb_device::bus::UsbBus` with no hardware behind it;
//! - [`host`]: URBs turned into packets on that bus (the host controller's side).
//!
//! The sockets, threads and the operation phase's timeouts stay with the server
//! (`cli/src/usbip_serve_cmd.rs`); everything that reads the peer's bytes is here.

#![forbid(unsafe_code)]

pub mod host;
pub mod protocol;
pub mod stream;
pub mod virtual_bus;
