//! The keypad side of secure PIN entry, sans-I/O: [`Entry`] is told each key and
//! each time-out and says what to wait for next; [`read_pin`] runs it over a
//! [`Keypad`].

use zeroize::Zeroize;

use super::structure::Confirm;
use super::{MAX_PIN_DIGITS, PinError};

/// Time allowed for a key when a structure says 0 ("the reader's default"), in ms.
pub const DEFAULT_KEY_TIMEOUT_MS: u32 = 30_000;

/// A key of a PIN pad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A digit key, 0-9 (other values are ignored).
    Digit(u8),
    /// The validation key (OK, Enter).
    Enter,
    /// The cancel key: the request ends with [`PinError::Cancelled`].
    Cancel,
    /// Clear: forget every digit typed so far.
    Clear,
    /// Backspace: forget the last digit.
    Backspace,
}

/// What the reader shows while it waits for a PIN (for a display, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prompt {
    /// "Enter PIN" (verification).
    EnterPin,
    /// "Enter current PIN" (modification).
    EnterCurrentPin,
    /// "Enter new PIN".
    EnterNewPin,
    /// "Confirm new PIN".
    ConfirmNewPin,
}

/// A PIN pad: the one thing a keypad driver implements.
pub trait Keypad {
    /// The next key pressed within `timeout_ms` milliseconds, or `None` when the
    /// time runs out.
    fn next_key(&mut self, timeout_ms: u32) -> Option<Key>;

    /// Show `prompt` (readers with a display); the default shows nothing.
    fn prompt(&mut self, prompt: Prompt) {
        let _ = prompt;
    }
}

/// `bEntryValidationCondition`: what ends the entry of a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conditions(pub u8);

impl Conditions {
    /// The maximum number of digits has been typed.
    pub const MAX_SIZE: u8 = 0x01;
    /// The validation key was pressed.
    pub const KEY: u8 = 0x02;
    /// The time for the next key ran out (with at least the minimum typed).
    pub const TIMEOUT: u8 = 0x04;
    /// Every condition above (07h); the other bits are reserved.
    pub const ALL: u8 = Conditions::MAX_SIZE | Conditions::KEY | Conditions::TIMEOUT;

    const fn has(self, condition: u8) -> bool {
        self.0 & condition != 0
    }
}

/// The rules of one PIN entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryLimits {
    /// Fewest digits accepted.
    pub min_digits: usize,
    /// Most digits accepted (at most [`MAX_PIN_DIGITS`]).
    pub max_digits: usize,
    /// Time allowed for the first key, in ms.
    pub first_key_timeout_ms: u32,
    /// Time allowed for each following key, in ms.
    pub next_key_timeout_ms: u32,
    /// What ends the entry.
    pub conditions: Conditions,
}

impl EntryLimits {
    /// Limits from a structure's fields: timeouts in seconds (0 = the default,
    /// [`DEFAULT_KEY_TIMEOUT_MS`]), sizes in digits; `capacity` is what the PIN block
    /// can carry.
    pub fn new(
        first_key_timeout_s: u8,
        next_key_timeout_s: u8,
        min_digits: u8,
        max_digits: u8,
        conditions: u8,
        capacity: usize,
    ) -> Result<EntryLimits, PinError> {
        let ms = |s: u8| match s {
            0 => DEFAULT_KEY_TIMEOUT_MS,
            s => u32::from(s) * 1000,
        };
        let min_digits = usize::from(min_digits);
        let max_digits = usize::from(max_digits).min(capacity).min(MAX_PIN_DIGITS);
        if min_digits == 0 || min_digits > max_digits {
            return Err(PinError::BadPinLimits);
        }
        if conditions & Conditions::ALL == 0 {
            return Err(PinError::NoValidationCondition);
        }
        Ok(EntryLimits {
            min_digits,
            max_digits,
            first_key_timeout_ms: ms(first_key_timeout_s),
            next_key_timeout_ms: ms(next_key_timeout_s),
            conditions: Conditions(conditions),
        })
    }
}

/// A PIN's digits (0-9), in a fixed buffer that is wiped when it is dropped or
/// cleared. Its `Debug` shows the number of digits only.
pub struct Pin {
    /// The digits typed; the room past them is kept wiped.
    digits: heapless::Vec<u8, MAX_PIN_DIGITS>,
}

impl Pin {
    /// An empty PIN.
    pub const fn new() -> Pin {
        Pin {
            digits: heapless::Vec::new(),
        }
    }

    /// Append a digit; `false` (and no change) if it is no digit or the PIN is full.
    pub fn push(&mut self, digit: u8) -> bool {
        digit <= 9 && self.digits.push(digit).is_ok()
    }

