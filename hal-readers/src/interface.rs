//! The generic driver for GPIO + UART interface chips (TDA8035, TDA8024, ST8024,
//! ST8024L, NCN8025): [`Interface`], a [`readerkit::line::Line`].
//!
//! ```text
//! Device ─► LineReader<Interface<C, P, U, D>> ─► Interface ─► CMDVCC / RSTIN / VSEL / CLKDIV pins
//!                                                          ├─► UART on the card's I/O line (U)
//!                                                          └─◄ OFF / INT status pin (poll)
//! ```
//!
//! ## Activation ([`Line::reset`], cold)
//!
//! 1. The status output must read *present* (CMDVCC high, OFF high); else
//!    [`Failure::NoMedia`].
//! 2. RSTIN low, CMDVCC high, class pins, CLKDIV pins; UART at card clock / 372
//!    bit/s, even parity, receive buffer emptied.
//! 3. CMDVCC low; wait [`ChipSpec::activation_us`](crate::chip::ChipSpec::activation_us)
//!    (the chip powers VCC, enables I/O and starts CLK); the status output must
//!    still read high (else the fault is triaged, see below).
//! 4. Hold RST low for [`Config::reset_hold_cycles`] card clock cycles (ISO/IEC
//!    7816-3 asks at least 400, EMV 40 000 to 45 000; default 40 000), empty the
//!    receive buffer again (the card's I/O may settle to high only up to 200 clock
//!    cycles after CLK starts, 6.2.2: a broken character, and no answer begins
//!    before RST rises), then RSTIN high.
//! 5. The ATR: TS within 40 000 clock cycles (+ 12 etu to receive it), every further
//!    character within 9 600 etu of the previous one, the whole ATR within 20 160
//!    etu. The length is followed from T0 and the TDi bytes, so the capture ends with
//!    the last character, not with a time-out. A TS received with a parity error
//!    (or as `03`) is an inverse-convention card: the UART switches to odd parity and
//!    characters are decoded (bit order reversed, complemented) from then on; the
//!    ATR is handed over as received, TS = `03`, as [`Line::reset`] allows.
//! 6. Class fallback: classes are tried lowest voltage first (C, B, A, limited to
//!    [`Config::classes`] and the chip). No ATR, a character error in it, or a class
//!    indicator (TA after T = 15) naming only higher classes: deactivate, wait
//!    [`Config::class_pause_us`] (ISO: at least 10 ms), try the next class.
//!
//! Warm reset keeps VCC and CLK: RSTIN low for the same hold time, the receive
//! buffer emptied, RSTIN high, and the ATR as above. Deactivation: RSTIN low, CMDVCC high, wait
//! [`ChipSpec::deactivation_us`](crate::chip::ChipSpec::deactivation_us).
//!
//! ## Bytes
//!
//! The UART runs 8 data bits, even parity (odd for inverse convention), 2 stop
//! bits: the 12-etu character frame of ISO/IEC 7816-3 with no extra guard time.
//! Until a protocol is set up (ATR, PPS) the driver adds
//! [`Config::extra_guard_etu`] after each character sent and waits
//! [`Config::turnaround_etu`] (default 22) before the first character sent after
//! receiving; before a PPS request the core hands over TC1's N with no protocol
//! ([`Line::set_framing`], [`Framing::protocol`] `None`), which the request then
//! gets, the turnaround staying the `Config`'s. Once the core hands over the
//! protocol (after every SET_PROTOCOL), TC1's N and the protocol's rules apply: N etu
//! after each character (N = 255, the minimum guard time, adds nothing; the 2 stop
//! bits then cost one etu per character in T=1, where 11 etu would do), and a
//! turnaround of 16 etu for T=0 and of the block guard time, 22 etu, for T=1. A
//! reset or deactivation returns to the [`Config`] values.
//!
//! With [`Config::echo`] (the default: the chip's I/O line joins the MCU's TX and RX)
//! every character sent comes back on RX and is checked. A framing or parity error
//! on the echo is the card's T=0 error signal (it pulled I/O low at 10.5 etu): the
//! character is repeated after 2 etu, at most [`Config::max_repetitions`] times,
//! then the send fails with [`Failure::DeviceProtocolError`]. Under T=1 there is no
//! error signal and no repetition (ISO/IEC 7816-3:2006 11.2): such an echo is
//! noise the card may have seen too, and the block's EDC tells it. A plain UART cannot
//! send the error signal itself, so a character received with a parity error fails
//! the receive with [`Failure::DeviceProtocolError`] once the line has been quiet
//! (T=1 recovers with an R-block; a T=0 exchange fails). A UART with a smartcard
//! mode that signals and repeats by itself simply never reports the error.
//!
//! ## Time
//!
//! Time limits are measured by polling: the UART is read, and while it has nothing
//! the driver waits one etu with [`DelayNs`] and counts it. Only the delays are
//! counted, so a time-out is never shorter than asked. Between polls the status
//! output is read: a card pulled out (or a fault) during a session ends the
//! operation at once with [`Failure::NoMedia`] (or [`Failure::Unsuccessful`]), never a
//! hang.
//!
//! ## Presence and faults
//!
//! [`Interface::poll`] (call it from the main loop or a status-pin interrupt
//! handler's bottom half) returns a [`CardEvent`]: outside a session the status
//! level must hold for [`ChipSpec::debounce_us`](crate::chip::ChipSpec::debounce_us)
//! before insertion or removal counts; inside a session a low status output means
//! the chip has already deactivated the card: the driver raises CMDVCC, waits for
//! the deactivation, and reads the status again: high = the card is still there
//! (over-current, supply drop, overheating: [`CardEvent::Fault`]), low = the card
//! was pulled out ([`CardEvent::Removed`]). A fault found inside [`Line`] calls is
//! kept and returned by the next `poll`.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal_nb::serial::{self, ErrorKind};
use readerkit::atr::{self, Atr};
use readerkit::caps::ReaderCapabilities;
use readerkit::device::AtrBuffer;
use readerkit::line::{Framing, Line, Reset};
use readerkit::protocol::Protocol;
use readerkit::status::Failure;
use readerkit::timing::Timing;

