//! The core's T=1 engine (`readerkit::t1::Engine`) driven against the simulated card
//! byte by byte through a small test reader (`common/engine.rs`): the engine's
//! blocks are written to the card, the card's blocks read back one byte at a time
//! until their LEN says they are complete, silence or a short block is a time-out.
//!
//! Covers the command cases 1, 2S, 3S, 4S, 2E, 3E, 4E (chaining both ways), every
//! application command (SELECT with and without FCI, READ BINARY, UPDATE BINARY, GET
//! CHALLENGE, VERIFY with its retry counter, ECHO short and extended up to 4 KiB and
//! beyond, 6D00, 6E00, 6700), the CRC profile and every T=1 fault of the card:
//! corrupted EDC on the Nth block, a dropped byte, WTX requests, a wrong sequence
//! number, an IFS request from the card, a parity error, a mute card (a clean
//! `IoTimeout`, not a hang). Responses are compared byte for byte with independently
//! computed data, and the card's counters (retransmissions, invalid blocks) checked.

#[path = "common/engine.rs"]
mod harness;

use harness::*;
use readerkit::Status;
use readerkit::t1;
use readerkit_card_sim::app::EF_DIR;
use readerkit_card_sim::fault::{Mute, Trigger};
use readerkit_card_sim::{Faults, Profile};

fn session() -> T1Session {
    T1Session::new(Profile::t1(), Faults::default())
}

fn faulty(faults: Faults) -> T1Session {
    T1Session::new(Profile::t1(), faults)
}

// ------------------------------------------------------------------ command cases

#[test]
fn first_apdu_announces_ifsd_then_case1() {
    let mut s = session();
    assert_eq!(s.apdu(&[0x00, 0x20, 0x00, 0x80]), Ok(vec![0x63, 0xC3]));
    // S(IFS request 254), then I(0) with the APDU.
    assert_eq!(s.wire.sent[0].0, [0x00, 0xC1, 0x01, 0xFE, 0x3E]);
    assert_eq!(s.wire.received[0], [0x00, 0xE1, 0x01, 0xFE, 0x1E]);
    assert_eq!(
        s.wire.sent[1].0,
        [0x00, 0x00, 0x04, 0x00, 0x20, 0x00, 0x80, 0xA4]
    );
    assert!(s.engine.ifsd_announced());
    assert_eq!(s.card.t1_ifsd(), 254);
    // Second APDU: N(S) = 1, no IFS request.
    assert_eq!(s.apdu(&[0x00, 0x20, 0x00, 0x80]), Ok(vec![0x63, 0xC3]));
    assert_eq!(s.wire.sent[2].0[1], 0x40);
    assert_eq!(s.wire.sent.len(), 3);
}

#[test]
fn case2s_3s_4s_short_commands() {
    let mut s = session();
    // 3S: SELECT EF 0101, no response data.
    assert_eq!(
        s.apdu(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]),
        Ok(vec![0x90, 0x00])
    );
    // 2S: READ BINARY 256 bytes: 258-byte response, chained by the card (IFSD 254).
    let r = s.apdu(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(0, 256), 0x9000));
    // READ BINARY near the end: 6282 with what there is (no 6Cxx in T=1).
    let r = s.apdu(&[0x00, 0xB0, 0x01, 0xF0, 0x20]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(0x1F0, 16), 0x6282));
    // 3S: UPDATE BINARY.
    let data = pattern(100);
    let mut apdu = vec![0x00, 0xD6, 0x00, 0x40, 100];
    apdu.extend_from_slice(&data);
    assert_eq!(s.apdu(&apdu), Ok(vec![0x90, 0x00]));
    let r = s.apdu(&[0x00, 0xB0, 0x00, 0x40, 100]).unwrap();
    assert_eq!(r, with_sw(&data, 0x9000));
    // 4S: SELECT with FCI, ECHO with Le.
    let r = s
        .apdu(&[0x00, 0xA4, 0x00, 0x00, 0x02, 0x2F, 0x00, 0x00])
        .unwrap();
    assert_eq!(
        r,
        [
            0x6F, 0x0B, 0x82, 0x01, 0x01, 0x83, 0x02, 0x2F, 0x00, 0x80, 0x02, 0x00, 0x20, 0x90,
            0x00
        ]
    );
    let r = s.apdu(&[0x00, 0xB0, 0x00, 0x00, 0x20]).unwrap();
    assert_eq!(r, with_sw(&EF_DIR, 0x9000));
    let data = pattern(255);
    assert_eq!(s.apdu(&echo_short(&data, Some(0))), echoed(&data));
    // Le = 10 < Nc: the card gives 10 bytes.
    assert_eq!(
        s.apdu(&echo_short(&data, Some(10))),
        Ok(with_sw(&data[..10], 0x9000))
    );
    // A 260-byte command (4+1+255) is chained: 254 + 6 bytes.
    let chains = s
        .wire
        .sent
        .iter()
        .filter(|(b, _)| b[1] & 0xA0 == 0x20)
        .count();
    assert!(chains >= 2, "command chaining expected");
    assert_eq!(s.card.stats().retransmissions, 0);
    assert_eq!(s.card.stats().invalid_blocks, 0);
}

