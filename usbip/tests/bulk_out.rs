//! Bulk OUT transfers cut off before the device read them all. A
//! SET_CONFIGURATION ends a bulk OUT transfer pending then with -ESHUTDOWN and
//! the bytes of the packets the device had read, and drops the packets it had
//! not read: the next transfer's bytes are the first the device reads after it.
//! An UNLINK cancels one: the packets the device had not read are withdrawn, and
//! the transfers queued behind it are read and completed as if it had never
//! been sent. The device (`support::Pipe`) reads only the packets it is
//! allowed.

mod support;

use readerkit_usbip::protocol::{Direction, STATUS_SHUT_DOWN, Submit};
use support::{SET_CONFIGURATION, bulk, configured_host, first_packet_of_three_read, summary};

/// A bulk OUT transfer of `length` bytes.
fn out_transfer(seqnum: u32, length: usize) -> Submit {
    bulk(seqnum, Direction::Out, length)
}

#[test]
fn a_bulk_out_pending_at_set_configuration_ends_with_what_the_device_read() {
    let mut host = configured_host();

    // 150 bytes: packets of 64, 64 and 22; the device reads the first only.
    let command = first_packet_of_three_read(&mut host);

    // The same configuration again: the transfer ends with the packet read.
    host.control(SET_CONFIGURATION, &[])
        .expect("configured again");
    assert_eq!(summary(&host.pump()), [(1, STATUS_SHUT_DOWN, 64)]);
    assert_eq!(host.pending(), 0);

    // The packets not read went with it: the device reads the next command next.
    host.class_mut().allowed = usize::MAX;
    let next = [0xA5u8; 10];
    let started = host.submit(out_transfer(2, next.len()), &next);
    assert!(matches!(started, Ok(None)), "pending: {started:?}");
    assert_eq!(summary(&host.pump()), [(2, 0, 10)]);
    assert_eq!(
        host.class_mut().read,
        [command[..64].to_vec(), next.to_vec()]
    );
}

/// Four bulk OUT transfers queued, the device has read the first packet of the
/// first: the first (partly read) and the third (not read at all) are unlinked.
/// The device then reads the second and the fourth, whole and in order, and
/// they complete; nothing more of the unlinked ones reaches it. Before, their
/// packets stayed on the bus: the device read them as if they had been sent.
#[test]
fn an_unlinked_bulk_out_sends_the_device_nothing_more() {
    let mut host = configured_host();
    // Packets: 64 + 64 + 22, then 10, then 64 + 6, then 5.
    let transfers: [Vec<u8>; 4] = [
        (0..150u8).collect(),
        vec![0xA2; 10],
        vec![0xA3; 70],
        vec![0xA4; 5],
    ];
    host.class_mut().allowed = 1;
    for (seqnum, data) in (1..).zip(&transfers) {
        let started = host.submit(out_transfer(seqnum, data.len()), data);
        assert!(matches!(started, Ok(None)), "pending: {started:?}");
    }
    assert!(host.pump().is_empty(), "nothing read whole");
    assert_eq!(host.class_mut().read, [transfers[0][..64].to_vec()]);

    assert!(host.unlink(1), "pending, partly read");
    assert!(host.unlink(3), "pending, not read");
    assert!(!host.unlink(1), "cancelled already");
    assert_eq!(host.pending(), 2);

    host.class_mut().allowed = usize::MAX;
    assert_eq!(summary(&host.pump()), [(2, 0, 10), (4, 0, 5)]);
    assert_eq!(
        host.class_mut().read,
        [
            transfers[0][..64].to_vec(),
            transfers[1].clone(),
            transfers[3].clone(),
        ]
    );
    assert_eq!(host.pending(), 0);
}
