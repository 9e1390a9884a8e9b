//! The usb-device class on a bus of our own (no USB hardware here): the
//! configuration descriptor a host reads, messages split into packets both ways
//! (with the zero-length packet), NotifySlotChange on the interrupt endpoint, and
//! the class requests on the control endpoint.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use readerkit::Device;
use readerkit::line::LineReader;
use readerkit::platform::{Platform, SpinPlatform};
use readerkit_card_sim::fault::Trigger;
use readerkit_card_sim::keypad::ScriptedKeypad;
use readerkit_card_sim::{Card, Config, Profile, SimLine};
use readerkit_ccid::more_time::{MoreTime, WatchedLine};
use readerkit_ccid::reader::{Config as CcidConfig, ConfigError, HandleError};
use readerkit_ccid::stop::StoppableLine;
use readerkit_ccid::twin;
use readerkit_ccid::usb::CcidClass;
use readerkit_ccid::usb::port::{CcidPort, Task};
use readerkit_ccid::{CcidReader, Notice, PinSupport};
use readerkit_testkit::apdu::echo;
use readerkit_testkit::ccid::message;
use readerkit_testkit::sim::inserted;
use readerkit_testkit::sim::{line_device, wtx_before};
use usb_device::bus::{PollResult, UsbBus, UsbBusAllocator};
use usb_device::class::UsbClass;
use usb_device::device::{UsbDevice, UsbDeviceBuilder, UsbVidPid};
use usb_device::endpoint::{EndpointAddress, EndpointType};
use usb_device::{UsbDirection, UsbError};

#[derive(Default)]
struct Wire {
    next_in: u8,
    next_out: u8,
    setup: Option<[u8; 8]>,
    /// Packets the host sent, per OUT endpoint number.
    out: HashMap<u8, VecDeque<Vec<u8>>>,
    /// Packets the device sent, per IN endpoint number.
    sent: HashMap<u8, Vec<Vec<u8>>>,
    in_complete: u16,
    /// The host resets the bus at the next poll.
    reset: bool,
    /// Bulk-IN packets the host still takes at once (`None`: every one); past
    /// them, the next waits in the endpoint ([`Wire::waiting_in`]).
    takes_in: Option<usize>,
    /// A bulk-IN packet the device handed over and the host has not taken: the
    /// endpoint is busy until it does ([`host_reads_again`]).
    waiting_in: Option<Vec<u8>>,
}

/// A bus whose other end is the test: OUT packets are queued by the test, IN
/// packets are taken at once (and reported complete at the next poll).
#[derive(Clone, Default)]
struct TestBus(Arc<Mutex<Wire>>);

impl UsbBus for TestBus {
    fn alloc_ep(
        &mut self,
        dir: UsbDirection,
        addr: Option<EndpointAddress>,
        _ep_type: EndpointType,
        _max_packet_size: u16,
        _interval: u8,
    ) -> usb_device::Result<EndpointAddress> {
        let mut w = self.0.lock().unwrap();
        if let Some(addr) = addr {
            return Ok(addr);
        }
        let next = match dir {
            UsbDirection::In => &mut w.next_in,
            UsbDirection::Out => &mut w.next_out,
        };
        *next += 1;
        Ok(EndpointAddress::from_parts(usize::from(*next), dir))
    }
    fn enable(&mut self) {}
    fn reset(&self) {}
    fn set_device_address(&self, _addr: u8) {}
    fn write(&self, ep: EndpointAddress, buf: &[u8]) -> usb_device::Result<usize> {
        let mut w = self.0.lock().unwrap();
        let n = ep.index() as u8;
        if n == 1 && w.takes_in == Some(0) {
            if w.waiting_in.is_some() {
                return Err(UsbError::WouldBlock);
            }
            w.waiting_in = Some(buf.to_vec());
            return Ok(buf.len());
        }
        if n == 1 {
            w.takes_in = w.takes_in.map(|left| left - 1);
        }
        w.sent.entry(n).or_default().push(buf.to_vec());
        w.in_complete |= 1 << n;
        Ok(buf.len())
    }
    fn read(&self, ep: EndpointAddress, buf: &mut [u8]) -> usb_device::Result<usize> {
        let mut w = self.0.lock().unwrap();
        let n = ep.index() as u8;
        if n == 0 {
            if let Some(setup) = w.setup.take() {
                buf[..8].copy_from_slice(&setup);
                return Ok(8);
            }
        }
        match w.out.get_mut(&n).and_then(VecDeque::pop_front) {
            Some(p) => {
                buf[..p.len()].copy_from_slice(&p);
                Ok(p.len())
            }
            None => Err(UsbError::WouldBlock),
        }
    }
    fn set_stalled(&self, _ep: EndpointAddress, _stalled: bool) {}
    fn is_stalled(&self, _ep: EndpointAddress) -> bool {
        false
    }
    fn suspend(&self) {}
    fn resume(&self) {}
    fn poll(&self) -> PollResult {
        let mut w = self.0.lock().unwrap();
        if std::mem::take(&mut w.reset) {
            return PollResult::Reset;
        }
        let mut ep_out = 0u16;
        for (n, q) in &w.out {
            if !q.is_empty() {
                ep_out |= 1 << n;
            }
        }
        let ep_setup = u16::from(w.setup.is_some());
        let ep_in_complete = std::mem::take(&mut w.in_complete);
        if ep_out | ep_setup | ep_in_complete == 0 {
            return PollResult::None;
        }
        PollResult::Data {
            ep_out: ep_out | ep_setup,
            ep_in_complete,
            ep_setup,
        }
    }
}

/// A [`TestBus`]: its wire (for the test's side) and its allocator.
fn test_bus() -> (Arc<Mutex<Wire>>, UsbBusAllocator<TestBus>) {
    let bus = TestBus::default();
    (bus.0.clone(), UsbBusAllocator::new(bus))
}

type Slot = Device<SpinPlatform, LineReader<SimLine<1024>>>;

fn slot() -> Slot {
    let card = Card::create(Config::new(Profile::t1()));
    inserted(Some(card), twin::Profile::GemPcTwin.capabilities())
}

/// Poll the device until the wire is quiet (no setup, OUT packet or IN
/// completion left).
fn pump<B: UsbBus>(
    usb: &mut UsbDevice<'_, B>,
    class: &mut dyn UsbClass<B>,
    wire: &Arc<Mutex<Wire>>,
) {
    for _ in 0..64 {
        usb.poll(&mut [&mut *class]);
        let w = wire.lock().unwrap();
        let quiet = w.setup.is_none() && w.in_complete == 0 && !w.reset;
        if quiet && w.out.values().all(VecDeque::is_empty) {
            break;
        }
    }
}

/// The packets the device sent on IN endpoint `ep` since the last look.
fn take(wire: &Arc<Mutex<Wire>>, ep: u8) -> Vec<Vec<u8>> {
    wire.lock().unwrap().sent.remove(&ep).unwrap_or_default()
}

/// From now on the host takes `packets` more bulk-IN packets at once, then
/// leaves the next waiting in the endpoint.
fn host_takes(wire: &Arc<Mutex<Wire>>, packets: usize) {
    wire.lock().unwrap().takes_in = Some(packets);
}

/// The host reads bulk IN again, every packet at once: first the one waiting
/// in the endpoint, if any.
fn host_reads_again(wire: &Arc<Mutex<Wire>>) {
    let mut w = wire.lock().unwrap();
    w.takes_in = None;
    if let Some(packet) = w.waiting_in.take() {
        w.sent.entry(1).or_default().push(packet);
        w.in_complete |= 1 << 1;
    }
}

/// The host sends `message` on bulk OUT; the packets the device sends on bulk
/// IN once the bus is quiet.
fn exchange<B: UsbBus>(
    usb: &mut UsbDevice<'_, B>,
    class: &mut dyn UsbClass<B>,
    wire: &Arc<Mutex<Wire>>,
    message: &[u8],
) -> Vec<Vec<u8>> {
    send(wire, message);
    pump(usb, class, wire);
    take(wire, 1)
}

/// Queue `bytes` on the bulk-OUT endpoint in 64-byte packets.
fn send(wire: &Arc<Mutex<Wire>>, bytes: &[u8]) {
    send_in_packets(wire, bytes, 64);
}

/// Queue `bytes` on the bulk-OUT endpoint in `packet`-byte packets (no
/// zero-length packet after a full last one).
fn send_in_packets(wire: &Arc<Mutex<Wire>>, bytes: &[u8], packet: usize) {
    let mut w = wire.lock().unwrap();
    let q = w.out.entry(1).or_default();
    q.extend(bytes.chunks(packet).map(<[u8]>::to_vec));
}

/// A USB device on `alloc`'s bus.
fn device<B: UsbBus>(alloc: &UsbBusAllocator<B>) -> UsbDevice<'_, B> {
    UsbDeviceBuilder::new(alloc, UsbVidPid(0x1209, 0x0001))
        .max_packet_size_0(64)
        .unwrap()
        .build()
}

