//! A card pulled and pushed back between two of pcscd's polls while a client
//! disconnects, through the real host stack: Debian's pcscd 1.9.9 loads
//! Debian's `libccidtwin.so` (libccid 1.5.2), which talks to `readerkit
//! ccid-serve --trace` over a pseudo-terminal; the `pcsc` crate is the client.
//!
//! This pins pcscd's own behaviour, not the reader's (bindings-ccid/README,
//! "Known host behaviour"): `SCardDisconnect` with SCARD_RESET_CARD first asks
//! the driver whether a card is in (`IFDPowerICC` calls `IFDStatusICC`, one
//! GetSlotStatus); the reader rightly says absent, and pcscd writes
//! SCARD_ABSENT into the reader's public state, without counting an event and
//! without telling its polling thread, which still holds "present". When the
//! card is back before that thread's next poll (400 ms apart for a serial
//! reader), the poll finds a card present where it last saw one: no removal,
//! no insertion, and the reader stays empty for every client until a removal
//! is seen. With SCARD_LEAVE_CARD libccid never saw the card absent, takes the
//! inactive card it had powered for one swapped between two polls, and pcscd
//! reports a removal and an insertion.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use pcsc::{Context, Disposition, Error, Protocols, ShareMode, State};
use readerkit_testkit::apdu::echo;
use readerkit_testkit::hex::parse;
use readerkit_testkit::pcsc::{connect, disconnect_with, reader, reader_state, tx};
use readerkit_testkit::served::StderrLines;
use support::{Pcscd, Serve, echo_after_insertion, stop_and_check, wait_card, watched_twin};

/// The reader pcscd names after the reader.conf entry "RK Reinsert".
const NAME: &str = "RK Reinsert 00 00";

/// How many times a test tries to fit the removal and the insertion between
/// two polls before it gives up (each try takes well under a poll's 400 ms;
/// a poll that falls between them spoils that try).
const TRIES: usize = 4;

/// The data of the ECHO that marks the end of a connect's lines in the trace.
const MARK: [u8; 2] = [0x5E, 0xA1];
/// What the trace shows of [`MARK`]'s answer (a T=1 block's INF: the data and
/// 90 00; the command carries the data followed by Le, not 90 00).
const MARK_ANSWERED: &str = "5E A1 90 00";

/// pcscd's log line when a reset fails (winscard.c).
const RESET_FAILED: &str = "Error resetting card.";

/// A GemPC Twin with a T=1 card, its trace, and pcscd seeing the card.
struct Rig {
    serve: Serve,
    trace: StderrLines,
    pcscd: Pcscd,
    ctx: Context,
}

impl Rig {
    fn start() -> Rig {
        let args = ["--reader", "gempctwin", "--card", "t1", "--trace"];
        let (mut serve, pcscd, ctx) = watched_twin(&args, "RK Reinsert");
        let trace = serve.take_stderr();
        Rig {
            serve,
            trace,
            pcscd,
            ctx,
        }
    }

    /// How often pcscd's log has `line` so far.
    fn logged(&self, line: &str) -> usize {
        self.pcscd.log().matches(line).count()
    }

    /// Connect, and right after one of pcscd's polls remove the card,
    /// disconnect with `disposition` and insert the card again. Returns the
    /// bmICCStatus of every SlotStatus the reader gave while the card was
    /// out (between its `50 02` and its `50 03`), and pcscd's event count
    /// before.
    fn quick_reinsert(&mut self, disposition: Disposition) -> (Vec<u8>, u32) {
        let events = reader_state(&self.ctx, NAME).event_count();
        let card = connect(&self.ctx, NAME, Protocols::T1);
        // The connect's own lines reach the trace's channel a little after it
        // returns. An ECHO's answer is a line after all of them: pass over
        // everything up to it, so that the next SlotStatus is a poll's (the
        // client is idle from then on).
        assert_eq!(tx(&card, &echo(&MARK)), Ok([MARK, [0x90, 0x00]].concat()));
        self.trace.wait(MARK_ANSWERED);
        self.trace.wait("<- 81 ");
        self.serve.remove(0);
        self.trace.wait("<- 50 02");
        disconnect_with(card, disposition);
        self.serve.insert(0);
        let out = self
            .trace
            .until("<- 50 03")
            .iter()
            .filter(|line| line.starts_with("<- 81 "))
            .map(|line| icc_status(line))
            .collect();
        (out, events)
    }

    /// [`Rig::quick_reinsert`] until the reader answered exactly `gets`
    /// GetSlotStatus while the card was out (a try where one of pcscd's polls
    /// fell in between gives one more; pcscd then sees the removal and the
    /// insertion, and the next try waits for the card). Returns pcscd's event
    /// count before that try. Panics after [`TRIES`].
    fn reinsert_between_polls(&mut self, disposition: Disposition, gets: usize) -> u32 {
        for _ in 0..TRIES {
            let (out, events) = self.quick_reinsert(disposition);
            assert!(
                out.iter().all(|&status| status == 2),
                "no card while it was out: {out:?}"
            );
            if out.len() == gets {
                return events;
            }
            assert!(
                out.len() > gets,
                "{gets} GetSlotStatus of the disconnect's own expected, {} came",
                out.len()
            );
            assert!(
                wait_card(&self.ctx, NAME, true, Duration::from_secs(5)),
                "a poll saw the removal, and then the insertion"
            );
        }
        panic!("a poll fell between removal and insertion {TRIES} times");
    }
}

