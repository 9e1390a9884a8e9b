//! The core's T=0 engine (`readerkit::t0::Exchange`) driven against the simulated
//! card byte by byte through a small test reader (`common/engine.rs`).
//!
//! Covers the command cases 1, 2S, 3S, 4S, 2E/3E/4E (mapped to short TPDUs, carried
//! in chained ENVELOPE commands when enabled, refused with `NotSupported` when not),
//! every application command (SELECT with and without FCI, READ BINARY, UPDATE
//! BINARY, GET CHALLENGE, VERIFY with its retry counter, ECHO short and extended,
//! 6D00, 6E00, 6700), and every T=0 fault of the card: parity errors with repetition,
//! 61xx split in many parts, 6Cxx, NULL bytes (and too many of them), WTX as NULL
//! bytes, the INS ⊕ FF one-byte procedure, a mute card. Responses are compared byte
//! for byte with data computed independently, and the card's counters are checked.

#[path = "common/engine.rs"]
mod harness;

use harness::*;
use readerkit::Status;
use readerkit::t0::{self, Extended};
use readerkit_card_sim::app::EF_DIR;
use readerkit_card_sim::fault::{Mute, T0Procedure, Trigger};
use readerkit_card_sim::{Card, Faults, Profile};
use readerkit_testkit::apdu::SELECT_MF_FCI;

fn t0_card() -> Card {
    card(Profile::t0())
}

fn t0_faulty(faults: Faults) -> Card {
    powered(Profile::t0(), faults)
}

fn envelope_config() -> t0::Config {
    let mut c = t0::Config::new(1_000_000);
    c.extended = Extended::Envelope;
    c
}

fn run(card: &mut Card, apdu: &[u8], config: t0::Config) -> (Result<Vec<u8>, t0::Error>, Wire) {
    let mut wire = Wire::default();
    let r = t0_run(card, apdu, config, 65_538, 1, &mut wire);
    (r, wire)
}

/// ECHO `data` (short, Le 00) with the default configuration.
fn run_echo(card: &mut Card, data: &[u8]) -> (Result<Vec<u8>, t0::Error>, Wire) {
    run(card, &echo_short(data, Some(0)), t0::Config::new(1000))
}

/// ECHO `data` as [`run_echo`] does, into a response buffer of `response_len` bytes,
/// the card's bytes read `chunk` at a time.
fn echo_into(
    card: &mut Card,
    data: &[u8],
    response_len: usize,
    chunk: usize,
) -> Result<Vec<u8>, t0::Error> {
    let apdu = echo_short(data, Some(0));
    let config = t0::Config::new(1000);
    t0_run(
        card,
        &apdu,
        config,
        response_len,
        chunk,
        &mut Wire::default(),
    )
}

// ------------------------------------------------------------------ command cases

#[test]
fn case1_verify_query_reports_retry_counter() {
    let mut card = t0_card();
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0x20, 0x00, 0x80]),
        Ok(vec![0x63, 0xC3])
    );
    assert_eq!(card.stats().commands, 1);
    assert_eq!(card.log().last().unwrap().nc, 0);
}

#[test]
fn case2s_get_challenge_and_read_binary() {
    let mut card = t0_card();
    let r = t0_apdu(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
    assert_eq!(r.len(), 10);
    assert_eq!(&r[8..], [0x90, 0x00]);
    // The challenge is the card's xorshift64* output, deterministic per seed: a
    // fresh card (same seed) driven directly gives the same bytes.
    let mut raw = t0_card();
    raw.write(&[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
    let mut direct = [0u8; 11];
    assert_eq!(raw.read(&mut direct), 11);
    assert_eq!(&r[..8], &direct[1..9]);
    // A second challenge differs.
    let r2 = t0_apdu(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
    assert_ne!(r[..8], r2[..8]);

    // SELECT EF 0101 (P2 = 0C, case 3), then READ BINARY Le = 00 (256 bytes).
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]),
        Ok(vec![0x90, 0x00])
    );
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(0, 256), 0x9000));
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x01, 0x00, 0x10]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(256, 16), 0x9000));
}

