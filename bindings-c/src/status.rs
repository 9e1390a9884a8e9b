//! Status codes and their NTSTATUS, Win32, `IFD_*` and `SCARD_*` values.
//!
//! `rk_status` is a small integer: `RK_STATUS_SUCCESS` (0) and one code per
//! readerkit `Status`, in the core's declaration order, plus `RK_STATUS_PENDING` for
//! a card-tracking request that will complete later through the table's
//! `tracking_complete` callback. [`rk_status_to_ntstatus`], [`rk_status_to_win32`],
//! [`rk_status_to_ifd`] and [`rk_status_to_scard`] give a status's value in the other
//! code spaces, read from the core's one status table (several statuses share an
//! `IFD_*` or `SCARD_*` value); the host's own headers name those values.
//!
//! Errors of the C boundary itself use the same codes: a `NULL` pointer, a
//! misaligned object or a bad value is `RK_STATUS_INVALID_PARAMETER`; storage or a
//! buffer too small is `RK_STATUS_BUFFER_TOO_SMALL`; a device or engine that was never
//! initialised (or de-initialised, or copied) is `RK_STATUS_INVALID_DEVICE_STATE`; a
//! panic inside the library (a bug) is `RK_STATUS_UNSUCCESSFUL`.

use readerkit::status::{NTSTATUS_PENDING, WIN32_IO_PENDING};
use readerkit::{Failure, Status};

/// A status code: `RK_STATUS_*`.
pub type rk_status = u32;

/// `Status::Success`: NTSTATUS `0x0`.
pub const RK_STATUS_SUCCESS: rk_status = 0;
/// `Status::BufferOverflow`: NTSTATUS `0x80000005`.
pub const RK_STATUS_BUFFER_OVERFLOW: rk_status = 1;
/// `Status::DeviceBusy`: NTSTATUS `0x80000011`.
pub const RK_STATUS_DEVICE_BUSY: rk_status = 2;
/// `Status::Unsuccessful`: NTSTATUS `0xc0000001`.
pub const RK_STATUS_UNSUCCESSFUL: rk_status = 3;
/// `Status::InvalidParameter`: NTSTATUS `0xc000000d`.
pub const RK_STATUS_INVALID_PARAMETER: rk_status = 4;
/// `Status::InvalidDeviceRequest`: NTSTATUS `0xc0000010`.
pub const RK_STATUS_INVALID_DEVICE_REQUEST: rk_status = 5;
/// `Status::UnrecognizedMedia`: NTSTATUS `0xc0000014`.
pub const RK_STATUS_UNRECOGNIZED_MEDIA: rk_status = 6;
/// `Status::BufferTooSmall`: NTSTATUS `0xc0000023`.
pub const RK_STATUS_BUFFER_TOO_SMALL: rk_status = 7;
/// `Status::DeletePending`: NTSTATUS `0xc0000056`.
pub const RK_STATUS_DELETE_PENDING: rk_status = 8;
/// `Status::InsufficientResources`: NTSTATUS `0xc000009a`.
pub const RK_STATUS_INSUFFICIENT_RESOURCES: rk_status = 9;
/// `Status::IoTimeout`: NTSTATUS `0xc00000b5`.
pub const RK_STATUS_IO_TIMEOUT: rk_status = 10;
/// `Status::NotSupported`: NTSTATUS `0xc00000bb`.
pub const RK_STATUS_NOT_SUPPORTED: rk_status = 11;
/// `Status::Cancelled`: NTSTATUS `0xc0000120`.
pub const RK_STATUS_CANCELLED: rk_status = 12;
/// `Status::NoMedia`: NTSTATUS `0xc0000178`.
pub const RK_STATUS_NO_MEDIA: rk_status = 13;
/// `Status::InvalidDeviceState`: NTSTATUS `0xc0000184`.
pub const RK_STATUS_INVALID_DEVICE_STATE: rk_status = 14;
/// `Status::DeviceProtocolError`: NTSTATUS `0xc0000186`.
pub const RK_STATUS_DEVICE_PROTOCOL_ERROR: rk_status = 15;
/// `Status::DeviceNotReady`: NTSTATUS `0xc00000a3`. The device is asleep
/// (`rk_device_suspend`) and the request needs the reader or the card.
pub const RK_STATUS_DEVICE_NOT_READY: rk_status = 16;
/// Not a failure: the request (IS_PRESENT / IS_ABSENT) waits for a card event and
/// will be completed through the table's `tracking_complete` callback. One past
/// the last status.
pub const RK_STATUS_PENDING: rk_status = 17;

/// The C code of a status (or of an error the core maps to one, as every engine
/// error): its index in [`Status::ALL`] (the core's declaration order, which the
/// `RK_STATUS_*` values follow).
pub(crate) fn to_rk(status: impl Into<Status>) -> rk_status {
    let status = status.into();
    Status::ALL
        .iter()
        .position(|s| *s == status)
        .map_or(RK_STATUS_UNSUCCESSFUL, |i| i as rk_status)
}

/// The status of a C code; `None` for `RK_STATUS_PENDING` and unknown values.
pub(crate) fn from_rk(code: rk_status) -> Option<Status> {
    Status::ALL.get(usize::try_from(code).ok()?).copied()
}

/// The result of a C callback: success, or the failure it returned (an unknown code
/// is `Unsuccessful`).
pub(crate) fn callback_result(code: rk_status) -> Result<(), Failure> {
    from_rk(code).map_or(Err(Failure::Unsuccessful), Status::into_result)
}

