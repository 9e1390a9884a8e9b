//! Every numeric option of `readerkit`, given what a number can go wrong with
//! (negative, NaN, infinite, huge, past its type, not a number, empty): a usage
//! error (exit 2, nothing on stdout), never a panic (exit 101) nor a run.

use std::path::Path;

use readerkit_testkit::cli::assert_usage_errors;

/// Values no integer option takes.
const NOT_AN_INTEGER: [&str; 8] = ["-1", "NaN", "inf", "1e3", "1.5", "0x10", "", " "];
/// One past u64::MAX.
const PAST_U64: &str = "18446744073709551616";

/// `prefix`, then `option` with each of `values` (as `--option=VALUE`, so that
/// `-1` is a value, not an option), then `suffix`.
fn with_each<'a>(
    prefix: &[&'a str],
    option: &str,
    values: &[&str],
    suffix: &[&'a str],
) -> Vec<Vec<String>> {
    values
        .iter()
        .map(|value| {
            let mut args: Vec<String> = prefix.iter().map(|a| a.to_string()).collect();
            args.push(format!("{option}={value}"));
            args.extend(suffix.iter().map(|a| a.to_string()));
            args
        })
        .collect()
}

fn assert_all_usage_errors(subcommand: &str, cases: &[Vec<String>]) {
    let cases: Vec<Vec<&str>> = cases
        .iter()
        .map(|args| args.iter().map(String::as_str).collect())
        .collect();
    let cases: Vec<&[&str]> = cases.iter().map(Vec::as_slice).collect();
    assert_usage_errors(
        Path::new(env!("CARGO_BIN_EXE_readerkit")),
        subcommand,
        &cases,
    );
}

#[test]
fn atr_clock_khz() {
    let mut values = NOT_AN_INTEGER.to_vec();
    values.extend(["0", "999", "20001", "4294967296", PAST_U64, "-3580"]);
    assert_all_usage_errors(
        "atr",
        &with_each(&[], "--clock-khz", &values, &["3B 02 14 50"]),
    );
}

#[test]
fn scan_timeout_and_events() {
    let seconds = [
        "nan", "NaN", "inf", "-inf", "infinity", "-1", "-0.5", "1e300", "1.9e19", "1e19000", "",
        " ", "1s", "0x10",
    ];
    let mut events = NOT_AN_INTEGER.to_vec();
    events.push(PAST_U64);
    let mut cases = with_each(&[], "--timeout", &seconds, &[]);
    cases.extend(with_each(&[], "--events", &events, &[]));
    assert_all_usage_errors("scan", &cases);
}

#[test]
fn serving_ports_work_times_and_mute_counts() {
    let mut port = NOT_AN_INTEGER.to_vec();
    port.extend(["65536", "4294967296", PAST_U64]);
    let mut work = NOT_AN_INTEGER.to_vec();
    work.push(PAST_U64);
    let mut usbip = with_each(&[], "--port", &port, &[]);
    usbip.extend(with_each(&["--slow"], "--work-ms", &work, &[]));
    let mut mute = NOT_AN_INTEGER.to_vec();
    mute.push("4294967296");
    usbip.extend(with_each(&[], "--mute-after", &mute, &[]));
    assert_all_usage_errors("usbip-serve", &usbip);
    let mut ccid = with_each(&["--slow"], "--work-ms", &work, &[]);
    ccid.extend(with_each(&[], "--mute-after", &mute, &[]));
    assert_all_usage_errors("ccid-serve", &ccid);
}
