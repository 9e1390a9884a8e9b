//! The host controller's side of the [`VirtualBus`]: USB/IP transfers (URBs) turned
//! into SETUP / OUT packets and IN packets collected, with the usb-device stack and
//! its class polled in between.
//!
//! Control transfers run to completion at once (SETUP, data stage, status stage;
//! a stall completes them with `-EPIPE`). Bulk and interrupt OUT transfers complete
//! when the device has read their last packet; IN transfers wait until the device
//! sends a short packet (a zero-length one included) or fills their buffer, which
//! may be long after (an interrupt IN waits for the next card movement). An
//! unlink cancels a pending transfer; of an OUT one, the packets the device has
//! not read are withdrawn from the bus, as a host controller sends nothing more
//! of a URB it gave back cancelled: the command the client was told is
//! cancelled never reaches the device.
//!
//! Until the device is configured (SET_CONFIGURATION 0 puts it back in the
//! Address state, USB 2.0 §9.4.7), only its default control pipe works: a bulk
//! or interrupt transfer is refused at once with `-ENOENT`, as the kernel's
//! `usb_submit_urb` refuses one for an endpoint not enabled.
//! A SET_CONFIGURATION the device accepts (0, another value, or the same again)
//! resets its endpoints but 0 (USB 2.0 §9.1.1.5): every bulk and interrupt
//! transfer pending then ends with `-ESHUTDOWN` (an IN one with what it had
//! collected, an OUT one with what the device had read), as a real device's
//! server would end its URBs when the endpoints are disabled, and what either
//! side had written and the other not read is dropped, so nothing from before
//! the change is delivered after it.
//!
//! A halted bulk or interrupt endpoint (SET_FEATURE(ENDPOINT_HALT) from the
//! client, or the device stalling it) answers every transfer with STALL, which
//! the client gets as `-EPIPE` (as Linux's usbip-host reports a STALL), until
//! CLEAR_FEATURE(ENDPOINT_HALT), or a SET_CONFIGURATION or SET_INTERFACE the
//! device accepts, clears the halt (USB 2.0 §9.4.5). The rule for transfers:
//! each one pending on the endpoint when it halts ends at once with `-EPIPE`
//! (an IN one with the data it had collected, an OUT one with the bytes of the
//! packets the device had read; its packets not read are withdrawn, so the
//! device never reads them, not even after the halt is cleared), and each one
//! submitted while it is halted is answered `-EPIPE` at once (its OUT data is
//! never sent). What the device had written on a halted IN endpoint is kept
//! and goes to the first IN transfer after the halt is cleared: nothing the
//! device sent is lost, nothing the client was told failed reaches the device.

use std::collections::VecDeque;

use usb_device::UsbDirection;
use usb_device::class::UsbClass;
use usb_device::control::Request;
use usb_device::descriptor::descriptor_type;
use usb_device::device::{UsbDevice, UsbDeviceState};

use crate::protocol::{
    self, DeviceInfo, Direction, STATUS_OVERFLOW, STATUS_SHUT_DOWN, STATUS_STALL, STATUS_TIMED_OUT,
    Submit, UrbCommand,
};
use crate::virtual_bus::VirtualBus;

/// Polls given to one control transfer before it times out: each poll moves it by
/// one packet, so this bounds a transfer of 128 data bytes many times over.
const CONTROL_POLLS: usize = 64;
/// Polls at most per [`Host::pump`]: each round moves every endpoint by a packet.
const PUMP_POLLS: usize = 4096;
/// Bulk and interrupt transfers in flight at most per client: past that a
/// submission fails at once, which bounds what a client can make the server hold
/// (each transfer at most `MAX_TRANSFER` bytes).
pub const MAX_PENDING: usize = 64;
/// The device's address once attached (what the server's own enumeration gives).
pub const DEVICE_ADDRESS: u8 = 2;

