//! The device: its storage, initialisation in caller storage over a callback table
//! or a C line, `rk_device_control`, card events and tracking.

use core::ffi::c_void;
use core::fmt;
use core::mem::{align_of, size_of};
use core::sync::atomic::{AtomicUsize, Ordering};

use readerkit::caps::ReaderCapabilities;
use readerkit::device::RequestLog;
use readerkit::event::CardEvent;
use readerkit::line::LineReader;
use readerkit::platform::{ContextId, Platform};
use readerkit::trace::{Level, TracedLine};
use readerkit::{Device, Outcome, Status};
use static_assertions::const_assert;

use crate::callbacks::{functions, rk_reader_functions};
use crate::caps::{rk_reader_caps, rk_vendor_attrs, vendor_attributes};
use crate::guard::{
    Region, bytes, bytes_mut, check_disjoint, check_opt_ptr, check_ptr, entry, read_in, write_opt,
};
use crate::line::{CLine, rk_line_ops};
use crate::log::{C_LOG, CLogSink};
use crate::slot::{Slot, Stored};
use crate::status::*;

// The entry points the docs below name.
#[cfg(doc)]
use crate::sleep::{rk_device_sleep_with, rk_device_wake_with};

/// Size of [`rk_device`] in bytes: the storage a C driver provides per reader
/// (with room for the line device's trace decoder, which holds one T=1 block).
pub const RK_DEVICE_STORAGE_SIZE: usize = 2048;
/// Alignment [`rk_device`] storage needs, in bytes.
pub const RK_DEVICE_STORAGE_ALIGN: usize = 8;
/// The length of [`rk_device`]'s opaque array, in 8-byte words.
pub const RK_DEVICE_STORAGE_WORDS: usize = RK_DEVICE_STORAGE_SIZE / 8;

/// Storage for one device: `RK_DEVICE_STORAGE_SIZE` bytes aligned to
/// `RK_DEVICE_STORAGE_ALIGN`. Declare one (static, on the stack, in a struct) and
/// hand it to [`rk_device_init`]; never copy it once initialised.
#[repr(C)]
pub struct rk_device {
    /// Opaque.
    pub opaque: [u64; RK_DEVICE_STORAGE_WORDS],
}

/// The line reader of a device, over the C driver's line (traced to the log).
pub(crate) type CLineReader = LineReader<TracedLine<CLine, CLogSink>>;

/// The C driver's table and context, and the line reader of a device made with
/// [`rk_device_init_line`] (a table device has one over [`CLine::absent`], never
/// called): the core's driver context `D`.
#[derive(Debug)]
pub(crate) struct CDriver {
    pub(crate) table: rk_reader_functions,
    pub(crate) ctx: *mut c_void,
    line: CLineReader,
    /// The keypad [`rk_device_set_keypad`](crate::rk_device_set_keypad) gave.
    pub(crate) keypad: Option<crate::keypad::rk_keypad_ops>,
}

/// The platform: the locks and the tracking completion through the C table.
#[derive(Debug)]
pub(crate) struct CPlatform {
    tracking_complete: Option<unsafe extern "C" fn(*mut c_void, rk_status)>,
    events_pending: Option<unsafe extern "C" fn(*mut c_void)>,
    ctx: *mut c_void,
    /// How many of the driver's hooks (`tracking_complete`, `events_pending`), and
    /// log callbacks for a request's line ([`DeviceLog`]), run now, on any
    /// context: the library is below each of them with the device borrowed, so
    /// the calls that need the device to themselves are refused while one runs
    /// ([`borrowed_below`]).
    hooks_running: AtomicUsize,
}

impl CPlatform {
    /// Call a driver's hook, counted in `hooks_running` while it runs.
    fn hook(&self, call: impl FnOnce()) {
        let _running = HookMark::enter(&self.hooks_running);
        call();
    }

