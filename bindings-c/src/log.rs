//! The log callback: levels, decoded protocol traces and each request with its
//! outcome, as bounded text lines to a function the C side provides.
//!
//! ```c
//! static void on_log(void *user, uint32_t level, const char *line) {
//!     fprintf(stderr, "[%u] %s\n", level, line);
//! }
//! rk_log_set(on_log, NULL, RK_LOG_TRACE);
//! ```
//!
//! At [`RK_LOG_DEBUG`] every [`rk_device_control`](crate::device::rk_device_control)
//! request is logged with its outcome (and its time, in the `std` build); at
//! [`RK_LOG_TRACE`] the bytes on the line of a device made by
//! [`rk_device_init_line`](crate::device::rk_device_init_line) too, decoded: the ATR,
//! PPS, T=0 procedure bytes, each T=1 block (`I(N(S)=0, M=1) 254 bytes`). A line is
//! at most [`RK_LOG_LINE_MAX`] bytes with its NUL, whatever the card sent.
//!
//! The callback is process-wide (one per library), called on the thread of the
//! request, possibly from several threads at once; it must not call back into
//! `rk_device_*` functions of the device being logged (an `rk_device_deinit` or
//! `rk_device_set_keypad` of it is refused with `RK_STATUS_DEVICE_BUSY`). Set it
//! before the devices are used.

use core::ffi::{CStr, c_char, c_void};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use readerkit::trace::{C_LINE_MAX, CLines, Level, LineOutput};
use static_assertions::const_assert_eq;

use crate::guard::guard;
use crate::status::*;

/// Nothing is logged (the default).
pub const RK_LOG_OFF: u32 = 0;
/// Failures.
pub const RK_LOG_ERROR: u32 = 1;
/// Session events and failed requests.
pub const RK_LOG_INFO: u32 = 2;
/// Every request with its outcome and time.
pub const RK_LOG_DEBUG: u32 = 3;
/// Every byte exchange on the line, decoded.
pub const RK_LOG_TRACE: u32 = 4;
/// The longest line handed to the callback, in bytes, with its terminating NUL.
pub const RK_LOG_LINE_MAX: usize = 256;
const_assert_eq!(RK_LOG_LINE_MAX, C_LINE_MAX);

/// The log callback: `level` is one of `RK_LOG_ERROR` .. `RK_LOG_TRACE`, `line` a
/// NUL-terminated UTF-8 text valid during the call only; `user` is what was given
/// to [`rk_log_set`]. It runs inside the call that logs (`rk_device_control`
/// and the calls it makes), on a device still in use: an `rk_device_deinit` or
/// `rk_device_set_keypad` of that device from it is refused with
/// `RK_STATUS_DEVICE_BUSY`, as from a callback or hook.
pub type rk_log_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, level: u32, line: *const c_char)>;

static CALLBACK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static USER: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static LEVEL: AtomicU32 = AtomicU32::new(RK_LOG_OFF);

/// Set the log callback and the most it receives (`RK_LOG_OFF` .. `RK_LOG_TRACE`);
/// a NULL callback or `RK_LOG_OFF` turns logging off. An unknown level is
/// `RK_STATUS_INVALID_PARAMETER` and changes nothing.
///
/// # Safety
///
/// `callback` is NULL or a function of the [`rk_log_fn`] signature that stays
/// callable (with `user`) until logging is turned off.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_log_set(
    callback: rk_log_fn,
    user: *mut c_void,
    level: u32,
) -> rk_status {
    guard(|| {
        if level > RK_LOG_TRACE {
            return RK_STATUS_INVALID_PARAMETER;
        }
        // Off first, so that no call sees the new callback with the old user.
        LEVEL.store(RK_LOG_OFF, Ordering::SeqCst);
        let f = callback.map_or(core::ptr::null_mut(), |f| f as *mut ());
        CALLBACK.store(f, Ordering::SeqCst);
        USER.store(user, Ordering::SeqCst);
        LEVEL.store(
            if f.is_null() { RK_LOG_OFF } else { level },
            Ordering::SeqCst,
        );
        RK_STATUS_SUCCESS
    })
}

/// The C code of a level: `RK_LOG_*` are the core's levels in their order
/// (`tests/header.rs` checks it).
fn code(level: Level) -> u32 {
    level as u32
}

/// The log callback as the output of the core's [`CLines`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CLog;

impl LineOutput for CLog {
    fn enabled(&self, level: Level) -> bool {
        code(level) <= LEVEL.load(Ordering::Acquire)
    }

    fn line(&self, level: Level, line: &CStr) {
        let f = CALLBACK.load(Ordering::Acquire);
        if f.is_null() {
            return;
        }
        // SAFETY: `f` was stored from a non-null `rk_log_fn` by rk_log_set, whose
        // contract keeps it callable; a fn pointer round-trips through *mut ().
        let callback: unsafe extern "C" fn(*mut c_void, u32, *const c_char) =
            unsafe { core::mem::transmute::<*mut (), _>(f) };
        let user = USER.load(Ordering::Acquire);
        // SAFETY: the callback's contract (rk_log_set); `line` is a C string (NUL-
        // terminated) that outlives the call.
        unsafe { callback(user, code(level), line.as_ptr()) };
    }

    /// In the `std` build, a clock for each request's time.
    #[cfg(feature = "std")]
    fn now_us(&self) -> Option<u64> {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let origin = ORIGIN.get_or_init(std::time::Instant::now);
        Some(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// The log of a device: the trace sink of a line device and the request log of
/// `rk_device_control`, both to the log callback.
pub(crate) type CLogSink = CLines<CLog>;

/// The one [`CLogSink`].
pub(crate) const C_LOG: CLogSink = CLines::new(CLog);
