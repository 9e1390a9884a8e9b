//! `serial:`: a reader chip on a Linux serial port, driven by `readerkit-hal`'s
//! drivers over linux-embedded-hal (feature `linux`).
//!
//! ```text
//! serial:PATH:tda8029[:BAUD][:class=A|B|C][:clock=KHZ]
//! serial:PATH:CHIP:GPIOCHIP:CMDVCC=n,RSTIN=n,OFF=n[,VSEL0=n][,VSEL1=n][,CLKDIV1=n][,CLKDIV2=n][:clock=KHZ][:div=1|2|4|8][:classes=ABC][:echo=0|1]
//! ```
//!
//! * `PATH`: the serial device, an absolute path (`/dev/ttyS0`, `/dev/ttyAMA0`,
//!   `/dev/ttyUSB0`, `/dev/serial/by-path/...`, a pseudo-terminal `/dev/pts/N`). It
//!   may itself contain colons (by-path names do): the path is everything before
//!   the first field that names a chip.
//! * `tda8029`: an NXP TDA8029 (ALPAR protocol, no GPIO) linked 8N1 at `BAUD` bit/s
//!   (default 38 400, the chip's rate after reset); `class` is the card voltage for
//!   power-up (default A, 5 V); `clock` the card clock the chip runs, reported as
//!   the current clock (default 3 686 kHz). The chip must answer
//!   check_presence_card when the reader opens.
//! * `CHIP` = `tda8035`, `tda8024`, `st8024`, `st8024l` or `ncn8025`: a GPIO + UART
//!   interface chip. The UART on `PATH` is the card's I/O line (8E2, even/odd
//!   parity switched by the driver, TX and RX joined: `echo=1`, the default);
//!   `GPIOCHIP` is the GPIO character device (`gpiochip0` = `/dev/gpiochip0`, or an
//!   absolute path), followed by the line offsets of the chip's control pins:
//!   CMDVCC, RSTIN and OFF are required, VSELx and CLKDIVx optional (unwired =
//!   tied on the board). `clock` is the frequency on the chip's XTAL/CLKIN in kHz
//!   (default 4 000), `div` the CLKDIV setting (default 1), `classes` the classes the
//!   board may use (default every class of the chip).
//!
//! A malformed device name is refused with [`Status::NotSupported`] (pcscd sees
//! `IFD_NO_SUCH_DEVICE`); a port or GPIO chip that cannot be opened, or a TDA8029
//! that does not answer, with [`Status::Unsuccessful`] (`IFD_COMMUNICATION_ERROR`).
//!
//! A worker thread polls the chip every [`POLL_INTERVAL`] under the device's
//! serialization lock (ALPAR: unsolicited card insertion/removal frames; GPIO: the
//! OFF pin, debounced) and reports card events to the core.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::line::LineReader;
use readerkit::trace::TracedLine;
use readerkit::{Device, Failure, ReaderFunctions, Status};
use readerkit_hal::alpar;
use readerkit_hal::chip::{Chip, Ncn8025, St8024, St8024L, Tda8024, Tda8035};
use readerkit_hal::interface::Config;
use readerkit_hal::linux::{Framing, LinuxInterface, PinNumbers, PreciseDelay, SerialUart};
use readerkit_hal::{CardEvent, Class};

use readerkit::platform::StdPlatform;

use crate::callbacks::{part10_vendor, tracking_by_watcher};
use crate::host::Host;
use crate::port::Port;
use crate::reader_log::{ReaderLog, TARGET};
use crate::worker::Worker;

pub mod spec;

use spec::{ALPAR_NAME, GpioChip, Spec};

/// `dwMaxAPDUDataSize` of a `serial:` reader: short APDUs (an ALPAR frame carries
/// at most 506 bytes; the T=0 path has no ENVELOPE configured).
pub const MAX_APDU_DATA: u32 = 255;
/// How often the worker looks for card events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a TDA8029 may take to answer a command (the chip times the card).
pub const ALPAR_TIMEOUT_MS: u32 = 3_000;
/// How long the TDA8029 may take to answer check_presence_card when opening.
pub const ALPAR_PROBE_MS: u32 = 1_000;

