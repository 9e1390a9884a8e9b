//! Logging through pcscd's own `log_msg` (resolved at run time, so the library also
//! loads outside pcscd), else stderr.

use std::ffi::{CString, c_char, c_int};
use std::sync::OnceLock;

/// `PCSC_LOG_INFO`.
pub(crate) const INFO: c_int = 1;
/// `PCSC_LOG_ERROR`.
pub(crate) const ERROR: c_int = 2;

type LogMsg = unsafe extern "C" fn(c_int, *const c_char, ...);

fn log_msg() -> Option<LogMsg> {
    static LOG: OnceLock<usize> = OnceLock::new();
    let addr = *LOG.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks the
        // symbol up; it is safe to call from any thread.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"log_msg".as_ptr()) as usize }
    });
    if addr == 0 {
        None
    } else {
        // SAFETY: `log_msg` is pcscd's `void log_msg(const int priority, const char
        // *fmt, ...)` (debuglog.h); the address came from dlsym and is non-null.
        Some(unsafe { std::mem::transmute::<usize, LogMsg>(addr) })
    }
}

/// Log one line at `priority`.
pub(crate) fn log(priority: c_int, message: &str) {
    let line = format!("readerkit: {message}");
    match (log_msg(), CString::new(line.clone())) {
        (Some(f), Ok(text)) => {
            // SAFETY: the format is a constant "%s" and its one argument a valid
            // NUL-terminated string that outlives the call.
            unsafe { f(priority, c"%s".as_ptr(), text.as_ptr()) }
        }
        _ => eprintln!("{line}"),
    }
}
