//! Spaced upper-case hex, as the tests print and compare ATRs and APDUs.

/// `bytes` as spaced upper-case hex: `3B 02 14 50`.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bytes of whitespace-separated hex pairs (`"3B 02 14 50"`); panics on anything
/// else (test input is written by hand).
///
/// Not the CLI's parser (`cli/src/hex.rs`), on purpose: that one reads what a
/// user typed (colons, no separators, words split over arguments) and returns
/// an error the command prints; this one reads test literals, where a panic
/// naming the bad word is the right answer. The CLI cannot depend on the test
/// kit, and the only crates both could share (the core, the simulated card)
/// have no business parsing user text.
pub fn parse(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("not hex: {b:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::hex(&[0x3B, 0x02, 0x0F]), "3B 02 0F");
        assert_eq!(super::parse("3B 02 0f"), [0x3B, 0x02, 0x0F]);
        assert_eq!(super::hex(&[]), "");
    }
}
