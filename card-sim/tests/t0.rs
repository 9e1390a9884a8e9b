//! The card side of T=0, driven with hand-written byte sequences.

mod common;

use common::*;
use readerkit_card_sim::app::{EF_0101_LEN, EF_DIR, ef_0101_initial};
use readerkit_card_sim::fault::{Mute, T0Procedure, Trigger};
use readerkit_card_sim::{Card, Config, Faults, ParityError, Profile};

fn t0_card() -> Card {
    powered(Profile::t0())
}

fn t0_card_with(faults: Faults) -> Card {
    powered_with(Profile::t0(), faults)
}

/// One step of a dialogue with the card, both sides as spaced hex.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Raw bytes the reader writes, and all the card answers to them.
    Raw(&'static str, &'static str),
    /// A command APDU sent the way [`t0_apdu`] does, and its response APDU.
    Apdu(&'static str, &'static str),
}

use Step::{Apdu, Raw};

/// Play `steps` on `card` in order; a failure names the case and the step.
fn play<const N: usize>(card: &mut Card<N>, case: &str, steps: &[Step]) {
    for (i, step) in steps.iter().enumerate() {
        let (sent, got, expected) = match *step {
            Raw(bytes, expected) => (bytes, answer(card, bytes), expected),
            Apdu(apdu, expected) => (apdu, t0_answer(card, apdu), expected),
        };
        assert_eq!(got, expected, "{case}, step {i}: {sent}");
    }
}

/// Dialogues with a freshly powered T=0 card, each played by
/// [`dialogues_with_a_fresh_card`].
const DIALOGUES: [(&str, &[Step]); 4] = [
    (
        "SELECT without response: ACK, then 90 00",
        &[Raw("00 A4 00 0C 02", "A4"), Raw("01 01", "90 00")],
    ),
    (
        "GET RESPONSE with a wrong Le gets 6Cxx; a short Le gets that much and 61 with the rest",
        &[
            Raw("00 A4 00 00 02", "A4"),
            Raw("3F 00", "61 09"),
            Raw("00 C0 00 00 20", "6C 09"),
            Raw("00 C0 00 00 04", "C0 6F 07 82 01 61 05"),
            Raw("00 C0 00 00 05", "C0 38 83 02 3F 00 90 00"),
        ],
    ),
    (
        "READ BINARY without a current EF; SELECT of a missing file",
        &[
            Raw("00 B0 00 00 01", "69 86"),
            Apdu("00 A4 00 0C 02 12 34", "6A 82"),
        ],
    ),
    (
        "status errors",
        &[
            Raw("00 12 00 00 00", "6D 00"),
            Raw("00 66 00 00 00", "6D 00"),
            Raw("40 A4 00 00 02", "6E 00"),
            Raw("00 C0 00 00 02", "69 85"),
            Apdu("00 A4 04 00 02 3F 00", "6A 86"),
            Apdu("00 A4 00 00 03 3F 00 00", "67 00"),
            Apdu("00 84 01 00 08", "6A 86"),
            // Command chaining outside ENVELOPE is not understood.
            Raw("10 A4 00 0C 02", "6E 00"),
        ],
    ),
];

#[test]
fn dialogues_with_a_fresh_card() {
    for (case, steps) in DIALOGUES {
        play(&mut t0_card(), case, steps);
    }
}

#[test]
fn select_with_fci_then_get_response() {
    let mut card = t0_card();
    play(
        &mut card,
        "SELECT with FCI",
        &[
            Raw("00 A4 00 00 02", "A4"),
            Raw("2F 00", "61 0D"),
            Raw(
                "00 C0 00 00 0D",
                "C0 6F 0B 82 01 01 83 02 2F 00 80 02 00 20 90 00",
            ),
        ],
    );
    assert_eq!(card.stats().get_responses, 1);
    // Nothing left: GET RESPONSE again is refused.
    assert_eq!(answer(&mut card, "00 C0 00 00 0D"), "69 85");
}

