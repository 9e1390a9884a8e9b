//! `readerkit usbip-serve` spoken to by a scripted USB/IP client over TCP on
//! 127.0.0.1 (`readerkit_testkit::usbip`; the kernel's vhci-hcd and libccid are in
//! `tools/usbip-guest.sh`, by hand): the device list, an import, enumeration
//! (GET_DESCRIPTOR, SET_CONFIGURATION), CCID IccPowerOn and XfrBlock over bulk
//! URBs (answers split into packets, the zero-length packet), NotifySlotChange on
//! the interrupt URB, UNLINK, a stalled request, the list answered and a second
//! import refused while the device is imported, transfers in flight bounded; and
//! malformed peer input refused while the server goes on serving; with a slow
//! card, time extensions, CMD_SLOT_BUSY for a second command, ABORT (and a
//! class ABORT first failing commands CMD_ABORTED until its PC_to_RDR_Abort,
//! a malformed one not counting, nor a refused SET_CONFIGURATION ending it,
//! a second class ABORT pairing with the Abort sent before the first, but
//! none of the next client's once its client has gone), and a client
//! gone mid-command leaving no answer for the next; a notification sent again
//! when its URB is unlinked after it completed, and none left undelivered by a
//! client reaching the next one, a removal notified between XfrBlocks sent back
//! to back; an extended APDU chained across messages both
//! ways; with `--keys`, a PIN pad verifying the card's PIN through
//! PC_to_RDR_Secure; hostile peers: a bulk IN unlinked while the card works, a
//! client gone inside a message, unlinks of answered transfers and of a bulk
//! OUT not read yet, URBs trickled a
//! byte at a time, a flood of exchanges in one write, clients quiet before
//! their operation or inside a URB, connections by the dozen (handshakes in
//! flight bounded, in all and by address: one address holding its share
//! locks out nobody else), TCP keepalive on an imported connection, bulk and
//! interrupt transfers after SET_CONFIGURATION 0, an answer left on bulk IN
//! and notifications left undelivered across a configuration change, bulk IN
//! halted and cleared (ENDPOINT_HALT), also inside an answer, bulk OUT halted
//! inside a message and cleared, SET_INTERFACE inside a message, a URB naming
//! another device. Debian's own `usbip list`
//! (package `usbip`) is run against it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
use readerkit_testkit::ccid::{busy_until_absent, message as ccid};
use readerkit_testkit::cli::assert_usage_errors;
use readerkit_testkit::frozen::FrozenThread;
use readerkit_testkit::served::Served;
use readerkit_testkit::usbip::{
    BULK_IN_LEN, Client, RET_SUBMIT, RET_UNLINK, Reply, busid, op, submit, unlink, urb,
};

/// `readerkit usbip-serve` on a free port with `options`, and that port.
fn serve_with(options: &[&str]) -> (Served, u16) {
    start_serve(options, false)
}

/// [`serve_with`], its stderr watched ([`Served::wait_stderr`]).
fn serve_watched(options: &[&str]) -> (Served, u16) {
    start_serve(options, true)
}

fn start_serve(options: &[&str], watched: bool) -> (Served, u16) {
    let mut args = vec!["usbip-serve", "--port", "0"];
    args.extend_from_slice(options);
    let program = env!("CARGO_BIN_EXE_readerkit");
    let served = if watched {
        Served::start_watched(program, &args)
    } else {
        Served::start(program, &args)
    };
    let port = served.first_line.parse().unwrap();
    (served, port)
}

/// `readerkit usbip-serve` on a free port, and that port.
fn serve() -> (Served, u16) {
    serve_with(&[])
}

#[test]
fn bad_options_are_usage_errors() {
    // Nothing on stdout: no port printed, nothing served.
    assert_usage_errors(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        "usbip-serve",
        &[
            &["--card", "t0,t1"],
            &["--level", "long"],
            &["--port", "65536"],
            &["--keys", "12Q"],
            // A card's work without a card that asks for time.
            &["--port", "0", "--work-ms", "50"],
        ],
    );
}

fn reply(command: u32, seqnum: u32, status: i32, data: &[u8]) -> Reply {
    Reply {
        command,
        seqnum,
        status,
        actual_length: data.len() as u32,
        data: data.to_vec(),
    }
}

/// The control OUT request `setup` (no data stage) as transfer `seq`: the
/// device accepts it (RET_SUBMIT, status 0, no data).
#[track_caller]
fn control_out(c: &mut Client, seq: u32, setup: [u8; 8]) {
    c.send(&submit(seq, false, 0, 0, setup, &[]));
    assert_eq!(
        c.reply(false),
        reply(RET_SUBMIT, seq, 0, &[]),
        "{setup:02X?}"
    );
}

#[test]
fn a_ccid_reader_over_usbip() {
    let (mut served, port) = serve();

    // The device list: one device, bus id 1-1, GemPC Twin ids, one CCID interface.
    let mut c = Client::connect(port);
    c.send(&op(0x8005));
    let list = c.read(12 + 312 + 4);
    assert_eq!(list[..12], [1, 0x11, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&list[12 + 256..12 + 260], b"1-1\0");
    assert_eq!(list[12 + 300..12 + 304], [0x08, 0xE6, 0x34, 0x37]);
    assert_eq!(list[12 + 309..], [1, 1, 1, 0x0B, 0, 0, 0]);
    assert!(c.closed(), "the list ends the connection");

    let mut c = Client::import(port);
    listed_and_busy(port);
    // GET_DESCRIPTOR(device): 18 bytes, the ids again.
    let (status, device) = c.control_in(1, [0x80, 6, 0, 1, 0, 0, 64, 0]);
    assert_eq!(status, 0);
    assert_eq!((device.len(), device[0], device[1]), (18, 18, 1));
    assert_eq!(device[8..12], [0xE6, 0x08, 0x37, 0x34]);
    // GET_DESCRIPTOR(configuration): the header, then all of it (93 bytes: one
    // interface of class 0x0B, the 54-byte CCID descriptor, three endpoints).
    let (_, header) = c.control_in(2, [0x80, 6, 0, 2, 0, 0, 9, 0]);
    assert_eq!(header.len(), 9);
    let total = u16::from_le_bytes([header[2], header[3]]);
    assert_eq!(total, 9 + 9 + 54 + 3 * 7);
    let mut setup = [0x80, 6, 0, 2, 0, 0, 0, 0];
    setup[6..].copy_from_slice(&total.to_le_bytes());
    let (_, config) = c.control_in(3, setup);
    assert_eq!(config.len(), usize::from(total));
    assert_eq!((config[9 + 1], config[9 + 5]), (4, 0x0B), "CCID interface");
    assert_eq!(
        (config[18], config[19]),
        (54, 0x21),
        "CCID class descriptor"
    );
    let endpoints: Vec<(u8, u8)> = (0..3)
        .map(|i| (config[72 + i * 7 + 2], config[72 + i * 7 + 3]))
        .collect();
    assert_eq!(endpoints, [(0x01, 2), (0x81, 2), (0x82, 3)]);
    // SET_CONFIGURATION(1): a control OUT without data.
    c.configure(4);
    // A vendor request nobody answers: the device stalls it (-EPIPE).
    let (status, data) = c.control_in(5, [0xC0, 0x99, 0, 0, 0, 0, 4, 0]);
    assert_eq!((status, data.len()), (-32, 0));
    // A transfer to an endpoint the device does not have: -ENOENT.
    c.send(&submit(6, true, 5, 64, [0; 8], &[]));
    assert_eq!(c.reply(true), reply(RET_SUBMIT, 6, -2, &[]));

    // IccPowerOn: the ATR, bSeq echoed.
    let atr = c.exchange(10, &ccid(0x62, 7, &[]));
    assert_eq!(atr[..2], [0x80, 20]);
    assert_eq!(atr[6], 7, "bSeq");
    assert_eq!(atr.len(), 10 + 20);
    // XfrBlock ECHO of 200 bytes: four OUT packets, the answer in four IN packets.
    let data: Vec<u8> = (0..200u8).collect();
    let mut apdu = vec![0x80, 0xEE, 0, 0, 200];
    apdu.extend_from_slice(&data);
    apdu.push(0);
    let answer = c.exchange(12, &ccid(0x6F, 8, &apdu));
    assert_eq!(answer[..10], [0x80, 202, 0, 0, 0, 0, 8, 0, 0, 0]);
    assert_eq!(answer[10..210], data[..]);
    assert_eq!(answer[210..], [0x90, 0x00]);
    // An answer of exactly two packets (128 bytes) ends with a zero-length packet,
    // which completes the IN transfer.
    let mut apdu = vec![0x80, 0xEE, 0, 0, 116];
    apdu.extend_from_slice(&[0x5A; 116]);
    apdu.push(0);
    let answer = c.exchange(14, &ccid(0x6F, 9, &apdu));
    assert_eq!(answer.len(), 128);
    assert_eq!(answer[126..], [0x90, 0x00]);

    // The card is taken out: NotifySlotChange completes the interrupt IN URB.
    remove_awaited(&mut served, &mut c, 20);
    assert_eq!(c.reply(true), notified(20, REMOVED));
    // Another interrupt URB, cancelled: RET_UNLINK -ECONNRESET and no RET_SUBMIT;
    // cancelling it again finds nothing (status 0).
    c.send(&slot_change_urb(21));
    c.send(&unlink(22, 21));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 22, -104, &[]));
    c.send(&unlink(23, 21));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 23, 0, &[]));
    // GetSlotStatus now: no card (bmICCStatus 2).
    let status = c.exchange(30, &ccid(0x65, 10, &[]));
    assert_eq!((status[0], status[7] & 3), (0x81, 2));
}

