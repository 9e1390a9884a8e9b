//! Real threads: no two callbacks ever overlap, and card events are processed while
//! a long callback holds the serialization lock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use readerkit::device::{AtrBuffer, ProtocolCall, ReaderFunctions, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{CardState, Device, Failure, Outcome, Status};
use readerkit_testkit::client::*;
use readerkit_testkit::memory::*;

/// Callbacks that check they run alone: `inside` must be 0 on entry.
struct Exclusive {
    inside: Arc<AtomicUsize>,
    overlaps: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl Exclusive {
    fn enter(&self) {
        if self.inside.fetch_add(1, Ordering::SeqCst) != 0 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Stay inside long enough for another thread to try to get in.
        for _ in 0..200 {
            std::hint::spin_loop();
        }
        thread::yield_now();
    }

    fn leave(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

fn x_power(x: &mut Exclusive, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    x.enter();
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&with_tck(ATR_T0_T1)).unwrap();
    }
    x.leave();
    Ok(())
}

fn x_transmit(x: &mut Exclusive, _: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Failure> {
    x.enter();
    reply[..2].copy_from_slice(&[0x90, 0x00]);
    x.leave();
    Ok(2)
}

fn x_set_protocol(x: &mut Exclusive, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
    x.enter();
    x.leave();
    Ok(call.card.timing)
}

fn x_tracking(x: &mut Exclusive, _: Wait) -> Result<(), Failure> {
    x.enter();
    x.leave();
    Ok(())
}

fn x_vendor(x: &mut Exclusive, _: u32, _: &[u8], _: &mut [u8]) -> Result<usize, Failure> {
    x.enter();
    x.leave();
    Ok(0)
}

#[test]
fn callbacks_never_overlap_under_load_with_events() {
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let functions = ReaderFunctions {
        power: Some(x_power),
        transmit: Some(x_transmit),
        set_protocol: Some(x_set_protocol),
        card_tracking: Some(x_tracking),
        vendor_ioctl: Some(x_vendor),
        ..ReaderFunctions::NONE
    };
    let driver = Exclusive {
        inside: inside.clone(),
        overlaps: overlaps.clone(),
        calls: calls.clone(),
    };
    let dev: Arc<Device<TestPlatform, Exclusive>> = Arc::new(Device::new(
        TestPlatform::default(),
        functions,
        driver,
        readerkit::caps::ReaderCapabilities::typical(),
        readerkit_testkit::vendor::attributes(),
    ));
    dev.card_inserted();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let dev = dev.clone();
            thread::spawn(move || {
                let mut out = [0u8; 64];
                let mut completed = 0usize;
                for i in 0..2_000 {
                    let (ioctl, input): (Ioctl, Vec<u8>) = match (i + worker) % 6 {
                        0 => (Ioctl::Power, 1u32.to_le_bytes().to_vec()),
                        1 => (Ioctl::SetProtocol, 3u32.to_le_bytes().to_vec()),
                        2 => (
                            Ioctl::Transmit,
                            transmit_input(2, &[0x00, 0x84, 0x00, 0x00, 0x08]),
                        ),
                        3 => (
                            Ioctl::GetAttribute,
                            readerkit::attr::ATR_STRING.to_le_bytes().to_vec(),
                        ),
                        4 => (Ioctl::IsAbsent, vec![]),
                        _ => (Ioctl::Vendor(2048), vec![1, 2, 3]),
                    };
                    match dev.control(ioctl.code(), &input, &mut out) {
                        Outcome::Complete { .. } => completed += 1,
                        Outcome::Pending => {
                            dev.cancel_tracking();
                        }
                    }
                }
                completed
            })
        })
        .collect();
    let events = {
        let dev = dev.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let mut fired = 0;
            while !stop.load(Ordering::SeqCst) {
                dev.card_removed();
                dev.card_inserted();
                if fired % 3 == 0 {
                    dev.card_fault();
                }
                dev.process_events();
                fired += 1;
                thread::yield_now();
            }
            fired
        })
    };
    let completed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    stop.store(true, Ordering::SeqCst);
    let fired = events.join().unwrap();
    assert!(completed > 0);
    assert!(fired > 0);
    assert!(
        calls.load(Ordering::SeqCst) > 100,
        "callbacks really ran: {}",
        calls.load(Ordering::SeqCst)
    );
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two callbacks overlapped"
    );
    // Every pending tracking request was completed exactly once (event or cancel).
    dev.cancel_tracking();
    let completions = dev.platform().completions();
    assert!(
        completions
            .iter()
            .all(|s| matches!(s, Status::Success | Status::Cancelled))
    );
}

/// A vendor callback that blocks until told to go on.
struct Blocking {
    entered: mpsc::Sender<()>,
    release: Arc<Barrier>,
}

fn blocking_vendor(b: &mut Blocking, _: u32, _: &[u8], _: &mut [u8]) -> Result<usize, Failure> {
    b.entered.send(()).unwrap();
    b.release.wait();
    Ok(0)
}

fn blocking_tracking(_: &mut Blocking, _: Wait) -> Result<(), Failure> {
    Ok(())
}

#[test]
fn events_are_processed_while_a_long_callback_holds_the_lock() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let release = Arc::new(Barrier::new(2));
    let functions = ReaderFunctions {
        vendor_ioctl: Some(blocking_vendor),
        card_tracking: Some(blocking_tracking),
        ..ReaderFunctions::NONE
    };
    let dev = Arc::new(Device::<TestPlatform, Blocking>::new(
        TestPlatform::default(),
        functions,
        Blocking {
            entered: entered_tx,
            release: release.clone(),
        },
        readerkit::caps::ReaderCapabilities::typical(),
        readerkit_testkit::vendor::attributes(),
    ));
    dev.card_inserted();
    let mut out = [0u8; 8];
    assert_eq!(
        dev.control(Ioctl::IsAbsent.code(), &[], &mut out),
        Outcome::Pending
    );

    let busy = {
        let dev = dev.clone();
        thread::spawn(move || {
            let mut out = [0u8; 8];
            dev.control(Ioctl::Vendor(2048).code(), &[], &mut out)
        })
    };
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("callback entered");
    // The callback holds the serialization lock now. Removal must not wait for it.
    dev.card_removed();
    dev.process_events();
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(
        dev.platform().completions(),
        [Status::Success],
        "IS_ABSENT completed during the callback"
    );
    // Answers the library gives itself don't wait either.
    assert_eq!(
        dev.control(Ioctl::GetState.code(), &[], &mut out),
        Outcome::Complete {
            status: Status::Success,
            bytes_written: 4
        }
    );
    release.wait();
    assert_eq!(
        busy.join().unwrap(),
        Outcome::Complete {
            status: Status::Success,
            bytes_written: 0
        }
    );
}
