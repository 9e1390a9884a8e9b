//! # readerkit-wdm
//!
//! The Windows WDM binding of readerkit: a WDM smart card reader driver hands its
//! IRPs to [`WdmReader`], as a WDM reader driver hands them to smclib's
//! `SmartcardDeviceControl`. Three layers, split on purpose:
//!
//! 1. **Portable layer** (this crate's root modules, plain Rust, built and tested on
//!    any host): [`irp`] (the [`Irp`] trait standing for "an IRP", METHOD_BUFFERED
//!    buffer mapping, IoStatus), [`tracking`] (the pending card-tracking IRP and its
//!    cancellation, completed exactly once), [`remove_lock`] (no IRP runs after
//!    removal), [`reader`] (create exclusivity, cleanup, close, device control, PnP
//!    state, system power), [`placement`] and [`reentry`] (what keeps the kernel's
//!    KMUTEX/KEVENT sound: initialised where they are, never entered twice). Generic over [`Irp`] and [`Kernel`] (the locks and event
//!    of the host), so tests drive it with fake IRPs and real threads.
//! 2. **Kernel FFI facade** ([`ffi`]): the only module naming kernel types and
//!    routines (pinned layouts, `raw-dylib` imports or `wdk-sys`; see its
//!    documentation).
//! 3. **Kernel layer** (`kernel`, compiled for `target_os = "windows"` only): the
//!    kernel's locks and event, the IRP wrapper and the driver skeleton, written once
//!    against the facade. The sample driver is `bindings-wdm/vreader`.
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
pub mod tracking;

pub use irp::{IoStatus, Irp, Major, PowerParams};
pub use reader::{DriverHooks, PnpState, WdmPlatform, WdmReader};

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
