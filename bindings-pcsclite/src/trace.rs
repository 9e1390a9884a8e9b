//! Levels and protocol traces in pcscd's log.
//!
//! The readers and the binding log through the [`log`] facade; [`install`] routes the
//! facade into pcscd's own `log_msg` with its priorities (error → `PCSC_LOG_ERROR`,
//! warn and info → `PCSC_LOG_INFO`, debug and trace → `PCSC_LOG_DEBUG`, which pcscd
//! shows with `--debug`), every line bounded (512 bytes, control characters escaped).
//!
//! Each reader has its own level ([`readerkit_host_readers::reader_log`]): a
//! `:log=LEVEL` option at the end of its DEVICENAME (`sim:t1:log=trace`), else the
//! `READERKIT_LOG` environment variable of pcscd, else `info`. At `info` the failed
//! requests are logged with their outcome and time, at `debug` every request; at
//! `trace` the bytes on the card's line too, decoded.

use std::ffi::c_int;
use std::sync::Once;

use crate::log::{ERROR, INFO};

/// `PCSC_LOG_DEBUG`.
const DEBUG: c_int = 0;

struct PcscdLogger;

static LOGGER: PcscdLogger = PcscdLogger;

impl log::Log for PcscdLogger {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let priority = match record.level() {
            log::Level::Error => ERROR,
            log::Level::Warn | log::Level::Info => INFO,
            log::Level::Debug | log::Level::Trace => DEBUG,
        };
        crate::log::log(priority, &record.args().to_string());
    }
    fn flush(&self) {}
}

/// Route the `log` facade into pcscd's log (once; a host process that installed
/// its own logger keeps it). Levels are filtered per reader, so the facade passes
/// everything.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    });
}
