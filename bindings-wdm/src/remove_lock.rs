//! A remove lock (`IO_REMOVE_LOCK` / smclib's `SmartcardAcquireRemoveLock`): every
//! entry point holds a reference while it runs, a pending IRP holds one until it is
//! completed, and removal waits until every reference is gone. After removal began no
//! reference is granted, so no IRP runs after the device is removed.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::Event;

/// The remove lock; see the module documentation.
pub struct RemoveLock<E> {
    /// References, plus one held by the device itself until removal.
    count: AtomicUsize,
    removed: AtomicBool,
    own_released: AtomicBool,
    drained: E,
}

/// A reference taken by [`RemoveLock::acquire_held`], given back when dropped: an
/// IRP passed down the stack keeps the device (its extension, the lower device
/// pointer) alive until the lower driver has it.
#[must_use = "the reference is given back as soon as this is dropped"]
pub struct Held<'a, E: Event> {
    lock: &'a RemoveLock<E>,
}

impl<E: Event> core::fmt::Debug for Held<'_, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Held")
    }
}

impl<E: Event> Held<'_, E> {
    /// Keep the reference past the guard: it is given back by hand with
    /// [`RemoveLock::release`] (a pending IRP's, when the IRP is completed).
    pub fn keep(self) {
        core::mem::forget(self);
    }
}

impl<E: Event> Drop for Held<'_, E> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

/// Removal has begun (`STATUS_DELETE_PENDING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed;

impl<E: Event> RemoveLock<E> {
    /// A lock with only the device's own reference.
    pub fn new() -> RemoveLock<E> {
        RemoveLock {
            count: AtomicUsize::new(1),
            removed: AtomicBool::new(false),
            own_released: AtomicBool::new(false),
            drained: E::new(),
        }
    }

    /// Take a reference for an IRP (`IoAcquireRemoveLock`); release it with
    /// [`RemoveLock::release`] when the IRP is completed or passed down.
    pub fn acquire(&self) -> Result<(), Removed> {
        self.count.fetch_add(1, Ordering::AcqRel);
        if self.removed.load(Ordering::Acquire) {
            self.release();
            return Err(Removed);
        }
        Ok(())
    }

    /// [`RemoveLock::acquire`], the reference given back when the [`Held`] is dropped.
    pub fn acquire_held(&self) -> Result<Held<'_, E>, Removed> {
        self.acquire()?;
        Ok(Held { lock: self })
    }

    /// Take one more reference unconditionally (even once removal started), for code
    /// that already runs under a reference someone else may release meanwhile (the
    /// cancel routine, under the pending IRP's). Pair with [`RemoveLock::release`].
    pub fn hold(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    /// Give back a reference (`IoReleaseRemoveLock`).
    pub fn release(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.set();
        }
    }

    /// Refuse new references from now on, without waiting.
    pub fn refuse(&self) {
        self.removed.store(true, Ordering::Release);
    }

    /// `IoReleaseRemoveLockAndWait`, called by a caller holding no reference (the
    /// remove dispatch routine gives its own back first): refuse new references, give
    /// back the device's own, and wait until every other holder has released. A
    /// second call only waits.
    pub fn release_and_wait(&self) {
        self.removed.store(true, Ordering::Release);
        if !self.own_released.swap(true, Ordering::AcqRel) {
            self.release();
        }
        self.drained.wait();
    }

    /// References currently held (the device's own included until removal).
    pub fn holders(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

impl<E: Event> Default for RemoveLock<E> {
    fn default() -> Self {
        RemoveLock::new()
    }
}
