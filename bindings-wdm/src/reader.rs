//! [`WdmReader`]: a reader's device extension in a WDM driver — the core [`Device`]
//! plus what WDM adds: handle exclusivity, the pending tracking IRP, the remove lock,
//! PnP state and system power.

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::{Device, Outcome, ReaderFunctions};
use readerkit::event::CardEvent;
use readerkit::ioctl::{Ioctl, Request};
use readerkit::part10;
use readerkit::platform::{ContextId, Mutex, Platform};
use readerkit::status::Status;
use readerkit::trace::Level;
use readerkit::tracking::handoff::{Handoff, OnCancel, Parked, State};

use crate::irp::{BufferError, Buffered, IoStatus, Irp, Major, PowerParams, buffered, mn_power};
use crate::ntstatus;
use crate::remove_lock::{Held, RemoveLock};
use crate::trace::kernel_sink;
use crate::{Event, Kernel};

/// The core's [`Platform`] for a WDM reader: the kernel's locks, and tracking
/// completion through the core's [`Handoff`] to `IoCompleteRequest`.
pub struct WdmPlatform<K: Kernel, I: Irp> {
    tracking: Handoff<I, K::Short<State<I>>>,
    remove_lock: RemoveLock<K::Event>,
}

impl<K: Kernel, I: Irp> WdmPlatform<K, I> {
    fn new() -> Self {
        WdmPlatform {
            tracking: Handoff::new(),
            remove_lock: RemoveLock::new(),
        }
    }

    /// The tracking IRP's hand-off.
    pub fn tracking(&self) -> &Handoff<I, K::Short<State<I>>> {
        &self.tracking
    }

    /// The remove lock.
    pub fn remove_lock(&self) -> &RemoveLock<K::Event> {
        &self.remove_lock
    }

    /// Complete the tracking IRP and give back the remove-lock reference it held.
    fn finish(&self, irp: I, status: Status) {
        irp.complete(IoStatus::status(status.to_ntstatus()));
        self.remove_lock.release();
    }
}

impl<K: Kernel, I: Irp> Platform for WdmPlatform<K, I> {
    type Serial<T> = K::Serial<T>;
    type Short<T> = K::Short<T>;

    fn complete_tracking(&self, status: Status) {
        if let Some((irp, status)) = self.tracking.complete(status) {
            self.finish(irp, status);
        }
    }

    fn current_context(&self) -> Option<ContextId> {
        K::current_thread().map(ContextId::new)
    }
}

/// Driver hooks the binding runs under the serialization lock.
pub struct DriverHooks<D> {
    /// Before sleep, after the card was powered down (stop polling, power the reader
    /// down).
    pub sleep: Option<fn(&mut D)>,
    /// After wake-up: bring the reader back and say whether a card is in it now.
    /// Without a hook, a card the core holds at wake-up (one in before sleep, or
    /// reported since) is taken as present after.
    pub wake: Option<fn(&mut D) -> bool>,
    /// After a vendor IOCTL: a card event the driver made or noticed while serving
    /// it (a virtual reader's test controls, say). The binding reports it to the core
    /// before completing the IRP, so a pending tracking IRP completes first. Not
    /// called while the reader sleeps (the core refuses the IOCTL then, without
    /// calling the driver).
    pub card_change: Option<fn(&mut D) -> Option<CardEvent>>,
}

impl<D> DriverHooks<D> {
    /// No hooks.
    pub const NONE: DriverHooks<D> = DriverHooks {
        sleep: None,
        wake: None,
        card_change: None,
    };
}

