//! The kernel layer (compiled for `target_os = "windows"` only): the core's locks as
//! KMUTEX and KSPIN_LOCK, a KEVENT, the IRP wrapper, and the WDM driver skeleton —
//! `DriverEntry` helper, AddDevice with the smart card reader device interface, two
//! dispatch routines (PnP; everything else through [`WdmReader::dispatch`], which
//! completes an IRP or hands it back to be passed down), the cancel routine. Written
//! once, against [`crate::ffi`] only.
//!
//! Built on Linux for `x86_64-pc-windows-msvc` by `bindings-wdm/build-sys.sh` (the
//! sample driver); loaded and driven in Wine's NT kernel by `tools/wdm-wine.sh`.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};

use readerkit::platform::Mutex;
use readerkit::tracking::handoff::Cancelable;

use crate::ffi::inline;
use crate::ffi::routines::*;
use crate::ffi::types::*;
use crate::irp::{IoStatus, Irp, Major, PowerParams, mn_pnp};
use crate::placement::Placement;
use crate::reader::{Dispatch, WdmReader};
use crate::reentry::ReentryGuard;
use crate::{Event, Kernel, ntstatus};

// ---------------------------------------------------------------------------------
// Kernel objects are initialised at their first use, where they are, and again if the
// value was moved since ([`Placement`]); the KMUTEX is guarded against re-entry
// ([`ReentryGuard`]).

/// Bug check code when a thread re-enters the serialization lock it holds ('RPLR').
pub const BUGCHECK_LOCK_REENTERED: u32 = 0x5250_4C52;

/// The serialization lock: a KMUTEX (PASSIVE_LEVEL; callbacks may block under it).
///
/// `Send` (as its fields are): moving the lock moves the value, and the KMUTEX is
/// initialised again at its new address on first use there (a moved value is
/// borrowed by no one: unheld, no waiters).
pub struct KMutex<T> {
    mutex: UnsafeCell<KMUTEX>,
    placement: Placement,
    entered: ReentryGuard,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached while the KMUTEX is held and the re-entry guard
// entered, by one thread at a time.
unsafe impl<T: Send> Sync for KMutex<T> {}

impl<T> Mutex<T> for KMutex<T> {
    fn new(value: T) -> Self {
        KMutex {
            mutex: UnsafeCell::new(KMUTEX { _Opaque: [0; 7] }),
            placement: Placement::new(),
            entered: ReentryGuard::new(),
            value: UnsafeCell::new(value),
        }
    }

    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mutex = self.mutex.get();
        self.placement.ensure(mutex as usize, || {
            // SAFETY: first use at this address, by exactly one thread; nobody holds or
            // waits on the object here yet.
            unsafe { KeInitializeMutex(mutex, 0) };
        });
        // SAFETY: an initialised KMUTEX; kernel-mode, non-alertable, no time-out wait at
        // PASSIVE_LEVEL (the core takes this lock only from dispatch routines).
        let _ = unsafe {
            KeWaitForSingleObject(
                mutex.cast(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                core::ptr::null_mut(),
            )
        };
        let Ok(entered) = self.entered.enter() else {
            // This thread already holds the lock (KMUTEX is recursive): a second `&mut`
            // to the value would alias the first. Stop instead.
            // SAFETY: this thread owns the mutex (twice).
            let _ = unsafe { KeReleaseMutex(mutex, 0) };
            // SAFETY: stopping the machine is the kernel's answer to a driver bug.
            unsafe { KeBugCheckEx(BUGCHECK_LOCK_REENTERED, mutex as usize, 0, 0, 0) }
        };
        // SAFETY: the KMUTEX is held and the guard entered: no other reference to the
        // value exists.
        let result = f(unsafe { &mut *self.value.get() });
        drop(entered);
        // SAFETY: this thread owns the mutex.
        let _ = unsafe { KeReleaseMutex(mutex, 0) };
        result
    }
}

/// The short lock: a KSPIN_LOCK (raises to DISPATCH_LEVEL while held). `Send` (as
/// its fields are): an unheld KSPIN_LOCK is a plain zero word and may move.
pub struct KSpin<T> {
    lock: UnsafeCell<KSPIN_LOCK>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached while the spin lock is held.
unsafe impl<T: Send> Sync for KSpin<T> {}

impl<T> Mutex<T> for KSpin<T> {
    fn new(value: T) -> Self {
        // KeInitializeSpinLock stores zero.
        KSpin {
            lock: UnsafeCell::new(0),
            value: UnsafeCell::new(value),
        }
    }

    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: a valid spin lock word, at IRQL <= DISPATCH_LEVEL.
        let irql = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        // SAFETY: the spin lock is held: no other reference to the value exists.
        let result = f(unsafe { &mut *self.value.get() });
        // SAFETY: held by this processor, acquired with this IRQL.
        unsafe { KeReleaseSpinLock(self.lock.get(), irql) };
        result
    }
}

/// A notification KEVENT. `Send` (as its fields are): initialised again at its new
/// address on first use there, with its signal state.
pub struct KEvent {
    event: UnsafeCell<KEVENT>,
    placement: Placement,
    /// Set once [`Event::set`] was called: the signal state an initialisation at a new
    /// address starts with.
    signalled: AtomicBool,
}

// SAFETY: KeSetEvent / KeWaitForSingleObject are safe to call concurrently.
unsafe impl Sync for KEvent {}

impl KEvent {
    fn get(&self) -> *mut KEVENT {
        let event = self.event.get();
        let signalled = self.signalled.load(Ordering::Acquire);
        self.placement.ensure(event as usize, || {
            // SAFETY: first use at this address, by one thread; nobody waits on it here.
            unsafe { KeInitializeEvent(event, NOTIFICATION_EVENT, signalled as u8) };
        });
        event
    }
}

impl Event for KEvent {
    fn new() -> Self {
        KEvent {
            event: UnsafeCell::new(KEVENT { _Opaque: [0; 3] }),
            placement: Placement::new(),
            signalled: AtomicBool::new(false),
        }
    }

