//! ATR per profile, resets, power, PPS.

mod common;

use common::*;
use readerkit::atr::invert_convention;
use readerkit_card_sim::atr::Convention;
use readerkit_card_sim::card::{Session, State};
use readerkit_card_sim::fault::Mute;
use readerkit_card_sim::{Card, Config, Profile};

fn tck_ok(atr: &[u8]) -> bool {
    lrc(&atr[1..]) == 0
}

#[test]
fn atr_bytes_per_profile() {
    let cases = [
        (Profile::t0(), "3B 1B 95 80 65 52 4B 53 49 4D 73 10 21 40"),
        (
            Profile::t1(),
            "3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF",
        ),
        (
            Profile::t1_crc(),
            "3B 9B 96 81 71 FE 45 01 80 65 52 4B 53 49 4D 73 10 21 40 EE",
        ),
        (
            Profile::t0_t1(),
            "3B 9B 96 80 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EE",
        ),
    ];
    for (profile, expected) in cases {
        let mut card = Card::new(profile.clone());
        assert_eq!(read_all(&mut card), b"", "unpowered card is silent");
        card.power_on();
        let atr = read_all(&mut card);
        assert_eq!(atr, hex(expected));
        assert_eq!(card.state(), State::Negotiable);
        assert_eq!(card.stats().atrs, 1);
        if profile.protocols.offers(1) {
            assert!(tck_ok(&atr), "TCK of {expected}");
        }
    }
}

#[test]
fn t0_atr_has_no_tck_and_counts_historical_bytes() {
    let atr = Profile::t0().atr();
    // T0 = 1B: TA1 only, K = 11 => TS T0 TA1 + 11 bytes, nothing else.
    assert_eq!(atr.len(), 3 + 11);
    assert!(
        !tck_ok(&atr),
        "a TCK would make the XOR zero by construction"
    );
}

#[test]
fn inverse_convention_on_the_wire() {
    let profile = Profile::t1().with_convention(Convention::Inverse);
    let mut card = Card::new(profile.clone());
    card.power_on();
    let wire = read_all(&mut card);
    assert_eq!(wire[0], 0x03, "TS of the inverse convention read in direct");
    let logical: Vec<u8> = wire.iter().map(|&b| invert_convention(b)).collect();
    assert_eq!(logical[0], 0x3F);
    assert_eq!(&logical[1..], &Profile::t1().atr()[1..]);
    assert!(tck_ok(&logical));
    // A T=1 exchange in inverse convention: the reader codes its bytes too.
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x04];
    let request: Vec<u8> = block(TestEdc::Lrc, 0, 0x00, &apdu)
        .iter()
        .map(|&b| invert_convention(b))
        .collect();
    let reply: Vec<u8> = xfer(&mut card, &request)
        .iter()
        .map(|&b| invert_convention(b))
        .collect();
    let b = parse(TestEdc::Lrc, &reply);
    assert_eq!(b.pcb, 0x00);
    assert_eq!(b.inf.len(), 4 + 2);
    assert_eq!(&b.inf[4..], &[0x90, 0x00]);
}

#[test]
fn resets_and_power() {
    let mut card = Card::new(Profile::t0());
    card.warm_reset();
    assert_eq!(
        read_all(&mut card),
        b"",
        "warm reset of an unpowered card does nothing"
    );
    card.power_on();
    let atr = read_all(&mut card);
    // Start a T=0 command, then warm reset in the middle of it.
    card.write(&[0x00, 0xA4, 0x00]).unwrap();
    card.warm_reset();
    assert_eq!(read_all(&mut card), atr);
    // The half header is forgotten: a full header works.
    assert_eq!(
        xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x02]).len(),
        1 + 2 + 2
    );
    card.power_off();
    assert!(!card.is_powered());
    assert_eq!(xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x02]), b"");
    card.cold_reset();
    assert_eq!(read_all(&mut card), atr);
    assert_eq!(card.stats().atrs, 3);
}

#[test]
fn power_off_drops_queued_output() {
    let mut card = Card::new(Profile::t0());
    card.power_on();
    card.power_off();
    assert_eq!(card.pending(), 0);
    assert_eq!(read_all(&mut card), b"");
}

#[test]
fn mute_card_sends_no_atr() {
    let faults = faults(|f| f.mute = Mute::Always);
    let mut card = Card::with_config(Config::new(Profile::t1()).with_faults(faults));
    card.power_on();
    assert_eq!(card.state(), State::Mute);
    assert_eq!(read_all(&mut card), b"");
    assert_eq!(xfer(&mut card, &block(TestEdc::Lrc, 0, 0xC1, &[0xFE])), b"");
}

