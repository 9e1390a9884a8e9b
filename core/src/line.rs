//! A complete reader driver for a card reached byte by byte: the power, SET_PROTOCOL
//! and TRANSMIT callbacks written once, over the [`Line`] trait.
//!
//! A UART wired to a card interface chip, a CCID reader in character mode, a
//! simulated card: anything that can reset the card, send bytes and receive bytes
//! within a time limit is a [`Line`]. [`LineReader`] then runs the rest with the
//! core's engines: the ATR is handed to the library, PPS goes out as
//! [`pps::Negotiation`] asks, and APDUs travel through [`t0::Exchange`] or
//! [`t1::Engine`]. Its [`LineReader::functions`] table plugs into a
//! [`Device`](crate::Device); a driver with state of its own holds the
//! `LineReader` as a field and takes [`LineReader::functions_for`] (its type
//! implements `AsMut<LineReader<L>>`), adding its own callbacks (vendor IOCTLs, a
//! mechanism) beside them. The T=0 and T=1 options are one [`Config`].
//!
//! ```text
//! Device::control ─► LineReader callbacks ─► t0 / t1 / pps engines ─► Line (bytes, µs)
//! ```

use crate::atr::Parameters;
use crate::caps::CardCapabilities;
use crate::device::{
    AtrBuffer, Deactivation, FieldSizeReport, ProtocolCall, ReaderFunctions, TransmitCall,
};
use crate::ioctl::PowerAction;
use crate::protocol::Protocol;
use crate::status::Failure;
use crate::timing::Timing;
use crate::{pps, t0, t1};

/// Which reset [`Line::reset`] performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reset {
    /// Activate the contacts (after deactivating them if they were active), then reset.
    Cold,
    /// Reset with the contacts kept active.
    Warm,
}

/// The POWER action that asks for this reset (what a C line's `reset` callback is
/// told, as a device's power callback is).
impl From<Reset> for PowerAction {
    fn from(reset: Reset) -> PowerAction {
        match reset {
            Reset::Cold => PowerAction::ColdReset,
            Reset::Warm => PowerAction::WarmReset,
        }
    }
}

/// The card's I/O line and contacts, as a reader sees them.
///
/// Errors are [`Failure`] values: [`Failure::NoMedia`] when the card is gone,
/// [`Failure::DeviceProtocolError`] for a character received with a parity error (or
/// repeated too often), anything else for a reader fault.
pub trait Line {
    /// Reset the card and put the bytes of its answer to reset into `atr`, as
    /// received (an inverse-convention card may be left undecoded, TS = 03; the line
    /// then switches itself to the inverse convention). Afterwards the line runs at
    /// the default parameters (F = 372, D = 1, the reader's default clock).
    fn reset(&mut self, reset: Reset, atr: &mut AtrBuffer) -> Result<(), Failure>;

    /// Deactivate the contacts.
    fn deactivate(&mut self) -> Result<(), Failure>;

    /// Send `bytes` to the card (with the guard time the line is set up for).
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure>;

    /// Receive up to `buf.len()` bytes: the first within `first_us` µs, each further
    /// one within `next_us` µs of the previous. Returns how many arrived; fewer than
    /// asked means the time ran out.
    fn receive(&mut self, buf: &mut [u8], first_us: u32, next_us: u32) -> Result<usize, Failure>;

    /// Switch the line to new transmission parameters (after PPS).
    fn set_timing(&mut self, timing: Timing) -> Result<(), Failure>;

    /// The protocol now in force and the card's extra guard time, for character
    /// framing: N (TC1) extra etu between characters sent to the card (255: the
    /// minimum, 12 etu for T=0 and the PPS exchange, 11 etu for T=1; with T=15 in
    /// the ATR, TC1 converted from Fi/Di clock cycles, see
    /// [`Framing::extra_guard_n`]), and the protocol's turnaround rules
    /// (T=0: 16 etu before sending after receiving; T=1: BGT, 22 etu). Called after
    /// [`Line::set_timing`] whenever a protocol is established, and before a PPS
    /// request with no protocol yet ([`Framing::protocol`] `None`): the guard time
    /// of TC1 applies to every character sent after the ATR, the PPS request
    /// included (ISO/IEC 7816-3:2006 8.3), at the timing then in force (the
    /// default, F = 372, D = 1); the turnaround stays the line's own until a
    /// protocol is established. A reset puts the line back on its own framing. The
    /// default ignores it, for lines whose hardware handles framing itself.
    fn set_framing(&mut self, framing: Framing) -> Result<(), Failure> {
        let _ = framing;
        Ok(())
    }
}

