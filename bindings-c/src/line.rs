//! A reader driver for a card reached byte by byte, written in C: the driver gives
//! the line ([`rk_line_ops`]: reset, deactivate, send, receive within time limits in
//! µs, set timing, framing) and `rk_device_init_line`
//! turns it into the device's callbacks with the core's
//! `LineReader`: power, SET_PROTOCOL with the PPS
//! exchange, TRANSMIT over T=0 and T=1, card tracking.
//!
//! ```text
//! rk_device_control ─► LineReader (PPS, T=0, T=1 engines) ─► rk_line_ops (bytes, µs)
//! ```
//!
//! Everything a line callback returns is checked: a count larger than the buffer it
//! was given is `RK_STATUS_BUFFER_OVERFLOW` (nothing past the buffer is read), an
//! unknown status code or `RK_STATUS_PENDING` is `RK_STATUS_UNSUCCESSFUL`, a receive
//! that returns no bytes is a time-out (the engines give up after their retry
//! limits, so a line that stays silent ends the request with an error, never a
//! hang). The callbacks run under the device's serialization lock, as the table's
//! callbacks do (see `rk_reader_functions` for what they
//! may call back into).

use core::ffi::c_void;

use readerkit::Failure;
use readerkit::Protocol;
use readerkit::device::AtrBuffer;
use readerkit::ioctl::PowerAction;
use readerkit::line::{Framing, Line, Reset};
use readerkit::timing::Timing;

use crate::atr::RK_MAX_ATR_LEN;
use crate::callbacks::rk_timing;
use crate::codes::RK_PROTOCOL_NONE;
use crate::status::{callback_result, rk_status};

/// The card's I/O line and contacts, as a C driver for a UART (or any byte-wise)
/// reader provides them: the core's `Line` trait as a table. Every callback gets the
/// `ctx` given to `rk_device_init_line` and returns an
/// `RK_STATUS_*` code: `RK_STATUS_NO_MEDIA` when the card is gone,
/// `RK_STATUS_DEVICE_PROTOCOL_ERROR` for a character received with a parity error,
/// any other status for a reader fault. All but `set_framing` are required.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rk_line_ops {
    /// Reset the card (`reset`: `RK_POWER_COLD_RESET`, activating the contacts
    /// after deactivating them if they were active, or `RK_POWER_WARM_RESET`, with
    /// the contacts kept active) and write the bytes of its answer to reset, as
    /// received, to `atr` (at most `atr_capacity` = 33 bytes) and their count to
    /// `*atr_len`. Afterwards the line runs at the default parameters (F = 372,
    /// D = 1, the reader's default clock).
    pub reset: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            reset: u32,
            atr: *mut u8,
            atr_capacity: usize,
            atr_len: *mut usize,
        ) -> rk_status,
    >,
    /// Deactivate the contacts.
    pub deactivate: Option<unsafe extern "C" fn(ctx: *mut c_void) -> rk_status>,
    /// Send `len` bytes to the card (with the guard time the line is set up for).
    pub send:
        Option<unsafe extern "C" fn(ctx: *mut c_void, bytes: *const u8, len: usize) -> rk_status>,
    /// Receive up to `capacity` bytes into `buf`: the first within `first_us` µs,
    /// each further one within `next_us` µs of the previous; write how many arrived
    /// to `*received` (fewer than asked, 0 included, means the time ran out). Must
    /// return once those times have passed.
    pub receive: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            buf: *mut u8,
            capacity: usize,
            first_us: u32,
            next_us: u32,
            received: *mut usize,
        ) -> rk_status,
    >,
    /// Switch the line to new transmission parameters (after PPS, or when a
    /// protocol starts at the ATR's parameters).
    pub set_timing:
        Option<unsafe extern "C" fn(ctx: *mut c_void, timing: *const rk_timing) -> rk_status>,
    /// Optional (`NULL`: the hardware handles framing itself): the protocol now in
    /// force (`RK_PROTOCOL_T0` or `RK_PROTOCOL_T1`) and the card's extra guard time N
    /// from TC1 in etu of the timing in force (255: the minimum, 12 etu for T=0
    /// and `RK_PROTOCOL_NONE`, 11 etu for T=1; when the ATR indicates T=15, TC1
    /// counts Fi/Di clock cycles and N is their number of etu, rounded up). Called
    /// after `set_timing` whenever a protocol is established, and before a PPS
    /// request with `RK_PROTOCOL_NONE`: TC1's guard time applies to the PPS request too
    /// (ISO/IEC 7816-3 8.3), at the timing since the reset; keep the line's own
    /// turnaround until a protocol is established.
    pub set_framing: Option<
        unsafe extern "C" fn(ctx: *mut c_void, protocol: u32, extra_guard_n: u8) -> rk_status,
    >,
}

