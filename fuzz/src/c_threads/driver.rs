//! The driver of the `c_threads` target: a reader table whose callbacks take
//! their choices from the calling thread's bytes and count themselves in
//! [`Shared::active`]: the core promises that no two of them run at once.

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use readerkit_c::*;

use crate::c_api::callbacks::{ATR_T0, ATR_T1};

/// What the threads of one run share: the device and the counters the oracles
/// read. Handed to every callback as its context.
pub(crate) struct Shared {
    /// The device (set once initialised).
    pub(crate) dev: AtomicPtr<rk_device>,
    /// Serialized callbacks running now (never more than one).
    pub(crate) active: AtomicU32,
    /// Serialized callbacks run in all.
    pub(crate) callbacks: AtomicU32,
    /// Requests answered `RK_STATUS_PENDING`, and `tracking_complete` calls.
    pub(crate) pending: AtomicU32,
    pub(crate) completed: AtomicU32,
}

impl Shared {
    /// No device yet, every count 0.
    pub(crate) fn new() -> Shared {
        Shared {
            dev: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicU32::new(0),
            callbacks: AtomicU32::new(0),
            pending: AtomicU32::new(0),
            completed: AtomicU32::new(0),
        }
    }

    fn dev(&self) -> *const rk_device {
        self.dev.load(Ordering::Acquire)
    }
}

/// One thread's bytes (calls and callbacks alike; zeros past the end) and whether
/// it is inside a callback now.
struct Stream {
    data: Vec<u8>,
    pos: usize,
    in_callback: u32,
}

thread_local! {
    static STREAM: RefCell<Stream> = const {
        RefCell::new(Stream { data: Vec::new(), pos: 0, in_callback: 0 })
    };
}

/// Give this thread its bytes.
pub(crate) fn set_stream(data: Vec<u8>) {
    STREAM.with(|s| {
        *s.borrow_mut() = Stream {
            data,
            pos: 0,
            in_callback: 0,
        }
    });
}

/// The next byte of this thread's stream (0 past the end).
pub(crate) fn byte() -> u8 {
    STREAM.with(|s| {
        let mut s = s.borrow_mut();
        let b = s.data.get(s.pos).copied().unwrap_or(0);
        s.pos += 1;
        b
    })
}

/// Whether this thread's bytes are used up.
pub(crate) fn exhausted() -> bool {
    STREAM.with(|s| {
        let s = s.borrow();
        s.pos >= s.data.len()
    })
}

/// Whether this thread is inside one of the device's callbacks.
pub(crate) fn in_callback() -> bool {
    STREAM.with(|s| s.borrow().in_callback > 0)
}

/// A serialized callback running on this thread: counted in `active` (which
/// must have been 0) until dropped.
struct Serialized<'a> {
    shared: &'a Shared,
}

impl<'a> Serialized<'a> {
    fn enter(ctx: *mut c_void) -> Serialized<'a> {
        // SAFETY: the context is the run's `Shared`, alive until the device is
        // de-initialised.
        let shared = unsafe { &*ctx.cast::<Shared>() };
        let others = shared.active.fetch_add(1, Ordering::SeqCst);
        assert_eq!(others, 0, "a callback started while another one runs");
        shared.callbacks.fetch_add(1, Ordering::Relaxed);
        STREAM.with(|s| s.borrow_mut().in_callback += 1);
        // Stay a little, so that another thread has the time to come in.
        for _ in 0..byte() % 4 {
            std::thread::yield_now();
        }
        Serialized { shared }
    }
}

