//! The device: callback table, initialisation in caller storage, `rk_device_control`,
//! card events and tracking.

use core::ffi::{c_char, c_void};
use core::mem::{align_of, size_of};
use core::ptr;

use readerkit::atr::Edc;
use readerkit::caps::{
    AttrString, IfdVersion, Mechanics, ReaderCapabilities, ReaderType, VendorAttributes,
};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::event::CardEvent;
use readerkit::ioctl::PowerAction;
use readerkit::line::LineReader;
use readerkit::platform::{ContextId, Platform};
use readerkit::timing::Timing;
use readerkit::trace::TracedLine;
use readerkit::tracking::Wait;
use readerkit::{Device, Failure, Outcome, ProtocolMask, ReaderFunctions, Status};
use static_assertions::const_assert;

use crate::guard::{
    Region, bytes, bytes_mut, check_disjoint, check_opt_ptr, check_ptr, entry, write_opt,
};
use crate::line::{CLine, fill_atr, rk_line_ops};
use crate::log::CLogSink;
use crate::slot::{Slot, Stored};
use crate::status::*;

/// `IOCTL_SMARTCARD_POWER`.
pub const RK_IOCTL_POWER: u32 = 0x00310004;
/// `IOCTL_SMARTCARD_GET_ATTRIBUTE`.
pub const RK_IOCTL_GET_ATTRIBUTE: u32 = 0x00310008;
/// `IOCTL_SMARTCARD_SET_ATTRIBUTE`.
pub const RK_IOCTL_SET_ATTRIBUTE: u32 = 0x0031000C;
/// `IOCTL_SMARTCARD_CONFISCATE`.
pub const RK_IOCTL_CONFISCATE: u32 = 0x00310010;
/// `IOCTL_SMARTCARD_TRANSMIT`.
pub const RK_IOCTL_TRANSMIT: u32 = 0x00310014;
/// `IOCTL_SMARTCARD_EJECT`.
pub const RK_IOCTL_EJECT: u32 = 0x00310018;
/// `IOCTL_SMARTCARD_SWALLOW`.
pub const RK_IOCTL_SWALLOW: u32 = 0x0031001C;
/// `IOCTL_SMARTCARD_IS_PRESENT`.
pub const RK_IOCTL_IS_PRESENT: u32 = 0x00310028;
/// `IOCTL_SMARTCARD_IS_ABSENT`.
pub const RK_IOCTL_IS_ABSENT: u32 = 0x0031002C;
/// `IOCTL_SMARTCARD_SET_PROTOCOL`.
pub const RK_IOCTL_SET_PROTOCOL: u32 = 0x00310030;
/// `IOCTL_SMARTCARD_GET_STATE`.
pub const RK_IOCTL_GET_STATE: u32 = 0x00310038;
/// `IOCTL_SMARTCARD_GET_LAST_ERROR`.
pub const RK_IOCTL_GET_LAST_ERROR: u32 = 0x0031003C;

/// POWER action (the request's, the callback's and `rk_sim_power`'s): power the
/// card down.
pub const RK_POWER_DOWN: u32 = 0;
/// POWER action: cold reset (power up); also what the line's `reset` gets.
pub const RK_POWER_COLD_RESET: u32 = 1;
/// POWER action: warm reset; also what the line's `reset` gets.
pub const RK_POWER_WARM_RESET: u32 = 2;

/// Card event ([`rk_card_event`]): a card was inserted.
pub const RK_CARD_INSERTED: u32 = 1;
/// Card event: the card was removed.
pub const RK_CARD_REMOVED: u32 = 2;
/// Card event: the hardware deactivated the card (over-current, fault); the card,
/// if still there, is no longer powered.
pub const RK_CARD_FAULT: u32 = 3;

/// Card tracking: wait for a card to be inserted (IS_PRESENT).
pub const RK_WAIT_INSERTION: u32 = 0;
/// Card tracking: wait for the card to be removed (IS_ABSENT).
pub const RK_WAIT_REMOVAL: u32 = 1;

