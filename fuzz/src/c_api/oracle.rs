//! The oracles every call goes through ([`Site::run`]): the status is documented
//! (and `RK_STATUS_UNSUCCESSFUL` only after a callback said so), the arena changed
//! only in the call's own objects and named buffers (nothing at all for a
//! refusal), and an action written is consistent with the status.

use readerkit_c::*;

use readerkit_c::fuzzing::{ObjectKind, object_len};

use super::arena::{R, read, usable_out};
use super::model::{Obj, obj, permitted, set_known, set_obj, with};
use super::padding::Written;
use super::snapshot::{check_writes, snapshot};

/// The statuses a call refuses with, changing nothing.
pub(crate) fn refused(st: rk_status) -> bool {
    matches!(
        st,
        RK_STATUS_INVALID_PARAMETER | RK_STATUS_INVALID_DEVICE_STATE | RK_STATUS_DEVICE_BUSY
    )
}

/// Start of a call: reset the callback flags.
pub(crate) fn begin_call() {
    with(|h| {
        h.callback_ran = false;
        h.callback_unsuccessful = false;
        h.keys.clear();
        h.transmits.clear();
        h.sends.clear();
        h.timing_ok = None;
        h.deactivated = false;
        h.event_posted = false;
        h.steps = 0;
        h.reported = Default::default();
    });
}

/// The checks every status gets.
pub(crate) fn check_status(what: &str, st: rk_status, pending_ok: bool) {
    assert!(st <= RK_STATUS_PENDING, "{what}: undocumented status {st}");
    assert!(pending_ok || st != RK_STATUS_PENDING, "{what}: PENDING");
    if st == RK_STATUS_UNSUCCESSFUL {
        assert!(
            with(|h| h.callback_unsuccessful),
            "{what}: UNSUCCESSFUL (a panic?) with no callback saying so"
        );
    }
}

/// What a call is, for its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
    /// A query of an engine's state (`rk_t0_out_of_step`,
    /// `rk_t1_resynch_failed`): refuses with `refused` statuses, changing nothing,
    /// and otherwise writes its out-pointer and nothing else: not even its own
    /// object's state changes.
    Query,
    /// An init, a begin, an ATR parse: every failure is a refusal (nothing stored, nothing
    /// written).
    Begin,
    /// `rk_t1_begin`: a failure stores nothing, but the engine may refuse the
    /// command itself, as documented, with its status in a FAILED `*action`
    /// (`action`): an APDU empty or too long (`command_refusable`), then only
    /// `*action` is written; or a resynchronisation owed that `max_resynchs` 0
    /// forbids (`RK_STATUS_DEVICE_PROTOCOL_ERROR`), then the engine in slot
    /// `engine` records the failure too.
    T1Begin {
        action: R,
        engine: usize,
        command_refusable: bool,
    },
}

/// Whether a call's arguments overlap where the library refuses them: a region
/// the call writes shares a byte with another it writes or one it reads
/// (readerkit-c's `guard::check_disjoint`), from the regions the library gives
/// each buffer, out-pointer and object ([`object_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    /// No such overlap.
    Disjoint,
    /// Some: the call is refused and changes nothing (with the status of
    /// whatever the library checks first).
    Refused,
    /// Some, and the library checks them before anything else that could fail
    /// here: refused with `RK_STATUS_INVALID_PARAMETER`, changing nothing.
    InvalidParameter,
}

impl Overlap {
    /// `Refused` if a `written` region shares a byte with another `written` one
    /// or a `read` one, else `Disjoint`.
    pub(crate) fn of(written: &[R], read: &[R]) -> Overlap {
        let clash = written.iter().enumerate().any(|(i, w)| {
            written[i + 1..]
                .iter()
                .chain(read)
                .any(|other| w.overlaps(*other))
        });
        if clash {
            Overlap::Refused
        } else {
            Overlap::Disjoint
        }
    }

