//! # readerkit-card-sim
//!
//! A simulated ISO/IEC 7816-3 smart card, driven byte by byte, for testing reader
//! drivers and the readerkit protocol engines. `#![no_std]`, no allocation, no
//! `unsafe`.
//!
//! The card side is written independently of the `readerkit` engines (ATR, PPS, T=0,
//! T=1): the only things it takes from the core are the ISO/IEC 7816-3 Fi/Di tables.
//! A test of an engine against this card therefore compares two implementations.
//!
//! ## Layers, top down
//!
//! * [`card`]: the card itself, [`card::Card`]. A reader (or a fake UART) powers it
//!   ([`card::Card::power_on`], [`card::Card::warm_reset`], ...), writes the bytes it
//!   sends on the I/O line ([`card::Card::write`]) and reads the bytes the card sends
//!   back ([`card::Card::read`]). The card decides, per phase, what comes back: the
//!   ATR, a PPS answer, T=0 procedure bytes and status words, T=1 blocks.
//! * [`atr`]: card profiles ([`atr::Profile`]) and the ATR they produce.
//! * [`line`](mod@line): the card as the core's `readerkit::line::Line` ([`line::SimLine`]):
//!   what a UART and a card interface chip would give a reader driver, with the
//!   card behind it (the tests', the demo's and the `sim:` reader's line).
//! * [`fault`]: fault injection ([`fault::Faults`]): corrupted or truncated T=1
//!   blocks, wrong sequence numbers, WTX and IFS requests from the card, a mute card,
//!   T=0 parity errors, a card that splits its answers into many 61xx parts, ...
//! * [`app`]: the small ISO/IEC 7816-4 application behind the transmission protocol
//!   (a master file with two transparent EFs, SELECT, READ/UPDATE BINARY, GET
//!   CHALLENGE, VERIFY, CHANGE REFERENCE DATA, ECHO).
//! * [`keypad`]: a scripted PIN pad ([`keypad::ScriptedKeypad`]) for secure PIN
//!   entry tests and demos.
//! * [`apdu`]: the card's own parser of command APDUs (short and extended).
//! * [`edc`]: the T=1 error detection codes (LRC and the ISO/IEC 13239 CRC).
//! * [`slot`]: the cards of a simulated reader's slot by the names readerkit's
//!   tools give them ([`slot::SlotCard`]).
//! * [`stats`]: byte, block and APDU counters and a short APDU log, for wire
//!   efficiency measurements.
//!
//! ## Example
//!
//! ```
//! use readerkit_card_sim::{Card, atr::Profile};
//!
//! let mut card: Card = Card::new(Profile::t0());
//! card.power_on();
//! let mut atr = [0u8; 33];
//! let n = card.read(&mut atr);
//! assert_eq!(&atr[..n], Profile::t0().atr().as_slice());
//!
//! // T=0, GET CHALLENGE of 8 bytes: header, then ACK (INS), data, 90 00.
//! card.write(&[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
//! let mut reply = [0u8; 16];
//! let n = card.read(&mut reply);
//! assert_eq!(n, 1 + 8 + 2);
//! assert_eq!(reply[0], 0x84);
//! assert_eq!(&reply[9..11], &[0x90, 0x00]);
//! ```
//!
//! ## Omitted
//!
//! No T=1 NAD addressing beyond swapping SAD/DAD in answers, no PPS2 (SPU), no
//! specific mode (TA2), no command chaining by CLA bit b5 outside ENVELOPE, no
//! secure messaging, no logical channels, no parity errors on characters the card
//! sends, no clock: time-related events (a character waiting time expiring in the
//! middle of a block) are told to the card with [`card::Card::line_idle`].
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod apdu;
pub mod app;
pub mod atr;
pub mod card;
pub mod edc;
pub mod fault;
pub mod keypad;
pub mod line;
pub mod slot;
pub mod stats;

pub use atr::Profile;
pub use card::{Card, Config, Executed, ParityError};
pub use fault::Faults;
pub use keypad::ScriptedKeypad;
pub use line::SimLine;
pub use slot::SlotCard;
pub use stats::Stats;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExample;

/// The default capacity of a [`Card`]'s command and response buffers, in bytes.
///
/// The command buffer holds a whole command APDU (header and length fields
/// included), so an ECHO with extended lengths carries up to
/// `DEFAULT_CAPACITY - 9` = 4343 bytes of data; the response buffer holds up to
/// `DEFAULT_CAPACITY` bytes of response data. Use `Card<M>` for more (or less).
pub const DEFAULT_CAPACITY: usize = 4096 + 256;
