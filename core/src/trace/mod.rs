//! Protocol traces: what crosses a card's I/O line, decoded.
//!
//! [`TracedLine`] wraps any [`Line`](crate::line::Line) and hands a decoded
//! [`Event`] to a [`Sink`] for every exchange: the answer to reset with its
//! parameters, the PPS request and answer, T=0 headers, procedure bytes and data,
//! each T=1 block in the form protocol analysers write (`I(N(S)=0, M=1) 254 bytes`,
//! `R(N(R)=1, EDC error)`, `S(WTX request, 3)`). It learns the protocol and EDC
//! from the `set_framing` call and the ATR, so the driver above it is unchanged.
//!
//! ```text
//! LineReader ─► TracedLine ─► the real Line
//!                   └─► Sink (the `log` facade, a C callback, DbgPrintEx, stdout)
//! ```
//!
//! Card bytes are untrusted: every event's text is bounded ([`MAX_SHOWN_BYTES`]
//! bytes shown as hex, then a count), whatever the line delivers. The data a
//! reader sends is shown by its count only (T=0 data, T=1 information fields,
//! a T=1 block the trace cannot decode, bytes outside a protocol): it may hold
//! a PIN the reader's PIN pad read. A [`RequestLine`] shows a client's command
//! data and vendor IOCTL input the same way (a VERIFY typed on the PC holds the
//! PIN). The protocol around it (headers, PPS, block types) and what the card
//! answers are shown. [`TextBuf`]
//! renders an event into a fixed buffer for sinks without an allocator.
//!
//! Sinks provided: `LogSink` (feature `log`, the `log` facade) and `DefmtSink`
//! (feature `defmt`, for firmware); the two features exclude each other; [`CLines`]
//! for an output of bounded C strings (a C callback, `DbgPrintEx`), which is also a
//! request log. Any other destination implements [`Sink`] (a closure through
//! [`FnSink`]).

#[cfg(all(feature = "log", feature = "defmt"))]
compile_error!("features `log` and `defmt` are mutually exclusive: pick one logging backend");

mod c_lines;
mod decoder;
#[cfg(feature = "defmt")]
mod defmt_sink;
mod event;
mod hex;
#[cfg(feature = "log")]
mod log_sink;
mod request;
mod text;
mod traced_line;

pub use c_lines::{C_LINE_MAX, CLines, LineOutput};
pub use decoder::Decoder;
#[cfg(feature = "defmt")]
pub use defmt_sink::DefmtSink;
pub use event::{Direction, Event, T0Procedure};
pub use hex::{BoundedHex, MAX_SHOWN_BYTES};
#[cfg(feature = "log")]
pub use log_sink::LogSink;
pub use request::{RequestLine, RequestSummary};
pub use text::TextBuf;
pub use traced_line::TracedLine;

/// How much a log says, least first; a sink shows an event if its level is at or
/// below the sink's own ([`Level::Trace`] shows everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Nothing is logged.
    Off,
    /// Failures a user must see: a reader fault, a request that failed.
    Error,
    /// Events of a session: card inserted, powered, protocol chosen.
    Info,
    /// Each request with its outcome and time.
    Debug,
    /// Every byte exchange on the line, decoded.
    Trace,
}

impl Level {
    /// The level named `name` (`off`, `error`, `info`, `debug`, `trace`, in any
    /// case), or `None`.
    pub fn parse(name: &str) -> Option<Level> {
        const NAMES: [(&str, Level); 5] = [
            ("off", Level::Off),
            ("error", Level::Error),
            ("info", Level::Info),
            ("debug", Level::Debug),
            ("trace", Level::Trace),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, level)| level)
    }

    /// The level's lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Error => "error",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl core::fmt::Display for Level {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where decoded events go.
pub trait Sink {
    /// Whether events of `level` are wanted (the tracer skips the others).
    fn enabled(&self, level: Level) -> bool {
        let _ = level;
        true
    }

    /// One decoded event; its `Display` form is one bounded line of text.
    fn event(&mut self, event: &Event<'_>);
}

/// A closure as a sink, taking every event of `level` and below.
#[derive(Debug, Clone, Copy)]
pub struct FnSink<F> {
    /// The most this sink takes.
    pub level: Level,
    /// Called with each event.
    pub f: F,
}

impl<F: FnMut(&Event<'_>)> Sink for FnSink<F> {
    fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }
    fn event(&mut self, event: &Event<'_>) {
        (self.f)(event)
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn enabled(&self, level: Level) -> bool {
        (**self).enabled(level)
    }
    fn event(&mut self, event: &Event<'_>) {
        (**self).event(event)
    }
}

/// A sink that drops everything (tracing compiled in, switched off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoSink;

impl Sink for NoSink {
    fn enabled(&self, _level: Level) -> bool {
        false
    }
    fn event(&mut self, _event: &Event<'_>) {}
}

#[cfg(test)]
mod tests;
