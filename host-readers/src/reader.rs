//! One open reader, and the device name that picks its kind.

use std::sync::{Arc, Mutex};

use readerkit::Status;

use crate::device_name::{DeviceName, Kind};
use crate::host::Host;
use crate::port::Port;
use crate::reader_log::{ReaderLog, default_level};
use crate::worker::Worker;
use crate::{sim, vpcd};

/// One open reader: its port, its log, what it announces, its thread if any.
pub struct Reader {
    /// The way in to its device.
    pub port: Arc<dyn Port>,
    /// Its log: the device name it was opened with, and its level (the `log=`
    /// option of the device name).
    pub log: ReaderLog,
    /// Largest command data field, in bytes, announced as `dwMaxAPDUDataSize`.
    pub max_apdu_data: u32,
    worker: Mutex<Option<Worker>>,
}

impl Reader {
    /// Stop and join the reader's thread, if any.
    pub fn shutdown(&self) {
        let worker = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(worker) = worker {
            worker.join();
        }
    }
}

/// Every way a reader goes away stops its thread: a host closing it calls
/// [`Reader::shutdown`] itself, but a reader dropped otherwise (the loser of two
/// racing opens of one slot) must not leave a detached thread running.
impl Drop for Reader {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// An opened reader before it is named: the port, its `dwMaxAPDUDataSize`, its
/// thread if any.
type Opened = (Arc<dyn Port>, u32, Option<Worker>);

/// Open the reader `device_name` names (see the crate documentation), as reader
/// number `index` of host `H`. A trailing `:log=LEVEL` option sets the reader's log
/// level ([`crate::reader_log`]). The whole name is parsed ([`DeviceName::parse`])
/// before anything is opened: an unknown syntax is [`Status::NotSupported`]; a
/// reader that cannot start (port in use, say) reports its own status.
pub fn open<H: Host>(device_name: &str, index: u32) -> Result<Reader, Status> {
    let name = DeviceName::parse(device_name)?;
    let log = ReaderLog {
        name: device_name.to_owned(),
        level: name.level.unwrap_or_else(default_level),
    };
    let (port, max_apdu_data, worker): Opened = match name.kind {
        Kind::Sim(slot) => {
            let port = sim::open::<H>(&slot, &name.reader, index, log.clone());
            (port, sim::MAX_APDU_DATA, None)
        }
        Kind::Vpcd(spec) => {
            let (port, worker) = vpcd::open::<H>(&spec, &name.reader, index)?;
            (port, vpcd::MAX_APDU_DATA, Some(worker))
        }
        #[cfg(target_os = "linux")]
        Kind::Serial(spec) => {
            let (port, worker) = crate::serial::open::<H>(spec, index, log.clone())?;
            (port, crate::serial::MAX_APDU_DATA, Some(worker))
        }
    };
    Ok(Reader {
        port,
        log,
        max_apdu_data,
        worker: Mutex::new(worker),
    })
}