#[test]
fn read_binary_and_6cxx() {
    let mut card = t0_card();
    assert_eq!(t0_answer(&mut card, "00 A4 00 0C 02 01 01"), "90 00");
    let r = xfer(&mut card, &[0x00, 0xB0, 0x00, 0x10, 0x08]);
    let mut expected = vec![0xB0];
    expected.extend((0x10..0x18).map(ef_0101_initial));
    expected.extend([0x90, 0x00]);
    assert_eq!(r, expected);
    // Past the end with Le too large: 6C with what the file has from 0x1FC.
    assert_eq!(answer(&mut card, "00 B0 01 FC 10"), "6C 04");
    let r = xfer(&mut card, &[0x00, 0xB0, 0x01, 0xFC, 0x04]);
    assert_eq!(r.len(), 1 + 4 + 2);
    assert_eq!(&r[1..5], &[508, 509, 510, 511].map(ef_0101_initial));
    // Le = 00 means 256.
    let r = xfer(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x00]);
    assert_eq!(r.len(), 1 + 256 + 2);
    // Offset past the end.
    assert_eq!(answer(&mut card, "00 B0 02 00 01"), "6B 00");
}

#[test]
fn update_then_read_back_and_pin_protected_file() {
    let mut card = t0_card();
    t0_apdu(&mut card, &hex("00 A4 00 0C 02 01 01"));
    assert_eq!(t0_answer(&mut card, "00 D6 00 05 03 AA BB CC"), "90 00");
    assert_eq!(t0_apdu(&mut card, &hex("00 B0 00 04 05")), {
        let mut v = vec![ef_0101_initial(4), 0xAA, 0xBB, 0xCC, ef_0101_initial(8)];
        v.extend([0x90, 0x00]);
        v
    });
    assert_eq!(&card.app().file(0x0101).unwrap()[5..8], &[0xAA, 0xBB, 0xCC]);
    t0_apdu(&mut card, &hex("00 A4 00 0C 02 2F 00"));
    assert_eq!(t0_answer(&mut card, "00 D6 00 00 01 00"), "69 82");
    assert_eq!(t0_answer(&mut card, "00 20 00 80 04 31 32 33 34"), "90 00");
    assert_eq!(t0_answer(&mut card, "00 D6 00 00 01 00"), "90 00");
    assert_eq!(card.app().file(0x2F00).unwrap()[0], 0x00);
    assert_eq!(&card.app().file(0x2F00).unwrap()[1..], &EF_DIR[1..]);
}

#[test]
fn get_challenge_gives_le_bytes() {
    let mut card = t0_card();
    let r = xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x10]);
    assert_eq!(r.len(), 1 + 16 + 2);
    assert_eq!((r[0], &r[17..]), (0x84, &[0x90, 0x00][..]));
    let r2 = xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x10]);
    assert_ne!(r[1..17], r2[1..17], "a fresh challenge each time");
    // Same seed, same sequence.
    let mut other = t0_card();
    assert_eq!(xfer(&mut other, &[0x00, 0x84, 0x00, 0x00, 0x10]), r);
}

#[test]
fn verify_retry_counter_and_block() {
    let mut card = t0_card();
    assert_eq!(t0_answer(&mut card, "00 20 00 80"), "63 C3");
    assert_eq!(t0_answer(&mut card, "00 20 00 80 04 30 30 30 30"), "63 C2");
    assert_eq!(t0_answer(&mut card, "00 20 00 80 04 31 32 33 34"), "90 00");
    assert_eq!(card.app().pin_tries_left(), 3);
    for sw in [[0x63, 0xC2], [0x63, 0xC1], [0x63, 0xC0], [0x69, 0x83]] {
        assert_eq!(t0_apdu(&mut card, &hex("00 20 00 80 02 39 39")), sw);
    }
    assert_eq!(t0_answer(&mut card, "00 20 00 80 04 31 32 33 34"), "69 83");
    // Blocked survives a reset; the verified state does not.
    card.cold_reset();
    read_all(&mut card);
    assert_eq!(t0_answer(&mut card, "00 20 00 80"), "69 83");
}

#[test]
fn echo_short() {
    let mut card = t0_card();
    let data = pattern(200);
    let mut header = vec![0x80, 0xEE, 0x00, 0x00, 200];
    assert_eq!(xfer(&mut card, &header), [0xEE]);
    assert_eq!(xfer(&mut card, &data), [0x61, 200]);
    let r = xfer(&mut card, &[0x80, 0xC0, 0x00, 0x00, 200]);
    assert_eq!(r[0], 0xC0);
    assert_eq!(&r[1..201], &data[..]);
    assert_eq!(&r[201..], &[0x90, 0x00]);
    // Via the helper, with Le.
    header.extend_from_slice(&data);
    header.push(0x00);
    let mut expected = data.clone();
    expected.extend([0x90, 0x00]);
    assert_eq!(t0_apdu(&mut card, &header), expected);
    assert_eq!(card.log().last().unwrap().nc, 200);
}

