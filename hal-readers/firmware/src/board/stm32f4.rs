//! The device board: an STM32F4-class Cortex-M4F with a TDA8035 (placeholder
//! register addresses; a real board uses its HAL's pins and UART, which implement
//! the same embedded-hal traits).
//!
//! * CMDVCCN, RSTIN, VSEL0, VSEL1 on GPIOB 0..3 (outputs), OFF on GPIOB 4 (input);
//! * the card's I/O line on USART2 (half duplex through the TDA8035's IOUC);
//! * a busy-wait delay at 168 MHz.
//!
//! After the session the main loop polls the slot (debounced presence, faults) and
//! hands events to the core.

use core::ptr::{read_volatile, write_volatile};

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal_nb::serial;
use readerkit_hal::interface::NoPin;
use readerkit_hal::{ConfigError, Parity, UartConfig};

use crate::rt::StaticCell;
use crate::session::{Probe, Step, Verdict};
use crate::{Dev, poll};

const GPIOB: usize = 0x4002_0400;
const USART2: usize = 0x4000_4400;
const CORE_MHZ: u32 = 168;
const PCLK1_HZ: u32 = 42_000_000;

/// The TDA8035's crystal, in kHz.
pub const XTAL_KHZ: u32 = 3_580;

/// No SVCall handler on this board.
pub const SVCALL: Option<unsafe extern "C" fn()> = None;

/// The host's requests the example stands in for: power-up, SET_PROTOCOL, SELECT.
pub const SCRIPT: &[Step] = &[
    Step::Poll,
    Step::ColdReset,
    Step::SetProtocol(2),
    Step::SelectMf,
];

/// The chip's control pins.
pub type Pins = readerkit_hal::interface::Pins<Pin, Pin, Pin, Pin, Pin, NoPin, NoPin>;

/// CMDVCCN, RSTIN, OFF, VSEL0, VSEL1.
pub fn pins() -> Pins {
    Pins {
        cmdvcc: Pin(0),
        rstin: Pin(1),
        status: Pin(4),
        vsel0: Pin(2),
        vsel1: Pin(3),
        clkdiv1: NoPin,
        clkdiv2: NoPin,
    }
}

/// The UART type.
pub type Uart = Usart;

/// USART2.
pub fn uart() -> Usart {
    Usart
}

/// The busy-wait delay.
pub fn delay() -> Delay {
    Delay
}

/// Entry from the reset handler.
pub fn start() -> ! {
    crate::run()
}

/// A fault: stop.
pub fn fault() -> ! {
    crate::rt::halt()
}

/// A panic: stop.
pub fn panicked(_: &core::panic::PanicInfo) -> ! {
    crate::rt::halt()
}

#[unsafe(link_section = ".host")]
static INPUT: StaticCell<[u8; 15]> = StaticCell::new([0; 15]);
#[unsafe(link_section = ".host")]
static OUTPUT: StaticCell<[u8; 300]> = StaticCell::new([0; 300]);

/// The host's request and answer buffers (in `.host`: the application's RAM, not
/// the driver's).
pub fn host_buffers() -> (&'static mut [u8], &'static mut [u8]) {
    // SAFETY: called once, from `run`; nothing else touches the buffers.
    unsafe { (&mut *INPUT.get(), &mut *OUTPUT.get()) }
}

/// Nothing is measured on the device.
pub struct NoProbe;

impl Probe for NoProbe {
    fn request(
        &mut self,
        _index: usize,
        _step: Step,
        request: &mut dyn FnMut() -> readerkit::Outcome,
    ) -> readerkit::Outcome {
        request()
    }
    fn answered(&mut self, _index: usize, _step: Step, _ok: bool, _answer: &[u8]) {}
}

/// The probe of this board.
pub fn probe() -> NoProbe {
    NoProbe
}

/// After the session: poll the slot forever.
pub fn finish(dev: &Dev, _verdict: Verdict, _probe: NoProbe) -> ! {
    loop {
        poll(dev);
    }
}

/// One GPIO pin by register access (BSRR to set/reset, IDR to read).
pub struct Pin(u8);

