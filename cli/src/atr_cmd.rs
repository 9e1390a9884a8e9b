//! `readerkit atr`: analyse an Answer-to-Reset, in the spirit of pcsc-tools'
//! `ATR_analysis`, either for a human or as one JSON object.

use std::fmt::Write;
use std::process::ExitCode;

use readerkit::atr::{
    Atr, Character, ClockStop, Convention, Edc, Flags, Kind, Meaning, Mode, Parameters, Spu, Tck,
};
use readerkit::timing::{self, Timing};

use crate::EXIT_USAGE;
use crate::json::Object;

/// Card clock assumed when `--clock-khz` is not given: 3.58 MHz, the usual reader
/// clock (the NTSC colour-burst crystal that most readers run the card at).
pub(crate) const DEFAULT_CLOCK_KHZ: u32 = 3580;

/// Help text of the subcommand.
pub(crate) const USAGE: &str = "\
Usage: readerkit atr [--json] [--clock-khz KHZ] HEX...

Analyse an Answer-to-Reset (ISO/IEC 7816-3:2006 clause 8): TS, T0, every
TAi/TBi/TCi/TDi with its meaning, the historical bytes, TCK, the values ISO
reserves, and the derived timing (etu, guard time, WWT for T=0, CWT/BWT/BGT for
T=1) both at the default F/D (before PPS) and at the card's Fi/Di.

HEX is the ATR in hexadecimal; spaces and colons are accepted, and it may be split
over several arguments: `3B 02 14 50`, `3B:02:14:50` and `3B021450` are the same.
TS may be 3B (direct), 3F (inverse, decoded) or 03 (inverse as a direct-convention
UART receives it; every byte is then decoded).