#[test]
fn case3s_update_binary_then_read_back() {
    let mut card = t0_card();
    t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap();
    let data = pattern(200);
    let mut apdu = vec![0x00, 0xD6, 0x00, 0x20, 200];
    apdu.extend_from_slice(&data);
    assert_eq!(t0_apdu(&mut card, &apdu), Ok(vec![0x90, 0x00]));
    assert_eq!(
        &card.app().file(0x0101).unwrap()[0x20..0x20 + 200],
        &data[..]
    );
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x18, 0xD0]).unwrap();
    let mut expected = ef_0101(0x18, 8);
    expected.extend_from_slice(&data);
    expected.extend_from_slice(&[0x90, 0x00]);
    assert_eq!(r, expected);
    assert_eq!(card.stats().command_data_bytes, 2 + 200);
}

#[test]
fn case4s_select_fci_and_echo_via_get_response() {
    let mut card = t0_card();
    let r = t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x00, 0x02, 0x2F, 0x00, 0x00]).unwrap();
    assert_eq!(
        r,
        [
            0x6F, 0x0B, 0x82, 0x01, 0x01, 0x83, 0x02, 0x2F, 0x00, 0x80, 0x02, 0x00, 0x20, 0x90,
            0x00
        ]
    );
    assert_eq!(card.stats().get_responses, 1);
    // SELECT of the MF with FCI.
    let r = t0_apdu(&mut card, &SELECT_MF_FCI).unwrap();
    assert_eq!(
        r,
        [
            0x6F, 0x07, 0x82, 0x01, 0x38, 0x83, 0x02, 0x3F, 0x00, 0x90, 0x00
        ]
    );
    // ECHO short, Le = 00 (up to 256) and Le smaller than the data. T=0 does not
    // carry Le, so the card offers all 255 bytes (61 FF); the engine asks for Ne =
    // 100 and, Ne satisfied, hands back the GET RESPONSE's 61 9B (155 bytes left)
    // as ISO/IEC 7816-3 12.2.4 says.
    let data = pattern(255);
    assert_eq!(
        t0_apdu(&mut card, &echo_short(&data, Some(0))),
        echoed(&data)
    );
    assert_eq!(
        t0_apdu(&mut card, &echo_short(&data, Some(100))),
        Ok(with_sw(&data[..100], 0x619B))
    );
    // Case 3 ECHO (no Le): the card's 61xx is handed back unchanged.
    assert_eq!(
        t0_apdu(&mut card, &echo_short(&data[..5], None)),
        Ok(vec![0x61, 0x05])
    );
}

#[test]
fn read_ef_dir_after_select_and_verify_gates_update() {
    let mut card = t0_card();
    t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0x00]).unwrap();
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x20]).unwrap();
    assert_eq!(r, with_sw(&EF_DIR, 0x9000));
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0xD6, 0x00, 0x00, 0x01, 0xAA]),
        Ok(vec![0x69, 0x82])
    );
    // VERIFY: wrong PIN counts down, the right one resets the counter.
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0x20, 0x00, 0x80, 0x01, b'9']),
        Ok(vec![0x63, 0xC2])
    );
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0x20, 0x00, 0x80, 0x01, b'9']),
        Ok(vec![0x63, 0xC1])
    );
    assert_eq!(card.app().pin_tries_left(), 1);
    assert_eq!(
        t0_apdu(&mut card, b"\x00\x20\x00\x80\x041234"),
        Ok(vec![0x90, 0x00])
    );
    assert_eq!(card.app().pin_tries_left(), 3);
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0x20, 0x00, 0x80]),
        Ok(vec![0x90, 0x00])
    );
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0xD6, 0x00, 0x00, 0x01, 0xAA]),
        Ok(vec![0x90, 0x00])
    );
    assert_eq!(card.app().file(0x2F00).unwrap()[0], 0xAA);
}

