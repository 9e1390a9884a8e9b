//! The T=1 engine, step by step, for a C driver that does its own I/O.
//!
//! An [`rk_t1_engine`] lives across APDUs (sequence numbers, IFSC/IFSD); each APDU is
//! an [`rk_t1_transaction`] that borrows the engine until [`rk_t1_end`]:
//!
//! ```c
//! rk_action a;
//! st = rk_t1_begin(&tx, sizeof tx, &engine, apdu, apdu_len, resp, sizeof resp, &a);
//! while (st == RK_STATUS_SUCCESS && a.kind == RK_ACTION_SEND) {
//!     uart_write(a.data, a.len);
//!     n = uart_read_block(block, sizeof block, bwt_us * a.wtx);
//!     st = n ? rk_t1_receive(&tx, block, n, &a) : rk_t1_timeout(&tx, &a);
//! }
//! rk_t1_end(&tx);       /* RK_ACTION_DONE: a.len response bytes in resp */
//! ```
//!
//! Every call that moves the transaction on writes the next [`rk_action`] and
//! returns the engine's status, as the T=0 calls do ([`action`](crate::action)).

use core::sync::atomic::{AtomicBool, Ordering};

use readerkit::t1::{Action, Config, Engine, Transaction};
use static_assertions::const_assert;

use crate::action::{Open, Stepped, report, rk_action, step, step_with_bytes};
use crate::codes::{edc_code, edc_of};
use crate::guard::{Region, check_disjoint, check_ptr, entry, guard, read_in, write_out};
use crate::held::Held;
use crate::slot::{Slot, Stored};
use crate::status::*;

/// Size of [`rk_t1_engine`], bytes.
pub const RK_T1_ENGINE_STORAGE_SIZE: usize = 384;
/// The length of [`rk_t1_engine`]'s opaque array, in 8-byte words.
pub const RK_T1_ENGINE_STORAGE_WORDS: usize = RK_T1_ENGINE_STORAGE_SIZE / 8;
/// Size of [`rk_t1_transaction`], bytes.
pub const RK_T1_TRANSACTION_STORAGE_SIZE: usize = 64;
/// The length of [`rk_t1_transaction`]'s opaque array, in 8-byte words.
pub const RK_T1_TRANSACTION_STORAGE_WORDS: usize = RK_T1_TRANSACTION_STORAGE_SIZE / 8;

/// Storage for a T=1 engine.
#[repr(C)]
pub struct rk_t1_engine {
    /// Opaque.
    pub opaque: [u64; RK_T1_ENGINE_STORAGE_WORDS],
}

/// Storage for one T=1 transaction (one APDU).
#[repr(C)]
pub struct rk_t1_transaction {
    /// Opaque.
    pub opaque: [u64; RK_T1_TRANSACTION_STORAGE_WORDS],
}

/// T=1 parameters.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_t1_config {
    /// IFSC, 1..=254.
    pub ifsc: u8,
    /// IFSD, 1..=254.
    pub ifsd: u8,
    /// `RK_EDC_LRC` or `RK_EDC_CRC`.
    pub edc: u8,
    /// NAD to send: DAD in b7–b5, SAD in b3–b1; b8 and b4 must be 0 (else the
    /// configuration is refused).
    pub nad: u8,
    /// Non-zero: announce IFSD with an S(IFS request) first. A byte, not a C `bool`,
    /// so that any value C stores is valid.
    pub send_ifs_request: u8,
    /// Retransmissions before resynchronising.
    pub max_retries: u8,
    /// Resynchronisations per APDU.
    pub max_resynchs: u8,
    /// S-block requests from the card per APDU.
    pub max_card_requests: u16,
}

pub(crate) struct T1Engine {
    /// A transaction borrows `engine` (set by [`rk_t1_begin`], cleared when the
    /// transaction is dropped: by [`rk_t1_end`], or by a begin that fails).
    busy: AtomicBool,
    /// The caller's buffers the open transaction holds (valid while `busy`).
    held: Held,
    engine: Engine,
}

#[derive(Debug)]
pub(crate) struct T1Tx {
    /// The engine slot the transaction borrows (its `engine` field only).
    owner: *mut Slot<T1Engine>,
    tx: Transaction<'static>,
}

