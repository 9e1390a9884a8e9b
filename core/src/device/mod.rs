//! The device: one entry point for every request, the callback table, the locks and
//! the card events (smclib's `SMARTCARD_EXTENSION` and `SmartcardDeviceControl`).
//!
//! ```text
//!  binding (WDM / pcscd / C / firmware)
//!      │ control(code, input, output)            card_inserted() / card_removed()
//!      ▼                                           │ (any context, never blocks)
//!  Request::parse ── refused: status, no change    ▼
//!      │                                     EventQueue ──► process_events()
//!      ├─ GET_STATE, GET_ATTRIBUTE, ...  answered here        │ short lock only
//!      ├─ IS_PRESENT / IS_ABSENT ─ tracking slot ◄────────────┘ completes tracking
//!      └─ POWER, TRANSMIT, ... ─ serialization lock ─► ReaderFunctions callback
//! ```
//!
//! A request refused by validation returns its status in
//! [`Outcome::Complete`] with `bytes_written == 0` and changes nothing; the binding
//! completes it, as with smclib, where the caller completes a request the library
//! refused.
//!
//! ## While the reader sleeps
//!
//! From the start of [`Device::suspend`] until [`Device::resume`], a request that
//! needs the reader or the card (every one but GET_STATE, GET_ATTRIBUTE,
//! GET_LAST_ERROR and GET_PERF_CNTR, new IS_PRESENT / IS_ABSENT included) gets
//! [`Status::DeviceNotReady`] after its parameters are checked, and changes
//! nothing; a tracking request pending before stays pending. One rule for every
//! binding, kept here: see [`Device::suspend`].
//!
//! ## When a queued card event is applied
//!
//! Reporting a card event ([`Device::card_inserted`], [`Device::card_removed`],
//! [`Device::card_fault`], [`Device::report`]) only queues it and calls
//! [`Platform::events_pending`]; it is applied (the state updated, the ATR dropped
//! on removal, a pending tracking request completed) by the next
//! [`Device::process_events`], whoever calls it. The device calls it first thing in
//! every request whose parameters are valid, *including those it then refuses*
//! ([`Status::DeviceBusy`] from inside a callback, [`Status::DeviceNotReady`]
//! while the reader sleeps): "a refused request changes nothing" is about the
//! request itself, not the events queued before it (a request refused for its
//! parameters applies none). So do the state reads ([`Device::state`],
//! [`Device::card_insertions`], [`Device::card_lost`], [`Device::field_sizes`],
//! [`Device::card_capabilities`]) and the wake-up ([`Device::resume`], hence
//! [`Device::wake_with`], which applies them before it reports the possible swap).
//! A platform whose `events_pending` wakes a thread that calls `process_events`
//! (`StdPlatform`'s polling wait) has events applied at once; with the default
//! hook, which does nothing (the WDM binding's platform; a C driver that sets no
//! `events_pending`), an event stays queued until the next such call on the
//! device. That holds for an event a sleep step reports too: the removal a
//! driver's step in [`Device::sleep_with`] sees while powering the reader down
//! is not applied by `sleep_with`, but by the next request (a GET_STATE, or one
//! refused `DeviceNotReady`), state read or wake; a driver that wants it applied
//! at once calls `process_events` after reporting it (from inside the step too:
//! the tracking completion it makes is delivered once the transition ends).
//!
//! ## When the card changes while a callback runs
//!
//! A request that works on the card (POWER, SET_PROTOCOL, TRANSMIT, EJECT, SWALLOW,
//! CONFISCATE) looks at the card before its callback and again after it. If the card
//! was removed, inserted or faulted in between (an event reported by the callback
//! itself, another thread or an interrupt), one rule holds for all of them:
//!
//! * nothing the request would record about the card is recorded (no powered state,
//!   ATR or protocol for a card that left): the card state is what the events made
//!   it, so the next request sees the change;
//! * a callback that **succeeded** keeps its answer (the ATR, the response APDU, the
//!   protocol): the card answered before it left, and a command it executed must not
//!   be reported as never sent;
//! * a callback that **failed** gets the change as its status instead of its own:
//!   [`Status::NoMedia`] if no card is in the reader when the callback returns,
//!   [`Status::InvalidDeviceState`] if one is (another card, or the same card
//!   unpowered by a fault).
//!
//! ## Calls from inside a callback
//!
//! A callback runs under the serialization lock, so a request made from inside it
//! (on the same execution context, as [`Platform::current_context`] tells) cannot
//! run. [`Device::control`] checks its parameters first, as for any request (a
//! malformed one gets its parameter error), then answers it with
//! [`Status::DeviceBusy`] and changes nothing, except the read-only ones it can
//! answer without the lock:
//! GET_STATE, GET_ATTRIBUTE, GET_LAST_ERROR and GET_PERF_COUNTER. Card events
//! ([`Device::card_inserted`] and friends) and [`Device::process_events`] work from
//! anywhere, a callback included; a tracking completion they cause is handed to
//! [`Platform::complete_tracking`] only once the serialization lock is released, so
//! a driver may arm a new tracking request from inside the completion.

mod attributes;
mod callbacks;
mod card;
mod client;
mod logged;
mod perf;
mod pinpad;
mod sleep;

pub use callbacks::{
    AtrBuffer, Deactivation, FieldSizeReport, MechanismFn, PowerFn, ProtocolCall, ReaderFunctions,
    SetProtocolFn, Settings, TrackingFn, TransmitCall, TransmitFn, VendorFn,
};
pub use logged::{RequestLog, submit_logged};
pub use perf::PerfCounters;
pub use pinpad::{KeyFn, PinPad, PromptFn};
pub use sleep::Sleep;
use sleep::SleepSlot;

use core::fmt;

