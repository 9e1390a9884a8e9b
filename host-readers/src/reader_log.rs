//! Each reader's log: its name on every line, its own level.
//!
//! Readers log through the [`log`] facade, target [`TARGET`]; the host routes the
//! facade where its users look (the IFD handler: pcscd's log). Each reader has its
//! own level, like libccid's `LogLevel`: a `:log=LEVEL` option at the end of its
//! device name (`sim:t1:log=trace`, `vpcd:35963:log=debug`, with LEVEL one of
//! `off`, `error`, `info`, `debug`, `trace`), else the `READERKIT_LOG` environment
//! variable, else `info`. A host logs the failed requests at `info` and every request
//! at `debug`, each with its outcome and time (through [`ReaderLog`]'s
//! [`RequestLog`]); at `trace` the bytes on the card's line are
//! logged too, decoded ([`readerkit::trace`]: ATR, PPS, T=0 procedure bytes, T=1
//! blocks).

use std::sync::{Once, OnceLock};
use std::time::Instant;

use readerkit::Status;
use readerkit::device::RequestLog;
use readerkit::trace::{Event, Level, Sink};

/// The environment variable with the default level of every reader.
pub const LEVEL_VARIABLE: &str = "READERKIT_LOG";

/// The `log` target of every record the readers and their host write.
pub const TARGET: &str = "readerkit";

/// The level of a reader whose device name has no `log=` option: `READERKIT_LOG`, or
/// `info`. A value that is not a level is `info` too, and said once in the log (at
/// warn, the first time a reader is opened with it).
pub fn default_level() -> Level {
    let Some(value) = std::env::var_os(LEVEL_VARIABLE) else {
        return Level::Info;
    };
    let value = value.to_string_lossy();
    Level::parse(value.trim()).unwrap_or_else(|| {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            log::warn!(
                target: TARGET,
                "{LEVEL_VARIABLE}={value:?} is not a level (off, error, info, debug, trace): readers log at info"
            );
        });
        Level::Info
    })
}

/// Take the `log=LEVEL` option off the trailing `key=value` fields of
/// `device_name`: the name the reader's kind parses, and the level if one was given. A
/// bad or repeated level is [`Status::NotSupported`], like any malformed
/// device name.
pub fn split_level(device_name: &str) -> Result<(String, Option<Level>), Status> {
    let mut fields: Vec<&str> = device_name.split(':').collect();
    let mut level = None;
    let mut at = fields.len();
    while at > 1 {
        let Some((key, value)) = fields[at - 1].split_once('=') else {
            break;
        };
        at -= 1;
        if key == "log" {
            if level.is_some() {
                return Err(Status::NotSupported);
            }
            level = Some(Level::parse(value).ok_or(Status::NotSupported)?);
            fields.remove(at);
        }
    }
    Ok((fields.join(":"), level))
}

/// One reader's log: its name on every line, its level.
#[derive(Debug, Clone)]
pub struct ReaderLog {
    /// The device name, as the reader was opened.
    pub name: String,
    /// The most this reader logs.
    pub level: Level,
}

impl ReaderLog {
    /// Log `message` at `level` if the reader's level asks for it.
    pub fn log(&self, level: Level, message: std::fmt::Arguments<'_>) {
        if level <= self.level
            && let Some(l) = level.to_log()
        {
            log::log!(target: TARGET, l, "{}: {}", self.name, message);
        }
    }
}

/// A host's request lines ([`readerkit::device::submit_logged`]): the failed
/// requests at `info`, every request at `debug`, each with its outcome and time.
impl RequestLog for ReaderLog {
    fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }
    fn write(&self, level: Level, line: &dyn std::fmt::Display) {
        self.log(level, format_args!("{line}"));
    }
    fn now_us(&self) -> Option<u64> {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
        Some(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }
}

impl Sink for ReaderLog {
    fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }
    fn event(&mut self, event: &Event<'_>) {
        self.log(event.level(), format_args!("{event}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_option_comes_off_any_trailing_option_position() {
        assert_eq!(
            split_level("sim:t1:log=trace").unwrap(),
            ("sim:t1".to_owned(), Some(Level::Trace))
        );
        assert_eq!(
            split_level("vpcd:35963:log=debug:timeout=5").unwrap(),
            ("vpcd:35963:timeout=5".to_owned(), Some(Level::Debug))
        );
        assert_eq!(
            split_level("serial:/dev/ttyS0:tda8029:class=B").unwrap(),
            ("serial:/dev/ttyS0:tda8029:class=B".to_owned(), None)
        );
        assert_eq!(split_level("sim:t1").unwrap(), ("sim:t1".to_owned(), None));
    }

    #[test]
    fn a_bad_or_repeated_level_is_refused() {
        assert_eq!(split_level("sim:t1:log=loud"), Err(Status::NotSupported));
        assert_eq!(
            split_level("sim:t1:log=info:log=trace"),
            Err(Status::NotSupported)
        );
        assert_eq!(split_level("log=trace"), Ok(("log=trace".to_owned(), None)));
    }
}