fn vendor_attributes(kind: &str, index: u32) -> VendorAttributes {
    VendorAttributes::readerkit(format!("serial:{kind}").as_bytes(), index, b"SERIAL0001")
}

/// Open the `serial:` reader `spec` describes, as reader `index` of host `H`. A GPIO + UART
/// reader's line is traced into `log` (decoded at `log=trace`); the TDA8029 runs
/// the protocols in the chip, so only its requests are logged.
pub fn open<H: Host>(
    spec: Spec,
    index: u32,
    log: ReaderLog,
) -> Result<(Arc<dyn Port>, Worker), Status> {
    match spec {
        Spec::Alpar {
            path,
            baud,
            class,
            clock_khz,
        } => open_alpar::<H>(&path, baud, class, clock_khz, index),
        Spec::Gpio {
            path,
            chip,
            gpiochip,
            pins,
            config,
        } => match chip {
            GpioChip::Tda8035 => {
                open_gpio::<H, Tda8035>(&path, &gpiochip, pins, config, index, log)
            }
            GpioChip::Tda8024 => {
                open_gpio::<H, Tda8024>(&path, &gpiochip, pins, config, index, log)
            }
            GpioChip::St8024 => open_gpio::<H, St8024>(&path, &gpiochip, pins, config, index, log),
            GpioChip::St8024L => {
                open_gpio::<H, St8024L>(&path, &gpiochip, pins, config, index, log)
            }
            GpioChip::Ncn8025 => {
                open_gpio::<H, Ncn8025>(&path, &gpiochip, pins, config, index, log)
            }
        },
    }
}

/// The driver context of a `serial:…:tda8029` reader.
pub type AlparReader = alpar::Reader<SerialUart, PreciseDelay>;
/// A `serial:…:tda8029` device.
pub type AlparDevice = Device<StdPlatform, AlparReader>;

fn open_alpar<H: Host>(
    path: &str,
    baud: u32,
    class: Class,
    clock_khz: u32,
    index: u32,
) -> Result<(Arc<dyn Port>, Worker), Status> {
    let uart = open_uart(path, baud, Framing::Alpar)?;
    // Is a TDA8029 there? Ask with a short time-out, then keep the port.
    // ALPAR time-outs are in ms: sleep between polls, never spin.
    let delay = PreciseDelay::with_spin_us(0);
    let mut probe = AlparReader::new(uart, delay, class, ALPAR_PROBE_MS, clock_khz);
    let mut answer = [0u8; alpar::MAX_PAYLOAD];
    let present = match probe.command(alpar::cmd::CHECK_PRESENCE_CARD, &[], &mut answer) {
        Ok(n) => answer[..n] == [0x01],
        Err(status) => {
            log::error!(
                target: TARGET,
                "serial: no TDA8029 answer on {path} at {baud} bit/s: {status}"
            );
            return Err(Status::Unsuccessful);
        }
    };
    let (uart, delay) = probe.release();
    let reader = AlparReader::new(uart, delay, class, ALPAR_TIMEOUT_MS, clock_khz);
    let functions = ReaderFunctions {
        card_tracking: Some(tracking_by_watcher),
        vendor_ioctl: Some(part10_vendor::<H, _, MAX_APDU_DATA>),
        ..AlparReader::functions()
    };
    let device = Arc::new(Device::new(
        StdPlatform::new(),
        functions,
        reader,
        ReaderCapabilities {
            channel: index as u16,
            default_clock_khz: clock_khz,
            max_clock_khz: clock_khz,
            ..ReaderCapabilities::typical()
        },
        vendor_attributes(ALPAR_NAME, index),
    ));
    if present {
        device.card_inserted();
    }
    let worker = spawn_watcher("readerkit-alpar", &device, AlparReader::poll)?;
    Ok((device, worker))
}

