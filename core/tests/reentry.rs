//! Calls back into the device from inside its own callbacks (issue 12, 4b), and the
//! one rule for a card that changes while a callback runs (4c2): nothing is
//! recorded, a callback's success keeps its answer, a failure becomes NoMedia /
//! InvalidDeviceState, for POWER, SET_PROTOCOL and TRANSMIT alike.
//!
//! Every scenario runs on its own thread under a hang guard: before the re-entry
//! detection, a request from inside a callback deadlocked on the serialization lock
//! (std) or spun forever (spin), and the guard turns that into a failure.

use std::sync::mpsc;
use std::sync::{Arc, Mutex as StdMutex, OnceLock, Weak};
use std::time::Duration;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::platform::{ContextId, Platform, SpinPlatform};
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{CardState, Device, Failure, Outcome, ReaderFunctions, Status};
use readerkit_testkit::client::status_of;
use readerkit_testkit::locks::{self, Counted};
use readerkit_testkit::memory::{ATR_T0_T1, with_tck};
use readerkit_testkit::thread::hang_guarded;

/// What a tracking completion does besides being recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnCompletion {
    Nothing,
    /// Arm IS_PRESENT again from inside the completion, as a driver re-arming its
    /// card watch does.
    RearmIsPresent,
}

/// Thread contexts, std locks that count what is held, completions recorded with the
/// number of library locks held when they ran.
struct Hosted {
    device: OnceLock<Weak<HostedDevice>>,
    completions: StdMutex<Vec<(Status, u32)>>,
    on_completion: StdMutex<OnCompletion>,
    rearmed: StdMutex<Vec<Outcome>>,
}

impl Platform for Hosted {
    type Serial<T> = Counted<T>;
    type Short<T> = Counted<T>;

    fn complete_tracking(&self, status: Status) {
        let held = locks::held();
        self.completions.lock().unwrap().push((status, held));
        let action = *self.on_completion.lock().unwrap();
        if action == OnCompletion::RearmIsPresent {
            *self.on_completion.lock().unwrap() = OnCompletion::Nothing;
            let dev = self.device.get().and_then(Weak::upgrade).unwrap();
            let outcome = dev.control(Ioctl::IsPresent.code(), &[], &mut []);
            self.rearmed.lock().unwrap().push(outcome);
        }
    }

    fn current_context(&self) -> Option<ContextId> {
        ContextId::current_thread()
    }
}

/// What the power callback does while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inside {
    Nothing,
    /// Make every kind of request on the device and record the outcomes.
    Requests,
    /// The card is pulled; the request that ran the callback applies the event.
    Remove,
    /// The card is pulled, and the driver's events hook processes the event at once.
    RemoveAndProcess,
    /// The driver cancels the pending tracking request.
    CancelTracking,
    /// The card is pulled and another one inserted.
    Replace,
    /// The card is pulled, another one inserted and pulled out again.
    SwapOut,
}

/// The device a driver of platform `P` serves.
type DeviceOf<P> = Device<P, Driver<P>>;

/// Where a driver finds its own device (set once the device exists).
type DeviceCell<P> = Arc<OnceLock<Weak<DeviceOf<P>>>>;

/// The reader driver: reaches its own device through a weak reference.
struct Driver<P: Platform + 'static> {
    device: DeviceCell<P>,
    inside_power: Inside,
    inside_transmit: Inside,
    inside_set_protocol: Inside,
    inside_confiscate: Inside,
    /// The next POWER / TRANSMIT callback fails with this status (after its
    /// `inside_*` action), as a driver does when the card leaves mid-exchange.
    power_fails: Option<Failure>,
    transmit_fails: Option<Failure>,
    outcomes: Vec<(Ioctl, Outcome)>,
    tracking_calls: usize,
}

