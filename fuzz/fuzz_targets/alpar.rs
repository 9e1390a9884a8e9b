//! The chip's side of a TDA8029 session: the fuzzer's bytes as everything an ALPAR
//! chip sends (a noisy UART, or a hostile device posing as a chip), served in the
//! fuzzer's pieces with silences and read errors in between, to the real
//! `readerkit_hal::alpar::Reader` (commands, power up and down, polls for card
//! events), and the same bytes to a lone `Decoder`. The `serial:…:tda8029` reader
//! of the host readers is this `Reader` over a serial port: it adds no framing.
//!
//! Input: a settings byte (bits 0-2: the answer time-out in ms, 0 to 7; bits 3-4:
//! how many more times the chip sends its stream again, a chatty chip; bit 7:
//! power-up class C instead of A), a count byte N and N calls of 3 bytes each, a
//! count byte M and M schedule bytes (`readerkit_fuzz::uart`), then the stream. A
//! call `k a b`: `k % 4` = 0 poll, 1 a command `a` with the payload and reply buffer
//! lengths `b` picks, 2 a cold (a even) or warm reset, 3 power down. The delay
//! counts instead of sleeping. Oracles:
//! * no panic;
//! * the `Decoder` fed the stream byte by byte gives exactly a reference reading's
//!   frames and errors, each at the byte where it ends; a frame it accepts is
//!   `Frame::parse` of its bytes and re-encodes (`Frame::encode`) to them;
//! * every call returns within its bound of UART reads: a command or power call
//!   within `timeout / POLL_US + 1` (silence and bytes both count against its
//!   time-out), twice that when an answer was owed (below), a poll within
//!   `MAX_FRAME` reads and without waiting;
//! * a late answer is never the next command's: the target keeps its own model of
//!   the owed answer (a command or power call that ended without an answer with
//!   its code owes it; the first frame with that code read later, in any call,
//!   settles it). A call with nothing owed reads nothing before it sends; with an
//!   answer owed it reads, before sending, until that answer (and nothing after
//!   it), or for one time-out (silence and bytes counted) within its bound of
//!   reads, or until a read error (then it fails with `DeviceProtocolError` and
//!   sends nothing). Frames read before sending are never the call's answer;
//! * a command writes exactly `encode`'s frame, and its outcome is the reference's:
//!   the first answer with its command completed after it was sent (the call reads
//!   nothing after it): its payload (`BufferTooSmall` when longer than the caller's
//!   buffer), an error answer's `status`, or `DeviceProtocolError` for a frame
//!   with its code and a wrong LRC (the answer broken on the line, which settles
//!   it as any answer does); without one, `DeviceProtocolError` after
//!   a read error, `IoTimeout` otherwise; `InvalidParameter` for a payload over
//!   `MAX_PAYLOAD`, with nothing read or written. Power: the ATR when at most 33
//!   bytes, `UnrecognizedMedia` when longer; power down takes any acknowledgement;
//! * card events: what polls return is a subsequence of the stream's card events;
//!   every removal is reported before any insertion that came after it (a card
//!   swapped during a command is a removal, then an insertion) and, once the stream
//!   is drained, the last event reported is the stream's last.
#![no_main]

use std::cell::RefCell;
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use readerkit::device::AtrBuffer;
use readerkit::event::CardEvent;
use readerkit::ioctl::PowerAction;
use readerkit::status::Failure;
use readerkit_fuzz::uart::{LastRead, Link, Peer};
use readerkit_hal::Class;
use readerkit_hal::alpar::{self, Decoder, Error, Frame, MAX_FRAME, MAX_PAYLOAD, POLL_US};

/// Payload lengths a command call picks from (`b & 7`), in bytes.
const PAYLOAD_LENGTHS: [usize; 8] = [0, 1, 2, 5, 20, 300, MAX_PAYLOAD, MAX_PAYLOAD + 1];
/// Reply buffer lengths a command call picks from (`b >> 5`), in bytes.
const REPLY_LENGTHS: [usize; 8] = [0, 1, 2, 4, 16, 64, 258, MAX_PAYLOAD];
/// The longest ATR, in bytes.
const MAX_ATR: usize = 33;

