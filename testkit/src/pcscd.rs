//! Debian's pcscd on a private socket, with a reader.conf of our own, for the
//! end-to-end tests and benchmarks of any crate; and the workspace's release
//! builds they load (the IFD handler, the CLI).
//!
//! A missing tool is a failure with a message naming the Debian package
//! (`tools/test.sh` installs everything), never a skip. Only one pcscd of these
//! runs at a time on the machine (a file lock), so tests of several crates may run
//! at once.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::listening::wait_for_unix;
use crate::owned_child::OwnedChild;

/// The lock every pcscd of the workspace's tests holds while it runs.
const LOCK: &str = "/tmp/readerkit-pcscd.lock";

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
        is_root(),
        "the pcscd tests need root (pcscd writes /run/pcscd/pcscd.pid)"
    );
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ sits in the workspace")
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
/// (`<target>/<subdir>`), so it never waits on the cargo lock of the test run that
/// called it; the path of `artifact` under `release/`.
pub fn build_release(package: &str, args: &[&str], subdir: &str, artifact: &str) -> PathBuf {
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

/// readerkit's IFD handler `libifd_readerkit.so` (release, built when out of date),
/// or `READERKIT_IFD_LIB` if set.
pub fn ifd_driver() -> PathBuf {
    match std::env::var_os("READERKIT_IFD_LIB") {
        Some(path) => PathBuf::from(path),
        None => build_release(
            "readerkit-pcsclite",
            &["--lib"],
            "pcscd-driver",
            "libifd_readerkit.so",
        ),
    }
}

/// The `readerkit` command-line tool (release, built when out of date), or
/// `READERKIT_CLI` if set.
pub fn cli() -> PathBuf {
    match std::env::var_os("READERKIT_CLI") {
        Some(path) => PathBuf::from(path),
        None => build_release(
            "readerkit-cli",
            &["--bin", "readerkit"],
            "ccid-serve",
            "readerkit",
        ),
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// The first ports of runs of free TCP ports on 127.0.0.1, `widths[i]` consecutive
/// ports for run `i`, no two runs sharing a port (Debian's vpcd listens on its
/// port and the next, one per slot: a run of 2). All are held at once while
/// chosen, then let go for the peers to bind.
pub fn free_port_runs(widths: &[u16]) -> Vec<u16> {
    use std::net::TcpListener;
    'again: loop {
        let mut held = Vec::new();
        let mut firsts = Vec::new();
        for &width in widths {
            let first = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            let port = first.local_addr().expect("a bound port").port();
            held.push(first);
            for next in 1..width {
                let taken = port
                    .checked_add(next)
                    .and_then(|p| TcpListener::bind(("127.0.0.1", p)).ok());
                match taken {
                    Some(listener) => held.push(listener),
                    None => continue 'again,
                }
            }
            firsts.push(port);
        }
        return firsts;
    }
}

/// One reader.conf entry.
pub struct Entry<'a> {
    /// FRIENDLYNAME: pcscd appends the slot's " NN 00".
    pub name: &'a str,
    /// DEVICENAME, handed to the driver.
    pub device: &'a str,
    /// LIBPATH: the driver pcscd loads.
    pub lib: &'a Path,
}

/// libccid's own settings, given through a private `PCSCLITE_HP_DROPDIR` holding
/// only an `ifd-ccid.bundle/Contents/Info.plist` (libccid reads its options there;
/// pcscd finds no USB driver in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Libccid {
    /// `ifdDriverOptions` (2: ask a GemPC Twin for short APDUs).
    pub driver_options: u32,
    /// `ifdLogLevel` (1 critical, 2 info, 4 every byte, 8 periodic; Debian's is 3).
    pub log_level: u32,
}

/// How to start pcscd beyond its reader.conf.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// libccid's settings (a drop directory with its Info.plist); `None`: no drop
    /// directory, libccid reads Debian's.
    pub libccid: Option<Libccid>,
}

/// A running pcscd; stopped with SIGINT on drop (its log kept if the thread is
/// panicking).
pub struct Pcscd {
    /// Its private directory: reader.conf, log, drop directory.
    pub dir: PathBuf,
    /// The socket clients of this process reach it on.
    pub socket: PathBuf,
    /// An [`OwnedChild`]: never outlives a failed or killed test.
    child: Option<OwnedChild>,
    _lock: File,
}

fn flock(file: &File) {
    // SAFETY: flock on a file descriptor we own; blocks until the lock is ours.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock");
}

