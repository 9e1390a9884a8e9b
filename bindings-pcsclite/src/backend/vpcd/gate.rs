//! Keeping a removal visible until pcscd has seen it.
//!
//! pcscd learns of card movements only by asking: its event thread loops
//! `IFDHICCPresence`, then the polling function (our IS_PRESENT / IS_ABSENT
//! request), then `IFDHICCPresence` again when the poll returns. If a card leaves
//! and another arrives between two `IFDHICCPresence` calls, pcscd never sees the
//! reader empty: it keeps the old ATR, the old handles stay valid, and every new
//! session fails. So after a removal the listener holds the next card back until
//! pcscd has looked:
//!
//! * a poll that was already running (arming or pending) when the removal came
//!   returns after it, and pcscd calls `IFDHICCPresence` before its next poll: the
//!   next tracking request proves the removal was seen;
//! * with no poll running, the next tracking request proves nothing (pcscd may
//!   have looked just before the removal), so it is answered at once without
//!   waiting; pcscd then looks again, and the request after that proves it.
//!
//! A host that never polls (a test calling the IFDH functions directly) is not
//! made to wait for ever: after [`UNSEEN_REMOVAL_LIMIT`] the card is let in.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a new card waits for a removal to be seen by a host that never polls.
pub(super) const UNSEEN_REMOVAL_LIMIT: Duration = Duration::from_secs(1);

/// The last removal, as far as the host is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// Seen (or there was none).
    Seen,
    /// Reported to the core at `at`, not yet proven seen; `poll_returned`: a poll
    /// has returned since, so the next tracking request proves it.
    Unseen { at: Instant, poll_returned: bool },
}

/// The host's tracking request (pcscd's poll), as the gate saw it go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracking {
    /// None running.
    Idle,
    /// Being armed (inside `Device::control`).
    Arming,
    /// Armed and pending.
    Pending,
}

#[derive(Debug)]
struct State {
    removal: Removal,
    tracking: Tracking,
    stopping: bool,
}

/// What to do with a tracking request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arm {
    /// Hand it to the core.
    Proceed,
    /// Answer it at once with success, without waiting: the host must look at
    /// the reader again before the next card comes in.
    ReturnNow,
}

/// See the module documentation.
#[derive(Debug)]
pub(super) struct Gate {
    state: Mutex<State>,
    changed: Condvar,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    /// No removal pending.
    pub(super) fn new() -> Gate {
        Gate {
            state: Mutex::new(State {
                removal: Removal::Seen,
                tracking: Tracking::Idle,
                stopping: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A tracking request (IS_PRESENT / IS_ABSENT) arrives.
    pub(super) fn arm(&self) -> Arm {
        let mut s = self.lock();
        match s.removal {
            Removal::Unseen {
                poll_returned: false,
                at,
            } => {
                s.removal = Removal::Unseen {
                    at,
                    poll_returned: true,
                };
                return Arm::ReturnNow;
            }
            Removal::Unseen {
                poll_returned: true,
                ..
            } => {
                s.removal = Removal::Seen;
                self.changed.notify_all();
            }
            Removal::Seen => {}
        }
        s.tracking = Tracking::Arming;
        Arm::Proceed
    }

    /// The core answered the tracking request: `pending` or finished.
    pub(super) fn armed(&self, pending: bool) {
        let mut s = self.lock();
        // A card event during arming already finished it (or will).
        if s.tracking == Tracking::Arming {
            s.tracking = if pending {
                Tracking::Pending
            } else {
                Tracking::Idle
            };
        }
    }

    /// The host cancelled its tracking request (its poll timed out or was stopped).
    pub(super) fn cancelled(&self) {
        self.lock().tracking = Tracking::Idle;
    }

    /// A removal was reported to the core; a request running now finishes on it.
    pub(super) fn removed(&self) {
        let mut s = self.lock();
        let poll_returned = s.tracking != Tracking::Idle;
        s.removal = Removal::Unseen {
            at: Instant::now(),
            poll_returned,
        };
        s.tracking = Tracking::Idle;
    }

    /// An insertion was reported to the core; a request running now finishes on it.
    pub(super) fn inserted(&self) {
        self.lock().tracking = Tracking::Idle;
    }

    /// Wait until the last removal was seen (or [`UNSEEN_REMOVAL_LIMIT`] passed
    /// since it); `false` if the gate was stopped.
    pub(super) fn wait_seen(&self) -> bool {
        let mut s = self.lock();
        loop {
            if s.stopping {
                return false;
            }
            let Removal::Unseen { at, .. } = s.removal else {
                return true;
            };
            let limit = at + UNSEEN_REMOVAL_LIMIT;
            let now = Instant::now();
            if now >= limit {
                s.removal = Removal::Seen;
                return true;
            }
            s = self
                .changed
                .wait_timeout(s, limit - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Make [`Gate::wait_seen`] return `false`, now and from now on.
    pub(super) fn stop(&self) {
        self.lock().stopping = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_during_a_pending_poll_is_seen_at_the_next_request() {
        let g = Gate::new();
        assert_eq!(g.arm(), Arm::Proceed);
        g.armed(true);
        g.removed();
        // The poll returns; pcscd looks; its next poll proves it.
        assert_eq!(g.arm(), Arm::Proceed);
        assert!(g.wait_seen());
    }

    #[test]
    fn a_removal_between_polls_costs_one_immediate_return() {
        let g = Gate::new();
        assert_eq!(g.arm(), Arm::Proceed);
        g.armed(false);
        g.removed();
        assert_eq!(g.arm(), Arm::ReturnNow);
        assert_eq!(g.arm(), Arm::Proceed);
        assert!(g.wait_seen());
    }

    #[test]
    fn a_cancelled_poll_proves_nothing() {
        let g = Gate::new();
        assert_eq!(g.arm(), Arm::Proceed);
        g.armed(true);
        g.cancelled();
        g.removed();
        assert_eq!(g.arm(), Arm::ReturnNow);
    }

    #[test]
    fn a_host_that_never_polls_waits_at_most_the_limit_and_stop_ends_the_wait() {
        let g = Gate::new();
        g.removed();
        let t0 = Instant::now();
        assert!(g.wait_seen());
        assert!(t0.elapsed() >= UNSEEN_REMOVAL_LIMIT);
        g.removed();
        g.stop();
        assert!(!g.wait_seen());
    }
}
