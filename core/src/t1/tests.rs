//! Engine tests: byte-exact scripted exchanges (the ISO/IEC 7816-3 Annex A
//! scenarios), every error path, a model card with fault injection, and random
//! replies.

use std::vec::Vec;

use super::*;
use crate::status::Status;
// h("00 C1 01 FE 3E"): hex words to bytes.
use readerkit_testkit::hex::parse as h;
use readerkit_testkit::rng::Rng;

/// Hex string of a block without its epilogue, LRC appended.
fn l(s: &str) -> Vec<u8> {
    let mut v = h(s);
    v.push(lrc(&v));
    v
}

/// Hex string of a block without its epilogue, CRC appended.
fn c(s: &str) -> Vec<u8> {
    let mut v = h(s);
    v.extend_from_slice(&crc16(&v).to_be_bytes());
    v
}

#[derive(Debug, Clone)]
enum Reply {
    Block(Vec<u8>),
    Timeout,
    LineError,
}

use Reply::{Block as B, LineError, Timeout};

/// One step of a script: the block the engine must send (byte-exact), its WTX
/// multiplier, and the card's reply.
struct Step {
    sent: Vec<u8>,
    wtx: u8,
    reply: Reply,
}

/// Run `apdu` against `script`; every step must be used.
fn run(engine: &mut Engine, apdu: &[u8], cap: usize, script: &[Step]) -> Result<Vec<u8>, Error> {
    let mut response = std::vec![0u8; cap];
    let mut tx = engine.transmit(apdu, &mut response)?;
    let mut action = tx.action();
    let mut steps = script.iter().enumerate();
    loop {
        match action? {
            Action::Send { block, wait } => {
                let Some((i, step)) = steps.next() else {
                    panic!("engine sent {block:02X?} after the end of the script");
                };
                assert_eq!(block, &step.sent[..], "step {i}: sent block");
                assert_eq!(wait.wtx, step.wtx, "step {i}: WTX");
                action = match &step.reply {
                    B(bytes) => tx.receive(bytes),
                    Timeout => tx.timeout(),
                    LineError => tx.line_error(),
                };
            }
            Action::Done { response_len } => {
                assert!(steps.next().is_none(), "script not finished");
                assert_eq!(tx.response().len(), response_len);
                return Ok(response[..response_len].to_vec());
            }
        }
    }
}

/// Like [`run`] but expects the engine to fail right after the last step.
fn run_err(engine: &mut Engine, apdu: &[u8], cap: usize, script: &[Step]) -> Error {
    let err = run(engine, apdu, cap, script).expect_err("exchange must fail");
    assert!(!Status::from(err).is_success());
    err
}

/// A script, one step a line: `SENT | REPLY`, each as hex bytes, where a final
/// `lrc` or `crc` appends that epilogue; REPLY may instead be `timeout` or
/// `line error`; a third column `wtx N` is the WTX multiplier of the wait (1
/// without it); `#` starts a comment.
fn script(text: &str) -> Vec<Step> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut columns = line.split('|').map(str::trim);
            let sent = block(columns.next().unwrap_or_default());
            let reply = match columns.next().expect("a step is SENT | REPLY") {
                "timeout" => Timeout,
                "line error" => LineError,
                bytes => B(block(bytes)),
            };
            let wtx = columns.next().map_or(1, |wtx| {
                let n = wtx.strip_prefix("wtx ").expect("the third column is wtx N");
                n.parse().unwrap()
            });
            Step { sent, wtx, reply }
        })
        .collect()
}

/// Hex bytes, with the LRC or CRC appended where they end in `lrc` or `crc`.
fn block(text: &str) -> Vec<u8> {
    let text = text.trim();
    if let Some(bytes) = text.strip_suffix("lrc") {
        l(bytes)
    } else if let Some(bytes) = text.strip_suffix("crc") {
        c(bytes)
    } else {
        h(text)
    }
}

/// Run `apdu` (hex) against the [`script`] `steps` with a 300-byte response
/// buffer; the response.
fn exchange(engine: &mut Engine, apdu: &str, steps: &str) -> Vec<u8> {
    run(engine, &h(apdu), 300, &script(steps)).unwrap()
}

/// Like [`exchange`] but expects the engine to fail right after the last step.
fn exchange_err(engine: &mut Engine, apdu: &str, steps: &str) -> Error {
    run_err(engine, &h(apdu), 300, &script(steps))
}

/// An engine for `config` that does not announce its IFSD first (its scripts
/// start with the first I-block).
fn quiet_engine(config: Config) -> Engine {
    Engine::new(Config {
        send_ifs_request: false,
        ..config
    })
    .unwrap()
}

/// A [`quiet_engine`] with LRC and IFSC `ifsc`.
fn lrc_engine(ifsc: u8) -> Engine {
    quiet_engine(Config::new(ifsc, Edc::Lrc))
}

const SELECT: &str = "00 A4 04 00 02 3F 00";
/// READ BINARY of 256 bytes, the APDU of most scripts.
const READ: &str = "00 B0 00 00 00";

// ---------------------------------------------------------------- normal exchanges

#[test]
fn ifsd_announced_then_apdus_alternate_sequence_numbers() {
    let mut e = Engine::new(Config::new(32, Edc::Lrc)).unwrap();
    // ISO/IEC 7816-3:2006 11.4.2: 32 until the card acknowledges the announcement.
    assert_eq!(e.ifsd(), DEFAULT_IFS);
    let r = exchange(
        &mut e,
        SELECT,
        "
        00 C1 01 FE 3E                   | 00 E1 01 FE 1E
        00 00 07 00 A4 04 00 02 3F 00 9A | 00 00 02 90 00 92
        ",
    );
    assert_eq!(r, h("90 00"));
    assert!(e.ifsd_announced());
    assert_eq!(e.ifsd(), 254, "the reader's IFSD, acknowledged");
    // Second APDU: N(S) = 1 on both sides, no second IFS request.
    let r = exchange(
        &mut e,
        "00 B0 00 00 02",
        "00 40 05 00 B0 00 00 02 lrc | 00 40 04 12 34 90 00 lrc",
    );
    assert_eq!(r, h("12 34 90 00"));
    // Third: back to 0.
    exchange(
        &mut e,
        "80 CA 00 00",
        "00 00 04 80 CA 00 00 lrc | 00 00 02 90 00 lrc",
    );
}

