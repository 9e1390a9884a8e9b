//! The facade's accessors for `wdm.h` inline functions, exercised on an IRP laid out
//! in ordinary memory (the layouts are the pinned x64 ones).
#![cfg(target_pointer_width = "64")]

use readerkit_wdm::ffi::inline::*;
use readerkit_wdm::ffi::types::*;

#[repr(C)]
struct IrpWithStack {
    stack: [IO_STACK_LOCATION; 2],
    irp: IRP,
}

fn fake() -> Box<IrpWithStack> {
    // SAFETY: every field is an integer, a raw pointer, an `Option` of a function
    // pointer or a union of those: all-zero is a valid value.
    let mut b: Box<IrpWithStack> = unsafe { Box::new(core::mem::zeroed()) };
    let top = &raw mut b.stack[1];
    b.irp.StackCount = 2;
    b.irp.CurrentLocation = 2;
    b.irp.Tail.CurrentStackLocation = top;
    b
}

unsafe extern "system" fn cancel(_: *mut DEVICE_OBJECT, _: *mut IRP) {}
unsafe extern "system" fn done(_: *mut DEVICE_OBJECT, _: *mut IRP, _: PVOID) -> NTSTATUS {
    0
}

#[test]
fn stack_location_pending_and_status() {
    let mut b = fake();
    b.stack[1].MajorFunction = 0x0E;
    b.stack[1].Parameters.DeviceIoControl = DeviceIoControlParams {
        OutputBufferLength: 4,
        _pad0: 0,
        InputBufferLength: 8,
        _pad1: 0,
        IoControlCode: readerkit::Ioctl::GetState.code(),
        _pad2: 0,
        Type3InputBuffer: core::ptr::null_mut(),
    };
    let irp = &raw mut b.irp;
    // SAFETY: `irp` is a live IRP with two stack locations, the current one on top.
    let loc = unsafe { current_stack_location(irp) };
    assert_eq!(loc, &raw mut b.stack[1]);
    // SAFETY: as above.
    unsafe { mark_irp_pending(irp) };
    assert_eq!(
        b.stack[1].Control & SL_PENDING_RETURNED,
        SL_PENDING_RETURNED
    );
    // SAFETY: as above.
    unsafe { set_io_status(irp, 0xC000_0120_u32 as i32, 7) };
    // SAFETY: the status member was just written.
    assert_eq!(unsafe { b.irp.IoStatus.u.Status }, 0xC000_0120_u32 as i32);
    assert_eq!(b.irp.IoStatus.Information, 7);
}

#[test]
fn cancel_routine_is_an_exchange() {
    let mut b = fake();
    let irp = &raw mut b.irp;
    // SAFETY: `irp` is live.
    assert!(unsafe { set_cancel_routine(irp, Some(cancel)) }.is_none());
    // SAFETY: `irp` is live.
    assert!(unsafe { set_cancel_routine(irp, None) }.is_some());
    // SAFETY: `irp` is live.
    assert!(unsafe { set_cancel_routine(irp, None) }.is_none());
    // SAFETY: `irp` is live.
    assert!(!unsafe { is_cancelled(irp) });
    b.irp.Cancel = 1;
    // SAFETY: `irp` is live.
    assert!(unsafe { is_cancelled(&raw mut b.irp) });
}

#[test]
fn copy_to_next_with_completion_routine_and_skip() {
    let mut b = fake();
    b.stack[1].MajorFunction = 0x1B;
    b.stack[1].MinorFunction = 0x00;
    b.stack[1].Control = SL_PENDING_RETURNED;
    let irp = &raw mut b.irp;
    // SAFETY: `irp` is live and has a next stack location.
    unsafe { copy_current_to_next(irp) };
    // SAFETY: as above.
    unsafe { set_completion_routine(irp, done, 0x1234 as PVOID) };
    assert_eq!(b.stack[0].MajorFunction, 0x1B);
    assert!(b.stack[0].CompletionRoutine.is_some());
    assert_eq!(b.stack[0].Context as usize, 0x1234);
    assert_eq!(
        b.stack[0].Control,
        SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL
    );
    // Skip: the next driver sees the current location again.
    let irp = &raw mut b.irp;
    // SAFETY: `irp` is live; after the skip and a lower driver's
    // IoGetCurrentIrpStackLocation (one below), it is the same location.
    unsafe { skip_current_stack_location(irp) };
    assert_eq!(b.irp.CurrentLocation, 3);
    let top = (&raw mut b.stack[1]).wrapping_add(1);
    assert_eq!(b.irp.Tail.CurrentStackLocation, top);
}

#[test]
fn smart_card_interface_guid() {
    let g = GUID_DEVINTERFACE_SMARTCARD_READER;
    assert_eq!(
        (g.Data1, g.Data2, g.Data3, g.Data4),
        (
            0x50DD_5230,
            0xBA8A,
            0x11D1,
            [0xBF, 0x5D, 0x00, 0x00, 0xF8, 0x05, 0xF5, 0x30]
        )
    );
}
