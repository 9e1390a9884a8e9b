//! readerkit-vreader: a sample WDM smart card reader driver. A root-enumerated virtual
//! reader with the readerkit simulated card (`card-sim`, T=1 profile) in it, served
//! by the core's `LineReader` through the readerkit-wdm binding: the Windows smart
//! card service sees a reader (`GUID_DEVINTERFACE_SMARTCARD_READER`) with a card.
//!
//! Everything kernel-specific is in readerkit-wdm's kernel layer; this file is the
//! driver's own part: DriverEntry, the reader's description, the panic handler.
#![no_std]

use readerkit::caps::{IfdVersion, ReaderCapabilities, VendorAttributes, attr_string};
use readerkit::line::LineReader;
use readerkit_card_sim::atr::Profile;
use readerkit_card_sim::card::Config;
use readerkit_card_sim::{Card, SimLine};
use readerkit_wdm::PowerHooks;
use readerkit_wdm::ffi::types::{DRIVER_OBJECT, NTSTATUS, UNICODE_STRING};
use readerkit_wdm::kernel::{self, Reader, ReaderDriver};

/// Buffer capacity of the simulated card: the smallest card-sim allows, so that the
/// device extension stays small and no stack frame in the driver needs `__chkstk`.
const CARD_CAPACITY: usize = 512;

type Line = SimLine<CARD_CAPACITY>;

/// The driver context: the line reader over a simulated card slot.
struct VirtualReader(LineReader<Line>);

fn line(driver: &mut VirtualReader) -> &mut LineReader<Line> {
    &mut driver.0
}

// The core's callbacks take the driver context; forward them to the LineReader.
fn power(
    d: &mut VirtualReader,
    action: readerkit::ioctl::PowerAction,
    atr: &mut readerkit::device::AtrBuffer,
) -> Result<(), readerkit::status::Status> {
    line(d).power(action, atr)
}
fn set_protocol(
    d: &mut VirtualReader,
    call: &readerkit::device::ProtocolCall<'_>,
) -> Result<readerkit::timing::Timing, readerkit::status::Status> {
    line(d).set_protocol(call)
}
fn transmit(
    d: &mut VirtualReader,
    call: &readerkit::device::TransmitCall<'_>,
    reply: &mut [u8],
) -> Result<usize, readerkit::status::Status> {
    line(d).transmit(call, reply)
}
fn tracking(
    d: &mut VirtualReader,
    wait: readerkit::tracking::Wait,
) -> Result<(), readerkit::status::Status> {
    line(d).card_tracking(wait)
}
fn wake(d: &mut VirtualReader) -> bool {
    line(d).line().card().is_some()
}

impl ReaderDriver for VirtualReader {
    fn create() -> Reader<Self> {
        let functions = readerkit::device::ReaderFunctions {
            power: Some(power),
            set_protocol: Some(set_protocol),
            transmit: Some(transmit),
            card_tracking: Some(tracking),
            ..readerkit::device::ReaderFunctions::NONE
        };
        Reader::new(
            functions,
            VirtualReader(LineReader::new(SimLine::empty()).with_t0_envelope()),
            ReaderCapabilities::typical(),
            VendorAttributes {
                vendor_name: attr_string(b"readerkit"),
                ifd_type: attr_string(b"Virtual Reader"),
                unit: 0,
                ifd_version: IfdVersion {
                    major: 0,
                    minor: 1,
                    build: 0,
                },
                serial_number: attr_string(b"VREADER-0001"),
            },
            PowerHooks {
                sleep: None,
                wake: Some(wake),
            },
        )
    }

    fn started(reader: &Reader<Self>) {
        // The simulated card is in the reader from the start.
        reader.device().with_driver(|d| {
            let card = Card::<CARD_CAPACITY>::create(Config::new(Profile::t1()));
            line(d).line_mut().insert(card)
        });
        reader.card_inserted();
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
