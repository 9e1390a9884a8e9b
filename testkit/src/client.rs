//! [`Device`] requests as owned bytes, over the core's typed client side
//! ([`Device::submit`], [`Device::power_card`], [`Device::select_protocol`],
//! [`Device::transmit_apdu`]): what the tests compare against.

use readerkit::ioctl::{Ioctl, PowerAction, Request, Transmit};
use readerkit::platform::Platform;
use readerkit::protocol::{Protocol, ProtocolMask};
use readerkit::{Device, Outcome, Status};

/// Room for any response APDU (extended Le 65 536 plus SW) behind the 8-byte
/// SCARD_IO_REQUEST header, with slack.
pub const TRANSMIT_ROOM: usize = 8 + 70_000;

/// Run one request given as its IOCTL and input bytes, with an output buffer of
/// `out_len` bytes; the outcome and the bytes written (all `out_len` bytes when the
/// request did not complete).
pub fn call<P: Platform, D, const E: usize>(
    dev: &Device<P, D, E>,
    ioctl: Ioctl,
    input: &[u8],
    out_len: usize,
) -> (Outcome, Vec<u8>) {
    let mut out = vec![0u8; out_len];
    let outcome = dev.control(ioctl.code(), input, &mut out);
    if let Outcome::Complete { bytes_written, .. } = outcome {
        out.truncate(bytes_written);
    }
    (outcome, out)
}

/// Run one request given as its IOCTL and input bytes; the bytes written, or the
/// status of a failure.
pub fn control<P: Platform, D, const E: usize>(
    dev: &Device<P, D, E>,
    ioctl: Ioctl,
    input: &[u8],
    out_len: usize,
) -> Result<Vec<u8>, Status> {
    let mut out = vec![0u8; out_len];
    let written = dev.control(ioctl.code(), input, &mut out).into_result()?;
    out.truncate(written);
    Ok(out)
}

/// Cold reset; the ATR.
pub fn power_up<P: Platform, D, const E: usize>(dev: &Device<P, D, E>) -> Result<Vec<u8>, Status> {
    let mut atr = [0u8; 33];
    let len = dev.power_card(PowerAction::ColdReset, &mut atr)?;
    Ok(atr[..len].to_vec())
}

/// SET_PROTOCOL with a mask of SCARD_PROTOCOL_* bits (1 = T=0, 2 = T=1); the bit of
/// the protocol selected.
pub fn select<P: Platform, D, const E: usize>(
    dev: &Device<P, D, E>,
    mask: u32,
) -> Result<u32, Status> {
    dev.select_protocol(ProtocolMask(mask)).map(Protocol::bit)
}

/// TRANSMIT `command` with the protocol whose SCARD_PROTOCOL_* bit is `protocol`;
/// the response APDU.
pub fn apdu<P: Platform, D, const E: usize>(
    dev: &Device<P, D, E>,
    protocol: u32,
    command: &[u8],
) -> Result<Vec<u8>, Status> {
    let protocol = Protocol::from_bit(protocol).expect("one protocol bit");
    let mut out = vec![0u8; TRANSMIT_ROOM];
    let response = dev.transmit_apdu(protocol, command, &mut out)?;
    Ok(response.to_vec())
}

/// The card behind `dev` answers once more, then goes mute (a fault its test set
/// just before): one GET CHALLENGE with `protocol` succeeds, the next times out, and
/// a cold reset with SET_PROTOCOL `protocol` brings it back (the fault lasts until
/// the next reset).
pub fn check_mute_after_one_answer<P: Platform, D, const E: usize>(
    dev: &Device<P, D, E>,
    protocol: u32,
) {
    let get_challenge = [0x00, 0x84, 0x00, 0x00, 0x08];
    assert!(apdu(dev, protocol, &get_challenge).is_ok());
    assert_eq!(apdu(dev, protocol, &get_challenge), Err(Status::IoTimeout));
    power_up(dev).expect("power up after the time-out");
    assert_eq!(select(dev, protocol), Ok(protocol));
    assert!(apdu(dev, protocol, &get_challenge).is_ok());
}

/// The T=1 card behind `dev` speaks the inverse convention: the ATR comes back as
/// the line received it (TS `03`, the inverse convention's TS read directly), and
/// SET_PROTOCOL T=1 and an ECHO of three bytes then work.
pub fn check_inverse_convention_t1<P: Platform, D, const E: usize>(dev: &Device<P, D, E>) {
    let atr = power_up(dev).expect("power up");
    assert_eq!(atr[0], 0x03, "the ATR as the line received it");
    assert_eq!(select(dev, 2), Ok(2));
    let echo = crate::apdu::echo(&[1, 2, 3]);
    assert_eq!(apdu(dev, 2, &echo), Ok(vec![1, 2, 3, 0x90, 0x00]));
}

/// A TRANSMIT input buffer: SCARD_IO_REQUEST {`protocol`, 8} then `apdu`, as
/// [`Request::emit`] writes it.
pub fn transmit_input(protocol: u32, apdu: &[u8]) -> Vec<u8> {
    let request = Request::Transmit(Transmit { protocol, apdu });
    let mut input = vec![0u8; request.input_len()];
    request.emit(&mut input).expect("sized by input_len");
    input
}

/// The status of a request that completed; panics on a pending one.
pub fn status_of(outcome: Outcome) -> Status {
    outcome.status().expect("completed")
}

/// A DWORD input (power action, protocol mask, attribute tag) in the little-endian
/// order the IOCTL inputs use.
pub fn u32_input(value: u32) -> [u8; 4] {
    value.to_le_bytes()
}