/// A finished transfer, for `USBIP_RET_SUBMIT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The client's sequence number.
    pub seqnum: u32,
    /// 0, or a negative errno.
    pub status: i32,
    /// Bytes transferred.
    pub actual_length: usize,
    /// Echo of the submitted `number_of_packets`.
    pub number_of_packets: i32,
    /// IN data (empty for OUT).
    pub data: Vec<u8>,
}

impl Completion {
    fn of(submit: &Submit, status: i32, actual_length: usize, data: Vec<u8>) -> Completion {
        Completion {
            seqnum: submit.seqnum,
            status,
            actual_length,
            number_of_packets: submit.number_of_packets,
            data,
        }
    }

    /// The `USBIP_RET_SUBMIT` bytes.
    pub fn encode(&self) -> Vec<u8> {
        protocol::ret_submit(
            self.seqnum,
            self.status,
            self.actual_length,
            self.number_of_packets,
            &self.data,
        )
    }
}

/// A bulk or interrupt transfer the device has not finished.
#[derive(Debug)]
enum Pending {
    /// IN: `data` collected so far, at most `submit.length`.
    In { submit: Submit, data: Vec<u8> },
    /// OUT: its packets are the endpoint's packets `from + 1 ..= until` in the
    /// count of those sent; done once the count read reaches `until`. `packet`:
    /// the size its data was cut into (the endpoint's, at least 1), in bytes.
    Out {
        submit: Submit,
        from: u64,
        until: u64,
        packet: usize,
    },
}

impl Pending {
    fn seqnum(&self) -> u32 {
        match self {
            Pending::In { submit, .. } | Pending::Out { submit, .. } => submit.seqnum,
        }
    }

    /// Its endpoint and the direction of the transfer.
    fn endpoint(&self) -> (u8, UsbDirection) {
        match self {
            Pending::In { submit, .. } => (submit.endpoint, UsbDirection::In),
            Pending::Out { submit, .. } => (submit.endpoint, UsbDirection::Out),
        }
    }

    /// Its end before it finished, with `status` (`-ESHUTDOWN` when its
    /// endpoint is reset, `-EPIPE` when it halts, `-ECONNRESET` when it is
    /// unlinked): the IN data collected so
    /// far, or the OUT bytes in the packets the device had read (`read`: the
    /// endpoint's count of packets read).
    fn end(self, status: i32, read: u64) -> Completion {
        match self {
            Pending::In { submit, data } => Completion::of(&submit, status, data.len(), data),
            Pending::Out {
                submit,
                from,
                until,
                packet,
            } => {
                let packets = read.clamp(from, until) - from;
                let bytes = usize::try_from(packets)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(packet)
                    .min(submit.length);
                Completion::of(&submit, status, bytes, Vec::new())
            }
        }
    }
}

/// Why a transfer could not be run at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferError {
    /// The device has no such endpoint in that direction.
    NoEndpoint(u8),
    /// The OUT data is not as long as the header says.
    DataLength,
    /// [`MAX_PENDING`] transfers are in flight already.
    TooMany,
    /// The device is not configured: endpoint `0` is its only one.
    NotConfigured(u8),
}

impl TransferError {
    /// The negative errno the client is answered with.
    pub fn status(self) -> i32 {
        match self {
            TransferError::NoEndpoint(_) | TransferError::NotConfigured(_) => {
                protocol::STATUS_NO_ENDPOINT
            }
            TransferError::DataLength => protocol::STATUS_INVALID,
            TransferError::TooMany => protocol::STATUS_NO_ROOM,
        }
    }
}

/// What became of one URB command (see [`Host::command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The transfer finished at once (control transfers).
    Completed(Completion),
    /// The transfer waits for the device; [`Host::pump`] finishes it.
    Pending,
    /// The transfer could not be run at all.
    Refused {
        /// The client's sequence number.
        seqnum: u32,
        /// Why.
        error: TransferError,
    },
    /// An unlink was answered.
    Unlinked {
        /// The unlink's own sequence number.
        seqnum: u32,
        /// The transfer it named.
        victim: u32,
        /// [`protocol::STATUS_UNLINKED`] if it was cancelled, 0 if it had
        /// completed already.
        status: i32,
    },
}

