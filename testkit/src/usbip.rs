//! A scripted USB/IP client (the Linux kernel's `usbip_protocol.rst`, the side of
//! `usbip attach` and vhci-hcd) for the tests and the benchmark of `readerkit
//! usbip-serve`: operations, URB submissions, and the CCID exchange of one bulk
//! OUT and one bulk IN transfer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// USBIP_RET_SUBMIT.
pub const RET_SUBMIT: u32 = 3;
/// USBIP_RET_UNLINK.
pub const RET_UNLINK: u32 = 4;
/// Size of the bulk IN transfers libccid submits, in bytes.
pub const BULK_IN_LEN: u32 = 65546;

/// A connection to a USB/IP server on 127.0.0.1.
pub struct Client {
    /// The socket (for writing bytes of one's own).
    pub stream: TcpStream,
}

/// A reply to a URB: its command (3 RET_SUBMIT, 4 RET_UNLINK), sequence number,
/// status (0 or a negative errno) and IN data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// USBIP_RET_SUBMIT or USBIP_RET_UNLINK.
    pub command: u32,
    /// The sequence number of the command answered.
    pub seqnum: u32,
    /// 0, or a negative errno.
    pub status: i32,
    /// RET_SUBMIT's actual_length.
    pub actual_length: u32,
    /// The IN data (empty for OUT and for RET_UNLINK).
    pub data: Vec<u8>,
}

/// An operation header (`OP_REQ_DEVLIST` 0x8005, `OP_REQ_IMPORT` 0x8003).
pub fn op(code: u16) -> Vec<u8> {
    let mut m = vec![0x01, 0x11];
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&[0; 4]);
    m
}

/// A NUL-padded 32-byte bus id field.
pub fn busid(id: &str) -> [u8; 32] {
    let mut field = [0u8; 32];
    let len = id.len().min(31);
    field[..len].copy_from_slice(&id.as_bytes()[..len]);
    field
}

/// A URB header of ten big-endian words and a SETUP packet.
pub fn urb(words: [u32; 10], setup: [u8; 8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(48);
    for word in words {
        m.extend_from_slice(&word.to_be_bytes());
    }
    m.extend_from_slice(&setup);
    m
}

/// A USBIP_CMD_SUBMIT and its OUT data.
pub fn submit(
    seq: u32,
    dir_in: bool,
    ep: u32,
    length: u32,
    setup: [u8; 8],
    data: &[u8],
) -> Vec<u8> {
    let words = [
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
    ];
    let mut m = urb(words, setup);
    m.extend_from_slice(data);
    m
}

/// A USBIP_CMD_UNLINK of `victim`.
pub fn unlink(seq: u32, victim: u32) -> Vec<u8> {
    urb([2, seq, 0x0001_0002, 0, 0, victim, 0, 0, 0, 0], [0; 8])
}

impl Client {
    /// Connect to 127.0.0.1:`port`, with a 20 s read time-out as a hang guard.
    ///
    /// # Panics
    /// If the server is not there.
    pub fn connect(port: u16) -> Client {
        Client::over(TcpStream::connect(("127.0.0.1", port)).expect("connect to the server"))
    }

    /// A client on `stream`, a connection to the server made by the caller (from
    /// an address of its choice), with a 20 s read time-out as a hang guard.
    pub fn over(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read time-out");
        let _ = stream.set_nodelay(true);
        Client { stream }
    }

    /// Connect and import bus id 1-1; panics unless the server accepts it.
    pub fn import(port: u16) -> Client {
        let mut client = Client::connect(port);
        client.send(&op(0x8003));
        client.send(&busid("1-1"));
        let reply = client.read(8 + 312);
        assert_eq!(reply[..8], [1, 0x11, 0, 3, 0, 0, 0, 0], "import accepted");
        assert_eq!(&reply[8 + 256..8 + 260], b"1-1\0");
        client
    }

    /// The local port of this client's connection.
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("a local address").port()
    }

    /// Configure the imported device (SET_CONFIGURATION 1 as transfer `seq`);
    /// panics unless it completes with status 0. Until then its bulk and
    /// interrupt endpoints are refused, as a real device's are.
    pub fn configure(&mut self, seq: u32) {
        self.send(&submit(seq, false, 0, 0, [0, 9, 1, 0, 0, 0, 0, 0], &[]));
        let done = self.header();
        assert_eq!(
            (done.command, done.seqnum, done.status, done.actual_length),
            (RET_SUBMIT, seq, 0, 0),
            "SET_CONFIGURATION 1"
        );
    }

    /// Write `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the server");
    }

    /// Read exactly `n` bytes.
    pub fn read(&mut self, n: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; n];
        self.stream
            .read_exact(&mut bytes)
            .expect("read from the server");
        bytes
    }

    /// True if the server closed the connection (end of stream or reset).
    pub fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        !matches!(self.stream.read(&mut byte), Ok(n) if n > 0)
    }

    /// Hang up as a client that goes away would (no more requests, the socket
    /// closed for writing), then read until the server closes its side too: the
    /// server has then let the device go. Replies still in flight are dropped.
    pub fn hang_up(mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let mut rest = [0u8; 512];
        while matches!(self.stream.read(&mut rest), Ok(n) if n > 0) {}
    }

    /// Read a URB reply's 48-byte header: the reply, its data not read yet.
    pub fn header(&mut self) -> Reply {
        let h = self.read(48);
        let word = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        Reply {
            command: word(0),
            seqnum: word(4),
            status: i32::from_be_bytes(word(20).to_be_bytes()),
            actual_length: word(24),
            data: Vec::new(),
        }
    }

    /// Read one URB reply; `dir_in` says whether a RET_SUBMIT carries data.
    pub fn reply(&mut self, dir_in: bool) -> Reply {
        let mut reply = self.header();
        if reply.command == RET_SUBMIT && dir_in {
            reply.data = self.read(reply.actual_length as usize);
        }
        reply
    }

    /// A control IN transfer: its status and data.
    pub fn control_in(&mut self, seq: u32, setup: [u8; 8]) -> (i32, Vec<u8>) {
        let length = u32::from(u16::from_le_bytes([setup[6], setup[7]]));
        self.send(&submit(seq, true, 0, length, setup, &[]));
        let reply = self.reply(true);
        assert_eq!((reply.command, reply.seqnum), (RET_SUBMIT, seq));
        (reply.status, reply.data)
    }

    /// Send a CCID message on bulk OUT (sequence number `seq + 1`) and read the
    /// answer from one bulk IN transfer (`seq`, submitted first, as libusb's
    /// reader may be): both complete with status 0, the OUT one with all its data.
    pub fn exchange(&mut self, seq: u32, message: &[u8]) -> Vec<u8> {
        let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
        let mut both = submit(seq, true, 1, BULK_IN_LEN, [0; 8], &[]);
        both.extend_from_slice(&submit(seq + 1, false, 1, length, [0; 8], message));
        self.send(&both);
        let mut answer = None;
        let mut out_done = false;
        while answer.is_none() || !out_done {
            // The OUT reply carries no data: read the header first.
            let done = self.header();
            assert_eq!(
                (done.command, done.status),
                (RET_SUBMIT, 0),
                "RET_SUBMIT, status 0"
            );
            if done.seqnum == seq {
                answer = Some(self.read(done.actual_length as usize));
            } else {
                assert_eq!(done.seqnum, seq + 1);
                assert_eq!(done.actual_length, length, "all of the OUT data");
                out_done = true;
            }
        }
        answer.unwrap_or_default()
    }
}
