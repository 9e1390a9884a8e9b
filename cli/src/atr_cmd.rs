//! `readerkit atr`: analyse an Answer-to-Reset, in the spirit of pcsc-tools'
//! `ATR_analysis`, and identify the card from `smartcard_list.txt`, either for a
//! human or as one JSON object.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use readerkit::atr::{
    Atr, Character, ClockStop, Convention, Flags, Kind, Meaning, Mode, Parameters, SpecificMode,
    Spu, Tck,
};
use readerkit::timing::{self, Timing};
use serde::Serialize;

use crate::hex::encode as hex;
use crate::smartcard_list::{self, List, Match};
use crate::{bad_input, historical_fmt};
use readerkit_cli::shown::escaped;

/// Card clock assumed when `--clock-khz` is not given: 3.58 MHz, the usual reader
/// clock (the NTSC colour-burst crystal that most readers run the card at).
pub(crate) const DEFAULT_CLOCK_KHZ: u32 = 3580;

/// Arguments of `readerkit atr`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = concat!(
        "Examples:\n",
        "  readerkit atr 3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF\n",
        "  readerkit atr --json --clock-khz 4000 3B:02:14:50\n",
        "  readerkit atr --list ./smartcard_list.txt 3B021450\n\n",
        "Exit status:\n",
        "  0  the bytes are an ATR (even with a wrong TCK or reserved values, which are reported)\n",
        "  1  they are not (bad hex, bad TS, truncated...); with --json: {\"error\": \"...\"}\n",
        "  2  usage error (unknown option, bad or missing argument, --list file unreadable)"
    )
)]
pub(crate) struct Args {
    /// Print exactly one JSON object (on error: {"error": "..."}).
    #[arg(long)]
    json: bool,
    /// Card clock frequency for the timing, in kHz: 1000 to 20000 (ISO/IEC 7816-3
    /// clocks a card at 1 MHz at least; 20 MHz is the highest f(max) an ATR's TA1
    /// announces).
    #[arg(long, value_name = "KHZ", default_value_t = DEFAULT_CLOCK_KHZ,
          value_parser = clap::value_parser!(u32).range(1000..=20_000))]
    clock_khz: u32,
    /// smartcard_list.txt to identify the card with (instead of the default places).
    #[arg(long, value_name = "PATH")]
    list: Option<PathBuf>,
    /// Do not look the card up in smartcard_list.txt.
    #[arg(long, conflicts_with = "list")]
    no_list: bool,
    /// The ATR in hexadecimal; spaces and colons are accepted and it may be split over
    /// several arguments (`3B 02 14 50`, `3B:02:14:50`, `3B021450`). TS may be 3B
    /// (direct), 3F (inverse, decoded) or 03 (inverse as a direct-convention UART
    /// receives it; every byte is then decoded).
    #[arg(value_name = "HEX", required = true, num_args = 1..)]
    hex: Vec<String>,
}

/// Run the subcommand.
pub(crate) fn run(args: Args) -> ExitCode {
    if args.hex.iter().all(|w| w.trim().is_empty()) {
        crate::usage_error("atr", "the ATR <HEX> is empty");
    }
    let identification = if args.no_list {
        None
    } else {
        Some(identification_source("atr", args.list.as_deref()))
    };
    let atr = crate::hex::parse(&args.hex)
        .and_then(|bytes| Atr::parse(&bytes).map_err(|e| format!("not an ATR: {e}")));
    match atr {
        Ok(atr) => {
            let identified = identification
                .as_ref()
                .map(|source| identify(source, atr.as_bytes()));
            if args.json {
                let value = json(&atr, args.clock_khz, identified.as_ref());
                println!("{}", serde_json::to_string(&value).unwrap_or_default());
            } else {
                print!("{}", human(&atr, args.clock_khz));
                if let Some(identified) = &identified {
                    print!("{}", identification_text(identified));
                }
            }
            ExitCode::SUCCESS
        }
        Err(message) => bad_input("atr", args.json, &message),
    }
}

