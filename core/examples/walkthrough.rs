//! A tour of the core: an in-memory reader driver, every kind of request, and what
//! the library answers. Run with `cargo run -p readerkit --example walkthrough`.

use readerkit::attr;
use readerkit::caps::{IfdVersion, ReaderCapabilities, VendorAttributes, attr_string};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction};
use readerkit::platform::SpinPlatform;
use readerkit::timing::Timing;
use readerkit::tracking::Wait;
use readerkit::{Device, Failure, Outcome, ReaderFunctions};
use readerkit_testkit::apdu::get_challenge;
use readerkit_testkit::client::transmit_input;
use readerkit_testkit::hex;

/// The "card": T=0 and T=1, TA1 = 96, IFSC 254.
const ATR: [u8; 9] = [0x3B, 0xD0, 0x96, 0x00, 0x80, 0x31, 0xFE, 0x45, 0x4C];

/// The driver's own context: here, a counter for GET CHALLENGE bytes.
struct InMemoryReader {
    next: u8,
}

fn power(_: &mut InMemoryReader, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
    println!("    [callback] power {action:?}");
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&ATR)
            .map_err(|_| Failure::BufferOverflow)?;
    }
    Ok(())
}

fn set_protocol(_: &mut InMemoryReader, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
    let pps = call
        .negotiation
        .request
        .as_ref()
        .map_or_else(|| "none".to_string(), |r| hex(r.as_bytes()));
    println!(
        "    [callback] set protocol {}, PPS request {pps}",
        call.protocol
    );
    // The in-memory card accepts every PPS.
    Ok(call.negotiation.timing)
}

fn transmit(
    r: &mut InMemoryReader,
    call: &TransmitCall<'_>,
    reply: &mut [u8],
) -> Result<usize, Failure> {
    println!(
        "    [callback] transmit {} over {}",
        hex(call.apdu),
        call.protocol
    );
    // GET CHALLENGE: 00 84 00 00 Le -> Le bytes and 90 00; anything else: 6D 00.
    match call.apdu {
        [0x00, 0x84, 0x00, 0x00, le] => {
            let n = usize::from(*le);
            let out = reply.get_mut(..n + 2).ok_or(Failure::BufferTooSmall)?;
            for b in &mut out[..n] {
                r.next = r.next.wrapping_mul(73).wrapping_add(41);
                *b = r.next;
            }
            out[n..].copy_from_slice(&[0x90, 0x00]);
            Ok(n + 2)
        }
        _ => {
            reply[..2].copy_from_slice(&[0x6D, 0x00]);
            Ok(2)
        }
    }
}

fn tracking(_: &mut InMemoryReader, wait: Wait) -> Result<(), Failure> {
    println!("    [callback] start tracking: wait for {wait:?}");
    Ok(())
}

/// The device of this walk-through.
type Dev = Device<SpinPlatform, InMemoryReader>;

/// Report a card event (`report`, named `what`), process it, and show the
/// tracking completion it caused.
fn card_event(dev: &Dev, what: &str, report: fn(&Dev)) {
    println!("* {what}");
    report(dev);
    dev.process_events();
    match dev.platform().take_completion() {
        Some(status) => println!("  tracking completion handed to the platform: {status}"),
        None => println!("  no tracking completion"),
    }
}

fn request(dev: &Dev, what: &str, ioctl: Ioctl, input: &[u8], out_len: usize) {
    let mut out = vec![0u8; out_len];
    println!(
        "> {what}: {ioctl:?}, input [{}], output {out_len} bytes",
        hex(input)
    );
    match dev.control(ioctl.code(), input, &mut out) {
        Outcome::Complete {
            status,
            bytes_written,
        } => println!(
            "< {status} (NTSTATUS {:#010X}, IFD {}, SCARD {:#010X}), {bytes_written} bytes [{}]",
            status.to_ntstatus(),
            status.to_ifd(),
            status.to_scard(),
            hex(&out[..bytes_written])
        ),
        Outcome::Pending => println!("< pending"),
    }
}