#[test]
fn ccid_over_usb_device() {
    let (wire, alloc) = test_bus();
    let slots = [slot()];
    let config = CcidConfig {
        escape: Some(twin::escape),
        ..CcidConfig::short_apdu()
    };
    // Packet sizes a full-speed bulk endpoint cannot have, and a buffer shorter than
    // dwMaxCCIDMessageLength, are refused.
    for size in [0u16, 63, 512] {
        let reader = CcidReader::new(&slots, config).unwrap();
        let class = CcidClass::<_, _, _, 8, 271>::new(&alloc, reader, size);
        assert_eq!(class.err(), Some(ConfigError::PacketSize), "{size}");
    }
    let reader = CcidReader::new(&slots, config).unwrap();
    let class = CcidClass::<_, _, _, 8, 270>::new(&alloc, reader, 64);
    assert_eq!(class.err(), Some(ConfigError::MessageLength));
    // A PIN pad: libccid's USB driver reads bPINSupport at byte 52 of the class
    // descriptor and wLcdLayout at 50-51 (ccid_usb.c), and announces
    // FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT from bits 0 and 1.
    let reader = CcidReader::new(&slots, config)
        .unwrap()
        .with_pin_support(PinSupport::BOTH);
    let descriptor = reader.descriptor().to_bytes();
    assert_eq!(
        descriptor[50..53],
        [0x00, 0x00, 0x03],
        "no display, verify + modify"
    );
    let mut class = CcidClass::<_, _, _, 8, 271>::new(&alloc, reader, 64).unwrap();
    let mut usb = device(&alloc);

    // GET_DESCRIPTOR(configuration): interface class 0x0B, the CCID descriptor,
    // three endpoints (bulk OUT, bulk IN, interrupt IN).
    wire.lock().unwrap().setup = Some([0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0xFF, 0x00]);
    pump(&mut usb, &mut class, &wire);
    let config: Vec<u8> = take(&wire, 0).concat();
    let mut at = 0;
    let mut kinds = Vec::new();
    while at + 1 < config.len() {
        let (len, kind) = (usize::from(config[at]), config[at + 1]);
        if kind == 0x04 {
            assert_eq!(config[at + 5], 0x0B, "interface class CCID");
        }
        if kind == 0x21 {
            assert_eq!(
                &config[at..at + len],
                &descriptor[..],
                "the class descriptor"
            );
        }
        if kind == 0x05 {
            kinds.push((config[at + 2], config[at + 3]));
        }
        at += len.max(1);
    }
    assert_eq!(kinds, [(0x01, 0x02), (0x81, 0x02), (0x82, 0x03)]);

    // GET_DATA_RATES on the control endpoint: default and maximum rate.
    wire.lock().unwrap().setup = Some([0xA1, 0x03, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00]);
    pump(&mut usb, &mut class, &wire);
    let rates: Vec<u8> = take(&wire, 0).concat();
    assert_eq!(rates[..4], (4_000_000u32 / 372).to_le_bytes());
    assert_eq!(rates[4..8], 344_086u32.to_le_bytes());

    // IccPowerOn: the ATR in one short packet.
    let answer = exchange(&mut usb, &mut class, &wire, &message(0x62, 1, &[]));
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0][..10], [0x80, 20, 0, 0, 0, 0, 1, 0, 0, 0]);

    // An ECHO of 200 bytes: the message in four packets, the answer (212 bytes)
    // in four.
    let data: Vec<u8> = (0..200u8).collect();
    let packets = exchange(&mut usb, &mut class, &wire, &message(0x6F, 2, &echo(&data)));
    assert_eq!(
        packets.iter().map(Vec::len).collect::<Vec<_>>(),
        [64, 64, 64, 20]
    );
    let answer = packets.concat();
    assert_eq!(answer[..10], [0x80, 202, 0, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(answer[10..210], data[..]);
    assert_eq!(answer[210..], [0x90, 0x00]);

    // An answer of exactly 128 bytes ends with a zero-length packet.
    let echo_116 = message(0x6F, 3, &echo(&[0x5A; 116]));
    let packets = exchange(&mut usb, &mut class, &wire, &echo_116);
    assert_eq!(
        packets.iter().map(Vec::len).collect::<Vec<_>>(),
        [64, 64, 0]
    );

    // Two messages queued at once are answered in order.
    send(&wire, &message(0x65, 4, &[]));
    send(&wire, &message(0x65, 5, &[]));
    pump(&mut usb, &mut class, &wire);
    let packets = take(&wire, 1);
    assert_eq!(packets.len(), 2);
    assert_eq!((packets[0][6], packets[1][6]), (4, 5));

    // The card is taken out: NotifySlotChange on the interrupt endpoint (the first
    // notification reported the slot as it was, present).
    let first = take(&wire, 2);
    assert_eq!(first, [vec![0x50, 0x03]]);
    slots[0].with_driver(|d| d.line_mut().remove());
    slots[0].card_removed();
    class.service();
    pump(&mut usb, &mut class, &wire);
    assert_eq!(take(&wire, 2), [vec![0x50, 0x02]]);
}

/// Each of `transfers` sent on bulk OUT to a [`CcidClass`] with `N`-byte
/// buffers and bulk endpoints of `packet` bytes (the card powered on first), in
/// packets of `packet` bytes and without a zero-length packet after one that
/// fills its last packet (as libccid sends them: it never asks for one); the
/// answers, split by their `dwLength`.
fn framed<const N: usize>(packet: u16, transfers: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let (wire, alloc) = test_bus();
    let slots = [slot()];
    let reader = CcidReader::new(&slots, CcidConfig::short_apdu()).unwrap();
    let mut class = CcidClass::<_, _, _, 8, N>::new(&alloc, reader, packet).unwrap();
    let mut usb = device(&alloc);
    send_in_packets(&wire, &message(0x62, 0xA0, &[]), usize::from(packet));
    pump(&mut usb, &mut class, &wire);
    let power_on = take(&wire, 1).concat();
    assert_eq!(power_on[..10], [0x80, 20, 0, 0, 0, 0, 0xA0, 0, 0, 0]);
    for transfer in transfers {
        send_in_packets(&wire, transfer, usize::from(packet));
    }
    pump(&mut usb, &mut class, &wire);
    let mut stream = &take(&wire, 1).concat()[..];
    let mut answers = Vec::new();
    while stream.len() >= 10 {
        let len = 10 + u32::from_le_bytes(stream[1..5].try_into().unwrap()) as usize;
        let (answer, rest) = stream.split_at(len.min(stream.len()));
        answers.push(answer.to_vec());
        stream = rest;
    }
    assert!(stream.is_empty(), "a partial header: {stream:02X?}");
    answers
}

/// What a framing case checks (named in a failure), the transfers the host
/// sends and the answers expected.
type FramingCase = (&'static str, Vec<Vec<u8>>, Vec<Vec<u8>>);

/// A message's `dwLength` (bytes 1-4) set to `len` whatever its data.
fn announcing(mut message: Vec<u8>, len: u32) -> Vec<u8> {
    message[1..5].copy_from_slice(&len.to_le_bytes());
    message
}

/// The bulk-OUT reassembly ends a message where its `dwLength` says (the
/// header and `dwLength` bytes) or where a short packet ends the transfer (USB
/// 2.0 §5.8.3), whichever comes first; it must not wait for a zero-length
/// packet the host does not send. Checked with 8- and 64-byte packets, with
/// buffers of exactly `dwMaxCCIDMessageLength` (271) and larger (1034):
///
/// - a message that fills its last packet (128 and 64 bytes), then others back
///   to back: each answered, in order, with its own data;
/// - `dwLength` beyond `dwMaxCCIDMessageLength` - 10 (the block "should never
///   exceed" it, CCID 1.1 §6.1.4): CMD_FAILED with `bError` 1, the offset of
///   `dwLength` (the slot error register, §6.2.6), and the next message is read
///   from its own header;
/// - a `dwLength` that lies, announcing more than the transfer carries: a short
///   packet ends it, CMD_FAILED `bError` 1; when the lying transfer fills its
///   last packet the reader cannot see its end, so the next transfer (a
///   GetSlotStatus) is taken as its rest and answered with it; the one after is
///   read from its own header again;
/// - a transfer shorter than a header: dropped unanswered (there is no
///   `bSlot`/`bSeq` to answer with), the next message answered; the class
///   answers every message the pipe completes, so the pipe completes none
///   without a header.
///
/// `announced_len` off by one either way fails the first case (the 128-byte
/// message waits for a byte of the next, or ends a byte short).
#[test]
fn bulk_out_messages_end_where_dw_length_says() {
    let status = |seq| message(0x65, seq, &[]);
    let slot_status = |seq| vec![0x81, 0, 0, 0, 0, 0, seq, 0, 0, 0];
    let failed_dw_length = |seq| vec![0x80, 0, 0, 0, 0, 0, seq, 0x40, 1, 0];
    let (data_112, data_48) = ([0x5A; 112], [0xA5; 48]);
    // A DataBlock is laid out as a PC_to_RDR message with bStatus, bError and
    // bChainParameter 0.
    let echoed = |seq, data: &[u8]| message(0x80, seq, &[data, &[0x90, 0x00]].concat());
    let exact_128 = message(0x6F, 1, &echo(&data_112));
    let exact_64 = message(0x6F, 2, &echo(&data_48));
    assert_eq!((exact_128.len(), exact_64.len()), (128, 64));
    let too_long = message(0x6F, 4, &[0x00; 262]);
    let lying_short = announcing(message(0x6F, 6, &[0x00; 20]), 50);
    let lying_full = announcing(message(0x6F, 8, &[0x00; 54]), 100);
    let cases: [FramingCase; 5] = [
        (
            "a transfer shorter than a header: no bSlot, no bSeq, no answer",
            vec![vec![0x65, 0, 0, 0, 0], status(11)],
            vec![slot_status(11)],
        ),
        (
            "whole packets, back to back",
            vec![exact_128, exact_64, status(3)],
            vec![echoed(1, &data_112), echoed(2, &data_48), slot_status(3)],
        ),
        (
            "dwLength beyond dwMaxCCIDMessageLength",
            vec![too_long, status(5)],
            vec![failed_dw_length(4), slot_status(5)],
        ),
        (
            "a short packet before dwLength",
            vec![lying_short, status(7)],
            vec![failed_dw_length(6), slot_status(7)],
        ),
        (
            "whole packets before dwLength",
            vec![lying_full, status(9), status(10)],
            vec![failed_dw_length(8), slot_status(10)],
        ),
    ];
    for packet in [8, 64] {
        for (what, transfers, expected) in &cases {
            let answers = framed::<271>(packet, transfers);
            assert_eq!(&answers, expected, "{what}, {packet}-byte packets, 271");
            let answers = framed::<1034>(packet, transfers);
            assert_eq!(&answers, expected, "{what}, {packet}-byte packets, 1034");
        }
    }
}

/// PC_to_RDR_Secure over USB with the class's keypad (card-sim's scripted one):
/// the PIN typed on it reaches the card (PIN 1234), whose 90 00 comes back in
/// the DataBlock; a wrong PIN gets the card's 63 C2.
#[test]
fn secure_pin_entry_with_the_class_keypad() {
    let (wire, alloc) = test_bus();
    let mut keypad = ScriptedKeypad::new();
    assert!(keypad.type_pin(b"1234", 50) && keypad.type_pin(b"9999", 50));
    let slots = [slot()];
    let reader = CcidReader::new(&slots, CcidConfig::short_apdu())
        .unwrap()
        .with_pin_support(PinSupport::VERIFY);
    let mut class = CcidClass::<_, _, _, 8, 271>::new(&alloc, reader, 64)
        .unwrap()
        .with_keypad(&mut keypad);
    let mut usb = device(&alloc);
    assert_eq!(
        exchange(&mut usb, &mut class, &wire, &message(0x62, 1, &[])).concat()[..10],
        [0x80, 20, 0, 0, 0, 0, 1, 0, 0, 0]
    );
    // CCID's PIN verification structure for VERIFY: ASCII, 4 to 8 digits, OK key.
    let mut verify = vec![
        0x00, 0x00, 0x82, 0x08, 0x00, 8, 4, 0x02, 0x01, 0x09, 0x04, 0x00, 0, 0, 0,
    ];
    verify.extend_from_slice(&[0x00, 0x20, 0x00, 0x80, 0x08]);
    verify.extend_from_slice(&[0xFF; 8]);
    for (seq, sw) in [(2u8, [0x90, 0x00]), (3, [0x63, 0xC2])] {
        let answer = exchange(&mut usb, &mut class, &wire, &message(0x69, seq, &verify)).concat();
        assert_eq!(
            answer[..10],
            [0x80, 2, 0, 0, 0, 0, seq, 0, 0, 0],
            "{answer:02X?}"
        );
        assert_eq!(answer[10..], sw);
    }
}

/// What the card's line reports requests for more time to.
type MoreTimeHook = Box<dyn FnMut(MoreTime)>;
/// The slow card's line for the port test: deaf once the port stops the command,
/// watched for requests for more time.
type SlowLine = WatchedLine<StoppableLine<SimLine<1024>, Box<dyn Fn() -> bool>>, MoreTimeHook>;
/// The slow card's slot.
type SlowSlot = Device<SpinPlatform, LineReader<SlowLine>>;
type Port = CcidPort<'static, TestBus, [SlowSlot], 271>;
/// The port over cards that answer at once.
type PlainCcidPort = CcidPort<'static, TestBus, [Slot], 271>;
/// What the host does while the card works (the bus is polled after each).
enum HostStep {
    /// A setup packet on the control endpoint.
    Setup([u8; 8]),
    /// A message on bulk OUT.
    Send(Vec<u8>),
    /// A bus reset.
    BusReset,
    /// The host goes away without a word (a USB/IP client's connection ends):
    /// the port is disowned.
    Disown,
    /// The card is taken out (the presence switch's event reaches the core; the
    /// card line, held by the command, is not touched).
    RemoveCard,
}
use HostStep::*;

/// The class request ABORT for slot 0, `seq`.
fn abort_request(seq: u8) -> [u8; 8] {
    [0x21, 0x01, 0x00, seq, 0x00, 0x00, 0x00, 0x00]
}

/// SET_CONFIGURATION of configuration `value` (the device has 1).
fn set_configuration(value: u8) -> [u8; 8] {
    [0x00, 0x09, value, 0x00, 0x00, 0x00, 0x00, 0x00]
}

/// CLEAR_FEATURE(ENDPOINT_HALT) of `endpoint` (bulk OUT 0x01, bulk IN 0x81),
/// as libusb_clear_halt sends it.
fn clear_halt(endpoint: u8) -> [u8; 8] {
    [0x02, 0x01, 0x00, 0x00, endpoint, 0x00, 0x00, 0x00]
}

/// SET_INTERFACE of interface 0, alternate setting 0.
const SET_INTERFACE: [u8; 8] = [0x01, 0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];

/// The bus side of the port test, shared with the card line's hooks (leaked: the
/// devices are built before the port that their lines poll).
struct Bus {
    wire: Arc<Mutex<Wire>>,
    port: OnceCell<RefCell<Port>>,
    usb: OnceCell<RefCell<UsbDevice<'static, TestBus>>>,
    /// The slow card's slot.
    slot: OnceCell<&'static SlowSlot>,
    /// What the host does the first time the card asks for more time.
    during: RefCell<Vec<HostStep>>,
}

impl Bus {
    fn pump(&self) {
        let (usb, port) = (self.usb.get().unwrap(), self.port.get().unwrap());
        pump(&mut usb.borrow_mut(), &mut *port.borrow_mut(), &self.wire);
    }

    /// The card asked for more time: the port sends a time extension, the host
    /// does what `during` says, and the bus is polled as a card line's wait does.
    fn more_time(&self, more: MoreTime) {
        self.port
            .get()
            .unwrap()
            .borrow_mut()
            .time_extension(more.bwt_multiplier());
        self.pump();
        for step in self.during.take() {
            match step {
                Setup(setup) => self.wire.lock().unwrap().setup = Some(setup),
                Send(message) => send(&self.wire, &message),
                BusReset => self.wire.lock().unwrap().reset = true,
                Disown => {
                    assert!(self.port.get().unwrap().borrow_mut().disown(), "it runs");
                }
                RemoveCard => self.slot.get().unwrap().card_removed(),
            }
            self.pump();
        }
    }
}

/// The runner's one line for news from the port ([`CcidReader::hear`]), after
/// checking that a class ABORT the port hands over is for a slot the reader
/// has.
fn hear<P: Platform, D, const EVENTS: usize>(
    reader: &mut CcidReader<'_, P, D, EVENTS>,
    notice: Notice,
) {
    if let Notice::ClassAbort { slot, .. } = notice {
        assert!(reader.has_slot(slot), "a slot the reader has");
    }
    reader.hear(notice);
}

/// The runner: take each task, `rounds` times: pass news (a class ABORT, a
/// host gone) on to `reader`, or run an admitted message on it and hand the answer back.
fn run_port(
    bus: &Bus,
    reader: &mut CcidReader<'_, SpinPlatform, LineReader<SlowLine>>,
    rounds: usize,
) {
    let port = bus.port.get().unwrap();
    let (mut message, mut answer) = ([0u8; 271], [0u8; 271]);
    for _ in 0..rounds {
        bus.pump();
        let command = match port.borrow_mut().take(&mut message) {
            Some(Task::Command(command)) => command,
            Some(Task::Notice(notice)) => {
                hear(reader, notice);
                continue;
            }
            None => continue,
        };
        let answer_len = reader.respond(&command, &mut answer);
        while !port.borrow_mut().finish(&answer, answer_len) {
            bus.pump();
        }
    }
    bus.pump();
}

/// CcidPort keeps hearing the host while a slow card (T=1 S(WTX) before every
/// answer) works: a time extension goes out, a second message gets CMD_SLOT_BUSY
/// at once and the first command's answer comes after, intact; the class request
/// ABORT with its PC_to_RDR_Abort stops a running command (CMD_ABORTED, then the
/// Abort's slot status), and the card works again after a power on.
/// A [`Port`] on a bus of its own (leaked, as its slot) over a slow T=1 card
/// (S(WTX) before every answer) whose line polls the bus and gives up once the
/// port stops the command; the card powered on (seq 1) through it.
fn slow_port() -> (
    &'static Bus,
    CcidReader<'static, SpinPlatform, LineReader<SlowLine>>,
) {
    let test_bus = TestBus::default();
    let alloc: &'static UsbBusAllocator<TestBus> =
        Box::leak(Box::new(UsbBusAllocator::new(test_bus.clone())));
    let bus: &'static Bus = Box::leak(Box::new(Bus {
        wire: test_bus.0.clone(),
        port: OnceCell::new(),
        usb: OnceCell::new(),
        slot: OnceCell::new(),
        during: RefCell::new(Vec::new()),
    }));
    let card =
        Card::create(Config::new(Profile::t1()).with_faults(wtx_before(Trigger::Every, 2, 1)));
    let stopping: Box<dyn Fn() -> bool> =
        Box::new(|| bus.port.get().is_some_and(|p| p.borrow().stopping()));
    let more_time: MoreTimeHook = Box::new(|more| bus.more_time(more));
    let line = WatchedLine::new(StoppableLine::new(SimLine::new(card), stopping), more_time);
    let slots = Box::leak(Box::new([line_device(
        LineReader::new(line),
        twin::Profile::GemPcTwin.capabilities(),
    )]));
    slots[0].card_inserted();
    assert!(bus.slot.set(&slots[0]).is_ok());
    let mut reader = CcidReader::new(slots, CcidConfig::short_apdu()).unwrap();
    let port = Port::new(alloc, &mut reader, 64).unwrap();
    assert!(bus.port.set(RefCell::new(port)).is_ok());
    assert!(bus.usb.set(RefCell::new(device(alloc))).is_ok());

    send(&bus.wire, &message(0x62, 1, &[]));
    run_port(bus, &mut reader, 2);
    assert_eq!(
        take(&bus.wire, 1).concat()[..10],
        [0x80, 20, 0, 0, 0, 0, 1, 0, 0, 0]
    );
    (bus, reader)
}

