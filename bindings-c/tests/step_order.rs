//! A step the engine is not waiting for is refused with
//! `RK_STATUS_INVALID_DEVICE_STATE`, writes the pending action again (not FAILED)
//! and changes nothing: the exchange still completes (T=0), the engine keeps its
//! sequence numbers (T=1). (The storage is not compared byte for byte: its padding
//! is uninitialised; the c_api fuzz target compares the raw bytes.)

use std::ptr;

use readerkit_c::*;

/// An action with nothing in it, to see what a call writes.
fn blank() -> rk_action {
    rk_action {
        kind: 99,
        data: ptr::null(),
        len: 0,
        timeout_us: 0,
        wtx: 0,
        status: RK_STATUS_SUCCESS,
    }
}

/// The fields of an action that say what to do (a SEND's bytes copied).
fn what(a: &rk_action) -> (u32, Vec<u8>, usize, u32, u8, rk_status) {
    let bytes = if a.kind == RK_ACTION_SEND {
        // SAFETY: a SEND action's bytes are valid until the next call.
        unsafe { std::slice::from_raw_parts(a.data, a.len) }.to_vec()
    } else {
        Vec::new()
    };
    (a.kind, bytes, a.len, a.timeout_us, a.wtx, a.status)
}

/// One T=0 step on `ex`: `None` is `rk_t0_sent`, `Some(bytes)` `rk_t0_feed`.
fn t0_step(ex: &mut rk_t0_exchange, feed: Option<&[u8]>, a: &mut rk_action) -> rk_status {
    match feed {
        // SAFETY: an open exchange (begun below) and a local action.
        None => unsafe { rk_t0_sent(ex, a) },
        // SAFETY: as above; the bytes are local, outside what the exchange holds.
        Some(bytes) => unsafe { rk_t0_feed(ex, bytes.as_ptr(), bytes.len(), a) },
    }
}

#[test]
fn t0_sent_while_waiting_for_the_card_is_refused() {
    let apdu = [0x00u8, 0x84, 0x00, 0x00, 0x04];
    let mut response = [0u8; 16];
    let mut ex = rk_t0_exchange {
        opaque: [0; RK_T0_STORAGE_WORDS],
    };
    let mut a = blank();
    // SAFETY: local storage, APDU, response and action, alive until rk_t0_end.
    let st = unsafe {
        rk_t0_begin(
            &mut ex,
            RK_T0_STORAGE_SIZE,
            apdu.as_ptr(),
            apdu.len(),
            response.as_mut_ptr(),
            response.len(),
            ptr::null(),
            &mut a,
        )
    };
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert_eq!(t0_step(&mut ex, None, &mut a), RK_STATUS_SUCCESS);
    // Waiting for the procedure byte, then (ACK in) for four data bytes, then
    // (two in) for two more: each time a `sent` is out of order.
    let feeds: [(&[u8], usize); 3] = [(&[], 1), (&[0x84], 4), (&[1, 2], 2)];
    for (card, pending) in feeds {
        if !card.is_empty() {
            assert_eq!(t0_step(&mut ex, Some(card), &mut a), RK_STATUS_SUCCESS);
        }
        let before = what(&a);
        assert_eq!((before.0, before.2), (RK_ACTION_RECEIVE, pending));
        let mut again = blank();
        let st = t0_step(&mut ex, None, &mut again);
        assert_eq!(st, RK_STATUS_INVALID_DEVICE_STATE);
        assert_eq!(what(&again), before, "the pending action, not FAILED");
    }
    let rest = [3u8, 4, 0x90, 0x00];
    assert_eq!(t0_step(&mut ex, Some(&rest), &mut a), RK_STATUS_SUCCESS);
    assert_eq!((a.kind, a.len), (RK_ACTION_DONE, 6));
    // SAFETY: the open exchange.
    assert_eq!(unsafe { rk_t0_end(&mut ex) }, RK_STATUS_SUCCESS);
    assert_eq!(response[..6], [1, 2, 3, 4, 0x90, 0x00]);
}