impl<P: Platform + 'static> Driver<P> {
    fn device(&self) -> Arc<Device<P, Driver<P>>> {
        self.device.get().and_then(Weak::upgrade).unwrap()
    }

    fn run(&mut self, inside: Inside) {
        let dev = self.device();
        match inside {
            Inside::Nothing => {}
            Inside::Requests => {
                let mut out = [0u8; 300];
                let transmit = [2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08];
                let requests: [(Ioctl, &[u8]); 11] = [
                    (Ioctl::Power, &[1, 0, 0, 0]),
                    (Ioctl::SetProtocol, &[2, 0, 0, 0]),
                    (Ioctl::Transmit, &transmit),
                    (Ioctl::SetAttribute, &[0x07, 0x00, 0x08, 0x00, 1]),
                    (Ioctl::IsPresent, &[]),
                    (Ioctl::IsAbsent, &[]),
                    (Ioctl::Eject, &[]),
                    (Ioctl::GetState, &[]),
                    // SCARD_ATTR_CHANNEL_ID
                    (Ioctl::GetAttribute, &[0x10, 0x01, 0x02, 0x00]),
                    (Ioctl::GetLastError, &[]),
                    (Ioctl::GetPerfCounter, &[]),
                ];
                for (ioctl, input) in requests {
                    let outcome = dev.control(ioctl.code(), input, &mut out);
                    self.outcomes.push((ioctl, outcome));
                }
                let vendor = readerkit::ioctl::scard_ctl_code(2048);
                let outcome = dev.control(vendor, &[1, 2], &mut out);
                self.outcomes.push((Ioctl::Power, outcome));
                // Malformed: the parameters are checked first, as anywhere.
                let short_input = dev.control(Ioctl::Power.code(), &[1, 0, 0], &mut out);
                self.outcomes.push((Ioctl::Power, short_input));
                let no_room_for_the_atr = dev.control(Ioctl::Power.code(), &[1, 0, 0, 0], &mut []);
                self.outcomes.push((Ioctl::Power, no_room_for_the_atr));
            }
            Inside::Remove => dev.card_removed(),
            Inside::RemoveAndProcess => {
                dev.card_removed();
                dev.process_events();
                assert_eq!(
                    dev.state(),
                    CardState::Absent,
                    "the event is applied at once"
                );
            }
            Inside::CancelTracking => assert!(dev.cancel_tracking(), "a request was pending"),
            Inside::Replace => {
                dev.card_removed();
                dev.card_inserted();
                dev.process_events();
            }
            Inside::SwapOut => {
                dev.card_removed();
                dev.card_inserted();
                dev.card_removed();
            }
        }
    }
}

/// T=0 first, then T=1; negotiable; the last byte is the TCK slot.
const ATR: [u8; 9] = ATR_T0_T1;

fn atr() -> [u8; 9] {
    with_tck(ATR)
}

fn power<P: Platform + 'static>(
    d: &mut Driver<P>,
    action: PowerAction,
    out: &mut AtrBuffer,
) -> Result<(), Failure> {
    if action != PowerAction::PowerDown {
        out.extend_from_slice(&atr()).unwrap();
    }
    let inside = core::mem::replace(&mut d.inside_power, Inside::Nothing);
    d.run(inside);
    d.power_fails.take().map_or(Ok(()), Err)
}

fn transmit<P: Platform + 'static>(
    d: &mut Driver<P>,
    _: &TransmitCall<'_>,
    reply: &mut [u8],
) -> Result<usize, Failure> {
    let inside = core::mem::replace(&mut d.inside_transmit, Inside::Nothing);
    d.run(inside);
    if let Some(status) = d.transmit_fails.take() {
        return Err(status);
    }
    reply[..2].copy_from_slice(&[0x90, 0x00]);
    Ok(2)
}

fn set_protocol<P: Platform + 'static>(
    d: &mut Driver<P>,
    call: &ProtocolCall<'_>,
) -> Result<Timing, Failure> {
    let inside = core::mem::replace(&mut d.inside_set_protocol, Inside::Nothing);
    d.run(inside);
    Ok(call.negotiation.timing)
}