    /// A T=0 or T=1 begin's rule (readerkit-c's `Held::borrow`): the response
    /// buffer clear of the APDU, what the call writes clear of both.
    pub(crate) fn begin(apdu: R, response: R, written: &[R]) -> Overlap {
        Overlap::of(&[response], &[apdu]).or(Overlap::of(written, &[apdu, response]))
    }

    /// An engine step's rule (`Held::check_call`): the card's bytes `read` clear
    /// of the response buffer the engine holds, what the step writes clear of
    /// them, the held buffers and each other.
    pub(crate) fn step(held: (R, R), written: &[R], read: R) -> Overlap {
        let (apdu, response) = held;
        Overlap::of(&[response], &[read, apdu]).or(Overlap::of(written, &[read, apdu, response]))
    }

    /// This, or `other` if this is `Disjoint`.
    fn or(self, other: Overlap) -> Overlap {
        match self {
            Overlap::Disjoint => other,
            refused => refused,
        }
    }

    /// `InvalidParameter` for `Refused` when `first`: the library checks the
    /// overlap before anything else that fails.
    pub(crate) fn checked_first(self, first: bool) -> Overlap {
        match self {
            Overlap::Refused if first => Overlap::InvalidParameter,
            o => o,
        }
    }
}

/// The bytes the library's overlap checks give an object of `kind` at `ptr`
/// (NULL: none).
pub(crate) fn object_at(ptr: R, kind: ObjectKind) -> R {
    if ptr.null {
        R::NONE
    } else {
        R::at(ptr.off, object_len(kind))
    }
}

/// What a call names: its own slots, the bytes it reads and writes (and the C
/// structs among them it writes whole), what else it may write (held buffers,
/// the card the line uses), what kind of call it is and whether its arguments
/// overlap.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    pub(crate) own: &'a [usize],
    pub(crate) reads: &'a [R],
    pub(crate) writes: &'a [R],
    pub(crate) structs: &'a [Written],
    pub(crate) extra: &'a [R],
    pub(crate) kind: Kind,
    pub(crate) overlap: Overlap,
}

