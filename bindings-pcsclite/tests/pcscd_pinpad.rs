//! Secure PIN entry through the real pcscd (issue 17, 4a): `SCardControl` with
//! PC/SC part 10 `FEATURE_VERIFY_PIN_DIRECT` and `FEATURE_MODIFY_PIN_DIRECT` on
//! readerkit's IFD handler with `sim:` readers, whose PIN pad plays the script the
//! key switch (vendor control 3502) loads. The simulated card's PIN is "1234",
//! 3 tries, ASCII, FF-padded.

use std::time::{Duration, Instant};

use pcsc::{Card, Context, Error, Protocols, Scope, ctl_code};
use readerkit_host_readers::sim::FN_SIM_KEYS;
use readerkit_testkit::pcsc::{connect, disconnect, feature_list, step, wait_cards};
use readerkit_testkit::pcscd::{Pcscd, require_pcscd};
use readerkit_testkit::pin;

/// Traced at the most verbose level (both): their log must still show no PIN.
const T1: &str = "RK PINPAD T1 00 00";
const T0: &str = "RK PINPAD T0 01 00";

/// The `sim:` key switch.
const SIM_KEYS: u64 = ctl_code(FN_SIM_KEYS as u64);

/// Load `keys` into the reader's PIN pad, then send `structure` to `code`.
fn pin_request(card: &Card, keys: &[u8], code: u64, structure: &[u8]) -> Result<Vec<u8>, Error> {
    card.control(SIM_KEYS, keys, &mut [])?;
    let mut buf = [0u8; 258];
    card.control(code, structure, &mut buf).map(<[u8]>::to_vec)
}

/// A PIN request and its expected answer: the keys pressed, the control code, the
/// structure, the status word.
type PinCase<'a> = (&'a [u8], u64, &'a [u8], [u8; 2]);

