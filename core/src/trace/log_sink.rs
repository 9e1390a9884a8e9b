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

impl Level {
    /// The `log` facade's level for this one, `None` for [`Level::Off`] (feature
    /// `log`): for a sink of its own that logs through the facade.
    pub fn to_log(self) -> Option<log::Level> {
        match self {
            Level::Off => None,
            Level::Error => Some(log::Level::Error),
            Level::Info => Some(log::Level::Info),
            Level::Debug => Some(log::Level::Debug),
            Level::Trace => Some(log::Level::Trace),
        }
    }
}

impl Sink for LogSink {
    fn enabled(&self, level: Level) -> bool {
        level <= self.level
            && level
                .to_log()
                .is_some_and(|l| log::log_enabled!(target: self.target, l))
    }

    fn event(&mut self, event: &Event<'_>) {
        if let Some(level) = event.level().to_log() {
            log::log!(target: self.target, level, "{event}");
        }
    }
}