/// While a client holds the device: the device list is still answered (one
/// device), another import is refused as busy (ST_DEV_BUSY) and closed.
fn listed_and_busy(port: u16) {
    let mut list = Client::connect(port);
    list.send(&op(0x8005));
    assert_eq!(list.read(12)[11], 1, "one device");
    let mut other = Client::connect(port);
    other.send(&op(0x8003));
    other.send(&busid("1-1"));
    assert_eq!(other.read(8), [1, 0x11, 0, 3, 0, 0, 0, 2], "busy");
    assert!(other.closed());
}

#[test]
fn transfers_in_flight_are_bounded() {
    let (_served, port) = serve();
    let mut c = configured(Client::import(port));
    // 64 interrupt IN transfers wait for a card movement; the 65th is refused at
    // once (-ENOMEM) ...
    for seq in 1..=64 {
        c.send(&slot_change_urb(seq));
    }
    c.send(&slot_change_urb(65));
    assert_eq!(c.reply(true), reply(RET_SUBMIT, 65, -12, &[]));
    // ... until one of them is cancelled: then the next is taken (it is pending,
    // so its own unlink cancels it).
    c.send(&unlink(66, 1));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 66, -104, &[]));
    c.send(&slot_change_urb(67));
    c.send(&unlink(68, 67));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 68, -104, &[]));
}

#[test]
fn malformed_peer_input_is_refused() {
    let (_served, port) = serve();
    let refused = |bytes: &[u8]| {
        let mut c = Client::connect(port);
        c.send(bytes);
        assert!(c.closed(), "{bytes:02X?}");
    };
    // Operations: another version, an unknown code, a bus id without NUL.
    refused(&[0x01, 0x06, 0x80, 0x05, 0, 0, 0, 0]);
    refused(&op(0x8002));
    let mut no_nul = op(0x8003);
    no_nul.extend_from_slice(&[b'1'; 32]);
    refused(&no_nul);
    // An unknown bus id: ST_NODEV, connection closed.
    let mut c = Client::connect(port);
    c.send(&op(0x8003));
    c.send(&busid("9-9"));
    assert_eq!(c.read(8), [1, 0x11, 0, 3, 0, 0, 0, 4]);
    assert!(c.closed());

    // URBs of an imported device: each malformed header ends the connection
    // (without reading or allocating what a bad length announces), and the next
    // import works.
    let bad_urbs: [[u32; 10]; 5] = [
        [7, 1, 0, 0, 0, 0, 0, 0, 0, 0],           // unknown command
        [1, 1, 0, 2, 1, 0, 0, 0, 0, 0],           // direction 2
        [1, 1, 0, 0, 16, 0, 0, 0, 0, 0],          // endpoint 16
        [1, 1, 0, 0, 1, 0, 0x7FFF_FFFF, 0, 0, 0], // 2 GiB of OUT data announced
        [1, 1, 0, 1, 1, 0, 64, 0, 4, 0],          // isochronous
    ];
    for words in bad_urbs {
        let mut c = Client::import(port);
        c.send(&urb(words, [0; 8]));
        assert!(c.closed(), "{words:?}");
    }
    // A header cut short by the client closing: the server goes on.
    let mut c = Client::import(port);
    c.send(&[0, 0, 0, 1, 0, 0]);
    drop(c);
    // Still serving: a device list, and Debian's usbip when it is installed.
    let mut c = Client::connect(port);
    c.send(&op(0x8005));
    assert_eq!(c.read(12)[11], 1, "one device");
    usbip_lists(port);
}

/// Submit an interrupt IN URB `seq` (waiting for a card movement), then take
/// the card out (a `remove 0` line on stdin: the slot number, as `ccid-serve`
/// takes it).
fn remove_awaited(served: &mut Served, c: &mut Client, seq: u32) {
    c.send(&slot_change_urb(seq));
    served.stdin.write_all(b"remove 0\n").unwrap();
}

/// A server and a client with the card powered on (transfers 1 to 3), then
/// taken out while interrupt URB 20 waits ([`remove_awaited`]).
fn removed_while_awaited() -> (Served, Client) {
    let (mut served, port) = serve();
    let mut c = power_on(Client::import(port));
    remove_awaited(&mut served, &mut c, 20);
    (served, c)
}

/// An interrupt IN URB `seq` on the CCID's interrupt endpoint (2, 8 bytes): it
/// completes with the next RDR_to_PC_NotifySlotChange.
fn slot_change_urb(seq: u32) -> Vec<u8> {
    submit(seq, true, 2, 8, [0; 8], &[])
}

/// RDR_to_PC_NotifySlotChange for slot 0: changed, card absent.
const REMOVED: [u8; 2] = [0x50, 0x02];
/// RDR_to_PC_NotifySlotChange for slot 0: changed, card present.
const INSERTED: [u8; 2] = [0x50, 0x03];

/// The completion of interrupt URB `seq` (status 0) carrying `change`.
fn notified(seq: u32, change: [u8; 2]) -> Reply {
    reply(RET_SUBMIT, seq, 0, &change)
}

/// Debian's `usbip list -r` (userspace only: no kernel module needed for a list).
fn usbip_lists(port: u16) {
    readerkit_testkit::pcscd::require("/usr/sbin/usbip", "usbip");
    let output = Command::new("usbip")
        .args(["--tcp-port", &port.to_string(), "list", "-r", "127.0.0.1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1-1:"), "{text}");
    assert!(text.contains("(08e6:3437)"), "{text}");
    assert!(text.contains("(0b/00/00)"), "{text}");
}

/// Configure the imported device (SET_CONFIGURATION 1, transfer 1).
fn configured(mut c: Client) -> Client {
    c.configure(1);
    c
}

/// Configure the imported device and power the card on (transfers 1 to 3).
fn power_on(c: Client) -> Client {
    let mut c = configured(c);
    let atr = c.exchange(2, &ccid(0x62, 0, &[]));
    assert_eq!(
        (atr[0], atr[7]),
        (0x80, 0),
        "IccPowerOn answered, card active"
    );
    c
}

/// The answer of a bulk-IN transfer `seq` submitted now (status 0).
fn bulk_in(c: &mut Client, seq: u32) -> Vec<u8> {
    c.send(&submit(seq, true, 1, BULK_IN_LEN, [0; 8], &[]));
    let answer = c.reply(true);
    assert_eq!(
        (answer.command, answer.seqnum, answer.status),
        (RET_SUBMIT, seq, 0)
    );
    answer.data
}

/// GetSlotStatus (bSeq `seq`) as the exchange of transfers `transfer` and
/// `transfer + 1`: answered with its own bSeq, not busy, the card as `icc` says
/// (bmICCStatus: 0 active, its clock running; 1 present, not powered; 2 absent).
#[track_caller]
fn assert_slot_status(c: &mut Client, transfer: u32, seq: u8, icc: u8) {
    let status = c.exchange(transfer, &ccid(0x65, seq, &[]));
    let clock = if icc == 0 { 0 } else { 3 };
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, seq, icc, 0, clock]);
}

/// Send a CCID message on bulk OUT as transfer `seq`; it completes whole.
fn bulk_out(c: &mut Client, seq: u32, message: &[u8]) {
    c.send(&submit(
        seq,
        false,
        1,
        message.len() as u32,
        [0; 8],
        message,
    ));
    let done = c.reply(false);
    assert_eq!(
        (done.command, done.seqnum, done.status, done.actual_length),
        (RET_SUBMIT, seq, 0, message.len() as u32)
    );
}

