//! A matrix keypad (rows and columns of switches) over embedded-hal GPIO, as the
//! core's [`readerkit::pin::Keypad`]: what a PIN-pad reader needs for secure PIN
//! entry.
//!
//! Scanning: the column outputs idle high; each scan drives one column low at a
//! time and reads the row inputs (pulled up, so a pressed key reads low on its
//! row). A key counts as pressed once the same single key has been seen in
//! [`MatrixKeypad::DEBOUNCE_SCANS`] scans in a row, and the next key is taken only
//! after every key has been seen released for as long: a held key is one press, and
//! contact bounce is never a second digit. Two keys at once are ignored until one
//! is let go.
//!
//! Time is counted in scan periods of [`MatrixKeypad::SCAN_PERIOD_MS`] through the
//! [`DelayNs`] given, so a time-out is never shorter than asked for.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use readerkit::pin::{Key, Keypad};

/// The key at each (row, column) of the matrix; `None` where no switch sits.
pub type KeyMap<const ROWS: usize, const COLS: usize> = [[Option<Key>; COLS]; ROWS];

/// The common 4×3 telephone layout: 1 2 3 / 4 5 6 / 7 8 9 / Cancel 0 Enter.
pub const PHONE_4X3: KeyMap<4, 3> = [
    [
        Some(Key::Digit(1)),
        Some(Key::Digit(2)),
        Some(Key::Digit(3)),
    ],
    [
        Some(Key::Digit(4)),
        Some(Key::Digit(5)),
        Some(Key::Digit(6)),
    ],
    [
        Some(Key::Digit(7)),
        Some(Key::Digit(8)),
        Some(Key::Digit(9)),
    ],
    [Some(Key::Cancel), Some(Key::Digit(0)), Some(Key::Enter)],
];

/// What one scan of the matrix saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// No key down.
    Released,
    /// Exactly one key down, at this (row, column).
    One(usize, usize),
    /// More than one key down, or a pin that could not be read.
    Unclear,
}

/// Where the debouncer stands between two scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Debounce {
    /// Waiting for every key to be released (after a press, and at the start).
    AwaitRelease {
        /// Consecutive released scans so far.
        stable: u8,
    },
    /// Released: waiting for a key to go down and stay down.
    AwaitPress {
        /// The key seen in the last scan and how many scans in a row.
        candidate: Option<(usize, usize, u8)>,
    },
}

/// A matrix keypad of `ROWS` × `COLS` switches.
pub struct MatrixKeypad<R, C, D, const ROWS: usize, const COLS: usize> {
    rows: [R; ROWS],
    columns: [C; COLS],
    delay: D,
    map: KeyMap<ROWS, COLS>,
    debounce: Debounce,
}

impl<R, C, D, const ROWS: usize, const COLS: usize> MatrixKeypad<R, C, D, ROWS, COLS>
where
    R: InputPin,
    C: OutputPin,
    D: DelayNs,
{
    /// Time between two scans, in ms.
    pub const SCAN_PERIOD_MS: u32 = 5;
    /// Scans a key (or the release of all keys) must be stable for: 4 × 5 ms = 20 ms.
    pub const DEBOUNCE_SCANS: u8 = 4;

    /// A keypad over `rows` (inputs with pull-ups) and `columns` (outputs), with
    /// `map` naming each switch. The columns are set high (idle). A key held down
    /// when the keypad is created counts only once it has been released.
    pub fn new(rows: [R; ROWS], mut columns: [C; COLS], delay: D, map: KeyMap<ROWS, COLS>) -> Self {
        for column in &mut columns {
            let _ = column.set_high();
        }
        MatrixKeypad {
            rows,
            columns,
            delay,
            map,
            debounce: Debounce::AwaitRelease { stable: 0 },
        }
    }

    /// Give the pins and the delay back.
    pub fn release(self) -> ([R; ROWS], [C; COLS], D) {
        (self.rows, self.columns, self.delay)
    }

    /// One pass over the matrix.
    fn scan(&mut self) -> Scan {
        let mut seen = Scan::Released;
        for column in 0..COLS {
            if self.columns[column].set_low().is_err() {
                seen = Scan::Unclear;
            }
            for row in 0..ROWS {
                match (self.rows[row].is_low(), seen) {
                    (Ok(false), _) => {}
                    (Ok(true), Scan::Released) => seen = Scan::One(row, column),
                    _ => seen = Scan::Unclear,
                }
            }
            if self.columns[column].set_high().is_err() {
                seen = Scan::Unclear;
            }
        }
        seen
    }

    /// Feed one scan to the debouncer; `Some(key)` when a press is confirmed.
    fn debounce(&mut self, scan: Scan) -> Option<Key> {
        let stable_enough = |n: u8| n >= Self::DEBOUNCE_SCANS;
        match self.debounce {
            Debounce::AwaitRelease { stable } => {
                let stable = if scan == Scan::Released {
                    stable.saturating_add(1)
                } else {
                    0
                };
                self.debounce = if stable_enough(stable) {
                    Debounce::AwaitPress { candidate: None }
                } else {
                    Debounce::AwaitRelease { stable }
                };
                None
            }
            Debounce::AwaitPress { candidate } => {
                let Scan::One(row, column) = scan else {
                    self.debounce = Debounce::AwaitPress { candidate: None };
                    return None;
                };
                let count = match candidate {
                    Some((r, c, n)) if (r, c) == (row, column) => n.saturating_add(1),
                    _ => 1,
                };
                if stable_enough(count) {
                    self.debounce = Debounce::AwaitRelease { stable: 0 };
                    // A position with no switch is a press of nothing.
                    self.map[row][column]
                } else {
                    self.debounce = Debounce::AwaitPress {
                        candidate: Some((row, column, count)),
                    };
                    None
                }
            }
        }
    }
}

