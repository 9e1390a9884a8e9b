//! NXP TDA8029: a complete reader (80C51 + ISO 7816 UART + card front end) behind a
//! serial protocol, ALPAR. The chip runs T=0, T=1 and PPS itself; the host speaks
//! frames.
//!
//! ## Frames
//!
//! ```text
//! 60|E0  LEN_H  LEN_L  CMD  payload (LEN bytes)  LRC
//! ```
//!
//! `60` is a normal frame (the host always sends it), `E0` an error answer whose
//! 1-byte payload is the error code ([`status`] maps it); the answer repeats the
//! command it answers; LRC is the XOR of every byte before it, so the XOR of a whole
//! frame is 0. Payloads are at most [`MAX_PAYLOAD`] bytes. The chip may send
//! `60 00 01 A0 xx LRC` at any time: card inserted (`xx` = 01) or removed (00);
//! [`Reader`] turns these into [`CardEvent`]s, also while it waits for an answer.
//! A frame with a wrong LRC is dropped; when its header repeats the command whose
//! answer is awaited, it was that answer, broken on the line: the command fails at
//! once with [`Failure::DeviceProtocolError`] (ALPAR has no way to ask for it
//! again), rather than waiting out its time-out for an answer that already came.
//!
//! The link runs 8N1 at 38 400 bit/s after the chip's reset
//! ([`cmd::SET_SERIAL_BAUD_RATE`] with code 06 switches it to 115 200). [`encode`] and
//! [`Frame::parse`] are sans-I/O; [`Decoder`] reassembles frames byte by byte.
//!
//! ## Reader
//!
//! [`Reader`] implements the core's callbacks directly: POWER sends
//! power_up_5V / 3V / 1V8 (`6E` / `6D` / `68`, option byte 00: the chip applies
//! every ATR parameter, PPS included) or power_off (`4D`); SET_PROTOCOL sends nothing
//! (the chip negotiated at power-up) and reports the negotiated parameters;
//! TRANSMIT sends card_command (`00`) with the APDU and returns the response APDU.
//!
//! ## A late answer is never the next command's
//!
//! ALPAR frames carry no sequence number: an answer says only which command code it
//! answers. So the reader keeps an explicit state of what is pending: from the first byte
//! of a command sent until a frame with its code comes back, that answer is owed.
//! When a command fails without its answer (time-out, receive error, a byte the UART
//! refused), the answer stays owed, and the next command first drains the line:
//! it reads, as long as one time-out at most and counted the same way (silence
//! [`POLL_US`] per empty read, [`BYTE_US`] per byte, so a chatty chip cannot hold
//! it), until the owed answer comes, and discards it and every other frame on the
//! way; only then does it send. Card events met meanwhile are held for
//! [`Reader::poll`] as always, and a [`Reader::poll`] that meets the owed answer
//! settles it too. A receive error while draining fails the command with nothing
//! sent. When the owed answer does not come within that time-out either, the chip
//! is taken to have dropped it, and the command is sent: an answer later than two
//! time-outs (6 s at the usual 3 000 ms, where the chip times the card out itself
//! well within one) is the one case the protocol leaves indistinguishable. The cost:
//! a command after a failed one may take up to twice its time-out.

use embedded_hal::delay::DelayNs;
use embedded_hal_nb::serial;
use readerkit::ReaderFunctions;
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::PowerAction;
use readerkit::status::Failure;
use readerkit::t1::lrc;
use readerkit::timing::Timing;
use zeroize::Zeroize;

use crate::CardEvent;
use crate::chip::Class;

/// First byte of a normal frame.
pub const ACK: u8 = 0x60;
/// First byte of an error answer.
pub const NAK: u8 = 0xE0;
/// Largest payload, in bytes.
pub const MAX_PAYLOAD: usize = 506;
/// Bytes of a frame around its payload: the 4 header bytes (start, LEN_H, LEN_L,
/// command) and the LRC.
pub const FRAME_OVERHEAD: usize = 5;
/// Largest frame, in bytes (4 header bytes, payload, LRC).
pub const MAX_FRAME: usize = MAX_PAYLOAD + FRAME_OVERHEAD;

/// The payload length a frame's header announces: LEN_H LEN_L, its bytes 1 and 2
/// (big-endian). `header` holds at least 3 bytes.
fn announced_payload(header: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([header[1], header[2]]))
}

