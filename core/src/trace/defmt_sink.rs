//! A sink into `defmt` (feature `defmt`), for firmware.

use super::{Event, Level, Sink};

/// Sends each event to [`defmt`] at the event's level (the text is formatted on
/// the target with `core::fmt`, [`defmt::Display2Format`]), up to a level of its
/// own; `defmt`'s own filter (`DEFMT_LOG`) applies on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefmtSink {
    /// The most this sink passes on.
    pub level: Level,
}

impl Sink for DefmtSink {
    fn enabled(&self, level: Level) -> bool {
        level != Level::Off && level <= self.level
    }

    fn event(&mut self, event: &Event<'_>) {
        let text = defmt::Display2Format(event);
        match event.level() {
            Level::Off => {}
            Level::Error => defmt::error!("{}", text),
            Level::Info => defmt::info!("{}", text),
            Level::Debug => defmt::debug!("{}", text),
            Level::Trace => defmt::trace!("{}", text),
        }
    }
}
