//! The arena every call of a run works in: six aligned storage slots (two the
//! size of a device, three of an engine, one of a simulated card, each with room
//! to spare), then a byte area for buffers and out-pointers, guard bytes after
//! each; and [`R`], a range of it. What a call changed in it: `snapshot`.

use std::cell::Cell;
use std::ptr;

/// Storage slots: two the size of a device, three of an engine, one of a card;
/// each with room to spare so that a storage length may be too big.
pub(crate) const SLOT_CAP: [usize; 6] = [2112, 2112, 512, 512, 512, 16448];

/// The slot of the simulated card the line devices use.
pub(crate) const SIM_SLOT: usize = 5;

/// Guard bytes after every slot.
pub(crate) const GUARD: usize = 64;

/// The byte area for buffers and out-pointers.
pub(crate) const BUF_LEN: usize = 1024;

/// Offset of slot `i` in the arena.
pub(crate) const fn slot_off(i: usize) -> usize {
    let mut off = GUARD;
    let mut k = 0;
    while k < i {
        off += SLOT_CAP[k] + GUARD;
        k += 1;
    }
    off
}

pub(crate) const BUF_OFF: usize = slot_off(SLOT_CAP.len());

pub(crate) const ARENA_LEN: usize = BUF_OFF + BUF_LEN + GUARD;

/// A range of the arena; `null`: a NULL pointer (with `len`, which may lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct R {
    pub(crate) off: usize,
    pub(crate) len: usize,
    pub(crate) null: bool,
}

impl R {
    pub(crate) const NONE: R = R {
        off: 0,
        len: 0,
        null: true,
    };

    pub(crate) fn at(off: usize, len: usize) -> R {
        R {
            off,
            len,
            null: false,
        }
    }

    pub(crate) fn slot(i: usize) -> R {
        R::at(slot_off(i), SLOT_CAP[i])
    }

    pub(crate) fn overlaps(self, o: R) -> bool {
        !self.null
            && !o.null
            && self.len != 0
            && o.len != 0
            && self.off < o.off + o.len
            && o.off < self.off + self.len
    }

    pub(crate) fn contains(self, at: usize) -> bool {
        !self.null && self.off <= at && at < self.off + self.len
    }

    /// The pointer and length to hand to a call.
    pub(crate) fn parts(self) -> (*mut u8, usize) {
        (self.ptr(), self.len)
    }

    pub(crate) fn ptr<T>(self) -> *mut T {
        if self.null {
            ptr::null_mut()
        } else {
            arena().wrapping_add(self.off).cast()
        }
    }
}

thread_local! {
    static ARENA: Cell<*mut u8> = const { Cell::new(ptr::null_mut()) };
}

/// The arena of the run on this thread.
pub(crate) fn arena() -> *mut u8 {
    ARENA.with(Cell::get)
}

/// Use `arena` (`ARENA_LEN` bytes, aligned for `u64`) from now on.
pub(crate) fn set_arena(arena: *mut u8) {
    ARENA.with(|a| a.set(arena));
}

pub(crate) fn read<T: Copy>(r: R) -> T {
    // SAFETY: `r` lies in the arena; T is plain data read unaligned.
    unsafe { ptr::read_unaligned(r.ptr::<T>()) }
}

/// The bytes `r` holds now (none for a null buffer).
pub(crate) fn bytes(r: R) -> Vec<u8> {
    if r.null {
        return Vec::new();
    }
    (0..r.len).map(|k| read(R::at(r.off + k, 1))).collect()
}

pub(crate) fn usable_out<T>(r: R) -> bool {
    !r.null && (arena() as usize + r.off).is_multiple_of(align_of::<T>())
}
