//! Levels and protocol traces for the kernel debugger: `DbgPrintEx` with the
//! IHV-driver component and one filter level per readerkit level.
//!
//! | readerkit | `DbgPrintEx` level | shown by default |
//! | --- | --- | --- |
//! | error | `DPFLTR_ERROR_LEVEL` (0) | yes |
//! | info | `DPFLTR_INFO_LEVEL` (3) | with bit 3 of `Kd_IHVDRIVER_Mask` |
//! | debug | `DPFLTR_TRACE_LEVEL` (2) | with bit 2 |
//! | trace | 4 (a driver-defined bit) | with bit 4 |
//!
//! A reader logs up to its own level ([`WdmReader::set_log_level`](crate::WdmReader::set_log_level), default
//! info): each failed request at info, each request with its outcome at debug; at
//! trace, a line wrapped in [`readerkit::trace::TracedLine`] with a [`KernelSink`]
//! logs every exchange decoded. Every line is at most [`LINE_MAX`] bytes with its
//! NUL, whatever the card or the caller sent.

use core::fmt;
use core::marker::PhantomData;

use readerkit::device::RequestLog;
use readerkit::trace::{Event, Level, Sink, TextBuf};

use crate::Kernel;

/// `DPFLTR_IHVDRIVER_ID`: the component of third-party drivers.
pub const DPFLTR_IHVDRIVER_ID: u32 = 77;
/// `DPFLTR_ERROR_LEVEL`.
pub const DPFLTR_ERROR_LEVEL: u32 = 0;
/// `DPFLTR_TRACE_LEVEL`.
pub const DPFLTR_TRACE_LEVEL: u32 = 2;
/// `DPFLTR_INFO_LEVEL`.
pub const DPFLTR_INFO_LEVEL: u32 = 3;
/// The filter level of readerkit's trace lines (a bit above the standard ones).
pub const TRACE_LEVEL_BIT: u32 = 4;
/// The longest line handed to the kernel, in bytes, with its NUL.
pub const LINE_MAX: usize = 256;

/// The `DbgPrintEx` level of `level` (`None` for [`Level::Off`]).
pub const fn dbg_level(level: Level) -> Option<u32> {
    match level {
        Level::Off => None,
        Level::Error => Some(DPFLTR_ERROR_LEVEL),
        Level::Info => Some(DPFLTR_INFO_LEVEL),
        Level::Debug => Some(DPFLTR_TRACE_LEVEL),
        Level::Trace => Some(TRACE_LEVEL_BIT),
    }
}

/// Render `value` (bounded to [`LINE_MAX`] - 1 bytes, `readerkit: ` first) and hand
/// it to [`Kernel::log`] at `level`.
pub fn log<K: Kernel>(level: Level, value: &dyn fmt::Display) {
    let text = TextBuf::<{ LINE_MAX - 1 }>::render(&format_args!("readerkit: {value}"));
    K::log(level, text.to_c_str(&mut [0; LINE_MAX]));
}

/// A trace sink into the kernel debugger, up to `level`.
#[derive(Debug)]
pub struct KernelSink<K> {
    /// The most this sink passes on.
    pub level: Level,
    _kernel: PhantomData<fn() -> K>,
}

impl<K> KernelSink<K> {
    /// A sink passing events up to `level`.
    pub const fn new(level: Level) -> KernelSink<K> {
        KernelSink {
            level,
            _kernel: PhantomData,
        }
    }
}

impl<K: Kernel> Sink for KernelSink<K> {
    fn enabled(&self, level: Level) -> bool {
        level != Level::Off && level <= self.level
    }
    fn event(&mut self, event: &Event<'_>) {
        log::<K>(event.level(), event);
    }
}

/// A reader's request lines ([`readerkit::device::Device::control_logged`]); no
/// clock, so no times.
impl<K: Kernel> RequestLog for KernelSink<K> {
    fn enabled(&self, level: Level) -> bool {
        Sink::enabled(self, level)
    }
    fn write(&self, level: Level, line: &dyn fmt::Display) {
        log::<K>(level, line);
    }
}
