//! The driver's callbacks (reader table, line, keypad, log, sleep and wake
//! steps), driven by the
//! callbacks' byte stream: they fail, answer garbage, claim more bytes than their
//! buffer holds, report card events from inside, or move the simulated card's
//! bytes honestly; and check what the library hands them.

use std::ffi::{c_char, c_void};

use readerkit_c::*;

use super::arena::{R, SIM_SLOT};
use super::field_sizes;
use super::model::{InCallback, Obj, byte, callbacks_exhausted, obj, u16le, u32le, with};
use super::pin::{KeySeen, TransmitSeen};

/// A callback's status: mostly success, else any code (unknown ones included).
pub(crate) fn callback_status() -> rk_status {
    let b = byte();
    let st = if b < 192 {
        RK_STATUS_SUCCESS
    } else {
        u32::from(b % 20)
    };
    with(|h| {
        h.callback_ran = true;
        if st == RK_STATUS_UNSUCCESSFUL || st >= RK_STATUS_PENDING {
            h.callback_unsuccessful = true;
        }
    });
    st
}

/// Fill `buf` (`cap` bytes) with what the fuzzer says and set `*len`: a length
/// that may lie (beyond `cap`).
///
/// # Safety
///
/// `buf` is valid for `cap` bytes, `len` for a write.
pub(crate) unsafe fn answer(buf: *mut u8, cap: usize, len: *mut usize, good: &[u8]) {
    let (n, lie) = match byte() {
        0..=159 => (good.len().min(cap), None),
        160..=223 => (usize::from(byte()).min(cap), None),
        _ => (cap, Some(cap + 1 + usize::from(byte()))),
    };
    for i in 0..n {
        let v = if i < good.len() && n == good.len().min(cap) {
            good[i]
        } else {
            byte()
        };
        // SAFETY: i < n <= cap.
        unsafe { buf.add(i).write(v) };
    }
    // SAFETY: the library's out-pointer.
    unsafe { len.write(lie.unwrap_or(n)) };
}

/// The device in the slot a callback's context names.
pub(crate) fn ctx_dev(ctx: *mut c_void) -> *const rk_device {
    R::slot(ctx as usize).ptr()
}

