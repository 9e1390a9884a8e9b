//! PIN-pad requests: `FEATURE_VERIFY_PIN_DIRECT` / `FEATURE_MODIFY_PIN_DIRECT`
//! through `rk_device_control`, with well-formed `PIN_VERIFY_STRUCTURE` /
//! `PIN_MODIFY_STRUCTURE` inputs whose fields the fuzzer chooses, and the oracle
//! for their answer.
//!
//! The oracle replays the keys the keypad callback gave (recorded with the
//! time-out each was asked with) through the harness's own model of PIN entry
//! (PC/SC part 10 §2.5: digits up to the maximum, Clear, Backspace, Enter and
//! time-out validating only under their condition, Cancel) and checks: exactly
//! the keys the entry needs were asked for, each with the first or the next
//! key's time-out; an entry outcome answers SW 64 00 (time-out), 64 01 (cancel),
//! 64 02 (new PINs differ) or 64 03 (length) in 2 bytes with success and sends
//! nothing to the card; a complete entry sends exactly the template with the
//! PIN(s) in place (the structure's own formatter) and answers the card's
//! response; a structure that does not parse is refused before any key.

use readerkit::pin::{Conditions, EntryLimits, ModifyRequest, Pin, VerifyRequest};
use readerkit_c::*;

use super::arena::{R, bytes, read, usable_out};
use super::model::{byte, with};

/// The Windows control code of a part 10 function (`SCARD_CTL_CODE`), for the C
/// header's `u32` function numbers (all below 4096).
pub(crate) const fn ctl_code(function: u32) -> u32 {
    readerkit::ioctl::scard_ctl_code(function as u16)
}

/// Which PIN operation `code` asks for, if any.
pub(crate) fn operation(code: u32) -> Option<Operation> {
    match code {
        c if c == ctl_code(RK_FN_VERIFY_PIN_DIRECT) => Some(Operation::Verify),
        c if c == ctl_code(RK_FN_MODIFY_PIN_DIRECT) => Some(Operation::Modify),
        _ => None,
    }
}

/// A secure PIN operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `FEATURE_VERIFY_PIN_DIRECT`.
    Verify,
    /// `FEATURE_MODIFY_PIN_DIRECT`.
    Modify,
}

/// A key the keypad callback returned, and the time-out it was asked with (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeySeen {
    /// The time-out the library asked the key with, in ms.
    pub(crate) timeout_ms: u32,
    /// The key code returned (`RK_KEY_*` or anything).
    pub(crate) code: u32,
}

/// A TRANSMIT callback of a table device: the command and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransmitSeen {
    /// The command APDU the library sent.
    pub(crate) apdu: Vec<u8>,
    /// The callback's status.
    pub(crate) status: rk_status,
    /// The reply length the callback claimed (may exceed `capacity`).
    pub(crate) len: usize,
    /// The reply bytes written (at most `capacity`).
    pub(crate) reply: Vec<u8>,
    /// The reply buffer's capacity, in bytes.
    pub(crate) capacity: usize,
    /// The callback said it deactivated the card.
    pub(crate) deactivated: bool,
}

/// A structure for `operation` with fields the fuzzer chooses, mostly well formed
/// (its encoding, block, sizes, conditions and template consistent), sometimes
/// with a raw field or a wrong `ulDataLength`.
pub(crate) fn structure(operation: Operation) -> Vec<u8> {
    let (timer, timer2) = (byte() % 8, byte() % 8);
    let f = byte();
    let format = if f < 16 {
        byte()
    } else {
        // Bytes as the unit, position 0 or 1, either justification, binary, BCD
        // or ASCII.
        0x80 | (((f >> 2) & 1) << 3) | (f & 0x04) | (f % 3)
    };
    let block_bytes = byte() % 8 + 1;
    let block = if byte() < 16 { byte() } else { block_bytes };
    let length_format = if byte() < 16 { byte() } else { 0 };
    let min = byte() % 6 + 1;
    let max = min + byte() % 8;
    let conditions = match byte() {
        0..=7 => byte(),
        c => c % 7 + 1,
    };
    let messages = [0, 1, 2, 3, 0xFF][usize::from(byte() % 5)];
    let confirm = byte() % 4;
    let (old, new) = match byte() % 4 {
        0 => (0, block_bytes + 1),
        1 => (block_bytes + 1, 0),
        2 => (0, 0),
        _ => (byte() % 16, byte() % 16),
    };
    let needed = 1 + usize::from(block_bytes) + usize::from(old.max(new));
    let data_len = needed + usize::from(byte() % 4);
    let ins = match operation {
        Operation::Verify => 0x20,
        Operation::Modify => 0x24,
    };
    let mut apdu = vec![0x00, ins, 0x00, byte(), data_len as u8];
    apdu.extend((0..data_len).map(|_| 0xFF));
    let sizes = [max, min];
    let mut s = vec![timer, timer2, format, block, length_format];
    match operation {
        Operation::Verify => {
            s.extend_from_slice(&sizes);
            s.extend_from_slice(&[conditions, messages, 0x09, 0x04, 0]);
        }
        Operation::Modify => {
            s.extend_from_slice(&[old, new]);
            s.extend_from_slice(&sizes);
            s.extend_from_slice(&[confirm, conditions, messages, 0x09, 0x04, 0, 1, 2]);
        }
    }
    s.extend_from_slice(&[0, 0, 0]);
    let declared = apdu.len() + usize::from(byte() < 8);
    s.extend_from_slice(&(declared as u32).to_le_bytes());
    s.extend_from_slice(&apdu);
    s
}