#[test]
fn a_slow_card_gets_time_extensions_and_a_second_command_slot_busy() {
    // The card asks for more time before each answer and works 600 ms behind
    // each request: the reader keeps serving the bus meanwhile.
    let (_served, port) = serve_with(&["--slow", "--work-ms", "600"]);
    let mut c = power_on(Client::import(port));
    let echo = [0x80, 0xEE, 0, 0, 4, 0xDE, 0xAD, 0xBE, 0xEF, 0];
    bulk_out(&mut c, 10, &ccid(0x6F, 1, &echo));
    let (mut extensions, mut busy, mut seq) = (0, 0, 20);
    let answer = loop {
        let answer = bulk_in(&mut c, seq);
        seq += 1;
        match (answer[6], answer[7] >> 6) {
            // bmCommandStatus 2: a time extension for the ECHO (bSeq 1), bError
            // the card's BWT multiplier (2).
            (1, 2) => {
                assert_eq!(answer, [0x80, 0, 0, 0, 0, 0, 1, 0x80, 2, 0]);
                extensions += 1;
                if busy == 0 {
                    // A second command while the ECHO runs: GetSlotStatus.
                    bulk_out(&mut c, seq, &ccid(0x65, 2, &[]));
                    seq += 1;
                }
            }
            // CMD_SLOT_BUSY for the GetSlotStatus (bSeq 2): failed, bError E0,
            // the card present and active (bClockStatus 3: not known while busy).
            (2, _) => {
                assert_eq!(answer, [0x81, 0, 0, 0, 0, 0, 2, 0x40, 0xE0, 3]);
                busy += 1;
            }
            _ => break answer,
        }
    };
    assert!(extensions >= 1, "time extensions before the answer");
    assert_eq!(busy, 1, "the second command answered CMD_SLOT_BUSY once");
    // The ECHO's own answer, intact after all that.
    assert_eq!(answer[..10], [0x80, 6, 0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(answer[10..], [0xDE, 0xAD, 0xBE, 0xEF, 0x90, 0x00]);
    // The slot is free again: GetSlotStatus answers normally.
    let status = c.exchange(100, &ccid(0x65, 3, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 3, 0, 0, 0]);
}

#[test]
fn an_extended_apdu_chained_across_messages_round_trips() {
    let (_served, port) = serve_with(&["--level", "extended"]);
    let mut c = Client::import(port);
    // The class descriptor says extended APDU level (dwFeatures bits 16-18: 4)
    // and 271-byte messages.
    let (_, config) = c.control_in(1, [0x80, 6, 0, 2, 0, 0, 93, 0]);
    let descriptor = &config[18..18 + 54];
    let word = |at: usize| u32::from_le_bytes(descriptor[at..at + 4].try_into().unwrap());
    assert_eq!(word(40) & 0x0007_0000, 0x0004_0000, "extended APDU level");
    assert_eq!(word(44), 271, "dwMaxCCIDMessageLength");
    let mut c = power_on(c);
    // ECHO of 600 bytes, extended Lc and Le: 609 bytes of APDU, in three parts
    // (wLevelParameter 01, 03, 02); the reader asks for each next part (10).
    let data: Vec<u8> = (0..600u16).map(|i| (i * 7) as u8).collect();
    let mut apdu = vec![0x80, 0xEE, 0, 0, 0, 0x02, 0x58];
    apdu.extend_from_slice(&data);
    apdu.extend_from_slice(&[0, 0]);
    let parts: Vec<&[u8]> = apdu.chunks(261).collect();
    assert_eq!(parts.len(), 3);
    let levels = [1u8, 3, 2];
    let mut seq = 10;
    let mut answer = Vec::new();
    for (n, (part, level)) in parts.iter().zip(levels).enumerate() {
        let mut message = ccid(0x6F, n as u8, part);
        message[8] = level;
        answer = c.exchange(seq, &message);
        seq += 2;
        if level != 2 {
            assert_eq!(
                answer,
                [0x80, 0, 0, 0, 0, 0, n as u8, 0, 0, 0x10],
                "next part"
            );
        }
    }
    // The response (600 bytes and 90 00) comes back in parts too: 01, then for
    // each empty XfrBlock with wLevelParameter 10 the next, 03, and the last 02.
    let mut response = Vec::new();
    let mut chain = Vec::new();
    for n in 3u8.. {
        assert_eq!(answer[..2], [0x80, (answer.len() - 10) as u8], "dwLength");
        assert_eq!((answer[7], answer[8]), (0, 0), "no error");
        chain.push(answer[9]);
        response.extend_from_slice(&answer[10..]);
        if answer[9] == 0x02 || n > 10 {
            break;
        }
        let mut more = ccid(0x6F, n, &[]);
        more[8] = 0x10;
        answer = c.exchange(seq, &more);
        seq += 2;
    }
    assert_eq!(chain, [0x01, 0x03, 0x02]);
    assert_eq!(response[..600], data[..]);
    assert_eq!(response[600..], [0x90, 0x00]);
}

/// A client of a server started with `--slow --work-ms 60000` (the card works
/// 60 s behind its request for more time, longer than the client's 20 s hang
/// guard): the card powered on, an ECHO (bSeq 1) running, its time extension
/// seen.
fn slow_echo_running(port: u16) -> Client {
    let mut c = power_on(Client::import(port));
    let echo = [0x80, 0xEE, 0, 0, 2, 0x12, 0x34, 0];
    bulk_out(&mut c, 10, &ccid(0x6F, 1, &echo));
    let extension = bulk_in(&mut c, 11);
    assert_eq!(extension, [0x80, 0, 0, 0, 0, 0, 1, 0x80, 2, 0], "it runs");
    c
}

#[test]
fn abort_stops_a_slow_command() {
    // Only an ABORT that stops the card's work (not merely relabels the answer
    // when it finally comes) gets the answers below in time.
    let (_served, port) = serve_with(&["--slow", "--work-ms", "60000"]);
    let mut c = slow_echo_running(port);
    // The ABORT class request (wValue: bSlot 0, bSeq 1), then PC_to_RDR_Abort
    // with the same slot and sequence (CCID 1.1 §5.3.1).
    control_out(&mut c, 12, [0x21, 0x01, 0, 1, 0, 0, 0, 0]);
    bulk_out(&mut c, 13, &ccid(0x72, 1, &[]));
    // The ECHO ends CMD_ABORTED (failed, bError FF), then the Abort answers
    // its slot status.
    let aborted = bulk_in(&mut c, 14);
    assert_eq!(aborted[..7], [0x80, 0, 0, 0, 0, 0, 1]);
    assert_eq!((aborted[7] >> 6, aborted[8]), (1, 0xFF), "CMD_ABORTED");
    let abort = bulk_in(&mut c, 15);
    assert_eq!(abort[..9], [0x81, 0, 0, 0, 0, 0, 1, 0, 0]);
    // The slot is free again (the card's work was cut short):
    // GetSlotStatus answers without CMD_SLOT_BUSY.
    let status = c.exchange(20, &ccid(0x65, 2, &[]));
    assert_eq!((status[0], status[6], status[8]), (0x81, 2, 0));
}

/// A client on `port` with the card powered on (transfers 1 to 3) and the
/// class request ABORT (bSlot 0, bSeq 5) accepted (transfer 4), no
/// PC_to_RDR_Abort sent.
fn class_abort_first(port: u16) -> Client {
    let mut c = power_on(Client::import(port));
    control_out(&mut c, 4, [0x21, 0x01, 0, 5, 0, 0, 0, 0]);
    c
}

/// What follows `class_abort_first` until its PC_to_RDR_Abort, from transfer
/// `transfer` on (two a message): a GetSlotStatus (bSeq 6) fails CMD_ABORTED
/// (failed, bError FF, the card active), the Abort with bSeq 5 completes the
/// pair (answered with the slot status), and the GetSlotStatus (bSeq 7) after
/// it is answered as usual.
#[track_caller]
fn aborted_until_the_abort_message(c: &mut Client, transfer: u32) {
    let status = c.exchange(transfer, &ccid(0x65, 6, &[]));
    assert_eq!(
        status,
        [0x81, 0, 0, 0, 0, 0, 6, 0x40, 0xFF, 0],
        "GetSlotStatus bSeq 6: CMD_ABORTED"
    );
    let abort = c.exchange(transfer + 2, &ccid(0x72, 5, &[]));
    assert_eq!(
        abort,
        [0x81, 0, 0, 0, 0, 0, 5, 0, 0, 0],
        "the Abort bSeq 5: paired"
    );
    assert_slot_status(c, transfer + 4, 7, 0);
}

/// CCID 1.1 §5.3.1 through the USB port: the class request ABORT (bSlot 0,
/// bSeq 5) comes first, while nothing runs; the GetSlotStatus (bSeq 6) sent
/// next fails CMD_ABORTED (failed, bError FF, the card active), the
/// PC_to_RDR_Abort with bSeq 5 is answered with the slot status, and the
/// GetSlotStatus (bSeq 7) after it too. (Before, the port kept the class
/// request to itself and the first GetSlotStatus was answered as usual.)
#[test]
fn a_class_abort_first_fails_commands_until_its_abort_message() {
    let (_served, port) = serve();
    let mut c = class_abort_first(port);
    aborted_until_the_abort_message(&mut c, 5);
}

/// CCID 1.1 §5.3.1, §6.1.13 through the USB port: after the class request
/// ABORT (bSeq 5), a PC_to_RDR_Abort with bSeq 5 but `dwLength` 1 (its byte
/// sent) is a malformed message, not the Abort the request waits for: it fails
/// CMD_ABORTED, and so does the GetSlotStatus (bSeq 6) after it; the
/// well-formed Abort completes the pair. Before, the malformed one completed
/// it (answered bError 1, the GetSlotStatus as usual).
#[test]
fn a_malformed_abort_message_does_not_complete_a_class_abort() {
    let (_served, port) = serve();
    let mut c = class_abort_first(port);
    let malformed = c.exchange(5, &ccid(0x72, 5, &[0xAA]));
    assert_eq!(malformed, [0x81, 0, 0, 0, 0, 0, 5, 0x40, 0xFF, 0]);
    aborted_until_the_abort_message(&mut c, 7);
}

/// CCID 1.1 §5.3.1 looks at the slot's last bulk-OUT message: after a
/// PC_to_RDR_Abort (bSeq 10, answered with the slot status), the class
/// requests ABORT with bSeq 11 and then 10: the second completes the pair
/// with that Abort, whether the runner was handed the first before it or
/// not, and the GetSlotStatus (bSeq 12) is answered as usual. Before, a
/// runner handed the first made the reader forget the Abort, and the
/// GetSlotStatus failed CMD_ABORTED.
#[test]
fn a_class_abort_after_its_abort_message_pairs_despite_another_before_it() {
    let (_served, port) = serve();
    let mut c = power_on(Client::import(port));
    let abort = c.exchange(4, &ccid(0x72, 10, &[]));
    assert_eq!(abort, [0x81, 0, 0, 0, 0, 0, 10, 0, 0, 0]);
    for (transfer, seq) in [(6, 11), (7, 10)] {
        control_out(&mut c, transfer, [0x21, 1, 0, seq, 0, 0, 0, 0]);
    }
    assert_slot_status(&mut c, 8, 12, 0);
}

/// A SET_CONFIGURATION of a configuration the device lacks (2) is refused
/// (a STALL: -EPIPE) and starts nothing over: the class request ABORT (bSeq 5)
/// sent before it still waits for its PC_to_RDR_Abort, so the GetSlotStatus
/// (bSeq 6) fails CMD_ABORTED. Before, the port disowned the client's state as
/// for one accepted, and the GetSlotStatus was answered as usual.
#[test]
fn a_refused_set_configuration_starts_nothing_over() {
    let (_served, port) = serve();
    let mut c = class_abort_first(port);
    c.send(&submit(5, false, 0, 0, [0, 9, 2, 0, 0, 0, 0, 0], &[]));
    assert_eq!(c.reply(false), reply(RET_SUBMIT, 5, -32, &[]), "refused");
    let status = c.exchange(6, &ccid(0x65, 6, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 6, 0x40, 0xFF, 0]);
}

/// A client that sends the class request ABORT (bSeq 5) and goes before its
/// PC_to_RDR_Abort leaves no abort under way for the next client: its
/// GetSlotStatus (bSeq 1) is answered as usual, not CMD_ABORTED.
#[test]
fn a_class_abort_of_a_gone_client_does_not_fail_the_next_ones_commands() {
    let (_served, port) = serve();
    let mut c = class_abort_first(port);
    let status = c.exchange(5, &ccid(0x65, 6, &[]));
    assert_eq!((status[6], status[8]), (6, 0xFF), "CMD_ABORTED meanwhile");
    c.hang_up();
    let mut c = configured(Client::import(port));
    assert_slot_status(&mut c, 2, 1, 0);
}

#[test]
fn a_client_gone_mid_command_leaves_no_answer_for_the_next() {
    // The command must be stopped when its client goes, not left running (the
    // next client's command would find the slot busy) nor left to finish (its
    // answer, bSeq 1, would reach the next client).
    let (_served, port) = serve_with(&["--slow", "--work-ms", "60000"]);
    slow_echo_running(port).hang_up();
    // The next client: its GetSlotStatus (bSeq 0x42) answered, not CMD_SLOT_BUSY
    // and not the ECHO's answer; the card still there and active.
    let mut second = configured(Client::import(port));
    let status = second.exchange(2, &ccid(0x65, 0x42, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 0x42, 0, 0, 0]);
    // A power-on works, answered with its own bSeq.
    let atr = second.exchange(4, &ccid(0x62, 0x43, &[]));
    assert_eq!((atr[0], atr[6], atr[7]), (0x80, 0x43, 0), "IccPowerOn");
    // And nothing else was queued for this client: the next answer is the
    // next command's.
    let status = second.exchange(6, &ccid(0x65, 0x44, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 0x44, 0, 0, 0]);
}

#[test]
fn a_notification_whose_urb_is_unlinked_after_completing_is_sent_again() {
    // vhci-hcd gives back a URB it is unlinking as cancelled even when its
    // RET_SUBMIT crossed the unlink: the NotifySlotChange it carried is lost
    // to the client unless the server sends it again.
    let (mut served, mut c) = removed_while_awaited();
    assert_eq!(c.reply(true), notified(20, REMOVED));
    // The client's unlink of that URB, sent before it saw the completion.
    c.send(&unlink(21, 20));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 21, 0, &[]));
    // The next interrupt URB carries the removal again.
    c.send(&slot_change_urb(22));
    assert_eq!(c.reply(true), notified(22, REMOVED));
    // An unlink of a URB that was still pending (cancelled) sends nothing again:
    // the URB after it waits for the next movement.
    c.send(&slot_change_urb(23));
    c.send(&unlink(24, 23));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 24, -104, &[]));
    c.send(&slot_change_urb(25));
    served.stdin.write_all(b"insert\n").unwrap();
    assert_eq!(c.reply(true), notified(25, INSERTED));
}