/// [`pin_request`] for each case in turn: each must be answered with just its
/// status word.
fn pin_requests(card: &Card, requests: &[PinCase<'_>]) {
    for &(keys, code, structure, sw) in requests {
        assert_eq!(
            pin_request(card, keys, code, structure),
            Ok(sw.to_vec()),
            "keys {:?}",
            String::from_utf8_lossy(keys)
        );
    }
}

#[test]
fn verify_and_modify_pin_direct_through_pcscd() {
    let started = Instant::now();
    require_pcscd();
    let mut pcscd = Pcscd::start_readerkit(&[
        ("RK PINPAD T1", "sim:t1:log=trace"),
        ("RK PINPAD T0", "sim:t0:log=trace"),
    ]);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    wait_cards(&ctx, &[T1, T0], Duration::from_secs(10));
    step("pcscd up", started);

    let card = connect(&ctx, T1, Protocols::T1);
    // The feature list: the driver's TLV properties, then the core's PIN features,
    // each with its pcsc-lite control code.
    let list = feature_list(&card);
    assert_eq!(
        list,
        [
            (0x12, ctl_code(3418)),
            (0x06, ctl_code(3406)),
            (0x07, ctl_code(3407)),
            (0x0A, ctl_code(3410))
        ]
    );
    // FEATURE_IFD_PIN_PROPERTIES: no display, the entry ends on the maximum size,
    // the OK key or a time-out, no second time-out (as libccid's answer is laid out).
    let mut pin_properties = [0u8; 8];
    let pin_properties = card
        .control(ctl_code(3410), &[], &mut pin_properties)
        .unwrap();
    assert_eq!(pin_properties, [0, 0, 7, 0]);
    let verify = ctl_code(3406);
    let modify = ctl_code(3407);
    let mut buf = [0u8; 64];
    let props = card
        .control(ctl_code(3418), &[], &mut buf)
        .unwrap()
        .to_vec();
    let tail = [1, 2, 0, 0, 2, 1, 7, 6, 1, 4, 7, 1, 12];
    assert!(
        props.ends_with(&tail),
        "wLcdLayout 0, bEntryValidationCondition 7, bMinPINSize 4, bMaxPINSize 12 in {props:02X?}"
    );
    step("features and TLV properties", started);

    let v = pin::verify_structure();
    let m = pin::modify_structure();
    // Malformed structures: refused by the IFD handler before any key (the keys
    // loaded stay for the next request), pcscd reports SCARD_E_NOT_TRANSACTED.
    card.control(SIM_KEYS, b"1234E", &mut []).unwrap();
    let mut bad_encoding = v.clone();
    bad_encoding[2] = 0x83; // reserved encoding 11b
    let mut bad_limits = v.clone();
    bad_limits[6] = 9; // minimum above maximum
    let mut bad_length = v.clone();
    bad_length[15] = 12; // ulDataLength one short
    let mut no_condition = v.clone();
    no_condition[7] = 0;
    for bad in [
        &v[..10],
        &bad_encoding[..],
        &bad_limits[..],
        &bad_length[..],
        &no_condition[..],
        &m[..],
    ] {
        let mut buf = [0u8; 258];
        assert_eq!(
            card.control(verify, bad, &mut buf),
            Err(Error::NotTransacted),
            "{bad:02X?}"
        );
    }
    assert_eq!(
        card.control(modify, &v, &mut [0u8; 258]),
        Err(Error::NotTransacted),
        "a verify structure sent as a modification"
    );
    assert_eq!(
        card.control(verify, &v, &mut [0u8; 258])
            .map(<[u8]>::to_vec),
        Ok(vec![0x90, 0x00]),
        "the keys loaded before the refusals were all still there"
    );
    // A receive buffer too small for the answer: pcscd hands the IFD handler its
    // own buffer, not the client's length, so the request runs (the core's refusal
    // before any key is tested in core/tests/pinpad.rs) and pcscd reports the
    // short buffer afterwards.
    card.control(SIM_KEYS, b"1234E", &mut []).unwrap();
    assert_eq!(
        card.control(verify, &v, &mut [0u8; 1]),
        Err(Error::InsufficientBuffer),
        "no room for the status word"
    );
    assert_eq!(
        card.control(SIM_KEYS, b"12Z", &mut []),
        Err(Error::NotTransacted),
        "a key script with an unknown key"
    );
    step("malformed structures refused before any key", started);

    // Verify then modify, in turn (the PIN and its tries carry over).
    pin_requests(
        &card,
        &[
            // Right PIN.
            (b"1234E", verify, &v, [0x90, 0x00]),
            // Entry outcomes answer the part 10 status words and spend no try.
            (b"12C", verify, &v, [0x64, 0x01]),
            (b"12", verify, &v, [0x64, 0x00]),
            (b"", verify, &v, [0x64, 0x00]),
            (b"12E", verify, &v, [0x64, 0x03]),
            // Clear and backspace edit the PIN before it goes out.
            (b"99L1235B4E", verify, &v, [0x90, 0x00]),
            // Modification: current PIN, new PIN twice; a mismatch changes nothing.
            (b"1234E5678E5679E", modify, &m, [0x64, 0x02]),
            (b"1234E5678E5678E", modify, &m, [0x90, 0x00]),
            (b"5678E", verify, &v, [0x90, 0x00]),
            (b"1234E5678EC", modify, &m, [0x64, 0x01]),
            // Wrong PINs count the tries down, then the PIN is blocked even for the
            // right one.
            (b"0000E", verify, &v, [0x63, 0xC2]),
            (b"0000E", verify, &v, [0x63, 0xC1]),
            (b"0000E", verify, &v, [0x63, 0xC0]),
            (b"5678E", verify, &v, [0x69, 0x83]),
        ],
    );
    disconnect(card);
    step(
        "verify: right PIN, cancel, time-out, length, editing keys; modify: mismatch, \
         change, cancel; wrong PIN 63Cx, then blocked 6983",
        started,
    );

    // The same through T=0 (VERIFY as a case 3 command in a T=0 envelope).
    let card = connect(&ctx, T0, Protocols::T0);
    pin_requests(
        &card,
        &[
            (b"1111E", verify, &v, [0x63, 0xC2]),
            (b"1234E", verify, &v, [0x90, 0x00]),
        ],
    );
    disconnect(card);
    step("T=0 reader", started);

    pcscd.stop_and_check_log();
    let log = pcscd.log();
    // The trace shows the key switch's script (the host sent it) and the
    // structures (no PIN in them), but never the command built with the PIN.
    // T=0 sends the PIN block as data of its own (after the header's ACK).
    for command in [
        "80 08 31 32 33 34",
        "80 08 35 36 37 38",
        "80 10 31 32 33 34",
        "31 32 33 34 FF FF FF FF",
        "35 36 37 38 FF FF FF FF",
    ] {
        assert!(
            !log.contains(command),
            "a PIN command in pcscd's log ({command}):\n{log}"
        );
    }
    assert!(
        log.contains("-> I(N(S)=0, M=0) 13 bytes"),
        "the traced T=1 reader did log its exchanges:\n{log}"
    );
    assert!(
        log.contains("-> T=0 data 8 bytes"),
        "the traced T=0 reader did log its exchanges:\n{log}"
    );
}