/// CcidPort keeps hearing the host while a slow card (T=1 S(WTX) before every
/// answer) works: a time extension goes out, a second message gets CMD_SLOT_BUSY
/// at once and the first command's answer comes after, intact; the class request
/// ABORT with its PC_to_RDR_Abort stops a running command (CMD_ABORTED, then the
/// Abort's slot status), and the card works again after a power on.
#[test]
fn port_answers_slot_busy_time_extensions_and_abort_while_a_command_runs() {
    let (bus, mut reader) = slow_port();

    // ECHO AB CD; while the card works, GetSlotStatus (seq 3).
    let echo_ab_cd = echo(&[0xAB, 0xCD]);
    let answers = echo_while(bus, &mut reader, vec![Send(message(0x65, 3, &[]))]);
    assert_eq!(
        answers[0],
        [0x80, 0, 0, 0, 0, 0, 2, 0x80, 2, 0],
        "time extension"
    );
    assert_eq!(
        answers[1],
        [0x81, 0, 0, 0, 0, 0, 3, 0x40, 0xE0, 3],
        "CMD_SLOT_BUSY"
    );
    assert_eq!(
        answers[2..].concat(),
        [0x80, 4, 0, 0, 0, 0, 2, 0, 0, 0, 0xAB, 0xCD, 0x90, 0x00],
        "the first command's answer, after"
    );

    // ECHO again (seq 4); while the card works, ABORT (class request, slot 0 seq
    // 5) and its PC_to_RDR_Abort.
    *bus.during.borrow_mut() = vec![Setup(abort_request(5)), Send(message(0x72, 5, &[]))];
    send(&bus.wire, &message(0x6F, 4, &echo_ab_cd));
    run_port(bus, &mut reader, 3);
    let answers = take(&bus.wire, 1);
    assert_eq!(
        answers[0][..10],
        [0x80, 0, 0, 0, 0, 0, 4, 0x80, 2, 0],
        "time extension"
    );
    let aborted = &answers[1];
    assert_eq!(
        (aborted[0], aborted[1], aborted[6]),
        (0x80, 0, 4),
        "{aborted:02X?}"
    );
    assert_eq!(
        (aborted[7] & 0xC0, aborted[8]),
        (0x40, 0xFF),
        "CMD_ABORTED: {aborted:02X?}"
    );
    let acknowledged = &answers[2];
    assert_eq!(
        (acknowledged[0], acknowledged[6]),
        (0x81, 5),
        "{acknowledged:02X?}"
    );
    assert_eq!(
        (acknowledged[7] & 0xC0, acknowledged[8]),
        (0, 0),
        "{acknowledged:02X?}"
    );

    // The card works again with no power on: the aborted T=1 exchange was given
    // up, not judged a dead card (rule 6.4 would have deactivated it), and the
    // next one resynchronises first.
    bus.during.borrow_mut().clear();
    send(&bus.wire, &message(0x6F, 7, &echo_ab_cd));
    run_port(bus, &mut reader, 2);
    let answers = take(&bus.wire, 1);
    let last = answers.last().unwrap();
    assert_eq!(
        last[..],
        [0x80, 4, 0, 0, 0, 0, 7, 0, 0, 0, 0xAB, 0xCD, 0x90, 0x00]
    );

    // ECHO (seq 8) whose host goes while the card works: the command is stopped
    // and its answer dropped; the next host's GetSlotStatus (seq 9) gets its own
    // answer, the card still active.
    *bus.during.borrow_mut() = vec![Disown];
    send(&bus.wire, &message(0x6F, 8, &echo_ab_cd));
    run_port(bus, &mut reader, 2);
    let answers = take(&bus.wire, 1);
    assert_eq!(
        answers,
        [[0x80, 0, 0, 0, 0, 0, 8, 0x80, 2, 0]],
        "only the time extension"
    );
    the_next_command_runs(bus, &mut reader, 9);
}