/// ALPAR command codes (AN10207; the numbers agree across four open drivers).
pub mod cmd {
    /// card_command: a C-APDU out, the R-APDU back.
    pub const CARD_COMMAND: u8 = 0x00;
    /// check_presence_card: answer 1 byte, 00 absent, 01 present.
    pub const CHECK_PRESENCE_CARD: u8 = 0x09;
    /// send_num_mask: the firmware identification (ASCII).
    pub const SEND_NUM_MASK: u8 = 0x0A;
    /// set_card_baud_rate (1 byte, FiDi).
    pub const SET_CARD_BAUD_RATE: u8 = 0x0B;
    /// IFSD_request (1 byte, IFSD).
    pub const IFSD_REQUEST: u8 = 0x0C;
    /// set_serial_baud_rate (1 byte code; 06 = 115 200 bit/s).
    pub const SET_SERIAL_BAUD_RATE: u8 = 0x0D;
    /// negotiate (PPS).
    pub const NEGOTIATE: u8 = 0x10;
    /// set_clock_card.
    pub const SET_CLOCK_CARD: u8 = 0x11;
    /// power_off.
    pub const POWER_OFF: u8 = 0x4D;
    /// power_up_1V8 (1 option byte).
    pub const POWER_UP_1V8: u8 = 0x68;
    /// power_up_3V (1 option byte).
    pub const POWER_UP_3V: u8 = 0x6D;
    /// power_up_5V (1 option byte; 00 = take every ATR parameter into account).
    pub const POWER_UP_5V: u8 = 0x6E;
    /// Unsolicited card insertion (payload 01) or removal (payload 00).
    pub const CARD_EVENT: u8 = 0xA0;
    /// get_card_param: payload byte 2 = protocol (0 = T=0, 1 = T=1).
    pub const GET_CARD_PARAM: u8 = 0xA6;
    /// get_reader_status.
    pub const GET_READER_STATUS: u8 = 0xAA;
}

/// Serial baud-rate code for [`cmd::SET_SERIAL_BAUD_RATE`]: 115 200 bit/s.
pub const SERIAL_115200: u8 = 0x06;

/// A frame that could not be built or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The payload is longer than [`MAX_PAYLOAD`].
    TooLong,
    /// The output buffer is too small for the frame.
    BufferTooSmall,
    /// The first byte is neither `60` nor `E0`.
    BadStart,
    /// The LRC does not match.
    BadLrc,
    /// The bytes end before the frame does, or go on after it.
    Length,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::TooLong => "ALPAR payload longer than 506 bytes",
            Error::BufferTooSmall => "buffer too small for the ALPAR frame",
            Error::BadStart => "ALPAR frame does not start with 60 or E0",
            Error::BadLrc => "ALPAR frame LRC mismatch",
            Error::Length => "ALPAR frame length does not match",
        })
    }
}

impl core::error::Error for Error {}

/// Build the host frame `60 LEN_H LEN_L command payload LRC` into `out`; returns
/// its length in bytes.
pub fn encode(command: u8, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    Frame {
        ok: true,
        command,
        payload,
    }
    .encode(out)
}

/// A checked view of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// `true` for `60`, `false` for an error answer (`E0`).
    pub ok: bool,
    /// The command code.
    pub command: u8,
    /// The payload (for an error answer: the error code).
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Parse exactly one frame.
    pub fn parse(bytes: &'a [u8]) -> Result<Frame<'a>, Error> {
        let ok = match bytes.first() {
            Some(&ACK) => true,
            Some(&NAK) => false,
            Some(_) => return Err(Error::BadStart),
            None => return Err(Error::Length),
        };
        if bytes.len() < FRAME_OVERHEAD {
            return Err(Error::Length);
        }
        let len = announced_payload(bytes);
        if len > MAX_PAYLOAD {
            return Err(Error::TooLong);
        }
        if bytes.len() != len + FRAME_OVERHEAD {
            return Err(Error::Length);
        }
        if lrc(bytes) != 0 {
            return Err(Error::BadLrc);
        }
        Ok(Frame {
            ok,
            command: bytes[3],
            payload: &bytes[4..4 + len],
        })
    }

    /// Build this frame (`60` or `E0`, LEN, command, payload, LRC) into `out`;
    /// returns its length in bytes. [`Frame::parse`] of the result gives the frame
    /// back.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(Error::TooLong);
        }
        let len = self.payload.len() + FRAME_OVERHEAD;
        let frame = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        frame[0] = if self.ok { ACK } else { NAK };
        frame[1..3].copy_from_slice(&(self.payload.len() as u16).to_be_bytes());
        frame[3] = self.command;
        frame[4..len - 1].copy_from_slice(self.payload);
        frame[len - 1] = lrc(&frame[..len - 1]);
        Ok(len)
    }

    /// The card event this frame announces, if it is one.
    pub fn card_event(&self) -> Option<CardEvent> {
        match (self.ok, self.command, self.payload) {
            (true, cmd::CARD_EVENT, [0x01]) => Some(CardEvent::Inserted),
            (true, cmd::CARD_EVENT, [0x00]) => Some(CardEvent::Removed),
            _ => None,
        }
    }
}