/// How one entry ended: the digits, or the SW2 of its outcome (64 xx).
type EntryResult = Result<Vec<u8>, u8>;

/// The harness's model of one PIN entry over `keys` (consumed from the front):
/// checks each key's time-out and returns the outcome.
fn entry(limits: &EntryLimits, keys: &mut &[KeySeen]) -> EntryResult {
    let has = |c: u8| limits.conditions.0 & c != 0;
    let mut pin: Vec<u8> = Vec::new();
    let mut timeout = limits.first_key_timeout_ms;
    loop {
        let Some((key, rest)) = keys.split_first() else {
            panic!("PIN entry ended without its outcome: no more keys were asked for");
        };
        *keys = rest;
        assert_eq!(key.timeout_ms, timeout, "key asked with the wrong time-out");
        timeout = limits.next_key_timeout_ms;
        let long_enough = |pin: &Vec<u8>| {
            if pin.len() >= limits.min_digits {
                Ok(pin.clone())
            } else {
                Err(0x03)
            }
        };
        match key.code {
            RK_KEY_NONE if has(Conditions::TIMEOUT) && !pin.is_empty() => return long_enough(&pin),
            RK_KEY_NONE => return Err(0x00),
            RK_KEY_CANCEL => return Err(0x01),
            RK_KEY_ENTER if has(Conditions::KEY) => return long_enough(&pin),
            RK_KEY_CLEAR => pin.clear(),
            RK_KEY_BACKSPACE => {
                pin.pop();
            }
            c if (RK_KEY_DIGIT_0..RK_KEY_DIGIT_0 + 10).contains(&c)
                && pin.len() < limits.max_digits =>
            {
                pin.push((c - RK_KEY_DIGIT_0) as u8);
            }
            _ => {}
        }
        if has(Conditions::MAX_SIZE) && pin.len() == limits.max_digits {
            return Ok(pin);
        }
    }
}

fn to_pin(digits: &[u8]) -> Pin {
    let mut pin = Pin::new();
    for &d in digits {
        assert!(pin.push(d));
    }
    pin
}

/// The model's outcome of a parsed request over `keys`: the command the card
/// gets, or the SW2 of the entry outcome. Every key must be used.
fn expected(request: &Parsed<'_>, mut keys: &[KeySeen]) -> Result<Vec<u8>, u8> {
    let mut command = [0u8; 261];
    let len = match request {
        Parsed::Verify(r) => {
            let pin = to_pin(&entry(&r.limits, &mut keys)?);
            r.format(&pin, &mut command)
        }
        Parsed::Modify(r) => {
            let current = match r.confirm.enter_current {
                true => entry(&r.limits, &mut keys)?,
                false => Vec::new(),
            };
            let new = entry(&r.limits, &mut keys)?;
            if r.confirm.confirm_new && entry(&r.limits, &mut keys)? != new {
                return Err(0x02);
            }
            r.format(&to_pin(&current), &to_pin(&new), &mut command)
        }
    };
    assert!(
        keys.is_empty(),
        "{} keys asked for after the entry ended",
        keys.len()
    );
    Ok(command[..len.expect("a template that parses formats")].to_vec())
}

/// A structure as the library parses it.
enum Parsed<'a> {
    Verify(VerifyRequest<'a>),
    Modify(ModifyRequest<'a>),
}

/// What the oracle needs about a PIN request that the library did not refuse for
/// its pointers.
pub(crate) struct PinCall<'a> {
    /// The operation its control code asks for.
    pub(crate) operation: Operation,
    /// The structure, as it was in the input before the call.
    pub(crate) structure: &'a [u8],
    /// The device serves PIN requests: it has a keypad and a TRANSMIT callback
    /// (or a line), and it is awake.
    pub(crate) served: bool,
    /// A table device: its TRANSMIT callbacks are recorded.
    pub(crate) table: bool,
    /// A line device's protocol when the request began (`RK_PROTOCOL_T0` or
    /// `_T1`, as `set_framing` last said; `None`: not known).
    pub(crate) framing: Option<u32>,
    /// The output buffer and `bytes_written` (if usable).
    pub(crate) output: R,
    pub(crate) bytes_written: Option<usize>,
}

