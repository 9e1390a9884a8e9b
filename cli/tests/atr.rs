//! Runs the built `readerkit` binary on ATRs and checks its JSON field by field
//! (parsed with serde_json).

use readerkit_testkit::cli::{assert_contains_all, assert_success};
use serde_json::json;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_readerkit"))
        .args(args)
        .output()
        .expect("run readerkit")
}

/// `readerkit atr --json <words>`: exit code and the one parsed JSON object.
fn atr_json(words: &[&str]) -> (i32, Json) {
    let mut args = vec!["atr", "--json"];
    args.extend_from_slice(words);
    let out = run(&args);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 1, "exactly one line of JSON: {text}");
    let json: Json =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"));
    (out.status.code().expect("exit code"), json)
}

fn ok(words: &[&str]) -> Json {
    let (code, json) = atr_json(words);
    assert_eq!(code, 0, "{json:?}");
    assert!(json.get("error").is_none());
    json
}

type Json = serde_json::Value;

/// Every key of the object `expected` has its value in `j` (other keys of `j`
/// are not looked at); a failure names the key.
fn assert_has(j: &Json, expected: Json) {
    let expected = expected.as_object().expect("an object of expected fields");
    for (key, value) in expected {
        assert_eq!(j.at(key), value, "{key}");
    }
}

/// Typed look-ups that fail the test with the key's name.
trait Fields {
    fn at(&self, key: &str) -> &Json;
    fn num(&self, key: &str) -> u64;
    fn str(&self, key: &str) -> &str;
    fn bool(&self, key: &str) -> bool;
    fn nums(&self, key: &str) -> Vec<u64>;
    fn strs(&self, key: &str) -> Vec<String>;
}

impl Fields for Json {
    fn at(&self, key: &str) -> &Json {
        self.get(key)
            .unwrap_or_else(|| panic!("missing key {key} in {self:?}"))
    }

    fn num(&self, key: &str) -> u64 {
        self.at(key)
            .as_u64()
            .unwrap_or_else(|| panic!("{key} is not a number: {self:?}"))
    }

    fn str(&self, key: &str) -> &str {
        self.at(key)
            .as_str()
            .unwrap_or_else(|| panic!("{key} is not a string: {self:?}"))
    }

    fn bool(&self, key: &str) -> bool {
        self.at(key)
            .as_bool()
            .unwrap_or_else(|| panic!("{key} is not a bool: {self:?}"))
    }

    fn nums(&self, key: &str) -> Vec<u64> {
        let items = self.at(key).as_array().unwrap_or_else(|| panic!("{key}"));
        items.iter().map(|v| v.as_u64().unwrap()).collect()
    }

    fn strs(&self, key: &str) -> Vec<String> {
        let items = self.at(key).as_array().unwrap_or_else(|| panic!("{key}"));
        items
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }
}

const T0_ONLY: &str = "3B 02 14 50";
const INVERSE: &str = "3F 2F 00 80 69 AF 03 07 06 68 00 7F 0A 0E 83 3E 9F 16";

#[test]
fn direct_t0_only() {
    let j = ok(&[T0_ONLY]);
    assert_has(
        &j,
        json!({
            "convention": "direct",
            "protocols": [0],
            "default_protocol": 0,
            "fi": 1, "di": 1, "fmax_khz": 5000,
            "n": 0, "wi": 10,
            "ifsc": 32, "bwi": 4, "cwi": 13, "edc": "lrc",
            "specific": false,
            "historical": "1450",
            "tck": "absent", "tck_byte": null,
            "check": "ok",
        }),
    );
    let t = j.at("timing");
    assert_eq!(t.num("clock_khz"), 3580);
    let d = t.at("default");
    // 372 / 3.58 MHz = 103.910... µs; 12 etu guard; WWT = 10 * 960 * 372 / 3.58 MHz.
    assert_eq!(d.num("etu_ns"), 103_911);
    assert_eq!(d.num("guard_us"), 1247);
    assert_eq!(d.num("wwt_us"), 997_542);
    assert_eq!(t.at("card"), &t.at("default").clone());
    assert_eq!(t.str("initial"), "default");
}

#[test]
fn inverse_decoded_and_raw() {
    let decoded = ok(&[INVERSE]);
    assert_has(
        &decoded,
        json!({
            "convention": "inverse",
            "protocols": [0],
            "historical_len": 15,
            "historical": "8069AF03070668007F0A0E833E9F16",
            "tb1": 0,
        }),
    );
    let raw: Vec<String> = INVERSE
        .split_whitespace()
        .map(|h| format!("{:02X}", !u8::from_str_radix(h, 16).unwrap().reverse_bits()))
        .collect();
    assert_eq!(raw[0], "03");
    let raw = raw.join(" ");
    let j = ok(&[&raw]);
    assert_eq!(j.str("convention"), "inverse");
    assert_eq!(j.str("atr"), decoded.str("atr"));
    assert_eq!(j, decoded);
}

