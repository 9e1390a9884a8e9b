//! Test support: `readerkit ccid-serve` on a pseudo-terminal, and Debian's pcscd
//! (socket-activated on a private path) loading Debian's `libccidtwin.so` for it.
//! Shared by the end-to-end test and the benchmark (`#[path]`-included).
//!
//! Every tool must be installed: a missing one is a failure that names the Debian
//! package, never a skip.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's serial CCID driver (package `libccid`).
pub const LIBCCIDTWIN: &str = "/usr/lib/pcsc/drivers/serial/libccidtwin.so";

/// Fail with a clear message if `path` does not exist.
pub fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}`"
    );
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

/// `cargo build --release -p PACKAGE ARGS` in a target directory of its own
/// (`<target>/<subdir>`), so it never waits on the cargo lock of the test run.
fn build(package: &str, args: &[&str], subdir: &str, artifact: &str) -> PathBuf {
    let target = target_dir().join(subdir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", package])
        .args(args)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(workspace())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building {package} failed");
    let path = target.join("release").join(artifact);
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// The `readerkit` binary (release), or `READERKIT_CLI` if set.
pub fn cli() -> PathBuf {
    match std::env::var_os("READERKIT_CLI") {
        Some(path) => PathBuf::from(path),
        None => build(
            "readerkit-cli",
            &["--bin", "readerkit"],
            "ccid-serve",
            "readerkit",
        ),
    }
}

/// readerkit's own IFD handler `libifd_readerkit.so` (release), or
/// `READERKIT_IFD_LIB` if set (the same build the pcsc-lite tests use).
pub fn ifd_driver() -> PathBuf {
    match std::env::var_os("READERKIT_IFD_LIB") {
        Some(path) => PathBuf::from(path),
        None => build(
            "readerkit-pcsclite",
            &["--lib"],
            "pcscd-driver",
            "libifd_readerkit.so",
        ),
    }
}

/// A running `readerkit ccid-serve`; killed on drop.
pub struct Serve {
    /// The pseudo-terminal it serves.
    pub path: String,
    child: Child,
    stdin: ChildStdin,
}

impl Serve {
    /// Start `readerkit ccid-serve ARGS` and read the terminal's path.
    pub fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(cli())
            .arg("ccid-serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start readerkit ccid-serve");
        let stdout = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        let path = first.trim().to_string();
        assert!(
            path.starts_with("/dev/pts/"),
            "first line is the pty: {path:?}"
        );
        let stdin = child.stdin.take().unwrap();
        Serve { path, child, stdin }
    }

    fn control(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Take the card out of `slot`.
    pub fn remove(&mut self, slot: usize) {
        self.control(&format!("remove {slot}"));
    }

    /// Press `keys` on the keypad of a `gempcpinpad` reader (`0`-`9`, `E` enter,
    /// `C` cancel, `B` backspace, `L` clear, `.` a pause of 100 ms).
    pub fn keys(&mut self, keys: &str) {
        self.control(&format!("keys {keys}"));
    }

    /// Put a fresh card into `slot`.
    pub fn insert(&mut self, slot: usize) {
        self.control(&format!("insert {slot}"));
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// libccid's own settings, given through a private `PCSCLITE_HP_DROPDIR` holding
/// only an `ifd-ccid.bundle/Contents/Info.plist` (libccid reads its options there;
/// pcscd finds no USB driver in it).
#[derive(Clone, Copy)]
pub struct Libccid {
    /// `ifdDriverOptions` (2: ask a GemPC Twin for short APDUs).
    pub driver_options: u32,
    /// `ifdLogLevel` (1 critical, 2 info, 4 every byte, 8 periodic).
    pub log_level: u32,
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

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

impl Pcscd {
    /// Start pcscd (socket-activated on a private path) with `entries`, and
    /// `libccid` settings other than Debian's (none: its own Info.plist). Only one
    /// pcscd runs at a time on the machine (the same file lock as the pcsc-lite
    /// tests).
    pub fn start(entries: &[Entry<'_>], libccid: Option<Libccid>) -> Pcscd {
        require("/usr/sbin/pcscd", "pcscd");
        require("/usr/bin/systemd-socket-activate", "systemd");
        require(LIBCCIDTWIN, "libccid");
        assert!(
            is_root(),
            "the pcscd tests need root (pcscd writes /run/pcscd/pcscd.pid)"
        );
        let lock = File::create("/tmp/readerkit-pcscd.lock").unwrap();
        flock(&lock);
        let dir = std::env::temp_dir().join(format!(
            "readerkit-ccid-pcscd-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
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
        let mut command = Command::new("/usr/bin/systemd-socket-activate");
        // libpcsclite reads PCSCLITE_CSOCK_NAME once per process: every pcscd of
        // this process listens on the same path.
        let socket =
            std::env::temp_dir().join(format!("readerkit-ccid-pcscd-{}.comm", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        command.arg("-l").arg(&socket);
        if let Some(Libccid {
            driver_options,
            log_level,
        }) = libccid
        {
            let bundle = dir.join("drivers/ifd-ccid.bundle/Contents");
            std::fs::create_dir_all(&bundle).unwrap();
            std::fs::write(
                bundle.join("Info.plist"),
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\
                     \t<key>ifdLogLevel</key>\n\t<string>{log_level:#06X}</string>\n\
                     \t<key>ifdDriverOptions</key>\n\t<string>{driver_options:#06X}</string>\n\
                     </dict>\n</plist>\n"
                ),
            )
            .unwrap();
            command.arg(format!(
                "--setenv=PCSCLITE_HP_DROPDIR={}",
                dir.join("drivers").display()
            ));
        }
        let log = File::create(dir.join("pcscd.log")).unwrap();
        let child = command
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
        // SAFETY: set before any client library reads it; every pcscd client of this
        // test binary uses this one daemon (the file lock keeps others away).
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

    /// Stop pcscd with SIGINT and wait for it; `false` if it had to be killed.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        // SAFETY: kill(2) on our own child's pid (systemd-socket-activate execs
        // pcscd in place).
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let mut woken = false;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            // pcsc-lite 1.9.9 sometimes misses the exit flag its signal thread set
            // until a client wakes its main loop (see testkit's pcscd runner).
            if !woken && started.elapsed() > Duration::from_secs(3) {
                let _ = std::os::unix::net::UnixStream::connect(&self.socket);
                woken = true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines libccid logged at its critical level (file and line of libccid's
    /// sources), for the report of what it did not like.
    pub fn libccid_complaints(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| {
                [
                    "ccid_serial.c",
                    "commands.c",
                    "ifdhandler.c",
                    "ccid.c",
                    "pps.c",
                    "proto-t1.c",
                ]
                .iter()
                .any(|f| l.contains(f))
            })
            .filter(|l| {
                let lower = l.to_ascii_lowercase();
                [
                    "fail",
                    "error",
                    "wrong",
                    "not supported",
                    "timeout",
                    "can't",
                    "overrun",
                ]
                .iter()
                .any(|w| lower.contains(w))
            })
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.socket);
        // Keep the log of a failed run for inspection.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("pcscd log kept in {}", self.dir.display());
        }
    }
}

/// Wait until reader `name` reports a card present (`true`) or absent (`false`),
/// through SCardGetStatusChange.
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

/// A transmit with the largest buffer.
pub fn tx(card: &pcsc::Card, apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    card.transmit(apdu, &mut buf).map(|r| r.to_vec())
}

/// The simulated card's ECHO command (`80 EE 00 00`) for `data`, short form.
pub fn echo(data: &[u8]) -> Vec<u8> {
    let mut c = vec![0x80, 0xEE, 0x00, 0x00, data.len() as u8];
    c.extend_from_slice(data);
    c.push(0);
    c
}
