//! The one shape of the step-by-step engines in C: a T=0 exchange ([`t0`](crate::t0))
//! and a T=1 transaction ([`t1`](crate::t1)) both tell their driver what to do next
//! with an [`rk_action`], written by every call that moves them on (begin, sent,
//! feed / receive, timeout, line error), which also returns the engine's status:
//! the core's `Result<Action, Error>` of each step, as C sees it.
//!
//! One rule for both: a step the engine is not waiting for (out of order, or
//! after DONE or FAILED) is refused with `RK_STATUS_INVALID_DEVICE_STATE`,
//! changes nothing, and writes the pending action again (DONE, or FAILED with the
//! status that ended the engine).
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

use crate::guard::{Region, bytes, check_ptr, entry};
use crate::held::Held;
use crate::status::{RK_STATUS_INVALID_PARAMETER, RK_STATUS_SUCCESS, rk_status, to_rk};

/// Send `data`/`len` to the card. T=0: then call `rk_t0_sent`. T=1: the block;
/// then read the card's block within BWT × `wtx` and hand it to `rk_t1_receive`
/// (or call `rk_t1_timeout`, `rk_t1_line_error`).
pub const RK_ACTION_SEND: u32 = 0;
/// T=0: receive up to `len` bytes, each within `timeout_us` µs, and hand them to
/// `rk_t0_feed` (or call `rk_t0_timeout`). (A T=1 SEND includes its receive.)
pub const RK_ACTION_RECEIVE: u32 = 1;
/// Done: the first `len` bytes of the response buffer hold the data and SW1 SW2.
pub const RK_ACTION_DONE: u32 = 2;
/// Failed with `status`, which the call that failed it also returned; end the
/// exchange or transaction (every further step is refused).
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
    /// FAILED: the status that ended the engine (also returned by the call that
    /// failed it); `RK_STATUS_SUCCESS` otherwise.
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
            Err(e) => rk_action::failed(to_rk(e), 0),
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
                rk_action::failed(to_rk(e), needed)
            }
        }
    }
}

/// What a step did to its engine: moved it on to `next` (which may be FAILED), or
/// refused a call the engine was not waiting for, with nothing changed.
pub(crate) enum Moved {
    /// The next action.
    To(rk_action),
    /// Refused with this status (the core's sequence error, mapped as every error).
    Refused(rk_status),
}

impl From<Result<t0::Action<'_>, t0::Error>> for Moved {
    fn from(step: Result<t0::Action<'_>, t0::Error>) -> Moved {
        match step {
            Err(e @ t0::Error::Sequence) => Moved::Refused(to_rk(e)),
            step => Moved::To(step.into()),
        }
    }
}

impl From<Result<t1::Action<'_>, t1::Error>> for Moved {
    fn from(step: Result<t1::Action<'_>, t1::Error>) -> Moved {
        match step {
            Err(e @ t1::Error::NoTransaction) => Moved::Refused(to_rk(e)),
            step => Moved::To(step.into()),
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

/// An engine a C driver moves on step by step (a T=0 exchange, a T=1
/// transaction), as it lies open in the caller's storage.
pub(crate) trait Stepped {
    /// The caller's storage (`rk_t0_exchange`, `rk_t1_transaction`).
    type Storage;
    /// The core's engine.
    type Engine;

    /// The open engine in `storage`.
    ///
    /// # Safety
    ///
    /// `storage` is NULL or the engine's storage, used by one thread at a time.
    unsafe fn open(storage: *mut Self::Storage) -> Result<Open<Self::Engine>, rk_status>;

    /// The engine's pending action, as it stands.
    fn pending(engine: &Self::Engine) -> rk_action;
}

/// An open engine: the engine, the caller's buffers it holds and the caller's
/// objects it lies in (its storage; a T=1 transaction's engine too), which no
/// step may write or read into.
pub(crate) struct Open<E> {
    /// The engine.
    pub(crate) engine: *mut E,
    /// The buffers it holds.
    pub(crate) held: Held,
    /// The objects it lies in ([`Region::NONE`] for none).
    pub(crate) lies_in: [Region; 2],
}

/// Move the open engine in `storage` on with `f` and write the next action to
/// `*action`, if `*action` and the bytes `f` reads (`read`) overlap neither what the
/// engine lies in nor the buffers it holds (nor each other). A step the engine
/// refused (out of order) writes the unchanged pending action and returns the
/// refusal's status.
///
/// # Safety
///
/// As [`Stepped::open`]; `action` is NULL or valid for a write.
pub(crate) unsafe fn step<S: Stepped>(
    storage: *mut S::Storage,
    action: *mut rk_action,
    read: Region,
    f: impl FnOnce(&mut S::Engine) -> Result<Moved, rk_status>,
) -> rk_status {
    entry(|| {
        check_ptr(action.cast_const())?;
        // SAFETY: forwarded contract.
        let open = unsafe { S::open(storage) }?;
        let [storage, other] = open.lies_in;
        open.held
            .check_call(&[Region::of(action), storage, other], read)?;
        // SAFETY: the open engine, used by this thread only.
        let engine = unsafe { &mut *open.engine };
        let (next, refused) = match f(engine)? {
            Moved::To(next) => (next, None),
            Moved::Refused(status) => (S::pending(engine), Some(status)),
        };
        // SAFETY: checked non-null, aligned and outside what the engine holds.
        let reported = unsafe { report(next, action) };
        // A refusal's status, even when the pending action it wrote is FAILED.
        refused.map_or(reported, Err)
    })
}

/// [`step`] with the card's bytes `data`/`len` (NULL only with length 0), which
/// must not lie in anything the engine holds or lies in (receive into a buffer of
/// your own); `f` gets them once that is checked.
///
/// # Safety
///
/// As [`step`]; `data` is valid for `len` bytes.
pub(crate) unsafe fn step_with_bytes<S: Stepped>(
    storage: *mut S::Storage,
    data: *const u8,
    len: usize,
    action: *mut rk_action,
    f: impl FnOnce(&mut S::Engine, &[u8]) -> Moved,
) -> rk_status {
    if data.is_null() && len != 0 {
        return RK_STATUS_INVALID_PARAMETER;
    }
    let f = |engine: &mut S::Engine| {
        // SAFETY: valid for `len` bytes per the contract, and (checked by `step`)
        // outside everything the engine holds.
        Ok(f(engine, unsafe { bytes(data, len) }?))
    };
    // SAFETY: forwarded contract.
    unsafe { step::<S>(storage, action, Region::bytes(data, len), f) }
}