/// Protocol bit: T=0 (`SCARD_PROTOCOL_T0`).
pub const RK_PROTOCOL_T0: u32 = 0x0000_0001;
/// Protocol bit: T=1 (`SCARD_PROTOCOL_T1`).
pub const RK_PROTOCOL_T1: u32 = 0x0000_0002;
/// Protocol bit: raw (`SCARD_PROTOCOL_RAW`).
pub const RK_PROTOCOL_RAW: u32 = 0x0001_0000;
/// SET_PROTOCOL flag: use the default parameters (`SCARD_PROTOCOL_DEFAULT`).
pub const RK_PROTOCOL_DEFAULT: u32 = 0x8000_0000;

/// T=1 error detection code: LRC.
pub const RK_EDC_LRC: u8 = 0;
/// T=1 error detection code: CRC.
pub const RK_EDC_CRC: u8 = 1;

/// The C code of an error detection code: `RK_EDC_LRC` or `RK_EDC_CRC`.
pub(crate) fn edc_code(edc: Edc) -> u8 {
    match edc {
        Edc::Lrc => RK_EDC_LRC,
        Edc::Crc => RK_EDC_CRC,
    }
}

/// The error detection code of a C code; an unknown one is
/// `RK_STATUS_INVALID_PARAMETER`.
pub(crate) fn edc_of(code: u8) -> Result<Edc, rk_status> {
    match code {
        RK_EDC_LRC => Ok(Edc::Lrc),
        RK_EDC_CRC => Ok(Edc::Crc),
        _ => Err(RK_STATUS_INVALID_PARAMETER),
    }
}

/// Longest ATR, in bytes.
pub const RK_MAX_ATR_LEN: usize = 33;
/// Longest vendor attribute string (vendor name, IFD type, serial number), in bytes.
pub const RK_MAX_ATTR_STRING_LEN: usize = 32;

/// Size of [`rk_device`] in bytes: the storage a C driver provides per reader
/// (with room for the line device's trace decoder, which holds one T=1 block).
pub const RK_DEVICE_STORAGE_SIZE: usize = 2048;
/// Alignment [`rk_device`] storage needs, in bytes.
pub const RK_DEVICE_STORAGE_ALIGN: usize = 8;
/// `RK_DEVICE_STORAGE_SIZE / 8`: the length of [`rk_device`]'s opaque array.
pub const RK_DEVICE_STORAGE_WORDS: usize = 256;

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
    /// T=1: the card's IFSC.
    pub ifsc: u8,
    /// T=1: the IFSD the reader announces.
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
}

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
    /// Internal: lets [`rk_pps_accept`] check the card's answer.
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
/// GET_PERF_COUNTER; every other [`rk_device_control`] request returns
/// `RK_STATUS_DEVICE_BUSY` at once and changes nothing (it would wait for the lock
/// the callback runs under), and so does [`rk_device_deinit`]. A tracking completion
/// caused from inside a callback is delivered through `tracking_complete` once the
/// callback's request has released the lock.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rk_reader_functions {
    /// POWER (`action`: `RK_POWER_*`). On a reset, write the ATR (at most
    /// `atr_capacity` = 33 bytes) to `atr` and its length to `*atr_len`.
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
    /// `*reply_len`.
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
    /// [`rk_pps_accept`]) and write the parameters now in force to `*timing`.
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
    /// arming a new IS_PRESENT / IS_ABSENT included. Required if `card_tracking` is
    /// set.
    pub tracking_complete: Option<unsafe extern "C" fn(ctx: *mut c_void, status: rk_status)>,
    /// Optional: card events were queued (possibly in interrupt context); arrange for
    /// [`rk_process_events`] to run soon. If `NULL`, events are processed at the next
    /// call on the device.
    pub events_pending: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// The reader's capabilities (`SCARD_READER_CAPABILITIES`).
