//! The endpoints of a CCID interface and the messages on them: bulk-OUT packets
//! assembled into messages by their `dwLength`, answers split into bulk-IN
//! packets (a zero-length packet after one that fills its last packet), and
//! NotifySlotChange on the interrupt endpoint. Shared by [`super::CcidClass`]
//! (commands run inside it) and [`super::port::CcidPort`] (commands run outside).

use usb_device::Result as UsbResult;
use usb_device::UsbError;
use usb_device::bus::{InterfaceNumber, UsbBus, UsbBusAllocator};
use usb_device::class::UsbClass;
use usb_device::control::{Recipient, Request, RequestType};
use usb_device::descriptor::DescriptorWriter;
use usb_device::device::{CONFIGURATION_NONE, CONFIGURATION_VALUE, DEFAULT_ALTERNATE_SETTING};
use usb_device::endpoint::{EndpointAddress, EndpointIn, EndpointOut};

use super::{INTERFACE_CLASS, INTERFACE_PROTOCOL, INTERRUPT_INTERVAL_MS, MAX_PACKET};
use crate::descriptor;
use crate::message::{HEADER_LEN, Message};
use crate::reader::ConfigError;

/// `true` for the standard request SET_CONFIGURATION of a configuration
/// usb-device accepts (none, or its one configuration); it refuses any other
/// (STALL), which changes nothing.
fn is_set_configuration(request: &Request) -> bool {
    request.request_type == RequestType::Standard
        && request.recipient == Recipient::Device
        && request.request == Request::SET_CONFIGURATION
        && (request.value == u16::from(CONFIGURATION_NONE)
            || request.value == u16::from(CONFIGURATION_VALUE))
}

/// What a control-OUT request (usb-device hands every one to the classes
/// before it answers the standard ones itself) asks of a CCID class, once the
/// pipe has taken its own part ([`Pipe::control_out`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlOutRoute {
    /// SET_CONFIGURATION (of a configuration usb-device accepts: a refused
    /// one changes nothing): the host (re)configures the device, so the class
    /// starts over as after a bus reset (USB 2.0 §9.1.1.5: the endpoints
    /// return to their defaults). usb-device answers the request.
    StartOver,
    /// A class request to this interface: the class accepts or rejects it.
    Class,
    /// Anything else: usb-device (or another class) answers it.
    NotOurs,
}

impl ControlOutRoute {
    /// Takes the route for `class`: `true` for [`ControlOutRoute::Class`]
    /// (the class goes on to accept or reject the request); for
    /// [`ControlOutRoute::StartOver`] the class is reset first
    /// ([`UsbClass::reset`]). One prologue for the `control_out` of
    /// [`super::CcidClass`] and [`super::port::CcidPort`].
    pub(crate) fn follow<B: UsbBus>(self, class: &mut impl UsbClass<B>) -> bool {
        match self {
            ControlOutRoute::StartOver => {
                class.reset();
                false
            }
            ControlOutRoute::NotOurs => false,
            ControlOutRoute::Class => true,
        }
    }
}

/// Where the bulk-OUT side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receive {
    /// Collecting a message: `have` bytes so far (only the first `N` are kept).
    Collecting { have: usize },
    /// A message is complete and waits to be taken.
    Complete { len: usize },
}

/// Where the bulk-IN side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transmit {
    /// Nothing to send.
    Idle,
    /// Sending `len` bytes of the answer, `sent` of them handed to the bus.
    Sending { len: usize, sent: usize },
    /// The packet handed to the bus last was a full one and ends what goes
    /// out of the answer (its last packet, or the one under way when the host
    /// reset the pipe): a zero-length packet ends the transfer.
    Terminating,
}

/// Which of the pipe's endpoints a standard request returns to their
/// defaults, the host's side of them reset too (USB 2.0 §9.4.5: the data
/// toggle back to DATA0, the halt cleared; the host retired the transfers
/// pending there, §5.8.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PipeReset {
    /// CLEAR_FEATURE(ENDPOINT_HALT) of bulk OUT.
    BulkOut,
    /// CLEAR_FEATURE(ENDPOINT_HALT) of bulk IN.
    BulkIn,
    /// SET_INTERFACE, alternate setting 0 (the interface's only one) of this
    /// interface: every endpoint of it (§9.1.1.5, §9.4.10). The interrupt
    /// endpoint has nothing to reset: a notification is one packet, sent
    /// whole or not at all.
    Interface,
}

