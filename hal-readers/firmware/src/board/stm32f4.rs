//! The device board: an STM32F401 (Cortex-M4F, 256 KiB flash, 64 KiB RAM) with a
//! TDA8035, a USB CCID reader any PC uses with its own class driver.
//!
//! * Clocks: 25 MHz HSE crystal, 84 MHz core, 42 MHz APB1, the 48 MHz USB clock
//!   (stm32f4xx-hal's RCC);
//! * USB: the OTG FS peripheral on PA11/PA12, its usb-device bus driver
//!   (stm32f4xx-hal `otg_fs`, synopsys-usb-otg), the CCID class of
//!   `readerkit-ccid` at the short APDU level;
//! * the chip: CMDVCCN, RSTIN, VSEL0, VSEL1 on PB0..PB3 (push-pull outputs, CMDVCCN
//!   high at reset), OFF on PB4 (input, pulled up);
//! * the card's I/O line on USART2 TX (PA2, open drain, single-wire half duplex
//!   through the TDA8035's IOUC: every character sent is also received);
//! * a busy-wait delay at the core clock.
//!
//! The main loop polls the USB device, the slot (debounced presence, faults, handed
//! to the core) and runs the commands the CCID interface (`usb::port::CcidPort`)
//! admits; while one runs, the card line's waits (the delay) poll the bus, so
//! another command gets CMD_SLOT_BUSY, the card's requests for more time go out
//! as time extensions and ABORT stops the command (the line goes deaf).

use core::mem::MaybeUninit;

use embedded_hal::delay::DelayNs;
use embedded_hal_nb::serial;
use readerkit::device::DEFAULT_EVENT_CAPACITY;
use readerkit::platform::SpinPlatform;
use readerkit_ccid::CcidReader;
use readerkit_ccid::message;
use readerkit_ccid::more_time::MoreTime;
use readerkit_ccid::reader::{Config as CcidConfig, ExchangeLevel};
use readerkit_ccid::usb::port::{CcidPort, Task};
use readerkit_hal::interface::NoPin;
use readerkit_hal::{ConfigError, Parity, UartConfig};
use stm32f4xx_hal::gpio::{Input, Output, PB0, PB1, PB2, PB3, PB4, PinState};
use stm32f4xx_hal::otg_fs::{USB, UsbBus};
use stm32f4xx_hal::pac;
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::{Config as RccConfig, Enable, Reset};
use usb_device::bus::UsbBusAllocator;
use usb_device::device::{StringDescriptors, UsbDevice, UsbDeviceBuilder, UsbVidPid};

use crate::rt::StaticCell;
use crate::{Dev, Reader, poll};

const CORE_MHZ: u32 = 84;
const PCLK1_HZ: u32 = 42_000_000;

/// The TDA8035's crystal, in kHz.
pub const XTAL_KHZ: u32 = 3_580;

/// No SVCall handler on this board.
pub const SVCALL: Option<unsafe extern "C" fn()> = None;

/// pid.codes' test VID/PID (<https://pid.codes/1209/0001/>): a product takes its
/// own.
const VID_PID: UsbVidPid = UsbVidPid(0x1209, 0x0001);

/// The longest CCID message either way, in bytes (short APDUs: 10 + 261).
const MAX_MESSAGE: usize = message::SHORT_APDU_MESSAGE_LEN;

/// Largest bulk packet at full speed, in bytes.
const BULK_PACKET: u16 = 64;

/// The chip's control pins.
pub type Pins = readerkit_hal::interface::Pins<
    PB0<Output>,
    PB1<Output>,
    PB4<Input>,
    PB2<Output>,
    PB3<Output>,
    NoPin,
    NoPin,
>;

type Bus = UsbBus<USB>;
type Port = CcidPort<'static, Bus, [Dev], MAX_MESSAGE>;
type Ccid = CcidReader<'static, SpinPlatform, Reader, DEFAULT_EVENT_CAPACITY>;

/// What start-up made of the peripherals, taken by `pins` and `serve`.
struct Parts {
    pins: Option<Pins>,
    usb: Option<USB>,
}

static PARTS: StaticCell<Parts> = StaticCell::new(Parts {
    pins: None,
    usb: None,
});

/// The USB OTG FS peripheral's receive FIFO buffer (OUT packets: control and
/// bulk, 64 bytes each, with room for the setup packets).
static EP_MEMORY: StaticCell<[u32; 64]> = StaticCell::new([0; 64]);
static USB_BUS: StaticCell<MaybeUninit<UsbBusAllocator<Bus>>> =
    StaticCell::new(MaybeUninit::uninit());
static PORT: StaticCell<MaybeUninit<Port>> = StaticCell::new(MaybeUninit::uninit());
static READER: StaticCell<MaybeUninit<Ccid>> = StaticCell::new(MaybeUninit::uninit());
/// The runner's message and answer (the port keeps its own pair).
static RUNNER: StaticCell<[[u8; MAX_MESSAGE]; 2]> = StaticCell::new([[0; MAX_MESSAGE]; 2]);
/// A command runs: the delay polls the bus.
static RUNNING: StaticCell<bool> = StaticCell::new(false);
static USB_DEVICE: StaticCell<MaybeUninit<UsbDevice<'static, Bus>>> =
    StaticCell::new(MaybeUninit::uninit());