/// One thing the reference reading finds in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reading {
    Frame {
        ok: bool,
        command: u8,
        payload: Vec<u8>,
    },
    /// A whole frame with a wrong LRC, and the command byte of its header.
    BadLrc {
        command: u8,
    },
    Broken(Error),
}

impl Reading {
    /// The card event the frame announces: `60 00 01 A0 01|00 LRC`.
    fn event(&self) -> Option<CardEvent> {
        match self {
            Reading::Frame {
                ok: true,
                command: 0xA0,
                payload,
            } => match payload[..] {
                [0x01] => Some(CardEvent::Inserted),
                [0x00] => Some(CardEvent::Removed),
                _ => None,
            },
            _ => None,
        }
    }

    /// An answer to `command`: a frame with its code that is not a card event, or
    /// a frame with its code and a wrong LRC (the answer, broken on the line).
    fn answers(&self, command: u8) -> bool {
        match self {
            Reading::Frame { command: c, .. } => *c == command && self.event().is_none(),
            Reading::BadLrc { command: c } => *c == command,
            Reading::Broken(_) => false,
        }
    }

    /// What the `Decoder` gives for it (a wrong LRC carries no command).
    fn decoded(&self) -> Reading {
        match self {
            Reading::BadLrc { .. } => Reading::Broken(Error::BadLrc),
            reading => reading.clone(),
        }
    }
}

/// The stream read the simple way: skip a byte that cannot start a frame; take
/// the 4 header bytes; a length over `MAX_PAYLOAD` drops them; else take the
/// payload and the LRC and check the XOR of the whole frame. Each reading with the
/// offset just after its last byte.
fn reference(stream: &[u8]) -> Vec<(usize, Reading)> {
    let mut readings = Vec::new();
    let mut at = 0;
    while let Some(&start) = stream.get(at) {
        if start != 0x60 && start != 0xE0 {
            at += 1;
            readings.push((at, Reading::Broken(Error::BadStart)));
            continue;
        }
        let Some(&[_, hi, lo, command]) = stream.get(at..at + 4) else {
            break;
        };
        let len = usize::from(hi) << 8 | usize::from(lo);
        if len > MAX_PAYLOAD {
            at += 4;
            readings.push((at, Reading::Broken(Error::TooLong)));
            continue;
        }
        let Some(frame) = stream.get(at..at + len + 5) else {
            break;
        };
        at += frame.len();
        let reading = if frame.iter().fold(0, |x, b| x ^ b) == 0 {
            Reading::Frame {
                ok: start == 0x60,
                command,
                payload: frame[4..4 + len].to_vec(),
            }
        } else {
            Reading::BadLrc { command }
        };
        readings.push((at, reading));
    }
    readings
}

/// The `Decoder` byte by byte against the reference reading; each frame it accepts
/// parses and re-encodes to its own bytes.
fn check_decoder(stream: &[u8], readings: &[(usize, Reading)]) {
    let mut decoder = Decoder::new();
    let mut decoded = Vec::new();
    let mut out = [0u8; MAX_FRAME];
    for (i, &byte) in stream.iter().enumerate() {
        let Some(result) = decoder.feed(byte) else {
            continue;
        };
        let end = i + 1;
        let reading = match result {
            Ok(frame) => {
                let bytes = &stream[end - (frame.payload.len() + 5)..end];
                assert_eq!(Frame::parse(bytes), Ok(frame));
                assert_eq!(frame.encode(&mut out), Ok(bytes.len()));
                assert_eq!(&out[..bytes.len()], bytes);
                Reading::Frame {
                    ok: frame.ok,
                    command: frame.command,
                    payload: frame.payload.to_vec(),
                }
            }
            Err(e) => Reading::Broken(e),
        };
        decoded.push((end, reading));
    }
    let expected: Vec<(usize, Reading)> =
        readings.iter().map(|(at, r)| (*at, r.decoded())).collect();
    assert_eq!(decoded, expected);
}