/// Where the list comes from: the `--list` file (a usage error if unreadable) or
/// the first default place that has one.
pub(crate) enum Source {
    /// The list was read.
    Loaded(List),
    /// No list in the default places.
    Absent(smartcard_list::Absent),
}

/// Load the list named by `--list`, or the first default one. An unreadable
/// `--list` file is a usage error of `readerkit SUBCOMMAND` naming it.
pub(crate) fn identification_source(subcommand: &str, given: Option<&std::path::Path>) -> Source {
    match given {
        Some(path) => match List::load(path) {
            Ok(list) => Source::Loaded(list),
            Err(e) => crate::usage_error(
                subcommand,
                format!(
                    "invalid value '{}' for '--list <PATH>': {e}",
                    path.display()
                ),
            ),
        },
        None => match smartcard_list::locate_default() {
            Ok(path) => match List::load(&path) {
                Ok(list) => Source::Loaded(list),
                Err(_) => Source::Absent(smartcard_list::Absent { tried: vec![path] }),
            },
            Err(absent) => Source::Absent(absent),
        },
    }
}

/// What the list says about one ATR.
#[derive(Debug, Serialize)]
pub(crate) struct Identification {
    /// The list used; `null` when none was found.
    pub list: Option<String>,
    /// Why there is no list, when there is none.
    pub absent: Option<String>,
    /// Every matching entry, in list order.
    pub matches: Vec<Match>,
}

/// Look `atr` up.
pub(crate) fn identify(source: &Source, atr: &[u8]) -> Identification {
    match source {
        Source::Loaded(list) => Identification {
            list: Some(list.path().display().to_string()),
            absent: None,
            matches: list.identify(atr),
        },
        Source::Absent(absent) => Identification {
            list: None,
            absent: Some(absent.to_string()),
            matches: Vec::new(),
        },
    }
}

/// The identification for a human (the list's lines with their control
/// characters escaped).
pub(crate) fn identification_text(id: &Identification) -> String {
    let mut s = String::new();
    match (&id.list, &id.absent) {
        (Some(list), _) => {
            let _ = writeln!(s, "\nPossibly identified card (using {list}):");
            if id.matches.is_empty() {
                s.push_str("\tNONE (not in the list)\n");
            }
            // The list is any package's to change: its lines are shown with their
            // control characters escaped, as reader names are.
            for m in &id.matches {
                let _ = writeln!(s, "{}", escaped(&m.pattern));
                for d in &m.descriptions {
                    let _ = writeln!(s, "\t{}", escaped(d));
                }
            }
        }
        (None, absent) => {
            let _ = writeln!(
                s,
                "\nCard not identified: {}",
                absent.as_deref().unwrap_or("no smartcard_list.txt")
            );
        }
    }
    s
}

fn convention_name(c: Convention) -> &'static str {
    match c {
        Convention::Direct => "direct",
        Convention::Inverse => "inverse",
    }
}

fn tck_name(t: Tck) -> &'static str {
    match t {
        Tck::Ok => "ok",
        Tck::Bad => "bad",
        Tck::Absent => "absent",
    }
}

fn clock_stop_name(c: ClockStop) -> &'static str {
    match c {
        ClockStop::NotSupported => "not_supported",
        ClockStop::Low => "low",
        ClockStop::High => "high",
        ClockStop::NoPreference => "no_preference",
    }
}

fn class_letters(classes: u8) -> Vec<&'static str> {
    [(0x01, "A"), (0x02, "B"), (0x04, "C")]
        .into_iter()
        .filter(|(bit, _)| classes & bit != 0)
        .map(|(_, letter)| letter)
        .collect()
}

fn protocol_meaning(t: u8) -> &'static str {
    match t {
        0 => "T=0, half-duplex character protocol",
        1 => "T=1, half-duplex block protocol",
        2 | 3 => "RFU (future full-duplex protocols)",
        4 => "RFU (enhanced half-duplex protocol)",
        5..=13 => "RFU",
        14 => "T=14, not standardized by ISO",
        _ => "T=15, global interface bytes follow",
    }
}