/// Character framing parameters handed to [`Line::set_framing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Framing {
    /// The protocol in force; `None` between the ATR and the protocol's choice
    /// (the PPS exchange): only the guard time applies then, no protocol's
    /// turnaround.
    pub protocol: Option<Protocol>,
    /// Extra guard time N from TC1, in etu of the timing in force (0 if absent;
    /// 255 = minimum guard time: 12 etu per character for T=0 and with no protocol
    /// yet, 11 etu for T=1). When the ATR indicates T=15, TC1's N counts
    /// Fi/Di clock cycles, not etu (ISO/IEC 7816-3:2006 8.3): this is then N
    /// converted, rounded up ([`CardCapabilities::extra_guard_n_at`]).
    pub extra_guard_n: u8,
}

/// The protocol session in force on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// No protocol set up since the last reset.
    Idle,
    /// T=0 exchanges with these settings.
    T0(t0::Config),
    /// T=1 on [`LineReader`]'s engine (sequence numbers, IFSC live there between
    /// APDUs; after each TRANSMIT the sizes in force go to the device,
    /// [`TransmitCall::field_sizes`]).
    T1,
    /// The protocol lost the card and this reader deactivated it (a T=0 exchange
    /// broken after its header went out, T=1 resynchronisation failed, a PPS
    /// failed): nothing goes to the card until the next reset.
    Deactivated,
}

/// The protocol options of a [`LineReader`]: what the card's ATR does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// Extended APDUs whose data field does not fit a short T=0 TPDU: refused
    /// (the default) or carried in ENVELOPE commands ([`Config::with_t0_envelope`]).
    pub t0_extended: t0::Extended,
    /// The class byte of the GET RESPONSE and ENVELOPE commands T=0 generates.
    pub t0_get_response_class: t0::GetResponseClass,
    /// T=1: consecutive error-recovery transmissions before a resynchronisation
    /// ([`t1::DEFAULT_MAX_RETRIES`]).
    pub t1_max_retries: u8,
    /// T=1: resynchronisations per APDU before the exchange fails
    /// ([`t1::DEFAULT_MAX_RESYNCHS`]).
    pub t1_max_resynchs: u8,
}

impl Config {
    /// The defaults: extended APDUs over T=0 refused, interindustry GET RESPONSE
    /// class, the T=1 engine's default retry limits.
    pub const DEFAULT: Config = Config {
        t0_extended: t0::Extended::NotSupported,
        t0_get_response_class: t0::GetResponseClass::Interindustry,
        t1_max_retries: t1::DEFAULT_MAX_RETRIES,
        t1_max_resynchs: t1::DEFAULT_MAX_RESYNCHS,
    };

    /// Carry extended APDUs over T=0 in ENVELOPE commands (for cards that take
    /// ENVELOPE).
    pub const fn with_t0_envelope(mut self) -> Config {
        self.t0_extended = t0::Extended::Envelope;
        self
    }
}

impl Default for Config {
    /// [`Config::DEFAULT`].
    fn default() -> Config {
        Config::DEFAULT
    }
}

/// A reader driver over a [`Line`]; see the module documentation.
#[derive(Debug)]
pub struct LineReader<L> {
    line: L,
    session: Session,
    /// The T=1 engine, kept across sessions and reconfigured in place when T=1 is
    /// established: a new engine (with its 259-byte block buffer) is never built on
    /// the stack.
    t1: t1::Engine,
    /// The card's T=1 block as it is read from the line. Kept here rather than on
    /// the stack of every TRANSMIT: the driver's stack stays small (a firmware
    /// budgets its stack for the deepest call, static RAM is counted once).
    block: [u8; BLOCK_BUF_LEN],
    config: Config,
}

