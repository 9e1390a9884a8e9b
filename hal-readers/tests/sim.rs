//! Byte-level sessions: the whole stack (`Device` → `LineReader` → `Interface`)
//! against a simulated TDA8035 with a simulated card (`card-sim`) behind fake pins
//! and a fake UART.
//!
//! The fake chip: CMDVCC low powers the card, RSTIN rising resets it (its ATR then
//! comes out of the UART), CMDVCC high deactivates it. The status pin is high while
//! a card is in the slot and no fault is injected. Every byte the UART writes is
//! echoed on RX (the shared I/O line); a character the card refuses (T=0 parity
//! error) echoes as a framing error, as the card's error signal makes it. The UART
//! checks parity like a real one: an inverse-convention card's characters fail
//! even parity. The delay only counts time.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use embedded_hal::digital::{ErrorType as PinErrorType, InputPin, OutputPin};
use embedded_hal_nb::serial::{self, ErrorKind, ErrorType};
use readerkit::caps::ReaderCapabilities;
use readerkit::ioctl::Ioctl;
use readerkit::line::{Framing, Line, LineReader};
use readerkit::protocol::Protocol;
use readerkit::{CardState, Status};
use readerkit_card_sim::atr::Convention;
use readerkit_card_sim::fault::{Mute, Trigger};
use readerkit_card_sim::{Card, Config as CardConfig, Profile};
use readerkit_hal::chip::Tda8035;
use readerkit_hal::interface::{Config, Interface, NoPin, Pins};
use readerkit_hal::{CardEvent, Class, ConfigError, Parity, UartConfig};
use readerkit_testkit::apdu::{SELECT_MF, SELECT_MF_FCI, echo, get_challenge};
use readerkit_testkit::client::{
    apdu, check_inverse_convention_t1, check_mute_after_one_answer, control, power_up, select,
};
use readerkit_testkit::sim::{LineDevice, faults, line_device};

#[derive(Default)]
struct Chip {
    card: Option<Card>,
    powered: bool,
    rst: bool,
    /// CMDVCC is low.
    cmd_low: bool,
    /// Over-current: while CMDVCC is low the chip deactivates the card and pulls
    /// the status output low.
    fault: bool,
    parity: Option<Parity>,
    bauds: Vec<u32>,
    rx: VecDeque<Result<u8, ErrorKind>>,
    /// Pull the card out when this many bytes have been written.
    remove_after_writes: Option<usize>,
    /// Break the echo of this write (noise on the line: the card got the byte).
    garbled_echo: Option<usize>,
    writes: usize,
    vsel: Vec<(bool, bool)>,
    vsel0: bool,
    delay_ns: u64,
    /// When RST last rose (`delay_ns` then).
    rst_rose_ns: u64,
    /// The card's answer starts this long after RST rises (ISO/IEC 7816-3 8.2:
    /// between 400 and 40 000 clock cycles).
    ts_after_ns: u64,
    /// The card waits this long (ns) before its character number `.0` (counted
    /// from TS = 0 after RST rose).
    gap_before: Option<(usize, u64)>,
    /// Characters the card sent since RST rose, and when the last one came.
    card_chars: usize,
    last_char_ns: u64,
    /// The card holds I/O low for a while after power-up (ISO/IEC 7816-3 6.2.2
    /// gives it 200 clock cycles after CLK to set I/O high; the chip copies the
    /// line to the MCU): the UART takes in one broken character while RST is
    /// still low.
    io_low_at_power_up: bool,
}

type Shared = Rc<RefCell<Chip>>;

#[derive(Debug)]
struct FakeError(ErrorKind);
impl serial::Error for FakeError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

struct CmdPin(Shared);
struct RstPin(Shared);
struct StatusPin(Shared);
struct VselPin(Shared, bool);
struct Uart(Shared);
struct Delay(Shared);

impl PinErrorType for CmdPin {
    type Error = core::convert::Infallible;
}
impl PinErrorType for RstPin {
    type Error = core::convert::Infallible;
}
impl PinErrorType for StatusPin {
    type Error = core::convert::Infallible;
}
impl PinErrorType for VselPin {
    type Error = core::convert::Infallible;
}

impl OutputPin for CmdPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        let mut c = self.0.borrow_mut();
        c.cmd_low = true;
        if c.card.is_some() && !c.fault {
            c.powered = true;
            if c.io_low_at_power_up {
                c.rx.push_back(Err(ErrorKind::FrameFormat));
            }
        }
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        let mut c = self.0.borrow_mut();
        c.cmd_low = false;
        c.powered = false;
        if let Some(card) = c.card.as_mut() {
            card.power_off();
        }
        Ok(())
    }
}

