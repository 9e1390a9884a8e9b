//! A state behind a lock, with a condition variable to wait for it to change: what
//! the connection ([`super::link`]) and the removal gate ([`super::gate`]) are
//! built on.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct Monitor<T> {
    state: Mutex<T>,
    changed: Condvar,
}

impl<T> Monitor<T> {
    /// Lock the state. A thread that panicked holding it leaves it as it was
    /// between two whole changes, so the lock is taken anyway.
    pub(super) fn lock(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake every thread waiting for a change.
    pub(super) fn notify_all(&self) {
        self.changed.notify_all();
    }

    /// Wait, with `guard` released, until woken (by [`Monitor::notify_all`], or
    /// spuriously: look again) or `deadline`; `Err(guard)` at once, without
    /// waiting, if `deadline` has passed.
    pub(super) fn wait_until<'a>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Instant,
    ) -> Result<MutexGuard<'a, T>, MutexGuard<'a, T>> {
        let now = Instant::now();
        if now >= deadline {
            return Err(guard);
        }
        Ok(self
            .changed
            .wait_timeout(guard, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0)
    }
}