/// Longest T=1 block a card can announce: the prologue, the largest LEN (255,
/// one more than a valid block's, so such a block is read whole and refused by
/// the engine, the line kept in step) and a CRC.
const BLOCK_BUF_LEN: usize = t1::block_len(u8::MAX, t1::Edc::Crc);

impl<L> AsMut<LineReader<L>> for LineReader<L> {
    fn as_mut(&mut self) -> &mut LineReader<L> {
        self
    }
}

impl<L: Line> LineReader<L> {
    /// A driver over `line` with [`Config::DEFAULT`].
    pub fn new(line: L) -> LineReader<L> {
        LineReader::with_config(line, Config::DEFAULT)
    }

    /// A driver over `line` with these protocol options.
    pub fn with_config(line: L, config: Config) -> LineReader<L> {
        LineReader {
            line,
            session: Session::Idle,
            t1: t1::Engine::default(),
            block: [0; BLOCK_BUF_LEN],
            config,
        }
    }

    /// Carry extended APDUs over T=0 in ENVELOPE commands
    /// ([`Config::with_t0_envelope`]).
    pub fn with_t0_envelope(mut self) -> LineReader<L> {
        self.config = self.config.with_t0_envelope();
        self
    }

    /// The protocol options; they apply from the next protocol established
    /// (SET_PROTOCOL, or the first TRANSMIT of a card in specific mode).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The protocol options, to change (applied from the next protocol
    /// established).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The line.
    pub fn line(&self) -> &L {
        &self.line
    }

    /// The line, mutably (to insert or remove a simulated card, say).
    pub fn line_mut(&mut self) -> &mut L {
        &mut self.line
    }

    /// The callback table: power, SET_PROTOCOL, TRANSMIT and card tracking, for a
    /// device whose driver context is the `LineReader` itself.
    pub fn functions() -> ReaderFunctions<LineReader<L>> {
        ReaderFunctions {
            power: Some(Self::power),
            set_protocol: Some(Self::set_protocol),
            transmit: Some(Self::transmit),
            card_tracking: Some(Self::card_tracking),
            ..ReaderFunctions::NONE
        }
    }

    /// The same callbacks for a driver context `D` that holds a `LineReader` beside
    /// state of its own: each reaches the reader through `AsMut`. Fill in the
    /// driver's own callbacks with struct update syntax:
    ///
    /// ```
    /// # use readerkit::line::{Line, LineReader};
    /// # use readerkit::{Failure, ReaderFunctions};
    /// struct Driver<L> {
    ///     reader: LineReader<L>,
    ///     vendor_calls: u32,
    /// }
    /// impl<L> AsMut<LineReader<L>> for Driver<L> {
    ///     fn as_mut(&mut self) -> &mut LineReader<L> {
    ///         &mut self.reader
    ///     }
    /// }
    /// fn vendor<L>(d: &mut Driver<L>, _: u32, _: &[u8], _: &mut [u8]) -> Result<usize, Failure> {
    ///     d.vendor_calls += 1;
    ///     Ok(0)
    /// }
    /// fn functions<L: Line>() -> ReaderFunctions<Driver<L>> {
    ///     ReaderFunctions {
    ///         vendor_ioctl: Some(vendor),
    ///         ..LineReader::functions_for::<Driver<L>>()
    ///     }
    /// }
    /// ```
    pub fn functions_for<D: AsMut<LineReader<L>>>() -> ReaderFunctions<D> {
        ReaderFunctions {
            power: Some(|d: &mut D, action, atr| d.as_mut().power(action, atr)),
            set_protocol: Some(|d: &mut D, call| d.as_mut().set_protocol(call)),
            transmit: Some(|d: &mut D, call, reply| d.as_mut().transmit(call, reply)),
            card_tracking: Some(|d: &mut D, wait| d.as_mut().card_tracking(wait)),
            ..ReaderFunctions::NONE
        }
    }