impl OutputPin for RstPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.0.borrow_mut().rst = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        let mut c = self.0.borrow_mut();
        let rising = !c.rst;
        c.rst = true;
        if rising {
            c.rst_rose_ns = c.delay_ns;
            c.card_chars = 0;
        }
        if rising && c.powered {
            if let Some(card) = c.card.as_mut() {
                card.cold_reset();
            }
        }
        Ok(())
    }
}

impl InputPin for StatusPin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        let mut c = self.0.borrow_mut();
        if c.fault && c.cmd_low {
            c.powered = false;
            return Ok(false);
        }
        Ok(c.card.is_some())
    }
    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.is_high().map(|h| !h)
    }
}

impl OutputPin for VselPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.set(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.set(true);
        Ok(())
    }
}

impl VselPin {
    fn set(&mut self, level: bool) {
        let mut c = self.0.borrow_mut();
        if self.1 {
            // VSEL1 is written second: record the pair.
            let pair = (c.vsel0, level);
            c.vsel.push(pair);
        } else {
            c.vsel0 = level;
        }
    }
}

impl ErrorType for Uart {
    type Error = FakeError;
}

impl serial::Read<u8> for Uart {
    fn read(&mut self) -> nb::Result<u8, FakeError> {
        let mut c = self.0.borrow_mut();
        if let Some(r) = c.rx.pop_front() {
            return r.map_err(|k| nb::Error::Other(FakeError(k)));
        }
        if !(c.powered && c.rst) || c.delay_ns < c.rst_rose_ns + c.ts_after_ns {
            return Err(nb::Error::WouldBlock);
        }
        if let Some((at, gap_ns)) = c.gap_before {
            if c.card_chars == at && c.delay_ns < c.last_char_ns + gap_ns {
                return Err(nb::Error::WouldBlock);
            }
        }
        let parity = c.parity;
        let Some(card) = c.card.as_mut() else {
            return Err(nb::Error::WouldBlock);
        };
        let mut b = [0u8];
        if card.read(&mut b) == 0 {
            return Err(nb::Error::WouldBlock);
        }
        let inverse = card.profile().convention == Convention::Inverse;
        c.card_chars += 1;
        c.last_char_ns = c.delay_ns;
        let expected = if inverse { Parity::Odd } else { Parity::Even };
        if parity != Some(expected) {
            return Err(nb::Error::Other(FakeError(ErrorKind::Parity)));
        }
        Ok(b[0])
    }
}

impl serial::Write<u8> for Uart {
    fn write(&mut self, word: u8) -> nb::Result<(), FakeError> {
        let mut c = self.0.borrow_mut();
        c.writes += 1;
        if c.remove_after_writes == Some(c.writes) {
            c.card = None;
            c.powered = false;
        }
        let echo = if c.powered && c.rst {
            match c.card.as_mut().map(|card| card.write(&[word])) {
                Some(Err(_)) => Err(ErrorKind::FrameFormat),
                _ if c.garbled_echo == Some(c.writes) => Err(ErrorKind::Parity),
                _ => Ok(word),
            }
        } else {
            Ok(word)
        };
        c.rx.push_back(echo);
        Ok(())
    }
    fn flush(&mut self) -> nb::Result<(), FakeError> {
        Ok(())
    }
}

impl UartConfig for Uart {
    fn configure(&mut self, baud_bps: u32, parity: Parity) -> Result<(), ConfigError> {
        let mut c = self.0.borrow_mut();
        c.parity = Some(parity);
        c.bauds.push(baud_bps);
        c.rx.clear();
        Ok(())
    }
}

impl embedded_hal::delay::DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().delay_ns += u64::from(ns);
    }
}

type Iface = Interface<Tda8035, Pins<CmdPin, RstPin, StatusPin, VselPin, VselPin>, Uart, Delay>;
type Dev = LineDevice<Iface>;

