//! Create exclusivity, cleanup, close, PnP (start, stop, surprise removal, remove with
//! the remove lock) and system power, through fake IRPs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use readerkit::caps::ReaderCapabilities;
use readerkit::device::ReaderFunctions;
use readerkit::event::CardEvent;
use readerkit::ioctl::Ioctl;
use readerkit::line::LineReader;
use readerkit::status::{Failure, Status};
use readerkit_card_sim::SimLine;
use readerkit_wdm::irp::{IoStatus, Major, PowerParams, mj, mn_power};
use readerkit_wdm::reader::Dispatch;
use readerkit_wdm::{DriverControl, DriverHooks, PnpState, WdmReader, ntstatus};
use support::*;

const S0: u32 = 1;
const S3: u32 = 4;

fn state(r: &Reader) -> u32 {
    let (st, rec) = ioctl(r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(st, ntstatus::SUCCESS);
    u32::from_le_bytes(rec.output().try_into().unwrap())
}

#[test]
fn one_open_handle_per_reader() {
    let r = reader();
    assert_eq!(open(&r), ntstatus::SUCCESS);
    assert!(r.is_open());
    let (st, rec) = major(&r, mj::CREATE);
    assert_eq!(st, ntstatus::ACCESS_DENIED);
    assert_eq!(
        rec.completed(),
        Some(IoStatus::status(ntstatus::ACCESS_DENIED))
    );
    assert_eq!(major(&r, mj::CLEANUP).0, ntstatus::SUCCESS);
    assert_eq!(major(&r, mj::CLOSE).0, ntstatus::SUCCESS);
    assert!(!r.is_open());
    assert_eq!(open(&r), ntstatus::SUCCESS);
}

#[test]
fn concurrent_opens_only_one_wins() {
    for _ in 0..200 {
        let r = Arc::new(reader());
        let results = race(4, {
            let r = r.clone();
            move || open(&r)
        });
        assert_eq!(
            results.iter().filter(|&&s| s == ntstatus::SUCCESS).count(),
            1
        );
        assert_eq!(
            results
                .iter()
                .filter(|&&s| s == ntstatus::ACCESS_DENIED)
                .count(),
            3
        );
    }
}

#[test]
fn not_started_reader_refuses() {
    let r = Reader::new(
        LineReader::functions(),
        LineReader::new(SimLine::empty()),
        ReaderCapabilities::typical(),
        vendor(),
        DriverHooks::NONE,
    );
    assert_eq!(r.pnp_state(), PnpState::NotStarted);
    assert_eq!(open(&r), ntstatus::DEVICE_NOT_READY);
    let (st, rec) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(st, ntstatus::DEVICE_NOT_READY);
    assert_eq!(rec.completed(), Some(IoStatus::status(st)));
    r.start();
    assert_eq!(open(&r), ntstatus::SUCCESS);
}

#[test]
fn cleanup_cancels_the_pending_tracking_irp() {
    let r = reader();
    assert_eq!(open(&r), ntstatus::SUCCESS);
    let rec = pending_is_present(&r);
    assert_eq!(major(&r, mj::CLEANUP).0, ntstatus::SUCCESS);
    assert_eq!(rec.completed(), Some(IoStatus::status(ntstatus::CANCELLED)));
    // A later insertion completes nothing more (the fake panics on a second one).
    insert(&r);
    assert_eq!(rec.completions.load(Ordering::SeqCst), 1);
    assert_eq!(major(&r, mj::CLOSE).0, ntstatus::SUCCESS);
    assert_eq!(r.device().platform().remove_lock().holders(), 1);
}

/// The cancel routine runs without the I/O manager holding anything of ours, and its
/// `CancelInCore` path completes the IRP from inside the core's `cancel_tracking`
/// (or, racing, from an event or `IRP_MN_REMOVE_DEVICE`'s own cancel). Once the IRP's
/// remove-lock reference is released, `release_and_wait` may return and the extension
/// be dropped: the cancel routine must hold its own reference until it returns.
#[test]
fn cancel_routine_holds_the_remove_lock_until_it_returns() {
    let r = Arc::new(reader());
    assert_eq!(open(&r), ntstatus::SUCCESS);
    let base = r.device().platform().remove_lock().holders();
    let rec = pending_is_present(&r);
    assert_eq!(r.device().platform().remove_lock().holders(), base + 1);
    let seen = Arc::new(AtomicUsize::new(0));
    {
        let (r, seen) = (r.clone(), seen.clone());
        *rec.on_complete.lock().unwrap() = Some(Box::new(move || {
            let holders = r.device().platform().remove_lock().holders();
            seen.store(holders, Ordering::SeqCst);
        }));
    }
    io_cancel_irp(&r, &rec);
    assert_eq!(rec.completed(), Some(IoStatus::status(ntstatus::CANCELLED)));
    // At completion: the base reference, the IRP's (released right after), and the
    // cancel routine's own.
    assert_eq!(
        seen.load(Ordering::SeqCst),
        base + 2,
        "the cancel routine ran on with no remove-lock reference of its own"
    );
    assert_eq!(r.device().platform().remove_lock().holders(), base);
}

#[test]
fn irp_cancelled_before_it_pends_completes_cancelled() {
    let r = reader();
    let (irp, rec) = FakeIrp::ioctl(Ioctl::IsPresent.code(), &[], 0);
    // IoCancelIrp ran before the dispatch routine set a cancel routine.
    rec.cancel.store(true, Ordering::SeqCst);
    let readerkit_wdm::reader::Dispatch::Done(st) = r.dispatch(irp) else {
        panic!()
    };
    assert_eq!(st, ntstatus::PENDING);
    assert_eq!(rec.completed(), Some(IoStatus::status(ntstatus::CANCELLED)));
    // The slot is free again.
    pending_is_present(&r);
}

#[test]
fn surprise_removal_with_a_pending_irp() {
    let r = reader();
    assert_eq!(open(&r), ntstatus::SUCCESS);
    let rec = pending_is_present(&r);
    r.surprise_removal();
    assert_eq!(r.pnp_state(), PnpState::SurpriseRemoved);
    assert_eq!(rec.completed(), Some(IoStatus::status(ntstatus::CANCELLED)));
    // New requests: STATUS_DELETE_PENDING; a second open too.
    let (st, rec) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(st, ntstatus::DELETE_PENDING);
    assert_eq!(rec.completed(), Some(IoStatus::status(st)));
    assert_eq!(open(&r), ntstatus::DELETE_PENDING);
    // The open handle is still cleaned up and closed.
    assert_eq!(major(&r, mj::CLEANUP).0, ntstatus::SUCCESS);
    assert_eq!(major(&r, mj::CLOSE).0, ntstatus::SUCCESS);
    // Then IRP_MN_REMOVE_DEVICE: admitted like every PnP IRP, then remove().
    assert_eq!(r.pnp_enter(), Ok(()));
    r.pnp_leave();
    r.remove();
    r.remove();
    assert_eq!(r.pnp_state(), PnpState::Removed);
    assert_eq!(r.device().platform().remove_lock().holders(), 0);
}

/// What the kernel layer's PnP dispatch routine does for IRP_MN_SURPRISE_REMOVAL and
/// then IRP_MN_REMOVE_DEVICE (issue 15: after the surprise removal the remove lock
/// refused the PnP dispatch routine's reference, so REMOVE_DEVICE was completed with
/// STATUS_DELETE_PENDING, never passed down, and the device never deleted).
#[test]
fn remove_device_after_surprise_removal_is_admitted_and_finishes() {
    let r = Arc::new(reader());
    insert(&r);
    assert_eq!(open(&r), ntstatus::SUCCESS);
    let (st, tracking) = ioctl(&r, Ioctl::IsAbsent.code(), &[], 0);
    assert_eq!(st, ntstatus::PENDING);
    // IRP_MN_SURPRISE_REMOVAL.
    assert_eq!(r.pnp_enter(), Ok(()));
    r.surprise_removal();
    r.pnp_leave();
    assert_eq!(
        tracking.completed(),
        Some(IoStatus::status(ntstatus::CANCELLED))
    );
    // Other PnP IRPs (QUERY_CAPABILITIES, ...) may still come and are passed down.
    assert_eq!(r.pnp_enter(), Ok(()));
    r.pnp_leave();
    // I/O is refused from now on.
    assert_eq!(
        ioctl(&r, Ioctl::GetState.code(), &[], 4).0,
        ntstatus::DELETE_PENDING
    );
    // IRP_MN_REMOVE_DEVICE: admitted; remove() waits for nothing more and returns.
    assert_eq!(r.pnp_enter(), Ok(()), "REMOVE_DEVICE refused");
    r.pnp_leave();
    let remover = {
        let r = r.clone();
        thread::spawn(move || r.remove())
    };
    for _ in 0..500 {
        if remover.is_finished() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert!(remover.is_finished(), "remove() did not return in 5 s");
    remover.join().unwrap();
    assert_eq!(r.pnp_state(), PnpState::Removed);
    assert_eq!(r.device().platform().remove_lock().holders(), 0);
    // Nothing is admitted after the removal.
    assert_eq!(r.pnp_enter(), Err(ntstatus::DELETE_PENDING));
}

/// Wine sends no IRP_MJ_CLEANUP: the close of a handle with a pending tracking IRP
/// must cancel it, or the IRP (and its remove-lock reference) stays forever and the
/// next tracking request is refused as busy.
#[test]
fn close_without_cleanup_cancels_the_handles_tracking_irp() {
    const A: usize = 0xA000;
    let r = reader();
    insert(&r);
    assert_eq!(file_major(&r, mj::CREATE, A).0, ntstatus::SUCCESS);
    let holders = r.device().platform().remove_lock().holders();
    let (st, tracking) = file_ioctl(&r, A, Ioctl::IsAbsent.code(), &[], 0);
    assert_eq!(st, ntstatus::PENDING);
    assert_eq!(file_major(&r, mj::CLOSE, A).0, ntstatus::SUCCESS);
    assert_eq!(
        tracking.completed(),
        Some(IoStatus::status(ntstatus::CANCELLED)),
        "the close left the tracking IRP pending"
    );
    assert_eq!(r.device().platform().remove_lock().holders(), holders);
    assert!(!r.is_open());
    // The slot is free for the next handle.
    assert_eq!(file_major(&r, mj::CREATE, A + 1).0, ntstatus::SUCCESS);
    let (st, next) = file_ioctl(&r, A + 1, Ioctl::IsAbsent.code(), &[], 0);
    assert_eq!(st, ntstatus::PENDING);
    remove(&r);
    assert_eq!(next.completed(), Some(IoStatus::status(ntstatus::SUCCESS)));
}

/// Wine ignores the create status: a refused second open still gets a handle, and its
/// close reaches the driver. That close must not undo the first handle's open, nor
/// cancel the first handle's tracking IRP.
#[test]
fn close_of_a_refused_open_changes_nothing() {
    const FIRST: usize = 0x1000;
    const SECOND: usize = 0x2000;
    const THIRD: usize = 0x3000;
    let r = reader();
    insert(&r);
    assert_eq!(file_major(&r, mj::CREATE, FIRST).0, ntstatus::SUCCESS);
    let (st, tracking) = file_ioctl(&r, FIRST, Ioctl::IsAbsent.code(), &[], 0);
    assert_eq!(st, ntstatus::PENDING);
    assert_eq!(
        file_major(&r, mj::CREATE, SECOND).0,
        ntstatus::ACCESS_DENIED
    );
    assert_eq!(file_major(&r, mj::CLEANUP, SECOND).0, ntstatus::SUCCESS);
    assert_eq!(file_major(&r, mj::CLOSE, SECOND).0, ntstatus::SUCCESS);
    assert!(r.is_open(), "the refused handle's close closed the reader");
    assert_eq!(tracking.completed(), None);
    assert_eq!(
        file_major(&r, mj::CREATE, THIRD).0,
        ntstatus::ACCESS_DENIED,
        "a third open got in while the first handle is open"
    );
    // The first handle's own close cancels its request and opens the reader up.
    assert_eq!(file_major(&r, mj::CLOSE, FIRST).0, ntstatus::SUCCESS);
    assert_eq!(
        tracking.completed(),
        Some(IoStatus::status(ntstatus::CANCELLED))
    );
    assert!(!r.is_open());
    assert_eq!(file_major(&r, mj::CREATE, THIRD).0, ntstatus::SUCCESS);
}

static REMOVED: AtomicBool = AtomicBool::new(false);
static AFTER_REMOVAL: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

fn slow_vendor(_: &mut u32, _: u32, _: &[u8], out: &mut [u8]) -> Result<usize, Failure> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    thread::sleep(Duration::from_micros(200));
    if REMOVED.load(Ordering::SeqCst) {
        AFTER_REMOVAL.fetch_add(1, Ordering::SeqCst);
    }
    out[0] = 1;
    Ok(1)
}

#[test]
fn remove_waits_for_requests_in_flight_and_no_irp_runs_after() {
    let functions = ReaderFunctions {
        vendor_ioctl: Some(slow_vendor as readerkit::device::VendorFn<u32>),
        ..ReaderFunctions::NONE
    };
    let r: Arc<WdmReader<StdKernel, FakeIrp, u32>> = Arc::new(WdmReader::new(
        functions,
        0,
        ReaderCapabilities::typical(),
        vendor(),
        DriverHooks::NONE,
    ));
    r.start();
    let code = Ioctl::Vendor(2048).code();
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let r = r.clone();
            thread::spawn(move || {
                let mut served = 0;
                loop {
                    let (irp, rec) = FakeIrp::ioctl(code, &[], 4);
                    let _ = r.dispatch(irp);
                    match rec.completed().unwrap().status {
                        ntstatus::SUCCESS => served += 1,
                        ntstatus::DELETE_PENDING => return served,
                        other => panic!("{other:#x}"),
                    }
                }
            })
        })
        .collect();
    while CALLS.load(Ordering::SeqCst) < 20 {
        thread::yield_now();
    }
    // IRP_MN_REMOVE_DEVICE: the dispatch routine takes a reference and gives it back,
    // then remove().
    r.device().platform().remove_lock().acquire().unwrap();
    r.device().platform().remove_lock().release();
    r.remove();
    REMOVED.store(true, Ordering::SeqCst);
    let served: usize = senders.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(served >= 20);
    assert_eq!(
        AFTER_REMOVAL.load(Ordering::SeqCst),
        0,
        "a callback ran after removal"
    );
    assert_eq!(r.device().platform().remove_lock().holders(), 0);
}

