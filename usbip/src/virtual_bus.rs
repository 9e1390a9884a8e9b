//! A `usb_device::bus::UsbBus` with no hardware behind it: the device side is any
//! usb-device class, the host side is [`VirtualBus`]'s own methods (SETUP packets,
//! OUT packets, IN packets taken), which the USB/IP server drives from URBs.
//!
//! It models a full-speed device controller: each OUT endpoint queues the packets
//! the host sent until the device reads them (the host sees NAK meanwhile); each
//! IN endpoint holds one packet the device wrote until the host takes it, and the
//! next `poll` reports that endpoint's IN as complete. A SETUP packet clears
//! endpoint 0 (its stall and any packet left of an earlier transfer), as a real
//! controller does. A change of configuration empties the other endpoints, IN
//! and OUT, and clears their halt ([`VirtualBus::configuration_changed`]): what
//! either side wrote before it and the other had not read is not delivered
//! after.
//!
//! A halted (stalled) endpoint other than 0 moves nothing, as a controller
//! answers every token to it with STALL (USB 2.0 §9.4.5): the host takes no IN
//! packet from it ([`VirtualBus::take`]) and the device reads no OUT packet
//! from it, until the halt is cleared (`set_stalled(.., false)`, which
//! usb-device calls for CLEAR_FEATURE(ENDPOINT_HALT), as it calls it with
//! `true` for SET_FEATURE). A packet the device wrote on a halted IN endpoint
//! stays there and goes to the host once the halt is cleared.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use usb_device::bus::{PollResult, UsbBus};
use usb_device::endpoint::{EndpointAddress, EndpointType};
use usb_device::{UsbDirection, UsbError};

/// Number of endpoints per direction.
const ENDPOINTS: usize = 16;

/// One endpoint of one direction.
#[derive(Debug, Default)]
struct Endpoint {
    /// Largest packet, in bytes.
    max_packet: u16,
    stalled: bool,
    /// OUT: packets from the host not read yet. IN: at most one packet written by
    /// the device, not taken yet.
    packets: VecDeque<Vec<u8>>,
}

#[derive(Debug, Default)]
struct Wire {
    out: [Option<Endpoint>; ENDPOINTS],
    r#in: [Option<Endpoint>; ENDPOINTS],
    setup: Option<[u8; 8]>,
    reset: bool,
    /// IN endpoints whose packet the host took since the last poll (bit n = EP n).
    in_complete: u16,
    address: u8,
}

impl Wire {
    fn endpoint(&mut self, ep: EndpointAddress) -> Option<&mut Endpoint> {
        let table = match ep.direction() {
            UsbDirection::Out => &mut self.out,
            UsbDirection::In => &mut self.r#in,
        };
        table.get_mut(ep.index()).and_then(Option::as_mut)
    }
}

/// The bus, shared between the usb-device stack (which owns one handle through its
/// `UsbBusAllocator`) and the host side (a clone).
#[derive(Debug, Clone, Default)]
pub struct VirtualBus(Arc<Mutex<Wire>>);

impl VirtualBus {
    fn wire(&self) -> MutexGuard<'_, Wire> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Host side: reset the bus (the next `poll` reports it); every endpoint is
    /// emptied and unstalled, the address goes back to 0.
    pub fn bus_reset(&self) {
        let mut guard = self.wire();
        let w = &mut *guard;
        w.reset = true;
        w.setup = None;
        w.in_complete = 0;
        w.address = 0;
        for ep in w.out.iter_mut().chain(w.r#in.iter_mut()).flatten() {
            ep.packets.clear();
            ep.stalled = false;
        }
    }

    /// Host side: the device's configuration was set (SET_CONFIGURATION, 0 or
    /// another value, or the same again): every endpoint but 0 is emptied, IN
    /// packets with their completions not reported yet and OUT packets the device
    /// has not read, since a configuration change resets those endpoints (USB 2.0
    /// §9.1.1.5, §9.4.7): nothing written before it is delivered after. Their
    /// halt is cleared too (§9.4.5: the Halt feature is reset to zero after a
    /// SetConfiguration, even of the configuration in use).
    pub fn configuration_changed(&self) {
        let mut guard = self.wire();
        let w = &mut *guard;
        let out = w.out.iter_mut().skip(1);
        for ep in out.chain(w.r#in.iter_mut().skip(1)).flatten() {
            ep.packets.clear();
            ep.stalled = false;
        }
        w.in_complete &= 1;
    }

