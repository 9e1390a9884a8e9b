//! The simulated card and its byte-level interface.
//!
//! # Driving the card
//!
//! * [`Card::power_on`] (or [`Card::cold_reset`], [`Card::warm_reset`]) resets the
//!   card and queues its ATR; [`Card::power_off`] deactivates it.
//! * [`Card::write`] hands the card the characters the reader sends, in any split
//!   (one at a time or many at once). The card reacts to each character as it
//!   arrives and queues what it sends back.
//! * [`Card::read`] takes up to `out.len()` queued characters; it returns 0 when the
//!   card has nothing to say (it waits for the reader, or it is mute).
//! * [`Card::line_idle`] tells the card that the reader has stopped sending in the
//!   middle of a T=1 block for longer than the character waiting time.
//!
//! There is no clock: a reader that waits for an answer and gets nothing from
//! [`Card::read`] has hit its waiting time.
//!
//! # Phases
//!
//! After the ATR the card is in [`State::Negotiable`]. If the first character the
//! reader sends is `FF` it is a PPS request ([`State::Pps`]): the card echoes it when
//! it accepts the proposed Fi/Di, answers without PPS1 (keeping Fd = 372, Dd = 1) when
//! it does not, and stays silent until the next reset on a malformed request, a wrong
//! PCK, a reserved bit or a protocol it does not offer ([`State::PpsFailed`]).
//! Any other first character starts the default protocol (the first offered) at the
//! default Fd/Dd, and that character is its first.
//!
//! # T=0 (ISO/IEC 7816-3:2006 clause 10)
//!
//! The card reads a 5-byte header `CLA INS P1 P2 P3`, then:
//!
//! * unknown CLA: `6E 00`; unknown INS: `6D 00`;
//! * commands that send data to the card (SELECT, UPDATE BINARY, VERIFY, ECHO,
//!   ENVELOPE) with P3 > 0: ACK (= INS, or INS ⊕ FF before every byte with
//!   [`T0Procedure::OneByteAtATime`](crate::fault::T0Procedure)), then P3 data bytes;
//!   P3 = 0 is a command without data;
//! * commands that get data from the card (READ BINARY, GET CHALLENGE, GET
//!   RESPONSE): P3 = Le (00 = 256). When the data the card has is not Le bytes long it
//!   answers `6C xx` (xx = what it has) and nothing else; otherwise ACK, data,
//!   SW1 SW2;
//! * when a command that sends data also produces response data (SELECT with FCI,
//!   ECHO), the card answers `61 xx` and waits for GET RESPONSE (`xx C0 00 00 Le`);
//!   every GET RESPONSE gives at most 256 bytes (or
//!   [`Faults::t0_get_response_max`]) and is followed by `61 xx` while more remains,
//!   then by the command's status word. Any other command discards what remains.
//! * ENVELOPE (`xx C2 00 00 Lc data`, when [`Profile::envelope`] is set) carries a
//!   command APDU (typically one with extended lengths) in pieces. A piece whose CLA
//!   has the command chaining bit (b5, `10`) is answered `90 00` and more follow;
//!   the first piece without it (possibly empty, P3 = 00) ends the sequence: the
//!   card executes the assembled APDU and answers like for any command that sends
//!   data (`61 xx` or SW1 SW2). A malformed assembled APDU answers `67 00`.
//!
//! # T=1 (ISO/IEC 7816-3:2006 clause 11)
//!
//! Blocks `NAD PCB LEN INF EDC`, LRC or CRC per the profile. The card:
//!
//! * receives chained I-blocks (acknowledging each with R(N(R))), up to its IFSC per
//!   block, and sends chains of I-blocks of at most IFSD bytes (32 until the reader
//!   sends S(IFS request)), waiting for R(N(R)) between them;
//! * answers an invalid block (EDC or parity error, LEN = FF, LEN > IFSC, malformed
//!   R- or S-block, unexpected N(S)) with R(N(R) = expected N(S)) carrying error
//!   code 1 (EDC/parity) or 2 (other), except while it waits for the answer to its
//!   own S-request, which it then sends again;
//! * sends its last I- or R-block again on an R-block that does not acknowledge it
//!   (rules 7.x of 11.6.3);
//! * answers S(IFS request) with S(IFS response) and uses the new IFSD, S(RESYNCH
//!   request) with S(RESYNCH response) after resetting both sequence numbers, IFSC
//!   and IFSD, S(ABORT request) with S(ABORT response) after dropping any chain;
//! * answers with the NAD of the request with SAD and DAD swapped.

