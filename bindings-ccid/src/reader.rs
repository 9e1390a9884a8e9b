//! The CCID reader: PC_to_RDR messages dispatched onto the core's devices, one per
//! slot, and the answers, notifications and class requests that come back.

use readerkit::caps::CardCapabilities;
use readerkit::device::DEFAULT_EVENT_CAPACITY;
use readerkit::ioctl::{ATR_BUFFER_LEN, IO_REQUEST_LEN, PowerAction, Request};
use readerkit::platform::Platform;
use readerkit::protocol::ProtocolMask;
use readerkit::{CardState, Device, Protocol, Status, pps};

use crate::abort::{self, Verdict};
use crate::answer::{Answer, AnswerKind, CommandStatus, IccStatus, put_data};
use crate::chain::{Chaining, Level, Part};
use crate::command::{ClockCommand, Command, MechanicalFunction, Voltage};
use crate::descriptor::ClassDescriptor;
use crate::error::SlotError;
use crate::message::{self, HEADER_LEN, Message};
use crate::notice::Notice;
use crate::parameters::DEFAULT_FINDEX_DINDEX;
use crate::secure::{self, PinSupport, Refusal, SecureData};
use crate::tpdu::{self, LineAccess};
use crate::{busy, notify, parameters};
use readerkit::pin::Keypad;

/// Where the core's TRANSMIT output goes in an answer: the response comes after
/// the output's `SCARD_IO_REQUEST` header, which therefore starts that many bytes
/// before `abData`, and lands exactly where the answer wants it.
const TRANSMIT_OUTPUT_AT: usize = HEADER_LEN - IO_REQUEST_LEN;

/// How card exchanges travel in XfrBlock (the exchange level of `dwFeatures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeLevel {
    /// TPDU: T=0 TPDUs run through the core's T=0 engine; T=1 blocks from the host
    /// are relayed to the card ([`tpdu::relay_t1_block`]).
    Tpdu,
    /// Short APDU: one command APDU per XfrBlock; the core's engines run T=0/T=1.
    ShortApdu,
    /// Short and extended APDU: each in one XfrBlock, or, given
    /// [`CcidReader::with_apdu_buffer`], chained across several
    /// (`wLevelParameter`, [`crate::chain`]) both ways.
    ExtendedApdu,
}

/// What an Escape handler sees of the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscapeContext {
    /// The slot the Escape was sent to.
    pub slot: u8,
    /// The exchange level; a handler may switch it (a GemPC Twin switches to short
    /// APDU on request, see [`crate::twin`]).
    pub level: ExchangeLevel,
    /// The PIN operations of the reader's keypad ([`PinSupport::NONE`]: none).
    pub pin_support: PinSupport,
}

/// A vendor Escape handler: the command bytes in, the answer written to `answer`;
/// returns the answer's length, or the `bError` to fail with.
pub type EscapeFn =
    fn(context: &mut EscapeContext, command: &[u8], answer: &mut [u8]) -> Result<usize, SlotError>;

/// The binding's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The exchange level.
    pub level: ExchangeLevel,
    /// `dwMaxCCIDMessageLength`: the longest message either way, in bytes (at least
    /// [`message::SHORT_APDU_MESSAGE_LEN`], 271, for short APDUs: 10 + 261).
    pub max_message_len: u32,
    /// `bVoltageSupport`: 1 = 5 V, 2 = 3 V, 4 = 1.8 V.
    pub voltage_support: u8,
    /// The Escape handler; without one Escape is refused as not supported.
    pub escape: Option<EscapeFn>,
}

impl Config {
    /// Short APDU level, 271-byte messages, every voltage, no Escape.
    pub const fn short_apdu() -> Config {
        Config {
            level: ExchangeLevel::ShortApdu,
            max_message_len: message::SHORT_APDU_MESSAGE_LEN as u32,
            voltage_support: 0x07,
            escape: None,
        }
    }
}

/// Most slots a reader can have.
pub const MAX_SLOTS: usize = 8;

/// Why [`CcidReader::new`] refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No slot, or more than [`MAX_SLOTS`].
    SlotCount,
    /// `max_message_len` below [`message::SHORT_APDU_MESSAGE_LEN`] (271) or above
    /// `u32::MAX - 10` (or, for the USB class, above its buffer size).
    MessageLength,
    /// A USB bulk packet size other than 8, 16, 32 or 64 bytes.
    PacketSize,
}

/// Why [`CcidReader::handle`] wrote no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandleError {
    /// The message is shorter than its 10-byte header: there is nothing to answer
    /// (a USB transport stalls the endpoint, the serial framing drops the frame).
    Truncated,
    /// The answer buffer is shorter than 10 bytes.
    AnswerTooSmall,
}

/// The class requests of CCID 1.1 §5.3 (control endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassRequest {
    /// ABORT (0x01): `wValue` = slot | seq << 8; the PC_to_RDR_Abort that follows
    /// carries the same slot and seq.
    Abort,
    /// GET_CLOCK_FREQUENCIES (0x02): the supported clocks, `u32` kHz each.
    GetClockFrequencies,
    /// GET_DATA_RATES (0x03): the supported data rates, `u32` bit/s each.
    GetDataRates,
}

/// A slot's card as the last NotifySlotChange reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notified {
    /// Nothing reported yet: the first notification reports the slot.
    Never,
    /// No card.
    Absent,
    /// A card: the device's insertion count then (all of it: the core's
    /// `u32`), so that a card swapped for another between two looks is a change
    /// too, however many came and went in between (short of a multiple of
    /// 2^32 insertions, where the core's own count wraps).
    Present { insertion: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlotState {
    /// The card as last notified.
    notified: Notified,
    /// Seq of the last command seen on this slot.
    last_seq: u8,
    /// The class ABORT and its PC_to_RDR_Abort ([`abort::Pairing`]).
    abort: abort::Pairing,
}

const IDLE: SlotState = SlotState {
    notified: Notified::Never,
    last_seq: 0,
    abort: abort::Pairing::Idle,
};

/// What a command produced: `data_len` bytes at `answer[10..]` and the answer's
/// message-specific byte.
struct Done {
    data_len: usize,
    specific: u8,
}

const fn done(data_len: usize) -> Done {
    Done {
        data_len,
        specific: 0,
    }
}

/// The CCID reader over `slots` (slot *i* is `slots[i]`).
pub struct CcidReader<'d, P: Platform, D, const EVENTS: usize = DEFAULT_EVENT_CAPACITY> {
    slots: &'d [Device<P, D, EVENTS>],
    config: Config,
    state: [SlotState; MAX_SLOTS],
    line_access: Option<LineAccess<D>>,
    pin_support: PinSupport,
    chaining: Option<Chaining<'d>>,
    /// [`CcidReader::chained_xfr_block`], set with the buffer: a reader without
    /// one links none of the chaining.
    chained_xfr: Option<ChainedXfr<'d, P, D, EVENTS>>,
}