    /// Card-tracking callback: nothing to start. Whoever watches the card's presence
    /// (a presence pin, a polling thread, the simulation) reports insertion and
    /// removal to the device, which completes the pending request.
    pub fn card_tracking(&mut self, _wait: crate::tracking::Wait) -> Result<(), Failure> {
        Ok(())
    }

    /// POWER callback. A device asks no warm reset of a card whose contacts are
    /// off (this reader deactivated it after a failed PPS, a failed T=1
    /// resynchronisation or a T=0 exchange broken mid-way, and told the device
    /// so): it asks a cold reset instead.
    pub fn power(&mut self, action: PowerAction, atr: &mut AtrBuffer) -> Result<(), Failure> {
        self.session = Session::Idle;
        match action {
            PowerAction::PowerDown => self.line.deactivate(),
            PowerAction::ColdReset => self.line.reset(Reset::Cold, atr),
            PowerAction::WarmReset => self.line.reset(Reset::Warm, atr),
        }
    }

    /// SET_PROTOCOL callback: the PPS exchange the call carries, then the new
    /// parameters on the line and a fresh protocol session. Refused with
    /// [`Failure::InvalidDeviceState`] while the card waits for a reset (see
    /// [`LineReader::transmit`]): a protocol selected again sends no PPS and
    /// resets nothing.
    pub fn set_protocol(&mut self, call: &ProtocolCall<'_>) -> Result<Timing, Failure> {
        if self.session == Session::Deactivated {
            return Err(Failure::InvalidDeviceState);
        }
        let timing = match self.exchange_pps(&call.negotiation, call.card) {
            Ok(timing) => timing,
            Err(status) => {
                // ISO/IEC 7816-3 9.3: after a failed PPS the card must be
                // deactivated (and the device told); the caller resets and
                // retries with the defaults.
                self.deactivate_for(&call.deactivation);
                return Err(status);
            }
        };
        self.establish(
            call.protocol,
            call.card,
            timing,
            call.settings.suppress_t1_ifs_request,
        )?;
        Ok(timing)
    }

    /// Switch the card's contacts off after the protocol lost it, refuse
    /// everything but a reset from now on, and tell the device (`deactivation`:
    /// it takes the card for unpowered).
    fn deactivate_for(&mut self, deactivation: &Deactivation) {
        self.session = Session::Deactivated;
        let _ = self.line.deactivate();
        deactivation.report();
    }

    /// Put the line on `timing` and the protocol's framing, and start a fresh
    /// protocol session: T=0 waits WT at `timing`'s clock (ISO/IEC 7816-3:2006
    /// 10.2, f the clock in force), T=1 the BWT at `card`'s timing each APDU.
    fn establish(
        &mut self,
        protocol: Protocol,
        card: &CardCapabilities,
        timing: Timing,
        suppress_ifs_request: bool,
    ) -> Result<(), Failure> {
        self.line.set_timing(timing)?;
        self.line.set_framing(Framing {
            protocol: Some(protocol),
            extra_guard_n: card.extra_guard_n_at(&timing),
        })?;
        self.session = Session::Idle;
        self.session = match protocol {
            Protocol::T0 => {
                // WT at the clock of `timing`: `card` still holds the timing
                // before the PPS, whose clock may differ.
                let mut config = t0::Config::new(card.wwt_us_at(&timing));
                config.extended = self.config.t0_extended;
                config.get_response_class = self.config.t0_get_response_class;
                Session::T0(config)
            }
            Protocol::T1 => {
                let mut config = t1_config(card, suppress_ifs_request);
                config.max_retries = self.config.t1_max_retries;
                config.max_resynchs = self.config.t1_max_resynchs;
                self.t1.reconfigure(config)?;
                Session::T1
            }
            Protocol::Raw => return Err(Failure::NotSupported),
        };
        Ok(())
    }

