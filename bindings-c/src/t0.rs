//! The T=0 engine, step by step, for a C driver that does its own I/O.
//!
//! ```c
//! rk_t0_exchange ex;                       /* zeroed or fresh storage */
//! rk_t0_action a;
//! rk_t0_begin(&ex, sizeof ex, apdu, apdu_len, resp, sizeof resp, NULL);
//! for (;;) {
//!     rk_t0_action_get(&ex, &a);
//!     if (a.kind == RK_T0_SEND)    { uart_write(a.data, a.len); rk_t0_sent(&ex); }
//!     else if (a.kind == RK_T0_RECEIVE) { n = uart_read(buf, a.len, a.timeout_us);
//!                                    n ? rk_t0_feed(&ex, buf, n) : rk_t0_timeout(&ex); }
//!     else break;                  /* RK_T0_COMPLETE: a.len bytes in resp; RK_T0_FAILED: a.status */
//! }
//! rk_t0_end(&ex);
//! ```

use readerkit::t0::{Action, Config, Error, Exchange, Extended, GetResponseClass};
use static_assertions::const_assert;

use crate::guard::{Region, bytes, check_ptr, entry, guard};
use crate::held::Held;
use crate::slot::{Slot, Stored};
use crate::status::*;

/// Size of [`rk_t0_exchange`], bytes.
pub const RK_T0_STORAGE_SIZE: usize = 256;
/// `RK_T0_STORAGE_SIZE / 8`.
pub const RK_T0_STORAGE_WORDS: usize = 32;

/// Action: send `data`/`len`, then call [`rk_t0_sent`].
pub const RK_T0_SEND: u32 = 0;
/// Action: receive up to `len` bytes, each within `timeout_us`; [`rk_t0_feed`] or
/// [`rk_t0_timeout`].
pub const RK_T0_RECEIVE: u32 = 1;
/// Action: done, the first `len` bytes of the response buffer hold data + SW1 SW2.
pub const RK_T0_COMPLETE: u32 = 2;
/// Action: failed with `status`.
pub const RK_T0_FAILED: u32 = 3;

/// Storage for one T=0 exchange.
#[repr(C)]
pub struct rk_t0_exchange {
    /// Opaque.
    pub opaque: [u64; RK_T0_STORAGE_WORDS],
}

/// Settings of a T=0 exchange.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_t0_config {
    /// Waiting time WT, µs.
    pub waiting_time_us: u32,
    /// Most NULL bytes in a row (default 1000).
    pub max_null_bytes: u32,
    /// Most GET RESPONSE / 6C resends per exchange (default 300).
    pub max_rounds: u16,
    /// Non-zero: carry extended APDUs in ENVELOPE commands (default 0: refuse them).
    /// A byte, not a C `bool`, so that any value C stores is valid.
    pub envelope: u8,
    /// GET RESPONSE class: -1 = interindustry (default), -2 = from the command,
    /// 0..=255 = this class byte.
    pub get_response_class: i16,
}

/// What to do next.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_t0_action {
    /// `RK_T0_*`.
    pub kind: u32,
    /// SEND: the bytes (valid until the next call on the exchange).
    pub data: *const u8,
    /// SEND: byte count; RECEIVE: bytes wanted; COMPLETE: response length.
    pub len: usize,
    /// RECEIVE: waiting time, µs.
    pub timeout_us: u32,
    /// FAILED: the status to report.
    pub status: rk_status,
}

/// An open exchange and the caller's buffers it holds until [`rk_t0_end`].
struct T0 {
    exchange: Exchange<'static>,
    held: Held,
}

impl Stored for T0 {
    const MAGIC: u32 = 0x3054_4B52;
}
const_assert!(core::mem::size_of::<Slot<T0>>() <= RK_T0_STORAGE_SIZE);
const_assert!(core::mem::align_of::<Slot<T0>>() <= 8);
const_assert!(RK_T0_STORAGE_WORDS * 8 == RK_T0_STORAGE_SIZE);

