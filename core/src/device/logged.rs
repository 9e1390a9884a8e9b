//! Requests with their log lines: what a binding's request log shows, written once
//! for every binding (a WDM driver's `DbgPrintEx`, the C binding's log callback).

use core::fmt;

use super::{Device, Outcome};
use crate::ioctl::Request;
use crate::platform::Platform;
use crate::trace::{Level, RequestLine};

/// Where a binding's request lines go: its level filter, its output and its clock.
pub trait RequestLog {
    /// Whether lines at `level` are wanted now.
    fn enabled(&self, level: Level) -> bool;
    /// Write one line at `level` (only called for a level that is enabled).
    fn write(&self, level: Level, line: &dyn fmt::Display);
    /// A clock in µs from any fixed point, to give each request its time; `None`
    /// (the default): the lines carry no time.
    fn now_us(&self) -> Option<u64> {
        None
    }
}

impl<P: Platform, D, const EVENTS: usize> Device<P, D, EVENTS> {
    /// [`Device::control`], with its line in `log`: a request refused by validation
    /// at [`Level::Info`] (`IOCTL 0x00310004 refused: ...`), any other with its
    /// outcome (and time, if `log` has a clock) as a [`RequestLine`] at the line's
    /// level (a failure at info, the rest at debug). With info off this is exactly
    /// `control`: nothing is parsed twice.
    pub fn control_logged(
        &self,
        code: u32,
        input: &[u8],
        output: &mut [u8],
        log: &impl RequestLog,
    ) -> Outcome {
        if !log.enabled(Level::Info) {
            return self.control(code, input, output);
        }
        let request = match Request::parse(code, input, output.len()) {
            Ok(request) => request,
            Err(status) => {
                log.write(
                    Level::Info,
                    &format_args!("IOCTL {code:#010X} refused: {status}"),
                );
                return Outcome::refused(status);
            }
        };
        submit_logged(log, &request, || self.submit(request, output))
    }
}

/// Run `submit`, the way the typed `request` reaches its device ([`Device::submit`],
/// or a port in front of it that a binding's reader watches requests through), with
/// the request's line in `log`: its outcome (and time, if `log` has a clock) as a
/// [`RequestLine`] at the line's level (a failure at info, the rest at debug). With
/// info off this is exactly `submit()`. [`Device::control_logged`] is this after
/// the request's bytes are checked.
pub fn submit_logged(
    log: &impl RequestLog,
    request: &Request<'_>,
    submit: impl FnOnce() -> Outcome,
) -> Outcome {
    if !log.enabled(Level::Info) {
        return submit();
    }
    let started = log.now_us();
    let outcome = submit();
    let line = RequestLine {
        request,
        outcome,
        elapsed_us: started.zip(log.now_us()).map(|(s, e)| e.saturating_sub(s)),
    };
    if log.enabled(line.level()) {
        log.write(line.level(), &line);
    }
    outcome
}
