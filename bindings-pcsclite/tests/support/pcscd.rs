//! What the pcsc-lite binding's pcscd tests need beyond the testkit's pcscd runner
//! ([`readerkit_testkit::pcscd`]): vsmartcard's `vicc` behind the `vpcd:` backend,
//! Debian's own vpcd driver (the benchmark's reference), pyscard and `pcsc_scan`.
//! Shared by the end-to-end tests and the benchmark (`#[path]`-included).
//!
//! Each piece checks only what it uses: [`Vicc::start`] needs the vsmartcard tools
//! and Debian's pycryptodome; [`require_pyscard`] and [`require_pcsc_scan`] are for
//! the tests that run those clients. A missing tool is a failure with a message
//! saying what to install (`tools/test.sh` installs everything), never a skip.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use readerkit_testkit::pcscd::{require, workspace};

/// Debian's vpcd driver.
pub const DEBIAN_VPCD: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// Where vicc's Python modules are (Debian puts them off sys.path).
pub const VICC_PYTHONPATH: &str = "/usr/lib/python3/site-packages/virtualsmartcard";
/// Debian's pycryptodome (package python3-pycryptodome), which vicc needs; Debian
/// names it `Cryptodome`, `tests/py/vicc.py` lends it to vicc as `Crypto`.
pub const CRYPTODOME: &str = "/usr/lib/python3/dist-packages/Cryptodome";

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

/// Check what [`Vicc::start`] takes: vsmartcard's vicc, its Python modules and
/// pycryptodome.
pub fn require_vicc() {
    require("/usr/bin/python3", "python3");
    require("/usr/bin/vicc", "vsmartcard-vpicc");
    require(VICC_PYTHONPATH, "python3-virtualsmartcard");
    if pip_pycryptodome().is_none() {
        require(CRYPTODOME, "python3-pycryptodome");
    }
}

/// A pycryptodome installed with `pip install --target DIR` (it provides `Crypto`
/// itself), used only when Debian's python3-pycryptodome is not installed: DIR is
/// `$READERKIT_PYCRYPTODOME`, else `target/pycryptodome` where earlier versions of
/// `tools/test.sh` put it.
fn pip_pycryptodome() -> Option<PathBuf> {
    if Path::new(CRYPTODOME).exists() {
        return None;
    }
    let dir = std::env::var_os("READERKIT_PYCRYPTODOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/pycryptodome"));
    dir.join("Crypto").exists().then_some(dir)
}

/// Check Debian's vpcd driver (the benchmark's reference).
pub fn require_debian_vpcd() {
    require(DEBIAN_VPCD, "vsmartcard-vpcd");
}

/// A running `vicc -t iso7816` connecting to a vpcd reader on `port`; killed on drop.
pub struct Vicc {
    child: Child,
}

impl Vicc {
    /// Start vicc (through `tests/py/vicc.py`, which gives it Debian's
    /// pycryptodome) as a card for the vpcd reader listening on `port`.
    pub fn start(port: u16) -> Vicc {
        require_vicc();
        let wrapper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/vicc.py");
        let child = Command::new("/usr/bin/python3")
            .args([wrapper, "-t", "iso7816", "-P", &port.to_string()])
            .env(
                "PYTHONPATH",
                match pip_pycryptodome() {
                    Some(dir) => format!("{VICC_PYTHONPATH}:{}", dir.display()),
                    None => VICC_PYTHONPATH.to_owned(),
                },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start vicc");
        Vicc { child }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vicc {
    fn drop(&mut self) {
        self.stop();
    }
}
