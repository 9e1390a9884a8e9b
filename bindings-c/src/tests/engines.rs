//! The T=0 and T=1 engines, the ATR parser and the simulated card through their C
//! signatures: buffers that overlap what an exchange holds are refused, and a
//! refused call leaves the exchange able to finish.

use core::mem::MaybeUninit;
use core::ptr;

use super::{Zeroed, misaligned, t1_config, t1_engine_from};
use crate::*;

/// GET CHALLENGE, Le = 8.
const GET_CHALLENGE: [u8; 5] = [0x00, 0x84, 0x00, 0x00, 0x08];
/// What the card sends back for it under T=0: INS, 8 bytes, 90 00.
const T0_CARD: [u8; 11] = [0x84, 1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00];

/// An action that no call has written yet.
fn no_action() -> rk_action {
    rk_action {
        kind: u32::MAX,
        data: ptr::null(),
        len: 0,
        timeout_us: 0,
        wtx: 0,
        status: RK_STATUS_SUCCESS,
    }
}

/// `rk_t0_begin` on `ex` with the default configuration; the first action to
/// `*action`.
fn t0_begin(
    ex: *mut rk_t0_exchange,
    apdu: &[u8],
    response: *mut u8,
    response_len: usize,
    action: *mut rk_action,
) -> rk_status {
    let ex_len = size_of::<rk_t0_exchange>();
    let (apdu, apdu_len) = (apdu.as_ptr(), apdu.len());
    // SAFETY: every caller passes its own live storage and buffers, kept until
    // rk_t0_end, or ranges the call refuses before using them.
    unsafe {
        rk_t0_begin(
            ex,
            ex_len,
            apdu,
            apdu_len,
            response,
            response_len,
            ptr::null(),
            action,
        )
    }
}

/// Run the open exchange in `ex` (next action `a`) to its end against the T=0 card
/// answering GET CHALLENGE, then end it: the response is 10 bytes.
fn t0_complete(ex: *mut rk_t0_exchange, a: rk_action) {
    assert_eq!(t0_finish(ex, a, &T0_CARD), Ok(10));
    // SAFETY: an open exchange.
    let st = unsafe { rk_t0_end(ex) };
    assert_eq!(st, RK_STATUS_SUCCESS);
}

/// GET CHALLENGE begun in a fresh exchange, the response to `response_len` bytes
/// at `response`: the exchange and its first action, checked to send the 5-byte
/// header.
fn t0_open(response: *mut u8, response_len: usize) -> (Zeroed<rk_t0_exchange>, rk_action) {
    let exchange = Zeroed::new();
    let mut a = no_action();
    let st = t0_begin(
        exchange.ptr(),
        &GET_CHALLENGE,
        response,
        response_len,
        &mut a,
    );
    assert_eq!((st, a.kind, a.len), (RK_STATUS_SUCCESS, RK_ACTION_SEND, 5));
    (exchange, a)
}

/// Run the exchange (next action `a`) to its end against the scripted T=0 card
/// (silent once it has said everything); the response length, or the status of
/// the failed step, which the action repeats.
fn t0_finish(
    ex: *mut rk_t0_exchange,
    mut a: rk_action,
    mut card: &[u8],
) -> Result<usize, rk_status> {
    loop {
        let st = match a.kind {
            // SAFETY: an open exchange, our own action.
            RK_ACTION_SEND => unsafe { rk_t0_sent(ex, &mut a) },
            // SAFETY: as above.
            RK_ACTION_RECEIVE if card.is_empty() => unsafe { rk_t0_timeout(ex, &mut a) },
            RK_ACTION_RECEIVE => {
                let n = a.len.min(card.len());
                let chunk = card[..n].to_vec();
                card = &card[n..];
                // SAFETY: `chunk` is our own buffer of `n` bytes.
                unsafe { rk_t0_feed(ex, chunk.as_ptr(), n, &mut a) }
            }
            RK_ACTION_DONE => return Ok(a.len),
            kind => panic!("action {kind} after a successful step"),
        };
        if st != RK_STATUS_SUCCESS {
            assert_eq!((a.kind, a.status), (RK_ACTION_FAILED, st));
            return Err(st);
        }
    }
}