fn main() {
    let dev: Dev = Device::new(
        SpinPlatform::new(),
        ReaderFunctions {
            power: Some(power),
            set_protocol: Some(set_protocol),
            transmit: Some(transmit),
            card_tracking: Some(tracking),
            ..ReaderFunctions::NONE
        },
        InMemoryReader { next: 7 },
        ReaderCapabilities::typical(),
        VendorAttributes {
            vendor_name: attr_string(b"readerkit"),
            ifd_type: attr_string(b"in-memory walkthrough reader"),
            unit: 0,
            ifd_version: IfdVersion {
                major: 0,
                minor: 1,
                build: 0,
            },
            serial_number: attr_string(b"RK-0001"),
        },
    );
    let tag = |t: u32| t.to_le_bytes();
    request(&dev, "state with no card", Ioctl::GetState, &[], 4);
    request(&dev, "wait for a card", Ioctl::IsPresent, &[], 0);
    card_event(
        &dev,
        "card inserted (as from an interrupt handler)",
        Dev::card_inserted,
    );
    request(&dev, "state", Ioctl::GetState, &[], 4);
    request(
        &dev,
        "cold reset with a 32-byte buffer (too small)",
        Ioctl::Power,
        &1u32.to_le_bytes(),
        32,
    );
    request(
        &dev,
        "power code 7 (unknown)",
        Ioctl::Power,
        &7u32.to_le_bytes(),
        33,
    );
    request(&dev, "cold reset", Ioctl::Power, &1u32.to_le_bytes(), 33);
    request(&dev, "state", Ioctl::GetState, &[], 4);
    request(
        &dev,
        "vendor name",
        Ioctl::GetAttribute,
        &tag(attr::VENDOR_NAME),
        32,
    );
    request(&dev, "ATR", Ioctl::GetAttribute, &tag(attr::ATR_STRING), 33);
    request(
        &dev,
        "current IFSC",
        Ioctl::GetAttribute,
        &tag(attr::CURRENT_IFSC),
        4,
    );
    request(
        &dev,
        "unknown attribute",
        Ioctl::GetAttribute,
        &tag(0x0001_0999),
        32,
    );
    request(
        &dev,
        "transmit before SET_PROTOCOL",
        Ioctl::Transmit,
        &transmit_input(2, &get_challenge(8)),
        64,
    );
    request(
        &dev,
        "select T=0 or T=1",
        Ioctl::SetProtocol,
        &3u32.to_le_bytes(),
        4,
    );
    request(
        &dev,
        "GET CHALLENGE",
        Ioctl::Transmit,
        &transmit_input(2, &get_challenge(8)),
        64,
    );
    request(
        &dev,
        "T=0 header while T=1 is selected",
        Ioctl::Transmit,
        &transmit_input(1, &get_challenge(8)),
        64,
    );
    request(
        &dev,
        "header with cbPciLength 200",
        Ioctl::Transmit,
        // Malformed on purpose, so written by hand: no typed request emits it.
        &[2, 0, 0, 0, 200, 0, 0, 0, 0, 0x84, 0, 0, 8],
        64,
    );
    request(&dev, "eject (no callback)", Ioctl::Eject, &[], 0);
    request(
        &dev,
        "vendor IOCTL 3400 (no callback)",
        Ioctl::Vendor(3400),
        &[],
        64,
    );
    request(&dev, "wait for removal", Ioctl::IsAbsent, &[], 0);
    request(&dev, "a second wait", Ioctl::IsAbsent, &[], 0);
    card_event(&dev, "card removed", Dev::card_removed);
    request(
        &dev,
        "ATR after removal",
        Ioctl::GetAttribute,
        &tag(attr::ATR_STRING),
        33,
    );
    request(&dev, "performance counters", Ioctl::GetPerfCounter, &[], 12);
}
