//! One card, two PC/SC stacks, one client script: what a client sees of a reader
//! must not depend on which of readerkit's stacks carries the card.
//!
//! - stack 1: readerkit's IFD handler (`libifd_readerkit.so`) with `sim:t0` and
//!   `sim:t1` readers;
//! - stack 2: Debian's libccid (`libccidtwin.so`) talking to `readerkit ccid-serve`
//!   over a pseudo-terminal, with the same simulated T=0 and T=1 cards: once at
//!   libccid's default TPDU level (SEC1210 profile, two slots), once at the short
//!   APDU level (GemPC Twin profile, libccid's driver option 2), where readerkit's
//!   core behind the CCID device runs the protocol.
//!
//! Both stacks run in one pcscd (socket-activated, private), one pcscd per level. The same script
//! ([`script`]) runs on each reader; its answers, step by step, must agree
//! between the stacks, except for the steps in [`EXPECTED`], each with its reason
//! (a difference that vanishes is a failure too, so the list stays true). libccid
//! is the reference for what pcscd and its clients expect of a reader.
//!
//! (Stack 3, vsmartcard's vicc behind the IFD handler's `vpcd:` reader and
//! behind Debian's vpcd, carries a different card: `tests/stacks_vicc.rs`
//! compares what two cards share.)

#[path = "support/mod.rs"]
mod support;

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use pcsc::{Attribute, Card, Context, Disposition, Error, Protocols, Scope, ShareMode, ctl_code};
use readerkit_testkit::apdu::{SELECT_MF, get_challenge};
use readerkit_testkit::pcsc::{reader, reader_names, reader_state};
use support::{
    Answers, Entry, LIBCCIDTWIN, Libccid, Pcscd, Serve, answer_of, compare_steps, echo,
    feature_list, hex, ifd_driver, property, reconnect_each, record, stale_differences,
    start_pcscd, tlv_properties, tx, wait_card,
};

const ATR_T1: &str = "3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF";
const ATR_T0: &str = "3B 1B 95 80 65 52 4B 53 49 4D 73 10 21 40";

/// `SCARD_CTL_CODE(3501)`: the `sim:` reader's slot switch (0 out, 1 in).
const SIM_CARD: u64 = ctl_code(3501);

/// At which level libccid talks to `ccid-serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// libccid's default for a serial reader: TPDUs, libccid runs T=0 and T=1
    /// itself (SEC1210 profile, a T=0 card in slot 0, a T=1 card in slot 1).
    Tpdu,
    /// libccid's driver option 2 (GemPC Twin profile, a T=1 card): short APDUs,
    /// readerkit's core behind the CCID device runs the protocol.
    ShortApdu,
}