#[test]
fn query_stop_refused_while_open_query_remove_accepted() {
    let r = reader();
    assert_eq!(open(&r), ntstatus::SUCCESS);
    assert_eq!(r.query_stop(), ntstatus::DEVICE_BUSY);
    assert_eq!(r.query_remove(), ntstatus::SUCCESS);
    assert_eq!(r.pnp_state(), PnpState::RemovePending);
    let (st, _) = ioctl(&r, Ioctl::GetState.code(), &[], 4);
    assert_eq!(st, ntstatus::DEVICE_NOT_READY);
    r.cancel_stop_or_remove();
    assert_eq!(r.pnp_state(), PnpState::Started);
    let _ = major(&r, mj::CLOSE);
    assert_eq!(r.query_stop(), ntstatus::SUCCESS);
    assert_eq!(r.pnp_state(), PnpState::StopPending);
    r.cancel_stop_or_remove();
    assert_eq!(r.pnp_state(), PnpState::Started);
    assert_eq!(r.query_stop(), ntstatus::SUCCESS);
    r.stop();
    assert_eq!(r.pnp_state(), PnpState::Stopped);
    assert_eq!(open(&r), ntstatus::DEVICE_NOT_READY);
    r.start();
    assert_eq!(open(&r), ntstatus::SUCCESS);
}