/// Ending a transaction (released or never stored) gives the engine back, its
/// block buffer wiped first (the blocks sent may hold a PIN): a transaction
/// ended half-way leaves no command bytes in the engine's storage.
impl Drop for T1Tx {
    fn drop(&mut self) {
        self.tx.abandon();
        // SAFETY: the engine slot outlives its transactions per the contract; a
        // reference to the busy flag only (the transaction borrows the `engine`
        // field, and nothing runs on it until this drop is over).
        unsafe { &(*self.owner).value.busy }.store(false, Ordering::Release);
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl T1Engine {
    /// Every field of the engine stored at `storage` as text, without a reference
    /// to the `engine` field while a transaction borrows it (then its state is the
    /// transaction's, and only `busy` and `held` are read, as [`T1Tx`]'s drop does).
    ///
    /// # Safety
    ///
    /// `storage` holds a live `T1Engine` (its magic word and address checked);
    /// no call runs on it or on its transaction.
    pub(crate) unsafe fn describe(storage: *const Slot<T1Engine>) -> std::string::String {
        // SAFETY: live per the caller; a field's place, no reference to the whole
        // value.
        let busy = unsafe { &(*storage).value.busy };
        // SAFETY: as above (a copy of the field).
        let held = unsafe { (*storage).value.held };
        if busy.load(Ordering::Acquire) {
            return std::format!("T1Engine {{ busy: true, held: {held:?} }}");
        }
        // SAFETY: live and not borrowed by a transaction (not busy).
        let engine = unsafe { &(*storage).value.engine };
        std::format!("T1Engine {{ busy: false, held: {held:?}, engine: {engine:?} }}")
    }
}

impl Stored for T1Engine {
    const MAGIC: u32 = crate::slot::magic::T1_ENGINE;
}
impl Stored for T1Tx {
    const MAGIC: u32 = crate::slot::magic::T1_TRANSACTION;
}
const_assert!(RK_T1_ENGINE_STORAGE_SIZE % 8 == 0);
const_assert!(RK_T1_TRANSACTION_STORAGE_SIZE % 8 == 0);

impl From<Config> for rk_t1_config {
    fn from(c: Config) -> rk_t1_config {
        rk_t1_config {
            ifsc: c.ifsc,
            ifsd: c.ifsd,
            edc: edc_code(c.edc),
            nad: c.nad,
            send_ifs_request: u8::from(c.send_ifs_request),
            max_retries: c.max_retries,
            max_resynchs: c.max_resynchs,
            max_card_requests: c.max_card_requests,
        }
    }
}

impl TryFrom<rk_t1_config> for Config {
    type Error = rk_status;

    fn try_from(c: rk_t1_config) -> Result<Config, rk_status> {
        Ok(Config {
            ifsc: c.ifsc,
            ifsd: c.ifsd,
            edc: edc_of(c.edc)?,
            nad: c.nad,
            send_ifs_request: c.send_ifs_request != 0,
            max_retries: c.max_retries,
            max_resynchs: c.max_resynchs,
            max_card_requests: c.max_card_requests,
        })
    }
}

/// Fill `*config` with the usual parameters for a card announcing `ifsc` and `edc`.
///
/// # Safety
///
/// `config` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_config_default(
    config: *mut rk_t1_config,
    ifsc: u8,
    edc: u8,
) -> rk_status {
    entry(|| {
        let c = Config::new(ifsc, edc_of(edc)?);
        // SAFETY: forwarded contract.
        unsafe { write_out(config, c.into()) }
    })
}

/// Initialise a T=1 engine in `engine` (`engine_len` bytes). Errors: NULL pointers,
/// IFSC/IFSD outside 1..=254 or an unknown EDC (`RK_STATUS_INVALID_PARAMETER`), small
/// storage (`RK_STATUS_BUFFER_TOO_SMALL`), an engine already there
/// (`RK_STATUS_DEVICE_BUSY`).
///
/// # Safety
///
/// `engine` is valid storage of `engine_len` bytes (zeroed, or released with
/// [`rk_t1_deinit`]); `config` is valid for reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_init(
    engine: *mut rk_t1_engine,
    engine_len: usize,
    config: *const rk_t1_config,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let config = unsafe { read_in(config) }?;
        // SAFETY: forwarded contract.
        unsafe { Slot::<T1Engine>::check_free(engine, engine_len) }?;
        let config = Config::try_from(config)?;
        let value = T1Engine {
            busy: AtomicBool::new(false),
            held: Held::default(),
            engine: Engine::new(config).map_err(to_rk)?,
        };
        // SAFETY: forwarded contract.
        unsafe { Slot::init(engine, engine_len, value) }?;
        Ok(())
    })
}

