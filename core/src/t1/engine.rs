//! The interface device's T=1 state machine.

use super::block::{Kind, MAX_BLOCK_LEN, RCode, Repr, SBlock, Seq};
use super::{Config, Error, MAX_APDU_LEN, MAX_RESPONSE_LEN};
use crate::pps::PPSS;
use crate::timing::Timing;

/// The address bits of a NAD: DAD in b7–b5, SAD in b3–b1 (b8 and b4 are not used).
pub(super) const NAD_ADDRESS_BITS: u8 = 0x77;

use zeroize::Zeroize;

/// How long to wait for the card's answer to a block just sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wait {
    /// The block waiting time multiplier: 1, or the factor of the card's S(WTX request)
    /// that the block just sent answers. The wait is BWT × `wtx`, measured from the
    /// leading edge of the last character sent to the leading edge of the card's first
    /// character; between the card's characters the driver applies CWT.
    pub wtx: u8,
}

impl Wait {
    /// The block waiting time for this wait, in µs: BWT for `bwi` (from the ATR)
    /// under `timing`, multiplied by [`Wait::wtx`].
    pub const fn bwt_us(&self, timing: &Timing, bwi: u8) -> u32 {
        timing.t1_block_waiting_time_us(bwi, self.wtx)
    }
}

/// What the driver has to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action<'a> {
    /// Transmit `block` (3 to 259 bytes, epilogue included), then read the card's
    /// block within `wait` and pass it to [`Transaction::receive`], or call
    /// [`Transaction::timeout`] if none came in time.
    Send {
        /// The block, ready for the line.
        block: &'a [u8],
        /// How long to wait for the answer.
        wait: Wait,
    },
    /// The response APDU is complete: the first `response_len` bytes of the caller's
    /// response buffer (data and SW1 SW2).
    Done {
        /// Length of the response APDU, in bytes.
        response_len: usize,
    },
}

/// Whether the IFSD announcement is still to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ifsd {
    /// The S(IFS request) is to precede the next I-block.
    Pending,
    /// The card acknowledged it.
    Announced,
    /// Suppressed by the configuration, or the card did not answer it.
    NotAnnounced,
}

/// Whether the card and the engine agree on the sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// As far as we know.
    Synchronised,
    /// An exchange was abandoned or failed: resynchronise before the next APDU.
    NeedsResynch,
}

/// Where the current exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No exchange since the engine was created or reset.
    Idle,
    /// S(IFS request) announcing IFSD sent; waiting for S(IFS response).
    Negotiating,
    /// S(RESYNCH request) sent; waiting for S(RESYNCH response).
    Resynching,
    /// The command goes out: our last I-block carried `chunk` bytes of the APDU from
    /// `offset`; waiting for the card's R-block (chaining) or I-block (last block).
    Sending { offset: usize, chunk: usize },
    /// The card's chained response comes in: waiting for its next I-block.
    Receiving,
    /// S(ABORT response) sent: the exchange ends with the card's next block.
    Aborting,
    /// The response is complete.
    Complete { response_len: usize },
    /// The exchange failed.
    Failed(Error),
}

impl Phase {
    const fn in_flight(self) -> bool {
        !matches!(
            self,
            Phase::Idle | Phase::Complete { .. } | Phase::Failed(_)
        )
    }
}

/// Why the last block from the card was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Nothing came within the waiting time.
    Timeout,
    /// EDC mismatch or a character (parity) error.
    Edc,
    /// Anything else.
    Other,
}

impl Failure {
    const fn code(self) -> RCode {
        match self {
            Failure::Edc => RCode::Edc,
            Failure::Timeout | Failure::Other => RCode::Other,
        }
    }
}