/// Inserts a card, powers it and sends an IS_ABSENT, which pends.
fn powered_card_and_pending_is_absent(r: &Reader) -> Arc<Record> {
    insert(r);
    let (st, _) = ioctl(r, Ioctl::Power.code(), &1u32.to_le_bytes(), 33);
    assert_eq!(st, ntstatus::SUCCESS);
    assert!(state(r) >= 4, "powered");
    let (st, absent) = ioctl(r, Ioctl::IsAbsent.code(), &[], 0);
    assert_eq!(st, ntstatus::PENDING);
    absent
}

#[test]
fn sleep_powers_the_card_down_and_wake_restores_presence() {
    let r = reader();
    // A pending IS_ABSENT across sleep.
    let absent = powered_card_and_pending_is_absent(&r);

    r.set_system_power(S3);
    assert!(r.device().asleep());
    // Card powered down through the core: ATR forgotten, state back to present.
    assert!(
        r.device().state() < readerkit::state::CardState::Powered,
        "{:?}",
        r.device().state()
    );
    // The core's rule, not the binding's: what needs the reader is refused, the
    // read-only requests are served.
    for (code, input) in [
        (Ioctl::Power.code(), &1u32.to_le_bytes()[..]),
        (Ioctl::SetProtocol.code(), &2u32.to_le_bytes()[..]),
        (Ioctl::Eject.code(), &[][..]),
    ] {
        let (st, rec) = ioctl(&r, code, input, 33);
        assert_eq!(st, ntstatus::DEVICE_NOT_READY, "{code:#x}");
        assert_eq!(
            rec.completed(),
            Some(IoStatus::status(ntstatus::DEVICE_NOT_READY))
        );
    }
    assert_eq!(state(&r), 3, "GET_STATE served: in position, unpowered");
    assert_eq!(
        absent.completed(),
        None,
        "tracking IRP stays pending in sleep"
    );

    r.set_system_power(S0);
    assert!(!r.device().asleep());
    // The card may have been swapped while asleep: IS_ABSENT completes, the card is
    // present and unpowered.
    assert_eq!(
        absent.completed(),
        Some(IoStatus::status(ntstatus::SUCCESS))
    );
    let s = state(&r);
    assert!((2..=3).contains(&s), "present or swallowed, got {s}");
    // And it works again.
    let (st, rec) = ioctl(&r, Ioctl::Power.code(), &1u32.to_le_bytes(), 33);
    assert_eq!(st, ntstatus::SUCCESS);
    assert!(rec.completed().unwrap().information > 0);
}