// The C ABI's mirror of `readerkit::caps::ReaderCapabilities`, field for field on
// purpose: C callers need a `repr(C)` struct; the `From` impls below convert both ways.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_reader_caps {
    /// Protocols supported: `RK_PROTOCOL_T0 | RK_PROTOCOL_T1` ...
    pub protocols: u32,
    /// Reader type (`SCARD_READER_TYPE_*`: 1 serial, 0x20 USB, 0xF0 vendor).
    pub reader_type: u32,
    /// Logical channel.
    pub channel: u16,
    /// Mechanics: 1 swallows, 2 ejects, 4 confiscates.
    pub mechanics: u32,
    /// Default card clock, kHz.
    pub default_clock_khz: u32,
    /// Maximum card clock, kHz.
    pub max_clock_khz: u32,
    /// Default data rate, bit/s.
    pub default_data_rate: u32,
    /// Maximum data rate, bit/s.
    pub max_data_rate: u32,
    /// Largest T=1 IFSD, 1..=254.
    pub max_ifsd: u8,
    /// 0 if the reader cannot power the card down while inserted.
    pub power_management: u32,
}

/// The vendor's description of the reader. Strings are NUL-terminated, at most
/// `RK_MAX_ATTR_STRING_LEN` bytes; `NULL` = empty. They are copied by
/// [`rk_device_init`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rk_vendor_attrs {
    /// Manufacturer name.
    pub vendor_name: *const c_char,
    /// Reader model.
    pub ifd_type: *const c_char,
    /// Serial number.
    pub serial_number: *const c_char,
    /// Instance number of this reader type.
    pub unit: u32,
    /// Version 0xMMmmbbbb.
    pub ifd_version: u32,
}

impl From<ReaderCapabilities> for rk_reader_caps {
    fn from(reader: ReaderCapabilities) -> rk_reader_caps {
        rk_reader_caps {
            protocols: reader.protocols.0,
            reader_type: reader.reader_type.0,
            channel: reader.channel,
            mechanics: reader.mechanics.0,
            default_clock_khz: reader.default_clock_khz,
            max_clock_khz: reader.max_clock_khz,
            default_data_rate: reader.default_data_rate,
            max_data_rate: reader.max_data_rate,
            max_ifsd: reader.max_ifsd,
            power_management: reader.power_management,
        }
    }
}

impl From<rk_reader_caps> for ReaderCapabilities {
    fn from(caps: rk_reader_caps) -> ReaderCapabilities {
        ReaderCapabilities {
            protocols: ProtocolMask(caps.protocols),
            reader_type: ReaderType(caps.reader_type),
            channel: caps.channel,
            mechanics: Mechanics(caps.mechanics),
            default_clock_khz: caps.default_clock_khz,
            max_clock_khz: caps.max_clock_khz,
            default_data_rate: caps.default_data_rate,
            max_data_rate: caps.max_data_rate,
            max_ifsd: caps.max_ifsd,
            power_management: caps.power_management,
        }
    }
}

/// Storage for one device: `RK_DEVICE_STORAGE_SIZE` bytes aligned to
/// `RK_DEVICE_STORAGE_ALIGN`. Declare one (static, on the stack, in a struct) and
/// hand it to [`rk_device_init`]; never copy it once initialised.
#[repr(C)]
pub struct rk_device {
    /// Opaque.
    pub opaque: [u64; RK_DEVICE_STORAGE_WORDS],
}

/// The line reader of a device, over the C driver's line (traced to the log).
type CLineReader = LineReader<TracedLine<CLine, CLogSink>>;

/// The C driver's table and context, and the line reader of a device made with
/// [`rk_device_init_line`] (a table device has one over [`CLine::absent`], never
/// called): the core's driver context `D`.
pub(crate) struct CDriver {
    table: rk_reader_functions,
    pub(crate) ctx: *mut c_void,
    line: CLineReader,
    /// The keypad [`rk_device_set_keypad`](crate::rk_device_set_keypad) gave.
    pub(crate) keypad: Option<crate::keypad::rk_keypad_ops>,
}

