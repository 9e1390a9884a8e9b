//! The C driver's callback table ([`rk_reader_functions`]), what its callbacks get,
//! and the adapters through which the core calls them.

use core::ffi::c_void;
use core::mem::offset_of;
use core::ptr;

use readerkit::device::{AtrBuffer, FieldSizeReport, ProtocolCall, TransmitCall};
use readerkit::ioctl::PowerAction;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{Failure, ReaderFunctions};
use static_assertions::const_assert_eq;

use crate::codes::{RK_WAIT_INSERTION, RK_WAIT_REMOVAL, edc_code};
use crate::device::{CDriver, CLineReader};
use crate::guard::{Region, bytes, check_disjoint, check_ptr, entry};
use crate::line::call_for_atr;
use crate::status::*;

// The entry points the docs below name.
#[cfg(doc)]
use crate::device::{
    rk_cancel_tracking, rk_card_event, rk_device_control, rk_device_deinit, rk_device_init,
    rk_device_state, rk_process_events,
};
#[cfg(doc)]
use crate::sleep::{
    rk_device_asleep, rk_device_resume, rk_device_sleep_with, rk_device_suspend,
    rk_device_wake_with,
};

/// Transmission parameters on the line: F, D and the card clock.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct rk_timing {
    /// Clock rate conversion integer F (372 by default).
    pub f: u16,
    /// Baud rate adjustment integer D (1 by default).
    pub d: u8,
    /// Card clock, in kHz.
    pub clock_khz: u32,
}

impl From<Timing> for rk_timing {
    fn from(t: Timing) -> rk_timing {
        rk_timing {
            f: t.f,
            d: t.d,
            clock_khz: t.clock_khz,
        }
    }
}

/// What a TRANSMIT callback gets (valid only during the callback).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_transmit_call {
    /// The protocol in force: `RK_PROTOCOL_T0`, `RK_PROTOCOL_T1` or `RK_PROTOCOL_RAW`.
    pub protocol: u32,
    /// The command APDU (checked: consistent lengths).
    pub apdu: *const u8,
    /// Its length in bytes.
    pub apdu_len: usize,
    /// F, D and clock in force.
    pub timing: rk_timing,
    /// T=1: the card's IFSC from the ATR (TA3, or 32), in bytes. The IFSC in
    /// force may differ: the card changes it with an S(IFS request), which a
    /// callback running its own T=1 engine reports with
    /// [`rk_transmit_report_ifsc`].
    pub ifsc: u8,
    /// T=1: the IFSD the reader announces, in bytes (in force once the card
    /// acknowledged it: [`rk_transmit_report_ifsd`]).
    pub ifsd: u8,
    /// T=1: `RK_EDC_LRC` or `RK_EDC_CRC`.
    pub edc: u8,
    /// T=1: BWI from the ATR.
    pub bwi: u8,
    /// T=1 block waiting time in force, µs.
    pub bwt_us: u32,
    /// T=1 character waiting time in force, µs.
    pub cwt_us: u32,
    /// T=0 work waiting time in force, µs.
    pub wwt_us: u32,
    /// SET_ATTRIBUTE `SCARD_ATTR_SUPRESS_T1_IFS_REQUEST`: do not send S(IFS request).
    pub suppress_t1_ifs_request: bool,
    /// Internal: lets [`rk_transmit_report_deactivation`] reach this call.
    pub internal: *const c_void,
}

// `internal` was appended to the call structs: every field a driver built against
// an older header reads keeps its offset (`repr(C)` places a field by the ones
// before it), and the library, which makes the structs, is the only writer.
const_assert_eq!(
    offset_of!(rk_transmit_call, internal) + size_of::<*const c_void>(),
    size_of::<rk_transmit_call>()
);
const_assert_eq!(
    offset_of!(rk_protocol_call, internal) + size_of::<*const c_void>(),
    size_of::<rk_protocol_call>()
);

