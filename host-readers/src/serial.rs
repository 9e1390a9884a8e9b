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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::line::LineReader;
use readerkit::trace::TracedLine;
use readerkit::{Device, Failure, ReaderFunctions, Status};
use readerkit_hal::alpar;
use readerkit_hal::chip::{Chip, ClockDivider, Ncn8025, St8024, St8024L, Tda8024, Tda8035};
use readerkit_hal::interface::Config;
use readerkit_hal::linux::{Framing, LinuxInterface, PinNumbers, PreciseDelay, SerialUart};
use readerkit_hal::{CardEvent, Class, Classes};

use readerkit::platform::StdPlatform;

use crate::callbacks::{part10_vendor, tracking_by_watcher};
use crate::device_name::{self, number};
use crate::host::Host;
use crate::port::Port;
use crate::reader_log::{ReaderLog, TARGET};
use crate::worker::Worker;

/// `dwMaxAPDUDataSize` of a `serial:` reader: short APDUs (an ALPAR frame carries
/// at most 506 bytes; the T=0 path has no ENVELOPE configured).
pub const MAX_APDU_DATA: u32 = 255;
/// How often the worker looks for card events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Default ALPAR link rate (the TDA8029's after reset).
pub const ALPAR_DEFAULT_BAUD: u32 = 38_400;
/// Default card clock reported for a TDA8029, in kHz.
pub const ALPAR_DEFAULT_CLOCK_KHZ: u32 = 3_686;
/// Default crystal frequency of a GPIO + UART chip, in kHz.
pub const GPIO_DEFAULT_CLOCK_KHZ: u32 = 4_000;
/// How long a TDA8029 may take to answer a command (the chip times the card).
pub const ALPAR_TIMEOUT_MS: u32 = 3_000;
/// How long the TDA8029 may take to answer check_presence_card when opening.
pub const ALPAR_PROBE_MS: u32 = 1_000;

/// A GPIO + UART interface chip named in a device name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpioChip {
    /// NXP TDA8035.
    Tda8035,
    /// NXP TDA8024.
    Tda8024,
    /// ST ST8024.
    St8024,
    /// ST ST8024L.
    St8024L,
    /// onsemi NCN8025.
    Ncn8025,
}

impl GpioChip {
    fn from_name(name: &str) -> Option<GpioChip> {
        Some(match name {
            "tda8035" => GpioChip::Tda8035,
            "tda8024" => GpioChip::Tda8024,
            "st8024" => GpioChip::St8024,
            "st8024l" => GpioChip::St8024L,
            "ncn8025" => GpioChip::Ncn8025,
            _ => return None,
        })
    }
}

/// A parsed `serial:` device name (what follows `serial:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A TDA8029 over ALPAR.
    Alpar {
        /// Serial device path.
        path: String,
        /// Link rate, bit/s.
        baud: u32,
        /// Class for power-up.
        class: Class,
        /// Card clock reported, kHz.
        clock_khz: u32,
    },
    /// A GPIO + UART chip.
    Gpio {
        /// Serial device path (the card's I/O line).
        path: String,
        /// The chip.
        chip: GpioChip,
        /// GPIO character device path.
        gpiochip: String,
        /// Control line offsets.
        pins: PinNumbers,
        /// Board settings (crystal, divider, classes, echo).
        config: Config,
    },
}

const ALPAR_NAME: &str = "tda8029";

fn is_chip(field: &str) -> bool {
    field == ALPAR_NAME || GpioChip::from_name(field).is_some()
}

fn in_range(value: u32, min: u32, max: u32) -> Result<u32, Status> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Status::NotSupported)
    }
}

fn class(value: &str) -> Result<Class, Status> {
    match value {
        "A" | "a" => Ok(Class::A),
        "B" | "b" => Ok(Class::B),
        "C" | "c" => Ok(Class::C),
        _ => Err(Status::NotSupported),
    }
}

fn classes(value: &str) -> Result<Classes, Status> {
    let mut set = 0u8;
    for c in value.chars() {
        let bit = class(c.encode_utf8(&mut [0; 4]))?.bit();
        if set & bit != 0 {
            return Err(Status::NotSupported);
        }
        set |= bit;
    }
    if set == 0 {
        return Err(Status::NotSupported);
    }
    Ok(Classes(set))
}

