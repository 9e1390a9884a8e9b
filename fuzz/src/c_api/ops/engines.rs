//! Calls on the T=0 and T=1 engines: begin, steps in any order, end; init,
//! reset and deinit of a T=1 engine; the queries `rk_t0_out_of_step`,
//! `rk_t1_resynch_failed` and `rk_t1_field_sizes`.

use readerkit_c::*;

use readerkit::t1::MAX_APDU_LEN;

use crate::c_api::arena::{R, read, slot_off, usable_out};
use crate::c_api::decode::{buffer_over, object, out, out_over, pick_slot, storage};
use crate::c_api::model::*;
use crate::c_api::oracle::{Kind, Overlap, Site, check_action, check_end, object_at};
use crate::c_api::padding::Written;
use readerkit_c::fuzzing::ObjectKind;

/// What the engine the harness has in `slot` lies in, as the library sees it:
/// its storage (`kind` at the slot's start) and a T=1 transaction's engine.
fn lies_in(slot: usize, kind: ObjectKind) -> [R; 2] {
    let at = |slot| R::at(slot_off(slot), 8);
    let engine = match obj(slot) {
        Obj::T1Tx { engine, .. } => object_at(at(engine), ObjectKind::T1Engine),
        _ => R::NONE,
    };
    [object_at(at(slot), kind), engine]
}

/// An action out-pointer for a call on `slot`, sometimes over what the engine
/// there lies in (`kind` at the slot's start) or holds.
fn action_for(slot: usize, kind: ObjectKind) -> R {
    let [storage, engine] = lies_in(slot, kind);
    let (apdu, response) = held(slot);
    out_over::<rk_action>(&[storage, engine, apdu, response])
}

