//! The third stack of the differential test (`tests/stacks.rs`): vsmartcard's
//! virtual card `vicc`, a real card emulator written apart from readerkit, behind
//! a vpcd reader, next to readerkit's `sim:` reader and its simulated card, all
//! in one pcscd, one `pcsc`-crate client script on each.
//!
//! vicc is another card, so only what two cards must agree on is compared:
//! what pcscd says of the handle and the reader, status words of commands
//! every ISO/IEC 7816-4 card answers alike, response lengths, and the errors a
//! reader gives malformed APDUs and short client buffers; each difference is
//! listed with its reason in [`EXPECTED`] (one that vanishes fails too).
//!
//! vicc runs twice: behind readerkit's IFD handler (`vpcd:PORT`) and behind
//! Debian's own vpcd driver (`libifdvpcd.so`). Those two carry the same card,
//! so every step must agree between them, except where [`VPCD_EXPECTED`] says
//! why not.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use pcsc::{Card, Context, Disposition, Error, Protocols, Scope, ShareMode, State};
use readerkit_testkit::apdu::{SELECT_MF, get_challenge};
use readerkit_testkit::pcsc::{reader, reader_names, reader_state};
use readerkit_testkit::pcscd::free_port_runs;
use readerkit_testkit::thread::hang_guarded_for;
use readerkit_testkit::vicc::{DEBIAN_VPCD, Vicc, require_debian_vpcd};
use support::{
    Answers, Entry, Pcscd, answer_of, compare_steps, hex, ifd_driver, reconnect_each, record,
    stale_differences, tx, wait_card,
};

/// A response's status word, or the error.
fn sw(r: Result<Vec<u8>, Error>) -> Result<String, Error> {
    r.map(|b| hex(&b[b.len().saturating_sub(2)..]))
}

/// SCardStatus without the ATR (each card has its own): state and protocol.
fn status(card: &Card) -> Result<String, Error> {
    let s = card.status2_owned()?;
    Ok(format!("{:?} {:?}", s.status(), s.protocol2()))
}

fn connect(ctx: &Context, name: &str) -> Result<Card, Error> {
    ctx.connect(&reader(name), ShareMode::Shared, Protocols::ANY)
}

/// The comparable script on reader `name`; with `malformed`, malformed APDUs
/// last.
fn script(ctx: &Context, name: &str, malformed: bool) -> Answers {
    let mut a = Answers::new();
    assert!(
        wait_card(ctx, name, true, Duration::from_secs(15)),
        "a card in {name}"
    );
    let mut card = connect(ctx, name).expect("connect");
    record(&mut a, "status after connect", status(&card));
    let apdus: [(&str, &[u8]); 5] = [
        ("SELECT MF", &SELECT_MF),
        ("SELECT MF by path", &[0x00, 0xA4, 0x08, 0x0C, 0x00]),
        ("unknown INS", &[0x00, 0x12, 0x00, 0x00]),
        ("INS 6x (invalid)", &[0x00, 0x60, 0x00, 0x00]),
        ("class FF", &[0xFF, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]),
    ];
    for (what, apdu) in apdus {
        record(&mut a, format!("SW {what}"), sw(tx(&card, apdu)));
    }
    let r = tx(&card, &get_challenge(8)).map(|r| r.len());
    record(&mut a, "GET CHALLENGE 8 (length)", r);
    // A 10-byte answer for a 4-byte buffer.
    let mut small = [0u8; 4];
    let r = card.transmit2(&get_challenge(8), &mut small).map(hex);
    record(&mut a, "GET CHALLENGE into 4 bytes", r);
    record(&mut a, "SW after that", sw(tx(&card, &SELECT_MF)));
    reconnect_each(
        &mut card,
        &mut a,
        status,
        ("SW", |card: &Card| sw(tx(card, &SELECT_MF))),
    );
    // Another handle resets the card.
    match connect(ctx, name) {
        Ok(mut other) => {
            let r = other.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::ResetCard);
            record(&mut a, "second handle resets", r);
        }
        Err(e) => record(&mut a, "second handle resets", Err::<(), _>(e)),
    }
    let r = sw(tx(&card, &SELECT_MF));
    record(&mut a, "transmit after the other's reset", r);
    record(&mut a, "status after the other's reset", status(&card));
    for disposition in [Disposition::LeaveCard, Disposition::UnpowerCard] {
        let r = card.disconnect(disposition).map_err(|(_, e)| e);
        record(&mut a, format!("disconnect {disposition:?}"), r);
        let state = reader_state(ctx, name).event_state();
        let state = state & (State::PRESENT | State::EMPTY | State::MUTE);
        record(
            &mut a,
            format!("reader after disconnect {disposition:?}"),
            state,
        );
        card = match connect(ctx, name) {
            Ok(card) => card,
            Err(e) => {
                record(
                    &mut a,
                    format!("connect after disconnect {disposition:?}"),
                    e,
                );
                return a;
            }
        };
        record(
            &mut a,
            format!("status after disconnect {disposition:?} and connect"),
            status(&card),
        );
    }
    if !malformed {
        return a;
    }
    for (what, apdu) in [
        ("1 byte", &[0x00][..]),
        (
            "Lc 5 with 2 bytes",
            &[0x00, 0xA4, 0x00, 0x0C, 0x05, 0x3F, 0x00][..],
        ),
        (
            "Lc 3 with 2 bytes",
            &[0x00, 0xA4, 0x00, 0x0C, 0x03, 0x3F, 0x00][..],
        ),
        ("3 bytes", &[0x00, 0xA4, 0x00][..]),
    ] {
        record(&mut a, format!("malformed {what}"), sw(tx(&card, apdu)));
    }
    record(&mut a, "SW after malformed", sw(tx(&card, &SELECT_MF)));
    a
}

