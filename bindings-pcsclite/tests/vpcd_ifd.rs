//! The `vpcd:` backend through the exported IFDH functions, called directly as
//! pcscd would, against scripted virtual cards: what must hold at the very moment
//! a call returns (no pcscd scheduling in between), and the DEVICENAME options.

#[path = "support/ifdh.rs"]
mod ifdh;

use std::net::Shutdown;
use std::time::{Duration, Instant};

use ifd_readerkit::*;
use ifdh::{close, open, power_up, presence, transmit};
use readerkit_testkit::pcscd::free_port;
use readerkit_testkit::vpcd_peer::{ATR_A, ATR_B, Peer, echo_answer, echo_command};

/// Wait until the reader reports `want` (the listener thread runs on its own).
fn await_presence(lun: DWORD, want: RESPONSECODE) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while presence(lun) != want {
        assert!(Instant::now() < deadline, "presence never became {want}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Power up and select T=1, as pcscd does on SCardConnect.
fn connect(lun: DWORD, atr: &[u8]) {
    assert_eq!(power_up(lun), Ok(atr.to_vec()));
    // SAFETY: plain call.
    assert_eq!(
        unsafe { IFDHSetProtocolParameters(lun, 2, 0, 0, 0, 0) },
        IFD_SUCCESS
    );
}

/// Open `lun` as a `vpcd:` reader listening on a free port: the port.
fn open_vpcd(lun: DWORD) -> u16 {
    let port = free_port();
    assert_eq!(open(lun, &format!("vpcd:{port}")), IFD_SUCCESS);
    port
}

#[test]
fn the_timeout_option_is_accepted_and_malformed_names_are_refused() {
    let port = free_port();
    let lun: DWORD = 0x0070_0000;
    assert_eq!(open(lun, &format!("vpcd:{port}:timeout=30")), IFD_SUCCESS);
    assert_eq!(close(lun), IFD_SUCCESS);
    assert_eq!(
        open(lun, &format!("vpcd:127.0.0.1:{port}:timeout=1")),
        IFD_SUCCESS
    );
    assert_eq!(close(lun), IFD_SUCCESS);
    for bad in [
        format!("vpcd:{port}:timeout=0"),
        format!("vpcd:{port}:timeout=abc"),
        format!("vpcd:{port}:timeout=30:timeout=30"),
        format!("vpcd:{port}:speed=9600"),
        "vpcd:timeout=30".to_owned(),
    ] {
        assert_eq!(open(lun, &bad), IFD_NO_SUCH_DEVICE, "{bad}");
    }
}

/// The peer hangs up instead of answering: the transmit fails, and the very next
/// IFDHICCPresence says the card is gone (no stale "present").
#[test]
fn presence_right_after_a_transmit_that_lost_the_card_is_not_present() {
    let lun: DWORD = 0x0071_0000;
    let port = open_vpcd(lun);
    for round in 0..3 {
        let mut peer = Peer::connect(port);
        let card_side = std::thread::spawn(move || {
            peer.serve(&ATR_A, |peer, _| {
                peer.close();
                false
            });
        });
        await_presence(lun, IFD_ICC_PRESENT);
        connect(lun, &ATR_A);
        assert!(
            transmit(lun, 1, &echo_command(&[1])).is_err(),
            "round {round}"
        );
        assert_eq!(
            presence(lun),
            IFD_ICC_NOT_PRESENT,
            "round {round}: no stale state"
        );
        card_side.join().unwrap();
    }
    assert_eq!(close(lun), IFD_SUCCESS);
}

/// A transmit waits on a card that never answers (the default 120 s deadline):
/// IFDHCloseChannel from another thread (pcscd calls it without the reader lock
/// after 0.5 s of trying) returns within 1 s and the transmit fails. The Lun can be
/// opened again on the same port the moment the close returns: the close has
/// stopped the old reader's listener, whoever still holds the old reader.
#[test]
fn close_channel_returns_within_a_second_whatever_the_peer_does() {
    let lun: DWORD = 0x0072_0000;
    let port = open_vpcd(lun);
    let mut peer = Peer::connect(port);
    let card_side = std::thread::spawn(move || {
        // Answer power-up, then swallow every command in silence.
        peer.serve(&ATR_A, |_, _| true);
    });
    await_presence(lun, IFD_ICC_PRESENT);
    connect(lun, &ATR_A);
    let stuck = std::thread::spawn(move || transmit(lun, 1, &echo_command(&[1])));
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    assert_eq!(close(lun), IFD_SUCCESS);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "IFDHCloseChannel took {took:?}"
    );
    assert_eq!(
        open(lun, &format!("vpcd:{port}")),
        IFD_SUCCESS,
        "the same Lun and port again, at once"
    );
    assert!(stuck.join().unwrap().is_err(), "the stuck transmit failed");
    card_side.join().unwrap();
    assert_eq!(
        presence(lun),
        IFD_ICC_NOT_PRESENT,
        "the new reader: no card"
    );
    assert_eq!(close(lun), IFD_SUCCESS);
}

/// One card hangs up and the next is already waiting to connect, with nobody
/// polling: the reader is reported empty before the next card is reported
/// present; a command for the powered-up old card never reaches the new one.
#[test]
fn a_swapped_card_is_absent_first_and_old_commands_never_reach_it() {
    let lun: DWORD = 0x0073_0000;
    let port = open_vpcd(lun);
    let first = Peer::connect(port);
    let first_hangup = first.hangup_handle();
    let first_side = first.spawn_echo(&ATR_A);
    await_presence(lun, IFD_ICC_PRESENT);
    connect(lun, &ATR_A);
    assert_eq!(
        transmit(lun, 1, &echo_command(&[1])),
        Ok(vec![1, 0x90, 0x00])
    );

    let mut second = Peer::connect(port);
    first_hangup.shutdown(Shutdown::Both).unwrap();
    first_side.join().unwrap();
    let second_side = std::thread::spawn(move || {
        let mut apdus = 0;
        second.serve(&ATR_B, |peer, apdu| {
            apdus += 1;
            peer.send(&echo_answer(apdu));
            true
        });
        apdus
    });
    // The old card's session: refused, whatever the listener is doing.
    assert!(transmit(lun, 1, &echo_command(&[2])).is_err());
    assert_eq!(presence(lun), IFD_ICC_NOT_PRESENT, "the removal is visible");
    await_presence(lun, IFD_ICC_PRESENT);
    connect(lun, &ATR_B);
    assert_eq!(
        transmit(lun, 1, &echo_command(&[3])),
        Ok(vec![3, 0x90, 0x00])
    );
    assert_eq!(close(lun), IFD_SUCCESS);
    assert_eq!(
        second_side.join().unwrap(),
        1,
        "only the new session's command reached the new card"
    );
}

/// Frames the reader never asked for, sent before power-up and after an answer,
/// are never taken as the ATR or as a later answer. (The client waits until the
/// peer's stray frame is out before its next command: one arriving after the
/// command is indistinguishable from the answer.)
#[test]
fn stray_frames_are_discarded() {
    let lun: DWORD = 0x0074_0000;
    let port = open_vpcd(lun);
    let mut peer = Peer::connect(port);
    // Written before the power-up below is even asked for.
    peer.send(&[0x3B, 0x00]);
    let hangup = peer.hangup_handle();
    let (idle_tx, idle_rx) = std::sync::mpsc::channel();
    let card_side = std::thread::spawn(move || {
        peer.serve(&ATR_A, |peer, apdu| {
            peer.send(&echo_answer(apdu));
            peer.send(&[0x6A, 0x82]);
            idle_tx.send(()).is_ok()
        });
    });
    await_presence(lun, IFD_ICC_PRESENT);
    connect(lun, &ATR_A);
    for i in 0..10u8 {
        assert_eq!(
            transmit(lun, 1, &echo_command(&[i, i])),
            Ok(vec![i, i, 0x90, 0x00])
        );
        idle_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
    hangup.shutdown(Shutdown::Both).unwrap();
    card_side.join().unwrap();
    assert_eq!(close(lun), IFD_SUCCESS);
}
