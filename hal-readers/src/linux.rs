//! Linux adapters (feature `linux`, std): the drivers of this crate over
//! linux-embedded-hal 0.5 — a serial port (`/dev/ttyS0`, `/dev/ttyAMA0`,
//! `/dev/ttyUSB0`, a pseudo-terminal) and GPIO lines of a character device
//! (`/dev/gpiochip0`).
//!
//! * [`SerialUart`]: linux-embedded-hal's [`Serial`] (embedded-hal-nb, non-blocking
//!   reads) plus [`UartConfig`] through the underlying serialport `TTYPort`:
//!   arbitrary rates (termios2 `BOTHER`, so F/D rates like 9 623 bit/s work), 8 data
//!   bits, even or odd parity, 2 stop bits; the receive buffer is emptied.
//! * [`PinNumbers::request`]: the chip's control lines as [`CdevPin`]s in the
//!   driver's [`Pins`]; lines the board ties are [`OptionalPin`]`(None)`.
//! * [`PreciseDelay`]: a [`DelayNs`] that sleeps for the bulk of the time and spins
//!   the last tens of µs, so an etu-sized wait is not stretched to the kernel's
//!   timer slack; never shorter than asked.
//!
//! What Linux serial ports cannot do (see the crate's reference notes, §3.8): with
//! parity checking on, the kernel delivers a character with a parity or framing
//! error as `00` (serialport sets `INPCK` without `PARMRK`), so neither the T=0
//! error signal on the echo nor an inverse-convention TS is *reported*: an
//! inverse-convention card is recognised only if its TS arrives as `03`, and T=0
//! character repetition is not detected (T=1 recovers through its EDC). USB serial
//! adapters deliver bytes in USB frames (1 ms or more), which is well inside every
//! ISO/IEC 7816-3 waiting time but makes guard times only a lower bound.

use core::time::Duration;
use std::string::String;
use std::time::Instant;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal_nb::serial;
pub use linux_embedded_hal::gpio_cdev;
pub use linux_embedded_hal::serialport;
pub use linux_embedded_hal::{CdevPin, CdevPinError, Serial, SerialError};
use serialport::SerialPort;

use crate::interface::{Interface, Pins};
use crate::{ConfigError, Parity, UartConfig};

/// A serial port as the UART of a driver: see the module documentation.
pub struct SerialUart(pub Serial);

impl core::fmt::Debug for SerialUart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SerialUart")
            .field("port", &self.0.0.name())
            .finish_non_exhaustive()
    }
}

/// The character framing of a serial line: always 8 data bits, no flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// A card's I/O line (GPIO + UART chips): even parity, 2 stop bits (8E2).
    CardLine,
    /// A TDA8029's ALPAR link: no parity, 1 stop bit (8N1).
    Alpar,
}

impl Framing {
    fn parity_and_stop_bits(self) -> (serialport::Parity, serialport::StopBits) {
        match self {
            Framing::CardLine => (serialport::Parity::Even, serialport::StopBits::Two),
            Framing::Alpar => (serialport::Parity::None, serialport::StopBits::One),
        }
    }
}

impl SerialUart {
    /// Open `path` at `baud` bit/s (a card line: card clock / 372 after reset; an
    /// ALPAR link: 38 400 after the chip's reset) with `framing`, no flow control,
    /// non-blocking reads. The port is opened exclusively (`TIOCEXCL`).
    pub fn open(path: &str, baud: u32, framing: Framing) -> Result<SerialUart, serialport::Error> {
        let (parity, stop_bits) = framing.parity_and_stop_bits();
        let builder = serialport::new(String::from(path), baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(parity)
            .stop_bits(stop_bits)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::ZERO);
        let port = Serial::open_from_builder(builder)?;
        port.0.clear(serialport::ClearBuffer::All)?;
        Ok(SerialUart(port))
    }

    /// The serialport `TTYPort` underneath (modem lines, break, ...).
    pub fn port(&mut self) -> &mut serialport::TTYPort {
        &mut self.0.0
    }
}

impl serial::ErrorType for SerialUart {
    type Error = SerialError;
}

impl serial::Read<u8> for SerialUart {
    fn read(&mut self) -> nb::Result<u8, SerialError> {
        self.0.read()
    }
}

impl serial::Write<u8> for SerialUart {
    fn write(&mut self, word: u8) -> nb::Result<(), SerialError> {
        self.0.write(word)
    }
    fn flush(&mut self) -> nb::Result<(), SerialError> {
        self.0.flush()
    }
}