fn rig(card: Option<Card>) -> (Dev, Shared) {
    let chip: Shared = Rc::new(RefCell::new(Chip {
        card,
        ..Chip::default()
    }));
    let pins = Pins {
        cmdvcc: CmdPin(chip.clone()),
        rstin: RstPin(chip.clone()),
        status: StatusPin(chip.clone()),
        vsel0: VselPin(chip.clone(), false),
        vsel1: VselPin(chip.clone(), true),
        clkdiv1: NoPin,
        clkdiv2: NoPin,
    };
    let iface: Iface = Interface::new(
        pins,
        Uart(chip.clone()),
        Delay(chip.clone()),
        Config::new(3_580),
    )
    .unwrap();
    let caps: ReaderCapabilities = iface.capabilities();
    let dev = line_device(LineReader::new(iface).with_t0_envelope(), caps);
    (dev, chip)
}

/// Poll the slot and hand any event to the device.
fn poll(dev: &Dev) -> Option<CardEvent> {
    let event = dev.with_driver(|r| r.line_mut().poll()).unwrap();
    if let Some(e) = event {
        dev.report(e);
        dev.process_events();
    }
    event
}

fn session(card: Card, mask: u32) -> (Dev, Shared, u32) {
    let (dev, chip) = rig(Some(card));
    assert_eq!(poll(&dev), Some(CardEvent::Inserted));
    assert_eq!(dev.state(), CardState::Swallowed);
    power_up(&dev).expect("power up");
    let protocol = select(&dev, mask).expect("set protocol");
    (dev, chip, protocol)
}

#[test]
fn t1_session_atr_pps_baud_change_and_apdus() {
    let (dev, chip) = rig(Some(Card::new(Profile::t1())));
    assert_eq!(poll(&dev), Some(CardEvent::Inserted));
    assert_eq!(poll(&dev), None, "no change, no event");
    let atr = power_up(&dev).unwrap();
    assert_eq!(atr, Profile::t1().atr().as_slice());
    // Lowest class first: the TDA8035's 1.8 V pins (0, 0); the card answered.
    assert_eq!(chip.borrow().vsel.last(), Some(&(false, false)));
    assert_eq!(dev.with_driver(|r| r.line().class()), Some(Class::C));
    assert_eq!(select(&dev, 3), Ok(2));
    // PPS to F = 512, D = 16 at 3.58 MHz: the UART now runs 3 580 000 * 16 / 512.
    assert_eq!(chip.borrow().bauds.last(), Some(&111_875));
    assert_eq!(apdu(&dev, 2, &SELECT_MF).unwrap(), [0x90, 0x00]);
    for len in [1usize, 254, 255, 1000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 3 + len) as u8).collect();
        let response = apdu(&dev, 2, &echo(&data)).unwrap();
        assert_eq!(response[..len], data[..], "ECHO {len}");
        assert_eq!(response[len..], [0x90, 0x00]);
    }
    control(&dev, Ioctl::Power, &0u32.to_le_bytes(), 0).unwrap();
    assert!(!chip.borrow().powered, "CMDVCC high after power down");
}

#[test]
fn t0_session_with_get_response_and_character_repetition() {
    let faults = faults(|f| f.parity_error = Trigger::Nth(3));
    let card = Card::with_config(CardConfig::new(Profile::t0()).with_faults(faults));
    let (dev, _chip, protocol) = session(card, 3);
    assert_eq!(protocol, 1);
    // The card refuses the 3rd character it receives (error signal): the driver
    // sees a framing error on the echo and repeats the character.
    let fci = apdu(&dev, 1, &SELECT_MF_FCI).unwrap();
    assert_eq!(fci[0], 0x6F);
    assert_eq!(fci[fci.len() - 2..], [0x90, 0x00]);
    let challenge = apdu(&dev, 1, &get_challenge(8)).unwrap();
    assert_eq!(challenge.len(), 10);
    let data: Vec<u8> = (0..300).map(|i| i as u8).collect();
    assert_eq!(apdu(&dev, 1, &echo(&data)).unwrap()[..300], data[..]);
}

/// ISO/IEC 7816-3:2006 11.2: T=1 has no error signal and no character
/// repetition. An echo broken by noise (the card got the character) is not sent
/// again: the I-block reaches the card once, intact.
#[test]
fn t1_never_repeats_a_character() {
    let (dev, chip, protocol) = session(Card::new(Profile::t1()), 2);
    let challenge = get_challenge(8);
    assert_eq!(apdu(&dev, protocol, &challenge).unwrap().len(), 10);
    let (writes, invalid) = {
        let c = chip.borrow();
        (c.writes, c.card.as_ref().unwrap().stats().invalid_blocks)
    };
    // The echo of the next I-block's PCB.
    chip.borrow_mut().garbled_echo = Some(writes + 2);
    assert_eq!(apdu(&dev, protocol, &challenge).unwrap().len(), 10);
    let c = chip.borrow();
    // NAD PCB LEN, the 5-byte command, LRC: 9 characters, none twice.
    assert_eq!(c.writes, writes + 9, "a character was sent again");
    assert_eq!(c.card.as_ref().unwrap().stats().invalid_blocks, invalid);
}

