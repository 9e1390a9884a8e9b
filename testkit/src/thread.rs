//! A hang guard for tests whose failure mode is a deadlock (a call from inside a
//! callback waiting for the lock its own callback holds) or a peer that never
//! answers (a client script blocked in a call to pcscd).

use std::sync::mpsc;
use std::time::Duration;

/// How long a guarded scenario may run before it counts as hung.
pub const HANG_LIMIT: Duration = Duration::from_secs(20);

/// Run `scenario` on its own thread; fail the test (naming it `name`) if it does not
/// finish within [`HANG_LIMIT`], and pass its panic on if it panics. A hang guard, not
/// a speed check: a scenario that works finishes in milliseconds.
pub fn hang_guarded(name: &str, scenario: impl FnOnce() + Send + 'static) {
    guarded(
        name,
        HANG_LIMIT,
        "a call from inside a callback waits for its own lock",
        scenario,
    );
}

/// Run `scenario` on its own thread and return what it returns; fail the test
/// (naming it `name`) if it does not finish within `limit`, and pass its panic on
/// if it panics. For a scenario that waits on other processes (pcscd, a card
/// emulator): the caller keeps them, so that the failure's unwinding ends them and
/// with them the calls the scenario's thread is blocked in. A hang guard, not a
/// speed check: `limit` is far above what a working run takes.
pub fn hang_guarded_for<T: Send + 'static>(
    name: &str,
    limit: Duration,
    scenario: impl FnOnce() -> T + Send + 'static,
) -> T {
    guarded(name, limit, "no answer", scenario)
}

fn guarded<T: Send + 'static>(
    name: &str,
    limit: Duration,
    why: &str,
    scenario: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = done.send(scenario());
    });
    match finished.recv_timeout(limit) {
        Ok(value) => {
            let _ = thread.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            // The scenario panicked: report its panic.
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("{name}: the scenario ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: hung after {limit:?} ({why})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_that_finishes_gives_its_result() {
        let got = hang_guarded_for("adds", Duration::from_secs(60), || 2 + 2);
        assert_eq!(got, 4);
    }

    #[test]
    #[should_panic(expected = "blocked: hung after")]
    fn a_scenario_that_blocks_fails_after_its_limit() {
        // Blocked for good, as a call to a peer that never answers: the sender
        // lives in the scenario itself.
        hang_guarded_for("blocked", Duration::from_millis(50), || {
            let (_keep, never) = mpsc::channel::<()>();
            let _ = never.recv();
        });
    }

    #[test]
    #[should_panic(expected = "the scenario's own")]
    fn a_scenario_that_panics_passes_its_panic_on() {
        hang_guarded_for("panics", Duration::from_secs(60), || -> u8 {
            panic!("the scenario's own")
        });
    }
}
