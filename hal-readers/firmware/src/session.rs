//! The host's side: a fixed list of requests standing in for what a PC sends over
//! USB CCID or a command UART, each checked against the answer it must get.

// The device board's script uses only some steps, and logs nothing.
#![cfg_attr(not(feature = "qemu"), allow(dead_code))]

use readerkit::ioctl::{PowerAction, Request, Transmit, transmit_response};
use readerkit::protocol::ProtocolMask;
use readerkit::{Device, Outcome, Status, platform::Platform};
use readerkit_card_sim::app;

/// One request of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Take the card through event processing: the chip driver's slot poll, the
    /// insertion reported to the device (not a request; nothing is counted).
    Poll,
    /// IOCTL_SMARTCARD_POWER with a cold reset; the answer is the ATR.
    ColdReset,
    /// IOCTL_SMARTCARD_POWER, power down.
    PowerDown,
    /// IOCTL_SMARTCARD_SET_PROTOCOL with this mask (1 = T=0, 2 = T=1); the answer
    /// must be that protocol.
    SetProtocol(u32),
    /// TRANSMIT `00 A4 00 0C 02 3F 00` (SELECT MF, no FCI); the answer is `90 00`.
    SelectMf,
    /// TRANSMIT an ECHO (`80 EE 00 00`) of this many bytes (short lengths up to
    /// 255, extended above); the answer is the data and `90 00`.
    Echo(u16),
}

impl Step {
    /// A short name for the session log.
    pub fn name(self) -> &'static str {
        match self {
            Step::Poll => "card inserted",
            Step::ColdReset => "POWER cold reset",
            Step::PowerDown => "POWER down",
            Step::SetProtocol(1) => "SET_PROTOCOL T=0 (PPS)",
            Step::SetProtocol(_) => "SET_PROTOCOL T=1 (PPS)",
            Step::SelectMf => "TRANSMIT SELECT MF",
            Step::Echo(_) => "TRANSMIT ECHO",
        }
    }
}

/// What a board measures around each request.
pub trait Probe {
    /// Run `request` (one `Device::control` call) and measure it.
    fn request(
        &mut self,
        index: usize,
        step: Step,
        request: &mut dyn FnMut() -> Outcome,
    ) -> Outcome;
    /// The request was answered as it must be (`ok`), with `answer` (the output bytes).
    fn answered(&mut self, index: usize, step: Step, ok: bool, answer: &[u8]);
}

/// The session's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Requests answered as they must be.
    pub ok: usize,
    /// The first request that was not (its index in the script).
    pub failed: Option<usize>,
}

/// The ECHO payload: byte `i` of an ECHO.
pub fn echo_byte(i: usize) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(7)
}

/// SELECT MF without FCI: `00 A4 00 0C 02 3F 00`.
const SELECT_MF: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];

/// Run `script` against `dev`, with `input` and `output` as the host's buffers (big
/// enough for the largest request and answer). Stops at the first wrong answer.
///
/// Each request's input is written by the core's client side ([`Request::emit`]) and
/// each TRANSMIT answer read by it ([`transmit_response`]).
pub fn run<P: Platform, D>(
    dev: &Device<P, D>,
    script: &[Step],
    input: &mut [u8],
    output: &mut [u8],
    probe: &mut impl Probe,
    poll: &mut dyn FnMut(&Device<P, D>),
) -> Verdict {
    let mut protocol = 0u32;
    let mut ok = 0;
    for (index, &step) in script.iter().enumerate() {
        let transmit = |apdu| Request::Transmit(Transmit { protocol, apdu });
        let request = match step {
            Step::Poll => {
                poll(dev);
                continue;
            }
            Step::ColdReset => Some(Request::Power(PowerAction::ColdReset)),
            Step::PowerDown => Some(Request::Power(PowerAction::PowerDown)),
            Step::SetProtocol(mask) => Some(Request::SetProtocol(ProtocolMask(mask))),
            Step::SelectMf => Some(transmit(&SELECT_MF[..])),
            // The output buffer holds the APDU until the request is written out.
            Step::Echo(n) => echo_apdu(output, n).map(transmit),
        };
        let Some((code, Ok(len))) = request.map(|r| (r.code(), r.emit(input))) else {
            return Verdict {
                ok,
                failed: Some(index),
            };
        };
        let request = &input[..len];
        let outcome = probe.request(index, step, &mut || dev.control(code, request, output));
        let written = match outcome {
            Outcome::Complete {
                status: Status::Success,
                bytes_written,
            } => bytes_written.min(output.len()),
            _ => {
                probe.answered(index, step, false, &[]);
                return Verdict {
                    ok,
                    failed: Some(index),
                };
            }
        };
        let answer = &output[..written];
        // A TRANSMIT answer's header names the protocol it was sent with.
        let response = transmit_response(answer)
            .ok()
            .filter(|_| answer.starts_with(&protocol.to_le_bytes()));
        let right = match step {
            Step::Poll => true,
            Step::ColdReset => written >= 2,
            Step::PowerDown => written == 0,
            Step::SetProtocol(mask) => {
                protocol = mask;
                answer == mask.to_le_bytes()
            }
            Step::SelectMf => response == Some(&[0x90, 0x00][..]),
            Step::Echo(n) => response.is_some_and(|r| echo_answered(r, usize::from(n))),
        };
        probe.answered(index, step, right, answer);
        if !right {
            return Verdict {
                ok,
                failed: Some(index),
            };
        }
        ok += 1;
    }
    Verdict { ok, failed: None }
}

/// `80 EE 00 00 Lc data Le` with Lc = Le = `n` (extended lengths above 255), written
/// into `buf`; `None` if it does not fit.
fn echo_apdu(buf: &mut [u8], n: u16) -> Option<&[u8]> {
    let count = usize::from(n);
    let extended = count > 255;
    let len = 4 + if extended {
        3 + count + 2
    } else {
        1 + count + 1
    };
    let apdu = buf.get_mut(..len)?;
    apdu[..4].copy_from_slice(&[app::CLA_PROPRIETARY, app::INS_ECHO, 0x00, 0x00]);
    let data = if extended {
        apdu[4] = 0;
        apdu[5..7].copy_from_slice(&n.to_be_bytes());
        apdu[len - 2..].copy_from_slice(&n.to_be_bytes());
        &mut apdu[7..len - 2]
    } else {
        apdu[4] = n as u8;
        apdu[len - 1] = 0;
        &mut apdu[5..len - 1]
    };
    for (i, b) in data.iter_mut().enumerate() {
        *b = echo_byte(i);
    }
    Some(apdu)
}

/// The ECHO of `n` bytes came back: the data, then `90 00`.
fn echo_answered(response: &[u8], n: usize) -> bool {
    let Some((data, sw)) = response.split_at_checked(n) else {
        return false;
    };
    sw == [0x90, 0x00] && data.iter().enumerate().all(|(i, &b)| b == echo_byte(i))
}
