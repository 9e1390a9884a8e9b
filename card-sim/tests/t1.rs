//! The card side of T=1, driven with hand-written blocks.

mod common;

use common::*;
use readerkit_card_sim::app::ef_0101_initial;
use readerkit_card_sim::card::IFSD_DEFAULT;
use readerkit_card_sim::fault::{Mute, Trigger};
use readerkit_card_sim::{Card, Config, Faults, Profile};

const L: TestEdc = TestEdc::Lrc;

fn t1_card() -> Card {
    powered(Profile::t1())
}

fn t1_card_with(faults: Faults) -> Card {
    powered_with(Profile::t1(), faults)
}

fn ok(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.extend([0x90, 0x00]);
    v
}

#[test]
fn i_block_exchange_exact_bytes() {
    let mut card = t1_card();
    // I(0) SELECT 0101, P2 = 0C.
    let r = xfer(&mut card, &hex("00 00 07 00 A4 00 0C 02 01 01 AD"));
    // LRC of 00 00 07 00 A4 00 0C 02 01 01 = AD; the answer is I(0) 90 00, LRC 92.
    assert_eq!(r, hex("00 00 02 90 00 92"));
    // I(1) READ BINARY 4 bytes from 0.
    let b = T1Reader {
        edc: L,
        ns: 1,
        ifsc: 254,
    }
    .send_i(&mut card, &hex("00 B0 00 00 04"), false);
    assert_eq!(b.pcb, 0x40, "card's second I-block has N(S) = 1");
    assert_eq!(b.inf, ok(&[0, 1, 2, 3].map(ef_0101_initial)));
    assert_eq!(card.stats().i_blocks_from_card, 2);
}

#[test]
fn crc_profile() {
    let mut card = powered(Profile::t1_crc());
    let mut reader = T1Reader::new(TestEdc::Crc);
    let (r, _) = reader.transceive(&mut card, &hex("00 84 00 00 08"));
    assert_eq!(r.len(), 10);
    // An LRC-coded block is an EDC error for a CRC card.
    let r = xfer(&mut card, &block(L, 0, 0x40, &hex("00 84 00 00 08")));
    // (3 + 5 + 1 bytes: the card waits for one more byte, then sees a bad CRC.)
    assert_eq!(r, b"");
    let r = xfer(&mut card, &[0x00]);
    assert_eq!(parse(TestEdc::Crc, &r).pcb, 0x91, "R(N(R)=1, EDC error)");
}

#[test]
fn card_chains_its_answer_with_default_ifsd() {
    let mut card = t1_card();
    assert_eq!(card.t1_ifsd(), IFSD_DEFAULT);
    let mut reader = T1Reader::new(L);
    t1_select_0101(&mut reader, &mut card);
    let (r, blocks) = reader.transceive(&mut card, &hex("00 B0 00 00 64"));
    let expected: Vec<u8> = (0..100).map(ef_0101_initial).collect();
    assert_eq!(r, ok(&expected));
    assert_eq!(blocks, 4, "102 bytes = 32 + 32 + 32 + 6");
}

/// A T=1 card with EF 0101 selected, and the reader that selected it.
fn t1_card_on_ef_0101() -> (Card, T1Reader) {
    let mut card = t1_card();
    let mut reader = T1Reader::new(L);
    t1_select_0101(&mut reader, &mut card);
    (card, reader)
}

fn t1_select_0101<const N: usize>(reader: &mut T1Reader, card: &mut Card<N>) {
    let (r, _) = reader.transceive(card, &hex("00 A4 00 0C 02 01 01"));
    assert_eq!(r, [0x90, 0x00]);
}

#[test]
fn chain_blocks_and_acks_exact() {
    let (mut card, mut reader) = t1_card_on_ef_0101();
    // I(1) READ BINARY 40 bytes.
    let b = reader.send_i(&mut card, &hex("00 B0 00 00 28"), false);
    assert_eq!((b.pcb, b.inf.len()), (0x60, 32), "I(1, M) with 32 bytes");
    // R(0) acknowledges N(S)=1 and asks for the next: I(0) with the rest.
    let b = reader.exchange(&mut card, &block(L, 0, 0x80, &[]));
    assert_eq!((b.pcb, b.inf.len()), (0x00, 8 + 2));
    assert_eq!(&b.inf[8..], &[0x90, 0x00]);
}

