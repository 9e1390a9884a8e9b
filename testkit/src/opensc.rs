//! OpenSC's command-line tools (Debian package `opensc`) as PC/SC clients: a host
//! users run against their readers every day, whose PC/SC part 10 reader code is
//! independent of ours.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::pcscd::require;

/// Fail with a clear message unless `opensc-tool` and `opensc-explorer` are there.
pub fn require_opensc() {
    require("/usr/bin/opensc-tool", "opensc");
    require("/usr/bin/opensc-explorer", "opensc");
}

/// Run OpenSC's `tool` with `args`, `stdin` written to it; its standard output and
/// error together. It talks to the pcscd this process's client library uses
/// (`PCSCLITE_CSOCK_NAME` is inherited). Panics if it hangs for 30 s (coreutils
/// `timeout` is the guard).
pub fn run(tool: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("timeout")
        .arg("30")
        .arg(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {tool}: {e}"));
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("write the tool's input");
    let out = child.wait_with_output().expect("wait for the tool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(124), "{tool} hung: {text}");
    text
}

/// `opensc-explorer` on reader number `reader` verifies PIN reference 80 (OpenSC's
/// `CHV128`, the simulated card's PIN) with no PIN given, so on the reader's PIN
/// pad; what it printed. Panics unless OpenSC chose the PIN pad.
pub fn verify_on_pin_pad(reader: &str) -> String {
    let out = run(
        "opensc-explorer",
        &["--reader", reader],
        "verify CHV128\nquit\n",
    );
    assert!(
        out.contains("Please enter PIN on the reader's pin pad."),
        "OpenSC took the reader's PIN pad: {out}"
    );
    out
}

/// What `opensc-explorer` prints for a PIN pad entry that ended as `outcome`
/// (the simulated card's PIN, 3 tries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// The right PIN.
    Correct,
    /// A wrong PIN, with tries left.
    Incorrect(u8),
    /// The cancel key.
    Cancelled,
    /// No key in time.
    TimedOut,
}

impl Said {
    /// The line OpenSC 0.23 prints.
    pub fn line(self) -> String {
        match self {
            Said::Correct => "Code correct.".into(),
            Said::Incorrect(left) => format!("Incorrect code, {left} tries left."),
            Said::Cancelled => {
                "Unable to verify PIN code: Input operation cancelled by user".into()
            }
            Said::TimedOut => {
                "Unable to verify PIN code: Timed out while waiting for user input".into()
            }
        }
    }

    /// Whether `out` (what [`verify_on_pin_pad`] returned) says this.
    pub fn in_output(self, out: &str) -> bool {
        let line = self.line();
        out.lines().any(|l| l == line)
    }
}
