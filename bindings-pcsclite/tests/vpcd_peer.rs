//! The `vpcd:` backend under the real pcscd (Debian's, socket-activated on a private
//! path), against scripted virtual cards (`readerkit_testkit::vpcd_peer`) that do
//! what a well-behaved vicc never does: answer after 8 s, trickle one byte at a time,
//! send frames nobody asked for, hang up with bytes unread, hang up while a new
//! card connects at the same moment, or stall while pcscd shuts down. The client
//! is the `pcsc` crate.
//!
//! libpcsclite caches the socket name at its first use, so every scenario shares
//! one pcscd (one test). Each scenario has its own reader and port, runs even when
//! an earlier one failed, and the test fails listing every scenario that failed.
//! It also prints the insertion and removal latency seen through
//! `SCardGetStatusChange` (figures, not assertions).

use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Error, Protocols, ReaderState, Scope, State};
use readerkit_testkit::hex;
use readerkit_testkit::pcsc::{
    connect, disconnect, disconnect_with, reader_names, reader_state, tx,
};
use readerkit_testkit::pcscd::{Pcscd, free_port_runs};
use readerkit_testkit::vpcd_peer::{ATR_A, ATR_B, Peer, echo_answer, echo_command, frame};

const SLOW: &str = "VP SLOW 00 00";
const TRICKLE: &str = "VP TRICKLE 01 00";
const STEADY: &str = "VP STEADY 02 00";
const STRAY: &str = "VP STRAY 03 00";
const CLOSE: &str = "VP CLOSE 04 00";
const SWAP: &str = "VP SWAP 05 00";
const STUCK: &str = "VP STUCK 06 00";

/// The per-message deadline of the short-deadline readers (DEVICENAME option), s.
const SHORT_DEADLINE_S: u64 = 2;

/// Wait (at most `timeout`) until the reader's state satisfies `done`; returns the
/// state, or `None` on timeout. `state` is the last state the caller saw.
fn wait_for(
    ctx: &Context,
    state: &mut ReaderState,
    timeout: Duration,
    done: impl Fn(&ReaderState) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done(state) && !state.event_state().contains(State::UNKNOWN) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        // The same ReaderState each time: its current state carries pcscd's event
        // counter, so a removal and an insertion between two calls still count.
        match ctx.get_status_change(left, std::slice::from_mut(state)) {
            Ok(()) => state.sync_current_state(),
            Err(Error::Timeout) => return done(state),
            Err(e) => panic!("get_status_change: {e}"),
        }
    }
}

fn present(s: &ReaderState) -> bool {
    s.current_state().contains(State::PRESENT)
}

fn empty(s: &ReaderState) -> bool {
    s.current_state().contains(State::EMPTY)
}

/// Wait up to 5 s until `state`'s reader shows a card; `what` says which on failure.
fn assert_card_seen(ctx: &Context, state: &mut ReaderState, what: &str) {
    assert!(
        wait_for(ctx, state, Duration::from_secs(5), present),
        "{what}"
    );
}

/// Wait up to 2 s until `state`'s reader is empty; `what` says which removal on
/// failure.
fn assert_removal_seen(ctx: &Context, state: &mut ReaderState, what: &str) {
    assert!(
        wait_for(ctx, state, Duration::from_secs(2), empty),
        "{what}"
    );
}

/// A scenario's steps, run once.
type Scenario<'a> = Box<dyn FnOnce() + 'a>;

/// Run one scenario, recording a failure instead of stopping the test.
fn scenario(name: &str, failures: &mut Vec<String>, started: Instant, f: impl FnOnce()) {
    eprintln!("[{:>6.2} s] {name} ...", started.elapsed().as_secs_f64());
    if let Err(e) = catch_unwind(AssertUnwindSafe(f)) {
        let why = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        eprintln!("    FAILED: {why}");
        failures.push(format!("{name}: {why}"));
    }
}