#[test]
fn reconfigure_starts_over_in_place_and_refuses_bad_configs() {
    let mut e = lrc_engine(32);
    // One APDU: N(S) moves on to 1.
    exchange(
        &mut e,
        "00 B0 00 00 02",
        "00 00 05 00 B0 00 00 02 lrc | 00 00 04 12 34 90 00 lrc",
    );
    // A bad configuration changes nothing: the next I-block carries N(S) = 1.
    let bad = Config::new(0, Edc::Crc);
    assert_eq!(e.reconfigure(bad), Err(Error::InvalidConfig));
    assert_eq!(e.config().edc, Edc::Lrc);
    let mut probe = e.clone();
    let mut response = [0u8; 8];
    let apdu = h("00 B0 00 00 02");
    let expected = l("00 40 05 00 B0 00 00 02");
    let tx = probe.transmit(&apdu, &mut response).unwrap();
    assert_eq!(
        tx.action(),
        Ok(Action::Send {
            block: &expected,
            wait: Wait { wtx: 1 }
        })
    );
    // A new configuration: CRC, IFSD announced again, sequence numbers back to 0.
    e.reconfigure(Config::new(16, Edc::Crc)).unwrap();
    assert_eq!((e.ifsc(), e.config().edc), (16, Edc::Crc));
    exchange(
        &mut e,
        READ,
        "
        00 C1 01 FE 54 4E           | 00 E1 01 FE crc
        00 00 05 00 B0 00 00 00 crc | 00 00 02 90 00 crc
        ",
    );
    // The default engine is the default configuration's.
    assert_eq!(*Engine::default().config(), Config::default());
}

#[test]
fn crc_exchange() {
    let mut e = Engine::new(Config::new(32, Edc::Crc)).unwrap();
    exchange(
        &mut e,
        READ,
        "
        00 C1 01 FE 54 4E           | 00 E1 01 FE crc
        00 00 05 00 B0 00 00 00 crc | 00 00 02 90 00 crc
        ",
    );
}

/// The NAD goes out as configured and comes back with SAD and DAD swapped
/// (ISO/IEC 7816-3:2006 11.3.2.1). b8 and b4 are not used: the interface device
/// ignores them. `FF` is invalid (it reads as PPSS) and gets an R-block, as does a
/// wrong address.
#[test]
fn nad_is_sent_and_expected_swapped_its_unused_bits_ignored() {
    let with_nad = |nad| {
        quiet_engine(Config {
            nad,
            ..Config::default()
        })
    };
    let mut e = with_nad(0x21);
    exchange(
        &mut e,
        READ,
        "
        21 00 05 00 B0 00 00 00 lrc | 21 00 02 90 00 lrc  # not swapped
        21 82 00 lrc                | FF 00 02 90 00 lrc  # reserved
        21 82 00 lrc                | 13 00 02 90 00 lrc  # another source
        21 82 00 lrc                | 9A 00 02 90 00 lrc  # 12 with b8 and b4 set
        ",
    );
    exchange(
        &mut e,
        READ,
        "
        21 40 05 00 B0 00 00 00 lrc | 12 40 02 90 00 lrc
        ",
    );
    let mut e = lrc_engine(32);
    exchange(
        &mut e,
        READ,
        "
        00 00 05 00 B0 00 00 00 lrc | FF 00 02 90 00 lrc
        00 82 00 lrc                | 88 00 02 90 00 lrc  # 00 with b8 and b4 set
        ",
    );
    // FF is refused even where its address bits are the ones owed (77 for 77).
    exchange(
        &mut with_nad(0x77),
        READ,
        "
        77 00 05 00 B0 00 00 00 lrc | FF 00 02 90 00 lrc  # reserved
        77 82 00 lrc                | 77 00 02 90 00 lrc
        ",
    );
    // Our own NAD may not use b8 or b4.
    for nad in [0x08, 0x80, 0xFF] {
        let config = Config {
            nad,
            ..Config::default()
        };
        assert_eq!(
            Engine::new(config).err(),
            Some(Error::InvalidConfig),
            "{nad:02X}"
        );
    }
}

/// UPDATE BINARY of 5 bytes: a 10-byte APDU.
const UPDATE: &str = "00 D6 00 00 05 01 02 03 04 05";

/// [`UPDATE`] chained with IFSC 4: I(0,M) R(1) I(1,M) R(0) I(0).
const UPDATE_CHAIN: &str = "
    00 20 04 00 D6 00 00 lrc | 00 90 00 90
    00 60 04 05 01 02 03 lrc | 00 80 00 80
    00 00 02 04 05 lrc       | 00 00 02 90 00 lrc
";

/// Annex A: chaining of a command. IFSC 4, 10-byte APDU: I(0,M) R(1) I(1,M) R(0) I(0).
#[test]
fn command_chaining() {
    let mut e = lrc_engine(4);
    let r = exchange(&mut e, UPDATE, UPDATE_CHAIN);
    assert_eq!(r, h("90 00"));
}

/// An R-block with an error code is a request to send again, never the
/// acknowledgement of a chained I-block, whatever its N(R): a card whose R(N(R))
/// answering a damaged I(0,M) carried the wrong sequence number (R(1) with the EDC
/// error bit) made the engine skip the first part of the command, and the card
/// executed the rest as a command of its own (found by the `t1_card` fuzz target).
#[test]
fn error_r_block_never_acknowledges_a_chained_block() {
    let mut e = lrc_engine(4);
    let steps = std::format!("00 20 04 00 D6 00 00 lrc | 00 91 00 lrc\n{UPDATE_CHAIN}");
    let r = exchange(&mut e, UPDATE, &steps);
    assert_eq!(r, h("90 00"));
}

#[test]
fn extended_apdu_and_largest_response_through_a_model_card() {
    let mut card = ModelCard::new(Edc::Crc, 254);
    let mut e = Engine::new(Config::new(254, Edc::Crc)).unwrap();
    let apdu: Vec<u8> = (0..MAX_APDU_LEN).map(|i| (i * 7) as u8).collect();
    card.response_len = MAX_RESPONSE_LEN - 2;
    let mut response = std::vec![0u8; MAX_RESPONSE_LEN];
    let (result, steps) = drive(
        &mut e,
        &apdu,
        &mut response,
        &mut card,
        &mut NoFaults,
        10_000,
    );
    assert_eq!(result, Ok(MAX_RESPONSE_LEN));
    assert_eq!(card.last_command, apdu);
    assert_eq!(response, card.expected_response());
    // 259 command blocks + 259 response blocks + the IFS exchange.
    assert_eq!(steps, 1 + 258 + 259);
    assert_eq!(e.transmit(&[], &mut response).err(), Some(Error::EmptyApdu));
    let too_long = std::vec![0u8; MAX_APDU_LEN + 1];
    assert_eq!(
        e.transmit(&too_long, &mut response).err(),
        Some(Error::ApduTooLong)
    );
}

