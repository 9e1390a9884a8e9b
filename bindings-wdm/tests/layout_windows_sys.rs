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

/// The entries where the facade and windows-sys differ, as `(what, facade,
/// windows-sys)`. An entry is `size TYPE;` (both sizes), `TYPE.field.path;` (the
/// field's offset on both sides, same path) or `"what": facade, windows_sys;`.
macro_rules! same {
    (@entries $d:ident;) => {};
    (@entries $d:ident; size $ty:ident; $($rest:tt)*) => {
        same!(@check $d, concat!("size_of ", stringify!($ty)),
            size_of::<ours::$ty>(), size_of::<ms::$ty>());
        same!(@entries $d; $($rest)*);
    };
    (@entries $d:ident; $ty:ident . $($field:ident).+; $($rest:tt)*) => {
        same!(@check $d, concat!(stringify!($ty), $(".", stringify!($field)),+),
            offset_of!(ours::$ty, $($field).+), offset_of!(ms::$ty, $($field).+));
        same!(@entries $d; $($rest)*);
    };
    (@entries $d:ident; $what:literal: $a:expr, $b:expr; $($rest:tt)*) => {
        same!(@check $d, $what, $a, $b);
        same!(@entries $d; $($rest)*);
    };
    (@check $d:ident, $what:expr, $a:expr, $b:expr) => {
        let (a, b) = ($a, $b);
        if a != b {
            $d.push(($what, a, b));
        }
    };
    ($($entry:tt)*) => {{
        let mut differ: Vec<(&str, usize, usize)> = Vec::new();
        same!(@entries differ; $($entry)*);
        differ
    }};
}

#[test]
fn irp_and_stack_location() {
    let d = same! {
        size IRP;
        IRP.MdlAddress;
        IRP.Flags;
        "IRP.AssociatedIrp": offset_of!(ours::IRP, SystemBuffer), offset_of!(ms::IRP, AssociatedIrp);
        IRP.IoStatus;
        IRP.PendingReturned;
        IRP.StackCount;
        IRP.CurrentLocation;
        IRP.Cancel;
        IRP.CancelIrql;
        IRP.CancelRoutine;
        IRP.UserBuffer;
        IRP.Tail;
        "IRP.Tail.Overlay.CurrentStackLocation":
            offset_of!(ours::IRP, Tail.CurrentStackLocation),
            offset_of!(ms::IRP, Tail.Overlay.Anonymous2.Anonymous.CurrentStackLocation);
        "IRP.Tail.Overlay.OriginalFileObject":
            offset_of!(ours::IRP, Tail.OriginalFileObject),
            offset_of!(ms::IRP, Tail.Overlay.OriginalFileObject);
        size IO_STACK_LOCATION;
        IO_STACK_LOCATION.Control;
        IO_STACK_LOCATION.Parameters;
        IO_STACK_LOCATION.Parameters.DeviceIoControl.OutputBufferLength;
        IO_STACK_LOCATION.Parameters.DeviceIoControl.InputBufferLength;
        IO_STACK_LOCATION.Parameters.DeviceIoControl.IoControlCode;
        IO_STACK_LOCATION.Parameters.Power.Type;
        IO_STACK_LOCATION.Parameters.Power.State;
        IO_STACK_LOCATION.DeviceObject;
        IO_STACK_LOCATION.FileObject;
        IO_STACK_LOCATION.CompletionRoutine;
        IO_STACK_LOCATION.Context;
    };
    // (what, facade = wdm.h with POINTER_ALIGNMENT, windows-sys without it)
    assert_eq!(
        d,
        [
            (
                "IO_STACK_LOCATION.Parameters.DeviceIoControl.InputBufferLength",
                0x10,
                0x0C
            ),
            (
                "IO_STACK_LOCATION.Parameters.DeviceIoControl.IoControlCode",
                0x18,
                0x10
            ),
            ("IO_STACK_LOCATION.Parameters.Power.Type", 0x10, 0x0C),
            ("IO_STACK_LOCATION.Parameters.Power.State", 0x18, 0x10),
        ]
    );
}

#[test]
fn device_and_driver_objects() {
    let d = same! {
        size DEVICE_OBJECT;
        DEVICE_OBJECT.Flags;
        DEVICE_OBJECT.DeviceExtension;
        DEVICE_OBJECT.DeviceType;
        DEVICE_OBJECT.StackSize;
        size DRIVER_OBJECT;
        DRIVER_OBJECT.DriverExtension;
        DRIVER_OBJECT.DriverUnload;
        DRIVER_OBJECT.MajorFunction;
        DRIVER_EXTENSION.AddDevice;
        "size_of KMUTEX": size_of::<ours::KMUTEX>(), size_of::<ms::KMUTANT>();
        size KEVENT;
    };
    // DECLSPEC_ALIGN(16) DEVICE_OBJECT in wdm.h; not in the metadata.
    assert_eq!(d, [("size_of DEVICE_OBJECT", 0x150, 0x148)]);
}