/// The interface device's side of a T=1 session with one card.
///
/// The rules implemented (ISO/IEC 7816-3:2006 clause 11.6, "rule n" below):
///
/// * Sequence numbers: our I-blocks carry N(S), toggled each time the card
///   acknowledges one (with an R-block asking for the next one while we chain, or with
///   its own I-block); the card's I-blocks must carry the N(S) we expect, toggled on
///   each one accepted (rules 1, 2).
/// * Chaining: a command longer than IFSC goes out in IFSC-sized I-blocks with the
///   M bit set on all but the last, each acknowledged by the card's R(N(R) = next
///   N(S)); a chained response is acknowledged by our R-blocks (rule 5). A chained
///   I-block from the card with an empty INF is invalid (it would allow an endless
///   chain without progress).
/// * S-blocks from the card: S(IFS request) is answered and its IFSC adopted for the
///   following I-blocks (rule 4); S(WTX request) is answered and the next
///   [`Wait`] carries its multiplier (rule 3); S(ABORT request) is answered and the
///   exchange ends with [`Error::Aborted`] after the card's next block or time-out
///   (rule 9). An S(RESYNCH request) from the card, or any unsolicited S-response, is
///   an invalid block.
/// * Error recovery (rule 7): an invalid block (framing, EDC, reserved coding, wrong
///   NAD, INF longer than IFSD, wrong sequence number, a block the state does not
///   allow), a block waiting time-out or a character error reported by the driver is
///   answered with R(N(R)) coded "EDC or parity error" (EDC mismatch, character error)
///   or "other error" (the rest); an R-block asking for our last I-block again gets it
///   again; an S-request of ours left unanswered is sent again. After
///   [`Config::max_retries`] consecutive recovery transmissions the engine sends
///   S(RESYNCH request) (rule 6), up to [`Config::max_resynchs`] times per APDU, then
///   fails with [`Error::TooManyErrors`] (or [`Error::Timeout`] if the last failure
///   was a time-out). A successful resynchronisation resets both sequence numbers and
///   IFSC, announces IFSD again and restarts the APDU from its first byte.
/// * IFSD: before the first I-block after [`Engine::new`], [`Engine::reset`] or a
///   resynchronisation, the engine announces [`Config::ifsd`] with an S(IFS request),
///   unless [`Config::send_ifs_request`] is off. If the card never answers it properly
///   (after [`Config::max_retries`] repetitions), the engine gives up on it and sends
///   the APDU anyway.
///
/// Bounded progress: every APDU ends in [`Action::Done`] or an [`Error`] after at most
/// about (`max_resynchs` + 1) × (blocks of the command and response + 2) ×
/// (`max_retries` + 2) + `max_card_requests` × (`max_retries` + 2) transmissions, for
/// any card behaviour, including silence.
///
/// Create it after the ATR (and PPS) with the card's parameters, call
/// [`Engine::transmit`] for each APDU, and [`Engine::reset`] after every new ATR.
/// It holds the sequence numbers, the IFSC in force and a 259-byte block buffer;
/// it never allocates. The block buffer holds command bytes (a PIN a PIN pad sent,
/// too) only while a transaction runs: it is wiped when the transaction completes
/// or fails, or is [abandoned](Transaction::abandon); one dropped half-way is
/// wiped by the next [`Engine::transmit`] or [`Engine::reset`], so neither the
/// engine's memory nor its `Debug` keeps a command once its exchange is over.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    ifsc: u8,
    ns: Seq,
    nr: Seq,
    ifsd: Ifsd,
    link: Link,
    phase: Phase,
    /// Consecutive recovery transmissions in the current exchange.
    errors: u8,
    /// S(RESYNCH request) transmissions in the current exchange.
    resynchs: u8,
    /// S-requests from the card in the current exchange.
    card_requests: u16,
    last_failure: Failure,
    /// Response bytes received so far (including any that did not fit).
    received: usize,
    wtx: u8,
    tx: [u8; MAX_BLOCK_LEN],
    tx_len: usize,
}

impl Default for Engine {
    /// An engine for [`Config::default`] (IFSC 32, LRC).
    fn default() -> Engine {
        Engine::with_valid_config(Config::default())
    }
}

impl Engine {
    /// A session in its state right after the ATR, or [`Error::InvalidConfig`].
    pub fn new(config: Config) -> Result<Engine, Error> {
        config.validate()?;
        Ok(Engine::with_valid_config(config))
    }