#[test]
fn vpcd_against_scripted_peers_under_pcscd() {
    let started = Instant::now();
    let ports = free_port_runs(&[1; 7]);
    let devices = [
        format!("vpcd:{}", ports[0]),
        format!("vpcd:{}:timeout={SHORT_DEADLINE_S}", ports[1]),
        format!("vpcd:{}", ports[2]),
        format!("vpcd:{}", ports[3]),
        format!("vpcd:{}", ports[4]),
        format!("vpcd:{}", ports[5]),
        format!("vpcd:{}:timeout=60", ports[6]),
    ];
    let names = [
        "VP SLOW",
        "VP TRICKLE",
        "VP STEADY",
        "VP STRAY",
        "VP CLOSE",
        "VP SWAP",
        "VP STUCK",
    ];
    let readers: Vec<(&str, &str)> = names
        .into_iter()
        .zip(devices.iter().map(String::as_str))
        .collect();
    let mut pcscd = Pcscd::start_readerkit(&readers);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    let listed = reader_names(&ctx);
    let mut failures = Vec::new();
    if listed != [SLOW, TRICKLE, STEADY, STRAY, CLOSE, SWAP, STUCK] {
        failures.push(format!("readers listed: {listed:?}\n{}", pcscd.log()));
    }

    let scenarios: [(&str, Scenario<'_>); 7] = [
        (
            "an 8 s answer succeeds",
            Box::new(|| slow_answer(&ctx, ports[0])),
        ),
        (
            "a trickling peer is cut off at its deadline while another reader answers",
            Box::new(|| trickle_cut_off(&ctx, ports[1], ports[2])),
        ),
        (
            "stray frames never yield a wrong answer",
            Box::new(|| stray_frames(&ctx, ports[3])),
        ),
        (
            "a close is seen at once",
            Box::new(|| close_seen(&ctx, ports[4])),
        ),
        (
            "a close with unread bytes pending is seen at once",
            Box::new(|| close_with_unread_bytes(&ctx, ports[4])),
        ),
        (
            "a card swapped at once is a removal and an insertion",
            Box::new(|| swap_at_once(&ctx, ports[5])),
        ),
        (
            "insertion and removal latency (SCardGetStatusChange)",
            Box::new(|| latency(&ctx, ports[4])),
        ),
    ];
    for (name, run) in scenarios {
        scenario(name, &mut failures, started, run);
    }
    drop(ctx);
    scenario(
        "pcscd shuts down while a peer trickles its ATR",
        &mut failures,
        started,
        || shutdown_while_stuck(&mut pcscd, ports[6]),
    );
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}\n--- pcscd log ---\n{}",
        failures.len(),
        failures.join("\n"),
        pcscd.log()
    );
}

/// A card that takes 8 s to answer (on-card key generation) is waited for.
fn slow_answer(ctx: &Context, port: u16) {
    let mut state = reader_state(ctx, SLOW);
    let mut peer = Peer::connect(port);
    let card_side = std::thread::spawn(move || {
        peer.serve(&ATR_A, |peer, apdu| {
            if apdu.get(1) == Some(&0x46) {
                std::thread::sleep(Duration::from_secs(8));
            }
            peer.send(&echo_answer(apdu));
            true
        });
    });
    assert_card_seen(ctx, &mut state, "card seen");
    let card = connect(ctx, SLOW, Protocols::ANY);
    let started = Instant::now();
    // GENERATE ASYMMETRIC KEY PAIR-like command: INS 46.
    let answer = tx(&card, &[0x80, 0x46, 0x00, 0x00, 0x02, 0xAA, 0xBB]);
    let took = started.elapsed();
    assert_eq!(
        answer,
        Ok(vec![0x6D, 0x00]),
        "the slow answer arrives ({took:?})"
    );
    assert!(
        took >= Duration::from_secs(8),
        "it really took 8 s: {took:?}"
    );
    // The card is still there and answers at once.
    assert_eq!(
        tx(&card, &echo_command(&[1, 2, 3])),
        Ok(vec![1, 2, 3, 0x90, 0x00])
    );
    disconnect(card);
    drop(card_side);
}