/// Steps whose answers differ between the stacks (at the given libccid levels),
/// and why that is right.
const EXPECTED: &[(&[Level], &str, &str)] = &[
    (
        &[Level::Tpdu, Level::ShortApdu],
        "attribute VendorName",
        "libccid takes it from the USB iManufacturer string; a serial reader has none (empty)",
    ),
    (
        &[Level::Tpdu, Level::ShortApdu],
        "attribute VendorIfdVersion",
        "libccid takes it from the USB bcdDevice; a serial reader has none (0)",
    ),
    (
        &[Level::Tpdu, Level::ShortApdu],
        "attribute VendorIfdSerialNo",
        "libccid takes it from the USB iSerialNumber; a serial reader has none (empty)",
    ),
    (
        &[Level::Tpdu, Level::ShortApdu],
        "attribute Maxinput",
        "each reader's own: the sim reader takes extended APDUs (65544), the CCID \
         reader's dwMaxCCIDMessageLength 271 less the 10-byte header (261)",
    ),
    (
        &[Level::Tpdu, Level::ShortApdu],
        "attribute (libccid lacks)",
        "libccid answers only the ATR, presence, interface status, vendor, MAXINPUT \
         and (USB only) channel attributes; readerkit's core answers every PC/SC part 3 \
         reader and card attribute it knows (UNSUPPORTED_FEATURE vs a value)",
    ),
    (
        &[Level::Tpdu, Level::ShortApdu],
        "feature list",
        "the sim reader has a PIN pad (VERIFY/MODIFY_PIN_DIRECT, IFD_PIN_PROPERTIES), \
         the CCID readers none",
    ),
    (
        &[Level::Tpdu, Level::ShortApdu],
        "control SCARD_CTL_CODE(1)",
        "libccid refuses the CCID Escape (IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE) unless its \
         driver option allows it, with IFD_COMMUNICATION_ERROR; the sim reader has no \
         escape: IFD_ERROR_NOT_SUPPORTED, as ifdhandler.h asks for an unsupported code",
    ),
    (
        &[Level::Tpdu],
        "transmit case 4E ECHO 1000 at T=0",
        "libccid at the TPDU level sends no extended APDU at T=0 (NOT_TRANSACTED); \
         readerkit's T=0 engine carries it in ENVELOPE commands (ISO/IEC 7816-4 5.2, \
         the sim card takes them)",
    ),
    (
        &[Level::Tpdu],
        "transmit malformed",
        "at T=1 libccid (TPDU) passes any bytes to the card, which answers 67 00; \
         readerkit's core refuses a command APDU whose length fields lie before the \
         card (INVALID_PARAMETER, as Windows' HLK expects), as libccid does at T=0 \
         and as the CCID device does at the short APDU level",
    ),
    (
        &[Level::ShortApdu],
        "property dwMaxAPDUDataSize",
        "libccid says 0 (short APDUs only) of a reader it talks short APDUs to",
    ),
    (
        &[Level::ShortApdu],
        "transmit case 4E ECHO 1000 at T=1",
        "libccid sends no APDU longer than a short one at the short APDU level \
         (NOT_TRANSACTED); the sim reader takes extended APDUs",
    ),
];

/// How a reader's card is taken out and put back.
enum Slot<'a> {
    /// The `sim:` reader's slot switch, through a direct connection.
    Sim,
    /// `ccid-serve`'s stdin, for slot N.
    Serve(&'a mut Serve, usize),
}

impl Slot<'_> {
    fn set(&mut self, ctx: &Context, name: &str, present: bool) {
        match self {
            Slot::Sim => {
                let direct = ctx
                    .connect(&reader(name), ShareMode::Direct, Protocols::UNDEFINED)
                    .expect("direct connection");
                let mut buf = [0u8; 4];
                direct
                    .control(SIM_CARD, &[u8::from(present)], &mut buf)
                    .expect("sim slot switch");
                let _ = direct.disconnect(Disposition::LeaveCard);
            }
            Slot::Serve(serve, slot) if present => serve.insert(*slot),
            Slot::Serve(serve, slot) => serve.remove(*slot),
        }
        assert!(
            wait_card(ctx, name, present, Duration::from_secs(5)),
            "{name}: card present = {present} seen"
        );
    }
}

/// What an old handle gets `when` (after another's reset, a removal, an
/// insertion): SCardTransmit, SCardStatus, then SCardReconnect leaving the card.
fn probe_handle(a: &mut Answers, card: &mut Card, when: &str) {
    record(a, format!("transmit {when}"), ok_hex(tx(card, &SELECT_MF)));
    record(a, format!("status {when}"), status(card));
    let r = card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard);
    record(a, format!("reconnect {when}"), r);
}

/// SCardStatus: state, protocol, ATR.
fn status(card: &Card) -> Result<String, Error> {
    let s = card.status2_owned()?;
    Ok(format!(
        "{:?} {:?} {}",
        s.status(),
        s.protocol2(),
        hex(s.atr())
    ))
}

fn ok_hex(r: Result<Vec<u8>, Error>) -> Result<String, Error> {
    r.map(|b| hex(&b))
}

fn connect(ctx: &Context, name: &str) -> Result<Card, Error> {
    ctx.connect(&reader(name), ShareMode::Shared, Protocols::ANY)
}

