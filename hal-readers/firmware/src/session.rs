//! The host's side: a fixed list of requests standing in for what a PC sends over
//! USB CCID or a command UART, each checked against the answer it must get.

// The device board's script uses only some steps, and logs nothing.
#![cfg_attr(not(feature = "qemu"), allow(dead_code))]

use readerkit::{Device, Ioctl, Outcome, Status, platform::Platform};

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

/// Run `script` against `dev`, with `input` and `output` as the host's buffers (big
/// enough for the largest request and answer). Stops at the first wrong answer.
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
        let (code, len) = match step {
            Step::Poll => {
                poll(dev);
                continue;
            }
            Step::ColdReset | Step::PowerDown => {
                let action: u32 = if step == Step::ColdReset { 1 } else { 0 };
                input[..4].copy_from_slice(&action.to_le_bytes());
                (Ioctl::Power.code(), Some(4))
            }
            Step::SetProtocol(mask) => {
                input[..4].copy_from_slice(&mask.to_le_bytes());
                (Ioctl::SetProtocol.code(), Some(4))
            }
            Step::SelectMf => {
                let apdu = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];
                (
                    Ioctl::Transmit.code(),
                    transmit_input(input, protocol, &apdu),
                )
            }
            Step::Echo(n) => (Ioctl::Transmit.code(), echo_input(input, protocol, n)),
        };
        let Some(len) = len else {
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
        let right = match step {
            Step::Poll => true,
            Step::ColdReset => written >= 2,
            Step::PowerDown => written == 0,
            Step::SetProtocol(mask) => {
                protocol = mask;
                answer == mask.to_le_bytes()
            }
            Step::SelectMf => answer == transmit_answer(protocol, &[0x90, 0x00]).as_slice(),
            Step::Echo(n) => echo_answered(answer, protocol, usize::from(n)),
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

/// SCARD_IO_REQUEST (protocol, header length 8, both little-endian) and the APDU.
fn transmit_input(input: &mut [u8], protocol: u32, apdu: &[u8]) -> Option<usize> {
    let len = 8 + apdu.len();
    let buf = input.get_mut(..len)?;
    buf[..4].copy_from_slice(&protocol.to_le_bytes());
    buf[4..8].copy_from_slice(&8u32.to_le_bytes());
    buf[8..].copy_from_slice(apdu);
    Some(len)
}

fn transmit_answer(protocol: u32, tail: &[u8; 2]) -> [u8; 10] {
    let mut answer = [0u8; 10];
    answer[..4].copy_from_slice(&protocol.to_le_bytes());
    answer[4..8].copy_from_slice(&8u32.to_le_bytes());
    answer[8..].copy_from_slice(tail);
    answer
}

/// `80 EE 00 00 Lc data Le` with Lc = Le = `n` (extended lengths above 255).
fn echo_input(input: &mut [u8], protocol: u32, n: u16) -> Option<usize> {
    let count = usize::from(n);
    let extended = count > 255;
    let apdu_len = 4 + if extended {
        3 + count + 2
    } else {
        1 + count + 1
    };
    let buf = input.get_mut(..8 + apdu_len)?;
    buf[..4].copy_from_slice(&protocol.to_le_bytes());
    buf[4..8].copy_from_slice(&8u32.to_le_bytes());
    buf[8..12].copy_from_slice(&[0x80, 0xEE, 0x00, 0x00]);
    let data = if extended {
        buf[12] = 0;
        buf[13..15].copy_from_slice(&n.to_be_bytes());
        let end = buf.len();
        buf[end - 2..].copy_from_slice(&n.to_be_bytes());
        &mut buf[15..end - 2]
    } else {
        buf[12] = n as u8;
        let end = buf.len();
        buf[end - 1] = 0;
        &mut buf[13..end - 1]
    };
    for (i, b) in data.iter_mut().enumerate() {
        *b = echo_byte(i);
    }
    Some(8 + apdu_len)
}

fn echo_answered(answer: &[u8], protocol: u32, n: usize) -> bool {
    let Some((header, rest)) = answer.split_at_checked(8) else {
        return false;
    };
    let Some((data, sw)) = rest.split_at_checked(n) else {
        return false;
    };
    header[..4] == protocol.to_le_bytes()
        && header[4..] == 8u32.to_le_bytes()
        && sw == [0x90, 0x00]
        && data.iter().enumerate().all(|(i, &b)| b == echo_byte(i))
}