/// Timing figures for one F/D, as shown and as put in the JSON.
#[derive(Serialize)]
struct Figures {
    f: u16,
    d: u8,
    etu_ns: u32,
    baud: u32,
    guard_etu: u32,
    guard_us: u32,
    #[serde(skip)]
    guard_t1_us: u32,
    wwt_us: u32,
    cwt_us: u32,
    bwt_us: u32,
    bgt_us: u32,
}

/// The figures at `t` of a card announcing `p`, whose ATR indicates T=15 or not
/// (`t15`: TC1 then counts Fi/Di clock cycles, converted to etu of `t`).
fn figures(t: &Timing, p: &Parameters, t15: bool) -> Figures {
    let t1 = p.default_protocol_number() == 1;
    let n = p.extra_guard_n_at(t15, t);
    Figures {
        f: t.f,
        d: t.d,
        etu_ns: t.etu_ns(),
        baud: t.baud(),
        guard_etu: timing::guard_time_etu(n, t1),
        guard_us: t.guard_time_us(n, t1),
        guard_t1_us: t.guard_time_us(n, true),
        wwt_us: t.t0_waiting_time_us(p.wi, p.announced_f()),
        cwt_us: t.t1_character_waiting_time_us(p.cwi),
        bwt_us: t.t1_block_waiting_time_us(p.bwi, 1),
        bgt_us: t.t1_block_guard_time_us(),
    }
}

fn check_text(atr: &Atr, p: &Parameters) -> String {
    match p.check(atr.tck()) {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    }
}

/// `timing` of `atr --json`.
#[derive(Serialize)]
struct TimingJson {
    clock_khz: u32,
    default: Figures,
    card: Option<Figures>,
    initial: &'static str,
}

/// One interface character in `characters` of `atr --json` (what ATR_analysis
/// prints for it).
#[derive(Serialize)]
struct CharacterJson {
    /// `TA1`, `TD2`...
    name: String,
    byte: u8,
    meaning: String,
    counts: bool,
    reserved: Vec<&'static str>,
}

/// `atr --json`. The fields up to `timing` are those scripts already read and keep
/// their names and order; the later ones were added with the identification.
#[derive(Serialize)]
struct AtrJson<'a> {
    atr: String,
    convention: &'static str,
    t0: u8,
    protocols: Vec<u8>,
    default_protocol: u8,
    fi: u8,
    di: u8,
    f: Option<u16>,
    d: Option<u8>,
    fmax_khz: Option<u32>,
    n: u8,
    wi: u8,
    ifsc: u8,
    bwi: u8,
    cwi: u8,
    edc: String,
    mode: &'static str,
    specific: bool,
    specific_protocol: Option<u8>,
    implicit_parameters: Option<bool>,
    can_change: Option<bool>,
    tb1: Option<u8>,
    tc1: Option<u8>,
    ta2: Option<u8>,
    clock_stop: Option<&'static str>,
    classes: Option<Vec<&'static str>>,
    spu: Option<u8>,
    historical: String,
    historical_len: usize,
    tck: &'static str,
    tck_byte: Option<u8>,
    reserved: Vec<&'static str>,
    check: String,
    timing: TimingJson,
    // Added for issue 18: what ATR_analysis prints, and the identification.
    expected_tck: Option<u8>,
    characters: Vec<CharacterJson>,
    historical_bytes: serde_json::Value,
    identification: Option<&'a Identification>,
}

