//! Dispatch overhead of `Device::control`: GET_ATTRIBUTE answered by the library, and
//! TRANSMIT through a trivial in-memory reader (`readerkit_testkit::ack`: the callback
//! answers 90 00 at once), on the bare-metal `SpinPlatform`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use readerkit::attr;
use readerkit::caps::ReaderCapabilities;
use readerkit::ioctl::{Ioctl, PowerAction, Request, Transmit};
use readerkit::platform::SpinPlatform;
use readerkit::protocol::ProtocolMask;
use readerkit::{Device, Outcome, Status};
use readerkit_testkit::{ack, apdu, vendor};

fn device() -> Device<SpinPlatform, ()> {
    let dev = Device::new(
        SpinPlatform::new(),
        ack::functions(),
        (),
        ReaderCapabilities::typical(),
        vendor::named(b"readerkit"),
    );
    dev.card_inserted();
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::ColdReset, &mut atr)
        .expect("power up");
    dev.select_protocol(ProtocolMask(2)).expect("T=1");
    dev
}

/// The length of a successful answer (a bench that measures failures measures
/// nothing).
fn bytes_written(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Complete {
            status: Status::Success,
            bytes_written,
        } => bytes_written,
        other => panic!("not a success: {other:?}"),
    }
}

fn dispatch(c: &mut Criterion) {
    let dev = device();
    let mut out = [0u8; 64];
    let tag = attr::MAX_CLK.to_le_bytes();
    c.bench_function("get_attribute_max_clk", |b| {
        b.iter(|| {
            let outcome = dev.control(Ioctl::GetAttribute.code(), black_box(&tag), &mut out);
            assert_eq!(bytes_written(outcome), 4);
        })
    });
    let get_challenge = Request::Transmit(Transmit {
        protocol: 2,
        apdu: &apdu::get_challenge(8),
    });
    let mut input = [0u8; 13];
    get_challenge.emit(&mut input).expect("13 bytes");
    c.bench_function("transmit_in_memory", |b| {
        b.iter(|| {
            let outcome = dev.control(Ioctl::Transmit.code(), black_box(&input), &mut out);
            assert_eq!(bytes_written(outcome), 10);
        })
    });
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
