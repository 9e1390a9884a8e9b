//! Secure PIN entry end to end: Debian's pcscd loads Debian's `libccidtwin.so`
//! for a `GemPCPinPad` reader, which is `readerkit ccid-serve --reader
//! gempcpinpad` (the `readerkit-ccid` binding's PC_to_RDR_Secure over the core's
//! `pin` module, the keys pressed through its stdin) with the simulated card
//! (PIN "1234", 3 tries). The client sends PC/SC part 10 PIN_VERIFY_STRUCTURE /
//! PIN_MODIFY_STRUCTURE with `SCardControl`, as an application would.
//!
//! What libccid does on the way (1.5.2, `commands.c`): it checks `ulDataLength`
//! itself, forces `bEntryValidationCondition` to 02 and (verification)
//! `bNumberMessage` to 01 for this reader, drops `bTimerOut2` and `ulDataLength`,
//! keeps only the `bMsgIndex` fields `bNumberMessage` names (our
//! GET_FIRMWARE_FEATURES answer says `bNumberMessageFix`), fills `bTeoPrologue`
//! for a T=1 card (it runs T=1 itself at the TPDU level) and strips the card's
//! block prologue and EDC from the answer; `bError` F0 / EF become 64 00 / 64 01,
//! any other failure SCARD_E_NOT_TRANSACTED with "error on byte N" in its log.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use pcsc::{Context, Protocols, Scope};
use readerkit_ccid::firmware_features::{MAX_PIN_DIGITS_U8, MIN_PIN_DIGITS};
use readerkit_testkit::frozen::FrozenThread;
use readerkit_testkit::opensc::{Said, require_opensc, verify_on_pin_pad};
use support::{
    Entry, LIBCCIDTWIN, PROPERTY_ENTRY_VALIDATION, PROPERTY_MAX_PIN_SIZE, PROPERTY_MIN_PIN_SIZE,
    Pcscd, Serve, feature_code, property, start_pcscd, tlv_properties, wait_card,
};

const FEATURE_VERIFY_PIN_DIRECT: u8 = 0x06;
const FEATURE_MODIFY_PIN_DIRECT: u8 = 0x07;

/// The simulated card's VERIFY template: `00 20 00 80 08` and 8 bytes of FF.
fn verify_apdu() -> Vec<u8> {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, 0x08];
    apdu.extend_from_slice(&[0xFF; 8]);
    apdu
}

/// A PIN_VERIFY_STRUCTURE: ASCII digits, left justified at byte 0 of an 8-byte
/// block, no length field, 4 to 8 digits, validated by the OK key.
fn verify_structure(timeout_s: u8, format: u8, min_max: [u8; 2]) -> Vec<u8> {
    let apdu = verify_apdu();
    let mut s = vec![
        timeout_s, // bTimerOut
        0,         // bTimerOut2
        format,    // bmFormatString
        0x08,      // bmPINBlockString: no length field, 8-byte block
        0x00,      // bmPINLengthFormat
        min_max[1], min_max[0], // wPINMaxExtraDigit: max, min
        0x02,       // bEntryValidationCondition: OK key
        0x01,       // bNumberMessage
        0x09, 0x04, // wLangId
        0x00, // bMsgIndex
        0, 0, 0, // bTeoPrologue
    ];
    s.extend_from_slice(&(apdu.len() as u32).to_le_bytes());
    s.extend_from_slice(&apdu);
    s
}

/// ASCII, byte 0, left justified.
const ASCII: u8 = 0x82;

/// A PIN_MODIFY_STRUCTURE for CHANGE REFERENCE DATA `00 24 00 80 10`: the
/// current PIN in the first 8 bytes, the new one in the next 8, FF padded;
/// `confirm` is `bConfirmPIN`, `offset_new` `bInsertionOffsetNew`.
fn modify_structure(confirm: u8, offset_new: u8, messages: u8) -> Vec<u8> {
    let mut apdu = vec![0x00, 0x24, 0x00, 0x80, 0x10];
    apdu.extend_from_slice(&[0xFF; 16]);
    let mut s = vec![
        0,     // bTimerOut: the reader's default
        0,     // bTimerOut2
        ASCII, // bmFormatString
        0x08,  // bmPINBlockString
        0x00,  // bmPINLengthFormat
        0, offset_new, // bInsertionOffsetOld, bInsertionOffsetNew
        8, 4,        // wPINMaxExtraDigit
        confirm,  // bConfirmPIN
        0x02,     // bEntryValidationCondition
        messages, // bNumberMessage
        0x09, 0x04, // wLangId
        0, 1, 2, // bMsgIndex1..3
        0, 0, 0, // bTeoPrologue
    ];
    s.extend_from_slice(&(apdu.len() as u32).to_le_bytes());
    s.extend_from_slice(&apdu);
    s
}