/// A card whose power-down fails at sleep: the system sleeps anyway and the card is
/// taken as in (`Device::suspend`'s error), so waking with a card present reports a
/// removal and an insertion (a pending IS_ABSENT completes) and leaves the card
/// present and unpowered.
#[test]
fn failed_power_down_at_sleep_still_reports_a_possible_swap() {
    let r = reader_with(ReaderFunctions {
        power: Some(|d: &mut Driver, action, atr| match action {
            readerkit::ioctl::PowerAction::PowerDown => Err(Failure::IoTimeout),
            _ => d.power(action, atr),
        }),
        ..LineReader::functions()
    });
    let absent = powered_card_and_pending_is_absent(&r);

    r.set_system_power(S3);
    assert!(
        r.device().asleep(),
        "the system sleeps whatever the card does"
    );
    assert_eq!(absent.completed(), None, "no event while asleep");

    r.set_system_power(S0);
    assert!(!r.device().asleep());
    // The removal is reported: the IS_ABSENT pending across sleep completes.
    assert_eq!(
        absent.completed(),
        Some(IoStatus::status(ntstatus::SUCCESS)),
        "a failed power-down counts as a card that was in"
    );
    // Then the insertion: the card is present and unpowered.
    assert_eq!(state(&r), 3, "in position, unpowered (SCARD_SWALLOWED)");
    let (st, present) = ioctl(&r, Ioctl::IsPresent.code(), &[], 0);
    assert_eq!(st, ntstatus::SUCCESS, "a card is in after wake");
    assert_eq!(
        present.completed(),
        Some(IoStatus::status(ntstatus::SUCCESS))
    );
}

