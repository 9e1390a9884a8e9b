//! The T=0 engine, step by step, for a C driver that does its own I/O: every call
//! that moves the exchange on writes the next [`rk_action`] and returns the engine's
//! status (the loop is in [`action`](crate::action)).

use readerkit::t0::{Config, Exchange};
use static_assertions::const_assert;

use crate::action::{Open, Stepped, report, rk_action, step, step_with_bytes};
use crate::codes::{class_code, class_of, envelope_code, envelope_of};
use crate::guard::{Region, check_ptr, entry, guard, read_in, write_out};
use crate::held::Held;
use crate::slot::{Slot, Stored};
use crate::status::*;

/// Size of [`rk_t0_exchange`], bytes.
pub const RK_T0_STORAGE_SIZE: usize = 256;
/// The length of [`rk_t0_exchange`]'s opaque array, in 8-byte words.
pub const RK_T0_STORAGE_WORDS: usize = RK_T0_STORAGE_SIZE / 8;

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

/// An open exchange and the caller's buffers it holds until [`rk_t0_end`].
#[derive(Debug)]
pub(crate) struct T0 {
    exchange: Exchange<'static>,
    held: Held,
}

impl Stored for T0 {
    const MAGIC: u32 = crate::slot::magic::T0_EXCHANGE;
}
const_assert!(RK_T0_STORAGE_SIZE % 8 == 0);

impl From<Config> for rk_t0_config {
    fn from(c: Config) -> rk_t0_config {
        rk_t0_config {
            waiting_time_us: c.waiting_time_us,
            max_null_bytes: c.max_null_bytes,
            max_rounds: c.max_rounds,
            envelope: envelope_code(c.extended),
            get_response_class: class_code(c.get_response_class),
        }
    }
}

/// Refused (`RK_STATUS_INVALID_PARAMETER`): a GET RESPONSE class outside -2..=255.
impl TryFrom<rk_t0_config> for Config {
    type Error = rk_status;

    fn try_from(c: rk_t0_config) -> Result<Config, rk_status> {
        Ok(Config {
            waiting_time_us: c.waiting_time_us,
            max_null_bytes: c.max_null_bytes,
            max_rounds: c.max_rounds,
            extended: envelope_of(c.envelope),
            get_response_class: class_of(c.get_response_class)?,
        })
    }
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
    // SAFETY: forwarded contract.
    entry(|| unsafe { write_out(config, Config::new(waiting_time_us).into()) })
}

/// Start exchanging `apdu` in `ex` (`ex_len` bytes of storage), collecting the
/// response into `response` (`response_len` bytes, at least 2); the first action
/// (SEND) goes to `*action`. `config` NULL = the defaults with WT = 1 s. The APDU and
/// response buffers must stay valid until [`rk_t0_end`]. Errors: NULL pointers, a
/// malformed APDU or one T=0 cannot carry, an APDU, response buffer and `*action`
/// that overlap or lie inside `ex` (`RK_STATUS_INVALID_PARAMETER`), small storage or
/// response (`RK_STATUS_BUFFER_TOO_SMALL`), an exchange still open in `ex`
/// (`RK_STATUS_DEVICE_BUSY`).
///
/// Until [`rk_t0_end`] the exchange owns the response buffer and reads the APDU:
/// the bytes given to [`rk_t0_feed`] and every later `*action` must not lie in the
/// response buffer or in `ex`, and `*action` not in the APDU either
/// (`RK_STATUS_INVALID_PARAMETER`); read the response only after DONE.
///
/// # Safety
///
/// `ex` is valid storage of `ex_len` bytes (zeroed, or ended with [`rk_t0_end`]);
/// `apdu` and `response` are valid for their lengths until [`rk_t0_end`], and the
/// response buffer is read only after DONE; `action` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_begin(
    ex: *mut rk_t0_exchange,
    ex_len: usize,
    apdu: *const u8,
    apdu_len: usize,
    response: *mut u8,
    response_len: usize,
    config: *const rk_t0_config,
    action: *mut rk_action,
) -> rk_status {
    entry(|| {
        check_ptr(action.cast_const())?;
        // SAFETY: forwarded contract.
        unsafe { Slot::<T0>::check_free(ex, ex_len) }?;
        let config = if config.is_null() {
            Config::new(1_000_000)
        } else {
            // SAFETY: readable per the contract.
            Config::try_from(unsafe { read_in(config) }?)?
        };
        let written = [Slot::<T0>::region(ex), Region::of(action)];
        // SAFETY: valid (and the response exclusive) until rk_t0_end per the contract.
        let b = unsafe { Held::borrow(apdu, apdu_len, response, response_len, &written) }?;
        let exchange = Exchange::new(b.apdu, b.response, config).map_err(to_rk)?;
        let value = T0 {
            exchange,
            held: b.held,
        };
        // SAFETY: forwarded contract.
        let s = unsafe { Slot::init(ex, ex_len, value) }?;
        // SAFETY: just initialised, ours.
        let first = unsafe { (*s).value.exchange.action() }.into();
        // SAFETY: checked non-null, aligned and outside what the exchange holds.
        unsafe { report(first, action) }
    })
}