    /// The PPS exchange, if the negotiation has a request; the timing to switch to.
    fn exchange_pps(
        &mut self,
        negotiation: &pps::Negotiation,
        card: &CardCapabilities,
    ) -> Result<Timing, Failure> {
        // The card answers within the initial waiting time, 9600 etu at Fi: WT
        // at the default WI (ISO/IEC 7816-3:2006 10.2).
        let wait = card
            .timing
            .t0_waiting_time_us(Parameters::DEFAULT.wi, card.parameters.announced_f());
        let mut pps = negotiation.exchange(wait);
        let mut buf = [0u8; pps::MAX_LEN];
        let mut action = pps.action();
        loop {
            action = match action? {
                pps::Action::Send(bytes) => {
                    // TC1's guard time from the ATR on, PPS request included
                    // (ISO/IEC 7816-3:2006 8.3), at the timing the line runs
                    // since the reset; no protocol yet.
                    self.line.set_framing(Framing {
                        protocol: None,
                        extra_guard_n: card.extra_guard_n_at(&card.timing),
                    })?;
                    self.line.send(bytes)?;
                    pps.sent()
                }
                pps::Action::Expect { count, timeout_us } => {
                    match receive_up_to(&mut self.line, &mut buf, count, timeout_us)? {
                        [] => pps.timeout(),
                        got => pps.feed(got),
                    }
                }
                pps::Action::Done { timing } => return Ok(timing),
            };
        }
    }

    /// TRANSMIT callback: the APDU through the selected protocol's engine.
    ///
    /// A T=0 exchange that fails after its header went to the card (no answer in
    /// time, a byte out of place, a failed line call) leaves the card out of step:
    /// it may still be sending, or waiting for data, and T=0 has no way back but
    /// a reset. The card is then deactivated, and the device told, as below, so
    /// that no command reads another one's bytes as its answer.
    ///
    /// When T=1 resynchronisation fails ([`t1::Engine::resynch_failed`]: every
    /// S(RESYNCH request) the exchange allowed went unanswered or got an invalid
    /// block), the card is deactivated
    /// (ISO/IEC 7816-3:2006 11.6.3.2 rule 6.4 leaves the choice between a warm
    /// reset and a deactivation; a warm reset would change the ATR and the timing
    /// under the device's feet) and the device told so (`call.deactivation`: it
    /// takes the card for unpowered). TRANSMIT and SET_PROTOCOL are then refused
    /// with [`Failure::InvalidDeviceState`] and send nothing, until the POWER
    /// callback resets the card.
    pub fn transmit(
        &mut self,
        call: &TransmitCall<'_>,
        reply: &mut [u8],
    ) -> Result<usize, Failure> {
        let current = match self.session {
            Session::T0(_) => Some(Protocol::T0),
            Session::T1 => Some(Protocol::T1),
            Session::Idle => None,
            Session::Deactivated => return Err(Failure::InvalidDeviceState),
        };
        if current != Some(call.protocol) {
            // Specific mode: the protocol applies from the ATR on, with no SET_PROTOCOL
            // callback having run for this reset.
            self.establish(
                call.protocol,
                call.card,
                call.card.timing,
                call.settings.suppress_t1_ifs_request,
            )?;
        }
        match self.session {
            Session::T0(config) => match run_t0(&mut self.line, config, call.apdu, reply) {
                Ok(len) => Ok(len),
                Err(T0Failure::InStep(failure)) => Err(failure),
                Err(T0Failure::OutOfStep(failure)) => {
                    self.deactivate_for(&call.deactivation);
                    Err(failure)
                }
            },
            Session::T1 => {
                let result = run_t1(
                    &mut self.line,
                    &mut self.t1,
                    &mut self.block,
                    call.card,
                    call.apdu,
                    reply,
                );
                if result.is_err() && self.t1.resynch_failed() {
                    // Rule 6.4: resynchronisation failed (every S(RESYNCH request)
                    // of the exchange went unanswered or invalid): deactivate, as
                    // after a failed PPS; the caller resets the card.
                    self.deactivate_for(&call.deactivation);
                } else {
                    // The card's S(IFS request), its answer to ours, a
                    // resynchronisation: the sizes in force for the device's
                    // CURRENT_IFSC / CURRENT_IFSD.
                    report_field_sizes(&self.t1, &call.field_sizes)?;
                }
                result
            }
            Session::Idle | Session::Deactivated => Err(Failure::InvalidDeviceState),
        }
    }
}

