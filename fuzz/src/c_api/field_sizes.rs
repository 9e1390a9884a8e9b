//! The T=1 information field sizes a table device's TRANSMIT callback reports
//! (`rk_transmit_report_ifsc` / `rk_transmit_report_ifsd`), with the call it
//! received or a hostile one (NULL, misaligned, a copy the library did not
//! make, a call kept past its callback), and what the device answers for
//! GET_ATTRIBUTE `CURRENT_IFSC` / `CURRENT_IFSD` after them.
//!
//! The rules, from the header and the core (`FieldSizeReport`, `CardSlot`):
//! a size of 1 to 254 bytes on the call received (or a copy of it, valid during
//! the callback) is accepted and, once the callback returns, answered until the
//! next report or reset, unless the callback deactivated the card or the card
//! changed meanwhile; any other size or call is `RK_STATUS_INVALID_PARAMETER`
//! and records nothing.

use std::cell::Cell;
use std::mem::{align_of, size_of};
use std::ptr;

use readerkit::attr::{CURRENT_IFSC, CURRENT_IFSD};
use readerkit_c::*;

use super::arena::R;
use super::model::{byte, u32le, with};
use super::oracle::Site;
use super::snapshot;

/// What the TRANSMIT callbacks of the current call did about the field sizes:
/// whether one ran, and the sizes they reported and the library accepted (the
/// last of each, `None` where none was).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported {
    pub(crate) ran: bool,
    pub(crate) ifsc: Option<u8>,
    pub(crate) ifsd: Option<u8>,
}

thread_local! {
    /// How many accepted reports [`check`] compared with the device's answer
    /// (for the seed's test).
    static COMPARED: Cell<u32> = const { Cell::new(0) };
}

/// Which report: the IFSC or the IFSD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Ifsc,
    Ifsd,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Ifsc => "rk_transmit_report_ifsc",
            Which::Ifsd => "rk_transmit_report_ifsd",
        }
    }

    /// Report `size` on `call`.
    ///
    /// # Safety
    ///
    /// `call` is NULL, misaligned, or a call struct whose `internal` is NULL or
    /// the one the running TRANSMIT callback received.
    unsafe fn report(self, call: *const rk_transmit_call, size: u32) -> rk_status {
        // SAFETY: forwarded contract.
        unsafe {
            match self {
                Which::Ifsc => rk_transmit_report_ifsc(call, size),
                Which::Ifsd => rk_transmit_report_ifsd(call, size),
            }
        }
    }
}

/// A size from the fuzzer: mostly 1 to 254 bytes, else 0, 255, past a byte or
/// any value.
fn size() -> u32 {
    match byte() {
        0..=191 => u32::from(byte() % 254) + 1,
        192..=207 => 0,
        208..=223 => 255,
        224..=239 => 256 + u32::from(byte()),
        _ => u32le(),
    }
}

/// Whether `size` is a size the library takes (ISO/IEC 7816-3:2006 11.4.2).
fn valid(size: u32) -> Option<u8> {
    u8::try_from(size).ok().filter(|s| (1..=254).contains(s))
}

/// Storage for a call struct at a misaligned address (one byte past an
/// aligned one).
#[repr(C, align(8))]
struct Misaligned([u8; size_of::<rk_transmit_call>() + 8]);

/// From the TRANSMIT callback that received `call`: sometimes report the field
/// sizes, on `call`, on a copy of it, or on a hostile pointer; check each status
/// and keep what was accepted for [`check`]. Also keeps a copy of the call with
/// its `internal` cleared for [`report_outside`].
///
/// # Safety
///
/// `call` is the call the running TRANSMIT callback received.
pub(crate) unsafe fn report(call: *const rk_transmit_call) {
    // SAFETY: valid during the callback.
    let received = unsafe { *call };
    with(|h| {
        h.reported.ran = true;
        h.stale_call = Some(rk_transmit_call {
            internal: ptr::null(),
            ..received
        })
    });
    if byte() < 160 {
        return;
    }
    let count = byte() % 3 + 1;
    for _ in 0..count {
        let which = if byte() & 1 == 0 {
            Which::Ifsc
        } else {
            Which::Ifsd
        };
        let size = size();
        let copy = received;
        let foreign = rk_transmit_call {
            internal: ptr::null(),
            ..received
        };
        let mut misaligned = Misaligned([0; size_of::<rk_transmit_call>() + 8]);
        let (arg, honest) = match byte() {
            0..=191 => (call, true),
            192..=223 => (ptr::from_ref(&copy), true),
            224..=231 => (ptr::null(), false),
            232..=239 => {
                let p = misaligned.0.as_mut_ptr().wrapping_add(1);
                assert_ne!(p as usize % align_of::<rk_transmit_call>(), 0);
                (p.cast_const().cast(), false)
            }
            _ => (ptr::from_ref(&foreign), false),
        };
        // SAFETY: the call received, a copy of it (same `internal`, valid during
        // the callback), NULL, a misaligned pointer, or a copy whose `internal`
        // is NULL.
        let st = unsafe { which.report(arg, size) };
        let accepted = if honest { valid(size) } else { None };
        let want = if accepted.is_some() {
            RK_STATUS_SUCCESS
        } else {
            RK_STATUS_INVALID_PARAMETER
        };
        assert_eq!(
            st,
            want,
            "{}({size}) on {} call",
            which.name(),
            if honest { "its" } else { "a hostile" }
        );
        if let Some(v) = accepted {
            with(|h| match which {
                Which::Ifsc => h.reported.ifsc = Some(v),
                Which::Ifsd => h.reported.ifsd = Some(v),
            });
        }
    }
}