/// A reset ends the T=1 session: the PPS after it is sent as in the ATR phase,
/// where the card's error signal has the character sent again.
#[test]
fn repetition_is_back_after_a_reset_of_a_t1_session() {
    // T=0 first in its ATR: the card gives the error signal during the PPS.
    let (dev, chip, protocol) = session(Card::new(Profile::t0_t1()), 2);
    assert_eq!(protocol, 2);
    control(&dev, Ioctl::Power, &2u32.to_le_bytes(), 33).unwrap();
    let writes = chip.borrow().writes;
    // The card refuses the PPS request's first character, PPSS.
    let refuse_first = faults(|f| f.parity_error = Trigger::Nth(1));
    chip.borrow_mut()
        .card
        .as_mut()
        .unwrap()
        .set_faults(refuse_first);
    assert_eq!(select(&dev, 2), Ok(2));
    // PPSS twice, then PPS0 PPS1 PCK.
    assert_eq!(chip.borrow().writes, writes + 5);
}

#[test]
fn t0_card_refusing_every_character_fails_cleanly() {
    let faults = faults(|f| f.parity_error = Trigger::Every);
    let card = Card::with_config(CardConfig::new(Profile::t0()).with_faults(faults));
    let (dev, _chip) = rig(Some(card));
    poll(&dev);
    power_up(&dev).unwrap();
    // T=0 card, no PPS needed for its defaults? Either the PPS or the APDU fails
    // with a protocol error after the repetitions, never a hang.
    let result = select(&dev, 1).and_then(|_| apdu(&dev, 1, &get_challenge(8)));
    assert_eq!(result, Err(Status::DeviceProtocolError));
}

#[test]
fn inverse_convention_card_switches_the_uart_to_odd_parity() {
    let card = Card::new(Profile::t1().with_convention(Convention::Inverse));
    let (dev, chip) = rig(Some(card));
    poll(&dev);
    check_inverse_convention_t1(&dev);
    assert_eq!(chip.borrow().parity, Some(Parity::Odd));
}

#[test]
fn card_removed_mid_apdu_is_no_media_then_absent() {
    let (dev, chip, _) = session(Card::new(Profile::t1()), 2);
    let writes = chip.borrow().writes;
    chip.borrow_mut().remove_after_writes = Some(writes + 3);
    let before = chip.borrow().delay_ns;
    assert_eq!(apdu(&dev, 2, &echo(&[0x55; 100])), Err(Status::NoMedia));
    // Noticed at once from the status pin, not after a time-out.
    assert!(chip.borrow().delay_ns - before < 10_000_000);
    assert_eq!(poll(&dev), Some(CardEvent::Removed));
    assert_eq!(dev.state(), CardState::Absent);
    assert_eq!(power_up(&dev), Err(Status::NoMedia));
    // A new card: inserted after the debounce, works.
    chip.borrow_mut().card = Some(Card::new(Profile::t0()));
    assert_eq!(poll(&dev), Some(CardEvent::Inserted));
    power_up(&dev).unwrap();
    assert_eq!(select(&dev, 3), Ok(1));
}

#[test]
fn overcurrent_during_a_session_is_a_fault_not_a_removal() {
    let (dev, chip, _) = session(Card::new(Profile::t1()), 2);
    chip.borrow_mut().fault = true;
    assert_eq!(apdu(&dev, 2, &get_challenge(8)), Err(Status::Unsuccessful));
    assert!(!chip.borrow().powered);
    assert_eq!(poll(&dev), Some(CardEvent::Fault));
    chip.borrow_mut().fault = false;
    assert_ne!(dev.state(), CardState::Absent);
    power_up(&dev).unwrap();
    select(&dev, 2).unwrap();
    assert!(apdu(&dev, 2, &get_challenge(8)).is_ok());
}