Options:
  --json            print exactly one JSON object (on error: {\"error\": \"...\"})
  --clock-khz KHZ   card clock frequency for the timing, in kHz (default 3580)
  -h, --help        print this help

Exit status: 0 the bytes are an ATR (even with a wrong TCK or reserved values,
which are reported), 1 they are not (bad hex, bad TS, truncated...), 2 usage error.
";

struct Options {
    json: bool,
    clock_khz: u32,
    hex: Vec<String>,
}

/// Run the subcommand on its arguments (those after `atr`).
pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match parse_options(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("readerkit atr: {message}\n");
            eprint!("{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let atr = parse_hex(&options.hex)
        .and_then(|bytes| Atr::parse(&bytes).map_err(|e| format!("not an ATR: {e}")));
    match atr {
        Ok(atr) => {
            if options.json {
                println!("{}", json(&atr, options.clock_khz));
            } else {
                print!("{}", human(&atr, options.clock_khz));
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            if options.json {
                let mut o = Object::new();
                o.str("error", &message);
                println!("{}", o.finish());
            } else {
                eprintln!("readerkit atr: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means help was asked for.
fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        json: false,
        clock_khz: DEFAULT_CLOCK_KHZ,
        hex: Vec::new(),
    };
    let mut iter = args.iter();
    let mut only_hex = false;
    while let Some(arg) = iter.next() {
        if only_hex || !arg.starts_with('-') {
            options.hex.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        match name {
            "--" => only_hex = true,
            "-h" | "--help" => return Ok(None),
            "--json" if inline.is_none() => options.json = true,
            "--clock-khz" => {
                let value = match inline {
                    Some(v) => v,
                    None => iter
                        .next()
                        .cloned()
                        .ok_or("--clock-khz needs a value in kHz")?,
                };
                options.clock_khz = match value.trim().parse::<u32>() {
                    Ok(khz) if khz > 0 => khz,
                    _ => {
                        return Err(format!(
                            "invalid --clock-khz `{value}`: a number of kHz above 0"
                        ));
                    }
                };
            }
            _ => return Err(format!("unknown option `{arg}`")),
        }
    }
    if options.hex.iter().all(|w| w.trim().is_empty()) {
        return Err("missing the ATR (HEX)".to_string());
    }
    Ok(Some(options))
}

/// Hex words to bytes; spaces, tabs and colons separate nothing and are dropped.
fn parse_hex(words: &[String]) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = words
        .iter()
        .flat_map(|w| w.chars())
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if let Some(bad) = digits.iter().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("invalid hex digit `{}`", bad.escape_default()));
    }
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    Ok(digits
        .chunks(2)
        .map(|pair| {
            let hi = pair[0].to_digit(16).unwrap_or(0);
            let lo = pair[1].to_digit(16).unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect())
}

fn hex(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

fn ascii(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect()
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

fn edc_name(e: Edc) -> &'static str {
    match e {
        Edc::Lrc => "lrc",
        Edc::Crc => "crc",
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
struct Figures {
    f: u16,
    d: u8,
    etu_ns: u32,
    baud: u32,
    guard_etu: u32,
    guard_us: u32,
    guard_t1_us: u32,
    wwt_us: u32,
    cwt_us: u32,
    bwt_us: u32,
    bgt_us: u32,
}

fn figures(t: &Timing, p: &Parameters) -> Figures {
    let fi_f = timing::clock_rate_conversion(p.fi).map_or(timing::F_DEFAULT, |r| r.f);
    let t1 = p.default_protocol_number() == 1;
    Figures {
        f: t.f,
        d: t.d,
        etu_ns: t.etu_ns(),
        baud: t.baud(),
        guard_etu: timing::guard_time_etu(p.n, t1),
        guard_us: t.guard_time_us(p.n, t1),
        guard_t1_us: t.guard_time_us(p.n, true),
        wwt_us: t.t0_waiting_time_us(p.wi, fi_f),
        cwt_us: t.t1_character_waiting_time_us(p.cwi),
        bwt_us: t.t1_block_waiting_time_us(p.bwi, 1),
        bgt_us: t.t1_block_guard_time_us(),
    }
}

fn figures_json(fig: &Figures) -> Object {
    let mut o = Object::new();
    o.num("f", fig.f)
        .num("d", fig.d)
        .num("etu_ns", fig.etu_ns)
        .num("baud", fig.baud)
        .num("guard_etu", fig.guard_etu)
        .num("guard_us", fig.guard_us)
        .num("wwt_us", fig.wwt_us)
        .num("cwt_us", fig.cwt_us)
        .num("bwt_us", fig.bwt_us)
        .num("bgt_us", fig.bgt_us);
    o
}

fn check_text(atr: &Atr, p: &Parameters) -> String {
    match p.check(atr.tck()) {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    }
}

fn json(atr: &Atr, clock_khz: u32) -> String {
    let p = atr.parameters();
    let a = atr.analysis();
    let rate = timing::clock_rate_conversion(p.fi);
    let d = timing::baud_rate_adjustment(p.di);
    let protocols: Vec<u64> = a.offered().map(u64::from).collect();
    let (specific, spec_t, implicit, can_change) = match p.mode {
        Mode::Specific {
            protocol,
            implicit_parameters,
            can_change,
        } => (
            true,
            Some(protocol),
            Some(implicit_parameters),
            Some(can_change),
        ),
        Mode::Negotiable => (false, None, None, None),
    };
    let reserved: Vec<&str> = a.flags.iter().map(Flags::name).collect();
    let card = Timing::from_indices(p.fi, p.di, clock_khz);
    let initial_is_card = card.is_some() && p.ta1_applies_at_once();

    let mut t = Object::new();
    t.num("clock_khz", clock_khz);
    t.obj(
        "default",
        figures_json(&figures(&Timing::default_at(clock_khz), &p)),
    );
    match card {
        Some(card) => t.obj("card", figures_json(&figures(&card, &p))),
        None => t.opt_num("card", None::<u8>),
    };
    t.str("initial", if initial_is_card { "card" } else { "default" });

    let mut o = Object::new();
    o.str("atr", &hex(atr.as_bytes(), ""))
        .str("convention", convention_name(atr.convention()))
        .num("t0", atr.t0())
        .nums("protocols", &protocols)
        .num("default_protocol", p.default_protocol_number())
        .num("fi", p.fi)
        .num("di", p.di)
        .opt_num("f", rate.map(|r| r.f))
        .opt_num("d", d)
        .opt_num("fmax_khz", rate.map(|r| r.fmax_khz))
        .num("n", p.n)
        .num("wi", p.wi)
        .num("ifsc", p.ifsc)
        .num("bwi", p.bwi)
        .num("cwi", p.cwi)
        .str("edc", edc_name(p.edc))
        .str("mode", if specific { "specific" } else { "negotiable" })
        .bool("specific", specific)
        .opt_num("specific_protocol", spec_t);
    match (implicit, can_change) {
        (Some(i), Some(c)) => {
            o.bool("implicit_parameters", i).bool("can_change", c);
        }
        _ => {
            o.opt_num("implicit_parameters", None::<u8>)
                .opt_num("can_change", None::<u8>);
        }
    }
    o.opt_num("tb1", a.tb1)
        .opt_num("tc1", a.tc1)
        .opt_num("ta2", a.ta2)
        .opt_str("clock_stop", p.clock_stop.map(clock_stop_name));
    match p.classes {
        Some(c) => o.strs("classes", &class_letters(c)),
        None => o.opt_num("classes", None::<u8>),
    };
    o.opt_num("spu", a.spu)
        .str("historical", &hex(atr.historical(), ""))
        .num("historical_len", atr.historical().len() as u64)
        .str("tck", tck_name(atr.tck()))
        .opt_num("tck_byte", atr.tck_byte())
        .strs("reserved", &reserved)
        .str("check", &check_text(atr, &p))
        .obj("timing", t);
    o.finish()
}

fn human(atr: &Atr, clock_khz: u32) -> String {
    let mut s = String::new();
    let p = atr.parameters();
    let a = atr.analysis();
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
        let _ = writeln!(s, "  T{letter}({i}) = {b:02X} --> {}", meaning_text(&c));
        if c.kind == Kind::Td {
            // Group i + 1 follows.
            s.push_str("-----\n");
        }
    }
    let hist = atr.historical();
    let _ = writeln!(s, "+ Historical bytes ({}): {}", hist.len(), hex(hist, " "));
    if !hist.is_empty() {
        let _ = writeln!(s, "  ASCII: \"{}\"", ascii(hist));
        let category = match hist[0] {
            0x00 => "status indicator in the last 3 bytes",
            0x10 => "DIR data reference follows",
            0x80 => "COMPACT-TLV objects follow",
            0x81..=0x8F => "RFU",
            _ => "proprietary",
        };
        let _ = writeln!(s, "  Category indicator: {:02X} ({category})", hist[0]);
    }
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
        Mode::Specific {
            protocol,
            implicit_parameters,
            can_change,
        } => format!(
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
        p.fi,
        p.di,
        p.n,
        p.wi,
        p.ifsc,
        p.bwi,
        p.cwi,
        edc_name(p.edc).to_uppercase()
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
    let default = figures(&Timing::default_at(clock_khz), &p);
    let card = Timing::from_indices(p.fi, p.di, clock_khz).map(|t| figures(&t, &p));
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
    row(
        &mut s,
        &format!("guard time ({} etu)", default.guard_etu),
        &|f| format!("{} us", f.guard_us),
    );
    if p.n == 255 && t0 && t1 && p.default_protocol_number() != 1 {
        row(&mut s, "guard time T=1 (11 etu)", &|f| {
            format!("{} us", f.guard_t1_us)
        });
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
        row(&mut s, "T=1 BGT (22 etu)", &|f| ms(f.bgt_us));
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
fn meaning_text(c: &Character) -> String {
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
            if c.byte == 0 { " (no VPP)" } else { "" }
        ),
        Meaning::ExtraGuardTime { n: 255 } => {
            "Extra guard time: N = 255 (minimum: 12 etu for T=0, 11 etu for T=1)".to_string()
        }
        Meaning::ExtraGuardTime { n } => format!("Extra guard time: N = {n} etu"),
        Meaning::SpecificMode {
            protocol,
            implicit_parameters,
            can_change,
        } => format!(
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
            edc_name(edc).to_uppercase(),
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
    let ratio = match (f, d) {
        (Some(r), Some(d)) => format!(", {} cycles/etu", f64::from(r.f) / f64::from(d)),
        _ => String::new(),
    };
    format!("Fi = {fi}, Di = {di}: {f_text}, {d_text}{ratio}")
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
