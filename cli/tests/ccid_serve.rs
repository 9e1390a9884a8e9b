//! `readerkit ccid-serve` on its pseudo-terminal, spoken to directly with the
//! bytes libccid sends (no pcscd here; `bindings-ccid/tests/pcscd.rs` runs the real
//! host stack): the path comes alone on the first line, a GemPC Twin echoes each
//! frame and answers the firmware request, the SEC1210 does not echo, stdin moves
//! cards, and bad options are usage errors; hostile peers: a second command while
//! one runs (and a NAK after its busy answer), a frame cut short, a frame
//! trickled, a flood of frames.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use readerkit_testkit::apdu;
use readerkit_testkit::ccid::{busy_until_absent, message};
use readerkit_testkit::ccid_serve::Serve;
use readerkit_testkit::cli::assert_usage_errors;
use readerkit_testkit::frozen::FrozenThread;
use readerkit_testkit::served::Served as Watched;
use readerkit_testkit::t1;
use readerkit_testkit::twin_peer::{
    frame, open_raw, read_answer, read_message, read_n, send_echoed,
};

/// libccid's first frame on open: Escape `02` (firmware version), seq 0.
const FIRMWARE_REQUEST: [u8; 14] = [
    0x03, 0x06, 0x6B, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x6D,
];

/// This build's `ccid-serve`, and its terminal opened raw.
struct Served {
    serve: Serve,
    port: File,
}

fn serve(args: &[&str]) -> Served {
    let serve = Serve::start_program(Path::new(env!("CARGO_BIN_EXE_readerkit")), args);
    let port = open_raw(&serve.path);
    Served { serve, port }
}

#[test]
fn gempctwin_echoes_and_answers_the_firmware_request() {
    let mut s = serve(&["--reader", "gempctwin", "--card", "t1"]);
    s.port.write_all(&FIRMWARE_REQUEST).unwrap();
    assert_eq!(read_n(&mut s.port, 14), FIRMWARE_REQUEST, "the echo");
    let firmware = b"readerkit-ccid GemPC Twin 0.1";
    // RDR_to_PC_Escape, bStatus 01: a card present, not powered.
    let mut message = vec![0x83, firmware.len() as u8, 0, 0, 0, 0, 0, 0x01, 0, 0];
    message.extend_from_slice(firmware);
    assert_eq!(read_n(&mut s.port, message.len() + 3), frame(&message));

    // A bad LRC is answered with NAK.
    let mut bad = FIRMWARE_REQUEST;
    bad[13] ^= 0xFF;
    s.port.write_all(&bad).unwrap();
    assert_eq!(read_n(&mut s.port, 3), [0x03, 0x15, 0x16]);

    // The card is taken out: an unframed NotifySlotChange, then GetSlotStatus says
    // absent.
    s.serve.remove(0);
    assert_eq!(read_n(&mut s.port, 2), [0x50, 0x02]);
    let status = [0x65, 0, 0, 0, 0, 0, 7, 0, 0, 0];
    send_echoed(&mut s.port, &status);
    assert_eq!(
        read_n(&mut s.port, 13),
        frame(&[0x81, 0, 0, 0, 0, 0, 7, 0x02, 0x00, 0x03])
    );
    s.serve.insert(0);
    assert_eq!(read_n(&mut s.port, 2), [0x50, 0x03]);
}

#[test]
fn sec1210_has_two_slots_and_no_echo() {
    let mut s = serve(&["--reader", "sec1210", "--card", "t0,empty"]);
    for (slot, icc) in [(0u8, 0x01u8), (1, 0x02)] {
        let status = [0x65, 0, 0, 0, 0, slot, 9, 0, 0, 0];
        s.port.write_all(&frame(&status)).unwrap();
        assert_eq!(
            read_n(&mut s.port, 13),
            frame(&[0x81, 0, 0, 0, 0, slot, 9, icc, 0x00, 0x03])
        );
    }
    // Slot 2 does not exist: bError 5.
    let status = [0x65, 0, 0, 0, 0, 2, 10, 0, 0, 0];
    s.port.write_all(&frame(&status)).unwrap();
    assert_eq!(
        read_n(&mut s.port, 13),
        frame(&[0x81, 0, 0, 0, 0, 2, 10, 0x42, 0x05, 0x03])
    );
}