/// A call of the host.
#[derive(Debug, Clone, Copy)]
enum Call {
    Poll,
    Command {
        command: u8,
        payload_len: usize,
        reply_len: usize,
    },
    Power(PowerAction),
}

impl Call {
    fn from_bytes([kind, a, b]: [u8; 3]) -> Call {
        match kind % 4 {
            0 => Call::Poll,
            1 => Call::Command {
                command: a,
                payload_len: PAYLOAD_LENGTHS[usize::from(b & 7)],
                reply_len: REPLY_LENGTHS[usize::from(b >> 5)],
            },
            2 if a % 2 == 0 => Call::Power(PowerAction::ColdReset),
            2 => Call::Power(PowerAction::WarmReset),
            _ => Call::Power(PowerAction::PowerDown),
        }
    }
}

/// What one call did to the chip's side.
struct Span<'r> {
    /// The readings completed during the call.
    readings: &'r [(usize, Reading)],
    /// Offset in the stream when the call started, and when it returned.
    from: usize,
    at: usize,
    reads: u64,
    written: Vec<u8>,
    /// Offset in the stream and UART reads of the call when it started writing.
    sent_at: Option<(usize, u64)>,
    delay_ns: u64,
    last: LastRead,
}

/// A session of the real reader against the chip, with the reference's view.
struct Session<'r> {
    chip: Rc<RefCell<Peer>>,
    reader: alpar::Reader<Link, Link>,
    class: Class,
    timeout_us: u64,
    readings: &'r [(usize, Reading)],
    /// Readings completed before the current call.
    done: usize,
    /// Card events in the stream so far, and those polls returned.
    events: Vec<CardEvent>,
    reported: Vec<CardEvent>,
    /// A removal in the stream that no poll has reported yet.
    removal_owed: bool,
    /// The command code of the answer the reader owes, in the target's model.
    answer_owed: Option<u8>,
}

impl<'r> Session<'r> {
    /// Run `f` on the reader and say what it did on the chip's side.
    fn call<T>(&mut self, f: impl FnOnce(&mut alpar::Reader<Link, Link>) -> T) -> (T, Span<'r>) {
        let (from, reads, written, delay_ns) = {
            let chip = self.chip.borrow();
            (chip.at, chip.reads, chip.written.len(), chip.delay_ns)
        };
        let result = f(&mut self.reader);
        let chip = self.chip.borrow();
        let first = self.done;
        while self.readings.get(self.done).is_some_and(|r| r.0 <= chip.at) {
            self.done += 1;
        }
        let readings = &self.readings[first..self.done];
        for event in readings.iter().filter_map(|r| r.1.event()) {
            self.removal_owed |= event == CardEvent::Removed;
            self.events.push(event);
        }
        let span = Span {
            readings,
            from,
            at: chip.at,
            reads: chip.reads - reads,
            written: chip.written[written..].to_vec(),
            sent_at: chip.written_at.get(written).map(|&(at, r)| (at, r - reads)),
            delay_ns: chip.delay_ns - delay_ns,
            last: chip.last,
        };
        (result, span)
    }

