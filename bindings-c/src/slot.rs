//! The one shape of every object a C caller keeps in its own storage (device,
//! engines, simulated card): a magic word at offset 0, the storage's own address,
//! the value. A never-initialised, released or copied object is recognised and
//! refused with `RK_STATUS_INVALID_DEVICE_STATE`.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::guard::{Region, check_ptr};
use crate::status::{
    RK_STATUS_BUFFER_TOO_SMALL, RK_STATUS_DEVICE_BUSY, RK_STATUS_INVALID_DEVICE_STATE,
    RK_STATUS_SUCCESS, rk_status,
};

/// The magic word of each kind of object, in one place: a storage that holds any of
/// them (with its own address) is in use, whatever kind the caller now wants in it.
pub(crate) mod magic {
    /// A device ("RDKV").
    pub(crate) const DEVICE: u32 = 0x564B_4452;
    /// A T=0 exchange ("RKT0").
    pub(crate) const T0_EXCHANGE: u32 = 0x3054_4B52;
    /// A T=1 engine ("RKE1").
    pub(crate) const T1_ENGINE: u32 = 0x3145_4B52;
    /// A T=1 transaction ("RKT1").
    pub(crate) const T1_TRANSACTION: u32 = 0x3154_4B52;
    /// A simulated card ("RSIM").
    pub(crate) const SIM_CARD: u32 = 0x4D49_5352;
    /// Every kind.
    pub(crate) const ALL: [u32; 5] = [DEVICE, T0_EXCHANGE, T1_ENGINE, T1_TRANSACTION, SIM_CARD];

    /// `true` if `word` is one of [`ALL`] (usable in constants).
    pub(crate) const fn is_listed(word: u32) -> bool {
        let mut i = 0;
        while i < ALL.len() {
            if ALL[i] == word {
                return true;
            }
            i += 1;
        }
        false
    }
}

/// A value that lives in caller storage, told apart from others by its magic word.
pub(crate) trait Stored {
    /// The magic word of an initialised slot holding this type (one of
    /// [`magic::ALL`], never 0).
    const MAGIC: u32;
}

/// An object in caller storage: the magic word, the storage's own address (a copy
/// is refused), the value.
#[repr(C)]
pub(crate) struct Slot<T> {
    magic: AtomicU32,
    this: usize,
    /// The object.
    pub(crate) value: T,
}

impl Slot<()> {
    /// The two fields every slot starts with (`repr(C)`), whatever its value: the
    /// magic word and the address it was stored at.
    ///
    /// # Safety
    ///
    /// `header` is non-null, aligned and readable for a `Slot<()>`, zeroed or
    /// initialised with [`Slot::init`] (of any `T`).
    pub(crate) unsafe fn header(header: *const Slot<()>) -> (u32, usize) {
        // SAFETY: readable per the caller; any bit pattern is a u32.
        let magic = unsafe { &(*header).magic }.load(Ordering::Acquire);
        // SAFETY: as above; any bit pattern is a usize.
        let this = unsafe { (*header).this };
        (magic, this)
    }
}

impl<T: Stored> Slot<T> {
    /// The bytes a slot in `storage` occupies (for overlap checks).
    pub(crate) fn region<S>(storage: *const S) -> Region {
        Region::of(storage.cast::<Slot<T>>())
    }

    /// `storage` as a slot: `RK_STATUS_INVALID_PARAMETER` if it is NULL or
    /// misaligned for its own type or for the slot.
    fn at<S>(storage: *const S) -> Result<*const Slot<T>, rk_status> {
        check_ptr(storage)?;
        let slot = storage.cast::<Slot<T>>();
        check_ptr(slot)?;
        Ok(slot)
    }

    /// `Ok(())` if `storage` (`storage_len` bytes) can hold a slot: non-null and
    /// aligned (else `RK_STATUS_INVALID_PARAMETER`), large enough (else
    /// `RK_STATUS_BUFFER_TOO_SMALL`).
    pub(crate) fn check_room<S>(storage: *const S, storage_len: usize) -> Result<(), rk_status> {
        Slot::<T>::at(storage)?;
        if storage_len < core::mem::size_of::<Slot<T>>() {
            return Err(RK_STATUS_BUFFER_TOO_SMALL);
        }
        Ok(())
    }

    /// The slot in `storage` if it holds an initialised `T`.
    ///
    /// # Safety
    ///
    /// `storage` is NULL or points to readable memory of at least
    /// `size_of::<Slot<T>>()` bytes, zeroed or initialised with [`Slot::init`].
    pub(crate) unsafe fn find<S>(storage: *const S) -> Result<*mut Slot<T>, rk_status> {
        let slot = Slot::<T>::at(storage)?;
        // SAFETY: aligned, non-null and readable for a whole slot of `T`, which
        // begins with the header, zeroed or initialised (per the caller).
        let (found, this) = unsafe { Slot::header(slot.cast()) };
        if found != T::MAGIC || this != storage as usize {
            return Err(RK_STATUS_INVALID_DEVICE_STATE);
        }
        Ok(slot.cast_mut())
    }

