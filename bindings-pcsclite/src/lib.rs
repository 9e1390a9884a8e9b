//! `libifd_readerkit.so`: a pcsc-lite IFD handler (API v3) over the readerkit core.
//!
//! pcscd loads the library from a reader.conf entry; the entry's `DEVICENAME` picks
//! the backend:
//!
//! | DEVICENAME | backend |
//! | --- | --- |
//! | `sim:t1`, `sim:t0`, `sim:t0t1`, `sim:t1crc`, `sim:empty` | the simulated card in-process, reached byte by byte through the core's PPS / T=0 / T=1 engines ([`readerkit::line::LineReader`] over [`readerkit_card_sim::SimLine`]) |
//! | `vpcd:PORT`, `vpcd:HOST:PORT`, each optionally `:timeout=SECONDS` | a vpcd-protocol reader listening on 127.0.0.1:PORT (or HOST:PORT) for a virtual card such as vsmartcard's `vicc`; the card is present while one is connected; `timeout` is the per-message deadline, default 120 s (syntax and behaviour in [`backend::vpcd`]) |
//! | `serial:PATH:tda8029[:BAUD]...`, `serial:PATH:CHIP:GPIOCHIP:PINS...` | a reader chip on a serial port: the TDA8029 (ALPAR), or a GPIO + UART interface chip through `readerkit-hal` (syntax in [`backend::serial`]) |
//!
//! Every DEVICENAME takes a trailing `:log=LEVEL` option (`sim:t1:log=trace`): the
//! reader's level in pcscd's log, `READERKIT_LOG` otherwise (see [`trace`]).
//!
//! The binding is thin: every IFDH call becomes one request through
//! [`readerkit::Device::control`] (pcsc-lite's `IFD_*` codes, `SCARD_CTL_CODE`s and
//! protocol numbers are translated at the edge, in [`ifdh`]).
//!
//! ```text
//! pcscd ─ IFDH* (extern "C", catch_unwind) ─ registry (Lun → Reader)
//!                                              └ Device::control ─ backend callbacks
//! ```

pub mod backend;
pub mod ifdh;
mod log;
pub mod part10;
pub mod platform;
pub mod registry;
pub mod trace;

pub use ifdh::*;
