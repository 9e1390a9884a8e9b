//! A reader's own thread (the vpcd listener, a serial chip's poller), stopped and
//! joined with the reader.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use readerkit::Status;

use crate::hook::Hook;

/// A reader's thread, stopped and joined when the reader closes (a host may unload
/// the library afterwards, as pcscd `dlclose`s it: nothing of ours may keep
/// running).
#[derive(Debug)]
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    /// Wakes the thread from a blocking wait once `stop` is set.
    wake: Option<Hook>,
}

impl Worker {
    /// Start a thread running `f(stop)`; it looks at `stop` often enough by itself.
    pub(crate) fn spawn(
        name: &str,
        f: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
    ) -> Result<Worker, Status> {
        Worker::start(name, f, None)
    }

    /// Start a thread running `f(stop)` that sleeps until something happens;
    /// `wake` (called after `stop` is set) makes it look.
    pub(crate) fn spawn_with_wake(
        name: &str,
        f: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Result<Worker, Status> {
        Worker::start(name, f, Some(Hook::new(wake)))
    }

    fn start(
        name: &str,
        f: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
        wake: Option<Hook>,
    ) -> Result<Worker, Status> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || f(flag))
            .map_err(|_| Status::InsufficientResources)?;
        Ok(Worker { stop, handle, wake })
    }

    /// Ask the thread to stop and wait for it.
    pub fn join(self) {
        self.stop.store(true, Ordering::Release);
        if let Some(wake) = &self.wake {
            wake.call();
        }
        let _ = self.handle.join();
    }
}
