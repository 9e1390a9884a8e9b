//! `readerkit scan` and `readerkit apdu` against Debian's pcscd on a private socket,
//! with readerkit's IFD handler: `sim:t1` and `sim:t0` readers hold simulated
//! cards (taken out and put back with the handler's slot switch, vendor control
//! 3501), and a `vpcd:` reader gets its card from a scripted peer in this test
//! (a card arrives when the peer connects and leaves when it hangs up; its answers
//! exercise 61xx and 6Cxx).
//!
//! Needs root, pcscd and systemd-socket-activate (tools/test.sh installs them); a
//! missing piece is a failure naming the package, never a skip.

use std::io::{BufRead, BufReader};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcsc::{Context, Protocols, Scope, ShareMode, ctl_code};
use readerkit_testkit::cli::{assert_contains_all, assert_success, assert_usage_errors};
use readerkit_testkit::owned_child::OwnedChild;
use readerkit_testkit::pcsc::{disconnect, reader, wait_card};
use readerkit_testkit::pcscd::{Pcscd, free_port};
use readerkit_testkit::vpcd_peer::{ATR_A, Peer};
use serde_json::Value;

const T1: &str = "RK T1 00 00";
const T0: &str = "RK T0 01 00";
const VPCD: &str = "RK VPCD 02 00";
const ATR_T1: &str = "3B9B968171FE45008065524B53494D73102140EF";
const ATR_T0: &str = "3B1B958065524B53494D73102140";
/// `SCARD_CTL_CODE(3501)`: readerkit's `sim:` slot switch (0 out, 1 in, 2 swap).
const SIM_CARD: u64 = ctl_code(3501);