use crate::chip::{Chip, Class, Classes, ClockDivider};
use crate::{CardEvent, Parity, UartConfig};

/// Latest start of TS after RST rises, in card clock cycles (ISO/IEC 7816-3 8.2).
pub const ATR_FIRST_CYCLES: u32 = 40_000;
/// Largest delay between two ATR characters, in etu: the initial waiting time,
/// WT = WI × 960 × Fi / f at the default WI (ISO/IEC 7816-3:2006 8.2, 10.2), that
/// is 9 600 etu while F = Fi and D = 1.
pub const ATR_WAITING_ETU: u32 = atr::Parameters::DEFAULT.wi as u32 * 960;
/// Largest duration of the whole ATR, in etu (EMV terminal limit, 20 160 etu).
pub const ATR_TOTAL_ETU: u32 = 20_160;
/// Shortest RST low time, in card clock cycles (ISO/IEC 7816-3 6.2.2).
pub const RESET_HOLD_MIN_CYCLES: u32 = 400;
/// T=0 turnaround: at least 16 etu between the leading edges of two characters
/// sent in opposite directions (ISO/IEC 7816-3 7.2).
pub const T0_TURNAROUND_ETU: u16 = 16;
/// T=1 turnaround: the block guard time BGT, 22 etu (ISO/IEC 7816-3 11.4.3).
pub const T1_TURNAROUND_ETU: u16 = readerkit::timing::T1_BGT_ETU;

/// Most characters the driver reads and throws away in one go (the receive buffer
/// emptied before activation, the rest of an answer after a broken character),
/// more than any T=0 or T=1 answer: a card or line that never stops sending cannot
/// hold a call.
pub const MAX_DISCARDED: usize = 1024;

/// A pin that is not connected (tied on the board): writes do nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NoPin;

impl embedded_hal::digital::ErrorType for NoPin {
    type Error = core::convert::Infallible;
}

impl OutputPin for NoPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A pin operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinError;

