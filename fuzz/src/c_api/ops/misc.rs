//! Calls on simulated cards and calls on no object (a caller preparing a buffer,
//! ATR parsing, logging, status conversions, default configs), and the release
//! of every live object at the end of a run.

use std::ptr;

use readerkit_c::*;

use crate::c_api::arena::{R, SLOT_CAP, bytes, read, usable_out};
use crate::c_api::callbacks::log_line;
use crate::c_api::decode::*;
use crate::c_api::field_sizes;
use crate::c_api::model::*;
use crate::c_api::oracle::{Kind, Overlap, Site, begin_call, check_status, object_at};
use crate::c_api::padding::Written;
use readerkit_c::fuzzing::ObjectKind;

pub(crate) fn op_sim(kind: u8) {
    let slot = pick_slot();
    match kind % 5 {
        0 => {
            let (card, len) = storage(slot, RK_SIM_CARD_STORAGE_SIZE);
            let profile = if byte() < 240 {
                u32::from(byte() % 4)
            } else {
                u32le()
            };
            let (own, writes) = ([slot], [card]);
            let site = Site::on(&own).writes(&writes).kind(Kind::Begin);
            // SAFETY: arena memory.
            let st = site.run("rk_sim_init", || unsafe {
                rk_sim_init(card.ptr(), len, profile)
            });
            if let Some(st) = st {
                took("rk_sim_init", slot, st, Obj::Sim);
            }
        }
        1 => {
            let card = object(slot);
            // SAFETY: arena memory.
            let st =
                Site::on(&[slot]).run("rk_sim_deinit", || unsafe { rk_sim_deinit(card.ptr()) });
            if st == Some(RK_STATUS_SUCCESS) {
                assert_eq!(obj(slot), Obj::Sim);
                set_obj(slot, Obj::Free);
            }
        }
        2 => {
            let card = object(slot);
            let action = if byte() < 224 {
                u32::from(byte() % 3)
            } else {
                u32le()
            };
            // SAFETY: arena memory.
            Site::on(&[slot]).run("rk_sim_power", || unsafe {
                rk_sim_power(card.ptr(), action)
            });
        }
        3 => {
            let card = object(slot);
            let stored = object_at(card, ObjectKind::SimCard);
            let reads = [buffer_over(&[stored])];
            let (d, n) = reads[0].parts();
            // The card's bytes must not lie in the card (checked first).
            let overlap = Overlap::of(&[stored], &reads).checked_first(true);
            // SAFETY: arena memory.
            let write = || unsafe { rk_sim_write(card.ptr(), d, n) };
            Site::on(&[slot])
                .reads(&reads)
                .overlap(overlap)
                .run("rk_sim_write", write);
        }
        _ => {
            let card = object(slot);
            let stored = object_at(card, ObjectKind::SimCard);
            let data = buffer_over(&[stored]);
            let len = out_over::<usize>(&[stored, data]);
            let writes = [data, len];
            // The bytes, their count and the card, all written: apart (checked
            // first, after the count's alignment, refused the same way).
            let overlap = Overlap::of(&[data, len, stored], &[]).checked_first(true);
            // SAFETY: arena memory.
            let sim_read = || unsafe { rk_sim_read(card.ptr(), data.ptr(), data.len, len.ptr()) };
            let st = Site::on(&[slot])
                .writes(&writes)
                .overlap(overlap)
                .run("rk_sim_read", sim_read);
            if st == Some(RK_STATUS_SUCCESS) && usable_out::<usize>(len) {
                let n: usize = read(len);
                assert!(n <= data.len, "rk_sim_read: {n} bytes into {}", data.len);
            }
        }
    }
}

