//! Model checking of the event queue and the tracking hand-off with loom.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p readerkit --test loom --release`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::event::{CardEvent, EventQueue, Popped};
use readerkit::ioctl::Ioctl;
use readerkit::platform::{Mutex, Platform};
use readerkit::tracking::Wait;
use readerkit::{Device, Failure, Outcome, ReaderFunctions, Status};

struct LoomMutex<T>(loom::sync::Mutex<T>);

impl<T> Mutex<T> for LoomMutex<T> {
    fn new(value: T) -> Self {
        LoomMutex(loom::sync::Mutex::new(value))
    }
    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

/// Counts completions: successes and cancellations.
struct LoomPlatform {
    successes: AtomicUsize,
    cancellations: AtomicUsize,
}

impl Platform for LoomPlatform {
    type Serial<T> = LoomMutex<T>;
    type Short<T> = LoomMutex<T>;

    fn complete_tracking(&self, status: Status) {
        match status {
            Status::Success => self.successes.fetch_add(1, Ordering::SeqCst),
            Status::Cancelled => self.cancellations.fetch_add(1, Ordering::SeqCst),
            other => panic!("unexpected completion {other:?}"),
        };
    }
}

fn track(_: &mut (), _: Wait) -> Result<(), Failure> {
    Ok(())
}

fn device() -> Device<LoomPlatform, (), 2> {
    Device::new(
        LoomPlatform {
            successes: AtomicUsize::new(0),
            cancellations: AtomicUsize::new(0),
        },
        ReaderFunctions {
            card_tracking: Some(track),
            ..ReaderFunctions::NONE
        },
        (),
        ReaderCapabilities::typical(),
        VendorAttributes::default(),
    )
}

fn is_present(dev: &Device<LoomPlatform, (), 2>) -> Outcome {
    dev.control(Ioctl::IsPresent.code(), &[], &mut [])
}

#[test]
fn queue_two_producers_one_consumer() {
    loom::model(|| {
        let q: Arc<EventQueue<2>> = Arc::new(EventQueue::new());
        let producers: Vec<_> = [CardEvent::Inserted, CardEvent::Removed]
            .into_iter()
            .map(|e| {
                let q = q.clone();
                thread::spawn(move || assert!(q.push(e)))
            })
            .collect();
        let mut seen = Vec::new();
        if let Some(p) = q.pop() {
            seen.push(p);
        }
        for p in producers {
            p.join().unwrap();
        }
        while let Some(p) = q.pop() {
            seen.push(p);
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.contains(&Popped::Event(CardEvent::Inserted)));
        assert!(seen.contains(&Popped::Event(CardEvent::Removed)));
    });
}

#[test]
fn insertion_racing_is_present_completes_exactly_once() {
    loom::model(|| {
        let dev = Arc::new(device());
        let events = {
            let dev = dev.clone();
            thread::spawn(move || {
                dev.card_inserted();
                dev.process_events();
            })
        };
        let outcome = is_present(&dev);
        events.join().unwrap();
        dev.process_events();
        let inline = match outcome {
            Outcome::Complete {
                status: Status::Success,
                ..
            } => 1,
            Outcome::Pending => 0,
            other => panic!("{other:?}"),
        };
        let p = dev.platform();
        assert_eq!(inline + p.successes.load(Ordering::SeqCst), 1);
        assert_eq!(p.cancellations.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn cancel_racing_insertion_completes_exactly_once() {
    loom::model(|| {
        let dev = Arc::new(device());
        assert_eq!(is_present(&dev), Outcome::Pending);
        let canceller = {
            let dev = dev.clone();
            thread::spawn(move || dev.cancel_tracking())
        };
        dev.card_inserted();
        dev.process_events();
        let cancelled = canceller.join().unwrap();
        let p = dev.platform();
        let total = p.successes.load(Ordering::SeqCst) + p.cancellations.load(Ordering::SeqCst);
        assert_eq!(total, 1);
        assert_eq!(cancelled, p.cancellations.load(Ordering::SeqCst) == 1);
    });
}