/// The platform: the locks and the tracking completion through the C table.
pub(crate) struct CPlatform {
    tracking_complete: Option<unsafe extern "C" fn(*mut c_void, rk_status)>,
    events_pending: Option<unsafe extern "C" fn(*mut c_void)>,
    ctx: *mut c_void,
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
            // SAFETY: the C driver supplied `f` for this context in rk_device_init.
            unsafe { f(self.ctx, to_rk(status)) }
        }
    }

    fn events_pending(&self) {
        if let Some(f) = self.events_pending {
            // SAFETY: the C driver supplied `f` for this context in rk_device_init.
            unsafe { f(self.ctx) }
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
    /// "rkDV".
    const MAGIC: u32 = 0x564B_4452;
}

const_assert!(size_of::<Slot<CDevice>>() <= RK_DEVICE_STORAGE_SIZE);
const_assert!(align_of::<Slot<CDevice>>() <= RK_DEVICE_STORAGE_ALIGN);
const_assert!(size_of::<rk_device>() == RK_DEVICE_STORAGE_SIZE);
const_assert!(align_of::<Slot<CDevice>>() <= align_of::<rk_device>());
const_assert!(RK_DEVICE_STORAGE_WORDS * 8 == RK_DEVICE_STORAGE_SIZE);

/// Run `f` on the initialised device in `dev` (under the FFI guard).
///
/// # Safety
///
/// `dev` is NULL or device storage (zeroed or initialised by `rk_device_init`).
unsafe fn on_device(dev: *const rk_device, f: impl FnOnce(&CDevice)) -> rk_status {
    entry(|| {
        // SAFETY: forwarded contract.
        f(unsafe { Slot::<CDevice>::value(dev) }?);
        Ok(())
    })
}

/// Write `f(device)` through `out`, checked by `check` (non-null or optional,
/// aligned) and refused if it lies in the device storage.
///
/// # Safety
///
/// `dev` is NULL or device storage; `out` is NULL or valid for a write.
unsafe fn answer<T>(
    dev: *const rk_device,
    out: *mut T,
    check: fn(*const T) -> Result<(), rk_status>,
    f: impl FnOnce(&CDevice) -> T,
) -> rk_status {
    entry(|| {
        check(out.cast_const())?;
        check_disjoint(&[Region::of(out), Slot::<CDevice>::region(dev)], &[])?;
        // SAFETY: forwarded contract.
        let value = f(unsafe { Slot::<CDevice>::value(dev) }?);
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

// ---- adapters: the core's callbacks onto the C table --------------------------

fn power(d: &mut CDriver, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    let f = d.table.power.ok_or(Failure::NotSupported)?;
    let mut buf = [0u8; RK_MAX_ATR_LEN];
    let mut len = 0usize;
    let code = action.code();
    // SAFETY: `buf` and `len` are valid for the call; the callback comes from the C
    // table for this context.
    let result = unsafe { f(d.ctx, code, buf.as_mut_ptr(), buf.len(), &mut len) };
    callback_result(result)?;
    match action {
        PowerAction::PowerDown => Ok(()),
        _ => fill_atr(atr, &buf, len, Failure::DeviceProtocolError),
    }
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
        internal: ptr::from_ref(n).cast(),
    };
    let mut timing = rk_timing::from(n.timing);
    // SAFETY: `c` and `timing` are valid for the call; the callback comes from the C
    // table for this context.
    let result = unsafe { f(d.ctx, &c, &mut timing) };
    callback_result(result)?;
    if timing.f == 0 || timing.d == 0 || timing.clock_khz == 0 {
        return Err(Failure::InvalidParameter);
    }
    Ok(Timing {
        f: timing.f,
        d: timing.d,
        clock_khz: timing.clock_khz,
    })
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

/// The core's line-reader callbacks reach the line reader through this.
impl AsMut<CLineReader> for CDriver {
    fn as_mut(&mut self) -> &mut CLineReader {
        &mut self.line
    }
}

/// The core's callback table: the C table's callbacks, with power, SET_PROTOCOL
/// and TRANSMIT from the line reader if `line` (and its card tracking, which only
/// waits for reported events, unless the C table has its own; either needs
/// `tracking_complete`).
fn functions(t: &rk_reader_functions, line: bool) -> ReaderFunctions<CDriver> {
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

/// A NUL-terminated C string as an attribute string.
///
/// # Safety
///
/// `s` is NULL or a NUL-terminated string.
unsafe fn attr_string(s: *const c_char) -> Result<AttrString, rk_status> {
    if s.is_null() {
        return Ok(AttrString::new());
    }
    let mut out = AttrString::new();
    for i in 0..=RK_MAX_ATTR_STRING_LEN {
        // SAFETY: the string is NUL-terminated and we stop at the NUL, so `s + i`
        // stays inside it.
        let p = unsafe { s.add(i) };
        // SAFETY: `p` points at a character of the string (see above); read as a
        // byte, whatever the signedness of `c_char` on the target.
        let c = unsafe { p.cast::<u8>().read() };
        if c == 0 {
            return Ok(out);
        }
        out.push(c).map_err(|_| RK_STATUS_INVALID_PARAMETER)?;
    }
    Err(RK_STATUS_INVALID_PARAMETER)
}

/// Fill `*caps` with a typical UART reader's capabilities: T=0 and T=1, 3.58 MHz
/// default and 4 MHz max clock, 9600 to 115200 bit/s, IFSD 254.
///
/// # Safety
///
/// `caps` is NULL or valid for a write of `rk_reader_caps`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reader_caps_typical(caps: *mut rk_reader_caps) -> rk_status {
    entry(|| {
        check_ptr(caps)?;
        // SAFETY: checked non-null and aligned; valid for writes per the contract.
        unsafe { caps.write(ReaderCapabilities::typical().into()) };
        Ok(())
    })
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
    entry(|| unsafe { init(storage, storage_len, table, ptr::null(), ctx, caps, vendor) })
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
        check_ptr(line)?;
        // SAFETY: forwarded contract.
        unsafe { init(storage, storage_len, table, line, ctx, caps, vendor) }
    })
}

/// A table device (`line` NULL: `table` required) or a line device (`line` checked
/// by the caller, `table` optional).
///
/// # Safety
///
/// As [`rk_device_init`] and [`rk_device_init_line`].
unsafe fn init(
    storage: *mut rk_device,
    storage_len: usize,
    table: *const rk_reader_functions,
    line: *const rk_line_ops,
    ctx: *mut c_void,
    caps: *const rk_reader_caps,
    vendor: *const rk_vendor_attrs,
) -> Result<(), rk_status> {
    check_ptr(storage.cast_const())?;
    if line.is_null() {
        check_ptr(table)?;
    } else {
        check_opt_ptr(table)?;
    }
    check_ptr(caps)?;
    // SAFETY: readable for `storage_len` bytes (see the contract); an initialised
    // device must not be overwritten.
    unsafe { Slot::<CDevice>::check_free(storage, storage_len) }?;
    let table = if table.is_null() {
        rk_reader_functions::default()
    } else {
        // SAFETY: checked non-null and aligned; readable per the contract.
        unsafe { table.read() }
    };
    let over_line = !line.is_null();
    let line = if over_line {
        if table.power.is_some() || table.transmit.is_some() || table.set_protocol.is_some() {
            return Err(RK_STATUS_INVALID_PARAMETER);
        }
        // SAFETY: checked non-null and aligned by rk_device_init_line; readable per
        // the contract.
        let ops = unsafe { line.read() };
        CLine::new(ops, ctx).ok_or(RK_STATUS_INVALID_PARAMETER)?
    } else {
        CLine::absent()
    };
    // SAFETY: as above.
    let caps = unsafe { caps.read() };
    if table.card_tracking.is_some() && table.tracking_complete.is_none() {
        return Err(RK_STATUS_INVALID_PARAMETER);
    }
    if caps.max_ifsd == 0
        || caps.max_ifsd == 255
        || ProtocolMask(caps.protocols).protocols().is_empty()
    {
        return Err(RK_STATUS_INVALID_PARAMETER);
    }
    let vendor = if vendor.is_null() {
        VendorAttributes::default()
    } else {
        check_ptr(vendor)?;
        // SAFETY: checked non-null and aligned; readable per the contract.
        let v = unsafe { vendor.read() };
        VendorAttributes {
            // SAFETY: NUL-terminated per the contract.
            vendor_name: unsafe { attr_string(v.vendor_name) }?,
            // SAFETY: as above.
            ifd_type: unsafe { attr_string(v.ifd_type) }?,
            unit: v.unit,
            ifd_version: IfdVersion::from_u32(v.ifd_version),
            // SAFETY: as above.
            serial_number: unsafe { attr_string(v.serial_number) }?,
        }
    };
    let platform = CPlatform {
        tracking_complete: table.tracking_complete,
        events_pending: table.events_pending,
        ctx,
    };
    let device = Device::new(
        platform,
        functions(&table, over_line),
        CDriver {
            table,
            ctx,
            line: LineReader::new(TracedLine::new(line, CLogSink)),
            keypad: None,
        },
        caps.into(),
        vendor,
    );
    // SAFETY: valid, large enough and ours per the contract (checked again inside).
    unsafe { Slot::init(storage, storage_len, device) }?;
    Ok(())
}

/// De-initialise a device: a pending tracking request is completed with
/// `RK_STATUS_CANCELLED`, then the storage is released (the magic word cleared). The
/// device must be idle: no other call on it running or to come. Called from inside
/// one of its callbacks, or while a callback runs, it returns
/// `RK_STATUS_DEVICE_BUSY` and changes nothing.
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
        // and the state it is about to commit.
        if device.in_own_callback() || device.callback_running() {
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
/// others return `RK_STATUS_DEVICE_BUSY` (see [`rk_reader_functions`]).
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
        // SAFETY: NULL or aligned (checked) and valid for a write per the contract.
        unsafe { write_opt(bytes_written, 0) };
        // SAFETY: forwarded contract.
        let device = unsafe { Slot::<CDevice>::value(dev) }?;
        // SAFETY: valid for `input_len` bytes per the contract.
        let input = unsafe { bytes(input, input_len) }?;
        // SAFETY: valid and exclusive for `output_len` bytes per the contract.
        let output = unsafe { bytes_mut(output, output_len) }?;
        let outcome = device.control_logged(code, input, output, &CLogSink);
        Ok(complete(outcome, bytes_written))
    })
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
        check_ptr(call)?;
        check_ptr(timing.cast_const())?;
        check_disjoint(
            &[Region::of(timing)],
            &[Region::of(call), Region::bytes(response, response_len)],
        )?;
        // SAFETY: checked; valid during the callback per the contract.
        let call = unsafe { &*call };
        let negotiation = call.internal.cast::<readerkit::pps::Negotiation>();
        check_ptr(negotiation)?;
        check_disjoint(&[Region::of(timing)], &[Region::of(negotiation)])?;
        // SAFETY: `internal` points to the negotiation of this callback, alive during it.
        let negotiation = unsafe { &*negotiation };
        // SAFETY: valid for `response_len` bytes per the contract.
        let response = unsafe { bytes(response, response_len) }?;
        let accepted = readerkit::pps::Response::parse(response)
            .and_then(|r| negotiation.accept(&r))
            .map_err(|e| to_rk(e.into()))?;
        // SAFETY: checked non-null and aligned; writable per the contract.
        unsafe { timing.write(accepted.into()) };
        Ok(())
    })
}
