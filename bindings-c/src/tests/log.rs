//! The log callback (`rk_log_set`) receives decoded, bounded lines: the ATR, PPS
//! and each T=1 block of a line device, and each request with its outcome.

use core::cell::{Cell, RefCell};
use core::ffi::{CStr, c_char, c_void};
use core::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::line::Fixture;
use crate::*;

/// The user pointer every test here gives `rk_log_set`: one value, so that a
/// line another test's device logs while the callback changes cannot hand one
/// test's callback another's pointer.
const USER: *mut c_void = 0x5EED as *mut c_void;

/// The callback is process-wide: the tests that set it take turns.
fn log_turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every line the callback received, with its level. The callback is
/// process-wide: other tests running at the same time add their lines too.
static LINES: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(user: *mut c_void, level: u32, line: *const c_char) {
    assert_eq!(user, USER, "the user pointer comes back");
    // SAFETY: the library passes a NUL-terminated line valid during the call.
    let text = unsafe { CStr::from_ptr(line) };
    assert!(text.to_bytes_with_nul().len() <= RK_LOG_LINE_MAX);
    let text = text.to_str().expect("UTF-8").to_owned();
    LINES.lock().unwrap().push((level, text));
}

#[test]
fn the_callback_receives_decoded_blocks_and_requests_and_bad_levels_are_refused() {
    let _turn = log_turn();
    let user = USER;
    // SAFETY: a valid callback that stays callable (a static function).
    let bad = unsafe { rk_log_set(Some(collect), user, 99) };
    assert_eq!(bad, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: as above.
    let set = unsafe { rk_log_set(Some(collect), user, RK_LOG_TRACE) };
    assert_eq!(set, RK_STATUS_SUCCESS);
    let f = Fixture::new(RK_SIM_PROFILE_T1, false);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    assert_eq!(f.set_protocol(RK_PROTOCOL_T1), RK_STATUS_SUCCESS);
    let (st, _) = f.get_challenge(RK_PROTOCOL_T1);
    assert_eq!(st, RK_STATUS_SUCCESS);
    // A 65000-byte command of garbage: refused, logged at info, its line bounded.
    let mut input = Vec::from(RK_PROTOCOL_T1.to_le_bytes());
    input.extend_from_slice(&[8, 0, 0, 0]);
    input.extend(std::iter::repeat_n(0xEEu8, 65_000));
    let _ = super::device::control(f.dev(), RK_IOCTL_TRANSMIT, &input, &mut [0u8; 64]);
    drop(f);
    // SAFETY: NULL turns logging off.
    let off = unsafe { rk_log_set(None, ptr::null_mut(), RK_LOG_TRACE) };
    assert_eq!(off, RK_STATUS_SUCCESS);
    let lines = LINES.lock().unwrap().clone();
    let has = |level: u32, start: &str| {
        lines
            .iter()
            .any(|(l, t)| *l == level && t.starts_with(start))
    };
    assert!(
        has(RK_LOG_TRACE, "<- ATR (cold reset) 3B 9B 96 81 71 FE 45"),
        "{lines:#?}"
    );
    assert!(
        has(
            RK_LOG_TRACE,
            "-> PPS request FF 11 95 7B : PPS T=1, PPS1 95 (F=512, D=16)"
        ),
        "{lines:#?}"
    );
    assert!(has(RK_LOG_TRACE, "-> S(IFS request, 254)"), "{lines:#?}");
    assert!(has(RK_LOG_TRACE, "-> I(N(S)=0, M=0) 5 bytes"), "{lines:#?}");
    assert!(
        has(RK_LOG_TRACE, "<- I(N(S)=0, M=0) 10 bytes"),
        "{lines:#?}"
    );
    assert!(
        has(
            RK_LOG_DEBUG,
            "TRANSMIT T=1, 5 bytes: 00 84 00 00 08 -> success, 18 bytes in "
        ),
        "{lines:#?}"
    );
    assert!(
        has(RK_LOG_INFO, "TRANSMIT T=1, 65000 bytes: EE EE"),
        "{lines:#?}"
    );
    let before = LINES.lock().unwrap().len();
    let f = Fixture::new(RK_SIM_PROFILE_T1, false);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    drop(f);
    let after: Vec<_> = LINES.lock().unwrap()[before..].to_vec();
    assert!(
        !after
            .iter()
            .any(|(_, t)| t.starts_with("<- ATR (cold reset) 3B 9B")),
        "logging off: {after:#?}"
    );
}

thread_local! {
    /// The device [`deinit_from_log`] tries to de-initialise: only on the thread
    /// of the test that sets it (other tests' lines come on other threads).
    static DEINIT_TARGET: Cell<*mut rk_device> = const { Cell::new(ptr::null_mut()) };
    /// What each of its tries returned, with the level of the line.
    static DEINIT_TRIES: RefCell<Vec<(u32, rk_status)>> = const { RefCell::new(Vec::new()) };
    /// What each `rk_device_set_keypad` it tried first returned.
    static KEYPAD_TRIES: RefCell<Vec<rk_status>> = const { RefCell::new(Vec::new()) };
}

/// A log callback that calls `rk_device_set_keypad`, then `rk_device_deinit`, on
/// [`DEINIT_TARGET`].
unsafe extern "C" fn deinit_from_log(_user: *mut c_void, level: u32, _line: *const c_char) {
    let dev = DEINIT_TARGET.get();
    if dev.is_null() {
        return;
    }
    let ops = super::keypad::keypad_ops();
    // SAFETY: the test's device, initialised: the call being logged runs on it.
    let keypad = unsafe { rk_device_set_keypad(dev, &ops) };
    KEYPAD_TRIES.with_borrow_mut(|tries| tries.push(keypad));
    // SAFETY: as above.
    let st = unsafe { rk_device_deinit(dev) };
    DEINIT_TRIES.with_borrow_mut(|tries| tries.push((level, st)));
}

/// `rk_device_deinit` from the log callback, for a line of a call on the device
/// (the ATR traced under the serialization lock, the request's own line after
/// it, a refused request's line), is refused `RK_STATUS_DEVICE_BUSY`, and so is
/// `rk_device_set_keypad`: the call below the callback goes on with the device.
/// The device stays initialised and usable; a deinit afterwards succeeds (Drop).
#[test]
fn deinit_from_the_log_callback_is_busy() {
    let _turn = log_turn();
    let f = Fixture::new(RK_SIM_PROFILE_T1, false);
    DEINIT_TARGET.set(f.dev().cast_mut());
    // SAFETY: a valid callback that stays callable (a static function).
    let set = unsafe { rk_log_set(Some(deinit_from_log), USER, RK_LOG_TRACE) };
    assert_eq!(set, RK_STATUS_SUCCESS);
    assert_eq!(f.power_up(), RK_STATUS_SUCCESS);
    // A TRANSMIT input shorter than its header: refused, logged at info.
    let refused = super::device::control(f.dev(), RK_IOCTL_TRANSMIT, &[1, 0], &mut [0u8; 8]);
    // SAFETY: NULL turns logging off.
    let off = unsafe { rk_log_set(None, ptr::null_mut(), RK_LOG_OFF) };
    assert_eq!(off, RK_STATUS_SUCCESS);
    DEINIT_TARGET.set(ptr::null_mut());
    assert_eq!(refused, RK_STATUS_INVALID_PARAMETER);
    let tries = DEINIT_TRIES.take();
    for level in [RK_LOG_TRACE, RK_LOG_DEBUG, RK_LOG_INFO] {
        assert!(
            tries.iter().any(|&(l, _)| l == level),
            "level {level}: {tries:?}"
        );
    }
    assert!(
        tries.iter().all(|&(_, st)| st == RK_STATUS_DEVICE_BUSY),
        "{tries:?}"
    );
    let keypad = KEYPAD_TRIES.take();
    assert_eq!(
        keypad,
        vec![RK_STATUS_DEVICE_BUSY; tries.len()],
        "set_keypad"
    );
    assert_eq!(f.set_protocol(RK_PROTOCOL_T1), RK_STATUS_SUCCESS);
    let (st, _) = f.get_challenge(RK_PROTOCOL_T1);
    assert_eq!(st, RK_STATUS_SUCCESS, "the device still works");
}