fn tracking<P: Platform + 'static>(d: &mut Driver<P>, _: Wait) -> Result<(), Failure> {
    d.tracking_calls += 1;
    Ok(())
}

fn eject<P: Platform + 'static>(_: &mut Driver<P>) -> Result<(), Failure> {
    Ok(())
}

fn confiscate<P: Platform + 'static>(d: &mut Driver<P>) -> Result<(), Failure> {
    let inside = core::mem::replace(&mut d.inside_confiscate, Inside::Nothing);
    d.run(inside);
    Ok(())
}

fn vendor<P: Platform + 'static>(
    _: &mut Driver<P>,
    _: u32,
    _: &[u8],
    _: &mut [u8],
) -> Result<usize, Failure> {
    Ok(0)
}

type HostedDevice = Device<Hosted, Driver<Hosted>>;

fn new_device<P: Platform + 'static>(platform: P) -> Arc<Device<P, Driver<P>>> {
    let cell = Arc::new(OnceLock::new());
    let functions = ReaderFunctions {
        power: Some(power::<P> as _),
        transmit: Some(transmit::<P> as _),
        set_protocol: Some(set_protocol::<P> as _),
        card_tracking: Some(tracking::<P> as _),
        vendor_ioctl: Some(vendor::<P> as _),
        eject: Some(eject::<P> as _),
        confiscate: Some(confiscate::<P> as _),
        ..ReaderFunctions::NONE
    };
    let driver = Driver {
        device: Arc::clone(&cell),
        inside_power: Inside::Nothing,
        inside_transmit: Inside::Nothing,
        inside_set_protocol: Inside::Nothing,
        inside_confiscate: Inside::Nothing,
        power_fails: None,
        transmit_fails: None,
        outcomes: Vec::new(),
        tracking_calls: 0,
    };
    let dev = Arc::new(Device::new(
        platform,
        functions,
        driver,
        ReaderCapabilities::typical(),
        VendorAttributes::default(),
    ));
    cell.set(Arc::downgrade(&dev)).ok().unwrap();
    dev
}

fn hosted() -> Arc<HostedDevice> {
    let dev = new_device(Hosted {
        device: OnceLock::new(),
        completions: StdMutex::new(Vec::new()),
        on_completion: StdMutex::new(OnCompletion::Nothing),
        rearmed: StdMutex::new(Vec::new()),
    });
    dev.platform()
        .device
        .set(Arc::downgrade(&dev))
        .ok()
        .unwrap();
    dev
}

/// A hosted device with a card in and an IS_ABSENT request pending.
fn hosted_awaiting_removal() -> Arc<HostedDevice> {
    let dev = hosted();
    dev.card_inserted();
    assert_eq!(
        dev.control(Ioctl::IsAbsent.code(), &[], &mut []),
        Outcome::Pending
    );
    dev
}

/// The tracking completions so far, each with the library locks held then.
fn completions(dev: &HostedDevice) -> Vec<(Status, u32)> {
    dev.platform().completions.lock().unwrap().clone()
}

/// POWER on `dev` (IS_ABSENT pending) during which the card leaves as `inside`
/// says: the ATR read before is answered, nothing is recorded, and IS_ABSENT
/// completes once, with no library lock held.
fn removal_during_power(dev: &HostedDevice, inside: Inside) {
    dev.with_driver(|d| d.inside_power = inside);
    assert_eq!(
        power_up(dev),
        Status::Success,
        "the card left during POWER, after its ATR"
    );
    assert_eq!(dev.state(), CardState::Absent, "nothing recorded");
    assert_eq!(
        completions(dev),
        vec![(Status::Success, 0)],
        "IS_ABSENT completed once, with no library lock held"
    );
}

fn power_up<P: Platform + 'static>(dev: &Device<P, Driver<P>>) -> Status {
    let mut out = [0u8; 33];
    status_of(dev.control(Ioctl::Power.code(), &1u32.to_le_bytes(), &mut out))
}

