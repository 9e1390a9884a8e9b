//! The C ABI's contracts, exercised through the `extern "C"` functions themselves
//! (no C compiler involved, so that Miri can run them: `tools/miri.sh`).

mod device;
mod engines;
mod guard;
mod keypad;
mod line;
mod log;
mod refused;
mod reuse;
mod sleep;

use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::*;

/// Zeroed storage for a C object (plain words, for which zero is valid), reached
/// through one raw pointer for every call, as C has: a fresh `&mut` per call would
/// invalidate the pointers made before it. Freed when dropped.
struct Zeroed<T>(*mut T);

impl<T> Zeroed<T> {
    fn new() -> Zeroed<T> {
        // SAFETY: every storage type the tests use is plain words or C structs of
        // integers and nullable pointers, for which zero is valid.
        let storage = Box::new(unsafe { MaybeUninit::<T>::zeroed().assume_init() });
        Zeroed(Box::into_raw(storage))
    }

    /// The one pointer every call uses.
    fn ptr(&self) -> *mut T {
        self.0
    }
}

impl<T> Drop for Zeroed<T> {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `new`, freed only here.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// A callback's `ctx` as the test's context `T`.
///
/// # Safety
///
/// `ctx` is the `T` the test handed to the device, alive; shared access only.
unsafe fn ctx<'a, T>(ctx: *mut c_void) -> &'a T {
    // SAFETY: per the contract.
    unsafe { &*ctx.cast::<T>() }
}

/// The typical UART reader's capabilities, from `rk_reader_caps_typical`.
fn typical_caps() -> rk_reader_caps {
    let mut caps = MaybeUninit::<rk_reader_caps>::uninit();
    // SAFETY: valid for a write.
    let st = unsafe { rk_reader_caps_typical(caps.as_mut_ptr()) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: written above.
    unsafe { caps.assume_init() }
}

/// The card states `rk_device_state` answers (`SCARD_*`) that the tests look for.
/// No card.
const ABSENT: u32 = 1;
/// In position, unpowered: where any failed POWER leaves the card (the core's
/// rule for every driver), and a sleep; no ATR taken.
const SWALLOWED: u32 = 3;
/// Powered, the ATR taken, a choice of protocol offered.
const NEGOTIABLE: u32 = 5;
/// Powered, a protocol in force.
const SPECIFIC: u32 = 6;

/// What `get` (`rk_device_state`, `rk_device_asleep` and the like) writes for
/// `dev`, asserted a success; a failure names the caller's line.
///
/// # Safety
///
/// `dev` is an initialised device.
#[track_caller]
unsafe fn read<T: Default>(
    dev: *const rk_device,
    get: unsafe extern "C" fn(*const rk_device, *mut T) -> rk_status,
) -> T {
    let mut value = T::default();
    // SAFETY: per the contract; our out-pointer.
    let st = unsafe { get(dev, &mut value) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    value
}

/// `rk_device_init` of `dev` with `table`, `ctx`, the typical capabilities and no
/// vendor strings.
///
/// # Safety
///
/// `dev` is zeroed device storage nothing else uses; `ctx` outlives the device.
unsafe fn init_device(
    dev: *mut rk_device,
    table: &rk_reader_functions,
    ctx: *mut c_void,
) -> rk_status {
    let caps = typical_caps();
    let dev_len = size_of::<rk_device>();
    // SAFETY: per the contract; the table and caps are ours.
    unsafe { rk_device_init(dev, dev_len, table, ctx, &caps, ptr::null()) }
}

/// A device in heap storage with its context `C`, both reached only through the
/// raw pointers made once here, as a C driver would, so that no reference made by
/// the test invalidates the pointers the library keeps. Drop de-initialises the
/// device (unless the test did, [`HeapDevice::deinit`]), asserts that it
/// succeeded, and frees the context once the device no longer uses it.
struct HeapDevice<C> {
    dev: Zeroed<rk_device>,
    ctx: *mut C,
    /// The test de-initialised the device itself ([`HeapDevice::deinit`]).
    deinited: AtomicBool,
}

impl<C> HeapDevice<C> {
    /// A device initialised ([`init_device`], asserted a success) with `table` and
    /// the context `ctx` makes for the device's address.
    fn init(ctx: impl FnOnce(*mut rk_device) -> C, table: &rk_reader_functions) -> HeapDevice<C> {
        let dev = Zeroed::<rk_device>::new();
        let ctx = Box::into_raw(Box::new(ctx(dev.ptr())));
        // SAFETY: zeroed storage; the context outlives the device (deinit in Drop).
        let st = unsafe { init_device(dev.ptr(), table, ctx.cast()) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        HeapDevice {
            dev,
            ctx,
            deinited: AtomicBool::new(false),
        }
    }

    fn dev(&self) -> *const rk_device {
        self.dev.ptr()
    }

    fn ctx(&self) -> &C {
        // SAFETY: alive until Drop; shared access only.
        unsafe { &*self.ctx }
    }

    /// `rk_device_deinit` now, the context kept until Drop (which then leaves the
    /// storage alone).
    fn deinit(&self) -> rk_status {
        self.deinited.store(true, Ordering::SeqCst);
        // SAFETY: an initialised device nothing else uses now.
        unsafe { rk_device_deinit(self.dev.ptr()) }
    }
}

impl<C> Drop for HeapDevice<C> {
    fn drop(&mut self) {
        let st = if self.deinited.load(Ordering::SeqCst) {
            RK_STATUS_SUCCESS
        } else {
            // SAFETY: an initialised, idle device.
            unsafe { rk_device_deinit(self.dev.ptr()) }
        };
        // SAFETY: made by Box::into_raw in init(), released once, after the device
        // (which used it) is gone; the device's storage is freed with `dev`.
        drop(unsafe { Box::from_raw(self.ctx) });
        if !std::thread::panicking() {
            assert_eq!(st, RK_STATUS_SUCCESS);
        }
    }
}

/// A callback's answer: `bytes` into the library's buffer `buf` (`capacity` bytes,
/// asserted large enough) and their count to `*len`; `RK_STATUS_SUCCESS`.
///
/// # Safety
///
/// `buf` and `len` are the library's, valid for the callback: `buf` for `capacity`
/// bytes, `len` for a write.
unsafe fn answer(bytes: &[u8], buf: *mut u8, capacity: usize, len: *mut usize) -> rk_status {
    assert!(capacity >= bytes.len(), "{capacity} bytes for {bytes:02X?}");
    // SAFETY: valid for `capacity` ≥ `bytes.len()` bytes per the contract.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
    // SAFETY: valid for a write per the contract.
    unsafe { len.write(bytes.len()) };
    RK_STATUS_SUCCESS
}

/// A reader table with no callback at all.
fn no_callbacks() -> rk_reader_functions {
    // SAFETY: every field is an `Option` of a function pointer, for which all
    // zeros is `None`.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

/// A T=1 configuration for a card with IFSC 32 and LRC.
fn t1_config() -> rk_t1_config {
    let mut config = MaybeUninit::<rk_t1_config>::uninit();
    // SAFETY: a local out-pointer.
    let st = unsafe { rk_t1_config_default(config.as_mut_ptr(), 32, RK_EDC_LRC) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: written above.
    unsafe { config.assume_init() }
}

/// A T=1 engine made with `config` in zeroed storage of its own.
fn t1_engine_from(config: &rk_t1_config) -> Zeroed<rk_t1_engine> {
    let engine = Zeroed::<rk_t1_engine>::new();
    // SAFETY: zeroed engine storage; a valid configuration.
    let st = unsafe { rk_t1_init(engine.ptr(), size_of::<rk_t1_engine>(), config) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    engine
}

/// A `usize` out-pointer one byte into `words`: inside the test's buffer, and
/// misaligned.
fn misaligned(words: &mut [usize; 2]) -> *mut usize {
    words.as_mut_ptr().cast::<u8>().wrapping_add(1).cast()
}