impl ErrorType for Pin {
    type Error = core::convert::Infallible;
}

impl OutputPin for Pin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        // SAFETY: BSRR of GPIOB is a write-only register; writing a reset bit only
        // drives this pin.
        unsafe { write_volatile((GPIOB + 0x18) as *mut u32, 1 << (self.0 + 16)) };
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        // SAFETY: as above, the set bit.
        unsafe { write_volatile((GPIOB + 0x18) as *mut u32, 1 << self.0) };
        Ok(())
    }
}

impl InputPin for Pin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        // SAFETY: IDR is read-only.
        Ok(unsafe { read_volatile((GPIOB + 0x10) as *const u32) } & (1 << self.0) != 0)
    }
    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.is_high().map(|h| !h)
    }
}

/// USART2 by register access: SR, DR, BRR, CR1.
pub struct Usart;

/// A receive error of USART2.
#[derive(Debug)]
pub struct UartError(serial::ErrorKind);

impl serial::Error for UartError {
    fn kind(&self) -> serial::ErrorKind {
        self.0
    }
}

impl serial::ErrorType for Usart {
    type Error = UartError;
}

fn reg(offset: usize) -> *mut u32 {
    (USART2 + offset) as *mut u32
}

impl serial::Read<u8> for Usart {
    fn read(&mut self) -> nb::Result<u8, UartError> {
        // SAFETY: SR and DR of USART2; reading DR after SR clears the flags.
        let sr = unsafe { read_volatile(reg(0x00)) };
        if sr & 0x0F != 0 {
            let _ = unsafe { read_volatile(reg(0x04)) };
            let kind = if sr & 1 != 0 {
                serial::ErrorKind::Parity
            } else if sr & 2 != 0 {
                serial::ErrorKind::FrameFormat
            } else if sr & 8 != 0 {
                serial::ErrorKind::Overrun
            } else {
                serial::ErrorKind::Noise
            };
            return Err(nb::Error::Other(UartError(kind)));
        }
        if sr & (1 << 5) == 0 {
            return Err(nb::Error::WouldBlock);
        }
        // SAFETY: as above.
        Ok(unsafe { read_volatile(reg(0x04)) } as u8)
    }
}

impl serial::Write<u8> for Usart {
    fn write(&mut self, word: u8) -> nb::Result<(), UartError> {
        // SAFETY: SR read, DR write of USART2.
        if unsafe { read_volatile(reg(0x00)) } & (1 << 7) == 0 {
            return Err(nb::Error::WouldBlock);
        }
        unsafe { write_volatile(reg(0x04), u32::from(word)) };
        Ok(())
    }
    fn flush(&mut self) -> nb::Result<(), UartError> {
        // SAFETY: SR read of USART2 (TC flag).
        if unsafe { read_volatile(reg(0x00)) } & (1 << 6) == 0 {
            return Err(nb::Error::WouldBlock);
        }
        Ok(())
    }
}

impl UartConfig for Usart {
    fn configure(&mut self, baud_bps: u32, parity: Parity) -> Result<(), ConfigError> {
        if baud_bps == 0 {
            return Err(ConfigError);
        }
        // 9 bits (8 + parity), PCE, PS for odd, TE, RE, UE; 2 stop bits in CR2.
        let ps = if parity == Parity::Odd { 1 << 9 } else { 0 };
        // SAFETY: BRR, CR2, CR1 of USART2.
        unsafe {
            write_volatile(reg(0x0C), 0);
            write_volatile(reg(0x08), PCLK1_HZ.div_ceil(baud_bps));
            write_volatile(reg(0x10), 2 << 12);
            write_volatile(
                reg(0x0C),
                (1 << 13) | (1 << 12) | (1 << 10) | ps | (1 << 3) | (1 << 2),
            );
        }
        Ok(())
    }
}

/// Busy-wait delay.
pub struct Delay;

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = (u64::from(ns) * u64::from(CORE_MHZ) / 1000) as u32;
        for _ in 0..cycles / 4 {
            core::hint::spin_loop();
        }
    }
}