/// Parse what follows `serial:`; see the module documentation. Every malformed
/// spec is [`Status::NotSupported`].
pub fn parse(spec: &str) -> Result<Spec, Status> {
    let fields: Vec<&str> = spec.split(':').collect();
    let at = fields
        .iter()
        .position(|f| is_chip(f))
        .ok_or(Status::NotSupported)?;
    let path = fields[..at].join(":");
    if !path.starts_with('/') || path.len() < 2 || path.contains('\0') {
        return Err(Status::NotSupported);
    }
    let chip = fields[at];
    let rest = &fields[at + 1..];
    if chip == ALPAR_NAME {
        parse_alpar(path, rest)
    } else {
        let chip = GpioChip::from_name(chip).ok_or(Status::NotSupported)?;
        parse_gpio(path, chip, rest)
    }
}

/// `[BAUD][:class=X][:clock=KHZ]`, each at most once (`baud=BAUD` too).
fn parse_alpar(path: String, rest: &[&str]) -> Result<Spec, Status> {
    let (mut baud, options) = match rest {
        [first, options @ ..] if !first.contains('=') => (Some(number(first)?), options),
        options => (None, options),
    };
    let (mut cls, mut clock) = (None, None);
    for (key, value) in device_name::options(options)? {
        match key {
            "baud" if baud.is_none() => baud = Some(number(value)?),
            "class" => cls = Some(class(value)?),
            "clock" => clock = Some(number(value)?),
            _ => return Err(Status::NotSupported),
        }
    }
    Ok(Spec::Alpar {
        path,
        baud: in_range(baud.unwrap_or(ALPAR_DEFAULT_BAUD), 1_200, 4_000_000)?,
        class: cls.unwrap_or(Class::A),
        clock_khz: in_range(clock.unwrap_or(ALPAR_DEFAULT_CLOCK_KHZ), 1_000, 20_000)?,
    })
}

/// `GPIOCHIP:PINS[:clock=KHZ][:div=N][:classes=ABC][:echo=0|1]`.
fn parse_gpio(path: String, chip: GpioChip, rest: &[&str]) -> Result<Spec, Status> {
    let [gpiochip, pin_list, options @ ..] = rest else {
        return Err(Status::NotSupported);
    };
    let gpiochip = if gpiochip.starts_with('/') {
        (*gpiochip).to_owned()
    } else if gpiochip.starts_with("gpiochip")
        && number::<u32>(&gpiochip["gpiochip".len()..]).is_ok()
    {
        format!("/dev/{gpiochip}")
    } else {
        return Err(Status::NotSupported);
    };
    let pins = parse_pins(pin_list)?;
    let mut config = Config::new(GPIO_DEFAULT_CLOCK_KHZ);
    for (key, value) in device_name::options(options)? {
        match key {
            "clock" => config.xtal_khz = in_range(number(value)?, 1_000, 40_000)?,
            "div" => {
                config.divider = match value {
                    "1" => ClockDivider::Div1,
                    "2" => ClockDivider::Div2,
                    "4" => ClockDivider::Div4,
                    "8" => ClockDivider::Div8,
                    _ => return Err(Status::NotSupported),
                }
            }
            "classes" => config.classes = classes(value)?,
            "echo" => {
                config.echo = match value {
                    "0" => false,
                    "1" => true,
                    _ => return Err(Status::NotSupported),
                }
            }
            _ => return Err(Status::NotSupported),
        }
    }
    // ISO/IEC 7816-3: the card clock is 1 to 5 MHz at activation.
    in_range(config.card_clock_khz(), 1_000, 5_000)?;
    Ok(Spec::Gpio {
        path,
        chip,
        gpiochip,
        pins,
        config,
    })
}

