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
    readerkit_ccid::CcidReader,
    readerkit_ccid::tpdu,
    readerkit_ccid::twin::{Decoder, Event},
};

/// The reader libccid's serial driver is told it talks to (`DEVICENAME
/// <tty>:GemPCTwin`): one slot, every host frame echoed.
pub const PROFILE: twin::Profile = twin::Profile::GemPcTwin;

/// The longest message either way, in bytes (`dwMaxCCIDMessageLength` of the
/// GemPC Twin as libccid knows it).
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub const MAX_MESSAGE: usize = 271;

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
}

/// What a board measures around each command.
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub trait Meter {
    /// Run one command (`CcidReader::handle`) and measure it.
    fn command<R>(&mut self, run: impl FnOnce() -> R) -> R;
}

/// The decoder's message buffer and the answer buffer: static RAM (the size check
/// counts them), not stack.
#[cfg(all(feature = "qemu", feature = "ccid"))]
struct Buffers {
    decoder: Decoder<MAX_MESSAGE>,
    answer: [u8; MAX_MESSAGE],
}

#[cfg(all(feature = "qemu", feature = "ccid"))]
static BUFFERS: StaticCell<Buffers> = StaticCell::new(Buffers {
    decoder: Decoder::new(),
    answer: [0; MAX_MESSAGE],
});

/// Write `message` as one GemPC Twin frame (SYNC, ACK, message, LRC).
#[cfg(all(feature = "qemu", feature = "ccid"))]
fn send_frame(port: &mut impl HostPort, message: &[u8]) {
    let head = [twin::SYNC, twin::ACK];
    port.write(&head);
    port.write(message);
    port.write(&[twin::lrc(&head) ^ twin::lrc(message)]);
}

/// Serve the CCID reader over `port` with the GemPC Twin framing, forever: each
/// frame from the host is echoed, handled and answered; a NAK gets the last
/// answer again, a damaged frame a NAK; between frames the slot is polled and a
/// card's coming or going is notified (RDR_to_PC_NotifySlotChange).
#[cfg(all(feature = "qemu", feature = "ccid"))]
pub fn serve_serial(dev: &'static Dev, port: &mut impl HostPort, meter: &mut impl Meter) -> ! {
    let Ok(reader) = CcidReader::new(core::slice::from_ref(dev), PROFILE.config()) else {
        crate::board::fault()
    };
    let mut reader = reader.with_line_access(tpdu::line_of);
    // SAFETY: serve_serial runs once and never returns; nothing else touches the
    // buffers.
    let buffers = unsafe { &mut *BUFFERS.get() };
    let Buffers { decoder, answer } = buffers;
    // The card already in the slot; the host asks for the slot status when it
    // opens the reader, so the first notification is not sent.
    poll(dev);
    let _ = reader.slot_change(answer);
    let mut last = 0;
    loop {
        let Some(byte) = port.read() else {
            poll(dev);
            if let Some(len) = reader.slot_change(answer) {
                port.write(&answer[..len]);
                last = 0;
            }
            continue;
        };
        match decoder.push(byte) {
            None | Some(Event::Stray(_)) => {}
            Some(Event::Nak) if last > 0 => send_frame(port, &answer[..last]),
            Some(Event::Nak) => {}
            Some(Event::Message) => {
                let message = decoder.message();
                if PROFILE.echoes() {
                    send_frame(port, message);
                }
                if let Ok(len) = meter.command(|| reader.handle(message, answer)) {
                    last = len;
                    send_frame(port, &answer[..len]);
                }
            }
            // A bad LRC or a message too long: ask for the frame again.
            Some(_) => port.write(&twin::NAK_FRAME),
        }
    }
}