impl PipeReset {
    /// `true` if bulk OUT is reset.
    fn bulk_out(self) -> bool {
        matches!(self, PipeReset::BulkOut | PipeReset::Interface)
    }

    /// `true` if bulk IN is reset.
    fn bulk_in(self) -> bool {
        matches!(self, PipeReset::BulkIn | PipeReset::Interface)
    }
}

/// The interface, its endpoints and `N`-byte message buffers.
pub(crate) struct Pipe<'a, B: UsbBus, const N: usize> {
    pub(crate) interface: InterfaceNumber,
    bulk_out: EndpointOut<'a, B>,
    bulk_in: EndpointIn<'a, B>,
    interrupt: EndpointIn<'a, B>,
    /// The message coming in (bulk-OUT).
    pub(crate) incoming: [u8; N],
    receive: Receive,
    /// The answer going out (bulk-IN).
    pub(crate) outgoing: [u8; N],
    transmit: Transmit,
    notifying: bool,
}

impl<'a, B: UsbBus, const N: usize> Pipe<'a, B, N> {
    /// The interface on `alloc` with bulk endpoints of `max_packet_size` bytes (8,
    /// 16, 32 or 64 at full speed) for messages of up to `max_message` bytes (at
    /// most `N`).
    pub(crate) fn new(
        alloc: &'a UsbBusAllocator<B>,
        max_packet_size: u16,
        max_message: u32,
    ) -> Result<Self, ConfigError> {
        if N < usize::try_from(max_message).unwrap_or(usize::MAX) {
            return Err(ConfigError::MessageLength);
        }
        if !matches!(max_packet_size, 8 | 16 | 32 | 64) {
            return Err(ConfigError::PacketSize);
        }
        Ok(Pipe {
            interface: alloc.interface(),
            bulk_out: alloc.bulk(max_packet_size),
            bulk_in: alloc.bulk(max_packet_size),
            interrupt: alloc.interrupt(8, INTERRUPT_INTERVAL_MS),
            incoming: [0; N],
            receive: Receive::Collecting { have: 0 },
            outgoing: [0; N],
            transmit: Transmit::Idle,
            notifying: false,
        })
    }

    /// The interface, the class descriptor and the three endpoints.
    pub(crate) fn write_descriptors(
        &self,
        writer: &mut DescriptorWriter,
        class_descriptor: &[u8; descriptor::LEN],
    ) -> UsbResult<()> {
        writer.interface(self.interface, INTERFACE_CLASS, 0, INTERFACE_PROTOCOL)?;
        writer.write(descriptor::DESCRIPTOR_TYPE, &class_descriptor[2..])?;
        writer.endpoint(&self.bulk_out)?;
        writer.endpoint(&self.bulk_in)?;
        writer.endpoint(&self.interrupt)?;
        Ok(())
    }

    /// `true` if `request` is a class request to this interface.
    pub(crate) fn is_ours(&self, request: &Request) -> bool {
        request.request_type == RequestType::Class
            && request.recipient == Recipient::Interface
            && request.index == u16::from(u8::from(self.interface))
    }

    /// The bus was reset.
    pub(crate) fn reset(&mut self) {
        self.receive = Receive::Collecting { have: 0 };
        self.transmit = Transmit::Idle;
        self.notifying = false;
    }

    /// A control-OUT request, before usb-device answers a standard one: the
    /// pipe's part taken ([`Pipe::standard_request`]: CLEAR_FEATURE
    /// (ENDPOINT_HALT) of a bulk endpoint, SET_INTERFACE), where it goes next.
    /// One routing for [`super::CcidClass`] and [`super::port::CcidPort`].
    /// SET_INTERFACE resets the pipe only, as the halt's clearing does: the
    /// host that sends it stays, with its class ABORT and its running
    /// command (whose answer goes out whole), unlike SET_CONFIGURATION's
    /// start over.
    pub(crate) fn control_out(&mut self, request: &Request) -> ControlOutRoute {
        if is_set_configuration(request) {
            return ControlOutRoute::StartOver;
        }
        self.standard_request(request);
        if self.is_ours(request) {
            ControlOutRoute::Class
        } else {
            ControlOutRoute::NotOurs
        }
    }

