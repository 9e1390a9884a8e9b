//! Test support: `readerkit ccid-serve` on a pseudo-terminal, and Debian's pcscd
//! (testkit's private runner) loading Debian's `libccidtwin.so` for it.
//! Shared by the end-to-end tests and the benchmark (`#[path]`-included).
//!
//! Every tool must be installed: a missing one is a failure that names the Debian
//! package, never a skip.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub use readerkit_testkit::apdu::echo;
pub use readerkit_testkit::ccid_serve::Serve;
pub use readerkit_testkit::hex::hex;
pub use readerkit_testkit::pcsc::{tx, wait_card};
pub use readerkit_testkit::pcscd::{
    Entry, Libccid, Options, Pcscd, cli, ifd_driver, require, target_dir, workspace,
};

/// Debian's serial CCID driver (package `libccid`).
pub const LIBCCIDTWIN: &str = "/usr/lib/pcsc/drivers/serial/libccidtwin.so";

/// pcscd with `entries` (libccidtwin.so readers), and `libccid` settings other
/// than Debian's (none: its own Info.plist).
pub fn start_pcscd(entries: &[Entry<'_>], libccid: Option<Libccid>) -> Pcscd {
    require(LIBCCIDTWIN, "libccid");
    Pcscd::start_with(entries, Options { libccid })
}
