//! Arbitrary bytes from a USB/IP peer against `usbip-serve`'s protocol handling:
//! the operation phase's checked views, then the URB stream
//! (`readerkit_usbip::stream::UrbStream`) and the host controller's side of the
//! virtual bus (`Host::command`, `Host::pump`) with the CCID interface and a
//! simulated card on it, as the server runs them.
//!
//! Input layout: byte 0 picks the card (bits 0-2: t0, t1, t0t1, t1crc, none),
//! the exchange level (bit 3: short APDU, or extended APDU chained across
//! messages through a 2 KiB buffer; 1034-byte messages) and where commands run
//! (bit 4: inside `CcidClass`, or outside `CcidPort` as `usbip-serve` runs them);
//! byte 1 the size of the pieces the stream arrives in (1-256 bytes); the first
//! 40 bytes of the rest also go through the operation header and bus id views;
//! the rest is the URB stream, of the device its first command's `devid` names
//! (a later command naming another ends the stream, as the server closes the
//! connection).
//! Checked: every reply is a well-formed RET_SUBMIT / RET_UNLINK echoing its
//! command's seqnum; a transfer completes once at most, and only if it was
//! pending; only control transfers and those to a halted endpoint (-EPIPE)
//! complete at once; IN data is at most the length asked for; transfers in flight stay
//! within `MAX_PENDING`; the decoder holds at most one header and one transfer;
//! after a malformed header nothing more is read.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use readerkit::line::LineReader;
use readerkit_card_sim::{Card, Config, SimLine, SlotCard};
use readerkit_ccid::reader::{Config as CcidConfig, ExchangeLevel};
use readerkit_ccid::twin;
use readerkit_ccid::usb::CcidClass;
use readerkit_ccid::usb::port::{CcidPort, Task};
use readerkit_ccid::{CcidReader, Notice};
use readerkit_testkit::sim::{LineDevice, inserted};
use readerkit_usbip::host::{Completion, Host, MAX_PENDING, Outcome};
use readerkit_usbip::protocol::{
    self, BUSID_LEN, Direction, MAX_TRANSFER, OP_HEADER_LEN, RET_SUBMIT, RET_UNLINK,
    URB_HEADER_LEN, UrbCommand,
};
use readerkit_usbip::stream::UrbStream;
use readerkit_usbip::virtual_bus::VirtualBus;
use usb_device::bus::UsbBusAllocator;
use usb_device::class::UsbClass;
use usb_device::device::{UsbDeviceBuilder, UsbVidPid};

/// The extended APDU level's message buffer (its dwMaxCCIDMessageLength).
const MAX_MESSAGE: usize = 1034;

type Slot = LineDevice<SimLine<1024>>;
type Ccid<'a, 'd> = CcidClass<
    'a,
    'd,
    VirtualBus,
    readerkit::platform::SpinPlatform,
    LineReader<SimLine<1024>>,
    8,
    MAX_MESSAGE,
>;

type Port<'a> = CcidPort<'a, VirtualBus, [Slot], MAX_MESSAGE>;

/// The slot with card `kind` of card-sim's list (t0, t1, t0t1, t1crc, none).
fn slot(kind: u8) -> Slot {
    let name = SlotCard::NAMES[usize::from(kind) % SlotCard::NAMES.len()];
    let card = SlotCard::from_name(name)
        .and_then(|slot| slot.profile().cloned())
        .map(|profile| Card::create(Config::new(profile)));
    inserted(card, twin::Profile::GemPcTwin.capabilities())
}

fn header_word(reply: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([reply[at], reply[at + 1], reply[at + 2], reply[at + 3]])
}

/// A reply's header as the protocol lays it out; its command code and seqnum.
fn check_reply(reply: &[u8]) -> (u32, u32) {
    assert!(reply.len() >= URB_HEADER_LEN, "a whole header");
    let command = header_word(reply, 0);
    assert!(
        matches!(command, RET_SUBMIT | RET_UNLINK),
        "reply code {command}"
    );
    assert_eq!(
        reply[8..20],
        [0; 12],
        "devid, direction, ep are 0 in replies"
    );
    if command == RET_UNLINK {
        assert_eq!(reply.len(), URB_HEADER_LEN);
    }
    let status = header_word(reply, 20) as i32;
    assert!(status <= 0, "status is 0 or a negative errno");
    (command, header_word(reply, 4))
}

