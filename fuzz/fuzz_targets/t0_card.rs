//! Differential: the T=0 engine against the simulated card, with a content oracle.
//!
//! The fuzzer picks the engine's settings (NULL and round limits, ENVELOPE, the
//! class of GET RESPONSE), the card's legal behaviours (NULL bytes, waiting time
//! extensions, one byte per procedure byte, short GET RESPONSE parts, ENVELOPE
//! support) and faults (parity errors that the UART repeats, a card that falls
//! silent), up to four commands of the card's application with fuzzer-chosen case,
//! lengths and data, the response buffer size, how the card's bytes are split
//! between reads, and when the line drops them.
//!
//! T=0 has no error detection, so nothing is damaged on the line; instead the check
//! is exact: when the engine completes, the card must have executed the command as
//! ISO/IEC 7816-3 12.2 maps the APDU onto TPDUs, and the response must be exactly the
//! card's answer (data and status word), or its first Ne bytes and the `61 xx` the
//! standard says to hand over. When the card is not faulty and the line drops
//! nothing, the exchange must succeed unless a configured limit is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::t0::{Action, Config, Error, Exchange, Extended, GetResponseClass};
use readerkit_card_sim::fault::{Mute, T0Procedure, Trigger, Wtx};
use readerkit_card_sim::{Card, Config as CardConfig, Faults, Profile};
use readerkit_fuzz::{Direction, Input, apdu};

/// Longest command data field the fuzzer builds, in bytes.
const MAX_NC: usize = 700;
/// Response buffer the fuzzer may choose up to, in bytes.
const MAX_RESPONSE: usize = 1100;
/// Engine steps per APDU before the exchange counts as endless.
const MAX_STEPS: usize = 200_000;
/// Repetitions of one character the fake UART makes before it gives up.
const MAX_REPEATS: u32 = 5;

fn trigger(b: u8) -> Trigger {
    match b & 3 {
        0 | 1 => Trigger::Nth(u32::from(b >> 2)),
        2 => Trigger::Off,
        _ => Trigger::Every,
    }
}

fn faults(input: &mut Input<'_>) -> Faults {
    let on = input.byte();
    Faults {
        t0_null_bytes: if on & 1 != 0 { input.byte() % 8 } else { 0 },
        t0_procedure: if on & 2 != 0 {
            T0Procedure::OneByteAtATime
        } else {
            T0Procedure::Ack
        },
        t0_get_response_max: (on & 4 != 0).then(|| input.byte()),
        parity_error: if on & 8 != 0 {
            trigger(input.byte())
        } else {
            Trigger::Off
        },
        mute: if on & 16 != 0 {
            Mute::AfterAnswers(u32::from(input.byte() % 8))
        } else {
            Mute::Never
        },
        wtx: (on & 32 != 0).then(|| Wtx {
            answer: trigger(input.byte()),
            multiplier: 1,
            count: input.byte() % 8,
        }),
        ..Faults::default()
    }
}

/// Write `bytes` to the card like a UART: a character the card rejects with a
/// parity error is sent again. `false` if the card kept rejecting one.
fn write(card: &mut Card, mut bytes: &[u8]) -> bool {
    let mut repeats = 0;
    while let Err(e) = card.write(bytes) {
        bytes = &bytes[e.accepted..];
        repeats = if e.accepted == 0 { repeats + 1 } else { 1 };
        if repeats > MAX_REPEATS {
            return false;
        }
    }
    true
}