#[test]
fn get_challenge_matches_the_cards_generator() {
    let mut s = session();
    let a = s.apdu(&[0x00, 0x84, 0x00, 0x00, 0x10]).unwrap();
    let mut raw = session();
    let b = raw.apdu(&[0x00, 0x84, 0x00, 0x00, 0x10]).unwrap();
    assert_eq!(a, b, "same seed, same challenge");
    assert_eq!(a.len(), 18);
    assert_eq!(&a[16..], [0x90, 0x00]);
    assert_ne!(s.apdu(&[0x00, 0x84, 0x00, 0x00, 0x10]).unwrap(), a);
}

#[test]
fn verify_retry_counter() {
    let mut s = session();
    assert_eq!(
        s.apdu(&[0x00, 0x20, 0x00, 0x80, 0x01, 0x00]),
        Ok(vec![0x63, 0xC2])
    );
    assert_eq!(s.apdu(&[0x00, 0x20, 0x00, 0x80]), Ok(vec![0x63, 0xC2]));
    assert_eq!(s.apdu(b"\x00\x20\x00\x80\x041234"), Ok(vec![0x90, 0x00]));
    assert_eq!(s.apdu(&[0x00, 0x20, 0x00, 0x80]), Ok(vec![0x90, 0x00]));
    assert_eq!(s.card.app().pin_tries_left(), 3);
    assert_eq!(s.apdu(&[0x00, 0x20, 0x00, 0x81]), Ok(vec![0x6A, 0x88]));
}

#[test]
fn errors_6d00_6e00_6700() {
    let mut s = session();
    assert_eq!(
        s.apdu(&[0x00, 0x12, 0x00, 0x00, 0x00]),
        Ok(vec![0x6D, 0x00])
    );
    assert_eq!(s.apdu(&[0xA0, 0xA4, 0x00, 0x00]), Ok(vec![0x6E, 0x00]));
    assert_eq!(
        s.apdu(&[0x00, 0xA4, 0x00, 0x0C, 0x01, 0x3F]),
        Ok(vec![0x67, 0x00])
    );
    // Inconsistent length fields: Lc = 5 with 2 bytes of data.
    assert_eq!(
        s.apdu(&[0x00, 0xA4, 0x00, 0x0C, 0x05, 0x3F, 0x00]),
        Ok(vec![0x67, 0x00])
    );
    assert_eq!(s.card.stats().commands, 4);
}

#[test]
fn extended_cases_2e_3e_4e() {
    let mut s = session();
    s.apdu(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap();
    // 2E: READ BINARY the whole 512-byte EF.
    let r = s.apdu(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x02, 0x00]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(0, 512), 0x9000));
    // 2E with Le = 0000 (65536): 6282 with the 512 bytes.
    let r = s.apdu(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(0, 512), 0x6282));
    // 3E: UPDATE BINARY of 400 bytes.
    let data = pattern(400);
    let mut apdu = vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x90];
    apdu.extend_from_slice(&data);
    assert_eq!(s.apdu(&apdu), Ok(vec![0x90, 0x00]));
    assert_eq!(&s.card.app().file(0x0101).unwrap()[..400], &data[..]);
    // 4E: ECHO 1000 bytes, Le 0000 and Le smaller.
    let data = pattern(1000);
    assert_eq!(s.echo(&data), echoed(&data));
    assert_eq!(
        s.apdu(&echo_extended(&data, 300)),
        Ok(with_sw(&data[..300], 0x9000))
    );
    assert_eq!(s.card.stats().retransmissions, 0);
}