/// A peer trickling its answer one byte every 200 ms (a 40-byte answer would take
/// 8 s) on a reader with a 2 s deadline: the transmit fails at the deadline, the
/// card is removed, a new connection is a new card; another reader in the same
/// pcscd answers all along.
fn trickle_cut_off(ctx: &Context, trickle_port: u16, steady_port: u16) {
    let mut steady_state = reader_state(ctx, STEADY);
    let steady_peer = Peer::connect(steady_port);
    let steady_hangup = steady_peer.hangup_handle();
    let steady_card = steady_peer.spawn_echo(&ATR_A);
    assert_card_seen(ctx, &mut steady_state, "steady card seen");

    let mut state = reader_state(ctx, TRICKLE);
    let mut peer = Peer::connect(trickle_port);
    let trickler = std::thread::spawn(move || {
        let mut sent = 0;
        peer.serve(&ATR_A, |peer, _apdu| {
            let answer = frame(&[0x42; 40]);
            sent = peer.trickle(&answer, Duration::from_millis(200));
            false
        });
        (sent, peer)
    });
    assert_card_seen(ctx, &mut state, "trickling card seen");
    let card = connect(ctx, TRICKLE, Protocols::ANY);

    let steady = std::thread::spawn(move || {
        let ctx = Context::establish(Scope::User).unwrap();
        let card = connect(&ctx, STEADY, Protocols::ANY);
        let until = Instant::now() + Duration::from_secs(SHORT_DEADLINE_S + 1);
        let mut answered = 0u32;
        while Instant::now() < until {
            let data = answered.to_be_bytes();
            assert_eq!(
                tx(&card, &echo_command(&data)),
                Ok([&data[..], &[0x90, 0x00]].concat()),
                "the steady reader answers while the other trickles"
            );
            answered += 1;
        }
        answered
    });

    let t0 = Instant::now();
    let result = tx(&card, &echo_command(&[9; 4]));
    let took = t0.elapsed();
    eprintln!("    trickled transmit ended after {took:?}: {result:?}");
    assert!(
        result.is_err(),
        "a trickled answer is not an answer: {result:?}"
    );
    assert!(
        took < Duration::from_secs(SHORT_DEADLINE_S + 2),
        "cut off near the {SHORT_DEADLINE_S} s deadline, not after the whole trickle: {took:?}"
    );
    let answered = steady.join().expect("steady reader");
    eprintln!("    the steady reader answered {answered} commands meanwhile");
    assert!(
        answered >= 10,
        "the other reader kept answering: {answered}"
    );
    let (sent, _peer) = trickler.join().unwrap();
    assert!(
        sent < 42,
        "the reader hung up on the trickle ({sent} bytes sent)"
    );
    assert_removal_seen(ctx, &mut state, "the cut-off peer is a removal");
    assert_eq!(
        tx(&card, &echo_command(&[1])),
        Err(Error::RemovedCard),
        "the old handle is for the removed card"
    );
    drop(card);

    // A new connection is a new card.
    let fresh = Peer::connect(trickle_port);
    let fresh_hangup = fresh.hangup_handle();
    let fresh_card = fresh.spawn_echo(&ATR_B);
    assert_card_seen(ctx, &mut state, "the new card is seen");
    assert_eq!(state.atr(), ATR_B);
    let card = connect(ctx, TRICKLE, Protocols::ANY);
    assert_eq!(
        tx(&card, &echo_command(&[7, 7])),
        Ok(vec![7, 7, 0x90, 0x00])
    );
    disconnect(card);
    let _ = fresh_hangup.shutdown(Shutdown::Both);
    let _ = steady_hangup.shutdown(Shutdown::Both);
    fresh_card.join().unwrap();
    steady_card.join().unwrap();
    assert_removal_seen(ctx, &mut state, "removed");
}

