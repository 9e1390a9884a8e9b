//! # readerkit
//!
//! A portable smart-card reader driver library: what the Windows smart card driver
//! library (smclib) does for a WDM reader driver, for any operating system, in
//! `no_std` Rust without allocation.
//!
//! ## Layers, top down
//!
//! * [`device`]: the single entry point. A reader driver hands every request
//!   (an IOCTL code, an input buffer and an output buffer) to [`device::Device::control`],
//!   which validates it, answers what the library can answer itself, calls the
//!   driver's callback ([`device::ReaderFunctions`]) for the rest, one callback at a
//!   time, and returns [`device::Outcome`].
//! * [`event`] and [`tracking`]: card insertion and removal arrive asynchronously
//!   (from interrupt context, another thread) through a fixed-size lock-free queue and
//!   complete the pending card-tracking request.
//! * [`platform`]: the little the library needs from the operating system, namely
//!   locks and the completion of a pending tracking request.
//! * [`ioctl`], [`attr`], [`state`], [`protocol`], [`status`]: the request model: the
//!   IOCTL codes and checked views of their buffers, attribute tags, reader states,
//!   protocols and statuses with their NTSTATUS / `IFD_*` / `SCARD_*` mappings.
//! * [`atr`], [`timing`], [`pps`], [`t0`], [`t1`]: ISO/IEC 7816-3, as sans-I/O state
//!   machines: the engine says what to send and how long to wait; the driver does the
//!   I/O and feeds the card's bytes back.
//! * [`line`](mod@line): [`line::Line`], a card's byte-level I/O line (reset, send, receive
//!   within µs limits, set timing), and [`line::LineReader`], the power,
//!   SET_PROTOCOL and TRANSMIT callbacks written once over any `Line`.
//! * [`caps`]: reader, vendor and card capabilities; [`apdu`] and [`sw`]: command
//!   APDUs and status words.
//! * [`pin`] and [`part10`]: secure PIN entry on a reader's keypad and the PC/SC
//!   part 10 features every binding answers the same way.
//! * [`trace`]: protocol traces and request logs, every line bounded.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)
)]

#[cfg(any(test, feature = "std", loom))]
extern crate std;

pub mod apdu;
pub mod atr;
pub mod attr;
pub mod caps;
pub mod device;
pub mod event;
pub mod ioctl;
pub mod line;
pub mod part10;
pub mod pin;
pub mod platform;
pub mod protocol;
pub mod state;
pub mod trace;
pub mod tracking;

pub mod pps;
pub mod status;
pub mod sw;
mod sync;
pub mod t0;
pub mod t1;
pub mod timing;

pub use device::{Device, Outcome, ReaderFunctions};
pub use ioctl::Ioctl;
pub use protocol::{Protocol, ProtocolMask};
pub use state::CardState;
pub use status::{Failure, Status};
