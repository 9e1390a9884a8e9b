//! The C ABI (readerkit-c) as a careless C caller uses it, with valid memory only:
//! the fuzzer's bytes choose a sequence of `rk_*` calls over one fixed arena (six
//! aligned storage slots for devices, engines and simulated cards, then a byte
//! area for buffers and out-pointers, guard bytes between them), with pointers and
//! lengths that stay inside the arena: calls in any order (a step before its begin
//! or after its end, deinit twice, a device used after deinit, a storage reused
//! while in use, by the same kind of object or another), storage lengths too small
//! or too big, misaligned storage and out-pointers, buffers that overlap each
//! other or an object, out-of-range codes (power actions, card events, protocols,
//! log levels, sim profiles, statuses), and driver callbacks (the reader table,
//! the line, the keypad) that fail, answer garbage or claim more bytes than their
//! buffer holds, or call back into the device.
//!
//! Input: two bytes (little endian) giving the length of the calls' bytes, the
//! calls' bytes (each call takes its choices from them), then the callbacks' bytes
//! (read past their end: zeros, a driver that succeeds and answers honestly, the
//! line moving the simulated card's bytes). The committed seeds run a line device
//! over the simulated card through POWER, SET_PROTOCOL and TRANSMIT over T=0 and
//! over T=1, and a table device through a pending IS_ABSENT.
//!
//! What the harness never does, because the contract makes it undefined: name
//! bytes that belong to ANOTHER live object (its storage, or the APDU and response
//! buffers an open exchange holds) in a call on some object. Within one call's own
//! objects anything goes: the library promises to refuse the overlap.
//!
//! Checks, after every call:
//! * no panic: libfuzzer-sys's panic hook aborts before `catch_unwind` in the FFI
//!   guard can turn a panic into `RK_STATUS_UNSUCCESSFUL`; and
//!   `RK_STATUS_UNSUCCESSFUL` itself only comes from a call during which a
//!   callback returned it or a code that is no status;
//! * every status is a documented `RK_STATUS_*`, `RK_STATUS_PENDING` only from
//!   IS_PRESENT / IS_ABSENT;
//! * no byte of the arena changed outside the call's own objects and the buffers
//!   and out-pointers it names (the guard bytes included), and a refused call
//!   (`RK_STATUS_INVALID_PARAMETER`, `_INVALID_DEVICE_STATE`, `_DEVICE_BUSY`, a
//!   storage too small) changed nothing at all (an engine step out of order:
//!   nothing but its action, the pending one again); a device request refused without
//!   calling a callback leaves `rk_device_state` as it was;
//! * a storage that holds a live object of any kind is never taken by an init or
//!   begin call (and the objects the harness tracks are exactly the live ones: at
//!   the end each is released with success, and LeakSanitizer sees no leak);
//! * `*bytes_written`, an action's DONE length, `rk_sim_read`'s count and a parsed
//!   ATR's lengths never exceed the buffer given; a SEND action's bytes are
//!   readable; an action is FAILED exactly when the status is a failure;
//! * tracking: each pending request completes exactly once, with a documented
//!   status; log lines are NUL-terminated within `RK_LOG_LINE_MAX` bytes.
#![no_main]

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void};
use std::ptr;

use libfuzzer_sys::fuzz_target;
use readerkit::attr;
use readerkit_c::*;

/// Storage slots: two the size of a device, three of an engine, one of a card;
/// each with room to spare so that a storage length may be too big.
const SLOT_CAP: [usize; 6] = [2112, 2112, 512, 512, 512, 16448];
/// The slot of the simulated card the line devices use.
const SIM_SLOT: usize = 5;
/// Guard bytes after every slot.
const GUARD: usize = 64;
/// The byte area for buffers and out-pointers.
const BUF_LEN: usize = 1024;
/// Calls per input at most.
const MAX_CALLS: usize = 96;

/// Offset of slot `i` in the arena.
const fn slot_off(i: usize) -> usize {
    let mut off = GUARD;
    let mut k = 0;
    while k < i {
        off += SLOT_CAP[k] + GUARD;
        k += 1;
    }
    off
}
const BUF_OFF: usize = slot_off(SLOT_CAP.len());
const ARENA_LEN: usize = BUF_OFF + BUF_LEN + GUARD;

/// A range of the arena; `null`: a NULL pointer (with `len`, which may lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct R {
    off: usize,
    len: usize,
    null: bool,
}

impl R {
    const NONE: R = R {
        off: 0,
        len: 0,
        null: true,
    };

    fn at(off: usize, len: usize) -> R {
        R {
            off,
            len,
            null: false,
        }
    }

    fn slot(i: usize) -> R {
        R::at(slot_off(i), SLOT_CAP[i])
    }

    fn overlaps(self, o: R) -> bool {
        !self.null
            && !o.null
            && self.len != 0
            && o.len != 0
            && self.off < o.off + o.len
            && o.off < self.off + self.len
    }

    fn contains(self, at: usize) -> bool {
        !self.null && self.off <= at && at < self.off + self.len
    }

    /// The pointer and length to hand to a call.
    fn parts(self) -> (*mut u8, usize) {
        (self.ptr(), self.len)
    }

    fn ptr<T>(self) -> *mut T {
        if self.null {
            ptr::null_mut()
        } else {
            arena().wrapping_add(self.off).cast()
        }
    }
}

/// What a slot holds, as the harness tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    Free,
    /// A device (`line`: over the line callbacks, which use the card in `SIM_SLOT`).
    Device {
        line: bool,
    },
    /// A T=0 exchange holding its APDU and response buffer.
    T0 {
        apdu: R,
        resp: R,
    },
    T1Engine {
        busy: bool,
    },
    /// A T=1 transaction borrowing the engine in slot `engine`.
    T1Tx {
        engine: usize,
        apdu: R,
        resp: R,
    },
    Sim,
}

impl Obj {
    /// Bytes nobody but this object's own calls may name: written by nobody else
    /// (`excl` and `shared`), read by nobody else (`excl`).
    fn regions(self, slot: usize) -> ([R; 2], R) {
        match self {
            Obj::Free => ([R::NONE; 2], R::NONE),
            Obj::T0 { apdu, resp } | Obj::T1Tx { apdu, resp, .. } => ([R::slot(slot), resp], apdu),
            _ => ([R::slot(slot), R::NONE], R::NONE),
        }
    }
}

/// Everything the callbacks and the driving loop share (never borrowed across a
/// C call).
struct Harness {
    /// The calls' bytes and how far they were read.
    data: Vec<u8>,
    pos: usize,
    /// The callbacks' bytes (read past their end: zeros, an honest driver that
    /// succeeds) and how far they were read.
    cb_data: Vec<u8>,
    cb_pos: usize,
    /// Callbacks running now (their bytes come from `cb_data`).
    in_callback: u32,
    slots: [Obj; 6],
    /// Pending tracking requests per slot, minus completions.
    outstanding: [i32; 6],
    /// A callback of the current call ran / returned UNSUCCESSFUL or no status.
    callback_ran: bool,
    callback_unsuccessful: bool,
}

