//! A request with its buffers checked ([`Request::parse`]), and the client side: the
//! input buffer a request is sent with ([`Request::emit`], the inverse of `parse`) and
//! the response APDU inside a TRANSMIT answer ([`transmit_response`]).
//!
//! Every multi-byte field of these buffers is little-endian, as smclib's are on every
//! Windows target; the order is written out here, never taken from the host.

use super::{ATR_BUFFER_LEN, IO_REQUEST_LEN, Ioctl, MIN_RESPONSE_LEN, PowerAction};
use crate::protocol::ProtocolMask;
use crate::status::Status;

/// A TRANSMIT request: the `SCARD_IO_REQUEST` header and the APDU after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// `dwProtocol` of the header: the protocol the caller believes is selected.
    pub protocol: u32,
    /// The command APDU (or TPDU), after the header and any protocol control info.
    pub apdu: &'a [u8],
}

/// A request whose buffers have been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// POWER with its action.
    Power(PowerAction),
    /// GET_ATTRIBUTE of a tag.
    GetAttribute(u32),
    /// SET_ATTRIBUTE of a tag to a value.
    SetAttribute {
        /// The attribute tag.
        tag: u32,
        /// The value bytes after the tag.
        value: &'a [u8],
    },
    /// CONFISCATE.
    Confiscate,
    /// TRANSMIT.
    Transmit(Transmit<'a>),
    /// EJECT.
    Eject,
    /// SWALLOW.
    Swallow,
    /// IS_PRESENT.
    IsPresent,
    /// IS_ABSENT.
    IsAbsent,
    /// SET_PROTOCOL with the caller's mask.
    SetProtocol(ProtocolMask),
    /// GET_STATE.
    GetState,
    /// GET_LAST_ERROR.
    GetLastError,
    /// GET_PERF_CNTR.
    GetPerfCounter,
    /// A vendor IOCTL: its full code and input; buffers are the callback's business.
    Vendor {
        /// The IOCTL code (function 2048..=4095).
        code: u32,
        /// The input buffer.
        input: &'a [u8],
    },
}

/// Length of the GET_PERF_CNTR answer: three little-endian `u32` (transmissions,
/// bytes sent, bytes received).
pub const PERF_COUNTERS_LEN: usize = 12;