use heapless::Deque;

use crate::DEFAULT_CAPACITY;
use crate::apdu::Command;
use crate::app::{self, App};
use crate::atr::{Convention, Profile};
use crate::fault::{Faults, Mute};
use crate::stats::{ApduLog, ApduRecord, Stats};
use readerkit::atr::invert_convention;

mod pps;
mod t0;
mod t1;

/// T=1: the IFSD the card assumes until the reader sends S(IFS request).
pub const IFSD_DEFAULT: u8 = t1::IFSD_DEFAULT;

/// How many bytes the card can queue for the reader.
pub const OUTPUT_CAPACITY: usize = 1024;

/// Everything a card is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Transmission capabilities and ATR.
    pub profile: Profile,
    /// Fault switches.
    pub faults: Faults,
    /// Application settings.
    pub app: app::Config,
}

impl Config {
    /// A well-behaved card with the given profile and the default application.
    pub fn new(profile: Profile) -> Config {
        Config {
            profile,
            faults: Faults::default(),
            app: app::Config::default(),
        }
    }

    /// The same configuration with other faults.
    pub fn with_faults(mut self, faults: Faults) -> Config {
        self.faults = faults;
        self
    }
}

/// The card signalled a parity error (ISO/IEC 7816-3:2006 clause 7.3) on a character
/// the reader sent, which it has therefore not received.
///
/// `bytes[..accepted]` of the [`Card::write`] call were received; `bytes[accepted]`
/// was rejected and the bytes after it were not looked at. A fake UART turns this
/// into the error signal (the card holding I/O low during the guard time) and sends
/// `bytes[accepted..]` again.
///
/// ```
/// use readerkit_card_sim::{Card, Config, Faults, Profile, fault::Trigger};
///
/// let faults = Faults { parity_error: Trigger::Nth(2), ..Faults::default() };
/// let mut card = Card::with_config(Config::new(Profile::t0()).with_faults(faults));
/// card.power_on();
/// let mut atr = [0; 33];
/// card.read(&mut atr);
/// // A fake UART: on the error signal, repeat the rejected character and the rest.
/// let mut tx: &[u8] = &[0x00, 0x84, 0x00, 0x00, 0x04];
/// let mut repetitions = 0;
/// while let Err(e) = card.write(tx) {
///     tx = &tx[e.accepted..];
///     repetitions += 1;
/// }
/// assert_eq!(repetitions, 1);
/// assert_eq!(card.pending(), 1 + 4 + 2); // ACK, 4 random bytes, 90 00
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParityError {
    /// How many characters were received before the rejected one.
    pub accepted: usize,
}

impl core::fmt::Display for ParityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "card signalled a parity error on character {}",
            self.accepted
        )
    }
}

impl core::error::Error for ParityError {}

/// A command the card's application executed and its answer (see
/// [`Card::last_executed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executed<'a> {
    /// The command APDU as the card received it: over T=0 the TPDU header (P3 only
    /// for commands that get data) and data, or the APDU assembled from ENVELOPE
    /// pieces; over T=1 the INF fields of the I-block chain.
    pub command: &'a [u8],
    /// The response data field (without SW1 SW2).
    pub data: &'a [u8],
    /// The status word SW1 SW2.
    pub sw: u16,
}

