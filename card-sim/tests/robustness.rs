//! The card never panics, whatever the reader sends, with any fault switched on.

mod common;

use common::*;
use readerkit_card_sim::atr::Convention;
use readerkit_card_sim::fault::{IfsRequest, Mute, T0Procedure, Trigger, Wtx};
use readerkit_card_sim::{Card, Config, Faults, Profile};
use readerkit_testkit::rng::Rng;

/// A random fault trigger.
fn trigger(rng: &mut Rng) -> Trigger {
    match rng.below(4) {
        0 => Trigger::Off,
        1 => Trigger::Every,
        _ => Trigger::Nth(rng.below(6) as u32),
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut total_out = 0usize;
    for round in 0..300 {
        let profile = match round % 4 {
            0 => Profile::t0(),
            1 => Profile::t1(),
            2 => Profile::t1_crc(),
            _ => Profile::t0_t1().with_convention(Convention::Inverse),
        };
        let faults = Faults {
            corrupt_edc: trigger(&mut rng),
            drop_byte: trigger(&mut rng),
            wrong_sequence: trigger(&mut rng),
            wtx: Some(Wtx {
                answer: trigger(&mut rng),
                multiplier: rng.next_u64() as u8,
                count: rng.below(3) as u8,
            }),
            ifs_request: Some(IfsRequest {
                answer: trigger(&mut rng),
                ifsc: rng.next_u64() as u8,
            }),
            mute: if rng.below(8) == 0 {
                Mute::AfterAnswers(rng.below(4) as u32)
            } else {
                Mute::Never
            },
            parity_error: trigger(&mut rng),
            t0_get_response_max: if rng.below(2) == 0 {
                None
            } else {
                Some(rng.next_u64() as u8)
            },
            t0_procedure: if rng.below(2) == 0 {
                T0Procedure::Ack
            } else {
                T0Procedure::OneByteAtATime
            },
            t0_null_bytes: rng.below(3) as u8,
        };
        let mut card = Card::with_config(Config::new(profile).with_faults(faults));
        card.power_on();
        for _ in 0..400 {
            let n = rng.below(12);
            let mut bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            // Now and then something well-formed, to get deeper into the machines.
            if rng.below(4) == 0 {
                bytes = match round % 4 {
                    0 => vec![
                        0x00,
                        [0xB0, 0x84, 0xC0, 0xA4, 0xEE][rng.below(5)],
                        0,
                        0,
                        rng.next_u64() as u8,
                    ],
                    1 => block(
                        TestEdc::Lrc,
                        0,
                        [0x00, 0x40, 0x20, 0x80, 0x90, 0xC0, 0xC1, 0xE3][rng.below(8)],
                        &hex("00 84 00 00 10"),
                    ),
                    2 => block(
                        TestEdc::Crc,
                        0,
                        [0x00, 0x40, 0x60, 0x80, 0x90, 0xC2, 0xE1][rng.below(7)],
                        &hex("80 EE 00 00 02 01 02 00"),
                    ),
                    _ => vec![0xFF, 0x11, 0x96, 0xFF ^ 0x11 ^ 0x96],
                };
            }
            let _ = card.write(&bytes);
            match rng.below(20) {
                0 => card.line_idle(),
                1 => card.warm_reset(),
                2 => card.power_off(),
                3 => card.power_on(),
                _ => {}
            }
            total_out += read_all(&mut card).len();
        }
    }
    assert!(total_out > 10_000, "the card did answer: {total_out} bytes");
}
