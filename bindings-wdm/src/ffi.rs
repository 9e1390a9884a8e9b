//! The kernel FFI facade: the only module that names kernel types and routines.
//!
//! * [`types`]: hand-written `#[repr(C)]` layouts of the few kernel structures the
//!   binding touches (IRP, IO_STACK_LOCATION, DEVICE_OBJECT, DRIVER_OBJECT, ...), with
//!   their x64 sizes and field offsets pinned by `static_assertions` (evaluated on every
//!   64-bit build, the Linux one included). `tests/layout_windows_sys.rs` compares them
//!   with windows-sys's `Wdk_*` types (Microsoft's wdkmetadata): equal everywhere
//!   (`IRP.IoStatus` 0x30, `Tail.Overlay.CurrentStackLocation` 0xB8, `size_of::<IRP>()`
//!   0xD0, ...) except where the metadata loses `POINTER_ALIGNMENT` /
//!   `DECLSPEC_ALIGN` (`Parameters.DeviceIoControl`, `Parameters.Power`, the size of
//!   `DEVICE_OBJECT`; microsoft/windows-rs#4404), where the facade follows `wdm.h`.
//! * [`inline`]: what C gets from inline functions and macros of `wdm.h`
//!   (`IoGetCurrentIrpStackLocation`, `IoMarkIrpPending`, `IoSetCancelRoutine`,
//!   `IoSkipCurrentIrpStackLocation`, `IoCopyCurrentIrpStackLocationToNext`,
//!   `IoSetCompletionRoutine`), written over those layouts.
//! * `routines` (`target_os = "windows"` only): the exported routines the driver
//!   calls. Two sources behind cfg: by default they are declared here and imported from
//!   `ntoskrnl.exe` with `raw-dylib` (no import library needed, so a `.sys` links on
//!   Linux with rust-lld); with `--features wdk` on a Windows host they come from
//!   `wdk-sys` (bindgen over the installed WDK), and `wdk_check` asserts that wdk-sys's
//!   layouts equal the hand-written ones. The wdk-sys path is not built on the Linux
//!   host (it needs a WDK); it is what `.github/workflows/wdm.yml` builds.
#![allow(non_snake_case, non_camel_case_types, missing_docs)]

/// Kernel structure layouts (x64).
pub mod types {
    use core::ffi::c_void;

    pub type NTSTATUS = i32;
    pub type KIRQL = u8;
    pub type KSPIN_LOCK = usize;
    pub type PVOID = *mut c_void;

