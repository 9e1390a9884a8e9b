//! A sink into the `log` facade (feature `log`).

use super::{Event, Level, Sink};

/// Sends each event to the [`log`] facade under `target`, at the event's level
/// ([`Level::Trace`] → `log::Level::Trace`, …), with a level of its own on top of
/// the facade's (a per-reader level, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSink {
    /// The `log` target of every record.
    pub target: &'static str,
    /// The most this sink passes on.
    pub level: Level,
}

impl LogSink {
    /// A sink for `target` passing everything the facade is set to.
    pub const fn new(target: &'static str) -> LogSink {
        LogSink {
            target,
            level: Level::Trace,
        }
    }
}

/// The `log` level of `level`, `None` for [`Level::Off`].
pub(crate) fn to_log(level: Level) -> Option<log::Level> {
    match level {
        Level::Off => None,
        Level::Error => Some(log::Level::Error),
        Level::Info => Some(log::Level::Info),
        Level::Debug => Some(log::Level::Debug),
        Level::Trace => Some(log::Level::Trace),
    }
}

impl Sink for LogSink {
    fn enabled(&self, level: Level) -> bool {
        level <= self.level
            && to_log(level).is_some_and(|l| log::log_enabled!(target: self.target, l))
    }

    fn event(&mut self, event: &Event<'_>) {
        if let Some(level) = to_log(event.level()) {
            log::log!(target: self.target, level, "{event}");
        }
    }
}