#[test]
fn verify_blocks_after_three_wrong_pins() {
    let mut card = t0_card();
    for sw in [0x63C2u16, 0x63C1, 0x63C0, 0x6983] {
        let r = t0_apdu(&mut card, &[0x00, 0x20, 0x00, 0x80, 0x02, 0x00, 0x00]);
        assert_eq!(r, Ok(sw.to_be_bytes().to_vec()));
    }
    assert_eq!(
        t0_apdu(&mut card, b"\x00\x20\x00\x80\x041234"),
        Ok(vec![0x69, 0x83])
    );
}

#[test]
fn errors_6d00_6e00_6700() {
    let mut card = t0_card();
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0x12, 0x00, 0x00, 0x00]),
        Ok(vec![0x6D, 0x00])
    );
    assert_eq!(
        t0_apdu(&mut card, &[0xA0, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00]),
        Ok(vec![0x6E, 0x00])
    );
    // SELECT with one byte of data: wrong length.
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x01, 0x3F]),
        Ok(vec![0x67, 0x00])
    );
    // READ BINARY outside the file / without a current EF.
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x04]),
        Ok(vec![0x69, 0x86])
    );
    // INS 6x cannot be carried by T=0 at all.
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0x6A, 0x00, 0x00]),
        Err(t0::Error::InvalidIns(0x6A))
    );
    // 6D00 and 6E00 are answered to the header, before anything executes.
    assert_eq!(card.stats().commands, 2);
}

#[test]
fn sixc_xx_resends_with_the_right_le() {
    let mut card = t0_card();
    t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap();
    // 16 bytes left at offset 01F0 but Le = 32: 6C 10, then the same header, P3 = 10.
    let mut wire = Wire::default();
    let r = t0_run(
        &mut card,
        &[0x00, 0xB0, 0x01, 0xF0, 0x20],
        t0::Config::new(1_000_000),
        64,
        1,
        &mut wire,
    );
    assert_eq!(r, Ok(with_sw(&ef_0101(0x1F0, 16), 0x9000)));
    // header 5 + header 5 again; from the card 6C 10, then ACK + 16 + 90 00.
    assert_eq!(wire.to_card, 10);
    assert_eq!(wire.from_card, 2 + 1 + 16 + 2);
    // GET CHALLENGE is never short: no 6C.
    assert_eq!(card.log().total(), 3);
}

// ------------------------------------------------------------------ extended

#[test]
fn extended_without_envelope_is_not_supported() {
    let mut card = t0_card();
    let apdu = echo_extended(&pattern(300), 0);
    let e = t0_apdu(&mut card, &apdu).unwrap_err();
    assert_eq!(e, t0::Error::ExtendedNotSupported);
    assert_eq!(Status::from(e), Status::NotSupported);
    assert_eq!(card.stats().bytes_to_card, 0, "nothing may reach the card");
}

#[test]
fn case2e_read_binary_maps_to_short_le() {
    let mut card = t0_card();
    t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap();
    // Ne = 512 over T=0: P3 = 00 (256); the card answers 256 bytes and 90 00, which
    // is the whole response (the card decides how much it gives).
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x02, 0x00]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(0, 256), 0x9000));
    // Ne = 16 in extended form.
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x10, 0x00, 0x00, 0x10]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(16, 16), 0x9000));
}

#[test]
fn case4e_small_data_large_ne_collects_every_get_response() {
    let mut card = t0_card();
    // Nc = 200 fits a short TPDU; Ne = 65536.
    let data = pattern(200);
    let r = t0_apdu(&mut card, &echo_extended(&data, 0)).unwrap();
    assert_eq!(r, with_sw(&data, 0x9000));
}

#[test]
fn case3e_and_4e_through_chained_envelopes() {
    let mut card = t0_card();
    t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap();
    // 3E: UPDATE BINARY of 300 bytes.
    let data = pattern(300);
    let mut apdu = vec![0x00, 0xD6, 0x00, 0x10, 0x00, 0x01, 0x2C];
    apdu.extend_from_slice(&data);
    let (r, wire) = run(&mut card, &apdu, envelope_config());
    assert_eq!(r, Ok(vec![0x90, 0x00]));
    assert_eq!(
        &card.app().file(0x0101).unwrap()[0x10..0x10 + 300],
        &data[..]
    );
    // 307 APDU bytes = 255 + 52: two ENVELOPEs (5-byte header + ACK each).
    assert_eq!(wire.to_card, 5 + 255 + 5 + 52);
    assert_eq!(card.log().last().unwrap().nc, 300);

    // 4E: ECHO of 4096 bytes, answered in 16 GET RESPONSEs of 256.
    card.reset_stats();
    let data = pattern(4096);
    let (r, _) = run(&mut card, &echo_extended(&data, 0), envelope_config());
    assert_eq!(r, echoed(&data));
    assert_eq!(card.stats().get_responses, 16);
    assert_eq!(card.stats().command_data_bytes, 4096);
    assert_eq!(card.stats().response_data_bytes, 4096);
}