/// What a SET_PROTOCOL callback gets (valid only during the callback).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_protocol_call {
    /// The protocol to establish: `RK_PROTOCOL_T0`, `RK_PROTOCOL_T1` or `RK_PROTOCOL_RAW`.
    pub protocol: u32,
    /// The PPS request to send to the card (`pps_len` bytes; `pps_len == 0`: no PPS,
    /// switch to `timing` directly).
    pub pps: [u8; 6],
    /// Length of `pps` in bytes, 0 if no PPS is to be sent.
    pub pps_len: u8,
    /// F, D and clock once the card accepted the PPS (or right away without one).
    pub timing: rk_timing,
    /// F = 372, D = 1 at the default clock: what applies when the card answers
    /// without PPS1, and after a reset following a failed PPS.
    pub default_timing: rk_timing,
    /// Internal: lets [`rk_pps_accept`] check the card's answer and
    /// [`rk_protocol_report_deactivation`] reach this call.
    pub internal: *const c_void,
}

/// The reader driver's callbacks; `NULL` = not supported. Every callback gets the
/// `ctx` given to [`rk_device_init`] and returns an `RK_STATUS_*` code. No two
/// callbacks of one device run at once (the serialization lock); the library checks
/// the request and the card state before calling.
///
/// From inside a callback (the first eight, on the same thread; any context on a
/// bare-metal build) the driver may report card events ([`rk_card_event`] and
/// friends), call [`rk_process_events`], [`rk_cancel_tracking`], [`rk_device_state`]
/// and the read-only requests GET_STATE, GET_ATTRIBUTE, GET_LAST_ERROR and
/// GET_PERF_COUNTER; every other well-formed [`rk_device_control`] request returns
/// `RK_STATUS_DEVICE_BUSY` at once and changes nothing (it would wait for the lock
/// the callback runs under), and so does [`rk_device_deinit`]. (The parameters are
/// checked first, as for every request: a malformed one gets its own error, say
/// `RK_STATUS_BUFFER_TOO_SMALL`.) Of the sleep calls, [`rk_device_suspend`],
/// [`rk_device_sleep_with`] and [`rk_device_wake_with`] return
/// `RK_STATUS_DEVICE_BUSY` there and change nothing, [`rk_device_asleep`]
/// answers, and [`rk_device_resume`] takes effect (from a sleep step it wakes the
/// device that step is putting to sleep: leave waking to the wake step's call).
/// A tracking completion
/// caused from inside a callback is delivered through `tracking_complete` once the
/// callback's request has released the lock.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rk_reader_functions {
    /// POWER (`action`: `RK_POWER_*`). On a reset, write the ATR (at most
    /// `atr_capacity` = 33 bytes) to `atr` and its length to `*atr_len`. A length
    /// past `atr_capacity`, on any action, fails the request with
    /// `RK_STATUS_BUFFER_OVERFLOW` (the card is then taken as unpowered).
    pub power: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            action: u32,
            atr: *mut u8,
            atr_capacity: usize,
            atr_len: *mut usize,
        ) -> rk_status,
    >,
    /// TRANSMIT: send `call->apdu` with `call->protocol` and write the response APDU
    /// (data, SW1 SW2) to `reply` (at most `reply_capacity` bytes), its length to
    /// `*reply_len`. A callback that deactivated the card (ISO/IEC 7816-3 rule 6.4,
    /// after a failed T=1 resynchronisation; after a T=0 exchange that left the
    /// card out of step, `rk_t0_out_of_step`) says so with
    /// [`rk_transmit_report_deactivation`] before it returns. A callback running
    /// its own T=1 engine reports the information field sizes in force when they
    /// change ([`rk_transmit_report_ifsc`], [`rk_transmit_report_ifsd`]).
    pub transmit: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            call: *const rk_transmit_call,
            reply: *mut u8,
            reply_capacity: usize,
            reply_len: *mut usize,
        ) -> rk_status,
    >,
    /// SET_PROTOCOL: do the PPS exchange if `call->pps_len > 0` (check the answer with
    /// [`rk_pps_accept`]) and write the parameters now in force to `*timing`. After a
    /// failed PPS, deactivate the card, say so with
    /// [`rk_protocol_report_deactivation`] and fail (the caller resets the card and
    /// may retry with the default protocol).
    pub set_protocol: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            call: *const rk_protocol_call,
            timing: *mut rk_timing,
        ) -> rk_status,
    >,
    /// IS_PRESENT / IS_ABSENT (`wait`: `RK_WAIT_*`): start watching; later report the
    /// event with [`rk_card_event`]. `RK_STATUS_SUCCESS`
    /// means the request pends. Requires `tracking_complete`.
    pub card_tracking: Option<unsafe extern "C" fn(ctx: *mut c_void, wait: u32) -> rk_status>,
    /// A vendor IOCTL (function 2048..=4095): write at most `output_capacity` bytes
    /// and their count to `*output_len`.
    pub vendor_ioctl: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            code: u32,
            input: *const u8,
            input_len: usize,
            output: *mut u8,
            output_capacity: usize,
            output_len: *mut usize,
        ) -> rk_status,
    >,
    /// EJECT.
    pub eject: Option<unsafe extern "C" fn(ctx: *mut c_void) -> rk_status>,
    /// SWALLOW.
    pub swallow: Option<unsafe extern "C" fn(ctx: *mut c_void) -> rk_status>,
    /// CONFISCATE.
    pub confiscate: Option<unsafe extern "C" fn(ctx: *mut c_void) -> rk_status>,
    /// A request answered `RK_STATUS_PENDING` is finished with `status`
    /// (`RK_STATUS_SUCCESS` on the event, `RK_STATUS_CANCELLED` when cancelled).
    /// Called exactly once per pending request, with no library lock held, from the
    /// thread that processed the event (any `rk_*` call on the device, or
    /// [`rk_process_events`]); an event processed inside a callback completes when
    /// that callback's request returns. Any `rk_*` call may be made from here,
    /// arming a new IS_PRESENT / IS_ABSENT included, except [`rk_device_deinit`]:
    /// the library call below this hook still uses the device, so it returns
    /// `RK_STATUS_DEVICE_BUSY` and changes nothing (deinit once the hook has
    /// returned). Required if `card_tracking` is set.
    pub tracking_complete: Option<unsafe extern "C" fn(ctx: *mut c_void, status: rk_status)>,
    /// Optional: card events were queued (possibly in interrupt context); arrange for
    /// [`rk_process_events`] to run soon. If `NULL`, events are processed at the next
    /// call on the device. As from `tracking_complete`, [`rk_device_deinit`] from
    /// here returns `RK_STATUS_DEVICE_BUSY` (the call that queued the events goes on
    /// with the device after this hook).
    pub events_pending: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

