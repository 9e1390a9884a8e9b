//! Protocol traces in pcscd's own log: a reader opened with `:log=trace` logs every
//! request with its outcome and time and every exchange on its line, decoded; a
//! reader without the option takes pcscd's `READERKIT_LOG` (here `debug`: its
//! requests, not its line); one opened with `:log=info` logs its failed requests
//! only. Through the real pcscd (Debian's, run with `--debug`) and the `pcsc` crate.

use std::time::{Duration, Instant};

use pcsc::{Context, Protocols, Scope};
use readerkit_testkit::apdu::{SELECT_MF, echo};
use readerkit_testkit::pcsc::{connect, disconnect, step, tx, wait_card};
use readerkit_testkit::pcscd::{Pcscd, require_pcscd};

const TRACED: &str = "RK TRACED 00 00";
const QUIET: &str = "RK QUIET 01 00";
const INFO: &str = "RK INFO 02 00";
/// VERIFY with the simulated card's PIN, "1234", as a client typing it on the PC
/// sends it.
const VERIFY_ON_PC: [u8; 9] = [0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34];
/// A vendor function no reader offers (the control fails: not supported).
const UNKNOWN_FUNCTION: u16 = 3999;

#[test]
fn a_log_trace_reader_decodes_its_exchanges_into_pcscds_log() {
    let started = Instant::now();
    require_pcscd();
    // SAFETY: this test binary has this one test: no other thread reads the
    // environment; pcscd inherits it.
    unsafe { std::env::set_var("READERKIT_LOG", "debug") };
    let mut pcscd = Pcscd::start_readerkit(&[
        ("RK TRACED", "sim:t1:log=trace"),
        ("RK QUIET", "sim:t0"),
        ("RK INFO", "sim:t1:log=info"),
    ]);
    let ctx = Context::establish(Scope::User).expect("establish context (pcscd started)");
    step("pcscd up", started);
    for name in [TRACED, QUIET] {
        assert!(
            wait_card(&ctx, name, true, Duration::from_secs(10)),
            "{name}"
        );
        let card = connect(&ctx, name, Protocols::T0 | Protocols::T1);
        let select = tx(&card, &SELECT_MF).unwrap();
        assert_eq!(select, [0x90, 0x00]);
        // A PIN typed on the PC: pcscd's `-a` logs it, the readers' lines do not.
        assert_eq!(tx(&card, &VERIFY_ON_PC).unwrap(), [0x90, 0x00]);
        let data: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        let answer = tx(&card, &echo(&data)).unwrap();
        assert_eq!(&answer[..answer.len() - 2], &data[..]);
        disconnect(card);
    }
    assert!(wait_card(&ctx, INFO, true, Duration::from_secs(10)));
    let card = connect(&ctx, INFO, Protocols::T1);
    assert_eq!(tx(&card, &SELECT_MF).unwrap(), [0x90, 0x00]);
    let mut out = [0u8; 16];
    assert!(
        card.control(pcsc::ctl_code(UNKNOWN_FUNCTION.into()), &[], &mut out)
            .is_err(),
        "vendor function {UNKNOWN_FUNCTION} is not supported"
    );
    disconnect(card);
    step("the three readers used", started);
    pcscd.stop_and_check_log();
    let log = pcscd.log();
    let traced = |what: &str| format!("readerkit: sim:t1:log=trace: {what}");
    for line in [
        traced("<- ATR (cold reset) 3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D"),
        traced("-> PPS request FF 11 95 7B : PPS T=1, PPS1 95 (F=512, D=16)"),
        traced("<- PPS answer FF 11 95 7B : PPS T=1, PPS1 95 (F=512, D=16)"),
        traced("protocol T=1 established, N=0"),
        traced("-> S(IFS request, 254)"),
        traced("-> I(N(S)=0, M=0) 7 bytes"),
        traced("-> I(N(S)=1, M=1) 254 bytes"),
        traced("<- R(N(R)=0)"),
        traced("POWER cold reset -> success, 20 bytes in "),
        // The answer counts the 8-byte SCARD_IO_REQUEST header before R-APDU.
        traced("TRANSMIT T=1, 7 bytes: 00 A4 00 0C 02 <2 data bytes> -> success, 10 bytes in "),
        traced("TRANSMIT T=1, 9 bytes: 00 20 00 80 04 <4 data bytes> -> success, 10 bytes in "),
    ] {
        assert!(log.contains(&line), "pcscd log lacks {line:?}:\n{log}");
    }
    let quiet = |what: &str| format!("readerkit: sim:t0: {what}");
    assert!(
        log.contains(&quiet(
            "TRANSMIT T=0, 7 bytes: 00 A4 00 0C 02 <2 data bytes> -> success, 10 bytes in "
        )),
        "READERKIT_LOG=debug: the other reader logs its requests:\n{log}"
    );
    assert!(
        !log.contains(&quiet("-> T=0 header")) && !log.contains(&quiet("<- ATR")),
        "READERKIT_LOG=debug: but not its line:\n{log}"
    );
    let pin_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("readerkit: ") && l.contains("31 32 33 34"))
        .collect();
    assert!(
        pin_lines.is_empty(),
        "the PIN in the readers' own lines: {pin_lines:#?}"
    );
    assert!(
        log.contains("APDU: 00 20 00 80 04 31 32 33 34"),
        "pcscd's -a log has the VERIFY (the check above looked at the right bytes):\n{log}"
    );
    let info = "readerkit: sim:t1:log=info: ";
    let info_lines: Vec<&str> = log.lines().filter(|l| l.contains(info)).collect();
    assert!(
        info_lines
            .iter()
            .any(|l| l.contains("not supported") && !l.contains("-> success")),
        ":log=info: the failed control is logged:\n{log}"
    );
    assert!(
        !info_lines.iter().any(|l| l.contains("-> success")),
        ":log=info: no served request is logged:\n{info_lines:#?}"
    );
    step("trace lines checked", started);
}