    /// `true` while one of the driver's hooks, or the log callback for a request's
    /// line, runs (a snapshot).
    fn hook_running(&self) -> bool {
        self.hooks_running.load(Ordering::Acquire) != 0
    }
}

/// Counts one running hook for as long as it lives.
struct HookMark<'a>(&'a AtomicUsize);

impl<'a> HookMark<'a> {
    fn enter(count: &'a AtomicUsize) -> HookMark<'a> {
        count.fetch_add(1, Ordering::AcqRel);
        HookMark(count)
    }
}

impl Drop for HookMark<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(feature = "std")]
type SerialLock<T> = std::sync::Mutex<T>;
#[cfg(not(feature = "std"))]
type SerialLock<T> = spin::Mutex<T>;

impl Platform for CPlatform {
    type Serial<T> = SerialLock<T>;
    type Short<T> = spin::Mutex<T>;

    fn complete_tracking(&self, status: Status) {
        if let Some(f) = self.tracking_complete {
            self.hook(|| {
                // SAFETY: the C driver supplied `f` for this context in rk_device_init.
                unsafe { f(self.ctx, to_rk(status)) }
            });
        }
    }

    fn events_pending(&self) {
        if let Some(f) = self.events_pending {
            self.hook(|| {
                // SAFETY: the C driver supplied `f` for this context in rk_device_init.
                unsafe { f(self.ctx) }
            });
        }
    }

    /// Hosted: the calling thread. Bare metal: one context, so a call made while a
    /// callback runs (from the callback or an interrupt handler) is refused instead
    /// of spinning on the lock forever.
    fn current_context(&self) -> Option<ContextId> {
        #[cfg(feature = "std")]
        return ContextId::current_thread();
        #[cfg(not(feature = "std"))]
        return Some(ContextId::SINGLE);
    }
}

pub(crate) type CDevice = Device<CPlatform, CDriver>;

impl Stored for CDevice {
    const MAGIC: u32 = crate::slot::magic::DEVICE;
}

const_assert!(align_of::<Slot<CDevice>>() <= RK_DEVICE_STORAGE_ALIGN);
const_assert!(size_of::<rk_device>() == RK_DEVICE_STORAGE_SIZE);
const_assert!(RK_DEVICE_STORAGE_SIZE % 8 == 0);

/// Run `f` on the initialised device in `dev` (under the FFI guard).
///
/// # Safety
///
/// `dev` is NULL or device storage (zeroed or initialised by `rk_device_init`).
pub(crate) unsafe fn on_device(dev: *const rk_device, f: impl FnOnce(&CDevice)) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe {
        try_on_device(dev, |d| {
            f(d);
            Ok(())
        })
    }
}

/// Run `f` on the initialised device in `dev` (under the FFI guard); its
/// refusal is the call's status.
///
/// # Safety
///
/// As [`on_device`].
pub(crate) unsafe fn try_on_device(
    dev: *const rk_device,
    f: impl FnOnce(&CDevice) -> Result<(), rk_status>,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        f(unsafe { Slot::<CDevice>::value(dev) }?)
    })
}

/// Write `f(device)` through `out`, checked by `check` (non-null or optional,
/// aligned) and refused if it lies in the device storage.
///
/// # Safety
///
/// `dev` is NULL or device storage; `out` is NULL or valid for a write.
pub(crate) unsafe fn answer<T>(
    dev: *const rk_device,
    out: *mut T,
    check: fn(*const T) -> Result<(), rk_status>,
    f: impl FnOnce(&CDevice) -> T,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { try_answer(dev, out, check, |d| Ok(f(d))) }
}

