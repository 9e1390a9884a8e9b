//! Reader backends, chosen by the reader.conf `DEVICENAME`.
//!
//! Each backend is a [`readerkit::Device`] with its own driver context; the binding
//! only sees it through [`Port`], so the registry can hold any of them. A backend
//! that watches requests on their way to its device wraps the device in a port of
//! its own and overrides only what it watches.

#[cfg(target_os = "linux")]
pub mod serial;
pub mod sim;
pub mod vpcd;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use readerkit::ioctl::Request;
use readerkit::tracking::Wait;
use readerkit::{CardState, Device, Failure, Outcome, Status};

use crate::part10;
use crate::platform::StdPlatform;
use crate::trace::{ReaderLog, default_level, split_level};

/// Card-tracking callback of a backend whose own thread watches the card and reports
/// insertion and removal to the device: there is nothing to arm.
pub(crate) fn tracking_by_watcher<D>(_: &mut D, _: Wait) -> Result<(), Failure> {
    Ok(())
}

/// Vendor callback answering PC/SC part 10 only, announcing `MAX_APDU_DATA` bytes as
/// `dwMaxAPDUDataSize`; every other vendor code is not supported.
pub(crate) fn part10_vendor<D, const MAX_APDU_DATA: u32>(
    _: &mut D,
    code: u32,
    _input: &[u8],
    output: &mut [u8],
) -> Result<usize, Failure> {
    part10::answer(part10::function_of(code), output, MAX_APDU_DATA)
        .unwrap_or(Err(Failure::NotSupported))
}

/// A [`Device`] on the std platform, whatever its driver type: what the binding
/// uses of it.
pub trait AnyDevice: Send + Sync {
    /// [`Device::submit`].
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome;
    /// [`Device::platform`] (the polling thread waits on it).
    fn platform(&self) -> &StdPlatform;
    /// [`Device::state`].
    fn state(&self) -> CardState;
    /// [`Device::card_insertions`].
    fn card_insertions(&self) -> u32;
    /// [`Device::process_events`].
    fn process_events(&self);
    /// [`Device::cancel_tracking`].
    fn cancel_tracking(&self) -> bool;
}

impl<D: Send> AnyDevice for Device<StdPlatform, D> {
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        Device::submit(self, request, output)
    }
    fn platform(&self) -> &StdPlatform {
        Device::platform(self)
    }
    fn state(&self) -> CardState {
        Device::state(self)
    }
    fn card_insertions(&self) -> u32 {
        Device::card_insertions(self)
    }
    fn process_events(&self) {
        Device::process_events(self)
    }
    fn cancel_tracking(&self) -> bool {
        Device::cancel_tracking(self)
    }
}

/// What the binding needs of a backend: its device, and the way in for requests.
///
/// Requests and tracking cancellations go through the port ([`Port::submit`],
/// [`Port::cancel_tracking`]), so that a backend can watch them; by default they
/// go straight to the device. Everything else is read from [`Port::device`].
pub trait Port: Send + Sync {
    /// The device behind the port.
    fn device(&self) -> &dyn AnyDevice;
    /// Every request of the binding goes through here, typed; by default
    /// [`Device::submit`].
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        self.device().submit(request, output)
    }
    /// [`Device::control`]: the request's bytes checked, then [`Port::submit`].
    fn control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Outcome {
        match Request::parse(code, input, output.len()) {
            Ok(request) => self.submit(request, output),
            Err(status) => Outcome::Complete {
                status,
                bytes_written: 0,
            },
        }
    }
    /// Cancel a pending tracking request; by default [`Device::cancel_tracking`].
    fn cancel_tracking(&self) -> bool {
        self.device().cancel_tracking()
    }
}

/// A device without a port of its own: every request goes straight to it.
impl<D: Send> Port for Device<StdPlatform, D> {
    fn device(&self) -> &dyn AnyDevice {
        self
    }
}

/// A backend thread, stopped and joined when the channel closes (pcscd may
/// `dlclose` the library afterwards: nothing of ours may keep running).
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    /// Wakes the thread from a blocking wait once `stop` is set.
    wake: Option<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Ask the thread to stop and wait for it.
    pub fn join(self) {
        self.stop.store(true, Ordering::Release);
        if let Some(wake) = &self.wake {
            wake();
        }
        let _ = self.handle.join();
    }
}

