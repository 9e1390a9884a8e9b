//! The simulated PIN pad of the serving commands (`ccid-serve --reader
//! gempcpinpad`, `usbip-serve --keys`): key scripts, from `--keys KEYS` and from
//! `keys KEYS` lines on stdin, are pressed into a queue that a PIN entry
//! (PC_to_RDR_Secure) reads. The scripts' syntax is [`key_script`]'s.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use readerkit::pin::{Key, Keypad, Prompt};
use readerkit_cli::key_script::{self, KeyStep, PAUSE_MS};

use crate::sim_slot::Stopping;

/// How often a PIN entry waiting for a key looks whether its command is being
/// stopped, in ms.
const STOP_LOOK_MS: u64 = 50;

/// The steps of a `--keys` value clap has checked (none without the option).
pub(crate) fn script_of(arg: Option<&str>) -> Vec<KeyStep> {
    arg.and_then(|script| key_script::parse(script).ok())
        .unwrap_or_default()
}

/// Press the keys of `script` into `keys`, pausing where it says.
pub(crate) fn press(keys: &Sender<Key>, script: &[KeyStep]) {
    for step in script {
        match step {
            KeyStep::Press(key) => {
                let _ = keys.send(*key);
            }
            KeyStep::Pause => std::thread::sleep(Duration::from_millis(PAUSE_MS)),
        }
    }
}

/// Press the keys of a `keys KEYS` line's `script`; a script that does not parse
/// is reported on stderr (`readerkit <command>: ...`) and presses nothing.
pub(crate) fn press_line(keys: &Sender<Key>, script: &str, command: &str) {
    match key_script::parse(script) {
        Ok(script) => press(keys, &script),
        Err(e) => eprintln!("readerkit {command}: {e}"),
    }
}

/// A reader's keypad: keys pressed (on stdin or by `--keys`) arrive on a channel
/// and wait there until a PIN entry reads them.
pub(crate) struct QueuedKeypad {
    keys: Receiver<Key>,
    /// Whether the command running (the PIN entry) is being stopped (an abort,
    /// or its host gone): then no key comes, as at a time-out.
    stopping: Stopping,
    /// Say each key's kind and each prompt on stderr (never a digit's value).
    trace: bool,
}

impl QueuedKeypad {
    /// A keypad whose PIN entry gives up waiting once `stopping` says so, and the
    /// sender that presses its keys.
    pub(crate) fn new(trace: bool, stopping: Stopping) -> (Sender<Key>, QueuedKeypad) {
        let (sender, keys) = mpsc::channel();
        let keypad = QueuedKeypad {
            keys,
            stopping,
            trace,
        };
        (sender, keypad)
    }

    /// The next key within `timeout`, or `None` at the time-out or as soon as
    /// the command is being stopped (looked at every [`STOP_LOOK_MS`]).
    fn wait_key(&self, timeout: Duration) -> Option<Key> {
        let deadline = Instant::now() + timeout;
        loop {
            if (self.stopping)() {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(Duration::from_millis(STOP_LOOK_MS));
            match self.keys.recv_timeout(slice) {
                Ok(key) => return Some(key),
                Err(RecvTimeoutError::Timeout) if slice < left => {}
                Err(_) => return None,
            }
        }
    }
}

impl Keypad for QueuedKeypad {
    fn next_key(&mut self, timeout_ms: u32) -> Option<Key> {
        let key = self.wait_key(Duration::from_millis(u64::from(timeout_ms)));
        if self.trace {
            // The key's kind only: a digit is never shown.
            match key {
                Some(Key::Digit(_)) => eprintln!("keypad: digit"),
                Some(other) => eprintln!("keypad: {other:?}"),
                None => eprintln!("keypad: no key within {timeout_ms} ms"),
            }
        }
        key
    }

    fn prompt(&mut self, prompt: Prompt) {
        if self.trace {
            eprintln!("keypad: {prompt:?}");
        }
    }
}