    /// The engine for a configuration already validated.
    const fn with_valid_config(config: Config) -> Engine {
        Engine {
            config,
            ifsc: config.ifsc,
            ns: Seq::Zero,
            nr: Seq::Zero,
            ifsd: Engine::initial_ifsd(&config),
            link: Link::Synchronised,
            phase: Phase::Idle,
            errors: 0,
            resynchs: 0,
            card_requests: 0,
            last_failure: Failure::Other,
            received: 0,
            wtx: 1,
            tx: [0; MAX_BLOCK_LEN],
            tx_len: 0,
        }
    }

    /// Start over with another configuration, as [`Engine::new`] would, but in
    /// place: a driver that keeps its engine between card sessions builds no new
    /// engine (with its block buffer) on the stack. A configuration that
    /// [`Config::validate`] refuses leaves the engine untouched.
    pub fn reconfigure(&mut self, config: Config) -> Result<(), Error> {
        config.validate()?;
        self.config = config;
        self.reset();
        Ok(())
    }

    const fn initial_ifsd(config: &Config) -> Ifsd {
        if config.send_ifs_request {
            Ifsd::Pending
        } else {
            Ifsd::NotAnnounced
        }
    }

    /// Back to the state right after the ATR (after a cold or warm reset of the card):
    /// sequence numbers 0, IFSC from the configuration, IFSD to be announced again.
    pub fn reset(&mut self) {
        self.ifsc = self.config.ifsc;
        self.ns = Seq::Zero;
        self.nr = Seq::Zero;
        self.ifsd = Engine::initial_ifsd(&self.config);
        self.link = Link::Synchronised;
        self.phase = Phase::Idle;
        self.start_exchange();
        self.wtx = 1;
        self.wipe_sent();
    }

    /// Wipe the block buffer (blocks sent, which hold command bytes) and forget
    /// its length.
    fn wipe_sent(&mut self) {
        self.tx.zeroize();
        self.tx_len = 0;
    }

    /// Forget the counts (errors, resynchronisations, card requests) and the bytes
    /// received of the last exchange.
    fn start_exchange(&mut self) {
        self.errors = 0;
        self.resynchs = 0;
        self.card_requests = 0;
        self.last_failure = Failure::Other;
        self.received = 0;
    }

    /// The configuration the engine was created with.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The IFSC in force, in bytes: the largest INF the engine sends (changed by the
    /// card's S(IFS request)).
    pub const fn ifsc(&self) -> u8 {
        self.ifsc
    }

    /// The IFSD in force, in bytes: [`Config::ifsd`] once the card acknowledged
    /// its announcement, [`super::DEFAULT_IFS`] before (and when it is
    /// suppressed or was given up on), as ISO/IEC 7816-3:2006 11.4.2 sets it
    /// after the answer to reset and after a resynchronisation.
    pub const fn ifsd(&self) -> u8 {
        match self.ifsd {
            Ifsd::Announced => self.config.ifsd,
            Ifsd::Pending | Ifsd::NotAnnounced => super::DEFAULT_IFS,
        }
    }

    /// The information field sizes in force ([`Engine::ifsc`], [`Engine::ifsd`]).
    pub const fn field_sizes(&self) -> crate::caps::FieldSizes {
        crate::caps::FieldSizes {
            ifsc: self.ifsc,
            ifsd: self.ifsd(),
        }
    }

    /// `true` once the card has acknowledged the IFSD announcement.
    pub const fn ifsd_announced(&self) -> bool {
        matches!(self.ifsd, Ifsd::Announced)
    }

    /// `false` if the next APDU will start with a resynchronisation because an
    /// exchange failed or was abandoned.
    pub const fn is_synchronised(&self) -> bool {
        matches!(self.link, Link::Synchronised)
    }

    /// `true` when the last exchange failed because resynchronisation failed
    /// ([`Error::TooManyErrors`] or [`Error::Timeout`]; also when `transmit`
    /// refused to start for want of one): ISO/IEC 7816-3:2006 11.6.3.2 rule 6.4
    /// then has the interface device warm-reset or deactivate the card. Until the
    /// next [`Engine::transmit`] that gets past its command checks (an empty or
    /// too long APDU leaves this as it was) or [`Engine::reset`].
    pub const fn resynch_failed(&self) -> bool {
        matches!(
            self.phase,
            Phase::Failed(Error::TooManyErrors | Error::Timeout)
        )
    }