/// The attributes libccid answers UNSUPPORTED_FEATURE for (of a serial reader)
/// and readerkit's core answers.
const LIBCCID_LACKS: [Attribute; 21] = [
    Attribute::VendorIfdType,
    Attribute::ChannelId,
    Attribute::CurrentProtocolType,
    Attribute::DefaultClk,
    Attribute::MaxClk,
    Attribute::DefaultDataRate,
    Attribute::MaxDataRate,
    Attribute::MaxIfsd,
    Attribute::CurrentClk,
    Attribute::CurrentF,
    Attribute::CurrentD,
    Attribute::CurrentN,
    Attribute::CurrentW,
    Attribute::CurrentIfsc,
    Attribute::CurrentIfsd,
    Attribute::CurrentBwt,
    Attribute::CurrentCwt,
    Attribute::CurrentEbcEncoding,
    Attribute::AsyncProtocolTypes,
    Attribute::PowerMgmtSupport,
    Attribute::Characteristics,
];

/// The attributes both stacks answer alike (a value, or UNSUPPORTED_FEATURE from
/// both), or each its own reader's value.
const ATTRIBUTES: [Attribute; 12] = [
    Attribute::AtrString,
    Attribute::IccPresence,
    Attribute::IccInterfaceStatus,
    Attribute::VendorName,
    Attribute::VendorIfdVersion,
    Attribute::VendorIfdSerialNo,
    Attribute::Maxinput,
    Attribute::SyncProtocolTypes,
    Attribute::DeviceUnit,
    Attribute::DeviceFriendlyName,
    Attribute::DeviceSystemName,
    Attribute::ExtendedBwt,
];

/// The client script: every answer a client can get from the reader `name` with
/// one card in it, recorded step by step.
fn script(ctx: &Context, name: &str, slot: &mut Slot<'_>) -> Answers {
    let mut a = Answers::new();
    assert!(wait_card(ctx, name, true, Duration::from_secs(5)));
    let mut card = connect(ctx, name).expect("connect");
    record(&mut a, "status after connect", status(&card));

    let labelled = ATTRIBUTES.iter().map(|a| ("", a));
    let lacking = LIBCCID_LACKS.iter().map(|a| ("(libccid lacks) ", a));
    for (label, &attribute) in labelled.chain(lacking) {
        let value = ok_hex(card.get_attribute_owned(attribute));
        record(&mut a, format!("attribute {label}{attribute:?}"), value);
    }
    let mut small = [0u8; 2];
    let atr = card
        .get_attribute(Attribute::AtrString, &mut small)
        .map(hex);
    record(&mut a, "ATR_STRING into 2 bytes", atr);
    let mut empty = [0u8; 0];
    let presence = card
        .get_attribute(Attribute::IccPresence, &mut empty)
        .map(hex);
    record(&mut a, "ICC_PRESENCE into 0 bytes", presence);

    reconnect_each(
        &mut card,
        &mut a,
        status,
        ("SELECT", |card: &Card| ok_hex(tx(card, &SELECT_MF))),
    );

    control(&card, &mut a);
    transmit(&card, &mut a);

    for disposition in [
        Disposition::LeaveCard,
        Disposition::ResetCard,
        Disposition::UnpowerCard,
        Disposition::EjectCard,
    ] {
        let r = card.disconnect(disposition).map_err(|(_, e)| e);
        record(&mut a, format!("disconnect {disposition:?}"), r);
        let state = reader_state(ctx, name).event_state();
        let state = state & (pcsc::State::PRESENT | pcsc::State::EMPTY | pcsc::State::MUTE);
        record(
            &mut a,
            format!("reader after disconnect {disposition:?}"),
            state,
        );
        card = connect(ctx, name).expect("connect again");
        record(
            &mut a,
            format!("status after disconnect {disposition:?} and connect"),
            status(&card),
        );
    }

    // Another handle resets the card.
    let mut other = connect(ctx, name).expect("a second handle");
    let r = other.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::ResetCard);
    record(&mut a, "second handle resets", r);
    probe_handle(&mut a, &mut card, "after the other's reset");
    record(&mut a, "SELECT after that", ok_hex(tx(&card, &SELECT_MF)));
    drop(other);

    // The card is taken out while connected, then put back.
    slot.set(ctx, name, false);
    probe_handle(&mut a, &mut card, "after removal");
    record(&mut a, "connect without a card", connect(ctx, name).err());
    slot.set(ctx, name, true);
    probe_handle(&mut a, &mut card, "after insertion");
    let r = ok_hex(tx(&card, &SELECT_MF));
    record(&mut a, "SELECT on the reconnected handle", r);
    let new = connect(ctx, name).expect("connect to the new card");
    record(&mut a, "status of a new handle", status(&new));
    a
}