/// Run `f` on the engine in `engine` if no transaction borrows it
/// (`RK_STATUS_DEVICE_BUSY` if one does).
///
/// # Safety
///
/// `engine` is NULL or engine storage used by this thread only.
unsafe fn idle_engine(engine: *mut rk_t1_engine, f: impl FnOnce(*mut Slot<T1Engine>)) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        f(unsafe { idle(engine) }?);
        Ok(())
    })
}

/// The engine in `engine` if no transaction borrows it (`RK_STATUS_DEVICE_BUSY`
/// if one does; the errors of [`Slot::find`]).
///
/// # Safety
///
/// As [`idle_engine`].
unsafe fn idle(engine: *const rk_t1_engine) -> Result<*mut Slot<T1Engine>, rk_status> {
    // SAFETY: forwarded contract.
    let s = unsafe { Slot::<T1Engine>::find(engine) }?;
    // SAFETY: initialised; the busy flag is only read through a shared ref.
    if unsafe { &(*s).value.busy }.load(Ordering::Acquire) {
        return Err(RK_STATUS_DEVICE_BUSY);
    }
    Ok(s)
}

/// Release a T=1 engine (`RK_STATUS_DEVICE_BUSY` while a transaction is open).
///
/// # Safety
///
/// `engine` is NULL or engine storage used by this thread only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_deinit(engine: *mut rk_t1_engine) -> rk_status {
    // SAFETY: initialised, not borrowed by a transaction (checked by idle_engine),
    // ours per the contract.
    let release = |s| unsafe { Slot::release(s) };
    // SAFETY: forwarded contract.
    unsafe { idle_engine(engine, release) }
}

/// Forget the sequence numbers and IFS (after a card reset).
///
/// # Safety
///
/// `engine` is NULL or engine storage used by this thread only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_reset(engine: *mut rk_t1_engine) -> rk_status {
    // SAFETY: initialised, not borrowed by a transaction (checked by idle_engine),
    // ours per the contract.
    let reset = |s: *mut Slot<T1Engine>| unsafe { (*s).value.engine.reset() };
    // SAFETY: forwarded contract.
    unsafe { idle_engine(engine, reset) }
}

/// Whether the engine's last exchange failed because resynchronisation failed:
/// `*failed` = `true` after a transaction that ended with the card's errors
/// persisting through every retry and resynchronisation, or with the card silent
/// (also after a begin refused for want of a resynchronisation). ISO/IEC 7816-3
/// 11.6.3.2 rule 6.4 then has the reader deactivate (or warm-reset) the card; a
/// TRANSMIT callback that deactivates it says so with
/// [`rk_transmit_report_deactivation`](crate::callbacks::rk_transmit_report_deactivation).
/// Stays so until the next transaction the engine starts or [`rk_t1_reset`].
/// `RK_STATUS_DEVICE_BUSY` while a transaction is open; `failed` must not lie in
/// the engine (`RK_STATUS_INVALID_PARAMETER`).
///
/// # Safety
///
/// `engine` is NULL or engine storage used by this thread only; `failed` is NULL
/// or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_resynch_failed(
    engine: *const rk_t1_engine,
    failed: *mut bool,
) -> rk_status {
    entry(|| {
        check_ptr(failed.cast_const())?;
        check_disjoint(&[Region::of(failed)], &[Slot::<T1Engine>::region(engine)])?;
        // SAFETY: forwarded contract.
        let s = unsafe { idle(engine) }?;
        // SAFETY: initialised and not borrowed by a transaction (checked), read only.
        let failed_now = unsafe { &(*s).value.engine }.resynch_failed();
        // SAFETY: aligned, outside the engine (checked), writable per the contract.
        unsafe { failed.write(failed_now) };
        Ok(())
    })
}