    /// Start exchanging the command `apdu` (1 to [`super::MAX_APDU_LEN`] bytes); the
    /// response will be written to `response`. The first block to send is
    /// [`Transaction::action`].
    ///
    /// A bad `apdu` is refused with the engine untouched. Starting while an earlier
    /// transaction was left unfinished makes this one resynchronise first.
    ///
    /// A transaction that would fail before its first block is not returned: when
    /// the engine owes the card a resynchronisation (an earlier exchange failed or
    /// was abandoned) and [`Config::max_resynchs`] is 0, this is refused with
    /// [`Error::TooManyErrors`]; the engine stays unsynchronised (every later APDU
    /// is refused the same way) until [`Engine::reset`]. So every transaction
    /// returned starts with an [`Action::Send`].
    pub fn transmit<'a>(
        &'a mut self,
        apdu: &'a [u8],
        response: &'a mut [u8],
    ) -> Result<Transaction<'a>, Error> {
        if apdu.is_empty() {
            return Err(Error::EmptyApdu);
        }
        if apdu.len() > MAX_APDU_LEN {
            return Err(Error::ApduTooLong);
        }
        self.begin(apdu).inspect_err(|&e| self.fail(e))?;
        Ok(Transaction {
            engine: self,
            apdu,
            response,
        })
    }

    fn begin(&mut self, apdu: &[u8]) -> Result<(), Error> {
        // What a transaction abandoned half-way left.
        self.wipe_sent();
        if self.phase.in_flight() {
            self.link = Link::NeedsResynch;
        }
        self.start_exchange();
        match self.link {
            Link::NeedsResynch => self.resynch(),
            Link::Synchronised => self.restart(apdu),
        }
    }

    fn action(&self) -> Result<Action<'_>, Error> {
        match self.phase {
            Phase::Idle => Err(Error::NoTransaction),
            Phase::Complete { response_len } => Ok(Action::Done { response_len }),
            Phase::Failed(e) => Err(e),
            Phase::Negotiating
            | Phase::Resynching
            | Phase::Sending { .. }
            | Phase::Receiving
            | Phase::Aborting => Ok(Action::Send {
                block: self.tx.get(..self.tx_len).unwrap_or(&[]),
                wait: Wait { wtx: self.wtx },
            }),
        }
    }

    fn step(&mut self, result: Result<(), Error>) -> Result<Action<'_>, Error> {
        match result {
            Ok(()) => self.action(),
            Err(Error::NoTransaction) => Err(Error::NoTransaction),
            Err(e) => {
                self.fail(e);
                Err(e)
            }
        }
    }

    fn fail(&mut self, e: Error) {
        self.phase = Phase::Failed(e);
        self.wipe_sent();
        if matches!(
            e,
            Error::Aborted
                | Error::TooManyErrors
                | Error::Timeout
                | Error::TooManyRequests
                | Error::ResponseTooLong
        ) {
            self.link = Link::NeedsResynch;
        }
    }

    // ----- emitting -----

    fn emit(&mut self, kind: Kind<'_>) -> Result<(), Error> {
        let repr = Repr {
            nad: self.config.nad,
            kind,
        };
        // Cannot fail: INF is at most IFSC ≤ 254 bytes and `tx` holds 259.
        self.tx_len = repr
            .emit(&mut self.tx, self.config.edc)
            .map_err(|_| Error::InvalidConfig)?;
        self.wtx = 1;
        Ok(())
    }

    fn send_i(&mut self, apdu: &[u8], offset: usize) -> Result<(), Error> {
        let remaining = apdu.len().saturating_sub(offset);
        let chunk = remaining.min(usize::from(self.ifsc));
        let end = offset.saturating_add(chunk);
        let inf = apdu.get(offset..end).unwrap_or(&[]);
        let more = end < apdu.len();
        self.emit(Kind::I {
            ns: self.ns,
            more,
            inf,
        })?;
        self.phase = Phase::Sending { offset, chunk };
        Ok(())
    }

    fn send_r(&mut self, code: RCode) -> Result<(), Error> {
        self.emit(Kind::R { nr: self.nr, code })
    }

    /// Start the APDU over (after the ATR or a resynchronisation).
    fn restart(&mut self, apdu: &[u8]) -> Result<(), Error> {
        self.received = 0;
        match self.ifsd {
            Ifsd::Pending => {
                self.emit(Kind::S(SBlock::IfsRequest(self.config.ifsd)))?;
                self.phase = Phase::Negotiating;
                Ok(())
            }
            Ifsd::Announced | Ifsd::NotAnnounced => self.send_i(apdu, 0),
        }
    }

    fn resynch(&mut self) -> Result<(), Error> {
        if self.resynchs >= self.config.max_resynchs {
            return Err(match self.last_failure {
                Failure::Timeout => Error::Timeout,
                Failure::Edc | Failure::Other => Error::TooManyErrors,
            });
        }
        self.resynchs = self.resynchs.saturating_add(1);
        self.errors = 0;
        self.emit(Kind::S(SBlock::ResynchRequest))?;
        self.phase = Phase::Resynching;
        Ok(())
    }

    /// Count one recovery transmission; `false` when the limit is reached and the
    /// engine must resynchronise instead.
    fn may_retry(&mut self) -> bool {
        if self.errors >= self.config.max_retries {
            false
        } else {
            self.errors = self.errors.saturating_add(1);
            true
        }
    }

    // ----- inputs -----

    /// Whether an input from the card (a block, its absence, a line error) can be
    /// taken now: [`Error::NoTransaction`] outside an exchange, [`Error::Aborted`]
    /// after our S(ABORT response) (whatever comes next ends the exchange).
    fn awaiting_card(&self) -> Result<(), Error> {
        match self.phase {
            Phase::Idle | Phase::Complete { .. } | Phase::Failed(_) => Err(Error::NoTransaction),
            Phase::Aborting => Err(Error::Aborted),
            Phase::Negotiating | Phase::Resynching | Phase::Sending { .. } | Phase::Receiving => {
                Ok(())
            }
        }
    }

    /// Whether `nad`, from a card's block, is the one it owes us (ISO/IEC 7816-3:2006
    /// 11.3.2.1): our NAD with SAD and DAD swapped. Bits b8 and b4 are not used: the
    /// card is to set them to 0 and the interface device ignores them. `FF` is
    /// invalid whatever the addresses (reserved: it reads as PPSS).
    fn is_card_nad(&self, nad: u8) -> bool {
        nad != PPSS && nad & NAD_ADDRESS_BITS == self.config.nad.rotate_left(4)
    }

    /// The card's block was invalid or did not come.
    fn on_failure(&mut self, failure: Failure, apdu: &[u8]) -> Result<(), Error> {
        self.awaiting_card()?;
        self.last_failure = failure;
        match self.phase {
            Phase::Resynching => self.resynch(),
            Phase::Negotiating => {
                if self.may_retry() {
                    // Rule 7.3: send the S(IFS request) again.
                    self.wtx = 1;
                    Ok(())
                } else {
                    self.ifsd = Ifsd::NotAnnounced;
                    self.errors = 0;
                    self.send_i(apdu, 0)
                }
            }
            _ => {
                if self.may_retry() {
                    self.send_r(failure.code())
                } else {
                    self.resynch()
                }
            }
        }
    }

    fn on_block(&mut self, bytes: &[u8], apdu: &[u8], response: &mut [u8]) -> Result<(), Error> {
        self.awaiting_card()?;
        let repr = match Repr::parse_bytes(bytes, self.config.edc) {
            Ok(repr) => repr,
            Err(e) if e.is_edc() => return self.on_failure(Failure::Edc, apdu),
            Err(_) => return self.on_failure(Failure::Other, apdu),
        };
        if !self.is_card_nad(repr.nad) {
            return self.on_failure(Failure::Other, apdu);
        }
        if let Kind::I { inf, .. } = repr.kind {
            if inf.len() > usize::from(self.config.ifsd) {
                return self.on_failure(Failure::Other, apdu);
            }
        }
        match (self.phase, repr.kind) {
            (Phase::Resynching, Kind::S(SBlock::ResynchResponse)) => {
                self.ns = Seq::Zero;
                self.nr = Seq::Zero;
                self.ifsc = self.config.ifsc;
                self.ifsd = Engine::initial_ifsd(&self.config);
                self.link = Link::Synchronised;
                self.errors = 0;
                self.restart(apdu)
            }
            (Phase::Resynching, _) => {
                self.last_failure = Failure::Other;
                self.resynch()
            }
            (Phase::Negotiating, Kind::S(SBlock::IfsResponse(n))) if n == self.config.ifsd => {
                self.ifsd = Ifsd::Announced;
                self.errors = 0;
                self.send_i(apdu, 0)
            }
            (Phase::Negotiating, _) => self.on_failure(Failure::Other, apdu),
            (Phase::Sending { .. } | Phase::Receiving, Kind::S(s)) => self.on_card_s(s, apdu),
            (Phase::Sending { offset, chunk }, Kind::R { nr, code }) => {
                let next = offset.saturating_add(chunk);
                // An R-block reporting an error never acknowledges: whatever its
                // N(R), the card did not get a block right, so ours goes again
                // (a wrong N(R) would otherwise skip part of the command).
                if nr == self.ns || code != RCode::Ok {
                    // The card asks for our last I-block again (rule 7.1 / 7.4).
                    if self.may_retry() {
                        self.last_failure = Failure::Other;
                        self.send_i(apdu, offset)
                    } else {
                        self.resynch()
                    }
                } else if next < apdu.len() {
                    // Acknowledgement of a chained I-block: send the next one (rule 5).
                    self.ns = self.ns.next();
                    self.errors = 0;
                    self.send_i(apdu, next)
                } else {
                    // Asks for a block after the last one.
                    self.on_failure(Failure::Other, apdu)
                }
            }
            (Phase::Sending { offset, chunk }, Kind::I { ns, more, inf }) => {
                let chaining = offset.saturating_add(chunk) < apdu.len();
                if chaining || ns != self.nr || (more && inf.is_empty()) {
                    self.on_failure(Failure::Other, apdu)
                } else {
                    // The card's I-block acknowledges our last one.
                    self.ns = self.ns.next();
                    self.accept_i(more, inf, response)
                }
            }
            (Phase::Receiving, Kind::R { .. }) => {
                // The card did not get our last block: send it again (rule 7.2),
                // with the same wait (an S(WTX response) grants its extension
                // again).
                if self.may_retry() {
                    self.last_failure = Failure::Other;
                    Ok(())
                } else {
                    self.resynch()
                }
            }
            (Phase::Receiving, Kind::I { ns, more, inf }) => {
                if ns != self.nr || (more && inf.is_empty()) {
                    self.on_failure(Failure::Other, apdu)
                } else {
                    self.accept_i(more, inf, response)
                }
            }
            // Unreachable phases were handled above.
            _ => Err(Error::NoTransaction),
        }
    }

    /// An S-block from the card while an APDU is under way.
    fn on_card_s(&mut self, s: SBlock, apdu: &[u8]) -> Result<(), Error> {
        let (SBlock::IfsRequest(_) | SBlock::WtxRequest(_) | SBlock::AbortRequest) = s else {
            // The card may not resynchronise, and we asked nothing.
            return self.on_failure(Failure::Other, apdu);
        };
        if self.card_requests >= self.config.max_card_requests {
            return Err(Error::TooManyRequests);
        }
        self.card_requests = self.card_requests.saturating_add(1);
        self.errors = 0;
        let Some(answer) = s.response() else {
            return self.on_failure(Failure::Other, apdu);
        };
        self.emit(Kind::S(answer))?;
        match s {
            SBlock::IfsRequest(n) => self.ifsc = n,
            SBlock::WtxRequest(n) => self.wtx = n,
            _ => self.phase = Phase::Aborting,
        }
        Ok(())
    }

    /// Take an acceptable I-block of the response (sequence number checked).
    fn accept_i(&mut self, more: bool, inf: &[u8], response: &mut [u8]) -> Result<(), Error> {
        self.nr = self.nr.next();
        self.errors = 0;
        let start = self.received;
        let end = start.checked_add(inf.len()).ok_or(Error::ResponseTooLong)?;
        if end > MAX_RESPONSE_LEN {
            return Err(Error::ResponseTooLong);
        }
        if let Some(dst) = response.get_mut(start..end) {
            dst.copy_from_slice(inf);
        }
        self.received = end;
        if more {
            self.phase = Phase::Receiving;
            self.send_r(RCode::Ok)
        } else if end > response.len() {
            Err(Error::BufferTooSmall { needed: end })
        } else {
            self.phase = Phase::Complete { response_len: end };
            self.wipe_sent();
            Ok(())
        }
    }
}

