//! What a call changed in the arena. Bytes are compared as bytes, except the
//! storage of a live object: its padding bytes are undefined once the library
//! writes it (reading them is undefined behaviour), so it is compared by its
//! state (`readerkit_c::fuzzing::slot_state`: the slot header's fields and the
//! `Debug` text of every field of the object); and a C struct a call wrote whole,
//! whose padding is put back as it was (`padding`).

use std::array;
use std::cell::RefCell;

use readerkit_c::fuzzing::{SlotState, slot_state, stored_len};
use readerkit_c::rk_status;

use super::arena::{ARENA_LEN, R, SLOT_CAP, arena, slot_off};
use super::padding::{Written, restore};

/// Per slot: the bytes of the live object stored at its start (0: none), and
/// the slot's state.
type Objects = [(usize, SlotState); SLOT_CAP.len()];

/// The arena between two calls.
pub(crate) struct Snapshot {
    /// Every byte but the storage of live objects (zero there).
    bytes: Vec<u8>,
    /// The live objects.
    objects: Objects,
}

impl Snapshot {
    /// The arena with the live `objects` found in it.
    fn of(objects: Objects) -> Snapshot {
        Snapshot {
            bytes: bytes(&objects),
            objects,
        }
    }

    /// `true` if `at` lies in the storage of a live object.
    fn in_object(&self, at: usize) -> bool {
        in_object(&self.objects, at)
    }
}

/// `true` if `at` lies in the storage of one of the live `objects`.
fn in_object(objects: &Objects, at: usize) -> bool {
    objects
        .iter()
        .enumerate()
        .any(|(i, &(len, _))| (slot_off(i)..slot_off(i) + len).contains(&at))
}

thread_local! {
    /// Per slot, the object as the last call left it, if nothing changed it
    /// since: the harness writes no live object's storage and no callback runs
    /// between calls, but a device processes its queued card events when asked
    /// its state or sent a request by the harness's own checks ([`forget`] it
    /// then).
    static LAST: RefCell<[Option<(usize, SlotState)>; SLOT_CAP.len()]> =
        const { RefCell::new([const { None }; SLOT_CAP.len()]) };
}

/// Forget what the last call left in `slot` (`None`: in every slot, a new arena).
pub(crate) fn forget(slot: Option<usize>) {
    LAST.with(|last| match slot {
        Some(i) => last.borrow_mut()[i] = None,
        None => *last.borrow_mut() = [const { None }; SLOT_CAP.len()],
    });
}

/// The object in slot `i` now; no call runs.
fn object(i: usize) -> (usize, SlotState) {
    // SAFETY: every slot is aligned to 8 (the arena is u64 words, every slot
    // offset a multiple of 8) and holds its header (16 bytes) and any live
    // object stored at its start; its header was zeroed or written by the
    // library (a released object's storage is cleaned by `check_writes`).
    let state = unsafe { slot_state(arena().wrapping_add(slot_off(i))) };
    let len = match state.value {
        Some(_) => stored_len(state.magic),
        None => 0,
    };
    (len, state)
}

/// The bytes of the arena but the storage of the live `objects` (zero there).
fn bytes(objects: &Objects) -> Vec<u8> {
    let mut bytes = vec![0; ARENA_LEN];
    let mut from = 0;
    let live = objects
        .iter()
        .enumerate()
        .map(|(i, &(len, _))| (slot_off(i), len));
    for (start, len) in live.chain([(ARENA_LEN, 0)]) {
        // SAFETY: `from..start` lies in the arena, outside every live object: bytes
        // the harness zeroed or wrote, or the library wrote as bytes.
        let defined =
            unsafe { std::slice::from_raw_parts(arena().wrapping_add(from), start - from) };
        bytes[from..start].copy_from_slice(defined);
        from = start + len;
    }
    bytes
}

/// The arena before a call.
pub(crate) fn snapshot() -> Snapshot {
    let objects = LAST.with(|last| {
        let mut last = last.borrow_mut();
        array::from_fn(|i| last[i].take().unwrap_or_else(|| object(i)))
    });
    Snapshot::of(objects)
}

/// Assert that every byte changed since `before` lies in one of `allowed`, and
/// that every live object (before or now) whose slot is not allowed as a whole
/// is in the same state; the C structs the call may have written whole
/// (`structs`) are compared by their fields: their padding is first put back as
/// it was (outside live objects). Then clean the storage of an object the call
/// released: its padding and value bytes zeroed, the header's fields kept, so
/// that the next snapshot reads only defined bytes there.
pub(crate) fn check_writes(
    what: &str,
    st: rk_status,
    before: &Snapshot,
    allowed: &[R],
    structs: &[Written],
) {
    let objects = array::from_fn(object);
    let padding = structs.iter().flat_map(Written::padding);
    for at in padding.filter(|&at| !before.in_object(at) && !in_object(&objects, at)) {
        restore(at, before.bytes[at]);
    }
    let now = Snapshot::of(objects);
    // Whole chunks first (one memcmp each, not a comparison per byte the
    // coverage instrumentation would trace), then the bytes of a chunk that differs.
    for (c, (b, n)) in before
        .bytes
        .chunks(256)
        .zip(now.bytes.chunks(256))
        .enumerate()
    {
        if b == n {
            continue;
        }
        let changed = (0..b.len()).filter(|&i| b[i] != n[i]).map(|i| c * 256 + i);
        for at in changed.filter(|&at| !before.in_object(at) && !now.in_object(at)) {
            assert!(
                allowed.iter().any(|r| r.contains(at)),
                "{what} (status {st}): byte {at} of the arena written outside {allowed:?}"
            );
        }
    }
    for (i, ((was_len, was), (len, state))) in before.objects.iter().zip(&now.objects).enumerate() {
        if (*was_len > 0 || *len > 0) && !allowed.contains(&R::slot(i)) {
            assert!(
                was == state,
                "{what} (status {st}): the object in slot {i} changed: {}",
                difference(was, state)
            );
        }
        if *was_len > 0 && *len == 0 {
            clean(i, *was_len);
        }
    }
    LAST.with(|last| *last.borrow_mut() = now.objects.map(Some));
}

/// Zero the storage an object of `len` bytes left in slot `i`, but for its
/// header's fields (the magic word at 0..4 and the address at 8..16), which the
/// library reads to tell a released storage.
fn clean(i: usize, len: usize) {
    let start = arena().wrapping_add(slot_off(i));
    // SAFETY: inside slot `i` (an object of `len` bytes was stored there), which
    // no live object uses; the header's padding and the value's bytes.
    unsafe {
        start.wrapping_add(4).write_bytes(0, 4);
        start.wrapping_add(16).write_bytes(0, len - 16);
    }
}

/// Where the texts of two states part, with some context.
fn difference(was: &SlotState, now: &SlotState) -> String {
    let (was, now) = (format!("{was:?}"), format!("{now:?}"));
    let at = was
        .bytes()
        .zip(now.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(was.len().min(now.len()));
    let around = |text: &str| -> String {
        text.chars()
            .skip(at.saturating_sub(120))
            .take(240)
            .collect()
    };
    format!("was ...{}... now ...{}...", around(&was), around(&now))
}
