//! What the harness knows: the object each slot holds ([`Obj`]), the fuzzer's two
//! byte streams (the calls' and the callbacks'), pending tracking requests, and
//! what the callbacks of the current call did; kept per thread, never borrowed
//! across a C call.

use std::cell::RefCell;

use readerkit_c::*;

use super::arena::{R, SIM_SLOT, slot_off};
use super::field_sizes::Reported;
use super::pin::{KeySeen, TransmitSeen};

/// What a slot holds, as the harness tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Obj {
    Free,
    /// A device (`line`: over the line callbacks, which use the card in `SIM_SLOT`).
    Device {
        line: bool,
    },
    /// A T=0 exchange holding its APDU and response buffer; `ended`: a call
    /// wrote DONE or FAILED (every step is refused from then on).
    T0 {
        apdu: R,
        resp: R,
        ended: bool,
    },
    T1Engine {
        busy: bool,
    },
    /// A T=1 transaction borrowing the engine in slot `engine`; `ended` as for
    /// [`Obj::T0`].
    T1Tx {
        engine: usize,
        apdu: R,
        resp: R,
        ended: bool,
    },
    Sim,
}

impl Obj {
    /// Bytes nobody but this object's own calls may name: written by nobody else
    /// (`excl` and `shared`), read by nobody else (`excl`).
    pub(crate) fn regions(self, slot: usize) -> ([R; 2], R) {
        match self {
            Obj::Free => ([R::NONE; 2], R::NONE),
            Obj::T0 { apdu, resp, .. } | Obj::T1Tx { apdu, resp, .. } => {
                ([R::slot(slot), resp], apdu)
            }
            _ => ([R::slot(slot), R::NONE], R::NONE),
        }
    }

    /// `Some(ended)` for an engine (a T=0 exchange, a T=1 transaction).
    pub(crate) fn ended(self) -> Option<bool> {
        match self {
            Obj::T0 { ended, .. } | Obj::T1Tx { ended, .. } => Some(ended),
            _ => None,
        }
    }

    /// The same engine, `ended` or not; anything else unchanged.
    pub(crate) fn with_ended(self, now: bool) -> Obj {
        match self {
            Obj::T0 { apdu, resp, .. } => Obj::T0 {
                apdu,
                resp,
                ended: now,
            },
            Obj::T1Tx {
                engine, apdu, resp, ..
            } => Obj::T1Tx {
                engine,
                apdu,
                resp,
                ended: now,
            },
            o => o,
        }
    }
}

/// Whether a device sleeps, as the harness follows it from the calls it made and
/// the core's rule (`rk_device_suspend`, `rk_device_resume`, and the same with
/// the driver's steps, `rk_device_sleep_with`, `rk_device_wake_with`), never by asking
/// the device: `rk_device_asleep` is checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sleep {
    /// Never suspended, or resumed since.
    Awake,
    /// Suspended (the power-down done or failed) and not resumed yet.
    Asleep,
}

/// Everything the callbacks and the driving loop share (never borrowed across a
/// C call).
pub(crate) struct Harness {
    /// The calls' bytes and how far they were read.
    pub(crate) data: Vec<u8>,
    pub(crate) pos: usize,
    /// The callbacks' bytes (read past their end: zeros, an honest driver that
    /// succeeds) and how far they were read.
    pub(crate) cb_data: Vec<u8>,
    pub(crate) cb_pos: usize,
    /// Callbacks running now (their bytes come from `cb_data`).
    pub(crate) in_callback: u32,
    pub(crate) slots: [Obj; 6],
    /// Pending tracking requests per slot, minus completions.
    pub(crate) outstanding: [i32; 6],
    /// A callback of the current call ran / returned UNSUCCESSFUL or no status.
    pub(crate) callback_ran: bool,
    pub(crate) callback_unsuccessful: bool,
    /// Per slot: the device has a keypad / a TRANSMIT (its table's, or its line).
    pub(crate) keypad: [bool; 6],
    pub(crate) transmit: [bool; 6],
    /// The keys and the table TRANSMIT calls of the current call.
    pub(crate) keys: Vec<KeySeen>,
    pub(crate) transmits: Vec<TransmitSeen>,
    /// What the line `send` callback was given during the current call, one entry
    /// per send.
    pub(crate) sends: Vec<Vec<u8>>,
    /// Per slot: the protocol a line device last framed (`set_framing`), `None`
    /// after a reset or deactivation or without `set_framing`.
    pub(crate) framing: [Option<u32>; 6],
    /// The timing the last SET_PROTOCOL callback of the current call left when it
    /// returned success: whether F, D and the clock are all non-zero.
    pub(crate) timing_ok: Option<bool>,
    /// A SET_PROTOCOL or TRANSMIT callback of the current call said it
    /// deactivated the card.
    pub(crate) deactivated: bool,
    /// A callback of the current call posted a card event the device took.
    pub(crate) event_posted: bool,
    /// Per slot, where the harness knows it: what `rk_t0_out_of_step` answers for
    /// the exchange there, what `rk_t1_resynch_failed` answers for the engine
    /// there, and for a transaction what its engine answers once it is ended.
    pub(crate) known: [Option<bool>; 6],
    /// Per slot: whether its device sleeps ([`Sleep`]).
    pub(crate) sleep: [Sleep; 6],
    /// The driver's sleep and wake steps (`rk_device_sleep_with`,
    /// `rk_device_wake_with`) that ran during the current call.
    pub(crate) steps: u32,
    /// The field sizes the TRANSMIT callbacks of the current call reported and
    /// the library accepted.
    pub(crate) reported: Reported,
    /// A copy of the last call a TRANSMIT callback received, its `internal`
    /// cleared (`field_sizes::report_outside`).
    pub(crate) stale_call: Option<rk_transmit_call>,
    /// Per slot: the IFSC of the configuration the T=1 engine there was
    /// initialised with.
    pub(crate) t1_ifsc: [Option<u8>; 6],
    /// Per slot, where the harness knows them: the field sizes
    /// `rk_t1_field_sizes` answers for the engine there (after its init or
    /// reset: the configuration's IFSC and ISO's initial IFSD, 32; unknown once
    /// a transaction began on it).
    pub(crate) t1_sizes: [Option<(u8, u8)>; 6],
}

