//! Kernel objects that stay where they were initialised.
//!
//! A KMUTEX or KEVENT is initialised in place: its dispatcher header holds a wait list
//! that points at itself. Copied elsewhere it is corrupt, and the first wait on the copy
//! links a thread into a list that is not there any more. The core builds its locks by
//! value and the reader is moved into the device extension, so the kernel layer
//! initialises each object at its first use, where it is. [`Placement`] remembers that
//! address: if the value has been moved since (a `ReaderDriver::create` that used the
//! reader before returning it, say), the object is initialised again at its new
//! address. That is sound because Rust moves a value only when nothing borrows it, so
//! the object being moved is not held and nobody waits on it: its state is the initial
//! one (an event's signal state is kept by its owner, see `kernel::KEvent`).

use core::sync::atomic::{AtomicUsize, Ordering};

/// Never initialised.
const UNINIT: usize = 0;
/// Being initialised by one thread.
const BUSY: usize = 1;

/// Where a kernel object was initialised; see the module documentation.
#[derive(Debug)]
pub struct Placement {
    /// [`UNINIT`], [`BUSY`], or the address the object was initialised at.
    at: AtomicUsize,
}

impl Placement {
    /// Not initialised anywhere yet.
    pub const fn new() -> Placement {
        Placement {
            at: AtomicUsize::new(UNINIT),
        }
    }

    /// Make sure the object at address `here` has been initialised there: `init` runs
    /// on the first call at each new address, on exactly one thread; callers racing
    /// with it wait until it has run. `here` is a real object's address (never 0 or 1).
    pub fn ensure(&self, here: usize, init: impl FnOnce()) {
        debug_assert!(here > BUSY, "not an object address");
        loop {
            let at = self.at.load(Ordering::Acquire);
            if at == here {
                return;
            }
            if at == BUSY {
                core::hint::spin_loop();
                continue;
            }
            if self
                .at
                .compare_exchange(at, BUSY, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                init();
                self.at.store(here, Ordering::Release);
                return;
            }
        }
    }

    /// The address the object was last initialised at, if any.
    pub fn initialised_at(&self) -> Option<usize> {
        match self.at.load(Ordering::Acquire) {
            UNINIT | BUSY => None,
            at => Some(at),
        }
    }
}

impl Default for Placement {
    fn default() -> Self {
        Placement::new()
    }
}
