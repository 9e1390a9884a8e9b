//! The device side of the USB CCID class (revision 1.1) over the readerkit core.
//!
//! `no_std`, no `alloc`, sans-I/O: a transport (a USB bulk endpoint, the GemPC Twin
//! serial framing of [`twin`], a test) hands a PC_to_RDR message to
//! [`CcidReader::handle`] and sends the RDR_to_PC answer it writes; card movements
//! come out of [`CcidReader::slot_change`] as RDR_to_PC_NotifySlotChange messages.
//! Every command becomes requests on the core's [`Device`](readerkit::Device) of its
//! slot (one device per slot), so the core's validation, serialization lock and
//! card tracking serve CCID unchanged.
//!
//! ```text
//!  bulk-OUT bytes ─► Message::new_checked ─► Command::parse ─┐ refused: bError
//!                                                           ▼
//!  bulk-IN bytes ◄── Answer::emit ◄── CcidReader ─► Device::power_card / select_protocol
//!                                       │            / transmit_apdu / submit
//!                                       └─ TPDU T=1: blocks relayed on the slot's Line
//! ```
//!
//! Transports: [`twin`] (the GemPC Twin serial framing) and, with the `usb`
//! feature, `usb` (a `usb-device` class).
//!
//! The exchange level is the builder's choice ([`ExchangeLevel`]): at the APDU levels
//! the core's T=0 and T=1 engines do the work; at the TPDU level T=0 TPDUs go through
//! the core's T=0 engine and T=1 blocks are relayed to the card as they are
//! (given [`CcidReader::with_line_access`]).

#![no_std]
#![forbid(unsafe_code)]

mod abort;
pub mod answer;
pub mod busy;
pub mod chain;
pub mod command;
pub mod descriptor;
pub mod error;
pub mod firmware_features;
pub mod message;
pub mod more_time;
pub mod notice;
pub mod notify;
pub mod parameters;
pub mod reader;
pub mod secure;
pub mod stop;
pub mod tpdu;
pub mod twin;
#[cfg(feature = "usb")]
pub mod usb;

pub use answer::{Answer, AnswerKind, CommandStatus, IccStatus};
pub use command::Command;
pub use descriptor::ClassDescriptor;
pub use error::SlotError;
pub use message::Message;
pub use notice::Notice;
pub use reader::{CcidReader, Config, EscapeContext, EscapeFn, ExchangeLevel, HandleError};
pub use secure::PinSupport;