impl Harness {
    /// Nothing live yet, the calls' and the callbacks' bytes unread.
    pub(crate) const fn new(data: Vec<u8>, cb_data: Vec<u8>) -> Harness {
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
            keypad: [false; 6],
            transmit: [false; 6],
            keys: Vec::new(),
            transmits: Vec::new(),
            sends: Vec::new(),
            framing: [None; 6],
            timing_ok: None,
            deactivated: false,
            event_posted: false,
            known: [None; 6],
            sleep: [Sleep::Awake; 6],
            steps: 0,
            reported: Reported {
                ran: false,
                ifsc: None,
                ifsd: None,
            },
            stale_call: None,
            t1_ifsc: [None; 6],
            t1_sizes: [None; 6],
        }
    }
}

thread_local! {
    pub(crate) static H: RefCell<Harness> = const { RefCell::new(Harness::new(Vec::new(), Vec::new())) };
}

pub(crate) fn with<T>(f: impl FnOnce(&mut Harness) -> T) -> T {
    H.with(|h| f(&mut h.borrow_mut()))
}

/// Whether the callbacks' stream is used up.
pub(crate) fn callbacks_exhausted() -> bool {
    with(|h| h.cb_pos >= h.cb_data.len())
}

/// The next byte of the calls' stream, or of the callbacks' inside a callback.
pub(crate) fn byte() -> u8 {
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
pub(crate) struct InCallback;

impl InCallback {
    pub(crate) fn enter() -> InCallback {
        with(|h| h.in_callback += 1);
        InCallback
    }
}

impl Drop for InCallback {
    fn drop(&mut self) {
        with(|h| h.in_callback -= 1);
    }
}

pub(crate) fn u16le() -> u16 {
    u16::from_le_bytes([byte(), byte()])
}

pub(crate) fn u32le() -> u32 {
    u32::from_le_bytes([byte(), byte(), byte(), byte()])
}

pub(crate) fn exhausted() -> bool {
    with(|h| h.pos >= h.data.len())
}

pub(crate) fn obj(slot: usize) -> Obj {
    with(|h| h.slots[slot])
}

pub(crate) fn set_obj(slot: usize, o: Obj) {
    with(|h| h.slots[slot] = o);
}

/// What the harness knows the query of the object in `slot` answers
/// ([`Harness::known`]).
pub(crate) fn known(slot: usize) -> Option<bool> {
    with(|h| h.known[slot])
}

pub(crate) fn set_known(slot: usize, answer: Option<bool>) {
    with(|h| h.known[slot] = answer);
}

/// Whether a call on `own` slots may name `reads` and `writes`: nothing of
/// another live object (that would be undefined behaviour by contract, not a
/// careless use the library can see).
pub(crate) fn permitted(own: &[usize], reads: &[R], writes: &[R]) -> bool {
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

/// The device state through a local out-pointer, or None if `slot` holds none.
pub(crate) fn device_state(slot: usize) -> Option<u32> {
    if !matches!(obj(slot), Obj::Device { .. }) {
        return None;
    }
    let mut state = 0u32;
    // Asked its state, a device processes its queued card events.
    super::snapshot::forget(Some(slot));
    // SAFETY: a live device; a local out-pointer.
    let st = unsafe { rk_device_state(R::slot(slot).ptr(), &mut state) };
    assert_eq!(st, RK_STATUS_SUCCESS);
    Some(state)
}

/// The model after an init or begin that succeeded in `slot`: the slot held no
/// live object (of any kind) before.
pub(crate) fn took(what: &str, slot: usize, st: rk_status, o: Obj) {
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

/// What a device call may write besides its storage: the card its line uses.
pub(crate) fn device_extra(slot: usize) -> Vec<R> {
    match obj(slot) {
        Obj::Device { line: true } if obj(SIM_SLOT) == Obj::Sim => vec![R::slot(SIM_SLOT)],
        _ => vec![],
    }
}

pub(crate) fn check_outstanding(slot: usize) {
    let n = with(|h| h.outstanding[slot]);
    assert!(
        n == 0 || n == 1,
        "slot {slot}: {n} tracking requests outstanding"
    );
}

/// The held regions of the engine in `slot` (its response buffer is written by
/// its calls).
pub(crate) fn held(slot: usize) -> (R, R) {
    match obj(slot) {
        Obj::T0 { apdu, resp, .. } | Obj::T1Tx { apdu, resp, .. } => (apdu, resp),
        _ => (R::NONE, R::NONE),
    }
}

/// Whether `ptr` is the T=0 exchange the harness has open in `slot`.
pub(crate) fn t0_live(slot: usize, ptr: R) -> bool {
    matches!(obj(slot), Obj::T0 { .. }) && ptr.off == slot_off(slot) && !ptr.null
}

/// Whether `ptr` is the T=1 transaction the harness has open in `slot`.
pub(crate) fn t1_live(slot: usize, ptr: R) -> bool {
    matches!(obj(slot), Obj::T1Tx { .. }) && ptr.off == slot_off(slot) && !ptr.null
}