/// The dispatch routine acts on a system SET_POWER (sleep, wake) and hands every
/// power IRP back to be passed down; device power states and QUERY_POWER change
/// nothing.
#[test]
fn set_power_irps_are_acted_on_and_handed_back() {
    let r = reader();
    let power = |minor: u8, params: PowerParams| {
        let (mut irp, rec) = FakeIrp::new(Major::from_codes(mj::POWER, minor));
        irp.power = Some(params);
        assert!(matches!(r.dispatch(irp), Dispatch::Forward(..)));
        assert_eq!(rec.completed(), None, "passed down, not completed");
    };
    power(mn_power::QUERY_POWER, PowerParams::System(S3));
    assert!(!r.device().asleep());
    power(mn_power::SET_POWER, PowerParams::Device(4));
    assert!(!r.device().asleep());
    power(mn_power::SET_POWER, PowerParams::System(S3));
    assert!(r.device().asleep());
    power(mn_power::SET_POWER, PowerParams::System(S0));
    assert!(!r.device().asleep());
}

/// A driver's own control (`WdmReader::set_driver_control`) is served ahead of the
/// core: while asleep too (the core refuses vendor requests then), completed with
/// its function's status and no output. Only a vendor code can be taken, and the
/// PnP admission still applies.
#[test]
fn a_driver_control_is_served_ahead_of_the_core_even_asleep() {
    const POWER_CTL: u32 = readerkit::ioctl::scard_ctl_code(2049);
    const CARD_CTL: u32 = readerkit::ioctl::scard_ctl_code(2048);
    fn serve(r: &Reader, input: &[u8]) -> Status {
        match input {
            [0] => r.set_system_power(S3),
            [1] => r.set_system_power(S0),
            _ => return Status::InvalidParameter,
        }
        Status::Success
    }
    let mut r = Reader::new(
        LineReader::functions(),
        LineReader::new(SimLine::empty()),
        ReaderCapabilities::typical(),
        vendor(),
        DriverHooks::NONE,
    );
    for code in [Ioctl::Transmit.code(), Ioctl::GetState.code(), 0x0031_0003] {
        assert_eq!(
            r.set_driver_control(DriverControl { code, serve }),
            Err(Status::InvalidParameter),
            "{code:#x} is no vendor code"
        );
    }
    // PC/SC part 10's functions stay the core's (feature discovery, the PIN pad).
    for function in [3400, 3406, 3407, 3418, 3655] {
        let code = Ioctl::Vendor(function).code();
        assert_eq!(
            r.set_driver_control(DriverControl { code, serve }),
            Err(Status::InvalidParameter),
            "function {function} is part 10's"
        );
    }
    let just_past = Ioctl::Vendor(3656).code();
    assert_eq!(
        r.set_driver_control(DriverControl {
            code: just_past,
            serve
        }),
        Ok(())
    );
    assert_eq!(
        r.set_driver_control(DriverControl {
            code: POWER_CTL,
            serve
        }),
        Ok(())
    );
    // The control's IRP completes with the status the dispatch routine returns, and
    // no output.
    let control = |r: &Reader, input: &[u8]| {
        let (st, rec) = ioctl(r, POWER_CTL, input, 8);
        assert_eq!(rec.completed(), Some(IoStatus::status(st)));
        st
    };
    // Not started: refused as every request, the function not run.
    assert_eq!(control(&r, &[0]), ntstatus::DEVICE_NOT_READY);
    assert!(!r.device().asleep());
    r.start();
    assert_eq!(control(&r, &[0]), ntstatus::SUCCESS);
    assert!(r.device().asleep());
    // Another vendor code goes to the core, which refuses it asleep.
    let (st, _) = ioctl(&r, CARD_CTL, &[0], 0);
    assert_eq!(st, ntstatus::DEVICE_NOT_READY);
    // The control is served asleep: bad input gets its function's answer, then a wake.
    assert_eq!(control(&r, &[7, 7]), ntstatus::INVALID_PARAMETER);
    assert!(r.device().asleep());
    assert_eq!(control(&r, &[1]), ntstatus::SUCCESS);
    assert!(!r.device().asleep());
    // After a surprise removal: refused with the PnP state's answer.
    r.surprise_removal();
    assert_eq!(control(&r, &[0]), ntstatus::DELETE_PENDING);
    assert!(!r.device().asleep());
}