/// The control pins between the MCU and the chip, as the driver uses them. The
/// [`Pins`] struct implements it over embedded-hal pins.
pub trait Control {
    /// Drive CMDVCC (active low: `false` starts activation).
    fn set_cmdvcc(&mut self, high: bool) -> Result<(), PinError>;
    /// Drive RSTIN (copied to the card's RST once activation is complete).
    fn set_rstin(&mut self, high: bool) -> Result<(), PinError>;
    /// Read the status output (OFF / INT): `true` = high (card present, no fault).
    fn status_is_high(&mut self) -> Result<bool, PinError>;
    /// Drive the two voltage-select pins.
    fn set_vsel(&mut self, vsel0: bool, vsel1: bool) -> Result<(), PinError>;
    /// Drive CLKDIV1 and CLKDIV2.
    fn set_clkdiv(&mut self, clkdiv1: bool, clkdiv2: bool) -> Result<(), PinError>;
}

/// The chip's control pins. Pins the board ties to a level are [`NoPin`].
#[derive(Debug)]
pub struct Pins<Cmd, Rst, Off, Vsel0 = NoPin, Vsel1 = NoPin, Div1 = NoPin, Div2 = NoPin> {
    /// CMDVCC / CMDVCCN output (active low).
    pub cmdvcc: Cmd,
    /// RSTIN output.
    pub rstin: Rst,
    /// OFF / INT status input (open drain, active low; needs a pull-up).
    pub status: Off,
    /// First voltage-select output (5V/3V on TDA8024/ST8024).
    pub vsel0: Vsel0,
    /// Second voltage-select output (1.8V on ST8024L).
    pub vsel1: Vsel1,
    /// CLKDIV1 output.
    pub clkdiv1: Div1,
    /// CLKDIV2 output.
    pub clkdiv2: Div2,
}

fn set<P: OutputPin>(pin: &mut P, high: bool) -> Result<(), PinError> {
    if high { pin.set_high() } else { pin.set_low() }.map_err(|_| PinError)
}

impl<Cmd, Rst, Off, Vsel0, Vsel1, Div1, Div2> Control
    for Pins<Cmd, Rst, Off, Vsel0, Vsel1, Div1, Div2>
where
    Cmd: OutputPin,
    Rst: OutputPin,
    Off: InputPin,
    Vsel0: OutputPin,
    Vsel1: OutputPin,
    Div1: OutputPin,
    Div2: OutputPin,
{
    fn set_cmdvcc(&mut self, high: bool) -> Result<(), PinError> {
        set(&mut self.cmdvcc, high)
    }
    fn set_rstin(&mut self, high: bool) -> Result<(), PinError> {
        set(&mut self.rstin, high)
    }
    fn status_is_high(&mut self) -> Result<bool, PinError> {
        self.status.is_high().map_err(|_| PinError)
    }
    fn set_vsel(&mut self, vsel0: bool, vsel1: bool) -> Result<(), PinError> {
        set(&mut self.vsel0, vsel0)?;
        set(&mut self.vsel1, vsel1)
    }
    fn set_clkdiv(&mut self, clkdiv1: bool, clkdiv2: bool) -> Result<(), PinError> {
        set(&mut self.clkdiv1, clkdiv1)?;
        set(&mut self.clkdiv2, clkdiv2)
    }
}

impl From<PinError> for Failure {
    fn from(_: PinError) -> Failure {
        Failure::Unsuccessful
    }
}

/// Board settings of an [`Interface`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Frequency on the chip's XTAL1 / CLKIN, in kHz.
    pub xtal_khz: u32,
    /// CLKDIV setting: card clock = `xtal_khz` / ratio.
    pub divider: ClockDivider,
    /// Classes the board may use (intersected with the chip's).
    pub classes: Classes,
    /// RST low time at activation and warm reset, in card clock cycles (at least
    /// [`RESET_HOLD_MIN_CYCLES`]).
    pub reset_hold_cycles: u32,
    /// Pause between deactivation and the next activation (class fallback, cold
    /// reset of an active card), in µs.
    pub class_pause_us: u32,
    /// The UART receives every character it sends (shared I/O line).
    pub echo: bool,
    /// Repetitions of one character the card refused (T=0 error signal) before the
    /// send fails.
    pub max_repetitions: u8,
    /// Extra guard time after each character sent, in etu (255 = none), until
    /// [`Line::set_framing`] hands over TC1's N (before the PPS request, or with
    /// the protocol).
    pub extra_guard_etu: u8,
    /// Wait before sending after having received, in etu, until
    /// [`Line::set_framing`] hands over a protocol's (a framing with no protocol,
    /// for the PPS request, keeps this one).
    pub turnaround_etu: u16,
}

