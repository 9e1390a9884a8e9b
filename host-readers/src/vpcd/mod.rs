//! `vpcd:`: an APDU-level reader speaking vsmartcard's vpcd protocol. It listens
//! for one virtual card at a time (`vicc`, jCardSim, a phone app, ...); the card is
//! present while it is connected.
//!
//! ```text
//! vpcd:PORT[:timeout=SECONDS]
//! vpcd:HOST:PORT[:timeout=SECONDS]
//! ```
//!
//! * `PORT`: the TCP port to listen on, on `127.0.0.1` unless `HOST` names another
//!   address (`0.0.0.0` for every interface, `[::1]` for IPv6).
//! * `timeout=SECONDS` (1 to 86 400): how long the card may take over one whole
//!   message, the command written and its answer read; default 120 s
//!   ([`spec::DEFAULT_DEADLINE`]). A card is waited for as long as it stays
//!   connected, up to this deadline. Power commands and the ATR get at most
//!   [`POWER_DEADLINE`] (a card's ATR is immediate; a longer wait would hold
//!   pcscd's event thread, and pcscd's shutdown with it).
//!
//! Every message either way is a 2-byte big-endian length and that many bytes. A
//! 1-byte message from the reader is a control command: 0 power off, 1 power on,
//! 2 reset, 4 get ATR (answered with the ATR); anything longer is a command APDU,
//! answered with the response APDU.
//!
//! How the reader treats a peer that misbehaves:
//! * a peer that misses a deadline (stalled, or trickling its answer) is dropped:
//!   the exchange fails, the card is reported removed, and the next connection is
//!   a new card;
//! * a message the reader did not ask for (before power-up, a second answer, a
//!   message between commands) is discarded: the answer to a command is the first
//!   message that begins after the command was sent;
//! * a hang-up is reported as a removal the moment it happens, even with bytes
//!   left unread, and before a failed exchange returns;
//! * after a removal the next card waits until pcscd has seen the reader empty (see
//!   the `gate` module), so a card swapped at once is a removal then an insertion,
//!   and the old card's handles get `SCARD_W_REMOVED_CARD`; a command is only ever
//!   sent on the connection that was powered up;
//! * closing the reader (or powering the card down) cuts off an exchange in flight
//!   at once.

pub mod frame;
mod gate;
pub mod inbox;
mod link;
mod listener;
mod monitor;
pub mod spec;
#[allow(unsafe_code)] // poll(2) and FIONREAD: each unsafe block has its SAFETY note.
mod sys;

use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use readerkit::caps::{ReaderCapabilities, ReaderType, VendorAttributes};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::{PowerAction, Request};
use readerkit::timing::Timing;
use readerkit::{Device, Failure, Outcome, ReaderFunctions, Status};

use readerkit::platform::StdPlatform;

use crate::callbacks::{part10_vendor, tracking_by_watcher};
use crate::hook::Hook;
use crate::host::Host;
use crate::port::{AnyDevice, Port};
use crate::reader_log::TARGET;
use crate::worker::Worker;
use gate::{Arm, Gate};
use link::{ConnId, Link, Reply};
use listener::Listener;

pub use frame::MAX_MESSAGE;

/// `dwMaxAPDUDataSize` of a `vpcd:` reader: a whole extended command APDU
/// (7 header bytes, 2 for Le) must fit one message.
pub const MAX_APDU_DATA: u32 = (MAX_MESSAGE - 9) as u32;
/// The longest a power command or the ATR may take (at most the reader's deadline).
pub const POWER_DEADLINE: Duration = Duration::from_secs(1);

const CTRL_OFF: u8 = 0;
const CTRL_ON: u8 = 1;
const CTRL_RESET: u8 = 2;
const CTRL_ATR: u8 = 4;

/// The driver context of a `vpcd:` reader.
#[derive(Debug)]
pub struct Vpcd {
    link: Arc<Link>,
    /// The per-message deadline.
    deadline: Duration,
    /// The connection the core powered up: commands go there and nowhere else.
    powered: Option<ConnId>,
}

/// A `vpcd:` device.
pub type VpcdDevice = Device<StdPlatform, Vpcd>;

impl Vpcd {
    fn by(&self, limit: Duration) -> Instant {
        Instant::now() + self.deadline.min(limit)
    }

    fn power(&mut self, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
        let control = match action {
            PowerAction::PowerDown => {
                return match self.powered.take() {
                    Some(id) => self
                        .link
                        .exchange(id, &[CTRL_OFF], Reply::None, self.by(POWER_DEADLINE))
                        .map(|_| ()),
                    // The powered card is gone: nothing to power down.
                    None => Ok(()),
                };
            }
            PowerAction::ColdReset => CTRL_ON,
            PowerAction::WarmReset => CTRL_RESET,
        };
        self.powered = None;
        let id = self.link.current().ok_or(Failure::NoMedia)?;
        self.link
            .exchange(id, &[control], Reply::None, self.by(POWER_DEADLINE))?;
        let answer =
            self.link
                .exchange(id, &[CTRL_ATR], Reply::Expected, self.by(POWER_DEADLINE))?;
        atr.clear();
        atr.extend_from_slice(&answer)
            .map_err(|_| Failure::UnrecognizedMedia)?;
        self.powered = Some(id);
        Ok(())
    }