#[test]
fn envelope_refused_by_a_card_without_envelope() {
    let mut profile = Profile::t0();
    profile.envelope = false;
    let mut card = card(profile);
    let (r, _) = run(
        &mut card,
        &echo_extended(&pattern(300), 0),
        envelope_config(),
    );
    assert_eq!(r, Ok(vec![0x6D, 0x00]));
}

// ------------------------------------------------------------------ faults

#[test]
fn parity_error_is_repeated_and_exchange_completes() {
    // Character 3 of the first header (P1) and, separately, a data character.
    for n in [3, 7] {
        let mut card = t0_faulty(faults(|f| f.parity_error = Trigger::Nth(n)));
        let (r, wire) = run(
            &mut card,
            &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01],
            t0::Config::new(1000),
        );
        assert_eq!(r, Ok(vec![0x90, 0x00]), "parity error on character {n}");
        assert_eq!(wire.repetitions, 1);
        assert_eq!(card.stats().parity_errors, 1);
        assert_eq!(card.stats().bytes_to_card, 8);
        assert_eq!(card.log().last().unwrap().sw, 0x9000);
    }
}

#[test]
fn parity_error_at_every_position_of_a_long_command() {
    // One rejected character per exchange, at positions 5, 10, ..., 100 (header,
    // data, GET RESPONSE header); Trigger::Every would reject every repetition too.
    let mut card = t0_card();
    let data = pattern(100);
    for n in 1..=20u32 {
        card.set_faults(faults(|f| f.parity_error = Trigger::Nth(n * 5)));
        let (r, wire) = run_echo(&mut card, &data);
        assert_eq!(r, echoed(&data), "fault at {}", n * 5);
        assert_eq!(wire.repetitions, 1);
    }
}

#[test]
fn get_response_split_in_many_61xx_parts() {
    let mut card = t0_faulty(faults(|f| f.t0_get_response_max = Some(7)));
    let data = pattern(250);
    let r = t0_apdu(&mut card, &echo_short(&data, Some(0))).unwrap();
    assert_eq!(r, with_sw(&data, 0x9000));
    assert_eq!(card.stats().get_responses, 250u32.div_ceil(7));
    // Extended through ENVELOPE, 1 byte per part.
    card.set_faults(faults(|f| f.t0_get_response_max = Some(1)));
    card.reset_stats();
    let data = pattern(280);
    let mut config = envelope_config();
    config.max_rounds = 300;
    let (r, _) = run(&mut card, &echo_extended(&data, 0), config);
    assert_eq!(r, echoed(&data));
    assert_eq!(card.stats().get_responses, 280);
}

#[test]
fn too_many_61xx_parts_end_in_too_many_rounds() {
    let mut card = t0_faulty(faults(|f| f.t0_get_response_max = Some(1)));
    let mut config = t0::Config::new(1000);
    config.max_rounds = 10;
    let (r, _) = run(&mut card, &echo_short(&pattern(50), Some(0)), config);
    assert_eq!(r, Err(t0::Error::TooManyRounds));
    assert_eq!(card.stats().get_responses, 10);
}

#[test]
fn null_bytes_are_waited_through() {
    let mut card = t0_faulty(faults(|f| f.t0_null_bytes = 9));
    let data = pattern(40);
    let (r, wire) = run_echo(&mut card, &data);
    assert_eq!(r, echoed(&data));
    // Two answers (ECHO header, GET RESPONSE header), 9 NULLs each, + 2 ACKs.
    assert_eq!(card.stats().procedure_bytes, 9 * 2 + 2);
    assert_eq!(wire.from_card, 9 * 2 + 1 + 2 + 1 + 40 + 2);
    assert_eq!(wire.timeouts, 0);
}