// ---- adapters: the core's callbacks onto the C table --------------------------

fn power(d: &mut CDriver, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    let f = d.table.power.ok_or(Failure::NotSupported)?;
    // SAFETY: the callback comes from the C table for this context.
    unsafe { call_for_atr(f, d.ctx, action, atr) }
}

fn transmit(d: &mut CDriver, call: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Failure> {
    let f = d.table.transmit.ok_or(Failure::NotSupported)?;
    let card = call.card;
    let c = rk_transmit_call {
        protocol: call.protocol.bit(),
        apdu: call.apdu.as_ptr(),
        apdu_len: call.apdu.len(),
        timing: card.timing.into(),
        ifsc: card.parameters.ifsc,
        ifsd: card.ifsd,
        edc: edc_code(card.parameters.edc),
        bwi: card.parameters.bwi,
        bwt_us: card.bwt_us(),
        cwt_us: card.cwt_us(),
        wwt_us: card.wwt_us(),
        suppress_t1_ifs_request: call.settings.suppress_t1_ifs_request,
        internal: rk_transmit_call::internal_of(call),
    };
    let mut len = 0usize;
    // SAFETY: `c`, `reply` and `len` are valid for the call; the callback comes from
    // the C table for this context.
    let result = unsafe { f(d.ctx, &c, reply.as_mut_ptr(), reply.len(), &mut len) };
    callback_result(result)?;
    Ok(len)
}

fn set_protocol(d: &mut CDriver, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
    let f = d.table.set_protocol.ok_or(Failure::NotSupported)?;
    let n = &call.negotiation;
    let mut pps = [0u8; 6];
    let mut pps_len = 0u8;
    if let Some(request) = &n.request {
        let bytes = request.as_bytes();
        let len = bytes.len().min(pps.len());
        pps[..len].copy_from_slice(&bytes[..len]);
        pps_len = len as u8;
    }
    let c = rk_protocol_call {
        protocol: call.protocol.bit(),
        pps,
        pps_len,
        timing: n.timing.into(),
        default_timing: n.default_timing.into(),
        internal: rk_protocol_call::internal_of(call),
    };
    let mut timing = rk_timing::from(n.timing);
    // SAFETY: `c` and `timing` are valid for the call; the callback comes from the C
    // table for this context.
    let result = unsafe { f(d.ctx, &c, &mut timing) };
    callback_result(result)?;
    Timing::new(timing.f, timing.d, timing.clock_khz).ok_or(Failure::InvalidParameter)
}

fn card_tracking(d: &mut CDriver, wait: Wait) -> Result<(), Failure> {
    let f = d.table.card_tracking.ok_or(Failure::NotSupported)?;
    let code = match wait {
        Wait::Insertion => RK_WAIT_INSERTION,
        Wait::Removal => RK_WAIT_REMOVAL,
    };
    // SAFETY: the callback comes from the C table for this context.
    callback_result(unsafe { f(d.ctx, code) })
}

fn vendor_ioctl(
    d: &mut CDriver,
    code: u32,
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, Failure> {
    let f = d.table.vendor_ioctl.ok_or(Failure::NotSupported)?;
    let mut len = 0usize;
    // SAFETY: the buffers and `len` are valid for the call; the callback comes from
    // the C table for this context.
    let result = unsafe {
        f(
            d.ctx,
            code,
            input.as_ptr(),
            input.len(),
            output.as_mut_ptr(),
            output.len(),
            &mut len,
        )
    };
    callback_result(result)?;
    Ok(len)
}

fn mechanism(
    d: &CDriver,
    f: Option<unsafe extern "C" fn(*mut c_void) -> rk_status>,
) -> Result<(), Failure> {
    let f = f.ok_or(Failure::NotSupported)?;
    // SAFETY: the callback comes from the C table for this context.
    callback_result(unsafe { f(d.ctx) })
}

fn eject(d: &mut CDriver) -> Result<(), Failure> {
    mechanism(d, d.table.eject)
}

fn swallow(d: &mut CDriver) -> Result<(), Failure> {
    mechanism(d, d.table.swallow)
}

fn confiscate(d: &mut CDriver) -> Result<(), Failure> {
    mechanism(d, d.table.confiscate)
}

/// The core's callback table: the C table's callbacks, with power, SET_PROTOCOL
/// and TRANSMIT from the line reader if `line` (and its card tracking, which only
/// waits for reported events, unless the C table has its own; either needs
/// `tracking_complete`).
pub(crate) fn functions(t: &rk_reader_functions, line: bool) -> ReaderFunctions<CDriver> {
    let table = ReaderFunctions {
        power: t.power.map(|_| power as _),
        transmit: t.transmit.map(|_| transmit as _),
        set_protocol: t.set_protocol.map(|_| set_protocol as _),
        card_tracking: t.card_tracking.map(|_| card_tracking as _),
        vendor_ioctl: t.vendor_ioctl.map(|_| vendor_ioctl as _),
        eject: t.eject.map(|_| eject as _),
        swallow: t.swallow.map(|_| swallow as _),
        confiscate: t.confiscate.map(|_| confiscate as _),
    };
    if !line {
        return table;
    }
    let reader = CLineReader::functions_for::<CDriver>();
    let line_tracking = t.tracking_complete.and(reader.card_tracking);
    ReaderFunctions {
        power: reader.power,
        transmit: reader.transmit,
        set_protocol: reader.set_protocol,
        card_tracking: table.card_tracking.or(line_tracking),
        ..table
    }
}

/// From a SET_PROTOCOL callback: check the card's PPS answer (`response`,
/// `response_len` bytes) against `call`'s request and write the parameters to switch to
/// into `*timing`. `RK_STATUS_SUCCESS`: switch to `*timing`; any other status: the PPS
/// failed, reset the card and fail the callback. `*timing` must not overlap `*call`
/// or the response (`RK_STATUS_INVALID_PARAMETER`).
///
/// # Safety
///
/// `call` is the pointer the SET_PROTOCOL callback received, used during that
/// callback; `response` is valid for `response_len` bytes; `timing` is valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_pps_accept(
    call: *const rk_protocol_call,
    response: *const u8,
    response_len: usize,
    timing: *mut rk_timing,
) -> rk_status {
    entry(|| {
        check_ptr(timing.cast_const())?;
        check_disjoint(
            &[Region::of(timing)],
            &[Region::of(call), Region::bytes(response, response_len)],
        )?;
        // SAFETY: forwarded contract.
        let core_call = unsafe { core_call(call) }?;
        check_disjoint(
            &[Region::of(timing)],
            &[Region::of(ptr::from_ref(core_call))],
        )?;
        let negotiation = &core_call.negotiation;
        // SAFETY: valid for `response_len` bytes per the contract.
        let response = unsafe { bytes(response, response_len) }?;
        let accepted = readerkit::pps::Response::parse(response)
            .and_then(|r| negotiation.accept(&r))
            .map_err(to_rk)?;
        // SAFETY: checked non-null and aligned; writable per the contract.
        unsafe { timing.write(accepted.into()) };
        Ok(())
    })
}

/// A call struct the library hands a callback, tied to the core's call its
/// `internal` field points to: an entry point reading one with [`core_call`] gets
/// that type and no other, and a struct built with [`CoreCall::internal_of`]
/// can only point to it.
trait CoreCall {
    /// The core's call behind this struct.
    type Core<'a>;

    /// The struct's `internal` field.
    fn internal(&self) -> *const c_void;

    /// What `internal` holds for `core`, the call it is made for.
    fn internal_of(core: &Self::Core<'_>) -> *const c_void {
        ptr::from_ref(core).cast()
    }
}

impl CoreCall for rk_transmit_call {
    type Core<'a> = TransmitCall<'a>;

    fn internal(&self) -> *const c_void {
        self.internal
    }
}

impl CoreCall for rk_protocol_call {
    type Core<'a> = ProtocolCall<'a>;

    fn internal(&self) -> *const c_void {
        self.internal
    }
}

/// The core's call behind `call` (a pointer a SET_PROTOCOL or TRANSMIT callback
/// received): `RK_STATUS_INVALID_PARAMETER` if it or its `internal` is NULL or
/// misaligned.
///
/// # Safety
///
/// `call` is NULL or the pointer a callback received, used during that callback
/// (the library made it, so its `internal` points to a `C::Core`).
unsafe fn core_call<'a, C: CoreCall>(call: *const C) -> Result<&'a C::Core<'a>, rk_status> {
    check_ptr(call)?;
    // SAFETY: checked; valid during the callback per the contract.
    let inner = unsafe { &*call }.internal().cast::<C::Core<'a>>();
    check_ptr(inner)?;
    // SAFETY: `internal` points to the core's call of this callback, alive during it.
    Ok(unsafe { &*inner })
}

