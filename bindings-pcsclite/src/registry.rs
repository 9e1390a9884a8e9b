//! The readers pcscd opened, by Lun (`reader_index << 16 | slot`), each with what
//! pcscd was last told of its slot.

use std::collections::BTreeMap;
use std::ffi::c_ulong;
use std::sync::{Arc, Mutex, MutexGuard};

use readerkit_host_readers::Reader;

/// One open Lun: the reader, and what `IFDHICCPresence` last told pcscd.
#[derive(Debug)]
pub struct Channel {
    /// The reader behind the Lun.
    pub reader: Reader,
    /// What `IFDHICCPresence` last told pcscd (`None` before the first call).
    pub reported: Mutex<Option<Reported>>,
}

/// What pcscd was last told of the slot: a card or none, and which card (the
/// device's insertion count when it was told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    /// A card was reported present.
    pub present: bool,
    /// [`readerkit_host_readers::AnyDevice::card_insertions`] at that time.
    pub insertions: u32,
}

static CHANNELS: Mutex<BTreeMap<c_ulong, Arc<Channel>>> = Mutex::new(BTreeMap::new());

fn table() -> MutexGuard<'static, BTreeMap<c_ulong, Arc<Channel>>> {
    CHANNELS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The channel open on `lun`.
pub fn get(lun: c_ulong) -> Option<Arc<Channel>> {
    table().get(&lun).cloned()
}

/// Register `reader` on `lun`, nothing reported yet; `false` (and nothing changes)
/// if `lun` is taken.
pub fn insert(lun: c_ulong, reader: Reader) -> bool {
    let mut t = table();
    if t.contains_key(&lun) {
        return false;
    }
    let channel = Channel {
        reader,
        reported: Mutex::new(None),
    };
    t.insert(lun, Arc::new(channel));
    true
}

/// Take the channel off `lun`.
pub fn remove(lun: c_ulong) -> Option<Arc<Channel>> {
    table().remove(&lun)
}