/// Entry from the reset handler: clocks, pins, USART2 and USB set up, then the
/// firmware.
pub fn start() -> ! {
    let Some(dp) = pac::Peripherals::take() else {
        fault()
    };
    let mut rcc = dp.RCC.freeze(
        RccConfig::hse(25.MHz())
            .sysclk(84.MHz())
            .pclk1(42.MHz())
            .require_pll48clk(),
    );
    let gpioa = dp.GPIOA.split(&mut rcc);
    let gpiob = dp.GPIOB.split(&mut rcc);
    let pins = Pins {
        cmdvcc: gpiob.pb0.into_push_pull_output_in_state(PinState::High),
        rstin: gpiob.pb1.into_push_pull_output_in_state(PinState::Low),
        status: gpiob.pb4.into_pull_up_input(),
        vsel0: gpiob.pb2.into_push_pull_output(),
        vsel1: gpiob.pb3.into_push_pull_output(),
        clkdiv1: NoPin,
        clkdiv2: NoPin,
    };
    // The card's I/O line: USART2 TX, open drain (the TDA8035 pulls IOUC up).
    let _io = gpioa.pa2.into_alternate_open_drain::<7>();
    pac::USART2::enable(&mut rcc);
    pac::USART2::reset(&mut rcc);
    let usb = USB::new(
        (dp.OTG_FS_GLOBAL, dp.OTG_FS_DEVICE, dp.OTG_FS_PWRCLK),
        (gpioa.pa11, gpioa.pa12),
        &rcc.clocks,
    );
    // SAFETY: start runs once, before anything reads PARTS.
    unsafe {
        *PARTS.get() = Parts {
            pins: Some(pins),
            usb: Some(usb),
        };
    }
    crate::run()
}

/// CMDVCCN, RSTIN, OFF, VSEL0, VSEL1.
pub fn pins() -> Pins {
    // SAFETY: called once, from `install`, after `start` filled PARTS.
    match unsafe { (*PARTS.get()).pins.take() } {
        Some(pins) => pins,
        None => fault(),
    }
}

/// Serve the CCID reader over USB, forever.
pub fn serve(dev: &'static Dev) -> ! {
    set_up_usb(dev);
    // SAFETY: set_up_usb wrote READER; only this loop uses it and RUNNER.
    let reader = unsafe { (*READER.get()).assume_init_mut() };
    let [message, answer] = unsafe { &mut *RUNNER.get() };
    let mut note = [0u8; 4];
    let mut pending_note = None;
    loop {
        poll_bus();
        poll(dev);
        match port(|p| p.take(message)) {
            Some(Task::Command(command)) => {
                // SAFETY: single thread; read by the delay only.
                unsafe { *RUNNING.get() = true };
                // `take` hands over a message with a header and `answer` holds
                // MAX_MESSAGE bytes: `respond` cannot fail.
                let n = reader.respond(&command, answer);
                // SAFETY: as above: single thread; read by the delay only.
                unsafe { *RUNNING.get() = false };
                while !port(|p| p.finish(answer, n)) {
                    poll_bus();
                }
            }
            // A class ABORT (for the reader to pair with its
            // PC_to_RDR_Abort, CCID 1.1 §5.3.1) or the host gone.
            Some(Task::Notice(notice)) => reader.hear(notice),
            None => {}
        }
        if pending_note.is_none() {
            pending_note = reader.slot_change(&mut note);
        }
        if let Some(n) = pending_note {
            if port(|p| p.notify(&note[..n])) {
                pending_note = None;
            }
        }
    }
}

/// Run `f` on the CCID port (never across a command: the delay takes it too).
fn port<R>(f: impl FnOnce(&mut Port) -> R) -> R {
    // SAFETY: set_up_usb wrote PORT before anything calls this; single thread,
    // and the reference ends before `f` returns.
    f(unsafe { (*PORT.get()).assume_init_mut() })
}

/// Poll the USB device with the CCID port, then let the port decide about a
/// message that came (CMD_SLOT_BUSY, ABORT).
fn poll_bus() {
    // SAFETY: set_up_usb wrote USB_DEVICE; single thread, the reference ends here.
    let usb = unsafe { (*USB_DEVICE.get()).assume_init_mut() };
    port(|p| {
        usb.poll(&mut [&mut *p]);
        p.service();
    });
}

/// The card line's `stopping`: `true` once an ABORT stops the command running.
pub fn stopping() -> bool {
    port(|p| p.stopping())
}

/// The CCID reader's exchange level (its configuration has no Escape, so it
/// stays).
const LEVEL: ExchangeLevel = ExchangeLevel::ShortApdu;