/// Hand the T=1 engine's information field sizes in force to the device. The
/// engine's are 1 to 254 (its configuration is validated, the card's S-blocks
/// parsed), so the report takes them. Not inlined: its locals stay off the
/// frame that is live under every line call.
#[inline(never)]
fn report_field_sizes(engine: &t1::Engine, report: &FieldSizeReport) -> Result<(), Failure> {
    report.report(engine.field_sizes())
}

/// The T=1 parameters of `card`: IFSC and EDC from the ATR, the reader's IFSD.
fn t1_config(card: &CardCapabilities, suppress_ifs_request: bool) -> t1::Config {
    let p = &card.parameters;
    let mut config = t1::Config::new(p.ifsc, p.edc);
    config.ifsd = t1::clamp_ifs(card.ifsd);
    config.send_ifs_request = !suppress_ifs_request;
    config
}

/// How a T=0 exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T0Failure {
    /// The card is where a new command can start: the command was refused
    /// before anything went to it, or the exchange ended after its status word.
    InStep(Failure),
    /// The card may still be inside the exchange: it is deactivated.
    OutOfStep(Failure),
}

impl From<t0::Error> for T0Failure {
    fn from(error: t0::Error) -> T0Failure {
        if error.leaves_card_mid_exchange() {
            T0Failure::OutOfStep(Failure::from(error))
        } else {
            T0Failure::InStep(Failure::from(error))
        }
    }
}

// Not inlined: only one protocol's locals are on the stack at a time.
#[inline(never)]
fn run_t0<L: Line>(
    line: &mut L,
    config: t0::Config,
    apdu: &[u8],
    reply: &mut [u8],
) -> Result<usize, T0Failure> {
    // The exchange is used where `start_t0` put it, inside the result: no copy of
    // it on this frame, which stays live under every line call.
    let mut started = start_t0(apdu, reply, config);
    let exchange = match &mut started {
        Ok(exchange) => exchange,
        Err(error) => return Err(T0Failure::from(*error)),
    };
    run_t0_exchange(line, exchange)
}

/// Drive a started T=0 exchange over `line` to its end.
/// A failed line call leaves the card wherever it was in the exchange.
fn run_t0_exchange<L: Line>(
    line: &mut L,
    exchange: &mut t0::Exchange<'_>,
) -> Result<usize, T0Failure> {
    // Procedure bytes, status words and data that does not fit the response
    // buffer; data bursts go straight into the response buffer.
    let mut buf = [0u8; 8];
    let mut action = exchange.action();
    loop {
        action = match action? {
            t0::Action::Send(bytes) => {
                line.send(bytes).map_err(T0Failure::OutOfStep)?;
                exchange.sent()
            }
            t0::Action::Expect { count, timeout_us } => match exchange.data_slot() {
                Some(slot) => match line
                    .receive(slot, timeout_us, timeout_us)
                    .map_err(T0Failure::OutOfStep)?
                {
                    0 => exchange.timeout(),
                    got => exchange.received(got),
                },
                None => match receive_up_to(line, &mut buf, count, timeout_us)
                    .map_err(T0Failure::OutOfStep)?
                {
                    [] => exchange.timeout(),
                    got => exchange.feed(got),
                },
            },
            t0::Action::Done { response_len } => return Ok(response_len),
        };
    }
}

/// Read up to `count` bytes (at least 1, at most `buf`'s length) into `buf`, each
/// within `timeout_us` µs of the previous, as a PPS or T=0 exchange's
/// `Action::Expect` asks: the bytes that came, none if the time ran out.
fn receive_up_to<'b, L: Line>(
    line: &mut L,
    buf: &'b mut [u8],
    count: usize,
    timeout_us: u32,
) -> Result<&'b [u8], Failure> {
    let want = count.clamp(1, buf.len());
    let got = line.receive(&mut buf[..want], timeout_us, timeout_us)?;
    Ok(&buf[..got])
}