#[test]
fn ifs_request_from_reader_changes_ifsd() {
    let mut card = t1_card();
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0, 0xC1, &[0xFE]));
    assert_eq!((b.pcb, b.inf), (0xE1, vec![0xFE]));
    assert_eq!(card.t1_ifsd(), 254);
    let mut reader = T1Reader::new(L);
    t1_select_0101(&mut reader, &mut card);
    let (r, blocks) = reader.transceive(&mut card, &hex("00 B0 00 00 C8"));
    assert_eq!(r.len(), 202);
    assert_eq!(blocks, 1);
    // IFS 0 and 255 are invalid.
    let b = reader.exchange(&mut card, &block(L, 0, 0xC1, &[0x00]));
    assert_eq!(b.pcb & 0xEF, 0x82);
    let b = reader.exchange(&mut card, &block(L, 0, 0xC1, &[0xFF]));
    assert_eq!(b.pcb & 0xEF, 0x82);
    assert_eq!(card.t1_ifsd(), 254);
}

#[test]
fn reader_chains_its_command() {
    let mut card = t1_card();
    let mut reader = T1Reader::new(L);
    reader.ifsc = 50;
    let data = pattern(600);
    let apdu = echo_extended(&data, 0);
    let (r, blocks) = reader.transceive(&mut card, &apdu);
    assert_eq!(r, ok(&data));
    // 609 / 50 = 13 blocks out (12 acks), 602 / 32 = 19 blocks back.
    assert_eq!(blocks, 12 + 19);
    assert_eq!(card.log().last().unwrap().nc, 600);
}

#[test]
fn echo_4k_both_ways_and_beyond() {
    let mut card = t1_card();
    let mut reader = T1Reader::new(L);
    reader.exchange(&mut card, &block(L, 0, 0xC1, &[0xFE]));
    let data = pattern(4096);
    let (r, _) = reader.transceive(&mut card, &echo_extended(&data, 0));
    assert_eq!(r, ok(&data));

    let mut big = Box::new(Card::<20000>::create(Config::new(Profile::t1())));
    big.power_on();
    read_all(&mut big);
    let mut reader = T1Reader::new(L);
    let data = pattern(16_000);
    let (r, _) = reader.transceive(&mut *big, &echo_extended(&data, 0));
    assert_eq!(r, ok(&data));
    // The default card refuses that much: 67 00.
    let mut card = t1_card();
    let (r, _) = T1Reader::new(L).transceive(&mut card, &echo_extended(&data, 0));
    assert_eq!(r, [0x67, 0x00]);
}

#[test]
fn block_longer_than_ifsc_is_invalid() {
    let mut p = Profile::t1();
    p.t1.ifsc = 16;
    let mut card = powered(p);
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0, 0x00, &pattern(17)));
    assert_eq!(b.pcb, 0x82, "R(0, other error)");
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0, 0x00, &hex("00 84 00 00 04")));
    assert_eq!(b.pcb, 0x00);
}

#[test]
fn edc_error_gets_r_block_then_retry_works() {
    let mut card = t1_card();
    let mut bad = block(L, 0, 0x00, &hex("00 84 00 00 04"));
    *bad.last_mut().unwrap() ^= 0xFF;
    let b = T1Reader::new(L).exchange(&mut card, &bad);
    assert_eq!((b.pcb, b.inf.len()), (0x81, 0), "R(N(R)=0, EDC error)");
    assert_eq!(card.stats().invalid_blocks, 1);
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0, 0x00, &hex("00 84 00 00 04")));
    assert_eq!((b.pcb, b.inf.len()), (0x00, 6));
}

#[test]
fn r_block_asks_for_retransmission() {
    let mut card = t1_card();
    let mut reader = T1Reader::new(L);
    let first = reader.send_i(&mut card, &hex("00 84 00 00 04"), false);
    // R(0): "I still expect your N(S) = 0" => the same I-block again.
    let again = reader.exchange(&mut card, &block(L, 0, 0x80, &[]));
    assert_eq!(again, first);
    assert_eq!(card.stats().retransmissions, 1);
    // In a chain, R with N(R) = N(S) of the last block also repeats it.
    t1_select_0101(&mut reader, &mut card);
    let b1 = reader.send_i(&mut card, &hex("00 B0 00 00 40"), false);
    assert_eq!(b1.pcb & 0x20, 0x20);
    let ns = (b1.pcb >> 6) & 1;
    let b1_again = reader.exchange(&mut card, &block(L, 0, 0x80 | (ns << 4) | 0x01, &[]));
    assert_eq!(b1_again, b1);
    let b2 = reader.exchange(&mut card, &block(L, 0, 0x80 | ((ns ^ 1) << 4), &[]));
    assert_ne!(b2.inf, b1.inf);
    assert_eq!((b2.pcb >> 6) & 1, ns ^ 1);
}