    /// Host side: a SETUP packet on endpoint 0, which starts a control transfer.
    pub fn setup(&self, packet: [u8; 8]) {
        let mut guard = self.wire();
        let w = &mut *guard;
        for ep in [w.out[0].as_mut(), w.r#in[0].as_mut()]
            .into_iter()
            .flatten()
        {
            ep.packets.clear();
            ep.stalled = false;
        }
        w.in_complete &= !1;
        w.setup = Some(packet);
    }

    /// Host side: an OUT packet for endpoint `number`. False if the device has no
    /// such OUT endpoint.
    pub fn send(&self, number: u8, packet: &[u8]) -> bool {
        let mut w = self.wire();
        match w.endpoint(EndpointAddress::from_parts(
            usize::from(number),
            UsbDirection::Out,
        )) {
            Some(ep) => {
                ep.packets.push_back(packet.to_vec());
                true
            }
            None => false,
        }
    }

    /// Host side: how many OUT packets endpoint `number` has not read yet.
    pub fn waiting(&self, number: u8) -> usize {
        let mut w = self.wire();
        w.endpoint(EndpointAddress::from_parts(
            usize::from(number),
            UsbDirection::Out,
        ))
        .map_or(0, |ep| ep.packets.len())
    }

    /// Host side: withdraw `count` OUT packets of endpoint `number` the device
    /// has not read, from the `skip`-th waiting on (0: the next it reads), as a
    /// host controller sends nothing more of a transfer cancelled; the number
    /// withdrawn (fewer if fewer wait there).
    pub fn withdraw(&self, number: u8, skip: usize, count: usize) -> usize {
        let mut w = self.wire();
        let address = EndpointAddress::from_parts(usize::from(number), UsbDirection::Out);
        let Some(ep) = w.endpoint(address) else {
            return 0;
        };
        let start = skip.min(ep.packets.len());
        let end = start.saturating_add(count).min(ep.packets.len());
        ep.packets.drain(start..end).count()
    }

    /// Host side: take the packet IN endpoint `number` holds, if any; none
    /// while it is halted (endpoint 0 excepted: its stall ends the control
    /// transfer, which the host sees with [`VirtualBus::stalled`]).
    pub fn take(&self, number: u8) -> Option<Vec<u8>> {
        let mut w = self.wire();
        let address = EndpointAddress::from_parts(usize::from(number), UsbDirection::In);
        let ep = w.endpoint(address)?;
        if ep.stalled && number != 0 {
            return None;
        }
        let packet = ep.packets.pop_front()?;
        w.in_complete |= 1 << number;
        Some(packet)
    }

    /// Host side: the largest packet of endpoint `number` in `direction`, if the
    /// device has that endpoint.
    pub fn max_packet(&self, number: u8, direction: UsbDirection) -> Option<u16> {
        let mut w = self.wire();
        w.endpoint(EndpointAddress::from_parts(usize::from(number), direction))
            .map(|ep| ep.max_packet)
    }

    /// Host side: clear the halt of endpoint `number` in `direction` (what a
    /// SET_INTERFACE accepted does to the interface's endpoints, USB 2.0
    /// §9.4.5); nothing if the device has no such endpoint.
    pub fn clear_halt(&self, number: u8, direction: UsbDirection) {
        let mut w = self.wire();
        if let Some(ep) = w.endpoint(EndpointAddress::from_parts(usize::from(number), direction)) {
            ep.stalled = false;
        }
    }

    /// Host side: whether endpoint `number` in `direction` is stalled.
    pub fn stalled(&self, number: u8, direction: UsbDirection) -> bool {
        let mut w = self.wire();
        w.endpoint(EndpointAddress::from_parts(usize::from(number), direction))
            .is_some_and(|ep| ep.stalled)
    }

    /// The address the device took (0 until SET_ADDRESS).
    pub fn address(&self) -> u8 {
        self.wire().address
    }
}

impl UsbBus for VirtualBus {
    fn alloc_ep(
        &mut self,
        dir: UsbDirection,
        addr: Option<EndpointAddress>,
        ep_type: EndpointType,
        max_packet_size: u16,
        _interval: u8,
    ) -> usb_device::Result<EndpointAddress> {
        let mut w = self.wire();
        let table = match dir {
            UsbDirection::Out => &mut w.out,
            UsbDirection::In => &mut w.r#in,
        };
        let index = match addr {
            Some(addr) if table.get(addr.index()).is_some_and(Option::is_none) => addr.index(),
            Some(_) => return Err(UsbError::InvalidEndpoint),
            None if ep_type == EndpointType::Control => 0,
            None => (1..ENDPOINTS)
                .find(|&i| table[i].is_none())
                .ok_or(UsbError::EndpointOverflow)?,
        };
        table[index] = Some(Endpoint {
            max_packet: max_packet_size,
            ..Endpoint::default()
        });
        Ok(EndpointAddress::from_parts(index, dir))
    }