#[test]
fn too_many_null_bytes_is_an_io_timeout() {
    let mut card = t0_faulty(faults(|f| f.t0_null_bytes = 50));
    let mut config = t0::Config::new(1000);
    config.max_null_bytes = 20;
    let (r, _) = run(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x08], config);
    let e = r.unwrap_err();
    assert_eq!(e, t0::Error::TooManyNullBytes);
    assert_eq!(Status::from(e), Status::IoTimeout);
}

#[test]
fn wtx_on_t0_is_null_bytes_before_the_selected_answer() {
    let mut card = t0_faulty(wtx_before(Trigger::Nth(2), 1, 30));
    t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap();
    let before = card.stats().procedure_bytes;
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x05]).unwrap();
    assert_eq!(r, with_sw(&ef_0101(0, 5), 0x9000));
    assert_eq!(card.stats().procedure_bytes - before, 30 + 1);
}

#[test]
fn one_byte_procedure_ins_xor_ff_both_directions() {
    let mut card = t0_faulty(faults(|f| f.t0_procedure = T0Procedure::OneByteAtATime));
    let data = pattern(30);
    let (r, wire) = run_echo(&mut card, &data);
    assert_eq!(r, echoed(&data));
    // 30 × (INS^FF) going in, 30 × (INS^FF) coming out of GET RESPONSE.
    assert_eq!(card.stats().procedure_bytes, 60);
    assert_eq!(wire.from_card, 2 + 60 + 30 + 2);
    // And READ BINARY, UPDATE BINARY.
    t0_apdu(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01]).unwrap();
    let apdu = [0x00, 0xD6, 0x00, 0x00, 0x03, 1, 2, 3];
    assert_eq!(t0_apdu(&mut card, &apdu), Ok(vec![0x90, 0x00]));
    let r = t0_apdu(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x04]).unwrap();
    assert_eq!(r, [1, 2, 3, ef_0101(3, 1)[0], 0x90, 0x00]);
}

#[test]
fn reading_in_larger_chunks_gives_the_same_answer() {
    for chunk in [1, 2, 3, 17, 300] {
        let mut card = t0_faulty(faults(|f| {
            f.t0_get_response_max = Some(33);
            f.t0_null_bytes = 2;
        }));
        let data = pattern(255);
        let r = echo_into(&mut card, &data, 300, chunk);
        assert_eq!(r, echoed(&data), "chunk {chunk}");
    }
}

#[test]
fn mute_card_is_a_clean_timeout() {
    let mut card = t0_faulty(faults(|f| f.mute = Mute::AfterAnswers(1)));
    assert_eq!(
        t0_apdu(&mut card, &[0x00, 0x20, 0x00, 0x80]),
        Ok(vec![0x63, 0xC3])
    );
    let (r, wire) = run(
        &mut card,
        &[0x00, 0x84, 0x00, 0x00, 0x08],
        t0::Config::new(1000),
    );
    let e = r.unwrap_err();
    assert_eq!(e, t0::Error::Timeout);
    assert_eq!(Status::from(e), Status::IoTimeout);
    assert_eq!(wire.timeouts, 1);
}

#[test]
fn response_buffer_too_small() {
    let mut card = t0_card();
    let data = pattern(100);
    let r = echo_into(&mut card, &data, 50, 1);
    let e = r.unwrap_err();
    assert_eq!(e, t0::Error::ResponseBufferTooSmall);
    assert_eq!(Status::from(e), Status::BufferTooSmall);
}

#[test]
fn t0_t1_card_speaks_t0_by_default() {
    let mut card = card(Profile::t0_t1());
    let data = pattern(64);
    assert_eq!(
        t0_apdu(&mut card, &echo_short(&data, Some(64))),
        echoed(&data)
    );
    assert_eq!(card.session().protocol, 0);
}
