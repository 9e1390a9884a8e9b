// The crate documentation is the README (one text for both).
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]

pub mod ffi;
pub mod irp;
#[cfg(target_os = "windows")]
pub mod kernel;
pub mod ntstatus;
pub mod placement;
pub mod reader;
pub mod reentry;
pub mod remove_lock;
pub mod trace;

pub use irp::{IoStatus, Irp, Major, PowerParams};
pub use reader::{DriverControl, DriverHooks, PnpState, WdmPlatform, WdmReader};

use readerkit::platform::Mutex;

/// What the portable layer needs from the kernel: the core's two locks and a
/// notification event (for the remove lock). In a driver: KMUTEX, KSPIN_LOCK, KEVENT
/// (`kernel::KernelSync` on Windows); in tests: `std::sync`.
pub trait Kernel {
    /// The serialization lock (may sleep; PASSIVE_LEVEL).
    type Serial<T>: Mutex<T>;
    /// The short lock (usable at DISPATCH_LEVEL).
    type Short<T>: Mutex<T>;
    /// A notification event.
    type Event: Event;

    /// The calling thread, as a nonzero number (the `KTHREAD` address in a driver),
    /// so the core can refuse a request made from inside one of the reader's own
    /// callbacks instead of deadlocking ([`readerkit::platform::Platform::current_context`]).
    /// `None`: cannot tell.
    fn current_thread() -> Option<core::num::NonZeroUsize> {
        None
    }

    /// Print one log line at `level` (`DbgPrintEx` with the IHV-driver component in
    /// a driver, see [`trace`]). The default prints nothing.
    fn log(level: readerkit::trace::Level, line: &core::ffi::CStr) {
        let _ = (level, line);
    }
}

/// A notification event: once set it stays set.
pub trait Event {
    /// An unset event.
    fn new() -> Self;
    /// Set the event, waking every waiter.
    fn set(&self);
    /// Wait until the event is set (PASSIVE_LEVEL).
    fn wait(&self);
}
