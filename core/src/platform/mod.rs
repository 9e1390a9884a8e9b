//! What the library needs from the operating system.
//!
//! Two locks and one notification:
//!
//! * the **serialization lock** ([`Platform::Serial`]) is held around every reader
//!   driver callback, so no two callbacks ever run at once; callbacks may block, so
//!   this lock may sleep (a KMUTEX in a Windows driver, `std::sync::Mutex` in a
//!   process, a spin lock on bare metal);
//! * the **short lock** ([`Platform::Short`]) protects the card state that card
//!   insertion and removal change; it is held for a few dozen instructions and never
//!   across a callback, so it may be taken in interrupt or DPC context (a KSPIN_LOCK,
//!   a critical section);
//! * [`Platform::complete_tracking`] hands the outcome of a pending IS_PRESENT /
//!   IS_ABSENT request to the binding, which completes its IRP, its pcscd wait, its C
//!   callback;
//! * [`Platform::current_context`] says who is calling (a thread, a CPU core, the one
//!   context of a single-core firmware), so that the library can tell a call made from
//!   inside one of the driver's own callbacks from a call that merely has to wait.
//!
//! ## Calls from inside a callback (re-entry)
//!
//! A driver callback runs under the serialization lock. A call back into the same
//! device from inside it (from the callback itself, from a tracking completion or an
//! events-pending hook it triggers, or from an interrupt handler that interrupted it on
//! a single-core firmware) would wait for a lock its own context holds: a deadlock with
//! a sleeping lock, an endless spin with a spin lock. The core records which context
//! holds the serialization lock (a word next to it) and compares it with
//! [`Platform::current_context`] on every entry: a well-formed re-entrant request
//! that needs the lock is refused with [`Status::DeviceBusy`] at once (a malformed
//! one gets its parameter error first, as anywhere),
//! and card events processed re-entrantly are applied with their tracking completion
//! delivered when the lock is released. The detection lives in the core so that
//! every binding gets it; only the meaning of "the same context" is the platform's:
//!
//! * hosted code (`std`): the calling thread (`ContextId::current_thread`), used by
//!   `StdPlatform`;
//! * a single-core firmware without a scheduler: one context for everything
//!   ([`ContextId::SINGLE`], used by [`SpinPlatform`]): a call while a callback runs
//!   can only come from that callback or from an interrupt handler that interrupted
//!   it, and both would spin forever;
//! * a kernel or multi-core firmware: the kernel thread or the core number;
//! * `None` (the default): the platform cannot tell, re-entry is not detected (and
//!   deadlocks as before), but tracking completions made under the serialization lock
//!   by the library's own requests are still delivered after it is released.
//!
//! [`SpinPlatform`] is a complete bare-metal default built on the `spin` crate;
//! `StdPlatform` (feature `std`) is the hosted one, with a condition variable to
//! wait for tracking completions and card events.

use core::num::NonZeroUsize;

use crate::status::Status;
use crate::sync::{AtomicU32, Ordering};

#[cfg(feature = "std")]
mod std_platform;
#[cfg(feature = "std")]
pub use std_platform::{StdPlatform, Woken};

/// The identity of an execution context as a platform tells it: a thread, a CPU
/// core, or the single context of a firmware without a scheduler. Two calls from the
/// same context get equal ids; contexts that can run at the same time get different
/// ids. (Never 0: the core uses 0 for "nobody".)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContextId(NonZeroUsize);

impl ContextId {
    /// The one context of a single-core firmware without a scheduler (see
    /// [`SpinPlatform`]).
    pub const SINGLE: ContextId = ContextId(NonZeroUsize::MIN);

    /// A context with the platform's own number (thread pointer, core number + 1).
    pub const fn new(id: NonZeroUsize) -> ContextId {
        ContextId(id)
    }

    /// The number.
    pub const fn get(self) -> usize {
        self.0.get()
    }

    /// The calling thread: the address of a thread-local anchor, unique among the
    /// threads alive at the same time. `None` while the thread is being torn down.
    #[cfg(feature = "std")]
    pub fn current_thread() -> Option<ContextId> {
        std::thread_local! {
            static ANCHOR: u8 = const { 0 };
        }
        ANCHOR
            .try_with(|anchor| NonZeroUsize::new(core::ptr::from_ref(anchor) as usize))
            .ok()
            .flatten()
            .map(ContextId)
    }
}