/// Reassembles frames from a byte stream.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: [u8; MAX_FRAME],
    len: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// An empty decoder.
    pub const fn new() -> Decoder {
        Decoder {
            buf: [0; MAX_FRAME],
            len: 0,
        }
    }

    /// The command byte of the frame taken in last (the one [`Decoder::feed`]
    /// just completed, valid or not).
    fn last_command(&self) -> u8 {
        self.buf[3]
    }

    /// Take one byte. `Some(Ok(frame))` when it completes a valid frame,
    /// `Some(Err(_))` when it completes (or starts) a broken one, which is dropped;
    /// bytes before a start byte are skipped.
    pub fn feed(&mut self, byte: u8) -> Option<Result<Frame<'_>, Error>> {
        if self.len == 0 && byte != ACK && byte != NAK {
            return Some(Err(Error::BadStart));
        }
        self.buf[self.len] = byte;
        self.len += 1;
        if self.len < 4 {
            return None;
        }
        let payload = announced_payload(&self.buf);
        if payload > MAX_PAYLOAD {
            self.len = 0;
            return Some(Err(Error::TooLong));
        }
        if self.len < payload + FRAME_OVERHEAD {
            return None;
        }
        let len = core::mem::replace(&mut self.len, 0);
        Some(Frame::parse(&self.buf[..len]))
    }
}

/// The core failure for an ALPAR error code.
pub fn status(code: u8) -> Failure {
    match code {
        0xC0 => Failure::NoMedia,
        0x22 | 0x80 | 0x81 | 0x39 | 0xFF => Failure::IoTimeout,
        0x0A | 0x83 | 0x84 | 0x8D | 0x90 | 0x25 | 0x28 | 0xE9 => Failure::DeviceProtocolError,
        0x86 | 0x88..=0x8C | 0x92..=0x98 | 0x9B | 0xC4 | 0xC6 => Failure::UnrecognizedMedia,
        0x08 | 0x20 | 0x21 | 0x35 | 0x55 => Failure::InvalidParameter,
        0x29 => Failure::BufferOverflow,
        _ => Failure::Unsuccessful,
    }
}

/// The power-up command for `class`.
pub const fn power_up_command(class: Class) -> u8 {
    match class {
        Class::A => cmd::POWER_UP_5V,
        Class::B => cmd::POWER_UP_3V,
        Class::C => cmd::POWER_UP_1V8,
    }
}

/// A TDA8029 on UART `U`, with delay `D` for answer time-outs; see the module
/// documentation.
#[derive(Debug)]
pub struct Reader<U, D> {
    uart: U,
    delay: D,
    decoder: Decoder,
    /// The class for power-up.
    class: Class,
    timeout_ms: u32,
    held: HeldEvents,
    pending: Pending,
    card_clock_khz: u32,
}

/// Whether the chip owes an answer: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Every command sent has had its answer (or was given up).
    Nothing,
    /// A command with this code was sent and its answer has not come yet.
    Answer {
        /// The command code the answer repeats.
        command: u8,
    },
}

/// How a wait for the owed answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// The answer came: its payload's length in the reply buffer, or the failure
    /// it means (an error answer's [`status`], [`Failure::BufferTooSmall`]).
    Answer(Result<usize, Failure>),
    /// The time-out passed first.
    TimedOut,
    /// The UART reported a receive error.
    ReadError,
}

/// Card events that arrived while an answer was awaited, kept for
/// [`Reader::poll`]. Only the outcome matters, except that a removal must never be
/// lost: a card swapped during a command (removed, then inserted) is reported as
/// both, removal first, so the old card's session ends; an insertion followed by a
/// removal is just the removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeldEvents {
    /// Nothing to report.
    None,
    /// A card was inserted.
    Inserted,
    /// The card was removed (whatever came before).
    Removed,
    /// The card was removed, then a card inserted.
    RemovedThenInserted,
}

impl HeldEvents {
    /// One more event.
    fn push(&mut self, event: CardEvent) {
        *self = match (*self, event) {
            (HeldEvents::Removed | HeldEvents::RemovedThenInserted, CardEvent::Inserted) => {
                HeldEvents::RemovedThenInserted
            }
            (_, CardEvent::Inserted) => HeldEvents::Inserted,
            (_, CardEvent::Removed) => HeldEvents::Removed,
            // The chip's frames announce only insertion and removal.
            (held, _) => held,
        }
    }

    /// The first event to report, if any.
    fn take(&mut self) -> Option<CardEvent> {
        let (first, rest) = match *self {
            HeldEvents::None => return None,
            HeldEvents::Inserted => (CardEvent::Inserted, HeldEvents::None),
            HeldEvents::Removed => (CardEvent::Removed, HeldEvents::None),
            HeldEvents::RemovedThenInserted => (CardEvent::Removed, HeldEvents::Inserted),
        };
        *self = rest;
        Some(first)
    }
}

/// Poll step while waiting for an answer, in µs: a read that finds nothing waits
/// this long.
pub const POLL_US: u32 = 50;
/// Time a byte received counts against an answer's time-out, in µs: 10 bits (8N1)
/// at 115 200 bit/s, the fastest link rate, rounded down, so the time counted never
/// runs ahead of the time that passed.
pub const BYTE_US: u32 = 86;