impl Outcome {
    /// The reply the client gets now, if any.
    pub fn reply(&self) -> Option<Vec<u8>> {
        match self {
            Outcome::Completed(done) => Some(done.encode()),
            Outcome::Pending => None,
            Outcome::Refused { seqnum, error } => {
                Some(protocol::ret_submit(*seqnum, error.status(), 0, 0, &[]))
            }
            Outcome::Unlinked { seqnum, status, .. } => {
                Some(protocol::ret_unlink(*seqnum, *status))
            }
        }
    }
}

/// The descriptors in a configuration descriptor's bytes, in order, each as
/// the bytes from its start to the end of `config` (`bLength` and
/// `bDescriptorType` at least). The walk ends at the end of `config` and after
/// a descriptor whose `bLength` is 0 (yielded: the caller decides whether that
/// is an error).
fn descriptors(config: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = Some(0usize);
    core::iter::from_fn(move || {
        let descriptor = config.get(at?..).filter(|rest| rest.len() >= 2)?;
        at = match descriptor[0] {
            0 => None,
            len => at.map(|at| at + usize::from(len)),
        };
        Some(descriptor)
    })
}

/// The standard GET_DESCRIPTOR request (device to host) for the device's
/// descriptor of type `kind` (index 0), its first `length` bytes.
fn get_descriptor(kind: u8, length: u16) -> [u8; 8] {
    let mut setup = [0x80, Request::GET_DESCRIPTOR, 0, kind, 0, 0, 0, 0];
    setup[6..].copy_from_slice(&length.to_le_bytes());
    setup
}

/// OUT packets of `endpoint` the device has read since the last reset: those
/// `sent` (per endpoint) less those still waiting on `bus`.
fn packets_read(bus: &VirtualBus, sent: &[u64; 16], endpoint: u8) -> u64 {
    let waiting = bus.waiting(endpoint) as u64;
    sent[usize::from(endpoint)].saturating_sub(waiting)
}

/// A usb-device stack with one class `C` on a [`VirtualBus`], seen from the host.
pub struct Host<'a, C> {
    usb: UsbDevice<'a, VirtualBus>,
    class: C,
    bus: VirtualBus,
    /// Called after every poll (a class's own main-loop work, such as card
    /// movements to notify).
    service: fn(&mut C),
    pending: VecDeque<Pending>,
    /// Transfers a configuration change or a halt ended, for the next
    /// [`Host::pump`].
    ended: Vec<Completion>,
    /// OUT packets sent per endpoint since the last reset.
    sent: [u64; 16],
}

impl<'a, C: UsbClass<VirtualBus>> Host<'a, C> {
    /// The host side of `usb` and `class`, whose allocator was built on a clone
    /// of `bus`.
    pub fn new(
        usb: UsbDevice<'a, VirtualBus>,
        class: C,
        bus: VirtualBus,
        service: fn(&mut C),
    ) -> Self {
        Host {
            usb,
            class,
            bus,
            service,
            pending: VecDeque::new(),
            ended: Vec::new(),
            sent: [0; 16],
        }
    }

    /// The class, for the device's own work between transfers.
    pub fn class_mut(&mut self) -> &mut C {
        &mut self.class
    }

    fn poll(&mut self) {
        self.usb.poll(&mut [&mut self.class]);
        (self.service)(&mut self.class);
    }

