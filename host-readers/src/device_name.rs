//! Device names parsed, without opening anything: [`DeviceName::parse`] reads the
//! whole name (the reader's kind, its settings, the `:log=LEVEL` option) into
//! values a host can check before it opens the reader ([`crate::open`] opens
//! only what this parsed).
//!
//! The pieces device names are made of are read one way for every reader kind:
//! decimal numbers, and `key=value` options, each key at most once. Anything else
//! is [`Status::NotSupported`], like any malformed device name.

use std::str::FromStr;

use readerkit::Status;
use readerkit::trace::Level;
use readerkit_card_sim::SlotCard;

use crate::reader_log::split_level;
use crate::vpcd;

/// The reader a device name picks, with its settings parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `sim:PROFILE`: the simulated card ([`crate::sim`]).
    Sim(SlotCard),
    /// `vpcd:[HOST:]PORT[:timeout=SECONDS]`: a vpcd peer ([`crate::vpcd`]).
    Vpcd(vpcd::spec::Spec),
    /// `serial:PATH:CHIP...`: a reader chip on a serial port (`crate::serial`,
    /// Linux only).
    #[cfg(target_os = "linux")]
    Serial(crate::serial::spec::Spec),
}

impl Kind {
    /// Parse a device name without its `log=` option (`sim:t1`, `vpcd:35963`, ...).
    /// An unknown prefix, or a malformed name of a known kind, is
    /// [`Status::NotSupported`].
    pub fn parse(name: &str) -> Result<Kind, Status> {
        if let Some(profile) = name.strip_prefix("sim:") {
            SlotCard::from_name(profile)
                .map(Kind::Sim)
                .ok_or(Status::NotSupported)
        } else if let Some(spec) = name.strip_prefix("vpcd:") {
            vpcd::spec::parse(spec).map(Kind::Vpcd)
        } else {
            Self::parse_serial(name)
        }
    }

    #[cfg(target_os = "linux")]
    fn parse_serial(name: &str) -> Result<Kind, Status> {
        let spec = name.strip_prefix("serial:").ok_or(Status::NotSupported)?;
        crate::serial::spec::parse(spec).map(Kind::Serial)
    }

    /// `serial:` needs linux-embedded-hal: elsewhere it is an unknown syntax.
    #[cfg(not(target_os = "linux"))]
    fn parse_serial(_: &str) -> Result<Kind, Status> {
        Err(Status::NotSupported)
    }
}

/// A whole device name, parsed: what [`crate::open`] opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceName {
    /// The name without its `log=` option (the reader's name in its vendor
    /// attributes).
    pub reader: String,
    /// The reader and its settings.
    pub kind: Kind,
    /// The `log=LEVEL` option, if given (see [`crate::reader_log`]).
    pub level: Option<Level>,
}

impl DeviceName {
    /// Parse `device_name` (the crate documentation lists the syntax). Nothing is
    /// opened: no port, socket or file. Every malformed name is
    /// [`Status::NotSupported`].
    pub fn parse(device_name: &str) -> Result<DeviceName, Status> {
        let (reader, level) = split_level(device_name)?;
        let kind = Kind::parse(&reader)?;
        Ok(DeviceName {
            reader,
            kind,
            level,
        })
    }
}

/// A number in a device name: plain decimal digits (no sign, no spaces, no hex)
/// whose value fits `T`.
pub(crate) fn number<T: FromStr>(value: &str) -> Result<T, Status> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Status::NotSupported);
    }
    value.parse().map_err(|_| Status::NotSupported)
}

/// `value` if it lies in `min..=max`; a value in a device name outside its range
/// is refused as not supported, as a malformed one is.
pub(crate) fn in_range<T: PartialOrd>(value: T, min: T, max: T) -> Result<T, Status> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Status::NotSupported)
    }
}

/// `fields` as `(key, value)` options: every field `key=value`, no key twice.
pub(crate) fn options<'a>(fields: &[&'a str]) -> Result<Vec<(&'a str, &'a str)>, Status> {
    let mut options: Vec<(&str, &str)> = Vec::with_capacity(fields.len());
    for field in fields {
        let (key, value) = field.split_once('=').ok_or(Status::NotSupported)?;
        if options.iter().any(|&(seen, _)| seen == key) {
            return Err(Status::NotSupported);
        }
        options.push((key, value));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_parse_without_opening_anything() {
        let name = DeviceName::parse("sim:t0:log=trace").unwrap();
        assert_eq!(name.reader, "sim:t0");
        assert_eq!(name.kind, Kind::Sim(SlotCard::from_name("t0").unwrap()));
        assert_eq!(name.level, Some(Level::Trace));
        // Port 1 is privileged: parsing it binds nothing, so this cannot fail.
        let name = DeviceName::parse("vpcd:1:timeout=7").unwrap();
        assert_eq!(name.reader, "vpcd:1:timeout=7");
        assert_eq!(
            name.kind,
            Kind::Vpcd(vpcd::spec::Spec {
                address: "127.0.0.1:1".into(),
                deadline: std::time::Duration::from_secs(7),
            })
        );
        assert_eq!(name.level, None);
        #[cfg(target_os = "linux")]
        assert!(matches!(
            DeviceName::parse("serial:/nonexistent/tty:tda8029:log=off"),
            Ok(DeviceName {
                kind: Kind::Serial(_),
                level: Some(Level::Off),
                ..
            })
        ));
        for bad in [
            "",
            "sim:",
            "sim:t2",
            "sim",
            "vpcd:0",
            // Would fail only when opened (the resolver refuses a NUL).
            "vpcd:local\0host:35963",
            "serial:tty:tda8029",
            "usb:1",
            "sim:t1:log=loud",
            "SIM:t1",
        ] {
            assert_eq!(DeviceName::parse(bad), Err(Status::NotSupported), "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_plain_decimal_digits_that_fit() {
        assert_eq!(number::<u16>("35963"), Ok(35_963));
        assert_eq!(number::<u32>("0"), Ok(0));
        for bad in ["", "+1", "-1", " 1", "1 ", "0x10", "1.5", "65536"] {
            assert_eq!(number::<u16>(bad), Err(Status::NotSupported), "{bad:?}");
        }
        assert_eq!(
            number::<u64>("99999999999999999999"),
            Err(Status::NotSupported)
        );
    }

    #[test]
    fn options_are_key_value_fields_each_key_once() {
        assert_eq!(
            options(&["clock=4000", "div=2", "echo="]),
            Ok(vec![("clock", "4000"), ("div", "2"), ("echo", "")])
        );
        assert_eq!(options(&[]), Ok(vec![]));
        assert_eq!(options(&["clock=1", "clock=1"]), Err(Status::NotSupported));
        assert_eq!(options(&["clock=1", "4000"]), Err(Status::NotSupported));
    }
}