pub(crate) fn op_t0(kind: u8) {
    let slot = pick_slot();
    if kind >= 30 {
        return t0_out_of_step(slot);
    }
    let action = action_for(slot, ObjectKind::T0Exchange);
    let k = kind % 5;
    if k == 0 {
        return t0_begin(slot, action);
    }
    let ex = object(slot);
    let (own, writes, extra) = ([slot], [action], [held(slot).1]);
    let structs = [Written::of::<rk_action>(action)];
    let step = Site::on(&own).writes(&writes).extra(&extra);
    let live = t0_live(slot, ex);
    let step = step.kind(Kind::Step { live }).structs(&structs);
    // What the step writes and lies in, which the card's bytes must not touch.
    let written = [action, object_at(ex, ObjectKind::T0Exchange)];
    let overlap = |read: R| Overlap::step(held(slot), &written, read).checked_first(live);
    let (what, st) = match k {
        1 => ("rk_t0_sent", {
            // SAFETY: arena memory.
            step.overlap(overlap(R::NONE)).run("rk_t0_sent", || unsafe {
                rk_t0_sent(ex.ptr(), action.ptr())
            })
        }),
        2 => ("rk_t0_feed", {
            let (apdu, response) = held(slot);
            let reads = [buffer_over(&[written[0], written[1], apdu, response])];
            let [data] = reads;
            // SAFETY: arena memory.
            let feed = || unsafe { rk_t0_feed(ex.ptr(), data.ptr(), data.len, action.ptr()) };
            step.reads(&reads)
                .overlap(overlap(data))
                .run("rk_t0_feed", feed)
        }),
        3 => ("rk_t0_timeout", {
            // SAFETY: arena memory.
            step.overlap(overlap(R::NONE))
                .run("rk_t0_timeout", || unsafe {
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
        if live {
            check_end(what, slot, st, action);
        }
    }
}

pub(crate) fn t0_begin(slot: usize, action: R) {
    let (ex, len) = storage(slot, RK_T0_STORAGE_SIZE);
    let stored = object_at(ex, ObjectKind::T0Exchange);
    let apdu = buffer_over(&[action, stored]);
    let response = buffer_over(&[action, stored, apdu]);
    let config = if byte() < 64 {
        out::<rk_t0_config>()
    } else {
        R::NONE
    };
    let (own, reads, writes) = ([slot], [apdu, config], [response, action, ex]);
    let structs = [Written::of::<rk_action>(action)];
    let site = Site::on(&own)
        .reads(&reads)
        .writes(&writes)
        .structs(&structs)
        .overlap(Overlap::begin(apdu, response, &[stored, action]))
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
                ended: false,
            },
        );
        if st == RK_STATUS_SUCCESS {
            // The command's header waits to be sent: abandoned now, the
            // exchange is out of step.
            set_known(slot, Some(true));
        }
        check_action("rk_t0_begin", st, action, response);
    }
}

pub(crate) fn op_t1(kind: u8) {
    let slot = pick_slot();
    match kind {
        30 => return t1_resynch_failed(slot),
        31 => return t1_field_sizes(slot),
        _ => {}
    }
    let action = action_for(slot, ObjectKind::T1Transaction);
    match kind % 8 {
        0 => {
            let (eng, len) = storage(slot, RK_T1_ENGINE_STORAGE_SIZE);
            let (own, reads, writes) = ([slot], [out::<rk_t1_config>()], [eng]);
            let site = Site::on(&own)
                .reads(&reads)
                .writes(&writes)
                .kind(Kind::Begin);
            // The configuration as the library reads it (a NULL one is refused).
            let config = (!reads[0].null).then(|| read::<rk_t1_config>(reads[0]));
            // SAFETY: arena memory.
            let st = site.run("rk_t1_init", || unsafe {
                rk_t1_init(eng.ptr(), len, reads[0].ptr())
            });
            if let Some(st) = st {
                took("rk_t1_init", slot, st, Obj::T1Engine { busy: false });
                if st == RK_STATUS_SUCCESS {
                    set_known(slot, Some(false));
                    let ifsc = config.map(|c| c.ifsc);
                    with(|h| {
                        h.t1_ifsc[slot] = ifsc;
                        h.t1_sizes[slot] = ifsc.map(|c| (c, INITIAL_IFSD));
                    });
                }
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
                } else {
                    set_known(slot, Some(false));
                    with(|h| h.t1_sizes[slot] = h.t1_ifsc[slot].map(|c| (c, INITIAL_IFSD)));
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
                set_known(engine, known(slot));
            }
        }
        k => t1_step(slot, action, k),
    }
}

pub(crate) fn t1_begin(slot: usize, action: R) {
    let (tx, len) = storage(slot, RK_T1_TRANSACTION_STORAGE_SIZE);
    let engine = pick_slot();
    // A transaction may change the engine's field sizes (the card's S(IFS
    // request), its answer to the engine's, a resynchronisation).
    with(|h| h.t1_sizes[engine] = None);
    let eng = object(engine);
    let stored = [
        object_at(tx, ObjectKind::T1Transaction),
        object_at(eng, ObjectKind::T1Engine),
    ];
    let apdu = buffer_over(&[action, stored[0], stored[1]]);
    let response = buffer_over(&[action, stored[0], stored[1], apdu]);
    let own: &[usize] = if engine == slot {
        &[slot]
    } else {
        &[slot, engine]
    };
    let (reads, writes) = ([apdu], [response, action, tx]);
    let structs = [Written::of::<rk_action>(action)];
    let ((a, an), (r, rn)) = (apdu.parts(), response.parts());
    let site = Site::on(own)
        .reads(&reads)
        .writes(&writes)
        .structs(&structs)
        .overlap(Overlap::begin(
            apdu,
            response,
            &[action, stored[0], stored[1]],
        ))
        .kind(Kind::T1Begin {
            action,
            engine,
            command_refusable: an == 0 || an > MAX_APDU_LEN,
        });
    let action_before = usable_out::<rk_action>(action).then(|| read::<rk_action>(action));
    let st = site.run("rk_t1_begin", || {
        // SAFETY: arena memory.
        unsafe { rk_t1_begin(tx.ptr(), len, eng.ptr(), a, an, r, rn, action.ptr()) }
    });
    let Some(st) = st else { return };
    // An action the engine's refusal wrote is FAILED with the call's status.
    if let Some(before) = action_before
        && st != RK_STATUS_SUCCESS
    {
        let now: rk_action = read(action);
        let fields = |a: rk_action| (a.kind, a.data, a.len, a.timeout_us, a.wtx, a.status);
        assert!(
            fields(now) == fields(before) || (now.kind == RK_ACTION_FAILED && now.status == st),
            "rk_t1_begin (status {st}) wrote {now:?}"
        );
    }
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
            ended: false,
        },
    );
    if st == RK_STATUS_SUCCESS {
        set_obj(engine, Obj::T1Engine { busy: true });
        // What the engine answers after this transaction: unknown until it ends.
        set_known(slot, None);
    } else if st == RK_STATUS_DEVICE_PROTOCOL_ERROR
        && obj(engine) == (Obj::T1Engine { busy: false })
    {
        // Refused for want of a resynchronisation: the header counts it as one
        // that failed.
        set_known(engine, Some(true));
    }
    check_action("rk_t1_begin", st, action, response);
}