    fn set(&self) {
        self.signalled.store(true, Ordering::Release);
        // SAFETY: an initialised event.
        let _ = unsafe { KeSetEvent(self.get(), 0, 0) };
    }

    fn wait(&self) {
        // SAFETY: an initialised event; PASSIVE_LEVEL (remove path).
        let _ = unsafe {
            KeWaitForSingleObject(
                self.get().cast(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                core::ptr::null_mut(),
            )
        };
    }
}

/// The kernel's services for the portable layer.
pub struct KernelSync;

impl Kernel for KernelSync {
    type Serial<T> = KMutex<T>;
    type Short<T> = KSpin<T>;
    type Event = KEvent;

    fn current_thread() -> Option<core::num::NonZeroUsize> {
        // SAFETY: PsGetCurrentThread has no preconditions (any IRQL); the thread
        // object's address is only compared, never dereferenced.
        let thread = unsafe { PsGetCurrentThread() };
        core::num::NonZeroUsize::new(thread as usize)
    }

    fn log(level: readerkit::trace::Level, line: &core::ffi::CStr) {
        if let Some(dbg_level) = crate::trace::dbg_level(level) {
            // SAFETY: "%s\n" with one valid NUL-terminated string.
            let _ = unsafe {
                DbgPrintEx(
                    crate::trace::DPFLTR_IHVDRIVER_ID,
                    dbg_level,
                    c"%s\n".as_ptr().cast(),
                    line.as_ptr(),
                )
            };
        }
    }
}

/// A reader in a WDM driver whose context is `D`.
pub type Reader<D> = WdmReader<KernelSync, KIrp<D>, D>;

/// What a reader driver supplies to the kernel layer.
pub trait ReaderDriver: Sized + Send + 'static {
    /// The reader for a new device (AddDevice).
    fn create() -> Reader<Self>;
    /// The device has started (PASSIVE_LEVEL): report the card if one is in.
    fn started(reader: &Reader<Self>) {
        let _ = reader;
    }
}

/// A `PIRP` owned by the driver, for a device whose reader context is `D`.
pub struct KIrp<D> {
    irp: *mut IRP,
    _driver: PhantomData<fn() -> D>,
}

// SAFETY: an IRP may be completed from any thread; ownership moves with the value.
unsafe impl<D> Send for KIrp<D> {}

impl<D: ReaderDriver> KIrp<D> {
    /// Wrap an IRP received by a dispatch routine.
    ///
    /// # Safety
    /// `irp` is a live IRP the caller owns; ownership passes to the value.
    pub unsafe fn from_raw(irp: *mut IRP) -> Self {
        KIrp {
            irp,
            _driver: PhantomData,
        }
    }