fn json<'a>(atr: &Atr, clock_khz: u32, identification: Option<&'a Identification>) -> AtrJson<'a> {
    let p = atr.parameters();
    let a = atr.analysis();
    let t15 = atr.indicates_t15();
    let rate = timing::clock_rate_conversion(p.fi);
    let (specific, spec_t, implicit, can_change) = match p.mode {
        Mode::Specific(SpecificMode {
            protocol,
            implicit_parameters,
            can_change,
        }) => (
            true,
            Some(protocol),
            Some(implicit_parameters),
            Some(can_change),
        ),
        Mode::Negotiable => (false, None, None, None),
    };
    let card = Timing::from_indices(p.fi, p.di, clock_khz);
    let initial_is_card = card.is_some() && p.ta1_applies_at_once();
    let timing = TimingJson {
        clock_khz,
        default: figures(&Timing::default_at(clock_khz), &p, t15),
        card: card.map(|card| figures(&card, &p, t15)),
        initial: if initial_is_card { "card" } else { "default" },
    };
    let characters = atr
        .characters()
        .map(|c| CharacterJson {
            name: format!("T{}{}", c.kind.letter(), c.group),
            byte: c.byte,
            meaning: meaning_text(&c, t15),
            counts: c.counts,
            reserved: c.flags.iter().map(Flags::name).collect(),
        })
        .collect();
    AtrJson {
        atr: hex(atr.as_bytes(), ""),
        convention: convention_name(atr.convention()),
        t0: atr.t0(),
        protocols: a.offered().collect(),
        default_protocol: p.default_protocol_number(),
        fi: p.fi,
        di: p.di,
        f: rate.map(|r| r.f),
        d: timing::baud_rate_adjustment(p.di),
        fmax_khz: rate.map(|r| r.fmax_khz),
        n: p.n,
        wi: p.wi,
        ifsc: p.ifsc,
        bwi: p.bwi,
        cwi: p.cwi,
        edc: p.edc.to_string().to_lowercase(),
        mode: if specific { "specific" } else { "negotiable" },
        specific,
        specific_protocol: spec_t,
        implicit_parameters: implicit,
        can_change,
        tb1: a.tb1,
        tc1: a.tc1,
        ta2: a.ta2,
        clock_stop: p.clock_stop.map(clock_stop_name),
        classes: p.classes.map(class_letters),
        spu: a.spu,
        historical: hex(atr.historical(), ""),
        historical_len: atr.historical().len(),
        tck: tck_name(atr.tck()),
        tck_byte: atr.tck_byte(),
        reserved: a.flags.iter().map(Flags::name).collect(),
        check: check_text(atr, &p),
        timing,
        expected_tck: atr.expected_tck(),
        characters,
        historical_bytes: historical_fmt::json(atr.historical()),
        identification,
    }
}

