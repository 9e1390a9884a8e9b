//! Storage reused while it holds a live object: whatever kind the new object is,
//! the init or begin call is refused with `RK_STATUS_DEVICE_BUSY` and the live
//! object stays intact (found by the `c_api` fuzz target: a simulated card
//! initialised over a live device took its storage).

use core::ptr;

use super::{Zeroed, init_device, no_callbacks, t1_config};
use crate::*;

/// The kinds of object a C caller keeps in its own storage.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Device,
    T0Exchange,
    T1Engine,
    T1Transaction,
    SimCard,
}

const KINDS: [Kind; 5] = [
    Kind::Device,
    Kind::T0Exchange,
    Kind::T1Engine,
    Kind::T1Transaction,
    Kind::SimCard,
];

/// What the objects use besides their storage: a command, a response buffer, an
/// engine for the transactions, a table with no callback.
struct Fixture {
    apdu: [u8; 5],
    response: Vec<u8>,
    action: rk_action,
    engine: Zeroed<rk_t1_engine>,
    table: rk_reader_functions,
}

impl Fixture {
    fn new() -> Fixture {
        let engine = Zeroed::<rk_t1_engine>::new();
        let len = size_of::<rk_t1_engine>();
        // SAFETY: zeroed engine storage of `len` bytes; a local configuration.
        let st = unsafe { rk_t1_init(engine.ptr(), len, &t1_config()) };
        assert_eq!(st, RK_STATUS_SUCCESS);
        Fixture {
            apdu: [0x00, 0x84, 0x00, 0x00, 0x08],
            response: vec![0; 16],
            action: rk_action {
                kind: 0,
                data: ptr::null(),
                len: 0,
                timeout_us: 0,
                wtx: 0,
                status: 0,
            },
            engine,
            table: no_callbacks(),
        }
    }

    /// Put a `kind` in `storage` (`len` bytes).
    ///
    /// # Safety
    ///
    /// `storage` is zeroed or holds objects made here, `len` bytes, and outlives
    /// them.
    unsafe fn make(&mut self, kind: Kind, storage: *mut u8, len: usize) -> rk_status {
        let (apdu, response) = (self.apdu.as_ptr(), self.response.as_mut_ptr());
        let response_len = self.response.len();
        let action: *mut rk_action = &mut self.action;
        // SAFETY (every arm): per the contract; the buffers, the action and the
        // engine are the fixture's, released after every object made here.
        match kind {
            // SAFETY: see above.
            Kind::Device => unsafe { init_device(storage.cast(), &self.table, ptr::null_mut()) },
            // SAFETY: see above.
            Kind::T0Exchange => unsafe {
                rk_t0_begin(
                    storage.cast(),
                    len,
                    apdu,
                    5,
                    response,
                    response_len,
                    ptr::null(),
                    action,
                )
            },
            // SAFETY: see above.
            Kind::T1Engine => unsafe { rk_t1_init(storage.cast(), len, &t1_config()) },
            // SAFETY: see above.
            Kind::T1Transaction => unsafe {
                let engine = self.engine.ptr();
                rk_t1_begin(
                    storage.cast(),
                    len,
                    engine,
                    apdu,
                    5,
                    response,
                    response_len,
                    action,
                )
            },
            // SAFETY: see above.
            Kind::SimCard => unsafe { rk_sim_init(storage.cast(), len, RK_SIM_PROFILE_T0) },
        }
    }

