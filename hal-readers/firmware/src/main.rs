//! Example firmware: the readerkit core and the TDA8035 driver on a Cortex-M4F.
//!
//! Wiring (placeholders at fixed register addresses of an STM32F4-class part; a real
//! board uses its HAL's pins and UART, which implement the same embedded-hal traits):
//!
//! * CMDVCCN, RSTIN, VSEL0, VSEL1 on GPIOB 0..3 (outputs), OFF on GPIOB 4 (input);
//! * the card's I/O line on USART2 (half duplex through the TDA8035's IOUC);
//! * a busy-wait delay at 168 MHz.
//!
//! The main loop polls the slot (debounced presence, faults) and hands events to the
//! core; host requests would come in over USB CCID or a command UART: here a fixed
//! power-up, SET_PROTOCOL and SELECT stand in for them, so every engine (PPS, T=0,
//! T=1) is linked and counted in the size.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal_nb::serial;
use readerkit::caps::VendorAttributes;
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit::{Device, Ioctl};
use readerkit_hal::chip::Tda8035;
use readerkit_hal::interface::{Config, Interface, NoPin, Pins};
use readerkit_hal::{ConfigError, Parity, UartConfig};

const GPIOB: usize = 0x4002_0400;
const USART2: usize = 0x4000_4400;
const CORE_MHZ: u32 = 168;
const PCLK1_HZ: u32 = 42_000_000;

/// One GPIO pin by register access (BSRR to set/reset, IDR to read).
struct Pin(u8);

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
struct Usart;

#[derive(Debug)]
struct UartError(serial::ErrorKind);

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
struct Delay;

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = (u64::from(ns) * u64::from(CORE_MHZ) / 1000) as u32;
        for _ in 0..cycles / 4 {
            core::hint::spin_loop();
        }
    }
}

type Reader =
    LineReader<Interface<Tda8035, Pins<Pin, Pin, Pin, Pin, Pin, NoPin, NoPin>, Usart, Delay>>;

static mut DEVICE: core::mem::MaybeUninit<Device<SpinPlatform, Reader>> =
    core::mem::MaybeUninit::uninit();

fn main() -> ! {
    let pins = Pins {
        cmdvcc: Pin(0),
        rstin: Pin(1),
        status: Pin(4),
        vsel0: Pin(2),
        vsel1: Pin(3),
        clkdiv1: NoPin,
        clkdiv2: NoPin,
    };
    let Ok(iface) = Interface::<Tda8035, _, _, _>::new(pins, Usart, Delay, Config::new(3_580))
    else {
        loop {}
    };
    let caps = iface.capabilities();
    // The device lives in static RAM (.bss), as a firmware keeps it for its
    // interrupt handlers: the size report then counts it.
    // SAFETY: main runs once; nothing else touches DEVICE.
    let dev: &Device<SpinPlatform, Reader> = unsafe {
        (*(&raw mut DEVICE)).write(Device::new(
            SpinPlatform::new(),
            LineReader::functions(),
            LineReader::new(iface),
            caps,
            VendorAttributes::default(),
        ))
    };
    let mut out = [0u8; 300];
    loop {
        if let Ok(Some(event)) = dev.with_driver(|r| r.line_mut().poll()) {
            dev.report(event);
        }
        let _ = dev.control(Ioctl::Power.code(), &1u32.to_le_bytes(), &mut out);
        let _ = dev.control(Ioctl::SetProtocol.code(), &3u32.to_le_bytes(), &mut out);
        let mut input = [0u8; 15];
        input[..4].copy_from_slice(&readerkit_protocol_in_force(dev).to_le_bytes());
        input[4..8].copy_from_slice(&8u32.to_le_bytes());
        input[8..].copy_from_slice(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]);
        let _ = dev.control(Ioctl::Transmit.code(), &input, &mut out);
    }
}

/// The protocol the core selected (T=0 = 1, T=1 = 2), from GET_ATTRIBUTE.
fn readerkit_protocol_in_force(dev: &Device<SpinPlatform, Reader>) -> u32 {
    let mut out = [0u8; 4];
    let tag = readerkit::attr::CURRENT_PROTOCOL_TYPE;
    match dev.control(Ioctl::GetAttribute.code(), &tag.to_le_bytes(), &mut out) {
        readerkit::Outcome::Complete { .. } => u32::from_le_bytes(out),
        readerkit::Outcome::Pending => 0,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

unsafe extern "C" {
    static mut _sbss: u32;
    static mut _ebss: u32;
    static mut _sdata: u32;
    static mut _edata: u32;
    static _sidata: u32;
}

/// Reset handler: zero .bss, copy .data, run main.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reset() -> ! {
    // SAFETY: the linker script defines these symbols, word aligned, with
    // _sbss <= _ebss and _sdata <= _edata; nothing runs before this.
    unsafe {
        let mut p = &raw mut _sbss;
        while p < &raw mut _ebss {
            write_volatile(p, 0);
            p = p.add(1);
        }
        let mut d = &raw mut _sdata;
        let mut s = &raw const _sidata;
        while d < &raw mut _edata {
            write_volatile(d, read_volatile(s));
            d = d.add(1);
            s = s.add(1);
        }
    }
    main()
}

unsafe extern "C" fn default_handler() -> ! {
    loop {}
}

/// The 15 exception vectors after the initial stack pointer (which the linker
/// script writes).
#[unsafe(link_section = ".vector_table.exceptions")]
#[used]
static EXCEPTIONS: [unsafe extern "C" fn() -> !; 15] = [
    reset,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
];
