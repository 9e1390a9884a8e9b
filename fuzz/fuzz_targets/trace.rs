//! Hostile bytes through the protocol-trace decoder.
//!
//! Input: the level filter's byte, then a sequence of operations, each an op byte
//! (low 3 bits) and its data: 0 a reset answered with the next LEN bytes (or
//! failed), 1 framing (T=0, T=1, raw), 2 bytes sent, 3 bytes received (for a
//! receive of LEN + extra asked), 4 a time-out, 5 deactivation, 6 the next LEN
//! bytes (as UTF-8, invalid sequences replaced) as a request log line at the level
//! in the op's high bits, 7 the next LEN bytes as a new timing (F and the clock in
//! kHz big-endian, D between them, missing bytes 0: `Decoder::timing`) or, with the
//! op's top bit set, a failed line call (the first byte picks the failure:
//! `Decoder::error`). LEN follows the op byte: one byte below 0x80, else 15 bits
//! over two bytes (big-endian, the first's top bit cleared), so a seed can say the
//! exact pieces a real session hands the decoder (one T=0 procedure byte, a 3-byte
//! T=1 prologue, a 258-byte block). The decoder must not panic, and every event's
//! text must stay bounded whatever the input: under 400 bytes (the longest possible
//! line is well under that), at most `MAX_SHOWN_BYTES` bytes shown as hex in a row.
//!
//! What the reader sends to the card may hold a PIN, so the trace shows it by its
//! count only (the module's promise): an event carrying T=0 data or bytes outside a
//! protocol sent to the card renders the same with every byte of it changed, a
//! T=1 I-block sent the same with its information field changed (EDC recomputed),
//! and a block sent that does not decode as its error and its count only.
//!
//! Every event and request line also goes through the core's C-string lines
//! (`trace::CLines`, what the C log callback and the WDM kernel debugger get),
//! with a prefix and a level filter the first byte chooses: a line comes out
//! exactly when its level is enabled (never at `Off`), NUL-terminated within
//! `C_LINE_MAX` bytes, and it is the prefix and the text rendered here (a NUL
//! shown as `?`), all of it when that fits.
#![no_main]

use core::cell::RefCell;
use core::ffi::CStr;
use core::fmt::{self, Write};

use libfuzzer_sys::fuzz_target;
use readerkit::Protocol;
use readerkit::device::RequestLog;
use readerkit::line::{Framing, Reset};
use readerkit::status::{Failure, Status};
use readerkit::t1::{Kind, Repr};
use readerkit::timing::Timing;
use readerkit::trace::{
    C_LINE_MAX, CLines, Decoder, Direction, Event, Level, LineOutput, MAX_SHOWN_BYTES, Sink,
};

const LEVELS: [Level; 5] = [
    Level::Off,
    Level::Error,
    Level::Info,
    Level::Debug,
    Level::Trace,
];

/// A line output that keeps what it is handed, up to level `most`.
struct Kept {
    most: Level,
    lines: RefCell<Vec<(Level, Vec<u8>)>>,
}

impl LineOutput for Kept {
    const PREFIX: &'static str = "rk\0: ";
    fn enabled(&self, level: Level) -> bool {
        assert_ne!(level, Level::Off, "an output asked about Off");
        level <= self.most
    }
    fn line(&self, level: Level, line: &CStr) {
        let with_nul = line.to_bytes_with_nul();
        assert!(
            with_nul.len() <= C_LINE_MAX,
            "a {}-byte line",
            with_nul.len()
        );
        self.lines
            .borrow_mut()
            .push((level, line.to_bytes().to_vec()));
    }
}

/// Renders every event, checks its length and hands it to the C lines.
struct Bounded {
    text: String,
    lines: CLines<Kept>,
}

impl Bounded {
    /// What the C lines kept of `value`, just written at `level`, checked against
    /// its own rendering.
    fn check_line(&self, level: Level, value: &dyn fmt::Display) {
        let kept = self.lines.output.lines.take();
        let enabled = level != Level::Off && level <= self.lines.output.most;
        if !enabled {
            assert!(kept.is_empty(), "a line at {level:?} went out");
            return;
        }
        let [(at, line)] = kept.as_slice() else {
            panic!("{} lines for one event", kept.len());
        };
        assert_eq!(*at, level);
        let full = format!("{}{value}", Kept::PREFIX).replace('\0', "?");
        assert!(
            full.as_bytes().starts_with(line),
            "C line {:?} is not a prefix of {full:?}",
            String::from_utf8_lossy(line)
        );
        if full.len() < C_LINE_MAX {
            assert_eq!(line.len(), full.len(), "a line that fits was cut");
        }
    }
}