impl Harness {
    /// Nothing live yet, the calls' and the callbacks' bytes unread.
    const fn new(data: Vec<u8>, cb_data: Vec<u8>) -> Harness {
        Harness {
            data,
            pos: 0,
            cb_data,
            cb_pos: 0,
            in_callback: 0,
            slots: [Obj::Free; 6],
            outstanding: [0; 6],
            callback_ran: false,
            callback_unsuccessful: false,
        }
    }
}

thread_local! {
    static ARENA: Cell<*mut u8> = const { Cell::new(ptr::null_mut()) };
    static H: RefCell<Harness> = const { RefCell::new(Harness::new(Vec::new(), Vec::new())) };
}

fn arena() -> *mut u8 {
    ARENA.with(Cell::get)
}

fn with<T>(f: impl FnOnce(&mut Harness) -> T) -> T {
    H.with(|h| f(&mut h.borrow_mut()))
}

/// The next byte of the calls' stream, or of the callbacks' inside a callback.
fn byte() -> u8 {
    with(|h| {
        let (data, pos) = if h.in_callback > 0 {
            (&h.cb_data, &mut h.cb_pos)
        } else {
            (&h.data, &mut h.pos)
        };
        let b = data.get(*pos).copied().unwrap_or(0);
        *pos += 1;
        b
    })
}

/// While a callback runs: the bytes it reads come from the callbacks' stream.
struct InCallback;

impl InCallback {
    fn enter() -> InCallback {
        with(|h| h.in_callback += 1);
        InCallback
    }
}

impl Drop for InCallback {
    fn drop(&mut self) {
        with(|h| h.in_callback -= 1);
    }
}

fn u16le() -> u16 {
    u16::from_le_bytes([byte(), byte()])
}

fn u32le() -> u32 {
    u32::from_le_bytes([byte(), byte(), byte(), byte()])
}

fn exhausted() -> bool {
    with(|h| h.pos >= h.data.len())
}

fn obj(slot: usize) -> Obj {
    with(|h| h.slots[slot])
}

fn set_obj(slot: usize, o: Obj) {
    with(|h| h.slots[slot] = o);
}

/// A buffer: mostly in the byte area, sometimes anywhere in the arena (over an
/// object), sometimes NULL (with a length that may lie).
fn buffer() -> R {
    let mode = byte();
    let a = usize::from(u16le());
    let b = usize::from(u16le());
    match mode {
        0..=7 => R {
            off: 0,
            len: b % 4,
            null: true,
        },
        8..=23 => {
            let off = a % ARENA_LEN;
            R::at(off, b % (ARENA_LEN - off).min(300) + 1)
        }
        _ => {
            let off = a % BUF_LEN;
            R::at(BUF_OFF + off, b % (BUF_LEN - off + 1))
        }
    }
}

/// An out-pointer for a `T`: mostly aligned in the byte area, sometimes misaligned,
/// sometimes NULL, sometimes inside an object.
fn out<T>() -> R {
    let size = size_of::<T>();
    let align = align_of::<T>();
    let mode = byte();
    let a = usize::from(u16le());
    match mode {
        0..=11 => R::NONE,
        12..=27 => {
            let off = a % (ARENA_LEN - size);
            R::at(off, size)
        }
        28..=59 => R::at(BUF_OFF + a % (BUF_LEN - size), size),
        _ => R::at(BUF_OFF + (a % (BUF_LEN - size)) / align * align, size),
    }
}

/// A slot pointer for a call on an object: its slot, rarely misaligned or NULL.
fn object(slot: usize) -> R {
    match byte() {
        0..=3 => R::NONE,
        4..=9 => R::at(slot_off(slot) + usize::from(byte() % 7) + 1, 8),
        _ => R::at(slot_off(slot), 8),
    }
}

/// Storage and its length for an init call in `slot`: the right length, the
/// documented size, or any length the slot really has; rarely misaligned.
fn storage(slot: usize, documented: usize) -> (R, usize) {
    let cap = SLOT_CAP[slot];
    let mis = if byte() < 8 {
        usize::from(byte() % 7) + 1
    } else {
        0
    };
    let len = match byte() {
        0..=191 => cap - mis,
        192..=223 => documented.min(cap - mis),
        _ => usize::from(u16le()) % (cap - mis + 1),
    };
    (R::at(slot_off(slot) + mis, len), len)
}

fn pick_slot() -> usize {
    usize::from(byte()) % SLOT_CAP.len()
}

/// Whether a call on `own` slots may name `reads` and `writes`: nothing of
/// another live object (that would be undefined behaviour by contract, not a
/// careless use the library can see).
fn permitted(own: &[usize], reads: &[R], writes: &[R]) -> bool {
    with(|h| {
        h.slots
            .iter()
            .enumerate()
            .filter(|(i, _)| !own.contains(i))
            .all(|(i, o)| {
                let (excl, shared) = o.regions(i);
                let hit = |r: &R| excl.iter().any(|e| e.overlaps(*r));
                !reads.iter().any(hit) && !writes.iter().any(|w| hit(w) || w.overlaps(shared))
            })
    })
}

fn snapshot() -> Vec<u8> {
    // SAFETY: the arena is ARENA_LEN bytes; a copy by raw pointer.
    unsafe { std::slice::from_raw_parts(arena(), ARENA_LEN) }.to_vec()
}

/// Assert that every byte changed since `before` lies in one of `allowed`.
fn check_writes(what: &str, st: rk_status, before: &[u8], allowed: &[R]) {
    // SAFETY: as in `snapshot`.
    let now = unsafe { std::slice::from_raw_parts(arena(), ARENA_LEN) };
    // Whole chunks first (one memcmp each, not a comparison per byte the
    // coverage instrumentation would trace), then the bytes of a chunk that differs.
    for (c, (b, n)) in before.chunks(256).zip(now.chunks(256)).enumerate() {
        if b == n {
            continue;
        }
        for at in (0..b.len()).filter(|&i| b[i] != n[i]).map(|i| c * 256 + i) {
            assert!(
                allowed.iter().any(|r| r.contains(at)),
                "{what} (status {st}): byte {at} of the arena written outside {allowed:?}"
            );
        }
    }
}

fn read<T: Copy>(r: R) -> T {
    // SAFETY: `r` lies in the arena; T is plain data read unaligned.
    unsafe { ptr::read_unaligned(r.ptr::<T>()) }
}

fn usable_out<T>(r: R) -> bool {
    !r.null && (arena() as usize + r.off).is_multiple_of(align_of::<T>())
}

/// The statuses a call refuses with, changing nothing.
fn refused(st: rk_status) -> bool {
    matches!(
        st,
        RK_STATUS_INVALID_PARAMETER | RK_STATUS_INVALID_DEVICE_STATE | RK_STATUS_DEVICE_BUSY
    )
}

