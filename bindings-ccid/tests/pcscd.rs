//! End to end through the real host stack: Debian's pcscd loads Debian's
//! `libccidtwin.so`, which talks the GemPC Twin serial framing over a
//! pseudo-terminal to `readerkit ccid-serve` (the `readerkit-ccid` binding over the
//! core and the simulated cards); the `pcsc` crate is the client.
//!
//! Each scenario starts its own pcscd (a file lock keeps them one at a time).

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};
use readerkit_testkit::apdu::{SELECT_MF, get_challenge};
use readerkit_testkit::ccid_serve::slow_gempctwin_t0;
use readerkit_testkit::frozen::FrozenThread;
use readerkit_testkit::pcsc::{reader, reader_names};
use support::{
    Libccid, PROPERTY_ENTRY_VALIDATION, PROPERTY_MAX_PIN_SIZE, PROPERTY_MIN_PIN_SIZE, Pcscd, Serve,
    echo, echo_after_insertion, hex, pcscd_for, property, stop_after_grace, stop_and_check,
    tlv_properties, tx, wait_card,
};

const ATR_T1: &str = "3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF";
const ATR_T0: &str = "3B 1B 95 80 65 52 4B 53 49 4D 73 10 21 40";

/// SELECT, GET CHALLENGE, ECHO of every short length, an unknown instruction.
fn session(card: &pcsc::Card) {
    assert_eq!(tx(card, &SELECT_MF).unwrap(), [0x90, 0x00], "SELECT MF");
    let a = tx(card, &get_challenge(8)).unwrap();
    let b = tx(card, &get_challenge(8)).unwrap();
    assert_eq!((a.len(), &a[8..]), (10, &[0x90, 0x00][..]), "GET CHALLENGE");
    assert_ne!(a, b, "two challenges differ");
    for n in 1..=255usize {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
        let r = tx(card, &echo(&data)).unwrap();
        assert_eq!(r[..n], data[..], "ECHO {n}");
        assert_eq!(r[n..], [0x90, 0x00], "ECHO {n}");
    }
    assert_eq!(tx(card, &[0x00, 0x12, 0x00, 0x00]).unwrap(), [0x6D, 0x00]);
}

fn atr_of(card: &pcsc::Card) -> String {
    let mut names = [0u8; 256];
    let mut atr = [0u8; 64];
    hex(card.status2(&mut names, &mut atr).unwrap().atr())
}

/// The part 10 properties libccid reports of a GemPC Twin without a keypad:
/// its GET_FIRMWARE_FEATURES answer was taken (the three PIN properties are
/// there) and says there is no PIN entry (all 0).
fn part10(card: &pcsc::Card) -> Vec<(u8, Vec<u8>)> {
    let properties = tlv_properties(card);
    for tag in [
        PROPERTY_ENTRY_VALIDATION,
        PROPERTY_MIN_PIN_SIZE,
        PROPERTY_MAX_PIN_SIZE,
    ] {
        assert_eq!(
            property(&properties, tag),
            Some(&[0u8][..]),
            "property {tag} in {properties:02X?}"
        );
    }
    properties
}

/// libccid told to use short APDUs with a GemPC Twin (its driver option 2).
const SHORT_APDU: Libccid = Libccid {
    driver_options: 2,
    log_level: 3,
};

