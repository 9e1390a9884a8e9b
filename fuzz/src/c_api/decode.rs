//! The call decoder: the arguments a careless C caller passes, from the calls'
//! bytes: buffers, out-pointers, object pointers and storage (sometimes NULL,
//! misaligned, too short or over another object), reader tables, lines, caps,
//! IOCTL codes and the input a careful caller would give them.

use readerkit::attr;
use readerkit_c::*;

use super::arena::{ARENA_LEN, BUF_LEN, BUF_OFF, R, SLOT_CAP, slot_off};
use super::callbacks::*;
use super::model::{byte, permitted, u16le, u32le};
use super::pin;

/// A buffer: mostly in the byte area, sometimes anywhere in the arena (over an
/// object), sometimes NULL (with a length that may lie).
pub(crate) fn buffer() -> R {
    buffer_over(&[])
}

/// A buffer as [`buffer`] gives, but where that would put it anywhere in the
/// arena, half the time over one of `targets` (the call's own objects, buffers
/// and out-pointers, which the library refuses to see overlap where one is
/// written).
pub(crate) fn buffer_over(targets: &[R]) -> R {
    let mode = byte();
    let a = usize::from(u16le());
    let b = usize::from(u16le());
    match (mode, pick(targets, mode)) {
        (0..=7, _) => R {
            off: 0,
            len: b % 4,
            null: true,
        },
        (16..=23, Some(target)) => over(target, b % 300 + 1, 1, a),
        (8..=23, _) => {
            let off = a % ARENA_LEN;
            R::at(off, b % (ARENA_LEN - off).min(300) + 1)
        }
        (_, _) => {
            let off = a % BUF_LEN;
            R::at(BUF_OFF + off, b % (BUF_LEN - off + 1))
        }
    }
}

/// An out-pointer for a `T`: mostly aligned in the byte area, sometimes misaligned,
/// sometimes NULL, sometimes inside an object.
pub(crate) fn out<T>() -> R {
    out_over::<T>(&[])
}

/// An out-pointer as [`out`] gives, but where that would put it anywhere in the
/// arena, half the time over one of `targets` (as [`buffer_over`]), mostly
/// aligned for `T` so that the overlap is what the library sees first.
pub(crate) fn out_over<T>(targets: &[R]) -> R {
    let size = size_of::<T>();
    let align = align_of::<T>();
    let mode = byte();
    let a = usize::from(u16le());
    match (mode, pick(targets, mode)) {
        (0..=11, _) => R::NONE,
        (20..=27, Some(target)) => {
            let align = if mode & 1 == 0 { align } else { 1 };
            over(target, size, align, a)
        }
        (12..=27, _) => {
            let off = a % (ARENA_LEN - size);
            R::at(off, size)
        }
        (28..=59, _) => R::at(BUF_OFF + a % (BUF_LEN - size), size),
        (_, _) => R::at(BUF_OFF + (a % (BUF_LEN - size)) / align * align, size),
    }
}

/// One of the `targets` that names bytes, chosen by `choice`.
fn pick(targets: &[R], choice: u8) -> Option<R> {
    let named: Vec<R> = targets
        .iter()
        .copied()
        .filter(|t| !t.null && t.len != 0)
        .collect();
    named.get(usize::from(choice) % named.len().max(1)).copied()
}

/// `len` bytes sharing some with `target` (the first of them `a` bytes on from
/// `len - 1` before its start, modulo the span), aligned down to `align`, inside
/// the arena.
fn over(target: R, len: usize, align: usize, a: usize) -> R {
    let span = target.len + len - 1;
    let start = (target.off + a % span).saturating_sub(len - 1);
    let start = start.min(ARENA_LEN - len) / align * align;
    R::at(start, len)
}

/// A slot pointer for a call on an object: its slot, rarely misaligned or NULL.
pub(crate) fn object(slot: usize) -> R {
    match byte() {
        0..=3 => R::NONE,
        4..=9 => R::at(slot_off(slot) + usize::from(byte() % 7) + 1, 8),
        _ => R::at(slot_off(slot), 8),
    }
}

/// Storage and its length for an init call in `slot`: the right length, the
/// documented size, or any length the slot really has; rarely misaligned.
pub(crate) fn storage(slot: usize, documented: usize) -> (R, usize) {
    let cap = SLOT_CAP[slot];
    let mis = if byte() < 8 {
        usize::from(byte() % 7) + 1
    } else {
        0
    };
    let len = match byte() {
        0..=191 => cap - mis,
        192..=223 => documented.min(cap - mis),
        _ => usize::from(u16le()) % (cap - mis + 1),
    };
    (R::at(slot_off(slot) + mis, len), len)
}

pub(crate) fn pick_slot() -> usize {
    usize::from(byte()) % SLOT_CAP.len()
}

/// A reader table: each callback present or not, as the fuzzer says.
pub(crate) fn table(line: bool) -> rk_reader_functions {
    let f = u16le();
    let on = |bit: u16| f & (1 << bit) != 0;
    rk_reader_functions {
        power: (on(0) && !line).then_some(cb_power as _),
        transmit: (on(1) && !line).then_some(cb_transmit as _),
        set_protocol: (on(2) && !line).then_some(cb_set_protocol as _),
        card_tracking: on(3).then_some(cb_tracking as _),
        vendor_ioctl: on(4).then_some(cb_vendor as _),
        eject: on(5).then_some(cb_mechanism as _),
        swallow: on(6).then_some(cb_mechanism as _),
        confiscate: on(7).then_some(cb_mechanism as _),
        tracking_complete: (!on(8)).then_some(cb_complete as _),
        events_pending: on(9).then_some(cb_events_pending as _),
    }
}

