//! Spaced upper-case hex, as the tests print and compare ATRs and APDUs.

/// `bytes` as spaced upper-case hex: `3B 02 14 50`.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bytes of whitespace-separated hex pairs (`"3B 02 14 50"`): each word is
/// exactly two hex digits, either case; words are separated by any whitespace.
/// Panics on anything else, naming the word and its byte offset in `text`
/// (test input is written by hand: a single digit, a sign or a word of four
/// digits is a typo to be shown, not a byte to be guessed).
///
/// Not the CLI's parser (`cli/src/hex.rs`), on purpose: that one reads what a
/// user typed (colons, no separators, words split over arguments) and returns
/// an error the command prints; this one reads test literals, where a panic
/// naming the bad word is the right answer. The CLI cannot depend on the test
/// kit, and the only crates both could share (the core, the simulated card)
/// have no business parsing user text.
pub fn parse(text: &str) -> Vec<u8> {
    try_parse(text).unwrap_or_else(|e| panic!("{e} in {text:?}"))
}

/// [`parse`] for text not written by hand (a line of a data file that may hold
/// something else): the first word that is not a hex pair as an error.
pub fn try_parse(text: &str) -> Result<Vec<u8>, NotHex> {
    words(text)
        .map(|(offset, word)| {
            pair(word).ok_or_else(|| NotHex {
                offset,
                word: word.to_owned(),
            })
        })
        .collect()
}

/// A word of hex text that is not a pair of hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotHex {
    /// Where the word starts in the text, in bytes.
    pub offset: usize,
    /// The word.
    pub word: String,
}

impl std::fmt::Display for NotHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not a pair of hex digits at byte {}: {:?}",
            self.offset, self.word
        )
    }
}

/// The whitespace-separated words of `text`, each with its byte offset.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(char::is_whitespace)
        .filter(|word| !word.is_empty())
        .map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}

/// The byte of a word of exactly two hex digits.
fn pair(word: &str) -> Option<u8> {
    let [high, low] = word.as_bytes() else {
        return None;
    };
    let digit = |c: &u8| char::from(*c).to_digit(16);
    u8::try_from((digit(high)? << 4) | digit(low)?).ok()
}

#[cfg(test)]
mod tests {
    use super::{NotHex, hex, parse, try_parse};

    #[test]
    fn round_trip() {
        assert_eq!(hex(&[0x3B, 0x02, 0x0F]), "3B 02 0F");
        assert_eq!(parse("3B 02 0f"), [0x3B, 0x02, 0x0F]);
        assert_eq!(hex(&[]), "");
        assert_eq!(parse(""), []);
    }

    #[test]
    fn any_whitespace_separates() {
        assert_eq!(parse(" 3B\t02\n  ff \r\n00 "), [0x3B, 0x02, 0xFF, 0x00]);
    }

    #[test]
    fn only_pairs_of_hex_digits_are_read() {
        // A single digit, a sign (which `u8::from_str_radix` takes), a word of
        // three or four digits, a prefix, a separator other than whitespace, a
        // digit of another base, a character outside ASCII; the offset counts
        // bytes of the text, whitespace included.
        for (text, offset, word) in [
            ("3B 2 14", 3, "2"),
            ("3B +F", 3, "+F"),
            ("+1", 0, "+1"),
            ("-1", 0, "-1"),
            ("3B 021", 3, "021"),
            ("3B02", 0, "3B02"),
            ("0x3B", 0, "0x3B"),
            ("3B:02", 0, "3B:02"),
            ("3B,02", 0, "3B,02"),
            ("3B 0G", 3, "0G"),
            ("\u{e9}3", 0, "\u{e9}3"),
            ("00\t11  \u{e9} 22", 7, "\u{e9}"),
        ] {
            assert_eq!(
                try_parse(text),
                Err(NotHex {
                    offset,
                    word: word.to_owned()
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "not a pair of hex digits at byte 6: \"5\"")]
    fn parse_panics_with_the_position() {
        parse("3B 02 5 14");
    }
}