/// CM_IOCTL_GET_FEATURE_REQUEST, the TLV properties, codes nobody has.
fn control(card: &Card, a: &mut Answers) {
    let mut buf = [0u8; 256];
    let features = feature_list(card);
    let tags: Vec<u8> = features.iter().map(|(tag, _)| *tag).collect();
    record(a, "feature list", &tags);
    let code = |tag: u8| features.iter().find(|(t, _)| *t == tag).map(|(_, c)| *c);
    // FEATURE_CCID_ESC_COMMAND (13): neither reader has it (the PIN pad's
    // features, the sim reader's, are compared by the PIN pad test).
    record(a, "feature CCID_ESC_COMMAND", code(0x13));
    let tlv = code(0x12).expect("FEATURE_GET_TLV_PROPERTIES");
    let properties = tlv_properties(card);
    let value = |tag: u8| property(&properties, tag).map(hex);
    // wLcdLayout (none) and dwMaxAPDUDataSize, what both readers report.
    record(a, "property wLcdLayout", value(0x01));
    record(a, "property dwMaxAPDUDataSize", value(0x0A));
    // The answer into a buffer too small for it.
    let mut small = [0u8; 3];
    let r = card.control(tlv, &[], &mut small).map(hex);
    record(a, "TLV properties into 3 bytes", r);
    // A vendor code of nobody's, and the CCID escape.
    let r = card.control(ctl_code(3600), &[0xAA], &mut buf).map(hex);
    record(a, "control SCARD_CTL_CODE(3600)", r);
    let r = card.control(ctl_code(1), &[0xAA], &mut buf).map(hex);
    record(a, "control SCARD_CTL_CODE(1)", r);
}