/// One command APDU and its response in progress, borrowing the engine and the
/// caller's buffers until it ends.
///
/// Drive it with [`Transaction::action`] first, then one of [`Transaction::receive`],
/// [`Transaction::timeout`] or [`Transaction::line_error`] after each
/// [`Action::Send`], until [`Action::Done`] or an error. Dropping an unfinished
/// transaction is allowed: the next one resynchronises first.
#[derive(Debug)]
pub struct Transaction<'a> {
    engine: &'a mut Engine,
    apdu: &'a [u8],
    response: &'a mut [u8],
}

impl Transaction<'_> {
    /// The pending action: the block to send (first the one that starts the
    /// exchange), [`Action::Done`] once complete, or the error that ended it.
    pub fn action(&self) -> Result<Action<'_>, Error> {
        self.engine.action()
    }

    /// The card's block, as read from the line (NAD to EDC, at most 259 bytes; any
    /// bytes are accepted and checked). Returns the next action. After the
    /// exchange ended it is refused with [`Error::NoTransaction`] and changes
    /// nothing (as are [`Transaction::timeout`] and [`Transaction::line_error`]).
    pub fn receive(&mut self, block: &[u8]) -> Result<Action<'_>, Error> {
        let result = self.engine.on_block(block, self.apdu, self.response);
        self.engine.step(result)
    }

    /// No complete block came within the [`Wait`] of the last [`Action::Send`] (BWT
    /// or CWT exceeded, or fewer bytes than LEN announced). Handled as an invalid
    /// block. Returns the next action; refused with [`Error::NoTransaction`], and
    /// nothing changed, after the exchange ended.
    pub fn timeout(&mut self) -> Result<Action<'_>, Error> {
        let result = self.engine.on_failure(Failure::Timeout, self.apdu);
        self.engine.step(result)
    }

    /// The driver detected a character error (parity, framing, overrun) in the card's
    /// block and discarded it. Answered with an R-block coded "EDC or parity error".
    /// Refused with [`Error::NoTransaction`], and nothing changed, after the
    /// exchange ended.
    pub fn line_error(&mut self) -> Result<Action<'_>, Error> {
        let result = self.engine.on_failure(Failure::Edc, self.apdu);
        self.engine.step(result)
    }

    /// The response received so far (all of it after [`Action::Done`]).
    pub fn response(&self) -> &[u8] {
        let len = self.engine.received.min(self.response.len());
        self.response.get(..len).unwrap_or(&[])
    }

    /// The engine this transaction runs on (for its IFSC and state).
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// End the transaction, finished or not (the driver's line failed: the card
    /// went, the reader broke; or the caller is done with it): the engine's
    /// block buffer, which may hold the command (a PIN a PIN pad sent), is wiped
    /// now rather than at the next [`Engine::transmit`]. An unfinished one is
    /// ended as if dropped: the next transmit resynchronises first, and every
    /// step of this one is refused with [`Error::NoTransaction`] from here on.
    /// Takes `&mut self` so that a transaction stored in place (a C binding's
    /// storage) can be ended without being moved.
    pub fn abandon(&mut self) {
        let engine = &mut *self.engine;
        if engine.phase.in_flight() {
            engine.link = Link::NeedsResynch;
            engine.phase = Phase::Idle;
        }
        engine.wipe_sent();
    }
}