#[test]
fn a_notification_left_undelivered_by_a_client_never_reaches_the_next() {
    // The first client submits no interrupt URB: the removal's NotifySlotChange
    // waits on the interrupt endpoint and the insertion's behind it when the
    // client goes; then the card moves again while no client is there. Each
    // step waits (on `--trace` lines) until the server has it: the device's
    // thread holding the notification, the movement taken off stdin.
    let mut served = Served::start_watched(
        env!("CARGO_BIN_EXE_readerkit"),
        &["usbip-serve", "--port", "0", "--trace"],
    );
    let port = served.first_line.parse().unwrap();
    let first = power_on(Client::import(port));
    for (movement, note) in [("remove\n", "[50, 02]"), ("insert\n", "[50, 03]")] {
        served.stdin.write_all(movement.as_bytes()).unwrap();
        served.wait_stderr(&format!("usbip: NotifySlotChange {note}"));
    }
    first.hang_up();
    served.stdin.write_all(b"remove\n").unwrap();
    served.wait_stderr("usbip: card Remove asked");
    // The next client's first interrupt URB carries none of them: it is still
    // pending when cancelled (-ECONNRESET, no RET_SUBMIT before).
    let mut second = configured(Client::import(port));
    second.send(&slot_change_urb(20));
    second.send(&unlink(21, 20));
    assert_eq!(second.reply(false), reply(RET_UNLINK, 21, -104, &[]));
    // It learns the slot by asking: no card.
    let status = second.exchange(30, &ccid(0x65, 1, &[]));
    assert_eq!((status[0], status[7] & 3), (0x81, 2));
    // A movement now is its own: notified.
    second.send(&slot_change_urb(40));
    served.stdin.write_all(b"insert\n").unwrap();
    assert_eq!(second.reply(true), notified(40, INSERTED));
}

/// `bPINSupport` of the CCID class descriptor in the configuration descriptor
/// (GET_DESCRIPTOR as transfer `seq`).
fn pin_support(c: &mut Client, seq: u32) -> u8 {
    c.send(&submit(
        seq,
        true,
        0,
        255,
        [0x80, 6, 0, 2, 0, 0, 255, 0],
        &[],
    ));
    let config = c.reply(true).data;
    // Configuration (9 bytes), interface (9), then the class descriptor (0x21).
    let class = &config[18..];
    assert_eq!(class[1], 0x21, "the CCID class descriptor: {config:02X?}");
    class[52]
}

/// PC_to_RDR_Secure's data: bPINOperation 0 (verify), then the PIN verification
/// structure: the reader's key time-out (30 s), ASCII, 4 to 8 digits, OK key,
/// into VERIFY 00 20 00 80 08 FF..FF.
fn secure_verify() -> Vec<u8> {
    let mut verify = vec![
        0, 0, 0x82, 0x08, 0x00, 8, 4, 0x02, 0x01, 0x09, 0x04, 0, 0, 0, 0,
    ];
    verify.extend_from_slice(&[0x00, 0x20, 0x00, 0x80, 0x08]);
    verify.extend_from_slice(&[0xFF; 8]);
    verify
}

