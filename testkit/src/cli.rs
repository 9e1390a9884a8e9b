//! Checks of a command-line tool's answers: its text, its usage errors.

use std::path::Path;
use std::process::{Command, Output};

/// Assert that `text` contains each of `needles`; a failure names the missing one
/// and shows the whole text.
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

/// Assert that a run of a tool exited with status 0 (a failure shows its stderr
/// and stdout); its stdout, as text.
pub fn assert_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}\nstdout:\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.into_owned()
}

/// Run `PROGRAM SUBCOMMAND ARGS` for each `ARGS` of `cases`: each must be a usage
/// error (exit status 2) that prints nothing on stdout.
pub fn assert_usage_errors(program: &Path, subcommand: &str, cases: &[&[&str]]) {
    for args in cases {
        let out = Command::new(program)
            .arg(subcommand)
            .args(*args)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        assert_eq!(out.status.code(), Some(2), "{subcommand} {args:?}");
        assert!(
            out.stdout.is_empty(),
            "{subcommand} {args:?}: nothing on stdout, got {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Output {
        Command::new("sh").args(["-c", script]).output().unwrap()
    }

    #[test]
    fn a_success_gives_its_stdout() {
        assert_eq!(assert_success(&sh("echo out; echo err >&2")), "out\n");
    }

    #[test]
    #[should_panic(expected = "stderr:\nwhy it failed")]
    fn another_exit_status_fails_showing_stderr() {
        assert_success(&sh("echo why it failed >&2; exit 3"));
    }
}