#[test]
fn t0_exchange_runs_through_the_c_calls_and_a_failure_is_status_and_action() {
    // What the card sends, and how the exchange ends: GET CHALLENGE answered, or
    // never a byte after the header (the failed step's status, repeated by its
    // action: see t0_finish).
    let cases: [(&[u8], Result<usize, rk_status>); 2] =
        [(&T0_CARD, Ok(10)), (&[], Err(RK_STATUS_IO_TIMEOUT))];
    for (card, end) in cases {
        let mut response = [0u8; 16];
        let (exchange, a) = t0_open(response.as_mut_ptr(), response.len());
        let ex = exchange.ptr();
        assert_eq!(t0_finish(ex, a, card), end);
        // SAFETY: an open exchange (finished or failed).
        let st = unsafe { rk_t0_end(ex) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        if end.is_ok() {
            assert_eq!(response[..10], T0_CARD[1..]);
        }
    }
}

#[test]
fn t0_begin_refuses_an_apdu_inside_the_response_buffer() {
    let exchange = Zeroed::<rk_t0_exchange>::new();
    let ex = exchange.ptr();
    let mut buf = [0u8; 32];
    buf[4..9].copy_from_slice(&GET_CHALLENGE);
    let base = buf.as_mut_ptr();
    let apdu_len = GET_CHALLENGE.len();
    // SAFETY: 5 bytes inside `buf`, read by the calls below only.
    let apdu = unsafe { core::slice::from_raw_parts(base.wrapping_add(4), apdu_len) };
    let mut a = no_action();
    // Both ranges inside `buf`.
    let st = t0_begin(ex, apdu, base, buf.len(), &mut a);
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // The response buffer inside the exchange's own storage.
    let inside = ex.cast::<u8>().wrapping_add(64);
    let st = t0_begin(ex, &GET_CHALLENGE, inside, 16, &mut a);
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // The action inside the exchange's own storage.
    let st = t0_begin(ex, &GET_CHALLENGE, base, 4, ex.cast());
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    assert_eq!(a.kind, u32::MAX);
    // Nothing was opened: the same storage takes a proper exchange over disjoint
    // parts of `buf`.
    let st = t0_begin(ex, apdu, base.wrapping_add(9), buf.len() - 9, &mut a);
    assert_eq!(st, RK_STATUS_SUCCESS);
    t0_complete(ex, a);
    assert_eq!(buf[9..19], T0_CARD[1..]);
}

#[test]
fn t0_feed_and_action_refuse_what_the_exchange_holds() {
    // 8-aligned, so that an action struct fits at its start.
    let mut response = [0u64; 4];
    let resp = response.as_mut_ptr().cast::<u8>();
    let (exchange, mut a) = t0_open(resp, size_of::<[u64; 4]>());
    let ex = exchange.ptr();
    // SAFETY: an open exchange.
    let st = unsafe { rk_t0_sent(ex, &mut a) };
    assert_eq!((st, a.kind), (RK_STATUS_SUCCESS, RK_ACTION_RECEIVE));
    // Card bytes "received" into the response buffer the exchange holds.
    // SAFETY: inside our buffer; refused before it is read.
    let st = unsafe { rk_t0_feed(ex, resp, 1, &mut a) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    let inside = ex.cast::<u8>();
    // SAFETY: inside the exchange storage; refused before it is read.
    let st = unsafe { rk_t0_feed(ex, inside.wrapping_add(8), 1, &mut a) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // The next action written over the response buffer or the exchange.
    // SAFETY: aligned and inside our buffer; refused before it is written.
    let st = unsafe { rk_t0_feed(ex, T0_CARD.as_ptr(), 1, resp.cast()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: aligned and inside the exchange storage; refused before it is written.
    let st = unsafe { rk_t0_timeout(ex, ex.cast()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // Refusals changed nothing: the exchange still waits for the card's first byte
    // and completes.
    assert_eq!(a.kind, RK_ACTION_RECEIVE);
    t0_complete(ex, a);
    let got: Vec<u8> = response.iter().flat_map(|w| w.to_ne_bytes()).collect();
    assert_eq!(got[..10], T0_CARD[1..]);
}

/// A T=1 I-block from the card (NAD 0, N(S) 0) carrying `data`, with its LRC
/// (testkit's, not the core's: the engine under test must not check itself).
fn t1_card_block(data: &[u8]) -> Vec<u8> {
    readerkit_testkit::t1::block(0x00, data)
}

/// `rk_t1_begin` of GET CHALLENGE in `tx` on `engine`, the response into `resp`.
///
/// # Safety
///
/// `tx` and `engine` are this thread's storage; `resp` is valid for 8 bytes until
/// `rk_t1_end`.
unsafe fn begin_get_challenge(
    tx: *mut rk_t1_transaction,
    engine: *mut rk_t1_engine,
    resp: *mut u8,
    a: &mut rk_action,
) -> rk_status {
    let tx_len = size_of::<rk_t1_transaction>();
    let (apdu, len) = (GET_CHALLENGE.as_ptr(), GET_CHALLENGE.len());
    // SAFETY: per the contract; the APDU is static.
    unsafe { rk_t1_begin(tx, tx_len, engine, apdu, len, resp, 8, a) }
}

fn t1_engine() -> Zeroed<rk_t1_engine> {
    t1_engine_with(|_| {})
}

/// A T=1 engine with the default configuration (no IFS request) as `tune` leaves it.
fn t1_engine_with(tune: impl FnOnce(&mut rk_t1_config)) -> Zeroed<rk_t1_engine> {
    let mut cfg = t1_config();
    cfg.send_ifs_request = 0;
    tune(&mut cfg);
    t1_engine_from(&cfg)
}

#[test]
fn t1_transaction_refuses_overlaps_still_finishes_and_fails_with_status_and_action() {
    let (engine_storage, tx_storage) = (t1_engine(), Zeroed::<rk_t1_transaction>::new());
    let (engine, tx) = (engine_storage.ptr(), tx_storage.ptr());
    let mut buf = [0u64; 8];
    let base = buf.as_mut_ptr().cast::<u8>();
    let mut action = MaybeUninit::<rk_action>::uninit();
    let act = action.as_mut_ptr();
    let tx_len = size_of::<rk_t1_transaction>();
    let begin = |apdu: *const u8, response: *mut u8, response_len: usize, act| {
        // SAFETY: our own live storage and buffers; a refused call uses none of them.
        unsafe { rk_t1_begin(tx, tx_len, engine, apdu, 5, response, response_len, act) }
    };
    let receive = |block: *const u8, len: usize, act| {
        // SAFETY: as above.
        unsafe { rk_t1_receive(tx, block, len, act) }
    };
    // SAFETY: `base` is valid for 64 bytes; nothing else uses them now.
    unsafe { ptr::copy_nonoverlapping(GET_CHALLENGE.as_ptr(), base, GET_CHALLENGE.len()) };
    let invalid = RK_STATUS_INVALID_PARAMETER;
    // The APDU inside the response buffer.
    assert_eq!(begin(base, base.wrapping_add(2), 32, act), invalid);
    // The action written into the response buffer.
    let apdu = GET_CHALLENGE.as_ptr();
    assert_eq!(begin(apdu, base, 64, base.cast()), invalid);
    // The response buffer inside the engine.
    assert_eq!(
        begin(apdu, engine.cast::<u8>().wrapping_add(100), 32, act),
        invalid
    );
    // Nothing was opened: the engine is free.
    // SAFETY: an initialised engine.
    let st = unsafe { rk_t1_reset(engine) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert_eq!(begin(apdu, base, 64, act), RK_STATUS_SUCCESS);
    // SAFETY: written on success.
    let a = unsafe { action.assume_init() };
    assert_eq!(a.kind, RK_ACTION_SEND);
    // The block the engine sent, fed back as if the card had echoed it: it lies
    // inside the engine.
    assert_eq!(receive(a.data, a.len, act), invalid);
    // A block "received" into the response buffer the transaction holds.
    let block = t1_card_block(&[0x90, 0x00]);
    assert_eq!(receive(base, block.len(), act), invalid);
    // The next action written into the response buffer or the transaction.
    assert_eq!(
        receive(block.as_ptr(), block.len(), base.wrapping_add(8).cast()),
        invalid
    );
    // SAFETY: an open transaction; the action pointer is refused before use.
    let st = unsafe { rk_t1_timeout(tx, tx.cast::<rk_action>()) };
    assert_eq!(st, invalid);
    // The same block from a buffer of our own: done.
    assert_eq!(receive(block.as_ptr(), block.len(), act), RK_STATUS_SUCCESS);
    // SAFETY: written on success.
    let a = unsafe { action.assume_init() };
    assert_eq!((a.kind, a.len), (RK_ACTION_DONE, 2));
    assert_eq!(buf[0].to_ne_bytes()[..2], [0x90, 0x00]);
    // SAFETY: an open transaction.
    let st = unsafe { rk_t1_end(tx) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // A failure is the status and the action, with the length the response
    // needed: the same answer for a one-byte response buffer (sequence numbers
    // reset, so that the card's block is again N(S) = 0).
    // SAFETY: an initialised engine no transaction borrows.
    let st = unsafe { rk_t1_reset(engine) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert_eq!(begin(apdu, base, 1, act), RK_STATUS_SUCCESS);
    let st = receive(block.as_ptr(), block.len(), act);
    assert_eq!(st, RK_STATUS_BUFFER_TOO_SMALL);
    // SAFETY: written by the failed step.
    let a = unsafe { action.assume_init() };
    assert_eq!((a.kind, a.status, a.len), (RK_ACTION_FAILED, st, 2));
    // SAFETY: an open transaction.
    let st = unsafe { rk_t1_end(tx) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: an idle engine.
    let st = unsafe { rk_t1_deinit(engine) };
    assert_eq!(st, RK_STATUS_SUCCESS);
}

#[test]
fn atr_parse_refuses_info_over_the_atr() {
    let storage = Zeroed::<rk_atr_info>::new();
    let info = storage.ptr();
    let atr = [0x3B, 0x00];
    // SAFETY: our buffers.
    let st = unsafe { rk_atr_parse(atr.as_ptr(), atr.len(), info) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    let at = info.cast::<u8>().wrapping_add(40);
    // SAFETY: 2 bytes inside `*info` (larger than 42 bytes).
    unsafe { ptr::copy_nonoverlapping(atr.as_ptr(), at, 2) };
    // SAFETY: the ATR bytes inside `*info`; refused before anything is read.
    let st = unsafe { rk_atr_parse(at, 2, info) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
}

#[test]
fn sim_read_refuses_a_misaligned_or_aliasing_length() {
    let storage = Zeroed::<rk_sim_card>::new();
    let card = storage.ptr();
    let mut out = [0u64; 8];
    let out_ptr = out.as_mut_ptr().cast::<u8>();
    let mut len_words = [0usize; 2];
    let misaligned = misaligned(&mut len_words);
    // SAFETY: zeroed storage.
    let st = unsafe { rk_sim_init(card, size_of::<rk_sim_card>(), RK_SIM_PROFILE_T1) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: an initialised card.
    let st = unsafe { rk_sim_power(card, RK_POWER_COLD_RESET) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    let read = |len: *mut usize| {
        // SAFETY: an initialised card, our buffer; a refused `len` is never written.
        unsafe { rk_sim_read(card, out_ptr, 64, len) }
    };
    assert_eq!(read(misaligned), RK_STATUS_INVALID_PARAMETER);
    assert_eq!(
        read(out_ptr.wrapping_add(8).cast()),
        RK_STATUS_INVALID_PARAMETER
    );
    assert_eq!(len_words, [0, 0]);
    // The ATR is still waiting: nothing was read.
    let mut n = 0usize;
    assert_eq!(read(&mut n), RK_STATUS_SUCCESS);
    assert!(n >= 2, "ATR of {n} bytes");
    assert_eq!(out[0].to_ne_bytes()[0], 0x3B);
    // SAFETY: an initialised card.
    let st = unsafe { rk_sim_deinit(card) };
    assert_eq!(st, RK_STATUS_SUCCESS);
}

#[test]
fn begin_and_init_check_the_storage_length_before_reading_it() {
    // An exchange and an engine are open in their storage; the same addresses given
    // with 4 bytes (less than a slot) are too small. DEVICE_BUSY instead would mean
    // the magic word past those 4 bytes was read.
    let mut response = [0u8; 16];
    let resp = response.as_mut_ptr();
    let (exchange, a) = t0_open(resp, response.len());
    let ex = exchange.ptr();
    let mut refused = no_action();
    let apdu = GET_CHALLENGE.as_ptr();
    // SAFETY: `ex` is readable for (more than) 4 bytes; refused before anything is
    // written.
    let st = unsafe { rk_t0_begin(ex, 4, apdu, 5, resp, 16, ptr::null(), &mut refused) };
    assert_eq!(st, RK_STATUS_BUFFER_TOO_SMALL);
    assert_eq!(refused.kind, u32::MAX, "no action written");
    // The open exchange is untouched: it still runs to its end.
    t0_complete(ex, a);

    let engine_storage = t1_engine();
    let engine = engine_storage.ptr();
    let cfg = t1_config();
    // SAFETY: `engine` is readable for (more than) 4 bytes; a local configuration.
    let st = unsafe { rk_t1_init(engine, 4, &cfg) };
    assert_eq!(st, RK_STATUS_BUFFER_TOO_SMALL);
    // SAFETY: the engine initialised by t1_engine, idle.
    let st = unsafe { rk_t1_deinit(engine) };
    assert_eq!(st, RK_STATUS_SUCCESS);
}

/// The fields of an action that say what to do (a SEND's bytes copied).
fn what(a: &rk_action) -> (u32, Vec<u8>, usize, u32, u8, rk_status) {
    let bytes = if a.kind == RK_ACTION_SEND {
        // SAFETY: a SEND action's bytes are valid until the next call.
        unsafe { core::slice::from_raw_parts(a.data, a.len) }.to_vec()
    } else {
        Vec::new()
    };
    (a.kind, bytes, a.len, a.timeout_us, a.wtx, a.status)
}

/// `call`, given an action of its own to write, is refused with
/// `RK_STATUS_INVALID_DEVICE_STATE` and writes `pending` again (not FAILED).
fn assert_refused(step: &str, pending: &rk_action, call: impl FnOnce(&mut rk_action) -> rk_status) {
    // Before the call: a SEND's bytes are valid until the next call only.
    let before = what(pending);
    let mut again = no_action();
    assert_eq!(call(&mut again), RK_STATUS_INVALID_DEVICE_STATE, "{step}");
    assert_eq!(
        what(&again),
        before,
        "{step}: the pending action, not FAILED"
    );
}

/// A T=0 step through its C call.
#[derive(Debug, Clone, Copy)]
enum T0Step {
    Sent,
    Feed(&'static [u8]),
    Timeout,
}

/// Take `step` on the open exchange `ex`, the next action to `*a`.
fn t0_step(ex: *mut rk_t0_exchange, step: T0Step, a: &mut rk_action) -> rk_status {
    match step {
        // SAFETY: an open exchange (running or ended), our own action.
        T0Step::Sent => unsafe { rk_t0_sent(ex, a) },
        // SAFETY: as above; the bytes are ours, outside what the exchange holds.
        T0Step::Feed(card) => unsafe { rk_t0_feed(ex, card.as_ptr(), card.len(), a) },
        // SAFETY: as above.
        T0Step::Timeout => unsafe { rk_t0_timeout(ex, a) },
    }
}

/// A step the exchange is not waiting for (`rk_t0_timeout` while it has
/// something to send, `rk_t0_sent` while it waits for the card, any step after
/// DONE or FAILED) is refused with `RK_STATUS_INVALID_DEVICE_STATE`, writes the
/// pending action again (not FAILED) and changes nothing: the exchange still
/// completes, or still says how it failed.
#[test]
fn t0_steps_out_of_order_or_after_the_end_are_refused_and_change_nothing() {
    use T0Step::*;
    let after_the_end: &[T0Step] = &[Sent, Feed(&[]), Feed(&[0x90, 0x00]), Timeout];
    // The steps that move the exchange on (and the status each returns), each
    // followed by the steps then refused: the header to send; waiting for the
    // procedure byte, then (ACK in) for eight data bytes, then (two in) for six
    // more; done. Or: the card silent after the header, failed.
    let done: [(T0Step, rk_status, &[T0Step]); 4] = [
        (Sent, RK_STATUS_SUCCESS, &[Sent]),
        (Feed(&T0_CARD[..1]), RK_STATUS_SUCCESS, &[Sent]),
        (Feed(&T0_CARD[1..3]), RK_STATUS_SUCCESS, &[Sent]),
        (Feed(&T0_CARD[3..]), RK_STATUS_SUCCESS, after_the_end),
    ];
    let failed: [(T0Step, rk_status, &[T0Step]); 2] = [
        (Sent, RK_STATUS_SUCCESS, &[Sent]),
        (Timeout, RK_STATUS_IO_TIMEOUT, after_the_end),
    ];
    for (walk, end) in [(&done[..], RK_ACTION_DONE), (&failed[..], RK_ACTION_FAILED)] {
        let mut response = [0u8; 16];
        let (exchange, mut a) = t0_open(response.as_mut_ptr(), response.len());
        let ex = exchange.ptr();
        assert_refused("timeout with the header to send", &a, |again| {
            t0_step(ex, Timeout, again)
        });
        for &(step, status, refused) in walk {
            assert_eq!(t0_step(ex, step, &mut a), status, "{step:?}");
            for &misuse in refused {
                let at = std::format!("{misuse:?} after {step:?}");
                assert_refused(&at, &a, |again| t0_step(ex, misuse, again));
            }
        }
        assert_eq!(a.kind, end);
        // SAFETY: an open exchange.
        assert_eq!(unsafe { rk_t0_end(ex) }, RK_STATUS_SUCCESS);
        if end == RK_ACTION_DONE {
            assert_eq!(response[..10], T0_CARD[1..]);
        }
    }
}

/// A step after the transaction ended, DONE or FAILED (`rk_t1_receive`,
/// `rk_t1_timeout`, `rk_t1_line_error`), is refused with
/// `RK_STATUS_INVALID_DEVICE_STATE`, writes the pending action again (not a
/// FAILED of its own) and changes nothing: the engine keeps its sequence numbers.
#[test]
fn t1_steps_after_the_end_are_refused_and_change_nothing() {
    let (engine_storage, tx_storage) = (t1_engine(), Zeroed::<rk_t1_transaction>::new());
    let (engine, tx) = (engine_storage.ptr(), tx_storage.ptr());
    let apdu = [0x00u8, 0xB0, 0x00, 0x00, 0x00];
    let mut response = [0u8; 8];
    let resp = response.as_mut_ptr();
    let begin = |a: &mut rk_action| {
        let tx_len = size_of::<rk_t1_transaction>();
        // SAFETY: our own live storage, APDU and response, kept until rk_t1_end.
        unsafe { rk_t1_begin(tx, tx_len, engine, apdu.as_ptr(), apdu.len(), resp, 8, a) }
    };
    // The card's block N(S) = 1 with 10 bytes: more than the response buffer.
    let mut long = t1_card_block(&[0; 10]);
    long[1] = 0x40;
    *long.last_mut().unwrap() ^= 0x40;
    // How the transaction ends, and the PCB of our next I-block: N(S) 1, then 0
    // (a response that did not fit leaves the engine synchronised).
    let endings = [
        (
            t1_card_block(&[0x90, 0x00]),
            RK_STATUS_SUCCESS,
            (RK_ACTION_DONE, 2),
            0x40,
        ),
        (
            long,
            RK_STATUS_BUFFER_TOO_SMALL,
            (RK_ACTION_FAILED, 10),
            0x00,
        ),
    ];
    let mut a = no_action();
    assert_eq!(begin(&mut a), RK_STATUS_SUCCESS);
    for (reply, status, end, next) in endings {
        // SAFETY: an open transaction, our own block and action.
        let st = unsafe { rk_t1_receive(tx, reply.as_ptr(), reply.len(), &mut a) };
        assert_eq!(st, status);
        assert_eq!((a.kind, a.len), end);
        for k in 0..3 {
            assert_refused(&std::format!("step {k} after {st}"), &a, |again| match k {
                // SAFETY: the ended (still open) transaction, our own block and action.
                0 => unsafe { rk_t1_receive(tx, reply.as_ptr(), reply.len(), again) },
                // SAFETY: as above.
                1 => unsafe { rk_t1_timeout(tx, again) },
                // SAFETY: as above.
                _ => unsafe { rk_t1_line_error(tx, again) },
            });
        }
        // SAFETY: an open transaction.
        assert_eq!(unsafe { rk_t1_end(tx) }, RK_STATUS_SUCCESS);
        // The engine kept its sequence numbers.
        assert_eq!(begin(&mut a), RK_STATUS_SUCCESS);
        assert_eq!(what(&a).1[..2], [0x00, next]);
    }
    // SAFETY: an open transaction.
    assert_eq!(unsafe { rk_t1_end(tx) }, RK_STATUS_SUCCESS);
    // SAFETY: an idle engine.
    assert_eq!(unsafe { rk_t1_deinit(engine) }, RK_STATUS_SUCCESS);
    assert_eq!(response[..2], [0x90, 0x00]);
}

/// A transaction the engine refuses (an empty APDU; a resynchronisation owed and
/// none allowed) returns its status with a FAILED action and stores nothing: there
/// is no transaction to end, and the engine is free again.
#[test]
fn t1_begin_that_the_engine_refuses_stores_nothing() {
    let engine_storage = t1_engine_with(|cfg| {
        cfg.max_retries = 0;
        cfg.max_resynchs = 0;
    });
    let tx_storage = Zeroed::<rk_t1_transaction>::new();
    let (engine, tx) = (engine_storage.ptr(), tx_storage.ptr());
    let mut response = [0u8; 8];
    let resp = response.as_mut_ptr();
    // SAFETY: our own live storage and response, kept until rk_t1_end.
    let begin = |a: &mut rk_action| unsafe { begin_get_challenge(tx, engine, resp, a) };
    let mut a = no_action();
    // An APDU the engine refuses: the same, whatever the engine's state.
    let empty = |a: &mut rk_action| {
        let tx_len = size_of::<rk_t1_transaction>();
        // SAFETY: our own live storage and response; no APDU bytes.
        unsafe { rk_t1_begin(tx, tx_len, engine, GET_CHALLENGE.as_ptr(), 0, resp, 8, a) }
    };
    assert_eq!(empty(&mut a), RK_STATUS_INVALID_PARAMETER);
    assert_eq!(
        (a.kind, a.status),
        (RK_ACTION_FAILED, RK_STATUS_INVALID_PARAMETER)
    );
    // SAFETY: storage the refused begin did not initialise.
    assert_eq!(unsafe { rk_t1_end(tx) }, RK_STATUS_INVALID_DEVICE_STATE);
    assert_eq!(begin(&mut a), RK_STATUS_SUCCESS);
    // A line error with no retry and no resynchronisation allowed ends the
    // transaction and leaves the engine owing a resynchronisation.
    // SAFETY: an open transaction, our own action.
    let failed = unsafe { rk_t1_line_error(tx, &mut a) };
    assert_ne!(failed, RK_STATUS_SUCCESS);
    assert_eq!(a.kind, RK_ACTION_FAILED);
    // SAFETY: an open transaction.
    assert_eq!(unsafe { rk_t1_end(tx) }, RK_STATUS_SUCCESS);
    // The next transaction fails at once: its status and a FAILED action ...
    let st = begin(&mut a);
    assert_ne!(st, RK_STATUS_SUCCESS);
    assert_eq!((a.kind, a.status), (RK_ACTION_FAILED, st));
    // ... and nothing stored: no transaction to end, the engine not borrowed.
    // SAFETY: storage the failed begin did not initialise.
    assert_eq!(unsafe { rk_t1_end(tx) }, RK_STATUS_INVALID_DEVICE_STATE);
    // SAFETY: an initialised engine.
    assert_eq!(unsafe { rk_t1_reset(engine) }, RK_STATUS_SUCCESS);
    assert_eq!(begin(&mut a), RK_STATUS_SUCCESS);
    assert_eq!(a.kind, RK_ACTION_SEND);
    // SAFETY: an open transaction.
    assert_eq!(unsafe { rk_t1_end(tx) }, RK_STATUS_SUCCESS);
    // SAFETY: an idle engine.
    assert_eq!(unsafe { rk_t1_deinit(engine) }, RK_STATUS_SUCCESS);
}

#[test]
fn the_t0_config_round_trips_the_cores_and_a_class_outside_a_byte_is_refused() {
    use readerkit::t0::{Config, Extended, GetResponseClass};
    let mut config = MaybeUninit::<rk_t0_config>::uninit();
    // SAFETY: a local out-pointer.
    let st = unsafe { rk_t0_config_default(config.as_mut_ptr(), 9_600) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: written by the call above.
    let c = unsafe { config.assume_init() };
    let fields = (
        c.max_null_bytes,
        c.max_rounds,
        c.envelope,
        c.get_response_class,
    );
    assert_eq!(fields, (1000, 300, 0, -1));
    assert_eq!(Config::try_from(c), Ok(Config::new(9_600)));
    let classes = [
        (-2, Ok(GetResponseClass::FromCommand)),
        (0xA0, Ok(GetResponseClass::Fixed(0xA0))),
        (-3, Err(RK_STATUS_INVALID_PARAMETER)),
        (256, Err(RK_STATUS_INVALID_PARAMETER)),
    ];
    for (class, expect) in classes {
        let c = rk_t0_config {
            get_response_class: class,
            envelope: 7,
            ..c
        };
        let parsed = Config::try_from(c);
        assert_eq!(
            parsed.map(|p| p.get_response_class),
            expect,
            "class {class}"
        );
        if let Ok(p) = parsed {
            assert_eq!(p.extended, Extended::Envelope);
            assert_eq!(rk_t0_config::from(p).get_response_class, class);
        }
    }
}

/// A yes/no query of an engine's storage (`rk_t1_resynch_failed`,
/// `rk_t0_out_of_step`) into a local: (status, answer).
fn ask<S>(
    query: unsafe extern "C" fn(*const S, *mut bool) -> rk_status,
    storage: *const S,
) -> (rk_status, bool) {
    let mut answer = false;
    // SAFETY: engine or exchange storage of this thread, a local out-pointer.
    let st = unsafe { query(storage, &mut answer) };
    (st, answer)
}

/// `rk_t1_resynch_failed` of `engine`: (status, answer).
fn resynch_failed(engine: *const rk_t1_engine) -> (rk_status, bool) {
    ask(rk_t1_resynch_failed, engine)
}

#[test]
fn t1_resynch_failed_says_when_rule_6_4_applies() {
    let (engine_storage, tx_storage) = (t1_engine(), Zeroed::<rk_t1_transaction>::new());
    let (engine, tx) = (engine_storage.ptr(), tx_storage.ptr());
    let mut response = [0u8; 8];
    let resp = response.as_mut_ptr();
    // SAFETY: our own live storage and response, kept until rk_t1_end.
    let begin = |a: &mut rk_action| unsafe { begin_get_challenge(tx, engine, resp, a) };
    assert_eq!(resynch_failed(engine), (RK_STATUS_SUCCESS, false));
    let mut a = no_action();
    assert_eq!(begin(&mut a), RK_STATUS_SUCCESS);
    assert_eq!(
        resynch_failed(engine).0,
        RK_STATUS_DEVICE_BUSY,
        "a transaction borrows the engine"
    );
    // A silent card: every retry and resynchronisation times out.
    let mut st = RK_STATUS_SUCCESS;
    for _ in 0..64 {
        // SAFETY: an open transaction, our own action.
        st = unsafe { rk_t1_timeout(tx, &mut a) };
        if st != RK_STATUS_SUCCESS {
            break;
        }
    }
    assert_eq!((a.kind, a.status), (RK_ACTION_FAILED, st));
    // SAFETY: an open transaction.
    assert_eq!(unsafe { rk_t1_end(tx) }, RK_STATUS_SUCCESS);
    assert_eq!(resynch_failed(engine), (RK_STATUS_SUCCESS, true));
    // The answer refused: NULL, or inside the engine.
    // SAFETY: NULL is refused.
    let st = unsafe { rk_t1_resynch_failed(engine, ptr::null_mut()) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    let inside = engine.cast::<bool>().wrapping_add(64);
    // SAFETY: refused before anything is written.
    let st = unsafe { rk_t1_resynch_failed(engine, inside) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // SAFETY: no engine there.
    let st = unsafe { rk_t1_resynch_failed(ptr::null(), &mut false) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // After the card's reset, the engine starts afresh.
    // SAFETY: an idle engine.
    assert_eq!(unsafe { rk_t1_reset(engine) }, RK_STATUS_SUCCESS);
    assert_eq!(resynch_failed(engine), (RK_STATUS_SUCCESS, false));
    // SAFETY: an idle engine.
    assert_eq!(unsafe { rk_t1_deinit(engine) }, RK_STATUS_SUCCESS);
}

/// `rk_t0_out_of_step` of `ex`: (status, answer).
fn out_of_step(ex: *const rk_t0_exchange) -> (rk_status, bool) {
    ask(rk_t0_out_of_step, ex)
}

#[test]
fn t0_out_of_step_says_when_the_card_may_be_mid_exchange() {
    // (what the card sends, then silence; the response buffer; mid-exchange)
    let cases: [(&[u8], usize, bool); 3] = [
        (&T0_CARD, 16, false),
        (&[], 16, true),
        // 90 00 ended it: the 8 bytes did not fit, the card is in step.
        (&T0_CARD, 8, false),
    ];
    for (card, cap, mid) in cases {
        let mut response = [0u8; 16];
        let (exchange, a) = t0_open(response.as_mut_ptr(), cap);
        let ex = exchange.ptr();
        assert_eq!(out_of_step(ex), (RK_STATUS_SUCCESS, true), "not ended yet");
        let _ = t0_finish(ex, a, card);
        assert_eq!(
            out_of_step(ex),
            (RK_STATUS_SUCCESS, mid),
            "{card:02X?}, {cap}"
        );
        // The answer refused: NULL, inside the exchange or the response buffer.
        // SAFETY: NULL is refused.
        let st = unsafe { rk_t0_out_of_step(ex, ptr::null_mut()) };
        assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
        for inside in [
            ex.cast::<bool>().wrapping_add(64),
            response.as_mut_ptr().cast(),
        ] {
            // SAFETY: refused before anything is written.
            let st = unsafe { rk_t0_out_of_step(ex, inside) };
            assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
        }
        // SAFETY: an open exchange.
        assert_eq!(unsafe { rk_t0_end(ex) }, RK_STATUS_SUCCESS);
        assert_eq!(
            out_of_step(ex).0,
            RK_STATUS_INVALID_DEVICE_STATE,
            "no exchange after rk_t0_end"
        );
    }
}

/// `rk_t1_field_sizes` of `engine` into locals: (status, IFSC, IFSD).
fn field_sizes(engine: *const rk_t1_engine) -> (rk_status, u8, u8) {
    let (mut ifsc, mut ifsd) = (0u8, 0u8);
    // SAFETY: engine storage of this thread, two local out-pointers.
    let st = unsafe { rk_t1_field_sizes(engine, &mut ifsc, &mut ifsd) };
    (st, ifsc, ifsd)
}

#[test]
fn t1_field_sizes_are_the_engines_in_force() {
    // The configuration's IFSC 100; an IFSD of 200 never announced: ISO's 32.
    let storage = t1_engine_with(|c| {
        c.ifsc = 100;
        c.ifsd = 200;
    });
    let engine = storage.ptr();
    assert_eq!(field_sizes(engine), (RK_STATUS_SUCCESS, 100, 32));
    let tx_storage = Zeroed::<rk_t1_transaction>::new();
    let mut response = [0u8; 8];
    let mut a = no_action();
    // SAFETY: our own live storage and response, kept until rk_t1_end.
    let st =
        unsafe { begin_get_challenge(tx_storage.ptr(), engine, response.as_mut_ptr(), &mut a) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    assert_eq!(
        field_sizes(engine).0,
        RK_STATUS_DEVICE_BUSY,
        "a transaction borrows the engine"
    );
    // The card asks for an IFSC of 16 (S(IFS request), LRC 00^C1^01^10 = D0).
    // SAFETY: an open transaction, a local block, our own action.
    let st = unsafe {
        rk_t1_receive(
            tx_storage.ptr(),
            [0x00, 0xC1, 0x01, 0x10, 0xD0].as_ptr(),
            5,
            &mut a,
        )
    };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: an open transaction.
    assert_eq!(unsafe { rk_t1_end(tx_storage.ptr()) }, RK_STATUS_SUCCESS);
    assert_eq!(field_sizes(engine), (RK_STATUS_SUCCESS, 16, 32));
    // Out-pointers refused: NULL, the same byte twice, inside the engine.
    let mut one = 0u8;
    // SAFETY: refused before anything is written.
    let st = unsafe { rk_t1_field_sizes(engine, ptr::null_mut(), &mut one) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    let same: *mut u8 = &mut one;
    // SAFETY: as above.
    let st = unsafe { rk_t1_field_sizes(engine, same, same) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    let inside = engine.cast::<u8>().wrapping_add(64);
    // SAFETY: as above.
    let st = unsafe { rk_t1_field_sizes(engine, inside, &mut one) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    assert_eq!(one, 0, "nothing written");
    // SAFETY: no engine there.
    let st = unsafe { rk_t1_field_sizes(ptr::null(), &mut one, &mut 0) };
    assert_eq!(st, RK_STATUS_INVALID_PARAMETER);
    // A reset: the configuration's again.
    // SAFETY: our own idle engine.
    assert_eq!(unsafe { rk_t1_reset(engine) }, RK_STATUS_SUCCESS);
    assert_eq!(field_sizes(engine), (RK_STATUS_SUCCESS, 100, 32));
}