/// Frames the reader did not ask for: a second answer after each answer, a
/// partial frame begun while idle and finished after the next command, a frame
/// sent between commands, one sent while the card is powered down (it must not
/// become the ATR of the next power-up). Every answer must be the answer to its
/// own command. The client waits until the peer has sent its stray frames before
/// the next command: a frame that arrives after a command went out is
/// indistinguishable from its answer, in any vpcd implementation.
fn stray_frames(ctx: &Context, port: u16) {
    #[derive(Debug, PartialEq)]
    enum Idle {
        Answered,
        PoweredOff,
    }
    let mut state = reader_state(ctx, STRAY);
    // (A frame sent right after connecting may reach the reader after pcscd's
    // power-up asked for the ATR, which no reader can tell from the ATR: the frame
    // before power-up is sent while the card is powered down, below, and the
    // connect-time case is in tests/vpcd_ifd.rs, where the test decides when the
    // power-up happens.)
    let mut peer = Peer::connect(port);
    let hangup = peer.hangup_handle();
    let (idle_tx, idle_rx) = std::sync::mpsc::channel();
    let card_side = std::thread::spawn(move || {
        let mut n = 0u32;
        let mut partial_pending = false;
        while let Some(message) = peer.read_message() {
            let apdu = match message.as_slice() {
                [4] => {
                    peer.send(&ATR_A);
                    continue;
                }
                [0] => {
                    // Powered down: a frame that looks like an ATR.
                    peer.send(&[0x3B, 0x00]);
                    let _ = idle_tx.send(Idle::PoweredOff);
                    continue;
                }
                [_] => continue,
                apdu => apdu,
            };
            n += 1;
            let answer = echo_answer(apdu);
            if partial_pending {
                // Finish the frame begun while idle, then answer.
                peer.send_raw(&[0x6F, 0x00, 0x01]);
                partial_pending = false;
            }
            match n % 4 {
                // Answer, and a second answer in the same write.
                0 => peer.send_raw(&[frame(&answer), frame(&[0x6A, 0x82])].concat()),
                // Answer; a moment later a frame nobody asked for.
                1 => {
                    peer.send(&answer);
                    std::thread::sleep(Duration::from_millis(5));
                    peer.send(&[0x90, 0x00]);
                }
                // Answer; then begin a 5-byte frame and stop after 2 bytes.
                2 => {
                    peer.send(&answer);
                    std::thread::sleep(Duration::from_millis(5));
                    peer.send_raw(&[0x00, 0x05, 0x61, 0x10]);
                    partial_pending = true;
                }
                _ => peer.send(&answer),
            }
            let _ = idle_tx.send(Idle::Answered);
        }
    });
    assert_card_seen(ctx, &mut state, "card seen");
    let card = connect(ctx, STRAY, Protocols::ANY);
    let session = |card: &pcsc::Card, rounds: u8| {
        for i in 0..rounds {
            let data = [i, i ^ 0x5A, 0xC0 | i];
            assert_eq!(
                tx(card, &echo_command(&data)),
                Ok([&data[..], &[0x90, 0x00]].concat()),
                "command {i} gets its own answer"
            );
            // The stray frames of this round are out before the next command.
            assert_eq!(
                idle_rx.recv_timeout(Duration::from_secs(5)),
                Ok(Idle::Answered)
            );
        }
    };
    session(&card, 12);
    // Power the card down; it sends an ATR-like frame while powered down; the
    // next power-up must read the real ATR.
    disconnect_with(card, Disposition::UnpowerCard);
    let stray_sent = idle_rx.recv_timeout(Duration::from_secs(5));
    assert_eq!(
        stray_sent,
        Ok(Idle::PoweredOff),
        "pcscd powered the card down"
    );
    let card = connect(ctx, STRAY, Protocols::ANY);
    let mut atr = [0u8; 64];
    assert_eq!(
        hex(card
            .get_attribute(pcsc::Attribute::AtrString, &mut atr)
            .unwrap()),
        hex(&ATR_A),
        "the frame sent while powered down is not the ATR"
    );
    session(&card, 12);
    disconnect(card);
    let _ = hangup.shutdown(Shutdown::Both);
    card_side.join().unwrap();
    assert_removal_seen(ctx, &mut state, "removed");
}

