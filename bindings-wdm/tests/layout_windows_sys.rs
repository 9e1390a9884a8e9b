//! The facade's hand-written kernel layouts against windows-sys's `Wdk_*` types
//! (generated from Microsoft's wdkmetadata): two independent sources, compared on
//! the Linux host. (On a Windows host with `--features wdk` they are also compared
//! with wdk-sys's bindgen output, in `src/ffi.rs`.)
//!
//! They agree everywhere except where the metadata drops an alignment attribute of
//! the WDK headers, and there the headers (and the facade) are right:
//!
//! * `Parameters.DeviceIoControl` and `Parameters.Power` members are declared
//!   `ULONG POINTER_ALIGNMENT ...` in `wdm.h` (8-byte aligned on x64); windows-sys
//!   0.61.2 packs them at 4-byte steps (microsoft/windows-rs#4404, same class as
//!   microsoft/wdkmetadata#88). A driver reading `IoControlCode` through windows-sys
//!   would read `InputBufferLength` instead — one reason this facade is hand-written.
//! * `DEVICE_OBJECT` is `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)` (16 on x64), so
//!   its size is 0x150, not 0x148 (no field offset differs).
//!
//! The test pins exactly these deviations, so a fixed windows-sys makes it fail and
//! the exceptions can go.
#![cfg(target_arch = "x86_64")]

use core::mem::{offset_of, size_of};

use readerkit_wdm::ffi::types as ours;
use windows_sys::Wdk::Foundation as ms;

macro_rules! same {
    ($($what:literal: $a:expr, $b:expr;)*) => {{
        let mut differ = Vec::new();
        $( if $a != $b { differ.push(($what, $a, $b)); } )*
        differ
    }};
}

#[test]
fn irp_and_stack_location() {
    let d = same! {
        "size_of IRP": size_of::<ours::IRP>(), size_of::<ms::IRP>();
        "IRP.MdlAddress": offset_of!(ours::IRP, MdlAddress), offset_of!(ms::IRP, MdlAddress);
        "IRP.Flags": offset_of!(ours::IRP, Flags), offset_of!(ms::IRP, Flags);
        "IRP.AssociatedIrp": offset_of!(ours::IRP, SystemBuffer), offset_of!(ms::IRP, AssociatedIrp);
        "IRP.IoStatus": offset_of!(ours::IRP, IoStatus), offset_of!(ms::IRP, IoStatus);
        "IRP.PendingReturned": offset_of!(ours::IRP, PendingReturned), offset_of!(ms::IRP, PendingReturned);
        "IRP.StackCount": offset_of!(ours::IRP, StackCount), offset_of!(ms::IRP, StackCount);
        "IRP.CurrentLocation": offset_of!(ours::IRP, CurrentLocation), offset_of!(ms::IRP, CurrentLocation);
        "IRP.Cancel": offset_of!(ours::IRP, Cancel), offset_of!(ms::IRP, Cancel);
        "IRP.CancelIrql": offset_of!(ours::IRP, CancelIrql), offset_of!(ms::IRP, CancelIrql);
        "IRP.CancelRoutine": offset_of!(ours::IRP, CancelRoutine), offset_of!(ms::IRP, CancelRoutine);
        "IRP.UserBuffer": offset_of!(ours::IRP, UserBuffer), offset_of!(ms::IRP, UserBuffer);
        "IRP.Tail": offset_of!(ours::IRP, Tail), offset_of!(ms::IRP, Tail);
        "IRP.Tail.Overlay.CurrentStackLocation":
            offset_of!(ours::IRP, Tail.CurrentStackLocation),
            offset_of!(ms::IRP, Tail.Overlay.Anonymous2.Anonymous.CurrentStackLocation);
        "IRP.Tail.Overlay.OriginalFileObject":
            offset_of!(ours::IRP, Tail.OriginalFileObject),
            offset_of!(ms::IRP, Tail.Overlay.OriginalFileObject);
        "size_of IO_STACK_LOCATION": size_of::<ours::IO_STACK_LOCATION>(), size_of::<ms::IO_STACK_LOCATION>();
        "IO_STACK_LOCATION.Control": offset_of!(ours::IO_STACK_LOCATION, Control), offset_of!(ms::IO_STACK_LOCATION, Control);
        "IO_STACK_LOCATION.Parameters": offset_of!(ours::IO_STACK_LOCATION, Parameters), offset_of!(ms::IO_STACK_LOCATION, Parameters);
        "DeviceIoControl.OutputBufferLength":
            offset_of!(ours::IO_STACK_LOCATION, Parameters.DeviceIoControl.OutputBufferLength),
            offset_of!(ms::IO_STACK_LOCATION, Parameters.DeviceIoControl.OutputBufferLength);
        "DeviceIoControl.InputBufferLength":
            offset_of!(ours::IO_STACK_LOCATION, Parameters.DeviceIoControl.InputBufferLength),
            offset_of!(ms::IO_STACK_LOCATION, Parameters.DeviceIoControl.InputBufferLength);
        "DeviceIoControl.IoControlCode":
            offset_of!(ours::IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode),
            offset_of!(ms::IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode);
        "Power.Type":
            offset_of!(ours::IO_STACK_LOCATION, Parameters.Power.Type),
            offset_of!(ms::IO_STACK_LOCATION, Parameters.Power.Type);
        "Power.State":
            offset_of!(ours::IO_STACK_LOCATION, Parameters.Power.State),
            offset_of!(ms::IO_STACK_LOCATION, Parameters.Power.State);
        "IO_STACK_LOCATION.DeviceObject": offset_of!(ours::IO_STACK_LOCATION, DeviceObject), offset_of!(ms::IO_STACK_LOCATION, DeviceObject);
        "IO_STACK_LOCATION.FileObject": offset_of!(ours::IO_STACK_LOCATION, FileObject), offset_of!(ms::IO_STACK_LOCATION, FileObject);
        "IO_STACK_LOCATION.CompletionRoutine": offset_of!(ours::IO_STACK_LOCATION, CompletionRoutine), offset_of!(ms::IO_STACK_LOCATION, CompletionRoutine);
        "IO_STACK_LOCATION.Context": offset_of!(ours::IO_STACK_LOCATION, Context), offset_of!(ms::IO_STACK_LOCATION, Context);
    };
    // (what, facade = wdm.h with POINTER_ALIGNMENT, windows-sys without it)
    assert_eq!(
        d,
        [
            ("DeviceIoControl.InputBufferLength", 0x10, 0x0C),
            ("DeviceIoControl.IoControlCode", 0x18, 0x10),
            ("Power.Type", 0x10, 0x0C),
            ("Power.State", 0x18, 0x10),
        ]
    );
}

