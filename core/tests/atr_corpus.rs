//! The ATR parser against the real world: every ATR of Debian's pcsc-tools list
//! (`/usr/share/pcsc/smartcard_list.txt`, package `pcsc-tools`), plus a table of ATRs
//! copied from that list whose fields were decoded by hand against ISO/IEC 7816-3:2006.

use std::collections::BTreeMap;

use readerkit::ProtocolMask;
use readerkit::atr::{Atr, ClockStop, Convention, Edc, Error, Mode, SpecificMode, Tck};
use readerkit::timing::Timing;
use readerkit_testkit::hex::{parse, try_parse};

const LIST: &str = "/usr/share/pcsc/smartcard_list.txt";

fn reason(e: &Error) -> &'static str {
    match e {
        Error::Empty => "empty",
        Error::InvalidTs(_) => "invalid TS",
        Error::Truncated { .. } => "truncated",
        Error::TooLong(_) => "too long",
        Error::TrailingBytes { .. } => "trailing bytes",
        _ => "other",
    }
}

#[test]
fn every_atr_of_pcsc_tools_parses_or_is_rejected() {
    let text = std::fs::read(LIST).unwrap_or_else(|e| {
        panic!(
            "{LIST} is missing ({e}): install it with `apt-get install pcsc-tools` \
             (Debian/Ubuntu); this test needs the real ATR list and does not skip"
        )
    });
    let text = String::from_utf8_lossy(&text);
    let (mut parsed, mut not_hex) = (0usize, 0usize);
    let mut rejected: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tck: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unusable = 0usize;
    for line in text.lines() {
        let b = line.as_bytes();
        let starts_with_pair = b.len() >= 2 && b[..2].iter().all(u8::is_ascii_hexdigit);
        if !starts_with_pair || line.contains('.') {
            continue;
        }
        let Ok(bytes) = try_parse(line) else {
            // The other regular-expression lines: character classes such as `0[13]`.
            assert!(line.contains('['), "neither hex nor a pattern: {line}");
            not_hex += 1;
            continue;
        };
        match Atr::parse(&bytes) {
            Ok(atr) => {
                parsed += 1;
                assert_eq!(atr.as_bytes().len(), bytes.len());
                assert!(atr.historical().len() <= 15);
                let p = atr.parameters();
                if p.check(atr.tck()).is_err() {
                    unusable += 1;
                }
                let _ = atr.analysis();
                let _ = p.initial_timing(3580).etu_ns();
                if let Some(t) = Timing::from_indices(p.fi, p.di, 3580) {
                    let _ = t.t1_block_waiting_time_us(p.bwi, 255);
                    let _ = t.t0_waiting_time_us(p.wi, t.f);
                }
                *tck.entry(match atr.tck() {
                    Tck::Ok => "ok",
                    Tck::Bad => "bad",
                    Tck::Absent => "absent",
                })
                .or_default() += 1;
            }
            Err(e) => *rejected.entry(reason(&e)).or_default() += 1,
        }
    }
    let total_rejected: usize = rejected.values().sum();
    let total = parsed + total_rejected;
    println!(
        "{total} ATRs: {parsed} parsed (TCK {tck:?}; {unusable} refused by Parameters::check), \
         {total_rejected} rejected {rejected:?}; {not_hex} patterns with [..] skipped"
    );
    assert!(total > 3000, "only {total} ATR lines found in {LIST}");
    assert!(parsed * 100 >= total * 95, "fewer than 95% parse");
    // pcsc-tools lists ATRs as readers report them: TS is always 3B or 3F.
    assert_eq!(rejected.get("invalid TS"), None);
    assert_eq!(rejected.get("too long"), None);
    assert!(
        tck.get("bad").copied().unwrap_or(0) * 100 < parsed,
        "bad TCK above 1%"
    );
    assert!(unusable * 20 < parsed, "more than 5% unusable");
    assert!(not_hex < 50, "{not_hex} pattern lines");
}

/// Expected fields of one ATR, decoded by hand.
struct Row {
    atr: &'static str,
    conv: Convention,
    protocols: ProtocolMask,
    fi: u8,
    di: u8,
    n: u8,
    wi: u8,
    ifsc: u8,
    bwi: u8,
    cwi: u8,
    edc: Edc,
    mode: Mode,
    tck: Tck,
    hist: usize,
    /// T=15 clock stop and classes (None: no T=15 TA).
    t15: Option<(ClockStop, u8)>,
}

use Convention::{Direct as D, Inverse as I};
const NEG: Mode = Mode::Negotiable;
const T0: ProtocolMask = ProtocolMask::T0;
const T1: ProtocolMask = ProtocolMask::T1;
const T01: ProtocolMask = ProtocolMask(3);
const NONE: ProtocolMask = ProtocolMask::NONE;
const ABS: Tck = Tck::Absent;
const OK: Tck = Tck::Ok;
const BAD: Tck = Tck::Bad;
const LRC: Edc = Edc::Lrc;