/// Start of a call: reset the callback flags.
fn begin_call() {
    with(|h| {
        h.callback_ran = false;
        h.callback_unsuccessful = false;
    });
}

/// The checks every status gets.
fn check_status(what: &str, st: rk_status, pending_ok: bool) {
    assert!(st <= RK_STATUS_PENDING, "{what}: undocumented status {st}");
    assert!(pending_ok || st != RK_STATUS_PENDING, "{what}: PENDING");
    if st == RK_STATUS_UNSUCCESSFUL {
        assert!(
            with(|h| h.callback_unsuccessful),
            "{what}: UNSUCCESSFUL (a panic?) with no callback saying so"
        );
    }
}

/// A callback's status: mostly success, else any code (unknown ones included).
fn callback_status() -> rk_status {
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
unsafe fn answer(buf: *mut u8, cap: usize, len: *mut usize, good: &[u8]) {
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
fn ctx_dev(ctx: *mut c_void) -> *const rk_device {
    R::slot(ctx as usize).ptr()
}

/// Sometimes report a card event from inside a callback (any code).
fn maybe_event(ctx: *mut c_void) {
    if byte() >= 224 {
        let event = u32::from(byte() % 5);
        // SAFETY: the device whose callback runs.
        let st = unsafe { rk_card_event(ctx_dev(ctx), event) };
        assert!(
            st == RK_STATUS_SUCCESS
                || (st == RK_STATUS_INVALID_PARAMETER && !(1..=3).contains(&event))
        );
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
type Ctx = *mut c_void;
/// A callback's out-pointer for a count.
type Out = *mut usize;

const ATR_T0: &[u8] = &[0x3B, 0x02, 0x14, 0x50];
const ATR_T1: &[u8] = &[0x3B, 0x80, 0x81, 0x31, 0xFE, 0x45, 0x00, 0x71];

/// A table device's POWER and a line device's `reset` (one C signature): the
/// line's resets the simulated card when there is one, or answer an ATR as the
/// fuzzer says.
unsafe extern "C" fn cb_power(
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

unsafe extern "C" fn cb_transmit(
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
    // SAFETY: the library's reply buffer and out-pointer.
    unsafe { answer(reply, cap, len, &[0x90, 0x00]) };
    callback_status()
}

unsafe extern "C" fn cb_set_protocol(
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
    callback_status()
}

unsafe extern "C" fn cb_tracking(ctx: *mut c_void, wait: u32) -> rk_status {
    let _cb = InCallback::enter();
    assert!(wait <= RK_WAIT_REMOVAL);
    maybe_event(ctx);
    callback_status()
}

unsafe extern "C" fn cb_vendor(
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

unsafe extern "C" fn cb_mechanism(ctx: *mut c_void) -> rk_status {
    let _cb = InCallback::enter();
    maybe_event(ctx);
    callback_status()
}

unsafe extern "C" fn cb_complete(ctx: *mut c_void, status: rk_status) {
    let _cb = InCallback::enter();
    assert!(
        status <= RK_STATUS_DEVICE_PROTOCOL_ERROR,
        "tracking completed with {status}"
    );
    with(|h| h.outstanding[ctx as usize] -= 1);
}

unsafe extern "C" fn cb_events_pending(_ctx: *mut c_void) {
    let _cb = InCallback::enter();
}

/// The simulated card the line callbacks use, if one lives in `SIM_SLOT`.
fn sim() -> Option<*mut rk_sim_card> {
    (obj(SIM_SLOT) == Obj::Sim).then(|| R::slot(SIM_SLOT).ptr())
}

/// A line callback's status: the card's (honest), or the fuzzer's.
fn line_status(honest: rk_status) -> rk_status {
    if byte() < 200 {
        with(|h| h.callback_ran = true);
        honest
    } else {
        callback_status()
    }
}

unsafe extern "C" fn ln_deactivate(ctx: *mut c_void) -> rk_status {
    let _cb = InCallback::enter();
    maybe_event(ctx);
    if let Some(card) = sim() {
        // SAFETY: the live card.
        assert_eq!(
            unsafe { rk_sim_power(card, RK_POWER_DOWN) },
            RK_STATUS_SUCCESS
        );
    }
    line_status(RK_STATUS_SUCCESS)
}

unsafe extern "C" fn ln_send(ctx: *mut c_void, bytes: *const u8, len: usize) -> rk_status {
    let _cb = InCallback::enter();
    maybe_event(ctx);
    let st = match sim() {
        // SAFETY: the live card; the library's bytes.
        Some(card) => unsafe { rk_sim_write(card, bytes, len) },
        None => RK_STATUS_SUCCESS,
    };
    line_status(st)
}

unsafe extern "C" fn ln_receive(
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

unsafe extern "C" fn ln_set_timing(_ctx: *mut c_void, timing: *const rk_timing) -> rk_status {
    let _cb = InCallback::enter();
    // SAFETY: valid during the callback.
    let _ = unsafe { *timing };
    line_status(RK_STATUS_SUCCESS)
}

unsafe extern "C" fn ln_set_framing(_ctx: *mut c_void, protocol: u32, _n: u8) -> rk_status {
    let _cb = InCallback::enter();
    assert!(
        protocol == RK_PROTOCOL_T0 || protocol == RK_PROTOCOL_T1,
        "framing {protocol}"
    );
    line_status(RK_STATUS_SUCCESS)
}

unsafe extern "C" fn kp_next_key(_ctx: *mut c_void, _timeout_ms: u32) -> u32 {
    let _cb = InCallback::enter();
    with(|h| h.callback_ran = true);
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

unsafe extern "C" fn kp_prompt(_ctx: *mut c_void, prompt: u32) {
    let _cb = InCallback::enter();
    assert!(prompt <= RK_PROMPT_CONFIRM_NEW_PIN, "prompt {prompt}");
}

unsafe extern "C" fn log_line(_user: *mut c_void, level: u32, line: *const c_char) {
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

/// A reader table: each callback present or not, as the fuzzer says.
fn table(line: bool) -> rk_reader_functions {
    let f = u16le();
    let on = |bit: u16| f & (1 << bit) != 0;
    rk_reader_functions {
        power: (on(0) && !line).then_some(cb_power as _),
        transmit: (on(1) && !line).then_some(cb_transmit as _),
        set_protocol: (on(2) && !line).then_some(cb_set_protocol as _),
        card_tracking: on(3).then_some(cb_tracking as _),
        vendor_ioctl: on(4).then_some(cb_vendor as _),
        eject: on(5).then_some(cb_mechanism as _),
        swallow: on(6).then_some(cb_mechanism as _),
        confiscate: on(7).then_some(cb_mechanism as _),
        tracking_complete: (!on(8)).then_some(cb_complete as _),
        events_pending: on(9).then_some(cb_events_pending as _),
    }
}

fn line_ops() -> rk_line_ops {
    rk_line_ops {
        reset: Some(cb_power),
        deactivate: Some(ln_deactivate),
        send: Some(ln_send),
        receive: Some(ln_receive),
        set_timing: Some(ln_set_timing),
        set_framing: (byte() & 1 == 0).then_some(ln_set_framing as _),
    }
}

fn caps() -> rk_reader_caps {
    let mut caps: rk_reader_caps = unsafe_zeroed();
    // SAFETY: a local out-pointer.
    assert_eq!(
        unsafe { rk_reader_caps_typical(&mut caps) },
        RK_STATUS_SUCCESS
    );
    match byte() {
        0..=223 => {}
        224..=231 => caps.max_ifsd = byte(),
        232..=239 => caps.protocols = u32le(),
        _ => caps.default_clock_khz = u32le(),
    }
    caps
}

fn unsafe_zeroed<T: Copy>() -> T {
    // SAFETY: only used for plain C structs of integers, for which zero is valid.
    unsafe { std::mem::zeroed() }
}

const VENDOR: &[u8] = b"readerkit fuzz\0";
const TOO_LONG: &[u8] = b"a vendor name longer than thirty-two bytes\0";

/// IOCTL codes: the smart card ones, part 10's, a vendor one, anything.
fn ioctl_code() -> u32 {
    let ctl = |f: u32| 0x0031_0000 | (f << 2);
    match byte() % 16 {
        0 => RK_IOCTL_POWER,
        1 => RK_IOCTL_GET_ATTRIBUTE,
        2 => RK_IOCTL_SET_ATTRIBUTE,
        3 => RK_IOCTL_CONFISCATE,
        4 => RK_IOCTL_TRANSMIT,
        5 => RK_IOCTL_EJECT,
        6 => RK_IOCTL_SWALLOW,
        7 => RK_IOCTL_IS_PRESENT,
        8 => RK_IOCTL_IS_ABSENT,
        9 => RK_IOCTL_SET_PROTOCOL,
        10 => RK_IOCTL_GET_STATE,
        11 => RK_IOCTL_GET_LAST_ERROR,
        12 => ctl(3400),
        13 => ctl(RK_FN_VERIFY_PIN_DIRECT + u32::from(byte() & 1)),
        14 => ctl(2048 + u32::from(u16le()) % 2048),
        _ => u32le(),
    }
}

/// Write what a careful caller puts in the input of `code` at the start of
/// `input` (in the byte area, owned by no live object) and give its length (or
/// a longer one); `input` unchanged otherwise.
fn well_formed_input(code: u32, input: R) -> R {
    let mut bytes = Vec::new();
    let word = |v: u32, b: &mut Vec<u8>| b.extend_from_slice(&v.to_le_bytes());
    match code {
        RK_IOCTL_POWER => word(u32::from(byte() % 3), &mut bytes),
        RK_IOCTL_SET_PROTOCOL => {
            let masks = [
                RK_PROTOCOL_T0,
                RK_PROTOCOL_T1,
                3,
                RK_PROTOCOL_DEFAULT | 3,
                RK_PROTOCOL_RAW,
            ];
            word(masks[usize::from(byte()) % masks.len()], &mut bytes);
        }
        RK_IOCTL_GET_ATTRIBUTE | RK_IOCTL_SET_ATTRIBUTE => {
            let ids = [
                attr::ATR_STRING,
                attr::CURRENT_PROTOCOL_TYPE,
                attr::VENDOR_NAME,
                attr::CURRENT_IFSD,
                u32le(),
            ];
            word(ids[usize::from(byte()) % ids.len()], &mut bytes);
            let n = usize::from(byte() % 8);
            bytes.extend((0..n).map(|_| byte()));
        }
        RK_IOCTL_TRANSMIT => {
            // SCARD_IO_REQUEST (protocol, its length 8), then the APDU.
            word(u32::from(byte() % 3), &mut bytes);
            word(8, &mut bytes);
            bytes.extend_from_slice(&[0x00, 0x84, 0x00, 0x00, byte() % 9]);
        }
        _ => return input,
    }
    if input.null || input.off < BUF_OFF || input.off + bytes.len() > BUF_OFF + BUF_LEN {
        return input;
    }
    let r = R::at(input.off, bytes.len());
    if !permitted(&[], &[], &[r]) {
        return input;
    }
    for (i, b) in bytes.iter().enumerate() {
        // SAFETY: inside the byte area, owned by no live object.
        unsafe { r.ptr::<u8>().add(i).write(*b) };
    }
    R::at(r.off, bytes.len() + usize::from(byte() >= 240))
}

/// The device state through a local out-pointer, or None if `slot` holds none.
fn device_state(slot: usize) -> Option<u32> {
    if !matches!(obj(slot), Obj::Device { .. }) {
        return None;
    }
    let mut state = 0u32;
    // SAFETY: a live device; a local out-pointer.
    let st = unsafe { rk_device_state(R::slot(slot).ptr(), &mut state) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    Some(state)
}

/// What a call is, for its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any call: refuses with `refused` statuses.
    Plain,
    /// A step of an engine (`live`: the harness has one open there): a step out
    /// of order is refused with `RK_STATUS_INVALID_DEVICE_STATE`, changes nothing
    /// (the engine's storage and the buffers it holds stay as they were) and
    /// writes only its action, the pending one again, not a FAILED one of its own.
    Step { live: bool },
    /// `rk_device_control`: may answer PENDING; its failures are outcomes of the
    /// request (`*bytes_written` set to 0), except when `must_refuse`: the
    /// harness sees a broken precondition (no live device, a misaligned
    /// `bytes_written`, overlapping buffers, NULL with a length), and then
    /// nothing at all may change.
    Request { must_refuse: bool },
    /// An init, a begin, an ATR parse: every failure is a refusal (nothing stored, nothing
    /// written).
    Begin,
}

/// What a call names: its own slots, the bytes it reads and writes, what else it
/// may write (held buffers, the card the line uses), and what kind of call it is.
#[derive(Clone, Copy)]
struct Site<'a> {
    own: &'a [usize],
    reads: &'a [R],
    writes: &'a [R],
    extra: &'a [R],
    kind: Kind,
}

impl<'a> Site<'a> {
    /// A plain call on `own` slots that names nothing else.
    fn on(own: &'a [usize]) -> Site<'a> {
        Site {
            own,
            reads: &[],
            writes: &[],
            extra: &[],
            kind: Kind::Plain,
        }
    }

    fn reads(self, reads: &'a [R]) -> Site<'a> {
        Site { reads, ..self }
    }

    fn writes(self, writes: &'a [R]) -> Site<'a> {
        Site { writes, ..self }
    }

    fn extra(self, extra: &'a [R]) -> Site<'a> {
        Site { extra, ..self }
    }

    fn kind(self, kind: Kind) -> Site<'a> {
        Site { kind, ..self }
    }

    /// Run the call `f` (see [`call`]).
    fn run(self, what: &str, f: impl FnOnce() -> rk_status) -> Option<rk_status> {
        call(what, self, f)
    }
}

/// Run one call on `own` slots that names `reads` and `writes`; `extra`: what
/// else it may write (held buffers, the card the line uses). Checks the status,
/// the arena and, for a refusal, that nothing changed.
fn call(what: &str, site: Site<'_>, f: impl FnOnce() -> rk_status) -> Option<rk_status> {
    let Site {
        own,
        reads,
        writes,
        extra,
        kind,
    } = site;
    if !permitted(own, reads, writes) {
        return None;
    }
    let before = snapshot();
    begin_call();
    let st = f();
    check_status(what, st, matches!(kind, Kind::Request { .. }));
    let refusal = match kind {
        Kind::Plain => refused(st),
        Kind::Step { live } => {
            matches!(st, RK_STATUS_INVALID_PARAMETER | RK_STATUS_DEVICE_BUSY)
                || (!live && st == RK_STATUS_INVALID_DEVICE_STATE)
        }
        Kind::Begin => st != RK_STATUS_SUCCESS,
        Kind::Request { must_refuse } => {
            if must_refuse {
                assert!(
                    matches!(
                        st,
                        RK_STATUS_INVALID_PARAMETER | RK_STATUS_INVALID_DEVICE_STATE
                    ),
                    "{what}: {st} for a call that breaks a precondition"
                );
            }
            must_refuse
        }
    };
    let quiet_refusal = refusal && !with(|h| h.callback_ran);
    let step_refused = kind == (Kind::Step { live: true }) && st == RK_STATUS_INVALID_DEVICE_STATE;
    let mut allowed: Vec<R> = Vec::new();
    if step_refused {
        // State intact: only the action may be written, and it is the pending
        // action, not this call's failure.
        allowed.extend_from_slice(writes);
        if let Some(&action) = writes.first().filter(|a| usable_out::<rk_action>(**a)) {
            let a: rk_action = read(action);
            assert!(
                a.kind <= RK_ACTION_FAILED && !(a.kind == RK_ACTION_FAILED && a.status == st),
                "{what}: refused step wrote {a:?}"
            );
        }
    } else if !quiet_refusal {
        allowed.extend(own.iter().map(|&s| R::slot(s)));
        allowed.extend_from_slice(writes);
        allowed.extend_from_slice(extra);
    }
    check_writes(what, st, &before, &allowed);
    Some(st)
}

/// The model after an init or begin that succeeded in `slot`: the slot held no
/// live object (of any kind) before.
fn took(what: &str, slot: usize, st: rk_status, o: Obj) {
    if st == RK_STATUS_SUCCESS {
        let was = obj(slot);
        assert_eq!(
            was,
            Obj::Free,
            "{what} took slot {slot}, which holds a live {was:?}"
        );
        set_obj(slot, o);
    }
}

fn op_device_init(line: bool) {
    let slot = pick_slot();
    let (st_r, len) = storage(slot, RK_DEVICE_STORAGE_SIZE);
    let table = table(line);
    let with_table = !line || byte() & 1 == 0;
    let lops = line_ops();
    let caps = caps();
    let vendor = rk_vendor_attrs {
        vendor_name: VENDOR.as_ptr().cast(),
        ifd_type: if byte() < 16 {
            TOO_LONG.as_ptr().cast()
        } else {
            ptr::null()
        },
        serial_number: ptr::null(),
        unit: 0,
        ifd_version: 0x0100_0000,
    };
    let ctx = slot as *mut c_void;
    let what = if line {
        "rk_device_init_line"
    } else {
        "rk_device_init"
    };
    let st = Site::on(&[slot])
        .writes(&[st_r])
        .kind(Kind::Begin)
        .run(what, || {
            let storage = st_r.ptr::<rk_device>();
            // SAFETY: storage of `len` bytes in the arena; local table, line, caps and
            // vendor attributes with static strings.
            unsafe {
                if line {
                    let t = if with_table {
                        &table as *const _
                    } else {
                        ptr::null()
                    };
                    rk_device_init_line(storage, len, &lops, t, ctx, &caps, &vendor)
                } else {
                    rk_device_init(storage, len, &table, ctx, &caps, &vendor)
                }
            }
        });
    if let Some(st) = st {
        took(what, slot, st, Obj::Device { line });
        if st == RK_STATUS_SUCCESS {
            with(|h| h.outstanding[slot] = 0);
        }
    }
}

/// What a device call may write besides its storage: the card its line uses.
fn device_extra(slot: usize) -> Vec<R> {
    match obj(slot) {
        Obj::Device { line: true } if obj(SIM_SLOT) == Obj::Sim => vec![R::slot(SIM_SLOT)],
        _ => vec![],
    }
}

fn check_outstanding(slot: usize) {
    let n = with(|h| h.outstanding[slot]);
    assert!(
        n == 0 || n == 1,
        "slot {slot}: {n} tracking requests outstanding"
    );
}

fn op_device(kind: u8) {
    let slot = pick_slot();
    let dev = object(slot);
    let own: &[usize] = &[slot];
    let extra = device_extra(slot);
    let state_before = device_state(slot);
    // Whether a refusal leaves everything as it was (device_control: only when
    // the harness sees a broken precondition).
    let refusal_expected = Cell::new(true);
    let site = Site::on(own).extra(&extra);
    let st = match kind % 7 {
        0 => {
            let code = ioctl_code();
            let mut input = buffer();
            if byte() < 192 {
                input = well_formed_input(code, input);
            }
            let output = buffer();
            let bw = out::<usize>();
            let before: usize = if bw.null { 0 } else { read(bw) };
            let live = matches!(obj(slot), Obj::Device { .. }) && dev.off == slot_off(slot);
            let null_with_len = |r: R| r.null && r.len != 0;
            let must_refuse = !live
                || (!bw.null && !usable_out::<usize>(bw))
                || input.overlaps(output)
                || bw.overlaps(input)
                || bw.overlaps(output)
                || null_with_len(input)
                || null_with_len(output);
            refusal_expected.set(must_refuse);
            let (reads, writes) = ([input], [output, bw]);
            let site = site.reads(&reads).writes(&writes);
            let ((i, n), (o, m)) = (input.parts(), output.parts());
            let site = site.kind(Kind::Request { must_refuse });
            let st = site.run("rk_device_control", || {
                // SAFETY: arena memory for every buffer and out-pointer.
                unsafe { rk_device_control(dev.ptr(), code, i, n, o, m, bw.ptr()) }
            });
            if let Some(st) = st {
                if st == RK_STATUS_PENDING {
                    with(|h| h.outstanding[slot] += 1);
                }
                if usable_out::<usize>(bw) && !bw.overlaps(output) {
                    let n: usize = read(bw);
                    assert!(
                        n <= output.len || n == before,
                        "bytes_written {n} > output {}",
                        output.len
                    );
                }
            }
            st
        }
        1 => {
            let event = match byte() {
                0..=191 => u32::from(byte() % 3) + 1,
                _ => u32le(),
            };
            // SAFETY: the slot pointer in the arena.
            site.run("rk_card_event", || unsafe {
                rk_card_event(dev.ptr(), event)
            })
        }
        // SAFETY: as above.
        2 => site.run("rk_process_events", || unsafe {
            rk_process_events(dev.ptr())
        }),
        3 => {
            let writes = [out::<bool>()];
            // SAFETY: as above; an out-pointer in the arena.
            let cancel = || unsafe { rk_cancel_tracking(dev.ptr(), writes[0].ptr()) };
            site.writes(&writes).run("rk_cancel_tracking", cancel)
        }
        4 => {
            let writes = [out::<u32>()];
            let [state] = writes;
            // SAFETY: as above.
            let get = || unsafe { rk_device_state(dev.ptr(), state.ptr()) };
            let st = site.writes(&writes).run("rk_device_state", get);
            if st == Some(RK_STATUS_SUCCESS) {
                let s: u32 = read(state);
                assert!(s <= 6, "state {s}");
            }
            st
        }
        5 => {
            let ops = rk_keypad_ops {
                next_key: (byte() >= 8).then_some(kp_next_key as _),
                prompt: (byte() & 1 == 0).then_some(kp_prompt as _),
                min_pin_digits: byte() % 10,
                max_pin_digits: byte() % 20,
            };
            // SAFETY: as above; local ops.
            site.run("rk_device_set_keypad", || unsafe {
                rk_device_set_keypad(dev.ptr(), &ops)
            })
        }
        _ => {
            // SAFETY: as above.
            let st = site.run("rk_device_deinit", || unsafe {
                rk_device_deinit(dev.ptr())
            });
            if st == Some(RK_STATUS_SUCCESS) {
                assert!(
                    matches!(obj(slot), Obj::Device { .. }),
                    "deinit of a device that is not there"
                );
                assert_eq!(
                    with(|h| h.outstanding[slot]),
                    0,
                    "deinit left tracking uncompleted"
                );
                set_obj(slot, Obj::Free);
            }
            st
        }
    };
    if let Some(st) = st
        && matches!(obj(slot), Obj::Device { .. })
    {
        check_outstanding(slot);
        if refused(st) && refusal_expected.get() && !with(|h| h.callback_ran) {
            assert_eq!(
                device_state(slot),
                state_before,
                "a refused call changed the state"
            );
        }
    }
}

/// Check an action written by a call that was not refused.
fn check_action(what: &str, st: rk_status, action: R, resp: R) {
    let begin = what.ends_with("_begin");
    if refused(st) || (begin && st != RK_STATUS_SUCCESS) || !usable_out::<rk_action>(action) {
        return;
    }
    let a: rk_action = read(action);
    assert!(a.kind <= RK_ACTION_FAILED, "{what}: action kind {}", a.kind);
    assert_eq!(
        a.kind == RK_ACTION_FAILED,
        st != RK_STATUS_SUCCESS,
        "{what}: action {a:?} with status {st}"
    );
    match a.kind {
        RK_ACTION_FAILED => assert_eq!(a.status, st),
        RK_ACTION_DONE => assert!(
            a.len <= resp.len,
            "{what}: DONE with {} bytes of {}",
            a.len,
            resp.len
        ),
        RK_ACTION_SEND => {
            assert!(!a.data.is_null() && a.len > 0, "{what}: empty SEND");
            // SAFETY: the library says `len` bytes at `data` are readable (ASan checks).
            let _sum: u32 = unsafe { std::slice::from_raw_parts(a.data, a.len) }
                .iter()
                .map(|&b| u32::from(b))
                .sum();
        }
        _ => {}
    }
}

/// The held regions of the engine in `slot` (its response buffer is written by
/// its calls).
fn held(slot: usize) -> (R, R) {
    match obj(slot) {
        Obj::T0 { apdu, resp } | Obj::T1Tx { apdu, resp, .. } => (apdu, resp),
        _ => (R::NONE, R::NONE),
    }
}

/// Whether `ptr` is the T=0 exchange the harness has open in `slot`.
fn t0_live(slot: usize, ptr: R) -> bool {
    matches!(obj(slot), Obj::T0 { .. }) && ptr.off == slot_off(slot) && !ptr.null
}

/// Whether `ptr` is the T=1 transaction the harness has open in `slot`.
fn t1_live(slot: usize, ptr: R) -> bool {
    matches!(obj(slot), Obj::T1Tx { .. }) && ptr.off == slot_off(slot) && !ptr.null
}

fn op_t0(kind: u8) {
    let slot = pick_slot();
    let action = out::<rk_action>();
    let k = kind % 5;
    if k == 0 {
        return t0_begin(slot, action);
    }
    let ex = object(slot);
    let (own, writes, extra) = ([slot], [action], [held(slot).1]);
    let step = Site::on(&own).writes(&writes).extra(&extra);
    let step = step.kind(Kind::Step {
        live: t0_live(slot, ex),
    });
    let (what, st) = match k {
        1 => ("rk_t0_sent", {
            // SAFETY: arena memory.
            step.run("rk_t0_sent", || unsafe {
                rk_t0_sent(ex.ptr(), action.ptr())
            })
        }),
        2 => ("rk_t0_feed", {
            let reads = [buffer()];
            let [data] = reads;
            // SAFETY: arena memory.
            let feed = || unsafe { rk_t0_feed(ex.ptr(), data.ptr(), data.len, action.ptr()) };
            step.reads(&reads).run("rk_t0_feed", feed)
        }),
        3 => ("rk_t0_timeout", {
            // SAFETY: arena memory.
            step.run("rk_t0_timeout", || unsafe {
                rk_t0_timeout(ex.ptr(), action.ptr())
            })
        }),
        _ => {
            // SAFETY: arena memory.
            let st = Site::on(&own).run("rk_t0_end", || unsafe { rk_t0_end(ex.ptr()) });
            if st == Some(RK_STATUS_SUCCESS) {
                assert!(
                    matches!(obj(slot), Obj::T0 { .. }),
                    "rk_t0_end on {:?}",
                    obj(slot)
                );
                set_obj(slot, Obj::Free);
            }
            return;
        }
    };
    if let Some(st) = st {
        check_action(what, st, action, extra[0]);
    }
}

fn t0_begin(slot: usize, action: R) {
    let (ex, len) = storage(slot, RK_T0_STORAGE_SIZE);
    let (apdu, response) = (buffer(), buffer());
    let config = if byte() < 64 {
        out::<rk_t0_config>()
    } else {
        R::NONE
    };
    let (own, reads, writes) = ([slot], [apdu, config], [response, action, ex]);
    let site = Site::on(&own)
        .reads(&reads)
        .writes(&writes)
        .kind(Kind::Begin);
    let ((a, an), (r, rn)) = (apdu.parts(), response.parts());
    let st = site.run("rk_t0_begin", || {
        // SAFETY: arena memory for the storage, buffers and out-pointers.
        unsafe { rk_t0_begin(ex.ptr(), len, a, an, r, rn, config.ptr(), action.ptr()) }
    });
    if let Some(st) = st {
        took(
            "rk_t0_begin",
            slot,
            st,
            Obj::T0 {
                apdu,
                resp: response,
            },
        );
        check_action("rk_t0_begin", st, action, response);
    }
}

fn op_t1(kind: u8) {
    let slot = pick_slot();
    let action = out::<rk_action>();
    match kind % 8 {
        0 => {
            let (eng, len) = storage(slot, RK_T1_ENGINE_STORAGE_SIZE);
            let (own, reads, writes) = ([slot], [out::<rk_t1_config>()], [eng]);
            let site = Site::on(&own)
                .reads(&reads)
                .writes(&writes)
                .kind(Kind::Begin);
            // SAFETY: arena memory.
            let st = site.run("rk_t1_init", || unsafe {
                rk_t1_init(eng.ptr(), len, reads[0].ptr())
            });
            if let Some(st) = st {
                took("rk_t1_init", slot, st, Obj::T1Engine { busy: false });
            }
        }
        1 | 2 => {
            let eng = object(slot).ptr();
            let (what, f): (_, unsafe extern "C" fn(*mut rk_t1_engine) -> rk_status) =
                match kind % 8 {
                    1 => ("rk_t1_deinit", rk_t1_deinit),
                    _ => ("rk_t1_reset", rk_t1_reset),
                };
            // SAFETY: arena memory.
            let st = Site::on(&[slot]).run(what, || unsafe { f(eng) });
            if st == Some(RK_STATUS_SUCCESS) {
                assert_eq!(
                    obj(slot),
                    Obj::T1Engine { busy: false },
                    "{what} on {:?}",
                    obj(slot)
                );
                if what == "rk_t1_deinit" {
                    set_obj(slot, Obj::Free);
                }
            }
        }
        3 => t1_begin(slot, action),
        7 => {
            let tx = object(slot);
            let engine = match obj(slot) {
                Obj::T1Tx { engine, .. } => Some(engine),
                _ => None,
            };
            let own = [slot, engine.unwrap_or(slot)];
            // SAFETY: arena memory.
            let st = Site::on(&own).run("rk_t1_end", || unsafe { rk_t1_end(tx.ptr()) });
            if st == Some(RK_STATUS_SUCCESS) {
                let engine = engine.unwrap_or_else(|| panic!("rk_t1_end on {:?}", obj(slot)));
                set_obj(slot, Obj::Free);
                set_obj(engine, Obj::T1Engine { busy: false });
            }
        }
        k => t1_step(slot, action, k),
    }
}

fn t1_begin(slot: usize, action: R) {
    let (tx, len) = storage(slot, RK_T1_TRANSACTION_STORAGE_SIZE);
    let engine = pick_slot();
    let eng = object(engine);
    let (apdu, response) = (buffer(), buffer());
    let own: &[usize] = if engine == slot {
        &[slot]
    } else {
        &[slot, engine]
    };
    let (reads, writes) = ([apdu], [response, action, tx]);
    let site = Site::on(own)
        .reads(&reads)
        .writes(&writes)
        .kind(Kind::Begin);
    let ((a, an), (r, rn)) = (apdu.parts(), response.parts());
    let st = site.run("rk_t1_begin", || {
        // SAFETY: arena memory.
        unsafe { rk_t1_begin(tx.ptr(), len, eng.ptr(), a, an, r, rn, action.ptr()) }
    });
    let Some(st) = st else { return };
    if st == RK_STATUS_SUCCESS {
        let was = obj(engine);
        assert_eq!(
            was,
            Obj::T1Engine { busy: false },
            "rk_t1_begin borrowed {was:?}"
        );
    }
    took(
        "rk_t1_begin",
        slot,
        st,
        Obj::T1Tx {
            engine,
            apdu,
            resp: response,
        },
    );
    if st == RK_STATUS_SUCCESS {
        set_obj(engine, Obj::T1Engine { busy: true });
    }
    check_action("rk_t1_begin", st, action, response);
}

/// `rk_t1_receive`, `rk_t1_timeout` or `rk_t1_line_error` (`k` 4, 5, 6).
fn t1_step(slot: usize, action: R, k: u8) {
    let tx = object(slot);
    let own = match obj(slot) {
        Obj::T1Tx { engine, .. } => [slot, engine],
        _ => [slot, slot],
    };
    let (writes, extra) = ([action], [held(slot).1]);
    let step = Site::on(&own).writes(&writes).extra(&extra);
    let step = step.kind(Kind::Step {
        live: t1_live(slot, tx),
    });
    let reads = [buffer()];
    let [block] = reads;
    let (t, a) = (tx.ptr(), action.ptr());
    let (what, st) = match k {
        // SAFETY: arena memory.
        4 => (
            "rk_t1_receive",
            step.reads(&reads).run("rk_t1_receive", || unsafe {
                rk_t1_receive(t, block.ptr(), block.len, a)
            }),
        ),
        // SAFETY: arena memory.
        5 => (
            "rk_t1_timeout",
            step.run("rk_t1_timeout", || unsafe { rk_t1_timeout(t, a) }),
        ),
        // SAFETY: arena memory.
        _ => (
            "rk_t1_line_error",
            step.run("rk_t1_line_error", || unsafe { rk_t1_line_error(t, a) }),
        ),
    };
    if let Some(st) = st {
        check_action(what, st, action, extra[0]);
    }
}

fn op_sim(kind: u8) {
    let slot = pick_slot();
    match kind % 5 {
        0 => {
            let (card, len) = storage(slot, RK_SIM_CARD_STORAGE_SIZE);
            let profile = if byte() < 240 {
                u32::from(byte() % 4)
            } else {
                u32le()
            };
            let (own, writes) = ([slot], [card]);
            let site = Site::on(&own).writes(&writes).kind(Kind::Begin);
            // SAFETY: arena memory.
            let st = site.run("rk_sim_init", || unsafe {
                rk_sim_init(card.ptr(), len, profile)
            });
            if let Some(st) = st {
                took("rk_sim_init", slot, st, Obj::Sim);
            }
        }
        1 => {
            let card = object(slot);
            // SAFETY: arena memory.
            let st =
                Site::on(&[slot]).run("rk_sim_deinit", || unsafe { rk_sim_deinit(card.ptr()) });
            if st == Some(RK_STATUS_SUCCESS) {
                assert_eq!(obj(slot), Obj::Sim);
                set_obj(slot, Obj::Free);
            }
        }
        2 => {
            let card = object(slot);
            let action = if byte() < 224 {
                u32::from(byte() % 3)
            } else {
                u32le()
            };
            // SAFETY: arena memory.
            Site::on(&[slot]).run("rk_sim_power", || unsafe {
                rk_sim_power(card.ptr(), action)
            });
        }
        3 => {
            let card = object(slot);
            let reads = [buffer()];
            let (d, n) = reads[0].parts();
            // SAFETY: arena memory.
            let write = || unsafe { rk_sim_write(card.ptr(), d, n) };
            Site::on(&[slot]).reads(&reads).run("rk_sim_write", write);
        }
        _ => {
            let card = object(slot);
            let data = buffer();
            let len = out::<usize>();
            let writes = [data, len];
            // SAFETY: arena memory.
            let sim_read = || unsafe { rk_sim_read(card.ptr(), data.ptr(), data.len, len.ptr()) };
            let st = Site::on(&[slot])
                .writes(&writes)
                .run("rk_sim_read", sim_read);
            if st == Some(RK_STATUS_SUCCESS) && usable_out::<usize>(len) {
                let n: usize = read(len);
                assert!(n <= data.len, "rk_sim_read: {n} bytes into {}", data.len);
            }
        }
    }
}

fn op_misc(kind: u8) {
    match kind % 6 {
        0 => {
            // The caller prepares a buffer (an APDU, a request, a config).
            let r = buffer();
            if !r.null && permitted(&[], &[], &[r]) {
                for i in 0..r.len.min(64) {
                    // SAFETY: inside the arena, owned by no live object.
                    unsafe { r.ptr::<u8>().add(i).write(byte()) };
                }
            }
        }
        1 => {
            let atr = buffer();
            let info = out::<rk_atr_info>();
            let st = Site::on(&[])
                .reads(&[atr])
                .writes(&[info])
                .kind(Kind::Begin)
                .run("rk_atr_parse", || {
                    // SAFETY: arena memory.
                    unsafe { rk_atr_parse(atr.ptr(), atr.len, info.ptr()) }
                });
            if st == Some(RK_STATUS_SUCCESS) {
                let i: rk_atr_info = read(info);
                assert!(usize::from(i.len) <= atr.len.min(RK_MAX_ATR_LEN));
                assert!(
                    usize::from(i.historical_offset) + usize::from(i.historical_len)
                        <= usize::from(i.len)
                );
            }
        }
        2 => {
            let level = if byte() < 240 {
                u32::from(byte() % 6)
            } else {
                u32le()
            };
            let cb: rk_log_fn = if byte() >= 16 { Some(log_line) } else { None };
            begin_call();
            // SAFETY: a callback that stays callable.
            let st = unsafe { rk_log_set(cb, ptr::null_mut(), level) };
            check_status("rk_log_set", st, false);
            assert_eq!(
                st != RK_STATUS_SUCCESS,
                level > RK_LOG_TRACE,
                "rk_log_set({level}): {st}"
            );
        }
        3 => {
            let st = u32le() % 24;
            let _ = (
                rk_status_to_ntstatus(st),
                rk_status_to_win32(st),
                rk_status_to_ifd(st),
                rk_status_to_scard(st),
            );
            let back = rk_status_from_ntstatus(rk_status_to_ntstatus(st));
            assert!(back <= RK_STATUS_PENDING);
            let d = rk_status_description(st);
            // SAFETY: a static NUL-terminated string.
            assert!(!unsafe { std::ffi::CStr::from_ptr(d) }.is_empty());
        }
        4 => {
            let config = out::<rk_t0_config>();
            let wt = u32le();
            Site::on(&[])
                .writes(&[config])
                .run("rk_t0_config_default", || {
                    // SAFETY: arena memory.
                    unsafe { rk_t0_config_default(config.ptr(), wt) }
                });
        }
        _ => {
            let config = out::<rk_t1_config>();
            let (ifsc, edc) = (byte(), byte() % 3);
            Site::on(&[])
                .writes(&[config])
                .run("rk_t1_config_default", || {
                    // SAFETY: arena memory.
                    unsafe { rk_t1_config_default(config.ptr(), ifsc, edc) }
                });
        }
    }
}

/// Release every live object (transactions first, then engines, devices, cards):
/// each must go with success.
fn teardown() {
    for pass in 0..3 {
        for slot in 0..SLOT_CAP.len() {
            let p: *mut u8 = R::slot(slot).ptr();
            // SAFETY: live objects in their own storage, released once.
            let st = unsafe {
                match (pass, obj(slot)) {
                    (0, Obj::T1Tx { .. }) => rk_t1_end(p.cast()),
                    (0, Obj::T0 { .. }) => rk_t0_end(p.cast()),
                    (1, Obj::T1Engine { .. }) => rk_t1_deinit(p.cast()),
                    (1, Obj::Device { .. }) => rk_device_deinit(p.cast()),
                    (2, Obj::Sim) => rk_sim_deinit(p.cast()),
                    _ => continue,
                }
            };
            let was = obj(slot);
            assert_eq!(st, RK_STATUS_SUCCESS, "releasing {was:?} in slot {slot}");
            if matches!(was, Obj::Device { .. }) {
                assert_eq!(
                    with(|h| h.outstanding[slot]),
                    0,
                    "deinit left tracking uncompleted"
                );
            }
            set_obj(slot, Obj::Free);
            if let Obj::T1Tx { engine, .. } = was {
                set_obj(engine, Obj::T1Engine { busy: false });
            }
        }
    }
    // SAFETY: logging off.
    assert_eq!(
        unsafe { rk_log_set(None, ptr::null_mut(), RK_LOG_OFF) },
        RK_STATUS_SUCCESS
    );
}

fuzz_target!(|data: &[u8]| {
    let mut words = vec![0u64; ARENA_LEN.div_ceil(8)];
    ARENA.with(|a| a.set(words.as_mut_ptr().cast()));
    // Input: the length of the calls' stream (two bytes, little endian), the calls'
    // bytes, then the callbacks' bytes.
    let split = usize::from(u16::from_le_bytes([
        data.first().copied().unwrap_or(0),
        data.get(1).copied().unwrap_or(0),
    ]));
    let rest = data.get(2..).unwrap_or(&[]);
    let (calls, callbacks) = rest.split_at(split.min(rest.len()));
    H.with(|h| {
        *h.borrow_mut() = Harness::new(calls.to_vec(), callbacks.to_vec());
    });
    for _ in 0..MAX_CALLS {
        if exhausted() {
            break;
        }
        let op = byte();
        match op % 8 {
            0 => op_device_init(op & 8 != 0),
            1 | 2 => op_device(op >> 3),
            3 => op_t0(op >> 3),
            4 => op_t1(op >> 3),
            5 => op_sim(op >> 3),
            _ => op_misc(op >> 3),
        }
    }
    teardown();
    drop(words);
});
