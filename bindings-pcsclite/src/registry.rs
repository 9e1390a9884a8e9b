//! The readers pcscd opened, by Lun (`reader_index << 16 | slot`).

use std::collections::BTreeMap;
use std::ffi::c_ulong;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::Reader;

static READERS: Mutex<BTreeMap<c_ulong, Arc<Reader>>> = Mutex::new(BTreeMap::new());

fn table() -> MutexGuard<'static, BTreeMap<c_ulong, Arc<Reader>>> {
    READERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reader open on `lun`.
pub fn get(lun: c_ulong) -> Option<Arc<Reader>> {
    table().get(&lun).cloned()
}

/// Register `reader` on `lun`; `false` (and nothing changes) if `lun` is taken.
pub fn insert(lun: c_ulong, reader: Reader) -> bool {
    let mut t = table();
    if t.contains_key(&lun) {
        return false;
    }
    t.insert(lun, Arc::new(reader));
    true
}

/// Take the reader off `lun`.
pub fn remove(lun: c_ulong) -> Option<Arc<Reader>> {
    table().remove(&lun)
}