/// [`t0::Exchange::new`] out of line: the command's parse and the exchange being
/// built live on this short frame, not on [`run_t0`]'s.
#[inline(never)]
fn start_t0<'a>(
    apdu: &'a [u8],
    reply: &'a mut [u8],
    config: t0::Config,
) -> Result<t0::Exchange<'a>, t0::Error> {
    t0::Exchange::new(apdu, reply, config)
}

#[inline(never)]
fn run_t1<L: Line>(
    line: &mut L,
    engine: &mut t1::Engine,
    block: &mut [u8; BLOCK_BUF_LEN],
    card: &CardCapabilities,
    apdu: &[u8],
    reply: &mut [u8],
) -> Result<usize, Failure> {
    let cwt_us = card.cwt_us();
    let bwi = card.parameters.bwi;
    let edc = card.parameters.edc;
    let mut transaction = engine.transmit(apdu, reply)?;
    let mut action = transaction.action();
    loop {
        let wait = match action? {
            t1::Action::Done { response_len } => return Ok(response_len),
            t1::Action::Send { block: bytes, wait } => {
                if let Err(status) = line.send(bytes) {
                    // Not left in the engine's buffer until the next APDU.
                    transaction.abandon();
                    return Err(status);
                }
                wait.bwt_us(&card.timing, bwi)
            }
        };
        action = match receive_t1_block(line, block, wait, cwt_us, edc) {
            Ok(BlockRead::Short(0)) => transaction.timeout(),
            Ok(BlockRead::Complete(n) | BlockRead::Short(n)) => transaction.receive(&block[..n]),
            // Cannot happen: the buffer holds the longest block any LEN
            // announces. Were it to, the block would be a broken one.
            Ok(BlockRead::TooLong(_)) => transaction.line_error(),
            Err(Failure::DeviceProtocolError) => transaction.line_error(),
            Err(status) => {
                transaction.abandon();
                return Err(status);
            }
        };
    }
}

/// What [`receive_t1_block`] read into its buffer, from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockRead {
    /// The whole block, this many bytes.
    Complete(usize),
    /// The card stopped sending after this many bytes, fewer than the block
    /// (0: nothing came within the block waiting time; fewer than 3: part of the
    /// prologue). An incomplete block, which the T=1 engine rejects.
    Short(usize),
    /// The block needs this many bytes and the buffer is shorter: LEN announced
    /// it (nothing after the prologue was read), or the buffer cannot hold even
    /// the prologue (3 bytes; nothing was read).
    TooLong(usize),
}