/// The control codes of the two PIN features, from the reader's feature list.
fn pin_features(card: &pcsc::Card) -> (u64, u64) {
    (
        feature_code(card, FEATURE_VERIFY_PIN_DIRECT),
        feature_code(card, FEATURE_MODIFY_PIN_DIRECT),
    )
}

/// The PIN properties libccid reports: the core's PIN sizes and the OK key, from
/// our GET_FIRMWARE_FEATURES answer (libccid has no sizes of its own for this
/// reader), which it took without complaint.
fn check_pin_properties(card: &pcsc::Card, pcscd: &Pcscd) {
    let properties = tlv_properties(card);
    let expected = [
        (PROPERTY_ENTRY_VALIDATION, 0x02),
        (PROPERTY_MIN_PIN_SIZE, MIN_PIN_DIGITS),
        (PROPERTY_MAX_PIN_SIZE, MAX_PIN_DIGITS_U8),
    ];
    for (tag, value) in expected {
        assert_eq!(
            property(&properties, tag),
            Some(&[value][..]),
            "property {tag} in {properties:02X?}"
        );
    }
    let log = pcscd.log();
    assert!(
        !log.contains("GET_FIRMWARE_FEATURES failed"),
        "pcscd log:\n{log}"
    );
}

struct Pad<'a> {
    serve: &'a mut Serve,
    card: &'a pcsc::Card,
    verify: u64,
    modify: u64,
}

impl Pad<'_> {
    /// Press `keys`, then send `structure` to `code`.
    fn run(&mut self, code: u64, keys: &str, structure: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
        if !keys.is_empty() {
            self.serve.keys(keys);
        }
        let mut buf = [0u8; 258];
        self.card
            .control(code, structure, &mut buf)
            .map(<[u8]>::to_vec)
    }

    fn verify(&mut self, keys: &str) -> Vec<u8> {
        self.run(self.verify, keys, &verify_structure(0, ASCII, [4, 8]))
            .expect("VERIFY_PIN_DIRECT")
    }

    fn modify(&mut self, keys: &str, confirm: u8) -> Vec<u8> {
        self.run(self.modify, keys, &modify_structure(confirm, 8, 3))
            .expect("MODIFY_PIN_DIRECT")
    }
}

/// Start ccid-serve as a GemPC PinPad with a `card_kind` card (and `more`
/// arguments) and pcscd over it.
fn start(card_kind: &str, more: &[&str]) -> (Serve, Pcscd) {
    let mut args = vec!["--reader", "gempcpinpad", "--card", card_kind];
    args.extend_from_slice(more);
    let serve = Serve::start(&args);
    let pcscd = pcscd_over(&serve);
    (serve, pcscd)
}

/// pcscd with libccid's GemPC PinPad reader on `serve`'s terminal.
fn pcscd_over(serve: &Serve) -> Pcscd {
    let device = format!("{}:GemPCPinPad", serve.path);
    let lib = std::path::PathBuf::from(LIBCCIDTWIN);
    start_pcscd(
        &[Entry {
            name: "RK PinPad",
            device: &device,
            lib: &lib,
        }],
        None,
    )
}

const NAME: &str = "RK PinPad 00 00";

fn connect(ctx: &Context, pcscd: &Pcscd, protocol: Protocols) -> pcsc::Card {
    // libccid sleeps 1 s before loading a PIN pad's prompts: the reader comes late.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let names = ctx.list_readers_owned().unwrap_or_default();
        if names.iter().any(|n| n.to_bytes() == NAME.as_bytes()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reader {NAME}; pcscd log:\n{}",
            pcscd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        wait_card(ctx, NAME, true, Duration::from_secs(10)),
        "card seen; pcscd log:\n{}",
        pcscd.log()
    );
    readerkit_testkit::pcsc::connect(ctx, NAME, protocol)
}