impl Pcscd {
    /// Start pcscd with `entries` and no options; see [`Pcscd::start_with`].
    pub fn start(entries: &[Entry<'_>]) -> Pcscd {
        Pcscd::start_with(entries, Options::default())
    }

    /// Start pcscd with a reader of readerkit's IFD handler ([`ifd_driver`]) for
    /// each `(FRIENDLYNAME, DEVICENAME)` of `readers`, in that order.
    pub fn start_readerkit(readers: &[(&str, &str)]) -> Pcscd {
        let lib = ifd_driver();
        let entries: Vec<Entry<'_>> = readers
            .iter()
            .map(|&(name, device)| Entry {
                name,
                device,
                lib: &lib,
            })
            .collect();
        Pcscd::start(&entries)
    }

    /// Start pcscd (socket-activated on a private path) with `entries`; returns
    /// once its socket listens (a client's connection then starts pcscd). Waits for
    /// any other test's pcscd to end first.
    ///
    /// libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process, so every pcscd of
    /// this process listens on the same path.
    pub fn start_with(entries: &[Entry<'_>], options: Options) -> Pcscd {
        require_pcscd();
        let lock = File::create(LOCK).expect("create the pcscd lock file");
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
        let socket =
            std::env::temp_dir().join(format!("readerkit-pcscd-{}.comm", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let mut command = Command::new("/usr/bin/systemd-socket-activate");
        command.arg("-l").arg(&socket);
        if let Some(Libccid {
            driver_options,
            log_level,
        }) = options.libccid
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
        // systemd-socket-activate passes pcscd no environment of its own: forward
        // the driver's log level (readerkit's pcsc-lite binding reads it).
        if std::env::var_os("READERKIT_LOG").is_some() {
            command.arg("--setenv=READERKIT_LOG");
        }
        let log = File::create(dir.join("pcscd.log")).unwrap();
        let child = OwnedChild::spawn(
            command
                .args(["/usr/sbin/pcscd", "-f", "-d", "-a", "-c"])
                .arg(dir.join("conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        )
        .expect("start systemd-socket-activate");
        // From here a failure stops the child and keeps the log (drop).
        let mut pcscd = Pcscd {
            dir,
            socket,
            child: Some(child),
            _lock: lock,
        };
        // Not `socket.exists()`: systemd-socket-activate binds (the file appears)
        // before it listens, and a client connecting in between is refused, which
        // libpcsclite reports as SCARD_E_NO_SERVICE.
        let what = format!(
            "systemd-socket-activate (log: {})",
            pcscd.dir.join("pcscd.log").display()
        );
        let child = pcscd.child.as_mut().expect("started above");
        wait_for_unix(child, &pcscd.socket, Duration::from_secs(10), &what);
        // SAFETY: set before any client library reads it; every pcscd client of this
        // process uses this one daemon (the file lock keeps other daemons away).
        unsafe { std::env::set_var("PCSCLITE_CSOCK_NAME", &pcscd.socket) };
        pcscd
    }

    /// pcscd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pcscd.log")).unwrap_or_default()
    }

    /// Stop pcscd with SIGINT (graceful: the drivers' IFDHCloseChannel runs, but
    /// not for a reader with a call stuck on it, readerkit-pcsclite's
    /// tests/pcscd_remove_stuck.rs) and wait for it; `false` if it had to be
    /// killed after 10 s.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        // systemd-socket-activate execs pcscd in place: the child pid is pcscd's.
        let _ = child.signal(libc::SIGINT);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let mut woken = false;
        loop {
            // pcscd's exit code after SIGINT is not 0 (it exits from its signal
            // thread); what matters is that it ends by itself, after tearing down.
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            // pcsc-lite 1.9.9 sometimes misses the exit flag its signal thread set
            // (the main loop only looks when its wait for clients returns): a client
            // connection wakes it, and it then closes every reader normally.
            if !woken && started.elapsed() > Duration::from_secs(3) {
                let _ = std::os::unix::net::UnixStream::connect(&self.socket);
                woken = true;
            }
            if Instant::now() > deadline {
                child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send pcscd SIGUSR1, as `pcscd -H` ("re-read the reader.conf files") does;
    /// `pcscd -H` itself refuses this pcscd (it looks for /run/pcscd/pcscd.comm,
    /// not the private socket). Debian's pcscd 1.9.9 only logs the signal
    /// (tests/pcscd_remove_stuck.rs of readerkit-pcsclite).
    pub fn hotplug(&self) {
        let child = self.child.as_ref().expect("pcscd runs");
        // systemd-socket-activate execs pcscd in place: the child pid is pcscd's.
        child.signal(libc::SIGUSR1).expect("kill(SIGUSR1)");
    }

    /// Kill pcscd with SIGKILL, as a crash ends it (no driver's IFDHCloseChannel
    /// runs, its clients' calls fail), and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Kill pcscd ([`Pcscd::kill`]) in the middle of a client's call: `call` runs
    /// on a thread of its own, `underway` returns once it is under way (say, when
    /// the peer has printed that it works on it); the call must then fail with
    /// its pcscd. The daemon is gone, its lock free for the next, on return.
    pub fn kill_during<T: Send + 'static, E: Send + 'static>(
        mut self,
        call: impl FnOnce() -> Result<T, E> + Send + 'static,
        underway: impl FnOnce(),
    ) {
        let client = std::thread::spawn(call);
        underway();
        self.kill();
        assert!(
            client.join().expect("the client's thread").is_err(),
            "the client's call ends with its pcscd"
        );
    }

    /// Stop pcscd with SIGINT and check that it went cleanly: it exited by itself,
    /// its log shows no error from readerkit's driver, and the driver was unloaded
    /// (so IFDHCloseChannel ran).
    pub fn stop_and_check_log(&mut self) {
        assert!(self.stop(), "pcscd exits cleanly on SIGINT");
        self.check_driver_log();
        assert!(
            self.log().contains("Unloading reader driver"),
            "IFDHCloseChannel ran and the driver was unloaded"
        );
    }

    /// Check that pcscd's log so far shows no error from readerkit's driver: none
    /// it logged, no driver pcscd could not load or whose reader would not start,
    /// no panic.
    pub fn check_driver_log(&self) {
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
    }

    /// The lines libccid logged at its critical level (file and line of libccid's
    /// sources) that say something failed, for the report of what it did not like.
    pub fn libccid_complaints(&self) -> Vec<String> {
        const SOURCES: [&str; 6] = [
            "ccid_serial.c",
            "commands.c",
            "ifdhandler.c",
            "ccid.c",
            "pps.c",
            "proto-t1.c",
        ];
        const WORDS: [&str; 7] = [
            "fail",
            "error",
            "wrong",
            "not supported",
            "timeout",
            "can't",
            "overrun",
        ];
        self.log()
            .lines()
            .filter(|l| SOURCES.iter().any(|f| l.contains(f)))
            .filter(|l| {
                let lower = l.to_ascii_lowercase();
                WORDS.iter().any(|w| lower.contains(w))
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
        if std::thread::panicking() {
            eprintln!("pcscd log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