/// Outside any callback: report a size on NULL or on a call struct kept from an
/// earlier TRANSMIT callback with its `internal` cleared (a call used after its
/// callback with its `internal` intact is undefined by the header's contract:
/// the core's call is gone). Refused with `RK_STATUS_INVALID_PARAMETER`,
/// nothing changed (the arena checked by [`Site`]).
pub(crate) fn report_outside() {
    let which = if byte() & 1 == 0 {
        Which::Ifsc
    } else {
        Which::Ifsd
    };
    let size = size();
    let stale = with(|h| h.stale_call);
    let call = match stale {
        Some(c) if byte() < 192 => c,
        _ => {
            let st = Site::on(&[]).run(which.name(), || {
                // SAFETY: NULL is refused before anything is read.
                unsafe { which.report(ptr::null(), size) }
            });
            assert_eq!(
                st,
                Some(RK_STATUS_INVALID_PARAMETER),
                "{} on NULL",
                which.name()
            );
            return;
        }
    };
    let st = Site::on(&[]).run(which.name(), || {
        // SAFETY: a local call struct whose `internal` is NULL.
        unsafe { which.report(&call, size) }
    });
    assert_eq!(
        st,
        Some(RK_STATUS_INVALID_PARAMETER),
        "{}({size}) on a call kept past its callback",
        which.name()
    );
}

/// GET_ATTRIBUTE `tag` of the device at `dev` into a buffer of ours: its status
/// and, on success, the DWORD.
fn attribute(dev: R, tag: u32) -> (rk_status, Option<u32>) {
    let mut out = [0u8; 8];
    let mut written = usize::MAX;
    let input = tag.to_le_bytes();
    // SAFETY: the live device; our buffers, outside the arena and disjoint.
    let st = unsafe {
        rk_device_control(
            dev.ptr(),
            RK_IOCTL_GET_ATTRIBUTE,
            input.as_ptr(),
            input.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut written,
        )
    };
    let value = (st == RK_STATUS_SUCCESS).then(|| {
        assert_eq!(written, 4, "GET_ATTRIBUTE {tag:#x}: {written} bytes");
        u32::from_le_bytes([out[0], out[1], out[2], out[3]])
    });
    (st, value)
}

/// What a table device answers for the two attributes now.
pub(crate) type Answers = [(rk_status, Option<u32>); 2];

/// `CURRENT_IFSC` and `CURRENT_IFSD` of the live device in `slot` at `dev`.
pub(crate) fn answers(slot: usize, dev: R) -> Answers {
    let now = [attribute(dev, CURRENT_IFSC), attribute(dev, CURRENT_IFSD)];
    // A request may process the device's queued card events.
    snapshot::forget(Some(slot));
    now
}

/// After a request on the live table device in `slot` at `dev` that answered
/// `before` first: when TRANSMIT callbacks ran, none deactivated the card and
/// no card event came, each size reported and accepted is what the device
/// answers now, and a size not accepted leaves the answer as it was.
pub(crate) fn check(slot: usize, dev: R, before: Answers) {
    let (changed, reported) = with(|h| (h.deactivated || h.event_posted, h.reported));
    if !reported.ran || changed {
        return;
    }
    let now = answers(slot, dev);
    for ((name, reported), (before, now)) in [("IFSC", reported.ifsc), ("IFSD", reported.ifsd)]
        .into_iter()
        .zip(before.into_iter().zip(now))
    {
        match reported {
            Some(v) => {
                assert_eq!(
                    now,
                    (RK_STATUS_SUCCESS, Some(u32::from(v))),
                    "CURRENT_{name} after a report of {v}"
                );
                COMPARED.with(|c| c.set(c.get() + 1));
            }
            None => assert_eq!(now, before, "CURRENT_{name} with no size accepted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::COMPARED;

    #[test]
    fn the_seed_reports_a_size_that_current_ifsc_answers() {
        COMPARED.with(|c| c.set(0));
        crate::c_api::run(include_bytes!("../../corpus/c_api/seed-table-field-sizes"));
        let compared = COMPARED.with(Cell::get);
        assert!(compared > 0, "no accepted report was compared");
    }
}