fn check_requests_refused<P: Platform + 'static>(dev: &Device<P, Driver<P>>) {
    dev.card_inserted();
    dev.with_driver(|d| d.inside_power = Inside::Requests);
    assert_eq!(
        power_up(dev),
        Status::Success,
        "the outer POWER still works"
    );
    let outcomes = dev.with_driver(|d| core::mem::take(&mut d.outcomes));
    let got: Vec<(Ioctl, Option<Status>)> = outcomes
        .iter()
        .map(|(ioctl, outcome)| (*ioctl, outcome.status()))
        .collect();
    let busy = Some(Status::DeviceBusy);
    let ok = Some(Status::Success);
    assert_eq!(
        got,
        vec![
            (Ioctl::Power, busy),
            (Ioctl::SetProtocol, busy),
            (Ioctl::Transmit, busy),
            (Ioctl::SetAttribute, busy),
            (Ioctl::IsPresent, busy),
            (Ioctl::IsAbsent, busy),
            (Ioctl::Eject, busy),
            (Ioctl::GetState, ok),
            (Ioctl::GetAttribute, ok),
            (Ioctl::GetLastError, ok),
            (Ioctl::GetPerfCounter, ok),
            (Ioctl::Power, busy), // the vendor IOCTL
            (Ioctl::Power, Some(Status::InvalidParameter)),
            (Ioctl::Power, Some(Status::BufferTooSmall)),
        ],
        "from inside a callback: acting requests busy, read-only ones answered, \
         malformed ones refused for their parameters first"
    );
    assert_eq!(
        dev.with_driver(|d| d.tracking_calls),
        0,
        "no callback ran re-entrantly"
    );
    assert_eq!(
        dev.state(),
        CardState::Negotiable,
        "the refusals changed nothing"
    );
}

#[test]
fn requests_from_inside_a_callback_are_refused_not_deadlocked() {
    hang_guarded("std platform", || check_requests_refused(&*hosted()));
}

#[test]
fn spin_platform_refuses_reentry_instead_of_spinning() {
    hang_guarded("spin platform", || {
        check_requests_refused(&*new_device(SpinPlatform::new()))
    });
}

#[test]
fn requests_from_another_thread_wait_for_the_callback_instead_of_being_refused() {
    hang_guarded("two threads", || {
        let dev = hosted();
        dev.card_inserted();
        let (entered, wait_entered) = mpsc::channel::<()>();
        let (release, wait_release) = mpsc::channel::<()>();
        let holder = {
            let dev = Arc::clone(&dev);
            std::thread::spawn(move || {
                dev.with_driver(|_| {
                    entered.send(()).unwrap();
                    wait_release.recv().unwrap();
                })
            })
        };
        wait_entered.recv().unwrap();
        assert!(dev.callback_running());
        assert!(
            !dev.in_own_callback(),
            "another thread is not inside the callback"
        );
        let other = {
            let dev = Arc::clone(&dev);
            std::thread::spawn(move || power_up(&*dev))
        };
        std::thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(
            other.join().unwrap(),
            Status::Success,
            "it waited, then ran"
        );
        assert!(!dev.callback_running());
    });
}

#[test]
fn an_event_processed_inside_a_callback_completes_tracking_after_the_lock_and_may_rearm() {
    hang_guarded("completion re-arms", || {
        let dev = hosted_awaiting_removal();
        *dev.platform().on_completion.lock().unwrap() = OnCompletion::RearmIsPresent;
        removal_during_power(&dev, Inside::RemoveAndProcess);
        assert_eq!(
            *dev.platform().rearmed.lock().unwrap(),
            vec![Outcome::Pending],
            "IS_PRESENT armed from inside the completion"
        );
        assert_eq!(dev.with_driver(|d| d.tracking_calls), 2);
        dev.card_inserted();
        dev.process_events();
        assert_eq!(
            completions(&dev),
            vec![(Status::Success, 0), (Status::Success, 0)],
            "the re-armed request completes on the insertion"
        );
    });
}