/// The card is taken out while the slow card's ECHO (seq 2) runs: the
/// CMD_SLOT_BUSY answer to a GetSlotStatus (seq 3) sent after says "no card"
/// (`bmICCStatus` 2) at once, from the core's card state, though the last
/// answer sent (the power-on's) said active and the running command holds the
/// serialization lock. (Before, the port answered with the last answer's
/// status: 0x40, the card present and active.)
#[test]
fn port_busy_answer_shows_a_card_removed_while_a_command_runs() {
    let (bus, mut reader) = slow_port();
    let during = vec![RemoveCard, Send(message(0x65, 3, &[]))];
    let answers = echo_while(bus, &mut reader, during);
    assert_eq!(
        answers[1],
        [0x81, 0, 0, 0, 0, 0, 3, 0x42, 0xE0, 3],
        "CMD_SLOT_BUSY, no card: {answers:02X?}"
    );
    assert_eq!(answers.len(), 3, "the ECHO's answer, after: {answers:02X?}");
    assert_eq!(answers[2][6], 2, "{answers:02X?}");
}

/// The slow card's ECHO AB CD (seq 2) runs while the host does `during`; the
/// bulk-IN packets sent.
fn echo_while(
    bus: &Bus,
    reader: &mut CcidReader<'_, SpinPlatform, LineReader<SlowLine>>,
    during: Vec<HostStep>,
) -> Vec<Vec<u8>> {
    *bus.during.borrow_mut() = during;
    send(&bus.wire, &message(0x6F, 2, &echo(&[0xAB, 0xCD])));
    run_port(bus, reader, 2);
    take(&bus.wire, 1)
}

/// Nothing is left stopping on the port, and a GetSlotStatus (`seq`) gets its
/// slot status, the card active.
fn the_next_command_runs(
    bus: &Bus,
    reader: &mut CcidReader<'_, SpinPlatform, LineReader<SlowLine>>,
    seq: u8,
) {
    assert!(!bus.port.get().unwrap().borrow().stopping());
    send(&bus.wire, &message(0x65, seq, &[]));
    run_port(bus, reader, 2);
    assert_eq!(
        take(&bus.wire, 1).concat(),
        [0x81, 0, 0, 0, 0, 0, seq, 0, 0, 0]
    );
}

/// The host's side of [`PlainClass`] or [`PlainPort`]: what the tests do alike
/// behind either class.
trait Plain {
    /// The host sends the control request `setup` (no data stage).
    fn control(&mut self, setup: [u8; 8]);

    /// The answers to `messages`, each sent and answered in turn.
    fn answers(&mut self, messages: &[Vec<u8>]) -> Vec<Vec<u8>>;
}

/// A [`CcidPort`] over a card that answers at once ([`slot`]), the test being
/// both the host and the runner (the bus and the slot are leaked, so that the
/// port and the reader can borrow them).
struct PlainPort {
    wire: Arc<Mutex<Wire>>,
    usb: UsbDevice<'static, TestBus>,
    port: PlainCcidPort,
    reader: CcidReader<'static, SpinPlatform, LineReader<SimLine<1024>>>,
}

