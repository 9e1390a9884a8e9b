//! The far side of a UART, played from the fuzzer's bytes: a stream served in the
//! fuzzer's pieces with silences and read errors in between (a noisy line, a
//! trickling or hostile peer), and the host's end of it ([`Link`]: embedded-hal-nb
//! serial, a delay that counts instead of sleeping, and the UART configuration of
//! `readerkit-hal`). The targets inspect the [`Peer`] between calls.
//!
//! A schedule byte `s`, in turn: `s >> 6` = 0 a piece of `s % 64 + 1` bytes, 1 a
//! piece of `(s % 64 + 1) * 16` bytes, 2 silence for `s % 64 + 1` reads, 3 a read
//! error (`s % 64` = 0 overrun, 1 parity, 2 framing) or silence for `s % 64 * 64`
//! reads. After the schedule the rest of the stream comes at once, after the
//! stream silence.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use embedded_hal::delay::DelayNs;
use embedded_hal_nb::serial::{self, ErrorKind};
use readerkit_hal::{ConfigError, Parity, UartConfig};

/// What the host's last read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastRead {
    /// A byte.
    Byte,
    /// Nothing yet (`WouldBlock`).
    Nothing,
    /// A receive error.
    Error,
}

/// What the peer is doing now.
#[derive(Debug, Clone, Copy)]
enum Serving {
    /// Sending a piece: this many bytes are left in it.
    Piece(usize),
    /// Silent for this many more reads.
    Silence(u32),
    /// A read error of this kind next.
    Error(ErrorKind),
}

/// The peer: its stream and schedule, and what the host did (the fields the
/// targets read).
#[derive(Debug)]
pub struct Peer {
    /// Everything the peer sends.
    pub stream: Vec<u8>,
    /// How many bytes of `stream` the host has read.
    pub at: usize,
    schedule: Vec<u8>,
    scheduled: usize,
    serving: Serving,
    /// Every character the host sends comes back first (a shared I/O line).
    pub echo: bool,
    /// Every byte the host wrote.
    pub written: Vec<u8>,
    /// For each byte of `written`: `at` and `reads` when it was written.
    pub written_at: Vec<(usize, u64)>,
    /// The echoes still to come back.
    echoes: VecDeque<u8>,
    /// The host's reads so far.
    pub reads: u64,
    /// The reads that gave a receive error.
    pub errors: u64,
    /// What the last read gave.
    pub last: LastRead,
    /// Every byte the host read, echoes included, in order.
    pub delivered: Vec<u8>,
    /// The time the host's delay counted, in ns.
    pub delay_ns: u64,
}

impl Peer {
    /// A peer sending `stream` on `schedule`.
    pub fn new(stream: Vec<u8>, schedule: &[u8]) -> Peer {
        Peer {
            stream,
            at: 0,
            schedule: schedule.to_vec(),
            scheduled: 0,
            serving: Serving::Piece(0),
            echo: false,
            echoes: VecDeque::new(),
            reads: 0,
            errors: 0,
            last: LastRead::Nothing,
            delivered: Vec::new(),
            written: Vec::new(),
            written_at: Vec::new(),
            delay_ns: 0,
        }
    }

    /// How many schedule bytes there are.
    pub fn schedule_len(&self) -> usize {
        self.schedule.len()
    }

    fn next_serving(&mut self) -> Serving {
        let Some(&s) = self.schedule.get(self.scheduled) else {
            return Serving::Piece(usize::MAX);
        };
        self.scheduled += 1;
        let n = s & 63;
        match (s >> 6, n) {
            (0, _) => Serving::Piece(usize::from(n) + 1),
            (1, _) => Serving::Piece((usize::from(n) + 1) * 16),
            (2, _) => Serving::Silence(u32::from(n) + 1),
            (_, 0) => Serving::Error(ErrorKind::Overrun),
            (_, 1) => Serving::Error(ErrorKind::Parity),
            (_, 2) => Serving::Error(ErrorKind::FrameFormat),
            _ => Serving::Silence(u32::from(n) * 64),
        }
    }

    fn read(&mut self) -> nb::Result<u8, UartError> {
        self.reads += 1;
        if let Some(echo) = self.echoes.pop_front() {
            self.delivered.push(echo);
            self.last = LastRead::Byte;
            return Ok(echo);
        }
        loop {
            match &mut self.serving {
                Serving::Piece(0) | Serving::Silence(0) => self.serving = self.next_serving(),
                Serving::Piece(left) => {
                    let Some(&byte) = self.stream.get(self.at) else {
                        self.last = LastRead::Nothing;
                        return Err(nb::Error::WouldBlock);
                    };
                    *left -= 1;
                    self.at += 1;
                    self.delivered.push(byte);
                    self.last = LastRead::Byte;
                    return Ok(byte);
                }
                Serving::Silence(left) => {
                    *left -= 1;
                    self.last = LastRead::Nothing;
                    return Err(nb::Error::WouldBlock);
                }
                Serving::Error(kind) => {
                    let kind = *kind;
                    self.serving = Serving::Piece(0);
                    self.errors += 1;
                    self.last = LastRead::Error;
                    return Err(nb::Error::Other(UartError(kind)));
                }
            }
        }
    }

    /// Time passes (the host polls now and then): a silence is over.
    pub fn skip_silence(&mut self) {
        if let Serving::Silence(_) = self.serving {
            self.serving = Serving::Piece(0);
        }
    }

    /// Everything sent, nothing more to come but silence.
    pub fn drained(&self) -> bool {
        self.at == self.stream.len()
    }
}

/// A receive error of a kind.
#[derive(Debug)]
pub struct UartError(ErrorKind);

impl serial::Error for UartError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// The host's end of the UART, and its delay, over the shared [`Peer`].
#[derive(Debug, Clone)]
pub struct Link(pub Rc<RefCell<Peer>>);

impl serial::ErrorType for Link {
    type Error = UartError;
}

impl serial::Read<u8> for Link {
    fn read(&mut self) -> nb::Result<u8, UartError> {
        self.0.borrow_mut().read()
    }
}

impl serial::Write<u8> for Link {
    fn write(&mut self, word: u8) -> nb::Result<(), UartError> {
        let mut peer = self.0.borrow_mut();
        peer.written.push(word);
        let at = (peer.at, peer.reads);
        peer.written_at.push(at);
        if peer.echo {
            peer.echoes.push_back(word);
        }
        Ok(())
    }
    fn flush(&mut self) -> nb::Result<(), UartError> {
        Ok(())
    }
}

impl DelayNs for Link {
    fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().delay_ns += u64::from(ns);
    }
}

impl UartConfig for Link {
    fn configure(&mut self, _: u32, _: Parity) -> Result<(), ConfigError> {
        Ok(())
    }
}
