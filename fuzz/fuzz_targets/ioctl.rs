//! Arbitrary IOCTL codes and buffers against the device entry point, with a reader
//! driver whose callbacks the fuzzer drives: any status (success reported as an
//! error included), reply lengths beyond the buffer, any ATR, and card insertion,
//! removal or fault reported from inside a callback, while it runs. Card events and
//! cancellations also come between requests.
//!
//! Checks, after every request:
//! * a completed request never reports more bytes than the output holds, nor any on
//!   failure; a request refused by validation calls no callback and changes nothing;
//! * what a request returns is what the driver gave: the ATR of a successful reset,
//!   the reply of a successful TRANSMIT (after its header) or vendor IOCTL, the state
//!   of GET_STATE; a length beyond the buffer or a reply shorter than SW1 SW2 never
//!   gives success; a callback's error is the request's status, or NoMedia /
//!   InvalidDeviceState when the card changed while it ran (the core's one rule for
//!   a card that changes under a callback);
//! * a request made from inside a callback (the platform tells one context, as a
//!   single-core firmware) is answered DeviceBusy unless it is read-only, and never
//!   waits for the lock; card events, `process_events` and `cancel_tracking` from
//!   inside a callback work;
//! * the state machine stays consistent: card capabilities exist exactly in the
//!   Negotiable and Specific states, Specific has a selected protocol, and
//!   ICC_PRESENCE agrees with the state (4, confiscated, only without a card);
//! * tracking: every pending IS_PRESENT / IS_ABSENT is completed exactly once, with
//!   success or cancelled, never while a library lock is held, and never two pend;
//! * no lock is ever taken twice (the locks are `RefCell`s: re-entry panics instead
//!   of deadlocking).
#![no_main]

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use libfuzzer_sys::fuzz_target;
use readerkit::caps::{ReaderCapabilities, VendorAttributes, attr_string};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction, Request};
use readerkit::platform::{ContextId, Mutex, Platform};
use readerkit::state::CardState;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{Device, Failure, Outcome, ReaderFunctions, Status};
use readerkit_fuzz::Input;

thread_local! {
    /// Library locks held right now.
    static HELD: Cell<u32> = const { Cell::new(0) };
}

/// A lock that panics when taken twice instead of deadlocking.
struct Lock<T>(RefCell<T>);

impl<T> Mutex<T> for Lock<T> {
    fn new(value: T) -> Self {
        Lock(RefCell::new(value))
    }

    fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self
            .0
            .try_borrow_mut()
            .expect("the library took a lock it already holds (a deadlock)");
        HELD.with(|h| h.set(h.get() + 1));
        let result = f(&mut guard);
        HELD.with(|h| h.set(h.get() - 1));
        result
    }
}

/// Counts tracking completions.
#[derive(Default)]
struct Counting {
    completions: Cell<u32>,
}

impl Platform for Counting {
    type Serial<T> = Lock<T>;
    type Short<T> = Lock<T>;

    fn complete_tracking(&self, status: Status) {
        assert_eq!(
            HELD.with(Cell::get),
            0,
            "complete_tracking called with a library lock held"
        );
        assert!(
            matches!(status, Status::Success | Status::Cancelled),
            "tracking completed with {status:?}"
        );
        self.completions.set(self.completions.get() + 1);
    }

    /// One context, as on a single-core firmware: a request from inside a callback
    /// is re-entry.
    fn current_context(&self) -> Option<ContextId> {
        Some(ContextId::SINGLE)
    }
}

type Dev = Device<Counting, Driver>;

/// What a callback did, for the checks after the request.
#[derive(Default, Clone, Copy)]
struct Call {
    /// Callbacks run.
    count: u32,
    /// The last callback's result: `Ok(len)` or the status it returned.
    result: Option<Result<usize, Failure>>,
    /// A card event the last callback reported while it ran.
    event: Option<u8>,
    /// The last callback cancelled the pending tracking request.
    cancelled: bool,
}

/// The reader driver: every answer comes from the fuzzer's bytes.
struct Driver {
    device: Weak<Dev>,
    input: Vec<u8>,
    pos: usize,
    call: Call,
    atr: AtrBuffer,
    /// The fill byte of the last reply written by TRANSMIT / vendor.
    fill: u8,
}

const FAILURES: [Failure; 8] = [
    Failure::Unsuccessful,
    Failure::NoMedia,
    Failure::IoTimeout,
    Failure::DeviceProtocolError,
    Failure::BufferTooSmall,
    Failure::NotSupported,
    Failure::InvalidDeviceState,
    Failure::Cancelled,
];