impl<'a> Site<'a> {
    /// A plain call on `own` slots that names nothing else.
    pub(crate) fn on(own: &'a [usize]) -> Site<'a> {
        Site {
            own,
            reads: &[],
            writes: &[],
            structs: &[],
            extra: &[],
            kind: Kind::Plain,
            overlap: Overlap::Disjoint,
        }
    }

    pub(crate) fn reads(self, reads: &'a [R]) -> Site<'a> {
        Site { reads, ..self }
    }

    pub(crate) fn writes(self, writes: &'a [R]) -> Site<'a> {
        Site { writes, ..self }
    }

    pub(crate) fn structs(self, structs: &'a [Written]) -> Site<'a> {
        Site { structs, ..self }
    }

    pub(crate) fn overlap(self, overlap: Overlap) -> Site<'a> {
        Site { overlap, ..self }
    }

    pub(crate) fn extra(self, extra: &'a [R]) -> Site<'a> {
        Site { extra, ..self }
    }

    pub(crate) fn kind(self, kind: Kind) -> Site<'a> {
        Site { kind, ..self }
    }

    /// Run the call `f` (see [`call`]).
    pub(crate) fn run(self, what: &str, f: impl FnOnce() -> rk_status) -> Option<rk_status> {
        call(what, self, f)
    }
}

/// Run one call on `own` slots that names `reads` and `writes`; `extra`: what
/// else it may write (held buffers, the card the line uses). Checks the status,
/// the arena and, for a refusal, that nothing changed.
pub(crate) fn call(what: &str, site: Site<'_>, f: impl FnOnce() -> rk_status) -> Option<rk_status> {
    let Site {
        own,
        reads,
        writes,
        structs,
        extra,
        kind,
        overlap,
    } = site;
    if !permitted(own, reads, writes) {
        return None;
    }
    let before = snapshot();
    begin_call();
    let st = f();
    check_status(what, st, matches!(kind, Kind::Request { .. }));
    match overlap {
        Overlap::Disjoint => {}
        Overlap::Refused => assert!(
            !matches!(st, RK_STATUS_SUCCESS | RK_STATUS_PENDING) && !with(|h| h.callback_ran),
            "{what}: {st} with arguments that overlap"
        ),
        Overlap::InvalidParameter => assert_eq!(
            st, RK_STATUS_INVALID_PARAMETER,
            "{what} with arguments that overlap"
        ),
    }
    let refusal = match kind {
        Kind::Plain | Kind::Query => refused(st),
        Kind::Step { live } => {
            matches!(st, RK_STATUS_INVALID_PARAMETER | RK_STATUS_DEVICE_BUSY)
                || (!live && st == RK_STATUS_INVALID_DEVICE_STATE)
        }
        Kind::Begin | Kind::T1Begin { .. } => st != RK_STATUS_SUCCESS,
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
    if overlap != Overlap::Disjoint {
        // Refused before anything was written: nothing changed.
    } else if step_refused {
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
    } else if let Kind::T1Begin {
        action,
        engine,
        command_refusable,
    } = kind
        && refusal
    {
        // What the engine's own refusals may write.
        match st {
            RK_STATUS_INVALID_PARAMETER if command_refusable => allowed.push(action),
            RK_STATUS_DEVICE_PROTOCOL_ERROR => allowed.extend([action, R::slot(engine)]),
            _ => {}
        }
    } else if kind == Kind::Query {
        if !quiet_refusal {
            allowed.extend_from_slice(writes);
        }
    } else if !quiet_refusal {
        allowed.extend(own.iter().map(|&s| R::slot(s)));
        allowed.extend_from_slice(writes);
        allowed.extend_from_slice(extra);
    }
    check_writes(what, st, &before, &allowed, structs);
    Some(st)
}

/// Check an action written by a call that was not refused.
pub(crate) fn check_action(what: &str, st: rk_status, action: R, resp: R) {
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

/// After a step of the live engine in `slot` returned `st`: a step on an ended
/// engine is refused with `RK_STATUS_INVALID_DEVICE_STATE` (unless its arguments
/// were refused first) and writes how the engine ended; a step that writes DONE or
/// fails ends the engine.
pub(crate) fn check_end(what: &str, slot: usize, st: rk_status, action: R) {
    let Some(ended) = obj(slot).ended() else {
        return;
    };
    if matches!(st, RK_STATUS_INVALID_PARAMETER | RK_STATUS_DEVICE_BUSY) {
        return;
    }
    if ended {
        assert_eq!(
            st, RK_STATUS_INVALID_DEVICE_STATE,
            "{what} on an ended engine was not refused"
        );
        let a: rk_action = read(action);
        assert!(
            matches!(a.kind, RK_ACTION_DONE | RK_ACTION_FAILED),
            "{what} on an ended engine wrote {a:?}"
        );
        return;
    }
    let now = match st {
        RK_STATUS_SUCCESS => read::<rk_action>(action).kind == RK_ACTION_DONE,
        // Refused: out of order, nothing changed.
        RK_STATUS_INVALID_DEVICE_STATE => false,
        _ => true,
    };
    if now {
        // Completed: the card is in step (a T=0 exchange is not out of step, a
        // T=1 engine's resynchronisation did not fail); a T=0 exchange the card
        // left unanswered is out of step; any other failure: the header leaves
        // it to the error.
        let t0 = matches!(obj(slot), Obj::T0 { .. });
        set_known(
            slot,
            match st {
                RK_STATUS_SUCCESS => Some(false),
                RK_STATUS_IO_TIMEOUT if t0 => Some(true),
                _ => None,
            },
        );
    }
    set_obj(slot, obj(slot).with_ended(now));
}
