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

use std::time::{Duration, Instant};

use super::monitor::Monitor;

/// How long a new card waits for a removal to be seen by a host that never polls.
pub(super) const UNSEEN_REMOVAL_LIMIT: Duration = Duration::from_secs(1);

/// The last removal, as far as the host is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Removal {
    /// Seen (or there was none).
    #[default]
    Seen,
    /// Reported to the core at `at`, not yet proven seen; `poll_returned`: a poll
    /// has returned since, so the next tracking request proves it.
    Unseen { at: Instant, poll_returned: bool },
}

/// The host's tracking request (pcscd's poll), as the gate saw it go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Tracking {
    /// None running.
    #[default]
    Idle,
    /// Being armed (inside `Device::control`).
    Arming,
    /// Armed and pending.
    Pending,
}

#[derive(Debug, Default)]
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

/// See the module documentation. A new gate has no removal pending.
#[derive(Debug, Default)]
pub(super) struct Gate {
    state: Monitor<State>,
}

impl Gate {
    /// A tracking request (IS_PRESENT / IS_ABSENT) arrives.
    pub(super) fn arm(&self) -> Arm {
        let mut s = self.state.lock();
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
                self.state.notify_all();
            }
            Removal::Seen => {}
        }
        s.tracking = Tracking::Arming;
        Arm::Proceed
    }

    /// The core answered the tracking request: `pending` or finished.
    pub(super) fn armed(&self, pending: bool) {
        let mut s = self.state.lock();
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
        self.state.lock().tracking = Tracking::Idle;
    }

    /// A removal was reported to the core; a request running now finishes on it.
    pub(super) fn removed(&self) {
        let mut s = self.state.lock();
        let poll_returned = s.tracking != Tracking::Idle;
        s.removal = Removal::Unseen {
            at: Instant::now(),
            poll_returned,
        };
        s.tracking = Tracking::Idle;
    }

    /// An insertion was reported to the core; a request running now finishes on it.
    pub(super) fn inserted(&self) {
        self.state.lock().tracking = Tracking::Idle;
    }

    /// Wait until the last removal was seen (or [`UNSEEN_REMOVAL_LIMIT`] passed
    /// since it); `false` if the gate was stopped.
    pub(super) fn wait_seen(&self) -> bool {
        let mut s = self.state.lock();
        loop {
            if s.stopping {
                return false;
            }
            let Removal::Unseen { at, .. } = s.removal else {
                return true;
            };
            s = match self.state.wait_until(s, at + UNSEEN_REMOVAL_LIMIT) {
                Ok(s) => s,
                Err(mut s) => {
                    s.removal = Removal::Seen;
                    return true;
                }
            };
        }
    }

    /// Make [`Gate::wait_seen`] return `false`, now and from now on.
    pub(super) fn stop(&self) {
        self.state.lock().stopping = true;
        self.state.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_is_proven_seen_by_the_right_request() {
        // (the poll before the removal: still pending, then cancelled; the answers
        // to the tracking requests after the removal, the last one proving it seen)
        let cases: [(bool, bool, &[Arm]); 3] = [
            // The poll returns; pcscd looks; its next poll proves it.
            (true, false, &[Arm::Proceed]),
            // Between polls: one immediate return, then pcscd has looked.
            (false, false, &[Arm::ReturnNow, Arm::Proceed]),
            // A cancelled poll proves nothing.
            (true, true, &[Arm::ReturnNow, Arm::Proceed]),
        ];
        for (pending, cancelled, answers) in cases {
            let g = Gate::default();
            assert_eq!(g.arm(), Arm::Proceed);
            g.armed(pending);
            if cancelled {
                g.cancelled();
            }
            g.removed();
            for (i, answer) in answers.iter().enumerate() {
                let removal = g.state.lock().removal;
                assert!(
                    matches!(removal, Removal::Unseen { .. }),
                    "{pending} {cancelled} {i}"
                );
                assert_eq!(g.arm(), *answer, "{pending} {cancelled} {i}");
            }
            assert_eq!(
                g.state.lock().removal,
                Removal::Seen,
                "{pending} {cancelled}"
            );
            assert!(g.wait_seen());
        }
    }

    #[test]
    fn a_host_that_never_polls_waits_at_most_the_limit_and_stop_ends_the_wait() {
        let g = Gate::default();
        g.removed();
        let t0 = Instant::now();
        assert!(g.wait_seen());
        assert!(t0.elapsed() >= UNSEEN_REMOVAL_LIMIT);
        g.removed();
        g.stop();
        assert!(!g.wait_seen());
    }
}