impl<U, D> Reader<U, D>
where
    U: serial::Read<u8> + serial::Write<u8>,
    D: DelayNs,
{
    /// A reader powering cards in `class`, waiting at most `timeout_ms` ms for each
    /// answer (the chip itself times the card out; 3 000 ms covers the slowest card
    /// command), with the card clocked at `card_clock_khz` kHz (for the timing it
    /// reports).
    pub fn new(uart: U, delay: D, class: Class, timeout_ms: u32, card_clock_khz: u32) -> Self {
        Reader {
            uart,
            delay,
            decoder: Decoder::new(),
            class,
            timeout_ms,
            held: HeldEvents::None,
            pending: Pending::Nothing,
            card_clock_khz,
        }
    }

    /// The UART and delay back.
    pub fn release(self) -> (U, D) {
        (self.uart, self.delay)
    }

    /// The callback table: power, SET_PROTOCOL and TRANSMIT.
    pub fn functions() -> ReaderFunctions<Reader<U, D>> {
        ReaderFunctions {
            power: Some(Self::power),
            set_protocol: Some(Self::set_protocol),
            transmit: Some(Self::transmit),
            ..ReaderFunctions::NONE
        }
    }

    /// Read what the chip sent unasked: the next card insertion or removal, if any.
    /// Never waits, and reads at most [`MAX_FRAME`] bytes, so a chip that never
    /// stops sending cannot hold it: what is left waits for the next call. An
    /// owed answer it meets is settled (and discarded).
    /// [`Failure::DeviceProtocolError`]: the UART reported a receive error.
    pub fn poll(&mut self) -> Result<Option<CardEvent>, Failure> {
        if let Some(event) = self.held.take() {
            return Ok(Some(event));
        }
        for _ in 0..MAX_FRAME {
            match self.uart.read() {
                Ok(b) => {
                    self.receive(b, &mut []);
                    if let Some(event) = self.held.take() {
                        return Ok(Some(event));
                    }
                }
                Err(nb::Error::WouldBlock) => return Ok(None),
                Err(nb::Error::Other(_)) => return Err(Failure::DeviceProtocolError),
            }
        }
        Ok(None)
    }

    /// Send `command` with `payload` and wait for its answer; the answer's payload
    /// goes into `reply`, its length is returned. Card events arriving meanwhile are
    /// kept for [`Reader::poll`]; other frames are skipped. When an earlier command
    /// failed without its answer, that answer is drained first (see the module
    /// documentation), so it can never pass for this command's.
    ///
    /// The time-out counts silence and bytes alike: a read that finds nothing
    /// waits [`POLL_US`], a byte received counts [`BYTE_US`], so a chip that never
    /// stops sending (noise, endless card events) cannot hold the call either: it
    /// returns after at most `timeout_ms × 1000 / POLL_US + 1` UART reads, twice
    /// that when an answer was owed.
    ///
    /// Errors: an error answer's [`status`]; [`Failure::BufferTooSmall`], the
    /// answer's payload is longer than `reply`; [`Failure::IoTimeout`], no answer
    /// within the time-out; [`Failure::DeviceProtocolError`], the answer came with
    /// a wrong LRC (a whole frame whose header repeats the command), or the UART
    /// reported a receive error (before sending, while draining an owed answer, or
    /// after);
    /// [`Failure::InvalidParameter`], `payload` is longer than [`MAX_PAYLOAD`]
    /// (nothing is read or sent); [`Failure::Unsuccessful`], the UART refused a byte
    /// to send.
    pub fn command(
        &mut self,
        command: u8,
        payload: &[u8],
        reply: &mut [u8],
    ) -> Result<usize, Failure> {
        let mut frame = [0u8; MAX_FRAME];
        let len = encode(command, payload, &mut frame).map_err(|_| Failure::InvalidParameter)?;
        let sent = self.send_frame(command, &frame[..len]);
        // The frame holds the whole command (a PIN pad's VERIFY: the PIN).
        frame.zeroize();
        sent?;
        match self.wait(reply) {
            Waited::Answer(answer) => answer,
            Waited::TimedOut => Err(Failure::IoTimeout),
            Waited::ReadError => Err(Failure::DeviceProtocolError),
        }
    }

    /// Settle an answer still owed (see [`Reader::command`]), then write `frame`,
    /// a frame of `command`, to the chip and flush it.
    fn send_frame(&mut self, command: u8, frame: &[u8]) -> Result<(), Failure> {
        if let Pending::Answer { .. } = self.pending {
            match self.wait(&mut []) {
                // Whatever it says, it answers an earlier command: discarded.
                Waited::Answer(_) => {}
                // The chip dropped it; nothing is owed any more.
                Waited::TimedOut => self.pending = Pending::Nothing,
                Waited::ReadError => return Err(Failure::DeviceProtocolError),
            }
        }
        self.pending = Pending::Answer { command };
        for &b in frame {
            nb::block!(self.uart.write(b)).map_err(|_| Failure::Unsuccessful)?;
        }
        nb::block!(self.uart.flush()).map_err(|_| Failure::Unsuccessful)
    }

    /// Read until the owed answer comes (its payload into `reply`), at most the
    /// time-out, counted as [`Reader::command`] says.
    fn wait(&mut self, reply: &mut [u8]) -> Waited {
        let mut waited_us: u64 = 0;
        let limit_us = u64::from(self.timeout_ms) * 1000;
        loop {
            match self.uart.read() {
                Ok(b) => {
                    if let Some(answer) = self.receive(b, reply) {
                        return Waited::Answer(answer);
                    }
                    waited_us += u64::from(BYTE_US);
                    if waited_us >= limit_us {
                        return Waited::TimedOut;
                    }
                }
                Err(nb::Error::WouldBlock) => {
                    if waited_us >= limit_us {
                        return Waited::TimedOut;
                    }
                    self.delay.delay_us(POLL_US);
                    waited_us += u64::from(POLL_US);
                }
                Err(nb::Error::Other(_)) => return Waited::ReadError,
            }
        }
    }

    /// Take one byte from the chip. `Some` once it completes the owed answer,
    /// which settles it: its payload copied into `reply`, or an error answer's
    /// [`status`]. A card event it completes is held for [`Reader::poll`]; any
    /// other frame is skipped.
    fn receive(&mut self, byte: u8, reply: &mut [u8]) -> Option<Result<usize, Failure>> {
        let answer = match self.decoder.feed(byte) {
            Some(Ok(answer)) => answer,
            // A whole frame with a wrong LRC: when its header repeats the owed
            // command, that answer came, broken on the line; it will not come
            // again, so it settles the wait with an error at once.
            Some(Err(Error::BadLrc)) => {
                let command = self.decoder.last_command();
                if self.pending != (Pending::Answer { command }) {
                    return None;
                }
                self.pending = Pending::Nothing;
                return Some(Err(Failure::DeviceProtocolError));
            }
            _ => return None,
        };
        if let Some(event) = answer.card_event() {
            self.held.push(event);
            return None;
        }
        if self.pending
            != (Pending::Answer {
                command: answer.command,
            })
        {
            return None;
        }
        self.pending = Pending::Nothing;
        if !answer.ok {
            return Some(Err(status(answer.payload.first().copied().unwrap_or(0))));
        }
        let len = answer.payload.len();
        Some(match reply.get_mut(..len) {
            Some(out) => {
                out.copy_from_slice(answer.payload);
                Ok(len)
            }
            None => Err(Failure::BufferTooSmall),
        })
    }

    /// POWER callback. The errors of [`Reader::command`], except that an ATR
    /// longer than any ATR ([`readerkit::atr::MAX_LEN`], 33 bytes) is
    /// [`Failure::UnrecognizedMedia`], and power down takes any acknowledgement.
    pub fn power(&mut self, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
        match action {
            PowerAction::PowerDown => match self.command(cmd::POWER_OFF, &[], &mut []) {
                // Its payload, if the chip sends one, means nothing.
                Ok(_) | Err(Failure::BufferTooSmall) => Ok(()),
                Err(e) => Err(e),
            },
            PowerAction::ColdReset | PowerAction::WarmReset => {
                let mut buf = [0u8; readerkit::atr::MAX_LEN];
                let n = self
                    .command(power_up_command(self.class), &[0x00], &mut buf)
                    .map_err(|e| match e {
                        Failure::BufferTooSmall => Failure::UnrecognizedMedia,
                        e => e,
                    })?;
                atr.clear();
                atr.extend_from_slice(&buf[..n])
                    .map_err(|_| Failure::UnrecognizedMedia)
            }
        }
    }

    /// SET_PROTOCOL callback: the chip negotiated (PPS) at power-up already; nothing
    /// is sent, the parameters of the negotiation are reported as in force.
    pub fn set_protocol(&mut self, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
        let t = call.negotiation.timing;
        Ok(Timing {
            clock_khz: self.card_clock_khz,
            ..t
        })
    }

    /// TRANSMIT callback: card_command with the APDU.
    pub fn transmit(
        &mut self,
        call: &TransmitCall<'_>,
        reply: &mut [u8],
    ) -> Result<usize, Failure> {
        self.command(cmd::CARD_COMMAND, call.apdu, reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use std::vec::Vec;

    /// Reads after which [`TestChip`] reports a receive error, so that a driver
    /// that never stops reading fails a test instead of hanging it.
    const MAX_READS: u32 = 100_000;

    /// The chip's side of the UART: its bytes once (or over and over), then
    /// silence; each byte only once the host has flushed a number of frames and
    /// read a number of times (a chip that answers late); reads and flushes
    /// counted.
    struct TestChip {
        bytes: Vec<u8>,
        /// For each byte: the flushes and the reads that must come before it.
        after: Vec<(u32, u32)>,
        at: usize,
        repeat: bool,
        reads: u32,
        flushes: u32,
    }

    impl TestChip {
        fn once(bytes: &[u8]) -> TestChip {
            TestChip::scripted(&[(0, 0, bytes)])
        }

        fn repeating(bytes: &[u8]) -> TestChip {
            TestChip {
                repeat: true,
                ..TestChip::once(bytes)
            }
        }

        /// Pieces `(flushes, reads, bytes)`: `bytes` come once the host has flushed
        /// `flushes` frames and read more than `reads` times.
        fn scripted(pieces: &[(u32, u32, &[u8])]) -> TestChip {
            let mut chip = TestChip {
                bytes: Vec::new(),
                after: Vec::new(),
                at: 0,
                repeat: false,
                reads: 0,
                flushes: 0,
            };
            for &(flushes, reads, bytes) in pieces {
                chip.bytes.extend_from_slice(bytes);
                chip.after.extend(bytes.iter().map(|_| (flushes, reads)));
            }
            chip
        }
    }

    impl serial::ErrorType for TestChip {
        type Error = serial::ErrorKind;
    }

    impl serial::Read<u8> for TestChip {
        fn read(&mut self) -> nb::Result<u8, serial::ErrorKind> {
            self.reads += 1;
            if self.reads > MAX_READS {
                return Err(nb::Error::Other(serial::ErrorKind::Overrun));
            }
            if self.repeat && self.at == self.bytes.len() {
                self.at = 0;
            }
            let (flushes, reads) = *self.after.get(self.at).ok_or(nb::Error::WouldBlock)?;
            if self.flushes < flushes || self.reads <= reads {
                return Err(nb::Error::WouldBlock);
            }
            self.at += 1;
            Ok(self.bytes[self.at - 1])
        }
    }

    impl serial::Write<u8> for TestChip {
        fn write(&mut self, _: u8) -> nb::Result<(), serial::ErrorKind> {
            Ok(())
        }
        fn flush(&mut self) -> nb::Result<(), serial::ErrorKind> {
            self.flushes += 1;
            Ok(())
        }
    }

    /// A reader with a time-out of `timeout_ms` ms on `chip`.
    fn reader(chip: TestChip, timeout_ms: u32) -> Reader<TestChip, NoopDelay> {
        Reader::new(chip, NoopDelay::new(), Class::A, timeout_ms, 3_686)
    }

    const INSERTED: [u8; 6] = [0x60, 0x00, 0x01, 0xA0, 0x01, 0xC0];
    const REMOVED: [u8; 6] = [0x60, 0x00, 0x01, 0xA0, 0x00, 0xC1];

    /// Endless card events, or endless noise, while an answer is awaited: the
    /// time-out still ends the call (before, each byte read restarted the loop
    /// without counting, and the call never returned).
    #[test]
    fn a_chatty_chip_cannot_hold_a_command() {
        for stream in [&INSERTED[..], &[0x00]] {
            let mut r = reader(TestChip::repeating(stream), 1);
            let mut reply = [0u8; 1];
            assert_eq!(
                r.command(cmd::CHECK_PRESENCE_CARD, &[], &mut reply),
                Err(Failure::IoTimeout)
            );
            let reads = r.release().0.reads;
            assert!(reads <= 1000 / POLL_US + 1, "{reads} reads");
        }
    }

    /// Timing of the late-answer tests: their 10 ms time-out is 200 polls, so a
    /// command that hears nothing gives up at its 201st read; a late answer comes
    /// well within the next command's wait.
    const LATE_MS: u32 = 10;
    const LATE_READS: u32 = 250;

    fn answer_frame(ok: bool, command: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME];
        let n = Frame {
            ok,
            command,
            payload,
        }
        .encode(&mut out)
        .unwrap();
        out[..n].to_vec()
    }

    /// Command 1 times out, its answer (an R-APDU, or an error answer) comes late,
    /// with a card removal, while command 2 with the same code is under way: command
    /// 2 gets its own answer and the removal is kept (before, command 2 returned
    /// command 1's answer: a stale R-APDU handed to the wrong request).
    #[test]
    fn a_late_answer_is_not_the_next_commands() {
        let own = answer_frame(true, cmd::CARD_COMMAND, &[0x90, 0x00]);
        for stale in [
            answer_frame(true, cmd::CARD_COMMAND, &[0x6A, 0x82]),
            answer_frame(false, cmd::CARD_COMMAND, &[0xC0]),
        ] {
            let chip = TestChip::scripted(&[
                (1, LATE_READS, &REMOVED),
                (1, LATE_READS, &stale),
                (2, 0, &own),
            ]);
            let mut r = reader(chip, LATE_MS);
            let mut reply = [0u8; 8];
            let apdu = [0x00, 0xB0, 0x00, 0x00, 0x02];
            assert_eq!(
                r.command(cmd::CARD_COMMAND, &apdu, &mut reply),
                Err(Failure::IoTimeout)
            );
            assert_eq!(r.command(cmd::CARD_COMMAND, &apdu, &mut reply), Ok(2));
            assert_eq!(reply[..2], [0x90, 0x00], "after {stale:02X?}");
            assert_eq!(r.poll(), Ok(Some(CardEvent::Removed)));
            assert_eq!(r.poll(), Ok(None));
        }
    }

    /// The owed answer came before the next command, and a poll met it: settled,
    /// so the next command sends at once. It never comes: the next command waits
    /// one time-out for it, then sends and gets its own answer.
    #[test]
    fn an_owed_answer_is_settled_by_a_poll_or_given_up() {
        let own = answer_frame(true, cmd::CHECK_PRESENCE_CARD, &[0x01]);
        let stale = answer_frame(true, cmd::CHECK_PRESENCE_CARD, &[0x00]);
        let mut reply = [0u8; 1];
        // Late answer, then a poll.
        let chip = TestChip::scripted(&[(1, LATE_READS, &stale), (2, 0, &own)]);
        let mut r = reader(chip, LATE_MS);
        let ask = |r: &mut Reader<TestChip, NoopDelay>, reply: &mut [u8]| {
            r.command(cmd::CHECK_PRESENCE_CARD, &[], reply)
        };
        assert_eq!(ask(&mut r, &mut reply), Err(Failure::IoTimeout));
        while r.uart.reads <= LATE_READS + stale.len() as u32 {
            assert_eq!(r.poll(), Ok(None));
        }
        let before = r.uart.reads;
        assert_eq!(ask(&mut r, &mut reply), Ok(1));
        assert_eq!(reply, [0x01]);
        assert_eq!(
            r.uart.reads - before,
            own.len() as u32,
            "read before sending"
        );
        // No late answer at all.
        let chip = TestChip::scripted(&[(2, 0, &own)]);
        let mut r = reader(chip, LATE_MS);
        assert_eq!(ask(&mut r, &mut reply), Err(Failure::IoTimeout));
        assert_eq!(ask(&mut r, &mut reply), Ok(1));
        assert_eq!(reply, [0x01]);
        let reads = r.release().0.reads;
        assert!(reads <= 3 * (LATE_MS * 1000 / POLL_US + 1), "{reads} reads");
    }

    /// The answer comes with a wrong LRC: the command fails at once with a protocol
    /// error, within the frame's reads, and nothing is owed, so the next command
    /// sends at once (before, the broken answer was skipped like noise: the command
    /// waited out its time-out, IoTimeout, and the next one a second time-out for
    /// an answer that had come already). A broken frame with another command code
    /// (here a card event's) is skipped: the answer after it is the command's.
    #[test]
    fn an_answer_with_a_wrong_lrc_fails_at_once() {
        let own = answer_frame(true, cmd::CHECK_PRESENCE_CARD, &[0x01]);
        let mut broken = answer_frame(true, cmd::CHECK_PRESENCE_CARD, &[0x00]);
        broken[4] ^= 0x01;
        let chip = TestChip::scripted(&[(1, 0, &broken), (2, 0, &own)]);
        let mut r = reader(chip, LATE_MS);
        let mut reply = [0u8; 1];
        assert_eq!(
            r.command(cmd::CHECK_PRESENCE_CARD, &[], &mut reply),
            Err(Failure::DeviceProtocolError)
        );
        assert_eq!(r.uart.reads, broken.len() as u32, "read past the answer");
        assert_eq!(r.command(cmd::CHECK_PRESENCE_CARD, &[], &mut reply), Ok(1));
        assert_eq!(reply, [0x01]);
        assert_eq!(r.uart.reads, (broken.len() + own.len()) as u32);
        // A broken card event, then the answer.
        let mut event = INSERTED;
        event[5] ^= 0x01;
        let stream: Vec<u8> = [&event[..], &own].concat();
        let mut r = reader(TestChip::once(&stream), LATE_MS);
        assert_eq!(r.command(cmd::CHECK_PRESENCE_CARD, &[], &mut reply), Ok(1));
        assert_eq!(r.poll(), Ok(None));
    }

    /// A card swapped while an answer is awaited: poll reports the removal, then
    /// the insertion (before, only the last event was kept: the insertion, and the
    /// old card's session would have gone on with the new card). An insertion then
    /// a removal is the removal alone.
    #[test]
    fn events_during_a_command_keep_every_removal() {
        let answer = [0x60, 0x00, 0x01, 0x09, 0x01, 0x69];
        let cases: [(&[[u8; 6]], &[CardEvent]); 4] = [
            (
                &[REMOVED, INSERTED],
                &[CardEvent::Removed, CardEvent::Inserted],
            ),
            (&[INSERTED, REMOVED], &[CardEvent::Removed]),
            (
                &[INSERTED, REMOVED, INSERTED, REMOVED, INSERTED],
                &[CardEvent::Removed, CardEvent::Inserted],
            ),
            (&[INSERTED], &[CardEvent::Inserted]),
        ];
        for (events, reported) in cases {
            let mut stream: Vec<u8> = events.concat();
            stream.extend_from_slice(&answer);
            let mut r = reader(TestChip::once(&stream), 10);
            let mut reply = [0u8; 1];
            assert_eq!(r.command(cmd::CHECK_PRESENCE_CARD, &[], &mut reply), Ok(1));
            let polled: Vec<CardEvent> = core::iter::from_fn(|| r.poll().unwrap()).collect();
            assert_eq!(polled, reported, "after {events:02X?}");
        }
    }

    /// An ATR answer longer than any ATR is an unrecognised card, whatever its
    /// length, and power down takes an acknowledgement with a payload (before, an
    /// answer over the reader's 64-byte buffer was BufferTooSmall: the caller's
    /// buffer was never the problem).
    #[test]
    fn long_power_answers() {
        let mut out = [0u8; MAX_FRAME];
        for (len, expected) in [
            (33, Ok(())),
            (34, Err(Failure::UnrecognizedMedia)),
            (65, Err(Failure::UnrecognizedMedia)),
        ] {
            let n = encode(cmd::POWER_UP_5V, &[0x3B; 65][..len], &mut out).unwrap();
            let mut r = reader(TestChip::once(&out[..n]), 10);
            let mut atr = AtrBuffer::new();
            assert_eq!(r.power(PowerAction::ColdReset, &mut atr), expected, "{len}");
            assert_eq!(atr.len(), if expected.is_ok() { len } else { 0 });
        }
        let n = encode(cmd::POWER_OFF, &[0x00; 70], &mut out).unwrap();
        let mut r = reader(TestChip::once(&out[..n]), 10);
        assert_eq!(
            r.power(PowerAction::PowerDown, &mut AtrBuffer::new()),
            Ok(())
        );
    }

    /// Endless noise, or an insertion frame cut short over and over: a poll reads
    /// at most one frame's worth and returns (before, it read until the chip
    /// stopped, which a chatty chip never does, with the device locked).
    #[test]
    fn a_chatty_chip_cannot_hold_a_poll() {
        for stream in [&[0x00][..], &INSERTED[..5]] {
            let mut r = reader(TestChip::repeating(stream), 1);
            assert_eq!(r.poll(), Ok(None));
            let reads = r.release().0.reads;
            assert!(reads <= MAX_FRAME as u32, "{reads} reads");
        }
    }

    /// Frames with their LRC as they appear in open ALPAR drivers (see the module
    /// documentation of the crate's reference notes, §2.1).
    #[test]
    fn encode_matches_known_frames() {
        let mut out = [0u8; 16];
        let cases: [(u8, &[u8], &[u8]); 4] = [
            (cmd::GET_READER_STATUS, &[], &[0x60, 0x00, 0x00, 0xAA, 0xCA]),
            (cmd::SEND_NUM_MASK, &[], &[0x60, 0x00, 0x00, 0x0A, 0x6A]),
            (
                cmd::CHECK_PRESENCE_CARD,
                &[],
                &[0x60, 0x00, 0x00, 0x09, 0x69],
            ),
            (
                cmd::POWER_UP_5V,
                &[0x00],
                &[0x60, 0x00, 0x01, 0x6E, 0x00, 0x0F],
            ),
        ];
        for (command, payload, expected) in cases {
            let n = encode(command, payload, &mut out).unwrap();
            assert_eq!(&out[..n], expected);
            let frame = Frame::parse(expected).unwrap();
            assert_eq!(
                (frame.ok, frame.command, frame.payload),
                (true, command, payload)
            );
        }
    }

    /// Derived by hand: LRC = XOR of the bytes before it.
    #[test]
    fn parse_error_answers_and_card_events() {
        // E0 00 01 6E C0: E0^01 = E1, ^6E = 8F, ^C0 = 4F.
        let nak = [0xE0, 0x00, 0x01, 0x6E, 0xC0, 0x4F];
        let frame = Frame::parse(&nak).unwrap();
        assert!(!frame.ok);
        assert_eq!(status(frame.payload[0]), Failure::NoMedia);
        let mut out = [0u8; 8];
        assert_eq!(frame.encode(&mut out), Ok(nak.len()));
        assert_eq!(out[..nak.len()], nak);
        // 60 00 01 A0 01: 60^01 = 61, ^A0 = C1, ^01 = C0.
        let inserted = [0x60, 0x00, 0x01, 0xA0, 0x01, 0xC0];
        assert_eq!(
            Frame::parse(&inserted).unwrap().card_event(),
            Some(CardEvent::Inserted)
        );
        let removed = [0x60, 0x00, 0x01, 0xA0, 0x00, 0xC1];
        assert_eq!(
            Frame::parse(&removed).unwrap().card_event(),
            Some(CardEvent::Removed)
        );
        let mut bad = removed;
        bad[5] ^= 1;
        assert_eq!(Frame::parse(&bad), Err(Error::BadLrc));
        assert_eq!(Frame::parse(&removed[..5]), Err(Error::Length));
        assert_eq!(Frame::parse(&[0x61, 0, 0, 0, 0x61]), Err(Error::BadStart));
    }

    #[test]
    fn decoder_skips_noise_and_reassembles() {
        let mut d = Decoder::new();
        assert_eq!(d.feed(0x00), Some(Err(Error::BadStart)));
        let stream = REMOVED;
        for &b in &stream[..5] {
            assert_eq!(d.feed(b), None);
        }
        let frame = d.feed(stream[5]).unwrap().unwrap();
        assert_eq!(frame.card_event(), Some(CardEvent::Removed));
    }

    #[test]
    fn long_payloads_are_refused() {
        let mut out = [0u8; MAX_FRAME + 1];
        assert_eq!(
            encode(0, &[0; MAX_PAYLOAD + 1], &mut out),
            Err(Error::TooLong)
        );
        assert_eq!(encode(0, &[0; MAX_PAYLOAD], &mut out), Ok(MAX_FRAME));
        assert_eq!(
            encode(0, &[0; 10], &mut out[..10]),
            Err(Error::BufferTooSmall)
        );
    }
}