/// Sleep and wake hooks that count their runs and take a while (a reader powering
/// down or coming back), so that a second SET_POWER arrives while one runs.
static SLEEP_HOOKS: AtomicUsize = AtomicUsize::new(0);
static WAKE_HOOKS: AtomicUsize = AtomicUsize::new(0);

fn slow_sleep(_: &mut Driver) {
    SLEEP_HOOKS.fetch_add(1, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(5));
}

fn slow_wake(d: &mut Driver) -> bool {
    WAKE_HOOKS.fetch_add(1, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(5));
    d.line().card().is_some()
}

/// Two system SET_POWER IRPs at once (fake IRPs through `dispatch`, on two
/// threads released together): the reader goes to sleep once and wakes once,
/// each hook runs once per transition, and each wake reports the possible swap
/// once (one new card counted, not two).
#[test]
fn two_set_power_irps_at_once_make_one_transition() {
    let r = Arc::new(reader_with_hooks(
        LineReader::functions(),
        DriverHooks {
            sleep: Some(slow_sleep),
            wake: Some(slow_wake),
            ..DriverHooks::NONE
        },
    ));
    insert(&r);
    let set_power = |state: u32| {
        let r = r.clone();
        move || {
            let (mut irp, rec) = FakeIrp::new(Major::from_codes(mj::POWER, mn_power::SET_POWER));
            irp.power = Some(PowerParams::System(state));
            assert!(matches!(r.dispatch(irp), Dispatch::Forward(..)));
            assert_eq!(rec.completed(), None, "passed down");
        }
    };
    for round in 1..=5 {
        race(2, set_power(S3));
        assert!(r.device().asleep());
        assert_eq!(SLEEP_HOOKS.load(Ordering::SeqCst), round, "one sleep hook");
        race(2, set_power(S0));
        assert!(!r.device().asleep());
        assert_eq!(WAKE_HOOKS.load(Ordering::SeqCst), round, "one wake hook");
        assert_eq!(
            r.device().card_insertions(),
            1 + round as u32,
            "one swap reported per wake"
        );
    }
}

