//! `readerkit ccid-serve` against a hostile host on its terminal
//! (`readerkit_testkit::twin_abuse`): a seeded script of abuses, each followed by
//! a plain command that must get its answer; every PC_to_RDR type with a
//! malformed field; answers left unread until the terminal is full; a host
//! that writes and leaves before it is seen.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use readerkit_testkit::apdu::get_challenge;
use readerkit_testkit::ccid::message;
use readerkit_testkit::ccid_serve::{Serve, slow_gempctwin_t0};
use readerkit_testkit::served::Served;
use readerkit_testkit::twin_abuse::{Abuse, Abuser, NAK, flood_and_leave};
use readerkit_testkit::twin_peer::{frame, open_raw, read_answer, read_n};

fn abuser(seed: u64) -> (Serve, Abuser) {
    let serve = Serve::start_program(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        &["--reader", "gempctwin", "--card", "t1"],
    );
    let port = open_raw(&serve.path);
    (serve, Abuser::new(port, seed))
}

#[test]
fn each_abuse_once_then_the_next_command_is_answered() {
    let (_serve, mut host) = abuser(1);
    for abuse in Abuse::ALL {
        host.abuse(abuse);
        host.probe();
    }
}

#[test]
fn a_seeded_script_of_abuses() {
    let (_serve, mut host) = abuser(0x5EED_2026);
    host.run(24);
}

#[test]
fn every_command_type_with_a_malformed_field_names_the_field() {
    let (_serve, mut host) = abuser(7);
    host.every_malformed();
    host.probe();
}

/// 8000 GetSlotStatus and a GET CHALLENGE for 256 bytes (a T=0 card's
/// longest answer, 271 bytes framed) written while the host reads nothing:
/// the answers fill the terminal, ccid-serve's writes wait and it stops
/// reading, the host's writes wait in turn. Once the host reads, every answer
/// comes in order, the card's last, and the next command is served.
#[test]
fn answers_left_unread_until_the_terminal_is_full_all_arrive() {
    let serve = Serve::start_program(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        &["--reader", "gempctwin", "--card", "t0"],
    );
    let mut host = Abuser::new(open_raw(&serve.path), 9);
    let atr = host.command(&message(0x62, 0, &[]));
    assert_eq!(
        [atr[0], atr[7], atr[8]],
        [0x80, 0, 0],
        "powered: {atr:02X?}"
    );
    let get_challenge = message(0x6F, 0, &get_challenge(0));
    let answer = host.unread_answers(8000, Duration::from_secs(2), &get_challenge);
    assert_eq!(answer[..5], [0x80, 2, 1, 0, 0], "258 bytes: {answer:02X?}");
    assert_eq!(answer[answer.len() - 2..], [0x90, 0x00]);
    host.probe();
}

/// A host that opens the terminal, writes 200 commands and a frame cut short,
/// and closes it at once (ccid-serve may read its open and its close together,
/// and never serve it): the next host's first read is the answer to its own
/// command. Before, ccid-serve never saw that host, read its bytes once the
/// next host had opened the terminal and answered them to it: libccid read the
/// answer to a GetSlotStatus as its firmware version, and every answer after
/// that was one behind.
#[test]
fn what_a_host_wrote_before_it_left_unseen_is_not_answered_to_the_next() {
    let served = traced_gempctwin();
    let path = served.first_line.trim();
    flood_and_leave(path);
    // Seen at a look (its bytes dropped), or seen open and then gone.
    served.wait_stderr("(the host closed the terminal");
    let mut next = Abuser::new(open_raw(path), 5);
    next.probe();
}