/// `61 xx` for `n` bytes waiting (1 to 256; 256 is `00`).
fn more(n: usize) -> [u8; 2] {
    [0x61, (n & 0xFF) as u8]
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.byte();
    let faults = faults(&mut input);
    let mut profile = Profile::t0();
    let envelope = flags & 1 != 0;
    profile.envelope = envelope;
    let config = Config {
        waiting_time_us: 1_000,
        max_null_bytes: u32::from(input.byte() % 16),
        max_rounds: u16::from(input.byte()),
        extended: if flags & 2 != 0 {
            Extended::Envelope
        } else {
            Extended::NotSupported
        },
        get_response_class: match (flags >> 2) & 3 {
            0 | 1 => GetResponseClass::Interindustry,
            2 => GetResponseClass::FromCommand,
            // Classes the card knows GET RESPONSE in.
            _ => GetResponseClass::Fixed(if flags & 0x10 != 0 { 0x80 } else { 0x00 }),
        },
    };
    let nulls = u32::from(faults.t0_null_bytes) + faults.wtx.map_or(0, |w| u32::from(w.count));
    let card_faulty = faults.mute != Mute::Never || faults.parity_error == Trigger::Every;
    let chunk_max = faults
        .t0_get_response_max
        .map_or(256, |m| usize::from(m.max(1)));
    let mut card: Card = Card::with_config(CardConfig::new(profile).with_faults(faults));
    card.power_on();
    let mut atr = [0u8; 33];
    card.read(&mut atr);

    let mut response = [0u8; MAX_RESPONSE];
    let mut line = [0u8; 300];
    for _ in 0..1 + (flags >> 5) % 4 {
        let apdu = apdu(&mut input, MAX_NC);
        let cap = (usize::from(input.byte()) * 5).min(MAX_RESPONSE);
        let executed_before = card.log().total();
        let nc = apdu.data.1;
        let mut ex = match Exchange::new(&apdu.bytes, &mut response[..cap], config) {
            Ok(ex) => ex,
            Err(e) => {
                match e {
                    Error::ResponseBufferTooSmall => assert!(cap < 2),
                    Error::ExtendedNotSupported => {
                        assert!(nc > 255 && config.extended == Extended::NotSupported)
                    }
                    e => panic!("{:02X?} refused: {e}", apdu.bytes),
                }
                continue;
            }
        };
        let mut dropped = false;
        let mut steps = 0;
        let result = loop {
            steps += 1;
            assert!(steps <= MAX_STEPS, "T=0 exchange without end");
            // Each step's returned action is read back through `action()`.
            match ex.action() {
                Ok(Action::Send(bytes)) => {
                    assert!(!bytes.is_empty());
                    if !write(&mut card, bytes) {
                        // The UART gave up on a character: the driver abandons
                        // the exchange (a time-out is no answer to a send).
                        break Err(None);
                    }
                    let _ = ex.sent();
                }
                Ok(Action::Expect { count, .. }) => {
                    let want = match input.try_byte() {
                        None => count,
                        Some(0xFF) => {
                            // The line drops the card's bytes: the waiting time runs out.
                            dropped = true;
                            let _ = ex.timeout();
                            continue;
                        }
                        Some(op) => 1 + usize::from(op) % count,
                    };
                    let want = want.min(line.len());
                    let n = card.read(&mut line[..want]);
                    let _ = if n == 0 {
                        ex.timeout()
                    } else {
                        ex.feed(&line[..n])
                    };
                }
                Ok(Action::Done { response_len }) => break Ok(response_len),
                Err(e) => break Err(Some(e)),
            }
        };
        let executed = card.log().total() > executed_before;
        match result {
            Ok(len) => {
                let got = &response[..len];
                if nc > 255 && !executed {
                    // The card refused the first ENVELOPE itself.
                    let class = config.get_response_class.class_for(apdu.header[0]) & !0x10;
                    let sw: u16 = if !matches!(class, 0x00 | 0x80) {
                        0x6E00
                    } else if !envelope {
                        0x6D00
                    } else {
                        panic!("engine answered {got:02X?} but the card executed nothing")
                    };
                    assert_eq!(got, sw.to_be_bytes(), "wrong answer to {:02X?}", apdu.bytes);
                    continue;
                }
                if let (Direction::Refused(sw), false) = (apdu.direction, executed) {
                    assert_eq!(got, sw.to_be_bytes(), "wrong answer to {:02X?}", apdu.bytes);
                    continue;
                }
                assert!(
                    executed,
                    "engine answered {got:02X?} but the card executed nothing"
                );
                let done = card.last_executed().expect("the card's last command");
                // The command as the card must have received it (12.2).
                if nc > 255 {
                    // ENVELOPE carries the APDU as it is.
                    assert_eq!(
                        done.command, apdu.bytes,
                        "the card received another command"
                    );
                } else if apdu.direction == Direction::FromCard {
                    // P3 = Le, or the length the card asked for with 6C xx.
                    assert_eq!(done.command.len(), 5);
                    assert_eq!(done.command[..4], apdu.header);
                } else {
                    let mut tpdu = apdu.header.to_vec();
                    if nc > 0 {
                        tpdu.push(nc as u8);
                        tpdu.extend_from_slice(apdu.data());
                    }
                    assert_eq!(done.command, tpdu, "the card received another command");
                }
                // The answer: all of it, or the first Ne bytes and 61 xx; data
                // from the card beyond Ne (after 6C xx) is not kept.
                let n = done.data.len();
                let mut expected = Vec::new();
                if apdu.direction == Direction::FromCard || n == 0 {
                    let kept = apdu.ne.map_or(n, |ne| ne.min(n));
                    expected.extend_from_slice(&done.data[..kept]);
                    expected.extend_from_slice(&done.sw.to_be_bytes());
                } else {
                    match apdu.ne {
                        None => expected.extend_from_slice(&more(n.min(chunk_max))),
                        Some(ne) if ne >= n => {
                            expected.extend_from_slice(done.data);
                            expected.extend_from_slice(&done.sw.to_be_bytes());
                        }
                        Some(ne) => {
                            expected.extend_from_slice(&done.data[..ne]);
                            expected.extend_from_slice(&more((n - ne).min(chunk_max)));
                        }
                    }
                }
                assert_eq!(got, expected, "wrong answer to {:02X?}", apdu.bytes);
            }
            // The engine's error, or none when the driver gave up sending.
            Err(e) => {
                let limit = match e {
                    Some(Error::TooManyRounds | Error::ResponseBufferTooSmall) => true,
                    Some(Error::TooManyNullBytes) => nulls > config.max_null_bytes,
                    _ => false,
                };
                assert!(
                    limit || dropped || card_faulty,
                    "exchange of {:02X?} failed: {e:?}",
                    apdu.bytes
                );
                // A driver resets the card after a failed exchange.
                card.cold_reset();
                card.read(&mut atr);
            }
        }
    }
});