#[test]
fn card_inserted_or_removed_while_asleep() {
    let r = reader();
    let present = pending_is_present(&r);
    r.set_system_power(S3);
    // Inserted while asleep: no event reaches the driver.
    r.device().with_driver(|d| {
        d.line_mut().insert(readerkit_card_sim::Card::new(
            readerkit_card_sim::atr::Profile::t0(),
        ))
    });
    assert_eq!(present.completed(), None);
    r.set_system_power(S0);
    assert_eq!(
        present.completed(),
        Some(IoStatus::status(ntstatus::SUCCESS))
    );
    assert!(state(&r) >= 2);
    // Removed while asleep.
    r.set_system_power(S3);
    r.device().with_driver(|d| {
        d.line_mut().remove();
    });
    r.set_system_power(S0);
    assert_eq!(state(&r), 1, "absent");
    // Repeated power IRPs are harmless.
    r.set_system_power(S0);
    assert_eq!(state(&r), 1);
}

/// Without a wake hook, the card the core holds at wake-up is taken as still in
/// (one in before sleep, or reported while the reader went to sleep), and as
/// possibly swapped: it counts as a new card.
#[test]
fn without_a_wake_hook_the_card_held_is_taken_as_in_and_possibly_swapped() {
    let r = reader_with_hooks(LineReader::functions(), DriverHooks::NONE);
    let insertions = || r.device().card_insertions();
    // In before sleep: still in after, a new card.
    insert(&r);
    r.set_system_power(S3);
    r.set_system_power(S0);
    assert!((2..=3).contains(&state(&r)), "present, got {}", state(&r));
    assert_eq!(insertions(), 2);
    // None before sleep, one reported as the reader went to sleep: in after, and
    // counted again (it may have been swapped while asleep).
    remove(&r);
    r.set_system_power(S3);
    insert(&r);
    assert_eq!(insertions(), 3);
    r.set_system_power(S0);
    assert!((2..=3).contains(&state(&r)), "present, got {}", state(&r));
    assert_eq!(insertions(), 4, "taken as possibly swapped");
    // None before sleep and none reported: absent after.
    remove(&r);
    r.set_system_power(S3);
    r.set_system_power(S0);
    assert_eq!(state(&r), 1, "absent");
    assert_eq!(insertions(), 4);
}

/// A driver with a vendor test control that takes the card out or puts it in (as the
/// sample virtual reader has), reported through `DriverHooks::card_change`; the
/// other callbacks are its `LineReader`'s.
struct Controlled {
    reader: LineReader<SimLine>,
    change: Option<CardEvent>,
    /// Times the `card_change` hook ran.
    hook_calls: u32,
}

impl AsMut<LineReader<SimLine>> for Controlled {
    fn as_mut(&mut self) -> &mut LineReader<SimLine> {
        &mut self.reader
    }
}

impl Controlled {
    /// The vendor test control: input 0 takes the card out, 1 puts one in.
    fn card_control(&mut self, input: &[u8]) -> Result<usize, Failure> {
        match input.first() {
            Some(0) => {
                self.reader.line_mut().remove();
                self.change = Some(CardEvent::Removed);
            }
            Some(1) => {
                let card = readerkit_card_sim::Card::new(readerkit_card_sim::atr::Profile::t1());
                self.reader.line_mut().insert(card);
                self.change = Some(CardEvent::Inserted);
            }
            _ => return Err(Failure::InvalidParameter),
        }
        Ok(0)
    }
}