    fn enable(&mut self) {}

    fn reset(&self) {}

    fn set_device_address(&self, addr: u8) {
        self.wire().address = addr;
    }

    fn write(&self, ep_addr: EndpointAddress, buf: &[u8]) -> usb_device::Result<usize> {
        let mut w = self.wire();
        let ep = w.endpoint(ep_addr).ok_or(UsbError::InvalidEndpoint)?;
        if buf.len() > usize::from(ep.max_packet) {
            return Err(UsbError::BufferOverflow);
        }
        if !ep.packets.is_empty() {
            return Err(UsbError::WouldBlock);
        }
        ep.packets.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn read(&self, ep_addr: EndpointAddress, buf: &mut [u8]) -> usb_device::Result<usize> {
        let mut w = self.wire();
        if ep_addr.index() == 0 {
            if let Some(setup) = w.setup.take() {
                let dest = buf.get_mut(..setup.len()).ok_or(UsbError::BufferOverflow)?;
                dest.copy_from_slice(&setup);
                return Ok(setup.len());
            }
        }
        let ep = w.endpoint(ep_addr).ok_or(UsbError::InvalidEndpoint)?;
        // A halted OUT endpoint receives nothing: the host's packets get STALL.
        if ep.stalled && ep_addr.index() != 0 {
            return Err(UsbError::WouldBlock);
        }
        let packet = ep.packets.pop_front().ok_or(UsbError::WouldBlock)?;
        let dest = buf
            .get_mut(..packet.len())
            .ok_or(UsbError::BufferOverflow)?;
        dest.copy_from_slice(&packet);
        Ok(packet.len())
    }

    fn set_stalled(&self, ep_addr: EndpointAddress, stalled: bool) {
        if let Some(ep) = self.wire().endpoint(ep_addr) {
            ep.stalled = stalled;
        }
    }

    fn is_stalled(&self, ep_addr: EndpointAddress) -> bool {
        self.wire().endpoint(ep_addr).is_some_and(|ep| ep.stalled)
    }

    fn suspend(&self) {}

    fn resume(&self) {}

    fn poll(&self) -> PollResult {
        let mut w = self.wire();
        if std::mem::take(&mut w.reset) {
            return PollResult::Reset;
        }
        let ep_setup = u16::from(w.setup.is_some());
        let mut ep_out = ep_setup;
        for (n, ep) in w.out.iter().enumerate() {
            if ep.as_ref().is_some_and(|ep| !ep.packets.is_empty()) {
                ep_out |= 1 << n;
            }
        }
        let ep_in_complete = std::mem::take(&mut w.in_complete);
        if ep_out | ep_in_complete == 0 {
            return PollResult::None;
        }
        PollResult::Data {
            ep_out,
            ep_in_complete,
            ep_setup,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_change_empties_the_endpoints_but_0() {
        let mut bus = VirtualBus::default();
        let kinds = [
            (EndpointType::Control, 64, 0),
            (EndpointType::Bulk, 64, 0),
            (EndpointType::Interrupt, 8, 16),
        ];
        let [control_in, bulk_in, interrupt_in] = kinds.map(|(kind, size, interval)| {
            bus.alloc_ep(UsbDirection::In, None, kind, size, interval)
                .unwrap()
        });
        bus.alloc_ep(UsbDirection::Out, None, EndpointType::Bulk, 64, 0)
            .unwrap();
        for (ep, packet) in [(control_in, [0u8]), (bulk_in, [1]), (interrupt_in, [2])] {
            assert_eq!(bus.write(ep, &packet), Ok(1));
        }
        // A packet taken, its completion not polled yet.
        assert_eq!(bus.take(2), Some(vec![2]));
        assert_eq!(bus.write(interrupt_in, &[3]), Ok(1));
        assert!(bus.send(1, &[4]));
        bus.configuration_changed();
        assert_eq!((bus.take(1), bus.take(2)), (None, None));
        assert_eq!(bus.take(0), Some(vec![0]), "endpoint 0 keeps its packet");
        assert_eq!(bus.waiting(1), 0, "OUT packets go too");
        assert!(matches!(
            bus.poll(),
            PollResult::Data {
                ep_in_complete: 1,
                ..
            }
        ));
        // The endpoints are usable again.
        assert_eq!(bus.write(bulk_in, &[5]), Ok(1));
        assert_eq!(bus.take(1), Some(vec![5]));
    }
}