fn config(c: &rk_t0_config) -> Result<Config, rk_status> {
    let mut config = Config::new(c.waiting_time_us);
    config.max_null_bytes = c.max_null_bytes;
    config.max_rounds = c.max_rounds;
    config.extended = if c.envelope != 0 {
        Extended::Envelope
    } else {
        Extended::NotSupported
    };
    config.get_response_class = match c.get_response_class {
        -1 => GetResponseClass::Interindustry,
        -2 => GetResponseClass::FromCommand,
        0..=255 => GetResponseClass::Fixed(c.get_response_class as u8),
        _ => return Err(RK_STATUS_INVALID_PARAMETER),
    };
    Ok(config)
}

/// Fill `*config` with the defaults and waiting time `waiting_time_us`.
///
/// # Safety
///
/// `config` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_config_default(
    config: *mut rk_t0_config,
    waiting_time_us: u32,
) -> rk_status {
    entry(|| {
        check_ptr(config.cast_const())?;
        let d = Config::new(waiting_time_us);
        // SAFETY: checked non-null and aligned; writable per the contract.
        unsafe {
            config.write(rk_t0_config {
                waiting_time_us,
                max_null_bytes: d.max_null_bytes,
                max_rounds: d.max_rounds,
                envelope: 0,
                get_response_class: -1,
            })
        };
        Ok(())
    })
}

/// Start exchanging `apdu` in `ex` (`ex_len` bytes of storage), collecting the
/// response into `response` (`response_len` bytes, at least 2). `config` NULL = the
/// defaults with WT = 1 s. The APDU and response buffers must stay valid until
/// [`rk_t0_end`]. Errors: NULL pointers, a malformed APDU or one T=0 cannot carry,
/// an APDU and response buffer that overlap or either of them inside `ex`
/// (`RK_STATUS_INVALID_PARAMETER`), small storage or response
/// (`RK_STATUS_BUFFER_TOO_SMALL`), an exchange still open in `ex`
/// (`RK_STATUS_DEVICE_BUSY`).
///
/// Until [`rk_t0_end`] the exchange owns the response buffer and reads the APDU:
/// the bytes given to [`rk_t0_feed`] and the `*action` of [`rk_t0_action_get`] must
/// not lie in the response buffer or in `ex`, and `*action` not in the APDU either
/// (`RK_STATUS_INVALID_PARAMETER`); read the response only after COMPLETE.
///
/// # Safety
///
/// `ex` is valid storage of `ex_len` bytes (zeroed, or ended with [`rk_t0_end`]);
/// `apdu` and `response` are valid for their lengths until [`rk_t0_end`], and the
/// response buffer is read only after COMPLETE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_begin(
    ex: *mut rk_t0_exchange,
    ex_len: usize,
    apdu: *const u8,
    apdu_len: usize,
    response: *mut u8,
    response_len: usize,
    config: *const rk_t0_config,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        unsafe { Slot::<T0>::check_free(ex) }?;
        let config = if config.is_null() {
            Config::new(1_000_000)
        } else {
            check_ptr(config)?;
            // SAFETY: checked non-null and aligned; readable per the contract.
            self::config(unsafe { &*config })?
        };
        let storage = Slot::<T0>::region(ex);
        // SAFETY: valid (and the response exclusive) until rk_t0_end per the contract.
        let b = unsafe { Held::borrow(apdu, apdu_len, response, response_len, &[storage]) }?;
        let exchange = Exchange::new(b.apdu, b.response, config).map_err(|e| to_rk(e.into()))?;
        let value = T0 {
            exchange,
            held: b.held,
        };
        // SAFETY: forwarded contract.
        unsafe { Slot::init(ex, ex_len, value) }?;
        Ok(())
    })
}