impl Driver {
    fn byte(&mut self) -> u8 {
        let b = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// Start a callback: maybe report a card event now (as an interrupt would
    /// while the callback talks to the card), maybe call back into the device; then
    /// `Err` if it is to fail.
    fn begin(&mut self) -> Result<(), Failure> {
        self.call.count += 1;
        self.call.event = None;
        self.call.cancelled = false;
        let b = self.byte();
        let device = self.device.upgrade();
        if let (Some(device), event @ 1..=3) = (&device, (b >> 2) & 3) {
            match event {
                1 => device.card_inserted(),
                2 => device.card_removed(),
                _ => device.card_fault(),
            }
            self.call.event = Some(event - 1);
        }
        match (&device, (b >> 4) & 3) {
            (Some(device), 1) => self.reenter(device),
            (Some(device), 2) => device.process_events(),
            (Some(device), 3) => {
                device.cancel_tracking();
                self.call.cancelled = true;
            }
            _ => {}
        }
        if b & 0x03 == 0x03 {
            let failure = FAILURES[usize::from(self.byte()) % FAILURES.len()];
            self.call.result = Some(Err(failure));
            return Err(failure);
        }
        Ok(())
    }

    /// A request from inside the callback: only the read-only ones are answered,
    /// the others get DeviceBusy (and never wait for the lock the callback holds).
    fn reenter(&mut self, device: &Dev) {
        let code = CODES[usize::from(self.byte()) % CODES.len()];
        let input = [self.byte(), 0, 0, 0];
        let mut output = [0u8; 64];
        let outcome = device.control(code.code(), &input, &mut output);
        let read_only = matches!(
            code,
            Ioctl::GetState | Ioctl::GetAttribute | Ioctl::GetLastError | Ioctl::GetPerfCounter
        );
        if Request::parse(code.code(), &input, output.len()).is_ok() && !read_only {
            let busy = Outcome::Complete {
                status: Status::DeviceBusy,
                bytes_written: 0,
            };
            assert_eq!(outcome, busy, "{code:?} from inside a callback");
        }
    }

    fn finish(&mut self, result: Result<usize, Failure>) -> Result<usize, Failure> {
        self.call.result = Some(result);
        result
    }

    /// A reply of a fuzzer-chosen length, possibly longer than `reply`.
    fn reply(&mut self, reply: &mut [u8]) -> Result<usize, Failure> {
        self.begin()?;
        let len = usize::from(u16::from_le_bytes([self.byte(), self.byte()])) % 600;
        self.fill = self.byte();
        let n = len.min(reply.len());
        for (i, b) in reply[..n].iter_mut().enumerate() {
            *b = self.fill ^ i as u8;
        }
        self.finish(Ok(len))
    }
}

fn power(d: &mut Driver, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    d.begin()?;
    if action != PowerAction::PowerDown {
        let _ = atr.extend_from_slice(&d.atr);
    }
    d.finish(Ok(atr.len())).map(|_| ())
}

fn transmit(d: &mut Driver, _: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Failure> {
    d.reply(reply)
}

fn set_protocol(d: &mut Driver, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
    d.begin()?;
    d.finish(Ok(0))?;
    Ok(call.negotiation.timing)
}

fn tracking(d: &mut Driver, _: Wait) -> Result<(), Failure> {
    d.begin()?;
    d.finish(Ok(0)).map(|_| ())
}

fn vendor(d: &mut Driver, _: u32, _: &[u8], output: &mut [u8]) -> Result<usize, Failure> {
    d.reply(output)
}

fn mechanism(d: &mut Driver) -> Result<(), Failure> {
    d.begin()?;
    d.finish(Ok(0)).map(|_| ())
}

const CODES: [Ioctl; 14] = [
    Ioctl::Power,
    Ioctl::GetAttribute,
    Ioctl::SetAttribute,
    Ioctl::Confiscate,
    Ioctl::Transmit,
    Ioctl::Eject,
    Ioctl::Swallow,
    Ioctl::IsPresent,
    Ioctl::IsAbsent,
    Ioctl::SetProtocol,
    Ioctl::GetState,
    Ioctl::GetLastError,
    Ioctl::GetPerfCounter,
    Ioctl::Vendor(3400),
];

/// Whether `event` (0 inserted, 1 removed, 2 fault) changes a card in `state`.
fn changes(event: u8, state: CardState) -> bool {
    match event {
        0 => !state.card_present(),
        1 => state != CardState::Absent,
        _ => state.card_powered(),
    }
}

fn check_consistent(dev: &Dev) {
    let state = dev.state();
    let caps = dev.card_capabilities();
    assert_eq!(
        caps.is_some(),
        matches!(state, CardState::Negotiable | CardState::Specific),
        "card capabilities {caps:?} in state {state:?}"
    );
    if let Some(caps) = caps {
        assert_eq!(caps.selected.is_some(), state == CardState::Specific);
    }
    // ICC_PRESENCE agrees with the state: 1 or 2 with a card, 0 or 4
    // (confiscated) without.
    let mut presence = [0u8; 1];
    let tag = readerkit::attr::ICC_PRESENCE.to_le_bytes();
    let outcome = dev.control(Ioctl::GetAttribute.code(), &tag, &mut presence);
    assert_eq!(outcome.completion(), Some(Ok(1)));
    let expected: &[u8] = match state {
        CardState::Unknown | CardState::Absent => &[0, 4],
        CardState::Present => &[1],
        _ => &[2],
    };
    assert!(
        expected.contains(&presence[0]),
        "ICC_PRESENCE {} in state {state:?}",
        presence[0]
    );
}

fn last_error(dev: &Dev) -> u32 {
    let mut out = [0u8; 4];
    let outcome = dev.control(Ioctl::GetLastError.code(), &[], &mut out);
    assert_eq!(outcome.status(), Some(Status::Success));
    u32::from_le_bytes(out)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let atr_len = usize::from(input.byte()) % 34;
    let mut atr = AtrBuffer::new();
    let _ = atr.extend_from_slice(input.bytes(atr_len));
    // What the callbacks answer, in the order they run.
    let script_len = usize::from(input.byte()) * 4;
    let script = input.bytes(script_len).to_vec();
    let functions = input.byte();
    let present = |bit: u8| functions & (1 << bit) == 0;
    let dev: Rc<Dev> = Rc::new_cyclic(|weak| {
        Device::new(
            Counting::default(),
            ReaderFunctions {
                power: present(0).then_some(power as _),
                transmit: present(1).then_some(transmit as _),
                set_protocol: present(2).then_some(set_protocol as _),
                card_tracking: present(3).then_some(tracking as _),
                vendor_ioctl: present(4).then_some(vendor as _),
                eject: present(5).then_some(mechanism as _),
                swallow: present(6).then_some(mechanism as _),
                confiscate: present(7).then_some(mechanism as _),
            },
            Driver {
                device: weak.clone(),
                input: script,
                pos: 0,
                call: Call::default(),
                atr,
                fill: 0,
            },
            ReaderCapabilities::typical(),
            VendorAttributes {
                vendor_name: attr_string(b"fuzz"),
                ..VendorAttributes::default()
            },
        )
    });
    let mut pending = 0u32;
    let mut output = [0u8; 300];
    // Each step: selector, code byte(s), output length, input length, input.
    while !input.is_empty() {
        let [selector, a, b, out_len, in_len] = [(); 5].map(|_| input.byte());
        let request_input = input.bytes(usize::from(in_len));
        match selector % 8 {
            0 => dev.card_inserted(),
            1 => dev.card_removed(),
            2 => dev.card_fault(),
            3 => {
                dev.cancel_tracking();
            }
            _ => {
                let code = if selector & 0x80 != 0 {
                    u32::from_le_bytes([a, b, selector, out_len])
                } else {
                    CODES[usize::from(a) % CODES.len()].code()
                };
                let out_len = usize::from(out_len);
                let state = dev.state();
                let caps = dev.card_capabilities();
                let before = (state, caps.clone(), dev.perf_counters().to_bytes());
                let error_before = last_error(&dev);
                let calls = dev.with_driver(|d| d.call.count);
                let parsed = Request::parse(code, request_input, out_len);
                let out = &mut output[..out_len];
                let outcome = dev.control(code, request_input, out);
                let call = dev.with_driver(|d| d.call);
                let called = call.count != calls;
                let changed = called && call.event.is_some_and(|e| changes(e, state));
                let Ok(request) = parsed else {
                    let Outcome::Complete {
                        status,
                        bytes_written,
                    } = outcome
                    else {
                        panic!("a refused request pends");
                    };
                    assert_ne!(status, Status::Success);
                    assert_eq!(bytes_written, 0);
                    assert!(!called, "a refused request reached the driver");
                    let after = (
                        dev.state(),
                        dev.card_capabilities(),
                        dev.perf_counters().to_bytes(),
                    );
                    assert_eq!(before, after, "a refused request changed state");
                    assert_eq!(last_error(&dev), error_before);
                    continue;
                };
                let (status, written) = match outcome {
                    Outcome::Pending => {
                        assert!(matches!(request, Request::IsPresent | Request::IsAbsent));
                        assert!(called, "tracking pends without the driver");
                        pending += 1;
                        let done = dev.platform().completions.get();
                        assert_eq!(pending, done + 1, "two tracking requests pend");
                        check_consistent(&dev);
                        continue;
                    }
                    Outcome::Complete {
                        status,
                        bytes_written,
                    } => (status, bytes_written),
                };
                assert!(written <= out_len);
                if status != Status::Success {
                    assert_eq!(written, 0);
                }
                let out = &output[..out_len];
                // A callback's own error is the request's status; if the card changed
                // under it, the change is (NoMedia without a card, else
                // InvalidDeviceState).
                // A tracking request being armed completes with what happened
                // meanwhile instead: cancelled, or the awaited event.
                let tracking = matches!(request, Request::IsPresent | Request::IsAbsent);
                let overtaken = tracking && (call.cancelled || call.event.is_some());
                if let (true, Some(Err(error)), false) = (called, call.result, overtaken) {
                    // The rule covers the requests about the card, not vendor IOCTLs.
                    let card_request = matches!(
                        request,
                        Request::Power(_)
                            | Request::SetProtocol(_)
                            | Request::Transmit(_)
                            | Request::Eject
                            | Request::Swallow
                            | Request::Confiscate
                    );
                    let expected = if changed && card_request {
                        if dev.state().card_present() {
                            Status::InvalidDeviceState
                        } else {
                            Status::NoMedia
                        }
                    } else {
                        Status::from(error)
                    };
                    assert_eq!(status, expected, "callback error not passed on");
                }
                match request {
                    Request::Power(action) if status == Status::Success => {
                        // A callback that succeeded keeps its answer, even if the card
                        // changed meanwhile (then nothing is recorded for it).
                        assert!(called, "POWER succeeded without the driver");
                        assert_eq!(call.result, Some(Ok(written)));
                        if action == PowerAction::PowerDown {
                            assert_eq!(written, 0);
                        } else {
                            let atr = dev.with_driver(|d| d.atr.clone());
                            assert_eq!(&out[..written], &atr[..], "POWER returned another ATR");
                            if !changed {
                                assert!(matches!(
                                    dev.state(),
                                    CardState::Negotiable | CardState::Specific
                                ));
                            }
                        }
                    }
                    Request::SetProtocol(_) if status == Status::Success => {
                        assert!(called, "SET_PROTOCOL succeeded without the driver");
                        if !changed {
                            let selected = dev.card_capabilities().and_then(|c| c.selected);
                            let bit = u32::from_le_bytes(out[..4].try_into().unwrap());
                            assert_eq!(selected.map(|p| p.bit()), Some(bit));
                            assert_eq!(dev.state(), CardState::Specific);
                        }
                    }
                    Request::Transmit(_) if status == Status::Success => {
                        let Some(Ok(len)) = call.result else {
                            panic!("TRANSMIT succeeded without a reply");
                        };
                        assert!(len >= 2, "TRANSMIT passed on a reply of {len} bytes");
                        assert_eq!(written, 8 + len, "TRANSMIT reply length");
                        let fill = dev.with_driver(|d| d.fill);
                        for (i, &b) in out[8..written].iter().enumerate() {
                            assert_eq!(b, fill ^ i as u8, "TRANSMIT reply byte {i}");
                        }
                        assert_eq!(out[4..8], 8u32.to_le_bytes());
                    }
                    Request::Vendor { .. } if status == Status::Success => {
                        assert_eq!(call.result, Some(Ok(written)));
                        let fill = dev.with_driver(|d| d.fill);
                        for (i, &b) in out[..written].iter().enumerate() {
                            assert_eq!(b, fill ^ i as u8, "vendor reply byte {i}");
                        }
                    }
                    Request::Vendor { .. } => {
                        if let (true, Some(Ok(len))) = (called, call.result) {
                            assert!(len > out_len);
                            assert_eq!(status, Status::BufferOverflow);
                        }
                    }
                    Request::Eject | Request::Swallow | Request::Confiscate
                        if status == Status::Success =>
                    {
                        assert!(called, "mechanism succeeded without the driver");
                    }
                    Request::GetState => {
                        assert_eq!(status, Status::Success);
                        let value = u32::from_le_bytes(out[..4].try_into().unwrap());
                        assert_eq!(Some(value), Some(dev.state().to_windows()));
                    }
                    Request::IsPresent | Request::IsAbsent => {}
                    _ => {}
                }
                check_consistent(&dev);
            }
        }
        let done = dev.platform().completions.get();
        assert!(done <= pending, "a tracking request completed twice");
        assert!(pending - done <= 1, "two tracking requests pend");
    }
    dev.cancel_tracking();
    dev.process_events();
    assert_eq!(
        dev.platform().completions.get(),
        pending,
        "a pending tracking request was never completed"
    );
});