fn readerkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_readerkit"))
        .args(args)
        .env("HOME", scratch())
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("run readerkit")
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("readerkit-cli-pcsc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A list that names the sim:t1 card (with a `..` pattern) and nothing else.
fn list() -> PathBuf {
    let path = scratch().join("list.txt");
    std::fs::write(
        &path,
        "3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D .. .. .. .. ..\n\treaderkit simulated card, T=1\n",
    )
    .unwrap();
    path
}

fn json_lines(text: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The sim slot switch on `name` (through a DIRECT connection, which needs no card).
/// The connection leaves the card: dropped, it would reset the card it just took
/// out (testkit's `pcsc::disconnect` says why that is a trap).
fn sim_card(ctx: &Context, name: &str, action: u8) {
    let card = ctx
        .connect(&reader(name), ShareMode::Direct, Protocols::UNDEFINED)
        .expect("DIRECT connection");
    let mut buf = [0u8; 16];
    card.control(SIM_CARD, &[action], &mut buf)
        .expect("sim slot switch");
    disconnect(card);
}

/// A card for the vpcd reader on `port` (vicc's ATR), answering through
/// `answer` in a thread until the reader hangs up or the returned connection is
/// shut down.
fn peer(port: u16, answer: fn(&[u8]) -> Vec<u8>) -> (TcpStream, JoinHandle<()>) {
    let mut card = Peer::connect(port);
    let hangup = card.hangup_handle();
    let handle = std::thread::spawn(move || {
        card.serve(&ATR_A, |card, apdu| {
            card.send(&answer(apdu));
            true
        });
    });
    (hangup, handle)
}

/// 80 10 00 00 Lc data: 61 Lc, then the data on GET RESPONSE; 00 B0 .. Le: 6C 04
/// unless Le = 4, then 4 bytes; anything else 6D 00.
fn scripted(apdu: &[u8]) -> Vec<u8> {
    match apdu {
        [0x80, 0x10, 0, 0, lc, ..] => vec![0x61, *lc],
        [0x00, 0xC0, 0, 0, 3] => vec![0xAA, 0xBB, 0xCC, 0x90, 0x00],
        [0x00, 0xB0, 0, 0, 4] => vec![1, 2, 3, 4, 0x90, 0x00],
        [0x00, 0xB0, 0, 0, _] => vec![0x6C, 0x04],
        _ => vec![0x6D, 0x00],
    }
}

/// `readerkit scan` running, with its stdout read line by line; killed on drop
/// (a failed test's scan never outlives it: an [`OwnedChild`]).
struct Scan {
    child: OwnedChild,
    lines: mpsc::Receiver<String>,
}

impl Scan {
    fn start(args: &[&str]) -> Scan {
        let mut child = OwnedChild::spawn(
            Command::new(env!("CARGO_BIN_EXE_readerkit"))
                .arg("scan")
                .args(args)
                .env("HOME", scratch())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )
        .expect("start readerkit scan");
        let stdout: ChildStdout = child.take_stdout().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Scan { child, lines }
    }

    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("readerkit scan printed the next event in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    fn wait(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "readerkit scan stops after --events"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Usage errors are found before pcscd is asked anything.
#[test]
fn bad_options_are_usage_errors() {
    let program = Path::new(env!("CARGO_BIN_EXE_readerkit"));
    assert_usage_errors(
        program,
        "scan",
        &[
            &["--timeout", "nan"],
            &["--timeout", "inf"],
            &["--timeout=-1"],
            // Seconds past what a Duration holds.
            &["--timeout", "1e300"],
            &["--events", "many"],
            &["--list", "x", "--no-list"],
        ],
    );
    assert_usage_errors(
        program,
        "apdu",
        &[
            &[],
            &["00A4"],
            &["00A4000005FF"],
            &["--protocol", "t2", "00A40000"],
        ],
    );
    // An unreadable --list is scan's usage error, shown with scan's usage.
    let out = readerkit(&["scan", "--list", "/nonexistent/smartcard_list.txt"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'--list <PATH>'") && stderr.contains("Usage: readerkit scan"),
        "{stderr}"
    );
}

#[test]
fn scan_and_apdu_through_pcscd() {
    let port = free_port();
    let vpcd = format!("vpcd:{port}");
    let mut pcscd =
        Pcscd::start_readerkit(&[("RK T1", "sim:t1"), ("RK T0", "sim:t0"), ("RK VPCD", &vpcd)]);
    let ctx = Context::establish(Scope::User).expect("context");
    assert!(wait_card(&ctx, T1, true, Duration::from_secs(10)));
    assert!(wait_card(&ctx, T0, true, Duration::from_secs(10)));

    scan_lists_readers_and_cards();
    scan_follows_insertions_and_removals(&ctx, port);
    apdu_shows_each_exchange();
    apdu_follows_61xx_and_6cxx(&ctx, port);
    apdu_errors_say_what_to_do();

    pcscd.stop();
    for args in [&["scan", "--events", "0"][..], &["apdu", "00A40000"][..]] {
        let out = readerkit(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("pcscd is not running") && stderr.contains("start it"),
            "{stderr}"
        );
    }
    drop(pcscd);

    // pcscd without any reader.
    let _pcscd = Pcscd::start(&[]);
    let out = readerkit(&["apdu", "00A40000"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no smart-card reader") && stderr.contains("plug one in"),
        "{stderr}"
    );
    let out = readerkit(&["scan", "--events", "0", "--json"]);
    assert_eq!(assert_success(&out), "", "no reader, no event");
}

fn scan_lists_readers_and_cards() {
    let list = list();
    let out = readerkit(&[
        "scan",
        "--json",
        "--events",
        "0",
        "--list",
        list.to_str().unwrap(),
    ]);
    assert_success(&out);
    let events = json_lines(&out.stdout);
    assert_eq!(events.len(), 3, "{events:?}");
    let by_reader = |name: &str| events.iter().find(|e| e["reader"] == name).unwrap();
    let t1 = by_reader(T1);
    assert_eq!(
        (t1["event"].as_str(), t1["atr"].as_str()),
        (Some("reader"), Some(ATR_T1))
    );
    assert!(
        t1["state"]
            .as_array()
            .unwrap()
            .contains(&Value::from("present"))
    );
    let matches = &t1["identification"]["matches"];
    assert_eq!(
        matches[0]["descriptions"][0],
        "readerkit simulated card, T=1"
    );
    let t0 = by_reader(T0);
    assert_eq!(t0["atr"], ATR_T0);
    assert_eq!(t0["identification"]["matches"], Value::Array(vec![]));
    let v = by_reader(VPCD);
    assert_eq!(
        (v["atr"].clone(), v["identification"].clone()),
        (Value::Null, Value::Null)
    );
    assert!(
        v["state"]
            .as_array()
            .unwrap()
            .contains(&Value::from("empty"))
    );

    // The same for a person, with the identification.
    let out = readerkit(&["scan", "--events", "0", "--list", list.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_contains_all(
        &text,
        &[
            "reader: RK T1 00 00",
            "  ATR: 3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF",
            "\treaderkit simulated card, T=1",
            "reader: RK VPCD 02 00",
            "  state: empty",
        ],
    );
}

fn scan_follows_insertions_and_removals(ctx: &Context, port: u16) {
    let scan = Scan::start(&["--json", "--events", "4", "--timeout", "60", "--no-list"]);
    for _ in 0..3 {
        assert_eq!(scan.next()["event"], "reader");
    }
    sim_card(ctx, T0, 0);
    let e = scan.next();
    assert_eq!(
        (e["event"].as_str(), e["reader"].as_str()),
        (Some("card_removed"), Some(T0))
    );
    assert_eq!(e["atr"], Value::Null);
    sim_card(ctx, T0, 1);
    let e = scan.next();
    assert_eq!(
        (e["event"].as_str(), e["reader"].as_str()),
        (Some("card_inserted"), Some(T0))
    );
    assert_eq!(e["atr"], ATR_T0);
    let (hangup, card) = peer(port, scripted);
    let e = scan.next();
    assert_eq!(
        (e["event"].as_str(), e["reader"].as_str()),
        (Some("card_inserted"), Some(VPCD))
    );
    assert_eq!(e["atr"], "3B951381018073FF01000B");
    let _ = hangup.shutdown(Shutdown::Both);
    card.join().unwrap();
    let e = scan.next();
    assert_eq!(
        (e["event"].as_str(), e["reader"].as_str()),
        (Some("card_removed"), Some(VPCD))
    );
    assert!(e["elapsed_ms"].as_u64().is_some());
    assert_eq!(scan.wait(), 0, "stops after 4 events");
    assert!(wait_card(ctx, VPCD, false, Duration::from_secs(10)));
}

fn apdu_shows_each_exchange() {
    let out = readerkit(&[
        "apdu",
        "--reader",
        "T0",
        "--protocol",
        "t0",
        "00 A4 00 00 02 3F 00 00",
        "00:84:00:00:08",
        "00B0000008",
    ]);
    let text = assert_success(&out);
    assert_contains_all(
        &text,
        &[
            "Reader: RK T0 01 00 (T=0), ATR 3B 1B 95 80 65 52 4B 53 49 4D 73 10 21 40",
            "> 00 A4 00 00 02 3F 00 00",
            "< 6F ",
            "  SW 90 00: normal processing: no further qualification (",
            "> 00 84 00 00 08",
            "> 00 B0 00 00 08",
            "  SW 69 86: command not allowed (no current EF) (",
        ],
    );
    let out = readerkit(&[
        "apdu",
        "--reader",
        T1,
        "--json",
        "80EE000003AABBCC00",
        "00840000 08",
    ]);
    assert_success(&out);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            j["reader"].as_str(),
            j["protocol"].as_str(),
            j["atr"].as_str()
        ),
        (Some(T1), Some("T=1"), Some(ATR_T1))
    );
    assert_eq!(j["error"], Value::Null);
    let echo = &j["apdus"][0];
    assert_eq!(
        (echo["data"].as_str(), echo["sw"].as_str()),
        (Some("AABBCC"), Some("9000"))
    );
    assert_eq!(echo["exchanges"].as_array().unwrap().len(), 1);
    assert!(echo["time_us"].as_u64().is_some());
    assert_eq!(
        j["apdus"][1]["data"].as_str().unwrap().len(),
        16,
        "8 random bytes"
    );
}

fn apdu_follows_61xx_and_6cxx(ctx: &Context, port: u16) {
    let (hangup, card) = peer(port, scripted);
    assert!(wait_card(ctx, VPCD, true, Duration::from_secs(10)));
    let out = readerkit(&[
        "apdu",
        "--reader",
        "VPCD",
        "--json",
        "8010000003010203",
        "00B0000010",
    ]);
    assert_success(&out);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = |a: &Value| -> Vec<String> {
        a["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["why"].as_str().unwrap().to_string())
            .collect()
    };
    let get_response = &j["apdus"][0];
    assert_eq!(why(get_response), ["command", "get_response"]);
    assert_eq!(get_response["exchanges"][0]["sw"], "6103");
    assert_eq!(
        get_response["exchanges"][0]["sw_meaning"],
        "normal processing: 3 data bytes still available"
    );
    assert_eq!(
        get_response["exchanges"][1]["command"], "00C0000003",
        "GET RESPONSE, CLA 00 for the proprietary class 80"
    );
    assert_eq!(
        (
            get_response["response"].as_str(),
            get_response["sw"].as_str()
        ),
        (Some("AABBCC9000"), Some("9000"))
    );
    let resend = &j["apdus"][1];
    assert_eq!(why(resend), ["command", "resend_with_le"]);
    assert_eq!(
        resend["exchanges"][0]["sw_meaning"],
        "wrong Le field: 4 data bytes available (the exact Le)"
    );
    assert_eq!(resend["exchanges"][1]["command"], "00B0000004");
    assert_eq!(resend["data"], "01020304");
    // --raw: the card's own answers.
    let out = readerkit(&[
        "apdu",
        "--reader",
        "VPCD",
        "--raw",
        "--json",
        "8010000003010203",
    ]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            j["apdus"][0]["response"].as_str(),
            j["apdus"][0]["exchanges"].as_array().map(Vec::len)
        ),
        (Some("6103"), Some(1))
    );
    // In text: every exchange, then the whole answer.
    let out = readerkit(&["apdu", "--reader", "VPCD", "8010000003010203"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_contains_all(
        &text,
        &[
            "< 61 03",
            "> 00 C0 00 00 03   (GET RESPONSE)",
            "= AA BB CC 90 00   (2 exchanges, ",
        ],
    );
    let _ = hangup.shutdown(Shutdown::Both);
    card.join().unwrap();
    assert!(wait_card(ctx, VPCD, false, Duration::from_secs(10)));
}

fn apdu_errors_say_what_to_do() {
    let one_line = |args: &[&str], code: i32, needle: &str| {
        let out = readerkit(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        stderr.to_string()
    };
    let e = one_line(
        &["apdu", "--reader", "VPCD", "00A40000"],
        1,
        "no card in `RK VPCD 02 00`",
    );
    assert_eq!(e.lines().count(), 1);
    assert!(e.contains("insert one"));
    one_line(
        &["apdu", "--reader", "nope", "00A40000"],
        1,
        "no reader named `nope` (--reader): the readers are `RK T1 00 00`",
    );
    one_line(
        &["apdu", "--reader", "RK", "00A40000"],
        1,
        "names several readers",
    );
    one_line(&["apdu", "00A4"], 2, "invalid value '00A4' for '<APDU>...'");
    one_line(&["apdu", "00A4000005FF"], 2, "length field");
    one_line(
        &["apdu", "--protocol", "t2", "00A40000"],
        2,
        "'--protocol <t0|t1>'",
    );
    one_line(&["scan", "--timeout=-1"], 2, "'--timeout <SECONDS>'");
    one_line(&["scan", "--events", "many"], 2, "'--events <N>'");
    // A T=1-only card asked for T=0.
    let e = one_line(
        &["apdu", "--reader", T1, "--protocol", "t0", "00A40000"],
        1,
        "RK T1 00 00",
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

/// A reader's name comes from its driver (libccid's from the USB device's
/// product string), so it can hold anything: the text output shows its control
/// characters escaped (the terminal would act on them), the JSON the name itself
/// (JSON escapes them).
#[test]
fn reader_names_are_shown_with_control_characters_escaped() {
    let _pcscd = Pcscd::start_readerkit(&[("RK \x1b[2J", "sim:t1")]);
    let name = "RK \x1b[2J 00 00";
    let shown = "RK \\u{1b}[2J 00 00";
    let ctx = Context::establish(Scope::User).expect("context");
    assert!(wait_card(&ctx, name, true, Duration::from_secs(10)));
    let scan = readerkit(&["scan", "--events", "0", "--no-list"]);
    let text = assert_success(&scan);
    assert!(text.contains(shown) && !text.contains('\x1b'), "{text:?}");
    let json = readerkit(&["scan", "--events", "0", "--no-list", "--json"]);
    let events = json_lines(assert_success(&json).as_bytes());
    assert_eq!(events[0]["reader"], name, "{events:?}");
    let apdu = readerkit(&["apdu", "00A4040007A0000005275242"]);
    let text = String::from_utf8_lossy(&apdu.stdout);
    assert!(
        text.contains(&format!("Reader: {shown}")) && !text.contains('\x1b'),
        "{text:?}"
    );
    let wrong = readerkit(&["apdu", "--reader", "nothing", "00A40000"]);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains(shown) && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
}