/// From a SET_PROTOCOL callback: say that the callback deactivated the card's
/// contacts (ISO/IEC 7816-3 9.3, after a failed PPS). Once the callback returns,
/// the device takes the card for unpowered, as after `RK_POWER_DOWN` (GET_STATE
/// says so, TRANSMIT and SET_PROTOCOL wait for a reset, a warm reset becomes a cold
/// one), and the request fails: with the callback's status, or
/// `RK_STATUS_INVALID_DEVICE_STATE` if it returned `RK_STATUS_SUCCESS`. (A card
/// removed or replaced during the callback overrides this, as for any callback.)
/// `RK_STATUS_SUCCESS`, or `RK_STATUS_INVALID_PARAMETER` for a NULL or misaligned
/// `call` or one the library did not make (`internal` NULL).
///
/// # Safety
///
/// `call` is NULL or the pointer the SET_PROTOCOL callback received, used during that
/// callback and on its thread (what the call records is not shared between
/// threads).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_protocol_report_deactivation(
    call: *const rk_protocol_call,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let call = unsafe { core_call(call) }?;
        call.deactivation.report();
        Ok(())
    })
}

/// From a TRANSMIT callback: say that the callback deactivated the card's
/// contacts (ISO/IEC 7816-3 11.6.3.2 rule 6.4, after a failed T=1
/// resynchronisation; after a T=0 exchange that left the card out of step,
/// `rk_t0_out_of_step`). Once the callback returns, the device takes the card for
/// unpowered, as after `RK_POWER_DOWN` (GET_STATE says so, TRANSMIT and
/// SET_PROTOCOL wait for a reset, a warm reset becomes a cold one), and the
/// request fails: with the callback's status, or `RK_STATUS_INVALID_DEVICE_STATE`
/// if it returned `RK_STATUS_SUCCESS`. (A card removed or replaced during the
/// callback overrides this, as for any callback.) `RK_STATUS_SUCCESS`, or
/// `RK_STATUS_INVALID_PARAMETER` for a NULL or misaligned `call` or one the library
/// did not make (`internal` NULL).
///
/// # Safety
///
/// `call` is NULL or the pointer the TRANSMIT callback received, used during that
/// callback and on its thread (what the call records is not shared between
/// threads).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_transmit_report_deactivation(
    call: *const rk_transmit_call,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let call = unsafe { core_call(call) }?;
        call.deactivation.report();
        Ok(())
    })
}