/// XfrBlock through the chaining buffer.
type ChainedXfr<'d, P, D, const EVENTS: usize> = fn(
    &mut CcidReader<'d, P, D, EVENTS>,
    &Device<P, D, EVENTS>,
    u8,
    u16,
    &[u8],
    &mut [u8],
) -> Result<Done, SlotError>;

/// The card state as `bmICCStatus`: active while the card has power
/// ([`CardState::card_powered`]), inactive while it is only in the reader
/// ([`CardState::card_present`]).
pub fn icc_status(state: CardState) -> IccStatus {
    if state.card_powered() {
        IccStatus::PresentActive
    } else if state.card_present() {
        IccStatus::PresentInactive
    } else {
        IccStatus::Absent
    }
}

/// The card of `device` as `bmICCStatus` tells the host: as its state says
/// ([`icc_status`]), except that a card the core lost ([`Device::card_lost`]:
/// the protocol lost it mid-exchange and the reader deactivated it) stays
/// present and active until the host powers it off or on; every exchange with
/// it fails ICC_MUTE meanwhile, as with a card that went mute. A stock host
/// driver takes a card it powered that turns up inactive for one swapped
/// between two looks (libccid's `IFDHICCPresence` then reports it absent
/// once), and pcscd would tell every watcher the card went and came and end
/// every handle to it (SCARD_W_REMOVED_CARD).
pub fn host_icc_status<P: Platform, D, const EVENTS: usize>(
    device: &Device<P, D, EVENTS>,
) -> IccStatus {
    match icc_status(device.state()) {
        IccStatus::PresentInactive if device.card_lost() => IccStatus::PresentActive,
        status => status,
    }
}

/// The cards of a reader's slots as `bmICCStatus` ([`host_icc_status`]), read
/// from the core's card state: its card-event queue is applied without the
/// serialization lock, so this answers while a command holds that lock (a
/// transport's CMD_SLOT_BUSY answers, `usb::port::CcidPort`'s among them).
pub trait SlotCards {
    /// The card of `slot` now as `bmICCStatus` (absent for a slot that does not
    /// exist).
    fn icc_status(&self, slot: u8) -> IccStatus;

    /// The CMD_SLOT_BUSY answer to `message` ([`busy::answer_busy`]) with the
    /// card of the message's slot as the core knows it now. Returns its length,
    /// or `None` without a header or room for one.
    fn answer_busy(&self, message: &[u8], answer: &mut [u8]) -> Option<usize> {
        let slot = Message::new_checked(message).ok()?.slot();
        busy::answer_busy(message, self.icc_status(slot), answer)
    }
}

impl<P: Platform, D, const EVENTS: usize> SlotCards for [Device<P, D, EVENTS>] {
    fn icc_status(&self, slot: u8) -> IccStatus {
        self.get(usize::from(slot))
            .map_or(IccStatus::Absent, host_icc_status)
    }
}