fn human(atr: &Atr, clock_khz: u32) -> String {
    let mut s = String::new();
    let p = atr.parameters();
    let a = atr.analysis();
    let t15 = atr.indicates_t15();
    let _ = writeln!(s, "ATR: {}", hex(atr.as_bytes(), " "));
    let _ = writeln!(
        s,
        "+ TS = {:02X} --> {} convention",
        atr.ts(),
        match atr.convention() {
            Convention::Direct => "Direct",
            Convention::Inverse => "Inverse",
        }
    );
    let t0 = atr.t0();
    let _ = writeln!(
        s,
        "+ T0 = {t0:02X}, Y(1): {:04b}, K: {} (historical bytes)",
        t0 >> 4,
        t0 & 0x0F
    );
    for c in atr.characters() {
        let (i, letter, b) = (c.group, c.kind.letter(), c.byte);
        let _ = writeln!(
            s,
            "  T{letter}({i}) = {b:02X} --> {}",
            meaning_text(&c, t15)
        );
        if c.kind == Kind::Td {
            // Group i + 1 follows.
            s.push_str("-----\n");
        }
    }
    let hist = atr.historical();
    let _ = writeln!(s, "+ Historical bytes ({}): {}", hist.len(), hex(hist, " "));
    s.push_str(&historical_fmt::text(hist));
    match (atr.tck(), atr.tck_byte(), atr.expected_tck()) {
        (Tck::Ok, Some(b), _) => {
            let _ = writeln!(s, "+ TCK = {b:02X} (correct checksum)");
        }
        (Tck::Bad, Some(b), Some(expected)) => {
            let _ = writeln!(
                s,
                "+ TCK = {b:02X} (WRONG checksum, expected {expected:02X})"
            );
        }
        _ => {
            let _ = writeln!(s, "+ TCK absent (only T=0 offered)");
        }
    }

    s.push_str("\nParameters:\n");
    let protocols: Vec<String> = a.offered().map(|t| format!("T={t}")).collect();
    let _ = writeln!(s, "  protocols offered: {}", protocols.join(", "));
    let mode = match p.mode {
        Mode::Negotiable => "negotiable (PPS may change protocol and Fi/Di)".to_string(),
        Mode::Specific(SpecificMode {
            protocol,
            implicit_parameters,
            can_change,
        }) => format!(
            "specific T={protocol}{}{}",
            if implicit_parameters {
                ", implicit parameters"
            } else {
                ", parameters of TA1"
            },
            if can_change {
                ", can change to negotiable"
            } else {
                ", cannot change"
            }
        ),
    };
    let _ = writeln!(s, "  mode: {mode}");
    let _ = writeln!(
        s,
        "  default protocol (no PPS): T={}",
        p.default_protocol_number()
    );
    let _ = writeln!(
        s,
        "  Fi = {}, Di = {}, N = {}, WI = {}; T=1: IFSC = {}, BWI = {}, CWI = {}, EDC = {}",
        p.fi, p.di, p.n, p.wi, p.ifsc, p.bwi, p.cwi, p.edc
    );
    let _ = writeln!(s, "  usable by a reader: {}", check_text(atr, &p));
    if a.flags.is_empty() {
        s.push_str("  reserved values: none\n");
    } else {
        for flag in a.flags.iter() {
            let _ = writeln!(s, "  RESERVED: {} [{}]", flag.description(), flag.name());
        }
    }

    let _ = writeln!(
        s,
        "\nTiming at {clock_khz} kHz (--clock-khz; default {DEFAULT_CLOCK_KHZ}):"
    );
    if let Some(fmax) = p.fmax_khz() {
        if clock_khz > fmax {
            let _ = writeln!(s, "  WARNING: above the card's f(max) of {fmax} kHz");
        }
    }
    let default = figures(&Timing::default_at(clock_khz), &p, t15);
    let card = Timing::from_indices(p.fi, p.di, clock_khz).map(|t| figures(&t, &p, t15));
    let head_card = match &card {
        Some(c) => format!("card Fi/Di: F={} D={}", c.f, c.d),
        None => "card Fi/Di: reserved".to_string(),
    };
    let _ = writeln!(
        s,
        "  {:<26} {:>24} {:>24}",
        "", "default: F=372 D=1", head_card
    );
    let t0 = a.offered().any(|t| t == 0);
    let t1 = a.offered().any(|t| t == 1);
    let row = |s: &mut String, name: &str, f: &dyn Fn(&Figures) -> String| {
        let c = card.as_ref().map_or("-".to_string(), f);
        let _ = writeln!(s, "  {name:<26} {:>24} {:>24}", f(&default), c);
    };
    row(&mut s, "etu", &|f| {
        format!("{:.3} us", f64::from(f.etu_ns) / 1000.0)
    });
    row(&mut s, "bit rate", &|f| format!("{} bit/s", f.baud));
    // With T=15, TC1 counts Fi/Di cycles: as many etu as each column's F/D makes
    // of them, shown in each cell when the columns differ.
    if card
        .as_ref()
        .is_none_or(|c| c.guard_etu == default.guard_etu)
    {
        row(
            &mut s,
            &format!("guard time ({} etu)", default.guard_etu),
            &|f| format!("{} us", f.guard_us),
        );
    } else {
        row(&mut s, "guard time", &|f| {
            format!("{} etu = {} us", f.guard_etu, f.guard_us)
        });
    }
    if p.n == 255 && t0 && t1 && p.default_protocol_number() != 1 {
        let guard = format!("guard time T=1 ({} etu)", timing::guard_time_etu(p.n, true));
        row(&mut s, &guard, &|f| format!("{} us", f.guard_t1_us));
    }
    if t0 {
        row(&mut s, &format!("T=0 WWT (WI={})", p.wi), &|f| ms(f.wwt_us));
    }
    if t1 {
        row(&mut s, &format!("T=1 CWT (CWI={})", p.cwi), &|f| {
            ms(f.cwt_us)
        });
        row(&mut s, &format!("T=1 BWT (BWI={})", p.bwi), &|f| {
            ms(f.bwt_us)
        });
        let bgt = format!("T=1 BGT ({} etu)", timing::T1_BGT_ETU);
        row(&mut s, &bgt, &|f| ms(f.bgt_us));
    }
    let initial = if p.ta1_applies_at_once() && card.is_some() {
        "the card's Fi/Di (specific mode)"
    } else {
        "the default F/D until a PPS"
    };
    let _ = writeln!(s, "  right after the ATR: {initial}");
    s
}

