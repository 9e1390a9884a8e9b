//! The serial framing of Gemalto's GemPC Twin family (what Debian's
//! `libccidtwin.so` speaks), as a sans-I/O decoder and encoder, and the reader
//! profiles libccid knows by name.
//!
//! ```text
//!  frame     SYNC (03)  CTRL (06 = ACK)  CCID message (10 + dwLength bytes)  LRC
//!  NAK       03 15 16                    (resend the last frame: [`Sent`])
//!  movement  50 bmSlotICCState           (unframed, between frames)
//!  T=0 time  one byte 80..FF             (unframed: the card asked for more time)
//! ```
//! LRC is the XOR of every byte before it, SYNC and CTRL included. A GemPC Twin
//! echoes each host frame before its answer; the SEC1210 does not. On open
//! libccid asks for the firmware version with Escape `02` (SEC1210: `06`) and
//! gives up after 2 s without an answer, then (GemPC Twin) sets the card movement
//! notification mode with Escape `01 01 01`; with its driver option 2 it also asks
//! a GemPC Twin to switch to short APDUs with Escape `1F 02`.

use readerkit::caps::ReaderCapabilities;
use readerkit::pin::entry::Conditions;
use readerkit::t1::lrc;

use crate::answer::put_data;
use crate::error::SlotError;
use crate::firmware_features::{ALL_CONDITIONS, FirmwareFeatures};
use crate::message::{self, HEADER_LEN, Message};
use crate::more_time::MoreTime;
use crate::reader::{Config, EscapeContext, ExchangeLevel};
use crate::secure::PinSupport;

/// First byte of every frame.
pub const SYNC: u8 = 0x03;
/// Control byte of a frame that carries a message.
pub const ACK: u8 = 0x06;
/// Control byte of a frame that asks for the last frame again.
pub const NAK: u8 = 0x15;
/// The whole NAK frame.
pub const NAK_FRAME: [u8; 3] = [SYNC, NAK, SYNC ^ NAK];
/// Bytes a frame adds around its message.
pub const FRAMING_LEN: usize = 3;
/// The bytes before a frame's message.
pub const HEAD: [u8; 2] = [SYNC, ACK];
/// How long the line may stay quiet inside a host's frame before the reader drops
/// the frame and answers NAK ([`Decoder::line_quiet`]), in ms. libccid writes each
/// frame whole, so a gap this long inside one means its host gave up (killed
/// mid-write) or the header's length was garbled on the line; a byte at 9600
/// baud takes about 1 ms.
pub const FRAME_GAP_MS: u32 = 1_000;

/// The last byte of the frame of `message`: the LRC of [`HEAD`] and `message`.
fn frame_lrc(message: &[u8]) -> u8 {
    lrc(&HEAD) ^ lrc(message)
}

/// Hand the frame of `message` to `write` in its three pieces, in order:
/// [`HEAD`], `message`, the LRC. For a writer without a buffer for the frame
/// whole (the firmware's UART); [`encode`] writes the same bytes into a buffer.
pub fn write_frame(message: &[u8], mut write: impl FnMut(&[u8])) {
    write(&HEAD);
    write(message);
    write(&[frame_lrc(message)]);
}

/// Write `message` as a frame into `out`; returns the frame's length, or `None` if
/// `out` is too short.
pub fn encode(message: &[u8], out: &mut [u8]) -> Option<usize> {
    write_into(out, |write| write_frame(message, write))
}

/// Write the pieces `pieces` hands on, in order, into `out` (the buffer twin of a
/// piecewise writer: [`encode`] of [`write_frame`], [`Again::encode`],
/// [`TimeExtension::encode`]); returns their length, or `None` if `out` is too
/// short (then `out` is left as it was). `pieces` hands on the same pieces each
/// time it is called.
fn write_into(out: &mut [u8], pieces: impl Fn(&mut dyn FnMut(&[u8]))) -> Option<usize> {
    let mut len = 0usize;
    pieces(&mut |piece| len = len.saturating_add(piece.len()));
    let mut rest = out.get_mut(..len)?;
    pieces(&mut |piece| {
        // The pieces add up to `len`: each fits what is left.
        let (this, after) = core::mem::take(&mut rest).split_at_mut(piece.len());
        this.copy_from_slice(piece);
        rest = after;
    });
    Some(len)
}

/// The last thing a reader sent that a host's NAK asks for again.
///
/// Only frames count ([`Sent::after`]): bytes outside any frame, a card movement
/// notification (`50 bmSlotICCState`) or a GemPC Twin's time request (80..FF),
/// leave it as it was. A host skips them between frames (libccid reads them and
/// reads on for the frame it waits for), so a host that finds the answer before
/// a notification damaged and NAKs still waits for that answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Nothing to send again: no frame yet, or a command started (its echo
    /// sent, if the reader echoes) and its answer not out yet.
    Nothing,
    /// The reader's own NAK (the host's last frame was damaged or cut short):
    /// a NAK asks for it again, not for an older answer the host would take
    /// for the answer to the frame it sent since.
    Nak,
    /// An answer message of this many bytes, kept by the reader.
    Answer(usize),
}