    /// A standard request usb-device is about to answer (and accept) that
    /// resets the host's side of the pipe ([`PipeReset`]): what the host gave
    /// up there is dropped, so that what it sends and reads next starts a
    /// message.
    ///
    /// - Bulk OUT: the part of a message collected before the reset (the
    ///   next packet starts a message, not the rest of one the host gave up).
    ///   A complete message waiting stays: its transfer completed.
    /// - Bulk IN: the rest of an answer of which the host has taken a packet
    ///   at least (it retired the transfer reading it; libccid matches answers
    ///   by `bSeq`, and would read the rest as a header). The packet handed to
    ///   the bus last is the controller's (usb-device cannot take it back;
    ///   the usbip crate's bus and synopsys-usb-otg deliver it): a
    ///   zero-length packet ends the transfer after it, so that the next
    ///   answer starts one of its own. An answer of which the host has taken
    ///   nothing yet goes out whole: it gave none of it up.
    fn standard_request(&mut self, request: &Request) {
        let Some(reset) = self.reset_by(request) else {
            return;
        };
        if reset.bulk_out() && self.message_len().is_none() {
            self.receive = Receive::Collecting { have: 0 };
        }
        let packet = usize::from(self.bulk_in.max_packet_size());
        let taken = matches!(self.transmit, Transmit::Sending { sent, .. } if sent > packet);
        if reset.bulk_in() && taken {
            self.transmit = Transmit::Terminating;
            self.send_next();
        }
    }

    /// The endpoints of this pipe `request` resets, if it is a standard
    /// request that does (usb-device accepts each of them).
    fn reset_by(&self, request: &Request) -> Option<PipeReset> {
        if request.request_type != RequestType::Standard {
            return None;
        }
        match (request.recipient, request.request) {
            (Recipient::Endpoint, Request::CLEAR_FEATURE)
                if request.value == Request::FEATURE_ENDPOINT_HALT =>
            {
                let endpoint = request.index & 0x8F;
                if endpoint == u16::from(u8::from(self.bulk_out.address())) {
                    Some(PipeReset::BulkOut)
                } else if endpoint == u16::from(u8::from(self.bulk_in.address())) {
                    Some(PipeReset::BulkIn)
                } else {
                    None
                }
            }
            (Recipient::Interface, Request::SET_INTERFACE)
                if request.index == u16::from(u8::from(self.interface))
                    && request.value == u16::from(DEFAULT_ALTERNATE_SETTING) =>
            {
                Some(PipeReset::Interface)
            }
            _ => None,
        }
    }

    /// The complete message waiting, if any (its length in `incoming`).
    pub(crate) fn message_len(&self) -> Option<usize> {
        match self.receive {
            Receive::Complete { len } => Some(len),
            Receive::Collecting { .. } => None,
        }
    }

    /// The complete message waiting, its header checked, with the bulk-IN
    /// buffer to answer it in; `None` while none is complete. Every complete
    /// message has a header: [`Pipe::read_packets`] completes none shorter (a
    /// shorter transfer is dropped there: with no `bSlot` and `bSeq` there is
    /// nothing to answer), and `N` is a header long at least (`Pipe::new`
    /// refuses an `N` below `dwMaxCCIDMessageLength`, which is 271 at least).
    pub(crate) fn exchange(&mut self) -> Option<(Message<&[u8]>, &mut [u8; N])> {
        let len = self.message_len()?;
        let message = Message::new_checked(self.incoming.get(..len)?).ok()?;
        Some((message, &mut self.outgoing))
    }

    /// The waiting message was taken: read the next one.
    pub(crate) fn consume(&mut self) {
        self.receive = Receive::Collecting { have: 0 };
        self.read_packets();
    }

    /// `true` if nothing is going out on bulk-IN.
    pub(crate) fn can_send(&self) -> bool {
        self.transmit == Transmit::Idle
    }

    /// Send `outgoing[..len]` (when [`Pipe::can_send`]).
    pub(crate) fn send(&mut self, len: usize) {
        if len > 0 {
            self.transmit = Transmit::Sending { len, sent: 0 };
            self.send_next();
        }
    }