// ---------------------------------------------------------------- S-blocks from the card

/// Annex A: WTX. The answer carries the multiplier for the next wait only.
#[test]
fn wtx_request_is_answered_and_extends_the_next_wait() {
    let mut e = lrc_engine(32);
    exchange(
        &mut e,
        READ,
        "
        00 00 05 00 B0 00 00 00 lrc | 00 C3 01 03 C1
        00 E3 01 03 E1              | 00 C3 01 03 C1     | wtx 3
        00 E3 01 03 E1              | timeout            | wtx 3
        00 82 00 82                 | 00 00 02 90 00 lrc
        ",
    );
    let timing = crate::timing::Timing::default_at(3_571);
    assert_eq!(
        Wait { wtx: 2 }.bwt_us(&timing, 4),
        timing.t1_block_waiting_time_us(4, 2)
    );
}

/// Annex A: IFS request from the card in the middle of a chain; the next I-blocks use
/// the new IFSC.
#[test]
fn ifs_request_from_card_changes_ifsc() {
    let mut e = lrc_engine(4);
    let r = exchange(
        &mut e,
        "00 D6 00 00 05 01 02 03 04 05",
        "
        00 20 04 00 D6 00 00 lrc       | 00 C1 01 08 C8
        00 E1 01 08 E8                 | 00 90 00 90
        00 40 06 05 01 02 03 04 05 lrc | 00 00 02 90 00 lrc
        ",
    );
    assert_eq!(r, h("90 00"));
    assert_eq!(e.ifsc(), 8);
    // The IFSD was never announced (a quiet engine): ISO's initial 32.
    assert_eq!(
        e.field_sizes(),
        crate::caps::FieldSizes { ifsc: 8, ifsd: 32 }
    );
}

/// The card aborts its chained response: answered, then the exchange fails and the
/// next one starts with a resynchronisation.
#[test]
fn abort_from_card() {
    let mut e = lrc_engine(32);
    let err = exchange_err(
        &mut e,
        READ,
        "
        00 00 05 00 B0 00 00 00 lrc | 00 20 01 01 lrc
        00 90 00 90                 | 00 C2 00 C2
        00 E2 00 E2                 | 00 90 00 90
        ",
    );
    assert_eq!(err, Error::Aborted);
    assert_eq!(Status::from(err), Status::DeviceProtocolError);
    assert!(!e.is_synchronised());
    assert!(
        !e.resynch_failed(),
        "an abort is no failed resynchronisation"
    );
    exchange(
        &mut e,
        READ,
        "
        00 C0 00 C0                 | 00 E0 00 E0
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc
        ",
    );
    assert!(e.is_synchronised());
}

#[test]
fn endless_wtx_is_bounded() {
    let mut e = quiet_engine(Config {
        max_card_requests: 5,
        ..Config::default()
    });
    let mut steps = std::string::String::from("00 00 05 00 B0 00 00 00 lrc | 00 C3 01 01 C3\n");
    for _ in 0..5 {
        steps.push_str("00 E3 01 01 E3 | 00 C3 01 01 C3\n");
    }
    let err = exchange_err(&mut e, READ, &steps);
    assert_eq!(err, Error::TooManyRequests);
    assert_eq!(Status::from(err), Status::DeviceProtocolError);
}

// ---------------------------------------------------------------- error recovery

/// One READ BINARY on an LRC engine with IFSC 32 that does not announce its IFSD.
struct ReadCase {
    /// What the card does (and where ISO/IEC 7816-3 Annex A shows it).
    name: &'static str,
    /// The exchange, as a [`script`].
    steps: &'static str,
    /// The response (hex), or the error the exchange ends in.
    end: Result<&'static str, Error>,
}

const READ_CASES: [ReadCase; 7] = [
    ReadCase {
        // Rule 3: the extended time starts at the S(WTX response).
        name: "an S(WTX response) sent again (the card did not get it) extends the wait again",
        steps: "
        00 00 05 00 B0 00 00 00 lrc | 00 20 01 01 lrc    # chained response
        00 90 00 90                 | 00 C3 01 03 C1
        00 E3 01 03 E1              | 00 80 00 80        | wtx 3
        00 E3 01 03 E1              | 00 40 02 90 00 lrc | wtx 3
        ",
        end: Ok("01 90 00"),
    },
    ReadCase {
        name: "Annex A: chaining of a response, I(0,M) R(1) I(1,M) R(0) I(0)",
        steps: "
        00 00 05 00 B0 00 00 00 lrc | 00 20 03 01 02 03 lrc
        00 90 00 90                 | 00 60 02 04 05 lrc
        00 80 00 80                 | 00 00 03 06 90 00 lrc
        ",
        end: Ok("01 02 03 04 05 06 90 00"),
    },
    ReadCase {
        name: "the card aborts, and our ABORT response times out: the exchange fails",
        steps: "
        00 00 05 00 B0 00 00 00 lrc | 00 C2 00 C2
        00 E2 00 E2                 | timeout
        ",
        end: Err(Error::Aborted),
    },
    ReadCase {
        name: "a RESYNCH request and unsolicited S responses from the card are invalid",
        steps: "
        00 00 05 00 B0 00 00 00 lrc | 00 C0 00 C0
        00 82 00 82                 | 00 E3 01 02 E0
        00 82 00 82                 | 00 E1 01 FE 1E
        00 82 00 82                 | 00 00 02 90 00 lrc
        ",
        end: Ok("90 00"),
    },
    ReadCase {
        name: "Annex A: the card's I-block arrives with an EDC error, R(0) coded EDC \
               error, the card sends it again",
        steps: "
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 93
        00 81 00 81                 | line error
        00 81 00 81                 | 00 00 02 90 00 lrc
        ",
        end: Ok("90 00"),
    },
    ReadCase {
        name: "Annex A: our I-block is lost (BWT time-out), the card answers our R(0) \
               with R(0), asking for I(0) again",
        steps: "
        00 00 05 00 B0 00 00 00 lrc | timeout
        00 82 00 82                 | 00 80 00 80
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc
        ",
        end: Ok("90 00"),
    },
    ReadCase {
        name: "Annex A: in response chaining the card does not get our acknowledgement \
               (it answers with an R-block) and we send it again; then its next I-block \
               is lost (time-out) and our R-block makes it send that again",
        steps: "
        00 00 05 00 B0 00 00 00 lrc | 00 20 01 01 lrc
        00 90 00 90                 | 00 91 00 91
        00 90 00 90                 | 00 60 01 02 lrc
        00 80 00 80                 | timeout
        00 82 00 82                 | 00 00 02 90 00 lrc
        ",
        end: Ok("01 02 90 00"),
    },
];

