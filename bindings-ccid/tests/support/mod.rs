//! Test support: `readerkit ccid-serve` on a pseudo-terminal, and Debian's pcscd
//! (testkit's private runner) loading Debian's `libccidtwin.so` for it.
//! Shared by the end-to-end tests and the benchmark (`#[path]`-included).
//!
//! Every tool must be installed: a missing one is a failure that names the Debian
//! package, never a skip.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub use readerkit_testkit::apdu::echo;
pub use readerkit_testkit::ccid_serve::Serve;
pub use readerkit_testkit::hex::hex;
pub use readerkit_testkit::pcsc::{
    GET_FEATURE_REQUEST, connect, feature_list, reader, tx, wait_card,
};
pub use readerkit_testkit::pcscd::{
    Entry, Libccid, Options, Pcscd, cli, ifd_driver, require, target_dir, workspace,
};

/// Debian's serial CCID driver (package `libccid`).
pub const LIBCCIDTWIN: &str = "/usr/lib/pcsc/drivers/serial/libccidtwin.so";

/// pcscd with `entries` (libccidtwin.so readers), and `libccid` settings other
/// than Debian's (none: its own Info.plist).
pub fn start_pcscd(entries: &[Entry<'_>], libccid: Option<Libccid>) -> Pcscd {
    require(LIBCCIDTWIN, "libccid");
    Pcscd::start_with(entries, Options { libccid })
}

/// FEATURE_GET_TLV_PROPERTIES (PC/SC part 10).
pub const FEATURE_GET_TLV_PROPERTIES: u8 = 0x12;
/// PC/SC part 10 properties: `bEntryValidationCondition`.
pub const PROPERTY_ENTRY_VALIDATION: u8 = 2;
/// PC/SC part 10 properties: `bMinPINSize`.
pub const PROPERTY_MIN_PIN_SIZE: u8 = 6;
/// PC/SC part 10 properties: `bMaxPINSize`.
pub const PROPERTY_MAX_PIN_SIZE: u8 = 7;

/// The control code the reader gives the part 10 feature `tag` on `card`;
/// panics naming the list if it is not there.
pub fn feature_code(card: &pcsc::Card, tag: u8) -> u64 {
    let features = feature_list(card);
    features
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, code)| *code)
        .unwrap_or_else(|| panic!("no feature {tag:02X} in {features:02X?}"))
}

/// The reader's FEATURE_GET_TLV_PROPERTIES answer as (tag, value) pairs.
pub fn tlv_properties(card: &pcsc::Card) -> Vec<(u8, Vec<u8>)> {
    let code = feature_code(card, FEATURE_GET_TLV_PROPERTIES);
    let mut buf = [0u8; 256];
    let mut rest = card
        .control(code, &[], &mut buf)
        .expect("FEATURE_GET_TLV_PROPERTIES");
    let mut properties = Vec::new();
    while let [tag, len, more @ ..] = rest {
        let len = usize::from(*len);
        assert!(len <= more.len(), "truncated property {tag}");
        properties.push((*tag, more[..len].to_vec()));
        rest = &more[len..];
    }
    properties
}

/// The value of property `tag` in `properties`, if there.
pub fn property(properties: &[(u8, Vec<u8>)], tag: u8) -> Option<&[u8]> {
    properties
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, value)| value.as_slice())
}

/// What libccid must never log in these sessions (framing or protocol trouble).
pub const LIBCCID_TROUBLE: [&str; 6] = [
    "Wrong LRC",
    "frame size",
    "Can't read all data",
    "overrun",
    "Get firmware failed",
    "GET_FIRMWARE_FEATURES failed",
];

/// pcscd with one libccidtwin.so reader `name` on `device` (`<pty>:GemPCTwin`,
/// `<pty>:SEC1210`), and a PC/SC context on it.
pub fn pcscd_for(device: &str, name: &str, libccid: Option<Libccid>) -> (Pcscd, pcsc::Context) {
    let lib = std::path::PathBuf::from(LIBCCIDTWIN);
    let pcscd = start_pcscd(
        &[Entry {
            name,
            device,
            lib: &lib,
        }],
        libccid,
    );
    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("establish context");
    (pcscd, ctx)
}

/// `readerkit ccid-serve ARGS` with its stderr watched (`Serve::start_watched`)
/// serving a GemPC Twin, pcscd with its libccidtwin.so reader `name` (pcscd
/// calls it `name 00 00`), and its card seen present (within 5 s).
pub fn watched_twin(args: &[&str], name: &str) -> (Serve, Pcscd, pcsc::Context) {
    let serve = Serve::start_watched(args);
    let device = format!("{}:GemPCTwin", serve.path);
    let (pcscd, ctx) = pcscd_for(&device, name, None);
    assert!(
        wait_card(
            &ctx,
            &format!("{name} 00 00"),
            true,
            std::time::Duration::from_secs(5)
        ),
        "card seen; pcscd log:\n{}",
        pcscd.log()
    );
    (serve, pcscd, ctx)
}

/// Stop pcscd after its grace period has powered the card down (pcscd 1.9.9 can
/// hang in its shutdown when the two meet), print what libccid complained about,
/// and return the log.
pub fn stop_after_grace(mut pcscd: Pcscd) -> String {
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(pcscd.stop(), "pcscd exits on SIGINT");
    for complaint in pcscd.libccid_complaints() {
        eprintln!("libccid: {complaint}");
    }
    pcscd.log()
}