#[test]
fn device_and_driver_objects() {
    let d = same! {
        "size_of DEVICE_OBJECT": size_of::<ours::DEVICE_OBJECT>(), size_of::<ms::DEVICE_OBJECT>();
        "DEVICE_OBJECT.Flags": offset_of!(ours::DEVICE_OBJECT, Flags), offset_of!(ms::DEVICE_OBJECT, Flags);
        "DEVICE_OBJECT.DeviceExtension": offset_of!(ours::DEVICE_OBJECT, DeviceExtension), offset_of!(ms::DEVICE_OBJECT, DeviceExtension);
        "DEVICE_OBJECT.DeviceType": offset_of!(ours::DEVICE_OBJECT, DeviceType), offset_of!(ms::DEVICE_OBJECT, DeviceType);
        "DEVICE_OBJECT.StackSize": offset_of!(ours::DEVICE_OBJECT, StackSize), offset_of!(ms::DEVICE_OBJECT, StackSize);
        "size_of DRIVER_OBJECT": size_of::<ours::DRIVER_OBJECT>(), size_of::<ms::DRIVER_OBJECT>();
        "DRIVER_OBJECT.DriverExtension": offset_of!(ours::DRIVER_OBJECT, DriverExtension), offset_of!(ms::DRIVER_OBJECT, DriverExtension);
        "DRIVER_OBJECT.DriverUnload": offset_of!(ours::DRIVER_OBJECT, DriverUnload), offset_of!(ms::DRIVER_OBJECT, DriverUnload);
        "DRIVER_OBJECT.MajorFunction": offset_of!(ours::DRIVER_OBJECT, MajorFunction), offset_of!(ms::DRIVER_OBJECT, MajorFunction);
        "DRIVER_EXTENSION.AddDevice": offset_of!(ours::DRIVER_EXTENSION, AddDevice), offset_of!(ms::DRIVER_EXTENSION, AddDevice);
        "size_of KMUTEX": size_of::<ours::KMUTEX>(), size_of::<ms::KMUTANT>();
        "size_of KEVENT": size_of::<ours::KEVENT>(), size_of::<ms::KEVENT>();
    };
    // DECLSPEC_ALIGN(16) DEVICE_OBJECT in wdm.h; not in the metadata.
    assert_eq!(d, [("size_of DEVICE_OBJECT", 0x150, 0x148)]);
}
