//! The card's side of a GPIO + UART interface chip: the fuzzer's bytes as
//! everything that comes back on the card's I/O line (ATR, answers, noise, parity
//! and framing errors, a card that never stops sending) and the fuzzer's levels on
//! the chip's status output (a card pulled, a fault), through the real
//! `readerkit_hal::interface::Interface` (a TDA8035) as a `readerkit::line::Line`:
//! cold and warm resets with class fallback and the ATR capture, sends with the
//! echo check and character repetition, receives, new timings and framings, polls
//! and deactivation. The UART is `readerkit_fuzz::uart` (pieces, silences, read
//! errors; the echo of each character sent first when the line echoes); the delay
//! counts.
//!
//! Input: a settings byte (bit 0: the UART echoes what is sent; bit 1: the board
//! expects no echo; bits 2-3: repetitions allowed), a count byte N and N calls of
//! 2 bytes (`k a`, `k % 8`: cold reset, warm reset, send `a % 8 + 1` bytes, receive
//! with the buffer and limits `a` picks, set the timing Fi = `a >> 4`, Di = `a %
//! 16`, set the framing (T=0 or T=1 by `a % 2`, N = `a`), poll, deactivate), a
//! count byte S and S status bytes (8 reads of the status output each, bit 0
//! first, 1 = high; high once they run out), a count byte M and M schedule bytes,
//! then the stream.
//! Oracles:
//! * no panic;
//! * every call reads at most its bound of characters (bytes or errors): a reset
//!   2 × `MAX_DISCARDED` + 33 per class tried, a send (repetitions + 1) per byte, a
//!   receive its buffer + `MAX_DISCARDED` + 1; nothing for the others; it counts
//!   at most the time its documented limits add up to, and every read that finds
//!   nothing is followed by a wait (a few time-outs excepted);
//! * a failure is one of the line's: `NoMedia`, `DeviceProtocolError`, `IoTimeout`,
//!   `Unsuccessful`, `InvalidDeviceState`, `NotSupported`;
//! * a receive returns at most its buffer, exactly the characters the line
//!   delivered during the call, echoes included (decoded in the inverse
//!   convention);
//! * a reset's ATR is 1 to 33 bytes, the last characters the line delivered (TS
//!   `03` standing for a parity error).
#![no_main]

use std::cell::RefCell;
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use readerkit::device::AtrBuffer;
use readerkit::line::{Framing, Line, Reset};
use readerkit::protocol::Protocol;
use readerkit::status::Failure;
use readerkit::timing::Timing;
use readerkit_fuzz::Input;
use readerkit_fuzz::uart::{Link, Peer};
use readerkit_hal::chip::{Chip, Tda8035};
use readerkit_hal::interface::{
    ATR_FIRST_CYCLES, ATR_TOTAL_ETU, ATR_WAITING_ETU, Config, Control, Interface, MAX_DISCARDED,
    PinError,
};

/// Card clock, in kHz.
const CLOCK_KHZ: u32 = 3_580;
/// Receive buffer lengths a receive call picks from, in bytes.
const BUFFER_LENGTHS: [usize; 8] = [0, 1, 2, 5, 16, 33, 259, 300];
/// First-character limits a receive call picks from, in µs.
const FIRST_US: [u32; 4] = [0, 1_000, 10_000, 1_000_000];
/// Next-character limits a receive call picks from, in µs.
const NEXT_US: [u32; 4] = [0, 100, 1_000, 20_000];
/// Slack on every time bound, in µs: rounding of etu and the like.
const SLACK_US: u64 = 20_000;

/// The chip's control pins: outputs ignored, the status output played from the
/// fuzzer's levels.
struct Board {
    levels: Vec<u8>,
    read: usize,
}

struct Pins(Rc<RefCell<Board>>);

impl Control for Pins {
    fn set_cmdvcc(&mut self, _: bool) -> Result<(), PinError> {
        Ok(())
    }
    fn set_rstin(&mut self, _: bool) -> Result<(), PinError> {
        Ok(())
    }
    fn status_is_high(&mut self) -> Result<bool, PinError> {
        let mut board = self.0.borrow_mut();
        let bit = board.read;
        board.read += 1;
        Ok(board
            .levels
            .get(bit / 8)
            .is_none_or(|levels| levels >> (bit % 8) & 1 == 1))
    }
    fn set_vsel(&mut self, _: bool, _: bool) -> Result<(), PinError> {
        Ok(())
    }
    fn set_clkdiv(&mut self, _: bool, _: bool) -> Result<(), PinError> {
        Ok(())
    }
}

type Line8035 = Interface<Tda8035, Pins, Link, Link>;

/// A call of the host.
#[derive(Debug, Clone, Copy)]
enum Call {
    Reset(Reset),
    Send(usize),
    Receive {
        len: usize,
        first_us: u32,
        next_us: u32,
    },
    SetTiming(Timing),
    SetFraming(Framing),
    Poll,
    Deactivate,
}

