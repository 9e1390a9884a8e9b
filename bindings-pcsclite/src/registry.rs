//! The readers pcscd opened, by Lun (`reader_index << 16 | slot`), each with what
//! pcscd was last told of its slot.
//!
//! A reader is never dropped under a call that uses it. pcscd serializes most IFDH
//! calls of a reader with its `rContext->mMutex` (power, transmit, control,
//! presence, capabilities; SET_PROTOCOL and SET_CAPABILITIES under their callers'
//! lock), and closes a reader only when its last reference goes, after joining its
//! event thread; but the polling and stop functions run outside that lock, and
//! `IFDCloseIFD` calls `IFDHCloseChannel` *without* the lock when it could not take
//! it in 0.5 s (a long transmit). So every call takes its own `Arc` of the
//! [`Channel`] ([`get`]), and [`remove`] only takes the table's: the reader, its
//! `Device` and its thread live until the last call holding it returns (the
//! `Reader`'s drop joins the thread; no thread of the reader holds a `Channel`, so
//! none ever joins itself). A call that looked the Lun up before the close runs on
//! the closed reader (its card powered down, its tracking cancelled and its wait
//! stopped) and gets that reader's answer; a Lun opened again is a new `Channel`
//! that such a call never reaches.

use std::collections::BTreeMap;
use std::ffi::c_ulong;
use std::sync::{Arc, Mutex, MutexGuard};

use readerkit_host_readers::Reader;

use crate::presence::Presence;

/// One open Lun: the reader, and what `IFDHICCPresence` told pcscd of it.
#[derive(Debug)]
pub struct Channel {
    /// The reader behind the Lun.
    pub reader: Reader,
    /// What `IFDHICCPresence` told pcscd, and which thread polls.
    pub presence: Mutex<Presence>,
}

impl Channel {
    /// The presence told, locked (a poisoned lock is taken over: the state is
    /// plain data, valid after any panic).
    pub fn presence(&self) -> MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(|e| e.into_inner())
    }
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
        presence: Mutex::new(Presence::new()),
    };
    t.insert(lun, Arc::new(channel));
    true
}

/// Take the channel off `lun`.
pub fn remove(lun: c_ulong) -> Option<Arc<Channel>> {
    table().remove(&lun)
}