/// A client gone while the PIN pad waits for keys (PC_to_RDR_Secure, nobody
/// typing): the PIN entry ends with it, the device is let go at once and the
/// next client finds the slot free. Before, the entry ran on for nobody until
/// its key time-out (30 s) and the gone client held the device meanwhile: the
/// next import was refused.
#[test]
fn a_client_gone_mid_pin_entry_lets_the_device_go_at_once() {
    let (served, port) = serve_watched(&["--keys", "", "--trace"]);
    let mut c = power_on(Client::import(port));
    bulk_out(&mut c, 10, &ccid(0x69, 2, &secure_verify()));
    served.wait_stderr("keypad: ");
    c.hang_up();
    let mut second = configured(Client::import(port));
    let status = second.exchange(2, &ccid(0x65, 0x42, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 0x42, 0, 0, 0]);
}

/// With `--keys` the reader has a PIN pad: the class descriptor says PIN
/// verification and modification (bPINSupport 03), and PC_to_RDR_Secure reads
/// the keys pressed by `--keys` (the card's PIN, 1234: 90 00), then those of a
/// `keys` line on stdin (a wrong PIN: the card's 63 C2). Without `--keys` there
/// is no PIN pad (bPINSupport 00).
#[test]
fn a_pin_pad_from_keys_verifies_the_pin() {
    let (_plain, port) = serve();
    assert_eq!(pin_support(&mut Client::import(port), 1), 0);

    let (mut served, port) = serve_with(&["--keys", "1234E"]);
    let mut c = Client::import(port);
    assert_eq!(pin_support(&mut c, 1), 0x03);
    let mut c = power_on(c);
    let verify = secure_verify();
    let answer = c.exchange(10, &ccid(0x69, 2, &verify));
    assert_eq!(answer, [0x80, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0x90, 0x00]);
    served.stdin.write_all(b"keys 9999E\n").unwrap();
    let answer = c.exchange(20, &ccid(0x69, 3, &verify));
    assert_eq!(answer, [0x80, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0x63, 0xC2]);
}

/// The flake ccid-serve had (its worker not scheduled in time, libccid's
/// GetSlotStatus and Escapes then late), on the USB side: with the command
/// worker held still (ptrace), what needs no card is answered all the same, by
/// the device's thread (`CcidPort::answer_at_once`); a power-on needs the card
/// and waits for the worker (a GetSlotStatus meanwhile is CMD_SLOT_BUSY), then
/// comes with the ATR once the worker runs, and the slot answers at once again.
/// Before, every message went to the worker: nothing was answered.
#[test]
fn what_needs_no_card_is_answered_while_the_worker_is_stalled() {
    let (served, port) = serve();
    // The import waits for the worker (it forgets old notifications): freeze
    // it after.
    let mut c = configured(Client::import(port));
    let worker = FrozenThread::freeze_waiting(served.child.id(), "usbip-worker");
    // GetSlotStatus: the card present, not powered.
    let status = c.exchange(10, &ccid(0x65, 1, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]);
    // Escape 02 (the GemPC Twin's firmware version), as libccid asks on open.
    let firmware = c.exchange(12, &ccid(0x6B, 2, &[0x02]));
    assert_eq!(firmware[..10], [0x83, 29, 0, 0, 0, 0, 2, 0x01, 0, 0]);
    // GetParameters, the card not powered: bError FE.
    let parameters = c.exchange(14, &ccid(0x6C, 3, &[]));
    assert_eq!(parameters[5..9], [0, 3, 0x41, 0xFE]);

    bulk_out(&mut c, 16, &ccid(0x62, 4, &[]));
    let busy = c.exchange(17, &ccid(0x65, 5, &[]));
    assert_eq!(
        busy,
        [0x81, 0, 0, 0, 0, 0, 5, 0x41, 0xE0, 3],
        "CMD_SLOT_BUSY while the power-on waits"
    );
    drop(worker);
    let atr = bulk_in(&mut c, 19);
    assert_eq!(
        (atr[0], &atr[5..9]),
        (0x80, &[0, 4, 0x00, 0][..]),
        "{atr:02X?}"
    );
    let status = c.exchange(20, &ccid(0x65, 6, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 6, 0x00, 0, 0]);
}

/// The card is taken out (a `remove` line on stdin) while a slow card works on
/// a command (60 s, ended only by an abort): the device's thread reports it to
/// the core and goes on serving the bus; the worker moves the card off the line
/// after the command. Before, the device's thread moved it on the line itself,
/// under the device's lock the command holds, and answered nothing until the
/// command ended. So: GetSlotStatus is CMD_SLOT_BUSY meanwhile, saying the
/// card is gone (the core's card state; before, the port gave the last
/// answer's status, present and active, until the command ended), ABORT stops
/// the command, its Abort's slot status says the card is gone, and the removal
/// is notified on the interrupt endpoint.
#[test]
fn a_card_moved_while_a_command_runs_does_not_hold_up_the_device() {
    let (mut served, port) = serve_with(&["--slow", "--work-ms", "60000"]);
    let mut c = slow_echo_running(port);
    served.stdin.write_all(b"remove\n").unwrap();
    // Each busy answer gives the card as the core knows it: present and active
    // (bmICCStatus 0) until the device's thread has reported the removal, then
    // absent (2), long before the command ends. A device's thread that waited
    // for the command on taking the line would answer none after that.
    busy_until_absent(0x20, |seq, status| {
        c.exchange(100 + 2 * u32::from(seq), status)
    });

    bulk_out(&mut c, 14, &ccid(0x72, 3, &[]));
    let aborted = bulk_in(&mut c, 15);
    assert_eq!(
        (aborted[6], aborted[7] >> 6, aborted[8]),
        (1, 1, 0xFF),
        "CMD_ABORTED"
    );
    let abort = bulk_in(&mut c, 16);
    assert_eq!(abort[..9], [0x81, 0, 0, 0, 0, 0, 3, 0x02, 0], "absent");
    c.send(&slot_change_urb(17));
    assert_eq!(c.reply(true), notified(17, REMOVED));
    let status = c.exchange(18, &ccid(0x65, 4, &[]));
    assert_eq!(status, [0x81, 0, 0, 0, 0, 0, 4, 0x02, 0, 3]);
}

/// A host sending XfrBlocks back to back (an application looping on APDUs, each
/// run by the worker) hears of a card removal between two of them. Before, the
/// worker looked for movements to notify only after 20 ms without a command, so
/// the removal waited for the host to pause. Each command's bulk IN and OUT go
/// out together and the next only after both completed, as libccid's would.
/// The removal is notified, at the latest, before the answer of the command
/// after the first one that finds the card gone: that command was handed to the
/// worker after the card's move.
#[test]
fn a_card_removal_is_notified_between_commands_sent_back_to_back() {
    let (_served, mut c) = removed_while_awaited();
    let echo = ccid(0x6F, 1, &[0x80, 0xEE, 0, 0, 2, 0x12, 0x34, 0]);
    let mut notified = None;
    let mut first_absent = None;
    // A hang guard: the removal is seen within a few commands.
    for n in 0..2000u32 {
        let seq = 100 + 2 * n;
        let mut both = submit(seq, true, 1, BULK_IN_LEN, [0; 8], &[]);
        both.extend_from_slice(&submit(seq + 1, false, 1, echo.len() as u32, [0; 8], &echo));
        c.send(&both);
        let mut answer = None;
        let mut out_done = false;
        while answer.is_none() || !out_done {
            let mut done = c.header();
            assert_eq!((done.command, done.status), (RET_SUBMIT, 0));
            if done.seqnum != seq + 1 {
                done.data = c.read(done.actual_length as usize);
            }
            match done.seqnum {
                20 => notified = Some(done.data),
                s if s == seq => answer = Some(done.data),
                _ => out_done = true,
            }
        }
        let answer = answer.unwrap_or_default();
        if answer[7] & 3 == 2 {
            first_absent.get_or_insert(n);
        }
        if let Some(first) = first_absent.filter(|&first| n > first) {
            let note = notified.unwrap_or_else(|| {
                panic!("no NotifySlotChange by command {n}; the card was gone at {first}")
            });
            assert_eq!(note, REMOVED, "the removal");
            return;
        }
    }
    panic!("the removal never showed in 2000 commands");
}

/// libusb cancels a bulk IN transfer whose time-out ran out while the card
/// works (libccid's read time-out): vhci-hcd sends CMD_UNLINK, then libccid
/// submits another bulk IN. The unlinked one is cancelled (-ECONNRESET, no
/// RET_SUBMIT) and the command's answer, when the card gives it, goes to the
/// next bulk IN: nothing of it lost, nothing twice.
#[test]
fn a_bulk_in_unlinked_while_the_card_works_leaves_the_answer_for_the_next() {
    let (_served, port) = serve_with(&["--slow", "--work-ms", "1500"]);
    let mut c = slow_echo_running(port);
    c.send(&submit(12, true, 1, BULK_IN_LEN, [0; 8], &[]));
    c.send(&unlink(13, 12));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 13, -104, &[]));
    // The answer, after any further time extension, on the next bulk IN.
    let mut seq = 14;
    let answer = loop {
        let answer = bulk_in(&mut c, seq);
        seq += 1;
        if answer[7] >> 6 != 2 || seq > 40 {
            break answer;
        }
        assert_eq!(answer, [0x80, 0, 0, 0, 0, 0, 1, 0x80, 2, 0], "more time");
    };
    assert_eq!(
        answer,
        [0x80, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0x12, 0x34, 0x90, 0x00]
    );
    // Once: the next exchange gets its own answer.
    assert_slot_status(&mut c, 50, 2, 0);
}