/// `rk_t1_receive`, `rk_t1_timeout` or `rk_t1_line_error` (`k` 4, 5, 6).
pub(crate) fn t1_step(slot: usize, action: R, k: u8) {
    let tx = object(slot);
    let own = match obj(slot) {
        Obj::T1Tx { engine, .. } => [slot, engine],
        _ => [slot, slot],
    };
    let (writes, extra) = ([action], [held(slot).1]);
    let structs = [Written::of::<rk_action>(action)];
    let step = Site::on(&own).writes(&writes).extra(&extra);
    let live = t1_live(slot, tx);
    let step = step.kind(Kind::Step { live }).structs(&structs);
    // What the step writes and lies in: the action, the transaction, its engine.
    let [_, engine] = lies_in(slot, ObjectKind::T1Transaction);
    let written = [action, object_at(tx, ObjectKind::T1Transaction), engine];
    let (apdu, response) = held(slot);
    let reads = [buffer_over(&[
        written[0], written[1], written[2], apdu, response,
    ])];
    let [block] = reads;
    let overlap = |read: R| Overlap::step(held(slot), &written, read).checked_first(live);
    let (t, a) = (tx.ptr(), action.ptr());
    let (what, st) = match k {
        // SAFETY: arena memory.
        4 => (
            "rk_t1_receive",
            step.reads(&reads)
                .overlap(overlap(block))
                .run("rk_t1_receive", || unsafe {
                    rk_t1_receive(t, block.ptr(), block.len, a)
                }),
        ),
        // SAFETY: arena memory.
        5 => (
            "rk_t1_timeout",
            step.overlap(overlap(R::NONE))
                .run("rk_t1_timeout", || unsafe { rk_t1_timeout(t, a) }),
        ),
        // SAFETY: arena memory.
        _ => (
            "rk_t1_line_error",
            step.overlap(overlap(R::NONE))
                .run("rk_t1_line_error", || unsafe { rk_t1_line_error(t, a) }),
        ),
    };
    if let Some(st) = st {
        check_action(what, st, action, extra[0]);
        if live {
            check_end(what, slot, st, action);
        }
    }
}

/// `rk_t0_out_of_step` on the object in `slot` (a live exchange, or anything
/// else), its out-pointer sometimes NULL or over the exchange or the buffers it
/// holds.
fn t0_out_of_step(slot: usize) {
    let ex = object(slot);
    let stored = object_at(ex, ObjectKind::T0Exchange);
    let (apdu, response) = held(slot);
    let out = out_over::<bool>(&[stored, apdu, response]);
    let live = t0_live(slot, ex);
    let overlap = Overlap::step(held(slot), &[out, stored], R::NONE).checked_first(live);
    // SAFETY: arena memory.
    let f = || unsafe { rk_t0_out_of_step(ex.ptr(), out.ptr()) };
    let st = query(slot, "rk_t0_out_of_step", out, overlap, f);
    let answers = live && !out.null && overlap == Overlap::Disjoint;
    check_answer("rk_t0_out_of_step", st, answers, out, known(slot));
}

/// `rk_t1_resynch_failed` on the object in `slot` (an idle or busy engine, or
/// anything else), its out-pointer sometimes NULL or over the engine.
fn t1_resynch_failed(slot: usize) {
    let eng = object(slot);
    let stored = object_at(eng, ObjectKind::T1Engine);
    let out = out_over::<bool>(&[stored]);
    let overlap = Overlap::of(&[out, stored], &[]).checked_first(true);
    // SAFETY: arena memory.
    let f = || unsafe { rk_t1_resynch_failed(eng.ptr(), out.ptr()) };
    let st = query(slot, "rk_t1_resynch_failed", out, overlap, f);
    let engine = (!eng.null && eng.off == slot_off(slot)).then(|| obj(slot));
    let args_right = !out.null && overlap == Overlap::Disjoint;
    if let Some(st) = st
        && args_right
        && engine == Some(Obj::T1Engine { busy: true })
    {
        assert_eq!(
            st, RK_STATUS_DEVICE_BUSY,
            "rk_t1_resynch_failed on a busy engine"
        );
    }
    let answers = args_right && engine == Some(Obj::T1Engine { busy: false });
    check_answer("rk_t1_resynch_failed", st, answers, out, known(slot));
}