/// What a host's NAK gets ([`Sent::again`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Again<'a> {
    /// Nothing.
    Nothing,
    /// [`NAK_FRAME`].
    Nak,
    /// This message, framed again.
    Message(&'a [u8]),
}

impl Again<'_> {
    /// Hand what a host's NAK gets to `write`: the message's frame in pieces
    /// ([`write_frame`]), [`NAK_FRAME`], or nothing.
    pub fn write(self, mut write: impl FnMut(&[u8])) {
        match self {
            Again::Nothing => {}
            Again::Nak => write(&NAK_FRAME),
            Again::Message(message) => write_frame(message, write),
        }
    }

    /// Write what a host's NAK gets into `out`, framed; returns its length (0 for
    /// nothing), or `None` if `out` is too short.
    pub fn encode(self, out: &mut [u8]) -> Option<usize> {
        write_into(out, |write| self.write(write))
    }
}

/// What a reader does that may change what a host's NAK gets ([`Sent::after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A command from the host starts (echoed first, if the reader echoes).
    Command,
    /// The reader sends [`NAK_FRAME`].
    Nak,
    /// The reader sends a message of this many bytes framed (an answer, or a
    /// SEC1210's request for more time), kept in its answer buffer.
    Frame(usize),
    /// The reader sends bytes outside any frame: a card movement notification or
    /// a GemPC Twin's time request ([`time_request`]).
    Unframed,
}

impl Sent {
    /// What a host's NAK gets once the reader has done `step`, having sent `self`
    /// before: nothing from a command's start until its answer, then the last
    /// frame; unframed bytes change nothing.
    pub const fn after(self, step: Step) -> Sent {
        match step {
            Step::Command => Sent::Nothing,
            Step::Nak => Sent::Nak,
            Step::Frame(len) => Sent::Answer(len),
            Step::Unframed => self,
        }
    }

    /// What a host's NAK gets, the answer message taken from `kept` (the
    /// reader's answer buffer); an answer longer than `kept` gets nothing.
    pub fn again(self, kept: &[u8]) -> Again<'_> {
        match self {
            Sent::Nothing => Again::Nothing,
            Sent::Nak => Again::Nak,
            Sent::Answer(len) => kept.get(..len).map_or(Again::Nothing, Again::Message),
        }
    }
}

/// What a host's NAK gets ([`Sent`]) with its own copy of the answer message, up
/// to `N` bytes: for a reader whose answer buffer serves the next command before
/// a NAK may come (the firmware keeps [`Sent`] beside a buffer of its own
/// instead).
#[derive(Debug, Clone)]
pub struct LastFrame<const N: usize> {
    sent: Sent,
    message: [u8; N],
}

impl<const N: usize> Default for LastFrame<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LastFrame<N> {
    /// Nothing sent yet.
    pub const fn new() -> LastFrame<N> {
        LastFrame {
            sent: Sent::Nothing,
            message: [0; N],
        }
    }

    /// Nothing may be sent again ([`Sent::Nothing`]): a command started, and until
    /// its answer a NAK must not get an older answer the host would take for this
    /// command's; or the host went away, and the next host's NAK must not get an
    /// answer meant for the one before.
    pub fn forget(&mut self) {
        self.sent = self.sent.after(Step::Command);
    }

    /// The reader sent [`NAK_FRAME`]: a NAK gets it again ([`Sent::Nak`]).
    pub fn nak(&mut self) {
        self.sent = self.sent.after(Step::Nak);
    }

    /// The reader sent `message` framed (an answer, or a SEC1210's request for
    /// more time, [`TimeExtension::message`]): a NAK gets it again. A
    /// message longer than `N` bytes is not kept: a NAK gets nothing rather than
    /// part of it. Unframed bytes sent (a card movement notification) need no
    /// call: they change nothing ([`Step::Unframed`]).
    pub fn keep(&mut self, message: &[u8]) {
        self.sent = match self.message.get_mut(..message.len()) {
            Some(kept) => {
                kept.copy_from_slice(message);
                self.sent.after(Step::Frame(message.len()))
            }
            None => Sent::Nothing,
        };
    }

    /// What a host's NAK gets now.
    pub fn again(&self) -> Again<'_> {
        self.sent.again(&self.message)
    }
}