pub(crate) fn op_misc(kind: u8) {
    match kind % 7 {
        0 => {
            // The caller prepares a buffer (an APDU, a request, a config).
            let r = buffer();
            if !r.null && permitted(&[], &[], &[r]) {
                for i in 0..r.len.min(64) {
                    // SAFETY: inside the arena, owned by no live object.
                    unsafe { r.ptr::<u8>().add(i).write(byte()) };
                }
            }
        }
        1 => {
            let atr = buffer();
            let info = out_over::<rk_atr_info>(&[atr]);
            let given = bytes(atr);
            let overlap = Overlap::of(&[info], &[atr]).checked_first(true);
            let st = Site::on(&[])
                .reads(&[atr])
                .writes(&[info])
                .structs(&[Written::of::<rk_atr_info>(info)])
                .overlap(overlap)
                .kind(Kind::Begin)
                .run("rk_atr_parse", || {
                    // SAFETY: arena memory.
                    unsafe { rk_atr_parse(atr.ptr(), atr.len, info.ptr()) }
                });
            if st == Some(RK_STATUS_SUCCESS) {
                let i: rk_atr_info = read(info);
                assert!(usize::from(i.len) <= atr.len.min(RK_MAX_ATR_LEN));
                let (off, n) = (
                    usize::from(i.historical_offset),
                    usize::from(i.historical_len),
                );
                assert!(off + n <= usize::from(i.len));
                // The same bytes through the core: the C view names its
                // historical bytes.
                let core = readerkit::atr::Atr::parse(&given).expect("C parsed, the core did not");
                assert_eq!(
                    &i.bytes[off..off + n],
                    core.historical(),
                    "historical bytes"
                );
                assert_eq!(usize::from(i.len), core.as_bytes().len());
            }
        }
        2 => {
            let level = if byte() < 240 {
                u32::from(byte() % 6)
            } else {
                u32le()
            };
            let cb: rk_log_fn = if byte() >= 16 { Some(log_line) } else { None };
            begin_call();
            // SAFETY: a callback that stays callable.
            let st = unsafe { rk_log_set(cb, ptr::null_mut(), level) };
            check_status("rk_log_set", st, false);
            assert_eq!(
                st != RK_STATUS_SUCCESS,
                level > RK_LOG_TRACE,
                "rk_log_set({level}): {st}"
            );
        }
        3 if kind == 31 => field_sizes::report_outside(),
        3 => {
            let st = u32le() % 24;
            let _ = (
                rk_status_to_ntstatus(st),
                rk_status_to_win32(st),
                rk_status_to_ifd(st),
                rk_status_to_scard(st),
            );
            let back = rk_status_from_ntstatus(rk_status_to_ntstatus(st));
            assert!(back <= RK_STATUS_PENDING);
            let d = rk_status_description(st);
            // SAFETY: a static NUL-terminated string.
            assert!(!unsafe { std::ffi::CStr::from_ptr(d) }.is_empty());
        }
        4 => {
            let config = out::<rk_t0_config>();
            let wt = u32le();
            Site::on(&[])
                .writes(&[config])
                .structs(&[Written::of::<rk_t0_config>(config)])
                .run("rk_t0_config_default", || {
                    // SAFETY: arena memory.
                    unsafe { rk_t0_config_default(config.ptr(), wt) }
                });
        }
        5 => {
            let config = out::<rk_line_config>();
            Site::on(&[])
                .writes(&[config])
                .structs(&[Written::of::<rk_line_config>(config)])
                .run("rk_line_config_default", || {
                    // SAFETY: arena memory.
                    unsafe { rk_line_config_default(config.ptr()) }
                });
        }
        _ => {
            let config = out::<rk_t1_config>();
            let (ifsc, edc) = (byte(), byte() % 3);
            Site::on(&[])
                .writes(&[config])
                .structs(&[Written::of::<rk_t1_config>(config)])
                .run("rk_t1_config_default", || {
                    // SAFETY: arena memory.
                    unsafe { rk_t1_config_default(config.ptr(), ifsc, edc) }
                });
        }
    }
}

/// Release every live object (transactions first, then engines, devices, cards):
/// each must go with success.
pub(crate) fn teardown() {
    for pass in 0..3 {
        for slot in 0..SLOT_CAP.len() {
            let p: *mut u8 = R::slot(slot).ptr();
            // SAFETY: live objects in their own storage, released once.
            let st = unsafe {
                match (pass, obj(slot)) {
                    (0, Obj::T1Tx { .. }) => rk_t1_end(p.cast()),
                    (0, Obj::T0 { .. }) => rk_t0_end(p.cast()),
                    (1, Obj::T1Engine { .. }) => rk_t1_deinit(p.cast()),
                    (1, Obj::Device { .. }) => rk_device_deinit(p.cast()),
                    (2, Obj::Sim) => rk_sim_deinit(p.cast()),
                    _ => continue,
                }
            };
            let was = obj(slot);
            assert_eq!(st, RK_STATUS_SUCCESS, "releasing {was:?} in slot {slot}");
            if matches!(was, Obj::Device { .. }) {
                assert_eq!(
                    with(|h| h.outstanding[slot]),
                    0,
                    "deinit left tracking uncompleted"
                );
            }
            set_obj(slot, Obj::Free);
            if let Obj::T1Tx { engine, .. } = was {
                set_obj(engine, Obj::T1Engine { busy: false });
            }
        }
    }
    // SAFETY: logging off.
    assert_eq!(
        unsafe { rk_log_set(None, ptr::null_mut(), RK_LOG_OFF) },
        RK_STATUS_SUCCESS
    );
}