    /// Release the `kind` in `storage`.
    ///
    /// # Safety
    ///
    /// `storage` was given to `make`.
    unsafe fn release(&mut self, kind: Kind, storage: *mut u8) -> rk_status {
        match kind {
            // SAFETY: per the contract.
            Kind::Device => unsafe { rk_device_deinit(storage.cast()) },
            // SAFETY: per the contract.
            Kind::T0Exchange => unsafe { rk_t0_end(storage.cast()) },
            // SAFETY: per the contract.
            Kind::T1Engine => unsafe { rk_t1_deinit(storage.cast()) },
            // SAFETY: per the contract.
            Kind::T1Transaction => unsafe { rk_t1_end(storage.cast()) },
            // SAFETY: per the contract.
            Kind::SimCard => unsafe { rk_sim_deinit(storage.cast()) },
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: the engine made in `new`, no transaction open any more.
        let st = unsafe { rk_t1_deinit(self.engine.ptr()) };
        assert_eq!(st, RK_STATUS_SUCCESS);
    }
}

#[test]
fn init_or_begin_over_any_live_object_is_device_busy_and_keeps_it() {
    for live in KINDS {
        for new in KINDS {
            // The largest kind's storage, so that only the live object is in the way.
            let storage = Zeroed::<rk_sim_card>::new();
            let (p, len) = (storage.ptr().cast::<u8>(), size_of::<rk_sim_card>());
            let mut f = Fixture::new();
            // SAFETY: the zeroed storage, `len` bytes, outlives the objects made in it.
            let make = |f: &mut Fixture, kind| unsafe { f.make(kind, p, len) };
            // SAFETY: storage given to `make`.
            let release = |f: &mut Fixture, kind| unsafe { f.release(kind, p) };
            assert_eq!(make(&mut f, live), RK_STATUS_SUCCESS, "{live:?}");
            let st = make(&mut f, new);
            assert_eq!(st, RK_STATUS_DEVICE_BUSY, "{new:?} over a live {live:?}");
            let st = release(&mut f, live);
            assert_eq!(st, RK_STATUS_SUCCESS, "{live:?} after {new:?} was refused");
            let st = make(&mut f, new);
            assert_eq!(st, RK_STATUS_SUCCESS, "{new:?} once {live:?} is gone");
            assert_eq!(release(&mut f, new), RK_STATUS_SUCCESS, "{new:?}");
        }
    }
}

/// The argument checks come before the storage's: a NULL table, capabilities,
/// line or configuration given with storage that holds a live object is
/// `RK_STATUS_INVALID_PARAMETER`, not `RK_STATUS_DEVICE_BUSY`, and the object
/// stays intact.
#[test]
fn a_null_argument_over_a_live_object_is_invalid_parameter() {
    let dev = Zeroed::<rk_device>::new();
    let engine = Zeroed::<rk_t1_engine>::new();
    let (dev_len, engine_len) = (size_of::<rk_device>(), size_of::<rk_t1_engine>());
    let (table, caps) = (no_callbacks(), super::typical_caps());
    let (null_table, no_ctx) = (ptr::null(), ptr::null_mut());
    // SAFETY: zeroed device storage; a local table.
    let st = unsafe { init_device(dev.ptr(), &table, no_ctx) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    // SAFETY: zeroed engine storage of `engine_len` bytes; a local configuration.
    let st = unsafe { rk_t1_init(engine.ptr(), engine_len, &t1_config()) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    let refused = [
        // SAFETY: the live device's storage; NULL or local arguments.
        unsafe { rk_device_init(dev.ptr(), dev_len, null_table, no_ctx, &caps, ptr::null()) },
        // SAFETY: as above.
        unsafe { rk_device_init(dev.ptr(), dev_len, &table, no_ctx, ptr::null(), ptr::null()) },
        // SAFETY: as above.
        unsafe {
            let line = ptr::null();
            rk_device_init_line(
                dev.ptr(),
                dev_len,
                line,
                null_table,
                no_ctx,
                &caps,
                ptr::null(),
            )
        },
        // SAFETY: the live engine's storage; a NULL configuration.
        unsafe { rk_t1_init(engine.ptr(), engine_len, ptr::null()) },
    ];
    assert_eq!(refused, [RK_STATUS_INVALID_PARAMETER; 4]);
    let mut state = 0u32;
    // SAFETY: the live device; a local out-pointer.
    let st = unsafe { rk_device_state(dev.ptr(), &mut state) };
    assert_eq!((st, state), (RK_STATUS_SUCCESS, 1), "live, no card");
    // SAFETY: the live device, released once.
    assert_eq!(unsafe { rk_device_deinit(dev.ptr()) }, RK_STATUS_SUCCESS);
    // SAFETY: the live engine, released once.
    assert_eq!(unsafe { rk_t1_deinit(engine.ptr()) }, RK_STATUS_SUCCESS);
}