#[test]
fn control_lines_that_name_no_slot_or_keypad_move_nothing() {
    let mut served = Watched::start_watched(
        env!("CARGO_BIN_EXE_readerkit"),
        &["ccid-serve", "--reader", "gempctwin", "--card", "t1"],
    );
    let mut port = open_raw(&served.first_line);
    for (line, said) in [
        ("remove x", "no slot `x`"),
        ("remove 1", "no slot `1`"),
        ("remove 0 now", "unknown control `remove 0 now`"),
        ("keys 12", "no keypad (start with --reader gempcpinpad)"),
    ] {
        writeln!(served.stdin, "{line}").unwrap();
        served.wait_stderr(said);
    }
    // Slot 0 still holds its card: no NotifySlotChange (50 02) came before the
    // echo, and GetSlotStatus says present, not powered.
    let status = [0x65, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    send_echoed(&mut port, &status);
    assert_eq!(
        read_n(&mut port, 13),
        frame(&[0x81, 0, 0, 0, 0, 0, 1, 0x01, 0x00, 0x03])
    );
}

#[test]
fn bad_options_are_usage_errors() {
    // Nothing on stdout: no pty path printed.
    assert_usage_errors(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        "ccid-serve",
        &[
            &["--reader", "omnikey"],
            &["--card", "t9"],
            &["--bogus"],
            // More cards than the reader has slots.
            &["--card", "t0,t1"],
            &["--reader", "sec1210", "--card", "t0,t1,t1"],
            // Keys for a reader without a keypad.
            &["--keys", "1234E"],
            &["--reader", "sec1210", "--keys", "1"],
            // A card's work without a card that asks for time.
            &["--work-ms", "50"],
        ],
    );
}

/// Check an answer without data: bMessageType, bSlot, bSeq, bStatus, bError.
fn assert_header(answer: &[u8], [kind, slot, seq, status, error]: [u8; 5]) {
    assert_eq!(answer[..5], [kind, 0, 0, 0, 0], "{answer:02X?}");
    assert_eq!(answer[5..9], [slot, seq, status, error], "{answer:02X?}");
}

/// GET CHALLENGE for 8 bytes, a T=0 TPDU in an XfrBlock for slot 0.
fn get_challenge(seq: u8) -> Vec<u8> {
    message(0x6F, seq, &apdu::get_challenge(8))
}

/// The options of a SEC1210 with a slow T=0 card in slot 0 (working `work_ms`
/// behind each request for more time) and a T=1 card in slot 1.
fn slow_sec1210(work_ms: &str) -> [&str; 7] {
    [
        "--reader",
        "sec1210",
        "--card",
        "t0,t1",
        "--slow",
        "--work-ms",
        work_ms,
    ]
}

/// [`slow_sec1210`] with slot 0 powered (seq 1).
fn slow_sec1210_powered(work_ms: &str) -> Served {
    let mut s = serve(&slow_sec1210(work_ms));
    power_slot_0(&mut s.port);
    s
}

/// Power the card in slot 0 on (seq 1).
fn power_slot_0(port: &mut File) {
    let power_on = [0x62, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    port.write_all(&frame(&power_on)).unwrap();
    let atr = read_message(port);
    assert_eq!(atr[..1], [0x80]);
    assert_eq!(atr[6..9], [1, 0x00, 0x00], "powered: {atr:02X?}");
}

/// Send `message` and read frames until its time extension (bmCommandStatus 2)
/// has come: the card is at work behind it now. Returns the time extension.
fn start_slow_command(port: &mut File, message: &[u8]) -> Vec<u8> {
    port.write_all(&frame(message)).unwrap();
    let extension = read_message(port);
    assert_eq!(extension[0], 0x80, "{extension:02X?}");
    assert_eq!(extension[5..7], message[5..7], "{extension:02X?}");
    assert_eq!(
        extension[7] & 0xC0,
        0x80,
        "time extension: {extension:02X?}"
    );
    extension
}

/// A hostile peer (not libccid) sends a second command while a slow card works:
/// it is refused with CMD_SLOT_BUSY at once (bError E0, its own bSlot/bSeq), as
/// is a command for the SEC1210's other slot (bMaxCCIDBusySlots 1), and the first
/// command's answer comes afterwards intact. A PC_to_RDR_Abort stops a running
/// command: CMD_ABORTED (bError FF) for it, then the Abort's slot status; the
/// card works again after a new power on.
#[test]
fn second_command_while_one_runs_is_slot_busy_and_abort_stops_it() {
    let mut s = slow_sec1210_powered("1500");
    let power_on = |seq| [0x62, 0, 0, 0, 0, 0, seq, 0, 0, 0];

    start_slow_command(&mut s.port, &get_challenge(2));
    // GetSlotStatus for the same slot, then for the other slot (the card there
    // present, not powered): both CMD_SLOT_BUSY.
    for (slot, seq, icc) in [(0u8, 3u8, 0x40u8), (1, 4, 0x41)] {
        let status = [0x65, 0, 0, 0, 0, slot, seq, 0, 0, 0];
        s.port.write_all(&frame(&status)).unwrap();
        assert_eq!(
            read_message(&mut s.port),
            [0x81, 0, 0, 0, 0, slot, seq, icc, 0xE0, 0x03],
            "CMD_SLOT_BUSY for slot {slot}"
        );
    }
    let answer = read_message(&mut s.port);
    assert_eq!(answer[..10], [0x80, 10, 0, 0, 0, 0, 2, 0x00, 0x00, 0x00]);
    assert_eq!(answer[18..], [0x90, 0x00], "{answer:02X?}");
    // Not busy any more.
    let status = [0x65, 0, 0, 0, 0, 0, 3, 0, 0, 0];
    s.port.write_all(&frame(&status)).unwrap();
    assert_eq!(
        read_message(&mut s.port),
        [0x81, 0, 0, 0, 0, 0, 3, 0x00, 0x00, 0x00]
    );

    start_slow_command(&mut s.port, &get_challenge(5));
    let abort = [0x72, 0, 0, 0, 0, 0, 6, 0, 0, 0];
    s.port.write_all(&frame(&abort)).unwrap();
    // CMD_ABORTED for the command, then the Abort's slot status: the T=0 card was
    // left inside its exchange, which only a reset ends, so it was deactivated,
    // yet the slot stays active for the host (bmICCStatus 0: a stock driver takes
    // an inactive card it powered for a swapped one) until the power-on below
    // resets it.
    assert_header(&read_message(&mut s.port), [0x80, 0, 5, 0x40, 0xFF]);
    assert_header(&read_message(&mut s.port), [0x81, 0, 6, 0x00, 0x00]);

    s.port.write_all(&frame(&power_on(7))).unwrap();
    assert_eq!(read_message(&mut s.port)[6..9], [7, 0x00, 0x00]);
    start_slow_command(&mut s.port, &get_challenge(8));
    let answer = read_message(&mut s.port);
    assert_eq!(answer[..10], [0x80, 10, 0, 0, 0, 0, 8, 0x00, 0x00, 0x00]);
    assert_eq!(answer[18..], [0x90, 0x00], "{answer:02X?}");
}

/// Send `message` to a GemPC Twin, read its echo and return its answer.
fn exchange(port: &mut File, message: &[u8]) -> Vec<u8> {
    send_echoed(port, message);
    read_message(port)
}

/// The flake this reproduces: under CPU load, pcscd's libccid gave up on
/// Escape 6A (GET_FIRMWARE_FEATURES, read with a 100 ms time-out on open) and its
/// next GetSlotStatus got CMD_SLOT_BUSY: the command worker, which ran every
/// command, had not been scheduled yet. With the worker held still here, what
/// libccid sends on open needs no card and is answered all the same, by the
/// thread reading the terminal; the power-on needs the card and waits for the
/// worker (a GetSlotStatus meanwhile is CMD_SLOT_BUSY), then comes with the ATR
/// once the worker runs, and the slot is free again.
#[test]
fn what_needs_no_card_is_answered_while_the_worker_is_stalled() {
    let mut s = serve(&["--reader", "gempctwin", "--card", "t1"]);
    let worker = FrozenThread::freeze_waiting(s.serve.pid(), "ccid-worker");
    let port = &mut s.port;
    // libccid 1.5.2's open of a GemPC Twin with driver option 2 (short APDU).
    let firmware = exchange(port, &message(0x6B, 0, &[0x02]));
    assert_eq!(firmware[10..], *b"readerkit-ccid GemPC Twin 0.1");
    for (seq, escape) in [(1u8, &[0x01, 0x01, 0x01][..]), (4, &[0x1F, 0x02])] {
        assert_header(
            &exchange(port, &message(0x6B, seq, escape)),
            [0x83, 0, seq, 0x01, 0],
        );
    }
    for seq in [2u8, 3] {
        let status = exchange(port, &message(0x65, seq, &[]));
        assert_eq!(status, [0x81, 0, 0, 0, 0, 0, seq, 0x01, 0x00, 0x03]);
    }
    let features = exchange(port, &message(0x6B, 5, &[0x6A]));
    assert_eq!(features[..10], [0x83, 21, 0, 0, 0, 0, 5, 0x01, 0, 0]);
    // Not powered: GetParameters fails without a card to ask (bError FE), at once.
    assert_header(
        &exchange(port, &message(0x6C, 6, &[])),
        [0x82, 0, 6, 0x41, 0xFE],
    );

    // The power-on waits for the worker (its echo goes out with its answer);
    // meanwhile the slot is busy.
    port.write_all(&frame(&message(0x62, 7, &[]))).unwrap();
    assert_eq!(
        exchange(port, &message(0x65, 8, &[])),
        [0x81, 0, 0, 0, 0, 0, 8, 0x41, 0xE0, 0x03],
        "CMD_SLOT_BUSY while the power-on waits"
    );
    drop(worker);
    assert_eq!(read_message(port), message(0x62, 7, &[]), "the echo");
    let atr = read_message(port);
    assert_eq!(
        (atr[0], &atr[5..9]),
        (0x80, &[0, 7, 0x00, 0][..]),
        "{atr:02X?}"
    );
    assert_eq!(atr[10..12], [0x3B, 0x9B], "the T=1 card's ATR: {atr:02X?}");
    let status = exchange(port, &message(0x65, 9, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 9, 0x00, 0x00, 0x00]);
}

/// The card is taken out (a `remove` line on stdin) while a slow card works on
/// a command: the thread reading the terminal reports it to the core and goes
/// on reading the host, never waiting for the command. GetSlotStatus is
/// answered CMD_SLOT_BUSY meanwhile, soon with the card absent; a
/// PC_to_RDR_Abort stops the command (CMD_ABORTED); then the card leaves the
/// line, the removal is notified (NotifySlotChange), and the Abort's slot status
/// says absent. The card's work (60 s) ends only by the abort: before the fix,
/// the `remove` held the reading thread until then and nothing was answered.
#[test]
fn a_card_moved_while_a_command_runs_does_not_hold_up_the_host() {
    let mut s = slow_sec1210_powered("60000");
    start_slow_command(&mut s.port, &get_challenge(2));

    s.serve.remove(0);
    // The reading thread takes the line from stdin when it gets to it: until
    // then the busy answers say the card is in and powered (bmICCStatus 0),
    // after it absent (2).
    let seq = busy_until_absent(3, |_, status| {
        s.port.write_all(&frame(status)).unwrap();
        read_message(&mut s.port)
    });

    let abort = [0x72, 0, 0, 0, 0, 0, seq + 1, 0, 0, 0];
    s.port.write_all(&frame(&abort)).unwrap();
    assert_header(&read_message(&mut s.port), [0x80, 0, 2, 0x42, 0xFF]);
    // Slot 0 changed, now absent (bits 10); slot 1 holds its card (bits 01).
    assert_eq!(read_n(&mut s.port, 2), [0x50, 0x06], "the removal");
    assert_header(&read_message(&mut s.port), [0x81, 0, seq + 1, 0x02, 0x00]);
    let status = [0x65, 0, 0, 0, 0, 0, seq + 2, 0, 0, 0];
    s.port.write_all(&frame(&status)).unwrap();
    assert_eq!(
        read_message(&mut s.port),
        [0x81, 0, 0, 0, 0, 0, seq + 2, 0x02, 0x00, 0x03]
    );
    // Nothing runs: a card put in is notified at once.
    s.serve.insert(0);
    assert_eq!(read_n(&mut s.port, 2), [0x50, 0x07], "the insertion");
}

/// A host's NAK frame (SYNC, NAK, LRC): send the last frame again.
const NAK: [u8; 3] = [0x03, 0x15, 0x16];

/// A peer that goes quiet inside a frame (killed mid-write, or a header whose
/// dwLength was garbled on the line) is answered NAK once the line has been
/// quiet for the reader's frame gap (1 s), and the next frame is served. Before,
/// the next frame's bytes completed the half header (here dwLength 0x06...:
/// 100 MB skipped) and the reader answered nothing again; a garbled length of
/// FFFFFFFF made it deaf for 4 GiB of bytes.
#[test]
fn a_frame_cut_short_is_answered_nak_and_the_next_is_served() {
    let mut s = serve(&["--reader", "gempctwin", "--card", "t1"]);
    let status = |seq| frame(&[0x65, 0, 0, 0, 0, 0, seq, 0, 0, 0]);
    let header_of_4_gib = [0x03, 0x06, 0x6F, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 0, 0];
    for (seq, cut) in [(1u8, &status(0)[..5]), (2, &header_of_4_gib[..])] {
        s.port.write_all(cut).unwrap();
        // Within read_n's 5 s: the frame gap and a margin.
        assert_eq!(read_n(&mut s.port, 3), NAK, "NAK for {cut:02X?}");
        assert_eq!(
            exchange(&mut s.port, &status(seq)[2..12]),
            [0x81, 0, 0, 0, 0, 0, seq, 0x01, 0x00, 0x03],
            "served after {cut:02X?}"
        );
    }
}

/// A slow line (a byte every 100 ms, far under the frame gap) is no cut: the
/// frame is answered whole, once.
#[test]
fn a_frame_trickled_a_byte_every_100_ms_is_served() {
    let mut s = serve(&["--reader", "gempctwin", "--card", "t1"]);
    let message = [0x65, 0, 0, 0, 0, 0, 5, 0, 0, 0];
    for byte in frame(&message) {
        s.port.write_all(&[byte]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(read_message(&mut s.port), message, "the echo");
    assert_eq!(
        read_message(&mut s.port),
        [0x81, 0, 0, 0, 0, 0, 5, 0x01, 0x00, 0x03]
    );
}

/// A flood: 64 frames in one write, a bad one and stray bytes among them. Each
/// good frame gets its echo and answer, in order; the bad one a NAK in its place;
/// the stray bytes nothing. Then the host's NAK gets the last answer again.
#[test]
fn a_flood_of_frames_is_answered_in_order() {
    let mut s = serve(&["--reader", "gempctwin", "--card", "t1"]);
    let message = |seq: u8| [0x65, 0, 0, 0, 0, 0, seq, 0, 0, 0];
    let answer = |seq: u8| [0x81, 0, 0, 0, 0, 0, seq, 0x01, 0x00, 0x03];
    let mut flood = Vec::new();
    for seq in 0..64u8 {
        let mut f = frame(&message(seq));
        if seq == 20 {
            f[12] ^= 0xFF;
        }
        flood.extend_from_slice(&f);
        if seq % 8 == 0 {
            flood.extend_from_slice(&[0x42, 0x00]);
        }
    }
    s.port.write_all(&flood).unwrap();
    for seq in 0..64u8 {
        if seq == 20 {
            assert_eq!(read_n(&mut s.port, 3), NAK, "the bad frame");
            continue;
        }
        assert_eq!(read_message(&mut s.port), message(seq), "echo {seq}");
        assert_eq!(read_message(&mut s.port), answer(seq), "answer {seq}");
    }
    s.port.write_all(&NAK).unwrap();
    assert_eq!(read_n(&mut s.port, 13), frame(&answer(63)), "sent again");
}

/// A NAK gets exactly the last frame sent: a CMD_SLOT_BUSY answer given while a
/// command runs, then the command's own answer once it came. Before, a busy
/// answer was not kept as the last frame: the NAK got the power-on's ATR again.
#[test]
fn a_nak_after_a_busy_answer_gets_the_busy_answer() {
    let mut s = slow_sec1210_powered("1500");
    start_slow_command(&mut s.port, &get_challenge(2));
    let busy = [0x81, 0, 0, 0, 0, 0, 3, 0x40, 0xE0, 0x03];
    s.port
        .write_all(&frame(&[0x65, 0, 0, 0, 0, 0, 3, 0, 0, 0]))
        .unwrap();
    assert_eq!(read_message(&mut s.port), busy, "CMD_SLOT_BUSY");
    s.port.write_all(&NAK).unwrap();
    assert_eq!(read_message(&mut s.port), busy, "the busy answer again");
    let answer = read_message(&mut s.port);
    assert_eq!(answer[..10], [0x80, 10, 0, 0, 0, 0, 2, 0x00, 0x00, 0x00]);
    s.port.write_all(&NAK).unwrap();
    assert_eq!(
        read_message(&mut s.port),
        answer,
        "the command's answer again"
    );
}

/// A NAK right after the SEC1210's request for more time (a frame of its own)
/// gets that request again, then the command's answer comes as usual. Before,
/// the request was not kept as the last frame: the NAK got the power-on's ATR
/// again, an answer with another bSeq.
#[test]
fn a_nak_after_a_time_extension_gets_the_time_extension() {
    let mut s = slow_sec1210_powered("1500");
    let extension = start_slow_command(&mut s.port, &get_challenge(2));
    s.port.write_all(&NAK).unwrap();
    assert_eq!(
        read_message(&mut s.port),
        extension,
        "the time extension again"
    );
    let answer = read_message(&mut s.port);
    assert_eq!(answer[..10], [0x80, 10, 0, 0, 0, 0, 2, 0x00, 0x00, 0x00]);
}

/// ccid-serve `--trace` on a slow SEC1210 (`work_ms` of work), its terminal open,
/// slot 0 powered (seq 1) and a GET CHALLENGE (seq 2) working: the time extension
/// read.
fn traced_slow_get_challenge(work_ms: &str) -> (Watched, File) {
    let mut args = vec!["ccid-serve", "--trace"];
    args.extend(slow_sec1210(work_ms));
    let served = Watched::start_watched(env!("CARGO_BIN_EXE_readerkit"), &args);
    let mut port = open_raw(served.first_line.trim());
    power_slot_0(&mut port);
    start_slow_command(&mut port, &get_challenge(2));
    (served, port)
}

/// A host that sends PC_to_RDR_Abort and closes the terminal before the abort is
/// answered (pcscd killed as it aborts): the gate forgets that Abort with its
/// host (`Gate::disown`), and the next host to open the terminal hears nothing
/// of it, only the answers to what it sends itself. The worker is held still
/// from the abort until the next host has opened the terminal, so the gone
/// host's command and its Abort end while the next host listens. Before, the
/// worker still ran the Abort and sent its slot status (bSeq 3) to the next host
/// ahead of that host's own answer.
#[test]
fn an_abort_left_by_a_gone_host_is_not_answered_to_the_next() {
    let (served, mut port) = traced_slow_get_challenge("60000");
    let path = served.first_line.trim();
    // At rest in the card's work: frozen at once it could still hold the
    // frame kept for a NAK, which the close needs.
    let worker = FrozenThread::freeze_waiting(served.child.id(), "ccid-worker");
    port.write_all(&frame(&message(0x72, 3, &[]))).unwrap();
    served.wait_stderr("-> 72 00 00 00 00 00 03");
    drop(port);
    served.wait_stderr("(the host closed the terminal)");
    let mut port = open_raw(path);
    drop(worker);
    port.write_all(&frame(&message(0x65, 4, &[]))).unwrap();
    let status = read_message(&mut port);
    assert_eq!(status[..7], [0x81, 0, 0, 0, 0, 0, 4], "{status:02X?}");
}

/// An answer that goes out as its host closes the terminal, before the reading
/// thread has seen the close (pcscd killed as a command ends), waits unread in
/// the terminal. The next host must not read it ahead of its own answers: once
/// ccid-serve sees the close it empties what the terminal holds for the host.
/// The reading thread is held still while the gone host's command (bSeq 2)
/// finishes and its answer is written. Before, the next host's first read was
/// that answer instead of its own slot status (bSeq 4).
#[test]
fn an_answer_sent_as_its_host_closes_is_not_read_by_the_next() {
    let (served, port) = traced_slow_get_challenge("300");
    let path = served.first_line.trim();
    let reading = FrozenThread::freeze_main(served.child.id());
    drop(port);
    // The worker passed the gone-host check before printing this; the answer
    // follows into the terminal.
    served.wait_stderr("<- 80 0A 00 00 00 00 02");
    drop(reading);
    served.wait_stderr("(the host closed the terminal)");
    let mut port = open_raw(path);
    port.write_all(&frame(&message(0x65, 4, &[]))).unwrap();
    let status = read_message(&mut port);
    assert_eq!(status[..7], [0x81, 0, 0, 0, 0, 0, 4], "{status:02X?}");
}

/// ccid-serve `--trace` as a GemPC Twin.
fn traced_gempctwin() -> Watched {
    Watched::start_watched(
        env!("CARGO_BIN_EXE_readerkit"),
        &["ccid-serve", "--trace", "--reader", "gempctwin"],
    )
}

/// The next host's own slot status request (bSeq `seq`) is the first thing it
/// hears answered.
#[track_caller]
fn next_host_hears_only_its_own(port: &mut File, seq: u8) {
    send_echoed(port, &message(0x65, seq, &[]));
    let status = read_message(port);
    assert_eq!(status[..7], [0x81, 0, 0, 0, 0, 0, seq], "{status:02X?}");
}

/// While ccid-serve's reading thread is held still (`reading`): the `gone` host
/// writes a GetSlotStatus frame (bSeq `seq`) and closes the terminal at `path`,
/// and a next host opens it; then the thread runs again. The next host's
/// terminal.
fn frame_left_as_the_next_host_opens(
    path: &str,
    reading: FrozenThread,
    mut gone: File,
    seq: u8,
) -> File {
    gone.write_all(&frame(&message(0x65, seq, &[]))).unwrap();
    drop(gone);
    let port = open_raw(path);
    drop(reading);
    port
}

/// A host that opens the terminal, writes a frame and closes it, and a next
/// host that opens it at once, all while ccid-serve does not look (its reading
/// thread held still; without that, within one 20 ms look): the first host's
/// frame is dropped, not answered to the second. The close is seen although the
/// terminal never reads hung up (inotify queues every open and close). Before,
/// the two looked like one host, and the next one's first answer was the
/// gone one's slot status (bSeq 21).
#[test]
fn a_frame_left_by_a_host_that_came_and_went_unseen_is_not_answered_to_the_next() {
    let served = traced_gempctwin();
    let path = served.first_line.trim();
    // What hosts do while the reading thread is held still happens while
    // nobody looks, as under a scheduler that does not run it.
    let reading = FrozenThread::freeze_main(served.child.id());
    let gone = open_raw(path);
    let mut port = frame_left_as_the_next_host_opens(path, reading, gone, 0x21);
    served.wait_stderr("(the host opened the terminal)");
    next_host_hears_only_its_own(&mut port, 0x22);
}

/// The same with a host that was being served: it writes a frame and closes
/// the terminal, and the next host opens it, while ccid-serve does not look.
/// Before, the terminal read the frame with no EIO (the next host had it open):
/// no close, no next host, and the frame (bSeq 31) answered to it.
#[test]
fn a_frame_left_by_a_served_host_gone_unseen_is_not_answered_to_the_next() {
    let served = traced_gempctwin();
    let path = served.first_line.trim();
    let mut gone = open_raw(path);
    next_host_hears_only_its_own(&mut gone, 0x30);
    served.wait_stderr("(the host opened the terminal)");
    let reading = FrozenThread::freeze_main(served.child.id());
    let mut port = frame_left_as_the_next_host_opens(path, reading, gone, 0x31);
    // A second host, not the first one going on (before, this never came).
    served.wait_stderr("(the host opened the terminal)");
    next_host_hears_only_its_own(&mut port, 0x32);
}

/// A T=1 card's S(WTX request) (`--slow`: multiplier 2) reaches a GemPC Twin's
/// host as the exchange level says (`twin::Profile::more_time`): at the TPDU
/// level the host relays T=1 blocks and gets the S(WTX) block itself as the
/// answer, with no time request; at the short APDU level (Escape `1F 02`) the
/// reader's T=1 engine grants it and the host gets the time request byte 82
/// before the APDU's answer.
#[test]
fn a_t1_cards_wtx_reaches_the_host_as_the_exchange_level_says() {
    let mut s = serve(&["--reader", "gempctwin", "--card", "t1", "--slow"]);
    let port = &mut s.port;
    let atr = exchange(port, &message(0x62, 1, &[]));
    assert_eq!(atr[7..9], [0, 0], "powered: {atr:02X?}");
    // TPDU level: an I-block with GET CHALLENGE; the card's answer is S(WTX).
    let xfr = message(0x6F, 2, &t1::block(0x00, &apdu::get_challenge(8)));
    send_echoed(port, &xfr);
    let (requests, answer) = read_answer(port);
    assert_eq!(requests, [], "no time request at the TPDU level");
    assert_eq!(answer[10..13], [0x00, 0xC3, 0x01], "S(WTX): {answer:02X?}");
    // Short APDU level: the reader grants the S(WTX), the host is asked.
    let switched = exchange(port, &message(0x6B, 3, &[0x1F, 0x02]));
    assert_eq!(switched[7..9], [0, 0], "{switched:02X?}");
    let atr = exchange(port, &message(0x62, 4, &[]));
    assert_eq!(atr[7..9], [0, 0], "powered: {atr:02X?}");
    let apdu = get_challenge(5);
    send_echoed(port, &apdu);
    let (requests, answer) = read_answer(port);
    assert_eq!(requests, [0x82], "the time request for S(WTX) x2");
    assert_eq!(
        answer[..10],
        [0x80, 10, 0, 0, 0, 0, 5, 0, 0, 0],
        "{answer:02X?}"
    );
    assert_eq!(answer[18..], [0x90, 0x00]);
}