    fn stack(&self) -> &IO_STACK_LOCATION {
        // SAFETY: a live, owned IRP.
        let location = unsafe { inline::current_stack_location(self.irp) };
        // SAFETY: its current location is valid while we own the IRP.
        unsafe { &*location }
    }
}

impl<D: ReaderDriver> Cancelable for KIrp<D> {
    fn id(&self) -> usize {
        self.irp as usize
    }

    fn handle(&self) -> usize {
        self.stack().FileObject as usize
    }

    fn arm_cancel(&mut self) {
        // SAFETY: a live, owned IRP.
        let _ = unsafe { inline::set_cancel_routine(self.irp, Some(cancel_routine::<D>)) };
    }

    fn disarm_cancel(&mut self) -> bool {
        // SAFETY: a live, owned IRP.
        unsafe { inline::set_cancel_routine(self.irp, None) }.is_some()
    }

    fn cancel_requested(&self) -> bool {
        // SAFETY: a live, owned IRP.
        unsafe { inline::is_cancelled(self.irp) }
    }
}

impl<D: ReaderDriver> Irp for KIrp<D> {
    fn major(&self) -> Major {
        let s = self.stack();
        Major::from_codes(s.MajorFunction, s.MinorFunction)
    }

    fn ioctl_code(&self) -> u32 {
        // SAFETY: only asked of device-control IRPs (the union member in use).
        unsafe { self.stack().Parameters.DeviceIoControl.IoControlCode }
    }

    fn input_len(&self) -> usize {
        // SAFETY: as above.
        unsafe { self.stack().Parameters.DeviceIoControl.InputBufferLength as usize }
    }

    fn output_len(&self) -> usize {
        // SAFETY: as above.
        unsafe { self.stack().Parameters.DeviceIoControl.OutputBufferLength as usize }
    }

    fn system_buffer(&mut self) -> Option<&mut [u8]> {
        // SAFETY: a live, owned IRP.
        let buffer = unsafe { (*self.irp).SystemBuffer };
        if buffer.is_null() {
            return None;
        }
        let len = self.input_len().max(self.output_len());
        // SAFETY: METHOD_BUFFERED (checked by the portable layer before asking): the
        // I/O manager allocated max(input, output) bytes of non-paged pool, owned with
        // the IRP; the slice borrows the IRP mutably.
        Some(unsafe { core::slice::from_raw_parts_mut(buffer.cast::<u8>(), len) })
    }

    fn power(&self) -> Option<PowerParams> {
        let s = self.stack();
        if !matches!(self.major(), Major::Power(_)) {
            return None;
        }
        // SAFETY: a power IRP: the Power member is in use.
        let p = unsafe { s.Parameters.Power };
        Some(if p.Type == SYSTEM_POWER_STATE {
            PowerParams::System(p.State)
        } else {
            PowerParams::Device(p.State)
        })
    }

    fn mark_pending(&mut self) {
        // SAFETY: a live, owned IRP.
        unsafe { inline::mark_irp_pending(self.irp) }
    }

