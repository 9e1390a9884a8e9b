//! Pending / cancel / complete races with real threads: every tracking IRP is
//! completed exactly once (the fake IRP panics on a second completion and on a
//! completion with its cancel routine still set), over many iterations.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use readerkit::ioctl::Ioctl;
use readerkit::status::Status;
use readerkit_wdm::irp::mj;
use readerkit_wdm::ntstatus;
use readerkit_wdm::reader::Dispatch;
use support::*;

/// Iterations per race (`READERKIT_WDM_ITERATIONS` overrides, for longer soaks).
fn iterations() -> usize {
    std::env::var("READERKIT_WDM_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn settled(r: &Reader) {
    assert_eq!(
        r.device().platform().remove_lock().holders(),
        1,
        "a remove-lock reference leaked"
    );
    assert!(!r.device().platform().tracking().busy(), "slot left busy");
}

#[test]
fn cancel_races_completion() {
    let r = Arc::new(reader());
    let (mut cancelled, mut succeeded) = (0, 0);
    for _ in 0..iterations() {
        let rec = pending_is_present(&r);
        let barrier = Arc::new(Barrier::new(2));
        let canceller = {
            let (r, rec, barrier) = (r.clone(), rec.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                io_cancel_irp(&r, &rec);
            })
        };
        barrier.wait();
        insert(&r);
        canceller.join().unwrap();
        let io = rec.completed().expect("tracking IRP never completed");
        assert_eq!(io.information, 0);
        match Status::from_ntstatus(io.status) {
            Some(Status::Cancelled) => cancelled += 1,
            Some(Status::Success) => succeeded += 1,
            other => panic!("unexpected {other:?}"),
        }
        settled(&r);
        remove(&r);
    }
    println!("cancel won {cancelled}, completion won {succeeded}");
}

#[test]
fn dispatch_races_event_and_cancel() {
    // The IRP is dispatched on one thread while another inserts the card and a third
    // cancels the IRP: the completion may come before the IRP is parked, the cancel
    // before its cancel routine is set.
    let r = Arc::new(reader());
    for i in 0..iterations() {
        let (irp, rec) = FakeIrp::ioctl(Ioctl::IsPresent.code(), &[], 0);
        let barrier = Arc::new(Barrier::new(3));
        let dispatcher = {
            let (r, barrier) = (r.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                match r.dispatch(irp) {
                    Dispatch::Done(st) => st,
                    Dispatch::Forward(..) => unreachable!(),
                }
            })
        };
        let canceller = {
            let (r, rec, barrier) = (r.clone(), rec.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                if i % 2 == 0 {
                    thread::yield_now();
                }
                io_cancel_irp(&r, &rec);
            })
        };
        barrier.wait();
        insert(&r);
        let returned = dispatcher.join().unwrap();
        canceller.join().unwrap();
        let io = rec.completed().expect("IRP never completed");
        let status = Status::from_ntstatus(io.status);
        assert!(
            matches!(status, Some(Status::Success | Status::Cancelled)),
            "{status:?}"
        );
        // A pended IRP returns STATUS_PENDING; one completed in dispatch returns its
        // status.
        if returned != ntstatus::PENDING {
            assert_eq!(returned, io.status);
        }
        settled(&r);
        remove(&r);
    }
}

#[test]
fn cleanup_races_completion() {
    let r = Arc::new(reader());
    assert_eq!(open(&r), ntstatus::SUCCESS);
    for _ in 0..iterations() {
        let rec = pending_is_present(&r);
        let barrier = Arc::new(Barrier::new(2));
        let cleaner = {
            let (r, barrier) = (r.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                major(&r, mj::CLEANUP)
            })
        };
        barrier.wait();
        insert(&r);
        let (st, cleanup) = cleaner.join().unwrap();
        assert_eq!(st, ntstatus::SUCCESS);
        assert!(cleanup.completed().is_some());
        let status = Status::from_ntstatus(rec.completed().unwrap().status);
        assert!(matches!(status, Some(Status::Success | Status::Cancelled)));
        settled(&r);
        remove(&r);
    }
}

#[test]
fn many_threads_hammer_one_reader() {
    // Tracking requests, cancels, card events and ordinary IOCTLs from four threads at
    // once; every IRP sent is completed exactly once.
    let r = Arc::new(reader());
    let records = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (r, records) = (r.clone(), records.clone());
            thread::spawn(move || {
                for i in 0..iterations() / 2 {
                    match (t, i % 3) {
                        (0, _) => {
                            let code = if i % 2 == 0 {
                                Ioctl::IsPresent
                            } else {
                                Ioctl::IsAbsent
                            };
                            let (_, rec) = ioctl(&r, code.code(), &[], 0);
                            records.lock().unwrap().push(rec);
                        }
                        (1, _) => {
                            let last = records.lock().unwrap().last().cloned();
                            if let Some(rec) = last {
                                io_cancel_irp(&r, &rec);
                            }
                        }
                        (2, 0) => insert(&r),
                        (2, _) => remove(&r),
                        _ => {
                            let (st, rec) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
                            assert_eq!(st, ntstatus::SUCCESS);
                            assert_eq!(rec.completed().unwrap().information, 4);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Finish whatever still pends.
    let _ = major(&r, mj::CLEANUP);
    for rec in records.lock().unwrap().iter() {
        rec.completed().expect("an IRP was never completed");
    }
    settled(&r);
}
