//! The `vpcd:` device name: `vpcd:[HOST:]PORT[:timeout=SECONDS]`.

use std::time::Duration;

use readerkit::Status;

use crate::device_name::{self, in_range, number};

/// How long the card may take over one message by default: 120 s (on-card key
/// generation takes tens of seconds).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
/// The longest per-message deadline the `timeout=` option accepts: one day.
pub const MAX_DEADLINE_S: u64 = 86_400;

/// A parsed `vpcd:` device name (what follows `vpcd:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Where to listen, `HOST:PORT` (HOST defaults to `127.0.0.1`).
    pub address: String,
    /// How long the card may take over one whole message (the command written and
    /// its answer read), [`DEFAULT_DEADLINE`] unless `timeout=` says otherwise.
    pub deadline: Duration,
}

/// Parse `[HOST:]PORT[:timeout=SECONDS]`. Every malformed spec (no port, a port of
/// 0 or not a decimal number, an empty host or one with `=`, a NUL, another
/// control character or a space, an unknown or repeated option, a timeout of 0 or
/// above [`MAX_DEADLINE_S`]) is [`Status::NotSupported`].
pub fn parse(spec: &str) -> Result<Spec, Status> {
    let fields: Vec<&str> = spec.split(':').collect();
    // The options are the trailing fields with a `=`.
    let at = fields
        .iter()
        .rposition(|f| !f.contains('='))
        .map_or(0, |i| i + 1);
    let (address, options) = fields.split_at(at);
    let mut deadline = DEFAULT_DEADLINE;
    for (key, value) in device_name::options(options)? {
        match key {
            "timeout" => {
                let seconds = in_range(number(value)?, 1, MAX_DEADLINE_S)?;
                deadline = Duration::from_secs(seconds);
            }
            _ => return Err(Status::NotSupported),
        }
    }
    let (host, port) = match address {
        [port] => ("127.0.0.1".to_owned(), *port),
        [host @ .., port] => (host.join(":"), *port),
        [] => return Err(Status::NotSupported),
    };
    let port: u16 = number(port)?;
    if port == 0 || !is_host(&host) {
        return Err(Status::NotSupported);
    }
    Ok(Spec {
        address: format!("{host}:{port}"),
        deadline,
    })
}

/// Whether `host` may be the HOST of a spec: not empty, no `=` (that field is an
/// option), and no NUL, other control character or space, which neither an IP
/// literal nor a host name contains (the resolver would refuse them only when the
/// reader is opened, as a failure to listen).
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && !host
            .chars()
            .any(|c| c == '=' || c == ' ' || c.is_ascii_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(address: &str, seconds: u64) -> Result<Spec, Status> {
        Ok(Spec {
            address: address.to_owned(),
            deadline: Duration::from_secs(seconds),
        })
    }

    #[test]
    fn ports_hosts_and_the_timeout_option() {
        assert_eq!(parse("35963"), spec("127.0.0.1:35963", 120));
        assert_eq!(parse("0.0.0.0:35963"), spec("0.0.0.0:35963", 120));
        assert_eq!(parse("localhost:1"), spec("localhost:1", 120));
        assert_eq!(parse("[::1]:35963:timeout=5"), spec("[::1]:35963", 5));
        assert_eq!(parse("35963:timeout=30"), spec("127.0.0.1:35963", 30));
        assert_eq!(
            parse("192.168.1.2:35963:timeout=86400"),
            spec("192.168.1.2:35963", 86_400)
        );
    }

    #[test]
    fn malformed_specs_are_refused() {
        for bad in [
            "",
            ":",
            "notaport",
            "0",
            "65536",
            "-1",
            "+35963",
            " 35963",
            "0x8C7B",
            "host:",
            ":35963",
            "35963:",
            "35963:timeout=",
            "35963:timeout=0",
            "35963:timeout=86401",
            "35963:timeout=-5",
            "35963:timeout=1.5",
            "35963:timeout=99999999999999999999",
            "35963:timeout=30:timeout=30",
            "35963:deadline=30",
            "timeout=30",
            "host=x:35963",
            "local\0host:35963",
            "\0:35963",
            "127.0.0.1\0:35963:timeout=5",
            "local host:35963",
            "localhost\n:35963",
            "\t127.0.0.1:35963",
            "\u{7f}:35963",
        ] {
            assert_eq!(parse(bad), Err(Status::NotSupported), "{bad:?}");
        }
    }
}