/// Wait (up to `timeout`, a hang guard) until pcscd has counted `events`
/// removals and insertions on [`NAME`]; panics if it has not by then.
fn wait_events(ctx: &Context, events: u32, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    while reader_state(ctx, NAME).event_count() < events {
        assert!(
            std::time::Instant::now() < deadline,
            "pcscd counted {events} events within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// bmICCStatus of a traced answer (`<- 81 ...`).
fn icc_status(line: &str) -> u8 {
    let answer = parse(line.trim().trim_start_matches("<- "));
    assert!(answer.len() >= 10, "an answer: {line}");
    answer[7] & 0x03
}

/// With SCARD_RESET_CARD: the reset's presence check is the only
/// GetSlotStatus that sees the card out (bmICCStatus 2), pcscd logs "Error
/// resetting card." and marks the reader empty; its polls then find the card
/// present (bmICCStatus 1, libccid: present), and pcscd stays at "empty": no
/// removal or insertion logged or counted, SCardConnect fails
/// SCARD_E_NO_SMARTCARD. A removal that a poll sees puts it right; so does a
/// direct connection reconnected with a reset (the reset finds the card).
#[test]
fn a_reset_on_disconnect_during_a_quick_reinsert_leaves_pcscd_empty() {
    let mut rig = Rig::start();
    let (failed, removed, inserted) = (
        rig.logged(RESET_FAILED),
        rig.logged("Card Removed"),
        rig.logged("Card inserted"),
    );

    let events = rig.reinsert_between_polls(Disposition::ResetCard, 1);
    for _ in 0..2 {
        let poll = rig.trace.wait("<- 81 ");
        assert_eq!(icc_status(&poll), 1, "the card back, inactive: {poll}");
    }

    let state = reader_state(&rig.ctx, NAME);
    assert!(
        state.event_state().contains(State::EMPTY) && !state.event_state().contains(State::PRESENT),
        "pcscd says empty with the card in: {:?}",
        state.event_state()
    );
    assert_eq!(state.event_count(), events, "no removal, no insertion");
    assert!(
        !wait_card(&rig.ctx, NAME, true, Duration::from_secs(1)),
        "no poll brings the card back"
    );
    let connected = rig
        .ctx
        .connect(&reader(NAME), ShareMode::Shared, Protocols::T1);
    assert_eq!(connected.err(), Some(Error::NoSmartcard));
    assert_eq!(rig.logged(RESET_FAILED), failed + 1, "{RESET_FAILED}");
    assert_eq!(
        rig.logged("Card inserted") - inserted,
        rig.logged("Card Removed") - removed,
        "none but the removals and insertions of spoilt tries:\n{}",
        rig.pcscd.log()
    );

    // A direct connection needs no card; its reconnect with a reset finds it.
    let mut direct = rig
        .ctx
        .connect(&reader(NAME), ShareMode::Direct, Protocols::UNDEFINED)
        .expect("a direct connection");
    direct
        .reconnect(
            ShareMode::Direct,
            Protocols::UNDEFINED,
            Disposition::ResetCard,
        )
        .expect("reconnect with a reset");
    disconnect_with(direct, Disposition::LeaveCard);
    echo_after_insertion(&rig.ctx, NAME, Protocols::T1, Duration::from_secs(2));

    // A removal a poll sees, then an insertion: counted as ever.
    rig.serve.remove(0);
    assert!(wait_card(&rig.ctx, NAME, false, Duration::from_secs(5)));
    rig.serve.insert(0);
    echo_after_insertion(&rig.ctx, NAME, Protocols::T1, Duration::from_secs(5));
    assert_eq!(reader_state(&rig.ctx, NAME).event_count(), events + 2);
    drop(rig.ctx);
    stop_and_check(rig.pcscd);
}

/// With SCARD_LEAVE_CARD nothing asks the reader while the card is out; the
/// next poll finds the card libccid had powered inactive (bmICCStatus 1),
/// libccid reports it absent once (a card swapped between two polls), and
/// pcscd reports a removal and an insertion: the card works again.
#[test]
fn leaving_the_card_on_disconnect_during_a_quick_reinsert_is_seen() {
    let mut rig = Rig::start();
    let (failed, removed) = (rig.logged(RESET_FAILED), rig.logged("Card Removed"));

    let events = rig.reinsert_between_polls(Disposition::LeaveCard, 0);
    // Not at once: until its next poll pcscd still has the card powered, a
    // connect gets the handle and a transmit fails on the inactive card.
    wait_events(&rig.ctx, events + 2, Duration::from_secs(3));
    echo_after_insertion(&rig.ctx, NAME, Protocols::T1, Duration::from_secs(5));
    assert_eq!(
        reader_state(&rig.ctx, NAME).event_count(),
        events + 2,
        "a removal and an insertion"
    );
    assert_eq!(rig.logged(RESET_FAILED), failed, "no reset");
    assert!(rig.logged("Card Removed") > removed);
    drop(rig.ctx);
    stop_and_check(rig.pcscd);
}
