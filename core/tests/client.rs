//! The typed client side ([`Device::submit`] and the calls built on it) answers
//! exactly what [`Device::control`] answers for the same request sent as bytes.

use readerkit::Status;
use readerkit::attr;
use readerkit::ioctl::{Ioctl, PowerAction, Request, Transmit};
use readerkit::protocol::{Protocol, ProtocolMask};
use readerkit_testkit::client::*;
use readerkit_testkit::memory::*;

#[test]
fn typed_calls_answer_like_their_bytes() {
    let typed = device();
    let bytes = device();
    typed.card_inserted();
    bytes.card_inserted();

    let mut atr = [0u8; 33];
    let atr_len = typed.power_card(PowerAction::ColdReset, &mut atr).unwrap();
    let (outcome, raw_atr) = call(&bytes, Ioctl::Power, &u32_input(1), 33);
    assert_eq!(status_of(outcome), Status::Success);
    assert_eq!(&atr[..atr_len], &raw_atr[..]);

    assert_eq!(typed.select_protocol(ProtocolMask(3)), Ok(Protocol::T1));
    let (outcome, selected) = call(&bytes, Ioctl::SetProtocol, &u32_input(3), 4);
    assert_eq!(status_of(outcome), Status::Success);
    assert_eq!(selected, Protocol::T1.bit().to_le_bytes());

    let apdu = [0x00, 0xB0, 0x00, 0x00, 0x02, 0xAB, 0xCD];
    let mut out = [0u8; 64];
    let response = typed.transmit_apdu(Protocol::T1, &apdu, &mut out).unwrap();
    let (outcome, raw) = call(&bytes, Ioctl::Transmit, &transmit_input(2, &apdu), 64);
    assert_eq!(status_of(outcome), Status::Success);
    assert_eq!(response, &raw[8..]);

    let mut value = [0u8; 33];
    assert_eq!(
        typed.read_attribute(attr::ATR_STRING, &mut value),
        Ok(&raw_atr[..])
    );
}

#[test]
fn typed_requests_are_refused_like_their_bytes() {
    let dev = device();
    dev.card_inserted();
    let mut atr = [0u8; 33];
    dev.power_card(PowerAction::ColdReset, &mut atr).unwrap();
    // No protocol selected yet: the same state refusal as through control().
    let mut out = [0u8; 64];
    assert_eq!(
        dev.transmit_apdu(Protocol::T1, &[0x00, 0x84, 0x00, 0x00, 0x08], &mut out),
        Err(Status::InvalidDeviceState)
    );
    // An empty APDU and a short output are refused before any state is read.
    let empty = Request::Transmit(Transmit {
        protocol: 2,
        apdu: &[],
    });
    assert_eq!(
        dev.submit(empty, &mut out).status(),
        Some(Status::InvalidParameter)
    );
    assert_eq!(
        dev.submit(Request::GetState, &mut [0u8; 3]).status(),
        Some(Status::BufferTooSmall)
    );
    assert_eq!(
        dev.select_protocol(ProtocolMask(0)),
        Err(Status::InvalidDeviceRequest)
    );
    // IS_PRESENT with a card completes at once; IS_ABSENT pends.
    assert_eq!(
        dev.submit(Request::IsPresent, &mut []).completion(),
        Some(Ok(0))
    );
    assert_eq!(dev.submit(Request::IsAbsent, &mut []).completion(), None);
}
