//! pcsc-tools' `smartcard_list.txt` (a file any package can change) through the
//! `readerkit` tool's reading of it (readerkit-cli's `smartcard_list`), with an
//! ATR to identify.
//!
//! Input: a byte of ATR length (0 to 33), the ATR, then the list's text (at most
//! `MAX_LIST` bytes, invalid UTF-8 replaced as `List::load` reads it). Oracles:
//! * the entries `identify` finds are exactly those of the list (`entries`)
//!   whose pattern the regex crate matches against the ATR's spaced upper-case
//!   hex (`(?i)^(?:PATTERN)$`, pcsc-tools' `m/^$line$/i`), in list order, with
//!   their descriptions: the list's shortcuts (a plain pattern compared as
//!   text, a plain prefix tried before the regex) never change the answer;
//! * an entry written as plain hex bytes is found for those bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit_cli::hex;
use readerkit_cli::smartcard_list::{List, Match};
use regex::Regex;

/// The longest list text tried (the reference compiles every pattern).
const MAX_LIST: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let len = usize::from(len % 34).min(rest.len());
    let (atr, text) = rest.split_at(len);
    let text = String::from_utf8_lossy(&text[..text.len().min(MAX_LIST)]);
    let list = List::from_text(std::path::Path::new("fuzz"), &text);
    let entries: Vec<Match> = list.entries().collect();
    let atr_text = hex::encode(atr, " ");
    let expected: Vec<Match> = entries
        .iter()
        .filter(|e| reference_matches(&e.pattern, &atr_text))
        .cloned()
        .collect();
    assert_eq!(list.identify(atr), expected, "ATR {atr_text}");
    // An entry of plain hex bytes is found for those bytes.
    for entry in &entries {
        let pairs: Option<Vec<u8>> = entry
            .pattern
            .split(' ')
            .map(|pair| {
                // Two hex digits (from_str_radix would also take `+B`).
                (pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| u8::from_str_radix(pair, 16).ok())
                    .flatten()
            })
            .collect();
        if let Some(bytes) = pairs {
            let found = list.identify(&bytes);
            assert!(
                found.iter().any(|m| m.pattern == entry.pattern),
                "`{}` not found for its own bytes: {found:?}",
                entry.pattern
            );
        }
    }
});

fn reference_matches(pattern: &str, atr_text: &str) -> bool {
    Regex::new(&format!("(?i)^(?:{pattern})$")).is_ok_and(|regex| regex.is_match(atr_text))
}
