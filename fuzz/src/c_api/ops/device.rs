//! Calls on devices: `rk_device_init` / `_init_line`, `rk_device_control`, card
//! events, tracking, state, the keypad, sleep and wake, deinit.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use readerkit_c::*;

use crate::c_api::arena::{R, bytes, read, slot_off, usable_out};
use crate::c_api::callbacks::{kp_next_key, kp_prompt, pw_sleep, pw_wake};
use crate::c_api::decode::*;
use crate::c_api::field_sizes;
use crate::c_api::model::*;
use crate::c_api::oracle::{Kind, Overlap, Site, object_at, refused};
use crate::c_api::pin::{self, PinCall};
use crate::c_api::snapshot;
use readerkit_c::fuzzing::ObjectKind;

pub(crate) fn op_device_init(line: bool) {
    let slot = pick_slot();
    let (st_r, len) = storage(slot, RK_DEVICE_STORAGE_SIZE);
    let table = table(line);
    let with_table = !line || byte() & 1 == 0;
    let lops = line_ops();
    let caps = caps();
    let long_ifd_type = byte() < 16;
    let vendor = rk_vendor_attrs {
        vendor_name: VENDOR.as_ptr().cast(),
        ifd_type: if long_ifd_type {
            TOO_LONG.as_ptr().cast()
        } else {
            ptr::null()
        },
        serial_number: ptr::null(),
        unit: 0,
        ifd_version: 0x0100_0000,
    };
    let ctx = slot as *mut c_void;
    // Everything but the capabilities as the documentation asks (storage aligned
    // and large enough, free; no vendor string too long; tracking with its
    // completion): then the capabilities alone decide.
    let tracking_ok =
        (line && !with_table) || table.card_tracking.is_none() || table.tracking_complete.is_some();
    let clean = obj(slot) == Obj::Free
        && st_r.off == slot_off(slot)
        && len >= RK_DEVICE_STORAGE_SIZE
        && !long_ifd_type
        && tracking_ok;
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
        let caps_ok = documented_caps(&caps);
        assert!(
            caps_ok || st != RK_STATUS_SUCCESS,
            "{what} took capabilities the documentation refuses: protocols {:#x}, max_ifsd {}",
            caps.protocols,
            caps.max_ifsd
        );
        if clean {
            assert_eq!(
                st == RK_STATUS_SUCCESS,
                caps_ok,
                "{what} with every other argument right: status {st}, protocols {:#x}, max_ifsd {}",
                caps.protocols,
                caps.max_ifsd
            );
        }
        took(what, slot, st, Obj::Device { line });
        if st == RK_STATUS_SUCCESS {
            let transmit = line || table.transmit.is_some();
            with(|h| {
                h.outstanding[slot] = 0;
                h.keypad[slot] = false;
                h.transmit[slot] = transmit;
                h.framing[slot] = None;
                h.sleep[slot] = Sleep::Awake;
            });
        }
    }
}