pub(crate) fn line_ops() -> rk_line_ops {
    rk_line_ops {
        reset: Some(cb_power),
        deactivate: Some(ln_deactivate),
        send: Some(ln_send),
        receive: Some(ln_receive),
        set_timing: Some(ln_set_timing),
        set_framing: (byte() & 1 == 0).then_some(ln_set_framing as _),
    }
}

pub(crate) fn caps() -> rk_reader_caps {
    let mut caps: rk_reader_caps = unsafe_zeroed();
    // SAFETY: a local out-pointer.
    assert_eq!(
        unsafe { rk_reader_caps_typical(&mut caps) },
        RK_STATUS_SUCCESS
    );
    match byte() {
        0..=223 => {}
        224..=231 => caps.max_ifsd = byte(),
        232..=239 => caps.protocols = u32le(),
        _ => caps.default_clock_khz = u32le(),
    }
    caps
}

pub(crate) fn unsafe_zeroed<T: Copy>() -> T {
    // SAFETY: only used for plain C structs of integers, for which zero is valid.
    unsafe { std::mem::zeroed() }
}

pub(crate) const VENDOR: &[u8] = b"readerkit fuzz\0";

pub(crate) const TOO_LONG: &[u8] = b"a vendor name longer than thirty-two bytes\0";

/// IOCTL codes: the smart card ones, part 10's, a vendor one, anything.
pub(crate) fn ioctl_code() -> u32 {
    let ctl = pin::ctl_code;
    match byte() % 16 {
        0 => RK_IOCTL_POWER,
        1 => RK_IOCTL_GET_ATTRIBUTE,
        2 => RK_IOCTL_SET_ATTRIBUTE,
        3 => RK_IOCTL_CONFISCATE,
        4 => RK_IOCTL_TRANSMIT,
        5 => RK_IOCTL_EJECT,
        6 => RK_IOCTL_SWALLOW,
        7 => RK_IOCTL_IS_PRESENT,
        8 => RK_IOCTL_IS_ABSENT,
        9 => RK_IOCTL_SET_PROTOCOL,
        10 => RK_IOCTL_GET_STATE,
        11 => RK_IOCTL_GET_LAST_ERROR,
        12 => ctl(3400),
        13 => ctl(RK_FN_VERIFY_PIN_DIRECT + u32::from(byte() & 1)),
        14 => ctl(2048 + u32::from(u16le()) % 2048),
        _ => u32le(),
    }
}

/// Write what a careful caller puts in the input of `code` at the start of
/// `input` (in the byte area, owned by no live object) and give its length (or
/// a longer one); `input` unchanged otherwise.
pub(crate) fn well_formed_input(code: u32, input: R) -> R {
    let mut bytes = Vec::new();
    let word = |v: u32, b: &mut Vec<u8>| b.extend_from_slice(&v.to_le_bytes());
    match code {
        RK_IOCTL_POWER => word(u32::from(byte() % 3), &mut bytes),
        RK_IOCTL_SET_PROTOCOL => {
            let masks = [
                RK_PROTOCOL_T0,
                RK_PROTOCOL_T1,
                3,
                RK_PROTOCOL_DEFAULT | 3,
                RK_PROTOCOL_RAW,
            ];
            word(masks[usize::from(byte()) % masks.len()], &mut bytes);
        }
        RK_IOCTL_GET_ATTRIBUTE | RK_IOCTL_SET_ATTRIBUTE => {
            let ids = [
                attr::ATR_STRING,
                attr::CURRENT_PROTOCOL_TYPE,
                attr::VENDOR_NAME,
                attr::CURRENT_IFSD,
                u32le(),
            ];
            word(ids[usize::from(byte()) % ids.len()], &mut bytes);
            let n = usize::from(byte() % 8);
            bytes.extend((0..n).map(|_| byte()));
        }
        RK_IOCTL_TRANSMIT => {
            // SCARD_IO_REQUEST (protocol, its length 8), then the APDU.
            word(u32::from(byte() % 3), &mut bytes);
            word(8, &mut bytes);
            bytes.extend_from_slice(&[0x00, 0x84, 0x00, 0x00, byte() % 9]);
        }
        code => match pin::operation(code) {
            Some(operation) => bytes = pin::structure(operation),
            None => return input,
        },
    }
    if input.null || input.off < BUF_OFF || input.off + bytes.len() > BUF_OFF + BUF_LEN {
        return input;
    }
    let r = R::at(input.off, bytes.len());
    if !permitted(&[], &[], &[r]) {
        return input;
    }
    for (i, b) in bytes.iter().enumerate() {
        // SAFETY: inside the byte area, owned by no live object.
        unsafe { r.ptr::<u8>().add(i).write(*b) };
    }
    R::at(r.off, bytes.len() + usize::from(byte() >= 240))
}