/// Run `f` on the open exchange in `ex`, if the bytes it reads (`read`) and the
/// out-pointer it writes (`written`) overlap neither the storage nor the buffers
/// the exchange holds.
///
/// # Safety
///
/// `ex` is NULL or valid exchange storage used by one thread.
unsafe fn with(
    ex: *mut rk_t0_exchange,
    read: Region,
    written: Region,
    f: impl FnOnce(&mut Exchange<'static>) -> Result<(), rk_status>,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { Slot::<T0>::find(ex) }?;
        // SAFETY: initialised (checked); a plain copy, no reference to the exchange.
        let held = unsafe { (*s).value.held };
        held.check_call(&[Slot::<T0>::region(ex), written], read)?;
        // SAFETY: initialised (checked) and used by this thread only.
        f(unsafe { &mut (*s).value.exchange })
    })
}

/// Hand the open exchange in `ex` an event; its outcome is the next action
/// ([`rk_t0_action_get`]).
///
/// # Safety
///
/// As [`with`].
unsafe fn event(
    ex: *mut rk_t0_exchange,
    f: impl for<'x> FnOnce(&'x mut Exchange<'static>) -> Result<Action<'x>, Error>,
) -> rk_status {
    let f = |x: &mut Exchange<'static>| {
        let _ = f(x);
        Ok(())
    };
    // SAFETY: forwarded contract.
    unsafe { with(ex, Region::NONE, Region::NONE, f) }
}

/// What to do next, into `*action`.
///
/// # Safety
///
/// `ex` is NULL or exchange storage; `action` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_action_get(
    ex: *mut rk_t0_exchange,
    action: *mut rk_t0_action,
) -> rk_status {
    if let Err(e) = check_ptr(action.cast_const()) {
        return e;
    }
    let f = |x: &mut Exchange<'static>| {
        let mut a = rk_t0_action {
            kind: RK_T0_FAILED,
            data: core::ptr::null(),
            len: 0,
            timeout_us: 0,
            status: RK_STATUS_SUCCESS,
        };
        match x.action() {
            Ok(Action::Send(b)) => {
                a.kind = RK_T0_SEND;
                a.data = b.as_ptr();
                a.len = b.len();
            }
            Ok(Action::Expect { count, timeout_us }) => {
                a.kind = RK_T0_RECEIVE;
                a.len = count;
                a.timeout_us = timeout_us;
            }
            Ok(Action::Done { response_len }) => {
                a.kind = RK_T0_COMPLETE;
                a.len = response_len;
            }
            Err(e) => a.status = to_rk(e.into()),
        }
        // SAFETY: checked non-null and aligned; writable per the contract.
        unsafe { action.write(a) };
        Ok(())
    };
    // SAFETY: forwarded contract.
    unsafe { with(ex, Region::NONE, Region::of(action), f) }
}

/// The bytes of a SEND action went out.
///
/// # Safety
///
/// `ex` is NULL or exchange storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_sent(ex: *mut rk_t0_exchange) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { event(ex, Exchange::sent) }
}

/// Bytes received from the card (any split). `data` must not lie in the response
/// buffer the exchange holds or in `ex` (`RK_STATUS_INVALID_PARAMETER`: receive
/// into a buffer of your own).
///
/// # Safety
///
/// `ex` is NULL or exchange storage; `data` is valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_feed(
    ex: *mut rk_t0_exchange,
    data: *const u8,
    len: usize,
) -> rk_status {
    if data.is_null() && len != 0 {
        return RK_STATUS_INVALID_PARAMETER;
    }
    let f = |x: &mut Exchange<'static>| {
        // SAFETY: valid for `len` bytes per the contract, and (checked by `with`)
        // outside everything the exchange holds.
        let _ = x.feed(unsafe { bytes(data, len) }?);
        Ok(())
    };
    // SAFETY: forwarded contract.
    unsafe { with(ex, Region::bytes(data, len), Region::NONE, f) }
}

/// The card stayed silent for the waiting time.
///
/// # Safety
///
/// `ex` is NULL or exchange storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_timeout(ex: *mut rk_t0_exchange) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { event(ex, Exchange::timeout) }
}

/// Close the exchange (at any point); the storage may be reused.
///
/// # Safety
///
/// `ex` is NULL or exchange storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_end(ex: *mut rk_t0_exchange) -> rk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { Slot::<T0>::release_in(ex) })
}
