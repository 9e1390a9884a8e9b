//! The keypad through its C signatures (so that Miri sees `rk_device_set_keypad`'s
//! exclusive view of the device and the callbacks' shared one): PIN features
//! announced, a verification served, and no keypad change from inside a callback.

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::ptr;

use super::device::control;
use super::{Zeroed, answer, ctx, init_device};
use crate::*;
use readerkit::ioctl::scard_ctl_code;
use readerkit::part10::FN_GET_FEATURE_REQUEST;
use readerkit_testkit::pin::verify_structure;

/// T=1 in specific mode (TA2), so no SET_PROTOCOL is needed; the last byte is the TCK.
const ATR: [u8; 6] = [0x3B, 0x90, 0x11, 0x11, 0x01, 0x91];

struct Ctx {
    dev: Cell<*mut rk_device>,
    keys: RefCell<Vec<u32>>,
    sent: RefCell<Vec<Vec<u8>>>,
    busy_from_inside: Cell<Option<rk_status>>,
}

unsafe extern "C" fn power(
    _: *mut c_void,
    _: u32,
    atr: *mut u8,
    cap: usize,
    len: *mut usize,
) -> rk_status {
    // SAFETY: the library's ATR buffer and out-pointer.
    unsafe { answer(&ATR, atr, cap, len) }
}

unsafe extern "C" fn transmit(
    c: *mut c_void,
    call: *const rk_transmit_call,
    reply: *mut u8,
    cap: usize,
    len: *mut usize,
) -> rk_status {
    // SAFETY: the library's call, valid during the callback.
    let call = unsafe { &*call };
    // SAFETY: the APDU the call describes.
    let apdu = unsafe { core::slice::from_raw_parts(call.apdu, call.apdu_len) };
    // SAFETY: our context.
    unsafe { ctx::<Ctx>(c) }
        .sent
        .borrow_mut()
        .push(apdu.to_vec());
    let sw = if apdu.get(5..9) == Some(b"1234") {
        [0x90, 0x00]
    } else {
        [0x63, 0xC2]
    };
    // SAFETY: the library's reply buffer and out-pointer.
    unsafe { answer(&sw, reply, cap, len) }
}

unsafe extern "C" fn next_key(c: *mut c_void, _timeout_ms: u32) -> u32 {
    // SAFETY: our context.
    let c = unsafe { ctx::<Ctx>(c) };
    if c.busy_from_inside.get().is_none() {
        let ops = keypad_ops();
        // SAFETY: an initialised device; the call must refuse, not touch it.
        c.busy_from_inside
            .set(Some(unsafe { rk_device_set_keypad(c.dev.get(), &ops) }));
    }
    let mut keys = c.keys.borrow_mut();
    if keys.is_empty() {
        RK_KEY_NONE
    } else {
        keys.remove(0)
    }
}

pub(super) fn keypad_ops() -> rk_keypad_ops {
    rk_keypad_ops {
        next_key: Some(next_key),
        prompt: None,
        min_pin_digits: 4,
        max_pin_digits: 8,
    }
}

fn keys(s: &str) -> Vec<u32> {
    s.bytes()
        .map(|b| match b {
            b'E' => RK_KEY_ENTER,
            b'C' => RK_KEY_CANCEL,
            d => RK_KEY_DIGIT_0 + u32::from(d - b'0'),
        })
        .collect()
}

/// A context for [`keypad_device`].
fn new_ctx() -> Box<Ctx> {
    Box::new(Ctx {
        dev: Cell::new(ptr::null_mut()),
        keys: RefCell::new(Vec::new()),
        sent: RefCell::new(Vec::new()),
        busy_from_inside: Cell::new(None),
    })
}

/// A device for context `c` (which learns where it is) with `table`'s callbacks
/// and this file's POWER and TRANSMIT, no keypad yet; the storage is freed when
/// dropped (de-initialise the device first).
fn keypad_device(c: &Ctx, table: &rk_reader_functions) -> Zeroed<rk_device> {
    let cp = ptr::from_ref::<Ctx>(c).cast_mut().cast::<c_void>();
    let storage = Zeroed::<rk_device>::new();
    c.dev.set(storage.ptr());
    let table = rk_reader_functions {
        power: Some(power),
        transmit: Some(transmit),
        ..*table
    };
    // SAFETY: our zeroed storage, no other user; the context outlives the device
    // (the test de-initialises it first).
    let init = unsafe { init_device(storage.ptr(), &table, cp) };
    assert_eq!(init, RK_STATUS_SUCCESS);
    storage
}