/// [`stop_after_grace`], and check that libccid logged none of
/// [`LIBCCID_TROUBLE`] (at its default log level: its byte-level traces name
/// the frame size of every frame).
pub fn stop_and_check(pcscd: Pcscd) -> String {
    let log = stop_after_grace(pcscd);
    for bad in LIBCCID_TROUBLE {
        assert!(!log.contains(bad), "libccid logged {bad:?}:\n{log}");
    }
    log
}

/// After an insertion: wait (up to `timeout`, a hang guard) for pcscd to see
/// the card in `name`, connect with `protocol` and ECHO two bytes.
pub fn echo_after_insertion(
    ctx: &pcsc::Context,
    name: &str,
    protocol: pcsc::Protocols,
    timeout: std::time::Duration,
) {
    assert!(wait_card(ctx, name, true, timeout), "insertion seen");
    let card = connect(ctx, name, protocol);
    assert_eq!(
        tx(&card, &echo(&[0xAB, 0xCD])).unwrap(),
        [0xAB, 0xCD, 0x90, 0x00]
    );
}

/// One step's answer of a client script, as text (step, answer).
pub type Answers = Vec<(String, String)>;

/// Record `answer` for `step`.
pub fn record(answers: &mut Answers, step: impl Into<String>, answer: impl std::fmt::Debug) {
    answers.push((step.into(), format!("{answer:?}")));
}

/// SCardReconnect `card` with each of leave, reset and unpower: the result, then
/// `status` of the handle and `select` (SELECT MF as the script shows it,
/// recorded as `{select_step} after reconnect ...`).
pub fn reconnect_each<S: std::fmt::Debug, T: std::fmt::Debug>(
    card: &mut pcsc::Card,
    a: &mut Answers,
    status: impl Fn(&pcsc::Card) -> S,
    (select_step, select): (&str, impl Fn(&pcsc::Card) -> T),
) {
    for disposition in [
        pcsc::Disposition::LeaveCard,
        pcsc::Disposition::ResetCard,
        pcsc::Disposition::UnpowerCard,
    ] {
        let r = card.reconnect(pcsc::ShareMode::Shared, pcsc::Protocols::ANY, disposition);
        record(a, format!("reconnect {disposition:?}"), r);
        record(
            a,
            format!("status after reconnect {disposition:?}"),
            status(card),
        );
        record(
            a,
            format!("{select_step} after reconnect {disposition:?}"),
            select(card),
        );
    }
}

/// The steps of two scripts' answers in the order they ran, `left`'s first,
/// then those only `right` took.
pub fn all_steps<'a>(left: &'a Answers, right: &'a Answers) -> Vec<&'a str> {
    let mut steps: Vec<&str> = left.iter().map(|(s, _)| s.as_str()).collect();
    for (step, _) in right {
        if !steps.contains(&step.as_str()) {
            steps.push(step);
        }
    }
    steps
}

/// A step's answer in `answers`, if the script took the step.
pub fn answer_of<'a>(answers: &'a Answers, step: &str) -> Option<&'a str> {
    answers
        .iter()
        .find(|(s, _)| s == step)
        .map(|(_, a)| a.as_str())
}

/// A step's answer in `answers`, or "absent".
pub fn answer_or_absent(answers: &Answers, step: &str) -> String {
    answer_of(answers, step).unwrap_or("absent").to_string()
}

/// The reason a step's answers may differ, if `allowed` (step prefix, reason)
/// gives one.
pub fn allowed_difference<'a>(allowed: &[(&str, &'a str)], step: &str) -> Option<&'a str> {
    allowed
        .iter()
        .find(|(prefix, _)| step.starts_with(prefix))
        .map(|(_, why)| *why)
}

/// Compare two scripts' answers step by step ([`all_steps`]): each step is
/// printed, equal (`   `), differing for a reason `allowed` gives (`~~`) or not
/// (`!!`, a failure). `refused` may still fail an allowed difference (step,
/// left's answer, right's). Returns the steps whose answers differ.
pub fn compare_steps(
    [l, r]: [&str; 2],
    allowed: &[(&str, &str)],
    (left, right): (&Answers, &Answers),
    refused: impl Fn(&str, &str, &str) -> bool,
    failures: &mut Vec<String>,
) -> Vec<String> {
    let mut differed = Vec::new();
    for step in all_steps(left, right) {
        let (mine, theirs) = (answer_or_absent(left, step), answer_or_absent(right, step));
        if mine == theirs {
            eprintln!("   {step}: {mine}");
            continue;
        }
        differed.push(step.to_string());
        match allowed_difference(allowed, step) {
            Some(_) if refused(step, &mine, &theirs) => {
                failures.push(format!("{step}: {l} {mine}, {r} {theirs}"));
            }
            Some(_) => eprintln!("~~ {step}: {l} {mine} | {r} {theirs}"),
            None => {
                eprintln!("!! {step}: {l} {mine} | {r} {theirs}");
                failures.push(format!("{step}: {l} {mine}, {r} {theirs}"));
            }
        }
    }
    differed
}

/// A failure for each difference of `allowed` (step prefix, reason) that none
/// of the `differed` steps shows: the list has gone stale.
pub fn stale_differences<S: AsRef<str>>(allowed: &[(&str, &str)], differed: &[S]) -> Vec<String> {
    allowed
        .iter()
        .filter(|(prefix, _)| !differed.iter().any(|s| s.as_ref().starts_with(prefix)))
        .map(|(prefix, why)| format!("no longer differs: {prefix} ({why})"))
        .collect()
}