/// As [`answer`], for an `f` that may refuse: its error is returned and nothing
/// is written.
///
/// # Safety
///
/// As [`answer`].
pub(crate) unsafe fn try_answer<T>(
    dev: *const rk_device,
    out: *mut T,
    check: fn(*const T) -> Result<(), rk_status>,
    f: impl FnOnce(&CDevice) -> Result<T, rk_status>,
) -> rk_status {
    entry(|| {
        check(out.cast_const())?;
        check_disjoint(&[Region::of(out), Slot::<CDevice>::region(dev)], &[])?;
        // SAFETY: forwarded contract.
        let value = f(unsafe { Slot::<CDevice>::value(dev) }?)?;
        // SAFETY: NULL, or checked aligned and valid for a write per the contract.
        unsafe { write_opt(out, value) };
        Ok(())
    })
}

/// The status of `outcome`, its byte count written to `*bytes_written` (0 while a
/// request pends).
fn complete(outcome: Outcome, bytes_written: *mut usize) -> rk_status {
    let (status, n) = match outcome {
        Outcome::Complete {
            status,
            bytes_written,
        } => (to_rk(status), bytes_written),
        Outcome::Pending => (RK_STATUS_PENDING, 0),
    };
    // SAFETY: NULL or checked aligned, and valid for a write, by the caller.
    unsafe { write_opt(bytes_written, n) };
    status
}

/// The core's line-reader callbacks reach the line reader through this.
impl AsMut<CLineReader> for CDriver {
    fn as_mut(&mut self) -> &mut CLineReader {
        &mut self.line
    }
}

/// Initialise a device in `storage` (`storage_len` bytes, at least
/// `RK_DEVICE_STORAGE_SIZE`, aligned to `RK_DEVICE_STORAGE_ALIGN`; zero it first if it
/// may hold garbage). The table, capabilities and vendor strings are copied; `ctx` is
/// handed to every callback. The device starts with no card: report one already in
/// the reader with [`rk_card_event`] (`RK_CARD_INSERTED`).
///
/// Errors: `RK_STATUS_INVALID_PARAMETER` (a NULL or misaligned pointer,
/// `card_tracking` without `tracking_complete`, a vendor string too long, `max_ifsd`
/// 0 or 255, no protocol), `RK_STATUS_BUFFER_TOO_SMALL` (storage),
/// `RK_STATUS_DEVICE_BUSY` (already initialised: de-initialise it first).
///
/// # Safety
///
/// `storage` is valid for reads and writes of `storage_len` bytes and not used by
/// anything else until [`rk_device_deinit`]; `table`, `caps` and `vendor` (or NULL)
/// are valid for reads; vendor strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_init(
    storage: *mut rk_device,
    storage_len: usize,
    table: *const rk_reader_functions,
    ctx: *mut c_void,
    caps: *const rk_reader_caps,
    vendor: *const rk_vendor_attrs,
) -> rk_status {
    // SAFETY: forwarded contract.
    entry(|| unsafe { init(storage, storage_len, table, None, ctx, caps, vendor) })
}

/// Initialise a device in `storage` whose power, SET_PROTOCOL (with the PPS
/// exchange) and TRANSMIT (T=0 and T=1) the library runs over the C driver's line
/// `line` (see [`rk_line_ops`]): a driver for a UART reader writes only the line.
/// `table` (NULL = none) adds the driver's other callbacks (vendor IOCTL, eject,
/// swallow, confiscate, `tracking_complete`, `events_pending`, and a
/// `card_tracking` that arms a card-detect interrupt); its `power`, `transmit` and
/// `set_protocol` must be NULL. With `tracking_complete` and no `card_tracking`,
/// IS_PRESENT / IS_ABSENT pend until [`rk_card_event`] reports the card.
/// `ctx` goes to the line's and the table's callbacks. Otherwise as
/// [`rk_device_init`]; more errors: `RK_STATUS_INVALID_PARAMETER` for a NULL or
/// misaligned `line`, a required line callback that is NULL, or a table with
/// `power`, `transmit` or `set_protocol`.
///
/// # Safety
///
/// As [`rk_device_init`]; `line` is valid for reads, `table` NULL or valid for
/// reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_init_line(
    storage: *mut rk_device,
    storage_len: usize,
    line: *const rk_line_ops,
    table: *const rk_reader_functions,
    ctx: *mut c_void,
    caps: *const rk_reader_caps,
    vendor: *const rk_vendor_attrs,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let line = unsafe { read_in(line) }?;
        // SAFETY: forwarded contract.
        unsafe { init(storage, storage_len, table, Some(line), ctx, caps, vendor) }
    })
}