/// The engine's information field sizes in force, in bytes: `*ifsc` the longest
/// INF it sends (the configuration's until the card's S(IFS request) changes it;
/// back to it after a resynchronisation or [`rk_t1_reset`]), `*ifsd` the longest
/// the card may send (the configuration's once the card acknowledged its
/// announcement, 32 before, ISO/IEC 7816-3:2006 11.4.2). A TRANSMIT callback
/// hands them to the device with
/// [`rk_transmit_report_ifsc`](crate::callbacks::rk_transmit_report_ifsc) /
/// [`rk_transmit_report_ifsd`](crate::callbacks::rk_transmit_report_ifsd), so
/// that `SCARD_ATTR_CURRENT_IFSC` / `CURRENT_IFSD` answer them.
/// `RK_STATUS_DEVICE_BUSY` while a transaction is open; `ifsc` and `ifsd` must
/// not lie in the engine nor be the same byte (`RK_STATUS_INVALID_PARAMETER`,
/// nothing written).
///
/// # Safety
///
/// `engine` is NULL or engine storage used by this thread only; `ifsc` and `ifsd`
/// are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_field_sizes(
    engine: *const rk_t1_engine,
    ifsc: *mut u8,
    ifsd: *mut u8,
) -> rk_status {
    entry(|| {
        check_ptr(ifsc.cast_const())?;
        check_ptr(ifsd.cast_const())?;
        check_disjoint(
            &[Region::of(ifsc), Region::of(ifsd)],
            &[Slot::<T1Engine>::region(engine)],
        )?;
        // SAFETY: forwarded contract.
        let s = unsafe { idle(engine) }?;
        // SAFETY: initialised and not borrowed by a transaction (checked), read only.
        let sizes = unsafe { &(*s).value.engine }.field_sizes();
        // SAFETY: aligned, outside the engine and apart from `ifsd` (checked),
        // writable per the contract.
        unsafe { ifsc.write(sizes.ifsc) };
        // SAFETY: as above, apart from `ifsc`.
        unsafe { ifsd.write(sizes.ifsd) };
        Ok(())
    })
}

/// Start a transaction in `tx` (`tx_len` bytes): the command `apdu`, the response
/// into `response`; the first action goes to `*action`. The engine is borrowed until
/// [`rk_t1_end`]; the buffers must stay valid until then.
///
/// The transaction owns the response buffer and reads the APDU until
/// [`rk_t1_end`]: the APDU, the response buffer, `*action`, `tx` and `engine` must
/// not overlap (two read-only buffers aside), and the blocks given to
/// [`rk_t1_receive`] and every later `*action` must not lie in the response buffer,
/// `tx` or `engine` (`*action` not in the APDU either): receive into a buffer of
/// your own. Any overlap is `RK_STATUS_INVALID_PARAMETER` and changes nothing.
///
/// A transaction the engine refuses (an empty APDU or one longer than 65 544
/// bytes; a resynchronisation owed to the card with `max_resynchs` 0, until
/// [`rk_t1_reset`]) returns its status with a FAILED `*action` and is not stored:
/// there is nothing to end, and the engine is free again. Any other status but
/// `RK_STATUS_SUCCESS` also stores nothing.
///
/// # Safety
///
/// `tx` is valid storage of `tx_len` bytes (zeroed or ended); `engine` is engine
/// storage; the buffers are valid for their lengths until [`rk_t1_end`]; `action` is
/// valid for a write. One thread at a time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_begin(
    tx: *mut rk_t1_transaction,
    tx_len: usize,
    engine: *mut rk_t1_engine,
    apdu: *const u8,
    apdu_len: usize,
    response: *mut u8,
    response_len: usize,
    action: *mut rk_action,
) -> rk_status {
    entry(|| {
        check_ptr(action.cast_const())?;
        // Before the engine is touched: a transaction that cannot be stored must
        // not have begun on it.
        // SAFETY: forwarded contract.
        unsafe { Slot::<T1Tx>::check_free(tx, tx_len) }?;
        // SAFETY: forwarded contract.
        let e = unsafe { Slot::<T1Engine>::find(engine) }?;
        // The transaction keeps exclusive views of the response and the engine; the
        // action is written while it holds them.
        let written = [Region::of(action), Slot::<T1Tx>::region(tx), Region::of(e)];
        // SAFETY: valid (and the response exclusive) until rk_t1_end per the contract.
        let b = unsafe { Held::borrow(apdu, apdu_len, response, response_len, &written) }?;
        // SAFETY: initialised engine slot.
        let busy = unsafe { &(*e).value.busy };
        if busy.swap(true, Ordering::AcqRel) {
            return Err(RK_STATUS_DEVICE_BUSY);
        }
        // SAFETY: the busy flag now guarantees this is the only borrow of the engine
        // until the transaction is dropped ('static stands for that).
        let engine: &'static mut Engine = unsafe { &mut (*e).value.engine };
        let transaction = match engine.transmit(b.apdu, b.response) {
            Ok(transaction) => transaction,
            Err(refusal) => {
                // No transaction: the engine is free again and nothing is stored.
                busy.store(false, Ordering::Release);
                let failed = rk_action::from(Err::<Action<'_>, _>(refusal));
                // SAFETY: checked non-null, aligned and outside the engine and `tx`.
                return unsafe { report(failed, action) };
            }
        };
        let value = T1Tx {
            owner: e,
            tx: transaction,
        };
        // Only once the transaction began (a refused or failed begin leaves the
        // engine's storage as it was).
        // SAFETY: the busy flag makes this the only user of the engine slot's
        // fields; a plain write to one field, no reference to the others (the
        // transaction borrows `engine` only).
        unsafe { (*e).value.held = b.held };
        // SAFETY: forwarded contract; size and alignment were checked above. A
        // transaction not stored is dropped, which gives the engine back.
        let s = unsafe { Slot::init(tx, tx_len, value) }?;
        // SAFETY: just initialised, ours.
        let first = unsafe { (*s).value.tx.action() }.into();
        // SAFETY: checked non-null, aligned and outside what the transaction holds.
        unsafe { report(first, action) }
    })
}

impl Stepped for T1Tx {
    type Storage = rk_t1_transaction;
    type Engine = Transaction<'static>;

    unsafe fn open(tx: *mut rk_t1_transaction) -> Result<Open<Transaction<'static>>, rk_status> {
        // SAFETY: forwarded contract.
        let s = unsafe { Slot::<T1Tx>::find(tx) }?;
        // SAFETY: initialised; a copy of the pointer.
        let owner = unsafe { (*s).value.owner };
        Ok(Open {
            // SAFETY: initialised (checked); a pointer, no reference.
            engine: unsafe { &raw mut (*s).value.tx },
            // SAFETY: the engine slot outlives its transactions per the contract; a
            // copy of the `held` field, which the transaction's borrow (of `engine`)
            // excludes.
            held: unsafe { (*owner).value.held },
            lies_in: [Region::of(s.cast_const()), Region::of(owner.cast_const())],
        })
    }

    fn pending(tx: &Transaction<'static>) -> rk_action {
        tx.action().into()
    }
}

