//! `readerkit demo` runs the whole stack on the simulated card for every profile and
//! reports each step; its exit status says whether every answer was the expected one.

use std::path::Path;
use std::process::Command;

use readerkit_testkit::cli::assert_usage_errors;

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
            text.contains("tracking request completed: success (NTSTATUS 0x00000000)"),
            "{profile}"
        );
        assert!(
            text.contains("< no card (NTSTATUS 0xC0000178)"),
            "{profile}: removal gives NoMedia"
        );
        assert!(text.contains("< 1 (SCARD_ABSENT)"), "{profile}: GET_STATE");
        let protocol = if profile == "t0" { "T=0" } else { "T=1" };
        assert!(
            text.contains(&format!("< {protocol}  (state Specific)")),
            "{profile}: SET_PROTOCOL's answer\n{text}"
        );
        // What a user reads is never Rust's debug format.
        for debug in ["Some(", "None", "[0"] {
            assert!(!text.contains(debug), "{profile}: {debug} in\n{text}");
        }
        assert!(
            text.contains("(1024 bytes)  SW 9000"),
            "{profile}: extended ECHO"
        );
        // Long byte strings are cut as the core's trace lines cut them
        // (`readerkit::trace::BoundedHex`): 32 bytes, then the count.
        let echoed = text
            .lines()
            .find(|l| l.ends_with("(1024 bytes)  SW 9000"))
            .unwrap_or_default();
        let shown = echoed.split(" ... ").next().unwrap_or_default();
        assert_eq!(
            shown.trim_start_matches("  < ").split(' ').count(),
            readerkit::trace::MAX_SHOWN_BYTES,
            "{profile}: {echoed}"
        );
    }
}

#[test]
fn t1_session_shows_pps_and_ifs_on_the_wire() {
    let (ok, text) = demo(&[]);
    assert!(ok);
    assert!(
        text.contains(
            "framing before a protocol (PPS), extra guard time N = 0 etu\n      -> FF 11 95 7B"
        ),
        "PPS request on the wire, after TC1's guard time:\n{text}"
    );
    assert!(text.contains("line now F=512 D=16 at 3580 kHz"));
    assert!(text.contains("framing for T=1, extra guard time N = 0 etu"));
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
    assert_usage_errors(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        "demo",
        &[&["--profile", "t9"], &["--bogus"], &["--profile"]],
    );
}

#[test]
fn trace_decodes_every_exchange() {
    let (ok, t1) = demo(&["--trace", "--no-wire"]);
    assert!(ok, "{t1}");
    for line in [
        "trace: <- ATR (cold reset) 3B 9B 96 81 71 FE 45",
        "trace: guard time before a protocol, N=0",
        "trace: -> PPS request FF 11 95 7B : PPS T=1, PPS1 95 (F=512, D=16)",
        "trace: <- PPS answer FF 11 95 7B : PPS T=1, PPS1 95 (F=512, D=16)",
        "trace: protocol T=1 established, N=0",
        "trace: -> S(IFS request, 254)",
        "trace: -> I(N(S)=0, M=1) 254 bytes",
        "trace: <- R(N(R)=1)",
        "trace: <- I(N(S)=0, M=0) 2 bytes",
    ] {
        assert!(t1.contains(line), "missing {line:?} in\n{t1}");
    }
    assert!(t1.contains("  = success in "), "request times");
    let (ok, t0) = demo(&["--trace", "--no-wire", "--profile", "t0"]);
    assert!(ok, "{t0}");
    for line in [
        "trace: -> T=0 header CLA 00 INS A4 P1 00 P2 0C P3 02",
        "trace: <- T=0 procedure ACK A4 (all data)",
        "trace: -> T=0 data 2 bytes\n",
        "trace: <- T=0 status 61 0D",
        "trace: <- T=0 data 13 bytes: 6F 0B 82 01",
    ] {
        assert!(t0.contains(line), "missing {line:?} in\n{t0}");
    }
    let (ok, plain) = demo(&[]);
    assert!(ok);
    assert!(
        !plain.contains("trace:"),
        "no decoded lines without --trace"
    );
}
