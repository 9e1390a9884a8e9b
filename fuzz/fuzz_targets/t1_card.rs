//! Differential: the T=1 engine against the simulated card, over a line that loses
//! and damages blocks, with a content oracle.
//!
//! The fuzzer picks the session (IFSC, IFSD, EDC, NAD, retry limits), the card's
//! faults (corrupted, truncated or mis-sequenced blocks, WTX and IFS requests, a card
//! that falls silent, parity errors), up to four APDUs (arbitrary bytes, or commands
//! of the card's application with fuzzer-chosen data and lengths), the response
//! buffer size, and for every block on the line whether it arrives intact, damaged
//! in one byte (never LEN: a changed LEN moves the EDC, which a one-byte check
//! cannot then be trusted to catch), lost, or received with a parity error.
//!
//! Every fault but one is one T=1 detects, so the engine may fail but never answer
//! wrongly (the exception: a card that sends a stale block with a wrong sequence
//! number and a right EDC, which no reader can always tell from the awaited one):
//! when it completes, the card must have executed exactly the APDU it was given, and
//! the response must be exactly the card's answer to it. When neither the card nor
//! the line misbehaved, the exchange must succeed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit::t1::{Action, Config, Edc, Engine, Error, MAX_BLOCK_LEN, clamp_ifs};
use readerkit_card_sim::atr::T1Params;
use readerkit_card_sim::fault::{IfsRequest, Mute, Trigger, Wtx};
use readerkit_card_sim::{Card, Config as CardConfig, Faults, Profile, edc};
use readerkit_fuzz::{Input, apdu, t1};

/// Longest APDU the fuzzer builds, in bytes.
const MAX_APDU: usize = 1100;
/// Response buffer the fuzzer may choose up to, in bytes.
const MAX_RESPONSE: usize = 5200;
/// Blocks per APDU before the exchange counts as endless.
const MAX_STEPS: usize = 100_000;

fn trigger(b: u8) -> Trigger {
    match b & 3 {
        0 | 1 => Trigger::Off,
        2 => Trigger::Nth(u32::from(b >> 2)),
        _ => Trigger::Every,
    }
}

fn faults(input: &mut Input<'_>) -> Faults {
    let on = input.byte();
    if on & 0x80 == 0 {
        return Faults::default();
    }
    let wtx = input.byte();
    let ifs = input.byte();
    let mute = input.byte();
    Faults {
        corrupt_edc: trigger(input.byte()),
        drop_byte: trigger(input.byte()),
        wrong_sequence: trigger(input.byte()),
        parity_error: trigger(input.byte()),
        wtx: (wtx & 1 != 0).then(|| Wtx {
            answer: trigger(wtx >> 1),
            multiplier: input.byte(),
            count: input.byte() % 8,
        }),
        ifs_request: (ifs & 1 != 0).then(|| IfsRequest {
            answer: trigger(ifs >> 1),
            ifsc: input.byte(),
        }),
        mute: match mute & 3 {
            3 => Mute::AfterAnswers(u32::from(mute >> 2)),
            _ => Mute::Never,
        },
        ..Faults::default()
    }
}

/// Whether `block` is one whole block with the right EDC (checked with the card's
/// own code, not the engine's).
fn intact(block: &[u8], edc: edc::Edc) -> bool {
    let body = match block.get(2) {
        Some(&len) => 3 + usize::from(len),
        None => return false,
    };
    block.len() == body + edc.epilogue_len() && edc.check(&block[..body], &block[body..])
}

