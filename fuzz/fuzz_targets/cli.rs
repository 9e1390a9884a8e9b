//! What users type to the `readerkit` tool, through its parsers (readerkit-cli's
//! library): hex words (APDUs, ATRs), PIN pad key scripts, the serving commands'
//! control lines and `--timeout` seconds. (`smartcard_list.txt` has its own
//! target, `smartcard_list`: its reference matching is much slower.)
//!
//! Input: a first byte choosing the parser, then its text (invalid UTF-8
//! replaced). Oracles:
//! * hex: what parses prints back (`hex::encode`) as the digits typed, upper
//!   case, and the printed forms (spaced, with colons) parse to the same bytes; a
//!   refusal names the first bad digit, else the odd count;
//! * key scripts: a script that parses prints back (`key_script::text`) as its
//!   letters without white space, upper case, which parse to the same steps; a
//!   refusal names the first character that is no key;
//! * control lines (a byte of slot count 0 to 3, the line): a movement names a
//!   slot below the count, the line's first word is the movement's, and the
//!   movement printed back (`WORD SLOT`) parses to the same; nothing for a blank
//!   line only;
//! * seconds: a duration exactly when the text is a number from 0 to what a
//!   `Duration` holds, and that number of seconds (to its precision).
//!
//! Every refusal's message shows what was typed with its control characters
//! escaped: it goes to a terminal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readerkit_cli::control::Move;
use readerkit_cli::shown::escaped;
use readerkit_cli::{hex, key_script, seconds};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => hex_words(&String::from_utf8_lossy(rest)),
        1 => key_script(&String::from_utf8_lossy(rest)),
        2 => control(rest),
        _ => seconds(&String::from_utf8_lossy(rest)),
    }
});

/// A refusal's message shows no raw control character.
fn assert_printable(message: &str) {
    assert!(
        !message.chars().any(char::is_control),
        "a raw control character in {message:?}"
    );
}

fn hex_words(text: &str) {
    // Words as the shell splits arguments: one per line.
    let words: Vec<String> = text.split('\n').map(str::to_string).collect();
    let digits: String = text
        .chars()
        .filter(|c| *c != '\n' && !c.is_whitespace() && *c != ':')
        .collect();
    match hex::parse(&words) {
        Ok(bytes) => {
            assert_eq!(hex::encode(&bytes, ""), digits.to_ascii_uppercase());
            for sep in [" ", ":", ""] {
                assert_eq!(hex::parse(&[hex::encode(&bytes, sep)]).as_ref(), Ok(&bytes));
            }
        }
        Err(message) => {
            assert_printable(&message);
            match digits.chars().find(|c| !c.is_ascii_hexdigit()) {
                Some(bad) => assert_eq!(
                    message,
                    format!("invalid hex digit `{}`", bad.escape_default())
                ),
                None => {
                    let count = digits.len();
                    assert!(count % 2 == 1, "{message}");
                    assert_eq!(message, format!("odd number of hex digits ({count})"));
                }
            }
        }
    }
}

fn key_script(script: &str) {
    match key_script::parse(script) {
        Ok(steps) => {
            let letters: String = script
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect();
            let text = key_script::text(&steps);
            assert_eq!(text.as_deref(), Some(letters.as_str()));
            assert_eq!(key_script::parse(&letters), Ok(steps));
        }
        Err(message) => {
            assert_printable(&message);
            let bad = script
                .chars()
                .find(|&c| {
                    !c.is_whitespace() && c != '.' && key_script::parse(&c.to_string()).is_err()
                })
                .expect("a refused script has a character that is no key");
            let shown = escaped(&bad.to_ascii_uppercase().to_string());
            assert_eq!(message, format!("unknown key `{shown}`"), "{script:?}");
        }
    }
    if let Some(keys) = key_script::keys_line(script) {
        assert!(keys.is_empty() || keys.starts_with(char::is_whitespace));
        assert_eq!(script.trim(), format!("keys{keys}"));
    }
}

fn control(data: &[u8]) {
    let Some((&slots, line)) = data.split_first() else {
        return;
    };
    let slots = usize::from(slots % 4);
    let line = String::from_utf8_lossy(line);
    match Move::parse(&line, slots) {
        Ok(Some((moved, slot))) => {
            assert!(slot < slots, "slot {slot} of {slots} from {line:?}");
            assert_eq!(line.split_whitespace().next(), Some(moved.word()));
            let printed = format!("{} {slot}", moved.word());
            assert_eq!(Move::parse(&printed, slots), Ok(Some((moved, slot))));
        }
        Ok(None) => assert!(line.trim().is_empty(), "{line:?}"),
        Err(refusal) => {
            assert!(!line.trim().is_empty(), "{line:?}");
            assert_printable(&refusal.to_string());
        }
    }
}

fn seconds(text: &str) {
    let number = text.trim().parse::<f64>().ok();
    match seconds::parse(text) {
        Ok(duration) => {
            let v = number.expect("a duration only from a number");
            assert!(v.is_finite() && v > -1e-9, "{text:?}");
            let got = duration.as_secs_f64();
            assert!(
                (got - v).abs() <= v.abs() * 1e-15 + 1e-9,
                "{text:?}: {got} s"
            );
        }
        Err(message) => {
            assert_printable(&message);
            if let Some(v) = number {
                assert!(!(0.0..1.8e19).contains(&v), "{text:?} refused");
            }
        }
    }
}