/// Every [`READ_CASES`] exchange ends as it says, block by block.
#[test]
fn single_reads_end_as_their_scripts_say() {
    for case in READ_CASES {
        // Names the case above a failure inside `run`.
        std::eprintln!("case: {}", case.name);
        let result = run(&mut lrc_engine(32), &h(READ), 300, &script(case.steps));
        assert_eq!(result, case.end.map(h), "{}", case.name);
    }
}

/// Wrong sequence number, wrong NAD, INF longer than IFSD, reserved codings, an
/// I-block while we still chain and an empty chained I-block are all invalid.
#[test]
fn invalid_blocks_get_other_error() {
    let mut e = quiet_engine(Config {
        ifsd: 2,
        max_retries: 8,
        ..Config::default()
    });
    exchange(
        &mut e,
        READ,
        "
        00 00 05 00 B0 00 00 00 lrc | 00 40 02 90 00 lrc  # N(S) 1
        00 82 00 82                 | 10 00 02 90 00 lrc  # NAD
        00 82 00 82                 | 00 00 03 01 90 00 lrc  # LEN > IFSD
        00 82 00 82                 | 00 A0 00 lrc  # R with b6
        00 82 00 82                 | 00 20 00 lrc  # empty chained I
        00 82 00 82                 | 00 00 FF 00  # LEN 255
        00 82 00 82                 | 00  # truncated
        00 82 00 82                 | 00 90 00 lrc  # R(1) after last block
        00 82 00 82                 | 00 00 02 90 00 lrc
        ",
    );
    let mut e = lrc_engine(4);
    exchange(
        &mut e,
        "00 D6 00 00 01 01",
        "
        00 20 04 00 D6 00 00 lrc | 00 00 02 90 00 lrc  # I while chaining
        00 82 00 82              | 00 90 00 90
        00 40 02 01 01 lrc       | 00 00 02 90 00 lrc
        ",
    );
}

/// S-blocks from the card where it owes another block: an S(WTX request) answering
/// our S(IFS request), an S(IFS request) answering our S(RESYNCH request) (each
/// invalid: the request goes again, rule 7.3), an S(RESYNCH request) (only the
/// interface device may send one, rule 6) and an S(IFS response) nobody asked for
/// (each invalid: R-block, rule 7.1).
#[test]
fn card_s_blocks_out_of_place_are_invalid() {
    let mut e = Engine::new(Config::new(32, Edc::Lrc)).unwrap();
    exchange(
        &mut e,
        READ,
        "
        00 C1 01 FE 3E              | 00 C3 01 02 C0  # WTX request
        00 C1 01 FE 3E              | 00 E1 01 FE 1E
        00 00 05 00 B0 00 00 00 lrc | 00 C0 00 C0     # RESYNCH request
        00 82 00 82                 | 00 E1 01 FE 1E  # unsolicited IFS response
        00 82 00 82                 | 00 00 02 90 00 lrc
        ",
    );
    exchange(
        &mut e,
        READ,
        "
        00 40 05 00 B0 00 00 00 lrc | timeout
        00 92 00 92                 | timeout
        00 92 00 92                 | timeout
        00 92 00 92                 | timeout
        00 C0 00 C0                 | 00 C1 01 20 E0  # IFS request
        00 C0 00 C0                 | 00 E0 00 E0
        00 C1 01 FE 3E              | 00 E1 01 FE 1E
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc
        ",
    );
}

/// Annex A: repeated errors lead to S(RESYNCH request); after the response the IFSD is
/// announced again and the APDU restarts with N(S) = 0.
#[test]
fn resynch_after_too_many_errors() {
    let mut e = Engine::new(Config::new(32, Edc::Lrc)).unwrap();
    // Move the sequence numbers to 1 first.
    exchange(
        &mut e,
        READ,
        "
        00 C1 01 FE 3E              | 00 E1 01 FE 1E
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc
        ",
    );
    let r = exchange(
        &mut e,
        READ,
        "
        00 40 05 00 B0 00 00 00 lrc | 00 40 02 90 00 00
        00 91 00 91                 | timeout
        00 92 00 92                 | FF FF
        00 92 00 92                 | line error
        00 C0 00 C0                 | timeout
        00 C0 00 C0                 | 00 E0 00 E0
        00 C1 01 FE 3E              | 00 E1 01 FE 1E
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc
        ",
    );
    assert_eq!(r, h("90 00"));
}

#[test]
fn unanswered_ifs_request_is_repeated_then_dropped() {
    let mut e = Engine::new(Config::new(32, Edc::Lrc)).unwrap();
    exchange(
        &mut e,
        READ,
        "
        00 C1 01 FE 3E              | timeout
        00 C1 01 FE 3E              | 00 E1 01 20 3F  # wrong size echoed
        00 C1 01 FE 3E              | 00 00 02 90 00 lrc
        00 C1 01 FE 3E              | 00 E1 01 FE 1F  # EDC
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc
        ",
    );
    assert!(!e.ifsd_announced());
    assert_eq!(e.ifsd(), DEFAULT_IFS, "given up on: the initial IFSD stays");
}

#[test]
fn silent_card_times_out() {
    let mut e = Engine::new(Config::new(32, Edc::Lrc)).unwrap();
    let err = exchange_err(
        &mut e,
        READ,
        "
        00 C1 01 FE 3E              | timeout  # IFS request, repeated three times
        00 C1 01 FE 3E              | timeout
        00 C1 01 FE 3E              | timeout
        00 C1 01 FE 3E              | timeout
        00 00 05 00 B0 00 00 00 lrc | timeout
        00 82 00 82                 | timeout
        00 82 00 82                 | timeout
        00 82 00 82                 | timeout
        00 C0 00 C0                 | timeout  # resynchronisation
        00 C0 00 C0                 | timeout
        00 C0 00 C0                 | timeout
        ",
    );
    assert_eq!(err, Error::Timeout);
    assert_eq!(Status::from(err), Status::IoTimeout);
    assert!(!e.is_synchronised());
    assert!(e.resynch_failed(), "rule 6.4 applies");
}