/// A table device (`line` `None`: `table` required) or a line device (`table`
/// optional).
///
/// # Safety
///
/// As [`rk_device_init`] and [`rk_device_init_line`].
unsafe fn init(
    storage: *mut rk_device,
    storage_len: usize,
    table: *const rk_reader_functions,
    line: Option<rk_line_ops>,
    ctx: *mut c_void,
    caps: *const rk_reader_caps,
    vendor: *const rk_vendor_attrs,
) -> Result<(), rk_status> {
    check_ptr(storage.cast_const())?;
    let over_line = line.is_some();
    let table = if over_line && table.is_null() {
        rk_reader_functions::default()
    } else {
        // SAFETY: readable per the contract.
        unsafe { read_in(table) }?
    };
    // SAFETY: readable per the contract.
    let caps = ReaderCapabilities::from(unsafe { read_in(caps) }?);
    // SAFETY: readable for `storage_len` bytes (see the contract); an initialised
    // device must not be overwritten.
    unsafe { Slot::<CDevice>::check_free(storage, storage_len) }?;
    let line = match line {
        Some(ops) => {
            if table.power.is_some() || table.transmit.is_some() || table.set_protocol.is_some() {
                return Err(RK_STATUS_INVALID_PARAMETER);
            }
            CLine::new(ops, ctx).ok_or(RK_STATUS_INVALID_PARAMETER)?
        }
        None => CLine::absent(),
    };
    if table.card_tracking.is_some() && table.tracking_complete.is_none() {
        return Err(RK_STATUS_INVALID_PARAMETER);
    }
    caps.check().map_err(to_rk)?;
    // SAFETY: NULL or readable, its strings NUL-terminated, per the contract.
    let vendor = unsafe { vendor_attributes(vendor) }?;
    let platform = CPlatform {
        tracking_complete: table.tracking_complete,
        events_pending: table.events_pending,
        ctx,
        hooks_running: AtomicUsize::new(0),
    };
    let device = Device::new(
        platform,
        functions(&table, over_line),
        CDriver {
            table,
            ctx,
            line: LineReader::new(TracedLine::new(line, C_LOG)),
            keypad: None,
        },
        caps,
        vendor,
    );
    // SAFETY: valid, large enough and ours per the contract (checked again inside).
    unsafe { Slot::init(storage, storage_len, device) }?;
    Ok(())
}

/// `true` while a library call may hold a view of `device` below the caller, on
/// any thread: a callback or a driver's step runs (the serialization lock is
/// held), or one of the driver's hooks (`tracking_complete`, `events_pending`)
/// runs. The calls that need the device to themselves ([`rk_device_deinit`],
/// [`rk_device_set_keypad`](crate::rk_device_set_keypad)) are refused then.
///
/// `callback_running` covers the caller's own callback too (its context is the
/// lock's recorded holder), and the log callback for a line's trace (under that
/// lock too); the log callback for a request's line is counted as a hook
/// ([`DeviceLog`]). A transition (`rk_device_sleep_with` /
/// `rk_device_wake_with`) below the caller needs no check of its own: a C
/// driver's code runs during one only as a callback or a step (under the
/// serialization lock), a hook (counted), or the log callback (only from a
/// line's trace, under that lock too).
pub(crate) fn borrowed_below(device: &CDevice) -> bool {
    device.callback_running() || device.platform().hook_running()
}

