//! # readerkit-hal
//!
//! `no_std` drivers, generic over embedded-hal 1.0, for the chips custom smart-card
//! reader hardware is built from. With one of them the readerkit core's reader
//! callbacks are complete: core + driver = a working reader.
//!
//! ## Layers
//!
//! * [`chip`]: the GPIO + UART interface chips (NXP TDA8035, TDA8024, ST8024/ST8024L,
//!   onsemi NCN8025) as zero-sized types implementing the sealed [`chip::Chip`] trait:
//!   class-select pin levels, activation and deactivation times, presence debounce.
//! * [`interface`]: one generic driver for that family, [`interface::Interface`]. It
//!   implements the core's [`readerkit::line::Line`], so
//!   `readerkit::line::LineReader<Interface<..>>` supplies the power, SET_PROTOCOL
//!   and TRANSMIT callbacks (PPS, T=0, T=1 from the core's engines). Card presence
//!   and faults come out of [`interface::Interface::poll`] as [`CardEvent`]s, which
//!   [`readerkit::Device::report`] takes.
//! * [`alpar`]: the NXP TDA8029, a complete reader behind a serial protocol (ALPAR):
//!   frame codec with its LRC, the command set, and [`alpar::Reader`], which
//!   implements the core's callbacks directly.
//! * [`keypad`]: a matrix keypad over GPIO (debounced row/column scanning) as the
//!   core's [`readerkit::pin::Keypad`], for PIN-pad readers.
//!
//! ## Traits the drivers are generic over
//!
//! * pins: [`embedded_hal::digital::OutputPin`] / [`embedded_hal::digital::InputPin`];
//! * time: [`embedded_hal::delay::DelayNs`]. Time limits (ATR, WT, CWT, BWT) are
//!   measured by polling the UART and counting the delays between polls: the
//!   effective time-out is never shorter than the nominal one (the time the polls
//!   themselves take is not counted), which is the safe side for every ISO/IEC
//!   7816-3 limit a reader must wait for.
//! * bytes: [`embedded_hal_nb::serial::Read`] / [`embedded_hal_nb::serial::Write`]
//!   (not embedded-io): a non-blocking `read` returning `WouldBlock` is exactly what
//!   time-outs measured by polling need (embedded-io's `read` blocks until a byte
//!   comes), its [`embedded_hal_nb::serial::ErrorKind`] carries `Parity` and
//!   `FrameFormat` (the ISO 7816-3 character errors; embedded-io has no such kinds),
//!   and it is what linux-embedded-hal 0.5 and embedded-hal-mock 0.11 implement.
//!   Baud rate and parity changes are not in any embedded-hal trait: the
//!   [`UartConfig`] trait of this crate asks for them.
//!
//! No HAL crate is named anywhere, except in the module
// The module is only there with the feature: a link to it would be broken without.
#![cfg_attr(feature = "linux", doc = "[`linux`]")]
#![cfg_attr(not(feature = "linux"), doc = "`linux`")]
//! (feature `linux`, std): the adapters from linux-embedded-hal 0.5 (serial port,
//! GPIO character device) and a sub-millisecond delay.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "linux"))]
extern crate std;

pub mod alpar;
pub mod chip;
pub mod interface;
pub mod keypad;
#[cfg(feature = "linux")]
pub mod linux;

pub use chip::{Class, Classes};
pub use interface::Interface;

/// Parity of the UART frame (always 8 data bits and 2 stop bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    /// Even parity: the direct convention.
    Even,
    /// Odd parity: the inverse convention as a plain UART sees it (every bit of the
    /// character, parity included, complemented).
    Odd,
}

/// The UART could not take the requested configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfigError;

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("UART configuration refused")
    }
}

impl core::error::Error for ConfigError {}

/// Reconfiguration of the UART on the card's I/O line, which no embedded-hal trait
/// covers. A firmware implements it over its HAL's UART; a Linux backend over
/// termios (arbitrary rates through `BOTHER`).
pub trait UartConfig {
    /// Switch to `baud_bps` bit/s (= card clock × D / F), 8 data bits, `parity`,
    /// 2 stop bits. Bytes in the receive buffer may be dropped.
    fn configure(&mut self, baud_bps: u32, parity: Parity) -> Result<(), ConfigError>;
}

impl<T: UartConfig + ?Sized> UartConfig for &mut T {
    fn configure(&mut self, baud_bps: u32, parity: Parity) -> Result<(), ConfigError> {
        (**self).configure(baud_bps, parity)
    }
}

/// A change of the card slot seen by a driver: the core's own event, handed to the
/// device with [`readerkit::Device::report`] (never blocks).
pub use readerkit::event::CardEvent;