/// Report a T=1 information field size of `size` bytes from a C caller on the
/// core's call behind `call` with `report`: `RK_STATUS_INVALID_PARAMETER` for a
/// size past a byte (the core refuses 0 and 255), or a `call` the library did
/// not make.
///
/// # Safety
///
/// As for [`rk_transmit_report_ifsc`].
unsafe fn report_size(
    call: *const rk_transmit_call,
    size: u32,
    report: fn(&FieldSizeReport, u8) -> Result<(), Failure>,
) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        let call = unsafe { core_call(call) }?;
        let size = u8::try_from(size).map_err(|_| RK_STATUS_INVALID_PARAMETER)?;
        report(&call.field_sizes, size).map_err(to_rk)
    })
}

/// From a TRANSMIT callback: say that the IFSC in force (the longest INF the
/// reader may send the card, in bytes) is now `ifsc`: the card changed it with
/// an S(IFS request) during this exchange (ISO/IEC 7816-3:2006 11.6.2.3), or a
/// resynchronisation put the ATR's back. Once the callback returns, whatever
/// its status (unless it deactivated the card, or the card was removed or
/// replaced meanwhile), `SCARD_ATTR_CURRENT_IFSC` answers it until the next
/// report, reset or SET_PROTOCOL (a fresh protocol session).
/// `RK_STATUS_SUCCESS`; `RK_STATUS_INVALID_PARAMETER`, nothing
/// recorded, for `ifsc` outside 1..=254, or a NULL or misaligned `call` or one
/// the library did not make (`internal` NULL).
///
/// # Safety
///
/// `call` is NULL or the pointer the TRANSMIT callback received, used during that
/// callback and on its thread (what the call records is not shared between
/// threads).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_transmit_report_ifsc(
    call: *const rk_transmit_call,
    ifsc: u32,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { report_size(call, ifsc, FieldSizeReport::report_ifsc) }
}

/// From a TRANSMIT callback: say that the IFSD in force (the longest INF the
/// card may send the reader, in bytes) is now `ifsd`: the card acknowledged the
/// reader's S(IFS request) announcing it, or the announcement was given up or
/// suppressed, or a resynchronisation put ISO's initial 32 back (ISO/IEC
/// 7816-3:2006 11.4.2). Kept as [`rk_transmit_report_ifsc`] keeps the IFSC;
/// `SCARD_ATTR_CURRENT_IFSD` answers it. Same returns.
///
/// # Safety
///
/// As for [`rk_transmit_report_ifsc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_transmit_report_ifsd(
    call: *const rk_transmit_call,
    ifsd: u32,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { report_size(call, ifsd, FieldSizeReport::report_ifsd) }
}