impl Config {
    /// Defaults for a chip clocked at `xtal_khz` with no divider: every class the
    /// chip has, 40 000 cycles of RST low, 10 ms between activations, echo on, 3
    /// repetitions, no extra guard time, 22 etu turnaround (T=1's,
    /// [`T1_TURNAROUND_ETU`], the longer of the two protocols').
    pub const fn new(xtal_khz: u32) -> Config {
        Config {
            xtal_khz,
            divider: ClockDivider::Div1,
            classes: Classes::ABC,
            reset_hold_cycles: 40_000,
            class_pause_us: 10_000,
            echo: true,
            max_repetitions: 3,
            extra_guard_etu: 0,
            turnaround_etu: T1_TURNAROUND_ETU,
        }
    }

    /// The card clock, in kHz (at least 1).
    pub const fn card_clock_khz(&self) -> u32 {
        let khz = self.xtal_khz / self.divider.ratio();
        if khz == 0 { 1 } else { khz }
    }
}

/// What one poll of the UART found.
enum Polled {
    Byte(u8),
    Error(ErrorKind),
    Timeout,
}

/// A card interface chip `C` driven through control pins `P`, a UART `U` and a
/// delay `D`; see the module documentation. `LineReader<Interface<..>>` is the
/// reader.
#[derive(Debug)]
pub struct Interface<C, P, U, D> {
    pins: P,
    uart: U,
    delay: D,
    config: Config,
    /// CMDVCC is low (a session is running).
    active: bool,
    /// Debounced presence outside a session.
    present: bool,
    /// A fault or removal found inside a Line call, for the next poll.
    pending: Option<CardEvent>,
    inverse: bool,
    timing: Timing,
    class: Option<Class>,
    /// The last thing on the line was a character from the card.
    received: bool,
    /// Time counted from the delays, in µs.
    now_us: u64,
    /// Extra guard time in force, in etu (255 = none).
    guard_etu: u8,
    /// Turnaround in force, in etu.
    turnaround_etu: u16,
    /// The protocol [`Line::set_framing`] put in force; `None` before (ATR, PPS).
    protocol: Option<Protocol>,
    _chip: core::marker::PhantomData<C>,
}