/// The longest run of hex bytes (`3B 9F 00`, space-separated tokens of two
/// upper-case hex digits) in `text`.
fn longest_hex_run(text: &str) -> usize {
    let is_hex_byte = |token: &str| {
        token.len() == 2
            && token
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
    };
    let mut run = 0;
    let mut longest = 0;
    for token in text.split(' ') {
        run = if is_hex_byte(token) { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Every byte of `bytes` changed.
fn changed(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| !b).collect()
}

/// Checks that `text`, `event` rendered, shows nothing of the data it carries to the
/// card but its count: the same event with that data changed renders the same.
fn check_sent_data_hidden(event: &Event<'_>, text: &str) {
    let same_with = |other: Event<'_>| {
        assert_eq!(
            text,
            other.to_string(),
            "data sent to the card shows in the trace"
        );
    };
    match *event {
        Event::T0Data {
            direction: Direction::ToCard,
            bytes,
        }
        | Event::Bytes {
            direction: Direction::ToCard,
            bytes,
        } => {
            let (direction, bytes) = (Direction::ToCard, &changed(bytes)[..]);
            same_with(match event {
                Event::T0Data { .. } => Event::T0Data { direction, bytes },
                _ => Event::Bytes { direction, bytes },
            });
        }
        Event::T1Block {
            direction: Direction::ToCard,
            bytes,
            edc,
        } => match Repr::parse_bytes(bytes, edc) {
            Ok(Repr {
                nad,
                kind: Kind::I { ns, more, inf },
            }) => {
                let inf = changed(inf);
                let repr = Repr {
                    nad,
                    kind: Kind::I {
                        ns,
                        more,
                        inf: &inf,
                    },
                };
                let mut block = vec![0; repr.buffer_len(edc)];
                repr.emit(&mut block, edc).unwrap();
                same_with(Event::T1Block {
                    direction: Direction::ToCard,
                    bytes: &block,
                    edc,
                });
            }
            // R- and S-blocks carry no data; their fields are the protocol.
            Ok(_) => {}
            Err(error) => assert_eq!(
                text,
                format!("-> invalid T=1 block ({error}), {} bytes", bytes.len()),
                "a block sent that does not decode shows more than its count"
            ),
        },
        _ => {}
    }
}

impl Sink for Bounded {
    fn event(&mut self, event: &Event<'_>) {
        self.text.clear();
        write!(self.text, "{event}").unwrap();
        assert!(
            self.text.len() < 400,
            "{} bytes: {}",
            self.text.len(),
            self.text
        );
        assert!(
            longest_hex_run(&self.text) <= MAX_SHOWN_BYTES,
            "more than {MAX_SHOWN_BYTES} bytes shown: {}",
            self.text
        );
        check_sent_data_hidden(event, &self.text);
        Sink::event(&mut self.lines, event);
        self.check_line(event.level(), event);
    }
}

/// The data length after an op byte (see the module documentation), taken off
/// `rest`; 0 when the input ends.
fn take_len(rest: &mut &[u8]) -> usize {
    let (len, used) = match *rest {
        [high @ 0x80..=0xFF, low, ..] => (usize::from(high & 0x7F) << 8 | usize::from(*low), 2),
        [short, ..] => (usize::from(*short), 1),
        [] => (0, 0),
    };
    *rest = &rest[used..];
    len
}

/// The timing `bytes` say: F (2 bytes), D, the clock in kHz (4 bytes), big-endian,
/// missing bytes 0.
fn timing_of(bytes: &[u8]) -> Timing {
    let mut b = [0u8; 7];
    let n = bytes.len().min(b.len());
    b[..n].copy_from_slice(&bytes[..n]);
    Timing {
        f: u16::from_be_bytes([b[0], b[1]]),
        d: b[2],
        clock_khz: u32::from_be_bytes([b[3], b[4], b[5], b[6]]),
    }
}

/// The failure `byte` picks.
fn failure_of(byte: u8) -> Failure {
    let failures = &Status::ALL[1..];
    failures[usize::from(byte) % failures.len()]
        .failure()
        .expect("every status but the first is a failure")
}

fuzz_target!(|data: &[u8]| {
    let most = LEVELS[usize::from(data.first().copied().unwrap_or(0)) % LEVELS.len()];
    let mut decoder = Decoder::new();
    let mut sink = Bounded {
        text: String::new(),
        lines: CLines::new(Kept {
            most,
            lines: RefCell::new(Vec::new()),
        }),
    };
    // A binding runs the decoder only for a sink that wants line events.
    assert_eq!(
        Decoder::wanted(&sink.lines),
        most >= Level::Debug,
        "wanted at {most:?}"
    );
    let mut rest = data.get(1..).unwrap_or(&[]);
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let len = take_len(&mut rest);
        let n = len.min(rest.len());
        let (bytes, tail) = rest.split_at(n);
        match op & 7 {
            0 if op & 0x80 != 0 => decoder.reset(&mut sink, Reset::Warm, Err(Failure::NoMedia)),
            0 => decoder.reset(&mut sink, Reset::Cold, Ok(bytes)),
            1 => decoder.framing(
                &mut sink,
                Framing {
                    protocol: match op >> 3 & 3 {
                        0 => Some(Protocol::T0),
                        1 => Some(Protocol::T1),
                        2 => Some(Protocol::Raw),
                        _ => None,
                    },
                    extra_guard_n: op,
                },
            ),
            2 => decoder.sent(&mut sink, bytes),
            3 => decoder.received(&mut sink, bytes, n + usize::from(op >> 6)),
            4 => decoder.timeout(&mut sink, u32::from(op) * 1000),
            6 => {
                let level = LEVELS[usize::from(op >> 3) % LEVELS.len()];
                let text = String::from_utf8_lossy(bytes);
                RequestLog::write(&sink.lines, level, &text);
                sink.check_line(level, &text);
            }
            7 if op & 0x80 != 0 => {
                decoder.error(&mut sink, failure_of(bytes.first().copied().unwrap_or(0)))
            }
            7 => decoder.timing(&mut sink, timing_of(bytes)),
            _ => decoder.deactivated(&mut sink),
        }
        rest = if matches!(op & 7, 0 | 2 | 3 | 6 | 7) {
            tail
        } else {
            rest
        };
    }
});