#[test]
fn wrong_n_s_from_reader_is_other_error() {
    let mut card = t1_card();
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0, 0x40, &hex("00 84 00 00 04")));
    assert_eq!(b.pcb, 0x82, "R(N(R)=0, other error)");
}

#[test]
fn resynch_resets_sequence_numbers_and_ifs() {
    let mut card = t1_card();
    let mut reader = T1Reader::new(L);
    reader.exchange(&mut card, &block(L, 0, 0xC1, &[0x80]));
    reader.send_i(&mut card, &hex("00 84 00 00 04"), false);
    assert_eq!(card.t1_ifsd(), 0x80);
    let b = reader.exchange(&mut card, &block(L, 0, 0xC0, &[]));
    assert_eq!((b.pcb, b.inf.len()), (0xE0, 0));
    assert_eq!(card.t1_ifsd(), IFSD_DEFAULT);
    // After RESYNCH both sides start again at N(S) = 0: an I(0) is accepted...
    let b = T1Reader::new(L).send_i(&mut card, &hex("00 84 00 00 04"), false);
    assert_eq!(b.pcb, 0x00, "card's N(S) restarted at 0");
}

#[test]
fn abort_drops_the_chain() {
    let (mut card, mut reader) = t1_card_on_ef_0101();
    let b = reader.send_i(&mut card, &hex("00 B0 00 00 80"), false);
    assert_eq!(b.pcb & 0x20, 0x20, "chaining");
    let b = reader.exchange(&mut card, &block(L, 0, 0xC2, &[]));
    assert_eq!(b.pcb, 0xE2);
    // The next command works; the dropped chain does not come back.
    let (r, _) = reader.transceive(&mut card, &hex("00 84 00 00 02"));
    assert_eq!(r.len(), 4);
}

#[test]
fn line_idle_in_a_block_gets_r_block() {
    let mut card = t1_card();
    assert_eq!(xfer(&mut card, &hex("00 00 05 00 84")), b"");
    card.line_idle();
    let b = parse(L, &read_all(&mut card));
    assert_eq!(b.pcb, 0x82);
    card.line_idle();
    assert_eq!(read_all(&mut card), b"", "nothing partial any more");
}

#[test]
fn nad_is_answered_with_sad_and_dad_swapped() {
    let mut card = t1_card();
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0x12, 0x00, &hex("00 84 00 00 01")));
    assert_eq!(b.nad, 0x21);
}

// ---------------------------------------------------------------- faults

#[test]
fn corrupt_edc_on_nth_block_then_retransmission_is_good() {
    let mut card = t1_card_with(faults(|f| f.corrupt_edc = Trigger::Nth(2)));
    let b1 = xfer(&mut card, &block(L, 0, 0x00, &hex("00 84 00 00 04")));
    assert!(edc_ok(L, &b1));
    let b2 = xfer(&mut card, &block(L, 0, 0x40, &hex("00 84 00 00 04")));
    assert!(!edc_ok(L, &b2), "second block sent has a bad EDC");
    assert_eq!(b2[1], 0x40);
    let again = xfer(&mut card, &block(L, 0, 0x90 | 0x01, &[]));
    assert!(edc_ok(L, &again));
    assert_eq!(&again[..b2.len() - 1], &b2[..b2.len() - 1]);
}

#[test]
fn corrupt_edc_with_crc() {
    let faults = faults(|f| f.corrupt_edc = Trigger::Nth(1));
    let mut card = powered_with(Profile::t1_crc(), faults);
    let b = xfer(
        &mut card,
        &block(TestEdc::Crc, 0, 0x00, &hex("00 84 00 00 04")),
    );
    assert!(!edc_ok(TestEdc::Crc, &b));
    let b = xfer(&mut card, &block(TestEdc::Crc, 0, 0x80, &[]));
    assert!(edc_ok(TestEdc::Crc, &b));
}

