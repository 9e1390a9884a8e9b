//! Hexadecimal in and out: the bytes users type (`3B 02 14 50`, `3B:02:14:50`,
//! `3B021450`, split over arguments or not) and the forms readerkit prints.

/// Hex words to bytes; spaces, tabs and colons separate nothing and are dropped.
///
/// Not the same parser as the test kit's `readerkit_testkit::hex::parse`, on
/// purpose: this one reads what a user typed (any of the forms above) and
/// answers a mistake with an error the command prints; the test kit's reads hex
/// written by hand into tests (spaced pairs only) and panics at the test's
/// line. The only crates both could share are the core and the simulated card,
/// libraries that have no business parsing user text; and the CLI cannot take
/// a dependency on the test kit.
pub fn parse(words: &[String]) -> Result<Vec<u8>, String> {
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

/// `bytes` in upper-case hex, `sep` between bytes.
pub fn encode(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// `bytes` as ASCII, `.` for what is not printable.
pub fn ascii(bytes: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_errors() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse(&words(&["3b:02", "1450"])),
            Ok(vec![0x3B, 2, 0x14, 0x50])
        );
        assert_eq!(parse(&words(&["3G"])), Err("invalid hex digit `G`".into()));
        assert_eq!(
            parse(&words(&["3B0"])),
            Err("odd number of hex digits (3)".into())
        );
        assert_eq!(encode(&[0x3B, 0x0A], " "), "3B 0A");
        assert_eq!(ascii(b"RK\x01"), "RK.");
    }
}
