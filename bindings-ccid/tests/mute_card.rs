//! A T=0 card that falls silent in the middle of an exchange (its command
//! header went out, no procedure byte came back), through the real host stack:
//! Debian's pcscd loads Debian's `libccidtwin.so`, which talks to
//! `readerkit ccid-serve --mute-after 1` over a pseudo-terminal; the `pcsc`
//! crate is the client.
//!
//! The reader deactivates the card (T=0 has no way back into step but a reset)
//! and answers the XfrBlock ICC_MUTE; the slot stays present and active for the
//! host until it powers the card off or on ([`readerkit_ccid::reader::host_icc_status`]).

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use pcsc::{Card, Context, Disposition, Error, Protocols, ShareMode, State, Status};
use readerkit_testkit::apdu::{SELECT_MF, get_challenge};
use readerkit_testkit::hex::parse;
use readerkit_testkit::pcsc::{connect, reader_state};
use readerkit_testkit::served::StderrLines;
use readerkit_testkit::thread::hang_guarded_for;
use support::{stop_and_check, tx, watched_twin};

/// GET CHALLENGE for 8 bytes: the command the card goes mute in.
const GET_CHALLENGE: [u8; 5] = get_challenge(8);

/// Run SELECT MF (the one command the card answers after each reset), then GET
/// CHALLENGE, whose header the card leaves unanswered. The transmit fails
/// SCARD_E_NOT_TRANSACTED, and the reader's answer (read in ccid-serve's trace)
/// is a failed DataBlock with bmICCStatus 0 (present, active) and bError FE
/// (ICC_MUTE).
fn card_goes_mute(trace: &StderrLines, card: &Card) {
    assert_eq!(tx(card, &SELECT_MF), Ok(vec![0x90, 0x00]), "SELECT MF");
    assert_eq!(tx(card, &GET_CHALLENGE), Err(Error::NotTransacted));
    let failed = loop {
        let answer = answer_in_trace(trace, "<- 80 ");
        if answer[8] != 0x00 {
            break answer;
        }
    };
    assert_eq!(
        failed[7..10],
        [0x40, 0xFE, 0x00],
        "failed, card active, ICC_MUTE: {failed:02X?}"
    );
}

/// The next answer in ccid-serve's trace whose line starts with `start`
/// (`<- ` and its message type): its bytes, 10 at least.
fn answer_in_trace(trace: &StderrLines, start: &str) -> Vec<u8> {
    let line = trace.wait(start);
    let answer = parse(line.trim().trim_start_matches("<- "));
    assert!(answer.len() >= 10, "an answer: {line}");
    answer
}

/// What pcscd says of the card to `card`'s handle and to watchers of `name`,
/// once libccid has polled the slot twice since (two GetSlotStatus answers in
/// ccid-serve's trace: pcscd has taken in the first when it sends the second):
/// present and powered in T=0, no card event since `events`.
fn still_present(trace: &StderrLines, ctx: &Context, name: &str, card: &Card, events: u32) {
    for _ in 0..2 {
        let poll = answer_in_trace(trace, "<- 81 ");
        assert_eq!(poll[7..9], [0x00, 0x00], "present, active: {poll:02X?}");
    }
    let mut names = [0u8; 256];
    let mut atr = [0u8; 64];
    let status = card.status2(&mut names, &mut atr).expect("SCardStatus");
    assert_eq!(status.protocol2(), Some(pcsc::Protocol::T0));
    assert!(
        status.status().contains(Status::PRESENT | Status::POWERED),
        "{:?}",
        status.status()
    );
    let state = reader_state(ctx, name);
    assert!(
        state.event_state().contains(State::PRESENT) && !state.event_state().contains(State::EMPTY),
        "{:?}",
        state.event_state()
    );
    assert_eq!(state.event_count(), events, "no removal, no insertion");
}

/// The reader pcscd names after the reader.conf entry "RK Mute".
const NAME: &str = "RK Mute 00 00";

/// How long the client's part may take before it counts as hung (a hang guard,
/// not a speed check: a working run takes about 5 s).
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// The client's part of the test below, on pcscd's reader [`NAME`].
fn mute_and_reset(trace: &StderrLines, ctx: &Context) {
    let mut card = connect(ctx, NAME, Protocols::T0);
    let events = reader_state(ctx, NAME).event_count();

    card_goes_mute(trace, &card);
    still_present(trace, ctx, NAME, &card, events);
    // Nothing reaches the card until it is reset: the same failure at once.
    assert_eq!(tx(&card, &SELECT_MF), Err(Error::NotTransacted));

    for disposition in [Disposition::ResetCard, Disposition::UnpowerCard] {
        card.reconnect(ShareMode::Shared, Protocols::T0, disposition)
            .unwrap_or_else(|e| panic!("reconnect ({disposition:?}): {e}"));
        card_goes_mute(trace, &card);
        still_present(trace, ctx, NAME, &card, events);
    }
    card.disconnect(Disposition::ResetCard)
        .map_err(|(_, e)| e)
        .expect("disconnect");
}

/// The card goes mute after SELECT: the handle lives on, pcscd reports no card
/// movement, every transmit fails until the client resets the card; a
/// reconnect with SCARD_RESET_CARD brings it back and SELECT works; it goes
/// mute again, and a reconnect with SCARD_UNPOWER_CARD brings it back too.
///
/// Before, the reader reported the deactivated card present and inactive
/// (bmICCStatus 1): libccid took that for a card swapped between two polls
/// (its `IFDHICCPresence` said absent once), so pcscd reported a removal and an
/// insertion to every watcher (event count +2), powered the card up again, and
/// ended the client's handle (SCardStatus and SCardTransmit
/// SCARD_W_REMOVED_CARD).
#[test]
fn a_t0_card_mute_mid_exchange_keeps_its_handle_until_a_reset() {
    let args = "--reader gempctwin --card t0 --mute-after 1 --trace";
    let (mut serve, pcscd, ctx) = watched_twin(&args.split(' ').collect::<Vec<_>>(), "RK Mute");
    // pcscd and ccid-serve stay here, the client's thread has only ccid-serve's
    // trace: if the client hangs, the failure's unwinding stops both, and with
    // them the call the client is blocked in (the thread cannot keep ccid-serve
    // alive past the test).
    let trace = serve.take_stderr();
    let client_ctx = ctx.clone();
    hang_guarded_for("mute card client", CLIENT_LIMIT, move || {
        mute_and_reset(&trace, &client_ctx);
    });
    drop(ctx);
    let log = stop_and_check(pcscd);
    drop(serve);
    assert!(
        !log.contains("Card Removed"),
        "pcscd saw no removal:\n{log}"
    );
}