/// The reader's side of the ENVELOPE mechanism, as a byte script: every piece but
/// the last with the chaining bit, or (`empty_end`) every piece chained and an empty
/// unchained ENVELOPE to end.
fn envelope_echo<const N: usize>(card: &mut Card<N>, data: &[u8], empty_end: bool) -> Vec<u8> {
    let apdu = echo_extended(data, 0);
    let pieces: Vec<&[u8]> = apdu.chunks(255).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len() && !empty_end;
        let cla = if last { 0x00 } else { 0x10 };
        assert_eq!(
            xfer(card, &[cla, 0xC2, 0x00, 0x00, piece.len() as u8]),
            [0xC2]
        );
        let answer = xfer(card, piece);
        if last {
            return get_responses(card, answer);
        }
        assert_eq!(answer, [0x90, 0x00], "piece {i}");
    }
    let answer = xfer(card, &[0x00, 0xC2, 0x00, 0x00, 0x00]);
    get_responses(card, answer)
}

fn get_responses<const N: usize>(card: &mut Card<N>, mut sw: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    while sw[0] == 0x61 {
        let le = sw[1];
        let r = xfer(card, &[0x00, 0xC0, 0x00, 0x00, le]);
        let n = if le == 0 { 256 } else { le as usize };
        assert_eq!(r[0], 0xC0);
        assert_eq!(r.len(), 1 + n + 2);
        out.extend_from_slice(&r[1..1 + n]);
        sw = r[1 + n..].to_vec();
    }
    out.extend_from_slice(&sw);
    out
}

#[test]
fn echo_extended_via_chained_envelopes() {
    let mut card = t0_card();
    let data = pattern(1000);
    let r = envelope_echo(&mut card, &data, false);
    assert_eq!(&r[..1000], &data[..]);
    assert_eq!(&r[1000..], &[0x90, 0x00]);
    assert_eq!(card.stats().get_responses, 4, "1000 = 256 * 3 + 232");
    let rec = card.log().last().unwrap();
    assert_eq!((rec.ins, rec.nc, rec.ne), (0xEE, 1000, Some(65536)));
}

#[test]
fn echo_4k_via_envelopes_ended_by_empty_envelope() {
    let mut card = t0_card();
    let data = pattern(4096);
    let r = envelope_echo(&mut card, &data, true);
    assert_eq!(r.len(), 4098);
    assert_eq!(&r[..4096], &data[..]);
}

#[test]
fn echo_beyond_4k_with_a_bigger_card() {
    let mut card = Box::new(Card::<16384>::create(Config::new(Profile::t0())));
    card.power_on();
    read_all(&mut card);
    let data = pattern(10_000);
    let r = envelope_echo(&mut *card, &data, false);
    assert_eq!(&r[..10_000], &data[..]);
    assert_eq!(&r[10_000..], &[0x90, 0x00]);
}

#[test]
fn envelope_too_long_for_the_buffer_is_wrong_length() {
    let mut card = t0_card();
    let data = pattern(readerkit_card_sim::DEFAULT_CAPACITY); // + 9 header bytes: too long
    let r = envelope_echo(&mut card, &data, false);
    assert_eq!(r, [0x67, 0x00]);
}

#[test]
fn envelope_disabled_is_unknown_ins() {
    let mut profile = Profile::t0();
    profile.envelope = false;
    let mut card = powered(profile);
    assert_eq!(answer(&mut card, "00 C2 00 00 05"), "6D 00");
}

#[test]
fn any_write_split_gives_the_same_bytes() {
    let script: Vec<u8> =
        hex("00 A4 00 00 02 01 01 00 C0 00 00 0F 00 B0 00 00 20 80 EE 00 00 03 01 02 03");
    let mut whole = t0_card();
    let a = xfer(&mut whole, &script);
    for split in [1, 2, 3, 5, 7] {
        let mut card = t0_card();
        let mut b = Vec::new();
        for chunk in script.chunks(split) {
            b.extend(xfer(&mut card, chunk));
        }
        assert_eq!(a, b, "split {split}");
    }
    assert_eq!(&a[..2], &[0xA4, 0x61]);
}