fn read_u32(input: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = input.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

fn need_output(output_len: usize, len: usize) -> Result<(), Status> {
    if output_len < len {
        Err(Status::BufferTooSmall)
    } else {
        Ok(())
    }
}

impl<'a> Request<'a> {
    /// Check the buffers of a request: `code` is the IOCTL, `input` the caller's input
    /// bytes, `output_len` the size of the caller's output buffer in bytes.
    ///
    /// Refusals: an unknown code gives [`Status::InvalidDeviceRequest`]; a short or
    /// malformed input, an unknown power code, or a TRANSMIT header whose
    /// `cbPciLength` does not fit gives [`Status::InvalidParameter`]; then the
    /// refusals of [`Request::check`].
    pub fn parse(code: u32, input: &'a [u8], output_len: usize) -> Result<Request<'a>, Status> {
        let request = Self::parse_input(code, input)?;
        request.check(output_len)?;
        Ok(request)
    }

    /// How many leading bytes of an input of `input_len` bytes [`Request::parse`]
    /// reads for the IOCTL `code`: all of them for TRANSMIT, SET_ATTRIBUTE and vendor
    /// IOCTLs, at most 4 (the word) for POWER, GET_ATTRIBUTE and SET_PROTOCOL, none
    /// for the other IOCTLs and for a code that is no smart card IOCTL.
    ///
    /// Parsing that prefix gives the same request, or the same refusal, as parsing
    /// the whole input: a binding that must copy the input out of a buffer it shares
    /// with the output (METHOD_BUFFERED) copies this many bytes, and a caller's
    /// oversized input to GET_STATE or to an undefined code is answered as smclib
    /// answers it, not refused for its size.
    pub const fn input_read(code: u32, input_len: usize) -> usize {
        let read = match Ioctl::from_code(code) {
            Some(Ioctl::Transmit | Ioctl::SetAttribute | Ioctl::Vendor(_)) => return input_len,
            Some(Ioctl::Power | Ioctl::GetAttribute | Ioctl::SetProtocol) => 4,
            Some(_) | None => 0,
        };
        if input_len < read { input_len } else { read }
    }

    /// The request an input buffer holds, before the checks of [`Request::check`].
    fn parse_input(code: u32, input: &'a [u8]) -> Result<Request<'a>, Status> {
        let ioctl = Ioctl::from_code(code).ok_or(Status::InvalidDeviceRequest)?;
        let word = || read_u32(input).ok_or(Status::InvalidParameter);
        Ok(match ioctl {
            Ioctl::Power => {
                Request::Power(PowerAction::from_code(word()?).ok_or(Status::InvalidParameter)?)
            }
            Ioctl::GetAttribute => Request::GetAttribute(word()?),
            Ioctl::SetAttribute => Request::SetAttribute {
                tag: word()?,
                value: input.get(4..).unwrap_or(&[]),
            },
            Ioctl::SetProtocol => Request::SetProtocol(ProtocolMask(word()?)),
            Ioctl::Transmit => {
                let protocol = word()?;
                let apdu = after_io_request(input).ok_or(Status::InvalidParameter)?;
                Request::Transmit(Transmit { protocol, apdu })
            }
            Ioctl::GetState => Request::GetState,
            Ioctl::GetLastError => Request::GetLastError,
            Ioctl::GetPerfCounter => Request::GetPerfCounter,
            Ioctl::Confiscate => Request::Confiscate,
            Ioctl::Eject => Request::Eject,
            Ioctl::Swallow => Request::Swallow,
            Ioctl::IsPresent => Request::IsPresent,
            Ioctl::IsAbsent => Request::IsAbsent,
            Ioctl::Vendor(_) => Request::Vendor { code, input },
        })
    }

    /// Check a request built in code (or just parsed) against the rules its bytes
    /// cannot express, and the caller's output size `output_len` in bytes.
    ///
    /// Refusals: a vendor request whose code is outside the vendor range, or a
    /// SET_PROTOCOL mask with no known protocol, gives
    /// [`Status::InvalidDeviceRequest`]; a TRANSMIT without an APDU gives
    /// [`Status::InvalidParameter`]; an output that cannot hold the fixed-size
    /// answer (33 bytes for an ATR, 4 for a state, a protocol or an error code, 12
    /// for the counters, 10 for a TRANSMIT answer) gives [`Status::BufferTooSmall`].
    pub fn check(&self, output_len: usize) -> Result<(), Status> {
        match self {
            Request::Power(action) if *action != PowerAction::PowerDown => {
                need_output(output_len, ATR_BUFFER_LEN)
            }
            Request::SetProtocol(mask) => {
                if mask.is_empty() {
                    return Err(Status::InvalidDeviceRequest);
                }
                need_output(output_len, 4)
            }
            Request::Transmit(transmit) => {
                if transmit.apdu.is_empty() {
                    return Err(Status::InvalidParameter);
                }
                need_output(output_len, IO_REQUEST_LEN + MIN_RESPONSE_LEN)
            }
            Request::GetState | Request::GetLastError => need_output(output_len, 4),
            Request::GetPerfCounter => need_output(output_len, PERF_COUNTERS_LEN),
            Request::Vendor { code, .. } => match Ioctl::from_code(*code) {
                Some(Ioctl::Vendor(_)) => Ok(()),
                _ => Err(Status::InvalidDeviceRequest),
            },
            _ => Ok(()),
        }
    }

    /// The IOCTL code this request is sent with.
    pub fn code(&self) -> u32 {
        let ioctl = match self {
            Request::Power(_) => Ioctl::Power,
            Request::GetAttribute(_) => Ioctl::GetAttribute,
            Request::SetAttribute { .. } => Ioctl::SetAttribute,
            Request::Confiscate => Ioctl::Confiscate,
            Request::Transmit(_) => Ioctl::Transmit,
            Request::Eject => Ioctl::Eject,
            Request::Swallow => Ioctl::Swallow,
            Request::IsPresent => Ioctl::IsPresent,
            Request::IsAbsent => Ioctl::IsAbsent,
            Request::SetProtocol(_) => Ioctl::SetProtocol,
            Request::GetState => Ioctl::GetState,
            Request::GetLastError => Ioctl::GetLastError,
            Request::GetPerfCounter => Ioctl::GetPerfCounter,
            Request::Vendor { code, .. } => return *code,
        };
        ioctl.code()
    }

    /// Length of the input buffer [`Request::emit`] writes, in bytes.
    pub fn input_len(&self) -> usize {
        match self {
            Request::Power(_) | Request::GetAttribute(_) | Request::SetProtocol(_) => 4,
            Request::SetAttribute { value, .. } => 4 + value.len(),
            Request::Transmit(transmit) => IO_REQUEST_LEN + transmit.apdu.len(),
            Request::Vendor { input, .. } => input.len(),
            _ => 0,
        }
    }

    /// Write the input buffer this request is sent with (the inverse of
    /// [`Request::parse`]: parsing what this writes gives the request back). A
    /// TRANSMIT header carries no protocol control information (`cbPciLength` = 8).
    /// Returns the bytes written; [`Status::BufferTooSmall`] if `input` is shorter
    /// than [`Request::input_len`], and then nothing is written.
    pub fn emit(&self, input: &mut [u8]) -> Result<usize, Status> {
        let len = self.input_len();
        let input = input.get_mut(..len).ok_or(Status::BufferTooSmall)?;
        let (word, rest) = match self {
            Request::Power(action) => (action.code(), &[][..]),
            Request::GetAttribute(tag) => (*tag, &[][..]),
            Request::SetAttribute { tag, value } => (*tag, *value),
            Request::SetProtocol(mask) => (mask.0, &[][..]),
            Request::Transmit(transmit) => {
                let (header, apdu) = input.split_at_mut(IO_REQUEST_LEN);
                header.copy_from_slice(&io_request(transmit.protocol));
                apdu.copy_from_slice(transmit.apdu);
                return Ok(len);
            }
            Request::Vendor { input: bytes, .. } => {
                input.copy_from_slice(bytes);
                return Ok(len);
            }
            _ => return Ok(0),
        };
        let (head, tail) = input.split_at_mut(4);
        head.copy_from_slice(&word.to_le_bytes());
        tail.copy_from_slice(rest);
        Ok(len)
    }
}

/// The response APDU inside a TRANSMIT answer (`answer` = the output buffer's first
/// `bytes_written` bytes): what follows the `SCARD_IO_REQUEST` header and its
/// protocol control information. [`Status::InvalidParameter`] if the header's
/// `cbPciLength` does not fit or fewer than two bytes (SW1 SW2) follow it.
pub fn transmit_response(answer: &[u8]) -> Result<&[u8], Status> {
    match after_io_request(answer) {
        Some(response) if response.len() >= MIN_RESPONSE_LEN => Ok(response),
        _ => Err(Status::InvalidParameter),
    }
}

/// The `SCARD_IO_REQUEST` header that starts a TRANSMIT input and its answer:
/// `dwProtocol` = `protocol`, `cbPciLength` = [`IO_REQUEST_LEN`] (no protocol
/// control information follows), both little-endian.
pub(crate) fn io_request(protocol: u32) -> [u8; IO_REQUEST_LEN] {
    let mut header = [0; IO_REQUEST_LEN];
    header[..4].copy_from_slice(&protocol.to_le_bytes());
    header[4..].copy_from_slice(&(IO_REQUEST_LEN as u32).to_le_bytes());
    header
}

/// What follows the `SCARD_IO_REQUEST` header at the start of `buffer` and its
/// protocol control information: `None` if `cbPciLength` is missing, shorter
/// than the header or longer than `buffer`.
fn after_io_request(buffer: &[u8]) -> Option<&[u8]> {
    let pci_len = buffer
        .get(4..)
        .and_then(read_u32)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= IO_REQUEST_LEN)?;
    buffer.get(pci_len..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioctl::scard_ctl_code;

    /// One request of every kind, with and without payload.
    fn samples<'a>(apdu: &'a [u8], value: &'a [u8]) -> [Request<'a>; 16] {
        [
            Request::Power(PowerAction::PowerDown),
            Request::Power(PowerAction::ColdReset),
            Request::Power(PowerAction::WarmReset),
            Request::GetAttribute(0x0009_0303),
            Request::SetAttribute {
                tag: 0x7FFF_0003,
                value,
            },
            Request::Confiscate,
            Request::Transmit(Transmit { protocol: 2, apdu }),
            Request::Eject,
            Request::Swallow,
            Request::IsPresent,
            Request::IsAbsent,
            Request::SetProtocol(ProtocolMask(0x8000_0003)),
            Request::GetState,
            Request::GetLastError,
            Request::GetPerfCounter,
            Request::Vendor {
                code: scard_ctl_code(3400),
                input: value,
            },
        ]
    }

    #[test]
    fn parse_undoes_emit() {
        let apdu = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];
        let value = [1, 2, 3];
        for request in samples(&apdu, &value) {
            let mut input = [0u8; 32];
            let len = request.emit(&mut input).unwrap();
            assert_eq!(len, request.input_len(), "{request:?}");
            assert_eq!(
                Request::parse(request.code(), &input[..len], 64),
                Ok(request)
            );
        }
    }

    #[test]
    fn parsing_the_prefix_input_read_names_gives_the_same_answer() {
        let mut input = [0u8; 40];
        for (i, b) in input.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0x5A;
        }
        // A TRANSMIT header whose cbPciLength is 8, a POWER word of 1.
        input[4..8].copy_from_slice(&8u32.to_le_bytes());
        let words = [[1, 0, 0, 0], input[..4].try_into().unwrap()];
        let codes = (0..=crate::ioctl::FUNCTION_MAX).map(scard_ctl_code).chain([
            0x0031_4004,
            0x0031_0005,
            0x0022_0004,
            0,
        ]);
        for code in codes {
            for word in words {
                input[..4].copy_from_slice(&word);
                for len in 0..input.len() {
                    let read = Request::input_read(code, len);
                    assert!(read <= len, "{code:#010X} {len}");
                    for output_len in [0, 4, 64] {
                        assert_eq!(
                            Request::parse(code, &input[..read], output_len),
                            Request::parse(code, &input[..len], output_len),
                            "{code:#010X}, {len} input bytes, {read} read"
                        );
                    }
                }
            }
        }
        // The oversized input of a request that reads none, or a word.
        assert_eq!(Request::input_read(Ioctl::GetState.code(), 1 << 20), 0);
        assert_eq!(Request::input_read(Ioctl::Power.code(), 1 << 20), 4);
        assert_eq!(Request::input_read(scard_ctl_code(99), 1 << 20), 0);
        assert_eq!(
            Request::input_read(Ioctl::Transmit.code(), 1 << 20),
            1 << 20
        );
    }

    #[test]
    fn emit_into_a_short_buffer_writes_nothing() {
        let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
        let request = Request::Transmit(Transmit {
            protocol: 1,
            apdu: &apdu,
        });
        let mut input = [0xEEu8; 12];
        assert_eq!(request.emit(&mut input), Err(Status::BufferTooSmall));
        assert_eq!(input, [0xEE; 12]);
        assert_eq!(request.emit(&mut [0u8; 13]), Ok(13));
    }

    #[test]
    fn typed_requests_are_checked_like_parsed_ones() {
        let vendor_outside = Request::Vendor {
            code: scard_ctl_code(16),
            input: &[],
        };
        assert_eq!(vendor_outside.check(64), Err(Status::InvalidDeviceRequest));
        let empty_apdu = Request::Transmit(Transmit {
            protocol: 2,
            apdu: &[],
        });
        assert_eq!(empty_apdu.check(64), Err(Status::InvalidParameter));
        let no_protocol = Request::SetProtocol(ProtocolMask(0x8000_0000));
        assert_eq!(no_protocol.check(4), Err(Status::InvalidDeviceRequest));
        assert_eq!(
            Request::Power(PowerAction::ColdReset).check(32),
            Err(Status::BufferTooSmall)
        );
        assert_eq!(Request::Power(PowerAction::PowerDown).check(0), Ok(()));
    }

    #[test]
    fn transmit_response_skips_the_header_and_its_pci() {
        let mut answer = [0u8; 14];
        answer[..4].copy_from_slice(&2u32.to_le_bytes());
        answer[4..8].copy_from_slice(&8u32.to_le_bytes());
        answer[8..].copy_from_slice(&[1, 2, 3, 4, 0x90, 0x00]);
        assert_eq!(transmit_response(&answer), Ok(&answer[8..]));
        answer[4..8].copy_from_slice(&12u32.to_le_bytes());
        assert_eq!(transmit_response(&answer), Ok(&answer[12..]));
        for bad in [0u32, 7, 13, u32::MAX] {
            answer[4..8].copy_from_slice(&bad.to_le_bytes());
            assert_eq!(transmit_response(&answer), Err(Status::InvalidParameter));
        }
        assert_eq!(
            transmit_response(&answer[..7]),
            Err(Status::InvalidParameter)
        );
    }

    #[test]
    fn io_request_names_the_protocol_and_no_pci() {
        assert_eq!(io_request(2), [2, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(io_request(0x0001_0000), [0, 0, 1, 0, 8, 0, 0, 0]);
    }

    /// Assert what `Request::parse` gives for `code` and each `(input, output
    /// length, result)`.
    fn assert_parses(code: u32, cases: &[(&[u8], usize, Result<Request<'_>, Status>)]) {
        for (input, output_len, expected) in cases {
            assert_eq!(
                Request::parse(code, input, *output_len),
                *expected,
                "input {input:02X?}, output of {output_len} bytes"
            );
        }
    }

    #[test]
    fn power_needs_a_known_code_and_room_for_an_atr() {
        let power = |action| Ok(Request::Power(action));
        assert_parses(
            Ioctl::Power.code(),
            &[
                (&[], 33, Err(Status::InvalidParameter)),
                (&[1, 0, 0], 33, Err(Status::InvalidParameter)),
                (&[3, 0, 0, 0], 33, Err(Status::InvalidParameter)),
                (&[1, 0, 0, 0], 32, Err(Status::BufferTooSmall)),
                (&[0, 0, 0, 0], 0, power(PowerAction::PowerDown)),
                (&[2, 0, 0, 0], 33, power(PowerAction::WarmReset)),
            ],
        );
    }

    #[test]
    fn transmit_header_must_fit() {
        let code = Ioctl::Transmit.code();
        let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
        let mut input = [0u8; 13];
        input[..4].copy_from_slice(&2u32.to_le_bytes());
        input[4..8].copy_from_slice(&8u32.to_le_bytes());
        input[8..].copy_from_slice(&apdu);
        assert_eq!(
            Request::parse(code, &input, 10),
            Ok(Request::Transmit(Transmit {
                protocol: 2,
                apdu: &apdu
            }))
        );
        assert_eq!(Request::parse(code, &input, 9), Err(Status::BufferTooSmall));
        assert_eq!(
            Request::parse(code, &input[..7], 10),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            Request::parse(code, &input[..8], 10),
            Err(Status::InvalidParameter)
        );
        for bad_pci in [0u32, 7, 14, u32::MAX] {
            input[4..8].copy_from_slice(&bad_pci.to_le_bytes());
            assert_eq!(
                Request::parse(code, &input, 10),
                Err(Status::InvalidParameter)
            );
        }
        input[4..8].copy_from_slice(&12u32.to_le_bytes());
        assert_eq!(
            Request::parse(code, &input, 10),
            Ok(Request::Transmit(Transmit {
                protocol: 2,
                apdu: &apdu[4..]
            }))
        );
    }

    #[test]
    fn set_protocol_needs_a_known_protocol() {
        assert_parses(
            Ioctl::SetProtocol.code(),
            &[
                (&[0; 3], 4, Err(Status::InvalidParameter)),
                (&[0, 0, 0, 0x80], 4, Err(Status::InvalidDeviceRequest)),
                (&[0x04, 0, 0, 0], 4, Err(Status::InvalidDeviceRequest)),
                (&[3, 0, 0, 0], 3, Err(Status::BufferTooSmall)),
                (
                    &[3, 0, 0, 0x80],
                    4,
                    Ok(Request::SetProtocol(ProtocolMask(0x8000_0003))),
                ),
            ],
        );
    }

    #[test]
    fn fixed_size_answers_need_room() {
        let get_state = Ioctl::GetState.code();
        assert_parses(get_state, &[(&[], 3, Err(Status::BufferTooSmall))]);
        assert_parses(get_state, &[(&[], 4, Ok(Request::GetState))]);
        let perf = Ioctl::GetPerfCounter.code();
        assert_parses(perf, &[(&[], 11, Err(Status::BufferTooSmall))]);
        let attribute = Ioctl::GetAttribute.code();
        assert_parses(
            attribute,
            &[(&[1, 2, 3], 64, Err(Status::InvalidParameter))],
        );
        assert_parses(0x0031_0034, &[(&[], 64, Err(Status::InvalidDeviceRequest))]);
    }
}
