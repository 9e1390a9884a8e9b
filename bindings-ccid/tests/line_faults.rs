//! Damaged frames on the line between the real host and the reader: Debian's
//! pcscd loads Debian's `libccidtwin.so`, which opens the terminal of testkit's
//! go-between ([`LineTap`]); the tap relays to `readerkit ccid-serve`'s terminal
//! and damages one reader frame; the `pcsc` crate is the client.
//!
//! libccid 1.5.2 never NAKs (its `ReadSerial` logs `Wrong LRC: 0x..` at its
//! critical level and returns the frame as read), so a reader's answer to a NAK
//! cannot be seen from libccid itself: in the first test the tap stands in for
//! a host that checks the LRC, keeps the damaged answer from libccid and NAKs
//! after the card-movement notification that follows it. The other two show
//! what libccid does instead with a damaged frame.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use pcsc::{Context, Protocols};
use readerkit_testkit::line_tap::{Action, Byte, Fault, LineTap, Pick, Relayed, Unit};
use readerkit_testkit::pcsc::{connect, disconnect, reader_state, wait_removal};
use support::{
    Libccid, Pcscd, Serve, echo, echo_after_insertion, pcscd_for, stop_after_grace, tx, wait_card,
};

/// The reader pcscd names after the reader.conf entry "RK Tap".
const NAME: &str = "RK Tap 00 00";

/// libccid at the short APDU level (driver option 2: one XfrBlock per APDU, its
/// DataBlock the APDU's answer) with its byte-level log (4) on top of critical
/// and info (its `ReadSerial` logs "slot change" and "Card removed" at that level).
const SHORT_APDU_TRACED: Libccid = Libccid {
    driver_options: 2,
    log_level: 7,
};

/// A GemPC Twin with a T=1 card behind the tap, pcscd on the tap's terminal, the
/// card seen present.
fn start() -> (Serve, LineTap, Pcscd, Context) {
    let serve = Serve::start(&["--reader", "gempctwin", "--card", "t1"]);
    let tap = LineTap::start(&serve.path);
    let device = format!("{}:GemPCTwin", tap.path);
    let (pcscd, ctx) = pcscd_for(&device, "RK Tap", Some(SHORT_APDU_TRACED));
    assert!(
        wait_card(&ctx, NAME, true, Duration::from_secs(5)),
        "card seen through the tap; pcscd log:\n{}",
        pcscd.log()
    );
    (serve, tap, pcscd, ctx)
}

/// The last few units of the tap's `log` (for a failure's message).
fn last_units(log: &[Relayed]) -> &[Relayed] {
    &log[log.len().saturating_sub(6)..]
}

/// libccid never sent a NAK through the tap.
fn no_host_nak(log: &[Relayed]) {
    assert!(
        !log.contains(&Relayed::FromHost(Unit::Nak)),
        "libccid sent a NAK: {log:02X?}"
    );
}

/// Stop pcscd ([`stop_after_grace`]) and check that libccid logged the bad LRC
/// the tap gave it ("Wrong LRC") and sent no NAK for it.
fn stop_after_a_bad_lrc(ctx: Context, pcscd: Pcscd, tap: &LineTap) {
    drop(ctx);
    let pcscd_log = stop_after_grace(pcscd);
    assert!(
        pcscd_log.contains("Wrong LRC"),
        "libccid saw the bad LRC:\n{pcscd_log}"
    );
    no_host_nak(&tap.log());
}

