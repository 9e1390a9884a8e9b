//! A testing aid for the `c_api` fuzz harness (feature `fuzzing`; not part of the
//! C API, not in the header): what a storage holds, as a value to compare before
//! and after a call instead of the storage's bytes. An object's padding bytes are
//! undefined once it is written, so reading its storage as bytes is undefined
//! behaviour; its header's fields and its value's fields are not.
//!
//! The simulated card (16 KiB, most of it buffers) is kept as a copy and compared
//! field by field; the other objects as the `Debug` text of every field.

extern crate std;

use core::fmt::Debug;
use std::boxed::Box;
use std::format;
use std::string::String;

use crate::device::CDevice;
use crate::slot::{Slot, Stored, magic};
use crate::t0::T0;
use crate::t1::{T1Engine, T1Tx};

/// What a storage holds: the header every kind of object begins with, and the
/// object it names, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotState {
    /// The magic word at offset 0: a kind of object while it lives there, 0 once
    /// released (or never stored).
    pub magic: u32,
    /// The address the object was stored at (a copy is refused).
    pub this: usize,
    /// The live object the header names; `None` when it names none.
    pub value: Option<ObjectState>,
}

/// Every field of a live object.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectState {
    /// Its `Debug` text (a device's fields under its locks read under them).
    Text(String),
    /// A copy of the simulated card.
    #[cfg(feature = "sim")]
    Card(Box<readerkit_card_sim::Card>),
}

/// The bytes from a storage's start that an object of the kind `magic` occupies
/// (its header and value, padding included); 0 for a word that names no kind.
pub fn stored_len(magic: u32) -> usize {
    match magic {
        magic::DEVICE => size_of::<Slot<CDevice>>(),
        magic::T0_EXCHANGE => size_of::<Slot<T0>>(),
        magic::T1_ENGINE => size_of::<Slot<T1Engine>>(),
        magic::T1_TRANSACTION => size_of::<Slot<T1Tx>>(),
        #[cfg(feature = "sim")]
        magic::SIM_CARD => size_of::<Slot<readerkit_card_sim::Card>>(),
        _ => 0,
    }
}

/// The kinds of object a C caller keeps in its storage, for [`object_len`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A device (`rk_device`).
    Device,
    /// A T=0 exchange (`rk_t0_exchange`).
    T0Exchange,
    /// A T=1 engine (`rk_t1_engine`).
    T1Engine,
    /// A T=1 transaction (`rk_t1_transaction`).
    T1Transaction,
    /// A simulated card (`rk_sim_card`).
    #[cfg(feature = "sim")]
    SimCard,
}

/// The bytes from a storage's start an object of `kind` occupies: the region the
/// library's overlap checks give the object at a pointer, which no buffer or
/// out-pointer written by a call on it may share (at most the storage size the
/// header documents).
pub fn object_len(kind: ObjectKind) -> usize {
    stored_len(match kind {
        ObjectKind::Device => magic::DEVICE,
        ObjectKind::T0Exchange => magic::T0_EXCHANGE,
        ObjectKind::T1Engine => magic::T1_ENGINE,
        ObjectKind::T1Transaction => magic::T1_TRANSACTION,
        #[cfg(feature = "sim")]
        ObjectKind::SimCard => magic::SIM_CARD,
    })
}

/// The state of the storage at `storage`.
///
/// # Safety
///
/// `storage` is aligned to 8 and readable for 16 bytes (the header) and, if its
/// header names a live object stored there, for that object; the header's fields
/// were written (zeroed, or by a stored object); no call on the object runs (a
/// device's locks are taken).
pub unsafe fn slot_state(storage: *const u8) -> SlotState {
    let header = storage.cast::<Slot<()>>();
    // SAFETY: aligned and readable per the caller; the magic word is an atomic at
    // offset 0 of every slot, `this` a usize written with it.
    let (magic, this) = unsafe { Slot::header(header) };
    // Each reads the value only if the header names a live object of its kind
    // stored at `storage` (the magic word and the address checked).
    let value = match magic {
        // SAFETY: forwarded contract.
        magic::DEVICE => unsafe { render::<CDevice>(storage) },
        // SAFETY: forwarded contract.
        magic::T0_EXCHANGE => unsafe { render::<T0>(storage) },
        // SAFETY: forwarded contract.
        magic::T1_ENGINE => unsafe { engine(storage) },
        // SAFETY: forwarded contract.
        magic::T1_TRANSACTION => unsafe { render::<T1Tx>(storage) },
        #[cfg(feature = "sim")]
        // SAFETY: forwarded contract.
        magic::SIM_CARD => unsafe { card(storage) },
        _ => None,
    };
    SlotState { magic, this, value }
}

/// The `Debug` text of the `T` stored at `storage`, if one lives there.
///
/// # Safety
///
/// As [`slot_state`].
unsafe fn render<T: Stored + Debug>(storage: *const u8) -> Option<ObjectState> {
    // SAFETY: forwarded contract; `value` checks the magic word and the address.
    unsafe { Slot::<T>::value(storage) }
        .ok()
        .map(|value| ObjectState::Text(format!("{value:?}")))
}

/// The T=1 engine stored at `storage`, if one lives there ([`T1Engine::describe`]:
/// not the state a transaction borrows).
///
/// # Safety
///
/// As [`slot_state`].
unsafe fn engine(storage: *const u8) -> Option<ObjectState> {
    // SAFETY: forwarded contract; `find` checks the magic word and the address.
    let slot = unsafe { Slot::<T1Engine>::find(storage) }.ok()?;
    // SAFETY: a live engine (found), no call runs on it per the caller.
    Some(ObjectState::Text(unsafe { T1Engine::describe(slot) }))
}

/// A copy of the simulated card stored at `storage`, if one lives there.
///
/// # Safety
///
/// As [`slot_state`].
#[cfg(feature = "sim")]
unsafe fn card(storage: *const u8) -> Option<ObjectState> {
    // SAFETY: forwarded contract; `value` checks the magic word and the address.
    let card = unsafe { Slot::<readerkit_card_sim::Card>::value(storage) }.ok()?;
    Some(ObjectState::Card(Box::new(card.clone())))
}
