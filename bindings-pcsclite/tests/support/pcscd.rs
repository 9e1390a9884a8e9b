//! Start the real pcscd (Debian's) on a private socket with a reader.conf naming the
//! built `libifd_readerkit.so`, and vsmartcard's `vicc`. Shared by the end-to-end
//! test, the benchmark and the demo (`#[path]`-included).
//!
//! Each piece checks only what it uses, so a `sim:` session (the demo) needs pcscd
//! and nothing from Python: [`Pcscd::start`] needs pcscd, systemd-socket-activate
//! and root; [`Vicc::start`] the vsmartcard tools and Debian's pycryptodome;
//! [`require_pyscard`] and [`require_pcsc_scan`] are for the tests that run those
//! clients. A missing tool is a failure with a message saying what to install
//! (`tools/test.sh` installs everything), never a skip.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Debian's vpcd driver.
pub const DEBIAN_VPCD: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// Where vicc's Python modules are (Debian puts them off sys.path).
pub const VICC_PYTHONPATH: &str = "/usr/lib/python3/site-packages/virtualsmartcard";
/// Debian's pycryptodome (package python3-pycryptodome), which vicc needs; Debian
/// names it `Cryptodome`, `tests/py/vicc.py` lends it to vicc as `Crypto`.
pub const CRYPTODOME: &str = "/usr/lib/python3/dist-packages/Cryptodome";

/// Fail with a clear message if `path` does not exist.
pub fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` (tools/test.sh installs everything the pcscd tests need)"
    );
}

/// Check what running pcscd takes: the daemon, socket activation on a private
/// path, and root (pcscd writes /run/pcscd/pcscd.pid).
pub fn require_pcscd() {
    require("/usr/sbin/pcscd", "pcscd");
    require("/usr/bin/systemd-socket-activate", "systemd");
    assert!(
        unsafe_free_is_root(),
        "the pcscd tests need root (pcscd writes /run/pcscd/pcscd.pid)"
    );
}

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

fn unsafe_free_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The target directory in use: `CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace().join(dir)
            }
        }
        None => workspace().join("target"),
    }
}

/// Build the release cdylib (a no-op when it is up to date) and return its path.
/// It is built in a target directory of its own (`<target>/pcscd-driver`), so this
/// never waits on the cargo lock of the test run that called it.
pub fn driver() -> PathBuf {
    if let Some(path) = std::env::var_os("READERKIT_IFD_LIB") {
        return PathBuf::from(path);
    }
    let target = target_dir().join("pcscd-driver");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "readerkit-pcsclite", "--lib"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(workspace())
        .status()
        .expect("run cargo build for the driver");
    assert!(status.success(), "building libifd_readerkit.so failed");
    let lib = target.join("release/libifd_readerkit.so");
    assert!(lib.exists(), "{} not built", lib.display());
    lib
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One reader.conf entry.
pub struct Entry<'a> {
    pub name: &'a str,
    pub device: &'a str,
    pub lib: &'a Path,
}

/// A running pcscd; stopped with SIGINT on drop.
pub struct Pcscd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    _lock: File,
}

fn flock(file: &File) {
    // SAFETY: flock on a file descriptor we own; blocks until the lock is ours.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock");
}

impl Pcscd {
    /// Start pcscd (socket-activated on a private path) with `entries`; waits until
    /// it answers. Only one runs at a time on the machine (file lock).
    pub fn start(entries: &[Entry<'_>]) -> Pcscd {
        require_pcscd();
        let lock = File::create("/tmp/readerkit-pcscd.lock").unwrap();
        flock(&lock);
        // Unique per process and per start (a kept log of a failed run is never
        // reused by the next start in the same process).
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "readerkit-pcscd-{}-{}",
            std::process::id(),
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        let mut conf = File::create(dir.join("conf/readers")).unwrap();
        for e in entries {
            writeln!(
                conf,
                "FRIENDLYNAME \"{}\"\nDEVICENAME {}\nLIBPATH {}\n",
                e.name,
                e.device,
                e.lib.display()
            )
            .unwrap();
        }
        drop(conf);
        let socket = dir.join("pcscd.comm");
        let log = File::create(dir.join("pcscd.log")).unwrap();
        let child = Command::new("/usr/bin/systemd-socket-activate")
            .arg("-l")
            .arg(&socket)
            .args(["/usr/sbin/pcscd", "-f", "-d", "-a", "-c"])
            .arg(dir.join("conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start systemd-socket-activate");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "pcscd socket never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: set_var before any client library reads it; the test harness
        // threads of this binary only use pcscd through this process-wide socket.
        unsafe { std::env::set_var("PCSCLITE_CSOCK_NAME", &socket) };
        Pcscd {
            dir,
            socket,
            child: Some(child),
            _lock: lock,
        }
    }

    /// pcscd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pcscd.log")).unwrap_or_default()
    }

    /// Stop pcscd with SIGINT (graceful: IFDHCloseChannel runs) and wait for it;
    /// `false` if it had to be killed.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        // systemd-socket-activate execs pcscd in place: the child pid is pcscd's.
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // pcscd's exit code after SIGINT is not 0 (it exits from its signal
            // thread); what matters is that it ends by itself, after tearing down.
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop pcscd with SIGINT and check that it went cleanly: it exited by itself,
    /// its log shows no error from the driver, and the driver was unloaded (so
    /// IFDHCloseChannel ran).
    pub fn stop_and_check_log(&mut self) {
        assert!(self.stop(), "pcscd exits cleanly on SIGINT");
        let log = self.log();
        for bad in [
            "readerkit: ERROR",
            "IFDHandler functions missing",
            "Open Port",
            "Initial Check Failed",
            "panic",
        ] {
            assert!(!log.contains(bad), "pcscd log has {bad:?}:\n{log}");
        }
        assert!(
            log.contains("Unloading reader driver"),
            "IFDHCloseChannel ran and the driver was unloaded"
        );
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        self.stop();
        // Keep the log of a failed run for inspection.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
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

/// Wait until reader `name` reports a card present (`true`) or absent (`false`).
pub fn wait_card(ctx: &pcsc::Context, name: &str, present: bool, timeout: Duration) -> bool {
    let reader = std::ffi::CString::new(name).unwrap();
    let deadline = Instant::now() + timeout;
    let mut state = pcsc::ReaderState::new(reader, pcsc::State::UNAWARE);
    loop {
        let mut states = [state];
        let left = deadline.saturating_duration_since(Instant::now());
        match ctx.get_status_change(Some(left.min(Duration::from_millis(500))), &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => panic!("get_status_change {name}: {e}"),
        }
        let [s] = states;
        let now = s.event_state();
        if now.contains(pcsc::State::PRESENT) == present && !now.contains(pcsc::State::UNKNOWN) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        state = s;
        state.sync_current_state();
    }
}

/// Hex of `bytes`, spaced.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}