/// The NTSTATUS value of `status` (`STATUS_PENDING` for `RK_STATUS_PENDING`,
/// `STATUS_UNSUCCESSFUL` for an unknown code).
#[unsafe(no_mangle)]
pub extern "C" fn rk_status_to_ntstatus(status: rk_status) -> u32 {
    if status == RK_STATUS_PENDING {
        return NTSTATUS_PENDING;
    }
    from_rk(status)
        .unwrap_or(Status::Unsuccessful)
        .to_ntstatus()
}

/// The Win32 error code of `status` (`ERROR_GEN_FAILURE` for an unknown code,
/// `ERROR_IO_PENDING` (997) for `RK_STATUS_PENDING`).
#[unsafe(no_mangle)]
pub extern "C" fn rk_status_to_win32(status: rk_status) -> u32 {
    if status == RK_STATUS_PENDING {
        return WIN32_IO_PENDING;
    }
    from_rk(status).unwrap_or(Status::Unsuccessful).to_win32()
}

/// The pcsc-lite `IFD_*` code of `status` (`IFD_COMMUNICATION_ERROR` for unknown
/// codes and `RK_STATUS_PENDING`).
#[unsafe(no_mangle)]
pub extern "C" fn rk_status_to_ifd(status: rk_status) -> u32 {
    from_rk(status).unwrap_or(Status::Unsuccessful).to_ifd()
}

/// The PC/SC `SCARD_*` code of `status` (`SCARD_F_INTERNAL_ERROR` for unknown codes
/// and `RK_STATUS_PENDING`).
#[unsafe(no_mangle)]
pub extern "C" fn rk_status_to_scard(status: rk_status) -> u32 {
    from_rk(status).unwrap_or(Status::Unsuccessful).to_scard()
}

/// The status of an NTSTATUS value; `RK_STATUS_UNSUCCESSFUL` if it is none of ours.
#[unsafe(no_mangle)]
pub extern "C" fn rk_status_from_ntstatus(ntstatus: u32) -> rk_status {
    Status::from_ntstatus(ntstatus).map_or(RK_STATUS_UNSUCCESSFUL, to_rk)
}

/// A short English description of `status` (a static NUL-terminated string): the
/// core's, but for `RK_STATUS_DEVICE_BUSY`, which the C calls also return for their
/// own reasons, and `RK_STATUS_PENDING`, which is no core status.
#[unsafe(no_mangle)]
pub extern "C" fn rk_status_description(status: rk_status) -> *const core::ffi::c_char {
    let text = match status {
        RK_STATUS_PENDING => c"pending: waits for a card event",
        RK_STATUS_DEVICE_BUSY => {
            c"busy: cannot be done now (a card-tracking request is already pending, the \
              call came from inside one of the device's own callbacks, the object is \
              already initialised, or the engine is in use)"
        }
        _ => from_rk(status).map_or(c"unknown status code", Status::c_description),
    };
    text.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_core_and_translate_through_it() {
        for (i, status) in Status::ALL.iter().enumerate() {
            let code = i as rk_status;
            assert_eq!(from_rk(code), Some(*status));
            assert_eq!(to_rk(*status), code);
            assert_eq!(rk_status_to_ntstatus(code), status.to_ntstatus());
            assert_eq!(rk_status_to_win32(code), status.to_win32());
            assert_eq!(rk_status_to_ifd(code), status.to_ifd());
            assert_eq!(rk_status_to_scard(code), status.to_scard());
            assert_eq!(rk_status_from_ntstatus(status.to_ntstatus()), code);
        }
        assert_eq!(callback_result(RK_STATUS_SUCCESS), Ok(()));
        assert_eq!(
            callback_result(RK_STATUS_IO_TIMEOUT),
            Err(Failure::IoTimeout)
        );
        assert_eq!(
            callback_result(RK_STATUS_PENDING),
            Err(Failure::Unsuccessful)
        );
        assert_eq!(callback_result(999), Err(Failure::Unsuccessful));
        assert_eq!(rk_status_to_ntstatus(RK_STATUS_PENDING), 0x103);
        assert_eq!(rk_status_to_win32(RK_STATUS_PENDING), 997);
        assert_eq!(
            rk_status_to_ntstatus(999),
            Status::Unsuccessful.to_ntstatus()
        );
        assert_eq!(
            rk_status_to_ifd(RK_STATUS_PENDING),
            Status::Unsuccessful.to_ifd()
        );
        assert_eq!(rk_status_to_scard(999), Status::Unsuccessful.to_scard());
    }

    fn description(status: rk_status) -> &'static str {
        // SAFETY: rk_status_description returns a static NUL-terminated string.
        let text = unsafe { core::ffi::CStr::from_ptr(rk_status_description(status)) };
        text.to_str().expect("ASCII")
    }

    #[test]
    fn device_busy_describes_every_case_not_only_tracking() {
        let busy = description(RK_STATUS_DEVICE_BUSY);
        for case in [
            "card-tracking request",
            "inside one of the device's own callbacks",
            "already initialised",
            "engine is in use",
        ] {
            assert!(busy.contains(case), "{busy:?} does not mention {case:?}");
        }
        assert!(!busy.contains("  "), "{busy:?} has a wrapped line's indent");
        assert_eq!(
            description(RK_STATUS_PENDING),
            "pending: waits for a card event"
        );
        assert_eq!(description(999), "unknown status code");
    }

    #[test]
    fn other_descriptions_are_the_cores() {
        for (i, status) in Status::ALL.iter().enumerate() {
            let code = i as rk_status;
            if code != RK_STATUS_DEVICE_BUSY {
                assert_eq!(description(code), status.description(), "{status:?}");
            }
        }
    }
}