/// The peer hangs up while a session is open: the removal is seen at once and the
/// handle reports the removed card.
fn close_seen(ctx: &Context, port: u16) {
    let mut state = reader_state(ctx, CLOSE);
    let peer = Peer::connect(port);
    let hangup = peer.hangup_handle();
    let card_side = peer.spawn_echo(&ATR_A);
    assert_card_seen(ctx, &mut state, "card seen");
    let card = connect(ctx, CLOSE, Protocols::ANY);
    assert_eq!(tx(&card, &echo_command(&[5])), Ok(vec![5, 0x90, 0x00]));
    hangup.shutdown(Shutdown::Both).unwrap();
    card_side.join().unwrap();
    assert_removal_seen(ctx, &mut state, "removal seen");
    assert_eq!(tx(&card, &echo_command(&[5])), Err(Error::RemovedCard));
}

/// The peer sends a frame nobody asked for and hangs up at once: the bytes it left
/// unread in the reader's socket do not make the card look present.
fn close_with_unread_bytes(ctx: &Context, port: u16) {
    let mut state = reader_state(ctx, CLOSE);
    let mut peer = Peer::connect(port);
    let hangup = peer.hangup_handle();
    let card_side = std::thread::spawn(move || {
        peer.serve(&ATR_A, |peer, apdu| {
            peer.send(&echo_answer(apdu));
            // After the answer: a frame nobody asked for, then hang up.
            peer.send(&[0x90, 0x00, 0x90, 0x00]);
            peer.close();
            false
        });
    });
    assert_card_seen(ctx, &mut state, "card seen");
    let card = connect(ctx, CLOSE, Protocols::ANY);
    assert_eq!(tx(&card, &echo_command(&[6])), Ok(vec![6, 0x90, 0x00]));
    card_side.join().unwrap();
    assert_removal_seen(
        ctx,
        &mut state,
        "removal seen although bytes were left unread",
    );
    let _ = hangup;
}

/// One card hangs up and another connects at the same moment (vicc restarting):
/// pcscd must see a removal and an insertion, the old handle must get
/// SCARD_W_REMOVED_CARD and never reach the new card, and the new card must work.
/// Four swaps in a row, alternating two cards (the race this guards against is
/// lost only now and then by the old listener).
fn swap_at_once(ctx: &Context, port: u16) {
    let mut state = reader_state(ctx, SWAP);
    let first = Peer::connect(port);
    let mut hangup = first.hangup_handle();
    let mut card_side = first.spawn_echo(&ATR_A);
    assert_card_seen(ctx, &mut state, "first card seen");
    for round in 0..4u8 {
        let (atr, mark): (&'static [u8], u8) = if round % 2 == 0 {
            (&ATR_B, 0xB0 | round)
        } else {
            (&ATR_A, 0xA0 | round)
        };
        let count_before = state.event_count();
        let old = connect(ctx, SWAP, Protocols::ANY);
        assert_eq!(
            tx(&old, &echo_command(&[1])).map(|r| r[r.len() - 2..].to_vec()),
            Ok(vec![0x90, 0x00])
        );

        // The next card connects (waiting in the listen backlog), then the current
        // one hangs up at once.
        let mut next = Peer::connect(port);
        let next_hangup = next.hangup_handle();
        hangup.shutdown(Shutdown::Both).unwrap();
        let next_side = std::thread::spawn(move || {
            // Each card marks its answers, so a command reaching it is known.
            next.serve(atr, |peer, apdu| {
                let mut answer = echo_answer(apdu);
                answer.insert(0, mark);
                peer.send(&answer);
                true
            });
            next
        });
        card_side.join().unwrap();
        assert!(
            wait_for(ctx, &mut state, Duration::from_secs(5), |s| present(s)
                && s.atr() == atr),
            "round {round}: pcscd sees the next card (ATR {}, state {:?})",
            hex(state.atr()),
            state.event_state()
        );
        // pcscd shows the new card's state and ATR a moment before it counts the
        // insertion: look again (at most 1 s) before counting.
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut events = state.event_count().wrapping_sub(count_before);
        while events < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            events = reader_state(ctx, SWAP)
                .event_count()
                .wrapping_sub(count_before);
        }
        // The next round counts from what pcscd counted, not from the early look.
        state = reader_state(ctx, SWAP);
        assert!(
            events >= 2,
            "round {round}: a removal and an insertion: {events} event(s)"
        );
        assert_eq!(
            tx(&old, &echo_command(&[2])),
            Err(Error::RemovedCard),
            "round {round}: the old handle never reaches the new card"
        );
        drop(old);
        let new = connect(ctx, SWAP, Protocols::ANY);
        assert_eq!(tx(&new, &echo_command(&[3])), Ok(vec![mark, 3, 0x90, 0x00]));
        disconnect(new);
        hangup = next_hangup;
        card_side = next_side;
    }
    hangup.shutdown(Shutdown::Both).unwrap();
    card_side.join().unwrap();
    assert_removal_seen(ctx, &mut state, "removed");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Insertion (connect → PRESENT) and removal (hang-up → EMPTY) as a client of pcscd