    /// Reset the bus, drop every pending transfer and give the device
    /// [`DEVICE_ADDRESS`] (the USB/IP client's own SET_ADDRESS stays local to its
    /// host controller: the server's device is already addressed).
    pub fn attach(&mut self) -> Result<(), i32> {
        self.pending.clear();
        self.ended.clear();
        self.sent = [0; 16];
        self.bus.bus_reset();
        self.poll();
        let set_address = [0x00, Request::SET_ADDRESS, DEVICE_ADDRESS, 0, 0, 0, 0, 0];
        self.control(set_address, &[])?;
        // The address is taken after the status stage, as USB wants.
        if self.bus.address() == DEVICE_ADDRESS {
            Ok(())
        } else {
            Err(STATUS_TIMED_OUT)
        }
    }

    /// Run one control transfer: the IN data, or a negative errno. A
    /// SET_CONFIGURATION the device accepts resets its other endpoints: every
    /// bulk and interrupt transfer pending ends with `-ESHUTDOWN` (reported by the
    /// next [`Host::pump`]) and what they hold is dropped
    /// ([`VirtualBus::configuration_changed`]). A SET_INTERFACE the device
    /// accepts clears the halt of that interface's endpoints; a
    /// SET_FEATURE(ENDPOINT_HALT) ends the transfers pending on that endpoint
    /// with `-EPIPE` (see the module's rule).
    pub fn control(&mut self, setup: [u8; 8], out: &[u8]) -> Result<Vec<u8>, i32> {
        let result = self.run_control(setup, out);
        if result.is_ok() && protocol::is_set_configuration(&setup) {
            self.reset_endpoints();
        }
        if let (Ok(_), Some(interface)) = (&result, protocol::set_interface(&setup)) {
            self.clear_interface_halts(interface);
        }
        self.end_halted();
        result
    }

    /// Clear the halt of the endpoints of `interface` (in any of its alternate
    /// settings), found in the configuration descriptor (USB 2.0 §9.4.5: the
    /// Halt feature is reset to zero after a SetInterface).
    fn clear_interface_halts(&mut self, interface: u8) {
        let Some(config) = self.configuration() else {
            return;
        };
        let mut current = None;
        for descriptor in descriptors(&config) {
            match (descriptor[1], descriptor.get(2)) {
                (descriptor_type::INTERFACE, Some(&number)) => current = Some(number),
                (descriptor_type::ENDPOINT, Some(&address)) if current == Some(interface) => {
                    self.bus
                        .clear_halt(address & 0x0F, UsbDirection::from(address));
                }
                _ => {}
            }
        }
    }

    /// End every transfer pending on a halted endpoint with `-EPIPE`
    /// (reported by the next [`Host::pump`]; [`Host::end_early`]).
    fn end_halted(&mut self) {
        let mut index = 0;
        while let Some(pending) = self.pending.get(index) {
            let (endpoint, direction) = pending.endpoint();
            if !self.bus.stalled(endpoint, direction) {
                index += 1;
                continue;
            }
            if let Some(done) = self.end_early(index, STATUS_STALL) {
                self.ended.push(done);
            }
        }
    }

    /// Every pending bulk and interrupt transfer ends with `-ESHUTDOWN` (reported
    /// by the next [`Host::pump`]; [`Host::end_early`], which withdraws their
    /// unread OUT packets) and the endpoints but 0 are emptied of the rest
    /// (the IN packets: [`VirtualBus::configuration_changed`]).
    fn reset_endpoints(&mut self) {
        while let Some(done) = self.end_early(0, STATUS_SHUT_DOWN) {
            self.ended.push(done);
        }
        self.bus.configuration_changed();
    }

    /// Take the transfer pending at `index` out of the queue before it
    /// finished, and end it with `status` (`-EPIPE` on a halt, `-ESHUTDOWN` on
    /// a configuration change, `-ECONNRESET` on an unlink): of an OUT transfer
    /// the packets the device has not read are withdrawn ([`Host::withdraw`]),
    /// as a host controller sends nothing more of a transfer it ended. Its
    /// completion: the IN data collected so far, or the OUT bytes of the
    /// packets the device had read ([`Pending::end`]); `None` if nothing is
    /// pending at `index`.
    fn end_early(&mut self, index: usize, status: i32) -> Option<Completion> {
        let pending = self.pending.remove(index)?;
        let read = match &pending {
            Pending::Out {
                submit,
                from,
                until,
                ..
            } => {
                let read = packets_read(&self.bus, &self.sent, submit.endpoint);
                self.withdraw(submit.endpoint, *from, *until);
                read
            }
            Pending::In { .. } => 0,
        };
        Some(pending.end(status, read))
    }

