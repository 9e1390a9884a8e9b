//! A server process a test starts (`readerkit ccid-serve`, `readerkit usbip-serve`):
//! the first line of its stdout, where these servers print their address, its
//! stdin for control lines, and the process killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A running server, killed and reaped on drop.
pub struct Served {
    /// The process.
    pub child: Child,
    /// Its stdin (control lines such as `remove` / `insert`).
    pub stdin: ChildStdin,
    /// The first line it printed, without the line end.
    pub first_line: String,
}

impl Served {
    /// Start `program` with `args` (its stderr is this process's) and wait for its
    /// first line.
    ///
    /// # Panics
    /// If it cannot be started or closes stdout before a line.
    pub fn start(program: impl AsRef<OsStr>, args: &[&str]) -> Served {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server prints its first line");
        let stdin = child.stdin.take().expect("stdin is piped");
        Served {
            child,
            stdin,
            first_line: line.trim_end_matches('\n').to_string(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