#[test]
fn t0_and_t1_offered() {
    // TD1 = 80 (T=0, TD2), TD2 = 01 (T=1), TCK = 01.
    let j = ok(&["3B 80 80 01 01"]);
    assert_eq!(j.nums("protocols"), [0, 1]);
    assert_eq!(j.num("default_protocol"), 0);
    assert_eq!(j.str("tck"), "ok");
    assert_eq!(j.num("tck_byte"), 1);
    assert_eq!(j.str("historical"), "");
    let card = j.at("timing").at("card");
    for key in ["wwt_us", "cwt_us", "bwt_us", "bgt_us"] {
        assert!(card.num(key) > 0, "{key}");
    }
}

#[test]
fn t1_with_crc() {
    // TD1 = 81 (T=1, TD2), TD2 = 41 (TC3, T=1), TC3 = 01 (CRC), TCK = 41.
    let j = ok(&["3B 80 81 41 01 41"]);
    assert_eq!(j.nums("protocols"), [1]);
    assert_eq!(j.num("default_protocol"), 1);
    assert_eq!(j.str("edc"), "crc");
    assert_eq!(j.str("tck"), "ok");
    assert_eq!(j.strs("reserved"), Vec::<String>::new());
}

#[test]
fn specific_mode_with_t15_classes() {
    // From pcsc-tools' list: TA1 = 96, TD1 = 91, TA2 = 81 (specific T=1, cannot
    // change, TA1 applies), TD2 = B1, TA3 = FE, TB3 = 55, TD3 = 1F, TA4 = C7, TCK D4.
    let j = ok(&["3B 90 96 91 81 B1 FE 55 1F C7 D4"]);
    assert!(j.bool("specific"));
    assert_eq!(j.str("mode"), "specific");
    assert_eq!(j.num("specific_protocol"), 1);
    assert!(!j.bool("implicit_parameters"));
    assert!(!j.bool("can_change"));
    assert_eq!(j.num("ta2"), 0x81);
    assert_eq!(j.num("default_protocol"), 1);
    assert_eq!(j.nums("protocols"), [1]);
    assert_eq!((j.num("fi"), j.num("di")), (9, 6));
    assert_eq!(j.num("fmax_khz"), 5000);
    assert_eq!((j.num("ifsc"), j.num("bwi"), j.num("cwi")), (254, 5, 5));
    assert_eq!(j.str("clock_stop"), "no_preference");
    assert_eq!(j.strs("classes"), ["A", "B", "C"]);
    assert_eq!(j.str("tck"), "ok");
    let t = j.at("timing");
    assert_eq!(t.str("initial"), "card");
    assert_eq!((t.at("card").num("f"), t.at("card").num("d")), (512, 32));
}

#[test]
fn specific_mode_implicit_parameters() {
    let j = ok(&["3B B0 13 00 90 11 01 23"]);
    assert!(j.bool("specific"));
    assert!(j.bool("implicit_parameters"));
    assert!(j.bool("can_change"));
    assert_eq!(j.num("specific_protocol"), 1);
    assert_eq!(j.num("default_protocol"), 1);
    assert_eq!((j.num("fi"), j.num("di")), (1, 3));
    assert_eq!(j.num("tb1"), 0);
    assert_eq!(j.at("timing").str("initial"), "default");
}

#[test]
fn bad_tck_still_shows_every_field() {
    // From pcsc-tools' list: TD1 = 80, TD2 = 01, six historical bytes, TCK 00 wrong.
    let j = ok(&["3B 86 80 01 06 75 77 81 02 8F 00"]);
    assert_eq!(j.str("tck"), "bad");
    assert_eq!(j.num("tck_byte"), 0);
    assert_eq!(j.str("check"), "wrong TCK");
    assert_eq!(j.nums("protocols"), [0, 1]);
    assert_eq!(j.str("historical"), "06757781028F");
    assert_eq!(j.num("historical_len"), 6);
    assert_eq!(j.str("convention"), "direct");
}

#[test]
fn reserved_values_are_flagged() {
    // TA1 = 77: Fi 7 is RFU; Di 7 is D = 64 since ISO/IEC 7816-3:2006.
    let j = ok(&["3B 10 77"]);
    assert_eq!(j.strs("reserved"), ["reserved_fi"]);
    assert_eq!(j.at("fmax_khz"), &Json::Null);
    assert_eq!(j.at("timing").at("card"), &Json::Null);
    assert_eq!(j.str("check"), "reserved Fi 7");
}