/// A control code the driver serves itself, ahead of the core
/// ([`WdmReader::set_driver_control`]): a test or maintenance control that must work
/// whatever the core would answer, even while the reader sleeps (the core refuses
/// vendor requests then, and a callback cannot put its own device to sleep). The
/// sample driver's `IOCTL_VREADER_POWER` drives [`WdmReader::set_system_power`] with
/// it, as a system SET_POWER would.
pub struct DriverControl<R> {
    /// The control code: a vendor one (`SCARD_CTL_CODE(2048..=4095)`, METHOD_BUFFERED,
    /// FILE_ANY_ACCESS); requests with any other code go to the core as before.
    pub code: u32,
    /// Serve it, at PASSIVE_LEVEL in the dispatch routine, outside every lock of the
    /// reader: the reader and the request's input bytes (the system buffer, any
    /// length, untrusted). The IRP completes with the returned status and no output.
    pub serve: fn(&R, &[u8]) -> Status,
}

/// The PnP state of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PnpState {
    /// Added, not yet started.
    NotStarted,
    /// Started: requests are served.
    Started,
    /// `IRP_MN_QUERY_STOP_DEVICE` succeeded.
    StopPending,
    /// Stopped (resource rebalance).
    Stopped,
    /// `IRP_MN_QUERY_REMOVE_DEVICE` succeeded.
    RemovePending,
    /// `IRP_MN_SURPRISE_REMOVAL`: the hardware is gone.
    SurpriseRemoved,
    /// `IRP_MN_REMOVE_DEVICE`.
    Removed,
}

/// Who holds the reader open: the file object of the one handle whose CREATE
/// succeeded. Per file object, so the CLOSE of a handle whose CREATE was refused (Wine
/// hands out such handles; it ignores the create status) undoes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// No handle open.
    Nobody,
    /// Opened through this file object ([`Irp::file_object`]).
    File(usize),
}

/// Largest input copied to the stack; longer inputs go through the scratch buffer.
pub const INLINE_INPUT: usize = 272;

/// What [`WdmReader::dispatch`] did with an IRP.
#[derive(Debug)]
pub enum Dispatch<'a, I, E: Event> {
    /// Completed or pending; return this from the dispatch routine.
    Done(u32),
    /// A power or other IRP: the kernel layer's own business (forwarding down the
    /// stack), under the remove-lock reference [`Held`]: drop it only once the IRP
    /// has been passed down (the extension, the lower device pointer included,
    /// stays until then).
    Forward(I, Held<'a, E>),
}

/// A reader's device extension; see the module documentation.
///
/// `EVENTS` is the core's card-event queue capacity, `SCRATCH` the largest input
/// buffer accepted (an input longer than [`INLINE_INPUT`] is copied to a scratch
/// buffer under the serialization lock, since METHOD_BUFFERED input and output share
/// one system buffer).
pub struct WdmReader<K: Kernel, I: Irp, D, const EVENTS: usize = 8, const SCRATCH: usize = 1024> {
    device: Device<WdmPlatform<K, I>, D, EVENTS>,
    owner: K::Short<Owner>,
    pnp: K::Short<PnpState>,
    hooks: DriverHooks<D>,
    scratch: K::Serial<[u8; SCRATCH]>,
    /// The most this reader logs (see [`crate::trace`]).
    log_level: K::Short<Level>,
    /// The driver's own control, if it has one ([`WdmReader::set_driver_control`]).
    driver_control: Option<DriverControl<Self>>,
}

fn complete_now<I: Irp>(irp: I, io: IoStatus) -> u32 {
    irp.complete(io);
    io.status
}

