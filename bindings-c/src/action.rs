//! The one shape of the step-by-step engines in C: a T=0 exchange ([`t0`](crate::t0))
//! and a T=1 transaction ([`t1`](crate::t1)) both tell their driver what to do next
//! with an [`rk_action`], written by every call that moves them on (begin, sent,
//! feed / receive, timeout, line error), which also returns the engine's status:
//! the core's `Result<Action, Error>` of each step, as C sees it.
//!
//! ```c
//! st = rk_t0_begin(&ex, sizeof ex, apdu, apdu_len, resp, sizeof resp, NULL, &a);
//! while (st == RK_STATUS_SUCCESS && a.kind != RK_ACTION_DONE) {
//!     if (a.kind == RK_ACTION_SEND) { uart_write(a.data, a.len); st = rk_t0_sent(&ex, &a); }
//!     else { n = uart_read(buf, a.len, a.timeout_us);               /* RK_ACTION_RECEIVE */
//!            st = n ? rk_t0_feed(&ex, buf, n, &a) : rk_t0_timeout(&ex, &a); }
//! }
//! rk_t0_end(&ex);   /* RK_ACTION_DONE: a.len response bytes in resp */
//! ```

use readerkit::{t0, t1};

use crate::status::{RK_STATUS_SUCCESS, rk_status, to_rk};

/// Send `data`/`len` to the card. T=0: then call `rk_t0_sent`. T=1: the block;
/// then read the card's block within BWT × `wtx` and hand it to `rk_t1_receive`
/// (or call `rk_t1_timeout`, `rk_t1_line_error`).
pub const RK_ACTION_SEND: u32 = 0;
/// T=0: receive up to `len` bytes, each within `timeout_us` µs, and hand them to
/// `rk_t0_feed` (or call `rk_t0_timeout`). (A T=1 SEND includes its receive.)
pub const RK_ACTION_RECEIVE: u32 = 1;
/// Done: the first `len` bytes of the response buffer hold the data and SW1 SW2.
pub const RK_ACTION_DONE: u32 = 2;
/// Failed with `status`, which the call also returned; end the exchange or
/// transaction.
pub const RK_ACTION_FAILED: u32 = 3;

/// What the driver of a T=0 exchange or a T=1 transaction does next.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_action {
    /// `RK_ACTION_*`.
    pub kind: u32,
    /// SEND: the bytes (valid until the next call on the exchange or transaction).
    pub data: *const u8,
    /// SEND: byte count; RECEIVE: bytes wanted; DONE: response length; FAILED after
    /// `RK_STATUS_BUFFER_TOO_SMALL` from T=1: the length the response needed.
    pub len: usize,
    /// RECEIVE: the waiting time for each byte, µs.
    pub timeout_us: u32,
    /// T=1 SEND: the BWT multiplier (1, or the card's WTX factor); 0 otherwise.
    pub wtx: u8,
    /// FAILED: the status (also returned by the call); `RK_STATUS_SUCCESS`
    /// otherwise.
    pub status: rk_status,
}

impl rk_action {
    const fn new(kind: u32, len: usize) -> rk_action {
        rk_action {
            kind,
            data: core::ptr::null(),
            len,
            timeout_us: 0,
            wtx: 0,
            status: RK_STATUS_SUCCESS,
        }
    }

    fn send(bytes: &[u8], wtx: u8) -> rk_action {
        rk_action {
            data: bytes.as_ptr(),
            wtx,
            ..rk_action::new(RK_ACTION_SEND, bytes.len())
        }
    }

    fn failed(status: rk_status, needed: usize) -> rk_action {
        rk_action {
            status,
            ..rk_action::new(RK_ACTION_FAILED, needed)
        }
    }
}

impl From<Result<t0::Action<'_>, t0::Error>> for rk_action {
    fn from(step: Result<t0::Action<'_>, t0::Error>) -> rk_action {
        match step {
            Ok(t0::Action::Send(bytes)) => rk_action::send(bytes, 0),
            Ok(t0::Action::Expect { count, timeout_us }) => rk_action {
                timeout_us,
                ..rk_action::new(RK_ACTION_RECEIVE, count)
            },
            Ok(t0::Action::Done { response_len }) => rk_action::new(RK_ACTION_DONE, response_len),
            Err(e) => rk_action::failed(to_rk(e.into()), 0),
        }
    }
}

impl From<Result<t1::Action<'_>, t1::Error>> for rk_action {
    fn from(step: Result<t1::Action<'_>, t1::Error>) -> rk_action {
        match step {
            Ok(t1::Action::Send { block, wait }) => rk_action::send(block, wait.wtx),
            Ok(t1::Action::Done { response_len }) => rk_action::new(RK_ACTION_DONE, response_len),
            Err(e) => {
                let needed = match e {
                    t1::Error::BufferTooSmall { needed } => needed,
                    _ => 0,
                };
                rk_action::failed(to_rk(e.into()), needed)
            }
        }
    }
}

/// Write `next` to `*out`; a failed step is also the status returned.
///
/// # Safety
///
/// `out` is non-null, aligned and valid for a write (checked by the caller), and
/// overlaps nothing the engine holds.
pub(crate) unsafe fn report(next: rk_action, out: *mut rk_action) -> Result<(), rk_status> {
    // SAFETY: per the contract.
    unsafe { out.write(next) };
    match next.kind {
        RK_ACTION_FAILED => Err(next.status),
        _ => Ok(()),
    }
}