use crate::atr::Atr;
use crate::caps::{CardCapabilities, FieldSizes, ReaderCapabilities, VendorAttributes};
use crate::event::{CardEvent, EventQueue, Popped};
use crate::ioctl::{self, PowerAction, Request, Transmit};
use crate::platform::{Mutex, Platform};
use crate::protocol::{Protocol, ProtocolMask};
use crate::state::CardState;
use crate::status::{Failure, Status};
use crate::sync::{AtomicU32, AtomicUsize, Ordering};
use crate::tracking::Wait;
use crate::{part10, pps, timing};

use card::{CardSlot, Snapshot, not_ready};
use pinpad::PinOperation;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// The request is finished: complete it with `status`, reporting `bytes_written`
    /// bytes of the output buffer (0 unless `status` is success).
    Complete {
        /// The request's status.
        status: Status,
        /// Bytes of the output buffer that hold the answer.
        bytes_written: usize,
    },
    /// The request (IS_PRESENT or IS_ABSENT) waits for a card event; the library will
    /// call [`Platform::complete_tracking`] exactly once for it.
    Pending,
}

impl Outcome {
    /// The outcome of an answered request. Callbacks fail with a [`Failure`], which
    /// cannot say success; the library's own errors never do either.
    fn done(result: Result<usize, Status>) -> Outcome {
        match result {
            Ok(bytes_written) => Outcome::Complete {
                status: Status::Success,
                bytes_written,
            },
            Err(status) => Outcome::Complete {
                status,
                bytes_written: 0,
            },
        }
    }

    fn refused(status: Status) -> Outcome {
        Outcome::Complete {
            status,
            bytes_written: 0,
        }
    }

    /// The answer of a completed request: `Some(Ok(bytes written))` or
    /// `Some(Err(status))`; `None` while it is pending.
    pub fn completion(self) -> Option<Result<usize, Status>> {
        match self {
            Outcome::Complete {
                status: Status::Success,
                bytes_written,
            } => Some(Ok(bytes_written)),
            Outcome::Complete { status, .. } => Some(Err(status)),
            Outcome::Pending => None,
        }
    }

    /// The answer of a request that does not wait (every request but IS_PRESENT and
    /// IS_ABSENT): `Ok(bytes written)` or the failure status. A pending outcome gives
    /// [`Status::Unsuccessful`]; use [`Outcome::completion`] where a request may pend.
    pub fn into_result(self) -> Result<usize, Status> {
        self.completion().unwrap_or(Err(Status::Unsuccessful))
    }

    /// The status of a completed request; `None` if pending.
    pub fn status(&self) -> Option<Status> {
        match self {
            Outcome::Complete { status, .. } => Some(*status),
            Outcome::Pending => None,
        }
    }
}

/// State only callbacks' callers touch; lives under the serialization lock.
#[derive(Debug)]
struct Exclusive<D> {
    driver: D,
    settings: Settings,
}

/// [`Device::serial_holder`] when nobody holds the serialization lock.
const NO_HOLDER: usize = 0;
/// [`Device::serial_holder`] when a context the platform cannot name holds it.
const UNNAMED_HOLDER: usize = usize::MAX;

/// The handler of a PIN pad's part 10 requests ([`Device::set_pin_pad`] sets it).
type PinPadVendorFn<P, D, const EVENTS: usize> =
    fn(&Device<P, D, EVENTS>, &PinPad<D>, u32, &[u8], &mut [u8]) -> Option<Result<usize, Status>>;

/// Default capacity of the card-event queue.
pub const DEFAULT_EVENT_CAPACITY: usize = 8;

/// A smart card reader as the library sees it; `D` is the reader driver's own
/// context, handed to every callback. `EVENTS` is the event-queue capacity (a power
/// of two).
pub struct Device<P: Platform, D, const EVENTS: usize = DEFAULT_EVENT_CAPACITY> {
    platform: P,
    functions: ReaderFunctions<D>,
    /// The PIN pad, if the reader has one (see [`Device::with_pin_pad`]), with the
    /// handler of its part 10 requests: a function pointer set only by
    /// `set_pin_pad`, so a firmware without a PIN pad links none of that code.
    pin_pad: Option<(PinPad<D>, PinPadVendorFn<P, D, EVENTS>)>,
    reader: ReaderCapabilities,
    vendor: VendorAttributes,
    exclusive: P::Serial<Exclusive<D>>,
    /// Who holds the serialization lock: [`NO_HOLDER`], the holder's
    /// [`ContextId`](crate::platform::ContextId) number, or [`UNNAMED_HOLDER`].
    /// Written only by the holder, so a context that reads its own number here is
    /// inside a callback of this device.
    serial_holder: AtomicUsize,
    /// Win32 code of the last request that failed under the serialization lock
    /// (GET_LAST_ERROR; see [`Device::serialized_as`]); outside that lock so that
    /// it can be read from a callback.
    last_error: AtomicU32,
    card: P::Short<CardSlot>,
    /// Whether the reader sleeps ([`Device::suspend`], [`Device::resume`]).
    sleep: P::Short<SleepSlot>,
    /// Held through [`Device::sleep_with`] and [`Device::wake_with`]: one
    /// transition with the driver's steps at a time.
    transition: P::Serial<()>,
    /// Who holds the transition lock, as [`Device::serial_holder`] says it for
    /// the serialization lock: a context that reads its own number here runs
    /// inside a transition (a hook the platform calls during it), where a
    /// tracking completion waits for the transition's end and another
    /// transition is refused.
    transition_holder: AtomicUsize,
    events: EventQueue<EVENTS>,
    perf: PerfCounters,
}

fn write_u32(output: &mut [u8], value: u32) -> Result<usize, Status> {
    let dest = output.get_mut(..4).ok_or(Status::BufferTooSmall)?;
    dest.copy_from_slice(&value.to_le_bytes());
    Ok(4)
}