/// A T=1 step: 0 `rk_t1_receive` of `block`, 1 `rk_t1_timeout`, 2
/// `rk_t1_line_error`.
fn t1_step(tx: &mut rk_t1_transaction, k: u8, block: &[u8], a: &mut rk_action) -> rk_status {
    match k {
        // SAFETY: an open transaction (begun below), a local block and action.
        0 => unsafe { rk_t1_receive(tx, block.as_ptr(), block.len(), a) },
        // SAFETY: as above.
        1 => unsafe { rk_t1_timeout(tx, a) },
        // SAFETY: as above.
        _ => unsafe { rk_t1_line_error(tx, a) },
    }
}

/// `rk_t1_begin` of `apdu` on `engine` into `tx`, the response into `response`.
///
/// # Safety
///
/// `apdu` and `response` stay valid and untouched until `rk_t1_end(tx)`.
unsafe fn t1_begin(
    tx: &mut rk_t1_transaction,
    engine: &mut rk_t1_engine,
    apdu: &[u8],
    response: &mut [u8],
    a: &mut rk_action,
) -> rk_status {
    // SAFETY: the storage sizes are the header's; the buffers per the contract.
    unsafe {
        rk_t1_begin(
            tx,
            RK_T1_TRANSACTION_STORAGE_SIZE,
            engine,
            apdu.as_ptr(),
            apdu.len(),
            response.as_mut_ptr(),
            response.len(),
            a,
        )
    }
}

#[test]
fn t1_steps_after_the_end_are_refused() {
    let mut config = rk_t1_config {
        ifsc: 0,
        ifsd: 0,
        edc: 0,
        nad: 0,
        send_ifs_request: 0,
        max_retries: 0,
        max_resynchs: 0,
        max_card_requests: 0,
    };
    // SAFETY: a local config.
    let st = unsafe { rk_t1_config_default(&mut config, 32, RK_EDC_LRC) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    config.send_ifs_request = 0;
    let mut engine = rk_t1_engine {
        opaque: [0; RK_T1_ENGINE_STORAGE_WORDS],
    };
    // SAFETY: local zeroed storage and config.
    let st = unsafe { rk_t1_init(&mut engine, RK_T1_ENGINE_STORAGE_SIZE, &config) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    let mut tx = rk_t1_transaction {
        opaque: [0; RK_T1_TRANSACTION_STORAGE_WORDS],
    };
    let apdu = [0x00u8, 0xB0, 0x00, 0x00, 0x00];
    let mut response = [0u8; 8];
    let mut a = blank();
    // SAFETY: local storage, engine, APDU, response and action, alive until
    // rk_t1_end.
    let st = unsafe { t1_begin(&mut tx, &mut engine, &apdu, &mut response, &mut a) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // 90 00 in an I-block with N(S) 0, LRC.
    let reply = [0x00u8, 0x00, 0x02, 0x90, 0x00, 0x92];
    assert_eq!(t1_step(&mut tx, 0, &reply, &mut a), RK_STATUS_SUCCESS);
    let done = what(&a);
    assert_eq!((done.0, done.2), (RK_ACTION_DONE, 2));
    for k in 0..3 {
        let mut again = blank();
        let st = t1_step(&mut tx, k, &reply, &mut again);
        assert_eq!(st, RK_STATUS_INVALID_DEVICE_STATE, "step {k}");
        assert_eq!(
            what(&again),
            done,
            "step {k}: the pending action, not FAILED"
        );
    }
    // SAFETY: the open transaction.
    assert_eq!(unsafe { rk_t1_end(&mut tx) }, RK_STATUS_SUCCESS);
    // The engine kept its sequence numbers: the next I-block carries N(S) = 1.
    let mut tx = rk_t1_transaction {
        opaque: [0; RK_T1_TRANSACTION_STORAGE_WORDS],
    };
    // SAFETY: as the first begin.
    let st = unsafe { t1_begin(&mut tx, &mut engine, &apdu, &mut response, &mut a) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert_eq!(what(&a).1[..2], [0x00, 0x40]);
    // SAFETY: the open transaction.
    assert_eq!(unsafe { rk_t1_end(&mut tx) }, RK_STATUS_SUCCESS);
    // SAFETY: the engine, no transaction open on it.
    assert_eq!(unsafe { rk_t1_deinit(&mut engine) }, RK_STATUS_SUCCESS);
    assert_eq!(response[..2], [0x90, 0x00]);
}
