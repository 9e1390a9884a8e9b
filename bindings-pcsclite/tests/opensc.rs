//! OpenSC, a PC/SC client that users run every day and that we did not write,
//! against readerkit's IFD handler in the real pcscd: `opensc-tool` lists the
//! readers (with the PIN pad it finds in the PC/SC part 10 feature list), reads
//! the ATRs and sends APDUs; `opensc-explorer` verifies a PIN on the reader's PIN
//! pad, with the `FEATURE_VERIFY_PIN_DIRECT` structure OpenSC builds from its own
//! reading of part 10 and of the reader's PIN properties. The `sim:` PIN pad plays
//! the keys the key switch (vendor control 3502) loads; the simulated card's PIN
//! is "1234" under reference 80 (OpenSC's `CHV128`), 3 tries.

use std::time::{Duration, Instant};

use pcsc::{Context, Protocols, Scope, ctl_code};
use readerkit_host_readers::sim::FN_SIM_KEYS;
use readerkit_testkit::opensc::{self, Said, require_opensc, verify_on_pin_pad};
use readerkit_testkit::pcsc::{connect, disconnect, step, wait_cards};
use readerkit_testkit::pcscd::{Pcscd, require_pcscd};

const T1: &str = "RK T1 00 00";
const T0: &str = "RK T0 01 00";
/// The ATRs as `opensc-tool --atr` prints them.
const ATR_T1: &str = "3b:9b:96:81:71:fe:45:00:80:65:52:4b:53:49:4d:73:10:21:40:ef";
const ATR_T0: &str = "3b:1b:95:80:65:52:4b:53:49:4d:73:10:21:40";
/// The `sim:` key switch.
const SIM_KEYS: u64 = ctl_code(FN_SIM_KEYS as u64);

/// Load `keys` into the PIN pad of reader `name` (through the pcsc crate).
fn load_keys(ctx: &Context, name: &str, keys: &str) {
    let card = connect(ctx, name, Protocols::ANY);
    card.control(SIM_KEYS, keys.as_bytes(), &mut [])
        .unwrap_or_else(|e| panic!("load keys into {name}: {e}"));
    disconnect(card);
}

#[test]
fn opensc_lists_reads_and_verifies_on_the_pin_pad() {
    let started = Instant::now();
    require_pcscd();
    require_opensc();
    let mut pcscd = Pcscd::start_readerkit(&[("RK T1", "sim:t1"), ("RK T0", "sim:t0")]);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    wait_cards(&ctx, &[T1, T0], Duration::from_secs(10));
    step("pcscd up", started);

    // Both readers, each with a card and the PIN pad OpenSC found in the part 10
    // feature list (FEATURE_VERIFY_PIN_DIRECT).
    let list = opensc::run("opensc-tool", &["--list-readers"], "");
    for (number, name) in [("0", T1), ("1", T0)] {
        let row = list
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} listed: {list}"));
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            columns.get(..4),
            Some(&[number, "Yes", "PIN", "pad"][..]),
            "number, card, features: {row}"
        );
    }
    step("opensc-tool --list-readers", started);

    // The ATRs, and APDUs with data both ways (ECHO, case 4, answers its data; under
    // T=0 the reader fetches it with GET RESPONSE).
    for (number, atr) in [("0", ATR_T1), ("1", ATR_T0)] {
        let out = opensc::run(
            "opensc-tool",
            &[
                "--reader",
                number,
                "--atr",
                "--send-apdu",
                "00:A4:00:0C:02:3F:00",
                "--send-apdu",
                "80:EE:00:00:05:68:65:6C:6C:6F:00",
            ],
            "",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.first(), Some(&atr), "reader {number}: {out}");
        assert_eq!(
            lines
                .iter()
                .filter(|l| **l == "Received (SW1=0x90, SW2=0x00)")
                .count(),
            1,
            "SELECT MF without data, 9000: {out}"
        );
        assert!(
            lines.ends_with(&["Received (SW1=0x90, SW2=0x00):", "68 65 6C 6C 6F hello"]),
            "ECHO's data, 9000: {out}"
        );
    }
    step("opensc-tool --atr --send-apdu", started);

    // PIN entry on the pad, T=1 then T=0: the right PIN, a wrong one (counted by
    // the card), the right one again (the counter back to 3), a cancel key, and
    // no key at all (the pad times out).
    for (number, name) in [("0", T1), ("1", T0)] {
        let cases = [
            ("1234E", Said::Correct),
            ("9999E", Said::Incorrect(2)),
            ("1234E", Said::Correct),
            ("12C", Said::Cancelled),
            ("", Said::TimedOut),
        ];
        for (keys, said) in cases {
            load_keys(&ctx, name, keys);
            let out = verify_on_pin_pad(number);
            assert!(
                said.in_output(&out),
                "{name}, keys {keys:?}: {said:?} in {out}"
            );
        }
    }
    step("opensc-explorer verify on the PIN pad", started);

    // The PIN was typed on the pad: pcscd, which logs every APDU it passes (-a),
    // never saw it.
    let log = pcscd.log();
    assert!(log.contains("APDU: 80 EE 00 00 05"), "pcscd logs APDUs");
    for pin in ["31 32 33 34", "39 39 39 39"] {
        assert!(!log.contains(pin), "a PIN ({pin}) in pcscd's log");
    }
    pcscd.stop_and_check_log();
}