/// The card's block (`len` bytes) arrived; the next action goes to `*action`. The
/// block must not lie in the response buffer, `tx`, the engine or `*action`
/// (`RK_STATUS_INVALID_PARAMETER`; see [`rk_t1_begin`]).
///
/// As with the T=0 steps, a step after the transaction ended (DONE or FAILED) is
/// refused with `RK_STATUS_INVALID_DEVICE_STATE`: this, [`rk_t1_timeout`] and
/// [`rk_t1_line_error`] change nothing then, and `*action` gets the pending
/// action again (DONE, or FAILED with the status that ended it).
///
/// # Safety
///
/// `tx` is transaction storage; `block` valid for `len` bytes; `action` valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_receive(
    tx: *mut rk_t1_transaction,
    block: *const u8,
    len: usize,
    action: *mut rk_action,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { step_with_bytes::<T1Tx>(tx, block, len, action, |t, b| t.receive(b).into()) }
}

/// No block came within the waiting time. Refused after the end, as
/// [`rk_t1_receive`] says.
///
/// # Safety
///
/// As [`rk_t1_receive`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_timeout(
    tx: *mut rk_t1_transaction,
    action: *mut rk_action,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { step::<T1Tx>(tx, action, Region::NONE, |t| Ok(t.timeout().into())) }
}

/// A block came with a parity error or broken framing. Refused after the end, as
/// [`rk_t1_receive`] says.
///
/// # Safety
///
/// As [`rk_t1_receive`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_line_error(
    tx: *mut rk_t1_transaction,
    action: *mut rk_action,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { step::<T1Tx>(tx, action, Region::NONE, |t| Ok(t.line_error().into())) }
}

/// End the transaction (finished or not) and give the engine back.
///
/// # Safety
///
/// `tx` is NULL or transaction storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_t1_end(tx: *mut rk_t1_transaction) -> rk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { Slot::<T1Tx>::release_in(tx) })
}
