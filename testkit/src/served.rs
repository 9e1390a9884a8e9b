//! A server process a test starts (`readerkit ccid-serve`, `readerkit usbip-serve`):
//! the first line of its stdout, where these servers print their address, its
//! stdin for control lines, optionally its stderr watched line by line, and the
//! process an [`OwnedChild`]: killed when dropped, also while a failed start
//! unwinds, and by the kernel with a test process that is killed.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::owned_child::OwnedChild;

/// How long [`Served::wait_stderr`] waits for its line: a hang guard.
pub const STDERR_WAIT: Duration = Duration::from_secs(10);

/// A running server, killed and reaped on drop (with its process group: an
/// [`OwnedChild`]).
pub struct Served {
    /// The process.
    pub child: OwnedChild,
    /// Its stdin (control lines such as `remove` / `insert`).
    pub stdin: ChildStdin,
    /// The first line it printed, without the line end.
    pub first_line: String,
    /// Its stderr's lines, when started by [`Served::start_watched`] (and not
    /// taken by [`Served::take_stderr`]).
    stderr: Option<StderrLines>,
}

/// A served process's stderr, line by line (read on a thread of its own): what
/// [`Served::wait_stderr`] waits on, or a thread of the test's that has it from
/// [`Served::take_stderr`] while the test keeps the process.
pub struct StderrLines(Receiver<String>);

impl StderrLines {
    /// Wait for the next line that contains `needle` (the lines before it are
    /// passed over) and return it.
    ///
    /// # Panics
    /// If no such line comes within [`STDERR_WAIT`] (or stderr closes before it).
    pub fn wait(&self, needle: &str) -> String {
        let mut lines = self.until(needle);
        lines.pop().expect("until ends with the line it waited for")
    }

    /// Wait for the next line that contains `needle` and return the lines up
    /// to it, that line last (the lines passed over by [`StderrLines::wait`]).
    ///
    /// # Panics
    /// As [`StderrLines::wait`].
    pub fn until(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + STDERR_WAIT;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line with {needle:?} on stderr within {STDERR_WAIT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stderr closed before a line with {needle:?}")
                }
            }
        }
    }

    /// The lines that have come and not been taken yet, without waiting.
    pub fn pending(&self) -> Vec<String> {
        self.0.try_iter().collect()
    }
}

impl Served {
    /// Start `program` with `args` (its stderr is this process's) and wait for its
    /// first line.
    ///
    /// # Panics
    /// If it cannot be started or closes stdout before a line.
    pub fn start(program: impl AsRef<OsStr>, args: &[&str]) -> Served {
        Served::spawn(program.as_ref(), args, false)
    }

    /// As [`Served::start`], with its stderr read line by line on a thread of
    /// its own (never left to fill the pipe) for [`Served::wait_stderr`]; each
    /// line is passed on to this process's stderr too.
    pub fn start_watched(program: impl AsRef<OsStr>, args: &[&str]) -> Served {
        Served::spawn(program.as_ref(), args, true)
    }

    fn spawn(program: &OsStr, args: &[&str], watched: bool) -> Served {
        let mut child = OwnedChild::spawn(
            Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(if watched {
                    Stdio::piped()
                } else {
                    Stdio::inherit()
                }),
        )
        .expect("the server starts");
        let stderr = child.take_stderr().map(|pipe| {
            let (lines, heard) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    eprintln!("{line}");
                    // The test may have stopped listening: keep draining.
                    let _ = lines.send(line);
                }
            });
            StderrLines(heard)
        });
        let mut line = String::new();
        let stdout = child.take_stdout().expect("stdout is piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server prints its first line");
        let stdin = child.take_stdin().expect("stdin is piped");
        Served {
            child,
            stdin,
            first_line: line.trim_end_matches('\n').to_string(),
            stderr,
        }
    }

    /// Wait for the next line on stderr that contains `needle`
    /// ([`StderrLines::wait`]).
    ///
    /// # Panics
    /// If the server was not started by [`Served::start_watched`] or its stderr
    /// was taken, or as [`StderrLines::wait`].
    pub fn wait_stderr(&self, needle: &str) -> String {
        self.stderr
            .as_ref()
            .expect("stderr watched: Served::start_watched, not taken")
            .wait(needle)
    }

    /// Take its stderr's lines, for a thread that waits on them while the test
    /// keeps this process (so that a failure's unwinding kills it even if that
    /// thread hangs).
    ///
    /// # Panics
    /// If the server was not started by [`Served::start_watched`], or its
    /// stderr was taken already.
    pub fn take_stderr(&mut self) -> StderrLines {
        self.stderr
            .take()
            .expect("stderr watched: Served::start_watched, not taken")
    }
}
