//! The usb-device class on a bus of our own (no USB hardware here): the
//! configuration descriptor a host reads, messages split into packets both ways
//! (with the zero-length packet), NotifySlotChange on the interrupt endpoint, and
//! the class requests on the control endpoint.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use readerkit::Device;
use readerkit::line::LineReader;
use readerkit::platform::SpinPlatform;
use readerkit_card_sim::keypad::ScriptedKeypad;
use readerkit_card_sim::{Card, Config, Profile, SimLine};
use readerkit_ccid::reader::{Config as CcidConfig, ConfigError};
use readerkit_ccid::twin;
use readerkit_ccid::usb::CcidClass;
use readerkit_ccid::{CcidReader, PinSupport};
use readerkit_testkit::sim::inserted;
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

type Slot = Device<SpinPlatform, LineReader<SimLine<1024>>>;

fn slot() -> Slot {
    let card = Card::create(Config::new(Profile::t1()));
    inserted(Some(card), twin::Profile::GemPcTwin.capabilities())
}

fn message(kind: u8, seq: u8, data: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(data.len() as u32).to_le_bytes());
    m.extend_from_slice(&[0, seq, 0, 0, 0]);
    m.extend_from_slice(data);
    m
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
        if w.setup.is_none() && w.in_complete == 0 && w.out.values().all(VecDeque::is_empty) {
            break;
        }
    }
}

/// The packets the device sent on IN endpoint `ep` since the last look.
fn take(wire: &Arc<Mutex<Wire>>, ep: u8) -> Vec<Vec<u8>> {
    wire.lock().unwrap().sent.remove(&ep).unwrap_or_default()
}

/// Queue `bytes` on the bulk-OUT endpoint in 64-byte packets.
fn send(wire: &Arc<Mutex<Wire>>, bytes: &[u8]) {
    let mut w = wire.lock().unwrap();
    let q = w.out.entry(1).or_default();
    for chunk in bytes.chunks(64) {
        q.push_back(chunk.to_vec());
    }
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
    let bus = TestBus::default();
    let wire = bus.0.clone();
    let alloc = UsbBusAllocator::new(bus);
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
    send(&wire, &message(0x62, 1, &[]));
    pump(&mut usb, &mut class, &wire);
    let answer = take(&wire, 1);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0][..10], [0x80, 20, 0, 0, 0, 0, 1, 0, 0, 0]);

    // An ECHO of 200 bytes: the message in four packets, the answer (212 bytes)
    // in four.
    let data: Vec<u8> = (0..200u8).collect();
    let mut apdu = vec![0x80, 0xEE, 0, 0, 200];
    apdu.extend_from_slice(&data);
    apdu.push(0);
    send(&wire, &message(0x6F, 2, &apdu));
    pump(&mut usb, &mut class, &wire);
    let packets = take(&wire, 1);
    assert_eq!(
        packets.iter().map(Vec::len).collect::<Vec<_>>(),
        [64, 64, 64, 20]
    );
    let answer = packets.concat();
    assert_eq!(answer[..10], [0x80, 202, 0, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(answer[10..210], data[..]);
    assert_eq!(answer[210..], [0x90, 0x00]);

    // An answer of exactly 128 bytes ends with a zero-length packet.
    let data = [0x5Au8; 116];
    let mut apdu = vec![0x80, 0xEE, 0, 0, 116];
    apdu.extend_from_slice(&data);
    apdu.push(0);
    send(&wire, &message(0x6F, 3, &apdu));
    pump(&mut usb, &mut class, &wire);
    let packets = take(&wire, 1);
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

/// PC_to_RDR_Secure over USB with the class's keypad (card-sim's scripted one):
/// the PIN typed on it reaches the card (PIN 1234), whose 90 00 comes back in
/// the DataBlock; a wrong PIN gets the card's 63 C2.
#[test]
fn secure_pin_entry_with_the_class_keypad() {
    let bus = TestBus::default();
    let wire = bus.0.clone();
    let alloc = UsbBusAllocator::new(bus);
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
    send(&wire, &message(0x62, 1, &[]));
    pump(&mut usb, &mut class, &wire);
    assert_eq!(
        take(&wire, 1).concat()[..10],
        [0x80, 20, 0, 0, 0, 0, 1, 0, 0, 0]
    );
    // CCID's PIN verification structure for VERIFY: ASCII, 4 to 8 digits, OK key.
    let mut verify = vec![
        0x00, 0x00, 0x82, 0x08, 0x00, 8, 4, 0x02, 0x01, 0x09, 0x04, 0x00, 0, 0, 0,
    ];
    verify.extend_from_slice(&[0x00, 0x20, 0x00, 0x80, 0x08]);
    verify.extend_from_slice(&[0xFF; 8]);
    for (seq, sw) in [(2u8, [0x90, 0x00]), (3, [0x63, 0xC2])] {
        send(&wire, &message(0x69, seq, &verify));
        pump(&mut usb, &mut class, &wire);
        let answer = take(&wire, 1).concat();
        assert_eq!(
            answer[..10],
            [0x80, 2, 0, 0, 0, 0, seq, 0, 0, 0],
            "{answer:02X?}"
        );
        assert_eq!(answer[10..], sw);
    }
}