    /// Forget the last digit.
    pub fn pop(&mut self) {
        self.digits.pop();
        self.wipe_spare();
    }

    /// Forget every digit (the buffer is wiped).
    pub fn clear(&mut self) {
        self.digits.clear();
        self.wipe_spare();
    }

    /// Wipe the buffer past the digits, where a digit just forgotten still stands.
    fn wipe_spare(&mut self) {
        self.digits.spare_capacity_mut().zeroize();
    }

    /// The digits typed, 0-9 each.
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.digits.len()
    }

    /// `true` if no digit was typed.
    pub fn is_empty(&self) -> bool {
        self.digits.is_empty()
    }
}

impl Default for Pin {
    fn default() -> Self {
        Pin::new()
    }
}

impl PartialEq for Pin {
    fn eq(&self, other: &Pin) -> bool {
        self.digits() == other.digits()
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.clear();
    }
}

impl core::fmt::Debug for Pin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pin({} digits)", self.len())
    }
}

/// What an [`Entry`] needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Wait for a key for at most this many ms, then call [`Entry::press`] or
    /// [`Entry::time_out`].
    Wait(u32),
    /// The PIN is complete.
    Complete,
    /// The entry failed.
    Failed(PinError),
}

/// One PIN entry in progress, filling a [`Pin`].
#[derive(Debug)]
pub struct Entry<'p> {
    limits: EntryLimits,
    pin: &'p mut Pin,
    step: Step,
}

impl<'p> Entry<'p> {
    /// Start an entry into `pin` (which is cleared first).
    pub fn new(limits: EntryLimits, pin: &'p mut Pin) -> Entry<'p> {
        pin.clear();
        Entry {
            step: Step::Wait(limits.first_key_timeout_ms),
            limits,
            pin,
        }
    }

    /// What to do now.
    pub fn step(&self) -> Step {
        self.step
    }

    /// A key was pressed.
    pub fn press(&mut self, key: Key) -> Step {
        if !matches!(self.step, Step::Wait(_)) {
            return self.step;
        }
        let limits = self.limits;
        match key {
            Key::Digit(d) if self.pin.len() < limits.max_digits => {
                self.pin.push(d);
            }
            Key::Digit(_) => {}
            Key::Backspace => self.pin.pop(),
            Key::Clear => self.pin.clear(),
            Key::Cancel => return self.end(Err(PinError::Cancelled)),
            Key::Enter if limits.conditions.has(Conditions::KEY) => {
                return self.end(self.long_enough());
            }
            Key::Enter => {}
        }
        if limits.conditions.has(Conditions::MAX_SIZE) && self.pin.len() == limits.max_digits {
            return self.end(Ok(()));
        }
        self.step = Step::Wait(limits.next_key_timeout_ms);
        self.step
    }

    /// No key came in the time [`Step::Wait`] gave.
    pub fn time_out(&mut self) -> Step {
        if !matches!(self.step, Step::Wait(_)) {
            return self.step;
        }
        let result = if self.limits.conditions.has(Conditions::TIMEOUT) && !self.pin.is_empty() {
            self.long_enough()
        } else {
            Err(PinError::Timeout)
        };
        self.end(result)
    }

    fn long_enough(&self) -> Result<(), PinError> {
        if self.pin.len() >= self.limits.min_digits {
            Ok(())
        } else {
            Err(PinError::WrongLength)
        }
    }

    fn end(&mut self, result: Result<(), PinError>) -> Step {
        self.step = match result {
            Ok(()) => Step::Complete,
            Err(e) => {
                self.pin.clear();
                Step::Failed(e)
            }
        };
        self.step
    }
}

/// Read one PIN from `keypad` into `pin` under `limits`, after showing `prompt`.
/// On failure `pin` is left empty.
pub fn read_pin<K: Keypad + ?Sized>(
    keypad: &mut K,
    limits: &EntryLimits,
    prompt: Prompt,
    pin: &mut Pin,
) -> Result<(), PinError> {
    keypad.prompt(prompt);
    let mut entry = Entry::new(*limits, pin);
    loop {
        let step = match entry.step() {
            Step::Wait(ms) => match keypad.next_key(ms) {
                Some(key) => entry.press(key),
                None => entry.time_out(),
            },
            done => done,
        };
        match step {
            Step::Wait(_) => {}
            Step::Complete => return Ok(()),
            Step::Failed(e) => return Err(e),
        }
    }
}

/// Read the PINs of a modification from `keypad` under `limits`: the current PIN
/// into `current` when `confirm` asks for it, then the new PIN into `new`, then
/// the new PIN again when `confirm` asks for it ([`PinError::Mismatch`] if the two
/// differ). On failure both are left empty.
pub fn read_new_pin<K: Keypad + ?Sized>(
    keypad: &mut K,
    limits: &EntryLimits,
    confirm: Confirm,
    current: &mut Pin,
    new: &mut Pin,
) -> Result<(), PinError> {
    let result = (|| {
        current.clear();
        if confirm.enter_current {
            read_pin(keypad, limits, Prompt::EnterCurrentPin, current)?;
        }
        read_pin(keypad, limits, Prompt::EnterNewPin, new)?;
        if confirm.confirm_new {
            let mut again = Pin::new();
            read_pin(keypad, limits, Prompt::ConfirmNewPin, &mut again)?;
            if again != *new {
                return Err(PinError::Mismatch);
            }
        }
        Ok(())
    })();
    if result.is_err() {
        current.clear();
        new.clear();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keypad that plays a script; `None` in the script is a time-out.
    struct Script<'a> {
        keys: &'a [Option<Key>],
        waits: std::vec::Vec<u32>,
    }

    impl Keypad for Script<'_> {
        fn next_key(&mut self, timeout_ms: u32) -> Option<Key> {
            self.waits.push(timeout_ms);
            let (first, rest) = self.keys.split_first()?;
            self.keys = rest;
            *first
        }
    }