/// A client on `port`, the device configured (transfer 1), inside a CCID
/// message: of an XfrBlock (bSeq 9) announcing 200 bytes, its first packet
/// (64 bytes) only, as bulk OUT transfer 10. The device takes the packet (the
/// OUT transfer completes) and waits for more.
fn inside_a_long_message(port: u16) -> Client {
    let mut c = configured(Client::import(port));
    let mut apdu = vec![0x80, 0xEE, 0, 0, 194];
    apdu.extend_from_slice(&[0xA5; 195]);
    let message = ccid(0x6F, 9, &apdu);
    bulk_out(&mut c, 10, &message[..64]);
    c
}

/// A client gone inside a CCID message (its first bulk OUT packet sent, the
/// rest never): the next client's messages are read from their first byte, not
/// as the rest of that one.
#[test]
fn a_client_gone_inside_a_message_leaves_nothing_of_it_for_the_next() {
    let (_served, port) = serve();
    inside_a_long_message(port).hang_up();
    let mut second = configured(Client::import(port));
    assert_slot_status(&mut second, 2, 0x42, 1);
}

/// Unlinking transfers that were answered already (a client that cancels late)
/// finds nothing (status 0) and sends nothing else: the next exchange gets its
/// own answer.
#[test]
fn an_unlink_of_transfers_already_answered_changes_nothing() {
    let (_served, port) = serve();
    let mut c = power_on(Client::import(port));
    assert_slot_status(&mut c, 10, 1, 0);
    for (seq, victim) in [(20, 10), (21, 11), (22, 2)] {
        c.send(&unlink(seq, victim));
        assert_eq!(c.reply(false), reply(RET_UNLINK, seq, 0, &[]));
    }
    assert_slot_status(&mut c, 30, 2, 0);
}

/// A bulk OUT transfer the device has not read yet (it still holds the
/// messages before, whose answers no bulk IN has taken) unlinked: cancelled
/// (-ECONNRESET), so its command never reaches the device, as a host
/// controller sends nothing more of a URB once it is unlinked. The answers of
/// the messages before come, then the next exchange gets its own. Before, the
/// unlinked transfer's packet stayed on the bus, the device read it later and
/// ran the command the client was told was cancelled: the next exchange's bulk
/// IN carried its answer (bSeq 5), not its own.
#[test]
fn a_bulk_out_unlinked_before_the_device_read_it_is_never_run() {
    let (_served, port) = serve();
    let mut c = configured(Client::import(port));
    for seq in 2..=5u8 {
        let message = ccid(0x65, seq, &[]);
        c.send(&submit(u32::from(seq), false, 1, 10, [0; 8], &message));
    }
    // Three messages read (one answered on bulk IN, one waiting for room
    // there, one taken in); the fourth waits on the bus.
    for seq in 2..=4 {
        let done = c.reply(false);
        assert_eq!(
            (done.command, done.seqnum, done.status),
            (RET_SUBMIT, seq, 0)
        );
    }
    c.send(&unlink(6, 5));
    assert_eq!(c.reply(false), reply(RET_UNLINK, 6, -104, &[]));
    for seq in 2..=4u8 {
        let answer = bulk_in(&mut c, 10 + u32::from(seq));
        assert_eq!(answer, [0x81, 0, 0, 0, 0, 0, seq, 1, 0, 3]);
    }
    assert_slot_status(&mut c, 20, 7, 1);
}