#[test]
fn echo_4k_block_accounting() {
    let mut s = session();
    s.apdu(&[0x00, 0x20, 0x00, 0x80]).unwrap(); // IFS negotiation out of the way
    s.card.reset_stats();
    s.wire = Wire::default();
    let data = pattern(4096);
    let apdu = echo_extended(&data, 0);
    assert_eq!(s.apdu(&apdu), echoed(&data));
    // Command: 4105 bytes = 17 I-blocks (16 × 254 + 41), 16 R-acks from the card;
    // response: 4098 bytes = 17 I-blocks from the card, 16 R-acks from the engine.
    let st = *s.card.stats();
    assert_eq!(st.blocks_to_card, 17 + 16);
    assert_eq!(st.i_blocks_from_card, 17);
    assert_eq!(st.r_blocks_from_card, 16);
    assert_eq!(st.s_blocks_from_card, 0);
    let inf_out = 4105;
    let inf_in = 4098;
    assert_eq!(st.bytes_to_card, (inf_out + 33 * 4) as u64);
    assert_eq!(st.bytes_from_card, (inf_in + 33 * 4) as u64);
    assert_eq!(s.wire.to_card, st.bytes_to_card);
    assert_eq!(s.wire.from_card, st.bytes_from_card);
}

#[test]
fn echo_beyond_4k() {
    // The default card holds 4352-byte commands: 4343 bytes of ECHO data fit.
    let mut s = session();
    let data = pattern(4343);
    assert_eq!(s.echo(&data), echoed(&data));
    // One more byte does not fit the card's buffer: 6700.
    let data = pattern(4344);
    assert_eq!(s.echo(&data), Ok(vec![0x67, 0x00]));
    // A bigger card: 16 000 bytes.
    let mut big = T1Session::<16_384>::new(Profile::t1(), Faults::default());
    let data = pattern(16_000);
    assert_eq!(big.echo(&data), echoed(&data));
    assert_eq!(big.card.stats().response_data_bytes, 16_000);
}

#[test]
fn crc_profile() {
    let mut s: T1Session = T1Session::new(Profile::t1_crc(), Faults::default());
    assert_eq!(s.wire.sent.len(), 0);
    let data = pattern(700);
    assert_eq!(s.echo(&data), echoed(&data));
    assert_eq!(s.wire.sent[0].0, [0x00, 0xC1, 0x01, 0xFE, 0x54, 0x4E]);
    // Every block carries a 2-byte epilogue.
    for b in &s.wire.received {
        assert_eq!(b.len(), 3 + usize::from(b[2]) + 2);
    }
    assert_eq!(s.card.stats().invalid_blocks, 0);
    // A corrupted CRC is caught and recovered.
    s.card
        .set_faults(faults(|f| f.corrupt_edc = Trigger::Nth(2)));
    assert_eq!(s.echo(&data), echoed(&data));
    assert_eq!(s.card.stats().retransmissions, 1);
}

#[test]
fn small_ifsc_and_ifsd() {
    let profile = Profile::t1();
    let mut config = t1_config(&profile);
    config.ifsc = 16;
    config.ifsd = 20;
    let mut s = T1Session::<{ readerkit_card_sim::DEFAULT_CAPACITY }>::with_config(
        profile,
        Faults::default(),
        config,
    );
    let data = pattern(300);
    assert_eq!(s.echo(&data), echoed(&data));
    assert!(s.wire.sent.iter().all(|(b, _)| b[2] <= 16));
    assert!(s.wire.received.iter().all(|b| b[2] <= 20));
    assert_eq!(s.card.t1_ifsd(), 20);
}

// ------------------------------------------------------------------ faults

#[test]
fn corrupted_edc_on_the_nth_block_is_retransmitted() {
    // 1009-byte command, 1002-byte response: block 1 is the S(IFS response),
    // blocks 2-4 the R-acks of the command chain, blocks 5-8 the response I-blocks.
    for n in 1..=8u32 {
        let mut s = faulty(faults(|f| f.corrupt_edc = Trigger::Nth(n)));
        let data = pattern(1000);
        assert_eq!(s.echo(&data), echoed(&data), "corrupted block {n}");
        let st = s.card.stats();
        if n == 1 {
            // An S-response cannot be asked for again: the engine repeats its
            // S(IFS request).
            assert_eq!(&s.wire.sent[1].0, &s.wire.sent[0].0);
        } else {
            assert_eq!(st.retransmissions, 1, "block {n}");
            // The engine asked with R(N(R)) coded "EDC error".
            assert!(
                s.wire.sent.iter().any(|(b, _)| b[1] & 0xEF == 0x81),
                "no R(EDC) for block {n}"
            );
        }
    }
}