fn ms(us: u32) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", f64::from(us) / 1000.0)
    } else {
        format!("{us} us")
    }
}

/// What one interface character means, for a human: the core's interpretation in
/// words, with its reserved values marked.
/// `t15`: the ATR indicates T=15, so TC1 counts Fi/Di clock cycles.
fn meaning_text(c: &Character, t15: bool) -> String {
    let rfu = |flag: Flags, text: &'static str| if c.flags.contains(flag) { text } else { "" };
    let ignored = |what: &str| {
        if c.counts {
            String::new()
        } else {
            format!(" (not the first {what}: ignored)")
        }
    };
    match c.meaning {
        Meaning::RateIndices { fi, di } => ta1_meaning(fi, di),
        Meaning::Vpp { pi1, ii } => format!(
            "VPP (deprecated since ISO/IEC 7816-3:2006): PI1 = {pi1}, II = {ii}{}",
            vpp_text(c.byte, pi1, ii)
        ),
        Meaning::ExtraGuardTime { n: 255 } => {
            "Extra guard time: N = 255 (minimum: 12 etu for T=0, 11 etu for T=1)".to_string()
        }
        Meaning::ExtraGuardTime { n } if t15 => {
            format!("Extra guard time: N = {n} x Fi/Di clock cycles (T=15 indicated)")
        }
        Meaning::ExtraGuardTime { n } => format!("Extra guard time: N = {n} etu"),
        Meaning::SpecificMode(SpecificMode {
            protocol,
            implicit_parameters,
            can_change,
        }) => format!(
            "Specific mode: protocol T = {protocol}; bit 8 = {} ({}); bit 5 = {} ({}){}",
            u8::from(!can_change),
            if can_change {
                "can change to negotiable mode"
            } else {
                "unable to change mode"
            },
            u8::from(implicit_parameters),
            if implicit_parameters {
                "implicit parameters, not TA1's"
            } else {
                "Fi/Di of TA1 apply"
            },
            rfu(Flags::TA2_RFU_BITS, "; bits 7-6 RFU, not 0!")
        ),
        Meaning::Vpp2 { pi2 } => format!("PI2 = {pi2} (VPP, deprecated since ISO/IEC 7816-3:2006)"),
        Meaning::WaitingTimeInteger { wi } => format!(
            "Work waiting time: WI = {wi}{}",
            rfu(Flags::ZERO_WI, " (RFU!)")
        ),
        Meaning::Undefined { protocol } => format!("TC2 for T={protocol}: no meaning defined"),
        Meaning::Ifsc { ifsc } => format!(
            "IFSC: {ifsc}{}{}",
            rfu(Flags::INVALID_IFSC, " (RFU!)"),
            ignored("T=1 TA")
        ),
        Meaning::WaitingIntegers { bwi, cwi } => format!(
            "Block Waiting Integer: {bwi}{} - Character Waiting Integer: {cwi}{}",
            rfu(Flags::RESERVED_BWI, " (RFU!)"),
            ignored("T=1 TB")
        ),
        Meaning::ErrorDetection { edc } => format!(
            "Error detection code: {}{}{}",
            edc,
            rfu(Flags::T1_TC_RFU_BITS, " (bits 8-2 RFU, not 0!)"),
            ignored("T=1 TC")
        ),
        Meaning::ClockStopAndClasses {
            clock_stop,
            classes,
        } => format!(
            "{}{}{}",
            t15_ta_meaning(clock_stop, classes),
            rfu(Flags::RFU_CLASS, " (RFU class bits set!)"),
            ignored("T=15 TA")
        ),
        Meaning::Spu(spu) => format!("{}{}", spu_meaning(spu), ignored("T=15 TB")),
        Meaning::Reserved => format!("T{}{} for T=15: RFU", c.kind.letter(), c.group),
        Meaning::ProtocolSpecific { protocol } => format!("specific to T={protocol}"),
        Meaning::Protocol { protocol, next } => format!(
            "Y({}): {next:04b}, Protocol T = {protocol} ({}){}",
            c.group + 1,
            protocol_meaning(protocol),
            rfu(Flags::T15_IN_TD1, " (forbidden in TD1!)")
        ),
    }
}