/// One open reader (one Lun).
pub struct Reader {
    /// The device behind the Lun.
    pub port: Arc<dyn Port>,
    /// The DEVICENAME it was opened with.
    pub device_name: String,
    /// Its log: name and level (the `log=` option of the DEVICENAME).
    pub log: ReaderLog,
    /// Largest command data field announced as `dwMaxAPDUDataSize`.
    pub max_apdu_data: u32,
    /// What `IFDHICCPresence` last told pcscd (`None` before the first call).
    pub reported: Mutex<Option<Reported>>,
    worker: Mutex<Option<Worker>>,
}

/// What pcscd was last told of the slot: a card or none, and which card (the
/// device's insertion count when it was told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    /// A card was reported present.
    pub present: bool,
    /// [`AnyDevice::card_insertions`] at that time.
    pub insertions: u32,
}

impl Reader {
    /// Stop and join the backend thread, if any.
    pub fn shutdown(&self) {
        let worker = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(worker) = worker {
            worker.join();
        }
    }
}

/// Every way a reader goes away stops its thread: `IFDHCloseChannel` calls
/// [`Reader::shutdown`] itself, but a reader dropped otherwise (the loser of two
/// racing opens of one Lun) must not leave a detached thread running into `dlclose`.
impl Drop for Reader {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("device_name", &self.device_name)
            .finish_non_exhaustive()
    }
}

/// An opened backend: the device, its `dwMaxAPDUDataSize`, its thread if any.
type Opened = (Arc<dyn Port>, u32, Option<Worker>);

/// Open the reader that `device_name` names, for reader number `index` (Lun >> 16).
/// A trailing `:log=LEVEL` option sets the reader's log level ([`crate::trace`]).
/// An unknown syntax is [`Status::NotSupported`]; a backend that cannot start (port
/// in use, say) reports its own status.
pub fn open(device_name: &str, index: u32) -> Result<Reader, Status> {
    let (backend_name, level) = split_level(device_name)?;
    let log = ReaderLog {
        name: device_name.to_owned(),
        level: level.unwrap_or_else(default_level),
    };
    let device_name = backend_name.as_str();
    let (port, max_apdu_data, worker): Opened = if let Some(kind) = device_name.strip_prefix("sim:")
    {
        (
            sim::open(kind, index, log.clone())?,
            sim::MAX_APDU_DATA,
            None,
        )
    } else if let Some(addr) = device_name.strip_prefix("vpcd:") {
        let (device, worker) = vpcd::open(addr, index)?;
        (device, vpcd::MAX_APDU_DATA, Some(worker))
    } else if let Some(spec) = device_name.strip_prefix("serial:") {
        open_serial(spec, index, log.clone())?
    } else {
        return Err(Status::NotSupported);
    };
    Ok(Reader {
        port,
        device_name: log.name.clone(),
        log,
        max_apdu_data,
        reported: Mutex::new(None),
        worker: Mutex::new(worker),
    })
}

#[cfg(target_os = "linux")]
fn open_serial(spec: &str, index: u32, log: ReaderLog) -> Result<Opened, Status> {
    let (device, worker) = serial::open(spec, index, log)?;
    Ok((device, serial::MAX_APDU_DATA, Some(worker)))
}

/// `serial:` needs linux-embedded-hal: elsewhere it is an unknown syntax.
#[cfg(not(target_os = "linux"))]
fn open_serial(_: &str, _: u32, _: ReaderLog) -> Result<Opened, Status> {
    Err(Status::NotSupported)
}

/// Start a backend thread running `f(stop)`; it looks at `stop` often enough by
/// itself.
pub(crate) fn spawn(
    name: &str,
    f: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
) -> Result<Worker, Status> {
    start(name, f, None)
}

/// Start a backend thread running `f(stop)` that sleeps until something happens;
/// `wake` (called after `stop` is set) makes it look.
pub(crate) fn spawn_with_wake(
    name: &str,
    f: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
    wake: impl Fn() + Send + Sync + 'static,
) -> Result<Worker, Status> {
    start(name, f, Some(Box::new(wake)))
}

fn start(
    name: &str,
    f: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
    wake: Option<Box<dyn Fn() + Send + Sync>>,
) -> Result<Worker, Status> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || f(flag))
        .map_err(|_| Status::InsufficientResources)?;
    Ok(Worker { stop, handle, wake })
}