#[test]
fn every_edc_corrupted_ends_in_too_many_errors() {
    let mut s = faulty(faults(|f| f.corrupt_edc = Trigger::Every));
    let e = s.apdu(&[0x00, 0x20, 0x00, 0x80]).unwrap_err();
    assert_eq!(e, t1::Error::TooManyErrors);
    assert_eq!(Status::from(e), Status::DeviceProtocolError);
    assert!(!s.engine.is_synchronised());
}

#[test]
fn dropped_byte_is_a_timeout_then_retransmission() {
    for n in [2u32, 3, 6] {
        let mut s = faulty(faults(|f| f.drop_byte = Trigger::Nth(n)));
        let data = pattern(600);
        assert_eq!(s.echo(&data), echoed(&data), "dropped byte in block {n}");
        assert_eq!(s.wire.timeouts, 1);
        assert_eq!(s.card.stats().retransmissions, 1);
        // The R-block is coded "other error".
        assert!(s.wire.sent.iter().any(|(b, _)| b[1] & 0xEF == 0x82));
    }
}

#[test]
fn wtx_requests_are_answered_and_extend_the_wait() {
    let mut s = faulty(wtx_before(Trigger::Nth(1), 7, 3));
    let data = pattern(300);
    assert_eq!(s.echo(&data), echoed(&data));
    let wtx_responses: Vec<&(Vec<u8>, u8)> =
        s.wire.sent.iter().filter(|(b, _)| b[1] == 0xE3).collect();
    assert_eq!(wtx_responses.len(), 3);
    for (b, wtx) in wtx_responses {
        assert_eq!(b, &[0x00, 0xE3, 0x01, 0x07, 0xE3 ^ 0x01 ^ 0x07]);
        assert_eq!(*wtx, 7, "the wait after S(WTX response) is BWT × 7");
    }
    // Only the wait right after the WTX response is extended.
    let extended = s.wire.sent.iter().filter(|(_, w)| *w != 1).count();
    assert_eq!(extended, 3);
    assert_eq!(s.card.stats().s_blocks_from_card, 1 + 3);
}

#[test]
fn endless_wtx_ends_in_too_many_requests() {
    let mut s = faulty(wtx_before(Trigger::Every, 2, 255));
    let mut config = t1_config(&Profile::t1());
    config.max_card_requests = 100;
    s.engine = t1::Engine::new(config).unwrap();
    let e = s.apdu(&[0x00, 0x20, 0x00, 0x80]).unwrap_err();
    assert_eq!(e, t1::Error::TooManyRequests);
}

#[test]
fn wrong_sequence_number_is_recovered() {
    for n in 2..=8u32 {
        let mut s = faulty(faults(|f| f.wrong_sequence = Trigger::Nth(n)));
        let data = pattern(800);
        assert_eq!(
            s.echo(&data),
            echoed(&data),
            "wrong sequence number in block {n}"
        );
        // And the session carries on in step.
        assert_eq!(s.apdu(&[0x00, 0x20, 0x00, 0x80]), Ok(vec![0x63, 0xC3]));
        assert!(s.engine.is_synchronised());
    }
}

#[test]
fn ifs_request_from_the_card_changes_ifsc() {
    let mut s = faulty(ifs_request_before(Trigger::Nth(1), 16));
    let data = pattern(200);
    assert_eq!(s.echo(&data), echoed(&data));
    assert_eq!(s.engine.ifsc(), 16);
    assert_eq!(s.card.t1_ifsc(), 16);
    assert!(
        s.wire
            .sent
            .iter()
            .any(|(b, _)| b == &[0x00, 0xE1, 0x01, 0x10, 0xF0])
    );
    // The next command goes out in 16-byte I-blocks.
    let before = s.wire.sent.len();
    assert_eq!(s.echo(&data), echoed(&data));
    let i_blocks: Vec<&Vec<u8>> = s.wire.sent[before..]
        .iter()
        .map(|(b, _)| b)
        .filter(|b| b[1] & 0x80 == 0)
        .collect();
    assert_eq!(i_blocks.len(), (4 + 3 + 200 + 2usize).div_ceil(16));
    assert!(i_blocks.iter().all(|b| b[2] <= 16));
}