impl<K: Kernel, I: Irp, D, const EVENTS: usize, const SCRATCH: usize>
    WdmReader<K, I, D, EVENTS, SCRATCH>
{
    /// A reader (not yet started) over the driver's callbacks and context.
    pub fn new(
        functions: ReaderFunctions<D>,
        driver: D,
        reader: ReaderCapabilities,
        vendor: VendorAttributes,
        hooks: DriverHooks<D>,
    ) -> Self {
        WdmReader {
            device: Device::new(WdmPlatform::new(), functions, driver, reader, vendor),
            owner: K::Short::new(Owner::Nobody),
            pnp: K::Short::new(PnpState::NotStarted),
            hooks,
            scratch: K::Serial::new([0; SCRATCH]),
            log_level: K::Short::new(Level::Info),
            driver_control: None,
        }
    }

    /// Serve `control.code` with the driver's own function ahead of the core (before
    /// [`WdmReader::start`]; a second call replaces the first): the request is admitted
    /// as every request is (started, not removed: the remove lock is held while it
    /// runs) and its buffer checked as METHOD_BUFFERED, then `control.serve` runs
    /// instead of [`Device::control`], so the core's rules (the refusal of requests
    /// while asleep among them) do not apply to it, and a failed one is not traced.
    /// Only a vendor code outside PC/SC part 10's range may be taken this way (the
    /// core answers functions 3400..=3655, feature discovery and the PIN pad, with
    /// the driver's vendor callback: [`part10::FUNCTIONS`]); any other code is left
    /// to the core and the answer is `Err(Status::InvalidParameter)`, nothing set.
    pub fn set_driver_control(&mut self, control: DriverControl<Self>) -> Result<(), Status> {
        match Ioctl::from_code(control.code) {
            Some(Ioctl::Vendor(function)) if !part10::FUNCTIONS.contains(&function) => {}
            _ => return Err(Status::InvalidParameter),
        }
        self.driver_control = Some(control);
        Ok(())
    }

    /// Log up to `level` from now on (default [`Level::Info`]: failed requests).
    pub fn set_log_level(&self, level: Level) {
        self.log_level.lock(|l| *l = level);
    }

    /// `Device::control`, logged up to the reader's level: a failed request at info,
    /// every request at debug, with its outcome ([`Device::control_logged`]).
    fn control_logged(&self, code: u32, input: &[u8], output: &mut [u8]) -> Outcome {
        let log = kernel_sink::<K>(self.log_level.lock(|l| *l));
        self.device.control_logged(code, input, output, &log)
    }

    /// Give the reader its PIN pad (before [`WdmReader::start`]): the core then
    /// answers IOCTL_SMARTCARD_GET_FEATURE_REQUEST with PC/SC part 10
    /// `FEATURE_VERIFY_PIN_DIRECT` / `FEATURE_MODIFY_PIN_DIRECT` (control codes
    /// `SCARD_CTL_CODE(3406)` / `(3407)`; use
    /// [`readerkit::ioctl::scard_ctl_code`] as `pad.ctl_code`) and serves them
    /// itself under the serialization lock, with the driver's keypad and TRANSMIT
    /// callbacks.
    pub fn set_pin_pad(&mut self, pad: readerkit::device::PinPad<D>) {
        self.device.set_pin_pad(pad);
    }

    /// The core device (card events: `device().card_inserted()`, ...).
    pub fn device(&self) -> &Device<WdmPlatform<K, I>, D, EVENTS> {
        &self.device
    }

    fn platform(&self) -> &WdmPlatform<K, I> {
        self.device.platform()
    }

    /// The PnP state.
    pub fn pnp_state(&self) -> PnpState {
        self.pnp.lock(|p| *p)
    }

    fn set_pnp(&self, state: PnpState) {
        self.pnp.lock(|p| *p = state);
    }

    /// `true` while a handle is open.
    pub fn is_open(&self) -> bool {
        self.owner.lock(|o| *o != Owner::Nobody)
    }

    /// Dispatch by major function: create, close, cleanup and device control are
    /// handled here; a system `IRP_MN_SET_POWER` is acted on
    /// ([`WdmReader::set_system_power`], at PASSIVE_LEVEL as `DO_POWER_PAGABLE`
    /// devices get it) and handed back to be passed down, as is everything else.
    ///
    /// What keeps the extension alive under each IRP (`IRP_MN_REMOVE_DEVICE` drops
    /// it once [`WdmReader::remove`] returns): create and device control hold a
    /// remove-lock reference while they run, and a pending tracking IRP until it is
    /// completed; a power or other IRP handed back holds one until it has been
    /// passed down ([`Dispatch::Forward`]), so a system SET_POWER's sleep or wake
    /// (the driver's hooks, the card's power-down) never runs on a removed reader,
    /// and one arriving after the removal is completed `STATUS_DELETE_PENDING`, as
    /// every IRP then. Cleanup and close take none: the I/O manager holds a
    /// reference on the device object for every file object until its CLOSE has
    /// returned, and the PnP manager sends `IRP_MN_REMOVE_DEVICE` only once none is
    /// left (a query-remove with a handle still open is vetoed; a surprise removal's
    /// REMOVE_DEVICE waits for the last close). PnP IRPs go through
    /// [`WdmReader::pnp_enter`]; the cancel routine holds a reference of its own
    /// ([`WdmReader::cancel_routine`]). The binding runs no DPC, timer or worker
    /// of its own; a driver that does stops it in its sleep hook or before it
    /// reports the removal.
    pub fn dispatch(&self, irp: I) -> Dispatch<'_, I, K::Event> {
        let major = irp.major();
        match major {
            Major::Create => return Dispatch::Done(self.create(irp)),
            Major::Close => return Dispatch::Done(self.close(irp)),
            Major::Cleanup => return Dispatch::Done(self.cleanup(irp)),
            Major::DeviceControl => return Dispatch::Done(self.device_control(irp)),
            Major::Pnp(_) | Major::Power(_) | Major::Other(_) => {}
        }
        let held = match self.platform().remove_lock.acquire_held() {
            Ok(held) => held,
            Err(_) => {
                return Dispatch::Done(complete_now(
                    irp,
                    IoStatus::status(ntstatus::DELETE_PENDING),
                ));
            }
        };
        if major == Major::Power(mn_power::SET_POWER)
            && let Some(PowerParams::System(state)) = irp.power()
        {
            self.set_system_power(state);
        }
        Dispatch::Forward(irp, held)
    }

    /// Take a remove-lock reference for a request ([`Held`]: given back when
    /// dropped), if the PnP state lets requests in; otherwise the status to
    /// complete it with (and no reference is held).
    /// Sleep is the core's rule, not this one's: while asleep the core answers
    /// the requests that need the reader `STATUS_DEVICE_NOT_READY` itself
    /// ([`Device::suspend`]).
    fn admit(&self) -> Result<Held<'_, K::Event>, u32> {
        let rl = &self.platform().remove_lock;
        let held = rl.acquire_held().map_err(|_| ntstatus::DELETE_PENDING)?;
        let refusal = match self.pnp_state() {
            PnpState::Started => return Ok(held),
            PnpState::SurpriseRemoved | PnpState::Removed => ntstatus::DELETE_PENDING,
            PnpState::NotStarted
            | PnpState::StopPending
            | PnpState::Stopped
            | PnpState::RemovePending => ntstatus::DEVICE_NOT_READY,
        };
        drop(held);
        Err(refusal)
    }

    /// `IRP_MJ_CREATE`: one open handle per reader (`STATUS_ACCESS_DENIED` for a
    /// second), as the smart card resource manager expects. The reader remembers the
    /// file object that opened it; only that file object's CLOSE opens it up again.
    pub fn create(&self, irp: I) -> u32 {
        let held = match self.admit() {
            Ok(held) => held,
            Err(status) => return complete_now(irp, IoStatus::status(status)),
        };
        let file = irp.file_object();
        let status = self.owner.lock(|owner| match owner {
            Owner::Nobody => {
                *owner = Owner::File(file);
                ntstatus::SUCCESS
            }
            Owner::File(_) => ntstatus::ACCESS_DENIED,
        });
        drop(held);
        complete_now(irp, IoStatus::status(status))
    }

    /// `IRP_MJ_CLEANUP`: the handle's user is gone; a pending tracking IRP that came
    /// through this file object completes with `STATUS_CANCELLED`. Served in every PnP
    /// state.
    pub fn cleanup(&self, irp: I) -> u32 {
        self.cancel_tracking_of(irp.file_object());
        complete_now(irp, IoStatus::status(ntstatus::SUCCESS))
    }

    /// `IRP_MJ_CLOSE`: the handle is closed. Its pending tracking IRP, if CLEANUP did
    /// not already cancel it (Wine sends no CLEANUP), completes with
    /// `STATUS_CANCELLED`; if this file object is the one that opened the reader, the
    /// reader can be opened again. The close of a refused open changes nothing else.
    /// Served in every PnP state.
    pub fn close(&self, irp: I) -> u32 {
        let file = irp.file_object();
        self.cancel_tracking_of(file);
        self.owner.lock(|owner| {
            if *owner == Owner::File(file) {
                *owner = Owner::Nobody;
            }
        });
        complete_now(irp, IoStatus::status(ntstatus::SUCCESS))
    }

    /// Cancel the tracking request if it came through the file object `file`.
    fn cancel_tracking_of(&self, file: usize) {
        if self.platform().tracking.held_by(file) {
            self.device.cancel_tracking();
        }
    }

    /// `IRP_MJ_DEVICE_CONTROL`: the IOCTL goes to the core (the driver's own control
    /// code, if set, to the driver instead: [`WdmReader::set_driver_control`]); the
    /// result is completed with `IoStatus = {status, bytes written}`, or the IRP pends
    /// (card tracking).
    pub fn device_control(&self, mut irp: I) -> u32 {
        let held = match self.admit() {
            Ok(held) => held,
            Err(status) => return complete_now(irp, IoStatus::status(status)),
        };
        let platform = self.platform();
        let answer = |held: Held<'_, K::Event>, irp: I, status: u32| {
            drop(held);
            complete_now(irp, IoStatus::status(status))
        };
        let code = irp.ioctl_code();
        let file = irp.file_object();
        let ioctl = Ioctl::from_code(code);
        let data = match buffered(&mut irp) {
            Ok(data) => data,
            Err(BufferError::NotBuffered) => {
                return answer(held, irp, ntstatus::INVALID_DEVICE_REQUEST);
            }
            Err(BufferError::Missing) => return answer(held, irp, ntstatus::INVALID_PARAMETER),
        };
        if let Some(control) = &self.driver_control
            && control.code == code
        {
            let status = (control.serve)(self, &data.buf[..data.input_len]);
            return answer(held, irp, status.to_ntstatus());
        }
        let tracking = matches!(ioctl, Some(Ioctl::IsPresent | Ioctl::IsAbsent));
        if tracking && !platform.tracking.reserve(file) {
            return answer(held, irp, ntstatus::DEVICE_BUSY);
        }
        match self.run(code, data) {
            Outcome::Complete {
                status,
                bytes_written,
            } => {
                if tracking {
                    platform.tracking.unreserve();
                }
                // Not on a sleeping reader: the core refused the request
                // (DeviceNotReady) without calling the driver, and no driver
                // function runs between sleep and wake but the wake hook. Asked
                // under the serialization lock, as the core asks for a request: a
                // suspend that begins after the look waits for the hook to end
                // before its power-down and the sleep hook.
                if let (Some(Ioctl::Vendor(_)), Some(hook)) = (ioctl, self.hooks.card_change)
                    && let Some(event) = self
                        .device
                        .with_driver(|d| if self.device.asleep() { None } else { hook(d) })
                {
                    self.report(event);
                }
                drop(held);
                complete_now(
                    irp,
                    IoStatus {
                        status: status.to_ntstatus(),
                        information: bytes_written,
                    },
                )
            }
            Outcome::Pending => {
                // The remove-lock reference stays with the pending IRP.
                held.keep();
                irp.mark_pending();
                match platform.tracking.park(irp) {
                    Parked::Waiting => {}
                    Parked::Complete(irp, status) => platform.finish(irp, status),
                    Parked::CancelNow => {
                        self.device.cancel_tracking();
                    }
                }
                ntstatus::PENDING
            }
        }
    }

    /// `Device::control` with the input copied out of the system buffer first (it
    /// shares the system buffer with the output): only the bytes the core reads for
    /// this code ([`Request::input_read`]), so an oversized input to a request that
    /// reads none (GET_STATE, an undefined code) is answered, not refused for its size.
    fn run(&self, code: u32, data: Buffered<'_>) -> Outcome {
        let Buffered {
            buf,
            input_len,
            output_len,
        } = data;
        let input_len = Request::input_read(code, input_len);
        if input_len <= INLINE_INPUT {
            let mut copy = [0u8; INLINE_INPUT];
            copy[..input_len].copy_from_slice(&buf[..input_len]);
            return self.control_logged(code, &copy[..input_len], &mut buf[..output_len]);
        }
        if input_len > SCRATCH {
            return Outcome::Complete {
                status: Status::InsufficientResources,
                bytes_written: 0,
            };
        }
        self.scratch.lock(|scratch| {
            scratch[..input_len].copy_from_slice(&buf[..input_len]);
            self.control_logged(code, &scratch[..input_len], &mut buf[..output_len])
        })
    }

    /// The cancel routine for the tracking IRP `id` (call it after
    /// `IoReleaseCancelSpinLock`).
    ///
    /// The routine holds a remove-lock reference of its own while it runs: the IRP's
    /// reference goes when the IRP is completed, which on the `CancelInCore` path may
    /// happen on another thread (an event, `IRP_MN_REMOVE_DEVICE`'s cancel) before
    /// this routine is done with the extension; `release_and_wait` must not return
    /// (and the extension be dropped) under it. The IRP's reference is still held on
    /// entry (only this routine or its `CancelInCore` hand-off can complete an IRP
    /// whose cancel routine `IoCancelIrp` took), so the count cannot be zero here.
    pub fn cancel_routine(&self, id: usize) {
        let platform = self.platform();
        platform.remove_lock.hold();
        match platform.tracking.on_cancel(id) {
            OnCancel::Nothing => {}
            OnCancel::CancelInCore => {
                self.device.cancel_tracking();
            }
            OnCancel::Complete(irp, status) => platform.finish(irp, status),
        }
        platform.remove_lock.release();
    }

    /// `IRP_MN_START_DEVICE`, after the lower driver started the device.
    pub fn start(&self) {
        self.set_pnp(PnpState::Started);
    }

    /// `IRP_MN_QUERY_STOP_DEVICE`: refused (`STATUS_DEVICE_BUSY`) while a handle is
    /// open, as a reader in use cannot give up its resources.
    pub fn query_stop(&self) -> u32 {
        if self.is_open() {
            return ntstatus::DEVICE_BUSY;
        }
        self.set_pnp(PnpState::StopPending);
        ntstatus::SUCCESS
    }

    /// `IRP_MN_CANCEL_STOP_DEVICE` / `IRP_MN_CANCEL_REMOVE_DEVICE`.
    pub fn cancel_stop_or_remove(&self) {
        if matches!(
            self.pnp_state(),
            PnpState::StopPending | PnpState::RemovePending
        ) {
            self.set_pnp(PnpState::Started);
        }
    }

    /// `IRP_MN_STOP_DEVICE`.
    pub fn stop(&self) {
        self.set_pnp(PnpState::Stopped);
        self.device.cancel_tracking();
    }

    /// `IRP_MN_QUERY_REMOVE_DEVICE`: accepted. The smart card service closes its
    /// handle when it is told of the query (device notification); until the remove or
    /// the cancel, new requests get `STATUS_DEVICE_NOT_READY`. (Refusing while a handle
    /// is open would keep a reader the service holds open from ever being disabled.)
    pub fn query_remove(&self) -> u32 {
        self.set_pnp(PnpState::RemovePending);
        ntstatus::SUCCESS
    }

    /// `IRP_MN_SURPRISE_REMOVAL`: the reader is gone. New requests get
    /// `STATUS_DELETE_PENDING` (from the PnP state), the pending tracking IRP completes
    /// with `STATUS_CANCELLED`; handles stay until closed. The remove lock stays open:
    /// PnP IRPs still arrive ([`WdmReader::pnp_enter`]), `IRP_MN_REMOVE_DEVICE` last,
    /// and must be passed down; only [`WdmReader::remove`] closes it.
    pub fn surprise_removal(&self) {
        self.set_pnp(PnpState::SurpriseRemoved);
        self.device.cancel_tracking();
    }

    /// Admit a PnP IRP (the PnP dispatch routine's remove-lock reference): `Ok` until
    /// [`WdmReader::remove`] ran, `Err(STATUS_DELETE_PENDING)` after. Give the
    /// reference back with [`WdmReader::pnp_leave`] (for `IRP_MN_REMOVE_DEVICE`: before
    /// calling [`WdmReader::remove`]).
    pub fn pnp_enter(&self) -> Result<(), u32> {
        self.platform()
            .remove_lock
            .acquire()
            .map_err(|_| ntstatus::DELETE_PENDING)
    }

    /// Give back the reference [`WdmReader::pnp_enter`] took.
    pub fn pnp_leave(&self) {
        self.platform().remove_lock.release();
    }

    /// `IRP_MN_REMOVE_DEVICE`, called without a remove-lock reference (the PnP
    /// dispatch routine gives its own back first): refuse new requests, cancel the
    /// tracking IRP and wait until every request in flight has finished. After this no
    /// IRP runs in the reader; forward the IRP, detach and delete the device.
    pub fn remove(&self) {
        self.set_pnp(PnpState::Removed);
        let rl = &self.platform().remove_lock;
        rl.refuse();
        self.device.cancel_tracking();
        rl.release_and_wait();
    }

    /// `IRP_MN_SET_POWER` for a system power state (`SYSTEM_POWER_STATE`: 1 = S0).
    ///
    /// Going to sleep: [`Device::sleep_with`] the sleep hook ([`Device::suspend`]:
    /// the card, if in, is powered down; if that fails, a card was in; then the
    /// hook); until wake-up the core answers the requests that need the reader
    /// `STATUS_DEVICE_NOT_READY` (the read-only ones are served, a pending tracking
    /// IRP stays pending). Waking: [`Device::wake_with`] the wake hook (it says
    /// whether a card is in now; without one, the card the core holds is taken as
    /// in), then [`Device::resume`] reports a removal and an insertion for a card
    /// that may have been swapped (smclib's sample does the same); a pending
    /// tracking IRP completes. A repeated sleep or wake does nothing. Each
    /// transition, the look at whether the reader sleeps included, is one step
    /// under the core's transition lock: two SET_POWER IRPs at once (the power
    /// manager sends a device's one at a time, but nothing else guarantees it) put
    /// it to sleep or wake it once, and run each hook once, never the sleep hook of
    /// one inside the wake of the other.
    pub fn set_system_power(&self, state: u32) {
        // Called from a dispatch routine, never inside a callback of this reader,
        // so neither is refused busy; the system sleeps whatever the card does (a
        // system SET_POWER cannot fail; the core takes a card whose power-down
        // failed as in).
        if state == crate::irp::POWER_SYSTEM_WORKING {
            let _ = self.device.wake_with(self.hooks.wake);
        } else {
            let _ = self.device.sleep_with(self.hooks.sleep);
        }
    }

    /// A card event for drivers that detect them at PASSIVE_LEVEL: queued and
    /// applied at once (a pending tracking IRP completes). From an interrupt or DPC,
    /// report through [`WdmReader::device`] instead and apply later.
    pub fn report(&self, event: CardEvent) {
        self.device.report(event);
        self.device.process_events();
    }
}
