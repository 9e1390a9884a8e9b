//! A scripted virtual card speaking the vpcd protocol (2-byte big-endian length,
//! then the message), for the tests of a `vpcd:` reader (the pcsc-lite binding's,
//! the CLI's `scan` and `apdu`): it connects to the reader like vsmartcard's
//! `vicc`, and each test decides how it answers (slowly, one byte at a time,
//! twice, not at all, with frames nobody asked for, by hanging up).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// vicc's ATR (T=1).
pub const ATR_A: [u8; 11] = [
    0x3B, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xFF, 0x01, 0x00, 0x0B,
];
/// The same with another last historical byte (and its TCK): a different card.
pub const ATR_B: [u8; 11] = [
    0x3B, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xFF, 0x01, 0x01, 0x0A,
];

/// One end of a vpcd connection, card side.
pub struct Peer {
    /// The connection to the reader (for writing or shutting down by hand).
    pub stream: TcpStream,
}

/// A frame on the wire: the length prefix and `body`.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// `80 10 00 00 Lc data`: the echo command every peer here understands.
pub fn echo_command(data: &[u8]) -> Vec<u8> {
    let mut c = vec![0x80, 0x10, 0x00, 0x00, data.len() as u8];
    c.extend_from_slice(data);
    c
}

/// The answer to an echo command: its data and 90 00; anything else gets 6D 00.
pub fn echo_answer(apdu: &[u8]) -> Vec<u8> {
    match apdu {
        [0x80, 0x10, _, _, lc, data @ ..] if usize::from(*lc) == data.len() => {
            [data, &[0x90, 0x00][..]].concat()
        }
        _ => vec![0x6D, 0x00],
    }
}

impl Peer {
    /// Connect to a reader listening on 127.0.0.1:`port` (retrying while it starts).
    pub fn connect(port: u16) -> Peer {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => {
                    stream.set_nodelay(true).unwrap();
                    return Peer { stream };
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "connect to vpcd:{port}: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// The next message from the reader; `None` when it hung up.
    pub fn read_message(&mut self) -> Option<Vec<u8>> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).ok()?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
        self.stream.read_exact(&mut body).ok()?;
        Some(body)
    }

    /// Send one framed message (errors ignored: the reader may have hung up).
    pub fn send(&mut self, body: &[u8]) {
        let _ = self.stream.write_all(&frame(body));
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Send `bytes` one at a time, `gap` apart, until done or the reader hangs up;
    /// returns how many went out.
    pub fn trickle(&mut self, bytes: &[u8], gap: Duration) -> usize {
        for (i, b) in bytes.iter().enumerate() {
            if self.stream.write_all(&[*b]).is_err() {
                return i;
            }
            std::thread::sleep(gap);
        }
        bytes.len()
    }

    /// Hang up.
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// A handle that can hang up this connection from another thread.
    pub fn hangup_handle(&self) -> TcpStream {
        self.stream.try_clone().unwrap()
    }

    /// Serve as a card with `atr`: power commands are taken silently, GET_ATR is
    /// answered with `atr`, and each command APDU goes to `on_apdu`, which answers
    /// it through the peer (or not) and says whether to go on. Returns when the
    /// reader hangs up or `on_apdu` says stop.
    pub fn serve(&mut self, atr: &[u8], mut on_apdu: impl FnMut(&mut Peer, &[u8]) -> bool) {
        while let Some(message) = self.read_message() {
            match message.as_slice() {
                [4] => self.send(atr),
                [_] => {}
                apdu => {
                    if !on_apdu(self, apdu) {
                        return;
                    }
                }
            }
        }
    }

    /// Serve as a card answering every echo command at once, in a thread.
    pub fn spawn_echo(mut self, atr: &'static [u8]) -> JoinHandle<Peer> {
        std::thread::spawn(move || {
            self.serve(atr, |peer, apdu| {
                peer.send(&echo_answer(apdu));
                true
            });
            self
        })
    }
}