fn ta1_meaning(fi: u8, di: u8) -> String {
    let f = timing::clock_rate_conversion(fi);
    let d = timing::baud_rate_adjustment(di);
    let f_text = match f {
        Some(r) => format!(
            "F = {}, f(max) = {} MHz",
            r.f,
            f64::from(r.fmax_khz) / 1000.0
        ),
        None => "F RFU!".to_string(),
    };
    let d_text = match d {
        Some(d) => format!("D = {d}"),
        None => "D RFU!".to_string(),
    };
    // As ATR_analysis shows it: the bit rate with the card clocked at its f(max).
    let at_fmax = f.and_then(|r| Timing::from_indices(fi, di, r.fmax_khz));
    let ratio = match at_fmax {
        Some(t) => format!(
            ", {} cycles/etu, {} bit/s at f(max)",
            f64::from(t.f) / f64::from(t.d),
            t.baud()
        ),
        None => String::new(),
    };
    format!("Fi = {fi}, Di = {di}: {f_text}, {d_text}{ratio}")
}

/// TB1 in volts and milliamperes (ISO/IEC 7816-3:1997 clause 6.5.3: PI1 5 to 25 V,
/// II 00 = 25 mA, 01 = 50 mA, 10 = 100 mA, 11 reserved; TB1 = 00: VPP not connected).
fn vpp_text(byte: u8, pi1: u8, ii: u8) -> String {
    if byte == 0 {
        return " (VPP not connected)".to_string();
    }
    let current = match ii {
        0 => "25 mA",
        1 => "50 mA",
        2 => "100 mA",
        _ => "current RFU",
    };
    let volts = if (5..=25).contains(&pi1) {
        format!("{pi1} V")
    } else {
        "voltage RFU".to_string()
    };
    format!(" ({volts}, {current})")
}

fn t15_ta_meaning(clock_stop: ClockStop, classes: u8) -> String {
    let stop = match clock_stop {
        ClockStop::NotSupported => "not supported",
        ClockStop::Low => "state L",
        ClockStop::High => "state H",
        ClockStop::NoPreference => "no preference",
    };
    let classes = class_letters(classes);
    format!(
        "Clock stop: {stop} - Class accepted by the card: {}",
        if classes.is_empty() {
            "none".to_string()
        } else {
            classes
                .iter()
                .map(|c| match *c {
                    "A" => "A 5V",
                    "B" => "B 3V",
                    _ => "C 1.8V",
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    )
}

fn spu_meaning(spu: Spu) -> String {
    match spu {
        Spu::NotUsed => "SPU: contact C6 not used".to_string(),
        Spu::Proprietary { value } => format!("SPU: proprietary use of C6 (value {value:02X})"),
        Spu::Standard { value } => format!("SPU: standard use of C6 (value {value:02X})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A description (or pattern) of smartcard_list.txt holding terminal
    /// controls is shown escaped in the text output.
    #[test]
    fn list_lines_are_shown_with_control_characters_escaped() {
        let id = Identification {
            list: Some("list.txt".to_string()),
            absent: None,
            matches: vec![Match {
                pattern: "3B 02 14 50\x1b]0;x\x07".to_string(),
                descriptions: vec!["Card \x1b[2J".to_string()],
            }],
        };
        let text = identification_text(&id);
        assert!(!text.contains(['\x1b', '\x07']), "{text:?}");
        assert!(text.contains("3B 02 14 50\\u{1b}]0;x\\u{7}\n"), "{text:?}");
        assert!(text.contains("\tCard \\u{1b}[2J\n"), "{text:?}");
    }
}
