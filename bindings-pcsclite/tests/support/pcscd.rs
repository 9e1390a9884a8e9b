//! What the pcsc-lite binding's pcscd tests need beyond the testkit's pcscd runner
//! ([`readerkit_testkit::pcscd`]): vsmartcard's `vicc` behind the `vpcd:` backend
//! and Debian's own vpcd driver (the benchmark's reference), both
//! [`readerkit_testkit::vicc`]'s, pyscard and `pcsc_scan`.
//! Shared by the end-to-end tests and the benchmark (`#[path]`-included).
//!
//! Each piece checks only what it uses: [`Vicc::start`] needs the vsmartcard tools
//! and Debian's pycryptodome; [`require_pyscard`] and [`require_pcsc_scan`] are for
//! the tests that run those clients. A missing tool is a failure with a message
//! saying what to install (`tools/test.sh` installs everything), never a skip.

#![allow(dead_code, unreachable_pub, unused_imports)]

use readerkit_testkit::pcscd::require;
pub use readerkit_testkit::vicc::{DEBIAN_VPCD, Vicc, require_debian_vpcd, require_vicc};

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