// ---------------------------------------------------------------- faults

#[test]
fn one_byte_at_a_time_procedure() {
    let mut card = t0_card_with(faults(|f| f.t0_procedure = T0Procedure::OneByteAtATime));
    // Incoming: INS^FF before every byte.
    assert_eq!(answer(&mut card, "00 A4 00 0C 02"), "5B");
    assert_eq!(answer(&mut card, "01"), "5B");
    assert_eq!(answer(&mut card, "01"), "90 00");
    // Outgoing: INS^FF, byte, INS^FF, byte ...
    let r = xfer(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x03]);
    let e: Vec<u8> = (0..3)
        .flat_map(|i| [0x4F, ef_0101_initial(i)])
        .chain([0x90, 0x00])
        .collect();
    assert_eq!(r, e);
    // The helper reader copes.
    assert_eq!(t0_answer(&mut card, "00 20 00 80 04 31 32 33 34"), "90 00");
    assert!(card.stats().procedure_bytes >= 2 + 3 + 4);
}

#[test]
fn null_bytes_before_every_answer() {
    let mut card = t0_card_with(faults(|f| f.t0_null_bytes = 3));
    assert_eq!(answer(&mut card, "00 A4 00 0C 02"), "60 60 60 A4");
    assert_eq!(answer(&mut card, "3F 00"), "90 00");
    assert_eq!(answer(&mut card, "00 12 00 00 00"), "60 60 60 6D 00");
}

#[test]
fn wtx_fault_is_null_bytes_before_the_nth_answer_only() {
    let mut card = t0_card_with(wtx_before(Trigger::Nth(2), 2, 5));
    let a1 = xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]);
    assert_eq!(a1[0], 0x84);
    let a2 = xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]);
    assert_eq!(&a2[..5], &[0x60; 5]);
    assert_eq!(a2[5], 0x84);
    assert_eq!(a2.len(), 5 + 4);
    let a3 = xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]);
    assert_eq!(a3[0], 0x84);
}

#[test]
fn get_response_split_in_many_parts() {
    let mut card = t0_card_with(faults(|f| f.t0_get_response_max = Some(16)));
    let data = pattern(100);
    let mut apdu = vec![0x80, 0xEE, 0x00, 0x00, 100];
    apdu.extend_from_slice(&data);
    assert_eq!(xfer(&mut card, &apdu), [0xEE, 0x61, 16]);
    let mut got = Vec::new();
    let mut parts = 0;
    let mut le = 16u8;
    loop {
        let r = xfer(&mut card, &[0x00, 0xC0, 0x00, 0x00, le]);
        parts += 1;
        let n = le as usize;
        got.extend_from_slice(&r[1..1 + n]);
        match r[1 + n..] {
            [0x61, next] => le = next,
            [0x90, 0x00] => break,
            ref other => panic!("{other:02X?}"),
        }
    }
    assert_eq!(got, data);
    assert_eq!(parts, 7, "100 = 6 * 16 + 4");
    // Asking for more than announced: 6C with the announced size.
    let mut card = t0_card_with(faults(|f| f.t0_get_response_max = Some(16)));
    xfer(&mut card, &apdu);
    assert_eq!(xfer(&mut card, &[0x00, 0xC0, 0x00, 0x00, 100]), [0x6C, 16]);
}

#[test]
fn parity_error_on_nth_character_must_be_repeated() {
    let mut card = t0_card_with(faults(|f| f.parity_error = Trigger::Nth(3)));
    let header = [0x00, 0x84, 0x00, 0x00, 0x04];
    assert_eq!(card.write(&header), Err(ParityError { accepted: 2 }));
    assert_eq!(read_all(&mut card), b"", "header incomplete: no answer yet");
    assert_eq!(card.stats().parity_errors, 1);
    // The reader repeats the rejected character and the rest.
    card.write(&header[2..]).unwrap();
    let r = read_all(&mut card);
    assert_eq!((r[0], r.len()), (0x84, 1 + 4 + 2));
    assert_eq!(&r[5..], &[0x90, 0x00]);
    // Without repetition the card would have seen the header shifted: prove that
    // the rejected byte was really dropped by counting what the card accepted.
    let mut card = t0_card_with(faults(|f| f.parity_error = Trigger::Nth(3)));
    let _ = card.write(&header);
    card.write(&header[3..]).unwrap(); // forgot to repeat byte 2
    assert_eq!(read_all(&mut card), b"", "only 4 header bytes received");
}