impl PlainPort {
    fn new() -> Self {
        let (wire, alloc) = test_bus();
        let alloc = Box::leak(Box::new(alloc));
        let slots = Box::leak(Box::new([slot()]));
        let mut reader = CcidReader::new(slots, CcidConfig::short_apdu()).unwrap();
        let port = CcidPort::new(alloc, &mut reader, 64).unwrap();
        let usb = device(alloc);
        PlainPort {
            wire,
            usb,
            port,
            reader,
        }
    }

    fn pump(&mut self) {
        pump(&mut self.usb, &mut self.port, &self.wire);
    }

    /// The host sends `message` (the bus is polled until it is quiet).
    fn host_sends(&mut self, message: &[u8]) {
        send(&self.wire, message);
        self.pump();
    }

    /// The bytes the device sent on bulk IN since the last look, its packets
    /// joined: the answers sent.
    fn sent(&self) -> Vec<u8> {
        take(&self.wire, 1).concat()
    }

    /// The runner takes the admitted message (passing a class ABORT or the
    /// news of a host gone, handed before it, on to the reader).
    fn take(&mut self) -> Vec<u8> {
        let mut message = [0u8; 271];
        loop {
            match self.port.take(&mut message).expect("a message waits") {
                Task::Command(command) => return command.into_inner().to_vec(),
                Task::Notice(notice) => hear(&mut self.reader, notice),
            }
        }
    }

    /// The host sends `message` and the runner takes it ([`PlainPort::host_sends`],
    /// then [`PlainPort::take`]): the message as the runner has it.
    fn sent_to_the_runner(&mut self, message: &[u8]) -> Vec<u8> {
        self.host_sends(message);
        self.take()
    }

    /// Where the bus is polled: answer the message waiting at once if the port
    /// says it may ([`CcidPort::answer_at_once`]), then poll the bus.
    fn answer_at_once(&mut self) -> bool {
        let reader = &mut self.reader;
        let answered = self.port.answer_at_once(|m, a| reader.handle(m, a));
        self.pump();
        answered
    }

    /// The runner runs `message` with `answer` as its answer buffer and hands
    /// the answer back (none if `handle` fails). Returns its length (0: none).
    fn answer(&mut self, message: &[u8], answer: &mut [u8]) -> usize {
        let len = self.reader.handle(message, answer).unwrap_or(0);
        assert!(self.port.finish(answer, len));
        self.pump();
        len
    }
}

impl Plain for PlainPort {
    fn control(&mut self, setup: [u8; 8]) {
        self.wire.lock().unwrap().setup = Some(setup);
        self.pump();
    }

    /// Each message is sent, taken by the runner and answered in turn.
    fn answers(&mut self, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let answer = |m: &Vec<u8>| {
            let taken = self.sent_to_the_runner(m);
            self.answer(&taken, &mut [0u8; 271]);
            self.sent()
        };
        messages.iter().map(answer).collect()
    }
}

/// The class over cards that answer at once.
type PlainCcidClass =
    CcidClass<'static, 'static, TestBus, SpinPlatform, LineReader<SimLine<1024>>, 8, 271>;

/// A `CcidClass` over a card that answers at once ([`slot`]), the test being
/// the host (the bus and the slot are leaked, as [`PlainPort`]'s).
struct PlainClass {
    wire: Arc<Mutex<Wire>>,
    usb: UsbDevice<'static, TestBus>,
    class: PlainCcidClass,
}

impl PlainClass {
    fn new() -> Self {
        let (wire, alloc) = test_bus();
        let alloc = Box::leak(Box::new(alloc));
        let slots = Box::leak(Box::new([slot()]));
        let reader = CcidReader::new(slots, CcidConfig::short_apdu()).unwrap();
        let class = CcidClass::new(alloc, reader, 64).unwrap();
        let usb = device(alloc);
        PlainClass { wire, usb, class }
    }

    fn pump(&mut self) {
        pump(&mut self.usb, &mut self.class, &self.wire);
    }

    /// The host sends `message`; the bulk-IN packets the host has taken since
    /// the last look, once the bus is quiet.
    fn exchange(&mut self, message: &[u8]) -> Vec<Vec<u8>> {
        exchange(&mut self.usb, &mut self.class, &self.wire, message)
    }
}

impl Plain for PlainClass {
    fn control(&mut self, setup: [u8; 8]) {
        self.wire.lock().unwrap().setup = Some(setup);
        self.pump();
    }

    fn answers(&mut self, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
        messages.iter().map(|m| self.exchange(m).concat()).collect()
    }
}

/// `test` behind `CcidClass`, then behind `CcidPort` (the test as its runner),
/// with the name of each.
fn behind_class_and_port(test: impl Fn(&mut dyn Plain, &str)) {
    test(&mut PlainClass::new(), "CcidClass");
    test(&mut PlainPort::new(), "CcidPort");
}

/// What needs no card is answered where the bus is polled
/// ([`CcidPort::answer_at_once`]) while nothing is admitted: no runner takes
/// it. A message that needs the card goes to the runner, and what comes while
/// it waits or runs is not answered at once (it would overtake it, or the
/// reader is the runner's): the gate answers CMD_SLOT_BUSY, and the reader is
/// not asked.
#[test]
fn port_answers_at_once_what_needs_no_card_while_nothing_runs() {
    let mut p = PlainPort::new();
    let mut message_buffer = [0u8; 271];
    for (kind, seq, answer) in [
        (0x65, 1, [0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]),
        // GetParameters, the card not powered: bError FE, at once too.
        (0x6C, 2, [0x82, 0, 0, 0, 0, 0, 2, 0x41, 0xFE, 0]),
    ] {
        p.host_sends(&message(kind, seq, &[]));
        assert!(p.answer_at_once(), "{kind:02X}");
        assert_eq!(p.sent(), answer);
        assert_eq!(p.port.take(&mut message_buffer), None, "answered already");
    }

    // A power-on needs the card: it waits for the runner, and a GetSlotStatus
    // sent behind it is not answered before it.
    p.host_sends(&message(0x62, 3, &[]));
    p.host_sends(&message(0x65, 4, &[]));
    let untouched = |_: &[u8], _: &mut [u8]| -> Result<usize, HandleError> {
        panic!("the reader is the runner's now")
    };
    assert!(!p.port.answer_at_once(untouched));
    let power_on = p.take();
    // The GetSlotStatus came in as the power-on was taken; the runner's loop
    // lets the port decide about it.
    p.port.service();
    p.pump();
    assert_eq!(
        p.sent(),
        [0x81, 0, 0, 0, 0, 0, 4, 0x41, 0xE0, 3],
        "CMD_SLOT_BUSY while the power-on runs"
    );
    p.host_sends(&message(0x65, 5, &[]));
    assert!(!p.port.answer_at_once(untouched), "a command runs");
    assert_eq!(p.sent()[6..9], [5, 0x41, 0xE0]);
    p.answer(&power_on, &mut [0u8; 271]);
    assert_eq!(p.sent()[..9], [0x80, 20, 0, 0, 0, 0, 3, 0, 0]);

    // Nothing runs again: at once, the card active (the busy answers to come
    // say so too).
    p.host_sends(&message(0x65, 6, &[]));
    assert!(p.answer_at_once());
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 6, 0x00, 0, 0]);
}

/// CCID 1.1 §5.3.1 behind the port: the class request ABORT (slot 0, seq 7)
/// comes first, with no command running; the port hands it to the runner
/// before the GetSlotStatus (seq 8) the host sends next, which is not
/// answered at once (the reader has not seen the ABORT then) and fails
/// CMD_ABORTED; the PC_to_RDR_Abort with seq 7 is answered with the slot
/// status, and the GetSlotStatus (seq 9) after it too. (Before, the port kept
/// the class request to its gate: the GetSlotStatus got its slot status.)
#[test]
fn port_class_abort_first_fails_commands_until_its_abort() {
    let mut p = PlainPort::new();
    p.wire.lock().unwrap().setup = Some(abort_request(7));
    p.pump();
    assert!(!p.port.stopping(), "nothing runs: nothing to stop");
    p.host_sends(&message(0x65, 8, &[]));
    let untouched = |_: &[u8], _: &mut [u8]| -> Result<usize, HandleError> {
        panic!("the reader must see the class ABORT first")
    };
    assert!(!p.port.answer_at_once(untouched));
    let mut buffer = [0u8; 271];
    let abort = Notice::ClassAbort { slot: 0, seq: 7 };
    assert_eq!(p.port.take(&mut buffer), Some(Task::Notice(abort)));
    hear(&mut p.reader, abort);
    assert!(!p.answer_at_once(), "admitted for the runner already");
    let status = p.take();
    assert_eq!(status, message(0x65, 8, &[]));
    p.answer(&status, &mut [0u8; 271]);
    assert_eq!(
        p.sent(),
        [0x81, 0, 0, 0, 0, 0, 8, 0x41, 0xFF, 3],
        "CMD_ABORTED, the card present"
    );

    let abort = p.sent_to_the_runner(&message(0x72, 7, &[]));
    p.answer(&abort, &mut [0u8; 271]);
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 7, 0x01, 0, 3], "paired");
    assert_eq!(p.port.take(&mut buffer), None, "nothing more to hand over");

    p.host_sends(&message(0x65, 9, &[]));
    assert!(p.answer_at_once());
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 9, 0x01, 0, 3]);
}