/// A mutual-exclusion lock over a `T`, scoped by a closure so that it can never be
/// left held.
pub trait Mutex<T> {
    /// A lock holding `value`.
    fn new(value: T) -> Self;
    /// Run `f` with exclusive access to the value.
    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// The operating-system services the library uses; see the module documentation.
pub trait Platform {
    /// The serialization lock, held across callbacks (may sleep).
    type Serial<T>: Mutex<T>;
    /// The short lock for state shared with interrupt context (never held across a
    /// callback).
    type Short<T>: Mutex<T>;

    /// A pending card-tracking request is finished with `status`
    /// ([`Status::Success`] on the awaited event, [`Status::Cancelled`] when
    /// cancelled). Called exactly once for every request that
    /// [`Device::control`](crate::device::Device::control) answered with
    /// [`Outcome::Pending`](crate::device::Outcome::Pending), never while a library
    /// lock is held (for a completion made inside
    /// [`Device::sleep_with`](crate::device::Device::sleep_with) or
    /// [`wake_with`](crate::device::Device::wake_with): on a platform that names
    /// its contexts, [`Platform::current_context`]; one that cannot gets it
    /// under their transition lock).
    ///
    /// The call does not say which request it finishes: the library frees its
    /// tracking slot when it decides the completion and calls this just after, so a
    /// new tracking request from another thread can already be pending when this
    /// runs. A binding that keeps the pending request (an IRP, a waiter) must
    /// therefore hold it until this call, and answer a new tracking request that
    /// arrives while it still holds one with [`Status::DeviceBusy`] itself, as
    /// smclib does with its `NotificationIrp`.
    fn complete_tracking(&self, status: Status);

    /// Events were queued by [`Device::card_inserted`](crate::device::Device::card_inserted)
    /// and friends; the binding should arrange for
    /// [`Device::process_events`](crate::device::Device::process_events) to run soon
    /// (queue a DPC, wake a thread). May be called in interrupt context. The default
    /// does nothing: events are then processed at the start of the next request.
    fn events_pending(&self) {}

    /// The calling execution context (see the module documentation), used to refuse
    /// calls made from inside the device's own callbacks instead of deadlocking. The
    /// default, `None`, means the platform cannot tell: re-entry is then not detected.
    fn current_context(&self) -> Option<ContextId> {
        None
    }
}

impl<T> Mutex<T> for spin::Mutex<T> {
    fn new(value: T) -> Self {
        spin::Mutex::new(value)
    }

    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut spin::Mutex::lock(self))
    }
}

#[cfg(feature = "std")]
impl<T> Mutex<T> for std::sync::Mutex<T> {
    fn new(value: T) -> Self {
        std::sync::Mutex::new(value)
    }

    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // A panic inside a callback poisons the lock; the data is still consistent
        // because the library only commits state after a callback returns.
        let mut guard = std::sync::Mutex::lock(self).unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

/// A bare-metal platform: `spin` locks, and tracking completions kept for the
/// firmware to collect with [`SpinPlatform::take_completion`].
///
/// Suitable where there is no scheduler: callbacks then run to completion and an
/// interrupt handler only queues events, which never takes the serialization lock.
/// Every call is taken to come from one context ([`ContextId::SINGLE`]), so a request
/// made while a callback runs (from the callback, or from an interrupt handler that
/// interrupted it) is refused with `DeviceBusy` instead of spinning forever. A
/// multi-core firmware whose cores share a device needs its own [`Platform`] that
/// answers the core number.
#[derive(Debug)]
pub struct SpinPlatform {
    completion: AtomicU32,
}

const NO_COMPLETION: u32 = u32::MAX;

impl SpinPlatform {
    /// A platform with no completion waiting.
    pub fn new() -> SpinPlatform {
        SpinPlatform {
            completion: AtomicU32::new(NO_COMPLETION),
        }
    }

    /// The status of the last finished tracking request, once.
    pub fn take_completion(&self) -> Option<Status> {
        let code = self.completion.swap(NO_COMPLETION, Ordering::AcqRel);
        Status::from_ntstatus(code).filter(|_| code != NO_COMPLETION)
    }
}

impl Default for SpinPlatform {
    fn default() -> SpinPlatform {
        SpinPlatform::new()
    }
}

impl Platform for SpinPlatform {
    type Serial<T> = spin::Mutex<T>;
    type Short<T> = spin::Mutex<T>;

    fn complete_tracking(&self, status: Status) {
        self.completion
            .store(status.to_ntstatus(), Ordering::Release);
    }

    fn current_context(&self) -> Option<ContextId> {
        Some(ContextId::SINGLE)
    }
}