    fn run_control(&mut self, setup: [u8; 8], out: &[u8]) -> Result<Vec<u8>, i32> {
        let wanted = usize::from(u16::from_le_bytes([setup[6], setup[7]]));
        let device_to_host = UsbDirection::from(setup[0]) == UsbDirection::In;
        let packet = usize::from(self.bus.max_packet(0, UsbDirection::In).unwrap_or(8)).max(1);
        self.bus.setup(setup);
        self.poll();
        if !device_to_host {
            for chunk in out.get(..wanted).unwrap_or(out).chunks(packet) {
                self.bus.send(0, chunk);
            }
        }
        let mut data = Vec::new();
        for _ in 0..CONTROL_POLLS {
            if self.bus.stalled(0, UsbDirection::In) {
                return Err(STATUS_STALL);
            }
            if let Some(chunk) = self.bus.take(0) {
                if !device_to_host {
                    // The device's zero-length status packet.
                    self.poll();
                    return Ok(data);
                }
                let room = wanted.saturating_sub(data.len());
                data.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
                if chunk.len() < packet || data.len() >= wanted {
                    // The host's zero-length status packet.
                    self.bus.send(0, &[]);
                    self.poll();
                    self.poll();
                    return Ok(data);
                }
            }
            self.poll();
        }
        Err(STATUS_TIMED_OUT)
    }

    /// Start the transfer `submit` (with its OUT data): a control transfer
    /// completes at once, and so does one to a halted endpoint (`-EPIPE`), the
    /// others when [`Host::pump`] says.
    pub fn submit(
        &mut self,
        submit: Submit,
        out: &[u8],
    ) -> Result<Option<Completion>, TransferError> {
        if out.len() != submit.out_len() {
            return Err(TransferError::DataLength);
        }
        if submit.endpoint == 0 {
            let completion = match self.control(submit.setup, out) {
                Ok(data) => {
                    let data = match submit.direction {
                        Direction::In => data.get(..submit.length).unwrap_or(&data).to_vec(),
                        Direction::Out => Vec::new(),
                    };
                    let actual = match submit.direction {
                        Direction::In => data.len(),
                        Direction::Out => out.len(),
                    };
                    Completion::of(&submit, 0, actual, data)
                }
                Err(status) => Completion::of(&submit, status, 0, Vec::new()),
            };
            return Ok(Some(completion));
        }
        if !self.configured() {
            return Err(TransferError::NotConfigured(submit.endpoint));
        }
        let direction = match submit.direction {
            Direction::In => UsbDirection::In,
            Direction::Out => UsbDirection::Out,
        };
        let Some(packet) = self.bus.max_packet(submit.endpoint, direction) else {
            return Err(TransferError::NoEndpoint(submit.endpoint));
        };
        if self.bus.stalled(submit.endpoint, direction) {
            // STALL at its first packet: nothing of it moves.
            return Ok(Some(Completion::of(&submit, STATUS_STALL, 0, Vec::new())));
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(TransferError::TooMany);
        }
        let pending = match submit.direction {
            Direction::In => Pending::In {
                submit,
                data: Vec::new(),
            },
            Direction::Out => {
                let packet = usize::from(packet).max(1);
                let mut count = 0u64;
                for chunk in out.chunks(packet) {
                    self.bus.send(submit.endpoint, chunk);
                    count += 1;
                }
                let zero_packet =
                    submit.flags & protocol::URB_ZERO_PACKET != 0 && out.len() % packet == 0;
                if out.is_empty() || zero_packet {
                    self.bus.send(submit.endpoint, &[]);
                    count += 1;
                }
                let sent = &mut self.sent[usize::from(submit.endpoint)];
                let from = *sent;
                *sent += count;
                Pending::Out {
                    submit,
                    from,
                    until: *sent,
                    packet,
                }
            }
        };
        self.pending.push_back(pending);
        Ok(None)
    }