/// `CMDVCC=n,RSTIN=n,OFF=n[,VSEL0=n][,VSEL1=n][,CLKDIV1=n][,CLKDIV2=n]`, names in
/// any order, each at most once, no line used twice.
fn parse_pins(list: &str) -> Result<PinNumbers, Status> {
    let mut slots: [Option<u32>; 7] = [None; 7];
    const NAMES: [&str; 7] = [
        "CMDVCC", "RSTIN", "OFF", "VSEL0", "VSEL1", "CLKDIV1", "CLKDIV2",
    ];
    for item in list.split(',') {
        let (name, value) = item.split_once('=').ok_or(Status::NotSupported)?;
        let index = NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .ok_or(Status::NotSupported)?;
        // A GPIO chip has at most a few hundred lines; offsets are u32 in the ABI.
        let offset = in_range(number(value)?, 0, 1023)?;
        if slots[index].replace(offset).is_some() {
            return Err(Status::NotSupported);
        }
    }
    let [cmdvcc, rstin, off, vsel0, vsel1, clkdiv1, clkdiv2] = slots;
    let pins = PinNumbers {
        cmdvcc: cmdvcc.ok_or(Status::NotSupported)?,
        rstin: rstin.ok_or(Status::NotSupported)?,
        off: off.ok_or(Status::NotSupported)?,
        vsel0,
        vsel1,
        clkdiv1,
        clkdiv2,
    };
    if pins.has_duplicates() {
        return Err(Status::NotSupported);
    }
    Ok(pins)
}

fn vendor_attributes(kind: &str, index: u32) -> VendorAttributes {
    VendorAttributes::readerkit(format!("serial:{kind}").as_bytes(), index, b"SERIAL0001")
}