/// A NAK while a command runs on a GemPC Twin, after its echo and before any
/// other frame: nothing is sent again (the command's answer is not out yet),
/// and the next frame is that answer. Before, the NAK got the last answer sent
/// (the power-on's ATR, bSeq 1), which the host would take for the answer to
/// the command running (bSeq 2).
#[test]
fn a_nak_while_a_command_runs_gets_no_older_answer() {
    let serve = Serve::start_program(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        &slow_gempctwin_t0("300"),
    );
    let mut port = open_raw(&serve.path);
    let power_on = message(0x62, 1, &[]);
    port.write_all(&frame(&power_on)).unwrap();
    assert_eq!(read_answer(&mut port).1, power_on, "the echo");
    assert_eq!(read_answer(&mut port).1[..7], [0x80, 14, 0, 0, 0, 0, 1]);
    let get_challenge = message(0x6F, 2, &get_challenge(8));
    port.write_all(&frame(&get_challenge)).unwrap();
    assert_eq!(read_answer(&mut port).1, get_challenge, "the echo");
    port.write_all(&NAK).unwrap();
    let answer = read_answer(&mut port).1;
    assert_eq!(answer[..7], [0x80, 10, 0, 0, 0, 0, 2], "{answer:02X?}");
}

/// A GetSlotStatus `seq` for slot 0 sent on `port`: its echo checked, its answer.
fn slot_status(port: &mut std::fs::File, seq: u8) -> Vec<u8> {
    let status = message(0x65, seq, &[]);
    port.write_all(&frame(&status)).unwrap();
    assert_eq!(read_answer(port).1, status, "the echo");
    read_answer(port).1
}

/// A NAK after a card movement notification gets the answer before it: the
/// notification (`50 bmSlotICCState`) is outside any frame and the host skips
/// it (libccid reads it and reads on), so a host that found that answer damaged
/// still waits for it. Then the next command sees the card gone.
#[test]
fn a_nak_after_a_card_movement_notification_gets_the_answer_before_it() {
    let mut serve = Serve::start_program(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        &["--reader", "gempctwin", "--card", "t1"],
    );
    let mut port = open_raw(&serve.path);
    let present = slot_status(&mut port, 1);
    assert_eq!(
        present[..9],
        [0x81, 0, 0, 0, 0, 0, 1, 0x01, 0],
        "{present:02X?}"
    );
    serve.remove(0);
    assert_eq!(read_n(&mut port, 2), [0x50, 0x02], "the card went");
    port.write_all(&NAK).unwrap();
    assert_eq!(read_answer(&mut port).1, present, "the answer again");
    let absent = slot_status(&mut port, 2);
    assert_eq!(
        absent[..9],
        [0x81, 0, 0, 0, 0, 0, 2, 0x02, 0],
        "no card: {absent:02X?}"
    );
}

/// A host that writes commands and never reads their answers until the
/// terminal is full both ways (ccid-serve's write of an answer waits, and it
/// reads no more), then closes it: the next host is served. ccid-serve keeps
/// its own end of the terminal open, so the terminal does not hang up when
/// the host closes: the waiting write ends on the host's close, seen with
/// inotify. Before, it waited for a reader that never came, and ccid-serve
/// served nobody again.
#[test]
fn a_host_that_leaves_the_terminal_full_does_not_stop_the_next_one() {
    use std::os::unix::fs::OpenOptionsExt;
    let served = traced_gempctwin();
    let path = served.first_line.trim();
    let mut host = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .unwrap();
    served.wait_stderr("(the host opened the terminal)");
    let status = frame(&message(0x65, 0, &[]));
    let mut written = 0usize;
    let mut refused_since = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // Written until the terminal has taken nothing for a second.
    while refused_since
        .is_none_or(|since: std::time::Instant| since.elapsed() < Duration::from_secs(1))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{written} bytes taken"
        );
        match host.write(&status) {
            Ok(n) => {
                written += n;
                refused_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                refused_since.get_or_insert_with(std::time::Instant::now);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(written > 4096, "only {written} bytes taken");
    drop(host);
    served.wait_stderr("(the host closed the terminal");
    let mut next = Abuser::new(open_raw(path), 11);
    next.probe();
}

/// ccid-serve `--trace` as a GemPC Twin, its stderr watched.
fn traced_gempctwin() -> Served {
    Served::start_watched(
        env!("CARGO_BIN_EXE_readerkit"),
        &["ccid-serve", "--trace", "--reader", "gempctwin"],
    )
}