/// The card line's report of a request for more time: a time extension for the
/// command running where [`MoreTime::time_extension`] says the host is asked
/// (always, at the APDU [`LEVEL`]).
pub fn more_time(more: MoreTime) {
    if let Some(multiplier) = more.time_extension(LEVEL) {
        port(|p| p.time_extension(multiplier));
    }
}

/// The USB bus, the CCID class over `dev` and the USB device, built into their
/// statics. Out of line, so that the values built on the way (moved into place)
/// are off the stack once it returns.
#[inline(never)]
fn set_up_usb(dev: &'static Dev) {
    let config = CcidConfig {
        level: LEVEL,
        ..CcidConfig::short_apdu()
    };
    let Ok(reader) = CcidReader::new(core::slice::from_ref(dev), config) else {
        fault()
    };
    // SAFETY: called once, from `serve`; PARTS, EP_MEMORY, USB_BUS, READER, PORT
    // and USB_DEVICE are touched nowhere else before, and each is written before
    // it is borrowed for 'static.
    unsafe {
        let Some(usb) = (*PARTS.get()).usb.take() else {
            fault()
        };
        let bus: &'static UsbBusAllocator<Bus> =
            (*USB_BUS.get()).write(UsbBus::new(usb, &mut *EP_MEMORY.get()));
        let reader = (*READER.get()).write(reader);
        let Ok(port) = CcidPort::new(bus, reader, BULK_PACKET) else {
            fault()
        };
        (*PORT.get()).write(port);
        let Ok(builder) =
            UsbDeviceBuilder::new(bus, VID_PID).strings(&[StringDescriptors::default()
                .manufacturer("readerkit")
                .product("readerkit CCID reader")
                .serial_number("0001")])
        else {
            fault()
        };
        (*USB_DEVICE.get()).write(builder.build());
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

/// A fault: stop.
pub fn fault() -> ! {
    crate::rt::halt()
}

/// A panic: stop.
pub fn panicked(_: &core::panic::PanicInfo) -> ! {
    crate::rt::halt()
}

/// USART2 through the PAC's registers: SR, DR, BRR, CR1, CR2, CR3 (clock and pin
/// set up by `start`). Its baud rate and parity change with the card's F, D and
/// protocol, which the HAL's serial driver does not offer at run time.
pub struct Usart;

fn usart2() -> &'static pac::usart1::RegisterBlock {
    // SAFETY: the register block is memory-mapped for the whole run; only `Usart`
    // uses it after start-up.
    unsafe { &*pac::USART2::ptr() }
}

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

impl serial::Read<u8> for Usart {
    fn read(&mut self) -> nb::Result<u8, UartError> {
        // Reading DR after SR clears the error flags.
        let sr = usart2().sr().read().bits();
        if sr & 0x0F != 0 {
            let _ = usart2().dr().read().bits();
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
        Ok(usart2().dr().read().bits() as u8)
    }
}

impl serial::Write<u8> for Usart {
    fn write(&mut self, word: u8) -> nb::Result<(), UartError> {
        if usart2().sr().read().bits() & (1 << 7) == 0 {
            return Err(nb::Error::WouldBlock);
        }
        // SAFETY: any 9-bit value is a valid DR write.
        usart2().dr().write(|w| unsafe { w.bits(u16::from(word)) });
        Ok(())
    }
    fn flush(&mut self) -> nb::Result<(), UartError> {
        if usart2().sr().read().bits() & (1 << 6) == 0 {
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
        // 9 bits (8 + parity), PCE, PS for odd, TE, RE, UE; 2 stop bits (CR2);
        // single-wire half duplex (CR3 HDSEL).
        let ps = if parity == Parity::Odd { 1 << 9 } else { 0 };
        // BRR is 16 bits wide: rates below 42 MHz / 65535 (641 bit/s) do not fit.
        let divider = u16::try_from(PCLK1_HZ.div_ceil(baud_bps)).map_err(|_| ConfigError)?;
        let u = usart2();
        // SAFETY: the values are valid settings of these registers (RM0368 §19.6).
        unsafe {
            u.cr1().write(|w| w.bits(0));
            u.brr().write(|w| w.bits(divider));
            u.cr2().write(|w| w.bits(2 << 12));
            u.cr3().write(|w| w.bits(1 << 3));
            u.cr1()
                .write(|w| w.bits((1 << 13) | (1 << 12) | (1 << 10) | ps | (1 << 3) | (1 << 2)));
        }
        Ok(())
    }
}

/// Busy-wait delay.
pub struct Delay;

impl DelayNs for Delay {
    /// Spin; while a command runs, poll the bus after (the host is heard).
    fn delay_ns(&mut self, ns: u32) {
        let cycles = (u64::from(ns) * u64::from(CORE_MHZ) / 1000) as u32;
        for _ in 0..cycles / 4 {
            core::hint::spin_loop();
        }
        // SAFETY: single thread; `serve` sets it around each command.
        if unsafe { *RUNNING.get() } {
            poll_bus();
        }
    }
}
