//! "An IRP", as the portable layer sees it, and the METHOD_BUFFERED mapping of an
//! IRP to a core request.

use readerkit::tracking::handoff::Cancelable;

/// `IRP_MJ_*` values the binding dispatches.
pub mod mj {
    /// `IRP_MJ_CREATE`.
    pub const CREATE: u8 = 0x00;
    /// `IRP_MJ_CLOSE`.
    pub const CLOSE: u8 = 0x02;
    /// `IRP_MJ_DEVICE_CONTROL`.
    pub const DEVICE_CONTROL: u8 = 0x0E;
    /// `IRP_MJ_CLEANUP`.
    pub const CLEANUP: u8 = 0x12;
    /// `IRP_MJ_POWER`.
    pub const POWER: u8 = 0x16;
    /// `IRP_MJ_PNP`.
    pub const PNP: u8 = 0x1B;
}

/// `IRP_MN_*` values of `IRP_MJ_PNP` the binding acts on.
pub mod mn_pnp {
    /// `IRP_MN_START_DEVICE`.
    pub const START_DEVICE: u8 = 0x00;
    /// `IRP_MN_QUERY_REMOVE_DEVICE`.
    pub const QUERY_REMOVE_DEVICE: u8 = 0x01;
    /// `IRP_MN_REMOVE_DEVICE`.
    pub const REMOVE_DEVICE: u8 = 0x02;
    /// `IRP_MN_CANCEL_REMOVE_DEVICE`.
    pub const CANCEL_REMOVE_DEVICE: u8 = 0x03;
    /// `IRP_MN_STOP_DEVICE`.
    pub const STOP_DEVICE: u8 = 0x04;
    /// `IRP_MN_QUERY_STOP_DEVICE`.
    pub const QUERY_STOP_DEVICE: u8 = 0x05;
    /// `IRP_MN_CANCEL_STOP_DEVICE`.
    pub const CANCEL_STOP_DEVICE: u8 = 0x06;
    /// `IRP_MN_SURPRISE_REMOVAL`.
    pub const SURPRISE_REMOVAL: u8 = 0x17;
}

/// `IRP_MN_*` values of `IRP_MJ_POWER`.
pub mod mn_power {
    /// `IRP_MN_SET_POWER`.
    pub const SET_POWER: u8 = 0x02;
    /// `IRP_MN_QUERY_POWER`.
    pub const QUERY_POWER: u8 = 0x03;
}

/// The major function of an IRP, as the binding classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Major {
    /// `IRP_MJ_CREATE`.
    Create,
    /// `IRP_MJ_CLOSE`.
    Close,
    /// `IRP_MJ_CLEANUP`.
    Cleanup,
    /// `IRP_MJ_DEVICE_CONTROL`.
    DeviceControl,
    /// `IRP_MJ_PNP` with its minor code.
    Pnp(u8),
    /// `IRP_MJ_POWER` with its minor code.
    Power(u8),
    /// Any other major function.
    Other(u8),
}

impl Major {
    /// Classify a major/minor pair from the current stack location.
    pub const fn from_codes(major: u8, minor: u8) -> Major {
        match major {
            mj::CREATE => Major::Create,
            mj::CLOSE => Major::Close,
            mj::CLEANUP => Major::Cleanup,
            mj::DEVICE_CONTROL => Major::DeviceControl,
            mj::PNP => Major::Pnp(minor),
            mj::POWER => Major::Power(minor),
            other => Major::Other(other),
        }
    }
}

/// The `Parameters.Power` of an `IRP_MN_SET_POWER` / `IRP_MN_QUERY_POWER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerParams {
    /// `SystemPowerState` with the `SYSTEM_POWER_STATE` (1 = S0 working, 2..=6 = S1..S5).
    System(u32),
    /// `DevicePowerState` with the `DEVICE_POWER_STATE` (1 = D0 .. 4 = D3).
    Device(u32),
}

/// `PowerSystemWorking` (S0).
pub const POWER_SYSTEM_WORKING: u32 = 1;

/// `PowerSystemSleeping3` (S3, suspend to RAM).
pub const POWER_SYSTEM_SLEEPING3: u32 = 4;

