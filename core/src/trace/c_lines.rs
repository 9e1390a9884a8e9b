//! Bounded C-string log lines, for outputs that take a NUL-terminated string (a
//! kernel debugger's `DbgPrintEx`, a C callback). [`CLines`] is both a trace
//! [`Sink`] and a request log ([`RequestLog`]): a binding writes only its
//! [`LineOutput`], and every line it gets is at most [`C_LINE_MAX`] bytes with its
//! NUL, whatever the card or the caller sent.

use core::ffi::CStr;
use core::fmt;

use super::{Event, Level, Sink, TextBuf};
use crate::device::RequestLog;

/// The longest line handed to a [`LineOutput`], in bytes, with its NUL.
pub const C_LINE_MAX: usize = 256;

/// Where [`CLines`] sends its lines.
pub trait LineOutput {
    /// Text put before every line (e.g. `"readerkit: "`); counts towards
    /// [`C_LINE_MAX`].
    const PREFIX: &'static str = "";

    /// Whether lines at `level` are wanted now (never asked for [`Level::Off`]).
    fn enabled(&self, level: Level) -> bool;

    /// One line at `level`: NUL-terminated, at most [`C_LINE_MAX`] bytes with the
    /// NUL, a NUL inside the text shown as `?`.
    fn line(&self, level: Level, line: &CStr);

    /// A clock in µs from any fixed point, for each request's time
    /// ([`RequestLog::now_us`]); `None` (the default): no times.
    fn now_us(&self) -> Option<u64> {
        None
    }
}

/// A [`LineOutput`] as a trace [`Sink`] and a [`RequestLog`]; see the module
/// documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct CLines<O> {
    /// The output.
    pub output: O,
}

impl<O: LineOutput> CLines<O> {
    /// Lines to `output`.
    pub const fn new(output: O) -> CLines<O> {
        CLines { output }
    }

    /// Whether lines at `level` go out: never at [`Level::Off`], else as the
    /// output says.
    pub fn enabled(&self, level: Level) -> bool {
        level != Level::Off && self.output.enabled(level)
    }

    /// Render `value` (after [`LineOutput::PREFIX`]) into one bounded line and hand
    /// it to the output at `level`, if that level is enabled.
    pub fn write(&self, level: Level, value: &dyn fmt::Display) {
        if !self.enabled(level) {
            return;
        }
        let text = TextBuf::<{ C_LINE_MAX - 1 }>::render(&format_args!("{}{value}", O::PREFIX));
        self.output.line(level, text.to_c_str(&mut [0; C_LINE_MAX]));
    }
}

impl<O: LineOutput> Sink for CLines<O> {
    fn enabled(&self, level: Level) -> bool {
        CLines::enabled(self, level)
    }
    fn event(&mut self, event: &Event<'_>) {
        self.write(event.level(), event);
    }
}

impl<O: LineOutput> RequestLog for CLines<O> {
    fn enabled(&self, level: Level) -> bool {
        CLines::enabled(self, level)
    }
    fn write(&self, level: Level, line: &dyn fmt::Display) {
        CLines::write(self, level, line);
    }
    fn now_us(&self) -> Option<u64> {
        self.output.now_us()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::string::{String, ToString};
    use std::vec::Vec;

    use super::*;

    /// Keeps each line with its level; takes up to `most`.
    struct Kept {
        most: Level,
        lines: RefCell<Vec<(Level, String)>>,
    }

    impl LineOutput for Kept {
        const PREFIX: &'static str = "rk: ";
        fn enabled(&self, level: Level) -> bool {
            level <= self.most
        }
        fn line(&self, level: Level, line: &CStr) {
            assert!(line.to_bytes_with_nul().len() <= C_LINE_MAX);
            let text = line.to_str().expect("UTF-8").to_string();
            self.lines.borrow_mut().push((level, text));
        }
    }

    fn kept(most: Level) -> CLines<Kept> {
        CLines::new(Kept {
            most,
            lines: RefCell::new(Vec::new()),
        })
    }

    #[test]
    fn lines_are_prefixed_filtered_and_bounded() {
        let log = kept(Level::Info);
        log.write(Level::Info, &"card inserted");
        log.write(Level::Debug, &"not wanted");
        log.write(Level::Off, &"never");
        let long = "x".repeat(1000);
        RequestLog::write(&log, Level::Error, &long);
        log.write(Level::Error, &"a\0b");
        let lines = log.output.lines.borrow();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], (Level::Info, "rk: card inserted".to_string()));
        assert_eq!(lines[1].0, Level::Error);
        assert_eq!(lines[1].1.len(), C_LINE_MAX - 1);
        assert!(lines[1].1.starts_with("rk: xxx"));
        assert_eq!(
            lines[2].1, "rk: a?b",
            "a NUL inside cannot end the line early"
        );
    }

    #[test]
    fn off_is_never_enabled_even_for_an_output_that_takes_everything() {
        let log = kept(Level::Off);
        assert!(!Sink::enabled(&log, Level::Off));
        assert!(!RequestLog::enabled(&log, Level::Off));
        let all = kept(Level::Trace);
        assert!(Sink::enabled(&all, Level::Trace));
        assert!(!Sink::enabled(&all, Level::Off));
        assert_eq!(RequestLog::now_us(&all), None);
    }
}