#[test]
fn mute_card_times_out_after_trying_every_class() {
    let mute = CardConfig::new(Profile::t1()).with_faults(faults(|f| f.mute = Mute::Always));
    let (dev, chip) = rig(Some(Card::with_config(mute)));
    poll(&dev);
    chip.borrow_mut().vsel.clear();
    assert_eq!(power_up(&dev), Err(Status::IoTimeout));
    // C (1.8 V), B (3 V), A (5 V), then deactivated.
    let vsel = chip.borrow().vsel.clone();
    assert_eq!(vsel, [(false, false), (false, true), (true, true)]);
    assert!(!chip.borrow().powered);
    // Each class waited 40 000 clocks of RST low plus 40 000 clocks for TS at 3.58 MHz:
    // about 3 × (3.5 + 11.2 + 11.2) ms plus two 10 ms pauses; bounded, no hang.
    let ms = chip.borrow().delay_ns / 1_000_000;
    assert!((70..200).contains(&ms), "{ms} ms");
}

/// TS must start within 40 000 clock cycles of RST rising (ISO/IEC 7816-3 8.2):
/// at 3.58 MHz 11.17 ms, and the interface allows 12 etu more to receive it
/// (1.25 ms). A card starting at 12 ms is taken; one starting at 13 ms is mute:
/// every class is tried, then the card is deactivated.
#[test]
fn ts_after_40_000_clock_cycles_is_a_mute_card() {
    for (after_ms, answered) in [(12, true), (13, false)] {
        let (dev, chip) = rig(Some(Card::new(Profile::t1())));
        chip.borrow_mut().ts_after_ns = after_ms * 1_000_000;
        poll(&dev);
        let result = power_up(&dev);
        if answered {
            assert_eq!(result.as_deref(), Ok(Profile::t1().atr().as_slice()));
            assert!(chip.borrow().powered);
        } else {
            assert_eq!(result, Err(Status::IoTimeout), "TS at {after_ms} ms");
            assert_eq!(chip.borrow().vsel.len(), 3, "classes C, B and A tried");
            assert!(!chip.borrow().powered);
        }
    }
}

/// The answer to reset begins after RST rises (ISO/IEC 7816-3 6.2.2, 8.2):
/// a character the UART took in while RST was still low (the card's I/O settling
/// to high after power-up) is no TS. Before, it was read as a broken TS: every
/// class failed with a protocol error and the card was never powered.
#[test]
fn a_character_before_rst_rises_is_not_the_atr() {
    let (dev, chip) = rig(Some(Card::new(Profile::t1())));
    chip.borrow_mut().io_low_at_power_up = true;
    poll(&dev);
    let result = power_up(&dev);
    assert_eq!(result.as_deref(), Ok(Profile::t1().atr().as_slice()));
    assert_eq!(chip.borrow().vsel.len(), 1, "the first class answered");
    assert!(chip.borrow().powered);
}

/// At most 9 600 etu between two ATR characters (ISO/IEC 7816-3 8.2): at 3.58 MHz
/// 997.5 ms. A card pausing 990 ms before T0 gives its whole ATR; one pausing
/// 1 010 ms is cut after TS: the core refuses the truncated ATR and takes the
/// card for powered but unusable, as the line left it; a warm reset recovers it.
#[test]
fn a_gap_over_9_600_etu_in_the_atr_ends_it() {
    for (gap_ms, answered) in [(990, true), (1_010, false)] {
        let (dev, chip) = rig(Some(Card::new(Profile::t1())));
        chip.borrow_mut().gap_before = Some((1, gap_ms * 1_000_000));
        poll(&dev);
        let result = power_up(&dev);
        if answered {
            assert_eq!(result.as_deref(), Ok(Profile::t1().atr().as_slice()));
            continue;
        }
        assert_eq!(result, Err(Status::UnrecognizedMedia), "gap of {gap_ms} ms");
        assert_eq!(dev.state(), CardState::Powered);
        assert!(chip.borrow().powered);
        chip.borrow_mut().gap_before = None;
        let atr = control(&dev, Ioctl::Power, &2u32.to_le_bytes(), 33);
        assert_eq!(atr.as_deref(), Ok(Profile::t1().atr().as_slice()));
    }
}

#[test]
fn card_going_mute_mid_session_times_out() {
    let (dev, chip, _) = session(Card::new(Profile::t1()), 2);
    chip.borrow_mut()
        .card
        .as_mut()
        .unwrap()
        .set_faults(faults(|f| f.mute = Mute::AfterAnswers(1)));
    check_mute_after_one_answer(&dev, 2);
}

