//! Hostile bytes through the protocol-trace decoder.
//!
//! Input: the level filter's byte, then a sequence of operations, each an op byte
//! (low 3 bits) and its data: 0 a reset answered with the next LEN bytes (or
//! failed), 1 framing (T=0, T=1, raw), 2 bytes sent, 3 bytes received (for a
//! receive of LEN + extra asked), 4 a time-out, 5 deactivation, 6 the next LEN
//! bytes (as UTF-8, invalid sequences replaced) as a request log line at the level
//! in the op's high bits. LEN follows the op byte: one byte below 0x80, else 15 bits
//! over two bytes (big-endian, the first's top bit cleared), so a seed can say the
//! exact pieces a real session hands the decoder (one T=0 procedure byte, a 3-byte
//! T=1 prologue, a 258-byte block). The decoder must not panic,
//! and every event's text must stay bounded (the longest possible line is well
//! under 400 bytes) whatever the input.
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
use readerkit::status::Failure;
use readerkit::trace::{C_LINE_MAX, CLines, Decoder, Event, Level, LineOutput, Sink};

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
                        0 => Protocol::T0,
                        1 => Protocol::T1,
                        _ => Protocol::Raw,
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
            _ => decoder.deactivated(&mut sink),
        }
        rest = if matches!(op & 7, 0 | 2 | 3 | 6) {
            tail
        } else {
            rest
        };
    }
});