    /// Run one URB command from the client (with its OUT data): a submission is
    /// started, an unlink cancels its victim if still pending.
    pub fn command(&mut self, command: UrbCommand, out: &[u8]) -> Outcome {
        match command {
            UrbCommand::Submit(submit) => match self.submit(submit, out) {
                Ok(Some(done)) => Outcome::Completed(done),
                Ok(None) => Outcome::Pending,
                Err(error) => Outcome::Refused {
                    seqnum: submit.seqnum,
                    error,
                },
            },
            UrbCommand::Unlink { seqnum, victim } => {
                let status = if self.unlink(victim) {
                    protocol::STATUS_UNLINKED
                } else {
                    0
                };
                Outcome::Unlinked {
                    seqnum,
                    victim,
                    status,
                }
            }
        }
    }

    /// Transfers in flight (at most [`MAX_PENDING`]).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Cancel the pending transfer `seqnum`; false if it is not pending (it had
    /// completed already). Of a cancelled OUT transfer, the packets the device
    /// has not read are taken back off the bus
    /// ([`VirtualBus::withdraw`](crate::virtual_bus::VirtualBus::withdraw)): its
    /// command never reaches the device.
    pub fn unlink(&mut self, seqnum: u32) -> bool {
        let mut found = false;
        while let Some(at) = self.pending.iter().position(|p| p.seqnum() == seqnum) {
            found = true;
            // Its completion is not sent: the client hears of it by the
            // RET_UNLINK (`Host::command`).
            let _unsent = self.end_early(at, protocol::STATUS_UNLINKED);
        }
        found
    }

    /// Withdraw from the bus the packets `from + 1 ..= until` of OUT `endpoint`
    /// (in the count of those sent) that the device has not read, as a host
    /// controller sends nothing more of an unlinked URB; those it read stay read
    /// (a message cut short is the device's to handle, as on a real bus). The
    /// count of packets sent, and the place of the transfers queued behind, move
    /// down by as many.
    fn withdraw(&mut self, endpoint: u8, from: u64, until: u64) {
        let read = packets_read(&self.bus, &self.sent, endpoint);
        let first = from.max(read);
        let (Ok(skip), Ok(count)) = (
            usize::try_from(first - read),
            usize::try_from(until.saturating_sub(first)),
        ) else {
            return;
        };
        let withdrawn = self.bus.withdraw(endpoint, skip, count) as u64;
        let sent = &mut self.sent[usize::from(endpoint)];
        *sent = sent.saturating_sub(withdrawn);
        for pending in &mut self.pending {
            if let Pending::Out {
                submit,
                from: later_from,
                until: later_until,
                ..
            } = pending
            {
                if submit.endpoint == endpoint && *later_from >= until {
                    *later_from -= withdrawn;
                    *later_until -= withdrawn;
                }
            }
        }
    }

    /// Whether the device is in its Configured state (its bulk and interrupt
    /// endpoints usable).
    pub fn configured(&self) -> bool {
        self.usb.state() == UsbDeviceState::Configured
    }

    /// Poll the device until nothing moves, and return the transfers that
    /// finished (first those a configuration change or a halt ended; a halt
    /// the device sets itself ends its endpoint's transfers here).
    pub fn pump(&mut self) -> Vec<Completion> {
        self.end_halted();
        let mut done = std::mem::take(&mut self.ended);
        if !self.configured() {
            return done;
        }
        for _ in 0..PUMP_POLLS {
            self.poll();
            self.end_halted();
            let halted = !self.ended.is_empty();
            done.append(&mut self.ended);
            let moved = self.collect(&mut done);
            if !moved && !halted {
                break;
            }
        }
        done
    }