    /// A command or power call `f` that sends `command` with `payload`: what it
    /// read before sending (nothing, or the owed answer), within its bounds, having
    /// written `encode`'s frame; its result with the reference's outcome for a reply
    /// buffer of `reply_len` bytes. Keeps the owed answer's model.
    fn exchange<T>(
        &mut self,
        command: u8,
        payload: &[u8],
        reply_len: usize,
        f: impl FnOnce(&mut alpar::Reader<Link, Link>) -> T,
    ) -> (T, Result<Vec<u8>, Failure>) {
        let owed = self.answer_owed;
        let (result, span) = self.call(f);
        let bound = self.timeout_us.div_ceil(u64::from(POLL_US)) + 1;
        let waits = if owed.is_some() { 2 } else { 1 };
        assert!(
            span.reads <= waits * bound,
            "{} UART reads, bound {waits} × {bound}",
            span.reads
        );
        assert!(span.delay_ns <= waits * (self.timeout_us + u64::from(POLL_US)) * 1000);
        let Some((sent_at, drain_reads)) = span.sent_at else {
            // Only a read error while draining the owed answer stops a call from
            // sending.
            let owed = owed.expect("nothing sent, nothing owed");
            assert_eq!(span.last, LastRead::Error, "nothing sent");
            assert!(!span.readings.iter().any(|r| r.1.answers(owed)));
            return (result, Err(Failure::DeviceProtocolError));
        };
        let split = span.readings.partition_point(|r| r.0 <= sent_at);
        let (before, after) = span.readings.split_at(split);
        match owed {
            None => assert_eq!(drain_reads, 0, "read before sending, nothing owed"),
            Some(owed) => match before.iter().position(|r| r.1.answers(owed)) {
                Some(i) => {
                    assert_eq!(i + 1, before.len(), "frames read after the owed answer");
                    assert_eq!(before[i].0, sent_at, "bytes read after the owed answer");
                    self.answer_owed = None;
                }
                None => {
                    // Given up: after one time-out, silence and bytes counted.
                    let bytes = (sent_at - span.from) as u64;
                    let waited_us = (drain_reads - bytes) * u64::from(POLL_US)
                        + bytes * u64::from(alpar::BYTE_US);
                    assert!(drain_reads <= bound, "{drain_reads} reads draining");
                    assert!(
                        waited_us >= self.timeout_us,
                        "owed answer given up after {waited_us} µs"
                    );
                }
            },
        }
        assert_eq!(span.written, host_frame(command, payload));
        let expected = match after.iter().position(|r| r.1.answers(command)) {
            Some(i) => {
                assert_eq!(i + 1, after.len(), "frames read after the answer");
                assert_eq!(after[i].0, span.at, "bytes read after the answer");
                self.answer_owed = None;
                match &after[i].1 {
                    Reading::Frame {
                        ok: true, payload, ..
                    } if payload.len() <= reply_len => Ok(payload.clone()),
                    Reading::Frame { ok: true, .. } => Err(Failure::BufferTooSmall),
                    Reading::Frame { payload, .. } => {
                        Err(alpar::status(payload.first().copied().unwrap_or(0)))
                    }
                    Reading::BadLrc { .. } => Err(Failure::DeviceProtocolError),
                    Reading::Broken(_) => unreachable!("answers are frames"),
                }
            }
            None => {
                self.answer_owed = Some(command);
                Err(match span.last {
                    LastRead::Error => Failure::DeviceProtocolError,
                    LastRead::Byte | LastRead::Nothing => Failure::IoTimeout,
                })
            }
        };
        (result, expected)
    }

    fn command(&mut self, command: u8, payload_len: usize, reply_len: usize) {
        let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
        let mut reply = vec![0u8; reply_len];
        if payload_len > MAX_PAYLOAD {
            let (result, span) = self.call(|r| r.command(command, &payload, &mut reply));
            assert_eq!(result, Err(Failure::InvalidParameter));
            assert_eq!((span.reads, span.written.len()), (0, 0));
            return;
        }
        let (result, expected) = self.exchange(command, &payload, reply_len, |r| {
            r.command(command, &payload, &mut reply)
        });
        let got = result.map(|n| reply[..n].to_vec());
        assert_eq!(got, expected);
    }

    fn power(&mut self, action: PowerAction) {
        let mut atr = AtrBuffer::new();
        let (command, payload): (u8, &[u8]) = match action {
            PowerAction::PowerDown => (alpar::cmd::POWER_OFF, &[]),
            _ => (alpar::power_up_command(self.class), &[0x00]),
        };
        let (result, answer) =
            self.exchange(command, payload, usize::MAX, |r| r.power(action, &mut atr));
        let expected = match (action, answer) {
            (PowerAction::PowerDown, answer) => answer.map(|_| ()),
            (_, Ok(answer)) if answer.len() > MAX_ATR => Err(Failure::UnrecognizedMedia),
            (_, answer) => answer.map(|answer| assert_eq!(atr[..], answer[..])),
        };
        assert_eq!(result, expected);
    }