impl Call {
    fn from_bytes([kind, arg]: [u8; 2]) -> Option<Call> {
        Some(match kind % 8 {
            0 => Call::Reset(Reset::Cold),
            1 => Call::Reset(Reset::Warm),
            2 => Call::Send(usize::from(arg % 8) + 1),
            3 => Call::Receive {
                len: BUFFER_LENGTHS[usize::from(arg & 7)],
                first_us: FIRST_US[usize::from(arg >> 3 & 3)],
                next_us: NEXT_US[usize::from(arg >> 5 & 3)],
            },
            4 => Call::SetTiming(Timing::from_indices(arg >> 4, arg & 15, CLOCK_KHZ)?),
            5 => Call::SetFraming(Framing {
                protocol: match arg & 3 {
                    0 | 2 => Some(Protocol::T0),
                    1 => Some(Protocol::T1),
                    _ => None,
                },
                extra_guard_n: arg,
            }),
            6 => Call::Poll,
            _ => Call::Deactivate,
        })
    }
}

/// What one call did on the line.
struct Span {
    /// Characters of the stream read (bytes and receive errors).
    chars: u64,
    /// Reads that found nothing.
    nothing: u64,
    /// Time the delay counted, in µs.
    delay_us: u64,
    /// The bytes the line delivered during the call, echoes included.
    delivered: Vec<u8>,
}

/// The peer's counts at one moment: reads, stream bytes read, receive errors,
/// bytes delivered (echoes included), delay in ns.
#[derive(Clone, Copy)]
struct Counters {
    reads: u64,
    at: usize,
    errors: u64,
    delivered: usize,
    delay_ns: u64,
}

/// The line, and the peer playing the card and the I/O line.
struct Session {
    peer: Rc<RefCell<Peer>>,
    line: Line8035,
    repetitions: u8,
}

/// The failures a line may report.
const LINE_FAILURES: [Failure; 6] = [
    Failure::NoMedia,
    Failure::DeviceProtocolError,
    Failure::IoTimeout,
    Failure::Unsuccessful,
    Failure::InvalidDeviceState,
    Failure::NotSupported,
];

/// `cycles` card clock cycles, in µs (rounded up).
fn cycles_us(cycles: u32) -> u64 {
    (u64::from(cycles) * 1000).div_ceil(u64::from(CLOCK_KHZ))
}

impl Session {
    /// Run `f` on the line and say what it did on the peer's side.
    fn call<T>(&mut self, f: impl FnOnce(&mut Line8035) -> T) -> (T, Span) {
        let before = self.counters();
        let result = f(&mut self.line);
        let after = self.counters();
        let bytes = (after.at - before.at) as u64;
        let echoed = (after.delivered - before.delivered) as u64 - bytes;
        let chars = bytes + (after.errors - before.errors);
        let peer = self.peer.borrow();
        let span = Span {
            chars,
            nothing: (after.reads - before.reads) - chars - echoed,
            delay_us: (after.delay_ns - before.delay_ns) / 1000,
            delivered: peer.delivered[before.delivered..after.delivered].to_vec(),
        };
        (result, span)
    }

    fn counters(&self) -> Counters {
        let peer = self.peer.borrow();
        Counters {
            reads: peer.reads,
            at: peer.at,
            errors: peer.errors,
            delivered: peer.delivered.len(),
            delay_ns: peer.delay_ns,
        }
    }

    /// One etu at the timing in force, in µs (rounded up).
    fn etu_us(&self) -> u64 {
        u64::from(self.line.timing().etu_to_us(1)) + 1
    }

    /// The bounds common to every call: characters read, time counted, and a wait
    /// after (nearly) every read that found nothing.
    fn check_span(&self, span: &Span, max_chars: u64, max_us: u64) {
        assert!(
            span.chars <= max_chars,
            "{} characters read, bound {max_chars}",
            span.chars
        );
        assert!(
            span.delay_us <= max_us + SLACK_US,
            "{} µs counted, bound {max_us}",
            span.delay_us
        );
        assert!(
            span.nothing <= span.delay_us + 16,
            "{} empty reads in {} µs",
            span.nothing,
            span.delay_us
        );
    }

    fn check_failure<T: core::fmt::Debug>(result: &Result<T, Failure>) {
        if let Err(e) = result {
            assert!(LINE_FAILURES.contains(e), "{e:?}");
        }
    }