/// URBs trickled a byte at a time (each its own TCP segment) are put together
/// and served as if sent whole.
#[test]
fn urbs_trickled_a_byte_at_a_time_are_served() {
    let (_served, port) = serve();
    let mut c = Client::import(port);
    let message = ccid(0x65, 3, &[]);
    let mut bytes = submit(1, false, 0, 0, [0, 9, 1, 0, 0, 0, 0, 0], &[]);
    bytes.extend_from_slice(&submit(2, true, 1, BULK_IN_LEN, [0; 8], &[]));
    bytes.extend_from_slice(&submit(3, false, 1, 10, [0; 8], &message));
    for byte in bytes {
        c.send(&[byte]);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_eq!(c.reply(false), reply(RET_SUBMIT, 1, 0, &[]));
    // The bulk IN (with the answer) and OUT complete in either order.
    let mut replies: Vec<Reply> = (0..2)
        .map(|_| {
            let mut done = c.header();
            if done.seqnum == 2 {
                done.data = c.read(done.actual_length as usize);
            }
            done
        })
        .collect();
    replies.sort_by_key(|r| r.seqnum);
    let status = [0x81, 0, 0, 0, 0, 0, 3, 0x01, 0, 3];
    assert_eq!(replies[0], reply(RET_SUBMIT, 2, 0, &status));
    let out = Reply {
        actual_length: 10,
        ..reply(RET_SUBMIT, 3, 0, &[])
    };
    assert_eq!(replies[1], out);
}

/// A flood: 24 exchanges (each a bulk IN and a GetSlotStatus on bulk OUT) in
/// one write, before any answer is read: each answer in its own bulk IN, in
/// order, with its own bSeq.
#[test]
fn a_flood_of_exchanges_in_one_write_is_answered_in_order() {
    let (_served, port) = serve();
    let mut c = configured(Client::import(port));
    let mut flood = Vec::new();
    for n in 0..24u8 {
        let seq = 100 + 2 * u32::from(n);
        let message = ccid(0x65, n, &[]);
        flood.extend_from_slice(&submit(seq, true, 1, BULK_IN_LEN, [0; 8], &[]));
        flood.extend_from_slice(&submit(seq + 1, false, 1, 10, [0; 8], &message));
    }
    c.send(&flood);
    let mut answers = Vec::new();
    let mut outs = 0;
    while answers.len() < 24 || outs < 24 {
        let mut done = c.header();
        assert_eq!((done.command, done.status), (RET_SUBMIT, 0), "{done:?}");
        if done.seqnum % 2 == 1 {
            outs += 1;
            continue;
        }
        done.data = c.read(done.actual_length as usize);
        answers.push((done.seqnum, done.data));
    }
    for (n, (seq, answer)) in answers.into_iter().enumerate() {
        let n = n as u8;
        assert_eq!(seq, 100 + 2 * u32::from(n), "in order");
        assert_eq!(answer, [0x81, 0, 0, 0, 0, 0, n, 0x01, 0, 3], "answer {n}");
    }
}

/// Clients quiet in the operation phase (connected, half an operation header
/// sent, or nothing) hold only their own handshake (each has a thread and 10 s):
/// meanwhile the list is answered and the device imported and used. (They come
/// from addresses of their own: two quiet ones from 127.0.0.1 would hold all
/// its places.)
#[test]
fn clients_quiet_before_their_operation_hold_up_nobody() {
    let (_served, port) = serve();
    // Three: handshakes taken one after the other would hold the import up
    // for 30 s, past the client's 20 s hang guard.
    let mut quiet: Vec<Client> = (2..5).map(|i| connect_from(loopback(i), port)).collect();
    quiet[2].send(&op(0x8003)[..4]);
    let mut c = configured(Client::import(port));
    listed_and_busy(port);
    assert_slot_status(&mut c, 2, 1, 1);
    drop(quiet);
}

/// A client that sends half a URB header and goes quiet holds the device as an
/// attached client does (USB/IP has no time-out; its stub driver neither): the
/// device list is still answered and another import is refused busy; once the
/// quiet client closes, the device is free again.
#[test]
fn a_client_quiet_inside_a_urb_holds_the_device_and_nothing_else() {
    let (_served, port) = serve();
    let mut quiet = Client::import(port);
    quiet.send(&[0, 0, 0, 1, 0, 0, 0]);
    listed_and_busy(port);
    quiet.hang_up();
    let mut next = configured(Client::import(port));
    assert_slot_status(&mut next, 2, 1, 1);
}

/// The server's handshake threads, once `expected` of them have their name (a
/// thread names itself when it first runs; a 5 s hang guard): their number then.
fn handshake_threads(served: &Served, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let running = threads_named(served, "usbip-handshake");
        if running >= expected || Instant::now() > deadline {
            return running;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The server's threads named `name` (`/proc/<pid>/task/*/comm`).
fn threads_named(served: &Served, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", served.child.id()))
        .expect("the server's /proc task list")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// A connection from `source` (an address of 127/8: Linux routes them all to
/// `lo`) to the server on 127.0.0.1:`port`, as a client with a 20 s read
/// time-out as a hang guard.
fn connect_from(source: Ipv4Addr, port: u16) -> Client {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("a TCP socket");
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(source, 0)),
    )
    .unwrap_or_else(|e| panic!("bind to {source}: {e}"));
    let server = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    connect(fd.as_raw_fd(), &server).expect("connect to the server");
    Client::over(TcpStream::from(fd))
}

/// The connection `i` is closed by the server at once: end of stream or reset,
/// not a 3 s read time-out.
fn assert_closed_at_once(c: Client, i: usize) {
    let mut stream = c.stream;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    match stream.read(&mut [0u8; 1]) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("connection {i} over the bound not closed at once: {other:?}"),
    }
}

/// The address 127.0.0.`last`.
fn loopback(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// At most 8 connections are in their operation phase at once (each holds a
/// thread for up to 10 s): with 8 quiet ones held (2 from each of 4 addresses,
/// each one's most), each of 64 more connections from a fifth address is
/// closed at once and 8 handshake threads run, not 72: a peer opening
/// connections by the thousand holds 8 threads, not thousands. Once the quiet
/// ones hang up, the list is answered again. Before the bound, the first extra
/// connection stayed open (its read timed out).
#[test]
fn handshakes_in_flight_are_bounded() {
    let (served, port) = serve();
    let quiet: Vec<Client> = (0..8)
        .map(|i| connect_from(loopback(2 + i / 2), port))
        .collect();
    for i in 0..64 {
        assert_closed_at_once(Client::connect(port), i);
    }
    // Accepted in order: the quiet ones' handshakes run, nothing else's.
    assert_eq!(handshake_threads(&served, 8), 8);
    for client in quiet {
        client.hang_up();
    }
    // The quiet ones' handshakes end as their ends of stream come.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !usbip_listed(port) {
        assert!(Instant::now() < deadline, "the list is not answered again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One address holding quiet connections (re-opened as each times out, a
/// peer could keep them for good) takes its 2 places, not all 8: its further
/// connections are closed at once, and meanwhile a client from another
/// address lists and imports the device and uses it. Before, the hog's third
/// connection was served (its read timed out) and 8 of them locked every other
/// client out.
#[test]
fn a_peer_holding_quiet_connections_locks_out_nobody_else() {
    let (served, port) = serve();
    let hog = loopback(2);
    let quiet: Vec<Client> = (0..2).map(|_| connect_from(hog, port)).collect();
    for i in 2..8 {
        assert_closed_at_once(connect_from(hog, port), i);
    }
    assert_eq!(handshake_threads(&served, 2), 2);
    // 127.0.0.1: another peer.
    assert!(usbip_listed(port), "listed beside the hog");
    let mut c = configured(Client::import(port));
    assert_slot_status(&mut c, 2, 1, 1);
    drop(quiet);
}

/// Ask for the device list; `true` if it came (one device), `false` if the
/// connection was closed first (the client's socket used raw: its `send` and
/// `read` would panic).
fn usbip_listed(port: u16) -> bool {
    let mut list = Client::connect(port).stream;
    let mut reply = [0u8; 12];
    if list.write_all(&op(0x8005)).is_err() || list.read_exact(&mut reply).is_err() {
        return false;
    }
    assert_eq!(reply[11], 1, "one device");
    true
}

/// The kernel's keepalive timer of the server's end of an established
/// connection from the client's `client_port` to the server's `port`: its time
/// left in ms if it runs (`/proc/net/tcp`: field `tr` 2, the socket timer, the
/// one keepalive uses; `tm->when` in USER_HZ ticks of 10 ms).
fn keepalive_timer_ms(port: u16, client_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let (local, remote) = (format!(":{port:04X}"), format!(":{client_port:04X}"));
    let line = table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 5 && f[1].ends_with(&local) && f[2].ends_with(&remote) && f[3] == "01")
        .expect("the server's end of the connection in /proc/net/tcp");
    let (timer, when) = line[5].split_once(':').expect("tr:tm->when");
    (timer == "02").then(|| u64::from_str_radix(when, 16).expect("hex ticks") * 10)
}

/// An imported connection has TCP keepalive on with a short idle time (its
/// first probe within 30 s, not the system's default 2 hours): a client whose
/// host vanishes without closing (no FIN, no RST) lets the device go. Checked on
/// the server's socket in `/proc/net/tcp`; the vanishing itself (probes
/// unanswered for a minute) is not played here. Before, no timer ran on it.
#[test]
fn an_imported_connection_has_a_keepalive_timer() {
    let (_served, port) = serve();
    let mut c = configured(Client::import(port));
    assert_slot_status(&mut c, 2, 1, 1);
    let left = keepalive_timer_ms(port, c.local_port());
    assert!(
        left.is_some_and(|ms| ms > 0 && ms <= 30_000),
        "keepalive timer of the imported connection: {left:?} ms"
    );
}

/// An interrupt IN pending (transfer `seq`), then SET_CONFIGURATION `value`
/// (transfer `seq + 1`): the request is answered, and the interrupt IN ends
/// with -ESHUTDOWN.
fn configuration_ends_interrupt_in(c: &mut Client, seq: u32, value: u8) {
    c.send(&slot_change_urb(seq));
    control_out(c, seq + 1, [0, 9, value, 0, 0, 0, 0, 0]);
    assert_eq!(
        c.reply(true),
        reply(RET_SUBMIT, seq, -108, &[]),
        "shut down"
    );
}

/// SET_CONFIGURATION 0 puts the device back in its Address state (USB 2.0
/// §9.4.7), where only its default control pipe works: the interrupt IN pending
/// then ends with -ESHUTDOWN (as the kernel ends an endpoint's transfers when a
/// change of configuration disables it); a bulk OUT, a bulk IN and an
/// interrupt IN submitted then are refused at once with -ENOENT (as
/// `usb_submit_urb` refuses one for an endpoint not enabled); GET_CONFIGURATION
/// says 0. Configured again, the device serves its bulk endpoints. Before, the
/// bulk OUT was taken and completed as if the device were configured.
#[test]
fn an_unconfigured_device_serves_its_default_pipe_only() {
    let (_served, port) = serve();
    let mut c = configured(Client::import(port));
    configuration_ends_interrupt_in(&mut c, 2, 0);
    let status = ccid(0x65, 1, &[]);
    c.send(&submit(4, false, 1, 10, [0; 8], &status));
    assert_eq!(c.reply(false), reply(RET_SUBMIT, 4, -2, &[]), "bulk OUT");
    c.send(&submit(5, true, 1, BULK_IN_LEN, [0; 8], &[]));
    assert_eq!(c.reply(true), reply(RET_SUBMIT, 5, -2, &[]), "bulk IN");
    c.send(&slot_change_urb(6));
    assert_eq!(c.reply(true), reply(RET_SUBMIT, 6, -2, &[]), "interrupt IN");
    assert_eq!(c.control_in(7, [0x80, 8, 0, 0, 0, 0, 1, 0]), (0, vec![0]));
    c.configure(8);
    assert_slot_status(&mut c, 9, 1, 1);
}

/// A SET_CONFIGURATION of the configuration the device is in resets its
/// endpoints all the same (USB 2.0 §9.1.1.5): the interrupt IN pending then ends
/// with -ESHUTDOWN, as at SET_CONFIGURATION 0, and the device serves on. Before,
/// the transfer stayed pending across the change.
#[test]
fn a_transfer_pending_at_a_configuration_change_ends() {
    let (_served, port) = serve();
    let mut c = configured(Client::import(port));
    configuration_ends_interrupt_in(&mut c, 2, 1);
    assert_slot_status(&mut c, 4, 1, 1);
}

/// What the device wrote for the host before a SET_CONFIGURATION and the host
/// had not taken (a GetSlotStatus answer on bulk IN, no bulk-IN transfer there
/// to take it) is not delivered after it: a configuration change resets the
/// endpoints (USB 2.0 §9.1.1.5). Configured again (after 0, or with 1 again),
/// the next bulk IN gets the answer of the next command. Before, it got the
/// answer from before the change (bSeq 5, then 7).
#[test]
fn an_answer_left_on_bulk_in_does_not_outlive_a_configuration_change() {
    let (_served, port) = serve();
    let mut c = configured(Client::import(port));
    bulk_out(&mut c, 2, &ccid(0x65, 5, &[]));
    // SET_CONFIGURATION 0: unconfigured.
    control_out(&mut c, 3, [0, 9, 0, 0, 0, 0, 0, 0]);
    c.configure(4);
    assert_slot_status(&mut c, 5, 6, 1);
    bulk_out(&mut c, 7, &ccid(0x65, 7, &[]));
    c.configure(8);
    assert_slot_status(&mut c, 9, 8, 1);
}

/// Run XfrBlock ECHOs on the worker from transfer `seq` on until one finds the
/// card as `icc` says (bmICCStatus), then one more: that one was handed to the
/// worker after the card's move, whose notification the worker sends before
/// it runs the next command (a 10 s hang guard). Returns the next free
/// transfer number.
fn worker_past_move(c: &mut Client, mut seq: u32, icc: u8) -> u32 {
    let echo = ccid(0x6F, 1, &[0x80, 0xEE, 0, 0, 2, 0x12, 0x34, 0]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.exchange(seq, &echo)[7] & 3 != icc {
        assert!(Instant::now() < deadline, "bmICCStatus {icc} never showed");
        seq += 2;
    }
    assert_eq!(c.exchange(seq + 2, &echo)[7] & 3, icc, "still");
    seq + 4
}

/// The NotifySlotChanges of card movements made while no interrupt transfer
/// was there to take them are not delivered after a SET_CONFIGURATION (of the
/// configuration the device is in: its endpoints are reset all the same): the
/// removal the device wrote on its interrupt endpoint and the insertion
/// waiting behind it in the server. The next interrupt transfer waits for the
/// next movement (cancelled: -ECONNRESET, no completion before). Both were
/// there before the change ([`worker_past_move`]). Before, the next interrupt
/// transfer carried the removal at once (the insertion, with the endpoint
/// emptied but the server's own queue kept).
#[test]
fn notifications_left_undelivered_do_not_outlive_a_configuration_change() {
    let (mut served, port) = serve();
    let mut c = power_on(Client::import(port));
    served.stdin.write_all(b"remove\n").unwrap();
    let seq = worker_past_move(&mut c, 10, 2);
    served.stdin.write_all(b"insert\n").unwrap();
    let seq = worker_past_move(&mut c, seq, 1);
    // Configuration 1 again (0 first would leave the device unconfigured,
    // where nothing reaches the host anyway).
    c.configure(seq);
    c.send(&slot_change_urb(seq + 2));
    c.send(&unlink(seq + 3, seq + 2));
    assert_eq!(c.reply(false), reply(RET_UNLINK, seq + 3, -104, &[]));
}

/// GET_STATUS of endpoint `address` as control transfer `seq`: its Halt bit.
fn endpoint_halted(c: &mut Client, seq: u32, address: u8) -> bool {
    let (status, data) = c.control_in(seq, [0x82, 0, 0, 0, address, 0, 2, 0]);
    assert_eq!((status, data.len()), (0, 2), "GET_STATUS");
    data[0] & 1 == 1
}

/// SET_FEATURE (`set`) or CLEAR_FEATURE(ENDPOINT_HALT) of endpoint `address`
/// as control transfer `seq`: accepted.
fn set_halt(c: &mut Client, seq: u32, address: u8, set: bool) {
    let request = if set { 3 } else { 1 };
    control_out(c, seq, [0x02, request, 0, 0, address, 0, 0, 0]);
}

/// SET_FEATURE(ENDPOINT_HALT) on bulk IN (0x81), as a host testing its error
/// path does, then CLEAR_FEATURE as libusb_clear_halt sends it: halted, the
/// bulk IN pending then ends with -EPIPE, and so does one submitted while
/// halted, as Linux's usbip-host reports a STALL; the bulk OUT endpoint works
/// meanwhile. The answer of the command sent meanwhile waits in the device and
/// comes on the first bulk IN after the clear, once; the next exchange gets its
/// own. Before, GET_STATUS said halted but bulk IN went on as if not.
#[test]
fn a_halted_bulk_in_stalls_until_cleared_and_nothing_is_lost() {
    let (_served, port) = serve();
    let mut c = power_on(Client::import(port));
    c.send(&submit(10, true, 1, BULK_IN_LEN, [0; 8], &[]));
    set_halt(&mut c, 11, 0x81, true);
    assert_eq!(c.reply(true), reply(RET_SUBMIT, 10, -32, &[]), "pending");
    assert!(endpoint_halted(&mut c, 12, 0x81));
    assert!(!endpoint_halted(&mut c, 13, 0x01));
    bulk_out(&mut c, 14, &ccid(0x65, 5, &[]));
    c.send(&submit(15, true, 1, BULK_IN_LEN, [0; 8], &[]));
    assert_eq!(c.reply(true), reply(RET_SUBMIT, 15, -32, &[]), "halted");

    set_halt(&mut c, 16, 0x81, false);
    assert!(!endpoint_halted(&mut c, 17, 0x81));
    assert_eq!(bulk_in(&mut c, 18), [0x81, 0, 0, 0, 0, 0, 5, 0, 0, 0]);
    assert_slot_status(&mut c, 19, 6, 0);
}

/// Bulk OUT halted inside a CCID message (its first packet read, the rest
/// never sent), then cleared with CLEAR_FEATURE(ENDPOINT_HALT) as
/// libusb_clear_halt sends it, the host's reset of the pipe: the next message
/// is read from its first byte, not as the rest of the one given up. Before,
/// the device kept the 64 bytes and took the GetSlotStatus as their rest (a
/// short transfer of the XfrBlock, answered bSeq 9 with bError 1).
#[test]
fn a_bulk_out_halted_inside_a_message_starts_over_once_cleared() {
    let (_served, port) = serve();
    let mut c = inside_a_long_message(port);
    set_halt(&mut c, 11, 0x01, true);
    assert!(endpoint_halted(&mut c, 12, 0x01));
    set_halt(&mut c, 13, 0x01, false);
    assert_slot_status(&mut c, 14, 0x42, 1);
    assert_slot_status(&mut c, 16, 0x43, 1);
}

/// Bulk IN halted and cleared (as libusb_clear_halt sends it) in the middle
/// of an answer: the client took the first of its three packets (64 + 64 +
/// 34 bytes: an ECHO of 150 bytes, bSeq 1) with a 64-byte transfer, and the
/// device had handed the second to the bus. The clear is the client's reset
/// of the pipe (USB 2.0 §9.4.5; the halt retired its transfers, §5.8.5): the
/// device sends nothing more of that answer. The packet the bus held still
/// comes, alone (a zero-length packet ends its transfer), and the next
/// exchange gets its own answer. Before, the next transfer carried the
/// answer's tail after that packet (98 bytes), read as a message.
#[test]
fn a_bulk_in_halt_cleared_inside_an_answer_sends_no_more_of_it() {
    let (_served, port) = serve();
    let mut c = power_on(Client::import(port));
    bulk_out(
        &mut c,
        10,
        &ccid(
            0x6F,
            1,
            &[0x80, 0xEE, 0, 0, 150]
                .into_iter()
                .chain([0x5A; 150])
                .chain([0])
                .collect::<Vec<u8>>(),
        ),
    );
    c.send(&submit(11, true, 1, 64, [0; 8], &[]));
    let first = c.reply(true);
    assert_eq!((first.seqnum, first.status, first.data.len()), (11, 0, 64));
    assert_eq!(first.data[..10], [0x80, 152, 0, 0, 0, 0, 1, 0, 0, 0]);
    set_halt(&mut c, 12, 0x81, true);
    set_halt(&mut c, 13, 0x81, false);
    assert_eq!(bulk_in(&mut c, 14), [0x5A; 64], "the packet the bus held");
    assert_slot_status(&mut c, 15, 2, 0);
}

/// SET_INTERFACE (interface 0, alternate setting 0) inside a CCID message
/// (its first bulk-OUT packet read, the rest never sent): the device resets the
/// interface's endpoints (USB 2.0 §9.1.1.5, §9.4.10), as Linux's usbip host
/// does for a client's request, and reads the next message from its first
/// byte. Before, it took the GetSlotStatus as the rest of the one given up
/// (answered bSeq 9, bError 1).
#[test]
fn set_interface_inside_a_message_starts_the_next_over() {
    let (_served, port) = serve();
    let mut c = inside_a_long_message(port);
    // SET_INTERFACE 0, alternate setting 0: accepted.
    control_out(&mut c, 11, [0x01, 0x0B, 0, 0, 0, 0, 0, 0]);
    assert_slot_status(&mut c, 12, 0x42, 1);
    assert_slot_status(&mut c, 14, 0x43, 1);
}

/// A URB naming another device than the one imported (its devid: bus 1,
/// device 2 for bus id 1-1, as the import said) ends the connection, as Linux's
/// usbip-host takes it as an invalid request and closes it: a submit, and an
/// unlink (the stub checks every command). The device is let go: the next
/// import is served. Before, the devid was not looked at.
#[test]
fn a_urb_for_another_device_closes_the_connection() {
    let (_served, port) = serve();
    let other_device = [
        [1, 2, 0x0001_0003, 1, 1, 0, 64, 0, 0, 0],
        [2, 2, 0x0002_0002, 0, 0, 1, 0, 0, 0, 0],
    ];
    for words in other_device {
        let mut c = configured(Client::import(port));
        c.send(&urb(words, [0; 8]));
        assert!(c.closed(), "{words:X?}");
    }
    let mut c = configured(Client::import(port));
    assert_slot_status(&mut c, 2, 1, 1);
}