/// Each APDU case, Le = 00, extended APDUs, malformed ones, a response bigger
/// than the client's buffer.
fn transmit(card: &Card, a: &mut Answers) {
    let protocol = match card.status2_owned().map(|s| s.protocol2()) {
        Ok(Some(pcsc::Protocol::T0)) => "T=0",
        Ok(Some(pcsc::Protocol::T1)) => "T=1",
        other => panic!("a card in T=0 or T=1: {other:?}"),
    };
    let data255: Vec<u8> = (0..255u8).collect();
    let data1000: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
    let apdus: [(&str, Vec<u8>); 8] = [
        ("case 1", vec![0x00, 0xA4, 0x00, 0x0C]),
        ("case 3", SELECT_MF.to_vec()),
        ("case 4 ECHO 2", echo(&[0xAB, 0xCD])),
        ("case 2 ECHO Le=00", vec![0x80, 0xEE, 0, 0, 0x00]),
        ("case 4 ECHO 255 Le=00", echo(&data255)),
        (
            "case 4E ECHO 3",
            vec![0x80, 0xEE, 0, 0, 0, 0, 3, 1, 2, 3, 0, 0],
        ),
        ("case 2E Le=0000", vec![0x80, 0xEE, 0, 0, 0, 0, 0]),
        ("unknown INS", vec![0x00, 0x12, 0x00, 0x00]),
    ];
    for (what, apdu) in apdus {
        record(a, format!("transmit {what}"), ok_hex(tx(card, &apdu)));
    }
    let r = tx(card, &echo(&data1000)).map(|r| {
        (
            r.len(),
            r.get(..1000) == Some(&data1000[..]),
            hex(&r[r.len().saturating_sub(2)..]),
        )
    });
    record(a, format!("transmit case 4E ECHO 1000 at {protocol}"), r);
    let r = tx(card, &get_challenge(8)).map(|r| r.len());
    record(a, "transmit GET CHALLENGE 8 (length)", r);
    for (what, apdu) in [
        ("3 bytes", &[0x00, 0xA4, 0x00][..]),
        ("1 byte", &[0x00][..]),
        (
            "Lc 5 with 2 bytes",
            &[0x00, 0xA4, 0x00, 0x0C, 0x05, 0x3F, 0x00][..],
        ),
        (
            "Lc 3 with 2 bytes",
            &[0x00, 0xA4, 0x00, 0x0C, 0x03, 0x3F, 0x00][..],
        ),
    ] {
        record(
            a,
            format!("transmit malformed {what}"),
            ok_hex(tx(card, apdu)),
        );
    }
    record(a, "transmit after malformed", ok_hex(tx(card, &SELECT_MF)));
    // A 10-byte answer for a 4-byte buffer.
    let mut small = [0u8; 4];
    let r = card.transmit2(&get_challenge(8), &mut small).map(hex);
    record(a, "GET CHALLENGE into 4 bytes", r);
    record(a, "transmit after that", ok_hex(tx(card, &SELECT_MF)));
}

/// [`EXPECTED`] at `level`: (step prefix, reason).
fn expected_at(level: Level) -> impl Iterator<Item = (&'static str, &'static str)> {
    EXPECTED
        .iter()
        .filter(move |(levels, _, _)| levels.contains(&level))
        .map(|(_, prefix, why)| (*prefix, *why))
}

/// Compare two readers' answers step by step: the same steps, equal answers
/// except where [`EXPECTED`] gives a reason, and an attribute libccid lacks
/// answered by readerkit and refused UNSUPPORTED_FEATURE by libccid. Failures
/// go into `failures`; returns the steps that differ.
fn compare(
    allowed: &[(&str, &str)],
    ours: &Answers,
    ccid: &Answers,
    failures: &mut Vec<String>,
) -> Vec<String> {
    // Steps in the order they ran; a step one side did not take (a property one
    // reader does not report) is "absent" there.
    compare_steps(
        ["sim", "libccid"],
        allowed,
        (ours, ccid),
        |step, mine, theirs| {
            step.contains("(libccid lacks)")
                && (!mine.starts_with("Ok(") || theirs != "Err(UnsupportedFeature)")
        },
        failures,
    )
}

/// Fail for each difference of `allowed` that none of the `differed` steps
/// shows (the list has gone stale), then stop pcscd and report every failure.
fn finish(allowed: &[(&str, &str)], differed: &[String], failures: &mut Vec<String>, pcscd: Pcscd) {
    failures.extend(stale_differences(allowed, differed));
    support::stop_after_grace(pcscd);
    assert!(
        failures.is_empty(),
        "the answers differ:\n{}",
        failures.join("\n")
    );
}

/// A step's answer in `answers`.
fn answer<'a>(answers: &'a Answers, step: &str) -> &'a str {
    answer_of(answers, step).unwrap_or_else(|| panic!("no step {step}"))
}

/// One pcscd with readerkit's IFD handler for each `(FRIENDLYNAME, DEVICENAME)` of
/// `sims`, then libccidtwin.so for `ccid` (its `libccid` settings).
fn pcscd_with(sims: &[(&str, &str)], ccid: (&str, &str), libccid: Option<Libccid>) -> Pcscd {
    let ifd = ifd_driver();
    let lib = PathBuf::from(LIBCCIDTWIN);
    let mut entries: Vec<Entry<'_>> = sims
        .iter()
        .map(|&(name, device)| Entry {
            name,
            device,
            lib: &ifd,
        })
        .collect();
    entries.push(Entry {
        name: ccid.0,
        device: ccid.1,
        lib: &lib,
    });
    start_pcscd(&entries, libccid)
}

