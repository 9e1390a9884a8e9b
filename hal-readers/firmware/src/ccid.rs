//! The host's side as a CCID reader: `readerkit-ccid` over the
//! device, so a PC's own CCID class driver uses the firmware with no driver of
//! its own. The board brings the transport: on QEMU the GemPC Twin serial framing
//! on a UART (`serve_serial`, what Debian's `libccidtwin.so` speaks); on the
//! device the USB class of `readerkit-ccid` (`board::serve`).
//!
//! ```text
//! host bytes ─► twin::Decoder ─► CcidReader::handle ─► Device ─► LineReader ─► chip
//!                                        │
//!      host ◄── frame (echo, answer) ◄───┘ ◄── slot_change (card came or went)
//! ```

use readerkit::caps::ReaderCapabilities;
use readerkit_ccid::twin;
#[cfg(all(feature = "qemu", feature = "ccid"))]
use {
    crate::rt::StaticCell,
    crate::{Dev, poll},
    readerkit_ccid::busy::{Admission, Finish, Gate},
    readerkit_ccid::message::{self, HEADER_LEN, Message},
    readerkit_ccid::more_time::MoreTime,
    readerkit_ccid::notify::slot_change_len,
    readerkit_ccid::reader::{ExchangeLevel, SlotCards},
    readerkit_ccid::twin::{Decoder, Event, Step},
    readerkit_ccid::{CcidReader, tpdu},
};

/// The reader libccid's serial driver is told it talks to (`DEVICENAME
/// <tty>:GemPCTwin`): one slot, every host frame echoed.
pub const PROFILE: twin::Profile = twin::Profile::GemPcTwin;

/// The longest message either way, in bytes (`dwMaxCCIDMessageLength` of the
/// GemPC Twin as libccid knows it).
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub const MAX_MESSAGE: usize = message::SHORT_APDU_MESSAGE_LEN;

/// The reader's capabilities as the host's CCID driver sees them: the chip
/// driver's, with the largest data rate raised to the profile's (344 086 bit/s).
/// libccid does not read a serial reader's class descriptor: it assumes a GemPC
/// Twin's and asks the card, by PPS, for the fastest Fi/Di up to that rate; the
/// core runs the PPS itself within the reader's limits and answers what is in
/// force, which libccid accepts only if it is what it asked for. The board's UART
/// reaches that rate (the device's USART2 at 42 MHz; QEMU's simulated line has no
/// rate at all), so the chip driver's conservative default (115 200 bit/s) would
/// only make the two disagree.
pub fn capabilities(chip: ReaderCapabilities) -> ReaderCapabilities {
    ReaderCapabilities {
        max_data_rate: chip.max_data_rate.max(PROFILE.capabilities().max_data_rate),
        ..chip
    }
}

/// A byte pipe to the host.
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub trait HostPort {
    /// The next byte from the host, if one has come.
    fn read(&mut self) -> Option<u8>;
    /// Send `bytes` to the host (blocking until they are queued).
    fn write(&mut self, bytes: &[u8]);
    /// Wait, asleep, until a byte may have come from the host or the slot may
    /// have changed (a spurious return is allowed: the caller looks again).
    fn idle(&mut self);
    /// How long the host's line has been quiet, in µs: since the last byte
    /// [`HostPort::read`] returned.
    fn quiet_us(&mut self) -> u32;
}

/// How long the line may stay quiet inside a host's frame before the frame is
/// dropped and answered NAK, in µs ([`twin::FRAME_GAP_MS`], as `readerkit
/// ccid-serve`). Without it the next frame's bytes would be read as the rest of
/// the old one.
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub const FRAME_GAP_US: u32 = twin::FRAME_GAP_MS * 1_000;

/// Between the host's bytes: a frame begun in `decoder` that the line has been
/// quiet inside for [`FRAME_GAP_US`] is dropped (`twin::Decoder::line_quiet`)
/// and answered NAK; `true` if it was.
#[cfg(all(feature = "qemu", feature = "ccid"))]
fn drop_if_quiet(decoder: &mut Decoder<MAX_MESSAGE>, port: &mut impl HostPort) -> bool {
    let dropped =
        !decoder.is_idle() && port.quiet_us() >= FRAME_GAP_US && decoder.line_quiet().is_some();
    if dropped {
        port.write(&twin::NAK_FRAME);
    }
    dropped
}