/// What a byte fed to the [`Decoder`] completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A frame with a good LRC: its message is [`Decoder::message`].
    Message,
    /// The other side asked for the last frame again.
    Nak,
    /// A frame whose LRC is wrong (answer with [`NAK_FRAME`]).
    BadLrc,
    /// A frame whose message is longer than the decoder's buffer; its bytes were
    /// skipped (answer with [`NAK_FRAME`]).
    TooLong,
    /// A byte outside any frame that is neither SYNC nor a notification; skipped.
    Stray(u8),
    /// A frame the line went quiet inside ([`Decoder::line_quiet`]): its bytes
    /// were dropped (answer with [`NAK_FRAME`]).
    Cut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for SYNC.
    Idle,
    /// SYNC seen, waiting for CTRL.
    Control,
    /// NAK seen, waiting for its LRC.
    NakLrc,
    /// Collecting the message: `have` bytes so far of `want` (10 until the header
    /// is in).
    Message { have: usize, want: usize },
    /// Skipping a message too long for the buffer: `left` bytes plus the LRC.
    Skip { left: usize },
    /// Waiting for the LRC of a message of `len` bytes.
    Lrc { len: usize },
}

/// A sans-I/O decoder of frames from the host, with a buffer of `N` bytes for the
/// message (`dwMaxCCIDMessageLength`).
#[derive(Debug, Clone)]
pub struct Decoder<const N: usize> {
    buffer: [u8; N],
    state: State,
    len: usize,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    /// An idle decoder.
    pub const fn new() -> Decoder<N> {
        Decoder {
            buffer: [0; N],
            state: State::Idle,
            len: 0,
        }
    }

    /// The message of the last [`Event::Message`].
    pub fn message(&self) -> &[u8] {
        self.buffer.get(..self.len).unwrap_or(&[])
    }

    /// Whether the decoder is between frames.
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// The line has been quiet inside a frame for longer than the caller's
    /// inter-byte time-out: the frame begun is dropped, so that the next SYNC
    /// starts a new one instead of continuing a frame its host gave up on (a
    /// host killed mid-write, a header whose length was garbled on the line and
    /// would have the decoder skip up to 4 GiB). [`Event::Cut`] if a frame was
    /// dropped, `None` between frames.
    pub fn line_quiet(&mut self) -> Option<Event> {
        let inside = !self.is_idle();
        self.state = State::Idle;
        inside.then_some(Event::Cut)
    }

    /// Feed one byte; returns what it completed, if anything.
    pub fn push(&mut self, byte: u8) -> Option<Event> {
        let (next, event) = match self.state {
            State::Idle if byte == SYNC => (State::Control, None),
            State::Idle => (State::Idle, Some(Event::Stray(byte))),
            State::Control if byte == ACK => (
                State::Message {
                    have: 0,
                    want: HEADER_LEN,
                },
                None,
            ),
            State::Control if byte == NAK => (State::NakLrc, None),
            State::Control => (State::Idle, Some(Event::Stray(byte))),
            State::NakLrc if byte == SYNC ^ NAK => (State::Idle, Some(Event::Nak)),
            State::NakLrc => (State::Idle, Some(Event::BadLrc)),
            State::Message { have, want } => self.collect(byte, have, want),
            State::Skip { left: 0 } => (State::Idle, Some(Event::TooLong)),
            State::Skip { left } => (State::Skip { left: left - 1 }, None),
            State::Lrc { len } => {
                let expected = frame_lrc(self.buffer.get(..len).unwrap_or(&[]));
                self.len = len;
                if byte == expected {
                    (State::Idle, Some(Event::Message))
                } else {
                    (State::Idle, Some(Event::BadLrc))
                }
            }
        };
        self.state = next;
        event
    }

    fn collect(&mut self, byte: u8, have: usize, want: usize) -> (State, Option<Event>) {
        if let Some(slot) = self.buffer.get_mut(have) {
            *slot = byte;
        }
        let have = have + 1;
        if have == HEADER_LEN && want == HEADER_LEN {
            let header = Message::new_unchecked(&self.buffer);
            let total = header.announced_len().filter(|&n| n <= N);
            return match total {
                Some(HEADER_LEN) => (State::Lrc { len: HEADER_LEN }, None),
                Some(total) => (State::Message { have, want: total }, None),
                None => {
                    // Skip the data bytes; saturate for absurd lengths (the host
                    // resynchronises on the next SYNC after our NAK anyway).
                    let left = usize::try_from(header.length()).unwrap_or(usize::MAX);
                    (State::Skip { left }, None)
                }
            };
        }
        if have == want {
            (State::Lrc { len: have }, None)
        } else {
            (State::Message { have, want }, None)
        }
    }
}

/// The readers libccid's serial driver knows by name (the part after `:` in its
/// DEVICENAME), that this binding can pose as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `GemPCTwin`: one slot, echoes every host frame, TPDU level (short APDU on
    /// request).
    GemPcTwin,
    /// `SEC1210`: two slots, no echo, TPDU level.
    Sec1210,
    /// `GemPCPinPad`: a GemPC Twin with a keypad (libccid's serial driver gives it
    /// `bPINSupport` 3, verification and modification, without asking): one slot,
    /// echoes, TPDU level, and the Escape commands libccid sends a PIN pad
    /// ([`escape_pinpad`]).
    GemPcPinPad,
}