/// Run [`script`] on the `sim:` readers and on libccid's readers of one
/// `ccid-serve` (at `level`), all in one pcscd, and compare.
fn sim_and_libccid_alike(level: Level) {
    let (serve_args, suffix, libccid, pairs): (_, _, _, &[(&str, usize, &str, &str)]) = match level
    {
        Level::Tpdu => (
            ["--reader", "sec1210", "--card", "t0,t1"],
            "SEC1210",
            None,
            &[
                ("RK Sim T0", 0, ATR_T0, "Some(T0)"),
                ("RK Sim T1", 1, ATR_T1, "Some(T1)"),
            ],
        ),
        Level::ShortApdu => (
            ["--reader", "gempctwin", "--card", "t1"],
            "GemPCTwin",
            Some(Libccid {
                driver_options: 2,
                log_level: 3,
            }),
            &[("RK Sim T1", 0, ATR_T1, "Some(T1)")],
        ),
    };
    let mut serve = Serve::start(&serve_args);
    let ccid_device = format!("{}:{suffix}", serve.path);
    let pcscd = pcscd_with(
        &[("RK Sim T0", "sim:t0"), ("RK Sim T1", "sim:t1")],
        ("RK CCID", &ccid_device),
        libccid,
    );
    let ctx = Context::establish(Scope::User).expect("establish context");
    let mut failures = Vec::new();
    let mut differences_seen = Vec::new();
    // pcscd numbers the readers of one driver: "RK Sim T1 01 00".
    let names = reader_names(&ctx);
    let named = |prefix: &str| {
        names
            .iter()
            .find(|n| n.starts_with(prefix))
            .unwrap_or_else(|| panic!("no reader {prefix} in {names:?}"))
            .clone()
    };
    for &(sim, ccid_slot, atr, protocol) in pairs {
        let sim = &named(sim);
        let ccid = format!("RK CCID 00 {ccid_slot:02}");
        eprintln!("== {sim} vs {ccid} ({level:?})");
        let ours = script(&ctx, sim, &mut Slot::Sim);
        let theirs = script(&ctx, &ccid, &mut Slot::Serve(&mut serve, ccid_slot));
        let allowed: Vec<_> = expected_at(level).collect();
        differences_seen.extend(compare(&allowed, &ours, &theirs, &mut failures));
        // What both must say, not only alike.
        assert_eq!(
            answer(&ours, "status after connect"),
            format!("Ok(\"Status(PRESENT | POWERED | NEGOTIABLE) {protocol} {atr}\")")
        );
        for (step, said) in [
            ("transmit case 3", "Ok(\"90 00\")"),
            ("transmit case 4 ECHO 2", "Ok(\"AB CD 90 00\")"),
            ("transmit unknown INS", "Ok(\"6D 00\")"),
            ("ATR_STRING into 2 bytes", "Err(InsufficientBuffer)"),
            (
                "GET CHALLENGE into 4 bytes",
                "Err((InsufficientBuffer, 10))",
            ),
            ("transmit after the other's reset", "Err(ResetCard)"),
            ("transmit after removal", "Err(RemovedCard)"),
            ("transmit after insertion", "Err(RemovedCard)"),
            ("reconnect after removal", "Err(NoSmartcard)"),
            ("SELECT on the reconnected handle", "Ok(\"90 00\")"),
        ] {
            assert_eq!(answer(&ours, step), said, "{step}");
        }
    }
    drop(ctx);
    let allowed: Vec<_> = expected_at(level).collect();
    finish(&allowed, &differences_seen, &mut failures, pcscd);
}

#[test]
fn sim_and_libccid_tpdu_answer_a_client_alike() {
    sim_and_libccid_alike(Level::Tpdu);
}