/// Every field but the transition lock (it guards no value). The driver's state
/// and the settings (under the serialization lock) show as `<locked: a callback
/// runs>` while a context holds that lock, as `std`'s `Mutex` shows a locked
/// value, so formatting a device inside its own callback does not deadlock (and
/// elsewhere waits at most for a callback that took the lock just after the
/// look). The card state is read under the short lock, which is never held
/// across a callback: do not format a device in interrupt context.
impl<P, D, const EVENTS: usize> fmt::Debug for Device<P, D, EVENTS>
where
    P: Platform + fmt::Debug,
    D: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Device");
        out.field("platform", &self.platform)
            .field("functions", &self.functions)
            .field("pin_pad", &self.pin_pad)
            .field("reader", &self.reader)
            .field("vendor", &self.vendor);
        if self.callback_running() {
            out.field("exclusive", &format_args!("<locked: a callback runs>"));
        } else {
            self.exclusive
                .lock(|exclusive| out.field("exclusive", exclusive));
        }
        out.field("serial_holder", &self.serial_holder)
            .field("transition_holder", &self.transition_holder)
            .field("last_error", &self.last_error);
        self.card.lock(|card| out.field("card", card));
        self.sleep.lock(|slot| out.field("sleep", &slot.now));
        out.field("events", &self.events)
            .field("perf", &self.perf)
            .finish()
    }
}

impl<P: Platform, D, const EVENTS: usize> Device<P, D, EVENTS> {
    /// A device with no card (state Absent) and no pending request. If a card is in
    /// the reader already, report it with [`Device::card_inserted`].
    pub fn new(
        platform: P,
        functions: ReaderFunctions<D>,
        driver: D,
        reader: ReaderCapabilities,
        vendor: VendorAttributes,
    ) -> Self {
        Device {
            platform,
            functions,
            pin_pad: None,
            reader,
            vendor,
            exclusive: P::Serial::new(Exclusive {
                driver,
                settings: Settings::default(),
            }),
            serial_holder: AtomicUsize::new(NO_HOLDER),
            last_error: AtomicU32::new(0),
            card: P::Short::new(CardSlot::new()),
            sleep: P::Short::new(SleepSlot::AWAKE),
            transition: P::Serial::new(()),
            transition_holder: AtomicUsize::new(NO_HOLDER),
            events: EventQueue::new(),
            perf: PerfCounters::new(),
        }
    }

    /// The same device with a PIN pad: it then announces and serves PC/SC part 10
    /// `FEATURE_VERIFY_PIN_DIRECT` and `FEATURE_MODIFY_PIN_DIRECT` itself (module
    /// `pinpad`: the structure checked before any key, the PIN read with
    /// `pad.next_key` and sent with the TRANSMIT callback under the serialization
    /// lock, then wiped).
    pub fn with_pin_pad(mut self, pad: PinPad<D>) -> Self {
        self.set_pin_pad(pad);
        self
    }

    /// Give the device its PIN pad in place, as [`Device::with_pin_pad`] does
    /// (without moving a large device through one more stack frame).
    pub fn set_pin_pad(&mut self, pad: PinPad<D>) {
        self.pin_pad = Some((pad, Self::pin_pad_vendor));
    }

    /// The platform, for bindings that keep their own state in it.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The reader's capabilities.
    pub fn reader_capabilities(&self) -> &ReaderCapabilities {
        &self.reader
    }

    /// The card state now (after processing queued events).
    pub fn state(&self) -> CardState {
        self.process_events();
        self.card.lock(|c| c.state)
    }

    /// `true` while the card is lost: the driver deactivated it on its own in
    /// the middle of a request (the protocol lost it: a T=0 exchange broken
    /// after its header went out, T=1 resynchronisation failed, a PPS failed),
    /// and no power request, insertion or removal came since. The card is
    /// present and unpowered ([`Device::state`]); its client was only told
    /// that the request failed, and has yet to reset it. After processing
    /// queued events.
    pub fn card_lost(&self) -> bool {
        self.process_events();
        self.card.lock(|c| c.lost)
    }

    /// How many card insertions the device has applied (wrapping), after
    /// processing queued events. A host that polls presence compares it with the
    /// count it last saw: a different count with a card present is a new card, even
    /// if the removal in between was never seen.
    pub fn card_insertions(&self) -> u32 {
        self.process_events();
        self.card.lock(|c| c.insertions)
    }

    /// The card's capabilities, if a card was powered and its ATR accepted.
    pub fn card_capabilities(&self) -> Option<CardCapabilities> {
        self.process_events();
        self.card.lock(|c| c.card.clone())
    }

    /// The T=1 information field sizes in force for the powered card, in bytes
    /// (what `SCARD_ATTR_CURRENT_IFSC` / `CURRENT_IFSD` answer): those a
    /// TRANSMIT callback reported since the card's reset or SET_PROTOCOL
    /// ([`FieldSizeReport`]: the card's S(IFS request), say), else the ATR's
    /// IFSC and the IFSD the reader announces. `None` while no card is powered
    /// with its ATR accepted. After processing queued events.
    pub fn field_sizes(&self) -> Option<FieldSizes> {
        self.process_events();
        self.card.lock(|c| c.field_sizes_in_force())
    }

    /// Traffic counters.
    pub fn perf_counters(&self) -> &PerfCounters {
        &self.perf
    }

    /// Run `f` with the driver context, under the serialization lock (so never
    /// alongside a callback). Inside `f` the device counts as being in a callback
    /// (see the module documentation). Do not call it from inside a callback: the
    /// lock is held there already (check with [`Device::in_own_callback`]).
    pub fn with_driver<R>(&self, f: impl FnOnce(&mut D) -> R) -> R {
        self.serial(|ex| f(&mut ex.driver))
    }

    /// [`Device::with_driver`] for a caller that may run inside one of this
    /// device's callbacks: there it is refused with [`Status::DeviceBusy`] and `f`
    /// does not run (the lock is held already), as any request is.
    pub fn try_with_driver<R>(&self, f: impl FnOnce(&mut D) -> R) -> Result<R, Status> {
        if self.in_own_callback() {
            return Err(Status::DeviceBusy);
        }
        Ok(self.with_driver(f))
    }