pub(crate) fn op_device(kind: u8) {
    let slot = pick_slot();
    let dev = object(slot);
    let own: &[usize] = &[slot];
    let extra = device_extra(slot);
    let state_before = device_state(slot);
    // `dev` names the live device of `slot` (not a pointer into it, not NULL).
    let live = live_device(slot, dev);
    // Whether a refusal leaves everything as it was (device_control: only when
    // the harness sees a broken precondition).
    let refusal_expected = Cell::new(true);
    let site = Site::on(own).extra(&extra);
    let asleep_before = with(|h| h.sleep[slot]) == Sleep::Asleep;
    let st = match kind % 13 {
        0 => {
            let (st, must_refuse) = control(slot, dev, site);
            refusal_expected.set(must_refuse);
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
        3 => answer_call(site, dev, "rk_cancel_tracking", rk_cancel_tracking).0,
        4 => {
            let (st, state) = answer_call(site, dev, "rk_device_state", rk_device_state);
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
            let st = site.run("rk_device_set_keypad", || unsafe {
                rk_device_set_keypad(dev.ptr(), &ops)
            });
            if let Some(st) = st
                && live
            {
                // The header's rule, written here: a next_key, a minimum of at
                // least one digit, not above the maximum.
                let documented = ops.next_key.is_some()
                    && ops.min_pin_digits >= 1
                    && ops.min_pin_digits <= ops.max_pin_digits;
                assert_eq!(
                    st == RK_STATUS_SUCCESS,
                    documented,
                    "rk_device_set_keypad(min {}, max {}): {st}",
                    ops.min_pin_digits,
                    ops.max_pin_digits
                );
            }
            if st == Some(RK_STATUS_SUCCESS) {
                with(|h| h.keypad[slot] = true);
            }
            st
        }
        6 => {
            let (st, out) = answer_call(site, dev, "rk_device_suspend", rk_device_suspend);
            // The core's rule: refused for its out-pointer (NULL, misaligned,
            // or overlapping the device), nothing changes; otherwise the
            // device is asleep after the call, also when the power-down failed
            // (its status is returned, the card taken as in).
            let stored = object_at(dev, ObjectKind::Device);
            let pointer_ok = usable_out::<bool>(out)
                && Overlap::of(&[out, stored], &[]).checked_first(true) == Overlap::Disjoint;
            follow_sleep(slot, live, dev, st, pointer_ok.then_some(Sleep::Asleep));
            st
        }
        7 => {
            let now = byte() & 1 == 1;
            // SAFETY: as above.
            let st = site.run("rk_device_resume", || unsafe {
                rk_device_resume(dev.ptr(), now)
            });
            // The core's rule: a live device is awake after a resume, which
            // cannot fail (awake already: nothing is done).
            if live && let Some(st) = st {
                assert_eq!(st, RK_STATUS_SUCCESS, "rk_device_resume of a live device");
            }
            follow_sleep(slot, live, dev, st, Some(Sleep::Awake));
            st
        }
        8 => {
            answer_call(
                site,
                dev,
                "rk_device_card_insertions",
                rk_device_card_insertions,
            )
            .0
        }
        9 => {
            let config = rk_line_config {
                t0_envelope: byte(),
                t0_get_response_class: match byte() {
                    0..=199 => -1,
                    200..=219 => -2,
                    _ => u16le() as i16,
                },
                t1_max_retries: byte() % 4,
                t1_max_resynchs: byte() % 4,
            };
            // SAFETY: as above; a local config.
            let st = site.run("rk_device_set_line_config", || unsafe {
                rk_device_set_line_config(dev.ptr(), &config)
            });
            if let Some(st) = st.filter(|_| live) {
                check_line_config(st, &config, obj(slot) == (Obj::Device { line: true }));
            }
            st
        }
        11 => {
            let with_step = byte() & 1 == 0;
            let sleep = if with_step {
                sleep_with_step
            } else {
                sleep_without_step
            };
            let (st, out) = answer_call(site, dev, "rk_device_sleep_with", sleep);
            // As rk_device_suspend, and the step runs once, only when it put
            // an awake device to sleep.
            let stored = object_at(dev, ObjectKind::Device);
            let pointer_ok = usable_out::<bool>(out)
                && Overlap::of(&[out, stored], &[]).checked_first(true) == Overlap::Disjoint;
            let slept = live && pointer_ok && !asleep_before;
            check_steps("rk_device_sleep_with", st, slept && with_step);
            follow_sleep(slot, live, dev, st, pointer_ok.then_some(Sleep::Asleep));
            st
        }
        12 => {
            let wake = (byte() & 1 == 0).then_some(pw_wake as _);
            // SAFETY: as above; the harness's step.
            let st = site.run("rk_device_wake_with", || unsafe {
                rk_device_wake_with(dev.ptr(), wake)
            });
            // As rk_device_resume, and the step runs once, only when it woke
            // a sleeping device.
            if live && let Some(st) = st {
                assert_eq!(
                    st, RK_STATUS_SUCCESS,
                    "rk_device_wake_with of a live device"
                );
            }
            check_steps(
                "rk_device_wake_with",
                st,
                live && asleep_before && wake.is_some(),
            );
            follow_sleep(slot, live, dev, st, Some(Sleep::Awake));
            st
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

/// A call on the device at `dev` that writes one `T` through an out-pointer in
/// the arena, which must not lie in the device (refused first): its status and
/// the out-pointer.
fn answer_call<T>(
    site: Site<'_>,
    dev: R,
    what: &str,
    f: unsafe extern "C" fn(*const rk_device, *mut T) -> rk_status,
) -> (Option<rk_status>, R) {
    let stored = object_at(dev, ObjectKind::Device);
    let writes = [out_over::<T>(&[stored])];
    let [out] = writes;
    let overlap = Overlap::of(&[out, stored], &[]).checked_first(true);
    // SAFETY: the device pointer and an out-pointer in the arena.
    let call = || unsafe { f(dev.ptr(), out.ptr()) };
    (site.writes(&writes).overlap(overlap).run(what, call), out)
}

/// `rk_device_sleep_with` with the harness's sleep step.
///
/// # Safety
///
/// As `rk_device_sleep_with`.
unsafe extern "C" fn sleep_with_step(dev: *const rk_device, card_before: *mut bool) -> rk_status {
    // SAFETY: forwarded contract; the harness's step.
    unsafe { rk_device_sleep_with(dev, Some(pw_sleep), card_before) }
}

/// `rk_device_sleep_with` without a step.
///
/// # Safety
///
/// As `rk_device_sleep_with`.
unsafe extern "C" fn sleep_without_step(
    dev: *const rk_device,
    card_before: *mut bool,
) -> rk_status {
    // SAFETY: forwarded contract.
    unsafe { rk_device_sleep_with(dev, None, card_before) }
}

/// The header's rule for the driver's steps: a sleep or wake step ran once if
/// `ran` (the call made the transition, with a step), else not at all (a
/// refusal, no step, or nothing to do).
fn check_steps(what: &str, st: Option<rk_status>, ran: bool) {
    if st.is_some() {
        let steps = with(|h| h.steps);
        assert_eq!(steps, u32::from(ran), "{what}: steps run (status {st:?})");
    }
}

/// After a suspend or resume call on `slot` (`st`: `None` if it was not made):
/// on a live device the harness's own view of its sleep becomes `to` (`None`:
/// the call changed nothing), and [`check_sleep`] holds.
fn follow_sleep(slot: usize, live: bool, dev: R, st: Option<rk_status>, to: Option<Sleep>) {
    if !live || st.is_none() {
        return;
    }
    if let Some(to) = to {
        with(|h| h.sleep[slot] = to);
    }
    if check_sleep(slot, dev) {
        check_asleep_refusals(dev);
        // Those requests process the card events queued on the device (one the
        // sleep step reported stays queued until the next call on the device), as
        // a state query does: the object is read again before the next call.
        snapshot::forget(Some(slot));
    }
}

/// The live device of `slot` at `dev` sleeps as the harness says ([`Sleep`]):
/// `rk_device_asleep` answers so. Returns whether it sleeps.
fn check_sleep(slot: usize, dev: R) -> bool {
    let asleep = with(|h| h.sleep[slot]) == Sleep::Asleep;
    let mut now = !asleep;
    // SAFETY: the live device and a bool of ours, outside the arena.
    let query = unsafe { rk_device_asleep(dev.ptr(), &mut now) };
    assert_eq!(query, RK_STATUS_SUCCESS, "rk_device_asleep");
    assert_eq!(
        now, asleep,
        "rk_device_asleep, against the harness's own view"
    );
    asleep
}

/// The header's rule for a sleeping device at `dev`: `rk_device_control`
/// refuses a POWER request itself (`RK_STATUS_DEVICE_NOT_READY`, nothing
/// written, no callback) and answers GET_STATE.
fn check_asleep_refusals(dev: R) {
    let control = |code: u32, input: &[u8], out: &mut [u8; 33]| {
        let mut written = usize::MAX;
        // SAFETY: the live device; our buffers, outside the arena and disjoint.
        let st = unsafe {
            rk_device_control(
                dev.ptr(),
                code,
                input.as_ptr(),
                input.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut written,
            )
        };
        (st, written)
    };
    let mut out = [0xA5; 33];
    let cold_reset = RK_POWER_COLD_RESET.to_le_bytes();
    assert_eq!(
        control(RK_IOCTL_POWER, &cold_reset, &mut out),
        (RK_STATUS_DEVICE_NOT_READY, 0),
        "POWER while asleep"
    );
    assert_eq!(out, [0xA5; 33], "POWER while asleep wrote nothing");
    assert_eq!(
        control(RK_IOCTL_GET_STATE, &[], &mut out).0,
        RK_STATUS_SUCCESS,
        "GET_STATE while asleep"
    );
}

/// Whether `dev` names the live device of `slot` (its storage's start).
fn live_device(slot: usize, dev: R) -> bool {
    matches!(obj(slot), Obj::Device { .. }) && dev.off == slot_off(slot)
}

/// The header's rule for `rk_device_set_line_config` on a live device: a class in
/// -2..=255 (else INVALID_PARAMETER), then a device over a line (else
/// NOT_SUPPORTED).
fn check_line_config(st: rk_status, config: &rk_line_config, line: bool) {
    let want = if !(-2..=255).contains(&config.t0_get_response_class) {
        RK_STATUS_INVALID_PARAMETER
    } else if !line {
        RK_STATUS_NOT_SUPPORTED
    } else {
        RK_STATUS_SUCCESS
    };
    assert_eq!(st, want, "rk_device_set_line_config({config:?})");
}

/// The header's rule for `rk_reader_caps`, written here: `max_ifsd` 1..=254 and at
/// least one of `RK_PROTOCOL_T0`, `_T1`, `_RAW` (other bits ignored).
fn documented_caps(caps: &rk_reader_caps) -> bool {
    let known = RK_PROTOCOL_T0 | RK_PROTOCOL_T1 | RK_PROTOCOL_RAW;
    caps.max_ifsd != 0 && caps.max_ifsd != 255 && caps.protocols & known != 0
}

/// `rk_device_control` on `slot` through `dev` with a fuzzer-chosen request; the
/// status (if the call was made) and whether a refusal must change nothing.
fn control(slot: usize, dev: R, site: Site<'_>) -> (Option<rk_status>, bool) {
    let code = ioctl_code();
    let stored = object_at(dev, ObjectKind::Device);
    let mut input = buffer_over(&[stored]);
    if byte() < 192 {
        input = well_formed_input(code, input);
    }
    let output = buffer_over(&[stored, input]);
    let bw = out_over::<usize>(&[stored, input, output]);
    let before: usize = if bw.null { 0 } else { read(bw) };
    let live = live_device(slot, dev);
    let null_with_len = |r: R| r.null && r.len != 0;
    // The output, the count and the device written, the input read: checked
    // first (after the count's alignment, refused the same way).
    let overlap = Overlap::of(&[output, bw, stored], &[input]).checked_first(true);
    let must_refuse = !live
        || (!bw.null && !usable_out::<usize>(bw))
        || overlap != Overlap::Disjoint
        || null_with_len(input)
        || null_with_len(output);
    let (reads, writes) = ([input], [output, bw]);
    let site = site.reads(&reads).writes(&writes).overlap(overlap);
    let ((i, n), (o, m)) = (input.parts(), output.parts());
    let site = site.kind(Kind::Request { must_refuse });
    // A PIN request's structure as the library gets it.
    let structure = bytes(input);
    let framing = with(|h| h.framing[slot]);
    // A live table device's field sizes in force, before its callbacks report any.
    let table_device = live && obj(slot) == (Obj::Device { line: false });
    let sizes_before = table_device.then(|| field_sizes::answers(slot, R::slot(slot)));
    let st = site.run("rk_device_control", || {
        // SAFETY: arena memory for every buffer and out-pointer.
        unsafe { rk_device_control(dev.ptr(), code, i, n, o, m, bw.ptr()) }
    });
    if let Some(st) = st
        && let Some(operation) = pin::operation(code)
        && !must_refuse
    {
        // Asleep (the harness's own view, checked against the device's), the
        // device refuses the request before it reads the structure.
        let asleep = check_sleep(slot, dev);
        if asleep {
            assert_eq!(st, RK_STATUS_DEVICE_NOT_READY, "a PIN request while asleep");
        }
        let served = !asleep && with(|h| h.keypad[slot] && h.transmit[slot]);
        let table = obj(slot) == (Obj::Device { line: false });
        let call = PinCall {
            operation,
            structure: &structure,
            served,
            table,
            framing,
            output,
            bytes_written: pin::bytes_written(bw, output),
        };
        pin::check_answer(&call, st);
    }
    if let (Some(_), Some(before)) = (st, sizes_before) {
        field_sizes::check(slot, R::slot(slot), before);
    }
    if st == Some(RK_STATUS_SUCCESS) && code == RK_IOCTL_SET_PROTOCOL {
        assert_ne!(
            with(|h| h.timing_ok),
            Some(false),
            "SET_PROTOCOL succeeded with a callback's timing whose F, D or clock is 0"
        );
    }
    if let Some(st) = st
        && with(|h| h.deactivated && !h.event_posted)
    {
        // The header's rule: a callback that deactivated the card fails its
        // request and leaves the card unpowered (unless the card changed).
        assert_ne!(st, RK_STATUS_SUCCESS, "success after a deactivation");
        let state = device_state(slot);
        assert!(
            matches!(state, Some(2 | 3)),
            "state {state:?} after a deactivation"
        );
    }
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
    (st, must_refuse)
}