#[test]
fn sim_and_libccid_short_apdu_answer_a_client_alike() {
    sim_and_libccid_alike(Level::ShortApdu);
}

/// `SCARD_CTL_CODE(3502)`: the `sim:` reader's key switch (the keys the next PIN
/// entry reads).
const SIM_KEYS: u64 = ctl_code(3502);

/// The PIN pad steps whose answers differ between the `sim:` reader and libccid's
/// GemPC PinPad on `ccid-serve`, and why.
const PIN_PAD_EXPECTED: &[(&str, &str)] = &[
    (
        "property 02",
        "each reader's own bEntryValidationCondition: the sim PIN pad ends an entry on \
         the maximum size, the OK key or a time-out (07); ccid-serve's GemPC PinPad \
         profile announces the OK key only (02) in its GET_FIRMWARE_FEATURES, which \
         libccid reports",
    ),
    (
        "IFD_PIN_PROPERTIES",
        "its bEntryValidationCondition, as property 02",
    ),
    (
        "property 06",
        "each reader's own bMinPINSize: the sim PIN pad's 4, the CCID profile's core \
         limit 1 (from GET_FIRMWARE_FEATURES)",
    ),
    (
        "property 07",
        "each reader's own bMaxPINSize: the sim PIN pad's 12, the CCID profile's core \
         limit 32",
    ),
    (
        "property 08",
        "sFirmwareID: libccid reports the firmware string of the reader's Escape 02 \
         (\"readerkit-ccid GemPC Twin 0.1\"), the core its own \"readerkit\"",
    ),
    (
        "property 03",
        "bTimeOut2: libccid always reports it (0); the core leaves the optional \
         property out (no second time-out)",
    ),
    (
        "property 09",
        "bPPDUSupport: libccid always reports it (0: none); the core leaves the \
         optional property out (no PPDU either)",
    ),
    (
        "property 0B",
        "wIdVendor: libccid reports the USB vendor id of the profile (08E6); a sim \
         reader has none",
    ),
    (
        "property 0C",
        "wIdProduct: libccid reports the USB product id of the profile (3478); a sim \
         reader has none",
    ),
    (
        "VERIFY_PIN_DIRECT malformed",
        "a structure it cannot read (shorter than its header, ulDataLength that \
         disagrees with its length) libccid refuses with IFD_NOT_SUPPORTED \
         (UNSUPPORTED_FEATURE), one whose fields the reader refuses with \
         IFD_COMMUNICATION_ERROR (NOT_TRANSACTED); readerkit's core refuses both \
         before any key with INVALID_PARAMETER, which pcscd can only carry as \
         NOT_TRANSACTED (its IFDHControl mapping knows no invalid parameter)",
    ),
];

/// How keys reach a reader's keypad.
enum Keypad<'a> {
    /// The `sim:` reader's key switch, on the connected handle.
    Sim,
    /// `ccid-serve`'s stdin (a `gempcpinpad` reader).
    Serve(&'a mut Serve),
}