/// Transfers in flight: (length asked for, IN?) by seqnum (the peer may reuse
/// one, so each seqnum holds a list, and a completion is matched to the shortest
/// transfer of its seqnum it fits).
#[derive(Default)]
struct InFlight(HashMap<u32, Vec<(usize, bool)>>);

impl InFlight {
    fn start(&mut self, seqnum: u32, length: usize, dir_in: bool) {
        self.0.entry(seqnum).or_default().push((length, dir_in));
    }

    fn count(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }

    /// One transfer `seqnum` ends; it must have been in flight.
    fn end(&mut self, seqnum: u32, matches: impl Fn(usize, bool) -> bool) {
        let list = self.0.get_mut(&seqnum).expect("ends a pending transfer");
        let at = list
            .iter()
            .enumerate()
            .filter(|&(_, &(length, dir_in))| matches(length, dir_in))
            // The shortest that fits: a longer one fits whatever it would.
            .min_by_key(|&(_, &(length, _))| length)
            .map(|(at, _)| at)
            .unwrap_or_else(|| panic!("no transfer {seqnum} in flight fits: {list:?}"));
        list.remove(at);
        if list.is_empty() {
            self.0.remove(&seqnum);
        }
    }

    fn finish(&mut self, done: &Completion) {
        check_reply(&done.encode());
        let actual = done.actual_length;
        let data = done.data.len();
        // Ended by a configuration change: an OUT transfer with what the
        // device had read of it.
        let shut_down = done.status == protocol::STATUS_SHUT_DOWN;
        self.end(done.seqnum, |length, dir_in| {
            // IN: the data carried, within the length asked for; OUT: all of it
            // (no more if shut down).
            (dir_in && actual == data && data <= length)
                || (!dir_in && data == 0 && (actual == length || shut_down && actual <= length))
        });
    }
}

fuzz_target!(|data: &[u8]| {
    let [choice, piece, rest @ ..] = data else {
        return;
    };
    // The operation phase: its views take any bytes.
    if let Some(op) = rest.get(..OP_HEADER_LEN) {
        let _ = protocol::parse_operation(op.try_into().unwrap());
    }
    if let Some(busid) = rest.get(OP_HEADER_LEN..OP_HEADER_LEN + BUSID_LEN)
        && let Ok(id) = protocol::parse_busid(busid.try_into().unwrap())
    {
        assert!(id.len() < BUSID_LEN && id.is_ascii());
    }

    let slots = [slot(choice & 7)];
    let extended = choice & 8 != 0;
    let config = CcidConfig {
        level: if extended {
            ExchangeLevel::ExtendedApdu
        } else {
            ExchangeLevel::ShortApdu
        },
        max_message_len: MAX_MESSAGE as u32,
        ..CcidConfig::short_apdu()
    };
    let Ok(reader) = CcidReader::new(&slots, config) else {
        return;
    };
    let mut buffer = [0u8; 2048];
    let reader = if extended {
        reader.with_apdu_buffer(&mut buffer)
    } else {
        reader
    };
    let bus = VirtualBus::default();
    let alloc = UsbBusAllocator::new(bus.clone());
    let device = || {
        UsbDeviceBuilder::new(&alloc, UsbVidPid(0x08E6, 0x3437))
            .max_packet_size_0(64)
            .expect("packet size")
            .build()
    };
    let piece = usize::from(*piece) + 1;
    if choice & 0x10 == 0 {
        // Commands run inside the class.
        let class: Ccid<'_, '_> = CcidClass::new(&alloc, reader, 64).expect("class");
        let host = Host::new(device(), class, bus, Ccid::service);
        drive(host, rest, piece, |_| false);
    } else {
        // Commands run outside, on the port, as usbip-serve runs them: taken,
        // handled, finished (the worker is immediate here); a class ABORT
        // taken is passed on to the reader.
        let mut reader = reader;
        let port: Port<'_> = CcidPort::new(&alloc, &mut reader, 64).expect("port");
        let host = Host::new(device(), port, bus, Port::service);
        let mut answer = [0u8; MAX_MESSAGE];
        let mut waiting = None;
        drive(host, rest, piece, |port| {
            if let Some(len) = waiting {
                if !port.finish(&answer, len) {
                    return false;
                }
                waiting = None;
            }
            let mut message = [0u8; MAX_MESSAGE];
            match port.take(&mut message) {
                Some(Task::Command(command)) => {
                    waiting = Some(reader.respond(&command, &mut answer));
                }
                Some(Task::Notice(notice)) => {
                    if let Notice::ClassAbort { slot, .. } = notice {
                        let has = reader.has_slot(slot);
                        assert!(has, "the port hands over a slot the reader has");
                    }
                    reader.hear(notice);
                }
                None => return false,
            }
            true
        });
    }
});