impl<'d, P: Platform, D, const EVENTS: usize> CcidReader<'d, P, D, EVENTS> {
    /// A reader over `slots` (1..=[`MAX_SLOTS`] devices) with `config`. At the
    /// TPDU level, T=1 blocks need [`CcidReader::with_line_access`]; without it
    /// they are refused as not supported.
    pub fn new(
        slots: &'d [Device<P, D, EVENTS>],
        config: Config,
    ) -> Result<CcidReader<'d, P, D, EVENTS>, ConfigError> {
        if slots.is_empty() || slots.len() > MAX_SLOTS {
            return Err(ConfigError::SlotCount);
        }
        if config.max_message_len < message::SHORT_APDU_MESSAGE_LEN as u32
            || config.max_message_len > u32::MAX - HEADER_LEN as u32
        {
            return Err(ConfigError::MessageLength);
        }
        Ok(CcidReader {
            slots,
            config,
            state: [IDLE; MAX_SLOTS],
            line_access: None,
            pin_support: PinSupport::NONE,
            chaining: None,
            chained_xfr: None,
        })
    }

    /// Relay T=1 blocks at the TPDU level on the line `access` finds in each slot's
    /// driver context ([`tpdu::line_of`] for the core's `LineReader`).
    pub fn with_line_access(mut self, access: LineAccess<D>) -> Self {
        self.line_access = Some(access);
        self
    }

    /// Declare a PIN pad: `bPINSupport` in the class descriptor, and
    /// PC_to_RDR_Secure served by [`CcidReader::handle_with_keypad`] for the
    /// operations `support` names (the others fail as not supported).
    pub fn with_pin_support(mut self, support: PinSupport) -> Self {
        self.pin_support = support;
        self
    }

    /// At the extended APDU level, chain APDUs and responses longer than one
    /// message (`wLevelParameter`, see [`crate::chain`]) through `buffer`: it holds a
    /// command of `c` bytes and its response of `r` bytes when it has `c + 8 + r`
    /// (the core's 8-byte `SCARD_IO_REQUEST` header sits between them); longer
    /// ones fail with `XfrOverrun`. Without a buffer, chained parts are refused
    /// (`bError` 8) and an APDU and its response must each fit one message.
    /// Responses go out through the buffer (one copy) once it is given.
    pub fn with_apdu_buffer(mut self, buffer: &'d mut [u8]) -> Self {
        self.chaining = Some(Chaining::new(buffer));
        self.chained_xfr = Some(Self::chained_xfr_block);
        self
    }

    /// The exchange level in force (an Escape handler may have changed it).
    pub fn level(&self) -> ExchangeLevel {
        self.config.level
    }

    /// The class descriptor, from the first slot's capabilities.
    pub fn descriptor(&self) -> ClassDescriptor {
        let reader = self.slots[0].reader_capabilities();
        let mut descriptor = ClassDescriptor::new(
            reader,
            self.slots.len(),
            self.config.level,
            self.config.max_message_len,
            self.config.voltage_support,
        );
        descriptor.pin_support = self.pin_support.0;
        descriptor
    }

    /// Handle one PC_to_RDR message and write the RDR_to_PC answer into `answer`
    /// (which should hold `dwMaxCCIDMessageLength` bytes; a shorter one makes long
    /// answers fail with [`SlotError::XfrOverrun`]). Returns the answer's length,
    /// never more than `dwMaxCCIDMessageLength` whatever the buffer's size: a
    /// longer answer (a response at the extended APDU level without
    /// [`CcidReader::with_apdu_buffer`], an Escape handler's) fails with
    /// [`SlotError::XfrOverrun`].
    ///
    /// Every message with a header gets an answer with its `bSlot` and `bSeq`:
    /// a slot that does not exist fails with `bError` 5, a `dwLength` that
    /// disagrees with the bytes or exceeds the maximum with `bError` 1, an unknown
    /// command with [`SlotError::CommandNotSupported`], a command that needs a card
    /// with [`SlotError::IccMute`] when there is none.
    pub fn handle(&mut self, message: &[u8], answer: &mut [u8]) -> Result<usize, HandleError> {
        self.dispatch(message, answer, None)
    }

    /// [`CcidReader::handle`] for a reader with a PIN pad: PC_to_RDR_Secure reads
    /// the PIN from `keypad` (blocking in [`Keypad::next_key`] for as long as the
    /// structure's time-outs allow) and sends the command with the PIN in place to
    /// the card (see [`secure`]).
    pub fn handle_with_keypad(
        &mut self,
        message: &[u8],
        answer: &mut [u8],
        keypad: &mut dyn Keypad,
    ) -> Result<usize, HandleError> {
        self.dispatch(message, answer, Some(keypad))
    }

    /// [`CcidReader::handle`] for a message whose header was read already
    /// ([`Message::new_checked`]; the USB port's `CcidPort::take` hands over
    /// such a message) into an answer buffer of `N` bytes, `N` at least a
    /// header (checked when the program is built): neither [`HandleError`] can
    /// happen, so it cannot fail. Returns the answer's length (a header's at
    /// least).
    pub fn respond<const N: usize>(
        &mut self,
        message: &Message<&[u8]>,
        answer: &mut [u8; N],
    ) -> usize {
        const { assert!(N >= HEADER_LEN, "an answer buffer holds a header") };
        self.answer(message, answer, None)
    }

    /// [`CcidReader::respond`] for a reader with a PIN pad, as
    /// [`CcidReader::handle_with_keypad`] is [`CcidReader::handle`]'s: it
    /// cannot fail. Returns the answer's length (a header's at least).
    pub fn respond_with_keypad<const N: usize>(
        &mut self,
        message: &Message<&[u8]>,
        answer: &mut [u8; N],
        keypad: &mut dyn Keypad,
    ) -> usize {
        const { assert!(N >= HEADER_LEN, "an answer buffer holds a header") };
        self.answer(message, answer, Some(keypad))
    }

    fn dispatch(
        &mut self,
        message: &[u8],
        answer: &mut [u8],
        keypad: Option<&mut dyn Keypad>,
    ) -> Result<usize, HandleError> {
        let message = Message::new_checked(message).map_err(|_| HandleError::Truncated)?;
        if answer.len() < HEADER_LEN {
            return Err(HandleError::AnswerTooSmall);
        }
        Ok(self.answer(&message, answer, keypad))
    }

    /// The answer to `message` (its header read) in `answer` (a header long at
    /// least): its length.
    fn answer(
        &mut self,
        message: &Message<&[u8]>,
        answer: &mut [u8],
        keypad: Option<&mut dyn Keypad>,
    ) -> usize {
        // No answer is longer than `dwMaxCCIDMessageLength`, whatever room the
        // transport gives: a host reads no more than the descriptor promised.
        let room = answer.len().min(self.config.max_message_len as usize);
        let answer = answer.get_mut(..room).unwrap_or(&mut []);
        let kind = AnswerKind::for_command(message.message_type());
        let (slot, seq) = (message.slot(), message.seq());
        let mut reply = Answer {
            kind,
            slot,
            seq,
            icc: IccStatus::Absent,
            command: CommandStatus::Processed,
            error: 0,
            specific: 0,
        };
        let Some(device) = self.slots.get(usize::from(slot)) else {
            reply.specific = clock_status(reply.icc);
            return fail(
                reply,
                SlotError::BadField(message::field::SLOT as u8),
                answer,
            );
        };
        let mut verdict = Verdict::Run;
        if let Some(state) = self.state.get_mut(usize::from(slot)) {
            state.last_seq = seq;
            // A malformed Abort (bError 1 below) is not the one a class ABORT
            // waits for, nor one of its own (`abort::is_abort`).
            (verdict, state.abort) = state.abort.bulk(abort::is_abort(message.into_inner()), seq);
        }
        let too_long = message.length() > self.config.max_message_len - HEADER_LEN as u32;
        let result = if verdict == Verdict::Aborted {
            // A class ABORT waits for its PC_to_RDR_Abort (CCID 1.1 §5.3.1).
            Err(SlotError::CommandAborted)
        } else if message.check_len().is_err() || too_long {
            Err(SlotError::BadField(message::field::LENGTH as u8))
        } else {
            Command::parse(message).and_then(|command| self.execute(slot, command, answer, keypad))
        };
        reply.icc = host_icc_status(device);
        match result {
            Ok(done) => {
                reply.specific = done.specific;
                if kind == AnswerKind::SlotStatus {
                    reply.specific = clock_status(reply.icc);
                }
                reply
                    .emit(done.data_len, answer)
                    .unwrap_or_else(|| fail(reply, SlotError::XfrOverrun, answer))
            }
            Err(error) => {
                if kind == AnswerKind::SlotStatus {
                    reply.specific = clock_status(reply.icc);
                }
                fail(reply, error, answer)
            }
        }
    }

    fn execute(
        &mut self,
        slot: u8,
        command: Command<'_>,
        answer: &mut [u8],
        keypad: Option<&mut dyn Keypad>,
    ) -> Result<Done, SlotError> {
        let slots: &'d [Device<P, D, EVENTS>] = self.slots;
        let device = &slots[usize::from(slot)];
        if !matches!(command, Command::XfrBlock { .. }) {
            if let Some(chaining) = self.chaining.as_mut() {
                chaining.drop_slot(slot);
            }
        }
        let data = answer.get_mut(HEADER_LEN..).unwrap_or(&mut []);
        match command {
            Command::IccPowerOn { voltage } => self.power_on(device, voltage, data),
            Command::IccPowerOff => power_off(device),
            Command::GetSlotStatus => Ok(done(0)),
            Command::XfrBlock {
                bwi,
                level,
                data: apdu,
            } => self.xfr_block(device, slot, bwi, level, apdu, answer),
            Command::GetParameters => parameters_answer(device, data),
            Command::ResetParameters => reset_parameters(device, data),
            Command::SetParameters {
                protocol,
                data: wanted,
            } => set_parameters(device, protocol, wanted, data),
            Command::Escape { data: input } => {
                let handler = self.config.escape.ok_or(SlotError::CommandNotSupported)?;
                let mut context = EscapeContext {
                    slot,
                    level: self.config.level,
                    pin_support: self.pin_support,
                };
                let len = handler(&mut context, input, data)?;
                self.config.level = context.level;
                Ok(done(len))
            }
            Command::IccClock { command } => {
                need_card(device)?;
                match command {
                    ClockCommand::Restart => Ok(done(0)),
                    ClockCommand::Stop => Err(SlotError::CommandNotSupported),
                }
            }
            // The core's T=0 engine takes the class of each command for GET RESPONSE
            // and ENVELOPE; there are no class bytes to change.
            Command::T0Apdu { .. } => Err(SlotError::CommandNotSupported),
            Command::Secure { bwi, data, .. } => {
                let keypad = keypad.ok_or(SlotError::CommandNotSupported)?;
                self.secure(device, bwi, data, keypad, answer)
            }
            Command::Mechanical { function } => {
                let request = match function {
                    MechanicalFunction::Eject => Request::Eject,
                    MechanicalFunction::Capture => Request::Confiscate,
                    _ => return Err(SlotError::CommandNotSupported),
                };
                device
                    .submit(request, &mut [])
                    .into_result()
                    .map(|_| done(0))
                    .map_err(SlotError::from_status)
            }
            // A command it stops has ended before this runs (the transport's
            // `busy::Gate` queues the Abort behind it and answers it
            // CMD_ABORTED); its pairing with the class ABORT was settled
            // before it ran ([`abort::Pairing::bulk`]).
            Command::Abort => Ok(done(0)),
            // The reader chooses clock and rate itself (PPS); it answers with the
            // values in force.
            Command::SetDataRateAndClock { .. } => rate_and_clock(device, data),
        }
    }

    fn power_on(
        &self,
        device: &Device<P, D, EVENTS>,
        voltage: Voltage,
        data: &mut [u8],
    ) -> Result<Done, SlotError> {
        if voltage != Voltage::Automatic && voltage.support_bit() & self.config.voltage_support == 0
        {
            return Err(SlotError::BadField(7));
        }
        if icc_status(device.state()) == IccStatus::Absent {
            return Err(SlotError::IccMute);
        }
        let mut atr = [0u8; ATR_BUFFER_LEN];
        // An active card's IccPowerOn is a warm reset; the device makes it a cold
        // reset for a card that is not powered.
        let len = device
            .power_card(PowerAction::WarmReset, &mut atr)
            .map_err(SlotError::from_status)?;
        Ok(done(put_data(data, &atr[..len])?))
    }

    fn xfr_block(
        &mut self,
        device: &Device<P, D, EVENTS>,
        slot: u8,
        bwi: u8,
        level: u16,
        apdu: &[u8],
        answer: &mut [u8],
    ) -> Result<Done, SlotError> {
        if self.config.level == ExchangeLevel::ExtendedApdu {
            if let Some(chained) = self.chained_xfr {
                return chained(self, device, slot, level, apdu, answer);
            }
            if level != u16::from(Level::Whole.code()) {
                return Err(SlotError::BadField(8));
            }
        }
        if apdu.is_empty() {
            return Err(SlotError::BadField(message::field::LENGTH as u8));
        }
        let state = device.state();
        match icc_status(state) {
            IccStatus::PresentActive => {}
            _ => return Err(SlotError::IccMute),
        }
        // A PPS request can only come before a protocol is in force; afterwards a
        // first byte FF is a command class (PC/SC pseudo-APDUs use it).
        if apdu[0] == 0xFF && state != CardState::Specific {
            return pps_exchange(
                device,
                apdu,
                answer.get_mut(HEADER_LEN..).unwrap_or(&mut []),
            );
        }
        let protocol = self.selected_protocol(device, state)?;
        if self.config.level == ExchangeLevel::Tpdu && protocol == Protocol::T1 {
            let reply = answer.get_mut(HEADER_LEN..).unwrap_or(&mut []);
            return self.relay_t1(device, bwi, apdu, reply);
        }
        let output = answer.get_mut(TRANSMIT_OUTPUT_AT..).unwrap_or(&mut []);
        let response = device
            .transmit_apdu(protocol, apdu, output)
            .map_err(SlotError::from_status)?;
        Ok(done(response.len()))
    }

    /// XfrBlock at the extended APDU level with a chaining buffer: the parts of
    /// a command collected ([`crate::chain`]), the APDU run once complete, and its
    /// response sent in parts as long as it needs.
    fn chained_xfr_block(
        &mut self,
        device: &Device<P, D, EVENTS>,
        slot: u8,
        level: u16,
        data: &[u8],
        answer: &mut [u8],
    ) -> Result<Done, SlotError> {
        let out = answer.get_mut(HEADER_LEN..).unwrap_or(&mut []);
        let level = Level::from_code(level).ok_or(SlotError::BadField(8))?;
        let whole = level == Level::Whole;
        let command_len = match level {
            Level::NextPart => {
                if !data.is_empty() {
                    return Err(SlotError::BadField(message::field::LENGTH as u8));
                }
                return self.next_response_part(slot, false, out);
            }
            Level::Whole if data.is_empty() => {
                return Err(SlotError::BadField(message::field::LENGTH as u8));
            }
            Level::Whole => 0,
            _ => match self.chaining_mut()?.command_part(slot, level, data)? {
                Part::Stored => {
                    return Ok(Done {
                        data_len: 0,
                        specific: Level::NextPart.code(),
                    });
                }
                Part::Complete(len) => len,
            },
        };
        let state = device.state();
        if icc_status(state) != IccStatus::PresentActive {
            return Err(SlotError::IccMute);
        }
        let protocol = self.selected_protocol(device, state)?;
        let chaining = self.chaining_mut()?;
        let (command, output) = if whole {
            (data, chaining.output())
        } else {
            chaining.command_and_output(command_len)
        };
        let response_len = device
            .transmit_apdu(protocol, command, output)
            .map_err(SlotError::from_status)?
            .len();
        chaining.response_ready(slot, command_len, response_len);
        self.next_response_part(slot, true, out)
    }

    fn chaining_mut(&mut self) -> Result<&mut Chaining<'d>, SlotError> {
        self.chaining.as_mut().ok_or(SlotError::BadField(8))
    }

    fn next_response_part(
        &mut self,
        slot: u8,
        first: bool,
        out: &mut [u8],
    ) -> Result<Done, SlotError> {
        let (data_len, specific) = self.chaining_mut()?.next_response_part(slot, first, out)?;
        Ok(Done {
            data_len,
            specific: specific.code(),
        })
    }

    /// The protocol for an exchange with the card in `state` (active): the
    /// protocol is selected first (the reader's best, with PPS as the core
    /// decides) unless one is in force already. Without the card's
    /// capabilities ([`in_force`]): no copy of them in the frames of XfrBlock's
    /// exchange, which run the card line's callbacks (the example firmware's
    /// stack, size-check.sh).
    fn selected_protocol(
        &self,
        device: &Device<P, D, EVENTS>,
        state: CardState,
    ) -> Result<Protocol, SlotError> {
        self.select_if_negotiable(device, state)?;
        protocol_in_force(device)
    }

    /// Select the reader's best protocol (with PPS as the core decides) for a
    /// card in `state` unless one is in force already.
    fn select_if_negotiable(
        &self,
        device: &Device<P, D, EVENTS>,
        state: CardState,
    ) -> Result<(), SlotError> {
        if state != CardState::Specific {
            device
                .select_protocol(self.protocol_mask())
                .map_err(|_| SlotError::IccProtocolNotSupported)?;
        }
        Ok(())
    }

    /// The protocols of the class descriptor. Out of line: the descriptor is
    /// off the stack before the protocol's selection runs the card line.
    #[inline(never)]
    fn protocol_mask(&self) -> ProtocolMask {
        self.descriptor().protocol_mask()
    }

    /// A T=1 block from the host relayed to the card at the TPDU level, the
    /// card's block into `reply`. Out of line, with its own copy of the card's
    /// capabilities: not in the frame of an APDU exchange.
    #[inline(never)]
    fn relay_t1(
        &self,
        device: &Device<P, D, EVENTS>,
        bwi: u8,
        block: &[u8],
        reply: &mut [u8],
    ) -> Result<Done, SlotError> {
        let (card, _) = in_force(device)?;
        let access = self.line_access.ok_or(SlotError::CommandNotSupported)?;
        let len = device.with_driver(|driver| match access(driver) {
            Some(line) => tpdu::relay_t1_block(line, &card, bwi, block, reply),
            None => Err(SlotError::CommandNotSupported),
        })?;
        Ok(done(len))
    }

    /// PC_to_RDR_Secure: the operation must be one the reader declared; the card
    /// must be active; the structure is checked ([`SecureData::parse`]) before the
    /// card's protocol is selected if need be (as for XfrBlock) and before the
    /// first key.
    fn secure(
        &self,
        device: &Device<P, D, EVENTS>,
        bwi: u8,
        data: &[u8],
        keypad: &mut dyn Keypad,
        answer: &mut [u8],
    ) -> Result<Done, SlotError> {
        let wanted = match data.first() {
            Some(0) => PinSupport::VERIFY,
            Some(1) => PinSupport::MODIFY,
            _ => PinSupport::NONE,
        };
        if wanted != PinSupport::NONE && !self.pin_support.contains(wanted) {
            return Err(SlotError::CommandNotSupported);
        }
        let state = device.state();
        if icc_status(state) != IccStatus::PresentActive {
            return Err(SlotError::IccMute);
        }
        // The structure is checked before the protocol is selected: a refused
        // command changes nothing. The checked value is what the keys are read
        // for.
        let checked = SecureData::parse(data)?;
        self.select_if_negotiable(device, state)?;
        let (card, protocol) = in_force(device)?;
        let command = match secure::prepare(&checked, keypad) {
            Ok(command) => command,
            Err(Refusal::Failed(error)) => return Err(error),
            Err(Refusal::StatusWord(sw)) => {
                let out = answer
                    .get_mut(HEADER_LEN..HEADER_LEN + 2)
                    .ok_or(SlotError::XfrOverrun)?;
                out.copy_from_slice(&sw);
                return Ok(done(2));
            }
        };
        if self.config.level == ExchangeLevel::Tpdu && protocol == Protocol::T1 {
            // The host runs T=1: the command goes in an I-block with the host's
            // NAD and PCB (`bTeoPrologue`), and the card's block comes back whole.
            let access = self.line_access.ok_or(SlotError::CommandNotSupported)?;
            let mut block = secure::T1Block::new(&command, card.parameters.edc)?;
            let reply = answer.get_mut(HEADER_LEN..).unwrap_or(&mut []);
            let len = device.with_driver(|driver| match access(driver) {
                Some(line) => tpdu::relay_t1_block(line, &card, bwi, block.bytes(), reply),
                None => Err(SlotError::CommandNotSupported),
            });
            block.wipe();
            return len.map(done);
        }
        let output = answer.get_mut(TRANSMIT_OUTPUT_AT..).unwrap_or(&mut []);
        let response = device
            .transmit_apdu(protocol, command.apdu(), output)
            .map_err(SlotError::from_status)?;
        Ok(done(response.len()))
    }

    /// A NotifySlotChange if a card came or went since the last one (a card
    /// taken out and another put in between two calls included; the first call
    /// reports every slot), written into `out`; `None` if nothing changed or `out`
    /// is too short. Call it when the core reports card events (and after each
    /// command).
    pub fn slot_change(&mut self, out: &mut [u8]) -> Option<usize> {
        let slot_count = self.slots.len();
        // With room for the message checked first, what is seen can be kept
        // as it is looked at: the message cannot fail to go out after.
        if out.len() < notify::slot_change_len(slot_count) {
            return None;
        }
        let mut changed = [false; MAX_SLOTS];
        for ((device, state), changed) in self.slots.iter().zip(&mut self.state).zip(&mut changed) {
            let seen = match icc_status(device.state()) {
                IccStatus::Absent => Notified::Absent,
                IccStatus::PresentActive | IccStatus::PresentInactive => Notified::Present {
                    insertion: device.card_insertions(),
                },
            };
            *changed = state.notified != seen;
            state.notified = seen;
        }
        if !changed.contains(&true) {
            return None;
        }
        let present = |i: usize| matches!(self.state[i].notified, Notified::Present { .. });
        notify::emit_slot_change(slot_count, |i| (present(i), changed[i]), out)
    }

    /// A RDR_to_PC_HardwareError for `slot` (a chip fault: over-current, say),
    /// carrying the seq of the slot's last command; the card is reported as faulty
    /// to the core. `None` if `slot` does not exist or `out` is too short.
    pub fn hardware_error(&mut self, slot: u8, code: u8, out: &mut [u8]) -> Option<usize> {
        let device = self.slots.get(usize::from(slot))?;
        device.card_fault();
        let seq = self.state.get(usize::from(slot))?.last_seq;
        notify::emit_hardware_error(slot, seq, code, out)
    }

    /// Hear news from the transport ([`Notice`]); it cannot fail.
    /// [`Notice::ClassAbort`] pairs the class request ABORT with the
    /// PC_to_RDR_Abort of the same `bSlot` and `bSeq` (see
    /// [`CcidReader::class_request`] and the `abort` module); for a slot the
    /// reader does not have it does nothing. [`Notice::HostGone`] puts every
    /// slot's pairing back to idle: no abort is under way for the next host.
    /// Out of line: the USB firmware, whose loop LTO would inline it into, is
    /// 560 B smaller in flash this way (47 956 B against 48 516 B inlined).
    #[inline(never)]
    pub fn hear(&mut self, notice: Notice) {
        match notice {
            Notice::ClassAbort { slot, seq } => {
                if self.has_slot(slot)
                    && let Some(state) = self.state.get_mut(usize::from(slot))
                {
                    state.abort = state.abort.class_request(seq);
                }
            }
            Notice::HostGone => {
                for state in &mut self.state {
                    state.abort = abort::Pairing::Idle;
                }
            }
        }
    }

    /// Answer a class request on the control endpoint: `value` is its `wValue`;
    /// the data stage (if any) is written into `out`. Returns its length.
    /// ABORT of a slot that does not exist is `BadField(5)` (the transport
    /// refuses it to the host: a STALL); of a slot that does, the reader hears
    /// it ([`Notice::ClassAbort`]): it pairs with the PC_to_RDR_Abort of the
    /// same `bSlot` and `bSeq` (CCID 1.1 §5.3.1): if that was the slot's last
    /// message, the pair is complete; otherwise every command to the slot
    /// fails CMD_ABORTED (`bError` FF) until it comes (see the `abort` module).
    pub fn class_request(
        &mut self,
        request: ClassRequest,
        value: u16,
        out: &mut [u8],
    ) -> Result<usize, SlotError> {
        let reader = self.slots[0].reader_capabilities();
        let values: [u32; 2] = match request {
            ClassRequest::Abort => {
                let [slot, seq] = value.to_le_bytes();
                if !self.has_slot(slot) {
                    return Err(SlotError::BadField(5));
                }
                self.hear(Notice::ClassAbort { slot, seq });
                return Ok(0);
            }
            ClassRequest::GetClockFrequencies => [reader.default_clock_khz, reader.max_clock_khz],
            ClassRequest::GetDataRates => [reader.default_data_rate, reader.max_data_rate],
        };
        let count = if values[0] == values[1] { 1 } else { 2 };
        let out = out.get_mut(..4 * count).ok_or(SlotError::XfrOverrun)?;
        for (chunk, value) in out.chunks_exact_mut(4).zip(values) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        Ok(4 * count)
    }

    /// A DataBlock answer with a time extension request (`bmCommandStatus` = 2,
    /// `bError` = the BWT `multiplier`) for the command `slot`/`seq` still running;
    /// a transport sends it while the card asks for more time. Returns 10, or
    /// `None` if `out` is too short.
    pub fn time_extension(
        &self,
        slot: u8,
        seq: u8,
        multiplier: u8,
        out: &mut [u8],
    ) -> Option<usize> {
        Answer {
            kind: AnswerKind::DataBlock,
            slot,
            seq,
            icc: self.slot_icc_status(slot),
            command: CommandStatus::TimeExtension,
            error: multiplier,
            specific: 0,
        }
        .emit(0, out)
    }

    /// The answer for a command that arrives while its slot (or, beyond
    /// `bMaxCCIDBusySlots`, another) is still busy ([`crate::busy::Gate`]):
    /// [`SlotError::SlotBusy`] with the new command's `bSlot` and `bSeq`. Returns
    /// the answer's length, or `None` without a header or room for one.
    pub fn slot_busy(&self, message: &[u8], answer: &mut [u8]) -> Option<usize> {
        self.slots.answer_busy(message, answer)
    }

    /// The card of `slot` as `bmICCStatus` (absent for a slot that does not
    /// exist). Reads the core's card state only: it answers while a command
    /// runs on the slot.
    pub fn slot_icc_status(&self, slot: u8) -> IccStatus {
        self.slots.icc_status(slot)
    }

    /// The reader's slots (for [`SlotCards`] where the reader itself is
    /// borrowed by the command running).
    pub fn slots(&self) -> &'d [Device<P, D, EVENTS>] {
        self.slots
    }

    /// `true` if the reader has the slot `bSlot` = `slot`. A
    /// [`Notice::ClassAbort`] for one it has not changes nothing
    /// ([`CcidReader::hear`]); a transport refuses such a class request ABORT
    /// to the host itself, so what it hands over passes this.
    pub fn has_slot(&self, slot: u8) -> bool {
        usize::from(slot) < self.slots.len()
    }

    /// A [`crate::busy::Gate`] for this reader's slots (one of them busy at a
    /// time: [`busy::MAX_BUSY_SLOTS`], what its descriptor advertises).
    pub fn gate(&self) -> busy::Gate {
        busy::Gate::new(self.slots.len())
    }
}