const fn spec(protocol: u8, implicit_parameters: bool, can_change: bool) -> Mode {
    Mode::Specific(SpecificMode {
        protocol,
        implicit_parameters,
        can_change,
    })
}

macro_rules! row {
    ($atr:literal, $conv:expr, $p:expr, fi $fi:literal di $di:literal n $n:literal wi $wi:literal,
     ifsc $ifsc:literal bwi $bwi:literal cwi $cwi:literal $edc:expr, $mode:expr, $tck:expr,
     hist $hist:literal $(, $t15:expr)?) => {{
        #[allow(unused_mut, unused_assignments)]
        let mut t15 = None;
        $(t15 = Some($t15);)?
        Row {
            atr: $atr, conv: $conv, protocols: $p, fi: $fi, di: $di, n: $n, wi: $wi,
            ifsc: $ifsc, bwi: $bwi, cwi: $cwi, edc: $edc, mode: $mode, tck: $tck,
            hist: $hist, t15,
        }
    }};
}

/// Each row is a line of smartcard_list.txt, decoded by hand. The list holds no T=1
/// ATR with CRC (no T=1 TC with bit 1 set); the CLI tests cover CRC on a built ATR. The comment gives the
/// structure: T0 (Y1, K), then every interface character.
fn table() -> Vec<Row> {
    use ClockStop::*;
    vec![
        // T0=02: no interface bytes, K=2. Defaults everywhere, T=0 only, no TCK.
        row!("3B 02 14 50", D, T0, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 2),
        // Inverse. T0=05: K=5, no interface bytes.
        row!("3F 05 DC 20 FC 00 01", I, T0, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 5),
        // Inverse. T0=28: TB1=00, K=8.
        row!("3F 28 00 00 11 14 00 03 68 90 00", I, T0, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 8),
        // Inverse. T0=2F: TB1=00, K=15.
        row!("3F 2F 00 36 AF 69 02 04 01 80 00 00 0A 0E 83 3E 9F 16", I, T0, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 15),
        // Inverse. T0=36: TA1=11, TB1=00, K=6.
        row!("3F 36 11 00 53 49 5B 01 51 53", I, T0, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 6),
        // Inverse. T0=65: TB1=25 (deprecated VPP), TC1=00, K=5.
        row!("3F 65 25 00 24 09 6B 90 00", I, T0, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 5),
        // T0=34: TA1=00 (Fi 0: F 372 at 4 MHz; Di 0 reserved), TB1=00, K=4.
        row!("3B 34 00 00 30 42 30 30", D, T0, fi 0 di 0 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 4),
        // T0=3B: TA1=02 (Fi 0, Di 2), TB1=6F, K=11.
        row!("3B 3B 02 6F 33 3B DB 96 00 80 1F 03 00 31 C0", D, T0, fi 0 di 2 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 11),
        // T0=57: TA1=18 (Fi 1, Di 8: D=12), TC1=02 (N=2), K=7.
        row!("3B 57 18 02 93 02 01 01 01 90 00", D, T0, fi 1 di 8 n 2 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 7),
        // T0=5E: TA1=11, TC1=FF (N=255), K=14 "EstEID ver 1.0".
        row!("3B 5E 11 FF 45 73 74 45 49 44 20 76 65 72 20 31 2E 30", D, T0, fi 1 di 1 n 255 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 14),
        // T0=64: TB1=00, TC1=FF (N=255), K=4.
        row!("3B 64 00 FF 80 62 02 A2", D, T0, fi 1 di 1 n 255 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 4),
        // T0=6F: TB1=00, TC1=01 (N=1), K=15.
        row!("3B 6F 00 01 80 31 E0 6B 04 06 05 02 11 55 55 55 55 55 55", D, T0, fi 1 di 1 n 1 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 15),
        // T0=85: TD1=40 (TC2, T=0), TC2=20 (WI=32), K=5. Only T=0: no TCK.
        row!("3B 85 40 20 68 01 01 00 00", D, T0, fi 1 di 1 n 0 wi 32 , ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 5),
        // Same with TC2=FF: WI=255.
        row!("3B 85 40 FF 63 01 01 03 01", D, T0, fi 1 di 1 n 0 wi 255, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 5),
        // T0=D5: TA1=95, TC1=04 (N=4), TD1=00 (T=0, nothing follows), K=5, no TCK.
        row!("3B D5 95 04 00 AE 01 02 01 01", D, T0, fi 9 di 5 n 4 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, ABS, hist 5),
        // T0=80: TD1=80 (T=0, TD2), TD2=01 (T=1); K=0; TCK=01.
        row!("3B 80 80 01 01", D, T01, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, OK, hist 0),
        // T0=81: TD1=80, TD2=01; K=1 (80); TCK=80.
        row!("3B 81 80 01 80 80", D, T01, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, OK, hist 1),
        // T0=86: TD1=80, TD2=01, K=6, TCK=00 but the XOR of T0..K is 8F: bad.
        row!("3B 86 80 01 06 75 77 81 02 8F 00", D, T01, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, BAD, hist 6),
        // T0=90: TA1=95, TD1=80 (T=0), TD2=11 (TA3, T=1), TA3=FE (IFSC 254); TCK=6A.
        row!("3B 90 95 80 11 FE 6A", D, T01, fi 9 di 5 n 0 wi 10, ifsc 254 bwi 4 cwi 13 LRC, NEG, OK, hist 0),
        // T0=90: TA1=95, TD1=80 (T=0), TD2=1F (TA3, T=15), TA3=C3: clock stop either
        // state, classes A and B; TCK=59.
        row!("3B 90 95 80 1F C3 59", D, T0, fi 9 di 5 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, OK, hist 0, (NoPreference, 0x03)),
        // T0=97: TA1=94, TD1=80, TD2=3F (TA3 TB3, T=15), TA3=44 (stop low, class C),
        // TB3=90 (SPU), K=7, TCK=95.
        row!("3B 97 94 80 3F 44 90 80 31 A0 73 BE 21 00 95", D, T0, fi 9 di 4 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, OK, hist 7, (Low, 0x04)),
        // T0=82: TD1=81 (T=1), TD2=31 (TA3 TB3, T=1), TA3=76 (IFSC 118), TB3=43
        // (BWI 4, CWI 3), K=2, TCK=C5.
        row!("3B 82 81 31 76 43 C0 02 C5", D, T1, fi 1 di 1 n 0 wi 10, ifsc 118 bwi 4 cwi 3 LRC, NEG, OK, hist 2),
        // T0=95: TA1=13 (Di 3: D=4), TD1=81, TD2=01 (T=1), K=5, TCK=0B.
        row!("3B 95 13 81 01 80 73 FF 01 00 0B", D, T1, fi 1 di 3 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, OK, hist 5),
        // T0=D2: TA1=18, TC1=02, TD1=C1 (TC2 TD2, T=1), TC2=0A (no meaning for T=1,
        // so WI stays 10), TD2=31, TA3=FE, TB3=58 (BWI 5, CWI 8), K=2, TCK=51.
        row!("3B D2 18 02 C1 0A 31 FE 58 C8 0D 51", D, T1, fi 1 di 8 n 2 wi 10, ifsc 254 bwi 5 cwi 8 LRC, NEG, OK, hist 2),
        // T0=D0: TA1=96, TC1=FF (N=255), TD1=81, TD2=B1 (TA3 TB3 TD3, T=1), TA3=FE,
        // TB3=45, TD3=1F (TA4, T=15), TA4=C7 (either state, A B C), TCK=EA.
        row!("3B D0 96 FF 81 B1 FE 45 1F C7 EA", D, T1, fi 9 di 6 n 255 wi 10, ifsc 254 bwi 4 cwi 5 LRC, NEG, OK, hist 0, (NoPreference, 0x07)),
        // T0=D0: TA1=A8 (Fi 10: F 768, 7.5 MHz; Di 8: D 12), TC1=FF, TD1=81,
        // TD2=F1 (TA3 TB3 TC3 TD3, T=1), TA3=FB (IFSC 251), TB3=24, TC3=00 (LRC),
        // TD3=1F, TA4=C3, TCK=F4.
        row!("3B D0 A8 FF 81 F1 FB 24 00 1F C3 F4", D, T1, fi 10 di 8 n 255 wi 10, ifsc 251 bwi 2 cwi 4 LRC, NEG, OK, hist 0, (NoPreference, 0x03)),
        // T0=D6: TA1=96, TC1=00, TD1=81, TD2=B1, TA3=FE, TB3=45, TD3=1F, TA4=87
        // (stop high, A B C), K=6, TCK=49.
        row!("3B D6 96 00 81 B1 FE 45 1F 87 80 31 C1 52 21 19 49", D, T1, fi 9 di 6 n 0 wi 10, ifsc 254 bwi 4 cwi 5 LRC, NEG, OK, hist 6, (High, 0x07)),
        // Specific mode. T0=90: TA1=96, TD1=91 (TA2 TD2, T=1), TA2=81 (T=1, cannot
        // change, TA1 applies), TD2=B1, TA3=FE, TB3=55, TD3=1F, TA4=C7, TCK=D4.
        row!("3B 90 96 91 81 B1 FE 55 1F C7 D4", D, T1, fi 9 di 6 n 0 wi 10, ifsc 254 bwi 5 cwi 5 LRC, spec(1, false, false), OK, hist 0, (NoPreference, 0x07)),
        // Specific mode, T=15 in TD1 (forbidden). T0=81: TD1=1F (TA2, T=15), TA2=00
        // (T=0, can change, TA1 applies), K=1, TCK=52. No T=0/T=1 in any TD.
        row!("3B 81 1F 00 CC 52", D, NONE, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, spec(0, false, true), OK, hist 1),
        // T=14 only. T0=88: TD1=8E (TD2, T=14), TD2=FE (TA3 TB3 TC3 TD3, T=14),
        // TA3=53, TB3=2A, TC3=03, TD3=1E (TA4, T=14), TA4=04, K=8, TCK=E4 wrong
        // (the XOR of T0..TCK is not 0).
        row!("3B 88 8E FE 53 2A 03 1E 04 92 80 00 41 32 36 01 11 E4", D, NONE, fi 1 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, BAD, hist 8),
        // T0=9F: TA1=21 (Fi 2: F 558, 6 MHz), TD1=0E (T=14), K=15, TCK=55.
        row!("3B 9F 21 0E 49 52 44 45 54 4F 20 41 43 53 03 83 95 00 80 55", D, NONE, fi 2 di 1 n 0 wi 10, ifsc 32 bwi 4 cwi 13 LRC, NEG, OK, hist 15),
    ]
}

