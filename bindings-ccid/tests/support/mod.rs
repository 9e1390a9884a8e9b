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

/// What libccid must never log in these sessions (framing or protocol trouble).
pub const LIBCCID_TROUBLE: [&str; 5] = [
    "Wrong LRC",
    "frame size",
    "Can't read all data",
    "overrun",
    "Get firmware failed",
];

/// pcscd with one libccidtwin.so reader `name` on `device` (`<pty>:GemPCTwin`,
/// `<pty>:SEC1210`), and a PC/SC context on it.
pub fn pcscd_for(device: &str, name: &str, libccid: Option<Libccid>) -> (Pcscd, pcsc::Context) {
    let lib = std::path::PathBuf::from(LIBCCIDTWIN);
    let pcscd = start_pcscd(
        &[Entry {
            name,
            device,
            lib: &lib,
        }],
        libccid,
    );
    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("establish context");
    (pcscd, ctx)
}

/// Stop pcscd after its grace period has powered the card down (pcscd 1.9.9 can
/// hang in its shutdown when the two meet), print what libccid complained about,
/// and return the log.
pub fn stop_after_grace(mut pcscd: Pcscd) -> String {
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(pcscd.stop(), "pcscd exits on SIGINT");
    for complaint in pcscd.libccid_complaints() {
        eprintln!("libccid: {complaint}");
    }
    pcscd.log()
}

/// [`stop_after_grace`], and check that libccid logged none of
/// [`LIBCCID_TROUBLE`] (at its default log level: its byte-level traces name
/// the frame size of every frame).
pub fn stop_and_check(pcscd: Pcscd) -> String {
    let log = stop_after_grace(pcscd);
    for bad in LIBCCID_TROUBLE {
        assert!(!log.contains(bad), "libccid logged {bad:?}:\n{log}");
    }
    log
}

/// After an insertion: connect to `name` with `protocol` and ECHO two bytes.
pub fn echo_after_insertion(ctx: &pcsc::Context, name: &str, protocol: pcsc::Protocols) {
    let reader = std::ffi::CString::new(name).unwrap();
    let card = ctx
        .connect(&reader, pcsc::ShareMode::Shared, protocol)
        .expect("connect after insertion");
    assert_eq!(
        tx(&card, &[0x80, 0xEE, 0x00, 0x00, 0x02, 0xAB, 0xCD, 0x00]).unwrap(),
        [0xAB, 0xCD, 0x90, 0x00]
    );
}