    fn reset(&mut self, reset: Reset) {
        let spec = <Tda8035 as Chip>::SPEC;
        let config = *self.line.config();
        let etu = u64::from(Timing::default_at(CLOCK_KHZ).etu_to_us(1)) + 1;
        let classes: u64 = if reset == Reset::Cold { 3 } else { 1 };
        let per_class =
            u64::from(spec.activation_us + 2 * spec.deactivation_us + config.class_pause_us)
                + cycles_us(config.reset_hold_cycles)
                + cycles_us(ATR_FIRST_CYCLES)
                + etu * u64::from(12 + ATR_TOTAL_ETU + ATR_WAITING_ETU + 2);
        let max_us = (classes + 1) * per_class;
        // The receive buffer is emptied twice per class (before CMDVCC falls and
        // before RST rises), then the ATR.
        let max_chars = classes * (2 * MAX_DISCARDED as u64 + 33);
        let mut atr = AtrBuffer::new();
        let (result, span) = self.call(|line| line.reset(reset, &mut atr));
        self.check_span(&span, max_chars, max_us);
        Self::check_failure(&result);
        if result.is_ok() {
            assert!((1..=33).contains(&atr.len()), "ATR of {} bytes", atr.len());
            let tail = |n: usize| &span.delivered[span.delivered.len().saturating_sub(n)..];
            let as_received = atr[..] == *tail(atr.len());
            let ts_from_error =
                atr[0] == readerkit::atr::TS_INVERSE_RAW && atr[1..] == *tail(atr.len() - 1);
            assert!(
                as_received || ts_from_error,
                "ATR {atr:02X?}, line {:02X?}",
                span.delivered
            );
        }
    }

    fn send(&mut self, n: usize) {
        let bytes: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(37)).collect();
        let etu = self.etu_us();
        let per_byte = u64::from(self.repetitions + 1) * (24 + 2 + 1) + 255;
        let max_us =
            etu * (22 + n as u64 * per_byte) + u64::from(<Tda8035 as Chip>::SPEC.deactivation_us);
        let max_chars = n as u64 * u64::from(self.repetitions + 1);
        let (result, span) = self.call(|line| line.send(&bytes));
        self.check_span(&span, max_chars, max_us);
        Self::check_failure(&result);
    }

    fn receive(&mut self, len: usize, first_us: u32, next_us: u32) {
        let mut buf = vec![0u8; len];
        let polls = (len + MAX_DISCARDED + 2) as u64;
        let max_us = u64::from(first_us)
            + polls * (u64::from(next_us) + self.etu_us())
            + u64::from(<Tda8035 as Chip>::SPEC.deactivation_us);
        let (result, span) = self.call(|line| line.receive(&mut buf, first_us, next_us));
        self.check_span(&span, (len + MAX_DISCARDED + 1) as u64, max_us);
        Self::check_failure(&result);
        if let Ok(n) = result {
            assert!(n <= len);
            let inverse = self.line.is_inverse();
            let decoded: Vec<u8> = span
                .delivered
                .iter()
                .map(|&b| {
                    if inverse {
                        readerkit::atr::invert_convention(b)
                    } else {
                        b
                    }
                })
                .collect();
            assert_eq!(buf[..n], decoded[..], "received vs delivered");
        }
    }

    /// A call that reads no character: a new timing or framing, a poll,
    /// deactivation.
    fn quiet<T: core::fmt::Debug>(&mut self, f: impl FnOnce(&mut Line8035) -> Result<T, Failure>) {
        let spec = <Tda8035 as Chip>::SPEC;
        let (result, span) = self.call(f);
        self.check_span(&span, 0, u64::from(spec.debounce_us + spec.deactivation_us));
        Self::check_failure(&result);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let settings = input.byte();
    let n = input.byte();
    let calls = input.bytes(usize::from(n) * 2);
    let s = input.byte();
    let levels = input.bytes(usize::from(s)).to_vec();
    let m = input.byte();
    let schedule = input.bytes(usize::from(m));
    let stream = input.bytes(usize::MAX).to_vec();

    let mut peer = Peer::new(stream, schedule);
    peer.echo = settings & 1 != 0;
    let peer = Rc::new(RefCell::new(peer));
    let board = Rc::new(RefCell::new(Board { levels, read: 0 }));
    let repetitions = settings >> 2 & 3;
    let config = Config {
        echo: settings & 2 == 0,
        max_repetitions: repetitions,
        ..Config::new(CLOCK_KHZ)
    };
    let link = Link(peer.clone());
    let Ok(line) = Interface::new(Pins(board), link.clone(), link, config) else {
        return;
    };
    let mut session = Session {
        peer,
        line,
        repetitions,
    };
    for call in calls.chunks_exact(2) {
        match Call::from_bytes([call[0], call[1]]) {
            None => {}
            Some(Call::Reset(reset)) => session.reset(reset),
            Some(Call::Send(n)) => session.send(n),
            Some(Call::Receive {
                len,
                first_us,
                next_us,
            }) => session.receive(len, first_us, next_us),
            Some(Call::SetTiming(timing)) => session.quiet(|line| line.set_timing(timing)),
            Some(Call::SetFraming(framing)) => session.quiet(|line| line.set_framing(framing)),
            Some(Call::Poll) => session.quiet(|line| line.poll()),
            Some(Call::Deactivate) => session.quiet(|line| line.deactivate()),
        }
    }
});