/// The unframed byte by which a GemPC Twin asks the host to wait longer (libccid
/// skips any byte from 80 to FF between frames and restarts its read timeout):
/// 80 | the multiplier, at most 7F.
pub const fn time_request(multiplier: u8) -> u8 {
    0x80 | if multiplier > 0x7F { 0x7F } else { multiplier }
}

/// A request for more time as a reader in this framing sends it
/// ([`Profile::time_extension`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeExtension {
    /// A GemPC Twin's unframed time request byte: a NAK after it gets what it
    /// got before ([`Step::Unframed`]).
    Byte(u8),
    /// The SEC1210's time extension message (a DataBlock with
    /// `bmCommandStatus` = 2), sent framed: a NAK gets it again.
    Message([u8; HEADER_LEN]),
}

impl TimeExtension {
    /// Hand its bytes on the line to `write`: the byte, or the message's frame
    /// in pieces ([`write_frame`]).
    pub fn write(&self, mut write: impl FnMut(&[u8])) {
        match self {
            TimeExtension::Byte(byte) => write(&[*byte]),
            TimeExtension::Message(message) => write_frame(message, write),
        }
    }

    /// Its bytes on the line, written into `out`: the byte, or the message
    /// framed. Returns their length, or `None` if `out` is too short.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        write_into(out, |write| self.write(write))
    }

    /// The message a host's NAK gets again once it is sent ([`LastFrame::keep`]),
    /// `None` for an unframed byte.
    pub fn message(&self) -> Option<&[u8]> {
        match self {
            TimeExtension::Byte(_) => None,
            TimeExtension::Message(message) => Some(message),
        }
    }
}

/// The firmware string answered to libccid's version request.
pub const FIRMWARE: &[u8] = b"readerkit-ccid GemPC Twin 0.1";

impl Profile {
    /// The name libccid knows.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::GemPcTwin => "GemPCTwin",
            Profile::Sec1210 => "SEC1210",
            Profile::GemPcPinPad => "GemPCPinPad",
        }
    }

    /// Number of slots.
    pub const fn slots(self) -> usize {
        match self {
            Profile::GemPcTwin | Profile::GemPcPinPad => 1,
            Profile::Sec1210 => 2,
        }
    }

    /// Whether the reader echoes each host frame before answering.
    pub const fn echoes(self) -> bool {
        matches!(self, Profile::GemPcTwin | Profile::GemPcPinPad)
    }

    /// Write the echo of the host's `message` as a frame into `out`; returns its
    /// length (0 for a reader that does not echo, or if `out` is too short).
    ///
    /// libccid reads the echo into the buffer of the answer it expects, so the
    /// echo of an Escape longer than that answer fails the exchange ("Wrong value
    /// for frame size"). That happens to the 165-byte Escape `B2` that loads the
    /// GemPC PinPad's prompts: libccid 1.5.2 reads its answer into 30 bytes, then
    /// fails the reader's open. The GemPC PinPad profile therefore echoes an
    /// Escape longer than 20 bytes as its header with `dwLength` 0 (libccid checks
    /// an echo's LRC only).
    pub fn echo(self, message: &[u8], out: &mut [u8]) -> usize {
        if !self.echoes() {
            return 0;
        }
        let cut = self == Profile::GemPcPinPad
            && message.first() == Some(&0x6B)
            && message.len() > HEADER_LEN + 20;
        if !cut {
            return encode(message, out).unwrap_or(0);
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&message[..HEADER_LEN]);
        header[1..5].copy_from_slice(&0u32.to_le_bytes());
        encode(&header, out).unwrap_or(0)
    }

    /// The request for more time for the command `slot`/`seq` with BWT
    /// `multiplier`: a GemPC Twin's unframed [`time_request`] byte (libccid reads
    /// the echo of the command again after a framed time extension, so a frame
    /// would be mistaken for it); the SEC1210's (no echo) DataBlock with
    /// `bmCommandStatus` = 2 and the multiplier in `bError`, framed.
    pub fn time_extension(self, slot: u8, seq: u8, multiplier: u8) -> TimeExtension {
        match self {
            Profile::GemPcTwin | Profile::GemPcPinPad => {
                TimeExtension::Byte(time_request(multiplier))
            }
            Profile::Sec1210 => TimeExtension::Message(
                crate::Answer::time_extension(slot, seq, multiplier).header(),
            ),
        }
    }

    /// What the reader sends the host for the card's request for more time
    /// `more` while the command `slot`/`seq` runs at `level`: its
    /// [`Profile::time_extension`], or `None` where the host sees the request
    /// itself (a T=1 S(WTX) at the TPDU level, [`MoreTime::time_extension`]).
    pub fn more_time(
        self,
        more: MoreTime,
        level: ExchangeLevel,
        slot: u8,
        seq: u8,
    ) -> Option<TimeExtension> {
        let multiplier = more.time_extension(level)?;
        Some(self.time_extension(slot, seq, multiplier))
    }

    /// The binding's configuration: TPDU level, 271-byte messages (libccid's
    /// `dwMaxCCIDMessageLength` for these readers), 5 V, 3 V and 1.8 V, and the
    /// Escape commands libccid sends.
    pub const fn config(self) -> Config {
        Config {
            level: ExchangeLevel::Tpdu,
            max_message_len: message::SHORT_APDU_MESSAGE_LEN as u32,
            voltage_support: 0x07,
            escape: Some(match self {
                Profile::GemPcPinPad => escape_pinpad,
                _ => escape,
            }),
        }
    }

    /// The PIN operations of the reader: both for the GemPC PinPad (what libccid
    /// assumes of it), none for the others.
    pub const fn pin_support(self) -> PinSupport {
        match self {
            Profile::GemPcPinPad => PinSupport::BOTH,
            _ => PinSupport::NONE,
        }
    }

    /// Reader capabilities matching what libccid assumes of this reader (default
    /// clock 4 MHz / 4.8 MHz, largest data rate 344 086 / 826 000 bit/s).
    pub fn capabilities(self) -> ReaderCapabilities {
        let (clock_khz, max_data_rate) = match self {
            Profile::GemPcTwin => (4_000, 344_086),
            Profile::Sec1210 => (4_800, 826_000),
            Profile::GemPcPinPad => (4_000, 500_000),
        };
        ReaderCapabilities {
            max_data_rate,
            ..ReaderCapabilities::typical().with_fixed_clock(clock_khz)
        }
    }
}