/// Where the card is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not powered: ignores everything, says nothing.
    Off,
    /// Powered but mute (see [`Mute`]) until the next reset.
    Mute,
    /// ATR sent; the reader may send a PPS request or start the default protocol.
    Negotiable,
    /// Receiving a PPS request.
    Pps,
    /// A PPS request was refused by silence; mute until the next reset.
    PpsFailed,
    /// Speaking T=0.
    T0,
    /// Speaking T=1.
    T1,
}

/// The transmission parameters in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Session {
    /// 0 or 1.
    pub protocol: u8,
    /// Fi index in force (1 unless a PPS changed it).
    pub fi: u8,
    /// Di index in force (1 unless a PPS changed it).
    pub di: u8,
}

/// A simulated card with command and response buffers of `N` bytes each (see
/// [`DEFAULT_CAPACITY`]; `N` must be at least 512).
#[derive(Debug, Clone, PartialEq)]
pub struct Card<const N: usize = DEFAULT_CAPACITY> {
    profile: Profile,
    faults: Faults,
    app: App,
    state: State,
    session: Session,
    out: Deque<u8, OUTPUT_CAPACITY>,
    pps: pps::Pps,
    t0: t0::T0,
    t1: t1::T1,
    cmd: [u8; N],
    cmd_len: usize,
    cmd_overflow: bool,
    /// `cmd[..cmd_len]` is a command the application executed (not one being
    /// received, nor one the protocol layer discarded), answered by `resp`.
    executed: bool,
    resp: [u8; N],
    resp_len: usize,
    resp_sw: u16,
    resp_pos: usize,
    chars_received: u32,
    blocks_sent: u32,
    answers: u32,
    stats: Stats,
    log: ApduLog,
}

impl Card<DEFAULT_CAPACITY> {
    /// A well-behaved, unpowered card with the given profile and the default
    /// capacity. For another capacity use `Card::<M>::create`.
    pub fn new(profile: Profile) -> Self {
        Card::create(Config::new(profile))
    }

    /// An unpowered card with the default capacity. For another capacity use
    /// `Card::<M>::create`.
    pub fn with_config(config: Config) -> Self {
        Card::create(config)
    }
}

impl<const N: usize> Card<N> {
    const CAPACITY_CHECK: () = assert!(N >= 512, "Card<N> needs N >= 512");