/// The first XfrBlock's answer is damaged on its way to libccid (the tap keeps
/// it back), the card is removed, the reader's `50 02` goes to libccid, and
/// then a NAK to the reader: the reader must send the answer again, not the
/// notification and not nothing, and libccid must take it as the ECHO's answer
/// (it skips the notification inside its read, "slot change", "Card removed").
/// Then the removal reaches pcscd once, and a new card works.
#[test]
fn a_nak_after_a_removal_notification_gets_the_answer_before_it() {
    let (mut serve, tap, pcscd, ctx) = start();
    // Read before the client's transmit holds the context.
    let events = reader_state(&ctx, NAME).event_count();
    let card = connect(&ctx, NAME, Protocols::T1);
    let data = [0x4E, 0x41, 0x4B];
    tap.arm(Fault {
        pick: Pick::Nth {
            message_type: 0x80,
            n: 1,
        },
        action: Action::NakAfterMovement,
    });
    let client = std::thread::spawn(move || {
        let answer = tx(&card, &echo(&data));
        (answer, card)
    });
    let withheld = tap
        .wait_withheld(Duration::from_secs(5))
        .expect("the ECHO's answer reached the tap");
    serve.remove(0);
    let (answer, card) = client.join().expect("the client's thread");
    assert_eq!(
        answer,
        Ok([&data[..], &[0x90, 0x00]].concat()),
        "the ECHO's answer, sent again after the NAK; the tap's last units: {:02X?}",
        last_units(&tap.log())
    );
    // Left as it is: a reset here would fail on the absent card, and pcscd would
    // mark the reader empty before its own poll saw the removal (pcscd's doing:
    // tests/quick_reinsert.rs, bindings-ccid/README "Known host behaviour").
    disconnect(card);

    let log = tap.log();
    no_host_nak(&log);
    let at = log
        .iter()
        .position(|r| *r == Relayed::TapNak)
        .expect("the tap sent its NAK");
    assert_eq!(
        log[at - 1],
        Relayed::FromReader(Unit::Movement(0x02)),
        "the NAK came right after the notification: {:02X?}",
        last_units(&log)
    );
    let again = log[at + 1..]
        .iter()
        .find(|r| matches!(r, Relayed::FromReader(_)))
        .expect("the reader answered the NAK");
    assert_eq!(
        *again,
        Relayed::FromReader(Unit::Frame(withheld)),
        "the NAK got the answer before the notification: {:02X?}",
        last_units(&log)
    );

    // pcscd's poll must have seen the removal before the card goes back, or a
    // poll might never see it.
    assert!(
        wait_removal(&ctx, NAME, events, Duration::from_secs(5)),
        "removal seen"
    );
    serve.insert(0);
    echo_after_insertion(&ctx, NAME, Protocols::T1, Duration::from_secs(5));
    drop(ctx);
    let pcscd_log = stop_after_grace(pcscd);
    for line in ["slot change", "Card removed"] {
        assert!(pcscd_log.contains(line), "libccid logged {line:?}");
    }
    assert!(
        !pcscd_log.contains("Wrong LRC"),
        "libccid got every frame intact:\n{pcscd_log}"
    );
    assert_eq!(
        pcscd_log.matches("Card Removed").count(),
        1,
        "one removal, no false one:\n{pcscd_log}"
    );
}

/// What libccid does with a damaged frame after a notification: the first
/// answer after the removal's `50 02` (the SlotStatus of pcscd's next poll)
/// reaches it with a wrong LRC; it logs "Wrong LRC" and takes the answer as
/// read (no NAK), so the removal is seen; a new card works afterwards.
#[test]
fn libccid_takes_a_damaged_answer_after_a_notification_as_read() {
    let (mut serve, tap, pcscd, ctx) = start();
    tap.arm(Fault {
        pick: Pick::AfterMovement,
        action: Action::Damage(Byte::Lrc),
    });
    serve.remove(0);
    assert!(
        wait_card(&ctx, NAME, false, Duration::from_secs(5)),
        "removal seen"
    );
    let log = tap.log();
    let damaged = log
        .iter()
        .find_map(|r| match r {
            Relayed::Damaged { read, .. } => Some(read.clone()),
            _ => None,
        })
        .expect("the tap damaged the answer after the notification");
    // bMessageType 81 (SlotStatus), bmICCStatus 2 (no card).
    assert_eq!(
        (damaged[2], damaged[9] & 0x03),
        (0x81, 0x02),
        "{damaged:02X?}"
    );
    serve.insert(0);
    echo_after_insertion(&ctx, NAME, Protocols::T1, Duration::from_secs(5));
    stop_after_a_bad_lrc(ctx, pcscd, &tap);
}

/// An ordinary answer damaged in its data (no notification near): libccid
/// logs "Wrong LRC" and hands the damaged answer to the client, who gets the
/// ECHO with its first byte changed; no NAK goes to the reader.
#[test]
fn libccid_hands_a_damaged_answer_on_to_the_client() {
    let (_serve, tap, pcscd, ctx) = start();
    let card = connect(&ctx, NAME, Protocols::T1);
    tap.arm(Fault {
        pick: Pick::Nth {
            message_type: 0x80,
            n: 1,
        },
        action: Action::Damage(Byte::Message(10)),
    });
    let data = [0xAB, 0xCD];
    assert_eq!(
        tx(&card, &echo(&data)),
        Ok(vec![0xAA, 0xCD, 0x90, 0x00]),
        "the first data byte with its lowest bit flipped"
    );
    assert_eq!(
        tx(&card, &echo(&data)),
        Ok(vec![0xAB, 0xCD, 0x90, 0x00]),
        "the next answer is whole"
    );
    drop(card);
    stop_after_a_bad_lrc(ctx, pcscd, &tap);
}