#[test]
fn garbage_card_gives_too_many_errors_and_next_apdu_resynchs() {
    let config = Config {
        max_retries: 1,
        max_resynchs: 2,
        ..Config::new(32, Edc::Lrc)
    };
    let mut e = Engine::new(config).unwrap();
    let err = exchange_err(
        &mut e,
        READ,
        "
        00 C1 01 FE 3E              | 01 02 03 04
        00 C1 01 FE 3E              | 01 02 03 04
        00 00 05 00 B0 00 00 00 lrc | 01 02 03 04
        00 82 00 82                 | 01 02 03 04
        00 C0 00 C0                 | 01 02 03 04
        00 C0 00 C0                 | 01 02 03 04
        ",
    );
    assert_eq!(err, Error::TooManyErrors);
    assert_eq!(Status::from(err), Status::DeviceProtocolError);
    assert!(e.resynch_failed(), "rule 6.4 applies");
    let mut response = [0u8; 8];
    assert!(matches!(
        e.transmit(&[], &mut response),
        Err(Error::EmptyApdu)
    ));
    assert!(e.resynch_failed(), "a refused command starts no exchange");
    // The engine is still usable (after the driver's reset, or if it chose not to
    // reset): the next APDU resynchronises first.
    exchange(
        &mut e,
        READ,
        "
        00 C0 00 C0                 | 00 E0 00 E0
        00 C1 01 FE 3E              | 00 E1 01 FE 1E
        00 00 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc
        ",
    );
    assert!(!e.resynch_failed());
}

/// The card asks for our I-block again more often than allowed.
#[test]
fn repeated_retransmission_requests_escalate() {
    let config = Config {
        max_retries: 2,
        max_resynchs: 1,
        ..Config::default()
    };
    let mut e = quiet_engine(config);
    let err = exchange_err(
        &mut e,
        READ,
        "
        00 00 05 00 B0 00 00 00 lrc | 00 80 00 80
        00 00 05 00 B0 00 00 00 lrc | 00 80 00 80
        00 00 05 00 B0 00 00 00 lrc | 00 80 00 80
        00 C0 00 C0                 | 00 80 00 80
        ",
    );
    assert_eq!(err, Error::TooManyErrors);
}

// ---------------------------------------------------------------- other error paths

#[test]
fn response_bigger_than_buffer() {
    let mut e = lrc_engine(32);
    let steps = script(
        "
        00 00 05 00 B0 00 00 00 lrc | 00 20 02 01 02 lrc
        00 90 00 90                 | 00 40 02 90 00 lrc
        ",
    );
    let err = run_err(&mut e, &h(READ), 3, &steps);
    assert_eq!(err, Error::BufferTooSmall { needed: 4 });
    assert_eq!(Status::from(err), Status::BufferTooSmall);
    // The exchange completed: the next APDU continues with the right numbers.
    assert!(e.is_synchronised());
    let steps = script("00 40 05 00 B0 00 00 00 lrc | 00 00 02 90 00 lrc");
    assert_eq!(run(&mut e, &h(READ), 3, &steps), Ok(h("90 00")));
}

#[test]
fn response_longer_than_any_apdu() {
    let mut card = ModelCard::new(Edc::Lrc, 32);
    card.response_len = MAX_RESPONSE_LEN; // + SW1 SW2: two bytes too many
    let mut e = Engine::new(Config::default()).unwrap();
    let mut response = std::vec![0u8; 70_000];
    let (result, _) = drive(
        &mut e,
        &h("00 B0 00 00 00"),
        &mut response,
        &mut card,
        &mut NoFaults,
        10_000,
    );
    assert_eq!(result, Err(Error::ResponseTooLong));
    assert_eq!(
        Status::from(Error::ResponseTooLong),
        Status::DeviceProtocolError
    );
    assert!(!e.is_synchronised());
}

#[test]
fn parameter_errors() {
    for (ifsc, ifsd) in [(0, 254), (255, 254), (32, 0), (32, 255)] {
        let config = Config {
            ifsd,
            ..Config::new(ifsc, Edc::Lrc)
        };
        assert_eq!(Engine::new(config).err(), Some(Error::InvalidConfig));
    }
    assert_eq!(Status::from(Error::InvalidConfig), Status::InvalidParameter);
    assert_eq!(Status::from(Error::EmptyApdu), Status::InvalidParameter);
    assert_eq!(Status::from(Error::ApduTooLong), Status::InvalidParameter);
    let mut e = lrc_engine(32);
    let mut response = [0u8; 8];
    assert_eq!(e.transmit(&[], &mut response).err(), Some(Error::EmptyApdu));
    // Refused parameters leave the engine untouched: it was idle, and still is.
    assert!(e.is_synchronised());
}