    fn poll(&mut self) -> Result<Option<CardEvent>, Failure> {
        let (result, span) = self.call(|r| r.poll());
        assert!(span.reads <= MAX_FRAME as u64, "{} UART reads", span.reads);
        if let Some(owed) = self.answer_owed
            && span.readings.iter().any(|r| r.1.answers(owed))
        {
            self.answer_owed = None;
        }
        assert_eq!(span.delay_ns, 0, "poll waited");
        match result {
            Err(e) => assert_eq!(
                (e, span.last),
                (Failure::DeviceProtocolError, LastRead::Error)
            ),
            Ok(None) => assert_ne!(span.last, LastRead::Error),
            Ok(Some(event)) => {
                assert!(
                    !(event == CardEvent::Inserted && self.removal_owed),
                    "an insertion reported before the removal that came first: {:?} of {:?}",
                    self.reported,
                    self.events
                );
                if event == CardEvent::Removed {
                    self.removal_owed = false;
                }
                self.reported.push(event);
            }
        }
        result
    }

    /// Poll until the chip has nothing more to say, then the event oracles.
    fn drain(mut self) {
        // Each poll reads a byte or a read error, or hands over a held event.
        let limit = {
            let chip = self.chip.borrow();
            chip.stream.len() + chip.schedule_len() + 8
        };
        let mut quiet = false;
        for _ in 0..limit {
            self.chip.borrow_mut().skip_silence();
            quiet = matches!(self.poll(), Ok(None)) && self.chip.borrow().drained();
            if quiet {
                break;
            }
        }
        assert!(quiet, "the chip's stream was not drained");
        let mut events = self.events.iter();
        for reported in &self.reported {
            assert!(
                events.any(|e| e == reported),
                "reported {:?}, not in the stream's events {:?}",
                self.reported,
                self.events
            );
        }
        assert!(
            !self.removal_owed,
            "a removal never reported: {:?} of {:?}",
            self.reported, self.events
        );
        assert_eq!(self.reported.last(), self.events.last());
    }
}

/// The frame the host sends.
fn host_frame(command: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; MAX_FRAME];
    let n = alpar::encode(command, payload, &mut out).expect("payload within MAX_PAYLOAD");
    out.truncate(n);
    out
}

fuzz_target!(|data: &[u8]| {
    let [settings, n, rest @ ..] = data else {
        return;
    };
    let Some((calls, rest)) = rest.split_at_checked(usize::from(*n) * 3) else {
        return;
    };
    let Some((&m, rest)) = rest.split_first() else {
        return;
    };
    let Some((schedule, stream)) = rest.split_at_checked(usize::from(m)) else {
        return;
    };
    let timeout_ms = u32::from(settings & 7);
    let repeats = usize::from(settings >> 3 & 3) + 1;
    let class = if settings & 0x80 == 0 {
        Class::A
    } else {
        Class::C
    };
    let stream = stream.repeat(repeats);

    let readings = reference(&stream);
    check_decoder(&stream, &readings);

    let chip = Rc::new(RefCell::new(Peer::new(stream, schedule)));
    let link = Link(chip.clone());
    let mut session = Session {
        reader: alpar::Reader::new(link.clone(), link, class, timeout_ms, 3_686),
        chip,
        class,
        timeout_us: u64::from(timeout_ms) * 1000,
        readings: &readings,
        done: 0,
        events: Vec::new(),
        reported: Vec::new(),
        removal_owed: false,
        answer_owed: None,
    };
    for call in calls.chunks_exact(3) {
        match Call::from_bytes([call[0], call[1], call[2]]) {
            Call::Poll => {
                let _ = session.poll();
            }
            Call::Command {
                command,
                payload_len,
                reply_len,
            } => session.command(command, payload_len, reply_len),
            Call::Power(action) => session.power(action),
        }
    }
    session.drain();
});