    fn limits(min: u8, max: u8, conditions: u8) -> EntryLimits {
        EntryLimits::new(10, 5, min, max, conditions, MAX_PIN_DIGITS).unwrap()
    }

    fn run(
        keys: &[Option<Key>],
        limits: EntryLimits,
    ) -> (Result<std::vec::Vec<u8>, PinError>, std::vec::Vec<u32>) {
        let mut keypad = Script {
            keys,
            waits: std::vec::Vec::new(),
        };
        let mut pin = Pin::new();
        let result = read_pin(&mut keypad, &limits, Prompt::EnterPin, &mut pin)
            .map(|()| pin.digits().to_vec());
        (result, keypad.waits)
    }

    use Key::*;

    #[test]
    fn enter_key_validates_and_timeouts_are_first_then_next() {
        let keys = typed(&[&[1, 2, 3, 4]]);
        let (pin, waits) = run(&keys, limits(4, 8, Conditions::KEY));
        assert_eq!(pin, Ok(std::vec![1, 2, 3, 4]));
        assert_eq!(waits, [10_000, 5_000, 5_000, 5_000, 5_000]);
    }

    #[test]
    fn max_size_condition_ends_at_the_last_digit() {
        let keys = digits(&[9, 8, 7, 6, 5]);
        let (pin, waits) = run(&keys, limits(4, 4, Conditions::MAX_SIZE));
        assert_eq!(pin, Ok(std::vec![9, 8, 7, 6]));
        assert_eq!(waits.len(), 4, "the fifth key is never asked for");
    }

    /// A case of [`entries_end_as_their_keys_and_limits_say`]: its name, the keys,
    /// the limits and the digits read (or why not).
    type Case = (
        &'static str,
        Keys,
        EntryLimits,
        Result<&'static [u8], PinError>,
    );

    /// What a key sequence gives under its limits, case by case.
    #[test]
    fn entries_end_as_their_keys_and_limits_say() {
        use PinError::{Cancelled, Timeout, WrongLength};
        let key = Conditions::KEY;
        let both = Conditions::KEY | Conditions::TIMEOUT;
        let two_then_timeout = std::vec![Some(Digit(1)), Some(Digit(2)), None];
        let clear_and_backspace = std::vec![
            Some(Digit(1)),
            Some(Digit(2)),
            Some(Clear),
            Some(Digit(3)),
            Some(Digit(4)),
            Some(Backspace),
            Some(Digit(5)),
            Some(Enter),
        ];
        let cases: [Case; 8] = [
            (
                "too short at Enter",
                typed(&[&[1]]),
                limits(4, 8, key),
                Err(WrongLength),
            ),
            (
                "digits past the maximum are ignored without the max size condition",
                typed(&[&[1, 2, 3]]),
                limits(1, 2, key),
                Ok(&[1, 2]),
            ),
            (
                "cancel",
                std::vec![Some(Digit(1)), Some(Cancel)],
                limits(1, 8, key),
                Err(Cancelled),
            ),
            (
                "clear and backspace",
                clear_and_backspace,
                limits(1, 8, key),
                Ok(&[3, 5]),
            ),
            (
                "nothing typed, whatever the conditions",
                std::vec![None],
                limits(1, 8, both),
                Err(Timeout),
            ),
            (
                "typed enough: the time-out validates",
                two_then_timeout.clone(),
                limits(2, 8, both),
                Ok(&[1, 2]),
            ),
            (
                "typed too little before the time-out",
                two_then_timeout.clone(),
                limits(3, 8, both),
                Err(WrongLength),
            ),
            (
                "a time-out does not validate without its condition",
                two_then_timeout,
                limits(1, 8, key),
                Err(Timeout),
            ),
        ];
        for (case, keys, limits, expected) in cases {
            assert_eq!(run(&keys, limits).0, expected.map(<[u8]>::to_vec), "{case}");
        }
    }

