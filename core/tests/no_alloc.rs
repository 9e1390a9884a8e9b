//! The entry point never touches the heap: a counting global allocator sees no
//! allocation across thousands of requests and events.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::platform::SpinPlatform;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{Device, ReaderFunctions, Status};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn power(_: &mut (), action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Status> {
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&[0x3B, 0xD0, 0x96, 0x00, 0x80, 0x31, 0xFE, 0x45, 0x4C])
            .unwrap();
    }
    Ok(())
}

fn transmit(_: &mut (), _: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Status> {
    reply[..2].copy_from_slice(&[0x90, 0x00]);
    Ok(2)
}

fn set_protocol(_: &mut (), call: &ProtocolCall<'_>) -> Result<Timing, Status> {
    Ok(call.card.timing)
}

fn tracking(_: &mut (), _: Wait) -> Result<(), Status> {
    Ok(())
}

#[test]
fn requests_and_events_do_not_allocate() {
    let dev: Device<SpinPlatform, ()> = Device::new(
        SpinPlatform::new(),
        ReaderFunctions {
            power: Some(power),
            transmit: Some(transmit),
            set_protocol: Some(set_protocol),
            card_tracking: Some(tracking),
            ..ReaderFunctions::NONE
        },
        (),
        ReaderCapabilities::typical(),
        VendorAttributes::default(),
    );
    let mut out = [0u8; 64];
    let transmit_input = [2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut successes = 0;
    for _ in 0..1_000 {
        dev.card_inserted();
        let steps: [(Ioctl, &[u8]); 6] = [
            (Ioctl::Power, &[1, 0, 0, 0]),
            (Ioctl::SetProtocol, &[2, 0, 0, 0]),
            (Ioctl::Transmit, &transmit_input),
            (Ioctl::GetAttribute, &[0x03, 0x03, 0x09, 0x00]),
            (Ioctl::IsAbsent, &[]),
            (Ioctl::GetState, &[]),
        ];
        for (ioctl, input) in steps {
            if dev.control(ioctl.code(), input, &mut out).status() == Some(Status::Success) {
                successes += 1;
            }
        }
        dev.card_removed();
        dev.process_events();
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(
        successes, 5_000,
        "power, protocol, transmit, ATR and state succeed each round"
    );
    assert_eq!(
        dev.platform().take_completion(),
        Some(Status::Success),
        "IS_ABSENT completed"
    );
    assert_eq!(after - before, 0, "heap allocations during requests");
}
