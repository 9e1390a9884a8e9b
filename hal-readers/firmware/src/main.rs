//! Example firmware: the readerkit core, its engines (PPS, T=0, T=1) and the
//! TDA8035 driver on a Cortex-M4F, built for two boards from the same code:
//!
//! * the device (default): an STM32F401, `board/stm32f4.rs`, a USB CCID reader
//!   (stm32f4xx-hal's OTG FS driver under usb-device, the CCID port of
//!   `readerkit-ccid`, which hears the host while a command runs) that a PC's
//!   own CCID class driver uses; its size is what `size-check.sh` measures;
//! * QEMU's `mps2-an386` (feature `qemu`), `board/mps2.rs`: the simulated card
//!   behind a simulated TDA8035 stands on the card line. By default a scripted
//!   session of host requests is printed on the console, the stacks are measured
//!   and the verdict is QEMU's exit status (`tools/qemu-firmware.sh` runs it);
//!   with feature `ccid` the same CCID reader is served over UART0 with the GemPC
//!   Twin serial framing (`tools/qemu-firmware.sh ccid`), so Debian's pcscd and
//!   `libccidtwin.so` drive the firmware.
//!
//! ```text
//! host (USB CCID, GemPC Twin serial, or the script) ─► Device ─► LineReader
//!     ─► Interface<Tda8035> ─► board pins + UART
//! ```
#![no_std]
#![no_main]

#[cfg_attr(feature = "qemu", path = "board/mps2.rs")]
#[cfg_attr(not(feature = "qemu"), path = "board/stm32f4.rs")]
mod board;
mod ccid;
mod rt;
#[cfg(not(feature = "qemu"))]
use board as host;
/// Where the card line's callbacks go: the serial reader on QEMU, the USB
/// reader on the device.
#[cfg(all(feature = "qemu", feature = "ccid"))]
use ccid as host;
#[cfg(all(feature = "qemu", not(feature = "ccid")))]
mod session;

use readerkit::Device;
use readerkit::caps::VendorAttributes;
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit_hal::chip::Tda8035;
use readerkit_hal::interface::{Config, Interface};

/// The chip driver over the board's pins and UART.
pub type Chip = Interface<Tda8035, board::Pins, board::Uart, board::Delay>;
/// The card line of the scripted session: the chip driver itself.
#[cfg(all(feature = "qemu", not(feature = "ccid")))]
pub type CardLine = Chip;
/// The card line of a CCID reader: the chip driver, deaf once the host aborts
/// the command running, watched for the card's requests for more time
/// (`host::stopping`, `host::more_time`: the reader keeps listening to the host
/// while a command runs).
#[cfg(any(not(feature = "qemu"), feature = "ccid"))]
pub type CardLine = readerkit_ccid::more_time::WatchedLine<
    readerkit_ccid::stop::StoppableLine<Chip, fn() -> bool>,
    fn(readerkit_ccid::more_time::MoreTime),
>;
/// The reader: the line driver over the card line.
pub type Reader = LineReader<CardLine>;
/// The device.
pub type Dev = Device<SpinPlatform, Reader>;

static DEVICE: rt::StaticCell<core::mem::MaybeUninit<Dev>> =
    rt::StaticCell::new(core::mem::MaybeUninit::uninit());

/// The firmware, after the board's start-up: the USB CCID reader, served
/// forever.
#[cfg(not(feature = "qemu"))]
pub fn run() -> ! {
    board::serve(install())
}

/// The firmware, after the board's start-up: the CCID reader, served forever.
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub fn run() -> ! {
    let dev = install();
    let mut meter = board::meter();
    ccid::serve_serial(dev, &mut board::host_port(), &mut meter)
}

/// The firmware, after the board's start-up: the scripted session.
#[cfg(all(feature = "qemu", not(feature = "ccid")))]
pub fn run() -> ! {
    let dev = install();
    let mut probe = board::probe();
    let (input, output) = board::host_buffers();
    let verdict = session::run(dev, board::SCRIPT, input, output, &mut probe, &mut poll);
    board::finish(dev, verdict, probe)
}

/// The chip driver, the line reader and the device, built into `DEVICE`. Out of
/// line, so that the values built on the way (moved into place) are off the stack
/// once it returns.
#[inline(never)]
fn install() -> &'static Dev {
    let Ok(iface) = Interface::<Tda8035, _, _, _>::new(
        board::pins(),
        board::uart(),
        board::delay(),
        Config::new(board::XTAL_KHZ),
    ) else {
        board::fault()
    };
    let caps = ccid::capabilities(iface.capabilities());
    // The device lives in static RAM (.bss), as a firmware keeps it for its
    // interrupt handlers: the size report then counts it.
    // SAFETY: install is called once; nothing else touches DEVICE.
    unsafe {
        (*DEVICE.get()).write(Device::new(
            SpinPlatform::new(),
            LineReader::functions(),
            LineReader::new(card_line(iface)).with_t0_envelope(),
            caps,
            VendorAttributes::default(),
        ))
    }
}

/// The card line over the chip driver.
#[cfg(all(feature = "qemu", not(feature = "ccid")))]
fn card_line(chip: Chip) -> CardLine {
    chip
}

/// The card line over the chip driver.
#[cfg(any(not(feature = "qemu"), feature = "ccid"))]
fn card_line(chip: Chip) -> CardLine {
    use readerkit_ccid::more_time::WatchedLine;
    use readerkit_ccid::stop::StoppableLine;
    WatchedLine::new(
        StoppableLine::new(chip, host::stopping as fn() -> bool),
        host::more_time as fn(_),
    )
}

/// The chip driver under the card line.
#[cfg(all(feature = "qemu", not(feature = "ccid")))]
fn chip_of(line: &mut CardLine) -> &mut Chip {
    line
}

/// The chip driver under the card line.
#[cfg(any(not(feature = "qemu"), feature = "ccid"))]
fn chip_of(line: &mut CardLine) -> &mut Chip {
    line.inner_mut().inner_mut()
}

/// One look at the slot: an insertion, removal or fault goes to the device.
pub fn poll(dev: &Dev) {
    if let Ok(Some(event)) = dev.with_driver(|r| chip_of(r.line_mut()).poll()) {
        dev.report(event);
    }
}
