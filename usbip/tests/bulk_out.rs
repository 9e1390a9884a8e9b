//! Bulk OUT transfers cut off before the device read them all. A
//! SET_CONFIGURATION ends a bulk OUT transfer pending then with -ESHUTDOWN and
//! the bytes of the packets the device had read, and drops the packets it had
//! not read: the next transfer's bytes are the first the device reads after it.
//! An UNLINK cancels one: the packets the device had not read are withdrawn, and
//! the transfers queued behind it are read and completed as if it had never
//! been sent. The device is a one-endpoint class that reads only the packets it
//! is allowed.

use readerkit_usbip::host::Host;
use readerkit_usbip::protocol::{Direction, STATUS_SHUT_DOWN, Submit};
use readerkit_usbip::virtual_bus::VirtualBus;
use usb_device::class_prelude::*;
use usb_device::prelude::*;

/// Bulk OUT packet size, in bytes.
const PACKET: u16 = 64;

/// One interface with one bulk OUT endpoint (number 1), read `allowed` packets
/// at a time.
struct Sink<'a> {
    interface: InterfaceNumber,
    out: EndpointOut<'a, VirtualBus>,
    /// Packets the device may still read.
    allowed: usize,
    /// The packets it read, in order.
    read: Vec<Vec<u8>>,
}

impl<'a> Sink<'a> {
    fn new(alloc: &'a UsbBusAllocator<VirtualBus>) -> Self {
        Sink {
            interface: alloc.interface(),
            out: alloc.bulk(PACKET),
            allowed: 0,
            read: Vec::new(),
        }
    }

    /// Read what the endpoint holds, within `allowed` (the host's service call).
    fn service(&mut self) {
        let mut packet = [0u8; PACKET as usize];
        while self.allowed > 0 {
            match self.out.read(&mut packet) {
                Ok(len) => {
                    self.allowed -= 1;
                    self.read.push(packet[..len].to_vec());
                }
                Err(_) => break,
            }
        }
    }
}

impl UsbClass<VirtualBus> for Sink<'_> {
    fn get_configuration_descriptors(
        &self,
        writer: &mut DescriptorWriter,
    ) -> usb_device::Result<()> {
        writer.interface(self.interface, 0xFF, 0, 0)?;
        writer.endpoint(&self.out)
    }
}

fn out_transfer(seqnum: u32, length: usize) -> Submit {
    Submit {
        seqnum,
        direction: Direction::Out,
        endpoint: 1,
        flags: 0,
        length,
        number_of_packets: 0,
        setup: [0; 8],
    }
}

/// SET_CONFIGURATION 1, in bytes.
const SET_CONFIGURATION: [u8; 8] = [0x00, 0x09, 1, 0, 0, 0, 0, 0];

/// The host of a [`Sink`] on `alloc`, attached and configured.
fn configured_host<'a>(
    alloc: &'a UsbBusAllocator<VirtualBus>,
    bus: VirtualBus,
) -> Host<'a, Sink<'a>> {
    let class = Sink::new(alloc);
    let usb = UsbDeviceBuilder::new(alloc, UsbVidPid(0x1209, 0x0001))
        .max_packet_size_0(64)
        .expect("packet size")
        .build();
    let mut host = Host::new(usb, class, bus, Sink::service);
    host.attach().expect("attached");
    host.control(SET_CONFIGURATION, &[]).expect("configured");
    assert!(host.configured());
    host
}

#[test]
fn a_bulk_out_pending_at_set_configuration_ends_with_what_the_device_read() {
    let bus = VirtualBus::default();
    let alloc = UsbBusAllocator::new(bus.clone());
    let mut host = configured_host(&alloc, bus);

    // 150 bytes: packets of 64, 64 and 22; the device reads the first only.
    let command: Vec<u8> = (0..150u8).collect();
    host.class_mut().allowed = 1;
    let started = host.submit(out_transfer(1, command.len()), &command);
    assert!(matches!(started, Ok(None)), "pending: {started:?}");
    assert!(host.pump().is_empty(), "two packets not read yet");
    assert_eq!(host.class_mut().read, [command[..64].to_vec()]);

    // The same configuration again: the transfer ends with the packet read.
    host.control(SET_CONFIGURATION, &[])
        .expect("configured again");
    let ended = host.pump();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(
        (ended[0].seqnum, ended[0].status, ended[0].actual_length),
        (1, STATUS_SHUT_DOWN, 64)
    );
    assert_eq!(host.pending(), 0);

    // The packets not read went with it: the device reads the next command next.
    host.class_mut().allowed = usize::MAX;
    let next = [0xA5u8; 10];
    let started = host.submit(out_transfer(2, next.len()), &next);
    assert!(matches!(started, Ok(None)), "pending: {started:?}");
    let done = host.pump();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(
        (done[0].seqnum, done[0].status, done[0].actual_length),
        (2, 0, 10)
    );
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
    let bus = VirtualBus::default();
    let alloc = UsbBusAllocator::new(bus.clone());
    let mut host = configured_host(&alloc, bus);
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
    let done: Vec<_> = host
        .pump()
        .iter()
        .map(|d| (d.seqnum, d.status, d.actual_length))
        .collect();
    assert_eq!(done, [(2, 0, 10), (4, 0, 5)]);
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
