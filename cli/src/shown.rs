//! Text a user typed, shown back in a message: its control characters escaped
//! (`\u{1b}`), since the terminal the message goes to would act on them.

/// `text` with every control character written as its Rust escape (`\u{1b}`,
/// `\t`...), everything else as it is.
pub fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_only_are_escaped() {
        assert_eq!(
            super::escaped("a\x1b[2Jé\t\u{85}"),
            "a\\u{1b}[2Jé\\t\\u{85}"
        );
    }
}
