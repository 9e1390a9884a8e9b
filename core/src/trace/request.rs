//! One line per request: what was asked, how it ended, how long it took.

use core::fmt;

use super::Level;
use super::hex::BoundedHex;
use crate::apdu::Command;
use crate::device::Outcome;
use crate::ioctl::{PowerAction, Request};
use crate::protocol::Protocol;
use crate::status::Status;

/// A request with its outcome and duration, for a binding's log (the core has no
/// clock: the binding measures). Its text is bounded like every trace line:
/// `TRANSMIT T=1, 7 bytes: 00 A4 00 0C 02 <2 data bytes> -> success, 4 bytes in 24 µs`.
///
/// What a client sends the card shows as the trace shows data sent to the card:
/// the command's data and a vendor IOCTL's input by their count only (a VERIFY
/// typed on the PC carries the PIN), the header and length fields in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The request.
    pub request: &'a Request<'a>,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took, in µs, if the binding has a clock.
    pub elapsed_us: Option<u64>,
}

impl RequestLine<'_> {
    /// [`Level::Debug`] for a request that succeeded or pends, [`Level::Info`] for
    /// one that failed.
    pub fn level(&self) -> Level {
        match self.outcome {
            Outcome::Complete { status, .. } if status != Status::Success => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// The request's name and parameters, bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSummary<'a>(pub &'a Request<'a>);

impl fmt::Display for RequestSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            Request::Power(action) => f.write_str(match action {
                PowerAction::PowerDown => "POWER down",
                PowerAction::ColdReset => "POWER cold reset",
                PowerAction::WarmReset => "POWER warm reset",
            }),
            Request::GetAttribute(tag) => write!(f, "GET_ATTRIBUTE {tag:#010X}"),
            Request::SetAttribute { tag, value } => {
                write!(f, "SET_ATTRIBUTE {tag:#010X} = {}", BoundedHex(value))
            }
            Request::Confiscate => f.write_str("CONFISCATE"),
            Request::Transmit(t) => {
                match Protocol::from_bit(t.protocol) {
                    Some(protocol) => write!(f, "TRANSMIT {protocol}")?,
                    None => write!(f, "TRANSMIT protocol {:#X}", t.protocol)?,
                }
                write!(f, ", {} bytes: {}", t.apdu.len(), CommandText(t.apdu))
            }
            Request::Eject => f.write_str("EJECT"),
            Request::Swallow => f.write_str("SWALLOW"),
            Request::IsPresent => f.write_str("IS_PRESENT"),
            Request::IsAbsent => f.write_str("IS_ABSENT"),
            Request::SetProtocol(mask) => write!(f, "SET_PROTOCOL mask {:#X}", mask.0),
            Request::GetState => f.write_str("GET_STATE"),
            Request::GetLastError => f.write_str("GET_LAST_ERROR"),
            Request::GetPerfCounter => f.write_str("GET_PERF_CNTR"),
            Request::Vendor { code, input } => {
                write!(f, "vendor IOCTL {code:#010X}, input {} bytes", input.len())
            }
        }
    }
}

/// A command APDU as a request line shows it: the header and length fields in
/// hex, the command data by its count (`00 20 00 81 08 <8 data bytes>`). Bytes
/// that are no APDU show the four where a header would be and the count of the
/// rest (`00 20 00 81 <9 bytes, not an APDU>`); fewer than five hold no data.
struct CommandText<'a>(&'a [u8]);

impl fmt::Display for CommandText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        let (data_at, data_len, what) = match Command::parse(bytes) {
            Ok(command) if command.nc() > 0 => {
                let lc_len = if command.is_extended() { 3 } else { 1 };
                (4 + lc_len, command.nc(), "data bytes")
            }
            Ok(_) => return BoundedHex(bytes).fmt(f),
            Err(_) if bytes.len() <= 4 => return BoundedHex(bytes).fmt(f),
            Err(_) => (4, bytes.len() - 4, "bytes, not an APDU"),
        };
        let before = bytes.get(..data_at).unwrap_or_default();
        let after = bytes.get(data_at + data_len..).unwrap_or_default();
        write!(f, "{} <{data_len} {what}>", BoundedHex(before))?;
        match after {
            [] => Ok(()),
            _ => write!(f, " {}", BoundedHex(after)),
        }
    }
}

impl fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> ", RequestSummary(self.request))?;
        match self.outcome {
            Outcome::Complete {
                status: Status::Success,
                bytes_written,
            } => write!(f, "success, {bytes_written} bytes")?,
            Outcome::Complete { status, .. } => write!(f, "{status}")?,
            Outcome::Pending => f.write_str("pending")?,
        }
        match self.elapsed_us {
            Some(us) => write!(f, " in {us} µs"),
            None => Ok(()),
        }
    }
}
