//! A refused call writes nothing, not even an out-pointer's "nothing" (found by the
//! `c_api` fuzz target: `rk_sim_read` wrote 0 to `*len`, `rk_device_control` 0 to
//! `*bytes_written`, before they refused a card or device that was not there;
//! `rk_t1_begin` recorded the buffers in the engine before the engine refused the
//! APDU).

use core::ptr;

use super::{Zeroed, no_callbacks, t1_config, t1_engine_from};
use crate::*;

#[test]
fn sim_read_refused_leaves_len_alone() {
    let storage = Zeroed::<rk_sim_card>::new();
    let mut out = [0u8; 8];
    let mut len = usize::MAX;
    // Storage with no card in it (zeroed, never initialised).
    // SAFETY: zeroed storage; our buffer and out-pointer.
    let st = unsafe { rk_sim_read(storage.ptr(), out.as_mut_ptr(), 8, &mut len) };
    assert_eq!(st, RK_STATUS_INVALID_DEVICE_STATE);
    assert_eq!(len, usize::MAX, "no card: *len written");
    // NULL output with a capacity.
    // SAFETY: as above; the NULL buffer is refused before any use.
    let st = unsafe { rk_sim_read(storage.ptr(), ptr::null_mut(), 8, &mut len) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    assert_eq!(len, usize::MAX, "NULL output: *len written");
}

#[test]
fn device_control_refused_leaves_bytes_written_alone() {
    let storage = Zeroed::<rk_device>::new();
    let dev = storage.ptr();
    let input = [0u8; 4];
    let mut output = [0u8; 8];
    let mut written = usize::MAX;
    let control = |output: *mut u8, written: &mut usize| {
        // SAFETY: device storage (zeroed or released); our buffers.
        unsafe {
            rk_device_control(
                dev,
                RK_IOCTL_GET_STATE,
                input.as_ptr(),
                4,
                output,
                8,
                written,
            )
        }
    };
    // Never initialised, then used after deinit.
    let st = control(output.as_mut_ptr(), &mut written);
    assert_eq!(st, RK_STATUS_INVALID_DEVICE_STATE);
    assert_eq!(written, usize::MAX, "no device: *bytes_written written");
    let table = no_callbacks();
    // SAFETY: zeroed device storage; the table outlives the device.
    let st = unsafe { super::init_device(dev, &table, ptr::null_mut()) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // NULL output with a length.
    let st = control(ptr::null_mut(), &mut written);
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    assert_eq!(written, usize::MAX, "NULL output: *bytes_written written");
    // SAFETY: the device made above, idle.
    assert_eq!(unsafe { rk_device_deinit(dev) }, RK_STATUS_SUCCESS);
    let st = control(output.as_mut_ptr(), &mut written);
    assert_eq!(st, RK_STATUS_INVALID_DEVICE_STATE);
    assert_eq!(written, usize::MAX, "after deinit: *bytes_written written");
}

// The regions a refused begin left behind are read by no call (only while a
// transaction is open): the engine's fields are the only witness, compared as
// the fuzz harness does (its storage's bytes would include padding, which is
// uninitialised once the engine is written).
#[test]
fn t1_begin_refused_leaves_the_engine_storage_alone() {
    let engine = t1_engine_from(&t1_config());
    // SAFETY: the engine storage (aligned, a live engine), no call running.
    let state = || unsafe { crate::fuzzing::slot_state(engine.ptr().cast()) };
    let before = state();
    assert!(before.value.is_some(), "no engine in its storage");
    let tx = Zeroed::<rk_t1_transaction>::new();
    let empty = [0u8; 1];
    let mut response = [0u8; 8];
    let mut action = core::mem::MaybeUninit::<rk_action>::uninit();
    let (len, tx_len) = (response.len(), size_of::<rk_t1_transaction>());
    // SAFETY: our storage, buffers and out-pointer.
    let st = unsafe {
        let (apdu, resp) = (empty.as_ptr(), response.as_mut_ptr());
        rk_t1_begin(
            tx.ptr(),
            tx_len,
            engine.ptr(),
            apdu,
            0,
            resp,
            len,
            action.as_mut_ptr(),
        )
    };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER, "an empty APDU");
    assert_eq!(state(), before, "a refused begin changed the engine");
    // SAFETY: the engine made above, idle.
    assert_eq!(unsafe { rk_t1_deinit(engine.ptr()) }, RK_STATUS_SUCCESS);
}

/// A transaction ended half-way (`rk_t1_end` before DONE) leaves no command
/// bytes in the engine's storage: the block sent (a VERIFY with the PIN 1234)
/// is wiped when the engine is given back, not at the next begin.
#[test]
fn t1_end_half_way_wipes_the_command_from_the_engine() {
    let engine = t1_engine_from(&t1_config());
    // SAFETY: the engine storage (aligned, a live engine), no call running.
    let shown = || unsafe { crate::t1::T1Engine::describe(engine.ptr().cast()) };
    let verify = [0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34];
    let tx = Zeroed::<rk_t1_transaction>::new();
    let mut response = [0u8; 8];
    let mut action = core::mem::MaybeUninit::<rk_action>::uninit();
    let (len, tx_len) = (response.len(), size_of::<rk_t1_transaction>());
    // SAFETY: our storage, buffers and out-pointer.
    let st = unsafe {
        rk_t1_begin(
            tx.ptr(),
            tx_len,
            engine.ptr(),
            verify.as_ptr(),
            verify.len(),
            response.as_mut_ptr(),
            len,
            action.as_mut_ptr(),
        )
    };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: written by the successful begin.
    let first = unsafe { action.assume_init() };
    assert_eq!(first.kind, RK_ACTION_SEND);
    // The engine announces its IFSD first: the card's S(IFS response) echoes
    // the request (PCB C1 -> E1, LRC again); the I-block with the VERIFY follows.
    // SAFETY: the engine's block, valid until the next call on the transaction.
    let mut answer = unsafe { core::slice::from_raw_parts(first.data, first.len) }.to_vec();
    answer[1] |= 0x20;
    let last = answer.len() - 1;
    answer[last] = readerkit_testkit::t1::lrc(&answer[..last]);
    // SAFETY: the transaction made above; our block and out-pointer.
    let st = unsafe { rk_t1_receive(tx.ptr(), answer.as_ptr(), answer.len(), action.as_mut_ptr()) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: written by the successful step.
    let second = unsafe { action.assume_init() };
    assert_eq!(second.kind, RK_ACTION_SEND);
    // SAFETY: as above.
    let sent = unsafe { core::slice::from_raw_parts(second.data, second.len) };
    // `sent` lies in the engine's storage: the PIN is there now.
    assert_eq!(
        sent[3..sent.len() - 1],
        verify,
        "the I-block carries the VERIFY"
    );
    // SAFETY: the transaction made above, idle.
    assert_eq!(unsafe { rk_t1_end(tx.ptr()) }, RK_STATUS_SUCCESS);
    let text = shown();
    assert!(text.contains("busy: false"), "{text}");
    assert!(
        !text.contains("49, 50, 51, 52"),
        "the PIN in the engine: {text}"
    );
    // SAFETY: the engine made above, idle.
    assert_eq!(unsafe { rk_t1_deinit(engine.ptr()) }, RK_STATUS_SUCCESS);
}