/// `bClockStatus` of a slot status: running while the card is active, stopped in
/// an unknown state otherwise.
fn clock_status(icc: IccStatus) -> u8 {
    match icc {
        IccStatus::PresentActive => 0,
        _ => 3,
    }
}

/// Write a failed answer with no data; returns its length (10).
fn fail(mut reply: Answer, error: SlotError, out: &mut [u8]) -> usize {
    reply.command = CommandStatus::Failed;
    reply.error = error.code();
    if reply.kind != AnswerKind::SlotStatus {
        reply.specific = 0;
    }
    reply.emit(0, out).unwrap_or(0)
}

/// The capabilities of the card and the protocol in force (IccMute if none).
fn in_force<P: Platform, D, const E: usize>(
    device: &Device<P, D, E>,
) -> Result<(CardCapabilities, Protocol), SlotError> {
    let card = device.card_capabilities().ok_or(SlotError::IccMute)?;
    let protocol = card.selected.ok_or(SlotError::IccMute)?;
    Ok((card, protocol))
}

/// The protocol in force ([`in_force`]). Out of line: the card's capabilities
/// it reads stay off its caller's frame.
#[inline(never)]
fn protocol_in_force<P: Platform, D, const E: usize>(
    device: &Device<P, D, E>,
) -> Result<Protocol, SlotError> {
    in_force(device).map(|(_, protocol)| protocol)
}

