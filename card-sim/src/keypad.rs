//! A scripted PIN pad for tests and demos: the core's [`readerkit::pin::Keypad`]
//! playing a list of key presses, each after its own delay, on a simulated clock.

use heapless::Vec;
use readerkit::pin::{Key, Keypad, Prompt};

/// The key a letter of a key script stands for, in every script readerkit's
/// simulated PIN pads take (a `sim:` reader's key switch, the serving commands'
/// `--keys`): `0`-`9` a digit, `E` Enter, `C` Cancel, `B` Backspace, `L` Clear,
/// in either case; `None` for any other byte.
pub fn key_of_letter(letter: u8) -> Option<Key> {
    Some(match letter.to_ascii_uppercase() {
        digit @ b'0'..=b'9' => Key::Digit(digit - b'0'),
        b'E' => Key::Enter,
        b'C' => Key::Cancel,
        b'B' => Key::Backspace,
        b'L' => Key::Clear,
        _ => return None,
    })
}

/// The upper-case letter of `key` in a key script, the inverse of
/// [`key_of_letter`]; `None` for a digit above 9 (no key of a pad).
pub fn letter_of_key(key: Key) -> Option<u8> {
    Some(match key {
        Key::Digit(digit @ 0..=9) => b'0' + digit,
        Key::Digit(_) => return None,
        Key::Enter => b'E',
        Key::Cancel => b'C',
        Key::Backspace => b'B',
        Key::Clear => b'L',
    })
}

/// One scripted press: the key, after `after_ms` of silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    /// Silence before the key, in ms (simulated time).
    pub after_ms: u32,
    /// The key.
    pub key: Key,
}

/// How many presses a script holds.
pub const SCRIPT_CAPACITY: usize = 64;

/// A keypad that plays a script: [`Keypad::next_key`] returns the next key if it
/// comes within the time allowed, else counts the time against it and returns
/// `None` (a time-out). The script's end is silence forever.
#[derive(Debug, Clone, Default)]
pub struct ScriptedKeypad {
    presses: Vec<Press, SCRIPT_CAPACITY>,
    next: usize,
    /// Silence already spent waiting for the next press, in ms.
    waited_ms: u32,
    elapsed_ms: u64,
    prompts: Vec<Prompt, 8>,
}

impl ScriptedKeypad {
    /// An empty script (every wait times out).
    pub fn new() -> ScriptedKeypad {
        ScriptedKeypad::default()
    }

    /// Add a press `after_ms` after the previous one; `false` if the script is full.
    pub fn press(&mut self, after_ms: u32, key: Key) -> bool {
        self.presses.push(Press { after_ms, key }).is_ok()
    }

    /// Add the digits of `digits` (ASCII '0'-'9'; others skipped), `gap_ms` apart,
    /// then Enter; `false` if the script is full.
    pub fn type_pin(&mut self, digits: &[u8], gap_ms: u32) -> bool {
        digits
            .iter()
            .filter(|d| d.is_ascii_digit())
            .all(|d| self.press(gap_ms, Key::Digit(d - b'0')))
            && self.press(gap_ms, Key::Enter)
    }

    /// Simulated time spent in [`Keypad::next_key`] so far, in ms.
    pub fn elapsed_ms(&self) -> u64 {
        self.elapsed_ms
    }

    /// Presses not played yet.
    pub fn remaining(&self) -> usize {
        self.presses.len() - self.next
    }

    /// The prompts shown so far (the first 8).
    pub fn prompts(&self) -> &[Prompt] {
        &self.prompts
    }
}

impl Keypad for ScriptedKeypad {
    fn next_key(&mut self, timeout_ms: u32) -> Option<Key> {
        let Some(press) = self.presses.get(self.next) else {
            self.elapsed_ms += u64::from(timeout_ms);
            return None;
        };
        let due = press.after_ms.saturating_sub(self.waited_ms);
        if due <= timeout_ms {
            self.elapsed_ms += u64::from(due);
            self.next += 1;
            self.waited_ms = 0;
            Some(press.key)
        } else {
            self.elapsed_ms += u64::from(timeout_ms);
            self.waited_ms = self.waited_ms.saturating_add(timeout_ms);
            None
        }
    }

    fn prompt(&mut self, prompt: Prompt) {
        let _ = self.prompts.push(prompt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use readerkit::pin::{Conditions, EntryLimits, Pin, PinError, read_pin};

    fn limits() -> EntryLimits {
        // 10 s for the first key, 2 s between keys, 4-8 digits, Enter validates.
        EntryLimits::new(10, 2, 4, 8, Conditions::KEY, 32).unwrap()
    }

    #[test]
    fn plays_a_pin_then_enter() {
        let mut pad = ScriptedKeypad::new();
        assert!(pad.type_pin(b"1234", 300));
        let mut pin = Pin::new();
        read_pin(&mut pad, &limits(), Prompt::EnterPin, &mut pin).unwrap();
        assert_eq!(pin.digits(), [1, 2, 3, 4]);
        assert_eq!(pad.elapsed_ms(), 1500);
        assert_eq!(pad.prompts(), [Prompt::EnterPin]);
    }

    #[test]
    fn a_slow_key_times_out_and_silence_is_a_timeout() {
        let mut pad = ScriptedKeypad::new();
        pad.press(100, Key::Digit(1));
        pad.press(2500, Key::Digit(2));
        let mut pin = Pin::new();
        assert_eq!(
            read_pin(&mut pad, &limits(), Prompt::EnterPin, &mut pin),
            Err(PinError::Timeout)
        );
        assert_eq!(pad.elapsed_ms(), 2100);
        let mut silent = ScriptedKeypad::new();
        assert_eq!(
            read_pin(&mut silent, &limits(), Prompt::EnterPin, &mut pin),
            Err(PinError::Timeout)
        );
        assert_eq!(silent.elapsed_ms(), 10_000);
    }

    #[test]
    fn cancel() {
        let mut pad = ScriptedKeypad::new();
        pad.press(100, Key::Digit(1));
        pad.press(100, Key::Cancel);
        let mut pin = Pin::new();
        assert_eq!(
            read_pin(&mut pad, &limits(), Prompt::EnterPin, &mut pin),
            Err(PinError::Cancelled)
        );
    }

    #[test]
    fn script_letters_name_every_key_in_either_case_and_nothing_else() {
        let named: std::vec::Vec<(u8, Key)> = (0..=u8::MAX)
            .filter_map(|b| key_of_letter(b).map(|k| (b, k)))
            .collect();
        let mut expected: std::vec::Vec<(u8, Key)> =
            (0..10).map(|d| (b'0' + d, Key::Digit(d))).collect();
        for (letter, key) in [
            (b'B', Key::Backspace),
            (b'C', Key::Cancel),
            (b'E', Key::Enter),
            (b'L', Key::Clear),
        ] {
            expected.push((letter, key));
            expected.push((letter.to_ascii_lowercase(), key));
        }
        expected.sort_by_key(|&(b, _)| b);
        assert_eq!(named, expected);
        for (letter, key) in named {
            assert_eq!(letter_of_key(key), Some(letter.to_ascii_uppercase()));
        }
        assert_eq!(letter_of_key(Key::Digit(10)), None);
    }
}