/// Feed `rest` to the server's side in pieces of `piece` bytes; after every
/// command, pump the device and `run` its commands until neither moves.
fn drive<C: UsbClass<VirtualBus>>(
    mut host: Host<'_, C>,
    rest: &[u8],
    piece: usize,
    mut run: impl FnMut(&mut C) -> bool,
) {
    host.attach().expect("the device takes its address");
    // The device imported is the one the first command names: the others are
    // checked against it (one naming another device ends the stream).
    let devid = rest
        .get(8..12)
        .map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    let mut stream = UrbStream::new(devid);
    let mut in_flight = InFlight::default();
    for chunk in rest.chunks(piece) {
        let mut input = chunk;
        while let Some(next) = stream.next(&mut input) {
            assert!(stream.buffered() <= URB_HEADER_LEN + MAX_TRANSFER);
            let Ok((command, out)) = next else {
                // The server closes the connection: the error stays, nothing
                // more is read.
                let left = input.len();
                assert!(stream.next(&mut input).is_some_and(|n| n.is_err()));
                assert_eq!(input.len(), left);
                return;
            };
            let outcome = host.command(command, &out);
            match (&outcome, command) {
                (Outcome::Pending, UrbCommand::Submit(s)) => {
                    in_flight.start(s.seqnum, s.length, s.direction == Direction::In);
                }
                (Outcome::Unlinked { victim, status, .. }, _) => {
                    if *status == protocol::STATUS_UNLINKED {
                        // Every transfer of that seqnum is cancelled.
                        assert!(
                            in_flight.0.remove(victim).is_some(),
                            "unlinked a pending one"
                        );
                    }
                }
                (Outcome::Completed(done), UrbCommand::Submit(s)) => {
                    assert!(
                        s.endpoint == 0 || done.status == protocol::STATUS_STALL,
                        "only control transfers and those to a halted endpoint complete at once"
                    );
                    assert!(done.data.len() <= s.length);
                }
                (Outcome::Refused { .. }, _) => {}
                (other, command) => panic!("{other:?} for {command:?}"),
            }
            if let Some(reply) = outcome.reply() {
                let (_, seqnum) = check_reply(&reply);
                assert_eq!(seqnum, command_seqnum(command));
            }
            loop {
                for done in host.pump() {
                    in_flight.finish(&done);
                }
                if !run(host.class_mut()) {
                    break;
                }
            }
            assert_eq!(host.pending(), in_flight.count(), "pending transfers agree");
            assert!(host.pending() <= MAX_PENDING);
        }
        assert!(input.is_empty(), "a piece is read whole");
        assert!(stream.buffered() <= URB_HEADER_LEN + MAX_TRANSFER);
    }
}

fn command_seqnum(command: UrbCommand) -> u32 {
    match command {
        UrbCommand::Submit(s) => s.seqnum,
        UrbCommand::Unlink { seqnum, .. } => seqnum,
    }
}