#[test]
fn hand_checked_table() {
    let text = std::fs::read_to_string(LIST).unwrap_or_else(|e| {
        panic!("{LIST} is missing ({e}): install it with `apt-get install pcsc-tools`")
    });
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let table = table();
    assert!(table.len() >= 30);
    for r in &table {
        assert!(lines.contains(&r.atr), "{} is not a line of {LIST}", r.atr);
        let bytes = parse(r.atr);
        let atr = Atr::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", r.atr));
        let p = atr.parameters();
        let ctx = r.atr;
        assert_eq!(atr.convention(), r.conv, "{ctx}: convention");
        assert_eq!(p.protocols, r.protocols, "{ctx}: protocols");
        assert_eq!(p.fi, r.fi, "{ctx}: fi");
        assert_eq!(p.di, r.di, "{ctx}: di");
        assert_eq!(p.n, r.n, "{ctx}: n");
        assert_eq!(p.wi, r.wi, "{ctx}: wi");
        assert_eq!(p.ifsc, r.ifsc, "{ctx}: ifsc");
        assert_eq!(p.bwi, r.bwi, "{ctx}: bwi");
        assert_eq!(p.cwi, r.cwi, "{ctx}: cwi");
        assert_eq!(p.edc, r.edc, "{ctx}: edc");
        assert_eq!(p.mode, r.mode, "{ctx}: mode");
        assert_eq!(atr.tck(), r.tck, "{ctx}: tck");
        assert_eq!(atr.historical().len(), r.hist, "{ctx}: historical length");
        assert_eq!(
            p.clock_stop.zip(p.classes),
            r.t15,
            "{ctx}: T=15 clock stop and classes"
        );
        // The historical bytes are the last K bytes before TCK.
        let end = bytes.len() - usize::from(r.tck != ABS);
        assert_eq!(
            atr.historical(),
            &atr.as_bytes()[end - r.hist..end],
            "{ctx}"
        );
    }
    // Every kind the table is meant to cover is there.
    assert!(table.iter().any(|r| r.conv == I));
    assert!(table.iter().any(|r| r.protocols == T01));
    assert!(table.iter().any(|r| r.tck == BAD));
    assert!(table.iter().any(|r| matches!(r.mode, Mode::Specific(_))));
    assert!(table.iter().any(|r| r.t15.is_some()));
}

#[test]
fn rejected_lines_of_the_list() {
    // Lines of the list that are not ATRs, and why (hand-checked).
    for (line, error) in [
        // T0=02: K=2, but 3 bytes follow.
        ("3B 02 14 50 11", Error::TrailingBytes { extra: 1 }),
        // T0=04: K=4, two bytes present: 6 needed.
        ("3B 04 60 89", Error::Truncated { needed: 6 }),
        // T0=6D: TB1, TC1, K=13: 17 bytes needed.
        ("3B 6D 00 00", Error::Truncated { needed: 17 }),
        // T0=10: TA1=14, then K=0: "50" is one byte too many.
        ("3B 10 14 50", Error::TrailingBytes { extra: 1 }),
    ] {
        let text = std::fs::read_to_string(LIST).expect("install pcsc-tools");
        assert!(
            text.lines().any(|l| l.trim_end() == line),
            "{line} not in the list"
        );
        assert_eq!(Atr::parse(&parse(line)), Err(error), "{line}");
    }
}
