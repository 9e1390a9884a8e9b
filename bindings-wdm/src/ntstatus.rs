//! The NTSTATUS values the binding itself produces (the core's are
//! [`readerkit::status::Status::to_ntstatus`]), as unsigned 32-bit patterns.

/// `STATUS_SUCCESS`.
pub const SUCCESS: u32 = 0x0000_0000;
/// `STATUS_PENDING`: returned by a dispatch routine that marked its IRP pending.
pub const PENDING: u32 = 0x0000_0103;
/// `STATUS_ACCESS_DENIED`: a second open of an exclusive reader.
pub const ACCESS_DENIED: u32 = 0xC000_0022;
/// `STATUS_DELETE_PENDING`: the device is being removed.
pub const DELETE_PENDING: u32 = 0xC000_0056;
/// `STATUS_DEVICE_NOT_READY`: the device is not started, stopped or asleep.
pub const DEVICE_NOT_READY: u32 = 0xC000_00A3;
/// `STATUS_INVALID_DEVICE_REQUEST`: a major function or IOCTL the reader does not serve.
pub const INVALID_DEVICE_REQUEST: u32 = 0xC000_0010;
/// `STATUS_INVALID_PARAMETER`.
pub const INVALID_PARAMETER: u32 = 0xC000_000D;
/// `STATUS_INSUFFICIENT_RESOURCES`.
pub const INSUFFICIENT_RESOURCES: u32 = 0xC000_009A;
/// `STATUS_CANCELLED`.
pub const CANCELLED: u32 = 0xC000_0120;
/// `STATUS_DEVICE_BUSY` (a warning code, as smclib returns it).
pub const DEVICE_BUSY: u32 = 0x8000_0011;
/// `STATUS_NOT_SUPPORTED`.
pub const NOT_SUPPORTED: u32 = 0xC000_00BB;

/// `NT_SUCCESS`.
pub const fn nt_success(status: u32) -> bool {
    (status as i32) >= 0
}
/// `STATUS_NO_SUCH_DEVICE`.
pub const NO_SUCH_DEVICE: u32 = 0xC000_000E;