/// IccPowerOff: the card powered down (done too when there is none). Out of
/// line: its ATR buffer stays off the frame of the other commands.
#[inline(never)]
fn power_off<P: Platform, D, const E: usize>(device: &Device<P, D, E>) -> Result<Done, SlotError> {
    match device.power_card(PowerAction::PowerDown, &mut [0; ATR_BUFFER_LEN]) {
        Ok(_) | Err(Status::NoMedia) => Ok(done(0)),
        Err(status) => Err(SlotError::from_status(status)),
    }
}

/// SetDataRateAndClock's answer: the clock (kHz) and data rate (bit/s) in
/// force, 8 bytes into `data`. Out of line: the card's capabilities it reads
/// stay off the frame of the other commands.
#[inline(never)]
fn rate_and_clock<P: Platform, D, const E: usize>(
    device: &Device<P, D, E>,
    data: &mut [u8],
) -> Result<Done, SlotError> {
    let card = device.card_capabilities().ok_or(SlotError::IccMute)?;
    let out = data.get_mut(..8).ok_or(SlotError::XfrOverrun)?;
    out[..4].copy_from_slice(&card.timing.clock_khz.to_le_bytes());
    out[4..].copy_from_slice(&card.timing.baud().to_le_bytes());
    Ok(done(8))
}