impl<C, P, U, D> Interface<C, P, U, D>
where
    C: Chip,
    P: Control,
    U: serial::Read<u8> + serial::Write<u8> + UartConfig,
    D: DelayNs,
{
    /// A driver for chip `C`; the pins are put in their idle state (CMDVCC high,
    /// RSTIN low) at once.
    pub fn new(mut pins: P, uart: U, delay: D, config: Config) -> Result<Self, Failure> {
        pins.set_rstin(false)?;
        pins.set_cmdvcc(true)?;
        Ok(Interface {
            pins,
            uart,
            delay,
            config,
            active: false,
            present: false,
            pending: None,
            inverse: false,
            timing: Timing::default_at(config.card_clock_khz()),
            class: None,
            received: false,
            now_us: 0,
            guard_etu: config.extra_guard_etu,
            turnaround_etu: config.turnaround_etu,
            protocol: None,
            _chip: core::marker::PhantomData,
        })
    }

    /// The board settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reader capabilities matching this board: [`ReaderCapabilities::typical`] with
    /// the card clock (default and maximum) and the default data rate in force
    /// ([`ReaderCapabilities::with_fixed_clock`]).
    pub fn capabilities(&self) -> ReaderCapabilities {
        ReaderCapabilities::typical().with_fixed_clock(self.config.card_clock_khz())
    }

    /// Whether a session is running (CMDVCC low).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The class of the running session.
    pub fn class(&self) -> Option<Class> {
        self.class.filter(|_| self.active)
    }

    /// F, D and card clock in force.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Whether the card uses the inverse convention (known from TS).
    pub fn is_inverse(&self) -> bool {
        self.inverse
    }

    /// The extra guard time (etu after each character sent; 255 = none) and the
    /// turnaround (etu before sending after receiving) in force.
    pub fn framing(&self) -> (u8, u16) {
        (self.guard_etu, self.turnaround_etu)
    }

    /// Back to the board's framing (before any protocol is set up).
    fn default_framing(&mut self) {
        self.guard_etu = self.config.extra_guard_etu;
        self.turnaround_etu = self.config.turnaround_etu;
        self.protocol = None;
    }

    /// Time the driver has spent in delays since it was made, in µs.
    pub fn elapsed_us(&self) -> u64 {
        self.now_us
    }

    /// The pins, UART and delay back.
    pub fn release(self) -> (P, U, D) {
        (self.pins, self.uart, self.delay)
    }

    /// Look at the card slot: returns an insertion, a removal or a fault, if one
    /// happened since the last call (see the module documentation). Outside a
    /// session a level change is confirmed over the debounce time (this call then
    /// takes that long, sampling every ms).
    pub fn poll(&mut self) -> Result<Option<CardEvent>, Failure> {
        if let Some(event) = self.pending.take() {
            return Ok(Some(event));
        }
        if self.active {
            if self.pins.status_is_high()? {
                return Ok(None);
            }
            return self.triage().map(Some);
        }
        let level = self.pins.status_is_high()?;
        if level == self.present {
            return Ok(None);
        }
        let mut waited = 0;
        while waited < C::SPEC.debounce_us {
            let step = (C::SPEC.debounce_us - waited).min(1_000);
            self.wait_us(step);
            waited += step;
            if self.pins.status_is_high()? != level {
                return Ok(None);
            }
        }
        self.present = level;
        Ok(Some(if level {
            CardEvent::Inserted
        } else {
            CardEvent::Removed
        }))
    }

    /// The chip dropped the status output during a session: it has deactivated the
    /// card. Raise CMDVCC, wait for the deactivation, and tell removal from fault.
    fn triage(&mut self) -> Result<CardEvent, Failure> {
        self.pins.set_cmdvcc(true)?;
        self.pins.set_rstin(false)?;
        self.active = false;
        self.wait_us(C::SPEC.deactivation_us);
        self.present = self.pins.status_is_high()?;
        Ok(if self.present {
            CardEvent::Fault
        } else {
            CardEvent::Removed
        })
    }

    /// A session must be running and the status output high.
    fn check_session(&mut self) -> Result<(), Failure> {
        if !self.active {
            return Err(if self.present || self.pins.status_is_high()? {
                Failure::InvalidDeviceState
            } else {
                Failure::NoMedia
            });
        }
        if self.pins.status_is_high()? {
            return Ok(());
        }
        let event = self.triage()?;
        self.pending = Some(event);
        Err(match event {
            CardEvent::Removed => Failure::NoMedia,
            _ => Failure::Unsuccessful,
        })
    }

    fn wait_us(&mut self, us: u32) {
        if us > 0 {
            self.delay.delay_us(us);
            self.now_us += u64::from(us);
        }
    }

    fn etu_us(&self, n: u32) -> u32 {
        self.timing.etu_to_us(n).max(n.min(1))
    }

    fn configure_uart(&mut self) -> Result<(), Failure> {
        let baud = self.timing.baud();
        let parity = if self.inverse {
            Parity::Odd
        } else {
            Parity::Even
        };
        self.uart
            .configure(baud, parity)
            .map_err(|_| Failure::Unsuccessful)
    }

    fn flush_rx(&mut self) {
        for _ in 0..MAX_DISCARDED {
            if let Err(nb::Error::WouldBlock) = self.uart.read() {
                break;
            }
        }
    }

    /// Wait up to `limit_us` for one character.
    fn poll_byte(&mut self, limit_us: u32) -> Result<Polled, Failure> {
        let deadline = self.now_us + u64::from(limit_us);
        let step = self.etu_us(1);
        loop {
            match self.uart.read() {
                Ok(b) => return Ok(Polled::Byte(b)),
                Err(nb::Error::Other(e)) => {
                    return Ok(Polled::Error(serial::Error::kind(&e)));
                }
                Err(nb::Error::WouldBlock) => {}
            }
            if self.now_us >= deadline {
                return Ok(Polled::Timeout);
            }
            if self.active && !self.pins.status_is_high()? {
                self.check_session()?;
            }
            self.wait_us(step);
        }
    }

    fn decode(&self, raw: u8) -> u8 {
        if self.inverse {
            readerkit::atr::invert_convention(raw)
        } else {
            raw
        }
    }

    fn power_off(&mut self) -> Result<(), Failure> {
        let was_active = self.active;
        self.pins.set_rstin(false)?;
        self.pins.set_cmdvcc(true)?;
        self.active = false;
        self.received = false;
        if was_active {
            self.wait_us(C::SPEC.deactivation_us);
        }
        self.inverse = false;
        self.timing = Timing::default_at(self.config.card_clock_khz());
        self.default_framing();
        Ok(())
    }

    fn activate(&mut self, class: Class) -> Result<(), Failure> {
        let (vsel0, vsel1) = C::SPEC.class_pins(class).ok_or(Failure::NotSupported)?;
        self.pins.set_rstin(false)?;
        self.pins.set_cmdvcc(true)?;
        self.pins.set_vsel(vsel0, vsel1)?;
        let (div1, div2) = self.config.divider.pins();
        self.pins.set_clkdiv(div1, div2)?;
        self.inverse = false;
        self.timing = Timing::default_at(self.config.card_clock_khz());
        self.default_framing();
        self.configure_uart()?;
        self.flush_rx();
        self.pins.set_cmdvcc(false)?;
        self.active = true;
        self.class = Some(class);
        self.wait_us(C::SPEC.activation_us);
        self.check_session()?;
        self.hold_reset()
    }

    /// RST low for the hold time (RSTIN already low), then high. What the UART
    /// took in meanwhile is thrown away: the answer begins after RST rises, and
    /// the card's I/O may settle to high only up to 200 clock cycles after CLK
    /// starts (ISO/IEC 7816-3 6.2.2), a broken character for the UART.
    fn hold_reset(&mut self) -> Result<(), Failure> {
        let hold = self.config.reset_hold_cycles.max(RESET_HOLD_MIN_CYCLES);
        self.wait_us(self.timing.cycles_to_us(hold));
        self.flush_rx();
        self.pins.set_rstin(true)?;
        Ok(())
    }

    /// Receive the ATR after RST rose; returns the class indicator, if any.
    fn capture_atr(&mut self, atr: &mut AtrBuffer) -> Result<Option<u8>, Failure> {
        atr.clear();
        self.received = true;
        let first = self.timing.cycles_to_us(ATR_FIRST_CYCLES) + self.etu_us(12);
        let ts = match self.poll_byte(first)? {
            Polled::Timeout => return Err(Failure::IoTimeout),
            Polled::Byte(b) => b,
            // Inverse-convention TS seen by an even-parity UART.
            Polled::Error(ErrorKind::Parity) => readerkit::atr::TS_INVERSE_RAW,
            Polled::Error(_) => return Err(Failure::DeviceProtocolError),
        };
        if ts == readerkit::atr::TS_INVERSE_RAW {
            self.inverse = true;
            self.configure_uart()?;
        }
        let start = self.now_us;
        let total = u64::from(self.etu_us(ATR_TOTAL_ETU));
        let next = self.etu_us(ATR_WAITING_ETU);
        let mut decoded = [0u8; 33];
        decoded[0] = self.decode(ts);
        let _ = atr.push(ts);
        loop {
            let n = atr.len();
            let shape = AtrShape::of(&decoded[..n]);
            if shape.complete || n == decoded.len() {
                return Ok(shape.class_indicator);
            }
            if self.now_us - start > total {
                return Err(Failure::DeviceProtocolError);
            }
            match self.poll_byte(next)? {
                Polled::Byte(b) => {
                    decoded[n] = self.decode(b);
                    let _ = atr.push(b);
                }
                Polled::Error(_) => return Err(Failure::DeviceProtocolError),
                // A card announcing more characters than it sends: hand over what
                // came; the core judges it.
                Polled::Timeout => return Ok(None),
            }
        }
    }
}

