//! Pin-level tests with embedded-hal-mock: the activation and deactivation
//! sequence of the TDA8035 driver (each pin's order and the delays), presence
//! debounce, fault triage; and the TDA8029 ALPAR reader against a scripted UART.
//!
//! embedded-hal-mock records order per mock, not across mocks: each pin's sequence
//! and the delay sequence are checked separately, which together fix the order
//! (every delay sits between known pin steps).

use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction as D};
use embedded_hal_mock::eh1::digital::State::{High, Low};
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as P};
use embedded_hal_mock::eh1::serial::{Mock as SerialMock, Transaction as S};
use embedded_hal_nb::serial::{self, ErrorKind};
use readerkit::Status;
use readerkit::device::AtrBuffer;
use readerkit::line::{Line, Reset};
use readerkit_hal::chip::{Chip, Tda8035};
use readerkit_hal::interface::{Config, Interface, NoPin, Pins};
use readerkit_hal::{CardEvent, Classes, ConfigError, Parity, UartConfig, alpar};

/// The serial mock plus a record of the configurations asked for.
struct Uart {
    mock: SerialMock<u8>,
    configured: Vec<(u32, Parity)>,
}

impl serial::ErrorType for Uart {
    type Error = ErrorKind;
}
impl serial::Read<u8> for Uart {
    fn read(&mut self) -> nb::Result<u8, ErrorKind> {
        self.mock.read()
    }
}
impl serial::Write<u8> for Uart {
    fn write(&mut self, word: u8) -> nb::Result<(), ErrorKind> {
        self.mock.write(word)
    }
    fn flush(&mut self) -> nb::Result<(), ErrorKind> {
        self.mock.flush()
    }
}
impl UartConfig for Uart {
    fn configure(&mut self, baud_bps: u32, parity: Parity) -> Result<(), ConfigError> {
        self.configured.push((baud_bps, parity));
        Ok(())
    }
}

type Iface = Interface<
    Tda8035,
    Pins<PinMock, PinMock, PinMock, PinMock, PinMock, NoPin, NoPin>,
    Uart,
    CheckedDelay,
>;

struct Rig {
    cmdvcc: PinMock,
    rstin: PinMock,
    status: PinMock,
    vsel0: PinMock,
    vsel1: PinMock,
    serial: SerialMock<u8>,
    delay: CheckedDelay,
}

impl Rig {
    fn new(
        cmdvcc: &[P],
        rstin: &[P],
        status: &[P],
        vsel0: &[P],
        vsel1: &[P],
        serial: &[S<u8>],
        delay: &[D],
    ) -> Rig {
        Rig {
            cmdvcc: PinMock::new(cmdvcc),
            rstin: PinMock::new(rstin),
            status: PinMock::new(status),
            vsel0: PinMock::new(vsel0),
            vsel1: PinMock::new(vsel1),
            serial: SerialMock::new(serial),
            delay: CheckedDelay::new(delay),
        }
    }

    /// A rig outside any session: `Interface::new` sets CMDVCC high and RSTIN low,
    /// then the status output reads `status` in turn and the driver waits `delay`.
    fn idle(status: &[State], delay: &[D]) -> Rig {
        Rig::new(
            &sets(&[High]),
            &sets(&[Low]),
            &gets(status),
            &[],
            &[],
            &[],
            delay,
        )
    }

    fn interface(&self, config: Config) -> Iface {
        let pins = Pins {
            cmdvcc: self.cmdvcc.clone(),
            rstin: self.rstin.clone(),
            status: self.status.clone(),
            vsel0: self.vsel0.clone(),
            vsel1: self.vsel1.clone(),
            clkdiv1: NoPin,
            clkdiv2: NoPin,
        };
        let uart = Uart {
            mock: self.serial.clone(),
            configured: Vec::new(),
        };
        Interface::new(pins, uart, self.delay.clone(), config).unwrap()
    }

    fn done(mut self) {
        self.cmdvcc.done();
        self.rstin.done();
        self.status.done();
        self.vsel0.done();
        self.vsel1.done();
        self.serial.done();
        self.delay.done();
    }
}

