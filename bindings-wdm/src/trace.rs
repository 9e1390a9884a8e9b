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
//! trace, a line wrapped in [`readerkit::trace::TracedLine`] with a [`kernel_sink`]
//! logs every exchange decoded. Every line is at most [`LINE_MAX`] bytes with its
//! NUL, whatever the card or the caller sent.

use core::ffi::CStr;
use core::marker::PhantomData;

use readerkit::trace::{CLines, Level, LineOutput};

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
pub const LINE_MAX: usize = readerkit::trace::C_LINE_MAX;

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

/// The kernel debugger ([`Kernel::log`]) up to `level`, as the output of the core's
/// [`CLines`]; lines start with `readerkit: `.
#[derive(Debug)]
pub struct KernelLog<K> {
    /// The most this output passes on.
    pub level: Level,
    _kernel: PhantomData<fn() -> K>,
}

impl<K: Kernel> LineOutput for KernelLog<K> {
    const PREFIX: &'static str = "readerkit: ";

    fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    fn line(&self, level: Level, line: &CStr) {
        K::log(level, line);
    }
}

/// A trace sink and request log into the kernel debugger (no clock, so requests
/// carry no times).
pub type KernelSink<K> = CLines<KernelLog<K>>;

/// A [`KernelSink`] passing lines up to `level`.
pub const fn kernel_sink<K: Kernel>(level: Level) -> KernelSink<K> {
    CLines::new(KernelLog {
        level,
        _kernel: PhantomData,
    })
}