/// Sometimes report a card event from inside a callback (any code).
pub(crate) fn maybe_event(ctx: *mut c_void) {
    if byte() >= 224 {
        let event = u32::from(byte() % 5);
        // SAFETY: the device whose callback runs.
        let st = unsafe { rk_card_event(ctx_dev(ctx), event) };
        assert!(
            st == RK_STATUS_SUCCESS
                || (st == RK_STATUS_INVALID_PARAMETER && !(1..=3).contains(&event))
        );
        if st == RK_STATUS_SUCCESS {
            with(|h| h.event_posted = true);
        }
    }
    if byte() >= 240 {
        let mut state = 0u32;
        // SAFETY: as above; a local out-pointer.
        let st = unsafe { rk_device_state(ctx_dev(ctx), &mut state) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        assert!(state <= 6);
    }
}

/// A callback's context: the slot of its device, as a pointer.
pub(crate) type Ctx = *mut c_void;

/// A callback's out-pointer for a count.
pub(crate) type Out = *mut usize;

/// An ATR a table device's POWER answers: no interface bytes (T=0), two
/// historical bytes. Shared with the `c_threads` driver.
pub(crate) const ATR_T0: &[u8] = &[0x3B, 0x02, 0x14, 0x50];

/// An ATR a table device's POWER answers: TD1 and TD2 name T=1, IFSC 254, TCK
/// last. Shared with the `c_threads` driver.
pub(crate) const ATR_T1: &[u8] = &[0x3B, 0x80, 0x81, 0x31, 0xFE, 0x45, 0x8B];

/// A table device's POWER and a line device's `reset` (one C signature): the
/// line's resets the simulated card when there is one, or answer an ATR as the
/// fuzzer says.
pub(crate) unsafe extern "C" fn cb_power(
    ctx: Ctx,
    action: u32,
    atr: *mut u8,
    cap: usize,
    len: Out,
) -> rk_status {
    let _cb = InCallback::enter();
    let line = matches!(obj(ctx as usize), Obj::Device { line: true });
    let first = if line {
        RK_POWER_COLD_RESET
    } else {
        RK_POWER_DOWN
    };
    assert!(
        (first..=RK_POWER_WARM_RESET).contains(&action),
        "power {action} (line: {line})"
    );
    assert_eq!(cap, RK_MAX_ATR_LEN);
    maybe_event(ctx);
    if line {
        with(|h| h.framing[ctx as usize] = None);
    }
    match sim() {
        Some(card) if line && byte() < 200 => {
            // SAFETY: the live card; the library's buffer and out-pointer.
            let st = unsafe { rk_sim_power(card, action) };
            assert_eq!(st, RK_STATUS_SUCCESS);
            // SAFETY: as above.
            let st = unsafe { rk_sim_read(card, atr, cap, len) };
            line_status(st)
        }
        _ => {
            let good = if byte() & 1 == 0 { ATR_T0 } else { ATR_T1 };
            // SAFETY: the library's ATR buffer and out-pointer.
            unsafe { answer(atr, cap, len, good) };
            callback_status()
        }
    }
}

pub(crate) unsafe extern "C" fn cb_transmit(
    ctx: *mut c_void,
    call: *const rk_transmit_call,
    reply: *mut u8,
    cap: usize,
    len: *mut usize,
) -> rk_status {
    let _cb = InCallback::enter();
    // SAFETY: valid during the callback.
    let call = unsafe { &*call };
    // SAFETY: the APDU the library hands over, `apdu_len` bytes.
    let apdu = unsafe { std::slice::from_raw_parts(call.apdu, call.apdu_len) };
    assert!(
        apdu.len() >= 4,
        "TRANSMIT callback got a {}-byte APDU",
        apdu.len()
    );
    maybe_event(ctx);
    let deactivated = byte() >= 248;
    if deactivated {
        // SAFETY: the call this callback received.
        let st = unsafe { rk_transmit_report_deactivation(call) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        with(|h| h.deactivated = true);
    }
    // SAFETY: the call this callback received.
    unsafe { field_sizes::report(call) };
    // SAFETY: the library's reply buffer and out-pointer.
    unsafe { answer(reply, cap, len, &[0x90, 0x00]) };
    let status = callback_status();
    // SAFETY: written by `answer` just now; at most `cap` bytes of the reply.
    let (len, reply) = unsafe {
        let n = len.read();
        (n, std::slice::from_raw_parts(reply, n.min(cap)).to_vec())
    };
    let seen = TransmitSeen {
        apdu: apdu.to_vec(),
        status,
        len,
        reply,
        capacity: cap,
        deactivated,
    };
    with(|h| h.transmits.push(seen));
    status
}

pub(crate) unsafe extern "C" fn cb_set_protocol(
    ctx: *mut c_void,
    call: *const rk_protocol_call,
    timing: *mut rk_timing,
) -> rk_status {
    let _cb = InCallback::enter();
    // SAFETY: valid during the callback.
    let c = unsafe { &*call };
    assert!(usize::from(c.pps_len) <= c.pps.len());
    maybe_event(ctx);
    // SAFETY: the library's out-pointer.
    unsafe { timing.write(c.timing) };
    if byte() >= 128 {
        let mut resp = [0u8; 6];
        let n = usize::from(byte()) % 7;
        let echo = byte() < 128;
        for (i, r) in resp.iter_mut().enumerate().take(n) {
            *r = if echo && i < usize::from(c.pps_len) {
                c.pps[i]
            } else {
                byte()
            };
        }
        // SAFETY: `call` as received, a local response, the library's out-pointer.
        let st = unsafe { rk_pps_accept(call, resp.as_ptr(), n, timing) };
        assert!(
            st <= RK_STATUS_DEVICE_PROTOCOL_ERROR && st != RK_STATUS_UNSUCCESSFUL,
            "rk_pps_accept: {st}"
        );
    }
    if byte() >= 240 {
        // A driver that answers a timing of its own, a zero F, D or clock included.
        let pick = |v: u32| if byte() < 128 { 0 } else { v };
        let t = rk_timing {
            f: pick(u32::from(u16le())) as u16,
            d: pick(u32::from(byte())) as u8,
            clock_khz: pick(u32le()),
        };
        // SAFETY: the library's out-pointer.
        unsafe { timing.write(t) };
    }
    if byte() >= 248 {
        // A refused PPS: the driver deactivated the card.
        // SAFETY: the call this callback received.
        let st = unsafe { rk_protocol_report_deactivation(call) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        with(|h| h.deactivated = true);
    }
    let st = callback_status();
    // SAFETY: written by the library or just now.
    let t = unsafe { timing.read() };
    with(|h| {
        h.timing_ok = (st == RK_STATUS_SUCCESS).then_some(t.f != 0 && t.d != 0 && t.clock_khz != 0)
    });
    st
}

pub(crate) unsafe extern "C" fn cb_tracking(ctx: *mut c_void, wait: u32) -> rk_status {
    let _cb = InCallback::enter();
    assert!(wait <= RK_WAIT_REMOVAL);
    maybe_event(ctx);
    callback_status()
}

pub(crate) unsafe extern "C" fn cb_vendor(
    ctx: *mut c_void,
    _code: u32,
    input: *const u8,
    input_len: usize,
    output: *mut u8,
    cap: usize,
    len: *mut usize,
) -> rk_status {
    let _cb = InCallback::enter();
    if input_len > 0 {
        // SAFETY: the input the library hands over.
        let _sum: u32 = unsafe { std::slice::from_raw_parts(input, input_len) }
            .iter()
            .map(|&b| u32::from(b))
            .sum();
    }
    maybe_event(ctx);
    // SAFETY: the library's output buffer and out-pointer.
    unsafe { answer(output, cap, len, &[1, 2, 3]) };
    callback_status()
}

pub(crate) unsafe extern "C" fn cb_mechanism(ctx: *mut c_void) -> rk_status {
    let _cb = InCallback::enter();
    maybe_event(ctx);
    callback_status()
}

pub(crate) unsafe extern "C" fn cb_complete(ctx: *mut c_void, status: rk_status) {
    let _cb = InCallback::enter();
    assert!(
        status <= RK_STATUS_DEVICE_PROTOCOL_ERROR,
        "tracking completed with {status}"
    );
    with(|h| h.outstanding[ctx as usize] -= 1);
}

pub(crate) unsafe extern "C" fn cb_events_pending(_ctx: *mut c_void) {
    let _cb = InCallback::enter();
}

/// The simulated card the line callbacks use, if one lives in `SIM_SLOT`.
pub(crate) fn sim() -> Option<*mut rk_sim_card> {
    (obj(SIM_SLOT) == Obj::Sim).then(|| R::slot(SIM_SLOT).ptr())
}

/// A line callback's status: the card's (honest), or the fuzzer's.
pub(crate) fn line_status(honest: rk_status) -> rk_status {
    if byte() < 200 {
        with(|h| h.callback_ran = true);
        honest
    } else {
        callback_status()
    }
}

pub(crate) unsafe extern "C" fn ln_deactivate(ctx: *mut c_void) -> rk_status {
    let _cb = InCallback::enter();
    maybe_event(ctx);
    with(|h| h.framing[ctx as usize] = None);
    if let Some(card) = sim() {
        // SAFETY: the live card.
        assert_eq!(
            unsafe { rk_sim_power(card, RK_POWER_DOWN) },
            RK_STATUS_SUCCESS
        );
    }
    line_status(RK_STATUS_SUCCESS)
}

pub(crate) unsafe extern "C" fn ln_send(
    ctx: *mut c_void,
    bytes: *const u8,
    len: usize,
) -> rk_status {
    let _cb = InCallback::enter();
    maybe_event(ctx);
    if len > 0 {
        // SAFETY: the library's bytes, `len` of them.
        let sent = unsafe { std::slice::from_raw_parts(bytes, len) }.to_vec();
        with(|h| h.sends.push(sent));
    }
    let st = match sim() {
        // SAFETY: the live card; the library's bytes.
        Some(card) => unsafe { rk_sim_write(card, bytes, len) },
        None => RK_STATUS_SUCCESS,
    };
    line_status(st)
}

pub(crate) unsafe extern "C" fn ln_receive(
    ctx: *mut c_void,
    buf: *mut u8,
    cap: usize,
    _first_us: u32,
    _next_us: u32,
    received: *mut usize,
) -> rk_status {
    let _cb = InCallback::enter();
    maybe_event(ctx);
    match sim() {
        Some(card) if byte() < 224 => {
            // SAFETY: the live card; the library's buffer and out-pointer.
            let st = unsafe { rk_sim_read(card, buf, cap, received) };
            line_status(st)
        }
        // SAFETY: the library's buffer and out-pointer.
        _ => unsafe {
            answer(buf, cap, received, &[]);
            callback_status()
        },
    }
}

pub(crate) unsafe extern "C" fn ln_set_timing(
    _ctx: *mut c_void,
    timing: *const rk_timing,
) -> rk_status {
    let _cb = InCallback::enter();
    // SAFETY: valid during the callback.
    let _ = unsafe { *timing };
    line_status(RK_STATUS_SUCCESS)
}

pub(crate) unsafe extern "C" fn ln_set_framing(
    ctx: *mut c_void,
    protocol: u32,
    _n: u8,
) -> rk_status {
    let _cb = InCallback::enter();
    // RK_PROTOCOL_NONE: the guard time for a PPS request, no protocol yet.
    assert!(
        protocol == RK_PROTOCOL_T0 || protocol == RK_PROTOCOL_T1 || protocol == RK_PROTOCOL_NONE,
        "framing {protocol}"
    );
    let st = line_status(RK_STATUS_SUCCESS);
    let now = (st == RK_STATUS_SUCCESS && protocol != RK_PROTOCOL_NONE).then_some(protocol);
    with(|h| h.framing[ctx as usize] = now);
    st
}

/// The keypad: the fuzzer's keys (past the end of the callbacks' bytes, no key
/// comes: a time-out, so that every entry ends), recorded for the PIN oracle.
pub(crate) unsafe extern "C" fn kp_next_key(_ctx: *mut c_void, timeout_ms: u32) -> u32 {
    let _cb = InCallback::enter();
    let code = if callbacks_exhausted() {
        RK_KEY_NONE
    } else {
        key()
    };
    with(|h| {
        h.callback_ran = true;
        h.keys.push(KeySeen { timeout_ms, code });
    });
    code
}

/// A key code: mostly digits, some Enter, Cancel, Clear, Backspace, none (a
/// time-out) and any value.
fn key() -> u32 {
    match byte() {
        0..=159 => RK_KEY_DIGIT_0 + u32::from(byte() % 10),
        160..=191 => RK_KEY_ENTER,
        192..=199 => RK_KEY_CANCEL,
        200..=207 => RK_KEY_CLEAR,
        208..=215 => RK_KEY_BACKSPACE,
        216..=223 => RK_KEY_NONE,
        _ => u32le(),
    }
}

pub(crate) unsafe extern "C" fn kp_prompt(_ctx: *mut c_void, prompt: u32) {
    let _cb = InCallback::enter();
    assert!(prompt <= RK_PROMPT_CONFIRM_NEW_PIN, "prompt {prompt}");
}

pub(crate) unsafe extern "C" fn log_line(_user: *mut c_void, level: u32, line: *const c_char) {
    let _cb = InCallback::enter();
    assert!(
        (RK_LOG_ERROR..=RK_LOG_TRACE).contains(&level),
        "log level {level}"
    );
    for i in 0..RK_LOG_LINE_MAX {
        // SAFETY: a NUL-terminated line: read up to its NUL (ASan checks the rest).
        if unsafe { *line.add(i) } == 0 {
            return;
        }
    }
    panic!("log line without a NUL within {RK_LOG_LINE_MAX} bytes");
}

/// A sleep or wake step began: counted, and at times a card event reported or a
/// sleep and a wake called back, which the header refuses busy from a step.
fn step(ctx: *mut c_void) {
    with(|h| {
        h.callback_ran = true;
        h.steps += 1;
    });
    maybe_event(ctx);
    if byte() >= 224 {
        let mut card_before = false;
        // SAFETY: the device whose step runs; a local out-pointer.
        let st = unsafe { rk_device_sleep_with(ctx_dev(ctx), Some(pw_sleep), &mut card_before) };
        assert_eq!(
            st, RK_STATUS_DEVICE_BUSY,
            "rk_device_sleep_with from a step"
        );
        // SAFETY: as above.
        let st = unsafe { rk_device_wake_with(ctx_dev(ctx), Some(pw_wake)) };
        assert_eq!(st, RK_STATUS_DEVICE_BUSY, "rk_device_wake_with from a step");
    }
}

/// The driver's sleep step (`rk_device_sleep_with`).
pub(crate) unsafe extern "C" fn pw_sleep(ctx: *mut c_void) {
    let _cb = InCallback::enter();
    step(ctx);
}

/// The driver's wake step (`rk_device_wake_with`): a card in now or not, as the
/// fuzzer says.
pub(crate) unsafe extern "C" fn pw_wake(ctx: *mut c_void) -> bool {
    let _cb = InCallback::enter();
    step(ctx);
    byte() & 1 == 1
}