    fn complete(self, io: IoStatus) {
        // SAFETY: a live, owned IRP.
        unsafe { inline::set_io_status(self.irp, io.status as i32, io.information) };
        // SAFETY: completing gives the IRP back to the I/O manager; `self` is consumed.
        unsafe { IofCompleteRequest(self.irp, IO_NO_INCREMENT) };
    }
}

/// The device extension of a reader FDO.
pub struct Extension<D: ReaderDriver> {
    /// The reader.
    pub reader: Reader<D>,
    lower: *mut DEVICE_OBJECT,
    interface: UNICODE_STRING,
}

/// The extension of a device object created by [`add_device`].
///
/// # Safety
/// `device` is a live FDO created by [`add_device::<D>`] and not yet deleted.
unsafe fn extension<'a, D: ReaderDriver>(device: *mut DEVICE_OBJECT) -> &'a Extension<D> {
    // SAFETY: the caller guarantees the FDO.
    let ext = unsafe { (*device).DeviceExtension };
    // SAFETY: the extension holds an initialised `Extension<D>` from AddDevice until
    // IRP_MN_REMOVE_DEVICE.
    unsafe { &*ext.cast::<Extension<D>>() }
}

/// Print a NUL-terminated message to the kernel debugger.
pub fn debug_print(message: &core::ffi::CStr) {
    // SAFETY: "%s" with one valid NUL-terminated string.
    let _ = unsafe { DbgPrint(c"%s\n".as_ptr().cast(), message.as_ptr()) };
}

/// Fill the driver object: dispatch routines, AddDevice, Unload. Call from
/// `DriverEntry`.
///
/// # Safety
/// `driver` is the driver object passed to `DriverEntry`.
pub unsafe fn install<D: ReaderDriver>(driver: *mut DRIVER_OBJECT) -> NTSTATUS {
    // SAFETY: the caller guarantees the driver object; DriverEntry runs alone.
    let driver = unsafe { &mut *driver };
    for major in driver.MajorFunction.iter_mut() {
        *major = Some(dispatch::<D>);
    }
    driver.MajorFunction[crate::irp::mj::PNP as usize] = Some(dispatch_pnp::<D>);
    driver.DriverUnload = Some(unload);
    // SAFETY: the I/O manager allocated the driver extension with the driver object.
    unsafe { (*driver.DriverExtension).AddDevice = Some(add_device::<D>) };
    STATUS_SUCCESS
}

unsafe extern "system" fn unload(_driver: *mut DRIVER_OBJECT) {
    // Every device was deleted at IRP_MN_REMOVE_DEVICE.
}

/// AddDevice: create the FDO (`FILE_DEVICE_SMARTCARD`, exclusive), build the reader
/// in its extension, attach to the PDO and register the smart card reader interface
/// (enabled at start).
///
/// # Safety
/// Called by the PnP manager with its driver object and a PDO.
pub unsafe extern "system" fn add_device<D: ReaderDriver>(
    driver: *mut DRIVER_OBJECT,
    pdo: *mut DEVICE_OBJECT,
) -> NTSTATUS {
    let mut fdo: *mut DEVICE_OBJECT = core::ptr::null_mut();
    // SAFETY: valid driver object and out pointer; unnamed device.
    let status = unsafe {
        IoCreateDevice(
            driver,
            core::mem::size_of::<Extension<D>>() as u32,
            core::ptr::null_mut(),
            FILE_DEVICE_SMARTCARD,
            FILE_DEVICE_SECURE_OPEN,
            1,
            &mut fdo,
        )
    };
    if status < 0 {
        return status;
    }
    // SAFETY: the new FDO and the PDO it goes above.
    let lower = unsafe { IoAttachDeviceToDeviceStack(fdo, pdo) };
    if lower.is_null() {
        // SAFETY: our FDO, not attached.
        unsafe { IoDeleteDevice(fdo) };
        return ntstatus::NO_SUCH_DEVICE as i32;
    }
    // SAFETY: the FDO's extension is `size_of::<Extension<D>>()` zeroed bytes, suitably
    // aligned (pool allocation); it is initialised here, before any IRP can arrive.
    let ext = unsafe { (*fdo).DeviceExtension.cast::<Extension<D>>() };
    // SAFETY: as above.
    unsafe {
        ext.write(Extension {
            reader: D::create(),
            lower,
            interface: UNICODE_STRING {
                Length: 0,
                MaximumLength: 0,
                Buffer: core::ptr::null_mut(),
            },
        })
    };
    // SAFETY: the extension was just initialised; this computes a field address.
    let interface = unsafe { &raw mut (*ext).interface };
    // SAFETY: the PDO, the interface GUID and the extension's string to fill.
    let status = unsafe {
        IoRegisterDeviceInterface(
            pdo,
            &GUID_DEVINTERFACE_SMARTCARD_READER,
            core::ptr::null_mut(),
            interface,
        )
    };
    if status < 0 {
        debug_print(c"readerkit: IoRegisterDeviceInterface failed");
    }
    // SAFETY: our FDO, not yet visible to anyone else.
    let fdo = unsafe { &mut *fdo };
    fdo.Flags = (fdo.Flags | DO_BUFFERED_IO | DO_POWER_PAGABLE) & !DO_DEVICE_INITIALIZING;
    STATUS_SUCCESS
}

unsafe extern "system" fn cancel_routine<D: ReaderDriver>(
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
) {
    // SAFETY: IoCancelIrp passes a live IRP.
    let irql = unsafe { (*irp).CancelIrql };
    // SAFETY: called by IoCancelIrp with the cancel spin lock held at `irql`.
    unsafe { IoReleaseCancelSpinLock(irql) };
    // SAFETY: our FDO: the cancel routine is only set on IRPs sent to it.
    let ext = unsafe { extension::<D>(device) };
    ext.reader.cancel_routine(irp as usize);
}

/// Every IRP but PnP: to the portable layer, which completes it or hands it back to
/// be passed down (a power IRP with `PoCallDriver`).
unsafe extern "system" fn dispatch<D: ReaderDriver>(
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: our FDO.
    let ext = unsafe { extension::<D>(device) };
    // SAFETY: the I/O manager hands us the IRP.
    let irp = unsafe { KIrp::<D>::from_raw(irp) };
    match ext.reader.dispatch(irp) {
        Dispatch::Done(status) => status as i32,
        // The remove-lock reference `held` keeps the extension (and `ext.lower`)
        // until the IRP is passed down; it is given back after.
        Dispatch::Forward(irp, held) => {
            let status = if matches!(irp.major(), Major::Power(_)) {
                // SAFETY: an owned power IRP (a no-op since Windows Vista, kept for
                // older systems).
                unsafe { PoStartNextPowerIrp(irp.irp) };
                // SAFETY: an owned IRP with a next stack location.
                unsafe { inline::skip_current_stack_location(irp.irp) };
                // SAFETY: the lower device and the IRP.
                unsafe { PoCallDriver(ext.lower, irp.irp) }
            } else {
                forward(ext.lower, irp.irp)
            };
            drop(held);
            status
        }
    }
}

/// Pass an IRP down unchanged.
fn forward(lower: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: an owned IRP with a next stack location (StackSize from attaching).
    unsafe { inline::skip_current_stack_location(irp) };
    // SAFETY: the lower device we attached to, and the IRP.
    unsafe { IofCallDriver(lower, irp) }
}

/// Pass down a PnP IRP this driver handled, with `STATUS_SUCCESS`.
fn pass_down(lower: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: an owned IRP.
    unsafe { inline::set_io_status(irp, STATUS_SUCCESS, 0) };
    forward(lower, irp)
}

unsafe extern "system" fn start_completion(
    _device: *mut DEVICE_OBJECT,
    _irp: *mut IRP,
    context: PVOID,
) -> NTSTATUS {
    // SAFETY: the context is the KEvent on the waiting dispatch routine's stack.
    let event = unsafe { &*context.cast::<KEvent>() };
    event.set();
    STATUS_MORE_PROCESSING_REQUIRED
}

/// Send the IRP down and wait for the lower driver to complete it (START_DEVICE).
fn forward_and_wait(lower: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    let event = KEvent::new();
    let _ = event.get();
    // SAFETY: an owned IRP with a next stack location.
    unsafe { inline::copy_current_to_next(irp) };
    // SAFETY: as above; the event outlives the wait below.
    unsafe {
        inline::set_completion_routine(irp, start_completion, (&raw const event).cast_mut().cast())
    };
    // SAFETY: the lower device and the IRP.
    let status = unsafe { IofCallDriver(lower, irp) };
    if status == STATUS_PENDING {
        event.wait();
    }
    // SAFETY: the completion routine returned MORE_PROCESSING_REQUIRED: we own the IRP.
    let io = unsafe { (*irp).IoStatus };
    // SAFETY: the lower driver set the Status member.
    unsafe { io.u.Status }
}

/// Complete a PnP IRP this driver owns with `status` and no data, as
/// [`KIrp::complete`] does; `status` again, for the dispatch routine to return.
fn complete_raw<D: ReaderDriver>(irp: *mut IRP, status: NTSTATUS) -> NTSTATUS {
    // SAFETY: an owned IRP; completing it gives it back to the I/O manager.
    unsafe { KIrp::<D>::from_raw(irp) }.complete(IoStatus::status(status as u32));
    status
}

unsafe extern "system" fn dispatch_pnp<D: ReaderDriver>(
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: our FDO.
    let ext = unsafe { extension::<D>(device) };
    let reader = &ext.reader;
    if let Err(status) = reader.pnp_enter() {
        return complete_raw::<D>(irp, status as i32);
    }
    // SAFETY: an owned IRP.
    let location = unsafe { inline::current_stack_location(irp) };
    // SAFETY: its current stack location.
    let minor = unsafe { (*location).MinorFunction };
    let status = match minor {
        mn_pnp::START_DEVICE => {
            let mut status = forward_and_wait(ext.lower, irp);
            if status >= 0 {
                reader.start();
                set_interface(ext, true);
                D::started(reader);
                status = STATUS_SUCCESS;
            }
            complete_raw::<D>(irp, status)
        }
        mn_pnp::QUERY_STOP_DEVICE | mn_pnp::QUERY_REMOVE_DEVICE => {
            let status = if minor == mn_pnp::QUERY_STOP_DEVICE {
                reader.query_stop()
            } else {
                reader.query_remove()
            };
            if ntstatus::nt_success(status) {
                pass_down(ext.lower, irp)
            } else {
                complete_raw::<D>(irp, status as i32)
            }
        }
        mn_pnp::CANCEL_STOP_DEVICE | mn_pnp::CANCEL_REMOVE_DEVICE => {
            reader.cancel_stop_or_remove();
            pass_down(ext.lower, irp)
        }
        mn_pnp::STOP_DEVICE => {
            reader.stop();
            pass_down(ext.lower, irp)
        }
        mn_pnp::SURPRISE_REMOVAL => {
            reader.surprise_removal();
            set_interface(ext, false);
            pass_down(ext.lower, irp)
        }
        mn_pnp::REMOVE_DEVICE => {
            reader.pnp_leave();
            reader.remove();
            set_interface(ext, false);
            let lower = ext.lower;
            let status = pass_down(lower, irp);
            let ext = (&raw const *ext).cast_mut();
            // SAFETY: removal waited for every request: nothing uses the extension
            // any more. Free the interface string, drop the reader, detach, delete.
            let interface = unsafe { &raw mut (*ext).interface };
            // SAFETY: the string IoRegisterDeviceInterface allocated (or empty).
            unsafe { RtlFreeUnicodeString(interface) };
            // SAFETY: as above.
            unsafe { core::ptr::drop_in_place(ext) };
            // SAFETY: the device we attached to.
            unsafe { IoDetachDevice(lower) };
            // SAFETY: our FDO, no longer referenced.
            unsafe { IoDeleteDevice(device) };
            debug_print(c"readerkit: REMOVE_DEVICE: device deleted");
            return status;
        }
        _ => forward(ext.lower, irp),
    };
    reader.pnp_leave();
    status
}

fn set_interface<D: ReaderDriver>(ext: &Extension<D>, enable: bool) {
    if ext.interface.Buffer.is_null() {
        return;
    }
    let name = (&raw const ext.interface).cast_mut();
    // SAFETY: the symbolic link name registered in AddDevice.
    let _ = unsafe { IoSetDeviceInterfaceState(name, enable as u8) };
}
