//! Endpoint halt on the virtual bus, as a device controller has it (USB 2.0
//! §9.4.5): SET_FEATURE(ENDPOINT_HALT) on a bulk endpoint (usb-device calls the
//! bus's `set_stalled`) makes GET_STATUS say halted and every transfer on it
//! end with -EPIPE, those pending then included, until CLEAR_FEATURE, a
//! SET_CONFIGURATION or a SET_INTERFACE clears it; the device halting an
//! endpoint itself does the same. Nothing the device wrote is lost, nothing
//! the host was told failed reaches the device. The device is a one-interface
//! class with a bulk OUT and a bulk IN endpoint (both number 1).

mod support;

use readerkit_usbip::host::Host;
use readerkit_usbip::protocol::{Direction, STATUS_STALL};
use support::{
    Pipe, SET_CONFIGURATION, bulk, configured_host, first_packet_of_three_read, summary,
};

/// SET_INTERFACE 0, alternate setting 0.
const SET_INTERFACE: [u8; 8] = [0x01, 0x0B, 0, 0, 0, 0, 0, 0];

/// SET_FEATURE (`set`) or CLEAR_FEATURE of ENDPOINT_HALT on `endpoint`
/// (its address: 0x81 bulk IN, 0x01 bulk OUT).
fn halt(set: bool, endpoint: u8) -> [u8; 8] {
    [0x02, if set { 3 } else { 1 }, 0, 0, endpoint, 0, 0, 0]
}

/// GET_STATUS of `endpoint`: bit 0 is Halt.
fn halted(host: &mut Host<'_, Pipe<'_>>, endpoint: u8) -> bool {
    let status = host.control([0x82, 0, 0, 0, endpoint, 0, 2, 0], &[]);
    match status.as_deref() {
        Ok([low, 0]) => low & 1 == 1,
        other => panic!("GET_STATUS: {other:?}"),
    }
}

/// Bulk IN halted by the host while a transfer collects a message of three
/// packets (one taken): it ends with -EPIPE and that packet; another submitted
/// while halted ends at once with -EPIPE; the packet the device wrote meanwhile
/// stays. Cleared, the next transfer gets the rest, in order, once.
#[test]
fn a_halted_bulk_in_stalls_every_transfer_until_cleared() {
    let mut host = configured_host();
    let message: Vec<Vec<u8>> = vec![vec![1; 64], vec![2; 64], vec![3; 10]];
    host.class_mut().to_send.push_back(message[0].clone());
    assert_eq!(host.submit(bulk(1, Direction::In, 512), &[]), Ok(None));
    assert!(host.pump().is_empty(), "one full packet: not finished");
    host.class_mut()
        .to_send
        .extend(message[1..].iter().cloned());

    assert!(!halted(&mut host, 0x81));
    host.control(halt(true, 0x81), &[]).expect("SET_FEATURE");
    assert!(halted(&mut host, 0x81));
    let ended = host.pump();
    assert_eq!(summary(&ended), [(1, STATUS_STALL, 64)]);
    assert_eq!(ended[0].data, message[0]);
    let refused = host.submit(bulk(2, Direction::In, 512), &[]);
    assert_eq!(
        refused.map(|done| done.map(|d| (d.seqnum, d.status, d.actual_length))),
        Ok(Some((2, STATUS_STALL, 0)))
    );
    assert_eq!(host.pending(), 0);
    // The OUT endpoint is not halted: it works meanwhile.
    assert!(!halted(&mut host, 0x01));

    host.control(halt(false, 0x81), &[]).expect("CLEAR_FEATURE");
    assert!(!halted(&mut host, 0x81));
    assert_eq!(host.submit(bulk(3, Direction::In, 512), &[]), Ok(None));
    let done = host.pump();
    assert_eq!(summary(&done), [(3, 0, 74)]);
    assert_eq!(
        done[0].data,
        [message[1].clone(), message[2].clone()].concat()
    );
    assert!(host.class_mut().to_send.is_empty());
}

/// Bulk OUT halted by the host while a transfer of three packets is pending
/// (the device has read one): it ends with -EPIPE and those 64 bytes, and its
/// packets not read are withdrawn; a transfer submitted while halted ends at
/// once and sends nothing. Cleared, the next transfer is read whole and is the
/// next thing the device reads.
#[test]
fn a_halted_bulk_out_sends_nothing_more_until_cleared() {
    let mut host = configured_host();
    let command = first_packet_of_three_read(&mut host);

    host.control(halt(true, 0x01), &[]).expect("SET_FEATURE");
    assert!(halted(&mut host, 0x01));
    host.class_mut().allowed = usize::MAX;
    assert_eq!(summary(&host.pump()), [(1, STATUS_STALL, 64)]);
    let refused = host.submit(bulk(2, Direction::Out, 5), &[9; 5]);
    assert_eq!(
        refused.map(|done| done.map(|d| (d.seqnum, d.status, d.actual_length))),
        Ok(Some((2, STATUS_STALL, 0)))
    );
    assert!(host.pump().is_empty());
    assert_eq!(host.class_mut().read, [command[..64].to_vec()]);

    host.control(halt(false, 0x01), &[]).expect("CLEAR_FEATURE");
    assert_eq!(host.submit(bulk(3, Direction::Out, 3), &[7; 3]), Ok(None));
    assert_eq!(summary(&host.pump()), [(3, 0, 3)]);
    assert_eq!(host.class_mut().read, [command[..64].to_vec(), vec![7; 3]]);
}

/// SET_CONFIGURATION and SET_INTERFACE clear a halt, even of the
/// configuration and interface in use (USB 2.0 §9.4.5); a halt the device
/// sets itself ends the transfer pending there as the host's does.
#[test]
fn configuration_and_interface_clear_a_halt_the_device_set_its_own() {
    let mut host = configured_host();
    for reset in [SET_CONFIGURATION, SET_INTERFACE] {
        assert_eq!(host.submit(bulk(1, Direction::In, 64), &[]), Ok(None));
        host.class_mut().halt_in = true;
        assert_eq!(summary(&host.pump()), [(1, STATUS_STALL, 0)]);
        host.control(halt(true, 0x01), &[]).expect("SET_FEATURE");
        assert!(halted(&mut host, 0x81) && halted(&mut host, 0x01));
        host.control(reset, &[]).expect("accepted");
        assert!(!halted(&mut host, 0x81), "{reset:02X?}");
        assert!(!halted(&mut host, 0x01), "{reset:02X?}");
        host.class_mut().to_send.push_back(vec![5; 3]);
        assert_eq!(host.submit(bulk(2, Direction::In, 64), &[]), Ok(None));
        assert_eq!(summary(&host.pump()), [(2, 0, 3)]);
    }
}