impl Stepped for T0 {
    type Storage = rk_t0_exchange;
    type Engine = Exchange<'static>;

    unsafe fn open(ex: *mut rk_t0_exchange) -> Result<Open<Exchange<'static>>, rk_status> {
        // SAFETY: forwarded contract.
        let s = unsafe { Slot::<T0>::find(ex) }?;
        Ok(Open {
            // SAFETY: initialised (checked); a pointer, no reference.
            engine: unsafe { &raw mut (*s).value.exchange },
            // SAFETY: as above; a plain copy.
            held: unsafe { (*s).value.held },
            lies_in: [Slot::<T0>::region(ex), Region::NONE],
        })
    }

    fn pending(exchange: &Exchange<'static>) -> rk_action {
        exchange.action().into()
    }
}

/// The bytes of a SEND action went out; the next action goes to `*action`.
///
/// A step the exchange is not waiting for is refused with
/// `RK_STATUS_INVALID_DEVICE_STATE`: nothing changes, and `*action` gets the
/// pending action again (not a FAILED of its own). That is this call while the
/// exchange waits for the card (nothing was to be sent), [`rk_t0_timeout`] while
/// it has something to send, and every step after DONE or FAILED (`*action` then
/// repeats DONE, or FAILED with the status that ended it).
///
/// # Safety
///
/// `ex` is NULL or exchange storage; `action` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_sent(ex: *mut rk_t0_exchange, action: *mut rk_action) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { step::<T0>(ex, action, Region::NONE, |x| Ok(x.sent().into())) }
}

/// Bytes received from the card (any split); the next action goes to `*action`.
/// `data` must not lie in the response buffer the exchange holds, in `ex` or in
/// `*action` (`RK_STATUS_INVALID_PARAMETER`: receive into a buffer of your own).
/// Bytes while the exchange has something to send are the card's protocol error
/// (FAILED); after DONE or FAILED the call is refused as [`rk_t0_sent`] says.
///
/// # Safety
///
/// `ex` is NULL or exchange storage; `data` is valid for `len` bytes; `action` NULL
/// or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_feed(
    ex: *mut rk_t0_exchange,
    data: *const u8,
    len: usize,
    action: *mut rk_action,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { step_with_bytes::<T0>(ex, data, len, action, |x, b| x.feed(b).into()) }
}

/// The card stayed silent for the waiting time; the next action goes to `*action`
/// (FAILED with `RK_STATUS_IO_TIMEOUT`). Refused while the exchange has something
/// to send and after DONE or FAILED, as [`rk_t0_sent`] says.
///
/// # Safety
///
/// `ex` is NULL or exchange storage; `action` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_timeout(
    ex: *mut rk_t0_exchange,
    action: *mut rk_action,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { step::<T0>(ex, action, Region::NONE, |x| Ok(x.timeout().into())) }
}

/// Whether the card may still be inside the exchange in `ex` if it ends now
/// (`*out_of_step`): `true` after a FAILED the card may not have finished (no
/// answer in time, a byte out of place, NULL bytes without end) and for an
/// exchange abandoned before DONE or FAILED (a failed line call); `false` after
/// DONE and after a failure the card's status word ended (a response too large,
/// too many rounds). T=0 has no way back into step but a reset: a TRANSMIT
/// callback then deactivates the card and says so with
/// [`rk_transmit_report_deactivation`](crate::callbacks::rk_transmit_report_deactivation),
/// as the library's line devices do. Call it before [`rk_t0_end`]; `out_of_step`
/// must not lie in `ex`, the APDU or the response buffer
/// (`RK_STATUS_INVALID_PARAMETER`).
///
/// # Safety
///
/// `ex` is NULL or exchange storage used by this thread only; `out_of_step` is
/// NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t0_out_of_step(
    ex: *const rk_t0_exchange,
    out_of_step: *mut bool,
) -> rk_status {
    entry(|| {
        check_ptr(out_of_step.cast_const())?;
        // SAFETY: forwarded contract.
        let s = unsafe { Slot::<T0>::find(ex) }?;
        // SAFETY: initialised (checked); a plain copy.
        let held = unsafe { (*s).value.held };
        held.check_call(
            &[Region::of(out_of_step), Slot::<T0>::region(ex)],
            Region::NONE,
        )?;
        // SAFETY: initialised, used by this thread only, read only.
        let mid = unsafe { &(*s).value.exchange }.leaves_card_mid_exchange();
        // SAFETY: aligned, outside the exchange and its buffers (checked), writable
        // per the contract.
        unsafe { out_of_step.write(mid) };
        Ok(())
    })
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