/// The Escape commands libccid sends to these readers: `02` and `06` (firmware
/// version), `01 01 01` (card movement notification mode), `1F 02` (switch to
/// short APDU), `6A` (GET_FIRMWARE_FEATURES: the keypad of the reader, if any,
/// ending an entry on any condition the core knows, see [`FirmwareFeatures`]);
/// anything else is not supported.
pub fn escape(
    context: &mut EscapeContext,
    command: &[u8],
    answer: &mut [u8],
) -> Result<usize, SlotError> {
    match command {
        [0x02] | [0x06] => put_data(answer, FIRMWARE),
        [0x01, 0x01, 0x01] => Ok(0),
        [0x1F, 0x02] => {
            context.level = ExchangeLevel::ShortApdu;
            Ok(0)
        }
        [0x6A] => FirmwareFeatures::of_reader(context.pin_support, ALL_CONDITIONS).emit(answer),
        _ => Err(SlotError::CommandNotSupported),
    }
}

/// The Escape commands libccid sends a GemPC PinPad: those of [`escape`], but
/// `6A` announces the OK key as the only entry validation condition (libccid
/// forces 02 for this reader name whatever the application asks, so the
/// properties it reports say the same), and `B2 A0 00 4D 4C` + 10 strings of 16
/// characters (the prompts in the host's language, loaded into the display
/// memory; libccid fails the open if it is refused): accepted and not shown,
/// this reader has no display.
pub fn escape_pinpad(
    context: &mut EscapeContext,
    command: &[u8],
    answer: &mut [u8],
) -> Result<usize, SlotError> {
    match command {
        [0x6A] => FirmwareFeatures::of_reader(context.pin_support, Conditions::KEY).emit(answer),
        [0xB2, 0xA0, 0x00, 0x4D, 0x4C, strings @ ..] if strings.len() == 160 => Ok(0),
        _ => escape(context, command, answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pcscd + libccidtwin send first on open (issue 16's capture).
    const FIRMWARE_REQUEST: [u8; 14] = [
        0x03, 0x06, 0x6B, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x6D,
    ];

    /// Feed `bytes`; returns how many events came and the last one.
    fn feed<const N: usize>(decoder: &mut Decoder<N>, bytes: &[u8]) -> (usize, Option<Event>) {
        let mut count = 0;
        let mut last = None;
        for &b in bytes {
            if let Some(e) = decoder.push(b) {
                count += 1;
                last = Some(e);
            }
        }
        (count, last)
    }

    #[test]
    fn libccids_firmware_request_decodes() {
        let mut d = Decoder::<271>::new();
        assert_eq!(feed(&mut d, &FIRMWARE_REQUEST), (1, Some(Event::Message)));
        assert_eq!(d.message(), &FIRMWARE_REQUEST[2..13]);
        assert!(d.is_idle());
    }

    #[test]
    fn encode_is_what_decode_reads() {
        let mut out = [0u8; 16];
        let len = encode(&FIRMWARE_REQUEST[2..13], &mut out).unwrap();
        assert_eq!(&out[..len], &FIRMWARE_REQUEST);
        assert_eq!(encode(&FIRMWARE_REQUEST[2..13], &mut out[..13]), None);
    }

    /// What a writer handed pieces by `pieces` gets: the bytes (up to 32)
    /// and how many pieces.
    fn collect(pieces: impl FnOnce(&mut dyn FnMut(&[u8]))) -> ([u8; 32], usize, usize) {
        let (mut all, mut len, mut count) = ([0u8; 32], 0, 0);
        pieces(&mut |piece: &[u8]| {
            all[len..len + piece.len()].copy_from_slice(piece);
            len += piece.len();
            count += 1;
        });
        (all, len, count)
    }

    #[test]
    fn the_pieces_a_writer_gets_are_the_encoded_frame() {
        let message = &FIRMWARE_REQUEST[2..13];
        let (all, len, count) = collect(|w| write_frame(message, w));
        assert_eq!((&all[..len], count), (&FIRMWARE_REQUEST[..], 3));
        // What a NAK gets and a time extension, likewise.
        let (all, len, _) = collect(|w| Again::Message(message).write(w));
        assert_eq!(all[..len], FIRMWARE_REQUEST);
        let (all, len, _) = collect(|w| Again::Nak.write(w));
        assert_eq!(all[..len], NAK_FRAME);
        assert_eq!(collect(|w| Again::Nothing.write(w)).1, 0);
        for profile in [Profile::GemPcTwin, Profile::Sec1210] {
            let extension = profile.time_extension(0, 4, 2);
            let (all, len, _) = collect(|w| extension.write(w));
            let mut out = [0u8; 16];
            assert_eq!(extension.encode(&mut out), Some(len), "{profile:?}");
            assert_eq!(all[..len], out[..len], "{profile:?}");
        }
    }

    #[test]
    fn bad_lrc_nak_and_stray_bytes() {
        let mut d = Decoder::<271>::new();
        let mut bad = FIRMWARE_REQUEST;
        bad[13] ^= 1;
        assert_eq!(feed(&mut d, &bad), (1, Some(Event::BadLrc)));
        assert_eq!(feed(&mut d, &NAK_FRAME), (1, Some(Event::Nak)));
        assert_eq!(feed(&mut d, &[0x42]), (1, Some(Event::Stray(0x42))));
        // The decoder is back in step for the next good frame.
        assert_eq!(feed(&mut d, &FIRMWARE_REQUEST), (1, Some(Event::Message)));
    }

    #[test]
    fn too_long_messages_are_skipped_whole() {
        let mut d = Decoder::<12>::new();
        let mut frame = [0u8; 20];
        let message = [0x6F, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0xA, 0xB, 0xC];
        let len = encode(&message, &mut frame).unwrap();
        assert_eq!(feed(&mut d, &frame[..len]), (1, Some(Event::TooLong)));
        assert!(d.is_idle());
        let mut absurd = [0x03, 0x06, 0x6F, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0];
        absurd[11] = 0;
        assert_eq!(feed(&mut d, &absurd), (0, None));
        assert!(!d.is_idle());
        // Only a quiet line ends such a skip.
        assert_eq!(d.line_quiet(), Some(Event::Cut));
        assert!(d.is_idle());
    }

    #[test]
    fn a_quiet_line_drops_the_frame_begun_and_the_next_one_decodes() {
        let mut d = Decoder::<271>::new();
        assert_eq!(d.line_quiet(), None, "between frames: nothing to drop");
        // Half a header, then quiet: without the drop, the next frame's bytes
        // would complete this header (dwLength 0x06030001: a skip of 100 MB).
        assert_eq!(feed(&mut d, &FIRMWARE_REQUEST[..5]), (0, None));
        assert_eq!(d.line_quiet(), Some(Event::Cut));
        assert_eq!(feed(&mut d, &FIRMWARE_REQUEST), (1, Some(Event::Message)));
        assert_eq!(d.message(), &FIRMWARE_REQUEST[2..13]);
        // A NAK's SYNC and CTRL without its LRC, likewise.
        assert_eq!(feed(&mut d, &NAK_FRAME[..2]), (0, None));
        assert_eq!(d.line_quiet(), Some(Event::Cut));
        assert_eq!(feed(&mut d, &NAK_FRAME), (1, Some(Event::Nak)));
    }

    #[test]
    fn a_nak_after_the_readers_nak_gets_the_nak_not_an_older_answer() {
        let kept = [0x81, 0, 0, 0, 0, 0, 4, 0x01, 0, 0];
        assert_eq!(Sent::Answer(10).again(&kept), Again::Message(&kept));
        // The host's next frame was damaged: the reader NAKed it. A NAK from
        // the host now (it lost the reader's NAK) must not get the answer of
        // bSeq 4, which it would take for the answer to its damaged frame.
        assert_eq!(Sent::Nak.again(&kept), Again::Nak);
        assert_eq!(Sent::Nothing.again(&kept), Again::Nothing);
        assert_eq!(Sent::Answer(11).again(&kept), Again::Nothing);
        // Framed: the answer's frame, the NAK frame, nothing.
        let mut out = [0u8; 13];
        assert_eq!(Sent::Answer(10).again(&kept).encode(&mut out), Some(13));
        assert_eq!(out[..2], HEAD);
        assert_eq!(out[2..12], kept);
        assert_eq!(out[12], frame_lrc(&kept));
        assert_eq!(Sent::Nak.again(&kept).encode(&mut out), Some(3));
        assert_eq!(out[..3], NAK_FRAME);
        assert_eq!(Sent::Nothing.again(&kept).encode(&mut out), Some(0));
        assert_eq!(Sent::Answer(10).again(&kept).encode(&mut out[..12]), None);
        assert_eq!(Sent::Nak.again(&kept).encode(&mut out[..2]), None);
    }

    #[test]
    fn a_nak_after_a_notification_or_a_time_request_gets_the_frame_before() {
        let kept = [0x81, 0, 0, 0, 0, 0, 4, 0x00, 0, 0];
        // An answer, then a card movement notification (50 02) or a GemPC
        // Twin's time request: the host skipped those bytes and still waits for
        // the answer, which its NAK gets.
        let answered = Sent::Nothing.after(Step::Frame(10));
        assert_eq!(answered.after(Step::Unframed), Sent::Answer(10));
        assert_eq!(
            answered.after(Step::Unframed).again(&kept),
            Again::Message(&kept)
        );
        for sent in [Sent::Nothing, Sent::Nak, Sent::Answer(3)] {
            assert_eq!(sent.after(Step::Unframed), sent, "{sent:?}");
        }
        // Frames do change it: a command's start forgets, a NAK or a frame is
        // what a NAK gets next.
        assert_eq!(answered.after(Step::Command), Sent::Nothing);
        assert_eq!(answered.after(Step::Nak), Sent::Nak);
        assert_eq!(Sent::Nak.after(Step::Frame(7)), Sent::Answer(7));
    }

    #[test]
    fn last_frame_keeps_its_own_copy_until_the_next_thing_sent() {
        let mut last = LastFrame::<10>::new();
        assert_eq!(last.again(), Again::Nothing);
        let mut answer = [0x81, 0, 0, 0, 0, 0, 4, 0x01, 0, 0];
        last.keep(&answer);
        // The caller's buffer serves the next command: the copy stays.
        answer[6] = 5;
        assert_eq!(
            last.again(),
            Again::Message(&[0x81, 0, 0, 0, 0, 0, 4, 0x01, 0, 0])
        );
        last.nak();
        assert_eq!(last.again(), Again::Nak);
        last.keep(&answer);
        last.forget();
        assert_eq!(last.again(), Again::Nothing);
        // Too long to keep: nothing, not the first 10 bytes nor the older answer.
        last.keep(&answer);
        last.keep(&[0; 11]);
        assert_eq!(last.again(), Again::Nothing);
    }

    #[test]
    fn the_sec1210s_time_extension_is_the_message_it_frames() {
        let extension = Profile::Sec1210.time_extension(1, 9, 2);
        let message = [0x80, 0, 0, 0, 0, 1, 9, 0x80, 2, 0];
        assert_eq!(extension, TimeExtension::Message(message));
        assert_eq!(extension.message(), Some(&message[..]));
        let mut framed = [0u8; 16];
        assert_eq!(extension.encode(&mut framed), Some(13));
        assert_eq!(framed[..2], HEAD);
        assert_eq!(framed[2..12], message);
        assert_eq!(framed[12], 0x03 ^ 0x06 ^ 0x80 ^ 1 ^ 9 ^ 0x80 ^ 2);
        assert_eq!(extension.encode(&mut framed[..12]), None);
        // A GemPC Twin's is one unframed byte: nothing a NAK asks for again.
        for profile in [Profile::GemPcTwin, Profile::GemPcPinPad] {
            let extension = profile.time_extension(1, 9, 2);
            assert_eq!(extension, TimeExtension::Byte(0x82));
            assert_eq!(extension.message(), None);
            assert_eq!(extension.encode(&mut framed), Some(1));
            assert_eq!(framed[0], 0x82);
            assert_eq!(extension.encode(&mut []), None);
        }
        assert_eq!(time_request(0xFF), 0xFF);
    }

    #[test]
    fn a_cards_request_for_more_time_to_the_host_per_level() {
        let wtx = MoreTime::T1Wtx { multiplier: 5 };
        for profile in [Profile::GemPcTwin, Profile::Sec1210, Profile::GemPcPinPad] {
            // The host relays T=1 blocks at the TPDU level: it sees the S(WTX).
            assert_eq!(profile.more_time(wtx, ExchangeLevel::Tpdu, 0, 3), None);
            assert_eq!(
                profile.more_time(wtx, ExchangeLevel::ShortApdu, 0, 3),
                Some(profile.time_extension(0, 3, 5))
            );
            assert_eq!(
                profile.more_time(MoreTime::T0Null, ExchangeLevel::Tpdu, 0, 3),
                Some(profile.time_extension(0, 3, 1))
            );
        }
    }

    #[test]
    fn default_data_rate_is_the_default_clock_over_372() {
        let rates = [Profile::GemPcTwin, Profile::Sec1210].map(|p| p.capabilities());
        assert_eq!(rates.map(|c| c.default_data_rate), [10_752, 12_903]);
    }

    /// What an Escape to slot 0 of a reader at the TPDU level sees.
    fn tpdu_context() -> EscapeContext {
        EscapeContext {
            slot: 0,
            level: ExchangeLevel::Tpdu,
            pin_support: PinSupport::NONE,
        }
    }

    #[test]
    fn escapes_libccid_sends() {
        let mut context = tpdu_context();
        let mut out = [0u8; 50];
        assert_eq!(escape(&mut context, &[0x02], &mut out), Ok(FIRMWARE.len()));
        assert_eq!(&out[..FIRMWARE.len()], FIRMWARE);
        assert_eq!(escape(&mut context, &[1, 1, 1], &mut out), Ok(0));
        assert_eq!(context.level, ExchangeLevel::Tpdu);
        assert_eq!(escape(&mut context, &[0x1F, 0x02], &mut out), Ok(0));
        assert_eq!(context.level, ExchangeLevel::ShortApdu);
        assert_eq!(
            escape(&mut context, &[0x1F, 0x03], &mut out),
            Err(SlotError::CommandNotSupported)
        );
        assert_eq!(
            escape(&mut context, &[0x02], &mut out[..4]),
            Err(SlotError::XfrOverrun)
        );
    }

    #[test]
    fn pinpad_escapes_and_echo() {
        let mut context = EscapeContext {
            pin_support: PinSupport::BOTH,
            ..tpdu_context()
        };
        let mut out = [0u8; 64];
        assert_eq!(escape_pinpad(&mut context, &[0x6A], &mut out), Ok(21));
        assert_eq!(
            out[..21],
            [
                0, 0, 0, 0x02, 0x60, 0, 0, 0, 0x04, 0, 0, 0, 1, 1, 32, 0, 0, 0, 0, 0, 0
            ]
        );
        let mut load = [b' '; 165];
        load[..5].copy_from_slice(&[0xB2, 0xA0, 0x00, 0x4D, 0x4C]);
        assert_eq!(escape_pinpad(&mut context, &load, &mut out), Ok(0));
        assert_eq!(
            escape_pinpad(&mut context, &load[..100], &mut out),
            Err(SlotError::CommandNotSupported)
        );
        // A GemPC Twin with a keypad (usbip-serve --keys) ends an entry on any
        // condition; one without announces no PIN feature.
        assert_eq!(escape(&mut context, &[0x6A], &mut out), Ok(21));
        assert_eq!(out[..21], {
            let mut f = [0u8; 21];
            FirmwareFeatures::of_reader(PinSupport::BOTH, ALL_CONDITIONS)
                .emit(&mut f)
                .unwrap();
            f
        });
        assert_eq!(out[3], 0x07);
        context.pin_support = PinSupport::NONE;
        assert_eq!(escape(&mut context, &[0x6A], &mut out), Ok(21));
        assert_eq!(
            out[..21],
            [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(
            escape(&mut context, &[0x6A], &mut out[..20]),
            Err(SlotError::XfrOverrun)
        );
        // The echo of the long Escape is its header with dwLength 0; others whole.
        let mut message = [0u8; 175];
        message[..10].copy_from_slice(&[0x6B, 165, 0, 0, 0, 0, 7, 0, 0, 0]);
        message[10..].copy_from_slice(&load);
        let mut frame = [0u8; 300];
        let len = Profile::GemPcPinPad.echo(&message, &mut frame);
        assert_eq!(&frame[..len], &{
            let mut f = [0u8; 13];
            encode(&[0x6B, 0, 0, 0, 0, 0, 7, 0, 0, 0], &mut f).unwrap();
            f
        });
        assert_eq!(Profile::GemPcTwin.echo(&message, &mut frame), 178);
        assert_eq!(Profile::Sec1210.echo(&message, &mut frame), 0);
        let short = &FIRMWARE_REQUEST[2..13];
        assert_eq!(Profile::GemPcPinPad.echo(short, &mut frame), 14);
    }
}