/// Check the answer of a PIN request (status `st`) against the keys and the
/// TRANSMIT calls recorded during it.
pub(crate) fn check_answer(call: &PinCall<'_>, st: rk_status) {
    let (keys, transmits, sends, event_posted) = with(|h| {
        (
            std::mem::take(&mut h.keys),
            std::mem::take(&mut h.transmits),
            std::mem::take(&mut h.sends),
            h.event_posted,
        )
    });
    let parsed = match call.operation {
        Operation::Verify => VerifyRequest::parse(call.structure).map(Parsed::Verify),
        Operation::Modify => ModifyRequest::parse(call.structure).map(Parsed::Modify),
    };
    let request = match parsed {
        Err(e) => {
            assert!(
                keys.is_empty(),
                "a key read for a structure refused ({e:?})"
            );
            assert!(
                transmits.is_empty() && sends.is_empty(),
                "a command sent for a refused structure"
            );
            if call.served {
                assert_eq!(
                    st, RK_STATUS_INVALID_PARAMETER,
                    "PIN structure refused ({e:?})"
                );
            }
            return;
        }
        Ok(request) => request,
    };
    if keys.is_empty() {
        // Refused before the entry (no card, no protocol, a short output): no
        // command either.
        assert!(
            transmits.is_empty() && sends.is_empty(),
            "a PIN command sent without a key"
        );
        return;
    }
    assert!(call.served, "a key read by a device without a PIN pad");
    let output = |n: usize| bytes(R::at(call.output.off, n));
    match expected(&request, &keys) {
        Err(sw2) => {
            assert!(
                transmits.is_empty() && sends.is_empty(),
                "a command sent after entry outcome 64 {sw2:02X}"
            );
            assert_eq!(st, RK_STATUS_SUCCESS, "entry outcome 64 {sw2:02X}");
            if let Some(n) = call.bytes_written {
                assert_eq!(n, 2, "entry outcome 64 {sw2:02X}: bytes written");
            }
            assert_eq!(output(2), [0x64, sw2], "entry outcome's answer");
        }
        Ok(command) if call.table => {
            let [t] = transmits.as_slice() else {
                panic!("{} TRANSMIT calls for one PIN command", transmits.len());
            };
            assert_eq!(t.apdu, command, "the PIN command sent");
            let honest = t.status == RK_STATUS_SUCCESS && (2..=t.capacity).contains(&t.len);
            if t.deactivated && event_posted {
                // A card change during the call decides, not the report (the
                // device oracle checks the report alone).
                return;
            }
            let honest = honest && !t.deactivated;
            assert_eq!(st == RK_STATUS_SUCCESS, honest, "status {st} after {t:?}");
            if honest {
                if let Some(n) = call.bytes_written {
                    assert_eq!(n, t.len, "the card's answer's length");
                }
                assert_eq!(output(t.len), t.reply, "the card's answer");
            }
        }
        Ok(command) => {
            if st == RK_STATUS_SUCCESS {
                assert!(
                    !sends.is_empty(),
                    "a PIN answer with nothing sent on the line"
                );
            }
            match call.framing {
                Some(RK_PROTOCOL_T0) => check_t0_sends(&command, &sends),
                Some(RK_PROTOCOL_T1) => check_t1_sends(&command, &sends),
                _ => {}
            }
        }
    }
}

/// A line device's T=0 command: the bytes sent, in order, are the command
/// (header, then its data however the procedure bytes cut it), cut short where
/// the exchange failed, or followed by what the card's status asked for (GET
/// RESPONSE).
fn check_t0_sends(command: &[u8], sends: &[Vec<u8>]) {
    let sent = sends.concat();
    let n = sent.len().min(command.len());
    assert_eq!(
        sent[..n],
        command[..n],
        "the T=0 bytes sent are not the PIN command {command:02X?}"
    );
}

/// A line device's T=1 command: each I-block sent (one block per send; NAD, PCB,
/// LEN, INF, EDC) carries a piece of the command, the last of a chain (M bit
/// clear) its end; R- and S-blocks carry none.
fn check_t1_sends(command: &[u8], sends: &[Vec<u8>]) {
    for block in sends {
        let [_nad, pcb, len, rest @ ..] = block.as_slice() else {
            panic!("a T=1 block of {} bytes", block.len());
        };
        if pcb & 0x80 != 0 {
            continue;
        }
        let inf = &rest[..usize::from(*len).min(rest.len())];
        assert!(
            command.windows(inf.len().max(1)).any(|w| w == inf),
            "an I-block's INF {inf:02X?} is not a piece of the PIN command {command:02X?}"
        );
        if pcb & 0x20 == 0 {
            assert!(
                command.ends_with(inf),
                "the last I-block's INF {inf:02X?} does not end the PIN command {command:02X?}"
            );
        }
    }
}

/// `bytes_written` after a call, if the harness can read it.
pub(crate) fn bytes_written(bw: R, output: R) -> Option<usize> {
    (usable_out::<usize>(bw) && !bw.overlaps(output)).then(|| read(bw))
}