/// What a board measures around each command.
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub trait Meter {
    /// Run one command (`CcidReader::handle`) and measure it.
    fn command<R>(&mut self, run: impl FnOnce() -> R) -> R;
}

/// The answer buffer and the two decoders: static RAM (the size check counts
/// them), not stack. One decoder holds the message of the command running while
/// the other reads the host meanwhile ([`while_waiting`]); they swap roles after
/// each command.
#[cfg(all(feature = "qemu", feature = "ccid"))]
struct Buffers {
    decoders: [Decoder<MAX_MESSAGE>; 2],
    answer: [u8; MAX_MESSAGE],
}

#[cfg(all(feature = "qemu", feature = "ccid"))]
static BUFFERS: StaticCell<Buffers> = StaticCell::new(Buffers {
    decoders: [Decoder::new(), Decoder::new()],
    answer: [0; MAX_MESSAGE],
});

/// What the host link does while a command runs.
#[cfg(all(feature = "qemu", feature = "ccid"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No command runs: the serving loop reads the host.
    Idle,
    /// The command `slot`/`seq` runs; the card line's waits read the host
    /// (another command gets CMD_SLOT_BUSY, requests for more time go out as
    /// time extensions).
    Listening { slot: u8, seq: u8 },
    /// The command `slot`/`seq` runs and a message that must run after it (a
    /// PC_to_RDR_Abort, or one the dispatcher refuses) waits in the other
    /// decoder: the host is not read until it has run.
    Holding { slot: u8, seq: u8 },
}

/// The state the serving loop and the card line's waits share.
#[cfg(all(feature = "qemu", feature = "ccid"))]
struct Waiting {
    /// Which slot runs a command (the binding's busy decision).
    gate: Gate,
    link: Link,
    /// The reader's exchange level when the command running started (whether
    /// the host sees a T=1 card's S(WTX) itself).
    level: ExchangeLevel,
    /// The decoder reading the host while a command runs.
    side: *mut Decoder<MAX_MESSAGE>,
    /// An abort stops the command running: the card line is deaf.
    stop: bool,
    /// A CMD_SLOT_BUSY answer or a framed time extension sent while the
    /// command runs.
    busy: [u8; HEADER_LEN],
    /// What a host's NAK gets while the command runs: the last CMD_SLOT_BUSY
    /// answer or framed time extension (in `busy`) or NAK sent since it
    /// started, else nothing.
    sent: twin::Sent,
    /// The reader's slots, whose cards a CMD_SLOT_BUSY answer reports.
    slots: &'static [Dev],
}

#[cfg(all(feature = "qemu", feature = "ccid"))]
static WAITING: StaticCell<Waiting> = StaticCell::new(Waiting {
    gate: Gate::new(1),
    link: Link::Idle,
    level: ExchangeLevel::Tpdu,
    side: core::ptr::null_mut(),
    stop: false,
    busy: [0; HEADER_LEN],
    sent: twin::Sent::Nothing,
    slots: &[],
});

/// The card line's `stopping`: `true` once an abort stops the command running.
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub fn stopping() -> bool {
    // SAFETY: single thread; no reference into WAITING outlives its use (the
    // serving loop and `while_waiting` take theirs only between line calls).
    unsafe { (*WAITING.get()).stop }
}

/// The card line's report of a request for more time: a time extension for the
/// command running, where the host does not see the request itself
/// (`twin::Profile::more_time`: at the TPDU level a T=1 S(WTX) block goes to the
/// host as the card's answer). A framed one is what a host's NAK gets next.
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub fn more_time(more: MoreTime) {
    // SAFETY: as in `stopping`; the reference ends before this returns.
    let waiting = unsafe { &mut *WAITING.get() };
    let (Link::Listening { slot, seq } | Link::Holding { slot, seq }) = waiting.link else {
        return;
    };
    let Some(extension) = PROFILE.more_time(more, waiting.level, slot, seq) else {
        return;
    };
    let mut port = crate::board::host_port();
    extension.write(|piece| port.write(piece));
    if let twin::TimeExtension::Message(message) = extension {
        waiting.busy = message;
        waiting.sent = waiting.sent.after(Step::Frame(HEADER_LEN));
    }
}

