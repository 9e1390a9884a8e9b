//! `readerkit ccid-serve` (simulated cards behind a CCID reader on a pseudo-terminal)
//! as a child process: the terminal it serves, and its stdin commands that move
//! cards and press keys.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::pcscd::cli;

/// A running `readerkit ccid-serve`; killed on drop.
pub struct Serve {
    /// The pseudo-terminal it serves (`/dev/pts/N`).
    pub path: String,
    child: Child,
    stdin: ChildStdin,
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
        let mut child = Command::new(program)
            .arg("ccid-serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start readerkit ccid-serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the terminal's path");
        let path = first.trim().to_string();
        assert!(
            path.starts_with("/dev/pts/"),
            "first line is the pty: {first:?}"
        );
        let stdin = child.stdin.take().expect("piped stdin");
        Serve { path, child, stdin }
    }

    fn control(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to ccid-serve");
        self.stdin.flush().expect("flush ccid-serve's stdin");
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

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