#[test]
fn a_keypad_serves_verify_pin_direct_and_is_not_changed_from_a_callback() {
    let c = new_ctx();
    let storage = keypad_device(&c, &rk_reader_functions::default());
    let dev = storage.ptr();
    // SAFETY: an initialised device nobody else uses yet.
    let status = unsafe { rk_device_set_keypad(dev, &keypad_ops()) };
    assert_eq!(status, RK_STATUS_SUCCESS);
    // SAFETY: an initialised device.
    let st = unsafe { rk_card_event(dev, RK_CARD_INSERTED) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    let mut out = [0u8; 64];
    assert_eq!(
        control(dev, RK_IOCTL_POWER, &[1, 0, 0, 0], &mut out),
        RK_STATUS_SUCCESS
    );
    let verify = scard_ctl_code(RK_FN_VERIFY_PIN_DIRECT as u16);
    *c.keys.borrow_mut() = keys("1234E");
    let mut sw = [0u8; 2];
    assert_eq!(
        control(dev, verify, &verify_structure(), &mut sw),
        RK_STATUS_SUCCESS
    );
    assert_eq!(sw, [0x90, 0x00]);
    assert_eq!(c.busy_from_inside.get(), Some(RK_STATUS_DEVICE_BUSY));
    assert_eq!(&c.sent.borrow()[0][5..9], b"1234");
    *c.keys.borrow_mut() = keys("12C");
    assert_eq!(
        control(dev, verify, &verify_structure(), &mut sw),
        RK_STATUS_SUCCESS
    );
    assert_eq!(sw, [0x64, 0x01]);
    assert_eq!(c.sent.borrow().len(), 1, "a cancelled entry sends nothing");
    assert_eq!(
        control(dev, verify, &verify_structure()[..10], &mut sw),
        RK_STATUS_INVALID_PARAMETER
    );
    // SAFETY: an idle device we own.
    assert_eq!(unsafe { rk_device_deinit(dev) }, RK_STATUS_SUCCESS);
    // SAFETY: a de-initialised device: found no more.
    let status = unsafe { rk_device_set_keypad(dev, &keypad_ops()) };
    assert_eq!(status, RK_STATUS_INVALID_DEVICE_STATE);
}

/// `tracking_complete`: tries `rk_device_set_keypad` (the call that completes the
/// request still holds a view of the device below it).
unsafe extern "C" fn set_keypad_on_completion(c: *mut c_void, _: rk_status) {
    // SAFETY: our context.
    let c = unsafe { ctx::<Ctx>(c) };
    // SAFETY: an initialised device; the call must refuse, not touch it.
    c.busy_from_inside.set(Some(unsafe {
        rk_device_set_keypad(c.dev.get(), &keypad_ops())
    }));
}

unsafe extern "C" fn card_tracking(_: *mut c_void, _: u32) -> rk_status {
    RK_STATUS_SUCCESS
}

/// `rk_device_set_keypad` from a hook (`tracking_complete`, run by
/// `rk_process_events` below it) is refused `RK_STATUS_DEVICE_BUSY`, as from a
/// callback and as `rk_device_deinit` is (one rule for both); no keypad is set
/// (the PIN features stay unannounced); afterwards it is accepted.
#[test]
fn the_keypad_is_not_changed_from_a_hook() {
    let c = new_ctx();
    let storage = keypad_device(
        &c,
        &rk_reader_functions {
            card_tracking: Some(card_tracking),
            tracking_complete: Some(set_keypad_on_completion),
            ..rk_reader_functions::default()
        },
    );
    let dev = storage.ptr();
    assert_eq!(
        control(dev, RK_IOCTL_IS_PRESENT, &[], &mut []),
        RK_STATUS_PENDING
    );
    // SAFETY: an initialised device.
    let st = unsafe { rk_card_event(dev, RK_CARD_INSERTED) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: an initialised device; the completion runs the hook below this call.
    assert_eq!(unsafe { rk_process_events(dev) }, RK_STATUS_SUCCESS);
    assert_eq!(c.busy_from_inside.get(), Some(RK_STATUS_DEVICE_BUSY));
    let features = scard_ctl_code(FN_GET_FEATURE_REQUEST);
    let mut tlv = [0u8; 64];
    assert_eq!(
        control(dev, features, &[], &mut tlv),
        RK_STATUS_NOT_SUPPORTED,
        "no keypad: no PIN feature to announce"
    );
    // SAFETY: an initialised device nobody else uses now.
    let status = unsafe { rk_device_set_keypad(dev, &keypad_ops()) };
    assert_eq!(status, RK_STATUS_SUCCESS);
    assert_eq!(
        control(dev, features, &[], &mut tlv),
        RK_STATUS_SUCCESS,
        "the keypad's PIN features"
    );
    // SAFETY: an idle device we own.
    assert_eq!(unsafe { rk_device_deinit(dev) }, RK_STATUS_SUCCESS);
}
