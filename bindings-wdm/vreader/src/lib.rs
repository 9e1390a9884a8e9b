//! readerkit-vreader: a sample WDM smart card reader driver. A root-enumerated virtual
//! reader with the readerkit simulated card (`card-sim`, profile offering T=0 and T=1) in it, served
//! by the core's `LineReader` through the readerkit-wdm binding: the Windows smart
//! card service sees a reader (`GUID_DEVINTERFACE_SMARTCARD_READER`) with a card.
//!
//! Everything kernel-specific is in readerkit-wdm's kernel layer; this file is the
//! driver's own part: DriverEntry, the reader's description, its two test controls
//! ([`IOCTL_VREADER_CARD`] moves the card, [`IOCTL_VREADER_POWER`] sleeps and wakes
//! the reader as a system SET_POWER would), the panic handler.
#![no_std]

use readerkit::caps::{ReaderCapabilities, VendorAttributes};
use readerkit::device::AtrBuffer;
use readerkit::event::CardEvent;
use readerkit::line::{Framing, Line, LineReader, Reset};
use readerkit::status::Failure;
use readerkit::status::Status;
use readerkit::trace::{Level, TracedLine};
use readerkit_card_sim::atr::Profile;
use readerkit_card_sim::card::Config;
use readerkit_card_sim::{Card, SimLine};
use readerkit_wdm::ffi::types::{DRIVER_OBJECT, NTSTATUS, UNICODE_STRING};
use readerkit_wdm::irp::{POWER_SYSTEM_SLEEPING3, POWER_SYSTEM_WORKING};
use readerkit_wdm::kernel::{self, KernelSync, Reader, ReaderDriver};
use readerkit_wdm::trace::{KernelSink, kernel_sink};
use readerkit_wdm::{DriverControl, DriverHooks};

/// Buffer capacity of the simulated card: the smallest card-sim allows, so that the
/// device extension stays small and no stack frame in the driver needs `__chkstk`.
const CARD_CAPACITY: usize = 512;

/// The card slot: the simulated card stays in the `SimLine` once created (a card is
/// ~4 KB: moving one through a stack frame would need `__chkstk`, which a kernel image
/// does not have — the link fails if that ever happens); taking it out and putting it
/// back only flips `present`.
struct Slot {
    sim: SimLine<CARD_CAPACITY>,
    present: bool,
}

impl Slot {
    fn card(&mut self) -> Result<&mut SimLine<CARD_CAPACITY>, Failure> {
        if self.present {
            Ok(&mut self.sim)
        } else {
            Err(Failure::NoMedia)
        }
    }
}

impl Line for Slot {
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.card()?.reset(reset, atr)
    }
    fn deactivate(&mut self) -> Result<(), Failure> {
        self.sim.deactivate()
    }
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.card()?.send(bytes)
    }
    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        self.card()?.receive(buf, first_us, next_us)
    }
    fn set_timing(&mut self, timing: readerkit::timing::Timing) -> Result<(), Failure> {
        self.sim.set_timing(timing)
    }
    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        self.sim.set_framing(framing)
    }
}

/// The slot's line, decoded into the kernel debugger (`DbgPrintEx`, trace level).
type TracedSlot = TracedLine<Slot, KernelSink<KernelSync>>;

/// The driver context: the line reader over the slot, a card change made by the
/// test control IOCTL, for the binding to report, and the slot as the power control
/// says it is at the next wake-up.
struct VirtualReader {
    reader: LineReader<TracedSlot>,
    change: Option<CardEvent>,
    /// Set by [`IOCTL_VREADER_POWER`] 2 or 3 while asleep (the card taken out or put
    /// in during the sleep), applied by the wake hook; `None`: the slot as it was.
    card_at_wake: Option<bool>,
}

impl AsMut<LineReader<TracedSlot>> for VirtualReader {
    fn as_mut(&mut self) -> &mut LineReader<TracedSlot> {
        &mut self.reader
    }
}

/// The sample's test control, vendor IOCTL function 2048 (`SCARD_CTL_CODE(2048)` =
/// 0x00312000), input one byte: 0 = take the card out, 1 = put it back. Lets a tester
/// on Windows exercise card tracking.
/// Refused with `STATUS_DEVICE_NOT_READY` while the reader sleeps, as every vendor
/// IOCTL is; a card moved during a sleep is [`IOCTL_VREADER_POWER`]'s wake byte.
pub const IOCTL_VREADER_CARD: u32 = readerkit::ioctl::scard_ctl_code(2048);

/// The sample's power test control, vendor function 2049 (`SCARD_CTL_CODE(2049)` =
/// 0x00312004), input one byte: 0 = the system goes to sleep (what a
/// `PowerSystemSleeping3` SET_POWER does), 1 = it wakes (`PowerSystemWorking`) with
/// the slot as it was, 2 = it wakes and the card was taken out during the sleep, 3 =
/// it wakes and a card was put in during the sleep. Any other input:
/// `STATUS_INVALID_PARAMETER`, nothing done. Both go through
/// `WdmReader::set_system_power`, so a repeated sleep or wake does nothing (2 and 3
/// move the card only for a reader asleep). Served by the binding ahead of the core
/// (`WdmReader::set_driver_control`), so it works while the reader sleeps; Wine
/// sends no power IRPs, and this is how `tools/wdm-wine.sh` drives a sleep. A test
/// control, not something a production driver ships.
pub const IOCTL_VREADER_POWER: u32 = readerkit::ioctl::scard_ctl_code(2049);

