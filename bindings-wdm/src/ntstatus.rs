//! The NTSTATUS values the binding itself produces (the core's are
//! [`readerkit::status::Status::to_ntstatus`]), as unsigned 32-bit patterns. Codes
//! the core's [`Status`] has are taken from it, so the two never disagree.

use readerkit::Status;

/// `STATUS_SUCCESS`.
pub const SUCCESS: u32 = Status::Success.to_ntstatus();
/// `STATUS_PENDING`: returned by a dispatch routine that marked its IRP pending.
pub const PENDING: u32 = readerkit::status::NTSTATUS_PENDING;
/// `STATUS_ACCESS_DENIED`: a second open of an exclusive reader.
pub const ACCESS_DENIED: u32 = 0xC000_0022;
/// `STATUS_DELETE_PENDING`: the device is being removed.
pub const DELETE_PENDING: u32 = Status::DeletePending.to_ntstatus();
/// `STATUS_DEVICE_NOT_READY`: the device is not started, stopped or asleep.
pub const DEVICE_NOT_READY: u32 = Status::DeviceNotReady.to_ntstatus();
/// `STATUS_INVALID_DEVICE_REQUEST`: a major function or IOCTL the reader does not serve.
pub const INVALID_DEVICE_REQUEST: u32 = Status::InvalidDeviceRequest.to_ntstatus();
/// `STATUS_INVALID_PARAMETER`.
pub const INVALID_PARAMETER: u32 = Status::InvalidParameter.to_ntstatus();
/// `STATUS_CANCELLED`.
pub const CANCELLED: u32 = Status::Cancelled.to_ntstatus();
/// `STATUS_DEVICE_BUSY` (a warning code, as smclib returns it).
pub const DEVICE_BUSY: u32 = Status::DeviceBusy.to_ntstatus();
/// `STATUS_NO_SUCH_DEVICE`: AddDevice could not attach to the device stack.
pub const NO_SUCH_DEVICE: u32 = 0xC000_000E;

/// `NT_SUCCESS`.
pub const fn nt_success(status: u32) -> bool {
    (status as i32) >= 0
}