/// How far an ATR prefix (decoded) goes, as the core reads it.
struct AtrShape {
    complete: bool,
    class_indicator: Option<u8>,
}

impl AtrShape {
    /// Complete once [`Atr::parse`] finds no announced character missing (its
    /// `Truncated`), with the class indicator of its parameters; a TS that is no TS
    /// ends it too (nothing it announces counts: the core refuses the ATR).
    /// Out of line: the parsed ATR and its parameters take stack only while it
    /// runs, not in [`Interface::capture_atr`]'s frame while that waits for the
    /// card's next byte (the example firmware's stack, size-check.sh).
    #[inline(never)]
    fn of(prefix: &[u8]) -> AtrShape {
        match Atr::parse(prefix) {
            Err(atr::Error::Truncated { .. }) => AtrShape {
                complete: false,
                class_indicator: None,
            },
            parsed => AtrShape {
                complete: true,
                class_indicator: parsed.ok().and_then(|atr| atr.parameters().classes),
            },
        }
    }
}

impl<C, P, U, D> Line for Interface<C, P, U, D>
where
    C: Chip,
    P: Control,
    U: serial::Read<u8> + serial::Write<u8> + UartConfig,
    D: DelayNs,
{
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure> {
        if reset == Reset::Warm {
            self.check_session()?;
            self.pins.set_rstin(false)?;
            self.inverse = false;
            self.timing = Timing::default_at(self.config.card_clock_khz());
            self.default_framing();
            self.configure_uart()?;
            self.flush_rx();
            self.hold_reset()?;
            return self.capture_atr(atr).map(|_| ());
        }
        if self.active {
            self.power_off()?;
            self.wait_us(self.config.class_pause_us);
        }
        if !self.pins.status_is_high()? {
            if self.present {
                self.present = false;
                self.pending = Some(CardEvent::Removed);
            }
            return Err(Failure::NoMedia);
        }
        let classes = self.config.classes.and(C::SPEC.classes());
        let mut order = [None; 3];
        for (slot, class) in order.iter_mut().zip(classes.in_activation_order()) {
            *slot = Some(class);
        }
        let mut result = Err(Failure::NotSupported);
        for (i, class) in order.iter().enumerate() {
            let Some(class) = *class else { break };
            if i > 0 {
                self.power_off()?;
                self.wait_us(self.config.class_pause_us);
            }
            self.activate(class)?;
            match self.capture_atr(atr) {
                Ok(Some(ui)) if ui & class.bit() == 0 => {
                    // The card names its classes: go on if a later one fits.
                    let later = order[i + 1..].iter().flatten().any(|c| ui & c.bit() != 0);
                    result = Ok(());
                    if !later {
                        return result;
                    }
                }
                Ok(_) => return Ok(()),
                Err(e @ (Failure::IoTimeout | Failure::DeviceProtocolError)) => result = Err(e),
                Err(e) => {
                    if self.active {
                        let _ = self.power_off();
                    }
                    return Err(e);
                }
            }
        }
        if result.is_err() {
            self.power_off()?;
        }
        result
    }

    fn deactivate(&mut self) -> Result<(), Failure> {
        self.power_off()?;
        self.configure_uart()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.check_session()?;
        if self.received {
            let turnaround = self.etu_us(u32::from(self.turnaround_etu));
            self.wait_us(turnaround);
            self.received = false;
        }
        let guard = match self.guard_etu {
            255 => 0,
            n => self.etu_us(u32::from(n)),
        };
        let echo_limit = self.etu_us(24);
        for &b in bytes {
            let raw = if self.inverse {
                readerkit::atr::invert_convention(b)
            } else {
                b
            };
            let mut repetitions = 0;
            loop {
                nb::block!(self.uart.write(raw)).map_err(|_| Failure::Unsuccessful)?;
                nb::block!(self.uart.flush()).map_err(|_| Failure::Unsuccessful)?;
                if !self.config.echo {
                    break;
                }
                match self.poll_byte(echo_limit)? {
                    Polled::Byte(e) if e == raw => break,
                    // Someone else drove the line: a collision, not our character.
                    Polled::Byte(_) => return Err(Failure::DeviceProtocolError),
                    // T=1 has no error signal and no repetition (ISO/IEC 7816-3:2006
                    // 11.2): the card takes the character once, right or not, and
                    // the block's EDC tells it.
                    Polled::Error(ErrorKind::FrameFormat | ErrorKind::Parity)
                        if self.protocol == Some(Protocol::T1) =>
                    {
                        break;
                    }
                    Polled::Error(ErrorKind::FrameFormat | ErrorKind::Parity) => {
                        repetitions += 1;
                        if repetitions > self.config.max_repetitions {
                            return Err(Failure::DeviceProtocolError);
                        }
                        let pause = self.etu_us(2);
                        self.wait_us(pause);
                    }
                    Polled::Error(_) => return Err(Failure::DeviceProtocolError),
                    Polled::Timeout => {
                        self.check_session()?;
                        return Err(Failure::Unsuccessful);
                    }
                }
            }
            self.wait_us(guard);
        }
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure> {
        self.check_session()?;
        let mut n = 0;
        let mut limit = first_us;
        while n < buf.len() {
            match self.poll_byte(limit)? {
                Polled::Byte(b) => {
                    buf[n] = self.decode(b);
                    n += 1;
                    self.received = true;
                    limit = next_us;
                }
                Polled::Error(_) => {
                    // No error signal from a plain UART: let the card finish (up
                    // to MAX_DISCARDED characters), then report the broken one.
                    self.received = true;
                    for _ in 0..MAX_DISCARDED {
                        if let Polled::Timeout = self.poll_byte(next_us)? {
                            break;
                        }
                    }
                    return Err(Failure::DeviceProtocolError);
                }
                Polled::Timeout => break,
            }
        }
        Ok(n)
    }

    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure> {
        self.check_session()?;
        self.timing = Timing {
            f: timing.f,
            d: timing.d,
            clock_khz: self.config.card_clock_khz(),
        };
        self.configure_uart()
    }

    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        self.check_session()?;
        self.guard_etu = framing.extra_guard_n;
        self.protocol = framing.protocol;
        self.turnaround_etu = match framing.protocol {
            Some(Protocol::T0) => T0_TURNAROUND_ETU,
            // T=1: the block guard time; raw mode and the PPS exchange (no
            // protocol yet) keep the board's value.
            Some(Protocol::T1) => T1_TURNAROUND_ETU,
            Some(Protocol::Raw) | None => self.config.turnaround_etu,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::AtrShape;

    #[test]
    fn atr_shape_follows_t0_and_td() {
        // T=1 card: 3B 95 96 80 B1 FE 55 1F C7 80 31 E0 73 FE 21 1B 65 ...
        let t0_only = [0x3B, 0x02, 0x14, 0x50];
        assert!(!AtrShape::of(&t0_only[..3]).complete);
        assert!(AtrShape::of(&t0_only).complete);
        // TD1 = 81 (T=1): TCK follows one historical byte... here none: 3B 80 01 TCK.
        let t1 = [0x3B, 0x80, 0x01, 0x81];
        assert!(!AtrShape::of(&t1[..3]).complete);
        assert!(AtrShape::of(&t1).complete);
        // Class indicator, the first TA for T=15: 3B 80 80 1F 07 TCK (TD1 = 80:
        // TD2 follows; TD2 = 1F: T=15, TA3 = 07).
        let classes = [0x3B, 0x80, 0x80, 0x1F, 0x07, 0x18];
        assert!(!AtrShape::of(&classes[..5]).complete, "TCK missing");
        let shape = AtrShape::of(&classes);
        assert!(shape.complete);
        assert_eq!(shape.class_indicator, Some(0x07));
        // T=15 in TD1 (which ISO forbids): TA2 is the specific mode byte, no classes.
        let td1_t15 = [0x3B, 0x80, 0x1F, 0x07, 0x98];
        let shape = AtrShape::of(&td1_t15);
        assert!(shape.complete);
        assert_eq!(shape.class_indicator, None);
        // A TS that is no TS: nothing to wait for, the core refuses it.
        assert!(AtrShape::of(&[0x12]).complete);
    }
}