/// [`IOCTL_VREADER_POWER`]: sleep or wake the reader, as a system SET_POWER would.
fn power_control(reader: &Reader<VirtualReader>, input: &[u8]) -> Status {
    let card_at_wake = match input {
        [0] => return sleep_or_wake(reader, POWER_SYSTEM_SLEEPING3),
        [1] => None,
        [2] => Some(false),
        [3] => Some(true),
        _ => return Status::InvalidParameter,
    };
    if card_at_wake.is_some() && reader.device().asleep() {
        // A wake that came meanwhile leaves it for the next one, whose sleep hook
        // clears it.
        reader
            .device()
            .with_driver(|d| d.card_at_wake = card_at_wake);
    }
    sleep_or_wake(reader, POWER_SYSTEM_WORKING)
}

fn sleep_or_wake(reader: &Reader<VirtualReader>, state: u32) -> Status {
    reader.set_system_power(state);
    Status::Success
}

impl VirtualReader {
    /// The vendor IOCTL: [`IOCTL_VREADER_CARD`] takes the card out or puts it back.
    fn card_control(&mut self, code: u32, input: &[u8]) -> Result<usize, Failure> {
        if code != IOCTL_VREADER_CARD {
            return Err(Failure::NotSupported);
        }
        let slot = self.reader.line_mut().line_mut();
        let present = match input.first() {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(Failure::InvalidParameter),
        };
        if slot.present != present {
            slot.present = present;
            slot.deactivate()?;
            self.change = Some(if present {
                CardEvent::Inserted
            } else {
                CardEvent::Removed
            });
        }
        Ok(0)
    }
}

fn card_change(d: &mut VirtualReader) -> Option<CardEvent> {
    d.change.take()
}

fn sleep(d: &mut VirtualReader) {
    d.card_at_wake = None;
}

/// Applies a card move the power control said happened during the sleep (the
/// reader saw no event then; the binding reports what this returns).
fn wake(d: &mut VirtualReader) -> bool {
    let slot = d.reader.line_mut().line_mut();
    if let Some(present) = d.card_at_wake.take() {
        slot.present = present;
        // Unpowered after the sleep anyway; a failure changes nothing reported.
        let _ = slot.deactivate();
    }
    slot.present
}

impl ReaderDriver for VirtualReader {
    fn create() -> Reader<Self> {
        // The power, SET_PROTOCOL, TRANSMIT and tracking callbacks are the
        // LineReader's; the test control is the driver's own.
        let functions = readerkit::device::ReaderFunctions {
            vendor_ioctl: Some(|d: &mut VirtualReader, code, input, _| d.card_control(code, input)),
            ..LineReader::functions_for::<VirtualReader>()
        };
        let mut reader = Reader::new(
            functions,
            VirtualReader {
                reader: LineReader::new(TracedLine::new(
                    Slot {
                        sim: SimLine::empty(),
                        present: false,
                    },
                    kernel_sink(Level::Trace),
                ))
                .with_t0_envelope(),
                change: None,
                card_at_wake: None,
            },
            ReaderCapabilities::typical(),
            VendorAttributes::readerkit(b"Virtual Reader", 0, b"VREADER-0001"),
            DriverHooks {
                sleep: Some(sleep),
                wake: Some(wake),
                card_change: Some(card_change),
            },
        );
        // A vendor code: cannot be refused.
        let _ = reader.set_driver_control(DriverControl {
            code: IOCTL_VREADER_POWER,
            serve: power_control,
        });
        reader
    }

    fn started(reader: &Reader<Self>) {
        // A sample: every request and every exchange on the line in the debugger
        // log (DbgPrintEx, component IHVDRIVER; the kernel's mask filters levels).
        reader.set_log_level(Level::Trace);
        // The simulated card is in the reader from the start.
        reader.device().with_driver(|d| {
            let slot = d.reader.line_mut().line_mut();
            slot.sim
                .insert(Card::<CARD_CAPACITY>::create(Config::new(Profile::t0_t1())));
            slot.present = true;
        });
        reader.report(CardEvent::Inserted);
        kernel::debug_print(c"readerkit-vreader: started, simulated card inserted");
    }
}

/// The driver's entry point.
///
/// # Safety
/// Called once by the I/O manager with its driver object.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    _registry_path: *const UNICODE_STRING,
) -> NTSTATUS {
    kernel::debug_print(c"readerkit-vreader: DriverEntry");
    // SAFETY: the driver object passed to DriverEntry.
    unsafe { kernel::install::<VirtualReader>(driver) }
}

/// Floating point is never used, but the MSVC ABI wants the symbol when core's code
/// mentions floats. (wdk-sys defines it itself on the `wdk` path.)
#[cfg(not(feature = "wdk"))]
#[unsafe(no_mangle)]
pub static _fltused: i32 = 0;

/// Bug check code for a Rust panic in the driver ('RPNC', as wdk-panic).
const RUST_PANIC: u32 = 0x5250_4E43;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: stopping the machine is the kernel's answer to a driver bug.
    unsafe { readerkit_wdm::ffi::routines::KeBugCheckEx(RUST_PANIC, 0, 0, 0, 0) }
}