/// Called while the card line waits (the board's delay): while a command runs,
/// read the host; a new command gets CMD_SLOT_BUSY at once (echoed first, as a
/// GemPC Twin does), a PC_to_RDR_Abort stops the command running and waits for
/// it to end, as does a message the dispatcher refuses; a NAK gets the last
/// CMD_SLOT_BUSY answer or NAK sent meanwhile again (`Waiting::sent`).
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub fn while_waiting() {
    // SAFETY: as in `stopping`: the reference ends before this returns, and the
    // side decoder is never the one holding the command's message.
    let waiting = unsafe { &mut *WAITING.get() };
    let Link::Listening { slot, seq } = waiting.link else {
        return;
    };
    let mut port = crate::board::host_port();
    // SAFETY: `side` points into BUFFERS at the decoder the serving loop does not
    // use while a command runs.
    let decoder = unsafe { &mut *waiting.side };
    while let Some(byte) = port.read() {
        match decoder.push(byte) {
            None | Some(Event::Stray(_)) => {}
            Some(Event::Nak) => send_again(&mut port, waiting.sent, &waiting.busy),
            Some(Event::Message) => {
                let message = decoder.message();
                if PROFILE.echoes() {
                    send_frame(&mut port, message);
                }
                match waiting.gate.admit(message) {
                    Admission::Busy => {
                        // The card of the new message's slot (not the running
                        // command's `slot`) as the core knows it now.
                        if let Some(len) = waiting.slots.answer_busy(message, &mut waiting.busy) {
                            send_frame(&mut port, &waiting.busy[..len]);
                            waiting.sent = waiting.sent.after(Step::Frame(len));
                        }
                    }
                    admission @ (Admission::Run | Admission::Abort) => {
                        waiting.stop = admission == Admission::Abort;
                        waiting.link = Link::Holding { slot, seq };
                        return;
                    }
                }
            }
            // A bad LRC or a message too long: ask for the frame again.
            Some(_) => {
                port.write(&twin::NAK_FRAME);
                waiting.sent = waiting.sent.after(Step::Nak);
            }
        }
    }
    if drop_if_quiet(decoder, &mut port) {
        waiting.sent = waiting.sent.after(Step::Nak);
    }
}

/// Write `message` as one GemPC Twin frame, in pieces (`twin::write_frame`).
#[cfg(all(feature = "qemu", feature = "ccid"))]
fn send_frame(port: &mut impl HostPort, message: &[u8]) {
    twin::write_frame(message, |piece| port.write(piece));
}

/// Answer a host's NAK with what `sent` says it gets ([`twin::Sent::again`]): the
/// answer kept in `kept` framed again, the NAK again, or nothing.
#[cfg(all(feature = "qemu", feature = "ccid"))]
fn send_again(port: &mut impl HostPort, sent: twin::Sent, kept: &[u8]) {
    sent.again(kept).write(|piece| port.write(piece));
}