/// De-initialise a device: a pending tracking request is completed with
/// `RK_STATUS_CANCELLED`, then the storage is released (the magic word cleared). The
/// device must be idle: no other call on it running or to come. Called from inside
/// one of its callbacks, while a callback runs, from a hook called during
/// [`rk_device_sleep_with`] / [`rk_device_wake_with`] on the same thread, or while
/// one of the driver's hooks (`tracking_complete`, `events_pending`) or the log
/// callback for a call on the device runs, on any thread (the library call below
/// the hook goes on with the device after it), it returns `RK_STATUS_DEVICE_BUSY`
/// and changes nothing.
///
/// # Safety
///
/// `dev` is NULL or valid storage (see [`rk_device_init`]) that no other thread uses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_deinit(dev: *mut rk_device) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let slot = unsafe { Slot::<CDevice>::find(dev) }?;
        // SAFETY: initialised (checked); a shared view, ended before the release.
        let device = unsafe { &(*slot).value };
        // Dropping the device under a running callback would free the lock it holds
        // and the state it is about to commit; so would dropping it under any hook
        // (the library below it still borrows the device: a resume goes on with it
        // after `events_pending`).
        if borrowed_below(device) {
            return Err(RK_STATUS_DEVICE_BUSY);
        }
        device.process_events();
        let _ = device.cancel_tracking();
        // SAFETY: initialised (checked), idle and exclusively ours per the contract.
        unsafe { Slot::release(slot) };
        Ok(())
    })
}

/// Handle one request: `code` is the IOCTL (`IOCTL_SMARTCARD_*` or a vendor code),
/// `input`/`input_len` its input, `output`/`output_len` the output buffer (NULL only
/// with length 0). Returns the status; `*bytes_written` (may be NULL) gets the number
/// of output bytes written. `RK_STATUS_PENDING`: an IS_PRESENT / IS_ABSENT request
/// waits; `tracking_complete` will be called once.
///
/// The input and output buffers must not overlap (a driver ported from a Windows
/// METHOD_BUFFERED handler, where they are one buffer, copies the input first), and
/// neither they nor `bytes_written` may lie inside the device storage;
/// `bytes_written` must be aligned for `size_t` and must not point into either
/// buffer. Any of these gets `RK_STATUS_INVALID_PARAMETER` and nothing happens
/// (`*bytes_written` is left alone).
///
/// If the card was removed, replaced or faulted while the callback of a request
/// that works on the card ran (POWER, SET_PROTOCOL, TRANSMIT, EJECT, SWALLOW,
/// CONFISCATE), one rule holds for all of them: nothing is recorded for that card
/// (the state is what the events made it); a callback that succeeded keeps its
/// answer (the card answered before it left); a callback that failed gets
/// `RK_STATUS_NO_MEDIA` (no card in the reader when it returns) or
/// `RK_STATUS_INVALID_DEVICE_STATE` (a card is) instead of its own status. From
/// inside one of the device's callbacks only the read-only requests are answered;
/// other well-formed ones return `RK_STATUS_DEVICE_BUSY` (see
/// [`rk_reader_functions`]).
///
/// # Safety
///
/// `dev` is NULL or device storage; the buffers are valid for their lengths, and the
/// output buffer is not accessed elsewhere during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_control(
    dev: *const rk_device,
    code: u32,
    input: *const u8,
    input_len: usize,
    output: *mut u8,
    output_len: usize,
    bytes_written: *mut usize,
) -> rk_status {
    entry(|| {
        // A shared and an exclusive view of the same bytes would be undefined
        // behaviour, and a count written into the input would change the request:
        // refuse overlaps before making any view or writing anything.
        check_opt_ptr(bytes_written.cast_const())?;
        check_disjoint(
            &[
                Region::bytes(output, output_len),
                Region::of(bytes_written),
                Slot::<CDevice>::region(dev),
            ],
            &[Region::bytes(input, input_len)],
        )?;
        // SAFETY: forwarded contract.
        let device = unsafe { Slot::<CDevice>::value(dev) }?;
        // SAFETY: valid for `input_len` bytes per the contract.
        let input = unsafe { bytes(input, input_len) }?;
        // SAFETY: valid and exclusive for `output_len` bytes per the contract.
        let output = unsafe { bytes_mut(output, output_len) }?;
        // Only once nothing can be refused (a refused call writes nothing); before
        // the request runs, so that a request cut short still reports 0 bytes.
        // SAFETY: NULL or aligned (checked) and valid for a write per the contract.
        unsafe { write_opt(bytes_written, 0) };
        let outcome = device.control_logged(code, input, output, &DeviceLog(device.platform()));
        Ok(complete(outcome, bytes_written))
    })
}

