//! `SCARD_ATTR_CURRENT_IFSC` / `CURRENT_IFSD` through the real pcscd (Debian's),
//! which hands `SCardGetAttrib` to the IFD handler's `IFDHGetCapabilities`, on a
//! `sim:t1` reader; the client is the `pcsc` crate.
//!
//! ISO/IEC 7816-3:2006 11.4.2 / 11.6.2.3: the card may change its IFSC at any time
//! with an S(IFS request); the new size is in force until the next reset or the
//! next S(IFS request). The simulated card sends one before an answer when the
//! `sim:` fault switch (vendor control 3500, `[3, n]`) asks it to.

use std::time::{Duration, Instant};

use pcsc::{Attribute, Card, Context, Protocols, Scope, ctl_code};
use readerkit_host_readers::sim::FN_SIM_FAULT;
use readerkit_testkit::apdu::{SELECT_MF, echo};
use readerkit_testkit::pcsc::{connect, disconnect, reset, step, tx, wait_cards};
use readerkit_testkit::pcscd::{Pcscd, require_pcscd};

const T1: &str = "RK IFSC 00 00";

/// The `sim:` fault switch.
const SIM_FAULT: u64 = ctl_code(FN_SIM_FAULT as u64);

/// A DWORD attribute of the card's reader (host byte order, as pcsc-lite reads it).
fn dword(card: &Card, attribute: Attribute) -> u32 {
    let mut buf = [0u8; 8];
    let value = card
        .get_attribute(attribute, &mut buf)
        .unwrap_or_else(|e| panic!("SCardGetAttrib {attribute:?}: {e}"));
    u32::from_ne_bytes(value.try_into().expect("a DWORD"))
}

fn sizes(card: &Card) -> (u32, u32) {
    (
        dword(card, Attribute::CurrentIfsc),
        dword(card, Attribute::CurrentIfsd),
    )
}

#[test]
fn the_cards_s_ifs_request_is_the_current_ifsc_through_pcscd() {
    let started = Instant::now();
    require_pcscd();
    let mut pcscd = Pcscd::start_readerkit(&[("RK IFSC", "sim:t1")]);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    wait_cards(&ctx, &[T1], Duration::from_secs(10));
    step("pcscd up", started);

    let mut card = connect(&ctx, T1, Protocols::T1);
    // The ATR's TA3 = FE: IFSC 254; the reader announces an IFSD of 254 and the
    // card acknowledges it with the first command.
    assert_eq!(sizes(&card), (254, 254));
    assert_eq!(tx(&card, &SELECT_MF).unwrap(), [0x90, 0x00]);
    assert_eq!(sizes(&card), (254, 254));

    // The card asks for an IFSC of 16 before its next answer.
    card.control(SIM_FAULT, &[3, 16], &mut []).unwrap();
    let data: Vec<u8> = (0..200u8).collect();
    let response = tx(&card, &echo(&data)).unwrap();
    assert_eq!(response[..200], data[..]);
    assert_eq!(response[200..], [0x90, 0x00]);
    assert_eq!(sizes(&card), (16, 254), "the IFSC the card asked for");
    // In force until the next reset: the next command goes out in 16-byte pieces
    // (the card takes nothing longer) and the attribute stays.
    let response = tx(&card, &echo(&data)).unwrap();
    assert_eq!(response[..200], data[..]);
    assert_eq!(sizes(&card), (16, 254));
    step("S(IFS request) of the card: CURRENT_IFSC 16", started);

    // A reset: the ATR's IFSC again (the switch is still armed: cleared below,
    // before the next command).
    reset(&mut card, Protocols::T1);
    assert_eq!(sizes(&card), (254, 254), "after a reset");
    card.control(SIM_FAULT, &[0], &mut []).unwrap();
    assert_eq!(tx(&card, &SELECT_MF).unwrap(), [0x90, 0x00]);
    assert_eq!(sizes(&card), (254, 254));
    step("reset: the ATR's IFSC", started);

    // A size the card may not ask for is refused by the switch.
    for bad in [[3, 0], [3, 255]] {
        assert!(
            card.control(SIM_FAULT, &bad, &mut []).is_err(),
            "{bad:?} accepted"
        );
    }
    disconnect(card);
    drop(ctx);
    pcscd.stop_and_check_log();
    step("pcscd stopped (SIGINT), log clean", started);
}