/// A driver input to a transaction, its action dropped.
type Misuse = fn(&mut Transaction<'_>) -> Result<(), Error>;

/// Every driver input after the exchange ended (done, or failed) is refused and
/// changes nothing: the same action, and the next APDU goes on with the next N(S).
#[test]
fn inputs_after_the_end_are_refused_and_change_nothing() {
    let apdu = h("00 B0 00 00 00");
    // The card's answers that end the first exchange, and N(S) of the next I-block.
    let endings: [(&[Reply], &str); 2] = [
        (&[B(l("00 00 02 90 00"))], "00 40 05 00 B0 00 00 00"),
        // S(ABORT request), then the card's next block: failed, resynch first.
        (&[B(l("00 C2 00")), Timeout], "00 C0 00"),
    ];
    for (ending, next) in endings {
        let mut e = lrc_engine(32);
        let mut response = [0u8; 8];
        let mut tx = e.transmit(&apdu, &mut response).unwrap();
        for reply in ending {
            let _ = match reply {
                B(bytes) => tx.receive(bytes),
                Timeout => tx.timeout(),
                LineError => tx.line_error(),
            };
        }
        let end = std::format!("{:?}", tx.action());
        let misuses: [(&str, Misuse); 4] = [
            ("receive", |t| t.receive(&l("00 00 02 90 00")).map(|_| ())),
            ("receive garbage", |t| t.receive(&[0xFF]).map(|_| ())),
            ("timeout", |t| t.timeout().map(|_| ())),
            ("line_error", |t| t.line_error().map(|_| ())),
        ];
        for (what, misuse) in misuses {
            assert_eq!(
                misuse(&mut tx),
                Err(Error::NoTransaction),
                "{what} after {end}"
            );
            assert_eq!(std::format!("{:?}", tx.action()), end, "{what} changed it");
        }
        let tx = e.transmit(&apdu, &mut response).unwrap();
        let Ok(Action::Send { block, .. }) = tx.action() else {
            panic!("no block to send after {end}");
        };
        assert_eq!(block, &l(next)[..], "after {end}");
    }
}

/// A transaction abandoned mid-way makes the next one resynchronise first; a reset
/// (new ATR) restores the initial state. (Inputs after the end: the table above.)
#[test]
fn abandoned_transaction_resynchronises_and_reset_restores() {
    let mut e = lrc_engine(32);
    let apdu = h("00 B0 00 00 00");
    let mut response = [0u8; 8];
    assert_eq!(
        Status::from(Error::NoTransaction),
        Status::InvalidDeviceState
    );
    let _abandoned = e.transmit(&apdu, &mut response).unwrap();
    // Abandoned mid-way: the next APDU resynchronises first.
    let mut tx = e.transmit(&apdu, &mut response).unwrap();
    assert!(matches!(
        tx.action(),
        Ok(Action::Send {
            block: [0x00, 0xC0, 0x00, 0xC0],
            ..
        })
    ));
    let _ = tx.timeout();
    // A reset (new ATR) restores the initial state.
    e.reset();
    assert!(e.is_synchronised());
    let tx = e.transmit(&apdu, &mut response).unwrap();
    assert!(matches!(
        tx.action(),
        Ok(Action::Send {
            block: [0x00, 0x00, 0x05, ..],
            ..
        })
    ));
    assert!(tx.engine().is_synchronised());
}

#[test]
fn zero_resynchs_configured() {
    let mut e = quiet_engine(Config {
        max_retries: 0,
        max_resynchs: 0,
        ..Config::default()
    });
    let steps = script("00 00 05 00 B0 00 00 00 lrc | 00");
    let err = run_err(&mut e, &h(READ), 8, &steps);
    assert_eq!(err, Error::TooManyErrors);
    // Needs a resynch but none is allowed: refused at once, no dead transaction,
    // and so is every APDU after it until a reset.
    let apdu = h("00 B0 00 00 00");
    let mut response = [0u8; 8];
    for _ in 0..2 {
        assert_eq!(
            e.transmit(&apdu, &mut response).err(),
            Some(Error::TooManyErrors)
        );
        assert!(!e.is_synchronised());
    }
    e.reset();
    let tx = e.transmit(&apdu, &mut response).unwrap();
    assert!(matches!(
        tx.action(),
        Ok(Action::Send {
            block: [0x00, 0x00, 0x05, ..],
            ..
        })
    ));
    // Abandoned mid-way (`tx` not used again): the next APDU owes a resynch
    // too, and is refused.
    assert_eq!(
        e.transmit(&apdu, &mut response).err(),
        Some(Error::TooManyErrors)
    );
}

#[test]
fn errors_display() {
    use std::string::ToString;
    for e in [
        Error::InvalidConfig,
        Error::EmptyApdu,
        Error::ApduTooLong,
        Error::NoTransaction,
        Error::BufferTooSmall { needed: 9 },
        Error::ResponseTooLong,
        Error::Aborted,
        Error::TooManyRequests,
        Error::TooManyErrors,
        Error::Timeout,
    ] {
        assert!(!e.to_string().is_empty());
        let _: Status = e.into();
    }
    assert!(
        Error::BufferTooSmall { needed: 9 }
            .to_string()
            .contains('9')
    );
}

// ---------------------------------------------------------------- model card

/// A card following ISO/IEC 7816-3 T=1: collects the command, answers with
/// `response_len` bytes of pattern and 90 00, chaining with the announced IFSD.
struct ModelCard {
    edc: Edc,
    ifsc: usize,
    ifsd: usize,
    ns: Seq,
    nr: Seq,
    command: Vec<u8>,
    last_command: Vec<u8>,
    response: Vec<u8>,
    /// Sending the response: offset and length of the last I-block.
    sending: Option<(usize, usize)>,
    last: Vec<u8>,
    response_len: usize,
}

impl ModelCard {
    fn new(edc: Edc, ifsc: usize) -> ModelCard {
        ModelCard {
            edc,
            ifsc,
            ifsd: usize::from(DEFAULT_IFS),
            ns: Seq::Zero,
            nr: Seq::Zero,
            command: Vec::new(),
            last_command: Vec::new(),
            response: Vec::new(),
            sending: None,
            last: Vec::new(),
            response_len: 0,
        }
    }

    fn expected_response(&self) -> Vec<u8> {
        let mut r: Vec<u8> = (0..self.response_len).map(|i| (i % 251) as u8).collect();
        r.extend_from_slice(&[0x90, 0x00]);
        r
    }

    fn emit(&mut self, kind: Kind<'_>) -> Vec<u8> {
        let mut buf = [0u8; MAX_BLOCK_LEN];
        let n = Repr { nad: 0, kind }.emit(&mut buf, self.edc).unwrap();
        self.last = buf[..n].to_vec();
        self.last.clone()
    }

    fn send_i(&mut self, offset: usize) -> Vec<u8> {
        let chunk = (self.response.len() - offset).min(self.ifsd);
        let more = offset + chunk < self.response.len();
        self.sending = Some((offset, chunk));
        let inf = self.response[offset..offset + chunk].to_vec();
        self.emit(Kind::I {
            ns: self.ns,
            more,
            inf: &inf,
        })
    }

    fn answer(&mut self, block: &[u8]) -> Vec<u8> {
        let Ok(repr) = Repr::parse_bytes(block, self.edc) else {
            return self.emit(Kind::R {
                nr: self.nr,
                code: RCode::Edc,
            });
        };
        match repr.kind {
            Kind::S(SBlock::IfsRequest(n)) => {
                self.ifsd = usize::from(n);
                self.emit(Kind::S(SBlock::IfsResponse(n)))
            }
            Kind::S(SBlock::ResynchRequest) => {
                self.ns = Seq::Zero;
                self.nr = Seq::Zero;
                self.ifsd = usize::from(DEFAULT_IFS);
                self.command.clear();
                self.sending = None;
                self.emit(Kind::S(SBlock::ResynchResponse))
            }
            Kind::S(_) => self.emit(Kind::R {
                nr: self.nr,
                code: RCode::Other,
            }),
            Kind::I { ns, more, inf } => {
                if ns != self.nr {
                    // Already have it: our answer was lost; send it again.
                    return self.last.clone();
                }
                if self.sending.is_some() {
                    // A new command: the previous response was acknowledged.
                    self.sending = None;
                    self.ns = self.ns.next();
                }
                assert!(inf.len() <= self.ifsc, "IFSC exceeded");
                self.nr = self.nr.next();
                self.command.extend_from_slice(inf);
                if more {
                    return self.emit(Kind::R {
                        nr: self.nr,
                        code: RCode::Ok,
                    });
                }
                self.last_command = core::mem::take(&mut self.command);
                self.response = self.expected_response();
                self.send_i(0)
            }
            Kind::R { nr, .. } => match self.sending {
                Some((offset, chunk)) if nr != self.ns && offset + chunk < self.response.len() => {
                    self.ns = self.ns.next();
                    self.send_i(offset + chunk)
                }
                Some(_) => self.last.clone(),
                None => self.emit(Kind::R {
                    nr: self.nr,
                    code: RCode::Other,
                }),
            },
        }
    }
}

trait Faults {
    /// Possibly damage a block on its way; `None` drops it.
    fn damage(&mut self, block: Vec<u8>) -> Option<Vec<u8>>;
}

struct NoFaults;

impl Faults for NoFaults {
    fn damage(&mut self, block: Vec<u8>) -> Option<Vec<u8>> {
        Some(block)
    }
}

/// Flips, truncates or drops one block in `one_in`.
struct RandomFaults {
    rng: Rng,
    one_in: usize,
}

impl Faults for RandomFaults {
    fn damage(&mut self, mut block: Vec<u8>) -> Option<Vec<u8>> {
        if self.rng.below(self.one_in) != 0 {
            return Some(block);
        }
        match self.rng.below(3) {
            0 => None,
            1 => {
                let i = self.rng.below(block.len());
                block[i] ^= 1 << self.rng.below(8);
                Some(block)
            }
            _ => {
                block.truncate(self.rng.below(block.len()));
                Some(block)
            }
        }
    }
}

/// Run one APDU against the model card through a faulty line; returns the result
/// and the number of blocks the engine sent.
fn drive(
    engine: &mut Engine,
    apdu: &[u8],
    response: &mut [u8],
    card: &mut ModelCard,
    faults: &mut dyn Faults,
    max_steps: usize,
) -> (Result<usize, Error>, usize) {
    let mut tx = match engine.transmit(apdu, response) {
        Ok(tx) => tx,
        Err(e) => return (Err(e), 0),
    };
    let mut action = tx.action();
    let mut steps = 0;
    loop {
        match action {
            Err(e) => return (Err(e), steps),
            Ok(Action::Done { response_len }) => return (Ok(response_len), steps),
            Ok(Action::Send { block, .. }) => {
                steps += 1;
                assert!(steps <= max_steps, "no progress after {steps} blocks");
                let reply = faults.damage(block.to_vec()).map(|b| card.answer(&b));
                action = match reply.and_then(|r| faults.damage(r)) {
                    Some(r) => tx.receive(&r),
                    None => tx.timeout(),
                };
            }
        }
    }
}

#[test]
fn model_card_through_a_faulty_line() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut done = 0;
    for round in 0..300 {
        let edc = if round % 2 == 0 { Edc::Lrc } else { Edc::Crc };
        let ifsc = 1 + rng.below(254);
        let mut card = ModelCard::new(edc, ifsc);
        let mut e = Engine::new(Config::new(ifsc as u8, edc)).unwrap();
        let mut faults = RandomFaults {
            rng: Rng(rng.next_u64() | 1),
            one_in: 4 + rng.below(20),
        };
        for _ in 0..4 {
            let apdu: Vec<u8> = (0..1 + rng.below(600))
                .map(|_| rng.next_u64() as u8)
                .collect();
            card.response_len = rng.below(700);
            let mut response = std::vec![0u8; 1000];
            let (result, _) = drive(
                &mut e,
                &apdu,
                &mut response,
                &mut card,
                &mut faults,
                100_000,
            );
            match result {
                Ok(n) => {
                    assert_eq!(card.last_command, apdu);
                    assert_eq!(&response[..n], &card.expected_response()[..]);
                    done += 1;
                }
                Err(err) => assert!(
                    matches!(err, Error::TooManyErrors | Error::Timeout | Error::Aborted),
                    "{err:?}"
                ),
            }
        }
    }
    // Faults are rare enough that nearly every exchange recovers.
    assert!(done > 1000, "only {done} of 1200 exchanges completed");
}