/// `Platform::complete_tracking` is never called while a library lock is held,
/// even when the awaited event arrives while a callback runs and is applied by
/// the request that ran it.
#[test]
fn event_during_a_callback_completes_tracking_after_the_locks_are_released() {
    hang_guarded("completion after the locks", || {
        removal_during_power(&hosted_awaiting_removal(), Inside::Remove);
    });
}

#[test]
fn process_events_inside_with_driver_defers_the_completion() {
    hang_guarded("with_driver", || {
        let dev = hosted_awaiting_removal();
        let dev2 = Arc::clone(&dev);
        dev.with_driver(move |_| {
            dev2.card_removed();
            dev2.process_events();
            assert!(dev2.in_own_callback());
            assert!(
                dev2.platform().completions.lock().unwrap().is_empty(),
                "not delivered while the serialization lock is held"
            );
        });
        assert_eq!(completions(&dev), vec![(Status::Success, 0)]);
    });
}

#[test]
fn a_cancel_from_inside_a_callback_completes_after_the_lock() {
    hang_guarded("cancel", || {
        let dev = hosted_awaiting_removal();
        dev.with_driver(|d| d.inside_power = Inside::CancelTracking);
        assert_eq!(power_up(&*dev), Status::Success);
        assert_eq!(completions(&dev), vec![(Status::Cancelled, 0)]);
    });
}

fn specific<P: Platform + 'static>(dev: &Device<P, Driver<P>>) {
    dev.card_inserted();
    assert_eq!(power_up(dev), Status::Success);
    let mut out = [0u8; 4];
    let outcome = dev.control(Ioctl::SetProtocol.code(), &2u32.to_le_bytes(), &mut out);
    assert_eq!(status_of(outcome), Status::Success);
}

fn transmit_once<P: Platform + 'static>(dev: &Device<P, Driver<P>>) -> Outcome {
    let input = [2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08];
    let mut out = [0u8; 64];
    dev.control(Ioctl::Transmit.code(), &input, &mut out)
}

fn last_error<P: Platform + 'static>(dev: &Device<P, Driver<P>>) -> u32 {
    let mut out = [0u8; 4];
    let outcome = dev.control(Ioctl::GetLastError.code(), &[], &mut out);
    assert_eq!(status_of(outcome), Status::Success);
    u32::from_le_bytes(out)
}

#[test]
fn power_and_transmit_follow_one_rule_when_the_card_leaves_during_the_callback() {
    hang_guarded("removal", || {
        let dev = hosted();
        // TRANSMIT: the card answered, then left: the answer stands.
        specific(&*dev);
        dev.with_driver(|d| d.inside_transmit = Inside::RemoveAndProcess);
        assert_eq!(
            transmit_once(&*dev),
            Outcome::Complete {
                status: Status::Success,
                bytes_written: 8 + 2
            },
        );
        assert_eq!(dev.state(), CardState::Absent);
        // TRANSMIT: the card left and the exchange failed: NoMedia, not the
        // driver's time-out.
        specific(&*dev);
        dev.with_driver(|d| {
            d.inside_transmit = Inside::RemoveAndProcess;
            d.transmit_fails = Some(Failure::IoTimeout);
        });
        assert_eq!(
            transmit_once(&*dev),
            Outcome::Complete {
                status: Status::NoMedia,
                bytes_written: 0
            },
        );
        assert_eq!(last_error(&*dev), Status::NoMedia.to_win32());
        // POWER, the same two cases: the same two answers.
        dev.card_inserted();
        dev.with_driver(|d| d.inside_power = Inside::RemoveAndProcess);
        let mut atr = [0u8; 33];
        let outcome = dev.control(Ioctl::Power.code(), &1u32.to_le_bytes(), &mut atr);
        assert_eq!(
            outcome,
            Outcome::Complete {
                status: Status::Success,
                bytes_written: ATR.len()
            }
        );
        assert_eq!(atr[..ATR.len()], self::atr());
        assert_eq!(dev.state(), CardState::Absent);
        assert_eq!(dev.card_capabilities(), None, "the ATR is not recorded");
        dev.card_inserted();
        dev.with_driver(|d| {
            d.inside_power = Inside::RemoveAndProcess;
            d.power_fails = Some(Failure::IoTimeout);
        });
        assert_eq!(power_up(&*dev), Status::NoMedia);
        assert_eq!(last_error(&*dev), Status::NoMedia.to_win32());
    });
}

