//! A hang guard for tests whose failure mode is a deadlock (a call from inside a
//! callback waiting for the lock its own callback holds).

use std::sync::mpsc;
use std::time::Duration;

/// How long a guarded scenario may run before it counts as hung.
pub const HANG_LIMIT: Duration = Duration::from_secs(20);

/// Run `scenario` on its own thread; fail the test (naming it `name`) if it does not
/// finish within [`HANG_LIMIT`], and pass its panic on if it panics. A hang guard, not
/// a speed check: a scenario that works finishes in milliseconds.
pub fn hang_guarded(name: &str, scenario: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(HANG_LIMIT) {
        Ok(()) => thread.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The scenario panicked: report its panic.
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: hung (a call from inside a callback waits for its own lock)")
        }
    }
}