/// `bytes` with their PCK appended (the XOR of PPSS up to PCK is zero).
fn with_pck(bytes: &[u8]) -> Vec<u8> {
    let mut pps = bytes.to_vec();
    pps.push(lrc(bytes));
    pps
}

/// The session a card is in: `protocol` at Fi index `fi`, Di index `di`.
fn session(protocol: u8, fi: u8, di: u8) -> Session {
    Session { protocol, fi, di }
}

#[test]
fn pps_answers_and_the_session_they_set() {
    use State::{T0, T1};

    // (card, request without PCK, answer without PCK, (protocol, Fi, Di), state)
    let cases = [
        // T=1, PPS1 = 96 (the card's own TA1): echoed.
        (Profile::t1(), "FF 11 96", "FF 11 96", (1, 9, 6), T1),
        // Di = 4 (D = 8) <= 32, same Fi: accepted.
        (Profile::t1(), "FF 11 94", "FF 11 94", (1, 9, 4), T1),
        // Fi/Di the card does not support: answered without PPS1, defaults kept.
        (Profile::t1(), "FF 11 97", "FF 01", (1, 1, 1), T1),
        (Profile::t1(), "FF 11 16", "FF 01", (1, 1, 1), T1),
        (Profile::t1(), "FF 11 9F", "FF 01", (1, 1, 1), T1),
        (Profile::t1(), "FF 11 1A", "FF 01", (1, 1, 1), T1),
        // The default values echoed.
        (Profile::t0(), "FF 10 11", "FF 10 11", (0, 1, 1), T0),
        // PPS2 is dropped from the answer.
        (Profile::t1(), "FF 31 96 01", "FF 11 96", (1, 9, 6), T1),
        // No PPS1: defaults kept.
        (Profile::t1(), "FF 01", "FF 01", (1, 1, 1), T1),
        // A dual card selects T=1.
        (Profile::t0_t1(), "FF 01", "FF 01", (1, 1, 1), T1),
    ];
    for (profile, request, answer, (protocol, fi, di), state) in cases {
        let request = with_pck(&hex(request));
        // Whole, then byte by byte: the card reads the same request either way.
        for whole in [true, false] {
            let mut card = powered(profile.clone());
            let reply = if whole {
                xfer(&mut card, &request)
            } else {
                for b in &request {
                    card.write(&[*b]).unwrap();
                }
                read_all(&mut card)
            };
            assert_eq!(reply, with_pck(&hex(answer)), "{request:02X?}");
            assert_eq!(card.session(), session(protocol, fi, di), "{request:02X?}");
            assert_eq!(card.state(), state, "{request:02X?}");
            assert_eq!(card.stats().pps, 1, "{request:02X?}");
        }
    }
}

#[test]
fn t1_works_after_pps() {
    let mut card = powered(Profile::t1());
    let req = with_pck(&[0xFF, 0x11, 0x96]);
    assert_eq!(xfer(&mut card, &req), req);
    let b = T1Reader::new(TestEdc::Lrc).send_i(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x01], false);
    assert_eq!(b.inf.len(), 3);
}

#[test]
fn bad_pps_gets_silence() {
    let bad = [
        vec![0xFF, 0x11, 0x96, 0x00],  // wrong PCK
        with_pck(&[0xFF, 0x10, 0x96]), // T=0 not offered by a T=1 card
        with_pck(&[0xFF, 0x91, 0x96]), // reserved bit b8 of PPS0
        with_pck(&[0xFF, 0x0E]),       // T=14
    ];
    for req in bad {
        let mut card = powered(Profile::t1());
        assert_eq!(xfer(&mut card, &req), b"", "{req:02X?}");
        assert_eq!(card.state(), State::PpsFailed);
        // Mute until reset.
        assert_eq!(xfer(&mut card, &block(TestEdc::Lrc, 0, 0xC1, &[0xFE])), b"");
        card.warm_reset();
        assert_eq!(read_all(&mut card), Profile::t1().atr().as_slice());
        assert_eq!(card.state(), State::Negotiable);
    }
}

#[test]
fn dual_card_without_pps_defaults_to_t0() {
    let mut card = powered(Profile::t0_t1());
    // No PPS: the first byte is a T=0 header byte.
    let r = xfer(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x02]);
    assert_eq!(card.state(), State::T0);
    assert_eq!((r[0], &r[3..]), (0x84, &[0x90, 0x00][..]));
}

#[test]
fn t1_card_without_pps_speaks_t1_at_defaults() {
    let mut card = powered(Profile::t1());
    let b = T1Reader::new(TestEdc::Lrc).send_i(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x03], false);
    assert_eq!(b.inf.len(), 5);
    assert_eq!(card.session(), session(1, 1, 1));
}