/// The driver context of a `serial:` GPIO + UART reader: its line traced into the
/// reader's log.
pub type GpioReader<C> = LineReader<TracedLine<LinuxInterface<C>, ReaderLog>>;

fn open_gpio<H: Host, C: Chip + Send + 'static>(
    path: &str,
    gpiochip: &str,
    pins: PinNumbers,
    config: Config,
    index: u32,
    reader_log: ReaderLog,
) -> Result<(Arc<dyn Port>, Worker), Status> {
    let baud = readerkit::timing::Timing::default_at(config.card_clock_khz()).baud();
    let uart = open_uart(path, baud, Framing::CardLine)?;
    let pins = pins.request(gpiochip, "readerkit").map_err(|e| {
        log::error!(target: TARGET, "serial: GPIO lines on {gpiochip}: {e}");
        Status::Unsuccessful
    })?;
    let iface = LinuxInterface::<C>::new(pins, uart, PreciseDelay::new(), config)?;
    let caps = ReaderCapabilities {
        channel: index as u16,
        ..iface.capabilities()
    };
    let functions = ReaderFunctions {
        vendor_ioctl: Some(part10_vendor::<H, _, MAX_APDU_DATA>),
        ..GpioReader::<C>::functions()
    };
    let device = Arc::new(Device::new(
        StdPlatform::new(),
        functions,
        LineReader::new(TracedLine::new(iface, reader_log)),
        caps,
        vendor_attributes(&C::SPEC.name.to_ascii_lowercase(), index),
    ));
    let worker = spawn_watcher("readerkit-gpio", &device, |r: &mut GpioReader<C>| {
        r.line_mut().line_mut().poll()
    })?;
    Ok((device, worker))
}

/// Open the serial port `path` at `baud` bit/s; one that cannot be opened is
/// logged and [`Status::Unsuccessful`].
fn open_uart(path: &str, baud: u32, framing: Framing) -> Result<SerialUart, Status> {
    SerialUart::open(path, baud, framing).map_err(|e| {
        log::error!(target: TARGET, "serial: cannot open {path}: {e}");
        Status::Unsuccessful
    })
}

/// Start the thread that polls `device`'s chip (`poll` on its driver context, under
/// the serialization lock) every [`POLL_INTERVAL`] and reports each card event
/// until the reader closes; a failing poll is logged once per run of failures.
fn spawn_watcher<D: Send + 'static>(
    name: &str,
    device: &Arc<Device<StdPlatform, D>>,
    poll: impl Fn(&mut D) -> Result<Option<CardEvent>, Failure> + Send + 'static,
) -> Result<Worker, Status> {
    let device = device.clone();
    Worker::spawn(name, move |stop| {
        let mut failing = false;
        while !stop.load(Ordering::Acquire) {
            match device.with_driver(&poll) {
                Ok(Some(event)) => {
                    failing = false;
                    device.report(event);
                    continue;
                }
                Ok(None) => failing = false,
                Err(status) => {
                    if !failing {
                        log::error!(target: TARGET, "serial: polling the chip failed: {status}");
                    }
                    failing = true;
                }
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestHost;

    #[test]
    fn unopenable_hardware_is_a_communication_error() {
        let log = || ReaderLog {
            name: "serial:test".to_owned(),
            level: readerkit::trace::Level::Info,
        };
        // Well-formed, but the port (and GPIO chip) do not exist.
        for spec in [
            "/dev/readerkit-no-such-tty:tda8029",
            "/dev/readerkit-no-such-tty:tda8035:gpiochip99:CMDVCC=17,RSTIN=27,OFF=22",
        ] {
            let spec = spec::parse(spec).unwrap();
            assert_eq!(
                open::<TestHost>(spec, 0, log()).err(),
                Some(Status::Unsuccessful)
            );
        }
    }
}