#[test]
fn truncated_bad_ts_and_bad_hex_are_errors() {
    for (words, needle) in [
        (&["3B 02 14"][..], "truncated"),
        (&["3A 00"][..], "invalid TS 3A"),
        (&["3B 00 00"][..], "after the end"),
        (&["3B 0"][..], "odd number"),
        (&["3B 0G"][..], "invalid hex digit"),
    ] {
        let (code, j) = atr_json(words);
        assert_eq!(code, 1, "{words:?}");
        assert_eq!(j.as_object().unwrap().len(), 1, "only the error key: {j:?}");
        assert!(j.str("error").contains(needle), "{words:?}: {j:?}");
    }
    let out = run(&["atr", "3B", "02", "14"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}

#[test]
fn separators_and_argv_words() {
    let reference = ok(&[T0_ONLY]);
    for words in [
        &["3B:02:14:50"][..],
        &["3B021450"][..],
        &["3b", "02", "14", "50"][..],
        &["3B:02", "14 50"][..],
        &["--", "3B", "02:14:50"][..],
    ] {
        assert_eq!(ok(words), reference, "{words:?}");
    }
}

#[test]
fn clock_option() {
    let j = ok(&["--clock-khz", "4000", T0_ONLY]);
    assert_eq!(j.at("timing").num("clock_khz"), 4000);
    assert_eq!(j.at("timing").at("default").num("etu_ns"), 93_000);
    let k = ok(&["--clock-khz=4000", T0_ONLY]);
    assert_eq!(j, k);
}

#[test]
fn usage_errors_exit_2_and_name_the_argument() {
    for (args, named) in [
        (&[][..], "Usage: readerkit <COMMAND>"),
        (&["frobnicate"][..], "'frobnicate'"),
        (&["atr"][..], "<HEX>"),
        (&["atr", ""][..], "<HEX>"),
        (&["atr", "--bogus", T0_ONLY][..], "'--bogus'"),
        (&["atr", "--clock-khz"][..], "--clock-khz <KHZ>"),
        (
            &["atr", "--clock-khz", "0", T0_ONLY][..],
            "'--clock-khz <KHZ>'",
        ),
        (
            &["atr", "--clock-khz", "fast", T0_ONLY][..],
            "'--clock-khz <KHZ>'",
        ),
        // Below ISO's 1 MHz the T=1 BWT no longer fits the core's µs figures (at
        // 1 kHz it printed the saturated 4294967.3 ms); above 20 MHz no card runs.
        (
            &["atr", "--clock-khz", "999", T0_ONLY][..],
            "'--clock-khz <KHZ>'",
        ),
        (
            &["atr", "--clock-khz", "20001", T0_ONLY][..],
            "'--clock-khz <KHZ>'",
        ),
        (
            &["atr", "--list", "/nonexistent/smartcard_list.txt", T0_ONLY][..],
            "'--list <PATH>'",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help() {
    for args in [&["--help"][..], &["-h"][..], &["help"][..]] {
        let text = assert_success(&run(args));
        assert!(text.contains("readerkit atr"), "{text}");
        assert!(text.contains("Exit status:"), "{text}");
    }
    // Every subcommand has a help with an example and the exit codes.
    for sub in ["atr", "scan", "apdu", "demo", "ccid-serve", "usbip-serve"] {
        for args in [&[sub, "--help"][..], &["help", sub][..]] {
            let out = run(args);
            assert_eq!(out.status.code(), Some(0), "{args:?}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(&format!("  readerkit {sub}")),
                "{args:?}: {text}"
            );
            assert!(text.contains("Exit status:"), "{args:?}: {text}");
        }
    }
    let out = run(&["atr", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--clock-khz <KHZ>"));
}

#[test]
fn human_output() {
    let text = assert_success(&run(&["atr", "3B 90 96 91 81 B1 FE 55 1F C7 D4"]));
    let bgt = format!("T=1 BGT ({} etu)", readerkit::timing::T1_BGT_ETU);
    assert_contains_all(
        &text,
        &[
            "TS = 3B --> Direct convention",
            "T0 = 90, Y(1): 1001, K: 0",
            "TA(1) = 96 --> Fi = 9, Di = 6: F = 512, f(max) = 5 MHz, D = 32",
            "TA(2) = 81 --> Specific mode: protocol T = 1",
            "TA(3) = FE --> IFSC: 254",
            "TB(3) = 55 --> Block Waiting Integer: 5 - Character Waiting Integer: 5",
            "TD(3) = 1F --> Y(4): 0001, Protocol T = 15",
            "TA(4) = C7 --> Clock stop: no preference - Class accepted by the card: A 5V, B 3V, C 1.8V",
            "TCK = D4 (correct checksum)",
            "Timing at 3580 kHz",
            "T=1 BWT (BWI=5)",
            &bgt,
            "right after the ATR: the card's Fi/Di",
        ],
    );
    let out = run(&["atr", INVERSE]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Inverse convention"));
    assert!(text.contains("TCK absent"));
    assert!(text.contains("T=0 WWT (WI=10)"));
    let out = run(&["atr", "3B 86 80 01 06 75 77 81 02 8F 00"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("WRONG checksum"), "{text}");
}

#[test]
fn what_atr_analysis_prints_for_ta1_and_tb1() {
    // pcsc-tools' ATR_analysis on these ATRs prints "fMax for Fi = 5 MHz => 156250
    // bits/s" (F = 512, D = 16: 5 MHz * 16 / 512) and 161290 bits/s (F = 372, D =
    // 12), and for TB1 = 25 "Programming Param P: 5 Volts" (PI1 = 5; II = 01 is
    // 50 mA in ISO/IEC 7816-3:1997, which ATR_analysis prints as "I: 1").
    for (atr, needle) in [
        (
            "3B 9F 95 81 31 FE 9F 00 66 46 53 05 10 00 11 71 DF 00 00 00 00 00 02",
            "32 cycles/etu, 156250 bit/s at f(max)",
        ),
        (
            "3B DA 18 FF 81 B1 FE 75 1F 03 00 31 C5 73 C0 01 40 00 90 00 0C",
            "31 cycles/etu, 161290 bit/s at f(max)",
        ),
        ("3F 65 25 00 2C 09 69 90 00", "PI1 = 5, II = 1 (5 V, 50 mA)"),
        ("3B 00", "TCK absent"),
    ] {
        let out = run(&["atr", "--no-list", atr]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let j = ok(&["3F 65 25 00 2C 09 69 90 00"]);
    let characters = j.at("characters").as_array().unwrap();
    assert_eq!(characters[0]["name"], "TB1");
    assert_eq!(characters[0]["byte"], 0x25);
    assert!(
        characters[0]["meaning"]
            .as_str()
            .unwrap()
            .ends_with("(5 V, 50 mA)")
    );
    assert_eq!(characters[0]["reserved"][0], "deprecated_tb1");
}

/// T=0, TA1 = 41 (Fi 4: F 1116, Di 1), TC1 = 05 and T=15 indicated (TD2 = 1F, TA3 =
/// 07): TC1 counts 5 × 1116 clock cycles (ISO/IEC 7816-3:2006 8.3), 15 etu at the
/// default F 372 (the core's caps unit test has the same 15) and 5 etu at F 1116.
const T15_TC1_5: &str = "3B D0 41 05 80 1F 07 0C";

#[test]
fn tc1_counts_fi_di_cycles_when_t15_is_indicated() {
    let j = ok(&["--no-list", T15_TC1_5]);
    assert_has(&j, json!({"fi": 4, "di": 1, "n": 5, "tck": "ok"}));
    let t = j.at("timing");
    let (default, card) = (t.at("default"), t.at("card"));
    // 12 etu + 15 etu at F 372, 12 etu + 5 etu at F 1116: 5 580 cycles either way.
    assert_eq!(default.num("guard_etu"), 27);
    assert_eq!(card.num("guard_etu"), 17);
    // 27 × 372 / 3.58 MHz = 2 805.6 µs; 17 × 1116 / 3.58 MHz = 5 299.4 µs (rounded up).
    assert_eq!(default.num("guard_us"), 2806);
    assert_eq!(card.num("guard_us"), 5300);
    let characters = j.at("characters").as_array().unwrap();
    assert_eq!(characters[1]["name"], "TC1");
    assert_eq!(
        characters[1]["meaning"],
        "Extra guard time: N = 5 x Fi/Di clock cycles (T=15 indicated)"
    );

    let text = assert_success(&run(&["atr", "--no-list", T15_TC1_5]));
    assert_contains_all(
        &text,
        &[
            "TC(1) = 05 --> Extra guard time: N = 5 x Fi/Di clock cycles (T=15 indicated)",
            "27 etu = 2806 us",
            "17 etu = 5300 us",
        ],
    );
    assert!(!text.contains("guard time (27 etu)"), "{text}");
}

#[test]
fn tc1_counts_etu_without_t15() {
    // The same ATR without TD2's T=15: N is 5 etu of whichever F/D is in force.
    let j = ok(&["--no-list", "3B 50 41 05"]);
    let t = j.at("timing");
    assert_eq!(t.at("default").num("guard_etu"), 17);
    assert_eq!(t.at("card").num("guard_etu"), 17);
    let text = assert_success(&run(&["atr", "--no-list", "3B 50 41 05"]));
    assert_contains_all(
        &text,
        &[
            "TC(1) = 05 --> Extra guard time: N = 5 etu",
            "guard time (17 etu)",
        ],
    );
}