impl<R, C, D, const ROWS: usize, const COLS: usize> Keypad for MatrixKeypad<R, C, D, ROWS, COLS>
where
    R: InputPin,
    C: OutputPin,
    D: DelayNs,
{
    fn next_key(&mut self, timeout_ms: u32) -> Option<Key> {
        let mut waited_ms = 0u32;
        loop {
            let scan = self.scan();
            if let Some(key) = self.debounce(scan) {
                return Some(key);
            }
            if waited_ms >= timeout_ms {
                return None;
            }
            self.delay.delay_ms(Self::SCAN_PERIOD_MS);
            waited_ms = waited_ms.saturating_add(Self::SCAN_PERIOD_MS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use core::convert::Infallible;
    use std::rc::Rc;
    use std::vec::Vec;

    /// The switches and the wires of a fake 4×3 matrix, and a clock in ms that the
    /// delay advances; `script` says which key is held from which time on.
    struct Board {
        driven_low: [bool; 3],
        now_ms: u32,
        script: Vec<(u32, Vec<(usize, usize)>)>,
    }

    impl Board {
        fn held(&self) -> &[(usize, usize)] {
            self.script
                .iter()
                .rev()
                .find(|(from, _)| *from <= self.now_ms)
                .map_or(&[][..], |(_, keys)| &keys[..])
        }
    }

    type Shared = Rc<RefCell<Board>>;

    struct Row(Shared, usize);
    struct Column(Shared, usize);
    struct Clock(Shared);

    impl embedded_hal::digital::ErrorType for Row {
        type Error = Infallible;
    }
    impl InputPin for Row {
        fn is_high(&mut self) -> Result<bool, Infallible> {
            self.is_low().map(|low| !low)
        }
        fn is_low(&mut self) -> Result<bool, Infallible> {
            let board = self.0.borrow();
            Ok(board
                .held()
                .iter()
                .any(|&(r, c)| r == self.1 && board.driven_low[c]))
        }
    }
    impl embedded_hal::digital::ErrorType for Column {
        type Error = Infallible;
    }
    impl OutputPin for Column {
        fn set_low(&mut self) -> Result<(), Infallible> {
            self.0.borrow_mut().driven_low[self.1] = true;
            Ok(())
        }
        fn set_high(&mut self) -> Result<(), Infallible> {
            self.0.borrow_mut().driven_low[self.1] = false;
            Ok(())
        }
    }
    impl DelayNs for Clock {
        fn delay_ns(&mut self, ns: u32) {
            self.0.borrow_mut().now_ms += ns.div_ceil(1_000_000);
        }
    }

    fn keypad(
        script: Vec<(u32, Vec<(usize, usize)>)>,
    ) -> (MatrixKeypad<Row, Column, Clock, 4, 3>, Shared) {
        let board = Rc::new(RefCell::new(Board {
            driven_low: [false; 3],
            now_ms: 0,
            script,
        }));
        let rows = [0, 1, 2, 3].map(|r| Row(board.clone(), r));
        let columns = [0, 1, 2].map(|c| Column(board.clone(), c));
        (
            MatrixKeypad::new(rows, columns, Clock(board.clone()), PHONE_4X3),
            board,
        )
    }

    #[test]
    fn presses_are_debounced_and_a_held_key_counts_once() {
        // "5" held from 30 ms to 200 ms, with a 5 ms bounce at 35 ms; then "0".
        let (mut pad, board) = keypad(std::vec![
            (30, std::vec![(1, 1)]),
            (35, std::vec![]),
            (40, std::vec![(1, 1)]),
            (200, std::vec![]),
            (300, std::vec![(3, 1)]),
            (400, std::vec![]),
        ]);
        assert_eq!(pad.next_key(1000), Some(Key::Digit(5)));
        let at_press = board.borrow().now_ms;
        assert!((55..=70).contains(&at_press), "confirmed at {at_press} ms");
        assert_eq!(pad.next_key(1000), Some(Key::Digit(0)));
        assert_eq!(pad.next_key(100), None, "no third key");
    }

    #[test]
    fn timeouts_are_never_short() {
        let (mut pad, board) = keypad(std::vec![]);
        assert_eq!(pad.next_key(100), None);
        assert!(board.borrow().now_ms >= 100);
    }

    #[test]
    fn two_keys_at_once_are_ignored_until_one_is_let_go() {
        let (mut pad, _) = keypad(std::vec![
            (30, std::vec![(0, 0), (0, 2)]),
            (100, std::vec![(0, 2)]),
        ]);
        assert_eq!(pad.next_key(1000), Some(Key::Digit(3)));
    }

    #[test]
    fn a_key_held_at_start_must_be_released_first() {
        let (mut pad, _) = keypad(std::vec![
            (0, std::vec![(3, 2)]),
            (100, std::vec![]),
            (150, std::vec![(3, 0)])
        ]);
        assert_eq!(pad.next_key(1000), Some(Key::Cancel));
    }

    #[test]
    fn drives_a_pin_entry() {
        use readerkit::pin::{Conditions, EntryLimits, Pin, Prompt, read_pin};
        let mut script = Vec::new();
        for (i, key) in [(0, 0), (0, 1), (0, 2), (1, 0), (3, 2)].iter().enumerate() {
            script.push((100 * i as u32 + 50, std::vec![*key]));
            script.push((100 * i as u32 + 100, std::vec![]));
        }
        let (mut pad, _) = keypad(script);
        let limits = EntryLimits::new(5, 5, 4, 8, Conditions::KEY, 32).unwrap();
        let mut pin = Pin::new();
        read_pin(&mut pad, &limits, Prompt::EnterPin, &mut pin).unwrap();
        assert_eq!(pin.digits(), [1, 2, 3, 4]);
    }
}