// ---------------------------------------------------------------- random replies

/// A hostile card: random mixtures of valid blocks of every kind, garbage, time-outs.
/// The engine must never panic and always end within a bounded number of blocks.
#[test]
fn random_replies_always_terminate() {
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let mut outcomes: std::collections::BTreeMap<std::string::String, usize> = Default::default();
    for round in 0..3000 {
        let edc = if rng.below(2) == 0 {
            Edc::Lrc
        } else {
            Edc::Crc
        };
        let config = Config {
            ifsc: 1 + rng.below(254) as u8,
            ifsd: 1 + rng.below(254) as u8,
            edc,
            nad: if rng.below(4) == 0 {
                rng.next_u64() as u8 & 0x77
            } else {
                0
            },
            send_ifs_request: rng.below(2) == 0,
            max_retries: rng.below(5) as u8,
            max_resynchs: rng.below(5) as u8,
            max_card_requests: rng.below(50) as u16,
        };
        let mut e = Engine::new(config).unwrap();
        for _ in 0..3 {
            let apdu: Vec<u8> = (0..1 + rng.below(if round % 10 == 0 { 3000 } else { 40 }))
                .map(|_| rng.next_u64() as u8)
                .collect();
            let mut response = std::vec![0u8; rng.below(600)];
            let out_blocks = apdu.len() + 1;
            let bound = (usize::from(config.max_resynchs) + 1)
                * (out_blocks + MAX_RESPONSE_LEN + 2)
                * (usize::from(config.max_retries) + 2)
                + (usize::from(config.max_card_requests) + 1)
                    * (usize::from(config.max_retries) + 2);
            // Every exchange runs to its end: only a failed one leaves a
            // resynchronisation owed, which no resynch allowed refuses.
            let owed = !e.is_synchronised() && config.max_resynchs == 0;
            let mut tx = match e.transmit(&apdu, &mut response) {
                Ok(tx) => tx,
                Err(refusal) => {
                    assert!(owed, "round {round}: refused with {refusal:?}");
                    assert_eq!(refusal, Error::TooManyErrors);
                    *outcomes.entry("refused".into()).or_default() += 1;
                    continue;
                }
            };
            assert!(
                !owed,
                "round {round}: began owing a resynch with none allowed"
            );
            let mut action = tx.action();
            assert!(matches!(action, Ok(Action::Send { .. })), "round {round}");
            let mut steps = 0usize;
            while let Ok(Action::Send { block, .. }) = action {
                assert!(block.len() >= 4 && block.len() <= MAX_BLOCK_LEN);
                steps += 1;
                assert!(steps <= bound, "round {round}: no end after {steps} blocks");
                let nad = config.nad.rotate_left(4);
                action = match rng.below(10) {
                    0 => tx.timeout(),
                    1 => tx.line_error(),
                    2 => {
                        let garbage: Vec<u8> =
                            (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
                        tx.receive(&garbage)
                    }
                    _ => {
                        let inf: Vec<u8> =
                            (0..rng.below(260)).map(|_| rng.next_u64() as u8).collect();
                        let seq = if rng.below(2) == 0 {
                            Seq::Zero
                        } else {
                            Seq::One
                        };
                        let n = rng.next_u64() as u8;
                        let kind = match rng.below(12) {
                            0..=3 => Kind::I {
                                ns: seq,
                                more: rng.below(2) == 0,
                                inf: &inf[..inf.len().min(MAX_INF_LEN)],
                            },
                            4..=6 => Kind::R {
                                nr: seq,
                                code: RCode::Ok,
                            },
                            7 => Kind::S(SBlock::WtxRequest(n.max(1))),
                            8 => Kind::S(SBlock::IfsRequest(clamp_ifs(n))),
                            9 => Kind::S(SBlock::AbortRequest),
                            10 => Kind::S(SBlock::ResynchResponse),
                            _ => Kind::S(SBlock::IfsResponse(clamp_ifs(n))),
                        };
                        let mut buf = [0u8; MAX_BLOCK_LEN];
                        let len = Repr { nad, kind }.emit(&mut buf, edc).unwrap();
                        tx.receive(&buf[..len])
                    }
                };
            }
            let (key, done_len) = match action {
                Ok(Action::Done { response_len }) => ("Done".into(), Some(response_len)),
                Ok(Action::Send { .. }) => unreachable!(),
                Err(e) => (std::format!("{e:?}"), None),
            };
            if let Some(n) = done_len {
                assert_eq!(tx.response().len(), n);
            }
            *outcomes
                .entry(key.split(' ').next().unwrap_or("").into())
                .or_default() += 1;
        }
    }
    std::eprintln!("{outcomes:?}");
    for kind in [
        "Done",
        "Aborted",
        "TooManyErrors",
        "TooManyRequests",
        "BufferTooSmall",
        "refused",
    ] {
        assert!(
            outcomes.get(kind).copied().unwrap_or(0) > 10,
            "{kind}: {outcomes:?}"
        );
    }
}

/// Endless silence ends within the documented bound for every configuration.
#[test]
fn unanswered_exchanges_end_within_the_documented_bound() {
    for retries in 0..4u8 {
        for resynchs in 0..4u8 {
            let config = Config {
                max_retries: retries,
                max_resynchs: resynchs,
                ..Config::default()
            };
            let mut e = Engine::new(config).unwrap();
            let apdu = [0u8; 100];
            let mut response = [0u8; 8];
            let mut tx = e.transmit(&apdu, &mut response).unwrap();
            let mut action = tx.action();
            let mut steps = 0;
            while let Ok(Action::Send { .. }) = action {
                steps += 1;
                action = tx.timeout();
            }
            let r = usize::from(retries);
            assert_eq!(steps, (r + 1) + (r + 1) + usize::from(resynchs));
            assert_eq!(action, Err(Error::Timeout));
        }
    }
}

// ---------------------------------------------------------------- what stays behind

/// A VERIFY with the PIN 1234 (ASCII, FF padded), as a PIN pad sends it.
const VERIFY_1234: &str = "00 20 00 80 08 31 32 33 34 FF FF FF FF";
/// The PIN's bytes as `Debug` shows them.
const PIN_DEBUG: &str = "49, 50, 51, 52";

/// The block buffer holds the command while the transaction runs (the engine's
/// `Debug` shows it) and nothing once it is over: completed, failed, or
/// abandoned half-way and followed by the next transmit.
#[test]
fn the_command_is_wiped_when_the_exchange_ends() {
    let mut engine = lrc_engine(32);
    let mut response = [0u8; 16];
    let apdu = h(VERIFY_1234);
    let tx = engine.transmit(&apdu, &mut response).unwrap();
    assert!(std::format!("{:?}", tx.engine()).contains(PIN_DEBUG));

    // Abandoned: the next one wipes it as it begins, before its first block (an
    // S(RESYNCH request), shorter than the VERIFY's I-block) is written.
    let select = h(SELECT);
    let tx = engine.transmit(&select, &mut response).unwrap();
    assert!(
        matches!(tx.action(), Ok(Action::Send { block, .. }) if block == l("00 C0 00")),
        "the next transaction resynchronises first"
    );
    let shown = std::format!("{:?}", tx.engine());
    assert!(!shown.contains(PIN_DEBUG), "abandoned: {shown}");

    // That one abandoned too: the next resynchronises, then sends its command.
    let answer = exchange(
        &mut engine,
        VERIFY_1234,
        "00 C0 00 lrc | 00 E0 00 lrc
         00 00 0D 00 20 00 80 08 31 32 33 34 FF FF FF FF lrc | 00 00 02 90 00 lrc",
    );
    assert_eq!(answer, [0x90, 0x00]);
    assert!(!std::format!("{engine:?}").contains(PIN_DEBUG), "completed");

    let error = exchange_err(
        &mut engine,
        VERIFY_1234,
        "00 40 0D 00 20 00 80 08 31 32 33 34 FF FF FF FF lrc | 00 C2 00 lrc
         00 E2 00 lrc | timeout",
    );
    assert_eq!(error, Error::Aborted, "{error:?}");
    assert!(!std::format!("{engine:?}").contains(PIN_DEBUG), "failed");

    // A reset wipes what an abandoned transaction left.
    engine.reset();
    let tx = engine.transmit(&apdu, &mut response).unwrap();
    assert!(std::format!("{:?}", tx.engine()).contains(PIN_DEBUG));
    engine.reset();
    assert!(!std::format!("{engine:?}").contains(PIN_DEBUG), "reset");
}

/// `Transaction::abandon` ends an unfinished transaction in place: its command is
/// wiped at once, its steps are refused, and the next transmit resynchronises
/// first, as after a transaction dropped unfinished.
#[test]
fn abandon_ends_a_transaction_in_place() {
    let mut engine = lrc_engine(32);
    let mut response = [0u8; 16];
    let apdu = h(VERIFY_1234);
    let mut tx = engine.transmit(&apdu, &mut response).unwrap();
    assert!(std::format!("{:?}", tx.engine()).contains(PIN_DEBUG));
    tx.abandon();
    assert!(!std::format!("{:?}", tx.engine()).contains(PIN_DEBUG));
    assert_eq!(tx.action().err(), Some(Error::NoTransaction));
    assert_eq!(
        tx.receive(&l("00 00 02 90 00")).err(),
        Some(Error::NoTransaction)
    );
    assert_eq!(tx.timeout().err(), Some(Error::NoTransaction));
    assert!(!tx.engine().is_synchronised());
    let answer = exchange(
        &mut engine,
        SELECT,
        "00 C0 00 lrc | 00 E0 00 lrc
         00 00 07 00 A4 04 00 02 3F 00 lrc | 00 00 02 90 00 lrc",
    );
    assert_eq!(answer, [0x90, 0x00]);
}