impl Drop for Serialized<'_> {
    fn drop(&mut self) {
        STREAM.with(|s| s.borrow_mut().in_callback -= 1);
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A callback's status: mostly success, else a failure (never UNSUCCESSFUL, so
/// that status means a panic the FFI guard caught).
fn status() -> rk_status {
    match byte() {
        0..=215 => RK_STATUS_SUCCESS,
        216..=223 => RK_STATUS_IO_TIMEOUT,
        224..=231 => RK_STATUS_NO_MEDIA,
        232..=239 => RK_STATUS_DEVICE_PROTOCOL_ERROR,
        _ => RK_STATUS_NOT_SUPPORTED,
    }
}

/// Sometimes, from inside a callback: report a card event, read the state, or
/// make a request that needs the lock (refused with `RK_STATUS_DEVICE_BUSY`
/// instead of waiting for itself).
fn reenter(shared: &Shared) {
    let dev = shared.dev();
    match byte() {
        0..=223 => {}
        224..=239 => {
            // SAFETY: the live device.
            let st = unsafe { rk_card_event(dev, u32::from(byte() % 3) + 1) };
            assert_eq!(st, RK_STATUS_SUCCESS, "rk_card_event from a callback");
        }
        240..=247 => {
            let mut state = 0u32;
            // SAFETY: the live device, a local out-pointer.
            let st = unsafe { rk_device_state(dev, &mut state) };
            assert_eq!(st, RK_STATUS_SUCCESS, "rk_device_state from a callback");
        }
        _ => {
            let input = RK_POWER_COLD_RESET.to_le_bytes();
            let (mut atr, mut n) = ([0u8; 64], 0usize);
            // SAFETY: the live device; local buffers.
            let st = unsafe {
                rk_device_control(
                    dev,
                    RK_IOCTL_POWER,
                    input.as_ptr(),
                    input.len(),
                    atr.as_mut_ptr(),
                    atr.len(),
                    &mut n,
                )
            };
            assert_eq!(st, RK_STATUS_DEVICE_BUSY, "POWER from inside a callback");
        }
    }
}

/// A callback that answers bytes: the chosen `bytes` (cut to `cap`) into `buf`,
/// their count into `*len`, and a status.
///
/// # Safety
///
/// `ctx` is the run's `Shared`; `buf` is valid for `cap` bytes, `len` for a write.
unsafe fn answer(
    ctx: *mut c_void,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    bytes: impl FnOnce() -> &'static [u8],
) -> rk_status {
    let cb = Serialized::enter(ctx);
    reenter(cb.shared);
    let bytes = bytes();
    let n = bytes.len().min(cap);
    // SAFETY: `buf` holds `cap` >= `n` bytes, `len` is writable (the contract).
    unsafe {
        buf.copy_from_nonoverlapping(bytes.as_ptr(), n);
        len.write(n);
    }
    status()
}

unsafe extern "C" fn power(
    ctx: *mut c_void,
    _action: u32,
    atr: *mut u8,
    cap: usize,
    len: *mut usize,
) -> rk_status {
    // SAFETY: the library's ATR buffer (`cap` bytes) and out-pointer.
    unsafe {
        answer(ctx, atr, cap, len, || {
            if byte() & 1 == 0 { ATR_T0 } else { ATR_T1 }
        })
    }
}

unsafe extern "C" fn transmit(
    ctx: *mut c_void,
    _call: *const rk_transmit_call,
    reply: *mut u8,
    cap: usize,
    len: *mut usize,
) -> rk_status {
    // SAFETY: the library's reply buffer (`cap` bytes) and out-pointer.
    unsafe { answer(ctx, reply, cap, len, || &[0x90, 0x00]) }
}

unsafe extern "C" fn set_protocol(
    ctx: *mut c_void,
    call: *const rk_protocol_call,
    timing: *mut rk_timing,
) -> rk_status {
    let cb = Serialized::enter(ctx);
    reenter(cb.shared);
    // SAFETY: the call and out-pointer the library hands over.
    unsafe { timing.write((*call).timing) };
    status()
}

unsafe extern "C" fn card_tracking(ctx: *mut c_void, _wait: u32) -> rk_status {
    let cb = Serialized::enter(ctx);
    reenter(cb.shared);
    status()
}

unsafe extern "C" fn mechanism(ctx: *mut c_void) -> rk_status {
    let cb = Serialized::enter(ctx);
    reenter(cb.shared);
    status()
}

unsafe extern "C" fn vendor(
    ctx: *mut c_void,
    _code: u32,
    _input: *const u8,
    _input_len: usize,
    _output: *mut u8,
    _cap: usize,
    len: *mut usize,
) -> rk_status {
    let cb = Serialized::enter(ctx);
    reenter(cb.shared);
    // SAFETY: the library's out-pointer.
    unsafe { len.write(0) };
    status()
}

/// Not serialized (called with no library lock held): counted, and checked to
/// complete with a documented status.
unsafe extern "C" fn tracking_complete(ctx: *mut c_void, st: rk_status) {
    // SAFETY: as in `Serialized::enter`.
    let shared = unsafe { &*ctx.cast::<Shared>() };
    assert!(st < RK_STATUS_PENDING, "tracking completed with {st}");
    shared.completed.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn next_key(ctx: *mut c_void, _timeout_ms: u32) -> u32 {
    let _cb = Serialized::enter(ctx);
    if exhausted() {
        return RK_KEY_NONE;
    }
    match byte() {
        0..=191 => RK_KEY_DIGIT_0 + u32::from(byte() % 10),
        192..=223 => RK_KEY_ENTER,
        224..=239 => RK_KEY_CANCEL,
        _ => RK_KEY_NONE,
    }
}

unsafe extern "C" fn prompt(ctx: *mut c_void, _prompt: u32) {
    let _cb = Serialized::enter(ctx);
}

/// The reader table: each optional callback present as `flags` says.
pub(crate) fn table(flags: u8) -> rk_reader_functions {
    let on = |bit: u8| flags & (1 << bit) != 0;
    rk_reader_functions {
        power: Some(power),
        transmit: Some(transmit),
        set_protocol: Some(set_protocol),
        card_tracking: on(0).then_some(card_tracking as _),
        vendor_ioctl: on(1).then_some(vendor as _),
        eject: on(2).then_some(mechanism as _),
        swallow: on(3).then_some(mechanism as _),
        confiscate: on(4).then_some(mechanism as _),
        tracking_complete: Some(tracking_complete),
        events_pending: None,
    }
}

/// The keypad (4 to 8 digits).
pub(crate) fn keypad() -> rk_keypad_ops {
    rk_keypad_ops {
        next_key: Some(next_key),
        prompt: Some(prompt),
        min_pin_digits: 4,
        max_pin_digits: 8,
    }
}