/// Behind `CcidClass`: a host's class request ABORT (seq 7) fails its
/// GetSlotStatus (seq 8) CMD_ABORTED until the PC_to_RDR_Abort; the host goes
/// (a bus reset) without sending it, and the next host's GetSlotStatus (seq
/// 1) is answered as usual.
#[test]
fn class_abort_of_a_host_gone_by_a_bus_reset_fails_nothing_of_the_next() {
    let (wire, alloc) = test_bus();
    let slots = [slot()];
    let reader = CcidReader::new(&slots, CcidConfig::short_apdu()).unwrap();
    let mut class = CcidClass::<_, _, _, 8, 271>::new(&alloc, reader, 64).unwrap();
    let mut usb = device(&alloc);
    wire.lock().unwrap().setup = Some(abort_request(7));
    pump(&mut usb, &mut class, &wire);
    let status = exchange(&mut usb, &mut class, &wire, &message(0x65, 8, &[]));
    assert_eq!(
        status,
        [[0x81, 0, 0, 0, 0, 0, 8, 0x41, 0xFF, 3]],
        "CMD_ABORTED"
    );
    wire.lock().unwrap().reset = true;
    pump(&mut usb, &mut class, &wire);
    let status = exchange(&mut usb, &mut class, &wire, &message(0x65, 1, &[]));
    assert_eq!(
        status,
        [[0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]],
        "its slot status"
    );
}

/// Behind `CcidClass`: the control requests `before` (each answered), 64 bytes
/// of an XfrBlock (bSeq 9) announcing 200 that the host gives up, the control
/// request `then`; the packets answering the host's next GetSlotStatus (bSeq 1).
fn slot_status_after_a_message_given_up(before: &[[u8; 8]], then: [u8; 8]) -> Vec<Vec<u8>> {
    let (wire, alloc) = test_bus();
    let slots = [slot()];
    let reader = CcidReader::new(&slots, CcidConfig::short_apdu()).unwrap();
    let mut class = CcidClass::<_, _, _, 8, 271>::new(&alloc, reader, 64).unwrap();
    let mut usb = device(&alloc);
    for setup in before {
        wire.lock().unwrap().setup = Some(*setup);
        pump(&mut usb, &mut class, &wire);
    }
    let given_up = message(0x6F, 9, &[0xA5; 200]);
    assert!(exchange(&mut usb, &mut class, &wire, &given_up[..64]).is_empty());
    wire.lock().unwrap().setup = Some(then);
    pump(&mut usb, &mut class, &wire);
    exchange(&mut usb, &mut class, &wire, &message(0x65, 1, &[]))
}

/// The host resets the bulk-OUT pipe after giving up a message with
/// CLEAR_FEATURE(ENDPOINT_HALT) of endpoint 0x01, as libusb_clear_halt sends
/// it: its next GetSlotStatus is read from its first byte and answered.
/// Without the clear dropping the part collected, the GetSlotStatus would be
/// taken as that message's rest (a short XfrBlock, answered bSeq 9, bError 1).
#[test]
fn a_bulk_out_halt_cleared_drops_the_part_of_a_message_given_up() {
    let status = slot_status_after_a_message_given_up(&[], clear_halt(0x01));
    assert_eq!(status, [[0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]]);
}

/// SET_INTERFACE (interface 0, alternate setting 0: Linux's
/// `usb_set_interface`, which its usbip host runs for a client's request)
/// resets the interface's endpoints (USB 2.0 §9.1.1.5, §9.4.10): the part of
/// a message the host gave up is dropped, as the bulk-OUT halt's clearing
/// drops it, and its next GetSlotStatus is read from its first byte. The host
/// stays, though: its class ABORT (seq 7) still waits for its PC_to_RDR_Abort
/// (CMD_ABORTED), unlike after SET_CONFIGURATION. Before, the GetSlotStatus
/// was taken as the rest of that message (answered bSeq 9, bError 1).
#[test]
fn set_interface_drops_the_part_of_a_message_given_up() {
    let status = slot_status_after_a_message_given_up(&[], SET_INTERFACE);
    assert_eq!(status, [[0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]]);
    let status = slot_status_after_a_message_given_up(&[abort_request(7)], SET_INTERFACE);
    assert_eq!(status, [[0x81, 0, 0, 0, 0, 0, 1, 0x41, 0xFF, 3]]);
}

/// [`set_interface_drops_the_part_of_a_message_given_up`] behind `CcidPort`.
#[test]
fn port_set_interface_drops_the_part_of_a_message_given_up() {
    let mut p = PlainPort::new();
    p.host_sends(&message(0x6F, 9, &[0xA5; 200])[..64]);
    p.wire.lock().unwrap().setup = Some(SET_INTERFACE);
    p.pump();
    let status = p.sent_to_the_runner(&message(0x65, 1, &[]));
    assert_eq!(status, message(0x65, 1, &[]));
    p.answer(&status, &mut [0u8; 271]);
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]);
}

/// A host that sends SET_CONFIGURATION again (as Linux's
/// `usb_reset_configuration` does) starts over as after a bus reset (USB 2.0
/// §9.1.1.5), as behind `CcidPort`: neither the part of a message it gave up
/// nor its class ABORT (seq 7) without a PC_to_RDR_Abort touches its next
/// GetSlotStatus. Before, the GetSlotStatus was taken as the rest of that
/// message (answered bSeq 9, CMD_ABORTED).
#[test]
fn set_configuration_starts_the_class_over() {
    let status = slot_status_after_a_message_given_up(&[abort_request(7)], set_configuration(1));
    assert_eq!(status, [[0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]]);
}

/// A class request ABORT (bSeq `paired`) waits for its PC_to_RDR_Abort: the
/// messages `not_it` (a message that is not that Abort), a GetSlotStatus
/// (bSeq `status`) and the Abort with bSeq `paired`, and their answers, the
/// card present: CMD_ABORTED, CMD_ABORTED, the Abort's slot status.
fn still_waiting_then_paired(
    not_it: Vec<u8>,
    status: u8,
    paired: u8,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let aborted = |seq| vec![0x81, 0, 0, 0, 0, 0, seq, 0x41, 0xFF, 3];
    let answers = vec![
        aborted(not_it[6]),
        aborted(status),
        vec![0x81, 0, 0, 0, 0, 0, paired, 0x01, 0, 3],
    ];
    let messages = vec![
        not_it,
        message(0x65, status, &[]),
        message(0x72, paired, &[]),
    ];
    (messages, answers)
}

/// CCID 1.1 §5.3.1, §6.1.13: a PC_to_RDR_Abort with a `dwLength` other than 0
/// is a malformed message, not the Abort the class request ABORT waits for:
/// it fails CMD_ABORTED as any other message, so does the GetSlotStatus after
/// it, and the well-formed Abort completes the pair; behind `CcidClass` and
/// `CcidPort` alike. Before, the malformed one completed it (answered bError
/// 1, the GetSlotStatus as usual).
#[test]
fn a_malformed_abort_does_not_complete_a_class_abort() {
    let (messages, expected) = still_waiting_then_paired(message(0x72, 5, &[0xAA]), 6, 5);
    behind_class_and_port(|host, name| {
        host.control(abort_request(5));
        assert_eq!(host.answers(&messages), expected, "{name}");
    });
}

/// A malformed PC_to_RDR_Abort (`dwLength` 1, its byte missing: a short
/// transfer) while a power-on waits for the runner stops nothing: it gets
/// CMD_SLOT_BUSY as any other message, and the power-on its ATR. Before, the
/// port's gate took it for an Abort: the power-on's answer went out
/// CMD_ABORTED and the malformed message ran after it (bError 1).
#[test]
fn port_a_malformed_abort_stops_no_command() {
    let mut p = PlainPort::new();
    let power_on = p.sent_to_the_runner(&message(0x62, 1, &[]));
    p.host_sends(&message(0x72, 2, &[0xAA])[..10]);
    assert!(!p.port.stopping(), "the power-on goes on");
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 2, 0x41, 0xE0, 3]);
    p.answer(&power_on, &mut [0u8; 271]);
    let atr = p.sent();
    assert_eq!(atr[..9], [0x80, 20, 0, 0, 0, 0, 1, 0, 0], "{atr:02X?}");
    assert_eq!(
        p.port.take(&mut [0u8; 271]),
        None,
        "nothing queued behind it"
    );
}

/// The bulk-IN packets the host took before a reset of the pipe, and after.
type BeforeAndAfter = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// The host's side of the bus for a class, the class answering each message
/// as the host's next step ([`Host::step`]).
struct Host<'w, F: FnMut(Option<&[u8]>)> {
    wire: &'w Arc<Mutex<Wire>>,
    /// The host sends the message (if any) and the device answers it, or the
    /// bus is polled until it is quiet.
    step: F,
}