#[test]
fn a_card_replaced_during_the_callback_records_nothing_and_a_failure_is_invalid_state() {
    hang_guarded("replacement", || {
        let dev = hosted();
        specific(&*dev);
        dev.with_driver(|d| {
            d.inside_transmit = Inside::Replace;
            d.transmit_fails = Some(Failure::DeviceProtocolError);
        });
        assert_eq!(status_of(transmit_once(&*dev)), Status::InvalidDeviceState);
        assert_eq!(dev.state(), CardState::Swallowed, "the new card, unpowered");
        assert_eq!(power_up(&*dev), Status::Success);
        dev.with_driver(|d| d.inside_set_protocol = Inside::Replace);
        let mut out = [0u8; 4];
        let outcome = dev.control(Ioctl::SetProtocol.code(), &2u32.to_le_bytes(), &mut out);
        assert_eq!(status_of(outcome), Status::Success, "the old card took T=1");
        assert_eq!(
            dev.state(),
            CardState::Swallowed,
            "the new card's state is not the old card's protocol"
        );
        assert_eq!(dev.card_capabilities(), None);
    });
}

/// `SCARD_ATTR_ICC_PRESENCE` 4 says that the last card left by CONFISCATE and
/// none came in since: also when the driver reports the confiscated card leaving
/// during its callback (nothing recorded, 4), but not when another card came in
/// during the callback and was pulled out again by hand (0; before, the request
/// set 4 after the insertion had cleared it).
#[test]
fn a_card_inserted_during_a_confiscation_is_not_the_confiscated_one() {
    hang_guarded("confiscation", || {
        let dev = hosted();
        let presence = || {
            let mut out = [0u8; 1];
            let tag = readerkit::attr::ICC_PRESENCE.to_le_bytes();
            let outcome = dev.control(Ioctl::GetAttribute.code(), &tag, &mut out);
            assert_eq!(status_of(outcome), Status::Success);
            out[0]
        };
        let confiscate = |inside| {
            dev.with_driver(|d| d.inside_confiscate = inside);
            status_of(dev.control(Ioctl::Confiscate.code(), &[], &mut []))
        };
        dev.card_inserted();
        assert_eq!(confiscate(Inside::Remove), Status::Success);
        assert_eq!(dev.state(), CardState::Absent);
        assert_eq!(presence(), 4, "the driver's own removal: confiscated");
        dev.card_inserted();
        assert_eq!(presence(), 2);
        assert_eq!(confiscate(Inside::SwapOut), Status::Success);
        assert_eq!(dev.state(), CardState::Absent);
        assert_eq!(presence(), 0, "the last card was pulled out by hand");
    });
}

/// `try_with_driver` is `with_driver` for a caller that may be inside a callback:
/// there it is refused and its closure does not run, instead of waiting for the
/// lock its own caller holds.
#[test]
fn try_with_driver_from_inside_a_callback_is_refused() {
    let dev = readerkit_testkit::memory::spin_device();
    let mut ran = false;
    let inside = dev.with_driver(|_| dev.try_with_driver(|_| ran = true));
    assert_eq!(inside, Err(Status::DeviceBusy));
    assert!(!ran, "the closure did not run");
    assert_eq!(
        dev.try_with_driver(|r| r.calls.len()),
        Ok(0),
        "outside: runs"
    );
}