    #[test]
    fn limits_are_checked() {
        // (min, max, conditions, capacity)
        for (limits, error) in [
            ((0, 8, 2, 32), PinError::BadPinLimits),
            ((9, 8, 2, 32), PinError::BadPinLimits),
            ((6, 8, 2, 4), PinError::BadPinLimits),
            ((4, 8, 0x08, 32), PinError::NoValidationCondition),
        ] {
            let (min, max, conditions, capacity) = limits;
            assert_eq!(
                EntryLimits::new(0, 0, min, max, conditions, capacity),
                Err(error),
                "{limits:?}"
            );
        }
        let l = EntryLimits::new(0, 0, 4, 255, 2, 32).unwrap();
        assert_eq!(
            (l.max_digits, l.first_key_timeout_ms),
            (32, DEFAULT_KEY_TIMEOUT_MS)
        );
    }

    #[test]
    fn a_failed_entry_leaves_no_digit_and_debug_shows_none() {
        let mut pin = Pin::new();
        let mut entry = Entry::new(limits(4, 8, Conditions::KEY), &mut pin);
        entry.press(Digit(7));
        entry.press(Digit(3));
        assert_eq!(entry.press(Cancel), Step::Failed(PinError::Cancelled));
        assert_eq!(entry.press(Digit(1)), Step::Failed(PinError::Cancelled));
        assert!(pin.is_empty());
        pin.push(7);
        assert_eq!(std::format!("{pin:?}"), "Pin(1 digits)");
    }

    /// The digits of the current and the new PIN.
    type Pins = (std::vec::Vec<u8>, std::vec::Vec<u8>);

    /// Run a modification over `keys`; also returns how many keys were left.
    fn modify(keys: &[Option<Key>], confirm: Confirm) -> (Result<Pins, PinError>, usize) {
        let mut keypad = Script {
            keys,
            waits: std::vec::Vec::new(),
        };
        let (mut current, mut new) = (Pin::new(), Pin::new());
        let result = read_new_pin(
            &mut keypad,
            &limits(4, 8, Conditions::KEY),
            confirm,
            &mut current,
            &mut new,
        )
        .map(|()| (current.digits().to_vec(), new.digits().to_vec()));
        (result, keypad.keys.len())
    }

    /// Keys as a [`Script`] plays them (`None`: a time-out).
    type Keys = std::vec::Vec<Option<Key>>;

    /// The keys of `digits`, one after the other.
    fn digits(digits: &[u8]) -> Keys {
        digits.iter().map(|d| Some(Digit(*d))).collect()
    }

    /// The keys typing each of `pins`, each ended by Enter.
    fn typed(pins: &[&[u8]]) -> Keys {
        let mut keys = std::vec::Vec::new();
        for pin in pins {
            keys.extend(digits(pin));
            keys.push(Some(Enter));
        }
        keys
    }

    #[test]
    fn modification_reads_current_new_and_confirmation() {
        let all = Confirm {
            enter_current: true,
            confirm_new: true,
        };
        let keys = typed(&[&[1, 2, 3, 4], &[5, 6, 7, 8], &[5, 6, 7, 8]]);
        assert_eq!(
            modify(&keys, all).0,
            Ok((std::vec![1, 2, 3, 4], std::vec![5, 6, 7, 8]))
        );
        // The confirmation differs: a mismatch, and nothing is kept.
        let keys = typed(&[&[1, 2, 3, 4], &[5, 6, 7, 8], &[5, 6, 7, 9]]);
        assert_eq!(modify(&keys, all).0, Err(PinError::Mismatch));
        // New PIN only: the first entry is the new PIN, the rest is not read.
        let new_only = Confirm {
            enter_current: false,
            confirm_new: false,
        };
        let keys = typed(&[&[4, 3, 2, 1], &[9, 9, 9, 9]]);
        assert_eq!(
            modify(&keys, new_only),
            (Ok((std::vec![], std::vec![4, 3, 2, 1])), 5)
        );
        // Cancel during the confirmation ends the whole modification.
        let mut keys = typed(&[&[1, 2, 3, 4], &[5, 6, 7, 8]]);
        keys.push(Some(Cancel));
        assert_eq!(modify(&keys, all).0, Err(PinError::Cancelled));
    }
}