/// What completes an IRP: `IoStatus.Status` and `IoStatus.Information`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoStatus {
    /// The NTSTATUS (unsigned pattern).
    pub status: u32,
    /// Bytes written to the output buffer (METHOD_BUFFERED: copied back by the I/O
    /// manager).
    pub information: usize,
}

impl IoStatus {
    /// A status with no data.
    pub const fn status(status: u32) -> IoStatus {
        IoStatus {
            status,
            information: 0,
        }
    }
}

/// An I/O request packet, owned by whoever holds the value. Completing it consumes
/// it, so a completed IRP cannot be touched again.
///
/// The kernel layer implements it over a `PIRP` (`kernel::KIrp`);
/// tests implement it over a shared record that counts completions. As a pending
/// tracking request it is the core's [`Cancelable`]: its identity (the IRP's
/// address), its handle (the file object) and its cancel routine
/// (`IoSetCancelRoutine`, `Irp->Cancel`).
pub trait Irp: Send + Cancelable {
    /// Major function of the current stack location.
    fn major(&self) -> Major;
    /// `Parameters.DeviceIoControl.IoControlCode`.
    fn ioctl_code(&self) -> u32;
    /// `Parameters.DeviceIoControl.InputBufferLength`.
    fn input_len(&self) -> usize;
    /// `Parameters.DeviceIoControl.OutputBufferLength`.
    fn output_len(&self) -> usize;
    /// `AssociatedIrp.SystemBuffer` as a slice, for a METHOD_BUFFERED request: the I/O
    /// manager allocates `max(input_len, output_len)` bytes, input first, and copies
    /// the first `Information` bytes back to the caller. `None` if there is none.
    fn system_buffer(&mut self) -> Option<&mut [u8]>;
    /// `Parameters.Power` of a power IRP.
    fn power(&self) -> Option<PowerParams>;
    /// The identity of the file object the request came through (the current stack
    /// location's `FileObject` address; 0 if none): one per open handle, the same in
    /// its CREATE, its requests, its CLEANUP and its CLOSE. It is the request's
    /// [`Cancelable::handle`], which an implementation gives.
    fn file_object(&self) -> usize {
        self.handle()
    }
    /// `IoMarkIrpPending`.
    fn mark_pending(&mut self);
    /// Set IoStatus and `IoCompleteRequest(irp, IO_NO_INCREMENT)`.
    fn complete(self, io: IoStatus);
}

/// The METHOD_BUFFERED transfer type in the low two bits of an IOCTL code.
pub const METHOD_BUFFERED: u32 = 0;

/// Why a device-control IRP's buffers cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferError {
    /// Not METHOD_BUFFERED (the system buffer does not describe the caller's data).
    NotBuffered,
    /// Lengths are given but there is no system buffer, or it is shorter than them.
    Missing,
}

/// A device-control IRP's METHOD_BUFFERED data, checked by [`buffered`]: the input is
/// the first `input_len` bytes of `buf`, the output the first `output_len` (the I/O
/// manager's one system buffer holds both).
#[derive(Debug)]
pub struct Buffered<'a> {
    /// The system buffer, exactly `max(input_len, output_len)` bytes.
    pub buf: &'a mut [u8],
    /// `Parameters.DeviceIoControl.InputBufferLength`.
    pub input_len: usize,
    /// `Parameters.DeviceIoControl.OutputBufferLength`.
    pub output_len: usize,
}

/// Check a device-control IRP's buffer description: METHOD_BUFFERED, and a system
/// buffer that covers both lengths (none needed when both are 0).
pub fn buffered<I: Irp>(irp: &mut I) -> Result<Buffered<'_>, BufferError> {
    if irp.ioctl_code() & 3 != METHOD_BUFFERED {
        return Err(BufferError::NotBuffered);
    }
    let (input_len, output_len) = (irp.input_len(), irp.output_len());
    let need = input_len.max(output_len);
    let buf = if need == 0 {
        &mut [][..]
    } else {
        irp.system_buffer()
            .and_then(|buf| buf.get_mut(..need))
            .ok_or(BufferError::Missing)?
    };
    Ok(Buffered {
        buf,
        input_len,
        output_len,
    })
}