/// The PIN pad script: the part 10 features and properties, PIN entries with
/// their keys, and malformed PIN structures.
fn pin_script(ctx: &Context, name: &str, keypad: &mut Keypad<'_>) -> Answers {
    let mut a = Answers::new();
    assert!(wait_card(ctx, name, true, Duration::from_secs(5)));
    let card = connect(ctx, name).expect("connect");
    let mut buf = [0u8; 256];
    let features = feature_list(&card);
    let code = |tag: u8| features.iter().find(|(t, _)| *t == tag).map(|(_, c)| *c);
    let mut tags: Vec<u8> = features.iter().map(|(tag, _)| *tag).collect();
    tags.sort_unstable();
    record(&mut a, "feature list (sorted)", tags);
    let pin_properties = code(0x0A).expect("FEATURE_IFD_PIN_PROPERTIES");
    let r = card.control(pin_properties, &[], &mut buf).map(hex);
    record(&mut a, "IFD_PIN_PROPERTIES", r);
    let r = card.control(pin_properties, &[], &mut buf[..3]).map(hex);
    record(&mut a, "IFD_PIN_PROPERTIES into 3 bytes", r);
    for (tag, value) in tlv_properties(&card) {
        record(&mut a, format!("property {tag:02X}"), hex(&value));
    }
    let verify = code(0x06).expect("FEATURE_VERIFY_PIN_DIRECT");
    let modify = code(0x07).expect("FEATURE_MODIFY_PIN_DIRECT");
    let run = |keypad: &mut Keypad<'_>, code: u64, keys: &str, structure: &[u8]| {
        match keypad {
            Keypad::Sim => {
                let mut none = [0u8; 4];
                card.control(SIM_KEYS, keys.as_bytes(), &mut none)
                    .expect("sim key switch");
            }
            Keypad::Serve(serve) => {
                if !keys.is_empty() {
                    serve.keys(keys);
                }
            }
        }
        let mut out = [0u8; 64];
        card.control(code, structure, &mut out).map(hex)
    };
    let good = readerkit_testkit::pin::verify_structure();
    for (what, keys) in [
        ("right PIN", "1234E"),
        ("wrong PIN", "9999E"),
        ("right PIN again", "1234E"),
        ("cancel key", "12C"),
        ("too short", "12E"),
        ("backspace", "12B34E"),
    ] {
        let r = run(keypad, verify, keys, &good);
        record(&mut a, format!("VERIFY_PIN_DIRECT {what}"), r);
    }
    let mut bad_format = good.clone();
    bad_format[2] = 0x83;
    let mut min_above_max = good.clone();
    min_above_max[5..7].copy_from_slice(&[8, 9]);
    let mut length_too_long = good.clone();
    length_too_long[15] += 1;
    let mut length_too_short = good.clone();
    length_too_short[15] -= 1;
    let malformed: [(&str, &[u8]); 6] = [
        ("empty", &[]),
        ("10 bytes", &good[..10]),
        ("bmFormatString 83", &bad_format),
        ("min above max", &min_above_max),
        ("ulDataLength one too many", &length_too_long),
        ("ulDataLength one too few", &length_too_short),
    ];
    for (what, structure) in malformed {
        let r = run(keypad, verify, "", structure);
        record(&mut a, format!("VERIFY_PIN_DIRECT malformed {what}"), r);
    }
    let r = run(keypad, verify, "1234E", &good);
    record(&mut a, "VERIFY_PIN_DIRECT after the malformed", r);
    let r = run(
        keypad,
        modify,
        "1234E5678E5678E",
        &readerkit_testkit::pin::modify_structure(),
    );
    record(&mut a, "MODIFY_PIN_DIRECT", r);
    let r = run(keypad, verify, "5678E", &good);
    record(&mut a, "VERIFY_PIN_DIRECT the new PIN", r);
    a
}

/// The `sim:` reader's PIN pad and `ccid-serve`'s GemPC PinPad through libccid
/// answer the same PIN requests alike.
#[test]
fn sim_and_libccid_pin_pads_answer_a_client_alike() {
    let mut serve = Serve::start(&["--reader", "gempcpinpad", "--card", "t1"]);
    let device = format!("{}:GemPCPinPad", serve.path);
    let pcscd = pcscd_with(&[("RK Sim", "sim:t1")], ("RK PinPad", &device), None);
    let ctx = Context::establish(Scope::User).expect("establish context");
    let ours = pin_script(&ctx, "RK Sim 00 00", &mut Keypad::Sim);
    let theirs = pin_script(&ctx, "RK PinPad 00 00", &mut Keypad::Serve(&mut serve));
    let mut failures = Vec::new();
    let differed = compare(PIN_PAD_EXPECTED, &ours, &theirs, &mut failures);
    drop(ctx);
    finish(PIN_PAD_EXPECTED, &differed, &mut failures, pcscd);
}
