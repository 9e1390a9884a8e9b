//! Std reader devices a host binding serves: the simulated card, a reader chip on
//! a serial port, a vpcd peer.
//!
//! Each reader is a [`readerkit::Device`] on [`readerkit::platform::StdPlatform`]
//! with its own driver context (and, for some, a thread of its own); a host binding
//! (the pcsc-lite IFD handler, a tool) sees it through a [`Port`] and only
//! translates its own calls into the core's requests. A device name picks the
//! reader:
//!
//! | device name | reader |
//! | --- | --- |
//! | `sim:t1`, `sim:t0`, `sim:t0t1`, `sim:t1crc`, `sim:empty` | the simulated card in-process, reached byte by byte through the core's PPS / T=0 / T=1 engines ([`readerkit::line::LineReader`] over [`readerkit_card_sim::SimLine`]); [`sim`] |
//! | `vpcd:PORT`, `vpcd:HOST:PORT`, each optionally `:timeout=SECONDS` | a vpcd-protocol reader listening on 127.0.0.1:PORT (or HOST:PORT) for a virtual card such as vsmartcard's `vicc`; the card is present while one is connected; `timeout` is the per-message deadline, default 120 s (syntax and behaviour in [`vpcd`]) |
//! | `serial:PATH:tda8029[:BAUD]...`, `serial:PATH:CHIP:GPIOCHIP:PINS...` | a reader chip on a serial port (Linux only): the TDA8029 (ALPAR), or a GPIO + UART interface chip through `readerkit-hal` (syntax in `serial`) |
//!
//! Every device name takes a trailing `:log=LEVEL` option (`sim:t1:log=trace`): the
//! reader's level in its log, `READERKIT_LOG` otherwise (see [`reader_log`]).
//!
//! The host decides one thing for its readers, through [`Host`]: the control codes
//! its clients use for vendor functions, which the readers announce in their PC/SC
//! part 10 answers.
//!
//! ```text
//! host binding ─ open::<H>(device name) → Reader { port, log, max_apdu_data }
//!                Port::submit(Request) ─ Device ─ the reader's callbacks
//! ```

#![deny(unsafe_code)]

mod callbacks;
pub mod device_name;
mod hook;
pub mod host;
pub mod port;
pub mod reader;
pub mod reader_log;
#[cfg(target_os = "linux")]
pub mod serial;
pub mod sim;
pub mod vpcd;
pub mod worker;

pub use device_name::DeviceName;
pub use host::Host;
pub use port::{AnyDevice, Port};
pub use reader::{Reader, open};
pub use reader_log::ReaderLog;
pub use worker::Worker;

/// A host for the crate's own tests: Windows control codes, the core's.
#[cfg(test)]
pub(crate) struct TestHost;

#[cfg(test)]
impl Host for TestHost {
    fn ctl_code(function: u16) -> u32 {
        readerkit::ioctl::scard_ctl_code(function)
    }
}