    /// `DRIVER_DISPATCH`.
    pub type DriverDispatch =
        unsafe extern "system" fn(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS;
    /// `DRIVER_CANCEL`.
    pub type DriverCancel = unsafe extern "system" fn(device: *mut DEVICE_OBJECT, irp: *mut IRP);
    /// `DRIVER_ADD_DEVICE`.
    pub type DriverAddDevice =
        unsafe extern "system" fn(driver: *mut DRIVER_OBJECT, pdo: *mut DEVICE_OBJECT) -> NTSTATUS;
    /// `DRIVER_UNLOAD`.
    pub type DriverUnload = unsafe extern "system" fn(driver: *mut DRIVER_OBJECT);
    /// `IO_COMPLETION_ROUTINE`.
    pub type IoCompletionRoutine = unsafe extern "system" fn(
        device: *mut DEVICE_OBJECT,
        irp: *mut IRP,
        context: PVOID,
    ) -> NTSTATUS;

    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct UNICODE_STRING {
        pub Length: u16,
        pub MaximumLength: u16,
        pub Buffer: *mut u16,
    }

    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct GUID {
        pub Data1: u32,
        pub Data2: u16,
        pub Data3: u16,
        pub Data4: [u8; 8],
    }

    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct LIST_ENTRY {
        pub Flink: *mut LIST_ENTRY,
        pub Blink: *mut LIST_ENTRY,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub union IO_STATUS_BLOCK_0 {
        pub Status: NTSTATUS,
        pub Pointer: PVOID,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct IO_STATUS_BLOCK {
        pub u: IO_STATUS_BLOCK_0,
        pub Information: usize,
    }

    /// `Tail.Overlay` of an IRP (the other members of the `Tail` union, `Apc` and
    /// `CompletionKey`, are not used; `_ApcTail` pads to the union's size).
    #[repr(C)]
    pub struct IRP_TAIL_OVERLAY {
        pub DriverContext: [PVOID; 4],
        pub Thread: PVOID,
        pub AuxiliaryBuffer: *mut u8,
        pub ListEntry: LIST_ENTRY,
        /// Union with `PacketType`.
        pub CurrentStackLocation: *mut IO_STACK_LOCATION,
        pub OriginalFileObject: PVOID,
        pub _ApcTail: PVOID,
    }

    /// `IRP` (x64, WDK 10 layout).
    #[repr(C)]
    pub struct IRP {
        pub Type: i16,
        pub Size: u16,
        pub AllocationProcessorNumber: u16,
        pub Reserved: u16,
        pub MdlAddress: PVOID,
        pub Flags: u32,
        /// `AssociatedIrp`: union of `MasterIrp`, `IrpCount`, `SystemBuffer`.
        pub SystemBuffer: PVOID,
        pub ThreadListEntry: LIST_ENTRY,
        pub IoStatus: IO_STATUS_BLOCK,
        pub RequestorMode: i8,
        pub PendingReturned: u8,
        pub StackCount: i8,
        pub CurrentLocation: i8,
        pub Cancel: u8,
        pub CancelIrql: KIRQL,
        pub ApcEnvironment: i8,
        pub AllocationFlags: u8,
        pub UserIosb: PVOID,
        pub UserEvent: PVOID,
        /// `Overlay`: `AsynchronousParameters` / `AllocationSize`.
        pub Overlay: [PVOID; 2],
        /// `PDRIVER_CANCEL`, accessed atomically ([`super::inline::set_cancel_routine`]).
        pub CancelRoutine: PVOID,
        pub UserBuffer: PVOID,
        pub Tail: IRP_TAIL_OVERLAY,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct DeviceIoControlParams {
        pub OutputBufferLength: u32,
        pub _pad0: u32,
        pub InputBufferLength: u32,
        pub _pad1: u32,
        pub IoControlCode: u32,
        pub _pad2: u32,
        pub Type3InputBuffer: PVOID,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct PowerParams {
        pub SystemContext: u32,
        pub _pad0: u32,
        /// `POWER_STATE_TYPE`: 0 = SystemPowerState, 1 = DevicePowerState.
        pub Type: u32,
        pub _pad1: u32,
        /// `POWER_STATE`.
        pub State: u32,
        pub _pad2: u32,
        pub ShutdownType: u32,
        pub _pad3: u32,
    }

    /// `Parameters` of an IO_STACK_LOCATION (the members the binding reads).
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub union IO_STACK_PARAMETERS {
        pub DeviceIoControl: DeviceIoControlParams,
        pub Power: PowerParams,
        pub Others: [PVOID; 4],
    }

    /// `IO_STACK_LOCATION` (x64).
    #[repr(C)]
    pub struct IO_STACK_LOCATION {
        pub MajorFunction: u8,
        pub MinorFunction: u8,
        pub Flags: u8,
        pub Control: u8,
        pub Parameters: IO_STACK_PARAMETERS,
        pub DeviceObject: *mut DEVICE_OBJECT,
        pub FileObject: PVOID,
        pub CompletionRoutine: Option<IoCompletionRoutine>,
        pub Context: PVOID,
    }

    /// `DEVICE_OBJECT` (x64): the members up to `StackSize`, the rest opaque.
    #[repr(C, align(16))]
    pub struct DEVICE_OBJECT {
        pub Type: i16,
        pub Size: u16,
        pub ReferenceCount: i32,
        pub DriverObject: *mut DRIVER_OBJECT,
        pub NextDevice: *mut DEVICE_OBJECT,
        pub AttachedDevice: *mut DEVICE_OBJECT,
        pub CurrentIrp: *mut IRP,
        pub Timer: PVOID,
        pub Flags: u32,
        pub Characteristics: u32,
        pub Vpb: PVOID,
        pub DeviceExtension: PVOID,
        pub DeviceType: u32,
        pub StackSize: i8,
        pub _Rest: [u8; 0x150 - 0x4D],
    }

    /// `DRIVER_EXTENSION` (x64).
    #[repr(C)]
    pub struct DRIVER_EXTENSION {
        pub DriverObject: *mut DRIVER_OBJECT,
        pub AddDevice: Option<DriverAddDevice>,
        pub Count: u32,
        pub ServiceKeyName: UNICODE_STRING,
    }

    /// `IRP_MJ_MAXIMUM_FUNCTION + 1`.
    pub const IRP_MJ_COUNT: usize = 28;

    /// `DRIVER_OBJECT` (x64).
    #[repr(C)]
    pub struct DRIVER_OBJECT {
        pub Type: i16,
        pub Size: i16,
        pub DeviceObject: *mut DEVICE_OBJECT,
        pub Flags: u32,
        pub DriverStart: PVOID,
        pub DriverSize: u32,
        pub DriverSection: PVOID,
        pub DriverExtension: *mut DRIVER_EXTENSION,
        pub DriverName: UNICODE_STRING,
        pub HardwareDatabase: *mut UNICODE_STRING,
        pub FastIoDispatch: PVOID,
        pub DriverInit: PVOID,
        pub DriverStartIo: PVOID,
        pub DriverUnload: Option<DriverUnload>,
        pub MajorFunction: [Option<DriverDispatch>; IRP_MJ_COUNT],
    }

    /// `KMUTEX` (= `KMUTANT`), opaque: initialised and used only by the kernel.
    #[repr(C, align(8))]
    pub struct KMUTEX {
        pub _Opaque: [u64; 7],
    }

    /// `KEVENT` (a `DISPATCHER_HEADER`), opaque.
    #[repr(C, align(8))]
    pub struct KEVENT {
        pub _Opaque: [u64; 3],
    }

    // Constants.
    pub const STATUS_SUCCESS: NTSTATUS = crate::ntstatus::SUCCESS as NTSTATUS;
    pub const STATUS_PENDING: NTSTATUS = crate::ntstatus::PENDING as NTSTATUS;
    pub const STATUS_MORE_PROCESSING_REQUIRED: NTSTATUS = 0xC000_0016_u32 as i32;
    pub const IO_NO_INCREMENT: i8 = 0;
    pub const SL_PENDING_RETURNED: u8 = 0x01;
    pub const SL_INVOKE_ON_CANCEL: u8 = 0x20;
    pub const SL_INVOKE_ON_SUCCESS: u8 = 0x40;
    pub const SL_INVOKE_ON_ERROR: u8 = 0x80;
    pub const FILE_DEVICE_SMARTCARD: u32 = readerkit::ioctl::FILE_DEVICE_SMARTCARD as u32;
    pub const FILE_DEVICE_SECURE_OPEN: u32 = 0x100;
    pub const DO_BUFFERED_IO: u32 = 0x4;
    pub const DO_POWER_PAGABLE: u32 = 0x2000;
    pub const DO_DEVICE_INITIALIZING: u32 = 0x80;
    /// `KWAIT_REASON::Executive`.
    pub const EXECUTIVE: u32 = 0;
    /// `KPROCESSOR_MODE::KernelMode`.
    pub const KERNEL_MODE: i8 = 0;
    /// `EVENT_TYPE::NotificationEvent`.
    pub const NOTIFICATION_EVENT: u32 = 0;
    /// `POWER_STATE_TYPE::SystemPowerState`.
    pub const SYSTEM_POWER_STATE: u32 = 0;

    /// `GUID_DEVINTERFACE_SMARTCARD_READER` {50DD5230-BA8A-11D1-BF5D-0000F805F530}.
    pub const GUID_DEVINTERFACE_SMARTCARD_READER: GUID = GUID {
        Data1: 0x50DD_5230,
        Data2: 0xBA8A,
        Data3: 0x11D1,
        Data4: [0xBF, 0x5D, 0x00, 0x00, 0xF8, 0x05, 0xF5, 0x30],
    };

    // Pinned layouts (x64; what windows-sys's Wdk_* bindings and the WDK headers say):
    // `TYPE = size { field.path = offset, ... }`, each one a `const_assert_eq!`.
    #[cfg(target_pointer_width = "64")]
    mod pinned {
        use super::*;
        use core::mem::{offset_of, size_of};
        use static_assertions::const_assert_eq;

        macro_rules! pinned {
            ($($ty:ident $(= $size:literal)? {
                $($($field:ident).+ = $offset:literal),* $(,)?
            })*) => {$(
                $(const_assert_eq!(size_of::<$ty>(), $size);)?
                $(const_assert_eq!(offset_of!($ty, $($field).+), $offset);)*
            )*};
        }

        pinned! {
            IRP = 0xD0 {
                MdlAddress = 0x08, SystemBuffer = 0x18, IoStatus = 0x30, PendingReturned = 0x41,
                CurrentLocation = 0x43, Cancel = 0x44, CancelIrql = 0x45, CancelRoutine = 0x68,
                UserBuffer = 0x70, Tail = 0x78, Tail.CurrentStackLocation = 0xB8,
            }
            IO_STATUS_BLOCK = 0x10 {}
            IO_STACK_LOCATION = 0x48 {
                Parameters = 0x08,
                Parameters.DeviceIoControl.InputBufferLength = 0x10,
                Parameters.DeviceIoControl.IoControlCode = 0x18,
                Parameters.Power.Type = 0x10,
                Parameters.Power.State = 0x18,
                DeviceObject = 0x28, FileObject = 0x30, CompletionRoutine = 0x38, Context = 0x40,
            }
            DEVICE_OBJECT = 0x150 { Flags = 0x30, DeviceExtension = 0x40, StackSize = 0x4C }
            DRIVER_OBJECT = 0x150 {
                DriverExtension = 0x30, DriverUnload = 0x68, MajorFunction = 0x70,
            }
            DRIVER_EXTENSION { AddDevice = 0x08 }
            KMUTEX = 0x38 {}
            KEVENT = 0x18 {}
            UNICODE_STRING = 0x10 {}
        }
    }
}

/// The inline functions and macros of `wdm.h`, over [`types`].
pub mod inline {
    use core::sync::atomic::{AtomicPtr, Ordering};

    use super::types::*;

    /// `IoGetCurrentIrpStackLocation`.
    ///
    /// # Safety
    /// `irp` points to a live IRP owned by the caller's driver.
    pub unsafe fn current_stack_location(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
        // SAFETY: the caller guarantees a live IRP; the field is a plain pointer read.
        unsafe { (*irp).Tail.CurrentStackLocation }
    }

    /// `IoGetNextIrpStackLocation`.
    ///
    /// # Safety
    /// As [`current_stack_location`], and the IRP has a next stack location.
    pub unsafe fn next_stack_location(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
        // SAFETY: the caller guarantees the IRP and a next location; stack locations
        // are an array below the current one.
        let current = unsafe { current_stack_location(irp) };
        current.wrapping_sub(1)
    }

    /// `IoMarkIrpPending`.
    ///
    /// # Safety
    /// As [`current_stack_location`].
    pub unsafe fn mark_irp_pending(irp: *mut IRP) {
        // SAFETY: the caller guarantees the IRP; its current stack location is valid.
        let current = unsafe { current_stack_location(irp) };
        // SAFETY: `current` is the live current stack location of an owned IRP.
        unsafe { (*current).Control |= SL_PENDING_RETURNED };
    }

    /// `IoSetCancelRoutine`: an atomic exchange of `Irp->CancelRoutine`; returns the
    /// previous routine.
    ///
    /// # Safety
    /// As [`current_stack_location`].
    pub unsafe fn set_cancel_routine(
        irp: *mut IRP,
        routine: Option<DriverCancel>,
    ) -> Option<DriverCancel> {
        let new: PVOID = match routine {
            Some(f) => f as PVOID,
            None => core::ptr::null_mut(),
        };
        // SAFETY: the caller guarantees a live IRP; this only computes a field address.
        let place = unsafe { &raw mut (*irp).CancelRoutine };
        // SAFETY: the field is pointer-aligned, lives as long as the IRP, and the I/O
        // manager accesses it only with interlocked operations too.
        let field = unsafe { AtomicPtr::from_ptr(place) };
        let old = field.swap(new, Ordering::AcqRel);
        if old.is_null() {
            None
        } else {
            // SAFETY: a non-null CancelRoutine is always a DRIVER_CANCEL pointer.
            Some(unsafe { core::mem::transmute::<PVOID, DriverCancel>(old) })
        }
    }

    /// `Irp->Cancel`.
    ///
    /// # Safety
    /// As [`current_stack_location`].
    pub unsafe fn is_cancelled(irp: *mut IRP) -> bool {
        // SAFETY: the caller guarantees a live IRP; this only computes a field address.
        let place = unsafe { &raw const (*irp).Cancel };
        // SAFETY: `Cancel` is set by IoCancelIrp with a byte store; a volatile read of
        // the live field observes it.
        unsafe { core::ptr::read_volatile(place) != 0 }
    }

    /// Set `IoStatus`.
    ///
    /// # Safety
    /// As [`current_stack_location`].
    pub unsafe fn set_io_status(irp: *mut IRP, status: NTSTATUS, information: usize) {
        // SAFETY: the caller owns the live IRP.
        unsafe {
            (*irp).IoStatus = IO_STATUS_BLOCK {
                u: IO_STATUS_BLOCK_0 { Status: status },
                Information: information,
            };
        }
    }

    /// `IoSkipCurrentIrpStackLocation`.
    ///
    /// # Safety
    /// As [`current_stack_location`]; the IRP is about to be passed down.
    pub unsafe fn skip_current_stack_location(irp: *mut IRP) {
        // SAFETY: the caller owns the live IRP (the macro's first update).
        unsafe { (*irp).CurrentLocation += 1 };
        // SAFETY: as above; the current location is read, then advanced by one.
        let current = unsafe { current_stack_location(irp) };
        // SAFETY: as above (the macro's second update).
        unsafe { (*irp).Tail.CurrentStackLocation = current.wrapping_add(1) };
    }

    /// `IoCopyCurrentIrpStackLocationToNext`.
    ///
    /// # Safety
    /// As [`next_stack_location`].
    pub unsafe fn copy_current_to_next(irp: *mut IRP) {
        // SAFETY: the caller guarantees the IRP.
        let current = unsafe { current_stack_location(irp) };
        let next = current.wrapping_sub(1);
        let len = core::mem::offset_of!(IO_STACK_LOCATION, CompletionRoutine);
        // SAFETY: two distinct stack locations of the same IRP, `len` bytes each.
        unsafe { core::ptr::copy_nonoverlapping(current.cast::<u8>(), next.cast::<u8>(), len) };
        // SAFETY: `next` is a valid stack location.
        unsafe { (*next).Control = 0 };
    }

    /// `IoSetCompletionRoutine(irp, routine, context, TRUE, TRUE, TRUE)`.
    ///
    /// # Safety
    /// As [`next_stack_location`].
    pub unsafe fn set_completion_routine(
        irp: *mut IRP,
        routine: IoCompletionRoutine,
        context: PVOID,
    ) {
        // SAFETY: the caller guarantees the IRP and its next location.
        let next = unsafe { next_stack_location(irp) };
        // SAFETY: `next` is a valid stack location the caller may fill.
        unsafe { (*next).CompletionRoutine = Some(routine) };
        // SAFETY: as above.
        unsafe { (*next).Context = context };
        // SAFETY: as above.
        unsafe {
            (*next).Control = SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL
        };
    }
}

/// Exported kernel routines, raw-dylib imports from `ntoskrnl.exe` (default source).
#[cfg(all(target_os = "windows", not(feature = "wdk")))]
pub mod routines {
    use super::types::*;

    #[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
    unsafe extern "system" {
        pub fn IofCompleteRequest(irp: *mut IRP, priority_boost: i8);
        pub fn IofCallDriver(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS;
        pub fn PoCallDriver(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS;
        pub fn PoStartNextPowerIrp(irp: *mut IRP);
        pub fn IoReleaseCancelSpinLock(irql: KIRQL);
        pub fn IoCreateDevice(
            driver: *mut DRIVER_OBJECT,
            extension_size: u32,
            name: *mut UNICODE_STRING,
            device_type: u32,
            characteristics: u32,
            exclusive: u8,
            device: *mut *mut DEVICE_OBJECT,
        ) -> NTSTATUS;
        pub fn IoDeleteDevice(device: *mut DEVICE_OBJECT);
        pub fn IoAttachDeviceToDeviceStack(
            source: *mut DEVICE_OBJECT,
            target: *mut DEVICE_OBJECT,
        ) -> *mut DEVICE_OBJECT;
        pub fn IoDetachDevice(target: *mut DEVICE_OBJECT);
        pub fn IoRegisterDeviceInterface(
            pdo: *mut DEVICE_OBJECT,
            class: *const GUID,
            reference: *mut UNICODE_STRING,
            link: *mut UNICODE_STRING,
        ) -> NTSTATUS;
        pub fn IoSetDeviceInterfaceState(link: *mut UNICODE_STRING, enable: u8) -> NTSTATUS;
        pub fn RtlFreeUnicodeString(string: *mut UNICODE_STRING);
        pub fn KeInitializeMutex(mutex: *mut KMUTEX, level: u32);
        pub fn KeReleaseMutex(mutex: *mut KMUTEX, wait: u8) -> i32;
        pub fn KeWaitForSingleObject(
            object: PVOID,
            reason: u32,
            mode: i8,
            alertable: u8,
            timeout: *mut i64,
        ) -> NTSTATUS;
        pub fn KeInitializeEvent(event: *mut KEVENT, event_type: u32, state: u8);
        pub fn KeSetEvent(event: *mut KEVENT, increment: i32, wait: u8) -> i32;
        pub fn KeAcquireSpinLockRaiseToDpc(lock: *mut KSPIN_LOCK) -> KIRQL;
        pub fn KeReleaseSpinLock(lock: *mut KSPIN_LOCK, irql: KIRQL);
        pub fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> !;
        pub fn PsGetCurrentThread() -> PVOID;
    }

    #[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
    unsafe extern "C" {
        /// Note: windows-sys binds DbgPrint to ntdll.dll (user mode); a kernel image
        /// must import it from ntoskrnl.exe.
        pub fn DbgPrint(format: *const u8, ...) -> NTSTATUS;
        /// `DbgPrintEx`: printed if the component's filter mask has `level`'s bit.
        pub fn DbgPrintEx(component_id: u32, level: u32, format: *const u8, ...) -> NTSTATUS;
    }
}

/// Exported kernel routines from `wdk-sys` (Windows host with the WDK; unverified on
/// the Linux build host). Same names and signatures as the raw-dylib source.
#[cfg(all(target_os = "windows", feature = "wdk"))]
pub mod routines {
    use super::types::*;
    use wdk_sys::ntddk;

    macro_rules! forward {
        ($(fn $name:ident($($arg:ident : $ty:ty => $wty:ty),*) $(-> $ret:ty)?;)*) => {$(
            /// Forwarded to wdk-sys.
            ///
            /// # Safety
            /// As the kernel routine of the same name.
            #[allow(clippy::unnecessary_cast, clippy::ptr_as_ptr)]
            pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: same routine, same ABI; pointer types differ only in name
                // (layouts asserted equal in `wdk_check`), integers in signedness.
                unsafe { ntddk::$name($($arg as $wty),*) $(as $ret)? }
            }
        )*};
    }

    forward! {
        fn IofCompleteRequest(irp: *mut IRP => wdk_sys::PIRP, boost: i8 => wdk_sys::CCHAR);
        fn IofCallDriver(device: *mut DEVICE_OBJECT => wdk_sys::PDEVICE_OBJECT, irp: *mut IRP => wdk_sys::PIRP) -> NTSTATUS;
        fn PoCallDriver(device: *mut DEVICE_OBJECT => wdk_sys::PDEVICE_OBJECT, irp: *mut IRP => wdk_sys::PIRP) -> NTSTATUS;
        fn PoStartNextPowerIrp(irp: *mut IRP => wdk_sys::PIRP);
        fn IoReleaseCancelSpinLock(irql: KIRQL => wdk_sys::KIRQL);
        fn IoCreateDevice(driver: *mut DRIVER_OBJECT => wdk_sys::PDRIVER_OBJECT, size: u32 => u32, name: *mut UNICODE_STRING => wdk_sys::PUNICODE_STRING, device_type: u32 => u32, characteristics: u32 => u32, exclusive: u8 => wdk_sys::BOOLEAN, device: *mut *mut DEVICE_OBJECT => *mut wdk_sys::PDEVICE_OBJECT) -> NTSTATUS;
        fn IoDeleteDevice(device: *mut DEVICE_OBJECT => wdk_sys::PDEVICE_OBJECT);
        fn IoAttachDeviceToDeviceStack(source: *mut DEVICE_OBJECT => wdk_sys::PDEVICE_OBJECT, target: *mut DEVICE_OBJECT => wdk_sys::PDEVICE_OBJECT) -> *mut DEVICE_OBJECT;
        fn IoDetachDevice(target: *mut DEVICE_OBJECT => wdk_sys::PDEVICE_OBJECT);
        fn IoRegisterDeviceInterface(pdo: *mut DEVICE_OBJECT => wdk_sys::PDEVICE_OBJECT, class: *const GUID => *const wdk_sys::GUID, reference: *mut UNICODE_STRING => wdk_sys::PUNICODE_STRING, link: *mut UNICODE_STRING => wdk_sys::PUNICODE_STRING) -> NTSTATUS;
        fn IoSetDeviceInterfaceState(link: *mut UNICODE_STRING => wdk_sys::PUNICODE_STRING, enable: u8 => wdk_sys::BOOLEAN) -> NTSTATUS;
        fn RtlFreeUnicodeString(string: *mut UNICODE_STRING => wdk_sys::PUNICODE_STRING);
        fn KeInitializeMutex(mutex: *mut KMUTEX => wdk_sys::PRKMUTEX, level: u32 => u32);
        fn KeReleaseMutex(mutex: *mut KMUTEX => wdk_sys::PRKMUTEX, wait: u8 => wdk_sys::BOOLEAN) -> i32;
        fn KeWaitForSingleObject(object: PVOID => wdk_sys::PVOID, reason: u32 => wdk_sys::KWAIT_REASON, mode: i8 => wdk_sys::KPROCESSOR_MODE, alertable: u8 => wdk_sys::BOOLEAN, timeout: *mut i64 => wdk_sys::PLARGE_INTEGER) -> NTSTATUS;
        fn KeInitializeEvent(event: *mut KEVENT => wdk_sys::PRKEVENT, event_type: u32 => wdk_sys::EVENT_TYPE, state: u8 => wdk_sys::BOOLEAN);
        fn KeSetEvent(event: *mut KEVENT => wdk_sys::PRKEVENT, increment: i32 => wdk_sys::KPRIORITY, wait: u8 => wdk_sys::BOOLEAN) -> i32;
        fn KeAcquireSpinLockRaiseToDpc(lock: *mut KSPIN_LOCK => wdk_sys::PKSPIN_LOCK) -> KIRQL;
        fn KeReleaseSpinLock(lock: *mut KSPIN_LOCK => wdk_sys::PKSPIN_LOCK, irql: KIRQL => wdk_sys::KIRQL);
    }

    /// `PsGetCurrentThread`: the calling thread's `ETHREAD`.
    ///
    /// # Safety
    /// Any IRQL; the result is only an address.
    pub unsafe fn PsGetCurrentThread() -> PVOID {
        // SAFETY: the kernel routine, no preconditions.
        unsafe { ntddk::PsGetCurrentThread() as PVOID }
    }

    /// `KeBugCheckEx`.
    ///
    /// # Safety
    /// Never returns; the machine stops.
    #[allow(unreachable_code)]
    pub unsafe fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> ! {
        // SAFETY: the kernel routine; it does not return.
        unsafe { ntddk::KeBugCheckEx(code, p1 as _, p2 as _, p3 as _, p4 as _) };
        #[allow(clippy::empty_loop)]
        loop {}
    }

    pub use ntddk::{DbgPrint, DbgPrintEx};
}

/// On a Windows host with the WDK: the hand-written layouts equal wdk-sys's (sizes,
/// and the offsets of the fields the binding reaches).
#[cfg(all(target_os = "windows", feature = "wdk"))]
mod wdk_check {
    use core::mem::{offset_of, size_of};
    use static_assertions::const_assert_eq;

    use super::types::*;

    macro_rules! same_layout {
        ($($ty:ident { $($field:ident),* })*) => {$(
            const_assert_eq!(size_of::<$ty>(), size_of::<wdk_sys::$ty>());
            $(const_assert_eq!(offset_of!($ty, $field), offset_of!(wdk_sys::$ty, $field));)*
        )*};
    }

    same_layout! {
        IRP { IoStatus, Cancel, CancelRoutine, Tail }
        IO_STACK_LOCATION {}
        DEVICE_OBJECT { DeviceExtension }
        DRIVER_OBJECT { MajorFunction }
        KMUTEX {}
        KEVENT {}
    }
}