impl<F: FnMut(Option<&[u8]>)> Host<'_, F> {
    /// The host sends the control request `setup` (no data stage).
    fn control(&mut self, setup: [u8; 8]) {
        self.wire.lock().unwrap().setup = Some(setup);
        (self.step)(None);
    }

    /// The host sends `message` and the device answers it: the bulk-IN packets
    /// the host has taken since the last look.
    fn exchange(&mut self, message: &[u8]) -> Vec<Vec<u8>> {
        (self.step)(Some(message));
        take(self.wire, 1)
    }

    /// The card powered on (bSeq 1); the host takes `taken` packets of the
    /// 162-byte answer to an ECHO of 150 bytes (bSeq 2), leaving the next
    /// waiting in the endpoint, resets the pipe with `reset`, reads again and
    /// sends a GetSlotStatus (bSeq 3). Returns the ECHO's answer in the
    /// packets the host took before the reset and those after it (the bytes
    /// of the ECHO's answer the device sent, then the GetSlotStatus's).
    fn reset_inside_an_answer(&mut self, taken: usize, reset: [u8; 8]) -> BeforeAndAfter {
        assert_eq!(self.exchange(&message(0x62, 1, &[]))[0][..2], [0x80, 20]);
        host_takes(self.wire, taken);
        let before = self.exchange(&message(0x6F, 2, &echo(&[0x5A; 150])));
        self.control(reset);
        host_reads_again(self.wire);
        (self.step)(None);
        let mut after = take(self.wire, 1);
        after.extend(self.exchange(&message(0x65, 3, &[])));
        (before, after)
    }
}

/// [`Host::reset_inside_an_answer`] behind `CcidClass`, then behind
/// `CcidPort` (the test as its runner).
fn reset_inside_an_answer(taken: usize, reset: [u8; 8]) -> [BeforeAndAfter; 2] {
    let mut class = PlainClass::new();
    let wire = class.wire.clone();
    let behind_the_class = Host {
        wire: &wire,
        step: |message: Option<&[u8]>| {
            if let Some(message) = message {
                send(&class.wire, message);
            }
            class.pump();
        },
    }
    .reset_inside_an_answer(taken, reset);

    let mut p = PlainPort::new();
    let wire = p.wire.clone();
    let behind_the_port = Host {
        wire: &wire,
        step: |message: Option<&[u8]>| match message {
            Some(message) => {
                let taken = p.sent_to_the_runner(message);
                p.answer(&taken, &mut [0u8; 271]);
            }
            None => p.pump(),
        },
    }
    .reset_inside_an_answer(taken, reset);
    [behind_the_class, behind_the_port]
}

/// [`reset_inside_an_answer`] with each reset of bulk IN
/// ([`clear_halt`] of bulk IN, [`SET_INTERFACE`]), each result named by its class
/// and reset.
fn each_reset_inside_an_answer(taken: usize) -> Vec<(String, BeforeAndAfter)> {
    let mut results = Vec::new();
    for (name, reset) in [
        ("CLEAR_FEATURE", clear_halt(0x81)),
        ("SET_INTERFACE", SET_INTERFACE),
    ] {
        let [class, port] = reset_inside_an_answer(taken, reset);
        results.push((format!("CcidClass, {name}"), class));
        results.push((format!("CcidPort, {name}"), port));
    }
    results
}

/// The host resets bulk IN (CLEAR_FEATURE(ENDPOINT_HALT) of it, or
/// SET_INTERFACE) after taking the first of the three packets of an answer
/// (64 + 64 + 34 bytes), the second waiting in the endpoint: the device sends
/// nothing more of that answer (USB 2.0 §5.8.5: the host retired the
/// transfer; §9.4.5: its next packet starts a transfer). The packet the
/// controller holds still goes, ended by a zero-length packet, and the next
/// GetSlotStatus's answer comes in a transfer of its own. Behind `CcidClass`
/// and `CcidPort` alike. Before, the third packet (the answer's tail) went out
/// after the reset.
#[test]
fn a_bulk_in_reset_inside_an_answer_sends_no_more_of_it() {
    for (which, (before, after)) in each_reset_inside_an_answer(1) {
        assert_eq!(before.len(), 1, "{which}");
        assert_eq!(before[0][..10], [0x80, 152, 0, 0, 0, 0, 2, 0, 0, 0]);
        let status = vec![0x81, 0, 0, 0, 0, 0, 3, 0, 0, 0];
        assert_eq!(after, [[0x5A; 64].to_vec(), vec![], status], "{which}");
    }
}

/// The host resets bulk IN before taking any packet of an answer (the first
/// waits in the endpoint): nothing of it was given up, and it goes out whole
/// after the reset, before the next GetSlotStatus's answer. Behind `CcidClass`
/// and `CcidPort` alike.
#[test]
fn a_bulk_in_reset_before_an_answer_is_taken_keeps_it_whole() {
    for (which, (before, after)) in each_reset_inside_an_answer(0) {
        assert!(before.is_empty(), "{which}");
        let lengths: Vec<usize> = after.iter().map(Vec::len).collect();
        assert_eq!(lengths, [64, 64, 34, 10], "{which}");
        assert_eq!(after[0][..10], [0x80, 152, 0, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(after[2][32..], [0x90, 0x00], "{which}");
        assert_eq!(after[3][..7], [0x81, 0, 0, 0, 0, 0, 3], "{which}");
    }
}

/// Two class requests ABORT for slot 0 (seq 7, then 8) before the runner
/// takes either: the port hands the runner the last only, and the slot waits
/// for its PC_to_RDR_Abort (CCID 1.1 §5.3.1: one abort under way per slot):
/// the Abort with seq 7 and a GetSlotStatus (seq 9) fail CMD_ABORTED, the
/// Abort with seq 8 completes the pair. `CcidClass`, which passes each on at
/// once, answers the same. And where the slot's last message was already the
/// Abort with seq 10, the last class ABORT (10, after 11) completes that pair
/// (§5.3.1 looks at the last message), behind either: the next GetSlotStatus
/// is answered as usual. (Before, `CcidClass` passing on the first made the
/// reader forget that Abort: the GetSlotStatus failed CMD_ABORTED.)
#[test]
fn two_class_aborts_before_the_runner_takes_either_leave_the_last() {
    let (messages, expected) = still_waiting_then_paired(message(0x72, 7, &[]), 9, 8);

    let mut p = PlainPort::new();
    let mut buffer = [0u8; 271];
    p.control(abort_request(7));
    p.control(abort_request(8));
    let last = Notice::ClassAbort { slot: 0, seq: 8 };
    assert_eq!(p.port.take(&mut buffer), Some(Task::Notice(last)));
    hear(&mut p.reader, last);
    assert_eq!(p.port.take(&mut buffer), None, "the first is not handed");
    assert_eq!(p.answers(&messages), expected, "CcidPort");
    the_last_class_abort_completes_the_pair(&mut p, "CcidPort");

    let mut class = PlainClass::new();
    class.control(abort_request(7));
    class.control(abort_request(8));
    assert_eq!(class.answers(&messages), expected, "CcidClass");
    the_last_class_abort_completes_the_pair(&mut class, "CcidClass");
}

/// The Abort with seq 10 answered, then the class ABORTs 11 and 10: the last
/// one completes the pair with that Abort (the slot's last message), so the
/// next GetSlotStatus (seq 12) is answered as usual.
fn the_last_class_abort_completes_the_pair(host: &mut dyn Plain, name: &str) {
    let abort = host.answers(&[message(0x72, 10, &[])]);
    assert_eq!(abort[0][6..9], [10, 0x01, 0], "{name}: answered");
    host.control(abort_request(11));
    host.control(abort_request(10));
    let status = host.answers(&[message(0x65, 12, &[])]);
    assert_eq!(
        status,
        [[0x81, 0, 0, 0, 0, 0, 12, 0x01, 0, 3]],
        "{name}: paired"
    );
}

/// A SET_CONFIGURATION of a configuration the device lacks (2): usb-device
/// refuses it (STALL) and nothing starts over, behind `CcidClass` and
/// `CcidPort` alike: the host's class ABORT (seq 7) still waits for its
/// PC_to_RDR_Abort, so its GetSlotStatus (seq 8) fails CMD_ABORTED. Before,
/// both classes started over as for one accepted (the GetSlotStatus answered
/// as usual).
#[test]
fn a_refused_set_configuration_starts_nothing_over() {
    let status = [message(0x65, 8, &[])];
    let aborted = [vec![0x81, 0, 0, 0, 0, 0, 8, 0x41, 0xFF, 3]];
    behind_class_and_port(|host, name| {
        host.control(abort_request(7));
        host.control(set_configuration(2));
        assert_eq!(host.answers(&status), aborted, "{name}");
    });
}

/// A host sends the class request ABORT (seq 7), which the runner passes on,
/// and goes (a bus reset) before its PC_to_RDR_Abort: the port's next task
/// tells the reader (`Notice::HostGone`) before the next host's GetSlotStatus
/// (seq 1) is answered, which is then answered as usual, not CMD_ABORTED.
#[test]
fn port_class_abort_of_a_gone_host_fails_nothing_of_the_next() {
    let mut p = PlainPort::new();
    let mut buffer = [0u8; 271];
    // The reader's pairing starts idle.
    assert_eq!(p.port.take(&mut buffer), None);
    p.wire.lock().unwrap().setup = Some(abort_request(7));
    p.pump();
    let abort = Notice::ClassAbort { slot: 0, seq: 7 };
    assert_eq!(p.port.take(&mut buffer), Some(Task::Notice(abort)));
    hear(&mut p.reader, abort);
    p.wire.lock().unwrap().reset = true;
    p.pump();
    p.host_sends(&message(0x65, 1, &[]));
    let untouched = |_: &[u8], _: &mut [u8]| -> Result<usize, HandleError> {
        panic!("the reader must hear of the host gone first")
    };
    assert!(!p.port.answer_at_once(untouched));
    assert_eq!(
        p.port.take(&mut buffer),
        Some(Task::Notice(Notice::HostGone))
    );
    hear(&mut p.reader, Notice::HostGone);
    // Admitted for the runner meanwhile (it could not be answered at once).
    let status = p.take();
    p.answer(&status, &mut [0u8; 271]);
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 1, 0x01, 0, 3]);
}

