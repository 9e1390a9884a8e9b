//! `readerkit atr` identifies cards from smartcard_list.txt and decodes their
//! historical bytes.
//!
//! The ATRs are entries of pcsc-tools' list (Debian's /usr/share/pcsc/smartcard_list.txt).
//! Each decoding below was checked by hand against ISO/IEC 7816-4:2020 clause 12.1.1
//! (tables 116 to 120 for the card service data and the three software function
//! tables, table 15 for LCS) and against what pcsc-tools' `ATR_analysis` prints for
//! the same ATR (run on this machine; where it differs, the comment says why).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use readerkit_testkit::cli::{assert_contains_all, assert_success};
use serde_json::Value;

const SYSTEM_LIST: &str = "/usr/share/pcsc/smartcard_list.txt";

fn readerkit(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_readerkit"));
    c.args(args).env_remove("XDG_CACHE_HOME");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run readerkit")
}

/// `readerkit atr --json ATR` with HOME in an empty directory (so the user's cache
/// does not interfere): the parsed object.
fn atr_json(atr: &str, extra: &[&str]) -> Value {
    let home = scratch("home");
    let mut args = vec!["atr", "--json"];
    args.extend_from_slice(extra);
    args.push(atr);
    let out = readerkit(&args, &[("HOME", &home)]);
    assert_success(&out);
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("readerkit-identify-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn require_list() {
    assert!(
        Path::new(SYSTEM_LIST).exists(),
        "{SYSTEM_LIST} is missing: install the Debian package pcsc-tools (tools/test.sh does)"
    );
}

fn descriptions(j: &Value) -> Vec<String> {
    j["identification"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["descriptions"].as_array().unwrap().iter())
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

/// Assert that one of the card's descriptions in `j` contains `name`.
fn assert_identified(j: &Value, name: &str) {
    let found = descriptions(j);
    assert!(
        found.iter().any(|d| d.contains(name)),
        "{name:?} not in {found:?}"
    );
}

fn objects(j: &Value) -> &Vec<Value> {
    j["historical_bytes"]["objects"].as_array().unwrap()
}

#[test]
fn slovenian_health_card_category_80_with_aid_and_status() {
    require_list();
    // 3B 7F 96 00 00 | historical 80 | 31 80 | 65 B0 85 04 01 20 | F2 00 01 | 82 90 00
    // Tag 3 (card service data) 80: bit 8 = application selection by full DF name;
    // bits 4-2 = 000: EF.DIR/EF.ATR read by READ RECORD(S) (ATR_analysis says "GET
    // RECORD(s)", ISO says READ RECORD(S)); bit 1 = 0: card with MF.
    // Tag 6 (pre-issuing data) B0 85 04 01 20; tag F (AID) 00 01; tag 8 with 2
    // bytes: SW 90 00 (ATR_analysis prints the SW without its meaning).
    let j = atr_json(
        "3B 7F 96 00 00 80 31 80 65 B0 85 04 01 20 F2 00 01 82 90 00",
        &[],
    );
    assert_identified(&j, "Health Insurance Institute of Slovenia");
    assert_eq!(j["identification"]["list"], SYSTEM_LIST);
    let h = &j["historical_bytes"];
    assert_eq!(
        (h["category_indicator"].as_u64(), h["category"].as_str()),
        (Some(0x80), Some("compact_tlv"))
    );
    let o = objects(&j);
    let tags: Vec<u64> = o.iter().map(|o| o["tag"].as_u64().unwrap()).collect();
    assert_eq!(tags, [3, 6, 15, 8]);
    let cs = &o[0]["decoded"];
    assert_eq!(cs["selection_by_full_df_name"], true);
    assert_eq!(cs["selection_by_partial_df_name"], false);
    assert_eq!(cs["ef_access"], "read_record");
    assert_eq!(cs["has_mf"], true);
    assert_eq!(
        (o[1]["name"].as_str(), o[1]["value"].as_str()),
        (Some("pre-issuing data"), Some("B085040120"))
    );
    assert_eq!(
        (o[2]["name"].as_str(), o[2]["value"].as_str()),
        (Some("application identifier"), Some("0001"))
    );
    assert_eq!(o[3]["decoded"]["sw"], "9000");
    assert_eq!(o[3]["decoded"]["lcs"], Value::Null);
    assert_eq!(
        o[3]["decoded"]["sw_meaning"],
        "normal processing: no further qualification"
    );
}

#[test]
fn vodafone_sim_card_capabilities_with_three_tables() {
    require_list();
    // 3B 3E 94 00 | 80 | 31 00 | 73 FE 21 13 | 62 00 31 | 83 81 90 00
    // Selection methods FE: every method but bit 1 (record identifier).
    // Data coding 21: bits 7-6 = 01 write proprietary, bit 5 = 0 'FF' invalid,
    // bits 4-1 = 1: data unit 2^1 = 2 quartets.
    // Third table 13: no chaining, no extended lengths, bits 5-4 = 10 channels
    // assigned by the card, bits 3-1 = 011: at most 4 channels.
    // Status 81 90 00: LCS 81 proprietary (above 0F), SW 9000. ATR_analysis agrees.
    let j = atr_json("3B 3E 94 00 80 31 00 73 FE 21 13 62 00 31 83 81 90 00", &[]);
    assert_identified(&j, "Vodafone (Italy) 64kB GSM SIM card");
    let caps = &objects(&j)[1]["decoded"];
    let methods = caps["selection_methods"]["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 7);
    assert!(!methods.contains(&Value::from("record identifier supported")));
    let dc = &caps["data_coding"];
    assert_eq!(
        (dc["byte"].as_u64(), dc["write_behaviour"].as_str()),
        (Some(0x21), Some("proprietary"))
    );
    assert_eq!(
        (
            dc["ff_tag_valid"].as_bool(),
            dc["data_unit_quartets"].as_u64()
        ),
        (Some(false), Some(2))
    );
    let cc = &caps["chaining"];
    assert_eq!(cc["command_chaining"], false);
    assert_eq!(cc["extended_lengths"], false);
    assert_eq!(cc["channel_assignment"], "by the card");
    assert_eq!(cc["max_channels"], 4);
    let status = &objects(&j)[3]["decoded"];
    assert_eq!(
        (status["lcs"].as_u64(), status["lcs_meaning"].as_str()),
        (Some(0x81), Some("proprietary"))
    );
    assert_eq!(status["sw"], "9000");
}

#[test]
fn feitian_category_00_status_at_the_end() {
    require_list();
    // 3B 0F 00 | 00 | 65 46 53 05 16 05 | 71 DF | 00 00 00 | 45 50 53
    // Category 00: the last 3 bytes are LCS 45 (proprietary) and "SW" 50 53, which
    // no ISO class covers (ATR_analysis: "Error not defined by ISO 7816"). Between:
    // tag 6 (5 bytes "FS..."), tag 7 with one byte DF (every selection method but
    // bit 6, by path), and three empty objects of tag 0.
    let j = atr_json("3B 0F 00 65 46 53 05 16 05 71 DF 00 00 00 45 50 53", &[]);
    assert_identified(&j, "Feitian ePass3000");
    let h = &j["historical_bytes"];
    assert_eq!(h["category"], "status_at_end");
    assert_eq!(h["status"]["lcs"], 0x45);
    assert_eq!(h["status"]["lcs_meaning"], "proprietary");
    assert_eq!(h["status"]["sw"], "5053");
    assert_eq!(
        h["status"]["sw_meaning"],
        "not a valid ISO/IEC 7816-4 status word"
    );
    let tags: Vec<u64> = objects(&j)
        .iter()
        .map(|o| o["tag"].as_u64().unwrap())
        .collect();
    assert_eq!(tags, [6, 7, 0, 0, 0]);
    let methods = objects(&j)[1]["decoded"]["selection_methods"]["methods"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(methods.len(), 7);
    assert!(!methods.contains(&Value::from("DF selection by path")));
    assert_eq!(objects(&j)[1]["decoded"]["data_coding"], Value::Null);
}

#[test]
fn human_output_matches_what_atr_analysis_prints() {
    require_list();
    let home = scratch("human");
    let out = readerkit(
        &[
            "atr",
            "3B 3E 94 00 80 31 00 73 FE 21 13 62 00 31 83 81 90 00",
        ],
        &[("HOME", &home)],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_contains_all(
        &text,
        &[
            "Category indicator: 80 (COMPACT-TLV objects)",
            "Tag: 3, len: 1 (card service data)",
            "Tag: 7, len: 3 (card capabilities)",
            "      Selection methods: FE",
            "        - DF selection by path",
            "      Data coding byte: 21",
            "        - Behaviour of write functions: proprietary",
            "        - Data unit in quartets: 2",
            "      Command chaining, length fields and logical channels: 13",
            "        - Logical channel number assignment: by the card",
            "        - Maximum number of logical channels: 4",
            "      LCS (life cycle status): 81 (proprietary)",
            "      SW: 90 00 (normal processing: no further qualification)",
            "Possibly identified card (using /usr/share/pcsc/smartcard_list.txt):",
            "\tVodafone (Italy) 64kB GSM SIM card",
        ],
    );
}

#[test]
fn the_list_is_read_from_list_then_cache_then_system() {
    require_list();
    let atr = "3B 02 14 50";
    // --list: its entries only; a `..` pattern and an exact one both match, in order.
    let dir = scratch("lists");
    let mine = dir.join("mine.txt");
    std::fs::write(&mine, "# test list\n3B 02 .. 50\n\tany 3B 02 xx 50\n\tsecond line\n3B 02 14 50\n\texact\n3B 02 14 51\n\tother\n").unwrap();
    let j = atr_json(atr, &["--list", mine.to_str().unwrap()]);
    assert_eq!(j["identification"]["list"], mine.to_str().unwrap());
    assert_eq!(
        descriptions(&j),
        ["any 3B 02 xx 50", "second line", "exact"]
    );
    let patterns: Vec<&str> = j["identification"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(patterns, ["3B 02 .. 50", "3B 02 14 50"]);
    // The cache (XDG_CACHE_HOME) before the system list.
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join("smartcard_list.txt"),
        "3B 02 14 50\n\tfrom the cache\n",
    )
    .unwrap();
    let out = readerkit(&["atr", "--json", atr], &[("XDG_CACHE_HOME", &cache)]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(descriptions(&j), ["from the cache"]);
    // HOME/.cache too, when XDG_CACHE_HOME is unset.
    let out = readerkit(&["atr", "--json", atr], &[("HOME", &dir)]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["identification"]["list"],
        SYSTEM_LIST,
        "no {}/.cache yet",
        dir.display()
    );
    std::fs::rename(&cache, dir.join(".cache")).unwrap();
    let out = readerkit(&["atr", "--json", atr], &[("HOME", &dir)]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(descriptions(&j), ["from the cache"]);
    // An empty cache file (a failed ATR_analysis update) is passed over.
    std::fs::write(dir.join(".cache/smartcard_list.txt"), "").unwrap();
    let out = readerkit(&["atr", "--json", atr], &[("HOME", &dir)]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["identification"]["list"], SYSTEM_LIST);
    assert!(
        descriptions(&j).iter().any(|d| d.contains("Multiflex")),
        "{:?}",
        descriptions(&j)
    );
    // Not in the list: said plainly; --no-list: no identification at all.
    let j = atr_json("3B 02 14 51", &["--list", mine.to_str().unwrap()]);
    assert_eq!(descriptions(&j), ["other"]);
    let j = atr_json("3B 00", &["--list", mine.to_str().unwrap()]);
    assert_eq!(j["identification"]["matches"], Value::Array(vec![]));
    let out = readerkit(&["atr", "--list", mine.to_str().unwrap(), "3B 00"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("NONE (not in the list)"));
    let j = atr_json("3B 02 14 50", &["--no-list"]);
    assert_eq!(j["identification"], Value::Null);
}

#[test]
fn malformed_objects_are_reported_and_the_status_indicator_still_read() {
    // Built by hand (143 ATRs of the list have category 00 and objects that do not
    // fit, like this one): T0 = 05 (5 historical bytes, no interface bytes): 00 | 03 | 36 66 AE. The
    // object byte 03 (tag 0, 3 bytes) runs into the status indicator, which
    // category 00 puts in the last 3 bytes: LCS 36 (proprietary), SW 66 AE
    // (execution error, unknown qualification).
    let j = atr_json("3B 05 00 03 36 66 AE", &["--no-list"]);
    let h = &j["historical_bytes"];
    assert_eq!(
        h["error"],
        "COMPACT-TLV object 03 at offset 1 announces 3 byte(s), 0 remain"
    );
    assert_eq!(h["status"]["lcs"], 0x36);
    assert_eq!(h["status"]["sw"], "66AE");
    assert_eq!(
        h["status"]["sw_meaning"],
        "execution error: unknown qualification"
    );
    let out = readerkit(&["atr", "--no-list", "3B 05 00 03 36 66 AE"], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_contains_all(
        &text,
        &[
            "    ERROR in the historical bytes: COMPACT-TLV object 03 at offset 1",
            "    Undecoded: 03\n",
            "      SW: 66 AE (execution error: unknown qualification)",
        ],
    );
}
