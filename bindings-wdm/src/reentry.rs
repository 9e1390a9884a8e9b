//! A guard against re-entering a recursive lock.
//!
//! A KMUTEX may be acquired again by the thread that holds it (NT mutexes are
//! recursive). The serialization lock hands out `&mut` to the state it protects, so a
//! second acquisition on the same thread — a reader driver's callback calling back
//! into its reader (`with_driver`, `control`) while the lock is held — would create a
//! second `&mut` to the same state. [`ReentryGuard`] notices: after the kernel lock is
//! acquired, [`ReentryGuard::enter`] fails if it is already held, which can only be by
//! this thread. The kernel layer then stops the machine (`KeBugCheckEx`) rather than
//! run with aliased state; a std mutex would deadlock instead.

use core::sync::atomic::{AtomicBool, Ordering};

/// Whether the protected state is borrowed; see the module documentation.
#[derive(Debug)]
pub struct ReentryGuard {
    held: AtomicBool,
}

/// The lock was acquired again by the thread that already holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reentered;

/// The state is borrowed until this is dropped.
#[derive(Debug)]
#[must_use = "the state counts as borrowed only while this lives"]
pub struct Entered<'a> {
    guard: &'a ReentryGuard,
}

impl ReentryGuard {
    /// Not borrowed.
    pub const fn new() -> ReentryGuard {
        ReentryGuard {
            held: AtomicBool::new(false),
        }
    }

    /// Mark the state borrowed; call right after acquiring the kernel lock.
    /// `Err(Reentered)` if it already is (the holder re-entered).
    pub fn enter(&self) -> Result<Entered<'_>, Reentered> {
        if self.held.swap(true, Ordering::Acquire) {
            return Err(Reentered);
        }
        Ok(Entered { guard: self })
    }
}

impl Default for ReentryGuard {
    fn default() -> Self {
        ReentryGuard::new()
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.guard.held.store(false, Ordering::Release);
    }
}
