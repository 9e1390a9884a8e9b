//! `readerkit usbip-serve` spoken to by a scripted USB/IP client over TCP on
//! 127.0.0.1 (the kernel's vhci-hcd and libccid are in `tools/usbip-guest.sh`, by
//! hand): the device list, an import, enumeration (GET_DESCRIPTOR,
//! SET_CONFIGURATION), CCID IccPowerOn and XfrBlock over bulk URBs (answers split
//! into packets, the zero-length packet), NotifySlotChange on the interrupt URB,
//! UNLINK, a stalled request; and malformed peer input refused while the server
//! goes on serving. Debian's own `usbip list` is run against it when installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use readerkit_testkit::served::Served;

/// `readerkit usbip-serve` on a free port, and that port.
fn serve() -> (Served, u16) {
    let served = Served::start(
        env!("CARGO_BIN_EXE_readerkit"),
        &["usbip-serve", "--port", "0"],
    );
    let port = served.first_line.parse().unwrap();
    (served, port)
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A hang guard, not a timing assertion.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

fn op(code: u16) -> Vec<u8> {
    let mut m = vec![0x01, 0x11];
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&[0; 4]);
    m
}

fn busid(id: &str) -> [u8; 32] {
    let mut field = [0u8; 32];
    field[..id.len()].copy_from_slice(id.as_bytes());
    field
}

/// Import bus id 1-1: the reply's status and device record.
fn import(port: u16) -> TcpStream {
    let mut s = connect(port);
    s.write_all(&op(0x8003)).unwrap();
    s.write_all(&busid("1-1")).unwrap();
    let mut reply = [0u8; 8 + 312];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[..8], [1, 0x11, 0, 3, 0, 0, 0, 0], "import accepted");
    assert_eq!(&reply[8 + 256..8 + 260], b"1-1\0");
    s
}

/// True if the server closed the connection (end of stream or reset).
fn closed(s: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    !matches!(s.read(&mut byte), Ok(n) if n > 0)
}

/// A USBIP_CMD_SUBMIT (and its OUT data).
fn submit(seq: u32, dir_in: bool, ep: u32, length: u32, setup: [u8; 8], data: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    for word in [
        1,
        seq,
        0x0001_0002,
        u32::from(dir_in),
        ep,
        0,
        length,
        0,
        0,
        0,
    ] {
        m.extend_from_slice(&word.to_be_bytes());
    }
    m.extend_from_slice(&setup);
    m.extend_from_slice(data);
    m
}

/// A USBIP_RET_SUBMIT or RET_UNLINK: (command, seqnum, status, data).
fn reply(s: &mut TcpStream, dir_in: bool) -> (u32, u32, i32, Vec<u8>) {
    let mut h = [0u8; 48];
    s.read_exact(&mut h).unwrap();
    let word = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let (command, seq, status, actual) = (word(0), word(4), word(20) as i32, word(24));
    let mut data = vec![
        0u8;
        if command == 3 && dir_in {
            actual as usize
        } else {
            0
        }
    ];
    s.read_exact(&mut data).unwrap();
    (command, seq, status, data)
}

fn control_in(s: &mut TcpStream, seq: u32, setup: [u8; 8]) -> (i32, Vec<u8>) {
    let length = u32::from(u16::from_le_bytes([setup[6], setup[7]]));
    s.write_all(&submit(seq, true, 0, length, setup, &[]))
        .unwrap();
    let (command, got, status, data) = reply(s, true);
    assert_eq!((command, got), (3, seq));
    (status, data)
}

fn ccid(kind: u8, seq: u8, data: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(data.len() as u32).to_le_bytes());
    m.extend_from_slice(&[0, seq, 0, 0, 0]);
    m.extend_from_slice(data);
    m
}