    /// The card negotiates nothing over vpcd: the protocol is only recorded.
    fn set_protocol(&mut self, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
        Ok(call.card.timing)
    }

    fn transmit(&mut self, call: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Failure> {
        let id = self.powered.ok_or(Failure::NoMedia)?;
        let answer = self.link.exchange(
            id,
            call.apdu,
            Reply::Expected,
            Instant::now() + self.deadline,
        )?;
        reply
            .get_mut(..answer.len())
            .ok_or(Failure::BufferTooSmall)?
            .copy_from_slice(&answer);
        Ok(answer.len())
    }
}

/// A `vpcd:` reader as its host sees it: the device, with the card-tracking
/// requests and power-downs watched on their way in (see the module documentation).
pub struct VpcdPort {
    device: Arc<VpcdDevice>,
    link: Arc<Link>,
    gate: Arc<Gate>,
}

impl std::fmt::Debug for VpcdPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpcdPort")
            .field("link", &self.link)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

impl VpcdPort {
    /// The device behind the port.
    pub fn device(&self) -> &Arc<VpcdDevice> {
        &self.device
    }
}

impl Port for VpcdPort {
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        match request {
            Request::IsPresent | Request::IsAbsent => {
                if self.gate.arm() == Arm::ReturnNow {
                    return Outcome::Complete {
                        status: Status::Success,
                        bytes_written: 0,
                    };
                }
                let outcome = self.device.submit(request, output);
                self.gate.armed(outcome == Outcome::Pending);
                return outcome;
            }
            // A power-down never waits behind an exchange: pcscd only overlaps them
            // when it tears the reader down, and then the exchange is pointless.
            Request::Power(PowerAction::PowerDown) => self.link.cut_in_flight(),
            _ => {}
        }
        self.device.submit(request, output)
    }
    fn device(&self) -> &dyn AnyDevice {
        &*self.device
    }
    fn cancel_tracking(&self) -> bool {
        self.gate.cancelled();
        self.device.cancel_tracking()
    }
}

/// Open the `vpcd:` reader `parsed` describes (see the module documentation), as
/// reader `index` of host `H`; `name` is its device name (`vpcd:35963`), its name
/// in its vendor attributes. A port that cannot be listened on is
/// [`Status::Unsuccessful`].
pub fn open<H: Host>(
    parsed: &spec::Spec,
    name: &str,
    index: u32,
) -> Result<(Arc<VpcdPort>, Worker), Status> {
    let socket = TcpListener::bind(&parsed.address).map_err(|e| {
        log::error!(target: TARGET, "vpcd: cannot listen on {}: {e}", parsed.address);
        Status::Unsuccessful
    })?;
    let (wake_tx, wake_rx) = UnixStream::pair().map_err(|_| Status::InsufficientResources)?;
    for s in [&wake_tx, &wake_rx] {
        s.set_nonblocking(true).map_err(|_| Status::Unsuccessful)?;
    }
    socket
        .set_nonblocking(true)
        .map_err(|_| Status::Unsuccessful)?;
    let link = Arc::new(Link::default());
    let gate = Arc::new(Gate::default());
    let functions = ReaderFunctions {
        power: Some(Vpcd::power),
        set_protocol: Some(Vpcd::set_protocol),
        transmit: Some(Vpcd::transmit),
        card_tracking: Some(tracking_by_watcher),
        vendor_ioctl: Some(part10_vendor::<H, _, MAX_APDU_DATA>),
        ..ReaderFunctions::NONE
    };
    let device = Arc::new(Device::new(
        StdPlatform::new(),
        functions,
        Vpcd {
            link: link.clone(),
            deadline: parsed.deadline,
            powered: None,
        },
        ReaderCapabilities {
            reader_type: ReaderType::VENDOR,
            channel: index as u16,
            ..ReaderCapabilities::typical()
        },
        VendorAttributes::readerkit(name.as_bytes(), index, b"VPCD0001"),
    ));
    let weak = Arc::downgrade(&device);
    let removed_gate = gate.clone();
    link.set_on_removed(Hook::new(move || {
        // The gate first: the removal may wake pcscd's poll, whose next request
        // must find the removal recorded.
        removed_gate.removed();
        if let Some(device) = weak.upgrade() {
            device.card_removed();
        }
    }));
    let listener = Listener {
        socket,
        link: link.clone(),
        gate: gate.clone(),
        device: device.clone(),
        wake: wake_rx,
    };
    let (wake_link, wake_gate) = (link.clone(), gate.clone());
    let wake = move || {
        wake_link.cut_in_flight();
        wake_gate.stop();
        let _ = std::io::Write::write(&mut &wake_tx, &[1]);
    };
    let worker = Worker::spawn_with_wake("readerkit-vpcd", move |stop| listener.run(stop), wake)?;
    Ok((Arc::new(VpcdPort { device, link, gate }), worker))
}