/// The PIN pad reader with a `card_kind` card (and `more` ccid-serve arguments)
/// under pcscd, connected with `protocol`: `test` runs on its pad.
fn with_pad(
    card_kind: &str,
    more: &[&str],
    protocol: Protocols,
    test: impl FnOnce(&mut Pad<'_>, &Pcscd),
) {
    let (mut serve, pcscd) = start(card_kind, more);
    pad_session(&mut serve, &pcscd, protocol, test);
}

/// A client of `pcscd`'s PIN pad reader on `serve`, connected with `protocol`
/// (the PIN properties checked): `test` runs on its pad.
fn pad_session(
    serve: &mut Serve,
    pcscd: &Pcscd,
    protocol: Protocols,
    test: impl FnOnce(&mut Pad<'_>, &Pcscd),
) {
    let ctx = Context::establish(Scope::User).expect("establish context");
    let card = connect(&ctx, pcscd, protocol);
    check_pin_properties(&card, pcscd);
    let (verify, modify) = pin_features(&card);
    let mut pad = Pad {
        serve,
        card: &card,
        verify,
        modify,
    };
    test(&mut pad, pcscd);
}

#[test]
fn pin_pad_with_a_t1_card() {
    with_pad("t1", &[], Protocols::T1, t1_pin_session);
}

fn t1_pin_session(pad: &mut Pad<'_>, pcscd: &Pcscd) {
    let (verify, modify) = (pad.verify, pad.modify);

    // The right PIN, typed with a correction.
    assert_eq!(pad.verify("12B234E"), [0x90, 0x00], "right PIN");
    // Cancel, too short, time-out (bTimerOut 1 s, no key): part 10's words.
    assert_eq!(pad.verify("12C"), [0x64, 0x01], "cancel key");
    assert_eq!(pad.verify("12E"), [0x64, 0x03], "PIN shorter than 4");
    assert_eq!(
        pad.run(verify, "", &verify_structure(1, ASCII, [4, 8]))
            .unwrap(),
        [0x64, 0x00],
        "time-out"
    );

    // Modification with the current PIN and a confirmation; then the new PIN
    // verifies and the old one does not.
    assert_eq!(pad.modify("1234E5678E5678E", 0x03), [0x90, 0x00]);
    assert_eq!(pad.verify("1234E"), [0x63, 0xC2], "old PIN refused");
    assert_eq!(pad.verify("5678E"), [0x90, 0x00], "new PIN");
    // The confirmation differs: 64 02, and the card never saw the command.
    assert_eq!(pad.modify("5678E1111E2222E", 0x03), [0x64, 0x02]);
    assert_eq!(pad.verify("5678E"), [0x90, 0x00], "PIN unchanged");
    // New PIN only (after VERIFY), bNumberMessage 0: one message index on the
    // wire, P1 01.
    let mut new_only = modify_structure(0x00, 0, 0);
    new_only[24 + 2] = 0x01; // P1 01: new PIN only
    let lc_at = 24 + 4;
    new_only[lc_at] = 0x08;
    new_only.truncate(24 + 5 + 8);
    new_only[20..24].copy_from_slice(&13u32.to_le_bytes());
    assert_eq!(
        pad.run(modify, "4321E", &new_only).unwrap(),
        [0x90, 0x00],
        "new PIN only"
    );
    assert_eq!(pad.verify("4321E"), [0x90, 0x00]);

    // Malformed structures: refused by the reader before any key, with bError the
    // offset of the field (libccid: "error on byte N", SCardControl fails).
    let refusals = [
        (
            verify,
            verify_structure(0, 0x83, [4, 8]),
            "error on byte 12",
        ),
        (
            verify,
            verify_structure(0, ASCII, [9, 8]),
            "error on byte 15",
        ),
        (
            verify,
            verify_structure(0, ASCII, [0, 8]),
            "error on byte 15",
        ),
        (modify, modify_structure(0x03, 9, 3), "error on byte 13"),
    ];
    for (code, structure, logged) in &refusals {
        let result = pad.run(*code, "", structure);
        assert!(result.is_err(), "{logged}: answered {result:?}");
        assert!(
            pcscd.log().contains(logged),
            "{logged} not in pcscd log:\n{}",
            pcscd.log()
        );
    }
    // The keys queued after a refusal are still there for the next request.
    assert_eq!(pad.verify("4321E"), [0x90, 0x00]);

    // Wrong PINs count down, then the PIN is blocked.
    assert_eq!(pad.verify("9999E"), [0x63, 0xC2]);
    assert_eq!(pad.verify("9999E"), [0x63, 0xC1]);
    assert_eq!(pad.verify("9999E"), [0x63, 0xC0]);
    assert_eq!(pad.verify("4321E"), [0x69, 0x83], "blocked");
    eprintln!("libccid complaints: {:#?}", pcscd.libccid_complaints());
}

#[test]
fn pin_pad_with_a_t0_card() {
    // Keys given on the command line wait for the first PIN entry.
    with_pad("t0", &["--keys", "1234E"], Protocols::T0, |pad, _| {
        t0_pin_session(pad)
    });
}

fn t0_pin_session(pad: &mut Pad<'_>) {
    assert_eq!(pad.verify(""), [0x90, 0x00], "right PIN from --keys");
    assert_eq!(pad.verify("1235E"), [0x63, 0xC2], "wrong PIN");
    assert_eq!(pad.modify("1234E8765E8765E", 0x03), [0x90, 0x00]);
    assert_eq!(pad.verify("8765E"), [0x90, 0x00], "new PIN");
    assert_eq!(pad.verify("C"), [0x64, 0x01], "cancel key");
}

/// OpenSC's own part 10 PIN_VERIFY_STRUCTURE (built from the properties libccid
/// reports), through libccid's PC_to_RDR_Secure, onto our PIN pad: T=1 and T=0.
#[test]
fn opensc_verifies_on_the_pin_pad() {
    require_opensc();
    for (card_kind, protocol) in [("t1", Protocols::T1), ("t0", Protocols::T0)] {
        with_pad(card_kind, &[], protocol, |pad, _| {
            let cases = [
                ("1234E", Said::Correct),
                ("9999E", Said::Incorrect(2)),
                ("12B234E", Said::Correct),
                ("12C", Said::Cancelled),
            ];
            for (keys, said) in cases {
                pad.serve.keys(keys);
                let out = verify_on_pin_pad("0");
                assert!(
                    said.in_output(&out),
                    "{card_kind}, keys {keys:?}: {said:?} in {out}"
                );
            }
        });
    }
}

/// ccid-serve as a GemPC PinPad with a T=1 card, `--trace` on its watched
/// stderr.
fn pin_pad_watched() -> Serve {
    Serve::start_watched(&["--reader", "gempcpinpad", "--card", "t1", "--trace"])
}

/// pcscd over `serve`, a client's VERIFY_PIN_DIRECT that waits for keys nobody
/// types, and pcscd killed during it once ccid-serve's keypad has begun the
/// entry and `underway` has returned.
fn kill_pcscd_mid_pin_entry(serve: &Serve, underway: impl FnOnce()) {
    let pcscd = pcscd_over(serve);
    let ctx = Context::establish(Scope::User).expect("establish context");
    let card = connect(&ctx, &pcscd, Protocols::T1);
    let (verify, _) = pin_features(&card);
    let entry = move || {
        let mut buf = [0u8; 258];
        // bTimerOut 0: the reader's default, 30 s for each key.
        card.control(verify, &verify_structure(0, ASCII, [4, 8]), &mut buf)
            .map(<[u8]>::to_vec)
    };
    pcscd.kill_during(entry, || {
        serve.wait_stderr("keypad: ");
        underway();
    });
}

/// pcscd killed (a crash, or a restart that does not wait) while the reader
/// waits for the user's keys (a VERIFY_PIN_DIRECT, nobody typing), then started
/// again: the new pcscd's libccid opens the reader cleanly and the PIN pad
/// verifies. Before, the PIN entry went on for the gone host until its key
/// time-out (30 s here, up to 255 s): the new libccid's open got CMD_SLOT_BUSY
/// (no firmware, GET_FIRMWARE_FEATURES failed) and pcscd listed no reader at all.
#[test]
fn pcscd_killed_mid_pin_entry_then_restarted_finds_the_pin_pad_working() {
    let mut serve = pin_pad_watched();
    kill_pcscd_mid_pin_entry(&serve, || {});

    let pcscd = pcscd_over(&serve);
    pad_session(&mut serve, &pcscd, Protocols::T1, |pad, _| {
        assert_eq!(pad.verify("1234E"), [0x90, 0x00], "right PIN");
    });
}

/// As above, with ccid-serve's reading thread held still (a scheduler that
/// does not run it, as under load) from before pcscd is killed until the new
/// pcscd's libccid has opened the terminal and sent its first command: the old
/// host's close and the new host's open both happen while nobody looks, and
/// the terminal never reads hung up. The close is seen all the same (inotify
/// queues it), the PIN entry is let go and the new libccid gets its firmware
/// at once. Before, the reading thread took the new host for the old one: its
/// GET_FIRMWARE got CMD_SLOT_BUSY behind the PIN entry ("Get firmware
/// failed") and pcscd listed no reader.
#[test]
fn pcscd_killed_mid_pin_entry_and_restarted_unseen_finds_the_pin_pad_working() {
    let mut serve = pin_pad_watched();
    let mut reading = None;
    kill_pcscd_mid_pin_entry(&serve, || {
        reading = Some(FrozenThread::freeze_main(serve.pid()));
    });

    let pcscd = pcscd_over(&serve);
    // A client's connection starts pcscd, which opens the reader before it
    // answers: on a thread of its own, while this one waits for libccid's open.
    let starting = std::thread::spawn(|| Context::establish(Scope::User).map(drop));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pcscd.log().contains("OpenSerialByName() Set serial port") {
        assert!(
            std::time::Instant::now() < deadline,
            "libccid never opened the terminal; pcscd log:\n{}",
            pcscd.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Opened (libccid's GET_FIRMWARE follows at once; it waits 2 s for the
    // answer): the reading thread runs again.
    drop(reading);
    starting.join().unwrap().expect("establish context");
    pad_session(&mut serve, &pcscd, Protocols::T1, |pad, pcscd| {
        assert!(
            !pcscd.log().contains("Get firmware failed"),
            "pcscd log:\n{}",
            pcscd.log()
        );
        assert_eq!(pad.verify("1234E"), [0x90, 0x00], "right PIN");
    });
}
