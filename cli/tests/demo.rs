//! `readerkit demo` runs the whole stack on the simulated card for every profile and
//! reports each step; its exit status says whether every answer was the expected one.

use std::process::Command;

fn demo(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_readerkit"))
        .arg("demo")
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn every_profile_completes_the_session() {
    for profile in ["t0", "t1", "t1-crc", "t0-t1"] {
        let (ok, text) = demo(&["--profile", profile]);
        assert!(ok, "{profile}:\n{text}");
        assert!(
            text.contains("demo: every step answered as expected"),
            "{profile}"
        );
        assert!(
            text.contains("tracking request completed: Some(Success)"),
            "{profile}"
        );
        assert!(
            text.contains("< Some(NoMedia)"),
            "{profile}: removal gives NoMedia"
        );
        assert!(
            text.contains("(1024 bytes)  SW 9000"),
            "{profile}: extended ECHO"
        );
    }
}

#[test]
fn t1_session_shows_pps_and_ifs_on_the_wire() {
    let (ok, text) = demo(&[]);
    assert!(ok);
    assert!(text.contains("-> FF 11 95 7B"), "PPS request on the wire");
    assert!(text.contains("line now F=512 D=16 at 3580 kHz"));
    assert!(text.contains("framing for T1, extra guard time N = 0 etu"));
    assert!(
        text.contains("-> 00 C1 01 FE 3E"),
        "S(IFS request) announcing IFSD 254"
    );
    let (ok, quiet) = demo(&["--no-wire"]);
    assert!(ok);
    assert!(!quiet.contains("->"), "--no-wire hides the bytes");
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["--profile", "t9"][..],
        &["--bogus"][..],
        &["--profile"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_readerkit"))
            .arg("demo")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