fn need_card<P: Platform, D, const E: usize>(device: &Device<P, D, E>) -> Result<(), SlotError> {
    match icc_status(device.state()) {
        IccStatus::Absent => Err(SlotError::IccMute),
        _ => Ok(()),
    }
}

/// The parameters in force (the protocol selected, else the card's first one),
/// `bIFSC` the IFSC in force as the core keeps it.
fn parameters_answer<P: Platform, D, const E: usize>(
    device: &Device<P, D, E>,
    data: &mut [u8],
) -> Result<Done, SlotError> {
    let card = device.card_capabilities().ok_or(SlotError::IccMute)?;
    let protocol = card
        .selected
        .or_else(|| card.parameters.default_protocol())
        .unwrap_or(Protocol::T0);
    // The card changed since its capabilities were read if it has no sizes now.
    let sizes = device.field_sizes().ok_or(SlotError::IccMute)?;
    let len = parameters::emit(protocol, &card, sizes.ifsc, data).ok_or(SlotError::XfrOverrun)?;
    Ok(Done {
        data_len: len,
        specific: protocol.iso_number().unwrap_or(0),
    })
}

/// ResetParameters: the card keeps the parameters negotiated with it until it is
/// reset, so the answer is the parameters in force when they are the defaults
/// (F/D from TA1 = 11), and "not changeable" (`bError` 10, the offset of
/// `bmFindexDindex`) when PPS raised them.
fn reset_parameters<P: Platform, D, const E: usize>(
    device: &Device<P, D, E>,
    data: &mut [u8],
) -> Result<Done, SlotError> {
    let answer = parameters_answer(device, data)?;
    if data.first() != Some(&DEFAULT_FINDEX_DINDEX) {
        return Err(SlotError::BadField(10));
    }
    Ok(answer)
}

