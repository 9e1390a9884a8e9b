//! Checks of a command-line tool's answers: its text, its usage errors.

use std::path::Path;
use std::process::Command;

/// Assert that `text` contains each of `needles`; a failure names the missing one
/// and shows the whole text.
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
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