#[test]
fn drop_byte_on_nth_block() {
    let mut card = t1_card_with(faults(|f| f.drop_byte = Trigger::Nth(1)));
    let short = xfer(&mut card, &block(L, 0, 0x00, &hex("00 84 00 00 04")));
    assert_eq!(short.len(), 3 + 6 + 1 - 1);
    let full = xfer(&mut card, &block(L, 0, 0x80, &[]));
    assert_eq!(full.len(), 10);
    assert_eq!(&full[..9], &short[..]);
    assert!(edc_ok(L, &full));
}

#[test]
fn wrong_sequence_number_on_nth_block() {
    let mut card = t1_card_with(faults(|f| f.wrong_sequence = Trigger::Nth(1)));
    let b = parse(
        L,
        &xfer(&mut card, &block(L, 0, 0x00, &hex("00 84 00 00 04"))),
    );
    assert_eq!(b.pcb, 0x40, "N(S) = 1 instead of 0, EDC valid");
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0, 0x80, &[]));
    assert_eq!(b.pcb, 0x00, "retransmission is right");
    // On an R-block: N(R) flipped.
    let mut card = t1_card_with(faults(|f| f.wrong_sequence = Trigger::Nth(1)));
    let b = T1Reader::new(L).exchange(&mut card, &block(L, 0, 0x20, &hex("00 84")));
    assert_eq!(b.pcb, 0x80, "R(N(R)=0) instead of R(1)");
}

#[test]
fn wtx_requests_before_nth_answer() {
    let mut card = t1_card_with(wtx_before(Trigger::Nth(2), 5, 2));
    let mut reader = T1Reader::new(L);
    let b = reader.send_i(&mut card, &hex("00 84 00 00 01"), false);
    assert_eq!(b.pcb, 0x00, "first answer is direct");
    let b = reader.send_i(&mut card, &hex("00 84 00 00 01"), false);
    assert_eq!((b.pcb, b.inf.clone()), (0xC3, vec![5]));
    // A corrupted WTX response: the card repeats its request.
    let mut bad = block(L, 0, 0xE3, &[5]);
    bad[3] ^= 1;
    let b = reader.exchange(&mut card, &bad);
    assert_eq!(b.pcb, 0xC3);
    let b = reader.exchange(&mut card, &block(L, 0, 0xE3, &[5]));
    assert_eq!(b.pcb, 0xC3, "second request of count = 2");
    let b = reader.exchange(&mut card, &block(L, 0, 0xE3, &[5]));
    assert_eq!((b.pcb, b.inf.len()), (0x40, 3));
}

#[test]
fn ifs_request_from_the_card() {
    let mut card = t1_card_with(ifs_request_before(Trigger::Nth(1), 0x20));
    assert_eq!(card.t1_ifsc(), 254);
    let mut reader = T1Reader::new(L);
    let b = reader.send_i(&mut card, &hex("00 84 00 00 01"), false);
    assert_eq!((b.pcb, b.inf.clone()), (0xC1, vec![0x20]));
    // A wrong value in the response is not accepted: request repeated.
    let b = reader.exchange(&mut card, &block(L, 0, 0xE1, &[0x21]));
    assert_eq!(b.pcb, 0xC1);
    let b = reader.exchange(&mut card, &block(L, 0, 0xE1, &[0x20]));
    assert_eq!((b.pcb, b.inf.len()), (0x00, 3));
    assert_eq!(card.t1_ifsc(), 0x20);
    // Now a block of 33 bytes is too long for the card.
    let b = reader.exchange(&mut card, &block(L, 0, 0x40, &pattern(0x21)));
    assert_eq!(b.pcb, 0x92);
}

/// The card's own sizes stay 1 to 254 bytes whatever its fault or profile says:
/// an S(IFS request) set up for 0 or 255 bytes asks for 1 or 254, a profile's
/// IFSC of 0 or 255 is taken as 1 or 254.
#[test]
fn the_cards_ifs_stays_within_1_to_254() {
    for (asked, sent) in [(0u8, 1u8), (255, 254)] {
        let mut card = t1_card_with(ifs_request_before(Trigger::Nth(1), asked));
        let b = T1Reader::new(L).send_i(&mut card, &hex("00 84 00 00 01"), false);
        assert_eq!((b.pcb, b.inf), (0xC1, vec![sent]), "IFSC {asked}");
        let mut profile = Profile::t1();
        profile.t1.ifsc = asked;
        assert_eq!(powered(profile).t1_ifsc(), sent, "profile IFSC {asked}");
    }
}