/// SetParameters: select the protocol through the core (which runs PPS as the card
/// and the reader allow; with the default F/D asked for, no PPS speeds it up),
/// then answer the parameters in force. Asking for another
/// F/D than the core negotiated fails with `BadField(10)` ("this parameter cannot
/// be changed") and the parameters in force.
fn set_parameters<P: Platform, D, const E: usize>(
    device: &Device<P, D, E>,
    protocol: Protocol,
    wanted: &[u8],
    data: &mut [u8],
) -> Result<Done, SlotError> {
    match icc_status(device.state()) {
        IccStatus::PresentActive => {}
        _ => return Err(SlotError::IccMute),
    }
    let card = device.card_capabilities().ok_or(SlotError::IccMute)?;
    match card.selected {
        Some(selected) if selected != protocol => return Err(SlotError::BadField(7)),
        Some(_) => {}
        None => {
            // Asked for the default F/D (TA1 = 11): select without speeding up.
            let mut mask = ProtocolMask(protocol.bit());
            if wanted.first() == Some(&DEFAULT_FINDEX_DINDEX) {
                mask = ProtocolMask(mask.0 | ProtocolMask::DEFAULT.0);
            }
            device
                .select_protocol(mask)
                .map_err(|status| match status {
                    Status::NotSupported => SlotError::BadField(7),
                    other => SlotError::from_status(other),
                })?;
        }
    }
    let answer = parameters_answer(device, data)?;
    if wanted.first() != data.first() {
        return Err(SlotError::BadField(10));
    }
    Ok(answer)
}