/// The C driver's line: the core's [`Line`] over an [`rk_line_ops`] table, built
/// from a table whose required callbacks are all set ([`CLine::new`]), or no line
/// at all ([`CLine::absent`]).
#[derive(Debug)]
pub(crate) struct CLine {
    ops: rk_line_ops,
    ctx: *mut c_void,
}

/// A callback the table lacks: unreachable after [`CLine::new`], a plain error if
/// it were not (and the answer of every callback of [`CLine::absent`]).
const MISSING: Failure = Failure::NotSupported;

impl CLine {
    /// The line over `ops`, or `None` if a required callback is `NULL`.
    pub(crate) fn new(ops: rk_line_ops, ctx: *mut c_void) -> Option<CLine> {
        let complete = ops.reset.is_some()
            && ops.deactivate.is_some()
            && ops.send.is_some()
            && ops.receive.is_some()
            && ops.set_timing.is_some();
        complete.then_some(CLine { ops, ctx })
    }

    /// `true` for [`CLine::absent`]: a device over a callback table.
    pub(crate) fn is_absent(&self) -> bool {
        self.ops.reset.is_none()
    }

    /// No line: the line reader of a device whose power, SET_PROTOCOL and TRANSMIT
    /// come from the C table holds this one and never calls it; every callback
    /// would answer `NotSupported`.
    pub(crate) fn absent() -> CLine {
        CLine {
            ops: rk_line_ops::default(),
            ctx: core::ptr::null_mut(),
        }
    }
}

/// A C callback that answers with the card's ATR: the table's `power`
/// ([`rk_reader_functions`](crate::callbacks::rk_reader_functions)) and the line's
/// `reset` ([`rk_line_ops`]) have this one shape.
pub(crate) type AtrCallback = unsafe extern "C" fn(
    ctx: *mut c_void,
    action: u32,
    atr: *mut u8,
    atr_capacity: usize,
    atr_len: *mut usize,
) -> rk_status;

/// Call `f` for `action` with an ATR buffer of [`RK_MAX_ATR_LEN`] bytes and put the
/// bytes it wrote into `atr`. The count the callback returns is untrusted: one past
/// the buffer is [`Failure::BufferOverflow`] whatever the action (a power-down has
/// no ATR to take, but such a count is still a broken callback), nothing past the
/// buffer is read and `atr` stays as it was.
///
/// # Safety
///
/// `f` is a callback of the C table (or line table) that `ctx` was given with.
pub(crate) unsafe fn call_for_atr(
    f: AtrCallback,
    ctx: *mut c_void,
    action: PowerAction,
    atr: &mut AtrBuffer,
) -> Result<(), Failure> {
    let mut buf = [0u8; RK_MAX_ATR_LEN];
    let mut len = 0usize;
    // SAFETY: `buf` and `len` are valid for the call; the callback and its context
    // per the contract.
    callback_result(unsafe { f(ctx, action.code(), buf.as_mut_ptr(), buf.len(), &mut len) })?;
    let written = buf.get(..len).ok_or(Failure::BufferOverflow)?;
    atr.clear();
    atr.extend_from_slice(written)
        .map_err(|_| Failure::BufferOverflow)
}

impl Line for CLine {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        let f = self.ops.reset.ok_or(MISSING)?;
        // SAFETY: the callback comes from the C line table for this context.
        unsafe { call_for_atr(f, self.ctx, reset.into(), atr) }
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        let f = self.ops.deactivate.ok_or(MISSING)?;
        // SAFETY: the callback comes from the C line table for this context.
        callback_result(unsafe { f(self.ctx) })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let f = self.ops.send.ok_or(MISSING)?;
        // SAFETY: `bytes` is valid for the call; the callback comes from the C line
        // table for this context.
        callback_result(unsafe { f(self.ctx, bytes.as_ptr(), bytes.len()) })
    }

    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        let f = self.ops.receive.ok_or(MISSING)?;
        let mut received = 0usize;
        // SAFETY: `buf` and `received` are valid for the call; the callback comes
        // from the C line table for this context.
        let code = unsafe {
            f(
                self.ctx,
                buf.as_mut_ptr(),
                buf.len(),
                first_us,
                next_us,
                &mut received,
            )
        };
        callback_result(code)?;
        // A count past the buffer is a driver bug (nothing past it is read).
        let arrived = buf.get(..received).ok_or(Failure::BufferOverflow)?;
        Ok(arrived.len())
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        let f = self.ops.set_timing.ok_or(MISSING)?;
        let timing = rk_timing::from(timing);
        // SAFETY: `timing` is valid for the call; the callback comes from the C line
        // table for this context.
        callback_result(unsafe { f(self.ctx, &timing) })
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        let Some(f) = self.ops.set_framing else {
            return Ok(());
        };
        let protocol = framing.protocol.map_or(RK_PROTOCOL_NONE, Protocol::bit);
        // SAFETY: the callback comes from the C line table for this context.
        callback_result(unsafe { f(self.ctx, protocol, framing.extra_guard_n) })
    }
}