impl UartConfig for SerialUart {
    fn configure(&mut self, baud_bps: u32, parity: Parity) -> Result<(), ConfigError> {
        let port = &mut self.0.0;
        let parity = match parity {
            Parity::Even => serialport::Parity::Even,
            Parity::Odd => serialport::Parity::Odd,
        };
        port.set_baud_rate(baud_bps).map_err(|_| ConfigError)?;
        port.set_data_bits(serialport::DataBits::Eight)
            .map_err(|_| ConfigError)?;
        port.set_parity(parity).map_err(|_| ConfigError)?;
        port.set_stop_bits(serialport::StopBits::Two)
            .map_err(|_| ConfigError)?;
        port.clear(serialport::ClearBuffer::Input)
            .map_err(|_| ConfigError)
    }
}

/// A control line the board may tie to a level instead of wiring it to a GPIO:
/// `None` ignores writes.
pub struct OptionalPin(pub Option<CdevPin>);

impl core::fmt::Debug for OptionalPin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.is_some() {
            "OptionalPin(Some(..))"
        } else {
            "OptionalPin(None)"
        })
    }
}

impl PinErrorType for OptionalPin {
    type Error = CdevPinError;
}

impl OutputPin for OptionalPin {
    fn set_low(&mut self) -> Result<(), CdevPinError> {
        match &mut self.0 {
            Some(pin) => pin.set_low(),
            None => Ok(()),
        }
    }
    fn set_high(&mut self) -> Result<(), CdevPinError> {
        match &mut self.0 {
            Some(pin) => pin.set_high(),
            None => Ok(()),
        }
    }
}

/// The [`Pins`] of a chip on GPIO character-device lines.
pub type LinuxPins =
    Pins<CdevPin, CdevPin, CdevPin, OptionalPin, OptionalPin, OptionalPin, OptionalPin>;

/// A GPIO + UART chip `C` on Linux: [`Interface`] over [`LinuxPins`],
/// [`SerialUart`] and [`PreciseDelay`].
pub type LinuxInterface<C> = Interface<C, LinuxPins, SerialUart, PreciseDelay>;

/// Line offsets on one GPIO chip (`/dev/gpiochipN`) for the chip's control pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinNumbers {
    /// CMDVCC / CMDVCCN (output, active low).
    pub cmdvcc: u32,
    /// RSTIN (output).
    pub rstin: u32,
    /// OFF / INT status (input; needs a pull-up on the board).
    pub off: u32,
    /// VSEL0 / 5V3V (output), if wired.
    pub vsel0: Option<u32>,
    /// VSEL1 / 1V8 (output), if wired.
    pub vsel1: Option<u32>,
    /// CLKDIV1 (output), if wired.
    pub clkdiv1: Option<u32>,
    /// CLKDIV2 (output), if wired.
    pub clkdiv2: Option<u32>,
}

impl PinNumbers {
    /// Every line offset in use, in the order of the fields.
    pub fn offsets(&self) -> impl Iterator<Item = u32> + '_ {
        [self.cmdvcc, self.rstin, self.off]
            .into_iter()
            .chain(self.vsel0)
            .chain(self.vsel1)
            .chain(self.clkdiv1)
            .chain(self.clkdiv2)
    }

    /// Whether two pins share a line offset.
    pub fn has_duplicates(&self) -> bool {
        let mut seen = std::vec::Vec::new();
        for offset in self.offsets() {
            if seen.contains(&offset) {
                return true;
            }
            seen.push(offset);
        }
        false
    }

    /// Request the lines from the GPIO character device `chip_path`, labelled
    /// `consumer`: CMDVCC high and every other output low (the idle state), OFF as
    /// an input.
    pub fn request(
        &self,
        chip_path: &str,
        consumer: &str,
    ) -> Result<LinuxPins, gpio_cdev::errors::Error> {
        let mut chip = gpio_cdev::Chip::new(chip_path)?;
        let mut output = |offset: u32, high: bool| -> Result<CdevPin, gpio_cdev::errors::Error> {
            let handle = chip.get_line(offset)?.request(
                gpio_cdev::LineRequestFlags::OUTPUT,
                u8::from(high),
                consumer,
            )?;
            CdevPin::new(handle)
        };
        let cmdvcc = output(self.cmdvcc, true)?;
        let rstin = output(self.rstin, false)?;
        let mut optional = |offset: Option<u32>| -> Result<OptionalPin, gpio_cdev::errors::Error> {
            offset
                .map(|o| output(o, false))
                .transpose()
                .map(OptionalPin)
        };
        let vsel0 = optional(self.vsel0)?;
        let vsel1 = optional(self.vsel1)?;
        let clkdiv1 = optional(self.clkdiv1)?;
        let clkdiv2 = optional(self.clkdiv2)?;
        let status = CdevPin::new(chip.get_line(self.off)?.request(
            gpio_cdev::LineRequestFlags::INPUT,
            0,
            consumer,
        )?)?;
        Ok(Pins {
            cmdvcc,
            rstin,
            status,
            vsel0,
            vsel1,
            clkdiv1,
            clkdiv2,
        })
    }
}

