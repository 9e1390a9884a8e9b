//! `readerkit ccid-serve` (simulated cards behind a CCID reader on a pseudo-terminal)
//! as a child process: the terminal it serves, and its stdin commands that move
//! cards and press keys.

use std::io::Write;
use std::path::Path;

use crate::pcscd::cli;
use crate::served::{Served, StderrLines};

/// A running `readerkit ccid-serve`; killed on drop.
pub struct Serve {
    /// The pseudo-terminal it serves (`/dev/pts/N`).
    pub path: String,
    process: Served,
}

impl Serve {
    /// Start `readerkit ccid-serve ARGS` with the release build ([`cli`]) and read
    /// the terminal's path.
    pub fn start(args: &[&str]) -> Serve {
        Serve::start_program(&cli(), args)
    }

    /// Start `PROGRAM ccid-serve ARGS` (`PROGRAM` the `readerkit` binary, the CLI's
    /// own tests give theirs) and read the terminal's path, which it prints alone
    /// on its first line. Its stderr is this process's.
    pub fn start_program(program: &Path, args: &[&str]) -> Serve {
        Serve::spawn(program, args, false)
    }

    /// As [`Serve::start`], with its stderr watched line by line for
    /// [`Serve::wait_stderr`] (give it `--trace` to see its frames there).
    pub fn start_watched(args: &[&str]) -> Serve {
        Serve::spawn(&cli(), args, true)
    }

    fn spawn(program: &Path, args: &[&str], watched: bool) -> Serve {
        let mut all = vec!["ccid-serve"];
        all.extend_from_slice(args);
        let process = if watched {
            Served::start_watched(program, &all)
        } else {
            Served::start(program, &all)
        };
        let path = process.first_line.trim().to_string();
        assert!(
            path.starts_with("/dev/pts/"),
            "first line is the pty: {:?}",
            process.first_line
        );
        Serve { path, process }
    }

    /// Wait (a hang guard: [`crate::served::STDERR_WAIT`]) for the next line on its
    /// stderr that contains `needle`; only for [`Serve::start_watched`].
    pub fn wait_stderr(&self, needle: &str) -> String {
        self.process.wait_stderr(needle)
    }

    /// Take its stderr's lines ([`Served::take_stderr`]; only for
    /// [`Serve::start_watched`]): for a thread of the test that reads them while
    /// the test keeps the process, which then dies with a failed test even if
    /// that thread hangs.
    pub fn take_stderr(&mut self) -> StderrLines {
        self.process.take_stderr()
    }

    /// The process id of the `readerkit ccid-serve` process.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    fn control(&mut self, line: &str) {
        let stdin = &mut self.process.stdin;
        writeln!(stdin, "{line}").expect("write to ccid-serve");
        stdin.flush().expect("flush ccid-serve's stdin");
    }

    /// Take the card out of `slot`.
    pub fn remove(&mut self, slot: usize) {
        self.control(&format!("remove {slot}"));
    }

    /// Put a fresh card into `slot`.
    pub fn insert(&mut self, slot: usize) {
        self.control(&format!("insert {slot}"));
    }

    /// Press `keys` on the keypad of a `gempcpinpad` reader (`0`-`9`, `E` enter,
    /// `C` cancel, `B` backspace, `L` clear, `.` a pause of 100 ms).
    pub fn keys(&mut self, keys: &str) {
        self.control(&format!("keys {keys}"));
    }
}

/// The arguments of a GemPC Twin whose T=0 card asks for more time (`--slow`)
/// and works `work_ms` ms behind each request.
pub fn slow_gempctwin_t0(work_ms: &str) -> [&str; 7] {
    [
        "--reader",
        "gempctwin",
        "--card",
        "t0",
        "--slow",
        "--work-ms",
        work_ms,
    ]
}