/// A pin's script: it is set to each of `levels` in turn.
fn sets(levels: &[State]) -> Vec<P> {
    levels.iter().map(|level| P::set(*level)).collect()
}

/// A pin's script: it reads each of `levels` in turn.
fn gets(levels: &[State]) -> Vec<P> {
    levels.iter().map(|level| P::get(*level)).collect()
}

fn class_a_config() -> Config {
    Config {
        classes: Classes::A,
        ..Config::new(3_580)
    }
}

/// 40 000 clock cycles at 3.58 MHz, rounded up, in µs.
const HOLD_US: u32 = 11_174;

/// A rig for one class A session: a cold reset (ATR 3B 00), then a power-down.
/// `status_in_session` is what the status output reads after the two reads of the
/// activation (present before it, still high after the chip's activation time).
fn class_a_session(status_in_session: &[P]) -> Rig {
    let mut status = gets(&[High, High]);
    status.extend_from_slice(status_in_session);
    Rig::new(
        // new: high; activate: high, then low (start activation); power down: high.
        &sets(&[High, High, Low, High]),
        // new: low; activate: low; after the hold: high; power down: low.
        &sets(&[Low, Low, High, Low]),
        &status,
        &sets(&[High]),
        &sets(&[High]),
        &[
            // receive buffer emptied before activation
            S::read_error(nb::Error::WouldBlock),
            // and again after the hold, before RST rises: a broken character (the
            // card's I/O settling to high after power-up) is thrown away
            S::read_error(nb::Error::Other(ErrorKind::FrameFormat)),
            S::read_error(nb::Error::WouldBlock),
            // the ATR: 3B 00 (no interface, no historical bytes)
            S::read(0x3B),
            S::read(0x00),
        ],
        &[
            D::delay_us(Tda8035::SPEC.activation_us),
            D::delay_us(HOLD_US),
            D::delay_us(Tda8035::SPEC.deactivation_us),
        ],
    )
}

#[test]
fn activation_sequence_order_and_delays_then_deactivation() {
    let rig = class_a_session(&[]);
    let mut iface = rig.interface(class_a_config());
    let mut atr = AtrBuffer::new();
    iface.reset(Reset::Cold, &mut atr).unwrap();
    assert_eq!(atr.as_slice(), [0x3B, 0x00]);
    assert!(iface.is_active());
    iface.deactivate().unwrap();
    assert!(!iface.is_active());
    let (_, uart, _) = iface.release();
    // UART at 3 580 000 / 372 = 9 623 bit/s, even parity; again after deactivation.
    assert_eq!(
        uart.configured,
        [(9_623, Parity::Even), (9_623, Parity::Even)]
    );
    rig.done();
}

#[test]
fn no_card_no_activation() {
    let rig = Rig::idle(&[Low], &[]);
    let mut iface = rig.interface(class_a_config());
    let mut atr = AtrBuffer::new();
    assert_eq!(
        iface.reset(Reset::Cold, &mut atr),
        Err(readerkit::Failure::NoMedia)
    );
    drop(iface);
    rig.done();
}

#[test]
fn presence_is_debounced() {
    let rig = Rig::idle(
        // A bounce: high, then low 1 ms later: no event. Stable high for 5 ms (six
        // reads 1 ms apart): inserted. Unchanged: no event, no wait.
        &[High, Low, High, High, High, High, High, High, High],
        &vec![D::delay_us(1_000); 6],
    );
    let mut iface = rig.interface(class_a_config());
    assert_eq!(iface.poll(), Ok(None));
    assert_eq!(iface.poll(), Ok(Some(CardEvent::Inserted)));
    assert_eq!(iface.poll(), Ok(None));
    drop(iface);
    rig.done();
}

