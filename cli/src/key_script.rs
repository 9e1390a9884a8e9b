//! PIN pad key scripts, the serving commands' `--keys KEYS` and `keys KEYS` lines
//! on stdin: the simulated PIN pads' key letters (card-sim's [`key_of_letter`]:
//! `0`-`9` digits, `E` enter, `C` cancel, `B` backspace, `L` clear, in either
//! case), `.` a pause of [`PAUSE_MS`]; white space is ignored.

use readerkit::pin::Key;
use readerkit_card_sim::keypad::{key_of_letter, letter_of_key};

/// How long a `.` of a key script pauses, in ms.
pub const PAUSE_MS: u64 = 100;

/// One step of a key script: a key, or a pause before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStep {
    /// This key is pressed.
    Press(Key),
    /// Nothing happens for [`PAUSE_MS`].
    Pause,
}

/// The steps of `script`, or the first character that is no key letter, `.` or
/// white space, named in the message.
pub fn parse(script: &str) -> Result<Vec<KeyStep>, String> {
    script
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '.' => Ok(KeyStep::Pause),
            _ => u8::try_from(c)
                .ok()
                .and_then(key_of_letter)
                .map(KeyStep::Press)
                .ok_or_else(|| {
                    let shown = crate::shown::escaped(&c.to_ascii_uppercase().to_string());
                    format!("unknown key `{shown}`")
                }),
        })
        .collect()
}

/// `--keys` as clap checks it: a key script that parses, kept as text.
pub fn parse_arg(script: &str) -> Result<String, String> {
    parse(script).map(|_| script.to_string())
}

/// `steps` written as a script (upper-case letters, no spaces), which parses
/// back to them; `None` if a step is a key no pad has (a digit above 9).
pub fn text(steps: &[KeyStep]) -> Option<String> {
    steps
        .iter()
        .map(|step| match step {
            KeyStep::Pause => Some('.'),
            KeyStep::Press(key) => letter_of_key(*key).map(char::from),
        })
        .collect()
}

/// The key script of a `keys KEYS` control line (`keys` alone: none), or `None`
/// for any other line.
pub fn keys_line(line: &str) -> Option<&str> {
    match line.trim().strip_prefix("keys") {
        Some(script) if script.is_empty() || script.starts_with(char::is_whitespace) => {
            Some(script)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_scripts_parse_print_back_and_unknown_keys_are_refused() {
        let steps = vec![
            KeyStep::Press(Key::Digit(1)),
            KeyStep::Press(Key::Digit(2)),
            KeyStep::Press(Key::Enter),
            KeyStep::Pause,
            KeyStep::Press(Key::Cancel),
        ];
        assert_eq!(parse("1 2e.c"), Ok(steps.clone()));
        assert_eq!(text(&steps).as_deref(), Some("12E.C"));
        assert_eq!(text(&[KeyStep::Press(Key::Digit(10))]), None);
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("12x"), Err("unknown key `X`".to_string()));
        // Shown with its control characters escaped: the refusal goes to a terminal.
        assert_eq!(parse("1\x1b"), Err("unknown key `\\u{1b}`".to_string()));
    }

    #[test]
    fn keys_lines_are_told_from_other_controls() {
        assert_eq!(keys_line("keys 1234E"), Some(" 1234E"));
        assert_eq!(keys_line("  keys\n"), Some(""));
        // Any white space parts the word from the script, as it parts the
        // words of `remove 1` (`control::Move::parse`).
        assert_eq!(keys_line("keys\t12E"), Some("\t12E"));
        assert_eq!(keys_line("keysE"), None);
        assert_eq!(keys_line("remove"), None);
    }
}