#[test]
fn mute_after_n_answers_even_for_r_blocks() {
    let mut card = t1_card_with(faults(|f| f.mute = Mute::AfterAnswers(1)));
    let mut reader = T1Reader::new(L);
    reader.send_i(&mut card, &hex("00 84 00 00 01"), false);
    assert_eq!(
        xfer(&mut card, &block(L, 0, 0x40, &hex("00 84 00 00 01"))),
        b""
    );
    assert_eq!(xfer(&mut card, &block(L, 0, 0x80, &[])), b"");
    assert_eq!(xfer(&mut card, &block(L, 0, 0xC0, &[])), b"");
}

#[test]
fn parity_error_in_t1_makes_the_block_invalid() {
    let mut card = t1_card_with(faults(|f| f.parity_error = Trigger::Nth(4)));
    // No error signal in T=1: write succeeds, the card answers R(EDC/parity error).
    let r = xfer(&mut card, &block(L, 0, 0x00, &hex("00 84 00 00 01")));
    assert_eq!(parse(L, &r).pcb, 0x81);
    assert_eq!(card.stats().parity_errors, 1);
    let b = T1Reader::new(L).send_i(&mut card, &hex("00 84 00 00 01"), false);
    assert_eq!(b.pcb, 0x00);
}

#[test]
fn every_trigger_keeps_corrupting() {
    let mut card = t1_card_with(faults(|f| f.corrupt_edc = Trigger::Every));
    for _ in 0..3 {
        let r = xfer(&mut card, &block(L, 0, 0x80, &[]));
        assert!(!edc_ok(L, &r));
    }
}

#[test]
fn stats_count_blocks() {
    let mut card = t1_card();
    card.reset_stats();
    let mut reader = T1Reader::new(L);
    t1_select_0101(&mut reader, &mut card);
    reader.transceive(&mut card, &hex("00 B0 00 00 40"));
    let s = *card.stats();
    // Card: 1 + 3 blocks (66 = 32 + 32 + 2); reader: 1 + 1 + 2 R-blocks.
    assert_eq!(s.blocks_from_card, 4);
    assert_eq!(s.i_blocks_from_card, 4);
    assert_eq!(s.blocks_to_card, 4);
    assert_eq!(s.response_data_bytes, 64);
    assert_eq!(s.command_data_bytes, 2);
    assert_eq!(s.bytes_from_card, 4 * 4 + 2 + 64 + 2);
    let ins: Vec<u8> = card.log().iter().map(|r| r.ins).collect();
    assert_eq!(ins, [0xA4, 0xB0]);
}

#[test]
fn last_executed_is_the_whole_chain_and_resynch_drops_it() {
    let mut reader = T1Reader::new(L);
    let mut card = t1_card();
    assert_eq!(card.last_executed(), None);
    let echo = [0x80, 0xEE, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03, 0x00];
    let (response, _) = reader.transceive(&mut card, &echo);
    assert_eq!(response, [0x01, 0x02, 0x03, 0x90, 0x00]);
    let executed = card.last_executed().unwrap();
    assert_eq!(executed.command, echo);
    assert_eq!(executed.data, [0x01, 0x02, 0x03]);
    assert_eq!(executed.sw, 0x9000);
    // S(RESYNCH request) drops the command and its answer.
    xfer(&mut card, &block(L, 0x00, 0xC0, &[]));
    assert_eq!(card.last_executed(), None);
}

/// A command too short to parse is answered 67 00 and logged with the header bytes
/// it had; those it lacked are logged as 0, not taken from the command before it.
#[test]
fn a_short_command_is_logged_with_its_own_header_bytes_only() {
    let mut reader = T1Reader::new(L);
    let mut card = t1_card();
    reader.transceive(&mut card, &[0x00, 0xB0, 0x12, 0x34, 0x01]);
    let first = card.log().last().unwrap();
    assert_eq!((first.p1, first.p2), (0x12, 0x34), "a whole command");
    let (response, _) = reader.transceive(&mut card, &[0x80, 0xCA]);
    assert_eq!(response, [0x67, 0x00]);
    let last = card.log().last().unwrap();
    assert_eq!((last.cla, last.ins, last.p1, last.p2), (0x80, 0xCA, 0, 0));
    assert_eq!(last.sw, 0x6700);
}