/// The request log of [`rk_device_control`] on one device: [`C_LOG`], each line's
/// callback counted as one of the device's hooks while it runs (the request goes
/// on with the device after it), so that a deinit from there is refused as from a
/// hook ([`borrowed_below`]).
struct DeviceLog<'a>(&'a CPlatform);

impl RequestLog for DeviceLog<'_> {
    fn enabled(&self, level: Level) -> bool {
        C_LOG.enabled(level)
    }

    fn write(&self, level: Level, line: &dyn fmt::Display) {
        self.0.hook(|| C_LOG.write(level, line));
    }

    fn now_us(&self) -> Option<u64> {
        C_LOG.now_us()
    }
}

/// Report a card event: `RK_CARD_INSERTED`, `RK_CARD_REMOVED` or `RK_CARD_FAULT`
/// (any other value is `RK_STATUS_INVALID_PARAMETER`). Never blocks, takes no
/// lock: safe in an interrupt handler and from any thread.
///
/// # Safety
///
/// `dev` is NULL or device storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_card_event(dev: *const rk_device, event: u32) -> rk_status {
    let Some(event) = u8::try_from(event).ok().and_then(CardEvent::from_u8) else {
        return RK_STATUS_INVALID_PARAMETER;
    };
    // SAFETY: forwarded contract.
    unsafe { on_device(dev, |d| d.report(event)) }
}

/// Apply queued card events now (state, ATR, completion of a pending tracking
/// request through `tracking_complete`). Takes the short lock: call it from a
/// thread or a deferred handler, not from an interrupt handler.
///
/// # Safety
///
/// `dev` is NULL or device storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_process_events(dev: *const rk_device) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { on_device(dev, CDevice::process_events) }
}

/// Cancel the pending tracking request; `*was_pending` (may be NULL; not inside the
/// device storage) says whether one was pending (it is then completed with
/// `RK_STATUS_CANCELLED` through `tracking_complete`).
///
/// # Safety
///
/// `dev` is NULL or device storage; `was_pending` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_cancel_tracking(
    dev: *const rk_device,
    was_pending: *mut bool,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { answer(dev, was_pending, check_opt_ptr, CDevice::cancel_tracking) }
}

/// The card state now (`SCARD_*` state of the Windows numbering: 0 unknown, 1 absent,
/// 2 present, 3 swallowed, 4 powered, 5 negotiable, 6 specific) into `*state`
/// (aligned, not inside the device storage).
///
/// # Safety
///
/// `dev` is NULL or device storage; `state` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_state(dev: *const rk_device, state: *mut u32) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { answer(dev, state, check_ptr, |d| d.state().to_windows()) }
}

/// How many card insertions the device has applied (wrapping) into `*count`
/// (aligned, not inside the device storage), after processing queued events. A
/// host that polls presence compares it with the count it last saw: a different
/// count with a card present is a new card, even if the removal in between was
/// never seen.
///
/// # Safety
///
/// `dev` is NULL or device storage; `count` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_device_card_insertions(
    dev: *const rk_device,
    count: *mut u32,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { answer(dev, count, check_ptr, CDevice::card_insertions) }
}