/// ISO/IEC 7816-3:2006 11.4.2: the IFSD in force until the card acknowledges the
/// reader's S(IFS request), in bytes.
const INITIAL_IFSD: u8 = 32;

/// `rk_t1_field_sizes` on the object in `slot` (an idle or busy engine, or
/// anything else), its out-pointers sometimes NULL, over the engine or the same
/// byte: succeeds exactly on an idle engine with both clear of it and apart,
/// then writes two sizes of 1 to 254 bytes (the engine's, where the harness
/// knows them: [`Harness::t1_sizes`]) and changes no state; otherwise a refusal
/// that writes nothing (`Kind::Query`).
fn t1_field_sizes(slot: usize) {
    let eng = object(slot);
    let stored = object_at(eng, ObjectKind::T1Engine);
    let ifsc = out_over::<u8>(&[stored]);
    let ifsd = out_over::<u8>(&[stored, ifsc]);
    let overlap = Overlap::of(&[ifsc, ifsd, stored], &[]).checked_first(true);
    let (own, writes) = ([slot], [ifsc, ifsd]);
    let site = Site::on(&own).writes(&writes).overlap(overlap);
    // SAFETY: arena memory.
    let f = || unsafe { rk_t1_field_sizes(eng.ptr(), ifsc.ptr(), ifsd.ptr()) };
    let Some(st) = site.kind(Kind::Query).run("rk_t1_field_sizes", f) else {
        return;
    };
    let engine = (!eng.null && eng.off == slot_off(slot)).then(|| obj(slot));
    let args_right = !ifsc.null && !ifsd.null && overlap == Overlap::Disjoint;
    if args_right && engine == Some(Obj::T1Engine { busy: true }) {
        assert_eq!(
            st, RK_STATUS_DEVICE_BUSY,
            "rk_t1_field_sizes on a busy engine"
        );
    }
    let answers = args_right && engine == Some(Obj::T1Engine { busy: false });
    assert_eq!(
        st == RK_STATUS_SUCCESS,
        answers,
        "rk_t1_field_sizes: status {st}"
    );
    if st == RK_STATUS_SUCCESS {
        let got: (u8, u8) = (read(ifsc), read(ifsd));
        assert!(
            (1..=254).contains(&got.0) && (1..=254).contains(&got.1),
            "rk_t1_field_sizes answered {got:?}"
        );
        if let Some(want) = with(|h| h.t1_sizes[slot]) {
            assert_eq!(got, want, "rk_t1_field_sizes of a fresh or reset engine");
        }
    }
}

/// Run the query `f` on the object in `slot`, which writes a bool to `out`
/// (arguments that overlap as `overlap` says) and nothing else.
fn query(
    slot: usize,
    what: &str,
    out: R,
    overlap: Overlap,
    f: impl FnOnce() -> rk_status,
) -> Option<rk_status> {
    let (own, writes) = ([slot], [out]);
    let site = Site::on(&own).writes(&writes).overlap(overlap);
    site.kind(Kind::Query).run(what, f)
}

/// A query's status and answer: it succeeds exactly when it `answers` (a live
/// object of its kind, an out-pointer clear of it), then `*out` is a bool, the
/// one the harness expects where it knows it.
fn check_answer(what: &str, st: Option<rk_status>, answers: bool, out: R, known: Option<bool>) {
    let Some(st) = st else { return };
    assert_eq!(st == RK_STATUS_SUCCESS, answers, "{what}: status {st}");
    if st == RK_STATUS_SUCCESS {
        let byte: u8 = read(out);
        assert!(byte <= 1, "{what} wrote {byte}, no bool");
        if let Some(want) = known {
            assert_eq!(byte == 1, want, "{what} answered {}", byte == 1);
        }
    }
}
