//! Dispatch overhead of `Device::control`: GET_ATTRIBUTE answered by the library, and
//! TRANSMIT through a trivial in-memory reader (the callback answers 90 00 at once),
//! on the bare-metal `SpinPlatform`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use readerkit::attr;
use readerkit::caps::{ReaderCapabilities, VendorAttributes, attr_string};
use readerkit::device::{AtrBuffer, ProtocolCall, TransmitCall};
use readerkit::ioctl::{Ioctl, PowerAction, Request, Transmit};
use readerkit::platform::SpinPlatform;
use readerkit::protocol::ProtocolMask;
use readerkit::timing::Timing;
use readerkit::{Device, Outcome, ReaderFunctions, Status};

const ATR: [u8; 9] = [0x3B, 0xD0, 0x96, 0x00, 0x80, 0x31, 0xFE, 0x45, 0x4C];

fn power(_: &mut (), action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Status> {
    if action != PowerAction::PowerDown {
        atr.extend_from_slice(&ATR)
            .map_err(|_| Status::BufferOverflow)?;
    }
    Ok(())
}

fn transmit(_: &mut (), _: &TransmitCall<'_>, reply: &mut [u8]) -> Result<usize, Status> {
    reply[..2].copy_from_slice(&[0x90, 0x00]);
    Ok(2)
}

fn set_protocol(_: &mut (), call: &ProtocolCall<'_>) -> Result<Timing, Status> {
    Ok(call.card.timing)
}

fn device() -> Device<SpinPlatform, ()> {
    let dev = Device::new(
        SpinPlatform::new(),
        ReaderFunctions {
            power: Some(power),
            transmit: Some(transmit),
            set_protocol: Some(set_protocol),
            ..ReaderFunctions::NONE
        },
        (),
        ReaderCapabilities::typical(),
        VendorAttributes {
            vendor_name: attr_string(b"readerkit"),
            ..VendorAttributes::default()
        },
    );
    dev.card_inserted();
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::ColdReset, &mut atr)
        .expect("power up");
    dev.select_protocol(ProtocolMask(2)).expect("T=1");
    dev
}

fn dispatch(c: &mut Criterion) {
    let dev = device();
    let mut out = [0u8; 64];
    let tag = attr::MAX_CLK.to_le_bytes();
    c.bench_function("get_attribute_max_clk", |b| {
        b.iter(|| {
            let outcome = dev.control(Ioctl::GetAttribute.code(), black_box(&tag), &mut out);
            assert!(matches!(
                outcome,
                Outcome::Complete {
                    status: Status::Success,
                    ..
                }
            ));
        })
    });
    let get_challenge = Request::Transmit(Transmit {
        protocol: 2,
        apdu: &[0x00, 0x84, 0x00, 0x00, 0x08],
    });
    let mut input = [0u8; 13];
    get_challenge.emit(&mut input).expect("13 bytes");
    c.bench_function("transmit_in_memory", |b| {
        b.iter(|| {
            let outcome = dev.control(Ioctl::Transmit.code(), black_box(&input), &mut out);
            assert!(matches!(
                outcome,
                Outcome::Complete {
                    status: Status::Success,
                    bytes_written: 10
                }
            ));
        })
    });
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