    /// An unpowered card with buffers of `N` bytes: `Card::<8192>::create(config)`.
    pub fn create(config: Config) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_CHECK;
        let t1 = t1::T1::new(&config.profile);
        Card {
            profile: config.profile,
            faults: config.faults,
            app: App::new(config.app),
            state: State::Off,
            session: Session {
                protocol: 0,
                fi: 1,
                di: 1,
            },
            out: Deque::new(),
            pps: pps::Pps::default(),
            t0: t0::T0::default(),
            t1,
            cmd: [0; N],
            cmd_len: 0,
            cmd_overflow: false,
            executed: false,
            resp: [0; N],
            resp_len: 0,
            resp_sw: app::sw::OK,
            resp_pos: 0,
            chars_received: 0,
            blocks_sent: 0,
            answers: 0,
            stats: Stats::default(),
            log: ApduLog::default(),
        }
    }

    /// Activate the card (a cold reset) and queue its ATR.
    pub fn power_on(&mut self) {
        self.reset();
    }

    /// Cold reset: like [`Card::power_on`].
    pub fn cold_reset(&mut self) {
        self.reset();
    }

    /// Warm reset (RST low then high, power kept): the card queues its ATR again and
    /// forgets every protocol state. Does nothing when the card is not powered.
    pub fn warm_reset(&mut self) {
        if self.state != State::Off {
            self.reset();
        }
    }

    /// Deactivate the card: it forgets protocol state and queued output.
    pub fn power_off(&mut self) {
        self.state = State::Off;
        self.out.clear();
        self.app.reset();
    }

    fn reset(&mut self) {
        self.out.clear();
        self.app.reset();
        self.pps = pps::Pps::default();
        self.t0 = t0::T0::default();
        self.t1 = t1::T1::new(&self.profile);
        self.cmd_len = 0;
        self.cmd_overflow = false;
        self.executed = false;
        self.resp_len = 0;
        self.resp_pos = 0;
        self.resp_sw = app::sw::OK;
        self.reset_fault_counters();
        self.session = Session {
            protocol: self.profile.protocols.default_protocol(),
            fi: 1,
            di: 1,
        };
        if self.faults.mute == Mute::Always {
            self.state = State::Mute;
            return;
        }
        self.state = State::Negotiable;
        let atr = self.profile.atr();
        self.send(&atr);
        self.stats.atrs += 1;
    }

    fn reset_fault_counters(&mut self) {
        self.chars_received = 0;
        self.blocks_sent = 0;
        self.answers = 0;
    }

    /// Characters from the reader to the card.
    ///
    /// Returns an error only when the card signals a parity error (a fault switched
    /// on with [`Faults::parity_error`]); see [`ParityError`] for what the reader
    /// must do. Characters sent while the card is off or mute are ignored.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ParityError> {
        for (i, &raw) in bytes.iter().enumerate() {
            self.stats.bytes_to_card += 1;
            if matches!(self.state, State::Off | State::Mute | State::PpsFailed) {
                continue;
            }
            let b = match self.profile.convention {
                Convention::Direct => raw,
                Convention::Inverse => invert_convention(raw),
            };
            self.chars_received = self.chars_received.wrapping_add(1);
            let parity_error = self.faults.parity_error.fires(self.chars_received);
            if parity_error {
                self.stats.parity_errors += 1;
                let signalled = match self.state {
                    State::T1 => false,
                    State::T0 => true,
                    _ => self.profile.protocols.default_protocol() == 0,
                };
                if signalled {
                    return Err(ParityError { accepted: i });
                }
            }
            self.on_char(b, parity_error);
        }
        Ok(())
    }

    fn on_char(&mut self, b: u8, parity_error: bool) {
        match self.state {
            State::Off | State::Mute | State::PpsFailed => {}
            State::Negotiable => {
                if b == 0xFF {
                    self.state = State::Pps;
                    self.pps_char(b, parity_error);
                } else {
                    self.start_protocol(self.profile.protocols.default_protocol());
                    self.on_char(b, parity_error);
                }
            }
            State::Pps => self.pps_char(b, parity_error),
            State::T0 => self.t0_char(b),
            State::T1 => self.t1_char(b, parity_error),
        }
    }

    fn start_protocol(&mut self, protocol: u8) {
        self.session.protocol = protocol;
        self.state = if protocol == 1 { State::T1 } else { State::T0 };
    }

    /// Characters the card sends to the reader: up to `out.len()` of them, oldest
    /// first. Returns how many were written; 0 when the card has nothing to send.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        for slot in out.iter_mut() {
            match self.out.pop_front() {
                Some(b) => {
                    *slot = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// How many characters are waiting to be read.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// The reader stopped sending for longer than the character waiting time. A
    /// partly received T=1 block becomes an invalid block (answered by an R-block
    /// with error code 2). Has no effect otherwise.
    pub fn line_idle(&mut self) {
        if self.state == State::T1 {
            self.t1_line_idle();
        }
    }

    /// Where the card is.
    pub const fn state(&self) -> State {
        self.state
    }

    /// Protocol and Fi/Di in force (before any PPS or command: the defaults).
    pub const fn session(&self) -> Session {
        self.session
    }

    /// Whether the card is powered.
    pub fn is_powered(&self) -> bool {
        self.state != State::Off
    }

    /// The profile.
    pub const fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The fault switches in force.
    pub const fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replace the fault switches; every "Nth" counter starts again from here.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
        self.reset_fault_counters();
    }

    /// The application (file contents, PIN state).
    pub const fn app(&self) -> &App {
        &self.app
    }

    /// Counters.
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Zero the counters.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// The log of executed APDUs.
    pub const fn log(&self) -> &ApduLog {
        &self.log
    }

    /// The command the application executed last, exactly as the card assembled it
    /// from the transmission protocol, and its answer; `None` before the first one
    /// after a reset, while the next command is being received, and after the
    /// protocol layer dropped it (a new T=0 command header, T=1 S(RESYNCH) or
    /// S(ABORT)). A differential test compares this with what the reader sent and
    /// what its protocol engine handed back.
    pub fn last_executed(&self) -> Option<Executed<'_>> {
        if !self.executed || self.cmd_overflow {
            return None;
        }
        Some(Executed {
            command: self.cmd.get(..self.cmd_len)?,
            data: self.resp.get(..self.resp_len)?,
            sw: self.resp_sw,
        })
    }

    /// T=1: the card's current IFSC (largest information field it accepts).
    pub const fn t1_ifsc(&self) -> u8 {
        self.t1.ifsc
    }

    /// T=1: the reader's IFSD as the card knows it (largest information field the
    /// card sends).
    pub const fn t1_ifsd(&self) -> u8 {
        self.t1.ifsd
    }

    /// Queue characters for the reader (logical values; coded for the convention).
    fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.send_byte(b);
        }
    }

    fn send_byte(&mut self, b: u8) {
        if matches!(self.state, State::Mute | State::Off) {
            return;
        }
        let wire = match self.profile.convention {
            Convention::Direct => b,
            Convention::Inverse => invert_convention(b),
        };
        if self.out.push_back(wire).is_ok() {
            self.stats.bytes_from_card += 1;
        } else {
            self.stats.output_overflow += 1;
        }
    }

    /// Count an answer and apply [`Mute::AfterAnswers`]; returns `false` when the
    /// card has just gone mute.
    fn count_answer(&mut self) -> bool {
        self.answers = self.answers.wrapping_add(1);
        if let Mute::AfterAnswers(n) = self.faults.mute {
            if self.answers > n {
                self.state = State::Mute;
                return false;
            }
        }
        true
    }

    /// Append a byte of the command APDU being received.
    fn cmd_push(&mut self, b: u8) {
        self.executed = false;
        match self.cmd.get_mut(self.cmd_len) {
            Some(slot) => {
                *slot = b;
                self.cmd_len += 1;
            }
            None => self.cmd_overflow = true,
        }
    }

    fn cmd_clear(&mut self) {
        self.executed = false;
        self.cmd_len = 0;
        self.cmd_overflow = false;
    }

    /// Execute `cmd[..cmd_len]`; the answer goes to `resp`, `resp_len`, `resp_sw`.
    fn execute(&mut self) {
        self.executed = true;
        self.resp_pos = 0;
        self.stats.commands += 1;
        let parsed = if self.cmd_overflow {
            None
        } else {
            Command::parse(&self.cmd[..self.cmd_len]).ok()
        };
        let Some(cmd) = parsed else {
            self.resp_len = 0;
            self.resp_sw = app::sw::WRONG_LENGTH;
            // A header byte the command did not have is logged as 0, never one
            // left in the buffer by an earlier command.
            let received = self.cmd.get(..self.cmd_len).unwrap_or(&[]);
            let head = |i: usize| received.get(i).copied().unwrap_or(0);
            self.log.push(ApduRecord {
                cla: head(0),
                ins: head(1),
                p1: head(2),
                p2: head(3),
                nc: 0,
                ne: None,
                nr: 0,
                sw: self.resp_sw,
            });
            return;
        };
        let answer = self.app.process(&cmd, &mut self.resp);
        self.resp_len = answer.len;
        self.resp_sw = answer.sw;
        self.stats.command_data_bytes += cmd.data.len() as u64;
        self.stats.response_data_bytes += answer.len as u64;
        self.log.push(ApduRecord {
            cla: cmd.cla,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            nc: cmd.data.len(),
            ne: cmd.ne,
            nr: answer.len,
            sw: answer.sw,
        });
    }

    /// Byte `i` of the response stream: data then SW1 SW2.
    fn resp_byte(&self, i: usize) -> u8 {
        if i < self.resp_len {
            self.resp[i]
        } else {
            let sw = self.resp_sw.to_be_bytes();
            sw[(i - self.resp_len).min(1)]
        }
    }
}