/// One reader, one card of `card_kind` in `protocol`, at the TPDU level
/// libccidtwin uses by default (or short APDU with driver option 2).
fn one_slot_scenario(card_kind: &str, atr: &str, protocol: Protocols, libccid: Option<Libccid>) {
    let mut serve = Serve::start(&["--reader", "gempctwin", "--card", card_kind]);
    let device = format!("{}:GemPCTwin", serve.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK Twin", libccid);
    let names = reader_names(&ctx);
    assert_eq!(names, ["RK Twin 00 00"], "pcscd log:\n{}", pcscd.log());
    let name = "RK Twin 00 00";
    assert!(wait_card(&ctx, name, true, Duration::from_secs(5)));

    let card = ctx
        .connect(&reader(name), ShareMode::Shared, protocol)
        .expect("connect");
    assert_eq!(atr_of(&card), atr);
    session(&card);
    let properties = part10(&card);
    eprintln!("part 10 properties libccid reports: {properties:02X?}");

    // Reset: reconnect with a card reset, the card is usable again.
    let mut card = card;
    card.reconnect(ShareMode::Shared, protocol, Disposition::ResetCard)
        .expect("reconnect with reset");
    assert_eq!(tx(&card, &SELECT_MF).unwrap(), [0x90, 0x00]);
    card.disconnect(Disposition::UnpowerCard)
        .map_err(|(_, e)| e)
        .unwrap();

    // Removal and insertion, seen by SCardGetStatusChange.
    serve.remove(0);
    assert!(
        wait_card(&ctx, name, false, Duration::from_secs(5)),
        "removal seen"
    );
    assert_eq!(
        ctx.connect(&reader(name), ShareMode::Shared, protocol)
            .err(),
        Some(pcsc::Error::NoSmartcard)
    );
    serve.insert(0);
    let log = echo_then_stop_clean(ctx, pcscd, name, protocol);
    if libccid.is_some() {
        assert!(
            log.contains("DriverOptions: 0x0002"),
            "libccid took the driver option"
        );
    }
}

#[test]
fn gempctwin_tpdu_t1() {
    one_slot_scenario("t1", ATR_T1, Protocols::T1, None);
}

#[test]
fn gempctwin_tpdu_t0() {
    one_slot_scenario("t0", ATR_T0, Protocols::T0, None);
}

#[test]
fn gempctwin_short_apdu_t1() {
    one_slot_scenario("t1", ATR_T1, Protocols::T1, Some(SHORT_APDU));
}

#[test]
fn gempctwin_short_apdu_t0() {
    one_slot_scenario("t0", ATR_T0, Protocols::T0, Some(SHORT_APDU));
}

/// The flake under CPU load, with the real host: libccid opens the reader
/// (firmware version, GET_FIRMWARE_FEATURES, slot status, each read with a
/// short time-out) while ccid-serve's command worker is held still (ptrace: a
/// thread the scheduler does not run). None of it needs a card, so the thread
/// reading the terminal answers it: pcscd lists the reader, its slot empty,
/// and libccid complains of nothing. Before, every message waited for the
/// worker: libccid's open failed and pcscd listed no reader. Once the worker
/// runs, a card put in is seen and used.
#[test]
fn libccid_opens_the_reader_while_the_worker_is_stalled() {
    let mut serve = Serve::start(&["--reader", "gempctwin", "--card", "empty"]);
    let worker = FrozenThread::freeze_waiting(serve.pid(), "ccid-worker");
    let device = format!("{}:GemPCTwin", serve.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK Stalled", None);
    let name = "RK Stalled 00 00";
    assert_eq!(reader_names(&ctx), [name], "pcscd log:\n{}", pcscd.log());
    assert!(
        wait_card(&ctx, name, false, Duration::from_secs(5)),
        "an empty slot, pcscd log:\n{}",
        pcscd.log()
    );
    drop(worker);
    serve.insert(0);
    echo_then_stop_clean(ctx, pcscd, name, Protocols::T1);
}

/// ECHO once pcscd sees the card in `name` ([`echo_after_insertion`], 5 s as a
/// hang guard), then stop pcscd: libccid complained of nothing
/// ([`stop_and_check`]) and read our firmware string on open. Returns pcscd's log.
fn echo_then_stop_clean(ctx: Context, pcscd: Pcscd, name: &str, protocol: Protocols) -> String {
    echo_after_insertion(&ctx, name, protocol, Duration::from_secs(5));
    drop(ctx);
    let log = stop_and_check(pcscd);
    assert!(
        log.contains("Firmware: readerkit-ccid"),
        "libccid read our firmware string:\n{log}"
    );
    log
}

/// The dual-slot SEC1210 profile: a T=0 card and a T=1 card used at once from
/// two threads.
#[test]
fn sec1210_two_cards_at_once() {
    let _serve_guard;
    let serve = Serve::start(&["--reader", "sec1210", "--card", "t0,t1"]);
    let device = format!("{}:SEC1210", serve.path);
    _serve_guard = serve;
    let (pcscd, ctx) = pcscd_for(&device, "RK SEC", None);
    let names = reader_names(&ctx);
    assert_eq!(
        names,
        ["RK SEC 00 00", "RK SEC 00 01"],
        "pcscd log:\n{}",
        pcscd.log()
    );
    let threads: Vec<_> = [
        ("RK SEC 00 00", Protocols::T0, ATR_T0),
        ("RK SEC 00 01", Protocols::T1, ATR_T1),
    ]
    .into_iter()
    .map(|(name, protocol, atr)| {
        std::thread::spawn(move || {
            let ctx = Context::establish(Scope::User).expect("establish context");
            assert!(wait_card(&ctx, name, true, Duration::from_secs(5)));
            let card = ctx
                .connect(&reader(name), ShareMode::Shared, protocol)
                .expect("connect");
            assert_eq!(atr_of(&card), atr, "{name}");
            for _ in 0..3 {
                session(&card);
            }
        })
    })
    .collect();
    for t in threads {
        t.join().expect("slot session");
    }
    drop(ctx);
    stop_and_check(pcscd);
}

/// Cards that ask for more time before every answer (T=1 S(WTX), T=0 NULL bytes):
/// the reader passes each request on to libccid while the command runs (the GemPC
/// Twin's time-request byte, the SEC1210's time-extension DataBlock), and libccid
/// logs it at its byte-level log level. Returns pcscd's log.
fn slow_card_scenario(
    reader_kind: &str,
    card_kind: &str,
    protocol: Protocols,
    libccid: Libccid,
    seen: &str,
) -> String {
    let serve = Serve::start(&["--reader", reader_kind, "--card", card_kind, "--slow"]);
    let suffix = if reader_kind == "sec1210" {
        "SEC1210"
    } else {
        "GemPCTwin"
    };
    let device = format!("{}:{suffix}", serve.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK Slow", Some(libccid));
    let name = "RK Slow 00 00";
    assert!(
        wait_card(&ctx, name, true, Duration::from_secs(5)),
        "pcscd log:\n{}",
        pcscd.log()
    );
    let card = ctx
        .connect(&reader(name), ShareMode::Shared, protocol)
        .expect("connect");
    for n in [1usize, 100, 255] {
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let r = tx(&card, &echo(&data)).unwrap();
        assert_eq!(r[..n], data[..], "ECHO {n}");
        assert_eq!(r[n..], [0x90, 0x00]);
    }
    drop(card);
    drop(ctx);
    let log = stop_after_grace(pcscd);
    assert!(log.contains(seen), "libccid logged {seen:?}:\n{log}");
    log
}

#[test]
fn gempctwin_time_requests_for_a_slow_t0_card() {
    let log_bytes = Libccid {
        driver_options: 0,
        log_level: 7,
    };
    slow_card_scenario(
        "gempctwin",
        "t0",
        Protocols::T0,
        log_bytes,
        "time request: 0x81",
    );
}

#[test]
fn gempctwin_time_requests_for_t1_wtx_at_short_apdu_level() {
    let log_bytes = Libccid {
        driver_options: 2,
        log_level: 7,
    };
    slow_card_scenario(
        "gempctwin",
        "t1",
        Protocols::T1,
        log_bytes,
        "time request: 0x82",
    );
}

/// At the TPDU level a T=1 card's S(WTX request) goes to libccid as the card's
/// answer, and libccid's own T=1 engine grants it; the reader sends no time
/// request byte of its own (`MoreTime::time_extension`).
#[test]
fn gempctwin_relays_t1_wtx_to_libccids_t1_engine_at_tpdu_level() {
    let log_bytes = Libccid {
        driver_options: 0,
        log_level: 7,
    };
    let log = slow_card_scenario(
        "gempctwin",
        "t1",
        Protocols::T1,
        log_bytes,
        "CT sent S-block with wtx=2",
    );
    assert!(
        !log.contains("time request"),
        "no time request at the TPDU level:\n{log}"
    );
}

#[test]
fn sec1210_time_extension_for_a_slow_t0_card() {
    let log_bytes = Libccid {
        driver_options: 0,
        log_level: 7,
    };
    slow_card_scenario(
        "sec1210",
        "t0",
        Protocols::T0,
        log_bytes,
        "Time extension requested: 0x01",
    );
}

/// pcscd killed (a crash, or a restart that does not wait) while the card works
/// on a command, then started again on the same reader: the new pcscd's libccid
/// opens the reader cleanly (firmware version and features read, no complaint)
/// and the card answers its client. Before, the reader went on with the dead
/// host's command and then sent its answer to the new host: libccid's open got
/// CMD_SLOT_BUSY for everything (no firmware features, an empty ATR, so
/// `SCardConnect` failed with SCARD_E_PROTO_MISMATCH), and once the stale answer
/// came every read was one frame behind ("Wrong value for frame size"), so the
/// reader stayed unusable until ccid-serve itself was restarted.
#[test]
fn pcscd_killed_mid_command_then_restarted_finds_the_reader_working() {
    // A T=0 card that asks for more time and then works 1.5 s behind each
    // request: the first pcscd dies inside that time.
    let serve = Serve::start_watched(&[&slow_gempctwin_t0("1500")[..], &["--trace"]].concat());
    let device = format!("{}:GemPCTwin", serve.path);
    let name = "RK Restart 00 00";
    let (pcscd, ctx) = pcscd_for(&device, "RK Restart", None);
    assert!(
        wait_card(&ctx, name, true, Duration::from_secs(5)),
        "pcscd log:\n{}",
        pcscd.log()
    );
    let card = ctx
        .connect(&reader(name), ShareMode::Shared, Protocols::T0)
        .expect("connect");
    pcscd.kill_during(
        move || tx(&card, &get_challenge(8)),
        || {
            serve.wait_stderr("(more time)");
        },
    );
    drop(ctx);

    let (pcscd, ctx) = pcscd_for(&device, "RK Restart", None);
    echo_then_stop_clean(ctx, pcscd, name, Protocols::T0);
}

/// A T=1 card at libccid's TPDU level that asks for more time (S(WTX), BWT x 2)
/// before each answer and then works 3 s: longer than libccid waits for a block
/// on its own (about 2.5 s), within the time its WTX grant gives. The S(WTX)
/// reaches libccid at once, libccid grants it, and the card's answer comes.
/// Before, ccid-serve let the card work before its S(WTX) went out: libccid
/// heard nothing for 3 s and gave up ("T=1 state machine is DEAD", the
/// transmit SCARD_E_NOT_TRANSACTED).
#[test]
fn gempctwin_tpdu_t1_card_works_after_its_wtx_is_granted() {
    let serve = Serve::start(&[
        "--reader",
        "gempctwin",
        "--card",
        "t1",
        "--slow",
        "--work-ms",
        "3000",
    ]);
    let device = format!("{}:GemPCTwin", serve.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK Wtx", None);
    echo_then_stop_clean(ctx, pcscd, "RK Wtx 00 00", Protocols::T1);
}
