//! `WatchedLine` reports exactly the card's requests for more time, while the
//! core's engines still handle them.

use std::sync::{Arc, Mutex};

use readerkit::Device;
use readerkit::Protocol;
use readerkit::caps::VendorAttributes;
use readerkit::ioctl::{ATR_BUFFER_LEN, PowerAction};
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit::protocol::ProtocolMask;
use readerkit_card_sim::fault::{Faults, Trigger, Wtx};
use readerkit_card_sim::{Card, Config, Profile, SimLine};
use readerkit_ccid::more_time::{MoreTime, WatchedLine};
use readerkit_ccid::twin;

type Seen = Arc<Mutex<Vec<MoreTime>>>;
type Line = WatchedLine<SimLine<1024>, Box<dyn FnMut(MoreTime) + Send>>;

fn device(profile: Profile, faults: Faults) -> (Device<SpinPlatform, LineReader<Line>>, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let card = Card::create(Config::new(profile).with_faults(faults));
    let line: Line = WatchedLine::new(
        SimLine::new(card),
        Box::new(move |more| log.lock().unwrap().push(more)),
    );
    let device = Device::new(
        SpinPlatform::new(),
        LineReader::<Line>::functions(),
        LineReader::new(line),
        twin::Profile::GemPcTwin.capabilities(),
        VendorAttributes::default(),
    );
    device.card_inserted();
    (device, seen)
}

fn session(device: &Device<SpinPlatform, LineReader<Line>>, protocol: Protocol) {
    device
        .power_card(PowerAction::ColdReset, &mut [0; ATR_BUFFER_LEN])
        .unwrap();
    assert_eq!(
        device.select_protocol(ProtocolMask(protocol.bit())),
        Ok(protocol)
    );
    let mut out = [0u8; 300];
    let apdu = [0x80, 0xEE, 0x00, 0x00, 0x02, 0x12, 0x34, 0x00];
    assert_eq!(
        device.transmit_apdu(protocol, &apdu, &mut out).unwrap(),
        [0x12, 0x34, 0x90, 0x00]
    );
}

#[test]
fn t1_wtx_requests_are_reported_with_their_multiplier() {
    let faults = Faults {
        wtx: Some(Wtx {
            answer: Trigger::Every,
            multiplier: 3,
            count: 2,
        }),
        ..Faults::default()
    };
    let (device, seen) = device(Profile::t1(), faults);
    session(&device, Protocol::T1);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            MoreTime::T1Wtx { multiplier: 3 },
            MoreTime::T1Wtx { multiplier: 3 }
        ]
    );
}

#[test]
fn t0_null_bytes_are_reported() {
    let faults = Faults {
        t0_null_bytes: 2,
        ..Faults::default()
    };
    let (device, seen) = device(Profile::t0(), faults);
    session(&device, Protocol::T0);
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|m| *m == MoreTime::T0Null));
}

#[test]
fn a_card_that_needs_no_time_is_not_reported() {
    let (device, seen) = device(Profile::t1(), Faults::default());
    session(&device, Protocol::T1);
    let (device0, seen0) = device_t0();
    session(&device0, Protocol::T0);
    assert!(seen.lock().unwrap().is_empty());
    assert!(seen0.lock().unwrap().is_empty());
}

fn device_t0() -> (Device<SpinPlatform, LineReader<Line>>, Seen) {
    device(Profile::t0(), Faults::default())
}
