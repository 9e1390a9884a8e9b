//! A card in specific mode (TA2) under the real pcscd (Debian's), through the
//! `vpcd:` backend with a scripted virtual card (`readerkit_testkit::vpcd_peer`)
//! answering a chosen ATR; the client is the `pcsc` crate.
//!
//! A card whose TA1 rate is above the reader's (the `vpcd:` reader has the typical
//! 115 200 bit/s) is powered but not selected by the core: SET_PROTOCOL answers
//! `NotSupported` (`IFD_PROTOCOL_NOT_SUPPORTED` to pcscd), TRANSMIT
//! `InvalidDeviceState`. This pins what a PC/SC client then sees, that no command
//! reaches the card, and that the reader serves the next card (an ordinary one,
//! then a specific-mode card the reader can run) as usual.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcsc::{Context, Error, Protocols, Scope, ShareMode, State};
use readerkit_testkit::hex;
use readerkit_testkit::memory::with_tck;
use readerkit_testkit::pcsc::{connect, disconnect, reader, reader_state, step, tx};
use readerkit_testkit::pcscd::{Pcscd, free_port, require_pcscd};
use readerkit_testkit::vpcd_peer::{ATR_A, Peer, echo_answer, echo_command};

const SPEC: &str = "RK SPEC 00 00";

/// An ATR `3B 90 TA1 11 01 TCK`: T=1 only (TD1 = 11, TA2 present), TA2 = 01
/// (specific mode in T=1 with TA1's parameters).
fn specific_atr(ta1: u8) -> Vec<u8> {
    with_tck([0x3B, 0x90, ta1, 0x11, 0x01, 0x00]).to_vec()
}

/// A virtual card answering `atr` and echo commands, counting the command APDUs
/// that reach it.
struct VirtualCard {
    hangup: std::net::TcpStream,
    apdus: Arc<AtomicUsize>,
    side: JoinHandle<()>,
}

impl VirtualCard {
    fn insert(port: u16, atr: Vec<u8>) -> VirtualCard {
        let mut peer = Peer::connect(port);
        let hangup = peer.hangup_handle();
        let apdus = Arc::new(AtomicUsize::new(0));
        let seen = apdus.clone();
        let side = std::thread::spawn(move || {
            peer.serve(&atr, |peer, apdu| {
                seen.fetch_add(1, Ordering::SeqCst);
                peer.send(&echo_answer(apdu));
                true
            });
        });
        VirtualCard {
            hangup,
            apdus,
            side,
        }
    }

    fn remove(self) -> usize {
        let _ = self.hangup.shutdown(std::net::Shutdown::Both);
        self.side.join().expect("card side");
        self.apdus.load(Ordering::SeqCst)
    }
}

/// Wait (at most 5 s) until pcscd shows a present card with `atr` in the reader.
fn wait_atr(ctx: &Context, atr: &[u8]) -> pcsc::ReaderState {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = reader_state(ctx, SPEC);
        if state.event_state().contains(State::PRESENT) && state.atr() == atr {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "pcscd shows the card {} (state {:?}, ATR {})",
            hex(atr),
            state.event_state(),
            hex(state.atr())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn specific_mode_card_the_reader_cannot_run_under_pcscd() {
    let started = Instant::now();
    require_pcscd();
    let port = free_port();
    let device = format!("vpcd:{port}");
    let mut pcscd = Pcscd::start_readerkit(&[("RK SPEC", &device)]);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    step("pcscd up", started);

    // TA1 = 96: F 512, D 32, 223 750 bit/s at the reader's 3.58 MHz.
    let fast = specific_atr(0x96);
    let card = VirtualCard::insert(port, fast.clone());
    let state = wait_atr(&ctx, &fast);
    assert!(!state.event_state().contains(State::MUTE), "not mute");
    // pcscd asks the ATR's protocol (T=1) for either request; the handler answers
    // IFD_PROTOCOL_NOT_SUPPORTED, which pcscd 1.9's PHSetProtocol takes as a
    // failed PPS: the connect fails with SCARD_W_UNRESPONSIVE_CARD, every time.
    for protocols in [Protocols::T0 | Protocols::T1, Protocols::T1, Protocols::T1] {
        let shared = ctx.connect(&reader(SPEC), ShareMode::Shared, protocols);
        assert_eq!(
            shared.as_ref().err(),
            Some(&Error::UnresponsiveCard),
            "SCardConnect {protocols:?}"
        );
    }
    // A direct connection works: the card is powered, no protocol, its ATR.
    let direct = ctx
        .connect(&reader(SPEC), ShareMode::Direct, Protocols::UNDEFINED)
        .expect("SCardConnect SHARE_DIRECT");
    let status = direct.status2_owned().expect("SCardStatus");
    assert_eq!(
        status.status(),
        pcsc::Status::PRESENT | pcsc::Status::POWERED | pcsc::Status::NEGOTIABLE
    );
    assert_eq!(status.protocol2(), None, "no protocol");
    assert_eq!(status.atr(), fast);
    disconnect(direct);
    let state = reader_state(&ctx, SPEC);
    assert!(
        state.event_state().contains(State::PRESENT) && !state.event_state().contains(State::MUTE),
        "still present, not mute: {:?}",
        state.event_state()
    );
    assert_eq!(card.remove(), 0, "no command reached the card");
    step(
        "a card faster than the reader: connect refused, direct works",
        started,
    );

    // The ordinary card (vicc's ATR, negotiable) in its place works as usual.
    let card = VirtualCard::insert(port, ATR_A.to_vec());
    wait_atr(&ctx, &ATR_A);
    let shared = connect(&ctx, SPEC, Protocols::T0 | Protocols::T1);
    assert_eq!(
        shared.status2_owned().unwrap().protocol2(),
        Some(pcsc::Protocol::T1)
    );
    assert_eq!(
        tx(&shared, &echo_command(&[1, 2, 3])),
        Ok(vec![1, 2, 3, 0x90, 0x00])
    );
    disconnect(shared);
    assert_eq!(card.remove(), 1, "the echo reached the ordinary card");
    step("the next card, an ordinary one, works", started);

    // A specific-mode card the reader can run (TA1 = 13: F 372, D 4, 38 400
    // bit/s): connected in T=1, its commands reach it.
    let runnable = specific_atr(0x13);
    let card = VirtualCard::insert(port, runnable.clone());
    wait_atr(&ctx, &runnable);
    let shared = connect(&ctx, SPEC, Protocols::T0 | Protocols::T1);
    let status = shared.status2_owned().unwrap();
    assert_eq!(status.protocol2(), Some(pcsc::Protocol::T1));
    // pcscd's state does not tell it from the card it refused: it never says
    // SPECIFIC.
    assert_eq!(
        status.status(),
        pcsc::Status::PRESENT | pcsc::Status::POWERED | pcsc::Status::NEGOTIABLE
    );
    assert_eq!(
        tx(&shared, &echo_command(&[4, 5])),
        Ok(vec![4, 5, 0x90, 0x00])
    );
    disconnect(shared);
    assert_eq!(card.remove(), 1, "the echo reached the card");
    step(
        "a specific-mode card within the reader's rate works",
        started,
    );

    drop(ctx);
    let log = pcscd.log();
    assert!(
        log.contains("SET_PROTOCOL mask 0x2 -> not supported")
            && log.contains("PTS protocol failed (607)"),
        "pcscd asked T=1 and took IFD_PROTOCOL_NOT_SUPPORTED (607) as a failed PPS:\n{log}"
    );
    pcscd.stop_and_check_log();
}