/// Damage one byte of a block (not LEN), XOR-ing it with a non-zero mask (so the EDC
/// always catches it).
fn damage(block: &mut [u8], at: u8, mask: u8) {
    if block.len() < 4 {
        return;
    }
    let mut i = usize::from(at) % block.len();
    if i == 2 {
        i = 1;
    }
    block[i] ^= mask.max(1);
    if i == 0 && block[0] == 0xFF {
        // FF as the first byte after the ATR would start a PPS exchange instead.
        block[0] = 0xEE;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.byte();
    let crc = flags & 1 != 0;
    let ifsc = clamp_ifs(input.byte());
    let config = Config {
        ifsc,
        ifsd: clamp_ifs(input.byte()),
        edc: if crc { Edc::Crc } else { Edc::Lrc },
        nad: if flags & 4 != 0 {
            input.byte() & 0x77
        } else {
            0
        },
        send_ifs_request: flags & 2 != 0,
        max_retries: input.byte() % 4,
        max_resynchs: input.byte() % 4,
        max_card_requests: u16::from(input.byte()),
    };
    let faults = faults(&mut input);
    let card_edc = if crc { edc::Edc::Crc } else { edc::Edc::Lrc };
    let profile = Profile::t1().with_t1(T1Params {
        ifsc,
        edc: card_edc,
        ..T1Params::default()
    });
    let mut card: Card = Card::with_config(CardConfig::new(profile).with_faults(faults));
    card.power_on();
    let mut atr = [0u8; 33];
    card.read(&mut atr);
    let mut engine = Engine::new(config).expect("valid configuration");
    // The card sends INF fields of up to 32 bytes until the reader's S(IFS request)
    // gets through; an engine that gave up announcing a smaller IFSD (its request
    // was lost) rejects them.
    let mut ifsd_fits = config.send_ifs_request || config.ifsd >= 32;

    let mut response = [0u8; MAX_RESPONSE];
    let mut line = [0u8; MAX_BLOCK_LEN + 16];
    for _ in 0..1 + (flags >> 6) {
        let shape = input.byte();
        let apdu = if shape & 1 == 0 {
            apdu(&mut input, MAX_APDU).bytes
        } else {
            let n = usize::from(input.u16()) % MAX_APDU;
            input.bytes(n).to_vec()
        };
        let cap = (usize::from(input.byte()) * 21).min(MAX_RESPONSE);
        let executed_before = card.log().total();
        // With no resynchronisation allowed, an engine that lost step stays so.
        let can_start = t1::can_start(&engine, &config);
        let transmitted = engine.transmit(&apdu, &mut response[..cap]);
        let Some(mut tx) = t1::began(can_start, &apdu, transmitted) else {
            continue;
        };
        let mut line_faults = false;
        let mut steps = 0;
        let mut action = tx.action();
        let result = loop {
            let block = match action {
                Err(e) => break Err(e),
                Ok(Action::Done { response_len }) => break Ok(response_len),
                Ok(Action::Send { block, .. }) => block,
            };
            steps += 1;
            assert!(steps <= MAX_STEPS, "T=1 exchange without end");
            let op = input.byte();
            let mut sent = [0u8; MAX_BLOCK_LEN];
            sent[..block.len()].copy_from_slice(block);
            let sent = &mut sent[..block.len()];
            match op & 7 {
                3 => {
                    damage(sent, op >> 3, input.byte());
                    line_faults = true;
                }
                7 => line_faults = true,
                _ => {}
            }
            if op & 7 != 7 {
                // Over T=1 the card signals no parity error: it answers an R-block.
                let _ = card.write(sent);
            }
            let n = card.read(&mut line);
            let reply = &mut line[..n];
            action = match op & 7 {
                _ if reply.is_empty() => tx.timeout(),
                // Only an intact block is damaged: a second error in a block the card
                // already spoiled (its corrupt_edc fault) could cancel the first.
                4 if intact(reply, card_edc) => {
                    line_faults = true;
                    damage(reply, op >> 3, input.byte());
                    tx.receive(reply)
                }
                5 => {
                    line_faults = true;
                    tx.timeout()
                }
                6 => {
                    line_faults = true;
                    tx.line_error()
                }
                _ => {
                    let complete = reply.len() >= 3
                        && reply.len() == 3 + usize::from(reply[2]) + if crc { 2 } else { 1 };
                    if complete || op & 8 != 0 {
                        tx.receive(reply)
                    } else {
                        // Fewer bytes than LEN announced: the character waiting time ran out.
                        tx.timeout()
                    }
                }
            };
        };
        let executed = card.last_executed();
        let expected = executed.map(|e| {
            let mut v = e.data.to_vec();
            v.extend_from_slice(&e.sw.to_be_bytes());
            v
        });
        // A card that sends a block with a wrong sequence number but a right EDC
        // lies in a way no T=1 reader can always see (its stale block looks like the
        // awaited one): once that fault has fired, only the other checks hold.
        // (The card is powered once, so its fault counter is its count of blocks.)
        let lying = match faults.wrong_sequence {
            Trigger::Off => false,
            Trigger::Nth(n) => n > 0 && card.stats().blocks_from_card >= n,
            Trigger::Every => card.stats().blocks_from_card > 0,
        };
        match result {
            Ok(_) | Err(Error::BufferTooSmall { .. }) if lying => {}
            Ok(len) => {
                let got = &response[..len];
                let Some(executed) = executed else {
                    panic!("engine answered {got:02X?} but the card executed no command");
                };
                assert!(card.log().total() > executed_before);
                assert_eq!(executed.command, apdu, "the card received another command");
                assert_eq!(
                    Some(got),
                    expected.as_deref(),
                    "wrong answer to {apdu:02X?}"
                );
            }
            Err(Error::BufferTooSmall { needed }) => {
                let executed = executed.expect("the card executed the command");
                assert_eq!(executed.command, apdu, "the card received another command");
                assert_eq!(Some(needed), expected.as_ref().map(Vec::len));
                assert!(needed > cap);
            }
            Err(e) => {
                assert!(
                    line_faults || faults != Faults::default() || !ifsd_fits,
                    "clean exchange of {apdu:02X?} failed: {e}"
                );
            }
        }
        if line_faults && config.ifsd < 32 {
            ifsd_fits = false;
        }
    }
});
