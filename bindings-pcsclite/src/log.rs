//! Logging through pcscd's own `log_msg` (resolved at run time, so the library also
//! loads outside pcscd), else stderr.
//!
//! Messages carry untrusted text (a DEVICENAME from a reader configuration, bytes
//! from a peer), so every line is bounded here, whoever calls: at most
//! [`MAX_MESSAGE_BYTES`] bytes of message (a longer one is cut and says how many
//! bytes were left out), control characters escaped so that no input can forge
//! further log lines or end the C string early.

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

/// The most bytes of one logged message (before the `readerkit: ` prefix and the
/// note saying how much was cut).
pub(crate) const MAX_MESSAGE_BYTES: usize = 512;

/// `message` as it is logged: control characters escaped (`\n`, `\u{0}`), cut at a
/// character boundary to at most [`MAX_MESSAGE_BYTES`] bytes, with the number of
/// message bytes left out appended.
pub(crate) fn bounded(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_BYTES));
    for (at, c) in message.char_indices() {
        let before = out.len();
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        if out.len() > MAX_MESSAGE_BYTES {
            out.truncate(before);
            let left_out = message.len() - at;
            out.push_str(&format!(" ... ({left_out} more bytes not logged)"));
            break;
        }
    }
    out
}

/// Log one line at `priority` (bounded: see the module documentation).
pub(crate) fn log(priority: c_int, message: &str) {
    let line = format!("readerkit: {}", bounded(message));
    match (log_msg(), CString::new(line.clone())) {
        (Some(f), Ok(text)) => {
            // SAFETY: the format is a constant "%s" and its one argument a valid
            // NUL-terminated string that outlives the call.
            unsafe { f(priority, c"%s".as_ptr(), text.as_ptr()) }
        }
        _ => eprintln!("{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_message_is_cut_and_says_so() {
        let name = "x".repeat(1 << 20);
        let line = bounded(&format!("unknown DEVICENAME {name:?}"));
        assert!(
            line.len() < MAX_MESSAGE_BYTES + 64,
            "{} bytes logged",
            line.len()
        );
        assert!(line.starts_with("unknown DEVICENAME \"xxx"));
        let cut = 1_048_576 + 21 - MAX_MESSAGE_BYTES;
        assert!(
            line.ends_with(&format!(" ... ({cut} more bytes not logged)")),
            "{line}"
        );
    }

    #[test]
    fn control_characters_cannot_forge_lines_or_end_the_string() {
        let line = bounded("sim:t0\nreaderkit: forged line\0tail\u{1b}[31m");
        assert_eq!(line, "sim:t0\\nreaderkit: forged line\\u{0}tail\\u{1b}[31m");
        assert!(CString::new(line).is_ok());
    }

    #[test]
    fn a_cut_never_splits_a_character_and_short_messages_pass_unchanged() {
        assert_eq!(bounded("Lun 0x0: opened sim:t1"), "Lun 0x0: opened sim:t1");
        let line = bounded(&"é".repeat(MAX_MESSAGE_BYTES));
        assert!(line.starts_with(&"é".repeat(MAX_MESSAGE_BYTES / 2)));
        assert!(line.ends_with(&format!("({} more bytes not logged)", MAX_MESSAGE_BYTES)));
    }
}