/// A PPS request sent in an XfrBlock (hosts that negotiate themselves): the
/// protocol it names is selected through the core, which runs its own PPS with
/// the card; the answer is the PPS response that describes what is in force.
fn pps_exchange<P: Platform, D, const E: usize>(
    device: &Device<P, D, E>,
    request: &[u8],
    data: &mut [u8],
) -> Result<Done, SlotError> {
    let parsed = pps::Response::parse(request).map_err(|_| SlotError::BadField(10))?;
    if parsed.as_bytes().len() != request.len() {
        return Err(SlotError::BadField(10));
    }
    let t = parsed.protocol();
    let protocol = Protocol::from_iso_number(t).ok_or(SlotError::IccProtocolNotSupported)?;
    let card = device.card_capabilities().ok_or(SlotError::IccMute)?;
    match card.selected {
        Some(selected) if selected != protocol => return Err(SlotError::IccProtocolNotSupported),
        Some(_) => {}
        None => {
            device
                .select_protocol(ProtocolMask(protocol.bit()))
                .map_err(|_| SlotError::IccProtocolNotSupported)?;
        }
    }
    let card = device.card_capabilities().ok_or(SlotError::IccMute)?;
    let fidi = parameters::findex_dindex(&card.timing, card.parameters.fi);
    let pps1 = (fidi != DEFAULT_FINDEX_DINDEX).then_some(fidi);
    let response = pps::Request::new(t, pps1, None, None);
    Ok(done(put_data(data, response.as_bytes())?))
}

/// What the host is told of a slot's card in each state, over the simulated card
/// (the end-to-end case, with pcscd and libccid, is `tests/mute_card.rs`).
#[cfg(test)]
mod tests {
    use super::*;
    use readerkit::caps::ReaderCapabilities;
    use readerkit::ioctl::PowerAction;
    use readerkit_card_sim::fault::Mute;
    use readerkit_card_sim::{Card, Config as CardConfig, DEFAULT_CAPACITY, Profile, SimLine};
    use readerkit_testkit::apdu::{SELECT_MF, get_challenge};
    use readerkit_testkit::client::{apdu, power_up, select};
    use readerkit_testkit::sim::{LineDevice, faults, inserted};

    const GET_CHALLENGE: [u8; 5] = get_challenge(8);
    const OK: &[u8] = &[0x90, 0x00];

    type Slot = LineDevice<SimLine<DEFAULT_CAPACITY>>;

    /// A slot holding a T=0 card (reported inserted) that answers one command
    /// after each reset and then falls silent.
    fn mute_after_one() -> Slot {
        let mute = faults(|f| f.mute = Mute::AfterAnswers(1));
        let card = Card::create(CardConfig::new(Profile::t0()).with_faults(mute));
        inserted(Some(card), ReaderCapabilities::typical())
    }

    /// Power `slot`'s card, select T=0 and let it go mute in the middle of GET
    /// CHALLENGE (its header answered by silence): the core loses the card.
    fn lose_card(slot: &Slot) {
        power_up(slot).expect("power up");
        assert_eq!(select(slot, 1), Ok(1));
        assert_eq!(apdu(slot, 1, &SELECT_MF).as_deref(), Ok(OK));
        assert!(apdu(slot, 1, &GET_CHALLENGE).is_err());
        assert!(slot.card_lost(), "the reader deactivated the card");
        assert_eq!(
            icc_status(slot.state()),
            IccStatus::PresentInactive,
            "the core's own state: unpowered"
        );
    }

    #[test]
    fn each_card_state_has_its_icc_status() {
        use IccStatus::{Absent, PresentActive as Active, PresentInactive as Inactive};
        // Unknown, Absent; Present, Swallowed; Powered, Negotiable, Specific.
        let expected = [Absent, Absent, Inactive, Inactive, Active, Active, Active];
        assert_eq!(CardState::ALL.map(icc_status), expected);
    }

    #[test]
    fn an_empty_slot_is_absent() {
        let slot: Slot = inserted(None, ReaderCapabilities::typical());
        assert_eq!(host_icc_status(&slot), IccStatus::Absent);
    }

    #[test]
    fn a_card_not_yet_powered_is_present_and_inactive() {
        let slot = mute_after_one();
        assert!(!slot.card_lost());
        assert_eq!(host_icc_status(&slot), IccStatus::PresentInactive);
    }

    #[test]
    fn a_powered_card_is_present_and_active() {
        let slot = mute_after_one();
        power_up(&slot).expect("power up");
        assert_eq!(host_icc_status(&slot), IccStatus::PresentActive);
        assert_eq!(select(&slot, 1), Ok(1));
        assert_eq!(host_icc_status(&slot), IccStatus::PresentActive);
    }

    #[test]
    fn a_lost_card_stays_active_until_the_host_powers_it_off() {
        let slot = mute_after_one();
        lose_card(&slot);
        assert_eq!(host_icc_status(&slot), IccStatus::PresentActive);
        // Every exchange fails meanwhile, and the card stays active for the host.
        assert!(apdu(&slot, 1, &SELECT_MF).is_err());
        assert_eq!(host_icc_status(&slot), IccStatus::PresentActive);
        let mut atr = [0u8; ATR_BUFFER_LEN];
        assert_eq!(slot.power_card(PowerAction::PowerDown, &mut atr), Ok(0));
        assert!(!slot.card_lost());
        assert_eq!(host_icc_status(&slot), IccStatus::PresentInactive);
    }

    #[test]
    fn a_lost_card_powered_up_again_is_active_and_answers() {
        let slot = mute_after_one();
        lose_card(&slot);
        power_up(&slot).expect("power up after the loss");
        assert!(!slot.card_lost());
        assert_eq!(host_icc_status(&slot), IccStatus::PresentActive);
        assert_eq!(select(&slot, 1), Ok(1));
        assert_eq!(apdu(&slot, 1, &SELECT_MF).as_deref(), Ok(OK));
    }

    #[test]
    fn a_lost_card_removed_is_absent() {
        let slot = mute_after_one();
        lose_card(&slot);
        slot.card_removed();
        assert_eq!(host_icc_status(&slot), IccStatus::Absent);
    }
}