    /// The initialised `T` in `storage` (the errors of [`Slot::find`]).
    ///
    /// # Safety
    ///
    /// As [`Slot::find`], and the `T` stays valid for `'a` with only shared views
    /// of it.
    pub(crate) unsafe fn value<'a, S>(storage: *const S) -> Result<&'a T, rk_status> {
        // SAFETY: forwarded contract.
        let slot = unsafe { Slot::<T>::find(storage) }?;
        // SAFETY: initialised (the magic word says so); only shared views of it.
        Ok(unsafe { &(*slot).value })
    }

    /// The initialised `T` in `storage`, exclusively.
    ///
    /// # Safety
    ///
    /// As [`Slot::value`], and no other view of the `T` exists or is made for `'a`.
    pub(crate) unsafe fn value_mut<'a, S>(storage: *mut S) -> Result<&'a mut T, rk_status> {
        // SAFETY: forwarded contract.
        let slot = unsafe { Slot::<T>::find(storage) }?;
        // SAFETY: initialised (the magic word says so); exclusive per the contract.
        Ok(unsafe { &mut (*slot).value })
    }

    /// `Ok(())` if `storage` (`storage_len` bytes) can take a new `T`: it has room
    /// for a slot ([`Slot::check_room`]'s errors, checked first: nothing past
    /// `storage_len` is read) and holds no initialised object of any kind (a `T`,
    /// or a device, engine or card a careless caller reuses the storage of), which
    /// must be released before the storage is reused (else
    /// `RK_STATUS_DEVICE_BUSY`: overwriting it would leave its owner, e.g. a
    /// transaction borrowing an engine, with a dangling object).
    ///
    /// # Safety
    ///
    /// `storage` is NULL or readable for `storage_len` bytes, zeroed or initialised
    /// with [`Slot::init`].
    pub(crate) unsafe fn check_free<S>(
        storage: *const S,
        storage_len: usize,
    ) -> Result<(), rk_status> {
        Slot::<T>::check_room(storage, storage_len)?;
        // SAFETY: non-null, aligned and readable for a whole slot of `T`, which
        // begins with the header (checked above and per the caller).
        let (found, this) = unsafe { Slot::header(storage.cast()) };
        if magic::ALL.contains(&found) && this == storage as usize {
            return Err(RK_STATUS_DEVICE_BUSY);
        }
        Ok(())
    }

    /// Write `value` into `storage` (`storage_len` bytes) and mark it initialised
    /// (the magic word last).
    ///
    /// # Safety
    ///
    /// `storage` is NULL or valid for reads and writes of `storage_len` bytes and not
    /// used by anything else; a previous object in it was released.
    pub(crate) unsafe fn init<S>(
        storage: *mut S,
        storage_len: usize,
        value: T,
    ) -> Result<*mut Slot<T>, rk_status> {
        // A kind missing from `magic::ALL` would not be seen by `check_free`; and the
        // C storage type (`rk_device`, `rk_t0_exchange`, ...) must hold the slot, so
        // that storage of its size never fails `check_room`.
        const {
            assert!(
                magic::is_listed(T::MAGIC),
                "Stored::MAGIC not in magic::ALL"
            );
            assert!(size_of::<Slot<T>>() <= size_of::<S>(), "storage too small");
            assert!(
                align_of::<Slot<T>>() <= align_of::<S>(),
                "storage underaligned"
            );
        };
        Slot::<T>::check_room(storage.cast_const(), storage_len)?;
        let slot = storage.cast::<Slot<T>>();
        // SAFETY: aligned, non-null, large enough (checked) and exclusively ours per
        // the caller.
        unsafe {
            slot.write(Slot {
                magic: AtomicU32::new(0),
                this: storage as usize,
                value,
            })
        };
        // SAFETY: just written.
        unsafe { &(*slot).magic }.store(T::MAGIC, Ordering::Release);
        Ok(slot)
    }

    /// Release the `T` in `storage`: `RK_STATUS_SUCCESS`, or the error of
    /// [`Slot::find`].
    ///
    /// # Safety
    ///
    /// As [`Slot::find`], and nothing else uses the object.
    pub(crate) unsafe fn release_in<S>(storage: *const S) -> rk_status {
        // SAFETY: forwarded contract.
        match unsafe { Slot::<T>::find(storage) } {
            Ok(slot) => {
                // SAFETY: initialised (checked), exclusively ours per the caller.
                unsafe { Slot::release(slot) };
                RK_STATUS_SUCCESS
            }
            Err(e) => e,
        }
    }

    /// Clear the magic word (first: nothing sees a half-dropped object), then drop
    /// the value.
    ///
    /// # Safety
    ///
    /// `slot` came from [`Slot::find`] or [`Slot::init`] and nothing else uses it.
    pub(crate) unsafe fn release(slot: *mut Slot<T>) {
        // SAFETY: valid per the caller.
        unsafe { &(*slot).magic }.store(0, Ordering::Release);
        // SAFETY: valid and exclusively ours, per the caller.
        let value = unsafe { &raw mut (*slot).value };
        // SAFETY: initialised, dropped once (the magic word is gone).
        unsafe { core::ptr::drop_in_place(value) };
    }
}