/// Serve the CCID reader over `port` with the GemPC Twin framing, forever: each
/// frame from the host is echoed, handled and answered; a NAK gets the last
/// answer again, a damaged frame a NAK, a frame the line goes quiet inside for
/// [`FRAME_GAP_US`] a NAK too; between frames the slot is polled and a card's
/// coming or going is notified (RDR_to_PC_NotifySlotChange, unframed: a NAK
/// after it still gets the answer before it, `twin::Step::Unframed`). While a
/// command runs the host is read too ([`while_waiting`]).
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub fn serve_serial(dev: &'static Dev, port: &mut impl HostPort, meter: &mut impl Meter) -> ! {
    let slots = core::slice::from_ref(dev);
    let Ok(reader) = CcidReader::new(slots, PROFILE.config()) else {
        crate::board::fault()
    };
    // SAFETY: as in `stopping`; no command runs yet.
    unsafe { (*WAITING.get()).slots = slots };
    let mut reader = reader.with_line_access(tpdu::line_of);
    // SAFETY: serve_serial runs once and never returns; nothing else touches the
    // answer, and the decoders are reached through the two pointers below only.
    let buffers = BUFFERS.get();
    let answer = unsafe { &mut (*buffers).answer };
    let [first, second] = unsafe { &mut (*buffers).decoders };
    let mut main: *mut Decoder<MAX_MESSAGE> = first;
    let mut side: *mut Decoder<MAX_MESSAGE> = second;
    // The card movement notifications: a buffer of their own, so that the
    // answer a NAK may ask for stays in `answer`.
    let mut notice = [0u8; slot_change_len(1)];
    // The card already in the slot; the host asks for the slot status when it
    // opens the reader, so the first notification is not sent.
    poll(dev);
    let _ = reader.slot_change(&mut notice);
    // What a host's NAK gets again (the answer kept in `answer`).
    let mut last = twin::Sent::Nothing;
    loop {
        let Some(byte) = port.read() else {
            poll(dev);
            if let Some(len) = reader.slot_change(&mut notice) {
                port.write(&notice[..len]);
                last = last.after(Step::Unframed);
            }
            // SAFETY: as below.
            let decoder = unsafe { &mut *main };
            if drop_if_quiet(decoder, port) {
                last = last.after(Step::Nak);
            }
            // Inside a frame no sleep: no byte may come to end it, and the frame
            // gap is looked at here.
            if decoder.is_idle() {
                port.idle();
            }
            continue;
        };
        // SAFETY: `main` is the decoder no wait reads into (WAITING holds `side`).
        match unsafe { (*main).push(byte) } {
            None | Some(Event::Stray(_)) => {}
            Some(Event::Nak) => send_again(port, last, answer),
            Some(Event::Message) => {
                if PROFILE.echoes() {
                    // SAFETY: as above.
                    send_frame(port, unsafe { (*main).message() });
                }
                // `answer` serves this command: a NAK gets nothing until its
                // answer is out.
                last = last.after(Step::Command);
                // The message, then any that came while it ran and must run
                // after it (echoed when they came).
                loop {
                    // SAFETY: as above; the message stays put until `main` is
                    // pushed to.
                    let message = unsafe { (*main).message() };
                    let level = reader.level();
                    let ran = run(message, level, side, || {
                        meter.command(|| reader.handle(message, answer)).ok()
                    });
                    if let Some(len) = ran.answered.and_then(|len| ran.finish.answer(answer, len)) {
                        last = last.after(Step::Frame(len));
                        send_frame(port, &answer[..len]);
                    }
                    // The decoder that read the host meanwhile holds what came
                    // (part of a frame, or a message to run now): it reads on.
                    core::mem::swap(&mut main, &mut side);
                    if !ran.next {
                        break;
                    }
                }
            }
            // A bad LRC or a message too long: ask for the frame again.
            Some(_) => {
                port.write(&twin::NAK_FRAME);
                last = last.after(Step::Nak);
            }
        }
    }
}

/// How one command ended.
#[cfg(all(feature = "qemu", feature = "ccid"))]
struct Ran {
    /// The answer's length in the answer buffer (`None`: no header, no answer).
    answered: Option<usize>,
    /// How the gate saw it end.
    finish: Finish,
    /// A message that came meanwhile waits in the side decoder, to run next.
    next: bool,
}

/// Run `message` (by `command`, which returns its answer's length, at exchange
/// level `level`) through the gate, reading the host into `side` while it runs.
#[cfg(all(feature = "qemu", feature = "ccid"))]
fn run(
    message: &[u8],
    level: ExchangeLevel,
    side: *mut Decoder<MAX_MESSAGE>,
    command: impl FnOnce() -> Option<usize>,
) -> Ran {
    let header = Message::new_unchecked(message);
    let (slot, seq) = (header.slot(), header.seq());
    // SAFETY: no reference into WAITING is live across `command` (the line's
    // callbacks take their own).
    unsafe {
        let waiting = &mut *WAITING.get();
        // The Abort queued behind a stopped command was admitted already (its
        // slot stays busy for it); anything else is admitted now.
        if !waiting.gate.is_busy(slot) {
            waiting.gate.admit(message);
        }
        waiting.side = side;
        waiting.level = level;
        waiting.sent = waiting.sent.after(Step::Command);
        waiting.link = Link::Listening { slot, seq };
    }
    let answered = command();
    // SAFETY: as above.
    let waiting = unsafe { &mut *WAITING.get() };
    let next = matches!(waiting.link, Link::Holding { .. });
    waiting.link = Link::Idle;
    let finish = match answered {
        Some(_) => waiting.gate.finish(slot),
        None => Finish::Completed,
    };
    waiting.stop = false;
    Ran {
        answered,
        finish,
        next,
    }
}
