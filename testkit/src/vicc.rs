//! vsmartcard's virtual card `vicc` (Debian's `vsmartcard-vpicc`) for a vpcd
//! reader (readerkit's `vpcd:` backend, or Debian's own vpcd driver), started
//! through `testkit/py/vicc.py`, which gives it Debian's pycryptodome.
//!
//! A missing tool is a failure saying what to install (`tools/test.sh` installs
//! everything), never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::owned_child::OwnedChild;
use crate::pcscd::{require, workspace};

/// Debian's vpcd driver (package `vsmartcard-vpcd`).
pub const DEBIAN_VPCD: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// Where vicc's Python modules are (Debian puts them off sys.path).
pub const VICC_PYTHONPATH: &str = "/usr/lib/python3/site-packages/virtualsmartcard";
/// Debian's pycryptodome (package python3-pycryptodome), which vicc needs; Debian
/// names it `Cryptodome`, `vicc.py` lends it to vicc as `Crypto`.
pub const CRYPTODOME: &str = "/usr/lib/python3/dist-packages/Cryptodome";
/// The ATR of vicc's ISO 7816 card (`vicc -t iso7816`).
pub const ATR_VICC: &str = "3B 95 13 81 01 80 73 FF 01 00 0B";

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

/// Check Debian's vpcd driver.
pub fn require_debian_vpcd() {
    require(DEBIAN_VPCD, "vsmartcard-vpcd");
}

/// A running `vicc -t iso7816` connecting to a vpcd reader on `port`; killed on drop
/// (an [`OwnedChild`]: also with a test process that is killed).
pub struct Vicc {
    child: OwnedChild,
}

impl Vicc {
    /// Start vicc as a card for the vpcd reader listening on `port`.
    pub fn start(port: u16) -> Vicc {
        require_vicc();
        let wrapper = workspace().join("testkit/py/vicc.py");
        let child = OwnedChild::spawn(
            Command::new("/usr/bin/python3")
                .arg(wrapper)
                .args(["-t", "iso7816", "-P", &port.to_string()])
                .env(
                    "PYTHONPATH",
                    match pip_pycryptodome() {
                        Some(dir) => format!("{VICC_PYTHONPATH}:{}", dir.display()),
                        None => VICC_PYTHONPATH.to_owned(),
                    },
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("start vicc");
        Vicc { child }
    }

    /// Kill vicc (its reader sees the card go) and wait for it.
    pub fn stop(&mut self) {
        self.child.kill();
    }
}