/// sees them; printed, not asserted.
fn latency(ctx: &Context, port: u16) {
    let mut state = reader_state(ctx, CLOSE);
    assert!(empty(&state), "no card before the measurement");
    let (mut ins, mut rem) = (Vec::new(), Vec::new());
    for i in 0..9u64 {
        // Vary the pause so that no periodic timer in the path phase-locks with
        // this loop.
        std::thread::sleep(Duration::from_millis(3 + i * 7 % 11));
        let t0 = Instant::now();
        let peer = Peer::connect(port);
        let hangup = peer.hangup_handle();
        let card_side = peer.spawn_echo(&ATR_A);
        assert_card_seen(ctx, &mut state, "inserted");
        ins.push(t0.elapsed());
        // Let pcscd settle (its power-up is done when clients are told).
        std::thread::sleep(Duration::from_millis(20 + i * 5 % 13));
        let t0 = Instant::now();
        hangup.shutdown(Shutdown::Both).unwrap();
        assert!(
            wait_for(ctx, &mut state, Duration::from_secs(5), empty),
            "removed"
        );
        rem.push(t0.elapsed());
        card_side.join().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let ms = |d: &Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    eprintln!(
        "    LATENCY insertion median {} ms ({}), removal median {} ms ({})",
        ms(&median(ins.clone())),
        ins.iter().map(ms).collect::<Vec<_>>().join(" "),
        ms(&median(rem.clone())),
        rem.iter().map(ms).collect::<Vec<_>>().join(" ")
    );
}

/// pcscd powers a new card up and the peer trickles its ATR (one byte a second, on
/// a reader whose message deadline is 60 s); pcscd is stopped (SIGINT) meanwhile.
/// Its event thread is inside IFDHPowerICC and holds the reader's lock, so nothing
/// reaches the driver until the power-up ends: pcscd must still close the channel,
/// unload the driver and exit by itself, not when the trickle or the 60 s end.
fn shutdown_while_stuck(pcscd: &mut Pcscd, port: u16) {
    let mut peer = Peer::connect(port);
    let trickler = std::thread::spawn(move || {
        while let Some(message) = peer.read_message() {
            if message == [4] {
                peer.trickle(&frame(&ATR_A), Duration::from_secs(1));
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let exited = pcscd.stop();
    let took = t0.elapsed();
    eprintln!("    pcscd stopped {took:?} after SIGINT");
    assert!(
        exited,
        "pcscd exits by itself while the peer trickles its ATR (not killed)"
    );
    let log = pcscd.log();
    assert!(
        log.contains("Unloading reader driver"),
        "IFDHCloseChannel ran and the driver was unloaded"
    );
    trickler.join().unwrap();
}