/// A [`DelayNs`] precise to a few µs: `std::thread::sleep` for all but the last
/// [`PreciseDelay::spin_us`] µs (the kernel's default timer slack is 50 µs), then a
/// spin on the monotonic clock. Never returns early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PreciseDelay {
    spin: Duration,
}

impl Default for PreciseDelay {
    fn default() -> Self {
        PreciseDelay::new()
    }
}

impl PreciseDelay {
    /// Sleep, then spin the last 80 µs.
    pub const fn new() -> PreciseDelay {
        PreciseDelay::with_spin_us(80)
    }

    /// Sleep, then spin the last `spin_us` µs (0: sleep only, as linux-embedded-hal's
    /// `Delay`).
    pub const fn with_spin_us(spin_us: u32) -> PreciseDelay {
        PreciseDelay {
            spin: Duration::from_micros(spin_us as u64),
        }
    }

    /// The spin part, in µs.
    pub fn spin_us(&self) -> u32 {
        self.spin.as_micros() as u32
    }

    /// Wait `d`.
    pub fn wait(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        if d > self.spin {
            std::thread::sleep(d - self.spin);
        }
        while Instant::now() < deadline {
            core::hint::spin_loop();
        }
    }
}

impl DelayNs for PreciseDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.wait(Duration::from_nanos(u64::from(ns)));
    }
    fn delay_us(&mut self, us: u32) {
        self.wait(Duration::from_micros(u64::from(us)));
    }
    fn delay_ms(&mut self, ms: u32) {
        self.wait(Duration::from_millis(u64::from(ms)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precise_delay_is_never_short_and_close() {
        let mut delay = PreciseDelay::new();
        for us in [1u32, 20, 93, 250, 1_000, 3_500] {
            let wanted = Duration::from_micros(u64::from(us));
            // Never short, every time. Close: the best of five tries, since any one
            // of them may lose the CPU to another process on a loaded machine.
            let best = (0..5)
                .map(|_| {
                    let start = Instant::now();
                    delay.delay_us(us);
                    let took = start.elapsed();
                    assert!(took >= wanted, "{us} µs took {took:?}");
                    took
                })
                .min()
                .unwrap();
            // Typically a few µs over.
            assert!(
                best < wanted + Duration::from_millis(20),
                "{us} µs: best of 5 took {best:?}"
            );
        }
        let start = Instant::now();
        delay.delay_ns(500);
        assert!(start.elapsed() >= Duration::from_nanos(500));
    }

    #[test]
    fn tied_pins_ignore_writes() {
        let mut pin = OptionalPin(None);
        assert!(pin.set_high().is_ok());
        assert!(pin.set_low().is_ok());
    }

    #[test]
    fn pin_numbers_list_offsets_and_find_duplicates() {
        let pins = PinNumbers {
            cmdvcc: 17,
            rstin: 27,
            off: 22,
            vsel0: Some(23),
            vsel1: None,
            clkdiv1: None,
            clkdiv2: Some(24),
        };
        assert_eq!(
            pins.offsets().collect::<std::vec::Vec<_>>(),
            [17, 27, 22, 23, 24]
        );
        assert!(!pins.has_duplicates());
        assert!(
            PinNumbers {
                vsel1: Some(17),
                ..pins
            }
            .has_duplicates()
        );
    }

    #[test]
    fn missing_gpio_chip_is_an_error_not_a_panic() {
        let pins = PinNumbers {
            cmdvcc: 0,
            rstin: 1,
            off: 2,
            vsel0: None,
            vsel1: None,
            clkdiv1: None,
            clkdiv2: None,
        };
        assert!(
            pins.request("/dev/readerkit-no-such-gpiochip", "test")
                .is_err()
        );
    }

    #[test]
    fn missing_serial_port_is_an_error() {
        assert!(SerialUart::open("/dev/readerkit-no-such-tty", 9_600, Framing::CardLine).is_err());
        assert!(SerialUart::open("/dev/readerkit-no-such-tty", 38_400, Framing::Alpar).is_err());
    }
}
