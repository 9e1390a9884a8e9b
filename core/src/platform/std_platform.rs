//! The platform for hosted code (feature `std`): both locks are `std::sync::Mutex`,
//! and a `Condvar` lets a thread sleep until the core completes a card-tracking
//! request, a card event is queued, or someone asks the wait to stop (pcscd's
//! polling thread, a service's event loop).

use core::time::Duration;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::{ContextId, Platform};
use crate::status::Status;

/// What the polling thread waits for.
#[derive(Debug, Default)]
struct Waker {
    /// The completion of the pending IS_PRESENT / IS_ABSENT request.
    completed: Option<Status>,
    /// Card events were queued and should be processed.
    events: bool,
    /// pcscd's stop function ran (sticky until a poll consumes it).
    stop: bool,
}

/// The `std` platform of one device; see the module documentation.
#[derive(Debug, Default)]
pub struct StdPlatform {
    waker: Mutex<Waker>,
    cond: Condvar,
}

/// Why [`StdPlatform::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The tracking request completed with this status.
    Completed(Status),
    /// Card events are queued: process them, then wait again.
    Events,
    /// [`StdPlatform::stop`] was called.
    Stopped,
    /// The time ran out.
    TimedOut,
}

impl StdPlatform {
    /// A platform with nothing pending.
    pub fn new() -> StdPlatform {
        StdPlatform::default()
    }

    fn lock(&self) -> MutexGuard<'_, Waker> {
        self.waker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget an earlier completion before arming a new tracking request; returns
    /// `true` (and clears the flag) if a stop was requested before the wait began.
    pub fn arm(&self) -> bool {
        let mut w = self.lock();
        w.completed = None;
        core::mem::take(&mut w.stop)
    }

    /// Wait until something happens or `deadline` passes.
    pub fn wait(&self, deadline: Instant) -> Woken {
        let mut w = self.lock();
        loop {
            if let Some(status) = w.completed.take() {
                return Woken::Completed(status);
            }
            if core::mem::take(&mut w.events) {
                return Woken::Events;
            }
            if core::mem::take(&mut w.stop) {
                return Woken::Stopped;
            }
            let now = Instant::now();
            if now >= deadline {
                return Woken::TimedOut;
            }
            let left = deadline - now;
            w = self
                .cond
                .wait_timeout(w, left.min(Duration::from_secs(3600)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Take a completion without waiting.
    pub fn take_completion(&self) -> Option<Status> {
        self.lock().completed.take()
    }

    /// Make a running (or the next) [`StdPlatform::wait`] return [`Woken::Stopped`].
    pub fn stop(&self) {
        self.lock().stop = true;
        self.cond.notify_all();
    }
}

impl Platform for StdPlatform {
    type Serial<T> = Mutex<T>;
    type Short<T> = Mutex<T>;

    fn complete_tracking(&self, status: Status) {
        self.lock().completed = Some(status);
        self.cond.notify_all();
    }

    fn events_pending(&self) {
        self.lock().events = true;
        self.cond.notify_all();
    }

    fn current_context(&self) -> Option<ContextId> {
        ContextId::current_thread()
    }
}