    /// Send `bytes` on the interrupt endpoint unless a notification is still
    /// going out; `false` if it could not.
    pub(crate) fn notify(&mut self, bytes: &[u8]) -> bool {
        if self.notifying {
            return false;
        }
        self.notifying = self.interrupt.write(bytes).is_ok();
        self.notifying
    }

    /// The interrupt-IN endpoint's address (the notifications').
    pub(crate) fn interrupt_address(&self) -> EndpointAddress {
        self.interrupt.address()
    }

    /// `true` while a notification is going out.
    pub(crate) fn notifying(&self) -> bool {
        self.notifying
    }

    /// Bulk-OUT data came on `addr`: `true` if it is ours (read it then).
    pub(crate) fn endpoint_out(&mut self, addr: EndpointAddress) -> bool {
        let ours = addr == self.bulk_out.address();
        if ours {
            self.read_packets();
        }
        ours
    }

    /// An IN transfer completed on `addr`: `true` if it was bulk-IN (the next
    /// packet has gone to the bus then).
    pub(crate) fn endpoint_in_complete(&mut self, addr: EndpointAddress) -> bool {
        if addr == self.bulk_in.address() {
            self.send_next();
            return true;
        }
        if addr == self.interrupt.address() {
            self.notifying = false;
        }
        false
    }

    /// Hand the next packet of the answer to the bus.
    fn send_next(&mut self) {
        let packet = usize::from(self.bulk_in.max_packet_size());
        match self.transmit {
            Transmit::Sending { len, sent } => {
                let end = len.min(sent + packet);
                let chunk = self.outgoing.get(sent..end).unwrap_or(&[]);
                match self.bulk_in.write(chunk) {
                    Ok(written) => {
                        let sent = sent + written;
                        self.transmit = if sent < len {
                            Transmit::Sending { len, sent }
                        } else if written == packet {
                            Transmit::Terminating
                        } else {
                            Transmit::Idle
                        };
                    }
                    Err(UsbError::WouldBlock) => {}
                    Err(_) => self.transmit = Transmit::Idle,
                }
            }
            Transmit::Terminating => match self.bulk_in.write(&[]) {
                Err(UsbError::WouldBlock) => {}
                _ => self.transmit = Transmit::Idle,
            },
            Transmit::Idle => {}
        }
    }

    /// Read bulk-OUT packets while no complete message waits.
    pub(crate) fn read_packets(&mut self) {
        let packet_size = usize::from(self.bulk_out.max_packet_size());
        while let Receive::Collecting { have } = self.receive {
            let mut packet = [0u8; MAX_PACKET];
            let room = packet.len().min(packet_size);
            let got = match self.bulk_out.read(&mut packet[..room]) {
                Ok(got) => got,
                Err(_) => return,
            };
            let bytes = packet.get(..got).unwrap_or(&[]);
            let keep = N.saturating_sub(have).min(got);
            if let Some(dest) = self.incoming.get_mut(have..have + keep) {
                dest.copy_from_slice(&bytes[..keep]);
            }
            let have = have + got;
            let wanted = self.wanted_len(have);
            let transfer_ended = got < packet_size;
            self.receive = match wanted {
                Some(total) if have >= total => Receive::Complete { len: total.min(N) },
                _ if transfer_ended && have >= HEADER_LEN => {
                    // A short transfer: answer it (its dwLength disagrees, bError 1).
                    Receive::Complete { len: have.min(N) }
                }
                _ if transfer_ended => Receive::Collecting { have: 0 },
                _ => Receive::Collecting { have },
            };
            if let Receive::Complete { len } = self.receive {
                if len < have.min(wanted.unwrap_or(0)) {
                    // Longer than the buffer: keep the header only, which answers
                    // with bError 1 (dwLength too long).
                    self.receive = Receive::Complete { len: HEADER_LEN };
                }
            }
        }
    }

    /// The message length the header announces, once `have` bytes include it.
    fn wanted_len(&self, have: usize) -> Option<usize> {
        if have < HEADER_LEN {
            return None;
        }
        Message::new_unchecked(&self.incoming).announced_len()
    }
}