    /// `true` if the caller runs inside one of this device's callbacks (or a
    /// [`Device::with_driver`] closure) on the same execution context, as far as
    /// [`Platform::current_context`] can tell; always `false` if it cannot.
    pub fn in_own_callback(&self) -> bool {
        self.held_here(&self.serial_holder)
    }

    /// `true` if the caller runs inside [`Device::sleep_with`] or
    /// [`Device::wake_with`] on the same execution context (in a hook the
    /// platform calls during the transition, as [`Platform::events_pending`], or
    /// the driver's step), as far as [`Platform::current_context`] can tell;
    /// always `false` if it cannot.
    fn in_own_transition(&self) -> bool {
        self.held_here(&self.transition_holder)
    }

    /// `true` if `holder` (a lock's holder, as [`Device::serial_holder`]) names
    /// the calling context; always `false` if the platform cannot name it.
    fn held_here(&self, holder: &AtomicUsize) -> bool {
        match self.platform.current_context() {
            // Relaxed: only the holder writes its own number, and a context always
            // sees its own writes; another context's number never equals ours.
            Some(context) => holder.load(Ordering::Relaxed) == context.get(),
            None => false,
        }
    }

    /// The calling context's number for a lock's holder field.
    fn holder_here(&self) -> usize {
        self.platform
            .current_context()
            .map_or(UNNAMED_HOLDER, |c| c.get())
    }

    /// `true` while any context holds the serialization lock (a callback or a
    /// [`Device::with_driver`] closure runs). A snapshot: it can change right after.
    pub fn callback_running(&self) -> bool {
        self.serial_holder.load(Ordering::Acquire) != NO_HOLDER
    }

    /// Run `f` under the serialization lock with the holder recorded, then deliver
    /// a tracking completion made meanwhile (the lock is released by then).
    fn serial<R>(&self, f: impl FnOnce(&mut Exclusive<D>) -> R) -> R {
        let holder = self.holder_here();
        let result = self.exclusive.lock(|ex| {
            let _held = HolderMark::set(&self.serial_holder, holder);
            f(ex)
        });
        self.deliver_owed_completion();
        result
    }

    /// Report a card insertion. Never blocks; safe in interrupt context.
    pub fn card_inserted(&self) {
        self.report(CardEvent::Inserted);
    }

    /// Report a card removal. Never blocks; safe in interrupt context.
    pub fn card_removed(&self) {
        self.report(CardEvent::Removed);
    }

    /// Report that the hardware deactivated the card (over-current, fault). Never
    /// blocks; safe in interrupt context.
    pub fn card_fault(&self) {
        self.report(CardEvent::Fault);
    }

    /// Report a card event seen by the driver ([`Device::card_inserted`],
    /// [`Device::card_removed`] or [`Device::card_fault`] by value). Never blocks;
    /// safe in interrupt context.
    pub fn report(&self, event: CardEvent) {
        self.events.push(event);
        self.platform.events_pending();
    }

    /// Apply queued card events: update the state, drop the ATR on removal, complete a
    /// pending tracking request. Takes only the short lock, never the serialization
    /// lock, so it runs at once even while a callback is busy. Called from inside a
    /// callback, it applies the events and leaves the tracking completion to be
    /// delivered when the callback's request releases the serialization lock.
    pub fn process_events(&self) {
        self.apply_events();
        if !self.in_own_callback() {
            self.deliver_owed_completion();
        }
    }

    fn apply_popped(
        c: &mut CardSlot,
        popped: Popped,
        reader: &ReaderCapabilities,
    ) -> Option<Status> {
        match popped {
            Popped::Event(event) => c.apply(event, reader),
            Popped::Overflowed(latest) => {
                let removal = c.apply(CardEvent::Removed, reader);
                removal.or(c.apply(latest, reader))
            }
        }
    }

    /// Apply queued events: a tracking completion they produce is kept in the slot
    /// and handed to the platform by [`Device::deliver_owed_completion`] once no
    /// library lock is held.
    ///
    /// Popped under the short lock too: two threads applying at once (a poll woken
    /// by the events, a client reading the state) would otherwise each pop one
    /// event and could apply them out of order (a swap's insertion, then its
    /// removal: the new card taken for gone).
    fn apply_events(&self) {
        self.card.lock(|c| {
            while let Some(popped) = self.events.pop() {
                let completion = Self::apply_popped(c, popped, &self.reader);
                c.owe(completion);
            }
        });
    }

    /// Hand an owed tracking completion to the platform; call with no library lock
    /// held. Inside a transition of this context's ([`Device::sleep_with`],
    /// [`Device::wake_with`]) it stays owed: the transition delivers it once it
    /// has released its lock.
    fn deliver_owed_completion(&self) {
        if self.in_own_transition() {
            return;
        }
        if let Some(status) = self.card.lock(|c| c.owed.take()) {
            self.platform.complete_tracking(status);
        }
    }

    /// Cancel the pending tracking request (its cancel routine ran, or its handle
    /// was closed). Returns `true` if one was pending; it is then completed with
    /// [`Status::Cancelled`] through [`Platform::complete_tracking`] (from inside a
    /// callback: once the callback's request releases the serialization lock).
    pub fn cancel_tracking(&self) -> bool {
        let cancelled = self.card.lock(|c| {
            let completion = c.tracking.cancel();
            c.owe(completion);
            completion.is_some()
        });
        if cancelled && !self.in_own_callback() {
            self.deliver_owed_completion();
        }
        cancelled
    }

    /// Handle one request: `code` is the IOCTL, `input` its input bytes, `output`
    /// the caller's output buffer. See the module documentation; from inside one of
    /// this device's callbacks only the read-only requests are answered, the others
    /// get [`Status::DeviceBusy`], and while the reader sleeps ([`Device::suspend`])
    /// the others get [`Status::DeviceNotReady`] (the same for [`Device::submit`]).
    pub fn control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Outcome {
        match Request::parse(code, input, output.len()) {
            Ok(request) => self.execute(request, output),
            Err(status) => Outcome::refused(status),
        }
    }