/// Read one T=1 block from `line` into `buf`: the prologue (NAD, PCB, LEN) within
/// `bwt_us` µs, then the rest its LEN announces under `edc`, each character
/// within `cwt_us` µs of the previous. How [`LineReader`] reads the card's answer
/// to each block it sends; a driver relaying blocks itself (a CCID reader at the
/// TPDU level) reads them the same way. Errors are the line's.
pub fn receive_t1_block<L: Line + ?Sized>(
    line: &mut L,
    buf: &mut [u8],
    bwt_us: u32,
    cwt_us: u32,
    edc: t1::Edc,
) -> Result<BlockRead, Failure> {
    let prologue_len = t1::PROLOGUE_LEN;
    let Some(prologue) = buf.get_mut(..prologue_len) else {
        return Ok(BlockRead::TooLong(prologue_len));
    };
    let got = line.receive(prologue, bwt_us, cwt_us)?;
    if got < prologue_len {
        return Ok(BlockRead::Short(got));
    }
    let total = t1::block_len(buf[2], edc);
    let Some(rest) = buf.get_mut(prologue_len..total) else {
        return Ok(BlockRead::TooLong(total));
    };
    let more = line.receive(rest, cwt_us, cwt_us)?;
    Ok(match prologue_len + more {
        n if n == total => BlockRead::Complete(n),
        n => BlockRead::Short(n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card sending `bytes`; records how many bytes each receive asked.
    struct Sends {
        bytes: std::vec::Vec<u8>,
        at: usize,
        asked: std::vec::Vec<usize>,
    }

    impl Line for Sends {
        fn reset(&mut self, _: Reset, _: &mut AtrBuffer) -> Result<(), Failure> {
            Ok(())
        }
        fn deactivate(&mut self) -> Result<(), Failure> {
            Ok(())
        }
        fn send(&mut self, _: &[u8]) -> Result<(), Failure> {
            Ok(())
        }
        fn receive(&mut self, buf: &mut [u8], _: u32, _: u32) -> Result<usize, Failure> {
            self.asked.push(buf.len());
            let n = buf.len().min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
        fn set_timing(&mut self, _: Timing) -> Result<(), Failure> {
            Ok(())
        }
    }

    /// A card's block is read as its LEN says, whatever LEN: the prologue, then
    /// the rest in one receive (LEN 255 with a CRC, 260 bytes, one longer than
    /// any valid block, is read whole for the engine to refuse).
    #[test]
    fn receive_t1_block_reads_what_len_announces() {
        for (len, edc, total) in [
            (255u8, t1::Edc::Crc, 260),
            (254, t1::Edc::Crc, 259),
            (255, t1::Edc::Lrc, 259),
            (0, t1::Edc::Lrc, 4),
        ] {
            let mut bytes = std::vec![0x00, 0x00, len];
            bytes.resize(total, 0xA5);
            let mut line = Sends {
                bytes,
                at: 0,
                asked: std::vec::Vec::new(),
            };
            let mut block = [0u8; BLOCK_BUF_LEN];
            let got = receive_t1_block(&mut line, &mut block, 1, 1, edc);
            assert_eq!(got, Ok(BlockRead::Complete(total)), "LEN {len} {edc:?}");
            assert_eq!(line.asked, [3, total - 3], "LEN {len} {edc:?}");
        }
    }

    /// A card that stops early gives a short read; a block longer than the
    /// buffer is refused after its prologue, and a buffer shorter than the
    /// prologue before anything is read.
    #[test]
    fn receive_t1_block_says_short_and_too_long() {
        let card = |bytes: &[u8]| Sends {
            bytes: bytes.to_vec(),
            at: 0,
            asked: std::vec::Vec::new(),
        };
        let edc = t1::Edc::Lrc;
        let mut buf = [0u8; 8];
        let mut silent = card(&[]);
        let got = receive_t1_block(&mut silent, &mut buf, 1, 1, edc);
        assert_eq!(got, Ok(BlockRead::Short(0)));
        let mut two = card(&[0x00, 0x40]);
        let got = receive_t1_block(&mut two, &mut buf, 1, 1, edc);
        assert_eq!(got, Ok(BlockRead::Short(2)));
        // LEN 3 announces 7 bytes; 5 come.
        let mut cut = card(&[0x00, 0x00, 0x03, 0x01, 0x02]);
        let got = receive_t1_block(&mut cut, &mut buf, 1, 1, edc);
        assert_eq!(got, Ok(BlockRead::Short(5)));
        assert_eq!(cut.asked, [3, 4]);
        // LEN 5 announces 9 bytes, one more than the buffer: the rest stays unread.
        let mut long = card(&[0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0x01]);
        let got = receive_t1_block(&mut long, &mut buf, 1, 1, edc);
        assert_eq!(got, Ok(BlockRead::TooLong(9)));
        assert_eq!(long.asked, [3]);
        let mut any = card(&[0x00, 0x00, 0x00, 0x00]);
        let got = receive_t1_block(&mut any, &mut buf[..2], 1, 1, edc);
        assert_eq!(got, Ok(BlockRead::TooLong(3)));
        assert!(any.asked.is_empty());
    }

    #[test]
    fn a_reset_is_the_power_action_of_the_same_name() {
        assert_eq!(PowerAction::from(Reset::Cold), PowerAction::ColdReset);
        assert_eq!(PowerAction::from(Reset::Warm), PowerAction::WarmReset);
    }
}