/// A command that completes although a PC_to_RDR_Abort came for it meanwhile
/// (the card answered before the line looked): its answer, the ATR, goes out
/// rewritten as CMD_ABORTED (no data, `bError` FF, the card bits kept), and the
/// queued Abort runs next.
#[test]
fn port_sends_a_completed_but_aborted_commands_answer_as_cmd_aborted() {
    let mut p = PlainPort::new();
    let power_on = p.sent_to_the_runner(&message(0x62, 1, &[]));
    p.host_sends(&message(0x72, 2, &[]));
    assert!(p.port.stopping(), "the Abort stops the power on");
    let mut answer = [0u8; 271];
    let len = p.answer(&power_on, &mut answer);
    assert!(len > 10, "the ATR: {:02X?}", &answer[..len]);
    assert_eq!(p.sent(), [0x80, 0, 0, 0, 0, 0, 1, 0x40, 0xFF, 0]);
    let abort = p.take();
    p.answer(&abort, &mut [0u8; 271]);
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 2, 0, 0, 0]);
}

/// A runner that has no answer to hand back (here its answer buffer is too
/// short: `handle` fails) calls `finish` with `len` 0: nothing is sent, and
/// whatever that buffer still holds ("no card") says nothing about the card: a
/// later CMD_SLOT_BUSY says what the core says (the card present and active).
#[test]
fn port_finish_without_an_answer_sends_nothing_and_busy_answers_keep_the_card() {
    let mut p = PlainPort::new();
    let power_on = p.sent_to_the_runner(&message(0x62, 1, &[]));
    p.answer(&power_on, &mut [0u8; 271]);
    assert_eq!(p.sent()[7], 0x00, "active");

    // GetSlotStatus (seq 2) with a 9-byte answer buffer whose stale bStatus says
    // "no card": no answer.
    let status = p.sent_to_the_runner(&message(0x65, 2, &[]));
    p.answer(&status, &mut [0, 0, 0, 0, 0, 0, 0, 0x02, 0]);
    assert!(take(&p.wire, 1).is_empty(), "nothing to send");

    // GetSlotStatus (seq 3) runs; GetSlotStatus (seq 4) meanwhile is busy.
    p.sent_to_the_runner(&message(0x65, 3, &[]));
    p.host_sends(&message(0x65, 4, &[]));
    assert_eq!(
        p.sent(),
        [0x81, 0, 0, 0, 0, 0, 4, 0x40, 0xE0, 3],
        "CMD_SLOT_BUSY, the card active"
    );
}

/// The class request ABORT for a message that waits for the runner, then the
/// host goes (a bus reset): the message is dropped, and nothing is left
/// stopping, so the next host's first command runs unstopped (a card line
/// would not give up on it) and is answered as it ends.
#[test]
fn port_abort_of_a_waiting_message_ends_with_its_host() {
    let mut p = PlainPort::new();
    // A power-on (it needs the card, so it waits for the runner; one that needs
    // none would wait for `answer_at_once`, admitted by nothing).
    p.host_sends(&message(0x62, 1, &[]));
    p.wire.lock().unwrap().setup = Some(abort_request(0x01));
    p.pump();
    assert!(
        p.port.stopping(),
        "the class ABORT stops the waiting command"
    );
    assert!(!p.port.disown(), "nothing runs");
    assert!(!p.port.stopping(), "nothing is left to stop");

    let status = p.sent_to_the_runner(&message(0x65, 2, &[]));
    assert!(!p.port.stopping());
    p.answer(&status, &mut [0u8; 271]);
    assert_eq!(
        p.sent(),
        [0x81, 0, 0, 0, 0, 0, 2, 0x01, 0, 3],
        "its slot status"
    );
}

/// The host starts over (a bus reset, or SET_CONFIGURATION) while the card
/// works on its ECHO (seq 2); the new host sends ABORT (class request and
/// PC_to_RDR_Abort, seq 30) and a GetSlotStatus (seq 31) meanwhile. Every
/// message gets exactly one answer with its own bSeq: the GetSlotStatus
/// CMD_SLOT_BUSY at once, the Abort its slot status once the old command has
/// stopped; the old command's answer goes to nobody. Then the new host's
/// commands run as usual.
#[test]
fn port_answers_a_new_hosts_abort_once_the_gone_hosts_command_stops() {
    for host_starts_over in [BusReset, Setup(set_configuration(1))] {
        let (bus, mut reader) = slow_port();
        *bus.during.borrow_mut() = vec![
            host_starts_over,
            Setup(abort_request(0x30)),
            Send(message(0x72, 0x30, &[])),
            Send(message(0x65, 0x31, &[])),
        ];
        send(&bus.wire, &message(0x6F, 2, &echo(&[0xAB, 0xCD])));
        // The ECHO, the news of the host gone, the class ABORT, the Abort.
        run_port(bus, &mut reader, 4);
        assert_eq!(
            take(&bus.wire, 1),
            [
                [0x80, 0, 0, 0, 0, 0, 2, 0x80, 2, 0],
                [0x81, 0, 0, 0, 0, 0, 0x31, 0x40, 0xE0, 3],
                [0x81, 0, 0, 0, 0, 0, 0x30, 0, 0, 0],
            ],
            "the old host's time extension, before it went; CMD_SLOT_BUSY; the Abort's slot status"
        );
        the_next_command_runs(bus, &mut reader, 0x32);
    }
}

/// The port reads a message's bSlot and bSeq through the checked header view
/// (`Message::new_checked`), never by offset. A transfer shorter than a header
/// is dropped (nothing to take, nothing sent): by the bulk-OUT pipe already,
/// which completes no message shorter than a header, so `CcidPort::take`'s own
/// check of it is a second line this part cannot reach. A GetSlotStatus for a
/// slot the reader lacks (bSlot 7) runs as slot 7's, bSeq 3's (a time extension
/// meanwhile names them) and is refused with bError 5 for its own bSlot and
/// bSeq; a header announcing 5 bytes of data that never come gets bError 1
/// (dwLength). The next message is served as usual.
#[test]
fn port_reads_a_short_or_garbled_message_through_the_checked_view() {
    let mut p = PlainPort::new();
    let mut buffer = [0u8; 271];
    p.host_sends(&[0x65, 0, 0, 0, 0]);
    assert_eq!(p.port.take(&mut buffer), None, "no header, nothing to run");
    assert_eq!(p.sent(), [], "nothing answered");

    let no_such_slot = [0x65, 0, 0, 0, 0, 7, 3, 0, 0, 0];
    let taken = p.sent_to_the_runner(&no_such_slot);
    assert_eq!(taken, no_such_slot);
    assert!(p.port.time_extension(2), "a time extension for it");
    p.pump();
    assert_eq!(p.sent(), [0x80, 0, 0, 0, 0, 7, 3, 0x80, 2, 0]);
    p.answer(&taken, &mut [0u8; 271]);
    let refused = p.sent();
    assert_eq!(refused[..7], [0x81, 0, 0, 0, 0, 7, 3], "{refused:02X?}");
    assert_eq!(
        [refused[7] & 0xC0, refused[8]],
        [0x40, 5],
        "bError 5: {refused:02X?}"
    );

    let length_lies = [0x62, 5, 0, 0, 0, 0, 4, 0, 0, 0];
    let taken = p.sent_to_the_runner(&length_lies);
    p.answer(&taken, &mut [0u8; 271]);
    let refused = p.sent();
    assert_eq!(refused[5..7], [0, 4], "{refused:02X?}");
    assert_eq!(
        [refused[7] & 0xC0, refused[8]],
        [0x40, 1],
        "bError 1: {refused:02X?}"
    );

    p.host_sends(&message(0x65, 5, &[]));
    assert!(p.answer_at_once());
    assert_eq!(p.sent(), [0x81, 0, 0, 0, 0, 0, 5, 0x01, 0, 3]);
}