    /// Move IN packets into the oldest transfer of their endpoint and finish the
    /// transfers that are complete; true if anything moved.
    fn collect(&mut self, done: &mut Vec<Completion>) -> bool {
        let mut moved = false;
        let mut served: u16 = 0;
        let mut index = 0;
        while let Some(pending) = self.pending.get_mut(index) {
            let finished = match pending {
                Pending::In { submit, data } => {
                    let bit = 1u16 << submit.endpoint;
                    let first_of_endpoint = served & bit == 0;
                    served |= bit;
                    let packet = self.bus.max_packet(submit.endpoint, UsbDirection::In);
                    match (first_of_endpoint, packet) {
                        (true, Some(packet)) => match self.bus.take(submit.endpoint) {
                            Some(chunk) => {
                                moved = true;
                                let room = submit.length.saturating_sub(data.len());
                                let overflow = chunk.len() > room;
                                data.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
                                let short = chunk.len() < usize::from(packet);
                                if overflow {
                                    Some(STATUS_OVERFLOW)
                                } else if short || data.len() >= submit.length {
                                    Some(0)
                                } else {
                                    None
                                }
                            }
                            None => None,
                        },
                        _ => None,
                    }
                }
                Pending::Out { submit, until, .. } => {
                    (packets_read(&self.bus, &self.sent, submit.endpoint) >= *until).then_some(0)
                }
            };
            match finished {
                Some(status) => {
                    moved = true;
                    let completion = match self.pending.remove(index) {
                        Some(Pending::In { submit, data }) => {
                            Completion::of(&submit, status, data.len(), data)
                        }
                        Some(Pending::Out { submit, .. }) => {
                            Completion::of(&submit, status, submit.length, Vec::new())
                        }
                        None => continue,
                    };
                    done.push(completion);
                }
                None => index += 1,
            }
        }
        moved
    }

    /// The device's whole configuration descriptor (its header first, for the
    /// total length), as a host reads it.
    fn configuration(&mut self) -> Option<Vec<u8>> {
        let header = self
            .run_control(get_descriptor(descriptor_type::CONFIGURATION, 9), &[])
            .ok()?;
        let total = u16::from_le_bytes([*header.get(2)?, *header.get(3)?]);
        self.run_control(get_descriptor(descriptor_type::CONFIGURATION, total), &[])
            .ok()
    }

    /// Enumerate the device as a host would (device and configuration
    /// descriptors) and describe it for the device list; `None` if its
    /// descriptors cannot be read or make no sense.
    pub fn describe(&mut self, busnum: u32, busid: &str) -> Option<DeviceInfo> {
        let device = self
            .control(get_descriptor(descriptor_type::DEVICE, 18), &[])
            .ok()?;
        let config = self.configuration()?;
        let word = |at: usize| Some(u16::from_le_bytes([*device.get(at)?, *device.get(at + 1)?]));
        let mut interfaces = Vec::new();
        for descriptor in descriptors(&config) {
            if descriptor[1] == descriptor_type::INTERFACE {
                let fields = descriptor.get(5..8)?;
                interfaces.push([fields[0], fields[1], fields[2]]);
            }
            if descriptor[0] == 0 {
                return None;
            }
        }
        Some(DeviceInfo {
            path: format!("/sys/devices/platform/readerkit-usbip/usb{busnum}/{busid}"),
            busid: busid.to_string(),
            busnum,
            devnum: u32::from(DEVICE_ADDRESS),
            speed: protocol::SPEED_FULL,
            ids: [word(8)?, word(10)?, word(12)?],
            class: [*device.get(4)?, *device.get(5)?, *device.get(6)?],
            configuration: *config.get(5)?,
            configurations: *device.get(17)?,
            interfaces,
        })
    }
}