/// How long one reader's [`script`] may run: a hang guard, not a speed check (a
/// run takes seconds; the wait for the card alone may take 15 s). A call blocked
/// in pcscd (a vpcd reader waiting on a vicc that never answers) fails the test
/// instead of hanging CI; the test's pcscd and vicc end as it unwinds.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

/// [`script`] on its own thread under [`SCRIPT_LIMIT`].
fn guarded_script(ctx: &Context, name: String, malformed: bool) -> Answers {
    let ctx = ctx.clone();
    hang_guarded_for(&format!("script on {name}"), SCRIPT_LIMIT, move || {
        script(&ctx, &name, malformed)
    })
}

/// Steps whose answers differ between readerkit's simulated card (`sim:t1`)
/// and vicc behind readerkit's `vpcd:` reader, and why that is right.
const EXPECTED: &[(&str, &str)] = &[
    (
        "SW SELECT MF by path",
        "the cards' own: the simulated card's SELECT takes P1 00 and 04 only (6A 86, \
         wrong P1-P2, for P1 08); vicc selects the MF by an empty path (90 00)",
    ),
    (
        "SW class FF",
        "the cards' own: the simulated card refuses class FF (6E 00, class not \
         supported); vicc reads its secure-messaging bits and answers 69 88 \
         (incorrect SM data objects)",
    ),
];

/// Steps whose answers differ between vicc behind readerkit's `vpcd:` reader
/// and vicc behind Debian's vpcd, and why that is right. None: the malformed
/// APDUs are not sent to Debian's vpcd, which passes them to the card as they
/// are: in a run of this script a 3-byte APDU got an empty response (Ok, 0
/// bytes) and ended vicc (every later call NOT_TRANSACTED or NO_SMARTCARD, the
/// reader empty), and with the 1-byte APDU sent first the run hung in a step
/// on Debian's reader (not pinned down further); readerkit's `vpcd:` reader
/// refuses them before the card (NOT_TRANSACTED), as libccid does.
const VPCD_EXPECTED: &[(&str, &str)] = &[];

/// Compare `left` and `right` step by step: equal answers except where
/// `allowed` (step prefix, reason) gives a reason; a listed difference that
/// no step shows is a failure too. Returns the failures.
fn compare(
    labels: [&str; 2],
    allowed: &[(&str, &str)],
    left: &Answers,
    right: &Answers,
) -> Vec<String> {
    let mut failures = Vec::new();
    // Steps in the order they ran; one a side did not take is "absent" there.
    let differed = compare_steps(
        labels,
        allowed,
        (left, right),
        |_, _, _| false,
        &mut failures,
    );
    let stale = stale_differences(allowed, &differed);
    failures.extend(stale.into_iter().map(|f| format!("{f} ({labels:?})")));
    failures
}

#[test]
fn sim_card_and_vicc_agree_on_what_cards_share() {
    require_debian_vpcd();
    // Debian's vpcd listens on its port and the next (two slots).
    let ports = free_port_runs(&[1, 2]);
    let ours = format!("vpcd:{}", ports[0]);
    let debian = format!("/dev/null:{}", ports[1]);
    let ifd = ifd_driver();
    let mut pcscd = Pcscd::start(&[
        Entry {
            name: "RK Sim",
            device: "sim:t1",
            lib: &ifd,
        },
        Entry {
            name: "RK VPCD",
            device: &ours,
            lib: &ifd,
        },
        Entry {
            name: "Debian VPCD",
            device: &debian,
            lib: Path::new(DEBIAN_VPCD),
        },
    ]);
    let ctx = Context::establish(Scope::User).expect("establish context");
    let _vicc_ours = Vicc::start(ports[0]);
    let _vicc_debian = Vicc::start(ports[1]);
    let names = reader_names(&ctx);
    let named = |prefix: &str| {
        names
            .iter()
            .find(|n| n.starts_with(prefix) && n.ends_with(" 00"))
            .unwrap_or_else(|| panic!("no reader {prefix} in {names:?}"))
            .clone()
    };
    let sim = guarded_script(&ctx, named("RK Sim"), true);
    let vpcd = guarded_script(&ctx, named("RK VPCD"), true);
    let debian = guarded_script(&ctx, named("Debian VPCD"), false);
    eprintln!("== sim:t1 vs vicc on readerkit's vpcd:");
    let mut failures = compare(["sim", "vicc"], EXPECTED, &sim, &vpcd);
    eprintln!("== vicc on readerkit's vpcd: vs vicc on Debian's vpcd");
    // Debian's vpcd gets no malformed APDU: the same steps without them (all
    // of readerkit's if its script ended early: the steps it missed then show).
    let before_malformed = vpcd.get(..debian.len()).unwrap_or(&vpcd).to_vec();
    failures.extend(compare(
        ["readerkit", "debian"],
        VPCD_EXPECTED,
        &before_malformed,
        &debian,
    ));
    // What they must say, not only alike.
    for (step, said) in [
        (
            "status after connect",
            "Ok(\"Status(PRESENT | POWERED | NEGOTIABLE) Some(T1)\")",
        ),
        ("SW SELECT MF", "Ok(\"90 00\")"),
        ("SW unknown INS", "Ok(\"6D 00\")"),
        ("GET CHALLENGE 8 (length)", "Ok(10)"),
        ("malformed 3 bytes", "Err(NotTransacted)"),
        ("SW after malformed", "Ok(\"90 00\")"),
    ] {
        assert_eq!(answer_of(&vpcd, step), Some(said), "{step}");
    }
    drop(ctx);
    assert!(pcscd.stop(), "pcscd exits on SIGINT");
    assert!(
        failures.is_empty(),
        "the answers differ:\n{}",
        failures.join("\n")
    );
}