#[test]
fn vendor_control_reports_card_changes_before_completing() {
    let r: WdmReader<StdKernel, FakeIrp, Controlled> = WdmReader::new(
        ReaderFunctions {
            vendor_ioctl: Some(|d: &mut Controlled, _, input, _| d.card_control(input)),
            ..LineReader::functions_for::<Controlled>()
        },
        Controlled {
            reader: LineReader::new(SimLine::empty()),
            change: None,
            hook_calls: 0,
        },
        ReaderCapabilities::typical(),
        vendor(),
        readerkit_wdm::DriverHooks {
            card_change: Some(|d: &mut Controlled| {
                d.hook_calls += 1;
                d.change.take()
            }),
            ..readerkit_wdm::DriverHooks::NONE
        },
    );
    r.start();
    let send = |code: u32, input: &[u8]| {
        let (irp, rec) = FakeIrp::ioctl(code, input, 4);
        let readerkit_wdm::reader::Dispatch::Done(st) = r.dispatch(irp) else {
            panic!()
        };
        (st, rec)
    };
    // A tracking request pends until the control makes the change it waits for.
    for (tracking, control) in [(Ioctl::IsPresent, 1), (Ioctl::IsAbsent, 0)] {
        let (st, pending) = send(tracking.code(), &[]);
        assert_eq!(st, ntstatus::PENDING, "{tracking:?}");
        let (st, _) = send(Ioctl::Vendor(2048).code(), &[control]);
        assert_eq!(st, ntstatus::SUCCESS);
        let success = IoStatus::status(ntstatus::SUCCESS);
        assert_eq!(pending.completed(), Some(success), "{tracking:?}");
    }
    // A refused control changes nothing.
    let (st, _) = send(Ioctl::Vendor(2048).code(), &[9]);
    assert_eq!(st, ntstatus::INVALID_PARAMETER);
    assert_eq!(r.device().state(), readerkit::state::CardState::Absent);
    assert_eq!(r.device().platform().remove_lock().holders(), 1);
    // Asleep: the core refuses the control without calling the driver, and the
    // hook does not run on the sleeping reader either.
    let calls = r.device().with_driver(|d| d.hook_calls);
    r.set_system_power(S3);
    let (st, _) = send(Ioctl::Vendor(2048).code(), &[1]);
    assert_eq!(st, ntstatus::DEVICE_NOT_READY);
    assert_eq!(
        r.device().with_driver(|d| d.hook_calls),
        calls,
        "hook run asleep"
    );
    r.set_system_power(S0);
    let (st, _) = send(Ioctl::Vendor(2048).code(), &[1]);
    assert_eq!(st, ntstatus::SUCCESS);
    assert_eq!(r.device().with_driver(|d| d.hook_calls), calls + 1);
    assert!(r.device().state().card_present(), "the insertion reported");
}

/// The sleep hook the next test blocks in: it says it entered, then waits until told
/// to go on (a hook is a plain `fn`, so the test talks to it through statics).
static SLEEP_HOOK_ENTERED: AtomicBool = AtomicBool::new(false);
static SLEEP_HOOK_GO_ON: AtomicBool = AtomicBool::new(false);

fn blocking_sleep_hook(_: &mut Driver) {
    SLEEP_HOOK_ENTERED.store(true, Ordering::SeqCst);
    while !SLEEP_HOOK_GO_ON.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
}

/// A system SET_POWER runs the driver's sleep hook on the reader while
/// IRP_MN_REMOVE_DEVICE comes on another thread: `remove` (after which the kernel
/// layer drops the extension) waits until the power IRP has been passed down, and a
/// power IRP after the removal is completed `STATUS_DELETE_PENDING`, the reader
/// untouched.
#[test]
fn remove_waits_for_a_power_irp_running_on_the_reader() {
    let r = Arc::new(reader_with_hooks(
        LineReader::functions(),
        DriverHooks {
            sleep: Some(blocking_sleep_hook),
            ..DriverHooks::NONE
        },
    ));
    let sleeper = {
        let r = r.clone();
        thread::spawn(move || {
            let (mut irp, rec) = FakeIrp::new(Major::from_codes(mj::POWER, mn_power::SET_POWER));
            irp.power = Some(PowerParams::System(S3));
            // The kernel layer passes the IRP down, then gives the reference back.
            let Dispatch::Forward(_irp, held) = r.dispatch(irp) else {
                panic!("a power IRP is passed down")
            };
            thread::sleep(Duration::from_millis(100));
            drop(held);
            rec
        })
    };
    while !SLEEP_HOOK_ENTERED.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
    let remover = {
        let r = r.clone();
        thread::spawn(move || r.remove())
    };
    thread::sleep(Duration::from_millis(200));
    assert!(
        !remover.is_finished(),
        "remove returned (and the extension would be dropped) under a running sleep hook"
    );
    SLEEP_HOOK_GO_ON.store(true, Ordering::SeqCst);
    let rec = sleeper.join().unwrap();
    assert_eq!(rec.completed(), None, "passed down, not completed");
    remover.join().unwrap();
    assert!(r.device().asleep());
    assert_eq!(r.device().platform().remove_lock().holders(), 0);
    // A power IRP after the removal: refused, the reader not woken.
    let (mut irp, rec) = FakeIrp::new(Major::from_codes(mj::POWER, mn_power::SET_POWER));
    irp.power = Some(PowerParams::System(S0));
    let Dispatch::Done(st) = r.dispatch(irp) else {
        panic!("not passed down after the removal")
    };
    assert_eq!(st, ntstatus::DELETE_PENDING);
    assert_eq!(rec.completed(), Some(IoStatus::status(st)));
    assert!(r.device().asleep(), "the removed reader was not touched");
    assert_eq!(r.device().platform().remove_lock().holders(), 0);
}