/// Open a `serial:` reader of host `H`; `spec` is what follows `serial:`. A GPIO + UART
/// reader's line is traced into `log` (decoded at `log=trace`); the TDA8029 runs
/// the protocols in the chip, so only its requests are logged.
pub fn open<H: Host>(
    spec: &str,
    index: u32,
    log: ReaderLog,
) -> Result<(Arc<dyn Port>, Worker), Status> {
    match parse(spec)? {
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
    let uart = SerialUart::open(path, baud, Framing::Alpar).map_err(|e| {
        log::error!(target: TARGET, "serial: cannot open {path}: {e}");
        Status::Unsuccessful
    })?;
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
    let dev = device.clone();
    let worker = Worker::spawn("readerkit-alpar", move |stop| {
        watch(&stop, || dev.with_driver(|r| r.poll()), |e| dev.report(e))
    })?;
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
    let uart = SerialUart::open(path, baud, Framing::CardLine).map_err(|e| {
        log::error!(target: TARGET, "serial: cannot open {path}: {e}");
        Status::Unsuccessful
    })?;
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
    let dev = device.clone();
    let worker = Worker::spawn("readerkit-gpio", move |stop| {
        watch(
            &stop,
            || dev.with_driver(|r| r.line_mut().line_mut().poll()),
            |e| dev.report(e),
        )
    })?;
    Ok((device, worker))
}

/// The worker loop: poll for card events until asked to stop; a failing poll is
/// logged once per run of failures.
fn watch(
    stop: &AtomicBool,
    mut poll: impl FnMut() -> Result<Option<CardEvent>, Failure>,
    report: impl Fn(CardEvent),
) {
    let mut failing = false;
    while !stop.load(Ordering::Acquire) {
        match poll() {
            Ok(Some(event)) => {
                failing = false;
                report(event);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestHost;

    #[test]
    fn tda8029_specs() {
        assert_eq!(
            parse("/dev/ttyUSB0:tda8029"),
            Ok(Spec::Alpar {
                path: "/dev/ttyUSB0".into(),
                baud: 38_400,
                class: Class::A,
                clock_khz: ALPAR_DEFAULT_CLOCK_KHZ,
            })
        );
        assert_eq!(
            parse("/dev/pts/7:tda8029:115200:class=B:clock=3579"),
            Ok(Spec::Alpar {
                path: "/dev/pts/7".into(),
                baud: 115_200,
                class: Class::B,
                clock_khz: 3_579,
            })
        );
        // A by-path name with colons in it.
        let Ok(Spec::Alpar { path, .. }) =
            parse("/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0:tda8029:baud=9600")
        else {
            panic!("by-path");
        };
        assert_eq!(
            path,
            "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"
        );
    }

    #[test]
    fn gpio_specs() {
        assert_eq!(
            parse("/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22"),
            Ok(Spec::Gpio {
                path: "/dev/ttyS0".into(),
                chip: GpioChip::Tda8035,
                gpiochip: "/dev/gpiochip0".into(),
                pins: PinNumbers {
                    cmdvcc: 17,
                    rstin: 27,
                    off: 22,
                    vsel0: None,
                    vsel1: None,
                    clkdiv1: None,
                    clkdiv2: None,
                },
                config: Config::new(4_000),
            })
        );
        let spec = "/dev/ttyAMA0:ncn8025:/dev/gpiochip4:off=5,cmdvcc=6,RSTIN=13,VSEL0=19,VSEL1=26,CLKDIV1=20,CLKDIV2=21:clock=8000:div=2:classes=AB:echo=0";
        let Ok(Spec::Gpio {
            chip,
            gpiochip,
            pins,
            config,
            ..
        }) = parse(spec)
        else {
            panic!("{spec}");
        };
        assert_eq!(chip, GpioChip::Ncn8025);
        assert_eq!(gpiochip, "/dev/gpiochip4");
        assert_eq!(
            pins.offsets().collect::<Vec<_>>(),
            [6, 13, 5, 19, 26, 20, 21]
        );
        assert_eq!(config.xtal_khz, 8_000);
        assert_eq!(config.divider, ClockDivider::Div2);
        assert_eq!(config.card_clock_khz(), 4_000);
        assert_eq!(config.classes, Classes::AB);
        assert!(!config.echo);
        for name in ["tda8024", "st8024", "st8024l"] {
            let spec = format!("/dev/ttyS1:{name}:gpiochip1:CMDVCC=1,RSTIN=2,OFF=3");
            assert!(matches!(parse(&spec), Ok(Spec::Gpio { .. })), "{spec}");
        }
    }

    #[test]
    fn malformed_specs_are_refused() {
        for bad in [
            "",
            "tda8029",
            "/dev/ttyUSB0",
            "/dev/ttyUSB0:",
            "ttyUSB0:tda8029",
            "/:tda8029",
            "/dev/ttyUSB0:tda8030",
            "/dev/ttyUSB0:TDA8029",
            "/dev/ttyUSB0:tda8029:0",
            "/dev/ttyUSB0:tda8029:-9600",
            "/dev/ttyUSB0:tda8029:9600:9600",
            "/dev/ttyUSB0:tda8029:baud=9600:baud=9600",
            "/dev/ttyUSB0:tda8029:9600:baud=9600",
            "/dev/ttyUSB0:tda8029:class=B:9600",
            "/dev/ttyUSB0:tda8029:99999999999",
            "/dev/ttyUSB0:tda8029:class=D",
            "/dev/ttyUSB0:tda8029:class=A:class=B",
            "/dev/ttyUSB0:tda8029:clock=5",
            "/dev/ttyUSB0:tda8029:speed=9600",
            "/dev/ttyUSB0:tda8029:0x9600",
            "/dev/ttyS0:tda8035",
            "/dev/ttyS0:tda8035:gpiochip0",
            "/dev/ttyS0:tda8035:gpiochip0:",
            "/dev/ttyS0:tda8035:gpio0:CMDVCC=17,RSTIN=27,OFF=22",
            "/dev/ttyS0:tda8035:gpiochipX:CMDVCC=17,RSTIN=27,OFF=22",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=17,OFF=22",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22,CMDVCC=3",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22,VSEL2=4",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=99999",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17;RSTIN=27;OFF=22",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock=4000:clock=4000",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock=20000",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:clock=4000:div=8",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:div=3",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:classes=",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:classes=AA",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:echo=yes",
            "/dev/ttyS0:tda8035:gpiochip0:CMDVCC=17,RSTIN=27,OFF=22:colour=red",
        ] {
            assert_eq!(parse(bad), Err(Status::NotSupported), "{bad:?}");
        }
    }

    #[test]
    fn unopenable_hardware_is_a_communication_error() {
        let log = || ReaderLog {
            name: "serial:test".to_owned(),
            level: readerkit::trace::Level::Info,
        };
        // Well-formed, but the port (and GPIO chip) do not exist.
        assert_eq!(
            open::<TestHost>("/dev/readerkit-no-such-tty:tda8029", 0, log()).err(),
            Some(Status::Unsuccessful)
        );
        assert_eq!(
            open::<TestHost>(
                "/dev/readerkit-no-such-tty:tda8035:gpiochip99:CMDVCC=17,RSTIN=27,OFF=22",
                0,
                log()
            )
            .err(),
            Some(Status::Unsuccessful)
        );
    }
}
