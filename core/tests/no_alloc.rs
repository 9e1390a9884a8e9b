//! The entry point never touches the heap: a counting global allocator sees no
//! allocation across thousands of requests and events.
//!
//! Only the test's own thread is counted: the test harness (and any other thread of
//! the process) allocates whenever it likes, and that says nothing about the library.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Arc, Barrier};

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::ioctl::{Ioctl, Request, Transmit};
use readerkit::platform::SpinPlatform;
use readerkit::{Device, Status};
use readerkit_testkit::{ack, apdu};

struct Counting;

thread_local! {
    /// Allocations made by this thread since counting began on it; `None` while
    /// this thread is not counted. (A `const` `Cell` of `Copy` data: reading it
    /// never allocates and it has no destructor.)
    static ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Start counting this thread's allocations from zero.
fn start_counting() {
    ALLOCATIONS.with(|n| n.set(Some(0)));
}

/// Stop counting on this thread; the allocations it made since `start_counting`.
fn stop_counting() -> usize {
    ALLOCATIONS
        .with(|n| n.take())
        .expect("counting was started")
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: a thread being torn down may allocate after its locals are gone.
        let _ = ALLOCATIONS.try_with(|n| {
            if let Some(count) = n.get() {
                n.set(Some(count + 1));
            }
        });
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

#[test]
fn requests_and_events_do_not_allocate() {
    let dev: Device<SpinPlatform, ()> = Device::new(
        SpinPlatform::new(),
        ack::functions(),
        (),
        ReaderCapabilities::typical(),
        VendorAttributes::default(),
    );
    let mut out = [0u8; 64];
    // Built before counting starts (the typed request writes into a stack buffer).
    let mut transmit_input = [0u8; 13];
    let get_challenge = apdu::get_challenge(8);
    Request::Transmit(Transmit {
        protocol: 2,
        apdu: &get_challenge,
    })
    .emit(&mut transmit_input)
    .expect("13 bytes");
    // Another thread allocates inside the counted span (as the harness's threads
    // may at any time): it must not count. The barriers (futex-based) do not allocate.
    let barrier = Arc::new(Barrier::new(2));
    let other = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || {
            barrier.wait();
            let noise: Vec<Box<u64>> = (0..100).map(Box::new).collect();
            barrier.wait();
            noise.len()
        }
    });
    start_counting();
    barrier.wait();
    barrier.wait();
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
    let allocations = stop_counting();
    assert_eq!(
        other.join().unwrap(),
        100,
        "the other thread allocated meanwhile"
    );
    assert_eq!(
        successes, 5_000,
        "power, protocol, transmit, ATR and state succeed each round"
    );
    assert_eq!(
        dev.platform().take_completion(),
        Some(Status::Success),
        "IS_ABSENT completed"
    );
    assert_eq!(allocations, 0, "heap allocations during requests");
}