#[test]
fn parity_error_over_t1_gives_r_edc_and_a_resend() {
    // Character 10 is inside the first I-block (after the 5-byte S(IFS request)).
    let mut s = faulty(faults(|f| f.parity_error = Trigger::Nth(10)));
    let data = pattern(50);
    assert_eq!(s.apdu(&echo_short(&data, Some(0))), echoed(&data));
    let st = s.card.stats();
    assert_eq!(st.parity_errors, 1);
    assert_eq!(st.invalid_blocks, 1);
    assert_eq!(s.wire.repetitions, 0, "T=1 has no error signal");
    // The card's R(N(R)=0, EDC error), then the same I-block again.
    assert!(s.wire.received.iter().any(|b| b[..3] == [0x00, 0x81, 0x00]));
    let first_i = &s.wire.sent[1].0;
    assert_eq!(&s.wire.sent[2].0, first_i);
}

#[test]
fn mute_card_is_a_clean_io_timeout() {
    let mut s = faulty(faults(|f| f.mute = Mute::AfterAnswers(1)));
    assert_eq!(s.apdu(&[0x00, 0x20, 0x00, 0x80]), Ok(vec![0x63, 0xC3]));
    let e = s.apdu(&[0x00, 0x20, 0x00, 0x80]).unwrap_err();
    assert_eq!(e, t1::Error::Timeout);
    assert_eq!(Status::from(e), Status::IoTimeout);
    assert!(
        s.wire.timeouts > 1 && s.wire.timeouts < 50,
        "{}",
        s.wire.timeouts
    );
    // Mute in the middle of a chained response.
    let mut s = faulty(faults(|f| f.mute = Mute::AfterAnswers(0)));
    let e = s.apdu(&echo_extended(&pattern(1000), 0)).unwrap_err();
    assert_eq!(Status::from(e), Status::IoTimeout);
}

#[test]
fn resynch_after_a_failed_exchange() {
    let mut s = faulty(faults(|f| f.corrupt_edc = Trigger::Every));
    assert!(s.apdu(&[0x00, 0x20, 0x00, 0x80]).is_err());
    s.card.set_faults(Faults::default());
    let data = pattern(300);
    assert_eq!(s.echo(&data), echoed(&data));
    assert!(s.engine.is_synchronised());
    // S(RESYNCH request) went out first.
    let i = s
        .wire
        .sent
        .iter()
        .rposition(|(b, _)| b[..3] == [0x00, 0xC0, 0x00])
        .expect("resynch");
    assert!(s.wire.received.iter().any(|b| b[..3] == [0x00, 0xE0, 0x00]));
    assert!(i > 0);
}

#[test]
fn buffer_too_small_keeps_the_engine_in_step() {
    let mut s = session();
    let data = pattern(300);
    let apdu = echo_extended(&data, 0);
    let mut small = [0u8; 100];
    let e = t1_run(&mut s.engine, &mut s.card, &apdu, &mut small, &mut s.wire).unwrap_err();
    assert_eq!(e, t1::Error::BufferTooSmall { needed: 302 });
    assert!(s.engine.is_synchronised());
    assert_eq!(s.apdu(&apdu), echoed(&data));
}

#[test]
fn t0_t1_card_speaks_t1_after_pps() {
    let mut card = card(Profile::t0_t1());
    // PPS: T=1, Fi/Di 9/6 as in TA1.
    let pps = [0xFF, 0x11, 0x96, 0xFF ^ 0x11 ^ 0x96];
    card.write(&pps).unwrap();
    let mut echo = [0u8; 4];
    assert_eq!(card.read(&mut echo), 4);
    assert_eq!(echo, pps);
    let mut engine = t1::Engine::new(t1_config(&Profile::t0_t1())).unwrap();
    let data = pattern(500);
    let mut response = vec![0u8; 600];
    let mut wire = Wire::default();
    let n = t1_run(
        &mut engine,
        &mut card,
        &echo_extended(&data, 0),
        &mut response,
        &mut wire,
    )
    .unwrap();
    assert_eq!(response[..n], with_sw(&data, 0x9000)[..]);
    assert_eq!(card.session().protocol, 1);
}
