//! What the pcsc-lite binding's pcscd tests need beyond the testkit's pcscd runner
//! and vicc ([`readerkit_testkit::pcscd`], [`readerkit_testkit::vicc`]): the checks
//! for the pyscard and `pcsc_scan` clients, for the tests that run them
//! (`#[path]`-included).
//!
//! A missing tool is a failure with a message saying what to install
//! (`tools/test.sh` installs everything), never a skip.

#![allow(dead_code, unreachable_pub)]

use readerkit_testkit::pcscd::require;

/// Check what the pyscard client scripts under `tests/py/` take.
pub fn require_pyscard() {
    require("/usr/bin/python3", "python3");
    require(
        "/usr/lib/python3/dist-packages/smartcard",
        "python3-pyscard",
    );
}

/// Check that `pcsc_scan` is there.
pub fn require_pcsc_scan() {
    require("/usr/bin/pcsc_scan", "pcsc-tools");
}