    /// Handle one request built in code (the client side of [`Device::control`],
    /// with no input buffer to build): it is checked with [`Request::check`] and
    /// then answered exactly as `control` answers the same request sent as bytes.
    pub fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        match request.check(output.len()) {
            Ok(()) => self.execute(request, output),
            Err(status) => Outcome::refused(status),
        }
    }

    /// Answer a checked request.
    fn execute(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        self.process_events();
        if !read_only(&request) {
            if self.in_own_callback() {
                return Outcome::refused(Status::DeviceBusy);
            }
            if self.refused_asleep(Caller::Client) {
                return Outcome::refused(Status::DeviceNotReady);
            }
        }
        let result = match request {
            Request::GetState => {
                let state = self.card.lock(|c| c.state);
                write_u32(output, state.to_windows())
            }
            Request::GetAttribute(tag) => self.get_attribute(tag, output),
            Request::SetAttribute { tag, value } => self.set_attribute(tag, value),
            Request::GetLastError => write_u32(output, self.last_error.load(Ordering::Acquire)),
            Request::GetPerfCounter => {
                let bytes = self.perf.to_bytes();
                output[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Request::IsPresent => return self.track(Wait::Insertion),
            Request::IsAbsent => return self.track(Wait::Removal),
            Request::Power(action) => self.power(Caller::Client, action, output),
            Request::SetProtocol(mask) => self.set_protocol(mask, output),
            Request::Transmit(transmit) => self.transmit(transmit, output),
            Request::Eject => self.mechanism(self.functions.eject, Request::Eject),
            Request::Swallow => self.mechanism(self.functions.swallow, Request::Swallow),
            Request::Confiscate => self.mechanism(self.functions.confiscate, Request::Confiscate),
            Request::Vendor { code, input } => self.vendor(code, input, output),
        };
        Outcome::done(result)
    }

    /// Run `f` under the serialization lock with a snapshot of the card, and record
    /// a failure as the last error; a client's request refused if the reader went
    /// to sleep meanwhile (see [`Device::serialized_as`]).
    fn serialized<R>(
        &self,
        f: impl FnOnce(&mut Exclusive<D>, &Snapshot) -> Result<R, Status>,
    ) -> Result<R, Status> {
        self.serialized_as(Caller::Client, f)
    }

    /// [`Device::serialized`] for `caller`. A client's request that found the
    /// device awake in [`Device::execute`] may wait for the lock while
    /// [`Device::suspend`] marks it asleep and powers the card down: it is refused
    /// then with [`Status::DeviceNotReady`] (not recorded as the last error, as
    /// the refusal before the lock), so no callback runs after the power-down.
    fn serialized_as<R>(
        &self,
        caller: Caller,
        f: impl FnOnce(&mut Exclusive<D>, &Snapshot) -> Result<R, Status>,
    ) -> Result<R, Status> {
        self.serial(|ex| {
            if self.refused_asleep(caller) {
                return Err(Status::DeviceNotReady);
            }
            // Events are applied under the serialization lock, so any tracking
            // completion they make is delivered after it is released.
            self.apply_events();
            let snapshot = self.card.lock(|c| c.snapshot());
            let result = f(ex, &snapshot);
            if let Err(status) = result {
                self.last_error.store(status.to_win32(), Ordering::Release);
            }
            result
        })
    }

    /// Whether `caller`'s request is refused because the reader sleeps. Out of
    /// line: one copy, not one in [`Device::execute`] and in every request's
    /// [`Device::serialized_as`] closure: the device firmware's flash is 312 B
    /// smaller than with the check written out in each (size-check.sh).
    #[inline(never)]
    fn refused_asleep(&self, caller: Caller) -> bool {
        caller == Caller::Client && self.asleep()
    }

    /// End a card request whose callback returned `result` (see "When the card
    /// changes while a callback runs" in the module documentation): apply queued
    /// events, then, if nothing happened to the card since `seen`, `record` the
    /// result in the card slot; otherwise record nothing and answer `unrecorded`
    /// for a success, the change's status (NoMedia / InvalidDeviceState) for a
    /// failure. Called under the serialization lock (inside [`Device::serialized`]).
    fn settle<T, R>(
        &self,
        seen: &Snapshot,
        result: Result<T, Status>,
        record: impl FnOnce(&mut CardSlot, Result<T, Status>) -> Result<R, Status>,
        unrecorded: impl FnOnce(T) -> Result<R, Status>,
    ) -> Result<R, Status> {
        self.apply_events();
        self.card.lock(|c| match c.unchanged_since(seen) {
            Ok(()) => record(c, result),
            Err(change) => match result {
                Ok(value) => unrecorded(value),
                Err(_) => Err(change),
            },
        })
    }

    #[inline(never)]
    fn get_attribute(&self, tag: u32, output: &mut [u8]) -> Result<usize, Status> {
        let (snapshot, atr, reported) = self
            .card
            .lock(|c| (c.snapshot(), c.atr.clone(), c.field_sizes));
        attributes::read(
            tag,
            &self.reader,
            &self.vendor,
            &snapshot,
            (&atr, reported),
            &self.perf,
            output,
        )
    }

    fn set_attribute(&self, tag: u32, value: &[u8]) -> Result<usize, Status> {
        match tag {
            crate::attr::DEVICE_IN_USE => Ok(0),
            crate::attr::SUPPRESS_T1_IFS_REQUEST => {
                let first = value.first().ok_or(Status::InvalidParameter)?;
                let suppress = *first != 0 || value.iter().any(|&b| b != 0);
                self.serial(|ex| ex.settings.suppress_t1_ifs_request = suppress);
                Ok(0)
            }
            _ => Err(Status::NotSupported),
        }
    }

    fn track(&self, wait: Wait) -> Outcome {
        // `Some(status)`: the request completes at once with it; `None`: the slot
        // is reserved and the callback arms it.
        let at_once = self.card.lock(|c| {
            if wait.satisfied_by(c.state) {
                return Some(Status::Success);
            }
            if self.functions.card_tracking.is_none() {
                return Some(Status::NotSupported);
            }
            if c.owed.is_some() {
                // The previous request is decided but its completion not yet
                // delivered: it still counts as pending.
                return Some(Status::DeviceBusy);
            }
            c.tracking.reserve(wait).err()
        });
        if let Some(status) = at_once {
            return Outcome::Complete {
                status,
                bytes_written: 0,
            };
        }
        let callback_result = match self.functions.card_tracking {
            // Refused, not armed, if the reader went to sleep while this waited
            // for the lock (the slot is given back below).
            Some(callback) => self.serial(|ex| {
                if self.refused_asleep(Caller::Client) {
                    Err(Failure::DeviceNotReady)
                } else {
                    callback(&mut ex.driver, wait)
                }
            }),
            None => Err(Failure::NotSupported),
        };
        // Events that arrived while the callback ran are applied now, so that the
        // slot sees them before deciding to pend.
        self.process_events();
        match self.card.lock(|c| {
            let _ = c.tracking.on_state(c.state);
            c.tracking.finish_arming(callback_result)
        }) {
            None => Outcome::Pending,
            Some(status) => Outcome::Complete {
                status,
                bytes_written: 0,
            },
        }
    }

    #[inline(never)]
    fn power(
        &self,
        caller: Caller,
        action: PowerAction,
        output: &mut [u8],
    ) -> Result<usize, Status> {
        let callback = self.functions.power.ok_or(Status::NotSupported)?;
        self.serialized_as(caller, |ex, seen| {
            if !seen.state.card_present() {
                return Err(Status::NoMedia);
            }
            let mut atr = AtrBuffer::new();
            let asked = driver_power_action(action, seen.state);
            let result = callback(&mut ex.driver, asked, &mut atr).map_err(Status::from);
            match self.settle_power(seen, action, &atr, result)? {
                None => Ok(0),
                Some(len) => {
                    output[..len].copy_from_slice(&atr);
                    Ok(len)
                }
            }
        })
    }

    /// [`Device::settle`] for a power request whose callback returned
    /// `result` with the card's answer in `atr`: a reset's ATR parsed and
    /// recorded with the card's capabilities, a power-down or a failure
    /// recorded as the card unpowered. `Some(len)`: the ATR's length, to copy
    /// out. Out of line: the parsed ATR and the capabilities built from it take
    /// stack only after the callback has returned, not in [`Device::power`]'s
    /// frame while the callback runs (the example firmware's stack,
    /// size-check.sh).
    #[inline(never)]
    fn settle_power(
        &self,
        seen: &Snapshot,
        action: PowerAction,
        atr: &AtrBuffer,
        result: Result<(), Status>,
    ) -> Result<Option<usize>, Status> {
        let record = |c: &mut CardSlot, result| {
            match (action, result) {
                (_, Err(status)) => {
                    c.power_off(&self.reader);
                    Err(status)
                }
                (PowerAction::PowerDown, Ok(())) => {
                    c.power_off(&self.reader);
                    Ok(None)
                }
                (PowerAction::ColdReset | PowerAction::WarmReset, Ok(())) => {
                    c.forget_card(CardState::Powered);
                    match usable_atr(atr) {
                        Ok(parsed) => {
                            let caps = CardCapabilities::new(parsed, &self.reader);
                            c.state = match caps.selected {
                                Some(_) => CardState::Specific,
                                None => CardState::Negotiable,
                            };
                            c.atr = atr.clone();
                            c.card = Some(caps);
                            Ok(Some(atr.len()))
                        }
                        Err(status) => {
                            // Keep the raw ATR for GET_ATTRIBUTE; the card stays
                            // powered but unusable.
                            c.atr = atr.clone();
                            Err(status)
                        }
                    }
                }
            }
        };
        // The card changed during the callback: its answer only, checked.
        let unrecorded = |()| match action {
            PowerAction::PowerDown => Ok(None),
            PowerAction::ColdReset | PowerAction::WarmReset => {
                usable_atr(atr).map(|_| Some(atr.len()))
            }
        };
        self.settle(seen, result, record, unrecorded)
    }

    #[inline(never)]
    fn set_protocol(&self, mask: ProtocolMask, output: &mut [u8]) -> Result<usize, Status> {
        let callback = self.functions.set_protocol.ok_or(Status::NotSupported)?;
        self.serialized(|ex, seen| {
            let card = match (&seen.card, seen.state) {
                (Some(card), CardState::Negotiable | CardState::Specific) => card,
                _ => return Err(not_ready(seen.state)),
            };
            let (protocol, negotiation) = choose_protocol(mask, card, &self.reader)?;
            let call = ProtocolCall {
                protocol,
                negotiation,
                card,
                reader: &self.reader,
                settings: ex.settings,
                deactivation: Deactivation::default(),
            };
            let result = callback(&mut ex.driver, &call).map_err(Status::from);
            let record = |c: &mut CardSlot, result: Result<timing::Timing, Status>| {
                let timing = self.unless_deactivated(c, &call.deactivation, result)?;
                if let Some(caps) = c.card.as_mut() {
                    caps.selected = Some(protocol);
                    caps.timing = timing;
                }
                // A fresh protocol session (a T=1 engine starts over, ISO/IEC
                // 7816-3:2006 11.4.2): sizes reported in the last one no longer
                // hold.
                c.forget_field_sizes();
                c.state = CardState::Specific;
                Ok(())
            };
            self.settle(seen, result, record, |_| Ok(()))?;
            write_u32(output, protocol.bit())
        })
    }

    #[inline(never)]
    fn transmit(&self, request: Transmit<'_>, output: &mut [u8]) -> Result<usize, Status> {
        let callback = self.functions.transmit.ok_or(Status::NotSupported)?;
        self.serialized(|ex, seen| {
            let (card, selected) = seen.transmitting()?;
            if ioctl::header_protocol(request.protocol) != Some(selected) {
                return Err(Status::InvalidParameter);
            }
            if selected != Protocol::Raw {
                // A command APDU whose Lc disagrees with its length is refused, as
                // Windows' HLK expects (`00 A4 00 00 08 00` -> invalid parameter).
                crate::apdu::Command::parse(request.apdu).map_err(|_| Status::InvalidParameter)?;
            }
            let (header, reply) = output.split_at_mut(ioctl::IO_REQUEST_LEN);
            let call = TransmitCall {
                protocol: selected,
                apdu: request.apdu,
                card,
                settings: ex.settings,
                deactivation: Deactivation::default(),
                field_sizes: FieldSizeReport::default(),
            };
            let len = self.send_to_card(callback, &mut ex.driver, seen, &call, reply)?;
            header.copy_from_slice(&ioctl::io_request(selected.bit()));
            Ok(ioctl::IO_REQUEST_LEN + len)
        })
    }

    fn mechanism(
        &self,
        callback: Option<MechanismFn<D>>,
        request: Request<'_>,
    ) -> Result<usize, Status> {
        let callback = callback.ok_or(Status::NotSupported)?;
        self.serialized(|ex, seen| {
            if !seen.state.card_present() {
                return Err(Status::NoMedia);
            }
            // A card inserted after this count is not the one the callback moves
            // (read here, not kept in every request's snapshot: stack).
            let insertions = self.card.lock(|c| c.insertions);
            let result = callback(&mut ex.driver).map_err(Status::from);
            let record = |c: &mut CardSlot, result: Result<(), Status>| {
                result?;
                match request {
                    Request::Swallow => c.forget_card(CardState::Swallowed),
                    Request::Eject => c.forget_card(CardState::Present),
                    _ => {
                        // Confiscation took the card away: that may finish an
                        // IS_ABSENT request (delivered once the lock is released).
                        let completion = c.apply(CardEvent::Removed, &self.reader);
                        c.owe(completion);
                    }
                }
                Ok(0)
            };
            // A driver that reports the card leaving (ejected, confiscated) during
            // its callback: done, the events already moved the state.
            let done = self.settle(seen, result, record, |()| Ok(0))?;
            if matches!(request, Request::Confiscate) {
                // Gone by confiscation, whether this request's record or the
                // driver's own removal event took it out; not if a card came in
                // since the callback started (also one taken out again by hand,
                // or one inserted by another thread after `settle`).
                self.card.lock(|c| {
                    c.confiscated = c.insertions == insertions && !c.state.card_present();
                });
            }
            Ok(done)
        })
    }

    #[inline(never)]
    fn vendor(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, Status> {
        if let Some((pad, handler)) = self.pin_pad
            && let Some(answer) = handler(self, &pad, code, input, output)
        {
            return answer;
        }
        self.driver_vendor(code, input, output)
    }

    /// The part 10 requests a PIN pad answers or adds to; `None` for any other
    /// vendor request.
    fn pin_pad_vendor(
        &self,
        pad: &PinPad<D>,
        code: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> Option<Result<usize, Status>> {
        Some(match ioctl::scard_ctl_function(code)? {
            part10::FN_VERIFY_PIN_DIRECT => {
                self.pin_direct(pad, PinOperation::Verify, input, output)
            }
            part10::FN_MODIFY_PIN_DIRECT => {
                self.pin_direct(pad, PinOperation::Modify, input, output)
            }
            part10::FN_GET_FEATURE_REQUEST => {
                self.driver_vendor_then(code, input, output, |output, used| {
                    part10::append_pin_features(output, used, pad.ctl_code)
                })
            }
            part10::FN_IFD_PIN_PROPERTIES => part10::pin_properties(output).map_err(Status::from),
            part10::FN_GET_TLV_PROPERTIES => {
                self.driver_vendor_then(code, input, output, |output, used| {
                    let (min, max) = (pad.min_pin_digits, pad.max_pin_digits);
                    part10::append_pin_properties(output, used, min, max)
                })
            }
            _ => return None,
        })
    }

    /// The driver's answer to a part 10 request the PIN pad adds to (none, 0
    /// bytes, if the driver has no vendor callback or does not know the
    /// request), then what `append` adds after its `used` bytes.
    fn driver_vendor_then(
        &self,
        code: u32,
        input: &[u8],
        output: &mut [u8],
        append: impl FnOnce(&mut [u8], usize) -> Result<usize, Failure>,
    ) -> Result<usize, Status> {
        let used = match self.driver_vendor(code, input, output) {
            Err(Status::NotSupported) => 0,
            other => other?,
        };
        Ok(append(output, used)?)
    }

    /// VERIFY_PIN_DIRECT / MODIFY_PIN_DIRECT: check the structure, read the
    /// PIN(s), send the command, answer the card's response or the entry outcome's
    /// status word.
    fn pin_direct(
        &self,
        pad: &PinPad<D>,
        operation: PinOperation,
        structure: &[u8],
        output: &mut [u8],
    ) -> Result<usize, Status> {
        let callback = self.functions.transmit.ok_or(Status::NotSupported)?;
        // Every refusal of the request comes before the first key.
        let request = pinpad::check(operation, structure)?;
        if output.len() < ioctl::MIN_RESPONSE_LEN {
            return Err(Status::BufferTooSmall);
        }
        self.serialized(|ex, seen| {
            let (card, selected) = seen.transmitting()?;
            if selected == Protocol::Raw {
                return Err(Status::NotSupported);
            }
            let command = match pinpad::enter(&request, &mut ex.driver, pad) {
                Ok(command) => command,
                Err(outcome) if outcome.is_entry_outcome() => {
                    output[..2].copy_from_slice(&outcome.status_word());
                    return Ok(2);
                }
                // Only a template longer than a short APDU gets here.
                Err(_) => return Err(Status::InvalidParameter),
            };
            let call = TransmitCall {
                protocol: selected,
                apdu: command.as_bytes(),
                card,
                settings: ex.settings,
                deactivation: Deactivation::default(),
                field_sizes: FieldSizeReport::default(),
            };
            self.send_to_card(callback, &mut ex.driver, seen, &call, output)
        })
    }

    /// A callback's `result`, unless it said it deactivated the card: then the
    /// card is lost ([`Device::card_lost`]: unpowered, as after a POWER down,
    /// until the next power request or card event) and the request fails,
    /// with the callback's failure or, if it claimed success,
    /// [`Status::InvalidDeviceState`].
    fn unless_deactivated<T>(
        &self,
        c: &mut CardSlot,
        deactivation: &Deactivation,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        if !deactivation.reported() {
            return result;
        }
        c.lose_card(&self.reader);
        result.and(Err(Status::InvalidDeviceState))
    }

    /// Run the driver's transmit `callback` for `call`, the card's response into
    /// `reply`: its length, checked (SW1 SW2 at least, within `reply`) and
    /// counted. A callback that deactivated the card leaves it unpowered; a
    /// failure during a card change gets the change's status. Field sizes the
    /// callback reported are kept, on success and failure alike (the card's
    /// S(IFS request) took effect once answered, whatever became of the APDU).
    fn send_to_card(
        &self,
        callback: TransmitFn<D>,
        driver: &mut D,
        seen: &Snapshot,
        call: &TransmitCall<'_>,
        reply: &mut [u8],
    ) -> Result<usize, Status> {
        let result = callback(driver, call, reply).map_err(Status::from);
        let record = |c: &mut CardSlot, result| {
            c.field_sizes = call.field_sizes.applied_to(c.field_sizes);
            self.unless_deactivated(c, &call.deactivation, result)
        };
        let len = self.settle(seen, result, record, Ok)?;
        if len > reply.len() || len < ioctl::MIN_RESPONSE_LEN {
            return Err(Status::DeviceProtocolError);
        }
        self.perf.record(call.apdu.len(), len);
        Ok(len)
    }

    fn driver_vendor(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, Status> {
        let callback = self.functions.vendor_ioctl.ok_or(Status::NotSupported)?;
        self.serialized(|ex, _| {
            let len = callback(&mut ex.driver, code, input, output)?;
            if len > output.len() {
                return Err(Status::BufferOverflow);
            }
            Ok(len)
        })
    }
}

/// The action the POWER callback gets for a client's `action` on a card in
/// `state`: a warm reset of a card whose contacts are off (never powered, powered
/// down, or deactivated by the driver after a failed PPS or T=1
/// resynchronisation) is a cold reset, the only one that can activate it.
fn driver_power_action(action: PowerAction, state: CardState) -> PowerAction {
    match action {
        PowerAction::WarmReset if !state.card_powered() => PowerAction::ColdReset,
        action => action,
    }
}

/// The ATR parsed and its parameters usable (as at power-up); otherwise
/// [`Status::UnrecognizedMedia`].
fn usable_atr(atr: &[u8]) -> Result<Atr, Status> {
    let parsed = Atr::parse(atr).map_err(|_| Status::UnrecognizedMedia)?;
    parsed
        .parameters()
        .check(parsed.tck())
        .map_err(|_| Status::UnrecognizedMedia)?;
    Ok(parsed)
}

/// Who runs a card request under the serialization lock
/// ([`Device::serialized_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A client's request: refused while the reader sleeps.
    Client,
    /// [`Device::suspend`]'s power-down, which runs with the device asleep.
    Suspend,
}

/// The read-only requests: they read state kept outside the serialization lock and
/// call no callback, so [`Device::control`] answers them from inside a callback and
/// while the reader sleeps.
fn read_only(request: &Request<'_>) -> bool {
    matches!(
        request,
        Request::GetState
            | Request::GetAttribute(_)
            | Request::GetLastError
            | Request::GetPerfCounter
    )
}

/// Records the holder of the serialization lock for as long as it lives (also when
/// a callback unwinds).
struct HolderMark<'a> {
    holder: &'a AtomicUsize,
}

impl<'a> HolderMark<'a> {
    fn set(holder: &'a AtomicUsize, context: usize) -> HolderMark<'a> {
        holder.store(context, Ordering::Release);
        HolderMark { holder }
    }
}

impl Drop for HolderMark<'_> {
    fn drop(&mut self) {
        self.holder.store(NO_HOLDER, Ordering::Release);
    }
}

/// Pick the protocol for SET_PROTOCOL and how to establish it (PPS or not).
fn choose_protocol(
    mask: ProtocolMask,
    card: &CardCapabilities,
    reader: &ReaderCapabilities,
) -> Result<(Protocol, pps::Negotiation), Status> {
    let keep = |protocol: Protocol| pps::Negotiation {
        protocol,
        request: None,
        timing: card.timing,
        default_timing: timing::Timing::default_at(reader.default_clock_khz),
    };
    // Specific mode (TA2), or a protocol negotiated earlier: the card stays in it
    // until it is reset; no PPS. A card in a specific mode this reader cannot run
    // is not selected (`CardCapabilities::new`): `negotiate` below refuses it.
    if let Some(selected) = card.selected {
        return if mask.contains(selected) && reader.protocols.contains(selected) {
            Ok((selected, keep(selected)))
        } else {
            Err(Status::NotSupported)
        };
    }
    let p = &card.parameters;
    let protocol = mask
        .intersect(p.protocols)
        .intersect(reader.protocols)
        .preferred()
        .ok_or(Status::NotSupported)?;
    if protocol == Protocol::Raw {
        return Ok((protocol, keep(protocol)));
    }
    let offer = pps::CardOffer::of(p);
    let limits = pps::ReaderLimits::of(reader);
    let wanted = if mask.wants_default_parameters() {
        pps::Wanted::default_parameters(protocol)
    } else {
        pps::Wanted::optimal(protocol)
    };
    let negotiation = pps::negotiate(&offer, &limits, &wanted)?;
    Ok((protocol, negotiation))
}