/// Send a CCID message on bulk OUT and read the answer from one bulk IN URB
/// (submitted first, as libusb's reader may be): both transfers complete.
fn exchange(s: &mut TcpStream, seq: u32, message: &[u8]) -> Vec<u8> {
    s.write_all(&submit(seq, true, 1, 65546, [0; 8], &[]))
        .unwrap();
    let out = submit(seq + 1, false, 1, message.len() as u32, [0; 8], message);
    s.write_all(&out).unwrap();
    let mut answer = None;
    let mut out_done = false;
    while answer.is_none() || !out_done {
        let mut h = [0u8; 48];
        s.read_exact(&mut h).unwrap();
        let word = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        assert_eq!((word(0), word(20)), (3, 0), "RET_SUBMIT, status 0");
        if word(4) == seq {
            let mut data = vec![0u8; word(24) as usize];
            s.read_exact(&mut data).unwrap();
            answer = Some(data);
        } else {
            assert_eq!(word(4), seq + 1);
            assert_eq!(word(24) as usize, message.len(), "all of the OUT data");
            out_done = true;
        }
    }
    answer.unwrap()
}

#[test]
fn a_ccid_reader_over_usbip() {
    let (mut served, port) = serve();

    // The device list: one device, bus id 1-1, GemPC Twin ids, one CCID interface.
    let mut s = connect(port);
    s.write_all(&op(0x8005)).unwrap();
    let mut list = [0u8; 12 + 312 + 4];
    s.read_exact(&mut list).unwrap();
    assert_eq!(list[..12], [1, 0x11, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&list[12 + 256..12 + 260], b"1-1\0");
    assert_eq!(list[12 + 300..12 + 304], [0x08, 0xE6, 0x34, 0x37]);
    assert_eq!(list[12 + 309..], [1, 1, 1, 0x0B, 0, 0, 0]);
    assert!(closed(&mut s), "the list ends the connection");

    let mut s = import(port);
    // GET_DESCRIPTOR(device): 18 bytes, the ids again.
    let (status, device) = control_in(&mut s, 1, [0x80, 6, 0, 1, 0, 0, 64, 0]);
    assert_eq!(status, 0);
    assert_eq!((device.len(), device[0], device[1]), (18, 18, 1));
    assert_eq!(device[8..12], [0xE6, 0x08, 0x37, 0x34]);
    // GET_DESCRIPTOR(configuration): the header, then all of it (93 bytes: one
    // interface of class 0x0B, the 54-byte CCID descriptor, three endpoints).
    let (_, header) = control_in(&mut s, 2, [0x80, 6, 0, 2, 0, 0, 9, 0]);
    assert_eq!(header.len(), 9);
    let total = u16::from_le_bytes([header[2], header[3]]);
    assert_eq!(total, 9 + 9 + 54 + 3 * 7);
    let mut setup = [0x80, 6, 0, 2, 0, 0, 0, 0];
    setup[6..].copy_from_slice(&total.to_le_bytes());
    let (_, config) = control_in(&mut s, 3, setup);
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
    s.write_all(&submit(4, false, 0, 0, [0, 9, 1, 0, 0, 0, 0, 0], &[]))
        .unwrap();
    assert_eq!(reply(&mut s, false), (3, 4, 0, vec![]));
    // A vendor request nobody answers: the device stalls it (-EPIPE).
    let (status, data) = control_in(&mut s, 5, [0xC0, 0x99, 0, 0, 0, 0, 4, 0]);
    assert_eq!((status, data.len()), (-32, 0));
    // A transfer to an endpoint the device does not have: -ENOENT.
    s.write_all(&submit(6, true, 5, 64, [0; 8], &[])).unwrap();
    assert_eq!(reply(&mut s, true), (3, 6, -2, vec![]));

    // IccPowerOn: the ATR, bSeq echoed.
    let atr = exchange(&mut s, 10, &ccid(0x62, 7, &[]));
    assert_eq!(atr[..2], [0x80, 20]);
    assert_eq!(atr[6], 7, "bSeq");
    assert_eq!(atr.len(), 10 + 20);
    // XfrBlock ECHO of 200 bytes: four OUT packets, the answer in four IN packets.
    let data: Vec<u8> = (0..200u8).collect();
    let mut apdu = vec![0x80, 0xEE, 0, 0, 200];
    apdu.extend_from_slice(&data);
    apdu.push(0);
    let answer = exchange(&mut s, 12, &ccid(0x6F, 8, &apdu));
    assert_eq!(answer[..10], [0x80, 202, 0, 0, 0, 0, 8, 0, 0, 0]);
    assert_eq!(answer[10..210], data[..]);
    assert_eq!(answer[210..], [0x90, 0x00]);
    // An answer of exactly two packets (128 bytes) ends with a zero-length packet,
    // which completes the IN transfer.
    let mut apdu = vec![0x80, 0xEE, 0, 0, 116];
    apdu.extend_from_slice(&[0x5A; 116]);
    apdu.push(0);
    let answer = exchange(&mut s, 14, &ccid(0x6F, 9, &apdu));
    assert_eq!(answer.len(), 128);
    assert_eq!(answer[126..], [0x90, 0x00]);

    // The card is taken out: NotifySlotChange completes the interrupt IN URB.
    s.write_all(&submit(20, true, 2, 8, [0; 8], &[])).unwrap();
    served.stdin.write_all(b"remove\n").unwrap();
    assert_eq!(reply(&mut s, true), (3, 20, 0, vec![0x50, 0x02]));
    // Another interrupt URB, cancelled: RET_UNLINK -ECONNRESET and no RET_SUBMIT;
    // cancelling it again finds nothing (status 0).
    s.write_all(&submit(21, true, 2, 8, [0; 8], &[])).unwrap();
    let mut unlink = Vec::new();
    for word in [2u32, 22, 0x0001_0002, 0, 0, 21, 0, 0, 0, 0, 0, 0] {
        unlink.extend_from_slice(&word.to_be_bytes());
    }
    s.write_all(&unlink).unwrap();
    assert_eq!(reply(&mut s, false), (4, 22, -104, vec![]));
    unlink[7] = 23;
    s.write_all(&unlink).unwrap();
    assert_eq!(reply(&mut s, false), (4, 23, 0, vec![]));
    // GetSlotStatus now: no card (bmICCStatus 2).
    let status = exchange(&mut s, 30, &ccid(0x65, 10, &[]));
    assert_eq!((status[0], status[7] & 3), (0x81, 2));
}

#[test]
fn malformed_peer_input_is_refused() {
    let (_served, port) = serve();
    let refused = |bytes: &[u8]| {
        let mut s = connect(port);
        s.write_all(bytes).unwrap();
        assert!(closed(&mut s), "{bytes:02X?}");
    };
    // Operations: another version, an unknown code, a bus id without NUL.
    refused(&[0x01, 0x06, 0x80, 0x05, 0, 0, 0, 0]);
    refused(&op(0x8002));
    let mut no_nul = op(0x8003);
    no_nul.extend_from_slice(&[b'1'; 32]);
    refused(&no_nul);
    // An unknown bus id: status 1, connection closed.
    let mut s = connect(port);
    s.write_all(&op(0x8003)).unwrap();
    s.write_all(&busid("9-9")).unwrap();
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [1, 0x11, 0, 3, 0, 0, 0, 1]);
    assert!(closed(&mut s));

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
    for fields in bad_urbs {
        let mut s = import(port);
        let mut m = Vec::new();
        for word in fields {
            m.extend_from_slice(&word.to_be_bytes());
        }
        m.extend_from_slice(&[0; 8]);
        s.write_all(&m).unwrap();
        assert!(closed(&mut s), "{fields:?}");
    }
    // A header cut short by the client closing: the server goes on.
    let mut s = import(port);
    s.write_all(&[0, 0, 0, 1, 0, 0]).unwrap();
    drop(s);
    // Still serving: a device list, and Debian's usbip when it is installed.
    let mut s = connect(port);
    s.write_all(&op(0x8005)).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[11], 1, "one device");
    usbip_lists(port);
}

/// Debian's `usbip list -r` (userspace only: no kernel module needed for a list).
fn usbip_lists(port: u16) {
    let Ok(output) = Command::new("usbip")
        .args(["--tcp-port", &port.to_string(), "list", "-r", "127.0.0.1"])
        .output()
    else {
        eprintln!("usbip (Debian package usbip) not installed: its list not tried");
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1-1:"), "{text}");
    assert!(text.contains("(08e6:3437)"), "{text}");
    assert!(text.contains("(0b/00/00)"), "{text}");
}
