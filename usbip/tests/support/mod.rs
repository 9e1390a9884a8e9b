//! What the bus tests share: a one-interface device class with a bulk OUT and
//! a bulk IN endpoint (both number 1) whose reads and writes the test paces,
//! and its host attached and configured.

use std::collections::VecDeque;

use readerkit_usbip::host::{Completion, Host};
use readerkit_usbip::protocol::{Direction, Submit};
use readerkit_usbip::virtual_bus::VirtualBus;
use usb_device::class_prelude::*;
use usb_device::prelude::*;

/// Bulk packet size, in bytes.
pub(crate) const PACKET: u16 = 64;

/// Bulk OUT read `allowed` packets at a time; bulk IN sends the packets of
/// `to_send` in order; `halt_in` makes the device stall its IN endpoint.
pub(crate) struct Pipe<'a> {
    interface: InterfaceNumber,
    out: EndpointOut<'a, VirtualBus>,
    r#in: EndpointIn<'a, VirtualBus>,
    /// OUT packets the device may still read.
    pub(crate) allowed: usize,
    /// The OUT packets it read, in order.
    pub(crate) read: Vec<Vec<u8>>,
    /// IN packets to send, in order.
    pub(crate) to_send: VecDeque<Vec<u8>>,
    /// Set: the device stalls its IN endpoint at its next turn.
    pub(crate) halt_in: bool,
}

impl<'a> Pipe<'a> {
    fn new(alloc: &'a UsbBusAllocator<VirtualBus>) -> Self {
        Pipe {
            interface: alloc.interface(),
            out: alloc.bulk(PACKET),
            r#in: alloc.bulk(PACKET),
            allowed: 0,
            read: Vec::new(),
            to_send: VecDeque::new(),
            halt_in: false,
        }
    }

    /// The device's main loop: read within `allowed`, write what waits.
    pub(crate) fn service(&mut self) {
        if std::mem::take(&mut self.halt_in) {
            self.r#in.stall();
        }
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
        if let Some(next) = self.to_send.front() {
            if self.r#in.write(next).is_ok() {
                self.to_send.pop_front();
            }
        }
    }
}

impl UsbClass<VirtualBus> for Pipe<'_> {
    fn get_configuration_descriptors(
        &self,
        writer: &mut DescriptorWriter,
    ) -> usb_device::Result<()> {
        writer.interface(self.interface, 0xFF, 0, 0)?;
        writer.endpoint(&self.out)?;
        writer.endpoint(&self.r#in)
    }
}

/// Bulk transfer `seqnum` on endpoint 1.
pub(crate) fn bulk(seqnum: u32, direction: Direction, length: usize) -> Submit {
    Submit {
        seqnum,
        direction,
        endpoint: 1,
        flags: 0,
        length,
        number_of_packets: 0,
        setup: [0; 8],
    }
}

/// SET_CONFIGURATION 1.
pub(crate) const SET_CONFIGURATION: [u8; 8] = [0x00, 0x09, 1, 0, 0, 0, 0, 0];
/// The host of a [`Pipe`] on a bus of its own, attached and configured (the
/// bus's allocator is leaked: the test's device borrows it to the end).
pub(crate) fn configured_host() -> Host<'static, Pipe<'static>> {
    let bus = VirtualBus::default();
    let alloc = Box::leak(Box::new(UsbBusAllocator::new(bus.clone())));
    let class = Pipe::new(alloc);
    let usb = UsbDeviceBuilder::new(alloc, UsbVidPid(0x1209, 0x0001))
        .max_packet_size_0(64)
        .expect("packet size")
        .build();
    let mut host = Host::new(usb, class, bus, Pipe::service);
    host.attach().expect("attached");
    host.control(SET_CONFIGURATION, &[]).expect("configured");
    host
}

/// Each completion's seqnum, status and length.
pub(crate) fn summary(done: &[Completion]) -> Vec<(u32, i32, usize)> {
    done.iter()
        .map(|d| (d.seqnum, d.status, d.actual_length))
        .collect()
}

/// A bulk OUT transfer (seqnum 1, endpoint 1) of 150 bytes, packets of 64, 64
/// and 22, left pending with the device allowed to read its first packet only:
/// nothing completes and the device has read those 64 bytes. Returns the 150
/// bytes sent.
pub(crate) fn first_packet_of_three_read(host: &mut Host<'_, Pipe<'_>>) -> Vec<u8> {
    let command: Vec<u8> = (0..150u8).collect();
    host.class_mut().allowed = 1;
    let started = host.submit(bulk(1, Direction::Out, command.len()), &command);
    assert!(matches!(started, Ok(None)), "pending: {started:?}");
    assert!(host.pump().is_empty(), "two packets not read yet");
    assert_eq!(host.class_mut().read, [command[..64].to_vec()]);
    command
}