#[test]
fn status_low_in_session_is_triaged_into_fault_or_removal() {
    for (after, event) in [(High, CardEvent::Fault), (Low, CardEvent::Removed)] {
        // Poll in session: the chip pulled the status low; then, after CMDVCC high
        // and the deactivation time, the status tells fault (high) or removal (low).
        let rig = class_a_session(&gets(&[Low, after]));
        let mut iface = rig.interface(class_a_config());
        let mut atr = AtrBuffer::new();
        iface.reset(Reset::Cold, &mut atr).unwrap();
        assert_eq!(iface.poll(), Ok(Some(event)));
        assert!(!iface.is_active());
        drop(iface);
        rig.done();
    }
}

// --- TDA8029 ALPAR ---------------------------------------------------------------

fn frame(ok: bool, command: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + 5];
    let frame = alpar::Frame {
        ok,
        command,
        payload,
    };
    frame.encode(&mut out).unwrap();
    out
}

#[test]
fn alpar_power_up_with_a_card_event_in_between_then_apdu_and_errors() {
    use readerkit::caps::ReaderCapabilities;
    use readerkit::platform::SpinPlatform;
    use readerkit::protocol::Protocol;
    use readerkit::{CardState, Device, Ioctl};
    use readerkit_testkit::client::control;
    use readerkit_testkit::vendor;

    let atr = [0x3B, 0x02, 0x14, 0x50];
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x02];
    let mut script = vec![
        // power_up_5V, option 00: 60 00 01 6E 00 0F
        S::write_many([0x60, 0x00, 0x01, 0x6E, 0x00, 0x0F]),
        S::flush(),
        S::read_error(nb::Error::WouldBlock),
        // an unsolicited insertion frame first, then the answer with the ATR
        S::read_many([0x60, 0x00, 0x01, 0xA0, 0x01, 0xC0]),
    ];
    script.push(S::read_many(frame(true, 0x6E, &atr)));
    script.push(S::write_many(frame(true, 0x00, &apdu)));
    script.push(S::flush());
    script.push(S::read_many(frame(true, 0x00, &[0x12, 0x34, 0x90, 0x00])));
    // the card is gone: E0 00 01 00 C0 LRC
    script.push(S::write_many(frame(true, 0x00, &apdu)));
    script.push(S::flush());
    script.push(S::read_many(frame(false, 0x00, &[0xC0])));
    // a silent chip: time-out, not a hang
    script.push(S::write_many([0x60, 0x00, 0x00, 0x4D, 0x2D]));
    script.push(S::flush());
    // 10 ms in 50 µs polls: 200 waits, 201 empty reads.
    for _ in 0..201 {
        script.push(S::read_error(nb::Error::WouldBlock));
    }
    let mut serial = SerialMock::new(&script);
    let reader = alpar::Reader::new(
        serial.clone(),
        embedded_hal_mock::eh1::delay::NoopDelay::new(),
        readerkit_hal::Class::A,
        10,
        3_580,
    );
    let dev: Device<SpinPlatform, _> = Device::new(
        SpinPlatform::new(),
        alpar::Reader::functions(),
        reader,
        ReaderCapabilities::typical(),
        vendor::named(b"readerkit"),
    );
    dev.card_inserted();
    let control = |ioctl: Ioctl, input: &[u8], len: usize| control(&dev, ioctl, input, len);
    assert_eq!(control(Ioctl::Power, &1u32.to_le_bytes(), 33).unwrap(), atr);
    // The insertion frame that came in between is kept for poll().
    assert_eq!(dev.with_driver(|r| r.poll()), Ok(Some(CardEvent::Inserted)));
    assert_eq!(
        control(Ioctl::SetProtocol, &1u32.to_le_bytes(), 4).unwrap(),
        1u32.to_le_bytes()
    );
    let mut out = [0u8; 64];
    assert_eq!(
        dev.transmit_apdu(Protocol::T0, &apdu, &mut out),
        Ok(&[0x12, 0x34, 0x90, 0x00][..])
    );
    assert_eq!(
        dev.transmit_apdu(Protocol::T0, &apdu, &mut out),
        Err(Status::NoMedia)
    );
    assert_eq!(
        control(Ioctl::Power, &0u32.to_le_bytes(), 0),
        Err(Status::IoTimeout)
    );
    assert_ne!(dev.state(), CardState::Unknown);
    serial.done();
}