#[test]
fn warm_reset_keeps_power_and_class_and_restarts_the_card() {
    let (dev, chip, _) = session(Card::new(Profile::t1()), 2);
    let vsel_before = chip.borrow().vsel.len();
    let atr = control(&dev, Ioctl::Power, &2u32.to_le_bytes(), 33).unwrap();
    assert_eq!(atr, Profile::t1().atr().as_slice());
    assert_eq!(chip.borrow().vsel.len(), vsel_before, "no new activation");
    assert!(chip.borrow().powered);
    // Back at F = 372, D = 1 until the next PPS.
    assert_eq!(chip.borrow().bauds.last(), Some(&9_623));
    assert_eq!(select(&dev, 2), Ok(2));
    assert_eq!(chip.borrow().bauds.last(), Some(&111_875));
    assert!(apdu(&dev, 2, &get_challenge(8)).is_ok());
}

/// `Line::set_framing` (called by the core after every SET_PROTOCOL) puts TC1's N
/// and the protocol's turnaround in force; power-down returns to the `Config` ones.
#[test]
fn set_framing_applies_tc1_n_and_the_protocol_turnaround() {
    let (dev, _chip, _) = session(Card::new(Profile::t1()), 2);
    // The T=1 card's ATR has no TC1: N = 0; T=1 turnaround = BGT.
    assert_eq!(dev.with_driver(|r| r.line().framing()), (0, 22));
    control(&dev, Ioctl::Power, &0u32.to_le_bytes(), 0).unwrap();
    assert_eq!(dev.with_driver(|r| r.line().framing()), (0, 22));

    let (dev, _chip, protocol) = session(Card::new(Profile::t0()), 1);
    assert_eq!(protocol, 1);
    assert_eq!(dev.with_driver(|r| r.line().framing()), (0, 16));

    // The guard time is counted per character sent: a character at N = 10 takes
    // 10 etu more than at N = 0 (turnaround already spent by the first send).
    dev.with_driver(|r| {
        let line = r.line_mut();
        let etu_us = line.timing().etu_to_us(1);
        send_one(line, Some(Protocol::T0), 0);
        let plain = send_one(line, Some(Protocol::T0), 0);
        let guarded = send_one(line, Some(Protocol::T0), 10);
        assert_eq!(line.framing(), (10, 16));
        assert_eq!(guarded - plain, u64::from(line.timing().etu_to_us(10)));
        assert!(guarded - plain >= 10 * u64::from(etu_us));
        // N = 255: the minimum guard time, nothing added to the 12-etu frame.
        assert_eq!(send_one(line, Some(Protocol::T1), 255), plain);
        assert_eq!(line.framing(), (255, 22));
        // No protocol yet (the PPS request): TC1's N, the board's turnaround, not
        // the last protocol's (T=0's 16 etu, put in force first).
        send_one(line, Some(Protocol::T0), 0);
        assert_eq!(line.framing(), (0, 16));
        assert_ne!(Config::new(3_580).turnaround_etu, 16);
        assert_eq!(send_one(line, None, 10), guarded);
        assert_eq!(line.framing(), (10, Config::new(3_580).turnaround_etu));
    });
}

/// Put `protocol` (`None`: none yet, as for the PPS request) and TC1's
/// `extra_guard_n` in force on `line`, send one character and return the time it
/// took, in µs.
fn send_one(line: &mut Iface, protocol: Option<Protocol>, extra_guard_n: u8) -> u64 {
    line.set_framing(Framing {
        protocol,
        extra_guard_n,
    })
    .unwrap();
    let t = line.elapsed_us();
    line.send(&[0x00]).unwrap();
    line.elapsed_us() - t
}

/// A broken character, then a card (or line) that never stops sending: the
/// receive fails after reading at most `MAX_DISCARDED` more characters (before,
/// it read until the line went quiet, which it never does).
#[test]
fn chatty_card_after_a_broken_character_cannot_hold_a_receive() {
    use readerkit_hal::interface::MAX_DISCARDED;
    let (dev, chip, _) = session(Card::new(Profile::t1()), 2);
    let sent = 4 * MAX_DISCARDED;
    {
        let mut c = chip.borrow_mut();
        c.rx.push_back(Err(ErrorKind::Parity));
        c.rx.extend((0..sent).map(|i| Ok(i as u8)));
    }
    let mut buf = [0u8; 16];
    let result = dev.with_driver(|r| r.line_mut().receive(&mut buf, 1_000, 1_000));
    assert_eq!(result, Err(readerkit::Failure::DeviceProtocolError));
    assert_eq!(chip.borrow().rx.len(), sent - MAX_DISCARDED);
}