#[test]
fn parity_error_on_a_data_byte() {
    let mut card = t0_card_with(faults(|f| f.parity_error = Trigger::Nth(7)));
    assert_eq!(answer(&mut card, "00 A4 00 0C 02"), "A4");
    assert_eq!(card.write(&[0x01, 0x01]), Err(ParityError { accepted: 1 }));
    assert_eq!(answer(&mut card, "01"), "90 00");
    assert_eq!(
        t0_apdu(&mut card, &hex("00 B0 00 00 01")),
        [ef_0101_initial(0), 0x90, 0x00]
    );
}

#[test]
fn mute_after_n_answers() {
    let mut card = t0_card_with(faults(|f| f.mute = Mute::AfterAnswers(2)));
    assert_eq!(xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]).len(), 4);
    assert_eq!(xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]).len(), 4);
    assert_eq!(xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]), b"");
    assert_eq!(xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]), b"");
    // A reset brings it back (the counter restarts).
    card.warm_reset();
    assert!(!read_all(&mut card).is_empty());
    assert_eq!(xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]).len(), 4);
}

#[test]
fn set_faults_restarts_counters() {
    let mut card = t0_card();
    xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01]);
    card.set_faults(faults(|f| f.parity_error = Trigger::Nth(1)));
    assert_eq!(card.write(&[0x00]), Err(ParityError { accepted: 0 }));
    assert_eq!(card.write(&[0x00]), Ok(()));
}

#[test]
fn stats_count_wire_and_payload() {
    let mut card = t0_card();
    card.reset_stats();
    let mut apdu = vec![0x80, 0xEE, 0x00, 0x00, 10];
    apdu.extend(pattern(10));
    t0_apdu(&mut card, &apdu);
    let s = *card.stats();
    // Reader: 5 + 10 + 5 (GET RESPONSE). Card: ACK, 61 0A, C0 + 10 + 90 00.
    assert_eq!(s.bytes_to_card, 20);
    assert_eq!(s.bytes_from_card, 1 + 2 + 1 + 10 + 2);
    assert_eq!(s.payload_bytes(), 20);
    assert_eq!(s.wire_bytes(), 36);
    assert_eq!(s.commands, 1);
    assert_eq!(card.log().total(), 1);
    let _ = EF_0101_LEN;
}

#[test]
fn last_executed_is_the_command_as_received_and_its_whole_answer() {
    let mut card = t0_card();
    assert_eq!(card.last_executed(), None);
    assert_eq!(answer(&mut card, "00 A4 00 00 02"), "A4");
    // Data still being received: nothing executed yet.
    assert_eq!(card.last_executed(), None);
    assert_eq!(answer(&mut card, "2F 00"), "61 0D");
    let fci = hex("6F 0B 82 01 01 83 02 2F 00 80 02 00 20");
    let executed = card.last_executed().unwrap();
    assert_eq!(executed.command, [0x00, 0xA4, 0x00, 0x00, 0x02, 0x2F, 0x00]);
    assert_eq!(executed.data, fci.as_slice());
    assert_eq!(executed.sw, 0x9000);
    // GET RESPONSE serves the answer; it is no command of its own.
    xfer(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x0D]);
    assert_eq!(card.last_executed().unwrap().data, fci.as_slice());
    // A new command header drops it.
    assert_eq!(answer(&mut card, "00 D6 00 00 01"), "D6");
    assert_eq!(card.last_executed(), None);
    // A command that gets data carries P3 as Le.
    xfer(&mut card, &[0x00]);
    xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x04]);
    let executed = card.last_executed().unwrap();
    assert_eq!(executed.command, [0x00, 0x84, 0x00, 0x00, 0x04]);
    assert_eq!(executed.data.len(), 4);
    // A reset forgets it.
    card.warm_reset();
    assert_eq!(card.last_executed(), None);
}
